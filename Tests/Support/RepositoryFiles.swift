import Foundation

/// Files of this repository that tests read at run time: the cStor CRDs (`deploy/crds`) and the
/// chart's RBAC as rendered (`deploy/rbac`). Found from this source file's path, so they are the
/// files of the checkout the tests were built from.
public enum RepositoryFiles {
    /// The repository's root directory.
    public static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // Tests/Support
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()

    /// `deploy/crds/<name>`, e.g. `cstorvolumeconfigs.yaml`.
    public static func crd(_ name: String) -> URL {
        root.appendingPathComponent("deploy/crds/\(name)")
    }

    /// Every CRD file under `deploy/crds`, sorted by name.
    public static func crdFiles() throws -> [URL] {
        let directory = root.appendingPathComponent("deploy/crds")
        return try FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "yaml" }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
    }

    /// The chart's RBAC objects as `scripts/check-chart` renders them with the default values.
    public static var chartRBAC: URL {
        root.appendingPathComponent("deploy/rbac/cstor-csi.yaml")
    }

    /// What the chart's `node.remount.restartPods` adds to `chartRBAC` (the node's ClusterRole and
    /// its binding), rendered by `scripts/check-chart` too.
    public static var chartRestartPodsRBAC: URL {
        root.appendingPathComponent("deploy/rbac/cstor-csi-restart-pods.yaml")
    }
}
