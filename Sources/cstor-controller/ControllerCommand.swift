import ArgumentParser
import CStorCore
import CStorKubeconfig
import CStorKubernetes
import CStorModel
import FoundationEssentials
import Glibc
import Logging
import NIOPosix

/// cstor-controller: the CSI Identity and Controller services of cstor-csi.
@main
struct ControllerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cstor-controller",
        abstract: "CSI controller plugin for OpenEBS cStor volumes.",
        version: BuildInfo.version)

    @OptionGroup var common: CommonOptions

    @OptionGroup var kubernetes: KubernetesOptions

    @Option(help: "The volume engine: cstor (CStorVolumeConfigs through the Kubernetes API) or local (files on this machine). Default: cstor in a cluster or with a kubeconfig, else local.")
    var engine: EngineChoice?

    @Option(help: "Where the local engine keeps its volume files and metadata.")
    var stateDir: String = "/var/lib/cstor-csi/local"

    @Option(
        name: .customLong("node"),
        help: "The local engine's nodes: a node id ControllerPublishVolume may attach to (repeat for more; default: this machine's hostname). Publishing to any other id is NotFound.")
    var nodes: [String] = []

    @Option(help: "Largest number of operations running at once (towards the API server or the disk).")
    var maxConcurrentOperations: Int = 32

    @Option(help: "The OpenEBS namespace holding the cStor resources (default: $OPENEBS_NAMESPACE, else openebs).")
    var namespace: String?

    @Option(help: "Seconds CreateVolume waits for the cvc-operator to bind a CStorVolumeConfig (the provisioner retries after).")
    var provisionTimeout: Int = 60

    @Option(help: "Seconds ControllerExpandVolume waits for the cvc-operator to grow a volume (the resizer retries after).")
    var expandTimeout: Int = 60

    @Option(help: "Seconds a volume target may take to cut or delete a snapshot.")
    var snapshotTimeout: Int = 60

    @Option(help: "The port of the volume targets' snapshot service (istgt serves it on 7777).")
    var targetSnapshotPort: Int = 7777

    @Option(help: "Seconds a readiness answer (API server reachable, CRDs present) is reused by Probe (0: check every time).")
    var probeCacheSeconds: Int = 10

    enum EngineChoice: String, ExpressibleByArgument, CaseIterable {
        case cstor, local
    }

    func validate() throws {
        guard maxConcurrentOperations > 0 else { throw ValidationError("--max-concurrent-operations must be positive") }
        guard provisionTimeout > 0, expandTimeout > 0, snapshotTimeout > 0 else {
            throw ValidationError("--provision-timeout, --expand-timeout and --snapshot-timeout must be positive")
        }
        guard (1...65535).contains(targetSnapshotPort) else { throw ValidationError("--target-snapshot-port must be a port number") }
        guard probeCacheSeconds >= 0 else { throw ValidationError("--probe-cache-seconds must not be negative") }
        if let namespace, IdentifierRules.volumeIDProblem(namespace) != nil {
            throw ValidationError("--namespace \(namespace) is not a namespace name")
        }
    }

    var resolvedNamespace: String {
        namespace ?? ProcessInfo.processInfo.environment["OPENEBS_NAMESPACE"].flatMap { $0.isEmpty ? nil : $0 } ?? "openebs"
    }

    func run() async throws {
        let observability = PluginRunner.bootstrap(component: "controller", common: common)
        let logger = Logger(label: "cstor-csi.controller")
        do {
            let wiring = try ControllerWiring(command: self, logger: logger)
            logger.notice(
                "starting",
                metadata: [
                    "version": .string(BuildInfo.version), "driver": .string(common.driverName),
                    "engine": .string(wiring.engine.name),
                ])
            try await PluginRunner.run(
                common: common, observability: observability, services: [wiring.identity, wiring.controller],
                background: wiring.background, eventLoopGroup: wiring.eventLoopGroup, logger: logger)
        } catch {
            logger.critical("exiting", metadata: ["error": .string(String(describing: error))])
            throw ExitCode.failure
        }
    }
}
