import CStorCore
import Foundation

/// The steps the node RPCs are made of. Each does one thing and is safe to repeat.
extension NodeService {
    // MARK: Stage

    /// Returns the record of a staging in progress or done, or starts a new one: the record is
    /// written before any side effect, so a crash right after the attach still leaves a trace
    /// that NodeUnstageVolume (or a repeated NodeStageVolume) can finish from.
    func startOrResumeStaging(
        _ volumeID: String, stagingPath: String, target: AttachTarget, access: VolumeAccess
    ) throws -> VolumeRecord {
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

    /// A first attach that failed leaves nothing behind: no state record (a retry starts afresh,
    /// possibly with another publish_context) and no half-made attachment (an iSCSI node record).
    func forgetFailedAttach(_ record: VolumeRecord) async throws {
        guard record.phase == .attaching, record.device == nil,
            (try? await attachers.currentDevice(record.target)) == nil
        else { return }
        try? await attachers.detach(record.target)
        try records.delete(record.volumeID)
    }

    func describe(_ access: VolumeAccess) -> String {
        switch access.kind {
        case .block: "block, \(access.mode.rawValue)"
        case .mount(let fsType, let flags):
            "\(fsType)\(flags.isEmpty ? "" : " [\(flags.joined(separator: ","))]"), \(access.mode.rawValue)"
        }
    }

    /// Attaches the volume (or finds the existing attachment) and records the device.
    func attachDevice(_ record: inout VolumeRecord, secrets: [String: String]) async throws -> String {
        let device = try await attachers.attach(record.target, secrets: secrets)
        let number = BlockDevice.number(of: device)
        if record.device != device || record.deviceNumber != number {
            record.device = device
            record.deviceNumber = number
            try records.save(record)
        }
        return device
    }

    /// Mounts the volume's filesystem at the staging path, formatting the device only when it
    /// holds nothing at all. An existing correct mount is kept; a stale or broken one is cleaned.
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
                try await mounter.unmount(target: stagingPath, lazy: false)
            } else if VolumeInspection.isMountOfVolume(mount, record: record) {
                throw CSIError.alreadyExists(
                    "volume \(record.volumeID) is mounted at \(stagingPath) as \(mount.fsType), not as \(fsType)")
            } else if await isStale(mount, record: record) {
                log(record.volumeID).warning(
                    "cleaning a stale mount at the staging path",
                    metadata: ["staging_path": .string(stagingPath), "source": .string(mount.source)])
                try await mounter.unmount(target: stagingPath, lazy: true)
            } else {
                throw CSIError.failedPrecondition(
                    "\(stagingPath) is already a mount of \(mount.source) (\(mount.fsType)), which is not volume \(record.volumeID)'s device \(device)")
            }
        }
        try FileManager.default.createDirectory(
            atPath: stagingPath, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
        try await prepareFilesystem(&record, device: device, fsType: fsType)
        FailPoints.hit("stage.mounting")
        try await mounter.mount(source: device, target: stagingPath, fsType: fsType, options: options)
        FailPoints.hit("stage.mounted")
        record.mountOptions = options
        record.ext4ErrorsBaseline = Ext4Errors.count(device: device)
    }

    /// Makes sure the device holds the requested filesystem: checks an existing one, creates one
    /// on a device that holds nothing, and refuses anything else. Nothing with data on it is ever
    /// formatted.
    func prepareFilesystem(_ record: inout VolumeRecord, device: String, fsType: String) async throws {
        let resumingFormat = record.phase == .formatting
        let contents = try await filesystems.probe(device)
        switch contents {
        case .filesystem(let found) where found == fsType:
            do {
                try await filesystems.check(device, fsType: fsType)
                return
            } catch where resumingFormat {
                // Our own mkfs was interrupted: the device held nothing before we began.
                log(record.volumeID).warning("an interrupted format left an inconsistent filesystem; formatting again")
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
        // mkfs of a crashed predecessor may still run (it holds the device exclusively): wait for it.
        guard !BlockDevice.isInUse(device) else {
            throw CSIError.aborted("\(device) is in use (an earlier format may still be running); retry shortly")
        }
        record.phase = .formatting
        try records.save(record)
        log(record.volumeID).notice("formatting", metadata: ["device": .string(device), "fs_type": .string(fsType)])
        FailPoints.hit("stage.formatting")
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

    /// A mount at a path of ours that no longer works: its device vanished, or the path does
    /// not answer stat in time (a dead transport), or stat fails with an I/O-like error.
    func isStale(_ mount: MountEntry, record: VolumeRecord?) async -> Bool {
        if mount.source == RecoveryPlaceholder.source { return true }
        if let record, let number = record.deviceNumber, mount.device == number,
            record.device.map(BlockDevice.exists) != true
        {
            return true
        }
        if mount.source.hasPrefix("/dev/") && !FileManager.default.fileExists(atPath: mount.source) { return true }
        return await !pathAnswers(mount.mountPoint)
    }

    /// Whether stat(2) on a path returns (successfully or with an ordinary error) in time.
    func pathAnswers(_ path: String) async -> Bool {
        do {
            return try await Deadline.blocking(timeout: settings.pathProbeTimeout) {
                var info = stat()
                if stat(path, &info) == 0 { return true }
                return ![EIO, ENOTCONN, ESTALE, ENXIO, ENODEV].contains(errno)
            }
        } catch {
            return false
        }
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
    /// when it holds it with another setting or holds something else; cleans a stale mount.
    func publicationExists(at targetPath: String, record: VolumeRecord, readOnly: Bool) async throws -> Bool {
        guard let mount = try mounter.table().mount(at: targetPath) else { return false }
        if VolumeInspection.isMountOfVolume(mount, record: record) {
            if mount.isReadOnly == readOnly { return true }
            throw CSIError.alreadyExists(
                "volume \(record.volumeID) is already published at \(targetPath) \(mount.isReadOnly ? "read-only" : "read-write")")
        }
        if await isStale(mount, record: record) {
            try await mounter.unmount(target: targetPath, lazy: true)
            return false
        }
        throw CSIError.failedPrecondition(
            "\(targetPath) is already a mount of \(mount.source), which is not volume \(record.volumeID)")
    }

    /// Creates the publish target: a directory for a mount volume, an empty file for a block one.
    func createTarget(_ targetPath: String, block: Bool) throws {
        let manager = FileManager.default
        if block {
            let parent = (targetPath as NSString).deletingLastPathComponent
            try manager.createDirectory(atPath: parent, withIntermediateDirectories: true)
            if !manager.fileExists(atPath: targetPath) {
                guard manager.createFile(atPath: targetPath, contents: nil, attributes: [.posixPermissions: 0o640]) else {
                    throw CSIError.internal("cannot create the block publish target \(targetPath)")
                }
            }
        } else {
            try manager.createDirectory(
                atPath: targetPath, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
        }
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
            do {
                try await mounter.unmount(target: targetPath, lazy: false)
            } catch let error as MountError where error.kind == .timedOut {
                throw error
            } catch {
                if await isStale(mount, record: record) {
                    try await mounter.unmount(target: targetPath, lazy: true)
                } else {
                    throw error
                }
            }
        }
        throw CSIError.internal("\(targetPath) still holds mounts after 8 unmounts")
    }

    /// Removes the target the node created: an empty directory or a block target file. Files
    /// found in an unmounted target directory were written onto the node's disk (while nothing
    /// was mounted there): they are data, so they are moved aside into the state directory, never
    /// deleted, and the unpublish completes.
    func removeTarget(_ targetPath: String, volumeID: String) throws {
        var info = stat()
        guard lstat(targetPath, &info) == 0 else { return }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            guard rmdir(targetPath) != 0, errno != ENOENT else { return }
            guard errno == ENOTEMPTY || errno == EEXIST else {
                throw CSIError.internal("cannot remove \(targetPath): \(String(cString: strerror(errno)))")
            }
            let orphans = settings.stateDirectory + "/orphaned"
            try FileManager.default.createDirectory(atPath: orphans, withIntermediateDirectories: true)
            let keep = "\(orphans)/\(FileNameEncoding.encode(volumeID))-\(Int(Date().timeIntervalSince1970))-\(UInt16.random(in: .min ... .max))"
            guard rename(targetPath, keep) == 0 else {
                throw CSIError.internal(
                    "\(targetPath) holds files written while nothing was mounted there, and they cannot be moved to \(keep): \(String(cString: strerror(errno)))")
            }
            log(volumeID).warning(
                "the unmounted target held files (written onto the node's disk); kept them",
                metadata: ["target_path": .string(targetPath), "kept_at": .string(keep)])
        } else if (info.st_mode & S_IFMT) == S_IFREG && info.st_size == 0 {
            unlink(targetPath)
        } else {
            throw CSIError.internal("\(targetPath) is neither a directory nor an empty block target file; it is kept")
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
            if let record, !VolumeInspection.isMountOfVolume(mount, record: record), !(await isStale(mount, record: record)) {
                throw CSIError.failedPrecondition(
                    "\(stagingPath) holds a mount of \(mount.source) that is not volume \(record.volumeID)'s; refusing to unmount it")
            }
            mountedDevice = mountedDevice ?? (mount.source.hasPrefix("/dev/") ? mount.source : nil)
            do {
                try await mounter.unmount(target: stagingPath, lazy: false)
            } catch {
                // A dead device (target gone for good) cannot flush: detach the mount lazily so
                // the volume can still be unstaged; the kernel drops it once the I/O errors out.
                log(record?.volumeID ?? "").warning(
                    "unmount failed; detaching the mount lazily",
                    metadata: ["staging_path": .string(stagingPath), "error": .string("\(error)")])
                try await mounter.unmount(target: stagingPath, lazy: true)
            }
        }
        throw CSIError.internal("\(stagingPath) still holds mounts after 8 unmounts")
    }

    /// Detaches what the record says was attached, or, without a record, what the staging mount
    /// was made from.
    func detach(record: VolumeRecord?, mountedDevice: String?) async throws {
        if let record {
            try await attachers.detach(record.target)
        } else if let mountedDevice, let target = AttachmentDiscovery.target(of: mountedDevice) {
            log("").notice("detaching a volume found without a state record", metadata: ["device": .string(mountedDevice)])
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
        if table.mount(at: record.stagingPath) != nil {
            try await mounter.unmount(target: record.stagingPath, lazy: false)
        }
        do {
            try await filesystems.check(device, fsType: fsType, force: true)
            try await filesystems.grow(device: device, mountPoint: record.stagingPath, fsType: fsType)
        } catch {
            try? await mounter.mount(source: device, target: record.stagingPath, fsType: fsType, options: record.mountOptions)
            throw error
        }
        try await mounter.mount(source: device, target: record.stagingPath, fsType: fsType, options: record.mountOptions)
    }

    // MARK: Stats

    func filesystemUsage(_ path: String) async throws -> [Csi_V1_VolumeUsage]? {
        let answer = try? await Deadline.blocking(timeout: settings.pathProbeTimeout) { () -> statvfs? in
            var info = statvfs()
            return statvfs(path, &info) == 0 ? info : nil
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
