import Synchronization

/// Faults the health monitor found and could not (yet) repair, per volume, with the monitor's
/// count of failed repairs. NodeGetVolumeStats reports a fault as an abnormal `volume_condition`
/// until a recovery or an unstage clears it; a stage or unstage (`clear`) also starts the repair
/// count afresh. With `--restart-pods` it also remembers, per fault, what was done about each pod
/// that holds the volume (`PodRestarts`), so that a pod is evicted at most once per fault.
final class HealthRegistry: Sendable {
    /// The monitor's memory of failed repairs of one volume.
    struct Attempts: Sendable, Equatable {
        var count: Int
        var notBefore: ContinuousClock.Instant
    }

    private let state = Mutex<(faults: [String: String], attempts: [String: Attempts], restarts: [String: [String: PodRestart]])>(
        ([:], [:], [:]))

    func fault(of volumeID: String) -> String? {
        state.withLock { $0.faults[volumeID] }
    }

    func report(_ volumeID: String, fault: String) {
        state.withLock { $0.faults[volumeID] = fault }
    }

    /// Forgets the fault, the repair count and the pod restarts of a volume.
    func clear(_ volumeID: String) {
        state.withLock {
            _ = $0.faults.removeValue(forKey: volumeID)
            _ = $0.attempts.removeValue(forKey: volumeID)
            _ = $0.restarts.removeValue(forKey: volumeID)
        }
    }

    /// What was done about each pod (by UID) that holds the volume, during its current fault.
    func restarts(of volumeID: String) -> [String: PodRestart] {
        state.withLock { $0.restarts[volumeID] ?? [:] }
    }

    func record(_ volumeID: String, pod uid: String, restart: PodRestart) {
        state.withLock { $0.restarts[volumeID, default: [:]][uid] = restart }
    }

    var faultyVolumes: [String: String] {
        state.withLock { $0.faults }
    }

    func attempts(of volumeID: String) -> Attempts? {
        state.withLock { $0.attempts[volumeID] }
    }

    func record(_ volumeID: String, attempts: Attempts) {
        state.withLock { $0.attempts[volumeID] = attempts }
    }

    /// When the earliest pending retry is due.
    var nextRetry: ContinuousClock.Instant? {
        state.withLock { $0.attempts.values.map(\.notBefore).min() }
    }
}
