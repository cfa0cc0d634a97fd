import CStorCore
import CStorKubernetes
import CStorModel
import FoundationEssentials
import Glibc

/// A storage backend behind the Controller service (DESIGN.md §3): `cstor` (CVC/CV/CVA through
/// the Kubernetes API, iSCSI on the node) or `local` (sparse files in a state directory, loop
/// devices on the node). Everything above an engine — validation, locks, idempotency rules, CSI
/// codes — is shared code in `ControllerService`.
///
/// Every method is idempotent: creating what exists with the same request returns it, deleting
/// what is gone succeeds. Engines throw `CSIError` (or errors that map to one) with messages an
/// operator can act on.
protocol VolumeEngine: Sendable {
    /// `cstor` or `local`, as logged at start and shown in GetPluginInfo's manifest.
    var name: String { get }
    var features: EngineFeatures { get }

    /// Whether the engine can serve now (the API server answers, the CRDs exist, ...).
    func readiness() async -> IdentityService.Readiness

    /// The size a volume of `requestedBytes` gets (cStor: whole GiB). Used to honour limit_bytes
    /// before anything is created.
    func allocationSize(forRequested requestedBytes: Int64) throws -> Int64

    func createVolume(_ request: VolumeRequest) async throws -> VolumeInfo
    func deleteVolume(_ id: String) async throws
    func volume(_ id: String) async throws -> VolumeInfo?
    /// A page of volumes; an unusable token is `CSIError.aborted`.
    func listVolumes(maxEntries: Int, startingToken: String) async throws -> Page<VolumeInfo>
    /// Grows the volume to at least `bytes`; returns its new capacity.
    func expandVolume(_ id: String, to bytes: Int64) async throws -> Int64
    func capacity(parameters: [String: String]) async throws -> CapacityInfo

    /// Attaches the volume to a node; returns the publish_context the node needs.
    func publishVolume(_ id: String, node: String, access: VolumeAccess, readOnly: Bool) async throws -> [String: String]
    /// Detaches the volume from a node (every node when `node` is nil).
    func unpublishVolume(_ id: String, node: String?) async throws

    /// The id a CreateSnapshot of `name` gets: where the engine stores the snapshot under which
    /// name (`SnapshotID`; InvalidArgument for a name it cannot take).
    func snapshotID(name: String, sourceVolumeID: String) throws -> SnapshotID
    /// The volume ids this engine can hold; CreateVolume names beyond them get the shortened form.
    var volumeNames: SnapshotID.NameRule { get }
    /// Cuts the snapshot `id` (from `snapshotID`) for the CSI name `requestedName`.
    func createSnapshot(_ id: SnapshotID, requestedName: String, parameters: [String: String]) async throws -> SnapshotInfo
    func deleteSnapshot(_ id: SnapshotID) async throws
    func snapshot(_ id: SnapshotID) async throws -> SnapshotInfo?
    func listSnapshots(sourceVolumeID: String?, maxEntries: Int, startingToken: String) async throws -> Page<SnapshotInfo>
}


/// Optional controller features an engine really provides; only these are advertised. Expansion is
/// not optional: GetPluginCapabilities advertises it in both binaries, whatever the engine.
struct EngineFeatures: Sendable, OptionSet {
    let rawValue: Int
    static let snapshots = EngineFeatures(rawValue: 1 << 0)
    static let cloneFromVolume = EngineFeatures(rawValue: 1 << 1)
    static let capacity = EngineFeatures(rawValue: 1 << 3)
    static let volumeCondition = EngineFeatures(rawValue: 1 << 4)
}

/// A validated CreateVolume.
struct VolumeRequest: Sendable, Equatable {
    /// The volume's id: the CSI name, or its shortened form when the engine cannot hold the name
    /// (`VolumeEngine.volumeNames`).
    var name: String
    /// The CSI name of the CreateVolume, recorded when it differs from `name` so that another name
    /// with the same shortened form is AlreadyExists.
    var requestedName: String
    /// The size to allocate (already rounded by `allocationSize`).
    var capacityBytes: Int64
    var access: [VolumeAccess]
    var parameters: [String: String]
    var source: VolumeSource?
    /// The `openebs.io/persistent-volume-claim` name when the provisioner passed it.
    var claimName: String?
    var claimNamespace: String?
    /// The node the provisioner prefers (`accessibility_requirements`, this driver's topology key).
    var preferredNode: String? = nil
}

enum VolumeSource: Sendable, Equatable, Codable {
    case snapshot(SnapshotID)
    case volume(String)
}

extension SnapshotID: Codable {
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let id = SnapshotID(parsing: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a snapshot id: \(text)"))
        }
        self = id
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

struct VolumeInfo: Sendable {
    var id: String
    var capacityBytes: Int64
    var context: [String: String]
    var source: VolumeSource?
    var publishedNodes: [String]
    /// nil when the engine cannot tell.
    var condition: VolumeHealth?
}

struct VolumeHealth: Sendable, Equatable {
    var abnormal: Bool
    var message: String
}

struct SnapshotInfo: Sendable {
    var id: SnapshotID
    var sizeBytes: Int64
    var creationTime: Date
    var readyToUse: Bool
}

struct CapacityInfo: Sendable {
    var availableBytes: Int64
    var maximumVolumeBytes: Int64?
}

struct Page<Item: Sendable>: Sendable {
    var items: [Item]
    var nextToken: String
}
