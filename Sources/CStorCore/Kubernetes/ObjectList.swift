/// One page of a list (or a whole list from `listAll`): the items, the resourceVersion a watch can
/// start from, and the token of the next page.
import CStorCore

public struct ObjectList<Object: KubernetesObject>: Sendable {
    public var items: [Object]
    /// The resourceVersion of the list: watch from here to see every later change.
    public var resourceVersion: String
    /// The `continue` token of the next page; nil on the last page.
    public var continueToken: String?
    /// How many items the following pages hold, when the server says so.
    public var remainingItemCount: Int?

    public init(items: [Object], resourceVersion: String, continueToken: String? = nil, remainingItemCount: Int? = nil) {
        self.items = items
        self.resourceVersion = resourceVersion
        self.continueToken = continueToken
        self.remainingItemCount = remainingItemCount
    }
}
