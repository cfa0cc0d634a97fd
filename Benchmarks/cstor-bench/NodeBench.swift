import CSITestSupport
import CStorCore
import CStorKubernetes
import CStorModel
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix

/// A release cstor-node on the loop transport with its own kubelet, volume and state directories
/// under the run's scratch directory (scripts/bench unmounts and detaches whatever stays there).
final class NodeWorld: @unchecked Sendable {
    let directory: String
    let kubelet: String
    let volumes: String
    let state: String
    let metricsPort: Int
    let node: Plugin

    init(_ config: BenchConfig, name: String, extra: [String] = [], environment: [String: String] = [:]) async throws {
        directory = config.path(name)
        kubelet = directory + "/kubelet"
        volumes = directory + "/volumes"
        state = directory + "/state"
        for path in [kubelet, volumes] {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        }
        metricsPort = freePort()
        node = try Plugin(
            "cstor-node", socket: directory + "/csi.sock",
            arguments: [
                "--node-id", "node-1", "--kubelet-dir", kubelet, "--state-dir", state, "--transports", "loop",
                "--loop-dir", volumes, "--metrics-address", "127.0.0.1:\(metricsPort)",
            ] + extra,
            logDirectory: directory, environment: environment)
        try await node.waitUntilServing()
    }

    func stagingPath(_ id: String) -> String {
        "\(kubelet)/plugins/kubernetes.io/csi/cstor.csi.openebs.io/\(id)/globalmount"
    }

    func targetPath(_ id: String) -> String {
        "\(kubelet)/pods/pod-1/volumes/kubernetes.io~csi/\(id)/mount"
    }

    /// A sparse backing file; returns the publish_context the controller would send.
    func makeVolume(_ id: String, bytes: Int64) throws -> [String: String] {
        let file = "\(volumes)/\(id).img"
        guard FileManager.default.createFile(atPath: file, contents: nil), truncate(file, off_t(bytes)) == 0 else {
            throw BenchError("cannot create \(file)")
        }
        return ["transport": "loop", "file": file]
    }

    func stageRequest(_ id: String, context: [String: String], fsType: String = "ext4") -> Csi_V1_NodeStageVolumeRequest {
        .with {
            $0.volumeID = id
            $0.stagingTargetPath = stagingPath(id)
            $0.publishContext = context
            $0.volumeCapability = .mount(fsType)
        }
    }

    func publishRequest(_ id: String, fsType: String = "ext4") -> Csi_V1_NodePublishVolumeRequest {
        .with {
            $0.volumeID = id
            $0.stagingTargetPath = stagingPath(id)
            $0.targetPath = targetPath(id)
            $0.volumeCapability = .mount(fsType)
        }
    }

    func client<T: Sendable>(_ body: (Csi_V1_Node.Client<HTTP2ClientTransport.Posix>) async throws -> T) async throws -> T {
        try await withCSIClient(socket: node.socket) { try await body(Csi_V1_Node.Client(wrapping: $0)) }
    }

    func teardownVolume(_ csi: Csi_V1_Node.Client<HTTP2ClientTransport.Posix>, _ id: String) async throws {
        _ = try await csi.nodeUnpublishVolume(.with {
            $0.volumeID = id
            $0.targetPath = targetPath(id)
        }, options: callOptions)
        _ = try await csi.nodeUnstageVolume(.with {
            $0.volumeID = id
            $0.stagingTargetPath = stagingPath(id)
        }, options: callOptions)
        try? FileManager.default.removeItem(atPath: "\(volumes)/\(id).img")
    }

    /// Stages and publishes `ids` (fresh sparse ext4 volumes of `bytes`), 4 at a time; an ABORTED
    /// answer (operation pending) is retried after a pause, as kubelet does, and counted.
    func stageAndPublishMany(
        _ csi: Csi_V1_Node.Client<HTTP2ClientTransport.Posix>, ids: [String], bytes: Int64
    ) async throws -> (latencies: [Double], errors: [String], aborts: Int) {
        let aborts = Counter()
        let result = try await withDeadline(.seconds(900), "staging \(ids.count) volumes") {
            await runConcurrently(count: ids.count, concurrency: 4) { index in
                let id = ids[index]
                let context = try self.makeVolume(id, bytes: bytes)
                try await retryingAborted(aborts) {
                    _ = try await csi.nodeStageVolume(self.stageRequest(id, context: context), options: callOptions)
                }
                try await retryingAborted(aborts) { _ = try await csi.nodePublishVolume(self.publishRequest(id), options: callOptions) }
            }
        }
        return (result.latencies, result.errors, aborts.take())
    }

    /// Says when staging met ABORTED answers: the health monitor was working on those volumes.
    func noteAborts(_ count: Int) {
        guard count > 0 else { return }
        let recoveries = node.logObjects().filter { ($0["msg"] as? String) == "fault detected" }
        Out.note("⚠ \(count) ABORTED answers while staging (retried): the health monitor ran recoveries on \(recoveries.count) volumes — first: \(recoveries.first.map { "\($0["volume_id"] ?? "?"): \($0["fault"] ?? "?")" } ?? "none logged")")
    }

    /// The loop device backing `file`, from /sys/block.
    static func loopDevice(backing file: String) -> String? {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/sys/block")) ?? []
        for name in names where name.hasPrefix("loop") {
            guard let backing = try? String(contentsOfFile: "/sys/block/\(name)/loop/backing_file", encoding: .utf8) else { continue }
            if backing.trimmingCharacters(in: .whitespacesAndNewlines) == file { return name }
        }
        return nil
    }

    func metrics() throws -> Metrics { try Metrics.scrape(port: metricsPort) }

    func stop() async { await node.stop() }
}

/// Runs `body`, retrying an ABORTED answer (operation pending) after a pause, like kubelet; each
/// retry counts in `aborts`.
func retryingAborted(_ aborts: Counter, _ body: () async throws -> Void) async throws {
    for attempt in 1...50 {
        do {
            return try await body()
        } catch let error as RPCError where error.code == .aborted && attempt < 50 {
            _ = aborts.take()
            try await Task.sleep(for: .milliseconds(100))
        }
    }
}

// MARK: - Stage + publish

func stageBenchmark(_ config: BenchConfig) async throws {
    let runs = max(config.runs, 2) * (config.quick ? 1 : 3)
    let bytes: Int64 = 1 << 30
    Out.header("stage: NodeStageVolume + NodePublishVolume of a 1 GiB ext4 loop volume vs mkfs.ext4 -F -m0 + mount + mount --bind (the limit)")
    Out.note("\(runs) runs each, alternating; a fresh sparse 1 GiB file per run in \(config.workDir) (\(filesystemOf(config.workDir)))")
    Out.note("ours includes attaching the loop device and probing it for a filesystem; the limit is timed on an already attached loop device, losetup shown apart")
    let world = try await NodeWorld(config, name: "stage")
    let limitDirectory = config.path("stage-limit")
    try FileManager.default.createDirectory(atPath: limitDirectory, withIntermediateDirectories: true)
    var ours: [Double] = []
    var oursStage: [Double] = []
    var oursPublish: [Double] = []
    var limits: [Double] = []
    var limitSteps: [String: [Double]] = [:]
    var commandMeans: [String: [Double]] = [:]
    var serverStage: [Double] = []
    var serverPublish: [Double] = []
    try await world.client { csi in
        // Warm-up: one full cycle on each side (binaries and libraries into the page cache).
        for iteration in 0...runs {
            let warm = iteration == 0
            let id = "pvc-stage-\(iteration)"
            let order = iteration % 2 == 0 ? [true, false] : [false, true]
            for oursFirst in order {
                if oursFirst {
                    let context = try world.makeVolume(id, bytes: bytes)
                    let before = try world.metrics()
                    let start = clock.now
                    _ = try await csi.nodeStageVolume(world.stageRequest(id, context: context), options: callOptions)
                    let staged = clock.now
                    _ = try await csi.nodePublishVolume(world.publishRequest(id), options: callOptions)
                    let end = clock.now
                    let delta = try world.metrics() - before
                    if !warm {
                        ours.append(start.duration(to: end).milliseconds)
                        oursStage.append(start.duration(to: staged).milliseconds)
                        oursPublish.append(staged.duration(to: end).milliseconds)
                        for program in delta.labelValues("cstor_csi_command_duration_seconds_sum", "program") {
                            let sum = delta.sum("cstor_csi_command_duration_seconds_sum", ["program=\"\(program)\""]) * 1000
                            let calls = delta.sum("cstor_csi_command_duration_seconds_count", ["program=\"\(program)\""])
                            if calls > 0 { commandMeans["\(program) ×\(Int(calls))", default: []].append(sum) }
                        }
                        let stageSum = delta.sum("cstor_csi_rpc_duration_seconds_sum", ["method=\"NodeStageVolume\""])
                        let publishSum = delta.sum("cstor_csi_rpc_duration_seconds_sum", ["method=\"NodePublishVolume\""])
                        serverStage.append(stageSum * 1000)
                        serverPublish.append(publishSum * 1000)
                    }
                    try await world.teardownVolume(csi, id)
                } else {
                    let file = "\(limitDirectory)/\(id).img"
                    guard FileManager.default.createFile(atPath: file, contents: nil), truncate(file, off_t(bytes)) == 0 else {
                        throw BenchError("cannot create \(file)")
                    }
                    let stage = "\(limitDirectory)/\(id)-stage"
                    let target = "\(limitDirectory)/\(id)-target"
                    try FileManager.default.createDirectory(atPath: stage, withIntermediateDirectories: true)
                    try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
                    let attach = try check("losetup", ["--find", "--show", file])
                    let device = attach.output.trimmingCharacters(in: .whitespacesAndNewlines)
                    let mkfs = try check("mkfs.ext4", ["-F", "-m0", device])
                    let mount = try check("mount", [device, stage])
                    let bind = try check("mount", ["--bind", stage, target])
                    if !warm {
                        limits.append(mkfs.ms + mount.ms + bind.ms)
                        limitSteps["losetup (not in the limit)", default: []].append(attach.ms)
                        limitSteps["mkfs.ext4 -F -m0", default: []].append(mkfs.ms)
                        limitSteps["mount", default: []].append(mount.ms)
                        limitSteps["mount --bind", default: []].append(bind.ms)
                    }
                    try check("umount", [target])
                    try check("umount", [stage])
                    try check("losetup", ["--detach", device])
                    try FileManager.default.removeItem(atPath: file)
                }
            }
        }
    }
    saveLog(config, world.node, name: "node-stage")
    await world.stop()
    Out.line("ours : stage+publish \(spread(ours)) ms (client side; stage \(spread(oursStage)) ms, publish \(spread(oursPublish)) ms)")
    Out.line("       inside the node (rpc metric): stage \(spread(serverStage)) ms, publish \(spread(serverPublish)) ms")
    for (program, values) in commandMeans.sorted(by: { Stats.median($0.value) > Stats.median($1.value) }) {
        Out.line("       command \(program): \(spread(values)) ms in total per stage+publish")
    }
    Out.line("limit: mkfs+mount+bind \(spread(limits)) ms")
    for (step, values) in limitSteps.sorted(by: { $0.key < $1.key }) {
        Out.line("       \(step): \(spread(values)) ms")
    }
    let ratios = zip(ours, limits).map { $0 / $1 }
    let ratio = Stats.median(ratios)
    Out.verdict("stage+publish ours/limit", ratio: ratio, target: "≤ 1.1×", pass: ratio <= 1.1,
                detail: "per run \(ratios.map { fmt($0, 2) }.joined(separator: ", "))")
    let withLosetup = zip(ours, zip(limits, limitSteps["losetup (not in the limit)"] ?? [])).map { $0 / ($1.0 + $1.1) }
    Out.line("ours/(limit + losetup): \(spread(withLosetup, 3))×")
}

func filesystemOf(_ path: String) -> String {
    ((try? check("findmnt", ["-n", "-o", "FSTYPE", "-T", path]))?.output ?? "?").trimmingCharacters(in: .whitespacesAndNewlines)
}

// MARK: - NodeGetVolumeStats over many volumes

func statsBenchmark(_ config: BenchConfig) async throws {
    let count = config.quick ? 40 : 200
    let reps = max(config.runs, 2) + 1
    Out.header("stats: NodeGetVolumeStats over \(count) staged and published 32 MiB ext4 volumes")
    let world = try await NodeWorld(config, name: "stats")
    let ids = (0..<count).map { "pvc-stats-\($0)" }
    try await withCSIClient(socket: world.node.socket) { grpc in
        let csi = Csi_V1_Node.Client(wrapping: grpc)
        let setup = clock.now
        let staged = try await world.stageAndPublishMany(csi, ids: ids, bytes: 32 << 20)
        guard staged.errors.isEmpty else {
            saveLog(config, world.node, name: "node-stats")
            throw BenchError("staging failed: \(staged.errors[0])")
        }
        Out.note("staged and published \(count) volumes in \(fmt(setup.duration(to: clock.now).seconds, 1)) s (4 at a time; stage+publish p50 \(fmt(Stats.percentile(staged.latencies, 50), 0)) ms)")
        world.noteAborts(staged.aborts)
        @Sendable func statsRequest(_ index: Int) -> Csi_V1_NodeGetVolumeStatsRequest {
            .with {
                $0.volumeID = ids[index]
                $0.volumePath = world.targetPath(ids[index])
                $0.stagingTargetPath = world.stagingPath(ids[index])
            }
        }
        // Warm-up.
        for index in 0..<count { _ = try await csi.nodeGetVolumeStats(statsRequest(index), options: callOptions) }
        let identity = Csi_V1_Identity.Client(wrapping: grpc)
        var results: [String: [Double]] = [:]
        var inside: [String: [Double]] = [:]
        for _ in 1...reps {
            for (name, concurrency) in [("sequential", 1), ("concurrent", count)] {
                for call in ["NodeGetVolumeStats", "Probe"] {
                    let before = try world.metrics()
                    let result = await runConcurrently(count: count, concurrency: concurrency) { index in
                        if call == "Probe" {
                            _ = try await identity.probe(.init(), options: callOptions)
                        } else {
                            let response = try await csi.nodeGetVolumeStats(statsRequest(index), options: callOptions)
                            guard response.usage.count == 2, response.usage[0].total > 0 else { throw BenchError("stats without usage") }
                        }
                    }
                    guard result.errors.isEmpty else { throw BenchError("\(call) failed: \(result.errors[0])") }
                    let delta = try world.metrics() - before
                    let sum = delta.sum("cstor_csi_rpc_duration_seconds_sum", ["method=\"\(call)\""]) * 1000
                    let calls = delta.sum("cstor_csi_rpc_duration_seconds_count", ["method=\"\(call)\""])
                    results["\(call) \(name)", default: []].append(result.wall * 1000)
                    inside["\(call) \(name)", default: []].append(calls > 0 ? sum / calls : .nan)
                }
            }
        }
        for key in ["NodeGetVolumeStats sequential", "Probe sequential", "NodeGetVolumeStats concurrent", "Probe concurrent"] {
            Out.line(
                "\(key.padding(toLength: 30, withPad: " ", startingAt: 0)) \(count) calls: total \(spread(results[key] ?? [], 1)) ms, per call \(spread((results[key] ?? []).map { $0 / Double(count) }, 3)) ms; inside the node (rpc metric mean) \(spread(inside[key] ?? [], 3)) ms/call"
            )
        }
        let sequential = Stats.median(results["NodeGetVolumeStats sequential"] ?? [])
        let probes = Stats.median(results["Probe sequential"] ?? [])
        Out.line("ratio stats/probe, sequential (the gRPC round trip as the limit): \(fmt(sequential / probes, 2))×")
        let concurrent = Stats.median(results["NodeGetVolumeStats concurrent"] ?? [])
        Out.verdict("\(count) stats sequential", value: "\(fmt(sequential, 1)) ms", target: "< 50 ms", pass: sequential < 50)
        Out.verdict("\(count) stats concurrent", value: "\(fmt(concurrent, 1)) ms", target: "< 50 ms", pass: concurrent < 50)
        saveLog(config, world.node, name: "node-stats")
        let teardown = await runConcurrently(count: count, concurrency: 4) { index in try await world.teardownVolume(csi, ids[index]) }
        if !teardown.errors.isEmpty { Out.note("teardown errors: \(teardown.errors.count), first: \(teardown.errors[0])") }
    }
    await world.stop()
}
