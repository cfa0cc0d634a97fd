import CSITestSupport
import CStorCore
import CStorKubernetes
import CStorModel
import Foundation

struct ClientFigures {
    var p50: Double
    var p99: Double
    var mean: Double
}

/// Runs a Python script of scripts/bench-python and decodes its JSON line.
func python(_ config: BenchConfig, _ script: String, _ arguments: [String], timeout: Duration = .seconds(600)) throws -> ClientFigures {
    let result = try check(config.python, ["\(config.pythonDir)/\(script)"] + arguments, timeout: timeout)
    guard let line = result.output.split(separator: "\n").last(where: { $0.hasPrefix("{") }),
        let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
        let p50 = object["p50_ms"] as? Double, let p99 = object["p99_ms"] as? Double, let mean = object["mean_ms"] as? Double
    else { throw BenchError("\(script) printed no figures: \(result.output.suffix(1000))") }
    return ClientFigures(p50: p50, p99: p99, mean: mean)
}

func pythonClient(_ config: BenchConfig, socket: String, calls: Int, method: String = "Probe") throws -> ClientFigures {
    try python(config, "probe_client.py", ["--stubs", config.stubsDir, "--socket", socket, "--calls", "\(calls)", "--method", method])
}

/// The Python grpcio Identity server, started as a child.
final class PythonServer {
    let process: Process
    let socket: String

    init(_ config: BenchConfig, socket: String) async throws {
        self.socket = socket
        process = Process()
        process.executableURL = URL(fileURLWithPath: config.python)
        process.arguments = ["\(config.pythonDir)/probe_server.py", "--stubs", config.stubsDir, "--socket", socket]
        try process.run()
        Children.register(process.processIdentifier)
        try await waitUntil(.seconds(30), "the Python server on \(socket)") { SocketProbe.accepts(path: socket) }
    }

    func stop() async {
        process.terminate()
        try? await waitUntil(.seconds(10), "the Python server to exit") { !process.isRunning }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        Children.unregister(process.processIdentifier)
    }
}

func probeBenchmark(_ config: BenchConfig) async throws {
    let calls = config.quick ? 2000 : 10_000
    Out.header("probe: Identity.Probe p50 from a Python grpcio client, \(calls) sequential calls after 500 warm-up")
    Out.note("reference (issue, this machine): Go csi-driver-host-path 0.38–0.41 ms, minimal grpc-swift-2 server 0.86–0.94 ms")
    Out.note("limits measured here: a Python grpcio server (same client), a raw unix-socket ping-pong between two processes")
    try await CStorWorld.with(config, name: "probe") { world in
        let localState = config.path("probe/local-state")
        try FileManager.default.createDirectory(atPath: localState, withIntermediateDirectories: true)
        let local = try Plugin(
            "cstor-controller", socket: config.path("probe/local.sock"), arguments: ["--engine", "local", "--state-dir", localState],
            logDirectory: config.path("probe"))
        try await local.waitUntilServing()
        let cstor = try await world.startController([], socketName: "cstor.sock")
        let node = try await NodeWorld(config, name: "probe-node")
        let pythonServer = try await PythonServer(config, socket: config.path("probe/python.sock"))
        var figures: [String: [ClientFigures]] = [:]
        var apiPerProbe: [Double] = []
        let targets: [(String, String, Int32)] = [
            ("Python grpcio server (limit)", pythonServer.socket, pythonServer.process.processIdentifier),
            ("cstor-node", node.node.socket, node.node.pid),
            ("cstor-controller --engine local", local.socket, local.pid),
            ("cstor-controller --engine cstor", cstor.socket, cstor.pid),
        ]
        var serverCost: [String: [(cpu: Double, switches: Double)]] = [:]
        for run in 1...max(config.runs, 2) {
            for (name, socket, pid) in (run % 2 == 1 ? targets : targets.reversed()) {
                world.server.clearRequestLog()
                let (cpuBefore, switchesBefore) = (cpuSeconds(pid), contextSwitches(pid))
                let result = try pythonClient(config, socket: socket, calls: calls)
                // The warm-up's 500 calls are in the figures too.
                let perCall = (cpu: (cpuSeconds(pid) - cpuBefore) / Double(calls + 500) * 1e6,
                               switches: Double(contextSwitches(pid) - switchesBefore) / Double(calls + 500))
                serverCost[name, default: []].append(perCall)
                if name.hasSuffix("cstor") { apiPerProbe.append(Double(world.server.requests.count) / Double(calls + 500)) }
                figures[name, default: []].append(result)
                Out.line("run \(run) \(name.padding(toLength: 34, withPad: " ", startingAt: 0)) p50 \(fmt(result.p50, 3)) ms, p99 \(fmt(result.p99, 3)) ms, mean \(fmt(result.mean, 3)) ms; server \(fmt(perCall.cpu, 0)) µs CPU, \(fmt(perCall.switches, 1)) context switches per call")
            }
            let ping = try python(config, "uds_pingpong.py", ["--rounds", "20000"])
            figures["raw UDS ping-pong (floor)", default: []].append(ping)
            Out.line("run \(run) raw UDS ping-pong (2 processes)       p50 \(fmt(ping.p50, 3)) ms, p99 \(fmt(ping.p99, 3)) ms")
        }
        for name in targets.map(\.0) + ["raw UDS ping-pong (floor)"] {
            let list = figures[name] ?? []
            let cost = serverCost[name].map { "; server CPU \(spread($0.map(\.cpu), 0)) µs, \(spread($0.map(\.switches), 1)) context switches per call" } ?? ""
            Out.line("\(name.padding(toLength: 34, withPad: " ", startingAt: 0)) p50 \(spread(list.map(\.p50), 3)) ms, p99 \(spread(list.map(\.p99), 3)) ms\(cost)")
        }
        Out.line("API requests per Probe of the cstor controller: \(spread(apiPerProbe, 2)) (readiness answers are reused for --probe-cache-seconds)")
        let limit = Stats.median((figures["Python grpcio server (limit)"] ?? []).map(\.p50))
        for name in ["cstor-node", "cstor-controller --engine local", "cstor-controller --engine cstor"] {
            let p50 = Stats.median((figures[name] ?? []).map(\.p50))
            Out.verdict("\(name) p50 vs Python grpcio server", ratio: p50 / limit, target: "≤ 1.3× (issue 18; Go reference 0.40 ms = \(fmt(0.40 / limit, 2))×)", pass: p50 <= 1.3 * limit)
        }
        if config.profile {
            // Each profiler on its own: one failing does not cost the other.
            do { try await profileProbe(config, perfTargets: [("cstor-node", node.node), ("cstor-controller --engine local", local)]) } catch {
                Out.note("perf profile failed: \(error)")
            }
            do { try await callgrindProbe(config, world: world) } catch { Out.note("callgrind profile failed: \(error)") }
        }
        await pythonServer.stop()
        await node.stop()
        await cstor.stop()
        await local.stop()
    }
}

// MARK: - Profiles

/// Buckets of a symbol for the summary: who the time belongs to.
func category(_ symbol: String, dso: String = "") -> String {
    let s = symbol
    if dso.contains("kernel") || s.hasPrefix("[k]") { return "kernel (syscalls, scheduling, unix socket)" }
    if s.contains("JSONLogHandler") || s.contains("Logging.") || s.contains("RPCLoggingInterceptor") || s.contains("LogSetup")
        || s.contains("Timestamp.rfc3339")
    {
        return "ours: logging (interceptor, JSON log handler, swift-log)"
    }
    if s.contains("RPCMetrics") || s.contains("Metrics.") || s.contains("Prometheus") { return "metrics" }
    if s.contains("ProgramLocator") || s.contains("IdentityService") || s.contains("readiness") { return "ours: Probe handler (readiness check)" }
    if s.contains("ErrorMappingInterceptor") || s.contains("RequestContext") || s.contains("CStorCore") || s.contains("cstor_node")
        || s.contains("cstor_controller")
    {
        return "ours: other CStorCore"
    }
    if s.contains("SwiftProtobuf") || s.contains("Csi_V1") { return "protobuf (SwiftProtobuf, generated code)" }
    if s.contains("GRPCNIOTransport") { return "gRPC NIO transport" }
    if s.contains("GRPC") { return "gRPC core" }
    if s.contains("NIOHTTP2") || s.contains("HPACK") { return "NIO HTTP/2, HPACK" }
    if s.contains("NIO") { return "NIO core/posix (event loop, channels)" }
    if s.contains("Foundation") || s.contains("CFString") || s.contains("_CF") { return "Foundation" }
    if s.contains("malloc") || s.contains("free") || s.hasPrefix("_int_") || s.contains("tcache") || s.contains("calloc") || s.contains("realloc")
        || s.contains("swift_slowAlloc") || s.contains("swift_slowDealloc") || s.contains("swift_allocObject") || s.contains("swift_deallocObject")
    {
        return "allocation (malloc/free, swift_allocObject)"
    }
    if s.contains("swift_retain") || s.contains("swift_release") || s.contains("swift_bridgeObject") || s.contains("swift_unknownObject") {
        return "ARC (retain/release)"
    }
    if s.contains("swift_task") || s.contains("swift_job") || s.contains("swift::") || s.contains("_dispatch") || s.contains("dispatch_")
        || s.contains("swift_continuation") || s.contains("swift_asyncLet") || s.contains("Concurrency")
    {
        return "Swift concurrency runtime, dispatch"
    }
    if s.contains("pthread") || s.contains("futex") || s.contains("__lll") || s.contains("Mutex") || s.contains("Lock") {
        return "locks, pthread"
    }
    if s.contains("swift_") || s.hasPrefix("Swift.") || s.contains("(extension in Swift)") || s.contains("generic specialization") {
        return "Swift runtime and stdlib (generics, strings, collections)"
    }
    if dso.contains("libc") || s.hasPrefix("__") || s.contains("mem") || s.contains("str") { return "libc (memcpy, syscall wrappers, …)" }
    return "other"
}

/// Demangles Swift symbols with `swift demangle --simplified`.
func demangle(_ text: String) -> String {
    let input = FileManager.default.temporaryDirectory.appendingPathComponent("bench-demangle-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: input) }
    guard (try? Data(text.utf8).write(to: input)) != nil else { return text }
    guard let result = try? run("sh", ["-c", "swift demangle --simplified < '\(input.path)'"], timeout: .seconds(120)), result.status == 0 else {
        return text
    }
    return result.output
}

/// perf (cpu-clock sampling, user + kernel) of a plugin while the Python client makes 10,000 Probes.
func profileProbe(_ config: BenchConfig, perfTargets: [(String, Plugin)]) async throws {
    guard (try? run("perf", ["--version"]))?.status == 0 else {
        Out.note("perf not installed: no perf profile")
        return
    }
    for (name, plugin) in perfTargets {
        let output = config.path("perf-\(plugin.pid).data")
        let recorder = Process()
        recorder.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        // A fixed window (this process ignores SIGINT, and so would perf): samples only while the
        // plugin runs, so the idle tail after the client finished adds nothing.
        recorder.arguments = ["perf", "record", "-e", "cpu-clock", "-F", "4999", "-g", "-p", "\(plugin.pid)", "-o", output, "--", "sleep", "45"]
        recorder.standardOutput = FileHandle.nullDevice
        recorder.standardError = FileHandle.nullDevice
        try recorder.run()
        Children.register(recorder.processIdentifier)
        try await Task.sleep(for: .milliseconds(500))
        let figures = try pythonClient(config, socket: plugin.socket, calls: 10_000)
        try await waitUntil(.seconds(120), "perf record to finish") { !recorder.isRunning }
        Children.unregister(recorder.processIdentifier)
        let report = try check("perf", ["report", "-i", output, "--no-children", "--sort", "dso,sym", "--stdio", "-g", "none", "--percent-limit", "0.01"],
                               timeout: .seconds(300)).output
        let rows = demangle(report).split(separator: "\n").compactMap { line -> (Double, String, String)? in
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard !trimmed.hasPrefix("#"), let percent = trimmed.split(separator: "%").first.flatMap({ Double($0) }) else { return nil }
            let rest = trimmed.split(separator: "%", maxSplits: 1).dropFirst().first.map(String.init)?.trimmingCharacters(in: .whitespaces) ?? ""
            let parts = rest.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
            let dso = parts.first.map(String.init) ?? ""
            var symbol = parts.count > 1 ? String(parts[1]).trimmingCharacters(in: .whitespaces) : ""
            if symbol.hasPrefix("[k]") { symbol = "[k] " + symbol.dropFirst(3).trimmingCharacters(in: .whitespaces) }
            else if symbol.hasPrefix("[.]") { symbol = symbol.dropFirst(3).trimmingCharacters(in: .whitespaces) }
            return (percent, dso, symbol)
        }
        var buckets: [String: Double] = [:]
        for (percent, dso, symbol) in rows { buckets[category(symbol, dso: dso), default: 0] += percent }
        Out.line("perf profile of \(name) (cpu-clock, user+kernel, during 10,000 Probes: p50 \(fmt(figures.p50, 3)) ms under perf):")
        for (bucket, percent) in buckets.sorted(by: { $0.value > $1.value }) where percent >= 0.5 {
            Out.line("   \(fmt(percent, 1).padding(toLength: 6, withPad: " ", startingAt: 0))% \(bucket)")
        }
        Out.line("   top symbols:")
        for (percent, dso, symbol) in rows.prefix(25) {
            Out.line("   \(fmt(percent, 2).padding(toLength: 6, withPad: " ", startingAt: 0))% \(dso.padding(toLength: 18, withPad: " ", startingAt: 0)) \(String(symbol.prefix(140)))")
        }
        let reportFile = (config.reportDir as NSString).appendingPathComponent("perf-\(name.replacingOccurrences(of: " ", with: "_")).txt")
        try? demangle(report).write(toFile: reportFile, atomically: true, encoding: .utf8)
        try? FileManager.default.removeItem(atPath: output)
    }
}

/// callgrind of the node on a few thousand Probes: instructions by symbol and by category.
func callgrindProbe(_ config: BenchConfig, world: CStorWorld) async throws {
    guard (try? run("valgrind", ["--version"]))?.status == 0 else {
        Out.note("valgrind not installed: no callgrind profile")
        return
    }
    let probes = 3000
    for component in ["cstor-node", "cstor-controller"] {
        let directory = config.path("callgrind-\(component)")
        try FileManager.default.createDirectory(atPath: directory + "/kubelet", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: directory + "/volumes", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: directory + "/state", withIntermediateDirectories: true)
        let socket = directory + "/csi.sock"
        let output = directory + "/callgrind.out"
        let arguments = component == "cstor-node"
            ? ["--node-id", "node-1", "--kubelet-dir", directory + "/kubelet", "--state-dir", directory + "/state", "--transports", "loop", "--loop-dir", directory + "/volumes"]
            : ["--engine", "local", "--state-dir", directory + "/state"]
        // valgrind 3.19 gives up on the DWARF of the lld-linked release binaries ("possibly
        // corrupted debuginfo"): profile a copy without it (the symbol table is kept).
        let binary = directory + "/" + component
        try check("objcopy", ["--strip-debug", config.binary(component), binary], timeout: .seconds(120))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        // Instrumentation off until the warm-up is done (`callgrind_control -i on` turns it on;
        // with --collect-atstart=no instead, `-i on` would collect nothing).
        process.arguments = ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--callgrind-out-file=\(output)", binary,
                             "--endpoint", "unix://\(socket)"] + arguments
        let log = FileHandle(forWritingAtPath: directory + "/valgrind.log") ?? {
            _ = FileManager.default.createFile(atPath: directory + "/valgrind.log", contents: nil)
            return FileHandle(forWritingAtPath: directory + "/valgrind.log")!
        }()
        process.standardOutput = log
        process.standardError = log
        try process.run()
        Children.register(process.processIdentifier)
        try await waitUntil(.seconds(600), "\(component) under callgrind to serve", interval: .milliseconds(200)) { SocketProbe.accepts(path: socket) }
        // Warm-up outside the measurement, then collect exactly the Probes.
        _ = try pythonClient(config, socket: socket, calls: 200)
        try check("callgrind_control", ["-i", "on", "\(process.processIdentifier)"], timeout: .seconds(60))
        let figures = try pythonClient(config, socket: socket, calls: probes)
        try check("callgrind_control", ["-i", "off", "\(process.processIdentifier)"], timeout: .seconds(60))
        process.terminate()
        try await waitUntil(.seconds(120), "\(component) under callgrind to exit", interval: .milliseconds(100)) { !process.isRunning }
        Children.unregister(process.processIdentifier)
        let outputs = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasPrefix("callgrind.out") }
        guard !outputs.isEmpty else { throw BenchError("callgrind wrote no profile in \(directory)") }
        let files = outputs.map { directory + "/" + $0 }
        let selfReport = try check("callgrind_annotate", ["--threshold=99.9"] + files, timeout: .seconds(300)).output
        let inclusive = try check("callgrind_annotate", ["--inclusive=yes", "--threshold=99"] + files, timeout: .seconds(300)).output
        func rows(_ text: String) -> (total: Double, rows: [(Double, String)]) {
            var total = 0.0
            var result: [(Double, String)] = []
            for line in demangle(text).split(separator: "\n") {
                let trimmed = line.trimmingCharacters(in: .whitespaces)
                if trimmed.hasSuffix("PROGRAM TOTALS") || trimmed.contains("PROGRAM TOTALS") {
                    total = Double(trimmed.split(separator: " ").first?.replacingOccurrences(of: ",", with: "") ?? "") ?? 0
                    continue
                }
                let parts = trimmed.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
                guard parts.count == 2, let value = Double(parts[0].replacingOccurrences(of: ",", with: "")) else { continue }
                var symbol = String(parts[1]).trimmingCharacters(in: .whitespaces)
                if symbol.hasPrefix("(") , let close = symbol.firstIndex(of: ")") { symbol = symbol[symbol.index(after: close)...].trimmingCharacters(in: .whitespaces) }
                result.append((value, symbol))
            }
            return (total, result)
        }
        let (total, selfRows) = rows(selfReport)
        var buckets: [String: Double] = [:]
        for (value, symbol) in selfRows { buckets[category(symbol, dso: symbol.contains("libc") ? "libc" : ""), default: 0] += value }
        Out.line("callgrind of \(component) (\(probes) Probes, user-space instructions only): \(fmt(total / Double(probes) / 1000, 1)) k instructions per Probe (p50 under valgrind \(fmt(figures.p50, 2)) ms)")
        for (bucket, value) in buckets.sorted(by: { $0.value > $1.value }) where value / max(total, 1) >= 0.005 {
            Out.line("   \(fmt(value / max(total, 1) * 100, 1).padding(toLength: 6, withPad: " ", startingAt: 0))% \(fmt(value / Double(probes) / 1000, 1).padding(toLength: 6, withPad: " ", startingAt: 0))k/probe  \(bucket)")
        }
        Out.line("   top symbols (self):")
        for (value, symbol) in selfRows.prefix(25) {
            Out.line("   \(fmt(value / max(total, 1) * 100, 2).padding(toLength: 6, withPad: " ", startingAt: 0))% \(String(symbol.prefix(150)))")
        }
        let (_, inclusiveRows) = rows(inclusive)
        Out.line("   inclusive, selected:")
        let interesting = ["RPCLoggingInterceptor", "JSONLogHandler", "ErrorMappingInterceptor", "IdentityService", "ProgramLocator", "RPCMetrics",
                           "ServerRPCExecutor", "HPACK", "encode", "decode", "readiness"]
        var shown = 0
        for (value, symbol) in inclusiveRows where interesting.contains(where: { symbol.contains($0) }) && shown < 25 {
            shown += 1
            Out.line("   \(fmt(value / max(total, 1) * 100, 1).padding(toLength: 6, withPad: " ", startingAt: 0))% \(String(symbol.prefix(150)))")
        }
        try? demangle(selfReport).write(toFile: (config.reportDir as NSString).appendingPathComponent("callgrind-\(component)-self.txt"), atomically: true, encoding: .utf8)
        try? demangle(inclusive).write(toFile: (config.reportDir as NSString).appendingPathComponent("callgrind-\(component)-inclusive.txt"), atomically: true, encoding: .utf8)
        _ = world
    }
}

/// Context switches (voluntary and not) of all the threads of a process so far.
func contextSwitches(_ pid: Int32) -> Int {
    let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
    var total = 0
    for task in tasks {
        guard let status = try? KernelFile.read("/proc/\(pid)/task/\(task)/status") else { continue }
        for line in status.split(separator: "\n") where line.contains("ctxt_switches:") {
            total += Int(line.split(separator: "\t").last?.trimmingCharacters(in: .whitespaces) ?? "") ?? 0
        }
    }
    return total
}
