/// The typed shortcuts: the resource comes from the object type.
import CStorCore

extension KubernetesClient {
    public func get<Object: KubernetesResourceObject>(
        _ type: Object.Type, name: String, namespace: String?
    ) async throws -> Object {
        try await get(Object.resource, as: type, name: name, namespace: namespace)
    }

    /// The object, or nil when it does not exist.
    public func getIfPresent<Object: KubernetesResourceObject>(
        _ type: Object.Type, name: String, namespace: String?
    ) async throws -> Object? {
        do {
            return try await get(Object.resource, as: type, name: name, namespace: namespace)
        } catch let error as KubernetesError where error.kind == .notFound {
            return nil
        }
    }

    public func list<Object: KubernetesResourceObject>(
        _ type: Object.Type, namespace: String?, options: ListOptions = ListOptions()
    ) async throws -> ObjectList<Object> {
        try await list(Object.resource, as: type, namespace: namespace, options: options)
    }

    /// Every page of a list, followed through the `continue` tokens; the result carries the
    /// resourceVersion of the first page (where a watch should start).
    public func listAll<Object: KubernetesObject>(
        _ resource: KubernetesResource, as type: Object.Type, namespace: String?,
        labelSelector: String? = nil, fieldSelector: String? = nil, pageSize: Int = 500
    ) async throws -> ObjectList<Object> {
        var options = ListOptions(labelSelector: labelSelector, fieldSelector: fieldSelector, limit: pageSize)
        var page = try await list(resource, as: type, namespace: namespace, options: options)
        var items = page.items
        let resourceVersion = page.resourceVersion
        while let token = page.continueToken, !token.isEmpty {
            options.continueToken = token
            page = try await list(resource, as: type, namespace: namespace, options: options)
            items += page.items
        }
        return ObjectList(items: items, resourceVersion: resourceVersion)
    }

    public func listAll<Object: KubernetesResourceObject>(
        _ type: Object.Type, namespace: String?, labelSelector: String? = nil, fieldSelector: String? = nil,
        pageSize: Int = 500
    ) async throws -> ObjectList<Object> {
        try await listAll(
            Object.resource, as: type, namespace: namespace, labelSelector: labelSelector,
            fieldSelector: fieldSelector, pageSize: pageSize)
    }

    public func create<Object: KubernetesResourceObject>(_ object: Object) async throws -> Object {
        try await create(Object.resource, object)
    }

    public func update<Object: KubernetesResourceObject>(_ object: Object, subresource: String? = nil) async throws -> Object {
        try await update(Object.resource, object, subresource: subresource)
    }

    public func mergePatch<Object: KubernetesResourceObject>(
        _ type: Object.Type, name: String, namespace: String?, _ patch: JSONValue, subresource: String? = nil
    ) async throws -> Object {
        try await self.patch(
            Object.resource, as: type, name: name, namespace: namespace, patch: .merge(patch), subresource: subresource)
    }

    public func jsonPatch<Object: KubernetesResourceObject>(
        _ type: Object.Type, name: String, namespace: String?, _ operations: [JSONPatchOperation],
        subresource: String? = nil
    ) async throws -> Object {
        try await self.patch(
            Object.resource, as: type, name: name, namespace: namespace, patch: .json(operations),
            subresource: subresource)
    }

    public func delete<Object: KubernetesResourceObject>(
        _ type: Object.Type, name: String, namespace: String?, options: DeleteOptions = DeleteOptions()
    ) async throws -> DeleteResult {
        try await delete(Object.resource, name: name, namespace: namespace, options: options)
    }

    /// Like `delete`, but an object that does not exist is `.alreadyGone` instead of an error.
    public func deleteIfPresent<Object: KubernetesResourceObject>(
        _ type: Object.Type, name: String, namespace: String?, options: DeleteOptions = DeleteOptions()
    ) async throws -> DeleteResult {
        do {
            return try await delete(Object.resource, name: name, namespace: namespace, options: options)
        } catch let error as KubernetesError where error.kind == .notFound {
            return .alreadyGone
        }
    }

    /// The resources of `resources` the API server does not serve (e.g. cStor CRDs not installed).
    public func missingResources(_ resources: [KubernetesResource]) async throws -> [KubernetesResource] {
        var served: [String: Set<String>] = [:]
        var missing: [KubernetesResource] = []
        for resource in resources {
            let key = resource.apiVersion
            if served[key] == nil {
                do {
                    served[key] = try await servedResources(group: resource.group, version: resource.version)
                } catch let error as KubernetesError where error.kind == .notFound {
                    served[key] = []
                }
            }
            if !(served[key]?.contains(resource.plural) ?? false) {
                missing.append(resource)
            }
        }
        return missing
    }
}
