/// A snapshot id as openebs/cstor-csi writes it: `<source volume id>@<snapshot name>`.
public struct SnapshotID: Sendable, Hashable, CustomStringConvertible {
    public var volumeID: String
    public var name: String

    public init(volumeID: String, name: String) {
        self.volumeID = volumeID
        self.name = name
    }

    /// Parses an id; nil when it is not of this driver's form (such a snapshot cannot exist here).
    public init?(parsing text: String) {
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, IdentifierRules.volumeIDProblem(String(parts[0])) == nil,
            Self.nameProblem(String(parts[1])) == nil
        else { return nil }
        self.init(volumeID: String(parts[0]), name: String(parts[1]))
    }

    public var description: String { "\(volumeID)@\(name)" }

    /// Snapshot names are VolumeSnapshotContent-derived (`snapshot-<uid>`): the same alphabet as
    /// volume ids, and the whole id must fit the CSI 128-byte limit.
    public static func nameProblem(_ name: String) -> String? {
        IdentifierRules.volumeIDProblem(name)
    }

    /// Validates the `name` of a CreateSnapshot for a source volume.
    public static func require(name: String, sourceVolumeID: String) throws -> SnapshotID {
        if let problem = nameProblem(name) {
            throw CSIError.invalidArgument("name \(PathRules.quoted(name)) \(problem)")
        }
        let id = SnapshotID(volumeID: sourceVolumeID, name: name)
        guard id.description.utf8.count <= IdentifierRules.maximumLength else {
            throw CSIError.invalidArgument(
                "the snapshot id \(id) would be longer than \(IdentifierRules.maximumLength) bytes; use a shorter name")
        }
        return id
    }
}
