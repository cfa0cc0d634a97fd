/// Where a CSI server listens: `unix:///csi/csi.sock` (kubelet and the sidecars) or
/// `tcp://host:port` (debugging, tests on other hosts).
public enum Endpoint: Sendable, Equatable, CustomStringConvertible {
    case unix(path: String)
    case tcp(host: String, port: Int)

    public struct ParseError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Parses the forms kubelet and csi-sanity use: `unix:///abs/path`, `unix:/abs/path`, a bare
    /// absolute path, and `tcp://host:port` (IPv6 hosts in brackets).
    public init(parsing text: String) throws {
        if text.hasPrefix("unix://") {
            self = try Self.unix(String(text.dropFirst("unix://".count)), original: text)
        } else if text.hasPrefix("unix:") {
            self = try Self.unix(String(text.dropFirst("unix:".count)), original: text)
        } else if text.hasPrefix("/") {
            self = try Self.unix(text, original: text)
        } else if text.hasPrefix("tcp://") {
            let rest = String(text.dropFirst("tcp://".count))
            guard let colon = rest.lastIndex(of: ":"),
                let port = Int(rest[rest.index(after: colon)...]), (1...65535).contains(port)
            else {
                throw ParseError(description: "endpoint \(text): expected tcp://host:port with a port in 1...65535")
            }
            var host = String(rest[..<colon])
            if host.hasPrefix("[") && host.hasSuffix("]") {
                host = String(host.dropFirst().dropLast())
            }
            guard !host.isEmpty else {
                throw ParseError(description: "endpoint \(text): the host is empty")
            }
            self = .tcp(host: host, port: port)
        } else {
            throw ParseError(description: "endpoint \(text): expected unix:///path/to/csi.sock or tcp://host:port")
        }
    }

    private static func unix(_ path: String, original: String) throws -> Endpoint {
        guard path.hasPrefix("/"), path.count > 1 else {
            throw ParseError(description: "endpoint \(original): a unix socket path must be absolute")
        }
        // sockaddr_un.sun_path holds 108 bytes including the terminating NUL.
        guard path.utf8.count < 108 else {
            throw ParseError(description: "endpoint \(original): the socket path is longer than 107 bytes")
        }
        return .unix(path: path)
    }

    public var description: String {
        switch self {
        case .unix(let path): "unix://\(path)"
        case .tcp(let host, let port): host.contains(":") ? "tcp://[\(host)]:\(port)" : "tcp://\(host):\(port)"
        }
    }
}
