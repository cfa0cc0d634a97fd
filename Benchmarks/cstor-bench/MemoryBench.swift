import CSITestSupport
import CStorCore
import CStorKubernetes
import CStorModel
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix

/// RSS of one process grouped by what the memory is.
struct MemoryMap {
    var groups: [String: (rss: Int, size: Int, count: Int)] = [:]
    var rollup: [String: Int] = [:]

    /// Reads /proc/PID/smaps: the binary's text/rodata/data, shared libraries, heap, thread stacks
    /// (rw anonymous mapping right above a 4 KiB guard), malloc arenas (rw part of a 64 MiB
    /// anonymous reservation), other anonymous memory.
    static func read(pid: Int32, binary: String) -> MemoryMap {
        var map = MemoryMap()
        let text = (try? KernelFile.read("/proc/\(pid)/smaps")) ?? ""
        struct Mapping {
            var start: UInt64
            var end: UInt64
            var perms: String
            var path: String
            var rss = 0
        }
        var mappings: [Mapping] = []
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if let first = fields.first, first.contains("-"), fields.count >= 5, !first.hasSuffix(":") {
                let bounds = first.split(separator: "-")
                guard bounds.count == 2, let start = UInt64(bounds[0], radix: 16), let end = UInt64(bounds[1], radix: 16) else { continue }
                mappings.append(Mapping(start: start, end: end, perms: String(fields[1]), path: fields.count > 5 ? fields[5...].joined(separator: " ") : ""))
            } else if line.hasPrefix("Rss:"), !mappings.isEmpty {
                mappings[mappings.count - 1].rss = Int(fields[1]) ?? 0
            }
        }
        let resolved = (binary as NSString).resolvingSymlinksInPath
        for (index, mapping) in mappings.enumerated() {
            let size = Int((mapping.end - mapping.start) / 1024)
            var group: String
            if mapping.path == resolved || mapping.path == binary {
                switch mapping.perms {
                case let p where p.hasPrefix("r-x"): group = "binary text (r-x)"
                case let p where p.hasPrefix("rw"): group = "binary data (rw-)"
                default: group = "binary rodata (r--)"
                }
            } else if mapping.path == "[heap]" {
                group = "[heap] (brk, main arena)"
            } else if mapping.path == "[stack]" {
                group = "[stack] (main thread)"
            } else if mapping.path.hasPrefix("[") {
                group = mapping.path
            } else if mapping.path.hasPrefix("/") {
                group = "shared libraries and files"
            } else if mapping.perms.hasPrefix("---") {
                group = "anonymous, no access (guards, reserved)"
            } else {
                let previous = index > 0 ? mappings[index - 1] : nil
                let next = index + 1 < mappings.count ? mappings[index + 1] : nil
                let total = mapping.end - mapping.start + ((next?.perms.hasPrefix("---") == true && next?.path == "" && next?.start == mapping.end) ? next!.end - next!.start : 0)
                if total == 64 << 20 || (mapping.start % (64 << 20) == 0 && next?.perms.hasPrefix("---") == true) {
                    group = "malloc arenas (thread arenas)"
                } else if let previous, previous.perms.hasPrefix("---"), previous.end == mapping.start, previous.end - previous.start <= 64 << 10 {
                    group = "thread stacks"
                } else {
                    group = "other anonymous (mmap'd allocations)"
                }
            }
            var entry = map.groups[group] ?? (0, 0, 0)
            entry.rss += mapping.rss
            entry.size += size
            entry.count += 1
            map.groups[group] = entry
        }
        let rollup = (try? KernelFile.read("/proc/\(pid)/smaps_rollup")) ?? ""
        for line in rollup.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if fields.count >= 2, fields[0].hasSuffix(":"), let value = Int(fields[1]) {
                map.rollup[String(fields[0].dropLast())] = value
            }
        }
        return map
    }

    func print(indent: String = "       ") {
        for (name, entry) in groups.sorted(by: { $0.value.rss > $1.value.rss }) where entry.rss > 0 || entry.count > 0 {
            Out.line("\(indent)\(name.padding(toLength: 42, withPad: " ", startingAt: 0)) RSS \(String(format: "%6d", entry.rss)) kB  (\(entry.count) mappings, \(entry.size / 1024) MiB mapped)")
        }
        let keys = ["Rss", "Pss", "Shared_Clean", "Private_Clean", "Private_Dirty", "Anonymous"]
        Out.line(indent + "smaps_rollup: " + keys.map { "\($0) \(rollup[$0] ?? 0) kB" }.joined(separator: ", "))
    }
}

/// Thread names and counts, e.g. "NIO-ELT-0-#0 ×1".
func threadNames(_ pid: Int32) -> String {
    let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
    var counts: [String: Int] = [:]
    for task in tasks {
        let name = ((try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/comm", encoding: .utf8)) ?? "?")
            .trimmingCharacters(in: .whitespacesAndNewlines)
        counts[name, default: 0] += 1
    }
    return counts.sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value)" }.joined(separator: ", ")
}

struct MemorySample {
    var startMs: Double
    var idleRSS: Int
    var idleThreads: Int
    var afterRSS: Int
    var hwm: Int
    var afterThreads: Int
    var callsPerSecond: Double
}

/// 10,000 light calls the way kubelet and the sidecars make them: Identity and capabilities.
func lightCalls(socket: String, component: String, count: Int) async throws -> Double {
    try await withCSIClient(socket: socket) { grpc in
        let identity = Csi_V1_Identity.Client(wrapping: grpc)
        let controller = Csi_V1_Controller.Client(wrapping: grpc)
        let node = Csi_V1_Node.Client(wrapping: grpc)
        let start = clock.now
        for index in 0..<count {
            switch index % 4 {
            case 0: _ = try await identity.probe(.init(), options: callOptions)
            case 1: _ = try await identity.getPluginInfo(.init(), options: callOptions)
            case 2: _ = try await identity.getPluginCapabilities(.init(), options: callOptions)
            default:
                if component == "controller" {
                    _ = try await controller.controllerGetCapabilities(.init(), options: callOptions)
                } else {
                    _ = try await node.nodeGetCapabilities(.init(), options: callOptions)
                }
            }
        }
        return Double(count) / start.duration(to: clock.now).seconds
    }
}

func memoryBenchmark(_ config: BenchConfig) async throws {
    let calls = config.quick ? 2000 : 10_000
    Out.header("memory: idle and peak RSS of the release static binaries, binary sizes")
    Out.note("reference (issue): Go csi-driver-host-path 10.7 MB idle, 16.8 MB after 10,000 calls; minimal grpc-swift-2 server 27 MB (21 MB static stdlib)")
    Out.note("controller: --engine cstor against the in-process test API server (kubeconfig); node: --transports loop; default flags otherwise")
    Out.note("idle = 2 s after the socket accepts; after = 1 s after \(calls) sequential calls (Probe, GetPluginInfo, GetPluginCapabilities, *GetCapabilities in turn) on one connection")

    // Binary sizes.
    for name in ["cstor-controller", "cstor-node", "csictl"] {
        let path = config.binary(name)
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path), let size = attributes[.size] as? Int else { continue }
        let stripped = config.path("\(name).stripped")
        var strippedSize = 0
        if (try? check("strip", ["-o", stripped, path])) != nil {
            strippedSize = ((try? FileManager.default.attributesOfItem(atPath: stripped))?[.size] as? Int) ?? 0
            try? FileManager.default.removeItem(atPath: stripped)
        }
        let libraries = ((try? check("ldd", [path]))?.output ?? "").split(separator: "\n")
            .compactMap { $0.split(separator: " ").first.map(String.init) }.filter { !$0.contains("linux-vdso") && !$0.contains("ld-linux") }
        Out.line("\(name.padding(toLength: 17, withPad: " ", startingAt: 0)) \(fmt(Double(size) / 1_048_576, 1)) MiB, stripped \(fmt(Double(strippedSize) / 1_048_576, 1)) MiB; links \(libraries.joined(separator: " "))")
    }

    let variants: [(String, [String: String])] = [
        ("default", [:]),
        ("MALLOC_ARENA_MAX=1", ["MALLOC_ARENA_MAX": "1"]),
        ("MALLOC_ARENA_MAX=2", ["MALLOC_ARENA_MAX": "2"]),
        ("LIBDISPATCH_COOPERATIVE_POOL_STRICT=1", ["LIBDISPATCH_COOPERATIVE_POOL_STRICT": "1"]),
        ("MALLOC_ARENA_MAX=1 + POOL_STRICT=1", ["MALLOC_ARENA_MAX": "1", "LIBDISPATCH_COOPERATIVE_POOL_STRICT": "1"]),
        ("MALLOC_TRIM_THRESHOLD_=0 + ARENA_MAX=1", ["MALLOC_ARENA_MAX": "1", "MALLOC_TRIM_THRESHOLD_": "0"]),
    ]
    try await CStorWorld.with(config, name: "memory") { world in
        for component in ["controller", "node"] {
            var samples: [String: [MemorySample]] = [:]
            for (variantIndex, (variant, environment)) in variants.enumerated() {
                let repeats = variantIndex == 0 ? max(config.runs, 2) : 1
                for repeatIndex in 0..<repeats {
                    let detailed = variantIndex == 0 && repeatIndex == 0
                    // Every start from the same page-cache state: the binary's code is mapped with
                    // fault-around from whatever folios the cache holds, and a binary that was read
                    // whole (strip, cp, an earlier benchmark) came out up to 3 MB larger at idle.
                    dropPageCache(config.binary(component == "controller" ? "cstor-controller" : "cstor-node"))
                    let start = clock.now
                    let plugin: Plugin
                    let node: NodeWorld?
                    if component == "controller" {
                        plugin = try await world.startController(
                            [], environment: environment, socketName: "mem-\(variantIndex)-\(repeatIndex).sock")
                        node = nil
                    } else {
                        node = try await NodeWorld(config, name: "memory-node-\(variantIndex)-\(repeatIndex)", environment: environment)
                        plugin = node!.node
                    }
                    let startMs = start.duration(to: clock.now).milliseconds
                    try await Task.sleep(for: .seconds(2))
                    let idle = Proc.status(plugin.pid)
                    let binary = config.binary("cstor-\(component)")
                    if detailed {
                        Out.line("\(component), idle, where the RSS is (threads: \(threadNames(plugin.pid))):")
                        MemoryMap.read(pid: plugin.pid, binary: binary).print()
                        residentPages(config, pid: plugin.pid, binary: binary)
                    }
                    let rate = try await withDeadline(.seconds(300), "\(calls) calls") {
                        try await lightCalls(socket: plugin.socket, component: component, count: calls)
                    }
                    try await Task.sleep(for: .seconds(1))
                    let after = Proc.status(plugin.pid)
                    if detailed {
                        Out.line("\(component), after \(calls) calls (threads: \(threadNames(plugin.pid))):")
                        MemoryMap.read(pid: plugin.pid, binary: binary).print()
                        residentPages(config, pid: plugin.pid, binary: binary)
                    }
                    samples[variant, default: []].append(
                        MemorySample(
                            startMs: startMs, idleRSS: idle["VmRSS"] ?? 0, idleThreads: idle["Threads"] ?? 0,
                            afterRSS: after["VmRSS"] ?? 0, hwm: after["VmHWM"] ?? 0, afterThreads: after["Threads"] ?? 0,
                            callsPerSecond: rate))
                    await plugin.stop()
                    _ = node
                }
            }
            Out.line("\(component): variant                                 idle RSS MB     after \(calls) MB   VmHWM MB   threads idle/after  start→serving ms  calls/s")
            for (variant, _) in variants {
                let list = samples[variant] ?? []
                let mb = { (values: [Int]) in spread(values.map { Double($0) / 1000 }, 1) }
                Out.line(
                    "  \(variant.padding(toLength: 40, withPad: " ", startingAt: 0)) \(mb(list.map(\.idleRSS)).padding(toLength: 15, withPad: " ", startingAt: 0)) \(mb(list.map(\.afterRSS)).padding(toLength: 17, withPad: " ", startingAt: 0)) \(mb(list.map(\.hwm)).padding(toLength: 10, withPad: " ", startingAt: 0)) \(list.map { "\($0.idleThreads)/\($0.afterThreads)" }.joined(separator: " ").padding(toLength: 19, withPad: " ", startingAt: 0)) \(spread(list.map(\.startMs), 0).padding(toLength: 17, withPad: " ", startingAt: 0)) \(spread(list.map(\.callsPerSecond), 0))"
                )
            }
            let base = samples["default"] ?? []
            let idle = Stats.median(base.map { Double($0.idleRSS) / 1000 })
            let after = Stats.median(base.map { Double($0.afterRSS) / 1000 })
            Out.verdict("\(component) idle RSS vs Go 10.7 MB", ratio: idle / 10.7, target: "≤ 1.0× (\(fmt(idle, 1)) MB)", pass: idle <= 10.7)
            Out.verdict("\(component) RSS after \(calls) calls vs Go 16.8 MB", ratio: after / 16.8, target: "≤ 1.0× (\(fmt(after, 1)) MB)", pass: after <= 16.8)
        }
    }
}

/// The binary's resident pages by section and by module (scripts/bench-python/resident_pages.py).
func residentPages(_ config: BenchConfig, pid: Int32, binary: String) {
    do {
        let output = try check(config.python, ["\(config.pythonDir)/resident_pages.py", "--pid", "\(pid)", "--binary", binary, "--top", "18"],
                               timeout: .seconds(300)).output
        Out.line("       resident pages of the binary's own mappings, by ELF section and (code, data) by module:")
        for line in output.split(separator: "\n") { Out.line("         " + line) }
    } catch {
        Out.note("resident_pages.py failed: \(error)")
    }
}

/// Drops the clean page-cache pages of one file (POSIX_FADV_DONTNEED), so that the next process
/// faults its code in as on a node that has not run the binary yet.
func dropPageCache(_ path: String) {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { return }
    _ = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED)
    close(fd)
}
