import CStorCore
import FoundationEssentials
import Glibc

/// A Kubernetes resource quantity ("5Gi", "100m", "1e3", "1.5G"), parsed and printed exactly like
/// Kubernetes' `resource.Quantity`: the value is a decimal number (never a floating point one),
/// values finer than 1n are rounded up to 1n, binary quantities are capped at 2^63-1, and
/// `description` gives the canonical form the API server writes back ("1.5Gi" → "1536Mi",
/// "1000M" → "1G", "0.5" → "500m").
///
/// Equality, ordering and hashing compare values ("1Gi" == "1073741824"); the format only decides
/// how the value is printed. In JSON a quantity is a string; a JSON number is accepted too.
public struct Quantity: Sendable {
    /// How a quantity is printed; a parsed quantity keeps the kind of suffix it was written with.
    public enum Format: String, Sendable, CaseIterable {
        /// Powers of 1024: Ki, Mi, Gi, Ti, Pi, Ei.
        case binarySI = "BinarySI"
        /// Powers of 1000: n, u, m, (none), k, M, G, T, P, E.
        case decimalSI = "DecimalSI"
        /// `e<n>` after the number, e.g. `12e6`.
        case decimalExponent = "DecimalExponent"
    }

    /// The suffix kind used when the value is printed.
    public var format: Format
    /// The value is `(negative ? -1 : 1) × digits × 10^exponent`; `digits` has no leading zeros and
    /// is empty for zero.
    private var negative: Bool
    private var digits: [UInt8]
    private var exponent: Int

    private init(negative: Bool, digits: [UInt8], exponent: Int, format: Format) {
        let significant = Array(digits.drop(while: { $0 == 0 }))
        self.negative = significant.isEmpty ? false : negative
        self.digits = significant
        self.exponent = significant.isEmpty ? 0 : exponent
        self.format = format
    }

    /// An integer quantity, like Kubernetes' `NewQuantity(value, format)`.
    public init(_ value: Int64, format: Format = .decimalSI) {
        self.init(negative: value < 0, digits: Self.decimalDigits(of: value.magnitude), exponent: 0, format: format)
    }

    /// A size in bytes, printed with binary suffixes (1073741824 → "1Gi").
    public static func bytes(_ count: Int64) -> Quantity {
        Quantity(count, format: .binarySI)
    }

    /// `count` GiB, printed as "<count>Gi" (or larger units when exact).
    public static func gibibytes(_ count: Int64) throws(QuantityError) -> Quantity {
        let (bytes, overflow) = count.multipliedReportingOverflow(by: Self.gibibyte)
        guard !overflow else { throw .overflow("\(count)Gi") }
        return .bytes(bytes)
    }

    /// The smallest whole number of GiB that holds `bytes`, as a quantity ("5Gi"): cStor sizes are
    /// whole GiB while CSI sizes are bytes. Zero stays zero.
    public static func roundedUpToGiB(bytes: Int64) throws(QuantityError) -> Quantity {
        guard bytes >= 0 else { throw .negative("\(bytes)") }
        let whole = bytes / gibibyte + (bytes % gibibyte == 0 ? 0 : 1)
        return try gibibytes(whole)
    }

    /// This size rounded up to a whole number of GiB ("1.5G" → "2Gi").
    public func roundedUpToGiB() throws(QuantityError) -> Quantity {
        try Self.roundedUpToGiB(bytes: bytes)
    }

    /// The number of whole GiB that holds this size (rounded up).
    public var gibibytesRoundedUp: Int64 {
        get throws(QuantityError) {
            let size = try bytes
            return size / Self.gibibyte + (size % Self.gibibyte == 0 ? 0 : 1)
        }
    }

    /// The value rounded up, away from zero, to an integer (Kubernetes' `Value()`), or an error if
    /// it does not fit in an `Int64` (Kubernetes silently overflows there).
    public var value: Int64 {
        get throws(QuantityError) {
            guard let magnitude = integerMagnitudeRoundedUp(), magnitude <= UInt64(Int64.max) else {
                // -2^63 itself is representable, but no size is that small; treat it as overflow too.
                throw .overflow(description)
            }
            let value = Int64(magnitude)
            return negative ? -value : value
        }
    }

    /// The value as a size in bytes: `value`, but a negative size is an error.
    public var bytes: Int64 {
        get throws(QuantityError) {
            let size = try value
            guard size >= 0 else { throw .negative(description) }
            return size
        }
    }

    public var isZero: Bool { digits.isEmpty }

    /// -1, 0 or 1.
    public var sign: Int { digits.isEmpty ? 0 : (negative ? -1 : 1) }

    static let gibibyte: Int64 = 1 << 30
}

// MARK: - Parsing

extension Quantity {
    /// Parses a quantity exactly like Kubernetes' `resource.ParseQuantity`.
    ///
    /// Like Kubernetes, a number without digits ("." or "-") is zero, "1." and ".5" are numbers, and
    /// whitespace is an error. One deliberate difference: an exponent outside ±2^31 is rejected,
    /// where Kubernetes wraps it around in 32-bit arithmetic.
    public init(parsing text: String) throws(QuantityError) {
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty else { throw .formatWrong(text) }
        if text == "0" {
            self.init(negative: false, digits: [], exponent: 0, format: .decimalSI)
            return
        }
        let scanned = try Self.scan(bytes, text: text)
        guard let interpreted = Self.interpret(suffix: scanned.suffix) else { throw .suffix(text) }
        let (base, suffixExponent, format) = interpreted
        var digits = (scanned.numerator + scanned.denominator).map { $0 - UInt8(ascii: "0") }
        var exponent = -scanned.denominator.count
        if base == 10 {
            exponent += suffixExponent
        } else {
            for _ in 0..<(suffixExponent / 10) {
                digits = Self.multiply(digits, by: 1024)
            }
        }
        var quantity = Quantity(negative: !scanned.positive, digits: digits, exponent: exponent, format: format)
        quantity.roundUpToNano()
        if quantity.format == .binarySI {
            if Self.compareMagnitudes(quantity.digits, quantity.exponent, Self.maxInt64Digits, 0) > 0 {
                quantity.digits = Self.maxInt64Digits
                quantity.exponent = 0
            }
            if !quantity.isZero && Self.compareMagnitudes(quantity.digits, quantity.exponent, [1], 0) < 0 {
                // Below 1 a binary suffix only confuses, as in Kubernetes.
                quantity.format = .decimalSI
            }
        }
        self = quantity
    }

    private struct Scanned {
        var positive = true
        var numerator: [UInt8] = []
        var denominator: [UInt8] = []
        var suffix: [UInt8] = []
    }

    private static func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    /// Kubernetes' `parseQuantityString`: sign, number with optional fraction, suffix.
    private static func scan(_ bytes: [UInt8], text: String) throws(QuantityError) -> Scanned {
        var result = Scanned()
        var position = 0
        let end = bytes.count
        if position < end {
            if bytes[position] == UInt8(ascii: "-") {
                result.positive = false
                position += 1
            } else if bytes[position] == UInt8(ascii: "+") {
                position += 1
            }
        }
        while position < end, bytes[position] == UInt8(ascii: "0") {
            position += 1
        }
        if position >= end {
            result.numerator = Array("0".utf8)
            return result
        }
        let numeratorStart = position
        while position < end, isDigit(bytes[position]) {
            position += 1
        }
        result.numerator = Array(bytes[numeratorStart..<position])
        if result.numerator.isEmpty {
            result.numerator = Array("0".utf8)
        }
        if position >= end { return result }
        if bytes[position] == UInt8(ascii: ".") {
            position += 1
            let denominatorStart = position
            while position < end, isDigit(bytes[position]) {
                position += 1
            }
            result.denominator = Array(bytes[denominatorStart..<position])
            if position >= end { return result }
        }
        let suffixStart = position
        let suffixLetters = Set("eEinumkKMGTP".utf8)
        while position < end, suffixLetters.contains(bytes[position]) {
            position += 1
        }
        if position < end, bytes[position] == UInt8(ascii: "-") || bytes[position] == UInt8(ascii: "+") {
            position += 1
        }
        while position < end, isDigit(bytes[position]) {
            position += 1
        }
        guard position >= end else { throw .formatWrong(text) }
        result.suffix = Array(bytes[suffixStart..<end])
        return result
    }

    private static let decimalSuffixes: [String: Int] = [
        "n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18,
    ]
    private static let binarySuffixes: [String: Int] = ["Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60]

    /// The base, the exponent and the format a suffix stands for.
    private static func interpret(suffix bytes: [UInt8]) -> (base: Int, exponent: Int, format: Format)? {
        let suffix = String(decoding: bytes, as: UTF8.self)
        if let exponent = decimalSuffixes[suffix] { return (10, exponent, .decimalSI) }
        if let exponent = binarySuffixes[suffix] { return (2, exponent, .binarySI) }
        guard let first = bytes.first, bytes.count > 1, first == UInt8(ascii: "e") || first == UInt8(ascii: "E")
        else { return nil }
        guard let exponent = parseGoInteger(Array(bytes.dropFirst())), let narrow = Int32(exactly: exponent)
        else { return nil }
        return (10, Int(narrow), .decimalExponent)
    }

    /// Go's `strconv.ParseInt(s, 10, 64)`: an optional sign, then at least one digit.
    private static func parseGoInteger(_ bytes: [UInt8]) -> Int64? {
        var rest = bytes[...]
        var negative = false
        if let first = rest.first, first == UInt8(ascii: "-") || first == UInt8(ascii: "+") {
            negative = first == UInt8(ascii: "-")
            rest = rest.dropFirst()
        }
        guard !rest.isEmpty, rest.allSatisfy(isDigit) else { return nil }
        return Int64((negative ? "-" : "") + String(decoding: rest, as: UTF8.self))
    }

    /// Rounds a non-zero value finer than 10^-9 up (away from zero) to a multiple of 10^-9.
    private mutating func roundUpToNano() {
        guard !digits.isEmpty, exponent < -9 else { return }
        let dropped = -9 - exponent
        if dropped >= digits.count {
            digits = [1]
        } else {
            let kept = Array(digits[..<(digits.count - dropped)])
            let roundUp = digits[(digits.count - dropped)...].contains { $0 != 0 }
            digits = roundUp ? Self.increment(kept) : kept
        }
        exponent = -9
        digits = Array(digits.drop(while: { $0 == 0 }))
        if digits.isEmpty { digits = [1] }
    }
}

// MARK: - Printing

extension Quantity: CustomStringConvertible, LosslessStringConvertible {
    public init?(_ description: String) {
        guard let parsed = try? Quantity(parsing: description) else { return nil }
        self = parsed
    }

    /// The canonical form, as Kubernetes prints it: no fractional digits, the largest suffix that
    /// loses no precision, and the parsed suffix kind kept where it can be.
    public var description: String {
        if isZero { return "0" }
        var format = self.format
        if format == .binarySI {
            if Self.compareMagnitudes(digits, exponent, [1, 0, 2, 4], 0) < 0 || !isInteger {
                format = .decimalSI
            }
        }
        let sign = negative ? "-" : ""
        switch format {
        case .decimalSI, .decimalExponent:
            var (mantissa, power) = Self.trimmed(digits, exponent)
            while power % 3 != 0 {
                mantissa.append(0)
                power -= 1
            }
            let number = sign + Self.text(mantissa)
            if format == .decimalSI, let suffix = Self.decimalSuffixes.first(where: { $0.value == power })?.key {
                return number + suffix
            }
            // DecimalSI has no suffix beyond E (10^18) or below n: Kubernetes falls back to "e".
            return power == 0 ? number : number + "e\(power)"
        case .binarySI:
            var (integer, power) = Self.trimmed(digits, exponent)
            integer += Array(repeating: 0, count: power)
            var steps = 0
            while Self.compareMagnitudes(integer, 0, [1, 0, 2, 4], 0) >= 0 {
                let (quotient, remainder) = Self.divide(integer, by: 1024)
                guard remainder == 0 else { break }
                integer = quotient
                steps += 1
            }
            let suffixes = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"]
            return sign + Self.text(integer) + (steps < suffixes.count ? suffixes[steps] : "")
        }
    }

    private var isInteger: Bool {
        let (_, power) = Self.trimmed(digits, exponent)
        return power >= 0
    }
}

// MARK: - Comparison

extension Quantity: Equatable, Hashable, Comparable {
    public static func == (lhs: Quantity, rhs: Quantity) -> Bool {
        lhs.sign == rhs.sign && compareMagnitudes(lhs.digits, lhs.exponent, rhs.digits, rhs.exponent) == 0
    }

    public func hash(into hasher: inout Hasher) {
        let (mantissa, power) = Self.trimmed(digits, exponent)
        hasher.combine(sign)
        hasher.combine(mantissa)
        hasher.combine(power)
    }

    public static func < (lhs: Quantity, rhs: Quantity) -> Bool {
        if lhs.sign != rhs.sign { return lhs.sign < rhs.sign }
        let order = compareMagnitudes(lhs.digits, lhs.exponent, rhs.digits, rhs.exponent)
        return lhs.negative ? order > 0 : order < 0
    }
}

// MARK: - JSON

extension Quantity: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text: String
        if let string = try? container.decode(String.self) {
            // Kubernetes trims surrounding whitespace in JSON (but not in ParseQuantity).
            text = string.trimmed
        } else if let integer = try? container.decode(Int64.self) {
            text = String(integer)
        } else {
            text = String(try container.decode(Double.self))
        }
        do {
            self = try Quantity(parsing: text)
        } catch {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: error.description)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

// MARK: - Decimal digit arithmetic

extension Quantity {
    private static let maxInt64Digits = decimalDigits(of: UInt64(Int64.max))

    private static func decimalDigits(of value: UInt64) -> [UInt8] {
        guard value > 0 else { return [] }
        return String(value).utf8.map { $0 - UInt8(ascii: "0") }
    }

    private static func text(_ digits: [UInt8]) -> String {
        digits.isEmpty ? "0" : String(decoding: digits.map { $0 + UInt8(ascii: "0") }, as: UTF8.self)
    }

    /// Moves trailing zero digits into the exponent.
    private static func trimmed(_ digits: [UInt8], _ exponent: Int) -> ([UInt8], Int) {
        var mantissa = digits
        var power = exponent
        while let last = mantissa.last, last == 0 {
            mantissa.removeLast()
            power += 1
        }
        return (mantissa, power)
    }

    /// Compares `a × 10^ea` with `b × 10^eb` (both non-negative).
    private static func compareMagnitudes(_ a: [UInt8], _ ea: Int, _ b: [UInt8], _ eb: Int) -> Int {
        let (ma, pa) = trimmed(Array(a.drop(while: { $0 == 0 })), ea)
        let (mb, pb) = trimmed(Array(b.drop(while: { $0 == 0 })), eb)
        if ma.isEmpty || mb.isEmpty { return ma.isEmpty ? (mb.isEmpty ? 0 : -1) : 1 }
        // Position of the most significant digit decides first.
        let topA = ma.count + pa
        let topB = mb.count + pb
        if topA != topB { return topA < topB ? -1 : 1 }
        let length = max(ma.count, mb.count)
        for index in 0..<length {
            let da = index < ma.count ? ma[index] : 0
            let db = index < mb.count ? mb[index] : 0
            if da != db { return da < db ? -1 : 1 }
        }
        return 0
    }

    private static func multiply(_ digits: [UInt8], by factor: UInt64) -> [UInt8] {
        var result: [UInt8] = []
        var carry: UInt64 = 0
        for digit in digits.reversed() {
            let product = UInt64(digit) * factor + carry
            result.append(UInt8(product % 10))
            carry = product / 10
        }
        while carry > 0 {
            result.append(UInt8(carry % 10))
            carry /= 10
        }
        return Array(result.reversed().drop(while: { $0 == 0 }))
    }

    private static func divide(_ digits: [UInt8], by divisor: UInt64) -> ([UInt8], UInt64) {
        var quotient: [UInt8] = []
        var remainder: UInt64 = 0
        for digit in digits {
            let current = remainder * 10 + UInt64(digit)
            quotient.append(UInt8(current / divisor))
            remainder = current % divisor
        }
        return (Array(quotient.drop(while: { $0 == 0 })), remainder)
    }

    private static func increment(_ digits: [UInt8]) -> [UInt8] {
        var result = digits
        var index = result.count - 1
        while index >= 0 {
            if result[index] < 9 {
                result[index] += 1
                return result
            }
            result[index] = 0
            index -= 1
        }
        return [1] + result
    }

    /// The magnitude rounded up to an integer, or nil when it exceeds `UInt64`.
    private func integerMagnitudeRoundedUp() -> UInt64? {
        if digits.isEmpty { return 0 }
        var integerDigits: [UInt8]
        var fractionNonZero = false
        if exponent >= 0 {
            guard digits.count + exponent <= 20 else { return nil }
            integerDigits = digits + Array(repeating: 0, count: exponent)
        } else {
            let fractionLength = min(-exponent, digits.count)
            integerDigits = Array(digits[..<(digits.count - fractionLength)])
            fractionNonZero = digits[(digits.count - fractionLength)...].contains { $0 != 0 }
        }
        var magnitude: UInt64 = 0
        for digit in integerDigits {
            let (times, overflowTimes) = magnitude.multipliedReportingOverflow(by: 10)
            let (sum, overflowSum) = times.addingReportingOverflow(UInt64(digit))
            guard !overflowTimes, !overflowSum else { return nil }
            magnitude = sum
        }
        if fractionNonZero {
            let (sum, overflow) = magnitude.addingReportingOverflow(1)
            guard !overflow else { return nil }
            magnitude = sum
        }
        return magnitude
    }
}
