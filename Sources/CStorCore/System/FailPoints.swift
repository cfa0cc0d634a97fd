import FoundationEssentials
import Glibc

/// Crash injection for the crash-safety tests: `CSTOR_CSI_CRASH_AT=<point>[@<milliseconds>]`
/// makes the process kill itself with SIGKILL when it reaches the named point (after the delay,
/// so that a crash can land in the middle of a running mkfs). Unset — always, in production — a
/// fail point costs one comparison.
///
/// Points are named `<rpc>.<step>`, for example `stage.formatting`, `publish.bound`,
/// `create.file-written`; the list is in docs/testing.md.
public enum FailPoints {
    private static let configured: (point: String, delay: Int)? = {
        guard let value = ProcessInfo.processInfo.environment["CSTOR_CSI_CRASH_AT"], !value.isEmpty else { return nil }
        let parts = value.split(separator: "@", maxSplits: 1)
        return (String(parts[0]), parts.count > 1 ? Int(parts[1]) ?? 0 : 0)
    }()

    public static func hit(_ point: String) {
        guard let configured, configured.point == point else { return }
        let crash: @Sendable () -> Void = {
            StandardError.write("fail point \(point): killing the process\n")
            kill(getpid(), SIGKILL)
        }
        if configured.delay == 0 {
            crash()
        } else {
            do {
                try DetachedThread.start(name: "cstor-failpoint") {
                    usleep(UInt32(configured.delay) * 1000)
                    crash()
                }
            } catch {
                crash()
            }
        }
    }
}
