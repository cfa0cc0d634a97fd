/// One HTTP request to the API server, as the metrics layer sees it.
import CStorCore

public struct KubernetesRequestRecord: Sendable, Hashable {
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete` or `discovery`.
    public var verb: String
    /// `plural.group` of the resource.
    public var resource: String
    /// The HTTP status code, or nil when no response arrived (transport error, timeout).
    public var statusCode: Int?
    /// From sending the request to the end of the response (the head, for a watch).
    public var duration: Duration

    public init(verb: String, resource: String, statusCode: Int?, duration: Duration) {
        self.verb = verb
        self.resource = resource
        self.statusCode = statusCode
        self.duration = duration
    }

    /// The duration in seconds, as metrics want it.
    public var seconds: Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}

/// Called after every request the client sends (retries included).
public typealias KubernetesRequestObserver = @Sendable (KubernetesRequestRecord) -> Void
