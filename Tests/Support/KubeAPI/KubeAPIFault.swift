/// A failure the test API server injects into the next matching requests.
public struct KubeAPIFault: Sendable {
    public enum Action: Sendable {
        /// Answer with this status code and a Status object (e.g. 500, or 429 with Retry-After).
        case status(code: Int, reason: String, message: String, retryAfter: Int?)
        /// Never answer; the request hangs until the client gives up and closes the connection.
        case hang
        /// Close the connection without answering (the request is not processed).
        case closeConnection
        /// Process the request, then close the connection without answering (a lost answer).
        case dropResponse
        /// Serve the watch, but cut the connection (without ending the chunked body) after this
        /// many events.
        case dropWatch(afterEvents: Int)
    }

    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`; nil for any.
    public var verb: String?
    /// A part of the URL path the request must contain; nil for any.
    public var pathContains: String?
    public var action: Action
    /// How many matching requests it affects.
    public var times: Int

    public init(verb: String? = nil, pathContains: String? = nil, action: Action, times: Int = 1) {
        self.verb = verb
        self.pathContains = pathContains
        self.action = action
        self.times = times
    }

    public static func serverError(verb: String? = nil, path: String? = nil, times: Int = 1) -> KubeAPIFault {
        KubeAPIFault(
            verb: verb, pathContains: path,
            action: .status(code: 500, reason: "InternalError", message: "Internal error occurred: injected fault", retryAfter: nil),
            times: times)
    }

    public static func tooManyRequests(verb: String? = nil, path: String? = nil, retryAfter: Int, times: Int = 1) -> KubeAPIFault {
        KubeAPIFault(
            verb: verb, pathContains: path,
            action: .status(
                code: 429, reason: "TooManyRequests", message: "the server has received too many requests and has asked us to try again later",
                retryAfter: retryAfter),
            times: times)
    }

    public static func hang(verb: String? = nil, path: String? = nil, times: Int = 1) -> KubeAPIFault {
        KubeAPIFault(verb: verb, pathContains: path, action: .hang, times: times)
    }

    public static func dropResponse(verb: String? = nil, path: String? = nil, times: Int = 1) -> KubeAPIFault {
        KubeAPIFault(verb: verb, pathContains: path, action: .dropResponse, times: times)
    }

    public static func closeConnection(verb: String? = nil, path: String? = nil, times: Int = 1) -> KubeAPIFault {
        KubeAPIFault(verb: verb, pathContains: path, action: .closeConnection, times: times)
    }

    public static func dropWatch(path: String? = nil, afterEvents: Int, times: Int = 1) -> KubeAPIFault {
        KubeAPIFault(verb: "watch", pathContains: path, action: .dropWatch(afterEvents: afterEvents), times: times)
    }

    func matches(verb: String, path: String) -> Bool {
        (self.verb == nil || self.verb == verb) && (pathContains.map { path.contains($0) } ?? true)
    }
}
