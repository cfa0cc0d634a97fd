/// A core/v1 Event: what `kubectl describe` shows about an object.
import CStorCore

public struct KubernetesEvent: Codable, Hashable, Sendable, KubernetesResourceObject {
    public static let resource = KubernetesResource.events

    public var apiVersion: String
    public var kind: String
    public var metadata: ObjectMeta
    public var involvedObject: ObjectReference
    public var reason: String?
    public var message: String?
    /// `Normal` or `Warning`.
    public var type: String?
    public var source: Source?
    public var count: Int32?
    public var firstTimestamp: KubernetesTime?
    public var lastTimestamp: KubernetesTime?
    public var eventTime: KubernetesTime?
    public var action: String?
    public var reportingComponent: String?
    public var reportingInstance: String?
    public var related: ObjectReference?
    public var series: JSONValue?
    /// Members this type has no property for, written back unchanged.
    public var unknownFields = UnknownFields()

    public init(
        apiVersion: String = KubernetesEvent.resource.apiVersion,
        kind: String = KubernetesEvent.resource.kind,
        metadata: ObjectMeta = ObjectMeta(),
        involvedObject: ObjectReference = ObjectReference(),
        reason: String? = nil,
        message: String? = nil,
        type: String? = nil,
        source: Source? = nil,
        count: Int32? = nil,
        firstTimestamp: KubernetesTime? = nil,
        lastTimestamp: KubernetesTime? = nil,
        eventTime: KubernetesTime? = nil,
        action: String? = nil,
        reportingComponent: String? = nil,
        reportingInstance: String? = nil,
        related: ObjectReference? = nil,
        series: JSONValue? = nil
    ) {
        self.apiVersion = apiVersion
        self.kind = kind
        self.metadata = metadata
        self.involvedObject = involvedObject
        self.reason = reason
        self.message = message
        self.type = type
        self.source = source
        self.count = count
        self.firstTimestamp = firstTimestamp
        self.lastTimestamp = lastTimestamp
        self.eventTime = eventTime
        self.action = action
        self.reportingComponent = reportingComponent
        self.reportingInstance = reportingInstance
        self.related = related
        self.series = series
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case apiVersion
        case kind
        case metadata
        case involvedObject
        case reason
        case message
        case type
        case source
        case count
        case firstTimestamp
        case lastTimestamp
        case eventTime
        case action
        case reportingComponent
        case reportingInstance
        case related
        case series
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        apiVersion = try container.decodeIfPresent(String.self, forKey: .apiVersion) ?? KubernetesEvent.resource.apiVersion
        kind = try container.decodeIfPresent(String.self, forKey: .kind) ?? KubernetesEvent.resource.kind
        metadata = try container.decodeIfPresent(ObjectMeta.self, forKey: .metadata) ?? ObjectMeta()
        involvedObject = try container.decodeIfPresent(ObjectReference.self, forKey: .involvedObject) ?? ObjectReference()
        reason = try container.decodeIfPresent(String.self, forKey: .reason)
        message = try container.decodeIfPresent(String.self, forKey: .message)
        type = try container.decodeIfPresent(String.self, forKey: .type)
        source = try container.decodeIfPresent(Source.self, forKey: .source)
        count = try container.decodeIfPresent(Int32.self, forKey: .count)
        firstTimestamp = try container.decodeIfPresent(KubernetesTime.self, forKey: .firstTimestamp)
        lastTimestamp = try container.decodeIfPresent(KubernetesTime.self, forKey: .lastTimestamp)
        eventTime = try container.decodeIfPresent(KubernetesTime.self, forKey: .eventTime)
        action = try container.decodeIfPresent(String.self, forKey: .action)
        reportingComponent = try container.decodeIfPresent(String.self, forKey: .reportingComponent)
        reportingInstance = try container.decodeIfPresent(String.self, forKey: .reportingInstance)
        related = try container.decodeIfPresent(ObjectReference.self, forKey: .related)
        series = try container.decodeIfPresent(JSONValue.self, forKey: .series)
        unknownFields = try UnknownFields(from: decoder, known: CodingKeys.self)
    }

    public func encode(to encoder: any Encoder) throws {
        try unknownFields.encode(to: encoder, known: CodingKeys.self)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(apiVersion, forKey: .apiVersion)
        try container.encode(kind, forKey: .kind)
        try container.encode(metadata, forKey: .metadata)
        try container.encode(involvedObject, forKey: .involvedObject)
        try container.encodeIfPresent(reason, forKey: .reason)
        try container.encodeIfPresent(message, forKey: .message)
        try container.encodeIfPresent(type, forKey: .type)
        try container.encodeIfPresent(source, forKey: .source)
        try container.encodeIfPresent(count, forKey: .count)
        try container.encodeIfPresent(firstTimestamp, forKey: .firstTimestamp)
        try container.encodeIfPresent(lastTimestamp, forKey: .lastTimestamp)
        try container.encodeIfPresent(eventTime, forKey: .eventTime)
        try container.encodeIfPresent(action, forKey: .action)
        try container.encodeIfPresent(reportingComponent, forKey: .reportingComponent)
        try container.encodeIfPresent(reportingInstance, forKey: .reportingInstance)
        try container.encodeIfPresent(related, forKey: .related)
        try container.encodeIfPresent(series, forKey: .series)
    }

    /// Who reported the event.
    public struct Source: Codable, Hashable, Sendable {
        public var component: String?
        public var host: String?
        /// Members this type has no property for, written back unchanged.
        public var unknownFields = UnknownFields()

        public init(
            component: String? = nil,
            host: String? = nil
        ) {
            self.component = component
            self.host = host
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case component
            case host
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            component = try container.decodeIfPresent(String.self, forKey: .component)
            host = try container.decodeIfPresent(String.self, forKey: .host)
            unknownFields = try UnknownFields(from: decoder, known: CodingKeys.self)
        }

        public func encode(to encoder: any Encoder) throws {
            try unknownFields.encode(to: encoder, known: CodingKeys.self)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encodeIfPresent(component, forKey: .component)
            try container.encodeIfPresent(host, forKey: .host)
        }
    }
}
