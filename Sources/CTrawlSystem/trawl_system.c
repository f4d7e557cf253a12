#define _GNU_SOURCE
#include "trawl_system.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

int trawl_tune_malloc(void) {
#if defined(__GLIBC__)
    return mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024) && mallopt(M_TRIM_THRESHOLD, 32 * 1024 * 1024)
        && mallopt(M_ARENA_MAX, 2);
#else
    return 0;
#endif
}

int trawl_heap_usage(unsigned long long *in_use, unsigned long long *held) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
    struct mallinfo2 info = mallinfo2();
    *in_use = (unsigned long long)info.uordblks + (unsigned long long)info.hblkhd;
    *held = (unsigned long long)info.arena + (unsigned long long)info.hblkhd;
    return 1;
#else
    (void)in_use;
    (void)held;
    return 0;
#endif
}

int trawl_try_lock_byte(int fd, long long offset) {
#if defined(F_OFD_SETLK)
    struct flock lock = {0};
    lock.l_type = F_WRLCK;
    lock.l_whence = SEEK_SET;
    lock.l_start = (off_t)offset;
    lock.l_len = 1;
    return fcntl(fd, F_OFD_SETLK, &lock) == 0 ? 0 : errno;
#else
    return ENOTSUP;
#endif
}
