import Foundation

/// The iSCSI stand-in for one test (`Tests/Support/iscsi-standin/iscsiadm`, see its header): a LUN
/// is a file, a login attaches it as a loop device with the by-path link udev would make and the
/// sysfs entries the kernel would show. cstor-node runs it as its iscsiadm (`--iscsiadm "<script>
/// <state>"`) and reads its sessions (`--iscsi-sysfs <state>/sys`), and a test uses it to log in as
/// openebs/cstor-csi's node plugin did. The links live in the host's `/dev/disk/by-path`, so
/// `withISCSIStandIn` holds a host-wide lock: two test processes never share it.
public final class ISCSIStandIn: @unchecked Sendable {
    public let directory: TemporaryDirectory
    public var state: String { directory.file("state") }
    public static let script = RepositoryFiles.root.appendingPathComponent("Tests/Support/iscsi-standin/iscsiadm").path
    /// The value of cstor-node's `--iscsiadm`.
    public var command: String { "\(Self.script) \(state)" }
    /// The value of cstor-node's `--iscsi-sysfs`: the kernel's view of the stand-in's sessions.
    public var sysfs: String { state + "/sys" }

    init() throws {
        directory = try TemporaryDirectory(prefix: "iscsi")
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
    }

    /// Makes the target export `iqn` as a LUN backed by `file`.
    public func export(iqn: String, file: String) throws {
        try FileManager.default.createDirectory(atPath: state + "/luns", withIntermediateDirectories: true)
        try Data(file.utf8).write(to: URL(fileURLWithPath: state + "/luns/" + iqn))
    }

    /// Runs the stand-in as iscsiadm.
    @discardableResult
    public func iscsiadm(_ arguments: [String]) throws -> (status: Int32, output: String) {
        try Shell.run(Self.script, [state] + arguments)
    }

    /// Creates the node record and logs in, as openebs/cstor-csi's node plugin did; returns the device.
    public func login(iqn: String, portal: String) throws -> String {
        for arguments in [["-o", "new"], ["--login"]] {
            let result = try iscsiadm(["-m", "node", "-T", iqn, "-p", portal] + arguments)
            guard result.status == 0 else { throw TestFailure("stand-in iscsiadm \(arguments): \(result.output)") }
        }
        guard let device = device(iqn: iqn, portal: portal) else { throw TestFailure("no by-path link after the login to \(iqn)") }
        return device
    }

    public static func byPathLink(iqn: String, portal: String) -> String {
        "/dev/disk/by-path/ip-\(portal)-iscsi-\(iqn)-lun-0"
    }

    /// The device a logged-in LUN is, from its by-path link.
    public func device(iqn: String, portal: String) -> String? {
        let link = Self.byPathLink(iqn: iqn, portal: portal)
        guard let resolved = realpath(link, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// Every command line it ran, in order.
    public var log: [String] {
        ((try? String(contentsOfFile: state + "/log", encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    /// The sessions logged in now, as `<iqn> <portal> <device>`.
    public var sessions: [String] {
        let directory = state + "/sessions"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.sorted().compactMap { try? String(contentsOfFile: directory + "/" + $0, encoding: .utf8) }
            .map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
    }

    /// Logs out of every session it holds (detaching the loop devices, removing the links) and
    /// removes the by-path directories if it left them empty.
    public func tearDown() {
        for session in sessions {
            let fields = session.split(separator: " ").map(String.init)
            guard fields.count == 3 else { continue }
            _ = try? iscsiadm(["-m", "node", "-T", fields[0], "-p", fields[1], "--logout"])
            unlink(Self.byPathLink(iqn: fields[0], portal: fields[1]))
            _ = try? Shell.run("losetup", ["--detach", fields[2]])
        }
        rmdir("/dev/disk/by-path")
        rmdir("/dev/disk")
    }
}

/// Runs `body` with an iSCSI stand-in, holding the host-wide lock on `/dev/disk/by-path`.
public func withISCSIStandIn(_ body: (ISCSIStandIn) async throws -> Void) async throws {
    let lock = open("/tmp/cstor-csi-iscsi-standin.lock", O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
    guard lock >= 0 else { throw TestFailure("cannot open the iSCSI stand-in's lock file") }
    defer { close(lock) }
    while flock(lock, LOCK_EX | LOCK_NB) != 0 {
        try await Task.sleep(for: .milliseconds(100))
    }
    defer { flock(lock, LOCK_UN) }
    let standIn = try ISCSIStandIn()
    do {
        try await body(standIn)
    } catch {
        standIn.tearDown()
        throw error
    }
    standIn.tearDown()
}
