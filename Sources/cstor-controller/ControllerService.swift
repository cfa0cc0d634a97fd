import CStorCore
import GRPCCore
import Logging

/// Placeholder until the service lands: every RPC answers Unimplemented.
struct ControllerService: Csi_V1_Controller.SimpleServiceProtocol {
    let logger: Logger

    func createVolume(request: Csi_V1_CreateVolumeRequest, context: ServerContext) async throws -> Csi_V1_CreateVolumeResponse {
        throw CSIError.unimplemented("CreateVolume is not implemented yet")
    }

    func deleteVolume(request: Csi_V1_DeleteVolumeRequest, context: ServerContext) async throws -> Csi_V1_DeleteVolumeResponse {
        throw CSIError.unimplemented("DeleteVolume is not implemented yet")
    }

    func controllerPublishVolume(request: Csi_V1_ControllerPublishVolumeRequest, context: ServerContext) async throws -> Csi_V1_ControllerPublishVolumeResponse {
        throw CSIError.unimplemented("ControllerPublishVolume is not implemented yet")
    }

    func controllerUnpublishVolume(request: Csi_V1_ControllerUnpublishVolumeRequest, context: ServerContext) async throws -> Csi_V1_ControllerUnpublishVolumeResponse {
        throw CSIError.unimplemented("ControllerUnpublishVolume is not implemented yet")
    }

    func validateVolumeCapabilities(request: Csi_V1_ValidateVolumeCapabilitiesRequest, context: ServerContext) async throws -> Csi_V1_ValidateVolumeCapabilitiesResponse {
        throw CSIError.unimplemented("ValidateVolumeCapabilities is not implemented yet")
    }

    func listVolumes(request: Csi_V1_ListVolumesRequest, context: ServerContext) async throws -> Csi_V1_ListVolumesResponse {
        throw CSIError.unimplemented("ListVolumes is not implemented yet")
    }

    func getCapacity(request: Csi_V1_GetCapacityRequest, context: ServerContext) async throws -> Csi_V1_GetCapacityResponse {
        throw CSIError.unimplemented("GetCapacity is not implemented yet")
    }

    func controllerGetCapabilities(request: Csi_V1_ControllerGetCapabilitiesRequest, context: ServerContext) async throws -> Csi_V1_ControllerGetCapabilitiesResponse {
        throw CSIError.unimplemented("ControllerGetCapabilities is not implemented yet")
    }

    func createSnapshot(request: Csi_V1_CreateSnapshotRequest, context: ServerContext) async throws -> Csi_V1_CreateSnapshotResponse {
        throw CSIError.unimplemented("CreateSnapshot is not implemented yet")
    }

    func deleteSnapshot(request: Csi_V1_DeleteSnapshotRequest, context: ServerContext) async throws -> Csi_V1_DeleteSnapshotResponse {
        throw CSIError.unimplemented("DeleteSnapshot is not implemented yet")
    }

    func listSnapshots(request: Csi_V1_ListSnapshotsRequest, context: ServerContext) async throws -> Csi_V1_ListSnapshotsResponse {
        throw CSIError.unimplemented("ListSnapshots is not implemented yet")
    }

    func getSnapshot(request: Csi_V1_GetSnapshotRequest, context: ServerContext) async throws -> Csi_V1_GetSnapshotResponse {
        throw CSIError.unimplemented("GetSnapshot is not implemented yet")
    }

    func controllerExpandVolume(request: Csi_V1_ControllerExpandVolumeRequest, context: ServerContext) async throws -> Csi_V1_ControllerExpandVolumeResponse {
        throw CSIError.unimplemented("ControllerExpandVolume is not implemented yet")
    }

    func controllerGetVolume(request: Csi_V1_ControllerGetVolumeRequest, context: ServerContext) async throws -> Csi_V1_ControllerGetVolumeResponse {
        throw CSIError.unimplemented("ControllerGetVolume is not implemented yet")
    }

    func controllerModifyVolume(request: Csi_V1_ControllerModifyVolumeRequest, context: ServerContext) async throws -> Csi_V1_ControllerModifyVolumeResponse {
        throw CSIError.unimplemented("ControllerModifyVolume is not implemented yet")
    }
}
