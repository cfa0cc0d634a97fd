import CStorCore
import CStorKubernetes
import FoundationEssentials
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// The node's client of the Kubernetes API for `--restart-pods`: two calls (list the pods on this
/// node, evict one), each one HTTPS request on a connection of its own, with the pod's service
/// account. The node needs nothing more, and the controller's client (async-http-client) would
/// bring full Foundation and ICU's data into the node through NIOFoundationCompat (BENCHMARKS.md
/// §8). Faults are rare and the health monitor is the retry loop, so there is no pool and no retry
/// here, except one token re-read after a 401 (kubelet rotates the token).
struct InClusterPodAPI: PodEvictionAPI {
    let configuration: KubernetesConfiguration
    private let host: String
    private let port: Int
    private let tls: NIOSSLContext
    private let tokens: BearerTokenProvider
    private let eventLoopGroup: any EventLoopGroup
    private let observer: KubernetesRequestObserver?
    /// Larger answers are refused (a pod list of a full node is a few MB).
    static let maxResponseBytes = 64 << 20

    init(
        configuration: KubernetesConfiguration, eventLoopGroup: any EventLoopGroup, observer: KubernetesRequestObserver?
    ) throws {
        guard configuration.server.hasPrefix("https://") else {
            throw KubernetesError(.configuration, "the API server \(configuration.server) is not an https:// URL")
        }
        let authority = configuration.server.dropFirst("https://".count).split(separator: "/", maxSplits: 1).first.map(String.init) ?? ""
        let parsed: (host: String, port: Int)?
        if authority.hasPrefix("["), let close = authority.firstIndex(of: "]") {
            let rest = authority[authority.index(after: close)...]
            parsed = (String(authority[authority.index(after: authority.startIndex)..<close]), rest.isEmpty ? 443 : Int(rest.dropFirst()) ?? -1)
        } else if let colon = authority.lastIndex(of: ":") {
            parsed = (String(authority[..<colon]), Int(authority[authority.index(after: colon)...]) ?? -1)
        } else {
            parsed = (authority, 443)
        }
        guard let parsed, !parsed.host.isEmpty, (1...65535).contains(parsed.port) else {
            throw KubernetesError(.configuration, "the API server address \(configuration.server) has no valid host and port")
        }
        host = parsed.host
        port = parsed.port
        var settings = TLSConfiguration.makeClientConfiguration()
        settings.minimumTLSVersion = .tlsv12
        if let pem = configuration.certificateAuthorityPEM {
            do {
                settings.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(pem))
            } catch {
                throw KubernetesError(.configuration, "the service account's CA certificate cannot be read: \(error)")
            }
        }
        do {
            tls = try NIOSSLContext(configuration: settings)
        } catch {
            throw KubernetesError(.configuration, "cannot set up TLS for the API server: \(error)")
        }
        self.configuration = configuration
        tokens = BearerTokenProvider(configuration.credentials)
        self.eventLoopGroup = eventLoopGroup
        self.observer = observer
    }

    func pods(onNode node: String) async throws -> [Pod] {
        let path = "/api/v1/pods?fieldSelector=" + percentEncoded("spec.nodeName=\(node)", keeping: "-._~")
        let body = try await call(.GET, path, body: nil, verb: "list", operation: "list pods on node \(node)")
        do {
            return try JSONDecoder().decode(PodList.self, from: Data(body)).items
        } catch {
            throw KubernetesError(.unexpectedResponse, "the pod list of node \(node) cannot be decoded: \(error)", underlying: error)
        }
    }

    func evict(_ pod: Pod) async throws {
        let namespace = percentEncoded(pod.metadata.namespace, keeping: "-._~")
        let name = percentEncoded(pod.metadata.name, keeping: "-._~")
        let body = Array(try JSONEncoder().encode(Eviction(of: pod)))
        _ = try await call(
            .POST, "/api/v1/namespaces/\(namespace)/pods/\(name)/eviction", body: body, verb: "create",
            operation: "evict pod \(pod.qualifiedName)")
    }

    private struct PodList: Decodable {
        var items: [Pod]
    }

    /// One request; a 2xx answer's body, or the `KubernetesError` of the answer or of the transport.
    private func call(_ method: HTTPMethod, _ path: String, body: [UInt8]?, verb: String, operation: String) async throws -> [UInt8] {
        var forceReload = false
        while true {
            let started = ContinuousClock.now
            let answer: (status: Int, retryAfter: String?, body: [UInt8])
            do {
                let token = try tokens.token(forceReload: forceReload)
                answer = try await exchange(method, path, body: body, token: token)
            } catch let error as KubernetesError {
                throw error
            } catch {
                if Task.isCancelled || error is CancellationError { throw CancellationError() }
                observe(verb, status: nil, started: started)
                throw KubernetesError(
                    .transport, "cannot reach the API server \(configuration.server): \(error)", operation: operation, underlying: error)
            }
            observe(verb, status: answer.status, started: started)
            if (200..<300).contains(answer.status) { return answer.body }
            if answer.status == 401, tokens.canReload, !forceReload {
                forceReload = true
                continue
            }
            throw KubernetesError.response(code: answer.status, retryAfter: answer.retryAfter, body: answer.body, operation: operation)
        }
    }

    private func observe(_ verb: String, status: Int?, started: ContinuousClock.Instant) {
        observer?(KubernetesRequestRecord(verb: verb, resource: "pods", statusCode: status, duration: ContinuousClock.now - started))
    }

    /// Connects, sends the request and reads the whole answer, within `requestTimeout`.
    private func exchange(_ method: HTTPMethod, _ path: String, body: [UInt8]?, token: String?) async throws
        -> (status: Int, retryAfter: String?, body: [UInt8])
    {
        let timeout = configuration.requestTimeout
        return try await withThrowingTaskGroup(of: (status: Int, retryAfter: String?, body: [UInt8])?.self) { group in
            group.addTask { try await self.send(method, path, body: body, token: token) }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let answer = first else {
                throw KubernetesError(.timeout, "no answer from the API server \(configuration.server) within \(timeout)")
            }
            return answer
        }
    }

    private func send(_ method: HTTPMethod, _ path: String, body: [UInt8]?, token: String?) async throws
        -> (status: Int, retryAfter: String?, body: [UInt8])
    {
        let (seconds, attoseconds) = configuration.connectTimeout.components
        let hostname = Self.isIPAddress(host) ? nil : host
        let tls = self.tls
        let channel = try await ClientBootstrap(group: eventLoopGroup)
            .connectTimeout(.nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000))
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    // Without a host name NIOSSL checks the certificate against the peer's IP address.
                    try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls, serverHostname: hostname))
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            var head = HTTPRequestHead(version: .http1_1, method: method, uri: path)
            let authority = host.contains(":") ? "[\(host)]" : host
            head.headers.add(name: "Host", value: port == 443 ? authority : "\(authority):\(port)")
            head.headers.add(name: "Accept", value: "application/json")
            head.headers.add(name: "User-Agent", value: configuration.userAgent)
            head.headers.add(name: "Connection", value: "close")
            if let token { head.headers.add(name: "Authorization", value: "Bearer \(token)") }
            if let body {
                head.headers.add(name: "Content-Type", value: "application/json")
                head.headers.add(name: "Content-Length", value: String(body.count))
            }
            try await outbound.write(.head(head))
            if let body { try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: body)))) }
            try await outbound.write(.end(nil))
            var status = 0
            var retryAfter: String?
            var collected: [UInt8] = []
            for try await part in inbound {
                switch part {
                case .head(let response):
                    status = Int(response.status.code)
                    retryAfter = response.headers.first(name: "Retry-After")
                case .body(let chunk):
                    guard collected.count + chunk.readableBytes <= Self.maxResponseBytes else {
                        throw KubernetesError(.unexpectedResponse, "the API server's answer is larger than \(Self.maxResponseBytes) bytes")
                    }
                    collected.append(contentsOf: chunk.readableBytesView)
                case .end:
                    return (status, retryAfter, collected)
                }
            }
            throw KubernetesError(.transport, "the API server \(configuration.server) closed the connection before its answer ended")
        }
    }

    static func isIPAddress(_ host: String) -> Bool {
        (try? SocketAddress(ipAddress: host, port: 0)) != nil
    }
}
