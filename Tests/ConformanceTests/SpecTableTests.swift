import CSITestSupport
import CStorCore
import CStorKubernetes
import CStorModel
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import Testing

/// The CSI spec's error tables (docs: `../shared/reference/csi-spec-v1.12.0.md`), one block of rows
/// per RPC of both binaries on the local engine: a required field missing, a malformed value, a
/// wrong state and a repeat, each with the code the spec names and the table row it comes from.
@Suite("CSI spec error tables, RPC by RPC", .enabled(if: runningAsRoot, "needs root for loop devices and mounts"))
struct SpecTableTests {
    typealias ControllerClient = Csi_V1_Controller.Client<HTTP2ClientTransport.Posix>
    typealias NodeClient = Csi_V1_Node.Client<HTTP2ClientTransport.Posix>

    enum Kind: String { case missing = "missing field", malformed, state = "wrong state", repeated = "repeat" }

    struct Row: Sendable {
        var rpc: String
        var kind: Kind
        /// The spec's row: "<RPC>: <condition>" of the RPC's error table, or "General: ..." of the
        /// table every RPC shares (spec section "Error Scheme").
        var section: String
        var expected: RPCError.Code?
        var controller: (@Sendable (ControllerClient) async throws -> Void)?
        var node: (@Sendable (NodeClient) async throws -> Void)?
    }

    static let missing = "General: Missing required field"
    static let invalid = "General: Invalid or unsupported field in the request"
    static let volume = "pvc-spec"
    static let capability = Csi_V1_VolumeCapability.mount()

    /// Every row, for a volume `pvc-spec` created, published to node-1, staged at `staging` and
    /// published at `target`, with the snapshot `pvc-spec@snap-spec`. Rows that change state come
    /// after the rows that need it.
    static func rows(staging: String, target: String, context: [String: String]) -> [Row] {
        var rows: [Row] = []
        func c(_ rpc: String, _ kind: Kind, _ section: String, _ code: RPCError.Code?, _ call: @escaping @Sendable (ControllerClient) async throws -> Void) {
            rows.append(Row(rpc: rpc, kind: kind, section: section, expected: code, controller: call))
        }
        func n(_ rpc: String, _ kind: Kind, _ section: String, _ code: RPCError.Code?, _ call: @escaping @Sendable (NodeClient) async throws -> Void) {
            rows.append(Row(rpc: rpc, kind: kind, section: section, expected: code, node: call))
        }
        let create: @Sendable (Int64) -> Csi_V1_CreateVolumeRequest = { bytes in
            .with {
                $0.name = volume
                $0.volumeCapabilities = [capability]
                $0.capacityRange = .with { $0.requiredBytes = bytes }
            }
        }
        let publish: @Sendable (String, Bool) -> Csi_V1_ControllerPublishVolumeRequest = { node, readOnly in
            .with {
                $0.volumeID = volume
                $0.nodeID = node
                $0.volumeCapability = capability
                $0.readonly = readOnly
            }
        }
        let stage: Csi_V1_NodeStageVolumeRequest = .with {
            $0.volumeID = volume
            $0.stagingTargetPath = staging
            $0.volumeCapability = capability
            $0.publishContext = context
        }
        let nodePublish: @Sendable (Bool) -> Csi_V1_NodePublishVolumeRequest = { readOnly in
            .with {
                $0.volumeID = volume
                $0.stagingTargetPath = staging
                $0.targetPath = target
                $0.volumeCapability = capability
                $0.readonly = readOnly
            }
        }

        // CreateVolume
        c("CreateVolume", .missing, missing, .invalidArgument) { _ = try await $0.createVolume(.with { $0.volumeCapabilities = [capability] }) }
        c("CreateVolume", .malformed, invalid, .invalidArgument) {
            _ = try await $0.createVolume(.with {
                $0.name = "../x"
                $0.volumeCapabilities = [capability]
            })
        }
        c("CreateVolume", .state, "CreateVolume: Volume already exists but is incompatible", .alreadyExists) { _ = try await $0.createVolume(create(128 << 20)) }
        c("CreateVolume", .state, "CreateVolume: Source does not exist", .notFound) {
            _ = try await $0.createVolume(.with {
                $0.name = "pvc-spec-restore"
                $0.volumeCapabilities = [capability]
                $0.volumeContentSource = .with { $0.snapshot = .with { $0.snapshotID = "pvc-spec@no-such-snapshot" } }
            })
        }
        c("CreateVolume", .state, "CreateVolume: Unsupported capacity_range", .outOfRange) {
            _ = try await $0.createVolume(.with {
                $0.name = "pvc-spec-range"
                $0.volumeCapabilities = [capability]
                $0.capacityRange = .with {
                    $0.requiredBytes = 10 << 20
                    $0.limitBytes = 1 << 20
                }
            })
        }
        c("CreateVolume", .repeated, "CreateVolume: idempotent by name", nil) { _ = try await $0.createVolume(create(64 << 20)) }

        // ControllerPublishVolume
        c("ControllerPublishVolume", .missing, missing, .invalidArgument) {
            _ = try await $0.controllerPublishVolume(.with {
                $0.volumeID = volume
                $0.volumeCapability = capability
            })
        }
        c("ControllerPublishVolume", .malformed, invalid, .invalidArgument) {
            _ = try await $0.controllerPublishVolume(.with {
                $0.volumeID = volume
                $0.nodeID = "node 1"
                $0.volumeCapability = capability
            })
        }
        c("ControllerPublishVolume", .state, "ControllerPublishVolume: Volume does not exist", .notFound) {
            _ = try await $0.controllerPublishVolume(.with {
                $0.volumeID = "pvc-spec-none"
                $0.nodeID = NodeHarness.nodeID
                $0.volumeCapability = capability
            })
        }
        c("ControllerPublishVolume", .state, "ControllerPublishVolume: Node does not exist", .notFound) {
            _ = try await $0.controllerPublishVolume(publish("node-nowhere", false))
        }
        c("ControllerPublishVolume", .state, "ControllerPublishVolume: Volume published to another node", .failedPrecondition) {
            _ = try await $0.controllerPublishVolume(publish("node-2", false))
        }
        c("ControllerPublishVolume", .state, "ControllerPublishVolume: Volume published but is incompatible", .alreadyExists) {
            _ = try await $0.controllerPublishVolume(publish(NodeHarness.nodeID, true))
        }
        c("ControllerPublishVolume", .repeated, "ControllerPublishVolume: idempotent", nil) {
            _ = try await $0.controllerPublishVolume(publish(NodeHarness.nodeID, false))
        }

        // ValidateVolumeCapabilities
        c("ValidateVolumeCapabilities", .missing, missing, .invalidArgument) {
            _ = try await $0.validateVolumeCapabilities(.with { $0.volumeID = volume })
        }
        c("ValidateVolumeCapabilities", .malformed, invalid, .invalidArgument) {
            _ = try await $0.validateVolumeCapabilities(.with {
                $0.volumeID = volume
                $0.volumeCapabilities = [.with { $0.mount = .init() }]
            })
        }
        c("ValidateVolumeCapabilities", .state, "ValidateVolumeCapabilities: Volume does not exist", .notFound) {
            _ = try await $0.validateVolumeCapabilities(.with {
                $0.volumeID = "pvc-spec-none"
                $0.volumeCapabilities = [capability]
            })
        }
        for _ in 0..<2 {
            c("ValidateVolumeCapabilities", .repeated, "ValidateVolumeCapabilities: confirmed", nil) {
                let response = try await $0.validateVolumeCapabilities(.with {
                    $0.volumeID = volume
                    $0.volumeCapabilities = [capability]
                })
                guard response.hasConfirmed else { throw TestFailure("not confirmed: \(response.message)") }
            }
        }

        // ListVolumes, GetCapacity, ControllerGetCapabilities
        c("ListVolumes", .malformed, invalid, .invalidArgument) { _ = try await $0.listVolumes(.with { $0.maxEntries = -1 }) }
        c("ListVolumes", .state, "ListVolumes: Invalid starting_token", .aborted) { _ = try await $0.listVolumes(.with { $0.startingToken = "nope" }) }
        c("ListVolumes", .repeated, "ListVolumes", nil) { _ = try await $0.listVolumes(.init()) }
        c("GetCapacity", .repeated, "GetCapacity", nil) { _ = try await $0.getCapacity(.init()) }
        c("ControllerGetCapabilities", .repeated, "ControllerGetCapabilities", nil) { _ = try await $0.controllerGetCapabilities(.init()) }

        // ControllerGetVolume
        c("ControllerGetVolume", .missing, missing, .invalidArgument) { _ = try await $0.controllerGetVolume(.init()) }
        c("ControllerGetVolume", .malformed, invalid, .invalidArgument) { _ = try await $0.controllerGetVolume(.with { $0.volumeID = "a/b" }) }
        c("ControllerGetVolume", .state, "ControllerGetVolume: Volume does not exist", .notFound) {
            _ = try await $0.controllerGetVolume(.with { $0.volumeID = "pvc-spec-none" })
        }
        c("ControllerGetVolume", .repeated, "ControllerGetVolume", nil) { _ = try await $0.controllerGetVolume(.with { $0.volumeID = volume }) }

        // ControllerModifyVolume: MODIFY_VOLUME is not advertised.
        c("ControllerModifyVolume", .state, "General: Call not implemented", .unimplemented) {
            _ = try await $0.controllerModifyVolume(.with { $0.volumeID = volume })
        }

        // CreateSnapshot, GetSnapshot, ListSnapshots
        c("CreateSnapshot", .missing, missing, .invalidArgument) { _ = try await $0.createSnapshot(.with { $0.sourceVolumeID = volume }) }
        c("CreateSnapshot", .malformed, invalid, .invalidArgument) {
            _ = try await $0.createSnapshot(.with {
                $0.sourceVolumeID = volume
                $0.name = "a b"
            })
        }
        c("CreateSnapshot", .state, "CreateSnapshot: Snapshot already exists but is incompatible", .alreadyExists) {
            _ = try await $0.createVolume(.with {
                $0.name = "pvc-spec-other"
                $0.volumeCapabilities = [capability]
                $0.capacityRange = .with { $0.requiredBytes = 1 << 20 }
            })
            _ = try await $0.createSnapshot(.with {
                $0.sourceVolumeID = "pvc-spec-other"
                $0.name = "snap-spec"
            })
        }
        c("CreateSnapshot", .repeated, "CreateSnapshot: idempotent by name", nil) {
            _ = try await $0.createSnapshot(.with {
                $0.sourceVolumeID = volume
                $0.name = "snap-spec"
            })
        }
        c("GetSnapshot", .missing, missing, .invalidArgument) { _ = try await $0.getSnapshot(.init()) }
        c("GetSnapshot", .state, "GetSnapshot: Snapshot does not exist", .notFound) {
            _ = try await $0.getSnapshot(.with { $0.snapshotID = "pvc-spec@none" })
        }
        c("GetSnapshot", .repeated, "GetSnapshot", nil) { _ = try await $0.getSnapshot(.with { $0.snapshotID = "pvc-spec@snap-spec" }) }
        c("ListSnapshots", .malformed, invalid, .invalidArgument) { _ = try await $0.listSnapshots(.with { $0.maxEntries = -1 }) }
        c("ListSnapshots", .state, "ListSnapshots: Invalid starting_token", .aborted) { _ = try await $0.listSnapshots(.with { $0.startingToken = "nope" }) }
        c("ListSnapshots", .repeated, "ListSnapshots", nil) { _ = try await $0.listSnapshots(.init()) }

        // ControllerExpandVolume
        c("ControllerExpandVolume", .missing, missing, .invalidArgument) { _ = try await $0.controllerExpandVolume(.with { $0.volumeID = volume }) }
        c("ControllerExpandVolume", .malformed, invalid, .invalidArgument) {
            _ = try await $0.controllerExpandVolume(.with {
                $0.volumeID = volume
                $0.capacityRange = .with { $0.requiredBytes = -1 }
            })
        }
        c("ControllerExpandVolume", .state, "ControllerExpandVolume: Volume does not exist", .notFound) {
            _ = try await $0.controllerExpandVolume(.with {
                $0.volumeID = "pvc-spec-none"
                $0.capacityRange = .with { $0.requiredBytes = 1 << 30 }
            })
        }
        c("ControllerExpandVolume", .state, "ControllerExpandVolume: Unsupported capacity_range", .outOfRange) {
            _ = try await $0.controllerExpandVolume(.with {
                $0.volumeID = volume
                $0.capacityRange = .with { $0.requiredBytes = 1 << 20 }
            })
        }
        for _ in 0..<2 {
            c("ControllerExpandVolume", .repeated, "ControllerExpandVolume: idempotent", nil) {
                _ = try await $0.controllerExpandVolume(.with {
                    $0.volumeID = volume
                    $0.capacityRange = .with { $0.requiredBytes = 64 << 20 }
                })
            }
        }

        // NodeStageVolume
        n("NodeStageVolume", .missing, missing, .invalidArgument) {
            var request = stage
            request.stagingTargetPath = ""
            _ = try await $0.nodeStageVolume(request)
        }
        n("NodeStageVolume", .malformed, invalid, .invalidArgument) {
            var request = stage
            request.stagingTargetPath = "relative/staging"
            _ = try await $0.nodeStageVolume(request)
        }
        n("NodeStageVolume", .state, "NodeStageVolume: Volume does not exist", .notFound) {
            var request = stage
            request.volumeID = "pvc-spec-none"
            request.publishContext = ["transport": "loop", "file": (context["file"] ?? "") + ".none"]
            _ = try await $0.nodeStageVolume(request)
        }
        n("NodeStageVolume", .state, "NodeStageVolume: Exceeds capabilities", .failedPrecondition) {
            var request = stage
            request.volumeCapability = .mount(mode: .multiNodeMultiWriter)
            _ = try await $0.nodeStageVolume(request)
        }
        n("NodeStageVolume", .repeated, "NodeStageVolume: idempotent", nil) { _ = try await $0.nodeStageVolume(stage) }

        // NodePublishVolume
        n("NodePublishVolume", .missing, missing, .invalidArgument) {
            var request = nodePublish(false)
            request.targetPath = ""
            _ = try await $0.nodePublishVolume(request)
        }
        n("NodePublishVolume", .malformed, invalid, .invalidArgument) {
            var request = nodePublish(false)
            request.targetPath = target + "/../x"
            _ = try await $0.nodePublishVolume(request)
        }
        n("NodePublishVolume", .state, "NodePublishVolume: Staging target path not set", .failedPrecondition) {
            var request = nodePublish(false)
            request.stagingTargetPath = ""
            _ = try await $0.nodePublishVolume(request)
        }
        n("NodePublishVolume", .state, "NodePublishVolume: Exceeds capabilities", .failedPrecondition) {
            var request = nodePublish(false)
            request.volumeCapability = .mount("btrfs")
            _ = try await $0.nodePublishVolume(request)
        }
        n("NodePublishVolume", .repeated, "NodePublishVolume: idempotent", nil) { _ = try await $0.nodePublishVolume(nodePublish(false)) }

        // NodeGetVolumeStats, NodeExpandVolume
        n("NodeGetVolumeStats", .missing, missing, .invalidArgument) { _ = try await $0.nodeGetVolumeStats(.with { $0.volumeID = volume }) }
        n("NodeGetVolumeStats", .malformed, invalid, .invalidArgument) {
            _ = try await $0.nodeGetVolumeStats(.with {
                $0.volumeID = "a b"
                $0.volumePath = target
            })
        }
        n("NodeGetVolumeStats", .state, "NodeGetVolumeStats: Volume does not exist (on the specified path)", .notFound) {
            _ = try await $0.nodeGetVolumeStats(.with {
                $0.volumeID = volume
                $0.volumePath = "relative/path"
            })
        }
        n("NodeGetVolumeStats", .repeated, "NodeGetVolumeStats", nil) {
            _ = try await $0.nodeGetVolumeStats(.with {
                $0.volumeID = volume
                $0.volumePath = target
            })
        }
        n("NodeExpandVolume", .missing, missing, .invalidArgument) { _ = try await $0.nodeExpandVolume(.with { $0.volumeID = volume }) }
        n("NodeExpandVolume", .malformed, invalid, .invalidArgument) {
            _ = try await $0.nodeExpandVolume(.with {
                $0.volumeID = volume
                $0.volumePath = staging
                $0.capacityRange = .with { $0.requiredBytes = -1 }
            })
        }
        n("NodeExpandVolume", .state, "NodeExpandVolume: Volume does not exist", .notFound) {
            _ = try await $0.nodeExpandVolume(.with {
                $0.volumeID = "pvc-spec-none"
                $0.volumePath = staging
            })
        }
        n("NodeExpandVolume", .state, "NodeExpandVolume: Unsupported capacity_range", .outOfRange) {
            _ = try await $0.nodeExpandVolume(.with {
                $0.volumeID = volume
                $0.volumePath = staging
                $0.capacityRange = .with {
                    $0.requiredBytes = 2 << 20
                    $0.limitBytes = 1 << 20
                }
            })
        }
        n("NodeGetCapabilities", .repeated, "NodeGetCapabilities", nil) { _ = try await $0.nodeGetCapabilities(.init()) }
        n("NodeGetInfo", .repeated, "NodeGetInfo", nil) { _ = try await $0.nodeGetInfo(.init()) }

        // Teardown, each step twice; the state rows of the deletes come while the volume is held.
        c("DeleteVolume", .state, "DeleteVolume: Volume in use", .failedPrecondition) { _ = try await $0.deleteVolume(.with { $0.volumeID = volume }) }
        n("NodeUnstageVolume", .state, "NodeUnstageVolume: volume still published (FailedPrecondition, as the spec orders unpublish first)", .failedPrecondition) {
            _ = try await $0.nodeUnstageVolume(.with {
                $0.volumeID = volume
                $0.stagingTargetPath = staging
            })
        }
        n("NodeUnpublishVolume", .missing, missing, .invalidArgument) { _ = try await $0.nodeUnpublishVolume(.with { $0.volumeID = volume }) }
        n("NodeUnpublishVolume", .malformed, invalid, .invalidArgument) {
            _ = try await $0.nodeUnpublishVolume(.with {
                $0.volumeID = volume
                $0.targetPath = "relative"
            })
        }
        for _ in 0..<2 {
            n("NodeUnpublishVolume", .repeated, "NodeUnpublishVolume: idempotent", nil) {
                _ = try await $0.nodeUnpublishVolume(.with {
                    $0.volumeID = volume
                    $0.targetPath = target
                })
            }
        }
        n("NodeUnstageVolume", .missing, missing, .invalidArgument) { _ = try await $0.nodeUnstageVolume(.with { $0.volumeID = volume }) }
        n("NodeUnstageVolume", .malformed, invalid, .invalidArgument) {
            _ = try await $0.nodeUnstageVolume(.with {
                $0.volumeID = volume
                $0.stagingTargetPath = "/etc"
            })
        }
        for _ in 0..<2 {
            n("NodeUnstageVolume", .repeated, "NodeUnstageVolume: idempotent", nil) {
                _ = try await $0.nodeUnstageVolume(.with {
                    $0.volumeID = volume
                    $0.stagingTargetPath = staging
                })
            }
        }
        c("ControllerUnpublishVolume", .missing, missing, .invalidArgument) { _ = try await $0.controllerUnpublishVolume(.with { $0.nodeID = NodeHarness.nodeID }) }
        for _ in 0..<2 {
            c("ControllerUnpublishVolume", .repeated, "ControllerUnpublishVolume: idempotent", nil) {
                _ = try await $0.controllerUnpublishVolume(.with {
                    $0.volumeID = volume
                    $0.nodeID = NodeHarness.nodeID
                })
            }
        }
        c("DeleteSnapshot", .missing, missing, .invalidArgument) { _ = try await $0.deleteSnapshot(.init()) }
        c("DeleteSnapshot", .malformed, invalid, .invalidArgument) { _ = try await $0.deleteSnapshot(.with { $0.snapshotID = "a\u{1}@b" }) }
        for _ in 0..<2 {
            c("DeleteSnapshot", .repeated, "DeleteSnapshot: idempotent", nil) { _ = try await $0.deleteSnapshot(.with { $0.snapshotID = "pvc-spec@snap-spec" }) }
        }
        c("DeleteVolume", .missing, missing, .invalidArgument) { _ = try await $0.deleteVolume(.init()) }
        for _ in 0..<2 {
            c("DeleteVolume", .repeated, "DeleteVolume: idempotent", nil) { _ = try await $0.deleteVolume(.with { $0.volumeID = volume }) }
        }
        return rows
    }

    /// Every Controller and Node RPC this driver serves.
    static let servedRPCs: Set<String> = [
        "CreateVolume", "DeleteVolume", "ControllerPublishVolume", "ControllerUnpublishVolume", "ValidateVolumeCapabilities",
        "ListVolumes", "GetCapacity", "ControllerGetCapabilities", "CreateSnapshot", "DeleteSnapshot", "ListSnapshots",
        "GetSnapshot", "ControllerExpandVolume", "ControllerGetVolume", "ControllerModifyVolume",
        "NodeStageVolume", "NodeUnstageVolume", "NodePublishVolume", "NodeUnpublishVolume", "NodeGetVolumeStats",
        "NodeExpandVolume", "NodeGetCapabilities", "NodeGetInfo",
    ]

    @Test("Every RPC answers the spec's code for a missing field, a malformed value, a wrong state and a repeat")
    func table() async throws {
        try await withLocalCluster(controllerArguments: ["--node", "node-2"]) { cluster in
            let node = cluster.node
            let staging = node.stagingPath(Self.volume)
            let target = node.targetPath(Self.volume)
            let context = try await cluster.controllerClient { controller in
                _ = try await controller.createVolume(.with {
                    $0.name = Self.volume
                    $0.volumeCapabilities = [Self.capability]
                    $0.capacityRange = .with { $0.requiredBytes = 64 << 20 }
                })
                _ = try await controller.createSnapshot(.with {
                    $0.sourceVolumeID = Self.volume
                    $0.name = "snap-spec"
                })
                return try await controller.controllerPublishVolume(.with {
                    $0.volumeID = Self.volume
                    $0.nodeID = NodeHarness.nodeID
                    $0.volumeCapability = Self.capability
                }).publishContext
            }
            try await node.node {
                _ = try await $0.nodeStageVolume(.with {
                    $0.volumeID = Self.volume
                    $0.stagingTargetPath = staging
                    $0.volumeCapability = Self.capability
                    $0.publishContext = context
                })
                _ = try await $0.nodePublishVolume(.with {
                    $0.volumeID = Self.volume
                    $0.stagingTargetPath = staging
                    $0.targetPath = target
                    $0.volumeCapability = Self.capability
                })
            }
            let rows = Self.rows(staging: staging, target: target, context: context)
            // The table covers every RPC, and each with a repeat; each RPC that takes input also
            // with a missing field.
            #expect(Set(rows.map(\.rpc)) == Self.servedRPCs)
            let withoutInput: Set<String> = ["ListVolumes", "GetCapacity", "ControllerGetCapabilities", "ListSnapshots", "NodeGetCapabilities", "NodeGetInfo", "ControllerModifyVolume"]
            for rpc in Self.servedRPCs.subtracting(withoutInput) {
                #expect(rows.contains { $0.rpc == rpc && $0.kind == .missing }, "\(rpc) has no missing-field row")
            }
            var failures: [String] = []
            try await withCSIClient(socket: cluster.controllerSocket) { controllerConnection in
                try await withCSIClient(socket: node.socketPath) { nodeConnection in
                    let controller = Csi_V1_Controller.Client(wrapping: controllerConnection)
                    let nodeClient = Csi_V1_Node.Client(wrapping: nodeConnection)
                    for row in rows {
                        let error = await rpcError {
                            if let call = row.controller { try await call(controller) }
                            if let call = row.node { try await call(nodeClient) }
                        }
                        if error?.code != row.expected {
                            failures.append(
                                "\(row.rpc) \(row.kind.rawValue) [\(row.section)]: expected \(row.expected.map { "\($0)" } ?? "OK"), got \(error.map { "\($0.code): \($0.message)" } ?? "OK")")
                        }
                    }
                }
            }
            #expect(failures.isEmpty, "\(failures.count) of \(rows.count) rows:\n\(failures.joined(separator: "\n"))")
            #expect(node.mountsBelowDirectory().isEmpty)
        }
    }

    @Test("A CO that asks the node endpoint's Identity first finds the controller and drives the whole flow from what each service advertises")
    func flowByDiscovery() async throws {
        try await withLocalCluster { cluster in
            let node = cluster.node
            let plugin = try await withCSIClient(socket: node.socketPath) { try await Csi_V1_Identity.Client(wrapping: $0).getPluginCapabilities(.init()) }
            let services = Set(plugin.capabilities.compactMap { capability -> Csi_V1_PluginCapability.Service.TypeEnum? in
                if case .service(let service) = capability.type { return service.type }
                return nil
            })
            try #require(services.contains(.controllerService), "the node endpoint must say there is a controller")
            let controllerCapabilities = try await cluster.controllerClient { try await $0.controllerGetCapabilities(.init()) }
                .capabilities.map(\.rpc.type)
            let nodeCapabilities = try await node.node { try await $0.nodeGetCapabilities(.init()) }.capabilities.map(\.rpc.type)
            let info = try await node.node { try await $0.nodeGetInfo(.init()) }
            let capability = Csi_V1_VolumeCapability.mount()
            let volume = try await cluster.controllerClient {
                try await $0.createVolume(.with {
                    $0.name = "pvc-discovered"
                    $0.volumeCapabilities = [capability]
                    $0.capacityRange = .with { $0.requiredBytes = 64 << 20 }
                    if services.contains(.volumeAccessibilityConstraints) {
                        $0.accessibilityRequirements = .with { $0.requisite = [info.accessibleTopology] }
                    }
                })
            }.volume
            var publishContext: [String: String] = [:]
            if controllerCapabilities.contains(.publishUnpublishVolume) {
                publishContext = try await cluster.controllerClient {
                    try await $0.controllerPublishVolume(.with {
                        $0.volumeID = volume.volumeID
                        $0.nodeID = info.nodeID
                        $0.volumeCapability = capability
                        $0.volumeContext = volume.volumeContext
                    })
                }.publishContext
            }
            let staging = node.stagingPath(volume.volumeID)
            let target = node.targetPath(volume.volumeID)
            let stages = nodeCapabilities.contains(.stageUnstageVolume)
            try await node.node {
                if stages {
                    _ = try await $0.nodeStageVolume(.with {
                        $0.volumeID = volume.volumeID
                        $0.stagingTargetPath = staging
                        $0.volumeCapability = capability
                        $0.publishContext = publishContext
                        $0.volumeContext = volume.volumeContext
                    })
                }
                _ = try await $0.nodePublishVolume(.with {
                    $0.volumeID = volume.volumeID
                    if stages { $0.stagingTargetPath = staging }
                    $0.targetPath = target
                    $0.volumeCapability = capability
                    $0.publishContext = publishContext
                    $0.volumeContext = volume.volumeContext
                })
            }
            try Data("discovered".utf8).write(to: URL(fileURLWithPath: target + "/file"))
            if nodeCapabilities.contains(.getVolumeStats) {
                let stats = try await node.node { try await $0.nodeGetVolumeStats(.with { $0.volumeID = volume.volumeID; $0.volumePath = target }) }
                #expect(!stats.usage.isEmpty)
            }
            try await node.node {
                _ = try await $0.nodeUnpublishVolume(.with { $0.volumeID = volume.volumeID; $0.targetPath = target })
                if stages { _ = try await $0.nodeUnstageVolume(.with { $0.volumeID = volume.volumeID; $0.stagingTargetPath = staging }) }
            }
            try await cluster.controllerClient {
                if controllerCapabilities.contains(.publishUnpublishVolume) {
                    _ = try await $0.controllerUnpublishVolume(.with { $0.volumeID = volume.volumeID; $0.nodeID = info.nodeID })
                }
                _ = try await $0.deleteVolume(.with { $0.volumeID = volume.volumeID })
            }
            #expect(node.mountsBelowDirectory().isEmpty)
            #expect(node.loopDevicesInUse().isEmpty)
        }
    }
}
