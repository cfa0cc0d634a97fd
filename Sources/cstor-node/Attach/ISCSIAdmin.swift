import CStorCore

/// iscsiadm, as the node uses it: static node records (no SendTargets discovery), login/logout,
/// sessions and rescans. The command is configurable (`--iscsiadm "chroot /host iscsiadm"`), every
/// call has a timeout, and writes to iscsiadm's node database are serialized on this host
/// (concurrent `-o new/update/delete` calls corrupt it).
struct ISCSIAdmin: Sendable {
    /// The command words, e.g. ["iscsiadm"] or ["chroot", "/host", "iscsiadm"].
    var command: [String]
    var runner: any ProcessRunner
    var timeout: Duration = .seconds(30)
    /// Login waits for the target; it gets longer than the other calls.
    var loginTimeout: Duration = .seconds(60)
    var databaseLock: AsyncLock

    /// iscsiadm exit statuses we act on (open-iscsi's iscsi_err.h).
    enum Status {
        static let sessionExists: Int32 = 15
        static let noObjectsFound: Int32 = 21
    }

    struct Session: Sendable, Equatable {
        var id: Int
        var portal: String
        var iqn: String
    }

    private func make(_ arguments: [Command.Argument], timeout: Duration? = nil) -> Command {
        var made = Command(
            command.first ?? "iscsiadm", arguments: command.dropFirst().map(Command.Argument.plain) + arguments,
            timeout: timeout ?? self.timeout)
        made.label = "iscsiadm"
        return made
    }

    private func run(_ arguments: [String], timeout: Duration? = nil, accepted: Set<Int32> = [0]) async throws -> CommandResult {
        let command = make(arguments.map(Command.Argument.plain), timeout: timeout)
        return try await runner.run(command).check(command, accepted: accepted)
    }

    /// Active sessions (`iscsiadm -m session`); none is an empty list, not an error.
    func sessions() async throws -> [Session] {
        let result = try await run(["-m", "session"], accepted: [0, Status.noObjectsFound])
        return result.status == 0 ? Self.parseSessions(result.standardOutput) : []
    }

    func session(for target: ISCSITarget) async throws -> Session? {
        try await sessions().first { $0.iqn == target.iqn && Self.samePortal($0.portal, target.portal) }
    }

    /// Creates the static node record and sets the settings we own. Idempotent.
    func createNodeRecord(_ target: ISCSITarget, replacementTimeout: Int, secrets: [String: String]) async throws {
        try await databaseLock.withLock {
            _ = try await run(
                ["-m", "node", "-T", target.iqn, "-p", target.portal, "-o", "new"],
                accepted: [0, Status.sessionExists])
            // manual: the host must not log in by itself at boot; the node plugin decides.
            try await update(target, "node.startup", "manual")
            try await update(target, "node.session.timeo.replacement_timeout", "\(replacementTimeout)")
            for (key, value) in secrets.sorted(by: { $0.key < $1.key }) where Self.chapKeys.contains(key) {
                let command = make(
                    ["-m", "node", "-T", target.iqn, "-p", target.portal, "-o", "update", "-n", key].map(Command.Argument.plain)
                        + [.plain("-v"), .sensitive(value)])
                try await runner.run(command).check(command)
            }
        }
    }

    /// CHAP settings a NodeStage secret may carry (the same keys iscsiadm uses).
    static let chapKeys: Set<String> = [
        "node.session.auth.authmethod", "node.session.auth.username", "node.session.auth.password",
        "node.session.auth.username_in", "node.session.auth.password_in",
    ]

    private func update(_ target: ISCSITarget, _ key: String, _ value: String) async throws {
        _ = try await run(["-m", "node", "-T", target.iqn, "-p", target.portal, "-o", "update", "-n", key, "-v", value])
    }

    /// Logs in; an existing session is success. A failed login is Unavailable: the target may
    /// come back, and the CO retries.
    func login(_ target: ISCSITarget) async throws {
        do {
            _ = try await run(
                ["-m", "node", "-T", target.iqn, "-p", target.portal, "--login"], timeout: loginTimeout,
                accepted: [0, Status.sessionExists])
        } catch let error as ExecError {
            throw CSIError.unavailable("iSCSI login to \(target.iqn) at \(target.portal) failed: \(error.description)")
        }
    }

    /// Logs out; no session is success.
    func logout(_ target: ISCSITarget) async throws {
        _ = try await run(
            ["-m", "node", "-T", target.iqn, "-p", target.portal, "--logout"], timeout: loginTimeout,
            accepted: [0, Status.noObjectsFound])
    }

    /// Deletes the node record; no record is success.
    func deleteNodeRecord(_ target: ISCSITarget) async throws {
        try await databaseLock.withLock {
            _ = try await run(
                ["-m", "node", "-T", target.iqn, "-p", target.portal, "-o", "delete"],
                accepted: [0, Status.noObjectsFound])
        }
    }

    /// Asks the kernel to rescan a session's LUNs (new LUNs, changed sizes).
    func rescan(session: Int) async throws {
        _ = try await run(["-m", "session", "-r", "\(session)", "--rescan"])
    }

    /// The session's state as iscsiadm reports it, e.g. LOGGED_IN or FAILED.
    func sessionState(session: Int) async throws -> String? {
        let result = try await run(["-m", "session", "-r", "\(session)", "-P", "1"])
        return Self.parseSessionState(result.standardOutput)
    }

    // MARK: - Parsers of iscsiadm's output

    /// `tcp: [3] 10.0.0.5:3260,1 iqn.2016-09.com.openebs.cstor:pvc-1 (non-flash)`
    static func parseSessions(_ output: String) -> [Session] {
        output.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count >= 4, fields[1].hasPrefix("["), fields[1].hasSuffix("]"),
                let id = Int(fields[1].dropFirst().dropLast())
            else { return nil }
            let portal = fields[2].split(separator: ",").first.map(String.init) ?? String(fields[2])
            return Session(id: id, portal: portal, iqn: String(fields[3]))
        }
    }

    /// The `iSCSI Session State:` line of `iscsiadm -m session -r N -P 1`.
    static func parseSessionState(_ output: String) -> String? {
        for line in output.split(separator: "\n") {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("iSCSI Session State:") {
                return trimmed.dropFirst("iSCSI Session State:".count).trimmingCharacters(in: .whitespaces)
            }
        }
        return nil
    }

    /// iscsiadm prints IPv6 portals as [addr]:port and may omit brackets elsewhere; compare both.
    static func samePortal(_ a: String, _ b: String) -> Bool {
        func strip(_ portal: String) -> String { portal.replacingOccurrences(of: "[", with: "").replacingOccurrences(of: "]", with: "") }
        return strip(a) == strip(b)
    }
}
