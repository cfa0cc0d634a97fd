import CStorCore
import CStorKubernetes
import CStorModel
import FoundationEssentials
import Glibc
import Logging

/// Snapshots on the cstor engine. The volume's target (istgt, which cuts a ZFS snapshot on every
/// replica) is the source of truth: an id `<volume>@<name>` names a snapshot of that volume on its
/// target, whoever cut it. openebs/cstor-csi recorded nothing else, so its snapshots restore and
/// delete by their id alone. Ours are also recorded as an annotation of the volume's CVC
/// (`snapshot.cstor.csi.openebs.io/<name>`: the creation time, and the CSI name when the stored
/// name is its shortened form); that record is a cache for idempotent creates, GetSnapshot and
/// ListSnapshots, never a condition for restore or delete.
extension CStorEngine {
    /// A snapshot's stored name is a ZFS snapshot name on every replica and the name part of its
    /// annotation key, which the API limits to 63 characters with a letter or digit at both ends;
    /// other CSI names get their shortened form (docs/snapshot-ids.md).
    static let snapshotNames = SnapshotID.NameRule(maximumLength: 63) { annotationNameProblem($0) }

    static func annotationNameProblem(_ name: String) -> String? {
        let alphanumeric = { (scalar: Unicode.Scalar) in scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar)) }
        guard let first = name.unicodeScalars.first, let last = name.unicodeScalars.last, alphanumeric(first), alphanumeric(last) else {
            return "must start and end with a letter or a digit to be the name part of an annotation key"
        }
        return nil
    }

    /// The total size kube-apiserver allows for an object's annotations (keys and values).
    static let annotationBytesLimit = 256 * 1024

    func snapshotID(name: String, sourceVolumeID: String) throws -> SnapshotID {
        try SnapshotID.make(name: name, sourceVolumeID: sourceVolumeID, rule: Self.snapshotNames)
    }

    /// What the annotation of one of our snapshots holds: `<creation time>`, or
    /// `<creation time> <CSI name>` when the stored name is the CSI name's shortened form.
    struct SnapshotRecord: Equatable {
        var created: String
        var requestedName: String?

        init(created: String, requestedName: String?) {
            self.created = created
            self.requestedName = requestedName
        }

        init(annotation: String) {
            let parts = annotation.split(separator: " ", maxSplits: 1)
            created = parts.first.map(String.init) ?? ""
            requestedName = parts.count > 1 ? String(parts[1]) : nil
        }

        var annotation: String { requestedName.map { "\(created) \($0)" } ?? created }
    }

    func snapshotKey(_ name: String) -> String { Keys.snapshotAnnotationPrefix + name }

    func createSnapshot(_ id: SnapshotID, requestedName: String, parameters: [String: String]) async throws -> SnapshotInfo {
        if let problem = Self.snapshotNames.problem(id.name) ?? (id.name.utf8.count > Self.snapshotNames.maximumLength ? "is too long" : nil) {
            throw CSIError.internal("the stored snapshot name \(PathRules.quoted(id.name)) \(problem) (a bug in cstor-csi)")
        }
        let key = snapshotKey(id.name)
        if let owner = try await snapshotOwners(named: id.name).first(where: { $0.metadata.name != id.volumeID }) {
            throw CSIError.alreadyExists("snapshot \(requestedName) already exists for volume \(owner.metadata.name)")
        }
        guard let cvc = try await client.getIfPresent(CStorVolumeConfig.self, name: id.volumeID, namespace: namespace),
            !cvc.metadata.isBeingDeleted
        else {
            throw CSIError.notFound("source volume \(id.volumeID) does not exist")
        }
        let wanted = requestedName == id.name ? nil : requestedName
        if let recorded = cvc.metadata.annotations[key].map(SnapshotRecord.init(annotation:)) {
            guard recorded.requestedName == wanted else {
                throw CSIError.alreadyExists(
                    "snapshot \(id) was taken for the name \(recorded.requestedName ?? id.name), not \(requestedName)")
            }
            return try await info(id, created: recorded.created)
        }
        guard let cv = try await client.getIfPresent(CStorVolume.self, name: id.volumeID, namespace: namespace),
            cv.phase == .healthy || cv.phase == .degraded, let targetIP = cv.spec.targetIP
        else {
            throw CSIError.unavailable("the target of volume \(id.volumeID) is not Healthy or Degraded; no snapshot was attempted")
        }
        let record = SnapshotRecord(created: KubernetesTime.now.rawValue, requestedName: wanted)
        // Nothing is cut that cannot be recorded: the annotation must fit beside the others.
        let used = cvc.metadata.annotations.reduce(0) { $0 + $1.key.utf8.count + $1.value.utf8.count }
        let needed = key.utf8.count + record.annotation.utf8.count
        guard used + needed <= Self.annotationBytesLimit else {
            throw CSIError.resourceExhausted(
                "volume \(id.volumeID) cannot record another snapshot: its CStorVolumeConfig's annotations hold \(used) bytes and the Kubernetes API allows \(Self.annotationBytesLimit); delete snapshots of it first. No snapshot was cut")
        }
        try await target.createSnapshot(volume: id.volumeID, snapshot: id.name, targetIP: targetIP, timeout: settings.snapshotTimeout)
        let inputs = [APIRefusal.Input(name: "snapshot name", value: id.name, fields: ["metadata.annotations"])]
        _ = try await refusals.write("CStorVolumeConfig \(id.volumeID)", inputs: inputs) {
            try await client.updateWithRetry(CStorVolumeConfig.self, name: id.volumeID, namespace: namespace) { cvc in
                if cvc.metadata.annotations[key] == nil { cvc.metadata.annotations[key] = record.annotation }
            }
        }
        logger.info(
            "snapshot created",
            metadata: ["snapshot_id": .string(id.description), "name": .string(requestedName)])
        return try await info(id, created: record.created)
    }

    /// CVCs holding a snapshot of this stored name (there should be at most one).
    func snapshotOwners(named name: String) async throws -> [CStorVolumeConfig] {
        let all =
            volumeConfigs.isSynced
            ? volumeConfigs.cachedObjects() : try await client.listAll(CStorVolumeConfig.self, namespace: namespace).items
        return all.filter { $0.metadata.annotations[snapshotKey(name)] != nil }
    }

    func replicas(of volume: String) async throws -> [CStorVolumeReplica] {
        try await client.listAll(
            CStorVolumeReplica.self, namespace: namespace, labelSelector: "\(Keys.replicaVolumeLabel)=\(volume)"
        ).items
    }

    func info(_ id: SnapshotID, created: String, replicas known: [CStorVolumeReplica]? = nil) async throws -> SnapshotInfo {
        var replicas = known ?? []
        if known == nil { replicas = try await self.replicas(of: id.volumeID) }
        let size = replicas.compactMap { $0.status?.snapshots?[id.name]?.logicalReferenced }.max() ?? 0
        return SnapshotInfo(
            id: id, sizeBytes: size, creationTime: KubernetesTime(rawValue: created).date ?? Date(timeIntervalSince1970: 0),
            readyToUse: true)
    }

    /// The snapshot as far as the API can tell: ours from its record; one without a record (cut
    /// by openebs/cstor-csi) exists unless every replica of the volume lists its snapshots and
    /// none lists this one. Its creation time is unknown; the volume's is reported (a lower bound).
    /// nil when the volume is gone or the replicas show the snapshot is not there.
    func snapshot(_ id: SnapshotID) async throws -> SnapshotInfo? {
        guard let cvc = try await client.getIfPresent(CStorVolumeConfig.self, name: id.volumeID, namespace: namespace),
            !cvc.metadata.isBeingDeleted
        else { return nil }
        if let recorded = cvc.metadata.annotations[snapshotKey(id.name)] {
            return try await info(id, created: SnapshotRecord(annotation: recorded).created)
        }
        let replicas = try await replicas(of: id.volumeID)
        let lists = replicas.map { $0.status?.snapshots }
        if !lists.isEmpty, lists.allSatisfy({ $0 != nil }), !lists.contains(where: { $0?[id.name] != nil }) { return nil }
        return try await info(id, created: cvc.metadata.creationTimestamp?.rawValue ?? "", replicas: replicas)
    }

    /// A restore needs the snapshot: NotFound when its volume is gone or its replicas show it is
    /// not there (`snapshot(_:)`); the cvc-operator clones it on the source's pools.
    func requireSnapshot(_ id: SnapshotID) async throws {
        guard try await snapshot(id) != nil else {
            throw CSIError.notFound("source snapshot \(id) does not exist")
        }
    }

    /// Deletes on the target whenever the volume's CV exists (a snapshot the target does not hold
    /// is success there), then drops our record. Without a CV the volume is gone and its
    /// snapshots went with its replicas.
    func deleteSnapshot(_ id: SnapshotID) async throws {
        let key = snapshotKey(id.name)
        if let cv = try await client.getIfPresent(CStorVolume.self, name: id.volumeID, namespace: namespace) {
            guard cv.phase == .healthy || cv.phase == .degraded, let targetIP = cv.spec.targetIP else {
                throw CSIError.unavailable(
                    "the target of volume \(id.volumeID) is \(cv.phase?.rawValue ?? "in no phase"); retry once it is Healthy")
            }
            try await target.deleteSnapshot(volume: id.volumeID, snapshot: id.name, targetIP: targetIP, timeout: settings.snapshotTimeout)
        }
        if let cvc = try await client.getIfPresent(CStorVolumeConfig.self, name: id.volumeID, namespace: namespace),
            cvc.metadata.annotations[key] != nil
        {
            do {
                _ = try await refusals.write("CStorVolumeConfig \(id.volumeID)") {
                    try await client.updateWithRetry(CStorVolumeConfig.self, name: id.volumeID, namespace: namespace) {
                        $0.metadata.annotations.removeValue(forKey: key)
                    }
                }
            } catch let error as KubernetesError where error.kind == .notFound {}
        }
        logger.info("snapshot deleted", metadata: ["snapshot_id": .string(id.description)])
    }

    /// The snapshots recorded by this driver (those cut by openebs/cstor-csi are found by id only).
    func listSnapshots(sourceVolumeID: String?, maxEntries: Int, startingToken: String) async throws -> Page<SnapshotInfo> {
        let cvcs: [CStorVolumeConfig]
        if let sourceVolumeID {
            cvcs = try await client.getIfPresent(CStorVolumeConfig.self, name: sourceVolumeID, namespace: namespace).map { [$0] } ?? []
        } else {
            cvcs = try await client.listAll(CStorVolumeConfig.self, namespace: namespace).items
        }
        var all: [(SnapshotID, String)] = []
        for cvc in cvcs where !cvc.metadata.isBeingDeleted {
            for (key, value) in cvc.metadata.annotations where key.hasPrefix(Keys.snapshotAnnotationPrefix) {
                let id = SnapshotID(volumeID: cvc.metadata.name, name: String(key.dropFirst(Keys.snapshotAnnotationPrefix.count)))
                all.append((id, SnapshotRecord(annotation: value).created))
            }
        }
        all.sort { $0.0.description < $1.0.description }
        var start = 0
        if !startingToken.isEmpty {
            let from = try Self.decodeToken(startingToken, kind: "snapshots")
            start = all.firstIndex { $0.0.description >= from } ?? all.count
        }
        let end = maxEntries > 0 ? min(all.count, start + maxEntries) : all.count
        var items: [SnapshotInfo] = []
        for (id, created) in all[start..<end] { items.append(try await info(id, created: created)) }
        let next = end < all.count ? Self.encodeToken(all[end].0.description, kind: "snapshots") : ""
        return Page(items: items, nextToken: next)
    }
}
