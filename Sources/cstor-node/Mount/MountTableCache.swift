import CStorCore
import FoundationEssentials
import Glibc
import Synchronization

/// The mount table, parsed again only when the kernel says it changed. An open
/// /proc/self/mountinfo becomes ready for POLLPRI whenever a mount appears, disappears or changes
/// in this namespace (the same signal libmount's monitor uses), and the kernel raises it before the
/// mount(2) or umount(2) returns — so a table read right after our own mount is never stale.
/// With hundreds of volumes this turns every NodeGetVolumeStats and every health check from a
/// parse of the whole table into a poll(2).
final class MountTableCache: Sendable {
    private struct State {
        var descriptor: Int32
        var table: MountTable?
    }

    private let path: String
    private let state: Mutex<State>

    init(path: String = "/proc/self/mountinfo") {
        self.path = path
        state = Mutex(State(descriptor: open(path, O_RDONLY | O_CLOEXEC), table: nil))
    }

    deinit {
        state.withLock { if $0.descriptor >= 0 { close($0.descriptor) } }
    }

    func current() throws -> MountTable {
        try state.withLock { state in
            guard state.descriptor >= 0 else { return try MountTable.current(path: path) }
            var poller = pollfd(fd: state.descriptor, events: Int16(POLLPRI), revents: 0)
            let changed = poll(&poller, 1, 0) > 0 && poller.revents & Int16(POLLPRI | POLLERR) != 0
            if let table = state.table, !changed { return table }
            let table = MountTable(parsing: try Self.readAll(state.descriptor, path: path))
            state.table = table
            return table
        }
    }

    private static func readAll(_ descriptor: Int32, path: String) throws -> String {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        var offset: off_t = 0
        while true {
            let count = pread(descriptor, &chunk, chunk.count, offset)
            if count < 0 {
                if errno == EINTR { continue }
                throw KernelFile.ReadError(description: "cannot read \(path): \(String(cString: strerror(errno)))")
            }
            if count == 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
            offset += off_t(count)
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
