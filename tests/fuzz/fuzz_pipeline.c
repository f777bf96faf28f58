/* fuzz_pipeline.c - libFuzzer target: arbitrary bytes as a pipeline file
 * (YAML parsing with its alias/depth limits, --set-free validation against
 * the host schema).  Built and run by make check when clang with libFuzzer
 * is present (tests/fuzz/local.mk); tests/fuzz/run-fuzz.sh runs it longer. */
#include <stddef.h>
#include <stdint.h>

#include "socfw/pipeline.h"
#include "socfw/registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static socfw_registry *reg;
        if (!reg)
                reg = socfw_registry_new(); /* no plugins: host schema only */
        socfw_pipeline *p = NULL;
        socfw_error err = {0};
        if (socfw_pipeline_load_buffer(&p, (const char *)data, size,
                                       "fuzz.yaml", "/nonexistent", NULL, 0,
                                       &err) == 0)
                socfw_pipeline_validate(p, reg, &err);
        for (size_t i = 0; i < socfw_pipeline_diag_count(p); i++)
                (void)socfw_pipeline_diag(p, i);
        socfw_pipeline_free(p);
        return 0;
}
