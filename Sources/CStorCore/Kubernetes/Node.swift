/// A Kubernetes node (core/v1, cluster-scoped); its spec and status are kept as plain JSON.
import CStorCore

public struct Node: Codable, Hashable, Sendable, KubernetesResourceObject {
    public static let resource = KubernetesResource.nodes

    public var apiVersion: String
    public var kind: String
    public var metadata: ObjectMeta
    public var spec: JSONValue?
    public var status: JSONValue?
    /// Members this type has no property for, written back unchanged.
    public var unknownFields = UnknownFields()

    public init(
        apiVersion: String = Node.resource.apiVersion,
        kind: String = Node.resource.kind,
        metadata: ObjectMeta = ObjectMeta(),
        spec: JSONValue? = nil,
        status: JSONValue? = nil
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
        apiVersion = try container.decodeIfPresent(String.self, forKey: .apiVersion) ?? Node.resource.apiVersion
        kind = try container.decodeIfPresent(String.self, forKey: .kind) ?? Node.resource.kind
        metadata = try container.decodeIfPresent(ObjectMeta.self, forKey: .metadata) ?? ObjectMeta()
        spec = try container.decodeIfPresent(JSONValue.self, forKey: .spec)
        status = try container.decodeIfPresent(JSONValue.self, forKey: .status)
        unknownFields = try UnknownFields(from: decoder, known: CodingKeys.self)
    }

    public func encode(to encoder: any Encoder) throws {
        try unknownFields.encode(to: encoder, known: CodingKeys.self)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(apiVersion, forKey: .apiVersion)
        try container.encode(kind, forKey: .kind)
        try container.encode(metadata, forKey: .metadata)
        try container.encodeIfPresent(spec, forKey: .spec)
        try container.encodeIfPresent(status, forKey: .status)
    }
}
