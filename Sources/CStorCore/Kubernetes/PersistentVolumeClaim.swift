/// A persistent volume claim (core/v1, namespaced).
import CStorCore

public struct PersistentVolumeClaim: Codable, Hashable, Sendable, KubernetesResourceObject {
    public static let resource = KubernetesResource.persistentVolumeClaims

    public var apiVersion: String
    public var kind: String
    public var metadata: ObjectMeta
    public var spec: Spec
    public var status: Status?
    /// Members this type has no property for, written back unchanged.
    public var unknownFields = UnknownFields()

    public init(
        apiVersion: String = PersistentVolumeClaim.resource.apiVersion,
        kind: String = PersistentVolumeClaim.resource.kind,
        metadata: ObjectMeta = ObjectMeta(),
        spec: Spec = Spec(),
        status: Status? = nil
    ) {
        self.apiVersion = apiVersion
        self.kind = kind
        self.metadata = metadata
        self.spec = spec
        self.status = status
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case apiVersion
        case kind
        case metadata
        case spec
        case status
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        apiVersion = try container.decodeIfPresent(String.self, forKey: .apiVersion) ?? PersistentVolumeClaim.resource.apiVersion
        kind = try container.decodeIfPresent(String.self, forKey: .kind) ?? PersistentVolumeClaim.resource.kind
        metadata = try container.decodeIfPresent(ObjectMeta.self, forKey: .metadata) ?? ObjectMeta()
        spec = try container.decodeIfPresent(Spec.self, forKey: .spec) ?? Spec()
        status = try container.decodeIfPresent(Status.self, forKey: .status)
        unknownFields = try UnknownFields(from: decoder, known: CodingKeys.self)
    }

    public func encode(to encoder: any Encoder) throws {
        try unknownFields.encode(to: encoder, known: CodingKeys.self)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(apiVersion, forKey: .apiVersion)
        try container.encode(kind, forKey: .kind)
        try container.encode(metadata, forKey: .metadata)
        try container.encode(spec, forKey: .spec)
        try container.encodeIfPresent(status, forKey: .status)
    }

    /// `spec` of a claim.
    public struct Spec: Codable, Hashable, Sendable {
        public var accessModes: [String]?
        public var resources: ResourceRequirements?
        public var storageClassName: String?
        public var volumeMode: String?
        public var volumeName: String?
        public var dataSource: JSONValue?
        /// Members this type has no property for, written back unchanged.
        public var unknownFields = UnknownFields()

        public init(
            accessModes: [String]? = nil,
            resources: ResourceRequirements? = nil,
            storageClassName: String? = nil,
            volumeMode: String? = nil,
            volumeName: String? = nil,
            dataSource: JSONValue? = nil
        ) {
            self.accessModes = accessModes
            self.resources = resources
            self.storageClassName = storageClassName
            self.volumeMode = volumeMode
            self.volumeName = volumeName
            self.dataSource = dataSource
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case accessModes
            case resources
            case storageClassName
            case volumeMode
            case volumeName
            case dataSource
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            accessModes = try container.decodeIfPresent([String].self, forKey: .accessModes)
            resources = try container.decodeIfPresent(ResourceRequirements.self, forKey: .resources)
            storageClassName = try container.decodeIfPresent(String.self, forKey: .storageClassName)
            volumeMode = try container.decodeIfPresent(String.self, forKey: .volumeMode)
            volumeName = try container.decodeIfPresent(String.self, forKey: .volumeName)
            dataSource = try container.decodeIfPresent(JSONValue.self, forKey: .dataSource)
            unknownFields = try UnknownFields(from: decoder, known: CodingKeys.self)
        }

        public func encode(to encoder: any Encoder) throws {
            try unknownFields.encode(to: encoder, known: CodingKeys.self)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encodeIfPresent(accessModes, forKey: .accessModes)
            try container.encodeIfPresent(resources, forKey: .resources)
            try container.encodeIfPresent(storageClassName, forKey: .storageClassName)
            try container.encodeIfPresent(volumeMode, forKey: .volumeMode)
            try container.encodeIfPresent(volumeName, forKey: .volumeName)
            try container.encodeIfPresent(dataSource, forKey: .dataSource)
        }
    }

    /// `status` of a claim.
    public struct Status: Codable, Hashable, Sendable {
        public var phase: String?
        public var accessModes: [String]?
        public var capacity: [String: Quantity]?
        /// Members this type has no property for, written back unchanged.
        public var unknownFields = UnknownFields()

        public init(
            phase: String? = nil,
            accessModes: [String]? = nil,
            capacity: [String: Quantity]? = nil
        ) {
            self.phase = phase
            self.accessModes = accessModes
            self.capacity = capacity
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case phase
            case accessModes
            case capacity
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            phase = try container.decodeIfPresent(String.self, forKey: .phase)
            accessModes = try container.decodeIfPresent([String].self, forKey: .accessModes)
            capacity = try container.decodeIfPresent([String: Quantity].self, forKey: .capacity)
            unknownFields = try UnknownFields(from: decoder, known: CodingKeys.self)
        }

        public func encode(to encoder: any Encoder) throws {
            try unknownFields.encode(to: encoder, known: CodingKeys.self)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encodeIfPresent(phase, forKey: .phase)
            try container.encodeIfPresent(accessModes, forKey: .accessModes)
            try container.encodeIfPresent(capacity, forKey: .capacity)
        }
    }
}
