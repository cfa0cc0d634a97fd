import CStorCore
import CStorKubernetes
import FoundationEssentials

/// `status.phase` of a CSPI: the ZFS pool state. Values this code does not know are kept.
public struct CStorPoolInstancePhase: RawRepresentable, Codable, Hashable, Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { self.rawValue = value }
    public var description: String { rawValue }

    public static let online: CStorPoolInstancePhase = "ONLINE"
    public static let offline: CStorPoolInstancePhase = "OFFLINE"
    public static let degraded: CStorPoolInstancePhase = "DEGRADED"
    public static let faulted: CStorPoolInstancePhase = "FAULTED"
    public static let removed: CStorPoolInstancePhase = "REMOVED"
    public static let unavailable: CStorPoolInstancePhase = "UNAVAIL"
}
