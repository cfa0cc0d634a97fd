/// Requests and limits of resources (core/v1 `ResourceRequirements`, `VolumeResourceRequirements`).
import CStorCore

public struct ResourceRequirements: Codable, Hashable, Sendable {
    public var limits: [String: Quantity]?
    public var requests: [String: Quantity]?
    public var claims: [JSONValue]?
    /// Members this type has no property for, written back unchanged.
    public var unknownFields = UnknownFields()

    public init(
        limits: [String: Quantity]? = nil,
        requests: [String: Quantity]? = nil,
        claims: [JSONValue]? = nil
    ) {
        self.limits = limits
        self.requests = requests
        self.claims = claims
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case limits
        case requests
        case claims
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        limits = try container.decodeIfPresent([String: Quantity].self, forKey: .limits)
        requests = try container.decodeIfPresent([String: Quantity].self, forKey: .requests)
        claims = try container.decodeIfPresent([JSONValue].self, forKey: .claims)
        unknownFields = try UnknownFields(from: decoder, known: CodingKeys.self)
    }

    public func encode(to encoder: any Encoder) throws {
        try unknownFields.encode(to: encoder, known: CodingKeys.self)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(limits, forKey: .limits)
        try container.encodeIfPresent(requests, forKey: .requests)
        try container.encodeIfPresent(claims, forKey: .claims)
    }
}
