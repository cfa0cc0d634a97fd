import CSITestSupport
import CStorCore
import CStorKubernetes
import CStorModel
import GRPCCore
import NIOPosix
import Synchronization
import Testing

/// Where handlers run: the few methods answered from memory on the event loop's thread (no hop
/// to the cooperative pool per call), every other one off it, so that a handler that blocks
/// (statvfs on a hung device, mkfs, fsync) can never stall the server's I/O.
@Suite("RPC placement")
struct RPCPlacementTests {
    @Test("Probe, capabilities and NodeGetInfo run on the event loop; stats, stage and publish never do")
    func placement() async throws {
        let node = PlacementRecordingNode()
        try await withTestServer(services: [node]) { socket in
            try await withCSIClient(socket: socket) { client in
                let calls = Csi_V1_Node.Client(wrapping: client)
                _ = try await calls.nodeGetCapabilities(.init())
                _ = try await calls.nodeGetInfo(.init())
                _ = try await calls.nodeGetVolumeStats(.init())
                _ = try await calls.nodeStageVolume(.init())
                _ = try await calls.nodePublishVolume(.init())
                _ = try await calls.nodeExpandVolume(.init())
            }
        }
        let onLoop = node.onEventLoop
        #expect(onLoop["NodeGetCapabilities"] == true)
        #expect(onLoop["NodeGetInfo"] == true)
        for method in ["NodeGetVolumeStats", "NodeStageVolume", "NodePublishVolume", "NodeExpandVolume"] {
            #expect(onLoop[method] == false, "\(method) ran on the event loop")
        }
        #expect(CSIServer.loopMethods.isSuperset(of: ["Probe", "GetPluginInfo", "GetPluginCapabilities", "ControllerGetCapabilities"]))
    }
}

/// A Node service that records, per method, whether its handler ran on a NIO event loop thread.
final class PlacementRecordingNode: Csi_V1_Node.SimpleServiceProtocol, Sendable {
    private let recorded = Mutex<[String: Bool]>([:])

    var onEventLoop: [String: Bool] { recorded.withLock { $0 } }

    private func record(_ method: String) {
        let onLoop = MultiThreadedEventLoopGroup.currentEventLoop != nil
        recorded.withLock { $0[method] = onLoop }
    }

    func nodeStageVolume(request: Csi_V1_NodeStageVolumeRequest, context: ServerContext) async throws
        -> Csi_V1_NodeStageVolumeResponse
    {
        record("NodeStageVolume")
        return .init()
    }

    func nodeUnstageVolume(request: Csi_V1_NodeUnstageVolumeRequest, context: ServerContext) async throws
        -> Csi_V1_NodeUnstageVolumeResponse
    {
        record("NodeUnstageVolume")
        return .init()
    }

    func nodePublishVolume(request: Csi_V1_NodePublishVolumeRequest, context: ServerContext) async throws
        -> Csi_V1_NodePublishVolumeResponse
    {
        record("NodePublishVolume")
        return .init()
    }

    func nodeUnpublishVolume(request: Csi_V1_NodeUnpublishVolumeRequest, context: ServerContext) async throws
        -> Csi_V1_NodeUnpublishVolumeResponse
    {
        record("NodeUnpublishVolume")
        return .init()
    }

    func nodeGetVolumeStats(request: Csi_V1_NodeGetVolumeStatsRequest, context: ServerContext) async throws
        -> Csi_V1_NodeGetVolumeStatsResponse
    {
        record("NodeGetVolumeStats")
        return .init()
    }

    func nodeExpandVolume(request: Csi_V1_NodeExpandVolumeRequest, context: ServerContext) async throws
        -> Csi_V1_NodeExpandVolumeResponse
    {
        record("NodeExpandVolume")
        return .init()
    }

    func nodeGetCapabilities(request: Csi_V1_NodeGetCapabilitiesRequest, context: ServerContext) async throws
        -> Csi_V1_NodeGetCapabilitiesResponse
    {
        record("NodeGetCapabilities")
        return .init()
    }

    func nodeGetInfo(request: Csi_V1_NodeGetInfoRequest, context: ServerContext) async throws
        -> Csi_V1_NodeGetInfoResponse
    {
        record("NodeGetInfo")
        return .init()
    }
}
