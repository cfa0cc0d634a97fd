import CSITestSupport
import Foundation
import Testing

/// The failing disk (`FailingDisk`) stands in for device-mapper's dmerror, which our kernels lack:
/// it must refuse what a disk on the `error` target refuses (every read and write, EIO) and give
/// back exactly the bytes it had once it is back.
@Suite("Failing disk stand-in", .serialized, .enabled(if: runningAsRoot, "needs root for FUSE and loop devices"))
struct FailingDiskTests {
    @Test("A loop device on the failing disk fails every read and write with EIO while it fails, and reads the same bytes once it is back")
    func failsLikeTheErrorTarget() throws {
        let directory = try TemporaryDirectory(prefix: "failing-disk")
        let disk = try FailingDisk(mountPoint: directory.file("mnt"), backing: directory.file("bytes"), size: 16 << 20)
        defer { disk.close() }
        let loop = try Shell.check("losetup", ["--find", "--show", disk.file]).trimmingCharacters(in: .whitespacesAndNewlines)
        defer { _ = try? Shell.run("losetup", ["--detach", loop]) }
        #expect(try Shell.check("blockdev", ["--getsize64", loop]).hasPrefix("\(16 << 20)"))
        let pattern = directory.file("pattern")
        try Data((0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 * 7) }).write(to: URL(fileURLWithPath: pattern))
        try Shell.check("dd", ["if=\(pattern)", "of=\(loop)", "bs=64k", "seek=16", "oflag=direct", "status=none"])
        let written = try Shell.check("sh", ["-c", "dd if=\(loop) bs=64k skip=16 count=16 iflag=direct status=none | md5sum"])
        #expect(written == (try Shell.check("sh", ["-c", "md5sum < \(pattern)"])))

        disk.fail()
        let read = try Shell.run("dd", ["if=\(loop)", "of=/dev/null", "bs=64k", "count=1", "skip=16", "iflag=direct", "status=none"])
        #expect(read.status != 0 && read.output.contains("Input/output error"), "\(read.output)")
        let write = try Shell.run("dd", ["if=/dev/zero", "of=\(loop)", "bs=64k", "count=1", "seek=16", "oflag=direct", "status=none"])
        #expect(write.status != 0 && write.output.contains("Input/output error"), "\(write.output)")
        let flush = try Shell.run("sync", [loop])
        #expect(flush.status != 0, "a flush fails too: \(flush.output)")
        #expect(disk.failedRequests >= 3)

        disk.restore()
        #expect(try Shell.check("sh", ["-c", "dd if=\(loop) bs=64k skip=16 count=16 iflag=direct status=none | md5sum"]) == written, "the same bytes, the failed write never landed")
    }
}
