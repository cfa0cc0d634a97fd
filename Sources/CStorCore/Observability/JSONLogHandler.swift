import FoundationEssentials
import Glibc
import Logging
import Synchronization

/// A swift-log handler that writes one JSON object a line (or a compact text line) to a file
/// descriptor, stderr by default, so that container log collectors can parse every line.
///
/// Every line carries `ts` (RFC 3339, milliseconds, UTC), `level`, `component` and `msg`, then the
/// logger's and the call's metadata. Metadata values that are numbers or booleans stay numbers and
/// booleans in the JSON; a `RawJSON` value is embedded as a JSON value, not as a string.
public struct JSONLogHandler: LogHandler {
    public enum Format: String, Sendable, CaseIterable {
        case json
        case text
    }

    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    public var metadataProvider: Logger.MetadataProvider?

    private let label: String
    private let component: String
    private let format: Format
    private let sink: LogSink

    public init(
        label: String, component: String, format: Format, level: Logger.Level,
        sink: LogSink = .standardError, metadataProvider: Logger.MetadataProvider? = nil
    ) {
        self.label = label
        self.component = component
        self.format = format
        self.logLevel = level
        self.sink = sink
        self.metadataProvider = metadataProvider
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() {
            merged.merge(provided) { _, new in new }
        }
        if let extra = event.metadata {
            merged.merge(extra) { _, new in new }
        }
        let line: String
        let message = LogBounds.cut("\(event.message)", limit: LogBounds.textBytes)
        switch format {
        case .json:
            line = Self.jsonLine(time: Date(), level: event.level, component: component, message: message, metadata: merged)
        case .text:
            line = Self.textLine(time: Date(), level: event.level, component: component, message: message, metadata: merged)
        }
        sink.write(line)
    }

    // MARK: - Rendering

    static func jsonLine(
        time: Date, level: Logger.Level, component: String, message: String, metadata: Logger.Metadata
    ) -> String {
        var out = "{\"ts\":\"\(Timestamp.rfc3339Milliseconds(time))\",\"level\":\"\(level.rawValue)\""
        out += ",\"component\":"
        JSONText.appendString(component, to: &out)
        out += ",\"msg\":"
        JSONText.appendString(message, to: &out)
        for key in metadata.keys.sorted() where key != "component" {
            guard let value = metadata[key] else { continue }
            out += ","
            JSONText.appendString(key, to: &out)
            out += ":"
            appendValue(value, to: &out)
        }
        out += "}"
        return out
    }

    static func textLine(
        time: Date, level: Logger.Level, component: String, message: String, metadata: Logger.Metadata
    ) -> String {
        var out = "\(Timestamp.rfc3339Milliseconds(time)) \(level.rawValue) \(component): \(message)"
        for key in metadata.keys.sorted() where key != "component" {
            guard let value = metadata[key] else { continue }
            out += " \(key)=\(LogBounds.cut("\(value)", limit: LogBounds.textBytes))"
        }
        return out
    }

    private static func appendValue(_ value: Logger.Metadata.Value, to out: inout String) {
        switch value {
        case .string(let string):
            JSONText.appendString(LogBounds.cut(string, limit: LogBounds.textBytes), to: &out)
        case .stringConvertible(let convertible):
            switch convertible {
            case let raw as RawJSON:
                out += raw.text
            case let bool as Bool:
                out += bool ? "true" : "false"
            case let int as Int:
                out += String(int)
            case let int as Int64:
                out += String(int)
            case let int as UInt64:
                out += String(int)
            case let int as Int32:
                out += String(int)
            case let double as Double where double.isFinite:
                out += cFormat("%.3f", double)
            default:
                JSONText.appendString(LogBounds.cut(convertible.description, limit: LogBounds.textBytes), to: &out)
            }
        case .array(let values):
            out += "["
            for (index, element) in values.enumerated() {
                if index > 0 { out += "," }
                appendValue(element, to: &out)
            }
            out += "]"
        case .dictionary(let dictionary):
            out += "{"
            for (index, key) in dictionary.keys.sorted().enumerated() {
                guard let element = dictionary[key] else { continue }
                if index > 0 { out += "," }
                JSONText.appendString(key, to: &out)
                out += ":"
                appendValue(element, to: &out)
            }
            out += "}"
        }
    }
}

/// A metadata value that already is JSON text (for example a protobuf message rendered as JSON);
/// the JSON log handler embeds it as is instead of quoting it.
public struct RawJSON: CustomStringConvertible, Sendable {
    public let text: String
    public init(_ text: String) { self.text = text }
    public var description: String { text }
}

/// Where log lines go: one `write(2)` per line under a lock, so lines from concurrent tasks never
/// interleave.
public final class LogSink: Sendable {
    private let descriptor: Int32
    private let lock = Mutex(())

    public init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    public static let standardError = LogSink(descriptor: 2)

    public func write(_ line: String) {
        var bytes = Array(line.utf8)
        bytes.append(0x0A)
        lock.withLock { _ in
            var offset = 0
            while offset < bytes.count {
                let written = bytes[offset...].withUnsafeBytes { buffer in
                    Glibc.write(descriptor, buffer.baseAddress, buffer.count)
                }
                if written < 0 {
                    if errno == EINTR { continue }
                    return
                }
                offset += written
            }
        }
    }
}

/// Minimal JSON string escaping (RFC 8259) without Foundation's encoder, so logging stays cheap.
public enum JSONText {
    public static func appendString(_ string: String, to out: inout String) {
        out += "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case let control where control.value < 0x20:
                let hex = String(control.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default:
                out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }

    public static func quoted(_ string: String) -> String {
        var out = ""
        appendString(string, to: &out)
        return out
    }
}

/// RFC 3339 timestamps with millisecond precision in UTC, e.g. `2026-11-21T14:05:09.123Z`.
public enum Timestamp {
    public static func rfc3339Milliseconds(_ date: Date) -> String {
        let milliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        var seconds = time_t(milliseconds / 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return pad(Int(parts.tm_year) + 1900, 4) + "-" + pad(Int(parts.tm_mon) + 1, 2) + "-"
            + pad(Int(parts.tm_mday), 2) + "T" + pad(Int(parts.tm_hour), 2) + ":"
            + pad(Int(parts.tm_min), 2) + ":" + pad(Int(parts.tm_sec), 2) + "."
            + pad(Int(milliseconds % 1000), 3) + "Z"
    }

    private static func pad(_ value: Int, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }
}
