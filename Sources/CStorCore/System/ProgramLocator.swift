import Foundation

/// Finds programs the way execvp does, to tell an operator at start-up (and in Probe) which
/// tools are missing instead of failing in the middle of a NodeStageVolume.
public enum ProgramLocator {
    public static func find(_ name: String, path: String? = ProcessInfo.processInfo.environment["PATH"]) -> String? {
        if name.contains("/") {
            return FileManager.default.isExecutableFile(atPath: name) ? name : nil
        }
        let directories = (path ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin").split(separator: ":")
        for directory in directories {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// The names among `programs` that cannot be found.
    public static func missing(_ programs: [String]) -> [String] {
        programs.filter { find($0) == nil }
    }
}
