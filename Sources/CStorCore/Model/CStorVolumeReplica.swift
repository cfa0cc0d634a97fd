import CStorCore
import CStorKubernetes
import FoundationEssentials

/// CStorVolumeReplica (CVR, `cstor.openebs.io/v1`): one replica of a volume on a pool instance, with the
/// snapshots it holds (`status.snapshots`).
public typealias CStorVolumeReplica = CustomResource<CStorVolumeReplicaKind>

/// The types of `CStorVolumeReplica`: its spec, status and the parts they are made of.
public enum CStorVolumeReplicaKind: CustomResourceKind {
    public static let resource = KubernetesResource.cstorVolumeReplicas
    public typealias Extras = VersionedExtras
}

extension CStorVolumeReplicaKind {
    /// `spec` of a replica.
    public struct Spec: Codable, Hashable, Sendable {
        public var blockSize: Int32?
        public var capacity: String?
        public var compression: String?
        public var replicaid: String?
        public var targetIP: String?
        public var zvolWorkers: String?
        /// Members this type has no property for, written back unchanged.
        public var unknownFields = UnknownFields()

        public init(
            blockSize: Int32? = nil,
            capacity: String? = nil,
            compression: String? = nil,
            replicaid: String? = nil,
            targetIP: String? = nil,
            zvolWorkers: String? = nil
        ) {
            self.blockSize = blockSize
            self.capacity = capacity
            self.compression = compression
            self.replicaid = replicaid
            self.targetIP = targetIP
            self.zvolWorkers = zvolWorkers
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case blockSize
            case capacity
            case compression
            case replicaid
            case targetIP
            case zvolWorkers
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            blockSize = try container.decodeIfPresent(Int32.self, forKey: .blockSize)
            capacity = try container.decodeIfPresent(String.self, forKey: .capacity)
            compression = try container.decodeIfPresent(String.self, forKey: .compression)
            replicaid = try container.decodeIfPresent(String.self, forKey: .replicaid)
            targetIP = try container.decodeIfPresent(String.self, forKey: .targetIP)
            zvolWorkers = try container.decodeIfPresent(String.self, forKey: .zvolWorkers)
            unknownFields = try UnknownFields(from: decoder, known: CodingKeys.self)
        }

        public func encode(to encoder: any Encoder) throws {
            try unknownFields.encode(to: encoder, known: CodingKeys.self)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encodeIfPresent(blockSize, forKey: .blockSize)
            try container.encodeIfPresent(capacity, forKey: .capacity)
            try container.encodeIfPresent(compression, forKey: .compression)
            try container.encodeIfPresent(replicaid, forKey: .replicaid)
            try container.encodeIfPresent(targetIP, forKey: .targetIP)
            try container.encodeIfPresent(zvolWorkers, forKey: .zvolWorkers)
        }
    }

    /// `status` of a replica.
    public struct Status: Codable, Hashable, Sendable {
        public var capacity: Capacity?
        public var lastTransitionTime: KubernetesTime?
        public var lastUpdateTime: KubernetesTime?
        public var message: String?
        public var pendingSnapshots: [String: SnapshotInfo]?
        public var phase: String?
        public var snapshots: [String: SnapshotInfo]?
        /// Members this type has no property for, written back unchanged.
        public var unknownFields = UnknownFields()

        public init(
            capacity: Capacity? = nil,
            lastTransitionTime: KubernetesTime? = nil,
            lastUpdateTime: KubernetesTime? = nil,
            message: String? = nil,
            pendingSnapshots: [String: SnapshotInfo]? = nil,
            phase: String? = nil,
            snapshots: [String: SnapshotInfo]? = nil
        ) {
            self.capacity = capacity
            self.lastTransitionTime = lastTransitionTime
            self.lastUpdateTime = lastUpdateTime
            self.message = message
            self.pendingSnapshots = pendingSnapshots
            self.phase = phase
            self.snapshots = snapshots
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case capacity
            case lastTransitionTime
            case lastUpdateTime
            case message
            case pendingSnapshots
            case phase
            case snapshots
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            capacity = try container.decodeIfPresent(Capacity.self, forKey: .capacity)
            lastTransitionTime = try container.decodeIfPresent(KubernetesTime.self, forKey: .lastTransitionTime)
            lastUpdateTime = try container.decodeIfPresent(KubernetesTime.self, forKey: .lastUpdateTime)
            message = try container.decodeIfPresent(String.self, forKey: .message)
            pendingSnapshots = try container.decodeIfPresent([String: SnapshotInfo].self, forKey: .pendingSnapshots)
            phase = try container.decodeIfPresent(String.self, forKey: .phase)
            snapshots = try container.decodeIfPresent([String: SnapshotInfo].self, forKey: .snapshots)
            unknownFields = try UnknownFields(from: decoder, known: CodingKeys.self)
        }

        public func encode(to encoder: any Encoder) throws {
            try unknownFields.encode(to: encoder, known: CodingKeys.self)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encodeIfPresent(capacity, forKey: .capacity)
            try container.encodeIfPresent(lastTransitionTime, forKey: .lastTransitionTime)
            try container.encodeIfPresent(lastUpdateTime, forKey: .lastUpdateTime)
            try container.encodeIfPresent(message, forKey: .message)
            try container.encodeIfPresent(pendingSnapshots, forKey: .pendingSnapshots)
            try container.encodeIfPresent(phase, forKey: .phase)
            try container.encodeIfPresent(snapshots, forKey: .snapshots)
        }
    }

    /// Space the replica uses.
    public struct Capacity: Codable, Hashable, Sendable {
        public var total: String?
        public var used: String?
        /// Members this type has no property for, written back unchanged.
        public var unknownFields = UnknownFields()

        public init(
            total: String? = nil,
            used: String? = nil
        ) {
            self.total = total
            self.used = used
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case total
            case used
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            total = try container.decodeIfPresent(String.self, forKey: .total)
            used = try container.decodeIfPresent(String.self, forKey: .used)
            unknownFields = try UnknownFields(from: decoder, known: CodingKeys.self)
        }

        public func encode(to encoder: any Encoder) throws {
            try unknownFields.encode(to: encoder, known: CodingKeys.self)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encodeIfPresent(total, forKey: .total)
            try container.encodeIfPresent(used, forKey: .used)
        }
    }

    /// A snapshot of the replica.
    public struct SnapshotInfo: Codable, Hashable, Sendable {
        /// Bytes the snapshot refers to: its size for CSI.
        public var logicalReferenced: Int64?
        /// Members this type has no property for, written back unchanged.
        public var unknownFields = UnknownFields()

        public init(
            logicalReferenced: Int64? = nil
        ) {
            self.logicalReferenced = logicalReferenced
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case logicalReferenced
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            logicalReferenced = try container.decodeIfPresent(Int64.self, forKey: .logicalReferenced)
            unknownFields = try UnknownFields(from: decoder, known: CodingKeys.self)
        }

        public func encode(to encoder: any Encoder) throws {
            try unknownFields.encode(to: encoder, known: CodingKeys.self)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encodeIfPresent(logicalReferenced, forKey: .logicalReferenced)
        }
    }
}
