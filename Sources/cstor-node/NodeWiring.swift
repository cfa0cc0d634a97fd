import CLinux
import CStorCore
import CStorKubernetes
import FoundationEssentials
import Glibc
import Logging
import NIOPosix
import ServiceLifecycle

/// Builds the node's pieces from its flags: the only place that knows which real implementation
/// stands behind each seam.
struct NodeWiring {
    let settings: NodeSettings
    let identity: IdentityService
    let node: NodeService
    let background: [any Service]
    let eventLoopGroup: MultiThreadedEventLoopGroup

    struct StartupError: Error, CustomStringConvertible {
        let description: String
    }

    init(command: NodeCommand, logger: Logger) throws {
        let kubeletDirectory = try Self.existingDirectory(
            command.kubeletDir, flag: "--kubelet-dir",
            hint: "set it to this distribution's kubelet root (the chart's kubeletDir value; microk8s: /var/snap/microk8s/common/var/lib/kubelet, k0s: /var/lib/k0s/kubelet)")
        let stateDirectory = command.stateDir ?? "\(kubeletDirectory)/plugins/\(command.common.driverName)"
        try FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true)
        let transports = try command.enabledTransports()
        let loopDirectories = try command.loopDir.map {
            try Self.existingDirectory($0, flag: "--loop-dir", hint: "create it or point --loop-dir at the local engine's volume directory")
        }

        var settings = NodeSettings(
            nodeID: command.resolvedNodeID() ?? "", kubeletDirectory: kubeletDirectory,
            allowedRoots: [kubeletDirectory], maxVolumesPerNode: command.maxVolumesPerNode,
            driverName: command.common.driverName, stateDirectory: stateDirectory)
        settings.iscsiSysfs = ISCSISysfs(root: command.iscsiSysfs)
        self.settings = settings
        let runner = MeasuredProcessRunner(SubprocessRunner())
        let iscsiadmWords = command.iscsiadm.split(separator: " ").map(String.init)
        var attachers = Attachers()
        if transports.contains(.iscsi) {
            attachers.iscsi = ISCSIAttacher(
                admin: ISCSIAdmin(command: iscsiadmWords, runner: runner, databaseLock: AsyncLock()), sysfs: settings.iscsiSysfs,
                waiter: UdevDeviceWaiter(), replacementTimeout: command.iscsiReplacementTimeout, logger: logger)
        }
        if transports.contains(.loop) {
            attachers.loop = LoopAttacher(allowedDirectories: loopDirectories)
        }
        var programs = FilesystemTools.requiredPrograms
        if transports.contains(.iscsi) { programs.append(iscsiadmWords.first ?? "iscsiadm") }
        let requiredPrograms = RequiredPrograms(programs)

        let node = NodeService(
            settings: settings, locks: VolumeLocks(), records: try VolumeRecordStore(stateDirectory: stateDirectory),
            attachers: attachers, mounter: LibMountMounter(timeout: .seconds(command.mountTimeout)),
            filesystems: FilesystemTools(runner: runner), health: HealthRegistry(), logger: logger)
        self.node = node
        identity = IdentityService(
            name: command.common.driverName,
            manifest: ["component": "node", "build": BuildInfo.configuration, "transports": command.transports],
            logger: logger,
            readiness: {
                let missing = requiredPrograms.missing()
                return missing.isEmpty ? .ready : .notReady("programs not found on PATH: \(missing.joined(separator: ", "))")
            })
        let eventLoopGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        self.eventLoopGroup = eventLoopGroup
        var background: [any Service] = []
        var podRestarts: PodRestarts?
        if command.restartPods {
            let client = try Self.podRestartClient(
                serviceAccountDirectory: command.serviceAccountDir, eventLoopGroup: eventLoopGroup,
                observer: command.common.metricsAddress.isEmpty ? nil : KubernetesAPIMetrics.observer)
            podRestarts = PodRestarts(api: client, nodeID: settings.nodeID)
            logger.notice("pod restart enabled: pods that keep a read-only volume from its repair are evicted", metadata: ["api_server": .string(client.configuration.server)])
        }
        background.append(
            HealthMonitor(
                node: node, sweepInterval: .seconds(command.healthInterval), remount: command.remount,
                backoff: .init(initial: .milliseconds(Int64(command.recoveryBackoff * 1000)), attempts: command.recoveryAttempts),
                logger: logger, fsckMode: command.fsckMode, podRestarts: podRestarts))
        self.background = background
        if !ProcessCapabilities.has(ProcessCapabilities.sysResource) {
            logger.warning("this process lacks CAP_SYS_RESOURCE: ext4 volumes can only grow while not published")
        }
    }

    /// The Kubernetes client of `--restart-pods`: the pod's own service account (in-cluster
    /// configuration only; the node reads no kubeconfig). One attempt per call: the health monitor
    /// is the retry loop, with its own backoff.
    static func podRestartClient(
        serviceAccountDirectory: String, eventLoopGroup: MultiThreadedEventLoopGroup, observer: KubernetesRequestObserver?
    ) throws -> InClusterPodAPI {
        var configuration: KubernetesConfiguration
        do {
            configuration = try .inCluster(serviceAccountDirectory: serviceAccountDirectory)
        } catch let error as KubernetesError {
            throw StartupError(description: "--restart-pods needs the pod's service account: \(error.message) (the chart mounts it when node.remount.restartPods is true)")
        }
        configuration.requestTimeout = .seconds(10)
        do {
            return try InClusterPodAPI(configuration: configuration, eventLoopGroup: eventLoopGroup, observer: observer)
        } catch let error as KubernetesError {
            throw StartupError(description: "--restart-pods: \(error.message)")
        }
    }

    static func existingDirectory(_ path: String, flag: String, hint: String) throws -> String {
        guard let normalized = PathRules.normalizedAbsolute(path) else {
            throw StartupError(description: "\(flag) \(path) is not a clean absolute path")
        }
        var info = stat()
        guard stat(normalized, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else {
            throw StartupError(description: "\(flag) \(normalized) does not exist or is not a directory: \(hint)")
        }
        return normalized
    }
}
