import ArgumentParser
import CStorCore
import SwiftProtobuf

struct NodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node", abstract: "Node service: stage, publish and inspect volumes on this node.",
        subcommands: [Stage.self, Publish.self, Unpublish.self, Unstage.self, Stats.self, Expand.self, Info.self, Caps.self])

    struct Stage: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "NodeStageVolume: attach, format if blank, mount at the staging path.")
        @OptionGroup var options: ClientOptions
        @Option var volumeId: String
        @Option var stagingPath: String
        @OptionGroup var capability: CapabilityOptions
        @Option(help: "publish_context entry key=value (repeatable), as ControllerPublishVolume returned it.")
        var publishContext: [String] = []
        @Option(help: "volume_context entry key=value (repeatable).")
        var volumeContext: [String] = []
        @Option(help: "secret key=value (repeatable; never printed).")
        var secret: [String] = []

        func run() async throws {
            let request = try Csi_V1_NodeStageVolumeRequest.with {
                $0.volumeID = volumeId
                $0.stagingTargetPath = stagingPath
                $0.volumeCapability = try capability.capability()
                $0.publishContext = try keyValues(publishContext, option: "--publish-context")
                $0.volumeContext = try keyValues(volumeContext, option: "--volume-context")
                $0.secrets = try keyValues(secret, option: "--secret")
            }
            let response = try await call(options) { try await Csi_V1_Node.Client(wrapping: $0).nodeStageVolume(request) }
            try Output.print(response, json: options.json) { ["staged \(volumeId) at \(stagingPath)"] }
        }
    }

    struct Publish: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "NodePublishVolume: bind the staged volume at a target path.")
        @OptionGroup var options: ClientOptions
        @Option var volumeId: String
        @Option var stagingPath: String
        @Option var targetPath: String
        @OptionGroup var capability: CapabilityOptions
        @Flag var readonly = false
        @Option(help: "publish_context entry key=value (repeatable).")
        var publishContext: [String] = []

        func run() async throws {
            let request = try Csi_V1_NodePublishVolumeRequest.with {
                $0.volumeID = volumeId
                $0.stagingTargetPath = stagingPath
                $0.targetPath = targetPath
                $0.volumeCapability = try capability.capability()
                $0.readonly = readonly
                $0.publishContext = try keyValues(publishContext, option: "--publish-context")
            }
            let response = try await call(options) { try await Csi_V1_Node.Client(wrapping: $0).nodePublishVolume(request) }
            try Output.print(response, json: options.json) {
                ["published \(volumeId) at \(targetPath)\(readonly ? " (read-only)" : "")"]
            }
        }
    }

    struct Unpublish: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "NodeUnpublishVolume: unmount and remove the target path.")
        @OptionGroup var options: ClientOptions
        @Option var volumeId: String
        @Option var targetPath: String

        func run() async throws {
            let request = Csi_V1_NodeUnpublishVolumeRequest.with {
                $0.volumeID = volumeId
                $0.targetPath = targetPath
            }
            let response = try await call(options) { try await Csi_V1_Node.Client(wrapping: $0).nodeUnpublishVolume(request) }
            try Output.print(response, json: options.json) { ["unpublished \(volumeId) from \(targetPath)"] }
        }
    }

    struct Unstage: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "NodeUnstageVolume: unmount the staging path and detach.")
        @OptionGroup var options: ClientOptions
        @Option var volumeId: String
        @Option var stagingPath: String

        func run() async throws {
            let request = Csi_V1_NodeUnstageVolumeRequest.with {
                $0.volumeID = volumeId
                $0.stagingTargetPath = stagingPath
            }
            let response = try await call(options) { try await Csi_V1_Node.Client(wrapping: $0).nodeUnstageVolume(request) }
            try Output.print(response, json: options.json) { ["unstaged \(volumeId) from \(stagingPath)"] }
        }
    }

    struct Stats: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "NodeGetVolumeStats: usage and condition.")
        @OptionGroup var options: ClientOptions
        @Option var volumeId: String
        @Option var volumePath: String
        @Option var stagingPath: String = ""

        func run() async throws {
            let request = Csi_V1_NodeGetVolumeStatsRequest.with {
                $0.volumeID = volumeId
                $0.volumePath = volumePath
                $0.stagingTargetPath = stagingPath
            }
            let response = try await call(options) { try await Csi_V1_Node.Client(wrapping: $0).nodeGetVolumeStats(request) }
            try Output.print(response, json: options.json) {
                var lines = response.usage.map { usage in
                    let unit = usage.unit == .inodes ? "inodes" : "bytes"
                    return "\(unit): total \(usage.total), used \(usage.used), available \(usage.available)"
                }
                let condition = response.volumeCondition
                lines.append("condition: \(condition.abnormal ? "abnormal: " : "normal: ")\(condition.message)")
                return lines
            }
        }
    }

    struct Expand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "NodeExpandVolume: grow the filesystem (or refresh a block device).")
        @OptionGroup var options: ClientOptions
        @Option var volumeId: String
        @Option var volumePath: String
        @Option var stagingPath: String = ""
        @Option(help: "The size the volume must reach: bytes or a quantity such as 2Gi.")
        var requiredBytes: String?
        @Flag(help: "The volume is a raw block volume.")
        var block = false

        func run() async throws {
            let required = try requiredBytes.map { try parseSize($0, option: "--required-bytes") }
            let request = Csi_V1_NodeExpandVolumeRequest.with {
                $0.volumeID = volumeId
                $0.volumePath = volumePath
                $0.stagingTargetPath = stagingPath
                if let required { $0.capacityRange = .with { $0.requiredBytes = required } }
                if block {
                    $0.volumeCapability = .with {
                        $0.block = .init()
                        $0.accessMode = .with { $0.mode = .singleNodeWriter }
                    }
                }
            }
            let response = try await call(options) { try await Csi_V1_Node.Client(wrapping: $0).nodeExpandVolume(request) }
            try Output.print(response, json: options.json) { ["capacity: \(response.capacityBytes) bytes"] }
        }
    }

    struct Info: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "NodeGetInfo: node id, volume limit, topology.")
        @OptionGroup var options: ClientOptions

        func run() async throws {
            let response = try await call(options) { try await Csi_V1_Node.Client(wrapping: $0).nodeGetInfo(.init()) }
            try Output.print(response, json: options.json) {
                ["node id: \(response.nodeID)", "max volumes: \(response.maxVolumesPerNode)"]
                    + response.accessibleTopology.segments.keys.sorted().map { "topology \($0)=\(response.accessibleTopology.segments[$0] ?? "")" }
            }
        }
    }

    struct Caps: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "NodeGetCapabilities.")
        @OptionGroup var options: ClientOptions

        func run() async throws {
            let response = try await call(options) { try await Csi_V1_Node.Client(wrapping: $0).nodeGetCapabilities(.init()) }
            try Output.print(response, json: options.json) { response.capabilities.map(Output.compact) }
        }
    }
}
