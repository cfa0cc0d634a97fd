import CStorCore

/// Makes a volume's block device appear on this node and go away again. One implementation per
/// transport; every method is idempotent: attach reuses an existing attachment, detach of
/// something already gone is success.
protocol Attacher: Sendable {
    /// Attaches (or finds the existing attachment) and returns the device node, e.g. /dev/sdb.
    func attach(_ target: AttachTarget, secrets: [String: String]) async throws -> String
    /// The device node of an existing attachment, nil when not attached.
    func currentDevice(_ target: AttachTarget) async throws -> String?
    func detach(_ target: AttachTarget) async throws
    /// Makes the kernel see the new size of a grown volume.
    func refreshSize(_ target: AttachTarget, device: String) async throws
    /// Whether the transport under an attached device works (for the health monitor).
    func health(_ target: AttachTarget) async -> TransportHealth
    /// Re-establishes a broken transport by the rules of `attach` (iSCSI: rescan a missing LUN;
    /// log out and in again only a session gone for good that nothing holds; loop: re-attach).
    func repair(_ target: AttachTarget) async throws -> String
}

enum TransportHealth: Sendable, Equatable {
    case healthy
    /// Not working right now, but recovering by itself (iscsid reconnecting): wait, do not repair.
    case recovering(String)
    case broken(String)
}

/// Dispatches to the attacher of each enabled transport; a disabled transport is refused with a
/// message that says how to enable it.
struct Attachers: Attacher {
    var iscsi: (any Attacher)?
    var loop: (any Attacher)?

    func attacher(for target: AttachTarget) throws -> any Attacher {
        switch target {
        case .iscsi:
            guard let iscsi else {
                throw CSIError.failedPrecondition("the iSCSI transport is disabled on this node (--transports)")
            }
            return iscsi
        case .loop:
            guard let loop else {
                throw CSIError.failedPrecondition("the loop transport is disabled on this node (--transports, --loop-dir)")
            }
            return loop
        }
    }

    func attach(_ target: AttachTarget, secrets: [String: String]) async throws -> String {
        try await attacher(for: target).attach(target, secrets: secrets)
    }

    /// Refuses a target this node would never attach (disabled transport, a file outside the loop
    /// directories) before anything is recorded for it.
    func requireAttachable(_ target: AttachTarget) throws {
        let attacher = try attacher(for: target)
        if let loop = attacher as? LoopAttacher { _ = try loop.allowedFile(target) }
    }

    func currentDevice(_ target: AttachTarget) async throws -> String? {
        try await attacher(for: target).currentDevice(target)
    }

    func detach(_ target: AttachTarget) async throws {
        try await attacher(for: target).detach(target)
    }

    func refreshSize(_ target: AttachTarget, device: String) async throws {
        try await attacher(for: target).refreshSize(target, device: device)
    }

    func health(_ target: AttachTarget) async -> TransportHealth {
        do {
            return try await attacher(for: target).health(target)
        } catch {
            return .broken("\(CSIError.from(error).message)")
        }
    }

    func repair(_ target: AttachTarget) async throws -> String {
        try await attacher(for: target).repair(target)
    }
}
