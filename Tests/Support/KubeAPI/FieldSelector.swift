import CStorCore
import CStorKubernetes
import CStorModel

/// A field selector as the API server parses it: `path=value`, `path==value`, `path!=value`, comma
/// separated, over dotted paths into the object (`metadata.name`).
public struct FieldSelector: Sendable, Hashable {
    public struct Requirement: Sendable, Hashable {
        public var path: String
        public var value: String
        public var negated: Bool
    }

    /// Why a field selector was refused (the server answers 400).
    public struct ParseError: Error, Sendable {
        public var message: String
    }

    public var requirements: [Requirement]

    public init(parsing text: String) throws(ParseError) {
        var requirements: [Requirement] = []
        for term in text.split(separator: ",", omittingEmptySubsequences: true) {
            let term = String(term).trimmingWhitespace()
            let (path, value, negated): (Substring, Substring, Bool)
            if let range = term.range(of: "!=") {
                (path, value, negated) = (term[..<range.lowerBound], term[range.upperBound...], true)
            } else if let range = term.range(of: "==") {
                (path, value, negated) = (term[..<range.lowerBound], term[range.upperBound...], false)
            } else if let range = term.range(of: "=") {
                (path, value, negated) = (term[..<range.lowerBound], term[range.upperBound...], false)
            } else {
                throw ParseError(message: "invalid field selector term \"\(term)\": expected =, == or !=")
            }
            requirements.append(
                Requirement(path: String(path).trimmingWhitespace(), value: String(value).trimmingWhitespace(), negated: negated))
        }
        self.requirements = requirements
    }

    /// The value at a dotted path as text ("" when absent), as field selectors compare it.
    static func text(at path: String, in object: JSONValue) -> String {
        let value = object[path: path.split(separator: ".").map(String.init)]
        switch value {
        case .string(let text)?: return text
        case .int(let number)?: return String(number)
        case .bool(let flag)?: return String(flag)
        default: return ""
        }
    }

    public func matches(_ object: JSONValue) -> Bool {
        requirements.allSatisfy { requirement in
            (Self.text(at: requirement.path, in: object) == requirement.value) != requirement.negated
        }
    }
}

extension String {
    func trimmingWhitespace() -> String {
        var text = Substring(self)
        while let first = text.first, first.isWhitespace { text.removeFirst() }
        while let last = text.last, last.isWhitespace { text.removeLast() }
        return String(text)
    }
}
