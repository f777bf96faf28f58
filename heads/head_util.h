/* heads/head_util.h - helpers shared by the head modules (header only).
 *
 * Every head module is its own shared object exporting one symbol, so the
 * helpers they share are `static inline` here rather than in a library:
 *
 *   - tensor naming: head_prefix() picks the prefix of a head's tensors in
 *     the parameter store (and so in checkpoints):
 *         the head's `prefix:` key when the pipeline gives one, else
 *         "head.<type>" for the first head of that type in the store,
 *         "head.<type>.1", "head.<type>.2", ... for the next ones.
 *     The choice depends only on the order heads are created in, so the
 *     same pipeline always gives the same names.
 *   - sequence pooling (B,T,C) -> (B,C): cls, mean, last, max, honouring
 *     the padding mask, with a backward that adds into dhidden only at the
 *     positions the pooling read.
 *   - scratch buffers that grow with the batch (head_buf_get).
 *   - runs of real (mask != 0) rows, so per-token heads skip padding.
 */
#ifndef SOCFW_HEADS_HEAD_UTIL_H
#define SOCFW_HEADS_HEAD_UTIL_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "socfw/config.h"
#include "socfw/error.h"
#include "socfw/params.h"

/* Longest prefix we build (the store allows 255 bytes per name). */
#define HEAD_PREFIX_MAX 192

/* ---- naming ---- */

/* 1 when some tensor of the store is called "<prefix>.<anything>". */
static inline int
head_prefix_taken(const socfw_params *ps, const char *prefix)
{
        size_t n = strlen(prefix);
        for (int i = 0; ps && i < socfw_params_count(ps); i++) {
                const char *name = socfw_params_name(ps, i);
                if (name && strncmp(name, prefix, n) == 0 && name[n] == '.')
                        return 1;
        }
        return 0;
}

/* Fill `buf` with the tensor prefix of a new head of module `module`.
 * Returns 0 or SOCFW_EINVAL (prefix too long or no free name). */
static inline int
head_prefix(const socfw_config *cfg, const socfw_params *ps,
            const char *module, char *buf, size_t size, socfw_error *err)
{
        const char *given = socfw_config_get_string(cfg, "prefix");
        if (given) {
                if (strlen(given) >= size || strlen(given) > HEAD_PREFIX_MAX)
                        return socfw_error_set(
                                err, SOCFW_EINVAL,
                                "head %s: prefix '%.40s...' is too long "
                                "(at most %d bytes)",
                                module, given, HEAD_PREFIX_MAX);
                snprintf(buf, size, "%s", given);
                return 0;
        }
        const char *type = socfw_config_name(cfg);
        if (!type || !type[0] || strlen(type) > 64)
                type = module;
        for (int i = 0; i < 1000; i++) {
                if (i == 0)
                        snprintf(buf, size, "head.%s", type);
                else
                        snprintf(buf, size, "head.%s.%d", type, i);
                if (!head_prefix_taken(ps, buf))
                        return 0;
        }
        return socfw_error_set(err, SOCFW_EINVAL,
                               "head %s: no free tensor name under "
                               "'head.%s'; hint: give each head a prefix",
                               module, type);
}

/* Register "<prefix>.<suffix>" with up to 2 dims; returns the index or a
 * negative code. */
static inline int
head_add(socfw_params *ps, const char *prefix, const char *suffix, int ndim,
         int64_t d0, int64_t d1, socfw_error *err)
{
        char name[SOCFW_PARAMS_NAME_MAX];
        int64_t shape[2] = {d0, d1};
        snprintf(name, sizeof name, "%s.%s", prefix, suffix);
        return socfw_params_add(ps, name, ndim, shape, err);
}

/* ---- growing scratch ---- */

/* A scratch buffer that only grows; free with head_buf_free. */
typedef struct {
        void *p;
        size_t cap;             /* bytes */
} head_buf;

/* Make `b` hold at least n elements of `elem` bytes (contents are not
 * kept when it grows).  Returns the buffer, NULL when out of memory. */
static inline void *
head_buf_get(head_buf *b, size_t n, size_t elem)
{
        if (n == 0)
                n = 1;
        if (n > SIZE_MAX / elem)
                return NULL;
        if (n * elem <= b->cap && b->p)
                return b->p;
        void *q = realloc(b->p, n * elem);
        if (!q)
                return NULL;
        b->p = q;
        b->cap = n * elem;
        return q;
}

static inline void
head_buf_free(head_buf *b)
{
        free(b->p);
        b->p = NULL;
        b->cap = 0;
}

/* ---- pooling ---- */

typedef enum {
        HEAD_POOL_CLS = 0,      /* first token (t = 0)                    */
        HEAD_POOL_MEAN,         /* mean over real tokens                  */
        HEAD_POOL_LAST,         /* last real token                        */
        HEAD_POOL_MAX,          /* element-wise max over real tokens      */
} head_pool;

static inline int
head_pool_parse(const char *s, head_pool *out)
{
        static const char *const names[] = {"cls", "mean", "last", "max"};
        for (int i = 0; i < 4; i++)
                if (s && strcmp(s, names[i]) == 0) {
                        *out = (head_pool)i;
                        return 0;
                }
        return SOCFW_EINVAL;
}

static inline int
head_real(const int32_t *mask, size_t i)
{
        return !mask || mask[i] != 0;
}

/* out (B,C) = pool(hidden (B,T,C)).  `arg` (B,C) records, for max, the t
 * each value came from, and for cls/last in arg[b*C] the t that was read;
 * -1 when a sequence has no real token (its row of out is 0). */
static inline void
head_pool_forward(float *out, int32_t *arg, const float *hidden,
                  const int32_t *mask, int B, int T, int C, head_pool mode)
{
        for (int b = 0; b < B; b++) {
                float *o = out + (size_t)b * C;
                int32_t *a = arg + (size_t)b * C;
                const float *h = hidden + (size_t)b * T * C;
                const int32_t *m = mask ? mask + (size_t)b * T : NULL;
                memset(o, 0, (size_t)C * sizeof *o);
                if (mode == HEAD_POOL_CLS || mode == HEAD_POOL_LAST) {
                        int t = -1;
                        if (mode == HEAD_POOL_CLS)
                                t = T > 0 ? 0 : -1;
                        else
                                for (int j = T - 1; j >= 0; j--)
                                        if (head_real(m, (size_t)j)) {
                                                t = j;
                                                break;
                                        }
                        a[0] = t;
                        if (t >= 0)
                                memcpy(o, h + (size_t)t * C,
                                       (size_t)C * sizeof *o);
                } else if (mode == HEAD_POOL_MEAN) {
                        int n = 0;
                        for (int t = 0; t < T; t++) {
                                if (!head_real(m, (size_t)t))
                                        continue;
                                n++;
                                for (int c = 0; c < C; c++)
                                        o[c] += h[(size_t)t * C + c];
                        }
                        a[0] = n;
                        if (n > 0)
                                for (int c = 0; c < C; c++)
                                        o[c] /= (float)n;
                } else {
                        for (int c = 0; c < C; c++)
                                a[c] = -1;
                        for (int t = 0; t < T; t++) {
                                if (!head_real(m, (size_t)t))
                                        continue;
                                for (int c = 0; c < C; c++) {
                                        float v = h[(size_t)t * C + c];
                                        if (a[c] < 0 || v > o[c]) {
                                                o[c] = v;
                                                a[c] = t;
                                        }
                                }
                        }
                }
        }
}

/* dhidden (B,T,C) += d pool / d hidden applied to dpooled (B,C); only the
 * positions forward read are touched. */
static inline void
head_pool_backward(float *dhidden, const float *dpooled, const int32_t *arg,
                   const int32_t *mask, int B, int T, int C, head_pool mode)
{
        for (int b = 0; b < B; b++) {
                const float *d = dpooled + (size_t)b * C;
                const int32_t *a = arg + (size_t)b * C;
                float *dh = dhidden + (size_t)b * T * C;
                const int32_t *m = mask ? mask + (size_t)b * T : NULL;
                if (mode == HEAD_POOL_CLS || mode == HEAD_POOL_LAST) {
                        if (a[0] < 0)
                                continue;
                        float *r = dh + (size_t)a[0] * C;
                        for (int c = 0; c < C; c++)
                                r[c] += d[c];
                } else if (mode == HEAD_POOL_MEAN) {
                        if (a[0] <= 0)
                                continue;
                        float inv = 1.0f / (float)a[0];
                        for (int t = 0; t < T; t++) {
                                if (!head_real(m, (size_t)t))
                                        continue;
                                float *r = dh + (size_t)t * C;
                                for (int c = 0; c < C; c++)
                                        r[c] += d[c] * inv;
                        }
                } else {
                        for (int c = 0; c < C; c++)
                                if (a[c] >= 0)
                                        dh[(size_t)a[c] * C + c] += d[c];
                }
        }
}

/* ---- runs of real rows ---- */

/* Next run [*begin, *end) of rows i >= from with mask[i] != 0 among n rows
 * (all rows when mask is NULL).  Returns 0 when there is none. */
static inline int
head_next_run(const int32_t *mask, size_t n, size_t from, size_t *begin,
              size_t *end)
{
        size_t i = from;
        while (i < n && !head_real(mask, i))
                i++;
        if (i >= n)
                return 0;
        size_t j = i;
        while (j < n && head_real(mask, j))
                j++;
        *begin = i;
        *end = j;
        return 1;
}

/* ---- numerics ---- */

/* log(1 + exp(x)) without overflow. */
static inline double
head_softplus(double x)
{
        return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
}

static inline double
head_sigmoid(double x)
{
        if (x >= 0)
                return 1.0 / (1.0 + exp(-x));
        double e = exp(x);
        return e / (1.0 + e);
}

#endif /* SOCFW_HEADS_HEAD_UTIL_H */
