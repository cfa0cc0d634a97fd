/// What a list call selects and how it pages.
import CStorCore

public struct ListOptions: Sendable, Hashable {
    /// A label selector in the API server's syntax (see `LabelSelector` to build one).
    public var labelSelector: String?
    /// A field selector, e.g. `metadata.name=pvc-1`.
    public var fieldSelector: String?
    /// At most this many items per page; the rest is fetched with `continueToken`.
    public var limit: Int?
    /// The `continue` token of the previous page.
    public var continueToken: String?
    /// `resourceVersion` of the list ("0" allows a cached answer); nil reads the latest state.
    public var resourceVersion: String?

    public init(
        labelSelector: String? = nil, fieldSelector: String? = nil, limit: Int? = nil, continueToken: String? = nil,
        resourceVersion: String? = nil
    ) {
        self.labelSelector = labelSelector
        self.fieldSelector = fieldSelector
        self.limit = limit
        self.continueToken = continueToken
        self.resourceVersion = resourceVersion
    }
}
