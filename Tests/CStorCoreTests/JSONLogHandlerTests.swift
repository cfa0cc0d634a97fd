import CStorCore
import CStorKubernetes
import CStorModel
import Foundation
import Logging
import Testing

@Suite("JSON log lines")
struct JSONLogHandlerTests {
    /// Captures what a handler writes through a pipe.
    func capture(_ body: (Logger) -> Void) throws -> [String] {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        let sink = LogSink(descriptor: fds[1])
        let logger = Logger(label: "test") { label in
            JSONLogHandler(label: label, component: "node", format: .json, level: .debug, sink: sink)
        }
        body(logger)
        close(fds[1])
        let data = FileHandle(fileDescriptor: fds[0], closeOnDealloc: true).readDataToEndOfFile()
        return String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    @Test("Every text of a line is bounded, whatever logs it: a 100 kB error or message is cut and says its length")
    func boundedText() throws {
        let lines = try capture { logger in
            logger.warning(
                "\(String(repeating: "m", count: 5000))",
                metadata: ["error": .string(String(repeating: "e", count: 100_000)), "other": .stringConvertible(String(repeating: "o", count: 5000))])
        }
        #expect(lines.count == 1)
        #expect(lines[0].utf8.count < 4 * LogBounds.textBytes, "\(lines[0].utf8.count) bytes")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        #expect(object["error"] as? String == String(repeating: "e", count: LogBounds.textBytes) + "… (100000 bytes)")
        #expect((object["msg"] as? String)?.hasSuffix("(5000 bytes)") == true)
        #expect((object["other"] as? String)?.hasSuffix("(5000 bytes)") == true)
    }

    @Test("A line holds ts, level, component, msg and the metadata, with numbers as numbers")
    func fields() throws {
        let lines = try capture { logger in
            logger.info(
                "staged", metadata: ["volume_id": "pvc-1", "duration_ms": .stringConvertible(12.5),
                                     "attempt": .stringConvertible(3), "ok": .stringConvertible(true)])
        }
        #expect(lines.count == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        #expect(object["level"] as? String == "info")
        #expect(object["component"] as? String == "node")
        #expect(object["msg"] as? String == "staged")
        #expect(object["volume_id"] as? String == "pvc-1")
        #expect(object["duration_ms"] as? Double == 12.5)
        #expect(object["attempt"] as? Int == 3)
        #expect(object["ok"] as? Bool == true)
        let ts = try #require(object["ts"] as? String)
        #expect(ts.range(of: #"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$"#, options: .regularExpression) != nil)
    }

    @Test("Quotes, backslashes, newlines and control characters are escaped")
    func escaping() throws {
        let text = "a \"quoted\" \\ path\nnext\tline \u{01} é"
        let lines = try capture { $0.warning("\(text)", metadata: ["k\"ey": .string(text)]) }
        #expect(lines.count == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        #expect(object["msg"] as? String == text)
        #expect(object["k\"ey"] as? String == text)
    }

    @Test("Raw JSON, arrays and dictionaries are embedded as JSON values")
    func nested() throws {
        let lines = try capture { logger in
            logger.info(
                "x",
                metadata: ["request": .stringConvertible(RawJSON(#"{"volumeId":"v"}"#)),
                           "list": .array(["a", "b"]), "map": .dictionary(["k": "v"])])
        }
        let object = try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        #expect((object["request"] as? [String: Any])?["volumeId"] as? String == "v")
        #expect(object["list"] as? [String] == ["a", "b"])
        #expect((object["map"] as? [String: String]) == ["k": "v"])
    }

    @Test("Lines below the configured level are not written")
    func levels() throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        let sink = LogSink(descriptor: fds[1])
        let logger = Logger(label: "t") { JSONLogHandler(label: $0, component: "c", format: .json, level: .warning, sink: sink) }
        logger.info("hidden")
        logger.error("shown")
        close(fds[1])
        let text = String(decoding: FileHandle(fileDescriptor: fds[0], closeOnDealloc: true).readDataToEndOfFile(), as: UTF8.self)
        #expect(!text.contains("hidden"))
        #expect(text.contains("shown"))
    }

    @Test("Concurrent writers never interleave within a line")
    func concurrency() async throws {
        let dir = TemporaryFile()
        let fd = open(dir.path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        let sink = LogSink(descriptor: fd)
        let logger = Logger(label: "t") { JSONLogHandler(label: $0, component: "c", format: .json, level: .info, sink: sink) }
        await withTaskGroup(of: Void.self) { group in
            for task in 0..<8 {
                group.addTask {
                    for index in 0..<200 {
                        logger.info("line", metadata: ["task": "\(task)", "index": "\(index)", "pad": .string(String(repeating: "x", count: 300))])
                    }
                }
            }
        }
        close(fd)
        let lines = try String(contentsOfFile: dir.path, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 1600)
        for line in lines {
            #expect((try? JSONSerialization.jsonObject(with: Data(line.utf8))) != nil)
        }
    }
}

/// A temporary file path, removed afterwards.
final class TemporaryFile {
    let path = "/tmp/csi-log-\(UUID().uuidString.prefix(8))"
    deinit { unlink(path) }
}
