/// CStorVolumePolicy (CVP, `cstor.openebs.io/v1`): a named policy a StorageClass's `cstorVolumePolicy` refers to.
public struct CStorVolumePolicy: Codable, Hashable, Sendable, KubernetesResourceObject {
    public static let resource = KubernetesResource.cstorVolumePolicies

    public var apiVersion: String
    public var kind: String
    public var metadata: ObjectMeta
    public var spec: CStorVolumePolicySpec
    public var status: Status?
    /// Members this type has no property for, written back unchanged.
    public var unknownFields = UnknownFields()

    public init(
        apiVersion: String = CStorVolumePolicy.resource.apiVersion,
        kind: String = CStorVolumePolicy.resource.kind,
        metadata: ObjectMeta = ObjectMeta(),
        spec: CStorVolumePolicySpec = CStorVolumePolicySpec(),
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
        apiVersion = try container.decodeIfPresent(String.self, forKey: .apiVersion) ?? CStorVolumePolicy.resource.apiVersion
        kind = try container.decodeIfPresent(String.self, forKey: .kind) ?? CStorVolumePolicy.resource.kind
        metadata = try container.decodeIfPresent(ObjectMeta.self, forKey: .metadata) ?? ObjectMeta()
        spec = try container.decodeIfPresent(CStorVolumePolicySpec.self, forKey: .spec) ?? CStorVolumePolicySpec()
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

    /// `status` of a policy.
    public struct Status: Codable, Hashable, Sendable {
        public var phase: String?
        /// Members this type has no property for, written back unchanged.
        public var unknownFields = UnknownFields()

        public init(
            phase: String? = nil
        ) {
            self.phase = phase
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case phase
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            phase = try container.decodeIfPresent(String.self, forKey: .phase)
            unknownFields = try UnknownFields(from: decoder, known: CodingKeys.self)
        }

        public func encode(to encoder: any Encoder) throws {
            try unknownFields.encode(to: encoder, known: CodingKeys.self)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encodeIfPresent(phase, forKey: .phase)
        }
    }
}
