import CSITestSupport
import CStorCore
import CStorKubernetes
import CStorModel
import Foundation
import Testing

@testable import cstor_node

@Suite("Adopting volumes staged by openebs/cstor-csi")
struct VolumeAdoptionTests {
    @Test("A staged cStor iSCSI volume without a record is adopted with its publish binds; others are left alone")
    func adoption() async throws {
        let directory = try TemporaryDirectory()
        // Two sessions as the kernel shows them: a cStor volume's (sdb) and another driver's (sdc).
        let initiator = try FakeInitiator(root: directory.file("sys"))
        initiator.addTarget(.init(iqn: "iqn.2016-09.com.openebs.cstor:pvc-old", address: "10.96.0.5", port: "3260", luns: [0: "naa.1"]))
        initiator.addTarget(.init(iqn: "iqn.2001-05.com.other:vol1", address: "10.0.0.9", port: "3260", luns: [0: "naa.2"]))
        for (iqn, portal) in [("iqn.2016-09.com.openebs.cstor:pvc-old", "10.96.0.5:3260"), ("iqn.2001-05.com.other:vol1", "10.0.0.9:3260")] {
            for words in [["-o", "new"], ["--login"]] {
                _ = try await initiator.run(Command("iscsiadm", ["-m", "node", "-T", iqn, "-p", portal] + words, timeout: .seconds(1)))
            }
        }
        let kubelet = "/var/lib/kubelet"
        let staging = "\(kubelet)/plugins/kubernetes.io/csi/cstor.csi.openebs.io/1f2e/globalmount"
        let table = MountTable(parsing: """
            100 1 8:16 / \(staging) rw,relatime - ext4 /dev/sdb rw
            101 1 8:16 / \(kubelet)/pods/uid-1/volumes/kubernetes.io~csi/pvc-old/mount rw,relatime - ext4 /dev/sdb rw
            102 1 8:16 / \(kubelet)/pods/uid-2/volumes/kubernetes.io~csi/pvc-old/mount ro,relatime - ext4 /dev/sdb rw
            103 1 8:32 / \(kubelet)/plugins/kubernetes.io/csi/other.csi.example.com/99/globalmount rw - ext4 /dev/sdc rw
            104 1 8:48 / /mnt/data rw - xfs /dev/sdd rw
            """)
        let adoption = VolumeAdoption(
            kubeletDirectory: kubelet, driverName: "cstor.csi.openebs.io", sysfs: initiator.sysfs, deviceNumber: { _ in "8:16" })
        let records = adoption.candidates(in: table, known: [])
        #expect(records.count == 1)
        let record = try #require(records.first)
        #expect(record.volumeID == "pvc-old")
        #expect(record.stagingPath == staging)
        #expect(record.target == .iscsi(ISCSITarget(iqn: "iqn.2016-09.com.openebs.cstor:pvc-old", portal: "10.96.0.5:3260", lun: 0)))
        #expect(record.phase == .staged)
        #expect(record.access.fsType == "ext4")
        #expect(record.publications.count == 2)
        #expect(record.publications["\(kubelet)/pods/uid-2/volumes/kubernetes.io~csi/pvc-old/mount"]?.readOnly == true)
        #expect(record.adoptedFrom == "openebs/cstor-csi")
        #expect(adoption.candidates(in: table, known: ["pvc-old"]).isEmpty, "a volume with a record is ours already")
    }

    @Test("A block volume published by upstream (its device node bound onto kubelet's volumeDevices path) is adopted")
    func blockAdoption() async throws {
        let directory = try TemporaryDirectory()
        // The adoption reads the device from the bind's root inside /dev (sdb) and asks the
        // kernel's session table which target it belongs to: a cStor volume's (sdb), another
        // vendor's (sdc).
        let initiator = try FakeInitiator(root: directory.file("sys"))
        initiator.addTarget(.init(iqn: "iqn.2016-09.com.openebs.cstor:pvc-raw", address: "10.96.0.7", port: "3260", luns: [0: "naa.1"]))
        initiator.addTarget(.init(iqn: "iqn.2001-05.com.other:vol2", address: "10.0.0.9", port: "3260", luns: [0: "naa.2"]))
        for (iqn, portal) in [("iqn.2016-09.com.openebs.cstor:pvc-raw", "10.96.0.7:3260"), ("iqn.2001-05.com.other:vol2", "10.0.0.9:3260")] {
            for words in [["-o", "new"], ["--login"]] {
                _ = try await initiator.run(Command("iscsiadm", ["-m", "node", "-T", iqn, "-p", portal] + words, timeout: .seconds(1)))
            }
        }
        let kubelet = "/var/lib/kubelet"
        let publish = "\(kubelet)/plugins/kubernetes.io/csi/volumeDevices/publish"
        let table = MountTable(parsing: """
            200 1 0:5 /sdb \(publish)/pvc-raw/pod-uid-1 rw,nosuid - devtmpfs udev rw,size=4010980k
            201 1 0:5 /sdb \(publish)/pvc-raw/pod-uid-2 ro,nosuid - devtmpfs udev rw,size=4010980k
            202 1 0:5 /sdb \(publish)/pvc-other/pod-uid-3 rw,nosuid - devtmpfs udev rw,size=4010980k
            203 1 0:5 /sdc \(publish)/pvc-zero/pod-uid-4 rw,nosuid - devtmpfs udev rw,size=4010980k
            """)
        let adoption = VolumeAdoption(
            kubeletDirectory: kubelet, driverName: "cstor.csi.openebs.io", sysfs: initiator.sysfs, deviceNumber: { _ in "8:0" })
        let records = adoption.candidates(in: table, known: [])
        #expect(records.map(\.volumeID) == ["pvc-raw"], "the path must name the volume the IQN names; other devices are not cStor's")
        let record = try #require(records.first)
        #expect(record.access.isBlock)
        #expect(record.stagingPath == "\(kubelet)/plugins/kubernetes.io/csi/volumeDevices/staging/pvc-raw")
        #expect(record.device == "/dev/sdb")
        #expect(record.target == .iscsi(ISCSITarget(iqn: "iqn.2016-09.com.openebs.cstor:pvc-raw", portal: "10.96.0.7:3260", lun: 0)))
        #expect(record.phase == .staged)
        #expect(record.publications == [
            "\(publish)/pvc-raw/pod-uid-1": .init(readOnly: false), "\(publish)/pvc-raw/pod-uid-2": .init(readOnly: true),
        ])
    }

    @Test("Re-stage: the single-node writer modes are one staging; read-only, kind, filesystem and (for our own records) flags must match")
    func restageCompatibility() {
        func record(_ access: VolumeAccess, adopted: Bool) -> VolumeRecord {
            var record = VolumeRecord(
                volumeID: "pvc-1", stagingPath: "/s", target: .loop(file: "/f"), access: access)
            record.adoptedFrom = adopted ? "openebs/cstor-csi" : nil
            return record
        }
        let ext4 = VolumeAccess.Kind.mount(fsType: "ext4", flags: [])
        let upstream = record(VolumeAccess(kind: ext4, mode: .singleNodeWriter), adopted: true)
        #expect(upstream.isCompatible(with: VolumeAccess(kind: ext4, mode: .singleNodeMultiWriter)))
        #expect(upstream.isCompatible(with: VolumeAccess(kind: ext4, mode: .singleNodeSingleWriter)))
        #expect(upstream.isCompatible(with: VolumeAccess(kind: .mount(fsType: "ext4", flags: ["noatime"]), mode: .singleNodeMultiWriter)))
        #expect(!upstream.isCompatible(with: VolumeAccess(kind: ext4, mode: .singleNodeReaderOnly)))
        #expect(!upstream.isCompatible(with: VolumeAccess(kind: .mount(fsType: "xfs", flags: []), mode: .singleNodeWriter)))
        #expect(!upstream.isCompatible(with: VolumeAccess(kind: .block, mode: .singleNodeWriter)))
        let ours = record(VolumeAccess(kind: .mount(fsType: "ext4", flags: ["noatime"]), mode: .singleNodeMultiWriter), adopted: false)
        #expect(ours.isCompatible(with: VolumeAccess(kind: .mount(fsType: "ext4", flags: ["noatime"]), mode: .singleNodeWriter)))
        #expect(!ours.isCompatible(with: VolumeAccess(kind: ext4, mode: .singleNodeWriter)), "our own records keep their flags")
        let block = record(VolumeAccess(kind: .block, mode: .singleNodeWriter), adopted: true)
        #expect(block.isCompatible(with: VolumeAccess(kind: .block, mode: .singleNodeMultiWriter)))
        #expect(block.restaged(with: VolumeAccess(kind: .block, mode: .singleNodeMultiWriter)).access.mode == .singleNodeMultiWriter)
    }
}
