/// A Kubernetes label selector (`app=x,tier!=db,env in (a,b),!legacy`): built in code or parsed
/// from text with the API server's syntax, printed back as that text, and matched against labels.
import CStorCore

public struct LabelSelector: Sendable, Hashable, CustomStringConvertible {
    /// One comma-separated term of a selector.
    public enum Requirement: Sendable, Hashable {
        /// `key=value` or `key==value`: the label is present with that value.
        case equals(String, String)
        /// `key!=value`: the label is absent or has another value.
        case notEquals(String, String)
        /// `key in (a,b)`: the label is present with one of the values.
        case `in`(String, [String])
        /// `key notin (a,b)`: the label is absent or has none of the values.
        case notIn(String, [String])
        /// `key`: the label is present.
        case exists(String)
        /// `!key`: the label is absent.
        case doesNotExist(String)

        public func matches(_ labels: [String: String]) -> Bool {
            switch self {
            case .equals(let key, let value): return labels[key] == value
            case .notEquals(let key, let value): return labels[key] != value
            case .in(let key, let values): return labels[key].map(values.contains) ?? false
            case .notIn(let key, let values): return !(labels[key].map(values.contains) ?? false)
            case .exists(let key): return labels[key] != nil
            case .doesNotExist(let key): return labels[key] == nil
            }
        }

        var text: String {
            switch self {
            case .equals(let key, let value): return "\(key)=\(value)"
            case .notEquals(let key, let value): return "\(key)!=\(value)"
            case .in(let key, let values): return "\(key) in (\(values.joined(separator: ",")))"
            case .notIn(let key, let values): return "\(key) notin (\(values.joined(separator: ",")))"
            case .exists(let key): return key
            case .doesNotExist(let key): return "!\(key)"
            }
        }
    }

    public var requirements: [Requirement]

    public init(_ requirements: [Requirement] = []) {
        self.requirements = requirements
    }

    /// `key=value` for each label, in key order.
    public init(matching labels: [String: String]) {
        requirements = labels.sorted { $0.key < $1.key }.map { .equals($0.key, $0.value) }
    }

    /// An empty selector matches everything.
    public var isEmpty: Bool { requirements.isEmpty }

    public func matches(_ labels: [String: String]) -> Bool {
        requirements.allSatisfy { $0.matches(labels) }
    }

    public var description: String { requirements.map(\.text).joined(separator: ",") }

    /// Why a text is not a label selector.
    public struct ParseError: Error, Sendable, Hashable, CustomStringConvertible {
        public var selector: String
        public var problem: String
        public var description: String { "label selector \"\(selector)\": \(problem)" }
    }

    /// Parses the API server's selector syntax.
    public init(parsing text: String) throws(ParseError) {
        var tokens = try Self.tokenize(text)[...]
        var requirements: [Requirement] = []
        func fail(_ problem: String) -> ParseError { ParseError(selector: text, problem: problem) }
        func identifier() throws(ParseError) -> String {
            guard case .identifier(let name)? = tokens.first else { throw fail("expected a label key or value") }
            tokens.removeFirst()
            return name
        }
        while !tokens.isEmpty {
            if tokens.first == .bang {
                tokens.removeFirst()
                requirements.append(.doesNotExist(try identifier()))
            } else {
                let key = try identifier()
                switch tokens.first {
                case nil, .comma?:
                    requirements.append(.exists(key))
                case .equals?, .doubleEquals?, .notEquals?:
                    let isNot = tokens.first == .notEquals
                    tokens.removeFirst()
                    var value = ""
                    if case .identifier(let name)? = tokens.first {
                        value = name
                        tokens.removeFirst()
                    }
                    requirements.append(isNot ? .notEquals(key, value) : .equals(key, value))
                case .identifier(let word)? where word == "in" || word == "notin":
                    tokens.removeFirst()
                    guard tokens.first == .open else { throw fail("expected ( after \(word)") }
                    tokens.removeFirst()
                    var values: [String] = []
                    while tokens.first != .close {
                        values.append(try identifier())
                        if tokens.first == .comma { tokens.removeFirst() } else { break }
                    }
                    guard tokens.first == .close else { throw fail("expected ) to close the values of \(key)") }
                    tokens.removeFirst()
                    guard !values.isEmpty else { throw fail("\(key) \(word) () has no values") }
                    requirements.append(word == "in" ? .in(key, values) : .notIn(key, values))
                default:
                    throw fail("unexpected text after \(key)")
                }
            }
            if tokens.first == .comma {
                tokens.removeFirst()
                guard !tokens.isEmpty else { throw fail("ends with a comma") }
            } else if !tokens.isEmpty {
                throw fail("expected a comma between requirements")
            }
        }
        self.requirements = requirements
    }

    private enum Token: Equatable {
        case identifier(String), comma, open, close, equals, doubleEquals, notEquals, bang
    }

    private static func tokenize(_ text: String) throws(ParseError) -> [Token] {
        var tokens: [Token] = []
        var characters = Array(text)[...]
        let special: Set<Character> = [",", "(", ")", "=", "!", " ", "\t", "\n"]
        while let character = characters.first {
            switch character {
            case " ", "\t", "\n": characters.removeFirst()
            case ",": tokens.append(.comma); characters.removeFirst()
            case "(": tokens.append(.open); characters.removeFirst()
            case ")": tokens.append(.close); characters.removeFirst()
            case "=":
                characters.removeFirst()
                if characters.first == "=" {
                    characters.removeFirst()
                    tokens.append(.doubleEquals)
                } else {
                    tokens.append(.equals)
                }
            case "!":
                characters.removeFirst()
                if characters.first == "=" {
                    characters.removeFirst()
                    tokens.append(.notEquals)
                } else {
                    tokens.append(.bang)
                }
            default:
                var word = ""
                while let next = characters.first, !special.contains(next) {
                    word.append(next)
                    characters.removeFirst()
                }
                tokens.append(.identifier(word))
            }
        }
        return tokens
    }
}
