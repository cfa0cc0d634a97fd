import CSITestSupport
import CStorCore
import CStorKubernetes
import CStorKubernetesHTTP
import CStorModel
import Foundation
import Testing

/// The test API server's Eviction API (pods/eviction) refuses what kube-apiserver's
/// `EvictionREST.Create` refuses, with its words (pkg/registry/core/pod/storage/eviction.go), and
/// the chart's node account may do with `node.remount.restartPods` exactly what the pod restart
/// needs.
@Suite("The stand-in's Eviction API refuses what the API refuses")
struct EvictionStandInTests {
    static let namespace = "shop"

    @discardableResult
    static func runningPod(_ server: KubeAPITestServer, _ name: String, labels: [String: String] = ["app": "shop"], phase: String = "Running") throws -> Pod {
        let pod = try server.store.create(
            Pod(metadata: ObjectMeta(name: name, namespace: namespace, labels: labels), spec: ["nodeName": "node-1", "containers": [["name": "c", "image": "i"]]]))
        server.store.modify(.pods, namespace: namespace, name: name) { $0["status"] = ["phase": .string(phase)] }
        return pod
    }

    /// A PodDisruptionBudget over `app=shop`, its status as the disruption controller writes it.
    static func budget(_ server: KubeAPITestServer, _ name: String, allowed: Int64, observed: Int64 = 1) throws {
        let created = server.store.create(
            .podDisruptionBudgets, namespace: namespace,
            body: [
                "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": ["name": .string(name), "namespace": .string(namespace)],
                "spec": ["minAvailable": 2, "selector": ["matchLabels": ["app": "shop"]]],
            ])
        #expect(created.status == 201)
        server.store.modify(.podDisruptionBudgets, namespace: namespace, name: name) {
            $0["status"] = ["observedGeneration": .int(observed), "disruptionsAllowed": .int(allowed), "desiredHealthy": 2, "currentHealthy": .int(2 + allowed)]
        }
    }

    /// An admin client that does not retry: every answer is seen as the server gave it.
    func withAdmin(_ body: (KubeAPITestServer, HTTPKubernetesClient) async throws -> Void) async throws {
        try await withServerAndClient(configure: { $0.maxAttempts = 1 }) { server, client in try await body(server, client) }
    }

    @Test("A body that is not an Eviction of the URL's pod is a 400; GET, PUT and PATCH on pods/eviction are 405; a missing pod is a 404")
    func badRequests() async throws {
        try await withAdmin { server, client in
            let pod = try Self.runningPod(server, "shop-0")
            let store = server.store
            let notEviction = store.evict(namespace: Self.namespace, name: "shop-0", body: ["apiVersion": "v1", "kind": "Pod", "metadata": ["name": "shop-0"]])
            #expect(notEviction.status == 400)
            let noBody = store.evict(namespace: Self.namespace, name: "shop-0", body: nil)
            #expect(noBody.status == 400)
            let otherName = store.evict(
                namespace: Self.namespace, name: "shop-0", body: ["apiVersion": "policy/v1", "kind": "Eviction", "metadata": ["name": "shop-1"]])
            #expect(otherName.status == 400)
            #expect(otherName.body["message"] == "name in URL does not match name in Eviction object")
            #expect(store.object(.pods, namespace: Self.namespace, name: "shop-0") != nil, "nothing was evicted")
            // policy/v1beta1 is still served.
            let beta = store.evict(
                namespace: Self.namespace, name: "shop-0", body: ["apiVersion": "policy/v1beta1", "kind": "Eviction", "metadata": ["name": "shop-0"]])
            #expect(beta.status == 201)

            let missing = await kubernetesError { try await client.evict(pod) }
            #expect(missing?.kind == .notFound)
            #expect(missing?.status?.message == #"pods "shop-0" not found"#)
            let again = try Self.runningPod(server, "shop-0")
            let put = await kubernetesError { try await client.update(.pods, again, subresource: "eviction") }
            #expect(put?.kind == .methodNotAllowed)
            let patch = await kubernetesError {
                try await client.patch(.pods, as: Pod.self, name: "shop-0", namespace: Self.namespace, patch: .merge([:]), subresource: "eviction")
            }
            #expect(patch?.kind == .methodNotAllowed)
            #expect(store.object(.pods, namespace: Self.namespace, name: "shop-0") != nil)
        }
    }

    @Test("preconditions.uid of another pod of that name is a 409 and nothing is evicted")
    func uidPrecondition() async throws {
        try await withAdmin { server, client in
            var pod = try Self.runningPod(server, "shop-0")
            let uid = pod.metadata.uid
            pod.metadata.uid = UUID().uuidString.lowercased()
            let conflict = await kubernetesError { try await client.evict(pod) }
            #expect(conflict?.kind == .conflict)
            #expect(conflict?.status?.message?.contains("the UID in the precondition (\(pod.metadata.uid)) does not match the UID in record (\(uid))") == true)
            #expect(server.store.object(.pods, namespace: Self.namespace, name: "shop-0") != nil)
        }
    }

    @Test("A PodDisruptionBudget that allows no disruption (or is not observed yet) is a 429 with a DisruptionBudget cause; one that allows it is consumed; two are a 500; a pending pod ignores budgets")
    func budgets() async throws {
        try await withAdmin { server, client in
            let first = try Self.runningPod(server, "shop-0")
            let second = try Self.runningPod(server, "shop-1")
            try Self.budget(server, "shop", allowed: 1)
            try await client.evict(first)
            #expect(server.store.object(.pods, namespace: Self.namespace, name: "shop-0") == nil, "evicted")
            let budget = try #require(server.store.object(.podDisruptionBudgets, namespace: Self.namespace, name: "shop"))
            #expect(budget[path: ["status", "disruptionsAllowed"]] == 0)
            #expect(budget[path: ["status", "disruptedPods", "shop-0"]] != nil)

            let blocked = await kubernetesError { try await client.evict(second) }
            #expect(blocked?.kind == .tooManyRequests)
            #expect(blocked?.status?.message == "Cannot evict pod as it would violate the pod's disruption budget.")
            #expect(blocked?.status?.details?.causes?.first?.reason == "DisruptionBudget")
            #expect(blocked?.status?.details?.causes?.first?.message == "The disruption budget shop needs 2 healthy pods and has 3 currently")
            #expect(server.store.object(.pods, namespace: Self.namespace, name: "shop-1") != nil, "not evicted")

            // Not observed by the disruption controller yet: 429 too.
            server.store.modify(.podDisruptionBudgets, namespace: Self.namespace, name: "shop") {
                $0["status"]?["observedGeneration"] = 0
                $0["status"]?["disruptionsAllowed"] = 5
            }
            let unobserved = await kubernetesError { try await client.evict(second) }
            #expect(unobserved?.kind == .tooManyRequests)
            #expect(unobserved?.status?.details?.causes?.first?.message == "The disruption budget shop is still being processed by the server.")

            // Two budgets over one pod: the eviction subresource does not support it.
            try Self.budget(server, "shop-other", allowed: 1)
            let two = await kubernetesError { try await client.evict(second) }
            #expect(two?.kind == .serverError)
            #expect(two?.status?.message == "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.")

            // A pod not running yet is deleted without asking its budgets.
            let pending = try Self.runningPod(server, "shop-2", phase: "Pending")
            try await client.evict(pending)
            #expect(server.store.object(.pods, namespace: Self.namespace, name: "shop-2") == nil)
        }
    }

    @Test("The chart's node account: no access without node.remount.restartPods; with it exactly list and get pods (any namespace) and create pods/eviction")
    func nodeAccount() async throws {
        for restartPods in [false, true] {
            let policy = restartPods ? try RBACPolicy.chartWithRestartPods() : try RBACPolicy.chart()
            try await KubeAPITestServer.with(.init(authorization: .policy(policy))) { server in
                let pod = try Self.runningPod(server, "shop-0")
                let token = server.serviceAccountToken(namespace: "openebs", name: "cstor-csi-node")
                var configuration = server.clientConfiguration(token: token)
                configuration.maxAttempts = 1
                try await HTTPKubernetesClient.withClient(configuration: configuration, logger: LogCapture().logger) { client in
                    let user = "system:serviceaccount:openebs:cstor-csi-node"
                    let list = await kubernetesError { try await client.listAll(Pod.self, namespace: nil, fieldSelector: "spec.nodeName=node-1") }
                    let get = await kubernetesError { try await client.get(Pod.self, name: "shop-0", namespace: Self.namespace) }
                    if !restartPods {
                        #expect(list?.kind == .forbidden)
                        let evict = await kubernetesError { try await client.evict(pod) }
                        #expect(evict?.kind == .forbidden)
                        #expect(
                            evict?.status?.message
                                == #"pods "shop-0" is forbidden: User "\#(user)" cannot create resource "pods/eviction" in API group "" in the namespace "shop""#)
                        #expect(get?.kind == .forbidden)
                        return
                    }
                    #expect(list == nil && get == nil)
                    let listed = try await client.listAll(Pod.self, namespace: nil, fieldSelector: "spec.nodeName=node-1").items
                    #expect(listed.map(\.metadata.name) == ["shop-0"])
                    #expect(try await client.listAll(Pod.self, namespace: nil, fieldSelector: "spec.nodeName=node-2").items.isEmpty)
                    // Nothing else: no delete, no update, no other resource.
                    #expect(await kubernetesError { try await client.delete(Pod.self, name: "shop-0", namespace: Self.namespace) }?.kind == .forbidden)
                    #expect(await kubernetesError { try await client.update(pod) }?.kind == .forbidden)
                    #expect(await kubernetesError { try await client.get(Node.self, name: "node-1", namespace: nil) }?.kind == .forbidden)
                    #expect(await kubernetesError { try await client.listAll(PersistentVolume.self, namespace: nil) }?.kind == .forbidden)
                    #expect(await kubernetesError { try await client.listAll(CStorVolume.self, namespace: "openebs") }?.kind == .forbidden)
                    try await client.evict(pod)
                    #expect(server.store.object(.pods, namespace: Self.namespace, name: "shop-0") == nil)
                }
            }
        }
    }
}
