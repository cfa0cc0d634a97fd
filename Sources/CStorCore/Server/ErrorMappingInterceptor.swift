import GRPCCore

/// The one place where errors become gRPC statuses: whatever a handler throws reaches the client
/// as the CSI error it amounts to (`CSIError.from`), never as an UNKNOWN with an empty message.
/// It sits inside the logging interceptor, so the logs show the code the client gets.
public struct ErrorMappingInterceptor: ServerInterceptor {
    public init() {}

    public func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>,
        context: ServerContext,
        next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        var response: StreamingServerResponse<Output>
        do {
            response = try await next(request, context)
        } catch {
            throw Self.map(error)
        }
        if case .success(var contents) = response.accepted {
            let producer = contents.producer
            contents.producer = { writer in
                do {
                    return try await producer(writer)
                } catch {
                    throw Self.map(error)
                }
            }
            response.accepted = .success(contents)
        }
        return response
    }

    static func map(_ error: any Error) -> any Error {
        if error is RPCError { return error }
        return CSIError.from(error)
    }
}
