import CStorCore
import GRPCCore
import Logging

/// Placeholder until the service lands: every RPC answers Unimplemented.
struct NodeService: Csi_V1_Node.SimpleServiceProtocol {
    let logger: Logger

    func nodeStageVolume(request: Csi_V1_NodeStageVolumeRequest, context: ServerContext) async throws -> Csi_V1_NodeStageVolumeResponse {
        throw CSIError.unimplemented("NodeStageVolume is not implemented yet")
    }

    func nodeUnstageVolume(request: Csi_V1_NodeUnstageVolumeRequest, context: ServerContext) async throws -> Csi_V1_NodeUnstageVolumeResponse {
        throw CSIError.unimplemented("NodeUnstageVolume is not implemented yet")
    }

    func nodePublishVolume(request: Csi_V1_NodePublishVolumeRequest, context: ServerContext) async throws -> Csi_V1_NodePublishVolumeResponse {
        throw CSIError.unimplemented("NodePublishVolume is not implemented yet")
    }

    func nodeUnpublishVolume(request: Csi_V1_NodeUnpublishVolumeRequest, context: ServerContext) async throws -> Csi_V1_NodeUnpublishVolumeResponse {
        throw CSIError.unimplemented("NodeUnpublishVolume is not implemented yet")
    }

    func nodeGetVolumeStats(request: Csi_V1_NodeGetVolumeStatsRequest, context: ServerContext) async throws -> Csi_V1_NodeGetVolumeStatsResponse {
        throw CSIError.unimplemented("NodeGetVolumeStats is not implemented yet")
    }

    func nodeExpandVolume(request: Csi_V1_NodeExpandVolumeRequest, context: ServerContext) async throws -> Csi_V1_NodeExpandVolumeResponse {
        throw CSIError.unimplemented("NodeExpandVolume is not implemented yet")
    }

    func nodeGetCapabilities(request: Csi_V1_NodeGetCapabilitiesRequest, context: ServerContext) async throws -> Csi_V1_NodeGetCapabilitiesResponse {
        throw CSIError.unimplemented("NodeGetCapabilities is not implemented yet")
    }

    func nodeGetInfo(request: Csi_V1_NodeGetInfoRequest, context: ServerContext) async throws -> Csi_V1_NodeGetInfoResponse {
        throw CSIError.unimplemented("NodeGetInfo is not implemented yet")
    }
}
