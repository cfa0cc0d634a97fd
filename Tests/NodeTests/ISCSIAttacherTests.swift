import CSITestSupport
import CStorCore
import CStorKubernetes
import CStorModel
import Foundation
import Logging
import Synchronization
import Testing

@testable import cstor_node

/// A device waiter that looks once: the fake initiator's disks appear at login or rescan.
struct ImmediateWaiter: DeviceWaiter {
    func waitForDevice(_ what: String, timeout: Duration, _ find: @escaping @Sendable () -> String?) async throws -> String {
        if let device = find() { return device }
        throw DeviceWaitError(link: what, timeout: timeout)
    }
}

/// The iSCSI attacher against a stand-in initiator (iscsiadm and the kernel's sysfs, changed
/// together): this machine's kernel has no iSCSI; the e2e suite proves the real thing in a guest.
@Suite("iSCSI attacher")
struct ISCSIAttacherTests {
    static let iqn = "iqn.2016-09.com.openebs.cstor:pvc-1"
    let target = ISCSITarget(iqn: iqn, portal: "10.0.0.5:3260", lun: 1)

    func initiator(_ directory: TemporaryDirectory, luns: [Int: String] = [1: "naa.6001405aaaa"]) throws -> FakeInitiator {
        let initiator = try FakeInitiator(root: directory.file("sys"))
        initiator.addTarget(.init(iqn: Self.iqn, address: "10.0.0.5", port: "3260", luns: luns))
        return initiator
    }

    func attacher(_ initiator: FakeInitiator) -> ISCSIAttacher {
        ISCSIAttacher(
            admin: ISCSIAdmin(command: ["iscsiadm"], runner: initiator, databaseLock: AsyncLock()), sysfs: initiator.sysfs,
            waiter: ImmediateWaiter(), replacementTimeout: 120, logger: Logger(label: "test"), holders: initiator.holders,
            resolveHost: { initiator.resolve($0) }, deviceExists: { _ in true })
    }

    var node: [String] { ["iscsiadm", "-m", "node", "-T", target.iqn, "-p", target.portal] }

    @Test("A fresh attach creates a static node record with our settings, logs in and finds the LUN's disk through its session; no discovery")
    func freshAttach() async throws {
        let directory = try TemporaryDirectory()
        let initiator = try initiator(directory)
        let device = try await attacher(initiator).attach(.iscsi(target), secrets: [:])
        #expect(device == "/dev/sdb")
        #expect(initiator.commandLines == [
            node,
            node + ["-o", "new"],
            node + ["-o", "update", "-n", "node.startup", "-v", "manual"],
            node + ["-o", "update", "-n", "node.session.timeo.replacement_timeout", "-v", "120"],
            node + ["--login"],
        ])
        #expect(initiator.record(target.iqn, target.portal)?.settings["node.startup"] == "manual")
    }

    @Test("A logged-in session whose LUN has its disk is reused without a single iscsiadm call")
    func reuseSession() async throws {
        let directory = try TemporaryDirectory()
        let initiator = try initiator(directory)
        let attacher = attacher(initiator)
        let first = try await attacher.attach(.iscsi(target), secrets: [:])
        let before = initiator.commandLines.count
        #expect(try await attacher.attach(.iscsi(target), secrets: [:]) == first)
        #expect(initiator.commandLines.count == before)
    }

    @Test("A logged-in session whose LUN lost its disk is rescanned, never logged out; a LUN the target lacks is an error, not a logout")
    func missingLUNRescanned() async throws {
        let directory = try TemporaryDirectory()
        let initiator = try initiator(directory)
        let attacher = attacher(initiator)
        let first = try await attacher.attach(.iscsi(target), secrets: [:])
        try initiator.removeDisk((first as NSString).lastPathComponent)
        let again = try await attacher.attach(.iscsi(target), secrets: [:])
        #expect(again != first, "the rescan brought a new disk")
        #expect(initiator.commandLines.last == ["iscsiadm", "-m", "session", "-r", "1", "--rescan"])

        let absent = ISCSITarget(iqn: Self.iqn, portal: "10.0.0.5:3260", lun: 7)
        let error = await #expect(throws: CSIError.self) { try await attacher.attach(.iscsi(absent), secrets: [:]) }
        #expect(error?.code == .unavailable)
        #expect(error?.message.contains("no LUN 7") == true)
        #expect(!initiator.commandLines.contains { $0.contains("-u") || $0.contains("--logout") })
        #expect(initiator.sessionIDs == [1])
    }

    @Test("Attach and repair never log out a session whose disk is in use, even once iscsid gave up on it (FAILED, transport-offline)")
    func heldSessionNeverLoggedOut() async throws {
        let directory = try TemporaryDirectory()
        let initiator = try initiator(directory)
        let attacher = attacher(initiator)
        let device = try await attacher.attach(.iscsi(target), secrets: [:])
        let disk = (device as NSString).lastPathComponent
        initiator.hold(disk)
        try initiator.setSessionState(1, "FAILED")
        try initiator.setDiskState(disk, "transport-offline")

        let attach = await #expect(throws: CSIError.self) { try await attacher.attach(.iscsi(target), secrets: [:]) }
        #expect(attach?.code == .unavailable)
        #expect(attach?.message.contains("mounted at /staging/\(disk)") == true, "the message names what holds the disk")
        let repair = await #expect(throws: CSIError.self) { try await attacher.repair(.iscsi(target)) }
        #expect(repair?.code == .unavailable)
        guard case .broken(let reason) = await attacher.health(.iscsi(target)) else {
            Issue.record("a FAILED session past its recovery window is broken")
            return
        }
        #expect(reason.contains("still in use"))
        #expect(initiator.lostData.isEmpty)
        #expect(!initiator.commandLines.contains { $0.contains("-u") || $0.contains("--logout") })
        #expect(initiator.commandLines.filter { $0.last == "--login" }.count == 1, "only the first attach logged in")
    }

    @Test("A session inside its recovery window (disk blocked) is left to iscsid by attach, repair and health")
    func recoveringSessionLeftAlone() async throws {
        let directory = try TemporaryDirectory()
        let initiator = try initiator(directory)
        let attacher = attacher(initiator)
        let device = try await attacher.attach(.iscsi(target), secrets: [:])
        let disk = (device as NSString).lastPathComponent
        try initiator.setSessionState(1, "FAILED")
        try initiator.setDiskState(disk, "blocked")
        let before = initiator.commandLines.count
        #expect(try await attacher.attach(.iscsi(target), secrets: [:]) == device)
        #expect(try await attacher.repair(.iscsi(target)) == device)
        guard case .recovering(let reason) = await attacher.health(.iscsi(target)) else {
            Issue.record("a blocked disk is recovering, not broken")
            return
        }
        #expect(reason.contains("replacement_timeout"))
        #expect(initiator.commandLines.count == before, "not one iscsiadm call")
    }

    @Test("A session gone for good that nothing holds is logged out and in again, and its node record (CHAP credentials) is reused, never made anew")
    func deadSessionRelogin() async throws {
        let directory = try TemporaryDirectory()
        let initiator = try initiator(directory)
        let attacher = attacher(initiator)
        let secrets = ["node.session.auth.authmethod": "CHAP", "node.session.auth.username": "u", "node.session.auth.password": "s3cret"]
        let device = try await attacher.attach(.iscsi(target), secrets: secrets)
        try initiator.setSessionState(1, "FAILED")
        try initiator.setDiskState((device as NSString).lastPathComponent, "transport-offline")
        let before = initiator.commandLines.count

        let repaired = try await attacher.repair(.iscsi(target))
        #expect(repaired != device)
        let commands = Array(initiator.commandLines.dropFirst(before))
        #expect(commands.first == ["iscsiadm", "-m", "session", "-r", "1", "-u"])
        #expect(commands.last == node + ["--login"])
        #expect(!commands.contains(node + ["-o", "new"]), "the record with the credentials is kept")
        #expect(initiator.record(target.iqn, target.portal)?.settings["node.session.auth.password"] == "s3cret")
        #expect(initiator.lostData.isEmpty)
        #expect(await attacher.health(.iscsi(target)) == .healthy)
    }

    @Test("A LUN of 256 or more is found where Linux puts it (flat addressing: 0x4000 | LUN)")
    func highLUN() async throws {
        let directory = try TemporaryDirectory()
        let initiator = try initiator(directory, luns: [1: "naa.1", 300: "naa.300"])
        let high = ISCSITarget(iqn: Self.iqn, portal: "10.0.0.5:3260", lun: 300)
        let device = try await attacher(initiator).attach(.iscsi(high), secrets: [:])
        let owner = try #require(initiator.sysfs.owner(ofDisk: (device as NSString).lastPathComponent))
        #expect(owner.disk.lun == 0x4000 | 300)
        #expect(AttachmentDiscovery.target(of: device, sysfs: initiator.sysfs) == .iscsi(high))
    }

    @Test("A hostname portal finds its session by the address it resolves to; an IPv6 portal in any spelling finds its own")
    func hostnameAndIPv6Portals() async throws {
        let directory = try TemporaryDirectory()
        let initiator = try FakeInitiator(root: directory.file("sys"))
        initiator.addTarget(.init(iqn: Self.iqn, address: "10.0.0.5", port: "3260", luns: [0: "naa.a"]))
        initiator.addTarget(.init(iqn: "iqn.2016-09.com.openebs.cstor:pvc-6", address: "fd00::5", port: "3260", luns: [0: "naa.b"]))
        initiator.addHostname("target.cstor.example", address: "10.0.0.5")
        let attacher = attacher(initiator)
        let named = ISCSITarget(iqn: Self.iqn, portal: "target.cstor.example:3260", lun: 0)
        let device = try await attacher.attach(.iscsi(named), secrets: [:])
        #expect(try await attacher.currentDevice(.iscsi(named)) == device)
        #expect(try await attacher.attach(.iscsi(named), secrets: [:]) == device, "the session is found again: no second login")

        let v6 = try #require(try AttachTarget(publishContext: [
            "iqn": "iqn.2016-09.com.openebs.cstor:pvc-6", "portal": "[fd00:0:0::5]:3260", "lun": "0",
        ]))
        let v6Device = try await attacher.attach(v6, secrets: [:])
        #expect(try await attacher.currentDevice(v6) == v6Device)
        #expect(initiator.commandLines.filter { $0.last == "--login" }.count == 2)
    }

    @Test("Detach refuses while a disk of the session is in use, naming it; once free it logs out and deletes the record")
    func detachRefusesHeldDisk() async throws {
        let directory = try TemporaryDirectory()
        let initiator = try initiator(directory)
        let attacher = attacher(initiator)
        let device = try await attacher.attach(.iscsi(target), secrets: [:])
        let disk = (device as NSString).lastPathComponent
        initiator.hold(disk)
        let error = await #expect(throws: CSIError.self) { try await attacher.detach(.iscsi(target)) }
        #expect(error?.code == .unavailable)
        #expect(error?.message.contains("mounted at /staging/\(disk)") == true)
        #expect(initiator.sessionIDs == [1])
        initiator.hold(disk, false)
        try await attacher.detach(.iscsi(target))
        try await attacher.detach(.iscsi(target))
        #expect(initiator.sessionIDs.isEmpty)
        #expect(initiator.record(target.iqn, target.portal) == nil)
        #expect(initiator.lostData.isEmpty)
    }

    @Test("A login the target refuses is Unavailable with iscsiadm's explanation")
    func loginFailure() async throws {
        let directory = try TemporaryDirectory()
        let initiator = try initiator(directory)
        initiator.setReachable(Self.iqn, false)
        let error = await #expect(throws: CSIError.self) { try await attacher(initiator).attach(.iscsi(target), secrets: [:]) }
        #expect(error?.code == .unavailable)
        #expect(error?.message.contains("connection timed out") == true)
    }

    @Test("The stand-in iscsiadm refuses what the real one refuses, with its exit statuses")
    func initiatorDoubleIsStrict() async throws {
        let directory = try TemporaryDirectory()
        let initiator = try initiator(directory)
        func run(_ words: [String]) async throws -> Int32 {
            try await initiator.run(Command("iscsiadm", words, timeout: .seconds(1))).status
        }
        let node = ["-m", "node", "-T", target.iqn, "-p", target.portal]
        #expect(try await run(node) == 21, "no record")
        #expect(try await run(node + ["--login"]) == 21, "login without a record")
        #expect(try await run(node + ["-o", "update", "-n", "node.startup", "-v", "manual"]) == 21)
        #expect(try await run(node + ["--logout"]) == 21, "no session")
        #expect(try await run(node + ["-o", "new"]) == 0)
        #expect(try await run(node + ["-o", "update", "-n", "node.session.auth.password", "-v", "x"]) == 0)
        #expect(try await run(node + ["-o", "new"]) == 0)
        #expect(initiator.record(target.iqn, target.portal)?.settings["node.session.auth.password"] == nil, "-o new resets the record")
        #expect(try await run(node + ["--login"]) == 0)
        #expect(try await run(node + ["--login"]) == 15, "a second login: session exists")
        #expect(try await run(node + ["-o", "delete"]) == 15, "a record a session uses cannot be deleted")
        #expect(try await run(["-m", "session", "-r", "9", "-u"]) == 21)
        #expect(try await run(node + ["--frobnicate"]) == 7)
        #expect(try await run(["-m", "session", "-r", "1", "-u"]) == 0)
        #expect(try await run(node + ["-o", "delete"]) == 0)
    }

    @Test("The configured iscsiadm command words come first (a chroot wrapper)")
    func wrapperCommand() async throws {
        let runner = ScriptedProcessRunner()
        runner.on(["-m", "node"], status: 21)
        let attacher = ISCSIAttacher(
            admin: ISCSIAdmin(command: ["chroot", "/host", "iscsiadm"], runner: runner, databaseLock: AsyncLock()),
            sysfs: ISCSISysfs(root: "/nonexistent"), waiter: ImmediateWaiter(), replacementTimeout: 120, logger: Logger(label: "t"))
        _ = try? await attacher.attach(.iscsi(target), secrets: [:])
        #expect(!runner.commands.isEmpty)
        #expect(runner.commands.allSatisfy { $0.executable == "chroot" && Array($0.argumentValues.prefix(2)) == ["/host", "iscsiadm"] })
    }

    @Test("CHAP secrets reach iscsiadm but never a command description")
    func chapSecretsMasked() async throws {
        let runner = ScriptedProcessRunner()
        let admin = ISCSIAdmin(command: ["iscsiadm"], runner: runner, databaseLock: AsyncLock())
        try await admin.ensureNodeRecord(
            target, replacementTimeout: 120,
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
                    try await admin.ensureNodeRecord(target, replacementTimeout: 120, secrets: [:])
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
            ["transport": "iscsi", "iqn": "iqn.2016-09.com.openebs.cstor:pvc-1", "portal": "fd00::5:3260"],
            ["transport": "iscsi", "iqn": "iqn.2016-09.com.openebs.cstor:pvc-1", "portal": "tärget.example:3260"],
            ["transport": "fc", "iqn": "iqn.2016-09.com.openebs.cstor:pvc-1"],
            ["transport": "loop", "file": "relative.img"],
            ["transport": "loop", "file": "/a/../etc/shadow"],
            [:],
        ])
    func invalidContexts(context: [String: String]) {
        #expect(throws: CSIError.self) { try AttachTarget(publishContext: context) }
    }

    @Test("publish_context portals are normalized: default port, IPv6 in brackets, hostnames kept")
    func portals() throws {
        let v6 = try AttachTarget(publishContext: ["iqn": "iqn.2016-09.com.openebs.cstor:pvc-1", "portal": "[fd00::5]", "lun": "0"])
        #expect(v6 == .iscsi(ISCSITarget(iqn: "iqn.2016-09.com.openebs.cstor:pvc-1", portal: "[fd00::5]:3260", lun: 0)))
        let v4 = try AttachTarget(publishContext: ["transport": "iscsi", "iqn": "iqn.2016-09.com.openebs.cstor:pvc-1", "portal": "10.0.0.5"])
        #expect(v4 == .iscsi(ISCSITarget(iqn: "iqn.2016-09.com.openebs.cstor:pvc-1", portal: "10.0.0.5:3260", lun: 0)))
        let named = try AttachTarget(publishContext: ["iqn": "iqn.2016-09.com.openebs.cstor:pvc-1", "portal": "cstor-target.openebs.svc", "lun": "300"])
        #expect(named == .iscsi(ISCSITarget(iqn: "iqn.2016-09.com.openebs.cstor:pvc-1", portal: "cstor-target.openebs.svc:3260", lun: 300)))
    }
}

/// The one session rule, case by case.
@Suite("iSCSI session rule")
struct ISCSISessionRuleTests {
    static func session(state: String, disks: [(lun: Int, name: String?, state: String)]) -> ISCSISysfs.Session {
        ISCSISysfs.Session(
            id: 3, targetName: "iqn.2016-09.com.openebs.cstor:pvc-1", address: "10.0.0.5", port: "3260", state: state,
            recoveryTimeout: 120, disks: disks.map { .init(address: "4:0:0:\($0.lun)", lun: $0.lun, name: $0.name, state: $0.state) })
    }

    enum Expected: String, CaseIterable { case absent, usable, recovering, lunMissing, relogin, held }

    static func kind(_ verdict: ISCSISessionRule.Verdict) -> Expected {
        switch verdict {
        case .absent: .absent
        case .usable: .usable
        case .recovering: .recovering
        case .lunMissing: .lunMissing
        case .relogin: .relogin
        case .held: .held
        }
    }

    @Test(
        "Logout only for a session gone for good with nothing holding its disks",
        arguments: [
            ("LOGGED_IN", [(1, "sdb", "running")], false, Expected.usable),
            ("LOGGED_IN", [(1, nil, "running")], false, .lunMissing),
            ("LOGGED_IN", [(2, "sdc", "running")], false, .lunMissing),
            ("FAILED", [(1, "sdb", "blocked")], true, .recovering),
            ("FAILED", [(1, "sdb", "blocked")], false, .recovering),
            ("LOGGED_IN", [(1, "sdb", "running"), (2, "sdc", "blocked")], true, .usable),
            ("FAILED", [(1, "sdb", "running")], false, .recovering),
            ("FAILED", [(1, "sdb", "transport-offline")], true, .held),
            ("FAILED", [(1, "sdb", "transport-offline")], false, .relogin),
            ("LOGGED_IN", [(1, "sdb", "offline")], true, .held),
            ("LOGGED_IN", [(1, "sdb", "offline")], false, .relogin),
            ("FAILED", [(1, "sdb", "transport-offline"), (2, "sdc", "blocked")], false, .recovering),
            ("FAILED", [], false, .relogin),
        ] as [(String, [(Int, String?, String)], Bool, Expected)])
    func rule(state: String, disks: [(Int, String?, String)], held: Bool, expected: Expected) {
        let session = Self.session(state: state, disks: disks.map { (lun: $0.0, name: $0.1, state: $0.2) })
        let verdict = ISCSISessionRule.judge(session, lun: 1) { _ in held ? [.process(pid: 42, command: "postgres")] : [] }
        #expect(Self.kind(verdict) == expected)
        #expect(Self.kind(ISCSISessionRule.judge(nil, lun: 1) { _ in [] }) == .absent)
    }

    @Test("Two spellings of one portal (a hostname and its address, two forms of an IPv6 address) are one session; another IQN or port is not")
    func sameSession() {
        let resolve: (String) -> [String] = { $0 == "target.example" ? ["10.0.0.5"] : [] }
        let iqn = "iqn.2016-09.com.openebs.cstor:shared"
        func target(_ portal: String, lun: Int = 1) -> ISCSITarget { ISCSITarget(iqn: iqn, portal: portal, lun: lun) }
        #expect(ISCSISessionRule.sameSession(target("target.example:3260"), target("10.0.0.5:3260", lun: 2), resolve: resolve))
        #expect(ISCSISessionRule.sameSession(target("[fd00::5]:3260"), target("[fd00:0:0::5]:3260"), resolve: resolve))
        #expect(!ISCSISessionRule.sameSession(target("10.0.0.5:3260"), target("10.0.0.5:3261"), resolve: resolve))
        #expect(!ISCSISessionRule.sameSession(
            target("10.0.0.5:3260"), ISCSITarget(iqn: "iqn.2016-09.com.openebs.cstor:other", portal: "10.0.0.5:3260", lun: 1),
            resolve: resolve))
        #expect(AttachTarget.iscsi(target("target.example:3260")).isSameDevice(as: .iscsi(target("10.0.0.5:3260")), resolve: resolve))
        #expect(!AttachTarget.iscsi(target("target.example:3260")).isSameDevice(as: .iscsi(target("10.0.0.5:3260", lun: 2)), resolve: resolve))
    }
}
