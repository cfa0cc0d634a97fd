import CStorCore
import Metrics

/// Metrics of the Kubernetes API traffic: latency by verb, resource and HTTP code, and failed
/// requests (no response, or a 4xx/5xx other than the expected 404 and 409).
public enum KubernetesAPIMetrics {
    public static let observer: KubernetesRequestObserver = { record in
        let code = record.statusCode.map(String.init) ?? "none"
        Timer(
            label: "cstor_csi_kube_api_request_duration_seconds",
            dimensions: [("verb", record.verb), ("resource", record.resource), ("code", code)]
        ).recordNanoseconds(Int64(record.seconds * 1e9))
        let failed = record.statusCode.map { $0 >= 400 && $0 != 404 && $0 != 409 } ?? true
        if failed {
            Counter(
                label: "cstor_csi_kube_api_request_errors_total",
                dimensions: [("verb", record.verb), ("resource", record.resource), ("code", code)]
            ).increment()
        }
    }
}
