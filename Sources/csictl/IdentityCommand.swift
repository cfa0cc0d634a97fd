import ArgumentParser
import CStorCore
import SwiftProtobuf

struct IdentityCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "identity", abstract: "Identity service: who the plugin is and whether it is ready.",
        subcommands: [Info.self, Caps.self, Probe.self])

    struct Info: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "GetPluginInfo: name, version and manifest.")
        @OptionGroup var options: ClientOptions

        func run() async throws {
            let response = try await call(options) { try await Csi_V1_Identity.Client(wrapping: $0).getPluginInfo(.init()) }
            try Output.print(response, json: options.json) {
                var lines = ["name: \(response.name)", "version: \(response.vendorVersion)"]
                lines += response.manifest.keys.sorted().map { "manifest.\($0): \(response.manifest[$0] ?? "")" }
                return lines
            }
        }
    }

    struct Caps: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "GetPluginCapabilities.")
        @OptionGroup var options: ClientOptions

        func run() async throws {
            let response = try await call(options) {
                try await Csi_V1_Identity.Client(wrapping: $0).getPluginCapabilities(.init())
            }
            try Output.print(response, json: options.json) {
                response.capabilities.map(Output.compact)
            }
        }
    }

    struct Probe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Probe: exits 0 when ready, 1 when not.")
        @OptionGroup var options: ClientOptions

        func run() async throws {
            let response = try await call(options) { try await Csi_V1_Identity.Client(wrapping: $0).probe(.init()) }
            let ready = !response.hasReady || response.ready.value
            try Output.print(response, json: options.json) { [ready ? "ready" : "not ready"] }
            if !ready { throw ExitCode.failure }
        }
    }
}
