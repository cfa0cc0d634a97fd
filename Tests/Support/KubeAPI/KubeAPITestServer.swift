import CStorCore
import CStorKubernetes
import CStorModel
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import NIOPosix
import NIOSSL

/// An in-process HTTP(S) server on 127.0.0.1 that behaves like kube-apiserver for what cstor-csi
/// uses (see `KubeAPIStore` for the semantics): resources under `/api/v1` and
/// `/apis/<group>/<version>`, the cStor CRDs with their schemas, discovery, watch streams with
/// bookmarks and timeouts, and injected faults per verb and path.
///
/// Every request is authenticated and authorized as kube-apiserver does it: a bearer token names a
/// user — the administrator (`token`, RBAC never restricts it) or a service account
/// (`serviceAccountToken(namespace:name:)`) — or a client certificate names the administrator; a
/// service account may do what the chart's rendered RBAC (`deploy/rbac`) grants it, and anything
/// else is a 403 with kube-apiserver's message.
///
/// Run it scoped: `try await KubeAPITestServer.with { server in ... }` stops it at the end.
public final class KubeAPITestServer: Sendable {
    public struct Options: Sendable {
        /// Serve HTTPS with certificates from `pki` (generated when nil).
        public var tls: Bool
        public var pki: TestPKI?
        /// Accept a client certificate signed by the CA as authentication (HTTPS only).
        public var clientCertificates: Bool
        /// The administrator's bearer token; nil disables authentication (every request is the
        /// administrator's).
        public var token: String?
        /// The RBAC that service accounts are held to.
        public var authorization: Authorization
        /// The resources served (the "installed CRDs").
        public var resources: [KubernetesResource]
        /// How many changes the event history keeps (older resourceVersions are 410 Gone).
        public var historyLimit: Int
        /// Send bookmarks to watches that want them at this interval.
        public var bookmarkInterval: Duration?
        /// Answer a too-old watch with HTTP 410 instead of an ERROR event.
        public var goneAsHTTPStatus: Bool

        public init(
            tls: Bool = false, pki: TestPKI? = nil, clientCertificates: Bool = false, token: String? = "test-token",
            resources: [KubernetesResource] = KubeAPITestServer.defaultResources, historyLimit: Int = 1000,
            bookmarkInterval: Duration? = nil, goneAsHTTPStatus: Bool = false, authorization: Authorization = .chartRBAC
        ) {
            self.authorization = authorization
            self.tls = tls
            self.pki = pki
            self.clientCertificates = clientCertificates
            self.token = token
            self.resources = resources
            self.historyLimit = historyLimit
            self.bookmarkInterval = bookmarkInterval
            self.goneAsHTTPStatus = goneAsHTTPStatus
        }
    }

    /// Where the RBAC objects come from.
    public enum Authorization: Sendable {
        /// The chart's RBAC as rendered (`deploy/rbac/cstor-csi.yaml`).
        case chartRBAC
        /// These RBAC objects.
        case policy(RBACPolicy)
    }

    /// The cStor custom resources and the core resources cstor-csi uses.
    public static let defaultResources: [KubernetesResource] =
        KubernetesResource.cstorResources + [.nodes, .persistentVolumes, .persistentVolumeClaims, .events, .pods, .podDisruptionBudgets]

    public let store: KubeAPIStore
    public let port: Int
    public let pki: TestPKI?
    let options: Options
    private let acceptedToken: Locked<String?>
    private let serviceAccountTokens = Locked<[String: KubeAPIUser]>([:])
    private let policy: Locked<RBACPolicy>
    private let faults = Locked<[KubeAPIFault]>([])
    private let log = Locked<[KubeAPIRequestRecord]>([])
    /// The open connections, and whether the server is stopping (a connection accepted then is
    /// closed at once).
    private let connections = Locked<(stopping: Bool, open: [ObjectIdentifier: any Channel])>((false, [:]))

    private init(options: Options, pki: TestPKI?, port: Int, store: KubeAPIStore, policy: RBACPolicy) {
        self.options = options
        self.pki = pki
        self.port = port
        self.store = store
        self.acceptedToken = Locked(options.token)
        self.policy = Locked(policy)
    }

    /// `http://127.0.0.1:<port>` or `https://...`.
    public var baseURL: String { "\(options.tls ? "https" : "http")://127.0.0.1:\(port)" }

    /// The token requests must carry now; change it to test rotation (the old one is refused).
    public var token: String? {
        get { acceptedToken.value }
        set { acceptedToken.value = newValue }
    }

    /// A bearer token that authenticates as a service account (what a pod's projected token does).
    public func serviceAccountToken(namespace: String, name: String) -> String {
        let token = "sa.\(namespace).\(name).\(UUID().uuidString.lowercased())"
        serviceAccountTokens.withLock { $0[token] = .serviceAccount(namespace: namespace, name: name) }
        return token
    }

    /// The RBAC objects service accounts are held to; change them at run time (e.g. to take a
    /// permission away).
    public var rbac: RBACPolicy {
        get { policy.value }
        set { policy.value = newValue }
    }

    /// A client configuration for this server: its CA (HTTPS), the current token, fast retries.
    public func clientConfiguration(token: String? = nil) -> KubernetesConfiguration {
        let credentials: KubernetesConfiguration.Credentials = (token ?? self.token).map { .token($0) } ?? .none
        var configuration = KubernetesConfiguration(
            server: baseURL, certificateAuthorityPEM: options.tls ? pki?.caPEM : nil, credentials: credentials,
            source: "test API server")
        configuration.initialBackoff = .milliseconds(20)
        configuration.maxBackoff = .milliseconds(200)
        configuration.requestTimeout = .seconds(10)
        configuration.connectTimeout = .seconds(2)
        configuration.queriesPerSecond = 1000
        configuration.burst = 1000
        return configuration
    }

    // MARK: - Faults and the request log

    /// Makes the next matching requests fail (see `KubeAPIFault`).
    public func inject(_ fault: KubeAPIFault) {
        faults.withLock { $0.append(fault) }
    }

    public func clearFaults() {
        faults.withLock { $0.removeAll() }
    }

    private func takeFault(verb: String, path: String) -> KubeAPIFault.Action? {
        faults.withLock { faults in
            guard let index = faults.firstIndex(where: { $0.matches(verb: verb, path: path) }) else { return nil }
            let action = faults[index].action
            faults[index].times -= 1
            if faults[index].times <= 0 { faults.remove(at: index) }
            return action
        }
    }

    /// Every request received so far, in order.
    public var requests: [KubeAPIRequestRecord] { log.value }

    /// How many requests of a verb (and a path part) arrived.
    public func requestCount(verb: String? = nil, pathContains: String? = nil) -> Int {
        log.value.filter { record in
            (verb == nil || record.verb == verb) && (pathContains.map { record.path.contains($0) } ?? true)
        }.count
    }

    public func clearRequestLog() {
        log.withLock { $0.removeAll() }
    }

    // MARK: - Lifecycle

    /// Starts a server, runs `body` with it, and stops it (closing every connection and watch).
    public static func with<T>(_ options: Options = Options(), _ body: (KubeAPITestServer) async throws -> T) async throws -> T {
        var pki = options.pki
        var sslContext: NIOSSLContext?
        if options.tls {
            let material = try pki ?? TestPKI.generate()
            pki = material
            var configuration = TLSConfiguration.makeServerConfiguration(
                certificateChain: try NIOSSLCertificate.fromPEMBytes(material.serverCertificatePEM).map { .certificate($0) },
                privateKey: .privateKey(try NIOSSLPrivateKey(bytes: material.serverKeyPEM, format: .pem)))
            if options.clientCertificates {
                configuration.certificateVerification = .optionalVerification
                configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(material.caPEM))
            }
            sslContext = try NIOSSLContext(configuration: configuration)
        }
        let context = sslContext
        let serverChannel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: "127.0.0.1", port: 0) { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let context {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
                    }
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(
                        wrappingChannelSynchronously: channel)
                }
            }
        guard let port = serverChannel.channel.localAddress?.port else {
            throw TestFailure("the test API server has no port")
        }
        let policy: RBACPolicy
        switch options.authorization {
        case .chartRBAC: policy = try RBACPolicy.chart()
        case .policy(let given): policy = given
        }
        let store = try KubeAPIStore(resources: options.resources, historyLimit: options.historyLimit)
        let server = KubeAPITestServer(options: options, pki: pki, port: port, store: store, policy: policy)
        return try await withThrowingTaskGroup(of: Void.self) { acceptor in
            acceptor.addTask {
                try await withThrowingDiscardingTaskGroup { connections in
                    try await serverChannel.executeThenClose { inbound in
                        for try await connection in inbound {
                            connections.addTask { await server.serve(connection) }
                        }
                    }
                }
            }
            let outcome: Result<T, any Error>
            do {
                outcome = .success(
                    try await withThrowingTaskGroup(of: Void.self) { background in
                        if let interval = options.bookmarkInterval {
                            background.addTask {
                                while !Task.isCancelled {
                                    try await Task.sleep(for: interval)
                                    server.store.sendBookmarks()
                                }
                            }
                        }
                        defer { background.cancelAll() }
                        return try await body(server)
                    })
            } catch {
                outcome = .failure(error)
            }
            await server.stop(serverChannel.channel)
            // The accept loop ends by itself once the closed server channel has handed over every
            // connection it accepted, each closed at once. Cancelling the loop instead would drop
            // accepted connections unserved, which NIO treats as a fatal error.
            try? await acceptor.waitForAll()
            return try outcome.get()
        }
    }

    private func stop(_ serverChannel: any Channel) async {
        let open = connections.withLock { state in
            state.stopping = true
            return Array(state.open.values)
        }
        try? await serverChannel.close()
        store.stopAllWatches()
        for channel in open {
            try? await channel.close()
        }
    }

    // MARK: - Connections

    private func serve(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>) async {
        let channel = connection.channel
        let id = ObjectIdentifier(channel)
        let stopping = connections.withLock { state in
            if !state.stopping { state.open[id] = channel }
            return state.stopping
        }
        if stopping { channel.close(promise: nil) }
        defer { connections.withLock { _ = $0.open.removeValue(forKey: id) } }
        do {
            try await connection.executeThenClose { inbound, outbound in
                var head: HTTPRequestHead?
                var body = ByteBuffer()
                for try await part in inbound {
                    switch part {
                    case .head(let requestHead):
                        head = requestHead
                        body.clear()
                    case .body(var chunk):
                        body.writeBuffer(&chunk)
                    case .end:
                        guard let requestHead = head else { continue }
                        head = nil
                        let keepOpen = try await respond(to: requestHead, body: body, outbound: outbound, channel: channel)
                        if !keepOpen || !requestHead.isKeepAlive { return }
                    }
                }
            }
        } catch {
            // The client went away or the server stopped; nothing to answer.
        }
    }

    private enum Route {
        case response(KubeAPIResponse)
        case watch(stream: AsyncStream<KubeAPIWatchEvent>, id: Int, timeout: Int?)
    }

    /// Answers one request; returns whether the connection may stay open.
    private func respond(
        to head: HTTPRequestHead, body: ByteBuffer, outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>,
        channel: any Channel
    ) async throws -> Bool {
        let components = URLComponents(string: "http://localhost" + head.uri)
        let path = components?.path ?? head.uri
        var query: [String: String] = [:]
        for item in components?.queryItems ?? [] {
            query[item.name] = item.value ?? ""
        }
        let target = Target(path: path)
        let verb = target.verb(method: head.method, query: query)
        let user = await authenticate(head, channel: channel)
        func record(_ status: Int) {
            log.withLock {
                $0.append(
                    KubeAPIRequestRecord(
                        method: head.method.rawValue, verb: verb, path: path, query: query, status: status,
                        body: String(buffer: body), user: user?.name ?? "", attributes: target.attributes(verb: verb, query: query)))
            }
        }

        guard let user else {
            let response = KubeAPIResponse.failure(401, reason: "Unauthorized", message: "Unauthorized")
            record(401)
            try await write(response, to: outbound)
            return true
        }
        let attributes = target.attributes(verb: verb, query: query)
        if case .deny(let reason) = policy.value.authorize(user, attributes) {
            record(403)
            try await write(RBACPolicy.forbidden(user, attributes, reason: reason), to: outbound)
            return true
        }

        var dropAfter: Int?
        var dropResponse = false
        switch takeFault(verb: verb, path: path) {
        case .status(let code, let reason, let message, let retryAfter)?:
            record(code)
            try await write(.failure(code, reason: reason, message: message, retryAfter: retryAfter), to: outbound)
            return true
        case .hang?:
            record(0)
            // Hold the request until the client gives up (or the server stops).
            try? await channel.closeFuture.get()
            return false
        case .closeConnection?:
            record(0)
            return false
        case .dropWatch(let events)?:
            dropAfter = events
        case .dropResponse?:
            dropResponse = true
        case nil:
            break
        }

        switch route(target, verb: verb, method: head.method, query: query, body: body, contentType: head.headers.first(name: "Content-Type")) {
        case .response(let response):
            record(response.status)
            if dropResponse { return false }
            try await write(response, to: outbound)
            return true
        case .watch(let stream, let id, let timeout):
            record(200)
            channel.closeFuture.whenComplete { [store] _ in store.stopWatch(id) }
            return try await streamWatch(stream, id: id, timeout: timeout, dropAfter: dropAfter, outbound: outbound, channel: channel)
        }
    }

    /// The user a request authenticates as, or nil (401).
    private func authenticate(_ head: HTTPRequestHead, channel: any Channel) async -> KubeAPIUser? {
        guard let expected = acceptedToken.value else { return .admin }
        let header = head.headers.first(name: "Authorization") ?? ""
        if header == "Bearer \(expected)" { return .admin }
        if header.hasPrefix("Bearer "), let account = serviceAccountTokens.value[String(header.dropFirst("Bearer ".count))] {
            return account
        }
        if options.tls, options.clientCertificates {
            let presented = try? await channel.nioSSL_peerCertificate().map { $0 != nil }.get()
            return presented == true ? .admin : nil
        }
        return nil
    }

    private func write(_ response: KubeAPIResponse, to outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>) async throws {
        let data = (try? response.body.jsonData()) ?? Data()
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Content-Length", value: String(data.count))
        for (name, value) in response.headers {
            headers.add(name: name, value: value)
        }
        let head = HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: response.status), headers: headers)
        try await outbound.write(.head(head))
        try await outbound.write(.body(.byteBuffer(ByteBuffer(data: data))))
        try await outbound.write(.end(nil))
    }

    /// Writes watch events as chunks of one JSON line each until the stream ends (watch timeout,
    /// server stop) or, with a drop fault, cuts the connection after some events.
    private func streamWatch(
        _ stream: AsyncStream<KubeAPIWatchEvent>, id: Int, timeout: Int?, dropAfter: Int?,
        outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>, channel: any Channel
    ) async throws -> Bool {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Transfer-Encoding", value: "chunked")
        try await outbound.write(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers)))
        return try await withThrowingTaskGroup(of: Void.self) { group in
            if let timeout {
                group.addTask { [store] in
                    try await Task.sleep(for: .seconds(timeout))
                    store.stopWatch(id)
                }
            }
            defer { group.cancelAll() }
            var written = 0
            for await event in stream {
                if let dropAfter, written >= dropAfter {
                    store.stopWatch(id)
                    try? await channel.close()
                    return false
                }
                try await outbound.write(.body(.byteBuffer(ByteBuffer(string: event.line))))
                written += 1
            }
            store.stopWatch(id)
            try await outbound.write(.end(nil))
            return true
        }
    }

    // MARK: - Routing

    /// The parts of a request path.
    struct Target {
        var group = ""
        var version = ""
        var namespace: String?
        var plural: String?
        var name: String?
        var subresource: String?
        var special: String?
        var path: String

        init(path: String) {
            self.path = path
            let segments = path.split(separator: "/").map { $0.removingPercentEncoding ?? String($0) }
            var rest: ArraySlice<String>
            switch segments.first {
            case "api":
                guard segments.count >= 2 else { special = "api"; return }
                version = segments[1]
                rest = segments.dropFirst(2)
            case "apis":
                guard segments.count >= 3 else { special = segments.count == 1 ? "apis" : "unknown"; return }
                group = segments[1]
                version = segments[2]
                rest = segments.dropFirst(3)
            case "version":
                special = "version"
                return
            default:
                special = "unknown"
                return
            }
            if rest.isEmpty {
                special = "discovery"
                return
            }
            if rest.count >= 3, rest.first == "namespaces" {
                namespace = rest.dropFirst().first
                rest = rest.dropFirst(2)
            }
            plural = rest.first
            name = rest.dropFirst().first
            subresource = rest.dropFirst(2).first
        }

        func verb(method: HTTPMethod, query: [String: String]) -> String {
            if special == "discovery" || special == "api" || special == "apis" || special == "version" { return "discovery" }
            let watching = query["watch"] == "true" || query["watch"] == "1"
            switch (method, name) {
            case (.GET, nil): return watching ? "watch" : "list"
            case (.GET, _): return watching ? "watch" : "get"
            case (.POST, nil): return "create"
            // A subresource that is created (pods/eviction, pods/binding), as kube-apiserver names it.
            case (.POST, _?) where subresource != nil: return "create"
            case (.PUT, _?): return "update"
            case (.PATCH, _?): return "patch"
            case (.DELETE, _?): return "delete"
            case (.DELETE, nil): return "deletecollection"
            default: return "other"
            }
        }

        /// What RBAC decides on. A list or watch selecting one name by field selector is about that
        /// name, as in kube-apiserver.
        func attributes(verb: String, query: [String: String]) -> KubeAPIRequestAttributes {
            if verb == "discovery" || special != nil {
                return KubeAPIRequestAttributes(verb: "get", nonResourcePath: path)
            }
            var objectName = name ?? ""
            if objectName.isEmpty, verb == "list" || verb == "watch", let selector = query["fieldSelector"],
                let parsed = try? FieldSelector(parsing: selector),
                let exact = parsed.requirements.first(where: { $0.path == "metadata.name" && !$0.negated })
            {
                objectName = exact.value
            }
            return KubeAPIRequestAttributes(
                verb: verb, group: group, resource: plural ?? "", subresource: subresource ?? "", name: objectName,
                namespace: namespace ?? "")
        }
    }

    private func route(
        _ target: Target, verb: String, method: HTTPMethod, query: [String: String], body: ByteBuffer, contentType: String?
    ) -> Route {
        if let special = target.special {
            return .response(discovery(special, target))
        }
        if target.group == "apiextensions.k8s.io", target.plural == "customresourcedefinitions" {
            return .response(customResourceDefinitions(name: target.name))
        }
        guard let plural = target.plural,
            let resource = store.resource(group: target.group, version: target.version, plural: plural)
        else {
            return .response(.failure(404, reason: "NotFound", message: "the server could not find the requested resource"))
        }
        var json: JSONValue?
        if body.readableBytes > 0 {
            guard let decoded = try? JSONValue(json: Data(buffer: body)) else {
                return .response(.badRequest("the request body is not JSON"))
            }
            json = decoded
        }
        let namespace = target.namespace
        if resource == .pods, target.subresource == "eviction" {
            // Eviction is a create-only subresource.
            guard verb == "create" else {
                return .response(.failure(405, reason: "MethodNotAllowed", message: "the server does not allow this method on the requested resource"))
            }
            return .response(store.evict(namespace: namespace ?? "", name: target.name ?? "", body: json))
        }
        switch verb {
        case "get":
            if target.subresource != nil, target.subresource != "status" { return .response(.failure(404, reason: "NotFound", message: "the server could not find the requested resource")) }
            return .response(store.get(resource, namespace: namespace, name: target.name ?? ""))
        case "list":
            return .response(
                store.list(
                    resource, namespace: namespace, labelSelector: query["labelSelector"], fieldSelector: query["fieldSelector"],
                    limit: query["limit"].flatMap(Int.init), continueToken: query["continue"], resourceVersion: query["resourceVersion"],
                    resourceVersionMatch: query["resourceVersionMatch"]))
        case "watch":
            let result = store.watch(
                resource, namespace: namespace, resourceVersion: query["resourceVersion"], labelSelector: query["labelSelector"],
                fieldSelector: query["fieldSelector"], bookmarks: query["allowWatchBookmarks"] == "true",
                goneAsHTTPStatus: options.goneAsHTTPStatus, resourceVersionMatch: query["resourceVersionMatch"],
                sendInitialEvents: query["sendInitialEvents"])
            switch result {
            case .success(let watch):
                return .watch(stream: watch.stream, id: watch.id, timeout: query["timeoutSeconds"].flatMap(Int.init))
            case .failure(let response):
                return .response(response)
            }
        case "create":
            guard target.name == nil else {
                return .response(.failure(405, reason: "MethodNotAllowed", message: "the server does not allow this method on the requested resource"))
            }
            return .response(store.create(resource, namespace: namespace, body: json ?? .null))
        case "update":
            return .response(
                store.update(resource, namespace: namespace, name: target.name ?? "", body: json ?? .null, subresource: target.subresource))
        case "patch":
            return .response(
                store.patch(
                    resource, namespace: namespace, name: target.name ?? "", contentType: contentType ?? "", patch: json ?? .null,
                    subresource: target.subresource))
        case "delete":
            return .response(store.delete(resource, namespace: namespace, name: target.name ?? "", options: json))
        default:
            return .response(.failure(405, reason: "MethodNotAllowed", message: "the server does not allow this method on the requested resource"))
        }
    }

    private func discovery(_ kind: String, _ target: Target) -> KubeAPIResponse {
        let resources = store.servedResources
        switch kind {
        case "version":
            return KubeAPIResponse(status: 200, body: ["major": "1", "minor": "30", "gitVersion": "v1.30.0-cstor-csi-test"])
        case "api":
            return KubeAPIResponse(status: 200, body: ["kind": "APIVersions", "versions": ["v1"]])
        case "apis":
            let groups = Set(resources.filter { !$0.group.isEmpty }.map { "\($0.group)|\($0.version)" }).sorted()
            let items: [JSONValue] = groups.map { entry in
                let parts = entry.split(separator: "|").map(String.init)
                let group = parts.first ?? ""
                let version = parts.dropFirst().first ?? ""
                let groupVersion: JSONValue = ["groupVersion": .string("\(group)/\(version)"), "version": .string(version)]
                return ["name": .string(group), "versions": [groupVersion], "preferredVersion": groupVersion]
            }
            return KubeAPIResponse(status: 200, body: ["kind": "APIGroupList", "apiVersion": "v1", "groups": .array(items)])
        case "discovery":
            let served = resources.filter { $0.group == target.group && $0.version == target.version }
            guard !served.isEmpty else {
                return .failure(404, reason: "NotFound", message: "the server could not find the requested resource")
            }
            let items: [JSONValue] = served.sorted { $0.plural < $1.plural }.map { resource in
                [
                    "name": .string(resource.plural), "singularName": "", "namespaced": .bool(resource.namespaced),
                    "kind": .string(resource.kind),
                    "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"],
                ]
            }
            let groupVersion = target.group.isEmpty ? target.version : "\(target.group)/\(target.version)"
            return KubeAPIResponse(
                status: 200,
                body: ["kind": "APIResourceList", "apiVersion": "v1", "groupVersion": .string(groupVersion), "resources": .array(items)])
        default:
            return .failure(404, reason: "NotFound", message: "the server could not find the requested resource")
        }
    }

    /// The installed CRDs, as kube-apiserver serves them (Established).
    private func customResourceDefinitions(name: String?) -> KubeAPIResponse {
        let definitions = store.definitions.sorted { $0.resource.plural < $1.resource.plural }.map { definition -> JSONValue in
            var object = definition.object
            object["status"] = ["conditions": [["type": "Established", "status": "True"], ["type": "NamesAccepted", "status": "True"]]]
            return object
        }
        guard let name else {
            return KubeAPIResponse(
                status: 200,
                body: [
                    "kind": "CustomResourceDefinitionList", "apiVersion": "apiextensions.k8s.io/v1", "metadata": [:],
                    "items": .array(definitions),
                ])
        }
        guard let definition = definitions.first(where: { $0[path: ["metadata", "name"]]?.stringValue == name }) else {
            return .notFound(.customResourceDefinitions, name: name)
        }
        return KubeAPIResponse(status: 200, body: definition)
    }
}
