import FoundationEssentials
import Glibc
import Subprocess
import Synchronization

#if canImport(System)
    import System
#else
    import SystemPackage
#endif

/// The one funnel through which the driver runs external programs (mkfs, e2fsck, iscsiadm, ...).
/// Every command has a timeout; the real implementation kills a command that overruns it.
/// Tests use a scripted implementation that records the commands and answers from a table.
public protocol ProcessRunner: Sendable {
    func run(_ command: Command) async throws -> CommandResult
}

/// Runs commands as child processes (swift-subprocess).
///
/// On timeout the caller gets `ExecError.timedOut` at the deadline even if the process cannot be
/// reaped yet (a process stuck in uninterruptible I/O ignores SIGKILL until the I/O ends): the
/// kill and the reaping go on in the background, so no RPC waits past its deadline. The error
/// carries the process id and a completion that ends once the process has really exited, and a
/// command marked `killOnTimeout = false` (e2fsck) is left to finish instead of being killed.
public struct SubprocessRunner: ProcessRunner {
    /// Output beyond this many bytes per stream is an error rather than unbounded memory.
    public static let outputLimit = 4 << 20

    public init() {}

    public func run(_ command: Command) async throws -> CommandResult {
        let start = ContinuousClock.now
        FailPoints.hit("exec.\(command.label)")
        let processID = Mutex<Int32?>(nil)
        let execution = Task { () throws -> CommandResult in
            var environment: Environment = .inherit
            if !command.environment.isEmpty {
                environment = .inherit.updating(
                    Dictionary(uniqueKeysWithValues: command.environment.map { (Environment.Key(stringLiteral: $0.key), Optional($0.value)) }))
            }
            var options = PlatformOptions()
            // Cancelling a command that may be killed ends it with SIGTERM, then SIGKILL; one that
            // must never be killed (e2fsck at work) is not cancelled at all, see below.
            options.teardownSequence = [.gracefulShutDown(allowedDurationToNextStep: .seconds(2))]
            // A name is looked up here (a stat per PATH entry): Subprocess's own lookup starts a
            // process per PATH entry until one execs.
            let path = command.environment["PATH"] ?? getenv("PATH").map { String(cString: $0) }
            let executable: Executable = ProgramLocator.find(command.executable, path: path).map { .path(FilePath($0)) }
                ?? (command.executable.contains("/") ? .path(FilePath(command.executable)) : .name(command.executable))
            let configuration = Configuration(
                executable: executable, arguments: Arguments(command.argumentValues), environment: environment,
                platformOptions: options)
            let result = try await Subprocess.run(
                configuration, input: .none, output: .string(limit: Self.outputLimit),
                error: .string(limit: Self.outputLimit)
            ) { running in
                processID.withLock { $0 = running.processIdentifier.value }
            }
            let status: Int32
            switch result.terminationStatus {
            case .exited(let code): status = code
            case .signaled(let signal): status = 128 + signal
            }
            return CommandResult(
                status: status, standardOutput: result.standardOutput ?? "", standardError: result.standardError ?? "",
                duration: start.duration(to: .now))
        }
        do {
            return try await Deadline.race(execution, timeout: command.timeout)
        } catch let expired as Deadline.Expired {
            if command.killOnTimeout { execution.cancel() }
            throw ExecError(
                kind: .timedOut(killed: command.killOnTimeout), command: command.description, detail: "\(command.timeout)",
                processID: processID.withLock { $0 }, stillRunning: expired.completion)
        } catch let error as SubprocessError {
            if error.code == .executableNotFound {
                throw ExecError(kind: .notFound, command: command.description, detail: "\(error)")
            }
            throw ExecError(kind: .launchFailed, command: command.description, detail: "\(error)")
        }
    }
}

/// Waiting on work with a deadline that holds even when the work cannot be interrupted.
public enum Deadline {
    /// The deadline passed first. The work goes on in the background; `completion` ends when it
    /// has really finished (a caller may have to keep a resource until then).
    public struct Expired: Error, Sendable {
        public let completion: Completion

        public init(completion: Completion = .finished) {
            self.completion = completion
        }
    }

    /// Ends once: awaitable by any number of waiters, before or after it ended.
    public final class Completion: Sendable {
        private let state = Mutex<(done: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

        public init() {}

        public static var finished: Completion {
            let completion = Completion()
            completion.finish()
            return completion
        }

        public var isFinished: Bool { state.withLock { $0.done } }

        public func finish() {
            let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
                state.done = true
                defer { state.waiters = [] }
                return state.waiters
            }
            waiters.forEach { $0.resume() }
        }

        public func wait() async {
            await withCheckedContinuation { continuation in
                let done = state.withLock { state -> Bool in
                    if !state.done { state.waiters.append(continuation) }
                    return state.done
                }
                if done { continuation.resume() }
            }
        }
    }

    /// The task's value, or `Expired` when `timeout` passes first. Cancelling the caller cancels
    /// the task and returns at once with `CancellationError`.
    public static func race<T: Sendable>(_ task: Task<T, any Error>, timeout: Duration) async throws -> T {
        let gate = Gate<T>()
        let completion = Completion()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                gate.install(continuation)
                let timer = Task {
                    try await Task.sleep(for: timeout)
                    gate.finish(.failure(Expired(completion: completion)))
                }
                Task {
                    let result: Result<T, any Error>
                    do { result = .success(try await task.value) } catch { result = .failure(error) }
                    timer.cancel()
                    completion.finish()
                    gate.finish(result)
                }
            }
        } onCancel: {
            task.cancel()
            gate.finish(.failure(CancellationError()))
        }
    }

    /// Runs blocking work (a syscall such as mount(2) that may hang on a dead device) on a thread
    /// of its own, never on the concurrency pool, and waits for it at most `timeout` (or until the
    /// caller is cancelled); the thread then finishes on its own and its result is dropped.
    public static func blocking<T: Sendable>(
        timeout: Duration, _ work: @escaping @Sendable () throws -> T
    ) async throws -> T {
        let gate = Gate<T>()
        let completion = Completion()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                gate.install(continuation)
                let timer = Task {
                    try await Task.sleep(for: timeout)
                    gate.finish(.failure(Expired(completion: completion)))
                }
                do {
                    try DetachedThread.start(name: "cstor-blocking") {
                        let result: Result<T, any Error>
                        do { result = .success(try work()) } catch { result = .failure(error) }
                        timer.cancel()
                        completion.finish()
                        gate.finish(result)
                    }
                } catch {
                    timer.cancel()
                    completion.finish()
                    gate.finish(.failure(error))
                }
            }
        } onCancel: {
            gate.finish(.failure(CancellationError()))
        }
    }

    /// Resumes a continuation exactly once, whoever comes first.
    private final class Gate<T: Sendable>: Sendable {
        private let state = Mutex<(CheckedContinuation<T, any Error>?, Bool)>((nil, false))

        func install(_ continuation: CheckedContinuation<T, any Error>) {
            let early: Result<T, any Error>? = state.withLock { value in
                if value.1 { return pending.withLock { $0 } }
                value.0 = continuation
                return nil
            }
            if let early { continuation.resume(with: early) }
        }

        /// A result that arrived before the continuation (cancellation can come first).
        private let pending = Mutex<Result<T, any Error>?>(nil)

        func finish(_ result: Result<T, any Error>) {
            let continuation: CheckedContinuation<T, any Error>? = state.withLock { value in
                if value.1 { return nil }
                value.1 = true
                let continuation = value.0
                value.0 = nil
                if continuation == nil { pending.withLock { $0 = result } }
                return continuation
            }
            continuation?.resume(with: result)
        }
    }
}
