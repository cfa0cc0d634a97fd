import ArgumentParser
import Logging

/// Flags both plugin binaries share.
public struct CommonOptions: ParsableArguments {
    @Option(help: "Where to serve CSI: unix:///path/to/csi.sock or tcp://host:port.")
    public var endpoint: String = "unix:///csi/csi.sock"

    @Option(help: "The CSI driver name; must match the CSIDriver object and the StorageClass provisioner.")
    public var driverName: String = BuildInfo.defaultDriverName

    @Option(help: "Log line format: json (one object a line) or text.")
    public var logFormat: LogFormatOption = .json

    @Option(help: "Lowest level logged: trace, debug, info, notice, warning, error or critical.")
    public var logLevel: LogLevelOption = .info

    @Option(help: "Seconds in-flight RPCs may take to finish after SIGTERM before they are cancelled.")
    public var shutdownGracePeriod: Int = 25

    @Option(help: "Serve Prometheus metrics at http://<host:port>/metrics (off when empty).")
    public var metricsAddress: String = ""

    public init() {}

    public func validate() throws {
        _ = try parsedEndpoint()
        if let problem = DriverName.problem(driverName) {
            throw ValidationError("--driver-name \(driverName): \(problem)")
        }
        if !metricsAddress.isEmpty {
            guard let colon = metricsAddress.lastIndex(of: ":"), let port = Int(metricsAddress[metricsAddress.index(after: colon)...]),
                (0...65535).contains(port)
            else { throw ValidationError("--metrics-address \(metricsAddress): expected host:port, e.g. :9808") }
        }
        guard shutdownGracePeriod >= 0 else {
            throw ValidationError("--shutdown-grace-period must not be negative")
        }
    }

    public func parsedEndpoint() throws -> Endpoint {
        do {
            return try Endpoint(parsing: endpoint)
        } catch let error as Endpoint.ParseError {
            throw ValidationError(error.description)
        }
    }
}

public enum LogFormatOption: String, ExpressibleByArgument, CaseIterable, Sendable {
    case json, text

    public var format: JSONLogHandler.Format { self == .json ? .json : .text }
}

public enum LogLevelOption: String, ExpressibleByArgument, CaseIterable, Sendable {
    case trace, debug, info, notice, warning, error, critical

    public var level: Logger.Level { Logger.Level(rawValue: rawValue) ?? .info }
}

/// The CSI spec's rules for a plugin name: at most 63 characters, starting and ending with an
/// alphanumeric character, with dashes, dots and underscores between (a reverse domain name).
public enum DriverName {
    public static func problem(_ name: String) -> String? {
        guard !name.isEmpty else { return "the name is empty" }
        guard name.utf8.count <= 63 else { return "the name is longer than 63 characters" }
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._")
        guard name.allSatisfy({ allowed.contains($0) }) else {
            return "only letters, digits, '-', '.' and '_' are allowed"
        }
        guard let first = name.first, let last = name.last, first.isLetter || first.isNumber,
            last.isLetter || last.isNumber
        else { return "the name must start and end with a letter or a digit" }
        return nil
    }
}
