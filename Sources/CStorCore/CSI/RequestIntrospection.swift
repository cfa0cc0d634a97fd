import FoundationEssentials
import Glibc
import SwiftProtobuf

/// A CSI request with a `secrets` map: every field the CSI proto marks `csi_secret` is such a map.
/// The logging interceptor masks these values before a request reaches any log line.
public protocol CSISecretBearing: Sendable {
    var secrets: [String: String] { get set }
}

extension Csi_V1_CreateVolumeRequest: CSISecretBearing {}
extension Csi_V1_DeleteVolumeRequest: CSISecretBearing {}
extension Csi_V1_ControllerPublishVolumeRequest: CSISecretBearing {}
extension Csi_V1_ControllerUnpublishVolumeRequest: CSISecretBearing {}
extension Csi_V1_ValidateVolumeCapabilitiesRequest: CSISecretBearing {}
extension Csi_V1_ControllerModifyVolumeRequest: CSISecretBearing {}
extension Csi_V1_CreateSnapshotRequest: CSISecretBearing {}
extension Csi_V1_DeleteSnapshotRequest: CSISecretBearing {}
extension Csi_V1_ListSnapshotsRequest: CSISecretBearing {}
extension Csi_V1_GetSnapshotRequest: CSISecretBearing {}
extension Csi_V1_ControllerExpandVolumeRequest: CSISecretBearing {}
extension Csi_V1_NodeStageVolumeRequest: CSISecretBearing {}
extension Csi_V1_NodePublishVolumeRequest: CSISecretBearing {}
extension Csi_V1_NodeExpandVolumeRequest: CSISecretBearing {}
extension Csi_V1_CreateVolumeGroupSnapshotRequest: CSISecretBearing {}
extension Csi_V1_DeleteVolumeGroupSnapshotRequest: CSISecretBearing {}
extension Csi_V1_GetVolumeGroupSnapshotRequest: CSISecretBearing {}
extension Csi_V1_GetMetadataAllocatedRequest: CSISecretBearing {}
extension Csi_V1_GetMetadataDeltaRequest: CSISecretBearing {}

/// A request that names the volume it acts on, so that log lines can carry `volume_id`.
public protocol CSIVolumeScoped {
    var volumeIDForLog: String { get }
}

extension Csi_V1_CreateVolumeRequest: CSIVolumeScoped { public var volumeIDForLog: String { name } }
extension Csi_V1_DeleteVolumeRequest: CSIVolumeScoped { public var volumeIDForLog: String { volumeID } }
extension Csi_V1_ControllerPublishVolumeRequest: CSIVolumeScoped {
    public var volumeIDForLog: String { volumeID }
}
extension Csi_V1_ControllerUnpublishVolumeRequest: CSIVolumeScoped {
    public var volumeIDForLog: String { volumeID }
}
extension Csi_V1_ValidateVolumeCapabilitiesRequest: CSIVolumeScoped {
    public var volumeIDForLog: String { volumeID }
}
extension Csi_V1_ControllerGetVolumeRequest: CSIVolumeScoped {
    public var volumeIDForLog: String { volumeID }
}
extension Csi_V1_ControllerModifyVolumeRequest: CSIVolumeScoped {
    public var volumeIDForLog: String { volumeID }
}
extension Csi_V1_ControllerExpandVolumeRequest: CSIVolumeScoped {
    public var volumeIDForLog: String { volumeID }
}
extension Csi_V1_CreateSnapshotRequest: CSIVolumeScoped {
    public var volumeIDForLog: String { sourceVolumeID }
}
extension Csi_V1_NodeStageVolumeRequest: CSIVolumeScoped { public var volumeIDForLog: String { volumeID } }
extension Csi_V1_NodeUnstageVolumeRequest: CSIVolumeScoped {
    public var volumeIDForLog: String { volumeID }
}
extension Csi_V1_NodePublishVolumeRequest: CSIVolumeScoped {
    public var volumeIDForLog: String { volumeID }
}
extension Csi_V1_NodeUnpublishVolumeRequest: CSIVolumeScoped {
    public var volumeIDForLog: String { volumeID }
}
extension Csi_V1_NodeGetVolumeStatsRequest: CSIVolumeScoped {
    public var volumeIDForLog: String { volumeID }
}
extension Csi_V1_NodeExpandVolumeRequest: CSIVolumeScoped {
    public var volumeIDForLog: String { volumeID }
}

/// A request that names a snapshot, so that log lines can carry `snapshot_id`.
public protocol CSISnapshotScoped {
    var snapshotIDForLog: String { get }
}

extension Csi_V1_DeleteSnapshotRequest: CSISnapshotScoped {
    public var snapshotIDForLog: String { snapshotID }
}
extension Csi_V1_GetSnapshotRequest: CSISnapshotScoped {
    public var snapshotIDForLog: String { snapshotID }
}
extension Csi_V1_CreateSnapshotRequest: CSISnapshotScoped {
    public var snapshotIDForLog: String { name }
}

/// Renders request and response messages for the log with every secret masked.
public enum MessageRedactor {
    /// The text that replaces each secret value.
    public static let mask = "***"
    /// The message as compact JSON (proto3 JSON mapping) with secrets masked, and every value
    /// within `LogBounds` (a hostile 1 MB field or 10,000-entry map must not flood the log).
    public static func json(_ message: Any) -> String? {
        var value = message
        if var bearing = value as? any CSISecretBearing {
            bearing.secrets = bearing.secrets.mapValues { _ in mask }
            value = bearing
        }
        guard let protobuf = value as? any SwiftProtobuf.Message,
            let json = try? protobuf.jsonString()
        else { return nil }
        // Nothing in a rendering this short can pass a bound.
        if json.utf8.count <= LogBounds.valueBytes { return json }
        guard let tree = try? JSONValue(json: Data(json.utf8)) else { return nil }
        return LogBounds.shrink(tree).jsonString
    }
}
