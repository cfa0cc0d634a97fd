import CStorCore
import FoundationEssentials
import Glibc

/// Everything needed to talk to one API server: where it is, how to trust it, who we are, and how
/// gently to call it. Made from the in-cluster service account (`inCluster()`) or a kubeconfig
/// (`kubeconfig(paths:context:)`); `KubernetesOptions` picks between them from the flags.
public struct KubernetesConfiguration: Sendable {
    /// How requests authenticate.
    public enum Credentials: Sendable, Hashable {
        case none
        /// A fixed bearer token.
        case token(String)
        /// A bearer token read from a file, re-read when the file changes (kubelet rotates
        /// projected service account tokens).
        case tokenFile(String)
    }

    /// The base URL, e.g. `https://10.96.0.1:443` (no trailing slash).
    public var server: String
    /// PEM certificates that sign the server's certificate; nil trusts the system's roots.
    public var certificateAuthorityPEM: [UInt8]?
    /// Skips verifying the server's certificate (kubeconfig `insecure-skip-tls-verify`).
    public var insecureSkipTLSVerify: Bool
    /// A PEM client certificate and key for TLS client authentication.
    public var clientCertificatePEM: [UInt8]?
    public var clientKeyPEM: [UInt8]?
    public var credentials: Credentials
    /// The namespace of the context or of the pod's service account, if known.
    public var namespace: String?
    /// Where the configuration came from, for logs ("in-cluster", "kubeconfig /path, context x").
    public var source: String
    /// Settings found but not supported (logged at start).
    public var warnings: [String]

    /// Sustained requests per second (client-side rate limit).
    public var queriesPerSecond: Double = 20
    /// Requests allowed in a burst above the sustained rate.
    public var burst: Int = 30
    /// How long one request may take (watches excepted).
    public var requestTimeout: Duration = .seconds(30)
    /// How long the client keeps trying to open a connection (AsyncHTTPClient retries a refused
    /// connection or a failed TLS handshake until then), at most `requestTimeout`.
    public var connectTimeout: Duration = .seconds(5)
    /// How often a failed request that is safe to repeat is tried in all.
    public var maxAttempts: Int = 5
    /// The first backoff between attempts; it doubles up to `maxBackoff`.
    public var initialBackoff: Duration = .milliseconds(200)
    public var maxBackoff: Duration = .seconds(5)
    /// The longest `Retry-After` honoured; a longer one fails the call with `.tooManyRequests`.
    public var maxRetryAfter: Duration = .seconds(60)
    public var userAgent: String = "cstor-csi/\(BuildInfo.version)"

    public init(
        server: String, certificateAuthorityPEM: [UInt8]? = nil, insecureSkipTLSVerify: Bool = false,
        clientCertificatePEM: [UInt8]? = nil, clientKeyPEM: [UInt8]? = nil, credentials: Credentials = .none,
        namespace: String? = nil, source: String = "explicit", warnings: [String] = []
    ) {
        self.server = server.hasSuffix("/") ? String(server.dropLast()) : server
        self.certificateAuthorityPEM = certificateAuthorityPEM
        self.insecureSkipTLSVerify = insecureSkipTLSVerify
        self.clientCertificatePEM = clientCertificatePEM
        self.clientKeyPEM = clientKeyPEM
        self.credentials = credentials
        self.namespace = namespace
        self.source = source
        self.warnings = warnings
    }

    /// Where a pod finds its service account: token, CA bundle and namespace.
    public static let serviceAccountDirectory = "/var/run/secrets/kubernetes.io/serviceaccount"

    /// The configuration of a process running in a pod: the API server from
    /// `KUBERNETES_SERVICE_HOST`/`_PORT`, the service account token (re-read when kubelet rotates
    /// it), the cluster CA and the pod's namespace.
    public static func inCluster(
        environment: [String: String] = ProcessInfo.processInfo.environment,
        serviceAccountDirectory: String = serviceAccountDirectory
    ) throws -> KubernetesConfiguration {
        guard let host = environment["KUBERNETES_SERVICE_HOST"], !host.isEmpty,
            let port = environment["KUBERNETES_SERVICE_PORT"], !port.isEmpty
        else {
            throw KubernetesError(
                .configuration,
                "no in-cluster configuration: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set "
                    + "(outside a pod, pass --kubeconfig or set KUBECONFIG)")
        }
        let tokenPath = serviceAccountDirectory + "/token"
        guard FileManager.default.isReadableFile(atPath: tokenPath) else {
            throw KubernetesError(
                .configuration,
                "no in-cluster configuration: cannot read the service account token \(tokenPath) "
                    + "(is automountServiceAccountToken disabled?)")
        }
        let caPath = serviceAccountDirectory + "/ca.crt"
        let ca = try readFile(caPath, what: "the cluster CA bundle")
        let namespace = (try? String(contentsOfFile: serviceAccountDirectory + "/namespace", encoding: .utf8))?
            .trimmed
        let hostPart = host.contains(":") ? "[\(host)]" : host
        return KubernetesConfiguration(
            server: "https://\(hostPart):\(port)", certificateAuthorityPEM: ca, credentials: .tokenFile(tokenPath),
            namespace: namespace?.isEmpty == false ? namespace : nil, source: "in-cluster service account")
    }

    package static func readFile(_ path: String, what: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            let reason = FileManager.default.fileExists(atPath: path) ? "it cannot be read" : "no such file"
            throw KubernetesError(.configuration, "cannot read \(what) \(path): \(reason)")
        }
        return Array(data)
    }
}
