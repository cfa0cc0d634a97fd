import CStorCore
import CStorKubernetes
import FoundationEssentials

/// CStorVolumeAttachment (CVA, `cstor.openebs.io/v1`): the record that a volume is attached to a node, named
/// `<pv>-<node>`. Its `status` is a plain string in the CRD.
public typealias CStorVolumeAttachment = CustomResource<CStorVolumeAttachmentKind>

/// The types of `CStorVolumeAttachment`: its spec, status and the parts they are made of.
public enum CStorVolumeAttachmentKind: CustomResourceKind {
    public static let resource = KubernetesResource.cstorVolumeAttachments
    public typealias Status = String
}

extension CStorVolumeAttachmentKind {
    /// `spec`: the volume and how the node reaches it.
    public struct Spec: Codable, Hashable, Sendable {
        public var iscsi: ISCSI?
        public var volume: Volume?
        /// Members this type has no property for, written back unchanged.
        public var unknownFields = UnknownFields()

        public init(
            iscsi: ISCSI? = nil,
            volume: Volume? = nil
        ) {
            self.iscsi = iscsi
            self.volume = volume
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case iscsi
            case volume
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            iscsi = try container.decodeIfPresent(ISCSI.self, forKey: .iscsi)
            volume = try container.decodeIfPresent(Volume.self, forKey: .volume)
            unknownFields = try UnknownFields(from: decoder, known: CodingKeys.self)
        }

        public func encode(to encoder: any Encoder) throws {
            try unknownFields.encode(to: encoder, known: CodingKeys.self)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encodeIfPresent(iscsi, forKey: .iscsi)
            try container.encodeIfPresent(volume, forKey: .volume)
        }
    }

    /// `spec.iscsi`: the iSCSI target of the volume.
    public struct ISCSI: Codable, Hashable, Sendable {
        public var iqn: String?
        public var iscsiInterface: String?
        public var lun: String?
        public var targetPortal: String?
        /// Members this type has no property for, written back unchanged.
        public var unknownFields = UnknownFields()

        public init(
            iqn: String? = nil,
            iscsiInterface: String? = nil,
            lun: String? = nil,
            targetPortal: String? = nil
        ) {
            self.iqn = iqn
            self.iscsiInterface = iscsiInterface
            self.lun = lun
            self.targetPortal = targetPortal
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case iqn
            case iscsiInterface
            case lun
            case targetPortal
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            iqn = try container.decodeIfPresent(String.self, forKey: .iqn)
            iscsiInterface = try container.decodeIfPresent(String.self, forKey: .iscsiInterface)
            lun = try container.decodeIfPresent(String.self, forKey: .lun)
            targetPortal = try container.decodeIfPresent(String.self, forKey: .targetPortal)
            unknownFields = try UnknownFields(from: decoder, known: CodingKeys.self)
        }

        public func encode(to encoder: any Encoder) throws {
            try unknownFields.encode(to: encoder, known: CodingKeys.self)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encodeIfPresent(iqn, forKey: .iqn)
            try container.encodeIfPresent(iscsiInterface, forKey: .iscsiInterface)
            try container.encodeIfPresent(lun, forKey: .lun)
            try container.encodeIfPresent(targetPortal, forKey: .targetPortal)
        }
    }

    /// `spec.volume`: the volume as the CSI node plugin uses it.
    public struct Volume: Codable, Hashable, Sendable {
        public var accessModes: [String]?
        public var accessType: String?
        public var capacity: String?
        public var devicePath: String?
        public var fsType: String?
        public var mountOptions: [String]?
        public var name: String?
        public var ownerNodeID: String?
        public var readOnly: Bool?
        public var stagingTargetPath: String?
        public var targetPath: String?
        /// Members this type has no property for, written back unchanged.
        public var unknownFields = UnknownFields()

        public init(
            accessModes: [String]? = nil,
            accessType: String? = nil,
            capacity: String? = nil,
            devicePath: String? = nil,
            fsType: String? = nil,
            mountOptions: [String]? = nil,
            name: String? = nil,
            ownerNodeID: String? = nil,
            readOnly: Bool? = nil,
            stagingTargetPath: String? = nil,
            targetPath: String? = nil
        ) {
            self.accessModes = accessModes
            self.accessType = accessType
            self.capacity = capacity
            self.devicePath = devicePath
            self.fsType = fsType
            self.mountOptions = mountOptions
            self.name = name
            self.ownerNodeID = ownerNodeID
            self.readOnly = readOnly
            self.stagingTargetPath = stagingTargetPath
            self.targetPath = targetPath
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case accessModes
            case accessType
            case capacity
            case devicePath
            case fsType
            case mountOptions
            case name
            case ownerNodeID
            case readOnly
            case stagingTargetPath
            case targetPath
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            accessModes = try container.decodeIfPresent([String].self, forKey: .accessModes)
            accessType = try container.decodeIfPresent(String.self, forKey: .accessType)
            capacity = try container.decodeIfPresent(String.self, forKey: .capacity)
            devicePath = try container.decodeIfPresent(String.self, forKey: .devicePath)
            fsType = try container.decodeIfPresent(String.self, forKey: .fsType)
            mountOptions = try container.decodeIfPresent([String].self, forKey: .mountOptions)
            name = try container.decodeIfPresent(String.self, forKey: .name)
            ownerNodeID = try container.decodeIfPresent(String.self, forKey: .ownerNodeID)
            readOnly = try container.decodeIfPresent(Bool.self, forKey: .readOnly)
            stagingTargetPath = try container.decodeIfPresent(String.self, forKey: .stagingTargetPath)
            targetPath = try container.decodeIfPresent(String.self, forKey: .targetPath)
            unknownFields = try UnknownFields(from: decoder, known: CodingKeys.self)
        }

        public func encode(to encoder: any Encoder) throws {
            try unknownFields.encode(to: encoder, known: CodingKeys.self)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encodeIfPresent(accessModes, forKey: .accessModes)
            try container.encodeIfPresent(accessType, forKey: .accessType)
            try container.encodeIfPresent(capacity, forKey: .capacity)
            try container.encodeIfPresent(devicePath, forKey: .devicePath)
            try container.encodeIfPresent(fsType, forKey: .fsType)
            try container.encodeIfPresent(mountOptions, forKey: .mountOptions)
            try container.encodeIfPresent(name, forKey: .name)
            try container.encodeIfPresent(ownerNodeID, forKey: .ownerNodeID)
            try container.encodeIfPresent(readOnly, forKey: .readOnly)
            try container.encodeIfPresent(stagingTargetPath, forKey: .stagingTargetPath)
            try container.encodeIfPresent(targetPath, forKey: .targetPath)
        }
    }
}
