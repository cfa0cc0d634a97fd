import CStorCore
import CStorKubernetes
import CStorModel
import Foundation
import Synchronization

/// A CustomResourceDefinition as the test API server installs it: the resource it serves, the
/// structural schema every create, update and patch goes through, and whether `/status` is a
/// subresource (`subresources.status`; the cStor CRDs declare `subresources: {}`, so status is
/// part of the main object there).
public struct CustomResourceDefinition: Sendable {
    /// The CRD object, served under `/apis/apiextensions.k8s.io/v1/customresourcedefinitions`.
    public let object: JSONValue
    public let resource: KubernetesResource
    public let schema: StructuralSchema
    public let statusSubresource: Bool

    /// Reads a CRD (its storage version).
    public init(_ object: JSONValue) throws {
        guard let group = object[path: ["spec", "group"]]?.stringValue,
            let plural = object[path: ["spec", "names", "plural"]]?.stringValue,
            let kind = object[path: ["spec", "names", "kind"]]?.stringValue,
            let versions = object[path: ["spec", "versions"]]?.arrayValue
        else {
            throw TestFailure("not a CustomResourceDefinition: \(object[path: ["metadata", "name"]] ?? .null)")
        }
        guard let version = versions.first(where: { $0["storage"]?.boolValue == true }) ?? versions.first,
            let name = version["name"]?.stringValue, let schema = version[path: ["schema", "openAPIV3Schema"]]
        else {
            throw TestFailure("the CRD \(plural).\(group) has no version with a schema")
        }
        self.object = object
        resource = KubernetesResource(
            group: group, version: name, plural: plural, kind: kind,
            namespaced: object[path: ["spec", "scope"]]?.stringValue == "Namespaced")
        do {
            self.schema = try StructuralSchema(schema)
        } catch {
            throw TestFailure("the schema of \(plural).\(group): \(error)")
        }
        statusSubresource = version[path: ["subresources", "status"]] != nil
    }

    /// Reads the CRD in a YAML file.
    public init(contentsOf url: URL) throws {
        guard let object = try YAMLDocuments.load(contentsOf: url).first else {
            throw TestFailure("\(url.path) holds no document")
        }
        try self.init(object)
    }

    private static let loaded = Mutex<[CustomResourceDefinition]?>(nil)

    /// The cStor CRDs of `deploy/crds` (read once per test process).
    public static func cstor() throws -> [CustomResourceDefinition] {
        if let cached = loaded.withLock({ $0 }) { return cached }
        let definitions = try RepositoryFiles.crdFiles().map { try CustomResourceDefinition(contentsOf: $0) }
        loaded.withLock { $0 = definitions }
        return definitions
    }

    /// The cStor CRD of a resource.
    public static func cstor(_ resource: KubernetesResource) throws -> CustomResourceDefinition {
        guard let definition = try cstor().first(where: { $0.resource == resource }) else {
            throw TestFailure("deploy/crds has no CRD for \(resource)")
        }
        return definition
    }

    /// The errors kube-apiserver would answer for this object, after pruning it; the pruned paths
    /// are what its `Warning` header names.
    public func admit(_ object: JSONValue) -> (object: JSONValue, pruned: [String], errors: [FieldError]) {
        let (prepared, pruned) = schema.prepare(object)
        var errors: [FieldError] = []
        if let apiVersion = prepared["apiVersion"]?.stringValue, apiVersion != resource.apiVersion {
            errors.append(.invalid("apiVersion", .string(apiVersion), "must be \(resource.apiVersion)"))
        }
        if let kind = prepared["kind"]?.stringValue, kind != resource.kind {
            errors.append(.invalid("kind", .string(kind), "must be \(resource.kind)"))
        }
        errors += ObjectMetaValidation.errors(prepared["metadata"] ?? [:])
        errors += schema.validate(prepared)
        return (prepared, pruned, errors)
    }
}
