import FoundationEssentials
import Glibc
import Synchronization

/// A small durable store: one JSON file per record (mode 0600, written atomically: temp file,
/// fsync, rename, fsync of the directory), plus an in-memory copy of all records so that reads
/// never touch the disk after start-up. A crash never loses or tears a record; the temporary
/// files of writes a crash interrupted are removed at start-up.
public final class JSONRecordDirectory<Record: Codable & Sendable>: Sendable {
    public let directory: String
    private let cache: Mutex<[String: Record]>
    /// Files found at start-up that could not be decoded; they are left untouched for an operator.
    public let unreadable: [String]

    public init(directory: String) throws {
        self.directory = directory
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        var names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        let leftovers = names.filter(AtomicFile.isLeftover)
        for name in leftovers {
            unlink(Path.join(directory, name))
        }
        if !leftovers.isEmpty {
            try AtomicFile.syncDirectory(directory)
            names.removeAll { leftovers.contains($0) }
        }
        var records: [String: Record] = [:]
        var unreadable: [String] = []
        for name in names.sorted() where name.hasSuffix(".json") {
            let file = Path.join(directory, name)
            guard let key = FileNameEncoding.decode(String(name.dropLast(".json".count))),
                let data = FileManager.default.contents(atPath: file),
                let record = try? Self.decoder.decode(Record.self, from: data)
            else {
                unreadable.append(file)
                continue
            }
            records[key] = record
        }
        cache = Mutex(records)
        self.unreadable = unreadable
    }

    private func path(_ key: String) -> String {
        Path.join(directory, FileNameEncoding.encode(key) + ".json")
    }

    public func load(_ key: String) -> Record? {
        cache.withLock { $0[key] }
    }

    public func save(_ record: Record, as key: String) throws {
        try AtomicFile.write(try Self.encoder.encode(record), to: path(key))
        cache.withLock { $0[key] = record }
    }

    public func delete(_ key: String) throws {
        try AtomicFile.remove(path(key))
        cache.withLock { _ = $0.removeValue(forKey: key) }
    }

    /// Every record, sorted by key.
    public func all() -> [(key: String, record: Record)] {
        cache.withLock { records in records.keys.sorted().compactMap { key in records[key].map { (key, $0) } } }
    }

    public var count: Int { cache.withLock { $0.count } }

    static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }

    static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}
