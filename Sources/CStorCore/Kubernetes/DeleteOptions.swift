/// How a delete call deletes.
import CStorCore

public struct DeleteOptions: Sendable, Hashable {
    /// What happens to the objects this one owns.
    public enum PropagationPolicy: String, Sendable, Hashable {
        /// Dependents are deleted first; the owner stays (with the `foregroundDeletion` finalizer)
        /// until they are gone.
        case foreground = "Foreground"
        /// The owner goes at once, the garbage collector deletes the dependents afterwards.
        case background = "Background"
        /// Dependents are kept.
        case orphan = "Orphan"
    }

    public var propagationPolicy: PropagationPolicy?
    /// Delete only if the object still has this uid (not a new object of the same name).
    public var preconditionUID: String?
    /// Delete only if the object was not changed since this resourceVersion.
    public var preconditionResourceVersion: String?
    public var gracePeriodSeconds: Int64?

    public init(
        propagationPolicy: PropagationPolicy? = nil, preconditionUID: String? = nil,
        preconditionResourceVersion: String? = nil, gracePeriodSeconds: Int64? = nil
    ) {
        self.propagationPolicy = propagationPolicy
        self.preconditionUID = preconditionUID
        self.preconditionResourceVersion = preconditionResourceVersion
        self.gracePeriodSeconds = gracePeriodSeconds
    }

    /// The `DeleteOptions` body of the DELETE request.
    public var body: JSONValue {
        var members: [String: JSONValue] = ["kind": "DeleteOptions", "apiVersion": "v1"]
        if let propagationPolicy { members["propagationPolicy"] = .string(propagationPolicy.rawValue) }
        if let gracePeriodSeconds { members["gracePeriodSeconds"] = .int(gracePeriodSeconds) }
        var preconditions: [String: JSONValue] = [:]
        if let preconditionUID { preconditions["uid"] = .string(preconditionUID) }
        if let preconditionResourceVersion { preconditions["resourceVersion"] = .string(preconditionResourceVersion) }
        if !preconditions.isEmpty { members["preconditions"] = .object(preconditions) }
        return .object(members)
    }
}
