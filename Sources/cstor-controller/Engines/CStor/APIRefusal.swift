import CStorCore
import CStorKubernetes
import CStorModel
import Logging

/// Whose fault it is when the Kubernetes API refuses (422) an object the cstor engine wrote.
///
/// The engine builds every object, so a refusal is its own bug: INTERNAL with the API's message,
/// logged at error level (the provisioner retries an internal error; it gives up for good on
/// INVALID_ARGUMENT). Some values in those objects come from the caller, though — the volume name,
/// a StorageClass parameter, a node id, a snapshot name — and the API may refuse one of them (a
/// pool cluster name too long for a label value): when every refused field holds such a value,
/// the answer is INVALID_ARGUMENT naming the input to fix.
struct APIRefusal {
    /// A value taken from the request or the StorageClass, and where it lands in the object.
    struct Input {
        /// What the caller calls it, e.g. `StorageClass parameter cstorPoolCluster`.
        var name: String
        var value: String
        /// The object fields (or field prefixes) that carry it, e.g. `metadata.labels`.
        var fields: [String]

        func explains(_ cause: KubernetesStatus.Cause) -> Bool {
            guard !value.isEmpty, let field = cause.field else { return false }
            let carried = fields.contains { field == $0 || field.hasPrefix($0 + ".") || field.hasPrefix($0 + "[") }
            return carried && (cause.message ?? "").contains(value)
        }
    }

    let logger: Logger

    /// Runs a write of an object the engine built (`what`, e.g. `CStorVolumeConfig pvc-1`).
    func write<T>(_ what: String, inputs: [Input] = [], _ call: () async throws -> T) async throws -> T {
        do {
            return try await call()
        } catch let error as KubernetesError where error.kind == .invalid {
            throw refusal(of: what, error, inputs: inputs)
        }
    }

    func refusal(of what: String, _ error: KubernetesError, inputs: [Input]) -> CSIError {
        let message = error.status?.message ?? error.message
        let causes = error.causes
        if !causes.isEmpty {
            let blamed = causes.map { cause in inputs.first { $0.explains(cause) } }
            if blamed.allSatisfy({ $0 != nil }) {
                let named = blamed.compactMap { $0 }.reduce(into: [Input]()) { list, input in
                    if !list.contains(where: { $0.name == input.name }) { list.append(input) }
                }
                let inputsText = named.map { "\($0.name) \(PathRules.quoted($0.value))" }.joined(separator: " and ")
                return .invalidArgument("\(inputsText) cannot be used: the Kubernetes API refused the \(what) made from it: \(message)")
            }
        }
        logger.error(
            "the Kubernetes API refused an object cstor-csi built",
            metadata: [
                "object": .string(what), "error": .string(message),
                "causes": .array(causes.map { .string("\($0.field ?? ""): \($0.message ?? "")") }),
            ])
        return .internal("the Kubernetes API refused the \(what) cstor-csi built (a bug in cstor-csi; please report it): \(message)")
    }
}
