import CStorCore
import Logging

/// Attaches cStor volumes over iSCSI with the host's initiator: a static node record, login, and
/// a wait for the LUN's by-path link. An existing healthy session is reused; a session whose
/// device link is missing is rescanned first, then logged out and in again.
struct ISCSIAttacher: Attacher {
    var admin: ISCSIAdmin
    var waiter: any DeviceWaiter
    var replacementTimeout: Int
    var deviceTimeout: Duration = .seconds(60)
    /// After a rescan, how long the link gets before the session is re-established.
    var rescanTimeout: Duration = .seconds(10)
    var logger: Logger
    /// Resolves a by-path link to its device node when the device exists (a seam for tests).
    var resolveLink: @Sendable (String) -> String? = { link in
        guard let device = BlockDevice.resolve(link), BlockDevice.exists(device) else { return nil }
        return device
    }

    private func target(_ attachTarget: AttachTarget) throws -> ISCSITarget {
        guard case .iscsi(let target) = attachTarget else {
            throw CSIError.internal("the iSCSI attacher was given \(attachTarget)")
        }
        return target
    }

    func attach(_ attachTarget: AttachTarget, secrets: [String: String]) async throws -> String {
        let target = try target(attachTarget)
        if let session = try await admin.session(for: target) {
            if let device = linkedDevice(target) { return device }
            logger.notice(
                "iSCSI session exists but its device link is missing; rescanning",
                metadata: ["iqn": .string(target.iqn), "session": "\(session.id)"])
            try await admin.rescan(session: session.id)
            if let device = try? await waiter.waitForLink(target.byPathLink, timeout: rescanTimeout) { return device }
            logger.warning("rescan did not bring the device back; logging out and in again", metadata: ["iqn": .string(target.iqn)])
            try await admin.logout(target)
        }
        try await admin.createNodeRecord(target, replacementTimeout: replacementTimeout, secrets: secrets)
        try await admin.login(target)
        do {
            return try await waiter.waitForLink(target.byPathLink, timeout: deviceTimeout)
        } catch let error as DeviceWaitError {
            throw CSIError.deadlineExceeded(
                "logged in to \(target.iqn) at \(target.portal) but LUN \(target.lun) did not appear: \(error.description)")
        }
    }

    func currentDevice(_ attachTarget: AttachTarget) async throws -> String? {
        let target = try target(attachTarget)
        guard try await admin.session(for: target) != nil else { return nil }
        return linkedDevice(target)
    }

    func detach(_ attachTarget: AttachTarget) async throws {
        let target = try target(attachTarget)
        try await admin.logout(target)
        try await admin.deleteNodeRecord(target)
    }

    func refreshSize(_ attachTarget: AttachTarget, device: String) async throws {
        let target = try target(attachTarget)
        guard let session = try await admin.session(for: target) else {
            throw CSIError.unavailable("no iSCSI session to \(target.iqn) at \(target.portal); is the target reachable?")
        }
        try await admin.rescan(session: session.id)
    }

    func health(_ attachTarget: AttachTarget) async -> TransportHealth {
        do {
            let target = try target(attachTarget)
            guard let session = try await admin.session(for: target) else { return .broken("no iSCSI session") }
            let state = try await admin.sessionState(session: session.id)
            guard state == nil || state == "LOGGED_IN" else { return .broken("iSCSI session state \(state ?? "unknown")") }
            return linkedDevice(target) == nil ? .broken("the LUN's device link is missing") : .healthy
        } catch {
            return .broken(CSIError.from(error).message)
        }
    }

    /// Brings a broken session back. A session iscsid gave up on stays FAILED until it is logged
    /// out and in again (a plain login answers "session exists"), so anything but a LOGGED_IN
    /// session with its LUN is logged out first.
    func repair(_ attachTarget: AttachTarget) async throws -> String {
        let target = try target(attachTarget)
        if let session = try await admin.session(for: target) {
            let state = try? await admin.sessionState(session: session.id)
            if state == nil || state == "LOGGED_IN", let device = linkedDevice(target) { return device }
            logger.notice(
                "logging out of a broken iSCSI session to log in again",
                metadata: ["iqn": .string(target.iqn), "session": "\(session.id)", "state": .string(state ?? "unknown")])
            try await admin.logout(target)
        }
        try await admin.createNodeRecord(target, replacementTimeout: replacementTimeout, secrets: [:])
        try await admin.login(target)
        do {
            return try await waiter.waitForLink(target.byPathLink, timeout: deviceTimeout)
        } catch let error as DeviceWaitError {
            throw CSIError.unavailable("logged in to \(target.iqn) again but LUN \(target.lun) did not appear: \(error.description)")
        }
    }

    private func linkedDevice(_ target: ISCSITarget) -> String? {
        resolveLink(target.byPathLink)
    }
}
