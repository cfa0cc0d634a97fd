import CSITestSupport
import CStorCore
import CStorKubernetes
import CStorKubernetesHTTP
import CStorModel
import Foundation
import Testing

@Suite("Kubernetes client: retries, timeouts, rate limit, token rotation")
struct ClientResilienceTests {
    let namespace = "openebs"

    @Test("429 Too Many Requests is retried after the server's Retry-After")
    func tooManyRequests() async throws {
        try await withServerAndClient { server, client in
            _ = try await client.create(makeCVC("pvc-1"))
            server.inject(.tooManyRequests(verb: "get", retryAfter: 1))
            let started = ContinuousClock.now
            _ = try await client.get(CStorVolumeConfig.self, name: "pvc-1", namespace: namespace)
            let waited = ContinuousClock.now - started
            #expect(waited >= .seconds(1), "the retry must wait the Retry-After second, waited \(waited)")
            #expect(waited < .seconds(5))
            #expect(server.requestCount(verb: "get") == 2)
        }
    }

    @Test("A create refused with 429 is retried (the server did not process it): one object, two POSTs")
    func tooManyRequestsOnCreate() async throws {
        try await withServerAndClient { server, client in
            server.inject(.tooManyRequests(verb: "create", retryAfter: 0))
            _ = try await client.create(makeCVC("pvc-1"))
            #expect(server.requestCount(verb: "create") == 2)
            #expect(server.store.objects(.cstorVolumeConfigs).count == 1)
        }
    }

    @Test("A Retry-After beyond the limit fails the call at once as TooManyRequests (UNAVAILABLE)")
    func retryAfterTooLong() async throws {
        try await withServerAndClient { server, client in
            server.inject(.tooManyRequests(verb: "list", retryAfter: 3600))
            let started = ContinuousClock.now
            let error = await kubernetesError { try await client.list(CStorVolumeConfig.self, namespace: namespace) }
            #expect(ContinuousClock.now - started < .seconds(5))
            #expect(error?.kind == .tooManyRequests)
            #expect(error?.retryAfter == .seconds(3600))
            #expect(error?.csiError.code == .unavailable)
        }
    }

    @Test("500 is retried with backoff for GET")
    func serverErrorRetriedForReads() async throws {
        try await withServerAndClient { server, client in
            _ = try await client.create(makeCVC("pvc-1"))
            server.inject(.serverError(verb: "get", times: 2))
            let cvc = try await client.get(CStorVolumeConfig.self, name: "pvc-1", namespace: namespace)
            #expect(cvc.metadata.name == "pvc-1")
            #expect(server.requestCount(verb: "get") == 3)
        }
    }

    @Test("500 on a create is not retried: exactly one POST, and the error says what the server said")
    func serverErrorNotRetriedForCreate() async throws {
        try await withServerAndClient { server, client in
            server.inject(.serverError(verb: "create"))
            let error = await kubernetesError { try await client.create(makeCVC("pvc-1")) }
            #expect(error?.kind == .serverError)
            #expect(error?.message.contains("injected fault") == true)
            #expect(error?.csiError.code == .unavailable)
            #expect(server.requestCount(verb: "create") == 1)
        }
    }

    @Test("An update that carries a resourceVersion is retried after a 500; a plain JSON patch is not")
    func retriedWrites() async throws {
        try await withServerAndClient { server, client in
            var cvc = try await client.create(makeCVC("pvc-1"))
            cvc.metadata.labels["x"] = "y"
            server.inject(.serverError(verb: "update"))
            _ = try await client.update(cvc)
            #expect(server.requestCount(verb: "update") == 2)

            server.inject(.serverError(verb: "patch"))
            let error = await kubernetesError {
                try await client.jsonPatch(CStorVolumeConfig.self, name: "pvc-1", namespace: namespace, [.add("/metadata/finalizers/-", "z")])
            }
            #expect(error?.kind == .serverError)
            #expect(server.requestCount(verb: "patch") == 1)

            server.inject(.serverError(verb: "patch"))
            _ = try await client.mergePatch(CStorVolumeConfig.self, name: "pvc-1", namespace: namespace, ["metadata": ["labels": ["m": "1"]]])
            #expect(server.requestCount(verb: "patch") == 3)
        }
    }

    @Test("Retries stop after the configured number of attempts")
    func retriesAreBounded() async throws {
        try await withServerAndClient(configure: { $0.maxAttempts = 3 }) { server, client in
            server.inject(.serverError(verb: "list", times: 10))
            let error = await kubernetesError { try await client.list(CStorVolumeConfig.self, namespace: namespace) }
            #expect(error?.kind == .serverError)
            #expect(server.requestCount(verb: "list") == 3)
        }
    }

    @Test("A request that gets no answer times out after the per-request timeout")
    func timeout() async throws {
        try await withServerAndClient(configure: {
            $0.requestTimeout = .milliseconds(500)
            $0.maxAttempts = 1
        }) { server, client in
            server.inject(.hang(verb: "get"))
            let started = ContinuousClock.now
            let error = await kubernetesError { try await client.get(CStorVolumeConfig.self, name: "pvc-1", namespace: namespace) }
            let waited = ContinuousClock.now - started
            #expect(error?.kind == .timeout)
            #expect(error?.message.contains("no answer") == true)
            #expect(waited >= .milliseconds(500) && waited < .seconds(5))
        }
    }

    @Test("A read that timed out is retried; a create that timed out is not")
    func timeoutRetries() async throws {
        // Long enough that only the injected hang times out, even on a loaded machine.
        try await withServerAndClient(configure: { $0.requestTimeout = .seconds(10) }) { server, client in
            _ = try await client.create(makeCVC("pvc-1"))
            server.inject(.hang(verb: "get"))
            _ = try await client.get(CStorVolumeConfig.self, name: "pvc-1", namespace: namespace)
            #expect(server.requestCount(verb: "get") == 2)

            server.inject(.hang(verb: "create"))
            let error = await kubernetesError { try await client.create(makeCVC("pvc-2")) }
            #expect(error?.kind == .timeout)
            #expect(server.requestCount(verb: "create") == 2)
        }
    }

    @Test("A create whose answer was lost is not repeated; a delete whose answer was lost is, and reports deleted")
    func lostAnswers() async throws {
        try await withServerAndClient { server, client in
            server.inject(.dropResponse(verb: "create"))
            let error = await kubernetesError { try await client.create(makeCVC("pvc-1")) }
            #expect(error?.kind == .transport)
            #expect(server.requestCount(verb: "create") == 1)
            #expect(server.store.object(.cstorVolumeConfigs, namespace: namespace, name: "pvc-1") != nil)

            _ = try await client.jsonPatch(CStorVolumeConfig.self, name: "pvc-1", namespace: namespace, [.remove("/metadata/finalizers")])
            server.inject(.dropResponse(verb: "delete"))
            let result = try await client.delete(CStorVolumeConfig.self, name: "pvc-1", namespace: namespace)
            #expect(result == .deleted)
            #expect(server.requestCount(verb: "delete") == 2)
        }
    }

    @Test("A refused connection is retried even for a create (nothing reached the server), then reported")
    func connectionRefused() async throws {
        // A port that was just free: nothing listens there.
        let port = try await KubeAPITestServer.with { $0.port }
        var configuration = KubernetesConfiguration(server: "http://127.0.0.1:\(port)", credentials: .token("x"))
        configuration.maxAttempts = 2
        configuration.initialBackoff = .milliseconds(10)
        configuration.connectTimeout = .milliseconds(300)
        let attempts = Locked(0)
        let error = await kubernetesError {
            try await HTTPKubernetesClient.withClient(
                configuration: configuration, logger: LogCapture().logger, observer: { _ in attempts.withLock { $0 += 1 } }
            ) { client in
                try await client.create(makeCVC("pvc-1"))
            }
        }
        #expect(error?.kind == .transport || error?.kind == .timeout)
        #expect(error?.message.contains("API server http://127.0.0.1:\(port)") == true)
        #expect(error?.csiError.code == .unavailable)
        #expect(attempts.value == 2)
    }

    @Test("The client-side rate limit spaces requests beyond the burst")
    func rateLimit() async throws {
        try await withServerAndClient(configure: {
            $0.queriesPerSecond = 10
            $0.burst = 2
        }) { _, client in
            let started = ContinuousClock.now
            for _ in 0..<6 {
                _ = try await client.list(CStorVolumeConfig.self, namespace: namespace)
            }
            // 2 at once, then 4 at 10 per second.
            let elapsed = ContinuousClock.now - started
            #expect(elapsed >= .milliseconds(350), "6 requests at 10/s with a burst of 2 took \(elapsed)")
        }
    }

    @Test("A rotated token file is read again: the next call uses the new token without a 401")
    func tokenRotation() async throws {
        try await withTemporaryDirectory { directory in
            let tokenPath = directory.appendingPathComponent("token").path
            try "token-one\n".write(toFile: tokenPath, atomically: true, encoding: .utf8)
            var options = KubeAPITestServer.Options()
            options.token = "token-one"
            try await withServerAndClient(options, configure: { $0.credentials = .tokenFile(tokenPath) }) { server, client in
                _ = try await client.list(CStorVolumeConfig.self, namespace: namespace)
                // kubelet writes the new token; the API server stops accepting the old one.
                try "token-two\n".write(toFile: tokenPath, atomically: true, encoding: .utf8)
                server.token = "token-two"
                _ = try await client.list(CStorVolumeConfig.self, namespace: namespace)
                #expect(server.requests.allSatisfy { $0.status != 401 })
                #expect(server.requestCount(verb: "list") == 2)
            }
        }
    }

    @Test("A 401 makes the client read the token file again once, then it reports Unauthorized")
    func unauthorizedRereadsOnce() async throws {
        try await withTemporaryDirectory { directory in
            let tokenPath = directory.appendingPathComponent("token").path
            try "token-one".write(toFile: tokenPath, atomically: true, encoding: .utf8)
            var options = KubeAPITestServer.Options()
            options.token = "token-other"
            try await withServerAndClient(options, configure: { $0.credentials = .tokenFile(tokenPath) }) { server, client in
                let error = await kubernetesError { try await client.list(CStorVolumeConfig.self, namespace: namespace) }
                #expect(error?.kind == .unauthorized)
                #expect(server.requestCount(verb: "list") == 2)
            }
        }
    }
}
