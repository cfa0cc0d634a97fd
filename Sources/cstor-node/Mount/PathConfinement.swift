import CLinux
import CStorCore
import FoundationEssentials
import Glibc

/// A file-system object held by a descriptor: what a mount, bind or unmount acts on, so that no
/// path component can be swapped between the check and the act. The descriptor is closed when the
/// last reference goes away; a mount call that outlives its deadline keeps it alive until it
/// returns, so the number can never name another file meanwhile.
final class OpenedPath: Sendable {
    let descriptor: Int32
    /// The absolute path it was opened at (for messages and mount-table lookups).
    let path: String

    init(descriptor: Int32, path: String) {
        self.descriptor = descriptor
        self.path = path
    }

    deinit { close(descriptor) }

    /// The path through which the kernel reaches exactly this object (a "magic link").
    var procPath: String { "/proc/self/fd/\(descriptor)" }

    func status() throws -> stat {
        var info = stat()
        guard fstat(descriptor, &info) == 0 else {
            throw PathError(path: path, kind: .failed("fstat", errno))
        }
        return info
    }
}

/// A mount point opened beneath a confined root: its parent, through which the entry is reached
/// (to remount or unmount what is mounted there) without following a symlink at its name, and,
/// for a mount or bind onto it, the directory (or file) itself, opened before anything is mounted
/// on it. An unmount target does not open the mount point: a descriptor on a mount's root keeps
/// it busy.
struct MountTarget: Sendable {
    let parent: OpenedPath
    let name: String
    let node: OpenedPath?

    var path: String { parent.path == "/" ? "/" + name : parent.path + "/" + name }

    /// Reaches the entry through the opened parent: lookups cross into the top mount at it.
    var entryPath: String { "\(parent.procPath)/\(name)" }
}

/// Why a path below a confined root cannot be used.
struct PathError: Error, CSIErrorMappable, CustomStringConvertible {
    enum Kind: Equatable {
        /// A component is a symbolic link (it is never followed).
        case symlink(component: String)
        /// A component that must be a directory is something else.
        case notDirectory(component: String)
        /// Nothing exists at the path (or at one of its parents).
        case missing(component: String)
        /// The path is not below any of the roots.
        case outside(roots: [String])
        /// The object is of another type than the operation needs.
        case wrongType(String)
        case failed(String, Int32)
    }

    var path: String
    var kind: Kind

    var description: String {
        switch kind {
        case .symlink(let component):
            "\(path) passes through the symbolic link \(component); paths below the kubelet directory are never followed through symlinks"
        case .notDirectory(let component): "\(path): \(component) is not a directory"
        case .missing(let component): "\(path): \(component) does not exist"
        case .outside(let roots): "\(path) is outside the directories this plugin manages (\(roots.joined(separator: ", ")))"
        case .wrongType(let detail): "\(path) \(detail)"
        case .failed(let call, let code): "\(call) \(path): \(String(cString: strerror(code)))"
        }
    }

    var csiError: CSIError {
        switch kind {
        case .symlink, .notDirectory, .outside, .wrongType: .invalidArgument(description)
        case .missing: .notFound(description)
        case .failed: .internal(description)
        }
    }
}

/// The directories staging and publish paths (or loop backing files) must lie in. Each root is
/// resolved once with realpath; every path below it is then opened one component at a time with
/// openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS), so a symlink anywhere
/// below a root is refused, never followed, and what is created, mounted or removed is exactly the
/// object that was checked.
struct PathConfinement: Sendable {
    struct Root: Sendable, Equatable {
        /// As configured (requests name paths below it).
        var configured: String
        /// realpath of it, once at start-up (the mount table names paths below this one).
        var resolved: String
    }

    let roots: [Root]

    init(roots: [String]) {
        self.roots = roots.map { root in
            Root(configured: root, resolved: BlockDevice.resolve(root) ?? root)
        }
    }

    var resolvedRoots: [String] { roots.map(\.resolved) }

    /// The same path below the resolved root: what the kernel's mount table will call it. Paths
    /// already below a resolved root are kept. Nil for a path below no root.
    func resolve(_ path: String) -> String? {
        for root in roots {
            if PathRules.isWithin(path, root: root.resolved) { return path }
        }
        for root in roots where PathRules.isWithin(path, root: root.configured) {
            return root.resolved + path.dropFirst(root.configured == "/" ? 0 : root.configured.count)
        }
        return nil
    }

    /// Validates a request path and maps it below the resolved root.
    func require(_ path: String, field: String) throws -> String {
        let normalized = try PathRules.require(path, field: field, roots: roots.map(\.configured) + roots.map(\.resolved))
        guard let resolved = resolve(normalized) else {
            throw CSIError.invalidArgument("\(field) \(PathRules.quoted(path)) is outside the directories this plugin manages")
        }
        return resolved
    }

    func isConfined(_ path: String) -> Bool {
        roots.contains { PathRules.isWithin(path, root: $0.resolved) && path != $0.resolved }
    }

    // MARK: Opening

    /// Opens an existing path (by default CSTOR_O_PATH: a directory, a regular file or a device node).
    func open(_ path: String, flags: Int32 = CSTOR_O_PATH) throws -> OpenedPath {
        let (parent, name) = try openParent(path)
        return try openStep(parent, name, flags: flags, path: path)
    }

    /// Opens the parent directory of `path` and returns it with the last component: for unmount,
    /// rename and unlink, which must act on the entry without following it.
    func openParent(_ path: String) throws -> (parent: OpenedPath, name: String) {
        let (root, parts) = try split(path)
        guard let name = parts.last else {
            throw PathError(path: path, kind: .wrongType("is a root directory"))
        }
        let parent = try descend(root, Array(parts.dropLast()), create: nil, path: path)
        return (parent, name)
    }

    /// Refuses a path whose existing part passes through a symlink or a non-directory (a missing
    /// tail is fine: it will be created beneath the root).
    func validate(_ path: String) throws {
        let (root, parts) = try split(path)
        var prefix: [String] = []
        for part in parts {
            prefix.append(part)
            do {
                _ = try descend(root, prefix, create: nil, path: path)
            } catch let error as PathError {
                if case .missing = error.kind { return }
                if case .notDirectory = error.kind, prefix.count == parts.count { return }
                throw error
            }
        }
    }

    /// Opens a mount point for mount, bind, remount or unmount. `create` makes a missing directory
    /// (or an empty file, for a block volume's publish target) first.
    func mountTarget(_ path: String, create: CreateKind? = nil) throws -> MountTarget {
        let (root, parts) = try split(path)
        guard let name = parts.last else { throw PathError(path: path, kind: .wrongType("is a root directory")) }
        let parent = try descend(root, Array(parts.dropLast()), create: create == nil ? nil : 0o750, path: path)
        let node: OpenedPath
        switch create {
        case .directory?: node = try descend(root, parts, create: 0o750, path: path)
        case .file?: node = try makeFile(path)
        case nil: node = try openStep(parent, name, flags: CSTOR_O_PATH, path: path)
        }
        return MountTarget(parent: parent, name: name, node: node)
    }

    /// The entry at `path` for a remount or an unmount: only its parent is opened.
    func mountEntry(_ path: String) throws -> MountTarget {
        let (parent, name) = try openParent(path)
        return MountTarget(parent: parent, name: name, node: nil)
    }

    enum CreateKind: Sendable {
        case directory
        case file
    }

    /// Creates the directory and its missing parents (mode `mode`), and opens it.
    func makeDirectory(_ path: String, mode: mode_t = 0o750) throws -> OpenedPath {
        let (root, parts) = try split(path)
        return try descend(root, parts, create: mode, path: path)
    }

    /// Creates an empty regular file (and its missing parent directories) unless one exists, and
    /// opens it. Anything else at the path (a directory, a device node, a symlink) is refused.
    func makeFile(_ path: String, mode: mode_t = 0o640) throws -> OpenedPath {
        let (parent, name) = try openParentCreating(path)
        let opened: OpenedPath
        do {
            opened = try openStep(parent, name, flags: CSTOR_O_PATH, path: path)
        } catch let error as PathError where error.kind == .missing(component: parent.path + "/" + name) {
            // O_EXCL: never opens (and so never blocks on, or writes to) whatever appeared meanwhile.
            let fd = Self.openat2(
                parent.descriptor, name, flags: O_CREAT | O_EXCL | O_WRONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC, mode: mode)
            if fd < 0 && errno != EEXIST {
                throw self.error(errno, call: "create", component: parent.path + "/" + name, path: path)
            }
            if fd >= 0 { close(fd) }
            opened = try openStep(parent, name, flags: CSTOR_O_PATH, path: path)
        }
        guard (try opened.status().st_mode & S_IFMT) == S_IFREG else {
            throw PathError(path: path, kind: .wrongType("exists and is not a regular file"))
        }
        return opened
    }

    private func openParentCreating(_ path: String) throws -> (OpenedPath, String) {
        let (root, parts) = try split(path)
        guard let name = parts.last else { throw PathError(path: path, kind: .wrongType("is a root directory")) }
        return (try descend(root, Array(parts.dropLast()), create: 0o750, path: path), name)
    }

    private func split(_ path: String) throws -> (Root, [String]) {
        guard let root = roots.filter({ PathRules.isWithin(path, root: $0.resolved) }).max(by: { $0.resolved.count < $1.resolved.count })
        else { throw PathError(path: path, kind: .outside(roots: roots.map(\.resolved))) }
        let rest = root.resolved == "/" ? Substring(path) : path.dropFirst(root.resolved.count)
        return (root, rest.split(separator: "/").map(String.init))
    }

    /// Opens the root, then each component in turn (creating missing ones when `create` is set).
    private func descend(_ root: Root, _ parts: [String], create: mode_t?, path: String) throws -> OpenedPath {
        let rootFD = Glibc.open(root.resolved, CSTOR_O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard rootFD >= 0 else { throw error(errno, call: "open", component: root.resolved, path: path) }
        var current = OpenedPath(descriptor: rootFD, path: root.resolved)
        for part in parts {
            let component = current.path == "/" ? "/" + part : current.path + "/" + part
            var fd = Self.openat2(current.descriptor, part, flags: CSTOR_O_PATH | O_DIRECTORY | O_CLOEXEC, mode: 0)
            if fd < 0, errno == ENOENT, let create {
                if mkdirat(current.descriptor, part, create) != 0 && errno != EEXIST {
                    throw error(errno, call: "mkdir", component: component, path: path)
                }
                fd = Self.openat2(current.descriptor, part, flags: CSTOR_O_PATH | O_DIRECTORY | O_CLOEXEC, mode: 0)
            }
            guard fd >= 0 else { throw error(errno, call: "open", component: component, path: path) }
            current = OpenedPath(descriptor: fd, path: component)
        }
        return current
    }

    private func openStep(_ parent: OpenedPath, _ name: String, flags: Int32, path: String) throws -> OpenedPath {
        let component = parent.path == "/" ? "/" + name : parent.path + "/" + name
        let fd = Self.openat2(parent.descriptor, name, flags: flags | O_CLOEXEC, mode: 0)
        guard fd >= 0 else { throw error(errno, call: "open", component: component, path: path) }
        return OpenedPath(descriptor: fd, path: component)
    }

    private func error(_ code: Int32, call: String, component: String, path: String) -> PathError {
        switch code {
        case ELOOP, EXDEV: PathError(path: path, kind: .symlink(component: component))
        case ENOTDIR: PathError(path: path, kind: .notDirectory(component: component))
        case ENOENT: PathError(path: path, kind: .missing(component: component))
        default: PathError(path: path, kind: .failed(call, code))
        }
    }

    /// One component below `directory`, never through a symlink or out of it. Where openat2 is
    /// missing (old kernel, seccomp), O_NOFOLLOW on a single component gives the same guarantee
    /// (CSTOR_O_PATH|O_NOFOLLOW would open the link itself: that is refused as ELOOP).
    static func openat2(_ directory: Int32, _ name: String, flags: Int32, mode: mode_t) -> Int32 {
        let resolve = CSTOR_RESOLVE_BENEATH | CSTOR_RESOLVE_NO_SYMLINKS | CSTOR_RESOLVE_NO_MAGICLINKS
        let fd = cstor_openat2(directory, name, UInt64(UInt32(bitPattern: flags)), UInt64(mode), resolve)
        if fd >= 0 || errno != ENOSYS { return fd }
        let fallback = openat(directory, name, flags | O_NOFOLLOW, mode)
        guard fallback >= 0 else { return fallback }
        var info = stat()
        if fstat(fallback, &info) == 0 && (info.st_mode & S_IFMT) == S_IFLNK {
            close(fallback)
            errno = ELOOP
            return -1
        }
        return fallback
    }
}
