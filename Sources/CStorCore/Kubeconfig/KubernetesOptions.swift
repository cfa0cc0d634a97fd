import ArgumentParser
import CStorCore
import CStorKubernetes
import FoundationEssentials
import Glibc

/// Flags for the Kubernetes API client, shared by both plugins.
public struct KubernetesOptions: ParsableArguments {
    @Option(help: "Path of a kubeconfig file (default: $KUBECONFIG, then the in-cluster service account).")
    public var kubeconfig: String?

    @Option(name: .customLong("kube-api-qps"), help: "Sustained requests per second to the Kubernetes API.")
    public var kubeAPIQPS: Double = 20

    @Option(name: .customLong("kube-api-burst"), help: "Requests allowed in a burst above --kube-api-qps.")
    public var kubeAPIBurst: Int = 30

    @Option(name: .customLong("kube-api-timeout"), help: "Seconds one Kubernetes API request may take.")
    public var kubeAPITimeout: Int = 30

    public init() {}

    public func validate() throws {
        guard kubeAPIQPS > 0 else { throw ValidationError("--kube-api-qps must be positive") }
        guard kubeAPIBurst >= 1 else { throw ValidationError("--kube-api-burst must be at least 1") }
        guard kubeAPITimeout >= 1 else { throw ValidationError("--kube-api-timeout must be at least 1 second") }
    }

    /// Which configuration the flags and the environment point to, without reading it.
    public func source(
        environment: [String: String] = ProcessInfo.processInfo.environment,
        serviceAccountDirectory: String = KubernetesConfiguration.serviceAccountDirectory
    ) -> KubernetesConfigurationSource {
        if let kubeconfig, !kubeconfig.isEmpty { return .kubeconfigFlag(kubeconfig) }
        let paths = (environment["KUBECONFIG"] ?? "").split(separator: ":").map(String.init).filter { !$0.isEmpty }
        if !paths.isEmpty { return .kubeconfigEnvironment(paths) }
        if let host = environment["KUBERNETES_SERVICE_HOST"], !host.isEmpty,
            FileManager.default.fileExists(atPath: serviceAccountDirectory + "/token")
        {
            return .inCluster
        }
        return .none
    }

    /// Whether there is any Kubernetes configuration at all (a kubeconfig or in-cluster).
    public func hasConfiguration(
        environment: [String: String] = ProcessInfo.processInfo.environment,
        serviceAccountDirectory: String = KubernetesConfiguration.serviceAccountDirectory
    ) -> Bool {
        source(environment: environment, serviceAccountDirectory: serviceAccountDirectory) != .none
    }

    /// The configuration the flags point to, with the rate limit and timeout applied; nil when there
    /// is none. Throws a `.configuration` error when it exists but is broken.
    public func configuration(
        environment: [String: String] = ProcessInfo.processInfo.environment,
        serviceAccountDirectory: String = KubernetesConfiguration.serviceAccountDirectory
    ) throws -> KubernetesConfiguration? {
        var configuration: KubernetesConfiguration
        switch source(environment: environment, serviceAccountDirectory: serviceAccountDirectory) {
        case .kubeconfigFlag(let path):
            configuration = try .kubeconfig(path: path)
        case .kubeconfigEnvironment(let paths):
            configuration = try .kubeconfig(paths: paths)
        case .inCluster:
            configuration = try .inCluster(environment: environment, serviceAccountDirectory: serviceAccountDirectory)
        case .none:
            return nil
        }
        configuration.queriesPerSecond = kubeAPIQPS
        configuration.burst = kubeAPIBurst
        configuration.requestTimeout = .seconds(kubeAPITimeout)
        return configuration
    }
}
