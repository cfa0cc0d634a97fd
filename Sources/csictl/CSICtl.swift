import ArgumentParser
import CStorCore

/// csictl: a small command-line client for any CSI endpoint (like csc), for operators and scripts.
@main
struct CSICtl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "csictl",
        abstract: "Call a CSI plugin's Identity, Controller and Node services from the command line.",
        version: BuildInfo.version,
        subcommands: [IdentityCommand.self, ControllerCommand.self, NodeCommand.self])
}

/// Flags every csictl command shares.
struct ClientOptions: ParsableArguments {
    @Option(help: "The plugin's endpoint: unix:///path/to/csi.sock or tcp://host:port.")
    var endpoint: String = "unix:///csi/csi.sock"

    @Flag(help: "Print the response as JSON (proto3 JSON mapping) instead of text for humans.")
    var json = false

    func parsedEndpoint() throws -> Endpoint {
        do {
            return try Endpoint(parsing: endpoint)
        } catch let error as Endpoint.ParseError {
            throw ValidationError(error.description)
        }
    }
}
