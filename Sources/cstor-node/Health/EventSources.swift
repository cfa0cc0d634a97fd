import CLibMount
import CStorCore
import FoundationEssentials
import Glibc
import Logging
import Synchronization

/// Why the health monitor wakes up.
enum WakeReason: Sendable, Equatable {
    /// The kernel mount table changed (a mount, unmount or remount anywhere).
    case mountTableChanged
    /// The kernel logged something about storage: a filesystem error, an I/O error, an iSCSI
    /// connection error. Carries the message.
    case kernelMessage(String)
    /// The slow periodic sweep.
    case sweep
}

/// The monitor's pending wake-ups, coalesced: whatever arrives while it checks (a burst of mount
/// table changes, many kernel lines) makes one more check, not one per event.
final class WakeUps: Sendable {
    struct Pending: Sendable, Equatable {
        var mountTableChanged = false
        var sweep = false
        /// The kernel messages since the last check (the first 32).
        var kernelMessages: [String] = []
    }

    private let pending = Mutex(Pending())
    /// Yields once per batch of signals; its single consumer takes the batch with `take()`.
    let stream: AsyncStream<Void>
    private let continuation: AsyncStream<Void>.Continuation

    init() {
        (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    func signal(_ reason: WakeReason) {
        pending.withLock { state in
            switch reason {
            case .mountTableChanged: state.mountTableChanged = true
            case .sweep: state.sweep = true
            case .kernelMessage(let message): if state.kernelMessages.count < 32 { state.kernelMessages.append(message) }
            }
        }
        continuation.yield()
    }

    /// Everything pending, emptied; nil when nothing is (already taken with an earlier batch).
    func take() -> Pending? {
        pending.withLock { state -> Pending? in
            let taken = state
            state = Pending()
            return taken == Pending() ? nil : taken
        }
    }

    func finish() {
        continuation.finish()
    }
}

/// Which kernel messages concern the node's volumes.
enum KernelMessages {
    /// Whether `message` names one of `deviceNames` (kernel names: `sdb`, `loop3`) as a whole
    /// word, or the iSCSI session (`sessionN`, `connectionN:`) of one of them.
    static func concerns(_ message: String, deviceNames: [String], sessionOf: (String) -> Int?) -> Bool {
        let words = Set(message.split(whereSeparator: { !($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }).map(String.init))
        for name in deviceNames {
            if words.contains(name) { return true }
            if let session = sessionOf(name), words.contains("session\(session)") || message.contains("connection\(session):") {
                return true
            }
        }
        return false
    }

    /// The iSCSI session number of a disk (`/sys/block/sdb` resolves through `…/session4/…`).
    static func iscsiSession(ofDisk name: String, sysfs: String = "/sys") -> Int? {
        guard let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "\(sysfs)/block/\(name)") else { return nil }
        return path.split(separator: "/").lazy.compactMap { $0.hasPrefix("session") ? Int($0.dropFirst("session".count)) : nil }.first
    }
}

/// A thread that blocks in poll(2) on one file descriptor and reports readiness through a
/// callback; closing it wakes the thread through a pipe. The monitor's event sources are built
/// on it so that no task of the concurrency pool ever blocks.
final class PollingThread: @unchecked Sendable {
    private let wakePipe: (read: Int32, write: Int32)

    /// `onReadable` runs on the polling thread each time `fd` is readable; it must drain it.
    init(name: String, fd: Int32, onReadable: @escaping @Sendable () -> Void) throws {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw DeviceError(device: name, detail: "pipe: \(String(cString: strerror(errno)))") }
        let wake = (read: fds[0], write: fds[1])
        wakePipe = wake
        try DetachedThread.start(name: name) {
            var descriptors = [
                pollfd(fd: fd, events: Int16(POLLIN | POLLPRI), revents: 0),
                pollfd(fd: wake.read, events: Int16(POLLIN), revents: 0),
            ]
            while true {
                descriptors[0].revents = 0
                descriptors[1].revents = 0
                let ready = poll(&descriptors, 2, -1)
                if ready < 0 {
                    if errno == EINTR { continue }
                    return
                }
                if descriptors[1].revents != 0 { return }
                if descriptors[0].revents & Int16(POLLIN | POLLPRI) != 0 { onReadable() }
                if descriptors[0].revents & Int16(POLLERR | POLLHUP | POLLNVAL) != 0 && descriptors[0].revents & Int16(POLLIN) == 0 {
                    return
                }
            }
        }
    }

    func stop() {
        var byte: UInt8 = 1
        _ = write(wakePipe.write, &byte, 1)
    }

    deinit {
        close(wakePipe.read)
        close(wakePipe.write)
    }
}

/// Watches the kernel's mount table with libmount's monitor (mnt_monitor_enable_kernel): every
/// mount, unmount or remount in this mount namespace wakes the health monitor.
final class MountTableWatcher: @unchecked Sendable {
    private let monitor: OpaquePointer
    private var thread: PollingThread?

    init(onChange: @escaping @Sendable () -> Void) throws {
        guard let monitor = mnt_new_monitor() else {
            throw DeviceError(device: "mountinfo", detail: "cannot create a libmount monitor")
        }
        self.monitor = monitor
        guard mnt_monitor_enable_kernel(monitor, 1) == 0 else {
            mnt_unref_monitor(monitor)
            throw DeviceError(device: "mountinfo", detail: "cannot watch the kernel mount table")
        }
        let fd = mnt_monitor_get_fd(monitor)
        guard fd >= 0 else {
            mnt_unref_monitor(monitor)
            throw DeviceError(device: "mountinfo", detail: "libmount monitor has no file descriptor")
        }
        let unsafeMonitor = UnsafeSendable(monitor)
        thread = try PollingThread(name: "cstor-mount-monitor", fd: fd) {
            // Drain every pending change, then report once.
            var changed = false
            var filename: UnsafePointer<CChar>?
            var type: Int32 = 0
            while mnt_monitor_next_change(unsafeMonitor.value, &filename, &type) == 0 { changed = true }
            if changed { onChange() }
        }
    }

    func stop() {
        thread?.stop()
        thread = nil
    }

    deinit {
        thread?.stop()
        mnt_unref_monitor(monitor)
    }
}

/// Follows the kernel log (/dev/kmsg) from now on and reports storage trouble: an ext4 or XFS
/// error, a filesystem remounted read-only, a block I/O error, an iSCSI connection error. The
/// kernel does not signal an error-induced read-only remount through the mount table, so this is
/// what makes detection immediate.
final class KernelLogWatcher: @unchecked Sendable {
    private let fd: Int32
    private var thread: PollingThread?

    /// Kernel message fragments that concern the volumes the node serves.
    static let patterns = [
        "EXT4-fs error", "EXT4-fs warning", "Remounting filesystem read-only", "Aborting journal",
        "XFS (", "I/O error", "detected conn error", "session recovery timed out", "Buffer I/O error",
        "blk_update_request", "emergency read-only",
    ]

    init(onMessage: @escaping @Sendable (String) -> Void) throws {
        let fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            throw DeviceError(device: "/dev/kmsg", detail: "cannot read the kernel log: \(String(cString: strerror(errno)))")
        }
        // Only what happens from now on.
        lseek(fd, 0, SEEK_END)
        self.fd = fd
        thread = try PollingThread(name: "cstor-kmsg", fd: fd) {
            var buffer = [UInt8](repeating: 0, count: 8192)
            while true {
                let count = read(fd, &buffer, buffer.count)
                if count < 0 {
                    // EPIPE: records were overwritten before we read them; continue with the next.
                    if errno == EPIPE { continue }
                    return
                }
                if count == 0 { return }
                let record = String(decoding: buffer[0..<count], as: UTF8.self)
                // "<prio>,<seq>,<usec>,<flags>;<message>"
                let message = record.split(separator: ";", maxSplits: 1).last.map(String.init) ?? record
                if Self.patterns.contains(where: { message.contains($0) }) {
                    onMessage(message.trimmed)
                }
            }
        }
    }

    func stop() {
        thread?.stop()
        thread = nil
    }

    deinit {
        thread?.stop()
        close(fd)
    }
}

/// Carries a non-Sendable C pointer into the one thread that uses it.
struct UnsafeSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
