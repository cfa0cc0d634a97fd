import AsyncHTTPClient
import CStorCore
import CStorKubernetes
import FoundationEssentials
import Glibc
import NIOCore

/// The events of one watch response: JSON objects, one a line, in a chunked body. A line cut off by
/// a dropped connection is an error (the resuming watch reconnects); an `ERROR` event becomes a
/// `KubernetesError` (`.gone` for 410).
struct HTTPWatchConnection<Object: KubernetesObject>: AsyncSequence, Sendable {
    typealias Element = WatchEvent<Object>

    let body: HTTPClientResponse.Body
    let operation: String

    func makeAsyncIterator() -> Iterator {
        Iterator(body: body.makeAsyncIterator(), operation: operation)
    }

    struct Iterator: AsyncIteratorProtocol {
        var body: HTTPClientResponse.Body.AsyncIterator
        let operation: String
        var buffer: [UInt8] = []
        var finished = false

        init(body: HTTPClientResponse.Body.AsyncIterator, operation: String) {
            self.body = body
            self.operation = operation
        }

        mutating func next() async throws -> WatchEvent<Object>? {
            while true {
                if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                    let line = Array(buffer[..<newline])
                    buffer.removeSubrange(...newline)
                    if line.allSatisfy({ $0 == 0x20 || $0 == 0x0D || $0 == 0x09 }) { continue }
                    return try Self.decode(line, operation: operation)
                }
                if finished {
                    guard buffer.allSatisfy({ $0 == 0x20 || $0 == 0x0D || $0 == 0x09 || $0 == 0x0A }) else {
                        // The server ends every event with a newline; a rest means the line was cut.
                        throw KubernetesError(.transport, "the watch connection closed in the middle of an event", operation: operation)
                    }
                    return nil
                }
                guard let chunk = try await body.next() else {
                    finished = true
                    continue
                }
                buffer.append(contentsOf: chunk.readableBytesView)
            }
        }

        private struct EventType: Decodable {
            var type: String
        }

        private struct Event<Payload: Decodable>: Decodable {
            var object: Payload
        }

        private struct Bookmark: Decodable {
            var metadata: Metadata?

            struct Metadata: Decodable {
                var resourceVersion: String?
            }
        }

        static func decode(_ line: [UInt8], operation: String) throws -> WatchEvent<Object> {
            let data = Data(line)
            let decoder = JSONDecoder()
            do {
                let type = try decoder.decode(EventType.self, from: data).type
                switch type {
                case "ADDED": return .added(try decoder.decode(Event<Object>.self, from: data).object)
                case "MODIFIED": return .modified(try decoder.decode(Event<Object>.self, from: data).object)
                case "DELETED": return .deleted(try decoder.decode(Event<Object>.self, from: data).object)
                case "BOOKMARK":
                    let bookmark = try decoder.decode(Event<Bookmark>.self, from: data).object
                    return .bookmark(resourceVersion: bookmark.metadata?.resourceVersion ?? "")
                case "ERROR":
                    let status = try decoder.decode(Event<KubernetesStatus>.self, from: data).object
                    let code = status.code ?? 500
                    let kind = KubernetesError.kind(httpStatus: code, reason: status.reason)
                    throw KubernetesError(
                        kind, status.message ?? "watch error \(code)", status: status, httpStatus: code,
                        operation: operation)
                default:
                    throw KubernetesError(.unexpectedResponse, "unknown watch event type \(type)", operation: operation)
                }
            } catch let error as KubernetesError {
                throw error
            } catch {
                throw KubernetesError(
                    .unexpectedResponse, "a watch event cannot be decoded: \(HTTPKubernetesClient.describe(error))",
                    operation: operation, underlying: error)
            }
        }
    }
}
