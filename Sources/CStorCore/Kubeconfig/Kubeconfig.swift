import CStorCore
import CStorKubernetes
import FoundationEssentials
import Glibc
import Yams

/// A kubeconfig file as kubectl writes it (the parts a client needs), and the rules that turn one or
/// more of them into a `KubernetesConfiguration`.
struct Kubeconfig: Decodable {
    var currentContext: String?
    var clusters: [Named<Cluster>]?
    var contexts: [Named<Context>]?
    var users: [Named<User>]?

    enum CodingKeys: String, CodingKey {
        case currentContext = "current-context"
        case clusters, contexts, users
    }

    struct Named<Value: Decodable>: Decodable {
        var name: String
        var value: Value?

        enum CodingKeys: String, CodingKey {
            case name, cluster, context, user
        }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            name = try container.decode(String.self, forKey: .name)
            for key in [CodingKeys.cluster, .context, .user] where container.contains(key) {
                value = try container.decodeIfPresent(Value.self, forKey: key)
            }
        }
    }

    struct Cluster: Decodable {
        var server: String?
        var certificateAuthority: String?
        var certificateAuthorityData: String?
        var insecureSkipTLSVerify: Bool?
        var tlsServerName: String?
        var proxyURL: String?

        enum CodingKeys: String, CodingKey {
            case server
            case certificateAuthority = "certificate-authority"
            case certificateAuthorityData = "certificate-authority-data"
            case insecureSkipTLSVerify = "insecure-skip-tls-verify"
            case tlsServerName = "tls-server-name"
            case proxyURL = "proxy-url"
        }
    }

    struct Context: Decodable {
        var cluster: String?
        var user: String?
        var namespace: String?
    }

    struct User: Decodable {
        var token: String?
        var tokenFile: String?
        var clientCertificate: String?
        var clientCertificateData: String?
        var clientKey: String?
        var clientKeyData: String?
        var username: String?
        var exec: Ignored?
        var authProvider: Ignored?

        enum CodingKeys: String, CodingKey {
            case token, tokenFile, username, exec
            case clientCertificate = "client-certificate"
            case clientCertificateData = "client-certificate-data"
            case clientKey = "client-key"
            case clientKeyData = "client-key-data"
            case authProvider = "auth-provider"
        }
    }

    /// A member whose presence matters, not its content.
    struct Ignored: Decodable {
        init(from decoder: any Decoder) throws {}
    }

    /// Reads and parses one file.
    static func load(path: String) throws -> Kubeconfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            let reason = FileManager.default.fileExists(atPath: path) ? "it cannot be read" : "no such file"
            throw KubernetesError(.configuration, "cannot read kubeconfig \(path): \(reason)")
        }
        let text = String(decoding: data, as: UTF8.self)
        do {
            // An empty file is an empty kubeconfig, as for kubectl.
            if text.trimmed.isEmpty { return Kubeconfig() }
            return try YAMLDecoder().decode(Kubeconfig.self, from: text)
        } catch {
            throw KubernetesError(
                .configuration, "kubeconfig \(path) is not a valid kubeconfig: \(Self.describe(error))", underlying: error)
        }
    }

    init() {}

    private static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context),
            DecodingError.keyNotFound(_, let context), DecodingError.dataCorrupted(let context):
            let path = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
            return path.isEmpty ? context.debugDescription : "\(path): \(context.debugDescription)"
        default:
            return String(describing: error)
        }
    }
}

extension KubernetesConfiguration {
    /// The configuration of a kubeconfig context: `context`, or the file's `current-context`.
    /// Several files merge like `KUBECONFIG=a:b` does for kubectl: the first file that names a
    /// cluster, user or context (or sets `current-context`) wins. Relative file paths in a file are
    /// relative to that file.
    public static func kubeconfig(paths: [String], context requestedContext: String? = nil) throws -> KubernetesConfiguration {
        guard !paths.isEmpty else { throw KubernetesError(.configuration, "no kubeconfig file given") }
        var currentContext: String?
        var clusters: [String: (Kubeconfig.Cluster, directory: String)] = [:]
        var contexts: [String: Kubeconfig.Context] = [:]
        var users: [String: (Kubeconfig.User, directory: String)] = [:]
        for path in paths {
            let file = try Kubeconfig.load(path: path)
            let directory = Path.parent(path)
            if currentContext == nil, let current = file.currentContext, !current.isEmpty { currentContext = current }
            for entry in file.clusters ?? [] where clusters[entry.name] == nil {
                clusters[entry.name] = (entry.value ?? Kubeconfig.Cluster(), directory)
            }
            for entry in file.contexts ?? [] where contexts[entry.name] == nil {
                contexts[entry.name] = entry.value ?? Kubeconfig.Context()
            }
            for entry in file.users ?? [] where users[entry.name] == nil {
                users[entry.name] = (entry.value ?? Kubeconfig.User(), directory)
            }
        }
        let files = paths.joined(separator: ":")
        guard let contextName = requestedContext ?? currentContext else {
            throw KubernetesError(
                .configuration,
                "kubeconfig \(files) has no current-context; choose one with `kubectl config use-context NAME`")
        }
        guard let context = contexts[contextName] else {
            throw KubernetesError(.configuration, "kubeconfig \(files) has no context named \"\(contextName)\"")
        }
        guard let clusterName = context.cluster, let (cluster, clusterDirectory) = clusters[clusterName] else {
            throw KubernetesError(
                .configuration,
                "kubeconfig \(files): context \"\(contextName)\" refers to cluster \"\(context.cluster ?? "")\", "
                    + "which is not defined")
        }
        guard let server = cluster.server, !server.isEmpty else {
            throw KubernetesError(.configuration, "kubeconfig \(files): cluster \"\(clusterName)\" has no server")
        }
        guard server.hasPrefix("https://") || server.hasPrefix("http://") else {
            throw KubernetesError(
                .configuration, "kubeconfig \(files): server \"\(server)\" of cluster \"\(clusterName)\" is not an http(s) URL")
        }
        var configuration = KubernetesConfiguration(
            server: server, namespace: context.namespace, source: "kubeconfig \(files), context \(contextName)")
        configuration.insecureSkipTLSVerify = cluster.insecureSkipTLSVerify ?? false
        configuration.certificateAuthorityPEM = try pem(
            data: cluster.certificateAuthorityData, file: cluster.certificateAuthority, directory: clusterDirectory,
            what: "certificate-authority of cluster \"\(clusterName)\"")
        if cluster.tlsServerName != nil {
            configuration.warnings.append("tls-server-name of cluster \"\(clusterName)\" is not supported and is ignored")
        }
        if cluster.proxyURL != nil {
            configuration.warnings.append("proxy-url of cluster \"\(clusterName)\" is not supported and is ignored")
        }
        if let userName = context.user, !userName.isEmpty {
            guard let (user, userDirectory) = users[userName] else {
                throw KubernetesError(
                    .configuration,
                    "kubeconfig \(files): context \"\(contextName)\" refers to user \"\(userName)\", which is not defined")
            }
            if user.exec != nil || user.authProvider != nil {
                throw KubernetesError(
                    .configuration,
                    "kubeconfig \(files): user \"\(userName)\" authenticates with an exec or auth-provider plugin, "
                        + "which cstor-csi does not run; use a token, a token file or a client certificate")
            }
            if user.username != nil {
                configuration.warnings.append("basic authentication of user \"\(userName)\" is not supported and is ignored")
            }
            if let token = user.token, !token.isEmpty {
                configuration.credentials = .token(token)
            } else if let tokenFile = user.tokenFile, !tokenFile.isEmpty {
                let path = resolve(tokenFile, directory: userDirectory)
                guard FileManager.default.isReadableFile(atPath: path) else {
                    throw KubernetesError(
                        .configuration, "kubeconfig \(files): cannot read the tokenFile \(path) of user \"\(userName)\"")
                }
                configuration.credentials = .tokenFile(path)
            }
            configuration.clientCertificatePEM = try pem(
                data: user.clientCertificateData, file: user.clientCertificate, directory: userDirectory,
                what: "client-certificate of user \"\(userName)\"")
            configuration.clientKeyPEM = try pem(
                data: user.clientKeyData, file: user.clientKey, directory: userDirectory,
                what: "client-key of user \"\(userName)\"")
            if (configuration.clientCertificatePEM == nil) != (configuration.clientKeyPEM == nil) {
                throw KubernetesError(
                    .configuration,
                    "kubeconfig \(files): user \"\(userName)\" needs both a client certificate and a client key")
            }
        }
        return configuration
    }

    /// One kubeconfig file.
    public static func kubeconfig(path: String, context: String? = nil) throws -> KubernetesConfiguration {
        try kubeconfig(paths: [path], context: context)
    }

    private static func resolve(_ path: String, directory: String) -> String {
        path.hasPrefix("/") || directory.isEmpty ? path : directory + "/" + path
    }

    /// Inline base64 data wins over a file, as in kubectl.
    private static func pem(data: String?, file: String?, directory: String, what: String) throws -> [UInt8]? {
        if let data, !data.isEmpty {
            let compact = data.filter { !$0.isWhitespace }
            guard let decoded = Data(base64Encoded: compact) else {
                throw KubernetesError(.configuration, "kubeconfig: \(what) data is not valid base64")
            }
            return Array(decoded)
        }
        if let file, !file.isEmpty {
            return try readFile(resolve(file, directory: directory), what: what)
        }
        return nil
    }
}
