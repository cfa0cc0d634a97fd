/// What a watch selects and where it starts.
import CStorCore

public struct WatchOptions: Sendable, Hashable {
    public var labelSelector: String?
    public var fieldSelector: String?
    /// Start after this resourceVersion. nil lists first and reports every existing object as
    /// `added`, then the changes (what informers do).
    public var resourceVersion: String?
    /// Ask for BOOKMARK events, which move the resume point forward without a change.
    public var allowBookmarks: Bool
    /// How long the server keeps one watch connection open before the client reconnects.
    public var timeoutSeconds: Int

    public init(
        labelSelector: String? = nil, fieldSelector: String? = nil, resourceVersion: String? = nil,
        allowBookmarks: Bool = true, timeoutSeconds: Int = 290
    ) {
        self.labelSelector = labelSelector
        self.fieldSelector = fieldSelector
        self.resourceVersion = resourceVersion
        self.allowBookmarks = allowBookmarks
        self.timeoutSeconds = timeoutSeconds
    }
}
