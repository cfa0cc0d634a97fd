import CStorCore
import CStorKubernetes
import CStorModel
import Foundation

/// One of our built binaries running as a child process, the way kubelet runs it: on a unix socket,
/// logging to stderr (captured in a file the test can read), stopped by a signal.
public final class PluginProcess: @unchecked Sendable {
    public let process: Process
    public let socketPath: String
    public let logURL: URL
    public let name: String

    /// Starts `binary` with `arguments`; `--endpoint` is added unless `addEndpoint` is false.
    public init(
        binary: String, socketPath: String, arguments: [String], logDirectory: URL,
        environment: [String: String] = [:], addEndpoint: Bool = true
    ) throws {
        self.name = binary
        self.socketPath = socketPath
        self.logURL = logDirectory.appendingPathComponent("\(binary)-\(UUID().uuidString.prefix(8)).log")
        _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
        let process = Process()
        process.executableURL = TestBinaries.url(binary)
        process.arguments = (addEndpoint ? ["--endpoint", "unix://\(socketPath)"] : []) + arguments
        var env = ProcessInfo.processInfo.environment
        env.merge(environment) { _, new in new }
        process.environment = env
        let handle = try FileHandle(forWritingTo: logURL)
        process.standardError = handle
        process.standardOutput = handle
        try process.run()
        self.process = process
    }

    /// Starts the binary and waits until its socket accepts connections.
    public static func start(
        _ binary: String, socketPath: String, arguments: [String], logDirectory: URL,
        environment: [String: String] = [:], timeout: Duration = .seconds(30)
    ) async throws -> PluginProcess {
        let plugin = try PluginProcess(
            binary: binary, socketPath: socketPath, arguments: arguments, logDirectory: logDirectory,
            environment: environment)
        try await plugin.waitUntilServing(timeout: timeout)
        return plugin
    }

    public var pid: Int32 { process.processIdentifier }
    public var isRunning: Bool { process.isRunning }

    public func waitUntilServing(timeout: Duration = .seconds(30)) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if !process.isRunning {
                throw TestFailure("\(name) exited with \(process.terminationStatus) before serving:\n\(logText())")
            }
            if SocketProbe.accepts(path: socketPath) { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestFailure("\(name) did not serve on \(socketPath) within \(timeout):\n\(logText())")
    }

    /// Sends a signal and waits for the process to exit; returns its exit status.
    @discardableResult
    public func stop(signal: Int32 = SIGTERM, timeout: Duration = .seconds(30)) async throws -> Int32 {
        if process.isRunning { kill(process.processIdentifier, signal) }
        return try await waitForExit(timeout: timeout)
    }

    public func waitForExit(timeout: Duration = .seconds(30)) async throws -> Int32 {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            guard ContinuousClock.now < deadline else {
                kill(process.processIdentifier, SIGKILL)
                throw TestFailure("\(name) did not exit within \(timeout)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        return process.terminationStatus
    }

    /// Everything the process wrote so far.
    public func logText() -> String {
        (try? String(contentsOf: logURL, encoding: .utf8)) ?? ""
    }

    /// The lines the process logged, each parsed as a JSON object (nil for a line that is not one).
    public func logLines() -> [(text: String, object: [String: Any]?)] {
        logText().split(separator: "\n").map { line in
            let text = String(line)
            let object = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any]
            return (text, object)
        }
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}

/// Finds the binaries `swift build` produced next to the test bundle (or in `CSTOR_CSI_BIN_DIR`).
public enum TestBinaries {
    public static var directory: URL {
        if let override = ProcessInfo.processInfo.environment["CSTOR_CSI_BIN_DIR"] {
            return URL(fileURLWithPath: override)
        }
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        return executable.deletingLastPathComponent()
    }

    public static func url(_ name: String) -> URL {
        directory.appendingPathComponent(name)
    }
}

/// Whether a server accepts connections on a unix socket right now.
public enum SocketProbe {
    public static func accepts(path: String) -> Bool {
        SocketGuard.connectProbe(path: path) == 0
    }
}

/// A readable failure for test helpers.
public struct TestFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A fresh directory under /tmp with a short path (unix socket paths are limited to 107 bytes),
/// removed when the value is released.
public final class TemporaryDirectory: @unchecked Sendable {
    public let url: URL
    public var path: String { url.path }

    public init(prefix: String = "csi") throws {
        let name = "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())"
        url = URL(fileURLWithPath: "/tmp").appendingPathComponent(name)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    public func file(_ name: String) -> String {
        url.appendingPathComponent(name).path
    }

    deinit {
        try? FileManager.default.removeItem(at: url)
    }
}
