import Foundation

/// A certificate authority with a server certificate (for 127.0.0.1 and localhost) and a client
/// certificate, made with the `openssl` command in a temporary directory at test time (no key is
/// ever committed). Each call of `generate()` makes a new, unrelated CA, which is how a test gets a
/// "wrong CA".
public struct TestPKI: Sendable {
    public let directory: URL

    public var caCertificatePath: String { directory.appendingPathComponent("ca.crt").path }
    public var caKeyPath: String { directory.appendingPathComponent("ca.key").path }
    public var serverCertificatePath: String { directory.appendingPathComponent("server.crt").path }
    public var serverKeyPath: String { directory.appendingPathComponent("server.key").path }
    public var clientCertificatePath: String { directory.appendingPathComponent("client.crt").path }
    public var clientKeyPath: String { directory.appendingPathComponent("client.key").path }

    public var caPEM: [UInt8] { Self.bytes(caCertificatePath) }
    public var serverCertificatePEM: [UInt8] { Self.bytes(serverCertificatePath) }
    public var serverKeyPEM: [UInt8] { Self.bytes(serverKeyPath) }
    public var clientCertificatePEM: [UInt8] { Self.bytes(clientCertificatePath) }
    public var clientKeyPEM: [UInt8] { Self.bytes(clientKeyPath) }

    private static func bytes(_ path: String) -> [UInt8] {
        FileManager.default.contents(atPath: path).map(Array.init) ?? []
    }

    /// A new CA, server and client certificate (EC P-256, valid for two days).
    public static func generate(commonName: String = "cstor-csi test CA") throws -> TestPKI {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kube-pki-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let pki = TestPKI(directory: directory)
        let curve = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        try openssl(
            ["req", "-x509"] + curve + [
                "-keyout", pki.caKeyPath, "-out", pki.caCertificatePath, "-days", "2", "-subj", "/CN=\(commonName)",
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            ])
        try pki.issue(
            name: "server", subject: "/CN=kube-apiserver",
            extensions: "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n"
                + "keyUsage=critical,digitalSignature,keyEncipherment\n")
        try pki.issue(
            name: "client", subject: "/O=system:masters/CN=cstor-csi-test",
            extensions: "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n")
        return pki
    }

    private func issue(name: String, subject: String, extensions: String) throws {
        let key = directory.appendingPathComponent("\(name).key").path
        let request = directory.appendingPathComponent("\(name).csr").path
        let certificate = directory.appendingPathComponent("\(name).crt").path
        let extensionFile = directory.appendingPathComponent("\(name).ext").path
        try extensions.write(toFile: extensionFile, atomically: true, encoding: .utf8)
        try Self.openssl(
            ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", request,
             "-subj", subject])
        try Self.openssl(
            ["x509", "-req", "-in", request, "-CA", caCertificatePath, "-CAkey", caKeyPath,
             "-set_serial", String(UInt32.random(in: 1...UInt32.max)), "-days", "2", "-out", certificate, "-extfile", extensionFile])
    }

    private static func openssl(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["openssl"] + arguments
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let output = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw TestFailure("openssl \(arguments.prefix(2).joined(separator: " ")) failed: \(String(decoding: output, as: UTF8.self))")
        }
    }

    /// Removes the directory.
    public func remove() {
        try? FileManager.default.removeItem(at: directory)
    }
}
