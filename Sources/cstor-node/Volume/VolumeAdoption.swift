import CStorCore
import FoundationEssentials
import Glibc

/// Finds cStor volumes that are staged on this node without a state record of ours — staged by
/// openebs/cstor-csi before the switch, or after our records were lost — and writes the record
/// they would have had, so that stats, expansion, the health monitor, re-stage and unstage (with
/// its iSCSI logout) work for them.
///
/// A volume is recognised by kubelet's layout and by its device, a disk whose iSCSI session (in
/// sysfs, the kernel's own view; never a udev link that may be stale) is to a cStor IQN,
/// `iqn.2016-09.com.openebs.cstor:<pv>`:
/// - a filesystem volume by its staging mount (`<kubelet>/plugins/kubernetes.io/csi/<driver>/
///   <hash>/globalmount`, or the older `.../csi/pv/<pv>/globalmount`); its publish binds are the
///   mounts of the same filesystem under `<kubelet>/pods/*/volumes/kubernetes.io~csi/<pv>/mount`;
/// - a block volume by its publish binds, the device node bound onto
///   `<kubelet>/plugins/kubernetes.io/csi/volumeDevices/publish/<pv>/<pod uid>`; its staging path
///   is kubelet's `.../volumeDevices/staging/<pv>`.
/// An adopted record says so (`adoptedFrom`): openebs/cstor-csi kept no mount flags, so a later
/// NodeStageVolume's flags are taken as they come (`VolumeRecord.isCompatible(with:)`).
struct VolumeAdoption {
    let kubeletDirectory: String
    let driverName: String
    var sysfs = ISCSISysfs()
    /// Resolves a device node to the device it is (a seam for tests).
    var deviceNumber: (String) -> String? = BlockDevice.number(of:)

    static let cstorIQNPrefix = "iqn.2016-09.com.openebs.cstor:"
    static let origin = "openebs/cstor-csi"

    func candidates(in table: MountTable, known: Set<String>) -> [VolumeRecord] {
        var adopted = filesystemVolumes(in: table, known: known)
        adopted += blockVolumes(in: table, known: known.union(adopted.map(\.volumeID)))
        return adopted
    }

    /// The cStor volume a device belongs to, and its target: the device is a disk of an iSCSI
    /// session to a cStor IQN.
    func cstorVolume(on device: String) -> (volumeID: String, target: ISCSITarget)? {
        guard device.hasPrefix("/"), case .iscsi(let target)? = AttachmentDiscovery.target(of: device, sysfs: sysfs),
            target.iqn.hasPrefix(Self.cstorIQNPrefix)
        else { return nil }
        let volumeID = String(target.iqn.dropFirst(Self.cstorIQNPrefix.count))
        guard IdentifierRules.volumeIDProblem(volumeID) == nil else { return nil }
        return (volumeID, target)
    }

    func filesystemVolumes(in table: MountTable, known: Set<String>) -> [VolumeRecord] {
        let csiRoot = kubeletDirectory + "/plugins/kubernetes.io/csi/"
        var adopted: [VolumeRecord] = []
        for mount in table.entries where mount.mountPoint.hasPrefix(csiRoot) && mount.mountPoint.hasSuffix("/globalmount") {
            let inside = mount.mountPoint.dropFirst(csiRoot.count)
            guard inside.hasPrefix(driverName + "/") || inside.hasPrefix("pv/"),
                let found = cstorVolume(on: mount.source),
                !known.contains(found.volumeID), !adopted.contains(where: { $0.volumeID == found.volumeID }),
                VolumeAccess.supportedFsTypes.contains(mount.fsType)
            else { continue }
            let (volumeID, target) = found
            let mode: VolumeAccess.Mode = mount.options.contains("ro") ? .singleNodeReaderOnly : .singleNodeWriter
            var record = VolumeRecord(
                volumeID: volumeID, stagingPath: mount.mountPoint, target: .iscsi(target),
                access: VolumeAccess(kind: .mount(fsType: mount.fsType, flags: []), mode: mode))
            record.phase = .staged
            record.adoptedFrom = Self.origin
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

    /// Block volumes: a device node bound onto kubelet's publish path for block volumes. The
    /// mount's root is the device's path inside the /dev filesystem (`/sdb`).
    func blockVolumes(in table: MountTable, known: Set<String>) -> [VolumeRecord] {
        let publishRoot = kubeletDirectory + "/plugins/kubernetes.io/csi/volumeDevices/publish/"
        var adopted: [String: VolumeRecord] = [:]
        var order: [String] = []
        for mount in table.entries where mount.mountPoint.hasPrefix(publishRoot) {
            let parts = mount.mountPoint.dropFirst(publishRoot.count).split(separator: "/")
            guard parts.count == 2, mount.root.hasPrefix("/"), mount.root.count > 1 else { continue }
            let device = "/dev" + mount.root
            guard let found = cstorVolume(on: device), found.volumeID == parts[0], !known.contains(found.volumeID) else { continue }
            let (volumeID, target) = found
            var record =
                adopted[volumeID]
                ?? {
                    var record = VolumeRecord(
                        volumeID: volumeID,
                        stagingPath: kubeletDirectory + "/plugins/kubernetes.io/csi/volumeDevices/staging/\(volumeID)",
                        target: .iscsi(target), access: VolumeAccess(kind: .block, mode: .singleNodeWriter))
                    record.phase = .staged
                    record.adoptedFrom = Self.origin
                    record.device = device
                    record.deviceNumber = deviceNumber(device)
                    order.append(volumeID)
                    return record
                }()
            record.publications[mount.mountPoint] = .init(readOnly: mount.options.contains("ro"))
            adopted[volumeID] = record
        }
        return order.compactMap { adopted[$0] }
    }
}
