import GRPCCore
import GRPCNIOTransportHTTP2Posix
import NIOCore
import Synchronization

/// The transport of `CSIServer`: grpc-swift-nio-transport's HTTP/2 server, with two decisions
/// taken for each RPC before grpc-swift-2's executor sees it.
///
/// **The deadline** (`grpc-timeout`) is enforced by one scheduled callback on the event loop,
/// cancelled (and freed) when the RPC ends. grpc-swift-2's executor raced every RPC that carries
/// `grpc-timeout` with a `Task.sleep` child task, and a cancelled sleep keeps its memory until its
/// original deadline (swiftlang/swift#60441): 10,000 calls with the sidecars' 120 s deadline held
/// ~17 MB. So `grpc-timeout` is taken out of the request's first metadata before the executor
/// reads it, and at the deadline the callback does what the executor's timer did: it cancels the
/// RPC through `ServerContext.cancellation` (handlers see it with `withRPCCancellationHandler` or
/// `context.cancellation`). The client's own deadline still ends its call with DEADLINE_EXCEEDED.
///
/// **Where the RPC runs.** The server's tasks prefer the event loop's thread (`CSIServer` serves
/// under an `EventLoopTaskExecutor`), so a method in `loopMethods` — a few answers from memory
/// that kubelet and the sidecars ask for again and again — runs where its bytes arrive and leave,
/// without a hop to the cooperative pool and back for each step (16 → 3 context switches per
/// Probe). Every other method moves to the cooperative pool first: a handler that blocks
/// (statvfs on a hung device, mkfs, fsync) must never hold up the event loop.
///
/// **The largest request** is `maximumRequestBytes` (4 MiB, gRPC's usual limit). The HTTP/2
/// transport resets the stream of a message above its own limit, and the client sees CANCELLED
/// with no reason; so its limit is set higher (`transportRequestBytes`), and a message between the
/// two is answered RESOURCE_EXHAUSTED with the sizes, as gRPC answers an oversized message. Beyond
/// the transport's limit the stream is still reset: nothing that large is ever buffered.
///
/// It wraps the concrete HTTP/2 transport rather than any `ServerTransport`: in a generic wrapper
/// every RPC would look up the metadata of its nested generic types at run time (~10,000
/// instructions per call, measured with callgrind).
public struct CSIServerTransport: ServerTransport {
    public typealias Base = HTTP2ServerTransport.Posix
    public typealias Bytes = Base.Bytes

    /// The largest request message a CSI RPC may carry.
    public static let maximumRequestBytes = 4 << 20
    /// The transport's own limit (`HTTP2ServerTransport.Config.RPC.maxRequestPayloadSize`).
    public static let transportRequestBytes = 16 << 20

    private let base: Base
    private let eventLoop: any EventLoop
    private let loopMethods: Set<String>

    /// `eventLoop` runs the deadline callbacks (any loop will do: a callback only flags the RPC);
    /// `loopMethods` are the method names (`Probe`) that stay on the executor the server runs on.
    public init(wrapping base: Base, eventLoop: any EventLoop, loopMethods: Set<String>) {
        self.base = base
        self.eventLoop = eventLoop
        self.loopMethods = loopMethods
    }

    public func configure(context: GRPCServerContext) {
        base.configure(context: context)
    }

    public func beginGracefulShutdown() {
        base.beginGracefulShutdown()
    }

    public func listen(
        streamHandler: @escaping @Sendable (_ stream: RPCStream<Inbound, Outbound>, _ context: ServerContext) async -> Void
    ) async throws {
        let eventLoop = self.eventLoop
        let loopMethods = self.loopMethods
        try await base.listen { stream, context in
            let deadline = RPCDeadline(cancellation: context.cancellation, eventLoop: eventLoop)
            defer { deadline.end() }
            let inbound = RPCAsyncSequence(wrapping: DeadlineTakingParts(base: stream.inbound, deadline: deadline))
            let rpc = RPCStream(descriptor: stream.descriptor, inbound: inbound, outbound: stream.outbound)
            if loopMethods.contains(stream.descriptor.method) {
                await streamHandler(rpc, context)
            } else {
                await withTaskExecutorPreference(globalConcurrentExecutor) { await streamHandler(rpc, context) }
            }
        }
    }

    /// The request parts with `grpc-timeout` taken out of the first one (the metadata), which
    /// starts the RPC's deadline instead.
    struct DeadlineTakingParts: AsyncSequence, Sendable {
        typealias Element = RPCRequestPart<Bytes>
        typealias Failure = any Error

        let base: RPCAsyncSequence<Element, any Error>
        let deadline: RPCDeadline

        func makeAsyncIterator() -> Iterator {
            Iterator(base: base.makeAsyncIterator(), deadline: deadline)
        }

        struct Iterator: AsyncIteratorProtocol {
            var base: RPCAsyncSequence<Element, any Error>.AsyncIterator
            let deadline: RPCDeadline
            var first = true

            mutating func next() async throws -> Element? {
                let part = try await base.next()
                if case .message(let bytes) = part, bytes.count > CSIServerTransport.maximumRequestBytes {
                    throw RPCError(
                        code: .resourceExhausted,
                        message: "the request message is \(bytes.count) bytes; this plugin receives at most \(CSIServerTransport.maximumRequestBytes)")
                }
                guard first else { return part }
                first = false
                guard case .metadata(var metadata) = part,
                    let value = metadata[stringValues: GRPCTimeout.key].first(where: { _ in true })
                else { return part }
                // Taken out even when malformed (the executor would read "-5S" as "now"): a value
                // that is not `1*8DIGIT unit` sets no deadline.
                metadata.removeAllValues(forKey: GRPCTimeout.key)
                if let timeout = GRPCTimeout.parse(value) {
                    deadline.start(after: timeout)
                }
                return .metadata(metadata)
            }
        }
    }
}

/// One RPC's deadline: a callback scheduled on an event loop that cancels the RPC, removed from
/// the loop's queue as soon as the RPC ends.
final class RPCDeadline: NIOScheduledCallbackHandler, Sendable {
    private enum State {
        case idle
        case scheduled(NIOScheduledCallback)
        case ended
    }

    private let cancellation: ServerContext.RPCCancellationHandle
    private let eventLoop: any EventLoop
    private let state = Mutex<State>(.idle)

    init(cancellation: ServerContext.RPCCancellationHandle, eventLoop: any EventLoop) {
        self.cancellation = cancellation
        self.eventLoop = eventLoop
    }

    func start(after timeout: TimeAmount) {
        state.withLock { state in
            guard case .idle = state else { return }
            do {
                state = .scheduled(try eventLoop.scheduleCallback(in: timeout, handler: self))
            } catch {
                // The loop is shutting down, and the process with it: the RPC ends without a deadline.
                state = .ended
            }
        }
    }

    func end() {
        let scheduled: NIOScheduledCallback? = state.withLock { state in
            defer { state = .ended }
            if case .scheduled(let callback) = state { return callback }
            return nil
        }
        scheduled?.cancel()
    }

    func handleScheduledCallback(eventLoop: some EventLoop) {
        cancellation.cancel()
    }
}

/// The `grpc-timeout` request header (gRPC over HTTP/2: `1*8DIGIT` followed by one of
/// `H M S m u n`).
enum GRPCTimeout {
    static let key = "grpc-timeout"

    static func parse(_ value: String) -> TimeAmount? {
        let utf8 = value.utf8
        guard (2...9).contains(utf8.count), let unit = utf8.last else { return nil }
        var amount: Int64 = 0
        for digit in utf8.dropLast() {
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(digit) else { return nil }
            amount = amount * 10 + Int64(digit - UInt8(ascii: "0"))
        }
        let nanosecondsPerUnit: Int64
        switch unit {
        case UInt8(ascii: "H"): nanosecondsPerUnit = 3_600_000_000_000
        case UInt8(ascii: "M"): nanosecondsPerUnit = 60_000_000_000
        case UInt8(ascii: "S"): nanosecondsPerUnit = 1_000_000_000
        case UInt8(ascii: "m"): nanosecondsPerUnit = 1_000_000
        case UInt8(ascii: "u"): nanosecondsPerUnit = 1_000
        case UInt8(ascii: "n"): nanosecondsPerUnit = 1
        default: return nil
        }
        // 99999999H is longer than Int64 nanoseconds can hold (292 years): such a deadline never comes.
        let (nanoseconds, overflow) = amount.multipliedReportingOverflow(by: nanosecondsPerUnit)
        return .nanoseconds(overflow ? .max : nanoseconds)
    }
}
