import GRPCCore
import GRPCNIOTransportHTTP2Posix

/// A gRPC client connection to a CSI endpoint, scoped to a closure (csictl and the tests use it).
public enum CSIConnection {
    public static func with<Result: Sendable>(
        endpoint: Endpoint,
        _ body: (GRPCClient<HTTP2ClientTransport.Posix>) async throws -> Result
    ) async throws -> Result {
        let target: any ResolvableTarget
        switch endpoint {
        case .unix(let path):
            target = .unixDomainSocket(path: path)
        case .tcp(let host, let port):
            if host.contains(":") {
                target = .ipv6(address: host, port: port)
            } else {
                target = .dns(host: host, port: port)
            }
        }
        let transport = try HTTP2ClientTransport.Posix(target: target, transportSecurity: .plaintext)
        return try await withGRPCClient(transport: transport) { client in
            try await body(client)
        }
    }
}
