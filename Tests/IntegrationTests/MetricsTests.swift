import CSITestSupport
import CStorCore
import CStorKubernetes
import CStorModel
import Foundation
import Testing

/// The Prometheus endpoint of the real binaries moves with the work they do.
@Suite("Metrics endpoint")
struct MetricsTests {
    /// The port from the "serving metrics" log line (the binaries are started on port 0).
    func metricsPort(_ process: PluginProcess) async throws -> Int {
        for _ in 0..<100 {
            for line in process.logLines() where line.object?["msg"] as? String == "serving metrics" {
                if let address = line.object?["address"] as? String, let port = address.split(separator: ":").last.flatMap({ Int($0) }) {
                    return port
                }
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestFailure("no metrics address in the log:\n\(process.logText())")
    }

    func scrape(_ port: Int) throws -> String {
        try Shell.check("curl", ["-sf", "http://127.0.0.1:\(port)/metrics"])
    }

    /// The value of the sample with exactly this name and labels.
    func value(_ text: String, _ sample: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(sample + " ") {
            return Double(line.dropFirst(sample.count + 1))
        }
        return nil
    }

    @Test("Controller: RPC counts by method and code, in-flight gauge and process metrics")
    func controllerMetrics() async throws {
        try await withLocalCluster(controllerArguments: ["--metrics-address", "127.0.0.1:0"]) { cluster in
            let controller = try #require(cluster.controller)
            let port = try await metricsPort(controller)
            let before = try scrape(port)
            #expect(value(before, #"cstor_csi_rpc_duration_seconds_count{method="CreateVolume",code="ok"}"#) == nil)
            for _ in 0..<2 {
                _ = try await cluster.controllerClient {
                    try await $0.createVolume(.with {
                        $0.name = "pvc-metrics"
                        $0.volumeCapabilities = [.mount()]
                        $0.capacityRange = .with { $0.requiredBytes = 1 << 20 }
                    })
                }
            }
            _ = await rpcCode { try await cluster.controllerClient { try await $0.deleteVolume(.init()) } }
            let after = try scrape(port)
            #expect(value(after, #"cstor_csi_rpc_duration_seconds_count{method="CreateVolume",code="ok"}"#) == 2)
            #expect(value(after, #"cstor_csi_rpc_duration_seconds_count{method="DeleteVolume",code="invalid_argument"}"#) == 1)
            #expect(value(after, "cstor_csi_rpc_in_flight") == 0)
            #expect((value(after, "process_resident_memory_bytes") ?? 0) > 1_000_000)
            #expect((value(after, "process_open_fds") ?? 0) > 3)
            #expect((value(after, "process_start_time_seconds") ?? 0) > 1_700_000_000)
        }
    }

    @Test("Node: command durations and staged volumes move after a stage", .enabled(if: runningAsRoot))
    func nodeMetrics() async throws {
        try await withNodeHarness(extraArguments: ["--metrics-address", "127.0.0.1:0"]) { harness in
            let process = try #require(harness.process)
            let port = try await metricsPort(process)
            let volume = try harness.makeVolume("pvc-metrics")
            _ = try await harness.node {
                try await $0.nodeStageVolume(.with {
                    $0.volumeID = "pvc-metrics"
                    $0.stagingTargetPath = harness.stagingPath("pvc-metrics")
                    $0.publishContext = volume.context
                    $0.volumeCapability = .mount()
                })
            }
            var text = ""
            for _ in 0..<100 {
                text = try scrape(port)
                if value(text, "cstor_node_staged_volumes") == 1 { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(value(text, "cstor_node_staged_volumes") == 1)
            #expect((value(text, #"cstor_csi_command_duration_seconds_count{program="mkfs.ext4"}"#) ?? 0) >= 1)
            #expect(value(text, #"cstor_csi_rpc_duration_seconds_count{method="NodeStageVolume",code="ok"}"#) == 1)
            #expect(value(text, "cstor_node_volumes_in_fault") == 0)
            _ = try await harness.node {
                try await $0.nodeUnstageVolume(.with {
                    $0.volumeID = "pvc-metrics"
                    $0.stagingTargetPath = harness.stagingPath("pvc-metrics")
                })
            }
        }
    }
}
