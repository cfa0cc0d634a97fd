import CSITestSupport
import CStorCore
import CStorKubernetes
import CStorModel
import Foundation
import Synchronization

/// What every benchmark needs: where the binaries and the scratch directory are, how many runs.
struct BenchConfig: Sendable {
    /// The release binaries under test (cstor-controller, cstor-node).
    var binDir: String
    /// Scratch directory owned by this run; scripts/bench removes it (mounts and loops included).
    var workDir: String
    /// scripts/bench-python (Python client, server and ping-pong).
    var pythonDir: String
    /// The Python interpreter with grpcio (a venv).
    var python: String
    /// Directory holding the generated Python stubs (csi_pb2*.py).
    var stubsDir: String
    /// How many times each benchmark is repeated (the spread is reported).
    var runs: Int
    /// Benchmarks to run (empty: all).
    var only: Set<String>
    /// Smaller sizes for a quick check of the harness itself.
    var quick: Bool
    /// Run the profilers (callgrind, perf) in the probe benchmark.
    var profile: Bool
    /// Where the full profile reports are written (kept after the run).
    var reportDir: String

    func path(_ name: String) -> String { (workDir as NSString).appendingPathComponent(name) }
    func binary(_ name: String) -> String { (binDir as NSString).appendingPathComponent(name) }
}

// MARK: - Output

/// Prints one block per benchmark: figures, the limit measured in the same run, ratio, target.
enum Out {
    static func header(_ title: String) {
        print("")
        print("== \(title) " + String(repeating: "=", count: max(0, 96 - title.count)))
        fflush(nil)
    }

    static func line(_ text: String) {
        print("  " + text)
        fflush(nil)
    }

    static func note(_ text: String) {
        print("  · " + text)
        fflush(nil)
    }

    /// A verdict line: the figure, the limit, the ratio and whether the target holds.
    static func verdict(_ name: String, ratio: Double, target: String, pass: Bool, detail: String = "") {
        let text = String(format: "%@: ratio %.3f×  target %@  %@", name, ratio, target, pass ? "PASS" : "MISS")
        print("  ⇒ " + text + (detail.isEmpty ? "" : "  (\(detail))"))
        fflush(nil)
    }

    static func verdict(_ name: String, value: String, target: String, pass: Bool) {
        print("  ⇒ \(name): \(value)  target \(target)  \(pass ? "PASS" : "MISS")")
        fflush(nil)
    }
}

func fmt(_ value: Double, _ digits: Int = 2) -> String { String(format: "%.\(digits)f", value) }

/// "12.3 (11.9–12.8)": the median of the runs and their range.
func spread(_ values: [Double], _ digits: Int = 2) -> String {
    guard !values.isEmpty else { return "n/a" }
    let sorted = values.sorted()
    if sorted.count == 1 { return fmt(sorted[0], digits) }
    return "\(fmt(Stats.median(sorted), digits)) (\(fmt(sorted.first!, digits))–\(fmt(sorted.last!, digits)))"
}

enum Stats {
    /// Nearest-rank percentile of `values` (p in 0...100).
    static func percentile(_ values: [Double], _ p: Double) -> Double {
        guard !values.isEmpty else { return .nan }
        let sorted = values.sorted()
        let rank = Int((p / 100 * Double(sorted.count)).rounded(.up))
        return sorted[min(max(rank, 1), sorted.count) - 1]
    }

    static func median(_ values: [Double]) -> Double {
        guard !values.isEmpty else { return .nan }
        let sorted = values.sorted()
        let mid = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
    }

    static func mean(_ values: [Double]) -> Double {
        values.isEmpty ? .nan : values.reduce(0, +) / Double(values.count)
    }
}

// MARK: - Time

let clock = ContinuousClock()

extension Duration {
    var milliseconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) * 1000 + Double(attoseconds) / 1e15
    }

    var seconds: Double { milliseconds / 1000 }
}

/// Runs `body` with a deadline; throws when it takes longer (the body is cancelled).
func withDeadline<T: Sendable>(
    _ timeout: Duration, _ what: String, _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: timeout)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else {
            throw BenchError("\(what) did not finish within \(timeout)")
        }
        return value
    }
}

/// Polls `condition` every `interval` until it holds; throws after `timeout`.
func waitUntil(
    _ timeout: Duration, _ what: String, interval: Duration = .milliseconds(5), _ condition: () throws -> Bool
) async throws {
    let deadline = clock.now + timeout
    while clock.now < deadline {
        if try condition() { return }
        try await Task.sleep(for: interval)
    }
    throw BenchError("timed out after \(timeout) waiting for \(what)")
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

// MARK: - Concurrency

/// Runs `count` operations with at most `concurrency` in flight; returns each one's latency (ms),
/// the wall time (s) and the failures.
func runConcurrently(
    count: Int, concurrency: Int, _ operation: @escaping @Sendable (Int) async throws -> Void
) async -> (latencies: [Double], wall: Double, errors: [String]) {
    let next = Counter()
    let start = clock.now
    let results = await withTaskGroup(of: ([Double], [String]).self) { group in
        for _ in 0..<min(concurrency, count) {
            group.addTask {
                var latencies: [Double] = []
                var errors: [String] = []
                while true {
                    let index = next.take()
                    guard index < count else { break }
                    let began = clock.now
                    do {
                        try await operation(index)
                        latencies.append(began.duration(to: clock.now).milliseconds)
                    } catch {
                        errors.append("\(error)")
                    }
                }
                return (latencies, errors)
            }
        }
        var all: ([Double], [String]) = ([], [])
        for await part in group {
            all.0 += part.0
            all.1 += part.1
        }
        return all
    }
    return (results.0, start.duration(to: clock.now).seconds, results.1)
}

final class Counter: Sendable {
    private let value = Mutex(0)

    /// The current value, then one more.
    func take() -> Int {
        value.withLock { value in
            defer { value += 1 }
            return value
        }
    }
}

// MARK: - Processes

/// Children this run started, so a signal can end them (scripts/bench also reads `pids`).
enum Children {
    static let pids = Mutex<Set<Int32>>([])
    nonisolated(unsafe) static var pidFile: String?

    static func register(_ pid: Int32) {
        pids.withLock { _ = $0.insert(pid) }
        if let pidFile, let handle = FileHandle(forWritingAtPath: pidFile) {
            handle.seekToEndOfFile()
            handle.write(Data("\(pid)\n".utf8))
            try? handle.close()
        }
    }

    static func unregister(_ pid: Int32) {
        pids.withLock { _ = $0.remove(pid) }
    }

    static func killAll() {
        for pid in pids.withLock({ $0 }) { kill(pid, SIGKILL) }
    }
}

/// A plugin binary started as a child, on a unix socket, logging to a file.
final class Plugin: @unchecked Sendable {
    let process: PluginProcess
    let name: String

    init(_ binary: String, socket: String, arguments: [String], logDirectory: String, environment: [String: String] = [:]) throws {
        name = binary
        process = try PluginProcess(
            binary: binary, socketPath: socket, arguments: arguments, logDirectory: URL(fileURLWithPath: logDirectory),
            environment: environment)
        Children.register(process.pid)
    }

    var pid: Int32 { process.pid }
    var socket: String { process.socketPath }

    func waitUntilServing(timeout: Duration = .seconds(60)) async throws {
        try await process.waitUntilServing(timeout: timeout)
    }

    func stop() async {
        _ = try? await process.stop(signal: SIGTERM, timeout: .seconds(30))
        Children.unregister(pid)
    }

    func logText() -> String { process.logText() }

    /// The JSON log lines as objects.
    func logObjects() -> [[String: Any]] {
        process.logLines().compactMap(\.object)
    }
}

/// Runs a program to completion; returns status, output and wall time (ms). Deadline: `timeout`.
@discardableResult
func run(_ program: String, _ arguments: [String], timeout: Duration = .seconds(300), environment: [String: String]? = nil) throws
    -> (status: Int32, output: String, ms: Double)
{
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [program] + arguments
    if let environment { process.environment = environment }
    let out = FileManager.default.temporaryDirectory.appendingPathComponent("bench-\(UUID().uuidString).out")
    _ = FileManager.default.createFile(atPath: out.path, contents: nil)
    defer { try? FileManager.default.removeItem(at: out) }
    let handle = try FileHandle(forWritingTo: out)
    process.standardOutput = handle
    process.standardError = handle
    let start = clock.now
    try process.run()
    Children.register(process.processIdentifier)
    let deadline = clock.now + timeout
    while process.isRunning {
        if clock.now > deadline {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            Children.unregister(process.processIdentifier)
            throw BenchError("\(program) \(arguments.joined(separator: " ")) did not finish within \(timeout)")
        }
        usleep(200)
    }
    let elapsed = start.duration(to: clock.now).milliseconds
    Children.unregister(process.processIdentifier)
    try? handle.close()
    let text = (try? String(contentsOf: out, encoding: .utf8)) ?? ""
    return (process.terminationStatus, text, elapsed)
}

/// Runs and requires exit status 0.
@discardableResult
func check(_ program: String, _ arguments: [String], timeout: Duration = .seconds(300)) throws -> (output: String, ms: Double) {
    let result = try run(program, arguments, timeout: timeout)
    guard result.status == 0 else {
        throw BenchError("\(program) \(arguments.joined(separator: " ")) failed (\(result.status)): \(result.output.suffix(2000))")
    }
    return (result.output, result.ms)
}

// MARK: - /proc

enum Proc {
    /// Fields of /proc/PID/status in kB (VmRSS, VmHWM, ...) plus Threads.
    static func status(_ pid: Int32) -> [String: Int] {
        guard let text = try? KernelFile.read("/proc/\(pid)/status") else { return [:] }
        var fields: [String: Int] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { continue }
            let value = parts[1].trimmingCharacters(in: .whitespaces).split(separator: " ").first.flatMap { Int($0) }
            if let value { fields[String(parts[0])] = value }
        }
        return fields
    }

    static func machine() -> String {
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let model = cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }
            .map { String($0.split(separator: ":", maxSplits: 1)[1]).trimmingCharacters(in: .whitespaces) } ?? "?"
        var name = utsname()
        uname(&name)
        let release = withUnsafeBytes(of: &name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let memory = ((try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8))?
            .split(separator: "\n").first { $0.hasPrefix("MemTotal") }
            .flatMap { $0.split(separator: " ").dropFirst().first.flatMap { Int($0) } } ?? 0)
        return "\(model), \(ProcessInfo.processInfo.activeProcessorCount) cores, \(memory / 1024 / 1024) GiB, kernel \(release)"
    }

    static func loadAverage() -> String {
        ((try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? "?").split(separator: " ").prefix(3).joined(separator: " ")
    }

    /// Processes not belonging to this run that used more than 20% of a core over the last second.
    static func busyOthers() -> [String] {
        func ticks() -> [Int32: (Int, String)] {
            var result: [Int32: (Int, String)] = [:]
            for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
                guard let pid = Int32(entry), let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                    let close = stat.lastIndex(of: ")")
                else { continue }
                let name = stat[stat.index(after: stat.firstIndex(of: "(")!)..<close]
                let fields = stat[stat.index(close, offsetBy: 2)...].split(separator: " ")
                guard fields.count > 13, let user = Int(fields[11]), let system = Int(fields[12]) else { continue }
                result[pid] = (user + system, String(name))
            }
            return result
        }
        let before = ticks()
        usleep(1_000_000)
        let after = ticks()
        let hz = Double(sysconf(Int32(_SC_CLK_TCK)))
        return after.compactMap { pid, value -> String? in
            guard let old = before[pid] else { return nil }
            let share = Double(value.0 - old.0) / hz
            return share > 0.2 ? "\(value.1)[\(pid)] \(Int(share * 100))%" : nil
        }.sorted()
    }
}

/// A free TCP port on 127.0.0.1 (for --metrics-address).
func freePort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    _ = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Prometheus text exposition scraped from a plugin's --metrics-address.
struct Metrics {
    /// "name{labels}" → value.
    var samples: [String: Double] = [:]

    static func scrape(port: Int) throws -> Metrics {
        let body = try httpGet(port: port, path: "/metrics")
        var metrics = Metrics()
        for line in body.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            metrics.samples[String(line[..<space])] = value
        }
        return metrics
    }

    /// Sum over every series of `name` whose labels contain all `labels` ("k=\"v\"" fragments).
    func sum(_ name: String, _ labels: [String] = []) -> Double {
        samples.filter { key, _ in
            (key == name || key.hasPrefix(name + "{")) && labels.allSatisfy { key.contains($0) }
        }.values.reduce(0, +)
    }

    /// The label value sets of `name` for label `label`.
    func labelValues(_ name: String, _ label: String) -> Set<String> {
        var values: Set<String> = []
        for key in samples.keys where key.hasPrefix(name + "{") {
            guard let range = key.range(of: "\(label)=\"") else { continue }
            let rest = key[range.upperBound...]
            if let end = rest.firstIndex(of: "\"") { values.insert(String(rest[..<end])) }
        }
        return values
    }

    static func - (lhs: Metrics, rhs: Metrics) -> Metrics {
        var result = Metrics()
        for (key, value) in lhs.samples { result.samples[key] = value - (rhs.samples[key] ?? 0) }
        return result
    }
}

/// Parses an RFC 3339 timestamp with fractional seconds (the plugins' `ts`).
func parseTimestamp(_ text: String) -> Date? {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return formatter.date(from: text)
}

/// A plain HTTP/1.0 GET to 127.0.0.1:port (the metrics endpoint), body only. 5 s deadline.
func httpGet(port: Int, path: String) throws -> String {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw BenchError("socket: \(errno)") }
    defer { close(fd) }
    var timeout = timeval(tv_sec: 5, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = UInt16(port).bigEndian
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else { throw BenchError("connect 127.0.0.1:\(port): errno \(errno)") }
    let request = Array("GET \(path) HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".utf8)
    guard write(fd, request, request.count) == request.count else { throw BenchError("write: \(errno)") }
    var response: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = read(fd, &buffer, buffer.count)
        if n < 0 { throw BenchError("read: errno \(errno)") }
        if n == 0 { break }
        response += buffer[0..<n]
        // A keep-alive answer: stop once Content-Length bytes of body arrived.
        let text = String(decoding: response, as: UTF8.self)
        if let split = text.range(of: "\r\n\r\n") {
            let head = text[..<split.lowerBound].lowercased()
            if let field = head.range(of: "content-length:") {
                let value = head[field.upperBound...].prefix { $0 != "\r" }.trimmingCharacters(in: .whitespaces)
                if let length = Int(value), text[split.upperBound...].utf8.count >= length { break }
            }
        }
    }
    let text = String(decoding: response, as: UTF8.self)
    guard let split = text.range(of: "\r\n\r\n") else { return text }
    return String(text[split.upperBound...])
}
