import CStorCore

/// An answer of the test API server: an HTTP status and a JSON body.
public struct KubeAPIResponse: Sendable {
    public var status: Int
    public var body: JSONValue
    public var headers: [(String, String)]

    public init(status: Int, body: JSONValue, headers: [(String, String)] = []) {
        self.status = status
        self.body = body
        self.headers = headers
    }

    /// A `Status` failure as kube-apiserver writes it.
    public static func failure(
        _ code: Int, reason: String, message: String, details: JSONValue? = nil, retryAfter: Int? = nil
    ) -> KubeAPIResponse {
        var body: [String: JSONValue] = [
            "kind": "Status", "apiVersion": "v1", "metadata": [:], "status": "Failure",
            "message": .string(message), "reason": .string(reason), "code": .int(Int64(code)),
        ]
        var details = details
        if let retryAfter {
            var members = details?.objectValue ?? [:]
            members["retryAfterSeconds"] = .int(Int64(retryAfter))
            details = .object(members)
        }
        if let details { body["details"] = details }
        return KubeAPIResponse(
            status: code, body: .object(body), headers: retryAfter.map { [("Retry-After", String($0))] } ?? [])
    }

    /// `{name, group, kind}` of a Status, naming the resource by its plural as the API server does.
    public static func details(_ resource: KubernetesResource, name: String, uid: String? = nil, causes: [JSONValue]? = nil) -> JSONValue {
        var members: [String: JSONValue] = ["name": .string(name), "kind": .string(resource.plural)]
        if !resource.group.isEmpty { members["group"] = .string(resource.group) }
        if let uid { members["uid"] = .string(uid) }
        if let causes { members["causes"] = .array(causes) }
        return .object(members)
    }

    public static func notFound(_ resource: KubernetesResource, name: String) -> KubeAPIResponse {
        failure(404, reason: "NotFound", message: "\(resource) \"\(name)\" not found", details: details(resource, name: name))
    }

    public static func invalid(_ resource: KubernetesResource, name: String, field: String, message: String) -> KubeAPIResponse {
        let cause: JSONValue = ["reason": "FieldValueInvalid", "message": .string(message), "field": .string(field)]
        return failure(
            422, reason: "Invalid", message: "\(resource.kind).\(resource.group) \"\(name)\" is invalid: \(field): \(message)",
            details: details(resource, name: name, causes: [cause]))
    }

    public static func badRequest(_ message: String) -> KubeAPIResponse {
        failure(400, reason: "BadRequest", message: message)
    }
}

/// A failure answer can travel as the error of a `Result`.
extension KubeAPIResponse: Error {}
