#include "trawl_fuzz_driver.h"

// libFuzzer's entry for programs that keep their own main; weak, so ordinary builds link without it.
extern int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size))
    __attribute__((weak));

int trawl_run_fuzzer(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size)) {
    if (LLVMFuzzerRunDriver == NULL) {
        return -1;
    }
    return LLVMFuzzerRunDriver(argc, argv, callback);
}
