/* tests/fuzz/fuzz_baseline.c - libFuzzer target for the baseline's text
 * analysis (framework/report/baseline.c): TF-IDF fitting and transforming
 * and both classifiers (the softmax model, liblinear's one-vs-rest) over
 * arbitrary bytes.
 *
 * make check builds and runs it (tests/fuzz/local.mk).  The
 * first byte picks min_df, the n-gram ranges and the classifier (its top
 * bit: one-vs-rest); the rest is split at
 * newlines into up to 32 texts (invalid UTF-8 and control bytes
 * included), each labelled by its first byte.  Every vector must have
 * ascending indices inside the vocabulary, finite values and a squared
 * norm of at most 2 (two l2-normalised blocks); every prediction a
 * class seen in training with a finite score (-HUGE_VAL for the others).
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "socfw/baseline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size < 1)
                return 0;
        socfw_baseline_options o = SOCFW_BASELINE_OPTIONS_INIT;
        o.min_df = 1 + (data[0] & 1);
        o.word_max_n = 1 + ((data[0] >> 1) & 1);
        o.char_min_n = 1 + ((data[0] >> 2) & 3);
        o.char_max_n = o.char_min_n + ((data[0] >> 4) & 3);
        o.multinomial = !(data[0] >> 7);
        char *buf = malloc(size);
        if (!buf)
                return 0;
        memcpy(buf, data + 1, size - 1);
        buf[size - 1] = 0;
        const char *texts[32];
        int labels[32];
        size_t n = 0;
        char *p = buf;
        while (n < 32) {
                texts[n] = p;
                labels[n] = (unsigned char)p[0] % 3;
                n++;
                char *nl = strchr(p, '\n');
                if (!nl)
                        break;
                *nl = 0;
                p = nl + 1;
        }
        socfw_error err = {0};
        socfw_tfidf *v = NULL;
        if (socfw_tfidf_fit(&v, texts, n, &o, &err) < 0) {
                if (!err.message[0])
                        abort();
                free(buf);
                return 0;
        }
        size_t F = socfw_tfidf_n_features(v);
        for (size_t i = 0; i < n; i++) {
                int *idx;
                double *val, sq = 0;
                size_t m;
                if (socfw_tfidf_transform(v, texts[i], &idx, &val, &m,
                                          &err) < 0)
                        abort();
                for (size_t j = 0; j < m; j++) {
                        if (idx[j] < 1 || (size_t)idx[j] > F ||
                            (j > 0 && idx[j] <= idx[j - 1]) ||
                            !isfinite(val[j]) || val[j] <= 0)
                                abort();
                        sq += val[j] * val[j];
                }
                if (sq > 2 + 1e-9)
                        abort();
                free(idx);
                free(val);
        }
        socfw_tfidf_free(v);
        socfw_baseline *b = NULL;
        if (socfw_baseline_train(&b, texts, labels, n, 3, &o, &err) == 0) {
                int seen[3] = {0};
                for (size_t i = 0; i < n; i++)
                        seen[labels[i]] = 1;
                for (size_t i = 0; i < n; i++) {
                        int k;
                        double s[3];
                        if (socfw_baseline_predict(b, texts[i], s, &k,
                                                   &err) < 0 ||
                            k < 0 || k > 2 || !seen[k])
                                abort();
                        for (int q = 0; q < 3; q++)
                                if (seen[q] ? !isfinite(s[q])
                                            : s[q] != -HUGE_VAL)
                                        abort();
                }
                socfw_baseline_free(b);
        } else if (!err.message[0]) {
                abort();
        }
        free(buf);
        return 0;
}
