import FoundationEssentials
import Glibc

/// How much of a value a log line holds: hostile requests carry megabyte strings and maps of
/// thousands of entries, and a log must stay readable (and small) under them. A cut value says
/// how long it was.
public enum LogBounds {
    /// The longest string value of a logged request or response, and of an id.
    public static let valueBytes = 256
    /// The longest other text of a line (a message, an error).
    public static let textBytes = 1024
    /// The most entries of a map or list a logged message shows; a larger one is logged as its size.
    public static let entries = 32

    /// `text` itself when it fits `limit` bytes, else its start and its length:
    /// `"vvvv… (10000 bytes)"`.
    public static func cut(_ text: String, limit: Int = valueBytes) -> String {
        guard text.utf8.count > limit else { return text }
        var kept = ""
        var used = 0
        for scalar in text.unicodeScalars {
            let size = String(scalar).utf8.count
            guard used + size <= limit else { break }
            kept.unicodeScalars.append(scalar)
            used += size
        }
        return "\(kept)… (\(text.utf8.count) bytes)"
    }

    /// A JSON tree with every string cut to `valueBytes` and every object or array of more than
    /// `entries` members replaced by a note of its size.
    public static func shrink(_ value: JSONValue) -> JSONValue {
        switch value {
        case .string(let text):
            return .string(cut(text))
        case .array(let elements):
            guard elements.count <= entries else { return .string("(a list of \(elements.count) entries)") }
            return .array(elements.map(shrink))
        case .object(let members):
            guard members.count <= entries else { return .string("(a map of \(members.count) entries)") }
            var shrunk: [String: JSONValue] = [:]
            for (key, member) in members { shrunk[cut(key)] = shrink(member) }
            return .object(shrunk)
        default:
            return value
        }
    }
}
