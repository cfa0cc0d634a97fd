import CStorCore
import CStorKubernetes
import CStorModel
import Testing

@Suite("Endpoint parsing")
struct EndpointTests {
    @Test(
        "Accepted endpoint forms",
        arguments: [
            ("unix:///csi/csi.sock", Endpoint.unix(path: "/csi/csi.sock")),
            ("unix:/csi/csi.sock", .unix(path: "/csi/csi.sock")),
            ("/var/lib/kubelet/plugins/cstor.csi.openebs.io/csi.sock",
             .unix(path: "/var/lib/kubelet/plugins/cstor.csi.openebs.io/csi.sock")),
            ("tcp://127.0.0.1:10000", .tcp(host: "127.0.0.1", port: 10000)),
            ("tcp://[::1]:10000", .tcp(host: "::1", port: 10000)),
            ("tcp://localhost:1", .tcp(host: "localhost", port: 1)),
        ])
    func accepted(text: String, expected: Endpoint) throws {
        #expect(try Endpoint(parsing: text) == expected)
    }

    @Test(
        "Rejected endpoint forms",
        arguments: [
            "", "csi.sock", "unix://relative/csi.sock", "unix://", "http://host:1", "tcp://host", "tcp://host:0",
            "tcp://host:70000", "tcp://:80", "unix:///" + String(repeating: "a", count: 120),
        ])
    func rejected(text: String) {
        #expect(throws: Endpoint.ParseError.self) { try Endpoint(parsing: text) }
    }

    @Test("Endpoints print in the form they are parsed from")
    func description() throws {
        #expect(try Endpoint(parsing: "tcp://[::1]:9").description == "tcp://[::1]:9")
        #expect(try Endpoint(parsing: "/a/b.sock").description == "unix:///a/b.sock")
    }
}

@Suite("Driver name rules")
struct DriverNameTests {
    @Test("Valid names", arguments: ["cstor.csi.openebs.io", "a", "a-b_c.d9", String(repeating: "x", count: 63)])
    func valid(name: String) {
        #expect(DriverName.problem(name) == nil)
    }

    @Test("Invalid names", arguments: ["", "-a", "a.", "a b", "a/b", String(repeating: "x", count: 64), "é.io"])
    func invalid(name: String) {
        #expect(DriverName.problem(name) != nil)
    }
}
