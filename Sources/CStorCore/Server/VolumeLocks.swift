import Synchronization

/// One in-flight operation per key (a volume id, a snapshot name). A second caller does not wait:
/// it gets `Aborted`, the CSI convention for "an operation for this volume is already pending",
/// and the CO retries with backoff. Waiting would pile up sidecar retries behind a slow mkfs.
///
/// A holder can also keep a key after its RPC returned (`retain`), for work that outlived its
/// deadline (a mount(2) stuck on a dead device): nobody may touch the volume until it ends.
public final class VolumeLocks: Sendable {
    private struct Entry {
        var holders: Int
        var operation: String
        /// Asks the holder to give the key up (background work yields to RPCs).
        var yield: (@Sendable () -> Void)?
    }

    /// How long an RPC waits for background work that was asked to yield.
    public let yieldWait: Duration

    private let entries = Mutex<[String: Entry]>([:])

    public init(yieldWait: Duration = .seconds(20)) {
        self.yieldWait = yieldWait
    }

    /// Takes the key if it is free; false when someone holds it. A holder that passes `yield`
    /// is background work: an RPC that needs the key calls it and waits for the key instead of
    /// being Aborted, so background work can never starve a CO's calls.
    public func tryAcquire(_ key: String, operation: String, yield: (@Sendable () -> Void)? = nil) -> Bool {
        entries.withLock { entries in
            if entries[key] != nil { return false }
            entries[key] = Entry(holders: 1, operation: operation, yield: yield)
            return true
        }
    }

    /// Adds one more holder to a key that is held (for work continuing in the background).
    public func retain(_ key: String) {
        entries.withLock { entries in entries[key]?.holders += 1 }
    }

    public func release(_ key: String) {
        entries.withLock { entries in
            guard var entry = entries[key] else { return }
            entry.holders -= 1
            entries[key] = entry.holders > 0 ? entry : nil
        }
    }

    /// What holds the key now, if anything.
    public func holder(of key: String) -> String? {
        entries.withLock { $0[key]?.operation }
    }

    public var heldKeys: [String] {
        entries.withLock { Array($0.keys) }
    }

    /// Runs `body` holding `key`, or throws `Aborted` naming the operation in flight.
    public func withLock<T: Sendable>(
        _ key: String, operation: String, _ body: () async throws -> T
    ) async throws -> T {
        if !tryAcquire(key, operation: operation) {
            let (current, yield) = entries.withLock { ($0[key]?.operation, $0[key]?.yield) }
            guard let yield else {
                throw CSIError.aborted("\(current ?? "another operation") for \(key) is still in progress; retry later")
            }
            yield()
            let deadline = ContinuousClock.now + yieldWait
            while !tryAcquire(key, operation: operation) {
                guard ContinuousClock.now < deadline else {
                    throw CSIError.aborted("\(current ?? "background work") for \(key) did not stop in time; retry later")
                }
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        defer { release(key) }
        return try await body()
    }
}
