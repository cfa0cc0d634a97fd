import CStorCore
import CStorKubernetes
import CStorModel
import Foundation

/// What kube-apiserver checks in the `metadata` of every object it stores
/// (apimachinery's `ValidateObjectMeta`), with its messages: the name (a DNS-1123 subdomain), the
/// label keys and values, the annotation keys and total size, and the finalizer names.
enum ObjectMetaValidation {
    static func errors(_ metadata: JSONValue) -> [FieldError] {
        var errors: [FieldError] = []
        let name = metadata["name"]?.stringValue ?? ""
        let generateName = metadata["generateName"]?.stringValue ?? ""
        if name.isEmpty, generateName.isEmpty {
            errors.append(FieldError(.required, field: "metadata.name", detail: "name or generateName is required"))
        } else if !name.isEmpty {
            for problem in dns1123Subdomain(name) {
                errors.append(.invalid("metadata.name", .string(name), problem))
            }
        }
        let labels = metadata["labels"]?.objectValue ?? [:]
        for (key, value) in labels.sorted(by: { $0.key < $1.key }) {
            for problem in qualifiedName(key) {
                errors.append(.invalid("metadata.labels", .string(key), problem))
            }
            let text = value.stringValue ?? ""
            for problem in labelValue(text) {
                errors.append(.invalid("metadata.labels", .string(text), problem))
            }
        }
        let annotations = metadata["annotations"]?.objectValue ?? [:]
        var annotationBytes = 0
        for (key, value) in annotations.sorted(by: { $0.key < $1.key }) {
            for problem in qualifiedName(key.lowercased()) {
                errors.append(.invalid("metadata.annotations", .string(key), problem))
            }
            annotationBytes += key.utf8.count + (value.stringValue ?? "").utf8.count
        }
        if annotationBytes > totalAnnotationSizeLimit {
            errors.append(
                FieldError(.tooLong, field: "metadata.annotations", detail: "must have at most \(totalAnnotationSizeLimit) bytes"))
        }
        for finalizer in (metadata["finalizers"]?.arrayValue ?? []).compactMap(\.stringValue) {
            for problem in qualifiedName(finalizer) {
                errors.append(.invalid("metadata.finalizers", .string(finalizer), problem))
            }
        }
        return errors
    }

    static let totalAnnotationSizeLimit = 256 * 1024

    static let qualifiedNameFormat = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
    static let qualifiedNameMessage =
        "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
    static let labelValueFormat = "(\(qualifiedNameFormat))?"
    static let labelValueMessage =
        "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
    static let dns1123LabelFormat = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
    static let dns1123SubdomainFormat = "\(dns1123LabelFormat)(\\.\(dns1123LabelFormat))*"
    static let dns1123SubdomainMessage =
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"

    /// `validation.RegexError`, examples and all (the double spaces are the API server's).
    static func regexError(_ message: String, _ format: String, _ examples: [String]) -> String {
        guard !examples.isEmpty else { return "\(message) (regex used for validation is '\(format)')" }
        var text = message + " (e.g. "
        for (index, example) in examples.enumerated() {
            if index > 0 { text += " or " }
            text += "'\(example)', "
        }
        return text + "regex used for validation is '\(format)')"
    }

    static func maxLengthError(_ length: Int) -> String { "must be no more than \(length) characters" }

    static func matches(_ text: String, _ format: String) -> Bool {
        text.range(of: "^\(format)$", options: .regularExpression) != nil
    }

    static func dns1123Subdomain(_ value: String) -> [String] {
        var problems: [String] = []
        if value.count > 253 { problems.append(maxLengthError(253)) }
        if !matches(value, dns1123SubdomainFormat) {
            problems.append(regexError(dns1123SubdomainMessage, dns1123SubdomainFormat, ["example.com"]))
        }
        return problems
    }

    static func qualifiedName(_ value: String) -> [String] {
        var problems: [String] = []
        let parts = value.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        var name: String
        switch parts.count {
        case 1:
            name = parts[0]
        case 2:
            name = parts[1]
            if parts[0].isEmpty {
                problems.append("prefix part must be non-empty")
            } else {
                problems += dns1123Subdomain(parts[0]).map { "prefix part " + $0 }
            }
        default:
            return [
                "a qualified name "
                    + regexError(qualifiedNameMessage, qualifiedNameFormat, ["MyName", "my.name", "123-abc"])
                    + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
            ]
        }
        if name.isEmpty {
            problems.append("name part must be non-empty")
        } else if name.count > 63 {
            problems.append("name part " + maxLengthError(63))
        }
        if !matches(name, qualifiedNameFormat) {
            problems.append("name part " + regexError(qualifiedNameMessage, qualifiedNameFormat, ["MyName", "my.name", "123-abc"]))
        }
        return problems
    }

    static func labelValue(_ value: String) -> [String] {
        var problems: [String] = []
        if value.count > 63 { problems.append(maxLengthError(63)) }
        if !matches(value, labelValueFormat) {
            problems.append(regexError(labelValueMessage, labelValueFormat, ["MyValue", "my_value", "12345"]))
        }
        return problems
    }
}
