/* fuzz_gguf.c - libFuzzer target for the GGUF parser.
 * Built and run by make check (tests/fuzz/local.mk); longer runs:
 * tests/fuzz/run-fuzz.sh 60 gguf. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        fuzz_modelfile(data, size, "fuzz.gguf");
        return 0;
}
