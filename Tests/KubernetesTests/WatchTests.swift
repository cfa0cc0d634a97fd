import CSITestSupport
import CStorCore
import CStorKubernetes
import CStorKubernetesHTTP
import CStorModel
import Foundation
import Testing

/// The first `count` events of a watch (bookmarks included when `bookmarks`), within a deadline.
func collect<Object: KubernetesObject>(
    _ count: Int, from watch: KubernetesWatch<Object>, bookmarks: Bool = false, timeout: Duration = .seconds(10)
) async throws -> [WatchEvent<Object>] {
    try await withThrowingTaskGroup(of: [WatchEvent<Object>]?.self) { group in
        group.addTask {
            var events: [WatchEvent<Object>] = []
            for try await event in watch {
                if case .bookmark = event, !bookmarks { continue }
                events.append(event)
                if events.count == count { break }
            }
            return events
        }
        group.addTask {
            try await Task.sleep(for: timeout)
            return nil
        }
        defer { group.cancelAll() }
        guard let events = try await group.next() ?? nil else {
            throw TestFailure("fewer than \(count) watch events within \(timeout)")
        }
        return events
    }
}

/// "ADDED pvc-1" etc.
func summary<Object: KubernetesObject>(_ events: [WatchEvent<Object>]) -> [String] {
    events.map { event in
        if case .bookmark = event { return "BOOKMARK" }
        return "\(event.type) \(event.object?.metadata.name ?? "")"
    }
}

@Suite("Kubernetes client: watches")
struct WatchTests {
    let namespace = "openebs"

    @Test("A watch without resourceVersion reports what exists as ADDED, then the changes in order")
    func listThenWatch() async throws {
        try await withServerAndClient { server, client in
            _ = try await client.create(makeCVC("pvc-1"))
            _ = try await client.create(makeCVC("pvc-2"))
            let watch = client.watch(CStorVolumeConfig.self, namespace: namespace)
            async let events = collect(5, from: watch)
            // The watch lists first; changes made after it runs arrive as events.
            try await waitUntilWatching(server)
            _ = try await client.mergePatch(CStorVolumeConfig.self, name: "pvc-1", namespace: namespace, ["status": ["phase": "Bound"]])
            _ = try await client.create(makeCVC("pvc-3"))
            _ = try await client.jsonPatch(CStorVolumeConfig.self, name: "pvc-2", namespace: namespace, [.remove("/metadata/finalizers")])
            _ = try await client.delete(CStorVolumeConfig.self, name: "pvc-2", namespace: namespace)
            let seen = try await events
            #expect(summary(seen) == ["ADDED pvc-1", "ADDED pvc-2", "MODIFIED pvc-1", "ADDED pvc-3", "MODIFIED pvc-2"])
            if case .modified(let object) = seen[2] {
                #expect(object.phase == .bound)
            }
        }
    }

    /// Waits until the client's watch connection is registered on the server.
    func waitUntilWatching(_ server: KubeAPITestServer, started: Int = 1) async throws {
        try await server.store.waitForWatches(started: started)
    }

    @Test("A dropped watch connection resumes from the last resourceVersion: no event lost or repeated")
    func droppedConnection() async throws {
        try await withServerAndClient { server, client in
            let start = try await client.list(CStorVolumeConfig.self, namespace: namespace)
            server.inject(.dropWatch(afterEvents: 2))
            let watch = client.watch(CStorVolumeConfig.resource, as: CStorVolumeConfig.self, namespace: namespace, after: start)
            // Watching before the changes, so that the drop lands after exactly two events.
            async let collected = collect(5, from: watch)
            try await waitUntilWatching(server)
            for index in 1...5 {
                _ = try await client.create(makeCVC("pvc-\(index)"))
            }
            let seen = try await collected
            #expect(summary(seen) == (1...5).map { "ADDED pvc-\($0)" })
            let watches = server.requests.filter { $0.verb == "watch" }
            #expect(watches.count == 2)
            #expect(watches.last?.query["resourceVersion"] == seen[1].resourceVersion)
        }
    }

    @Test("A watch from a too-old resourceVersion (410 as an ERROR event) re-lists and reports the difference")
    func goneAsEvent() async throws {
        try await relistAfterGone(KubeAPITestServer.Options())
    }

    @Test("A watch from a too-old resourceVersion (HTTP 410) re-lists and reports the difference")
    func goneAsStatus() async throws {
        try await relistAfterGone(KubeAPITestServer.Options(goneAsHTTPStatus: true))
    }

    func relistAfterGone(_ options: KubeAPITestServer.Options) async throws {
        try await withServerAndClient(options) { server, client in
            _ = try await client.create(makeCVC("pvc-a"))
            var b = makeCVC("pvc-b")
            b.metadata.finalizers = []
            _ = try await client.create(b)
            _ = try await client.create(makeCVC("pvc-same"))
            let before = try await client.listAll(CStorVolumeConfig.self, namespace: namespace)
            // Changes the watch will never see as events, then the history is compacted away.
            _ = try await client.mergePatch(CStorVolumeConfig.self, name: "pvc-a", namespace: namespace, ["status": ["phase": "Bound"]])
            _ = try await client.delete(CStorVolumeConfig.self, name: "pvc-b", namespace: namespace)
            _ = try await client.create(makeCVC("pvc-c"))
            server.store.compact()
            server.clearRequestLog()
            let watch = client.watch(CStorVolumeConfig.resource, as: CStorVolumeConfig.self, namespace: namespace, after: before)
            let seen = try await collect(3, from: watch)
            #expect(Set(summary(seen)) == ["MODIFIED pvc-a", "ADDED pvc-c", "DELETED pvc-b"])
            #expect(server.requestCount(verb: "list") == 1)
            if case .modified(let object) = seen.first(where: { $0.object?.metadata.name == "pvc-a" }) {
                #expect(object.phase == .bound)
            }
        }
    }

    @Test("Bookmarks reach the consumer and move the resume point")
    func bookmarks() async throws {
        try await withServerAndClient { server, client in
            let start = try await client.list(CStorVolumeConfig.self, namespace: namespace)
            let watch = client.watch(CStorVolumeConfig.resource, as: CStorVolumeConfig.self, namespace: namespace, after: start)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    var iterator = watch.makeAsyncIterator()
                    let first = try await iterator.next()
                    #expect(first?.type == "ADDED")
                    let bookmark = try await iterator.next()
                    guard case .bookmark(let version)? = bookmark else {
                        Issue.record("expected a bookmark, got \(String(describing: bookmark))")
                        return
                    }
                    #expect(version == String(server.store.currentRevision))
                }
                _ = try await client.create(makeCVC("pvc-1"))
                try await waitUntilWatching(server)
                server.store.sendBookmarks()
                try await group.waitForAll()
            }
            #expect(server.requests.last { $0.verb == "watch" }?.query["allowWatchBookmarks"] == "true")
        }
    }

    @Test("When the server ends a watch (timeoutSeconds), the client reconnects and keeps reporting")
    func serverTimeout() async throws {
        try await withServerAndClient { server, client in
            let start = try await client.list(CStorVolumeConfig.self, namespace: namespace)
            let watch = client.watch(
                CStorVolumeConfig.resource, as: CStorVolumeConfig.self, namespace: namespace, after: start,
                options: WatchOptions(timeoutSeconds: 1))
            async let events = collect(2, from: watch)
            _ = try await client.create(makeCVC("pvc-1"))
            // Wait for the second watch connection (after the server's timeout), then change.
            try await waitUntilWatching(server, started: 2)
            _ = try await client.create(makeCVC("pvc-2"))
            #expect(summary(try await events) == ["ADDED pvc-1", "ADDED pvc-2"])
        }
    }

    @Test("An object that leaves a watch's label selector is DELETED for that watch")
    func leavingTheSelector() async throws {
        try await withServerAndClient { server, client in
            let watch = client.watch(CStorVolumeConfig.self, namespace: namespace, options: WatchOptions(labelSelector: "tier=gold"))
            async let events = collect(2, from: watch)
            try await waitUntilWatching(server)
            var cvc = makeCVC("pvc-1")
            cvc.metadata.labels["tier"] = "gold"
            _ = try await client.create(cvc)
            _ = try await client.mergePatch(CStorVolumeConfig.self, name: "pvc-1", namespace: namespace, ["metadata": ["labels": ["tier": "silver"]]])
            #expect(summary(try await events) == ["ADDED pvc-1", "DELETED pvc-1"])
        }
    }

    @Test("A watch the API server forbids ends with Forbidden instead of retrying forever")
    func forbidden() async throws {
        try await withServerAndClient { server, _ in
            // The node's account: no role is bound to it.
            let token = server.serviceAccountToken(namespace: "openebs", name: "cstor-csi-node")
            try await HTTPKubernetesClient.withClient(configuration: server.clientConfiguration(token: token), logger: LogCapture().logger) {
                client in
                let error = await kubernetesError { try await collect(1, from: client.watch(CStorVolumeConfig.self, namespace: namespace)) }
                #expect(error?.kind == .forbidden)
                #expect(error?.message.contains("cannot list resource") == true)
                #expect(server.requestCount(verb: "list") == 1, "not retried")
            }
        }
    }

    @Test("waitFor returns the object once the condition holds, even if it does not exist yet")
    func waitForLaterObject() async throws {
        try await withServerAndClient { server, client in
            async let healthy = client.waitFor(CStorVolume.self, name: "pvc-1", namespace: namespace, timeout: .seconds(10)) {
                $0.phase == .healthy
            }
            try await waitUntilWatching(server)
            _ = try await client.create(CStorVolume(metadata: ObjectMeta(name: "pvc-1", namespace: namespace), spec: .init(), status: .init(phase: .initializing)))
            _ = try await client.mergePatch(CStorVolume.self, name: "pvc-1", namespace: namespace, ["status": ["phase": "Healthy"]])
            let volume = try await healthy
            #expect(volume.phase == .healthy)
        }
    }

    @Test("waitFor times out with what it last saw of the object")
    func waitForTimeout() async throws {
        try await withServerAndClient { _, client in
            _ = try await client.create(makeCVC("pvc-1"))
            let started = ContinuousClock.now
            let error = await kubernetesError {
                try await client.waitFor(CStorVolumeConfig.self, name: "pvc-1", namespace: namespace, timeout: .seconds(2)) {
                    $0.phase == .bound
                }
            }
            #expect(ContinuousClock.now - started < .seconds(5))
            #expect(error?.kind == .timeout)
            #expect(error?.message.contains("openebs/pvc-1") == true)
            #expect(error?.message.contains("\"phase\":\"Pending\"") == true)
            let never = await kubernetesError {
                try await client.waitFor(CStorVolumeConfig.self, name: "pvc-none", namespace: namespace, timeout: .milliseconds(200)) { _ in true }
            }
            #expect(never?.message.contains("never seen") == true)
        }
    }

    @Test("waitForDeletion returns when the object goes and times out while a finalizer holds it")
    func waitForDeletion() async throws {
        try await withServerAndClient { _, client in
            _ = try await client.create(makeCVC("pvc-1"))
            _ = try await client.delete(CStorVolumeConfig.self, name: "pvc-1", namespace: namespace)
            let held = await kubernetesError {
                try await client.waitForDeletion(CStorVolumeConfig.self, name: "pvc-1", namespace: namespace, timeout: .milliseconds(300))
            }
            #expect(held?.kind == .timeout)
            #expect(held?.message.contains("cvc.openebs.io/finalizer") == true)
            async let gone: Void = client.waitForDeletion(CStorVolumeConfig.self, name: "pvc-1", namespace: namespace, timeout: .seconds(10))
            _ = try await client.jsonPatch(CStorVolumeConfig.self, name: "pvc-1", namespace: namespace, [.remove("/metadata/finalizers")])
            try await gone
            try await client.waitForDeletion(CStorVolumeConfig.self, name: "pvc-never", namespace: namespace, timeout: .seconds(10))
        }
    }
}
