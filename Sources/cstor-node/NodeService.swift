import CLinux
import CStorCore
import FoundationEssentials
import GRPCCore
import Glibc
import Logging
import SwiftProtobuf

/// The CSI Node service: stage (attach, format if blank, mount), publish (bind), unpublish,
/// unstage (unmount, detach), stats, expansion and node info.
///
/// Every RPC validates first — required fields present in the spec's order, then each value's form
/// (InvalidArgument), then what this node cannot do (FailedPrecondition) — then takes the volume's lock (a concurrent call for the same volume
/// gets Aborted), then returns early when the wanted state already exists, then does the steps,
/// recording what it did in the volume's state record so that a retry after a crash at any point
/// finishes the job.
struct NodeService: Csi_V1_Node.SimpleServiceProtocol {
    let settings: NodeSettings
    let locks: VolumeLocks
    let records: VolumeRecordStore
    let attachers: Attachers
    let mounter: any Mounter
    let filesystems: FilesystemTools
    let health: HealthRegistry
    let logger: Logger
    /// Timed-out children and system calls that still hold their volume.
    var lingering = LingeringWork()
    /// One attach/detach decision at a time per iSCSI session or loop file.
    var attachmentLocks = AttachmentLocks()
    /// What holds a device (sysfs and /proc roots are seams for tests).
    var holders = DeviceHolders()

    // MARK: - NodeStageVolume

    func nodeStageVolume(
        request: Csi_V1_NodeStageVolumeRequest, context: ServerContext
    ) async throws -> Csi_V1_NodeStageVolumeResponse {
        try RequiredFields.check([
            "volume_id": !request.volumeID.isEmpty, "staging_target_path": !request.stagingTargetPath.isEmpty,
            "volume_capability": request.hasVolumeCapability,
        ])
        let volumeID = try IdentifierRules.requireVolumeID(request.volumeID)
        try IdentifierRules.requireMapSize(request.publishContext, field: "publish_context")
        let target = try AttachTarget(publishContext: request.publishContext)
        let stagingPath = try settings.paths.require(request.stagingTargetPath, field: "staging_target_path")
        let decoded = try VolumeAccess.wellFormed(request.volumeCapability)
        if case .success(let access) = decoded { try MountFlagPolicy.require(access) }
        let access = try servable(decoded)
        try attachers.requireAttachable(target)
        if case .loop(let file) = target { try requireVolumeSized(file) }

        try await withVolume(volumeID, operation: "NodeStageVolume") {
            let resumed = try records.load(volumeID)
            var record = try startOrResumeStaging(volumeID, stagingPath: stagingPath, target: target, access: access)
            var attachedBefore = resumed != nil
            if !attachedBefore { attachedBefore = (try? await attachers.currentDevice(target)) != nil }
            do {
                let device = try await attachDevice(&record, secrets: request.secrets)
                FailPoints.hit("stage.attached")
                if case .mount(let fsType, _) = access.kind {
                    try await mountStagingFilesystem(&record, device: device, fsType: fsType)
                }
                record.phase = .staged
                try records.save(record)
                health.clear(volumeID)
                log(volumeID).info("staged", metadata: ["device": .string(device), "staging_path": .string(stagingPath)])
            } catch {
                if resumed == nil { await undoFirstStage(record, attachedBefore: attachedBefore, cause: error) }
                throw error
            }
        }
        return .init()
    }

    // MARK: - NodeUnstageVolume

    func nodeUnstageVolume(
        request: Csi_V1_NodeUnstageVolumeRequest, context: ServerContext
    ) async throws -> Csi_V1_NodeUnstageVolumeResponse {
        try RequiredFields.check([
            "volume_id": !request.volumeID.isEmpty, "staging_target_path": !request.stagingTargetPath.isEmpty,
        ])
        let volumeID = try IdentifierRules.requireVolumeID(request.volumeID)
        let stagingPath = try settings.paths.require(request.stagingTargetPath, field: "staging_target_path")

        try await withVolume(volumeID, operation: "NodeUnstageVolume") {
            var record = try records.load(volumeID)
            if let record, record.stagingPath != stagingPath {
                throw CSIError.failedPrecondition(
                    "volume \(volumeID) is staged at \(record.stagingPath) on this node, not at \(stagingPath)")
            }
            try await refuseWhilePublished(record)
            if var unstaging = record, unstaging.phase != .unstaging {
                // From here on the monitor leaves it alone and a publish is refused, even if the
                // unstage stops half-way because something still holds the device.
                unstaging.phase = .unstaging
                try records.save(unstaging)
                record = unstaging
            }
            let mountedDevice = try await unmountStaging(stagingPath, record: record)
            FailPoints.hit("unstage.unmounted")
            try await detach(record: record, mountedDevice: mountedDevice)
            FailPoints.hit("unstage.detached")
            try records.delete(volumeID)
            health.clear(volumeID)
            log(volumeID).info("unstaged", metadata: ["staging_path": .string(stagingPath)])
        }
        return .init()
    }

    // MARK: - NodePublishVolume

    func nodePublishVolume(
        request: Csi_V1_NodePublishVolumeRequest, context: ServerContext
    ) async throws -> Csi_V1_NodePublishVolumeResponse {
        // staging_target_path is not among them: the spec makes its absence FailedPrecondition
        // ("Staging target path not set") for a plugin with STAGE_UNSTAGE_VOLUME.
        try RequiredFields.check([
            "volume_id": !request.volumeID.isEmpty, "target_path": !request.targetPath.isEmpty,
            "volume_capability": request.hasVolumeCapability,
        ])
        let volumeID = try IdentifierRules.requireVolumeID(request.volumeID)
        let stagingPath = request.stagingTargetPath.isEmpty
            ? nil : try settings.paths.require(request.stagingTargetPath, field: "staging_target_path")
        let targetPath = try settings.paths.require(request.targetPath, field: "target_path")
        guard targetPath != stagingPath else {
            throw CSIError.invalidArgument("target_path must differ from staging_target_path")
        }
        let decoded = try VolumeAccess.wellFormed(request.volumeCapability)
        guard let stagingPath else {
            throw CSIError.failedPrecondition("staging_target_path is not set: this plugin stages volumes first (NodeStageVolume)")
        }
        let access = try servable(decoded)

        try await withVolume(volumeID, operation: "NodePublishVolume") {
            var record = try requireStaged(volumeID, stagingPath: stagingPath)
            guard record.access.isBlock == access.isBlock else {
                throw CSIError.failedPrecondition(
                    "volume \(volumeID) was staged as a \(record.access.isBlock ? "block" : "mount") volume and cannot be published as \(access.isBlock ? "block" : "mount")")
            }
            let readOnly = request.readonly || access.mode.isReadOnly || record.access.mode.isReadOnly
            if try await publicationExists(at: targetPath, record: record, readOnly: readOnly) {
                if record.publications[targetPath] == nil {
                    record.publications[targetPath] = .init(readOnly: readOnly)
                    try records.save(record)
                }
                return
            }
            // Only a live mount of this volume's device (or the device itself) is ever bound: never
            // an empty staging directory on the node's own disk.
            let source = try openPublishSource(record)
            let target = try settings.paths.mountTarget(targetPath, create: access.isBlock ? .file : .directory)
            record.publications[targetPath] = .init(readOnly: readOnly)
            try records.save(record)
            FailPoints.hit("publish.binding")
            try await mounter.bind(source: source, target: target, readOnly: readOnly)
            FailPoints.hit("publish.bound")
            log(volumeID).info(
                "published", metadata: ["target_path": .string(targetPath), "readonly": .stringConvertible(readOnly)])
        }
        return .init()
    }

    // MARK: - NodeUnpublishVolume

    func nodeUnpublishVolume(
        request: Csi_V1_NodeUnpublishVolumeRequest, context: ServerContext
    ) async throws -> Csi_V1_NodeUnpublishVolumeResponse {
        try RequiredFields.check(["volume_id": !request.volumeID.isEmpty, "target_path": !request.targetPath.isEmpty])
        let volumeID = try IdentifierRules.requireVolumeID(request.volumeID)
        let targetPath = try settings.paths.require(request.targetPath, field: "target_path")

        try await withVolume(volumeID, operation: "NodeUnpublishVolume") {
            var record = try records.load(volumeID)
            try await unmountTarget(targetPath, volumeID: volumeID, record: record)
            FailPoints.hit("unpublish.unmounted")
            try removeTarget(targetPath, volumeID: volumeID)
            if record?.publications.removeValue(forKey: targetPath) != nil, let updated = record {
                try records.save(updated)
            }
            log(volumeID).info("unpublished", metadata: ["target_path": .string(targetPath)])
        }
        return .init()
    }

    // MARK: - NodeGetVolumeStats

    func nodeGetVolumeStats(
        request: Csi_V1_NodeGetVolumeStatsRequest, context: ServerContext
    ) async throws -> Csi_V1_NodeGetVolumeStatsResponse {
        try RequiredFields.check(["volume_id": !request.volumeID.isEmpty, "volume_path": !request.volumePath.isEmpty])
        let volumeID = try IdentifierRules.requireVolumeID(request.volumeID)
        guard let record = try records.load(volumeID), record.phase == .staged else {
            throw CSIError.notFound("volume \(volumeID) is not staged on this node")
        }
        let volumePath = try requireVolumePath(request.volumePath, of: record)
        // The monitor's fault first: it says what to do.
        let table = try mounter.table()
        let problem = health.fault(of: volumeID) ?? VolumeInspection.problem(of: record, in: table)
        var response = Csi_V1_NodeGetVolumeStatsResponse()
        response.volumeCondition = .with {
            $0.abnormal = problem != nil
            $0.message = problem ?? "healthy"
        }
        if record.access.isBlock {
            if let device = record.device, let size = try? BlockDevice.size(of: device) {
                response.usage = [.with { $0.unit = .bytes; $0.total = size }]
            }
        } else if let usage = try await filesystemUsage(volumePath) {
            response.usage = usage
        } else if problem == nil {
            response.volumeCondition = .with {
                $0.abnormal = true
                $0.message = "\(volumePath) does not answer statfs within \(settings.pathProbeTimeout)"
            }
        }
        return response
    }

    // MARK: - NodeExpandVolume

    func nodeExpandVolume(
        request: Csi_V1_NodeExpandVolumeRequest, context: ServerContext
    ) async throws -> Csi_V1_NodeExpandVolumeResponse {
        try RequiredFields.check(["volume_id": !request.volumeID.isEmpty, "volume_path": !request.volumePath.isEmpty])
        let volumeID = try IdentifierRules.requireVolumeID(request.volumeID)
        let required = request.hasCapacityRange ? request.capacityRange.requiredBytes : 0
        let limit = request.hasCapacityRange ? request.capacityRange.limitBytes : 0
        guard required >= 0, limit >= 0 else { throw CSIError.invalidArgument("capacity_range must not be negative") }
        if limit > 0 && required > limit {
            throw CSIError.outOfRange("required_bytes \(required) exceeds limit_bytes \(limit)")
        }
        if request.hasVolumeCapability {
            _ = try VolumeAccess.require(request.volumeCapability)
        }

        return try await withVolume(volumeID, operation: "NodeExpandVolume") {
            guard let record = try records.load(volumeID), record.phase == .staged, let device = record.device else {
                throw CSIError.notFound("volume \(volumeID) is not staged on this node")
            }
            _ = try requireVolumePath(request.volumePath, of: record)
            let lease = try verifiedDevice(record, for: "resize")
            defer { lease.release() }
            try await attachers.refreshSize(record.target, device: device)
            let size = try BlockDevice.size(of: device)
            if required > size {
                throw CSIError.unavailable(
                    "the device \(device) of \(volumeID) is \(size) bytes after the refresh, less than the \(required) requested; retry once the volume has grown")
            }
            if case .mount(let fsType, _) = record.access.kind {
                try await growFilesystem(record, device: device, fsType: fsType)
            }
            log(volumeID).info("expanded", metadata: ["capacity_bytes": .stringConvertible(size)])
            return .with { $0.capacityBytes = size }
        }
    }

    // MARK: - Capabilities and info

    func nodeGetCapabilities(
        request: Csi_V1_NodeGetCapabilitiesRequest, context: ServerContext
    ) async throws -> Csi_V1_NodeGetCapabilitiesResponse {
        let types: [Csi_V1_NodeServiceCapability.RPC.TypeEnum] = [
            .stageUnstageVolume, .expandVolume, .getVolumeStats, .volumeCondition, .singleNodeMultiWriter,
        ]
        return .with { response in
            response.capabilities = types.map { type in .with { $0.rpc = .with { $0.type = type } } }
        }
    }

    func nodeGetInfo(
        request: Csi_V1_NodeGetInfoRequest, context: ServerContext
    ) async throws -> Csi_V1_NodeGetInfoResponse {
        .with {
            $0.nodeID = settings.nodeID
            $0.maxVolumesPerNode = settings.maxVolumesPerNode
            $0.accessibleTopology = .with { $0.segments = [NodeSettings.topologyKey: settings.nodeID] }
        }
    }

    /// A capability this node cannot serve: FailedPrecondition, as the Node RPCs' error tables
    /// name it ("Exceeds capabilities").
    func servable(_ decoded: Result<VolumeAccess, VolumeAccess.Problem>) throws -> VolumeAccess {
        try decoded.mapError { CSIError.failedPrecondition("volume_capability: \($0.message)") }.get()
    }

    /// The smallest loop file that can hold a volume (the local engine makes whole MiB).
    static let smallestLoopFile: Int64 = 1 << 20

    /// A loop file too small for any filesystem is FailedPrecondition before anything is attached
    /// (mkfs would fail on it). A missing file is left to the attacher (NotFound).
    func requireVolumeSized(_ file: String) throws {
        var info = stat()
        guard stat(file, &info) == 0 else { return }
        guard Int64(info.st_size) >= Self.smallestLoopFile else {
            throw CSIError.failedPrecondition(
                "the loop file \(file) holds \(info.st_size) bytes; a volume needs at least \(Self.smallestLoopFile) bytes")
        }
    }

    /// The staged or published path of `record` that `path` names. Any other path, a relative or
    /// unclean one included, is NotFound: the spec's "volume does not exist on the specified path".
    func requireVolumePath(_ path: String, of record: VolumeRecord) throws -> String {
        guard let normalized = PathRules.normalizedAbsolute(path).map({ settings.paths.resolve($0) ?? $0 }),
            normalized == record.stagingPath || record.publications[normalized] != nil
        else {
            throw CSIError.notFound(
                "volume \(record.volumeID) is not staged or published at \(PathRules.quoted(path)) on this node (its staging path is \(record.stagingPath))")
        }
        return normalized
    }

    func log(_ volumeID: String) -> Logger {
        RequestContext.logger(logger, volumeID: volumeID)
    }

    /// Runs `body` holding the volume's lock. Work of an earlier call that outlived its deadline
    /// still holds the volume: the call is Aborted, naming it. Work of this call that outlives the
    /// deadline keeps the lock until it has really ended.
    func withVolume<T: Sendable>(_ volumeID: String, operation: String, _ body: () async throws -> T) async throws -> T {
        if let work = lingering.description(of: volumeID) {
            throw CSIError.aborted(
                "volume \(volumeID) is still in use by \(work); it stays locked until that ends: retry later")
        }
        return try await locks.withLock(volumeID, operation: operation) {
            do {
                return try await body()
            } catch {
                lingering.holdIfStillRunning(error, volumeID: volumeID, operation: operation, locks: locks, logger: logger)
                throw error
            }
        }
    }
}
