import CSITestSupport
import CStorCore
import CStorKubernetes
import CStorModel
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import Testing

/// Hundreds of malformed or hostile requests across every RPC of both binaries, each with the
/// code the CSI spec (and this driver's documented rules) require — and both processes still
/// serving afterwards.
@Suite("Bad input: malformed and hostile requests")
struct BadInputTests {
    typealias ControllerClient = Csi_V1_Controller.Client<HTTP2ClientTransport.Posix>
    typealias NodeClient = Csi_V1_Node.Client<HTTP2ClientTransport.Posix>

    struct Case: Sendable {
        var name: String
        var expected: RPCError.Code?
        var controller: (@Sendable (ControllerClient) async throws -> Void)?
        var node: (@Sendable (NodeClient) async throws -> Void)?
    }

    /// Identifiers no volume or node of this driver can have.
    static let hostileIDs: [(String, String)] = [
        ("slash", "pvc/../../etc"), ("dot-dot", ".."), ("nul", "pvc-\u{0}x"), ("ten-kilobytes", String(repeating: "v", count: 10_000)),
        ("newline", "pvc-1\nx"), ("space", "pvc 1"), ("leading-dash", "-rf"), ("unicode", "pvc-ü"),
    ]

    /// Paths a CO must never be able to make the node touch.
    static func hostilePaths(_ kubelet: String) -> [(String, String)] {
        [
            ("relative", "relative/path"), ("dot-dot", "\(kubelet)/../../etc"), ("nul", "\(kubelet)/a\u{0}b"),
            ("outside", "/etc/cstor"), ("root", "/"), ("kubelet-dir-itself", kubelet),
            ("ten-kilobytes", "\(kubelet)/" + String(repeating: "p", count: 10_000)), ("double-slash", "\(kubelet)//x"),
            ("control", "\(kubelet)/a\u{7}b"),
        ]
    }

    static let badCapabilities: [(String, Csi_V1_VolumeCapability, RPCError.Code)] = [
        ("no-access-type", .with { $0.accessMode = .with { $0.mode = .singleNodeWriter } }, .invalidArgument),
        ("no-access-mode", .with { $0.mount = .init() }, .invalidArgument),
        ("unknown-mode", .with {
            $0.mount = .init()
            $0.accessMode = .with { $0.mode = .UNRECOGNIZED(99) }
        }, .invalidArgument),
        ("mount-flag-comma", .mount(flags: ["ro,suid"]), .invalidArgument),
        ("mount-flag-bind", .mount(flags: ["bind"]), .invalidArgument),
        ("mount-flag-nul", .mount(flags: ["a\u{0}b"]), .invalidArgument),
        ("mount-flag-empty", .mount(flags: [""]), .invalidArgument),
        // Accepted by the old validator, refused by the kernel: INTERNAL from mount before.
        ("mount-flag-dash-o", .mount(flags: ["-o"]), .invalidArgument),
        ("mount-flag-uid-on-ext4", .mount(flags: ["uid=0"]), .invalidArgument),
        ("mount-flag-umask-on-xfs", .mount("xfs", flags: ["umask=022"]), .invalidArgument),
    ]

    static let unsupportedCapabilities: [(String, Csi_V1_VolumeCapability)] = [
        ("multi-node-reader", .mount(mode: .multiNodeReaderOnly)),
        ("multi-node-single-writer", .mount(mode: .multiNodeSingleWriter)),
        ("multi-node-multi-writer", .block(mode: .multiNodeMultiWriter)),
        ("btrfs", .mount("btrfs")), ("ntfs", .mount("ntfs")),
        ("mount-group", .with {
            $0.mount = .with { $0.volumeMountGroup = "1000" }
            $0.accessMode = .with { $0.mode = .singleNodeWriter }
        }),
    ]

    static func cases(kubelet: String, engineVolumes: String) -> [Case] {
        var cases: [Case] = []
        func controller(_ name: String, _ expected: RPCError.Code?, _ call: @escaping @Sendable (ControllerClient) async throws -> Void) {
            cases.append(Case(name: "controller/\(name)", expected: expected, controller: call))
        }
        func node(_ name: String, _ expected: RPCError.Code?, _ call: @escaping @Sendable (NodeClient) async throws -> Void) {
            cases.append(Case(name: "node/\(name)", expected: expected, node: call))
        }
        let staging = "\(kubelet)/plugins/kubernetes.io/csi/cstor.csi.openebs.io/pvc-bad/globalmount"
        let target = "\(kubelet)/pods/p/volumes/kubernetes.io~csi/pvc-bad/mount"
        let loopContext = ["transport": "loop", "file": "\(engineVolumes)/pvc-bad.img"]

        // Hostile ids in every RPC that takes one.
        for (label, id) in hostileIDs {
            controller("CreateVolume name \(label)", .invalidArgument) {
                _ = try await $0.createVolume(.with {
                    $0.name = id
                    $0.volumeCapabilities = [.mount()]
                })
            }
            controller("DeleteVolume \(label) (cannot exist: done)", nil) { _ = try await $0.deleteVolume(.with { $0.volumeID = id }) }
            controller("ControllerPublishVolume volume \(label)", .invalidArgument) {
                _ = try await $0.controllerPublishVolume(.with {
                    $0.volumeID = id
                    $0.nodeID = "node-1"
                    $0.volumeCapability = .mount()
                })
            }
            controller("ControllerPublishVolume node \(label)", .invalidArgument) {
                _ = try await $0.controllerPublishVolume(.with {
                    $0.volumeID = "pvc-bad"
                    $0.nodeID = id
                    $0.volumeCapability = .mount()
                })
            }
            controller("ControllerUnpublishVolume \(label) (cannot be published: done)", nil) {
                _ = try await $0.controllerUnpublishVolume(.with {
                    $0.volumeID = id
                    $0.nodeID = "node-1"
                })
            }
            controller("ValidateVolumeCapabilities \(label)", .invalidArgument) {
                _ = try await $0.validateVolumeCapabilities(.with {
                    $0.volumeID = id
                    $0.volumeCapabilities = [.mount()]
                })
            }
            controller("ControllerExpandVolume \(label)", .invalidArgument) {
                _ = try await $0.controllerExpandVolume(.with {
                    $0.volumeID = id
                    $0.capacityRange = .with { $0.requiredBytes = 1 << 30 }
                })
            }
            controller("ControllerGetVolume \(label)", .invalidArgument) { _ = try await $0.controllerGetVolume(.with { $0.volumeID = id }) }
            controller("CreateSnapshot source \(label)", .invalidArgument) {
                _ = try await $0.createSnapshot(.with {
                    $0.sourceVolumeID = id
                    $0.name = "snap-1"
                })
            }
            controller("CreateSnapshot name \(label)", .invalidArgument) {
                _ = try await $0.createSnapshot(.with {
                    $0.sourceVolumeID = "pvc-bad"
                    $0.name = id
                })
            }
            controller("GetSnapshot \(label)", id.utf8.count > 128 ? .notFound : .notFound) {
                _ = try await $0.getSnapshot(.with { $0.snapshotID = id })
            }
            node("NodeStageVolume \(label)", .invalidArgument) {
                _ = try await $0.nodeStageVolume(.with {
                    $0.volumeID = id
                    $0.stagingTargetPath = staging
                    $0.volumeCapability = .mount()
                    $0.publishContext = loopContext
                })
            }
            node("NodePublishVolume \(label)", .invalidArgument) {
                _ = try await $0.nodePublishVolume(.with {
                    $0.volumeID = id
                    $0.stagingTargetPath = staging
                    $0.targetPath = target
                    $0.volumeCapability = .mount()
                })
            }
            node("NodeUnpublishVolume \(label)", .invalidArgument) {
                _ = try await $0.nodeUnpublishVolume(.with {
                    $0.volumeID = id
                    $0.targetPath = target
                })
            }
            node("NodeUnstageVolume \(label)", .invalidArgument) {
                _ = try await $0.nodeUnstageVolume(.with {
                    $0.volumeID = id
                    $0.stagingTargetPath = staging
                })
            }
            node("NodeGetVolumeStats \(label)", .invalidArgument) {
                _ = try await $0.nodeGetVolumeStats(.with {
                    $0.volumeID = id
                    $0.volumePath = target
                })
            }
            node("NodeExpandVolume \(label)", .invalidArgument) {
                _ = try await $0.nodeExpandVolume(.with {
                    $0.volumeID = id
                    $0.volumePath = target
                })
            }
        }

        // Hostile paths in every path field of the node.
        for (label, path) in hostilePaths(kubelet) {
            node("NodeStageVolume staging \(label)", .invalidArgument) {
                _ = try await $0.nodeStageVolume(.with {
                    $0.volumeID = "pvc-bad"
                    $0.stagingTargetPath = path
                    $0.volumeCapability = .mount()
                    $0.publishContext = loopContext
                })
            }
            node("NodePublishVolume staging \(label)", .invalidArgument) {
                _ = try await $0.nodePublishVolume(.with {
                    $0.volumeID = "pvc-bad"
                    $0.stagingTargetPath = path
                    $0.targetPath = target
                    $0.volumeCapability = .mount()
                })
            }
            node("NodePublishVolume target \(label)", .invalidArgument) {
                _ = try await $0.nodePublishVolume(.with {
                    $0.volumeID = "pvc-bad"
                    $0.stagingTargetPath = staging
                    $0.targetPath = path
                    $0.volumeCapability = .mount()
                })
            }
            node("NodeUnpublishVolume target \(label)", .invalidArgument) {
                _ = try await $0.nodeUnpublishVolume(.with {
                    $0.volumeID = "pvc-bad"
                    $0.targetPath = path
                })
            }
            node("NodeUnstageVolume staging \(label)", .invalidArgument) {
                _ = try await $0.nodeUnstageVolume(.with {
                    $0.volumeID = "pvc-bad"
                    $0.stagingTargetPath = path
                })
            }
            // Not a path of the volume, whatever its form: the spec's "volume does not exist on the
            // specified path".
            node("NodeGetVolumeStats \(label)", .notFound) {
                _ = try await $0.nodeGetVolumeStats(.with {
                    $0.volumeID = "pvc-bad"
                    $0.volumePath = path
                })
            }
            node("NodeExpandVolume \(label)", .notFound) {
                _ = try await $0.nodeExpandVolume(.with {
                    $0.volumeID = "pvc-bad"
                    $0.volumePath = path
                })
            }
        }

        // Capabilities: malformed ones are InvalidArgument everywhere; unsupported ones are
        // InvalidArgument for the controller and FailedPrecondition for the node (CSI tables).
        for (label, capability, code) in badCapabilities {
            controller("CreateVolume capability \(label)", code) {
                _ = try await $0.createVolume(.with {
                    $0.name = "pvc-bad"
                    $0.volumeCapabilities = [capability]
                })
            }
            controller("ControllerPublishVolume capability \(label)", code) {
                _ = try await $0.controllerPublishVolume(.with {
                    $0.volumeID = "pvc-exists"
                    $0.nodeID = "node-1"
                    $0.volumeCapability = capability
                })
            }
            controller("ValidateVolumeCapabilities \(label)", code) {
                _ = try await $0.validateVolumeCapabilities(.with {
                    $0.volumeID = "pvc-exists"
                    $0.volumeCapabilities = [capability]
                })
            }
            node("NodeStageVolume capability \(label)", code) {
                _ = try await $0.nodeStageVolume(.with {
                    $0.volumeID = "pvc-bad"
                    $0.stagingTargetPath = staging
                    $0.volumeCapability = capability
                    $0.publishContext = loopContext
                })
            }
            node("NodePublishVolume capability \(label)", code) {
                _ = try await $0.nodePublishVolume(.with {
                    $0.volumeID = "pvc-bad"
                    $0.stagingTargetPath = staging
                    $0.targetPath = target
                    $0.volumeCapability = capability
                })
            }
        }
        for (label, capability) in unsupportedCapabilities {
            controller("CreateVolume unsupported \(label)", .invalidArgument) {
                _ = try await $0.createVolume(.with {
                    $0.name = "pvc-bad"
                    $0.volumeCapabilities = [capability]
                })
            }
            controller("ValidateVolumeCapabilities unsupported \(label) (unconfirmed, not an error)", nil) {
                let response = try await $0.validateVolumeCapabilities(.with {
                    $0.volumeID = "pvc-exists"
                    $0.volumeCapabilities = [capability]
                })
                guard !response.hasConfirmed, !response.message.isEmpty else { throw TestFailure("confirmed \(label)") }
            }
            node("NodeStageVolume unsupported \(label)", .failedPrecondition) {
                _ = try await $0.nodeStageVolume(.with {
                    $0.volumeID = "pvc-bad"
                    $0.stagingTargetPath = staging
                    $0.volumeCapability = capability
                    $0.publishContext = loopContext
                })
            }
            node("NodePublishVolume unsupported \(label)", .failedPrecondition) {
                _ = try await $0.nodePublishVolume(.with {
                    $0.volumeID = "pvc-bad"
                    $0.stagingTargetPath = staging
                    $0.targetPath = target
                    $0.volumeCapability = capability
                })
            }
        }

        // Sizes.
        let sizes: [(String, Int64, Int64, RPCError.Code?)] = [
            ("negative required", -1, 0, .invalidArgument), ("negative limit", 0, -1, .invalidArgument),
            ("required above limit", 10 << 20, 1 << 20, .outOfRange), ("near Int64.max", Int64.max, 0, .outOfRange),
            ("Int64.min", Int64.min, 0, .invalidArgument), ("limit below rounding", (1 << 20) + 1, (1 << 20) + 2, .outOfRange),
        ]
        for (label, required, limit, code) in sizes {
            controller("CreateVolume size \(label)", code) {
                _ = try await $0.createVolume(.with {
                    $0.name = "pvc-size"
                    $0.volumeCapabilities = [.mount()]
                    $0.capacityRange = .with {
                        $0.requiredBytes = required
                        $0.limitBytes = limit
                    }
                })
            }
            controller("ControllerExpandVolume size \(label)", code == .outOfRange && required == (10 << 20) ? .outOfRange : code) {
                _ = try await $0.controllerExpandVolume(.with {
                    $0.volumeID = "pvc-exists"
                    $0.capacityRange = .with {
                        $0.requiredBytes = required
                        $0.limitBytes = limit
                    }
                })
            }
            node("NodeExpandVolume size \(label)", required < 0 || limit < 0 ? .invalidArgument : (limit > 0 && required > limit ? .outOfRange : .notFound)) {
                _ = try await $0.nodeExpandVolume(.with {
                    $0.volumeID = "pvc-bad"
                    $0.volumePath = target
                    $0.capacityRange = .with {
                        $0.requiredBytes = required
                        $0.limitBytes = limit
                    }
                })
            }
        }

        // Missing fields and odd requests, one by one.
        controller("CreateVolume no name", .invalidArgument) { _ = try await $0.createVolume(.with { $0.volumeCapabilities = [.mount()] }) }
        controller("CreateVolume no capabilities", .invalidArgument) { _ = try await $0.createVolume(.with { $0.name = "pvc-bad" }) }
        controller("CreateVolume parameters over 4 KiB", .invalidArgument) {
            _ = try await $0.createVolume(.with {
                $0.name = "pvc-bad"
                $0.volumeCapabilities = [.mount()]
                $0.parameters = ["big": String(repeating: "x", count: 5000)]
            })
        }
        controller("CreateVolume source snapshot malformed", .notFound) {
            _ = try await $0.createVolume(.with {
                $0.name = "pvc-bad"
                $0.volumeCapabilities = [.mount()]
                $0.volumeContentSource = .with { $0.snapshot = .with { $0.snapshotID = "no-at-sign" } }
            })
        }
        controller("CreateVolume source volume hostile", .notFound) {
            _ = try await $0.createVolume(.with {
                $0.name = "pvc-bad"
                $0.volumeCapabilities = [.mount()]
                $0.volumeContentSource = .with { $0.volume = .with { $0.volumeID = "../x" } }
            })
        }
        controller("CreateVolume with secrets (accepted, never logged)", nil) {
            _ = try await $0.createVolume(.with {
                $0.name = "pvc-secret"
                $0.volumeCapabilities = [.mount()]
                $0.capacityRange = .with { $0.requiredBytes = 1 << 20 }
                $0.secrets = ["password": "hunter2-bad-input"]
            })
        }
        // Capacities beyond what the engine holds: OutOfRange, and nothing reserved.
        controller("CreateVolume 2^62 bytes (more than the engine holds)", .outOfRange) {
            _ = try await $0.createVolume(.with {
                $0.name = "pvc-huge"
                $0.volumeCapabilities = [.mount()]
                $0.capacityRange = .with { $0.requiredBytes = 1 << 62 }
            })
        }
        controller("CreateVolume of the same name at a sane size (the failed create reserved nothing)", nil) {
            _ = try await $0.createVolume(.with {
                $0.name = "pvc-huge"
                $0.volumeCapabilities = [.mount()]
                $0.capacityRange = .with { $0.requiredBytes = 1 << 20 }
            })
        }
        controller("ControllerExpandVolume to 1.1 PB", .outOfRange) {
            _ = try await $0.controllerExpandVolume(.with {
                $0.volumeID = "pvc-exists"
                $0.capacityRange = .with { $0.requiredBytes = 1_100_000_000_000_000 }
            })
        }
        // Message sizes: up to 4 MiB a request is read (and its 4 KiB map limit applies); above, it
        // is RESOURCE_EXHAUSTED with the sizes, as gRPC answers, never a reset stream.
        for (label, bytes, code) in [("3 MiB", 3 << 20, RPCError.Code.invalidArgument), ("5 MiB", 5 << 20, .resourceExhausted)] {
            controller("CreateVolume message of \(label)", code) {
                _ = try await $0.createVolume(.with {
                    $0.name = "pvc-big-message"
                    $0.volumeCapabilities = [.mount()]
                    $0.parameters = ["pad": String(repeating: "p", count: bytes)]
                })
            }
            node("NodeStageVolume message of \(label)", code) {
                _ = try await $0.nodeStageVolume(.with {
                    $0.volumeID = "pvc-bad"
                    $0.stagingTargetPath = staging
                    $0.volumeCapability = .mount()
                    $0.publishContext = ["transport": "loop", "file": "/x", "pad": String(repeating: "p", count: bytes)]
                })
            }
        }
        controller("DeleteVolume no id", .invalidArgument) { _ = try await $0.deleteVolume(.init()) }
        controller("ControllerPublishVolume no node", .invalidArgument) {
            _ = try await $0.controllerPublishVolume(.with {
                $0.volumeID = "pvc-exists"
                $0.volumeCapability = .mount()
            })
        }
        controller("ControllerPublishVolume no capability", .invalidArgument) {
            _ = try await $0.controllerPublishVolume(.with {
                $0.volumeID = "pvc-exists"
                $0.nodeID = "node-1"
            })
        }
        controller("ControllerPublishVolume unknown node (not a --node of the local engine)", .notFound) {
            _ = try await $0.controllerPublishVolume(.with {
                $0.volumeID = "pvc-exists"
                $0.nodeID = "node-nowhere"
                $0.volumeCapability = .mount()
            })
        }
        controller("ControllerPublishVolume unknown volume", .notFound) {
            _ = try await $0.controllerPublishVolume(.with {
                $0.volumeID = "pvc-unknown"
                $0.nodeID = "node-1"
                $0.volumeCapability = .mount()
            })
        }
        controller("ControllerUnpublishVolume no id", .invalidArgument) { _ = try await $0.controllerUnpublishVolume(.init()) }
        controller("ValidateVolumeCapabilities no capabilities", .invalidArgument) {
            _ = try await $0.validateVolumeCapabilities(.with { $0.volumeID = "pvc-exists" })
        }
        controller("ValidateVolumeCapabilities unknown volume, malformed capability (form before state)", .invalidArgument) {
            _ = try await $0.validateVolumeCapabilities(.with {
                $0.volumeID = "pvc-unknown"
                $0.volumeCapabilities = [.with { $0.mount = .init() }]
            })
        }
        controller("ValidateVolumeCapabilities no id", .invalidArgument) {
            _ = try await $0.validateVolumeCapabilities(.with { $0.volumeCapabilities = [.mount()] })
        }
        controller("ControllerPublishVolume unknown volume, no capability", .invalidArgument) {
            _ = try await $0.controllerPublishVolume(.with {
                $0.volumeID = "pvc-unknown"
                $0.nodeID = "node-1"
            })
        }
        controller("ControllerPublishVolume no id", .invalidArgument) {
            _ = try await $0.controllerPublishVolume(.with {
                $0.nodeID = "node-1"
                $0.volumeCapability = .mount()
            })
        }
        controller("ControllerExpandVolume no id", .invalidArgument) {
            _ = try await $0.controllerExpandVolume(.with { $0.capacityRange = .with { $0.requiredBytes = 1 << 30 } })
        }
        controller("ValidateVolumeCapabilities unknown volume", .notFound) {
            _ = try await $0.validateVolumeCapabilities(.with {
                $0.volumeID = "pvc-unknown"
                $0.volumeCapabilities = [.mount()]
            })
        }
        for token in ["garbage", "bG9jYWw=", "Y3N0b3ItdjE6eA==", String(repeating: "z", count: 10_000), "\u{0}"] {
            controller("ListVolumes token \(token.prefix(12))", .aborted) { _ = try await $0.listVolumes(.with { $0.startingToken = token }) }
            controller("ListSnapshots token \(token.prefix(12))", .aborted) { _ = try await $0.listSnapshots(.with { $0.startingToken = token }) }
        }
        controller("ListVolumes negative max_entries", .invalidArgument) { _ = try await $0.listVolumes(.with { $0.maxEntries = -5 }) }
        controller("ListSnapshots negative max_entries", .invalidArgument) { _ = try await $0.listSnapshots(.with { $0.maxEntries = Int32.min }) }
        controller("CreateSnapshot no source", .invalidArgument) { _ = try await $0.createSnapshot(.with { $0.name = "snap" }) }
        controller("CreateSnapshot no name", .invalidArgument) { _ = try await $0.createSnapshot(.with { $0.sourceVolumeID = "pvc-exists" }) }
        controller("CreateSnapshot name with @", .invalidArgument) {
            _ = try await $0.createSnapshot(.with {
                $0.sourceVolumeID = "pvc-exists"
                $0.name = "a@b"
            })
        }
        controller("CreateSnapshot unknown source", .notFound) {
            _ = try await $0.createSnapshot(.with {
                $0.sourceVolumeID = "pvc-unknown"
                $0.name = "snap-x"
            })
        }
        controller("DeleteSnapshot no id", .invalidArgument) { _ = try await $0.deleteSnapshot(.init()) }
        controller("DeleteSnapshot NUL", .invalidArgument) { _ = try await $0.deleteSnapshot(.with { $0.snapshotID = "a\u{0}@b" }) }
        controller("DeleteSnapshot ten kilobytes", .invalidArgument) {
            _ = try await $0.deleteSnapshot(.with { $0.snapshotID = String(repeating: "s", count: 10_000) })
        }
        controller("DeleteSnapshot foreign form (cannot exist: done)", nil) { _ = try await $0.deleteSnapshot(.with { $0.snapshotID = "snapshot-123" }) }
        controller("GetSnapshot no id", .invalidArgument) { _ = try await $0.getSnapshot(.init()) }
        controller("ControllerExpandVolume no range", .invalidArgument) {
            _ = try await $0.controllerExpandVolume(.with { $0.volumeID = "pvc-exists" })
        }
        controller("ControllerExpandVolume zero range", .invalidArgument) {
            _ = try await $0.controllerExpandVolume(.with {
                $0.volumeID = "pvc-exists"
                $0.capacityRange = .init()
            })
        }
        controller("ControllerExpandVolume unknown", .notFound) {
            _ = try await $0.controllerExpandVolume(.with {
                $0.volumeID = "pvc-unknown"
                $0.capacityRange = .with { $0.requiredBytes = 1 << 30 }
            })
        }
        controller("ControllerGetVolume no id", .invalidArgument) { _ = try await $0.controllerGetVolume(.init()) }
        controller("ControllerModifyVolume (not advertised)", .unimplemented) {
            _ = try await $0.controllerModifyVolume(.with { $0.volumeID = "pvc-exists" })
        }

        let iscsiContexts: [(String, [String: String])] = [
            ("no transport", [:]), ("unknown transport", ["transport": "nvme"]),
            ("iscsi without iqn", ["transport": "iscsi", "portal": "10.0.0.1:3260"]),
            ("iscsi option-like iqn", ["transport": "iscsi", "iqn": "--login", "portal": "10.0.0.1:3260"]),
            ("iscsi bad portal", ["transport": "iscsi", "iqn": "iqn.2016-09.com.openebs.cstor:x", "portal": "x y"]),
            ("iscsi port 0", ["transport": "iscsi", "iqn": "iqn.2016-09.com.openebs.cstor:x", "portal": "10.0.0.1:0"]),
            ("iscsi bad lun", ["transport": "iscsi", "iqn": "iqn.2016-09.com.openebs.cstor:x", "portal": "10.0.0.1", "lun": "-1"]),
            ("loop without file", ["transport": "loop"]), ("loop relative file", ["transport": "loop", "file": "x.img"]),
            ("loop dot-dot file", ["transport": "loop", "file": "\(engineVolumes)/../../../etc/passwd"]),
            ("oversized context", ["transport": "loop", "file": "/x", "pad": String(repeating: "p", count: 5000)]),
        ]
        for (label, context) in iscsiContexts {
            node("NodeStageVolume publish_context \(label)", .invalidArgument) {
                _ = try await $0.nodeStageVolume(.with {
                    $0.volumeID = "pvc-bad"
                    $0.stagingTargetPath = staging
                    $0.volumeCapability = .mount()
                    $0.publishContext = context
                })
            }
        }
        node("NodeStageVolume loop file outside --loop-dir", .failedPrecondition) {
            _ = try await $0.nodeStageVolume(.with {
                $0.volumeID = "pvc-bad"
                $0.stagingTargetPath = staging
                $0.volumeCapability = .mount()
                $0.publishContext = ["transport": "loop", "file": "/etc/passwd"]
            })
        }
        node("NodeStageVolume iSCSI on a loop-only node", .failedPrecondition) {
            _ = try await $0.nodeStageVolume(.with {
                $0.volumeID = "pvc-bad"
                $0.stagingTargetPath = staging
                $0.volumeCapability = .mount()
                $0.publishContext = ["transport": "iscsi", "iqn": "iqn.2016-09.com.openebs.cstor:x", "portal": "10.0.0.1:3260"]
            })
        }
        for (label, size) in [("empty", 0), ("4 KiB", 4096)] {
            node("NodeStageVolume loop file \(label) (too small to format)", .failedPrecondition) {
                let file = "\(engineVolumes)/pvc-small-\(size).img"
                FileManager.default.createFile(atPath: file, contents: Data(count: size))
                defer { unlink(file) }
                _ = try await $0.nodeStageVolume(.with {
                    $0.volumeID = "pvc-small"
                    $0.stagingTargetPath = staging
                    $0.volumeCapability = .mount()
                    $0.publishContext = ["transport": "loop", "file": file]
                })
            }
        }
        node("NodeStageVolume xfs on a 16 MiB volume (mkfs.xfs makes 300 MiB and more)", .failedPrecondition) {
            let file = "\(engineVolumes)/pvc-small-xfs.img"
            guard FileManager.default.createFile(atPath: file, contents: nil), truncate(file, 16 << 20) == 0 else {
                throw TestFailure("cannot make \(file)")
            }
            defer { unlink(file) }
            _ = try await $0.nodeStageVolume(.with {
                $0.volumeID = "pvc-small"
                $0.stagingTargetPath = staging
                $0.volumeCapability = .mount("xfs")
                $0.publishContext = ["transport": "loop", "file": file]
            })
        }
        node("NodeStageVolume missing backing file", .notFound) {
            _ = try await $0.nodeStageVolume(.with {
                $0.volumeID = "pvc-bad"
                $0.stagingTargetPath = staging
                $0.volumeCapability = .mount()
                $0.publishContext = loopContext
            })
        }
        node("NodeStageVolume no capability", .invalidArgument) {
            _ = try await $0.nodeStageVolume(.with {
                $0.volumeID = "pvc-bad"
                $0.stagingTargetPath = staging
                $0.publishContext = loopContext
            })
        }
        node("NodeStageVolume no staging path", .invalidArgument) {
            _ = try await $0.nodeStageVolume(.with {
                $0.volumeID = "pvc-bad"
                $0.volumeCapability = .mount()
                $0.publishContext = loopContext
            })
        }
        node("NodePublishVolume no staging path", .failedPrecondition) {
            _ = try await $0.nodePublishVolume(.with {
                $0.volumeID = "pvc-bad"
                $0.targetPath = target
                $0.volumeCapability = .mount()
            })
        }
        // Required fields are checked in the spec's order before anything else: a missing one is
        // InvalidArgument even when the staging path is missing too (FailedPrecondition alone).
        node("NodePublishVolume only a volume id", .invalidArgument) { _ = try await $0.nodePublishVolume(.with { $0.volumeID = "pvc-bad" }) }
        node("NodePublishVolume no staging path, no target", .invalidArgument) {
            _ = try await $0.nodePublishVolume(.with {
                $0.volumeID = "pvc-bad"
                $0.volumeCapability = .mount()
            })
        }
        node("NodePublishVolume no staging path, no capability", .invalidArgument) {
            _ = try await $0.nodePublishVolume(.with {
                $0.volumeID = "pvc-bad"
                $0.targetPath = target
            })
        }
        node("NodePublishVolume no staging path, malformed capability", .invalidArgument) {
            _ = try await $0.nodePublishVolume(.with {
                $0.volumeID = "pvc-bad"
                $0.targetPath = target
                $0.volumeCapability = .with { $0.mount = .init() }
            })
        }
        node("NodePublishVolume no staging path, unsupported capability", .failedPrecondition) {
            _ = try await $0.nodePublishVolume(.with {
                $0.volumeID = "pvc-bad"
                $0.targetPath = target
                $0.volumeCapability = .mount("btrfs")
            })
        }
        node("NodePublishVolume no id, no target", .invalidArgument) {
            _ = try await $0.nodePublishVolume(.with { $0.stagingTargetPath = staging })
        }
        node("NodeStageVolume unsupported capability, malformed publish_context", .invalidArgument) {
            _ = try await $0.nodeStageVolume(.with {
                $0.volumeID = "pvc-bad"
                $0.stagingTargetPath = staging
                $0.volumeCapability = .mount("btrfs")
                $0.publishContext = ["transport": "nvme"]
            })
        }
        node("NodeStageVolume no id, nothing else", .invalidArgument) { _ = try await $0.nodeStageVolume(.init()) }
        node("NodeUnstageVolume no id", .invalidArgument) { _ = try await $0.nodeUnstageVolume(.with { $0.stagingTargetPath = staging }) }
        node("NodeUnpublishVolume no id", .invalidArgument) { _ = try await $0.nodeUnpublishVolume(.with { $0.targetPath = target }) }
        node("NodeGetVolumeStats no id", .invalidArgument) { _ = try await $0.nodeGetVolumeStats(.with { $0.volumePath = target }) }
        node("NodeExpandVolume no id", .invalidArgument) { _ = try await $0.nodeExpandVolume(.with { $0.volumePath = target }) }
        node("NodePublishVolume no target", .invalidArgument) {
            _ = try await $0.nodePublishVolume(.with {
                $0.volumeID = "pvc-bad"
                $0.stagingTargetPath = staging
                $0.volumeCapability = .mount()
            })
        }
        node("NodePublishVolume target equals staging", .invalidArgument) {
            _ = try await $0.nodePublishVolume(.with {
                $0.volumeID = "pvc-bad"
                $0.stagingTargetPath = staging
                $0.targetPath = staging
                $0.volumeCapability = .mount()
            })
        }
        node("NodePublishVolume not staged", .failedPrecondition) {
            _ = try await $0.nodePublishVolume(.with {
                $0.volumeID = "pvc-bad"
                $0.stagingTargetPath = staging
                $0.targetPath = target
                $0.volumeCapability = .mount()
            })
        }
        node("NodeUnpublishVolume no target", .invalidArgument) { _ = try await $0.nodeUnpublishVolume(.with { $0.volumeID = "pvc-bad" }) }
        node("NodeUnpublishVolume nothing there (done)", nil) {
            _ = try await $0.nodeUnpublishVolume(.with {
                $0.volumeID = "pvc-bad"
                $0.targetPath = target
            })
        }
        node("NodeUnstageVolume no path", .invalidArgument) { _ = try await $0.nodeUnstageVolume(.with { $0.volumeID = "pvc-bad" }) }
        node("NodeUnstageVolume nothing there (done)", nil) {
            _ = try await $0.nodeUnstageVolume(.with {
                $0.volumeID = "pvc-bad"
                $0.stagingTargetPath = staging
            })
        }
        node("NodeGetVolumeStats no path", .invalidArgument) { _ = try await $0.nodeGetVolumeStats(.with { $0.volumeID = "pvc-bad" }) }
        node("NodeGetVolumeStats unknown volume", .notFound) {
            _ = try await $0.nodeGetVolumeStats(.with {
                $0.volumeID = "pvc-bad"
                $0.volumePath = target
            })
        }
        node("NodeExpandVolume no path", .invalidArgument) { _ = try await $0.nodeExpandVolume(.with { $0.volumeID = "pvc-bad" }) }
        node("NodeExpandVolume malformed capability", .invalidArgument) {
            _ = try await $0.nodeExpandVolume(.with {
                $0.volumeID = "pvc-bad"
                $0.volumePath = target
                $0.volumeCapability = .with { $0.mount = .init() }
            })
        }
        return cases
    }

    @Test("Paths in the way on the node's disk (a file, a link, a loop, a long name) get InvalidArgument (FailedPrecondition for unpublish of what is kept), never INTERNAL, and are left as they were")
    func pathsInTheWay() async throws {
        try await withLocalCluster { cluster in
            let node = cluster.node
            let capability = Csi_V1_VolumeCapability.mount()
            _ = try await cluster.controllerClient {
                try await $0.createVolume(.with {
                    $0.name = "pvc-paths"
                    $0.volumeCapabilities = [capability]
                    $0.capacityRange = .with { $0.requiredBytes = 64 << 20 }
                })
            }
            let context = try await cluster.controllerClient {
                try await $0.controllerPublishVolume(.with {
                    $0.volumeID = "pvc-paths"
                    $0.nodeID = NodeHarness.nodeID
                    $0.volumeCapability = capability
                })
            }.publishContext
            let staging = node.stagingPath("pvc-paths")
            _ = try await node.node {
                try await $0.nodeStageVolume(.with {
                    $0.volumeID = "pvc-paths"
                    $0.stagingTargetPath = staging
                    $0.publishContext = context
                    $0.volumeCapability = capability
                })
            }
            let pods = node.kubeletDirectory + "/pods/hostile/volumes/kubernetes.io~csi"
            try FileManager.default.createDirectory(atPath: pods, withIntermediateDirectories: true)
            let file = pods + "/a-file"
            try Data("data".utf8).write(to: URL(fileURLWithPath: file))
            try FileManager.default.createSymbolicLink(atPath: pods + "/dangling", withDestinationPath: "/nonexistent/x")
            try FileManager.default.createSymbolicLink(atPath: pods + "/loop", withDestinationPath: pods + "/loop")
            try FileManager.default.createSymbolicLink(atPath: pods + "/to-etc", withDestinationPath: "/etc")
            // The node never follows a symlink below the kubelet directory, and a path whose parts
            // are not directories cannot be a target: the request's path is unusable (InvalidArgument).
            let cases: [(String, String, RPCError.Code)] = [
                ("a regular file", file, .invalidArgument),
                ("below a regular file", file + "/mount", .invalidArgument),
                ("a dangling symbolic link", pods + "/dangling", .invalidArgument),
                ("below a looping symbolic link", pods + "/loop/mount", .invalidArgument),
                ("below a link out of the kubelet directory", pods + "/to-etc/mount", .invalidArgument),
                ("a component of 300 bytes", pods + "/" + String(repeating: "n", count: 300), .invalidArgument),
            ]
            var failures: [String] = []
            for (label, path, expected) in cases {
                let publish = await rpcError {
                    try await node.node {
                        try await $0.nodePublishVolume(.with {
                            $0.volumeID = "pvc-paths"
                            $0.stagingTargetPath = staging
                            $0.targetPath = path
                            $0.volumeCapability = capability
                        })
                    }
                }
                if publish?.code != expected { failures.append("NodePublishVolume target \(label): \(String(describing: publish))") }
                let unpublish = await rpcError {
                    try await node.node { try await $0.nodeUnpublishVolume(.with { $0.volumeID = "pvc-paths"; $0.targetPath = path }) }
                }
                // A path whose parents are fine and that holds nothing of ours is done; one in the
                // way is refused, never removed.
                if let unpublish, unpublish.code == .internalError || unpublish.code == .unknown {
                    failures.append("NodeUnpublishVolume target \(label): \(unpublish)")
                }
                let stage = await rpcError {
                    try await node.node {
                        try await $0.nodeStageVolume(.with {
                            $0.volumeID = "pvc-paths-2"
                            $0.stagingTargetPath = path.replacingOccurrences(of: pods, with: node.kubeletDirectory + "/plugins/x")
                            $0.publishContext = context
                            $0.volumeCapability = capability
                        })
                    }
                }
                if stage?.code == .internalError || stage?.code == .unknown { failures.append("NodeStageVolume \(label): \(String(describing: stage))") }
            }
            // Unpublishing a target that holds a file with data, or is a link: refused, kept.
            for path in [file, pods + "/dangling"] {
                let code = await rpcCode {
                    try await node.node { try await $0.nodeUnpublishVolume(.with { $0.volumeID = "pvc-paths"; $0.targetPath = path }) }
                }
                if code != .failedPrecondition { failures.append("NodeUnpublishVolume \(path): \(String(describing: code))") }
            }
            #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
            #expect(try String(contentsOfFile: file, encoding: .utf8) == "data", "the file in the way is kept")
            #expect(try FileManager.default.destinationOfSymbolicLink(atPath: pods + "/dangling") == "/nonexistent/x")
            _ = try await node.node { try await $0.nodeUnstageVolume(.with { $0.volumeID = "pvc-paths"; $0.stagingTargetPath = staging }) }
        }
    }

    @Test("More than 200 malformed or hostile requests get the required codes; both binaries keep serving")
    func table() async throws {
        try await withLocalCluster { cluster in
            _ = try await cluster.controllerClient {
                try await $0.createVolume(.with {
                    $0.name = "pvc-exists"
                    $0.volumeCapabilities = [.mount()]
                    $0.capacityRange = .with { $0.requiredBytes = 1 << 20 }
                })
            }
            let cases = Self.cases(kubelet: cluster.node.kubeletDirectory, engineVolumes: cluster.stateDirectory + "/volumes")
            #expect(cases.count >= 200, "\(cases.count) cases")
            var failures: [String] = []
            try await withCSIClient(socket: cluster.controllerSocket) { controllerConnection in
                try await withCSIClient(socket: cluster.node.socketPath) { nodeConnection in
                    let controller = Csi_V1_Controller.Client(wrapping: controllerConnection)
                    let node = Csi_V1_Node.Client(wrapping: nodeConnection)
                    for testCase in cases {
                        let error = await rpcError {
                            if let call = testCase.controller { try await call(controller) }
                            if let call = testCase.node { try await call(node) }
                        }
                        if error?.code != testCase.expected {
                            failures.append("\(testCase.name): expected \(testCase.expected.map { "\($0)" } ?? "OK"), got \(error.map { "\($0.code): \($0.message)" } ?? "OK")")
                        } else if let error, error.message.isEmpty {
                            failures.append("\(testCase.name): \(error.code) without a message")
                        }
                    }
                }
            }
            #expect(failures.isEmpty, "\(failures.count) of \(cases.count) cases:\n\(failures.joined(separator: "\n"))")
            #expect(cluster.controller?.isRunning == true && cluster.node.process?.isRunning == true)
            for socket in [cluster.controllerSocket, cluster.node.socketPath] {
                let probe = try await withCSIClient(socket: socket) { try await Csi_V1_Identity.Client(wrapping: $0).probe(.init()) }
                #expect(probe.ready.value, "still serving after the bad input")
            }
            let controllerLog = cluster.controller?.logText() ?? ""
            #expect(controllerLog.contains("pvc-secret"), "the request with secrets was logged")
            #expect(!controllerLog.contains("hunter2-bad-input"), "but not its secret")
        }
    }
}
