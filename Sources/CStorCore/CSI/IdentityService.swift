import GRPCCore
import Logging
import SwiftProtobuf
import Synchronization

/// The CSI Identity service, shared by the controller and the node.
///
/// Both binaries register it with their own readiness check and the same plugin capabilities
/// (`pluginCapabilities`); a plugin that is not ready answers Probe with `ready = false` and the reason in the log, never an error, because
/// the livenessprobe sidecar would otherwise restart a plugin that is merely waiting.
public struct IdentityService: Csi_V1_Identity.SimpleServiceProtocol {
    /// Answers whether the plugin can serve requests now, and if not, why.
    public typealias ReadinessCheck = @Sendable () async -> Readiness

    public enum Readiness: Sendable, Equatable {
        case ready
        case notReady(String)
    }

    /// What GetPluginCapabilities answers, in both binaries. The spec (Identity,
    /// GetPluginCapabilities): "All instances of the same version of the Plugin SHALL return the same
    /// set of capabilities, regardless of ... which RPCs an instance is serving." A CO that asks the
    /// node endpoint must learn that there is a controller, or it never calls ControllerPublishVolume.
    /// Both engines provide online expansion.
    public static let pluginCapabilities: [Csi_V1_PluginCapability] = [
        .service(.controllerService), .service(.volumeAccessibilityConstraints), .expansion(.online),
    ]

    private let name: String
    private let manifest: [String: String]
    private let readiness: ReadinessCheck
    private let logger: Logger

    public init(
        name: String, manifest: [String: String], logger: Logger, readiness: @escaping ReadinessCheck = { .ready }
    ) {
        self.name = name
        self.manifest = manifest
        self.logger = logger
        self.readiness = readiness
    }

    public func getPluginInfo(
        request: Csi_V1_GetPluginInfoRequest, context: ServerContext
    ) async throws -> Csi_V1_GetPluginInfoResponse {
        .with {
            $0.name = name
            $0.vendorVersion = BuildInfo.version
            $0.manifest = manifest
        }
    }

    public func getPluginCapabilities(
        request: Csi_V1_GetPluginCapabilitiesRequest, context: ServerContext
    ) async throws -> Csi_V1_GetPluginCapabilitiesResponse {
        .with { $0.capabilities = Self.pluginCapabilities }
    }

    public func probe(request: Csi_V1_ProbeRequest, context: ServerContext) async throws -> Csi_V1_ProbeResponse {
        let state = await readiness()
        if case .notReady(let reason) = state {
            RequestContext.logger(logger).warning("not ready", metadata: ["reason": .string(reason)])
        }
        return .with { $0.ready = .with { $0.value = state == .ready } }
    }
}

/// Remembers a readiness answer for a while: kubelet's livenessprobe and the sidecars call Probe
/// every few seconds, and a check that costs an API request must not run each time.
public final class CachedReadiness: Sendable {
    private let check: IdentityService.ReadinessCheck
    private let lifetime: Duration
    private let cache = Mutex<(answer: IdentityService.Readiness, at: ContinuousClock.Instant)?>(nil)

    public init(lifetime: Duration, _ check: @escaping IdentityService.ReadinessCheck) {
        self.check = check
        self.lifetime = lifetime
    }

    public func current() async -> IdentityService.Readiness {
        let now = ContinuousClock.now
        if let cached = cache.withLock({ $0 }), now - cached.at < lifetime { return cached.answer }
        let answer = await check()
        cache.withLock { $0 = (answer, now) }
        return answer
    }
}

extension Csi_V1_PluginCapability {
    /// A plugin-wide service capability such as CONTROLLER_SERVICE.
    public static func service(_ type: Csi_V1_PluginCapability.Service.TypeEnum) -> Self {
        .with { $0.service = .with { $0.type = type } }
    }

    /// A volume expansion capability (ONLINE or OFFLINE).
    public static func expansion(_ type: Csi_V1_PluginCapability.VolumeExpansion.TypeEnum) -> Self {
        .with { $0.volumeExpansion = .with { $0.type = type } }
    }
}
