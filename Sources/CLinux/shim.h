#ifndef CSTOR_CLINUX_SHIM_H
#define CSTOR_CLINUX_SHIM_H
// Kernel interfaces the node uses directly: loop devices and block-device ioctls. The request
// numbers built with _IOR/_IOW are not visible to Swift; small inline wrappers carry them.
#include <linux/loop.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
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

#endif
