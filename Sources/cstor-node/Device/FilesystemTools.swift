import CLibBlkid
import CStorCore
import FoundationEssentials
import Glibc

/// What a device holds, as libblkid's low-level probe sees it.
enum DeviceContents: Sendable, Equatable {
    case empty
    case filesystem(String)
    case partitionTable(String)
    /// A signature that is neither a filesystem nor a partition table (LVM, RAID, swap, LUKS ...).
    case other(String)

    var summary: String {
        switch self {
        case .empty: "nothing"
        case .filesystem(let type): "a \(type) filesystem"
        case .partitionTable(let type): "a \(type) partition table"
        case .other(let usage): "\(usage) data"
        }
    }
}

/// The node's filesystem work: probe (libblkid, in process), format (mkfs), check (e2fsck), grow
/// (resize2fs, xfs_growfs). Each program runs through the process runner with its own timeout.
struct FilesystemTools: Sendable {
    var runner: any ProcessRunner
    var probeTimeout: Duration = .seconds(60)
    var formatTimeout: Duration = .seconds(600)
    var checkTimeout: Duration = .seconds(600)
    var growTimeout: Duration = .seconds(300)

    /// Programs the node needs for every filesystem it supports (checked by Probe).
    static let requiredPrograms = ["mkfs.ext4", "mkfs.xfs", "e2fsck", "resize2fs", "xfs_growfs"]

    static let supportedFilesystems: Set<String> = ["ext4", "xfs"]

    /// Low-level probe with libblkid (what `blkid -p` does, in process: superblocks and partition
    /// tables read from the device itself, never a cache), so a device's real content decides.
    /// Signatures that contradict each other count as data: such a device is never formatted.
    ///
    /// blkid looks at primary superblocks only: a filesystem whose first superblock was damaged
    /// is "empty" to it, while e2fsck or xfs_repair would recover every file from a backup. So,
    /// unless `thorough` is false, "empty" also requires no ext4 backup superblock and no XFS
    /// secondary superblock where they would be, and zeros in the first and last MiB (a new
    /// volume reads as zeros: this costs nothing for the volumes that are formatted).
    func probe(_ device: String, thorough: Bool = true) async throws -> DeviceContents {
        do {
            return try await Deadline.blocking(timeout: probeTimeout) {
                let contents = try Self.lowLevelProbe(device)
                guard contents == .empty, thorough else { return contents }
                return try DeviceResidue.find(device).map { .other($0) } ?? .empty
            }
        } catch is Deadline.Expired {
            throw CSIError.deadlineExceeded("probing \(device) for a filesystem took longer than \(probeTimeout)")
        }
    }

    private static func lowLevelProbe(_ device: String) throws -> DeviceContents {
        guard let probe = blkid_new_probe_from_filename(device) else {
            throw CSIError.internal("cannot probe \(device): \(String(cString: strerror(errno)))")
        }
        defer { blkid_free_probe(probe) }
        blkid_probe_enable_superblocks(probe, 1)
        blkid_probe_set_superblocks_flags(probe, BLKID_SUBLKS_TYPE | BLKID_SUBLKS_USAGE)
        blkid_probe_enable_partitions(probe, 1)
        blkid_probe_set_partitions_flags(probe, BLKID_PARTS_ENTRY_DETAILS)
        switch blkid_do_safeprobe(probe) {
        case 0: break
        case 1: return .empty
        case -2: return .other("contradicting signatures")
        default: throw CSIError.internal("cannot probe \(device): \(String(cString: strerror(errno)))")
        }
        var values: [String: String] = [:]
        for name in ["TYPE", "USAGE", "PTTYPE"] {
            var value: UnsafePointer<CChar>?
            if blkid_probe_lookup_value(probe, name, &value, nil) == 0, let value {
                values[name] = String(cString: value)
            }
        }
        return contents(values)
    }

    /// What a device holds, from the probe's TYPE, USAGE and PTTYPE values.
    static func contents(_ values: [String: String]) -> DeviceContents {
        if let partitionTable = values["PTTYPE"] { return .partitionTable(partitionTable) }
        if let type = values["TYPE"] {
            if values["USAGE"] == nil || values["USAGE"] == "filesystem" { return .filesystem(type) }
            return .other("\(values["USAGE"] ?? "unknown") (\(type))")
        }
        if let usage = values["USAGE"] { return .other(usage) }
        return .other("an unnamed signature")
    }

    /// The smallest filesystem mkfs.xfs makes.
    static let smallestXFS: Int64 = 300 << 20

    /// Creates a filesystem. Callers must have probed the device and found it empty; `force` is
    /// only for redoing our own interrupted format.
    func format(_ device: String, fsType: String, force: Bool = false) async throws {
        let command: Command
        switch fsType {
        case "ext4":
            // -F: the device is a whole disk, which mkfs.ext4 would otherwise ask about;
            // -m0: no blocks reserved for root, a volume belongs to one workload.
            command = Command("mkfs.ext4", ["-F", "-m0", device], timeout: formatTimeout)
        case "xfs":
            // mkfs.xfs (xfsprogs 5.19 and later) refuses filesystems under 300 MiB: that is the
            // caller's volume, not our failure.
            if let size = try? BlockDevice.size(of: device), size < Self.smallestXFS {
                throw CSIError.failedPrecondition(
                    "the volume holds \(size) bytes; xfs needs at least \(Self.smallestXFS >> 20) MiB (mkfs.xfs refuses smaller filesystems): make the volume larger or use ext4")
            }
            // No -f unless redoing our own format: mkfs.xfs must refuse a device that holds data.
            command = Command("mkfs.xfs", (force ? ["-f"] : []) + [device], timeout: formatTimeout)
        default:
            throw CSIError.invalidArgument("cannot format \(fsType): only ext4 and xfs are supported")
        }
        try await runner.run(command).check(command)
    }

    /// Repairs what is safe before mounting: `e2fsck -p` for ext4 (xfs checks itself at mount).
    /// Exit 1 and 2 mean errors were corrected; 4 means errors are left (the filesystem is
    /// corrupt); 8 and above mean e2fsck could not do its work (busy, unreadable): nothing is
    /// known about the filesystem then. `force` checks even a clean filesystem (resize2fs wants
    /// that before an offline resize); `repairAll` answers yes to every question (the health
    /// monitor with `--fsck-mode=yes`). e2fsck is never killed once started: when it
    /// overruns its timeout it is left to finish, and the error says so.
    func check(_ device: String, fsType: String, force: Bool = false, repairAll: Bool = false) async throws {
        guard fsType == "ext4" else { return }
        var command = Command(
            "e2fsck", (force ? ["-f"] : []) + [repairAll ? "-y" : "-p", device], timeout: checkTimeout)
        command.killOnTimeout = false
        let result = try await runner.run(command)
        guard result.status >= 4 else { return }
        throw FilesystemCheckError(
            device: device, status: result.status, diagnostic: result.diagnostic,
            kind: result.status & ~7 == 0 ? .corrupt : .couldNotCheck)
    }

    /// Grows a mounted filesystem to fill its device.
    func grow(device: String, mountPoint: String, fsType: String) async throws {
        let command: Command
        switch fsType {
        case "ext4": command = Command("resize2fs", [device], timeout: growTimeout)
        case "xfs": command = Command("xfs_growfs", [mountPoint], timeout: growTimeout)
        default: return
        }
        try await runner.run(command).check(command)
    }
}

/// How the health monitor lets e2fsck repair a filesystem that went read-only.
enum FsckMode: String, Sendable, CaseIterable {
    /// `e2fsck -p`: journal replay and what is safe without a person; anything more stops it
    /// (exit 4) and the volume waits for a manual check.
    case preen
    /// `e2fsck -y`: yes to every question, which may clear inodes and lose files to lost+found.
    case yes
}

/// e2fsck's verdict when it is not "clean" or "repaired".
struct FilesystemCheckError: Error, CSIErrorMappable, CustomStringConvertible {
    enum Kind: Sendable, Equatable {
        /// Exit 4: the filesystem has errors e2fsck left uncorrected.
        case corrupt
        /// Exit 8 or more: e2fsck could not check (device busy, unreadable, cancelled).
        case couldNotCheck
    }

    var device: String
    var status: Int32
    var diagnostic: String
    var kind: Kind

    var description: String {
        switch kind {
        case .corrupt:
            "the ext4 filesystem on \(device) has errors e2fsck cannot repair safely (exit \(status)): \(diagnostic); run `e2fsck -f \(device)` by hand"
        case .couldNotCheck:
            "e2fsck could not check \(device) (exit \(status)): \(diagnostic)"
        }
    }

    var csiError: CSIError {
        switch kind {
        case .corrupt: .failedPrecondition(description)
        case .couldNotCheck: .unavailable(description)
        }
    }
}
