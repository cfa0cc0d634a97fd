import CStorCore
import CStorKubernetes
import CStorModel
import Synchronization

/// A process runner for tests: records every command (with its masked description) and answers
/// from rules matched on the argument list, like a stateful fake of the real programs.
public final class ScriptedProcessRunner: ProcessRunner, Sendable {
    public struct Rule: Sendable {
        var matches: @Sendable (Command) -> Bool
        var respond: @Sendable (Command) async throws -> CommandResult
    }

    private let state = Mutex<(rules: [Rule], log: [Command])>(([], []))

    public init() {}

    /// Commands run so far, in order.
    public var commands: [Command] { state.withLock { $0.log } }

    /// Their argument lists (executable first).
    public var commandLines: [[String]] { commands.map { [$0.executable] + $0.argumentValues } }

    /// Answers commands whose words contain `words` in order; later rules win.
    public func on(
        _ words: [String], respond: @escaping @Sendable (Command) async throws -> CommandResult
    ) {
        let rule = Rule(
            matches: { command in Self.contains([command.executable] + command.argumentValues, words) },
            respond: respond)
        state.withLock { $0.rules.append(rule) }
    }

    public func on(_ words: [String], status: Int32 = 0, output: String = "", error: String = "") {
        on(words) { _ in CommandResult(status: status, standardOutput: output, standardError: error) }
    }

    public func run(_ command: Command) async throws -> CommandResult {
        let rule = state.withLock { state -> Rule? in
            state.log.append(command)
            return state.rules.last { $0.matches(command) }
        }
        guard let rule else { return CommandResult(status: 0) }
        return try await rule.respond(command)
    }

    static func contains(_ haystack: [String], _ needle: [String]) -> Bool {
        guard !needle.isEmpty else { return true }
        var index = 0
        for word in haystack where word == needle[index] {
            index += 1
            if index == needle.count { return true }
        }
        return false
    }
}
