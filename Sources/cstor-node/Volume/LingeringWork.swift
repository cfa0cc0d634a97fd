import CStorCore
import Logging
import Synchronization

/// Work that outlived its RPC's deadline: a mount(2) stuck on a dead device, an mkfs being
/// killed, an e2fsck left to finish (it is never killed half-way). Its volume stays locked until
/// the work has really ended, and every call meanwhile is Aborted with a message that names it;
/// otherwise a retry would format, check or mount a device something else is still writing to.
final class LingeringWork: Sendable {
    private let entries = Mutex<[String: String]>([:])

    /// What still runs for the volume, if anything.
    func description(of volumeID: String) -> String? {
        entries.withLock { $0[volumeID] }
    }

    /// Whether `error` says its work goes on in the background (a child or a system call that
    /// outlived its deadline and has not ended yet).
    static func isStillRunning(_ error: any Error) -> Bool {
        switch error {
        case let error as ExecError:
            if case .timedOut = error.kind, let running = error.stillRunning { return !running.isFinished }
            return false
        case let error as MountError:
            return error.kind == .timedOut && error.stillRunning.map { !$0.isFinished } == true
        default:
            return false
        }
    }

    /// If `error` says its work goes on in the background, keeps `volumeID` locked in `locks`
    /// (one more holder, released when the work ends) and remembers what runs. Called with the
    /// volume's lock held.
    func holdIfStillRunning(_ error: any Error, volumeID: String, operation: String, locks: VolumeLocks, logger: Logger) {
        let work: String
        let completion: Deadline.Completion
        switch error {
        case let error as ExecError:
            guard case .timedOut(let killed) = error.kind, let running = error.stillRunning, !running.isFinished else { return }
            work = killed ? "\(error.process), killed after its timeout but not yet gone," : "\(error.process), left to finish after its timeout,"
            completion = running
        case let error as MountError:
            guard error.kind == .timedOut, let running = error.stillRunning, !running.isFinished else { return }
            work = "the \(error.operation) of \(error.target) (a system call that did not return within \(error.detail))"
            completion = running
        default:
            return
        }
        locks.retain(volumeID)
        entries.withLock { $0[volumeID] = "\(work) started by \(operation)" }
        logger.warning(
            "work outlived its deadline; the volume stays locked until it ends",
            metadata: ["volume_id": .string(volumeID), "work": .string(work)])
        Task {
            await completion.wait()
            self.entries.withLock { _ = $0.removeValue(forKey: volumeID) }
            locks.release(volumeID)
            logger.notice("the lingering work ended; the volume is free", metadata: ["volume_id": .string(volumeID), "work": .string(work)])
        }
    }
}
