/// A patch to send with `KubernetesClient.patch`: a JSON merge patch (RFC 7386: objects merge, `null`
/// deletes a member, arrays are replaced) or a JSON patch (RFC 6902: a list of operations, with
/// `test` to make it conditional).
import CStorCore

public enum KubernetesPatch: Sendable, Hashable {
    case merge(JSONValue)
    case json([JSONPatchOperation])

    /// The `Content-Type` the API server expects for the patch.
    public var contentType: String {
        switch self {
        case .merge: "application/merge-patch+json"
        case .json: "application/json-patch+json"
        }
    }

    /// The patch document.
    public var document: JSONValue {
        switch self {
        case .merge(let value): value
        case .json(let operations): .array(operations.map(\.jsonValue))
        }
    }

    /// A merge patch is idempotent (applying it twice gives the same object), so it may be retried
    /// after a server error; a JSON patch may insert twice, unless it tests the resourceVersion.
    public var isIdempotent: Bool {
        switch self {
        case .merge: return true
        case .json(let operations):
            return operations.contains { $0.op == .test && $0.path == "/metadata/resourceVersion" }
        }
    }
}
