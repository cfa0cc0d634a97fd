import CSITestSupport
import CStorCore
import CStorKubernetes
import CStorModel
import Foundation
import GRPCCore
import Testing

/// SIGTERM ends the controller with status 0 from any state of its cstor engine: an informer
/// waiting to retry, informers in the middle of their watches, and calls in the middle of a
/// request (waiting for a CVC to be bound, or for an API call that does not answer).
@Suite("Controller SIGTERM on the cstor engine", .serialized)
struct ShutdownTests {
    static let parameters = ["cstorPoolCluster": "cspc-test", "replicaCount": "3"]

    /// Sends SIGTERM and checks the exit: status 0, no critical line, within `within`.
    func terminate(_ cluster: CStorCluster, within limit: Duration = .seconds(15)) async throws {
        let controller = try #require(cluster.controller)
        let started = ContinuousClock.now
        let status = try await controller.stop(signal: SIGTERM, timeout: .seconds(40))
        let took = ContinuousClock.now - started
        #expect(status == 0, "exit status \(status)")
        #expect(took < limit, "took \(took)")
        let critical = controller.logLines().compactMap(\.object).filter { $0["level"] as? String == "critical" }
        #expect(critical.isEmpty, "\(critical)")
    }

    func startCreate(_ cluster: CStorCluster, _ name: String) -> Task<RPCError.Code?, Never> {
        Task {
            await rpcCode {
                try await cluster.client {
                    try await $0.createVolume(.with {
                        $0.name = name
                        $0.capacityRange = .with { $0.requiredBytes = 1 << 30 }
                        $0.volumeCapabilities = [.mount()]
                        $0.parameters = Self.parameters
                    })
                }
            }
        }
    }

    func waitUntil(_ condition: () -> Bool, timeout: Duration = .seconds(10)) async throws {
        let deadline = ContinuousClock.now + timeout
        while !condition() {
            guard ContinuousClock.now < deadline else { throw TestFailure("condition not reached within \(timeout)") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    @Test("SIGTERM while an informer sleeps before retrying a forbidden watch exits 0")
    func duringRetrySleep() async throws {
        try await withCStorCluster(beforeStart: { $0.server.rbac = try RBACPolicy.chart(without: "watch", on: "cstorpoolclusters") }) {
            cluster in
            try await waitUntil {
                cluster.server.requests.filter { $0.verb == "watch" && $0.status == 403 && $0.path.hasSuffix("/cstorpoolclusters") }.count >= 2
            }
            try await terminate(cluster)
        }
    }

    @Test("SIGTERM while the informers are watching exits 0 at once")
    func duringWatch() async throws {
        try await withCStorCluster { cluster in
            try await cluster.server.store.waitForWatches(started: 3)
            try await terminate(cluster, within: .seconds(5))
        }
    }

    @Test("SIGTERM while an informer's request hangs exits 0 at once")
    func duringInformerRequest() async throws {
        try await withCStorCluster(
            controllerArguments: ["--kube-api-timeout", "30"],
            beforeStart: { $0.server.inject(.hang(verb: "list", path: "cstorpoolclusters")) }
        ) { cluster in
            try await waitUntil { cluster.server.requestCount(verb: "list", pathContains: "cstorpoolclusters") == 1 }
            try await terminate(cluster, within: .seconds(5))
        }
    }

    @Test("SIGTERM while CreateVolume waits for the CVC to be bound ends the wait (Aborted) and exits 0 at once")
    func duringWaitForBound() async throws {
        try await withCStorCluster(operatorOptions: .init(failure: .neverBind, targetAddress: "127.0.0.1"), controllerArguments: ["--provision-timeout", "60"]) {
            cluster in
            try await cluster.server.store.waitForWatches(started: 3)
            let call = startCreate(cluster, "pvc-waiting")
            try await waitUntil { cluster.server.store.object(CStorVolumeConfig.self, namespace: cluster.namespace, name: "pvc-waiting") != nil }
            try await Task.sleep(for: .milliseconds(100))
            try await terminate(cluster, within: .seconds(5))
            #expect(await call.value == .aborted, "the provisioner retries, against the next controller")
        }
    }

    @Test("SIGTERM while a call's API request hangs lets it end at the request timeout, then exits 0")
    func duringHungRequest() async throws {
        try await withCStorCluster(controllerArguments: ["--kube-api-timeout", "3"]) { cluster in
            try await cluster.server.store.waitForWatches(started: 3)
            cluster.server.inject(.hang(verb: "create", path: "cstorvolumeconfigs"))
            let call = startCreate(cluster, "pvc-hung")
            try await waitUntil { cluster.server.requestCount(verb: "create", pathContains: "cstorvolumeconfigs") == 1 }
            try await terminate(cluster, within: .seconds(10))
            #expect(await call.value == .unavailable)
        }
    }
}
