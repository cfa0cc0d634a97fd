import CStorCore
import CStorKubernetes
import CStorModel
import Foundation

/// Who a request comes from, as kube-apiserver's authenticators name users.
public struct KubeAPIUser: Sendable, Hashable, CustomStringConvertible {
    public var name: String
    public var groups: [String]

    public init(name: String, groups: [String]) {
        self.name = name
        self.groups = groups
    }

    /// A cluster administrator (group `system:masters`, which RBAC never restricts).
    public static let admin = KubeAPIUser(name: "kubernetes-admin", groups: ["system:masters", "system:authenticated"])

    /// A service account, as its token authenticates it.
    public static func serviceAccount(namespace: String, name: String) -> KubeAPIUser {
        KubeAPIUser(
            name: "system:serviceaccount:\(namespace):\(name)",
            groups: ["system:serviceaccounts", "system:serviceaccounts:\(namespace)", "system:authenticated"])
    }

    public var isAdmin: Bool { groups.contains("system:masters") }

    public var description: String { name }
}

/// What RBAC decides on: kube-apiserver's request attributes.
public struct KubeAPIRequestAttributes: Sendable, Hashable {
    public var verb: String
    public var group: String
    public var resource: String
    public var subresource: String
    public var name: String
    public var namespace: String
    /// For a request that is not about a resource (discovery, /version): its path.
    public var nonResourcePath: String?

    public init(
        verb: String, group: String = "", resource: String = "", subresource: String = "", name: String = "",
        namespace: String = "", nonResourcePath: String? = nil
    ) {
        self.verb = verb
        self.group = group
        self.resource = resource
        self.subresource = subresource
        self.name = name
        self.namespace = namespace
        self.nonResourcePath = nonResourcePath
    }

    /// `resource/subresource`, as rules and messages name it.
    public var qualifiedResource: String { subresource.isEmpty ? resource : "\(resource)/\(subresource)" }
}

/// RBAC as kube-apiserver's authorizer evaluates it: Roles and ClusterRoles, bound to users,
/// groups and service accounts by RoleBindings (in their namespace) and ClusterRoleBindings
/// (everywhere), plus the bootstrap policy every cluster has (`system:masters` may do anything;
/// every authenticated user may read discovery and `/version`). A request no rule allows gets
/// kube-apiserver's 403 text.
public struct RBACPolicy: Sendable {
    struct Rule: Sendable, Hashable {
        var verbs: [String]
        var apiGroups: [String]
        var resources: [String]
        var resourceNames: [String]
        var nonResourceURLs: [String]

        init(_ value: JSONValue) {
            func strings(_ key: String) -> [String] { (value[key]?.arrayValue ?? []).compactMap(\.stringValue) }
            verbs = strings("verbs")
            apiGroups = strings("apiGroups")
            resources = strings("resources")
            resourceNames = strings("resourceNames")
            nonResourceURLs = strings("nonResourceURLs")
        }

        func allows(_ request: KubeAPIRequestAttributes) -> Bool {
            guard verbs.contains("*") || verbs.contains(request.verb) else { return false }
            if let path = request.nonResourcePath {
                return nonResourceURLs.contains { url in
                    url == "*" || url == path || (url.hasSuffix("*") && path.hasPrefix(String(url.dropLast())))
                }
            }
            guard apiGroups.contains("*") || apiGroups.contains(request.group) else { return false }
            let resourceMatches = resources.contains { resource in
                resource == "*" || resource == request.qualifiedResource
                    || (!request.subresource.isEmpty && resource == "*/\(request.subresource)")
            }
            guard resourceMatches else { return false }
            return resourceNames.isEmpty || (!request.name.isEmpty && resourceNames.contains(request.name))
        }
    }

    struct Binding: Sendable {
        var name: String
        /// nil for a ClusterRoleBinding.
        var namespace: String?
        var roleKind: String
        var roleName: String
        var subjects: [JSONValue]

        func binds(_ user: KubeAPIUser) -> Bool {
            subjects.contains { subject in
                let name = subject["name"]?.stringValue ?? ""
                switch subject["kind"]?.stringValue {
                case "ServiceAccount":
                    let namespace = subject["namespace"]?.stringValue ?? self.namespace ?? ""
                    return user.name == "system:serviceaccount:\(namespace):\(name)"
                case "User": return user.name == name
                case "Group": return user.groups.contains(name)
                default: return false
                }
            }
        }
    }

    /// The ServiceAccounts among the objects, as `namespace/name`.
    public private(set) var serviceAccounts: Set<String> = []
    private(set) var roles: [String: [Rule]] = [:]
    private(set) var clusterRoles: [String: [Rule]] = [:]
    private(set) var bindings: [Binding] = []

    /// The policy of these RBAC objects (Role, ClusterRole, RoleBinding, ClusterRoleBinding; other
    /// kinds are ignored).
    public init(objects: [JSONValue] = []) throws {
        try add(objects)
    }

    /// The chart's RBAC as rendered into `deploy/rbac` (kept equal to a fresh render by
    /// `scripts/check-chart`).
    public static func chart() throws -> RBACPolicy {
        try RBACPolicy(objects: try YAMLDocuments.load(contentsOf: RepositoryFiles.chartRBAC))
    }

    /// The chart's RBAC as rendered with `node.remount.restartPods: true`.
    public static func chartWithRestartPods() throws -> RBACPolicy {
        var policy = try chart()
        try policy.add(try YAMLDocuments.load(contentsOf: RepositoryFiles.chartRestartPodsRBAC))
        return policy
    }

    /// The chart's RBAC with a verb taken away from every rule that grants it on a resource: e.g.
    /// the chart as it was before `watch` on cstorpoolclusters was granted.
    public static func chart(without verb: String, on resource: String) throws -> RBACPolicy {
        var objects = try YAMLDocuments.load(contentsOf: RepositoryFiles.chartRBAC)
        for index in objects.indices {
            guard var rules = objects[index]["rules"]?.arrayValue else { continue }
            for rule in rules.indices where rules[rule]["resources"]?.arrayValue?.contains(.string(resource)) == true {
                rules[rule]["verbs"] = .array((rules[rule]["verbs"]?.arrayValue ?? []).filter { $0 != .string(verb) })
            }
            objects[index]["rules"] = .array(rules)
        }
        return try RBACPolicy(objects: objects)
    }

    /// Adds RBAC objects (replacing those of the same kind, namespace and name).
    public mutating func add(_ objects: [JSONValue]) throws {
        for object in objects {
            let name = object[path: ["metadata", "name"]]?.stringValue ?? ""
            let namespace = object[path: ["metadata", "namespace"]]?.stringValue
            switch object["kind"]?.stringValue {
            case "ServiceAccount":
                serviceAccounts.insert("\(namespace ?? "")/\(name)")
            case "Role":
                guard let namespace else { throw TestFailure("Role \(name) has no namespace") }
                roles["\(namespace)/\(name)"] = (object["rules"]?.arrayValue ?? []).map(Rule.init)
            case "ClusterRole":
                clusterRoles[name] = (object["rules"]?.arrayValue ?? []).map(Rule.init)
            case "RoleBinding", "ClusterRoleBinding":
                let isCluster = object["kind"]?.stringValue == "ClusterRoleBinding"
                guard isCluster || namespace != nil else { throw TestFailure("RoleBinding \(name) has no namespace") }
                bindings.removeAll { $0.name == name && $0.namespace == (isCluster ? nil : namespace) }
                bindings.append(
                    Binding(
                        name: name, namespace: isCluster ? nil : namespace,
                        roleKind: object[path: ["roleRef", "kind"]]?.stringValue ?? "",
                        roleName: object[path: ["roleRef", "name"]]?.stringValue ?? "",
                        subjects: object["subjects"]?.arrayValue ?? []))
            default:
                continue
            }
        }
    }

    /// The bootstrap ClusterRoles every authenticated user is bound to (system:discovery,
    /// system:basic-user, system:public-info-viewer), as far as reads go.
    static let discoveryRule = Rule([
        "verbs": ["get"],
        "nonResourceURLs": ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/readyz", "/openapi", "/openapi/*", "/version", "/version/"],
    ])

    public enum Decision: Sendable, Equatable {
        case allow
        /// Denied; the reason is what RBAC adds to the message (a binding to a missing role).
        case deny(reason: String)
    }

    public func authorize(_ user: KubeAPIUser, _ request: KubeAPIRequestAttributes) -> Decision {
        if user.isAdmin { return .allow }
        if user.groups.contains("system:authenticated"), Self.discoveryRule.allows(request) { return .allow }
        var missing: [String] = []
        for binding in bindings where binding.binds(user) {
            if let namespace = binding.namespace, namespace != request.namespace || request.nonResourcePath != nil {
                continue
            }
            let rules: [Rule]?
            switch binding.roleKind {
            case "Role":
                rules = binding.namespace.flatMap { roles["\($0)/\(binding.roleName)"] }
                if rules == nil { missing.append("role.rbac.authorization.k8s.io \"\(binding.roleName)\" not found") }
            default:
                rules = clusterRoles[binding.roleName]
                if rules == nil { missing.append("clusterrole.rbac.authorization.k8s.io \"\(binding.roleName)\" not found") }
            }
            if (rules ?? []).contains(where: { $0.allows(request) }) { return .allow }
        }
        return .deny(reason: missing.isEmpty ? "" : "RBAC: " + (missing.count == 1 ? missing[0] : "[" + missing.joined(separator: ", ") + "]"))
    }

    /// kube-apiserver's 403: `<resource>.<group> "<name>" is forbidden: User "<user>" cannot <verb>
    /// resource "<resource>" in API group "<group>" in the namespace "<ns>"` (or `at the cluster
    /// scope`), with RBAC's reason after a colon when it has one.
    public static func forbidden(_ user: KubeAPIUser, _ request: KubeAPIRequestAttributes, reason: String) -> KubeAPIResponse {
        var message: String
        if let path = request.nonResourcePath {
            message = "User \(FieldError.goQuote(user.name)) cannot \(request.verb) path \(FieldError.goQuote(path))"
        } else {
            message =
                "User \(FieldError.goQuote(user.name)) cannot \(request.verb) resource \(FieldError.goQuote(request.qualifiedResource)) "
                + "in API group \(FieldError.goQuote(request.group)) "
                + (request.namespace.isEmpty ? "at the cluster scope" : "in the namespace \(FieldError.goQuote(request.namespace))")
        }
        if !reason.isEmpty { message += ": \(reason)" }
        let qualified = request.group.isEmpty ? request.resource : "\(request.resource).\(request.group)"
        let full: String
        if request.nonResourcePath != nil || qualified.isEmpty {
            full = "forbidden: \(message)"
        } else if request.name.isEmpty {
            full = "\(qualified) is forbidden: \(message)"
        } else {
            full = "\(qualified) \(FieldError.goQuote(request.name)) is forbidden: \(message)"
        }
        var details: [String: JSONValue] = [:]
        if !request.name.isEmpty { details["name"] = .string(request.name) }
        if !request.group.isEmpty { details["group"] = .string(request.group) }
        if !request.resource.isEmpty { details["kind"] = .string(request.resource) }
        return .failure(403, reason: "Forbidden", message: full, details: .object(details))
    }
}
