import FoundationEssentials
import Glibc
import Synchronization

/// Finds programs the way execvp does, to tell an operator at start-up (and in Probe) which
/// tools are missing instead of failing in the middle of a NodeStageVolume.
public enum ProgramLocator {
    public static func find(_ name: String, path: String? = getenv("PATH").map { String(cString: $0) }) -> String? {
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

/// The programs a plugin needs, looked up until each is found once: Probe runs every few seconds,
/// and a program that was there stays there (a missing one is looked for again each time).
public final class RequiredPrograms: Sendable {
    private let remaining: Mutex<[String]>

    public init(_ programs: [String]) {
        remaining = Mutex(programs)
    }

    /// The programs still missing.
    public func missing() -> [String] {
        remaining.withLock { remaining in
            remaining = ProgramLocator.missing(remaining)
            return remaining
        }
    }
}
