import CSITestSupport
import CStorCore
import CStorKubernetes
import CStorModel
import Foundation
import Testing

@testable import cstor_node

/// The iSCSI stand-in (Tests/Support/iscsi-standin) also keeps the kernel's view of its sessions.
/// The node reads only that view to find a LUN's disk, so the stand-in must lay it out as Linux
/// does and take it away at logout as Linux does, or tests would pass on a node that reads sysfs
/// wrongly.
@Suite("The iSCSI stand-in's sysfs reads as the kernel's", .serialized, .enabled(if: runningAsRoot, "needs root for loop devices"))
struct ISCSIStandInSysfsTests {
    @Test("After a login the node sees one logged-in session to the target with the LUN's disk; after the logout, none")
    func sessionAppearsAndGoes() async throws {
        try await withISCSIStandIn { iscsi in
            let iqn = "iqn.2016-09.com.openebs.cstor:pvc-sysfs"
            let portal = "127.0.0.1:3260"
            let sysfs = ISCSISysfs(root: iscsi.sysfs)
            #expect(sysfs.sessions().isEmpty)
            let file = iscsi.directory.file("lun.img")
            #expect(FileManager.default.createFile(atPath: file, contents: nil) && truncate(file, 16 << 20) == 0)
            try iscsi.export(iqn: iqn, file: file)
            let device = try iscsi.login(iqn: iqn, portal: portal)

            let sessions = sysfs.sessions()
            #expect(sessions.count == 1)
            let session = try #require(sessions.first)
            #expect(session.targetName == iqn)
            #expect(session.isLoggedIn)
            #expect(session.address == "127.0.0.1" && session.port == "3260")
            #expect(session.disks.map(\.device) == [device])
            #expect(session.disks.first?.isRunning == true)
            #expect(AttachmentDiscovery.target(of: device, sysfs: sysfs) == .iscsi(ISCSITarget(iqn: iqn, portal: portal, lun: 0)))

            let result = try iscsi.iscsiadm(["-m", "node", "-T", iqn, "-p", portal, "--logout"])
            #expect(result.status == 0)
            #expect(sysfs.sessions().isEmpty, "the session left sysfs with the logout")
            #expect(sysfs.owner(ofDisk: BlockDevice.kernelName(device)) == nil, "the detached disk belongs to no session")
        }
    }
}
