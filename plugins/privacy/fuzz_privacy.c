/* plugins/privacy/fuzz_privacy.c - libFuzzer target for the privacy engine.
 *
 * The input is a text (any bytes, so invalid
 * UTF-8 too): it is scanned, anonymised with an operator picked by the
 * first byte, restored through a session vault, and finally fed to
 * socfw_pii_vault_load as an encrypted blob (which must fail cleanly).
 *
 * Built by make check with the other fuzz targets (tests/fuzz/local.mk,
 * against libpii's own source list) when clang with libFuzzer is present,
 * and run a few seconds on tests/fuzz/seeds/privacy/; longer runs:
 * tests/fuzz/run-fuzz.sh 60 privacy.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "operators.h"
#include "recognizers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static socfw_pii_recognizer *rec;
        static socfw_pii_anonymizer *an;
        if (!rec && (socfw_pii_recognizer_new(&rec, NULL, NULL) < 0 ||
                     socfw_pii_anonymizer_new(&an, NULL) < 0))
                abort();
        if (size == 0)
                return 0;
        socfw_pii_op op = {.kind = (socfw_pii_op_kind)(data[0] % 6),
                           .mask_keep = data[0] / 6 % 8,
                           .mask_char = data[0] & 1 ? 0x2022 : 0};
        socfw_pii_anonymizer_set_all(an, &op);
        const char *text = (const char *)data + 1;
        size_t len = size - 1;

        socfw_pii_spans sp = {0};
        socfw_pii_vault *v = NULL;
        char *out = NULL, *back = NULL;
        if (socfw_pii_recognizer_scan(rec, text, len, &sp, NULL) < 0)
                goto out;
        for (size_t i = 0; i < sp.n; i++)
                if (sp.v[i].end > len || sp.v[i].start > sp.v[i].end ||
                    sp.v[i].cp_end > sp.v[i].end ||
                    (i && sp.v[i].start < sp.v[i - 1].end))
                        abort();
        if (socfw_pii_vault_new(&v, NULL) < 0)
                goto out;
        if (socfw_pii_anonymize(an, v, text, len, &sp, &out, NULL, NULL) < 0)
                abort();        /* recognizer spans are always acceptable */
        if (socfw_pii_vault_restore(v, out, strlen(out), &back, NULL, NULL) < 0)
                goto out;
        if (op.kind == SOCFW_PII_OP_PSEUDONYMIZE && memchr(text, 0, len) == NULL &&
            (strlen(back) != len || memcmp(back, text, len) != 0)) {
                /* a round trip may differ only when the input itself
                 * contained a token like "<PHONE_1>" */
                if (!memchr(text, '<', len))
                        abort();
        }
        socfw_pii_vault_free(v);
        v = NULL;
        unsigned char key[SOCFW_PII_VAULT_KEY_BYTES] = {0};
        if (socfw_pii_vault_load(&v, key, data, size, NULL) == 0)
                abort();        /* random bytes never authenticate */
out:
        free(out);
        free(back);
        socfw_pii_vault_free(v);
        socfw_pii_spans_free(&sp);
        return 0;
}
