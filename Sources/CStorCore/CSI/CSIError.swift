import GRPCCore

/// The one error type the CSI services throw. Each case is a gRPC status code that the CSI
/// specification names for a situation, with a message a human can act on. Lower layers throw
/// their own errors (`ExecError`, `KubernetesError`, ...); the service layer maps them here, and
/// grpc-swift turns a `CSIError` into the status the client sees.
public enum CSIError: Error, Equatable, Sendable {
    case invalidArgument(String)
    case notFound(String)
    case alreadyExists(String)
    case failedPrecondition(String)
    case outOfRange(String)
    case aborted(String)
    case unavailable(String)
    case resourceExhausted(String)
    case deadlineExceeded(String)
    case unimplemented(String)
    case `internal`(String)

    public var code: RPCError.Code {
        switch self {
        case .invalidArgument: .invalidArgument
        case .notFound: .notFound
        case .alreadyExists: .alreadyExists
        case .failedPrecondition: .failedPrecondition
        case .outOfRange: .outOfRange
        case .aborted: .aborted
        case .unavailable: .unavailable
        case .resourceExhausted: .resourceExhausted
        case .deadlineExceeded: .deadlineExceeded
        case .unimplemented: .unimplemented
        case .internal: .internalError
        }
    }

    public var message: String {
        switch self {
        case .invalidArgument(let message), .notFound(let message), .alreadyExists(let message),
            .failedPrecondition(let message), .outOfRange(let message), .aborted(let message),
            .unavailable(let message), .resourceExhausted(let message),
            .deadlineExceeded(let message), .unimplemented(let message), .internal(let message):
            message
        }
    }

    /// The same kind of error with more context in front of the message.
    public func prefixed(_ context: String) -> CSIError {
        let text = "\(context): \(message)"
        switch self {
        case .invalidArgument: return .invalidArgument(text)
        case .notFound: return .notFound(text)
        case .alreadyExists: return .alreadyExists(text)
        case .failedPrecondition: return .failedPrecondition(text)
        case .outOfRange: return .outOfRange(text)
        case .aborted: return .aborted(text)
        case .unavailable: return .unavailable(text)
        case .resourceExhausted: return .resourceExhausted(text)
        case .deadlineExceeded: return .deadlineExceeded(text)
        case .unimplemented: return .unimplemented(text)
        case .internal: return .internal(text)
        }
    }
}

extension CSIError: RPCErrorConvertible {
    public var rpcErrorCode: RPCError.Code { code }
    public var rpcErrorMessage: String { message }
}

extension CSIError: CustomStringConvertible {
    public var description: String { "\(code): \(message)" }
}

/// An error of a lower layer that knows which CSI error it amounts to. The service layer uses this
/// to map errors in one place (`CSIError.from(_:)`).
public protocol CSIErrorMappable: Error {
    var csiError: CSIError { get }
}

extension CSIError {
    /// Maps any error a handler caught to the CSI error the client should see. Errors that carry
    /// no mapping become `internal` with their description, never an empty UNKNOWN.
    public static func from(_ error: any Error) -> CSIError {
        switch error {
        case let csi as CSIError:
            return csi
        case let mappable as any CSIErrorMappable:
            return mappable.csiError
        case let rpc as RPCError:
            return CSIError(code: rpc.code, message: rpc.message)
        case is CancellationError:
            return .aborted("the operation was cancelled; retry it")
        default:
            return .internal(String(describing: error))
        }
    }

    public init(code: RPCError.Code, message: String) {
        switch code {
        case .invalidArgument: self = .invalidArgument(message)
        case .notFound: self = .notFound(message)
        case .alreadyExists: self = .alreadyExists(message)
        case .failedPrecondition: self = .failedPrecondition(message)
        case .outOfRange: self = .outOfRange(message)
        case .aborted: self = .aborted(message)
        case .unavailable: self = .unavailable(message)
        case .resourceExhausted: self = .resourceExhausted(message)
        case .deadlineExceeded: self = .deadlineExceeded(message)
        case .unimplemented: self = .unimplemented(message)
        default: self = .internal(message)
        }
    }
}
