import GRPCCore
import Logging
import NIOPosix
import Prometheus
import ServiceLifecycle
import UnixSignals

/// Runs a plugin process: its CSI server and any background services (metrics, monitors) in one
/// ServiceGroup. SIGTERM and SIGINT start a graceful shutdown; after the grace period whatever is
/// still running is cancelled. Every RPC goes through the logging interceptor (and the metrics
/// observer when `--metrics-address` is set) and the error-mapping interceptor.
public enum PluginRunner {
    /// Installs the log handler and, with `--metrics-address`, the metrics system. Call it first
    /// thing: metrics created before it would go nowhere.
    public static func bootstrap(component: String, common: CommonOptions) -> Observability {
        LogSetup.bootstrap(component: component, format: common.logFormat.format, level: common.logLevel.level)
        return Observability(registry: common.metricsAddress.isEmpty ? nil : MetricsServer.bootstrapMetrics())
    }

    /// What `bootstrap` set up, handed to `run`.
    public struct Observability: Sendable {
        let registry: PrometheusCollectorRegistry?
    }

    public static func run(
        common: CommonOptions, observability: Observability, services: [any RegistrableRPCService],
        background: [any Service] = [], eventLoopGroup: MultiThreadedEventLoopGroup, logger: Logger
    ) async throws {
        var background = background
        var observer: (any RPCObserver)?
        if let registry = observability.registry {
            background.insert(
                try MetricsServer(address: common.metricsAddress, registry: registry, eventLoopGroup: eventLoopGroup, logger: logger),
                at: 0)
            observer = RPCMetrics()
        }
        let server = CSIServer(
            endpoint: try common.parsedEndpoint(), services: services,
            interceptors: [RPCLoggingInterceptor(logger: logger, observer: observer), ErrorMappingInterceptor()],
            eventLoopGroup: eventLoopGroup, logger: logger)
        var configuration = ServiceGroupConfiguration(
            services: (background + [server]).map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) },
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger)
        configuration.maximumGracefulShutdownDuration = .seconds(common.shutdownGracePeriod)
        try await ServiceGroup(configuration: configuration).run()
    }
}
