import CStorCore
import CStorKubernetes
import FoundationEssentials

/// CStorVolume (CV, `cstor.openebs.io/v1`): the volume the cvc-operator creates for a bound CVC, with the
/// iSCSI target (`spec.iqn`, `spec.targetPortal`, `spec.targetIP`) and its health (`status.phase`).
public typealias CStorVolume = CustomResource<CStorVolumeKind>

/// The types of `CStorVolume`: its spec, status and the parts they are made of.
public enum CStorVolumeKind: CustomResourceKind {
    public static let resource = KubernetesResource.cstorVolumes
    public typealias Extras = VersionedExtras
    public typealias Phase = CStorVolumePhase
}

extension CustomResource where Kind == CStorVolumeKind {
    /// `status.phase`, or nil when there is no status yet.
    public var phase: CStorVolumePhase? {
        status?.phase
    }
}

extension CStorVolumeKind {
    /// `spec`: the target and the replication settings.
    public struct Spec: Codable, Hashable, Sendable {
        public var capacity: Quantity?
        public var consistencyFactor: Int?
        public var desiredReplicationFactor: Int?
        /// `iqn.2016-09.com.openebs.cstor:<pv>`.
        public var iqn: String?
        public var replicaDetails: ReplicaDetails?
        public var replicationFactor: Int?
        public var targetIP: String?
        /// A string in the CRD, usually "3260".
        public var targetPort: String?
        /// `<ClusterIP>:3260`.
        public var targetPortal: String?
        /// Members this type has no property for, written back unchanged.
        public var unknownFields = UnknownFields()

        public init(
            capacity: Quantity? = nil,
            consistencyFactor: Int? = nil,
            desiredReplicationFactor: Int? = nil,
            iqn: String? = nil,
            replicaDetails: ReplicaDetails? = nil,
            replicationFactor: Int? = nil,
            targetIP: String? = nil,
            targetPort: String? = nil,
            targetPortal: String? = nil
        ) {
            self.capacity = capacity
            self.consistencyFactor = consistencyFactor
            self.desiredReplicationFactor = desiredReplicationFactor
            self.iqn = iqn
            self.replicaDetails = replicaDetails
            self.replicationFactor = replicationFactor
            self.targetIP = targetIP
            self.targetPort = targetPort
            self.targetPortal = targetPortal
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case capacity
            case consistencyFactor
            case desiredReplicationFactor
            case iqn
            case replicaDetails
            case replicationFactor
            case targetIP
            case targetPort
            case targetPortal
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            capacity = try container.decodeIfPresent(Quantity.self, forKey: .capacity)
            consistencyFactor = try container.decodeIfPresent(Int.self, forKey: .consistencyFactor)
            desiredReplicationFactor = try container.decodeIfPresent(Int.self, forKey: .desiredReplicationFactor)
            iqn = try container.decodeIfPresent(String.self, forKey: .iqn)
            replicaDetails = try container.decodeIfPresent(ReplicaDetails.self, forKey: .replicaDetails)
            replicationFactor = try container.decodeIfPresent(Int.self, forKey: .replicationFactor)
            targetIP = try container.decodeIfPresent(String.self, forKey: .targetIP)
            targetPort = try container.decodeIfPresent(String.self, forKey: .targetPort)
            targetPortal = try container.decodeIfPresent(String.self, forKey: .targetPortal)
            unknownFields = try UnknownFields(from: decoder, known: CodingKeys.self)
        }

        public func encode(to encoder: any Encoder) throws {
            try unknownFields.encode(to: encoder, known: CodingKeys.self)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encodeIfPresent(capacity, forKey: .capacity)
            try container.encodeIfPresent(consistencyFactor, forKey: .consistencyFactor)
            try container.encodeIfPresent(desiredReplicationFactor, forKey: .desiredReplicationFactor)
            try container.encodeIfPresent(iqn, forKey: .iqn)
            try container.encodeIfPresent(replicaDetails, forKey: .replicaDetails)
            try container.encodeIfPresent(replicationFactor, forKey: .replicationFactor)
            try container.encodeIfPresent(targetIP, forKey: .targetIP)
            try container.encodeIfPresent(targetPort, forKey: .targetPort)
            try container.encodeIfPresent(targetPortal, forKey: .targetPortal)
        }
    }

    /// The replicas the target knows, by replica id.
    public struct ReplicaDetails: Codable, Hashable, Sendable {
        public var knownReplicas: [String: String]?
        /// Members this type has no property for, written back unchanged.
        public var unknownFields = UnknownFields()

        public init(
            knownReplicas: [String: String]? = nil
        ) {
            self.knownReplicas = knownReplicas
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case knownReplicas
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            knownReplicas = try container.decodeIfPresent([String: String].self, forKey: .knownReplicas)
            unknownFields = try UnknownFields(from: decoder, known: CodingKeys.self)
        }

        public func encode(to encoder: any Encoder) throws {
            try unknownFields.encode(to: encoder, known: CodingKeys.self)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encodeIfPresent(knownReplicas, forKey: .knownReplicas)
        }
    }

    /// `status`, written by the target.
    public struct Status: Codable, Hashable, Sendable {
        public var capacity: Quantity?
        public var conditions: [Condition]?
        public var lastTransitionTime: KubernetesTime?
        public var lastUpdateTime: KubernetesTime?
        public var message: String?
        public var phase: Phase?
        public var replicaDetails: ReplicaDetails?
        public var replicaStatuses: [ReplicaStatus]?
        /// Members this type has no property for, written back unchanged.
        public var unknownFields = UnknownFields()

        public init(
            capacity: Quantity? = nil,
            conditions: [Condition]? = nil,
            lastTransitionTime: KubernetesTime? = nil,
            lastUpdateTime: KubernetesTime? = nil,
            message: String? = nil,
            phase: Phase? = nil,
            replicaDetails: ReplicaDetails? = nil,
            replicaStatuses: [ReplicaStatus]? = nil
        ) {
            self.capacity = capacity
            self.conditions = conditions
            self.lastTransitionTime = lastTransitionTime
            self.lastUpdateTime = lastUpdateTime
            self.message = message
            self.phase = phase
            self.replicaDetails = replicaDetails
            self.replicaStatuses = replicaStatuses
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case capacity
            case conditions
            case lastTransitionTime
            case lastUpdateTime
            case message
            case phase
            case replicaDetails
            case replicaStatuses
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            capacity = try container.decodeIfPresent(Quantity.self, forKey: .capacity)
            conditions = try container.decodeIfPresent([Condition].self, forKey: .conditions)
            lastTransitionTime = try container.decodeIfPresent(KubernetesTime.self, forKey: .lastTransitionTime)
            lastUpdateTime = try container.decodeIfPresent(KubernetesTime.self, forKey: .lastUpdateTime)
            message = try container.decodeIfPresent(String.self, forKey: .message)
            phase = try container.decodeIfPresent(Phase.self, forKey: .phase)
            replicaDetails = try container.decodeIfPresent(ReplicaDetails.self, forKey: .replicaDetails)
            replicaStatuses = try container.decodeIfPresent([ReplicaStatus].self, forKey: .replicaStatuses)
            unknownFields = try UnknownFields(from: decoder, known: CodingKeys.self)
        }

        public func encode(to encoder: any Encoder) throws {
            try unknownFields.encode(to: encoder, known: CodingKeys.self)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encodeIfPresent(capacity, forKey: .capacity)
            try container.encodeIfPresent(conditions, forKey: .conditions)
            try container.encodeIfPresent(lastTransitionTime, forKey: .lastTransitionTime)
            try container.encodeIfPresent(lastUpdateTime, forKey: .lastUpdateTime)
            try container.encodeIfPresent(message, forKey: .message)
            try container.encodeIfPresent(phase, forKey: .phase)
            try container.encodeIfPresent(replicaDetails, forKey: .replicaDetails)
            try container.encodeIfPresent(replicaStatuses, forKey: .replicaStatuses)
        }
    }

    /// A condition of the volume.
    public struct Condition: Codable, Hashable, Sendable {
        public var lastProbeTime: KubernetesTime?
        public var lastTransitionTime: KubernetesTime?
        public var message: String?
        public var reason: String?
        public var status: String?
        public var type: String?
        /// Members this type has no property for, written back unchanged.
        public var unknownFields = UnknownFields()

        public init(
            lastProbeTime: KubernetesTime? = nil,
            lastTransitionTime: KubernetesTime? = nil,
            message: String? = nil,
            reason: String? = nil,
            status: String? = nil,
            type: String? = nil
        ) {
            self.lastProbeTime = lastProbeTime
            self.lastTransitionTime = lastTransitionTime
            self.message = message
            self.reason = reason
            self.status = status
            self.type = type
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case lastProbeTime
            case lastTransitionTime
            case message
            case reason
            case status
            case type
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            lastProbeTime = try container.decodeIfPresent(KubernetesTime.self, forKey: .lastProbeTime)
            lastTransitionTime = try container.decodeIfPresent(KubernetesTime.self, forKey: .lastTransitionTime)
            message = try container.decodeIfPresent(String.self, forKey: .message)
            reason = try container.decodeIfPresent(String.self, forKey: .reason)
            status = try container.decodeIfPresent(String.self, forKey: .status)
            type = try container.decodeIfPresent(String.self, forKey: .type)
            unknownFields = try UnknownFields(from: decoder, known: CodingKeys.self)
        }

        public func encode(to encoder: any Encoder) throws {
            try unknownFields.encode(to: encoder, known: CodingKeys.self)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encodeIfPresent(lastProbeTime, forKey: .lastProbeTime)
            try container.encodeIfPresent(lastTransitionTime, forKey: .lastTransitionTime)
            try container.encodeIfPresent(message, forKey: .message)
            try container.encodeIfPresent(reason, forKey: .reason)
            try container.encodeIfPresent(status, forKey: .status)
            try container.encodeIfPresent(type, forKey: .type)
        }
    }

    /// What the target reports about one replica.
    public struct ReplicaStatus: Codable, Hashable, Sendable {
        public var checkpointedIOSeq: String?
        public var inflightRead: String?
        public var inflightSync: String?
        public var inflightWrite: String?
        public var mode: String?
        public var quorum: String?
        public var replicaId: String?
        public var upTime: Int?
        /// Members this type has no property for, written back unchanged.
        public var unknownFields = UnknownFields()

        public init(
            checkpointedIOSeq: String? = nil,
            inflightRead: String? = nil,
            inflightSync: String? = nil,
            inflightWrite: String? = nil,
            mode: String? = nil,
            quorum: String? = nil,
            replicaId: String? = nil,
            upTime: Int? = nil
        ) {
            self.checkpointedIOSeq = checkpointedIOSeq
            self.inflightRead = inflightRead
            self.inflightSync = inflightSync
            self.inflightWrite = inflightWrite
            self.mode = mode
            self.quorum = quorum
            self.replicaId = replicaId
            self.upTime = upTime
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case checkpointedIOSeq
            case inflightRead
            case inflightSync
            case inflightWrite
            case mode
            case quorum
            case replicaId
            case upTime
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            checkpointedIOSeq = try container.decodeIfPresent(String.self, forKey: .checkpointedIOSeq)
            inflightRead = try container.decodeIfPresent(String.self, forKey: .inflightRead)
            inflightSync = try container.decodeIfPresent(String.self, forKey: .inflightSync)
            inflightWrite = try container.decodeIfPresent(String.self, forKey: .inflightWrite)
            mode = try container.decodeIfPresent(String.self, forKey: .mode)
            quorum = try container.decodeIfPresent(String.self, forKey: .quorum)
            replicaId = try container.decodeIfPresent(String.self, forKey: .replicaId)
            upTime = try container.decodeIfPresent(Int.self, forKey: .upTime)
            unknownFields = try UnknownFields(from: decoder, known: CodingKeys.self)
        }

        public func encode(to encoder: any Encoder) throws {
            try unknownFields.encode(to: encoder, known: CodingKeys.self)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encodeIfPresent(checkpointedIOSeq, forKey: .checkpointedIOSeq)
            try container.encodeIfPresent(inflightRead, forKey: .inflightRead)
            try container.encodeIfPresent(inflightSync, forKey: .inflightSync)
            try container.encodeIfPresent(inflightWrite, forKey: .inflightWrite)
            try container.encodeIfPresent(mode, forKey: .mode)
            try container.encodeIfPresent(quorum, forKey: .quorum)
            try container.encodeIfPresent(replicaId, forKey: .replicaId)
            try container.encodeIfPresent(upTime, forKey: .upTime)
        }
    }
}
