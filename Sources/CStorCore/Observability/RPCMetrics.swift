import Metrics
import Synchronization

/// Metrics of the gRPC surface: a latency histogram per method and code (its `_count` is the
/// number of calls) and the number of RPCs in flight.
public struct RPCMetrics: RPCObserver {
    private let inFlight = InFlightGauge(label: "cstor_csi_rpc_in_flight")

    public init() {}

    public func started(method: String) {
        inFlight.add(1)
    }

    public func finished(method: String, code: String, seconds: Double) {
        inFlight.add(-1)
        Timer(label: "cstor_csi_rpc_duration_seconds", dimensions: [("method", method), ("code", code)])
            .recordNanoseconds(Int64(seconds * 1e9))
    }
}

/// A gauge that follows a count of work in progress.
public final class InFlightGauge: Sendable {
    private let gauge: Gauge
    private let value = Atomic<Int>(0)

    public init(label: String, dimensions: [(String, String)] = []) {
        gauge = Gauge(label: label, dimensions: dimensions)
    }

    public func add(_ delta: Int) {
        gauge.record(value.add(delta, ordering: .relaxed).newValue)
    }
}
