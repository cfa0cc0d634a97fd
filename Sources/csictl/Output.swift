import ArgumentParser
import CStorCore
import FoundationEssentials
import Glibc
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import SwiftProtobuf

/// Runs one call on a fresh connection and turns a failed RPC into a one-line error and exit code 1.
func call<Response: Sendable>(
    _ options: ClientOptions,
    _ body: (GRPCClient<HTTP2ClientTransport.Posix>) async throws -> Response
) async throws -> Response {
    let endpoint = try options.parsedEndpoint()
    do {
        return try await CSIConnection.with(endpoint: endpoint, body)
    } catch let error as RPCError {
        Output.error("\(RPCLoggingInterceptor.codeName(error.code)): \(error.message)")
        throw ExitCode.failure
    }
}

/// Prints responses: text lines for humans, or the message as JSON with `--json`.
enum Output {
    static func print(_ message: some SwiftProtobuf.Message, json: Bool, text: () -> [String]) throws {
        if json {
            var options = JSONEncodingOptions()
            options.alwaysPrintEnumsAsInts = false
            options.preserveProtoFieldNames = true
            Swift.print(try message.jsonString(options: options))
        } else {
            for line in text() { Swift.print(line) }
        }
    }

    /// A message in protobuf text format on one line, e.g. `service { type: CONTROLLER_SERVICE }`.
    static func compact(_ message: some SwiftProtobuf.Message) -> String {
        message.textFormatString().split(whereSeparator: \.isNewline)
            .map { $0.trimmedSpaces }.joined(separator: " ")
    }

    static func error(_ text: String) {
        StandardError.write("csictl: \(text)\n")
    }
}
