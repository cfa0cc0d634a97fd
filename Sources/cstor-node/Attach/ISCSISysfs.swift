import CStorCore
import FoundationEssentials
import Glibc

/// The kernel's own view of iSCSI sessions and their disks, read from sysfs the way Kubernetes'
/// FindDevicesForISCSILun does: session → target name and connection address → SCSI target →
/// LUN → block device. A disk is found through the session it belongs to, never through a udev
/// link that may be stale or missing.
struct ISCSISysfs: Sendable {
    /// The sysfs mount (a seam for tests, which build a tree of the same shape).
    var root = "/sys"

    struct Session: Sendable, Equatable {
        var id: Int
        var targetName: String
        /// The connection's address and port as the kernel reports them (IPv6 without brackets):
        /// the persistent address (what the node record names, possibly a hostname), and the
        /// address actually connected to.
        var address: String
        var port: String
        var currentAddress: String = ""
        /// LOGGED_IN, FAILED or FREE (the kernel's iscsi_session state).
        var state: String
        /// node.session.timeo.replacement_timeout as the kernel applies it, in seconds.
        var recoveryTimeout: Int?
        var disks: [Disk]

        var isLoggedIn: Bool { state == "LOGGED_IN" }
    }

    struct Disk: Sendable, Equatable {
        /// "H:C:T:L"
        var address: String
        /// The LUN as Linux numbers it (flat-addressed LUNs ≥ 256 appear as 0x4000 | LUN).
        var lun: Int
        /// The block device's kernel name (sdb), nil while the LUN has no disk yet.
        var name: String?
        /// The SCSI device state: running, blocked (the session is recovering), transport-offline
        /// (the recovery window passed), offline, created, quiesce, cancel, deleted.
        var state: String

        var device: String? { name.map { "/dev/\($0)" } }
        var isRunning: Bool { state == "running" }
        var isBlocked: Bool { state == "blocked" }
        var isOffline: Bool { state == "transport-offline" || state == "offline" }
    }

    /// Every iSCSI session of this host.
    func sessions() -> [Session] {
        let directory = "\(root)/class/iscsi_session"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.compactMap { name -> Session? in
            guard name.hasPrefix("session"), let id = Int(name.dropFirst("session".count)) else { return nil }
            return session(id)
        }.sorted { $0.id < $1.id }
    }

    func session(_ id: Int) -> Session? {
        let base = "\(root)/class/iscsi_session/session\(id)"
        guard let targetName = read(base + "/targetname") else { return nil }
        let device = base + "/device"
        let connections = ((try? FileManager.default.contentsOfDirectory(atPath: device)) ?? [])
            .filter { $0.hasPrefix("connection\(id):") }.sorted()
        var address = ""
        var current = ""
        var port = ""
        for connection in connections {
            let attributes = "\(root)/class/iscsi_connection/\(connection)"
            current = read(attributes + "/address") ?? ""
            address = read(attributes + "/persistent_address") ?? current
            port = read(attributes + "/persistent_port") ?? read(attributes + "/port") ?? ""
            if !address.isEmpty { break }
        }
        return Session(
            id: id, targetName: targetName, address: address, port: port, currentAddress: current,
            state: read(base + "/state") ?? "unknown", recoveryTimeout: read(base + "/recovery_tmo").flatMap { Int($0) },
            disks: disks(sessionDevice: device))
    }

    /// The LUNs under the session's SCSI target(s): device/target*/H:C:T:L.
    private func disks(sessionDevice: String) -> [Disk] {
        let manager = FileManager.default
        var found: [Disk] = []
        for target in ((try? manager.contentsOfDirectory(atPath: sessionDevice)) ?? []).sorted() where target.hasPrefix("target") {
            let targetPath = "\(sessionDevice)/\(target)"
            for address in ((try? manager.contentsOfDirectory(atPath: targetPath)) ?? []).sorted() {
                let fields = address.split(separator: ":")
                guard fields.count == 4, let lun = Int(fields[3]) else { continue }
                let base = "\(targetPath)/\(address)"
                let name = ((try? manager.contentsOfDirectory(atPath: base + "/block")) ?? []).sorted().first
                found.append(Disk(address: address, lun: lun, name: name, state: read(base + "/state") ?? "unknown"))
            }
        }
        return found
    }

    /// The session and LUN a disk (sdb) belongs to, from the disk's place in the device tree.
    func owner(ofDisk name: String) -> (session: Session, disk: Disk)? {
        guard let real = BlockDevice.resolve("\(root)/block/\(name)/device") else { return nil }
        let parts = real.split(separator: "/")
        guard let sessionPart = parts.last(where: { $0.hasPrefix("session") }),
            let id = Int(sessionPart.dropFirst("session".count)), let session = session(id),
            let disk = session.disks.first(where: { $0.name == name })
        else { return nil }
        return (session, disk)
    }

    private func read(_ path: String) -> String? {
        guard let text = try? KernelFile.read(path) else { return nil }
        let trimmed = text.trimmed
        return trimmed.isEmpty ? nil : trimmed
    }

    /// The LUN number Linux gives a target's LUN: peripheral addressing below 256, flat
    /// addressing (0x4000 | LUN) from 256 on, as targets report LUNs ≥ 256 (SAM-5).
    static func linuxLUN(_ lun: Int) -> Int {
        lun < 256 ? lun : 0x4000 | lun
    }
}
