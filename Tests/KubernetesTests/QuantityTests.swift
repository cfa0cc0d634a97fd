import CStorCore
import CStorKubernetes
import CStorModel
import Foundation
import Testing

/// Tables from the rules (and the test cases) of Kubernetes' resource.Quantity.
@Suite("Quantity")
struct QuantityTests {
    /// input → canonical form, format kept for printing.
    static let parseTable: [(String, String, Quantity.Format)] = [
        ("0", "0", .decimalSI), ("0n", "0", .decimalSI), ("0u", "0", .decimalSI), ("0m", "0", .decimalSI),
        ("0Ki", "0", .binarySI), ("0k", "0", .decimalSI), ("0Mi", "0", .binarySI), ("0M", "0", .decimalSI),
        ("0Gi", "0", .binarySI), ("0G", "0", .decimalSI), ("0Ti", "0", .binarySI), ("0T", "0", .decimalSI),
        ("1", "1", .decimalSI),
        // Binary suffixes
        ("1Ki", "1Ki", .binarySI), ("8Ki", "8Ki", .binarySI), ("7Mi", "7Mi", .binarySI), ("6Gi", "6Gi", .binarySI),
        ("5Ti", "5Ti", .binarySI), ("4Pi", "4Pi", .binarySI), ("3Ei", "3Ei", .binarySI), ("10Ti", "10Ti", .binarySI),
        ("100Ti", "100Ti", .binarySI),
        // Decimal suffixes
        ("5n", "5n", .decimalSI), ("4u", "4u", .decimalSI), ("3m", "3m", .decimalSI), ("9", "9", .decimalSI),
        ("8k", "8k", .decimalSI), ("50k", "50k", .decimalSI), ("7M", "7M", .decimalSI), ("6G", "6G", .decimalSI),
        ("5T", "5T", .decimalSI), ("40T", "40T", .decimalSI), ("300T", "300T", .decimalSI), ("2P", "2P", .decimalSI),
        ("1E", "1E", .decimalSI),
        // Decimal exponents
        ("1E-3", "1e-3", .decimalExponent), ("1e3", "1e3", .decimalExponent), ("1E6", "1e6", .decimalExponent),
        ("1e9", "1e9", .decimalExponent), ("1E12", "1e12", .decimalExponent), ("1e15", "1e15", .decimalExponent),
        ("1E18", "1e18", .decimalExponent),
        // Nonstandard but parsable
        ("1e14", "100e12", .decimalExponent), ("1e13", "10e12", .decimalExponent), ("100.035k", "100035", .decimalSI),
        // Things that look like floating point
        ("0.001", "1m", .decimalSI), ("0.0005k", "500m", .decimalSI), ("0.005", "5m", .decimalSI),
        ("0.05", "50m", .decimalSI), ("0.5", "500m", .decimalSI), ("0.00050k", "500m", .decimalSI),
        ("0.00500", "5m", .decimalSI), ("0.05000", "50m", .decimalSI), ("0.50000", "500m", .decimalSI),
        ("0.5e0", "500e-3", .decimalExponent), ("0.5e-1", "50e-3", .decimalExponent), ("0.5e-2", "5e-3", .decimalExponent),
        ("10.035M", "10035k", .decimalSI), ("1.2e3", "1200", .decimalExponent), ("1.3E+6", "1300e3", .decimalExponent),
        ("1.40e9", "1400e6", .decimalExponent), ("1.53E12", "1530e9", .decimalExponent), ("1.6e15", "1600e12", .decimalExponent),
        ("1.7E18", "1700e15", .decimalExponent), ("9.01", "9010m", .decimalSI), ("8.1k", "8100", .decimalSI),
        ("7.123456M", "7123456", .decimalSI), ("6.987654321G", "6987654321", .decimalSI), ("5.444T", "5444G", .decimalSI),
        ("40.1T", "40100G", .decimalSI), ("300.2T", "300200G", .decimalSI), ("2.5P", "2500T", .decimalSI),
        ("1.01E", "1010P", .decimalSI),
        // Things that saturate or round up to 1n
        ("3.001n", "4n", .decimalSI), ("1.1E-9", "2e-9", .decimalExponent), ("0.0000000001", "1n", .decimalSI),
        ("0.0000000005", "1n", .decimalSI), ("0.00000000050", "1n", .decimalSI), ("0.5e-9", "1e-9", .decimalExponent),
        ("0.9n", "1n", .decimalSI), ("0.00000012345", "124n", .decimalSI), ("0.00000012354", "124n", .decimalSI),
        ("9Ei", "9223372036854775807", .binarySI), ("9223372036854775807Ki", "9223372036854775807", .binarySI),
        ("12E", "12E", .decimalSI),
        // Fractional binary quantities
        ("100.035Ki", "102435840m", .binarySI), ("0.5Mi", "512Ki", .binarySI), ("0.05Gi", "53687091200m", .binarySI),
        ("0.025Ti", "27487790694400m", .binarySI), ("1.5Gi", "1536Mi", .binarySI),
        // Things written by trolls
        ("0.000000000001Ki", "2n", .decimalSI), (".001", "1m", .decimalSI), (".0001k", "100m", .decimalSI),
        ("1.", "1", .decimalSI), ("1.G", "1G", .decimalSI), (".", "0", .decimalSI), ("-", "0", .decimalSI),
    ]

    @Test("Parsing keeps the value and the suffix kind and prints the canonical form", arguments: parseTable)
    func parse(input: String, canonical: String, format: Quantity.Format) throws {
        let quantity = try Quantity(parsing: input)
        #expect(quantity.description == canonical, "\(input)")
        #expect(quantity.format == format, "\(input)")
        #expect(try Quantity(parsing: canonical) == quantity, "the canonical form of \(input) parses to the same value")
    }

    @Test("A negative quantity prints as the negated positive one", arguments: parseTable)
    func negative(input: String, canonical: String, format: Quantity.Format) throws {
        guard input != "-" else { return }
        let quantity = try Quantity(parsing: "-" + input)
        #expect(quantity.description == (canonical == "0" ? "0" : "-" + canonical), "-\(input)")
        #expect(try Quantity(parsing: "+" + input) == Quantity(parsing: input))
    }

    /// Non-canonical spellings → the canonical form Kubernetes writes back.
    static let canonicalTable: [(String, String)] = [
        ("1024Mi", "1Gi"), ("307200Ki", "300Mi"), ("1025024Mi", "1001Gi"), ("1024Gi", "1Ti"), ("6144", "6144"),
        ("1000M", "1G"), ("0.001T", "1G"), ("1000u", "1m"), ("1.08", "1080m"), ("1080000000n", "1080m"),
        ("1000E", "1e21"), ("5000E", "5e21"), ("1000000E", "1e24"), (".001e12", "1e9"), ("0.001e0", "1e-3"),
        ("1000e-12", "1e-9"), ("00", "0"), ("1025", "1025"), ("1234567M", "1234567M"), ("3k", "3k"),
        (".001Ki", "1024m"), (".000001Ki", "1024u"), (".000000001Ki", "1024n"), (".000000000001Ki", "2n"),
        ("5368709120", "5368709120"), ("1.5Gi", "1536Mi"), ("2048Ki", "2Mi"),
    ]

    @Test("Non-canonical forms are written back in canonical form", arguments: canonicalTable)
    func canonical(input: String, expected: String) throws {
        #expect(try Quantity(parsing: input).description == expected)
    }

    static let invalid: [String] = [
        "", "1.1.M", "1+1.0M", "0.1mi", "0.1am", "aoeu", ".5i", "1i", "-3.01i", "-3.01e-", " 1", "1 ", "1e", "5GB",
        "1Gi3", "1e3.5", "1K",
    ]

    @Test("Malformed quantities are refused with Kubernetes' message", arguments: invalid)
    func refused(input: String) {
        #expect(throws: QuantityError.self) { try Quantity(parsing: input) }
    }

    @Test("Errors name the text and the rule it breaks")
    func errorMessages() {
        #expect(throws: QuantityError.formatWrong("1 ")) { try Quantity(parsing: "1 ") }
        #expect(throws: QuantityError.formatWrong("5GB")) { try Quantity(parsing: "5GB") }
        #expect(throws: QuantityError.suffix("1K")) { try Quantity(parsing: "1K") }
        let message = QuantityError.suffix("1K").description
        #expect(message.contains("\"1K\"") && message.contains("suffix"))
    }

    @Test("An exponent beyond 32 bits is refused (Kubernetes would wrap it around)")
    func hugeExponent() throws {
        #expect(throws: QuantityError.self) { try Quantity(parsing: "1e99999999999") }
        #expect(try Quantity(parsing: "1e2000000000").description == "100e1999999998")
    }

    static let bytesTable: [(String, Int64)] = [
        ("0", 0), ("1", 1), ("1Ki", 1024), ("1Gi", 1 << 30), ("5Gi", 5 << 30), ("1G", 1_000_000_000), ("1.5", 2),
        ("100m", 1), ("1n", 1), ("1E", 1_000_000_000_000_000_000), ("8Ei", Int64.max), ("9223372036854775807", Int64.max),
        ("1.5Gi", 1_610_612_736), ("1e3", 1000),
    ]

    @Test("bytes is the value rounded up to an integer", arguments: bytesTable)
    func bytes(input: String, expected: Int64) throws {
        #expect(try Quantity(parsing: input).bytes == expected)
    }

    @Test("bytes reports overflow and negative sizes instead of wrapping", arguments: ["9223372036854775808", "10E", "1e19", "-1", "-1Gi"])
    func bytesFailures(input: String) throws {
        let quantity = try Quantity(parsing: input)
        #expect(throws: QuantityError.self) { try quantity.bytes }
    }

    static let gibTable: [(Int64, String)] = [
        (0, "0"), (1, "1Gi"), (1 << 30, "1Gi"), ((1 << 30) + 1, "2Gi"), ((5 << 30) - 1, "5Gi"), (5 << 30, "5Gi"),
        (1_500_000_000, "2Gi"), (10_737_418_240, "10Gi"), (1 << 40, "1Ti"), ((1 << 40) + 1, "1025Gi"),
    ]

    @Test("Volume sizes round up to whole GiB", arguments: gibTable)
    func roundedUpToGiB(bytes: Int64, expected: String) throws {
        let size = try Quantity.roundedUpToGiB(bytes: bytes)
        #expect(size.description == expected)
        #expect(try size.bytes >= bytes)
        #expect(try size.bytes % (1 << 30) == 0)
    }

    @Test("Rounding a quantity up to GiB works on its byte value")
    func quantityRoundedUp() throws {
        #expect(try Quantity(parsing: "1500M").roundedUpToGiB().description == "2Gi")
        #expect(try Quantity(parsing: "5Gi").roundedUpToGiB().description == "5Gi")
        #expect(try Quantity(parsing: "5Gi").gibibytesRoundedUp == 5)
        #expect(try Quantity(parsing: "5.1Gi").gibibytesRoundedUp == 6)
    }

    @Test("Rounding up to GiB fails on sizes that do not fit, instead of wrapping")
    func roundingOverflow() {
        #expect(throws: QuantityError.self) { try Quantity.roundedUpToGiB(bytes: Int64.max) }
        #expect(throws: QuantityError.self) { try Quantity.roundedUpToGiB(bytes: -1) }
        #expect(throws: QuantityError.self) { try Quantity.gibibytes(Int64.max / 1024) }
    }

    @Test("Quantities compare and hash by value, whatever the spelling")
    func comparison() throws {
        let gibibyte = try Quantity(parsing: "1Gi")
        #expect(gibibyte == (try Quantity(parsing: "1073741824")))
        #expect(gibibyte == (try Quantity(parsing: "1024Mi")))
        #expect(gibibyte < (try Quantity(parsing: "1.1G")))
        #expect(try Quantity(parsing: "-1") < Quantity(parsing: "0"))
        #expect(try Quantity(parsing: "-2Gi") < Quantity(parsing: "-1Gi"))
        #expect(try Quantity(parsing: "10000T") > Quantity(parsing: "100Gi"))
        #expect(try Quantity(parsing: "100m") > Quantity(parsing: "50m"))
        let set: Set<Quantity> = [gibibyte, try Quantity(parsing: "1024Mi"), try Quantity(parsing: "1073741824")]
        #expect(set.count == 1)
    }

    @Test("Integer constructors print like NewQuantity")
    func constructors() throws {
        #expect(Quantity(1024, format: .binarySI).description == "1Ki")
        #expect(Quantity(1_000, format: .decimalSI).description == "1k")
        #expect(Quantity(1_234_000, format: .decimalSI).description == "1234k")
        #expect(Quantity(1_000_000, format: .decimalExponent).description == "1e6")
        #expect(Quantity.bytes(5 << 30).description == "5Gi")
        #expect(Quantity.bytes(1023).description == "1023")
        #expect(try Quantity.gibibytes(3).description == "3Gi")
    }

    @Test("In JSON a quantity is a canonical string; strings, numbers and padded strings decode")
    func json() throws {
        struct Holder: Codable { var size: Quantity }
        let decoded = try JSONDecoder().decode([Holder].self, from: Data(#"[{"size":"1024Mi"},{"size":5368709120},{"size":" 1 "}]"#.utf8))
        #expect(decoded.map(\.size.description) == ["1Gi", "5368709120", "1"])
        #expect(decoded[1].size == (try Quantity(parsing: "5Gi")))
        let encoded = try JSONEncoder().encode(Holder(size: try Quantity(parsing: "1.5Gi")))
        #expect(String(decoding: encoded, as: UTF8.self) == #"{"size":"1536Mi"}"#)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(Holder.self, from: Data(#"{"size":"5GB"}"#.utf8)) }
    }
}
