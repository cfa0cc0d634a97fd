import CStorCore

extension JSONValue {
    /// This value with a JSON merge patch (RFC 7386) applied: objects merge member by member, a
    /// `null` member removes the key, anything else replaces the value.
    public func applying(mergePatch patch: JSONValue) -> JSONValue {
        guard case .object(let patchMembers) = patch else { return patch }
        var members = objectValue ?? [:]
        for (key, value) in patchMembers {
            if value.isNull {
                members.removeValue(forKey: key)
            } else {
                members[key] = (members[key] ?? .null).applying(mergePatch: value)
            }
        }
        return .object(members)
    }

    /// The merge patch that turns `old` into `new`: changed members only, `null` for removed ones,
    /// arrays whole. Applying it to `old` gives `new` (when `new` holds no nulls).
    public static func mergePatch(from old: JSONValue, to new: JSONValue) -> JSONValue {
        guard case .object(let oldMembers) = old, case .object(let newMembers) = new else { return new }
        var patch: [String: JSONValue] = [:]
        for (key, value) in newMembers where oldMembers[key] != value {
            if let previous = oldMembers[key] {
                patch[key] = mergePatch(from: previous, to: value)
            } else {
                patch[key] = value
            }
        }
        for key in oldMembers.keys where newMembers[key] == nil {
            patch[key] = .null
        }
        return .object(patch)
    }

    /// This value with a JSON patch (RFC 6902) applied, all operations or none.
    public func applying(jsonPatch operations: [JSONPatchOperation]) throws(JSONPatchError) -> JSONValue {
        var document = self
        for operation in operations {
            let path = try Self.pointerSegments(operation.path)
            switch operation.op {
            case .add:
                guard let value = operation.value else { throw JSONPatchError("add \(operation.path): no value") }
                document = try document.adding(value, at: path[...], pointer: operation.path)
            case .remove:
                document = try document.removing(at: path[...], pointer: operation.path).document
            case .replace:
                guard let value = operation.value else { throw JSONPatchError("replace \(operation.path): no value") }
                _ = try document.value(at: path, pointer: operation.path)
                if path.isEmpty {
                    document = value
                } else {
                    document = try document.removing(at: path[...], pointer: operation.path).document
                    document = try document.adding(value, at: path[...], pointer: operation.path)
                }
            case .move:
                guard let from = operation.from else { throw JSONPatchError("move \(operation.path): no from") }
                let source = try Self.pointerSegments(from)
                if path.count > source.count, Array(path.prefix(source.count)) == source {
                    throw JSONPatchError("move \(from) to \(operation.path): cannot move a value into itself")
                }
                let (rest, value) = try document.removing(at: source[...], pointer: from)
                document = try rest.adding(value, at: path[...], pointer: operation.path)
            case .copy:
                guard let from = operation.from else { throw JSONPatchError("copy \(operation.path): no from") }
                let value = try document.value(at: Self.pointerSegments(from), pointer: from)
                document = try document.adding(value, at: path[...], pointer: operation.path)
            case .test:
                let expected = operation.value ?? .null
                let actual = try document.value(at: path, pointer: operation.path)
                guard actual.jsonEquals(expected) else {
                    throw JSONPatchError(
                        "test \(operation.path): found \(actual.jsonString), expected \(expected.jsonString)",
                        testFailed: true)
                }
            }
        }
        return document
    }

    /// Equality as JSON sees it: numbers compare by value (1 == 1.0).
    public func jsonEquals(_ other: JSONValue) -> Bool {
        switch (self, other) {
        case (.int(let a), .double(let b)), (.double(let b), .int(let a)):
            return Double(a) == b
        case (.array(let a), .array(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.jsonEquals($1) }
        case (.object(let a), .object(let b)):
            return a.count == b.count && a.allSatisfy { key, value in b[key].map { value.jsonEquals($0) } ?? false }
        default:
            return self == other
        }
    }

    static func pointerSegments(_ pointer: String) throws(JSONPatchError) -> [String] {
        if pointer.isEmpty { return [] }
        guard pointer.hasPrefix("/") else { throw JSONPatchError("\(pointer): a JSON pointer starts with /") }
        return pointer.dropFirst().split(separator: "/", omittingEmptySubsequences: false).map { segment in
            var text = ""
            var escape = false
            for character in segment {
                if escape {
                    text.append(character == "1" ? "/" : character == "0" ? "~" : character)
                    escape = false
                } else if character == "~" {
                    escape = true
                } else {
                    text.append(character)
                }
            }
            return text
        }
    }

    private static func arrayIndex(_ segment: String, count: Int, allowEnd: Bool, pointer: String) throws(JSONPatchError) -> Int {
        if segment == "-", allowEnd { return count }
        guard !segment.isEmpty, segment.allSatisfy(\.isASCIIDigit), segment == "0" || !segment.hasPrefix("0"),
            let index = Int(segment), index <= (allowEnd ? count : count - 1)
        else { throw JSONPatchError("\(pointer): no array element \(segment)") }
        return index
    }

    private func value(at path: [String], pointer: String) throws(JSONPatchError) -> JSONValue {
        var current = self
        for segment in path {
            switch current {
            case .object(let members):
                guard let next = members[segment] else { throw JSONPatchError("\(pointer): no member \(segment)") }
                current = next
            case .array(let elements):
                current = elements[try Self.arrayIndex(segment, count: elements.count, allowEnd: false, pointer: pointer)]
            default:
                throw JSONPatchError("\(pointer): \(segment) is inside a value that is not a container")
            }
        }
        return current
    }

    private func adding(_ value: JSONValue, at path: ArraySlice<String>, pointer: String) throws(JSONPatchError) -> JSONValue {
        guard let segment = path.first else { return value }
        let rest = path.dropFirst()
        switch self {
        case .object(var members):
            if rest.isEmpty {
                members[segment] = value
            } else {
                guard let child = members[segment] else { throw JSONPatchError("\(pointer): no member \(segment)") }
                members[segment] = try child.adding(value, at: rest, pointer: pointer)
            }
            return .object(members)
        case .array(var elements):
            let index = try Self.arrayIndex(segment, count: elements.count, allowEnd: rest.isEmpty, pointer: pointer)
            if rest.isEmpty {
                elements.insert(value, at: index)
            } else {
                elements[index] = try elements[index].adding(value, at: rest, pointer: pointer)
            }
            return .array(elements)
        default:
            throw JSONPatchError("\(pointer): \(segment) is inside a value that is not a container")
        }
    }

    private func removing(at path: ArraySlice<String>, pointer: String) throws(JSONPatchError) -> (document: JSONValue, removed: JSONValue) {
        guard let segment = path.first else { throw JSONPatchError("\(pointer): cannot remove the whole document") }
        let rest = path.dropFirst()
        switch self {
        case .object(var members):
            guard let child = members[segment] else { throw JSONPatchError("\(pointer): no member \(segment)") }
            if rest.isEmpty {
                members.removeValue(forKey: segment)
                return (.object(members), child)
            }
            let (updated, removed) = try child.removing(at: rest, pointer: pointer)
            members[segment] = updated
            return (.object(members), removed)
        case .array(var elements):
            let index = try Self.arrayIndex(segment, count: elements.count, allowEnd: false, pointer: pointer)
            if rest.isEmpty {
                let removed = elements.remove(at: index)
                return (.array(elements), removed)
            }
            let (updated, removed) = try elements[index].removing(at: rest, pointer: pointer)
            elements[index] = updated
            return (.array(elements), removed)
        default:
            throw JSONPatchError("\(pointer): \(segment) is inside a value that is not a container")
        }
    }
}

private extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}
