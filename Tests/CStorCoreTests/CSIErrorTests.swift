import CStorCore
import CStorKubernetes
import CStorModel
import GRPCCore
import Testing

@Suite("CSI error mapping")
struct CSIErrorTests {
    struct Lower: CSIErrorMappable {
        var csiError: CSIError { .unavailable("target unreachable") }
    }

    struct Opaque: Error {}

    @Test("Errors map to the code a client sees, never to an empty UNKNOWN")
    func mapping() {
        #expect(CSIError.from(CSIError.notFound("x")) == .notFound("x"))
        #expect(CSIError.from(Lower()) == .unavailable("target unreachable"))
        #expect(CSIError.from(RPCError(code: .aborted, message: "busy")) == .aborted("busy"))
        #expect(CSIError.from(CancellationError()).code == .aborted)
        let opaque = CSIError.from(Opaque())
        #expect(opaque.code == .internalError)
        #expect(!opaque.message.isEmpty)
    }

    @Test("grpc-swift sends the CSI error's code and message")
    func conversion() {
        let error = RPCError(CSIError.failedPrecondition("volume is attached to node-b"))
        #expect(error.code == .failedPrecondition)
        #expect(error.message == "volume is attached to node-b")
    }

    @Test("A prefix keeps the code")
    func prefix() {
        let error = CSIError.outOfRange("too big").prefixed("pvc-1")
        #expect(error == .outOfRange("pvc-1: too big"))
    }
}
