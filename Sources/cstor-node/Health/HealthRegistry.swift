import Synchronization

/// Faults the health monitor found and could not (yet) repair, per volume. NodeGetVolumeStats
/// reports them as an abnormal `volume_condition` until a recovery or an unstage clears them.
final class HealthRegistry: Sendable {
    private let faults = Mutex<[String: String]>([:])

    func fault(of volumeID: String) -> String? {
        faults.withLock { $0[volumeID] }
    }

    func report(_ volumeID: String, fault: String) {
        faults.withLock { $0[volumeID] = fault }
    }

    func clear(_ volumeID: String) {
        faults.withLock { _ = $0.removeValue(forKey: volumeID) }
    }

    var faultyVolumes: [String: String] {
        faults.withLock { $0 }
    }
}
