import CLinux
import CStorCore
import FoundationEssentials
import Glibc

/// Keeps files a workload wrote into an unmounted publish target (onto the node's own disk): they
/// are data, so they are moved into `<state-dir>/orphaned/<volume>-<time>-<n>`, never deleted.
/// A rename does it when the state directory is on the same filesystem; across filesystems
/// (EXDEV) the tree is copied (regular files, directories and symlinks, each fsynced; never
/// following a symlink) and the original removed only once the copy is complete.
struct OrphanedFiles {
    let directory: String

    init(stateDirectory: String) throws {
        directory = Path.join(stateDirectory, "orphaned")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    }

    /// Moves `name` (a directory inside `parent`) aside; returns where it is now.
    func keep(parent: OpenedPath, name: String, label: String) throws -> String {
        let keptName = "\(label)-\(Int(Date().timeIntervalSince1970))-\(UInt16.random(in: .min ... .max))"
        let kept = Path.join(directory, keptName)
        let destination = open(directory, CSTOR_O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard destination >= 0 else { throw failure("open \(directory)") }
        defer { close(destination) }
        if renameat(parent.descriptor, name, destination, keptName) == 0 {
            try AtomicFile.syncDirectory(directory)
            return kept
        }
        guard errno == EXDEV else {
            throw failure("move the files of \(parent.path)/\(name) to \(kept)")
        }
        try copyTree(from: parent.descriptor, name, to: destination, keptName, shown: kept)
        try AtomicFile.syncDirectory(directory)
        try removeTree(in: parent.descriptor, name, shown: "\(parent.path)/\(name)")
        return kept
    }

    private func copyTree(from sourceParent: Int32, _ name: String, to destinationParent: Int32, _ newName: String, shown: String) throws {
        var info = stat()
        guard fstatat(sourceParent, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else { throw failure("stat \(shown)") }
        switch info.st_mode & S_IFMT {
        case S_IFDIR:
            guard mkdirat(destinationParent, newName, 0o700) == 0 else { throw failure("create \(shown)") }
            let source = openat(sourceParent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard source >= 0 else { throw failure("open \(shown)") }
            defer { close(source) }
            let destination = openat(destinationParent, newName, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard destination >= 0 else { throw failure("open \(shown)") }
            defer { close(destination) }
            for entry in try entries(source, shown: shown) {
                try copyTree(from: source, entry, to: destination, entry, shown: "\(shown)/\(entry)")
            }
            guard fsync(destination) == 0 else { throw failure("fsync \(shown)") }
        case S_IFREG:
            let source = openat(sourceParent, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
            guard source >= 0 else { throw failure("open \(shown)") }
            defer { close(source) }
            let destination = openat(destinationParent, newName, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            guard destination >= 0 else { throw failure("create \(shown)") }
            defer { close(destination) }
            var buffer = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let count = read(source, &buffer, buffer.count)
                if count < 0 { if errno == EINTR { continue } else { throw failure("read \(shown)") } }
                if count == 0 { break }
                var written = 0
                while written < count {
                    let done = buffer.withUnsafeBytes { write(destination, $0.baseAddress.map { $0 + written }, count - written) }
                    if done < 0 { if errno == EINTR { continue } else { throw failure("write \(shown)") } }
                    written += done
                }
            }
            guard fsync(destination) == 0 else { throw failure("fsync \(shown)") }
        case S_IFLNK:
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let length = readlinkat(sourceParent, name, &buffer, buffer.count - 1)
            guard length >= 0 else { throw failure("read the link \(shown)") }
            buffer[length] = 0
            guard symlinkat(buffer, destinationParent, newName) == 0 else { throw failure("create the link \(shown)") }
        default:
            // Device nodes, sockets, FIFOs carry no data of their own: not copied, and removed.
            break
        }
    }

    private func removeTree(in parent: Int32, _ name: String, shown: String) throws {
        var info = stat()
        guard fstatat(parent, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else { return }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            let directory = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard directory >= 0 else { throw failure("open \(shown)") }
            defer { close(directory) }
            for entry in try entries(directory, shown: shown) {
                try removeTree(in: directory, entry, shown: "\(shown)/\(entry)")
            }
            guard unlinkat(parent, name, AT_REMOVEDIR) == 0 else { throw failure("remove \(shown)") }
        } else {
            guard unlinkat(parent, name, 0) == 0 else { throw failure("remove \(shown)") }
        }
    }

    /// The names in an open directory (without . and ..).
    private func entries(_ descriptor: Int32, shown: String) throws -> [String] {
        let duplicate = dup(descriptor)
        guard duplicate >= 0, let stream = fdopendir(duplicate) else { throw failure("list \(shown)") }
        defer { closedir(stream) }
        var names: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: Int(NAME_MAX) + 1) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    private func failure(_ what: String) -> CSIError {
        .internal("the unmounted target held files written onto the node's disk; cannot \(what): \(String(cString: strerror(errno))); they are left in place")
    }
}
