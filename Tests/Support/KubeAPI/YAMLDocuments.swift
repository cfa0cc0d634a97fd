import CStorCore
import CStorKubernetes
import CStorModel
import Foundation
import Yams

/// YAML documents as `JSONValue` trees, typed by the YAML 1.2 core schema as kube-apiserver and
/// kubectl read them: a quoted `'3260'` stays a string, a plain `3260` is an integer.
public enum YAMLDocuments {
    /// Every non-empty document of a multi-document YAML text.
    public static func load(_ text: String) throws -> [JSONValue] {
        try Yams.compose_all(yaml: text).map(value)
    }

    /// The documents of a file.
    public static func load(contentsOf url: URL) throws -> [JSONValue] {
        try load(String(decoding: try Data(contentsOf: url), as: UTF8.self))
    }

    static func value(_ node: Yams.Node) throws -> JSONValue {
        switch node {
        case .scalar(let scalar):
            return scalarValue(scalar, tag: Tag.Name(rawValue: node.tag.description))
        case .sequence(let sequence):
            return .array(try sequence.map(value))
        case .mapping(let mapping):
            var members: [String: JSONValue] = [:]
            for (key, member) in mapping {
                guard let name = key.string else { throw TestFailure("a YAML mapping key is not a scalar: \(key)") }
                members[name] = try value(member)
            }
            return .object(members)
        case .alias:
            throw TestFailure("YAML aliases are not used in Kubernetes manifests")
        }
    }

    static func scalarValue(_ scalar: Yams.Node.Scalar, tag: Tag.Name) -> JSONValue {
        let text = scalar.string
        switch tag {
        case .null:
            return .null
        case .bool:
            return .bool(["true", "True", "TRUE"].contains(text))
        case .int:
            if let number = Int64(text) { return .int(number) }
            return .string(text)
        case .float:
            if let number = Double(text) { return .double(number) }
            return .string(text)
        default:
            return .string(text)
        }
    }
}
