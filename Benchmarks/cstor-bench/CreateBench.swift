import CSITestSupport
import CStorCore
import CStorKubernetes
import CStorKubernetesHTTP
import CStorModel
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import Logging

/// The cstor engine's world for a benchmark: the test API server (HTTPS + token, as in a cluster),
/// the simulated cvc-operator binding at once, pools, and the release controller reaching the
/// server through a kubeconfig file.
struct CStorWorld {
    let server: KubeAPITestServer
    let operatorSimulator: SimulatedCVCOperator
    let directory: String
    let kubeconfig: String
    static let namespace = "openebs"
    static let parameters = ["cstorPoolCluster": "cspc-bench", "replicaCount": "1", "cas-type": "cstor"]

    static func with<T: Sendable>(_ config: BenchConfig, name: String, _ body: (CStorWorld) async throws -> T) async throws -> T {
        // historyLimit: a real API server keeps minutes of history (etcd compaction); the test
        // server's default 1000 events would turn watches of a busy run into 410 Gone relists.
        try await KubeAPITestServer.with(.init(tls: true, historyLimit: 1_000_000)) { server in
            let options = SimulatedCVCOperator.Options(
                namespace: namespace, bindDelay: .zero, healthyDelay: .zero, expansionDelay: .zero, targetAddress: "127.0.0.1")
            return try await SimulatedCVCOperator.with(store: server.store, options: options) { simulated in
                let directory = config.path(name)
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                for node in ["node-1", "node-2", "node-3"] {
                    _ = try server.store.create(Node(metadata: ObjectMeta(name: node)))
                }
                _ = try simulated.createPoolCluster(
                    "cspc-bench", nodes: ["node-1", "node-2", "node-3"], free: try Quantity(parsing: "100Ti"),
                    total: try Quantity(parsing: "200Ti"))
                let kubeconfig = directory + "/kubeconfig"
                let ca = server.pki.map { Data($0.caPEM).base64EncodedString() } ?? ""
                let yaml = """
                    apiVersion: v1
                    kind: Config
                    current-context: bench
                    clusters:
                    - name: bench
                      cluster:
                        server: \(server.baseURL)
                        certificate-authority-data: \(ca)
                    users:
                    - name: bench
                      user:
                        token: \(server.token ?? "")
                    contexts:
                    - name: bench
                      context:
                        cluster: bench
                        user: bench
                    """
                try Data(yaml.utf8).write(to: URL(fileURLWithPath: kubeconfig))
                let world = CStorWorld(server: server, operatorSimulator: simulated, directory: directory, kubeconfig: kubeconfig)
                return try await body(world)
            }
        }
    }

    /// Controller flags raised so that neither its rate limit nor its operation limit is the bottleneck.
    var unthrottledArguments: [String] {
        [
            "--engine", "cstor", "--kubeconfig", kubeconfig, "--namespace", Self.namespace,
            "--kube-api-qps", "1000000", "--kube-api-burst", "1000000", "--max-concurrent-operations", "100000",
            "--provision-timeout", "120",
        ]
    }

    func startController(_ extra: [String] = [], environment: [String: String] = [:], socketName: String = "controller.sock")
        async throws -> Plugin
    {
        let plugin = try Plugin(
            "cstor-controller", socket: directory + "/" + socketName, arguments: unthrottledArguments + extra,
            logDirectory: directory, environment: environment)
        try await plugin.waitUntilServing()
        return plugin
    }

    /// The CVC the controller writes for a CreateVolume of `name` (same labels, annotations, spec).
    func volumeConfig(_ name: String, gib: Int64) throws -> CStorVolumeConfig {
        let storage = try Quantity.gibibytes(gib)
        return CStorVolumeConfig(
            metadata: ObjectMeta(
                name: name, namespace: Self.namespace, labels: ["openebs.io/cstor-pool-cluster": "cspc-bench"],
                annotations: [
                    "openebs.io/volumeID": name, "openebs.io/volume-policy": "",
                    "openebs.io/persistent-volume-claim": "data-\(name)",
                ],
                finalizers: ["cvc.openebs.io/finalizer"]),
            spec: CStorVolumeConfig.Spec(
                capacity: ["storage": storage], cstorVolumeSource: nil, policy: .newVolume,
                provision: CStorVolumeConfigKind.Provision(capacity: ["storage": storage], replicaCount: 1)),
            status: CStorVolumeConfig.Status(phase: .pending),
            versionDetails: .newVolume)
    }
}

func createRequest(_ name: String) -> Csi_V1_CreateVolumeRequest {
    .with {
        $0.name = name
        $0.capacityRange = .with { $0.requiredBytes = 1 << 30 }
        $0.volumeCapabilities = [.mount()]
        $0.parameters = CStorWorld.parameters.merging(["csi.storage.k8s.io/pvc/name": "data-\(name)"]) { $1 }
    }
}

let callOptions: CallOptions = {
    var options = CallOptions.defaults
    options.timeout = .seconds(120)
    return options
}()

/// Groups the API request log: "verb resource" → count (names and namespaces dropped).
func requestBreakdown(_ records: [KubeAPIRequestRecord]) -> [(String, Int)] {
    var counts: [String: Int] = [:]
    for record in records {
        // /apis/cstor.openebs.io/v1/namespaces/openebs/cstorvolumeconfigs/pvc-1 → cstorvolumeconfigs
        let parts = record.path.split(separator: "/").map(String.init)
        var resource = record.path
        if let index = parts.firstIndex(of: "namespaces"), parts.count > index + 2 {
            resource = parts[index + 2]
        } else if parts.count >= 3 {
            resource = parts.first == "api" ? (parts.count > 2 ? parts[2] : record.path) : (parts.count > 3 ? parts[3] : record.path)
        }
        var key = "\(record.verb) \(resource)"
        if record.status >= 400 { key += " →\(record.status)" }
        counts[key, default: 0] += 1
    }
    return counts.sorted { $0.value > $1.value }
}

/// CPU seconds (user + system) of a process so far, from /proc/PID/stat.
func cpuSeconds(_ pid: Int32) -> Double {
    guard let stat = try? KernelFile.read("/proc/\(pid)/stat"), let close = stat.lastIndex(of: ")") else { return 0 }
    let fields = stat[stat.index(close, offsetBy: 2)...].split(separator: " ")
    guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
    return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
}

struct CreateRun {
    var throughput: Double
    var p50: Double
    var p99: Double
    var requests: Int
    var breakdown: [(String, Int)]
    var controllerCPU: Double
    var benchCPU: Double
}

/// One side of one run in a fresh world (empty store but for `existing` CVCs): ours through the
/// controller, or the limit as bare POSTs from one HTTPKubernetesClient.
func createRun(_ config: BenchConfig, side: String, run: Int, count: Int, concurrency: Int, existing: Int = 0) async throws -> CreateRun {
    try await CStorWorld.with(config, name: "create-\(side)-\(run)-\(existing)") { world in
        for index in 0..<existing {
            _ = try world.server.store.create(try world.volumeConfig("old-\(index)", gib: 1))
        }
        let logger = Logger(label: "bench") { _ in SwiftLogNoOpLogHandler() }
        let controller = try await world.startController()
        defer { Children.unregister(controller.pid) }
        do {
            let outcome = try await HTTPKubernetesClient.withClient(configuration: world.server.clientConfiguration(), logger: logger) { client in
                try await withCSIClient(socket: controller.socket) { grpc in
                    let csi = Csi_V1_Controller.Client(wrapping: grpc)
                    // Warm-up of the path measured (connections, TLS sessions, code pages).
                    for index in 0..<20 {
                        if side == "ours" {
                            _ = try await csi.createVolume(createRequest("pvc-warm-\(index)"), options: callOptions)
                        } else {
                            _ = try await client.create(try world.volumeConfig("cvc-warm-\(index)", gib: 1))
                        }
                    }
                    try await Task.sleep(for: .milliseconds(300))
                    world.server.clearRequestLog()
                    let controllerBefore = cpuSeconds(controller.pid)
                    let benchBefore = cpuSeconds(getpid())
                    let result = try await withDeadline(.seconds(900), "\(side) run \(run)") {
                        await runConcurrently(count: count, concurrency: concurrency) { index in
                            if side == "ours" {
                                _ = try await csi.createVolume(createRequest("pvc-r\(run)-\(index)"), options: callOptions)
                            } else {
                                _ = try await client.create(try world.volumeConfig("cvc-r\(run)-\(index)", gib: 1))
                            }
                        }
                    }
                    guard result.errors.isEmpty else {
                        throw BenchError("\(result.errors.count) of \(side)'s calls failed, first: \(result.errors[0])")
                    }
                    let records = world.server.requests
                    return CreateRun(
                        throughput: Double(count) / result.wall, p50: Stats.percentile(result.latencies, 50),
                        p99: Stats.percentile(result.latencies, 99), requests: records.count, breakdown: requestBreakdown(records),
                        controllerCPU: cpuSeconds(controller.pid) - controllerBefore, benchCPU: cpuSeconds(getpid()) - benchBefore)
                }
            }
            await controller.stop()
            return outcome
        } catch {
            saveLog(config, controller, name: "controller-\(side)-\(run)")
            await controller.stop()
            throw error
        }
    }
}

/// Keeps a plugin's log in the report directory (when one was given).
func saveLog(_ config: BenchConfig, _ plugin: Plugin, name: String) {
    guard config.reportDir != config.workDir else { return }
    try? plugin.logText().write(toFile: (config.reportDir as NSString).appendingPathComponent("\(name).log"), atomically: true, encoding: .utf8)
}

func createBenchmark(_ config: BenchConfig) async throws {
    let count = config.quick ? 200 : 1000
    let concurrency = 100
    Out.header("create: CreateVolume, \(count) volumes at concurrency \(concurrency) vs bare CVC POSTs (the limit)")
    Out.note("test API server in this process (HTTPS, token, request log), simulated cvc-operator with zero delays; a fresh server, operator and controller for every run of each side")
    Out.note("controller: release cstor-controller, --kube-api-qps 1000000 --kube-api-burst 1000000 --max-concurrent-operations 100000 (not the bottleneck)")
    Out.note("client: one gRPC connection over the unix socket, \(concurrency) calls in flight; limit: one HTTPKubernetesClient with the test server's configuration, \(concurrency) POSTs in flight")
    Out.note("CPU = user+system seconds during the run: the controller process, and this process (API server + operator + client)")
    var ours: [CreateRun] = []
    var limit: [CreateRun] = []
    for run in 1...config.runs {
        for side in (run % 2 == 1 ? ["ours", "limit"] : ["limit", "ours"]) {
            let result = try await createRun(config, side: side, run: run, count: count, concurrency: concurrency)
            if side == "ours" { ours.append(result) } else { limit.append(result) }
            let cpu = side == "ours"
                ? "CPU per volume: controller \(fmt(result.controllerCPU / Double(count) * 1000)) ms, server+operator+client \(fmt(result.benchCPU / Double(count) * 1000)) ms"
                : "CPU per POST: server+operator+client \(fmt(result.benchCPU / Double(count) * 1000)) ms"
            Out.line(
                "run \(run) \(side == "ours" ? "ours " : "limit"): \(fmt(result.throughput, 1))/s, p50 \(fmt(result.p50, 1)) ms, p99 \(fmt(result.p99, 1)) ms, \(fmt(Double(result.requests) / Double(count))) API requests each; \(cpu)"
            )
        }
    }
    Out.line("ours : throughput \(spread(ours.map(\.throughput), 1)) volumes/s, p50 \(spread(ours.map(\.p50), 1)) ms, p99 \(spread(ours.map(\.p99), 1)) ms")
    Out.line("limit: throughput \(spread(limit.map(\.throughput), 1)) POSTs/s, p50 \(spread(limit.map(\.p50), 1)) ms, p99 \(spread(limit.map(\.p99), 1)) ms")
    let breakdown = ours.last?.breakdown ?? []
    Out.line("API requests per CreateVolume: \(spread(ours.map { Double($0.requests) / Double(count) })) — " + breakdown.map { "\($0.0) \(fmt(Double($0.1) / Double(count)))" }.joined(separator: ", "))
    let ratios = zip(ours, limit).map { $0.throughput / $1.throughput }
    let ratio = Stats.median(ratios)
    Out.verdict("throughput ours/limit", ratio: ratio, target: "≥ 0.9×", pass: ratio >= 0.9, detail: "per run \(ratios.map { fmt($0, 3) }.joined(separator: ", "))")
    Out.line("p50 latency limit/ours: \(spread(zip(ours, limit).map { $1.p50 / $0.p50 }, 3))×, p99 limit/ours: \(spread(zip(ours, limit).map { $1.p99 / $0.p99 }, 3))×")
    if !config.quick {
        // Scaling: the same run with 5000 CVCs already in the store (a cluster with many volumes).
        let existing = 5000
        let big = try await createRun(config, side: "ours", run: 99, count: count, concurrency: concurrency, existing: existing)
        let bigLimit = try await createRun(config, side: "limit", run: 99, count: count, concurrency: concurrency, existing: existing)
        Out.line(
            "with \(existing) CVCs already stored: ours \(fmt(big.throughput, 1))/s (p50 \(fmt(big.p50, 1)) ms, controller CPU \(fmt(big.controllerCPU / Double(count) * 1000)) ms/volume, server side \(fmt(big.benchCPU / Double(count) * 1000)) ms/volume), limit \(fmt(bigLimit.throughput, 1))/s → ratio \(fmt(big.throughput / bigLimit.throughput, 3))×"
        )
    }
}
