import CSITestSupport
import CStorCore
import CStorKubernetes
import CStorModel
import Foundation
import GRPCCore
import Testing

/// Both binaries on the local engine, through the whole life of a volume as Kubernetes would
/// drive it, and the local engine's crash safety.
@Suite("Local engine end to end", .enabled(if: runningAsRoot, "needs root for loop devices and mounts"))
struct LocalFlowTests {
    @Test("create → publish → stage → publish → write → snapshot → clone → read → expand → stats → unpublish → unstage → delete")
    func wholeLifecycle() async throws {
        try await withLocalCluster { cluster in
            let node = cluster.node
            let capability = Csi_V1_VolumeCapability.mount("ext4")
            let volume = try await cluster.controllerClient {
                try await $0.createVolume(.with {
                    $0.name = "pvc-flow"
                    $0.capacityRange = .with { $0.requiredBytes = 256 << 20 }
                    $0.volumeCapabilities = [capability]
                })
            }.volume
            let context = try await cluster.controllerClient {
                try await $0.controllerPublishVolume(.with {
                    $0.volumeID = volume.volumeID
                    $0.nodeID = "node-1"
                    $0.volumeCapability = capability
                })
            }.publishContext
            let staging = node.stagingPath("pvc-flow")
            let target = node.targetPath("pvc-flow")
            try await node.node {
                _ = try await $0.nodeStageVolume(.with {
                    $0.volumeID = "pvc-flow"
                    $0.stagingTargetPath = staging
                    $0.publishContext = context
                    $0.volumeCapability = capability
                })
                _ = try await $0.nodePublishVolume(.with {
                    $0.volumeID = "pvc-flow"
                    $0.stagingTargetPath = staging
                    $0.targetPath = target
                    $0.publishContext = context
                    $0.volumeCapability = capability
                })
            }
            try Data("hello, cStor".utf8).write(to: URL(fileURLWithPath: target + "/hello.txt"))
            sync()

            _ = try await cluster.controllerClient {
                try await $0.createSnapshot(.with {
                    $0.sourceVolumeID = "pvc-flow"
                    $0.name = "snap-flow"
                })
            }
            let clone = try await cluster.controllerClient {
                try await $0.createVolume(.with {
                    $0.name = "pvc-flow-clone"
                    $0.capacityRange = .with { $0.requiredBytes = 256 << 20 }
                    $0.volumeCapabilities = [capability]
                    $0.volumeContentSource = .with { $0.snapshot = .with { $0.snapshotID = "pvc-flow@snap-flow" } }
                })
            }.volume
            let cloneContext = try await cluster.controllerClient {
                try await $0.controllerPublishVolume(.with {
                    $0.volumeID = clone.volumeID
                    $0.nodeID = "node-1"
                    $0.volumeCapability = capability
                })
            }.publishContext
            let cloneStaging = node.stagingPath("pvc-flow-clone")
            _ = try await node.node {
                try await $0.nodeStageVolume(.with {
                    $0.volumeID = "pvc-flow-clone"
                    $0.stagingTargetPath = cloneStaging
                    $0.publishContext = cloneContext
                    $0.volumeCapability = capability
                })
            }
            #expect(try String(contentsOfFile: cloneStaging + "/hello.txt", encoding: .utf8) == "hello, cStor")

            let expanded = try await cluster.controllerClient {
                try await $0.controllerExpandVolume(.with {
                    $0.volumeID = "pvc-flow"
                    $0.capacityRange = .with { $0.requiredBytes = 512 << 20 }
                    $0.volumeCapability = capability
                })
            }
            #expect(expanded.nodeExpansionRequired)
            // ext4 grows online only with CAP_SYS_RESOURCE; otherwise while not published.
            let online = ProcessCapabilities.has(ProcessCapabilities.sysResource)
            if !online {
                _ = try await node.node { try await $0.nodeUnpublishVolume(.with { $0.volumeID = "pvc-flow"; $0.targetPath = target }) }
            }
            let nodeSize = try await node.node {
                try await $0.nodeExpandVolume(.with {
                    $0.volumeID = "pvc-flow"
                    $0.volumePath = online ? target : staging
                    $0.capacityRange = .with { $0.requiredBytes = 512 << 20 }
                })
            }.capacityBytes
            #expect(nodeSize == 512 << 20)
            if !online {
                _ = try await node.node {
                    try await $0.nodePublishVolume(.with {
                        $0.volumeID = "pvc-flow"
                        $0.stagingTargetPath = staging
                        $0.targetPath = target
                        $0.publishContext = context
                        $0.volumeCapability = capability
                    })
                }
            }
            let stats = try await node.node {
                try await $0.nodeGetVolumeStats(.with {
                    $0.volumeID = "pvc-flow"
                    $0.volumePath = target
                })
            }
            let bytes = try #require(stats.usage.first { $0.unit == .bytes })
            #expect(bytes.total > 400 << 20)
            #expect(stats.volumeCondition.abnormal == false)
            // A path that is not one of this volume's (another volume's, a relative form of its own,
            // one below it) is NotFound: "volume does not exist on the specified path".
            for path in [cloneStaging, String(target.dropFirst()), "relative/path", target + "/hello.txt", target + "/../mount"] {
                let statsCode = await rpcCode {
                    try await node.node { try await $0.nodeGetVolumeStats(.with { $0.volumeID = "pvc-flow"; $0.volumePath = path }) }
                }
                #expect(statsCode == .notFound, "NodeGetVolumeStats \(path)")
                let expandCode = await rpcCode {
                    try await node.node { try await $0.nodeExpandVolume(.with { $0.volumeID = "pvc-flow"; $0.volumePath = path }) }
                }
                #expect(expandCode == .notFound, "NodeExpandVolume \(path)")
            }

            for (id, stagingPath) in [("pvc-flow", staging), ("pvc-flow-clone", cloneStaging)] {
                try await node.node {
                    if id == "pvc-flow" {
                        _ = try await $0.nodeUnpublishVolume(.with { $0.volumeID = id; $0.targetPath = target })
                    }
                    _ = try await $0.nodeUnstageVolume(.with { $0.volumeID = id; $0.stagingTargetPath = stagingPath })
                }
                _ = try await cluster.controllerClient {
                    try await $0.controllerUnpublishVolume(.with { $0.volumeID = id; $0.nodeID = "node-1" })
                }
                _ = try await cluster.controllerClient { try await $0.deleteVolume(.with { $0.volumeID = id }) }
            }
            _ = try await cluster.controllerClient { try await $0.deleteSnapshot(.with { $0.snapshotID = "pvc-flow@snap-flow" }) }
            #expect(node.mountsBelowDirectory().isEmpty)
            #expect(node.loopDevicesInUse().isEmpty)
            #expect(try FileManager.default.contentsOfDirectory(atPath: cluster.stateDirectory + "/volumes").isEmpty)
            #expect(try FileManager.default.contentsOfDirectory(atPath: cluster.stateDirectory + "/snapshots").isEmpty)
        }
    }

    static let crashPoints = ["create.recorded", "create.file-written", "snapshot.recorded", "snapshot.copied"]

    @Test("Killing the controller in the middle of a create or snapshot: the retry completes, nothing is orphaned", arguments: crashPoints)
    func controllerCrash(point: String) async throws {
        try await withLocalCluster { cluster in
            let create = Csi_V1_CreateVolumeRequest.with {
                $0.name = "pvc-crash"
                $0.capacityRange = .with { $0.requiredBytes = 32 << 20 }
                $0.volumeCapabilities = [.mount()]
            }
            let snapshot = Csi_V1_CreateSnapshotRequest.with {
                $0.sourceVolumeID = "pvc-crash"
                $0.name = "snap-crash"
            }
            let isSnapshot = point.hasPrefix("snapshot")
            if isSnapshot { _ = try await cluster.controllerClient { try await $0.createVolume(create) } }
            try await cluster.controller?.stop()
            try await cluster.startController(environment: ["CSTOR_CSI_CRASH_AT": point])
            let crashed = await rpcCode {
                try await cluster.controllerClient {
                    if isSnapshot { _ = try await $0.createSnapshot(snapshot) } else { _ = try await $0.createVolume(create) }
                }
            }
            #expect(crashed == .unavailable || crashed == .unknown || crashed == .internalError, "the call died with the process: \(String(describing: crashed))")
            _ = try await cluster.controller?.waitForExit()
            try await cluster.startController()
            if isSnapshot {
                let created = try await cluster.controllerClient { try await $0.createSnapshot(snapshot) }.snapshot
                #expect(created.readyToUse)
            } else {
                let created = try await cluster.controllerClient { try await $0.createVolume(create) }.volume
                #expect(created.capacityBytes == 32 << 20)
            }
            let volumes = try FileManager.default.contentsOfDirectory(atPath: cluster.stateDirectory + "/volumes")
            let snapshots = try FileManager.default.contentsOfDirectory(atPath: cluster.stateDirectory + "/snapshots")
            #expect(volumes == ["pvc-crash.img"])
            #expect(snapshots == (isSnapshot ? ["pvc-crash%40snap-crash.img"] : []))
            let meta = try FileManager.default.contentsOfDirectory(atPath: cluster.stateDirectory + "/meta/volumes")
            #expect(meta == ["pvc-crash.json"])
            var info = stat()
            #expect(stat(cluster.stateDirectory + "/volumes/pvc-crash.img", &info) == 0 && info.st_size == 32 << 20)
        }
    }
}
