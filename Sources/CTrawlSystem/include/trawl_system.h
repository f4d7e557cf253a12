#ifndef TRAWL_SYSTEM_H
#define TRAWL_SYSTEM_H

/// Tunes glibc's malloc for a process that streams large buffers through many threads; returns 1 when
/// applied (0 where malloc is not glibc's).
///
/// By default glibc raises its mmap threshold each time a large block is freed, and the trim threshold
/// with it, and each thread that allocates gets an arena of its own: freed memory stays resident. Fixed
/// thresholds and two arenas keep it near what is in use. The mmap threshold is 32 MiB (glibc's maximum):
/// blocks below it (decompressed pieces, frame buffers, a row group's decoded Parquet columns) come from
/// the heap and are reused, where a fresh mapping would fault in every page again (a Parquet replay spent
/// a third of its time in page faults with a 512 KiB threshold); the heap's top is returned past 32 MiB.
int trawl_tune_malloc(void);

/// What malloc holds, summed over its arenas (glibc 2.33's `mallinfo2`): `in_use`, the bytes of blocks
/// allocated and not yet freed (what a leak makes grow), and `held`, the bytes malloc has from the system,
/// free blocks and each arena's top included. Returns 1 when measured, 0 where malloc is not glibc's (both
/// left as they were).
///
/// The process's RSS says neither: it counts the executable's and libraries' pages, and freed memory that
/// malloc keeps for reuse (`trawl_tune_malloc` lets a second arena's top keep up to 32 MiB, which
/// `malloc_trim` does not return).
int trawl_heap_usage(unsigned long long *in_use, unsigned long long *held);

/// Takes an exclusive lock on the byte at `offset` of the open file `fd` without waiting, as an open file
/// description lock (`F_OFD_SETLK`): it belongs to this open of the file, not to the process, so two opens
/// exclude each other within one process as across processes, and closing the descriptor releases it.
/// Returns 0 when taken, else the errno (EAGAIN or EACCES: another open holds it).
int trawl_try_lock_byte(int fd, long long offset);

#endif
