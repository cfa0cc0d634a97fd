import CSITestSupport
import CStorCore
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
