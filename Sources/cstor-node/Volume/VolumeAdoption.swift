import CStorCore
import Foundation

/// Finds cStor volumes that are staged on this node without a state record of ours — staged by
/// openebs/cstor-csi before the switch, or after our records were lost — and writes the record
/// they would have had, so that stats, expansion, the health monitor and unstage work for them.
///
/// A staging mount is recognised by kubelet's layout (`<kubelet>/plugins/kubernetes.io/csi/
/// <driver>/<hash>/globalmount`, or the older `.../csi/pv/<pv>/globalmount`) and by its device:
/// an iSCSI LUN whose session (in sysfs) is to a cStor IQN, `iqn.2016-09.com.openebs.cstor:<pv>`.
/// Publish binds are the mounts of the same filesystem under `<kubelet>/pods/*/volumes/
/// kubernetes.io~csi/<pv>/mount`.
struct VolumeAdoption {
    let kubeletDirectory: String
    let driverName: String
    var sysfs = ISCSISysfs()
    /// Resolves a device node to the device it is (a seam for tests).
    var deviceNumber: (String) -> String? = BlockDevice.number(of:)

    static let cstorIQNPrefix = "iqn.2016-09.com.openebs.cstor:"

    func candidates(in table: MountTable, known: Set<String>) -> [VolumeRecord] {
        let csiRoot = kubeletDirectory + "/plugins/kubernetes.io/csi/"
        var adopted: [VolumeRecord] = []
        for mount in table.entries where mount.mountPoint.hasPrefix(csiRoot) && mount.mountPoint.hasSuffix("/globalmount") {
            let inside = mount.mountPoint.dropFirst(csiRoot.count)
            guard inside.hasPrefix(driverName + "/") || inside.hasPrefix("pv/"),
                mount.source.hasPrefix("/"),
                case .iscsi(let target)? = AttachmentDiscovery.target(of: mount.source, sysfs: sysfs),
                target.iqn.hasPrefix(Self.cstorIQNPrefix)
            else { continue }
            let volumeID = String(target.iqn.dropFirst(Self.cstorIQNPrefix.count))
            guard IdentifierRules.volumeIDProblem(volumeID) == nil, !known.contains(volumeID),
                !adopted.contains(where: { $0.volumeID == volumeID }),
                VolumeAccess.supportedFsTypes.contains(mount.fsType)
            else { continue }
            let mode: VolumeAccess.Mode = mount.options.contains("ro") ? .singleNodeReaderOnly : .singleNodeWriter
            var record = VolumeRecord(
                volumeID: volumeID, stagingPath: mount.mountPoint, target: .iscsi(target),
                access: VolumeAccess(kind: .mount(fsType: mount.fsType, flags: []), mode: mode))
            record.phase = .staged
            record.device = mount.source
            record.deviceNumber = deviceNumber(mount.source) ?? mount.device
            record.mountOptions = mount.fsType == "xfs" ? ["nouuid"] : []
            let podsRoot = kubeletDirectory + "/pods/"
            let suffix = "/volumes/kubernetes.io~csi/\(volumeID)/mount"
            for bind in table.mounts(ofDevice: mount.device)
            where bind.mountPoint.hasPrefix(podsRoot) && bind.mountPoint.hasSuffix(suffix) {
                record.publications[bind.mountPoint] = .init(readOnly: bind.options.contains("ro"))
            }
            adopted.append(record)
        }
        return adopted
    }
}
