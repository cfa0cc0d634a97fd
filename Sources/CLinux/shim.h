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

#endif
