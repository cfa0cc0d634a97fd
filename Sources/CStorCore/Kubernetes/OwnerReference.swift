/// An entry of `metadata.ownerReferences`: the garbage collector deletes an object when its owners are gone.
import CStorCore

public struct OwnerReference: Codable, Hashable, Sendable {
    public var apiVersion: String
    public var kind: String
    public var name: String
    public var uid: String
    public var controller: Bool?
    public var blockOwnerDeletion: Bool?
    /// Members this type has no property for, written back unchanged.
    public var unknownFields = UnknownFields()

    public init(
        apiVersion: String = "",
        kind: String = "",
        name: String = "",
        uid: String = "",
        controller: Bool? = nil,
        blockOwnerDeletion: Bool? = nil
    ) {
        self.apiVersion = apiVersion
        self.kind = kind
        self.name = name
        self.uid = uid
        self.controller = controller
        self.blockOwnerDeletion = blockOwnerDeletion
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case apiVersion
        case kind
        case name
        case uid
        case controller
        case blockOwnerDeletion
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        apiVersion = try container.decodeIfPresent(String.self, forKey: .apiVersion) ?? ""
        kind = try container.decodeIfPresent(String.self, forKey: .kind) ?? ""
        name = try container.decodeIfPresent(String.self, forKey: .name) ?? ""
        uid = try container.decodeIfPresent(String.self, forKey: .uid) ?? ""
        controller = try container.decodeIfPresent(Bool.self, forKey: .controller)
        blockOwnerDeletion = try container.decodeIfPresent(Bool.self, forKey: .blockOwnerDeletion)
        unknownFields = try UnknownFields(from: decoder, known: CodingKeys.self)
    }

    public func encode(to encoder: any Encoder) throws {
        try unknownFields.encode(to: encoder, known: CodingKeys.self)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(apiVersion, forKey: .apiVersion)
        try container.encode(kind, forKey: .kind)
        try container.encode(name, forKey: .name)
        try container.encode(uid, forKey: .uid)
        try container.encodeIfPresent(controller, forKey: .controller)
        try container.encodeIfPresent(blockOwnerDeletion, forKey: .blockOwnerDeletion)
    }

    /// A reference to `owner` that marks it as the controlling owner.
    public init(controller owner: some KubernetesResourceObject, blockOwnerDeletion: Bool = true) {
        self.init(
            apiVersion: type(of: owner).resource.apiVersion, kind: type(of: owner).resource.kind,
            name: owner.metadata.name, uid: owner.metadata.uid, controller: true,
            blockOwnerDeletion: blockOwnerDeletion)
    }
}
