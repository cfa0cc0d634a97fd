import CLibMount
import CLinux
import CStorCore
import FoundationEssentials
import Glibc

/// Mounts filesystems through libmount's context API (it turns the option list into flags and
/// data; no mount(8) process, no helpers), and binds, remounts and unmounts with the system calls
/// themselves. Every target is an opened mount point (`MountTarget`): the kernel is handed
/// /proc/self/fd paths, so no component of a path can be swapped between the check and the call.
/// Each call runs on its own thread with a deadline: a mount(2) or umount(2) stuck on a dead device
/// must not stall the RPC past its deadline, and the error then says when the call has returned.
struct LibMountMounter: Mounter {
    var timeout: Duration
    private let mountTable = MountTableCache()

    init(timeout: Duration = .seconds(120)) {
        self.timeout = timeout
    }

    func mount(source: String, target: MountTarget, fsType: String, options: [String]) async throws {
        // The source stays the device path: the mount table shows it, and it was verified just before.
        guard let node = target.node else {
            throw MountError(kind: .failed, operation: "mount", target: target.path, detail: "the mount point was not opened")
        }
        try await run("mount", target: target) {
            Self.libmount(target: node.procPath) { context in
                mnt_context_set_source(context, source)
                mnt_context_set_fstype(context, fsType)
                if !options.isEmpty { mnt_context_set_options(context, options.joined(separator: ",")) }
            }
        }
    }

    func bind(source: OpenedPath, target: MountTarget, readOnly: Bool) async throws {
        guard let node = target.node else {
            throw MountError(kind: .failed, operation: "bind mount", target: target.path, detail: "the mount point was not opened")
        }
        try await run("bind mount", target: target) {
            guard Glibc.mount(source.procPath, node.procPath, nil, UInt(CLibMount.MS_BIND), nil) == 0 else {
                return (errno, "")
            }
            // A bind takes the source's flags; read-only needs a second, bind-remount call on the
            // new mount, which the opened parent reaches at the entry.
            if readOnly
                && Glibc.mount(nil, target.entryPath, nil, UInt(CLibMount.MS_REMOUNT | CLibMount.MS_BIND | CLibMount.MS_RDONLY), nil) != 0
            {
                let code = errno
                umount2(target.entryPath, Int32(UMOUNT_NOFOLLOW))
                return (code, "the read-only remount of the new bind failed; the bind was undone")
            }
            return (0, "")
        }
    }

    func bindBeneath(source: OpenedPath, target: MountTarget, readOnly: Bool) async throws {
        try await run("bind mount beneath", target: target) {
            cstor_bind_beneath(source.procPath, target.entryPath, readOnly ? 1 : 0) == 0 ? (0, "") : Self.beneathFailure(errno)
        }
    }

    func guardBeneath(target: MountTarget) async throws {
        try await run("repair guard mount", target: target) {
            cstor_mount_guard_beneath(RecoveryGuard.source, target.entryPath) == 0 ? (0, "") : Self.beneathFailure(errno)
        }
    }

    /// move_mount(MOVE_MOUNT_BENEATH) exists from Linux 6.5; before, it is EINVAL.
    private static func beneathFailure(_ code: Int32) -> (Int32, String) {
        code == EINVAL || code == ENOSYS
            ? (code, "this kernel cannot place a mount beneath another (Linux 6.5 or later is needed)") : (code, "")
    }

    func remount(target: MountTarget, options: [String]) async throws {
        try await run("remount", target: target) {
            Self.libmount(target: target.entryPath) { context in
                mnt_context_set_options(context, (["remount"] + options).joined(separator: ","))
            }
        }
    }

    /// One mount through a libmount context: no /sbin/mount.<type> helpers, no path
    /// canonicalization (it would stat a broken mount and hang), no fstab/mtab lookups: we say
    /// exactly what to mount. Returns (errno, libmount's message), (0, "") on success.
    private static func libmount(target: String, _ configure: (OpaquePointer) -> Void) -> (Int32, String) {
        guard let context = mnt_new_context() else { return (ENOMEM, "cannot allocate a libmount context") }
        defer { mnt_free_context(context) }
        mnt_context_disable_helpers(context, 1)
        mnt_context_disable_canonicalize(context, 1)
        mnt_context_set_optsmode(context, Int32(MNT_OMODE_IGNORE | MNT_OMODE_NOTAB))
        mnt_context_set_target(context, target)
        configure(context)
        let rc = mnt_context_mount(context)
        var buffer = [CChar](repeating: 0, count: 512)
        let exitCode = mnt_context_get_excode(context, rc, &buffer, buffer.count)
        guard exitCode != 0 else { return (0, "") }
        let message = String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let code = mnt_context_get_syscall_errno(context)
        return (code == 0 ? EINVAL : code, message)
    }

    func unmount(target: MountTarget, lazy: Bool) async throws {
        try await run(lazy ? "lazy unmount" : "unmount", target: target) {
            let flags = Int32(UMOUNT_NOFOLLOW) | (lazy ? Int32(MNT_DETACH) : 0)
            return umount2(target.entryPath, flags) == 0 ? (0, "") : (errno, "")
        }
    }

    func table() throws -> MountTable {
        try mountTable.current()
    }

    /// Runs one blocking call with the deadline; `body` returns (errno, libmount's message).
    private func run(
        _ operation: String, target: MountTarget, _ body: @escaping @Sendable () -> (Int32, String)
    ) async throws {
        let outcome: (Int32, String)
        do {
            // The closure holds `target` (its descriptors) until the call has really returned.
            outcome = try await Deadline.blocking(timeout: timeout) { withExtendedLifetime(target) { body() } }
        } catch let expired as Deadline.Expired {
            throw MountError(
                kind: .timedOut, operation: operation, target: target.path, detail: "\(timeout)", stillRunning: expired.completion)
        }
        let (code, message) = outcome
        guard code != 0 else { return }
        let detail = message.isEmpty ? String(cString: strerror(code)) : "\(message) (\(String(cString: strerror(code))))"
        let kind: MountError.Kind
        switch code {
        case EBUSY: kind = .busy
        case EINVAL where operation.hasSuffix("unmount"): kind = .notMounted
        default: kind = .failed
        }
        throw MountError(kind: kind, operation: operation, target: target.path, detail: detail)
    }
}
