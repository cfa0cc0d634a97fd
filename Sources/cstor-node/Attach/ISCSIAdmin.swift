import CStorCore

/// iscsiadm, as the node uses it: static node records (no SendTargets discovery), login/logout
/// and rescans; sessions and their disks are read from sysfs (`ISCSISysfs`), not from iscsiadm.
/// The command is configurable (`--iscsiadm "chroot /host iscsiadm"`), every call has a timeout, and writes to iscsiadm's node database are serialized on this host
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

    /// Whether a node record for the target exists (`iscsiadm -m node -T … -p …`).
    func nodeRecordExists(_ target: ISCSITarget) async throws -> Bool {
        let result = try await run(
            ["-m", "node", "-T", target.iqn, "-p", target.portal], accepted: [0, Status.noObjectsFound])
        return result.status == 0
    }

    /// Makes sure the static node record exists with the settings we own. An existing record is
    /// updated in place, never made again with `-o new`: that would reset what it holds (the CHAP
    /// credentials of an earlier stage) to the defaults. CHAP settings are written only when this
    /// stage brings secrets.
    func ensureNodeRecord(_ target: ISCSITarget, replacementTimeout: Int, secrets: [String: String]) async throws {
        try await databaseLock.withLock {
            if try await !nodeRecordExists(target) {
                _ = try await run(["-m", "node", "-T", target.iqn, "-p", target.portal, "-o", "new"])
            }
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

    /// Logs out of one session by its id (`-m session -r N -u`): exactly the session that was
    /// judged, whatever spelling of the portal its record has. No session is success.
    func logout(session: Int) async throws {
        _ = try await run(["-m", "session", "-r", "\(session)", "-u"], timeout: loginTimeout, accepted: [0, Status.noObjectsFound])
    }
}
