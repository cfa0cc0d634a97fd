/// One request the test API server received.
public struct KubeAPIRequestRecord: Sendable, Hashable {
    public var method: String
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection`,
    /// `discovery` or `other`.
    public var verb: String
    public var path: String
    public var query: [String: String]
    /// The status the server answered (200 for a watch it served, 0 when it did not answer).
    public var status: Int
    /// The request body as text (empty for a GET).
    public var body: String = ""
    /// The authenticated user (empty when authentication failed).
    public var user: String = ""
    /// What RBAC decided on.
    public var attributes: KubeAPIRequestAttributes = KubeAPIRequestAttributes(verb: "")
    /// When it arrived.
    public var at: ContinuousClock.Instant = .now
}
