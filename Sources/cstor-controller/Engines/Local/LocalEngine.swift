import CStorCore
import CStorKubernetes
import CStorModel
import FoundationEssentials
import GRPCCore
import Glibc
import Logging

/// The embedded engine for a machine without a cluster: each volume is a sparse file in the
/// state directory, attached by the node as a loop device; snapshots and clones are point-in-time
/// copies of those files (reflinks where the filesystem has them). Metadata lives in one JSON
/// file per object, written atomically, so a crash at any point leaves state the retry finishes.
///
/// StorageClass parameters are accepted and ignored: the local engine needs none.
///
/// The engine knows its nodes from `--node` (default: this machine's hostname): publishing to any
/// other node id is NotFound, as the spec asks for a node that does not exist.
struct LocalEngine: VolumeEngine {
    let stateDirectory: String
    let volumeDirectory: String
    let snapshotDirectory: String
    let nodes: Set<String>
    private let volumes: JSONRecordDirectory<LocalVolume>
    private let snapshots: JSONRecordDirectory<LocalSnapshot>
    let logger: Logger

    var name: String { "local" }
    var features: EngineFeatures { [.snapshots, .cloneFromVolume, .capacity, .volumeCondition] }

    /// Volume ids leave room for every snapshot id (`<volume>@<name>` within 128 bytes); snapshot
    /// names are stored as they are wherever the id fits (docs/snapshot-ids.md).
    let volumeNames = SnapshotID.NameRule(maximumLength: SnapshotID.longestSnapshottableVolumeID)
    static let snapshotNames = SnapshotID.NameRule(maximumLength: IdentifierRules.maximumLength)

    func snapshotID(name: String, sourceVolumeID: String) throws -> SnapshotID {
        try SnapshotID.make(name: name, sourceVolumeID: sourceVolumeID, rule: Self.snapshotNames)
    }

    /// Volumes are sized in whole MiB.
    static let granularity: Int64 = 1 << 20

    init(stateDirectory: String, nodes: Set<String>, logger: Logger) throws {
        self.stateDirectory = stateDirectory
        self.nodes = nodes
        volumeDirectory = Path.join(stateDirectory, "volumes")
        snapshotDirectory = Path.join(stateDirectory, "snapshots")
        for directory in [volumeDirectory, snapshotDirectory] {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        volumes = try JSONRecordDirectory(directory: Path.join(stateDirectory, "meta/volumes"))
        snapshots = try JSONRecordDirectory(directory: Path.join(stateDirectory, "meta/snapshots"))
        self.logger = logger
        removeLeftovers()
    }

    /// This machine's name, as `hostname` prints it: the node the engine attaches to by default.
    static func hostname() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        return String(cString: buffer)
    }

    // MARK: - Files

    func volumeFile(_ id: String) -> String {
        Path.join(volumeDirectory, FileNameEncoding.encode(id) + ".img")
    }

    func snapshotFile(_ id: SnapshotID) -> String {
        Path.join(snapshotDirectory, FileNameEncoding.encode(id.description) + ".img")
    }

    /// What a crash can leave: half copies (`*.partial`) and files whose record is gone (a delete
    /// that removed the record first never happens; a create writes its record before its file).
    private func removeLeftovers() {
        let known = Set(volumes.all().map { volumeFile($0.key) } + snapshots.all().map { snapshotFile($0.record.id) })
        for directory in [volumeDirectory, snapshotDirectory] {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
                let path = Path.join(directory, name)
                if name.hasSuffix(".partial") || (name.hasSuffix(".img") && !known.contains(path)) {
                    logger.notice("removing a file left by an interrupted operation", metadata: ["file": .string(path)])
                    unlink(path)
                }
            }
        }
        for file in volumes.unreadable + snapshots.unreadable {
            logger.error("unreadable metadata left untouched", metadata: ["file": .string(file)])
        }
    }

    // MARK: - Readiness and sizes

    func readiness() async -> IdentityService.Readiness {
        access(stateDirectory, W_OK) == 0 ? .ready : .notReady("the state directory \(stateDirectory) is not writable")
    }

    /// Whole MiB, at most the size of the filesystem that holds the state directory: a sparse
    /// file may promise more than is free, but never more than the whole filesystem.
    func allocationSize(forRequested requestedBytes: Int64) throws -> Int64 {
        let (rounded, overflow) = requestedBytes.addingReportingOverflow(Self.granularity - 1)
        guard !overflow else { throw CSIError.outOfRange("\(requestedBytes) bytes is too large") }
        let size = rounded / Self.granularity * Self.granularity
        if let maximum = maximumVolumeBytes(), size > maximum {
            throw CSIError.outOfRange(
                "\(requestedBytes) bytes is more than the local engine holds: at most \(maximum) bytes, the size of the filesystem of \(stateDirectory)")
        }
        return size
    }

    /// The size of the filesystem holding the state directory, in whole MiB.
    func maximumVolumeBytes() -> Int64? {
        var info = statvfs()
        guard statvfs(stateDirectory, &info) == 0 else { return nil }
        let (total, overflow) = Int64(info.f_blocks).multipliedReportingOverflow(by: Int64(info.f_frsize))
        return overflow ? nil : total / Self.granularity * Self.granularity
    }

    // MARK: - Volumes

    func createVolume(_ request: VolumeRequest) async throws -> VolumeInfo {
        if let existing = volumes.load(request.name) {
            let existingName = existing.csiName ?? existing.id
            guard existingName == request.requestedName else {
                throw CSIError.alreadyExists(
                    "volume \(request.name) was created for the name \(PathRules.quoted(existingName)), whose shortened form is the same")
            }
            guard existing.capacityBytes == request.capacityBytes, existing.source == request.source,
                existing.parameters == request.parameters
            else {
                throw CSIError.alreadyExists(
                    "volume \(request.name) exists with another size, parameters or source (\(existing.capacityBytes) bytes)")
            }
            if existing.state == .ready { return info(existing) }
            guard existing.state == .creating else {
                throw CSIError.aborted("volume \(request.name) is being deleted; retry after the delete finishes")
            }
        }
        let sourceFile = try sourceFile(of: request.source, capacity: request.capacityBytes)
        var volume = volumes.load(request.name)
            ?? LocalVolume(
                id: request.name, csiName: request.requestedName == request.name ? nil : request.requestedName,
                capacityBytes: request.capacityBytes, parameters: request.parameters,
                source: request.source, state: .creating, createdAt: Date(), attachments: [:])
        try volumes.save(volume, as: volume.id)
        FailPoints.hit("create.recorded")
        let file = volumeFile(volume.id)
        if let sourceFile {
            let method = try FileCopier.copy(from: sourceFile, to: file)
            logger.info("volume data copied", metadata: ["volume_id": .string(volume.id), "method": .string(method.rawValue)])
        } else {
            try createSparseFile(file)
        }
        do {
            try setSize(file, volume.capacityBytes)
        } catch let error as CSIError where error.code == .outOfRange {
            // A size the filesystem cannot hold is the caller's mistake, not an interrupted
            // create: nothing of it stays, so the name is free for a request that fits.
            unlink(file)
            try AtomicFile.syncDirectory(volumeDirectory)
            try volumes.delete(volume.id)
            throw error
        }
        FailPoints.hit("create.file-written")
        volume.state = .ready
        try volumes.save(volume, as: volume.id)
        logger.info("volume created", metadata: ["volume_id": .string(volume.id), "capacity_bytes": .stringConvertible(volume.capacityBytes)])
        return info(volume)
    }

    /// The file a new volume's data comes from, checked against the requested size.
    private func sourceFile(of source: VolumeSource?, capacity: Int64) throws -> String? {
        switch source {
        case nil:
            return nil
        case .snapshot(let id):
            guard let snapshot = snapshots.load(id.description), snapshot.state == .ready else {
                throw CSIError.notFound("source snapshot \(id) does not exist")
            }
            guard capacity >= snapshot.sizeBytes else {
                throw CSIError.outOfRange("the volume must hold the snapshot's \(snapshot.sizeBytes) bytes; \(capacity) requested")
            }
            return snapshotFile(id)
        case .volume(let id):
            guard let volume = volumes.load(id), volume.state == .ready else {
                throw CSIError.notFound("source volume \(id) does not exist")
            }
            guard capacity >= volume.capacityBytes else {
                throw CSIError.outOfRange("the clone must hold the source's \(volume.capacityBytes) bytes; \(capacity) requested")
            }
            return volumeFile(id)
        }
    }

    private func createSparseFile(_ path: String) throws {
        let temporary = path + ".partial"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw CSIError.internal("cannot create \(temporary): \(String(cString: strerror(errno)))") }
        fsync(fd)
        close(fd)
        guard rename(temporary, path) == 0 else {
            throw CSIError.internal("cannot rename \(temporary): \(String(cString: strerror(errno)))")
        }
        try AtomicFile.syncDirectory(volumeDirectory)
    }

    /// Grows a file to `size` (sparse: no blocks are written).
    private func setSize(_ path: String, _ size: Int64) throws {
        var info = stat()
        guard stat(path, &info) == 0 else { throw CSIError.internal("cannot stat \(path): \(String(cString: strerror(errno)))") }
        guard Int64(info.st_size) < size else { return }
        guard truncate(path, off_t(size)) == 0 else {
            let reason = errno
            if reason == EFBIG || reason == EINVAL {
                throw CSIError.outOfRange(
                    "\(size) bytes is more than the local engine's filesystem holds in one file (\(String(cString: strerror(reason))))")
            }
            throw CSIError.internal("cannot size \(path) to \(size) bytes: \(String(cString: strerror(reason)))")
        }
    }

    func deleteVolume(_ id: String) async throws {
        guard var volume = volumes.load(id) else { return }
        if let node = volume.attachments.keys.sorted().first {
            throw CSIError.failedPrecondition("volume \(id) is still published on node \(node); unpublish it first")
        }
        volume.state = .deleting
        try volumes.save(volume, as: id)
        unlink(volumeFile(id))
        try AtomicFile.syncDirectory(volumeDirectory)
        try volumes.delete(id)
        logger.info("volume deleted", metadata: ["volume_id": .string(id)])
    }

    func volume(_ id: String) async throws -> VolumeInfo? {
        guard let volume = volumes.load(id), volume.state == .ready else { return nil }
        return info(volume)
    }

    func listVolumes(maxEntries: Int, startingToken: String) async throws -> Page<VolumeInfo> {
        let ready = volumes.all().map(\.record).filter { $0.state == .ready }
        return try page(ready.map(info), key: \.id, maxEntries: maxEntries, startingToken: startingToken)
    }

    func expandVolume(_ id: String, to bytes: Int64) async throws -> Int64 {
        guard var volume = volumes.load(id), volume.state == .ready else {
            throw CSIError.notFound("volume \(id) does not exist")
        }
        if bytes < volume.capacityBytes {
            throw CSIError.outOfRange("volume \(id) has \(volume.capacityBytes) bytes; shrinking to \(bytes) is not supported")
        }
        guard bytes > volume.capacityBytes else { return volume.capacityBytes }
        try setSize(volumeFile(id), bytes)
        volume.capacityBytes = bytes
        try volumes.save(volume, as: id)
        logger.info("volume expanded", metadata: ["volume_id": .string(id), "capacity_bytes": .stringConvertible(bytes)])
        return bytes
    }

    func capacity(parameters: [String: String]) async throws -> CapacityInfo {
        var info = statvfs()
        guard statvfs(stateDirectory, &info) == 0 else {
            throw CSIError.internal("cannot statfs \(stateDirectory): \(String(cString: strerror(errno)))")
        }
        let available = Int64(info.f_bavail) * Int64(info.f_frsize)
        return CapacityInfo(availableBytes: available / Self.granularity * Self.granularity, maximumVolumeBytes: maximumVolumeBytes())
    }

    // MARK: - Attach

    func publishVolume(_ id: String, node: String, access: VolumeAccess, readOnly: Bool) async throws -> [String: String] {
        guard var volume = volumes.load(id), volume.state == .ready else {
            throw CSIError.notFound("volume \(id) does not exist")
        }
        guard nodes.contains(node) else {
            throw CSIError.notFound(
                "node \(node) does not exist: the local engine attaches to \(nodes.sorted().joined(separator: ", ")) (the controller's --node)")
        }
        if let other = volume.attachments.keys.sorted().first(where: { $0 != node }) {
            throw CSIError.failedPrecondition("volume \(id) is already published on node \(other); a volume is attached to one node at a time")
        }
        if let existing = volume.attachments[node] {
            guard existing.readOnly == readOnly else {
                throw CSIError.alreadyExists(
                    "volume \(id) is already published on \(node) \(existing.readOnly ? "read-only" : "read-write")")
            }
        } else {
            volume.attachments[node] = LocalVolume.Attachment(readOnly: readOnly)
            try volumes.save(volume, as: id)
        }
        return ["transport": "loop", "file": volumeFile(id)]
    }

    func unpublishVolume(_ id: String, node: String?) async throws {
        guard var volume = volumes.load(id) else { return }
        if let node {
            guard volume.attachments.removeValue(forKey: node) != nil else { return }
        } else {
            guard !volume.attachments.isEmpty else { return }
            volume.attachments = [:]
        }
        try volumes.save(volume, as: id)
    }

    // MARK: - Snapshots

    func createSnapshot(_ id: SnapshotID, requestedName: String, parameters: [String: String]) async throws -> SnapshotInfo {
        if let other = snapshots.all().map(\.record).first(where: { $0.id.name == id.name && $0.id.volumeID != id.volumeID }) {
            throw CSIError.alreadyExists("snapshot \(id.name) already exists for volume \(other.id.volumeID)")
        }
        if let existing = snapshots.load(id.description), (existing.csiName ?? existing.id.name) != requestedName {
            throw CSIError.alreadyExists(
                "snapshot \(id) was created for the name \(PathRules.quoted(existing.csiName ?? existing.id.name)), whose shortened form is the same")
        }
        if let existing = snapshots.load(id.description), existing.state == .ready { return info(existing) }
        guard let volume = volumes.load(id.volumeID), volume.state == .ready else {
            throw CSIError.notFound("source volume \(id.volumeID) does not exist")
        }
        var snapshot = snapshots.load(id.description)
            ?? LocalSnapshot(
                id: id, csiName: requestedName == id.name ? nil : requestedName, sizeBytes: volume.capacityBytes,
                state: .creating, createdAt: Date())
        try snapshots.save(snapshot, as: id.description)
        FailPoints.hit("snapshot.recorded")
        let method = try FileCopier.copy(from: volumeFile(id.volumeID), to: snapshotFile(id))
        FailPoints.hit("snapshot.copied")
        snapshot.state = .ready
        try snapshots.save(snapshot, as: id.description)
        logger.info("snapshot created", metadata: ["snapshot_id": .string(id.description), "method": .string(method.rawValue)])
        return info(snapshot)
    }

    func deleteSnapshot(_ id: SnapshotID) async throws {
        guard var snapshot = snapshots.load(id.description) else { return }
        snapshot.state = .deleting
        try snapshots.save(snapshot, as: id.description)
        unlink(snapshotFile(id))
        try AtomicFile.syncDirectory(snapshotDirectory)
        try snapshots.delete(id.description)
    }

    func snapshot(_ id: SnapshotID) async throws -> SnapshotInfo? {
        guard let snapshot = snapshots.load(id.description), snapshot.state == .ready else { return nil }
        return info(snapshot)
    }

    func listSnapshots(sourceVolumeID: String?, maxEntries: Int, startingToken: String) async throws -> Page<SnapshotInfo> {
        let ready = snapshots.all().map(\.record).filter {
            $0.state == .ready && (sourceVolumeID == nil || $0.id.volumeID == sourceVolumeID)
        }
        return try page(ready.map(info), key: { $0.id.description }, maxEntries: maxEntries, startingToken: startingToken)
    }

    // MARK: - Conversions

    private func info(_ volume: LocalVolume) -> VolumeInfo {
        let present = access(volumeFile(volume.id), F_OK) == 0
        return VolumeInfo(
            id: volume.id, capacityBytes: volume.capacityBytes, context: ["openebs.io/cas-type": "local"],
            source: volume.source, publishedNodes: volume.attachments.keys.sorted(),
            condition: present
                ? VolumeHealth(abnormal: false, message: "the volume file is present")
                : VolumeHealth(abnormal: true, message: "the volume file \(volumeFile(volume.id)) is missing"))
    }

    private func info(_ snapshot: LocalSnapshot) -> SnapshotInfo {
        SnapshotInfo(id: snapshot.id, sizeBytes: snapshot.sizeBytes, creationTime: snapshot.createdAt, readyToUse: true)
    }

    /// Pages a list sorted by `key`; the token is the key of the first item of the next page.
    private func page<Item>(
        _ items: [Item], key: (Item) -> String, maxEntries: Int, startingToken: String
    ) throws -> Page<Item> {
        var start = 0
        if !startingToken.isEmpty {
            guard let token = Data(base64Encoded: startingToken).flatMap({ String(data: $0, encoding: .utf8) }),
                token.hasPrefix("local:")
            else {
                throw CSIError.aborted("starting_token \(PathRules.quoted(startingToken)) was not issued by this plugin")
            }
            let from = String(token.dropFirst("local:".count))
            start = items.firstIndex { key($0) >= from } ?? items.count
        }
        let count = maxEntries > 0 ? maxEntries : items.count
        let end = min(items.count, start + count)
        let next = end < items.count ? Data("local:\(key(items[end]))".utf8).base64EncodedString() : ""
        return Page(items: Array(items[start..<end]), nextToken: next)
    }
}

/// A volume of the local engine as stored in meta/volumes.
struct LocalVolume: Codable, Sendable {
    enum State: String, Codable, Sendable {
        case creating, ready, deleting
    }

    struct Attachment: Codable, Sendable, Equatable {
        var readOnly: Bool
    }

    var id: String
    /// The CSI name of the CreateVolume when `id` is its shortened form.
    var csiName: String?
    var capacityBytes: Int64
    var parameters: [String: String]
    var source: VolumeSource?
    var state: State
    var createdAt: Date
    var attachments: [String: Attachment]
}

/// A snapshot of the local engine as stored in meta/snapshots.
struct LocalSnapshot: Codable, Sendable {
    var id: SnapshotID
    /// The CSI name of the CreateSnapshot when `id.name` is its shortened form.
    var csiName: String?
    var sizeBytes: Int64
    var state: LocalVolume.State
    var createdAt: Date
}
