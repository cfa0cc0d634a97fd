import CSITestSupport
import CStorCore
import CStorKubernetes
import CStorKubernetesHTTP
import CStorModel
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

    /// Waits until `count` watches of pool clusters have been refused (generous: the machine may be busy).
    func waitForRefusedWatches(_ server: KubeAPITestServer, _ count: Int, after start: Int = 0) async throws -> [KubeAPIRequestRecord] {
        let deadline = ContinuousClock.now + .seconds(60)
        while true {
            let refused = server.requests.dropFirst(start).filter { $0.verb == "watch" && $0.status == 403 }
            if refused.count >= count { return Array(refused) }
            guard ContinuousClock.now < deadline else { throw TestFailure("only \(refused.count) refused watches") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    @Test("A watch the API forbids is retried after delays that grow; each step logs the 403 once, at error level, naming the permission")
    func forbiddenWatchBacksOff() async throws {
        let policy = try #require(Self.forbiddenWatch)
        try await withPoolInformer(policy: policy, backoff: .init(initial: .milliseconds(200), maximum: .seconds(2))) { server, _, logs in
            // By the fifth refusal the first four steps are logged.
            let watches = Array(try await waitForRefusedWatches(server, 5).prefix(4))
            // The informer says what it waits: 200, 400, 800, 1600 ms, each ±20 % (the code before
            // retried every 200 ms for ever). The requests are at least that far apart.
            let errors = logs.lines.filter { $0.level == .error }
            let steps = errors.prefix(4).map { (Int($0.metadata["failures"] ?? ""), Int($0.metadata["retry_in_ms"] ?? "") ?? 0) }
            #expect(steps.map(\.0) == [1, 2, 3, 4], "\(steps)")
            for (index, step) in steps.enumerated() {
                let nominal = 200 << index
                #expect(step.1 >= nominal * 8 / 10 && step.1 <= nominal * 12 / 10, "step \(index + 1) waits \(step.1) ms")
            }
            #expect(watches[3].at - watches[0].at >= .milliseconds(1120))
            #expect(errors.count <= server.requests.filter { $0.verb == "watch" }.count, "one error line per step")
            #expect(errors.allSatisfy { $0.metadata["missing_permission"] == #"watch cstorpoolclusters in API group "cstor.openebs.io" in namespace openebs"# })
            #expect(errors.first?.message.contains("grant watch cstorpoolclusters") == true)
        }
    }

    @Test(
        "The delay starts over only after a healthy watch: one that delivered an event, or stayed open long enough",
        arguments: [true, false])
    func backoffResetsAfterHealthyWatch(deliverEvent: Bool) async throws {
        let forbidden = try #require(Self.forbiddenWatch)
        let backoff = Informer<CStorPoolCluster>.Backoff(initial: .milliseconds(100), maximum: .seconds(3), healthyAfter: .milliseconds(300))
        try await withPoolInformer(policy: forbidden, backoff: backoff) { server, _, logs in
            // Four refusals in a row: the next delay would be 1.6 s.
            _ = try await waitForRefusedWatches(server, 4)
            server.rbac = try RBACPolicy.chart()
            try await server.store.waitForWatches(started: 1, timeout: .seconds(10))
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
            let logged = logs.lines.count
            server.store.stopAllWatches()
            _ = try await waitForRefusedWatches(server, 1, after: before)
            let deadline = ContinuousClock.now + .seconds(30)
            while logs.lines.dropFirst(logged).first(where: { $0.level == .error }) == nil, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            let next = logs.lines.dropFirst(logged).first { $0.level == .error }
            #expect(next?.metadata["failures"] == "1", "the count starts over after the healthy watch (it was at 4)")
            #expect(next?.metadata["retry_in_ms"].flatMap(Int.init).map { $0 <= 120 } == true, "\(next?.metadata ?? [:])")
        }
    }
}
