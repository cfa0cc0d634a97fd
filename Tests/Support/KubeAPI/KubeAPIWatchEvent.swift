import CStorCore
import CStorKubernetes
import CStorModel

/// One event of a watch stream of the test API server.
public struct KubeAPIWatchEvent: Sendable {
    /// `ADDED`, `MODIFIED`, `DELETED`, `BOOKMARK` or `ERROR`.
    public var type: String
    public var object: JSONValue

    public init(type: String, object: JSONValue) {
        self.type = type
        self.object = object
    }

    /// The line the server writes: `{"type":...,"object":...}` and a newline.
    public var line: String {
        JSONValue.object(["type": .string(type), "object": object]).jsonString + "\n"
    }
}
