import CStorCore
import CStorKubernetes
import CStorModel
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import Synchronization

/// The cstor engine's world in one process: a kube-apiserver-like test server over HTTPS, the
/// simulated cvc-operator, a stand-in for the volume targets' snapshot service, and the real
/// controller binary talking to all of them through a kubeconfig, as in a cluster: with the token
/// of the chart's controller service account, held to the chart's RBAC.
public final class CStorCluster: @unchecked Sendable {
    public let server: KubeAPITestServer
    public let operatorSimulator: SimulatedCVCOperator
    public let target: TestSnapshotTarget
    public let directory: TemporaryDirectory
    public let kubeconfig: String
    public var socket: String { directory.file("controller.sock") }
    public private(set) var controller: PluginProcess?
    public let namespace = "openebs"
    /// The controller's service account in the chart rendered with its defaults (release
    /// cstor-csi in namespace openebs).
    public static let controllerServiceAccount = (namespace: "openebs", name: "cstor-csi-controller")
    /// The user the controller's requests authenticate as.
    public static var controllerUser: String {
        KubeAPIUser.serviceAccount(namespace: controllerServiceAccount.namespace, name: controllerServiceAccount.name).name
    }

    init(server: KubeAPITestServer, operatorSimulator: SimulatedCVCOperator, target: TestSnapshotTarget) throws {
        self.server = server
        self.operatorSimulator = operatorSimulator
        self.target = target
        directory = try TemporaryDirectory(prefix: "cstor")
        kubeconfig = directory.file("kubeconfig")
        let account = Self.controllerServiceAccount
        guard server.rbac.serviceAccounts.contains("\(account.namespace)/\(account.name)") else {
            throw TestFailure("the chart's rendered RBAC has no ServiceAccount \(account.namespace)/\(account.name)")
        }
        let token = server.serviceAccountToken(namespace: account.namespace, name: account.name)
        let ca = server.pki.map { Data($0.caPEM).base64EncodedString() } ?? ""
        let yaml = """
            apiVersion: v1
            kind: Config
            current-context: test
            clusters:
            - name: test
              cluster:
                server: \(server.baseURL)
                certificate-authority-data: \(ca)
            users:
            - name: test
              user:
                token: \(token)
            contexts:
            - name: test
              context:
                cluster: test
                user: test
            """
        try Data(yaml.utf8).write(to: URL(fileURLWithPath: kubeconfig))
    }

    /// Starts (or restarts) the controller on the cstor engine.
    public func startController(_ extra: [String] = [], environment: [String: String] = [:]) async throws {
        let process = try PluginProcess(
            binary: "cstor-controller", socketPath: socket,
            arguments: [
                "--engine", "cstor", "--kubeconfig", kubeconfig, "--namespace", namespace,
                "--target-snapshot-port", "\(target.port)", "--provision-timeout", "5", "--expand-timeout", "5",
                "--snapshot-timeout", "30",
            ] + extra,
            logDirectory: directory.url, environment: environment)
        controller = process
        try await process.waitUntilServing()
    }

    public func client<T: Sendable>(_ body: (Csi_V1_Controller.Client<HTTP2ClientTransport.Posix>) async throws -> T) async throws -> T {
        try await withCSIClient(socket: socket) { try await body(Csi_V1_Controller.Client(wrapping: $0)) }
    }

    /// The StorageClass parameters of the fixtures' pool cluster.
    public static let parameters = ["cstorPoolCluster": "cspc-test", "replicaCount": "3", "cas-type": "cstor"]

    /// CreateVolume as csi-provisioner calls it (with the claim name). It returns once the CVC is
    /// Bound; the target comes up after that (Init, then Healthy), and the attacher retries until
    /// it has: this waits, like a pod would, until the target has left Init, so that a test can go
    /// on to publish or snapshot.
    public func createVolume(
        _ name: String, bytes: Int64 = 5 << 30, parameters: [String: String] = CStorCluster.parameters,
        source: Csi_V1_VolumeContentSource? = nil, claim: String? = nil, preferredNode: String? = nil
    ) async throws -> Csi_V1_Volume {
        let volume = try await client {
            try await $0.createVolume(.with {
                $0.name = name
                $0.capacityRange = .with { $0.requiredBytes = bytes }
                $0.volumeCapabilities = [.mount()]
                $0.parameters = parameters.merging([
                    "csi.storage.k8s.io/pvc/name": claim ?? "data-\(name)", "csi.storage.k8s.io/pvc/namespace": "default",
                    "csi.storage.k8s.io/pv/name": name,
                ]) { $1 }
                if let source { $0.volumeContentSource = source }
                if let preferredNode {
                    // As csi-provisioner sends them with --feature-gates=Topology=true: every node
                    // with the driver is requisite, the scheduler's choice comes first among the preferred.
                    let nodes = ["node-1", "node-2", "node-3"]
                    let ordered = [preferredNode] + nodes.filter { $0 != preferredNode }
                    $0.accessibilityRequirements = .with { requirement in
                        requirement.requisite = nodes.map { node in .with { $0.segments = [Topology.nodeKey: node] } }
                        requirement.preferred = ordered.map { node in .with { $0.segments = [Topology.nodeKey: node] } }
                    }
                }
            })
        }.volume
        let deadline = ContinuousClock.now + .seconds(3)
        while ContinuousClock.now < deadline,
            (server.store.object(CStorVolume.self, namespace: namespace, name: volume.volumeID)?.status?.phase ?? .initializing) == .initializing
        {
            try await Task.sleep(for: .milliseconds(5))
        }
        return volume
    }

    /// Nodes and a pool cluster of three ONLINE pools with 10 GiB free each.
    public func createFixtures() throws {
        for node in ["node-1", "node-2", "node-3"] {
            _ = try server.store.create(Node(metadata: ObjectMeta(name: node)))
        }
        try operatorSimulator.createPoolCluster(
            "cspc-test", nodes: ["node-1", "node-2", "node-3"], free: try Quantity(parsing: "10Gi"),
            total: try Quantity(parsing: "20Gi"))
    }
}

/// Runs `body` with the whole cStor test world started (controller included); the controller's
/// log is attached to a failure.
public func withCStorCluster(
    operatorOptions: SimulatedCVCOperator.Options = .init(targetAddress: "127.0.0.1"),
    controllerArguments: [String] = [], beforeStart: (CStorCluster) throws -> Void = { _ in },
    _ body: (CStorCluster) async throws -> Void
) async throws {
    try await KubeAPITestServer.with(.init(tls: true)) { server in
        try await SimulatedCVCOperator.with(store: server.store, options: operatorOptions) { operatorSimulator in
            try await TestSnapshotTarget.with { target in
                let cluster = try CStorCluster(server: server, operatorSimulator: operatorSimulator, target: target)
                do {
                    try cluster.createFixtures()
                    try beforeStart(cluster)
                    try await cluster.startController(controllerArguments)
                    try await body(cluster)
                    let rejected = server.store.rejectedInProcessWrites
                    guard rejected.isEmpty else {
                        throw TestFailure("the API refused writes of the simulated operator or the fixtures:\n" + rejected.joined(separator: "\n"))
                    }
                } catch {
                    let log = cluster.controller?.logText() ?? ""
                    _ = try? await cluster.controller?.stop(signal: SIGKILL)
                    throw TestFailure("\(error)\n--- controller log ---\n\(log.suffix(6000))")
                }
                _ = try? await cluster.controller?.stop()
            }
        }
    }
}

/// Stands in for istgt's snapshot service (`v1alpha1.RunSnapCommand`): records every call, keeps
/// the snapshots it holds (a delete of one it does not hold answers `ERR ... not found`, a second
/// create `ERR ... already exists`), and refuses what ZFS refuses of a snapshot name: characters
/// other than letters, digits and `_-.:`, and a full name `<pool>/<volume>@<name>` of 256 bytes or
/// more (ZFS_MAX_DATASET_NAME_LEN, with the pool named `cstor-<uid>` as cStor names it). Answers
/// are JSON status texts, with `ERR` on failure, as istgt's are.
public final class TestSnapshotTarget: V1alpha1_RunSnapCommand.SimpleServiceProtocol, Sendable {
    public struct Call: Sendable, Equatable {
        public var command: String
        public var volume: String
        public var snapshot: String

        public init(command: String, volume: String, snapshot: String) {
            self.command = command
            self.volume = volume
            self.snapshot = snapshot
        }
    }

    private let state = Mutex<(calls: [Call], failure: String?, existing: Set<String>)>(([], nil, []))
    private let boundPort = Mutex(0)

    /// The TCP port on 127.0.0.1 it listens on.
    public var port: Int { boundPort.withLock { $0 } }

    public var calls: [Call] { state.withLock { $0.calls } }

    /// The snapshots it holds, as `<volume>@<name>`.
    public var snapshots: Set<String> { state.withLock { $0.existing } }

    /// Every following command answers with this text (containing ERR), or succeeds when nil.
    public func failNext(with text: String?) {
        state.withLock { $0.failure = text }
    }

    /// A snapshot cut before the test began (by openebs/cstor-csi, say).
    public func seed(volume: String, snapshot: String) {
        state.withLock { _ = $0.existing.insert("\(volume)@\(snapshot)") }
    }

    /// The pool part of a replica's dataset name: `cstor-<CSPI uid>`.
    static let poolName = "cstor-0b5c3f4e-0000-4000-8000-000000000001"

    /// Why ZFS would refuse this snapshot name, or nil.
    public static func zfsRefusal(volume: String, snapshot: String) -> String? {
        let allowed = { (scalar: Unicode.Scalar) in
            scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || "_-.:".unicodeScalars.contains(scalar))
        }
        if snapshot.isEmpty || !snapshot.unicodeScalars.allSatisfy(allowed) {
            return "invalid character in snapshot name \(snapshot)"
        }
        if "\(poolName)/\(volume)@\(snapshot)".utf8.count >= 256 {
            return "snapshot name \(snapshot) is too long: the dataset name would reach 256 bytes"
        }
        return nil
    }

    public func runVolumeSnapCreateCommand(
        request: V1alpha1_VolumeSnapCreateRequest, context: ServerContext
    ) async throws -> V1alpha1_VolumeSnapCreateResponse {
        let status = state.withLock { state -> String in
            state.calls.append(Call(command: "create", volume: request.volume, snapshot: request.snapname))
            if let failure = state.failure { return failure }
            if let refusal = Self.zfsRefusal(volume: request.volume, snapshot: request.snapname) {
                return #"{"status":"ERR "# + refusal + #""}"#
            }
            let key = "\(request.volume)@\(request.snapname)"
            if state.existing.contains(key) { return #"{"status":"ERR snapshot already exists"}"# }
            state.existing.insert(key)
            return #"{"status":"OK"}"#
        }
        return .with { $0.status = Data(status.utf8) }
    }

    public func runVolumeSnapDeleteCommand(
        request: V1alpha1_VolumeSnapDeleteRequest, context: ServerContext
    ) async throws -> V1alpha1_VolumeSnapDeleteResponse {
        let status = state.withLock { state -> String in
            state.calls.append(Call(command: "delete", volume: request.volume, snapshot: request.snapname))
            if let failure = state.failure { return failure }
            guard state.existing.remove("\(request.volume)@\(request.snapname)") != nil else {
                return #"{"status":"ERR snapshot not found"}"#
            }
            return #"{"status":"OK"}"#
        }
        return .with { $0.status = Data(status.utf8) }
    }

    public static func with<T: Sendable>(_ body: (TestSnapshotTarget) async throws -> T) async throws -> T {
        let target = TestSnapshotTarget()
        let transport = HTTP2ServerTransport.Posix(address: .ipv4(host: "127.0.0.1", port: 0), transportSecurity: .plaintext)
        return try await withGRPCServer(transport: transport, services: [target]) { _ in
            guard let address = try await transport.listeningAddress.ipv4 else {
                throw TestFailure("the snapshot target has no IPv4 address")
            }
            target.boundPort.withLock { $0 = address.port }
            return try await body(target)
        }
    }
}
