import CStorCore
import CStorKubernetes
import FoundationEssentials

/// CStorPoolInstance (CSPI, `cstor.openebs.io/v1`): one pool of a CSPC on one node, with its state and free space.
public typealias CStorPoolInstance = CustomResource<CStorPoolInstanceKind>

/// The types of `CStorPoolInstance`: its spec, status and the parts they are made of.
public enum CStorPoolInstanceKind: CustomResourceKind {
    public static let resource = KubernetesResource.cstorPoolInstances
    public typealias Extras = VersionedExtras
    public typealias Phase = CStorPoolInstancePhase
}

extension CustomResource where Kind == CStorPoolInstanceKind {
    /// `status.phase`, or nil when there is no status yet.
    public var phase: CStorPoolInstancePhase? {
        status?.phase
    }
}

extension CStorPoolInstanceKind {
    /// `spec`: the node and the devices of the pool.
    public struct Spec: Codable, Hashable, Sendable {
        public var dataRaidGroups: [CStorPoolRaidGroup]?
        public var hostName: String?
        public var nodeSelector: [String: String]?
        public var poolConfig: CStorPoolConfig?
        public var writeCacheRaidGroups: [CStorPoolRaidGroup]?
        /// Members this type has no property for, written back unchanged.
        public var unknownFields = UnknownFields()

        public init(
            dataRaidGroups: [CStorPoolRaidGroup]? = nil,
            hostName: String? = nil,
            nodeSelector: [String: String]? = nil,
            poolConfig: CStorPoolConfig? = nil,
            writeCacheRaidGroups: [CStorPoolRaidGroup]? = nil
        ) {
            self.dataRaidGroups = dataRaidGroups
            self.hostName = hostName
            self.nodeSelector = nodeSelector
            self.poolConfig = poolConfig
            self.writeCacheRaidGroups = writeCacheRaidGroups
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case dataRaidGroups
            case hostName
            case nodeSelector
            case poolConfig
            case writeCacheRaidGroups
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            dataRaidGroups = try container.decodeIfPresent([CStorPoolRaidGroup].self, forKey: .dataRaidGroups)
            hostName = try container.decodeIfPresent(String.self, forKey: .hostName)
            nodeSelector = try container.decodeIfPresent([String: String].self, forKey: .nodeSelector)
            poolConfig = try container.decodeIfPresent(CStorPoolConfig.self, forKey: .poolConfig)
            writeCacheRaidGroups = try container.decodeIfPresent([CStorPoolRaidGroup].self, forKey: .writeCacheRaidGroups)
            unknownFields = try UnknownFields(from: decoder, known: CodingKeys.self)
        }

        public func encode(to encoder: any Encoder) throws {
            try unknownFields.encode(to: encoder, known: CodingKeys.self)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encodeIfPresent(dataRaidGroups, forKey: .dataRaidGroups)
            try container.encodeIfPresent(hostName, forKey: .hostName)
            try container.encodeIfPresent(nodeSelector, forKey: .nodeSelector)
            try container.encodeIfPresent(poolConfig, forKey: .poolConfig)
            try container.encodeIfPresent(writeCacheRaidGroups, forKey: .writeCacheRaidGroups)
        }
    }

    /// `status`: state and capacity of the pool.
    public struct Status: Codable, Hashable, Sendable {
        public var capacity: Capacity?
        public var conditions: [CStorPoolCondition]?
        public var healthyReplicas: Int32?
        public var phase: Phase?
        public var provisionedReplicas: Int32?
        public var readOnly: Bool?
        /// Members this type has no property for, written back unchanged.
        public var unknownFields = UnknownFields()

        public init(
            capacity: Capacity? = nil,
            conditions: [CStorPoolCondition]? = nil,
            healthyReplicas: Int32? = nil,
            phase: Phase? = nil,
            provisionedReplicas: Int32? = nil,
            readOnly: Bool? = nil
        ) {
            self.capacity = capacity
            self.conditions = conditions
            self.healthyReplicas = healthyReplicas
            self.phase = phase
            self.provisionedReplicas = provisionedReplicas
            self.readOnly = readOnly
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case capacity
            case conditions
            case healthyReplicas
            case phase
            case provisionedReplicas
            case readOnly
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            capacity = try container.decodeIfPresent(Capacity.self, forKey: .capacity)
            conditions = try container.decodeIfPresent([CStorPoolCondition].self, forKey: .conditions)
            healthyReplicas = try container.decodeIfPresent(Int32.self, forKey: .healthyReplicas)
            phase = try container.decodeIfPresent(Phase.self, forKey: .phase)
            provisionedReplicas = try container.decodeIfPresent(Int32.self, forKey: .provisionedReplicas)
            readOnly = try container.decodeIfPresent(Bool.self, forKey: .readOnly)
            unknownFields = try UnknownFields(from: decoder, known: CodingKeys.self)
        }

        public func encode(to encoder: any Encoder) throws {
            try unknownFields.encode(to: encoder, known: CodingKeys.self)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encodeIfPresent(capacity, forKey: .capacity)
            try container.encodeIfPresent(conditions, forKey: .conditions)
            try container.encodeIfPresent(healthyReplicas, forKey: .healthyReplicas)
            try container.encodeIfPresent(phase, forKey: .phase)
            try container.encodeIfPresent(provisionedReplicas, forKey: .provisionedReplicas)
            try container.encodeIfPresent(readOnly, forKey: .readOnly)
        }
    }

    /// Space of the pool.
    public struct Capacity: Codable, Hashable, Sendable {
        public var free: Quantity?
        public var total: Quantity?
        public var used: Quantity?
        public var zfs: ZFSCapacity?
        /// Members this type has no property for, written back unchanged.
        public var unknownFields = UnknownFields()

        public init(
            free: Quantity? = nil,
            total: Quantity? = nil,
            used: Quantity? = nil,
            zfs: ZFSCapacity? = nil
        ) {
            self.free = free
            self.total = total
            self.used = used
            self.zfs = zfs
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case free
            case total
            case used
            case zfs
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            free = try container.decodeIfPresent(Quantity.self, forKey: .free)
            total = try container.decodeIfPresent(Quantity.self, forKey: .total)
            used = try container.decodeIfPresent(Quantity.self, forKey: .used)
            zfs = try container.decodeIfPresent(ZFSCapacity.self, forKey: .zfs)
            unknownFields = try UnknownFields(from: decoder, known: CodingKeys.self)
        }

        public func encode(to encoder: any Encoder) throws {
            try unknownFields.encode(to: encoder, known: CodingKeys.self)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encodeIfPresent(free, forKey: .free)
            try container.encodeIfPresent(total, forKey: .total)
            try container.encodeIfPresent(used, forKey: .used)
            try container.encodeIfPresent(zfs, forKey: .zfs)
        }
    }

    /// ZFS-level accounting.
    public struct ZFSCapacity: Codable, Hashable, Sendable {
        public var logicalUsed: Quantity?
        /// Members this type has no property for, written back unchanged.
        public var unknownFields = UnknownFields()

        public init(
            logicalUsed: Quantity? = nil
        ) {
            self.logicalUsed = logicalUsed
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case logicalUsed
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            logicalUsed = try container.decodeIfPresent(Quantity.self, forKey: .logicalUsed)
            unknownFields = try UnknownFields(from: decoder, known: CodingKeys.self)
        }

        public func encode(to encoder: any Encoder) throws {
            try unknownFields.encode(to: encoder, known: CodingKeys.self)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encodeIfPresent(logicalUsed, forKey: .logicalUsed)
        }
    }
}
