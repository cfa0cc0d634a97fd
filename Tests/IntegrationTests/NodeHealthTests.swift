import CSITestSupport
import CStorCore
import CStorKubernetes
import CStorModel
import Foundation
import GRPCCore
import Testing

/// The read-only remount monitor and the restart recovery, with real ext4 errors, real loop
/// devices and real crashes of the node binary.
@Suite("Node health monitor and restart recovery", .serialized, .enabled(if: runningAsRoot, "needs root for loop devices and mounts"))
struct NodeHealthTests {
    let volumeID = "pvc-health"

    /// Stages and publishes the volume for `pod`, on a new backing file of the harness or on `disk`.
    func stageAndPublish(_ harness: NodeHarness, fsType: String = "ext4", pod: String = "pod-1", on disk: FailingDisk? = nil) async throws -> (file: String, target: String) {
        let volume = try disk.map { (file: $0.file, context: ["transport": "loop", "file": $0.file]) } ?? harness.makeVolume(volumeID)
        let target = harness.targetPath(volumeID, pod: pod)
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
            #expect(log.contains("recovery: guarding a publish target"), "the bind was replaced by a guard, never left empty")
            #expect(log.contains(#""fsck_mode":"preen""#), "e2fsck -p by default")
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

    @Test("A fault the monitor cannot fix stays abnormal and is retried, with backoff, then at every sweep for ever")
    func unfixableFault() async throws {
        try await withNodeHarness(
            extraArguments: ["--recovery-backoff", "0.2", "--recovery-attempts", "2", "--health-interval", "1"]
        ) { harness in
            let (file, target) = try await stageAndPublish(harness)
            // While the node is down the device goes away for good: mounts, loop device, file.
            try await harness.stop()
            try Shell.check("umount", [target])
            try Shell.check("umount", [harness.stagingPath(volumeID)])
            for device in harness.loopDevicesInUse() { try Shell.check("losetup", ["--detach", device]) }
            try FileManager.default.removeItem(atPath: file)
            try await harness.start()

            // Two attempts with backoff, then one per sweep: five failures in a few seconds.
            let keptTrying = try await eventually(.seconds(30)) {
                (harness.process?.logText() ?? "").components(separatedBy: "recovery failed; will retry").count - 1 >= 5
            }
            #expect(keptTrying, "the monitor never gives up")
            let log = harness.process?.logText() ?? ""
            #expect(log.contains("could not restore the volume"), "the restart reconciliation tried first")
            #expect(!log.contains("giving up"))
            let stats = try await condition(harness, path: harness.stagingPath(volumeID))
            #expect(stats.abnormal == true)
            #expect(stats.message.contains("repair attempt"), "\(stats.message)")
            try await unpublishAndUnstage(harness, target: target)
            #expect(harness.recordFiles().isEmpty)
        }
    }

    /// The port of the node's metrics endpoint, from its "serving metrics" log line.
    func metric(_ harness: NodeHarness, _ name: String) throws -> Double? {
        guard let line = harness.process?.logLines().first(where: { $0.object?["msg"] as? String == "serving metrics" }),
            let address = line.object?["address"] as? String, let port = address.split(separator: ":").last
        else { return nil }
        let text = try Shell.check("curl", ["-sf", "http://127.0.0.1:\(port)/metrics"])
        return text.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.dropFirst(name.count + 1)) }
    }

    /// The sum of every sample of a metric family (all label sets).
    func metricSum(_ harness: NodeHarness, _ family: String) throws -> Double {
        guard let line = harness.process?.logLines().first(where: { $0.object?["msg"] as? String == "serving metrics" }),
            let address = line.object?["address"] as? String, let port = address.split(separator: ":").last
        else { throw TestFailure("no metrics address in the log") }
        let text = try Shell.check("curl", ["-sf", "http://127.0.0.1:\(port)/metrics"])
        return text.split(separator: "\n").filter { $0.hasPrefix(family + " ") || $0.hasPrefix(family + "{") }
            .compactMap { $0.split(separator: " ").last.flatMap { Double($0) } }.reduce(0, +)
    }

    @Test("Deep checks over healthy volumes (sweeps) start no process, and each pass's duration is exported")
    func sweepsStartNoProcess() async throws {
        try await withNodeHarness(extraArguments: ["--health-interval", "1", "--metrics-address", "127.0.0.1:0"]) { harness in
            for index in 1...3 {
                let volume = try harness.makeVolume("pvc-sweep-\(index)", size: 64 << 20)
                try await harness.stage("pvc-sweep-\(index)", context: volume.context)
            }
            let commands = try metricSum(harness, "cstor_csi_command_duration_seconds_count")
            #expect(commands > 0, "staging ran mkfs: the metric counts processes")
            let checks = try metricSum(harness, "cstor_node_health_checks_total")
            let swept = try await eventually(.seconds(20)) { try metricSum(harness, "cstor_node_health_checks_total") >= checks + 3 }
            #expect(swept, "three more passes")
            #expect(try metricSum(harness, "cstor_csi_command_duration_seconds_count") == commands, "and no process started")
            let timed = try metricSum(harness, "cstor_node_health_check_duration_seconds_count")
            #expect(timed >= checks + 3, "each pass is timed in cstor_node_health_check_duration_seconds")
            #expect(try metricSum(harness, "cstor_node_health_check_duration_seconds_sum") > 0)
            for index in 1...3 { try await harness.unstage("pvc-sweep-\(index)") }
        }
    }

    /// The target's own directory on the node's disk, seen without what is mounted on it: a bind
    /// of its parent (umount `view` when done). A write that reached the node's disk through the
    /// target path would show in `underlying`.
    func underlyingDirectory(_ harness: NodeHarness, target: String) throws -> (view: String, underlying: String) {
        let view = harness.directory.file("target-parent-view")
        try FileManager.default.createDirectory(atPath: view, withIntermediateDirectories: false)
        try Shell.check("mount", ["--bind", (target as NSString).deletingLastPathComponent, view])
        return (view, view + "/mount")
    }

    @Test("An ext4 error while a pod's private mount namespace holds the volume: nothing is unmounted, nothing reaches the node's disk, the condition, an error log and a metric name the pod and what to do; once the pod is gone the volume is repaired with its data")
    func ext4ErrorWhileHeldByPod() async throws {
        try await withNodeHarness(extraArguments: ["--health-interval", "1", "--metrics-address", "127.0.0.1:0"]) { harness in
            let (_, target) = try await stageAndPublish(harness)
            let staging = harness.stagingPath(volumeID)
            try Data("written before the fault".utf8).write(to: URL(fileURLWithPath: target + "/before.txt"))
            sync()
            let (view, underlying) = try underlyingDirectory(harness, target: target)
            defer { _ = try? Shell.run("umount", [view]) }
            // A container: its own copy of the target's mount, a file open in it.
            let holder = try harness.startHolder(keepingOpen: target + "/before.txt", privateNamespace: true)

            let loop = try #require(harness.loopDevicesInUse().first)
            try Data("cstor-csi test error".utf8).write(
                to: URL(fileURLWithPath: "/sys/fs/ext4/\((loop as NSString).lastPathComponent)/trigger_fs_error"))

            let reported = try await eventually {
                try await condition(harness, path: target).message.contains("cannot be repaired while pods hold it")
            }
            #expect(reported)
            let stats = try await condition(harness, path: target)
            #expect(stats.abnormal)
            #expect(stats.message.contains("read-only") || stats.message.contains("error"), "the cause: \(stats.message)")
            #expect(stats.message.contains("pod-1") && stats.message.contains("kubectl delete pod"), "what to do: \(stats.message)")
            let errorLine = harness.process?.logLines().first { $0.object?["msg"] as? String == "volume went read-only while pods hold it; not repaired" }
            #expect(errorLine?.object?["level"] as? String == "error")
            #expect(errorLine?.object?["volume_id"] as? String == volumeID)
            #expect(errorLine?.object?["pod_uids"] as? String == "pod-1")
            #expect(try metric(harness, "cstor_node_remount_held_by_pods_total") == 1)

            // Writes fail, through the node's path and inside the pod; none lands on the node's disk.
            #expect(!canWrite(target + "/canary"))
            let inPod = try Shell.run("nsenter", ["-t", "\(holder.pid)", "-m", "sh", "-c", "echo x > '\(target)/canary'"])
            #expect(inPod.status != 0, "the pod's copy refuses writes too")
            // Several sweeps later, still nothing unmounted and the pod still has its data.
            try await Task.sleep(for: .seconds(2.5))
            #expect(harness.isMounted(staging) && harness.isMounted(target), "nothing unmounted while the pod holds it")
            let logSoFar = harness.process?.logText() ?? ""
            #expect(!logSoFar.contains("recovery: unmounting the staging path"), "no repair step was taken")
            #expect(try metric(harness, "cstor_node_remount_held_by_pods_total") == 1, "counted once per fault")
            let inPodRead = try Shell.run("nsenter", ["-t", "\(holder.pid)", "-m", "cat", target + "/before.txt"])
            #expect(inPodRead.output == "written before the fault")

            // The pod goes: the volume is repaired and writable, with its data.
            holder.stop()
            let recovered = try await eventually { canWrite(target + "/after.txt") }
            #expect(recovered, "writable again once nothing holds it")
            #expect(try String(contentsOfFile: target + "/before.txt", encoding: .utf8) == "written before the fault")
            #expect(try await condition(harness, path: target).abnormal == false)
            #expect((try? FileManager.default.contentsOfDirectory(atPath: underlying)) == [], "nothing was written to the node's disk")
            try Shell.check("umount", [view])
            try await unpublishAndUnstage(harness, target: target)
        }
    }

    @Test("A disk that fails under a pod's private mount namespace and comes back: nothing is unmounted or written to the node's disk while it fails, the condition names the cause and the pod; once the disk is back and the pod gone the volume is repaired with the data it had")
    func diskFailsAndComesBackWhileHeldByPod() async throws {
        try await withNodeHarness(extraArguments: ["--health-interval", "1"]) { harness in
            let disk = try FailingDisk(
                mountPoint: harness.volumeDirectory + "/failing-disk", backing: harness.directory.file("failing-disk.bytes"), size: 256 << 20)
            defer { disk.close() }
            let (_, target) = try await stageAndPublish(harness, on: disk)
            let staging = harness.stagingPath(volumeID)
            try Data("written before the fault".utf8).write(to: URL(fileURLWithPath: target + "/before.txt"))
            try Data((0..<(4 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 2654435761 >> 13) }).write(to: URL(fileURLWithPath: target + "/blob"))
            sync()
            let blob = try harness.checksum(target + "/blob")
            let (view, underlying) = try underlyingDirectory(harness, target: target)
            defer { _ = try? Shell.run("umount", [view]) }
            let holder = try harness.startHolder(keepingOpen: target + "/before.txt", privateNamespace: true)

            // The disk fails (dm-error's table); the next write and flush meet it and ext4 aborts.
            disk.fail()
            _ = try Shell.run("sh", ["-c", "echo during > '\(target)/during.txt'; sync -f '\(target)'"])
            let reported = try await eventually {
                try await condition(harness, path: target).message.contains("cannot be repaired while pods hold it")
            }
            #expect(reported)
            #expect(disk.failedRequests > 0, "the I/O met the failed disk")
            let stats = try await condition(harness, path: target)
            #expect(stats.abnormal)
            #expect(stats.message.contains("refuses writes") || stats.message.contains("error"), "the cause: \(stats.message)")
            #expect(stats.message.contains("pod-1") && stats.message.contains("kubectl delete pod"), "what to do: \(stats.message)")
            #expect(!canWrite(target + "/canary"))
            let inPod = try Shell.run("nsenter", ["-t", "\(holder.pid)", "-m", "sh", "-c", "echo x > '\(target)/canary'"])
            #expect(inPod.status != 0, "the pod's copy refuses writes too")

            // The disk comes back (the linear table again). ext4 stays aborted under the pod:
            // still reported, and several sweeps later nothing was unmounted or repaired.
            disk.restore()
            try await Task.sleep(for: .seconds(2.5))
            #expect(harness.isMounted(staging) && harness.isMounted(target), "nothing unmounted while the pod holds it")
            #expect(try await condition(harness, path: target).message.contains("cannot be repaired while pods hold it"))
            let logWhileHeld = harness.process?.logText() ?? ""
            #expect(!logWhileHeld.contains("recovery: unmounting the staging path"), "no repair step was taken")
            let inPodRead = try Shell.run("nsenter", ["-t", "\(holder.pid)", "-m", "cat", target + "/before.txt"])
            #expect(inPodRead.output == "written before the fault")

            // The pod goes: the volume is checked, mounted and bound again, with the data it had.
            holder.stop()
            let recovered = try await eventually { canWrite(target + "/after.txt") }
            #expect(recovered, "writable again once the disk is back and nothing holds it")
            #expect(try String(contentsOfFile: target + "/before.txt", encoding: .utf8) == "written before the fault")
            #expect(try harness.checksum(target + "/blob") == blob)
            #expect(try await condition(harness, path: target).abnormal == false)
            #expect((try? FileManager.default.contentsOfDirectory(atPath: underlying)) == [], "nothing was written to the node's disk")
            let log = harness.process?.logText() ?? ""
            #expect(log.contains(#""fsck_mode":"preen""#), "checked with e2fsck -p")
            try Shell.check("umount", [view])
            try await unpublishAndUnstage(harness, target: target)
        }
    }

    @Test("When e2fsck -p stops (exit 4) the volume stays unmounted and the condition gives the command; after the check by hand the node mounts and binds it again")
    func preenStopsForAPerson() async throws {
        try await withNodeHarness(extraArguments: ["--health-interval", "1"]) { harness in
            let (_, target) = try await stageAndPublish(harness)
            let staging = harness.stagingPath(volumeID)
            for name in ["a", "b"] {
                try Data((0..<16384).map { UInt8(truncatingIfNeeded: $0 &* 31) }).write(to: URL(fileURLWithPath: "\(target)/\(name)"))
            }
            // While the node is down (a reboot) the filesystem takes damage e2fsck -p will not
            // repair alone: /b's extent points at /a's blocks, and ext4 had recorded an error.
            try await harness.stop()
            try Shell.check("umount", [target])
            try Shell.check("umount", [staging])
            let loop = try #require(harness.loopDevicesInUse().first)
            // (debugfs prints its banner first, on stderr, which Shell merges in.)
            let blocks = try Shell.check("debugfs", ["-R", "blocks /a", loop]).split(whereSeparator: \.isWhitespace)
            let first = try #require(blocks.first { !$0.isEmpty && $0.allSatisfy(\.isNumber) })
            try Shell.check("debugfs", ["-w", "-R", "set_inode_field /b block[5] \(first)", loop])
            try Shell.check("debugfs", ["-w", "-R", "ssv state 2", loop])
            try await harness.start()

            let stopped = try await eventually { try await condition(harness, path: target).message.contains("e2fsck -p stopped") }
            #expect(stopped)
            let message = try await condition(harness, path: target).message
            #expect(message.contains("`e2fsck -f \(loop)`"), "the command: \(message)")
            #expect(!harness.isMounted(staging), "left unmounted for the manual check, not repaired with -y")
            #expect(!harness.isMounted(target))
            let log = harness.process?.logText() ?? ""
            #expect(log.contains(#""fsck_mode":"preen""#))

            // The check by hand; the node mounts the volume again at its next attempt.
            let manual = try Shell.run("e2fsck", ["-fy", loop])
            #expect(manual.status == 1, "errors corrected: \(manual.output)")
            let recovered = try await eventually { harness.isMounted(target) && canWrite(target + "/after.txt") }
            #expect(recovered)
            #expect(try await condition(harness, path: target).abnormal == false)
            #expect(FileManager.default.fileExists(atPath: target + "/a"))
            try await unpublishAndUnstage(harness, target: target)
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
