import GRPCCore
import Logging
import NIOPosix
import ServiceLifecycle

/// Runs a plugin process: its CSI server and any background services (metrics, monitors) in one
/// ServiceGroup. SIGTERM and SIGINT start a graceful shutdown; after the grace period whatever is
/// still running is cancelled.
public enum PluginRunner {
    public static func run(
        common: CommonOptions, services: [any RegistrableRPCService], background: [any Service] = [],
        interceptors: [any ServerInterceptor], eventLoopGroup: MultiThreadedEventLoopGroup, logger: Logger,
        onListening: @escaping @Sendable (String) async -> Void = { _ in }
    ) async throws {
        let server = CSIServer(
            endpoint: try common.parsedEndpoint(), services: services, interceptors: interceptors,
            eventLoopGroup: eventLoopGroup, logger: logger, onListening: onListening)
        var configuration = ServiceGroupConfiguration(
            services: (background + [server]).map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) },
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger)
        configuration.maximumGracefulShutdownDuration = .seconds(common.shutdownGracePeriod)
        try await ServiceGroup(configuration: configuration).run()
    }
}
