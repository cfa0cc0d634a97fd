import CStorCore
import CStorKubernetes
import CStorModel
import Foundation

/// What a cluster running openebs/cstor-csi 3.6 leaves behind, from the fixtures in
/// `Tests/KubernetesTests/Fixtures/upstream-3.6` (see their headers), and how to seed a test API
/// server with exactly that: every object as written, the owners' uids filled in from the owners
/// as stored (the files name them by placeholder), status kept where it is a subresource.
public struct UpstreamLeftovers: Sendable {
    public static let directory = RepositoryFiles.root.appendingPathComponent("Tests/KubernetesTests/Fixtures/upstream-3.6")
    /// The reference objects: two volumes (one attached on rk-node-1, one on a node that died),
    /// one snapshot.
    public static let objectsFile = directory.appendingPathComponent("objects-left-by-upstream.yaml")
    /// A block volume attached on rk-node-1, made from the same sources.
    public static let blockVolumeFile = directory.appendingPathComponent("block-volume-left-by-upstream.yaml")

    public let documents: [JSONValue]

    public init(files: [URL] = [UpstreamLeftovers.objectsFile, UpstreamLeftovers.blockVolumeFile]) throws {
        documents = try files.flatMap { try YAMLDocuments.load(contentsOf: $0) }
    }

    public func objects(kind: String) -> [JSONValue] {
        documents.filter { $0["kind"]?.stringValue == kind }
    }

    /// Owners before dependents, so that every owner reference can name a stored uid.
    static let order = [
        "Node", "PersistentVolumeClaim", "PersistentVolume", "CStorVolumeConfig", "CStorVolume", "CStorVolumeReplica",
        "CStorVolumeAttachment",
    ]

    /// Writes every object of a kind the store serves; returns the others (VolumeSnapshot and
    /// VolumeSnapshotContent: data for the test, as the snapshot controller would hold them).
    @discardableResult
    public func seed(into store: KubeAPIStore, resources: [KubernetesResource] = KubeAPITestServer.defaultResources) throws -> [JSONValue] {
        let byKind = Dictionary(resources.map { ($0.kind, $0) }, uniquingKeysWith: { first, _ in first })
        var rest: [JSONValue] = []
        let sorted = documents.sorted { a, b in
            (Self.order.firstIndex(of: a["kind"]?.stringValue ?? "") ?? Self.order.count)
                < (Self.order.firstIndex(of: b["kind"]?.stringValue ?? "") ?? Self.order.count)
        }
        for document in sorted {
            guard let kind = document["kind"]?.stringValue, let resource = byKind[kind] else {
                rest.append(document)
                continue
            }
            var object = document
            let namespace = object[path: ["metadata", "namespace"]]?.stringValue
            let name = object[path: ["metadata", "name"]]?.stringValue ?? ""
            if var owners = object[path: ["metadata", "ownerReferences"]]?.arrayValue {
                for index in owners.indices {
                    guard let ownerKind = owners[index]["kind"]?.stringValue, let ownerResource = byKind[ownerKind],
                        let ownerName = owners[index]["name"]?.stringValue,
                        let owner = store.object(ownerResource, namespace: ownerResource.namespaced ? namespace : nil, name: ownerName),
                        let uid = owner[path: ["metadata", "uid"]]
                    else { throw TestFailure("\(kind) \(name) names an owner \(owners[index]) that was not seeded") }
                    owners[index]["uid"] = uid
                }
                object["metadata"]?["ownerReferences"] = .array(owners)
            }
            let response = store.create(resource, namespace: namespace, body: object)
            guard response.status == 201 else { throw TestFailure("seeding \(kind) \(name): \(response.body)") }
            if let status = document["status"], response.body["status"] != status {
                store.modify(resource, namespace: namespace, name: name) { $0["status"] = status }
            }
        }
        let refused = store.rejectedInProcessWrites
        guard refused.isEmpty else { throw TestFailure("the API refused upstream's objects: \(refused)") }
        return rest
    }
}
