/// A pod (core/v1), with what cstor-csi reads of it: its node, its phase and its controller. The
/// rest of spec and status is kept as plain JSON.
import CStorCore

public struct Pod: Codable, Hashable, Sendable, KubernetesResourceObject {
    public static let resource = KubernetesResource.pods

    public var apiVersion: String
    public var kind: String
    public var metadata: ObjectMeta
    public var spec: JSONValue?
    public var status: JSONValue?
    /// Members this type has no property for, written back unchanged.
    public var unknownFields = UnknownFields()

    public init(
        apiVersion: String = Pod.resource.apiVersion, kind: String = Pod.resource.kind, metadata: ObjectMeta = ObjectMeta(),
        spec: JSONValue? = nil, status: JSONValue? = nil
    ) {
        self.apiVersion = apiVersion
        self.kind = kind
        self.metadata = metadata
        self.spec = spec
        self.status = status
    }

    /// `spec.nodeName`: the node the pod was scheduled to.
    public var nodeName: String? { spec?["nodeName"]?.stringValue }

    /// The owner reference marked `controller: true` (a ReplicaSet, StatefulSet, DaemonSet, Job…):
    /// whoever recreates the pod once it is gone. A pod without one is a bare pod.
    public var controller: OwnerReference? { metadata.ownerReferences.first { $0.controller == true } }

    /// `namespace/name`, as operators name a pod.
    public var qualifiedName: String { "\(metadata.namespace)/\(metadata.name)" }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case apiVersion
        case kind
        case metadata
        case spec
        case status
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        apiVersion = try container.decodeIfPresent(String.self, forKey: .apiVersion) ?? Pod.resource.apiVersion
        kind = try container.decodeIfPresent(String.self, forKey: .kind) ?? Pod.resource.kind
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

/// A request to evict a pod (policy/v1 Eviction, POSTed to `pods/<name>/eviction`): a DELETE that
/// respects the pod's PodDisruptionBudget. `preconditions.uid` makes sure that only this very pod
/// goes, never a pod recreated under the same name.
public struct Eviction: Codable, Hashable, Sendable {
    public struct Metadata: Codable, Hashable, Sendable {
        public var name: String
        public var namespace: String
    }

    public struct DeleteOptions: Codable, Hashable, Sendable {
        public struct Preconditions: Codable, Hashable, Sendable {
            public var uid: String?
        }
        public var preconditions: Preconditions?
    }

    public var apiVersion = "policy/v1"
    public var kind = "Eviction"
    public var metadata: Metadata
    public var deleteOptions: DeleteOptions?

    public init(of pod: Pod) {
        metadata = Metadata(name: pod.metadata.name, namespace: pod.metadata.namespace)
        deleteOptions = pod.metadata.uid.isEmpty ? nil : DeleteOptions(preconditions: .init(uid: pod.metadata.uid))
    }
}
