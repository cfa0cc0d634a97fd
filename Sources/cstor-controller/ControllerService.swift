import CStorCore
import CStorKubernetes
import CStorModel
import FoundationEssentials
import Glibc
import GRPCCore
import Logging
import SwiftProtobuf

/// The CSI Controller service, the same for every engine: it validates each request against the
/// CSI rules, takes the volume's (or snapshot's) lock so that a concurrent call for the same
/// object gets Aborted, bounds how many operations run at once, and lets the engine do the work.
struct ControllerService: Csi_V1_Controller.SimpleServiceProtocol {
    let engine: any VolumeEngine
    let locks: VolumeLocks
    let operations: AsyncSemaphore
    let logger: Logger

    /// The size given to a volume whose request names none.
    static let defaultVolumeBytes: Int64 = 1 << 30

    // MARK: - Volumes

    func createVolume(
        request: Csi_V1_CreateVolumeRequest, context: ServerContext
    ) async throws -> Csi_V1_CreateVolumeResponse {
        try RequiredFields.check(["name": !request.name.isEmpty, "volume_capabilities": !request.volumeCapabilities.isEmpty])
        let name = try IdentifierRules.requireVolumeID(request.name, field: "name")
        let access = try request.volumeCapabilities.enumerated().map { index, capability in
            try VolumeAccess.require(capability, field: "volume_capabilities[\(index)]")
        }
        try IdentifierRules.requireMapSize(request.parameters, field: "parameters")
        let capacity = try capacityToAllocate(request.hasCapacityRange ? request.capacityRange : nil)
        let source = try volumeSource(request.hasVolumeContentSource ? request.volumeContentSource : nil)
        let volumeRequest = VolumeRequest(
            name: engine.volumeNames.volumeID(forName: name), requestedName: name, capacityBytes: capacity, access: access,
            parameters: request.parameters.filter { !$0.key.hasPrefix("csi.storage.k8s.io/") },
            source: source, claimName: request.parameters["csi.storage.k8s.io/pvc/name"],
            claimNamespace: request.parameters["csi.storage.k8s.io/pvc/namespace"],
            preferredNode: request.hasAccessibilityRequirements ? Topology.preferredNode(request.accessibilityRequirements) : nil)

        let volume = try await locked(volumeRequest.name, "CreateVolume") { try await engine.createVolume(volumeRequest) }
        return .with { $0.volume = csiVolume(volume) }
    }

    func deleteVolume(
        request: Csi_V1_DeleteVolumeRequest, context: ServerContext
    ) async throws -> Csi_V1_DeleteVolumeResponse {
        guard !request.volumeID.isEmpty else { throw CSIError.invalidArgument("volume_id is required") }
        // An id this driver can never have handed out names no volume: deleting it is done.
        guard IdentifierRules.volumeIDProblem(request.volumeID) == nil else { return .init() }
        try await locked(request.volumeID, "DeleteVolume") { try await engine.deleteVolume(request.volumeID) }
        return .init()
    }

    func controllerPublishVolume(
        request: Csi_V1_ControllerPublishVolumeRequest, context: ServerContext
    ) async throws -> Csi_V1_ControllerPublishVolumeResponse {
        try RequiredFields.check([
            "volume_id": !request.volumeID.isEmpty, "node_id": !request.nodeID.isEmpty,
            "volume_capability": request.hasVolumeCapability,
        ])
        let volumeID = try IdentifierRules.requireVolumeID(request.volumeID)
        let nodeID = try IdentifierRules.requireVolumeID(request.nodeID, field: "node_id")
        let access = try VolumeAccess.require(request.hasVolumeCapability ? request.volumeCapability : nil)
        let readOnly = request.readonly || access.mode.isReadOnly
        let publishContext = try await locked(volumeID, "ControllerPublishVolume") {
            try await engine.publishVolume(volumeID, node: nodeID, access: access, readOnly: readOnly)
        }
        return .with { $0.publishContext = publishContext }
    }

    func controllerUnpublishVolume(
        request: Csi_V1_ControllerUnpublishVolumeRequest, context: ServerContext
    ) async throws -> Csi_V1_ControllerUnpublishVolumeResponse {
        guard !request.volumeID.isEmpty else { throw CSIError.invalidArgument("volume_id is required") }
        guard IdentifierRules.volumeIDProblem(request.volumeID) == nil else { return .init() }
        let node = request.nodeID.isEmpty ? nil : request.nodeID
        try await locked(request.volumeID, "ControllerUnpublishVolume") {
            try await engine.unpublishVolume(request.volumeID, node: node)
        }
        return .init()
    }

    func validateVolumeCapabilities(
        request: Csi_V1_ValidateVolumeCapabilitiesRequest, context: ServerContext
    ) async throws -> Csi_V1_ValidateVolumeCapabilitiesResponse {
        try RequiredFields.check([
            "volume_id": !request.volumeID.isEmpty, "volume_capabilities": !request.volumeCapabilities.isEmpty,
        ])
        let volumeID = try IdentifierRules.requireVolumeID(request.volumeID)
        let decoded = try request.volumeCapabilities.enumerated().map { index, capability in
            try VolumeAccess.wellFormed(capability, field: "volume_capabilities[\(index)]")
        }
        guard try await limited({ try await engine.volume(volumeID) }) != nil else {
            throw CSIError.notFound("volume \(volumeID) does not exist")
        }
        for case .failure(let unsupported) in decoded {
            return .with { $0.message = unsupported.message }
        }
        return .with {
            $0.confirmed = .with {
                $0.volumeCapabilities = request.volumeCapabilities
                $0.volumeContext = request.volumeContext
                $0.parameters = request.parameters
                $0.mutableParameters = request.mutableParameters
            }
        }
    }

    func listVolumes(
        request: Csi_V1_ListVolumesRequest, context: ServerContext
    ) async throws -> Csi_V1_ListVolumesResponse {
        guard request.maxEntries >= 0 else { throw CSIError.invalidArgument("max_entries must not be negative") }
        let page = try await limited {
            try await engine.listVolumes(maxEntries: Int(request.maxEntries), startingToken: request.startingToken)
        }
        return .with { response in
            response.entries = page.items.map { volume in
                .with {
                    $0.volume = csiVolume(volume)
                    $0.status = .with { status in
                        status.publishedNodeIds = volume.publishedNodes
                        if let condition = volume.condition, engine.features.contains(.volumeCondition) {
                            status.volumeCondition = csiCondition(condition)
                        }
                    }
                }
            }
            response.nextToken = page.nextToken
        }
    }

    func getCapacity(
        request: Csi_V1_GetCapacityRequest, context: ServerContext
    ) async throws -> Csi_V1_GetCapacityResponse {
        guard engine.features.contains(.capacity) else {
            throw CSIError.unimplemented("GetCapacity is not supported by the \(engine.name) engine")
        }
        let unservable = request.volumeCapabilities.contains { capability in
            if case .failure = VolumeAccess.decode(capability) { return true }
            return false
        }
        // A capability this driver cannot serve has no capacity at all.
        if unservable { return .with { $0.availableCapacity = 0 } }
        let capacity = try await limited { try await engine.capacity(parameters: request.parameters) }
        return .with {
            $0.availableCapacity = capacity.availableBytes
            if let maximum = capacity.maximumVolumeBytes { $0.maximumVolumeSize = .with { $0.value = maximum } }
        }
    }

    func controllerGetCapabilities(
        request: Csi_V1_ControllerGetCapabilitiesRequest, context: ServerContext
    ) async throws -> Csi_V1_ControllerGetCapabilitiesResponse {
        .with { response in
            response.capabilities = advertisedCapabilities.map { type in .with { $0.rpc = .with { $0.type = type } } }
        }
    }

    /// Exactly what works with this engine.
    var advertisedCapabilities: [Csi_V1_ControllerServiceCapability.RPC.TypeEnum] {
        var types: [Csi_V1_ControllerServiceCapability.RPC.TypeEnum] = [
            .createDeleteVolume, .publishUnpublishVolume, .listVolumes, .listVolumesPublishedNodes, .getVolume,
            .publishReadonly, .singleNodeMultiWriter, .expandVolume,
        ]
        let features = engine.features
        if features.contains(.capacity) { types.append(.getCapacity) }
        if features.contains(.snapshots) { types += [.createDeleteSnapshot, .listSnapshots, .getSnapshot] }
        if features.contains(.cloneFromVolume) { types.append(.cloneVolume) }
        if features.contains(.volumeCondition) { types.append(.volumeCondition) }
        return types
    }

    func controllerExpandVolume(
        request: Csi_V1_ControllerExpandVolumeRequest, context: ServerContext
    ) async throws -> Csi_V1_ControllerExpandVolumeResponse {
        try RequiredFields.check(["volume_id": !request.volumeID.isEmpty, "capacity_range": request.hasCapacityRange])
        let volumeID = try IdentifierRules.requireVolumeID(request.volumeID)
        let range = request.capacityRange
        guard range.requiredBytes >= 0, range.limitBytes >= 0 else {
            throw CSIError.invalidArgument("capacity_range must not be negative")
        }
        guard range.requiredBytes > 0 || range.limitBytes > 0 else {
            throw CSIError.invalidArgument("capacity_range needs required_bytes (or limit_bytes)")
        }
        let access = request.hasVolumeCapability ? try VolumeAccess.require(request.volumeCapability) : nil
        let wanted = try capacityToAllocate(range)
        let capacity = try await locked(volumeID, "ControllerExpandVolume") {
            try await engine.expandVolume(volumeID, to: wanted)
        }
        return .with {
            $0.capacityBytes = capacity
            // A filesystem must grow on the node; a raw block device only needs the new size.
            $0.nodeExpansionRequired = !(access?.isBlock ?? false)
        }
    }

    func controllerGetVolume(
        request: Csi_V1_ControllerGetVolumeRequest, context: ServerContext
    ) async throws -> Csi_V1_ControllerGetVolumeResponse {
        let volumeID = try IdentifierRules.requireVolumeID(request.volumeID)
        guard let volume = try await limited({ try await engine.volume(volumeID) }) else {
            throw CSIError.notFound("volume \(volumeID) does not exist")
        }
        return .with {
            $0.volume = csiVolume(volume)
            $0.status = .with { status in
                status.publishedNodeIds = volume.publishedNodes
                status.volumeCondition = csiCondition(volume.condition ?? VolumeHealth(abnormal: false, message: "no condition reported"))
            }
        }
    }

    func controllerModifyVolume(
        request: Csi_V1_ControllerModifyVolumeRequest, context: ServerContext
    ) async throws -> Csi_V1_ControllerModifyVolumeResponse {
        throw CSIError.unimplemented("ControllerModifyVolume is not supported (MODIFY_VOLUME is not advertised)")
    }

    // MARK: - Snapshots

    func createSnapshot(
        request: Csi_V1_CreateSnapshotRequest, context: ServerContext
    ) async throws -> Csi_V1_CreateSnapshotResponse {
        try requireSnapshots()
        try RequiredFields.check(["source_volume_id": !request.sourceVolumeID.isEmpty, "name": !request.name.isEmpty])
        let source = try IdentifierRules.requireVolumeID(request.sourceVolumeID, field: "source_volume_id")
        let id = try engine.snapshotID(name: request.name, sourceVolumeID: source)
        try IdentifierRules.requireMapSize(request.parameters, field: "parameters")
        let parameters = request.parameters.filter { !$0.key.hasPrefix("csi.storage.k8s.io/") }
        let snapshot = try await locked("snapshot/\(id.name)", "CreateSnapshot") {
            try await engine.createSnapshot(id, requestedName: request.name, parameters: parameters)
        }
        return .with { $0.snapshot = csiSnapshot(snapshot) }
    }

    func deleteSnapshot(
        request: Csi_V1_DeleteSnapshotRequest, context: ServerContext
    ) async throws -> Csi_V1_DeleteSnapshotResponse {
        try requireSnapshots()
        guard !request.snapshotID.isEmpty else { throw CSIError.invalidArgument("snapshot_id is required") }
        guard request.snapshotID.utf8.count <= IdentifierRules.maximumLength,
            !request.snapshotID.unicodeScalars.contains(where: { $0.value < 0x20 })
        else {
            throw CSIError.invalidArgument("snapshot_id \(PathRules.quoted(request.snapshotID)) is not a snapshot id")
        }
        // Not of the form <volume>@<name>: this driver never created it, so it does not exist.
        guard let id = SnapshotID(parsing: request.snapshotID) else { return .init() }
        try await locked("snapshot/\(id.name)", "DeleteSnapshot") { try await engine.deleteSnapshot(id) }
        return .init()
    }

    func listSnapshots(
        request: Csi_V1_ListSnapshotsRequest, context: ServerContext
    ) async throws -> Csi_V1_ListSnapshotsResponse {
        try requireSnapshots()
        guard request.maxEntries >= 0 else { throw CSIError.invalidArgument("max_entries must not be negative") }
        if !request.snapshotID.isEmpty {
            // A filter by id: at most one entry, and an id of another form matches nothing.
            guard let id = SnapshotID(parsing: request.snapshotID),
                request.sourceVolumeID.isEmpty || request.sourceVolumeID == id.volumeID,
                let snapshot = try await limited({ try await engine.snapshot(id) })
            else { return .init() }
            return .with { $0.entries = [.with { $0.snapshot = csiSnapshot(snapshot) }] }
        }
        let source = request.sourceVolumeID.isEmpty ? nil : request.sourceVolumeID
        if let source, IdentifierRules.volumeIDProblem(source) != nil { return .init() }
        let page = try await limited {
            try await engine.listSnapshots(
                sourceVolumeID: source, maxEntries: Int(request.maxEntries), startingToken: request.startingToken)
        }
        return .with { response in
            response.entries = page.items.map { snapshot in .with { $0.snapshot = csiSnapshot(snapshot) } }
            response.nextToken = page.nextToken
        }
    }

    func getSnapshot(
        request: Csi_V1_GetSnapshotRequest, context: ServerContext
    ) async throws -> Csi_V1_GetSnapshotResponse {
        try requireSnapshots()
        guard !request.snapshotID.isEmpty else { throw CSIError.invalidArgument("snapshot_id is required") }
        guard let id = SnapshotID(parsing: request.snapshotID),
            let snapshot = try await limited({ try await engine.snapshot(id) })
        else {
            throw CSIError.notFound("snapshot \(PathRules.quoted(request.snapshotID)) does not exist")
        }
        return .with { $0.snapshot = csiSnapshot(snapshot) }
    }

    // MARK: - Helpers

    /// Runs `body` holding `key` and one of the operation permits.
    func locked<T: Sendable>(_ key: String, _ operation: String, _ body: () async throws -> T) async throws -> T {
        try await locks.withLock(key, operation: operation) {
            try await limited(body)
        }
    }

    func limited<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        try await operations.withPermit(body)
    }

    func requireSnapshots() throws {
        guard engine.features.contains(.snapshots) else {
            throw CSIError.unimplemented("snapshots are not supported by the \(engine.name) engine")
        }
    }

    /// The size to allocate for a capacity range: the engine's rounding of required_bytes (or of
    /// the default size), which must not exceed limit_bytes.
    func capacityToAllocate(_ range: Csi_V1_CapacityRange?) throws -> Int64 {
        let required = range?.requiredBytes ?? 0
        let limit = range?.limitBytes ?? 0
        guard required >= 0, limit >= 0 else {
            throw CSIError.invalidArgument("capacity_range must not be negative")
        }
        if limit > 0 && required > limit {
            throw CSIError.outOfRange("required_bytes \(required) is larger than limit_bytes \(limit)")
        }
        let wanted = required > 0 ? required : (limit > 0 ? min(Self.defaultVolumeBytes, limit) : Self.defaultVolumeBytes)
        let size = try engine.allocationSize(forRequested: wanted)
        if limit > 0 && size > limit {
            throw CSIError.outOfRange(
                "the \(engine.name) engine allocates \(size) bytes for \(wanted) requested, more than limit_bytes \(limit)")
        }
        return size
    }

    func volumeSource(_ source: Csi_V1_VolumeContentSource?) throws -> VolumeSource? {
        switch source?.type {
        case nil:
            return nil
        case .snapshot(let snapshot):
            try requireSnapshots()
            guard let id = SnapshotID(parsing: snapshot.snapshotID) else {
                throw CSIError.notFound("source snapshot \(PathRules.quoted(snapshot.snapshotID)) does not exist")
            }
            return .snapshot(id)
        case .volume(let volume):
            guard engine.features.contains(.cloneFromVolume) else {
                throw CSIError.invalidArgument("cloning a volume is not supported by the \(engine.name) engine")
            }
            guard IdentifierRules.volumeIDProblem(volume.volumeID) == nil else {
                throw CSIError.notFound("source volume \(PathRules.quoted(volume.volumeID)) does not exist")
            }
            return .volume(volume.volumeID)
        }
    }

    func csiVolume(_ volume: VolumeInfo) -> Csi_V1_Volume {
        .with {
            $0.volumeID = volume.id
            $0.capacityBytes = volume.capacityBytes
            $0.volumeContext = volume.context
            switch volume.source {
            case .snapshot(let id)?: $0.contentSource = .with { $0.snapshot = .with { $0.snapshotID = id.description } }
            case .volume(let id)?: $0.contentSource = .with { $0.volume = .with { $0.volumeID = id } }
            case nil: break
            }
        }
    }

    func csiCondition(_ health: VolumeHealth) -> Csi_V1_VolumeCondition {
        .with {
            $0.abnormal = health.abnormal
            $0.message = health.message
        }
    }

    func csiSnapshot(_ snapshot: SnapshotInfo) -> Csi_V1_Snapshot {
        .with {
            $0.snapshotID = snapshot.id.description
            $0.sourceVolumeID = snapshot.id.volumeID
            $0.sizeBytes = snapshot.sizeBytes
            $0.creationTime = Google_Protobuf_Timestamp(date: snapshot.creationTime)
            $0.readyToUse = snapshot.readyToUse
        }
    }
}
