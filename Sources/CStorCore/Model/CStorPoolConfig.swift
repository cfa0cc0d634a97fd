import CStorCore
import CStorKubernetes
import FoundationEssentials

/// `poolConfig` of a CSPC pool or a CSPI: RAID layout and pool settings.
public struct CStorPoolConfig: Codable, Hashable, Sendable {
    public var auxResources: JSONValue?
    public var compression: String?
    public var dataRaidGroupType: String?
    public var priorityClassName: String?
    public var resources: JSONValue?
    public var roThresholdLimit: Int?
    public var thickProvision: Bool?
    public var tolerations: [JSONValue]?
    public var writeCacheGroupType: String?
    /// Members this type has no property for, written back unchanged.
    public var unknownFields = UnknownFields()

    public init(
        auxResources: JSONValue? = nil,
        compression: String? = nil,
        dataRaidGroupType: String? = nil,
        priorityClassName: String? = nil,
        resources: JSONValue? = nil,
        roThresholdLimit: Int? = nil,
        thickProvision: Bool? = nil,
        tolerations: [JSONValue]? = nil,
        writeCacheGroupType: String? = nil
    ) {
        self.auxResources = auxResources
        self.compression = compression
        self.dataRaidGroupType = dataRaidGroupType
        self.priorityClassName = priorityClassName
        self.resources = resources
        self.roThresholdLimit = roThresholdLimit
        self.thickProvision = thickProvision
        self.tolerations = tolerations
        self.writeCacheGroupType = writeCacheGroupType
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case auxResources
        case compression
        case dataRaidGroupType
        case priorityClassName
        case resources
        case roThresholdLimit
        case thickProvision
        case tolerations
        case writeCacheGroupType
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        auxResources = try container.decodeIfPresent(JSONValue.self, forKey: .auxResources)
        compression = try container.decodeIfPresent(String.self, forKey: .compression)
        dataRaidGroupType = try container.decodeIfPresent(String.self, forKey: .dataRaidGroupType)
        priorityClassName = try container.decodeIfPresent(String.self, forKey: .priorityClassName)
        resources = try container.decodeIfPresent(JSONValue.self, forKey: .resources)
        roThresholdLimit = try container.decodeIfPresent(Int.self, forKey: .roThresholdLimit)
        thickProvision = try container.decodeIfPresent(Bool.self, forKey: .thickProvision)
        tolerations = try container.decodeIfPresent([JSONValue].self, forKey: .tolerations)
        writeCacheGroupType = try container.decodeIfPresent(String.self, forKey: .writeCacheGroupType)
        unknownFields = try UnknownFields(from: decoder, known: CodingKeys.self)
    }

    public func encode(to encoder: any Encoder) throws {
        try unknownFields.encode(to: encoder, known: CodingKeys.self)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(auxResources, forKey: .auxResources)
        try container.encodeIfPresent(compression, forKey: .compression)
        try container.encodeIfPresent(dataRaidGroupType, forKey: .dataRaidGroupType)
        try container.encodeIfPresent(priorityClassName, forKey: .priorityClassName)
        try container.encodeIfPresent(resources, forKey: .resources)
        try container.encodeIfPresent(roThresholdLimit, forKey: .roThresholdLimit)
        try container.encodeIfPresent(thickProvision, forKey: .thickProvision)
        try container.encodeIfPresent(tolerations, forKey: .tolerations)
        try container.encodeIfPresent(writeCacheGroupType, forKey: .writeCacheGroupType)
    }
}
