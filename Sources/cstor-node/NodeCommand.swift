import ArgumentParser
import CLibMount
import CLibUdev
import CStorCore
import Foundation
import Logging
import NIOPosix

/// cstor-node: the CSI Identity and Node services of cstor-csi.
@main
struct NodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cstor-node",
        abstract: "CSI node plugin for OpenEBS cStor volumes.",
        version: BuildInfo.version)

    @OptionGroup var common: CommonOptions

    @Option(help: "This node's name as Kubernetes knows it (default: the NODE_ID environment variable).")
    var nodeID: String?

    func validate() throws {
        guard resolvedNodeID() != nil else {
            throw ValidationError("the node id is missing: pass --node-id or set NODE_ID")
        }
    }

    func resolvedNodeID() -> String? {
        let value = nodeID ?? ProcessInfo.processInfo.environment["NODE_ID"]
        guard let value, !value.isEmpty else { return nil }
        return value
    }

    func run() async throws {
        LogSetup.bootstrap(component: "node", format: common.logFormat.format, level: common.logLevel.level)
        let logger = Logger(label: "cstor-csi.node")
        let nodeID = resolvedNodeID() ?? ""
        let eventLoopGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let identity = IdentityService(
            name: common.driverName,
            manifest: ["component": "node", "build": BuildInfo.configuration],
            capabilities: [.service(.volumeAccessibilityConstraints)],
            logger: logger)
        let node = NodeService(logger: logger)
        logger.notice(
            "starting",
            metadata: ["version": .string(BuildInfo.version), "driver": .string(common.driverName), "node_id": .string(nodeID)])
        do {
            try await PluginRunner.run(
                common: common, services: [identity, node],
                interceptors: [RPCLoggingInterceptor(logger: logger)], eventLoopGroup: eventLoopGroup, logger: logger)
        } catch {
            logger.critical("exiting", metadata: ["error": .string(String(describing: error))])
            throw ExitCode.failure
        }
    }
}
