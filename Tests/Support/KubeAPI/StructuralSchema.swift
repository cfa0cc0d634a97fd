import CStorCore
import CStorKubernetes
import CStorModel
import Foundation

/// The OpenAPI v3 schema of a CRD version, applied to custom resources the way kube-apiserver
/// (apiextensions-apiserver with kube-openapi's validator) applies it to a create, update or patch:
///
/// 1. **pruning**: members the schema does not declare are dropped (and reported, as the API
///    server's `Warning` header does), except under `x-kubernetes-preserve-unknown-fields`;
///    `apiVersion`, `kind` and `metadata` of the root are kept (metadata keeps ObjectMeta's members);
/// 2. **nulls** of members that are not `nullable` are dropped; defaults are applied;
/// 3. **validation**, in kube-openapi's order per node: `type` (with `x-kubernetes-int-or-string`),
///    `anyOf`, `pattern`, `format` (date-time; the integer and number formats are not enforced,
///    as in kube-apiserver), `minimum`/`maximum`, `items`, `enum`, `additionalProperties`,
///    `properties`, `required`; each failure becomes the `field.Error` kube-apiserver reports.
///
/// Sibling properties are checked in name order (kube-apiserver's order among siblings is a Go
/// map's, so unspecified). A schema keyword this type does not implement makes loading fail, so a
/// new CRD can never be checked less strictly than it says; `keywordsNotEnforced` lists the ones
/// it knowingly accepts without checking.
public final class StructuralSchema: Sendable {
    enum AdditionalProperties: Sendable {
        case unspecified
        case allowed(Bool)
        case schema(StructuralSchema)
    }

    let types: [String]
    let nullable: Bool
    let format: String?
    let properties: [String: StructuralSchema]
    let required: [String]
    let items: StructuralSchema?
    let additionalProperties: AdditionalProperties
    let preserveUnknownFields: Bool
    let embeddedResource: Bool
    let enumValues: [JSONValue]?
    let minimum: Double?
    let maximum: Double?
    let exclusiveMinimum: Bool
    let exclusiveMaximum: Bool
    let pattern: String?
    let patternExpression: NSRegularExpression?
    let anyOf: [StructuralSchema]
    let defaultValue: JSONValue?

    /// Keywords read and enforced.
    static let keywordsEnforced: Set<String> = [
        "type", "nullable", "format", "properties", "required", "items", "additionalProperties",
        "x-kubernetes-preserve-unknown-fields", "x-kubernetes-int-or-string", "x-kubernetes-embedded-resource",
        "enum", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "pattern", "anyOf", "default",
    ]
    /// Keywords accepted without being checked (documentation, or list and map semantics that only
    /// matter to server-side apply and to list-type uniqueness: see docs/testing.md).
    public static let keywordsNotEnforced: Set<String> = [
        "description", "title", "example", "externalDocs", "x-kubernetes-list-type", "x-kubernetes-list-map-keys",
        "x-kubernetes-map-type",
    ]
    /// The formats kube-apiserver validates; any other is stripped from the schema and not checked
    /// (`int32`, `int64`, `float`, `double`, ...). Of these the stand-in implements date-time.
    static let formatsValidatedByTheAPI: Set<String> = [
        "bsonobjectid", "uri", "email", "hostname", "ipv4", "ipv6", "cidr", "mac", "uuid", "uuid3", "uuid4", "uuid5",
        "isbn", "isbn10", "isbn13", "creditcard", "ssn", "hexcolor", "rgbcolor", "byte", "password", "date", "duration",
        "datetime",
    ]

    struct LoadError: Error, CustomStringConvertible {
        var description: String
    }

    /// Reads a schema (`openAPIV3Schema` of a CRD version).
    init(_ schema: JSONValue, path: String = "") throws {
        guard let members = schema.objectValue else { throw LoadError(description: "\(path): the schema is not an object") }
        let unknown = Set(members.keys).subtracting(Self.keywordsEnforced).subtracting(Self.keywordsNotEnforced)
        guard unknown.isEmpty else {
            throw LoadError(description: "\(path.isEmpty ? "<root>" : path): schema keywords the test API server does not implement: \(unknown.sorted())")
        }
        intOrString = members["x-kubernetes-int-or-string"]?.boolValue ?? false
        if intOrString {
            types = ["integer", "string"]
        } else if let type = members["type"]?.stringValue {
            types = [type]
        } else {
            types = []
        }
        nullable = members["nullable"]?.boolValue ?? false
        if let format = members["format"]?.stringValue,
            Self.formatsValidatedByTheAPI.contains(format.replacingOccurrences(of: "-", with: ""))
        {
            guard format.replacingOccurrences(of: "-", with: "") == "datetime" else {
                throw LoadError(description: "\(path): format \(format) is validated by kube-apiserver but not by the test API server")
            }
            self.format = format
        } else {
            format = nil
        }
        var properties: [String: StructuralSchema] = [:]
        for (name, property) in members["properties"]?.objectValue ?? [:] {
            properties[name] = try StructuralSchema(property, path: path.isEmpty ? name : "\(path).\(name)")
        }
        self.properties = properties
        required = (members["required"]?.arrayValue ?? []).compactMap(\.stringValue)
        items = try members["items"].map { try StructuralSchema($0, path: "\(path)[*]") }
        switch members["additionalProperties"] {
        case nil: additionalProperties = .unspecified
        case .bool(let allowed)?: additionalProperties = .allowed(allowed)
        case let value?: additionalProperties = .schema(try StructuralSchema(value, path: "\(path).*"))
        }
        preserveUnknownFields = members["x-kubernetes-preserve-unknown-fields"]?.boolValue ?? false
        embeddedResource = members["x-kubernetes-embedded-resource"]?.boolValue ?? false
        enumValues = members["enum"]?.arrayValue
        minimum = Self.number(members["minimum"])
        maximum = Self.number(members["maximum"])
        exclusiveMinimum = members["exclusiveMinimum"]?.boolValue ?? false
        exclusiveMaximum = members["exclusiveMaximum"]?.boolValue ?? false
        pattern = members["pattern"]?.stringValue
        if let pattern {
            do {
                patternExpression = try NSRegularExpression(pattern: pattern)
            } catch {
                throw LoadError(description: "\(path): pattern \(pattern) does not compile: \(error)")
            }
        } else {
            patternExpression = nil
        }
        anyOf = try (members["anyOf"]?.arrayValue ?? []).map { try StructuralSchema($0, path: path) }
        defaultValue = members["default"]
    }

    private let intOrString: Bool

    private static func number(_ value: JSONValue?) -> Double? {
        switch value {
        case .int(let number)?: Double(number)
        case .double(let number)?: number
        default: nil
        }
    }

    // MARK: - Pruning, nulls and defaults

    /// ObjectMeta's members: what the API server keeps of an object's metadata.
    static let objectMetaMembers: Set<String> = [
        "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation", "creationTimestamp",
        "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations", "ownerReferences", "finalizers",
        "managedFields",
    ]

    /// The object as the API server stores it before validation: unknown members pruned (their
    /// paths returned), non-nullable nulls dropped, defaults applied.
    func prepare(_ object: JSONValue) -> (object: JSONValue, pruned: [String]) {
        var pruned: [String] = []
        let result = prepare(object, path: "", isRoot: true, pruned: &pruned)
        return (result, pruned)
    }

    private func prepare(_ value: JSONValue, path: String, isRoot: Bool, pruned: inout [String]) -> JSONValue {
        switch value {
        case .object(let members):
            // An int-or-string or a typed scalar holding an object is left for validation to refuse.
            guard types.isEmpty || types.contains("object") else { return value }
            var kept: [String: JSONValue] = [:]
            for (name, member) in members.sorted(by: { $0.key < $1.key }) {
                let memberPath = path.isEmpty ? name : "\(path).\(name)"
                if (isRoot || embeddedResource), ["apiVersion", "kind"].contains(name) {
                    kept[name] = member
                } else if (isRoot || embeddedResource), name == "metadata" {
                    kept[name] = Self.pruneMetadata(member, path: memberPath, pruned: &pruned)
                } else if let property = properties[name] {
                    if member.isNull, !property.nullable, property.defaultValue == nil { continue }
                    kept[name] = property.prepare(member, path: memberPath, isRoot: false, pruned: &pruned)
                } else if case .schema(let additional) = additionalProperties {
                    if member.isNull, !additional.nullable, additional.defaultValue == nil { continue }
                    kept[name] = additional.prepare(member, path: memberPath, isRoot: false, pruned: &pruned)
                } else if preserveUnknownFields || additionalPropertiesAllowedExplicitly {
                    kept[name] = member
                } else {
                    pruned.append(memberPath)
                }
            }
            for (name, property) in properties where kept[name] == nil {
                if let defaultValue = property.defaultValue { kept[name] = defaultValue }
            }
            return .object(kept)
        case .array(let elements):
            guard let items else { return value }
            return .array(
                elements.enumerated().map { index, element in
                    items.prepare(element, path: "\(path)[\(index)]", isRoot: false, pruned: &pruned)
                })
        default:
            return value
        }
    }

    /// `additionalProperties: true` keeps unknown members (structural schemas allow it only with
    /// no properties).
    private var additionalPropertiesAllowedExplicitly: Bool {
        if case .allowed(true) = additionalProperties { return true }
        return false
    }

    private static func pruneMetadata(_ metadata: JSONValue, path: String, pruned: inout [String]) -> JSONValue {
        guard case .object(let members) = metadata else { return metadata }
        var kept: [String: JSONValue] = [:]
        for (name, member) in members.sorted(by: { $0.key < $1.key }) {
            if objectMetaMembers.contains(name) {
                kept[name] = member
            } else {
                pruned.append("\(path).\(name)")
            }
        }
        return .object(kept)
    }

    // MARK: - Validation

    /// The errors kube-apiserver reports for an object (after `prepare`).
    func validate(_ object: JSONValue) -> [FieldError] {
        validate(object, path: "")
    }

    private static func jsonType(_ value: JSONValue) -> String {
        switch value {
        case .null: "null"
        case .bool: "boolean"
        case .int: "integer"
        case .double: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }

    /// The Go format kube-openapi infers for a decoded value (what a type error quotes when a
    /// schema's format does not fit).
    private static func dataFormat(_ value: JSONValue) -> String {
        switch value {
        case .int: "int64"
        case .double: "float64"
        default: ""
        }
    }

    private static func typeError(_ path: String, _ expected: String, _ found: String) -> FieldError {
        FieldError(
            .typeInvalid, field: path, value: .string(found),
            detail: "\(path) in body must be of type \(expected): \(FieldError.goQuote(found))")
    }

    private func validate(_ value: JSONValue, path: String) -> [FieldError] {
        var errors: [FieldError] = []
        if value.isNull {
            if !types.isEmpty, !types.contains("null"), !nullable {
                errors.append(Self.typeError(path, types.joined(separator: ","), "null"))
            }
            errors += enumErrors(value, path: path)
            return errors
        }
        errors += typeErrors(value, path: path)
        errors += anyOfErrors(value, path: path)
        if case .string(let text) = value {
            if let patternExpression, let pattern,
                patternExpression.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) == nil
            {
                errors.append(.invalid(path, value, "\(path) in body should match '\(pattern)'"))
            }
            if let format, !Self.isDateTime(text) {
                errors.append(
                    FieldError(
                        .typeInvalid, field: path, value: value,
                        detail: "\(path) in body must be of type \(format): \(FieldError.goQuote(text))"))
            }
        }
        errors += numberErrors(value, path: path)
        if case .array(let elements) = value, let items {
            for (index, element) in elements.enumerated() {
                errors += items.validate(element, path: "\(path)[\(index)]")
            }
        }
        errors += enumErrors(value, path: path)
        if case .object(let members) = value {
            errors += objectErrors(members, path: path)
        }
        return errors
    }

    private func typeErrors(_ value: JSONValue, path: String) -> [FieldError] {
        guard !types.isEmpty || format != nil else { return [] }
        let found = Self.jsonType(value)
        let dataFormat = Self.dataFormat(value)
        let isFloatInt: Bool = {
            if case .double(let number) = value { return number == number.rounded() && types.contains("integer") }
            return false
        }()
        let isIntFloat = found == "integer" && types.contains("number")
        let isStringOrArray = found == "string" || found == "array"
        if !isStringOrArray, let format, !(types.contains(found) || dataFormat == format || isFloatInt || isIntFloat) {
            return [Self.typeError(path, format, dataFormat)]
        }
        if !(types.contains("number") || types.contains("integer")), format != nil, isStringOrArray {
            return []
        }
        if !(types.contains(found) || isFloatInt || isIntFloat) {
            return [Self.typeError(path, types.joined(separator: ","), found)]
        }
        return []
    }

    /// anyOf: when no branch validates, kube-openapi reports a path-less error and the failures of
    /// the branch that came closest (here: the first with the fewest errors).
    private func anyOfErrors(_ value: JSONValue, path: String) -> [FieldError] {
        guard !anyOf.isEmpty else { return [] }
        var best: [FieldError]?
        for branch in anyOf {
            let failures = branch.validate(value, path: path)
            if failures.isEmpty { return [] }
            if best == nil || failures.count < best?.count ?? 0 { best = failures }
        }
        let summary = FieldError(
            .invalid, field: "<nil>", value: .string(""),
            detail: "\(FieldError.goQuote(path)) must validate at least one schema (anyOf)")
        return [summary] + (best ?? [])
    }

    private func numberErrors(_ value: JSONValue, path: String) -> [FieldError] {
        let number: Double
        var integral: Int64?
        switch value {
        case .int(let int):
            number = Double(int)
            integral = int
        case .double(let double):
            number = double
        default:
            return []
        }
        var errors: [FieldError] = []
        func bound(_ limit: Double) -> String {
            integral != nil ? String(Int64(limit)) : FieldError.goFloat(limit)
        }
        if let maximum {
            let exceeded = integral.map { exclusiveMaximum ? $0 >= Int64(maximum) : $0 > Int64(maximum) }
                ?? (exclusiveMaximum ? number >= maximum : number > maximum)
            if exceeded {
                let relation = exclusiveMaximum ? "less than" : "less than or equal to"
                errors.append(.invalid(path, value, "\(path) in body should be \(relation) \(bound(maximum))"))
            }
        }
        if let minimum {
            let below = integral.map { exclusiveMinimum ? $0 <= Int64(minimum) : $0 < Int64(minimum) }
                ?? (exclusiveMinimum ? number <= minimum : number < minimum)
            if below {
                let relation = exclusiveMinimum ? "greater than" : "greater than or equal to"
                errors.append(.invalid(path, value, "\(path) in body should be \(relation) \(bound(minimum))"))
            }
        }
        return errors
    }

    private func enumErrors(_ value: JSONValue, path: String) -> [FieldError] {
        guard let enumValues, !enumValues.isEmpty else { return [] }
        if enumValues.contains(where: { Self.sameValue($0, value) }) { return [] }
        let supported = enumValues.map { $0.stringValue ?? $0.jsonString }
        return [.notSupported(path, value, supported: supported)]
    }

    private static func sameValue(_ a: JSONValue, _ b: JSONValue) -> Bool {
        switch (a, b) {
        case (.int(let x), .double(let y)), (.double(let y), .int(let x)): Double(x) == y
        default: a == b
        }
    }

    private func objectErrors(_ members: [String: JSONValue], path: String) -> [FieldError] {
        var errors: [FieldError] = []
        func child(_ name: String) -> String { path.isEmpty ? name : "\(path).\(name)" }
        switch additionalProperties {
        case .allowed(false):
            for name in members.keys.sorted() where properties[name] == nil {
                let base = path.isEmpty ? "" : path
                errors.append(.invalid(path.isEmpty ? "<nil>" : path, .string(name), "\(base).\(name) in body is a forbidden property"))
            }
        case .schema(let additional):
            for (name, member) in members.sorted(by: { $0.key < $1.key }) where properties[name] == nil {
                errors += additional.validate(member, path: child(name))
            }
        default:
            break
        }
        for (name, property) in properties.sorted(by: { $0.key < $1.key }) {
            if let member = members[name] {
                errors += property.validate(member, path: child(name))
            }
        }
        for name in required where members[name] == nil {
            errors.append(.required(child(name)))
        }
        return errors
    }

    /// strfmt's date-time: RFC 3339 with an optional fraction, `Z` or an offset.
    static func isDateTime(_ text: String) -> Bool {
        text.range(
            of: #"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$"#,
            options: .regularExpression) != nil
    }
}
