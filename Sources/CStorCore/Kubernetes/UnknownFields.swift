/// The members of a JSON object that a Codable type has no property for. Each model type keeps them
/// when it is decoded and writes them back when it is encoded, so that an object read from the API
/// server, changed and written back keeps every field another controller (the cvc-operator, a
/// newer CRD version) put there.
///
/// A type adopts it with explicit `CodingKeys: CaseIterable` and two lines in its `Codable`
/// implementation; see `ObjectMeta` for the pattern.
import CStorCore

public struct UnknownFields: Sendable, Hashable {
    public var members: [String: JSONValue]

    public init(_ members: [String: JSONValue] = [:]) {
        self.members = members
    }

    public var isEmpty: Bool { members.isEmpty }

    public subscript(key: String) -> JSONValue? {
        get { members[key] }
        set { members[key] = newValue }
    }

    /// Reads every member of the decoder's object whose key is not one of `known`.
    public init<Keys: CodingKey & CaseIterable>(from decoder: any Decoder, known: Keys.Type) throws {
        let knownNames = Set(Keys.allCases.map(\.stringValue))
        let container = try decoder.container(keyedBy: AnyCodingKey.self)
        var members: [String: JSONValue] = [:]
        for key in container.allKeys where !knownNames.contains(key.stringValue) {
            members[key.stringValue] = try container.decode(JSONValue.self, forKey: key)
        }
        self.members = members
    }

    /// Writes the members into the encoder's object. Call it before encoding the known properties:
    /// a known property then wins over a member of the same name.
    public func encode<Keys: CodingKey & CaseIterable>(to encoder: any Encoder, known: Keys.Type) throws {
        guard !members.isEmpty else { return }
        let knownNames = Set(Keys.allCases.map(\.stringValue))
        var container = encoder.container(keyedBy: AnyCodingKey.self)
        for (key, value) in members where !knownNames.contains(key) {
            try container.encode(value, forKey: AnyCodingKey(key))
        }
    }
}

/// A coding key for any member name.
public struct AnyCodingKey: CodingKey, Hashable, Sendable {
    public var stringValue: String
    public var intValue: Int? { nil }

    public init(_ name: String) {
        self.stringValue = name
    }

    public init?(stringValue: String) {
        self.stringValue = stringValue
    }

    public init?(intValue: Int) {
        return nil
    }
}
