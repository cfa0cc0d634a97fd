import CStorCore
import Foundation

/// Works out what a device node is attached from, using only what the kernel and udev expose:
/// for a loop device its backing file, for an iSCSI disk the by-path link naming portal, IQN and
/// LUN. Used when a volume must be cleaned up after its state record was lost.
enum AttachmentDiscovery {
    static func target(of device: String, byPathDirectory: String = "/dev/disk/by-path") -> AttachTarget? {
        let name = BlockDevice.kernelName(device)
        if name.hasPrefix("loop") {
            let file = "/sys/block/\(name)/loop/backing_file"
            guard let text = try? KernelFile.read(file) else { return nil }
            let path = text.trimmingCharacters(in: .whitespacesAndNewlines)
            return path.isEmpty ? nil : .loop(file: path)
        }
        let links = (try? FileManager.default.contentsOfDirectory(atPath: byPathDirectory)) ?? []
        for link in links where link.contains("-iscsi-") {
            let path = (byPathDirectory as NSString).appendingPathComponent(link)
            if BlockDevice.resolve(path) == BlockDevice.resolve(device), let target = parseByPath(link) {
                return .iscsi(target)
            }
        }
        return nil
    }

    /// Parses `ip-<host>:<port>-iscsi-<iqn>-lun-<lun>` (IPv6 hosts appear without brackets).
    static func parseByPath(_ name: String) -> ISCSITarget? {
        guard name.hasPrefix("ip-"), let iscsi = name.range(of: "-iscsi-"),
            let lunMarker = name.range(of: "-lun-", options: .backwards), lunMarker.lowerBound > iscsi.upperBound,
            let lun = Int(name[lunMarker.upperBound...])
        else { return nil }
        let address = name[name.index(name.startIndex, offsetBy: 3)..<iscsi.lowerBound]
        guard let colon = address.lastIndex(of: ":") else { return nil }
        let host = address[..<colon]
        let port = address[address.index(after: colon)...]
        let portal = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        return ISCSITarget(iqn: String(name[iscsi.upperBound..<lunMarker.lowerBound]), portal: portal, lun: lun)
    }
}
