import FoundationEssentials
import Glibc

/// Makes a unix socket path ready for a new server without ever taking it from a live one.
///
/// A socket file left behind by a crashed process is removed; a socket on which a server still
/// accepts connections is reported as an error (two plugins on one socket would split kubelet's
/// calls between them); anything at the path that is not a socket is never removed.
public enum SocketGuard {
    public struct Refusal: Error, CustomStringConvertible {
        public let description: String
    }

    public enum Outcome: Equatable, Sendable {
        case free
        case removedStaleSocket
    }

    @discardableResult
    public static func prepare(path: String) throws -> Outcome {
        let directory = Path.parent(path)
        if !directory.isEmpty {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        var info = stat()
        if lstat(path, &info) != 0 {
            if errno == ENOENT { return .free }
            throw Refusal(description: "cannot inspect \(path): \(String(cString: strerror(errno)))")
        }
        guard (info.st_mode & S_IFMT) == S_IFSOCK else {
            throw Refusal(description: "\(path) exists and is not a socket; refusing to replace it")
        }
        switch connectProbe(path: path) {
        case 0:
            throw Refusal(
                description: "another server is listening on \(path); refusing to take its socket (stop it first)")
        case ECONNREFUSED, ENOENT:
            guard unlink(path) == 0 || errno == ENOENT else {
                throw Refusal(description: "cannot remove stale socket \(path): \(String(cString: strerror(errno)))")
            }
            return .removedStaleSocket
        case let error:
            throw Refusal(description: "cannot probe socket \(path): \(String(cString: strerror(error)))")
        }
    }

    /// Connects to the socket; returns 0 when a server accepted, else the errno of the failure.
    public static func connectProbe(path: String) -> Int32 {
        #if os(Linux)
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        #else
            let fd = socket(AF_UNIX, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { return errno }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count < capacity else { return ENAMETOOLONG }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let result = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        return result == 0 ? 0 : errno
    }

    /// Removes the socket a server of ours was bound to, if it is still there.
    public static func remove(path: String) {
        var info = stat()
        if lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFSOCK {
            unlink(path)
        }
    }
}
