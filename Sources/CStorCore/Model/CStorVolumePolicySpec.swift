import CStorCore
import CStorKubernetes
import FoundationEssentials

/// The policy of a cStor volume: `spec` of a CStorVolumePolicy and `spec.policy` of a CVC. Scheduling details
/// (affinity, resources, tolerations) are kept as plain JSON.
public struct CStorVolumePolicySpec: Codable, Hashable, Sendable {
    public var provision: Provision?
    public var replica: Replica?
    public var replicaPoolInfo: [ReplicaPoolInfo]?
    public var target: Target?
    /// Members this type has no property for, written back unchanged.
    public var unknownFields = UnknownFields()

    public init(
        provision: Provision? = nil,
        replica: Replica? = nil,
        replicaPoolInfo: [ReplicaPoolInfo]? = nil,
        target: Target? = nil
    ) {
        self.provision = provision
        self.replica = replica
        self.replicaPoolInfo = replicaPoolInfo
        self.target = target
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case provision
        case replica
        case replicaPoolInfo
        case target
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        provision = try container.decodeIfPresent(Provision.self, forKey: .provision)
        replica = try container.decodeIfPresent(Replica.self, forKey: .replica)
        replicaPoolInfo = try container.decodeIfPresent([ReplicaPoolInfo].self, forKey: .replicaPoolInfo)
        target = try container.decodeIfPresent(Target.self, forKey: .target)
        unknownFields = try UnknownFields(from: decoder, known: CodingKeys.self)
    }

    public func encode(to encoder: any Encoder) throws {
        try unknownFields.encode(to: encoder, known: CodingKeys.self)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(provision, forKey: .provision)
        try container.encodeIfPresent(replica, forKey: .replica)
        try container.encodeIfPresent(replicaPoolInfo, forKey: .replicaPoolInfo)
        try container.encodeIfPresent(target, forKey: .target)
    }

    /// How replicas are provisioned.
    public struct Provision: Codable, Hashable, Sendable {
        public var blockSize: Int32?
        public var replicaAffinity: Bool?
        /// Members this type has no property for, written back unchanged.
        public var unknownFields = UnknownFields()

        public init(
            blockSize: Int32? = nil,
            replicaAffinity: Bool? = nil
        ) {
            self.blockSize = blockSize
            self.replicaAffinity = replicaAffinity
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case blockSize
            case replicaAffinity
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            blockSize = try container.decodeIfPresent(Int32.self, forKey: .blockSize)
            replicaAffinity = try container.decodeIfPresent(Bool.self, forKey: .replicaAffinity)
            unknownFields = try UnknownFields(from: decoder, known: CodingKeys.self)
        }

        public func encode(to encoder: any Encoder) throws {
            try unknownFields.encode(to: encoder, known: CodingKeys.self)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encodeIfPresent(blockSize, forKey: .blockSize)
            try container.encodeIfPresent(replicaAffinity, forKey: .replicaAffinity)
        }
    }

    /// Settings of the replicas.
    public struct Replica: Codable, Hashable, Sendable {
        public var compression: String?
        public var zvolWorkers: String?
        /// Members this type has no property for, written back unchanged.
        public var unknownFields = UnknownFields()

        public init(
            compression: String? = nil,
            zvolWorkers: String? = nil
        ) {
            self.compression = compression
            self.zvolWorkers = zvolWorkers
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case compression
            case zvolWorkers
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            compression = try container.decodeIfPresent(String.self, forKey: .compression)
            zvolWorkers = try container.decodeIfPresent(String.self, forKey: .zvolWorkers)
            unknownFields = try UnknownFields(from: decoder, known: CodingKeys.self)
        }

        public func encode(to encoder: any Encoder) throws {
            try unknownFields.encode(to: encoder, known: CodingKeys.self)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encodeIfPresent(compression, forKey: .compression)
            try container.encodeIfPresent(zvolWorkers, forKey: .zvolWorkers)
        }
    }

    /// A pool a replica should be placed on.
    public struct ReplicaPoolInfo: Codable, Hashable, Sendable {
        public var poolName: String?
        /// Members this type has no property for, written back unchanged.
        public var unknownFields = UnknownFields()

        public init(
            poolName: String? = nil
        ) {
            self.poolName = poolName
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case poolName
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            poolName = try container.decodeIfPresent(String.self, forKey: .poolName)
            unknownFields = try UnknownFields(from: decoder, known: CodingKeys.self)
        }

        public func encode(to encoder: any Encoder) throws {
            try unknownFields.encode(to: encoder, known: CodingKeys.self)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encodeIfPresent(poolName, forKey: .poolName)
        }
    }

    /// Settings of the iSCSI target deployment.
    public struct Target: Codable, Hashable, Sendable {
        public var affinity: JSONValue?
        public var auxResources: JSONValue?
        public var luWorkers: Int64?
        public var monitor: Bool?
        public var nodeSelector: [String: String]?
        public var priorityClassName: String?
        public var queueDepth: String?
        public var replicationFactor: Int64?
        public var resources: JSONValue?
        public var tolerations: [JSONValue]?
        /// Members this type has no property for, written back unchanged.
        public var unknownFields = UnknownFields()

        public init(
            affinity: JSONValue? = nil,
            auxResources: JSONValue? = nil,
            luWorkers: Int64? = nil,
            monitor: Bool? = nil,
            nodeSelector: [String: String]? = nil,
            priorityClassName: String? = nil,
            queueDepth: String? = nil,
            replicationFactor: Int64? = nil,
            resources: JSONValue? = nil,
            tolerations: [JSONValue]? = nil
        ) {
            self.affinity = affinity
            self.auxResources = auxResources
            self.luWorkers = luWorkers
            self.monitor = monitor
            self.nodeSelector = nodeSelector
            self.priorityClassName = priorityClassName
            self.queueDepth = queueDepth
            self.replicationFactor = replicationFactor
            self.resources = resources
            self.tolerations = tolerations
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case affinity
            case auxResources
            case luWorkers
            case monitor
            case nodeSelector
            case priorityClassName
            case queueDepth
            case replicationFactor
            case resources
            case tolerations
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            affinity = try container.decodeIfPresent(JSONValue.self, forKey: .affinity)
            auxResources = try container.decodeIfPresent(JSONValue.self, forKey: .auxResources)
            luWorkers = try container.decodeIfPresent(Int64.self, forKey: .luWorkers)
            monitor = try container.decodeIfPresent(Bool.self, forKey: .monitor)
            nodeSelector = try container.decodeIfPresent([String: String].self, forKey: .nodeSelector)
            priorityClassName = try container.decodeIfPresent(String.self, forKey: .priorityClassName)
            queueDepth = try container.decodeIfPresent(String.self, forKey: .queueDepth)
            replicationFactor = try container.decodeIfPresent(Int64.self, forKey: .replicationFactor)
            resources = try container.decodeIfPresent(JSONValue.self, forKey: .resources)
            tolerations = try container.decodeIfPresent([JSONValue].self, forKey: .tolerations)
            unknownFields = try UnknownFields(from: decoder, known: CodingKeys.self)
        }

        public func encode(to encoder: any Encoder) throws {
            try unknownFields.encode(to: encoder, known: CodingKeys.self)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encodeIfPresent(affinity, forKey: .affinity)
            try container.encodeIfPresent(auxResources, forKey: .auxResources)
            try container.encodeIfPresent(luWorkers, forKey: .luWorkers)
            try container.encodeIfPresent(monitor, forKey: .monitor)
            try container.encodeIfPresent(nodeSelector, forKey: .nodeSelector)
            try container.encodeIfPresent(priorityClassName, forKey: .priorityClassName)
            try container.encodeIfPresent(queueDepth, forKey: .queueDepth)
            try container.encodeIfPresent(replicationFactor, forKey: .replicationFactor)
            try container.encodeIfPresent(resources, forKey: .resources)
            try container.encodeIfPresent(tolerations, forKey: .tolerations)
        }
    }
}

extension CStorVolumePolicySpec {
    /// The `spec.policy` of a CVC openebs/cstor-csi creates: an empty policy (Go's zero value of
    /// the type, which the CRD requires). The cvc-operator replaces it with the CStorVolumePolicy
    /// named by the `openebs.io/volume-policy` annotation, or its defaults, when it binds the CVC.
    public static let newVolume = CStorVolumePolicySpec(
        provision: Provision(replicaAffinity: false), replica: Replica(), target: Target())
}
