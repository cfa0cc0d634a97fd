import CSITestSupport
import Foundation
import Testing

@testable import cstor_node

@Suite("Loop transport health")
struct LoopHealthTests {
    /// A stand-in for /sys/block: loopN/loop/backing_file holds the file behind loopN; a
    /// detached device has no loop/backing_file, as in the kernel.
    func back(_ sys: String, _ name: String, with file: String?) throws {
        let directory = "\(sys)/\(name)/loop"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        if let file {
            try Data((file + "\n").utf8).write(to: URL(fileURLWithPath: "\(directory)/backing_file"))
        } else {
            try? FileManager.default.removeItem(atPath: "\(directory)/backing_file")
        }
    }

    @Test("The health check remembers the volume's loop device, follows the volume when that device is reused for another file, and reports it detached when no device backs its file")
    func followsTheVolume() async throws {
        let directory = try TemporaryDirectory()
        let volumes = directory.file("volumes")
        let sys = directory.file("sys")
        try FileManager.default.createDirectory(atPath: volumes, withIntermediateDirectories: true)
        let file = "\(volumes)/pvc-1.img"
        #expect(FileManager.default.createFile(atPath: file, contents: nil))
        var attacher = LoopAttacher(allowedDirectories: [volumes])
        attacher.sysBlock = sys
        try back(sys, "loop0", with: "\(volumes)/other.img")
        try back(sys, "loop1", with: file)

        #expect(await attacher.health(.loop(file: file)) == .healthy)
        #expect(attacher.lastSeen.device(of: file) == "loop1", "found by the scan, remembered")

        try back(sys, "loop1", with: "\(volumes)/reused.img")
        try back(sys, "loop2", with: file + " (deleted)")
        #expect(await attacher.health(.loop(file: file)) == .healthy, "the remembered device is checked, not trusted")
        #expect(attacher.lastSeen.device(of: file) == "loop2")

        try back(sys, "loop2", with: nil)
        #expect(await attacher.health(.loop(file: file)) == .broken("the loop device is detached"))
    }
}
