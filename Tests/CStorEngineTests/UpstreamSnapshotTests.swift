import CSITestSupport
import CStorCore
import CStorKubernetes
import CStorModel
import Foundation
import GRPCCore
import Testing

/// Snapshots on the cstor engine after a switch: the target is the source of truth, so a snapshot
/// openebs/cstor-csi took (an id `<pv>@<snap>` and nothing recorded) restores and deletes like one
/// of ours; CSI names of 64 to 128 bytes get their shortened form; nothing is cut on the target
/// that cannot be recorded.
@Suite("Snapshots taken by openebs/cstor-csi, and long snapshot names", .serialized)
struct UpstreamSnapshotTests {
    static func snapshotSource(_ id: String) -> Csi_V1_VolumeContentSource {
        .with { $0.snapshot = .with { $0.snapshotID = id } }
    }

    func createSnapshot(_ cluster: CStorCluster, _ volume: String, _ name: String) async throws -> Csi_V1_Snapshot {
        try await cluster.client {
            try await $0.createSnapshot(.with {
                $0.sourceVolumeID = volume
                $0.name = name
            })
        }.snapshot
    }

    func deleteSnapshot(_ cluster: CStorCluster, _ id: String) async throws {
        _ = try await cluster.client { try await $0.deleteSnapshot(.with { $0.snapshotID = id }) }
    }

    func cvc(_ cluster: CStorCluster, _ name: String) -> CStorVolumeConfig? {
        cluster.server.store.object(CStorVolumeConfig.self, namespace: cluster.namespace, name: name)
    }

    @Test("An upstream snapshot (no record of ours) is found by id, restores, and its delete reaches the target")
    func upstreamSnapshotRestoresAndDeletes() async throws {
        try await withCStorCluster { cluster in
            _ = try await cluster.createVolume("pvc-src")
            cluster.target.seed(volume: "pvc-src", snapshot: "snapshot-7a1f")
            let id = "pvc-src@snapshot-7a1f"

            // csi-snapshotter checks a pre-existing content with ListSnapshots by id.
            let listed = try await cluster.client { try await $0.listSnapshots(.with { $0.snapshotID = id }) }
            #expect(listed.entries.map(\.snapshot.snapshotID) == [id])
            #expect(listed.entries.first?.snapshot.readyToUse == true)
            let got = try await cluster.client { try await $0.getSnapshot(.with { $0.snapshotID = id }) }
            #expect(got.snapshot.sourceVolumeID == "pvc-src")

            let restored = try await cluster.createVolume("pvc-from-upstream", source: Self.snapshotSource(id))
            #expect(restored.contentSource.snapshot.snapshotID == id)
            #expect(cvc(cluster, "pvc-from-upstream")?.spec.cstorVolumeSource == id)
            #expect(cvc(cluster, "pvc-from-upstream")?.metadata.labels["openebs.io/source-volume"] == "pvc-src")

            for _ in 0..<2 { try await deleteSnapshot(cluster, id) }
            #expect(cluster.target.calls.filter { $0.command == "delete" }.first == .init(command: "delete", volume: "pvc-src", snapshot: "snapshot-7a1f"))
            #expect(!cluster.target.snapshots.contains(id), "the target no longer holds it: nothing leaks on the pools")
        }
    }

    @Test("A snapshot of ours whose record was lost still deletes on the target; the record is a cache")
    func lostRecordStillDeletes() async throws {
        try await withCStorCluster { cluster in
            _ = try await cluster.createVolume("pvc-cache")
            let snapshot = try await createSnapshot(cluster, "pvc-cache", "snap-cached")
            cluster.server.store.modify(CStorVolumeConfig.self, namespace: cluster.namespace, name: "pvc-cache") {
                $0.metadata.annotations = $0.metadata.annotations.filter { !$0.key.hasPrefix("snapshot.cstor.csi.openebs.io/") }
            }
            try await deleteSnapshot(cluster, snapshot.snapshotID)
            #expect(cluster.target.calls.last == .init(command: "delete", volume: "pvc-cache", snapshot: "snap-cached"))
            #expect(cluster.target.snapshots.isEmpty)
        }
    }

    @Test("NotFound only when the source volume is gone or every replica lists its snapshots without this one")
    func whatIsNotFound() async throws {
        try await withCStorCluster { cluster in
            _ = try await cluster.createVolume("pvc-listed")
            try cluster.operatorSimulator.createReplicas(volume: "pvc-listed", poolInstances: ["pool-a", "pool-b"], snapshots: ["snap-a": 4096])
            #expect(await rpcCode { try await cluster.createVolume("pvc-r1", source: Self.snapshotSource("pvc-listed@snap-missing")) } == .notFound)
            #expect(await rpcCode { try await cluster.client { try await $0.getSnapshot(.with { $0.snapshotID = "pvc-listed@snap-missing" }) } } == .notFound)
            let listed = try await cluster.client { try await $0.getSnapshot(.with { $0.snapshotID = "pvc-listed@snap-a" }) }
            #expect(listed.snapshot.sizeBytes == 4096, "an upstream snapshot the replicas list, with its size")
            #expect(await rpcCode { try await cluster.createVolume("pvc-r2", source: Self.snapshotSource("pvc-gone@snap-a")) } == .notFound)
            let calls = cluster.target.calls.count
            try await deleteSnapshot(cluster, "pvc-gone@snap-a")
            #expect(cluster.target.calls.count == calls, "without a CV the volume's snapshots went with its replicas")
        }
    }

    @Test("CSI names of 64 to 128 bytes get a stable shortened name on the target and in the id", arguments: [64, 100, 128])
    func longNames(length: Int) async throws {
        try await withCStorCluster { cluster in
            _ = try await cluster.createVolume("pvc-long")
            let name = "snapshot-" + String(repeating: "9", count: length - 9)
            let first = try await createSnapshot(cluster, "pvc-long", name)
            let stored = try #require(SnapshotID(parsing: first.snapshotID))
            #expect(stored.volumeID == "pvc-long")
            #expect(stored.name.utf8.count <= 63)
            #expect(stored.name.hasSuffix("-" + SHA256.hex(name).prefix(16)))
            #expect(cluster.target.calls == [.init(command: "create", volume: "pvc-long", snapshot: stored.name)])
            let record = cvc(cluster, "pvc-long")?.metadata.annotations["snapshot.cstor.csi.openebs.io/\(stored.name)"]
            #expect(record?.hasSuffix(" " + name) == true, "the record keeps the CSI name: \(record ?? "none")")

            let again = try await createSnapshot(cluster, "pvc-long", name)
            #expect(again.snapshotID == first.snapshotID)
            #expect(again.creationTime == first.creationTime)
            #expect(cluster.target.calls.count == 1, "the same name is the same snapshot")
            let got = try await cluster.client { try await $0.getSnapshot(.with { $0.snapshotID = first.snapshotID }) }
            #expect(got.snapshot.snapshotID == first.snapshotID)

            try await deleteSnapshot(cluster, first.snapshotID)
            #expect(cluster.target.calls.last == .init(command: "delete", volume: "pvc-long", snapshot: stored.name))
            #expect(cvc(cluster, "pvc-long")?.metadata.annotations.keys.contains { $0.hasPrefix("snapshot.") } == false)
        }
    }

    @Test("A 63-byte name stays as it is")
    func namesThatFit() async throws {
        try await withCStorCluster { cluster in
            _ = try await cluster.createVolume("pvc-fit")
            let name = "snapshot-" + String(repeating: "a", count: 54)
            #expect(try await createSnapshot(cluster, "pvc-fit", name).snapshotID == "pvc-fit@" + name)
            #expect(cluster.target.calls.map(\.snapshot) == [name])
        }
    }

    @Test("Nothing is cut on the target when its record cannot be written: ResourceExhausted first")
    func bookkeepingMustFit() async throws {
        try await withCStorCluster { cluster in
            _ = try await cluster.createVolume("pvc-full")
            let used = cvc(cluster, "pvc-full")?.metadata.annotations.reduce(0) { $0 + $1.key.utf8.count + $1.value.utf8.count } ?? 0
            let key = "example.com/notes"
            let filler = String(repeating: "x", count: 256 * 1024 - used - key.utf8.count - 40)
            let filled = cluster.server.store.modify(CStorVolumeConfig.self, namespace: cluster.namespace, name: "pvc-full") {
                $0.metadata.annotations[key] = filler
            }
            #expect(filled != nil, "the API takes the annotations as they are")
            let refused = await rpcError { try await createSnapshot(cluster, "pvc-full", "snapshot-one-too-many") }
            #expect(refused?.code == .resourceExhausted)
            #expect(refused?.message.contains("No snapshot was cut") == true)
            #expect(cluster.target.calls.isEmpty, "the target cut nothing")
        }
    }

    @Test("The snapshot target stand-in refuses what ZFS refuses of a name, and answers like istgt")
    func targetStandInIsStrict() async throws {
        try await TestSnapshotTarget.with { target in
            try await CSIConnection.with(endpoint: .tcp(host: "127.0.0.1", port: target.port)) { client in
                let snap = V1alpha1_RunSnapCommand.Client(wrapping: client)
                func create(_ volume: String, _ name: String) async throws -> String {
                    let response = try await snap.runVolumeSnapCreateCommand(.with {
                        $0.version = 1
                        $0.volume = volume
                        $0.snapname = name
                    })
                    return String(decoding: response.status, as: UTF8.self)
                }
                func delete(_ volume: String, _ name: String) async throws -> String {
                    let response = try await snap.runVolumeSnapDeleteCommand(.with {
                        $0.version = 1
                        $0.volume = volume
                        $0.snapname = name
                    })
                    return String(decoding: response.status, as: UTF8.self)
                }
                let first = try await create("pvc-1", "snap-1")
                let second = try await create("pvc-1", "snap-1")
                #expect(!first.contains("ERR"))
                #expect(second.contains("ERR"), "a snapshot that exists")
                // cstor-<uid>/pvc-1@ is 49 bytes: a name of 207 makes the dataset name 256 bytes long.
                for bad in ["", "a b", "a/b", "a@b", "na\u{e9}me", String(repeating: "s", count: 207)] {
                    let answer = try await create("pvc-1", bad)
                    #expect(answer.contains("ERR"), "\(bad)")
                }
                let longest = try await create("pvc-1", String(repeating: "s", count: 206))
                #expect(!longest.contains("ERR"), "255 bytes in all is the longest")
                let deleted = try await delete("pvc-1", "snap-1")
                let again = try await delete("pvc-1", "snap-1")
                #expect(!deleted.contains("ERR"))
                #expect(again.contains("ERR") && again.contains("not found"))
            }
        }
    }
}
