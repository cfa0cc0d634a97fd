import Foundation
import Synchronization

/// A disk that can fail and come back, for tests on a kernel without device-mapper (our machines'
/// kernels have no `dm-mod`, so xfstests' dmerror — a linear table swapped for the `error` target
/// and back — cannot run here). It is one file, `disk.img`, in a FUSE filesystem this process
/// serves from a thread (the kernel's FUSE protocol over `/dev/fuse`, no library); its bytes live
/// in an ordinary file beside it. A loop device attached from `file` is then a disk whose I/O
/// this test controls: after `fail()` every read, write and flush of it ends in EIO, as
/// with dm-error's table or an iSCSI disk past its replacement timeout (the device node stays, its
/// I/O fails); after `restore()` it reads and writes the same bytes again. The file is opened with
/// FOPEN_DIRECT_IO, so no page cache of the FUSE file answers for the disk while it fails.
public final class FailingDisk: @unchecked Sendable {
    /// Where the FUSE filesystem is mounted; `file` is below it.
    public let mountPoint: String
    /// The disk: what a loop device is attached from.
    public var file: String { mountPoint + "/disk.img" }
    /// Where its bytes live.
    public let backing: String
    public let size: Int64
    private let failing = Atomic<Bool>(false)
    private let stopping = Atomic<Bool>(false)
    private let device: Int32
    private let backingDescriptor: Int32
    private let finished = DispatchSemaphore(value: 0)
    private let failures = Atomic<Int>(0)

    /// Mounts the filesystem at `mountPoint` (created) with a zeroed disk of `size` bytes stored in `backing`.
    public init(mountPoint: String, backing: String, size: Int64) throws {
        self.mountPoint = mountPoint
        self.backing = backing
        self.size = size
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        backingDescriptor = open(backing, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard backingDescriptor >= 0, ftruncate(backingDescriptor, off_t(size)) == 0 else {
            throw TestFailure("cannot create \(backing): \(String(cString: strerror(errno)))")
        }
        device = open("/dev/fuse", O_RDWR | O_CLOEXEC)
        guard device >= 0 else {
            Glibc.close(backingDescriptor)
            throw TestFailure("cannot open /dev/fuse: \(String(cString: strerror(errno)))")
        }
        let options = "fd=\(device),rootmode=40000,user_id=0,group_id=0,allow_other"
        guard mount("cstor-test-disk", mountPoint, "fuse.cstor-test-disk", UInt(MS_NOSUID | MS_NODEV), options) == 0 else {
            let reason = String(cString: strerror(errno))
            Glibc.close(device)
            Glibc.close(backingDescriptor)
            throw TestFailure("cannot mount the failing disk's FUSE filesystem at \(mountPoint): \(reason)")
        }
        let thread = Thread { [self] in serve() }
        thread.name = "failing-disk"
        thread.start()
    }

    /// From now on every I/O of the disk fails with EIO (dm-error's table).
    public func fail() { failing.store(true, ordering: .sequentiallyConsistent) }

    /// The disk is back: I/O reaches its bytes again (dm-linear's table again).
    public func restore() { failing.store(false, ordering: .sequentiallyConsistent) }

    /// How many I/O requests were failed so far.
    public var failedRequests: Int { failures.load(ordering: .sequentiallyConsistent) }

    /// Takes the filesystem off (lazily) and ends the connection: anything still using the disk
    /// gets ENOTCONN from then on, nothing waits for an answer. Idempotent.
    public func close() {
        guard !stopping.exchange(true, ordering: .sequentiallyConsistent) else { return }
        umount2(mountPoint, Int32(MNT_DETACH))
        finished.wait()
        Glibc.close(device)
        Glibc.close(backingDescriptor)
    }

    // MARK: - The FUSE protocol (include/uapi/linux/fuse.h, version 7.31 answered)

    private enum Opcode: UInt32 {
        case lookup = 1, forget = 2, getattr = 3, setattr = 4, open = 14, read = 15, write = 16, statfs = 17,
            release = 18, fsync = 20, flush = 25, initialize = 26, opendir = 27, readdir = 28, releasedir = 29,
            access = 34, interrupt = 36, destroy = 38, batchForget = 42
    }

    private static let rootNode: UInt64 = 1
    private static let diskNode: UInt64 = 2
    private static let directIO: UInt32 = 1 << 0  // FOPEN_DIRECT_IO
    private static let bigWrites: UInt32 = 1 << 5  // FUSE_BIG_WRITES
    private static let maxWrite = 128 << 10

    private func serve() {
        defer { finished.signal() }
        var buffer = [UInt8](repeating: 0, count: Self.maxWrite + 64 << 10)
        while !stopping.load(ordering: .sequentiallyConsistent) {
            var ready = pollfd(fd: device, events: Int16(POLLIN), revents: 0)
            guard poll(&ready, 1, 100) > 0 else { continue }
            let count = buffer.withUnsafeMutableBytes { read(device, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR || errno == EAGAIN || errno == ENOENT { continue }
                return  // ENODEV: unmounted
            }
            guard count >= 40 else { continue }
            let request = Request(bytes: Array(buffer[0..<count]))
            handle(request)
        }
    }

    private struct Request {
        let bytes: [UInt8]
        var opcode: UInt32 { u32(4) }
        var unique: UInt64 { u64(8) }
        var node: UInt64 { u64(16) }
        /// A field of the body (after the 40-byte header).
        func u32(body offset: Int) -> UInt32 { u32(40 + offset) }
        func u64(body offset: Int) -> UInt64 { u64(40 + offset) }
        var body: ArraySlice<UInt8> { bytes[40...] }
        func u32(_ offset: Int) -> UInt32 {
            guard offset + 4 <= bytes.count else { return 0 }
            return bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt32.self) }
        }
        func u64(_ offset: Int) -> UInt64 {
            guard offset + 8 <= bytes.count else { return 0 }
            return bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt64.self) }
        }
    }

    /// Little-endian encoder of answers.
    private struct Reply {
        var bytes: [UInt8] = []
        mutating func u16(_ value: UInt16) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
        mutating func u32(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
        mutating func u64(_ value: UInt64) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
        mutating func zeros(_ count: Int) { bytes.append(contentsOf: repeatElement(0, count: count)) }
    }

    private func answer(_ request: Request, error: Int32 = 0, _ payload: [UInt8] = []) {
        var out = Reply()
        out.u32(UInt32(16 + (error == 0 ? payload.count : 0)))
        out.u32(UInt32(bitPattern: error == 0 ? 0 : -error))
        out.u64(request.unique)
        if error == 0 { out.bytes += payload }
        // ENOENT: the request was interrupted meanwhile; nothing waits for it any more.
        _ = out.bytes.withUnsafeBytes { write(device, $0.baseAddress, $0.count) }
    }

    /// struct fuse_attr of a node.
    private func attributes(_ node: UInt64) -> Reply {
        var attr = Reply()
        let isDisk = node == Self.diskNode
        attr.u64(node)
        attr.u64(isDisk ? UInt64(size) : 0)
        attr.u64(isDisk ? UInt64(size) / 512 : 0)
        attr.zeros(3 * 8 + 3 * 4)  // times
        attr.u32(isDisk ? UInt32(S_IFREG) | 0o600 : UInt32(S_IFDIR) | 0o755)
        attr.u32(isDisk ? 1 : 2)
        attr.zeros(3 * 4)  // uid, gid, rdev
        attr.u32(4096)
        attr.u32(0)
        return attr
    }

    private func attributeAnswer(_ node: UInt64) -> [UInt8] {
        var out = Reply()
        out.u64(1)
        out.u32(0)
        out.u32(0)
        return out.bytes + attributes(node).bytes
    }

    private func handle(_ request: Request) {
        // ENOSYS for the rest (fallocate among them: the loop device then has no discard).
        guard let opcode = Opcode(rawValue: request.opcode) else { return answer(request, error: ENOSYS) }
        let failingNow = failing.load(ordering: .sequentiallyConsistent)
        switch opcode {
        case .initialize:
            var out = Reply()
            out.u32(7)
            out.u32(min(31, request.u32(body: 4)))
            out.u32(request.u32(body: 8))  // max_readahead
            out.u32(request.u32(body: 12) & Self.bigWrites)
            out.u16(16)  // max_background
            out.u16(12)  // congestion_threshold
            out.u32(UInt32(Self.maxWrite))
            out.u32(1)  // time_gran
            out.zeros(2 + 2 + 4 + 7 * 4)
            answer(request, out.bytes)
        case .lookup:
            let name = String(decoding: request.body.prefix { $0 != 0 }, as: UTF8.self)
            guard request.node == Self.rootNode, name == "disk.img" else { return answer(request, error: ENOENT) }
            var out = Reply()
            out.u64(Self.diskNode)
            out.u64(0)
            out.u64(1)
            out.u64(1)
            out.u32(0)
            out.u32(0)
            answer(request, out.bytes + attributes(Self.diskNode).bytes)
        case .getattr, .setattr:
            // No attribute changes (size, times, owner): the answer is the attributes as they are.
            answer(request, attributeAnswer(request.node))
        case .open:
            guard request.node == Self.diskNode else { return answer(request, error: EISDIR) }
            var out = Reply()
            out.u64(0)
            out.u32(Self.directIO)
            out.u32(0)
            answer(request, out.bytes)
        case .opendir:
            var out = Reply()
            out.zeros(16)
            answer(request, out.bytes)
        case .readdir:
            answer(request, [])  // an empty listing: nothing lists it
        case .read:
            if failingNow { return failed(request) }
            let offset = Int64(bitPattern: request.u64(body: 8))
            let length = min(Int(request.u32(body: 16)), Self.maxWrite)
            var data = [UInt8](repeating: 0, count: length)
            let got = data.withUnsafeMutableBytes { pread(backingDescriptor, $0.baseAddress, length, off_t(offset)) }
            guard got >= 0 else { return answer(request, error: errno) }
            answer(request, Array(data[0..<got]))
        case .write:
            if failingNow { return failed(request) }
            let offset = Int64(bitPattern: request.u64(body: 8))
            let length = Int(request.u32(body: 16))
            let start = 40 + 40
            guard start + length <= request.bytes.count else { return answer(request, error: EINVAL) }
            let wrote = request.bytes.withUnsafeBytes {
                pwrite(backingDescriptor, $0.baseAddress! + start, length, off_t(offset))
            }
            guard wrote >= 0 else { return answer(request, error: errno) }
            var out = Reply()
            out.u32(UInt32(wrote))
            out.u32(0)
            answer(request, out.bytes)
        case .fsync:
            if failingNow { return failed(request) }
            answer(request, error: fsync(backingDescriptor) == 0 ? 0 : errno)
        case .statfs:
            var out = Reply()
            out.u64(UInt64(size) / 4096)
            out.zeros(4 * 8)
            out.u32(4096)
            out.u32(255)
            out.u32(4096)
            out.zeros(4 + 6 * 4)
            answer(request, out.bytes)
        case .release, .releasedir, .flush, .access:
            answer(request)
        case .forget, .batchForget, .interrupt:
            break  // no answer
        case .destroy:
            answer(request)
        }
    }

    private func failed(_ request: Request) {
        failures.add(1, ordering: .sequentiallyConsistent)
        answer(request, error: EIO)
    }
}
