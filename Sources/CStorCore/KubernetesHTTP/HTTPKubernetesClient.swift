import AsyncHTTPClient
import CStorCore
import CStorKubernetes
import FoundationEssentials
import Glibc
import Logging
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import NIOPosix
import NIOSSL

/// The real `KubernetesClient`: JSON over HTTP(S) with AsyncHTTPClient.
///
/// - Every request waits for the client-side rate limit and has `requestTimeout`.
/// - A failure is retried with exponential backoff only where repeating it is safe: reads, updates
///   that carry a resourceVersion, deletes, merge patches; and any request the server did not
///   process (429 Too Many Requests, honouring `Retry-After`; a connection that could not be made).
///   A create or a plain JSON patch is never repeated after a server error or a timeout.
/// - A 401 re-reads a token file once (the token may have been rotated).
/// - Each failure is logged with verb, resource, name, HTTP status and the API server's message.
///
/// Call `shutdown()` when done, or use `withClient`.
public final class HTTPKubernetesClient: KubernetesClient {
    public let configuration: KubernetesConfiguration
    private let http: HTTPClient
    private let tokens: BearerTokenProvider
    private let limiter: TokenBucket
    private let logger: Logger
    private let observer: KubernetesRequestObserver?

    /// The largest response body read into memory (a list of thousands of objects fits).
    static let maxResponseBytes = 256 << 20

    public init(
        configuration: KubernetesConfiguration, logger: Logger, observer: KubernetesRequestObserver? = nil,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) throws {
        self.configuration = configuration
        self.logger = logger
        self.observer = observer
        self.tokens = BearerTokenProvider(configuration.credentials)
        self.limiter = TokenBucket(rate: configuration.queriesPerSecond, burst: configuration.burst)
        let tls = try Self.tlsConfiguration(configuration)
        let connect = Self.timeAmount(Swift.min(configuration.connectTimeout, configuration.requestTimeout))
        var httpConfiguration = HTTPClient.Configuration(
            tlsConfiguration: tls, redirectConfiguration: .disallow, timeout: .init(connect: connect, read: nil))
        httpConfiguration.httpVersion = .automatic
        self.http = HTTPClient(eventLoopGroup: eventLoopGroup, configuration: httpConfiguration)
        for warning in configuration.warnings {
            logger.warning("kubernetes configuration: \(warning)", metadata: ["source": .string(configuration.source)])
        }
    }

    /// Runs `body` with a client and shuts the client down afterwards.
    public static func withClient<T>(
        configuration: KubernetesConfiguration, logger: Logger, observer: KubernetesRequestObserver? = nil,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        _ body: (HTTPKubernetesClient) async throws -> T
    ) async throws -> T {
        let client = try HTTPKubernetesClient(
            configuration: configuration, logger: logger, observer: observer, eventLoopGroup: eventLoopGroup)
        do {
            let result = try await body(client)
            try await client.shutdown()
            return result
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    /// Closes the connections. The client must not be used afterwards.
    public func shutdown() async throws {
        try await http.shutdown()
    }

    private static func tlsConfiguration(_ configuration: KubernetesConfiguration) throws -> TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        // At exit the client closes its connections; a peer slow to answer close_notify must not
        // hold the process for NIOSSL's default five seconds.
        tls.shutdownTimeout = .milliseconds(300)
        if let ca = configuration.certificateAuthorityPEM {
            let certificates = try? NIOSSLCertificate.fromPEMBytes(ca)
            guard let certificates, !certificates.isEmpty else {
                throw KubernetesError(
                    .configuration, "the CA bundle of \(configuration.source) holds no PEM certificate")
            }
            tls.trustRoots = .certificates(certificates)
        }
        if configuration.insecureSkipTLSVerify {
            tls.certificateVerification = .none
        }
        if let certificate = configuration.clientCertificatePEM, let key = configuration.clientKeyPEM {
            do {
                tls.certificateChain = try NIOSSLCertificate.fromPEMBytes(certificate).map { .certificate($0) }
                tls.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: key, format: .pem))
            } catch {
                throw KubernetesError(
                    .configuration,
                    "the client certificate or key of \(configuration.source) is not valid PEM: \(error)",
                    underlying: error)
            }
        }
        return tls
    }

    // MARK: - Operations

    public func get<Object: KubernetesObject>(
        _ resource: KubernetesResource, as type: Object.Type, name: String, namespace: String?
    ) async throws -> Object {
        let call = Call(
            verb: "get", method: .GET, resource: resource, namespace: namespace, name: name,
            path: resource.path(namespace: namespace, name: name), retry: .idempotent)
        return try decode(type, from: try await perform(call).body, call)
    }

    public func list<Object: KubernetesObject>(
        _ resource: KubernetesResource, as type: Object.Type, namespace: String?, options: ListOptions
    ) async throws -> ObjectList<Object> {
        var query: [(String, String)] = []
        if let selector = options.labelSelector, !selector.isEmpty { query.append(("labelSelector", selector)) }
        if let selector = options.fieldSelector, !selector.isEmpty { query.append(("fieldSelector", selector)) }
        if let limit = options.limit { query.append(("limit", String(limit))) }
        if let token = options.continueToken, !token.isEmpty { query.append(("continue", token)) }
        if let version = options.resourceVersion { query.append(("resourceVersion", version)) }
        let call = Call(
            verb: "list", method: .GET, resource: resource, namespace: namespace, name: nil,
            path: resource.path(namespace: namespace), query: query, retry: .idempotent)
        let envelope = try decode(ListEnvelope<Object>.self, from: try await perform(call).body, call)
        return ObjectList(
            items: envelope.items ?? [], resourceVersion: envelope.metadata?.resourceVersion ?? "",
            continueToken: envelope.metadata?.continueToken.flatMap { $0.isEmpty ? nil : $0 },
            remainingItemCount: envelope.metadata?.remainingItemCount)
    }

    public func create<Object: KubernetesObject>(_ resource: KubernetesResource, _ object: Object) async throws -> Object {
        var object = object
        // The API server refuses a create that carries a resourceVersion.
        object.metadata.resourceVersion = ""
        let namespace = try namespaceOf(object, resource, verb: "create")
        let name = object.metadata.name.isEmpty ? nil : object.metadata.name
        let call = Call(
            verb: "create", method: .POST, resource: resource, namespace: namespace, name: name,
            path: resource.path(namespace: namespace), body: try encode(object, resource), contentType: "application/json",
            retry: .onlyIfNotProcessed)
        return try decode(Object.self, from: try await perform(call).body, call)
    }

    public func update<Object: KubernetesObject>(
        _ resource: KubernetesResource, _ object: Object, subresource: String?
    ) async throws -> Object {
        let namespace = try namespaceOf(object, resource, verb: "update")
        let name = object.metadata.name
        guard !name.isEmpty else {
            throw KubernetesError(.badRequest, "update \(resource): the object has no name")
        }
        let call = Call(
            verb: "update", method: .PUT, resource: resource, namespace: namespace, name: name,
            path: resource.path(namespace: namespace, name: name, subresource: subresource),
            body: try encode(object, resource), contentType: "application/json",
            retry: object.metadata.resourceVersion.isEmpty ? .onlyIfNotProcessed : .idempotent)
        return try decode(Object.self, from: try await perform(call).body, call)
    }

    public func patch<Object: KubernetesObject>(
        _ resource: KubernetesResource, as type: Object.Type, name: String, namespace: String?,
        patch: KubernetesPatch, subresource: String?
    ) async throws -> Object {
        let body: Data
        do {
            body = try patch.document.jsonData()
        } catch {
            throw KubernetesError(.badRequest, "patch \(resource) \(name): the patch is not valid JSON", underlying: error)
        }
        let call = Call(
            verb: "patch", method: .PATCH, resource: resource, namespace: namespace, name: name,
            path: resource.path(namespace: namespace, name: name, subresource: subresource), body: body,
            contentType: patch.contentType, retry: patch.isIdempotent ? .idempotent : .onlyIfNotProcessed)
        return try decode(type, from: try await perform(call).body, call)
    }

    public func delete(
        _ resource: KubernetesResource, name: String, namespace: String?, options: DeleteOptions
    ) async throws -> DeleteResult {
        let call = Call(
            verb: "delete", method: .DELETE, resource: resource, namespace: namespace, name: name,
            path: resource.path(namespace: namespace, name: name), body: try options.body.jsonData(),
            contentType: "application/json", retry: .idempotent)
        let response = try await perform(call, notFoundAfterRetryIsSuccess: true)
        if response.status == 404 { return .deleted }
        // The server answers with a Status (deleted at once) or the object (still there while
        // finalizers run; or, for some resources, the deleted object without finalizers).
        let answer = try decode(DeleteAnswer.self, from: response.body, call)
        if answer.kind == "Status" { return .deleted }
        if let metadata = answer.metadata, !metadata.finalizers.isEmpty {
            return .markedForDeletion(metadata)
        }
        return .deleted
    }

    /// Evicts a pod through the Eviction API (`POST pods/<name>/eviction`): kube-apiserver deletes
    /// it only if its PodDisruptionBudget allows (`.tooManyRequests` when it does not) and only
    /// while its UID is `pod.metadata.uid` (`.conflict` otherwise). `.notFound` when it is gone.
    /// Not repeated after a server error: the first attempt may have evicted it.
    public func evict(_ pod: Pod) async throws {
        let resource = KubernetesResource.pods
        let eviction = Eviction(of: pod)
        let body: Data
        do {
            body = try JSONEncoder().encode(eviction)
        } catch {
            throw KubernetesError(.badRequest, "the eviction of pod \(pod.qualifiedName) cannot be encoded: \(error)", underlying: error)
        }
        let call = Call(
            verb: "create", method: .POST, resource: resource, namespace: pod.metadata.namespace, name: pod.metadata.name,
            path: resource.path(namespace: pod.metadata.namespace, name: pod.metadata.name, subresource: "eviction"), body: body,
            contentType: "application/json", retry: .onlyIfNotProcessed)
        _ = try await perform(call)
    }

    public func watchConnection<Object: KubernetesObject>(
        _ resource: KubernetesResource, as type: Object.Type, namespace: String?, options: WatchOptions
    ) async throws -> any AsyncSequence<WatchEvent<Object>, any Error> & Sendable {
        var query: [(String, String)] = [("watch", "true")]
        if let selector = options.labelSelector, !selector.isEmpty { query.append(("labelSelector", selector)) }
        if let selector = options.fieldSelector, !selector.isEmpty { query.append(("fieldSelector", selector)) }
        if let version = options.resourceVersion, !version.isEmpty { query.append(("resourceVersion", version)) }
        if options.allowBookmarks { query.append(("allowWatchBookmarks", "true")) }
        query.append(("timeoutSeconds", String(options.timeoutSeconds)))
        let call = Call(
            verb: "watch", method: .GET, resource: resource, namespace: namespace, name: nil,
            path: resource.path(namespace: namespace), query: query, retry: .idempotent)
        try await limiter.acquire()
        let request = try makeRequest(call, forceTokenReload: false)
        let started = ContinuousClock.now
        let response: HTTPClientResponse
        do {
            // The server ends the watch after timeoutSeconds; the deadline only guards against a
            // connection that died without telling.
            let deadline = NIODeadline.now() + Self.timeAmount(.seconds(options.timeoutSeconds) + configuration.requestTimeout)
            response = try await http.execute(request, deadline: deadline)
        } catch {
            if Task.isCancelled { throw CancellationError() }
            observe(call, statusCode: nil, started: started)
            let failure = transportError(error, call)
            log(failure, call, attempt: 1, retryIn: nil)
            throw failure
        }
        let code = Int(response.status.code)
        observe(call, statusCode: code, started: started)
        guard code == 200 else {
            let body = (try? await response.body.collect(upTo: 1 << 20)) ?? ByteBuffer()
            let failure = Self.responseError(code: code, headers: response.headers, body: body, operation: call.operation)
            if failure.kind == .unauthorized, tokens.canReload {
                _ = try? tokens.token(forceReload: true)
            }
            log(failure, call, attempt: 1, retryIn: nil)
            throw failure
        }
        return HTTPWatchConnection<Object>(body: response.body, operation: call.operation)
    }

    public func servedResources(group: String, version: String) async throws -> Set<String> {
        let groupVersion = KubernetesResource(group: group, version: version, plural: "", kind: "", namespaced: false)
        let call = Call(
            verb: "discovery", method: .GET, resource: groupVersion, namespace: nil, name: nil,
            path: groupVersion.groupVersionPath, retry: .idempotent)
        let list = try decode(APIResourceList.self, from: try await perform(call).body, call)
        // Subresources ("cstorvolumes/status") are listed too; only whole resources count.
        return Set((list.resources ?? []).map(\.name).filter { !$0.contains("/") })
    }

    // MARK: - Requests

    /// Which failures may be retried.
    enum RetryRule {
        /// Repeating the request cannot do harm: retry server errors, timeouts and broken connections.
        case idempotent
        /// The request may have taken effect: retry only what the server certainly did not process.
        case onlyIfNotProcessed
    }

    struct Call {
        var verb: String
        var method: HTTPMethod
        var resource: KubernetesResource
        var namespace: String?
        var name: String?
        var path: String
        var query: [(String, String)] = []
        var body: Data?
        var contentType: String?
        var retry: RetryRule

        var operation: String {
            var text = "\(verb) \(resource)"
            let namespacePart = (namespace?.isEmpty == false && resource.namespaced) ? namespace : nil
            switch (namespacePart, name) {
            case (let namespace?, let name?): text += " \(namespace)/\(name)"
            case (nil, let name?): text += " \(name)"
            case (let namespace?, nil): text += " in \(namespace)"
            case (nil, nil): break
            }
            return text
        }
    }

    struct Response {
        var status: Int
        var body: ByteBuffer
    }

    private func perform(_ call: Call, notFoundAfterRetryIsSuccess: Bool = false) async throws -> Response {
        var attempt = 0
        var reloadToken = false
        var reloadedToken = false
        while true {
            attempt += 1
            try Task.checkCancellation()
            try await limiter.acquire()
            let started = ContinuousClock.now
            let failure: KubernetesError
            let processed: Bool
            do {
                let request = try makeRequest(call, forceTokenReload: reloadToken)
                reloadToken = false
                let response = try await http.execute(request, timeout: Self.timeAmount(configuration.requestTimeout))
                let body = try await response.body.collect(upTo: Self.maxResponseBytes)
                let code = Int(response.status.code)
                observe(call, statusCode: code, started: started)
                if (200..<300).contains(code) {
                    return Response(status: code, body: body)
                }
                failure = Self.responseError(code: code, headers: response.headers, body: body, operation: call.operation)
                // The API server answers 429 (and 401) before doing anything.
                processed = code != 429 && code != 401
            } catch let error as KubernetesError {
                throw error
            } catch {
                if Task.isCancelled || error is CancellationError { throw CancellationError() }
                observe(call, statusCode: nil, started: started)
                failure = transportError(error, call)
                processed = !Self.isConnectFailure(error)
            }
            if notFoundAfterRetryIsSuccess, attempt > 1, failure.kind == .notFound {
                // An earlier attempt of this delete succeeded but its answer was lost.
                return Response(status: 404, body: ByteBuffer())
            }
            if failure.kind == .unauthorized, tokens.canReload, !reloadedToken {
                reloadToken = true
                reloadedToken = true
                log(failure, call, attempt: attempt, retryIn: .zero)
                continue
            }
            if let delay = retryDelay(failure, call, attempt: attempt, processed: processed) {
                log(failure, call, attempt: attempt, retryIn: delay)
                try await Task.sleep(for: delay)
                continue
            }
            log(failure, call, attempt: attempt, retryIn: nil)
            throw failure
        }
    }

    private func retryDelay(_ failure: KubernetesError, _ call: Call, attempt: Int, processed: Bool) -> Duration? {
        guard attempt < configuration.maxAttempts else { return nil }
        let retry: Bool
        switch failure.kind {
        case .tooManyRequests:
            retry = true
        case .serverError:
            retry = call.retry == .idempotent
        case .timeout, .transport:
            retry = !Self.isTLSFailure(failure.underlying) && (!processed || call.retry == .idempotent)
        default:
            retry = false
        }
        guard retry else { return nil }
        if let after = failure.retryAfter {
            return after <= configuration.maxRetryAfter ? after : nil
        }
        var delay = configuration.initialBackoff
        for _ in 1..<attempt {
            delay = Swift.min(delay * 2, configuration.maxBackoff)
        }
        return delay * Double.random(in: 0.8...1.2)
    }

    private func makeRequest(_ call: Call, forceTokenReload: Bool) throws -> HTTPClientRequest {
        var url = configuration.server + call.path
        if !call.query.isEmpty {
            url += "?" + call.query.map { "\(Self.escapeQuery($0.0))=\(Self.escapeQuery($0.1))" }.joined(separator: "&")
        }
        var request = HTTPClientRequest(url: url)
        request.method = call.method
        request.headers.add(name: "Accept", value: "application/json")
        request.headers.add(name: "User-Agent", value: configuration.userAgent)
        if let token = try tokens.token(forceReload: forceTokenReload) {
            request.headers.add(name: "Authorization", value: "Bearer \(token)")
        }
        if let body = call.body {
            request.headers.add(name: "Content-Type", value: call.contentType ?? "application/json")
            request.body = .bytes(ByteBuffer(data: body))
        }
        return request
    }

    private static func escapeQuery(_ text: String) -> String {
        percentEncoded(text, keeping: "-._~")
    }

    static func timeAmount(_ duration: Duration) -> TimeAmount {
        let (seconds, attoseconds) = duration.components
        return .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }

    private func namespaceOf(_ object: some KubernetesObject, _ resource: KubernetesResource, verb: String) throws -> String? {
        guard resource.namespaced else { return nil }
        let namespace = object.metadata.namespace
        guard !namespace.isEmpty else {
            throw KubernetesError(
                .badRequest, "\(verb) \(resource) \(object.metadata.name): a namespaced object needs metadata.namespace")
        }
        return namespace
    }

    private func encode(_ object: some KubernetesObject, _ resource: KubernetesResource) throws -> Data {
        do {
            return try JSONEncoder().encode(object)
        } catch {
            throw KubernetesError(
                .badRequest, "\(resource) \(object.metadata.name) cannot be encoded as JSON: \(error)", underlying: error)
        }
    }

    private func decode<T: Decodable>(_ type: T.Type, from body: ByteBuffer, _ call: Call) throws -> T {
        do {
            return try JSONDecoder().decode(type, from: Data(buffer: body))
        } catch {
            let failure = KubernetesError(
                .unexpectedResponse, "the answer cannot be decoded as \(type): \(Self.describe(error))",
                operation: call.operation, underlying: error)
            log(failure, call, attempt: 1, retryIn: nil)
            throw failure
        }
    }

    static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context),
            DecodingError.keyNotFound(_, let context), DecodingError.dataCorrupted(let context):
            let path = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
            return path.isEmpty ? context.debugDescription : "\(path): \(context.debugDescription)"
        default:
            return String(describing: error)
        }
    }

    // MARK: - Errors

    /// The error for a non-2xx answer (`KubernetesError.response`).
    static func responseError(code: Int, headers: HTTPHeaders, body: ByteBuffer, operation: String) -> KubernetesError {
        KubernetesError.response(
            code: code, retryAfter: headers.first(name: "Retry-After"), body: Array(body.readableBytesView), operation: operation)
    }

    private func transportError(_ error: any Error, _ call: Call) -> KubernetesError {
        if let client = error as? HTTPClientError {
            switch client {
            case .connectTimeout, .tlsHandshakeTimeout, .getConnectionFromPoolTimeout:
                return KubernetesError(
                    .timeout, "could not connect to the API server \(configuration.server) within \(configuration.connectTimeout)",
                    operation: call.operation, underlying: error)
            case .deadlineExceeded, .readTimeout, .writeTimeout:
                return KubernetesError(
                    .timeout, "no answer from the API server \(configuration.server) within \(configuration.requestTimeout)",
                    operation: call.operation, underlying: error)
            default:
                break
            }
        }
        if Self.isTLSFailure(error) {
            return KubernetesError(
                .transport,
                "the TLS connection to the API server \(configuration.server) failed (\(error)): check that the CA "
                    + "(certificate-authority of the kubeconfig, or the service account's ca.crt) signed the server's "
                    + "certificate and that the certificate names the server's address",
                operation: call.operation, underlying: error)
        }
        return KubernetesError(
            .transport, "cannot reach the API server \(configuration.server): \(error)", operation: call.operation,
            underlying: error)
    }

    static func isTLSFailure(_ error: (any Error)?) -> Bool {
        guard let error else { return false }
        return error is NIOSSLError || error is BoringSSLError || error is NIOSSLExtraError
    }

    /// A connection that could not be made: the request never reached the server.
    static func isConnectFailure(_ error: any Error) -> Bool {
        if let client = error as? HTTPClientError, client == .connectTimeout { return true }
        if error is NIOConnectionError { return true }
        if let io = error as? IOError, io.errnoCode == ECONNREFUSED { return true }
        if case ChannelError.connectTimeout = error { return true }
        return false
    }

    // MARK: - Observability

    private func observe(_ call: Call, statusCode: Int?, started: ContinuousClock.Instant) {
        guard let observer else { return }
        observer(
            KubernetesRequestRecord(
                verb: call.verb, resource: call.resource.description, statusCode: statusCode,
                duration: ContinuousClock.now - started))
    }

    /// Logs a failed request. Expected outcomes of normal control flow (not found, already exists,
    /// conflict, gone) are debug lines; a retry is an info line; anything else a warning.
    private func log(_ failure: KubernetesError, _ call: Call, attempt: Int, retryIn delay: Duration?) {
        var metadata: Logger.Metadata = [
            "k8s_verb": .string(call.verb), "k8s_resource": .string(call.resource.description),
            "error": .string(failure.message), "error_kind": .string(failure.kind.rawValue),
        ]
        if let name = call.name { metadata["k8s_name"] = .string(name) }
        if let namespace = call.namespace, !namespace.isEmpty { metadata["k8s_namespace"] = .string(namespace) }
        if let code = failure.httpStatus { metadata["http_status"] = .stringConvertible(code) }
        if attempt > 1 { metadata["attempt"] = .stringConvertible(attempt) }
        let base = RequestContext.logger(logger)
        if let delay {
            let milliseconds = delay.components.seconds * 1000 + delay.components.attoseconds / 1_000_000_000_000_000
            metadata["retry_in_ms"] = .stringConvertible(milliseconds)
            base.info("kubernetes API call failed; retrying", metadata: metadata)
            return
        }
        switch failure.kind {
        case .notFound, .alreadyExists, .conflict, .gone:
            base.debug("kubernetes API call failed", metadata: metadata)
        default:
            base.warning("kubernetes API call failed", metadata: metadata)
        }
    }

    // MARK: - Wire types

    /// The parts of a list answer the client reads.
    struct ListEnvelope<Object: Decodable>: Decodable {
        var items: [Object]?
        var metadata: ListMeta?

        struct ListMeta: Decodable {
            var resourceVersion: String?
            var continueToken: String?
            var remainingItemCount: Int?

            enum CodingKeys: String, CodingKey {
                case resourceVersion
                case continueToken = "continue"
                case remainingItemCount
            }
        }
    }

    /// The answer to a delete: a Status, or the object.
    struct DeleteAnswer: Decodable {
        var kind: String?
        var metadata: ObjectMeta?
    }

    /// A discovery document (`APIResourceList`).
    struct APIResourceList: Decodable {
        var resources: [Resource]?

        struct Resource: Decodable {
            var name: String
        }
    }
}
