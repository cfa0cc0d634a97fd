import ArgumentParser
import CStorCore
import CStorKubernetes
import SwiftProtobuf

/// `key=value` pairs given as repeated options (`--param replicaCount=3 --param cas-type=cstor`).
func keyValues(_ pairs: [String], option: String) throws -> [String: String] {
    var result: [String: String] = [:]
    for pair in pairs {
        guard let equals = pair.firstIndex(of: "="), equals != pair.startIndex else {
            throw ValidationError("\(option) \(pair): expected key=value")
        }
        result[String(pair[..<equals])] = String(pair[pair.index(after: equals)...])
    }
    return result
}

/// Flags that describe a volume capability: `--fs ext4` (default) or `--block`, plus an access mode.
struct CapabilityOptions: ParsableArguments {
    @Option(help: "Filesystem of a mount volume: ext4 or xfs.")
    var fs: String = "ext4"

    @Flag(help: "A raw block volume instead of a filesystem.")
    var block = false

    @Option(name: .customLong("mount-flag"), help: "A mount option for a mount volume (repeatable).")
    var mountFlags: [String] = []

    @Option(help: "single-node-writer, single-node-reader-only, single-node-single-writer or single-node-multi-writer.")
    var accessMode: String = "single-node-writer"

    func capability() throws -> Csi_V1_VolumeCapability {
        let mode: Csi_V1_VolumeCapability.AccessMode.Mode
        switch accessMode {
        case "single-node-writer": mode = .singleNodeWriter
        case "single-node-reader-only": mode = .singleNodeReaderOnly
        case "single-node-single-writer": mode = .singleNodeSingleWriter
        case "single-node-multi-writer": mode = .singleNodeMultiWriter
        case "multi-node-reader-only": mode = .multiNodeReaderOnly
        case "multi-node-single-writer": mode = .multiNodeSingleWriter
        case "multi-node-multi-writer": mode = .multiNodeMultiWriter
        default: throw ValidationError("--access-mode \(accessMode) is not a CSI access mode")
        }
        return .with { capability in
            if block {
                capability.block = .init()
            } else {
                capability.mount = .with {
                    $0.fsType = fs
                    $0.mountFlags = mountFlags
                }
            }
            capability.accessMode = .with { $0.mode = mode }
        }
    }
}

/// Sizes as operators write them: bytes, or a Kubernetes quantity such as 5Gi or 512Mi.
func parseSize(_ text: String, option: String) throws -> Int64 {
    do {
        return try Quantity(parsing: text).bytes
    } catch {
        throw ValidationError("\(option) \(text) is not a size (bytes, or a quantity such as 5Gi): \(error)")
    }
}
