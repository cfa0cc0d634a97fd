import CStorCore
import Logging
import ServiceLifecycle
import Synchronization

/// One shared watch of a resource in a namespace, with a cache of its objects and waiters on
/// them — what client-go calls an informer. A CreateVolume that waits for its CVC to be bound
/// registers a waiter here instead of opening a watch of its own, and reads cached objects
/// instead of asking the API server: the API traffic of a create becomes one POST.
///
/// The cache is authoritative only once `isSynced` (after the first list); callers fall back to
/// the API before that. The watch resumes after drops and re-lists after 410 (`KubernetesWatch`).
/// A failure the watch cannot get past (403, 404, 401, a list that keeps failing) starts over
/// after a delay that doubles, with jitter, up to `Backoff.maximum`, and goes back to the start
/// only once a watch has been healthy (delivered an event, or stayed open `healthyAfter`). A 403
/// is logged once per step at error level, naming the permission that is missing.
public final class Informer<Object: KubernetesResourceObject>: Service, Sendable {
    private struct Waiter {
        var id: UInt64
        var condition: @Sendable (Object) -> Bool
        var continuation: CheckedContinuation<Object, any Error>
    }

    private struct State {
        var objects: [String: Object] = [:]
        var synced = false
        var waiters: [String: [Waiter]] = [:]
        var nextID: UInt64 = 0
    }

    /// How long the informer waits before it starts over after a failure.
    public struct Backoff: Sendable {
        /// The first delay after a healthy watch.
        public var initial: Duration
        public var maximum: Duration
        /// A watch that stayed open this long (or delivered an event) was healthy.
        public var healthyAfter: Duration
        /// Each delay is multiplied by a random factor in this range, so that informers (and
        /// controller replicas) that failed together do not retry together.
        public var jitter: ClosedRange<Double>

        public init(
            initial: Duration = .milliseconds(200), maximum: Duration = .seconds(30), healthyAfter: Duration = .seconds(60),
            jitter: ClosedRange<Double> = 0.8...1.2
        ) {
            self.initial = initial
            self.maximum = maximum
            self.healthyAfter = healthyAfter
            self.jitter = jitter
        }

        /// The delay after the `step`-th failure in a row (1 for the first).
        public func delay(step: Int) -> Duration {
            var delay = initial
            for _ in 1..<Swift.max(1, Swift.min(step, 40)) {
                delay = Swift.min(delay * 2, maximum)
            }
            return delay * Double.random(in: jitter)
        }
    }

    private let client: any KubernetesClient
    private let namespace: String?
    private let labelSelector: String?
    private let logger: Logger
    private let backoff: Backoff
    private let state = Mutex(State())

    public init(
        client: any KubernetesClient, namespace: String?, labelSelector: String? = nil, logger: Logger,
        backoff: Backoff = Backoff()
    ) {
        self.client = client
        self.namespace = namespace
        self.labelSelector = labelSelector
        self.logger = logger
        self.backoff = backoff
    }

    public var isSynced: Bool { state.withLock { $0.synced } }

    /// The cached object, or nil (also nil before the first sync: check `isSynced`).
    public func cached(_ name: String) -> Object? {
        state.withLock { $0.objects[name] }
    }

    public func cachedObjects() -> [Object] {
        state.withLock { Array($0.objects.values) }
    }

    /// Lists, then follows the watch until cancelled or shut down (it then returns normally,
    /// whatever it was doing: listing, watching or waiting to retry).
    public func run() async throws {
        await cancelWhenGracefulShutdown { await self.follow() }
        failWaiters(CancellationError())
    }

    private func follow() async {
        var step = 0
        while !Task.isCancelled {
            var verb = "list"
            var watchOpened: ContinuousClock.Instant?
            var delivered = false
            do {
                let list = try await client.listAll(
                    Object.resource, as: Object.self, namespace: namespace, labelSelector: labelSelector)
                replaceAll(list.items)
                verb = "watch"
                watchOpened = .now
                let events = client.watch(
                    Object.resource, as: Object.self, namespace: namespace, after: list,
                    options: WatchOptions(labelSelector: labelSelector))
                for try await event in events {
                    apply(event)
                    delivered = true
                }
            } catch is CancellationError {
                return
            } catch {
                if Task.isCancelled { return }
                if delivered || (watchOpened.map { ContinuousClock.now - $0 >= backoff.healthyAfter } ?? false) {
                    step = 0
                }
                step += 1
                let delay = backoff.delay(step: step)
                logFailure(error, verb: verb, step: step, delay: delay)
                do {
                    try await Task.sleep(for: delay)
                } catch {
                    return
                }
            }
        }
    }

    private func logFailure(_ error: any Error, verb: String, step: Int, delay: Duration) {
        var metadata: Logger.Metadata = [
            "resource": .string(Object.resource.description), "error": .string("\(error)"),
            "failures": .stringConvertible(step), "retry_in_ms": .stringConvertible(delay.milliseconds),
        ]
        if let failure = error as? KubernetesError, failure.kind == .forbidden {
            let resource = Object.resource
            var permission = "\(verb) \(resource.plural) in API group \"\(resource.group)\""
            if resource.namespaced, let namespace { permission += " in namespace \(namespace)" }
            metadata["missing_permission"] = .string(permission)
            logger.error(
                "the informer may not \(verb) \(resource): grant \(permission) to this service account (RBAC)", metadata: metadata)
        } else {
            logger.warning("informer lost its watch; starting over", metadata: metadata)
        }
    }

    /// Waits until the object exists and satisfies `condition` (checked against the cache first,
    /// then on every event for it), at most `timeout`; throws `KubernetesError(.timeout)` naming
    /// what was last seen.
    public func wait(
        for name: String, timeout: Duration, until condition: @escaping @Sendable (Object) -> Bool
    ) async throws -> Object {
        let id = state.withLock { state -> UInt64 in
            state.nextID += 1
            return state.nextID
        }
        let timer = Task {
            try await Task.sleep(for: timeout)
            self.finish(name, id, .failure(self.timeoutError(name, timeout)))
        }
        defer { timer.cancel() }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let ready = state.withLock { state -> Object? in
                    if let object = state.objects[name], condition(object) { return object }
                    state.waiters[name, default: []].append(
                        Waiter(id: id, condition: condition, continuation: continuation))
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
        } onCancel: {
            finish(name, id, .failure(CancellationError()))
        }
    }

    private func timeoutError(_ name: String, _ timeout: Duration) -> KubernetesError {
        let seen =
            cached(name).map { "resourceVersion \($0.metadata.resourceVersion)" } ?? "not created"
        return KubernetesError(
            .timeout,
            "timed out after \(timeout) waiting for \(Object.resource) \(namespace.map { "\($0)/" } ?? "")\(name); last seen: \(seen)"
        )
    }

    private func finish(_ name: String, _ id: UInt64, _ result: Result<Object, any Error>) {
        let waiter = state.withLock { state -> Waiter? in
            guard var list = state.waiters[name], let index = list.firstIndex(where: { $0.id == id })
            else { return nil }
            let waiter = list.remove(at: index)
            state.waiters[name] = list.isEmpty ? nil : list
            return waiter
        }
        waiter?.continuation.resume(with: result)
    }

    private func replaceAll(_ items: [Object]) {
        let ready = state.withLock { state -> [(Waiter, Object)] in
            state.objects = Dictionary(
                items.map { ($0.metadata.name, $0) }, uniquingKeysWith: { _, last in last })
            state.synced = true
            return takeSatisfied(&state, names: Array(state.waiters.keys))
        }
        for (waiter, object) in ready { waiter.continuation.resume(returning: object) }
    }

    private func apply(_ event: WatchEvent<Object>) {
        let ready = state.withLock { state -> [(Waiter, Object)] in
            switch event {
            case .added(let object), .modified(let object):
                state.objects[object.metadata.name] = object
                return takeSatisfied(&state, names: [object.metadata.name])
            case .deleted(let object):
                state.objects.removeValue(forKey: object.metadata.name)
                return []
            case .bookmark:
                return []
            }
        }
        for (waiter, object) in ready { waiter.continuation.resume(returning: object) }
    }

    /// Removes and returns the waiters whose condition the cached objects meet now.
    private func takeSatisfied(_ state: inout State, names: [String]) -> [(Waiter, Object)] {
        var ready: [(Waiter, Object)] = []
        for name in names {
            guard let object = state.objects[name], let waiters = state.waiters[name] else { continue }
            var remaining: [Waiter] = []
            for waiter in waiters {
                if waiter.condition(object) {
                    ready.append((waiter, object))
                } else {
                    remaining.append(waiter)
                }
            }
            state.waiters[name] = remaining.isEmpty ? nil : remaining
        }
        return ready
    }

    private func failWaiters(_ error: any Error) {
        let all = state.withLock { state -> [Waiter] in
            let all = state.waiters.values.flatMap { $0 }
            state.waiters = [:]
            return all
        }
        for waiter in all { waiter.continuation.resume(throwing: error) }
    }
}

extension Duration {
    /// Whole milliseconds, for log fields.
    var milliseconds: Int64 {
        components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
    }
}

extension Informer: CustomStringConvertible {
    public var description: String { "Informer(\(Object.resource))" }
}
