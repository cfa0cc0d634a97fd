import CStorCore
import FoundationEssentials
import Glibc

/// The one rule for what may be done about an iSCSI session, used by NodeStageVolume's attach,
/// NodeUnstageVolume's detach and the health monitor's repair alike.
///
/// A session is left to iscsid while any of its disks is inside the kernel's recovery window
/// (SCSI device state `blocked`: I/O is queued and resumes when iscsid reconnects, within
/// replacement_timeout). A logout would fail that queued I/O: buffered writes would be lost and
/// the filesystem would abort. A session is logged out (and in again) only when it is gone for
/// good — not logged in, or its disks went `transport-offline`/`offline` after the window — and
/// nothing holds any of its disks: no mount in any namespace, no open descriptor, no stacked
/// device. A logged-in session whose LUN is missing is rescanned, never logged out.
enum ISCSISessionRule {
    enum Verdict: Sendable, Equatable {
        /// No session to this target: log in.
        case absent
        /// Logged in, the LUN's disk is there and running.
        case usable(ISCSISysfs.Disk)
        /// iscsid is reconnecting (a disk is blocked): wait; never log out. The disk, when the
        /// LUN has one.
        case recovering(String, ISCSISysfs.Disk?)
        /// Logged in, but the LUN has no disk: rescan.
        case lunMissing
        /// Gone for good and nothing holds its disks: log out and in again.
        case relogin(String)
        /// Gone for good, but something still holds a disk: nothing may be done until it lets go.
        case held(String, [DeviceHolder])
    }

    /// Judges `session` for the LUN `lun` (as the target numbers it). `holders` tells what holds
    /// a disk; it is asked only when a logout is considered.
    static func judge(
        _ session: ISCSISysfs.Session?, lun: Int, holders: (ISCSISysfs.Disk) -> [DeviceHolder]
    ) -> Verdict {
        guard let session else { return .absent }
        let wanted = ISCSISysfs.linuxLUN(lun)
        let disk = session.disks.first { $0.lun == wanted && $0.name != nil }
        let window = session.recoveryTimeout.map { "replacement_timeout \($0) s" } ?? "replacement_timeout"
        if session.isLoggedIn, let disk, disk.isRunning { return .usable(disk) }
        if let blocked = session.disks.first(where: \.isBlocked) {
            return .recovering(
                "the iSCSI session \(session.id) to \(session.targetName) is reconnecting (session \(session.state), \(blocked.device ?? blocked.address) blocked): iscsid recovers it within \(window) and the queued I/O resumes",
                disk)
        }
        let offline = session.disks.filter(\.isOffline)
        if session.isLoggedIn && offline.isEmpty {
            if let disk { return .recovering("the LUN's disk \(disk.device ?? disk.address) is \(disk.state)", disk) }
            return .lunMissing
        }
        let why =
            session.isLoggedIn
            ? "the disks \(offline.map { $0.device ?? $0.address }.joined(separator: ", ")) of the iSCSI session \(session.id) to \(session.targetName) went offline"
            : "the iSCSI session \(session.id) to \(session.targetName) is \(session.state) and iscsid no longer recovers it (its disks: \(session.disks.map { "\($0.device ?? $0.address) \($0.state)" }.joined(separator: ", ")))"
        if !session.isLoggedIn && offline.isEmpty && !session.disks.isEmpty {
            // Not logged in, yet no disk has left the recovery window: still iscsid's.
            return .recovering("the iSCSI session \(session.id) to \(session.targetName) is \(session.state); iscsid is still inside \(window)", disk)
        }
        let held = session.disks.flatMap(holders)
        return held.isEmpty ? .relogin(why) : .held(why, held)
    }

    /// Whether an iSCSI session's connection is to the portal `portal` (host:port, hostname or
    /// address). The kernel shows the record's address (a hostname may stay a hostname) and the
    /// address connected to; `resolve` turns a hostname into the addresses it names.
    static func matches(
        _ session: ISCSISysfs.Session, target: ISCSITarget, resolve: (String) -> [String]
    ) -> Bool {
        guard session.targetName == target.iqn else { return false }
        let (host, port) = target.hostAndPort
        guard session.port.isEmpty || session.port == port else { return false }
        let shown = [session.address, session.currentAddress].filter { !$0.isEmpty }
        if shown.contains(where: { $0.lowercased() == host.lowercased() }) { return true }
        return !addresses(Set(shown), resolve: resolve).isDisjoint(with: addresses([host], resolve: resolve))
    }

    /// Whether two targets are reached through the same session: the same IQN at the same portal
    /// (in any spelling of its address, or a hostname that resolves to it).
    static func sameSession(_ a: ISCSITarget, _ b: ISCSITarget, resolve: (String) -> [String]) -> Bool {
        guard a.iqn == b.iqn else { return false }
        if a.portal.lowercased() == b.portal.lowercased() { return true }
        let (hostA, portA) = a.hostAndPort
        let (hostB, portB) = b.hostAndPort
        return portA == portB && !addresses([hostA], resolve: resolve).isDisjoint(with: addresses([hostB], resolve: resolve))
    }

    /// Canonical addresses of hosts given as addresses or hostnames.
    private static func addresses(_ hosts: Set<String>, resolve: (String) -> [String]) -> Set<String> {
        Set(hosts.flatMap { host in normalizedAddress(host).map { [$0] } ?? resolve(host).compactMap(normalizedAddress) })
    }

    /// An IP address in canonical form (IPv6 compressed, IPv4-mapped kept apart), nil for a name.
    static func normalizedAddress(_ text: String) -> String? {
        let bare = text.hasPrefix("[") && text.hasSuffix("]") ? String(text.dropFirst().dropLast()) : text
        var v4 = in_addr()
        if inet_pton(AF_INET, bare, &v4) == 1 {
            var buffer = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
            return inet_ntop(AF_INET, &v4, &buffer, socklen_t(buffer.count)).map { String(cString: $0) }
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, bare, &v6) == 1 {
            var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            return inet_ntop(AF_INET6, &v6, &buffer, socklen_t(buffer.count)).map { String(cString: $0) }
        }
        return nil
    }

    /// The addresses a hostname resolves to (getaddrinfo, TCP).
    static func resolveHost(_ host: String) -> [String] {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &result) == 0 else { return [] }
        defer { freeaddrinfo(result) }
        var addresses: [String] = []
        var cursor = result
        while let entry = cursor?.pointee {
            var buffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            if getnameinfo(entry.ai_addr, entry.ai_addrlen, &buffer, socklen_t(buffer.count), nil, 0, NI_NUMERICHOST) == 0 {
                addresses.append(String(cString: buffer))
            }
            cursor = entry.ai_next
        }
        return addresses
    }
}
