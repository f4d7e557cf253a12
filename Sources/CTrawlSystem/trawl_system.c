#include "trawl_system.h"

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
