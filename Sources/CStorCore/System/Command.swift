/// One external command: what to run, with which arguments, and how long it may take.
///
/// Arguments marked sensitive (CHAP secrets, tokens) are passed to the process but replaced by
/// `***` wherever the command is described: logs, errors, test action logs.
public struct Command: Sendable, Equatable, CustomStringConvertible {
    public enum Argument: Sendable, Equatable {
        case plain(String)
        case sensitive(String)

        public var value: String {
            switch self {
            case .plain(let value), .sensitive(let value): value
            }
        }
    }

    /// The program: a bare name looked up on PATH, or a path.
    public var executable: String
    public var arguments: [Argument]
    public var timeout: Duration
    /// Extra environment variables on top of the inherited environment.
    public var environment: [String: String]
    /// The program's name in metrics (`iscsiadm` even when run through a chroot wrapper).
    public var label: String
    /// Whether the runner kills the process when the timeout passes. A program that must never be
    /// killed half-way (e2fsck repairing a filesystem) sets false: it is left to finish, and the
    /// timeout error says so and tells when it has exited.
    public var killOnTimeout: Bool = true

    public init(_ executable: String, _ arguments: [String], timeout: Duration, environment: [String: String] = [:]) {
        self.executable = executable
        self.arguments = arguments.map(Argument.plain)
        self.timeout = timeout
        self.environment = environment
        self.label = Self.baseName(executable)
    }

    public init(_ executable: String, arguments: [Argument], timeout: Duration, environment: [String: String] = [:]) {
        self.executable = executable
        self.arguments = arguments
        self.timeout = timeout
        self.environment = environment
        self.label = Self.baseName(executable)
    }

    /// A command given as words (e.g. `--iscsiadm "chroot /host iscsiadm"`) with more arguments.
    public init(words: [String], _ arguments: [String], timeout: Duration) {
        self.executable = words.first ?? ""
        self.arguments = (words.dropFirst() + arguments).map(Argument.plain)
        self.timeout = timeout
        self.environment = [:]
        self.label = Self.baseName(words.last ?? "")
    }

    static func baseName(_ path: String) -> String {
        path.split(separator: "/").last.map(String.init) ?? path
    }

    /// The argument values as the process receives them.
    public var argumentValues: [String] { arguments.map(\.value) }

    /// The command line with sensitive arguments masked.
    public var description: String {
        ([executable] + arguments.map { argument in
            switch argument {
            case .plain(let value): value.contains(" ") ? "'\(value)'" : value
            case .sensitive: "***"
            }
        }).joined(separator: " ")
    }
}

/// What a finished command produced. A non-zero exit status is a result, not an error: callers
/// know which statuses mean what (e2fsck 1 = errors corrected, iscsiadm 15 = already logged in, ...).
public struct CommandResult: Sendable, Equatable {
    public var status: Int32
    public var standardOutput: String
    public var standardError: String
    public var duration: Duration

    public init(status: Int32, standardOutput: String = "", standardError: String = "", duration: Duration = .zero) {
        self.status = status
        self.standardOutput = standardOutput
        self.standardError = standardError
        self.duration = duration
    }

    public var succeeded: Bool { status == 0 }

    /// The most useful text for an error message: stderr, else stdout, trimmed and shortened.
    public var diagnostic: String {
        let text = standardError.isEmpty ? standardOutput : standardError
        let trimmed = text.trimmed
        return trimmed.count > 600 ? String(trimmed.suffix(600)) : trimmed
    }
}

/// Why a command could not produce a result.
public struct ExecError: Error, CSIErrorMappable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The program is not installed (or not on PATH).
        case notFound
        /// It did not finish within its timeout; it was killed, or (for a command that must not be
        /// killed) left running.
        case timedOut(killed: Bool)
        /// It ran but reported failure (used by `CommandResult.check`).
        case failed(status: Int32)
        /// It could not be started or watched.
        case launchFailed
    }

    public var kind: Kind
    /// The command line, sensitive arguments masked.
    public var command: String
    public var detail: String
    /// For a timeout: the process, and a completion that ends once it has really exited.
    public var processID: Int32?
    public var stillRunning: Deadline.Completion?

    public init(
        kind: Kind, command: String, detail: String, processID: Int32? = nil, stillRunning: Deadline.Completion? = nil
    ) {
        self.kind = kind
        self.command = command
        self.detail = detail
        self.processID = processID
        self.stillRunning = stillRunning
    }

    /// The timed-out process as an operator would look for it: command line and pid.
    public var process: String {
        processID.map { "\(command) (pid \($0))" } ?? command
    }

    public var description: String {
        switch kind {
        case .notFound: "\(command): program not found (\(detail))"
        case .timedOut(let killed):
            killed
                ? "\(process): no result within \(detail); the process was killed"
                : "\(process): no result within \(detail); it is left to finish (it must not be killed half-way)"
        case .failed(let status): "\(command) failed with exit status \(status): \(detail)"
        case .launchFailed: "\(command): could not run: \(detail)"
        }
    }

    public var csiError: CSIError {
        switch kind {
        case .timedOut: .deadlineExceeded(description)
        case .notFound: .failedPrecondition(description)
        case .failed, .launchFailed: .internal(description)
        }
    }
}

extension CommandResult {
    /// Throws `ExecError.failed` unless the exit status is one of `accepted`.
    @discardableResult
    public func check(_ command: Command, accepted: Set<Int32> = [0]) throws -> CommandResult {
        guard accepted.contains(status) else {
            throw ExecError(kind: .failed(status: status), command: command.description, detail: diagnostic)
        }
        return self
    }
}
