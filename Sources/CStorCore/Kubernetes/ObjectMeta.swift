/// The `metadata` of every Kubernetes object. Empty strings, maps and lists are left out of the JSON
/// (Go's `omitempty`); `managedFields` and anything newer is kept in `unknownFields`.
import CStorCore

public struct ObjectMeta: Codable, Hashable, Sendable {
    public var name: String
    /// A prefix from which the server makes a unique name when `name` is empty.
    public var generateName: String
    public var namespace: String
    public var uid: String
    /// Opaque; an update with a stale value fails with Conflict.
    public var resourceVersion: String
    public var generation: Int64?
    public var creationTimestamp: KubernetesTime?
    /// Set when deletion was requested; the object stays until its finalizers are gone.
    public var deletionTimestamp: KubernetesTime?
    public var deletionGracePeriodSeconds: Int64?
    public var labels: [String: String]
    public var annotations: [String: String]
    public var ownerReferences: [OwnerReference]
    public var finalizers: [String]
    /// Members this type has no property for, written back unchanged.
    public var unknownFields = UnknownFields()

    public init(
        name: String = "",
        generateName: String = "",
        namespace: String = "",
        uid: String = "",
        resourceVersion: String = "",
        generation: Int64? = nil,
        creationTimestamp: KubernetesTime? = nil,
        deletionTimestamp: KubernetesTime? = nil,
        deletionGracePeriodSeconds: Int64? = nil,
        labels: [String: String] = [:],
        annotations: [String: String] = [:],
        ownerReferences: [OwnerReference] = [],
        finalizers: [String] = []
    ) {
        self.name = name
        self.generateName = generateName
        self.namespace = namespace
        self.uid = uid
        self.resourceVersion = resourceVersion
        self.generation = generation
        self.creationTimestamp = creationTimestamp
        self.deletionTimestamp = deletionTimestamp
        self.deletionGracePeriodSeconds = deletionGracePeriodSeconds
        self.labels = labels
        self.annotations = annotations
        self.ownerReferences = ownerReferences
        self.finalizers = finalizers
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name
        case generateName
        case namespace
        case uid
        case resourceVersion
        case generation
        case creationTimestamp
        case deletionTimestamp
        case deletionGracePeriodSeconds
        case labels
        case annotations
        case ownerReferences
        case finalizers
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decodeIfPresent(String.self, forKey: .name) ?? ""
        generateName = try container.decodeIfPresent(String.self, forKey: .generateName) ?? ""
        namespace = try container.decodeIfPresent(String.self, forKey: .namespace) ?? ""
        uid = try container.decodeIfPresent(String.self, forKey: .uid) ?? ""
        resourceVersion = try container.decodeIfPresent(String.self, forKey: .resourceVersion) ?? ""
        generation = try container.decodeIfPresent(Int64.self, forKey: .generation)
        creationTimestamp = try container.decodeIfPresent(KubernetesTime.self, forKey: .creationTimestamp)
        deletionTimestamp = try container.decodeIfPresent(KubernetesTime.self, forKey: .deletionTimestamp)
        deletionGracePeriodSeconds = try container.decodeIfPresent(Int64.self, forKey: .deletionGracePeriodSeconds)
        labels = try container.decodeIfPresent([String: String].self, forKey: .labels) ?? [:]
        annotations = try container.decodeIfPresent([String: String].self, forKey: .annotations) ?? [:]
        ownerReferences = try container.decodeIfPresent([OwnerReference].self, forKey: .ownerReferences) ?? []
        finalizers = try container.decodeIfPresent([String].self, forKey: .finalizers) ?? []
        unknownFields = try UnknownFields(from: decoder, known: CodingKeys.self)
    }

    public func encode(to encoder: any Encoder) throws {
        try unknownFields.encode(to: encoder, known: CodingKeys.self)
        var container = encoder.container(keyedBy: CodingKeys.self)
        if !name.isEmpty { try container.encode(name, forKey: .name) }
        if !generateName.isEmpty { try container.encode(generateName, forKey: .generateName) }
        if !namespace.isEmpty { try container.encode(namespace, forKey: .namespace) }
        if !uid.isEmpty { try container.encode(uid, forKey: .uid) }
        if !resourceVersion.isEmpty { try container.encode(resourceVersion, forKey: .resourceVersion) }
        try container.encodeIfPresent(generation, forKey: .generation)
        try container.encodeIfPresent(creationTimestamp, forKey: .creationTimestamp)
        try container.encodeIfPresent(deletionTimestamp, forKey: .deletionTimestamp)
        try container.encodeIfPresent(deletionGracePeriodSeconds, forKey: .deletionGracePeriodSeconds)
        if !labels.isEmpty { try container.encode(labels, forKey: .labels) }
        if !annotations.isEmpty { try container.encode(annotations, forKey: .annotations) }
        if !ownerReferences.isEmpty { try container.encode(ownerReferences, forKey: .ownerReferences) }
        if !finalizers.isEmpty { try container.encode(finalizers, forKey: .finalizers) }
    }

    /// Whether deletion was requested (the object may still exist because of finalizers).
    public var isBeingDeleted: Bool { deletionTimestamp != nil }
}
