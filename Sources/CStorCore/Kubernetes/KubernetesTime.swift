import CStorCore
import FoundationEssentials
import Glibc

/// A Kubernetes timestamp (`metav1.Time`, RFC 3339 in UTC such as "2024-05-01T10:00:00Z"). The text
/// is kept as the server wrote it, so that writing an object back does not change it.
public struct KubernetesTime: Sendable, Hashable, Codable, CustomStringConvertible {
    public var rawValue: String

    public init(rawValue: String) {
        self.rawValue = rawValue
    }

    /// The time, at whole seconds, the way the API server writes `metav1.Time`.
    public init(_ date: Date) {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? calendar.timeZone
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        func two(_ value: Int?) -> String {
            let number = value ?? 0
            return number < 10 ? "0\(number)" : "\(number)"
        }
        let year = String(parts.year ?? 1970)
        rawValue = "\(year)-\(two(parts.month))-\(two(parts.day))T\(two(parts.hour)):\(two(parts.minute)):\(two(parts.second))Z"
    }

    public static var now: KubernetesTime { KubernetesTime(Date()) }

    /// The time the text stands for, or nil when it is not RFC 3339.
    public var date: Date? {
        if let date = try? Date.ISO8601FormatStyle().parse(rawValue) { return date }
        return try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(rawValue)
    }

    public var description: String { rawValue }

    public init(from decoder: any Decoder) throws {
        rawValue = try decoder.singleValueContainer().decode(String.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}
