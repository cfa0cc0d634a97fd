import CStorCore
import CStorKubernetes
import FoundationEssentials

/// What sets one custom resource type apart: its resource, the types of `spec` and `status`, and
/// the members it has beside them (`versionDetails`, `publish`). `CustomResource<Kind>` is the one
/// envelope they share.
public protocol CustomResourceKind: Sendable {
    associatedtype Spec: Codable & Hashable & Sendable
    associatedtype Status: Codable & Hashable & Sendable
    associatedtype Extras: CustomResourceExtras = NoExtras
    static var resource: KubernetesResource { get }
}

/// The top-level members of a custom resource besides apiVersion, kind, metadata, spec and status.
/// They are read from and written to the object itself (not nested), and reached on the resource
/// by name: `cvc.versionDetails`.
public protocol CustomResourceExtras: Codable, Hashable, Sendable {
    init()
    /// Their JSON names, which the envelope does not keep as unknown fields.
    static var memberNames: Set<String> { get }
}

/// No members beside spec and status.
public struct NoExtras: CustomResourceExtras {
    public init() {}
    public static let memberNames: Set<String> = []
    public init(from decoder: any Decoder) throws {}
    public func encode(to encoder: any Encoder) throws {}
}

/// `versionDetails` beside spec and status: what the cStor operators record of their version.
public struct VersionedExtras: CustomResourceExtras {
    public var versionDetails: VersionDetails?

    public init() {}

    public init(versionDetails: VersionDetails?) {
        self.versionDetails = versionDetails
    }

    public static let memberNames: Set<String> = ["versionDetails"]
}

/// A custom resource object: apiVersion, kind, metadata, `spec`, `status` and the kind's extra
/// members, with every member this code has no property for kept as it was read and written back
/// (see `UnknownFields`), so an object read, changed and written back keeps what the operators put
/// there. A missing `spec` reads as an empty one.
@dynamicMemberLookup
public struct CustomResource<Kind: CustomResourceKind>: Codable, Hashable, Sendable, KubernetesResourceObject {
    public typealias Spec = Kind.Spec
    public typealias Status = Kind.Status

    public static var resource: KubernetesResource { Kind.resource }

    public var apiVersion: String
    public var kind: String
    public var metadata: ObjectMeta
    public var spec: Spec
    public var status: Status?
    public var extras: Kind.Extras
    /// Members this type has no property for, written back unchanged.
    public var unknownFields = UnknownFields()

    public init(
        apiVersion: String = Kind.resource.apiVersion, kind: String = Kind.resource.kind, metadata: ObjectMeta = ObjectMeta(),
        spec: Spec, status: Status? = nil, extras: Kind.Extras
    ) {
        self.apiVersion = apiVersion
        self.kind = kind
        self.metadata = metadata
        self.spec = spec
        self.status = status
        self.extras = extras
    }

    /// The kind's extra members by name (`cvc.publish`, `cv.versionDetails`).
    public subscript<Value>(dynamicMember member: WritableKeyPath<Kind.Extras, Value>) -> Value {
        get { extras[keyPath: member] }
        set { extras[keyPath: member] = newValue }
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
        apiVersion = try container.decodeIfPresent(String.self, forKey: .apiVersion) ?? Kind.resource.apiVersion
        kind = try container.decodeIfPresent(String.self, forKey: .kind) ?? Kind.resource.kind
        metadata = try container.decodeIfPresent(ObjectMeta.self, forKey: .metadata) ?? ObjectMeta()
        spec = try container.decodeIfPresent(Spec.self, forKey: .spec) ?? JSONValue.object([:]).decode(as: Spec.self)
        status = try container.decodeIfPresent(Status.self, forKey: .status)
        extras = try Kind.Extras(from: decoder)
        var unknown = try UnknownFields(from: decoder, known: CodingKeys.self)
        for name in Kind.Extras.memberNames { unknown[name] = nil }
        unknownFields = unknown
    }

    public func encode(to encoder: any Encoder) throws {
        var unknown = unknownFields
        for name in Kind.Extras.memberNames { unknown[name] = nil }
        try unknown.encode(to: encoder, known: CodingKeys.self)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(apiVersion, forKey: .apiVersion)
        try container.encode(kind, forKey: .kind)
        try container.encode(metadata, forKey: .metadata)
        try container.encode(spec, forKey: .spec)
        try container.encodeIfPresent(status, forKey: .status)
        try extras.encode(to: encoder)
    }
}

extension CustomResource where Kind.Extras == NoExtras {
    public init(
        apiVersion: String = Kind.resource.apiVersion, kind: String = Kind.resource.kind, metadata: ObjectMeta = ObjectMeta(),
        spec: Spec, status: Status? = nil
    ) {
        self.init(apiVersion: apiVersion, kind: kind, metadata: metadata, spec: spec, status: status, extras: NoExtras())
    }
}

extension CustomResource where Kind.Extras == VersionedExtras {
    public init(
        apiVersion: String = Kind.resource.apiVersion, kind: String = Kind.resource.kind, metadata: ObjectMeta = ObjectMeta(),
        spec: Spec, status: Status? = nil, versionDetails: VersionDetails? = nil
    ) {
        self.init(
            apiVersion: apiVersion, kind: kind, metadata: metadata, spec: spec, status: status,
            extras: VersionedExtras(versionDetails: versionDetails))
    }
}
