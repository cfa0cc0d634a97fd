import CSITestSupport
import Foundation
import Testing

/// The iSCSI stand-in must refuse what open-iscsi's iscsiadm refuses, with its exit statuses
/// (iscsi_err.h), or the switch test would pass on a node that could never work.
@Suite("The iSCSI stand-in is as strict as iscsiadm", .serialized, .enabled(if: runningAsRoot, "needs root for loop devices"))
struct ISCSIStandInTests {
    @Test("No sessions, logout and rescan without a session, login or show without a record, login to no target, a second login, deleting a record in use: refused as iscsiadm refuses")
    func refusals() async throws {
        try await withISCSIStandIn { iscsi in
            let iqn = "iqn.2016-09.com.openebs.cstor:pvc-standin"
            let portal = "127.0.0.1:3260"
            func status(_ arguments: [String]) throws -> Int32 { try iscsi.iscsiadm(arguments).status }
            #expect(try status(["-m", "session"]) == 21, "no active sessions")
            #expect(try status(["-m", "node", "-T", iqn, "-p", portal, "--logout"]) == 21, "no matching sessions")
            #expect(try status(["-m", "session", "-r", "1", "--rescan"]) == 21)
            #expect(try status(["-m", "node", "-T", iqn, "-p", portal, "--login"]) == 21, "no records found")
            #expect(try status(["-m", "node", "-T", iqn, "-p", portal, "-o", "update", "-n", "node.startup", "-v", "manual"]) == 21)
            #expect(try status(["-m", "node", "-T", iqn, "-p", portal]) == 21, "no record to show")
            #expect(try status(["-m", "node", "-T", iqn, "-p", portal, "-o", "new"]) == 0)
            #expect(try iscsi.iscsiadm(["-m", "node", "-T", iqn, "-p", portal]).output.contains("node.name = \(iqn)"), "the record shown")
            #expect(try status(["-m", "node", "-T", iqn, "-p", portal, "--login"]) == 19, "the target exports no such IQN")
            #expect(try status(["-m", "discovery", "-t", "st", "-p", portal]) == 7, "a mode it does not know")

            let file = iscsi.directory.file("lun.img")
            #expect(FileManager.default.createFile(atPath: file, contents: nil) && truncate(file, 16 << 20) == 0)
            try iscsi.export(iqn: iqn, file: file)
            let device = try iscsi.login(iqn: iqn, portal: portal)
            #expect(device.hasPrefix("/dev/loop"))
            #expect(try status(["-m", "node", "-T", iqn, "-p", portal, "--login"]) == 15, "a session exists")
            #expect(try status(["-m", "node", "-T", iqn, "-p", portal, "-o", "delete"]) == 15, "a session uses the record")
            let sessions = try iscsi.iscsiadm(["-m", "session"])
            #expect(sessions.status == 0)
            #expect(sessions.output.contains("\(portal),1 \(iqn) (non-flash)"))
            #expect(try iscsi.iscsiadm(["-m", "session", "-r", "1", "-P", "1"]).output.contains("iSCSI Session State: LOGGED_IN"))
            #expect(try status(["-m", "session", "-r", "1", "-u"]) == 0, "a logout by session id")
            #expect(iscsi.device(iqn: iqn, portal: portal) == nil, "the by-path link went with the session")
            #expect(try status(["-m", "session", "-r", "1", "-u"]) == 21, "no such session")
            #expect(try status(["-m", "node", "-T", iqn, "-p", portal, "--logout"]) == 21)
            #expect(try status(["-m", "node", "-T", iqn, "-p", portal, "-o", "delete"]) == 0)
            #expect(try status(["-m", "node", "-T", iqn, "-p", portal, "-o", "delete"]) == 21)
        }
    }
}
