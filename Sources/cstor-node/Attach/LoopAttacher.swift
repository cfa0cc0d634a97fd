import CLinux
import CStorCore
import Foundation

/// Attaches a backing file as a loop device, for the embedded local engine and tests, with the
/// kernel's loop interface directly (LOOP_CTL_GET_FREE + LOOP_CONFIGURE): no losetup process,
/// no parsing. Only files inside the configured directories can be attached: a publish_context
/// must never turn an arbitrary host file into a mountable device.
struct LoopAttacher: Attacher {
    /// Directories whose files may be attached (normalized absolute paths).
    var allowedDirectories: [String]
    var timeout: Duration = .seconds(30)
    /// Where the kernel lists loop devices (a seam for tests).
    var sysBlock = "/sys/block"

    func attach(_ target: AttachTarget, secrets: [String: String]) async throws -> String {
        let file = try allowedFile(target)
        if let existing = devices(backing: file).first { return existing }
        var info = stat()
        guard stat(file, &info) == 0 else {
            throw CSIError.notFound("the backing file \(file) of this volume does not exist")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw CSIError.failedPrecondition("\(file) is not a regular file")
        }
        return try await blocking("attach \(file)") { try Self.configureFreeDevice(backing: file) }
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
        do {
            return try await currentDevice(target) == nil ? .broken("the loop device is detached") : .healthy
        } catch {
            return .broken(CSIError.from(error).message)
        }
    }

    func repair(_ target: AttachTarget) async throws -> String {
        try await attach(target, secrets: [:])
    }

    /// The backing file, when this node may attach it.
    func allowedFile(_ target: AttachTarget) throws -> String {
        guard case .loop(let file) = target else {
            throw CSIError.internal("the loop attacher was given \(target)")
        }
        guard allowedDirectories.contains(where: { PathRules.isWithin(file, root: $0) && file != $0 }) else {
            throw CSIError.failedPrecondition(
                "\(file) is outside the directories loop volumes may come from (--loop-dir: \(allowedDirectories.joined(separator: ", ")))")
        }
        return file
    }

    /// Loop devices currently backed by `file`, from /sys/block/loopN/loop/backing_file.
    func devices(backing file: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: sysBlock)) ?? []
        return names.filter { $0.hasPrefix("loop") }.sorted().compactMap { name in
            guard var backing = try? KernelFile.read("\(sysBlock)/\(name)/loop/backing_file") else { return nil }
            backing = backing.trimmingCharacters(in: .newlines)
            if backing.hasSuffix(" (deleted)") { backing = String(backing.dropLast(" (deleted)".count)) }
            return backing == file ? "/dev/\(name)" : nil
        }
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
    static func configureFreeDevice(backing file: String) throws -> String {
        let control = open("/dev/loop-control", O_RDWR | O_CLOEXEC)
        guard control >= 0 else { throw CSIError.internal("cannot open /dev/loop-control: \(String(cString: strerror(errno)))") }
        defer { close(control) }
        let backing = open(file, O_RDWR | O_CLOEXEC)
        guard backing >= 0 else { throw CSIError.internal("cannot open \(file): \(String(cString: strerror(errno)))") }
        defer { close(backing) }
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
