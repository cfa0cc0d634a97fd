import CLinux
import CStorCore
import FoundationEssentials
import Glibc
import Logging
import SwiftProtobuf

/// The steps the node RPCs are made of. Each does one thing and is safe to repeat.
extension NodeService {
    // MARK: Stage

    /// Returns the record of a staging in progress or done, or starts a new one: the record is
    /// written before any side effect, so a crash right after the attach still leaves a trace
    /// that NodeUnstageVolume (or a repeated NodeStageVolume) can finish from. Two volumes never
    /// share a device: a publish_context naming what another staged volume uses is refused before
    /// anything is recorded.
    func startOrResumeStaging(
        _ volumeID: String, stagingPath: String, target: AttachTarget, access: VolumeAccess
    ) throws -> VolumeRecord {
        if let other = records.all().first(where: { $0.volumeID != volumeID && $0.target.isSameDevice(as: target) }) {
            throw CSIError.failedPrecondition(
                "the publish_context of volume \(volumeID) names \(target), which volume \(other.volumeID) is staged from on this node; two volumes never share a device: check both volumes' publish_context (ControllerPublishVolume)")
        }
        try settings.paths.validate(stagingPath)
        if let existing = try records.load(volumeID) {
            guard existing.stagingPath == stagingPath else {
                throw CSIError.failedPrecondition(
                    "volume \(volumeID) is already staged at \(existing.stagingPath) on this node; unstage it first")
            }
            guard existing.target == target else {
                throw CSIError.failedPrecondition(
                    "volume \(volumeID) is staged from \(existing.target), not from \(target); unstage it first")
            }
            guard existing.isCompatible(with: access) else {
                throw CSIError.alreadyExists(
                    "volume \(volumeID) is staged at \(stagingPath) with another capability (\(describe(existing.access)) instead of \(describe(access)))")
            }
            guard existing.access != access else { return existing }
            let restaged = existing.restaged(with: access)
            try records.save(restaged)
            return restaged
        }
        let record = VolumeRecord(volumeID: volumeID, stagingPath: stagingPath, target: target, access: access)
        try records.save(record)
        return record
    }

    /// A first stage that was refused or failed leaves nothing behind: no staging mount, no
    /// attachment it made, no record (a retry starts afresh, possibly with another
    /// publish_context or path). Once a format began (phase `formatting`), or while a child of
    /// this call still runs on the device, the record stays: it is the proof that the device held
    /// nothing before, which lets the retry finish the format, and the trace NodeUnstageVolume
    /// cleans up from. Whatever cannot be undone safely (something holds the device) also keeps it.
    func undoFirstStage(_ record: VolumeRecord, attachedBefore: Bool, cause: any Error) async {
        let log = log(record.volumeID)
        // A child or a mount(2) of this call still at work on the device: nothing is undone under it.
        guard record.phase == .attaching, !LingeringWork.isStillRunning(cause) else {
            log.notice("the failed first stage keeps its record", metadata: ["phase": .string(record.phase.rawValue)])
            return
        }
        do {
            if let mount = try mounter.table().mount(at: record.stagingPath), VolumeInspection.isMountOfVolume(mount, record: record) {
                try await unmount(record.stagingPath, deviceNumber: mount.device)
            }
            if !attachedBefore { try await detach(record: record, mountedDevice: nil) }
            try records.delete(record.volumeID)
            log.notice("undid the failed first stage", metadata: ["cause": .string(CSIError.from(cause).message)])
        } catch {
            log.warning(
                "could not undo the failed first stage; its record stays for NodeUnstageVolume",
                metadata: ["error": .string(CSIError.from(error).message)])
        }
    }

    func describe(_ access: VolumeAccess) -> String {
        switch access.kind {
        case .block: "block, \(access.mode.rawValue)"
        case .mount(let fsType, let flags):
            "\(fsType)\(flags.isEmpty ? "" : " [\(flags.joined(separator: ","))]"), \(access.mode.rawValue)"
        }
    }

    /// Attaches the volume (or finds the existing attachment), checks that the device is the
    /// volume's LUN (its WWID, once recorded, must not change) and records what it is.
    func attachDevice(_ record: inout VolumeRecord, secrets: [String: String]) async throws -> String {
        let target = record.target
        let device = try await attachmentLocks.withLock(target.attachmentKey) {
            try await attachers.attach(target, secrets: secrets)
        }
        try await adoptDevice(&record, device: device, purpose: "staging")
        return device
    }

    /// Checks that a device the attacher returned is the volume's disk and records it (a new
    /// instance after a re-login is expected; another LUN is refused).
    func adoptDevice(_ record: inout VolumeRecord, device: String, purpose: String) async throws {
        let identity = try DeviceIdentity.read(device)
        if let recorded = record.identity, let problem = recorded.mismatch(with: identity, sameInstance: false) {
            throw CSIError.failedPrecondition(
                "refusing \(purpose) of volume \(record.volumeID): the device \(device) attached from \(record.target) is not the volume's disk: \(problem). Nothing was formatted, checked or mounted. If the volume behind this target was replaced on purpose, unstage the volume and stage it again; otherwise fix the target")
        }
        if let multipath = holders.kernelHolders(number: identity.number).first(where: \.isMultipath) {
            throw CSIError.failedPrecondition(
                "\(device) of volume \(record.volumeID) is \(multipath); this driver uses the iSCSI disk directly, not through dm-multipath: blacklist the volume's WWID \(identity.wwid ?? "(unknown)") (or cStor's vendor) in /etc/multipath.conf and remove the map (`multipath -f`), then stage again")
        }
        if record.device != device || record.identity != identity {
            record.device = device
            record.deviceNumber = identity.number
            record.identity = identity
            try records.save(record)
        }
    }

    /// Opens the volume's device and checks that it is still the recorded disk (same LUN, same
    /// instance). Keep the lease until the step that writes to the device is done: while it is
    /// open, the kernel cannot give the device's name or number to another disk.
    func verifiedDevice(_ record: VolumeRecord, for step: String) throws -> DeviceLease {
        guard let device = record.device else {
            throw CSIError.failedPrecondition("volume \(record.volumeID) has no device recorded; stage it again")
        }
        let lease = try DeviceLease(device: device)
        if let recorded = record.identity, let problem = recorded.mismatch(with: lease.identity, sameInstance: true) {
            lease.release()
            throw CSIError.failedPrecondition(
                "refusing to \(step) \(device) for volume \(record.volumeID): \(problem). Stage the volume again (NodeStageVolume) so that its device is found anew")
        }
        return lease
    }

    /// Mounts the volume's filesystem at the staging path, formatting the device only when it
    /// holds nothing at all. An existing correct mount is kept; a stale one is cleaned.
    func mountStagingFilesystem(_ record: inout VolumeRecord, device: String, fsType: String) async throws {
        let stagingPath = record.stagingPath
        let options = stagingMountOptions(record.access, fsType: fsType)
        if let mount = try mounter.table().mount(at: stagingPath) {
            if VolumeInspection.isMountOfVolume(mount, record: record), mount.fsType == fsType {
                if !mount.isReadOnly || record.access.mode.isReadOnly {
                    record.mountOptions = options
                    return  // already staged as asked
                }
                log(record.volumeID).warning(
                    "the staging mount is read-only; remounting it after a filesystem check",
                    metadata: ["staging_path": .string(stagingPath)])
                // Nothing is mounted for a while: the record must not say "staged" meanwhile.
                record.phase = .attaching
                try records.save(record)
                try await unmount(stagingPath, deviceNumber: mount.device)
            } else if VolumeInspection.isMountOfVolume(mount, record: record) {
                throw CSIError.alreadyExists(
                    "volume \(record.volumeID) is mounted at \(stagingPath) as \(mount.fsType), not as \(fsType)")
            } else if isDead(mount) {
                log(record.volumeID).warning(
                    "cleaning a mount of a dead device at the staging path",
                    metadata: ["staging_path": .string(stagingPath), "source": .string(mount.source)])
                try await unmount(stagingPath, deviceNumber: mount.device)
            } else {
                throw CSIError.failedPrecondition(
                    "\(stagingPath) is already a mount of \(mount.source) (\(mount.fsType)), which is not volume \(record.volumeID)'s device \(device)")
            }
        }
        try await prepareFilesystem(&record, device: device, fsType: fsType)
        FailPoints.hit("stage.mounting")
        try await mountFilesystem(record, device: device, fsType: fsType, options: options)
        FailPoints.hit("stage.mounted")
        record.mountOptions = options
        record.ext4ErrorsBaseline = Ext4Errors.count(device: device)
    }

    /// Makes sure the device holds the requested filesystem: checks an existing one, creates one
    /// on a device that holds nothing, and refuses anything else. Nothing with data on it is ever
    /// formatted, and an interrupted format of ours is redone only when e2fsck finds the result
    /// corrupt: never because e2fsck timed out, found the device busy or is missing.
    func prepareFilesystem(_ record: inout VolumeRecord, device: String, fsType: String) async throws {
        let resumingFormat = record.phase == .formatting
        var lease = try verifiedDevice(record, for: "probe")
        defer { lease.release() }
        // Our own interrupted mkfs may have written anything but its superblock: the record proves
        // the device held nothing before, so only blkid's signatures count then.
        let contents = try await filesystems.probe(device, thorough: !resumingFormat)
        switch contents {
        case .filesystem(let found) where found == fsType:
            do {
                lease.release()
                lease = try verifiedDevice(record, for: "check")
                try await filesystems.check(device, fsType: fsType)
                return
            } catch let error as FilesystemCheckError where resumingFormat && error.kind == .corrupt {
                log(record.volumeID).warning(
                    "an interrupted format left a corrupt filesystem; formatting again", metadata: ["e2fsck": .string(error.diagnostic)])
            }
        case .empty:
            break
        case .filesystem(let found) where resumingFormat && found != fsType:
            throw CSIError.failedPrecondition(
                "\(device) now holds a \(found) filesystem although this node was formatting it as \(fsType); refusing to touch it")
        default:
            throw CSIError.failedPrecondition(
                "\(device) holds \(contents.summary), not an \(fsType) filesystem; refusing to format a device that holds data")
        }
        let table = try mounter.table()
        let users = holders.holders(of: device, number: lease.identity.number, table: table, exclusiveOnly: true)
            .filter { if case .process(let pid, _) = $0 { return pid != getpid() } else { return true } }
        guard users.isEmpty else {
            throw CSIError.unavailable(
                "\(device) of volume \(record.volumeID) is in use (\(users.summary)); refusing to format a device in use. If that is an earlier format of this volume, it ends by itself: retry then; otherwise release the device")
        }
        record.phase = .formatting
        try records.save(record)
        log(record.volumeID).notice("formatting", metadata: ["device": .string(device), "fs_type": .string(fsType)])
        FailPoints.hit("stage.formatting")
        lease.release()
        lease = try verifiedDevice(record, for: "format")
        try await filesystems.format(device, fsType: fsType, force: resumingFormat)
    }

    func stagingMountOptions(_ access: VolumeAccess, fsType: String) -> [String] {
        var options = access.mountFlags
        // A clone has its source's XFS UUID; without nouuid it cannot be mounted beside it.
        if fsType == "xfs" && !options.contains("nouuid") { options.append("nouuid") }
        // On an error ext4 stops writing instead of spreading damage; the health monitor then
        // checks and mounts it again. A StorageClass may choose another errors= behaviour.
        if fsType == "ext4" && !options.contains(where: { $0.hasPrefix("errors=") }) { options.append("errors=remount-ro") }
        if access.mode.isReadOnly && !options.contains("ro") { options.append("ro") }
        return options
    }

    // MARK: Publish

    func requireStaged(_ volumeID: String, stagingPath: String) throws -> VolumeRecord {
        guard let record = try records.load(volumeID) else {
            throw CSIError.failedPrecondition("volume \(volumeID) is not staged on this node; call NodeStageVolume first")
        }
        guard record.stagingPath == stagingPath else {
            throw CSIError.failedPrecondition(
                "volume \(volumeID) is staged at \(record.stagingPath), not at \(stagingPath)")
        }
        guard record.phase == .staged else {
            throw CSIError.failedPrecondition(
                "staging of volume \(volumeID) did not complete (\(record.phase.rawValue)); call NodeStageVolume again")
        }
        return record
    }

    /// True when the target already holds this volume with the requested read-only setting; throws
    /// when it holds it with another setting or holds something else; cleans a mount of a dead device.
    func publicationExists(at targetPath: String, record: VolumeRecord, readOnly: Bool) async throws -> Bool {
        guard let mount = try mounter.table().mount(at: targetPath) else { return false }
        if VolumeInspection.isMountOfVolume(mount, record: record) {
            if mount.isReadOnly == readOnly { return true }
            throw CSIError.alreadyExists(
                "volume \(record.volumeID) is already published at \(targetPath) \(mount.isReadOnly ? "read-only" : "read-write")")
        }
        if isDead(mount) {
            try await unmount(targetPath, deviceNumber: mount.device)
            return false
        }
        throw CSIError.failedPrecondition(
            "\(targetPath) is already a mount of \(mount.source), which is not volume \(record.volumeID)")
    }

    // MARK: Unpublish

    /// Unmounts every mount of this volume stacked at the target. A mount of something else is
    /// never touched. Without a state record, kubelet's target path naming the volume is what
    /// identifies the mount as this volume's.
    func unmountTarget(_ targetPath: String, volumeID: String, record: VolumeRecord?) async throws {
        for _ in 0..<8 {
            guard let mount = try mounter.table().mount(at: targetPath) else { return }
            let ours: Bool
            if let record {
                ours = record.publications[targetPath] != nil || VolumeInspection.isMountOfVolume(mount, record: record)
            } else {
                ours = targetPath.split(separator: "/").contains(Substring(volumeID))
            }
            guard ours else {
                throw CSIError.failedPrecondition(
                    "\(targetPath) holds a mount of \(mount.source) that is not volume \(volumeID)'s; refusing to unmount it")
            }
            try await unmount(targetPath, deviceNumber: mount.device)
        }
        throw CSIError.internal("\(targetPath) still holds mounts after 8 unmounts")
    }

    /// Removes the target the node created: an empty directory or a block target file, reached
    /// through its opened parent (never through a symlink). Files found in an unmounted target
    /// directory were written onto the node's disk (while nothing was mounted there): they are
    /// data, so they are moved aside into the state directory, never deleted, and the unpublish
    /// completes.
    func removeTarget(_ targetPath: String, volumeID: String) throws {
        let parent: OpenedPath
        let name: String
        do {
            (parent, name) = try settings.paths.openParent(targetPath)
        } catch let error as PathError {
            if case .missing = error.kind { return }
            throw error
        }
        var info = stat()
        guard fstatat(parent.descriptor, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else { return }
        switch info.st_mode & S_IFMT {
        case S_IFDIR:
            guard unlinkat(parent.descriptor, name, AT_REMOVEDIR) != 0, errno != ENOENT else { return }
            guard errno == ENOTEMPTY || errno == EEXIST else {
                throw CSIError.internal("cannot remove \(targetPath): \(String(cString: strerror(errno)))")
            }
            let kept = try OrphanedFiles(stateDirectory: settings.stateDirectory)
                .keep(parent: parent, name: name, label: FileNameEncoding.encode(volumeID))
            log(volumeID).warning(
                "the unmounted target held files (written onto the node's disk); kept them",
                metadata: ["target_path": .string(targetPath), "kept_at": .string(kept)])
        case S_IFREG where info.st_size == 0:
            unlinkat(parent.descriptor, name, 0)
        default:
            throw CSIError.failedPrecondition(
                "\(targetPath) is neither a directory nor an empty block target file (a symbolic link, a device or a file with data); it is kept")
        }
    }

    // MARK: Unstage

    /// Unstaging under a live publish bind would yank the filesystem from a running workload.
    func refuseWhilePublished(_ record: VolumeRecord?) async throws {
        guard let record else { return }
        let table = try mounter.table()
        for target in record.publications.keys.sorted() where table.mount(at: target) != nil {
            throw CSIError.failedPrecondition(
                "volume \(record.volumeID) is still published at \(target); NodeUnpublishVolume it first")
        }
        // Other mounts of the same filesystem, by device number, but only while the device is
        // still this volume's: a detached device's number may belong to another volume by now.
        guard !record.access.isBlock, let device = record.device,
            (try? await attachers.currentDevice(record.target)) == device, let number = BlockDevice.number(of: device)
        else { return }
        if let other = table.mounts(ofDevice: number).first(where: { $0.mountPoint != record.stagingPath }) {
            throw CSIError.failedPrecondition(
                "volume \(record.volumeID) is still mounted at \(other.mountPoint); unmount it first")
        }
    }

    /// Unmounts the staging path when it holds this volume; returns the device it was mounted
    /// from (used to find what to detach when the record is gone).
    func unmountStaging(_ stagingPath: String, record: VolumeRecord?) async throws -> String? {
        var mountedDevice: String?
        for _ in 0..<8 {
            guard let mount = try mounter.table().mount(at: stagingPath) else { return mountedDevice }
            if let record, !VolumeInspection.isMountOfVolume(mount, record: record), !isDead(mount) {
                throw CSIError.failedPrecondition(
                    "\(stagingPath) holds a mount of \(mount.source) that is not volume \(record.volumeID)'s; refusing to unmount it")
            }
            mountedDevice = mountedDevice ?? (mount.source.hasPrefix("/dev/") ? mount.source : nil)
            try await unmount(stagingPath, deviceNumber: mount.device)
        }
        throw CSIError.internal("\(stagingPath) still holds mounts after 8 unmounts")
    }

    /// Detaches what the record says was attached, or, without a record, what the staging mount
    /// was made from, unless something still holds the device (an exclusive open fails) or
    /// another volume staged on this node shares the attachment (another LUN of the same iSCSI
    /// session): then the session stays.
    func detach(record: VolumeRecord?, mountedDevice: String?) async throws {
        let target: AttachTarget
        if let record {
            target = record.target
        } else if let mountedDevice, let found = AttachmentDiscovery.target(of: mountedDevice, sysfs: settings.iscsiSysfs) {
            log("").notice("detaching a volume found without a state record", metadata: ["device": .string(mountedDevice)])
            target = found
        } else {
            return
        }
        let volumeID = record?.volumeID ?? ""
        try await attachmentLocks.withLock(target.attachmentKey) {
            if let device = try await attachers.currentDevice(target), let number = BlockDevice.number(of: device) {
                let users = holders.holders(of: device, number: number, table: try mounter.table())
                guard users.isEmpty else {
                    throw CSIError.unavailable(
                        "the device \(device) of volume \(volumeID) is not detached: it is still in use: \(users.summary). Nothing was logged out or detached; release the device (stop the pod or process, unmount it) and NodeUnstageVolume finishes on its next call")
                }
            }
            let sharing = records.all().filter { $0.volumeID != volumeID && $0.target.sharesAttachment(with: target) }
            guard sharing.isEmpty else {
                log(volumeID).notice(
                    "the attachment stays: other volumes staged on this node use it",
                    metadata: ["attachment": .string(target.attachmentKey), "volumes": .string(sharing.map(\.volumeID).joined(separator: ","))])
                return
            }
            try await attachers.detach(target)
        }
    }

    // MARK: Expand

    /// Grows the filesystem online. Online ext4 growth needs CAP_SYS_RESOURCE; without it (some
    /// sandboxes drop it even for root) an ext4 volume that is staged but not published is grown
    /// offline instead: unmount, check, resize, mount again.
    func growFilesystem(_ record: VolumeRecord, device: String, fsType: String) async throws {
        guard fsType == "ext4", !ProcessCapabilities.has(ProcessCapabilities.sysResource) else {
            try await filesystems.grow(device: device, mountPoint: record.stagingPath, fsType: fsType)
            return
        }
        let table = try mounter.table()
        if let published = record.publications.keys.sorted().first(where: { table.mount(at: $0) != nil }) {
            throw CSIError.failedPrecondition(
                "growing ext4 online needs CAP_SYS_RESOURCE, which this node plugin lacks, and volume \(record.volumeID) is published at \(published); grant the capability (a privileged container has it) or expand while the volume is not in use")
        }
        log(record.volumeID).notice("growing ext4 offline: this process lacks CAP_SYS_RESOURCE")
        if let mount = table.mount(at: record.stagingPath) {
            try await unmount(record.stagingPath, deviceNumber: mount.device)
        }
        do {
            try await filesystems.check(device, fsType: fsType, force: true)
            try await filesystems.grow(device: device, mountPoint: record.stagingPath, fsType: fsType)
        } catch {
            try? await mountFilesystem(record, device: device, fsType: fsType, options: record.mountOptions)
            throw error
        }
        try await mountFilesystem(record, device: device, fsType: fsType, options: record.mountOptions)
    }

    // MARK: Stats

    /// statvfs of a path below the kubelet root, opened without following symlinks.
    func filesystemUsage(_ path: String) async throws -> [Csi_V1_VolumeUsage]? {
        let paths = settings.paths
        let answer = try? await Deadline.blocking(timeout: settings.pathProbeTimeout) { () -> statvfs? in
            guard let opened = try? paths.open(path) else { return nil }
            var info = statvfs()
            return fstatvfs(opened.descriptor, &info) == 0 ? info : nil
        }
        guard let info = answer else { return nil }
        let blockSize = Int64(info.f_frsize)
        let bytesTotal = Int64(info.f_blocks) * blockSize
        let bytesAvailable = Int64(info.f_bavail) * blockSize
        let bytesUsed = (Int64(info.f_blocks) - Int64(info.f_bfree)) * blockSize
        return [
            .with {
                $0.unit = .bytes
                $0.total = bytesTotal
                $0.available = bytesAvailable
                $0.used = bytesUsed
            },
            .with {
                $0.unit = .inodes
                $0.total = Int64(info.f_files)
                $0.available = Int64(info.f_favail)
                $0.used = Int64(info.f_files) - Int64(info.f_ffree)
            },
        ]
    }
}
