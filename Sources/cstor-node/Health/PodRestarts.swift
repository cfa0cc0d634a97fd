import CStorCore
import CStorKubernetes
import Logging
import Metrics

/// What the pod restart asks of the Kubernetes API; `InClusterPodAPI` is the real one.
protocol PodEvictionAPI: Sendable {
    /// The pods scheduled to a node, in every namespace.
    func pods(onNode node: String) async throws -> [Pod]
    /// Evicts one pod (policy/v1 Eviction with its UID as precondition).
    func evict(_ pod: Pod) async throws
}

/// What was done about one pod that holds a volume during a fault (kept in `HealthRegistry`).
enum PodRestart: Sendable, Equatable {
    /// Its eviction was accepted: the API server deletes it, kubelet then unpublishes the volume.
    case evictionRequested(pod: String)
    /// Gone already (404), terminating, or replaced by another pod of the same name (409).
    case gone(pod: String, how: String)
    /// No controller would recreate it: never evicted, reported.
    case bare(pod: String)
    /// Not evicted yet (a PodDisruptionBudget, the API failed): tried again from `notBefore`.
    case waiting(pod: String, reason: String, attempts: Int, notBefore: ContinuousClock.Instant)

    var isSettled: Bool {
        if case .waiting = self { return false }
        return true
    }
}

/// Opt-in (`--restart-pods`): when the health monitor can only repair a volume by unmounting it and
/// pods on this node still hold it, the pods are asked to go through the Eviction API, which
/// respects their PodDisruptionBudgets; their controllers recreate them, kubelet unpublishes the
/// volume meanwhile and the monitor repairs it once nothing holds it.
///
/// The pods are found by the UIDs in the publish targets' paths, among the pods the API server
/// has scheduled to this node. Only a pod with a controller owner is evicted, with its UID as a
/// precondition (a pod recreated under the same name is never hit), at most once per fault: the
/// monitor looks again at every sweep, and what was done is remembered in the `HealthRegistry`
/// until the fault ends. A refused eviction (429: a PodDisruptionBudget; any API failure) is tried
/// again with a growing delay. A bare pod is reported (error log, metric, condition), never
/// evicted or deleted.
struct PodRestarts: Sendable {
    let api: any PodEvictionAPI
    let nodeID: String
    var initialDelay: Duration = .seconds(10)
    var maximumDelay: Duration = .seconds(300)

    static let requested = Counter(label: "cstor_node_pod_evictions_total", dimensions: [("outcome", "requested")])
    static let blocked = Counter(label: "cstor_node_pod_evictions_total", dimensions: [("outcome", "blocked")])
    static let failed = Counter(label: "cstor_node_pod_evictions_total", dimensions: [("outcome", "failed")])
    static let barePods = Counter(label: "cstor_node_bare_pods_not_restarted_total")

    /// Restarts what it may of the pods (by UID) that hold `volumeID`; returns a sentence for the
    /// volume's condition saying, pod by pod, what was done and what is left to a person.
    func restart(_ uids: [String], volumeID: String, health: HealthRegistry, log: Logger) async -> String {
        let due = uids.filter { uid in
            guard let done = health.restarts(of: volumeID)[uid] else { return true }
            if case .waiting(_, _, _, let notBefore) = done { return ContinuousClock.now >= notBefore }
            return false
        }
        if !due.isEmpty {
            await evict(due, volumeID: volumeID, health: health, log: log)
        }
        return summary(uids, health.restarts(of: volumeID))
    }

    private func evict(_ uids: [String], volumeID: String, health: HealthRegistry, log: Logger) async {
        let pods: [Pod]
        do {
            pods = try await api.pods(onNode: nodeID)
        } catch {
            if Task.isCancelled { return }
            for uid in uids { wait(uid, pod: "UID \(uid)", reason: "listing the pods of node \(nodeID) failed: \(error)", volumeID, health, log) }
            return
        }
        for uid in uids {
            if Task.isCancelled { return }
            guard let pod = pods.first(where: { $0.metadata.uid == uid }) else {
                health.record(volumeID, pod: uid, restart: .gone(pod: "UID \(uid)", how: "no such pod on node \(nodeID) in the API"))
                continue
            }
            let name = pod.qualifiedName
            if pod.metadata.isBeingDeleted {
                health.record(volumeID, pod: uid, restart: .gone(pod: name, how: "already terminating"))
                continue
            }
            guard let owner = pod.controller else {
                Self.barePods.increment()
                log.error(
                    "pod holds a read-only volume and has no controller; not evicted",
                    metadata: ["pod": .string(name), "pod_uid": .string(uid),
                               "action": .string("delete the pod by hand and create it again (kubectl delete pod -n \(pod.metadata.namespace) \(pod.metadata.name)); the node repairs the volume once nothing holds it")])
                health.record(volumeID, pod: uid, restart: .bare(pod: name))
                continue
            }
            do {
                try await api.evict(pod)
                Self.requested.increment()
                log.notice(
                    "pod eviction requested: it holds a volume that must be unmounted to be repaired",
                    metadata: ["pod": .string(name), "pod_uid": .string(uid), "controller": .string("\(owner.kind)/\(owner.name)")])
                health.record(volumeID, pod: uid, restart: .evictionRequested(pod: name))
            } catch let error as KubernetesError where error.kind == .notFound {
                health.record(volumeID, pod: uid, restart: .gone(pod: name, how: "deleted meanwhile"))
            } catch let error as KubernetesError where error.kind == .conflict {
                health.record(volumeID, pod: uid, restart: .gone(pod: name, how: "replaced by another pod of that name"))
            } catch let error as KubernetesError where error.kind == .tooManyRequests {
                Self.blocked.increment()
                wait(uid, pod: name, reason: "its PodDisruptionBudget allows no disruption now (\(error.message))", volumeID, health, log)
            } catch {
                if Task.isCancelled { return }
                Self.failed.increment()
                wait(uid, pod: name, reason: "the eviction failed: \(error)", volumeID, health, log)
            }
        }
    }

    /// Records a pod to try again later, with a delay that doubles at each attempt.
    private func wait(_ uid: String, pod: String, reason: String, _ volumeID: String, _ health: HealthRegistry, _ log: Logger) {
        var attempts = 1
        if case .waiting(_, _, let previous, _)? = health.restarts(of: volumeID)[uid] { attempts = previous + 1 }
        var delay = initialDelay
        for _ in 1..<attempts where delay < maximumDelay { delay = delay * 2 }
        delay = min(delay, maximumDelay)
        log.warning(
            "pod not evicted yet; retrying",
            metadata: ["pod": .string(pod), "pod_uid": .string(uid), "reason": .string(reason),
                       "attempt": .stringConvertible(attempts), "retry_in": "\(delay)"])
        health.record(volumeID, pod: uid, restart: .waiting(pod: pod, reason: reason, attempts: attempts, notBefore: .now + delay))
    }

    private func summary(_ uids: [String], _ done: [String: PodRestart]) -> String {
        let parts = uids.compactMap { uid -> String? in
            switch done[uid] {
            case .evictionRequested(let pod)?: "\(pod): eviction requested"
            case .gone(let pod, let how)?: "\(pod): \(how)"
            case .bare(let pod)?:
                "\(pod): no controller, so it is not evicted; delete it by hand and create it again"
            case .waiting(let pod, let reason, _, _)?: "\(pod): not evicted yet, \(reason); retrying"
            case nil: nil
            }
        }
        return "pod restart (--restart-pods): " + (parts.isEmpty ? "nothing done yet" : parts.joined(separator: "; "))
    }
}
