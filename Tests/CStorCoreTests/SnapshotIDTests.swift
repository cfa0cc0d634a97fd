import CStorCore
import CStorKubernetes
import CStorModel
import Testing

/// The snapshot id scheme (docs/snapshot-ids.md): `<volume>@<name>` wherever it fits, a stable
/// `<prefix>-<hash>` form where it does not.
@Suite("Snapshot ids and shortened names")
struct SnapshotIDTests {
    static let volume = "pvc-0f2c6d9a-3b8e-4c1f-9a55-7e2d1c0b4a11"
    /// The cstor engine's rule: the name part of an annotation key.
    static let annotationRule = SnapshotID.NameRule(maximumLength: 63) { name in
        let ends = { (scalar: Unicode.Scalar?) in scalar.map { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0)) } ?? false }
        return ends(name.unicodeScalars.first) && ends(name.unicodeScalars.last) ? nil : "must start and end with a letter or digit"
    }

    @Test("SHA-256 matches FIPS 180-4's test vectors and sha256sum, over one and several blocks")
    func sha256() {
        #expect(SHA256.hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(
            SHA256.hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(SHA256.hex(String(repeating: "a", count: 1000)) == "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3")
    }

    @Test("A name that fits is the id's name as it is: upstream's <pv>@<snap> ids stay what they were")
    func namesThatFitStayAsTheyAre() throws {
        let id = try SnapshotID.make(name: "snapshot-a1a36169-ff77-422d-89bd-523b57be912d", sourceVolumeID: "pvc-up1", rule: Self.annotationRule)
        #expect(id.description == "pvc-up1@snapshot-a1a36169-ff77-422d-89bd-523b57be912d")
        let longest = String(repeating: "n", count: 63)
        #expect(try SnapshotID.make(name: longest, sourceVolumeID: Self.volume, rule: Self.annotationRule).name == longest)
    }

    @Test("The documented example: an 83-byte name under the cstor engine's 63-byte rule")
    func documentedExample() throws {
        let name = "snapshot-3c1f2b7a-52e4-4f0e-9d6b-0a7c8e1f2d3b-nightly-backup-of-the-orders-database"
        let id = try SnapshotID.make(name: name, sourceVolumeID: Self.volume, rule: Self.annotationRule)
        #expect(id.name == "snapshot-3c1f2b7a-52e4-4f0e-9d6b-0a7c8e1f2d3b-b2d2e06dc2f9acab")
        #expect(id.description == "\(Self.volume)@snapshot-3c1f2b7a-52e4-4f0e-9d6b-0a7c8e1f2d3b-b2d2e06dc2f9acab")
    }

    @Test("Names of 64 to 128 bytes get a stable shortened name that fits the rule and the 128-byte id", arguments: [64, 65, 100, 127, 128])
    func longNames(length: Int) throws {
        let name = "s" + String(repeating: "x", count: length - 2) + "1"
        let id = try SnapshotID.make(name: name, sourceVolumeID: Self.volume, rule: Self.annotationRule)
        #expect(id.name.utf8.count <= 63)
        #expect(Self.annotationRule.problem(id.name) == nil)
        #expect(id.description.utf8.count <= 128)
        #expect(id.name.hasSuffix("-" + SHA256.hex(name).prefix(16)))
        #expect(try SnapshotID.make(name: name, sourceVolumeID: Self.volume, rule: Self.annotationRule) == id, "the same name, the same id")
        #expect(SnapshotID(parsing: id.description) == id, "the id parses back to the same volume and name")
    }

    @Test("Names that share a long prefix get different shortened names")
    func sharedPrefixes() throws {
        let base = String(repeating: "backup-", count: 12)
        let first = try SnapshotID.make(name: base + "monday", sourceVolumeID: Self.volume, rule: Self.annotationRule)
        let second = try SnapshotID.make(name: base + "tuesday", sourceVolumeID: Self.volume, rule: Self.annotationRule)
        #expect(first.name != second.name)
        #expect(first.name.hasPrefix("backup-backup-"))
    }

    @Test("A name the rule refuses although short is shortened too; one without a letter or digit becomes snap-<hash>")
    func refusedShortNames() throws {
        let underscore = try SnapshotID.make(name: "_nightly_", sourceVolumeID: Self.volume, rule: Self.annotationRule)
        #expect(underscore.name == "nightly-" + SHA256.hex("_nightly_").prefix(16))
        let symbols = try SnapshotID.make(name: "___", sourceVolumeID: Self.volume, rule: Self.annotationRule)
        #expect(symbols.name == "snap-" + SHA256.hex("___").prefix(16))
    }

    @Test("A long volume id leaves less room; one that leaves none, and malformed names, are InvalidArgument")
    func volumeIDRoom() throws {
        let longVolume = String(repeating: "v", count: 100)
        let name = "snapshot-0123456789-0123456789-0123456789"
        let id = try SnapshotID.make(name: name, sourceVolumeID: longVolume, rule: .init(maximumLength: 255))
        #expect(id.description.utf8.count == 128)
        #expect(id.name == "snapshot-0-" + SHA256.hex(name).prefix(16))
        #expect(throws: CSIError.self) {
            try SnapshotID.make(name: "snapshot-0123456789", sourceVolumeID: String(repeating: "v", count: 112), rule: .init(maximumLength: 255))
        }
        for bad in ["", "-x", "a/b", "a@b", String(repeating: "n", count: 129)] {
            #expect(throws: CSIError.self) { try SnapshotID.make(name: bad, sourceVolumeID: Self.volume, rule: Self.annotationRule) }
        }
    }

    @Test("Ids that are not <volume>@<name> within 128 bytes do not parse")
    func parsing() {
        #expect(SnapshotID(parsing: "pvc-up1@snapshot-up1") == SnapshotID(volumeID: "pvc-up1", name: "snapshot-up1"))
        for text in ["pvc-up1", "pvc@a@b", "@snap", "pvc@", "pvc@-x", String(repeating: "v", count: 64) + "@" + String(repeating: "n", count: 64)] {
            #expect(SnapshotID(parsing: text) == nil, "\(text)")
        }
    }
}
