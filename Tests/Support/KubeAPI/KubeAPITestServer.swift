import CStorCore
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import NIOPosix
import NIOSSL

/// An in-process HTTP(S) server on 127.0.0.1 that behaves like kube-apiserver for what cstor-csi
/// uses (see `KubeAPIStore` for the semantics): resources under `/api/v1` and
/// `/apis/<group>/<version>`, discovery, bearer-token (and optionally client-certificate)
/// authentication, watch streams with bookmarks and timeouts, and injected faults per verb and path.
///
/// Run it scoped: `try await KubeAPITestServer.with { server in ... }` stops it at the end.
public final class KubeAPITestServer: Sendable {
    public struct Options: Sendable {
        /// Serve HTTPS with certificates from `pki` (generated when nil).
        public var tls: Bool
        public var pki: TestPKI?
        /// Accept a client certificate signed by the CA as authentication (HTTPS only).
        public var clientCertificates: Bool
        /// The bearer token a request must carry; nil disables authentication.
        public var token: String?
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
            bookmarkInterval: Duration? = nil, goneAsHTTPStatus: Bool = false
        ) {
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

    /// The cStor custom resources and the core resources cstor-csi uses.
    public static let defaultResources: [KubernetesResource] =
        KubernetesResource.cstorResources + [.nodes, .persistentVolumes, .persistentVolumeClaims, .events]

    public let store: KubeAPIStore
    public let port: Int
    public let pki: TestPKI?
    let options: Options
    private let acceptedToken: Locked<String?>
    private let faults = Locked<[KubeAPIFault]>([])
    private let log = Locked<[KubeAPIRequestRecord]>([])
    private let connections = Locked<[ObjectIdentifier: any Channel]>([:])

    private init(options: Options, pki: TestPKI?, port: Int) {
        self.options = options
        self.pki = pki
        self.port = port
        self.store = KubeAPIStore(resources: options.resources, historyLimit: options.historyLimit)
        self.acceptedToken = Locked(options.token)
    }

    /// `http://127.0.0.1:<port>` or `https://...`.
    public var baseURL: String { "\(options.tls ? "https" : "http")://127.0.0.1:\(port)" }

    /// The token requests must carry now; change it to test rotation (the old one is refused).
    public var token: String? {
        get { acceptedToken.value }
        set { acceptedToken.value = newValue }
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
        let server = KubeAPITestServer(options: options, pki: pki, port: port)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await withThrowingDiscardingTaskGroup { connections in
                    try await serverChannel.executeThenClose { inbound in
                        for try await connection in inbound {
                            connections.addTask { await server.serve(connection) }
                        }
                    }
                }
            }
            if let interval = options.bookmarkInterval {
                group.addTask {
                    while !Task.isCancelled {
                        try await Task.sleep(for: interval)
                        server.store.sendBookmarks()
                    }
                }
            }
            defer { group.cancelAll() }
            do {
                let result = try await body(server)
                await server.stop(serverChannel.channel)
                return result
            } catch {
                await server.stop(serverChannel.channel)
                throw error
            }
        }
    }

    private func stop(_ serverChannel: any Channel) async {
        try? await serverChannel.close()
        store.stopAllWatches()
        for channel in connections.value.values {
            try? await channel.close()
        }
    }

    // MARK: - Connections

    private func serve(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>) async {
        let channel = connection.channel
        let id = ObjectIdentifier(channel)
        connections.withLock { $0[id] = channel }
        defer { connections.withLock { _ = $0.removeValue(forKey: id) } }
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
        func record(_ status: Int) {
            log.withLock {
                $0.append(
                    KubeAPIRequestRecord(
                        method: head.method.rawValue, verb: verb, path: path, query: query, status: status,
                        body: String(buffer: body)))
            }
        }

        guard await isAuthenticated(head, channel: channel) else {
            let response = KubeAPIResponse.failure(401, reason: "Unauthorized", message: "Unauthorized")
            record(401)
            try await write(response, to: outbound)
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

    private func isAuthenticated(_ head: HTTPRequestHead, channel: any Channel) async -> Bool {
        guard let expected = acceptedToken.value else { return true }
        if head.headers.first(name: "Authorization") == "Bearer \(expected)" { return true }
        if options.tls, options.clientCertificates {
            let presented = try? await channel.nioSSL_peerCertificate().map { $0 != nil }.get()
            return presented == true
        }
        return false
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

        init(path: String) {
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
            switch (method, name) {
            case (.GET, nil): return query["watch"] == "true" || query["watch"] == "1" ? "watch" : "list"
            case (.GET, _): return "get"
            case (.POST, nil): return "create"
            case (.PUT, _?): return "update"
            case (.PATCH, _?): return "patch"
            case (.DELETE, _?): return "delete"
            default: return "other"
            }
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
        switch verb {
        case "get":
            if target.subresource != nil, target.subresource != "status" { return .response(.failure(404, reason: "NotFound", message: "the server could not find the requested resource")) }
            return .response(store.get(resource, namespace: namespace, name: target.name ?? ""))
        case "list":
            return .response(
                store.list(
                    resource, namespace: namespace, labelSelector: query["labelSelector"], fieldSelector: query["fieldSelector"],
                    limit: query["limit"].flatMap(Int.init), continueToken: query["continue"]))
        case "watch":
            let result = store.watch(
                resource, namespace: namespace, resourceVersion: query["resourceVersion"], labelSelector: query["labelSelector"],
                fieldSelector: query["fieldSelector"], bookmarks: query["allowWatchBookmarks"] == "true",
                goneAsHTTPStatus: options.goneAsHTTPStatus)
            switch result {
            case .success(let watch):
                return .watch(stream: watch.stream, id: watch.id, timeout: query["timeoutSeconds"].flatMap(Int.init))
            case .failure(let response):
                return .response(response)
            }
        case "create":
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

    /// Minimal CustomResourceDefinition objects for the served custom resources.
    private func customResourceDefinitions(name: String?) -> KubeAPIResponse {
        let definitions = store.servedResources.filter { !$0.group.isEmpty && $0.group != "apiextensions.k8s.io" }
            .sorted { $0.plural < $1.plural }
            .map { resource -> JSONValue in
                [
                    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                    "metadata": ["name": .string(resource.customResourceDefinitionName)],
                    "spec": [
                        "group": .string(resource.group), "scope": .string(resource.namespaced ? "Namespaced" : "Cluster"),
                        "names": ["plural": .string(resource.plural), "kind": .string(resource.kind)],
                        "versions": [["name": .string(resource.version), "served": true, "storage": true]],
                    ],
                    "status": ["conditions": [["type": "Established", "status": "True"]]],
                ]
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
