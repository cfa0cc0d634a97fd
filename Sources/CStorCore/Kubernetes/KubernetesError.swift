/// A failed Kubernetes API call, as a value callers can switch on (`error.kind`). It carries the
/// decoded `Status` of the API server, whose message reaches the logs and, through `csiError`, the
/// gRPC error the CSI sidecars see.
import CStorCore
import FoundationEssentials
import NIOHTTP1

public struct KubernetesError: Error, Sendable, CustomStringConvertible {
    /// What went wrong, from the HTTP status and the Status reason.
    public enum Kind: String, Sendable, CaseIterable {
        /// 404: the object (or the resource: CRDs missing) does not exist.
        case notFound
        /// 409 AlreadyExists: a create found an object of that name.
        case alreadyExists
        /// 409 Conflict: the resourceVersion or a precondition is stale; re-read and retry.
        case conflict
        /// 410: the resourceVersion (of a watch or a continue token) is too old.
        case gone
        /// 422: the object is invalid; `causes` lists the fields.
        case invalid
        /// 400: the request is malformed.
        case badRequest
        /// 401: the credentials were not accepted.
        case unauthorized
        /// 403: RBAC does not allow the call.
        case forbidden
        /// 405 or 415: the resource does not support the verb or the content type.
        case methodNotAllowed
        /// 429: the API server asks to slow down (`retryAfter`).
        case tooManyRequests
        /// 5xx other than a timeout.
        case serverError
        /// The call (or a wait) did not finish in time.
        case timeout
        /// The connection failed: refused, reset, TLS handshake, DNS.
        case transport
        /// The response was not what the API promises (undecodable JSON, unexpected status).
        case unexpectedResponse
        /// The client configuration (kubeconfig, in-cluster files) is missing or broken.
        case configuration
    }

    public var kind: Kind
    /// What happened, for humans; includes the API server's Status message when there is one.
    public var message: String
    /// The Status object the API server sent, if any.
    public var status: KubernetesStatus?
    /// The HTTP status code, if a response arrived.
    public var httpStatus: Int?
    /// The call, e.g. `get cstorvolumeconfigs.cstor.openebs.io openebs/pvc-1`.
    public var operation: String?
    /// How long the server asked to wait (429 and some 5xx).
    public var retryAfter: Duration?
    /// The lower-level error (transport, decoding), if any.
    public var underlying: (any Error)?

    public init(
        _ kind: Kind, _ message: String, status: KubernetesStatus? = nil, httpStatus: Int? = nil,
        operation: String? = nil, retryAfter: Duration? = nil, underlying: (any Error)? = nil
    ) {
        self.kind = kind
        self.message = message
        self.status = status
        self.httpStatus = httpStatus
        self.operation = operation
        self.retryAfter = retryAfter
        self.underlying = underlying
    }

    /// The invalid fields of a 422 response.
    public var causes: [KubernetesStatus.Cause] { status?.details?.causes ?? [] }

    public var description: String {
        var text = ""
        if let operation { text += "\(operation): " }
        text += message
        if let httpStatus, status == nil || !message.contains("HTTP \(httpStatus)") {
            text += " (HTTP \(httpStatus))"
        }
        return text
    }

    /// The kind of error an HTTP status code and a Status reason stand for.
    public static func kind(httpStatus: Int, reason: String?) -> Kind {
        switch httpStatus {
        case 400: return .badRequest
        case 401: return .unauthorized
        case 403: return .forbidden
        case 404: return .notFound
        case 405, 406, 415: return .methodNotAllowed
        case 409: return reason == "AlreadyExists" ? .alreadyExists : .conflict
        case 410: return .gone
        case 422: return .invalid
        case 429: return .tooManyRequests
        case 504: return reason == "Timeout" || reason == "ServerTimeout" ? .timeout : .serverError
        case 500...599: return .serverError
        default: return .unexpectedResponse
        }
    }
}

extension KubernetesError: CSIErrorMappable {
    /// One place decides what a CSI client sees for a Kubernetes failure: retryable conditions
    /// become UNAVAILABLE or ABORTED (the sidecars retry), RBAC problems FAILED_PRECONDITION with a
    /// hint for the operator. An object the API refuses (422) was built by this driver, so it is
    /// INTERNAL with the server's causes: the sidecars retry it rather than give up on the volume.
    /// Where a refused value came from the request or the StorageClass, the engine says so and
    /// answers INVALID_ARGUMENT itself.
    public var csiError: CSIError {
        let text = description
        switch kind {
        case .notFound: return .notFound(text)
        case .alreadyExists: return .alreadyExists(text)
        case .conflict, .gone: return .aborted(text + "; retry")
        case .invalid:
            let fields = causes.map { cause in
                [cause.field, cause.message].compactMap { $0 }.joined(separator: ": ")
            }
            return .internal(
                (fields.isEmpty ? text : text + " [" + fields.joined(separator: "; ") + "]")
                    + "; the Kubernetes API refused an object cstor-csi built: this is a bug in cstor-csi")
        case .forbidden:
            return .failedPrecondition(
                text + "; the Kubernetes API refused the call: check the RBAC rules (ClusterRole and binding) "
                    + "of the controller's service account")
        case .unauthorized:
            return .unavailable(
                text + "; the Kubernetes API did not accept the credentials: check the service account token "
                    + "or the kubeconfig user")
        case .tooManyRequests, .serverError, .timeout, .transport:
            return .unavailable(text)
        case .badRequest, .methodNotAllowed, .unexpectedResponse:
            return .internal(text)
        case .configuration:
            return .failedPrecondition(text)
        }
    }
}

extension KubernetesError {
    /// The error for a non-2xx answer of the API server: its Status (reason, message, retry-after)
    /// when the body is one, else the body's first 300 characters or the HTTP reason phrase.
    /// `retryAfter` is the Retry-After header, if any.
    public static func response(code: Int, retryAfter header: String?, body: [UInt8], operation: String) -> KubernetesError {
        let decoded = try? JSONDecoder().decode(KubernetesStatus.self, from: Data(body))
        let status = decoded?.kind == "Status" ? decoded : nil
        let kind = KubernetesError.kind(httpStatus: code, reason: status?.reason)
        var message: String
        if let text = status?.message, !text.isEmpty {
            message = text
        } else {
            let raw = String(decoding: body, as: UTF8.self).trimmed
            message = raw.isEmpty ? HTTPResponseStatus(statusCode: code).reasonPhrase : String(raw.prefix(300))
        }
        if let reason = status?.reason, !reason.isEmpty {
            message = "\(reason): \(message)"
        }
        var retryAfter: Duration?
        if let header, let seconds = Int(header.trimmedSpaces) {
            retryAfter = .seconds(max(seconds, 0))
        } else if let seconds = status?.details?.retryAfterSeconds {
            retryAfter = .seconds(max(seconds, 0))
        }
        return KubernetesError(
            kind, message, status: status, httpStatus: code, operation: operation, retryAfter: retryAfter)
    }
}
