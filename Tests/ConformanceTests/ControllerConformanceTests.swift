import CSITestSupport
import CStorCore
import CStorKubernetes
import CStorModel
import Foundation
import GRPCCore
import Testing

/// The CSI spec's rules for the Controller service — required fields, error codes, idempotency,
/// pagination, capability-gated behaviour — checked through a real socket against the real
/// controller binary on the local engine.
@Suite("Controller conformance (local engine)")
struct ControllerConformanceTests {
    static let gib: Int64 = 1 << 30

    func create(
        _ cluster: LocalCluster, _ name: String, bytes: Int64 = 64 << 20, limit: Int64 = 0,
        capability: Csi_V1_VolumeCapability = .mount(), parameters: [String: String] = [:],
        source: Csi_V1_VolumeContentSource? = nil
    ) async throws -> Csi_V1_Volume {
        try await cluster.controllerClient {
            try await $0.createVolume(
                .with {
                    $0.name = name
                    $0.capacityRange = .with {
                        $0.requiredBytes = bytes
                        $0.limitBytes = limit
                    }
                    $0.volumeCapabilities = [capability]
                    $0.parameters = parameters
                    if let source { $0.volumeContentSource = source }
                })
        }.volume
    }

    func publish(_ cluster: LocalCluster, _ id: String, node: String, readOnly: Bool = false) async throws -> [String: String] {
        try await cluster.controllerClient {
            try await $0.controllerPublishVolume(
                .with {
                    $0.volumeID = id
                    $0.nodeID = node
                    $0.volumeCapability = .mount()
                    $0.readonly = readOnly
                })
        }.publishContext
    }

    func snapshot(_ cluster: LocalCluster, _ source: String, _ name: String) async throws -> Csi_V1_Snapshot {
        try await cluster.controllerClient {
            try await $0.createSnapshot(
                .with {
                    $0.sourceVolumeID = source
                    $0.name = name
                })
        }.snapshot
    }

    @Test("128-byte names: CreateVolume gets a stable shortened id, CreateSnapshot of it with a 128-byte name succeeds and restores")
    func longNames() async throws {
        try await withLocalCluster { cluster in
            let name = String(repeating: "v", count: 128)
            let volume = try await create(cluster, name)
            #expect(volume.volumeID.utf8.count <= SnapshotID.longestSnapshottableVolumeID)
            #expect(volume.volumeID == SnapshotID.shortened(name, limit: SnapshotID.longestSnapshottableVolumeID))
            #expect(try await create(cluster, name).volumeID == volume.volumeID, "the same name is the same volume")
            let snapshotName = String(repeating: "s", count: 128)
            func snapshot() async throws -> Csi_V1_Snapshot {
                try await cluster.controllerClient {
                    try await $0.createSnapshot(.with {
                        $0.sourceVolumeID = volume.volumeID
                        $0.name = snapshotName
                    })
                }.snapshot
            }
            let first = try await snapshot()
            #expect(first.snapshotID.utf8.count <= 128)
            #expect(first.sourceVolumeID == volume.volumeID)
            #expect(try await snapshot().snapshotID == first.snapshotID, "the same name is the same snapshot")
            // A short volume id keeps the 128-byte snapshot name only where <volume>@<name> fits.
            _ = try await create(cluster, "pvc-short")
            let short = try await cluster.controllerClient {
                try await $0.createSnapshot(.with {
                    $0.sourceVolumeID = "pvc-short"
                    $0.name = "snap-short"
                })
            }.snapshot
            #expect(short.snapshotID == "pvc-short@snap-short")
            let restored = try await create(
                cluster, String(repeating: "r", count: 128), source: .with { $0.snapshot = .with { $0.snapshotID = first.snapshotID } })
            #expect(restored.contentSource.snapshot.snapshotID == first.snapshotID)
        }
    }

    @Test("CreateVolume refuses malformed requests with the spec's codes")
    func createVolumeValidation() async throws {
        try await withLocalCluster { cluster in
            func code(_ request: Csi_V1_CreateVolumeRequest) async -> RPCError.Code? {
                await rpcCode { try await cluster.controllerClient { try await $0.createVolume(request) } }
            }
            let capability = Csi_V1_VolumeCapability.mount()
            #expect(await code(.with { $0.volumeCapabilities = [capability] }) == .invalidArgument, "no name")
            #expect(await code(.with { $0.name = "pvc-a" }) == .invalidArgument, "no capabilities")
            #expect(await code(.with {
                $0.name = "pvc-a"
                $0.volumeCapabilities = [.mount(mode: .multiNodeMultiWriter)]
            }) == .invalidArgument, "multi-node access")
            #expect(await code(.with {
                $0.name = "pvc-a"
                $0.volumeCapabilities = [.mount("btrfs")]
            }) == .invalidArgument, "unsupported filesystem")
            #expect(await code(.with {
                $0.name = "pvc-a"
                $0.volumeCapabilities = [capability]
                $0.capacityRange = .with {
                    $0.requiredBytes = 2 << 20
                    $0.limitBytes = 1 << 20
                }
            }) == .outOfRange, "required above limit")
            #expect(await code(.with {
                $0.name = "pvc-a"
                $0.volumeCapabilities = [capability]
                $0.capacityRange = .with {
                    $0.requiredBytes = (1 << 20) + 1
                    $0.limitBytes = (1 << 20) + 100
                }
            }) == .outOfRange, "limit below the rounded size")
            #expect(await code(.with {
                $0.name = "pvc-a"
                $0.volumeCapabilities = [capability]
                $0.capacityRange = .with { $0.requiredBytes = -1 }
            }) == .invalidArgument, "negative size")
            #expect(await code(.with {
                $0.name = "pvc-a"
                $0.volumeCapabilities = [capability]
                $0.volumeContentSource = .with { $0.snapshot = .with { $0.snapshotID = "pvc-x@snap-missing" } }
            }) == .notFound, "missing source snapshot")
            #expect(await code(.with {
                $0.name = "pvc-a"
                $0.volumeCapabilities = [capability]
                $0.volumeContentSource = .with { $0.volume = .with { $0.volumeID = "pvc-missing" } }
            }) == .notFound, "missing source volume")
        }
    }

    @Test("CreateVolume is idempotent by name; another size for the same name is AlreadyExists")
    func createVolumeIdempotent() async throws {
        try await withLocalCluster { cluster in
            let first = try await create(cluster, "pvc-same", bytes: 10 << 20)
            let second = try await create(cluster, "pvc-same", bytes: 10 << 20)
            #expect(first.volumeID == "pvc-same")
            #expect(first.capacityBytes == 10 << 20)
            #expect(second.volumeID == first.volumeID && second.capacityBytes == first.capacityBytes)
            #expect(first.volumeContext["openebs.io/cas-type"] == "local")
            let other = await rpcCode { try await create(cluster, "pvc-same", bytes: 20 << 20) }
            #expect(other == .alreadyExists)
            // No parameters needed; cStor parameters are accepted and ignored.
            _ = try await create(cluster, "pvc-params", parameters: ["cstorPoolCluster": "cspc", "replicaCount": "3"])
        }
    }

    @Test("Sizes are rounded up to whole MiB; no size means 1 GiB")
    func sizes() async throws {
        try await withLocalCluster { cluster in
            #expect(try await create(cluster, "pvc-round", bytes: (5 << 20) + 1).capacityBytes == 6 << 20)
            let unsized = try await cluster.controllerClient {
                try await $0.createVolume(.with {
                    $0.name = "pvc-default"
                    $0.volumeCapabilities = [.mount()]
                })
            }.volume
            #expect(unsized.capacityBytes == Self.gib)
        }
    }

    @Test("DeleteVolume: required id, unknown and repeated deletes succeed, a published volume is refused")
    func deleteVolume() async throws {
        try await withLocalCluster { cluster in
            func delete(_ id: String) async throws {
                _ = try await cluster.controllerClient { try await $0.deleteVolume(.with { $0.volumeID = id }) }
            }
            #expect(await rpcCode { try await delete("") } == .invalidArgument)
            try await delete("pvc-never-created")
            _ = try await create(cluster, "pvc-del")
            _ = try await publish(cluster, "pvc-del", node: "node-1")
            #expect(await rpcCode { try await delete("pvc-del") } == .failedPrecondition)
            _ = try await cluster.controllerClient {
                try await $0.controllerUnpublishVolume(.with {
                    $0.volumeID = "pvc-del"
                    $0.nodeID = "node-1"
                })
            }
            try await delete("pvc-del")
            try await delete("pvc-del")
            let files = try FileManager.default.contentsOfDirectory(atPath: cluster.stateDirectory + "/volumes")
            #expect(files.isEmpty, "the volume file is gone: \(files)")
        }
    }

    @Test("ControllerPublishVolume attaches to one node at a time, only to a node the engine knows; unpublish is idempotent")
    func publishRules() async throws {
        try await withLocalCluster(controllerArguments: ["--node", "node-2"]) { cluster in
            _ = try await create(cluster, "pvc-pub")
            // The spec's "Node does not exist": the local engine's nodes are its --node ids.
            let unknownNode = await rpcError { try await publish(cluster, "pvc-pub", node: "node-unknown") }
            #expect(unknownNode?.code == .notFound)
            #expect(unknownNode?.message.contains("--node") == true, "\(String(describing: unknownNode))")
            #expect(await rpcCode { try await publish(cluster, "pvc-unknown", node: "node-1") } == .notFound)
            #expect(await rpcCode { try await publish(cluster, "pvc-pub", node: "") } == .invalidArgument)
            let missingCapability = await rpcCode {
                try await cluster.controllerClient {
                    try await $0.controllerPublishVolume(.with {
                        $0.volumeID = "pvc-pub"
                        $0.nodeID = "node-1"
                    })
                }
            }
            #expect(missingCapability == .invalidArgument)
            let context = try await publish(cluster, "pvc-pub", node: "node-1")
            #expect(context["transport"] == "loop")
            #expect(context["file"]?.hasPrefix(cluster.stateDirectory) == true)
            #expect(try await publish(cluster, "pvc-pub", node: "node-1") == context, "publishing again is success")
            let other = await rpcError { try await publish(cluster, "pvc-pub", node: "node-2") }
            #expect(other?.code == .failedPrecondition)
            #expect(other?.message.contains("node-1") == true, "the message names the node holding the volume")
            #expect(await rpcCode { try await publish(cluster, "pvc-pub", node: "node-1", readOnly: true) } == .alreadyExists)
            for _ in 0..<2 {
                _ = try await cluster.controllerClient {
                    try await $0.controllerUnpublishVolume(.with {
                        $0.volumeID = "pvc-pub"
                        $0.nodeID = "node-1"
                    })
                }
            }
            _ = try await cluster.controllerClient {
                try await $0.controllerUnpublishVolume(.with {
                    $0.volumeID = "pvc-unknown"
                    $0.nodeID = "node-1"
                })
            }
            _ = try await publish(cluster, "pvc-pub", node: "node-2")
        }
    }

    @Test("ValidateVolumeCapabilities confirms what works and explains what does not")
    func validateCapabilities() async throws {
        try await withLocalCluster { cluster in
            _ = try await create(cluster, "pvc-val")
            func validate(_ id: String, _ capabilities: [Csi_V1_VolumeCapability]) async throws -> Csi_V1_ValidateVolumeCapabilitiesResponse {
                try await cluster.controllerClient {
                    try await $0.validateVolumeCapabilities(.with {
                        $0.volumeID = id
                        $0.volumeCapabilities = capabilities
                    })
                }
            }
            let confirmed = try await validate("pvc-val", [.mount("xfs"), .block()])
            #expect(confirmed.hasConfirmed)
            #expect(confirmed.confirmed.volumeCapabilities.count == 2)
            let refused = try await validate("pvc-val", [.mount(mode: .multiNodeReaderOnly)])
            #expect(!refused.hasConfirmed)
            #expect(!refused.message.isEmpty)
            #expect(await rpcCode { try await validate("pvc-nope", [.mount()]) } == .notFound)
            #expect(await rpcCode { try await validate("pvc-val", []) } == .invalidArgument)
        }
    }

    @Test("ListVolumes pages with max_entries and tokens; a foreign token is Aborted")
    func listVolumesPaging() async throws {
        try await withLocalCluster(controllerArguments: ["--node", "node-9"]) { cluster in
            for index in 0..<5 { _ = try await create(cluster, "pvc-list-\(index)") }
            _ = try await publish(cluster, "pvc-list-2", node: "node-9")
            var seen: [String] = []
            var token = ""
            var pages = 0
            repeat {
                let page = try await cluster.controllerClient {
                    try await $0.listVolumes(.with {
                        $0.maxEntries = 2
                        $0.startingToken = token
                    })
                }
                #expect(page.entries.count <= 2)
                seen += page.entries.map(\.volume.volumeID)
                if let published = page.entries.first(where: { $0.volume.volumeID == "pvc-list-2" }) {
                    #expect(published.status.publishedNodeIds == ["node-9"])
                }
                token = page.nextToken
                pages += 1
            } while !token.isEmpty && pages < 10
            #expect(pages == 3)
            #expect(seen == (0..<5).map { "pvc-list-\($0)" })
            let foreign = await rpcCode {
                try await cluster.controllerClient { try await $0.listVolumes(.with { $0.startingToken = "not-a-token" }) }
            }
            #expect(foreign == .aborted)
            let negative = await rpcCode {
                try await cluster.controllerClient { try await $0.listVolumes(.with { $0.maxEntries = -1 }) }
            }
            #expect(negative == .invalidArgument)
        }
    }

    @Test("Snapshots: create is idempotent by name, listed by source and id, deleted twice; foreign ids are handled per spec")
    func snapshots() async throws {
        try await withLocalCluster { cluster in
            _ = try await create(cluster, "pvc-src")
            _ = try await create(cluster, "pvc-other")
            let first = try await snapshot(cluster, "pvc-src", "snap-1")
            #expect(first.snapshotID == "pvc-src@snap-1")
            #expect(first.sourceVolumeID == "pvc-src")
            #expect(first.readyToUse)
            #expect(first.sizeBytes == 64 << 20)
            #expect(first.hasCreationTime)
            let again = try await snapshot(cluster, "pvc-src", "snap-1")
            #expect(again.snapshotID == first.snapshotID && again.creationTime == first.creationTime)
            #expect(await rpcCode { try await snapshot(cluster, "pvc-other", "snap-1") } == .alreadyExists)
            #expect(await rpcCode { try await snapshot(cluster, "pvc-missing", "snap-2") } == .notFound)
            #expect(await rpcCode { try await snapshot(cluster, "pvc-src", "") } == .invalidArgument)
            _ = try await snapshot(cluster, "pvc-other", "snap-3")

            let bySource = try await cluster.controllerClient { try await $0.listSnapshots(.with { $0.sourceVolumeID = "pvc-src" }) }
            #expect(bySource.entries.map(\.snapshot.snapshotID) == ["pvc-src@snap-1"])
            let byID = try await cluster.controllerClient { try await $0.listSnapshots(.with { $0.snapshotID = "pvc-other@snap-3" }) }
            #expect(byID.entries.map(\.snapshot.snapshotID) == ["pvc-other@snap-3"])
            let unknownID = try await cluster.controllerClient { try await $0.listSnapshots(.with { $0.snapshotID = "whatever" }) }
            #expect(unknownID.entries.isEmpty)
            let paged = try await cluster.controllerClient { try await $0.listSnapshots(.with { $0.maxEntries = 1 }) }
            #expect(paged.entries.count == 1 && !paged.nextToken.isEmpty)
            let get = try await cluster.controllerClient { try await $0.getSnapshot(.with { $0.snapshotID = "pvc-src@snap-1" }) }
            #expect(get.snapshot.snapshotID == "pvc-src@snap-1")
            #expect(await rpcCode {
                try await cluster.controllerClient { try await $0.getSnapshot(.with { $0.snapshotID = "pvc-src@nope" }) }
            } == .notFound)

            for id in ["pvc-src@snap-1", "pvc-src@snap-1", "not-ours", "pvc-src@never"] {
                _ = try await cluster.controllerClient { try await $0.deleteSnapshot(.with { $0.snapshotID = id }) }
            }
            #expect(await rpcCode {
                try await cluster.controllerClient { try await $0.deleteSnapshot(.with { $0.snapshotID = "" }) }
            } == .invalidArgument)
            let remaining = try await cluster.controllerClient { try await $0.listSnapshots(.init()) }
            #expect(remaining.entries.map(\.snapshot.snapshotID) == ["pvc-other@snap-3"])
        }
    }

    @Test("ControllerExpandVolume grows, refuses to shrink, and says whether the node must grow the filesystem")
    func expand() async throws {
        try await withLocalCluster { cluster in
            _ = try await create(cluster, "pvc-exp", bytes: 10 << 20)
            func expand(_ id: String, _ bytes: Int64, block: Bool = false) async throws -> Csi_V1_ControllerExpandVolumeResponse {
                try await cluster.controllerClient {
                    try await $0.controllerExpandVolume(.with {
                        $0.volumeID = id
                        $0.capacityRange = .with { $0.requiredBytes = bytes }
                        $0.volumeCapability = block ? .block() : .mount()
                    })
                }
            }
            let grown = try await expand("pvc-exp", 20 << 20)
            #expect(grown.capacityBytes == 20 << 20)
            #expect(grown.nodeExpansionRequired)
            #expect(try await expand("pvc-exp", 20 << 20).capacityBytes == 20 << 20, "already at the size")
            #expect(try await expand("pvc-exp", 30 << 20, block: true).nodeExpansionRequired == false)
            #expect(await rpcCode { try await expand("pvc-exp", 10 << 20) } == .outOfRange)
            #expect(await rpcCode { try await expand("pvc-missing", 10 << 20) } == .notFound)
            let noRange = await rpcCode {
                try await cluster.controllerClient { try await $0.controllerExpandVolume(.with { $0.volumeID = "pvc-exp" }) }
            }
            #expect(noRange == .invalidArgument)
            var info = stat()
            #expect(stat(cluster.stateDirectory + "/volumes/pvc-exp.img", &info) == 0)
            #expect(info.st_size == 30 << 20)
        }
    }

    @Test("GetCapacity reports free space; ControllerGetVolume shows where a volume is published")
    func capacityAndGetVolume() async throws {
        try await withLocalCluster { cluster in
            let capacity = try await cluster.controllerClient { try await $0.getCapacity(.init()) }
            #expect(capacity.availableCapacity > 0)
            let unservable = try await cluster.controllerClient {
                try await $0.getCapacity(.with { $0.volumeCapabilities = [.mount(mode: .multiNodeMultiWriter)] })
            }
            #expect(unservable.availableCapacity == 0)
            _ = try await create(cluster, "pvc-get")
            _ = try await publish(cluster, "pvc-get", node: "node-1")
            let volume = try await cluster.controllerClient { try await $0.controllerGetVolume(.with { $0.volumeID = "pvc-get" }) }
            #expect(volume.volume.volumeID == "pvc-get")
            #expect(volume.status.publishedNodeIds == ["node-1"])
            #expect(volume.status.volumeCondition.abnormal == false)
            #expect(await rpcCode {
                try await cluster.controllerClient { try await $0.controllerGetVolume(.with { $0.volumeID = "pvc-none" }) }
            } == .notFound)
        }
    }

    @Test("Every advertised capability works; what is not advertised answers Unimplemented")
    func capabilitiesAreReal() async throws {
        try await withLocalCluster { cluster in
            let types = Set(try await cluster.controllerClient { try await $0.controllerGetCapabilities(.init()) }
                .capabilities.map(\.rpc.type))
            #expect(types.isSuperset(of: [
                .createDeleteVolume, .publishUnpublishVolume, .listVolumes, .getCapacity, .createDeleteSnapshot,
                .listSnapshots, .cloneVolume, .expandVolume, .listVolumesPublishedNodes, .getVolume, .getSnapshot,
                .publishReadonly, .volumeCondition,
            ]))
            #expect(!types.contains(.modifyVolume))
            let modify = await rpcCode {
                try await cluster.controllerClient { try await $0.controllerModifyVolume(.with { $0.volumeID = "pvc-x" }) }
            }
            #expect(modify == .unimplemented)
            // Clone from a volume and from a snapshot, as CLONE_VOLUME and CREATE_DELETE_SNAPSHOT promise.
            _ = try await create(cluster, "pvc-origin")
            let clone = try await create(cluster, "pvc-clone", source: .with { $0.volume = .with { $0.volumeID = "pvc-origin" } })
            #expect(clone.contentSource.volume.volumeID == "pvc-origin")
            _ = try await snapshot(cluster, "pvc-origin", "snap-c")
            let restored = try await create(
                cluster, "pvc-restored", source: .with { $0.snapshot = .with { $0.snapshotID = "pvc-origin@snap-c" } })
            #expect(restored.contentSource.snapshot.snapshotID == "pvc-origin@snap-c")
            #expect(await rpcCode { try await create(cluster, "pvc-small", bytes: 1 << 20, source: .with { $0.volume = .with { $0.volumeID = "pvc-origin" } }) } == .outOfRange)
        }
    }

    @Test("A request for a volume that is busy with another operation is Aborted, not queued")
    func concurrentSameVolume() async throws {
        try await withLocalCluster { cluster in
            // 20 concurrent creates of one big volume: each either succeeds (same volume) or is Aborted.
            let codes = await withTaskGroup(of: RPCError.Code?.self) { group in
                for _ in 0..<20 {
                    group.addTask { await rpcCode { try await create(cluster, "pvc-race", bytes: 512 << 20) } }
                }
                return await group.reduce(into: [RPCError.Code?]()) { $0.append($1) }
            }
            #expect(codes.allSatisfy { $0 == nil || $0 == .aborted }, "\(codes)")
            #expect(codes.contains(nil))
            let files = try FileManager.default.contentsOfDirectory(atPath: cluster.stateDirectory + "/volumes")
            #expect(files == ["pvc-race.img"])
        }
    }
}
