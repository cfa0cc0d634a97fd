import CStorCore

extension KubernetesClient {
    /// Re-reads the object, applies `mutate` and writes it back, again and again while the write
    /// fails with Conflict (someone else changed it in between), at most `attempts` times. Returns
    /// the object as written. Nothing is written when `mutate` leaves the object unchanged.
    @discardableResult
    public func updateWithRetry<Object: KubernetesResourceObject & Hashable>(
        _ type: Object.Type, name: String, namespace: String?, attempts: Int = 5,
        _ mutate: (inout Object) throws -> Void
    ) async throws -> Object {
        var attempt = 0
        while true {
            attempt += 1
            let current = try await get(type, name: name, namespace: namespace)
            var changed = current
            try mutate(&changed)
            if changed == current { return current }
            do {
                return try await update(changed)
            } catch let error as KubernetesError where error.kind == .conflict && attempt < attempts {
                // Someone else won the race; a short random pause avoids colliding again.
                try await Task.sleep(for: .milliseconds(Int.random(in: 5...50) * attempt))
            }
        }
    }

    /// Waits until the object exists and `condition` holds for it, following a watch (no polling),
    /// and returns it. Throws `.timeout` after `timeout`, with what was last seen of the object in
    /// the message. An object that does not exist yet, or is deleted meanwhile, is waited for.
    public func waitFor<Object: KubernetesResourceObject>(
        _ type: Object.Type, name: String, namespace: String?, timeout: Duration,
        until condition: @escaping @Sendable (Object) -> Bool
    ) async throws -> Object {
        let lastSeen = LockedValue("never seen")
        let options = WatchOptions(fieldSelector: "metadata.name=\(name)")
        let events = watch(type, namespace: namespace, options: options)
        let found: Object? = try await Self.race(timeout: timeout) {
            for try await event in events {
                switch event {
                case .added(let object), .modified(let object):
                    guard object.metadata.name == name else { continue }
                    if condition(object) { return object }
                    lastSeen.value = Self.summary(of: object)
                case .deleted(let object):
                    guard object.metadata.name == name else { continue }
                    lastSeen.value = "deleted at resourceVersion \(object.metadata.resourceVersion)"
                case .bookmark:
                    continue
                }
            }
            return nil
        }
        if let found { return found }
        let seen = lastSeen.value
        throw KubernetesError(
            .timeout,
            "timed out after \(timeout) waiting for \(Object.resource) \(Self.objectName(namespace, name)); last seen: \(seen)")
    }

    /// Waits until the object does not exist (e.g. after its finalizers were removed), following a
    /// watch from a list, so a deletion between the two cannot be missed.
    public func waitForDeletion<Object: KubernetesResourceObject>(
        _ type: Object.Type, name: String, namespace: String?, timeout: Duration
    ) async throws {
        let lastSeen = LockedValue("")
        let gone: Bool? = try await Self.race(timeout: timeout) {
            let fieldSelector = "metadata.name=\(name)"
            let list = try await listAll(type, namespace: namespace, fieldSelector: fieldSelector)
            guard let object = list.items.first(where: { $0.metadata.name == name }) else { return true }
            lastSeen.value = Self.summary(of: object)
            let options = WatchOptions(fieldSelector: fieldSelector)
            for try await event in watch(Object.resource, as: type, namespace: namespace, after: list, options: options) {
                switch event {
                case .added(let object), .modified(let object):
                    if object.metadata.name == name { lastSeen.value = Self.summary(of: object) }
                case .deleted(let object):
                    if object.metadata.name == name { return true }
                case .bookmark:
                    continue
                }
            }
            return nil
        }
        if gone == true { return }
        throw KubernetesError(
            .timeout,
            "timed out after \(timeout) waiting for \(Object.resource) \(Self.objectName(namespace, name)) to be deleted; "
                + "last seen: \(lastSeen.value)")
    }

    /// Runs `operation` with a deadline: its result, or nil when the deadline came first (the
    /// operation is cancelled then).
    static func race<Result: Sendable>(
        timeout: Duration, _ operation: @escaping @Sendable () async throws -> Result?
    ) async throws -> Result? {
        try await withThrowingTaskGroup(of: Result?.self) { group in
            group.addTask { try await operation() }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            return try await group.next() ?? nil
        }
    }

    static func objectName(_ namespace: String?, _ name: String) -> String {
        if let namespace, !namespace.isEmpty { return "\(namespace)/\(name)" }
        return name
    }

    /// A short description of an object for a timeout message: its resourceVersion, deletion
    /// state, finalizers and status.
    static func summary(of object: some KubernetesObject) -> String {
        var parts = ["resourceVersion \(object.metadata.resourceVersion)"]
        if object.metadata.isBeingDeleted { parts.append("being deleted") }
        if !object.metadata.finalizers.isEmpty {
            parts.append("finalizers \(object.metadata.finalizers)")
        }
        if let json = try? JSONValue(encoding: object), let status = json["status"] {
            var text = status.jsonString
            if text.count > 400 { text = String(text.prefix(400)) + "…" }
            parts.append("status \(text)")
        } else {
            parts.append("no status")
        }
        return parts.joined(separator: ", ")
    }
}
