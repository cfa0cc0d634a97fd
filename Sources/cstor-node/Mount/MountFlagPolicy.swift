import CStorCore

/// Which mount flags a StorageClass (or a volume capability) may ask for on a staging mount: the
/// ones that change how the volume's own filesystem is mounted, never what is mounted. libmount
/// turns `loop=`, `offset=` or `sizelimit=` into a loop device of its own (a second device the
/// node does not know about, which then blocks the unstage); `bind`, `remount` or `move` change
/// the operation; `sb=`, `journal_dev=`, `logdev=` or `rtdev=` bring in other superblocks or
/// devices. Everything not listed here is refused with InvalidArgument.
enum MountFlagPolicy {
    /// Flags without a value.
    static let plain: Set<String> = [
        // VFS
        "ro", "rw", "noatime", "atime", "relatime", "norelatime", "strictatime", "nostrictatime", "lazytime",
        "nolazytime", "nodiratime", "diratime", "noexec", "exec", "nosuid", "suid", "nodev", "dev", "sync",
        "async", "dirsync", "mand", "nomand", "iversion", "noiversion", "silent", "loud", "defaults",
        // both filesystems
        "discard", "nodiscard", "quota", "noquota", "usrquota", "grpquota", "prjquota", "usrjquota", "grpjquota",
        "dax", "acl", "noacl", "user_xattr", "nouser_xattr",
        // ext4
        "barrier", "nobarrier", "journal_checksum", "nojournal_checksum", "journal_async_commit", "delalloc",
        "nodelalloc", "auto_da_alloc", "noauto_da_alloc", "noinit_itable", "init_itable", "block_validity",
        "noblock_validity", "dioread_lock", "dioread_nolock", "i_version", "nombcache", "grpid", "bsdgroups",
        "nogrpid", "sysvgroups", "oldalloc", "orlov", "bh", "nobh", "minixdf", "bsddf", "debug",
        "nouid32", "inlinecrypt", "test_dummy_encryption", "noload", "norecovery",
        // xfs
        "nouuid", "inode32", "inode64", "largeio", "nolargeio", "swalloc", "wsync", "noalign", "attr2", "noattr2",
        "filestreams", "ikeep", "noikeep", "uquota", "gquota", "pquota", "uqnoenforce", "gqnoenforce",
        "pqnoenforce", "qnoenforce",
    ]

    /// Flags with a value (`name=value`).
    static let valued: Set<String> = [
        "errors", "commit", "data", "data_err", "stripe", "max_batch_time", "min_batch_time", "resgid", "resuid",
        "journal_ioprio", "init_itable", "inode_readahead_blks", "max_dir_size_kb", "jqfmt", "usrjquota",
        "grpjquota", "dax", "logbufs", "logbsize", "allocsize", "sunit", "swidth", "biosize", "context",
        "fscontext", "defcontext", "rootcontext", "lifetime",
    ]

    /// The first flag that may not be used, with the reason, or nil when all are allowed.
    static func problem(_ flags: [String]) -> String? {
        for flag in flags {
            let name = flag.split(separator: "=", maxSplits: 1).first.map(String.init) ?? flag
            let allowed = flag.contains("=") ? valued.contains(name) : plain.contains(name)
            if !allowed {
                return "mount flag \(PathRules.quoted(flag)) is not allowed: the node accepts only flags that change how the volume's own filesystem is mounted, not what is mounted (no loop=, offset=, sizelimit=, bind, remount, sb=, journal_dev=, logdev=, ...)"
            }
        }
        return nil
    }

    static func require(_ access: VolumeAccess) throws {
        guard case .mount(_, let flags) = access.kind, let problem = problem(flags) else { return }
        throw CSIError.invalidArgument(problem)
    }
}
