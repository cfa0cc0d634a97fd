/// What a delete call achieved.
import CStorCore

public enum DeleteResult: Sendable, Hashable {
    /// The object is gone.
    case deleted
    /// The object has a `deletionTimestamp` now but stays until these finalizers are removed.
    case markedForDeletion(ObjectMeta)
    /// There was no such object (only from `deleteIfPresent`).
    case alreadyGone

    /// True unless the object is still there, waiting for finalizers.
    public var isGone: Bool {
        if case .markedForDeletion = self { return false }
        return true
    }
}
