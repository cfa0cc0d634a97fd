import CStorCore
import CStorKubernetes
import CStorModel
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix

/// Both plugins on the embedded local engine, the way the demo runs them: the controller keeps
/// volume files in its state directory, the node attaches them as loop devices under its own
/// kubelet directory. `tearDown()` removes every mount and loop device left behind.
public final class LocalCluster: @unchecked Sendable {
    public let node: NodeHarness
    public let stateDirectory: String
    public let controllerSocket: String
    public private(set) var controller: PluginProcess?
    public let controllerArguments: [String]

    public init(controllerArguments: [String] = [], nodeArguments: [String] = []) throws {
        let harness = try NodeHarness(extraArguments: nodeArguments)
        node = harness
        stateDirectory = harness.directory.file("engine")
        controllerSocket = harness.directory.file("controller.sock")
        self.controllerArguments = ["--engine", "local", "--state-dir", stateDirectory, "--node", NodeHarness.nodeID] + controllerArguments
    }

    /// Starts the controller, then the node with the controller's volume directory as its loop directory.
    public func start() async throws {
        try await startController()
        try await node.start()
    }

    public func startController(environment: [String: String] = [:]) async throws {
        let process = try PluginProcess(
            binary: "cstor-controller", socketPath: controllerSocket, arguments: controllerArguments,
            logDirectory: node.directory.url, environment: environment)
        controller = process
        try await process.waitUntilServing()
    }

    public func controllerClient<T: Sendable>(
        _ body: (Csi_V1_Controller.Client<HTTP2ClientTransport.Posix>) async throws -> T
    ) async throws -> T {
        try await withCSIClient(socket: controllerSocket) { try await body(Csi_V1_Controller.Client(wrapping: $0)) }
    }

    public func tearDown() async {
        _ = try? await controller?.stop(signal: SIGKILL)
        await node.tearDown()
    }
}

/// Runs `body` with both plugins started; always tears down and attaches both logs to a failure.
public func withLocalCluster(
    controllerArguments: [String] = [], _ body: (LocalCluster) async throws -> Void
) async throws {
    let cluster = try LocalCluster(controllerArguments: controllerArguments)
    do {
        try await cluster.start()
        try await body(cluster)
    } catch {
        let logs = "--- controller log ---\n\(cluster.controller?.logText().suffix(5000) ?? "")\n--- node log ---\n\(cluster.node.process?.logText().suffix(5000) ?? "")"
        await cluster.tearDown()
        throw TestFailure("\(error)\n\(logs)")
    }
    await cluster.tearDown()
}
