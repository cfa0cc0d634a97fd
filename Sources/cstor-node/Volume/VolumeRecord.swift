import CStorCore
import Foundation
import Synchronization

/// What this node did for one volume, persisted under the state directory so that a restarted
/// plugin knows what it staged: from which transport and device, where, how, and which publish
/// targets it bound. It holds no secrets.
struct VolumeRecord: Codable, Sendable, Equatable {
    enum Phase: String, Codable, Sendable {
        /// The attach was started; the device may or may not exist yet.
        case attaching
        /// mkfs was started on a device that probed empty. A retry may format it again: the
        /// record proves it held nothing before we began.
        case formatting
        /// Attached (and, for mount volumes, mounted at the staging path).
        case staged
    }

    struct Publication: Codable, Sendable, Equatable {
        var readOnly: Bool
    }

    var volumeID: String
    var stagingPath: String
    var target: AttachTarget
    var access: VolumeAccess
    var phase: Phase
    /// The device node once attached, e.g. /dev/sdb or /dev/loop3.
    var device: String?
    /// Its "major:minor", kept because a stale mount still names it after the node is gone.
    var deviceNumber: String?
    /// The mount options of the staging mount (without secrets), reused by the recovery.
    var mountOptions: [String]
    /// ext4's error count when the filesystem was last mounted; more errors later is a fault.
    var ext4ErrorsBaseline: Int = 0
    var publications: [String: Publication]
    var updatedAt: Date

    init(volumeID: String, stagingPath: String, target: AttachTarget, access: VolumeAccess) {
        self.volumeID = volumeID
        self.stagingPath = stagingPath
        self.target = target
        self.access = access
        self.phase = .attaching
        self.device = nil
        self.deviceNumber = nil
        self.mountOptions = []
        self.publications = [:]
        self.updatedAt = Date()
    }
}

/// The records on disk, one JSON file per volume written atomically with mode 0600, and an
/// in-memory copy of all of them: the health monitor and NodeGetVolumeStats read records on every
/// call, and the disk is only read once, at start-up.
final class VolumeRecordStore: Sendable {
    let directory: String
    private let cache: Mutex<[String: VolumeRecord]>
    /// Files found at start-up that could not be decoded (reported by the reconciler).
    let unreadable: [String]

    init(stateDirectory: String) throws {
        directory = (stateDirectory as NSString).appendingPathComponent("volumes")
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        var records: [String: VolumeRecord] = [:]
        var unreadable: [String] = []
        for name in names.sorted() where name.hasSuffix(".json") {
            let file = (directory as NSString).appendingPathComponent(name)
            if let data = FileManager.default.contents(atPath: file),
                let record = try? JSONDecoder.records.decode(VolumeRecord.self, from: data)
            {
                records[record.volumeID] = record
            } else {
                unreadable.append(file)
            }
        }
        cache = Mutex(records)
        self.unreadable = unreadable
    }

    private func path(_ volumeID: String) -> String {
        (directory as NSString).appendingPathComponent(FileNameEncoding.encode(volumeID) + ".json")
    }

    func load(_ volumeID: String) throws -> VolumeRecord? {
        cache.withLock { $0[volumeID] }
    }

    func save(_ record: VolumeRecord) throws {
        var record = record
        record.updatedAt = Date()
        try AtomicFile.write(try JSONEncoder.records.encode(record), to: path(record.volumeID))
        cache.withLock { $0[record.volumeID] = record }
    }

    func delete(_ volumeID: String) throws {
        try AtomicFile.remove(path(volumeID))
        cache.withLock { _ = $0.removeValue(forKey: volumeID) }
    }

    /// Every record, sorted by volume id.
    func all() -> [VolumeRecord] {
        cache.withLock { $0.values.sorted { $0.volumeID < $1.volumeID } }
    }
}

extension JSONEncoder {
    static var records: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }
}

extension JSONDecoder {
    static var records: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}
