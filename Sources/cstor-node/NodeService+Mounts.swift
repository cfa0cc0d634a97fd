import CLinux
import CStorCore
import FoundationEssentials
import Glibc
import Logging

/// The mount-table side effects of the node, shared by the RPCs and the health monitor: every
/// path is opened beneath the kubelet root (no symlink followed), the device is checked before a
/// filesystem is mounted from it, only a live mount of the volume is ever bound into a pod, and a
/// mount is detached lazily only when its device can provably never flush again.
extension NodeService {
    /// Unmounts the top mount at `path`. A busy mount is not detached lazily while its device
    /// works (that would leave dirty data and holders behind a volume that then looks unstaged):
    /// the error names what keeps it busy. A mount of a dead device (`deviceNumber` gone, offline,
    /// or a repair guard) is detached lazily when it cannot be unmounted.
    func unmount(_ path: String, deviceNumber: String?) async throws {
        let target = try settings.paths.mountEntry(path)
        do {
            try await mounter.unmount(target: target, lazy: false)
        } catch let error as MountError where error.kind != .timedOut {
            if error.kind == .notMounted { return }
            let mount = try mounter.table().mount(at: path)
            if let mount, isDead(mount) {
                log("").warning(
                    "the mount of a dead device cannot be unmounted; detaching it lazily",
                    metadata: ["path": .string(path), "source": .string(mount.source), "error": .string(error.description)])
                try await mounter.unmount(target: target, lazy: true)
                return
            }
            guard error.kind == .busy, let number = mount?.device ?? deviceNumber else { throw error }
            let users = holders.filesystemUsers(number: number).filter {
                if case .fileUser(let pid, _) = $0 { return pid != getpid() } else { return true }
            }
            throw CSIError.unavailable(
                "\(path) cannot be unmounted: it is busy\(users.isEmpty ? "" : " (\(users.summary))"). Nothing was detached; stop what uses it, then retry")
        }
    }

    /// Whether the device under a mount can never complete I/O again: the device is gone, its
    /// SCSI device went offline after iscsid's recovery window, or the mount is a repair
    /// guard. A device that is merely slow or recovering (blocked) is alive.
    func isDead(_ mount: MountEntry) -> Bool {
        if mount.source == RecoveryGuard.source { return true }
        return DeviceLiveness.isDead(number: mount.device)
    }

    /// Mounts the volume's filesystem from its (verified) device at its staging path and checks
    /// afterwards that what is mounted there is that device.
    func mountFilesystem(_ record: VolumeRecord, device: String, fsType: String, options: [String]) async throws {
        let target = try settings.paths.mountTarget(record.stagingPath, create: .directory)
        let lease = try verifiedDevice(record, for: "mount")
        defer { lease.release() }
        try await mounter.mount(source: device, target: target, fsType: fsType, options: options)
        let mounted = try settings.paths.open(record.stagingPath).status()
        guard BlockDevice.format(rdev: UInt64(mounted.st_dev)) == lease.identity.number else {
            try? await unmount(record.stagingPath, deviceNumber: nil)
            throw CSIError.internal(
                "after mounting \(device) at \(record.stagingPath), the path shows device \(BlockDevice.format(rdev: UInt64(mounted.st_dev))), not \(lease.identity.number); the mount was undone")
        }
    }

    /// What a publish binds: the staging mount of a filesystem volume, or the device node of a
    /// block volume, opened and checked to be this volume's device, live. Never an empty staging
    /// directory (the node's own disk), never another device.
    func openPublishSource(_ record: VolumeRecord) throws -> OpenedPath {
        let lease = try verifiedDevice(record, for: "publish")
        defer { lease.release() }
        let number = lease.identity.number
        if record.access.isBlock {
            let node = Glibc.open(lease.device, CSTOR_O_PATH | O_NOFOLLOW | O_CLOEXEC)
            guard node >= 0 else { throw CSIError.internal("cannot open \(lease.device): \(String(cString: strerror(errno)))") }
            let opened = OpenedPath(descriptor: node, path: lease.device)
            let info = try opened.status()
            guard (info.st_mode & S_IFMT) == S_IFBLK, BlockDevice.format(rdev: UInt64(info.st_rdev)) == number else {
                throw CSIError.failedPrecondition("\(lease.device) is no longer volume \(record.volumeID)'s device \(number); stage it again")
            }
            return opened
        }
        let table = try mounter.table()
        guard let mount = table.mount(at: record.stagingPath), mount.device == number else {
            throw CSIError.failedPrecondition(
                "volume \(record.volumeID) is not mounted at its staging path \(record.stagingPath) (\(table.mount(at: record.stagingPath).map { "a mount of \($0.source) is there" } ?? "nothing is mounted there")); refusing to publish the bare directory. Call NodeStageVolume again")
        }
        let staging = try settings.paths.open(record.stagingPath)
        let info = try staging.status()
        guard BlockDevice.format(rdev: UInt64(info.st_dev)) == number else {
            throw CSIError.failedPrecondition(
                "\(record.stagingPath) is not a live mount of volume \(record.volumeID)'s device \(number); call NodeStageVolume again")
        }
        return staging
    }

    /// Binds a recorded publication again (health monitor), with the same checks as NodePublish.
    func bindPublication(_ record: VolumeRecord, targetPath: String, readOnly: Bool) async throws {
        let source = try openPublishSource(record)
        let target = try settings.paths.mountTarget(targetPath)
        try await mounter.bind(source: source, target: target, readOnly: readOnly)
    }

    /// Replaces the mount at a publish target by a repair guard in one step: the guard goes
    /// beneath the mount, then the mount comes off. The target never shows its empty directory.
    func guardPublication(_ targetPath: String, deviceNumber: String?) async throws {
        try await mounter.guardBeneath(target: try settings.paths.mountEntry(targetPath))
        // When the bind cannot come off (busy), the guard stays beneath it, unseen; NodeUnpublish
        // unmounts every mount at the target.
        try await unmount(targetPath, deviceNumber: deviceNumber)
    }

    /// Binds a recorded publication beneath the repair guard (or dead mount) at its target, then
    /// takes that off: the target goes from guard to volume without showing its directory.
    func replacePublication(_ record: VolumeRecord, targetPath: String, readOnly: Bool, covering mount: MountEntry) async throws {
        let source = try openPublishSource(record)
        try await mounter.bindBeneath(source: source, target: try settings.paths.mountEntry(targetPath), readOnly: readOnly)
        try await unmount(targetPath, deviceNumber: mount.device)
    }

    /// Remounts the staging mount with other options (e.g. `rw` after a manual read-only remount).
    func remountStaging(_ record: VolumeRecord, options: [String]) async throws {
        try await mounter.remount(target: try settings.paths.mountEntry(record.stagingPath), options: options)
    }
}

/// Whether a block device still works, from sysfs.
enum DeviceLiveness {
    static func isDead(number: String, sysfs: String = "/sys") -> Bool {
        let base = "\(sysfs)/dev/block/\(number)"
        guard FileManager.default.fileExists(atPath: base) else { return true }
        if let state = try? KernelFile.read(base + "/device/state") {
            let trimmed = state.trimmed
            if trimmed == "transport-offline" || trimmed == "offline" || trimmed == "deleted" { return true }
        }
        // A loop device with no file behind it any more.
        return number.hasPrefix("7:") && !FileManager.default.fileExists(atPath: base + "/loop/backing_file")
    }
}

/// An open descriptor on a block device, with the identity read through it: while it is open the
/// kernel cannot hand the device's name or number to another disk.
final class DeviceLease: @unchecked Sendable {
    let device: String
    let identity: DeviceIdentity
    private var descriptor: Int32

    init(device: String) throws {
        let fd = open(device, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            throw CSIError.unavailable("cannot open \(device): \(String(cString: strerror(errno))); is the volume still attached?")
        }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFBLK else {
            close(fd)
            throw CSIError.failedPrecondition("\(device) is not a block device")
        }
        var identity = try DeviceIdentity.read(device)
        let number = BlockDevice.format(rdev: UInt64(info.st_rdev))
        var sequence: UInt64 = 0
        if cstor_blkgetdiskseq(fd, &sequence) == 0 { identity.diskseq = sequence }
        guard identity.number == number else {
            close(fd)
            throw CSIError.unavailable("\(device) changed while it was being opened; retry")
        }
        self.device = device
        self.identity = identity
        self.descriptor = fd
    }

    func release() {
        if descriptor >= 0 { close(descriptor) }
        descriptor = -1
    }

    deinit { release() }
}
