import CSITestSupport
import CStorCore
import CStorKubernetes
import CStorModel
import Foundation
import GRPCCore
import Testing

/// What the cStor operators expect of the CSI controller, as openebs/cstor-csi provided it: the
/// claim's `openebs.io/created-through` on the CVC, `publish.nodeId` from the preferred topology
/// at create, the operator's own rule for usable pools; and attach leaves the CVC alone.
@Suite("The operator's features: created-through, publish.nodeId, pools, attach", .serialized)
struct OperatorFeatureTests {
    func cvc(_ cluster: CStorCluster, _ name: String) -> CStorVolumeConfig? {
        cluster.server.store.object(CStorVolumeConfig.self, namespace: cluster.namespace, name: name)
    }

    /// The CVC as CreateVolume sent it (before the operator touched it).
    func postedCVC(_ cluster: CStorCluster, _ name: String) throws -> JSONValue {
        let post = try #require(
            cluster.server.requests.first {
                $0.verb == "create" && $0.path.hasSuffix("/cstorvolumeconfigs") && $0.body.contains("\"\(name)\"")
            })
        return try JSONValue(json: Data(post.body.utf8))
    }

    @Test("openebs.io/created-through is copied from the claim the provisioner names")
    func createdThrough() async throws {
        try await withCStorCluster { cluster in
            for (claim, annotations) in [("data-velero", ["openebs.io/created-through": "restore"]), ("data-plain", [:])] {
                _ = try cluster.server.store.create(
                    PersistentVolumeClaim(
                        metadata: ObjectMeta(name: claim, namespace: "default", annotations: annotations),
                        spec: .init(accessModes: ["ReadWriteOnce"], resources: .init(requests: ["storage": try Quantity(parsing: "5Gi")]))))
            }
            _ = try await cluster.createVolume("pvc-velero", claim: "data-velero")
            _ = try await cluster.createVolume("pvc-plain", claim: "data-plain")
            _ = try await cluster.createVolume("pvc-noclaim", claim: "data-missing")
            #expect(try postedCVC(cluster, "pvc-velero")[path: ["metadata", "annotations", "openebs.io/created-through"]] == "restore")
            #expect(cvc(cluster, "pvc-velero")?.metadata.annotations["openebs.io/created-through"] == "restore")
            #expect(cvc(cluster, "pvc-plain")?.metadata.annotations["openebs.io/created-through"] == nil)
            #expect(cvc(cluster, "pvc-noclaim")?.metadata.annotations["openebs.io/created-through"] == nil)
            #expect(cvc(cluster, "pvc-velero")?.metadata.annotations["openebs.io/persistent-volume-claim"] == "data-velero")
        }
    }

    @Test("publish.nodeId is set at create from the preferred topology, before the operator binds")
    func publishNodeAtCreate() async throws {
        try await withCStorCluster { cluster in
            _ = try await cluster.createVolume("pvc-affine", preferredNode: "node-2")
            #expect(try postedCVC(cluster, "pvc-affine")[path: ["publish", "nodeId"]] == "node-2")
            #expect(cvc(cluster, "pvc-affine")?.publish?.nodeId == "node-2")
            _ = try await cluster.createVolume("pvc-anywhere")
            #expect(try postedCVC(cluster, "pvc-anywhere")["publish"] == nil, "no topology, no node")
        }
    }

    @Test("Pools count as the operator counts them: any that is not OFFLINE and not read-only")
    func poolRule() async throws {
        try await withCStorCluster(beforeStart: { cluster in
            let states: [(String, CStorPoolInstancePhase, Bool)] = [
                ("cspc-test-0", .online, false), ("cspc-test-1", .degraded, false), ("cspc-test-2", .offline, false),
            ]
            for (name, phase, readOnly) in states {
                cluster.server.store.modify(CStorPoolInstance.self, namespace: cluster.namespace, name: name) {
                    $0.status?.phase = phase
                    $0.status?.readOnly = readOnly
                }
            }
        }) { cluster in
            let parameters = ["cstorPoolCluster": "cspc-test", "replicaCount": "2"]
            _ = try await cluster.createVolume("pvc-degraded", parameters: parameters)
            let capacity = try await cluster.client { try await $0.getCapacity(.with { $0.parameters = parameters }) }
            #expect(capacity.availableCapacity == 10 << 30, "two usable pools of 10 GiB, two replicas each")

            cluster.server.store.modify(CStorPoolInstance.self, namespace: cluster.namespace, name: "cspc-test-1") {
                $0.status?.readOnly = true
            }
            // The controller learns it through its informer: wait (with a deadline) until the
            // capacity it reports no longer counts that pool, not a fixed time.
            let deadline = ContinuousClock.now + .seconds(10)
            while ContinuousClock.now < deadline {
                let now = try await cluster.client { try await $0.getCapacity(.with { $0.parameters = parameters }) }
                if now.availableCapacity != capacity.availableCapacity { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            let refused = await rpcError { try await cluster.createVolume("pvc-readonly", parameters: parameters) }
            #expect(refused?.code == .resourceExhausted)
            #expect(refused?.message.contains("cspc-test-1 (DEGRADED, read-only)") == true)
        }
    }

    @Test("Attach and detach never write the CVC (they would pass cStor's admission webhook)")
    func attachLeavesTheCVCAlone() async throws {
        try await withCStorCluster { cluster in
            _ = try await cluster.createVolume("pvc-quiet", preferredNode: "node-1")
            let before = cluster.server.requests.count
            try await cluster.client { client in
                for node in ["node-2", "node-2"] {
                    _ = try await client.controllerPublishVolume(.with {
                        $0.volumeID = "pvc-quiet"
                        $0.nodeID = node
                        $0.volumeCapability = .mount()
                    })
                }
                _ = try await client.controllerUnpublishVolume(.with {
                    $0.volumeID = "pvc-quiet"
                    $0.nodeID = "node-2"
                })
            }
            let writes = cluster.server.requests.dropFirst(before).filter {
                ["create", "update", "patch", "delete"].contains($0.verb) && $0.path.contains("cstorvolumeconfigs")
            }
            #expect(writes.isEmpty, "\(writes.map { "\($0.verb) \($0.path)" })")
            #expect(cvc(cluster, "pvc-quiet")?.publish?.nodeId == "node-1", "the placement hint of create stays")
        }
    }
}
