import CStorCore
import CStorKubernetes
import CStorModel
import GRPCCore
import GRPCNIOTransportHTTP2Posix

/// Calls a plugin over its unix socket with a real gRPC client, one connection per closure.
public func withCSIClient<Result: Sendable>(
    socket path: String,
    _ body: (GRPCClient<HTTP2ClientTransport.Posix>) async throws -> Result
) async throws -> Result {
    try await CSIConnection.with(endpoint: .unix(path: path), body)
}

/// The gRPC status code of a failed call, or nil when the call succeeded.
public func rpcCode<T>(_ call: () async throws -> T) async -> RPCError.Code? {
    do {
        _ = try await call()
        return nil
    } catch let error as RPCError {
        return error.code
    } catch {
        return .unknown
    }
}

/// The gRPC error of a failed call (nil when it succeeded).
public func rpcError<T>(_ call: () async throws -> T) async -> RPCError? {
    do {
        _ = try await call()
        return nil
    } catch let error as RPCError {
        return error
    } catch {
        return RPCError(code: .unknown, message: "\(error)")
    }
}
