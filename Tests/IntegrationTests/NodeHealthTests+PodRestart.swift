import CSITestSupport
import CStorCore
import CStorKubernetes
import CStorModel
import Foundation
import GRPCCore
import Testing

/// `--restart-pods` (chart `node.remount.restartPods`): the node evicts the pods that keep a
/// read-only volume from being repaired, through the test API server over HTTPS, with the
/// in-cluster configuration a pod has (service account token and CA, KUBERNETES_SERVICE_HOST/PORT)
/// and the chart's RBAC for the node's service account. Real loop devices, a real ext4 error, a
/// private mount namespace holding the target with a file open, as a container does.
extension NodeHealthTests {
    static let podNamespace = "shop"

    /// Runs `body` with a test API server (HTTPS, the chart's RBAC with restartPods on) and a node
    /// started as a pod would be: its service account's token and CA in a directory, the API
    /// server's address in the environment. `restartPods` is the node's flag.
    func withAPIServerAndNode(
        restartPods: Bool, _ body: (KubeAPITestServer, NodeHarness) async throws -> Void
    ) async throws {
        let options = KubeAPITestServer.Options(tls: true, authorization: .policy(try RBACPolicy.chartWithRestartPods()))
        try await KubeAPITestServer.with(options) { server in
            let account = try TemporaryDirectory(prefix: "serviceaccount")
            try Data(server.serviceAccountToken(namespace: "openebs", name: "cstor-csi-node").utf8).write(to: URL(fileURLWithPath: account.file("token")))
            try Data(try #require(server.pki).caPEM).write(to: URL(fileURLWithPath: account.file("ca.crt")))
            try Data("openebs".utf8).write(to: URL(fileURLWithPath: account.file("namespace")))
            try await withNodeHarness(
                extraArguments: [
                    "--health-interval", "1", "--metrics-address", "127.0.0.1:0", "--restart-pods", String(restartPods),
                    "--service-account-dir", account.path,
                ],
                environment: ["KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": String(server.port)]
            ) { harness in
                try await body(server, harness)
            }
        }
    }

    /// A running pod on the harness's node, as the API server has it; `controller` names its owner.
    func makePod(_ server: KubeAPITestServer, name: String, controller: String?) throws -> Pod {
        let owners = controller.map { [OwnerReference(apiVersion: "apps/v1", kind: "StatefulSet", name: $0, uid: UUID().uuidString.lowercased(), controller: true)] } ?? []
        let pod = try server.store.create(
            Pod(
                metadata: ObjectMeta(name: name, namespace: Self.podNamespace, labels: ["app": "shop"], ownerReferences: owners),
                spec: ["nodeName": .string(NodeHarness.nodeID), "containers": [["name": "app", "image": "registry.example/app:1"]]]))
        server.store.modify(.pods, namespace: Self.podNamespace, name: name) { $0["status"] = ["phase": "Running"] }
        return pod
    }

    /// Writes a file into the volume, starts a "container" holding the target, and makes ext4 fail.
    func holdAndBreak(_ harness: NodeHarness, target: String) throws -> HolderProcess {
        try Data("written before the fault".utf8).write(to: URL(fileURLWithPath: target + "/before.txt"))
        sync()
        let holder = try harness.startHolder(keepingOpen: target + "/before.txt", privateNamespace: true)
        let loop = try #require(harness.loopDevicesInUse().first)
        try Data("cstor-csi test error".utf8).write(
            to: URL(fileURLWithPath: "/sys/fs/ext4/\((loop as NSString).lastPathComponent)/trigger_fs_error"))
        return holder
    }

    func evictions(_ server: KubeAPITestServer) -> Int {
        server.requestCount(verb: "create", pathContains: "/eviction")
    }

    @Test("With --restart-pods, a pod with a controller that holds a read-only volume is evicted exactly once (UID as precondition); once kubelet unpublishes, the volume is repaired and the recreated pod finds its data")
    func restartPodsEvictsOnce() async throws {
        try await withAPIServerAndNode(restartPods: true) { server, harness in
            let pod = try makePod(server, name: "shop-0", controller: "shop")
            let (_, target) = try await stageAndPublish(harness, pod: pod.metadata.uid)
            let holder = try holdAndBreak(harness, target: target)

            let evicted = try await eventually { evictions(server) == 1 }
            #expect(evicted, "the eviction was requested")
            let request = try #require(server.requests.first { $0.path.hasSuffix("/eviction") })
            #expect(request.path == "/api/v1/namespaces/\(Self.podNamespace)/pods/shop-0/eviction")
            #expect(request.status == 201)
            #expect(request.user == "system:serviceaccount:openebs:cstor-csi-node", "as the node's service account")
            let body = try JSONValue(json: Data(request.body.utf8))
            #expect(body["apiVersion"] == "policy/v1" && body["kind"] == "Eviction")
            #expect(body[path: ["deleteOptions", "preconditions", "uid"]]?.stringValue == pod.metadata.uid)
            #expect(server.store.object(.pods, namespace: Self.podNamespace, name: "shop-0") == nil, "the API server deleted the pod")
            #expect(try await eventually { try await condition(harness, path: target).message.contains("\(Self.podNamespace)/shop-0: eviction requested") })
            let evictedLine = harness.process?.logLines().first { $0.object?["msg"] as? String == "pod eviction requested: it holds a volume that must be unmounted to be repaired" }
            #expect(evictedLine?.object?["pod"] as? String == "\(Self.podNamespace)/shop-0")
            #expect(evictedLine?.object?["volume_id"] as? String == volumeID)

            // The container takes a while to stop; the monitor keeps looking, and never evicts again.
            try await Task.sleep(for: .seconds(3))
            #expect(evictions(server) == 1, "evicted once per fault, not at every sweep")
            #expect(try metric(harness, "cstor_node_remount_held_by_pods_total") == 1)
            #expect(try metricSum(harness, "cstor_node_pod_evictions_total") == 1)
            #expect(harness.isMounted(target), "nothing unmounted while the pod holds it")

            // The container stops and kubelet unpublishes its target: the volume is repaired.
            holder.stop()
            try await harness.unpublish(volumeID, target: target)
            let repaired = try await eventually { try await condition(harness, path: harness.stagingPath(volumeID)).abnormal == false }
            #expect(repaired, "repaired once nothing holds it")
            #expect((harness.process?.logText() ?? "").contains(#""how":"recovered""#))
            // The recreated pod (a new UID) gets the volume, writable, with its data.
            let newTarget = harness.targetPath(volumeID, pod: UUID().uuidString.lowercased())
            try await harness.publish(volumeID, target: newTarget, capability: .mount("ext4"))
            #expect(try String(contentsOfFile: newTarget + "/before.txt", encoding: .utf8) == "written before the fault")
            #expect(canWrite(newTarget + "/after.txt"))
            #expect(evictions(server) == 1)
            try await unpublishAndUnstage(harness, target: newTarget)
        }
    }

    @Test("With --restart-pods, a bare pod (no controller) that holds a read-only volume is never evicted: an error log, a metric and the condition say to restart it by hand")
    func restartPodsSparesBarePods() async throws {
        try await withAPIServerAndNode(restartPods: true) { server, harness in
            let pod = try makePod(server, name: "debug", controller: nil)
            let (_, target) = try await stageAndPublish(harness, pod: pod.metadata.uid)
            let holder = try holdAndBreak(harness, target: target)

            let reported = try await eventually { try await condition(harness, path: target).message.contains("no controller") }
            #expect(reported)
            let message = try await condition(harness, path: target).message
            #expect(message.contains("\(Self.podNamespace)/debug: no controller, so it is not evicted; delete it by hand"), "\(message)")
            let line = harness.process?.logLines().first { $0.object?["msg"] as? String == "pod holds a read-only volume and has no controller; not evicted" }
            #expect(line?.object?["level"] as? String == "error")
            #expect((line?.object?["action"] as? String)?.contains("kubectl delete pod -n \(Self.podNamespace) debug") == true)
            try await Task.sleep(for: .seconds(2.5))
            #expect(evictions(server) == 0, "a bare pod is never evicted")
            #expect(server.requestCount(verb: "delete") == 0, "nor deleted")
            #expect(server.requestCount(verb: "list", pathContains: "/pods") == 1, "looked up once per fault")
            #expect(try metric(harness, "cstor_node_bare_pods_not_restarted_total") == 1, "counted once per fault")
            #expect(server.store.object(.pods, namespace: Self.podNamespace, name: "debug") != nil)

            holder.stop()
            try await harness.unpublish(volumeID, target: target)
            #expect(try await eventually { try await condition(harness, path: harness.stagingPath(volumeID)).abnormal == false })
            try await harness.unstage(volumeID)
        }
    }

    @Test("Without --restart-pods the node makes no API call at all, even with a service account and an API server at hand")
    func noRestartPodsNoAPICall() async throws {
        try await withAPIServerAndNode(restartPods: false) { server, harness in
            let pod = try makePod(server, name: "shop-0", controller: "shop")
            server.clearRequestLog()
            let (_, target) = try await stageAndPublish(harness, pod: pod.metadata.uid)
            let holder = try holdAndBreak(harness, target: target)
            #expect(try await eventually { try await condition(harness, path: target).message.contains("cannot be repaired while pods hold it") })
            let message = try await condition(harness, path: target).message
            #expect(message.contains("--restart-pods"), "the condition names the option: \(message)")
            try await Task.sleep(for: .seconds(2))
            #expect(server.requests.isEmpty, "\(server.requests.map(\.path))")
            holder.stop()
            try await harness.unpublish(volumeID, target: target)
            #expect(try await eventually { try await condition(harness, path: harness.stagingPath(volumeID)).abnormal == false })
            try await harness.unstage(volumeID)
        }
    }
}
