import CStorCore
import Logging

/// Attaches cStor volumes over iSCSI with the host's initiator: a static node record, a login,
/// and the LUN's disk found through the session in sysfs. What may be done about an existing
/// session is decided by `ISCSISessionRule`: a session in use or inside iscsid's recovery window is
/// never logged out; a missing LUN is rescanned; only a session gone for good with nothing holding
/// its disks is logged out and in again.
struct ISCSIAttacher: Attacher {
    var admin: ISCSIAdmin
    var sysfs = ISCSISysfs()
    var waiter: any DeviceWaiter
    var replacementTimeout: Int
    var deviceTimeout: Duration = .seconds(60)
    /// After a rescan, how long the LUN's disk gets to appear.
    var rescanTimeout: Duration = .seconds(10)
    var logger: Logger
    /// What holds a disk (a seam for tests: their sysfs disks are not real devices).
    var holders: @Sendable (ISCSISysfs.Disk) -> [DeviceHolder] = ISCSIAttacher.realHolders
    /// Addresses a portal's hostname resolves to (a seam for tests).
    var resolveHost: @Sendable (String) -> [String] = ISCSISessionRule.resolveHost
    /// Whether a device node exists (a seam for tests).
    var deviceExists: @Sendable (String) -> Bool = BlockDevice.exists

    private func target(_ attachTarget: AttachTarget) throws -> ISCSITarget {
        guard case .iscsi(let target) = attachTarget else {
            throw CSIError.internal("the iSCSI attacher was given \(attachTarget)")
        }
        return target
    }

    /// The session to the target's portal, from sysfs.
    func session(for target: ISCSITarget) -> ISCSISysfs.Session? {
        sysfs.sessions().first { ISCSISessionRule.matches($0, target: target, resolve: resolveHost) }
    }

    func verdict(_ target: ISCSITarget) -> (ISCSISysfs.Session?, ISCSISessionRule.Verdict) {
        let session = session(for: target)
        return (session, ISCSISessionRule.judge(session, lun: target.lun, holders: holders))
    }

    func attach(_ attachTarget: AttachTarget, secrets: [String: String]) async throws -> String {
        try await establish(try target(attachTarget), secrets: secrets, purpose: "attach")
    }

    /// Re-establishes what is broken, by the same rule as attach; the node record is reused as it
    /// is (with the credentials an earlier stage wrote), never made again.
    func repair(_ attachTarget: AttachTarget) async throws -> String {
        try await establish(try target(attachTarget), secrets: [:], purpose: "repair")
    }

    private func establish(_ target: ISCSITarget, secrets: [String: String], purpose: String) async throws -> String {
        let (session, verdict) = verdict(target)
        var log = logger
        log[metadataKey: "iqn"] = .string(target.iqn)
        switch verdict {
        case .usable(let disk):
            if let device = disk.device { return device }
        case .recovering(let why, let disk):
            if let device = disk?.device {
                log.notice("\(purpose): the session is recovering; leaving it to iscsid", metadata: ["reason": .string(why)])
                return device
            }
            throw CSIError.unavailable("\(why); the LUN's disk is not there yet: retry once it has reconnected")
        case .lunMissing:
            guard let session else { break }
            log.notice("\(purpose): logged in, but LUN \(target.lun) has no disk; rescanning", metadata: ["session": "\(session.id)"])
            try await admin.rescan(session: session.id)
            if let device = try? await waitForDisk(target, timeout: rescanTimeout) { return device }
            throw CSIError.unavailable(
                "logged in to \(target.iqn) at \(target.portal), but the target presents no LUN \(target.lun) even after a rescan; the session was kept (other LUNs may use it): check the volume's target")
        case .held(let why, let holders):
            throw CSIError.unavailable(
                "\(why), but it cannot be logged out and in again while its disk is in use: \(holders.summary). Release it (unmount it, or stop the pod using it) and the node logs in again")
        case .relogin(let why):
            guard let session else { break }
            log.warning("\(purpose): logging out of a session gone for good to log in again", metadata: ["reason": .string(why), "session": "\(session.id)"])
            try await admin.logout(session: session.id)
        case .absent:
            break
        }
        try await admin.ensureNodeRecord(target, replacementTimeout: replacementTimeout, secrets: secrets)
        try await admin.login(target)
        do {
            return try await waitForDisk(target, timeout: deviceTimeout)
        } catch let error as DeviceWaitError {
            throw CSIError.deadlineExceeded(
                "logged in to \(target.iqn) at \(target.portal) but LUN \(target.lun) did not appear: \(error.description)")
        }
    }

    /// Waits until the session has a disk for the LUN and its device node exists.
    private func waitForDisk(_ target: ISCSITarget, timeout: Duration) async throws -> String {
        let sysfs = sysfs
        let resolve = resolveHost
        let exists = deviceExists
        let lun = ISCSISysfs.linuxLUN(target.lun)
        return try await waiter.waitForDevice(
            "LUN \(target.lun) of \(target.iqn) at \(target.portal)", timeout: timeout
        ) {
            let session = sysfs.sessions().first { ISCSISessionRule.matches($0, target: target, resolve: resolve) }
            guard let device = session?.disks.first(where: { $0.lun == lun })?.device, exists(device) else {
                return nil
            }
            return device
        }
    }

    func currentDevice(_ attachTarget: AttachTarget) async throws -> String? {
        let target = try target(attachTarget)
        let lun = ISCSISysfs.linuxLUN(target.lun)
        return session(for: target)?.disks.first { $0.lun == lun }?.device
    }

    /// Logs out of the session and deletes its node record, unless something holds one of its
    /// disks. (NodeService calls this only when no other volume staged on this node uses the session.)
    func detach(_ attachTarget: AttachTarget) async throws {
        let target = try target(attachTarget)
        if let session = session(for: target) {
            let held = session.disks.flatMap(holders)
            guard held.isEmpty else {
                throw CSIError.unavailable(
                    "the iSCSI session \(session.id) to \(target.iqn) is not logged out: its disk is still in use: \(held.summary). Release it (unmount it, or stop the pod using it); the next NodeUnstageVolume then finishes")
            }
            try await admin.logout(session: session.id)
        }
        try await admin.deleteNodeRecord(target)
    }

    func refreshSize(_ attachTarget: AttachTarget, device: String) async throws {
        let target = try target(attachTarget)
        guard let session = session(for: target) else {
            throw CSIError.unavailable("no iSCSI session to \(target.iqn) at \(target.portal); is the target reachable?")
        }
        try await admin.rescan(session: session.id)
    }

    func health(_ attachTarget: AttachTarget) async -> TransportHealth {
        do {
            let target = try target(attachTarget)
            switch verdict(target).1 {
            case .usable: return .healthy
            case .recovering(let why, _): return .recovering(why)
            case .absent: return .broken("no iSCSI session to \(target.iqn) at \(target.portal)")
            case .lunMissing: return .broken("the iSCSI session to \(target.iqn) presents no disk for LUN \(target.lun)")
            case .relogin(let why): return .broken(why)
            case .held(let why, let holders): return .broken("\(why); still in use: \(holders.summary)")
            }
        } catch {
            return .broken(CSIError.from(error).message)
        }
    }

    /// What holds a real disk of this host.
    static let realHolders: @Sendable (ISCSISysfs.Disk) -> [DeviceHolder] = { disk in
        guard let device = disk.device, let number = BlockDevice.number(of: device) else { return [] }
        let table = (try? MountTable.current()) ?? MountTable(entries: [])
        return DeviceHolders().holders(of: device, number: number, table: table)
    }
}
