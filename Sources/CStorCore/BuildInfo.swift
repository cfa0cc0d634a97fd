/// Facts about this build, reported by GetPluginInfo and at start-up.
public enum BuildInfo {
    /// The release version of cstor-csi; `vendor_version` in GetPluginInfo.
    public static let version = "0.1.0"

    /// `debug` or `release`, as compiled.
    public static var configuration: String {
        #if DEBUG
            "debug"
        #else
            "release"
        #endif
    }

    /// The default CSI driver name, the same as openebs/cstor-csi's so existing volumes keep working.
    public static let defaultDriverName = "cstor.csi.openebs.io"
}
