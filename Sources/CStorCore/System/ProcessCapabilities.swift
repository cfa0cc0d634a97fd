import FoundationEssentials
import Glibc

/// The Linux capabilities this process holds (from /proc/self/status), so that the node can tell
/// at start-up what it will not be able to do instead of failing a volume later.
public enum ProcessCapabilities {
    /// CAP_SYS_RESOURCE: needed for online ext4 resize (EXT4_IOC_RESIZE_FS).
    public static let sysResource = 24
    /// CAP_SYS_ADMIN: mount, umount, loop and iSCSI administration.
    public static let sysAdmin = 21

    public static func effective(statusPath: String = "/proc/self/status") -> UInt64? {
        guard let text = try? KernelFile.read(statusPath) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("CapEff:") {
            return UInt64(line.dropFirst("CapEff:".count).trimmedSpaces, radix: 16)
        }
        return nil
    }

    public static func has(_ capability: Int) -> Bool {
        guard let mask = effective() else { return false }
        return mask & (UInt64(1) << UInt64(capability)) != 0
    }
}
