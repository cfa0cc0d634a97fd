import CStorCore

/// What the node attaches, decoded from the `publish_context` the controller returned
/// (DESIGN.md §3): an iSCSI LUN of a cStor target, or a file of the embedded local engine.
enum AttachTarget: Sendable, Equatable, Codable, CustomStringConvertible {
    case iscsi(ISCSITarget)
    case loop(file: String)

    var transport: Transport {
        switch self {
        case .iscsi: .iscsi
        case .loop: .loop
        }
    }

    var description: String {
        switch self {
        case .iscsi(let target): "iscsi \(target.iqn) at \(target.portal) lun \(target.lun)"
        case .loop(let file): "loop \(file)"
        }
    }

    /// What attach and detach decisions are serialized on: an iSCSI target (every LUN of it
    /// shares a session), or a loop device's backing file.
    var attachmentKey: String {
        switch self {
        case .iscsi(let target): "iscsi \(target.iqn)"
        case .loop(let file): "loop \(file)"
        }
    }

    /// Whether both name the same device: the same LUN through the same session, or the same file.
    func isSameDevice(as other: AttachTarget, resolve: (String) -> [String] = ISCSISessionRule.resolveHost) -> Bool {
        if case .iscsi(let a) = self, case .iscsi(let b) = other, a.lun != b.lun { return false }
        return sharesAttachment(with: other, resolve: resolve)
    }

    /// Whether detaching `self` would take down what `other` uses: the same iSCSI session, or the
    /// same backing file.
    func sharesAttachment(with other: AttachTarget, resolve: (String) -> [String] = ISCSISessionRule.resolveHost) -> Bool {
        switch (self, other) {
        case (.iscsi(let a), .iscsi(let b)): ISCSISessionRule.sameSession(a, b, resolve: resolve)
        case (.loop(let a), .loop(let b)): a == b
        default: false
        }
    }

    enum Transport: String, Sendable, Codable, CaseIterable {
        case iscsi
        case loop
    }

    /// publish_context keys, shared with the controller's engines.
    enum Key {
        static let transport = "transport"
        static let iqn = "iqn"
        static let portal = "portal"
        static let lun = "lun"
        static let file = "file"
    }

    /// Decodes and validates a publish_context. Values end up as arguments of iscsiadm and
    /// as the file a loop device is pointed at, so anything that is not exactly the expected shape is refused.
    init(publishContext context: [String: String]) throws {
        let transport = context[Key.transport] ?? (context[Key.iqn] != nil ? "iscsi" : "")
        switch transport {
        case "iscsi":
            self = .iscsi(try ISCSITarget(context: context))
        case "loop":
            guard let file = context[Key.file], !file.isEmpty else {
                throw CSIError.invalidArgument("publish_context for a loop volume lacks \"file\"")
            }
            guard let normalized = PathRules.normalizedAbsolute(file) else {
                throw CSIError.invalidArgument("publish_context file \(file) is not a clean absolute path")
            }
            self = .loop(file: normalized)
        case "":
            throw CSIError.invalidArgument(
                "publish_context lacks \"transport\" (and \"iqn\"): was the volume published by ControllerPublishVolume?")
        default:
            throw CSIError.invalidArgument("publish_context transport \(transport) is not supported (iscsi, loop)")
        }
    }
}

/// One LUN of an iSCSI target.
struct ISCSITarget: Sendable, Equatable, Codable {
    var iqn: String
    /// host:port as iscsiadm takes it (IPv6 hosts in brackets).
    var portal: String
    var lun: Int

    init(iqn: String, portal: String, lun: Int) {
        self.iqn = iqn
        self.portal = portal
        self.lun = lun
    }

    init(context: [String: String]) throws {
        guard let iqn = context[AttachTarget.Key.iqn], Self.isValidName(iqn) else {
            throw CSIError.invalidArgument(
                "publish_context iqn \(context[AttachTarget.Key.iqn] ?? "(missing)") is not an iSCSI name (iqn.…, eui.… or naa.…)")
        }
        guard let rawPortal = context[AttachTarget.Key.portal], let portal = Self.normalizedPortal(rawPortal) else {
            throw CSIError.invalidArgument(
                "publish_context portal \(context[AttachTarget.Key.portal] ?? "(missing)") is not host:port")
        }
        let lunText = context[AttachTarget.Key.lun] ?? "0"
        guard let lun = Int(lunText), (0...16383).contains(lun) else {
            throw CSIError.invalidArgument("publish_context lun \(lunText) is not a number in 0...16383")
        }
        self.init(iqn: iqn, portal: portal, lun: lun)
    }

    static func isValidName(_ name: String) -> Bool {
        guard (4...223).contains(name.utf8.count),
            name.hasPrefix("iqn.") || name.hasPrefix("eui.") || name.hasPrefix("naa.")
        else { return false }
        return name.unicodeScalars.allSatisfy { scalar in
            scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || ".-:_".unicodeScalars.contains(scalar)
        }
    }

    /// host:port with the default port 3260 added; IPv6 literals kept in brackets.
    static func normalizedPortal(_ text: String) -> String? {
        var host: Substring
        var port = "3260"
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            if rest.hasPrefix(":") { port = String(rest.dropFirst()) } else if !rest.isEmpty { return nil }
            guard host.contains(":") else { return nil }
            return isValidPort(port) && host.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) ? "[\(host)]:\(port)" : nil
        }
        if let colon = text.lastIndex(of: ":") {
            host = text[..<colon]
            port = String(text[text.index(after: colon)...])
        } else {
            host = Substring(text)
        }
        guard !host.isEmpty, !host.hasPrefix("-"), isValidPort(port),
            host.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "-") })
        else { return nil }
        return "\(host):\(port)"
    }

    private static func isValidPort(_ text: String) -> Bool {
        guard let port = Int(text) else { return false }
        return (1...65535).contains(port)
    }

    /// The host part (an address or a hostname) without brackets, and the port.
    var hostAndPort: (host: String, port: String) {
        guard let colon = portal.lastIndex(of: ":") else { return (portal, "3260") }
        var host = String(portal[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host, String(portal[portal.index(after: colon)...]))
    }
}
