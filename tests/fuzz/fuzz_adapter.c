/* fuzz_adapter.c - adapter directories (socfw/peft.h socfw_adapter_load):
 * adapter_config.json, meta.json and adapter_model.safetensors from any
 * bytes, for a tiny GPT-2 (fused q|k|v) and a tiny Llama.  The input is
 * config NUL meta NUL safetensors; each part is written to a private
 * directory and loaded.  A load must fail with a message or give an
 * adapter that attaches and runs a forward pass. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_files.h"
#include "socfw/model.h"
#include "socfw/peft.h"

static char dir[64];
static socfw_model *models[2];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
        (void)argc;
        (void)argv;
        snprintf(dir, sizeof dir, "/tmp/socfw-fuzz-adapter-XXXXXX");
        if (!mkdtemp(dir))
                abort();
        socfw_model_config c;
        socfw_error err = {0};
        socfw_model_config_default(&c, SOCFW_ARCH_GPT2, 32, 8, 2, 2, 16, 16);
        if (socfw_model_new_random(&models[0], &c, 1, &err) < 0)
                abort();
        socfw_model_config_default(&c, SOCFW_ARCH_LLAMA, 32, 8, 2, 2, 16, 16);
        c.n_kv_heads = 1;
        if (socfw_model_new_random(&models[1], &c, 2, &err) < 0)
                abort();
        return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const uint8_t *p = data, *end = data + size;
        size_t n1, n2, n3;
        const uint8_t *cfg = fuzz_part(&p, end, &n1);
        const uint8_t *meta = fuzz_part(&p, end, &n2);
        const uint8_t *st = fuzz_part(&p, end, &n3);
        fuzz_put(dir, "adapter_config.json", cfg, n1);
        fuzz_put(dir, "meta.json", meta, n2);
        fuzz_put(dir, "adapter_model.safetensors", st, n3);
        for (int k = 0; k < 2; k++) {
                socfw_adapter *a = NULL;
                socfw_error err = {0};
                if (socfw_adapter_load(&a, models[k], dir, k == 0, &err) < 0) {
                        if (!err.message[0] || a)
                                abort();
                        continue;
                }
                int32_t ids[3] = {1, 5, 7};
                float h[3 * 8];
                /* a prefix or prompt takes positions: as many tokens as
                 * the rest hold (one at least: a load leaves room) */
                const socfw_model_config *mc = socfw_model_config_of(models[k]);
                int T = 3, room = mc->max_positions -
                                  socfw_adapter_prefix_length(a) -
                                  socfw_adapter_prompt_length(a);
                if (mc->arch == SOCFW_ARCH_GPT2 && room < T)
                        T = room;
                if (socfw_model_attach(models[k], a, &err) < 0 ||
                    socfw_model_forward(models[k], ids, NULL, NULL, 1, T,
                                        false, 0, NULL, h, &err) < 0)
                        abort();
                socfw_model_attach(models[k], NULL, NULL);
                socfw_adapter_free(a);
        }
        return 0;
}
