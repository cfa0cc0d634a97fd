import CStorCore
import CStorKubernetes
import FoundationEssentials

/// `status.phase` of a CVC. Values this code does not know are kept as they are.
public struct CStorVolumeConfigPhase: RawRepresentable, Codable, Hashable, Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { self.rawValue = value }
    public var description: String { rawValue }

    public static let pending: CStorVolumeConfigPhase = "Pending"
    public static let bound: CStorVolumeConfigPhase = "Bound"
    public static let failed: CStorVolumeConfigPhase = "Failed"
}
