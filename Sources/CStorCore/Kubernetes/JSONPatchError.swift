/// Why a JSON patch could not be applied: a missing path, a bad pointer, or a failed `test`.
import CStorCore

public struct JSONPatchError: Error, Sendable, Hashable, CustomStringConvertible {
    public var message: String
    /// True when a `test` operation found a different value (the API server answers 422 then).
    public var testFailed: Bool

    public init(_ message: String, testFailed: Bool = false) {
        self.message = message
        self.testFailed = testFailed
    }

    public var description: String { message }
}
