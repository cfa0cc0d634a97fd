import CStorCore
import CStorKubernetes
import CStorModel
import Foundation

/// Plays the OpenEBS cvc-operator (and the cStor target) against a `KubeAPIStore`, so that the CSI
/// controller's cStor engine can be tested end to end without a cluster:
///
/// - like the real one, it first writes its version into a CVC that has none
///   (`versionDetails.status.current` and `desired`), and refuses to reconcile a CVC that names
///   another version (`ShouldReconcile`: such a CVC stays Pending; see `refusedToReconcile`);
/// - a Pending CVC in the OpenEBS namespace is bound after `bindDelay`: the operator creates the CV
///   of the same name (`spec.iqn` `iqn.2016-09.com.openebs.cstor:<pv>`, `spec.targetPortal`
///   `<clusterIP>:3260`, `spec.targetIP`, `spec.targetPort` 3260, `spec.capacity`, owned by the CVC)
///   in phase Init, sets the CVC to Bound with `status.capacity` and `spec.policy` (from the
///   CStorVolumePolicy the `openebs.io/volume-policy` annotation names: a CVC naming a policy
///   that does not exist stays Pending), and after `healthyDelay` the CV
///   becomes Healthy with one replica status per replica;
/// - an expansion (`spec.capacity.storage` above `status.capacity.storage`) shows a `Resizing`
///   condition and completes after `expansionDelay` (CV and CVC capacities raised);
/// - a deleted CVC loses its CV and replicas (their `cstorvolumereplica.openebs.io/finalizer`
///   dropped as the pool managers drop it), then its `cvc.openebs.io/finalizer`, so it goes;
/// - `failure` makes it misbehave: never bind, never expand, or leave the CV in another phase.
///
/// Run it scoped with `SimulatedCVCOperator.with(store:) { operator in ... }`.
public final class SimulatedCVCOperator: Sendable {
    public enum Failure: Sendable, Equatable {
        case none
        /// CVCs stay Pending.
        case neverBind
        /// Expansions never complete.
        case neverExpand
        /// The CV reaches this phase instead of Healthy (Offline, Degraded, Init, Error).
        case volumePhase(CStorVolumePhase)
    }

    public struct Options: Sendable {
        public var namespace: String
        public var bindDelay: Duration
        public var healthyDelay: Duration
        public var expansionDelay: Duration
        public var failure: Failure
        /// The targetIP every CV gets (e.g. 127.0.0.1 where a test snapshot target listens);
        /// nil gives each CV its own cluster IP.
        public var targetAddress: String?
        /// The OpenEBS release the operator is (what it writes into versionDetails).
        public var version: String

        public init(
            namespace: String = "openebs", bindDelay: Duration = .milliseconds(20), healthyDelay: Duration = .milliseconds(20),
            expansionDelay: Duration = .milliseconds(20), failure: Failure = .none, targetAddress: String? = nil,
            version: String = "3.6.0"
        ) {
            self.version = version
            self.namespace = namespace
            self.bindDelay = bindDelay
            self.healthyDelay = healthyDelay
            self.expansionDelay = expansionDelay
            self.failure = failure
            self.targetAddress = targetAddress
        }
    }

    /// The finalizer the CSI driver puts on a CVC and the operator removes after cleaning up.
    public static let cvcFinalizer = "cvc.openebs.io/finalizer"
    /// The finalizer the operator puts on a CVR; the pool manager drops it once the zvol is gone.
    public static let replicaFinalizer = "cstorvolumereplica.openebs.io/finalizer"
    /// The label of a CVR that names its volume.
    public static let volumeLabel = "cstorvolume.openebs.io/name"

    public let store: KubeAPIStore
    private let settings: Locked<Options>
    private let busy = Locked<[String: Bool]>([:])
    private let counter = Locked<Int>(0)
    private let refused = Locked<Set<String>>([])

    /// CVCs the operator would not reconcile because their version is not its own.
    public var refusedToReconcile: Set<String> { refused.value }

    private let resyncs: AsyncStream<Void>
    private let resyncRequests: AsyncStream<Void>.Continuation

    public init(store: KubeAPIStore, options: Options = Options()) {
        self.store = store
        self.settings = Locked(options)
        (resyncs, resyncRequests) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// The current options; change them at run time (e.g. `operator.options.failure = .neverBind`).
    /// A change makes the operator look at every CVC again, like the real one's periodic resync.
    public var options: Options {
        get { settings.value }
        set {
            settings.value = newValue
            resyncRequests.yield()
        }
    }

    public var namespace: String { settings.value.namespace }

    /// Runs an operator on `store` while `body` runs.
    public static func with<T>(
        store: KubeAPIStore, options: Options = Options(), _ body: (SimulatedCVCOperator) async throws -> T
    ) async throws -> T {
        let simulated = SimulatedCVCOperator(store: store, options: options)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await simulated.run() }
            defer { group.cancelAll() }
            return try await body(simulated)
        }
    }

    /// Follows the CVCs of the namespace until the task is cancelled.
    public func run() async {
        let (names, found) = AsyncStream.makeStream(of: String.self)
        await withDiscardingTaskGroup { group in
            group.addTask {
                for await event in self.store.subscribe(.cstorVolumeConfigs, namespace: self.namespace) {
                    if let name = event.object[path: ["metadata", "name"]]?.stringValue { found.yield(name) }
                }
                found.finish()
            }
            group.addTask {
                for await _ in self.resyncs {
                    for object in self.store.objects(.cstorVolumeConfigs, namespace: self.namespace) {
                        if let name = object[path: ["metadata", "name"]]?.stringValue { found.yield(name) }
                    }
                }
            }
            for await name in names where claim(name) {
                group.addTask { await self.reconcileWhileChanged(name) }
            }
        }
    }

    /// One reconcile per CVC at a time; a change during a reconcile runs it once more.
    private func claim(_ name: String) -> Bool {
        busy.withLock { busy in
            if busy[name] != nil {
                busy[name] = true
                return false
            }
            busy[name] = false
            return true
        }
    }

    private func reconcileWhileChanged(_ name: String) async {
        while true {
            do {
                try await reconcile(name)
            } catch {
                busy.withLock { _ = $0.removeValue(forKey: name) }
                return
            }
            let again = busy.withLock { busy -> Bool in
                if busy[name] == true {
                    busy[name] = false
                    return true
                }
                busy.removeValue(forKey: name)
                return false
            }
            if !again { return }
        }
    }

    private func reconcile(_ name: String) async throws {
        let namespace = self.namespace
        guard let cvc = store.object(CStorVolumeConfig.self, namespace: namespace, name: name) else { return }
        let version = options.version
        if (cvc.versionDetails?.status?.current ?? "").isEmpty {
            // populateVersion: a new CVC gets the operator's version.
            store.modify(CStorVolumeConfig.self, namespace: namespace, name: name) { cvc in
                var details = cvc.versionDetails ?? VersionDetails()
                var status = details.status ?? VersionDetails.Status()
                status.current = version
                status.dependentsUpgraded = true
                details.status = status
                details.desired = version
                cvc.versionDetails = details
            }
            return
        }
        if cvc.metadata.isBeingDeleted {
            try await cleanUp(cvc)
            return
        }
        guard cvc.versionDetails?.status?.current == version else {
            refused.withLock { _ = $0.insert(name) }
            return
        }
        let phase = cvc.status?.phase
        if phase == nil || phase == .pending {
            guard options.failure != .neverBind else { return }
            try await Task.sleep(for: options.bindDelay)
            try await bind(name)
        } else if phase == .bound {
            try await expandIfAsked(name)
        }
    }

    private func cleanUp(_ cvc: CStorVolumeConfig) async throws {
        let namespace = cvc.metadata.namespace
        let name = cvc.metadata.name
        guard cvc.metadata.finalizers.contains(Self.cvcFinalizer) else { return }
        store.remove(.cstorVolumes, namespace: namespace, name: name)
        for replica in store.objects(.cstorVolumeReplicas, namespace: namespace)
        where replica[path: ["metadata", "labels", Self.volumeLabel]]?.stringValue == name {
            if let replicaName = replica[path: ["metadata", "name"]]?.stringValue {
                // The pool manager destroys the replica's zvol, then drops its finalizer.
                store.modify(CStorVolumeReplica.self, namespace: namespace, name: replicaName) { replica in
                    replica.metadata.finalizers.removeAll { $0 == Self.replicaFinalizer }
                }
                store.remove(.cstorVolumeReplicas, namespace: namespace, name: replicaName)
            }
        }
        store.modify(CStorVolumeConfig.self, namespace: namespace, name: name) { cvc in
            cvc.metadata.finalizers.removeAll { $0 == Self.cvcFinalizer }
        }
    }

    private func bind(_ name: String) async throws {
        let namespace = self.namespace
        guard let cvc = store.object(CStorVolumeConfig.self, namespace: namespace, name: name),
            !cvc.metadata.isBeingDeleted, cvc.status?.phase == nil || cvc.status?.phase == .pending
        else { return }
        let size = cvc.spec.capacity?["storage"] ?? cvc.spec.provision?.capacity?["storage"]
        let replicas = cvc.spec.provision?.replicaCount ?? 1
        var policy = CStorVolumePolicySpec.newVolume
        if let policyName = cvc.metadata.annotations["openebs.io/volume-policy"], !policyName.isEmpty {
            guard let named = store.object(CStorVolumePolicy.self, namespace: namespace, name: policyName) else { return }
            policy = named.spec
        }
        var volume = store.object(CStorVolume.self, namespace: namespace, name: name)
        if volume == nil {
            let address = options.targetAddress ?? nextClusterIP()
            volume = try store.create(
                CStorVolume(
                    metadata: ObjectMeta(
                        name: name, namespace: namespace,
                        labels: ["openebs.io/persistent-volume": name, "openebs.io/version": options.version],
                        ownerReferences: [OwnerReference(controller: cvc)]),
                    spec: CStorVolume.Spec(
                        capacity: size, consistencyFactor: replicas / 2 + 1, desiredReplicationFactor: replicas,
                        iqn: "iqn.2016-09.com.openebs.cstor:\(name)", replicationFactor: replicas, targetIP: address,
                        targetPort: "3260", targetPortal: "\(address):3260"),
                    status: CStorVolume.Status(capacity: size, phase: .initializing),
                    versionDetails: VersionDetails(
                        desired: options.version, status: .init(current: options.version, dependentsUpgraded: true))))
        }
        store.modify(CStorVolumeConfig.self, namespace: namespace, name: name) { cvc in
            cvc.spec.cstorVolumeRef = ObjectReference(
                apiVersion: CStorVolume.resource.apiVersion, kind: CStorVolume.resource.kind, name: name, namespace: namespace,
                uid: volume?.metadata.uid)
            cvc.spec.policy = policy
            var status = cvc.status ?? CStorVolumeConfig.Status()
            status.phase = .bound
            if let size { status.capacity = ["storage": size] }
            status.poolInfo = (0..<replicas).map { "\(name)-pool-\($0)" }
            cvc.status = status
        }
        try await Task.sleep(for: options.healthyDelay)
        var phase = CStorVolumePhase.healthy
        if case .volumePhase(let failed) = options.failure { phase = failed }
        setVolumePhase(name, phase)
    }

    private func expandIfAsked(_ name: String) async throws {
        let namespace = self.namespace
        guard let cvc = store.object(CStorVolumeConfig.self, namespace: namespace, name: name),
            let wanted = cvc.spec.capacity?["storage"], let current = cvc.status?.capacity?["storage"], wanted > current
        else { return }
        let resizing = CStorVolumeConfigKind.Condition(
            lastTransitionTime: .now, message: "Resizing from \(current) to \(wanted)", reason: "Resizing", type: "Resizing")
        if !(cvc.status?.condition ?? []).contains(where: { $0.type == "Resizing" }) {
            store.modify(CStorVolumeConfig.self, namespace: namespace, name: name) { cvc in
                let conditions = cvc.status?.condition ?? []
                cvc.status?.condition = conditions + [resizing]
            }
        }
        guard options.failure != .neverExpand else { return }
        try await Task.sleep(for: options.expansionDelay)
        store.modify(CStorVolume.self, namespace: namespace, name: name) { volume in
            volume.spec.capacity = wanted
            volume.status?.capacity = wanted
        }
        store.modify(CStorVolumeConfig.self, namespace: namespace, name: name) { cvc in
            cvc.status?.capacity = ["storage": wanted]
            let remaining = (cvc.status?.condition ?? []).filter { $0.type != "Resizing" }
            cvc.status?.condition = remaining.isEmpty ? nil : remaining
        }
    }

    /// Puts a CV in a phase (Healthy gets one healthy replica status per replica).
    public func setVolumePhase(_ name: String, _ phase: CStorVolumePhase) {
        store.modify(CStorVolume.self, namespace: namespace, name: name) { volume in
            var status = volume.status ?? CStorVolume.Status()
            status.phase = phase
            status.lastUpdateTime = .now
            let replicas = volume.spec.replicationFactor ?? 1
            let mode = phase == .healthy ? "Healthy" : phase == .degraded ? "Degraded" : "Offline"
            status.replicaStatuses = (0..<replicas).map { index in
                CStorVolumeKind.ReplicaStatus(
                    checkpointedIOSeq: "0", inflightRead: "0", inflightSync: "0", inflightWrite: "0", mode: mode,
                    quorum: "1", replicaId: String(1000 + index), upTime: 60)
            }
            volume.status = status
        }
    }

    private func nextClusterIP() -> String {
        let number = counter.withLock { value -> Int in
            value += 1
            return value
        }
        return "10.96.\(number / 250).\(number % 250 + 2)"
    }

    // MARK: - Fixtures

    /// A CSPC with ONLINE pool instances, one per node, each with `free` space.
    @discardableResult
    public func createPoolCluster(_ name: String, nodes: [String], free: Quantity, total: Quantity) throws -> [CStorPoolInstance] {
        let namespace = self.namespace
        try store.create(
            CStorPoolCluster(
                metadata: ObjectMeta(name: name, namespace: namespace),
                spec: CStorPoolCluster.Spec(
                    pools: nodes.map { node in
                        CStorPoolClusterKind.PoolSpec(
                            dataRaidGroups: [CStorPoolRaidGroup(blockDevices: [.init(blockDeviceName: "blockdevice-\(node)")])],
                            nodeSelector: ["kubernetes.io/hostname": node],
                            poolConfig: CStorPoolConfig(dataRaidGroupType: "stripe"))
                    }),
                status: CStorPoolCluster.Status(
                    desiredInstances: Int32(nodes.count), healthyInstances: Int32(nodes.count),
                    provisionedInstances: Int32(nodes.count))))
        let used = (try? Quantity.bytes(total.bytes - free.bytes)) ?? Quantity(0)
        return try nodes.enumerated().map { index, node in
            try store.create(
                CStorPoolInstance(
                    metadata: ObjectMeta(
                        name: "\(name)-\(index)", namespace: namespace,
                        labels: ["openebs.io/cstor-pool-cluster": name, "kubernetes.io/hostname": node]),
                    spec: CStorPoolInstance.Spec(
                        dataRaidGroups: [CStorPoolRaidGroup(blockDevices: [.init(blockDeviceName: "blockdevice-\(node)")])],
                        hostName: node, nodeSelector: ["kubernetes.io/hostname": node],
                        poolConfig: CStorPoolConfig(dataRaidGroupType: "stripe")),
                    status: CStorPoolInstance.Status(
                        capacity: .init(free: free, total: total, used: used, zfs: .init(logicalUsed: used)),
                        healthyReplicas: 0, phase: .online, provisionedReplicas: 0, readOnly: false)))
        }
    }

    /// CVRs of a volume, one per pool instance, each holding `snapshots` (name → logicalReferenced).
    @discardableResult
    public func createReplicas(volume: String, poolInstances: [String], snapshots: [String: Int64]) throws -> [CStorVolumeReplica] {
        let namespace = self.namespace
        let infos = snapshots.mapValues { CStorVolumeReplicaKind.SnapshotInfo(logicalReferenced: $0) }
        return try poolInstances.map { pool in
            try store.create(
                CStorVolumeReplica(
                    metadata: ObjectMeta(
                        name: "\(volume)-\(pool)", namespace: namespace,
                        labels: [Self.volumeLabel: volume, "cstorpoolinstance.openebs.io/name": pool]),
                    spec: CStorVolumeReplica.Spec(capacity: "5G", replicaid: UUID().uuidString, targetIP: "10.96.0.2"),
                    status: CStorVolumeReplica.Status(phase: "Healthy", snapshots: infos)))
        }
    }
}
