import CStorCore
import Foundation
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
    var features: EngineFeatures { [.snapshots, .expansion, .capacity, .volumeCondition] }
    var namespace: String { settings.namespace }

    static let gibibyte: Int64 = 1 << 30

    // MARK: - Names the original driver uses

    enum Keys {
        static let cvcFinalizer = "cvc.openebs.io/finalizer"
        static let volumeIDAnnotation = "openebs.io/volumeID"
        static let policyAnnotation = "openebs.io/volume-policy"
        static let claimAnnotation = "openebs.io/persistent-volume-claim"
        static let poolClusterLabel = "openebs.io/cstor-pool-cluster"
        static let sourceVolumeLabel = "openebs.io/source-volume"
        static let attachmentVolumeLabel = "Volname"
        static let attachmentNodeLabel = "nodeID"
        /// Ours: a CVA is only deleted by this driver's ControllerUnpublishVolume.
        static let attachmentFinalizer = "cstor.csi.openebs.io/attachment"
        /// Ours: one annotation per snapshot on its source CVC, holding its creation time.
        static let snapshotAnnotationPrefix = "snapshot.cstor.csi.openebs.io/"
        static let replicaVolumeLabel = "cstorvolume.openebs.io/name"
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
            try requireSame(existing, storage: storage, parameters: parameters, source: source)
        } else {
            try await requirePools(parameters)
            if case .snapshot(let id) = request.source { try await requireSnapshot(id) }
            let cvc = makeVolumeConfig(request, storage: storage, parameters: parameters, source: source)
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
                try requireSame(existing, storage: storage, parameters: parameters, source: source)
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

    /// The CVC of a new volume, member for member what openebs/cstor-csi writes: the CRD requires
    /// `spec.policy` (an empty one, which the cvc-operator fills from the volume policy when it
    /// binds) and `versionDetails` (without a version: the operator writes its own, and refuses a
    /// CVC that names another).
    func makeVolumeConfig(
        _ request: VolumeRequest, storage: Quantity, parameters: Parameters, source: String?
    ) -> CStorVolumeConfig {
        var annotations = [Keys.volumeIDAnnotation: request.name, Keys.policyAnnotation: parameters.policy ?? ""]
        if let claim = request.claimName { annotations[Keys.claimAnnotation] = claim }
        var labels = [Keys.poolClusterLabel: parameters.poolCluster]
        if case .snapshot(let id) = request.source { labels[Keys.sourceVolumeLabel] = id.volumeID }
        return CStorVolumeConfig(
            metadata: ObjectMeta(
                name: request.name, namespace: namespace, labels: labels, annotations: annotations,
                finalizers: [Keys.cvcFinalizer]),
            spec: CStorVolumeConfig.Spec(
                capacity: ["storage": storage], cstorVolumeSource: source, policy: .newVolume,
                provision: CStorVolumeConfigKind.Provision(capacity: ["storage": storage], replicaCount: parameters.replicaCount)),
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
    func requireSame(_ existing: CStorVolumeConfig, storage: Quantity, parameters: Parameters, source: String?) throws {
        let name = existing.metadata.name
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

    /// The pool cluster exists and has at least `replicaCount` ONLINE pool instances.
    func requirePools(_ parameters: Parameters) async throws {
        let cluster =
            poolClusters.isSynced
            ? poolClusters.cached(parameters.poolCluster)
            : try await client.getIfPresent(CStorPoolCluster.self, name: parameters.poolCluster, namespace: namespace)
        guard cluster != nil else {
            throw CSIError.invalidArgument(
                "the CStorPoolCluster \(parameters.poolCluster) named by the StorageClass does not exist in namespace \(namespace)")
        }
        let instances = try await poolInstances(parameters.poolCluster)
        let online = instances.filter { $0.phase == .online }
        guard online.count >= parameters.replicaCount else {
            let states = instances.map { "\($0.metadata.name) (\($0.phase?.rawValue ?? "no phase"))" }
            throw CSIError.resourceExhausted(
                "replicaCount \(parameters.replicaCount) needs as many ONLINE pool instances of \(parameters.poolCluster); it has \(online.count)"
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

    func requireSnapshot(_ id: SnapshotID) async throws {
        guard let source = try await client.getIfPresent(CStorVolumeConfig.self, name: id.volumeID, namespace: namespace),
            source.metadata.annotations[Keys.snapshotAnnotationPrefix + id.name] != nil
        else {
            throw CSIError.notFound("source snapshot \(id) does not exist")
        }
    }

    func deleteVolume(_ id: String) async throws {
        guard try await client.getIfPresent(CStorVolumeConfig.self, name: id, namespace: namespace) != nil else { return }
        if let attachment = try await attachments(of: id).first {
            throw CSIError.failedPrecondition(
                "volume \(id) is still attached to node \(attachment.metadata.labels[Keys.attachmentNodeLabel] ?? "?") (CStorVolumeAttachment \(attachment.metadata.name))")
        }
        let result = try await client.deleteIfPresent(
            CStorVolumeConfig.self, name: id, namespace: namespace, options: DeleteOptions(propagationPolicy: .foreground))
        logger.info("deleting CStorVolumeConfig", metadata: ["volume_id": .string(id), "gone": .stringConvertible(result.isGone)])
    }

    // MARK: - Reading volumes

    func volume(_ id: String) async throws -> VolumeInfo? {
        guard let cvc = try await client.getIfPresent(CStorVolumeConfig.self, name: id, namespace: namespace) else { return nil }
        let cv = try await client.getIfPresent(CStorVolume.self, name: id, namespace: namespace)
        let nodes = try await attachments(of: id).compactMap { $0.metadata.labels[Keys.attachmentNodeLabel] }.sorted()
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
        let byVolume = Dictionary(grouping: try await client.listAll(CStorVolumeAttachment.self, namespace: namespace).items) {
            $0.metadata.labels[Keys.attachmentVolumeLabel] ?? ""
        }
        let volumes = try await client.listAll(CStorVolume.self, namespace: namespace).items
        let cvs = Dictionary(volumes.map { ($0.metadata.name, $0) }, uniquingKeysWith: { first, _ in first })
        let items = page.items.filter { !$0.metadata.isBeingDeleted }.map { cvc in
            info(
                cvc, volume: cvs[cvc.metadata.name],
                nodes: (byVolume[cvc.metadata.name] ?? []).compactMap { $0.metadata.labels[Keys.attachmentNodeLabel] }.sorted())
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
        let free = try await poolInstances(parsed.poolCluster).filter { $0.phase == .online }
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

    // MARK: - Attach

    func attachments(of volume: String) async throws -> [CStorVolumeAttachment] {
        try await client.listAll(
            CStorVolumeAttachment.self, namespace: namespace, labelSelector: "\(Keys.attachmentVolumeLabel)=\(volume)"
        ).items.filter { !$0.metadata.isBeingDeleted }
    }

    func publishVolume(_ id: String, node: String, access: VolumeAccess, readOnly: Bool) async throws -> [String: String] {
        guard let cvc = try await client.getIfPresent(CStorVolumeConfig.self, name: id, namespace: namespace) else {
            throw CSIError.notFound("volume \(id) does not exist")
        }
        guard try await client.getIfPresent(Node.self, name: node, namespace: nil) != nil else {
            throw CSIError.notFound("node \(node) does not exist")
        }
        guard let cv = try await client.getIfPresent(CStorVolume.self, name: id, namespace: namespace),
            cv.phase == .healthy || cv.phase == .degraded
        else {
            let phase = try await client.getIfPresent(CStorVolume.self, name: id, namespace: namespace)?.phase?.rawValue
            throw CSIError.unavailable(
                "the target of volume \(id) is \(phase ?? "not created yet") (CStorVolumeConfig \(cvc.phase?.rawValue ?? "unknown")); it must be Healthy or Degraded to attach")
        }
        guard let iqn = cv.spec.iqn, let portal = cv.spec.targetPortal else {
            throw CSIError.unavailable("CStorVolume \(id) has no iqn or targetPortal yet")
        }
        let existing = try await attachments(of: id)
        if let other = existing.first(where: { $0.spec.volume?.ownerNodeID != node && $0.metadata.labels[Keys.attachmentNodeLabel] != node }) {
            throw CSIError.failedPrecondition(
                "volume \(id) is attached to node \(other.metadata.labels[Keys.attachmentNodeLabel] ?? other.spec.volume?.ownerNodeID ?? "?"); a cStor volume is attached to one node at a time")
        }
        if let mine = existing.first {
            if (mine.spec.volume?.readOnly ?? false) != readOnly {
                throw CSIError.alreadyExists("volume \(id) is already attached to \(node) \((mine.spec.volume?.readOnly ?? false) ? "read-only" : "read-write")")
            }
            if !mine.metadata.finalizers.contains(Keys.attachmentFinalizer) {
                // A CVA made by openebs/cstor-csi's node plugin: adopt it.
                _ = try await refusals.write("CStorVolumeAttachment \(mine.metadata.name)") {
                    try await client.updateWithRetry(CStorVolumeAttachment.self, name: mine.metadata.name, namespace: namespace) {
                        if !$0.metadata.finalizers.contains(Keys.attachmentFinalizer) { $0.metadata.finalizers.append(Keys.attachmentFinalizer) }
                    }
                }
            }
        } else {
            let attachment = CStorVolumeAttachment(
                metadata: ObjectMeta(
                    name: "\(id)-\(node)", namespace: namespace,
                    labels: [Keys.attachmentVolumeLabel: id, Keys.attachmentNodeLabel: node],
                    finalizers: [Keys.attachmentFinalizer]),
                spec: CStorVolumeAttachment.Spec(
                    iscsi: CStorVolumeAttachmentKind.ISCSI(iqn: iqn, lun: "0", targetPortal: portal),
                    volume: CStorVolumeAttachmentKind.Volume(
                        accessModes: [access.mode.rawValue], accessType: access.isBlock ? "block" : "mount",
                        capacity: cv.spec.capacity?.description, fsType: access.fsType, mountOptions: access.mountFlags,
                        name: id, ownerNodeID: node, readOnly: readOnly)))
            do {
                let inputs = [APIRefusal.Input(name: "node id", value: node, fields: ["metadata.name", "metadata.labels"])]
                _ = try await refusals.write("CStorVolumeAttachment \(attachment.metadata.name)", inputs: inputs) {
                    try await client.create(attachment)
                }
            } catch let error as KubernetesError where error.kind == .alreadyExists {
                // Created by an earlier attempt whose answer was lost.
            }
            logger.info("attached", metadata: ["volume_id": .string(id), "node_id": .string(node)])
        }
        if cvc.publish?.nodeId != node {
            _ = try await refusals.write("CStorVolumeConfig \(id)") {
                try await client.mergePatch(CStorVolumeConfig.self, name: id, namespace: namespace, ["publish": ["nodeId": .string(node)]])
            }
        }
        return ["transport": "iscsi", "iqn": iqn, "portal": portal, "lun": "0"]
    }

    func unpublishVolume(_ id: String, node: String?) async throws {
        for attachment in try await attachments(of: id) {
            let owner = attachment.metadata.labels[Keys.attachmentNodeLabel] ?? attachment.spec.volume?.ownerNodeID
            if let node, owner != node { continue }
            if attachment.metadata.finalizers.contains(Keys.attachmentFinalizer) {
                do {
                    _ = try await refusals.write("CStorVolumeAttachment \(attachment.metadata.name)") {
                        try await client.updateWithRetry(CStorVolumeAttachment.self, name: attachment.metadata.name, namespace: namespace) {
                            $0.metadata.finalizers.removeAll { $0 == Keys.attachmentFinalizer }
                        }
                    }
                } catch let error as KubernetesError where error.kind == .notFound {
                    continue
                }
            }
            _ = try await client.deleteIfPresent(CStorVolumeAttachment.self, name: attachment.metadata.name, namespace: namespace)
            logger.info("detached", metadata: ["volume_id": .string(id), "node_id": .string(owner ?? "")])
        }
        if let cvc = try await client.getIfPresent(CStorVolumeConfig.self, name: id, namespace: namespace),
            cvc.publish?.nodeId != nil, node == nil || cvc.publish?.nodeId == node
        {
            _ = try await refusals.write("CStorVolumeConfig \(id)") {
                try await client.mergePatch(CStorVolumeConfig.self, name: id, namespace: namespace, ["publish": ["nodeId": nil]])
            }
        }
    }

    // MARK: - Snapshots

    /// A snapshot is recorded as the annotation `snapshot.cstor.csi.openebs.io/<name>` of its
    /// volume's CVC, and the API takes an annotation key's name part only if it is at most 63
    /// characters with a letter or digit at both ends: checked before the target cuts anything.
    static func snapshotNameProblem(_ name: String) -> String? {
        if name.utf8.count > 63 {
            return "is longer than 63 characters: the cstor engine records a snapshot as an annotation of its volume's CStorVolumeConfig, whose name part the Kubernetes API limits to 63"
        }
        let alphanumeric = { (scalar: Unicode.Scalar) in scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar)) }
        guard let first = name.unicodeScalars.first, let last = name.unicodeScalars.last, alphanumeric(first), alphanumeric(last) else {
            return "must start and end with a letter or a digit (it becomes part of an annotation key)"
        }
        return nil
    }

    func createSnapshot(_ id: SnapshotID, parameters: [String: String]) async throws -> SnapshotInfo {
        if let problem = Self.snapshotNameProblem(id.name) {
            throw CSIError.invalidArgument("snapshot name \(PathRules.quoted(id.name)) \(problem)")
        }
        let key = Keys.snapshotAnnotationPrefix + id.name
        if let owner = try await snapshotOwners(named: id.name).first(where: { $0.metadata.name != id.volumeID }) {
            throw CSIError.alreadyExists("snapshot \(id.name) already exists for volume \(owner.metadata.name)")
        }
        guard let cvc = try await client.getIfPresent(CStorVolumeConfig.self, name: id.volumeID, namespace: namespace) else {
            throw CSIError.notFound("source volume \(id.volumeID) does not exist")
        }
        if let recorded = cvc.metadata.annotations[key] {
            return try await info(id, created: recorded)
        }
        guard let cv = try await client.getIfPresent(CStorVolume.self, name: id.volumeID, namespace: namespace),
            cv.phase == .healthy || cv.phase == .degraded, let targetIP = cv.spec.targetIP
        else {
            throw CSIError.unavailable("the target of volume \(id.volumeID) is not Healthy or Degraded; no snapshot was attempted")
        }
        try await target.createSnapshot(volume: id.volumeID, snapshot: id.name, targetIP: targetIP, timeout: settings.snapshotTimeout)
        let created = KubernetesTime.now.rawValue
        let inputs = [APIRefusal.Input(name: "snapshot name", value: id.name, fields: ["metadata.annotations"])]
        _ = try await refusals.write("CStorVolumeConfig \(id.volumeID)", inputs: inputs) {
            try await client.updateWithRetry(CStorVolumeConfig.self, name: id.volumeID, namespace: namespace) { cvc in
                if cvc.metadata.annotations[key] == nil { cvc.metadata.annotations[key] = created }
            }
        }
        logger.info("snapshot created", metadata: ["snapshot_id": .string(id.description)])
        return try await info(id, created: created)
    }

    /// CVCs holding a snapshot of this name (there should be at most one).
    func snapshotOwners(named name: String) async throws -> [CStorVolumeConfig] {
        let all =
            volumeConfigs.isSynced
            ? volumeConfigs.cachedObjects() : try await client.listAll(CStorVolumeConfig.self, namespace: namespace).items
        return all.filter { $0.metadata.annotations[Keys.snapshotAnnotationPrefix + name] != nil }
    }

    func info(_ id: SnapshotID, created: String) async throws -> SnapshotInfo {
        let replicas = try await client.listAll(
            CStorVolumeReplica.self, namespace: namespace, labelSelector: "\(Keys.replicaVolumeLabel)=\(id.volumeID)"
        ).items
        let size = replicas.compactMap { $0.status?.snapshots?[id.name]?.logicalReferenced }.max() ?? 0
        return SnapshotInfo(
            id: id, sizeBytes: size, creationTime: KubernetesTime(rawValue: created).date ?? Date(timeIntervalSince1970: 0),
            readyToUse: true)
    }

    func deleteSnapshot(_ id: SnapshotID) async throws {
        let key = Keys.snapshotAnnotationPrefix + id.name
        // The source volume is gone: its snapshots went with it.
        guard let cvc = try await client.getIfPresent(CStorVolumeConfig.self, name: id.volumeID, namespace: namespace),
            cvc.metadata.annotations[key] != nil
        else { return }
        if let cv = try await client.getIfPresent(CStorVolume.self, name: id.volumeID, namespace: namespace), let targetIP = cv.spec.targetIP {
            guard cv.phase == .healthy || cv.phase == .degraded else {
                throw CSIError.unavailable("the target of volume \(id.volumeID) is \(cv.phase?.rawValue ?? "in no phase"); retry once it is Healthy")
            }
            try await target.deleteSnapshot(volume: id.volumeID, snapshot: id.name, targetIP: targetIP, timeout: settings.snapshotTimeout)
        }
        _ = try await refusals.write("CStorVolumeConfig \(id.volumeID)") {
            try await client.updateWithRetry(CStorVolumeConfig.self, name: id.volumeID, namespace: namespace) {
                $0.metadata.annotations.removeValue(forKey: key)
            }
        }
        logger.info("snapshot deleted", metadata: ["snapshot_id": .string(id.description)])
    }

    func snapshot(_ id: SnapshotID) async throws -> SnapshotInfo? {
        guard let cvc = try await client.getIfPresent(CStorVolumeConfig.self, name: id.volumeID, namespace: namespace),
            let created = cvc.metadata.annotations[Keys.snapshotAnnotationPrefix + id.name]
        else { return nil }
        return try await info(id, created: created)
    }

    func listSnapshots(sourceVolumeID: String?, maxEntries: Int, startingToken: String) async throws -> Page<SnapshotInfo> {
        let cvcs: [CStorVolumeConfig]
        if let sourceVolumeID {
            cvcs = try await client.getIfPresent(CStorVolumeConfig.self, name: sourceVolumeID, namespace: namespace).map { [$0] } ?? []
        } else {
            cvcs = try await client.listAll(CStorVolumeConfig.self, namespace: namespace).items
        }
        var all: [(SnapshotID, String)] = []
        for cvc in cvcs {
            for (key, created) in cvc.metadata.annotations where key.hasPrefix(Keys.snapshotAnnotationPrefix) {
                all.append((SnapshotID(volumeID: cvc.metadata.name, name: String(key.dropFirst(Keys.snapshotAnnotationPrefix.count))), created))
            }
        }
        all.sort { $0.0.description < $1.0.description }
        var start = 0
        if !startingToken.isEmpty {
            let from = try Self.decodeToken(startingToken, kind: "snapshots")
            start = all.firstIndex { $0.0.description >= from } ?? all.count
        }
        let end = maxEntries > 0 ? min(all.count, start + maxEntries) : all.count
        var items: [SnapshotInfo] = []
        for (id, created) in all[start..<end] { items.append(try await info(id, created: created)) }
        let next = end < all.count ? Self.encodeToken(all[end].0.description, kind: "snapshots") : ""
        return Page(items: items, nextToken: next)
    }
}
