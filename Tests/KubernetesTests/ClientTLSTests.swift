import CSITestSupport
import CStorCore
import CStorKubernetes
import CStorKubernetesHTTP
import CStorModel
import Foundation
import Testing

/// One CA for the suite: generating certificates with openssl takes a moment.
enum SharedPKI {
    static let pki: TestPKI? = try? TestPKI.generate()
    static let otherPKI: TestPKI? = try? TestPKI.generate(commonName: "some other CA")

    static func require() throws -> TestPKI {
        try #require(pki, "openssl could not generate the test CA")
    }
}

@Suite("Kubernetes client over HTTPS")
struct ClientTLSTests {
    func tlsOptions(clientCertificates: Bool = false) throws -> KubeAPITestServer.Options {
        KubeAPITestServer.Options(tls: true, pki: try SharedPKI.require(), clientCertificates: clientCertificates, token: "tls-token")
    }

    @Test("HTTPS with the cluster CA and the right token works")
    func trusted() async throws {
        try await withServerAndClient(try tlsOptions()) { server, client in
            #expect(server.baseURL.hasPrefix("https://"))
            let created = try await client.create(makeCVC("pvc-1"))
            #expect(created.metadata.name == "pvc-1")
        }
    }

    @Test("HTTPS with a CA that did not sign the server's certificate fails clearly, without retries")
    func wrongCA() async throws {
        let other = try #require(SharedPKI.otherPKI)
        let attempts = Locked(0)
        try await withServerAndClient(try tlsOptions(), observer: { _ in attempts.withLock { $0 += 1 } }, configure: {
            $0.certificateAuthorityPEM = other.caPEM
            $0.connectTimeout = .seconds(3)
        }) { server, client in
            let started = ContinuousClock.now
            let error = try #require(await kubernetesError { try await client.list(CStorVolumeConfig.self, namespace: "openebs") })
            #expect(error.kind == .transport)
            #expect(error.message.contains("TLS"))
            #expect(error.message.contains("CA"))
            #expect(error.csiError.code == .unavailable)
            #expect(server.requests.isEmpty)
            #expect(ContinuousClock.now - started < .seconds(6))
            #expect(attempts.value == 1, "a TLS failure is not retried")
        }
    }

    @Test("HTTPS with a wrong token is Unauthorized, with a hint about credentials")
    func wrongToken() async throws {
        try await withServerAndClient(try tlsOptions(), configure: { $0.credentials = .token("stolen") }) { _, client in
            let error = try #require(await kubernetesError { try await client.list(CStorVolumeConfig.self, namespace: "openebs") })
            #expect(error.kind == .unauthorized)
            #expect(error.httpStatus == 401)
            #expect(error.message.contains("Unauthorized"))
            #expect(error.csiError.code == .unavailable)
            #expect(error.csiError.message.contains("credentials"))
        }
    }

    @Test("A client certificate signed by the cluster CA authenticates without a token")
    func clientCertificate() async throws {
        let pki = try SharedPKI.require()
        try await withServerAndClient(try tlsOptions(clientCertificates: true), configure: {
            $0.credentials = .none
            $0.clientCertificatePEM = pki.clientCertificatePEM
            $0.clientKeyPEM = pki.clientKeyPEM
        }) { _, client in
            _ = try await client.list(CStorVolumeConfig.self, namespace: "openebs")
        }
        try await withServerAndClient(try tlsOptions(clientCertificates: true), configure: { $0.credentials = .none }) { _, client in
            let error = await kubernetesError { try await client.list(CStorVolumeConfig.self, namespace: "openebs") }
            #expect(error?.kind == .unauthorized)
        }
    }

    @Test("insecure-skip-tls-verify connects without knowing the CA")
    func insecure() async throws {
        try await withServerAndClient(try tlsOptions(), configure: {
            $0.certificateAuthorityPEM = nil
            $0.insecureSkipTLSVerify = true
        }) { _, client in
            _ = try await client.list(CStorVolumeConfig.self, namespace: "openebs")
        }
    }

    @Test("A CA bundle without a certificate is a configuration error before any request")
    func brokenCA() throws {
        let configuration = KubernetesConfiguration(server: "https://127.0.0.1:1", certificateAuthorityPEM: Array("not a pem".utf8))
        #expect {
            _ = try HTTPKubernetesClient(configuration: configuration, logger: LogCapture().logger)
        } throws: { error in
            (error as? KubernetesError)?.kind == .configuration
        }
    }
}
