import FoundationEssentials
import Glibc

/// Durable small files: write to a temporary file in the same directory, fsync it, rename it over
/// the old one, fsync the directory. A crash at any point leaves either the old or the new
/// content, never a torn file and never none (the rule every state record of ours follows).
public enum AtomicFile {
    public struct WriteError: Error, CustomStringConvertible {
        public let description: String
    }

    public static func write(_ data: Data, to path: String, mode: mode_t = 0o600) throws {
        let directory = Path.parent(path)
        let temporary = "\(path).tmp-\(getpid())-\(UInt32.random(in: .min ... .max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw failure("create \(temporary)") }
        var closed = false
        defer {
            if !closed { close(fd) }
        }
        try data.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = Glibc.write(fd, buffer.baseAddress.map { $0 + offset }, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    let error = failure("write \(temporary)")
                    unlink(temporary)
                    throw error
                }
                offset += written
            }
        }
        guard fsync(fd) == 0 else {
            let error = failure("fsync \(temporary)")
            unlink(temporary)
            throw error
        }
        close(fd)
        closed = true
        guard rename(temporary, path) == 0 else {
            let error = failure("rename \(temporary) to \(path)")
            unlink(temporary)
            throw error
        }
        // Until the directory is on disk, a crash may bring the old content back: a failure
        // here is a failed write, not a detail.
        try syncDirectory(directory)
    }

    /// Removes a file durably; a missing file is success.
    public static func remove(_ path: String) throws {
        if unlink(path) != 0 && errno != ENOENT { throw failure("remove \(path)") }
        try syncDirectory(Path.parent(path))
    }

    public static func syncDirectory(_ directory: String) throws {
        let fd = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw failure("open the directory \(directory)") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw failure("fsync the directory \(directory)") }
    }

    /// Whether `name` is a temporary file `write` leaves behind when interrupted (a crash between
    /// its create and its rename): `<file>.tmp-<pid>-<random>`.
    public static func isLeftover(_ name: String) -> Bool {
        guard let range = name.ranges(of: ".tmp-").last else { return false }
        let parts = name[range.upperBound...].split(separator: "-")
        return parts.count == 2 && parts.allSatisfy { $0.allSatisfy(\.isNumber) }
    }

    private static func failure(_ what: String) -> WriteError {
        WriteError(description: "cannot \(what): \(String(cString: strerror(errno)))")
    }
}

/// Encodes identifiers as file names that are safe and reversible: letters, digits, '-', '_'
/// and '.' stay (a leading '.' does not), everything else becomes %XX.
public enum FileNameEncoding {
    public static func encode(_ name: String) -> String {
        var out = ""
        for (index, byte) in name.utf8.enumerated() {
            let scalar = Unicode.Scalar(byte)
            let plain: Bool
            switch scalar {
            case "a"..."z", "A"..."Z", "0"..."9", "-", "_": plain = true
            case ".": plain = index > 0
            default: plain = false
            }
            if plain {
                out.unicodeScalars.append(scalar)
            } else {
                let hex = String(byte, radix: 16, uppercase: true)
                out += "%" + (hex.count == 1 ? "0" + hex : hex)
            }
        }
        return out
    }

    public static func decode(_ name: String) -> String? {
        var bytes: [UInt8] = []
        var iterator = Array(name.utf8).makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%") {
                guard let high = iterator.next(), let low = iterator.next(),
                    let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16)
                else { return nil }
                bytes.append(value)
            } else {
                bytes.append(byte)
            }
        }
        return String(bytes: bytes, encoding: .utf8)
    }
}
