import CStorCore
import CStorKubernetes
import CStorModel
import Foundation
import SwiftProtobuf
import Testing

@Suite("Secrets never reach a log line")
struct RedactionTests {
    /// Every request type of the CSI proto with a `csi_secret` field, filled with a secret.
    static let secretBearing: [(String, any CSISecretBearing)] = [
        ("CreateVolumeRequest", Csi_V1_CreateVolumeRequest()),
        ("DeleteVolumeRequest", Csi_V1_DeleteVolumeRequest()),
        ("ControllerPublishVolumeRequest", Csi_V1_ControllerPublishVolumeRequest()),
        ("ControllerUnpublishVolumeRequest", Csi_V1_ControllerUnpublishVolumeRequest()),
        ("ValidateVolumeCapabilitiesRequest", Csi_V1_ValidateVolumeCapabilitiesRequest()),
        ("ControllerModifyVolumeRequest", Csi_V1_ControllerModifyVolumeRequest()),
        ("CreateSnapshotRequest", Csi_V1_CreateSnapshotRequest()),
        ("DeleteSnapshotRequest", Csi_V1_DeleteSnapshotRequest()),
        ("ListSnapshotsRequest", Csi_V1_ListSnapshotsRequest()),
        ("GetSnapshotRequest", Csi_V1_GetSnapshotRequest()),
        ("ControllerExpandVolumeRequest", Csi_V1_ControllerExpandVolumeRequest()),
        ("NodeStageVolumeRequest", Csi_V1_NodeStageVolumeRequest()),
        ("NodePublishVolumeRequest", Csi_V1_NodePublishVolumeRequest()),
        ("NodeExpandVolumeRequest", Csi_V1_NodeExpandVolumeRequest()),
        ("CreateVolumeGroupSnapshotRequest", Csi_V1_CreateVolumeGroupSnapshotRequest()),
        ("DeleteVolumeGroupSnapshotRequest", Csi_V1_DeleteVolumeGroupSnapshotRequest()),
        ("GetVolumeGroupSnapshotRequest", Csi_V1_GetVolumeGroupSnapshotRequest()),
        ("GetMetadataAllocatedRequest", Csi_V1_GetMetadataAllocatedRequest()),
        ("GetMetadataDeltaRequest", Csi_V1_GetMetadataDeltaRequest()),
    ]

    @Test("Every message with a csi_secret field in proto/csi.proto is masked by the redactor")
    func coverage() throws {
        let protoURL = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("proto/csi.proto")
        let proto = try String(contentsOf: protoURL, encoding: .utf8)
        var current: [String] = []
        var withSecrets: Set<String> = []
        for rawLine in proto.split(separator: "\n") {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            // Track the enclosing blocks; only message blocks have a name worth keeping.
            if line.hasSuffix("{") {
                current.append(line.hasPrefix("message ") ? String(line.split(separator: " ")[1]) : "")
            } else if line.hasPrefix("}") && !current.isEmpty {
                current.removeLast()
            }
            if line.contains("(csi_secret) = true"), let name = current.last(where: { !$0.isEmpty }) {
                withSecrets.insert(name)
            }
        }
        #expect(withSecrets == Set(Self.secretBearing.map(\.0)))
    }

    @Test("Secret values are replaced by *** in the JSON rendering; keys and other fields stay")
    func masking() throws {
        for (name, empty) in Self.secretBearing {
            var message = empty
            message.secrets = ["password": "hunter2-\(name)", "user": "admin-secret"]
            let json = try #require(MessageRedactor.json(message))
            #expect(!json.contains("hunter2"), "\(name): \(json)")
            #expect(!json.contains("admin-secret"), "\(name): \(json)")
            #expect(json.contains("***"), "\(name): \(json)")
        }
        var stage = Csi_V1_NodeStageVolumeRequest()
        stage.volumeID = "pvc-1"
        stage.secrets = ["chap": "s3cret"]
        let json = try #require(MessageRedactor.json(stage))
        #expect(json.contains("pvc-1"))
        #expect(!json.contains("s3cret"))
    }

    @Test("A hostile request is logged within bounds: long strings cut to 256 bytes with their length, large maps as their size")
    func hostileValuesBounded() throws {
        var request = Csi_V1_CreateVolumeRequest()
        request.name = String(repeating: "n", count: 1_000_000)
        request.parameters = Dictionary(uniqueKeysWithValues: (0..<10_000).map { ("key-\($0)", "value") })
        request.volumeCapabilities = [.with { $0.mount = .with { $0.fsType = "ext4" } }]
        request.secrets = ["password": String(repeating: "s", count: 1000)]
        let json = try #require(MessageRedactor.json(request))
        #expect(json.utf8.count < 2048, "\(json.utf8.count) bytes")
        let tree = try JSONValue(json: Data(json.utf8))
        #expect(tree["name"]?.stringValue == String(repeating: "n", count: 256) + "… (1000000 bytes)")
        #expect(tree["parameters"]?.stringValue == "(a map of 10000 entries)")
        #expect(tree["volumeCapabilities"]?.arrayValue?.first?["mount"]?["fsType"]?.stringValue == "ext4")
        #expect(tree["secrets"]?["password"]?.stringValue == "***")
        // Multi-byte text is cut on a character boundary.
        #expect(LogBounds.cut(String(repeating: "ü", count: 200), limit: 5) == "üü… (400 bytes)")
    }
}
