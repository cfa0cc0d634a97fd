import Foundation
import Testing

@testable import cstor_node

@Suite("Parsers of kernel and tool output")
struct ParserTests {
    @Test("mountinfo lines parse into entries, octal escapes decoded, super options kept")
    func mountinfo() {
        let text = """
            22 27 0:21 / /proc rw,relatime - proc proc rw
            130 27 7:3 / /var/lib/kubelet/plugins/kubernetes.io/csi/cstor.csi.openebs.io/abc/globalmount rw,relatime - ext4 /dev/loop3 rw
            131 27 7:3 / /var/lib/kubelet/pods/p1/volumes/kubernetes.io~csi/pvc-1/mount ro,relatime shared:5 - ext4 /dev/loop3 ro,errors=remount-ro
            140 27 0:6 /sdb /var/lib/kubelet/plugins/kubernetes.io/csi/volumeDevices/publish/pvc-2/p2 rw - devtmpfs udev rw,size=1k
            141 27 8:16 / /mnt/with\\040space rw - xfs /dev/sdb rw,nouuid
            garbage line
            """
        let table = MountTable(parsing: text)
        #expect(table.entries.count == 5)
        let staging = table.mount(at: "/var/lib/kubelet/plugins/kubernetes.io/csi/cstor.csi.openebs.io/abc/globalmount")
        #expect(staging?.device == "7:3")
        #expect(staging?.fsType == "ext4")
        #expect(staging?.source == "/dev/loop3")
        #expect(staging?.isReadOnly == false)
        let published = table.mount(at: "/var/lib/kubelet/pods/p1/volumes/kubernetes.io~csi/pvc-1/mount")
        #expect(published?.isReadOnly == true)
        #expect(published?.superOptions.contains("errors=remount-ro") == true)
        #expect(table.mounts(ofDevice: "7:3").count == 2)
        #expect(table.mount(at: "/mnt/with space")?.fsType == "xfs")
        #expect(table.entries[3].root == "/sdb")
    }

    @Test("A filesystem remounted read-only by the kernel shows in the super options")
    func kernelReadOnly() {
        let table = MountTable(parsing: "130 27 7:3 / /stage rw,relatime - ext4 /dev/loop3 ro,errors=remount-ro")
        #expect(table.mount(at: "/stage")?.isReadOnly == true)
    }

    @Test(
        "libblkid probe values decide what a device holds",
        arguments: [
            (["TYPE": "ext4", "USAGE": "filesystem"], DeviceContents.filesystem("ext4")),
            (["PTTYPE": "dos"], .partitionTable("dos")),
            (["TYPE": "LVM2_member", "USAGE": "raid"], .other("raid (LVM2_member)")),
            (["TYPE": "swap", "USAGE": "other"], .other("other (swap)")),
            (["TYPE": "xfs"], .filesystem("xfs")),
            ([:], .other("an unnamed signature")),
        ])
    func blkid(values: [String: String], expected: DeviceContents) {
        #expect(FilesystemTools.contents(values) == expected)
    }
}

@Suite("Mount table cache")
struct MountTableCacheTests {
    @Test("The cached table follows mounts and unmounts at once", .enabled(if: getuid() == 0))
    func followsChanges() throws {
        let cache = MountTableCache()
        let directory = "/tmp/csi-cache-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(try cache.current().mount(at: directory) == nil)
        #expect(mount("none", directory, "tmpfs", 0, nil) == 0)
        #expect(try cache.current().mount(at: directory)?.fsType == "tmpfs", "seen right after mount(2) returned")
        #expect(umount(directory) == 0)
        #expect(try cache.current().mount(at: directory) == nil, "seen right after umount(2) returned")
        let direct = try MountTable.current()
        #expect(try cache.current() == direct)
    }
}
