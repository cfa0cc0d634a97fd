import CSITestSupport
import Foundation
import Testing

@testable import cstor_node

@Suite("Adopting volumes staged by openebs/cstor-csi")
struct VolumeAdoptionTests {
    @Test("A staged cStor iSCSI volume without a record is adopted with its publish binds; others are left alone")
    func adoption() throws {
        let directory = try TemporaryDirectory()
        let byPath = directory.file("by-path")
        try FileManager.default.createDirectory(atPath: byPath, withIntermediateDirectories: true)
        // Stand-ins for device nodes, linked the way udev links iSCSI LUNs.
        for name in ["sdb", "sdc"] {
            FileManager.default.createFile(atPath: directory.file(name), contents: nil)
        }
        try FileManager.default.createSymbolicLink(
            atPath: byPath + "/ip-10.96.0.5:3260-iscsi-iqn.2016-09.com.openebs.cstor:pvc-old-lun-0",
            withDestinationPath: directory.file("sdb"))
        try FileManager.default.createSymbolicLink(
            atPath: byPath + "/ip-10.0.0.9:3260-iscsi-iqn.2001-05.com.other:vol1-lun-0", withDestinationPath: directory.file("sdc"))
        let kubelet = "/var/lib/kubelet"
        let staging = "\(kubelet)/plugins/kubernetes.io/csi/cstor.csi.openebs.io/1f2e/globalmount"
        let table = MountTable(parsing: """
            100 1 8:16 / \(staging) rw,relatime - ext4 \(directory.file("sdb")) rw
            101 1 8:16 / \(kubelet)/pods/uid-1/volumes/kubernetes.io~csi/pvc-old/mount rw,relatime - ext4 \(directory.file("sdb")) rw
            102 1 8:16 / \(kubelet)/pods/uid-2/volumes/kubernetes.io~csi/pvc-old/mount ro,relatime - ext4 \(directory.file("sdb")) rw
            103 1 8:32 / \(kubelet)/plugins/kubernetes.io/csi/other.csi.example.com/99/globalmount rw - ext4 \(directory.file("sdc")) rw
            104 1 8:48 / /mnt/data rw - xfs /dev/sdd rw
            """)
        let adoption = VolumeAdoption(
            kubeletDirectory: kubelet, driverName: "cstor.csi.openebs.io", byPathDirectory: byPath, deviceNumber: { _ in "8:16" })
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
