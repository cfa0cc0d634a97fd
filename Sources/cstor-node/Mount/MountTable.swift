import CStorCore
import FoundationEssentials
import Glibc

/// One line of /proc/self/mountinfo.
struct MountEntry: Sendable, Equatable {
    var mountID: Int
    var parentID: Int
    /// The st_dev of the mounted filesystem as "major:minor".
    var device: String
    /// The path inside the filesystem that is mounted here ("/" unless a bind of a subtree or file).
    var root: String
    var mountPoint: String
    /// Per-mount options (ro/rw, nosuid, ...).
    var options: [String]
    var fsType: String
    var source: String
    /// Superblock options: a filesystem remounted read-only by the kernel after an error shows `ro` here.
    var superOptions: [String]
    /// The optional fields: propagation (`shared:N`, `master:N`, `propagate_from:N`, `unbindable`).
    var propagation: [String] = []

    /// The peer group this mount is shared in (`shared:N`), if any.
    var sharedGroup: Int? { propagation.lazy.compactMap { Self.group($0, "shared:") }.first }
    /// The peer group this mount receives propagation from (`master:N`), if any.
    var masterGroup: Int? { propagation.lazy.compactMap { Self.group($0, "master:") }.first }

    private static func group(_ field: String, _ prefix: String) -> Int? {
        field.hasPrefix(prefix) ? Int(field.dropFirst(prefix.count)) : nil
    }

    /// Read-only per mount, or for the whole filesystem: `ro`, or `emergency_ro` (how newer kernels
    /// mark an ext4 filesystem that went read-only after an error).
    var isReadOnly: Bool { options.contains("ro") || superOptions.contains("ro") || superOptions.contains("emergency_ro") }
}

/// Pure parsing of /proc/self/mountinfo (proc(5)), and lookups over the parsed table.
struct MountTable: Sendable, Equatable {
    var entries: [MountEntry]

    static func current(path: String = "/proc/self/mountinfo") throws -> MountTable {
        try MountTable(parsing: KernelFile.read(path))
    }

    init(entries: [MountEntry]) {
        self.entries = entries
    }

    /// Parses the text; malformed lines are skipped rather than failing the whole table.
    init(parsing text: String) {
        entries = text.split(separator: "\n").compactMap { Self.parseLine(Substring($0)) }
    }

    static func parseLine(_ line: Substring) -> MountEntry? {
        let fields = line.split(separator: " ", omittingEmptySubsequences: true)
        guard let separator = fields.firstIndex(of: "-"), separator >= 6, fields.count >= separator + 3,
            let mountID = Int(fields[0]), let parentID = Int(fields[1])
        else { return nil }
        return MountEntry(
            mountID: mountID, parentID: parentID, device: String(fields[2]), root: unescape(fields[3]),
            mountPoint: unescape(fields[4]), options: fields[5].split(separator: ",").map(String.init),
            fsType: String(fields[separator + 1]), source: unescape(fields[separator + 2]),
            superOptions: fields.count > separator + 3
                ? fields[separator + 3].split(separator: ",").map(String.init) : [],
            propagation: fields[6..<separator].map(String.init))
    }

    /// The kernel escapes space, tab, newline and backslash as \ooo octal sequences.
    static func unescape(_ field: Substring) -> String {
        guard field.contains("\\") else { return String(field) }
        var bytes: [UInt8] = []
        var utf8 = Array(field.utf8)[...]
        while let byte = utf8.popFirst() {
            if byte == UInt8(ascii: "\\"), utf8.count >= 3 {
                let digits = utf8.prefix(3)
                if digits.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "7")).contains($0) }),
                    let value = UInt8(String(decoding: digits, as: UTF8.self), radix: 8)
                {
                    bytes.append(value)
                    utf8 = utf8.dropFirst(3)
                    continue
                }
            }
            bytes.append(byte)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The topmost mount at exactly this path (later lines stack over earlier ones).
    func mount(at path: String) -> MountEntry? {
        entries.last { $0.mountPoint == path }
    }

    /// Every mount at this path, bottom first (more than one means stacked mounts).
    func mounts(at path: String) -> [MountEntry] {
        entries.filter { $0.mountPoint == path }
    }

    /// Mounts of the filesystem with this st_dev, anywhere.
    func mounts(ofDevice device: String) -> [MountEntry] {
        entries.filter { $0.device == device }
    }
}
