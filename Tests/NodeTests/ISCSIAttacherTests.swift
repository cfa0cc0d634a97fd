import CSITestSupport
import CStorCore
import Logging
import Synchronization
import Testing

@testable import cstor_node

/// The iSCSI attacher's conversation with iscsiadm, checked command by command (this machine's
/// kernel has no iSCSI; the e2e suite proves the real thing in a guest).
@Suite("iSCSI attacher command sequences")
struct ISCSIAttacherTests {
    let target = ISCSITarget(iqn: "iqn.2016-09.com.openebs.cstor:pvc-1", portal: "10.0.0.5:3260", lun: 1)

    /// A device waiter whose link appears once `appeared` is set.
    final class FakeWaiter: DeviceWaiter, Sendable {
        let calls = Mutex(0)
        let device: String?
        init(device: String?) { self.device = device }
        func waitForLink(_ link: String, timeout: Duration) async throws -> String {
            calls.withLock { $0 += 1 }
            guard let device else { throw DeviceWaitError(link: link, timeout: timeout) }
            return device
        }
    }

    func attacher(
        _ runner: ScriptedProcessRunner, command: [String] = ["iscsiadm"], waiter: FakeWaiter = FakeWaiter(device: "/dev/sdb"),
        link: String? = nil
    ) -> ISCSIAttacher {
        var attacher = ISCSIAttacher(
            admin: ISCSIAdmin(command: command, runner: runner, databaseLock: AsyncLock()), waiter: waiter,
            replacementTimeout: 120, logger: Logger(label: "test"))
        attacher.resolveLink = { _ in link }
        return attacher
    }

    @Test("A fresh attach creates a static node record, sets our settings, logs in and waits for the LUN; no discovery")
    func freshAttach() async throws {
        let runner = ScriptedProcessRunner()
        runner.on(["-m", "session"], status: 21, error: "iscsiadm: No active sessions.")
        let device = try await attacher(runner).attach(.iscsi(target), secrets: [:])
        #expect(device == "/dev/sdb")
        let node = ["-m", "node", "-T", target.iqn, "-p", target.portal]
        #expect(runner.commandLines == [
            ["iscsiadm", "-m", "session"],
            ["iscsiadm"] + node + ["-o", "new"],
            ["iscsiadm"] + node + ["-o", "update", "-n", "node.startup", "-v", "manual"],
            ["iscsiadm"] + node + ["-o", "update", "-n", "node.session.timeo.replacement_timeout", "-v", "120"],
            ["iscsiadm"] + node + ["--login"],
        ])
        #expect(!runner.commandLines.joined().contains("discovery"))
        #expect(runner.commands.allSatisfy { $0.timeout > .zero })
    }

    @Test("An existing session whose LUN link exists is reused without any change")
    func reuseSession() async throws {
        let runner = ScriptedProcessRunner()
        runner.on(["-m", "session"], output: "tcp: [4] 10.0.0.5:3260,1 iqn.2016-09.com.openebs.cstor:pvc-1 (non-flash)\n")
        let device = try await attacher(runner, link: "/dev/sdc").attach(.iscsi(target), secrets: [:])
        #expect(device == "/dev/sdc")
        #expect(runner.commandLines == [["iscsiadm", "-m", "session"]])
    }

    @Test("A session whose LUN link is missing is rescanned, then logged out and in again")
    func rescanThenRelogin() async throws {
        let runner = ScriptedProcessRunner()
        runner.on(["-m", "session"], output: "tcp: [4] 10.0.0.5:3260,1 iqn.2016-09.com.openebs.cstor:pvc-1 (non-flash)\n")
        // The rescan does not bring the device back; the relogin does.
        let waiter = FakeWaiter(device: nil)
        _ = await #expect(throws: (any Error).self) {
            try await attacher(runner, waiter: waiter).attach(.iscsi(target), secrets: [:])
        }
        let lines = runner.commandLines
        #expect(lines.contains(["iscsiadm", "-m", "session", "-r", "4", "--rescan"]))
        let rescan = try #require(lines.firstIndex(of: ["iscsiadm", "-m", "session", "-r", "4", "--rescan"]))
        let logout = try #require(lines.firstIndex { $0.last == "--logout" })
        let login = try #require(lines.firstIndex { $0.last == "--login" })
        #expect(rescan < logout && logout < login)
    }

    @Test("A rescan that brings the link back ends the attach there")
    func rescanSuffices() async throws {
        let runner = ScriptedProcessRunner()
        runner.on(["-m", "session"], output: "tcp: [4] 10.0.0.5:3260,1 iqn.2016-09.com.openebs.cstor:pvc-1 (non-flash)\n")
        let device = try await attacher(runner, waiter: FakeWaiter(device: "/dev/sdd")).attach(.iscsi(target), secrets: [:])
        #expect(device == "/dev/sdd")
        #expect(!runner.commandLines.contains { $0.last == "--logout" || $0.last == "--login" })
    }

    @Test("Detach logs out and deletes the record; both already gone is success")
    func detachIdempotent() async throws {
        let runner = ScriptedProcessRunner()
        runner.on(["--logout"], status: 21, error: "iscsiadm: No matching sessions found")
        runner.on(["-o", "delete"], status: 21, error: "iscsiadm: No records found")
        try await attacher(runner).detach(.iscsi(target))
        #expect(runner.commandLines.map { $0.last } == ["--logout", "delete"])
    }

    @Test("A failing login is Unavailable with iscsiadm's explanation")
    func loginFailure() async throws {
        let runner = ScriptedProcessRunner()
        runner.on(["-m", "session"], status: 21)
        runner.on(["--login"], status: 8, error: "iscsiadm: Could not login to [iface: default, target: x]: connection timed out")
        let error = await #expect(throws: CSIError.self) { try await attacher(runner).attach(.iscsi(target), secrets: [:]) }
        #expect(error?.code == .unavailable)
        #expect(error?.message.contains("connection timed out") == true)
    }

    @Test("The configured iscsiadm command words come first (a chroot wrapper)")
    func wrapperCommand() async throws {
        let runner = ScriptedProcessRunner()
        runner.on(["-m", "session"], status: 21)
        _ = try await attacher(runner, command: ["chroot", "/host", "iscsiadm"]).attach(.iscsi(target), secrets: [:])
        #expect(runner.commands.allSatisfy { $0.executable == "chroot" && Array($0.argumentValues.prefix(2)) == ["/host", "iscsiadm"] })
    }

    @Test("CHAP secrets reach iscsiadm but never a command description")
    func chapSecretsMasked() async throws {
        let runner = ScriptedProcessRunner()
        runner.on(["-m", "session"], status: 21)
        _ = try await attacher(runner).attach(
            .iscsi(target),
            secrets: ["node.session.auth.username": "user", "node.session.auth.password": "s3cret-pass", "unrelated": "x"])
        let passwordCommand = try #require(runner.commands.first { $0.argumentValues.contains("node.session.auth.password") })
        #expect(passwordCommand.argumentValues.contains("s3cret-pass"))
        #expect(!passwordCommand.description.contains("s3cret-pass"))
        #expect(passwordCommand.description.contains("***"))
        #expect(!runner.commands.contains { $0.argumentValues.contains("unrelated") })
    }

    @Test("Concurrent node-record writes are serialized on this host")
    func serializedDatabaseWrites() async throws {
        let runner = ScriptedProcessRunner()
        let active = Mutex((now: 0, maximum: 0))
        runner.on(["-o"]) { _ in
            active.withLock { $0.now += 1; $0.maximum = max($0.maximum, $0.now) }
            try await Task.sleep(for: .milliseconds(5))
            active.withLock { $0.now -= 1 }
            return CommandResult(status: 0)
        }
        let admin = ISCSIAdmin(command: ["iscsiadm"], runner: runner, databaseLock: AsyncLock())
        await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<8 {
                group.addTask {
                    let target = ISCSITarget(iqn: "iqn.2016-09.com.openebs.cstor:pvc-\(index)", portal: "10.0.0.5:3260", lun: 1)
                    try await admin.createNodeRecord(target, replacementTimeout: 120, secrets: [:])
                }
            }
        }
        #expect(active.withLock { $0.maximum } == 1)
    }

    @Test(
        "publish_context validation refuses anything that is not exactly an iSCSI target",
        arguments: [
            ["transport": "iscsi", "portal": "10.0.0.5:3260", "lun": "1"],
            ["transport": "iscsi", "iqn": "-oops", "portal": "10.0.0.5:3260"],
            ["transport": "iscsi", "iqn": "iqn.2016-09.com.openebs.cstor:pvc 1", "portal": "10.0.0.5:3260"],
            ["transport": "iscsi", "iqn": "iqn.2016-09.com.openebs.cstor:pvc-1", "portal": "-p"],
            ["transport": "iscsi", "iqn": "iqn.2016-09.com.openebs.cstor:pvc-1", "portal": "10.0.0.5:99999"],
            ["transport": "iscsi", "iqn": "iqn.2016-09.com.openebs.cstor:pvc-1", "portal": "10.0.0.5:3260", "lun": "x"],
            ["transport": "fc", "iqn": "iqn.2016-09.com.openebs.cstor:pvc-1"],
            ["transport": "loop", "file": "relative.img"],
            ["transport": "loop", "file": "/a/../etc/shadow"],
            [:],
        ])
    func invalidContexts(context: [String: String]) {
        #expect(throws: CSIError.self) { try AttachTarget(publishContext: context) }
    }

    @Test("publish_context portals are normalized: default port, IPv6 in brackets")
    func portals() throws {
        let v6 = try AttachTarget(publishContext: ["iqn": "iqn.2016-09.com.openebs.cstor:pvc-1", "portal": "[fd00::5]", "lun": "0"])
        #expect(v6 == .iscsi(ISCSITarget(iqn: "iqn.2016-09.com.openebs.cstor:pvc-1", portal: "[fd00::5]:3260", lun: 0)))
        let v4 = try AttachTarget(publishContext: ["transport": "iscsi", "iqn": "iqn.2016-09.com.openebs.cstor:pvc-1", "portal": "10.0.0.5"])
        #expect(v4 == .iscsi(ISCSITarget(iqn: "iqn.2016-09.com.openebs.cstor:pvc-1", portal: "10.0.0.5:3260", lun: 0)))
    }
}

@Suite("iSCSI repair")
struct ISCSIRepairTests {
    let target = ISCSITarget(iqn: "iqn.2016-09.com.openebs.cstor:pvc-1", portal: "10.0.0.5:3260", lun: 0)

    @Test("A session iscsid gave up on (FAILED) is logged out and in again")
    func failedSessionRelogin() async throws {
        let runner = ScriptedProcessRunner()
        runner.on(["-m", "session"], output: "tcp: [7] 10.0.0.5:3260,1 iqn.2016-09.com.openebs.cstor:pvc-1 (non-flash)\n")
        runner.on(["-m", "session", "-r", "7", "-P", "1"], output: "\t\tiSCSI Session State: FAILED\n")
        var attacher = ISCSIAttacher(
            admin: ISCSIAdmin(command: ["iscsiadm"], runner: runner, databaseLock: AsyncLock()),
            waiter: ISCSIAttacherTests.FakeWaiter(device: "/dev/sdc"), replacementTimeout: 5, logger: Logger(label: "t"))
        attacher.resolveLink = { _ in "/dev/sdb" }
        #expect(try await attacher.repair(.iscsi(target)) == "/dev/sdc")
        let ends = runner.commandLines.map { $0.last ?? "" }
        let logout = try #require(ends.firstIndex(of: "--logout"))
        let login = try #require(ends.firstIndex(of: "--login"))
        #expect(logout < login)
    }

    @Test("A healthy logged-in session is left alone by repair")
    func healthySessionKept() async throws {
        let runner = ScriptedProcessRunner()
        runner.on(["-m", "session"], output: "tcp: [7] 10.0.0.5:3260,1 iqn.2016-09.com.openebs.cstor:pvc-1 (non-flash)\n")
        runner.on(["-m", "session", "-r", "7", "-P", "1"], output: "\t\tiSCSI Session State: LOGGED_IN\n")
        var attacher = ISCSIAttacher(
            admin: ISCSIAdmin(command: ["iscsiadm"], runner: runner, databaseLock: AsyncLock()),
            waiter: ISCSIAttacherTests.FakeWaiter(device: nil), replacementTimeout: 5, logger: Logger(label: "t"))
        attacher.resolveLink = { _ in "/dev/sdb" }
        #expect(try await attacher.repair(.iscsi(target)) == "/dev/sdb")
        #expect(!runner.commandLines.contains { $0.last == "--logout" || $0.last == "--login" })
    }
}
