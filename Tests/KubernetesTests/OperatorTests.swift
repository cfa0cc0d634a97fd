import CSITestSupport
import CStorCore
import CStorKubernetes
import CStorKubernetesHTTP
import CStorModel
import Foundation
import Testing

@Suite("Simulated cvc-operator")
struct OperatorTests {
    let namespace = "openebs"

    /// A server, a client and an operator together.
    func withOperator(
        _ options: SimulatedCVCOperator.Options = SimulatedCVCOperator.Options(),
        _ body: (KubeAPITestServer, HTTPKubernetesClient, SimulatedCVCOperator) async throws -> Void
    ) async throws {
        try await withServerAndClient { server, client in
            try await SimulatedCVCOperator.with(store: server.store, options: options) { simulated in
                try await body(server, client, simulated)
            }
            #expect(server.store.rejectedInProcessWrites == [], "every write of the simulated operator passes the API's checks")
        }
    }

    @Test("A Pending CVC created by the client is bound: CV with iqn, portal and capacity, then Healthy")
    func binds() async throws {
        try await withOperator { _, client, _ in
            let created = try await client.create(makeCVC("pvc-1", size: "5Gi", replicas: 3))
            let bound = try await client.waitFor(CStorVolumeConfig.self, name: "pvc-1", namespace: namespace, timeout: .seconds(10)) {
                $0.phase == .bound
            }
            #expect(bound.actualStorage == (try Quantity(parsing: "5Gi")))
            #expect(bound.spec.cstorVolumeRef?.name == "pvc-1")
            #expect(bound.metadata.uid == created.metadata.uid)
            let volume = try await client.waitFor(CStorVolume.self, name: "pvc-1", namespace: namespace, timeout: .seconds(10)) {
                $0.phase == .healthy
            }
            #expect(volume.spec.iqn == "iqn.2016-09.com.openebs.cstor:pvc-1")
            let address = try #require(volume.spec.targetIP)
            #expect(volume.spec.targetPortal == "\(address):3260")
            #expect(volume.spec.targetPort == "3260")
            #expect(volume.spec.capacity == (try Quantity(parsing: "5Gi")))
            #expect(volume.spec.replicationFactor == 3)
            #expect(volume.status?.replicaStatuses?.count == 3)
            #expect(volume.metadata.ownerReferences.first?.uid == created.metadata.uid)
        }
    }

    @Test("The CV goes through Init before Healthy")
    func initThenHealthy() async throws {
        try await withOperator { server, client, _ in
            let watch = client.watch(CStorVolume.self, namespace: namespace)
            async let events = collect(2, from: watch)
            try await server.store.waitForWatches(started: 1)
            _ = try await client.create(makeCVC("pvc-1"))
            let seen = try await events
            #expect(summary(seen) == ["ADDED pvc-1", "MODIFIED pvc-1"])
            #expect(seen.map { $0.object?.phase } == [.initializing, .healthy])
        }
    }

    @Test("An expansion raises CV and CVC capacity after a Resizing condition")
    func expands() async throws {
        try await withOperator { _, client, _ in
            _ = try await client.create(makeCVC("pvc-1", size: "5Gi"))
            _ = try await client.waitFor(CStorVolumeConfig.self, name: "pvc-1", namespace: namespace, timeout: .seconds(10)) { $0.phase == .bound }
            let before = try await client.listAll(CStorVolumeConfig.self, namespace: namespace)
            let watch = client.watch(CStorVolumeConfig.resource, as: CStorVolumeConfig.self, namespace: namespace, after: before)
            _ = try await client.mergePatch(CStorVolumeConfig.self, name: "pvc-1", namespace: namespace, ["spec": ["capacity": ["storage": "10Gi"]]])
            let ten = try Quantity(parsing: "10Gi")
            // Requested, Resizing, done.
            let seen = try await collect(3, from: watch).compactMap(\.object)
            #expect(seen.map(\.requestedStorage) == [ten, ten, ten])
            #expect(seen[1].status?.condition?.map(\.type) == ["Resizing"])
            #expect(seen[1].actualStorage == (try Quantity(parsing: "5Gi")))
            #expect(seen[2].actualStorage == ten)
            #expect(seen[2].status?.condition == nil)
            let volume = try await client.get(CStorVolume.self, name: "pvc-1", namespace: namespace)
            #expect(volume.spec.capacity == ten)
            #expect(volume.status?.capacity == ten)
        }
    }

    @Test("Deleting a CVC removes its CV and replicas, then the finalizer, so the CVC goes")
    func deletion() async throws {
        try await withOperator { _, client, simulated in
            _ = try await client.create(makeCVC("pvc-1"))
            _ = try await client.waitFor(CStorVolume.self, name: "pvc-1", namespace: namespace, timeout: .seconds(10)) { $0.phase == .healthy }
            try simulated.createReplicas(volume: "pvc-1", poolInstances: ["pool-a"], snapshots: [:])
            let result = try await client.delete(CStorVolumeConfig.self, name: "pvc-1", namespace: namespace)
            #expect(!result.isGone)
            try await client.waitForDeletion(CStorVolumeConfig.self, name: "pvc-1", namespace: namespace, timeout: .seconds(10))
            #expect(try await client.getIfPresent(CStorVolume.self, name: "pvc-1", namespace: namespace) == nil)
            let replicas = try await client.list(
                CStorVolumeReplica.self, namespace: namespace, options: ListOptions(labelSelector: "cstorvolume.openebs.io/name=pvc-1"))
            #expect(replicas.items.isEmpty)
        }
    }

    @Test("Told never to bind, the operator leaves the CVC Pending and a wait times out")
    func neverBinds() async throws {
        try await withOperator(SimulatedCVCOperator.Options(failure: .neverBind)) { server, client, _ in
            _ = try await client.create(makeCVC("pvc-1"))
            let error = await kubernetesError {
                try await client.waitFor(CStorVolumeConfig.self, name: "pvc-1", namespace: namespace, timeout: .milliseconds(400)) {
                    $0.phase == .bound
                }
            }
            #expect(error?.kind == .timeout)
            #expect(server.store.object(CStorVolume.self, namespace: namespace, name: "pvc-1") == nil)
        }
    }

    @Test("Told so, the operator leaves the CV Offline, and can degrade it later")
    func volumePhases() async throws {
        try await withOperator(SimulatedCVCOperator.Options(failure: .volumePhase(.offline))) { _, client, simulated in
            _ = try await client.create(makeCVC("pvc-1"))
            let offline = try await client.waitFor(CStorVolume.self, name: "pvc-1", namespace: namespace, timeout: .seconds(10)) {
                $0.phase == .offline
            }
            #expect(offline.status?.replicaStatuses?.allSatisfy { $0.mode == "Offline" } == true)
            simulated.setVolumePhase("pvc-1", .degraded)
            _ = try await client.waitFor(CStorVolume.self, name: "pvc-1", namespace: namespace, timeout: .seconds(10)) { $0.phase == .degraded }
        }
    }

    @Test("Told never to expand, the operator leaves the capacity as it was")
    func neverExpands() async throws {
        try await withOperator { _, client, simulated in
            _ = try await client.create(makeCVC("pvc-1", size: "5Gi"))
            _ = try await client.waitFor(CStorVolumeConfig.self, name: "pvc-1", namespace: namespace, timeout: .seconds(10)) { $0.phase == .bound }
            simulated.options.failure = .neverExpand
            _ = try await client.mergePatch(CStorVolumeConfig.self, name: "pvc-1", namespace: namespace, ["spec": ["capacity": ["storage": "10Gi"]]])
            let resizing = try await client.waitFor(CStorVolumeConfig.self, name: "pvc-1", namespace: namespace, timeout: .seconds(10)) {
                $0.status?.condition?.isEmpty == false
            }
            #expect(resizing.actualStorage == (try Quantity(parsing: "5Gi")))
            let error = await kubernetesError {
                try await client.waitFor(CStorVolumeConfig.self, name: "pvc-1", namespace: namespace, timeout: .milliseconds(300)) {
                    $0.actualStorage == (try? Quantity(parsing: "10Gi"))
                }
            }
            #expect(error?.kind == .timeout)
        }
    }

    @Test("Pool fixtures: a CSPC with ONLINE instances and their free space, readable through the client")
    func poolFixtures() async throws {
        try await withOperator { _, client, simulated in
            try simulated.createPoolCluster(
                "cspc-a", nodes: ["node-1", "node-2"], free: try Quantity(parsing: "90Gi"), total: try Quantity(parsing: "100Gi"))
            let instances = try await client.list(
                CStorPoolInstance.self, namespace: namespace, options: ListOptions(labelSelector: "openebs.io/cstor-pool-cluster=cspc-a"))
            #expect(instances.items.count == 2)
            #expect(instances.items.allSatisfy { $0.phase == .online })
            #expect(try instances.items.first?.status?.capacity?.free?.bytes == 90 << 30)
            #expect(instances.items.first?.status?.capacity?.used == (try Quantity(parsing: "10Gi")))
            let cluster = try await client.get(CStorPoolCluster.self, name: "cspc-a", namespace: namespace)
            #expect(cluster.status?.healthyInstances == 2)
        }
    }

    @Test("Replica fixtures carry snapshots with their logicalReferenced size")
    func replicaFixtures() async throws {
        try await withOperator { _, client, simulated in
            try simulated.createReplicas(volume: "pvc-1", poolInstances: ["cspc-a-0", "cspc-a-1"], snapshots: ["snap-1": 1 << 30])
            let replicas = try await client.list(
                CStorVolumeReplica.self, namespace: namespace, options: ListOptions(labelSelector: "cstorvolume.openebs.io/name=pvc-1"))
            #expect(replicas.items.count == 2)
            #expect(replicas.items.allSatisfy { $0.status?.snapshots?["snap-1"]?.logicalReferenced == 1 << 30 })
        }
    }

    @Test("Like cvc-operator 3.6, the operator writes its version into a new CVC and leaves one naming another version alone")
    func versionGate() async throws {
        try await withOperator { server, client, simulated in
            _ = try await client.create(makeCVC("pvc-new"))
            let bound = try await client.waitFor(CStorVolumeConfig.self, name: "pvc-new", namespace: namespace, timeout: .seconds(5)) {
                $0.phase == .bound
            }
            #expect(bound.versionDetails?.status?.current == "3.6.0")
            #expect(bound.versionDetails?.desired == "3.6.0")
            #expect(bound.spec.policy != nil)

            var own = makeCVC("pvc-own-version")
            own.versionDetails = VersionDetails(desired: "0.1.0", status: .init(current: "0.1.0", dependentsUpgraded: true))
            _ = try await client.create(own)
            try await Task.sleep(for: .milliseconds(300))
            let stored = try await client.get(CStorVolumeConfig.self, name: "pvc-own-version", namespace: namespace)
            #expect(stored.phase == .pending, "a CVC naming the driver's own version is never bound")
            #expect(simulated.refusedToReconcile.contains("pvc-own-version"))
        }
    }

    @Test("A CVC naming a CStorVolumePolicy gets its spec at bind; one naming a missing policy stays Pending")
    func volumePolicy() async throws {
        try await withOperator { server, client, _ in
            try server.store.create(
                CStorVolumePolicy(
                    metadata: ObjectMeta(name: "fast", namespace: namespace),
                    spec: CStorVolumePolicySpec(provision: .init(replicaAffinity: true), target: .init(queueDepth: "32"))))
            var named = makeCVC("pvc-policy")
            named.metadata.annotations["openebs.io/volume-policy"] = "fast"
            _ = try await client.create(named)
            let bound = try await client.waitFor(CStorVolumeConfig.self, name: "pvc-policy", namespace: namespace, timeout: .seconds(5)) {
                $0.phase == .bound
            }
            #expect(bound.spec.policy?.provision?.replicaAffinity == true)
            #expect(bound.spec.policy?.target?.queueDepth == "32")

            var missing = makeCVC("pvc-no-policy")
            missing.metadata.annotations["openebs.io/volume-policy"] = "nowhere"
            _ = try await client.create(missing)
            try await Task.sleep(for: .milliseconds(300))
            #expect(try await client.get(CStorVolumeConfig.self, name: "pvc-no-policy", namespace: namespace).phase == .pending)
        }
    }
}
