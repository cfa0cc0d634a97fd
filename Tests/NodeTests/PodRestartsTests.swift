import CSITestSupport
import CStorCore
import CStorKubernetes
import Foundation
import Logging
import Synchronization
import Testing

@testable import cstor_node

/// The pod restart's rules, against an API that answers as scripted (the HTTP path and the real
/// API server's answers are in NodeHealthTests+PodRestart and EvictionStandInTests).
@Suite("Pod restart rules")
struct PodRestartsTests {
    /// Pods on the node, and an answer per eviction; records the evictions asked for.
    final class ScriptedAPI: PodEvictionAPI, Sendable {
        let state: Mutex<(pods: [Pod], answers: [String: [KubernetesError.Kind?]], evicted: [String], lists: Int)>

        init(pods: [Pod], answers: [String: [KubernetesError.Kind?]] = [:]) {
            state = Mutex((pods, answers, [], 0))
        }

        func pods(onNode node: String) async throws -> [Pod] {
            state.withLock {
                $0.lists += 1
                return $0.pods.filter { $0.nodeName == node }
            }
        }

        func evict(_ pod: Pod) async throws {
            let answer = state.withLock { state -> KubernetesError.Kind? in
                state.evicted.append(pod.metadata.uid)
                guard var queue = state.answers[pod.metadata.name], !queue.isEmpty else { return nil }
                let first = queue.removeFirst()
                state.answers[pod.metadata.name] = queue
                return first
            }
            if let answer { throw KubernetesError(answer, "scripted \(answer)") }
        }

        var evicted: [String] { state.withLock { $0.evicted } }
    }

    static func pod(_ name: String, uid: String, controller: Bool, node: String = "node-1") -> Pod {
        Pod(
            metadata: ObjectMeta(
                name: name, namespace: "shop", uid: uid,
                ownerReferences: controller ? [OwnerReference(apiVersion: "apps/v1", kind: "ReplicaSet", name: "rs", uid: "o", controller: true)] : []),
            spec: ["nodeName": .string(node)])
    }

    let log = Logger(label: "test")

    @Test("Each pod is evicted at most once per fault; a new fault (after clear) evicts again")
    func oncePerFault() async {
        let api = ScriptedAPI(pods: [Self.pod("a", uid: "u-a", controller: true)])
        let restarts = PodRestarts(api: api, nodeID: "node-1")
        let health = HealthRegistry()
        for _ in 1...5 { _ = await restarts.restart(["u-a"], volumeID: "pvc-1", health: health, log: log) }
        #expect(api.evicted == ["u-a"])
        #expect(api.state.withLock { $0.lists } == 1, "nothing left to do: the API is not asked again")
        health.clear("pvc-1")
        _ = await restarts.restart(["u-a"], volumeID: "pvc-1", health: health, log: log)
        #expect(api.evicted == ["u-a", "u-a"])
    }

    @Test("A 429 (PodDisruptionBudget) is retried only after a delay that grows; then the eviction goes through once")
    func budgetBlocks() async throws {
        let api = ScriptedAPI(pods: [Self.pod("a", uid: "u-a", controller: true)], answers: ["a": [.tooManyRequests, .tooManyRequests]])
        let restarts = PodRestarts(api: api, nodeID: "node-1", initialDelay: .milliseconds(100), maximumDelay: .seconds(1))
        let health = HealthRegistry()
        var summary = await restarts.restart(["u-a"], volumeID: "pvc-1", health: health, log: log)
        #expect(summary.contains("shop/a: not evicted yet") && summary.contains("retrying"), "\(summary)")
        _ = await restarts.restart(["u-a"], volumeID: "pvc-1", health: health, log: log)
        #expect(api.evicted.count == 1, "not before the delay")
        try await Task.sleep(for: .milliseconds(150))
        _ = await restarts.restart(["u-a"], volumeID: "pvc-1", health: health, log: log)
        #expect(api.evicted.count == 2)
        guard case .waiting(_, _, let attempts, let notBefore)? = health.restarts(of: "pvc-1")["u-a"] else {
            Issue.record("not waiting after the second 429")
            return
        }
        #expect(attempts == 2)
        #expect(notBefore > .now + .milliseconds(120), "the delay doubled")
        try await Task.sleep(for: .milliseconds(250))
        summary = await restarts.restart(["u-a"], volumeID: "pvc-1", health: health, log: log)
        #expect(api.evicted.count == 3)
        #expect(summary == "pod restart (--restart-pods): shop/a: eviction requested")
        _ = await restarts.restart(["u-a"], volumeID: "pvc-1", health: health, log: log)
        #expect(api.evicted.count == 3)
    }

    @Test("Bare pods, pods gone (404), replaced (409), terminating or not on this node are never evicted again; only pods with a controller are evicted")
    func whoIsEvicted() async {
        var terminating = Self.pod("t", uid: "u-t", controller: true)
        terminating.metadata.deletionTimestamp = KubernetesTime.now
        let api = ScriptedAPI(
            pods: [
                Self.pod("bare", uid: "u-bare", controller: false), Self.pod("gone", uid: "u-gone", controller: true),
                Self.pod("new", uid: "u-new", controller: true), terminating,
                Self.pod("elsewhere", uid: "u-else", controller: true, node: "node-2"),
            ],
            answers: ["gone": [.notFound], "new": [.conflict]])
        let restarts = PodRestarts(api: api, nodeID: "node-1")
        let health = HealthRegistry()
        let uids = ["u-bare", "u-gone", "u-new", "u-t", "u-else"]
        let summary = await restarts.restart(uids, volumeID: "pvc-1", health: health, log: log)
        #expect(api.evicted == ["u-gone", "u-new"])
        #expect(summary.contains("shop/bare: no controller, so it is not evicted"))
        #expect(summary.contains("shop/gone: deleted meanwhile"))
        #expect(summary.contains("shop/new: replaced by another pod of that name"))
        #expect(summary.contains("shop/t: already terminating"))
        #expect(summary.contains("UID u-else: no such pod on node node-1"))
        _ = await restarts.restart(uids, volumeID: "pvc-1", health: health, log: log)
        #expect(api.evicted == ["u-gone", "u-new"], "all settled: nothing again")
    }
}
