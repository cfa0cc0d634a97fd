import CStorCore
import CStorKubernetes
import FoundationEssentials

/// A condition of a CSPC or CSPI status.
public struct CStorPoolCondition: Codable, Hashable, Sendable {
    public var lastTransitionTime: KubernetesTime?
    public var lastUpdateTime: KubernetesTime?
    public var message: String?
    public var reason: String?
    public var status: String?
    public var type: String?
    /// Members this type has no property for, written back unchanged.
    public var unknownFields = UnknownFields()

    public init(
        lastTransitionTime: KubernetesTime? = nil,
        lastUpdateTime: KubernetesTime? = nil,
        message: String? = nil,
        reason: String? = nil,
        status: String? = nil,
        type: String? = nil
    ) {
        self.lastTransitionTime = lastTransitionTime
        self.lastUpdateTime = lastUpdateTime
        self.message = message
        self.reason = reason
        self.status = status
        self.type = type
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case lastTransitionTime
        case lastUpdateTime
        case message
        case reason
        case status
        case type
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        lastTransitionTime = try container.decodeIfPresent(KubernetesTime.self, forKey: .lastTransitionTime)
        lastUpdateTime = try container.decodeIfPresent(KubernetesTime.self, forKey: .lastUpdateTime)
        message = try container.decodeIfPresent(String.self, forKey: .message)
        reason = try container.decodeIfPresent(String.self, forKey: .reason)
        status = try container.decodeIfPresent(String.self, forKey: .status)
        type = try container.decodeIfPresent(String.self, forKey: .type)
        unknownFields = try UnknownFields(from: decoder, known: CodingKeys.self)
    }

    public func encode(to encoder: any Encoder) throws {
        try unknownFields.encode(to: encoder, known: CodingKeys.self)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(lastTransitionTime, forKey: .lastTransitionTime)
        try container.encodeIfPresent(lastUpdateTime, forKey: .lastUpdateTime)
        try container.encodeIfPresent(message, forKey: .message)
        try container.encodeIfPresent(reason, forKey: .reason)
        try container.encodeIfPresent(status, forKey: .status)
        try container.encodeIfPresent(type, forKey: .type)
    }
}
