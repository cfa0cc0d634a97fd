/// Where the Kubernetes configuration comes from, in the order the plugins look: the
/// `--kubeconfig` flag, then `KUBECONFIG`, then the in-cluster service account. `none` means
/// neither (the controller then defaults to the local engine).
import CStorCore

public enum KubernetesConfigurationSource: Sendable, Hashable, CustomStringConvertible {
    case kubeconfigFlag(String)
    case kubeconfigEnvironment([String])
    case inCluster
    case none

    public var description: String {
        switch self {
        case .kubeconfigFlag(let path): "--kubeconfig \(path)"
        case .kubeconfigEnvironment(let paths): "KUBECONFIG=\(paths.joined(separator: ":"))"
        case .inCluster: "in-cluster service account"
        case .none: "no Kubernetes configuration"
        }
    }
}
