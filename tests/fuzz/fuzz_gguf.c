/* fuzz_gguf.c - libFuzzer target for the GGUF parser.
 * Build and run with tests/fuzz/run-fuzz.sh. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        fuzz_modelfile(data, size, "fuzz.gguf");
        return 0;
}
