/// Validation rules shared by the controller and the node. Each returns a human-readable problem
/// or throws `CSIError.invalidArgument` naming the field, so a client learns what to fix.
public enum PathRules {
    /// Linux PATH_MAX.
    public static let maximumLength = 4096
    /// Linux NAME_MAX: the longest name of one path component.
    public static let maximumComponentLength = 255

    /// The path with a trailing slash removed, or nil unless it is absolute, free of NUL and
    /// control characters, and has no empty, `.` or `..` component.
    public static func normalizedAbsolute(_ path: String) -> String? {
        guard path.hasPrefix("/"), path.utf8.count <= maximumLength,
            !path.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f })
        else { return nil }
        var trimmed = Substring(path)
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        if trimmed == "/" { return "/" }
        let components = trimmed.dropFirst().split(separator: "/", omittingEmptySubsequences: false)
        guard components.allSatisfy({ !$0.isEmpty && $0 != "." && $0 != ".." }) else { return nil }
        return String(trimmed)
    }

    /// Whether `path` is `root` or lies below it (both normalized).
    public static func isWithin(_ path: String, root: String) -> Bool {
        if root == "/" { return true }
        return path == root || path.hasPrefix(root + "/")
    }

    /// Validates a required path field: present, clean, absolute, inside one of `roots`.
    public static func require(_ path: String, field: String, roots: [String]) throws -> String {
        guard !path.isEmpty else { throw CSIError.invalidArgument("\(field) is required") }
        guard let normalized = normalizedAbsolute(path) else {
            throw CSIError.invalidArgument(
                "\(field) \(quoted(path)) must be an absolute path without '.', '..', empty components or control characters")
        }
        if let long = normalized.split(separator: "/").first(where: { $0.utf8.count > maximumComponentLength }) {
            throw CSIError.invalidArgument(
                "\(field) \(quoted(path)) has a component of \(long.utf8.count) bytes; Linux allows \(maximumComponentLength)")
        }
        guard roots.contains(where: { isWithin(normalized, root: $0) }), !roots.contains(normalized) else {
            throw CSIError.invalidArgument(
                "\(field) \(quoted(path)) is outside the directories this plugin manages (\(roots.joined(separator: ", ")))")
        }
        return normalized
    }

    /// A short, safe rendering of a value for an error message.
    public static func quoted(_ value: String) -> String {
        let shown = value.count > 80 ? String(value.prefix(80)) + "…" : value
        return JSONText.quoted(shown)
    }
}

/// The first check of every RPC: the fields the spec marks REQUIRED are present, in the spec's
/// field order, before any value's form and long before anything looks at state (a request that
/// lacks `target_path` is InvalidArgument even when its volume is not staged).
public enum RequiredFields {
    /// Throws InvalidArgument naming the first required field that is absent.
    public static func check(_ fields: KeyValuePairs<String, Bool>) throws {
        if let missing = fields.first(where: { !$0.value }) {
            throw CSIError.invalidArgument("\(missing.key) is required")
        }
    }
}

/// Rules for the identifiers this driver hands out and accepts back.
public enum IdentifierRules {
    /// The CSI size limit for string fields (spec "Size Limits").
    public static let maximumLength = 128

    /// Volume ids are PV names (`pvc-<uid>`) or CreateVolume names: letters, digits, '.', '_'
    /// and '-', not starting with '.' or '-', at most 128 bytes. They become file and object names.
    public static func volumeIDProblem(_ id: String) -> String? {
        guard !id.isEmpty else { return "is required" }
        guard id.utf8.count <= maximumLength else { return "is longer than \(maximumLength) bytes" }
        guard let first = id.unicodeScalars.first, first != ".", first != "-" else {
            return "must not start with '.' or '-'"
        }
        guard id.unicodeScalars.allSatisfy(isNameScalar) else {
            return "may contain only letters, digits, '.', '_' and '-'"
        }
        return nil
    }

    public static func requireVolumeID(_ id: String, field: String = "volume_id") throws -> String {
        if let problem = volumeIDProblem(id) {
            throw CSIError.invalidArgument("\(field) \(PathRules.quoted(id)) \(problem)")
        }
        return id
    }

    static func isNameScalar(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "a"..."z", "A"..."Z", "0"..."9", ".", "_", "-": true
        default: false
        }
    }

    /// Checks a map<string,string> against the CSI 4 KiB limit.
    public static func requireMapSize(_ map: [String: String], field: String) throws {
        let size = map.reduce(0) { $0 + $1.key.utf8.count + $1.value.utf8.count }
        guard size <= 4096 else {
            throw CSIError.invalidArgument("\(field) holds \(size) bytes; CSI allows at most 4096")
        }
    }
}
