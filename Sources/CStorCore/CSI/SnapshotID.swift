/// A snapshot id as openebs/cstor-csi writes it: `<source volume id>@<snapshot name>`.
///
/// `name` is the snapshot's name where the engine stores it (on the volume's target, in its
/// records). It is the CSI name of the CreateSnapshot call wherever that is possible, so that the
/// ids of openebs/cstor-csi and ours are the same; a CSI name the id or the engine cannot hold
/// becomes its shortened form, `<prefix>-<hash>` (`shortened(_:limit:)`, docs/snapshot-ids.md).
/// Either way an id names its volume and its stored name, and nothing else is needed to find the
/// snapshot again.
public struct SnapshotID: Sendable, Hashable, CustomStringConvertible {
    public var volumeID: String
    public var name: String

    public init(volumeID: String, name: String) {
        self.volumeID = volumeID
        self.name = name
    }

    /// Parses an id; nil when it is not of this driver's form (such a snapshot cannot exist here).
    public init?(parsing text: String) {
        guard text.utf8.count <= IdentifierRules.maximumLength else { return nil }
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, IdentifierRules.volumeIDProblem(String(parts[0])) == nil,
            Self.nameProblem(String(parts[1])) == nil
        else { return nil }
        self.init(volumeID: String(parts[0]), name: String(parts[1]))
    }

    public var description: String { "\(volumeID)@\(name)" }

    /// Snapshot names are VolumeSnapshotContent-derived (`snapshot-<uid>`): the same alphabet as
    /// volume ids, at most 128 bytes.
    public static func nameProblem(_ name: String) -> String? {
        IdentifierRules.volumeIDProblem(name)
    }

    /// How an engine stores snapshot (and volume) names: how long one may be, and what else it must be (for
    /// the cstor engine, the name part of an annotation key).
    public struct NameRule: Sendable {
        public var maximumLength: Int
        /// Why a name cannot be stored as it is, or nil.
        public var problem: @Sendable (String) -> String?

        public init(maximumLength: Int, problem: @escaping @Sendable (String) -> String? = { _ in nil }) {
            self.maximumLength = maximumLength
            self.problem = problem
        }
    }

    /// The digits of SHA-256 a shortened name keeps (64 bits).
    public static let hashLength = 16

    /// The id of a CreateSnapshot, for an engine that stores names under `rule`: the CSI name as
    /// it is when the rule takes it and `<volume>@<name>` fits the CSI limit of 128 bytes, else
    /// the shortened form that fits both. Throws InvalidArgument for a malformed name, or when the
    /// source volume id leaves no room for even a shortened name.
    public static func make(name: String, sourceVolumeID: String, rule: NameRule) throws -> SnapshotID {
        if let problem = nameProblem(name) {
            throw CSIError.invalidArgument("name \(PathRules.quoted(name)) \(problem)")
        }
        let room = min(rule.maximumLength, IdentifierRules.maximumLength - sourceVolumeID.utf8.count - 1)
        if name.utf8.count <= room, rule.problem(name) == nil {
            return SnapshotID(volumeID: sourceVolumeID, name: name)
        }
        guard let short = shortened(name, limit: room) else {
            throw CSIError.invalidArgument(
                "the source volume id \(PathRules.quoted(sourceVolumeID)) is too long to name a snapshot of it within \(IdentifierRules.maximumLength) bytes")
        }
        return SnapshotID(volumeID: sourceVolumeID, name: short)
    }

    /// The longest volume id that still leaves room for every snapshot of it: `<volume>@x-<hash>`
    /// fits 128 bytes (109).
    public static let longestSnapshottableVolumeID = IdentifierRules.maximumLength - 1 - (hashLength + 2)

    /// The shortened form of a snapshot name, at most `limit` bytes: `<prefix>-<hash>`, where
    /// `hash` is the first 16 hexadecimal digits of the SHA-256 of the whole name (its UTF-8
    /// bytes) and `prefix` is the start of the name, from its first letter or digit, cut to fit
    /// and without trailing `-`, `_` or `.` (`snap` when the name has no letter or digit). The
    /// result starts and ends with a letter or digit and uses the name's alphabet. The same
    /// name always gives the same form; nil when `limit` leaves no room for `x-<hash>`.
    public static func shortened(_ name: String, limit: Int) -> String? {
        let hash = String(SHA256.hex(name).prefix(hashLength))
        let room = limit - hashLength - 1
        guard room >= 1 else { return nil }
        let isAlphanumeric = { (scalar: Unicode.Scalar) in scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar)) }
        var prefix = Substring.UnicodeScalarView(name.unicodeScalars.drop { !isAlphanumeric($0) }.prefix(room))
        while let last = prefix.last, !isAlphanumeric(last) { prefix.removeLast() }
        let start = prefix.isEmpty ? String("snap".prefix(room)) : String(prefix)
        return "\(start)-\(hash)"
    }
}

extension SnapshotID.NameRule {
    /// The volume id CreateVolume gives the CSI name `name` on an engine whose volume ids follow
    /// this rule: the name as it is when the rule takes it, else its shortened form, the same
    /// `<prefix>-<hash>` snapshot names get (docs/snapshot-ids.md, "Volume ids").
    public func volumeID(forName name: String) -> String {
        if name.utf8.count <= maximumLength, problem(name) == nil { return name }
        return SnapshotID.shortened(name, limit: maximumLength) ?? name
    }
}
