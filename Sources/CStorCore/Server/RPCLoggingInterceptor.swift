import GRPCCore
import Logging
import Synchronization

/// Logs every RPC: one line when the request arrives (its body rendered as JSON with secrets
/// masked) and one when it ends, with `method`, `request_id`, `volume_id` (when the request names
/// one), `duration_ms` and `code`. Identity RPCs (kubelet's and the sidecars' probes) log at debug;
/// every Controller and Node RPC at info, so that the default level shows each with its code and
/// duration. A failure is a warning when the caller can act on it (its request, or a state that
/// passes) and an error when it is ours (INTERNAL, UNKNOWN, DATA_LOSS). Values are bounded
/// (`LogBounds`).
///
/// It also makes the request id and method available to the handler through `RequestContext`, and
/// reports every RPC to an optional observer (the metrics layer).
public struct RPCLoggingInterceptor: ServerInterceptor {
    private let logger: Logger
    private let quietMethods: Set<String>
    private let observer: (any RPCObserver)?

    /// The Identity RPCs: kubelet and the sidecars call them often, and they change nothing.
    public static let defaultQuietMethods: Set<String> = ["Probe", "GetPluginCapabilities", "GetPluginInfo"]

    public init(logger: Logger, quietMethods: Set<String> = defaultQuietMethods, observer: (any RPCObserver)? = nil) {
        self.logger = logger
        self.quietMethods = quietMethods
        self.observer = observer
    }

    public func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>,
        context: ServerContext,
        next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        let clock = ContinuousClock()
        let start = clock.now
        let method = context.descriptor.method
        let requestID = request.metadata[stringValues: "x-request-id"].first(where: { _ in true })
            ?? RequestContext.newRequestID()
        let level: Logger.Level = quietMethods.contains(method) ? .debug : .info
        let state = RPCLogState()
        observer?.started(method: method)

        // Loggers, metadata and renderings are built only for lines that are written: at the
        // default level the quiet methods write none, and this is per-call work.
        let logger = self.logger
        @Sendable func lineLogger(volumeID: String?) -> Logger {
            var line = logger
            line[metadataKey: "method"] = .string(method)
            line[metadataKey: "request_id"] = .string(requestID)
            if let volumeID, !volumeID.isEmpty { line[metadataKey: "volume_id"] = .string(LogBounds.cut(volumeID)) }
            return line
        }

        var request = request
        request.messages = RPCAsyncSequence(
            wrapping: request.messages.map { message in
                let volumeID = (message as? any CSIVolumeScoped)?.volumeIDForLog
                state.setVolumeID(volumeID)
                if logger.logLevel <= level {
                    var line = lineLogger(volumeID: volumeID)
                    if let snapshotID = (message as? any CSISnapshotScoped)?.snapshotIDForLog, !snapshotID.isEmpty {
                        line[metadataKey: "snapshot_id"] = .string(LogBounds.cut(snapshotID))
                    }
                    line.log(level: level, "request", metadata: ["request": Self.body(message)])
                }
                return message
            })

        @Sendable func finish(code: String, message: String?, response: (@Sendable () -> Logger.Metadata.Value?)? = nil) {
            let seconds = Self.seconds(start.duration(to: clock.now))
            let finishLevel: Logger.Level = code == "ok" ? level : (Self.ourFaults.contains(code) ? .error : .warning)
            if logger.logLevel <= finishLevel {
                var metadata: Logger.Metadata = [
                    "code": .string(code),
                    "duration_ms": .stringConvertible(seconds * 1000),
                ]
                if let message { metadata["error"] = .string(message) }
                if let body = response?() { metadata["response"] = body }
                lineLogger(volumeID: state.volumeID).log(level: finishLevel, "response", metadata: metadata)
            }
            observer?.finished(method: method, code: code, seconds: seconds)
        }

        let rpcContext = RequestContext(requestID: requestID, method: method)
        var response: StreamingServerResponse<Output>
        do {
            response = try await RequestContext.$current.withValue(rpcContext) {
                try await next(request, context)
            }
        } catch {
            let rpcError = Self.rpcError(error)
            finish(code: Self.codeName(rpcError.code), message: rpcError.message)
            throw error
        }

        switch response.accepted {
        case .failure(let error):
            finish(code: Self.codeName(error.code), message: error.message)
        case .success(var contents):
            let producer = contents.producer
            contents.producer = { writer in
                let capture = CapturingWriter(wrapping: writer)
                do {
                    let trailers = try await RequestContext.$current.withValue(rpcContext) {
                        try await producer(RPCWriter(wrapping: capture))
                    }
                    finish(code: "ok", message: nil, response: { capture.loggedBody })
                    return trailers
                } catch {
                    let rpcError = Self.rpcError(error)
                    finish(code: Self.codeName(rpcError.code), message: rpcError.message)
                    throw error
                }
            }
            response.accepted = .success(contents)
        }
        return response
    }

    /// The codes that say the plugin failed, not the caller.
    static let ourFaults: Set<String> = ["internal", "unknown", "data_loss"]

    static func body(_ message: Any) -> Logger.Metadata.Value {
        if let json = MessageRedactor.json(message) {
            return .stringConvertible(RawJSON(json))
        }
        return .string("\(type(of: message))")
    }

    /// The error as the client will see it (same rules as grpc-swift's executor).
    static func rpcError(_ error: any Error) -> RPCError {
        switch error {
        case let rpc as RPCError:
            return rpc
        case let convertible as any RPCErrorConvertible:
            return RPCError(convertible)
        default:
            return RPCError(code: .unknown, message: String(describing: error))
        }
    }

    /// Lower-case gRPC code names as operators know them from grpc-go logs (`ok`, `not_found`, ...).
    public static func codeName(_ code: RPCError.Code) -> String {
        switch code {
        case .cancelled: "cancelled"
        case .unknown: "unknown"
        case .invalidArgument: "invalid_argument"
        case .deadlineExceeded: "deadline_exceeded"
        case .notFound: "not_found"
        case .alreadyExists: "already_exists"
        case .permissionDenied: "permission_denied"
        case .resourceExhausted: "resource_exhausted"
        case .failedPrecondition: "failed_precondition"
        case .aborted: "aborted"
        case .outOfRange: "out_of_range"
        case .unimplemented: "unimplemented"
        case .internalError: "internal"
        case .unavailable: "unavailable"
        case .dataLoss: "data_loss"
        case .unauthenticated: "unauthenticated"
        default: "code_\(code.rawValue)"
        }
    }

    static func seconds(_ duration: Duration) -> Double {
        let parts = duration.components
        return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
    }
}

/// Sees every RPC start and finish (the metrics layer implements it).
public protocol RPCObserver: Sendable {
    func started(method: String)
    func finished(method: String, code: String, seconds: Double)
}

/// Mutable per-RPC state shared between the request stream and the completion log line.
private final class RPCLogState: Sendable {
    private let volume = Mutex<String?>(nil)

    var volumeID: String? { volume.withLock { $0 } }

    func setVolumeID(_ value: String?) {
        guard let value else { return }
        volume.withLock { $0 = value }
    }
}

/// Passes messages through to the real writer and keeps the last one, rendered for the log only
/// when a line asks for it.
private final class CapturingWriter<Element: Sendable>: RPCWriterProtocol, Sendable {
    private let base: RPCWriter<Element>
    private let last = Mutex<Element?>(nil)

    init(wrapping base: RPCWriter<Element>) {
        self.base = base
    }

    var loggedBody: Logger.Metadata.Value? { last.withLock { $0 }.map { RPCLoggingInterceptor.body($0) } }

    func write(_ element: Element) async throws {
        last.withLock { $0 = element }
        try await base.write(element)
    }

    func write(contentsOf elements: some Sequence<Element>) async throws {
        for element in elements {
            try await write(element)
        }
    }
}
