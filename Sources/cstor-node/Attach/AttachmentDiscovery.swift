import CStorCore
import FoundationEssentials
import Glibc

/// Works out what a device node is attached from, using only what the kernel exposes: for a
/// loop device its backing file, for an iSCSI disk the session it belongs to (target name, portal,
/// LUN). Used when a volume must be cleaned up after its state record was lost, and to adopt
/// volumes staged by openebs/cstor-csi.
enum AttachmentDiscovery {
    /// `sysfs` is where the kernel's iSCSI sessions are read (a stand-in initiator keeps its own
    /// tree); a loop device's backing file is always the real kernel's.
    static func target(of device: String, sysfs: ISCSISysfs = ISCSISysfs()) -> AttachTarget? {
        let name = BlockDevice.kernelName(device)
        if let (session, disk) = sysfs.owner(ofDisk: name) {
            guard !session.address.isEmpty else { return nil }
            let host = session.address.contains(":") ? "[\(session.address)]" : session.address
            let lun = disk.lun >= 0x4000 ? disk.lun & 0x3fff : disk.lun
            return .iscsi(ISCSITarget(iqn: session.targetName, portal: "\(host):\(session.port.isEmpty ? "3260" : session.port)", lun: lun))
        }
        guard name.hasPrefix("loop"), let text = try? KernelFile.read("/sys/block/\(name)/loop/backing_file") else { return nil }
        let path = text.trimmed
        return path.isEmpty ? nil : .loop(file: path)
    }
}
