import CSITestSupport
import CStorCore
import CStorKubernetes
import CStorModel
import Foundation
import GRPCCore
import Testing

/// CStorVolumeAttachments left by openebs/cstor-csi (finalizer = the bare node name, owner
/// reference to the Node): adopted on publish, never taken as an attachment while they are being
/// deleted, and never blocking attach elsewhere or DeleteVolume once their node is gone or out of
/// service, by the rules of Kubernetes' force detach.
@Suite("Attachments left by openebs/cstor-csi, and nodes that are gone", .serialized)
struct AttachmentTakeoverTests {
    func publish(_ cluster: CStorCluster, _ id: String, node: String) async throws {
        _ = try await cluster.client {
            try await $0.controllerPublishVolume(.with {
                $0.volumeID = id
                $0.nodeID = node
                $0.volumeCapability = .mount()
            })
        }
    }

    func unpublish(_ cluster: CStorCluster, _ id: String, node: String) async throws {
        _ = try await cluster.client {
            try await $0.controllerUnpublishVolume(.with {
                $0.volumeID = id
                $0.nodeID = node
            })
        }
    }

    func deleteVolume(_ cluster: CStorCluster, _ id: String) async throws {
        _ = try await cluster.client { try await $0.deleteVolume(.with { $0.volumeID = id }) }
    }

    func attachment(_ cluster: CStorCluster, _ name: String) -> CStorVolumeAttachment? {
        cluster.server.store.object(CStorVolumeAttachment.self, namespace: cluster.namespace, name: name)
    }

    /// A CVA as openebs/cstor-csi's NodeStageVolume wrote it.
    @discardableResult
    static func upstreamAttachment(_ cluster: CStorCluster, volume: String, node: String) throws -> CStorVolumeAttachment {
        let owner = cluster.server.store.object(Node.self, namespace: nil, name: node)
        return try cluster.server.store.create(
            CStorVolumeAttachment(
                metadata: ObjectMeta(
                    name: "\(volume)-\(node)", namespace: cluster.namespace, labels: ["Volname": volume, "nodeID": node],
                    ownerReferences: [OwnerReference(apiVersion: "v1", kind: "Node", name: node, uid: owner?.metadata.uid ?? UUID().uuidString.lowercased())],
                    finalizers: [node]),
                spec: CStorVolumeAttachment.Spec(
                    iscsi: .init(iqn: "iqn.2016-09.com.openebs.cstor:\(volume)", iscsiInterface: "default", lun: "0", targetPortal: "127.0.0.1:3260"),
                    volume: .init(
                        accessType: "mount",
                        devicePath: "/dev/disk/by-path/ip-127.0.0.1:3260-iscsi-iqn.2016-09.com.openebs.cstor:\(volume)-lun-0",
                        fsType: "ext4", name: volume, ownerNodeID: node,
                        stagingTargetPath: "/var/lib/kubelet/plugins/kubernetes.io/csi/cstor.csi.openebs.io/0a1b/globalmount",
                        targetPath: "/var/lib/kubelet/pods/0b5c3f4e/volumes/kubernetes.io~csi/\(volume)/mount"))))
    }

    /// A node as the node lifecycle controller leaves it: Ready, or NotReady (Unknown), with the
    /// taints given.
    static func makeNode(_ cluster: CStorCluster, _ name: String, ready: Bool, taints: [String]) throws {
        _ = try cluster.server.store.create(Node(metadata: ObjectMeta(name: name)))
        cluster.server.store.modify(Node.self, namespace: nil, name: name) { node in
            node.spec = ["taints": .array(taints.map { ["key": .string($0), "effect": "NoExecute"] })]
            node.status = ["conditions": [["type": "Ready", "status": ready ? "True" : "Unknown", "reason": ready ? "KubeletReady" : "NodeStatusUnknown"]]]
        }
    }

    @Test("Publishing to the node of an upstream CVA replaces its bare-node finalizer with ours; unpublish then removes it for good")
    func adoption() async throws {
        try await withCStorCluster { cluster in
            _ = try await cluster.createVolume("pvc-adopt")
            try Self.upstreamAttachment(cluster, volume: "pvc-adopt", node: "node-1")
            try await publish(cluster, "pvc-adopt", node: "node-1")
            #expect(attachment(cluster, "pvc-adopt-node-1")?.metadata.finalizers == ["cstor.csi.openebs.io/attachment"])
            try await unpublish(cluster, "pvc-adopt", node: "node-1")
            #expect(attachment(cluster, "pvc-adopt-node-1") == nil, "gone, not Terminating")
        }
    }

    @Test("Unpublishing an upstream CVA never published through us removes it for good")
    func unpublishWithoutAdoption() async throws {
        try await withCStorCluster { cluster in
            _ = try await cluster.createVolume("pvc-direct")
            try Self.upstreamAttachment(cluster, volume: "pvc-direct", node: "node-2")
            try await unpublish(cluster, "pvc-direct", node: "node-2")
            #expect(attachment(cluster, "pvc-direct-node-2") == nil)
        }
    }

    @Test("A terminating CVA is never success: its removal is finished and a live CVA is written; a foreign finalizer is Unavailable")
    func terminatingIsNotAttached() async throws {
        try await withCStorCluster { cluster in
            _ = try await cluster.createVolume("pvc-term")
            try Self.upstreamAttachment(cluster, volume: "pvc-term", node: "node-1")
            cluster.server.store.remove(.cstorVolumeAttachments, namespace: cluster.namespace, name: "pvc-term-node-1")
            #expect(attachment(cluster, "pvc-term-node-1")?.metadata.isBeingDeleted == true)
            try await publish(cluster, "pvc-term", node: "node-1")
            let live = try #require(attachment(cluster, "pvc-term-node-1"))
            #expect(!live.metadata.isBeingDeleted)
            #expect(live.metadata.finalizers == ["cstor.csi.openebs.io/attachment"])

            _ = try await cluster.createVolume("pvc-held")
            _ = try cluster.server.store.create(
                CStorVolumeAttachment(
                    metadata: ObjectMeta(
                        name: "pvc-held-node-1", namespace: cluster.namespace, labels: ["Volname": "pvc-held", "nodeID": "node-1"],
                        finalizers: ["example.com/backup-in-progress"]),
                    spec: .init(iscsi: .init(iqn: "iqn.2016-09.com.openebs.cstor:pvc-held", lun: "0", targetPortal: "127.0.0.1:3260"), volume: .init(name: "pvc-held", ownerNodeID: "node-1"))))
            cluster.server.store.remove(.cstorVolumeAttachments, namespace: cluster.namespace, name: "pvc-held-node-1")
            let held = await rpcError { try await publish(cluster, "pvc-held", node: "node-1") }
            #expect(held?.code == .unavailable)
            #expect(held?.message.contains("example.com/backup-in-progress") == true)
        }
    }

    @Test("A CVA of a node that is NotReady and out of service does not block attach to another node")
    func outOfServiceNode() async throws {
        try await withCStorCluster { cluster in
            try Self.makeNode(cluster, "node-dead", ready: false, taints: ["node.kubernetes.io/out-of-service", "node.kubernetes.io/unreachable"])
            _ = try await cluster.createVolume("pvc-move")
            try Self.upstreamAttachment(cluster, volume: "pvc-move", node: "node-dead")
            try await publish(cluster, "pvc-move", node: "node-2")
            #expect(attachment(cluster, "pvc-move-node-dead") == nil)
            #expect(attachment(cluster, "pvc-move-node-2")?.metadata.finalizers == ["cstor.csi.openebs.io/attachment"])
            let logged = cluster.controller?.logText() ?? ""
            #expect(logged.contains("out-of-service"))
        }
    }

    @Test("A node that is only NotReady, or out of service but Ready, still holds its attachment (Kubernetes' rules)")
    func notReadyAloneBlocks() async throws {
        try await withCStorCluster { cluster in
            try Self.makeNode(cluster, "node-slow", ready: false, taints: ["node.kubernetes.io/unreachable"])
            try Self.makeNode(cluster, "node-back", ready: true, taints: ["node.kubernetes.io/out-of-service"])
            for node in ["node-slow", "node-back"] {
                _ = try await cluster.createVolume("pvc-\(node)")
                try Self.upstreamAttachment(cluster, volume: "pvc-\(node)", node: node)
                let refused = await rpcError { try await publish(cluster, "pvc-\(node)", node: "node-2") }
                #expect(refused?.code == .failedPrecondition)
                #expect(refused?.message.contains(node) == true)
                #expect(await rpcCode { try await deleteVolume(cluster, "pvc-\(node)") } == .failedPrecondition)
            }
        }
    }

    @Test("DeleteVolume removes the CVA of a deleted node, terminating or not, and nothing stays Terminating")
    func deletedNode() async throws {
        try await withCStorCluster { cluster in
            try Self.makeNode(cluster, "node-gone", ready: true, taints: [])
            _ = try await cluster.createVolume("pvc-orphan")
            try Self.upstreamAttachment(cluster, volume: "pvc-orphan", node: "node-gone")
            // Deleting the Node lets the garbage collector delete the CVA it owns: Terminating,
            // held by the bare node name nobody will remove.
            cluster.server.store.remove(.nodes, namespace: nil, name: "node-gone")
            #expect(attachment(cluster, "pvc-orphan-node-gone")?.metadata.isBeingDeleted == true)
            _ = try await cluster.createVolume("pvc-orphan2")
            _ = try cluster.server.store.create(
                CStorVolumeAttachment(
                    metadata: ObjectMeta(
                        name: "pvc-orphan2-node-vanished", namespace: cluster.namespace,
                        labels: ["Volname": "pvc-orphan2", "nodeID": "node-vanished"], finalizers: ["node-vanished"]),
                    spec: .init(
                        iscsi: .init(iqn: "iqn.2016-09.com.openebs.cstor:pvc-orphan2", lun: "0", targetPortal: "127.0.0.1:3260"),
                        volume: .init(name: "pvc-orphan2", ownerNodeID: "node-vanished"))))

            for volume in ["pvc-orphan", "pvc-orphan2"] {
                try await deleteVolume(cluster, volume)
            }
            #expect(cluster.server.store.objects(.cstorVolumeAttachments, namespace: cluster.namespace).isEmpty)
            let deadline = ContinuousClock.now + .seconds(3)
            while ContinuousClock.now < deadline, !cluster.server.store.objects(.cstorVolumeConfigs, namespace: cluster.namespace).isEmpty {
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(cluster.server.store.objects(.cstorVolumeConfigs, namespace: cluster.namespace).isEmpty, "the operator honoured the deletes")
        }
    }
}
