import CSITestSupport
import CStorCore
import CStorKubernetes
import CStorModel
import Foundation
import GRPCCore
import Testing

/// The real controller binary on the cstor engine against the test API server (HTTPS, token),
/// the simulated cvc-operator and a stand-in snapshot target: everything it writes must be what
/// openebs/cstor-csi writes, and every failure must come back with the code the spec names.
@Suite("Controller on the cstor engine", .serialized)
struct CStorControllerTests {
    static let gib: Int64 = 1 << 30
    static let parameters = CStorCluster.parameters

    func create(
        _ cluster: CStorCluster, _ name: String, bytes: Int64 = 5 * gib, parameters: [String: String] = parameters,
        source: Csi_V1_VolumeContentSource? = nil
    ) async throws -> Csi_V1_Volume {
        try await cluster.createVolume(name, bytes: bytes, parameters: parameters, source: source)
    }

    func publish(_ cluster: CStorCluster, _ id: String, node: String = "node-1", readOnly: Bool = false) async throws -> [String: String] {
        try await cluster.client {
            try await $0.controllerPublishVolume(.with {
                $0.volumeID = id
                $0.nodeID = node
                $0.volumeCapability = .mount()
                $0.readonly = readOnly
            })
        }.publishContext
    }

    func cvc(_ cluster: CStorCluster, _ name: String) -> CStorVolumeConfig? {
        cluster.server.store.object(CStorVolumeConfig.self, namespace: cluster.namespace, name: name)
    }

    @Test("CreateVolume writes the CStorVolumeConfig exactly as openebs/cstor-csi does and returns once it is Bound")
    func createsCompatibleCVC() async throws {
        try await withCStorCluster { cluster in
            let volume = try await create(cluster, "pvc-0001", bytes: 4 * Self.gib + 1)
            #expect(volume.volumeID == "pvc-0001")
            #expect(volume.capacityBytes == 5 * Self.gib, "rounded up to whole GiB")
            #expect(volume.volumeContext == ["openebs.io/cas-type": "cstor"])
            let config = cvc(cluster, "pvc-0001")
            let cvc = try #require(config)
            #expect(cvc.metadata.annotations["openebs.io/volumeID"] == "pvc-0001")
            #expect(cvc.metadata.annotations["openebs.io/volume-policy"] == "")
            #expect(cvc.metadata.annotations["openebs.io/persistent-volume-claim"] == "data-pvc-0001")
            #expect(cvc.metadata.labels["openebs.io/cstor-pool-cluster"] == "cspc-test")
            #expect(cvc.metadata.finalizers == ["cvc.openebs.io/finalizer"])
            #expect(cvc.spec.capacity?["storage"]?.description == "5Gi")
            #expect(cvc.spec.provision?.capacity?["storage"]?.description == "5Gi")
            #expect(cvc.spec.provision?.replicaCount == 3)
            #expect(cvc.phase == .bound)
            // The same request again is the same volume; another size is AlreadyExists.
            #expect(try await create(cluster, "pvc-0001", bytes: 5 * Self.gib).capacityBytes == 5 * Self.gib)
            #expect(cluster.server.requestCount(verb: "create", pathContains: "cstorvolumeconfigs") == 1)
            #expect(await rpcCode { try await create(cluster, "pvc-0001", bytes: 6 * Self.gib) } == .alreadyExists)
            #expect(await rpcCode {
                try await create(cluster, "pvc-0001", parameters: Self.parameters.merging(["replicaCount": "1"]) { $1 })
            } == .alreadyExists)
        }
    }

    @Test("A CreateVolume name of 128 bytes gets its stable shortened id (63 bytes at most); the volume attaches and takes a 128-byte snapshot name")
    func longVolumeName() async throws {
        try await withCStorCluster { cluster in
            let name = "pvc-" + String(repeating: "a", count: 124)
            let volume = try await create(cluster, name)
            #expect(volume.volumeID.utf8.count <= 63)
            #expect(volume.volumeID == SnapshotID.shortened(name, limit: 63))
            let config = try #require(cvc(cluster, volume.volumeID))
            #expect(config.metadata.annotations["cstor.csi.openebs.io/csi-name"] == name)
            #expect(try await create(cluster, name).volumeID == volume.volumeID, "the same name is the same volume")
            #expect(cluster.server.requestCount(verb: "create", pathContains: "cstorvolumeconfigs") == 1)
            _ = try await publish(cluster, volume.volumeID)
            let snapshot = try await cluster.client {
                try await $0.createSnapshot(.with {
                    $0.sourceVolumeID = volume.volumeID
                    $0.name = String(repeating: "s", count: 128)
                })
            }.snapshot
            #expect(snapshot.snapshotID.utf8.count <= 128)
            #expect(snapshot.sourceVolumeID == volume.volumeID)
        }
    }

    @Test("StorageClass parameters and pools are checked before anything is created")
    func parametersAndPools() async throws {
        try await withCStorCluster { cluster in
            #expect(await rpcCode { try await create(cluster, "pvc-p1", parameters: [:]) } == .invalidArgument)
            #expect(await rpcCode { try await create(cluster, "pvc-p2", parameters: ["cstorPoolCluster": "cspc-test", "replicaCount": "0"]) } == .invalidArgument)
            #expect(await rpcCode { try await create(cluster, "pvc-p3", parameters: ["cstorPoolCluster": "cspc-test", "replicaCount": "x"]) } == .invalidArgument)
            #expect(await rpcCode { try await create(cluster, "pvc-p4", parameters: ["cstorPoolCluster": "cspc-test", "cas-type": "jiva"]) } == .invalidArgument)
            let missing = await rpcError { try await create(cluster, "pvc-p5", parameters: ["cstorPoolCluster": "cspc-missing"]) }
            #expect(missing?.code == .invalidArgument)
            #expect(missing?.message.contains("cspc-missing") == true)
            let tooMany = await rpcError { try await create(cluster, "pvc-p6", parameters: ["cstorPoolCluster": "cspc-test", "replicaCount": "4"]) }
            #expect(tooMany?.code == .resourceExhausted)
            #expect(tooMany?.message.contains("neither OFFLINE nor read-only") == true)
            #expect(cluster.server.requestCount(verb: "create", pathContains: "cstorvolumeconfigs") == 0)
        }
    }

    @Test("A CVC that never binds ends in DeadlineExceeded naming its phase; the retry resumes the wait and completes")
    func neverBindsThenRetry() async throws {
        try await withCStorCluster(operatorOptions: .init(failure: .neverBind, targetAddress: "127.0.0.1")) { cluster in
            let timedOut = await rpcError { try await create(cluster, "pvc-slow") }
            #expect(timedOut?.code == .deadlineExceeded)
            #expect(timedOut?.message.contains("Pending") == true)
            cluster.operatorSimulator.options.failure = .none
            let volume = try await create(cluster, "pvc-slow")
            #expect(volume.capacityBytes == 5 * Self.gib)
            #expect(cluster.server.requestCount(verb: "create", pathContains: "cstorvolumeconfigs") == 1, "no second CVC")
        }
    }

    @Test("Faults of the API server mid-create (500, 429, dropped watch) leave one CVC and the call completes")
    func apiFaultsDuringCreate() async throws {
        try await withCStorCluster { cluster in
            cluster.server.inject(.serverError(verb: "get", times: 2))
            cluster.server.inject(.tooManyRequests(verb: "list", retryAfter: 1))
            cluster.server.inject(.dropWatch(afterEvents: 0))
            let volume = try await create(cluster, "pvc-faults")
            #expect(volume.volumeID == "pvc-faults")
            #expect(cluster.server.store.objects(.cstorVolumeConfigs, namespace: cluster.namespace).count == 1)
        }
    }

    @Test("A CVC create whose answer is lost, or that times out, fails retryably; the retry finishes with one CVC")
    func lostAndHungCreates() async throws {
        try await withCStorCluster(controllerArguments: ["--kube-api-timeout", "2"]) { cluster in
            cluster.server.inject(.dropResponse(verb: "create", path: "cstorvolumeconfigs"))
            let lost = await rpcCode { try await create(cluster, "pvc-lost") }
            #expect(lost == .unavailable)
            let retriedLost = try await create(cluster, "pvc-lost")
            #expect(retriedLost.volumeID == "pvc-lost")

            cluster.server.inject(.hang(verb: "create", path: "cstorvolumeconfigs"))
            let hung = await rpcCode { try await create(cluster, "pvc-hung") }
            #expect(hung == .unavailable)
            let retriedHung = try await create(cluster, "pvc-hung")
            #expect(retriedHung.volumeID == "pvc-hung")
            let names = cluster.server.store.objects(.cstorVolumeConfigs, namespace: cluster.namespace)
                .compactMap { $0[path: ["metadata", "name"]]?.stringValue }.sorted()
            #expect(names == ["pvc-hung", "pvc-lost"], "no orphan and no duplicate CVC")
        }
    }

    @Test("Publish records a CVA for the node and returns the iSCSI publish_context; a second node is refused")
    func publishAndUnpublish() async throws {
        try await withCStorCluster { cluster in
            _ = try await create(cluster, "pvc-att")
            let context = try await publish(cluster, "pvc-att")
            #expect(context["transport"] == "iscsi")
            #expect(context["iqn"] == "iqn.2016-09.com.openebs.cstor:pvc-att")
            #expect(context["portal"] == "127.0.0.1:3260")
            #expect(context["lun"] == "0")
            let attachment = cluster.server.store.object(CStorVolumeAttachment.self, namespace: cluster.namespace, name: "pvc-att-node-1")
            let cva = try #require(attachment)
            #expect(cva.metadata.labels == ["Volname": "pvc-att", "nodeID": "node-1"])
            #expect(cva.metadata.finalizers.contains("cstor.csi.openebs.io/attachment"))
            #expect(cva.spec.volume?.ownerNodeID == "node-1")
            #expect(cva.spec.iscsi?.iqn == "iqn.2016-09.com.openebs.cstor:pvc-att")
            #expect(try await publish(cluster, "pvc-att") == context, "publishing again is success")
            let other = await rpcError { try await publish(cluster, "pvc-att", node: "node-2") }
            #expect(other?.code == .failedPrecondition)
            #expect(other?.message.contains("node-1") == true)
            #expect(await rpcCode { try await publish(cluster, "pvc-att", readOnly: true) } == .alreadyExists)
            #expect(await rpcCode { try await publish(cluster, "pvc-att", node: "node-nope") } == .notFound)
            #expect(await rpcCode { try await publish(cluster, "pvc-none") } == .notFound)
            #expect(await rpcCode {
                try await cluster.client { try await $0.deleteVolume(.with { $0.volumeID = "pvc-att" }) }
            } == .failedPrecondition, "an attached volume is not deleted")

            for _ in 0..<2 {
                _ = try await cluster.client {
                    try await $0.controllerUnpublishVolume(.with {
                        $0.volumeID = "pvc-att"
                        $0.nodeID = "node-1"
                    })
                }
            }
            #expect(cluster.server.store.object(CStorVolumeAttachment.self, namespace: cluster.namespace, name: "pvc-att-node-1") == nil)
        }
    }

    @Test("Publish needs a Healthy or Degraded target; ControllerGetVolume reports the CV phase as the condition")
    func targetPhase() async throws {
        try await withCStorCluster { cluster in
            _ = try await create(cluster, "pvc-phase")
            func condition() async throws -> Csi_V1_VolumeCondition {
                try await cluster.client { try await $0.controllerGetVolume(.with { $0.volumeID = "pvc-phase" }) }.status.volumeCondition
            }
            // Bound first, then the target comes up (Init, then Healthy): the condition follows.
            var healthy = false
            for _ in 0..<100 where !healthy {
                healthy = try await condition().abnormal == false
                if !healthy { try await Task.sleep(for: .milliseconds(20)) }
            }
            #expect(healthy)
            cluster.operatorSimulator.setVolumePhase("pvc-phase", .degraded)
            let degraded = try await condition()
            #expect(degraded.abnormal == false)
            #expect(degraded.message.contains("degraded"))
            _ = try await publish(cluster, "pvc-phase")
            _ = try await cluster.client {
                try await $0.controllerUnpublishVolume(.with {
                    $0.volumeID = "pvc-phase"
                    $0.nodeID = "node-1"
                })
            }
            cluster.operatorSimulator.setVolumePhase("pvc-phase", .offline)
            #expect(try await condition().abnormal == true)
            let refused = await rpcError { try await publish(cluster, "pvc-phase") }
            #expect(refused?.code == .unavailable)
            #expect(refused?.message.contains("Offline") == true)
            #expect(await rpcCode {
                try await cluster.client { try await $0.controllerGetVolume(.with { $0.volumeID = "pvc-nope" }) }
            } == .notFound)
        }
    }

    @Test("Snapshots go to the volume's target; restore sets cstorVolumeSource; failures name their cause")
    func snapshots() async throws {
        try await withCStorCluster { cluster in
            _ = try await create(cluster, "pvc-snap")
            try cluster.operatorSimulator.createReplicas(
                volume: "pvc-snap", poolInstances: ["pool-a", "pool-b"], snapshots: ["snap-1": 123_456_789])
            func snapshot(_ volume: String, _ name: String) async throws -> Csi_V1_Snapshot {
                try await cluster.client {
                    try await $0.createSnapshot(.with {
                        $0.sourceVolumeID = volume
                        $0.name = name
                    })
                }.snapshot
            }
            let first = try await snapshot("pvc-snap", "snap-1")
            #expect(first.snapshotID == "pvc-snap@snap-1")
            #expect(first.sizeBytes == 123_456_789)
            #expect(first.readyToUse)
            #expect(cluster.target.calls == [.init(command: "create", volume: "pvc-snap", snapshot: "snap-1")])
            let again = try await snapshot("pvc-snap", "snap-1")
            #expect(again.creationTime == first.creationTime, "the recorded creation time survives")
            #expect(cluster.target.calls.count == 1, "an existing snapshot is not cut again")

            _ = try await create(cluster, "pvc-other")
            #expect(await rpcCode { try await snapshot("pvc-other", "snap-1") } == .alreadyExists)

            cluster.target.failNext(with: #"{"status":"ERR: replica quorum lost"}"#)
            let failed = await rpcError { try await snapshot("pvc-snap", "snap-2") }
            #expect(failed?.code == .internalError)
            #expect(failed?.message.contains("quorum lost") == true)
            cluster.target.failNext(with: nil)

            cluster.operatorSimulator.setVolumePhase("pvc-other", .offline)
            let calls = cluster.target.calls.count
            #expect(await rpcCode { try await snapshot("pvc-other", "snap-3") } == .unavailable)
            #expect(cluster.target.calls.count == calls, "no call to a target that is not Healthy")

            let restored = try await create(
                cluster, "pvc-restored", source: .with { $0.snapshot = .with { $0.snapshotID = "pvc-snap@snap-1" } })
            #expect(restored.contentSource.snapshot.snapshotID == "pvc-snap@snap-1")
            let restoredConfig = cvc(cluster, "pvc-restored")
            let restoredCVC = try #require(restoredConfig)
            #expect(restoredCVC.spec.cstorVolumeSource == "pvc-snap@snap-1")
            #expect(restoredCVC.metadata.labels["openebs.io/source-volume"] == "pvc-snap")
            #expect(await rpcCode {
                try await create(cluster, "pvc-bad-source", source: .with { $0.snapshot = .with { $0.snapshotID = "pvc-snap@missing" } })
            } == .notFound)

            let listed = try await cluster.client { try await $0.listSnapshots(.with { $0.sourceVolumeID = "pvc-snap" }) }
            #expect(listed.entries.map(\.snapshot.snapshotID) == ["pvc-snap@snap-1"])
            let got = try await cluster.client { try await $0.getSnapshot(.with { $0.snapshotID = "pvc-snap@snap-1" }) }
            #expect(got.snapshot.sizeBytes == 123_456_789)

            for _ in 0..<2 {
                _ = try await cluster.client { try await $0.deleteSnapshot(.with { $0.snapshotID = "pvc-snap@snap-1" }) }
            }
            #expect(cluster.target.calls.last == .init(command: "delete", volume: "pvc-snap", snapshot: "snap-1"))
            #expect(cvc(cluster, "pvc-snap")?.metadata.annotations.keys.contains { $0.hasPrefix("snapshot.") } == false)
            // A snapshot whose source volume is gone deletes without a target.
            _ = try await cluster.client { try await $0.deleteSnapshot(.with { $0.snapshotID = "pvc-gone@snap-x" }) }
        }
    }

    @Test("ControllerExpandVolume raises the CVC capacity and returns once the operator reached it; a slow resize is retried")
    func expansion() async throws {
        try await withCStorCluster { cluster in
            _ = try await create(cluster, "pvc-grow")
            func expand(_ bytes: Int64, block: Bool = false) async throws -> Csi_V1_ControllerExpandVolumeResponse {
                try await cluster.client {
                    try await $0.controllerExpandVolume(.with {
                        $0.volumeID = "pvc-grow"
                        $0.capacityRange = .with { $0.requiredBytes = bytes }
                        $0.volumeCapability = block ? .block() : .mount()
                    })
                }
            }
            let grown = try await expand(7 * Self.gib + 5)
            #expect(grown.capacityBytes == 8 * Self.gib)
            #expect(grown.nodeExpansionRequired)
            #expect(cvc(cluster, "pvc-grow")?.spec.capacity?["storage"]?.description == "8Gi")
            #expect(try await expand(8 * Self.gib).capacityBytes == 8 * Self.gib, "already at the size")
            #expect(await rpcCode { try await expand(2 * Self.gib) } == .outOfRange)

            cluster.operatorSimulator.options.failure = .neverExpand
            #expect(await rpcCode { try await expand(10 * Self.gib, block: true) } == .deadlineExceeded)
            cluster.operatorSimulator.options.failure = .none
            let retried = try await expand(10 * Self.gib, block: true)
            #expect(retried.capacityBytes == 10 * Self.gib)
            #expect(retried.nodeExpansionRequired == false, "a block volume needs no filesystem growth")
        }
    }

    @Test("DeleteVolume deletes the CVC in the foreground; unknown ids and repeats succeed")
    func deletion() async throws {
        try await withCStorCluster { cluster in
            _ = try await create(cluster, "pvc-del")
            for _ in 0..<2 {
                _ = try await cluster.client { try await $0.deleteVolume(.with { $0.volumeID = "pvc-del" }) }
            }
            let delete = try #require(cluster.server.requests.first { $0.verb == "delete" && $0.path.contains("cstorvolumeconfigs/pvc-del") })
            #expect(delete.body.contains("Foreground") || delete.query["propagationPolicy"] == "Foreground")
            try await Task.sleep(for: .milliseconds(300))
            #expect(cvc(cluster, "pvc-del") == nil, "the operator honoured its finalizer and the CVC is gone")
            _ = try await cluster.client { try await $0.deleteVolume(.with { $0.volumeID = "pvc-never" }) }
            // A CVC being deleted is Aborted for a new create of the same name.
            cluster.operatorSimulator.options.failure = .neverBind
            _ = await rpcCode { try await create(cluster, "pvc-del2") }
        }
    }

    @Test("ListVolumes pages over the API's continue tokens and reports published nodes; GetCapacity sums free space per replica")
    func listAndCapacity() async throws {
        try await withCStorCluster { cluster in
            for index in 0..<3 { _ = try await create(cluster, "pvc-l\(index)") }
            _ = try await publish(cluster, "pvc-l1", node: "node-2")
            var ids: [String] = []
            var token = ""
            repeat {
                let page = try await cluster.client {
                    try await $0.listVolumes(.with {
                        $0.maxEntries = 2
                        $0.startingToken = token
                    })
                }
                ids += page.entries.map(\.volume.volumeID)
                if let entry = page.entries.first(where: { $0.volume.volumeID == "pvc-l1" }) {
                    #expect(entry.status.publishedNodeIds == ["node-2"])
                }
                token = page.nextToken
            } while !token.isEmpty
            #expect(ids.sorted() == ["pvc-l0", "pvc-l1", "pvc-l2"])
            #expect(await rpcCode { try await cluster.client { try await $0.listVolumes(.with { $0.startingToken = "bogus" }) } } == .aborted)

            let capacity = try await cluster.client { try await $0.getCapacity(.with { $0.parameters = Self.parameters }) }
            #expect(capacity.availableCapacity == 10 * Self.gib, "3 pools × 10 GiB free, 3 replicas each")
            #expect(capacity.maximumVolumeSize.value == 10 * Self.gib)
            let single = try await cluster.client { try await $0.getCapacity(.with { $0.parameters = ["cstorPoolCluster": "cspc-test"] }) }
            #expect(single.availableCapacity == 30 * Self.gib)
        }
    }

    @Test("Probe is not ready until the API server answers and the cStor CRDs exist")
    func readiness() async throws {
        try await withCStorCluster(controllerArguments: ["--probe-cache-seconds", "0"]) { cluster in
            func ready() async throws -> Bool {
                try await withCSIClient(socket: cluster.socket) { try await Csi_V1_Identity.Client(wrapping: $0).probe(.init()) }.ready.value
            }
            #expect(try await ready())
            cluster.server.store.unregister(.cstorVolumeAttachments)
            #expect(try await ready() == false)
            #expect(cluster.controller?.logText().contains("cstorvolumeattachments") == true)
            let info = try await withCSIClient(socket: cluster.socket) { try await Csi_V1_Identity.Client(wrapping: $0).getPluginInfo(.init()) }
            #expect(info.manifest["engine"] == "cstor")
        }
    }

    @Test("Concurrent CreateVolume calls for one name: one proceeds, the others are Aborted, one CVC exists")
    func concurrentSameName() async throws {
        try await withCStorCluster { cluster in
            let codes = await withTaskGroup(of: RPCError.Code?.self) { group in
                for _ in 0..<10 { group.addTask { await rpcCode { try await create(cluster, "pvc-race") } } }
                return await group.reduce(into: [RPCError.Code?]()) { $0.append($1) }
            }
            #expect(codes.allSatisfy { $0 == nil || $0 == .aborted }, "\(codes)")
            #expect(codes.contains(nil))
            #expect(cluster.server.requestCount(verb: "create", pathContains: "cstorvolumeconfigs") == 1)
        }
    }
}
