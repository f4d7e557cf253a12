#ifndef TRAWL_SYSTEM_H
#define TRAWL_SYSTEM_H

/// Tunes glibc's malloc for a process that streams large buffers through many threads; returns 1 when
/// applied (0 where malloc is not glibc's).
///
/// By default glibc raises its mmap threshold each time a large block is freed, so later buffers of a
/// few hundred kilobytes (decompressed pieces of objects, framed writes) come from the heap, whose top is
/// returned to the system only past a trim threshold that rises too; and each thread that allocates gets
/// an arena of its own. Both keep freed memory resident. A fixed mmap threshold of 128 KiB, a trim
/// threshold of 1 MiB and two arenas keep the resident size near what is in use.
int trawl_tune_malloc(void);

#endif
