import CSITestSupport
import Foundation
import GRPCCore
import Logging
import NIOCore
import NIOPosix
import Synchronization
import Testing

@testable import CStorCore
@testable import CStorKubernetes
@testable import CStorModel

/// Deadlines as the sidecars and kubelet use them: the `grpc-timeout` a call carries ends the
/// call at the client with DeadlineExceeded and cancels the RPC on the server, through the real
/// `CSIServer` on a unix socket.
@Suite("RPC deadlines")
struct DeadlineTests {
    @Test("A call past its deadline ends in DeadlineExceeded at the client, and its handler sees the RPC cancelled")
    func clientDeadline() async throws {
        try await withWaitingServer(bound: .seconds(10)) { identity, socket in
            let code = try await withCSIClient(socket: socket) { client in
                let identity = Csi_V1_Identity.Client(wrapping: client)
                // Connected first, so that the deadline is spent in the handler, not in connecting.
                _ = try await identity.getPluginInfo(.init())
                var options = CallOptions.defaults
                options.timeout = .milliseconds(500)
                return await rpcCode { try await identity.probe(.init(), options: options) }
            }
            #expect(code == .deadlineExceeded)
            let outcome = try await identity.outcome()
            #expect(outcome.cancelled, "the handler was not cancelled within \(outcome.after)")
        }
    }

    @Test("The server cancels an RPC at its grpc-timeout even when the client does not end the call")
    func serverEnforcesDeadline() async throws {
        try await withWaitingServer(bound: .seconds(10)) { identity, socket in
            // Sent before the server can have received it: the server's deadline starts later, so
            // the handler cannot be cancelled less than 300 ms after this, however loaded the machine
            // (the handler's own start may lag the deadline's).
            let sent = ContinuousClock.now
            let response = try await withCSIClient(socket: socket) { client in
                // The header alone, as a client that does not enforce its own deadline sends it.
                try await Csi_V1_Identity.Client(wrapping: client).probe(.init(), metadata: ["grpc-timeout": "300m"])
            }
            #expect(response.ready.value == false)
            let outcome = try await identity.outcome()
            #expect(outcome.cancelled, "the handler was not cancelled within \(outcome.after)")
            #expect(outcome.at - sent >= .milliseconds(299), "cancelled \(outcome.at - sent) after the call was sent: before its deadline")
        }
    }

    // "-300m" made grpc-swift-2 2.4.3's executor fail a precondition: one header crashed the plugin.
    @Test("A call without a deadline, or with a malformed one, is served and never cancelled by the server",
          arguments: [nil, "soon", "-300m", "300", "300x", "123456789m"])
    func noDeadline(header: String?) async throws {
        try await withWaitingServer(bound: .milliseconds(800)) { identity, socket in
            var metadata = Metadata()
            if let header { metadata.addString(header, forKey: "grpc-timeout") }
            _ = try await withCSIClient(socket: socket) { client in
                try await Csi_V1_Identity.Client(wrapping: client).probe(.init(), metadata: metadata)
            }
            let outcome = try await identity.outcome()
            #expect(!outcome.cancelled, "cancelled after \(outcome.after)")
        }
    }

    @Test(
        "grpc-timeout values as the gRPC protocol spells them",
        arguments: [
            ("120S", TimeAmount.seconds(120)), ("1H", .hours(1)), ("2M", .minutes(2)), ("250m", .milliseconds(250)),
            ("7u", .microseconds(7)), ("9n", .nanoseconds(9)), ("99999999S", .seconds(99_999_999)),
            ("0m", .nanoseconds(0)), ("99999999H", .nanoseconds(.max)),
        ])
    func timeoutValues(text: String, expected: TimeAmount) {
        #expect(GRPCTimeout.parse(text) == expected)
    }

    @Test("Malformed grpc-timeout values are not deadlines",
          arguments: ["", "S", "12", "-5S", "+5S", "1.5S", "5s", "123456789S", " 5S", "５S"])
    func malformedTimeouts(text: String) {
        #expect(GRPCTimeout.parse(text) == nil)
    }
}

/// An Identity service whose Probe waits until its RPC is cancelled, or `bound` passes, and then
/// answers `ready: false`; it records which came first.
final class WaitingIdentity: Csi_V1_Identity.SimpleServiceProtocol, Sendable {
    struct Outcome: Sendable {
        var cancelled: Bool
        var after: Duration
        /// When the handler saw the cancellation (or gave up waiting).
        var at: ContinuousClock.Instant
    }

    private let bound: Duration
    private let recorded = Mutex<Outcome?>(nil)

    init(bound: Duration) {
        self.bound = bound
    }

    /// What the last Probe saw, once its handler has finished (waits at most 20 s).
    func outcome() async throws -> Outcome {
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            if let outcome = recorded.withLock({ $0 }) { return outcome }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw TestFailure("the Probe handler did not run, or did not finish within 20 s")
    }

    func probe(request: Csi_V1_ProbeRequest, context: ServerContext) async throws -> Csi_V1_ProbeResponse {
        let start = ContinuousClock.now
        let bound = self.bound
        let cancelled = await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                do {
                    try await context.cancellation.cancelled
                    return true
                } catch {
                    return false
                }
            }
            group.addTask {
                try? await Task.sleep(for: bound)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
        recorded.withLock { $0 = Outcome(cancelled: cancelled, after: ContinuousClock.now - start, at: ContinuousClock.now) }
        var response = Csi_V1_ProbeResponse()
        response.ready = .with { $0.value = false }
        return response
    }

    func getPluginInfo(request: Csi_V1_GetPluginInfoRequest, context: ServerContext) async throws
        -> Csi_V1_GetPluginInfoResponse
    {
        Csi_V1_GetPluginInfoResponse()
    }

    func getPluginCapabilities(request: Csi_V1_GetPluginCapabilitiesRequest, context: ServerContext) async throws
        -> Csi_V1_GetPluginCapabilitiesResponse
    {
        Csi_V1_GetPluginCapabilitiesResponse()
    }
}

/// Runs a `CSIServer` with a `WaitingIdentity` and the plugins' interceptors on a fresh socket.
func withWaitingServer(
    bound: Duration, _ body: @Sendable (WaitingIdentity, String) async throws -> Void
) async throws {
    let identity = WaitingIdentity(bound: bound)
    try await withTestServer(services: [identity]) { socket in try await body(identity, socket) }
}

/// Runs a `CSIServer` with these services and the plugins' interceptors on a fresh socket.
func withTestServer(
    services: [any RegistrableRPCService], _ body: @Sendable (String) async throws -> Void
) async throws {
    let dir = try TemporaryDirectory(prefix: "server")
    let socket = dir.file("csi.sock")
    let logger = Logger(label: "server-test") { _ in SwiftLogNoOpLogHandler() }
    let eventLoopGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let server = CSIServer(
        endpoint: .unix(path: socket), services: services,
        interceptors: [RPCLoggingInterceptor(logger: logger), ErrorMappingInterceptor()],
        eventLoopGroup: eventLoopGroup, logger: logger)
    do {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            let deadline = ContinuousClock.now + .seconds(30)
            while !SocketProbe.accepts(path: socket) {
                guard ContinuousClock.now < deadline else { throw TestFailure("the server did not listen on \(socket)") }
                try await Task.sleep(for: .milliseconds(10))
            }
            try await body(socket)
            group.cancelAll()
        }
    } catch {
        try? await eventLoopGroup.shutdownGracefully()
        throw error
    }
    try await eventLoopGroup.shutdownGracefully()
}
