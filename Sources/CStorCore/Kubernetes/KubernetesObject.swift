/// An object the Kubernetes API stores: anything with `metadata`. The client's operations take the
/// resource explicitly for these (see `KubernetesResourceObject` for the typed shortcut).
import CStorCore

public protocol KubernetesObject: Codable, Sendable {
    var metadata: ObjectMeta { get set }
}

/// A Kubernetes object type that belongs to one resource (a CVC is always a `cstorvolumeconfigs`
/// object), so the client can be called with just the type: `client.get(CStorVolumeConfig.self, ...)`.
public protocol KubernetesResourceObject: KubernetesObject {
    static var resource: KubernetesResource { get }
}
