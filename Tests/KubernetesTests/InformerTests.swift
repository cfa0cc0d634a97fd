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
}
