import CStorCore
import FoundationEssentials
import Glibc

/// One operation of a JSON patch (RFC 6902). `path` and `from` are JSON pointers (RFC 6901); use
/// `JSONPatchOperation.pointer(_:)` to build one from keys.
public struct JSONPatchOperation: Sendable, Hashable, Codable {
    public enum Op: String, Sendable, Hashable, Codable {
        case add, remove, replace, move, copy, test
    }

    public var op: Op
    public var path: String
    public var from: String?
    public var value: JSONValue?

    public init(op: Op, path: String, from: String? = nil, value: JSONValue? = nil) {
        self.op = op
        self.path = path
        self.from = from
        self.value = value
    }

    public static func add(_ path: String, _ value: JSONValue) -> Self { .init(op: .add, path: path, value: value) }
    public static func remove(_ path: String) -> Self { .init(op: .remove, path: path) }
    public static func replace(_ path: String, _ value: JSONValue) -> Self { .init(op: .replace, path: path, value: value) }
    public static func test(_ path: String, _ value: JSONValue) -> Self { .init(op: .test, path: path, value: value) }
    public static func move(from: String, to path: String) -> Self { .init(op: .move, path: path, from: from) }
    public static func copy(from: String, to path: String) -> Self { .init(op: .copy, path: path, from: from) }

    /// A JSON pointer from keys, escaping `~` and `/`: `pointer("metadata", "labels", "a/b")` is
    /// `/metadata/labels/a~1b`.
    public static func pointer(_ keys: String...) -> String {
        keys.map { "/" + $0.replacing("~", with: "~0").replacing("/", with: "~1") }
            .joined()
    }

    /// The operation as the JSON object of the patch document (`value` is written even when null
    /// for the operations that take one).
    public var jsonValue: JSONValue {
        var members: [String: JSONValue] = ["op": .string(op.rawValue), "path": .string(path)]
        if let from { members["from"] = .string(from) }
        switch op {
        case .add, .replace, .test: members["value"] = value ?? .null
        case .remove, .move, .copy: break
        }
        return .object(members)
    }

    enum CodingKeys: String, CodingKey {
        case op, path, from, value
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        op = try container.decode(Op.self, forKey: .op)
        path = try container.decode(String.self, forKey: .path)
        from = try container.decodeIfPresent(String.self, forKey: .from)
        // A present `"value": null` is a value (null), not an absent one.
        value = container.contains(.value) ? try container.decode(JSONValue.self, forKey: .value) : nil
    }

    public func encode(to encoder: any Encoder) throws {
        try jsonValue.encode(to: encoder)
    }
}
