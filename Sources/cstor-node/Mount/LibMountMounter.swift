import CLibMount
import CStorCore
import Foundation

/// Mounts through libmount's context API (no mount(8) process, no mount helpers), each call on
/// its own thread with a deadline: a mount(2) or umount(2) stuck on a dead device must not stall
/// the RPC past its deadline.
struct LibMountMounter: Mounter {
    var timeout: Duration
    private let mountTable = MountTableCache()

    init(timeout: Duration = .seconds(120)) {
        self.timeout = timeout
    }

    func mount(source: String, target: String, fsType: String, options: [String]) async throws {
        try await run("mount", target: target) { context in
            mnt_context_set_source(context, source)
            mnt_context_set_fstype(context, fsType)
            if !options.isEmpty { mnt_context_set_options(context, options.joined(separator: ",")) }
            return mnt_context_mount(context)
        }
    }

    func bind(source: String, target: String, readOnly: Bool) async throws {
        // libmount turns "bind,ro" into the bind plus the read-only remount the kernel needs.
        try await run("bind mount", target: target) { context in
            mnt_context_set_source(context, source)
            mnt_context_set_options(context, readOnly ? "bind,ro" : "bind")
            return mnt_context_mount(context)
        }
    }

    func remount(target: String, options: [String]) async throws {
        try await run("remount", target: target) { context in
            mnt_context_set_options(context, (["remount"] + options).joined(separator: ","))
            return mnt_context_mount(context)
        }
    }

    func unmount(target: String, lazy: Bool) async throws {
        try await run("unmount", target: target) { context in
            if lazy { mnt_context_enable_lazy(context, 1) }
            return mnt_context_umount(context)
        }
    }

    func table() throws -> MountTable {
        try mountTable.current()
    }

    /// Creates a context for `target`, lets `body` configure and run it, and turns a failure into
    /// a `MountError` carrying libmount's own explanation.
    private func run(
        _ operation: String, target: String, _ body: @escaping @Sendable (OpaquePointer) -> Int32
    ) async throws {
        let outcome: (Int32, Int32, String)
        do {
            outcome = try await Deadline.blocking(timeout: timeout) {
                guard let context = mnt_new_context() else { return (-1, ENOMEM, "cannot allocate a libmount context") }
                defer { mnt_free_context(context) }
                // No /sbin/mount.<type> helpers, no path canonicalization (it would stat a broken
                // mount and hang), no fstab/mtab lookups: we say exactly what to mount.
                mnt_context_disable_helpers(context, 1)
                mnt_context_disable_canonicalize(context, 1)
                mnt_context_set_optsmode(context, Int32(MNT_OMODE_IGNORE | MNT_OMODE_NOTAB))
                mnt_context_set_target(context, target)
                let rc = body(context)
                var buffer = [CChar](repeating: 0, count: 512)
                let exitCode = mnt_context_get_excode(context, rc, &buffer, buffer.count)
                let syscallErrno = mnt_context_get_syscall_errno(context)
                let message = String(
                    decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
                return (exitCode, syscallErrno, message)
            }
        } catch is Deadline.Expired {
            throw MountError(kind: .timedOut, operation: operation, target: target, detail: "\(timeout)")
        }
        let (exitCode, syscallErrno, message) = outcome
        guard exitCode != 0 else { return }
        let detail = message.isEmpty ? String(cString: strerror(syscallErrno)) : message
        let kind: MountError.Kind = syscallErrno == EBUSY ? .busy : (syscallErrno == EINVAL && operation == "unmount" ? .notMounted : .failed)
        throw MountError(kind: kind, operation: operation, target: target, detail: detail)
    }
}
