import FoundationEssentials
import Glibc
import Logging
import Metrics
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus
import ServiceLifecycle

/// Serves the process's metrics in Prometheus text format at `GET /metrics` (`--metrics-address`).
/// swift-metrics is bootstrapped with swift-prometheus once, at start-up; process metrics (RSS,
/// open descriptors, threads) are read from /proc on each scrape.
public struct MetricsServer: Service {
    public let host: String
    public let port: Int
    private let registry: PrometheusCollectorRegistry
    private let eventLoopGroup: MultiThreadedEventLoopGroup
    private let logger: Logger

    /// Bootstraps swift-metrics and returns the registry the server reads.
    public static func bootstrapMetrics() -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
            .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5),
            .seconds(10), .seconds(30), .seconds(60), .seconds(120),
        ]
        MetricsSystem.bootstrap(factory)
        ProcessMetrics.startTime.record(Date().timeIntervalSince1970)
        return registry
    }

    /// Parses `host:port` (`:9090` listens on every address).
    public init(address: String, registry: PrometheusCollectorRegistry, eventLoopGroup: MultiThreadedEventLoopGroup, logger: Logger) throws {
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]),
            (0...65535).contains(port)
        else {
            throw Endpoint.ParseError(description: "--metrics-address \(address): expected host:port")
        }
        var host = String(address[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        self.host = host.isEmpty ? "0.0.0.0" : host
        self.port = port
        self.registry = registry
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
    }

    public func run() async throws {
        let registry = self.registry
        let channel = try await ServerBootstrap(group: eventLoopGroup)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMap {
                    channel.pipeline.addHandler(MetricsHandler(registry: registry))
                }
            }
            .bind(host: host, port: port).get()
        logger.notice("serving metrics", metadata: ["address": "\(channel.localAddress.map { "\($0)" } ?? "")"])
        try await withGracefulShutdownHandler {
            try await channel.closeFuture.get()
        } onGracefulShutdown: {
            channel.close(promise: nil)
        }
    }
}

extension MetricsServer: CustomStringConvertible {
    public var description: String { "MetricsServer(\(host):\(port))" }
}

private final class MetricsHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let registry: PrometheusCollectorRegistry

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(let request) = unwrapInboundIn(data) else { return }
        let found = request.method == .GET && (request.uri == "/metrics" || request.uri.hasPrefix("/metrics?"))
        var body: [UInt8]
        if found {
            ProcessMetrics.sample()
            body = registry.emitToBuffer()
        } else {
            body = Array("not found: metrics are at /metrics\n".utf8)
        }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: found ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain")
        headers.add(name: "Content-Length", value: "\(body.count)")
        headers.add(name: "Connection", value: "close")
        let head = HTTPResponseHead(version: request.version, status: found ? .ok : .notFound, headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        var buffer = context.channel.allocator.buffer(capacity: body.count)
        buffer.writeBytes(body)
        body = []
        context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }
}

/// The process's own vital signs, refreshed on each scrape.
public enum ProcessMetrics {
    static let residentMemory = Gauge(label: "process_resident_memory_bytes")
    static let openDescriptors = Gauge(label: "process_open_fds")
    static let threads = Gauge(label: "process_threads")
    static let startTime = Gauge(label: "process_start_time_seconds")

    static func sample() {
        if let status = try? KernelFile.read("/proc/self/status") {
            for line in status.split(separator: "\n") {
                let fields = line.split(separator: " ", omittingEmptySubsequences: true)
                if line.hasPrefix("VmRSS:"), fields.count >= 2, let kib = Int(fields[1]) { residentMemory.record(kib * 1024) }
                if line.hasPrefix("Threads:"), fields.count >= 2, let count = Int(fields[1]) { threads.record(count) }
            }
        }
        if let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") {
            openDescriptors.record(entries.count)
        }
    }
}
