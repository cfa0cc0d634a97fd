import CStorCore
import CStorKubernetes
import CStorModel

/// One reason kube-apiserver refuses an object, as apimachinery's `field.Error` writes it: the
/// cause of a 422 `Status` (`reason`, `message`, `field`) and one part of the Status message
/// (`<field>: <message>`).
public struct FieldError: Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable {
        case required = "FieldValueRequired"
        case notSupported = "FieldValueNotSupported"
        case invalid = "FieldValueInvalid"
        case typeInvalid = "FieldValueTypeInvalid"
        case forbidden = "FieldValueForbidden"
        case duplicate = "FieldValueDuplicate"
        case tooLong = "FieldValueTooLong"

        /// `ErrorType.String()`.
        var text: String {
            switch self {
            case .required: "Required value"
            case .notSupported: "Unsupported value"
            case .invalid, .typeInvalid: "Invalid value"
            case .forbidden: "Forbidden"
            case .duplicate: "Duplicate value"
            case .tooLong: "Too long"
            }
        }
    }

    public var kind: Kind
    /// The field path, e.g. `spec.policy` or `spec.pools[0].nodeSelector`.
    public var field: String
    /// The offending value (printed for every kind but required, forbidden and too long).
    public var value: JSONValue
    public var detail: String
    /// How the value is printed when Go prints it otherwise than JSON (e.g. `0x0`).
    var printedValue: String?

    public init(_ kind: Kind, field: String, value: JSONValue = .string(""), detail: String = "", printedValue: String? = nil) {
        self.kind = kind
        self.field = field
        self.value = value
        self.detail = detail
        self.printedValue = printedValue
    }

    public static func required(_ field: String) -> FieldError { FieldError(.required, field: field) }

    public static func invalid(_ field: String, _ value: JSONValue, _ detail: String) -> FieldError {
        FieldError(.invalid, field: field, value: value, detail: detail)
    }

    public static func forbidden(_ field: String, _ detail: String) -> FieldError {
        FieldError(.forbidden, field: field, detail: detail)
    }

    /// `field.NotSupported`: the supported values each quoted.
    public static func notSupported(_ field: String, _ value: JSONValue, supported: [String]) -> FieldError {
        let detail = supported.isEmpty ? "" : "supported values: " + supported.map(goQuote).joined(separator: ", ")
        return FieldError(.notSupported, field: field, value: value, detail: detail)
    }

    /// `ErrorBody()`: the message without the field, as a Status cause carries it.
    public var body: String {
        var text: String
        switch kind {
        case .required, .forbidden, .tooLong:
            text = kind.text
        default:
            text = "\(kind.text): \(printedValue ?? Self.printed(value))"
        }
        if !detail.isEmpty { text += ": \(detail)" }
        return text
    }

    /// `Error()`: `<field>: <body>`.
    public var description: String { "\(field): \(body)" }

    /// The cause of a Status, as `metav1.StatusCause`.
    public var cause: JSONValue {
        ["reason": .string(kind.rawValue), "message": .string(body), "field": .string(field)]
    }

    /// How Go prints a bad value: numbers and booleans plainly, strings quoted, null as `"null"`.
    static func printed(_ value: JSONValue) -> String {
        switch value {
        case .null: return goQuote("null")
        case .bool(let flag): return String(flag)
        case .int(let number): return String(number)
        case .double(let number): return goFloat(number)
        case .string(let text): return goQuote(text)
        case .array, .object: return value.jsonString
        }
    }

    /// Go's `%v` of a float64 for the values a schema holds (integral values without a fraction).
    static func goFloat(_ number: Double) -> String {
        if number == number.rounded(), abs(number) < 1e21 { return String(Int64(number)) }
        return String(number)
    }

    /// Go's `%q`: double quotes, with backslash escapes for quotes, backslashes and controls.
    static func goQuote(_ text: String) -> String {
        var quoted = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": quoted += "\\\""
            case "\\": quoted += "\\\\"
            case "\n": quoted += "\\n"
            case "\t": quoted += "\\t"
            case "\r": quoted += "\\r"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7f {
                    quoted += "\\x" + String(scalar.value, radix: 16).leftPadded(to: 2)
                } else {
                    quoted.unicodeScalars.append(scalar)
                }
            }
        }
        return quoted + "\""
    }
}

extension [FieldError] {
    /// `ErrorList.ToAggregate()` printed: one error as itself, several as `[a, b]`, repeats once.
    var aggregated: String {
        var seen: Set<String> = []
        let unique = map(\.description).filter { seen.insert($0).inserted }
        return unique.count == 1 ? unique[0] : "[" + unique.joined(separator: ", ") + "]"
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
