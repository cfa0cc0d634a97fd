import CStorCore
import CStorKubernetes
import CStorModel

extension Csi_V1_VolumeCapability {
    /// A mount capability with the given filesystem and access mode.
    public static func mount(
        _ fsType: String = "ext4", mode: Csi_V1_VolumeCapability.AccessMode.Mode = .singleNodeWriter,
        flags: [String] = []
    ) -> Self {
        .with {
            $0.mount = .with {
                $0.fsType = fsType
                $0.mountFlags = flags
            }
            $0.accessMode = .with { $0.mode = mode }
        }
    }

    /// A raw block capability.
    public static func block(mode: Csi_V1_VolumeCapability.AccessMode.Mode = .singleNodeWriter) -> Self {
        .with {
            $0.block = .init()
            $0.accessMode = .with { $0.mode = mode }
        }
    }
}
