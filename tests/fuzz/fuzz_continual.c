/* fuzz_continual.c - continual re-fine-tuning's readers (socfw/continual.h,
 * socfw/adapter_store.h): the new data, the gate set and a version store's
 * `current` pointer from any bytes.  The input is new-data NUL gate NUL
 * current.  Preparing must succeed (writing files whose rows add up) or
 * fail with a message; reading the pointer must give a version >= 0 or
 * fail with a message. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_files.h"
#include "socfw/adapter_store.h"
#include "socfw/continual.h"

static char dir[64];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
        (void)argc;
        (void)argv;
        snprintf(dir, sizeof dir, "/tmp/socfw-fuzz-continual-XXXXXX");
        if (!mkdtemp(dir))
                abort();
        return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const uint8_t *p = data, *end = data + size;
        size_t n1, n2, n3;
        const uint8_t *nw = fuzz_part(&p, end, &n1);
        const uint8_t *gate = fuzz_part(&p, end, &n2);
        const uint8_t *cur = fuzz_part(&p, end, &n3);
        fuzz_put(dir, "new.jsonl", nw, n1);
        fuzz_put(dir, "gate.jsonl", gate, n2);
        fuzz_put(dir, "current", cur, n3);
        char newp[128], gatep[128], tr[128], ho[128];
        snprintf(newp, sizeof newp, "%s/new.jsonl", dir);
        snprintf(gatep, sizeof gatep, "%s/gate.jsonl", dir);
        snprintf(tr, sizeof tr, "%s/train.jsonl", dir);
        snprintf(ho, sizeof ho, "%s/holdout.jsonl", dir);
        socfw_continual_settings s = {.task = "t", .data = newp,
                                      .gate = gatep, .old_data = gatep,
                                      .metric = "macro_f1", .replay = 1.5,
                                      .holdout = 0.3, .seed = 1};
        const char *labels[] = {"a", "b"};
        socfw_continual_data d;
        socfw_error err = {0};
        /* the default text and label fields (no task section) */
        if (socfw_continual_prepare(&s, NULL, labels, 2, tr, ho, &d,
                                    &err) < 0) {
                if (!err.message[0])
                        abort();
        } else if (d.n_train + d.n_holdout != d.n_new || d.n_holdout < 1 ||
                   d.n_train < 1 || d.n_replay > d.n_old) {
                abort();
        }
        int v = -1;
        err = (socfw_error){0};
        if (socfw_adapter_store_current(dir, &v, &err) < 0) {
                if (!err.message[0])
                        abort();
        } else if (v < 0) {
                abort();
        }
        return 0;
}
