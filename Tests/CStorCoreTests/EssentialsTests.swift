import CStorCore
import CStorKubernetes
import CStorModel
import Foundation
import Synchronization
import Testing

/// The shipping code imports FoundationEssentials only; its stand-ins for full Foundation must
/// answer what Foundation answered, input for input (tests may use full Foundation).
@Suite("FoundationEssentials stand-ins answer as full Foundation did")
struct EssentialsTests {
    static let paths = [
        "/var/lib/cstor", "/var/lib/cstor/", "/var/lib/cstor//", "/", "", "relative", "relative/dir", "/a", "a/b/c.json",
        "/csi/csi.sock", "//double", "/trailing/slash/",
    ]

    @Test("Path.lastComponent is NSString.lastPathComponent", arguments: paths)
    func lastComponent(path: String) {
        #expect(Path.lastComponent(path) == (path as NSString).lastPathComponent)
    }

    @Test("Path.parent is NSString.deletingLastPathComponent", arguments: paths)
    func parent(path: String) {
        #expect(Path.parent(path) == (path as NSString).deletingLastPathComponent)
    }

    @Test(
        "Path.join is NSString.appendingPathComponent",
        arguments: ["/var/lib/cstor", "/var/lib/cstor/", "/", "relative"], ["volumes", "pvc-1.json", "orphaned"])
    func join(directory: String, name: String) {
        #expect(Path.join(directory, name) == (directory as NSString).appendingPathComponent(name))
    }

    static let texts = [
        "  7:0\n", "\t1\n\n", "no-trim", "", " \n\t ", "a b\n", "\r\nwindows\r\n", "\u{00A0}nbsp\u{2028}", "x\u{3000}",
    ]

    @Test("trimmed, trimmedSpaces and trimmedNewlines are trimmingCharacters(in:)", arguments: texts)
    func trimming(text: String) {
        #expect(text.trimmed == text.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(text.trimmedSpaces == text.trimmingCharacters(in: .whitespaces))
        #expect(text.trimmedNewlines == text.trimmingCharacters(in: .newlines))
    }

    @Test("cFormat is String(format:) for the log's numbers and hex bytes")
    func format() {
        for value in [0.0, 1.5, -2.25, 0.0005, 123456.789, 1e300, -0.0] {
            #expect(cFormat("%.3f", value) == String(format: "%.3f", value))
        }
        for byte: UInt8 in [0, 9, 10, 255] {
            #expect(cFormat("%02x", byte) == String(format: "%02x", byte))
        }
    }

    @Test(
        "percentEncoded is addingPercentEncoding for ASCII names and values",
        arguments: ["pvc-1", "app=web,tier in (a,b)", "a/b?c#d", "cstor.openebs.io/v1", "100%", "x y~z"])
    func percentEncoding(text: String) {
        var query = CharacterSet.alphanumerics
        query.insert(charactersIn: "-._~")
        #expect(percentEncoded(text, keeping: "-._~") == text.addingPercentEncoding(withAllowedCharacters: query))
        var segment = CharacterSet.urlPathAllowed
        segment.remove(charactersIn: "/?#")
        #expect(percentEncoded(text, keeping: "-._~!$&'()*+,;=:@") == text.addingPercentEncoding(withAllowedCharacters: segment))
    }

    @Test("A detached thread runs its work under the name it was given", .timeLimit(.minutes(1)))
    func detachedThread() async throws {
        let seen = Mutex<String?>(nil)
        let done = AsyncStream<Void>.makeStream()
        try DetachedThread.start(name: "cstor-test-thread-long-name") {
            let comm = try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)
            seen.withLock { $0 = comm?.trimmed }
            done.continuation.yield()
        }
        for await _ in done.stream { break }
        #expect(seen.withLock { $0 } == "cstor-test-thre")
    }
}
