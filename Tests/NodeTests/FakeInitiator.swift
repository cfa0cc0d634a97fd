import CSITestSupport
import CStorCore
import CStorKubernetes
import CStorModel
import Foundation
import Synchronization

@testable import cstor_node

/// A stand-in for this host's iSCSI initiator, for tests on a machine whose kernel has no iSCSI:
/// iscsiadm (as a process runner) and the sysfs tree the kernel keeps for sessions and their
/// disks, changed together the way the real ones change. It refuses what the real iscsiadm
/// refuses, with its exit statuses (open-iscsi iscsi_err.h): no record (21), a session that
/// already exists (15), deleting a record a session uses (15), a login the target refuses (8),
/// an option it does not know (7). `-o new` over an existing record resets it to the defaults,
/// as the real one does. Logging out of a session whose disk something holds is recorded as
/// lost data: a test can then prove it never happens.
final class FakeInitiator: ProcessRunner, Sendable {
    struct Target: Sendable {
        var iqn: String
        /// The address the kernel shows for a session (what a hostname portal resolves to).
        var address: String
        var port: String
        /// The target's LUNs and their WWIDs.
        var luns: [Int: String]
        var reachable = true
    }

    struct Record: Sendable, Equatable {
        var settings: [String: String]
    }

    struct Session: Sendable {
        var id: Int
        var iqn: String
        var address: String
        var port: String
        var disks: [Int: String]  // target LUN → disk name
    }

    private struct State {
        var targets: [String: Target] = [:]  // by IQN
        var records: [String: Record] = [:]  // by "iqn|portal"
        var sessions: [Int: Session] = [:]
        var nextSession = 1
        var nextDisk = 1
        var held: Set<String> = []
        var lostData: [String] = []
        var log: [[String]] = []
        var hostnames: [String: String] = [:]
    }

    let root: String
    private let state = Mutex(State())

    static let defaults: [String: String] = [
        "node.startup": "automatic", "node.session.timeo.replacement_timeout": "120",
        "node.session.auth.authmethod": "None",
    ]

    init(root: String) throws {
        self.root = root
        for directory in ["class/iscsi_session", "class/iscsi_connection", "block", "devices/platform"] {
            try FileManager.default.createDirectory(atPath: "\(root)/\(directory)", withIntermediateDirectories: true)
        }
    }

    var sysfs: ISCSISysfs { ISCSISysfs(root: root) }

    // MARK: Set-up and inspection

    func addTarget(_ target: Target) { state.withLock { $0.targets[target.iqn] = target } }
    func setReachable(_ iqn: String, _ reachable: Bool) { state.withLock { $0.targets[iqn]?.reachable = reachable } }
    func addHostname(_ name: String, address: String) { state.withLock { $0.hostnames[name] = address } }
    func resolve(_ host: String) -> [String] { state.withLock { $0.hostnames[host].map { [$0] } ?? [] } }

    /// Marks a disk as held (mounted, open) or free again.
    func hold(_ disk: String, _ held: Bool = true) {
        state.withLock { if held { $0.held.insert(disk) } else { $0.held.remove(disk) } }
    }

    func isHeld(_ disk: String) -> Bool { state.withLock { $0.held.contains(disk) } }

    /// The holders the attacher sees for a disk of this fake host.
    var holders: @Sendable (ISCSISysfs.Disk) -> [DeviceHolder] {
        { [self] disk in disk.name.map { isHeld($0) ? [.mount(path: "/staging/\($0)")] : [] } ?? [] }
    }

    var lostData: [String] { state.withLock { $0.lostData } }
    var commandLines: [[String]] { state.withLock { $0.log } }
    func record(_ iqn: String, _ portal: String) -> Record? { state.withLock { $0.records["\(iqn)|\(portal)"] } }
    var sessionIDs: [Int] { state.withLock { $0.sessions.keys.sorted() } }

    /// The kernel's side of a lost connection: the session state and its disks' states.
    func setSessionState(_ id: Int, _ value: String) throws {
        try write(sessionDirectory(id) + "/iscsi_session/session\(id)/state", value)
    }

    func setDiskState(_ name: String, _ value: String) throws {
        let real = BlockDevice.resolve("\(root)/block/\(name)/device") ?? ""
        try write(real + "/state", value)
    }

    /// The disk disappears from the session (a LUN removed, or its udev link and node gone).
    func removeDisk(_ name: String) throws {
        guard let real = BlockDevice.resolve("\(root)/block/\(name)/device") else { return }
        try FileManager.default.removeItem(atPath: real)
        try FileManager.default.removeItem(atPath: "\(root)/block/\(name)")
        state.withLock { state in
            for (id, session) in state.sessions {
                state.sessions[id]?.disks = session.disks.filter { $0.value != name }
            }
        }
    }

    // MARK: iscsiadm

    func run(_ command: Command) async throws -> CommandResult {
        let words = Array(command.argumentValues)
        state.withLock { $0.log.append([command.executable] + words) }
        guard command.executable == "iscsiadm" else { return CommandResult(status: 127, standardError: "not found") }
        return try handle(words)
    }

    private func value(_ words: [String], _ flag: String) -> String? {
        guard let index = words.firstIndex(of: flag), index + 1 < words.count else { return nil }
        return words[index + 1]
    }

    private func handle(_ words: [String]) throws -> CommandResult {
        let known: Set<String> = ["-m", "-T", "-p", "-o", "-n", "-v", "-r", "-u", "--login", "--logout", "--rescan"]
        var index = 0
        while index < words.count {
            let word = words[index]
            guard known.contains(word) else { return Self.invalid("unrecognized option '\(word)'") }
            index += ["-m", "-T", "-p", "-o", "-n", "-v", "-r"].contains(word) ? 2 : 1
        }
        switch value(words, "-m") {
        case "node": return try node(words)
        case "session": return try session(words)
        default: return Self.invalid("mode must be node or session here")
        }
    }

    private static func invalid(_ message: String) -> CommandResult {
        CommandResult(status: 7, standardError: "iscsiadm: \(message)")
    }

    private static let noRecords = CommandResult(status: 21, standardError: "iscsiadm: No records found")

    private func node(_ words: [String]) throws -> CommandResult {
        guard let iqn = value(words, "-T"), let portal = value(words, "-p") else { return Self.invalid("-T and -p are required") }
        let key = "\(iqn)|\(portal)"
        if words.contains("--login") { return try login(iqn: iqn, portal: portal) }
        if words.contains("--logout") {
            guard let id = sessionID(iqn: iqn, portal: portal) else {
                return CommandResult(status: 21, standardError: "iscsiadm: No matching sessions found")
            }
            return try logout(id)
        }
        switch value(words, "-o") {
        case nil:
            guard let record = state.withLock({ $0.records[key] }) else { return Self.noRecords }
            return CommandResult(status: 0, standardOutput: record.settings.sorted { $0.key < $1.key }.map { "\($0.key) = \($0.value)" }.joined(separator: "\n"))
        case "new":
            // The real one overwrites: whatever the record held (CHAP credentials) is back to the defaults.
            state.withLock { $0.records[key] = Record(settings: Self.defaults) }
            return CommandResult(status: 0, standardOutput: "New iSCSI node [tcp:[hw=,ip=,net_if=,iscsi_if=default] \(portal),-1 \(iqn)] added")
        case "update":
            guard let name = value(words, "-n"), let newValue = value(words, "-v") else { return Self.invalid("update needs -n and -v") }
            return state.withLock { state in
                guard state.records[key] != nil else { return Self.noRecords }
                state.records[key]?.settings[name] = newValue
                return CommandResult(status: 0)
            }
        case "delete":
            if sessionID(iqn: iqn, portal: portal) != nil {
                return CommandResult(status: 15, standardError: "iscsiadm: This command will remove the record [iface: default, target: \(iqn), portal: \(portal)], but a session is using it. Logout session then rerun command to remove record.")
            }
            return state.withLock { state in
                state.records.removeValue(forKey: key) == nil ? Self.noRecords : CommandResult(status: 0)
            }
        default:
            return Self.invalid("unknown operation")
        }
    }

    private func session(_ words: [String]) throws -> CommandResult {
        guard let text = value(words, "-r"), let id = Int(text) else { return Self.invalid("-r SID is required") }
        guard state.withLock({ $0.sessions[id] }) != nil else {
            return CommandResult(status: 21, standardError: "iscsiadm: Could not get session info for sid \(id)")
        }
        if words.contains("-u") { return try logout(id) }
        if words.contains("--rescan") {
            try rescan(id)
            return CommandResult(status: 0, standardOutput: "Rescanning session [sid: \(id)]")
        }
        return Self.invalid("unsupported session operation")
    }

    private func address(of portal: String) -> (String, String) {
        let colon = portal.lastIndex(of: ":") ?? portal.endIndex
        var host = String(portal[..<colon])
        if host.hasPrefix("[") { host = String(host.dropFirst().dropLast()) }
        let port = colon < portal.endIndex ? String(portal[portal.index(after: colon)...]) : "3260"
        // iscsiadm takes any spelling of an address; the kernel shows its canonical form.
        let resolved = state.withLock { $0.hostnames[host] } ?? host
        return (ISCSISessionRule.normalizedAddress(resolved) ?? resolved, port)
    }

    private func sessionID(iqn: String, portal: String) -> Int? {
        let (address, port) = address(of: portal)
        return state.withLock { state in
            state.sessions.values.first { $0.iqn == iqn && $0.address == address && $0.port == port }?.id
        }
    }

    private func login(iqn: String, portal: String) throws -> CommandResult {
        guard state.withLock({ $0.records["\(iqn)|\(portal)"] }) != nil else { return Self.noRecords }
        if sessionID(iqn: iqn, portal: portal) != nil {
            return CommandResult(status: 15, standardError: "iscsiadm: default: 1 session requested, but 1 already present.")
        }
        let (address, port) = address(of: portal)
        guard let target = state.withLock({ $0.targets[iqn] }), target.reachable, target.address == address, target.port == port else {
            return CommandResult(status: 8, standardError: "iscsiadm: Could not login to [iface: default, target: \(iqn), portal: \(portal)]: connection timed out")
        }
        let id = state.withLock { state -> Int in
            defer { state.nextSession += 1 }
            return state.nextSession
        }
        let session = "\(sessionDirectory(id))"
        try make(session + "/iscsi_session/session\(id)")
        try write(session + "/iscsi_session/session\(id)/targetname", iqn)
        try write(session + "/iscsi_session/session\(id)/state", "LOGGED_IN")
        try write(session + "/iscsi_session/session\(id)/recovery_tmo", "120")
        try link(session + "/iscsi_session/session\(id)/device", to: "../../../session\(id)")
        try link("\(root)/class/iscsi_session/session\(id)", to: session + "/iscsi_session/session\(id)")
        // The record's address as given (a hostname stays a hostname), and the address connected to.
        let connection = session + "/connection\(id):0/iscsi_connection/connection\(id):0"
        try make(connection)
        var given = String(portal[..<(portal.lastIndex(of: ":") ?? portal.endIndex)])
        if given.hasPrefix("[") { given = String(given.dropFirst().dropLast()) }
        try write(connection + "/persistent_address", ISCSISessionRule.normalizedAddress(given) ?? given)
        try write(connection + "/persistent_port", port)
        try write(connection + "/address", address)
        try write(connection + "/port", port)
        try link("\(root)/class/iscsi_connection/connection\(id):0", to: connection)
        state.withLock { $0.sessions[id] = Session(id: id, iqn: iqn, address: address, port: port, disks: [:]) }
        try rescan(id)
        return CommandResult(status: 0, standardOutput: "Login to [iface: default, target: \(iqn), portal: \(portal)] successful.")
    }

    private func rescan(_ id: Int) throws {
        guard let session = state.withLock({ $0.sessions[id] }), let target = state.withLock({ $0.targets[session.iqn] }) else { return }
        let host = id + 1
        for (lun, wwid) in target.luns.sorted(by: { $0.key < $1.key }) where session.disks[lun] == nil {
            let name = state.withLock { state -> String in
                defer { state.nextDisk += 1 }
                return "sd" + String(UnicodeScalar(UInt8(ascii: "a") + UInt8(state.nextDisk % 26)))
            }
            let address = "\(host):0:0:\(ISCSISysfs.linuxLUN(lun))"
            let disk = "\(sessionDirectory(id))/target\(host):0:0/\(address)"
            try make(disk + "/block/\(name)")
            try write(disk + "/state", "running")
            try write(disk + "/wwid", wwid)
            try link(disk + "/block/\(name)/device", to: "../../../\(address)")
            try link("\(root)/block/\(name)", to: disk + "/block/\(name)")
            state.withLock { $0.sessions[id]?.disks[lun] = name }
        }
    }

    private func logout(_ id: Int) throws -> CommandResult {
        guard let session = state.withLock({ $0.sessions.removeValue(forKey: id) }) else {
            return CommandResult(status: 21, standardError: "iscsiadm: No matching sessions found")
        }
        for name in session.disks.values.sorted() {
            if isHeld(name) { state.withLock { $0.lostData.append("logged out of session \(id) while \(name) was held") } }
            try? FileManager.default.removeItem(atPath: "\(root)/block/\(name)")
        }
        try FileManager.default.removeItem(atPath: sessionDirectory(id))
        try? FileManager.default.removeItem(atPath: "\(root)/class/iscsi_session/session\(id)")
        try? FileManager.default.removeItem(atPath: "\(root)/class/iscsi_connection/connection\(id):0")
        return CommandResult(status: 0, standardOutput: "Logout of [sid: \(id), target: \(session.iqn)] successful.")
    }

    private func sessionDirectory(_ id: Int) -> String { "\(root)/devices/platform/host\(id + 1)/session\(id)" }

    private func make(_ path: String) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    private func write(_ path: String, _ text: String) throws {
        try Data((text + "\n").utf8).write(to: URL(fileURLWithPath: path))
    }

    private func link(_ path: String, to destination: String) throws {
        try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: destination)
    }
}
