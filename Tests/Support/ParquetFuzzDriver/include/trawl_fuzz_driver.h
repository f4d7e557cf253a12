#ifndef TRAWL_FUZZ_DRIVER_H
#define TRAWL_FUZZ_DRIVER_H

#include <stddef.h>
#include <stdint.h>

/// Runs libFuzzer on `callback` when the program was linked with it (`-sanitize=fuzzer`); returns -1
/// without it, so the fuzz target also builds, as an empty program, in ordinary builds.
int trawl_run_fuzzer(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
