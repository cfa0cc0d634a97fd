/// The seam between cstor-csi and the Kubernetes API. `HTTPKubernetesClient` is the real one; a test
/// may implement these few primitives and gets everything in the extensions (typed shortcuts,
/// `listAll`, the resuming `watch`, `updateWithRetry`, `waitFor`) for free.
///
/// Every failure is a `KubernetesError` (switch on `kind`), except `CancellationError` when the
/// calling task is cancelled.
///
/// ```swift
/// guard let configuration = try options.configuration() else { /* no cluster: local engine */ }
/// try await HTTPKubernetesClient.withClient(configuration: configuration, logger: logger) { client in
///     _ = try await client.create(cvc)                       // .alreadyExists on a retried CreateVolume
///     let bound = try await client.waitFor(CStorVolumeConfig.self, name: pv, namespace: ns, timeout: .seconds(60)) {
///         $0.phase == .bound
///     }
///     _ = try await client.delete(CStorVolumeConfig.self, name: pv, namespace: ns)   // .markedForDeletion
///     try await client.waitForDeletion(CStorVolumeConfig.self, name: pv, namespace: ns, timeout: .seconds(60))
/// }
/// ```
import CStorCore

public protocol KubernetesClient: Sendable {
    /// GET one object.
    func get<Object: KubernetesObject>(
        _ resource: KubernetesResource, as type: Object.Type, name: String, namespace: String?
    ) async throws -> Object

    /// One page of a list. `namespace` nil lists across all namespaces.
    func list<Object: KubernetesObject>(
        _ resource: KubernetesResource, as type: Object.Type, namespace: String?, options: ListOptions
    ) async throws -> ObjectList<Object>

    /// POST a new object (into `object.metadata.namespace` for a namespaced resource). Never
    /// retried after a server error: the first attempt may have created it.
    func create<Object: KubernetesObject>(_ resource: KubernetesResource, _ object: Object) async throws -> Object

    /// PUT an object back; fails with `.conflict` when `metadata.resourceVersion` is stale.
    /// `subresource` is e.g. "status" for resources that have that subresource.
    func update<Object: KubernetesObject>(
        _ resource: KubernetesResource, _ object: Object, subresource: String?
    ) async throws -> Object

    /// PATCH an object with a merge or JSON patch.
    func patch<Object: KubernetesObject>(
        _ resource: KubernetesResource, as type: Object.Type, name: String, namespace: String?,
        patch: KubernetesPatch, subresource: String?
    ) async throws -> Object

    /// DELETE an object. An object with finalizers is only marked (`.markedForDeletion`).
    func delete(
        _ resource: KubernetesResource, name: String, namespace: String?, options: DeleteOptions
    ) async throws -> DeleteResult

    /// One watch connection from `options.resourceVersion` (which must be set): the events until the
    /// server closes the connection. Throws `.gone` when that version is too old. `watch(...)`
    /// builds the resuming watch on this.
    func watchConnection<Object: KubernetesObject>(
        _ resource: KubernetesResource, as type: Object.Type, namespace: String?, options: WatchOptions
    ) async throws -> any AsyncSequence<WatchEvent<Object>, any Error> & Sendable

    /// The plural names of the resources the API serves in a group version (discovery), e.g. for
    /// `/apis/cstor.openebs.io/v1`. Throws `.notFound` when the group version is not served at all.
    func servedResources(group: String, version: String) async throws -> Set<String>
}
