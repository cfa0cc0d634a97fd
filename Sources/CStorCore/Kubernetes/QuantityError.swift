import CStorCore
import FoundationEssentials

/// Why a text is not a Kubernetes quantity, or why a quantity does not fit where it is used. The
/// parse messages are the ones Kubernetes' `resource.ParseQuantity` gives.
public enum QuantityError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The text does not have the shape `<number><suffix>`.
    case formatWrong(String)
    /// The number part cannot be read.
    case numeric(String)
    /// The suffix is none of the binary, decimal or exponent suffixes.
    case suffix(String)
    /// The value does not fit in a signed 64-bit integer.
    case overflow(String)
    /// A size was negative.
    case negative(String)

    public var description: String {
        switch self {
        case .formatWrong(let text):
            return "quantity \"\(text)\": quantities must match the regular expression "
                + "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
        case .numeric(let text):
            return "quantity \"\(text)\": unable to parse numeric part of quantity"
        case .suffix(let text):
            return "quantity \"\(text)\": unable to parse quantity's suffix"
        case .overflow(let text):
            return "quantity \"\(text)\": the value does not fit in a 64-bit integer"
        case .negative(let text):
            return "quantity \"\(text)\": a size must not be negative"
        }
    }
}
