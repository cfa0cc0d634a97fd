import CSITestSupport
import CStorCore
import CStorKubernetes
import CStorModel
import Foundation
import GRPCCore
import Testing

/// The foundation as kubelet sees it: both binaries on unix sockets, Identity over real gRPC,
/// stale and live sockets, SIGTERM, and the JSON log lines.
@Suite("Identity and process lifecycle of both binaries")
struct IdentityAndLifecycleTests {
    static let plugins: [(binary: String, arguments: [String], component: String)] = [
        ("cstor-controller", ["--state-dir", "/tmp/cstor-csi-identity-tests"], "controller"),
        ("cstor-node", ["--node-id", "node-a", "--kubelet-dir", "/tmp", "--transports", "loop", "--loop-dir", "/tmp"], "node"),
    ]

    @Test("GetPluginInfo names the driver and its version", arguments: plugins)
    func pluginInfo(plugin: (binary: String, arguments: [String], component: String)) async throws {
        let dir = try TemporaryDirectory()
        let process = try await PluginProcess.start(
            plugin.binary, socketPath: dir.file("csi.sock"), arguments: plugin.arguments, logDirectory: dir.url)
        let info = try await withCSIClient(socket: process.socketPath) { client in
            try await Csi_V1_Identity.Client(wrapping: client).getPluginInfo(.init())
        }
        #expect(info.name == "cstor.csi.openebs.io")
        #expect(info.vendorVersion == BuildInfo.version)
        #expect(info.manifest["component"] == plugin.component)
        try await process.stop()
    }

    @Test("--driver-name overrides the name GetPluginInfo reports")
    func driverNameOverride() async throws {
        let dir = try TemporaryDirectory()
        let process = try await PluginProcess.start(
            "cstor-controller", socketPath: dir.file("csi.sock"), arguments: ["--driver-name", "cstor.example.com", "--state-dir", dir.path],
            logDirectory: dir.url)
        let info = try await withCSIClient(socket: process.socketPath) { client in
            try await Csi_V1_Identity.Client(wrapping: client).getPluginInfo(.init())
        }
        #expect(info.name == "cstor.example.com")
        try await process.stop()
    }

    @Test("An invalid driver name or endpoint is refused at start with a clear error")
    func invalidFlags() async throws {
        let dir = try TemporaryDirectory()
        for arguments in [["--driver-name", "-bad-"], ["--endpoint", "http://x"], ["--endpoint", "unix://relative"]] {
            let process = try PluginProcess(
                binary: "cstor-controller", socketPath: dir.file("csi.sock"), arguments: arguments,
                logDirectory: dir.url, addEndpoint: false)
            let status = try await process.waitForExit()
            #expect(status != 0, "\(arguments) must be refused")
            #expect(process.logText().contains("Error"), "\(arguments): \(process.logText())")
        }
    }

    @Test("The node refuses to start without a node id")
    func nodeNeedsNodeID() async throws {
        let dir = try TemporaryDirectory()
        let process = try PluginProcess(
            binary: "cstor-node", socketPath: dir.file("csi.sock"), arguments: [], logDirectory: dir.url,
            environment: ["NODE_ID": ""])
        let status = try await process.waitForExit()
        #expect(status != 0)
        #expect(process.logText().contains("--node-id"))
    }

    @Test("--restart-pods without --remount, or without a service account, stops the node at start with a clear error")
    func restartPodsNeedsItsParts() async throws {
        let dir = try TemporaryDirectory()
        let base = ["--node-id", "node-1", "--kubelet-dir", "/tmp", "--transports", "loop", "--loop-dir", "/tmp", "--restart-pods", "true"]
        let cases: [(arguments: [String], environment: [String: String], says: String)] = [
            (["--remount", "false"], [:], "--restart-pods needs --remount"),
            (["--service-account-dir", dir.file("none")], ["KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": "6443"],
             "--restart-pods needs the pod's service account"),
            ([], ["KUBERNETES_SERVICE_HOST": "", "KUBERNETES_SERVICE_PORT": ""], "KUBERNETES_SERVICE_HOST"),
        ]
        for (extra, environment, says) in cases {
            let logs = try TemporaryDirectory()
            let process = try PluginProcess(
                binary: "cstor-node", socketPath: logs.file("csi.sock"), arguments: base + extra, logDirectory: logs.url,
                environment: environment)
            let status = try await process.waitForExit()
            #expect(status != 0, "\(extra)")
            #expect(process.logText().contains(says), "\(extra): \(process.logText())")
        }
    }

    @Test("The node takes its id from NODE_ID when --node-id is absent")
    func nodeIDFromEnvironment() async throws {
        let dir = try TemporaryDirectory()
        let process = try await PluginProcess.start(
            "cstor-node", socketPath: dir.file("csi.sock"), arguments: ["--kubelet-dir", "/tmp", "--transports", "loop", "--loop-dir", "/tmp"], logDirectory: dir.url,
            environment: ["NODE_ID": "node-from-env"])
        #expect(process.logText().contains("node-from-env"))
        try await process.stop()
    }

    @Test("GetPluginCapabilities: both binaries answer the same bytes, naming the controller service, topology and online expansion")
    func capabilities() async throws {
        let dir = try TemporaryDirectory()
        let controller = try await PluginProcess.start(
            "cstor-controller", socketPath: dir.file("c.sock"), arguments: ["--state-dir", dir.path], logDirectory: dir.url)
        let node = try await PluginProcess.start(
            "cstor-node", socketPath: dir.file("n.sock"), arguments: ["--node-id", "n1", "--kubelet-dir", "/tmp", "--transports", "loop", "--loop-dir", "/tmp"], logDirectory: dir.url)
        func answer(_ socket: String) async throws -> Csi_V1_GetPluginCapabilitiesResponse {
            try await withCSIClient(socket: socket) { client in
                try await Csi_V1_Identity.Client(wrapping: client).getPluginCapabilities(.init())
            }
        }
        let fromController = try await answer(controller.socketPath)
        let fromNode = try await answer(node.socketPath)
        // The spec: all instances of one version SHALL return the same set, whichever RPCs they serve.
        #expect(try fromNode.serializedBytes() as [UInt8] == fromController.serializedBytes() as [UInt8])
        let services = Set(fromNode.capabilities.compactMap { capability -> Csi_V1_PluginCapability.Service.TypeEnum? in
            if case .service(let service) = capability.type { return service.type }
            return nil
        })
        #expect(services == [.controllerService, .volumeAccessibilityConstraints])
        let expansion = fromNode.capabilities.compactMap { capability -> Csi_V1_PluginCapability.VolumeExpansion.TypeEnum? in
            if case .volumeExpansion(let expansion) = capability.type { return expansion.type }
            return nil
        }
        #expect(expansion == [.online])
        try await controller.stop()
        try await node.stop()
    }

    @Test("Probe answers ready once serving", arguments: plugins)
    func probe(plugin: (binary: String, arguments: [String], component: String)) async throws {
        let dir = try TemporaryDirectory()
        let process = try await PluginProcess.start(
            plugin.binary, socketPath: dir.file("csi.sock"), arguments: plugin.arguments, logDirectory: dir.url)
        let response = try await withCSIClient(socket: process.socketPath) { client in
            try await Csi_V1_Identity.Client(wrapping: client).probe(.init())
        }
        #expect(response.ready.value == true)
        try await process.stop()
    }

    @Test("The node's Probe is not ready while a tool it needs is missing, and says which")
    func probeNotReady() async throws {
        let dir = try TemporaryDirectory()
        let process = try await PluginProcess.start(
            "cstor-node", socketPath: dir.file("csi.sock"),
            arguments: ["--node-id", "n1", "--kubelet-dir", dir.path, "--iscsiadm", "/nonexistent/iscsiadm"],
            logDirectory: dir.url)
        let response = try await withCSIClient(socket: process.socketPath) { client in
            try await Csi_V1_Identity.Client(wrapping: client).probe(.init())
        }
        #expect(response.ready.value == false)
        try await process.stop()
        #expect(process.logText().contains("/nonexistent/iscsiadm"))
    }

    @Test("A service a binary does not serve answers Unimplemented", arguments: plugins)
    func unimplementedService(plugin: (binary: String, arguments: [String], component: String)) async throws {
        let dir = try TemporaryDirectory()
        let process = try await PluginProcess.start(
            plugin.binary, socketPath: dir.file("csi.sock"), arguments: plugin.arguments, logDirectory: dir.url)
        let code = await rpcCode {
            try await withCSIClient(socket: process.socketPath) { client in
                try await Csi_V1_GroupController.Client(wrapping: client).groupControllerGetCapabilities(.init())
            }
        }
        #expect(code == .unimplemented)
        let other = await rpcCode {
            try await withCSIClient(socket: process.socketPath) { client in
                if plugin.component == "node" {
                    _ = try await Csi_V1_Controller.Client(wrapping: client).controllerGetCapabilities(.init())
                } else {
                    _ = try await Csi_V1_Node.Client(wrapping: client).nodeGetInfo(.init())
                }
            }
        }
        #expect(other == .unimplemented)
        try await process.stop()
    }

    @Test("A stale socket file left by a killed process is replaced at start")
    func staleSocket() async throws {
        let dir = try TemporaryDirectory()
        let socket = dir.file("csi.sock")
        let first = try await PluginProcess.start(
            "cstor-controller", socketPath: socket, arguments: ["--state-dir", dir.path], logDirectory: dir.url)
        try await first.stop(signal: SIGKILL)
        #expect(FileManager.default.fileExists(atPath: socket), "SIGKILL leaves the socket file behind")
        let second = try await PluginProcess.start(
            "cstor-controller", socketPath: socket, arguments: ["--state-dir", dir.path], logDirectory: dir.url)
        let info = try await withCSIClient(socket: socket) { client in
            try await Csi_V1_Identity.Client(wrapping: client).getPluginInfo(.init())
        }
        #expect(info.name == "cstor.csi.openebs.io")
        #expect(second.logText().contains("stale socket"))
        try await second.stop()
    }

    @Test("A socket a live server answers on is not stolen: the second process exits non-zero")
    func liveSocketNotStolen() async throws {
        let dir = try TemporaryDirectory()
        let socket = dir.file("csi.sock")
        let first = try await PluginProcess.start(
            "cstor-controller", socketPath: socket, arguments: ["--state-dir", dir.path], logDirectory: dir.url)
        let second = try PluginProcess(
            binary: "cstor-controller", socketPath: socket, arguments: ["--state-dir", dir.path], logDirectory: dir.url)
        let status = try await second.waitForExit()
        #expect(status != 0)
        #expect(second.logText().contains("another server is listening"))
        // The first server still answers.
        let info = try await withCSIClient(socket: socket) { client in
            try await Csi_V1_Identity.Client(wrapping: client).getPluginInfo(.init())
        }
        #expect(info.name == "cstor.csi.openebs.io")
        try await first.stop()
    }

    @Test("A regular file at the socket path is never removed")
    func regularFileKept() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("csi.sock")
        try Data("precious".utf8).write(to: URL(fileURLWithPath: path))
        let process = try PluginProcess(
            binary: "cstor-controller", socketPath: path, arguments: ["--state-dir", dir.path], logDirectory: dir.url)
        let status = try await process.waitForExit()
        #expect(status != 0)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "precious")
    }

    @Test("SIGTERM and SIGINT stop the server, remove the socket and exit 0", arguments: [SIGTERM, SIGINT])
    func gracefulShutdown(signal: Int32) async throws {
        let dir = try TemporaryDirectory()
        let process = try await PluginProcess.start(
            "cstor-node", socketPath: dir.file("csi.sock"), arguments: ["--node-id", "n1", "--kubelet-dir", "/tmp", "--transports", "loop", "--loop-dir", "/tmp"], logDirectory: dir.url)
        let status = try await process.stop(signal: signal)
        #expect(status == 0)
        #expect(!FileManager.default.fileExists(atPath: process.socketPath))
        #expect(process.logText().contains("\"stopped\""))
    }

    @Test("Every log line is a JSON object with ts, level, component and msg; RPC lines carry method, request_id, duration_ms and code")
    func jsonLogLines() async throws {
        let dir = try TemporaryDirectory()
        let process = try await PluginProcess.start(
            "cstor-controller", socketPath: dir.file("csi.sock"), arguments: ["--log-level", "debug", "--state-dir", dir.path],
            logDirectory: dir.url)
        try await withCSIClient(socket: process.socketPath) { client in
            let identity = Csi_V1_Identity.Client(wrapping: client)
            _ = try await identity.getPluginInfo(.init())
            _ = try await identity.probe(.init())
        }
        try await process.stop()
        let lines = process.logLines()
        #expect(!lines.isEmpty)
        for line in lines {
            let object = try #require(line.object, "not JSON: \(line.text)")
            for key in ["ts", "level", "component", "msg"] {
                #expect(object[key] != nil, "\(key) missing in \(line.text)")
            }
            #expect(object["component"] as? String == "controller")
            let ts = try #require(object["ts"] as? String)
            #expect(ts.count == 24 && ts.hasSuffix("Z"), "ts is RFC 3339 with milliseconds: \(ts)")
        }
        let responses = lines.compactMap(\.object).filter { $0["msg"] as? String == "response" }
        #expect(responses.count == 2)
        for response in responses {
            #expect(response["method"] as? String != nil)
            #expect((response["request_id"] as? String)?.count == 16)
            #expect(response["duration_ms"] is Double || response["duration_ms"] is Int)
            #expect(response["code"] as? String == "ok")
        }
    }

    @Test("At the default level every Controller and Node RPC is logged with its code and duration (a caller's mistake at warning), Identity RPCs not at all; a 1 MB request value is logged cut")
    func logLevels() async throws {
        let dir = try TemporaryDirectory()
        let controller = try await PluginProcess.start(
            "cstor-controller", socketPath: dir.file("c.sock"), arguments: ["--state-dir", dir.path], logDirectory: dir.url)
        let node = try await PluginProcess.start(
            "cstor-node", socketPath: dir.file("n.sock"),
            arguments: ["--node-id", "n1", "--kubelet-dir", "/tmp", "--transports", "loop", "--loop-dir", "/tmp"], logDirectory: dir.url)
        let huge = String(repeating: "h", count: 1_000_000)
        try await withCSIClient(socket: controller.socketPath) { client in
            let c = Csi_V1_Controller.Client(wrapping: client)
            _ = try await Csi_V1_Identity.Client(wrapping: client).probe(.init())
            _ = try await Csi_V1_Identity.Client(wrapping: client).getPluginInfo(.init())
            _ = await rpcCode { try await c.createVolume(.with { $0.name = huge }) }
            _ = await rpcCode { try await c.deleteVolume(.init()) }
            _ = await rpcCode { try await c.controllerPublishVolume(.init()) }
            _ = await rpcCode { try await c.controllerUnpublishVolume(.init()) }
            _ = await rpcCode { try await c.validateVolumeCapabilities(.init()) }
            _ = await rpcCode { try await c.listVolumes(.init()) }
            _ = await rpcCode { try await c.getCapacity(.init()) }
            _ = await rpcCode { try await c.controllerGetCapabilities(.init()) }
            _ = await rpcCode { try await c.createSnapshot(.init()) }
            _ = await rpcCode { try await c.deleteSnapshot(.init()) }
            _ = await rpcCode { try await c.listSnapshots(.init()) }
            _ = await rpcCode { try await c.getSnapshot(.init()) }
            _ = await rpcCode { try await c.controllerExpandVolume(.init()) }
            _ = await rpcCode { try await c.controllerGetVolume(.init()) }
            _ = await rpcCode { try await c.controllerModifyVolume(.init()) }
        }
        try await withCSIClient(socket: node.socketPath) { client in
            let n = Csi_V1_Node.Client(wrapping: client)
            _ = try await Csi_V1_Identity.Client(wrapping: client).probe(.init())
            _ = await rpcCode { try await n.nodeStageVolume(.init()) }
            _ = await rpcCode { try await n.nodeUnstageVolume(.init()) }
            _ = await rpcCode { try await n.nodePublishVolume(.init()) }
            _ = await rpcCode { try await n.nodeUnpublishVolume(.init()) }
            _ = await rpcCode { try await n.nodeGetVolumeStats(.init()) }
            _ = await rpcCode { try await n.nodeExpandVolume(.init()) }
            _ = await rpcCode { try await n.nodeGetCapabilities(.init()) }
            _ = await rpcCode { try await n.nodeGetInfo(.init()) }
        }
        try await controller.stop()
        try await node.stop()
        let expected: [(PluginProcess, [String])] = [
            (controller, [
                "CreateVolume", "DeleteVolume", "ControllerPublishVolume", "ControllerUnpublishVolume", "ValidateVolumeCapabilities",
                "ListVolumes", "GetCapacity", "ControllerGetCapabilities", "CreateSnapshot", "DeleteSnapshot", "ListSnapshots",
                "GetSnapshot", "ControllerExpandVolume", "ControllerGetVolume", "ControllerModifyVolume",
            ]),
            (node, [
                "NodeStageVolume", "NodeUnstageVolume", "NodePublishVolume", "NodeUnpublishVolume", "NodeGetVolumeStats",
                "NodeExpandVolume", "NodeGetCapabilities", "NodeGetInfo",
            ]),
        ]
        for (process, methods) in expected {
            let responses = process.logLines().compactMap(\.object).filter { $0["msg"] as? String == "response" }
            for method in methods {
                let line = responses.first { $0["method"] as? String == method }
                #expect(line != nil, "\(method) has no response line at the default level")
                guard let line else { continue }
                #expect(line["code"] is String && line["duration_ms"] != nil, "\(method): \(line)")
                let level = line["level"] as? String
                #expect(line["code"] as? String == "ok" ? level == "info" : level == "warning", "\(method): \(line)")
            }
            #expect(!responses.contains { ["Probe", "GetPluginInfo", "GetPluginCapabilities"].contains($0["method"] as? String ?? "") })
        }
        // The 1 MB name is logged cut to 256 bytes, saying its length, in the request and the response lines.
        let controllerLog = controller.logText()
        #expect(controllerLog.utf8.count < 64 * 1024, "\(controllerLog.utf8.count) bytes of log")
        #expect(controllerLog.contains("(1000000 bytes)"))
    }

    @Test("--log-format text writes plain lines")
    func textLogFormat() async throws {
        let dir = try TemporaryDirectory()
        let process = try await PluginProcess.start(
            "cstor-controller", socketPath: dir.file("csi.sock"), arguments: ["--log-format", "text", "--state-dir", dir.path],
            logDirectory: dir.url)
        try await process.stop()
        let lines = process.logLines()
        #expect(!lines.isEmpty)
        #expect(lines.allSatisfy { $0.object == nil })
        #expect(lines.contains { $0.text.contains("controller: listening") })
    }
}

@Suite("Secrets in requests")
struct SecretLoggingTests {
    @Test("A request carrying secrets never shows them in the log, at any level")
    func secretsStripped() async throws {
        let dir = try TemporaryDirectory()
        let controller = try await PluginProcess.start(
            "cstor-controller", socketPath: dir.file("c.sock"), arguments: ["--log-level", "trace", "--state-dir", dir.path], logDirectory: dir.url)
        let node = try await PluginProcess.start(
            "cstor-node", socketPath: dir.file("n.sock"), arguments: ["--node-id", "n1", "--kubelet-dir", "/tmp", "--transports", "loop", "--loop-dir", "/tmp", "--log-level", "trace"],
            logDirectory: dir.url)
        _ = await rpcCode {
            try await withCSIClient(socket: controller.socketPath) { client in
                try await Csi_V1_Controller.Client(wrapping: client).createVolume(
                    .with {
                        $0.name = "pvc-secret-test"
                        $0.secrets = ["password": "hunter2-create"]
                    })
            }
        }
        _ = await rpcCode {
            try await withCSIClient(socket: node.socketPath) { client in
                try await Csi_V1_Node.Client(wrapping: client).nodeStageVolume(
                    .with {
                        $0.volumeID = "pvc-secret-test"
                        $0.secrets = ["node.session.auth.password": "hunter2-stage"]
                    })
            }
        }
        try await controller.stop()
        try await node.stop()
        for process in [controller, node] {
            let log = process.logText()
            #expect(!log.contains("hunter2"), "secret leaked:\n\(log)")
            #expect(log.contains("pvc-secret-test"), "the request was logged with its volume id")
            #expect(log.contains("***"))
        }
    }
}
