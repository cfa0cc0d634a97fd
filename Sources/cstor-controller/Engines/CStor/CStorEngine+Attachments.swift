import CStorCore
import CStorKubernetes
import CStorModel
import FoundationEssentials
import Glibc
import Logging

/// Attachments on the cstor engine: one CStorVolumeAttachment (CVA) `<pv>-<node>` per attached
/// node, written by ControllerPublishVolume with this driver's finalizer and removed by
/// ControllerUnpublishVolume. Attach and detach never write the CVC (it passes cStor's admission
/// webhook, which should not stand between a pod and its volume).
///
/// CVAs left by openebs/cstor-csi carry the bare node name as their finalizer and an owner
/// reference to the Node; their node plugin, which removed that finalizer, is gone after the
/// switch. So:
/// - publishing to the node of such a CVA adopts it: upstream's finalizer is replaced by ours;
/// - a CVA being deleted is never taken as an attachment: its removal is finished (the
///   finalizers this driver may remove are its own and upstream's bare node name) and a new CVA
///   is written; one held by any other finalizer makes the call Unavailable until it goes;
/// - a CVA of a node that Kubernetes itself would force-detach from (`staleness(of:)`) does not
///   block an attach elsewhere or DeleteVolume: it is removed, as the attach/detach controller
///   would have detached it had it known of it.
extension CStorEngine {
    /// Every CVA of a volume, those being deleted included.
    func attachments(of volume: String) async throws -> [CStorVolumeAttachment] {
        try await client.listAll(
            CStorVolumeAttachment.self, namespace: namespace, labelSelector: "\(Keys.attachmentVolumeLabel)=\(volume)"
        ).items
    }

    /// The node a CVA attaches its volume to.
    static func node(of attachment: CStorVolumeAttachment) -> String? {
        attachment.metadata.labels[Keys.attachmentNodeLabel] ?? attachment.spec.volume?.ownerNodeID
    }

    /// The finalizers this driver removes from a CVA: its own, and the bare node name that
    /// openebs/cstor-csi's node plugin put there (nothing else would ever remove it).
    static func removableFinalizers(of attachment: CStorVolumeAttachment) -> Set<String> {
        var names: Set<String> = [Keys.attachmentFinalizer]
        if let node = node(of: attachment) { names.insert(node) }
        return names
    }

    /// Why an attachment to `node` no longer holds, by the rules of Kubernetes' attach/detach
    /// controller, or nil while the node may still use it:
    /// - the Node object is gone (the controller detaches every volume of a deleted node);
    /// - the node is not Ready and carries the `node.kubernetes.io/out-of-service` taint (the
    ///   non-graceful node shutdown: the controller detaches at once, without waiting for the
    ///   unmount).
    /// A node that is only NotReady is not enough: Kubernetes waits for the pod's deletion and
    /// then six minutes (maxWaitForUnmountDuration) before it force-detaches, and does so through
    /// ControllerUnpublishVolume for the attachments it knows of.
    func staleness(of node: String) async throws -> String? {
        guard let object = try await client.getIfPresent(Node.self, name: node, namespace: nil) else {
            return "node \(node) no longer exists"
        }
        let taints = object.spec?["taints"]?.arrayValue ?? []
        let outOfService = taints.contains { $0["key"]?.stringValue == Keys.outOfServiceTaint }
        let ready = (object.status?["conditions"]?.arrayValue ?? []).first { $0["type"]?.stringValue == "Ready" }?["status"]?.stringValue
        guard outOfService, ready != "True" else { return nil }
        return "node \(node) is NotReady (Ready: \(ready ?? "no condition")) and tainted \(Keys.outOfServiceTaint)"
    }

    /// Finishes a CVA's removal: drops the finalizers this driver may remove, then deletes it.
    /// Returns the finalizers of others that still hold it (empty once it is gone).
    @discardableResult
    func remove(_ attachment: CStorVolumeAttachment) async throws -> [String] {
        let name = attachment.metadata.name
        let removable = Self.removableFinalizers(of: attachment)
        var remaining = attachment.metadata.finalizers
        if remaining.contains(where: removable.contains) {
            do {
                let updated = try await refusals.write("CStorVolumeAttachment \(name)") {
                    try await client.updateWithRetry(CStorVolumeAttachment.self, name: name, namespace: namespace) {
                        $0.metadata.finalizers.removeAll { removable.contains($0) }
                    }
                }
                remaining = updated.metadata.finalizers
            } catch let error as KubernetesError where error.kind == .notFound {
                return []
            }
        }
        if !attachment.metadata.isBeingDeleted {
            let result = try await client.deleteIfPresent(CStorVolumeAttachment.self, name: name, namespace: namespace)
            if result.isGone { return [] }
        }
        return remaining.filter { !removable.contains($0) }
    }

    func publishVolume(_ id: String, node: String, access: VolumeAccess, readOnly: Bool) async throws -> [String: String] {
        guard let cvc = try await client.getIfPresent(CStorVolumeConfig.self, name: id, namespace: namespace) else {
            throw CSIError.notFound("volume \(id) does not exist")
        }
        guard try await client.getIfPresent(Node.self, name: node, namespace: nil) != nil else {
            throw CSIError.notFound("node \(node) does not exist")
        }
        let cv = try await client.getIfPresent(CStorVolume.self, name: id, namespace: namespace)
        guard let cv, cv.phase == .healthy || cv.phase == .degraded else {
            throw CSIError.unavailable(
                "the target of volume \(id) is \(cv?.phase?.rawValue ?? "not created yet") (CStorVolumeConfig \(cvc.phase?.rawValue ?? "unknown")); it must be Healthy or Degraded to attach")
        }
        guard let iqn = cv.spec.iqn, let portal = cv.spec.targetPortal else {
            throw CSIError.unavailable("CStorVolume \(id) has no iqn or targetPortal yet")
        }
        let context = ["transport": "iscsi", "iqn": iqn, "portal": portal, "lun": "0"]

        var mine: CStorVolumeAttachment?
        for attachment in try await attachments(of: id) {
            let owner = Self.node(of: attachment)
            if owner == node {
                mine = attachment
                continue
            }
            if let reason = try await staleness(of: owner ?? "") {
                try await release(attachment, volume: id, because: reason)
                continue
            }
            throw CSIError.failedPrecondition(
                "volume \(id) is attached to node \(owner ?? "?")\(attachment.metadata.isBeingDeleted ? " (being detached)" : ""); a cStor volume is attached to one node at a time")
        }
        if let existing = mine, existing.metadata.isBeingDeleted {
            try await release(existing, volume: id, because: "it is being deleted")
            mine = nil
        }
        if let mine {
            if (mine.spec.volume?.readOnly ?? false) != readOnly {
                throw CSIError.alreadyExists("volume \(id) is already attached to \(node) \((mine.spec.volume?.readOnly ?? false) ? "read-only" : "read-write")")
            }
            try await adopt(mine)
            return context
        }
        try await createAttachment(id, node: node, volume: cv, access: access, readOnly: readOnly)
        return context
    }

    /// A CVA of openebs/cstor-csi (its finalizer is the bare node name) becomes ours.
    func adopt(_ attachment: CStorVolumeAttachment) async throws {
        let upstream = Self.node(of: attachment).map { [$0] } ?? []
        guard !attachment.metadata.finalizers.contains(Keys.attachmentFinalizer) || attachment.metadata.finalizers.contains(where: upstream.contains)
        else { return }
        _ = try await refusals.write("CStorVolumeAttachment \(attachment.metadata.name)") {
            try await client.updateWithRetry(CStorVolumeAttachment.self, name: attachment.metadata.name, namespace: namespace) {
                $0.metadata.finalizers.removeAll { upstream.contains($0) }
                if !$0.metadata.finalizers.contains(Keys.attachmentFinalizer) { $0.metadata.finalizers.append(Keys.attachmentFinalizer) }
            }
        }
        logger.notice(
            "adopted a CStorVolumeAttachment of openebs/cstor-csi",
            metadata: ["attachment": .string(attachment.metadata.name), "replaced_finalizers": .array(upstream.map { .string($0) })])
    }

    func createAttachment(_ id: String, node: String, volume cv: CStorVolume, access: VolumeAccess, readOnly: Bool) async throws {
        let attachment = CStorVolumeAttachment(
            metadata: ObjectMeta(
                name: "\(id)-\(node)", namespace: namespace,
                labels: [Keys.attachmentVolumeLabel: id, Keys.attachmentNodeLabel: node],
                finalizers: [Keys.attachmentFinalizer]),
            spec: CStorVolumeAttachment.Spec(
                iscsi: CStorVolumeAttachmentKind.ISCSI(iqn: cv.spec.iqn, lun: "0", targetPortal: cv.spec.targetPortal),
                volume: CStorVolumeAttachmentKind.Volume(
                    accessModes: [access.mode.rawValue], accessType: access.isBlock ? "block" : "mount",
                    capacity: cv.spec.capacity?.description, fsType: access.fsType, mountOptions: access.mountFlags,
                    name: id, ownerNodeID: node, readOnly: readOnly)))
        let inputs = [APIRefusal.Input(name: "node id", value: node, fields: ["metadata.name", "metadata.labels"])]
        do {
            _ = try await refusals.write("CStorVolumeAttachment \(attachment.metadata.name)", inputs: inputs) {
                try await client.create(attachment)
            }
        } catch let error as KubernetesError where error.kind == .alreadyExists {
            // Created by an earlier attempt whose answer was lost, or an object still being
            // deleted that the list did not show yet: only a live one is an attachment.
            let existing = try await client.getIfPresent(CStorVolumeAttachment.self, name: attachment.metadata.name, namespace: namespace)
            if let existing, existing.metadata.isBeingDeleted {
                try await release(existing, volume: id, because: "it is being deleted")
                throw CSIError.aborted("CStorVolumeAttachment \(attachment.metadata.name) was being deleted; its removal is finished, retry")
            }
            if let existing { try await adopt(existing) }
        }
        logger.info("attached", metadata: ["volume_id": .string(id), "node_id": .string(node)])
    }

    /// Removes a CVA that no longer counts (it is being deleted, or its node is gone or out of
    /// service): Unavailable while finalizers of others hold it.
    func release(_ attachment: CStorVolumeAttachment, volume: String, because reason: String) async throws {
        let holders = try await remove(attachment)
        guard holders.isEmpty else {
            throw CSIError.unavailable(
                "CStorVolumeAttachment \(attachment.metadata.name) of volume \(volume) is held by finalizers \(holders.joined(separator: ", ")) (\(reason)); retry once it is gone")
        }
        logger.warning(
            "removed a CStorVolumeAttachment that no longer counts",
            metadata: ["volume_id": .string(volume), "attachment": .string(attachment.metadata.name), "reason": .string(reason)])
    }

    func unpublishVolume(_ id: String, node: String?) async throws {
        for attachment in try await attachments(of: id) {
            let owner = Self.node(of: attachment)
            if let node, owner != node { continue }
            let holders = try await remove(attachment)
            logger.info(
                "detached",
                metadata: [
                    "volume_id": .string(id), "node_id": .string(owner ?? ""),
                    "held_by": .array(holders.map { .string($0) }),
                ])
        }
    }

    /// Before DeleteVolume: attachments of nodes that are gone or out of service, and those
    /// being deleted, are removed; any other is FailedPrecondition (Kubernetes deletes a volume
    /// only after it detached it).
    func releaseAttachments(beforeDeleting id: String) async throws {
        for attachment in try await attachments(of: id) {
            let owner = Self.node(of: attachment) ?? ""
            if let reason = try await staleness(of: owner) {
                try await release(attachment, volume: id, because: reason)
            } else if attachment.metadata.isBeingDeleted {
                try await release(attachment, volume: id, because: "it is being deleted")
            } else {
                throw CSIError.failedPrecondition(
                    "volume \(id) is still attached to node \(owner) (CStorVolumeAttachment \(attachment.metadata.name))")
            }
        }
    }
}
