import ArgumentParser
import CSITestSupport
import CStorCore
import CStorKubeconfig
import CStorKubernetes
import CStorKubernetesHTTP
import CStorModel
import Foundation
import Testing

@Suite("Kubernetes configuration: kubeconfig, in-cluster, flags")
struct KubeconfigTests {
    static func base64(_ bytes: [UInt8]) -> String { Data(bytes).base64EncodedString() }

    /// A kubeconfig for `server` with one context whose user is `user` (YAML lines).
    static func kubeconfig(server: String, cluster: [String], user: [String], currentContext: String? = "test") -> String {
        var lines = ["apiVersion: v1", "kind: Config"]
        if let currentContext { lines.append("current-context: \(currentContext)") }
        lines += ["clusters:", "- name: test-cluster", "  cluster:", "    server: \(server)"]
        lines += cluster.map { "    " + $0 }
        lines += ["users:", "- name: test-user", "  user:"]
        lines += user.isEmpty ? ["    {}"] : user.map { "    " + $0 }
        lines += [
            "contexts:", "- name: test", "  context:", "    cluster: test-cluster", "    user: test-user", "    namespace: openebs",
        ]
        return lines.joined(separator: "\n") + "\n"
    }

    /// Loads a kubeconfig written to a temporary directory and lists CVCs through it against an
    /// HTTPS test server.
    func connect(
        clientCertificates: Bool = false, files: [String: [UInt8]] = [:],
        _ kubeconfig: (KubeAPITestServer, TestPKI) -> String
    ) async throws {
        let pki = try SharedPKI.require()
        let options = KubeAPITestServer.Options(tls: true, pki: pki, clientCertificates: clientCertificates, token: "kube-token")
        try await KubeAPITestServer.with(options) { server in
            try await withTemporaryDirectory { directory in
                for (name, content) in files {
                    try Data(content).write(to: directory.appendingPathComponent(name))
                }
                let path = directory.appendingPathComponent("config").path
                try kubeconfig(server, pki).write(toFile: path, atomically: true, encoding: .utf8)
                let configuration = try KubernetesConfiguration.kubeconfig(path: path)
                #expect(configuration.namespace == "openebs")
                #expect(configuration.source.contains(path))
                try await HTTPKubernetesClient.withClient(configuration: configuration, logger: LogCapture().logger) { client in
                    _ = try await client.list(CStorVolumeConfig.self, namespace: "openebs")
                }
            }
        }
    }

    @Test("kubeconfig with a token and inline CA data")
    func tokenAndCAData() async throws {
        try await connect { server, pki in
            Self.kubeconfig(
                server: server.baseURL, cluster: ["certificate-authority-data: \(Self.base64(pki.caPEM))"], user: ["token: kube-token"])
        }
    }

    @Test("kubeconfig with a token file and a CA file, both relative to the kubeconfig")
    func tokenFileAndCAFile() async throws {
        let pki = try SharedPKI.require()
        try await connect(files: ["ca.pem": pki.caPEM, "token": Array("kube-token\n".utf8)]) { server, _ in
            Self.kubeconfig(server: server.baseURL, cluster: ["certificate-authority: ca.pem"], user: ["tokenFile: token"])
        }
    }

    @Test("kubeconfig with client certificate and key files")
    func clientCertificateFiles() async throws {
        let pki = try SharedPKI.require()
        try await connect(clientCertificates: true, files: ["client.crt": pki.clientCertificatePEM, "client.key": pki.clientKeyPEM]) { server, pki in
            Self.kubeconfig(
                server: server.baseURL, cluster: ["certificate-authority-data: \(Self.base64(pki.caPEM))"],
                user: ["client-certificate: client.crt", "client-key: client.key"])
        }
    }

    @Test("kubeconfig with inline client certificate and key data")
    func clientCertificateData() async throws {
        try await connect(clientCertificates: true) { server, pki in
            Self.kubeconfig(
                server: server.baseURL, cluster: ["certificate-authority-data: \(Self.base64(pki.caPEM))"],
                user: [
                    "client-certificate-data: \(Self.base64(pki.clientCertificatePEM))",
                    "client-key-data: \(Self.base64(pki.clientKeyPEM))",
                ])
        }
    }

    @Test("kubeconfig with insecure-skip-tls-verify")
    func insecureSkipTLSVerify() async throws {
        try await connect { server, _ in
            Self.kubeconfig(server: server.baseURL, cluster: ["insecure-skip-tls-verify: true"], user: ["token: kube-token"])
        }
    }

    /// The configuration error a kubeconfig text gives.
    func loadError(_ text: String?, context: String? = nil) throws -> KubernetesError? {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kc-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("config").path
        if let text { try text.write(toFile: path, atomically: true, encoding: .utf8) }
        do {
            _ = try KubernetesConfiguration.kubeconfig(path: path, context: context)
            return nil
        } catch let error as KubernetesError {
            return error
        }
    }

    @Test("A missing kubeconfig file is a configuration error naming the file")
    func missingFile() throws {
        let error = try #require(try loadError(nil))
        #expect(error.kind == .configuration)
        #expect(error.message.contains("no such file"))
        #expect(error.message.contains("/config"))
    }

    @Test("A kubeconfig that is not YAML, or not a kubeconfig, is refused with the parser's complaint")
    func brokenYAML() throws {
        let broken = try #require(try loadError("clusters: [\n  - name: a\n    cluster: {server: x\n"))
        #expect(broken.kind == .configuration)
        #expect(broken.message.contains("not a valid kubeconfig"))
        let wrongShape = try #require(try loadError("clusters: 42\n"))
        #expect(wrongShape.message.contains("clusters"))
    }

    @Test("A kubeconfig without current-context says how to choose one; a named context is used")
    func missingCurrentContext() throws {
        let text = Self.kubeconfig(server: "https://10.0.0.1:6443", cluster: [], user: ["token: t"], currentContext: nil)
        let error = try #require(try loadError(text))
        #expect(error.message.contains("current-context"))
        #expect(try loadError(text, context: "test") == nil)
        let unknown = try #require(try loadError(text, context: "nope"))
        #expect(unknown.message.contains("no context named \"nope\""))
    }

    @Test("Contexts that refer to a missing cluster or user, bad base64 and exec plugins are refused clearly")
    func brokenReferences() throws {
        let noCluster = """
            current-context: c
            contexts:
            - name: c
              context: {cluster: gone, user: u}
            users:
            - name: u
              user: {token: t}
            """
        #expect(try loadError(noCluster)?.message.contains("cluster \"gone\"") == true)
        let noUser = Self.kubeconfig(server: "https://10.0.0.1", cluster: [], user: []).replacingOccurrences(
            of: "user: test-user", with: "user: missing")
        #expect(try loadError(noUser)?.message.contains("user \"missing\"") == true)
        let badData = Self.kubeconfig(server: "https://10.0.0.1", cluster: ["certificate-authority-data: '%%%'"], user: ["token: t"])
        #expect(try loadError(badData)?.message.contains("base64") == true)
        let exec = Self.kubeconfig(
            server: "https://10.0.0.1", cluster: [], user: ["exec:", "  command: aws", "  apiVersion: client.authentication.k8s.io/v1"])
        #expect(try loadError(exec)?.message.contains("exec") == true)
        let noServer = Self.kubeconfig(server: "", cluster: [], user: ["token: t"])
        #expect(try loadError(noServer)?.message.contains("has no server") == true)
    }

    @Test("Settings the client does not support are reported as warnings and logged when the client starts")
    func warnings() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("config").path
            try Self.kubeconfig(
                server: "https://10.0.0.1:6443", cluster: ["tls-server-name: api.internal", "proxy-url: http://proxy:3128"],
                user: ["token: t"]
            ).write(toFile: path, atomically: true, encoding: .utf8)
            let configuration = try KubernetesConfiguration.kubeconfig(path: path)
            #expect(configuration.warnings.count == 2)
            let logs = LogCapture()
            try await HTTPKubernetesClient.withClient(configuration: configuration, logger: logs.logger) { _ in }
            #expect(logs.lines.filter { $0.level == .warning && $0.message.contains("tls-server-name") }.count == 1)
        }
    }

    @Test("Several kubeconfig files merge: the first to define a name or current-context wins")
    func mergedFiles() async throws {
        try await withTemporaryDirectory { directory in
            let first = directory.appendingPathComponent("a").path
            let second = directory.appendingPathComponent("b").path
            try "current-context: second\nusers:\n- name: test-user\n  user: {token: from-first}\n".write(
                toFile: first, atomically: true, encoding: .utf8)
            try Self.kubeconfig(server: "https://10.0.0.2:6443", cluster: [], user: ["token: from-second"], currentContext: "test")
                .replacingOccurrences(of: "- name: test\n", with: "- name: second\n")
                .write(toFile: second, atomically: true, encoding: .utf8)
            let configuration = try KubernetesConfiguration.kubeconfig(paths: [first, second])
            #expect(configuration.server == "https://10.0.0.2:6443")
            #expect(configuration.credentials == .token("from-first"))
        }
    }

    @Test("In-cluster: service host and port, the token file, the CA and the namespace")
    func inCluster() async throws {
        let pki = try SharedPKI.require()
        try await withTemporaryDirectory { directory in
            try Data(pki.caPEM).write(to: directory.appendingPathComponent("ca.crt"))
            try "sa-token".write(to: directory.appendingPathComponent("token"), atomically: true, encoding: .utf8)
            try "openebs\n".write(to: directory.appendingPathComponent("namespace"), atomically: true, encoding: .utf8)
            let options = KubeAPITestServer.Options(tls: true, pki: pki, token: "sa-token")
            try await KubeAPITestServer.with(options) { server in
                let environment = ["KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": String(server.port)]
                let configuration = try KubernetesConfiguration.inCluster(environment: environment, serviceAccountDirectory: directory.path)
                #expect(configuration.server == "https://127.0.0.1:\(server.port)")
                #expect(configuration.namespace == "openebs")
                #expect(configuration.credentials == .tokenFile(directory.appendingPathComponent("token").path))
                try await HTTPKubernetesClient.withClient(configuration: configuration, logger: LogCapture().logger) { client in
                    _ = try await client.list(CStorVolumeConfig.self, namespace: "openebs")
                }
            }
            let ipv6 = try KubernetesConfiguration.inCluster(
                environment: ["KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "443"], serviceAccountDirectory: directory.path)
            #expect(ipv6.server == "https://[fd00::1]:443")
        }
    }

    @Test("In-cluster without the environment or without a token is a clear configuration error")
    func inClusterMissing() async throws {
        try await withTemporaryDirectory { directory in
            #expect {
                try KubernetesConfiguration.inCluster(environment: [:], serviceAccountDirectory: directory.path)
            } throws: { error in
                (error as? KubernetesError)?.message.contains("KUBERNETES_SERVICE_HOST") == true
            }
            #expect {
                try KubernetesConfiguration.inCluster(
                    environment: ["KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"],
                    serviceAccountDirectory: directory.path)
            } throws: { error in
                (error as? KubernetesError)?.message.contains("service account token") == true
            }
        }
    }

    @Test("The flags choose --kubeconfig, then KUBECONFIG, then in-cluster, else none")
    func configurationSource() async throws {
        try await withTemporaryDirectory { directory in
            let serviceAccount = directory.appendingPathComponent("sa")
            try FileManager.default.createDirectory(at: serviceAccount, withIntermediateDirectories: true)
            try "t".write(to: serviceAccount.appendingPathComponent("token"), atomically: true, encoding: .utf8)
            try Data(try SharedPKI.require().caPEM).write(to: serviceAccount.appendingPathComponent("ca.crt"))
            let kubeconfigPath = directory.appendingPathComponent("config").path
            try Self.kubeconfig(server: "https://10.0.0.9:6443", cluster: [], user: ["token: t"]).write(
                toFile: kubeconfigPath, atomically: true, encoding: .utf8)
            let inCluster = ["KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"]
            let sa = serviceAccount.path

            var flags = try KubernetesOptions.parse(["--kubeconfig", kubeconfigPath])
            #expect(flags.source(environment: inCluster, serviceAccountDirectory: sa) == .kubeconfigFlag(kubeconfigPath))
            flags = try KubernetesOptions.parse([])
            #expect(flags.source(environment: inCluster.merging(["KUBECONFIG": "\(kubeconfigPath):/other"]) { $1 }, serviceAccountDirectory: sa)
                == .kubeconfigEnvironment([kubeconfigPath, "/other"]))
            #expect(flags.source(environment: inCluster, serviceAccountDirectory: sa) == .inCluster)
            #expect(flags.source(environment: [:], serviceAccountDirectory: sa) == .none)
            #expect(!flags.hasConfiguration(environment: [:], serviceAccountDirectory: sa))
            #expect(try flags.configuration(environment: [:], serviceAccountDirectory: sa) == nil)
            #expect(flags.hasConfiguration(environment: inCluster, serviceAccountDirectory: sa))
            #expect(!flags.hasConfiguration(environment: inCluster, serviceAccountDirectory: directory.appendingPathComponent("none").path))

            let tuned = try KubernetesOptions.parse(["--kubeconfig", kubeconfigPath, "--kube-api-qps", "5", "--kube-api-burst", "7", "--kube-api-timeout", "12"])
            let configuration = try #require(try tuned.configuration(environment: [:], serviceAccountDirectory: sa))
            #expect(configuration.server == "https://10.0.0.9:6443")
            #expect(configuration.queriesPerSecond == 5)
            #expect(configuration.burst == 7)
            #expect(configuration.requestTimeout == .seconds(12))
            let defaults = try KubernetesOptions.parse([])
            #expect(defaults.kubeAPIQPS == 20 && defaults.kubeAPIBurst == 30 && defaults.kubeAPITimeout == 30)
            #expect(throws: (any Error).self) { try KubernetesOptions.parse(["--kube-api-qps", "0"]) }
            #expect(throws: (any Error).self) { try KubernetesOptions.parse(["--kube-api-burst", "0"]) }

            let broken = try KubernetesOptions.parse(["--kubeconfig", directory.appendingPathComponent("missing").path])
            #expect(throws: KubernetesError.self) { try broken.configuration(environment: [:], serviceAccountDirectory: sa) }
        }
    }
}
