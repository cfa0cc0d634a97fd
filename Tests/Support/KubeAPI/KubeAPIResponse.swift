import CStorCore
import CStorKubernetes
import CStorModel

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

    /// 422 Invalid as kube-apiserver's `NewInvalid` writes it: `<Kind>.<group> "<name>" is
    /// invalid: <errors>`, with one cause per error and the kind (not the plural) in the details.
    public static func invalid(_ resource: KubernetesResource, name: String, errors: [FieldError]) -> KubeAPIResponse {
        let qualifiedKind = resource.group.isEmpty ? resource.kind : "\(resource.kind).\(resource.group)"
        var details: [String: JSONValue] = ["name": .string(name), "kind": .string(resource.kind), "causes": .array(errors.map(\.cause))]
        if !resource.group.isEmpty { details["group"] = .string(resource.group) }
        return failure(
            422, reason: "Invalid", message: "\(qualifiedKind) \(FieldError.goQuote(name)) is invalid: \(errors.aggregated)",
            details: .object(details))
    }

    /// Adds kube-apiserver's `Warning` headers (e.g. `unknown field "spec.x"` for pruned fields).
    func warning(_ texts: [String]) -> KubeAPIResponse {
        var response = self
        for text in texts {
            response.headers.append(("Warning", "299 - \(FieldError.goQuote(text))"))
        }
        return response
    }

    public static func badRequest(_ message: String) -> KubeAPIResponse {
        failure(400, reason: "BadRequest", message: message)
    }
}

/// A failure answer can travel as the error of a `Result`.
extension KubeAPIResponse: Error {}
