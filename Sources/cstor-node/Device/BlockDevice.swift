import CLinux
import CStorCore
import FoundationEssentials
import Glibc

/// Facts about block devices read straight from the kernel (stat, ioctl, sysfs): no processes.
enum BlockDevice {
    /// The device's "major:minor", the same notation /proc/self/mountinfo uses, or nil when the
    /// path is not a block device.
    static func number(of path: String) -> String? {
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFBLK else { return nil }
        return format(rdev: UInt64(info.st_rdev))
    }

    /// glibc's gnu_dev_major/minor encoding of dev_t.
    static func format(rdev: UInt64) -> String {
        let major = ((rdev >> 8) & 0xfff) | ((rdev >> 32) & ~UInt64(0xfff))
        let minor = (rdev & 0xff) | ((rdev >> 12) & ~UInt64(0xff))
        return "\(major):\(minor)"
    }

    static func exists(_ path: String) -> Bool {
        number(of: path) != nil
    }

    /// Size in bytes (BLKGETSIZE64).
    static func size(of path: String) throws -> Int64 {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw DeviceError(device: path, detail: "cannot open: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var size: UInt64 = 0
        guard cstor_blkgetsize64(fd, &size) == 0 else {
            throw DeviceError(device: path, detail: "BLKGETSIZE64 failed: \(String(cString: strerror(errno)))")
        }
        return Int64(clamping: size)
    }

    /// Whether an O_EXCL open succeeds: it fails (EBUSY) while a filesystem on the device is mounted
    /// in any mount namespace, or a program (mkfs, e2fsck, dm) holds it exclusively. No side effects.
    static func canOpenExclusively(_ path: String) -> Bool {
        let fd = open(path, O_RDONLY | O_EXCL | O_CLOEXEC | O_NONBLOCK)
        if fd >= 0 {
            close(fd)
            return true
        }
        return errno != EBUSY
    }

    /// The path a symlink leads to, all links resolved (realpath).
    static func resolve(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// The kernel name of a device node: /dev/sdb → sdb.
    static func kernelName(_ device: String) -> String {
        Path.lastComponent(device)
    }
}

/// A device that cannot be inspected.
struct DeviceError: Error, CSIErrorMappable, CustomStringConvertible {
    var device: String
    var detail: String

    var description: String { "\(device): \(detail)" }
    var csiError: CSIError { .internal(description) }
}

/// ext4's own error counter for a mounted device (/sys/fs/ext4/<dev>/errors_count).
enum Ext4Errors {
    static func count(device: String) -> Int {
        let file = "/sys/fs/ext4/\(BlockDevice.kernelName(device))/errors_count"
        guard let text = try? KernelFile.read(file) else { return 0 }
        return Int(text.trimmed) ?? 0
    }
}
