import SwiftProtobuf

/// How a workload uses a volume, decoded from a CSI VolumeCapability into the few cases this
/// driver supports: a mounted ext4/xfs filesystem or a raw block device, by one node.
public struct VolumeAccess: Sendable, Equatable, Codable {
    public enum Kind: Sendable, Equatable, Codable {
        case mount(fsType: String, flags: [String])
        case block
    }

    public enum Mode: String, Sendable, Equatable, Codable, CaseIterable {
        case singleNodeWriter = "SINGLE_NODE_WRITER"
        case singleNodeReaderOnly = "SINGLE_NODE_READER_ONLY"
        case singleNodeSingleWriter = "SINGLE_NODE_SINGLE_WRITER"
        case singleNodeMultiWriter = "SINGLE_NODE_MULTI_WRITER"

        public var isReadOnly: Bool { self == .singleNodeReaderOnly }
    }

    public var kind: Kind
    public var mode: Mode

    public init(kind: Kind, mode: Mode) {
        self.kind = kind
        self.mode = mode
    }

    public var isBlock: Bool { kind == .block }

    public var fsType: String? {
        if case .mount(let fsType, _) = kind { return fsType }
        return nil
    }

    public var mountFlags: [String] {
        if case .mount(_, let flags) = kind { return flags }
        return []
    }

    /// The filesystem used when a capability names none.
    public static let defaultFsType = "ext4"
    public static let supportedFsTypes: Set<String> = ["ext4", "xfs"]

    /// Mount options that would change what kind of mount is made rather than how it behaves.
    static let structuralFlags: Set<String> = ["bind", "rbind", "remount", "move", "loop", "defaults"]
    /// Options of filesystems that keep no owners or modes (vfat, ntfs, iso9660): ext4 and xfs
    /// refuse them at mount time.
    static let ownershipFlags: Set<String> = ["uid", "gid", "umask", "fmask", "dmask", "mode"]

    /// Why a capability cannot be served: malformed requests are the client's mistake
    /// (InvalidArgument); unsupported ones are valid CSI that this driver cannot do (the RPC
    /// decides the code: InvalidArgument, FailedPrecondition, or an unconfirmed validation).
    public enum Problem: Error, Sendable, Equatable {
        case malformed(String)
        case unsupported(String)

        public var message: String {
            switch self {
            case .malformed(let message), .unsupported(let message): message
            }
        }
    }

    /// Decodes one capability or says what is wrong with it.
    public static func decode(_ capability: Csi_V1_VolumeCapability) -> Result<VolumeAccess, Problem> {
        let mode: Mode
        switch capability.accessMode.mode {
        case .singleNodeWriter: mode = .singleNodeWriter
        case .singleNodeReaderOnly: mode = .singleNodeReaderOnly
        case .singleNodeSingleWriter: mode = .singleNodeSingleWriter
        case .singleNodeMultiWriter: mode = .singleNodeMultiWriter
        case .unknown:
            return .failure(.malformed("the volume capability has no access mode"))
        case .multiNodeReaderOnly, .multiNodeSingleWriter, .multiNodeMultiWriter:
            return .failure(
                .unsupported(
                    "access mode \(capability.accessMode.mode) is not supported: a cStor volume is attached to one node at a time"))
        case .UNRECOGNIZED(let value):
            return .failure(.malformed("access mode \(value) is not a CSI access mode"))
        }
        switch capability.accessType {
        case .block:
            return .success(VolumeAccess(kind: .block, mode: mode))
        case .mount(let mount):
            let fsType = mount.fsType.isEmpty ? defaultFsType : mount.fsType.lowercased()
            guard supportedFsTypes.contains(fsType) else {
                return .failure(.unsupported("filesystem \(PathRules.quoted(mount.fsType)) is not supported (ext4, xfs)"))
            }
            for flag in mount.mountFlags {
                if let problem = mountFlagProblem(flag) { return .failure(.malformed(problem)) }
            }
            if !mount.volumeMountGroup.isEmpty {
                return .failure(.unsupported("volume_mount_group is not supported (VOLUME_MOUNT_GROUP is not advertised)"))
            }
            return .success(VolumeAccess(kind: .mount(fsType: fsType, flags: mount.mountFlags), mode: mode))
        case nil:
            return .failure(.malformed("the volume capability has neither mount nor block access"))
        }
    }

    static func mountFlagProblem(_ flag: String) -> String? {
        guard !flag.isEmpty, flag.utf8.count <= 256 else { return "mount flag \(PathRules.quoted(flag)) is empty or too long" }
        let allowed = flag.unicodeScalars.allSatisfy { scalar in
            switch scalar {
            case "a"..."z", "A"..."Z", "0"..."9", "_", "-", ".", "=", ":", "/", "+": true
            default: false
            }
        }
        guard allowed else { return "mount flag \(PathRules.quoted(flag)) contains characters mount options cannot have" }
        guard let first = flag.unicodeScalars.first, first.properties.isAlphabetic else {
            return "mount flag \(PathRules.quoted(flag)) is not a mount option: options start with a letter (give \"noatime\", not \"-o noatime\")"
        }
        let key = flag.split(separator: "=", maxSplits: 1).first.map { String($0).lowercased() } ?? ""
        guard !ownershipFlags.contains(key) else {
            return "mount flag \(flag) is not an ext4 or xfs option: these filesystems keep owners and modes on disk (set fsGroup in the pod instead)"
        }
        guard !structuralFlags.contains(flag.lowercased()) else {
            return "mount flag \(flag) is not allowed: it changes the kind of mount the driver makes"
        }
        return nil
    }

    /// Decodes a required capability: missing or malformed is InvalidArgument, unsupported is
    /// the error `unsupported` builds (the RPCs differ here, see the CSI error tables).
    public static func require(
        _ capability: Csi_V1_VolumeCapability?, field: String = "volume_capability",
        unsupported: (String) -> CSIError = CSIError.invalidArgument
    ) throws -> VolumeAccess {
        guard let capability else { throw CSIError.invalidArgument("\(field) is required") }
        switch decode(capability) {
        case .success(let access): return access
        case .failure(.malformed(let message)): throw CSIError.invalidArgument("\(field): \(message)")
        case .failure(.unsupported(let message)): throw unsupported("\(field): \(message)")
        }
    }

    /// Decodes a present capability for RPCs that check every field's form before what the
    /// plugin cannot do: a malformed capability throws InvalidArgument now; an unsupported one is
    /// returned, for the caller to refuse with its own code once every field was checked.
    public static func wellFormed(
        _ capability: Csi_V1_VolumeCapability, field: String = "volume_capability"
    ) throws -> Result<VolumeAccess, Problem> {
        switch decode(capability) {
        case .success(let access): return .success(access)
        case .failure(.malformed(let message)): throw CSIError.invalidArgument("\(field): \(message)")
        case .failure(let unsupported): return .failure(unsupported)
        }
    }

    /// The CSI form, for responses (ValidateVolumeCapabilities confirms what it was asked).
    public var capability: Csi_V1_VolumeCapability {
        .with { capability in
            switch kind {
            case .block:
                capability.block = .init()
            case .mount(let fsType, let flags):
                capability.mount = .with {
                    $0.fsType = fsType
                    $0.mountFlags = flags
                }
            }
            capability.accessMode = .with {
                switch mode {
                case .singleNodeWriter: $0.mode = .singleNodeWriter
                case .singleNodeReaderOnly: $0.mode = .singleNodeReaderOnly
                case .singleNodeSingleWriter: $0.mode = .singleNodeSingleWriter
                case .singleNodeMultiWriter: $0.mode = .singleNodeMultiWriter
                }
            }
        }
    }
}
