import CStorCore
import CStorKubernetes
import FoundationEssentials

/// CStorPoolCluster (CSPC, `cstor.openebs.io/v1`): the pools a StorageClass's `cstorPoolCluster` names.
public typealias CStorPoolCluster = CustomResource<CStorPoolClusterKind>

/// The types of `CStorPoolCluster`: its spec, status and the parts they are made of.
public enum CStorPoolClusterKind: CustomResourceKind {
    public static let resource = KubernetesResource.cstorPoolClusters
    public typealias Extras = VersionedExtras
}

extension CStorPoolClusterKind {
    /// `spec`: the pools and their defaults.
    public struct Spec: Codable, Hashable, Sendable {
        public var auxResources: JSONValue?
        public var pools: [PoolSpec]?
        public var priorityClassName: String?
        public var resources: JSONValue?
        public var tolerations: [JSONValue]?
        /// Members this type has no property for, written back unchanged.
        public var unknownFields = UnknownFields()

        public init(
            auxResources: JSONValue? = nil,
            pools: [PoolSpec]? = nil,
            priorityClassName: String? = nil,
            resources: JSONValue? = nil,
            tolerations: [JSONValue]? = nil
        ) {
            self.auxResources = auxResources
            self.pools = pools
            self.priorityClassName = priorityClassName
            self.resources = resources
            self.tolerations = tolerations
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case auxResources
            case pools
            case priorityClassName
            case resources
            case tolerations
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            auxResources = try container.decodeIfPresent(JSONValue.self, forKey: .auxResources)
            pools = try container.decodeIfPresent([PoolSpec].self, forKey: .pools)
            priorityClassName = try container.decodeIfPresent(String.self, forKey: .priorityClassName)
            resources = try container.decodeIfPresent(JSONValue.self, forKey: .resources)
            tolerations = try container.decodeIfPresent([JSONValue].self, forKey: .tolerations)
            unknownFields = try UnknownFields(from: decoder, known: CodingKeys.self)
        }

        public func encode(to encoder: any Encoder) throws {
            try unknownFields.encode(to: encoder, known: CodingKeys.self)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encodeIfPresent(auxResources, forKey: .auxResources)
            try container.encodeIfPresent(pools, forKey: .pools)
            try container.encodeIfPresent(priorityClassName, forKey: .priorityClassName)
            try container.encodeIfPresent(resources, forKey: .resources)
            try container.encodeIfPresent(tolerations, forKey: .tolerations)
        }
    }

    /// One pool: where it runs and its devices.
    public struct PoolSpec: Codable, Hashable, Sendable {
        public var dataRaidGroups: [CStorPoolRaidGroup]?
        public var nodeSelector: [String: String]?
        public var poolConfig: CStorPoolConfig?
        public var writeCacheRaidGroups: [CStorPoolRaidGroup]?
        /// Members this type has no property for, written back unchanged.
        public var unknownFields = UnknownFields()

        public init(
            dataRaidGroups: [CStorPoolRaidGroup]? = nil,
            nodeSelector: [String: String]? = nil,
            poolConfig: CStorPoolConfig? = nil,
            writeCacheRaidGroups: [CStorPoolRaidGroup]? = nil
        ) {
            self.dataRaidGroups = dataRaidGroups
            self.nodeSelector = nodeSelector
            self.poolConfig = poolConfig
            self.writeCacheRaidGroups = writeCacheRaidGroups
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case dataRaidGroups
            case nodeSelector
            case poolConfig
            case writeCacheRaidGroups
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            dataRaidGroups = try container.decodeIfPresent([CStorPoolRaidGroup].self, forKey: .dataRaidGroups)
            nodeSelector = try container.decodeIfPresent([String: String].self, forKey: .nodeSelector)
            poolConfig = try container.decodeIfPresent(CStorPoolConfig.self, forKey: .poolConfig)
            writeCacheRaidGroups = try container.decodeIfPresent([CStorPoolRaidGroup].self, forKey: .writeCacheRaidGroups)
            unknownFields = try UnknownFields(from: decoder, known: CodingKeys.self)
        }

        public func encode(to encoder: any Encoder) throws {
            try unknownFields.encode(to: encoder, known: CodingKeys.self)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encodeIfPresent(dataRaidGroups, forKey: .dataRaidGroups)
            try container.encodeIfPresent(nodeSelector, forKey: .nodeSelector)
            try container.encodeIfPresent(poolConfig, forKey: .poolConfig)
            try container.encodeIfPresent(writeCacheRaidGroups, forKey: .writeCacheRaidGroups)
        }
    }

    /// `status`: how many instances are healthy.
    public struct Status: Codable, Hashable, Sendable {
        public var conditions: [CStorPoolCondition]?
        public var desiredInstances: Int32?
        public var healthyInstances: Int32?
        public var provisionedInstances: Int32?
        /// Members this type has no property for, written back unchanged.
        public var unknownFields = UnknownFields()

        public init(
            conditions: [CStorPoolCondition]? = nil,
            desiredInstances: Int32? = nil,
            healthyInstances: Int32? = nil,
            provisionedInstances: Int32? = nil
        ) {
            self.conditions = conditions
            self.desiredInstances = desiredInstances
            self.healthyInstances = healthyInstances
            self.provisionedInstances = provisionedInstances
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case conditions
            case desiredInstances
            case healthyInstances
            case provisionedInstances
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            conditions = try container.decodeIfPresent([CStorPoolCondition].self, forKey: .conditions)
            desiredInstances = try container.decodeIfPresent(Int32.self, forKey: .desiredInstances)
            healthyInstances = try container.decodeIfPresent(Int32.self, forKey: .healthyInstances)
            provisionedInstances = try container.decodeIfPresent(Int32.self, forKey: .provisionedInstances)
            unknownFields = try UnknownFields(from: decoder, known: CodingKeys.self)
        }

        public func encode(to encoder: any Encoder) throws {
            try unknownFields.encode(to: encoder, known: CodingKeys.self)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encodeIfPresent(conditions, forKey: .conditions)
            try container.encodeIfPresent(desiredInstances, forKey: .desiredInstances)
            try container.encodeIfPresent(healthyInstances, forKey: .healthyInstances)
            try container.encodeIfPresent(provisionedInstances, forKey: .provisionedInstances)
        }
    }
}
