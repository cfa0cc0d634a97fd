/// The `Status` object (`meta/v1`) the API server sends with a failed call (and with some successful
/// deletes): `reason` says what kind of failure, `message` says it for humans, `details.causes` lists
/// the invalid fields.
import CStorCore

public struct KubernetesStatus: Codable, Hashable, Sendable {
    public var kind: String?
    public var apiVersion: String?
    public var metadata: JSONValue?
    /// `Success` or `Failure`.
    public var status: String?
    public var message: String?
    /// `NotFound`, `AlreadyExists`, `Conflict`, `Invalid`, `Expired`, ...
    public var reason: String?
    public var details: Details?
    public var code: Int?
    /// Members this type has no property for, written back unchanged.
    public var unknownFields = UnknownFields()

    public init(
        kind: String? = nil,
        apiVersion: String? = nil,
        metadata: JSONValue? = nil,
        status: String? = nil,
        message: String? = nil,
        reason: String? = nil,
        details: Details? = nil,
        code: Int? = nil
    ) {
        self.kind = kind
        self.apiVersion = apiVersion
        self.metadata = metadata
        self.status = status
        self.message = message
        self.reason = reason
        self.details = details
        self.code = code
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case kind
        case apiVersion
        case metadata
        case status
        case message
        case reason
        case details
        case code
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        kind = try container.decodeIfPresent(String.self, forKey: .kind)
        apiVersion = try container.decodeIfPresent(String.self, forKey: .apiVersion)
        metadata = try container.decodeIfPresent(JSONValue.self, forKey: .metadata)
        status = try container.decodeIfPresent(String.self, forKey: .status)
        message = try container.decodeIfPresent(String.self, forKey: .message)
        reason = try container.decodeIfPresent(String.self, forKey: .reason)
        details = try container.decodeIfPresent(Details.self, forKey: .details)
        code = try container.decodeIfPresent(Int.self, forKey: .code)
        unknownFields = try UnknownFields(from: decoder, known: CodingKeys.self)
    }

    public func encode(to encoder: any Encoder) throws {
        try unknownFields.encode(to: encoder, known: CodingKeys.self)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(kind, forKey: .kind)
        try container.encodeIfPresent(apiVersion, forKey: .apiVersion)
        try container.encodeIfPresent(metadata, forKey: .metadata)
        try container.encodeIfPresent(status, forKey: .status)
        try container.encodeIfPresent(message, forKey: .message)
        try container.encodeIfPresent(reason, forKey: .reason)
        try container.encodeIfPresent(details, forKey: .details)
        try container.encodeIfPresent(code, forKey: .code)
    }

    /// Which object the status is about, and why.
    public struct Details: Codable, Hashable, Sendable {
        public var name: String?
        public var group: String?
        public var kind: String?
        public var uid: String?
        public var causes: [Cause]?
        public var retryAfterSeconds: Int?
        /// Members this type has no property for, written back unchanged.
        public var unknownFields = UnknownFields()

        public init(
            name: String? = nil,
            group: String? = nil,
            kind: String? = nil,
            uid: String? = nil,
            causes: [Cause]? = nil,
            retryAfterSeconds: Int? = nil
        ) {
            self.name = name
            self.group = group
            self.kind = kind
            self.uid = uid
            self.causes = causes
            self.retryAfterSeconds = retryAfterSeconds
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case name
            case group
            case kind
            case uid
            case causes
            case retryAfterSeconds
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            name = try container.decodeIfPresent(String.self, forKey: .name)
            group = try container.decodeIfPresent(String.self, forKey: .group)
            kind = try container.decodeIfPresent(String.self, forKey: .kind)
            uid = try container.decodeIfPresent(String.self, forKey: .uid)
            causes = try container.decodeIfPresent([Cause].self, forKey: .causes)
            retryAfterSeconds = try container.decodeIfPresent(Int.self, forKey: .retryAfterSeconds)
            unknownFields = try UnknownFields(from: decoder, known: CodingKeys.self)
        }

        public func encode(to encoder: any Encoder) throws {
            try unknownFields.encode(to: encoder, known: CodingKeys.self)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encodeIfPresent(name, forKey: .name)
            try container.encodeIfPresent(group, forKey: .group)
            try container.encodeIfPresent(kind, forKey: .kind)
            try container.encodeIfPresent(uid, forKey: .uid)
            try container.encodeIfPresent(causes, forKey: .causes)
            try container.encodeIfPresent(retryAfterSeconds, forKey: .retryAfterSeconds)
        }
    }

    /// One reason a request was invalid, often naming the field.
    public struct Cause: Codable, Hashable, Sendable {
        public var reason: String?
        public var message: String?
        public var field: String?
        /// Members this type has no property for, written back unchanged.
        public var unknownFields = UnknownFields()

        public init(
            reason: String? = nil,
            message: String? = nil,
            field: String? = nil
        ) {
            self.reason = reason
            self.message = message
            self.field = field
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case reason
            case message
            case field
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            reason = try container.decodeIfPresent(String.self, forKey: .reason)
            message = try container.decodeIfPresent(String.self, forKey: .message)
            field = try container.decodeIfPresent(String.self, forKey: .field)
            unknownFields = try UnknownFields(from: decoder, known: CodingKeys.self)
        }

        public func encode(to encoder: any Encoder) throws {
            try unknownFields.encode(to: encoder, known: CodingKeys.self)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encodeIfPresent(reason, forKey: .reason)
            try container.encodeIfPresent(message, forKey: .message)
            try container.encodeIfPresent(field, forKey: .field)
        }
    }
}
