import CLinux
import CStorCore
import FoundationEssentials
import Glibc

/// Something that keeps a block device in use: a reason never to detach it, log out of its
/// session or format it, named so that an operator knows what to stop.
enum DeviceHolder: Sendable, Equatable, CustomStringConvertible {
    /// Mounted in this process's mount namespace.
    case mount(path: String)
    /// Mounted in another mount namespace (a container's), found through one of its processes.
    case namespaceMount(pid: Int32, command: String, path: String)
    /// Open by a process (a workload using a raw block volume, a running mkfs or e2fsck).
    case process(pid: Int32, command: String)
    /// A process with files open (or its working directory) in a filesystem of the device.
    case fileUser(pid: Int32, command: String)
    /// Claimed by another kernel block device (dm-multipath, LVM, md).
    case kernel(holder: String, detail: String)
    /// Claimed exclusively (an O_EXCL open fails) by something this node cannot name.
    case unnamed

    var description: String {
        switch self {
        case .mount(let path): "mounted at \(path)"
        case .namespaceMount(let pid, let command, let path):
            "mounted at \(path) in the mount namespace of process \(pid) (\(command)), e.g. a pod's container"
        case .process(let pid, let command): "open by process \(pid) (\(command))"
        case .fileUser(let pid, let command): "process \(pid) (\(command)) has files open in it"
        case .kernel(let holder, let detail): "claimed by the kernel device \(holder)\(detail.isEmpty ? "" : " (\(detail))")"
        case .unnamed: "claimed exclusively by something this node cannot see (a mount in a mount namespace without a process, or the kernel)"
        }
    }

    /// dm-multipath has taken the disk: it must be used through the multipath device or released.
    var isMultipath: Bool {
        if case .kernel(_, let detail) = self { return detail.hasPrefix("dm-multipath") }
        return false
    }
}

/// Finds what holds a block device, from the kernel's own records: the mount table of every mount
/// namespace (through /proc/<pid>/mountinfo, one process per namespace), the open descriptors of
/// every process, the device's `holders` in sysfs, and finally an O_EXCL open, which fails while
/// any filesystem is mounted from the device anywhere or a program holds it exclusively.
struct DeviceHolders: Sendable {
    var proc = "/proc"
    var sysfs = "/sys"

    /// Everything that holds `device` (whose number is `number`, major:minor), or [] when it is free.
    /// `exclusiveOnly` leaves out processes that merely have it open while an exclusive open still
    /// succeeds (udev probing a new disk): enough before a format, which opens it exclusively
    /// itself; not before a detach, where a workload writing to a raw block volume counts.
    func holders(of device: String, number: String, table: MountTable, exclusiveOnly: Bool = false) -> [DeviceHolder] {
        var found: [DeviceHolder] = table.mounts(ofDevice: number).map { .mount(path: $0.mountPoint) }
        found += kernelHolders(number: number)
        let exclusive = !BlockDevice.canOpenExclusively(device)
        if !exclusiveOnly || exclusive || !found.isEmpty { found += processHolders(number: number) }
        if found.isEmpty && exclusive { found.append(.unnamed) }
        return found
    }

    /// Block devices stacked on this one (/sys/dev/block/M:m/holders), with what they are.
    func kernelHolders(number: String) -> [DeviceHolder] {
        let directory = "\(sysfs)/dev/block/\(number)/holders"
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
        return names.map { name in
            let dm = "\(sysfs)/block/\(name)/dm"
            let uuid = (try? KernelFile.read(dm + "/uuid"))?.trimmed ?? ""
            let dmName = (try? KernelFile.read(dm + "/name"))?.trimmed ?? ""
            let detail: String
            if uuid.hasPrefix("mpath-") {
                detail = "dm-multipath \(dmName)"
            } else if uuid.hasPrefix("LVM-") {
                detail = "LVM \(dmName)"
            } else {
                detail = dmName
            }
            return .kernel(holder: "/dev/\(name)", detail: detail)
        }
    }

    /// Processes with the device open, and mounts of it in other mount namespaces.
    func processHolders(number: String) -> [DeviceHolder] {
        let pids = processIDs()
        let copies = Dictionary(grouping: mountsInOtherNamespaces(number: number, pids: pids), by: \.pid)
        var found: [DeviceHolder] = []
        for pid in pids {
            for copy in copies[pid] ?? [] {
                found.append(.namespaceMount(pid: pid, command: copy.command, path: copy.mount.mountPoint))
            }
            let base = "\(proc)/\(pid)"
            if hasOpen(base: base, number: number) {
                found.append(.process(pid: pid, command: command(base)))
            }
        }
        return found
    }

    /// Mounts of the filesystem whose st_dev is `number` in other mount namespaces that an unmount
    /// in ours would leave in place: a pod's container holds its own copy of its volume (the
    /// runtime binds the target with private propagation), so the filesystem stays alive there.
    /// Copies that receive our unmounts (the host's and other containers' with mount propagation
    /// from the plugin's mounts: the same `shared:N` peer group, or `master:N` of a group that
    /// does, transitively) are not holders. Processes whose namespace cannot be read are skipped.
    func foreignMounts(number: String, own: MountTable) -> ForeignMounts {
        guard seesAllProcesses else {
            return .unknown("this process does not see the host's processes (run the node plugin with hostPID: true)")
        }
        let copies = mountsInOtherNamespaces(number: number, pids: processIDs())
        // The peer groups our unmounts reach: ours, then every group fed by one of them.
        var reached = Set(own.mounts(ofDevice: number).compactMap(\.sharedGroup))
        var grew = true
        while grew {
            grew = false
            for copy in copies {
                let fed = [copy.mount.sharedGroup, copy.mount.masterGroup].contains { $0.map(reached.contains) ?? false }
                if fed, let group = copy.mount.sharedGroup, reached.insert(group).inserted { grew = true }
            }
        }
        let holders = copies.filter { copy in
            ![copy.mount.sharedGroup, copy.mount.masterGroup].contains { $0.map(reached.contains) ?? false }
        }
        return .known(holders.map { DeviceHolder.namespaceMount(pid: $0.pid, command: $0.command, path: $0.mount.mountPoint) })
    }

    private func processIDs() -> [Int32] {
        ((try? FileManager.default.contentsOfDirectory(atPath: proc)) ?? []).compactMap(Int32.init).sorted()
    }

    /// The mounts of `number` seen by the first of `pids` in each mount namespace other than
    /// ours (one process per namespace; processes whose namespace cannot be read are skipped).
    private func mountsInOtherNamespaces(number: String, pids: [Int32]) -> [(pid: Int32, command: String, mount: MountEntry)] {
        let ownNamespace = (try? FileManager.default.destinationOfSymbolicLink(atPath: "\(proc)/self/ns/mnt")) ?? ""
        var seen: Set<String> = [ownNamespace]
        var copies: [(pid: Int32, command: String, mount: MountEntry)] = []
        for pid in pids {
            let base = "\(proc)/\(pid)"
            guard let namespace = try? FileManager.default.destinationOfSymbolicLink(atPath: base + "/ns/mnt"),
                seen.insert(namespace).inserted,
                let text = try? KernelFile.read(base + "/mountinfo")
            else { continue }
            for mount in MountTable(parsing: text).mounts(ofDevice: number) {
                copies.append((pid, command(base), mount))
            }
        }
        return copies
    }

    /// Whether /proc shows every process of the machine: this process is in the initial PID
    /// namespace (whose inode number is fixed, PROC_PID_INIT_INO).
    var seesAllProcesses: Bool {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "\(proc)/self/ns/pid")) == "pid:[4026531836]"
    }

    /// Processes with a file open, their working directory or their root in the filesystem whose
    /// st_dev is `number` (what makes an unmount fail with EBUSY).
    func filesystemUsers(number: String) -> [DeviceHolder] {
        let pids = processIDs()
        return pids.compactMap { pid -> DeviceHolder? in
            let base = "\(proc)/\(pid)"
            var links = ["cwd", "root"]
            links += ((try? FileManager.default.contentsOfDirectory(atPath: base + "/fd")) ?? []).map { "fd/\($0)" }
            for link in links {
                var info = stat()
                guard stat("\(base)/\(link)", &info) == 0 else { continue }
                if BlockDevice.format(rdev: UInt64(info.st_dev)) == number { return .fileUser(pid: pid, command: command(base)) }
            }
            return nil
        }
    }

    private func hasOpen(base: String, number: String) -> Bool {
        let descriptors = (try? FileManager.default.contentsOfDirectory(atPath: base + "/fd")) ?? []
        for descriptor in descriptors {
            var info = stat()
            // stat follows the link to the open object itself.
            guard stat("\(base)/fd/\(descriptor)", &info) == 0, (info.st_mode & S_IFMT) == S_IFBLK else { continue }
            if BlockDevice.format(rdev: UInt64(info.st_rdev)) == number { return true }
        }
        return false
    }

    private func command(_ base: String) -> String {
        let text = (try? KernelFile.read(base + "/comm")) ?? "?"
        return text.trimmed
    }
}

/// What other mount namespaces hold of a filesystem.
enum ForeignMounts: Sendable, Equatable {
    /// These mounts (none: nothing outside this namespace keeps the filesystem alive).
    case known([DeviceHolder])
    /// The scan cannot see every process; the reason says why.
    case unknown(String)
}

extension [DeviceHolder] {
    /// "mounted at /a; open by process 12 (dd)"
    var summary: String { map(\.description).joined(separator: "; ") }
}
