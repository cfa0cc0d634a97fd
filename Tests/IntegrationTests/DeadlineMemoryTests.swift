import CSITestSupport
import CStorCore
import CStorKubernetes
import CStorModel
import Foundation
import GRPCCore
import Testing

/// The memory a deadline costs the real binaries: each call's deadline must be freed when the
/// call ends, not held until it would have expired (grpc-swift-2's executor raced every RPC with a
/// sleeping task, and a cancelled sleep kept ~1.5 kB until its deadline: ~17 MB after 10,000 calls
/// with the sidecars' 120 s deadline). A bound on memory, not a timing.
@Suite("Deadline memory of the real binaries", .serialized)
struct DeadlineMemoryTests {
    static let plugins: [(binary: String, arguments: [String])] = [
        ("cstor-node", ["--node-id", "node-a", "--kubelet-dir", "/tmp", "--transports", "loop", "--loop-dir", "/tmp"]),
        ("cstor-controller", ["--engine", "local"]),
    ]

    @Test("10,000 calls with 120 s deadlines grow the plugin's RSS by at most 2 MB", arguments: plugins)
    func deadlinesAreFreed(plugin: (binary: String, arguments: [String])) async throws {
        let dir = try TemporaryDirectory(prefix: "deadline-rss")
        let arguments = plugin.arguments + (plugin.binary == "cstor-controller" ? ["--state-dir", dir.file("state")] : [])
        let process = try await PluginProcess.start(
            plugin.binary, socketPath: dir.file("csi.sock"), arguments: arguments, logDirectory: dir.url)
        let (before, after) = try await withCSIClient(socket: process.socketPath) { client in
            let identity = Csi_V1_Identity.Client(wrapping: client)
            let options = {
                var options = CallOptions.defaults
                options.timeout = .seconds(120)
                return options
            }()
            // The sidecars' light calls in turn, a few in flight, as kubelet and the sidecars
            // would make them on one connection.
            @Sendable func calls(_ count: Int) async throws {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for worker in 0..<4 {
                        group.addTask {
                            for index in stride(from: worker, to: count, by: 4) {
                                switch index % 3 {
                                case 0: _ = try await identity.probe(.init(), options: options)
                                case 1: _ = try await identity.getPluginInfo(.init(), options: options)
                                default: _ = try await identity.getPluginCapabilities(.init(), options: options)
                                }
                            }
                        }
                    }
                    try await group.waitForAll()
                }
            }
            // Warm-up: the allocator's arenas, the runtime's and NIO's caches reach their size.
            try await calls(3000)
            try await Task.sleep(for: .milliseconds(500))
            let before = try Self.residentBytes(pid: process.pid)
            try await calls(10_000)
            try await Task.sleep(for: .milliseconds(500))
            return (before, try Self.residentBytes(pid: process.pid))
        }
        let growth = after - before
        #expect(
            growth <= 2 << 20,
            "\(plugin.binary) RSS grew by \(String(format: "%.1f", Double(growth) / 1_048_576)) MB (\(before >> 10) → \(after >> 10) kB)")
        #expect(try await process.stop() == 0)
    }

    /// VmRSS of a process, in bytes, from /proc/PID/status.
    static func residentBytes(pid: Int32) throws -> Int {
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            if let kB = line.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) {
                return kB << 10
            }
        }
        throw TestFailure("no VmRSS in /proc/\(pid)/status")
    }
}
