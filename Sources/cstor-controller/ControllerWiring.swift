import CStorCore
import Foundation
import Logging
import NIOPosix

/// Builds the controller's pieces from its flags: the only place that knows which engine and
/// which real implementations stand behind the seams.
struct ControllerWiring {
    let engine: any VolumeEngine
    let identity: IdentityService
    let controller: ControllerService
    let eventLoopGroup: MultiThreadedEventLoopGroup

    struct StartupError: Error, CustomStringConvertible {
        let description: String
    }

    init(command: ControllerCommand, logger: Logger) throws {
        eventLoopGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let choice = command.engine ?? .local
        switch choice {
        case .local:
            guard let directory = PathRules.normalizedAbsolute(command.stateDir) else {
                throw StartupError(description: "--state-dir \(command.stateDir) is not a clean absolute path")
            }
            engine = try LocalEngine(stateDirectory: directory, logger: logger)
        case .cstor:
            throw StartupError(description: "the cstor engine needs the Kubernetes client")
        }
        let engine = self.engine
        controller = ControllerService(
            engine: engine, locks: VolumeLocks(), operations: AsyncSemaphore(limit: command.maxConcurrentOperations),
            logger: logger)
        identity = IdentityService(
            name: command.common.driverName,
            manifest: ["component": "controller", "build": BuildInfo.configuration, "engine": engine.name],
            capabilities: [.service(.controllerService), .service(.volumeAccessibilityConstraints)]
                + (engine.features.contains(.expansion) ? [.expansion(.online)] : []),
            logger: logger,
            readiness: { await engine.readiness() })
    }
}
