import CStorCore
import CStorKubernetes
import FoundationEssentials

/// CStorVolumeConfig (CVC, `cstor.openebs.io/v1`): the request for a cStor volume that the CSI controller creates
/// and the cvc-operator binds. `publish` and `versionDetails` sit beside `spec` and `status`; `status.condition`
/// is singular, as in the CRD.
public typealias CStorVolumeConfig = CustomResource<CStorVolumeConfigKind>

/// The types of `CStorVolumeConfig`: its spec, status, the members beside them and their parts.
public enum CStorVolumeConfigKind: CustomResourceKind {
    public static let resource = KubernetesResource.cstorVolumeConfigs
    public typealias Phase = CStorVolumeConfigPhase

    /// `publish` and `versionDetails`, beside `spec` and `status`.
    public struct Extras: CustomResourceExtras {
        public var publish: Publish?
        public var versionDetails: VersionDetails?

        public init() {}

        public init(publish: Publish?, versionDetails: VersionDetails?) {
            self.publish = publish
            self.versionDetails = versionDetails
        }

        public static let memberNames: Set<String> = ["publish", "versionDetails"]
    }
}

extension CustomResource where Kind == CStorVolumeConfigKind {
    public init(
        apiVersion: String = CStorVolumeConfigKind.resource.apiVersion, kind: String = CStorVolumeConfigKind.resource.kind,
        metadata: ObjectMeta = ObjectMeta(), spec: Spec, publish: CStorVolumeConfigKind.Publish? = nil, status: Status? = nil,
        versionDetails: VersionDetails? = nil
    ) {
        self.init(
            apiVersion: apiVersion, kind: kind, metadata: metadata, spec: spec, status: status,
            extras: CStorVolumeConfigKind.Extras(publish: publish, versionDetails: versionDetails))
    }

    /// `spec.capacity.storage`: the size the volume should have.
    public var requestedStorage: Quantity? {
        get { spec.capacity?["storage"] }
        set {
            var capacity = spec.capacity ?? [:]
            capacity["storage"] = newValue
            spec.capacity = capacity
        }
    }

    /// `status.capacity.storage`: the size the operator reports (after binding or an expansion).
    public var actualStorage: Quantity? {
        status?.capacity?["storage"]
    }

    /// `status.phase`, or nil when there is no status yet.
    public var phase: CStorVolumeConfigPhase? {
        status?.phase
    }
}

extension CStorVolumeConfigKind {
    /// `spec`: size, policy and provisioning of the volume.
    public struct Spec: Codable, Hashable, Sendable {
        /// `storage`: the size the volume should have (raised to expand it).
        public var capacity: [String: Quantity]?
        public var cstorVolumeRef: ObjectReference?
        /// `<source pv>@<snapshot>` for a clone.
        public var cstorVolumeSource: String?
        public var policy: CStorVolumePolicySpec?
        public var provision: Provision?
        /// Members this type has no property for, written back unchanged.
        public var unknownFields = UnknownFields()

        public init(
            capacity: [String: Quantity]? = nil,
            cstorVolumeRef: ObjectReference? = nil,
            cstorVolumeSource: String? = nil,
            policy: CStorVolumePolicySpec? = nil,
            provision: Provision? = nil
        ) {
            self.capacity = capacity
            self.cstorVolumeRef = cstorVolumeRef
            self.cstorVolumeSource = cstorVolumeSource
            self.policy = policy
            self.provision = provision
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case capacity
            case cstorVolumeRef
            case cstorVolumeSource
            case policy
            case provision
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            capacity = try container.decodeIfPresent([String: Quantity].self, forKey: .capacity)
            cstorVolumeRef = try container.decodeIfPresent(ObjectReference.self, forKey: .cstorVolumeRef)
            cstorVolumeSource = try container.decodeIfPresent(String.self, forKey: .cstorVolumeSource)
            policy = try container.decodeIfPresent(CStorVolumePolicySpec.self, forKey: .policy)
            provision = try container.decodeIfPresent(Provision.self, forKey: .provision)
            unknownFields = try UnknownFields(from: decoder, known: CodingKeys.self)
        }

        public func encode(to encoder: any Encoder) throws {
            try unknownFields.encode(to: encoder, known: CodingKeys.self)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encodeIfPresent(capacity, forKey: .capacity)
            try container.encodeIfPresent(cstorVolumeRef, forKey: .cstorVolumeRef)
            try container.encodeIfPresent(cstorVolumeSource, forKey: .cstorVolumeSource)
            try container.encodeIfPresent(policy, forKey: .policy)
            try container.encodeIfPresent(provision, forKey: .provision)
        }
    }

    /// `spec.provision`: what was asked at creation.
    public struct Provision: Codable, Hashable, Sendable {
        public var capacity: [String: Quantity]?
        public var replicaCount: Int?
        /// Members this type has no property for, written back unchanged.
        public var unknownFields = UnknownFields()

        public init(
            capacity: [String: Quantity]? = nil,
            replicaCount: Int? = nil
        ) {
            self.capacity = capacity
            self.replicaCount = replicaCount
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case capacity
            case replicaCount
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            capacity = try container.decodeIfPresent([String: Quantity].self, forKey: .capacity)
            replicaCount = try container.decodeIfPresent(Int.self, forKey: .replicaCount)
            unknownFields = try UnknownFields(from: decoder, known: CodingKeys.self)
        }

        public func encode(to encoder: any Encoder) throws {
            try unknownFields.encode(to: encoder, known: CodingKeys.self)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encodeIfPresent(capacity, forKey: .capacity)
            try container.encodeIfPresent(replicaCount, forKey: .replicaCount)
        }
    }

    /// `publish`: the node the volume is published to.
    public struct Publish: Codable, Hashable, Sendable {
        public var nodeId: String?
        /// Members this type has no property for, written back unchanged.
        public var unknownFields = UnknownFields()

        public init(
            nodeId: String? = nil
        ) {
            self.nodeId = nodeId
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case nodeId
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            nodeId = try container.decodeIfPresent(String.self, forKey: .nodeId)
            unknownFields = try UnknownFields(from: decoder, known: CodingKeys.self)
        }

        public func encode(to encoder: any Encoder) throws {
            try unknownFields.encode(to: encoder, known: CodingKeys.self)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encodeIfPresent(nodeId, forKey: .nodeId)
        }
    }

    /// `status`, written by the cvc-operator.
    public struct Status: Codable, Hashable, Sendable {
        /// `storage`: the size the volume has now.
        public var capacity: [String: Quantity]?
        public var condition: [Condition]?
        public var phase: Phase?
        public var poolInfo: [String]?
        /// Members this type has no property for, written back unchanged.
        public var unknownFields = UnknownFields()

        public init(
            capacity: [String: Quantity]? = nil,
            condition: [Condition]? = nil,
            phase: Phase? = nil,
            poolInfo: [String]? = nil
        ) {
            self.capacity = capacity
            self.condition = condition
            self.phase = phase
            self.poolInfo = poolInfo
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case capacity
            case condition
            case phase
            case poolInfo
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            capacity = try container.decodeIfPresent([String: Quantity].self, forKey: .capacity)
            condition = try container.decodeIfPresent([Condition].self, forKey: .condition)
            phase = try container.decodeIfPresent(Phase.self, forKey: .phase)
            poolInfo = try container.decodeIfPresent([String].self, forKey: .poolInfo)
            unknownFields = try UnknownFields(from: decoder, known: CodingKeys.self)
        }

        public func encode(to encoder: any Encoder) throws {
            try unknownFields.encode(to: encoder, known: CodingKeys.self)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encodeIfPresent(capacity, forKey: .capacity)
            try container.encodeIfPresent(condition, forKey: .condition)
            try container.encodeIfPresent(phase, forKey: .phase)
            try container.encodeIfPresent(poolInfo, forKey: .poolInfo)
        }
    }

    /// An entry of `status.condition` (e.g. type `Resizing` while an expansion runs).
    public struct Condition: Codable, Hashable, Sendable {
        public var lastProbeTime: KubernetesTime?
        public var lastTransitionTime: KubernetesTime?
        public var message: String?
        public var reason: String?
        public var type: String?
        /// Members this type has no property for, written back unchanged.
        public var unknownFields = UnknownFields()

        public init(
            lastProbeTime: KubernetesTime? = nil,
            lastTransitionTime: KubernetesTime? = nil,
            message: String? = nil,
            reason: String? = nil,
            type: String? = nil
        ) {
            self.lastProbeTime = lastProbeTime
            self.lastTransitionTime = lastTransitionTime
            self.message = message
            self.reason = reason
            self.type = type
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case lastProbeTime
            case lastTransitionTime
            case message
            case reason
            case type
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            lastProbeTime = try container.decodeIfPresent(KubernetesTime.self, forKey: .lastProbeTime)
            lastTransitionTime = try container.decodeIfPresent(KubernetesTime.self, forKey: .lastTransitionTime)
            message = try container.decodeIfPresent(String.self, forKey: .message)
            reason = try container.decodeIfPresent(String.self, forKey: .reason)
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
            try container.encodeIfPresent(type, forKey: .type)
        }
    }
}
