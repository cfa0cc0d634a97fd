import CStorCore
import CStorKubernetes
import FoundationEssentials

/// A RAID group of a cStor pool (`dataRaidGroups`, `writeCacheRaidGroups`).
public struct CStorPoolRaidGroup: Codable, Hashable, Sendable {
    public var blockDevices: [BlockDevice]?
    /// Members this type has no property for, written back unchanged.
    public var unknownFields = UnknownFields()

    public init(
        blockDevices: [BlockDevice]? = nil
    ) {
        self.blockDevices = blockDevices
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case blockDevices
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        blockDevices = try container.decodeIfPresent([BlockDevice].self, forKey: .blockDevices)
        unknownFields = try UnknownFields(from: decoder, known: CodingKeys.self)
    }

    public func encode(to encoder: any Encoder) throws {
        try unknownFields.encode(to: encoder, known: CodingKeys.self)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(blockDevices, forKey: .blockDevices)
    }

    /// A block device of a RAID group.
    public struct BlockDevice: Codable, Hashable, Sendable {
        public var blockDeviceName: String?
        public var capacity: Int64?
        public var devLink: String?
        /// Members this type has no property for, written back unchanged.
        public var unknownFields = UnknownFields()

        public init(
            blockDeviceName: String? = nil,
            capacity: Int64? = nil,
            devLink: String? = nil
        ) {
            self.blockDeviceName = blockDeviceName
            self.capacity = capacity
            self.devLink = devLink
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case blockDeviceName
            case capacity
            case devLink
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            blockDeviceName = try container.decodeIfPresent(String.self, forKey: .blockDeviceName)
            capacity = try container.decodeIfPresent(Int64.self, forKey: .capacity)
            devLink = try container.decodeIfPresent(String.self, forKey: .devLink)
            unknownFields = try UnknownFields(from: decoder, known: CodingKeys.self)
        }

        public func encode(to encoder: any Encoder) throws {
            try unknownFields.encode(to: encoder, known: CodingKeys.self)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encodeIfPresent(blockDeviceName, forKey: .blockDeviceName)
            try container.encodeIfPresent(capacity, forKey: .capacity)
            try container.encodeIfPresent(devLink, forKey: .devLink)
        }
    }
}
