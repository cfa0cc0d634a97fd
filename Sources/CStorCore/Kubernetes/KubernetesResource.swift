import CStorCore
import FoundationEssentials
import Glibc

/// Where a kind of object lives in the Kubernetes API: group, version, plural name and scope. The
/// client builds every URL from it, so one set of typed operations serves the cStor custom
/// resources and the core ones alike.
public struct KubernetesResource: Sendable, Hashable, CustomStringConvertible {
    /// The API group; empty for the core group (`/api/v1`).
    public var group: String
    public var version: String
    /// The plural, lowercase name in URLs (`cstorvolumeconfigs`).
    public var plural: String
    public var kind: String
    /// Namespaced resources live under `/namespaces/<ns>/`; cluster-scoped ones do not.
    public var namespaced: Bool

    public init(group: String, version: String, plural: String, kind: String, namespaced: Bool) {
        self.group = group
        self.version = version
        self.plural = plural
        self.kind = kind
        self.namespaced = namespaced
    }

    /// `v1` for the core group, `<group>/<version>` otherwise.
    public var apiVersion: String { group.isEmpty ? version : "\(group)/\(version)" }

    /// `/api/v1` or `/apis/<group>/<version>`: where the group's discovery document is served.
    public var groupVersionPath: String { group.isEmpty ? "/api/\(version)" : "/apis/\(group)/\(version)" }

    /// The name of the CustomResourceDefinition that defines this resource (`<plural>.<group>`).
    public var customResourceDefinitionName: String { "\(plural).\(group)" }

    /// `plural.group` (just `plural` for the core group), as kubectl and the API server's messages
    /// name a resource.
    public var description: String { group.isEmpty ? plural : "\(plural).\(group)" }

    /// The URL path of the collection, of one object, or of a subresource of an object. The
    /// namespace is ignored for cluster-scoped resources; nil lists a namespaced resource across
    /// all namespaces.
    public func path(namespace: String?, name: String? = nil, subresource: String? = nil) -> String {
        var path = groupVersionPath
        if namespaced, let namespace, !namespace.isEmpty {
            path += "/namespaces/\(Self.escape(namespace))"
        }
        path += "/\(plural)"
        if let name {
            path += "/\(Self.escape(name))"
            if let subresource {
                path += "/\(subresource)"
            }
        }
        return path
    }

    private static func escape(_ segment: String) -> String {
        // RFC 3986 pchar (CharacterSet.urlPathAllowed without "/").
        percentEncoded(segment, keeping: "-._~!$&'()*+,;=:@")
    }
}

extension KubernetesResource {
    /// The group of the cStor custom resources.
    public static let cstorGroup = "cstor.openebs.io"

    public static let cstorVolumeConfigs = KubernetesResource(
        group: cstorGroup, version: "v1", plural: "cstorvolumeconfigs", kind: "CStorVolumeConfig", namespaced: true)
    public static let cstorVolumes = KubernetesResource(
        group: cstorGroup, version: "v1", plural: "cstorvolumes", kind: "CStorVolume", namespaced: true)
    public static let cstorVolumeAttachments = KubernetesResource(
        group: cstorGroup, version: "v1", plural: "cstorvolumeattachments", kind: "CStorVolumeAttachment",
        namespaced: true)
    public static let cstorVolumeReplicas = KubernetesResource(
        group: cstorGroup, version: "v1", plural: "cstorvolumereplicas", kind: "CStorVolumeReplica", namespaced: true)
    public static let cstorVolumePolicies = KubernetesResource(
        group: cstorGroup, version: "v1", plural: "cstorvolumepolicies", kind: "CStorVolumePolicy", namespaced: true)
    public static let cstorPoolClusters = KubernetesResource(
        group: cstorGroup, version: "v1", plural: "cstorpoolclusters", kind: "CStorPoolCluster", namespaced: true)
    public static let cstorPoolInstances = KubernetesResource(
        group: cstorGroup, version: "v1", plural: "cstorpoolinstances", kind: "CStorPoolInstance", namespaced: true)

    public static let nodes = KubernetesResource(group: "", version: "v1", plural: "nodes", kind: "Node", namespaced: false)
    public static let persistentVolumes = KubernetesResource(
        group: "", version: "v1", plural: "persistentvolumes", kind: "PersistentVolume", namespaced: false)
    public static let persistentVolumeClaims = KubernetesResource(
        group: "", version: "v1", plural: "persistentvolumeclaims", kind: "PersistentVolumeClaim", namespaced: true)
    public static let events = KubernetesResource(group: "", version: "v1", plural: "events", kind: "Event", namespaced: true)
    public static let pods = KubernetesResource(group: "", version: "v1", plural: "pods", kind: "Pod", namespaced: true)
    public static let podDisruptionBudgets = KubernetesResource(
        group: "policy", version: "v1", plural: "poddisruptionbudgets", kind: "PodDisruptionBudget", namespaced: true)
    public static let customResourceDefinitions = KubernetesResource(
        group: "apiextensions.k8s.io", version: "v1", plural: "customresourcedefinitions",
        kind: "CustomResourceDefinition", namespaced: false)

    /// The cStor custom resources the CSI driver uses.
    public static let cstorResources: [KubernetesResource] = [
        cstorVolumeConfigs, cstorVolumes, cstorVolumeAttachments, cstorVolumeReplicas, cstorVolumePolicies,
        cstorPoolClusters, cstorPoolInstances,
    ]
}
