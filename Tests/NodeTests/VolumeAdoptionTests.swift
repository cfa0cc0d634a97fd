import CSITestSupport
import CStorCore
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
        #expect(adoption.candidates(in: table, known: ["pvc-old"]).isEmpty, "a volume with a record is ours already")
    }
}
