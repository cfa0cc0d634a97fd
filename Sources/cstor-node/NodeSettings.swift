import CStorCore

/// The node plugin's configuration, decided once at start-up from the flags.
struct NodeSettings: Sendable {
    var nodeID: String
    /// Kubelet's root directory; staging and publish paths must lie below it.
    var kubeletDirectory: String
    /// Directories below which staging and target paths are accepted (normalized).
    var allowedRoots: [String]
    /// The same, resolved once with realpath: every path below them is opened without following
    /// a symlink.
    var paths: PathConfinement
    var maxVolumesPerNode: Int64
    /// The CSI driver name; kubelet's staging paths of this driver contain it.
    var driverName: String = BuildInfo.defaultDriverName
    /// Where the node keeps its records (and files it had to move aside).
    var stateDirectory: String = ""
    /// How long a staging mount or a path may take to answer stat/statfs before it counts as broken.
    var pathProbeTimeout: Duration = .seconds(5)
    /// Where the kernel's iSCSI sessions and their disks are read (`--iscsi-sysfs`).
    var iscsiSysfs = ISCSISysfs()

    init(
        nodeID: String, kubeletDirectory: String, allowedRoots: [String], maxVolumesPerNode: Int64,
        driverName: String = BuildInfo.defaultDriverName, stateDirectory: String = ""
    ) {
        self.nodeID = nodeID
        self.kubeletDirectory = kubeletDirectory
        self.allowedRoots = allowedRoots
        self.paths = PathConfinement(roots: allowedRoots)
        self.maxVolumesPerNode = maxVolumesPerNode
        self.driverName = driverName
        self.stateDirectory = stateDirectory
    }

    /// The topology key of this driver: the node a volume is attached to. One key, never every label.
    static let topologyKey = Topology.nodeKey
}
