import GRPCCore
import GRPCNIOTransportHTTP2Posix
import Logging
import NIOPosix
import ServiceLifecycle

/// The gRPC server of a CSI plugin as a ServiceLifecycle service: binds the endpoint (taking over
/// a stale socket, never a live one), serves the registered CSI services through the interceptors
/// over `CSIServerTransport` (deadlines, and which RPCs run on the event loop), and on graceful
/// shutdown stops accepting, lets in-flight RPCs finish and removes the socket.
public struct CSIServer: Service {
    private let endpoint: Endpoint
    private let services: [any RegistrableRPCService]
    private let interceptors: [any ServerInterceptor]
    private let eventLoopGroup: MultiThreadedEventLoopGroup
    private let logger: Logger
    private let onListening: @Sendable (String) async -> Void

    /// The methods that run on the event loop's thread (`CSIServerTransport`): frequent, and
    /// answered from memory without blocking. NodeGetVolumeStats is not one: statvfs can hang on a
    /// dead device.
    public static let loopMethods: Set<String> = [
        "Probe", "GetPluginInfo", "GetPluginCapabilities", "ControllerGetCapabilities", "NodeGetCapabilities",
        "GroupControllerGetCapabilities", "NodeGetInfo",
    ]

    public init(
        endpoint: Endpoint, services: [any RegistrableRPCService], interceptors: [any ServerInterceptor],
        eventLoopGroup: MultiThreadedEventLoopGroup, logger: Logger,
        onListening: @escaping @Sendable (String) async -> Void = { _ in }
    ) {
        self.endpoint = endpoint
        self.services = services
        self.interceptors = interceptors
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        self.onListening = onListening
    }

    public func run() async throws {
        let address: GRPCNIOTransportCore.SocketAddress
        switch endpoint {
        case .unix(let path):
            let outcome = try SocketGuard.prepare(path: path)
            if outcome == .removedStaleSocket {
                logger.notice("removed a stale socket left by an earlier process", metadata: ["path": .string(path)])
            }
            address = .unixDomainSocket(path: path)
        case .tcp(let host, let port):
            address = host.contains(":") ? .ipv6(host: host, port: port) : .ipv4(host: host, port: port)
        }
        let transport = HTTP2ServerTransport.Posix(
            address: address, transportSecurity: .plaintext,
            config: .defaults { $0.rpc.maxRequestPayloadSize = CSIServerTransport.transportRequestBytes },
            eventLoopGroup: eventLoopGroup)
        let eventLoop = eventLoopGroup.any()
        let server = GRPCServer(
            transport: CSIServerTransport(wrapping: transport, eventLoop: eventLoop, loopMethods: Self.loopMethods),
            services: services, interceptors: interceptors)
        let loopExecutor = EventLoopTaskExecutor(eventLoop: eventLoop)
        defer {
            if case .unix(let path) = endpoint { SocketGuard.remove(path: path) }
        }
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { try await withTaskExecutorPreference(loopExecutor) { try await server.serve() } }
                let bound = try await transport.listeningAddress
                logger.notice("listening", metadata: ["endpoint": .string(endpoint.description), "address": "\(bound)"])
                await onListening("\(bound)")
            }
        } onGracefulShutdown: {
            logger.notice("shutting down: no new RPCs, waiting for in-flight ones")
            server.beginGracefulShutdown()
        }
        logger.notice("stopped")
    }
}

extension CSIServer: CustomStringConvertible {
    // ServiceLifecycle logs services by description; keep it to what an operator needs.
    public var description: String { "CSIServer(\(endpoint))" }
}
