import CLinux
import CStorCore
import FoundationEssentials
import Glibc
import Synchronization

/// Attaches a backing file as a loop device, for the embedded local engine and tests, with the
/// kernel's loop interface directly (LOOP_CTL_GET_FREE + LOOP_CONFIGURE): no losetup process,
/// no parsing. Only files inside the configured directories can be attached: a publish_context
/// must never turn an arbitrary host file into a mountable device. The file is opened below the
/// resolved directory with no symlink followed, and the loop device is given that descriptor.
struct LoopAttacher: Attacher {
    /// Directories whose files may be attached (resolved once; nothing below them is followed).
    var directories: PathConfinement
    var timeout: Duration = .seconds(30)
    /// Where the kernel lists loop devices (a seam for tests).
    var sysBlock = "/sys/block"
    /// The device each file was last found on, so that a health check reads one backing_file
    /// instead of every loop device's (a sweep over N volumes would read N × loops files).
    let lastSeen = LastSeenLoopDevices()

    init(allowedDirectories: [String], timeout: Duration = .seconds(30)) {
        directories = PathConfinement(roots: allowedDirectories)
        self.timeout = timeout
    }

    func attach(_ target: AttachTarget, secrets: [String: String]) async throws -> String {
        let file = try allowedFile(target)
        let located: OpenedPath
        do {
            located = try directories.open(file)
        } catch let error as PathError {
            if case .missing = error.kind {
                throw CSIError.notFound("the backing file \(file) of this volume does not exist")
            }
            throw error
        }
        let info = try located.status()
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw CSIError.failedPrecondition("\(file) is not a regular file")
        }
        // Opened for I/O only now that it is known to be a regular file, through the descriptor
        // that was checked (no second lookup of the path).
        let descriptor = open(located.procPath, O_RDWR | O_CLOEXEC)
        guard descriptor >= 0 else { throw CSIError.internal("cannot open \(file): \(String(cString: strerror(errno)))") }
        let backing = OpenedPath(descriptor: descriptor, path: file)
        if let existing = devices(backing: file, device: UInt64(info.st_dev), inode: UInt64(info.st_ino)).first {
            return existing
        }
        return try await blocking("attach \(file)") { try Self.configureFreeDevice(backing: backing) }
    }

    func currentDevice(_ target: AttachTarget) async throws -> String? {
        // A file this node may not attach was never attached by it.
        guard let file = try? allowedFile(target) else { return nil }
        return devices(backing: file).first
    }

    func detach(_ target: AttachTarget) async throws {
        // A file this node may not attach was never attached by it: nothing to undo.
        guard let file = try? allowedFile(target) else { return }
        for device in devices(backing: file) {
            // Never detach a device in use: LOOP_CLR_FD would only mark it for autoclear, and the
            // caller would believe it gone while a holder keeps it (and its data) alive.
            if let number = BlockDevice.number(of: device) {
                let table = (try? MountTable.current()) ?? MountTable(entries: [])
                let holders = DeviceHolders().holders(of: device, number: number, table: table)
                guard holders.isEmpty else {
                    throw CSIError.unavailable(
                        "the loop device \(device) of \(file) is not detached: it is still in use: \(holders.summary). Release it (unmount it, or stop the pod using it); the next NodeUnstageVolume then finishes")
                }
            }
            try await blocking("detach \(device)") {
                let fd = open(device, O_RDONLY | O_CLOEXEC)
                guard fd >= 0 else { return }  // gone in the meantime
                defer { close(fd) }
                // A device still mounted is released by the kernel when the last user goes.
                if cstor_ioctl_int(fd, UInt(LOOP_CLR_FD), 0) != 0 && errno != ENXIO {
                    throw CSIError.internal("cannot detach \(device): \(String(cString: strerror(errno)))")
                }
            }
        }
    }

    func refreshSize(_ target: AttachTarget, device: String) async throws {
        try await blocking("refresh the size of \(device)") {
            let fd = open(device, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw CSIError.internal("cannot open \(device): \(String(cString: strerror(errno)))") }
            defer { close(fd) }
            guard cstor_ioctl_int(fd, UInt(LOOP_SET_CAPACITY), 0) == 0 else {
                throw CSIError.internal("cannot refresh the size of \(device): \(String(cString: strerror(errno)))")
            }
        }
    }

    func health(_ target: AttachTarget) async -> TransportHealth {
        let file = try? allowedFile(target)
        if let file, let name = lastSeen.device(of: file), backingFile(of: name) == file { return .healthy }
        do {
            guard let device = try await currentDevice(target) else { return .broken("the loop device is detached") }
            if let file { lastSeen.record(device: Path.lastComponent(device), of: file) }
            return .healthy
        } catch {
            return .broken(CSIError.from(error).message)
        }
    }

    func repair(_ target: AttachTarget) async throws -> String {
        try await attach(target, secrets: [:])
    }

    /// The backing file below the resolved loop directory, when this node may attach it.
    func allowedFile(_ target: AttachTarget) throws -> String {
        guard case .loop(let file) = target else {
            throw CSIError.internal("the loop attacher was given \(target)")
        }
        guard let resolved = directories.resolve(file), directories.isConfined(resolved) else {
            throw CSIError.failedPrecondition(
                "\(file) is outside the directories loop volumes may come from (--loop-dir: \(directories.roots.map(\.configured).joined(separator: ", ")))")
        }
        return resolved
    }

    /// Loop devices currently backed by `file`, from /sys/block/loopN/loop/backing_file; with
    /// `device` and `inode`, only those whose backing file is exactly that file (LOOP_GET_STATUS64).
    func devices(backing file: String, device: UInt64? = nil, inode: UInt64? = nil) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: sysBlock)) ?? []
        return names.filter { $0.hasPrefix("loop") }.sorted().compactMap { name in
            guard backingFile(of: name) == file else { return nil }
            if let device, let inode {
                let identity = try? DeviceIdentity.read("/dev/\(name)")
                guard identity?.wwid == DeviceIdentity.loopIdentity(fileDevice: device, inode: inode) else { return nil }
            }
            return "/dev/\(name)"
        }
    }

    /// The file behind loop device `name` (a deleted file by the name it had), nil when detached.
    func backingFile(of name: String) -> String? {
        guard var backing = try? KernelFile.read("\(sysBlock)/\(name)/loop/backing_file") else { return nil }
        backing = backing.trimmedNewlines
        if backing.hasSuffix(" (deleted)") { backing = String(backing.dropLast(" (deleted)".count)) }
        return backing
    }

    private func blocking<T: Sendable>(_ what: String, _ work: @escaping @Sendable () throws -> T) async throws -> T {
        do {
            return try await Deadline.blocking(timeout: timeout, work)
        } catch is Deadline.Expired {
            throw CSIError.deadlineExceeded("could not \(what) within \(timeout)")
        }
    }

    /// Takes a free loop device and points it at the file. Another process may take the same
    /// free device first (EBUSY): then the next free one is tried.
    static func configureFreeDevice(backing opened: OpenedPath) throws -> String {
        let file = opened.path
        let backing = opened.descriptor
        let control = open("/dev/loop-control", O_RDWR | O_CLOEXEC)
        guard control >= 0 else { throw CSIError.internal("cannot open /dev/loop-control: \(String(cString: strerror(errno)))") }
        defer { close(control) }
        for _ in 0..<10 {
            let index = cstor_ioctl_int(control, UInt(LOOP_CTL_GET_FREE), 0)
            guard index >= 0 else { throw CSIError.internal("no free loop device: \(String(cString: strerror(errno)))") }
            let device = "/dev/loop\(index)"
            let fd = open(device, O_RDWR | O_CLOEXEC)
            guard fd >= 0 else { throw CSIError.internal("cannot open \(device): \(String(cString: strerror(errno)))") }
            defer { close(fd) }
            var config = loop_config()
            config.fd = UInt32(backing)
            withUnsafeMutableBytes(of: &config.info.lo_file_name) { name in
                let bytes = Array(file.utf8.prefix(name.count - 1))
                name.copyBytes(from: bytes)
            }
            if cstor_loop_configure(fd, &config) == 0 { return device }
            if errno == EBUSY { continue }
            throw CSIError.internal("cannot attach \(file) to \(device): \(String(cString: strerror(errno)))")
        }
        throw CSIError.unavailable("every free loop device was taken by someone else while attaching \(file); retry")
    }
}

/// Loop device names by backing file, as last found (a hint: checked before use).
final class LastSeenLoopDevices: Sendable {
    private let devices = Mutex<[String: String]>([:])

    func device(of file: String) -> String? { devices.withLock { $0[file] } }

    func record(device name: String, of file: String) { devices.withLock { $0[file] = name } }
}
