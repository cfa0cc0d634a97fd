import CStorCore

/// Every mount-table side effect of the node: mount, bind, remount, unmount, and reading the
/// table. The real implementation uses libmount; tests of the RPC logic use a fake that keeps an
/// in-memory table and an action log.
protocol Mounter: Sendable {
    /// Mounts a filesystem from a device onto the opened mount point. `options` never contain secrets.
    func mount(source: String, target: MountTarget, fsType: String, options: [String]) async throws
    /// Bind-mounts an opened object (a directory or a device node) onto `target`, read-only when asked.
    func bind(source: OpenedPath, target: MountTarget, readOnly: Bool) async throws
    /// Binds `source` beneath the top mount at `target` (a repair guard): unmounting the top then
    /// reveals the bind in the same instant, so the path never shows its empty directory.
    func bindBeneath(source: OpenedPath, target: MountTarget, readOnly: Bool) async throws
    /// Puts a repair guard (`RecoveryGuard`) beneath the top mount at `target`: an empty,
    /// read-only, unbindable tmpfs that a container runtime cannot bind, revealed when the top
    /// mount is unmounted.
    func guardBeneath(target: MountTarget) async throws
    /// Changes the options of the mount at `target` (e.g. `rw` after a recovery).
    func remount(target: MountTarget, options: [String]) async throws
    /// Unmounts the topmost mount at `target`; `lazy` detaches it even while busy or broken.
    func unmount(target: MountTarget, lazy: Bool) async throws
    /// The current mount table of this process's mount namespace.
    func table() throws -> MountTable
}

/// Why a mount operation failed.
struct MountError: Error, CSIErrorMappable, CustomStringConvertible {
    enum Kind: Sendable, Equatable {
        case failed
        case timedOut
        case busy
        case notMounted
    }

    var kind: Kind
    var operation: String
    var target: String
    var detail: String
    /// For `timedOut`: the call goes on in the background; this ends when it has really returned.
    var stillRunning: Deadline.Completion? = nil

    var description: String {
        switch kind {
        case .timedOut: "\(operation) \(target): no answer within \(detail)"
        default: "\(operation) \(target): \(detail)"
        }
    }

    var csiError: CSIError {
        switch kind {
        case .timedOut: .deadlineExceeded(description)
        case .busy: .unavailable(description)
        case .failed, .notMounted: .internal(description)
        }
    }
}
