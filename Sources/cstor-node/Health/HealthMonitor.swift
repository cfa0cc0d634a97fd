import CLinux
import CStorCore
import FoundationEssentials
import Glibc
import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// Keeps the volumes this node staged healthy. It wakes on changes of the kernel mount table, on
/// kernel-log messages about its own devices, and on a slow periodic sweep (wake-ups that arrive
/// while it works are coalesced into one); it then inspects every staged read-write volume and
/// repairs what it can: the transport first, then the filesystem, then the publish binds.
///
/// A pod's container holds its own copy of the volume's mount (the runtime binds the target into
/// the container's mount namespace with private propagation): unmounting ours does not release
/// the filesystem, and the pod would keep the dead one. So the filesystem is taken off only when
/// no other mount namespace holds it (`DeviceHolders.foreignMounts`); while one does, nothing is
/// unmounted and the fault is made visible (volume condition, error log naming the pods, metric);
/// with `--restart-pods` the pods that have a controller are evicted (`PodRestarts`).
/// When nothing holds it: each publish target is covered by an unbindable repair guard in the
/// same instant its bind comes off (a container that starts meanwhile fails to start, never runs
/// on the node's disk), the staging mount comes off, `e2fsck -p` (or `-y` with `--fsck-mode=yes`)
/// checks it, it is mounted again and the binds replace the guards. `e2fsck -p` stopping (exit
/// 4) leaves the volume unmounted behind its guards with a condition that gives the command.
///
/// It never touches a volume while an RPC holds it. Failed repairs back off, then are retried at
/// every sweep for ever; a stage, an unstage or a repair starts the count afresh.
///
/// At start it also reconciles what a previous process left: see `reconcileAfterRestart`.
struct HealthMonitor: Service {
    let node: NodeService
    let sweepInterval: Duration
    let remount: Bool
    let backoff: Backoff
    let logger: Logger
    /// How e2fsck repairs: `-p` (only what is safe without a person) or `-y`.
    var fsckMode: FsckMode = .preen
    /// With `--restart-pods`: evicts the pods that keep a volume from being repaired.
    var podRestarts: PodRestarts?

    struct Backoff: Sendable {
        var initial: Duration = .seconds(1)
        var maximum: Duration = .seconds(300)
        /// Attempts with a growing delay; after them, one attempt per sweep.
        var attempts: Int = 8

        func delay(after attempt: Int) -> Duration {
            var delay = initial
            for _ in 1..<max(attempt, 1) where delay < maximum { delay = delay * 2 }
            return min(delay, maximum)
        }
    }

    /// Cancels a recovery task when an RPC asks for its volume (possibly before the task exists).
    final class CancelOnRequest: Sendable {
        private let state = Mutex<(cancel: (@Sendable () -> Void)?, requested: Bool)>((nil, false))

        func attach<Success, Failure>(_ task: Task<Success, Failure>) {
            let cancelNow = state.withLock { state -> Bool in
                state.cancel = { task.cancel() }
                return state.requested
            }
            if cancelNow { task.cancel() }
        }

        func cancel() {
            let cancel = state.withLock { state -> (@Sendable () -> Void)? in
                state.requested = true
                return state.cancel
            }
            cancel?()
        }
    }

    static let detections = Counter(label: "cstor_node_remount_detections_total")
    static let recoveries = Counter(label: "cstor_node_remount_recoveries_total")
    static let failedRecoveries = Counter(label: "cstor_node_remount_recovery_failures_total")
    static let heldRepairs = Counter(label: "cstor_node_remount_held_by_pods_total")
    static let faultyVolumes = Gauge(label: "cstor_node_volumes_in_fault")
    static let checks = Counter(label: "cstor_node_health_checks_total", dimensions: [("depth", "mount_table")])
    static let deepChecks = Counter(label: "cstor_node_health_checks_total", dimensions: [("depth", "deep")])
    static let checkDuration = Timer(label: "cstor_node_health_check_duration_seconds", dimensions: [("depth", "mount_table")])
    static let deepCheckDuration = Timer(label: "cstor_node_health_check_duration_seconds", dimensions: [("depth", "deep")])

    func run() async throws {
        await reconcileAfterRestart()
        let wakeups = WakeUps()
        var sources: [() -> Void] = []
        do {
            let mounts = try MountTableWatcher { wakeups.signal(.mountTableChanged) }
            sources.append { mounts.stop() }
        } catch {
            logger.warning("mount table events unavailable; relying on the periodic sweep", metadata: ["error": "\(error)"])
        }
        do {
            let kernel = try KernelLogWatcher { wakeups.signal(.kernelMessage($0)) }
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
                        wakeups.signal(.sweep)
                    }
                }
                var retryTimer: ContinuousClock.Instant?
                for await _ in wakeups.stream {
                    guard let pending = wakeups.take() else { continue }
                    let messages = pending.kernelMessages.filter(concernsOurDevices)
                    for message in messages {
                        logger.info("kernel reported storage trouble", metadata: ["kernel_message": .string(message)])
                    }
                    // Kernel lines about other devices wake nothing.
                    guard pending.mountTableChanged || pending.sweep || !messages.isEmpty else { continue }
                    await check(deep: pending.sweep || !messages.isEmpty)
                    // A retry may be due before the next event: wake up for it (one timer at a time).
                    if let due = node.health.nextRetry, retryTimer.map({ due < $0 || $0 < .now }) ?? true {
                        retryTimer = due
                        group.addTask {
                            if (try? await Task.sleep(until: due)) != nil { wakeups.signal(.sweep) }
                        }
                    }
                }
                group.cancelAll()
            }
        } onGracefulShutdown: {
            wakeups.finish()
        }
    }

    /// Whether a kernel message names the device (or, for iSCSI, the session) of a volume staged
    /// here: `EXT4-fs error (device loop3)`, `XFS (sdb)`, `I/O error, dev sdb, sector …`,
    /// `connection4:0: detected conn error`, `session4: session recovery timed out`.
    func concernsOurDevices(_ message: String) -> Bool {
        let names = node.records.all().filter { $0.phase == .staged }.compactMap(\.device).map(BlockDevice.kernelName)
        return KernelMessages.concerns(message, deviceNames: names, sessionOf: { KernelMessages.iscsiSession(ofDisk: $0) })
    }

    // MARK: - Checking

    /// Inspects every staged volume. `deep` also asks the transport (iSCSI session state, the loop
    /// device's backing file: sysfs reads, no process), so it is done on kernel messages and sweeps
    /// only. Each pass is timed in `cstor_node_health_check_duration_seconds`.
    func check(deep: Bool) async {
        let start = ContinuousClock.now
        var faulty = 0
        for snapshot in node.records.all() where snapshot.phase == .staged {
            if await inspect(snapshot.volumeID, deep: deep) { faulty += 1 }
        }
        Self.faultyVolumes.record(faulty)
        let (seconds, attoseconds) = start.duration(to: .now).components
        (deep ? Self.deepCheckDuration : Self.checkDuration).recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
        (deep ? Self.deepChecks : Self.checks).increment()
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
        if node.health.fault(of: volumeID) == nil {
            log.warning("fault detected", metadata: ["fault": .string(problem)])
            Self.detections.increment()
            node.health.report(volumeID, fault: problem)
        }
        guard remount, repair, !record.access.mode.isReadOnly else {
            node.health.report(volumeID, fault: problem)
            return
        }
        let previous = node.health.attempts(of: volumeID)
        if let previous, ContinuousClock.now < previous.notBefore { return }
        let attempt = (previous?.count ?? 0) + 1
        do {
            // A task of its own, so that an RPC needing the volume can cancel it; awaited here.
            let recovery = Task { try await recover(volumeID, log: log) }
            cancel.attach(recovery)
            // Shutdown cancels the monitor: the repair (a login that may take a minute) goes with it.
            try await withTaskCancellationHandler { try await recovery.value } onCancel: { recovery.cancel() }
            resolved(volumeID, how: "recovered")
            Self.recoveries.increment()
        } catch is CancellationError {
            log.notice("recovery stopped: an RPC needs the volume; retrying later")
            node.health.record(volumeID, attempts: .init(count: attempt - 1, notBefore: .now + backoff.initial))
        } catch let held as HeldByOtherNamespaces {
            // Not an attempt: nothing was touched. Looked at again at every wake-up and sweep.
            var fault = held.condition(problem: problem)
            // Counted and logged once per fault, though its wording may change between checks.
            if node.health.fault(of: volumeID)?.contains(HeldByOtherNamespaces.marker) != true {
                Self.heldRepairs.increment()
                log.error(
                    "volume went read-only while pods hold it; not repaired",
                    metadata: ["fault": .string(problem), "pod_uids": .string(held.podUIDs.joined(separator: ",")),
                               "holders": .string(held.holders), "action": .string(held.action)])
            }
            if let podRestarts {
                // A task of its own, so that an RPC needing the volume can stop the API calls.
                let restart = Task { await podRestarts.restart(held.podUIDs, volumeID: volumeID, health: node.health, log: log) }
                cancel.attach(restart)
                fault += "; " + (await withTaskCancellationHandler { await restart.value } onCancel: { restart.cancel() })
            }
            node.health.report(volumeID, fault: fault)
        } catch {
            Self.failedRecoveries.increment()
            // Backoff first; then one attempt per sweep, for ever.
            let delay = attempt >= backoff.attempts ? sweepInterval : min(backoff.delay(after: attempt), sweepInterval)
            node.health.record(volumeID, attempts: .init(count: attempt, notBefore: .now + delay))
            let fault: String
            if let check = error as? FilesystemCheckError, check.kind == .corrupt, let device = record.device {
                fault = "\(problem); e2fsck -p stopped: the filesystem on \(device) has errors that need a manual check. It stays unmounted (a pod that starts with it fails to start). On node \(node.settings.nodeID), run `e2fsck -f \(device)` and answer its questions (or start the node plugin with --fsck-mode=yes); the node mounts the volume again within \(sweepInterval)"
            } else {
                fault = "\(problem) (repair attempt \(attempt) failed: \(CSIError.from(error).message); retrying in \(delay))"
            }
            if node.health.fault(of: volumeID) != fault {
                log.error(
                    "recovery failed; will retry",
                    metadata: ["attempt": .stringConvertible(attempt), "retry_in": "\(delay)", "error": .string("\(error)")])
            }
            node.health.report(volumeID, fault: fault)
        }
    }

    private func resolved(_ volumeID: String, how: String) {
        node.health.clear(volumeID)
        RequestContext.logger(logger, volumeID: volumeID).notice("volume healthy again", metadata: ["how": .string(how)])
    }

    // MARK: - Recovery

    /// Brings one volume back: transport, filesystem, publish binds. Called with its lock held.
    func recover(_ volumeID: String, log: Logger) async throws {
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
            // counted) must come off anyway, when nothing outside this namespace holds it: this
            // node's own mounts are taken off first (behind guards), so that they are not what
            // holds the session. A filesystem that has not failed (no I/O met the dead device
            // yet) is left mounted: iscsid may still bring the session back.
            if !record.access.isBlock, let mount = try node.mounter.table().mount(at: record.stagingPath), node.isDead(mount),
                mount.isReadOnly || filesystemErrors(record) != nil
            {
                try takeOffIfFree(record, number: mount.device)
                try await guardPublications(record, log: log)
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
                // Read-only without a filesystem error (a remount by hand): writable again, online;
                // the pods' copies of the mount share the superblock and see it too.
                log.notice("recovery: remounting read-write", metadata: ["staging_path": .string(mount.mountPoint)])
                try await node.remountStaging(record, options: ["rw"])
            } else {
                try await remountFromScratch(&record, device: device, fsType: fsType, mount: mount, log: log)
            }
        }
        // 3. The publish binds.
        try await rebindPublications(record, log: log)
        if let problem = VolumeInspection.problem(of: record, in: try node.mounter.table()) {
            throw CSIError.internal("after recovery: \(problem)")
        }
    }

    /// Throws `HeldByOtherNamespaces` unless this node's mounts are all that keep the filesystem
    /// (whose st_dev is `number`) alive: taking ours off would otherwise leave the pods on the
    /// dead filesystem and the repair could not run. A volume never published has no pod.
    private func takeOffIfFree(_ record: VolumeRecord, number: String) throws {
        switch node.holders.foreignMounts(number: number, own: try node.mounter.table()) {
        case .known(let holders):
            guard holders.isEmpty else {
                throw HeldByOtherNamespaces(
                    record: record, holders: holders.summary, node: node.settings.nodeID, restartPods: podRestarts != nil)
            }
        case .unknown(let reason):
            guard record.publications.isEmpty else {
                throw HeldByOtherNamespaces(
                    record: record, holders: "unknown: \(reason)", node: node.settings.nodeID, restartPods: podRestarts != nil)
            }
        }
    }

    /// The filesystem itself went read-only (journal abort, I/O errors), or its mount is stale or
    /// gone: when nothing else holds it, guard the targets, unmount it, check it, mount it again
    /// with the original flags. e2fsck refusing (exit 8: something grabbed it meanwhile) puts the
    /// mount back as it was; e2fsck stopping (exit 4) leaves it unmounted behind the guards.
    private func remountFromScratch(
        _ record: inout VolumeRecord, device: String, fsType: String, mount: MountEntry?, log: Logger
    ) async throws {
        if let mount { try takeOffIfFree(record, number: mount.device) }
        try await guardPublications(record, log: log)
        if let mount {
            log.notice("recovery: unmounting the staging path", metadata: ["staging_path": .string(record.stagingPath)])
            try await node.unmount(record.stagingPath, deviceNumber: mount.device)
        }
        if fsType == "ext4" {
            log.notice("recovery: checking the filesystem", metadata: ["device": .string(device), "fsck_mode": .string(fsckMode.rawValue)])
            let lease = try node.verifiedDevice(record, for: "check")
            defer { lease.release() }
            do {
                try await node.filesystems.check(device, fsType: fsType, repairAll: fsckMode == .yes)
            } catch let error as FilesystemCheckError where error.kind == .couldNotCheck {
                try? await node.mountFilesystem(record, device: device, fsType: fsType, options: record.mountOptions)
                throw error
            }
        }
        log.notice("recovery: mounting again", metadata: ["staging_path": .string(record.stagingPath)])
        try await node.mountFilesystem(record, device: device, fsType: fsType, options: record.mountOptions)
        record.ext4ErrorsBaseline = Ext4Errors.count(device: device)
        try node.records.save(record)
    }

    /// Covers every publish target that holds a bind of the volume with a repair guard, in the
    /// instant its bind comes off (`guardPublication`): the target never shows its directory.
    private func guardPublications(_ record: VolumeRecord, log: Logger) async throws {
        let table = try node.mounter.table()
        for target in record.publications.keys.sorted() {
            guard let mount = table.mount(at: target), mount.source != RecoveryGuard.source else { continue }
            log.notice("recovery: guarding a publish target", metadata: ["target_path": .string(target)])
            try await node.guardPublication(target, deviceNumber: mount.device)
        }
    }

    /// Binds every recorded publish target again that holds a repair guard or a mount of a dead
    /// device (the bind goes beneath it, then it comes off), or that lost its mount, from the live
    /// staging mount only.
    func rebindPublications(_ record: VolumeRecord, log: Logger) async throws {
        for (target, publication) in record.publications.sorted(by: { $0.key < $1.key }) {
            let table = try node.mounter.table()
            if let mount = table.mount(at: target) {
                if VolumeInspection.isMountOfVolume(mount, record: record) { continue }
                guard node.isDead(mount) else {
                    throw CSIError.failedPrecondition("\(target) holds a mount of \(mount.source), not of volume \(record.volumeID); not touched")
                }
                log.notice("recovery: binding the publish target again", metadata: ["target_path": .string(target)])
                try await node.replacePublication(record, targetPath: target, readOnly: publication.readOnly, covering: mount)
                continue
            }
            guard (try? node.settings.paths.open(target)) != nil else { continue }
            log.notice("recovery: binding the publish target again", metadata: ["target_path": .string(target)])
            try await node.bindPublication(record, targetPath: target, readOnly: publication.readOnly)
        }
    }
}

/// The filesystem must come off to be repaired, and mount namespaces other than the node's (pods'
/// containers) hold it: nothing was touched.
struct HeldByOtherNamespaces: Error, CustomStringConvertible {
    var podUIDs: [String]
    var holders: String
    var action: String

    init(record: VolumeRecord, holders: String, node: String, restartPods: Bool = false) {
        podUIDs = Array(Set(record.publications.keys.compactMap(PodPaths.podUID(ofTarget:)))).sorted()
        self.holders = holders
        let pods = podUIDs.isEmpty ? "the pods using it" : "the pods with UID \(podUIDs.joined(separator: ", "))"
        if restartPods {
            action = "the node evicts \(pods) on node \(node) that have a controller; a pod without one must be restarted by hand (kubectl delete pod; find them with kubectl get pods -A -o custom-columns=NAMESPACE:.metadata.namespace,NAME:.metadata.name,UID:.metadata.uid); once nothing holds the volume the node checks and mounts it again"
        } else {
            action = "restart \(pods) on node \(node) (kubectl delete pod; find them with kubectl get pods -A -o custom-columns=NAMESPACE:.metadata.namespace,NAME:.metadata.name,UID:.metadata.uid), or start the node plugin with --restart-pods (chart value node.remount.restartPods) to have them evicted; once nothing holds the volume the node checks and mounts it again"
        }
    }

    static let marker = "it cannot be repaired while pods hold it"

    func condition(problem: String) -> String {
        "\(problem); \(Self.marker) (\(holders)): \(action)"
    }

    var description: String { "the filesystem is held by other mount namespaces: \(holders)" }
}

/// Kubelet's layout of a CSI publish target: `<kubelet>/pods/<uid>/volumes/kubernetes.io~csi/<pv>/mount`.
enum PodPaths {
    static func podUID(ofTarget path: String) -> String? {
        let parts = path.split(separator: "/").map(String.init)
        guard let index = parts.lastIndex(of: "pods"), parts.count > index + 4, parts[index + 2] == "volumes",
            parts[index + 3] == "kubernetes.io~csi"
        else { return nil }
        return parts[index + 1]
    }
}
