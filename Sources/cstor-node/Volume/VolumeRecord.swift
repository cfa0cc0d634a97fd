import CStorCore
import FoundationEssentials
import Glibc
import Metrics

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
        /// NodeUnstageVolume began taking it apart (and may have stopped because something still
        /// holds the device): nobody repairs or publishes it; a NodeStageVolume stages it again.
        case unstaging
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
    /// What the device is (LUN identity, disk instance), checked before every write to it.
    var identity: DeviceIdentity?
    /// The mount options of the staging mount (without secrets), reused by the recovery.
    var mountOptions: [String]
    /// ext4's error count when the filesystem was last mounted; more errors later is a fault.
    var ext4ErrorsBaseline: Int = 0
    var publications: [String: Publication]
    var updatedAt: Date
    /// Who staged the volume when this record was made from what the node found
    /// (`VolumeAdoption`): `openebs/cstor-csi`; nil for a volume this plugin staged.
    var adoptedFrom: String?

    init(volumeID: String, stagingPath: String, target: AttachTarget, access: VolumeAccess) {
        self.volumeID = volumeID
        self.stagingPath = stagingPath
        self.target = target
        self.access = access
        self.phase = .attaching
        self.device = nil
        self.deviceNumber = nil
        self.identity = nil
        self.mountOptions = []
        self.publications = [:]
        self.updatedAt = Date()
    }
}

extension VolumeRecord {
    /// Whether a NodeStageVolume asking for `access` finds this staging as it wants it: the same
    /// kind (block, or the same filesystem type), read-only exactly when it was, and the same
    /// mount flags — any flags for a volume adopted from openebs/cstor-csi, which recorded none.
    /// The single-node modes that write (SINGLE_NODE_WRITER, SINGLE_NODE_SINGLE_WRITER,
    /// SINGLE_NODE_MULTI_WRITER) stage the same way: kubelet sends SINGLE_NODE_MULTI_WRITER for a
    /// ReadWriteOnce volume once the plugin advertises it, also for one staged with
    /// SINGLE_NODE_WRITER before.
    func isCompatible(with wanted: VolumeAccess) -> Bool {
        guard access.mode.isReadOnly == wanted.mode.isReadOnly else { return false }
        switch (access.kind, wanted.kind) {
        case (.block, .block):
            return true
        case (.mount(let fsType, let flags), .mount(let wantedFsType, let wantedFlags)):
            return fsType == wantedFsType && (adoptedFrom != nil || flags == wantedFlags)
        default:
            return false
        }
    }

    /// The record after a compatible NodeStageVolume: it describes the staging as last asked for.
    func restaged(with wanted: VolumeAccess) -> VolumeRecord {
        var record = self
        record.access = wanted
        return record
    }
}

/// The node's state records, one per volume, in `<state-dir>/volumes` (see `JSONRecordDirectory`).
struct VolumeRecordStore: Sendable {
    private let storage: JSONRecordDirectory<VolumeRecord>
    private static let stagedVolumes = Gauge(label: "cstor_node_staged_volumes")

    init(stateDirectory: String) throws {
        storage = try JSONRecordDirectory(directory: Path.join(stateDirectory, "volumes"))
        countStaged()
    }

    /// Keeps the staged-volumes gauge equal to the records, whoever changed them.
    private func countStaged() {
        Self.stagedVolumes.record(storage.all().filter { $0.record.phase == .staged }.count)
    }

    var unreadable: [String] { storage.unreadable }

    /// The record of a volume, nil when there is none. A record file that exists but cannot be
    /// read is not "no record": the volume's state is unknown (staged? published? where from?),
    /// so every RPC for it is refused, naming the file, until an operator repairs or removes it.
    func load(_ volumeID: String) throws -> VolumeRecord? {
        if let file = unreadableFile(of: volumeID) {
            throw CSIError.failedPrecondition(
                "the state record \(file) of volume \(volumeID) cannot be read, so this node does not know what it did with the volume (staged, published, from which device); it will not touch the volume until an operator repairs the file or, after checking that nothing of the volume is mounted or attached on this node, removes it")
        }
        return storage.load(volumeID)
    }

    /// Volumes whose record file cannot be read: nothing may be recorded over them.
    var unreadableVolumeIDs: Set<String> {
        Set(storage.unreadable.compactMap { file in
            let name = Path.lastComponent(file)
            return name.hasSuffix(".json") ? FileNameEncoding.decode(String(name.dropLast(".json".count))) : nil
        })
    }

    /// The unreadable record file of this volume, if there is one.
    func unreadableFile(of volumeID: String) -> String? {
        storage.unreadable.first { file in
            let name = Path.lastComponent(file)
            return name.hasSuffix(".json") && FileNameEncoding.decode(String(name.dropLast(".json".count))) == volumeID
        }
    }

    func save(_ record: VolumeRecord) throws {
        var record = record
        record.updatedAt = Date()
        try storage.save(record, as: record.volumeID)
        countStaged()
    }

    func delete(_ volumeID: String) throws {
        try storage.delete(volumeID)
        countStaged()
    }

    /// Every record, sorted by volume id.
    func all() -> [VolumeRecord] {
        storage.all().map(\.record)
    }
}
