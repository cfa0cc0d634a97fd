import CStorCore
import CStorKubernetes
import CStorModel
import Foundation

/// The Eviction API (`POST /api/v1/namespaces/<ns>/pods/<name>/eviction`) as kube-apiserver's
/// `EvictionREST.Create` (pkg/registry/core/pod/storage/eviction.go) answers it:
/// - the body must be a policy/v1 (or v1beta1) Eviction whose `metadata.name` is the URL's pod
///   (400 otherwise), and the pod must exist (404);
/// - `deleteOptions.preconditions.uid` / `resourceVersion` that do not match the pod: 409;
/// - a pod that is Pending, Succeeded, Failed or already terminating is deleted without looking at
///   budgets;
/// - otherwise the PodDisruptionBudgets of its namespace whose selector matches its labels decide:
///   more than one is a 500; one whose status is older than its spec (`observedGeneration`), or
///   whose `status.disruptionsAllowed` is 0, is a 429 with a `DisruptionBudget` cause; one that
///   allows a disruption has it decremented and the pod recorded in `disruptedPods`;
/// - then the pod is deleted (as with a zero grace period: the store has no kubelet) and the
///   answer is a Status Success (201).
/// Not modelled: unready pods under `unhealthyPodEvictionPolicy` (every pod counts as ready here,
/// so the double refuses at least what the real server refuses), dry run.
extension KubeAPIStore {
    public func evict(namespace: String, name: String, body: JSONValue?) -> KubeAPIResponse {
        guard let body, case .object = body else {
            return .badRequest("the request body is not a policy/v1 Eviction object")
        }
        let apiVersion = body["apiVersion"]?.stringValue ?? ""
        guard body["kind"]?.stringValue == "Eviction", apiVersion == "policy/v1" || apiVersion == "policy/v1beta1" else {
            return .badRequest(
                "not a Eviction object: kind \(body["kind"]?.stringValue ?? "(none)"), apiVersion \(apiVersion.isEmpty ? "(none)" : apiVersion)")
        }
        guard body[path: ["metadata", "name"]]?.stringValue == name else {
            return .badRequest("name in URL does not match name in Eviction object")
        }
        guard let pod = object(.pods, namespace: namespace, name: name) else {
            return .notFound(.pods, name: name)
        }
        let uid = pod[path: ["metadata", "uid"]]?.stringValue ?? ""
        let version = pod[path: ["metadata", "resourceVersion"]]?.stringValue ?? ""
        let preconditions = body[path: ["deleteOptions", "preconditions"]]
        if let wanted = preconditions?["uid"]?.stringValue, !wanted.isEmpty, wanted != uid {
            return .failure(
                409, reason: "Conflict",
                message: "Operation cannot be fulfilled on Pod \"\(name)\": the UID in the precondition (\(wanted)) does not match the UID in record (\(uid)). The object might have been deleted and then recreated",
                details: KubeAPIResponse.details(.pods, name: name))
        }
        if let wanted = preconditions?["resourceVersion"]?.stringValue, !wanted.isEmpty, wanted != version {
            return .failure(
                409, reason: "Conflict",
                message: "Operation cannot be fulfilled on Pod \"\(name)\": the ResourceVersion in the precondition (\(wanted)) does not match the ResourceVersion in record (\(version)). The object might have been modified",
                details: KubeAPIResponse.details(.pods, name: name))
        }
        let phase = pod[path: ["status", "phase"]]?.stringValue ?? ""
        let terminating = pod[path: ["metadata", "deletionTimestamp"]] != nil
        if !(["Pending", "Succeeded", "Failed"].contains(phase) || terminating) {
            if let refusal = takeDisruption(of: pod, namespace: namespace, name: name) { return refusal }
        }
        let deleted = delete(.pods, namespace: namespace, name: name, options: ["preconditions": ["uid": .string(uid)]])
        guard deleted.status < 300 else { return deleted }
        return KubeAPIResponse(status: 201, body: ["kind": "Status", "apiVersion": "v1", "metadata": [:], "status": "Success", "code": 201])
    }

    /// Consumes one allowed disruption of the pod's PodDisruptionBudget, or answers why not.
    private func takeDisruption(of pod: JSONValue, namespace: String, name: String) -> KubeAPIResponse? {
        let labels = (pod[path: ["metadata", "labels"]]?.objectValue ?? [:]).compactMapValues(\.stringValue)
        let budgets = objects(.podDisruptionBudgets, namespace: namespace).filter { budget in
            guard let selector = Self.selector(budget[path: ["spec", "selector"]]) else { return false }
            return selector.matches(labels)
        }
        guard budgets.count <= 1 else {
            return .failure(500, reason: "InternalError", message: "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.")
        }
        guard let budget = budgets.first else { return nil }
        let budgetName = budget[path: ["metadata", "name"]]?.stringValue ?? ""
        let generation = budget[path: ["metadata", "generation"]]?.intValue ?? 0
        let observed = budget[path: ["status", "observedGeneration"]]?.intValue ?? 0
        if observed < generation {
            return Self.tooManyRequests(retryAfter: 10, cause: "The disruption budget \(budgetName) is still being processed by the server.")
        }
        let allowed = budget[path: ["status", "disruptionsAllowed"]]?.intValue ?? 0
        if allowed == 0 {
            let desired = budget[path: ["status", "desiredHealthy"]]?.intValue ?? 0
            let current = budget[path: ["status", "currentHealthy"]]?.intValue ?? 0
            return Self.tooManyRequests(
                retryAfter: 0, cause: "The disruption budget \(budgetName) needs \(desired) healthy pods and has \(current) currently")
        }
        if allowed < 0 {
            return .failure(
                403, reason: "Forbidden",
                message: "poddisruptionbudgets.policy \"\(budgetName)\" is forbidden: pdb disruptions allowed is negative")
        }
        let stamp = ISO8601DateFormatter().string(from: Date())
        modify(.podDisruptionBudgets, namespace: namespace, name: budgetName) { budget in
            budget["status"]?["disruptionsAllowed"] = .int(allowed - 1)
            var disrupted = budget[path: ["status", "disruptedPods"]]?.objectValue ?? [:]
            disrupted[name] = .string(stamp)
            budget["status"]?["disruptedPods"] = .object(disrupted)
        }
        return nil
    }

    private static func tooManyRequests(retryAfter: Int, cause: String) -> KubeAPIResponse {
        .failure(
            429, reason: "TooManyRequests", message: "Cannot evict pod as it would violate the pod's disruption budget.",
            details: ["causes": [["reason": "DisruptionBudget", "message": .string(cause)]], "retryAfterSeconds": .int(Int64(retryAfter))],
            retryAfter: retryAfter)
    }

    /// A PodDisruptionBudget's `spec.selector`: nil (absent) selects nothing, `{}` everything.
    static func selector(_ value: JSONValue?) -> LabelSelector? {
        guard let value, case .object = value else { return nil }
        var requirements: [LabelSelector.Requirement] = []
        for (key, label) in value["matchLabels"]?.objectValue ?? [:] {
            requirements.append(.equals(key, label.stringValue ?? ""))
        }
        for expression in value["matchExpressions"]?.arrayValue ?? [] {
            let key = expression["key"]?.stringValue ?? ""
            let values = (expression["values"]?.arrayValue ?? []).compactMap(\.stringValue)
            switch expression["operator"]?.stringValue {
            case "In": requirements.append(.in(key, values))
            case "NotIn": requirements.append(.notIn(key, values))
            case "Exists": requirements.append(.exists(key))
            case "DoesNotExist": requirements.append(.doesNotExist(key))
            default: return nil
            }
        }
        return LabelSelector(requirements)
    }
}
