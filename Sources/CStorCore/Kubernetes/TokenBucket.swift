/// The client-side rate limit (`--kube-api-qps`, `--kube-api-burst`): a token bucket that refills
/// at `rate` per second up to `burst`. A caller reserves a token and sleeps until it is due, so
/// waiting callers are served in order without polling.
import CStorCore

package final class TokenBucket: Sendable {
    private let rate: Double
    private let burst: Double
    private let state: LockedValue<(tokens: Double, updated: ContinuousClock.Instant)>

    package init(rate: Double, burst: Int) {
        self.rate = max(rate, 0.001)
        self.burst = Double(max(burst, 1))
        state = LockedValue((Double(max(burst, 1)), ContinuousClock.now))
    }

    /// Takes a token; returns how long to wait before using it.
    package func reserve() -> Duration {
        state.withLock { state in
            let now = ContinuousClock.now
            let elapsed = now - state.updated
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            state.tokens = min(burst, state.tokens + seconds * rate)
            state.updated = now
            state.tokens -= 1
            return state.tokens >= 0 ? .zero : .seconds(-state.tokens / rate)
        }
    }

    package func acquire() async throws {
        let wait = reserve()
        if wait > .zero {
            try await Task.sleep(for: wait)
        }
    }
}
