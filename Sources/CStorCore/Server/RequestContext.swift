import Logging

/// What a handler knows about the RPC it serves: the request id and the volume it acts on. The
/// logging interceptor sets it as a task-local around the handler, so that every log line a handler
/// writes through `RequestContext.logger(_:)` carries the same `request_id`, `method` and
/// `volume_id` as the interceptor's own lines.
public struct RequestContext: Sendable {
    public var requestID: String
    public var method: String

    @TaskLocal public static var current: RequestContext?

    public init(requestID: String, method: String) {
        self.requestID = requestID
        self.method = method
    }

    /// The base logger with the current RPC's metadata added (or the base logger outside an RPC).
    public static func logger(_ base: Logger, volumeID: String? = nil) -> Logger {
        var logger = base
        if let current {
            logger[metadataKey: "request_id"] = .string(current.requestID)
            logger[metadataKey: "method"] = .string(current.method)
        }
        if let volumeID, !volumeID.isEmpty {
            logger[metadataKey: "volume_id"] = .string(volumeID)
        }
        return logger
    }

    /// A random 16-hex-digit request id.
    public static func newRequestID() -> String {
        let value = UInt64.random(in: .min ... .max)
        let hex = String(value, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
