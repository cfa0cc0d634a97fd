/// A reference to another object (core/v1 `ObjectReference`), as in `CVC.spec.cstorVolumeRef` or an event's `involvedObject`.
import CStorCore

public struct ObjectReference: Codable, Hashable, Sendable {
    public var apiVersion: String?
    public var fieldPath: String?
    public var kind: String?
    public var name: String?
    public var namespace: String?
    public var resourceVersion: String?
    public var uid: String?
    /// Members this type has no property for, written back unchanged.
    public var unknownFields = UnknownFields()

    public init(
        apiVersion: String? = nil,
        fieldPath: String? = nil,
        kind: String? = nil,
        name: String? = nil,
        namespace: String? = nil,
        resourceVersion: String? = nil,
        uid: String? = nil
    ) {
        self.apiVersion = apiVersion
        self.fieldPath = fieldPath
        self.kind = kind
        self.name = name
        self.namespace = namespace
        self.resourceVersion = resourceVersion
        self.uid = uid
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case apiVersion
        case fieldPath
        case kind
        case name
        case namespace
        case resourceVersion
        case uid
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        apiVersion = try container.decodeIfPresent(String.self, forKey: .apiVersion)
        fieldPath = try container.decodeIfPresent(String.self, forKey: .fieldPath)
        kind = try container.decodeIfPresent(String.self, forKey: .kind)
        name = try container.decodeIfPresent(String.self, forKey: .name)
        namespace = try container.decodeIfPresent(String.self, forKey: .namespace)
        resourceVersion = try container.decodeIfPresent(String.self, forKey: .resourceVersion)
        uid = try container.decodeIfPresent(String.self, forKey: .uid)
        unknownFields = try UnknownFields(from: decoder, known: CodingKeys.self)
    }

    public func encode(to encoder: any Encoder) throws {
        try unknownFields.encode(to: encoder, known: CodingKeys.self)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(apiVersion, forKey: .apiVersion)
        try container.encodeIfPresent(fieldPath, forKey: .fieldPath)
        try container.encodeIfPresent(kind, forKey: .kind)
        try container.encodeIfPresent(name, forKey: .name)
        try container.encodeIfPresent(namespace, forKey: .namespace)
        try container.encodeIfPresent(resourceVersion, forKey: .resourceVersion)
        try container.encodeIfPresent(uid, forKey: .uid)
    }
}
