import CStorCore
import CStorKubernetes
import CStorModel
import Foundation
import Synchronization

@testable import cstor_node

/// An in-memory mount table with an action log, standing in for libmount.
final class FakeMounter: Mounter, Sendable {
    let state = Mutex<(entries: [MountEntry], actions: [String])>(([], []))

    var actions: [String] { state.withLock { $0.actions } }

    func mount(source: String, target: MountTarget, fsType: String, options: [String]) async throws {
        state.withLock {
            $0.actions.append("mount \(source) \(target.path)")
            $0.entries.append(Self.entry(source: source, target: target.path, fsType: fsType, readOnly: options.contains("ro")))
        }
    }

    func bind(source: OpenedPath, target: MountTarget, readOnly: Bool) async throws {
        state.withLock {
            $0.actions.append("bind \(source.path) \(target.path)")
            $0.entries.append(Self.entry(source: source.path, target: target.path, fsType: "bind", readOnly: readOnly))
        }
    }

    func bindBeneath(source: OpenedPath, target: MountTarget, readOnly: Bool) async throws {
        try insertBeneath(Self.entry(source: source.path, target: target.path, fsType: "bind", readOnly: readOnly), action: "bind beneath \(source.path) \(target.path)")
    }

    func guardBeneath(target: MountTarget) async throws {
        try insertBeneath(Self.entry(source: RecoveryGuard.source, target: target.path, fsType: "tmpfs", readOnly: true), action: "guard beneath \(target.path)")
    }

    /// Like the kernel: beneath the top mount at the path; with nothing mounted there, EINVAL.
    private func insertBeneath(_ entry: MountEntry, action: String) throws {
        try state.withLock { state in
            guard let index = state.entries.lastIndex(where: { $0.mountPoint == entry.mountPoint }) else {
                throw MountError(kind: .failed, operation: action, target: entry.mountPoint, detail: "nothing is mounted there (EINVAL)")
            }
            state.actions.append(action)
            state.entries.insert(entry, at: index)
        }
    }

    func remount(target: MountTarget, options: [String]) async throws {
        state.withLock { $0.actions.append("remount \(target.path) \(options.joined(separator: ","))") }
    }

    func unmount(target: MountTarget, lazy: Bool) async throws {
        state.withLock { state in
            state.actions.append("unmount \(target.path)")
            if let index = state.entries.lastIndex(where: { $0.mountPoint == target.path }) { state.entries.remove(at: index) }
        }
    }

    func table() throws -> MountTable {
        MountTable(entries: state.withLock { $0.entries })
    }

    static func entry(source: String, target: String, fsType: String, readOnly: Bool) -> MountEntry {
        MountEntry(
            mountID: 1, parentID: 0, device: "0:0", root: "/", mountPoint: target, options: [readOnly ? "ro" : "rw"],
            fsType: fsType, source: source, superOptions: ["rw"])
    }
}

/// An attacher that answers from fixed values and logs each call.
final class FakeAttacher: Attacher, Sendable {
    let calls = Mutex<[String]>([])
    let device: String

    init(device: String = "/dev/fake0") { self.device = device }

    var log: [String] { calls.withLock { $0 } }

    func attach(_ target: AttachTarget, secrets: [String: String]) async throws -> String {
        calls.withLock { $0.append("attach") }
        return device
    }
    func currentDevice(_ target: AttachTarget) async throws -> String? {
        calls.withLock { $0.append("currentDevice") }
        return device
    }
    func detach(_ target: AttachTarget) async throws { calls.withLock { $0.append("detach") } }
    func refreshSize(_ target: AttachTarget, device: String) async throws { calls.withLock { $0.append("refresh") } }
    func health(_ target: AttachTarget) async -> TransportHealth {
        calls.withLock { $0.append("health") }
        return .healthy
    }
    func repair(_ target: AttachTarget) async throws -> String {
        calls.withLock { $0.append("repair") }
        return device
    }
}
