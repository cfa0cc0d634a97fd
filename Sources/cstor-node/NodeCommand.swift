import ArgumentParser
import CStorCore
import CStorKubernetes
import FoundationEssentials
import Glibc
import Logging
import NIOPosix

/// cstor-node: the CSI Identity and Node services of cstor-csi.
@main
struct NodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cstor-node",
        abstract: "CSI node plugin for OpenEBS cStor volumes.",
        version: BuildInfo.version)

    @OptionGroup var common: CommonOptions

    @Option(help: "This node's name as Kubernetes knows it (default: the NODE_ID environment variable).")
    var nodeID: String?

    @Option(help: "Kubelet's root directory; staging and publish paths must lie below it.")
    var kubeletDir: String = "/var/lib/kubelet"

    @Option(help: "Where the node keeps its per-volume state records (default: <kubelet-dir>/plugins/<driver-name>).")
    var stateDir: String?

    @Option(help: "Transports this node attaches: iscsi, loop, or both (comma separated).")
    var transports: String = "iscsi"

    @Option(help: "The iscsiadm command, e.g. \"chroot /host iscsiadm\" (split on spaces).")
    var iscsiadm: String = "iscsiadm"

    @Option(help: "Where sysfs shows the kernel's iSCSI sessions and their disks (tests point it at a stand-in initiator's tree).")
    var iscsiSysfs: String = "/sys"

    @Option(help: "Seconds an iSCSI session may be down before I/O fails (node.session.timeo.replacement_timeout).")
    var iscsiReplacementTimeout: Int = 120

    @Option(help: "Directory whose files the loop transport may attach (repeatable); required with --transports loop.")
    var loopDir: [String] = []

    @Option(help: "Largest number of volumes this node takes (0: no limit).")
    var maxVolumesPerNode: Int64 = 0

    @Option(help: "Seconds a mount or unmount may take before the RPC gives up.")
    var mountTimeout: Int = 120

    @Option(help: "Repair staged volumes that turn read-only or lose their mount (true or false).")
    var remount: Bool = true

    @Option(help: "Seconds between the health monitor's full sweeps (events wake it sooner).")
    var healthInterval: Int = 60

    @Option(help: "Seconds before the first retry of a failed recovery; the wait doubles up to 300.")
    var recoveryBackoff: Double = 1

    @Option(help: "Recovery attempts with a growing wait; after them the monitor retries at every sweep.")
    var recoveryAttempts: Int = 8

    @Option(help: "How the monitor's e2fsck repairs a volume that went read-only: preen (-p: journal replay and safe fixes; anything more waits for a person) or yes (-y: yes to every repair, which may delete files).")
    var fsckMode: FsckMode = .preen

    @Option(help: "Evict the pods (those with a controller) that keep a read-only volume from being repaired, through the Eviction API, which respects PodDisruptionBudgets (true or false). Needs --remount, the in-cluster service account and RBAC to get and list pods and create pods/eviction.")
    var restartPods: Bool = false

    @Option(help: "Where the in-cluster service account's token and CA are (used with --restart-pods only).")
    var serviceAccountDir: String = KubernetesConfiguration.serviceAccountDirectory

    func validate() throws {
        if restartPods && !remount {
            throw ValidationError("--restart-pods needs --remount: pods are evicted only so that the monitor can repair their volume")
        }
        guard resolvedNodeID() != nil else {
            throw ValidationError("the node id is missing: pass --node-id or set NODE_ID")
        }
        _ = try enabledTransports()
        guard iscsiReplacementTimeout > 0, mountTimeout > 0, healthInterval > 0, maxVolumesPerNode >= 0,
            recoveryBackoff > 0, recoveryAttempts > 0
        else {
            throw ValidationError(
                "--iscsi-replacement-timeout, --mount-timeout, --health-interval, --recovery-backoff and --recovery-attempts must be positive, --max-volumes-per-node not negative")
        }
    }

    func resolvedNodeID() -> String? {
        let value = nodeID ?? ProcessInfo.processInfo.environment["NODE_ID"]
        guard let value, !value.isEmpty else { return nil }
        return value
    }

    func enabledTransports() throws -> Set<AttachTarget.Transport> {
        var set: Set<AttachTarget.Transport> = []
        for name in transports.split(separator: ",").map({ $0.trimmedSpaces }) where !name.isEmpty {
            guard let transport = AttachTarget.Transport(rawValue: name) else {
                throw ValidationError("--transports: unknown transport \(name) (iscsi, loop)")
            }
            set.insert(transport)
        }
        guard !set.isEmpty else { throw ValidationError("--transports names no transport") }
        if set.contains(.loop) && loopDir.isEmpty {
            throw ValidationError("--transports loop needs --loop-dir: the directory whose files may be attached")
        }
        return set
    }

    func run() async throws {
        let observability = PluginRunner.bootstrap(component: "node", common: common)
        let logger = Logger(label: "cstor-csi.node")
        do {
            let wiring = try NodeWiring(command: self, logger: logger)
            logger.notice(
                "starting",
                metadata: [
                    "version": .string(BuildInfo.version), "driver": .string(common.driverName),
                    "node_id": .string(wiring.settings.nodeID), "kubelet_dir": .string(wiring.settings.kubeletDirectory),
                    "transports": .string(transports),
                ])
            try await PluginRunner.run(
                common: common, observability: observability, services: [wiring.identity, wiring.node], background: wiring.background,
                eventLoopGroup: wiring.eventLoopGroup, logger: logger)
        } catch {
            logger.critical("exiting", metadata: ["error": .string(String(describing: error))])
            throw ExitCode.failure
        }
    }
}

extension FsckMode: ExpressibleByArgument {}
