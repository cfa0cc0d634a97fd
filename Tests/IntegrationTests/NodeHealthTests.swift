import CSITestSupport
import CStorCore
import Foundation
import GRPCCore
import Testing

/// The read-only remount monitor and the restart recovery, with real ext4 errors, real loop
/// devices and real crashes of the node binary.
@Suite("Node health monitor and restart recovery", .serialized, .enabled(if: runningAsRoot, "needs root for loop devices and mounts"))
struct NodeHealthTests {
    let volumeID = "pvc-health"

    func stageAndPublish(_ harness: NodeHarness, fsType: String = "ext4") async throws -> (file: String, target: String) {
        let volume = try harness.makeVolume(volumeID)
        let target = harness.targetPath(volumeID)
        try await harness.node {
            _ = try await $0.nodeStageVolume(
                .with {
                    $0.volumeID = volumeID
                    $0.stagingTargetPath = harness.stagingPath(volumeID)
                    $0.publishContext = volume.context
                    $0.volumeCapability = .mount(fsType)
                })
            _ = try await $0.nodePublishVolume(
                .with {
                    $0.volumeID = volumeID
                    $0.stagingTargetPath = harness.stagingPath(volumeID)
                    $0.targetPath = target
                    $0.volumeCapability = .mount(fsType)
                })
        }
        return (volume.file, target)
    }

    func unpublishAndUnstage(_ harness: NodeHarness, target: String) async throws {
        try await harness.node {
            _ = try await $0.nodeUnpublishVolume(.with {
                $0.volumeID = volumeID
                $0.targetPath = target
            })
            _ = try await $0.nodeUnstageVolume(.with {
                $0.volumeID = volumeID
                $0.stagingTargetPath = harness.stagingPath(volumeID)
            })
        }
    }

    func condition(_ harness: NodeHarness, path: String) async throws -> Csi_V1_VolumeCondition {
        try await harness.node {
            try await $0.nodeGetVolumeStats(.with {
                $0.volumeID = volumeID
                $0.volumePath = path
            })
        }.volumeCondition
    }

    /// Waits until `body` holds, polling every 50 ms, up to `timeout`.
    func eventually(_ timeout: Duration = .seconds(20), _ body: () async throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await body() { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return false
    }

    func canWrite(_ path: String) -> Bool {
        let fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0o644)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return write(fd, "x", 1) == 1
    }

    /// The time of the first log line with this message for the volume.
    func logTime(_ harness: NodeHarness, message: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        for line in harness.process?.logLines() ?? [] {
            guard let object = line.object, object["msg"] as? String == message,
                object["volume_id"] as? String == volumeID, let ts = object["ts"] as? String
            else { continue }
            return formatter.date(from: ts)
        }
        return nil
    }

    @Test("A real ext4 error is detected in under a second and the volume is read-write again, binds and data intact")
    func ext4ErrorRecovered() async throws {
        try await withNodeHarness { harness in
            let (_, target) = try await stageAndPublish(harness)
            try Data("written before the fault".utf8).write(to: URL(fileURLWithPath: target + "/before.txt"))
            sync()
            let loop = try #require(harness.loopDevicesInUse().first)
            let trigger = "/sys/fs/ext4/\((loop as NSString).lastPathComponent)/trigger_fs_error"
            let triggered = Date()
            try Data("cstor-csi test error".utf8).write(to: URL(fileURLWithPath: trigger))

            let detected = try await eventually { logTime(harness, message: "fault detected") != nil }
            #expect(detected, "the fault was logged")
            if let at = logTime(harness, message: "fault detected") {
                let latency = at.timeIntervalSince(triggered)
                #expect(latency < 1.0, "detected after \(latency) s")
            }
            // Recovered: the monitor says so, and the publish bind takes writes again.
            let recovered = try await eventually {
                (harness.process?.logText() ?? "").contains(#""how":"recovered""#) && canWrite(target + "/after.txt")
            }
            #expect(recovered, "writable again through the publish bind")
            #expect(try String(contentsOfFile: target + "/before.txt", encoding: .utf8) == "written before the fault")
            #expect(try await condition(harness, path: target).abnormal == false)
            let log = harness.process?.logText() ?? ""
            #expect(log.contains("recovery: checking the filesystem"))
            #expect(log.contains("recovery: binding the publish target again"))
            try await unpublishAndUnstage(harness, target: target)
        }
    }

    @Test("A staging mount remounted read-only by hand is made writable again")
    func manualReadOnlyRecovered() async throws {
        try await withNodeHarness { harness in
            let (_, target) = try await stageAndPublish(harness, fsType: "xfs")
            try Shell.check("mount", ["-o", "remount,ro", harness.stagingPath(volumeID)])
            let recovered = try await eventually { canWrite(target + "/again.txt") }
            #expect(recovered)
            #expect(try await eventually { try await condition(harness, path: target).abnormal == false })
            try await unpublishAndUnstage(harness, target: target)
        }
    }

    @Test("A fault the monitor cannot fix stays abnormal and is retried with backoff")
    func unfixableFault() async throws {
        try await withNodeHarness(
            extraArguments: ["--recovery-backoff", "0.2", "--recovery-attempts", "3", "--health-interval", "1"]
        ) { harness in
            let (file, target) = try await stageAndPublish(harness)
            // While the node is down the device goes away for good: mounts, loop device, file.
            try await harness.stop()
            try Shell.check("umount", [target])
            try Shell.check("umount", [harness.stagingPath(volumeID)])
            for device in harness.loopDevicesInUse() { try Shell.check("losetup", ["--detach", device]) }
            try FileManager.default.removeItem(atPath: file)
            try await harness.start()

            let gaveUp = try await eventually { (harness.process?.logText() ?? "").contains("giving up") }
            #expect(gaveUp, "three failed attempts, then the monitor stops trying")
            let log = harness.process?.logText() ?? ""
            #expect(log.contains("could not restore the volume"), "the restart reconciliation tried first")
            #expect(log.components(separatedBy: "recovery failed").count - 1 == 3)
            let stats = try await condition(harness, path: harness.stagingPath(volumeID))
            #expect(stats.abnormal == true)
            #expect(!stats.message.isEmpty)
            try await unpublishAndUnstage(harness, target: target)
            #expect(harness.recordFiles().isEmpty)
        }
    }

    @Test("After a restart that lost the mounts, the node mounts the volume again and binds its target")
    func restartRestoresMounts() async throws {
        try await withNodeHarness { harness in
            let (_, target) = try await stageAndPublish(harness)
            try Data("kept".utf8).write(to: URL(fileURLWithPath: target + "/kept.txt"))
            try await harness.crash()
            try Shell.check("umount", [target])
            try Shell.check("umount", [harness.stagingPath(volumeID)])
            try await harness.start()
            let restored = try await eventually { FileManager.default.fileExists(atPath: target + "/kept.txt") }
            #expect(restored, "the publish target shows the volume again")
            #expect(canWrite(target + "/new.txt"))
            try await unpublishAndUnstage(harness, target: target)
            #expect(harness.mountsBelowDirectory().isEmpty)
            #expect(harness.loopDevicesInUse().isEmpty)
        }
    }

    @Test("A record of a volume present nowhere any more is removed at start")
    func staleRecordRemoved() async throws {
        try await withNodeHarness { harness in
            let (file, target) = try await stageAndPublish(harness)
            try await harness.crash()
            try Shell.check("umount", [target])
            try Shell.check("umount", [harness.stagingPath(volumeID)])
            for device in harness.loopDevicesInUse() { try Shell.check("losetup", ["--detach", device]) }
            try FileManager.default.removeItem(atPath: harness.stagingPath(volumeID))
            try FileManager.default.removeItem(atPath: target)
            try FileManager.default.removeItem(atPath: file)
            try await harness.start()
            #expect(try await eventually { harness.recordFiles().isEmpty })
        }
    }

    /// Every point where a crash can land inside a node RPC, and the RPC that is repeated after it.
    static let crashPoints: [(point: String, rpc: String)] = [
        ("stage.attached", "stage"), ("stage.formatting", "stage"), ("exec.mkfs.ext4@20", "stage"), ("stage.mounting", "stage"),
        ("stage.mounted", "stage"), ("publish.binding", "publish"), ("publish.bound", "publish"),
        ("unpublish.unmounted", "unpublish"), ("unstage.unmounted", "unstage"), ("unstage.detached", "unstage"),
    ]

    @Test("A crash at any step of a node RPC is finished by the repeated call: no leaked mount, loop device or record", arguments: crashPoints)
    func crashAtEveryStep(point: String, rpc: String) async throws {
        let harness = try NodeHarness()
        // Big enough that mkfs runs long enough to be killed in the middle.
        let volume = try harness.makeVolume(volumeID, size: 8 << 30)
        let target = harness.targetPath(volumeID)
        let stage = Csi_V1_NodeStageVolumeRequest.with {
            $0.volumeID = volumeID
            $0.stagingTargetPath = harness.stagingPath(volumeID)
            $0.publishContext = volume.context
            $0.volumeCapability = .mount()
        }
        let publish = Csi_V1_NodePublishVolumeRequest.with {
            $0.volumeID = volumeID
            $0.stagingTargetPath = harness.stagingPath(volumeID)
            $0.targetPath = target
            $0.volumeCapability = .mount()
        }
        let unpublish = Csi_V1_NodeUnpublishVolumeRequest.with {
            $0.volumeID = volumeID
            $0.targetPath = target
        }
        let unstage = Csi_V1_NodeUnstageVolumeRequest.with {
            $0.volumeID = volumeID
            $0.stagingTargetPath = harness.stagingPath(volumeID)
        }
        /// Calls like kubelet: retries Aborted (an operation still settling) with a pause.
        func run(_ name: String) async throws {
            for attempt in 1...50 {
                do {
                    try await harness.node { node in
                        switch name {
                        case "stage": _ = try await node.nodeStageVolume(stage)
                        case "publish": _ = try await node.nodePublishVolume(publish)
                        case "unpublish": _ = try await node.nodeUnpublishVolume(unpublish)
                        default: _ = try await node.nodeUnstageVolume(unstage)
                        }
                    }
                    return
                } catch let error as RPCError where error.code == .aborted && attempt < 50 {
                    try await Task.sleep(for: .milliseconds(100))
                }
            }
        }
        defer { Task { await harness.tearDown() } }
        let order = ["stage", "publish", "unpublish", "unstage"]
        guard let crashIndex = order.firstIndex(of: rpc) else { return }
        try await harness.start()
        for name in order[..<crashIndex] { try await run(name) }
        // Restart with the fail point armed, make the call that crashes, restart without it.
        try await harness.stop()
        let armed = try PluginProcess(
            binary: "cstor-node", socketPath: harness.socketPath, arguments: harness.arguments,
            logDirectory: harness.directory.url, environment: ["CSTOR_CSI_CRASH_AT": point])
        try await armed.waitUntilServing()
        let crashed = await rpcCode { try await run(rpc) }
        #expect(crashed != nil, "the call died with the process")
        _ = try await armed.waitForExit()
        #expect(armed.logText().contains("fail point"))
        try await harness.start()
        for name in order[crashIndex...] { try await run(name) }
        #expect(harness.mountsBelowDirectory().isEmpty, "no leaked mount")
        #expect(harness.loopDevicesInUse().isEmpty, "no leaked loop device")
        #expect(harness.recordFiles().isEmpty, "no leaked record")
        await harness.tearDown()
    }
}
