import CStorCore
import CStorKubernetes
import CStorModel
import Foundation
import Synchronization

/// The state behind the test API server, with kube-apiserver's semantics for what cstor-csi uses:
/// a global resourceVersion counter (like etcd's revision), optimistic concurrency (409 on a stale
/// update, 409 AlreadyExists), finalizers and `deletionTimestamp`, owner references with
/// foreground/background/orphan propagation, label and field selectors, paging with opaque continue
/// tokens, `resourceVersion`/`resourceVersionMatch` on lists, merge and JSON patches, and watches
/// fed from a bounded event history (a version older than the history is 410 Gone).
///
/// Every write of a custom resource goes through its CRD (`CustomResourceDefinition`): pruned,
/// validated against the OpenAPI schema (422 with kube-apiserver's causes), status kept apart when
/// the CRD has a status subresource; every write's metadata is validated (name, labels,
/// annotations, finalizers). In-process writers (the simulated operator, fixtures) get the same
/// checks, and a refused in-process write is remembered (`rejectedInProcessWrites`) so that a test
/// can fail on it.
///
/// The HTTP layer (`KubeAPITestServer`) and in-process users (the simulated operator, fixtures,
/// tests) go through the same operations, so every change reaches the watchers.
public final class KubeAPIStore: Sendable {
    /// How a served resource behaves.
    public struct ResourceSettings: Sendable {
        /// Status changes only through `/status` (core resources); for the cStor CRDs (no status
        /// subresource) status is part of the main object.
        public var statusSubresource: Bool
        /// Whether a PUT without resourceVersion is allowed (core: yes; custom resources: no).
        public var allowUnconditionalUpdate: Bool
        /// Field selector paths besides `metadata.name` and `metadata.namespace`.
        public var selectableFields: Set<String>

        public init(statusSubresource: Bool, allowUnconditionalUpdate: Bool, selectableFields: Set<String> = []) {
            self.statusSubresource = statusSubresource
            self.allowUnconditionalUpdate = allowUnconditionalUpdate
            self.selectableFields = selectableFields
        }

        /// What kube-apiserver does for a resource: core ones have a status subresource and allow
        /// unconditional updates; custom resources as the cStor CRDs declare them.
        public static func defaults(for resource: KubernetesResource) -> ResourceSettings {
            if KubeAPIStore.builtInGroups.contains(resource.group) {
                let fields: Set<String> =
                    switch resource.plural {
                    case "events": ["involvedObject.kind", "involvedObject.name", "involvedObject.namespace", "involvedObject.uid", "reason", "type"]
                    // kube-apiserver's pod field selectors (pkg/registry/core/pod/strategy.go).
                    case "pods":
                        ["spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName", "spec.hostNetwork",
                         "status.phase", "status.podIP", "status.nominatedNodeName"]
                    case "poddisruptionbudgets": []
                    default: ["status.phase"]
                    }
                return ResourceSettings(statusSubresource: resource.plural != "events", allowUnconditionalUpdate: true, selectableFields: fields)
            }
            return ResourceSettings(statusSubresource: false, allowUnconditionalUpdate: false)
        }
    }

    struct Registration {
        var resource: KubernetesResource
        var settings: ResourceSettings
        /// The CRD of a custom resource (nil for the core resources, whose objects get only the
        /// metadata checks).
        var definition: CustomResourceDefinition?

        init(resource: KubernetesResource, settings: ResourceSettings? = nil, definition: CustomResourceDefinition? = nil) {
            self.resource = resource
            self.definition = definition
            var chosen = settings ?? .defaults(for: resource)
            if let definition { chosen.statusSubresource = definition.statusSubresource }
            self.settings = chosen
        }
    }

    enum ChangeType: String {
        case added = "ADDED"
        case modified = "MODIFIED"
        case deleted = "DELETED"
    }

    struct Change {
        var revision: Int
        var resourceKey: String
        var type: ChangeType
        var object: JSONValue
        var previous: JSONValue?
    }

    /// Which objects a list or a watch selects.
    struct Matcher {
        var namespace: String?
        var labels: LabelSelector
        var fields: FieldSelector?

        func matches(_ object: JSONValue) -> Bool {
            if let namespace, !namespace.isEmpty,
                object[path: ["metadata", "namespace"]]?.stringValue ?? "" != namespace
            {
                return false
            }
            let labels = (object[path: ["metadata", "labels"]]?.objectValue ?? [:]).compactMapValues(\.stringValue)
            guard self.labels.matches(labels) else { return false }
            return fields?.matches(object) ?? true
        }
    }

    struct Watcher {
        var resourceKey: String
        var matcher: Matcher
        var bookmarks: Bool
        var kind: String
        var apiVersion: String
        var continuation: AsyncStream<KubeAPIWatchEvent>.Continuation

        func matches(_ object: JSONValue) -> Bool { matcher.matches(object) }

        /// The event this watcher sees for a change, if any: an object that leaves the selector
        /// is DELETED for it, one that enters is ADDED.
        func event(for change: Change) -> KubeAPIWatchEvent? {
            guard change.resourceKey == resourceKey else { return nil }
            let now = matches(change.object)
            let before = change.previous.map(matches) ?? false
            switch change.type {
            case .added:
                return now ? KubeAPIWatchEvent(type: "ADDED", object: change.object) : nil
            case .modified:
                switch (before, now) {
                case (true, true): return KubeAPIWatchEvent(type: "MODIFIED", object: change.object)
                case (false, true): return KubeAPIWatchEvent(type: "ADDED", object: change.object)
                case (true, false): return KubeAPIWatchEvent(type: "DELETED", object: change.object)
                case (false, false): return nil
                }
            case .deleted:
                return now || before ? KubeAPIWatchEvent(type: "DELETED", object: change.object) : nil
            }
        }
    }

    struct State {
        var registrations: [String: Registration] = [:]
        var objects: [String: [String: JSONValue]] = [:]
        /// The revision of the last change; the next one is revision + 1.
        var revision = 1000
        var history: [Change] = []
        var historyLimit: Int
        /// Changes up to this revision are forgotten: watching from an older version is 410.
        var compactedRevision = 0
        var watchers: [Int: Watcher] = [:]
        var nextWatcherID = 0
        /// Watches started by clients (not in-process subscriptions), and who waits for that count.
        var watchesStarted = 0
        var startListeners: [Int: AsyncStream<Int>.Continuation] = [:]
        var rejectedInProcessWrites: [String] = []
    }

    private let state: Mutex<State>

    /// The finalizer kube-apiserver adds for foreground deletion.
    public static let foregroundFinalizer = "foregroundDeletion"

    /// A store serving these resources; each custom resource with its CRD from `deploy/crds`.
    public init(resources: [KubernetesResource], historyLimit: Int = 1000) throws {
        var initial = State(historyLimit: historyLimit)
        for resource in resources {
            initial.registrations[Self.key(resource)] = try Self.registration(resource)
        }
        state = Mutex(initial)
    }

    /// The groups served without a CRD (core and policy: pods' disruption budgets).
    static let builtInGroups: Set<String> = ["", "policy"]

    private static func registration(_ resource: KubernetesResource, settings: ResourceSettings? = nil) throws -> Registration {
        guard !builtInGroups.contains(resource.group) else { return Registration(resource: resource, settings: settings) }
        return Registration(resource: resource, settings: settings, definition: try CustomResourceDefinition.cstor(resource))
    }

    static func key(_ resource: KubernetesResource) -> String { "\(resource.apiVersion)/\(resource.plural)" }

    static func objectKey(namespace: String, name: String) -> String { "\(namespace)/\(name)" }

    // MARK: - Registry

    /// Serves a resource (installs its CRD, from `deploy/crds` for a custom resource).
    public func register(_ resource: KubernetesResource, settings: ResourceSettings? = nil) throws {
        let registration = try Self.registration(resource, settings: settings)
        state.withLock { state in state.registrations[Self.key(resource)] = registration }
    }

    /// Installs a CRD, e.g. a stricter variant of a cStor CRD (its objects stay as they are).
    public func register(_ definition: CustomResourceDefinition) {
        state.withLock { state in
            state.registrations[Self.key(definition.resource)] = Registration(resource: definition.resource, definition: definition)
        }
    }

    /// The CRDs of the served custom resources.
    public var definitions: [CustomResourceDefinition] {
        state.withLock { state in state.registrations.values.compactMap(\.definition) }
    }

    /// Writes by in-process users (operator, fixtures) that the API refused, with the answer: a
    /// double that writes what the real API would refuse makes the test fail.
    public var rejectedInProcessWrites: [String] { state.withLock { $0.rejectedInProcessWrites } }

    private func rememberIfRejected(_ response: KubeAPIResponse, _ what: String) {
        guard response.status >= 400, response.status != 404 else { return }
        state.withLock { state in
            state.rejectedInProcessWrites.append("\(what): \(response.body["message"]?.stringValue ?? response.body.jsonString)")
        }
    }

    /// Stops serving a resource and forgets its objects (uninstalls its CRD): a test of "CRDs missing".
    public func unregister(_ resource: KubernetesResource) {
        state.withLock { state in
            state.registrations.removeValue(forKey: Self.key(resource))
            state.objects.removeValue(forKey: Self.key(resource))
        }
    }

    public var servedResources: [KubernetesResource] {
        state.withLock { state in state.registrations.values.map(\.resource) }
    }

    /// The served resource with this group, version and plural.
    public func resource(group: String, version: String, plural: String) -> KubernetesResource? {
        let apiVersion = group.isEmpty ? version : "\(group)/\(version)"
        return state.withLock { state in state.registrations["\(apiVersion)/\(plural)"]?.resource }
    }

    func settings(_ resource: KubernetesResource) -> ResourceSettings? {
        state.withLock { state in state.registrations[Self.key(resource)]?.settings }
    }

    // MARK: - Reading

    public var currentRevision: Int { state.withLock { $0.revision } }

    /// The stored object, if any.
    public func object(_ resource: KubernetesResource, namespace: String?, name: String) -> JSONValue? {
        state.withLock { state in
            state.objects[Self.key(resource)]?[Self.objectKey(namespace: resource.namespaced ? namespace ?? "" : "", name: name)]
        }
    }

    /// The stored object decoded as a model type, if any.
    public func object<Object: KubernetesResourceObject>(_ type: Object.Type, namespace: String?, name: String) -> Object? {
        object(Object.resource, namespace: namespace, name: name).flatMap { try? $0.decode(as: type) }
    }

    /// Every stored object of a resource (in one namespace, or all), in key order.
    public func objects(_ resource: KubernetesResource, namespace: String? = nil) -> [JSONValue] {
        state.withLock { state in
            (state.objects[Self.key(resource)] ?? [:]).sorted { $0.key < $1.key }.map(\.value).filter { object in
                namespace == nil || object[path: ["metadata", "namespace"]]?.stringValue == namespace
            }
        }
    }

    public func get(_ resource: KubernetesResource, namespace: String?, name: String) -> KubeAPIResponse {
        guard let object = object(resource, namespace: namespace, name: name) else {
            return .notFound(resource, name: name)
        }
        return KubeAPIResponse(status: 200, body: object)
    }

    /// A page of a list. The continue token is opaque (base64 JSON of the list revision and the
    /// last key); a token older than the event history is 410 Expired, as with etcd compaction.
    /// `resourceVersion` with `resourceVersionMatch` as kube-apiserver reads them: unset or
    /// `NotOlderThan` serve the latest state (a version newer than the store is 504
    /// ResourceVersionTooLarge), `Exact` serves the state at that version (410 once compacted).
    public func list(
        _ resource: KubernetesResource, namespace: String?, labelSelector: String?, fieldSelector: String?,
        limit: Int?, continueToken: String?, resourceVersion: String? = nil, resourceVersionMatch: String? = nil
    ) -> KubeAPIResponse {
        let optionErrors = Self.listOptionErrors(
            resourceVersion: resourceVersion, match: resourceVersionMatch, continueToken: continueToken, watch: false)
        guard optionErrors.isEmpty else { return Self.invalidListOptions(optionErrors) }
        var exactRevision: Int?
        var minimumRevision: Int?
        if let resourceVersion, !resourceVersion.isEmpty, resourceVersion != "0" {
            guard let number = Int(resourceVersion) else {
                return .badRequest("invalid resource version: \(resourceVersion)")
            }
            if resourceVersionMatch == "Exact" { exactRevision = number } else { minimumRevision = number }
        }
        let labels: LabelSelector
        let fields: FieldSelector?
        switch parseSelectors(resource, labelSelector: labelSelector, fieldSelector: fieldSelector) {
        case .success(let parsed): (labels, fields) = parsed
        case .failure(let response): return response
        }
        return state.withLock { state in
            var listRevision = state.revision
            var stored = state.objects[Self.key(resource)] ?? [:]
            if let minimumRevision, minimumRevision > state.revision {
                return Self.tooLargeResourceVersion(minimumRevision, current: state.revision)
            }
            if let exactRevision {
                if exactRevision > state.revision { return Self.tooLargeResourceVersion(exactRevision, current: state.revision) }
                guard exactRevision >= state.compactedRevision else {
                    return .failure(
                        410, reason: "Expired", message: "too old resource version: \(exactRevision) (\(state.compactedRevision))")
                }
                stored = Self.objects(state, key: Self.key(resource), at: exactRevision)
                listRevision = exactRevision
            }
            var startAfter: String?
            if let continueToken, !continueToken.isEmpty {
                guard let token = ContinueToken(encoded: continueToken) else {
                    return .badRequest("continue key is not valid: \(continueToken)")
                }
                guard token.revision >= state.compactedRevision else {
                    return .failure(
                        410, reason: "Expired",
                        message: "The provided continue parameter is too old to display a consistent list result. "
                            + "You can start a new list without the continue parameter.")
                }
                listRevision = token.revision
                startAfter = token.start
            }
            let matcher = Matcher(namespace: resource.namespaced ? namespace : nil, labels: labels, fields: fields)
            var matching = stored.sorted { $0.key < $1.key }.filter { entry in
                matcher.matches(entry.value)
            }
            if let startAfter {
                matching = matching.filter { $0.key > startAfter }
            }
            var metadata: [String: JSONValue] = ["resourceVersion": .string(String(listRevision))]
            if let limit, limit > 0, matching.count > limit {
                let page = Array(matching.prefix(limit))
                let last = page.last?.key ?? ""
                metadata["continue"] = .string(ContinueToken(revision: listRevision, start: last).encoded)
                metadata["remainingItemCount"] = .int(Int64(matching.count - limit))
                matching = page
            }
            let items = matching.map { entry -> JSONValue in
                var item = entry.value
                // kube-apiserver leaves kind and apiVersion out of the items of core lists.
                if resource.group.isEmpty {
                    item["kind"] = nil
                    item["apiVersion"] = nil
                }
                return item
            }
            return KubeAPIResponse(
                status: 200,
                body: [
                    "kind": .string(resource.kind + "List"), "apiVersion": .string(resource.apiVersion),
                    "metadata": .object(metadata), "items": .array(items),
                ])
        }
    }

    /// The objects of a resource as they were at a revision (the history must reach back to it).
    private static func objects(_ state: State, key: String, at revision: Int) -> [String: JSONValue] {
        var objects = state.objects[key] ?? [:]
        for change in state.history.reversed() where change.revision > revision && change.resourceKey == key {
            let namespace = change.object[path: ["metadata", "namespace"]]?.stringValue ?? ""
            let name = change.object[path: ["metadata", "name"]]?.stringValue ?? ""
            let objectKey = objectKey(namespace: namespace, name: name)
            switch change.type {
            case .added: objects.removeValue(forKey: objectKey)
            case .modified, .deleted: objects[objectKey] = change.previous
            }
        }
        return objects
    }

    /// kube-apiserver's `ValidateListOptions` for a list or a watch.
    static func listOptionErrors(
        resourceVersion: String?, match: String?, continueToken: String?, watch: Bool, sendInitialEvents: String? = nil
    ) -> [FieldError] {
        let match = match ?? ""
        if watch {
            if sendInitialEvents != nil {
                return [.forbidden("sendInitialEvents", "sendInitialEvents (WatchList) is not served by the test API server")]
            }
            return match.isEmpty
                ? [] : [.forbidden("resourceVersionMatch", "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided")]
        }
        var errors: [FieldError] = []
        guard !match.isEmpty else { return errors }
        if (resourceVersion ?? "").isEmpty {
            errors.append(.forbidden("resourceVersionMatch", "resourceVersionMatch is forbidden unless resourceVersion is provided"))
        }
        if !(continueToken ?? "").isEmpty {
            errors.append(.forbidden("resourceVersionMatch", "resourceVersionMatch is forbidden when continue is provided"))
        }
        if match != "Exact", match != "NotOlderThan" {
            errors.append(.notSupported("resourceVersionMatch", .string(match), supported: ["Exact", "NotOlderThan", ""]))
        }
        if match == "Exact", resourceVersion == "0" {
            errors.append(.forbidden("resourceVersionMatch", "resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\""))
        }
        return errors
    }

    static func invalidListOptions(_ errors: [FieldError]) -> KubeAPIResponse {
        .failure(
            422, reason: "Invalid", message: "ListOptions.meta.k8s.io \"\" is invalid: \(errors.aggregated)",
            details: ["group": "meta.k8s.io", "kind": "ListOptions", "causes": .array(errors.map(\.cause))])
    }

    /// 504 for a resourceVersion the store has not reached (kube-apiserver waits up to 3 s first).
    static func tooLargeResourceVersion(_ wanted: Int, current: Int) -> KubeAPIResponse {
        .failure(
            504, reason: "Timeout", message: "Timeout: Too large resource version: \(wanted), current: \(current)",
            details: [
                "causes": [["reason": "ResourceVersionTooLarge", "message": "Too large resource version"]], "retryAfterSeconds": 1,
            ])
    }

    private func parseSelectors(
        _ resource: KubernetesResource, labelSelector: String?, fieldSelector: String?
    ) -> Result<(LabelSelector, FieldSelector?), KubeAPIResponse> {
        var labels = LabelSelector()
        if let labelSelector, !labelSelector.isEmpty {
            do {
                labels = try LabelSelector(parsing: labelSelector)
            } catch {
                return .failure(.badRequest("unable to parse requirement: \(error)"))
            }
        }
        var fields: FieldSelector?
        if let fieldSelector, !fieldSelector.isEmpty {
            do {
                let parsed = try FieldSelector(parsing: fieldSelector)
                let allowed = (settings(resource)?.selectableFields ?? []).union(["metadata.name", "metadata.namespace"])
                if let unsupported = parsed.requirements.first(where: { !allowed.contains($0.path) }) {
                    return .failure(
                        .badRequest("field label not supported: \(unsupported.path)"))
                }
                fields = parsed
            } catch {
                return .failure(.badRequest(error.message))
            }
        }
        return .success((labels, fields))
    }

    struct ContinueToken {
        var revision: Int
        var start: String

        init(revision: Int, start: String) {
            self.revision = revision
            self.start = start
        }

        init?(encoded: String) {
            guard let data = Data(base64Encoded: encoded), let value = try? JSONValue(json: data),
                let revision = value["rv"]?.intValue, let start = value["start"]?.stringValue
            else { return nil }
            self.revision = Int(revision)
            self.start = start
        }

        var encoded: String {
            let value: JSONValue = ["rv": .int(Int64(revision)), "start": .string(start)]
            return ((try? value.jsonData()) ?? Data()).base64EncodedString()
        }
    }

    // MARK: - Writing

    /// POST: creates an object (201), or 409 AlreadyExists, 422 Invalid, 400 for a namespace or
    /// kind that does not fit the URL.
    public func create(_ resource: KubernetesResource, namespace: String?, body: JSONValue) -> KubeAPIResponse {
        guard case .object = body, var metadata = body["metadata"]?.objectValue ?? (body["metadata"] == nil ? [:] : nil)
        else {
            return .badRequest("the object is not a JSON object with an object metadata")
        }
        if let kind = body["kind"]?.stringValue, kind != resource.kind {
            return .badRequest("the kind \(kind) does not match the resource \(resource)")
        }
        if let apiVersion = body["apiVersion"]?.stringValue, apiVersion != resource.apiVersion {
            return .badRequest("the apiVersion \(apiVersion) does not match the resource \(resource)")
        }
        let urlNamespace = resource.namespaced ? namespace ?? "" : ""
        if resource.namespaced {
            guard !urlNamespace.isEmpty else { return .badRequest("a namespaced object needs a namespace in the URL") }
            if let bodyNamespace = metadata["namespace"]?.stringValue, !bodyNamespace.isEmpty, bodyNamespace != urlNamespace {
                return .badRequest(
                    "the namespace of the provided object does not match the namespace sent on the request")
            }
            metadata["namespace"] = .string(urlNamespace)
        } else {
            metadata["namespace"] = nil
        }
        var name = metadata["name"]?.stringValue ?? ""
        if name.isEmpty, let prefix = metadata["generateName"]?.stringValue, !prefix.isEmpty {
            let alphabet = Array("bcdfghjklmnpqrstvwxz2456789")
            name = prefix + String((0..<5).map { _ in alphabet.randomElement() ?? "x" })
        }
        if let version = metadata["resourceVersion"]?.stringValue, !version.isEmpty {
            return .failure(500, reason: "InternalError", message: "resourceVersion should not be set on objects to be created")
        }
        if !name.isEmpty { metadata["name"] = .string(name) }
        metadata["deletionTimestamp"] = nil
        metadata["deletionGracePeriodSeconds"] = nil
        var object = body
        object["apiVersion"] = .string(resource.apiVersion)
        object["kind"] = .string(resource.kind)
        return state.withLock { state in
            let key = Self.key(resource)
            guard let registration = state.registrations[key] else { return .notFound(resource, name: name) }
            if registration.settings.statusSubresource {
                object["status"] = nil
            }
            object["metadata"] = .object(metadata)
            let warnings: [String]
            switch Self.admit(registration, object, name: name) {
            case .failure(let response): return response
            case .success(let admitted): (object, warnings) = admitted
            }
            metadata = object["metadata"]?.objectValue ?? metadata
            let objectKey = Self.objectKey(namespace: urlNamespace, name: name)
            if state.objects[key]?[objectKey] != nil {
                return .failure(
                    409, reason: "AlreadyExists", message: "\(resource) \"\(name)\" already exists",
                    details: KubeAPIResponse.details(resource, name: name))
            }
            metadata["uid"] = .string(UUID().uuidString.lowercased())
            metadata["creationTimestamp"] = .string(KubernetesTime.now.rawValue)
            metadata["generation"] = .int(1)
            state.revision += 1
            metadata["resourceVersion"] = .string(String(state.revision))
            object["metadata"] = .object(metadata)
            state.objects[key, default: [:]][objectKey] = object
            Self.record(&state, Change(revision: state.revision, resourceKey: key, type: .added, object: object, previous: nil))
            return KubeAPIResponse(status: 201, body: object).warning(warnings)
        }
    }

    /// PUT: replaces an object. 409 Conflict on a stale resourceVersion; for custom resources the
    /// resourceVersion is required (422 without).
    public func update(
        _ resource: KubernetesResource, namespace: String?, name: String, body: JSONValue, subresource: String? = nil
    ) -> KubeAPIResponse {
        guard case .object = body, body["metadata"]?.objectValue != nil else {
            return .badRequest("the object is not a JSON object with an object metadata")
        }
        let bodyName = body[path: ["metadata", "name"]]?.stringValue ?? ""
        if !bodyName.isEmpty, bodyName != name {
            return .badRequest("the name of the object (\(bodyName)) does not match the name on the URL (\(name))")
        }
        return state.withLock { state in
            let key = Self.key(resource)
            guard let registration = state.registrations[key] else { return .notFound(resource, name: name) }
            if subresource == "status", !registration.settings.statusSubresource {
                return .notFound(resource, name: name)
            }
            let objectKey = Self.objectKey(namespace: resource.namespaced ? namespace ?? "" : "", name: name)
            guard let existing = state.objects[key]?[objectKey] else { return .notFound(resource, name: name) }
            let version = body[path: ["metadata", "resourceVersion"]]?.stringValue ?? ""
            if version.isEmpty {
                if !registration.settings.allowUnconditionalUpdate {
                    return .invalid(
                        resource, name: name,
                        errors: [
                            FieldError(
                                .invalid, field: "metadata.resourceVersion", detail: "must be specified for an update",
                                printedValue: "0x0")
                        ])
                }
            } else if version != existing[path: ["metadata", "resourceVersion"]]?.stringValue {
                return Self.conflict(resource, name: name)
            }
            return Self.applyUpdate(&state, registration, objectKey: objectKey, existing: existing, proposed: body, subresource: subresource)
        }
    }

    /// PATCH with a merge patch, a JSON patch, or (core resources only) a strategic merge patch
    /// (treated as a merge patch, which it equals for the fields used here).
    public func patch(
        _ resource: KubernetesResource, namespace: String?, name: String, contentType: String, patch: JSONValue,
        subresource: String? = nil
    ) -> KubeAPIResponse {
        let type = contentType.split(separator: ";").first.map { String($0).trimmingWhitespace() } ?? ""
        return state.withLock { state in
            let key = Self.key(resource)
            guard let registration = state.registrations[key] else { return .notFound(resource, name: name) }
            if subresource == "status", !registration.settings.statusSubresource {
                return .notFound(resource, name: name)
            }
            let objectKey = Self.objectKey(namespace: resource.namespaced ? namespace ?? "" : "", name: name)
            guard let existing = state.objects[key]?[objectKey] else { return .notFound(resource, name: name) }
            var proposed: JSONValue
            switch type {
            case "application/merge-patch+json":
                proposed = existing.applying(mergePatch: patch)
            case "application/strategic-merge-patch+json" where resource.group.isEmpty:
                proposed = existing.applying(mergePatch: patch)
            case "application/json-patch+json":
                guard let operations = try? patch.decode(as: [JSONPatchOperation].self) else {
                    return .badRequest("the JSON patch is not a list of operations")
                }
                do {
                    proposed = try existing.applying(jsonPatch: operations)
                } catch let error as JSONPatchError {
                    return .failure(
                        422, reason: "Invalid", message: "the server rejected our request due to an error in our request: \(error.message)",
                        details: KubeAPIResponse.details(resource, name: name))
                } catch {
                    return .badRequest("\(error)")
                }
            default:
                return .failure(
                    415, reason: "UnsupportedMediaType",
                    message: "the body of the request was in an unknown format - accepted media types include: "
                        + "application/json-patch+json, application/merge-patch+json")
            }
            guard case .object = proposed, proposed["metadata"]?.objectValue != nil else {
                return .badRequest("the patched object has no object metadata")
            }
            // A resourceVersion in the patch is a precondition, as in kube-apiserver.
            let version = proposed[path: ["metadata", "resourceVersion"]]?.stringValue ?? ""
            let current = existing[path: ["metadata", "resourceVersion"]]?.stringValue ?? ""
            if !version.isEmpty, version != current {
                return Self.conflict(resource, name: name)
            }
            return Self.applyUpdate(&state, registration, objectKey: objectKey, existing: existing, proposed: proposed, subresource: subresource)
        }
    }

    /// DELETE. With finalizers (or foreground propagation, which adds `foregroundDeletion`) the
    /// object is only marked with `deletionTimestamp`; it goes when the last finalizer is removed.
    /// Dependents (owner references) are deleted by a built-in garbage collector.
    public func delete(
        _ resource: KubernetesResource, namespace: String?, name: String, options: JSONValue? = nil
    ) -> KubeAPIResponse {
        let policy = options?["propagationPolicy"]?.stringValue
        let preconditionUID = options?[path: ["preconditions", "uid"]]?.stringValue
        let preconditionVersion = options?[path: ["preconditions", "resourceVersion"]]?.stringValue
        return state.withLock { state in
            let key = Self.key(resource)
            guard state.registrations[key] != nil else { return .notFound(resource, name: name) }
            let objectKey = Self.objectKey(namespace: resource.namespaced ? namespace ?? "" : "", name: name)
            guard let existing = state.objects[key]?[objectKey] else { return .notFound(resource, name: name) }
            let uid = existing[path: ["metadata", "uid"]]?.stringValue ?? ""
            if let preconditionUID, preconditionUID != uid {
                return .failure(
                    409, reason: "Conflict",
                    message: "Operation cannot be fulfilled on \(resource) \"\(name)\": Precondition failed: "
                        + "UID in precondition: \(preconditionUID), UID in object meta: \(uid)",
                    details: KubeAPIResponse.details(resource, name: name))
            }
            let version = existing[path: ["metadata", "resourceVersion"]]?.stringValue ?? ""
            if let preconditionVersion, preconditionVersion != version {
                return .failure(
                    409, reason: "Conflict",
                    message: "Operation cannot be fulfilled on \(resource) \"\(name)\": Precondition failed: "
                        + "ResourceVersion in precondition: \(preconditionVersion), ResourceVersion in object meta: \(version)",
                    details: KubeAPIResponse.details(resource, name: name))
            }
            if policy == "Orphan" {
                Self.orphanDependents(&state, ownerUID: uid)
            }
            let outcome = Self.deleteObject(&state, key: key, objectKey: objectKey, foreground: policy == "Foreground")
            Self.settle(&state)
            switch outcome {
            case .marked(let object):
                return KubeAPIResponse(status: 200, body: object)
            case .removed:
                return KubeAPIResponse(
                    status: 200,
                    body: [
                        "kind": "Status", "apiVersion": "v1", "metadata": [:], "status": "Success",
                        "details": KubeAPIResponse.details(resource, name: name, uid: uid),
                    ])
            }
        }
    }

    // MARK: - In-process changes (operator, fixtures)

    /// Creates or replaces an object directly, as a controller with full rights would (no
    /// resourceVersion check). Returns the stored object.
    @discardableResult
    public func put(_ resource: KubernetesResource, _ object: JSONValue) -> KubeAPIResponse {
        let namespace = object[path: ["metadata", "namespace"]]?.stringValue
        let name = object[path: ["metadata", "name"]]?.stringValue ?? ""
        if self.object(resource, namespace: namespace, name: name) == nil {
            var fresh = object
            fresh["metadata"]?["resourceVersion"] = nil
            let response = create(resource, namespace: namespace, body: fresh)
            rememberIfRejected(response, "put \(resource) \(name)")
            return response
        }
        // The server-owned metadata (uid, resourceVersion, ...) is kept by the update.
        return modify(resource, namespace: namespace, name: name) { stored in stored = object }
    }

    /// Creates a model object directly; returns it as stored.
    @discardableResult
    public func create<Object: KubernetesResourceObject>(_ object: Object) throws -> Object {
        let response = create(Object.resource, namespace: object.metadata.namespace, body: try JSONValue(encoding: object))
        rememberIfRejected(response, "create \(Object.resource) \(object.metadata.name)")
        guard response.status == 201 else { throw TestFailure("create \(Object.resource): \(response.body)") }
        return try response.body.decode(as: Object.self)
    }

    /// Changes a stored object in place with update semantics (new resourceVersion, watch event,
    /// removal when the last finalizer of a deleting object goes). Returns 404 if it is not there.
    @discardableResult
    public func modify(
        _ resource: KubernetesResource, namespace: String?, name: String, _ change: (inout JSONValue) -> Void
    ) -> KubeAPIResponse {
        let response = state.withLock { state in
            let key = Self.key(resource)
            guard let registration = state.registrations[key] else { return KubeAPIResponse.notFound(resource, name: name) }
            let objectKey = Self.objectKey(namespace: resource.namespaced ? namespace ?? "" : "", name: name)
            guard let existing = state.objects[key]?[objectKey] else { return .notFound(resource, name: name) }
            var proposed = existing
            change(&proposed)
            // In-process writers may change status even where it is a subresource.
            var settings = registration
            settings.settings.statusSubresource = false
            return Self.applyUpdate(
                &state, settings, objectKey: objectKey, existing: existing, proposed: proposed, subresource: nil,
                generationIgnoresStatus: registration.settings.statusSubresource)
        }
        rememberIfRejected(response, "modify \(resource) \(name)")
        return response
    }

    /// Changes a stored model object in place (see `modify`).
    @discardableResult
    public func modify<Object: KubernetesResourceObject>(
        _ type: Object.Type, namespace: String?, name: String, _ change: (inout Object) -> Void
    ) -> Object? {
        let response = modify(Object.resource, namespace: namespace, name: name) { json in
            guard var object = try? json.decode(as: type) else { return }
            change(&object)
            if let encoded = try? JSONValue(encoding: object) { json = encoded }
        }
        guard response.status == 200 else { return nil }
        return try? response.body.decode(as: type)
    }

    /// Deletes with the API's semantics (see `delete`).
    @discardableResult
    public func remove(_ resource: KubernetesResource, namespace: String?, name: String, propagationPolicy: String? = nil) -> KubeAPIResponse {
        let options: JSONValue? = propagationPolicy.map { ["propagationPolicy": .string($0)] }
        return delete(resource, namespace: namespace, name: name, options: options)
    }

    // MARK: - Watching

    /// Starts a watch: synthetic ADDED events for what exists (no resourceVersion, or "0"), or the
    /// history after `resourceVersion`, then live changes. A version older than the history is 410
    /// Gone: as an HTTP answer (`goneAsHTTPStatus`) or, like kube-apiserver's watch cache, as an
    /// ERROR event that ends the stream.
    public func watch(
        _ resource: KubernetesResource, namespace: String?, resourceVersion: String?, labelSelector: String?,
        fieldSelector: String?, bookmarks: Bool, goneAsHTTPStatus: Bool = false, inProcess: Bool = false,
        resourceVersionMatch: String? = nil, sendInitialEvents: String? = nil
    ) -> Result<(stream: AsyncStream<KubeAPIWatchEvent>, id: Int), KubeAPIResponse> {
        let optionErrors = Self.listOptionErrors(
            resourceVersion: resourceVersion, match: resourceVersionMatch, continueToken: nil, watch: true,
            sendInitialEvents: sendInitialEvents)
        guard optionErrors.isEmpty else { return .failure(Self.invalidListOptions(optionErrors)) }
        let labels: LabelSelector
        let fields: FieldSelector?
        switch parseSelectors(resource, labelSelector: labelSelector, fieldSelector: fieldSelector) {
        case .success(let parsed): (labels, fields) = parsed
        case .failure(let response): return .failure(response)
        }
        var start: Int?
        if let resourceVersion, !resourceVersion.isEmpty, resourceVersion != "0" {
            guard let number = Int(resourceVersion) else {
                return .failure(.badRequest("invalid resource version: \(resourceVersion)"))
            }
            start = number
        }
        let (stream, continuation) = AsyncStream<KubeAPIWatchEvent>.makeStream()
        let result: Result<Int, KubeAPIResponse> = state.withLock { state in
            let key = Self.key(resource)
            guard state.registrations[key] != nil else {
                return .failure(.notFound(resource, name: ""))
            }
            let watcher = Watcher(
                resourceKey: key, matcher: Matcher(namespace: resource.namespaced ? namespace : nil, labels: labels, fields: fields),
                bookmarks: bookmarks, kind: resource.kind, apiVersion: resource.apiVersion, continuation: continuation)
            if let start {
                if start < state.compactedRevision {
                    let message = "too old resource version: \(start) (\(state.compactedRevision))"
                    if goneAsHTTPStatus {
                        return .failure(.failure(410, reason: "Expired", message: message))
                    }
                    continuation.yield(
                        KubeAPIWatchEvent(type: "ERROR", object: KubeAPIResponse.failure(410, reason: "Expired", message: message).body))
                    return .success(-1)
                }
                for change in state.history where change.revision > start {
                    if let event = watcher.event(for: change) { continuation.yield(event) }
                }
            } else {
                for (_, object) in (state.objects[key] ?? [:]).sorted(by: { $0.key < $1.key }) where watcher.matches(object) {
                    continuation.yield(KubeAPIWatchEvent(type: "ADDED", object: object))
                }
            }
            let id = state.nextWatcherID
            state.nextWatcherID += 1
            state.watchers[id] = watcher
            if !inProcess {
                state.watchesStarted += 1
                for listener in state.startListeners.values {
                    listener.yield(state.watchesStarted)
                }
            }
            return .success(id)
        }
        switch result {
        case .failure(let response):
            continuation.finish()
            return .failure(response)
        case .success(let id):
            if id < 0 {
                continuation.finish()
            } else {
                continuation.onTermination = { [weak self] _ in self?.stopWatch(id) }
            }
            return .success((stream, id))
        }
    }

    /// The changes of a resource for an in-process consumer (the simulated operator): what exists
    /// as ADDED, then every change.
    public func subscribe(_ resource: KubernetesResource, namespace: String? = nil) -> AsyncStream<KubeAPIWatchEvent> {
        switch watch(
            resource, namespace: namespace, resourceVersion: nil, labelSelector: nil, fieldSelector: nil, bookmarks: false,
            inProcess: true)
        {
        case .success(let watch): return watch.stream
        case .failure: return AsyncStream { $0.finish() }
        }
    }

    /// Waits until clients have started `count` watches in all (counting from the start of the
    /// store), following the registrations instead of polling.
    public func waitForWatches(started count: Int, timeout: Duration = .seconds(10)) async throws {
        let (stream, continuation) = AsyncStream<Int>.makeStream()
        let id = state.withLock { state -> Int in
            let id = state.nextWatcherID
            state.nextWatcherID += 1
            state.startListeners[id] = continuation
            continuation.yield(state.watchesStarted)
            return id
        }
        defer {
            _ = state.withLock { state in state.startListeners.removeValue(forKey: id) }
            continuation.finish()
        }
        let reached = try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                for await started in stream where started >= count { return true }
                return false
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return false
            }
            defer { group.cancelAll() }
            return try await group.next() ?? false
        }
        guard reached else {
            throw TestFailure("fewer than \(count) watches started within \(timeout) (\(state.withLock { $0.watchesStarted }))")
        }
    }

    /// Ends a watch (its connection closed).
    public func stopWatch(_ id: Int) {
        let continuation = state.withLock { state in state.watchers.removeValue(forKey: id)?.continuation }
        continuation?.finish()
    }

    /// Ends every watch, e.g. at shutdown.
    public func stopAllWatches() {
        let continuations = state.withLock { state in
            let all = state.watchers.values.map(\.continuation)
            state.watchers.removeAll()
            return all
        }
        for continuation in continuations { continuation.finish() }
    }

    /// Sends a BOOKMARK with the current revision to every watch that asked for bookmarks.
    public func sendBookmarks() {
        state.withLock { state in
            let revision = String(state.revision)
            for watcher in state.watchers.values where watcher.bookmarks {
                watcher.continuation.yield(
                    KubeAPIWatchEvent(
                        type: "BOOKMARK",
                        object: [
                            "kind": .string(watcher.kind), "apiVersion": .string(watcher.apiVersion),
                            "metadata": ["resourceVersion": .string(revision)],
                        ]))
            }
        }
    }

    /// Forgets the whole event history, like an etcd compaction: watching from (or continuing a
    /// list at) any earlier version is 410 Gone afterwards.
    public func compact() {
        state.withLock { state in
            state.history.removeAll()
            state.compactedRevision = state.revision
        }
    }

    /// Number of open watches (for tests that check connections are released).
    public var watchCount: Int { state.withLock { $0.watchers.count } }

    // MARK: - Semantics under the lock

    static func conflict(_ resource: KubernetesResource, name: String) -> KubeAPIResponse {
        .failure(
            409, reason: "Conflict",
            message: "Operation cannot be fulfilled on \(resource) \"\(name)\": the object has been modified; "
                + "please apply your changes to the latest version and try again",
            details: KubeAPIResponse.details(resource, name: name))
    }

    private static func record(_ state: inout State, _ change: Change) {
        state.history.append(change)
        if state.history.count > state.historyLimit {
            let dropped = state.history.removeFirst()
            state.compactedRevision = dropped.revision
        }
        for watcher in state.watchers.values {
            if let event = watcher.event(for: change) {
                watcher.continuation.yield(event)
            }
        }
    }

    private static func finalizers(_ object: JSONValue) -> [String] {
        (object[path: ["metadata", "finalizers"]]?.arrayValue ?? []).compactMap(\.stringValue)
    }

    private static func ownerUIDs(_ object: JSONValue) -> [String] {
        (object[path: ["metadata", "ownerReferences"]]?.arrayValue ?? []).compactMap { $0["uid"]?.stringValue }
    }

    private static func isBeingDeleted(_ object: JSONValue) -> Bool {
        object[path: ["metadata", "deletionTimestamp"]].map { !$0.isNull } ?? false
    }

    /// Everything but the server-managed version, to tell a no-op update from a change.
    private static func comparable(_ object: JSONValue) -> JSONValue {
        var copy = object
        copy["metadata"]?["resourceVersion"] = nil
        copy["metadata"]?["managedFields"] = nil
        return copy
    }

    /// What the API server does to an object before it stores it: prune and validate a custom
    /// resource against its CRD, validate the metadata of any object. Returns the object to store
    /// and the warnings (pruned fields), or the 422.
    private static func admit(_ registration: Registration, _ object: JSONValue, name: String) -> Result<(JSONValue, [String]), KubeAPIResponse> {
        if let definition = registration.definition {
            let (prepared, pruned, errors) = definition.admit(object)
            guard errors.isEmpty else { return .failure(.invalid(registration.resource, name: name, errors: errors)) }
            return .success((prepared, pruned.map { "unknown field \(FieldError.goQuote($0))" }))
        }
        let errors = ObjectMetaValidation.errors(object["metadata"] ?? [:])
        guard errors.isEmpty else { return .failure(.invalid(registration.resource, name: name, errors: errors)) }
        return .success((object, []))
    }

    private static func applyUpdate(
        _ state: inout State, _ registration: Registration, objectKey: String, existing: JSONValue, proposed: JSONValue,
        subresource: String?, generationIgnoresStatus: Bool? = nil
    ) -> KubeAPIResponse {
        let resource = registration.resource
        let key = Self.key(resource)
        let name = existing[path: ["metadata", "name"]]?.stringValue ?? ""
        var updated: JSONValue
        if subresource == "status" {
            updated = existing
            updated["status"] = proposed["status"]
        } else {
            updated = proposed
            if registration.settings.statusSubresource {
                updated["status"] = existing["status"]
            }
        }
        // What the server owns cannot be changed by a client.
        for member in ["name", "namespace", "uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation"] {
            updated["metadata"]?[member] = existing[path: ["metadata", member]]
        }
        updated["apiVersion"] = existing["apiVersion"]
        updated["kind"] = existing["kind"]
        updated["metadata"]?["resourceVersion"] = existing[path: ["metadata", "resourceVersion"]]
        if isBeingDeleted(existing) {
            let added = Set(finalizers(updated)).subtracting(finalizers(existing))
            if !added.isEmpty {
                let list = added.sorted().map(FieldError.goQuote).joined(separator: ", ")
                return .invalid(
                    resource, name: name,
                    errors: [
                        .forbidden(
                            "metadata.finalizers",
                            "no new finalizers can be added if the object is being deleted, found new finalizers []string{\(list)}")
                    ])
            }
        }
        let warnings: [String]
        switch admit(registration, updated, name: name) {
        case .failure(let response): return response
        case .success(let admitted): (updated, warnings) = admitted
        }
        if comparable(updated) == comparable(existing) {
            return KubeAPIResponse(status: 200, body: existing).warning(warnings)
        }
        var withoutMetadata = updated
        var existingWithoutMetadata = existing
        withoutMetadata["metadata"] = nil
        existingWithoutMetadata["metadata"] = nil
        // With a status subresource, only a change of the rest is a new generation.
        if generationIgnoresStatus ?? registration.settings.statusSubresource {
            withoutMetadata["status"] = nil
            existingWithoutMetadata["status"] = nil
        }
        if withoutMetadata != existingWithoutMetadata {
            let generation = existing[path: ["metadata", "generation"]]?.intValue ?? 1
            updated["metadata"]?["generation"] = .int(generation + 1)
        }
        state.revision += 1
        updated["metadata"]?["resourceVersion"] = .string(String(state.revision))
        if isBeingDeleted(updated), finalizers(updated).isEmpty {
            state.objects[key]?.removeValue(forKey: objectKey)
            record(&state, Change(revision: state.revision, resourceKey: key, type: .deleted, object: updated, previous: existing))
            settle(&state)
            return KubeAPIResponse(status: 200, body: updated).warning(warnings)
        }
        state.objects[key, default: [:]][objectKey] = updated
        record(&state, Change(revision: state.revision, resourceKey: key, type: .modified, object: updated, previous: existing))
        return KubeAPIResponse(status: 200, body: updated).warning(warnings)
    }

    enum DeleteOutcome {
        case marked(JSONValue)
        case removed(JSONValue)
    }

    private static func deleteObject(_ state: inout State, key: String, objectKey: String, foreground: Bool) -> DeleteOutcome {
        guard let existing = state.objects[key]?[objectKey] else { return .removed(.null) }
        var finalizers = finalizers(existing)
        if foreground, !finalizers.contains(foregroundFinalizer) {
            finalizers.append(foregroundFinalizer)
        }
        if finalizers.isEmpty {
            state.revision += 1
            var removed = existing
            removed["metadata"]?["resourceVersion"] = .string(String(state.revision))
            state.objects[key]?.removeValue(forKey: objectKey)
            record(&state, Change(revision: state.revision, resourceKey: key, type: .deleted, object: removed, previous: existing))
            return .removed(removed)
        }
        if isBeingDeleted(existing), finalizers == Self.finalizers(existing) {
            return .marked(existing)
        }
        var marked = existing
        marked["metadata"]?["finalizers"] = .array(finalizers.map { .string($0) })
        if !isBeingDeleted(existing) {
            marked["metadata"]?["deletionTimestamp"] = .string(KubernetesTime.now.rawValue)
            marked["metadata"]?["deletionGracePeriodSeconds"] = .int(0)
        }
        state.revision += 1
        marked["metadata"]?["resourceVersion"] = .string(String(state.revision))
        state.objects[key]?[objectKey] = marked
        record(&state, Change(revision: state.revision, resourceKey: key, type: .modified, object: marked, previous: existing))
        return .marked(marked)
    }

    private static func orphanDependents(_ state: inout State, ownerUID: String) {
        for (key, objects) in state.objects {
            for (objectKey, object) in objects.sorted(by: { $0.key < $1.key }) where ownerUIDs(object).contains(ownerUID) {
                var orphan = object
                let remaining = (object[path: ["metadata", "ownerReferences"]]?.arrayValue ?? []).filter {
                    $0["uid"]?.stringValue != ownerUID
                }
                orphan["metadata"]?["ownerReferences"] = remaining.isEmpty ? nil : .array(remaining)
                state.revision += 1
                orphan["metadata"]?["resourceVersion"] = .string(String(state.revision))
                state.objects[key]?[objectKey] = orphan
                record(&state, Change(revision: state.revision, resourceKey: key, type: .modified, object: orphan, previous: object))
            }
        }
    }

    /// The garbage collector, run to a fixed point after deletions: dependents of owners that are
    /// gone are deleted; dependents of owners in foreground deletion are deleted; an owner in
    /// foreground deletion whose dependents are gone loses its `foregroundDeletion` finalizer.
    private static func settle(_ state: inout State) {
        var changed = true
        var rounds = 0
        while changed, rounds < 100 {
            changed = false
            rounds += 1
            var liveUIDs: Set<String> = []
            var foregroundOwners: Set<String> = []
            for objects in state.objects.values {
                for object in objects.values {
                    let uid = object[path: ["metadata", "uid"]]?.stringValue ?? ""
                    liveUIDs.insert(uid)
                    if isBeingDeleted(object), finalizers(object).contains(foregroundFinalizer) {
                        foregroundOwners.insert(uid)
                    }
                }
            }
            var dependentsOf: [String: Int] = [:]
            for (key, objects) in state.objects {
                for (objectKey, object) in objects.sorted(by: { $0.key < $1.key }) {
                    let owners = ownerUIDs(object)
                    guard !owners.isEmpty else { continue }
                    for owner in owners { dependentsOf[owner, default: 0] += 1 }
                    let ownersGone = owners.allSatisfy { !liveUIDs.contains($0) }
                    let ownerInForeground = owners.contains { foregroundOwners.contains($0) }
                    if (ownersGone || ownerInForeground), !isBeingDeleted(object) {
                        _ = deleteObject(&state, key: key, objectKey: objectKey, foreground: false)
                        changed = true
                    }
                }
            }
            for (key, objects) in state.objects {
                for (objectKey, object) in objects.sorted(by: { $0.key < $1.key }) {
                    let uid = object[path: ["metadata", "uid"]]?.stringValue ?? ""
                    guard foregroundOwners.contains(uid), dependentsOf[uid, default: 0] == 0 else { continue }
                    var released = object
                    let remaining = finalizers(object).filter { $0 != foregroundFinalizer }
                    released["metadata"]?["finalizers"] = remaining.isEmpty ? nil : .array(remaining.map { .string($0) })
                    state.revision += 1
                    released["metadata"]?["resourceVersion"] = .string(String(state.revision))
                    if remaining.isEmpty {
                        state.objects[key]?.removeValue(forKey: objectKey)
                        record(&state, Change(revision: state.revision, resourceKey: key, type: .deleted, object: released, previous: object))
                    } else {
                        state.objects[key]?[objectKey] = released
                        record(&state, Change(revision: state.revision, resourceKey: key, type: .modified, object: released, previous: object))
                    }
                    changed = true
                }
            }
        }
    }
}
