import CLinux
import CStorCore
import Foundation
import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// Keeps the volumes this node staged healthy. It wakes on every change of the kernel mount
/// table, on every storage message of the kernel log, and on a slow periodic sweep; it then
/// inspects every staged read-write volume and repairs what it can: the transport first, then the
/// filesystem (unmount, e2fsck -y, mount after an ext4 journal abort; otherwise a read-write
/// remount), then the publish binds. It never touches a volume while an RPC holds it, and it gives
/// up after a bounded number of attempts with backoff, while the fault stays visible.
///
/// At start it also reconciles what a previous process left: see `reconcileAfterRestart`.
struct HealthMonitor: Service {
    let node: NodeService
    let sweepInterval: Duration
    let remount: Bool
    let backoff: Backoff
    let logger: Logger

    struct Backoff: Sendable {
        var initial: Duration = .seconds(1)
        var maximum: Duration = .seconds(300)
        var attempts: Int = 8

        func delay(after attempt: Int) -> Duration {
            var delay = initial
            for _ in 1..<max(attempt, 1) where delay < maximum { delay = delay * 2 }
            return min(delay, maximum)
        }
    }

    /// Cancels a recovery task when an RPC asks for its volume (possibly before the task exists).
    final class CancelOnRequest: Sendable {
        private let state = Mutex<(task: Task<Void, any Error>?, requested: Bool)>((nil, false))

        func attach(_ task: Task<Void, any Error>) {
            let cancelNow = state.withLock { state -> Bool in
                state.task = task
                return state.requested
            }
            if cancelNow { task.cancel() }
        }

        func cancel() {
            let task = state.withLock { state -> Task<Void, any Error>? in
                state.requested = true
                return state.task
            }
            task?.cancel()
        }
    }

    /// Per-volume memory of recovery attempts.
    final class Attempts: Sendable {
        struct Entry {
            var count: Int
            var notBefore: ContinuousClock.Instant
            var fault: String
        }
        let entries = Mutex<[String: Entry]>([:])
    }

    private let attempts = Attempts()

    static let detections = Counter(label: "cstor_node_remount_detections_total")
    static let recoveries = Counter(label: "cstor_node_remount_recoveries_total")
    static let failedRecoveries = Counter(label: "cstor_node_remount_recovery_failures_total")
    static let faultyVolumes = Gauge(label: "cstor_node_volumes_in_fault")

    func run() async throws {
        await reconcileAfterRestart()
        let (wakeups, continuation) = AsyncStream.makeStream(of: WakeReason.self, bufferingPolicy: .bufferingNewest(64))
        var sources: [() -> Void] = []
        do {
            let mounts = try MountTableWatcher { continuation.yield(.mountTableChanged) }
            sources.append { mounts.stop() }
        } catch {
            logger.warning("mount table events unavailable; relying on the periodic sweep", metadata: ["error": "\(error)"])
        }
        do {
            let kernel = try KernelLogWatcher { continuation.yield(.kernelMessage($0)) }
            sources.append { kernel.stop() }
        } catch {
            logger.warning("kernel log unavailable; filesystem errors are found by the sweep", metadata: ["error": "\(error)"])
        }
        defer { sources.forEach { $0() } }

        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask {
                    // Cancellation (at shutdown) ends the sweep quietly.
                    while (try? await Task.sleep(for: sweepInterval)) != nil {
                        continuation.yield(.sweep)
                    }
                }
                for await reason in wakeups {
                    if case .kernelMessage(let message) = reason {
                        logger.info("kernel reported storage trouble", metadata: ["kernel_message": .string(message)])
                    }
                    await check(deep: reason != .mountTableChanged)
                    // A retry may be due before the next event: wake up for it.
                    if let due = nextRetry() {
                        group.addTask {
                            if (try? await Task.sleep(until: due)) != nil { continuation.yield(.sweep) }
                        }
                    }
                }
                group.cancelAll()
            }
        } onGracefulShutdown: {
            continuation.finish()
        }
    }

    // MARK: - Checking

    /// Inspects every staged volume. `deep` also asks the transport (iSCSI session state), which
    /// costs a process per volume, so it is done on kernel messages and sweeps only.
    func check(deep: Bool) async {
        var faulty = 0
        for snapshot in node.records.all() where snapshot.phase == .staged {
            if await inspect(snapshot.volumeID, deep: deep) { faulty += 1 }
        }
        Self.faultyVolumes.record(faulty)
    }

    /// Judges one volume, and repairs it when it should, under its lock: a volume an RPC is
    /// working on is skipped (its state is in motion), and an RPC that needs the volume while the
    /// monitor holds it makes the monitor stop (`yield`). Returns whether the volume is faulty.
    func inspect(_ volumeID: String, deep: Bool) async -> Bool {
        let cancel = CancelOnRequest()
        guard node.locks.tryAcquire(volumeID, operation: "the health monitor", yield: { cancel.cancel() }) else {
            return node.health.fault(of: volumeID) != nil
        }
        defer { node.locks.release(volumeID) }
        guard let record = try? node.records.load(volumeID), record.phase == .staged,
            let table = try? node.mounter.table()
        else { return false }
        var broken = VolumeInspection.problem(of: record, in: table)
        var recovering: String?
        if broken == nil && deep {
            switch await node.attachers.health(record.target) {
            case .healthy: break
            case .broken(let reason): broken = reason
            // iscsid's to recover: reported, never repaired (a logout would fail the queued I/O).
            case .recovering(let reason): recovering = reason
            }
        }
        let errors = filesystemErrors(record)
        // Some kernels keep an aborted ext4 "rw" in the mount table while it refuses writes:
        // after an error, only a write tells.
        if broken == nil, errors != nil, await !acceptsWrites(record.stagingPath) {
            broken = "the filesystem at \(record.stagingPath) refuses writes after an error"
        }
        // Errors on a filesystem that still works are reported, not repaired: repairing means
        // unmounting it under a running workload. The next stage checks it.
        guard let problem = broken ?? recovering ?? errors else {
            if node.health.fault(of: volumeID) != nil { resolved(volumeID, how: "the fault went away") }
            return false
        }
        await handle(record, problem: problem, repair: broken != nil, cancel: cancel)
        return true
    }

    /// Whether the filesystem takes a write. The probe is an unnamed file (CSTOR_O_TMPFILE) in the
    /// staging directory opened beneath the kubelet root: nothing with a name is created, opened
    /// or truncated in the user's filesystem, so a symlink planted there is never followed. Where
    /// CSTOR_O_TMPFILE is unsupported, a new file with a random name (O_CREAT|O_EXCL|O_NOFOLLOW) is
    /// written and removed.
    func acceptsWrites(_ directory: String) async -> Bool {
        let paths = node.settings.paths
        let answer = try? await Deadline.blocking(timeout: node.settings.pathProbeTimeout) { () -> Bool in
            guard let opened = try? paths.open(directory, flags: O_RDONLY | O_DIRECTORY) else { return false }
            var fd = openat(opened.descriptor, ".", CSTOR_O_TMPFILE | O_WRONLY | O_CLOEXEC, 0o600)
            var name: String?
            if fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL) {
                let random = ".cstor-csi-write-probe-\(UInt64.random(in: .min ... .max))"
                fd = openat(opened.descriptor, random, O_CREAT | O_EXCL | O_NOFOLLOW | O_WRONLY | O_CLOEXEC, 0o600)
                if fd >= 0 { name = random }
            }
            guard fd >= 0 else { return errno != EROFS && errno != EIO }
            let written = write(fd, "x", 1) == 1 && fsync(fd) == 0
            close(fd)
            if let name { unlinkat(opened.descriptor, name, 0) }
            return written
        }
        return answer ?? false
    }

    /// ext4 counts the errors it met; a count that grew since the volume was mounted is a fault.
    func filesystemErrors(_ record: VolumeRecord) -> String? {
        guard record.access.fsType == "ext4", let device = record.device else { return nil }
        let count = Ext4Errors.count(device: device)
        guard count > record.ext4ErrorsBaseline else { return nil }
        return "the ext4 filesystem on \(device) reported \(count - record.ext4ErrorsBaseline) error(s)"
    }

    /// Reports a fault and, when it is repairable and its backoff allows, repairs it. Called with
    /// the volume's lock held; `cancel` stops the repair when an RPC asks for the volume.
    private func handle(_ record: VolumeRecord, problem: String, repair: Bool, cancel: CancelOnRequest) async {
        let volumeID = record.volumeID
        let log = RequestContext.logger(logger, volumeID: volumeID)
        let known = node.health.fault(of: volumeID)
        if known != problem {
            log.warning("fault detected", metadata: ["fault": .string(problem)])
            Self.detections.increment()
            node.health.report(volumeID, fault: problem)
        }
        guard remount, repair, !record.access.mode.isReadOnly else { return }
        let now = ContinuousClock.now
        let entry = attempts.entries.withLock { $0[volumeID] }
        if let entry {
            if entry.count >= backoff.attempts {
                return  // gave up; the fault stays reported until an RPC or the sweep sees it fixed
            }
            if now < entry.notBefore { return }
        }
        let attempt = (entry?.count ?? 0) + 1
        do {
            // A task of its own, so that an RPC needing the volume can cancel it; awaited here.
            let recovery = Task { try await recover(volumeID, repairAll: true, log: log) }
            cancel.attach(recovery)
            // Shutdown cancels the monitor: the repair (a login that may take a minute) goes with it.
            try await withTaskCancellationHandler { try await recovery.value } onCancel: { recovery.cancel() }
            resolved(volumeID, how: "recovered")
            Self.recoveries.increment()
        } catch is CancellationError {
            log.notice("recovery stopped: an RPC needs the volume; retrying later")
            attempts.entries.withLock { $0[volumeID] = .init(count: attempt - 1, notBefore: .now + backoff.initial, fault: problem) }
        } catch {
            Self.failedRecoveries.increment()
            let delay = backoff.delay(after: attempt)
            attempts.entries.withLock { $0[volumeID] = .init(count: attempt, notBefore: .now + delay, fault: problem) }
            if attempt >= backoff.attempts {
                log.error(
                    "recovery failed; giving up until the volume is staged again",
                    metadata: ["attempt": .stringConvertible(attempt), "error": .string("\(error)")])
            } else {
                log.warning(
                    "recovery failed; will retry",
                    metadata: ["attempt": .stringConvertible(attempt), "retry_in": "\(delay)", "error": .string("\(error)")])
            }
        }
    }

    private func resolved(_ volumeID: String, how: String) {
        node.health.clear(volumeID)
        attempts.entries.withLock { _ = $0.removeValue(forKey: volumeID) }
        RequestContext.logger(logger, volumeID: volumeID).notice("volume healthy again", metadata: ["how": .string(how)])
    }

    private func nextRetry() -> ContinuousClock.Instant? {
        attempts.entries.withLock { entries in
            entries.values.filter { $0.count < backoff.attempts }.map(\.notBefore).min()
        }
    }

    // MARK: - Recovery

    /// Brings one volume back: transport, filesystem, publish binds. Called with its lock held.
    /// `repairAll` lets e2fsck fix everything (`-y`): right for a volume that is ours and already
    /// read-only; after a restart a plain `-p` check is enough.
    func recover(_ volumeID: String, repairAll: Bool, log: Logger) async throws {
        guard var record = try node.records.load(volumeID), record.phase == .staged else { return }
        // 1. The transport: the device must be there. While iscsid recovers it, nothing is done.
        switch await node.attachers.health(record.target) {
        case .healthy:
            break
        case .recovering(let reason):
            throw CSIError.unavailable("waiting for the transport to recover by itself: \(reason)")
        case .broken(let reason):
            log.notice("recovery: re-establishing the transport", metadata: ["reason": .string(reason)])
            // A filesystem that already failed on a device gone for good (read-only, or errors
            // counted) must come off anyway: this node's own mounts of it are taken off first, so
            // that they are not what holds the session. A filesystem that has not failed (no I/O
            // met the dead device yet) is left mounted: iscsid may still bring the session back.
            // What others hold (a pod's own mount) keeps the session, and the repair says so.
            if !record.access.isBlock, let mount = try node.mounter.table().mount(at: record.stagingPath), node.isDead(mount),
                mount.isReadOnly || filesystemErrors(record) != nil
            {
                try await unmountPublications(record, log: log)
                try await node.unmount(record.stagingPath, deviceNumber: mount.device)
            }
            let target = record.target
            let device = try await node.attachmentLocks.withLock(target.attachmentKey) {
                try await node.attachers.repair(target)
            }
            try await node.adoptDevice(&record, device: device, purpose: "recovery")
        }
        guard let device = record.device, BlockDevice.exists(device) else {
            throw CSIError.unavailable("the device of \(volumeID) is still missing")
        }
        if record.identity == nil { try await node.adoptDevice(&record, device: device, purpose: "recovery") }
        // 2. The filesystem.
        if case .mount(let fsType, _) = record.access.kind {
            let mount = try node.mounter.table().mount(at: record.stagingPath)
            let usable = mount.map { VolumeInspection.isMountOfVolume($0, record: record) } ?? false
            let damaged = mount.map { $0.superOptions.contains("emergency_ro") } ?? false || filesystemErrors(record) != nil
            var writable = usable && !(mount?.isReadOnly ?? true)
            if writable && damaged { writable = await acceptsWrites(record.stagingPath) }
            if writable {
                // Mounted and writable: only the binds may need work.
            } else if let mount, usable, !damaged {
                // Read-only without a filesystem error (a remount by hand): writable again.
                log.notice("recovery: remounting read-write", metadata: ["staging_path": .string(mount.mountPoint)])
                try await node.remountStaging(record, options: ["rw"])
            } else {
                try await remountFromScratch(&record, device: device, fsType: fsType, mount: mount, repairAll: repairAll, log: log)
            }
        }
        // 3. The publish binds.
        try await rebindPublications(record, log: log)
        if let problem = VolumeInspection.problem(of: record, in: try node.mounter.table()) {
            throw CSIError.internal("after recovery: \(problem)")
        }
    }

    /// The filesystem itself went read-only (journal abort, I/O errors), or its mount is stale or
    /// gone: unmount everything of it, check it, mount it again with the original flags.
    private func remountFromScratch(
        _ record: inout VolumeRecord, device: String, fsType: String, mount: MountEntry?, repairAll: Bool, log: Logger
    ) async throws {
        try await unmountPublications(record, log: log)
        if let mount {
            log.notice("recovery: unmounting the staging path", metadata: ["staging_path": .string(record.stagingPath)])
            try await node.unmount(record.stagingPath, deviceNumber: mount.device)
        }
        if fsType == "ext4" {
            log.notice("recovery: checking the filesystem", metadata: ["device": .string(device), "repair_all": .stringConvertible(repairAll)])
            let lease = try node.verifiedDevice(record, for: "check")
            defer { lease.release() }
            try await node.filesystems.check(device, fsType: fsType, repairAll: repairAll)
        }
        log.notice("recovery: mounting again", metadata: ["staging_path": .string(record.stagingPath)])
        try await node.mountFilesystem(record, device: device, fsType: fsType, options: record.mountOptions)
        record.ext4ErrorsBaseline = Ext4Errors.count(device: device)
        try node.records.save(record)
    }

    /// Takes the publish binds off while the filesystem is checked, and puts an empty read-only
    /// placeholder in their place at once: a workload that writes during the repair must get an
    /// error, not write into the node's own disk under its target directory.
    private func unmountPublications(_ record: VolumeRecord, log: Logger) async throws {
        let table = try node.mounter.table()
        for target in record.publications.keys.sorted() {
            guard let mount = table.mount(at: target), mount.source != RecoveryPlaceholder.source else { continue }
            log.notice("recovery: unmounting a publish bind", metadata: ["target_path": .string(target)])
            try await node.unmount(target, deviceNumber: mount.device)
            try await node.mountPlaceholder(target)
        }
    }

    /// Binds every recorded publish target that lost its mount (or holds a placeholder or a mount
    /// of a dead device) again, from the live staging mount only.
    func rebindPublications(_ record: VolumeRecord, log: Logger) async throws {
        for (target, publication) in record.publications.sorted(by: { $0.key < $1.key }) {
            let table = try node.mounter.table()
            if let mount = table.mount(at: target) {
                if VolumeInspection.isMountOfVolume(mount, record: record) { continue }
                guard node.isDead(mount) else {
                    throw CSIError.failedPrecondition("\(target) holds a mount of \(mount.source), not of volume \(record.volumeID); not touched")
                }
                try await node.unmount(target, deviceNumber: mount.device)
            }
            guard (try? node.settings.paths.open(target)) != nil else { continue }
            log.notice("recovery: binding the publish target again", metadata: ["target_path": .string(target)])
            try await node.bindPublication(record, targetPath: target, readOnly: publication.readOnly)
        }
    }
}
