import ArgumentParser
import CStorCore
import Foundation
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

    @Option(help: "The volume engine: cstor (CStorVolumeConfigs through the Kubernetes API) or local (files on this machine). Default: cstor in a cluster or with a kubeconfig, else local.")
    var engine: EngineChoice?

    @Option(help: "Where the local engine keeps its volume files and metadata.")
    var stateDir: String = "/var/lib/cstor-csi/local"

    @Option(help: "Largest number of operations running at once (towards the API server or the disk).")
    var maxConcurrentOperations: Int = 32

    enum EngineChoice: String, ExpressibleByArgument, CaseIterable {
        case cstor, local
    }

    func validate() throws {
        guard maxConcurrentOperations > 0 else { throw ValidationError("--max-concurrent-operations must be positive") }
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
                eventLoopGroup: wiring.eventLoopGroup, logger: logger)
        } catch {
            logger.critical("exiting", metadata: ["error": .string(String(describing: error))])
            throw ExitCode.failure
        }
    }
}
