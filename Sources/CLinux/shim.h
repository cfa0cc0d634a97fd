#ifndef CSTOR_CLINUX_SHIM_H
#define CSTOR_CLINUX_SHIM_H
// Kernel interfaces the node uses directly: loop devices, block-device ioctls and openat2. The
// request numbers built with _IOR/_IOW are not visible to Swift; small inline wrappers carry them.
#include <linux/loop.h>
#include <linux/fs.h>
#include <linux/openat2.h>
#include <sys/ioctl.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <errno.h>
#include <stdint.h>
#include <stddef.h>

static inline int cstor_blkgetsize64(int fd, uint64_t *size) {
    return ioctl(fd, BLKGETSIZE64, size);
}

static inline int cstor_ioctl_int(int fd, unsigned long request, int value) {
    return ioctl(fd, request, value);
}

static inline int cstor_loop_configure(int fd, struct loop_config *config) {
    return ioctl(fd, LOOP_CONFIGURE, config);
}

static inline int cstor_loop_get_status64(int fd, struct loop_info64 *info) {
    return ioctl(fd, LOOP_GET_STATUS64, info);
}

/// BLKGETDISKSEQ (Linux 5.15): the sequence number of this instance of the disk. 0 and errno
/// ENOTTY on older kernels.
static inline int cstor_blkgetdiskseq(int fd, uint64_t *seq) {
#ifdef BLKGETDISKSEQ
    return ioctl(fd, BLKGETDISKSEQ, seq);
#else
    errno = ENOTTY;
    return -1;
#endif
}

/// openat2(2) with `resolve` flags (RESOLVE_BENEATH, RESOLVE_NO_SYMLINKS, ...); -1 and ENOSYS
/// where the kernel (or a seccomp filter) lacks it.
static inline int cstor_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve) {
#ifdef SYS_openat2
    struct open_how how = { .flags = flags, .mode = mode, .resolve = resolve };
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
#else
    errno = ENOSYS;
    return -1;
#endif
}

// O_PATH and O_TMPFILE are _GNU_SOURCE names, which Swift's Glibc module does not show.
static const int CSTOR_O_PATH = __O_PATH;
static const int CSTOR_O_TMPFILE = __O_TMPFILE;

static const uint64_t CSTOR_RESOLVE_BENEATH = RESOLVE_BENEATH;
static const uint64_t CSTOR_RESOLVE_NO_SYMLINKS = RESOLVE_NO_SYMLINKS;
static const uint64_t CSTOR_RESOLVE_NO_MAGICLINKS = RESOLVE_NO_MAGICLINKS;


// Mounts placed beneath the top mount at a path (move_mount MOVE_MOUNT_BENEATH, Linux 6.5): the
// unmount of the top mount then reveals the new one in the same instant, so the path never shows
// the empty directory under it. Both return 0, or -1 with errno (EINVAL on older kernels).
// The new mount API's constants (linux/mount.h), under names of our own: including
// linux/mount.h would clash with glibc's sys/mount.h in Swift (MS_BIND twice).
#define CSTOR_MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#define CSTOR_MOVE_MOUNT_BENEATH 0x00000200
#define CSTOR_FSOPEN_CLOEXEC 0x00000001
#define CSTOR_FSCONFIG_SET_STRING 1
#define CSTOR_FSCONFIG_CMD_CREATE 6
#define CSTOR_FSMOUNT_CLOEXEC 0x00000001
#define CSTOR_MOUNT_ATTR_RDONLY 0x00000001
#define CSTOR_MOUNT_ATTR_NOSUID 0x00000002
#define CSTOR_MOUNT_ATTR_NODEV 0x00000004
#define CSTOR_MOUNT_ATTR_NOEXEC 0x00000008
#define CSTOR_MS_UNBINDABLE (1 << 17)
#define CSTOR_OPEN_TREE_CLONE 1
#define CSTOR_AT_EMPTY_PATH 0x1000
#define CSTOR_AT_FDCWD (-100)

struct cstor_mount_attr {
    uint64_t attr_set;
    uint64_t attr_clr;
    uint64_t propagation;
    uint64_t userns_fd;
};

static inline int cstor_move_beneath(int tree, const char *target) {
    int rc = (int)syscall(SYS_move_mount, tree, "", CSTOR_AT_FDCWD, target, CSTOR_MOVE_MOUNT_F_EMPTY_PATH | CSTOR_MOVE_MOUNT_BENEATH);
    int saved = errno;
    close(tree);
    errno = saved;
    return rc;
}

static inline int cstor_set_unbindable(int tree, uint64_t attributes) {
    struct cstor_mount_attr attr = {0};
    attr.attr_set = attributes;
    attr.propagation = CSTOR_MS_UNBINDABLE;
    return (int)syscall(SYS_mount_setattr, tree, "", CSTOR_AT_EMPTY_PATH, &attr, sizeof attr);
}

/// An empty, read-only, unbindable tmpfs (source `source`) beneath the top mount at `target`:
/// a bind mount of the path fails (EINVAL) while it is on top, so a container cannot start on it.
static inline int cstor_mount_guard_beneath(const char *source, const char *target) {
    int fs = (int)syscall(SYS_fsopen, "tmpfs", CSTOR_FSOPEN_CLOEXEC);
    if (fs < 0) return -1;
    if (syscall(SYS_fsconfig, fs, CSTOR_FSCONFIG_SET_STRING, "source", source, 0) < 0
        || syscall(SYS_fsconfig, fs, CSTOR_FSCONFIG_SET_STRING, "size", "4k", 0) < 0
        || syscall(SYS_fsconfig, fs, CSTOR_FSCONFIG_SET_STRING, "nr_inodes", "4", 0) < 0
        || syscall(SYS_fsconfig, fs, CSTOR_FSCONFIG_SET_STRING, "mode", "0", 0) < 0
        || syscall(SYS_fsconfig, fs, CSTOR_FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) {
        int saved = errno; close(fs); errno = saved; return -1;
    }
    int tree = (int)syscall(SYS_fsmount, fs, CSTOR_FSMOUNT_CLOEXEC,
        CSTOR_MOUNT_ATTR_RDONLY | CSTOR_MOUNT_ATTR_NOSUID | CSTOR_MOUNT_ATTR_NODEV | CSTOR_MOUNT_ATTR_NOEXEC);
    int saved = errno;
    close(fs);
    if (tree < 0) { errno = saved; return -1; }
    if (cstor_set_unbindable(tree, CSTOR_MOUNT_ATTR_RDONLY) < 0) { saved = errno; close(tree); errno = saved; return -1; }
    return cstor_move_beneath(tree, target);
}

/// A bind of `source` (a path, e.g. /proc/self/fd/N) beneath the top mount at `target`,
/// read-only when asked.
static inline int cstor_bind_beneath(const char *source, const char *target, int read_only) {
    int tree = (int)syscall(SYS_open_tree, CSTOR_AT_FDCWD, source, CSTOR_OPEN_TREE_CLONE | O_CLOEXEC);
    if (tree < 0) return -1;
    if (read_only) {
        struct cstor_mount_attr attr = {0};
        attr.attr_set = CSTOR_MOUNT_ATTR_RDONLY;
        if (syscall(SYS_mount_setattr, tree, "", CSTOR_AT_EMPTY_PATH, &attr, sizeof attr) < 0) {
            int saved = errno; close(tree); errno = saved; return -1;
        }
    }
    return cstor_move_beneath(tree, target);
}

#endif
