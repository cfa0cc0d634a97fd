import CStorCore
import FoundationEssentials
import Glibc

/// Inspection of a staged volume: is its device there, is its staging mount there and writable.
/// NodeGetVolumeStats reports it as `volume_condition`; the health monitor acts on it.
enum VolumeInspection {
    /// What is wrong with a staged volume right now, or nil when nothing is.
    static func problem(of record: VolumeRecord, in table: MountTable) -> String? {
        guard record.phase == .staged else { return "staging did not complete (\(record.phase.rawValue))" }
        guard let device = record.device, BlockDevice.exists(device) else {
            return "the volume's device \(record.device ?? "(unknown)") is gone from this node"
        }
        if record.access.isBlock { return nil }
        guard let mount = table.mount(at: record.stagingPath) else {
            return "the staging mount at \(record.stagingPath) is missing"
        }
        if let number = BlockDevice.number(of: device), mount.device != number {
            return "\(record.stagingPath) is mounted from \(mount.source), not from the volume's device \(device)"
        }
        if let recorded = record.identity?.diskseq, let number = record.identity?.number,
            let text = try? KernelFile.read("/sys/dev/block/\(number)/diskseq"),
            let now = UInt64(text.trimmed), now != recorded
        {
            return "the device number \(number) of the volume now belongs to another disk (diskseq \(now), not \(recorded))"
        }
        if mount.isReadOnly && !record.access.mode.isReadOnly && !record.mountOptions.contains("ro") {
            return "the filesystem at \(record.stagingPath) is read-only: an I/O error or a lost target made the kernel remount it"
        }
        return nil
    }

    /// Whether the mount at `path` is our volume's: the same filesystem (st_dev) as its device,
    /// or, for a block volume published onto a file, a bind of its device node.
    static func isMountOfVolume(_ mount: MountEntry, record: VolumeRecord) -> Bool {
        guard let device = record.device else { return false }
        if let number = record.deviceNumber ?? BlockDevice.number(of: device), mount.device == number { return true }
        if record.access.isBlock && mount.root == "/" + BlockDevice.kernelName(device) { return true }
        return mount.source == device
    }
}

/// What stands in a publish target while the health monitor repairs the volume: an empty,
/// read-only tmpfs made unbindable, placed beneath the volume's bind so that the target never
/// shows its empty directory. A container runtime that binds the target while it is there fails
/// (EINVAL): the container gets the volume or nothing, never the node's disk or an empty stand-in.
enum RecoveryGuard {
    static let source = "cstor-csi-repairing"
}
