import CStorCore
import Foundation

/// What a device holds, as blkid's low-level probe sees it.
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

/// The filesystem programs the node runs: probe (blkid), format (mkfs), check (e2fsck), grow
/// (resize2fs, xfs_growfs). Each call goes through the process runner with its own timeout.
struct FilesystemTools: Sendable {
    var runner: any ProcessRunner
    var probeTimeout: Duration = .seconds(60)
    var formatTimeout: Duration = .seconds(600)
    var checkTimeout: Duration = .seconds(600)
    var growTimeout: Duration = .seconds(300)

    /// Programs the node needs for every filesystem it supports (checked by Probe).
    static let requiredPrograms = ["blkid", "mkfs.ext4", "mkfs.xfs", "e2fsck", "resize2fs", "xfs_growfs"]

    static let supportedFilesystems: Set<String> = ["ext4", "xfs"]

    /// Low-level probe (`blkid -p`, bypassing the cache) so a device's real content decides,
    /// never a stale cache entry.
    func probe(_ device: String) async throws -> DeviceContents {
        let command = Command("blkid", ["-p", "-o", "export", device], timeout: probeTimeout)
        let result = try await runner.run(command)
        // blkid exits 2 when it finds no signature at all.
        if result.status == 2 { return .empty }
        try result.check(command)
        return Self.parseProbe(result.standardOutput)
    }

    static func parseProbe(_ output: String) -> DeviceContents {
        var values: [String: String] = [:]
        for line in output.split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            values[String(line[..<equals])] = String(line[line.index(after: equals)...])
        }
        if let partitionTable = values["PTTYPE"] { return .partitionTable(partitionTable) }
        if let type = values["TYPE"] {
            if values["USAGE"] == nil || values["USAGE"] == "filesystem" { return .filesystem(type) }
            return .other("\(values["USAGE"] ?? "unknown") (\(type))")
        }
        if let usage = values["USAGE"] { return .other(usage) }
        return .empty
    }

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
            // No -f unless redoing our own format: mkfs.xfs must refuse a device that holds data.
            command = Command("mkfs.xfs", (force ? ["-f"] : []) + [device], timeout: formatTimeout)
        default:
            throw CSIError.invalidArgument("cannot format \(fsType): only ext4 and xfs are supported")
        }
        try await runner.run(command).check(command)
    }

    /// Repairs what is safe before mounting: `e2fsck -p` for ext4 (xfs checks itself at mount).
    /// Exit 1 and 2 mean errors were corrected; 4 and above mean the filesystem needs a human.
    /// `force` checks even a clean filesystem (resize2fs wants that before an offline resize);
    /// `repairAll` answers yes to every question (the health monitor, on a volume already read-only).
    func check(_ device: String, fsType: String, force: Bool = false, repairAll: Bool = false) async throws {
        guard fsType == "ext4" else { return }
        let command = Command(
            "e2fsck", (force ? ["-f"] : []) + [repairAll ? "-y" : "-p", device], timeout: checkTimeout)
        let result = try await runner.run(command)
        if result.status >= 4 {
            throw CSIError.failedPrecondition(
                "the ext4 filesystem on \(device) has errors e2fsck cannot repair safely (exit \(result.status)): "
                    + "\(result.diagnostic); run `e2fsck -f \(device)` by hand")
        }
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
