import CSITestSupport
import CStorCore
import CStorKubernetes
import CStorModel
import Foundation
import GRPCCore
import Testing

/// The switch from openebs/cstor-csi 3.6, end to end: the test API server seeded with exactly what
/// a 3.6 cluster holds (`UpstreamLeftovers`), a node where upstream's plugin staged and published
/// volumes (iSCSI LUNs stood in for by loop devices, `ISCSIStandIn`), then our controller and node
/// driven the way Kubernetes drives them after the switch.
@Suite("The switch from openebs/cstor-csi 3.6", .serialized, .enabled(if: runningAsRoot, "needs root for loop devices and mounts"))
struct SwitchFromUpstreamTests {
    static let portal = "127.0.0.1:3260"
    static let iqnPrefix = "iqn.2016-09.com.openebs.cstor:"
    static let node = "rk-node-1"
    static let ourFinalizer = "cstor.csi.openebs.io/attachment"

    /// What a volume looks like on the node, from its CVA (kubelet's paths, moved below the
    /// harness's kubelet directory).
    struct Paths {
        var staging: String
        var target: String
    }

    static func paths(_ leftovers: UpstreamLeftovers, volume: String, kubelet: String) throws -> Paths {
        let cva = try #require(leftovers.objects(kind: "CStorVolumeAttachment").first { $0[path: ["metadata", "labels", "Volname"]] == .string(volume) })
        func moved(_ field: String) throws -> String {
            let path = try #require(cva[path: ["spec", "volume", field]]?.stringValue)
            return kubelet + path.dropFirst("/var/lib/kubelet".count)
        }
        return Paths(staging: try moved("stagingTargetPath"), target: try moved("targetPath"))
    }

    static func sha256(ofFile path: String, bytes: Int? = nil) throws -> String {
        let command = bytes.map { "head -c \($0) '\(path)' | sha256sum" } ?? "sha256sum < '\(path)'"
        return String(try Shell.check("sh", ["-c", command]).prefix(64))
    }

    /// Writes 1 MiB of random data to a file (or a device) and returns its digest.
    static func writeRandom(to path: String) throws -> String {
        try Shell.check("sh", ["-c", "head -c 1048576 /dev/urandom > /tmp/switch-data.$$ && dd if=/tmp/switch-data.$$ of='\(path)' bs=1M conv=fsync,notrunc status=none && sha256sum < /tmp/switch-data.$$; rm -f /tmp/switch-data.$$"]).prefix(64).description
    }

    /// Retries while the node answers Aborted (its start-up reconciliation holds the volume), as kubelet does.
    static func retryingAborted<T>(_ call: () async throws -> T) async throws -> T {
        for _ in 0..<50 {
            do { return try await call() } catch let error as RPCError where error.code == .aborted {
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        return try await call()
    }

    @Test("A 3.6 cluster goes through kubelet restarts, a pod's move off a dead node, restore and delete of its snapshot, expand, unpublish, unstage and delete: every step succeeds, nothing stays Terminating, no data changes")
    func theSwitch() async throws {
        let leftovers = try UpstreamLeftovers()
        try await withISCSIStandIn { iscsi in
            var snapshotContents: [JSONValue] = []
            try await withCStorCluster(beforeStart: { cluster in
                let rest = try leftovers.seed(into: cluster.server.store)
                snapshotContents = rest.filter { $0["kind"] == "VolumeSnapshotContent" }
                try cluster.operatorSimulator.createPoolCluster(
                    "cspc-rk", nodes: ["rk-node-1", "rk-node-2", "rk-node-3"], free: try Quantity(parsing: "10Gi"),
                    total: try Quantity(parsing: "20Gi"))
                for content in snapshotContents {
                    if let handle = content[path: ["spec", "source", "snapshotHandle"]]?.stringValue, let id = SnapshotID(parsing: handle) {
                        cluster.target.seed(volume: id.volumeID, snapshot: id.name)
                    }
                }
            }) { cluster in
                let harness = try NodeHarness(extraArguments: [
                    "--node-id", Self.node, "--transports", "iscsi,loop", "--iscsiadm", iscsi.command, "--iscsi-sysfs", iscsi.sysfs,
                ])
                do {
                    try await run(cluster: cluster, harness: harness, iscsi: iscsi, leftovers: leftovers, snapshotContents: snapshotContents)
                } catch {
                    let log = harness.process?.logText() ?? ""
                    await harness.tearDown()
                    throw TestFailure("\(error)\n--- stand-in iscsiadm ---\n\(iscsi.log.suffix(40).joined(separator: "\n"))\n--- node log ---\n\(log.suffix(6000))")
                }
                await harness.tearDown()
            }
        }
    }

    @Test("A volume staged with SINGLE_NODE_WRITER is staged again with SINGLE_NODE_MULTI_WRITER, as kubelet does after the switch; read-only or another filesystem is AlreadyExists")
    func restageWithCompatibleMode() async throws {
        try await withNodeHarness { harness in
            let (_, context) = try harness.makeVolume("pvc-modes")
            func stage(_ capability: Csi_V1_VolumeCapability) async throws {
                _ = try await harness.node {
                    try await $0.nodeStageVolume(.with {
                        $0.volumeID = "pvc-modes"
                        $0.stagingTargetPath = harness.stagingPath("pvc-modes")
                        $0.publishContext = context
                        $0.volumeCapability = capability
                    })
                }
            }
            try await stage(.mount("ext4", mode: .singleNodeWriter))
            try await stage(.mount("ext4", mode: .singleNodeMultiWriter))
            try await stage(.mount("ext4", mode: .singleNodeSingleWriter))
            #expect(await rpcCode { try await stage(.mount("ext4", mode: .singleNodeReaderOnly)) } == .alreadyExists)
            #expect(await rpcCode { try await stage(.mount("xfs", mode: .singleNodeMultiWriter)) } == .alreadyExists)
            #expect(await rpcCode { try await stage(.mount("ext4", mode: .singleNodeWriter, flags: ["noatime"])) } == .alreadyExists)
            _ = try await harness.node {
                try await $0.nodeUnstageVolume(.with {
                    $0.volumeID = "pvc-modes"
                    $0.stagingTargetPath = harness.stagingPath("pvc-modes")
                })
            }
        }
    }

    func run(
        cluster: CStorCluster, harness: NodeHarness, iscsi: ISCSIStandIn, leftovers: UpstreamLeftovers, snapshotContents: [JSONValue]
    ) async throws {
        let kubelet = harness.kubeletDirectory
        let store = cluster.server.store
        let namespace = cluster.namespace
        let volumes = ["pvc-up1", "pvc-up2", "pvc-up3"]
        var digests: [String: String] = [:]

        // MARK: What upstream left on the node
        for volume in volumes {
            let file = harness.directory.file("\(volume).img")
            guard FileManager.default.createFile(atPath: file, contents: nil), truncate(file, 1 << 30) == 0 else {
                throw TestFailure("cannot create \(file)")
            }
            try iscsi.export(iqn: Self.iqnPrefix + volume, file: file)
        }
        // pvc-up1: a filesystem volume staged and published here.
        let up1 = try Self.paths(leftovers, volume: "pvc-up1", kubelet: kubelet)
        let device1 = try iscsi.login(iqn: Self.iqnPrefix + "pvc-up1", portal: Self.portal)
        try Shell.check("mkfs.ext4", ["-q", "-F", device1])
        for path in [up1.staging, up1.target] { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
        try Shell.check("mount", [device1, up1.staging])
        try Shell.check("mount", ["--bind", up1.staging, up1.target])
        digests["pvc-up1"] = try Self.writeRandom(to: up1.target + "/data.bin")
        // pvc-up3: a block volume, its device node bound onto kubelet's publish path.
        let up3 = try Self.paths(leftovers, volume: "pvc-up3", kubelet: kubelet)
        let device3 = try iscsi.login(iqn: Self.iqnPrefix + "pvc-up3", portal: Self.portal)
        digests["pvc-up3"] = try Self.writeRandom(to: device3)
        try FileManager.default.createDirectory(atPath: up3.staging, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: (up3.target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        guard FileManager.default.createFile(atPath: up3.target, contents: nil) else { throw TestFailure("cannot create \(up3.target)") }
        try Shell.check("mount", ["--bind", device3, up3.target])
        // pvc-up2: formatted and written on rk-node-dead, which died with it attached.
        let deadNodeDevice = try Shell.check("losetup", ["--find", "--show", harness.directory.file("pvc-up2.img")])
            .trimmingCharacters(in: .whitespacesAndNewlines)
        try Shell.check("mkfs.ext4", ["-q", "-F", deadNodeDevice])
        let scratch = harness.directory.file("dead-node-mount")
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        try Shell.check("mount", [deadNodeDevice, scratch])
        digests["pvc-up2"] = try Self.writeRandom(to: scratch + "/data.bin")
        try Shell.check("umount", [scratch])
        try Shell.check("losetup", ["--detach", deadNodeDevice])

        func check(_ volume: String, at path: String, block: Bool = false) throws {
            let digest = block ? try Self.sha256(ofFile: path, bytes: 1 << 20) : try Self.sha256(ofFile: path + "/data.bin")
            #expect(digest == digests[volume], "\(volume)'s data at \(path)")
        }

        let mount = Csi_V1_VolumeCapability.mount("ext4", mode: .singleNodeMultiWriter)
        let block = Csi_V1_VolumeCapability.block(mode: .singleNodeMultiWriter)
        func controllerPublish(_ volume: String, _ capability: Csi_V1_VolumeCapability) async throws -> [String: String] {
            try await cluster.client {
                try await $0.controllerPublishVolume(.with {
                    $0.volumeID = volume
                    $0.nodeID = Self.node
                    $0.volumeCapability = capability
                })
            }.publishContext
        }
        func stageAndPublish(_ volume: String, _ paths: Paths, _ capability: Csi_V1_VolumeCapability, context: [String: String]) async throws {
            _ = try await Self.retryingAborted {
                try await harness.node {
                    try await $0.nodeStageVolume(.with {
                        $0.volumeID = volume
                        $0.stagingTargetPath = paths.staging
                        $0.publishContext = context
                        $0.volumeCapability = capability
                    })
                }
            }
            _ = try await Self.retryingAborted {
                try await harness.node {
                    try await $0.nodePublishVolume(.with {
                        $0.volumeID = volume
                        $0.stagingTargetPath = paths.staging
                        $0.targetPath = paths.target
                        $0.volumeCapability = capability
                    })
                }
            }
        }
        func attachment(_ name: String) -> CStorVolumeAttachment? {
            store.object(CStorVolumeAttachment.self, namespace: namespace, name: name)
        }

        // MARK: Kubelet restarts with our node plugin; every volume in use is attached and staged again
        try await harness.start()
        var contexts: [String: [String: String]] = [:]
        for round in 1...2 {
            contexts["pvc-up1"] = try await controllerPublish("pvc-up1", mount)
            contexts["pvc-up3"] = try await controllerPublish("pvc-up3", block)
            try await stageAndPublish("pvc-up1", up1, mount, context: contexts["pvc-up1"] ?? [:])
            try await stageAndPublish("pvc-up3", up3, block, context: contexts["pvc-up3"] ?? [:])
            #expect(Set(harness.recordFiles()) == ["pvc-up1.json", "pvc-up3.json"], "round \(round)")
            try check("pvc-up1", at: up1.target)
            try check("pvc-up3", at: up3.target, block: true)
            for name in ["pvc-up1-rk-node-1", "pvc-up3-rk-node-1"] {
                #expect(attachment(name)?.metadata.finalizers == [Self.ourFinalizer], "\(name) adopted")
            }
            if round == 1 {
                // The plugin restarts too (a DaemonSet rollout): its records, now ours, carry on.
                try await harness.stop()
                try await harness.start()
            }
        }
        #expect(iscsi.log.filter { $0.contains("--login") }.count == 2, "the sessions upstream made are kept, not made again")

        // MARK: A pod moves off rk-node-dead (NotReady, out-of-service) to this node
        let up2Old = try Self.paths(leftovers, volume: "pvc-up2", kubelet: kubelet)
        let up2 = Paths(staging: up2Old.staging, target: "\(kubelet)/pods/0b5c3f4e-0000-4000-8000-switch000002/volumes/kubernetes.io~csi/pvc-up2/mount")
        contexts["pvc-up2"] = try await controllerPublish("pvc-up2", mount)
        #expect(attachment("pvc-up2-rk-node-dead") == nil, "the dead node's CVA is gone, not Terminating")
        #expect(attachment("pvc-up2-rk-node-1")?.metadata.finalizers == [Self.ourFinalizer])
        try await stageAndPublish("pvc-up2", up2, mount, context: contexts["pvc-up2"] ?? [:])
        try check("pvc-up2", at: up2.target)

        // MARK: Restore from the upstream snapshot, then delete it
        let handle = try #require(snapshotContents.first?[path: ["spec", "source", "snapshotHandle"]]?.stringValue)
        let listed = try await cluster.client { try await $0.listSnapshots(.with { $0.snapshotID = handle }) }
        #expect(listed.entries.map(\.snapshot.snapshotID) == [handle], "csi-snapshotter finds the pre-existing content ready")
        #expect(listed.entries.first?.snapshot.readyToUse == true)
        let restored = try await cluster.createVolume(
            "pvc-restored-up1", bytes: 1 << 30, parameters: ["cstorPoolCluster": "cspc-rk", "replicaCount": "3", "cas-type": "cstor"],
            source: .with { $0.snapshot = .with { $0.snapshotID = handle } })
        #expect(restored.contentSource.snapshot.snapshotID == handle)
        #expect(store.object(CStorVolumeConfig.self, namespace: namespace, name: "pvc-restored-up1")?.spec.cstorVolumeSource == handle)
        _ = try await cluster.client { try await $0.deleteSnapshot(.with { $0.snapshotID = handle }) }
        let id = try #require(SnapshotID(parsing: handle))
        #expect(cluster.target.calls.contains(.init(command: "delete", volume: id.volumeID, snapshot: id.name)), "the target saw the delete")
        #expect(cluster.target.snapshots.isEmpty, "nothing left on the pools")

        // MARK: Expand pvc-up1 to 2 GiB while it is published
        let expanded = try await cluster.client {
            try await $0.controllerExpandVolume(.with {
                $0.volumeID = "pvc-up1"
                $0.capacityRange = .with { $0.requiredBytes = 2 << 30 }
                $0.volumeCapability = mount
            })
        }
        #expect(expanded.capacityBytes == 2 << 30)
        #expect(expanded.nodeExpansionRequired)
        // The target grows the LUN; the node's rescan finds the new size. ext4 grows online with
        // CAP_SYS_RESOURCE (the chart's privileged pod has it); without it, as in some sandboxes,
        // the node grows it between the pod's stop and its start.
        #expect(truncate(harness.directory.file("pvc-up1.img"), 2 << 30) == 0)
        let online = ProcessCapabilities.has(ProcessCapabilities.sysResource)
        if !online {
            _ = try await harness.node {
                try await $0.nodeUnpublishVolume(.with {
                    $0.volumeID = "pvc-up1"
                    $0.targetPath = up1.target
                })
            }
        }
        let grown = try await harness.node {
            try await $0.nodeExpandVolume(.with {
                $0.volumeID = "pvc-up1"
                $0.volumePath = online ? up1.target : up1.staging
                $0.capacityRange = .with { $0.requiredBytes = 2 << 30 }
                $0.volumeCapability = mount
            })
        }
        #expect(grown.capacityBytes >= 2 << 30)
        if !online { try await stageAndPublish("pvc-up1", up1, mount, context: contexts["pvc-up1"] ?? [:]) }
        var stats = statvfs()
        #expect(statvfs(up1.target, &stats) == 0)
        #expect(Int64(stats.f_blocks) * Int64(stats.f_frsize) > 3 << 29, "the filesystem grew")
        try check("pvc-up1", at: up1.target)

        // MARK: Unpublish, unstage (logging out of every session), detach, delete
        let staged: [(String, Paths)] = [("pvc-up1", up1), ("pvc-up2", up2), ("pvc-up3", up3)]
        for (volume, paths) in staged {
            _ = try await harness.node {
                try await $0.nodeUnpublishVolume(.with {
                    $0.volumeID = volume
                    $0.targetPath = paths.target
                })
            }
            _ = try await harness.node {
                try await $0.nodeUnstageVolume(.with {
                    $0.volumeID = volume
                    $0.stagingTargetPath = paths.staging
                })
            }
            #expect(!iscsi.sessions.contains { $0.hasPrefix(Self.iqnPrefix + volume + " ") }, "\(volume) logged out")
            #expect(!FileManager.default.fileExists(atPath: iscsi.state + "/nodes/" + Self.iqnPrefix + volume), "\(volume)'s node record deleted")
            _ = try await cluster.client {
                try await $0.controllerUnpublishVolume(.with {
                    $0.volumeID = volume
                    $0.nodeID = Self.node
                })
            }
        }
        #expect(iscsi.sessions.isEmpty)
        #expect(harness.recordFiles().isEmpty)
        #expect(harness.mountsBelowDirectory().isEmpty, "nothing stays mounted")
        #expect(store.objects(.cstorVolumeAttachments, namespace: namespace).isEmpty)
        for volume in ["pvc-up1", "pvc-up2"] {
            let image = harness.directory.file("\(volume).img")
            try Shell.check("e2fsck", ["-fn", image])
            let digest = String(try Shell.check("sh", ["-c", "debugfs -R 'cat /data.bin' '\(image)' 2>/dev/null | sha256sum"]).prefix(64))
            #expect(digest == digests[volume], "\(volume)'s data on its LUN")
        }
        #expect(try Self.sha256(ofFile: harness.directory.file("pvc-up3.img"), bytes: 1 << 20) == digests["pvc-up3"])

        for volume in volumes + ["pvc-restored-up1"] {
            _ = try await cluster.client { try await $0.deleteVolume(.with { $0.volumeID = volume }) }
        }
        let deadline = ContinuousClock.now + .seconds(5)
        while ContinuousClock.now < deadline, !store.objects(.cstorVolumeConfigs, namespace: namespace).isEmpty {
            try await Task.sleep(for: .milliseconds(20))
        }
        for resource in KubernetesResource.cstorResources {
            let terminating = store.objects(resource, namespace: namespace).filter { $0[path: ["metadata", "deletionTimestamp"]] != nil }
            #expect(terminating.isEmpty, "Terminating \(resource): \(terminating.compactMap { $0[path: ["metadata", "name"]]?.stringValue })")
        }
        #expect(store.objects(.cstorVolumeConfigs, namespace: namespace).isEmpty, "every volume is gone")
        let forbidden = cluster.server.requests.filter { $0.user == CStorCluster.controllerUser && $0.status == 403 }
        #expect(forbidden.isEmpty, "the chart's RBAC covers every call of the switch: \(forbidden.map { "\($0.verb) \($0.path)" })")
    }
}
