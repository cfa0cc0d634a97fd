import CStorCore
import Synchronization

/// One attach or detach decision at a time per attachment (an iSCSI session is shared by every
/// LUN of its target): otherwise an unstage could count the session's users, find none, and log
/// out while a stage of another volume on the same target has just decided to reuse it.
/// Callers wait (in order); these sections are short.
final class AttachmentLocks: Sendable {
    private let locks = Mutex<[String: AsyncLock]>([:])

    func withLock<T: Sendable>(_ key: String, _ body: () async throws -> T) async rethrows -> T {
        let lock = locks.withLock { locks in
            if let lock = locks[key] { return lock }
            let lock = AsyncLock()
            locks[key] = lock
            return lock
        }
        return try await lock.withLock(body)
    }
}
