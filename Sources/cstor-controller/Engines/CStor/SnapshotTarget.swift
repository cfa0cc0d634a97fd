import CStorCore
import CStorKubernetes
import CStorModel
import FoundationEssentials
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import Glibc
import SwiftProtobuf

/// The snapshot service of a cStor volume target (istgt), `v1alpha1.RunSnapCommand` on
/// `<CV.spec.targetIP>:7777`. A seam so that tests can stand in a target of their own.
protocol SnapshotTarget: Sendable {
    /// Asks the target to cut `snapshot` of `volume` on all replicas.
    func createSnapshot(volume: String, snapshot: String, targetIP: String, timeout: Duration) async throws
    /// Asks the target to remove `snapshot` of `volume`; one that does not exist is success.
    func deleteSnapshot(volume: String, snapshot: String, targetIP: String, timeout: Duration) async throws
}

/// Talks gRPC (plaintext, as istgt serves it) to the target. The response carries JSON in its
/// `status` bytes; a status text containing `ERR` is a failure and its text reaches the client.
struct GRPCSnapshotTarget: SnapshotTarget {
    var port: Int = 7777

    func createSnapshot(volume: String, snapshot: String, targetIP: String, timeout: Duration) async throws {
        let status = try await call(targetIP: targetIP, timeout: timeout, what: "create snapshot \(snapshot)") { client in
            try await client.runVolumeSnapCreateCommand(
                .with {
                    $0.version = 1
                    $0.volume = volume
                    $0.snapname = snapshot
                }, options: Self.options(timeout)
            ).status
        }
        // A retried create whose first attempt reached the target finds the snapshot there.
        if Self.isError(status) && !Self.saysExists(status) {
            throw CSIError.internal("the target of \(volume) refused to create snapshot \(snapshot): \(Self.text(status))")
        }
    }

    func deleteSnapshot(volume: String, snapshot: String, targetIP: String, timeout: Duration) async throws {
        let status = try await call(targetIP: targetIP, timeout: timeout, what: "delete snapshot \(snapshot)") { client in
            try await client.runVolumeSnapDeleteCommand(
                .with {
                    $0.version = 1
                    $0.volume = volume
                    $0.snapname = snapshot
                }, options: Self.options(timeout)
            ).status
        }
        if Self.isError(status) && !Self.saysMissing(status) {
            throw CSIError.internal("the target of \(volume) refused to delete snapshot \(snapshot): \(Self.text(status))")
        }
    }

    private func call(
        targetIP: String, timeout: Duration, what: String,
        _ body: @Sendable (V1alpha1_RunSnapCommand.Client<HTTP2ClientTransport.Posix>) async throws -> Data
    ) async throws -> Data {
        do {
            return try await CSIConnection.with(endpoint: .tcp(host: targetIP, port: port)) { client in
                try await body(V1alpha1_RunSnapCommand.Client(wrapping: client))
            }
        } catch let error as RPCError {
            switch error.code {
            case .deadlineExceeded:
                throw CSIError.deadlineExceeded("the target \(targetIP):\(port) did not \(what) within \(timeout)")
            default:
                throw CSIError.unavailable("the target \(targetIP):\(port) could not \(what): \(error.code): \(error.message)")
            }
        }
    }

    static func options(_ timeout: Duration) -> CallOptions {
        var options = CallOptions.defaults
        options.timeout = timeout
        return options
    }

    static func text(_ status: Data) -> String { String(decoding: status, as: UTF8.self) }
    static func isError(_ status: Data) -> Bool { text(status).contains("ERR") }
    static func saysExists(_ status: Data) -> Bool { text(status).lowercased().contains("exist") && !saysMissing(status) }
    static func saysMissing(_ status: Data) -> Bool {
        let lower = text(status).lowercased()
        return lower.contains("not found") || lower.contains("does not exist") || lower.contains("no such")
    }
}
