import CStorCore
import Foundation

/// Attaches a backing file as a loop device (`losetup`), for the embedded local engine and tests.
/// Only files inside the configured directories can be attached: a publish_context must never
/// turn an arbitrary host file into a mountable device.
struct LoopAttacher: Attacher {
    var runner: any ProcessRunner
    /// Directories whose files may be attached (normalized absolute paths).
    var allowedDirectories: [String]
    var timeout: Duration = .seconds(30)

    func attach(_ target: AttachTarget, secrets: [String: String]) async throws -> String {
        let file = try allowedFile(target)
        if let existing = try await devices(backing: file).first { return existing }
        var info = stat()
        guard stat(file, &info) == 0 else {
            throw CSIError.notFound("the backing file \(file) of this volume does not exist")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw CSIError.failedPrecondition("\(file) is not a regular file")
        }
        let command = Command("losetup", ["--find", "--show", file], timeout: timeout)
        let device = try await runner.run(command).check(command).standardOutput
            .trimmingCharacters(in: .whitespacesAndNewlines)
        guard device.hasPrefix("/dev/loop") else {
            throw CSIError.internal("losetup attached \(file) but printed \(PathRules.quoted(device)) instead of a device")
        }
        return device
    }

    func currentDevice(_ target: AttachTarget) async throws -> String? {
        // A file this node may not attach was never attached by it.
        guard let file = try? allowedFile(target) else { return nil }
        return try await devices(backing: file).first
    }

    func detach(_ target: AttachTarget) async throws {
        // A file this node may not attach was never attached by it: nothing to undo.
        guard let file = try? allowedFile(target) else { return }
        for device in try await devices(backing: file) {
            let command = Command("losetup", ["--detach", device], timeout: timeout)
            let result = try await runner.run(command)
            // A device that went away in the meantime is what we wanted.
            if result.status != 0, try await devices(backing: file).contains(device) {
                try result.check(command)
            }
        }
    }

    func refreshSize(_ target: AttachTarget, device: String) async throws {
        let command = Command("losetup", ["--set-capacity", device], timeout: timeout)
        try await runner.run(command).check(command)
    }

    func health(_ target: AttachTarget) async -> TransportHealth {
        do {
            return try await currentDevice(target) == nil ? .broken("the loop device is detached") : .healthy
        } catch {
            return .broken(CSIError.from(error).message)
        }
    }

    func repair(_ target: AttachTarget) async throws -> String {
        try await attach(target, secrets: [:])
    }

    /// The backing file, when this node may attach it.
    func allowedFile(_ target: AttachTarget) throws -> String {
        guard case .loop(let file) = target else {
            throw CSIError.internal("the loop attacher was given \(target)")
        }
        guard allowedDirectories.contains(where: { PathRules.isWithin(file, root: $0) && file != $0 }) else {
            throw CSIError.failedPrecondition(
                "\(file) is outside the directories loop volumes may come from (--loop-dir: \(allowedDirectories.joined(separator: ", ")))")
        }
        return file
    }

    /// Loop devices currently backed by `file`, from `losetup --list --json`.
    func devices(backing file: String) async throws -> [String] {
        let command = Command("losetup", ["--list", "--json", "--output", "NAME,BACK-FILE"], timeout: timeout)
        let output = try await runner.run(command).check(command).standardOutput
        return Self.parseList(output).filter { $0.backingFile == file }.map(\.device)
    }

    static func parseList(_ json: String) -> [(device: String, backingFile: String)] {
        struct Listing: Decodable {
            struct Device: Decodable {
                var name: String
                var backFile: String?
                enum CodingKeys: String, CodingKey {
                    case name
                    case backFile = "back-file"
                }
            }
            var loopdevices: [Device]
        }
        // losetup prints nothing at all when no loop device exists.
        guard !json.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty,
            let listing = try? JSONDecoder().decode(Listing.self, from: Data(json.utf8))
        else { return [] }
        return listing.loopdevices.compactMap { device in
            guard var file = device.backFile else { return nil }
            if file.hasSuffix(" (deleted)") { file = String(file.dropLast(" (deleted)".count)) }
            return (device.name, file)
        }
    }
}
