/// A persistent volume (core/v1, cluster-scoped), with the fields a CSI driver reads.
import CStorCore

public struct PersistentVolume: Codable, Hashable, Sendable, KubernetesResourceObject {
    public static let resource = KubernetesResource.persistentVolumes

    public var apiVersion: String
    public var kind: String
    public var metadata: ObjectMeta
    public var spec: Spec
    public var status: Status?
    /// Members this type has no property for, written back unchanged.
    public var unknownFields = UnknownFields()

    public init(
        apiVersion: String = PersistentVolume.resource.apiVersion,
        kind: String = PersistentVolume.resource.kind,
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
        apiVersion = try container.decodeIfPresent(String.self, forKey: .apiVersion) ?? PersistentVolume.resource.apiVersion
        kind = try container.decodeIfPresent(String.self, forKey: .kind) ?? PersistentVolume.resource.kind
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

    /// `spec` of a persistent volume.
    public struct Spec: Codable, Hashable, Sendable {
        public var accessModes: [String]?
        public var capacity: [String: Quantity]?
        public var claimRef: ObjectReference?
        public var csi: CSISource?
        public var mountOptions: [String]?
        public var persistentVolumeReclaimPolicy: String?
        public var storageClassName: String?
        public var volumeMode: String?
        /// Members this type has no property for, written back unchanged.
        public var unknownFields = UnknownFields()

        public init(
            accessModes: [String]? = nil,
            capacity: [String: Quantity]? = nil,
            claimRef: ObjectReference? = nil,
            csi: CSISource? = nil,
            mountOptions: [String]? = nil,
            persistentVolumeReclaimPolicy: String? = nil,
            storageClassName: String? = nil,
            volumeMode: String? = nil
        ) {
            self.accessModes = accessModes
            self.capacity = capacity
            self.claimRef = claimRef
            self.csi = csi
            self.mountOptions = mountOptions
            self.persistentVolumeReclaimPolicy = persistentVolumeReclaimPolicy
            self.storageClassName = storageClassName
            self.volumeMode = volumeMode
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case accessModes
            case capacity
            case claimRef
            case csi
            case mountOptions
            case persistentVolumeReclaimPolicy
            case storageClassName
            case volumeMode
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            accessModes = try container.decodeIfPresent([String].self, forKey: .accessModes)
            capacity = try container.decodeIfPresent([String: Quantity].self, forKey: .capacity)
            claimRef = try container.decodeIfPresent(ObjectReference.self, forKey: .claimRef)
            csi = try container.decodeIfPresent(CSISource.self, forKey: .csi)
            mountOptions = try container.decodeIfPresent([String].self, forKey: .mountOptions)
            persistentVolumeReclaimPolicy = try container.decodeIfPresent(String.self, forKey: .persistentVolumeReclaimPolicy)
            storageClassName = try container.decodeIfPresent(String.self, forKey: .storageClassName)
            volumeMode = try container.decodeIfPresent(String.self, forKey: .volumeMode)
            unknownFields = try UnknownFields(from: decoder, known: CodingKeys.self)
        }

        public func encode(to encoder: any Encoder) throws {
            try unknownFields.encode(to: encoder, known: CodingKeys.self)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encodeIfPresent(accessModes, forKey: .accessModes)
            try container.encodeIfPresent(capacity, forKey: .capacity)
            try container.encodeIfPresent(claimRef, forKey: .claimRef)
            try container.encodeIfPresent(csi, forKey: .csi)
            try container.encodeIfPresent(mountOptions, forKey: .mountOptions)
            try container.encodeIfPresent(persistentVolumeReclaimPolicy, forKey: .persistentVolumeReclaimPolicy)
            try container.encodeIfPresent(storageClassName, forKey: .storageClassName)
            try container.encodeIfPresent(volumeMode, forKey: .volumeMode)
        }
    }

    /// `spec.csi`: the volume as a CSI driver knows it.
    public struct CSISource: Codable, Hashable, Sendable {
        public var driver: String?
        public var volumeHandle: String?
        public var fsType: String?
        public var readOnly: Bool?
        public var volumeAttributes: [String: String]?
        /// Members this type has no property for, written back unchanged.
        public var unknownFields = UnknownFields()

        public init(
            driver: String? = nil,
            volumeHandle: String? = nil,
            fsType: String? = nil,
            readOnly: Bool? = nil,
            volumeAttributes: [String: String]? = nil
        ) {
            self.driver = driver
            self.volumeHandle = volumeHandle
            self.fsType = fsType
            self.readOnly = readOnly
            self.volumeAttributes = volumeAttributes
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case driver
            case volumeHandle
            case fsType
            case readOnly
            case volumeAttributes
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            driver = try container.decodeIfPresent(String.self, forKey: .driver)
            volumeHandle = try container.decodeIfPresent(String.self, forKey: .volumeHandle)
            fsType = try container.decodeIfPresent(String.self, forKey: .fsType)
            readOnly = try container.decodeIfPresent(Bool.self, forKey: .readOnly)
            volumeAttributes = try container.decodeIfPresent([String: String].self, forKey: .volumeAttributes)
            unknownFields = try UnknownFields(from: decoder, known: CodingKeys.self)
        }

        public func encode(to encoder: any Encoder) throws {
            try unknownFields.encode(to: encoder, known: CodingKeys.self)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encodeIfPresent(driver, forKey: .driver)
            try container.encodeIfPresent(volumeHandle, forKey: .volumeHandle)
            try container.encodeIfPresent(fsType, forKey: .fsType)
            try container.encodeIfPresent(readOnly, forKey: .readOnly)
            try container.encodeIfPresent(volumeAttributes, forKey: .volumeAttributes)
        }
    }

    /// `status` of a persistent volume.
    public struct Status: Codable, Hashable, Sendable {
        public var phase: String?
        public var message: String?
        public var reason: String?
        /// Members this type has no property for, written back unchanged.
        public var unknownFields = UnknownFields()

        public init(
            phase: String? = nil,
            message: String? = nil,
            reason: String? = nil
        ) {
            self.phase = phase
            self.message = message
            self.reason = reason
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case phase
            case message
            case reason
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            phase = try container.decodeIfPresent(String.self, forKey: .phase)
            message = try container.decodeIfPresent(String.self, forKey: .message)
            reason = try container.decodeIfPresent(String.self, forKey: .reason)
            unknownFields = try UnknownFields(from: decoder, known: CodingKeys.self)
        }

        public func encode(to encoder: any Encoder) throws {
            try unknownFields.encode(to: encoder, known: CodingKeys.self)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encodeIfPresent(phase, forKey: .phase)
            try container.encodeIfPresent(message, forKey: .message)
            try container.encodeIfPresent(reason, forKey: .reason)
        }
    }
}
