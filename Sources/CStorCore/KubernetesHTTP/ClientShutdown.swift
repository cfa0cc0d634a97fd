import CStorCore
import CStorKubernetes
import ServiceLifecycle

/// Closes the Kubernetes client's connections when the process shuts down (after the CSI server
/// stopped: services stop in reverse order).
public struct ClientShutdown: Service, CustomStringConvertible {
    public let client: HTTPKubernetesClient

    public init(client: HTTPKubernetesClient) {
        self.client = client
    }

    public func run() async throws {
        try? await gracefulShutdown()
        try await client.shutdown()
    }

    public var description: String { "KubernetesClient" }
}
