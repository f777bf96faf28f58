/* fuzz_pipeline.c - libFuzzer target: arbitrary bytes as a pipeline file
 * (YAML parsing with its alias/depth limits, --set-free validation against
 * the host schema; a valid one is written back as a run's copy, which must
 * load and validate again).  Built and run by make check when clang with libFuzzer
 * is present (tests/fuzz/local.mk); tests/fuzz/run-fuzz.sh runs it longer. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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
        char *copy = NULL;
        if (socfw_pipeline_load_buffer(&p, (const char *)data, size,
                                       "fuzz.yaml", "/nonexistent", NULL, 0,
                                       &err) == 0 &&
            socfw_pipeline_validate(p, reg, &err) == 0 &&
            socfw_pipeline_resolved_yaml(p, &copy, &err) == 0) {
                /* a run's copy of a valid pipeline must load and validate
                 * again (any key, any scalar the emitter has to quote) */
                socfw_pipeline *q = NULL;
                if (socfw_pipeline_load_buffer(&q, copy, strlen(copy),
                                               "copy.yaml", "/nonexistent",
                                               NULL, 0, &err) < 0 ||
                    socfw_pipeline_validate(q, reg, &err) < 0)
                        __builtin_trap();
                socfw_pipeline_free(q);
        }
        free(copy);
        for (size_t i = 0; i < socfw_pipeline_diag_count(p); i++)
                (void)socfw_pipeline_diag(p, i);
        socfw_pipeline_free(p);
        return 0;
}
