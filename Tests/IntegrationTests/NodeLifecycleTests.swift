import CSITestSupport
import CStorCore
import CStorKubernetes
import CStorModel
import Foundation
import GRPCCore
import Testing

/// The node binary through its whole lifecycle on real loop devices, real mkfs and real mounts,
/// called the way kubelet calls it.
@Suite("Node lifecycle on loop devices", .serialized, .enabled(if: runningAsRoot, "needs root for loop devices and mounts"))
struct NodeLifecycleTests {
    func stage(
        _ harness: NodeHarness, _ volumeID: String, context: [String: String], capability: Csi_V1_VolumeCapability
    ) async throws {
        _ = try await harness.node {
            try await $0.nodeStageVolume(
                .with {
                    $0.volumeID = volumeID
                    $0.stagingTargetPath = harness.stagingPath(volumeID)
                    $0.publishContext = context
                    $0.volumeCapability = capability
                })
        }
    }

    func publish(
        _ harness: NodeHarness, _ volumeID: String, target: String, capability: Csi_V1_VolumeCapability,
        readOnly: Bool = false
    ) async throws {
        _ = try await harness.node {
            try await $0.nodePublishVolume(
                .with {
                    $0.volumeID = volumeID
                    $0.stagingTargetPath = harness.stagingPath(volumeID)
                    $0.targetPath = target
                    $0.volumeCapability = capability
                    $0.readonly = readOnly
                })
        }
    }

    func unpublish(_ harness: NodeHarness, _ volumeID: String, target: String) async throws {
        _ = try await harness.node {
            try await $0.nodeUnpublishVolume(
                .with {
                    $0.volumeID = volumeID
                    $0.targetPath = target
                })
        }
    }

    func unstage(_ harness: NodeHarness, _ volumeID: String) async throws {
        _ = try await harness.node {
            try await $0.nodeUnstageVolume(
                .with {
                    $0.volumeID = volumeID
                    $0.stagingTargetPath = harness.stagingPath(volumeID)
                })
        }
    }

    func stats(_ harness: NodeHarness, _ volumeID: String, path: String) async throws -> Csi_V1_NodeGetVolumeStatsResponse {
        try await harness.node {
            try await $0.nodeGetVolumeStats(
                .with {
                    $0.volumeID = volumeID
                    $0.volumePath = path
                })
        }
    }

    func fsType(at path: String) throws -> String? {
        let table = try KernelFile.read("/proc/self/mountinfo")
        for line in table.split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.count > 8, fields[4] == path, let dash = fields.firstIndex(of: "-") {
                return String(fields[dash + 1])
            }
        }
        return nil
    }

    @Test("A filesystem volume goes through stage, publish, write, unpublish and unstage, each call twice", arguments: ["ext4", "xfs"])
    func filesystemLifecycle(fsType: String) async throws {
        try await withNodeHarness { harness in
            let volume = try harness.makeVolume("pvc-\(fsType)")
            let capability = Csi_V1_VolumeCapability.mount(fsType)
            let volumeID = "pvc-\(fsType)"
            let target = harness.targetPath(volumeID)
            try await stage(harness, volumeID, context: volume.context, capability: capability)
            try await stage(harness, volumeID, context: volume.context, capability: capability)
            #expect(try self.fsType(at: harness.stagingPath(volumeID)) == fsType)
            #expect(harness.recordFiles().count == 1)

            try await publish(harness, volumeID, target: target, capability: capability)
            try await publish(harness, volumeID, target: target, capability: capability)
            #expect(harness.mountsBelowDirectory().filter { $0 == target }.count == 1, "publishing twice stacks no mount")

            try Data("hello from the pod".utf8).write(to: URL(fileURLWithPath: target + "/file.txt"))
            #expect(FileManager.default.fileExists(atPath: harness.stagingPath(volumeID) + "/file.txt"))

            try await unpublish(harness, volumeID, target: target)
            try await unpublish(harness, volumeID, target: target)
            #expect(!FileManager.default.fileExists(atPath: target), "the target directory is removed")

            try await unstage(harness, volumeID)
            try await unstage(harness, volumeID)
            #expect(harness.mountsBelowDirectory().isEmpty)
            #expect(harness.loopDevicesInUse().isEmpty)
            #expect(harness.recordFiles().isEmpty)

            // The data survived: staging again finds the filesystem and does not format it.
            try await stage(harness, volumeID, context: volume.context, capability: capability)
            let text = try String(contentsOfFile: harness.stagingPath(volumeID) + "/file.txt", encoding: .utf8)
            #expect(text == "hello from the pod")
            try await unstage(harness, volumeID)
        }
    }

    @Test("A raw block volume is published onto a file and carries bytes")
    func blockLifecycle() async throws {
        try await withNodeHarness { harness in
            let volume = try harness.makeVolume("pvc-block", size: 64 << 20)
            let volumeID = "pvc-block"
            let target = harness.blockTargetPath(volumeID)
            try await stage(harness, volumeID, context: volume.context, capability: .block())
            try await stage(harness, volumeID, context: volume.context, capability: .block())
            #expect(harness.loopDevicesInUse().count == 1)
            #expect(try fsType(at: harness.stagingPath(volumeID)) == nil, "a block volume is attached, not mounted")
            try await publish(harness, volumeID, target: target, capability: .block())
            try await publish(harness, volumeID, target: target, capability: .block())

            let handle = try #require(FileHandle(forUpdatingAtPath: target))
            try handle.write(contentsOf: Data("raw block bytes".utf8))
            try handle.synchronize()
            try handle.close()
            let backing = try #require(FileHandle(forReadingAtPath: volume.file))
            let read = try backing.read(upToCount: 15)
            #expect(read == Data("raw block bytes".utf8))

            let stats = try await stats(harness, volumeID, path: target)
            #expect(stats.usage.first?.total == 64 << 20)
            #expect(stats.volumeCondition.abnormal == false)

            try await unpublish(harness, volumeID, target: target)
            try await unpublish(harness, volumeID, target: target)
            #expect(!FileManager.default.fileExists(atPath: target))
            try await unstage(harness, volumeID)
            try await unstage(harness, volumeID)
            #expect(harness.loopDevicesInUse().isEmpty)
            #expect(harness.mountsBelowDirectory().isEmpty)
        }
    }

    @Test("Two pods on the node publish one volume (SINGLE_NODE_MULTI_WRITER) and both write")
    func multiWriterOnOneNode() async throws {
        try await withNodeHarness { harness in
            let volume = try harness.makeVolume("pvc-multi")
            let capability = Csi_V1_VolumeCapability.mount(mode: .singleNodeMultiWriter)
            try await stage(harness, "pvc-multi", context: volume.context, capability: capability)
            let first = harness.targetPath("pvc-multi", pod: "pod-a")
            let second = harness.targetPath("pvc-multi", pod: "pod-b")
            try await publish(harness, "pvc-multi", target: first, capability: capability)
            try await publish(harness, "pvc-multi", target: second, capability: capability)
            try Data("a".utf8).write(to: URL(fileURLWithPath: first + "/a.txt"))
            try Data("b".utf8).write(to: URL(fileURLWithPath: second + "/b.txt"))
            #expect(FileManager.default.fileExists(atPath: second + "/a.txt"))
            #expect(FileManager.default.fileExists(atPath: first + "/b.txt"))
            #expect(await rpcCode { try await unstage(harness, "pvc-multi") } == .failedPrecondition)
            try await unpublish(harness, "pvc-multi", target: first)
            #expect(await rpcCode { try await unstage(harness, "pvc-multi") } == .failedPrecondition, "still published for pod-b")
            try await unpublish(harness, "pvc-multi", target: second)
            try await unstage(harness, "pvc-multi")
        }
    }

    @Test("A stage whose attach fails leaves no record: the next stage with a good publish_context works")
    func failedAttachLeavesNothing() async throws {
        try await withNodeHarness { harness in
            let missing = ["transport": "loop", "file": harness.volumeDirectory + "/pvc-late.img"]
            #expect(await rpcCode { try await stage(harness, "pvc-late", context: missing, capability: .mount()) } == .notFound)
            #expect(harness.recordFiles().isEmpty)
            let volume = try harness.makeVolume("pvc-late")
            try await stage(harness, "pvc-late", context: volume.context, capability: .mount())
            try await unstage(harness, "pvc-late")
        }
    }

    @Test("Files found in an unmounted target are moved aside, never deleted, and the unpublish completes")
    func orphanedFilesKept() async throws {
        try await withNodeHarness { harness in
            let volume = try harness.makeVolume("pvc-orphan")
            let target = harness.targetPath("pvc-orphan")
            try await stage(harness, "pvc-orphan", context: volume.context, capability: .mount())
            try await publish(harness, "pvc-orphan", target: target, capability: .mount())
            // Something unmounted the target and a workload wrote into the bare directory.
            try Shell.check("umount", [target])
            try Data("written on the node's disk".utf8).write(to: URL(fileURLWithPath: target + "/stray.txt"))
            try await unpublish(harness, "pvc-orphan", target: target)
            #expect(!FileManager.default.fileExists(atPath: target))
            let kept = try FileManager.default.contentsOfDirectory(atPath: harness.stateDirectory + "/orphaned")
            #expect(kept.count == 1)
            let moved = harness.stateDirectory + "/orphaned/" + (kept.first ?? "") + "/stray.txt"
            #expect(try String(contentsOfFile: moved, encoding: .utf8) == "written on the node's disk")
            try await unstage(harness, "pvc-orphan")
        }
    }

    @Test("A read-only publish refuses writes while the staging mount stays writable")
    func readOnlyPublish() async throws {
        try await withNodeHarness { harness in
            let volume = try harness.makeVolume("pvc-ro")
            let volumeID = "pvc-ro"
            let target = harness.targetPath(volumeID)
            try await stage(harness, volumeID, context: volume.context, capability: .mount())
            try await publish(harness, volumeID, target: target, capability: .mount(), readOnly: true)
            let fd = open(target + "/nope", O_CREAT | O_WRONLY, 0o644)
            let openErrno = errno
            if fd >= 0 { close(fd) }
            #expect(fd < 0 && openErrno == EROFS, "writing through a read-only publish fails with EROFS")
            #expect(FileManager.default.createFile(atPath: harness.stagingPath(volumeID) + "/yes", contents: Data("x".utf8)))
            // Publishing the same target read-write is a conflict, not a silent change.
            let code = await rpcCode { try await publish(harness, volumeID, target: target, capability: .mount()) }
            #expect(code == .alreadyExists)
            try await unpublish(harness, volumeID, target: target)
            try await unstage(harness, volumeID)
        }
    }

    @Test("Stats report bytes and inodes; a staging mount turned read-only makes the condition abnormal")
    func statsAndCondition() async throws {
        // Without the monitor, which would repair the read-only mount before we look.
        try await withNodeHarness(extraArguments: ["--remount", "false"]) { harness in
            let volume = try harness.makeVolume("pvc-stats")
            let volumeID = "pvc-stats"
            let target = harness.targetPath(volumeID)
            try await stage(harness, volumeID, context: volume.context, capability: .mount())
            try await publish(harness, volumeID, target: target, capability: .mount())
            let healthy = try await stats(harness, volumeID, path: target)
            #expect(healthy.volumeCondition.abnormal == false)
            let bytes = try #require(healthy.usage.first { $0.unit == .bytes })
            let inodes = try #require(healthy.usage.first { $0.unit == .inodes })
            #expect(bytes.total > 400 << 20 && bytes.total <= 512 << 20)
            #expect(bytes.available > 0 && bytes.used >= 0 && bytes.available + bytes.used <= bytes.total)
            #expect(inodes.total > 0 && inodes.used > 0)

            try Shell.check("mount", ["-o", "remount,ro", harness.stagingPath(volumeID)])
            let faulty = try await stats(harness, volumeID, path: target)
            #expect(faulty.volumeCondition.abnormal == true)
            #expect(faulty.volumeCondition.message.contains("read-only"))

            try Shell.check("mount", ["-o", "remount,rw", harness.stagingPath(volumeID)])
            let recovered = try await stats(harness, volumeID, path: harness.stagingPath(volumeID))
            #expect(recovered.volumeCondition.abnormal == false)

            let unknownPath = await rpcCode { try await stats(harness, volumeID, path: harness.kubeletDirectory + "/elsewhere") }
            #expect(unknownPath == .notFound)
            let unknownVolume = await rpcCode { try await stats(harness, "pvc-unknown", path: target) }
            #expect(unknownVolume == .notFound)
            try await unpublish(harness, volumeID, target: target)
            try await unstage(harness, volumeID)
        }
    }

    func expand(_ harness: NodeHarness, _ volumeID: String, path: String, bytes: Int64) async throws -> Int64 {
        try await harness.node {
            try await $0.nodeExpandVolume(
                .with {
                    $0.volumeID = volumeID
                    $0.volumePath = path
                    $0.capacityRange = .with { $0.requiredBytes = bytes }
                })
        }.capacityBytes
    }

    @Test(
        "NodeExpandVolume grows the filesystem after the backing file grew (xfs in use, ext4 staged)",
        arguments: [("xfs", true), ("ext4", false)])
    func expansion(fsType: String, published: Bool) async throws {
        try await withNodeHarness { harness in
            let volumeID = "pvc-grow-\(fsType)"
            let volume = try harness.makeVolume(volumeID, size: 512 << 20)
            let target = harness.targetPath(volumeID)
            let path = published ? target : harness.stagingPath(volumeID)
            try await stage(harness, volumeID, context: volume.context, capability: .mount(fsType))
            if published { try await publish(harness, volumeID, target: target, capability: .mount(fsType)) }
            try Data("before".utf8).write(to: URL(fileURLWithPath: path + "/kept.txt"))
            let before = try await stats(harness, volumeID, path: path).usage.first { $0.unit == .bytes }?.total ?? 0
            #expect(truncate(volume.file, off_t(1 << 30)) == 0)
            #expect(try await expand(harness, volumeID, path: path, bytes: 1 << 30) == 1 << 30)
            let after = try await stats(harness, volumeID, path: path).usage.first { $0.unit == .bytes }?.total ?? 0
            #expect(after > before + (400 << 20), "filesystem grew from \(before) to \(after)")
            #expect(try String(contentsOfFile: path + "/kept.txt", encoding: .utf8) == "before")
            // Called again at the new size: nothing to do, same answer.
            #expect(try await expand(harness, volumeID, path: path, bytes: 1 << 30) == 1 << 30)

            let notStaged = await rpcCode { try await expand(harness, "pvc-not-staged", path: path, bytes: 1 << 30) }
            #expect(notStaged == .notFound)
            let notOurs = await rpcCode {
                try await expand(harness, volumeID, path: harness.kubeletDirectory + "/other", bytes: 1 << 30)
            }
            #expect(notOurs == .notFound)
            if published { try await unpublish(harness, volumeID, target: target) }
            try await unstage(harness, volumeID)
        }
    }

    @Test("A published ext4 volume grows online, or, without CAP_SYS_RESOURCE, is refused with the reason")
    func ext4OnlineExpansion() async throws {
        try await withNodeHarness { harness in
            let volumeID = "pvc-grow-online"
            let volume = try harness.makeVolume(volumeID, size: 512 << 20)
            let target = harness.targetPath(volumeID)
            try await stage(harness, volumeID, context: volume.context, capability: .mount("ext4"))
            try await publish(harness, volumeID, target: target, capability: .mount("ext4"))
            #expect(truncate(volume.file, off_t(1 << 30)) == 0)
            let error = await rpcError { try await expand(harness, volumeID, path: target, bytes: 1 << 30) }
            if ProcessCapabilities.has(ProcessCapabilities.sysResource) {
                #expect(error == nil)
            } else {
                #expect(error?.code == .failedPrecondition)
                #expect(error?.message.contains("CAP_SYS_RESOURCE") == true)
            }
            #expect(harness.mountsBelowDirectory().contains(target), "the published volume stays mounted")
            try await unpublish(harness, volumeID, target: target)
            try await unstage(harness, volumeID)
        }
    }

    @Test("A device holding another filesystem, a partition table or data is never formatted")
    func neverFormatsData() async throws {
        try await withNodeHarness { harness in

            // Another filesystem: refused, and it is still there afterwards.
            let xfsVolume = try harness.makeVolume("pvc-has-xfs")
            try Shell.check("mkfs.xfs", ["-q", xfsVolume.file])
            let wrongFs = await rpcError {
            try await stage(harness, "pvc-has-xfs", context: xfsVolume.context, capability: .mount("ext4"))
            }
            #expect(wrongFs?.code == .failedPrecondition)
            #expect(wrongFs?.message.contains("xfs") == true)
            #expect(try Shell.check("blkid", ["-p", "-o", "value", "-s", "TYPE", xfsVolume.file]).contains("xfs"))

            // A partition table: refused, the table survives.
            let partitioned = try harness.makeVolume("pvc-partitioned", size: 64 << 20)
            var mbr = Data(count: 512)
            mbr[446 + 4] = 0x83
            mbr.replaceSubrange(446 + 8..<446 + 16, with: [0x00, 0x08, 0, 0, 0x00, 0x00, 0x01, 0])
            mbr[510] = 0x55
            mbr[511] = 0xAA
            let handle = try #require(FileHandle(forWritingAtPath: partitioned.file))
            try handle.write(contentsOf: mbr)
            try handle.close()
            let partition = await rpcError {
            try await stage(harness, "pvc-partitioned", context: partitioned.context, capability: .mount("ext4"))
            }
            #expect(partition?.code == .failedPrecondition)
            #expect(partition?.message.contains("partition table") == true)
            #expect(try Shell.check("blkid", ["-p", "-o", "export", partitioned.file]).contains("PTTYPE=dos"))

            // An ext4 filesystem with a file: staged as is, the file is there.
            let existing = try harness.makeVolume("pvc-existing")
            try Shell.check("mkfs.ext4", ["-q", "-F", existing.file])
            try Shell.check("debugfs", ["-w", "-R", "mkdir keep", existing.file])
            try await stage(harness, "pvc-existing", context: existing.context, capability: .mount("ext4"))
            #expect(FileManager.default.fileExists(atPath: harness.stagingPath("pvc-existing") + "/keep"))
            try await unstage(harness, "pvc-existing")
        }
    }

    @Test("Killing the node between steps and calling again completes the lifecycle without leaks")
    func crashBetweenSteps() async throws {
        try await withNodeHarness { harness in
            let volume = try harness.makeVolume("pvc-crash")
            let volumeID = "pvc-crash"
            let target = harness.targetPath(volumeID)
            try await stage(harness, volumeID, context: volume.context, capability: .mount())
            try await harness.crash()
            try await harness.start()
            try await stage(harness, volumeID, context: volume.context, capability: .mount())
            try await publish(harness, volumeID, target: target, capability: .mount())
            try await harness.crash()
            try await harness.start()
            try await publish(harness, volumeID, target: target, capability: .mount())
            #expect(harness.mountsBelowDirectory().filter { $0 == target }.count == 1)
            try await unpublish(harness, volumeID, target: target)
            try await harness.crash()
            try await harness.start()
            try await unpublish(harness, volumeID, target: target)
            try await unstage(harness, volumeID)
            try await harness.crash()
            try await harness.start()
            try await unstage(harness, volumeID)
            #expect(harness.mountsBelowDirectory().isEmpty)
            #expect(harness.loopDevicesInUse().isEmpty)
            #expect(harness.recordFiles().isEmpty)
        }
    }

    @Test("Unstage with the state record lost still unmounts and detaches what is left")
    func unstageWithoutRecord() async throws {
        try await withNodeHarness { harness in
            let volume = try harness.makeVolume("pvc-lost")
            try await stage(harness, "pvc-lost", context: volume.context, capability: .mount())
            try await harness.stop()
            try FileManager.default.removeItem(atPath: harness.stateDirectory + "/volumes")
            try await harness.start()
            try await unstage(harness, "pvc-lost")
            #expect(harness.mountsBelowDirectory().isEmpty)
            #expect(harness.loopDevicesInUse().isEmpty)
        }
    }

    @Test("Unstage is refused while the volume is still published")
    func unstageWhilePublished() async throws {
        try await withNodeHarness { harness in
            let volume = try harness.makeVolume("pvc-busy")
            let target = harness.targetPath("pvc-busy")
            try await stage(harness, "pvc-busy", context: volume.context, capability: .mount())
            try await publish(harness, "pvc-busy", target: target, capability: .mount())
            let code = await rpcCode { try await unstage(harness, "pvc-busy") }
            #expect(code == .failedPrecondition)
            #expect(harness.mountsBelowDirectory().contains(harness.stagingPath("pvc-busy")))
            try await unpublish(harness, "pvc-busy", target: target)
            try await unstage(harness, "pvc-busy")
        }
    }

    @Test("Probe is ready when the tools are installed; NodeGetInfo and capabilities describe the node")
    func infoAndCapabilities() async throws {
        try await withNodeHarness(extraArguments: ["--max-volumes-per-node", "42"]) { harness in
            let info = try await harness.node { try await $0.nodeGetInfo(.init()) }
            #expect(info.nodeID == "node-1")
            #expect(info.maxVolumesPerNode == 42)
            #expect(info.accessibleTopology.segments == ["topology.cstor.openebs.io/nodeName": "node-1"])
            let caps = try await harness.node { try await $0.nodeGetCapabilities(.init()) }
            let types = Set(caps.capabilities.map(\.rpc.type))
            #expect(types == [.stageUnstageVolume, .expandVolume, .getVolumeStats, .volumeCondition, .singleNodeMultiWriter])
            let probe = try await withCSIClient(socket: harness.socketPath) {
            try await Csi_V1_Identity.Client(wrapping: $0).probe(.init())
            }
            #expect(probe.ready.value == true)
        }
    }

    @Test("The node refuses to start when --kubelet-dir does not exist")
    func kubeletDirValidated() async throws {
        let dir = try TemporaryDirectory()
        let process = try PluginProcess(
            binary: "cstor-node", socketPath: dir.file("csi.sock"),
            arguments: ["--node-id", "n", "--kubelet-dir", dir.file("missing")], logDirectory: dir.url)
        #expect(try await process.waitForExit() != 0)
        #expect(process.logText().contains("--kubelet-dir"))
        #expect(process.logText().contains("kubeletDir"))
    }
}
