import CStorCore
import Foundation
import GRPCCore
import Logging

/// The CSI Node service: stage (attach, format if blank, mount), publish (bind), unpublish,
/// unstage (unmount, detach), stats, expansion and node info.
///
/// Every RPC validates first, then takes the volume's lock (a concurrent call for the same volume
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

    // MARK: - NodeStageVolume

    func nodeStageVolume(
        request: Csi_V1_NodeStageVolumeRequest, context: ServerContext
    ) async throws -> Csi_V1_NodeStageVolumeResponse {
        let volumeID = try IdentifierRules.requireVolumeID(request.volumeID)
        let stagingPath = try PathRules.require(
            request.stagingTargetPath, field: "staging_target_path", roots: settings.allowedRoots)
        let access = try VolumeAccess.require(
            request.hasVolumeCapability ? request.volumeCapability : nil, unsupported: CSIError.failedPrecondition)
        try IdentifierRules.requireMapSize(request.publishContext, field: "publish_context")
        let target = try AttachTarget(publishContext: request.publishContext)
        try attachers.requireAttachable(target)

        try await locks.withLock(volumeID, operation: "NodeStageVolume") {
            var record = try startOrResumeStaging(volumeID, stagingPath: stagingPath, target: target, access: access)
            let device: String
            do {
                device = try await attachDevice(&record, secrets: request.secrets)
            } catch {
                try await forgetFailedAttach(record)
                throw error
            }
            FailPoints.hit("stage.attached")
            if case .mount(let fsType, _) = access.kind {
                try await mountStagingFilesystem(&record, device: device, fsType: fsType)
            }
            record.phase = .staged
            try records.save(record)
            health.clear(volumeID)
            log(volumeID).info("staged", metadata: ["device": .string(device), "staging_path": .string(stagingPath)])
        }
        return .init()
    }

    // MARK: - NodeUnstageVolume

    func nodeUnstageVolume(
        request: Csi_V1_NodeUnstageVolumeRequest, context: ServerContext
    ) async throws -> Csi_V1_NodeUnstageVolumeResponse {
        let volumeID = try IdentifierRules.requireVolumeID(request.volumeID)
        let stagingPath = try PathRules.require(
            request.stagingTargetPath, field: "staging_target_path", roots: settings.allowedRoots)

        try await locks.withLock(volumeID, operation: "NodeUnstageVolume") {
            let record = try records.load(volumeID)
            if let record, record.stagingPath != stagingPath {
                throw CSIError.failedPrecondition(
                    "volume \(volumeID) is staged at \(record.stagingPath) on this node, not at \(stagingPath)")
            }
            try await refuseWhilePublished(record)
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
        let volumeID = try IdentifierRules.requireVolumeID(request.volumeID)
        guard !request.stagingTargetPath.isEmpty else {
            throw CSIError.failedPrecondition("staging_target_path is required: this plugin stages volumes first")
        }
        let stagingPath = try PathRules.require(
            request.stagingTargetPath, field: "staging_target_path", roots: settings.allowedRoots)
        let targetPath = try PathRules.require(request.targetPath, field: "target_path", roots: settings.allowedRoots)
        guard targetPath != stagingPath else {
            throw CSIError.invalidArgument("target_path must differ from staging_target_path")
        }
        let access = try VolumeAccess.require(
            request.hasVolumeCapability ? request.volumeCapability : nil, unsupported: CSIError.failedPrecondition)

        try await locks.withLock(volumeID, operation: "NodePublishVolume") {
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
            try createTarget(targetPath, block: access.isBlock)
            record.publications[targetPath] = .init(readOnly: readOnly)
            try records.save(record)
            guard let device = record.device else {
                throw CSIError.failedPrecondition("volume \(volumeID) has no device recorded; stage it again")
            }
            let source = access.isBlock ? device : stagingPath
            FailPoints.hit("publish.binding")
            try await mounter.bind(source: source, target: targetPath, readOnly: readOnly)
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
        let volumeID = try IdentifierRules.requireVolumeID(request.volumeID)
        let targetPath = try PathRules.require(request.targetPath, field: "target_path", roots: settings.allowedRoots)

        try await locks.withLock(volumeID, operation: "NodeUnpublishVolume") {
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
        let volumeID = try IdentifierRules.requireVolumeID(request.volumeID)
        guard !request.volumePath.isEmpty else { throw CSIError.invalidArgument("volume_path is required") }
        guard let volumePath = PathRules.normalizedAbsolute(request.volumePath) else {
            throw CSIError.invalidArgument("volume_path \(PathRules.quoted(request.volumePath)) is not a clean absolute path")
        }
        guard let record = try records.load(volumeID), record.phase == .staged else {
            throw CSIError.notFound("volume \(volumeID) is not staged on this node")
        }
        guard volumePath == record.stagingPath || record.publications[volumePath] != nil else {
            throw CSIError.notFound("\(volumePath) is neither the staging path nor a publish path of volume \(volumeID)")
        }
        let problem = VolumeInspection.problem(of: record, in: try mounter.table()) ?? health.fault(of: volumeID)
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
        let volumeID = try IdentifierRules.requireVolumeID(request.volumeID)
        guard !request.volumePath.isEmpty else { throw CSIError.invalidArgument("volume_path is required") }
        guard let volumePath = PathRules.normalizedAbsolute(request.volumePath) else {
            throw CSIError.invalidArgument("volume_path \(PathRules.quoted(request.volumePath)) is not a clean absolute path")
        }
        let required = request.hasCapacityRange ? request.capacityRange.requiredBytes : 0
        let limit = request.hasCapacityRange ? request.capacityRange.limitBytes : 0
        guard required >= 0, limit >= 0 else { throw CSIError.invalidArgument("capacity_range must not be negative") }
        if limit > 0 && required > limit {
            throw CSIError.outOfRange("required_bytes \(required) exceeds limit_bytes \(limit)")
        }
        if request.hasVolumeCapability {
            _ = try VolumeAccess.require(request.volumeCapability)
        }

        return try await locks.withLock(volumeID, operation: "NodeExpandVolume") {
            guard let record = try records.load(volumeID), record.phase == .staged, let device = record.device else {
                throw CSIError.notFound("volume \(volumeID) is not staged on this node")
            }
            guard volumePath == record.stagingPath || record.publications[volumePath] != nil else {
                throw CSIError.notFound("\(volumePath) is neither the staging path nor a publish path of volume \(volumeID)")
            }
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

    func log(_ volumeID: String) -> Logger {
        RequestContext.logger(logger, volumeID: volumeID)
    }
}
