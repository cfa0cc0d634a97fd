import CLinux
import CStorCore
import FoundationEssentials
import Glibc

/// Traces of a filesystem that libblkid's primary-superblock probe does not see: ext4 backup
/// superblocks, XFS secondary superblocks, and any data in the first or last MiB. A device with
/// any of them is not "empty", whatever blkid says.
enum DeviceResidue {
    static let edge = 1 << 20

    /// A description of the first trace found, or nil when the device looks never written.
    static func find(_ device: String) throws -> String? {
        let fd = open(device, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw DeviceError(device: device, detail: "cannot open: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var size64: UInt64 = 0
        guard cstor_blkgetsize64(fd, &size64) == 0 else {
            throw DeviceError(device: device, detail: "BLKGETSIZE64 failed: \(String(cString: strerror(errno)))")
        }
        let size = Int64(clamping: size64)
        let reader = Reader(fd: fd, device: device, size: size)
        if try !reader.isZero(at: 0, count: Int(min(Int64(edge), size))) {
            return "data in its first MiB (a damaged or unknown filesystem)"
        }
        if size > Int64(edge), try !reader.isZero(at: size - Int64(edge), count: edge) {
            return "data in its last MiB (a damaged or unknown filesystem)"
        }
        for offset in ext4BackupSuperblocks(size: size) {
            if try reader.isExt4Superblock(at: offset.position, blockSize: offset.blockSize) {
                return "an ext4 backup superblock at byte \(offset.position) (a filesystem whose primary superblock is damaged: `e2fsck -b` recovers it)"
            }
        }
        for offset in xfsSecondarySuperblocks(size: size) {
            if try reader.isXFSSuperblock(at: offset.position, blockSize: offset.blockSize) {
                return "an XFS secondary superblock at byte \(offset.position) (a filesystem whose primary superblock is damaged: `xfs_repair` recovers it)"
            }
        }
        return nil
    }

    struct Candidate: Equatable {
        var position: Int64
        var blockSize: Int64
    }

    /// Where mke2fs puts backup superblocks (sparse_super: groups 1 and the powers of 3, 5 and
    /// 7), for every block size it uses, with its default of 8 × block size blocks per group.
    static func ext4BackupSuperblocks(size: Int64) -> [Candidate] {
        var candidates: [Candidate] = []
        for blockSize: Int64 in [1024, 2048, 4096, 65536] {
            let groupBytes = blockSize * 8 * blockSize
            var groups: Set<Int64> = [1]
            for base: Int64 in [3, 5, 7] {
                var group = base
                while group * groupBytes < size {
                    groups.insert(group)
                    group *= base
                }
            }
            for group in groups.sorted() {
                // With 1 KiB blocks the first group starts at block 1.
                let position = group * groupBytes + (blockSize == 1024 ? 1024 : 0)
                if position + 1024 <= size { candidates.append(Candidate(position: position, blockSize: blockSize)) }
            }
        }
        return candidates
    }

    /// Where mkfs.xfs puts the superblocks of allocation groups 1…3 and the last one, for the
    /// geometries its defaults choose (xfsprogs calc_default_ag_geometry: the device divided
    /// into 1 to 32 groups, rounded up; 1 TiB groups on big devices; 16 MiB at least).
    static func xfsSecondarySuperblocks(size: Int64) -> [Candidate] {
        var candidates: [Candidate] = []
        for blockSize: Int64 in [4096, 512, 1024, 2048, 8192, 16384, 32768, 65536] {
            let blocks = size / blockSize
            guard blocks > 0 else { continue }
            var groupSizes: Set<Int64> = [(1 << 40) / blockSize, (16 << 20) / blockSize]
            for shift in 0...5 {
                var agBlocks = blocks >> shift
                if blocks & ((1 << shift) - 1) != 0 { agBlocks += 1 }
                if agBlocks > 0 { groupSizes.insert(agBlocks) }
            }
            for agBlocks in groupSizes.sorted() {
                let count = blocks / agBlocks + (blocks % agBlocks != 0 ? 1 : 0)
                guard count > 1 else { continue }
                for group in Set([1, 2, 3, count - 1]).sorted() where group < count {
                    let position = group * agBlocks * blockSize
                    if position + 512 <= size { candidates.append(Candidate(position: position, blockSize: blockSize)) }
                }
            }
        }
        var seen: Set<Int64> = []
        return candidates.filter { seen.insert($0.position * 131072 + $0.blockSize).inserted }
    }

    private struct Reader {
        let fd: Int32
        let device: String
        let size: Int64

        func read(at offset: Int64, count: Int) throws -> [UInt8] {
            var buffer = [UInt8](repeating: 0, count: count)
            var done = 0
            while done < count {
                let got = buffer.withUnsafeMutableBytes { raw in
                    pread(fd, raw.baseAddress.map { $0 + done }, count - done, off_t(offset) + off_t(done))
                }
                if got < 0 {
                    if errno == EINTR { continue }
                    throw DeviceError(device: device, detail: "cannot read at byte \(offset): \(String(cString: strerror(errno)))")
                }
                if got == 0 { break }
                done += got
            }
            return Array(buffer.prefix(done))
        }

        func isZero(at offset: Int64, count: Int) throws -> Bool {
            try read(at: offset, count: count).allSatisfy { $0 == 0 }
        }

        /// s_magic 0xEF53 at 56 and s_log_block_size (at 24) matching the assumed block size.
        func isExt4Superblock(at offset: Int64, blockSize: Int64) throws -> Bool {
            let bytes = try read(at: offset, count: 1024)
            guard bytes.count == 1024, bytes[56] == 0x53, bytes[57] == 0xEF else { return false }
            let logBlockSize = UInt32(bytes[24]) | UInt32(bytes[25]) << 8 | UInt32(bytes[26]) << 16 | UInt32(bytes[27]) << 24
            return Int64(1024) << Int64(min(logBlockSize, 20)) == blockSize
        }

        /// "XFSB" and sb_blocksize (big-endian at 4) matching the assumed block size.
        func isXFSSuperblock(at offset: Int64, blockSize: Int64) throws -> Bool {
            let bytes = try read(at: offset, count: 8)
            guard bytes.count == 8, bytes[0..<4] == [0x58, 0x46, 0x53, 0x42] else { return false }
            let recorded = Int64(bytes[4]) << 24 | Int64(bytes[5]) << 16 | Int64(bytes[6]) << 8 | Int64(bytes[7])
            return recorded == blockSize
        }
    }
}
