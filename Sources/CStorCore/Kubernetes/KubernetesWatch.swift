/// A watch that does not end: it lists first (when no resourceVersion is given) and reports every
/// existing object as `added`, then follows the changes; when a connection drops or the server
/// closes it, it reconnects from the last resourceVersion it saw (so no event is lost or repeated);
/// when that version is too old (410 Gone), it lists again and reports the difference to what it
/// had seen as `added`, `modified` and `deleted` events.
///
/// It ends only when the consuming task stops iterating or is cancelled, or with an error that a
/// retry cannot fix (forbidden, not found, invalid selector).
import CStorCore

public struct KubernetesWatch<Object: KubernetesObject>: AsyncSequence, Sendable {
    public typealias Element = WatchEvent<Object>

    let client: any KubernetesClient
    let resource: KubernetesResource
    let namespace: String?
    let options: WatchOptions
    let retryDelay: RetryDelay
    /// Objects the caller already knows (from its own list at `options.resourceVersion`), so that a
    /// re-list after 410 reports their deletion.
    var knownObjects: [Object] = []

    /// Backoff between failed reconnects.
    struct RetryDelay: Sendable {
        var initial: Duration = .milliseconds(100)
        var maximum: Duration = .seconds(10)

        func delay(afterFailures failures: Int) -> Duration {
            guard failures > 0 else { return .zero }
            var delay = initial
            for _ in 1..<Swift.min(failures, 20) {
                delay = Swift.min(delay * 2, maximum)
            }
            return delay
        }
    }

    public func makeAsyncIterator() -> Iterator {
        Iterator(watch: self)
    }

    public struct Iterator: AsyncIteratorProtocol {
        let watch: KubernetesWatch
        var resourceVersion: String?
        var needsList: Bool
        /// What the watch has reported as existing, by namespace/name, to compute the difference
        /// after a re-list.
        var known: [String: Object] = [:]
        var pending: [WatchEvent<Object>] = []
        var connection: (any AsyncIteratorProtocol<WatchEvent<Object>, any Error>)?
        var failures = 0
        /// The server's Retry-After of the last failure, which wins over the backoff.
        var retryAfter: Duration?
        var eventsOnConnection = 0

        init(watch: KubernetesWatch) {
            self.watch = watch
            let start = watch.options.resourceVersion
            self.resourceVersion = start
            self.needsList = start == nil || start == ""
            for object in watch.knownObjects {
                known[Self.key(object)] = object
            }
        }

        public mutating func next() async throws -> WatchEvent<Object>? {
            while true {
                if !pending.isEmpty {
                    return pending.removeFirst()
                }
                try Task.checkCancellation()
                if failures > 0 {
                    try await Task.sleep(for: retryAfter ?? watch.retryDelay.delay(afterFailures: failures))
                    retryAfter = nil
                }
                if needsList {
                    do {
                        try await relist()
                        failures = 0
                    } catch let error as KubernetesError where Self.isTransient(error) {
                        failed(error)
                    }
                    continue
                }
                if connection == nil {
                    do {
                        var options = watch.options
                        options.resourceVersion = resourceVersion
                        let sequence = try await watch.client.watchConnection(
                            watch.resource, as: Object.self, namespace: watch.namespace, options: options)
                        connection = sequence.makeAsyncIterator()
                        eventsOnConnection = 0
                    } catch let error as KubernetesError where error.kind == .gone {
                        needsList = true
                    } catch let error as KubernetesError where Self.isTransient(error) {
                        failed(error)
                    }
                    continue
                }
                do {
                    guard let event = try await connection?.next() else {
                        // The server closed the watch (its timeout): reconnect from where we are,
                        // at once unless it keeps closing without a single event.
                        connection = nil
                        if eventsOnConnection == 0 { failures += 1 }
                        continue
                    }
                    failures = 0
                    eventsOnConnection += 1
                    record(event)
                    return event
                } catch let error as KubernetesError where error.kind == .gone {
                    connection = nil
                    needsList = true
                } catch let error as KubernetesError where Self.isTransient(error) {
                    connection = nil
                    failed(error)
                } catch is CancellationError {
                    throw CancellationError()
                } catch let error as KubernetesError {
                    throw error
                } catch {
                    // Anything else while reading the stream is a broken connection.
                    try Task.checkCancellation()
                    connection = nil
                    failures += 1
                }
            }
        }

        private mutating func failed(_ error: KubernetesError) {
            failures += 1
            retryAfter = error.retryAfter
        }

        static func isTransient(_ error: KubernetesError) -> Bool {
            switch error.kind {
            case .transport, .timeout, .serverError, .tooManyRequests: true
            default: false
            }
        }

        private static func key(_ object: Object) -> String {
            "\(object.metadata.namespace)/\(object.metadata.name)"
        }

        private mutating func record(_ event: WatchEvent<Object>) {
            switch event {
            case .added(let object), .modified(let object):
                known[Self.key(object)] = object
            case .deleted(let object):
                known.removeValue(forKey: Self.key(object))
            case .bookmark:
                break
            }
            if !event.resourceVersion.isEmpty {
                resourceVersion = event.resourceVersion
            }
        }

        /// Lists, queues the difference to what was known as events, and resumes from the list.
        private mutating func relist() async throws {
            let list = try await watch.client.listAll(
                watch.resource, as: Object.self, namespace: watch.namespace,
                labelSelector: watch.options.labelSelector, fieldSelector: watch.options.fieldSelector)
            var current: [String: Object] = [:]
            for item in list.items {
                let key = Self.key(item)
                current[key] = item
                if let previous = known[key] {
                    if previous.metadata.resourceVersion != item.metadata.resourceVersion {
                        pending.append(.modified(item))
                    }
                } else {
                    pending.append(.added(item))
                }
            }
            for (key, object) in known.sorted(by: { $0.key < $1.key }) where current[key] == nil {
                pending.append(.deleted(object))
            }
            known = current
            resourceVersion = list.resourceVersion
            needsList = false
            connection = nil
        }
    }
}

extension KubernetesClient {
    /// A resuming watch of a resource (see `KubernetesWatch`).
    public func watch<Object: KubernetesObject>(
        _ resource: KubernetesResource, as type: Object.Type, namespace: String?, options: WatchOptions = WatchOptions()
    ) -> KubernetesWatch<Object> {
        KubernetesWatch(client: self, resource: resource, namespace: namespace, options: options, retryDelay: .init())
    }

    /// A resuming watch that starts after a list the caller made (`list.resourceVersion`) and
    /// knows its items, so that a re-list after 410 reports the ones deleted meanwhile.
    public func watch<Object: KubernetesObject>(
        _ resource: KubernetesResource, as type: Object.Type, namespace: String?, after list: ObjectList<Object>,
        options: WatchOptions = WatchOptions()
    ) -> KubernetesWatch<Object> {
        var options = options
        options.resourceVersion = list.resourceVersion
        return KubernetesWatch(
            client: self, resource: resource, namespace: namespace, options: options, retryDelay: .init(),
            knownObjects: list.items)
    }

    public func watch<Object: KubernetesResourceObject>(
        _ type: Object.Type, namespace: String?, options: WatchOptions = WatchOptions()
    ) -> KubernetesWatch<Object> {
        watch(Object.resource, as: type, namespace: namespace, options: options)
    }
}
