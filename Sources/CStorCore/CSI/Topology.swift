/// This driver's topology: one segment, the node's name, under the key openebs/cstor-csi 3.x
/// advertised. The node reports it in NodeGetInfo; the controller reads the node a volume's first
/// consumer prefers from CreateVolume's accessibility requirements (csi-provisioner sends them with
/// `--feature-gates=Topology=true`).
public enum Topology {
    public static let nodeKey = "topology.cstor.openebs.io/nodeName"

    /// The node named by the first preferred topology that has this driver's key, else by the
    /// first requisite one (upstream's order); nil when none names a node.
    public static func preferredNode(_ requirement: Csi_V1_TopologyRequirement) -> String? {
        for topology in requirement.preferred + requirement.requisite {
            if let node = topology.segments[nodeKey], !node.isEmpty { return node }
        }
        return nil
    }
}
