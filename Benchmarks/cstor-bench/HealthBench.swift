import CSITestSupport
import CStorCore
import Dispatch
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import Synchronization

// The health monitor's two figures (issue 16): how soon a read-only fault is reported, and what one
// sweep over many healthy volumes costs — in time, and in processes (it must start none).

// MARK: - Fault detection

func faultBenchmark(_ config: BenchConfig) async throws {
    let runs = max(config.runs, 2) * (config.quick ? 1 : 3)
    Out.header("fault: a real ext4 error (trigger_fs_error) on a staged and published volume → what the node reports, and when")
    Out.note("\(runs) runs per case, each on a fresh 64 MiB ext4 volume: free (nothing else holds it: the node repairs it) and held (a pod stand-in — a private mount namespace with a file of the volume open — holds it: the node must not unmount it and reports it)")
    Out.note("user-visible: NodeGetVolumeStats polled back to back from just before the write to trigger_fs_error (one call ≈ 1–2 ms: that is the resolution); log: the node's \"fault detected\" line (ts, ms) − wall time just before the write")
    Out.note("reference: the kernel's own report, the \"EXT4-fs error (device loopN)\" record the node watches, read by the harness from /dev/kmsg in the same poll loop")
    let world = try await NodeWorld(config, name: "fault")
    var kernel: [Double] = []
    var conditions: [Double] = []
    var logged: [Double] = []
    var named: [Double] = []
    var recoveries: [Double] = []
    var firstMessages: [String: String] = [:]
    try await world.client { csi in
        for run in 1...runs {
            for held in run % 2 == 1 ? [false, true] : [true, false] {
                let result = try await faultRun(world, csi, id: "pvc-fault-\(held ? "held" : "free")-\(run)", held: held)
                kernel.append(result.kernel)
                conditions.append(result.condition)
                logged.append(result.logged)
                if held { named.append(result.settled) } else { recoveries.append(result.settled) }
                if firstMessages[held ? "held" : "free"] == nil { firstMessages[held ? "held" : "free"] = result.message }
                Out.line(
                    "run \(run) \(held ? "held" : "free"): kernel log record after \(fmt(result.kernel, 1)) ms; volume_condition abnormal after \(fmt(result.condition, 1)) ms; \"fault detected\" logged after \(fmt(result.logged, 0)) ms; "
                        + (held ? "condition names the pods after \(fmt(result.settled, 1)) ms" : "healthy again after \(fmt(result.settled, 1)) ms"))
            }
        }
    }
    saveLog(config, world.node, name: "node-fault")
    await world.stop()
    for (name, message) in firstMessages.sorted(by: { $0.key > $1.key }) {
        Out.note("first abnormal message (\(name)): \(message.count > 160 ? String(message.prefix(160)) + "…" : message)")
    }
    func p50max(_ values: [Double], _ digits: Int = 1) -> String {
        "p50 \(fmt(Stats.percentile(values, 50), digits)) ms, max \(fmt(values.max() ?? .nan, digits)) ms"
    }
    Out.line("reference: the kernel's log record \(p50max(kernel))")
    Out.line("volume_condition abnormal: \(p50max(conditions)) (both cases, \(conditions.count) runs)")
    Out.line("\"fault detected\" log line: \(p50max(logged, 0))")
    Out.line("held: condition names the pods and what to do: \(p50max(named)); free: read-write and healthy again: \(p50max(recoveries))")
    let worstCondition = conditions.max() ?? .infinity
    Out.verdict("fault → volume_condition abnormal (max of \(conditions.count))", value: "\(fmt(worstCondition, 1)) ms", target: "< 1000 ms", pass: worstCondition < 1000)
    let worstLog = logged.max() ?? .infinity
    Out.verdict("fault → \"fault detected\" log line (max of \(logged.count))", value: "\(fmt(worstLog, 0)) ms", target: "< 1000 ms", pass: worstLog < 1000)
    let worstNamed = named.max() ?? .infinity
    Out.verdict("held: fault → condition names the pods (max of \(named.count))", value: "\(fmt(worstNamed, 1)) ms", target: "< 1000 ms", pass: worstNamed < 1000)
}

/// One fault: stage and publish a fresh volume, optionally hold it from a pod stand-in, trigger an
/// ext4 error and poll what the node reports until it settles (held: the condition names the
/// pods; free: healthy again). Times in ms from just before the trigger.
private func faultRun(
    _ world: NodeWorld, _ csi: Csi_V1_Node.Client<HTTP2ClientTransport.Posix>, id: String, held: Bool
) async throws -> (kernel: Double, condition: Double, logged: Double, settled: Double, message: String) {
    let context = try world.makeVolume(id, bytes: 64 << 20)
    _ = try await csi.nodeStageVolume(world.stageRequest(id, context: context), options: callOptions)
    _ = try await csi.nodePublishVolume(world.publishRequest(id), options: callOptions)
    let dataFile = world.targetPath(id) + "/data"
    try Data("before the fault".utf8).write(to: URL(fileURLWithPath: dataFile))
    sync()
    let holder = held ? try PodStandIn(holding: dataFile) : nil
    defer { holder?.stop() }
    try await holder?.waitUntilHolding()
    try await Task.sleep(for: .milliseconds(300))
    let request = Csi_V1_NodeGetVolumeStatsRequest.with {
        $0.volumeID = id
        $0.volumePath = world.targetPath(id)
        $0.stagingTargetPath = world.stagingPath(id)
    }
    let before = try await csi.nodeGetVolumeStats(request, options: callOptions)
    guard !before.volumeCondition.abnormal else { throw BenchError("\(id) is abnormal before the fault: \(before.volumeCondition.message)") }
    guard let loop = NodeWorld.loopDevice(backing: context["file"]!) else { throw BenchError("no loop device for \(id)") }
    let trigger = "/sys/fs/ext4/\(loop)/trigger_fs_error"
    let kernelLog = try KernelLogTail()
    defer { kernelLog.close() }
    let fd = open(trigger, O_WRONLY)
    guard fd >= 0 else { throw BenchError("cannot open \(trigger): errno \(errno)") }
    let message = "cstor-bench \(id)"
    let triggered = Date()
    let start = clock.now
    _ = write(fd, message, message.utf8.count)
    close(fd)

    var kernel: Double?
    var condition: (ms: Double, message: String)?
    var settled: Double?
    let deadline = clock.now + .seconds(30)
    while settled == nil {
        guard clock.now < deadline else {
            throw BenchError("\(id): no settled report within 30 s (kernel record: \(kernel.map { fmt($0, 1) } ?? "no"), condition: \(condition?.message ?? "healthy"))")
        }
        if kernel == nil, kernelLog.newRecords().contains(where: { $0.contains("EXT4-fs error (device \(loop))") }) {
            kernel = start.duration(to: clock.now).milliseconds
        }
        let response = try await csi.nodeGetVolumeStats(request, options: callOptions)
        let now = start.duration(to: clock.now).milliseconds
        if response.volumeCondition.abnormal {
            if condition == nil { condition = (now, response.volumeCondition.message) }
            if held && response.volumeCondition.message.contains(HeldMarker.text) { settled = now }
        } else if !held && condition != nil {
            settled = now
        } else if !held && now > 200 && nodeLogged(world, id, how: "recovered") {
            // Repaired before any poll saw it abnormal: the condition never showed.
            throw BenchError("\(id) was repaired before NodeGetVolumeStats saw it abnormal; the poll is too coarse")
        }
    }
    var logged: Date?
    try await waitUntil(.seconds(10), "the \"fault detected\" log line of \(id)", interval: .milliseconds(20)) {
        logged = world.node.logObjects().first { $0["volume_id"] as? String == id && $0["msg"] as? String == "fault detected" }
            .flatMap { ($0["ts"] as? String).flatMap(parseTimestamp) }
        return logged != nil
    }
    if held {
        try await waitUntil(.seconds(10), "the error log line naming the pod of \(id)", interval: .milliseconds(20)) {
            world.node.logObjects().contains {
                $0["volume_id"] as? String == id && $0["level"] as? String == "error" && ($0["pod_uids"] as? String)?.contains("pod-1") == true
            }
        }
    }
    holder?.stop()
    let aborts = Counter()
    try await retryingAborted(aborts) { try await world.teardownVolume(csi, id) }
    return (kernel ?? .nan, condition?.ms ?? .nan, logged!.timeIntervalSince(triggered) * 1000, settled ?? .nan, condition?.message ?? "")
}

/// The words the node's condition uses when pods hold a volume it cannot repair
/// (`HeldByOtherNamespaces.marker` in cstor-node).
enum HeldMarker {
    static let text = "while pods hold it"
}

private func nodeLogged(_ world: NodeWorld, _ id: String, how: String) -> Bool {
    world.node.logObjects().contains { $0["volume_id"] as? String == id && $0["how"] as? String == how }
}

/// New records of the kernel log (/dev/kmsg), from the moment it was opened: the text after ';'.
final class KernelLogTail {
    private let descriptor: Int32

    init() throws {
        descriptor = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard descriptor >= 0 else { throw BenchError("cannot open /dev/kmsg: errno \(errno)") }
        lseek(descriptor, 0, SEEK_END)
    }

    func newRecords() -> [String] {
        var records: [String] = []
        var buffer = [UInt8](repeating: 0, count: 8192)
        while true {
            let count = read(descriptor, &buffer, buffer.count)
            if count < 0 && errno == EPIPE { continue }  // overwritten meanwhile: the next record follows
            guard count > 0 else { return records }
            let text = String(decoding: buffer[0..<count], as: UTF8.self)
            records.append(text.split(separator: ";", maxSplits: 1).last.map(String.init) ?? text)
        }
    }

    func close() { _ = Glibc.close(descriptor) }
}

/// A stand-in for a pod's container: a process in a private mount namespace (its own copy of the
/// node's mounts, as a container runtime makes one) that keeps a file of the volume open. Its
/// command line names the file, so scripts/bench's clean-up finds it.
final class PodStandIn {
    let process = Process()
    let file: String

    init(holding file: String) throws {
        self.file = file
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "unshare", "--mount", "--propagation", "private", "--",
            "python3", "-c", "import sys, time; f = open(sys.argv[1]); time.sleep(3600)", file,
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        Children.register(process.processIdentifier)
    }

    /// Until it runs in a mount namespace of its own with the file open.
    func waitUntilHolding() async throws {
        let pid = process.processIdentifier
        let own = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/mnt")
        try await waitUntil(.seconds(10), "the pod stand-in to hold \(file)", interval: .milliseconds(10)) {
            guard process.isRunning else { throw BenchError("the pod stand-in exited (\(process.terminationStatus))") }
            guard let namespace = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/mnt"), namespace != own
            else { return false }
            let descriptors = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []
            return descriptors.contains { (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\($0)")) == file }
        }
    }

    func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        Children.unregister(process.processIdentifier)
    }
}

// MARK: - A sweep over many healthy volumes

func sweepBenchmark(_ config: BenchConfig) async throws {
    let count = config.quick ? 20 : 200
    let sweeps = config.quick ? 3 : 5 * max(config.runs, 2)
    Out.header("sweep: one health-monitor sweep over \(count) staged and published healthy ext4 volumes (--health-interval 1): its duration, and the processes it starts")
    Out.note("duration: cstor_node_health_check_duration_seconds{depth=\"deep\"} read around each of \(sweeps) sweeps; processes: every fork of the node process, from the kernel's process events (proc connector), and cstor_csi_command_duration_seconds")
    Out.note("then a fault on one of them at a random moment (trigger_fs_error; NodeGetVolumeStats polled): a wake-up that arrives during a sweep waits for it")
    Out.note("reference: the harness reads the kernel facts a sweep needs once per volume (stat of the device; errors_count, diskseq and backing_file in sysfs; one read of /proc/self/mountinfo)")
    Out.note("loop devices: \(loopDeviceSummary())")
    let forks = try ForkCounter()
    defer { forks.stop() }
    // The counter must see a fork it knows about, or a 0 below would prove nothing.
    try check("true", [])
    try await waitUntil(.seconds(5), "the proc connector to report the harness's own fork", interval: .milliseconds(10)) {
        forks.counts(of: getpid()).processes >= 1
    }

    let world = try await NodeWorld(config, name: "sweep", extra: ["--health-interval", "1"])
    let node = world.node.pid
    let ids = (0..<count).map { "pvc-sweep-\($0)" }
    try await withCSIClient(socket: world.node.socket) { grpc in
        let csi = Csi_V1_Node.Client(wrapping: grpc)
        let setup = clock.now
        let stagingStart = (metrics: try world.metrics(), forks: forks.counts(of: node))
        let staged = try await world.stageAndPublishMany(csi, ids: ids, bytes: 16 << 20)
        guard staged.errors.isEmpty else {
            saveLog(config, world.node, name: "node-sweep")
            throw BenchError("staging failed: \(staged.errors[0])")
        }
        let stagingEnd = (metrics: try world.metrics(), forks: forks.counts(of: node))
        let stagingCommands = (stagingEnd.metrics - stagingStart.metrics).sum("cstor_csi_command_duration_seconds_count")
        let stagingForks = stagingEnd.forks.processes - stagingStart.forks.processes
        Out.note("staged and published \(count) volumes in \(fmt(setup.duration(to: clock.now).seconds, 1)) s; meanwhile the node started \(stagingForks) processes (forks seen) and ran \(Int(stagingCommands)) commands (metric)\(stagingForks > Int(stagingCommands) ? ", \(stagingForks - Int(stagingCommands)) processes more than the metric counts" : ""); its children exec'd so far: \(describe(forks.programs(of: node)))")
        world.noteAborts(staged.aborts)
        // The counter sees the node's own children (mkfs while staging), not just the harness's.
        guard stagingForks >= Int(stagingCommands), stagingCommands > 0 else {
            throw BenchError("the fork counter saw \(stagingForks) processes of the node while it ran \(Int(stagingCommands)) commands: it does not see the node's children")
        }

        // From a sweep that began after the last stage, on.
        let settled = try world.metrics().sum("cstor_node_health_checks_total", ["depth=\"deep\""])
        try await waitUntil(.seconds(30), "two sweeps after staging", interval: .milliseconds(50)) {
            try world.metrics().sum("cstor_node_health_checks_total", ["depth=\"deep\""]) >= settled + 2
        }
        let first = (metrics: try world.metrics(), forks: forks.counts(of: node), lost: forks.lost, programs: forks.programs(of: node))
        var last = first.metrics
        var durations: [Double] = []
        try await waitUntil(.seconds(Int64(sweeps * 5 + 30)), "\(sweeps) sweeps", interval: .milliseconds(20)) {
            let now = try world.metrics()
            let passes = now.sum("cstor_node_health_checks_total", ["depth=\"deep\""]) - last.sum("cstor_node_health_checks_total", ["depth=\"deep\""])
            if passes >= 1 {
                let seconds = now.sum("cstor_node_health_check_duration_seconds_sum", ["depth=\"deep\""])
                    - last.sum("cstor_node_health_check_duration_seconds_sum", ["depth=\"deep\""])
                durations += Array(repeating: seconds * 1000 / passes, count: Int(passes))
                last = now
            }
            return durations.count >= sweeps
        }
        let end = (metrics: try world.metrics(), forks: forks.counts(of: node), lost: forks.lost, programs: forks.programs(of: node))
        let delta = end.metrics - first.metrics
        let commands = Int(delta.sum("cstor_csi_command_duration_seconds_count"))
        let processes = end.forks.processes - first.forks.processes
        let programsBefore = first.programs
        let threads = end.forks.threads - first.forks.threads
        let lost = end.lost - first.lost
        let deep = Int(delta.sum("cstor_node_health_checks_total", ["depth=\"deep\""]))
        let shallow = Int(delta.sum("cstor_node_health_checks_total", ["depth=\"mount_table\""]))
        let detections = Int(delta.sum("cstor_node_remount_detections_total"))
        let inFault = Int(end.metrics.sum("cstor_node_volumes_in_fault"))

        // A fault among them: the kernel's message wakes the monitor, but a wake-up that comes
        // during a sweep waits for it to end.
        var faultDetections: [Double] = []
        for attempt in 1...(config.quick ? 2 : 5) {
            let id = ids[(attempt * 37) % count]
            try await Task.sleep(for: .milliseconds(Int.random(in: 0..<1000)))
            faultDetections.append(try await detectFault(world, csi, id: id))
        }

        // The reference, on the same volumes.
        let volumes = ids.compactMap { id in NodeWorld.loopDevice(backing: "\(world.volumes)/\(id).img") }
        guard volumes.count == count else { throw BenchError("found \(volumes.count) loop devices for \(count) volumes") }
        var reference: [Double] = []
        var scans: [Double] = []
        for _ in 1...5 {
            let began = clock.now
            readSweepFacts(volumes)
            reference.append(began.duration(to: clock.now).milliseconds)
        }
        for _ in 1...3 {
            let began = clock.now
            for _ in volumes { _ = scanLoopBackingFiles() }
            scans.append(began.duration(to: clock.now).milliseconds)
        }
        saveLog(config, world.node, name: "node-sweep")
        let teardown = await runConcurrently(count: count, concurrency: 4) { index in
            let aborts = Counter()
            try await retryingAborted(aborts) { try await world.teardownVolume(csi, ids[index]) }
        }
        if !teardown.errors.isEmpty { Out.note("teardown errors: \(teardown.errors.count), first: \(teardown.errors[0])") }

        let sweep = Stats.median(durations)
        Out.line("one sweep over \(count) volumes: p50 \(fmt(sweep, 1)) ms, max \(fmt(durations.max() ?? .nan, 1)) ms over \(durations.count) sweeps; \(fmt(sweep * 1000 / Double(count), 0)) µs per volume")
        Out.line("reference: the same kernel facts read once per volume \(spread(reference, 1)) ms → ratio \(fmt(sweep / Stats.median(reference), 1))×")
        Out.line("       for comparison, finding each volume's loop device by scanning /sys/block (every loop's backing_file; the node's check before it remembered the device): \(spread(scans, 1)) ms")
        Out.line("during \(deep) sweeps (\(shallow) mount-table passes): the node started \(processes) processes and \(threads) threads (forks seen\(lost > 0 ? ", \(lost) events LOST" : "")); \(commands) commands in cstor_csi_command_duration_seconds; \(detections) faults detected, \(inFault) volumes in fault")
        if processes > 0 {
            var programs: [String: Int] = [:]
            for (name, count) in end.programs where count > programsBefore[name] ?? 0 { programs[name] = count - (programsBefore[name] ?? 0) }
            Out.line("       the node's children during the sweeps exec'd: \(describe(programs))")
        }
        Out.line("a fault on one of the \(count) volumes (trigger_fs_error at a random moment, \(faultDetections.count) times) → volume_condition abnormal: \(faultDetections.map { fmt($0, 0) }.joined(separator: ", ")) ms")
        let worstDetection = faultDetections.max() ?? .infinity
        Out.verdict("fault detection with \(count) volumes staged (max of \(faultDetections.count))", value: "\(fmt(worstDetection, 0)) ms", target: "< 1000 ms", pass: worstDetection < 1000)
        Out.verdict("processes started by \(deep) sweeps over \(count) healthy volumes", value: "\(processes) (commands \(commands))", target: "0",
                    pass: processes == 0 && commands == 0 && lost == 0 && detections == 0 && inFault == 0)
    }
    await world.stop()
}

/// "mkfs.ext4 ×20, e2fsck ×1", most frequent first.
func describe(_ programs: [String: Int]) -> String {
    programs.isEmpty ? "none" : programs.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.map { "\($0.key) ×\($0.value)" }.joined(separator: ", ")
}

/// Triggers an ext4 error on staged volume `id` (nothing holds it) and polls NodeGetVolumeStats
/// until its condition turns abnormal (returned, ms), then until the node has repaired it.
private func detectFault(_ world: NodeWorld, _ csi: Csi_V1_Node.Client<HTTP2ClientTransport.Posix>, id: String) async throws -> Double {
    guard let loop = NodeWorld.loopDevice(backing: "\(world.volumes)/\(id).img") else { throw BenchError("no loop device for \(id)") }
    let request = Csi_V1_NodeGetVolumeStatsRequest.with {
        $0.volumeID = id
        $0.volumePath = world.targetPath(id)
        $0.stagingTargetPath = world.stagingPath(id)
    }
    let trigger = "/sys/fs/ext4/\(loop)/trigger_fs_error"
    let fd = open(trigger, O_WRONLY)
    guard fd >= 0 else { throw BenchError("cannot open \(trigger): errno \(errno)") }
    let message = "cstor-bench \(id)"
    let start = clock.now
    _ = write(fd, message, message.utf8.count)
    close(fd)
    var detected: Double?
    let deadline = clock.now + .seconds(60)
    while true {
        guard clock.now < deadline else { throw BenchError("\(id): \(detected == nil ? "not reported" : "not repaired") within 60 s") }
        let abnormal = try await csi.nodeGetVolumeStats(request, options: callOptions).volumeCondition.abnormal
        if abnormal && detected == nil { detected = start.duration(to: clock.now).milliseconds }
        if !abnormal, let detected { return detected }
        if detected != nil { try await Task.sleep(for: .milliseconds(20)) }
    }
}

/// What one sweep reads about each volume, read once by the harness: the device node, ext4's
/// error count, the disk sequence number and the loop's backing file; and the mount table.
func readSweepFacts(_ devices: [String]) {
    _ = try? KernelFile.read("/proc/self/mountinfo").split(separator: "\n").count
    for name in devices {
        var info = stat()
        _ = stat("/dev/\(name)", &info)
        _ = try? KernelFile.read("/sys/fs/ext4/\(name)/errors_count")
        _ = try? KernelFile.read("/sys/block/\(name)/diskseq")
        _ = try? KernelFile.read("/sys/block/\(name)/loop/backing_file")
    }
}

/// Every loop device's backing file (what the loop attacher reads to find one volume's device).
func scanLoopBackingFiles() -> Int {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: "/sys/block")) ?? []
    return names.filter { $0.hasPrefix("loop") }.sorted().compactMap { try? KernelFile.read("/sys/block/\($0)/loop/backing_file") }.count
}

/// How many loop devices exist and are attached, and the loop driver's max_loop (0: created on demand
/// through /dev/loop-control, up to the minor numbers available).
func loopDeviceSummary() -> String {
    let names = ((try? FileManager.default.contentsOfDirectory(atPath: "/sys/block")) ?? []).filter { $0.hasPrefix("loop") }
    let attached = names.filter { FileManager.default.fileExists(atPath: "/sys/block/\($0)/loop/backing_file") }.count
    let maxLoop = ((try? KernelFile.read("/sys/module/loop/parameters/max_loop")) ?? "?").trimmingCharacters(in: .whitespacesAndNewlines)
    return "\(names.count) in /sys/block, \(attached) attached; max_loop \(maxLoop) (devices beyond it are created on demand through /dev/loop-control)"
}

// MARK: - Counting the processes a process starts

/// Counts the processes and threads each process starts, from the kernel's process events (the
/// proc connector, NETLINK_CONNECTOR): every fork is reported, however short-lived the child, so a
/// process that starts and exits between two looks at /proc is still counted. Needs root in the
/// initial network namespace. Events the socket could not hold are counted in `lost`.
final class ForkCounter: @unchecked Sendable {
    private let descriptor: Int32
    private struct State {
        var counts: [Int32: (processes: Int, threads: Int)] = [:]
        /// Children not yet exec'd or gone: child → parent, and the child's name at birth.
        var parents: [UInt32: (Int32, String)] = [:]
        /// Programs the children of each process exec'd, by name (/proc/PID/comm after the exec).
        var programs: [Int32: [String: Int]] = [:]
        var lost = 0
        var stopped = false
    }

    private let state = Mutex(State())
    private let done = DispatchSemaphore(value: 0)

    init() throws {
        let netlinkConnector: Int32 = 11
        let procGroup: UInt32 = 1  // CN_IDX_PROC
        descriptor = socket(AF_NETLINK, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), netlinkConnector)
        guard descriptor >= 0 else { throw BenchError("proc connector: socket: errno \(errno)") }
        var size: Int32 = 16 << 20
        setsockopt(descriptor, SOL_SOCKET, SO_RCVBUFFORCE, &size, socklen_t(MemoryLayout<Int32>.size))
        var timeout = timeval(tv_sec: 0, tv_usec: 100_000)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        // struct sockaddr_nl { sa_family_t nl_family; unsigned short nl_pad; __u32 nl_pid; __u32 nl_groups; }
        var address = [UInt8](repeating: 0, count: 12)
        Self.put(&address, 0, UInt16(AF_NETLINK))
        Self.put(&address, 8, procGroup)
        let bound = address.withUnsafeBytes {
            bind(descriptor, $0.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(12))
        }
        guard bound == 0 else {
            close(descriptor)
            throw BenchError("proc connector: bind: errno \(errno)")
        }
        // nlmsghdr (16) + cn_msg { cb_id { idx, val }, seq, ack, len, flags } (20) + PROC_CN_MCAST_LISTEN (4)
        var message = [UInt8](repeating: 0, count: 40)
        Self.put(&message, 0, UInt32(40))
        Self.put(&message, 4, UInt16(3))  // NLMSG_DONE
        Self.put(&message, 16, procGroup)  // CN_IDX_PROC
        Self.put(&message, 20, UInt32(1))  // CN_VAL_PROC
        Self.put(&message, 32, UInt16(4))
        Self.put(&message, 36, UInt32(1))  // PROC_CN_MCAST_LISTEN
        guard send(descriptor, message, message.count, 0) == message.count else {
            close(descriptor)
            throw BenchError("proc connector: send: errno \(errno)")
        }
        let thread = Thread { [self] in receive() }
        thread.start()
    }

    /// Processes (new thread groups) `pid` started, and threads it gained, so far.
    func counts(of pid: Int32) -> (processes: Int, threads: Int) {
        state.withLock { $0.counts[pid] ?? (0, 0) }
    }

    /// What the children of `pid` exec'd so far, by program name.
    func programs(of pid: Int32) -> [String: Int] {
        state.withLock { $0.programs[pid] ?? [:] }
    }

    var lost: Int { state.withLock { $0.lost } }

    func stop() {
        let first = state.withLock { state -> Bool in
            defer { state.stopped = true }
            return !state.stopped
        }
        guard first else { return }
        done.wait()
        close(descriptor)
    }

    private func receive() {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while !state.withLock({ $0.stopped }) {
            let received = recv(descriptor, &buffer, buffer.count, 0)
            if received < 0 {
                if errno == ENOBUFS { state.withLock { $0.lost += 1 } }
                continue
            }
            var offset = 0
            while offset + 16 <= received {
                let length = Int(Self.get(buffer, offset, UInt32.self))
                guard length >= 16, offset + length <= received else { break }
                // proc_event after nlmsghdr (16) and cn_msg (20): what (4), cpu (4), timestamp (8), data.
                let what = length >= 60 ? Self.get(buffer, offset + 36, UInt32.self) : 0
                if what == 1, length >= 68 {  // PROC_EVENT_FORK: parent pid, parent tgid, child pid, child tgid
                    let parentProcess = Int32(bitPattern: Self.get(buffer, offset + 56, UInt32.self))
                    let child = Self.get(buffer, offset + 60, UInt32.self)
                    let childProcess = Self.get(buffer, offset + 64, UInt32.self)
                    if child == childProcess {
                        // The child's name at birth is its parent's (forking thread's) name until it execs.
                        let name = ((try? KernelFile.read("/proc/\(childProcess)/comm")) ?? "?").trimmingCharacters(in: .whitespacesAndNewlines)
                        state.withLock { state in
                            state.counts[parentProcess, default: (0, 0)].processes += 1
                            state.parents[childProcess] = (parentProcess, name)
                        }
                    } else {
                        // A new thread: the kernel names the process's parent as its parent; count it for its own process.
                        state.withLock { $0.counts[Int32(bitPattern: childProcess), default: (0, 0)].threads += 1 }
                    }
                } else if what == 2 || what == 0x8000_0000 {  // PROC_EVENT_EXEC, PROC_EVENT_EXIT: pid, tgid
                    let process = Self.get(buffer, offset + 56, UInt32.self)
                    if let (parent, born) = state.withLock({ $0.parents.removeValue(forKey: process) }) {
                        let name = what == 2
                            ? ((try? KernelFile.read("/proc/\(process)/comm")) ?? "?").trimmingCharacters(in: .whitespacesAndNewlines)
                            : "(no exec, forked by thread \(born))"
                        state.withLock { $0.programs[parent, default: [:]][name, default: 0] += 1 }
                    }
                }
                offset += (length + 3) & ~3
            }
        }
        done.signal()
    }

    private static func put<T: FixedWidthInteger>(_ bytes: inout [UInt8], _ offset: Int, _ value: T) {
        withUnsafeBytes(of: value.littleEndian) { for (index, byte) in $0.enumerated() { bytes[offset + index] = byte } }
    }

    private static func get<T: FixedWidthInteger>(_ bytes: [UInt8], _ offset: Int, _: T.Type) -> T {
        var value: T = 0
        withUnsafeMutableBytes(of: &value) { for index in 0..<MemoryLayout<T>.size { $0[index] = bytes[offset + index] } }
        return T(littleEndian: value)
    }
}
