import CLinux
import CStorCore
import FoundationEssentials
import Glibc

/// What makes a block device this volume's, recorded at attach and checked before every step
/// that writes to it (mkfs, e2fsck, mount, resize) and on every recovery:
/// - `wwid`, the LUN's own identity (SCSI VPD page 0x83 as the kernel reports it; for a loop
///   device, the backing file's device and inode): another LUN behind the same path differs here;
/// - `diskseq`, the kernel's sequence number of this instance of the disk (a new one each time a
///   disk appears): a device name or number reused by another disk differs here;
/// - `number`, major:minor, which the mount table names.
struct DeviceIdentity: Codable, Sendable, Equatable, CustomStringConvertible {
    var number: String
    var diskseq: UInt64?
    var wwid: String?

    var description: String {
        "\(number)" + (diskseq.map { ", diskseq \($0)" } ?? "") + (wwid.map { ", WWID \($0)" } ?? "")
    }

    /// Reads the identity of the device node `device` from the kernel.
    static func read(_ device: String, sysfs: String = "/sys") throws -> DeviceIdentity {
        guard let number = BlockDevice.number(of: device) else {
            throw DeviceError(device: device, detail: "is not a block device (any more)")
        }
        let base = "\(sysfs)/dev/block/\(number)"
        let diskseq = (try? KernelFile.read(base + "/diskseq")).flatMap { UInt64($0.trimmed) }
        return DeviceIdentity(number: number, diskseq: diskseq, wwid: try wwid(device: device, sysfsBase: base))
    }

    /// SCSI disks: `device/wwid` (the kernel's pick of the VPD 0x83 designators), else page 0x83
    /// itself; loop devices: the backing file as LOOP_GET_STATUS64 reports it.
    private static func wwid(device: String, sysfsBase: String) throws -> String? {
        if let text = try? KernelFile.read(sysfsBase + "/device/wwid") {
            let trimmed = text.trimmed
            if !trimmed.isEmpty { return trimmed }
        }
        if let page = FileManager.default.contents(atPath: sysfsBase + "/device/vpd_pg83"), !page.isEmpty {
            return "vpd83:" + page.prefix(128).map { cFormat("%02x", $0) }.joined()
        }
        if BlockDevice.kernelName(device).hasPrefix("loop") {
            let fd = open(device, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
            guard fd >= 0 else { throw DeviceError(device: device, detail: "cannot open: \(String(cString: strerror(errno)))") }
            defer { close(fd) }
            var info = loop_info64()
            guard cstor_loop_get_status64(fd, &info) == 0 else {
                if errno == ENXIO { return nil }  // a loop device with no file: nothing to identify
                throw DeviceError(device: device, detail: "LOOP_GET_STATUS64 failed: \(String(cString: strerror(errno)))")
            }
            return loopIdentity(fileDevice: UInt64(info.lo_device), inode: UInt64(info.lo_inode))
        }
        return nil
    }

    /// The identity a loop device backed by this file has (the backing file's st_dev and inode).
    static func loopIdentity(fileDevice: UInt64, inode: UInt64) -> String {
        "loop-file:\(BlockDevice.format(rdev: fileDevice)):\(inode)"
    }

    /// Why `current` is not the device recorded as `self`, or nil when it is. `sameInstance` also
    /// requires the same instance of the disk (no re-attach in between): true before a write to
    /// the device within one operation, false right after an attach or a session repair, where a
    /// new device node is expected but the LUN must be the same.
    func mismatch(with current: DeviceIdentity, sameInstance: Bool) -> String? {
        if let wwid, current.wwid != wwid {
            return "it is another LUN: WWID \(current.wwid ?? "(none)"), while the volume's is \(wwid)"
        }
        guard sameInstance else { return nil }
        if current.number != number {
            return "it is device \(current.number) now, not \(number)"
        }
        if let diskseq, let now = current.diskseq, now != diskseq {
            return "it is another instance of the disk (diskseq \(now), not \(diskseq)): it was detached and attached again"
        }
        return nil
    }
}
