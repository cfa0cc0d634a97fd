import CStorCore
import CStorKubernetes
import CStorModel
import FoundationEssentials
import Glibc

/// Point-in-time copies of volume files for the local engine: a reflink (FICLONE) when the
/// filesystem shares extents (XFS with reflink, btrfs), else a sparse copy that reads only the
/// data extents (SEEK_DATA/SEEK_HOLE) and leaves holes as holes. The copy is written to a
/// temporary name, synced and renamed, so a crash never leaves a half copy under the final name.
enum FileCopier {
    enum Method: String, Sendable {
        case reflink
        case sparseCopy = "sparse copy"
    }

    struct CopyError: Error, CSIErrorMappable, CustomStringConvertible {
        var description: String
        var csiError: CSIError {
            description.contains("No space") ? .resourceExhausted(description) : .internal(description)
        }
    }

    /// Copies `source` to `destination`; returns how.
    @discardableResult
    static func copy(from source: String, to destination: String) throws -> Method {
        let temporary = destination + ".partial"
        unlink(temporary)
        let input = open(source, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw failure("open \(source)") }
        defer { close(input) }
        let output = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard output >= 0 else { throw failure("create \(temporary)") }
        var method = Method.reflink
        do {
            // FICLONE = _IOW(0x94, 9, int)
            if ioctl(output, UInt(0x4004_9409), input) != 0 {
                method = .sparseCopy
                try sparseCopy(from: input, to: output, source: source)
            }
            guard fsync(output) == 0 else { throw failure("fsync \(temporary)") }
        } catch {
            close(output)
            unlink(temporary)
            throw error
        }
        close(output)
        guard rename(temporary, destination) == 0 else {
            let error = failure("rename \(temporary)")
            unlink(temporary)
            throw error
        }
        try AtomicFile.syncDirectory(Path.parent(destination))
        return method
    }

    // SEEK_DATA and SEEK_HOLE (Linux) are hidden behind _GNU_SOURCE in the C headers.
    private static let seekData: Int32 = 3
    private static let seekHole: Int32 = 4

    private static func sparseCopy(from input: Int32, to output: Int32, source: String) throws {
        var info = stat()
        guard fstat(input, &info) == 0 else { throw failure("stat \(source)") }
        let size = off_t(info.st_size)
        guard ftruncate(output, size) == 0 else { throw failure("size the copy of \(source)") }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var offset: off_t = 0
        while offset < size {
            let dataStart = lseek(input, offset, seekData)
            if dataStart < 0 {
                if errno == ENXIO { break }  // only a hole remains
                throw failure("seek in \(source)")
            }
            var dataEnd = lseek(input, dataStart, seekHole)
            if dataEnd < 0 { dataEnd = size }
            var position = dataStart
            while position < dataEnd {
                let wanted = Int(min(off_t(buffer.count), dataEnd - position))
                let count = pread(input, &buffer, wanted, position)
                if count < 0 {
                    if errno == EINTR { continue }
                    throw failure("read \(source)")
                }
                if count == 0 { break }
                var written = 0
                while written < count {
                    let result = buffer.withUnsafeBytes { raw in
                        pwrite(output, raw.baseAddress.map { $0 + written }, count - written, position + off_t(written))
                    }
                    if result < 0 {
                        if errno == EINTR { continue }
                        throw failure("write the copy of \(source)")
                    }
                    written += result
                }
                position += off_t(count)
            }
            offset = dataEnd
        }
    }

    private static func failure(_ what: String) -> CopyError {
        CopyError(description: "cannot \(what): \(String(cString: strerror(errno)))")
    }
}
