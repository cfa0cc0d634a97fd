import CSITestSupport
import CStorCore
import Foundation
import Logging
import Testing

@Suite("Informer: one shared watch, a cache and waiters")
struct InformerTests {
    let namespace = "openebs"

    @Test("Waiters are answered from the cache or by the next event; the cache follows creates, changes and deletes")
    func waitsAndCache() async throws {
        try await withServerAndClient { server, client in
            let informer = Informer<CStorVolumeConfig>(client: client, namespace: namespace, logger: Logger(label: "t"))
            _ = try await client.create(makeCVC("pvc-early"))
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { try await informer.run() }
                let early = try await informer.wait(for: "pvc-early", timeout: .seconds(5)) { _ in true }
                #expect(early.metadata.name == "pvc-early")
                #expect(informer.isSynced)

                async let bound = informer.wait(for: "pvc-late", timeout: .seconds(5)) { $0.phase == .bound }
                _ = try await client.create(makeCVC("pvc-late"))
                _ = try await client.mergePatch(CStorVolumeConfig.self, name: "pvc-late", namespace: namespace, ["status": ["phase": "Bound"]])
                #expect(try await bound.phase == .bound)

                _ = try await client.jsonPatch(CStorVolumeConfig.self, name: "pvc-early", namespace: namespace, [.remove("/metadata/finalizers")])
                _ = try await client.delete(CStorVolumeConfig.self, name: "pvc-early", namespace: namespace)
                for _ in 0..<100 where informer.cached("pvc-early") != nil { try await Task.sleep(for: .milliseconds(10)) }
                #expect(informer.cached("pvc-early") == nil)

                let timedOut = await #expect(throws: KubernetesError.self) {
                    try await informer.wait(for: "pvc-never", timeout: .milliseconds(200)) { _ in true }
                }
                #expect(timedOut?.kind == .timeout)
                #expect(server.requestCount(verb: "watch") == 1, "one watch serves every waiter")
                group.cancelAll()
            }
        }
    }

    @Test("An informer stops promptly when its task is cancelled, even in the middle of a watch")
    func stopsPromptly() async throws {
        try await withServerAndClient { _, client in
            let informer = Informer<CStorVolumeConfig>(client: client, namespace: namespace, logger: Logger(label: "t"))
            let task = Task { try await informer.run() }
            for _ in 0..<200 where !informer.isSynced { try await Task.sleep(for: .milliseconds(10)) }
            #expect(informer.isSynced)
            try await Task.sleep(for: .milliseconds(100))
            let started = ContinuousClock.now
            task.cancel()
            _ = try? await task.value
            #expect(ContinuousClock.now - started < .seconds(1), "stopped after \(ContinuousClock.now - started)")
        }
    }

    static let forbiddenWatch = try? RBACPolicy.chart(without: "watch", on: "cstorpoolclusters")

    /// An informer of pool clusters as the chart's controller account, with a log capture.
    func withPoolInformer(
        policy: RBACPolicy, backoff: Informer<CStorPoolCluster>.Backoff,
        _ body: (KubeAPITestServer, Informer<CStorPoolCluster>, LogCapture) async throws -> Void
    ) async throws {
        try await KubeAPITestServer.with(.init(authorization: .policy(policy))) { server in
            let token = server.serviceAccountToken(namespace: "openebs", name: "cstor-csi-controller")
            let logs = LogCapture()
            try await HTTPKubernetesClient.withClient(configuration: server.clientConfiguration(token: token), logger: logs.logger) { client in
                let informer = Informer<CStorPoolCluster>(client: client, namespace: namespace, logger: logs.logger, backoff: backoff)
                let task = Task { try await informer.run() }
                defer { task.cancel() }
                try await body(server, informer, logs)
                task.cancel()
                _ = try? await task.value
            }
        }
    }

    @Test("A watch the API forbids is retried after delays that grow; each step logs the 403 once, at error level, naming the permission")
    func forbiddenWatchBacksOff() async throws {
        let policy = try #require(Self.forbiddenWatch)
        try await withPoolInformer(policy: policy, backoff: .init(initial: .milliseconds(100), maximum: .milliseconds(800))) { server, _, logs in
            try await Task.sleep(for: .seconds(3))
            let watches = server.requests.filter { $0.verb == "watch" }
            #expect(watches.allSatisfy { $0.status == 403 })
            // 100, 200, 400, 800, 800 ms: about 6 attempts in 3 s (a fixed 200 ms would be 15).
            #expect(watches.count >= 3 && watches.count <= 7, "\(watches.count) watches")
            let gaps = zip(watches.dropFirst(), watches).map { later, earlier in later.at - earlier.at }
            for (later, earlier) in zip(gaps.dropFirst().prefix(2), gaps.prefix(2)) {
                #expect(later > earlier, "the delay grows: \(gaps)")
            }
            let errors = logs.lines.filter { $0.level == .error }
            #expect(errors.count == watches.count, "one error line per step")
            #expect(errors.allSatisfy { $0.metadata["missing_permission"] == #"watch cstorpoolclusters in API group "cstor.openebs.io" in namespace openebs"# })
            #expect(errors.first?.message.contains("grant watch cstorpoolclusters") == true)
        }
    }

    @Test(
        "The delay starts over only after a healthy watch: one that delivered an event, or stayed open long enough",
        arguments: [true, false])
    func backoffResetsAfterHealthyWatch(deliverEvent: Bool) async throws {
        let forbidden = try #require(Self.forbiddenWatch)
        let backoff = Informer<CStorPoolCluster>.Backoff(initial: .milliseconds(100), maximum: .seconds(2), healthyAfter: .milliseconds(300))
        try await withPoolInformer(policy: forbidden, backoff: backoff) { server, _, _ in
            // Steps 1 to 4: 100, 200, 400, 800 ms.
            try await Task.sleep(for: .milliseconds(1300))
            server.rbac = try RBACPolicy.chart()
            try await server.store.waitForWatches(started: 1, timeout: .seconds(5))
            if deliverEvent {
                try server.store.create(
                    CStorPoolCluster(
                        metadata: ObjectMeta(name: "cspc-x", namespace: namespace),
                        spec: .init(pools: [
                            .init(dataRaidGroups: [.init(blockDevices: [.init(blockDeviceName: "bd-1")])], nodeSelector: ["h": "n1"])
                        ])))
                try await Task.sleep(for: .milliseconds(100))
            } else {
                try await Task.sleep(for: .milliseconds(500))
            }
            server.rbac = forbidden
            let before = server.requests.count
            server.store.stopAllWatches()
            try await Task.sleep(for: .milliseconds(900))
            let refused = server.requests.dropFirst(before).filter { $0.verb == "watch" && $0.status == 403 }
            #expect(refused.count >= 2, "retries started again from 100 ms, not from where they were (1.6 s): \(refused.count)")
        }
    }
}
