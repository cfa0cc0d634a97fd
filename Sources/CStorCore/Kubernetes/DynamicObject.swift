/// Any Kubernetes object as plain JSON beside its typed `metadata`: for resources without a model
/// type, and for tests that need to see exactly what the server stored.
import CStorCore

public struct DynamicObject: KubernetesObject, Hashable {
    public var metadata: ObjectMeta
    /// Every other member (`apiVersion`, `kind`, `spec`, `status`, ...).
    public var fields: [String: JSONValue]

    public init(metadata: ObjectMeta = ObjectMeta(), fields: [String: JSONValue] = [:]) {
        self.metadata = metadata
        self.fields = fields
    }

    public subscript(key: String) -> JSONValue? {
        get { fields[key] }
        set { fields[key] = newValue }
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case metadata
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        metadata = try container.decodeIfPresent(ObjectMeta.self, forKey: .metadata) ?? ObjectMeta()
        fields = try UnknownFields(from: decoder, known: CodingKeys.self).members
    }

    public func encode(to encoder: any Encoder) throws {
        try UnknownFields(fields).encode(to: encoder, known: CodingKeys.self)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(metadata, forKey: .metadata)
    }
}
