import Synchronization

/// Faults the health monitor found and could not (yet) repair, per volume, with the monitor's
/// count of failed repairs. NodeGetVolumeStats reports a fault as an abnormal `volume_condition`
/// until a recovery or an unstage clears it; a stage or unstage (`clear`) also starts the repair
/// count afresh.
final class HealthRegistry: Sendable {
    /// The monitor's memory of failed repairs of one volume.
    struct Attempts: Sendable, Equatable {
        var count: Int
        var notBefore: ContinuousClock.Instant
    }

    private let state = Mutex<(faults: [String: String], attempts: [String: Attempts])>(([:], [:]))

    func fault(of volumeID: String) -> String? {
        state.withLock { $0.faults[volumeID] }
    }

    func report(_ volumeID: String, fault: String) {
        state.withLock { $0.faults[volumeID] = fault }
    }

    /// Forgets the fault and the repair count of a volume.
    func clear(_ volumeID: String) {
        state.withLock {
            _ = $0.faults.removeValue(forKey: volumeID)
            _ = $0.attempts.removeValue(forKey: volumeID)
        }
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
