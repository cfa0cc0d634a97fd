import CStorCore
import CStorKubernetes
import FoundationEssentials

/// `status.phase` of a CV (the health of its target and replicas). Values this code does not know are kept.
public struct CStorVolumePhase: RawRepresentable, Codable, Hashable, Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { self.rawValue = value }
    public var description: String { rawValue }

    public static let initializing: CStorVolumePhase = "Init"
    public static let healthy: CStorVolumePhase = "Healthy"
    public static let degraded: CStorVolumePhase = "Degraded"
    public static let offline: CStorVolumePhase = "Offline"
    public static let error: CStorVolumePhase = "Error"
}
