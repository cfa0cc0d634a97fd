import CSITestSupport
import CStorCore
import CStorKubernetes
import CStorModel
import Foundation
import Logging
import Synchronization
import Testing

@testable import cstor_node

/// Runs commands for real, but a few programs by another path (a test stand-in of e2fsck).
struct RedirectingRunner: ProcessRunner {
    var programs: [String: String]
    var base: any ProcessRunner = SubprocessRunner()

    func run(_ command: Command) async throws -> CommandResult {
        var command = command
        if let replacement = programs[command.executable] { command.executable = replacement }
        return try await base.run(command)
    }
}

/// A loop device over a sparse file, detached at the end.
final class TestLoop: @unchecked Sendable {
    let file: String
    private(set) var device: String

    init(_ directory: TemporaryDirectory, name: String, size: Int64 = 64 << 20) throws {
        file = directory.file(name)
        guard FileManager.default.createFile(atPath: file, contents: nil), truncate(file, off_t(size)) == 0 else { throw TestFailure("cannot size \(file)") }
        device = try Shell.check("losetup", ["--find", "--show", file]).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Points the same loop device at another file (a reused device number).
    func swap(to other: String) throws {
        try Shell.check("losetup", ["--detach", device])
        try Shell.check("losetup", [device, other])
    }

    func detach() { _ = try? Shell.run("losetup", ["--detach", device]) }
}

@Suite("Node steps")
struct NodeStepsTests {
    func makeNode(
        _ directory: TemporaryDirectory, attachers: Attachers = Attachers(), mounter: any Mounter = FakeMounter(),
        runner: any ProcessRunner = ScriptedProcessRunner(), checkTimeout: Duration = .seconds(600), sysfs: String = "/sys"
    ) throws -> NodeService {
        NodeService(
            settings: NodeSettings(
                nodeID: "n1", kubeletDirectory: directory.path, allowedRoots: [directory.path], maxVolumesPerNode: 0,
                stateDirectory: directory.file("state")),
            locks: VolumeLocks(), records: try VolumeRecordStore(stateDirectory: directory.file("state")),
            attachers: attachers, mounter: mounter,
            filesystems: FilesystemTools(runner: runner, checkTimeout: checkTimeout), health: HealthRegistry(),
            logger: Logger(label: "test"), holders: DeviceHolders(sysfs: sysfs))
    }

    func record(_ id: String, _ target: AttachTarget, access: VolumeAccess = VolumeAccess(kind: .mount(fsType: "ext4", flags: []), mode: .singleNodeWriter)) -> VolumeRecord {
        var record = VolumeRecord(volumeID: id, stagingPath: "/stage/\(id)", target: target, access: access)
        record.phase = .staged
        return record
    }

    @Test("Unstaging one volume keeps the iSCSI session another volume staged here still uses; the last one logs out")
    func sharedSessionCounted() async throws {
        let directory = try TemporaryDirectory()
        let attacher = FakeAttacher()
        let node = try makeNode(directory, attachers: Attachers(iscsi: attacher, loop: nil))
        let first = record("pvc-a", .iscsi(ISCSITarget(iqn: "iqn.2016-09.com.openebs.cstor:shared", portal: "10.0.0.5:3260", lun: 1)))
        let second = record("pvc-b", .iscsi(ISCSITarget(iqn: "iqn.2016-09.com.openebs.cstor:shared", portal: "10.0.0.5:3260", lun: 2)))
        try node.records.save(first)
        try node.records.save(second)
        try await node.detach(record: first, mountedDevice: nil)
        #expect(!attacher.log.contains("detach"), "pvc-b still uses the session")
        try node.records.delete("pvc-a")
        try await node.detach(record: second, mountedDevice: nil)
        #expect(attacher.log.contains("detach"), "the last user logs out")
    }

    @Test("The write probe never opens a name in the volume: a symlink planted there is not followed, nothing is left behind")
    func writeProbeIgnoresSymlink() async throws {
        let directory = try TemporaryDirectory()
        let node = try makeNode(directory)
        let staging = directory.file("stage")
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        let victim = directory.file("victim")
        try Data("precious".utf8).write(to: URL(fileURLWithPath: victim))
        try FileManager.default.createSymbolicLink(atPath: staging + "/.cstor-csi-write-probe", withDestinationPath: victim)
        let monitor = HealthMonitor(node: node, sweepInterval: .seconds(60), remount: true, backoff: .init(), logger: Logger(label: "t"))
        #expect(await monitor.acceptsWrites(staging))
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "precious")
        #expect(try FileManager.default.contentsOfDirectory(atPath: staging) == [".cstor-csi-write-probe"])
    }

    @Test("An e2fsck that overruns its timeout is left to finish, never killed, and its volume stays locked (Aborted, naming it) until it exits")
    func e2fsckKeepsVolumeLocked() async throws {
        let directory = try TemporaryDirectory()
        let script = directory.file("slow-e2fsck")
        try Data("#!/bin/sh\nsleep 2\nexit 0\n".utf8).write(to: URL(fileURLWithPath: script))
        chmod(script, 0o755)
        let node = try makeNode(directory, runner: RedirectingRunner(programs: ["e2fsck": script]), checkTimeout: .milliseconds(300))
        let timedOut = await #expect(throws: ExecError.self) {
            try await node.withVolume("pvc-1", operation: "NodeStageVolume") {
                try await node.filesystems.check("/dev/null", fsType: "ext4")
            }
        }
        let pid = try #require(timedOut?.processID)
        #expect(kill(pid, 0) == 0, "e2fsck still runs after the timeout")
        #expect(timedOut?.description.contains("left to finish") == true)
        let aborted = await #expect(throws: CSIError.self) {
            try await node.withVolume("pvc-1", operation: "NodeUnstageVolume") { () }
        }
        #expect(aborted?.code == .aborted)
        #expect(aborted?.message.contains("e2fsck") == true && aborted?.message.contains("pid \(pid)") == true, "\(aborted?.message ?? "")")
        #expect(!node.locks.tryAcquire("pvc-1", operation: "the health monitor"), "the monitor cannot take it either")
        let deadline = ContinuousClock.now + .seconds(10)
        while node.lingering.description(of: "pvc-1") != nil && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(kill(pid, 0) != 0, "it exited by itself")
        try await node.withVolume("pvc-1", operation: "NodeUnstageVolume") { () }
    }

    @Test("A failed first stage is undone (record, attachment), except while a child of it still runs on the device")
    func undoWaitsForLingeringWork() async throws {
        let directory = try TemporaryDirectory()
        let attacher = FakeAttacher()
        let node = try makeNode(directory, attachers: Attachers(iscsi: nil, loop: attacher))
        var first = record("pvc-1", .loop(file: directory.file("v.img")))
        first.phase = .attaching
        try node.records.save(first)
        let running = Deadline.Completion()
        let timedOut = ExecError(kind: .timedOut(killed: false), command: "e2fsck -p /dev/loop9", detail: "1 s", processID: 42, stillRunning: running)
        await node.undoFirstStage(first, attachedBefore: false, cause: timedOut)
        #expect(try node.records.load("pvc-1") != nil, "kept while e2fsck still runs")
        #expect(!attacher.log.contains("detach"))
        running.finish()
        await node.undoFirstStage(first, attachedBefore: false, cause: CSIError.failedPrecondition("refused"))
        #expect(try node.records.load("pvc-1") == nil, "a refused first stage leaves no record")
        #expect(attacher.log.contains("detach"), "nor the attachment it made")
    }

    @Test("A command that may be killed is killed at its timeout, and the error says when it is gone")
    func killedCommand() async throws {
        let error = await #expect(throws: ExecError.self) {
            try await SubprocessRunner().run(Command("sleep", ["30"], timeout: .milliseconds(200)))
        }
        let completion = try #require(error?.stillRunning)
        await completion.wait()
        if let pid = error?.processID { #expect(kill(pid, 0) != 0) }
    }

    @Test("Resuming our own interrupted format reformats a corrupt filesystem; anything else with e2fsck errors is refused, untouched", .enabled(if: runningAsRoot))
    func reformatOnlyCorrupt() async throws {
        let directory = try TemporaryDirectory()
        let loop = try TestLoop(directory, name: "v.img")
        defer { loop.detach() }
        try Shell.check("mkfs.ext4", ["-q", "-F", loop.device])
        try Shell.check("debugfs", ["-w", "-R", "mkdir precious", loop.device])
        // The root directory's inode cleared, and the filesystem marked as having errors (as the
        // kernel does when it meets one), so that e2fsck -p checks it and finds it corrupt.
        try Shell.check("debugfs", ["-w", "-R", "clri <2>", loop.device])
        try Shell.check("debugfs", ["-w", "-R", "ssv state 2", loop.device])
        let node = try makeNode(directory, runner: SubprocessRunner())
        var staged = record("pvc-1", .loop(file: loop.file))
        staged.phase = .attaching
        staged.device = loop.device
        staged.identity = try DeviceIdentity.read(loop.device)
        let uuid = { try Shell.check("blkid", ["-p", "-o", "value", "-s", "UUID", loop.device]) }
        let before = try uuid()
        let refused = await #expect(throws: FilesystemCheckError.self) { try await node.prepareFilesystem(&staged, device: loop.device, fsType: "ext4") }
        #expect(refused?.kind == .corrupt)
        #expect(try uuid() == before, "a filesystem that was there before is never formatted (e2fsck -p may have fixed what is safe)")

        staged.phase = .formatting
        try await node.prepareFilesystem(&staged, device: loop.device, fsType: "ext4")
        #expect(try Shell.run("e2fsck", ["-n", loop.device]).status == 0, "formatted anew: clean")
        #expect(try uuid() != before)
    }

    @Test("A device dm-multipath has claimed is refused with a message that says how to release it", .enabled(if: runningAsRoot))
    func multipathRefused() async throws {
        let directory = try TemporaryDirectory()
        let loop = try TestLoop(directory, name: "v.img")
        defer { loop.detach() }
        let number = try #require(BlockDevice.number(of: loop.device))
        // The kernel's view of a dm-multipath map over the disk, in a sysfs tree of the same shape.
        let sysfs = directory.file("sys")
        try FileManager.default.createDirectory(atPath: "\(sysfs)/dev/block/\(number)/holders/dm-3", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "\(sysfs)/block/dm-3/dm", withIntermediateDirectories: true)
        try Data("mpath-36001405aaaa\n".utf8).write(to: URL(fileURLWithPath: "\(sysfs)/block/dm-3/dm/uuid"))
        try Data("mpatha\n".utf8).write(to: URL(fileURLWithPath: "\(sysfs)/block/dm-3/dm/name"))
        let node = try makeNode(directory, sysfs: sysfs)
        var staged = record("pvc-1", .loop(file: loop.file))
        let error = await #expect(throws: CSIError.self) { try await node.adoptDevice(&staged, device: loop.device, purpose: "staging") }
        #expect(error?.code == .failedPrecondition)
        #expect(error?.message.contains("dm-multipath mpatha") == true)
        #expect(error?.message.contains("multipath.conf") == true)
    }

    @Test("Before a resize (or any write) the device is checked: a reused device number with another disk behind it is refused", .enabled(if: runningAsRoot))
    func reusedDeviceNumberRefused() async throws {
        let directory = try TemporaryDirectory()
        let loop = try TestLoop(directory, name: "v.img")
        defer { loop.detach() }
        let node = try makeNode(directory)
        var staged = record("pvc-1", .loop(file: loop.file))
        staged.device = loop.device
        staged.identity = try DeviceIdentity.read(loop.device)
        let same = try node.verifiedDevice(staged, for: "resize")
        same.release()
        let other = directory.file("other.img")
        #expect(FileManager.default.createFile(atPath: other, contents: nil) && truncate(other, 64 << 20) == 0)
        try loop.swap(to: other)
        let error = #expect(throws: CSIError.self) { _ = try node.verifiedDevice(staged, for: "resize") }
        #expect(error?.code == .failedPrecondition)
        #expect(error?.message.contains("another LUN") == true, "\(error?.message ?? "")")
    }

    @Test("The directory fsync of a record write is checked, not ignored")
    func directorySyncErrorsReported() throws {
        #expect(throws: AtomicFile.WriteError.self) { try AtomicFile.syncDirectory("/nonexistent-\(getpid())") }
    }
}
