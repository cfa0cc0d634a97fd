import CSITestSupport
import CStorCore
import CStorKubernetes
import CStorKubernetesHTTP
import CStorModel
import Foundation
import Logging

/// A log handler that keeps every line, so a test can check what the client logged.
final class LogCapture: Sendable {
    struct Line: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: [String: String]
    }

    private let storage = Locked<[Line]>([])

    var lines: [Line] { storage.value }

    var logger: Logger {
        Logger(label: "test") { _ in Handler(capture: self) }
    }

    func append(_ line: Line) {
        storage.withLock { $0.append(line) }
    }

    struct Handler: LogHandler {
        let capture: LogCapture
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            var merged = metadata
            merged.merge(event.metadata ?? [:]) { _, new in new }
            capture.append(
                Line(level: event.level, message: "\(event.message)", metadata: merged.mapValues { "\($0)" }))
        }
    }
}

/// Runs `body` with a test API server and a real client connected to it over a socket.
func withServerAndClient<T>(
    _ options: KubeAPITestServer.Options = KubeAPITestServer.Options(),
    logs: LogCapture = LogCapture(),
    observer: KubernetesRequestObserver? = nil,
    configure: (inout KubernetesConfiguration) -> Void = { _ in },
    _ body: (KubeAPITestServer, HTTPKubernetesClient) async throws -> T
) async throws -> T {
    try await KubeAPITestServer.with(options) { server in
        var configuration = server.clientConfiguration()
        configure(&configuration)
        return try await HTTPKubernetesClient.withClient(
            configuration: configuration, logger: logs.logger, observer: observer
        ) { client in
            try await body(server, client)
        }
    }
}

/// The error a call throws, as a `KubernetesError` (nil when it succeeds or throws something else).
func kubernetesError<T>(_ call: () async throws -> T) async -> KubernetesError? {
    do {
        _ = try await call()
        return nil
    } catch let error as KubernetesError {
        return error
    } catch {
        return nil
    }
}

/// A CVC as the CSI controller creates it.
func makeCVC(_ name: String, namespace: String = "openebs", size: String = "5Gi", replicas: Int = 3) -> CStorVolumeConfig {
    let quantity = (try? Quantity(parsing: size)) ?? Quantity(0)
    return CStorVolumeConfig(
        metadata: ObjectMeta(
            name: name, namespace: namespace, labels: ["openebs.io/cstor-pool-cluster": "cspc-a"],
            annotations: ["openebs.io/volumeID": name, "openebs.io/volume-policy": ""],
            finalizers: [SimulatedCVCOperator.cvcFinalizer]),
        spec: CStorVolumeConfig.Spec(
            capacity: ["storage": quantity], policy: .newVolume,
            provision: CStorVolumeConfigKind.Provision(capacity: ["storage": quantity], replicaCount: replicas)),
        status: CStorVolumeConfig.Status(phase: .pending),
        versionDetails: .newVolume)
}

/// The directory of the test fixtures.
enum Fixtures {
    static var directory: URL {
        Bundle.module.resourceURL?.appendingPathComponent("Fixtures")
            ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
    }

    static func data(_ path: String) throws -> Data {
        try Data(contentsOf: directory.appendingPathComponent(path))
    }
}

/// A temporary directory removed at the end of the test.
func withTemporaryDirectory<T>(_ body: (URL) async throws -> T) async throws -> T {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("k8s-test-\(UUID().uuidString.prefix(8))")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    return try await body(directory)
}
