import CSITestSupport
import CStorCore
import CStorKubernetes
import CStorModel
import Foundation
import GRPCCore
import Testing

/// What the node must never do, shown with real parts: loop devices, mkfs, mounts, a process in
/// its own mount namespace holding a file open (as a pod's container does), symlinks planted
/// where kubelet's paths go. Each test names the data-loss or stranding it rules out.
@Suite("Node safety: nothing lost, nothing stranded", .serialized, .enabled(if: runningAsRoot, "needs root for loop devices and mounts"))
struct NodeSafetyTests {
    /// Calls `body` until it succeeds (kubelet retries failed calls), at most `attempts` times.
    func retried(_ attempts: Int = 50, _ body: () async throws -> Void) async throws {
        for attempt in 1...attempts {
            do {
                try await body()
                return
            } catch where attempt < attempts {
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    // MARK: 2. Unstage never detaches a disk in use

    @Test("Unstage never detaches a device a pod's mount namespace still holds: the error names the process; after it exits the retry completes, data intact")
    func unstageHeldByMountNamespace() async throws {
        try await withNodeHarness { harness in
            let volume = try harness.makeVolume("pvc-held")
            try await harness.stage("pvc-held", context: volume.context)
            let staging = harness.stagingPath("pvc-held")
            try Data("kept".utf8).write(to: URL(fileURLWithPath: staging + "/data"))
            let holder = try harness.startHolder(keepingOpen: staging + "/data", privateNamespace: true)

            for call in 1...2 {
                let error = await rpcError { try await harness.unstage("pvc-held") }
                #expect(error?.code == .unavailable, "call \(call): refused, never OK while held")
                #expect(error?.message.contains("mount namespace of process \(holder.pid) (sleep)") == true, "\(error?.message ?? "")")
                #expect(harness.loopDevices(backing: volume.file).count == 1, "call \(call): the device stays attached")
                #expect(harness.recordFiles().count == 1, "call \(call): the record stays for the retry")
            }
            holder.stop()
            try await retried { try await harness.unstage("pvc-held") }
            #expect(harness.loopDevices(backing: volume.file).isEmpty)
            #expect(harness.recordFiles().isEmpty)
            try await harness.stage("pvc-held", context: volume.context)
            #expect(try String(contentsOfFile: staging + "/data", encoding: .utf8) == "kept")
            try await harness.unstage("pvc-held")
        }
    }

    @Test("A busy staging mount is never detached lazily: unstage fails naming the process, the mount and device stay; the retry after it exits completes")
    func busyUnmountNotLazy() async throws {
        try await withNodeHarness { harness in
            let volume = try harness.makeVolume("pvc-busy-unmount")
            try await harness.stage("pvc-busy-unmount", context: volume.context)
            let staging = harness.stagingPath("pvc-busy-unmount")
            try Data("x".utf8).write(to: URL(fileURLWithPath: staging + "/open"))
            let holder = try harness.startHolder(keepingOpen: staging + "/open", privateNamespace: false)
            let error = await rpcError { try await harness.unstage("pvc-busy-unmount") }
            #expect(error?.code == .unavailable)
            #expect(error?.message.contains("process \(holder.pid) (sleep) has files open") == true, "\(error?.message ?? "")")
            #expect(harness.isMounted(staging), "not detached lazily")
            #expect(harness.loopDevices(backing: volume.file).count == 1)
            holder.stop()
            try await harness.unstage("pvc-busy-unmount")
            #expect(!harness.isMounted(staging))
            #expect(harness.loopDevices(backing: volume.file).isEmpty)
        }
    }

    // MARK: 3. The device is identified and checked before every write

    @Test("A volume whose device is another disk now (its backing file replaced) is refused by NodeStage and the monitor: nothing formatted")
    func replacedDeviceRefused() async throws {
        try await withNodeHarness { harness in
            let volume = try harness.makeVolume("pvc-replaced")
            try await harness.stage("pvc-replaced", context: volume.context)
            try Data("on the original disk".utf8).write(to: URL(fileURLWithPath: harness.stagingPath("pvc-replaced") + "/data"))
            // The node goes away; meanwhile its volume is replaced by an empty one at the same place.
            try await harness.stop()
            try Shell.check("umount", [harness.stagingPath("pvc-replaced")])
            for device in harness.loopDevices(backing: volume.file) { try Shell.check("losetup", ["--detach", device]) }
            try FileManager.default.moveItem(atPath: volume.file, toPath: volume.file + ".original")
            _ = try harness.makeVolume("pvc-replaced")
            let empty = try harness.checksum(volume.file)
            try await harness.start()

            let error = await rpcError { try await harness.stage("pvc-replaced", context: volume.context) }
            #expect(error?.code == .failedPrecondition)
            #expect(error?.message.contains("another LUN") == true, "\(error?.message ?? "")")
            #expect(error?.message.contains("Nothing was formatted") == true)
            #expect(try harness.checksum(volume.file) == empty, "the replacement was not formatted")
            #expect(!harness.isMounted(harness.stagingPath("pvc-replaced")))
            try await harness.unstage("pvc-replaced")
        }
    }

    @Test("Resuming an interrupted format never reformats because e2fsck cannot run (a missing program): the data stays, and the check runs once it can")
    func resumeWithoutE2fsck() async throws {
        let harness = try NodeHarness()
        do {
            let volume = try harness.makeVolume("pvc-resume")
            harness.environment = ["CSTOR_CSI_CRASH_AT": "stage.formatting"]
            try await harness.start()
            _ = await rpcCode { try await harness.stage("pvc-resume", context: volume.context) }
            _ = try await harness.process?.waitForExit()
            // The device holds a filesystem with data now (the wrong LUN, or our mkfs that ended).
            for device in harness.loopDevices(backing: volume.file) { try Shell.check("losetup", ["--detach", device]) }
            try Shell.check("mkfs.ext4", ["-q", "-F", volume.file])
            try Shell.check("debugfs", ["-w", "-R", "mkdir precious", volume.file])
            let before = try harness.checksum(volume.file)

            harness.environment = ["PATH": try harness.pathWithout(["e2fsck"])]
            try await harness.start()
            let error = await rpcError { try await harness.stage("pvc-resume", context: volume.context) }
            #expect(error != nil, "no check, no stage")
            #expect(error?.message.contains("e2fsck") == true, "\(error?.message ?? "")")
            try await harness.stop()
            for device in harness.loopDevices(backing: volume.file) { try Shell.check("losetup", ["--detach", device]) }
            #expect(try harness.checksum(volume.file) == before, "not formatted again")

            harness.environment = [:]
            try await harness.start()
            try await harness.stage("pvc-resume", context: volume.context)
            #expect(FileManager.default.fileExists(atPath: harness.stagingPath("pvc-resume") + "/precious"))
            try await harness.unstage("pvc-resume")
        } catch {
            let log = harness.process?.logText() ?? ""
            await harness.tearDown()
            throw TestFailure("\(error)\n--- node log ---\n\(log.suffix(6000))")
        }
        await harness.tearDown()
    }

    // MARK: 4. "Holds nothing" means nothing

    @Test(
        "A device with a damaged filesystem that blkid calls empty is never formatted",
        arguments: [
            ("ext4", [(1024, 1024)], "first MiB"),
            ("ext4", [(0, 1 << 20), (-(1 << 20), 1 << 20)], "ext4 backup superblock"),
            ("xfs", [(0, 1 << 20), (-(1 << 20), 1 << 20)], "XFS secondary superblock"),
        ] as [(String, [(Int, Int)], String)])
    func damagedFilesystemNotFormatted(fsType: String, zeroed: [(Int, Int)], found: String) async throws {
        try await withNodeHarness { harness in
            let volumeID = "pvc-damaged-\(fsType)"
            let volume = try harness.makeVolume(volumeID)
            try Shell.check("mkfs.\(fsType)", (fsType == "ext4" ? ["-q", "-F"] : ["-q", "-f"]) + [volume.file])
            let size = 512 << 20
            for (offset, length) in zeroed {
                let start = offset < 0 ? size + offset : offset
                let handle = try #require(FileHandle(forWritingAtPath: volume.file))
                try handle.seek(toOffset: UInt64(start))
                try handle.write(contentsOf: Data(count: length))
                try handle.close()
            }
            #expect(try Shell.run("blkid", ["-p", volume.file]).status == 2, "blkid -p finds nothing")
            let before = try harness.checksum(volume.file)
            let error = await rpcError { try await harness.stage(volumeID, context: volume.context, capability: .mount(fsType)) }
            #expect(error?.code == .failedPrecondition)
            #expect(error?.message.contains(found) == true, "\(error?.message ?? "")")
            #expect(try harness.checksum(volume.file) == before, "not a byte written")
            #expect(harness.recordFiles().isEmpty, "a refused first stage leaves no record")
            #expect(harness.loopDevices(backing: volume.file).isEmpty, "and no loop device")
        }
    }

    // MARK: 5. Publish only a live mount

    @Test("Publish refuses a staging path whose mount is gone: nothing of the node's disk is bound into the pod")
    func publishNeedsLiveMount() async throws {
        try await withNodeHarness(extraArguments: ["--remount", "false"]) { harness in
            let volume = try harness.makeVolume("pvc-live")
            let target = harness.targetPath("pvc-live")
            try await harness.stage("pvc-live", context: volume.context)
            try Shell.check("umount", [harness.stagingPath("pvc-live")])
            let error = await rpcError { try await harness.publish("pvc-live", target: target) }
            #expect(error?.code == .failedPrecondition)
            #expect(error?.message.contains("not mounted at its staging path") == true, "\(error?.message ?? "")")
            #expect(!harness.isMounted(target))
            try await harness.stage("pvc-live", context: volume.context)
            try await harness.publish("pvc-live", target: target)
            try Data("in the volume".utf8).write(to: URL(fileURLWithPath: target + "/file"))
            #expect(FileManager.default.fileExists(atPath: harness.stagingPath("pvc-live") + "/file"))
            try await harness.unpublish("pvc-live", target: target)
            try await harness.unstage("pvc-live")
        }
    }

    @Test("A read-only staging mount whose check fails on NodeStage is not left 'staged': publish refuses it")
    func failedReadOnlyRestageNotPublishable() async throws {
        try await withNodeHarness(extraArguments: ["--remount", "false"]) { harness in
            harness.environment = ["PATH": try harness.pathWithout(["e2fsck"])]
            try await harness.stop()
            try await harness.start()
            let volume = try harness.makeVolume("pvc-ro-restage")
            let target = harness.targetPath("pvc-ro-restage")
            try await harness.stage("pvc-ro-restage", context: volume.context)
            try Shell.check("mount", ["-o", "remount,ro", harness.stagingPath("pvc-ro-restage")])
            let stage = await rpcError { try await harness.stage("pvc-ro-restage", context: volume.context) }
            #expect(stage != nil)
            #expect(!harness.isMounted(harness.stagingPath("pvc-ro-restage")))
            let publish = await rpcError { try await harness.publish("pvc-ro-restage", target: target) }
            #expect(publish?.code == .failedPrecondition, "\(publish?.message ?? "")")
            #expect(!harness.isMounted(target))
            try await harness.unstage("pvc-ro-restage")
        }
    }

    // MARK: 6. State records, write probe, EXDEV

    @Test("An unreadable state record refuses every RPC of its volume, naming the file: nothing is unmounted or detached")
    func unreadableRecordRefuses() async throws {
        try await withNodeHarness { harness in
            let volume = try harness.makeVolume("pvc-torn")
            try await harness.stage("pvc-torn", context: volume.context)
            try await harness.stop()
            let file = harness.stateDirectory + "/volumes/pvc-torn.json"
            try Data("{ \"volumeID\": ".utf8).write(to: URL(fileURLWithPath: file))
            try await harness.start()
            let calls: [(String, () async throws -> Void)] = [
                ("unstage", { try await harness.unstage("pvc-torn") }),
                ("stage", { try await harness.stage("pvc-torn", context: volume.context) }),
                ("publish", { try await harness.publish("pvc-torn", target: harness.targetPath("pvc-torn")) }),
                ("unpublish", { try await harness.unpublish("pvc-torn", target: harness.targetPath("pvc-torn")) }),
            ]
            for (name, call) in calls {
                let error = await rpcError(call)
                #expect(error?.code == .failedPrecondition, "\(name)")
                #expect(error?.message.contains(file) == true, "\(name): \(error?.message ?? "")")
            }
            #expect(harness.isMounted(harness.stagingPath("pvc-torn")), "still mounted")
            #expect(harness.loopDevices(backing: volume.file).count == 1, "still attached")
        }
    }

    @Test("Temporary files of interrupted record writes are removed at start-up")
    func leftoverTemporaryFilesRemoved() async throws {
        let harness = try NodeHarness()
        let volumes = harness.stateDirectory + "/volumes"
        try FileManager.default.createDirectory(atPath: volumes, withIntermediateDirectories: true)
        let leftover = volumes + "/pvc-x.json.tmp-4242-123456"
        FileManager.default.createFile(atPath: leftover, contents: Data("{".utf8))
        do {
            try await harness.start()
            #expect(!FileManager.default.fileExists(atPath: leftover))
        } catch {
            await harness.tearDown()
            throw error
        }
        await harness.tearDown()
    }

    @Test("Files found in an unmounted target are kept even when the state directory is on another filesystem (EXDEV)")
    func orphanedFilesAcrossFilesystems() async throws {
        let harness = try NodeHarness()
        try FileManager.default.createDirectory(atPath: harness.stateDirectory, withIntermediateDirectories: true)
        try Shell.check("mount", ["-t", "tmpfs", "-o", "size=16m", "tmpfs", harness.stateDirectory])
        do {
            try await harness.start()
            let volume = try harness.makeVolume("pvc-exdev")
            let target = harness.targetPath("pvc-exdev")
            try await harness.stage("pvc-exdev", context: volume.context)
            try await harness.publish("pvc-exdev", target: target)
            try Shell.check("umount", [target])
            try FileManager.default.createDirectory(atPath: target + "/sub", withIntermediateDirectories: true)
            try Data("written on the node's disk".utf8).write(to: URL(fileURLWithPath: target + "/sub/stray.txt"))
            try FileManager.default.createSymbolicLink(atPath: target + "/link", withDestinationPath: "/etc/passwd")
            try await harness.unpublish("pvc-exdev", target: target)
            #expect(!FileManager.default.fileExists(atPath: target))
            let kept = try FileManager.default.contentsOfDirectory(atPath: harness.stateDirectory + "/orphaned")
            #expect(kept.count == 1)
            let base = harness.stateDirectory + "/orphaned/" + (kept.first ?? "")
            #expect(try String(contentsOfFile: base + "/sub/stray.txt", encoding: .utf8) == "written on the node's disk")
            #expect(try FileManager.default.destinationOfSymbolicLink(atPath: base + "/link") == "/etc/passwd", "a symlink is kept as a symlink")
            try await harness.unstage("pvc-exdev")
        } catch {
            let log = harness.process?.logText() ?? ""
            await harness.tearDown()
            throw TestFailure("\(error)\n--- node log ---\n\(log.suffix(6000))")
        }
        await harness.tearDown()
    }

    // MARK: 7. Hostile paths, flags and contexts

    /// A directory outside every root, its listing, and links to it from inside the kubelet
    /// directory: absolute, relative, and through "/".
    struct Outside {
        let path: String
        let links: [String]

        init(_ harness: NodeHarness) throws {
            path = harness.directory.file("outside")
            try FileManager.default.createDirectory(atPath: path + "/full-dir", withIntermediateDirectories: true)
            FileManager.default.createFile(atPath: path + "/full-dir/keep", contents: Data("keep".utf8))
            FileManager.default.createFile(atPath: path + "/pvc-ghost", contents: nil)
            try FileManager.default.createDirectory(atPath: path + "/pvc-ghost-dir", withIntermediateDirectories: true)
            FileManager.default.createFile(atPath: path + "/pvc-ghost-dir/keep", contents: Data("keep".utf8))
            let kubelet = harness.kubeletDirectory
            try FileManager.default.createSymbolicLink(atPath: kubelet + "/l-abs", withDestinationPath: path)
            try FileManager.default.createSymbolicLink(atPath: kubelet + "/l-rel", withDestinationPath: "../outside")
            try FileManager.default.createSymbolicLink(atPath: kubelet + "/l-root", withDestinationPath: "/")
            links = [kubelet + "/l-abs", kubelet + "/l-rel", kubelet + "/l-root" + path]
        }

        func listing() -> [String] {
            (FileManager.default.enumerator(atPath: path)?.allObjects as? [String] ?? []).sorted()
        }
    }

    @Test("Staging and target paths through a symlink are refused: nothing is created, mounted or removed outside the kubelet directory")
    func symlinkedPathsRefused() async throws {
        try await withNodeHarness { harness in
            let outside = try Outside(harness)
            let before = outside.listing()
            let volume = try harness.makeVolume("pvc-escape")
            for (index, link) in outside.links.enumerated() {
                let staging = "\(link)/stage-\(index)/globalmount"
                let code = await rpcCode { try await harness.stage("pvc-escape", context: volume.context, stagingPath: staging) }
                #expect(code == .invalidArgument, "stage at \(staging)")
                let block = await rpcCode {
                    try await harness.stage("pvc-escape", context: volume.context, capability: .block(), stagingPath: staging)
                }
                #expect(block == .invalidArgument, "block stage at \(staging)")
            }
            #expect(harness.recordFiles().isEmpty, "refused stages leave no record")
            #expect(harness.loopDevicesInUse().isEmpty)

            // A good stage, then publishes through the links, onto new and existing paths.
            try await harness.stage("pvc-escape", context: volume.context)
            for link in outside.links {
                for target in ["\(link)/pod/mount", "\(link)/full-dir"] {
                    let code = await rpcCode { try await harness.publish("pvc-escape", target: target) }
                    #expect(code == .invalidArgument, "publish at \(target)")
                }
            }
            try await harness.unstage("pvc-escape")
            let blockVolume = try harness.makeVolume("pvc-escape-block", size: 64 << 20)
            try await harness.stage("pvc-escape-block", context: blockVolume.context, capability: .block())
            for link in outside.links {
                let code = await rpcCode { try await harness.publish("pvc-escape-block", target: "\(link)/device", capability: .block()) }
                #expect(code == .invalidArgument, "block publish through \(link)")
            }
            try await harness.unstage("pvc-escape-block")

            // Unpublish of a volume never staged here, at paths through the links.
            for link in outside.links {
                for name in ["pvc-ghost", "pvc-ghost-dir"] {
                    _ = await rpcCode { try await harness.unpublish(name, target: "\(link)/\(name)") }
                }
            }
            #expect(outside.listing() == before, "outside is untouched")
            #expect(!harness.mountsBelowDirectory().contains { $0.hasPrefix(outside.path) }, "nothing mounted outside")
        }
    }

    @Test("A loop backing file through a symlink in --loop-dir is never attached or formatted")
    func loopFileThroughSymlinkRefused() async throws {
        try await withNodeHarness { harness in
            let outside = harness.directory.file("outside-files")
            try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
            let precious = outside + "/precious.img"
            FileManager.default.createFile(atPath: precious, contents: nil)
            #expect(truncate(precious, 64 << 20) == 0)
            let before = try harness.checksum(precious)
            try FileManager.default.createSymbolicLink(atPath: harness.volumeDirectory + "/link.img", withDestinationPath: precious)
            try FileManager.default.createSymbolicLink(atPath: harness.volumeDirectory + "/sub", withDestinationPath: outside)
            for file in [harness.volumeDirectory + "/link.img", harness.volumeDirectory + "/sub/precious.img"] {
                let error = await rpcError { try await harness.stage("pvc-link", context: ["transport": "loop", "file": file]) }
                #expect(error?.code == .invalidArgument, "\(file): \(error?.message ?? "")")
            }
            #expect(harness.loopDevices(backing: precious).isEmpty)
            #expect(try harness.checksum(precious) == before, "not formatted")
            #expect(harness.recordFiles().isEmpty)
        }
    }

    @Test("Mount flags that change what is mounted (offset=, loop=, sizelimit=, bind, sb=) are InvalidArgument; ordinary flags work")
    func sourceChangingFlagsRefused() async throws {
        try await withNodeHarness { harness in
            let volume = try harness.makeVolume("pvc-flags")
            for flag in ["offset=0", "loop=/dev/loop0", "sizelimit=1048576", "bind", "sb=8193", "journal_path=/dev/sda"] {
                let error = await rpcError { try await harness.stage("pvc-flags", context: volume.context, capability: .mount(flags: [flag])) }
                #expect(error?.code == .invalidArgument, "\(flag)")
                #expect(error?.message.contains(flag) == true)
            }
            #expect(harness.recordFiles().isEmpty)
            try await harness.stage("pvc-flags", context: volume.context, capability: .mount(flags: ["noatime", "discard", "errors=continue"]))
            #expect(harness.loopDevicesInUse().count == 1, "one loop device: the volume's own")
            try await harness.unstage("pvc-flags")
            #expect(harness.loopDevicesInUse().isEmpty)
        }
    }

    @Test("A stage refused for another volume's publish_context, or at a bad path, leaves nothing behind: unstage and a later good stage work")
    func refusedStageLeavesNothing() async throws {
        try await withNodeHarness { harness in
            let owner = try harness.makeVolume("pvc-owner")
            try await harness.stage("pvc-owner", context: owner.context)
            try Data("owner's".utf8).write(to: URL(fileURLWithPath: harness.stagingPath("pvc-owner") + "/data"))

            let error = await rpcError { try await harness.stage("pvc-intruder", context: owner.context) }
            #expect(error?.code == .failedPrecondition)
            #expect(error?.message.contains("pvc-owner") == true)
            #expect(harness.recordFiles().count == 1, "only the owner's record")
            try await harness.unstage("pvc-intruder")
            #expect(try String(contentsOfFile: harness.stagingPath("pvc-owner") + "/data", encoding: .utf8) == "owner's")
            #expect(harness.loopDevices(backing: owner.file).count == 1, "the owner's device is untouched")

            let late = try harness.makeVolume("pvc-late-path")
            try FileManager.default.createSymbolicLink(atPath: harness.kubeletDirectory + "/bad", withDestinationPath: harness.directory.path)
            let bad = await rpcCode { try await harness.stage("pvc-late-path", context: late.context, stagingPath: harness.kubeletDirectory + "/bad/x/globalmount") }
            #expect(bad == .invalidArgument)
            try await harness.stage("pvc-late-path", context: late.context)
            try await harness.unstage("pvc-late-path")
            try await harness.unstage("pvc-owner")
        }
    }

    @Test("A --kubelet-dir that is itself a symlink is resolved once: requests through it work, mounts land under the real directory")
    func symlinkedKubeletRoot() async throws {
        let harness = try NodeHarness()
        let real = harness.kubeletDirectory + "-real"
        try FileManager.default.moveItem(atPath: harness.kubeletDirectory, toPath: real)
        try FileManager.default.createSymbolicLink(atPath: harness.kubeletDirectory, withDestinationPath: real)
        do {
            try await harness.start()
            let volume = try harness.makeVolume("pvc-rooted")
            let target = harness.targetPath("pvc-rooted")
            try await harness.stage("pvc-rooted", context: volume.context)
            try await harness.publish("pvc-rooted", target: target)
            let resolvedTarget = real + target.dropFirst(harness.kubeletDirectory.count)
            #expect(harness.isMounted(resolvedTarget), "the kernel's mount table names the real path")
            try Data("through the link".utf8).write(to: URL(fileURLWithPath: target + "/file"))
            let stats = try await harness.node {
                try await $0.nodeGetVolumeStats(.with {
                    $0.volumeID = "pvc-rooted"
                    $0.volumePath = target
                })
            }
            #expect(stats.volumeCondition.abnormal == false, "\(stats.volumeCondition.message)")
            try await harness.unpublish("pvc-rooted", target: target)
            try await harness.unstage("pvc-rooted")
            #expect(harness.mountsBelowDirectory().isEmpty)
            #expect(harness.loopDevicesInUse().isEmpty)
        } catch {
            let log = harness.process?.logText() ?? ""
            await harness.tearDown()
            throw TestFailure("\(error)\n--- node log ---\n\(log.suffix(6000))")
        }
        await harness.tearDown()
    }

    @Test("The health monitor never mounts outside: a staging path turned into a symlink while the node was down is not followed")
    func monitorDoesNotFollowSymlink() async throws {
        try await withNodeHarness { harness in
            let volume = try harness.makeVolume("pvc-moved")
            let staging = harness.stagingPath("pvc-moved")
            try await harness.stage("pvc-moved", context: volume.context)
            try await harness.stop()
            try Shell.check("umount", [staging])
            let outside = harness.directory.file("outside-monitor")
            try FileManager.default.createDirectory(atPath: outside + "/globalmount", withIntermediateDirectories: true)
            let parent = (staging as NSString).deletingLastPathComponent
            try FileManager.default.moveItem(atPath: parent, toPath: parent + "-moved")
            try FileManager.default.createSymbolicLink(atPath: parent, withDestinationPath: outside)
            try await harness.start()
            try await Task.sleep(for: .seconds(2))
            #expect(!harness.mountsBelowDirectory().contains { $0.hasPrefix(outside) }, "nothing mounted outside")
            #expect((harness.process?.logText() ?? "").contains("symbolic link"))
        }
    }
}
