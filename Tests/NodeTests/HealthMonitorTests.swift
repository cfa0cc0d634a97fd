import CSITestSupport
import CStorCore
import CStorKubernetes
import CStorModel
import Foundation
import Logging
import Synchronization
import Testing

@testable import cstor_node

@Suite("Health monitor rules")
struct HealthMonitorTests {
    func makeNode(_ directory: TemporaryDirectory, mounter: FakeMounter, attacher: FakeAttacher) throws -> NodeService {
        NodeService(
            settings: NodeSettings(
                nodeID: "n1", kubeletDirectory: directory.path, allowedRoots: [directory.path], maxVolumesPerNode: 0),
            locks: VolumeLocks(), records: try VolumeRecordStore(stateDirectory: directory.file("state")),
            attachers: Attachers(iscsi: nil, loop: attacher), mounter: mounter,
            filesystems: FilesystemTools(runner: ScriptedProcessRunner()), health: HealthRegistry(),
            logger: Logger(label: "test"))
    }

    func stagedRecord(_ directory: TemporaryDirectory) -> VolumeRecord {
        var record = VolumeRecord(
            volumeID: "pvc-1", stagingPath: directory.file("stage"), target: .loop(file: directory.file("v.img")),
            access: VolumeAccess(kind: .mount(fsType: "ext4", flags: []), mode: .singleNodeWriter))
        record.phase = .staged
        record.device = "/dev/fake0"
        return record
    }

    @Test("The monitor neither judges nor touches a volume while an RPC holds it, and acts once it is free")
    func respectsVolumeLock() async throws {
        let directory = try TemporaryDirectory()
        let mounter = FakeMounter()
        let attacher = FakeAttacher()
        let node = try makeNode(directory, mounter: mounter, attacher: attacher)
        try node.records.save(stagedRecord(directory))
        let monitor = HealthMonitor(
            node: node, sweepInterval: .seconds(60), remount: true, backoff: .init(initial: .milliseconds(1), attempts: 3),
            logger: Logger(label: "test"))

        #expect(node.locks.tryAcquire("pvc-1", operation: "NodePublishVolume"))
        await monitor.check(deep: true)
        #expect(node.health.fault(of: "pvc-1") == nil, "a volume in motion is not judged")
        #expect(mounter.actions.isEmpty, "no mount action while the RPC holds the volume")
        #expect(!attacher.log.contains("repair"))
        #expect(node.locks.holder(of: "pvc-1") == "NodePublishVolume", "the RPC's lock is untouched")

        node.locks.release("pvc-1")
        await monitor.check(deep: false)
        #expect(node.health.fault(of: "pvc-1") != nil, "once free, the missing staging mount is a fault")
        #expect(attacher.log.contains("health"), "and the monitor works on the volume")
        #expect(node.locks.holder(of: "pvc-1") == nil, "and releases it afterwards")
    }

    @Test("A read-only volume (reader-only access) is reported but never remounted")
    func readerOnlyNotRepaired() async throws {
        let directory = try TemporaryDirectory()
        let mounter = FakeMounter()
        let attacher = FakeAttacher()
        let node = try makeNode(directory, mounter: mounter, attacher: attacher)
        var record = stagedRecord(directory)
        record.access.mode = .singleNodeReaderOnly
        try node.records.save(record)
        let monitor = HealthMonitor(
            node: node, sweepInterval: .seconds(60), remount: true, backoff: .init(), logger: Logger(label: "test"))
        await monitor.check(deep: false)
        #expect(node.health.fault(of: "pvc-1") != nil)
        #expect(mounter.actions.isEmpty)
    }

    @Test("Backoff doubles from the initial delay and stops at the maximum")
    func backoff() {
        let backoff = HealthMonitor.Backoff(initial: .seconds(1), maximum: .seconds(5), attempts: 8)
        #expect(backoff.delay(after: 1) == .seconds(1))
        #expect(backoff.delay(after: 2) == .seconds(2))
        #expect(backoff.delay(after: 3) == .seconds(4))
        #expect(backoff.delay(after: 4) == .seconds(5))
        #expect(backoff.delay(after: 20) == .seconds(5))
    }

    @Test("A stage (which clears the volume's fault) also resets the repair count: the monitor tries again at once instead of waiting out the backoff")
    func stageResetsAttempts() async throws {
        let directory = try TemporaryDirectory()
        let attacher = FakeAttacher()
        let node = try makeNode(directory, mounter: FakeMounter(), attacher: attacher)
        try node.records.save(stagedRecord(directory))  // its device /dev/fake0 does not exist: repairs fail
        let monitor = HealthMonitor(
            node: node, sweepInterval: .seconds(60), remount: true, backoff: .init(initial: .seconds(60), attempts: 3),
            logger: Logger(label: "test"))
        let repairs = { attacher.log.filter { $0 == "health" }.count }
        await monitor.check(deep: false)
        #expect(repairs() == 1)
        #expect(node.health.attempts(of: "pvc-1")?.count == 1)
        await monitor.check(deep: false)
        #expect(repairs() == 1, "inside the backoff: no attempt")
        node.health.clear("pvc-1")  // what NodeStageVolume and NodeUnstageVolume do
        #expect(node.health.attempts(of: "pvc-1") == nil)
        await monitor.check(deep: false)
        #expect(repairs() == 2, "the count started afresh")
        #expect(node.health.attempts(of: "pvc-1")?.count == 1)
    }

    @Test("After the backoff attempts, a failing repair is retried at every sweep, never abandoned")
    func retriedForEver() async throws {
        let directory = try TemporaryDirectory()
        let attacher = FakeAttacher()
        let node = try makeNode(directory, mounter: FakeMounter(), attacher: attacher)
        try node.records.save(stagedRecord(directory))
        let monitor = HealthMonitor(
            node: node, sweepInterval: .milliseconds(30), remount: true,
            backoff: .init(initial: .milliseconds(1), maximum: .seconds(300), attempts: 2), logger: Logger(label: "test"))
        for _ in 0..<6 {
            await monitor.check(deep: false)
            try await Task.sleep(for: .milliseconds(40))
        }
        #expect(node.health.attempts(of: "pvc-1")?.count == 6, "six sweeps, six attempts")
        let due = try #require(node.health.attempts(of: "pvc-1")?.notBefore)
        #expect(due - .now <= .milliseconds(30), "the next attempt is no later than the next sweep")
        #expect(node.health.fault(of: "pvc-1")?.contains("repair attempt 6 failed") == true)
    }

    @Test("Wake-ups that arrive while the monitor works are coalesced into one check")
    func wakeUpsCoalesced() async throws {
        let wakeups = WakeUps()
        for index in 0..<1000 {
            wakeups.signal(.mountTableChanged)
            wakeups.signal(.kernelMessage("line \(index)"))
        }
        var iterator = wakeups.stream.makeAsyncIterator()
        #expect(await iterator.next() != nil)
        let first = try #require(wakeups.take())
        #expect(first.mountTableChanged && !first.sweep)
        #expect(first.kernelMessages.count == 32, "kept messages are bounded")
        #expect(wakeups.take() == nil, "2000 signals, one batch")
        wakeups.signal(.sweep)
        #expect(await iterator.next() != nil)
        #expect(wakeups.take() == WakeUps.Pending(sweep: true), "one check for everything pending, nothing left from before")
        wakeups.finish()
        #expect(await iterator.next() == nil)
    }

    @Test("Kernel lines wake the monitor only for its own devices and their iSCSI sessions")
    func kernelLinesMatchedToOurDevices() {
        let ours = ["loop3", "sdb"]
        let session: (String) -> Int? = { $0 == "sdb" ? 4 : nil }
        for line in [
            "EXT4-fs error (device loop3): ext4_journal_check_start:83: comm dd: Detected aborted journal",
            "EXT4-fs (loop3): Remounting filesystem read-only",
            "I/O error, dev sdb, sector 2048 op 0x1:(WRITE) flags 0x800 phys_seg 1 prio class 2",
            "Buffer I/O error on dev sdb, logical block 0, lost async page write",
            " connection4:0: detected conn error (1020)",
            " session4: session recovery timed out after 120 secs",
        ] {
            #expect(KernelMessages.concerns(line, deviceNames: ours, sessionOf: session), "\(line)")
        }
        for line in [
            "XFS (sdc): metadata I/O error in \"xfs_trans_read_buf_map\"",
            "EXT4-fs error (device loop30): ext4_lookup:1855: inode #2: comm ls: iget: bad extra_isize",
            "I/O error, dev sdba, sector 8 op 0x0:(READ)",
            "Buffer I/O error on dev nvme0n1p2, logical block 0",
            " connection41:0: detected conn error (1020)",
            " session41: session recovery timed out after 120 secs",
        ] {
            #expect(!KernelMessages.concerns(line, deviceNames: ours, sessionOf: session), "\(line)")
        }
    }

    @Test("Kubelet's publish target names the pod's UID")
    func podUIDFromTarget() {
        #expect(PodPaths.podUID(ofTarget: "/var/lib/kubelet/pods/0b9c-11/volumes/kubernetes.io~csi/pvc-1/mount") == "0b9c-11")
        #expect(PodPaths.podUID(ofTarget: "/var/lib/kubelet/plugins/kubernetes.io/csi/volumeDevices/publish/pvc-1/0b9c-11") == nil)
        #expect(PodPaths.podUID(ofTarget: "/var/lib/kubelet/pods/0b9c-11/volumes/kubernetes.io~empty-dir/x") == nil)
    }
}

@Suite("Background work yields to RPCs")
struct VolumeLockYieldTests {
    @Test("An RPC asks a yielding holder to stop and gets the volume; a plain holder makes it Aborted")
    func yielding() async throws {
        let locks = VolumeLocks(yieldWait: .seconds(2))
        let asked = Mutex(false)
        let stopSoon: @Sendable () -> Void = {
            asked.withLock { $0 = true }
            // The background work stops a moment later.
            Thread.detachNewThread {
                usleep(50_000)
                locks.release("pvc-1")
            }
        }
        let acquired = locks.tryAcquire("pvc-1", operation: "recovery", yield: stopSoon)
        #expect(acquired)
        let result = try await locks.withLock("pvc-1", operation: "NodeUnstageVolume") { "ran" }
        #expect(result == "ran")
        #expect(asked.withLock { $0 })

        #expect(locks.tryAcquire("pvc-2", operation: "NodeStageVolume"))
        let error = await #expect(throws: CSIError.self) {
            try await locks.withLock("pvc-2", operation: "NodeStageVolume") { "never" }
        }
        #expect(error?.code == .aborted)
        #expect(error?.message.contains("NodeStageVolume") == true)
    }

    @Test("A cancelled command returns at once even though its process is still being killed")
    func cancelledCommandReturns() async throws {
        let task = Task { try await SubprocessRunner().run(Command("sleep", ["30"], timeout: .seconds(60))) }
        try await Task.sleep(for: .milliseconds(200))
        let started = ContinuousClock.now
        task.cancel()
        do {
            _ = try await task.value
            Issue.record("the command was not cancelled")
        } catch is CancellationError {
        } catch {
            Issue.record("expected CancellationError, got \(error)")
        }
        // The process would run 30 s: returning well before proves the caller did not wait for it.
        #expect(ContinuousClock.now - started < .seconds(20), "the caller does not wait for the process")
    }
}

@Suite("Who else holds a filesystem")
struct ForeignMountTests {
    /// A /proc with `self` and one process per namespace, each with its mountinfo.
    func makeProc(ownNamespace: String = "mnt:[1]", pidNamespace: String = "pid:[4026531836]", processes: [(pid: Int, namespace: String, mountinfo: String)]) throws -> TemporaryDirectory {
        let proc = try TemporaryDirectory()
        for (name, namespace, mountinfo) in [("self", ownNamespace, "")] + processes.map({ ("\($0.pid)", $0.namespace, $0.mountinfo) }) {
            try FileManager.default.createDirectory(atPath: proc.file("\(name)/ns"), withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(atPath: proc.file("\(name)/ns/mnt"), withDestinationPath: namespace)
            try FileManager.default.createSymbolicLink(atPath: proc.file("\(name)/ns/pid"), withDestinationPath: pidNamespace)
            try Data(mountinfo.utf8).write(to: URL(fileURLWithPath: proc.file("\(name)/mountinfo")))
            try Data("sleep\n".utf8).write(to: URL(fileURLWithPath: proc.file("\(name)/comm")))
        }
        return proc
    }

    let own = MountTable(parsing: """
        40 30 7:3 / /var/lib/kubelet/plugins/kubernetes.io/csi/d/v/globalmount rw shared:5 - ext4 /dev/loop3 rw
        41 30 7:3 / /var/lib/kubelet/pods/p1/volumes/kubernetes.io~csi/v/mount rw shared:5 - ext4 /dev/loop3 rw
        """)

    @Test("A pod's private copy holds the filesystem; copies that receive our unmounts (peers, slaves, slaves of slaves) do not; other devices do not count")
    func propagationAware() throws {
        let proc = try makeProc(processes: [
            // The host: a peer of our mounts.
            (10, "mnt:[2]", "90 1 7:3 / /var/lib/kubelet/pods/p1/volumes/kubernetes.io~csi/v/mount rw shared:5 master:1 - ext4 /dev/loop3 rw"),
            // A container with HostToContainer propagation from a host group that is itself our slave.
            (11, "mnt:[3]", "91 1 7:3 / /host/var/lib/kubelet/x rw master:9 - ext4 /dev/loop3 rw"),
            (12, "mnt:[4]", "92 1 7:3 / /x rw shared:9 master:5 - ext4 /dev/loop3 rw"),
            // The pod's container: a private bind of the target.
            (13, "mnt:[5]", "93 1 7:3 / /data rw - ext4 /dev/loop3 rw\n94 1 7:4 / /other rw - ext4 /dev/loop4 rw"),
            // A second process of our own namespace, and of a namespace already seen.
            (14, "mnt:[1]", "95 1 7:3 / /ignored rw - ext4 /dev/loop3 rw"),
            (15, "mnt:[5]", "93 1 7:3 / /data rw - ext4 /dev/loop3 rw"),
        ])
        let holders = DeviceHolders(proc: proc.path).foreignMounts(number: "7:3", own: own)
        #expect(holders == .known([.namespaceMount(pid: 13, command: "sleep", path: "/data")]))
        #expect(DeviceHolders(proc: proc.path).foreignMounts(number: "7:4", own: own) == .known([.namespaceMount(pid: 13, command: "sleep", path: "/other")]))
        #expect(DeviceHolders(proc: proc.path).foreignMounts(number: "7:9", own: own) == .known([]))
    }

    @Test("Without the host's PID namespace the scan cannot know, and says what to change")
    func notHostPID() throws {
        let proc = try makeProc(pidNamespace: "pid:[4026532201]", processes: [])
        guard case .unknown(let reason) = DeviceHolders(proc: proc.path).foreignMounts(number: "7:3", own: own) else {
            Issue.record("a scan that cannot see every process must not report none")
            return
        }
        #expect(reason.contains("hostPID"))
    }

    @Test("A repair guard replaces a bind in one step and refuses to be bound; a bind beneath it replaces it in one step", .enabled(if: runningAsRoot))
    func guardAndBindBeneath() async throws {
        let root = try TemporaryDirectory()
        for name in ["src", "target", "copy"] { try FileManager.default.createDirectory(atPath: root.file(name), withIntermediateDirectories: false) }
        try Data("volume".utf8).write(to: URL(fileURLWithPath: root.file("src/data")))
        try Shell.check("mount", ["--bind", root.file("src"), root.file("target")])
        defer { for _ in 0..<3 { _ = try? Shell.run("umount", [root.file("target")]) } }
        let paths = PathConfinement(roots: [root.path])
        let mounter = LibMountMounter(timeout: .seconds(10))

        try await mounter.guardBeneath(target: paths.mountEntry(root.file("target")))
        #expect(FileManager.default.fileExists(atPath: root.file("target/data")), "the bind stays on top until it is unmounted")
        try await mounter.unmount(target: paths.mountEntry(root.file("target")), lazy: false)
        #expect(try mounter.table().mount(at: root.file("target"))?.source == RecoveryGuard.source, "the guard, at once")
        #expect(try mounter.table().mount(at: root.file("target"))?.isReadOnly == true)
        #expect(try FileManager.default.contentsOfDirectory(atPath: root.file("target")).isEmpty)
        #expect(try Shell.run("mount", ["--bind", root.file("target"), root.file("copy")]).status != 0, "a container cannot bind it")
        #expect(try Shell.run("mount", ["--rbind", root.file("target"), root.file("copy")]).status != 0, "not even recursively")

        try await mounter.bindBeneath(source: paths.open(root.file("src")), target: paths.mountEntry(root.file("target")), readOnly: false)
        try await mounter.unmount(target: paths.mountEntry(root.file("target")), lazy: false)
        #expect(try String(contentsOfFile: root.file("target/data"), encoding: .utf8) == "volume", "the volume again, at once")
        #expect(try mounter.table().mount(at: root.file("target"))?.source != RecoveryGuard.source)
    }
}
