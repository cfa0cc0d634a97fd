import CStorCore
import CStorKubernetes
import CStorModel
import Foundation
import Synchronization
import GRPCCore
import GRPCNIOTransportHTTP2Posix

/// Whether the tests run as root (loop devices, mkfs and mounts need it).
public let runningAsRoot = getuid() == 0

/// A cstor-node process on the loop transport with its own kubelet directory, volume files and
/// state, plus the kubelet-like paths a test needs. `tearDown()` removes every mount and loop
/// device the test left, even after a failure, so one test cannot break the next.
public final class NodeHarness: @unchecked Sendable {
    public let directory: TemporaryDirectory
    public let kubeletDirectory: String
    public let volumeDirectory: String
    public let stateDirectory: String
    public let socketPath: String
    public private(set) var process: PluginProcess?
    public let extraArguments: [String]
    /// Extra environment of the node process (e.g. a PATH without one of the tools).
    public var environment: [String: String] = [:]

    public init(extraArguments: [String] = []) throws {
        directory = try TemporaryDirectory(prefix: "node")
        kubeletDirectory = directory.file("kubelet")
        volumeDirectory = directory.file("volumes")
        stateDirectory = directory.file("state")
        socketPath = directory.file("csi.sock")
        self.extraArguments = extraArguments
        for path in [kubeletDirectory, volumeDirectory, directory.file("engine/volumes")] {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        }
    }

    /// The node id of the harness's node plugin (and the local engine's `--node` in LocalCluster).
    public static let nodeID = "node-1"

    public var arguments: [String] {
        [
            "--node-id", Self.nodeID, "--kubelet-dir", kubeletDirectory, "--state-dir", stateDirectory,
            "--transports", "loop", "--loop-dir", volumeDirectory, "--loop-dir", directory.file("engine/volumes"),
        ] + extraArguments
    }

    @discardableResult
    public func start() async throws -> PluginProcess {
        let process = try await PluginProcess.start(
            "cstor-node", socketPath: socketPath, arguments: arguments, logDirectory: directory.url, environment: environment)
        self.process = process
        return process
    }

    /// Kills the process without any chance to clean up, like a crash or an OOM kill.
    public func crash() async throws {
        try await process?.stop(signal: SIGKILL)
    }

    public func stop() async throws {
        try await process?.stop()
    }

    /// A sparse backing file of `size` bytes, and the publish_context the local engine would send.
    public func makeVolume(_ name: String, size: Int64 = 512 << 20) throws -> (file: String, context: [String: String]) {
        let file = (volumeDirectory as NSString).appendingPathComponent("\(name).img")
        guard FileManager.default.createFile(atPath: file, contents: nil) else { throw TestFailure("cannot create \(file)") }
        guard truncate(file, off_t(size)) == 0 else { throw TestFailure("cannot size \(file)") }
        return (file, ["transport": "loop", "file": file])
    }

    public func stagingPath(_ volumeID: String) -> String {
        "\(kubeletDirectory)/plugins/kubernetes.io/csi/cstor.csi.openebs.io/\(volumeID)/globalmount"
    }

    public func targetPath(_ volumeID: String, pod: String = "pod-1") -> String {
        "\(kubeletDirectory)/pods/\(pod)/volumes/kubernetes.io~csi/\(volumeID)/mount"
    }

    public func blockTargetPath(_ volumeID: String, pod: String = "pod-1") -> String {
        "\(kubeletDirectory)/plugins/kubernetes.io/csi/volumeDevices/publish/\(volumeID)/\(pod)"
    }

    let holders = Mutex<[HolderProcess]>([])

    /// Calls the node. A refusal caused by another test's holder still in its start-up window (a
    /// `sh` that `unshare` gave a copy of every mount, before it detaches the ones that are not its
    /// own) is tried again shortly, as kubelet would: the node refused correctly, but the copy is
    /// gone a moment later. A holder that holds on purpose runs `sleep`, and its refusal stands.
    public func node<T: Sendable>(_ body: (Csi_V1_Node.Client<HTTP2ClientTransport.Posix>) async throws -> T) async throws -> T {
        var attempts = 0
        while true {
            do {
                return try await withCSIClient(socket: socketPath) { client in try await body(Csi_V1_Node.Client(wrapping: client)) }
            } catch let error as RPCError where error.code == .unavailable && attempts < 20
                && error.message.contains("in the mount namespace of process") && error.message.contains(" (sh)")
            {
                attempts += 1
                try await Task.sleep(for: .milliseconds(250))
            }
        }
    }

    /// Mount points at or below the test directory, deepest first.
    public func mountsBelowDirectory() -> [String] {
        let table = (try? KernelFile.read("/proc/self/mountinfo")) ?? ""
        return table.split(separator: "\n").compactMap { line -> String? in
            let fields = line.split(separator: " ")
            guard fields.count > 4 else { return nil }
            let point = String(fields[4]).replacingOccurrences(of: "\\040", with: " ")
            return point.hasPrefix(directory.path) ? point : nil
        }.sorted { $0.count > $1.count }
    }

    /// Loop devices backed by files of this harness (its own volumes and a local engine's).
    public func loopDevicesInUse() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/sys/block")) ?? []
        return names.filter { $0.hasPrefix("loop") }.compactMap { name in
            guard let file = try? KernelFile.read("/sys/block/\(name)/loop/backing_file") else {
                return nil
            }
            return file.hasPrefix(directory.path + "/") ? "/dev/\(name)" : nil
        }
    }

    public func recordFiles() -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: stateDirectory + "/volumes"))?.filter { $0.hasSuffix(".json") } ?? []
    }

    /// A PATH for the node with every program it needs except `missing`: what a node image
    /// lacking a tool looks like.
    public func pathWithout(_ missing: Set<String>) throws -> String {
        let bin = directory.file("bin-without-\(missing.sorted().joined(separator: "-"))")
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        for program in ["mkfs.ext4", "mkfs.xfs", "e2fsck", "resize2fs", "xfs_growfs", "losetup", "blkid"] where !missing.contains(program) {
            for directory in ["/usr/sbin", "/sbin", "/usr/bin", "/bin"] where FileManager.default.isExecutableFile(atPath: "\(directory)/\(program)") {
                try? FileManager.default.createSymbolicLink(atPath: "\(bin)/\(program)", withDestinationPath: "\(directory)/\(program)")
                break
            }
        }
        return bin
    }

    /// Starts a process that keeps `file` open (and its working directory in the file's
    /// directory), in a private mount namespace of its own when `privateNamespace` is true: what a
    /// pod's container does with a volume. `stop()` it to let go.
    public func startHolder(keepingOpen file: String, privateNamespace: Bool) throws -> HolderProcess {
        let holder = try HolderProcess(file: file, privateNamespace: privateNamespace, keep: directory.path)
        holders.withLock { $0.append(holder) }
        return holder
    }

    public func tearDown() async {
        holders.withLock { $0.forEach { $0.stop() } }
        _ = try? await process?.stop(signal: SIGKILL)
        for mount in mountsBelowDirectory() { umount2(mount, Int32(MNT_DETACH)) }
        for device in loopDevicesInUse() { _ = try? Shell.run("losetup", ["--detach", device]) }
    }
}

/// A process holding a file open, like a pod's container holding a file of its volume.
public final class HolderProcess: @unchecked Sendable {
    public let process: Process

    /// `keep`: in a private namespace, the copies of every other test's mounts below /tmp are
    /// detached (in that namespace only), so that this holder holds its own volume and nothing of
    /// tests running beside it.
    init(file: String, privateNamespace: Bool, keep: String) throws {
        let detachOthers = #"awk '{print $5}' /proc/self/mountinfo | grep '^/tmp/' | grep -v "^$1" | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done; "#
        let script = (privateNamespace ? detachOthers : "") + #"cd "$(dirname "$0")" && exec 3<"$0" && echo ready && exec sleep 600"#
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = (privateNamespace ? ["unshare", "--mount", "--propagation", "private"] : []) + ["sh", "-c", script, file, keep]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        self.process = process
        // Wait until the file is open: "ready" on stdout.
        let line = pipe.fileHandleForReading.readData(ofLength: 6)
        guard String(decoding: line, as: UTF8.self).hasPrefix("ready") else {
            process.terminate()
            throw TestFailure("the holder of \(file) did not start")
        }
    }

    public var pid: Int32 { process.processIdentifier }

    public func stop() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }
}

/// Runs a program to completion for test set-up and checks (not for the code under test).
public enum Shell {
    @discardableResult
    public static func run(_ program: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [program] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// Runs and requires exit status 0.
    @discardableResult
    public static func check(_ program: String, _ arguments: [String]) throws -> String {
        let result = try run(program, arguments)
        guard result.status == 0 else {
            throw TestFailure("\(program) \(arguments.joined(separator: " ")) failed (\(result.status)): \(result.output)")
        }
        return result.output
    }
}

/// Runs `body` with a started node harness; always tears it down, and attaches the node's log to
/// the error when the body fails.
public func withNodeHarness(
    extraArguments: [String] = [], environment: [String: String] = [:], _ body: (NodeHarness) async throws -> Void
) async throws {
    let harness = try NodeHarness(extraArguments: extraArguments)
    harness.environment = environment
    do {
        try await harness.start()
        try await body(harness)
    } catch {
        let log = harness.process?.logText() ?? ""
        await harness.tearDown()
        throw TestFailure("\(error)\n--- node log ---\n\(log.suffix(6000))")
    }
    await harness.tearDown()
}

/// The node RPCs the way kubelet calls them, for tests.
extension NodeHarness {
    public func stage(
        _ volumeID: String, context: [String: String], capability: Csi_V1_VolumeCapability = .mount(),
        stagingPath: String? = nil
    ) async throws {
        _ = try await node {
            try await $0.nodeStageVolume(
                .with {
                    $0.volumeID = volumeID
                    $0.stagingTargetPath = stagingPath ?? self.stagingPath(volumeID)
                    $0.publishContext = context
                    $0.volumeCapability = capability
                })
        }
    }

    public func unstage(_ volumeID: String, stagingPath: String? = nil) async throws {
        _ = try await node {
            try await $0.nodeUnstageVolume(
                .with {
                    $0.volumeID = volumeID
                    $0.stagingTargetPath = stagingPath ?? self.stagingPath(volumeID)
                })
        }
    }

    public func publish(
        _ volumeID: String, target: String, capability: Csi_V1_VolumeCapability = .mount(), readOnly: Bool = false,
        stagingPath: String? = nil
    ) async throws {
        _ = try await node {
            try await $0.nodePublishVolume(
                .with {
                    $0.volumeID = volumeID
                    $0.stagingTargetPath = stagingPath ?? self.stagingPath(volumeID)
                    $0.targetPath = target
                    $0.volumeCapability = capability
                    $0.readonly = readOnly
                })
        }
    }

    public func unpublish(_ volumeID: String, target: String) async throws {
        _ = try await node {
            try await $0.nodeUnpublishVolume(
                .with {
                    $0.volumeID = volumeID
                    $0.targetPath = target
                })
        }
    }

    /// The loop devices attached from `file`.
    public func loopDevices(backing file: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/sys/block")) ?? []
        return names.filter { $0.hasPrefix("loop") }.sorted().compactMap { name in
            guard let backing = try? KernelFile.read("/sys/block/\(name)/loop/backing_file") else { return nil }
            return backing.trimmingCharacters(in: .newlines) == file ? "/dev/\(name)" : nil
        }
    }

    /// Whether anything is mounted at `path` (this namespace).
    public func isMounted(_ path: String) -> Bool {
        let table = (try? KernelFile.read("/proc/self/mountinfo")) ?? ""
        return table.split(separator: "\n").contains { $0.split(separator: " ").dropFirst(4).first.map(String.init) == path }
    }

    /// md5 of a file (to prove it was not written).
    public func checksum(_ file: String) throws -> String {
        try Shell.check("md5sum", [file]).split(separator: " ").first.map(String.init) ?? ""
    }
}
