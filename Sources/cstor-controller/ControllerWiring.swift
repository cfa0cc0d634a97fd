import CStorCore
import CStorKubernetes
import CStorKubernetesHTTP
import CStorModel
import FoundationEssentials
import Glibc
import Logging
import NIOPosix
import ServiceLifecycle

/// Builds the controller's pieces from its flags: the only place that knows which engine and
/// which real implementations stand behind the seams.
struct ControllerWiring {
    let engine: any VolumeEngine
    let identity: IdentityService
    let controller: ControllerService
    let background: [any Service]
    let eventLoopGroup: MultiThreadedEventLoopGroup

    struct StartupError: Error, CustomStringConvertible {
        let description: String
    }

    init(command: ControllerCommand, logger: Logger) throws {
        eventLoopGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        // The cstor engine in a cluster (or with a kubeconfig); the local one anywhere else.
        let choice = command.engine ?? (command.kubernetes.hasConfiguration() ? .cstor : .local)
        switch choice {
        case .local:
            guard let directory = PathRules.normalizedAbsolute(command.stateDir) else {
                throw StartupError(description: "--state-dir \(command.stateDir) is not a clean absolute path")
            }
            let nodes = command.nodes.isEmpty ? [LocalEngine.hostname()] : command.nodes
            for node in nodes where IdentifierRules.volumeIDProblem(node) != nil {
                throw StartupError(description: "--node \(node) is not a node id (letters, digits, '.', '_', '-')")
            }
            engine = try LocalEngine(stateDirectory: directory, nodes: Set(nodes), logger: logger)
            logger.notice("local engine", metadata: ["state_dir": .string(directory), "nodes": .array(nodes.map { .string($0) })])
            background = []
        case .cstor:
            guard let configuration = try command.kubernetes.configuration() else {
                throw StartupError(
                    description: "the cstor engine needs the Kubernetes API: run in a cluster, or pass --kubeconfig (or set KUBECONFIG)")
            }
            let client = try HTTPKubernetesClient(
                configuration: configuration, logger: logger,
                observer: command.common.metricsAddress.isEmpty ? nil : KubernetesAPIMetrics.observer,
                eventLoopGroup: eventLoopGroup)
            logger.notice(
                "using the Kubernetes API", metadata: ["server": .string(configuration.server), "source": .string(configuration.source)])
            let cstor = CStorEngine(
                client: client, target: GRPCSnapshotTarget(port: command.targetSnapshotPort),
                settings: .init(
                    namespace: command.resolvedNamespace, provisionTimeout: .seconds(command.provisionTimeout),
                    expandTimeout: .seconds(command.expandTimeout), snapshotTimeout: .seconds(command.snapshotTimeout)),
                logger: logger)
            engine = cstor
            // The client is shut down last (services stop in reverse order).
            background = [ClientShutdown(client: client)] + cstor.informers
        }
        let engine = self.engine
        // The cstor engine's check asks the API server; answer Probes from a recent result.
        let readiness = CachedReadiness(lifetime: .seconds(command.probeCacheSeconds)) { await engine.readiness() }
        controller = ControllerService(
            engine: engine, locks: VolumeLocks(), operations: AsyncSemaphore(limit: command.maxConcurrentOperations),
            logger: logger)
        identity = IdentityService(
            name: command.common.driverName,
            manifest: ["component": "controller", "build": BuildInfo.configuration, "engine": engine.name],
            logger: logger,
            readiness: { await readiness.current() })
    }
}
