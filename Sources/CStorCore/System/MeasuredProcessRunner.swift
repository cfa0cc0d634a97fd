import Metrics

/// Wraps the real runner with metrics per program: a duration histogram and a failure counter
/// (a non-zero exit status, a timeout or a launch failure).
public struct MeasuredProcessRunner: ProcessRunner {
    let base: any ProcessRunner

    public init(_ base: any ProcessRunner = SubprocessRunner()) {
        self.base = base
    }

    public func run(_ command: Command) async throws -> CommandResult {
        let start = ContinuousClock.now
        let timer = Timer(label: "cstor_csi_command_duration_seconds", dimensions: [("program", command.label)])
        do {
            let result = try await base.run(command)
            timer.recordNanoseconds(Self.nanoseconds(start.duration(to: .now)))
            if result.status != 0 { Self.failure(command, reason: "exit_status") }
            return result
        } catch let error as ExecError {
            timer.recordNanoseconds(Self.nanoseconds(start.duration(to: .now)))
            Self.failure(command, reason: { if case .timedOut = error.kind { "timeout" } else { "launch" } }())
            throw error
        }
    }

    static func failure(_ command: Command, reason: String) {
        Counter(label: "cstor_csi_command_failures_total", dimensions: [("program", command.label), ("reason", reason)])
            .increment()
    }

    static func nanoseconds(_ duration: Duration) -> Int64 {
        let parts = duration.components
        return parts.seconds * 1_000_000_000 + parts.attoseconds / 1_000_000_000
    }
}
