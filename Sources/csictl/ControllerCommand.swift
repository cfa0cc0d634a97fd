import ArgumentParser
import CStorCore
import FoundationEssentials
import Glibc
import SwiftProtobuf

struct ControllerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "controller", abstract: "Controller service: create, attach, snapshot and grow volumes.",
        subcommands: [
            Create.self, Delete.self, List.self, Get.self, Publish.self, Unpublish.self, Expand.self, Snapshot.self,
            ListSnapshots.self, DeleteSnapshot.self, Capacity.self, Caps.self,
        ])

    static func describe(_ volume: Csi_V1_Volume) -> [String] {
        var lines = ["volume \(volume.volumeID): \(volume.capacityBytes) bytes"]
        lines += volume.volumeContext.keys.sorted().map { "  context \($0)=\(volume.volumeContext[$0] ?? "")" }
        switch volume.contentSource.type {
        case .snapshot(let snapshot): lines.append("  source snapshot \(snapshot.snapshotID)")
        case .volume(let source): lines.append("  source volume \(source.volumeID)")
        case nil: break
        }
        for topology in volume.accessibleTopology {
            lines.append("  topology " + topology.segments.keys.sorted().map { "\($0)=\(topology.segments[$0] ?? "")" }.joined(separator: ","))
        }
        return lines
    }

    static func describe(_ snapshot: Csi_V1_Snapshot) -> String {
        let created = snapshot.hasCreationTime
            ? snapshot.creationTime.date.formatted(Date.ISO8601FormatStyle()) : "unknown time"
        return "snapshot \(snapshot.snapshotID) of \(snapshot.sourceVolumeID): \(snapshot.sizeBytes) bytes, created \(created), \(snapshot.readyToUse ? "ready" : "not ready")"
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "CreateVolume.")
        @OptionGroup var options: ClientOptions
        @Option(help: "The volume name (the PV name in Kubernetes).") var name: String
        @Option(help: "Required size: bytes or a quantity such as 5Gi.") var size: String = "1Gi"
        @Option(help: "Largest acceptable size (optional).") var limit: String?
        @OptionGroup var capability: CapabilityOptions
        @Option(help: "StorageClass parameter key=value (repeatable).") var param: [String] = []
        @Option(help: "Create from this snapshot id.") var fromSnapshot: String?
        @Option(help: "Create as a clone of this volume id.") var fromVolume: String?
        @Option(help: "secret key=value (repeatable; never printed).") var secret: [String] = []

        func run() async throws {
            let required = try parseSize(size, option: "--size")
            let limitBytes = try limit.map { try parseSize($0, option: "--limit") }
            let request = try Csi_V1_CreateVolumeRequest.with {
                $0.name = name
                $0.capacityRange = .with {
                    $0.requiredBytes = required
                    if let limitBytes { $0.limitBytes = limitBytes }
                }
                $0.volumeCapabilities = [try capability.capability()]
                $0.parameters = try keyValues(param, option: "--param")
                $0.secrets = try keyValues(secret, option: "--secret")
                if let fromSnapshot { $0.volumeContentSource = .with { $0.snapshot = .with { $0.snapshotID = fromSnapshot } } }
                if let fromVolume { $0.volumeContentSource = .with { $0.volume = .with { $0.volumeID = fromVolume } } }
            }
            let response = try await call(options) { try await Csi_V1_Controller.Client(wrapping: $0).createVolume(request) }
            try Output.print(response, json: options.json) { ["created"] + ControllerCommand.describe(response.volume) }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "DeleteVolume.")
        @OptionGroup var options: ClientOptions
        @Option var volumeId: String

        func run() async throws {
            let request = Csi_V1_DeleteVolumeRequest.with { $0.volumeID = volumeId }
            let response = try await call(options) { try await Csi_V1_Controller.Client(wrapping: $0).deleteVolume(request) }
            try Output.print(response, json: options.json) { ["deleted \(volumeId)"] }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "ListVolumes, following every page.")
        @OptionGroup var options: ClientOptions
        @Option(help: "Entries per page (0: the plugin decides).") var pageSize: Int32 = 0

        func run() async throws {
            var entries: [Csi_V1_ListVolumesResponse.Entry] = []
            var token = ""
            repeat {
                let request = Csi_V1_ListVolumesRequest.with {
                    $0.maxEntries = pageSize
                    $0.startingToken = token
                }
                let page = try await call(options) { try await Csi_V1_Controller.Client(wrapping: $0).listVolumes(request) }
                entries += page.entries
                token = page.nextToken
            } while !token.isEmpty
            let all = Csi_V1_ListVolumesResponse.with { $0.entries = entries }
            try Output.print(all, json: options.json) {
                entries.map { entry in
                    let nodes = entry.status.publishedNodeIds
                    return "\(entry.volume.volumeID)\t\(entry.volume.capacityBytes)\t\(nodes.isEmpty ? "-" : nodes.joined(separator: ","))"
                }
            }
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "ControllerGetVolume: the volume, where it is published, its condition.")
        @OptionGroup var options: ClientOptions
        @Option var volumeId: String

        func run() async throws {
            let request = Csi_V1_ControllerGetVolumeRequest.with { $0.volumeID = volumeId }
            let response = try await call(options) { try await Csi_V1_Controller.Client(wrapping: $0).controllerGetVolume(request) }
            try Output.print(response, json: options.json) {
                let condition = response.status.volumeCondition
                return ControllerCommand.describe(response.volume) + [
                    "  published on: \(response.status.publishedNodeIds.joined(separator: ","))",
                    "  condition: \(condition.abnormal ? "abnormal" : "normal"): \(condition.message)",
                ]
            }
        }
    }

    struct Publish: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "ControllerPublishVolume: attach to a node; prints the publish_context.")
        @OptionGroup var options: ClientOptions
        @Option var volumeId: String
        @Option var nodeId: String
        @OptionGroup var capability: CapabilityOptions
        @Flag var readonly = false

        func run() async throws {
            let request = try Csi_V1_ControllerPublishVolumeRequest.with {
                $0.volumeID = volumeId
                $0.nodeID = nodeId
                $0.volumeCapability = try capability.capability()
                $0.readonly = readonly
            }
            let response = try await call(options) { try await Csi_V1_Controller.Client(wrapping: $0).controllerPublishVolume(request) }
            try Output.print(response, json: options.json) {
                response.publishContext.keys.sorted().map { "\($0)=\(response.publishContext[$0] ?? "")" }
            }
        }
    }

    struct Unpublish: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "ControllerUnpublishVolume: detach from a node.")
        @OptionGroup var options: ClientOptions
        @Option var volumeId: String
        @Option var nodeId: String = ""

        func run() async throws {
            let request = Csi_V1_ControllerUnpublishVolumeRequest.with {
                $0.volumeID = volumeId
                $0.nodeID = nodeId
            }
            let response = try await call(options) {
                try await Csi_V1_Controller.Client(wrapping: $0).controllerUnpublishVolume(request)
            }
            try Output.print(response, json: options.json) { ["unpublished \(volumeId)\(nodeId.isEmpty ? "" : " from \(nodeId)")"] }
        }
    }

    struct Expand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "ControllerExpandVolume.")
        @OptionGroup var options: ClientOptions
        @Option var volumeId: String
        @Option(help: "The new size: bytes or a quantity such as 2Gi.") var size: String
        @Flag(help: "The volume is a raw block volume.") var block = false

        func run() async throws {
            let bytes = try parseSize(size, option: "--size")
            let request = Csi_V1_ControllerExpandVolumeRequest.with {
                $0.volumeID = volumeId
                $0.capacityRange = .with { $0.requiredBytes = bytes }
                $0.volumeCapability = .with {
                    if block { $0.block = .init() } else { $0.mount = .init() }
                    $0.accessMode = .with { $0.mode = .singleNodeWriter }
                }
            }
            let response = try await call(options) { try await Csi_V1_Controller.Client(wrapping: $0).controllerExpandVolume(request) }
            try Output.print(response, json: options.json) {
                ["capacity: \(response.capacityBytes) bytes", "node expansion required: \(response.nodeExpansionRequired)"]
            }
        }
    }

    struct Snapshot: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "CreateSnapshot.")
        @OptionGroup var options: ClientOptions
        @Option var sourceVolumeId: String
        @Option var name: String
        @Option(help: "VolumeSnapshotClass parameter key=value (repeatable).") var param: [String] = []

        func run() async throws {
            let request = try Csi_V1_CreateSnapshotRequest.with {
                $0.sourceVolumeID = sourceVolumeId
                $0.name = name
                $0.parameters = try keyValues(param, option: "--param")
            }
            let response = try await call(options) { try await Csi_V1_Controller.Client(wrapping: $0).createSnapshot(request) }
            try Output.print(response, json: options.json) { ["created " + ControllerCommand.describe(response.snapshot)] }
        }
    }

    struct ListSnapshots: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list-snapshots", abstract: "ListSnapshots, following every page.")
        @OptionGroup var options: ClientOptions
        @Option var sourceVolumeId: String = ""
        @Option var snapshotId: String = ""
        @Option var pageSize: Int32 = 0

        func run() async throws {
            var entries: [Csi_V1_ListSnapshotsResponse.Entry] = []
            var token = ""
            repeat {
                let request = Csi_V1_ListSnapshotsRequest.with {
                    $0.maxEntries = pageSize
                    $0.startingToken = token
                    $0.sourceVolumeID = sourceVolumeId
                    $0.snapshotID = snapshotId
                }
                let page = try await call(options) { try await Csi_V1_Controller.Client(wrapping: $0).listSnapshots(request) }
                entries += page.entries
                token = page.nextToken
            } while !token.isEmpty
            let all = Csi_V1_ListSnapshotsResponse.with { $0.entries = entries }
            try Output.print(all, json: options.json) { entries.map { ControllerCommand.describe($0.snapshot) } }
        }
    }

    struct DeleteSnapshot: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "delete-snapshot", abstract: "DeleteSnapshot.")
        @OptionGroup var options: ClientOptions
        @Option var snapshotId: String

        func run() async throws {
            let request = Csi_V1_DeleteSnapshotRequest.with { $0.snapshotID = snapshotId }
            let response = try await call(options) { try await Csi_V1_Controller.Client(wrapping: $0).deleteSnapshot(request) }
            try Output.print(response, json: options.json) { ["deleted \(snapshotId)"] }
        }
    }

    struct Capacity: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "GetCapacity for the given StorageClass parameters.")
        @OptionGroup var options: ClientOptions
        @Option(help: "StorageClass parameter key=value (repeatable).") var param: [String] = []

        func run() async throws {
            let request = try Csi_V1_GetCapacityRequest.with { $0.parameters = try keyValues(param, option: "--param") }
            let response = try await call(options) { try await Csi_V1_Controller.Client(wrapping: $0).getCapacity(request) }
            try Output.print(response, json: options.json) {
                var lines = ["available: \(response.availableCapacity) bytes"]
                if response.hasMaximumVolumeSize { lines.append("maximum volume size: \(response.maximumVolumeSize.value) bytes") }
                return lines
            }
        }
    }

    struct Caps: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "ControllerGetCapabilities.")
        @OptionGroup var options: ClientOptions

        func run() async throws {
            let response = try await call(options) {
                try await Csi_V1_Controller.Client(wrapping: $0).controllerGetCapabilities(.init())
            }
            try Output.print(response, json: options.json) { response.capabilities.map(Output.compact) }
        }
    }
}
