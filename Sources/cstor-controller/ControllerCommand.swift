import ArgumentParser
import CStorCore
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

    func run() async throws {
        LogSetup.bootstrap(component: "controller", format: common.logFormat.format, level: common.logLevel.level)
        let logger = Logger(label: "cstor-csi.controller")
        let eventLoopGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let identity = IdentityService(
            name: common.driverName,
            manifest: ["component": "controller", "build": BuildInfo.configuration],
            capabilities: [.service(.controllerService), .service(.volumeAccessibilityConstraints)],
            logger: logger)
        let controller = ControllerService(logger: logger)
        logger.notice("starting", metadata: ["version": .string(BuildInfo.version), "driver": .string(common.driverName)])
        do {
            try await PluginRunner.run(
                common: common, services: [identity, controller],
                interceptors: [RPCLoggingInterceptor(logger: logger), ErrorMappingInterceptor()], eventLoopGroup: eventLoopGroup, logger: logger)
        } catch {
            logger.critical("exiting", metadata: ["error": .string(String(describing: error))])
            throw ExitCode.failure
        }
    }
}
