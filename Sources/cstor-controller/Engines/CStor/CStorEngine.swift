import CStorCore
import CStorKubernetes
import CStorModel
import FoundationEssentials
import Glibc
import Logging
import ServiceLifecycle

/// The cStor engine: volumes are CStorVolumeConfigs that the cvc-operator binds and serves as
/// CStorVolumes (an iSCSI target per volume); attachments are CStorVolumeAttachments; snapshots
/// are cut by the volume's target over gRPC. Everything it writes matches openebs/cstor-csi
/// (DESIGN.md §1), so an existing cluster can switch drivers.
struct CStorEngine: VolumeEngine {
    struct Settings: Sendable {
        /// The OpenEBS namespace where CVC, CV, CVA, CVR and the pools live.
        var namespace: String
        var provisionTimeout: Duration = .seconds(60)
        var expandTimeout: Duration = .seconds(60)
        var snapshotTimeout: Duration = .seconds(60)
    }

    let client: any KubernetesClient
    let target: any SnapshotTarget
    let settings: Settings
    let logger: Logger
    /// Shared watches of the objects read on every create: the CVCs (waits for Bound and for
    /// expansions), the pool clusters and pool instances (placement checks). Until a cache has
    /// synced, the engine asks the API server directly.
    let volumeConfigs: Informer<CStorVolumeConfig>
    let poolClusters: Informer<CStorPoolCluster>
    let poolInstanceCache: Informer<CStorPoolInstance>

    /// Decides whose fault a refused write is (see `APIRefusal`).
    let refusals: APIRefusal

    init(client: any KubernetesClient, target: any SnapshotTarget, settings: Settings, logger: Logger) {
        self.client = client
        self.target = target
        self.settings = settings
        self.logger = logger
        refusals = APIRefusal(logger: logger)
        volumeConfigs = Informer(client: client, namespace: settings.namespace, logger: logger)
        poolClusters = Informer(client: client, namespace: settings.namespace, logger: logger)
        poolInstanceCache = Informer(client: client, namespace: settings.namespace, logger: logger)
    }

    /// The informers, to run as background services.
    var informers: [any Service] { [volumeConfigs, poolClusters, poolInstanceCache] }

    /// A CVC, from the cache once it has synced, else from the API.
    func volumeConfig(_ name: String) async throws -> CStorVolumeConfig? {
        if volumeConfigs.isSynced { return volumeConfigs.cached(name) }
        return try await client.getIfPresent(CStorVolumeConfig.self, name: name, namespace: namespace)
    }

    /// Waits for a condition on a CVC: on the shared watch once synced, else on a watch of its own.
    /// A shutdown ends the wait at once (the call answers Aborted and the provisioner or resizer
    /// asks the next controller), instead of holding the process until its grace period ends.
    func waitForVolumeConfig(
        _ name: String, timeout: Duration, until condition: @escaping @Sendable (CStorVolumeConfig) -> Bool
    ) async throws -> CStorVolumeConfig {
        try await cancelWhenGracefulShutdown { [volumeConfigs, client, namespace] in
            if volumeConfigs.isSynced {
                return try await volumeConfigs.wait(for: name, timeout: timeout, until: condition)
            }
            return try await client.waitFor(CStorVolumeConfig.self, name: name, namespace: namespace, timeout: timeout, until: condition)
        }
    }

    var name: String { "cstor" }
    var features: EngineFeatures { [.snapshots, .capacity, .volumeCondition] }
    var namespace: String { settings.namespace }

    static let gibibyte: Int64 = 1 << 30

    /// A volume id names the CVC, the CV, the target's Service and the value of the labels that
    /// the operator and the CVA carry: a Kubernetes label value holds at most 63 bytes, with a
    /// letter or digit at both ends. Provisioner names (`pvc-<uid>`, 40 bytes) are kept as they are.
    var volumeNames: SnapshotID.NameRule { SnapshotID.NameRule(maximumLength: 63) { Self.annotationNameProblem($0) } }

    // MARK: - Names the original driver uses

    enum Keys {
        static let cvcFinalizer = "cvc.openebs.io/finalizer"
        static let volumeIDAnnotation = "openebs.io/volumeID"
        static let policyAnnotation = "openebs.io/volume-policy"
        static let claimAnnotation = "openebs.io/persistent-volume-claim"
        /// Copied from the claim: `restore` on claims velero-plugin creates.
        static let createdThroughAnnotation = "openebs.io/created-through"
        static let poolClusterLabel = "openebs.io/cstor-pool-cluster"
        static let sourceVolumeLabel = "openebs.io/source-volume"
        static let attachmentVolumeLabel = "Volname"
        static let attachmentNodeLabel = "nodeID"
        /// Ours: the CreateVolume name of a CVC whose name is that name's shortened form.
        static let csiNameAnnotation = "cstor.csi.openebs.io/csi-name"
        /// Ours: a CVA is only deleted by this driver's ControllerUnpublishVolume.
        static let attachmentFinalizer = "cstor.csi.openebs.io/attachment"
        /// Ours: one annotation per snapshot on its source CVC, holding its creation time.
        static let snapshotAnnotationPrefix = "snapshot.cstor.csi.openebs.io/"
        static let replicaVolumeLabel = "cstorvolume.openebs.io/name"
        /// Kubernetes' taint for a node shut down for good (non-graceful node shutdown).
        static let outOfServiceTaint = "node.kubernetes.io/out-of-service"
    }

    /// StorageClass parameters, validated.
    struct Parameters: Equatable {
        var poolCluster: String
        var replicaCount: Int
        var policy: String?

        init(_ parameters: [String: String]) throws {
            guard let cluster = parameters["cstorPoolCluster"], !cluster.isEmpty else {
                throw CSIError.invalidArgument("StorageClass parameter cstorPoolCluster is required (the CStorPoolCluster to place replicas on)")
            }
            guard IdentifierRules.volumeIDProblem(cluster) == nil else {
                throw CSIError.invalidArgument("StorageClass parameter cstorPoolCluster \(PathRules.quoted(cluster)) is not a valid name")
            }
            let countText = parameters["replicaCount"] ?? "1"
            guard let count = Int(countText), count >= 1, count <= 64 else {
                throw CSIError.invalidArgument("StorageClass parameter replicaCount \(PathRules.quoted(countText)) must be an integer from 1 to 64")
            }
            if let casType = parameters["cas-type"], casType != "cstor" {
                throw CSIError.invalidArgument("StorageClass parameter cas-type is \(PathRules.quoted(casType)); this driver serves cas-type cstor")
            }
            poolCluster = cluster
            replicaCount = count
            policy = parameters["cstorVolumePolicy"].flatMap { $0.isEmpty ? nil : $0 }
        }
    }

    // MARK: - Readiness

    func readiness() async -> IdentityService.Readiness {
        do {
            let missing = try await client.missingResources(
                [.cstorVolumeConfigs, .cstorVolumes, .cstorVolumeAttachments])
            guard missing.isEmpty else {
                return .notReady("the API server does not serve \(missing.map(\.description).joined(separator: ", ")): are the cStor CRDs installed?")
            }
            return .ready
        } catch {
            return .notReady("the Kubernetes API does not answer: \(CSIError.from(error).message)")
        }
    }

    func allocationSize(forRequested requestedBytes: Int64) throws -> Int64 {
        let (rounded, overflow) = requestedBytes.addingReportingOverflow(Self.gibibyte - 1)
        guard !overflow else { throw CSIError.outOfRange("\(requestedBytes) bytes is too large") }
        return rounded / Self.gibibyte * Self.gibibyte
    }

    // MARK: - Create and delete

    func createVolume(_ request: VolumeRequest) async throws -> VolumeInfo {
        let parameters = try Parameters(request.parameters)
        let gib = request.capacityBytes / Self.gibibyte
        let storage = try Quantity.gibibytes(gib)
        let source = try cstorVolumeSource(request.source)

        if let existing = try await volumeConfig(request.name) {
            guard !existing.metadata.isBeingDeleted else {
                throw CSIError.aborted("volume \(request.name) is being deleted; retry once it is gone")
            }
            try requireSame(existing, request: request, storage: storage, parameters: parameters, source: source)
        } else {
            try await requirePools(parameters)
            if case .snapshot(let id) = request.source { try await requireSnapshot(id) }
            let createdThrough = try await claimAnnotation(Keys.createdThroughAnnotation, of: request)
            let cvc = makeVolumeConfig(request, storage: storage, parameters: parameters, source: source, createdThrough: createdThrough)
            do {
                _ = try await refusals.write("CStorVolumeConfig \(request.name)", inputs: requestInputs(request, parameters)) {
                    try await client.create(cvc)
                }
                logger.info(
                    "created CStorVolumeConfig",
                    metadata: ["volume_id": .string(request.name), "capacity": .string(storage.description),
                               "pool_cluster": .string(parameters.poolCluster)])
            } catch let error as KubernetesError where error.kind == .alreadyExists {
                // A concurrent or earlier create got there first; compare and wait like a retry.
                let existing = try await client.get(CStorVolumeConfig.self, name: request.name, namespace: namespace)
                try requireSame(existing, request: request, storage: storage, parameters: parameters, source: source)
            }
        }
        let bound = try await waitUntilBound(request.name)
        return VolumeInfo(
            id: request.name, capacityBytes: (try? bound.actualStorage?.bytes) ?? request.capacityBytes,
            context: ["openebs.io/cas-type": "cstor"], source: request.source, publishedNodes: [], condition: nil)
    }

    /// The values of a CreateVolume that the CVC carries, for telling a refused request from a
    /// refused CVC.
    func requestInputs(_ request: VolumeRequest, _ parameters: Parameters) -> [APIRefusal.Input] {
        var inputs = [
            APIRefusal.Input(name: "volume name", value: request.name, fields: ["metadata.name"]),
            APIRefusal.Input(name: "StorageClass parameter cstorPoolCluster", value: parameters.poolCluster, fields: ["metadata.labels"]),
        ]
        if case .snapshot(let id) = request.source {
            inputs.append(APIRefusal.Input(name: "source snapshot", value: id.volumeID, fields: ["metadata.labels", "spec.cstorVolumeSource"]))
        }
        return inputs
    }

    /// An annotation of the claim the provisioner names (`csi.storage.k8s.io/pvc/name` and
    /// `/namespace`, with `--extra-create-metadata`), as openebs/cstor-csi reads it. nil without
    /// those parameters, or when the claim is gone (the provisioner then stops asking).
    func claimAnnotation(_ key: String, of request: VolumeRequest) async throws -> String? {
        guard let name = request.claimName, let claimNamespace = request.claimNamespace, !name.isEmpty, !claimNamespace.isEmpty
        else { return nil }
        guard let claim = try await client.getIfPresent(PersistentVolumeClaim.self, name: name, namespace: claimNamespace) else {
            logger.notice(
                "the claim named by the provisioner does not exist; its annotations are not copied",
                metadata: ["volume_id": .string(request.name), "claim": .string("\(claimNamespace)/\(name)")])
            return nil
        }
        return claim.metadata.annotations[key]
    }

    /// The CVC of a new volume, member for member what openebs/cstor-csi writes: the CRD requires
    /// `spec.policy` (an empty one, which the cvc-operator fills from the volume policy when it
    /// binds) and `versionDetails` (without a version: the operator writes its own, and refuses a
    /// CVC that names another). `publish.nodeId` is the node the provisioner prefers (where the
    /// first consumer was scheduled), for the operator's `replicaAffinity`; it is written only
    /// here. `openebs.io/created-through` is copied from the claim: velero-plugin's restores set
    /// it, and the operator then keeps the target's address from the new replicas.
    func makeVolumeConfig(
        _ request: VolumeRequest, storage: Quantity, parameters: Parameters, source: String?, createdThrough: String? = nil
    ) -> CStorVolumeConfig {
        var annotations = [Keys.volumeIDAnnotation: request.name, Keys.policyAnnotation: parameters.policy ?? ""]
        if let claim = request.claimName { annotations[Keys.claimAnnotation] = claim }
        if let createdThrough { annotations[Keys.createdThroughAnnotation] = createdThrough }
        if request.requestedName != request.name { annotations[Keys.csiNameAnnotation] = request.requestedName }
        var labels = [Keys.poolClusterLabel: parameters.poolCluster]
        if case .snapshot(let id) = request.source { labels[Keys.sourceVolumeLabel] = id.volumeID }
        return CStorVolumeConfig(
            metadata: ObjectMeta(
                name: request.name, namespace: namespace, labels: labels, annotations: annotations,
                finalizers: [Keys.cvcFinalizer]),
            spec: CStorVolumeConfig.Spec(
                capacity: ["storage": storage], cstorVolumeSource: source, policy: .newVolume,
                provision: CStorVolumeConfigKind.Provision(capacity: ["storage": storage], replicaCount: parameters.replicaCount)),
            publish: request.preferredNode.map { CStorVolumeConfigKind.Publish(nodeId: $0) },
            status: CStorVolumeConfig.Status(phase: .pending),
            versionDetails: .newVolume)
    }

    func cstorVolumeSource(_ source: VolumeSource?) throws -> String? {
        switch source {
        case nil: return nil
        case .snapshot(let id): return id.description
        case .volume: throw CSIError.invalidArgument("cloning a volume is not supported by the cstor engine; snapshot it and restore the snapshot")
        }
    }

    /// The same name was created before: the same request is the same volume, anything else is
    /// AlreadyExists (CSI idempotency).
    func requireSame(
        _ existing: CStorVolumeConfig, request: VolumeRequest, storage: Quantity, parameters: Parameters, source: String?
    ) throws {
        let name = existing.metadata.name
        let existingName = existing.metadata.annotations[Keys.csiNameAnnotation] ?? name
        guard existingName == request.requestedName else {
            throw CSIError.alreadyExists(
                "volume \(name) was created for the name \(PathRules.quoted(existingName)), whose shortened form is the same")
        }
        let existingStorage = existing.spec.provision?.capacity?["storage"]
        var differences: [String] = []
        if existingStorage != storage { differences.append("size \(existingStorage?.description ?? "none") instead of \(storage)") }
        if existing.spec.provision?.replicaCount != parameters.replicaCount {
            differences.append("replicaCount \(existing.spec.provision?.replicaCount.map(String.init) ?? "none") instead of \(parameters.replicaCount)")
        }
        if existing.metadata.labels[Keys.poolClusterLabel] != parameters.poolCluster {
            differences.append("pool cluster \(existing.metadata.labels[Keys.poolClusterLabel] ?? "none") instead of \(parameters.poolCluster)")
        }
        if (existing.spec.cstorVolumeSource ?? "") != (source ?? "") {
            differences.append("source \(existing.spec.cstorVolumeSource ?? "none") instead of \(source ?? "none")")
        }
        guard differences.isEmpty else {
            throw CSIError.alreadyExists("volume \(name) already exists with " + differences.joined(separator: ", "))
        }
    }

    /// Whether the cvc-operator places replicas on a pool instance: any that is not OFFLINE and
    /// not read-only (ONLINE and DEGRADED pools serve, and so do pools in other states).
    static func isUsable(_ pool: CStorPoolInstance) -> Bool {
        pool.phase != .offline && pool.status?.readOnly != true
    }

    /// The pool cluster exists and has at least `replicaCount` pool instances the operator uses.
    func requirePools(_ parameters: Parameters) async throws {
        // A miss in the informer's cache is asked of the API server before the final answer: the
        // cache may not have synced yet, or may lag a pool cluster created a moment ago.
        var cluster = poolClusters.isSynced ? poolClusters.cached(parameters.poolCluster) : nil
        if cluster == nil {
            cluster = try await client.getIfPresent(CStorPoolCluster.self, name: parameters.poolCluster, namespace: namespace)
        }
        guard cluster != nil else {
            throw CSIError.invalidArgument(
                "the CStorPoolCluster \(parameters.poolCluster) named by the StorageClass does not exist in namespace \(namespace)")
        }
        let instances = try await poolInstances(parameters.poolCluster)
        let usable = instances.filter(Self.isUsable)
        guard usable.count >= parameters.replicaCount else {
            let states = instances.map { "\($0.metadata.name) (\($0.phase?.rawValue ?? "no phase")\($0.status?.readOnly == true ? ", read-only" : ""))" }
            throw CSIError.resourceExhausted(
                "replicaCount \(parameters.replicaCount) needs as many pool instances of \(parameters.poolCluster) that are neither OFFLINE nor read-only; it has \(usable.count)"
                    + (states.isEmpty ? "" : ": " + states.joined(separator: ", ")))
        }
    }

    func poolInstances(_ cluster: String) async throws -> [CStorPoolInstance] {
        if poolInstanceCache.isSynced {
            let members: [CStorPoolInstance] = poolInstanceCache.cachedObjects().filter { instance in
                instance.metadata.labels[Keys.poolClusterLabel] == cluster
            }
            return members.sorted { $0.metadata.name < $1.metadata.name }
        }
        return try await client.listAll(
            CStorPoolInstance.self, namespace: namespace, labelSelector: "\(Keys.poolClusterLabel)=\(cluster)"
        ).items
    }

    /// Waits (watching) until the cvc-operator bound the CVC. On timeout the error says what the
    /// CVC looks like; the provisioner retries and the retry resumes this wait.
    func waitUntilBound(_ name: String) async throws -> CStorVolumeConfig {
        do {
            return try await waitForVolumeConfig(name, timeout: settings.provisionTimeout) { $0.phase == .bound }
        } catch let error as KubernetesError where error.kind == .timeout {
            let cvc = try? await client.get(CStorVolumeConfig.self, name: name, namespace: namespace)
            let phase = cvc?.phase?.rawValue ?? "unknown"
            let condition = cvc?.status?.condition?.last.map { "\($0.type ?? ""): \($0.message ?? $0.reason ?? "")" }
            throw CSIError.deadlineExceeded(
                "CStorVolumeConfig \(name) is still \(phase) after \(settings.provisionTimeout)"
                    + (condition.map { "; the cvc-operator reports \($0)" } ?? "; the cvc-operator reported nothing (is it running?)"))
        }
    }

    func deleteVolume(_ id: String) async throws {
        guard try await client.getIfPresent(CStorVolumeConfig.self, name: id, namespace: namespace) != nil else { return }
        try await releaseAttachments(beforeDeleting: id)
        let result = try await client.deleteIfPresent(
            CStorVolumeConfig.self, name: id, namespace: namespace, options: DeleteOptions(propagationPolicy: .foreground))
        logger.info("deleting CStorVolumeConfig", metadata: ["volume_id": .string(id), "gone": .stringConvertible(result.isGone)])
    }

    // MARK: - Reading volumes

    func volume(_ id: String) async throws -> VolumeInfo? {
        guard let cvc = try await client.getIfPresent(CStorVolumeConfig.self, name: id, namespace: namespace) else { return nil }
        let cv = try await client.getIfPresent(CStorVolume.self, name: id, namespace: namespace)
        let nodes = try await attachments(of: id).filter { !$0.metadata.isBeingDeleted }.compactMap(Self.node(of:)).sorted()
        return info(cvc, volume: cv, nodes: nodes)
    }

    func info(_ cvc: CStorVolumeConfig, volume: CStorVolume?, nodes: [String]) -> VolumeInfo {
        let capacity = (try? volume?.spec.capacity?.bytes) ?? (try? cvc.actualStorage?.bytes) ?? (try? cvc.requestedStorage?.bytes) ?? 0
        var source: VolumeSource?
        if let text = cvc.spec.cstorVolumeSource, let id = SnapshotID(parsing: text) { source = .snapshot(id) }
        return VolumeInfo(
            id: cvc.metadata.name, capacityBytes: capacity, context: ["openebs.io/cas-type": "cstor"], source: source,
            publishedNodes: nodes, condition: Self.condition(cvc, volume))
    }

    /// The volume condition from the CV phase: Healthy normal; Degraded normal, naming the
    /// replicas that are not healthy; Init, Offline, Error (or no CV yet) abnormal.
    static func condition(_ cvc: CStorVolumeConfig, _ volume: CStorVolume?) -> VolumeHealth {
        guard let volume else {
            return VolumeHealth(abnormal: true, message: "no CStorVolume yet (CStorVolumeConfig is \(cvc.phase?.rawValue ?? "unknown"))")
        }
        switch volume.phase {
        case .healthy?:
            return VolumeHealth(abnormal: false, message: "healthy")
        case .degraded?:
            let unhealthy = (volume.status?.replicaStatuses ?? []).filter { $0.mode != "Healthy" }
                .map { "\($0.replicaId ?? "?") (\($0.mode ?? "unknown"))" }
            return VolumeHealth(
                abnormal: false,
                message: "degraded: serving with fewer replicas"
                    + (unhealthy.isEmpty ? "" : "; not healthy: " + unhealthy.joined(separator: ", ")))
        case let phase:
            return VolumeHealth(
                abnormal: true,
                message: "the volume target is \(phase?.rawValue ?? "in no phase")" + (volume.status?.message.map { ": \($0)" } ?? ""))
        }
    }

    func listVolumes(maxEntries: Int, startingToken: String) async throws -> Page<VolumeInfo> {
        var options = ListOptions()
        if maxEntries > 0 { options.limit = maxEntries }
        if !startingToken.isEmpty { options.continueToken = try Self.decodeToken(startingToken, kind: "volumes") }
        let page: ObjectList<CStorVolumeConfig>
        do {
            page = try await client.list(CStorVolumeConfig.self, namespace: namespace, options: options)
        } catch let error as KubernetesError where error.kind == .gone || error.kind == .badRequest {
            throw CSIError.aborted("starting_token is no longer valid (\(error.message)); list from the start")
        }
        let live = try await client.listAll(CStorVolumeAttachment.self, namespace: namespace).items.filter { !$0.metadata.isBeingDeleted }
        let byVolume = Dictionary(grouping: live) {
            $0.metadata.labels[Keys.attachmentVolumeLabel] ?? ""
        }
        let volumes = try await client.listAll(CStorVolume.self, namespace: namespace).items
        let cvs = Dictionary(volumes.map { ($0.metadata.name, $0) }, uniquingKeysWith: { first, _ in first })
        let items = page.items.filter { !$0.metadata.isBeingDeleted }.map { cvc in
            info(
                cvc, volume: cvs[cvc.metadata.name],
                nodes: (byVolume[cvc.metadata.name] ?? []).compactMap(Self.node(of:)).sorted())
        }
        let next = page.continueToken.flatMap { $0.isEmpty ? nil : Self.encodeToken($0, kind: "volumes") } ?? ""
        return Page(items: items, nextToken: next)
    }

    static func encodeToken(_ value: String, kind: String) -> String {
        Data("cstor-\(kind):\(value)".utf8).base64EncodedString()
    }

    static func decodeToken(_ token: String, kind: String) throws -> String {
        guard let text = Data(base64Encoded: token).flatMap({ String(data: $0, encoding: .utf8) }),
            text.hasPrefix("cstor-\(kind):")
        else {
            throw CSIError.aborted("starting_token \(PathRules.quoted(token)) was not issued by this plugin")
        }
        return String(text.dropFirst("cstor-\(kind):".count))
    }

    // MARK: - Expansion and capacity

    func expandVolume(_ id: String, to bytes: Int64) async throws -> Int64 {
        guard let cvc = try await client.getIfPresent(CStorVolumeConfig.self, name: id, namespace: namespace) else {
            throw CSIError.notFound("volume \(id) does not exist")
        }
        let wanted = try Quantity.gibibytes(bytes / Self.gibibyte)
        let requested = cvc.requestedStorage
        if let requested, wanted < requested {
            throw CSIError.outOfRange("volume \(id) is \(requested); shrinking to \(wanted) is not supported")
        }
        if let actual = cvc.actualStorage, actual >= wanted { return (try? actual.bytes) ?? bytes }
        if requested.map({ $0 < wanted }) ?? true {
            _ = try await refusals.write("CStorVolumeConfig \(id)") {
                try await client.updateWithRetry(CStorVolumeConfig.self, name: id, namespace: namespace) { cvc in
                    var capacity = cvc.spec.capacity ?? [:]
                    if (capacity["storage"].map { $0 < wanted }) ?? true { capacity["storage"] = wanted }
                    cvc.spec.capacity = capacity
                }
            }
            logger.info("raised the CStorVolumeConfig capacity", metadata: ["volume_id": .string(id), "capacity": .string(wanted.description)])
        }
        do {
            let grown = try await waitForVolumeConfig(id, timeout: settings.expandTimeout) {
                ($0.actualStorage.map { $0 >= wanted }) ?? false
            }
            return (try? grown.actualStorage?.bytes) ?? bytes
        } catch let error as KubernetesError where error.kind == .timeout {
            throw CSIError.deadlineExceeded(
                "volume \(id) has not reached \(wanted) after \(settings.expandTimeout); the cvc-operator is still resizing (the resizer retries)")
        }
    }

    func capacity(parameters: [String: String]) async throws -> CapacityInfo {
        guard parameters["cstorPoolCluster"] != nil else { return CapacityInfo(availableBytes: 0, maximumVolumeBytes: nil) }
        let parsed = try Parameters(parameters)
        let free = try await poolInstances(parsed.poolCluster).filter(Self.isUsable)
            .map { (try? $0.status?.capacity?.free?.bytes ?? 0) ?? 0 }
            .sorted(by: >)
        let total = free.reduce(0, +)
        // Each replica needs the whole size on its own pool: the largest volume fits in the
        // replicaCount-th largest pool.
        let largest = free.count >= parsed.replicaCount ? free[parsed.replicaCount - 1] : 0
        return CapacityInfo(
            availableBytes: total / Int64(parsed.replicaCount) / Self.gibibyte * Self.gibibyte,
            maximumVolumeBytes: largest / Self.gibibyte * Self.gibibyte)
    }
}
