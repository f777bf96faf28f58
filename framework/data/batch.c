/* batch.c - batch plans (length bucketing), padding, truncation and
 * chunk windows over int32 token id arrays. */
#include "socfw/data.h"

#include <stdlib.h>
#include <string.h>

/* ---- batch plans ---- */

typedef struct item {
        size_t len, idx, pos;
} item;

static int
cmp_item(const void *a, const void *b)
{
        const item *x = a, *y = b;
        if (x->len != y->len)
                return x->len < y->len ? -1 : 1;
        return (x->pos > y->pos) - (x->pos < y->pos);   /* stable */
}

void
socfw_batch_plan_free(socfw_batch_plan *plan)
{
        if (!plan)
                return;
        free(plan->offsets);
        free(plan->indices);
        free(plan);
}

int
socfw_batch_plan_new(socfw_batch_plan **out, const size_t *lengths,
                     size_t n, size_t batch_size, size_t window, int shuffle,
                     uint64_t seed, socfw_error *err)
{
        int rc = 0;
        socfw_batch_plan *p = NULL;
        size_t *order = NULL, *border = NULL, *bstart = NULL;
        item *items = NULL;

        if (!out)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "batch plan: NULL argument");
        *out = NULL;
        if (batch_size == 0)
                return socfw_error_set(err, SOCFW_EINVAL, "batch plan: "
                                       "batch_size must be at least 1");
        if (shuffle && window && !lengths)
                return socfw_error_set(err, SOCFW_EINVAL, "batch plan: "
                                       "length bucketing needs lengths");
        if (window && batch_size > SIZE_MAX / window)
                return socfw_error_set(err, SOCFW_EINVAL, "batch plan: "
                                       "window * batch_size overflows");
        size_t nb = n / batch_size + (n % batch_size != 0);
        p = calloc(1, sizeof *p);
        if (!p)
                goto nomem;
        p->n_items = n;
        p->n_batches = nb;
        p->offsets = malloc((nb + 1) * sizeof *p->offsets);
        p->indices = malloc((n ? n : 1) * sizeof *p->indices);
        order = malloc((n ? n : 1) * sizeof *order);
        if (!p->offsets || !p->indices || !order)
                goto nomem;
        for (size_t i = 0; i < n; i++)
                order[i] = i;
        if (!shuffle) {
                memcpy(p->indices, order, n * sizeof *order);
                for (size_t b = 0; b <= nb; b++)
                        p->offsets[b] = b * batch_size < n ? b * batch_size
                                                            : n;
                goto done;
        }
        socfw_shuffle_indices(order, n, seed);
        if (window) {
                /* sort by length inside windows of window*batch_size */
                size_t w = window * batch_size;
                items = malloc((n ? n : 1) * sizeof *items);
                if (!items)
                        goto nomem;
                for (size_t i = 0; i < n; i++) {
                        items[i].idx = order[i];
                        items[i].len = lengths[order[i]];
                        items[i].pos = i;
                }
                for (size_t s = 0; s < n; s += w) {
                        size_t m = n - s < w ? n - s : w;
                        qsort(items + s, m, sizeof *items, cmp_item);
                }
                for (size_t i = 0; i < n; i++)
                        order[i] = items[i].idx;
        }
        /* cut into batches, then shuffle the batch order */
        border = malloc((nb ? nb : 1) * sizeof *border);
        bstart = malloc((nb ? nb : 1) * sizeof *bstart);
        if (!border || !bstart)
                goto nomem;
        for (size_t b = 0; b < nb; b++) {
                border[b] = b;
                bstart[b] = b * batch_size;
        }
        socfw_shuffle_indices(border, nb, seed ^ 0xA5A5A5A55A5A5A5AULL);
        size_t k = 0;
        for (size_t b = 0; b < nb; b++) {
                size_t s = bstart[border[b]];
                size_t e = s + batch_size < n ? s + batch_size : n;
                p->offsets[b] = k;
                for (size_t i = s; i < e; i++)
                        p->indices[k++] = order[i];
        }
        p->offsets[nb] = k;
done:
        *out = p;
        p = NULL;
        goto out;
nomem:
        rc = socfw_error_set(err, SOCFW_ENOMEM, "batch plan: out of memory "
                             "(%zu items)", n);
out:
        socfw_batch_plan_free(p);
        free(order);
        free(border);
        free(bstart);
        free(items);
        return rc;
}

/* ---- padding ---- */

void
socfw_padded_batch_free(socfw_padded_batch *b)
{
        if (!b)
                return;
        free(b->ids);
        free(b->mask);
        free(b->lengths);
        free(b);
}

int
socfw_batch_pad(socfw_padded_batch **out, const int32_t *const *seqs,
                const size_t *lens, size_t B, size_t max_T, int32_t pad_id,
                int left_pad, socfw_error *err)
{
        if (!out || (B && (!seqs || !lens)))
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "pad: NULL argument");
        *out = NULL;
        size_t T = 0;
        for (size_t b = 0; b < B; b++)
                if (lens[b] > T)
                        T = lens[b];
        if (max_T && T > max_T)
                T = max_T;
        if (T && B > SIZE_MAX / sizeof(float) / T)
                return socfw_error_set(err, SOCFW_ENOMEM,
                                       "pad: batch too large");
        socfw_padded_batch *p = calloc(1, sizeof *p);
        if (!p)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        size_t cells = (B && T) ? B * T : 1;
        p->B = B;
        p->T = T;
        p->ids = malloc(cells * sizeof *p->ids);
        p->mask = calloc(cells, sizeof *p->mask);
        p->lengths = malloc((B ? B : 1) * sizeof *p->lengths);
        if (!p->ids || !p->mask || !p->lengths) {
                socfw_padded_batch_free(p);
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        }
        for (size_t b = 0; b < B; b++) {
                size_t L = lens[b] < T ? lens[b] : T;
                size_t off = left_pad ? T - L : 0;
                int32_t *row = p->ids + b * T;
                float *m = p->mask + b * T;
                for (size_t t = 0; t < T; t++)
                        row[t] = pad_id;
                if (L)
                        memcpy(row + off, seqs[b], L * sizeof *row);
                for (size_t t = 0; t < L; t++)
                        m[off + t] = 1.0f;
                p->lengths[b] = L;
        }
        *out = p;
        return 0;
}

/* ---- truncation and chunking ---- */

size_t
socfw_truncate(const int32_t *in, size_t n, int32_t *out, size_t max_len,
               socfw_truncate_policy policy, size_t head)
{
        if (n <= max_len) {
                if (n)
                        memmove(out, in, n * sizeof *out);
                return n;
        }
        switch (policy) {
        case SOCFW_TRUNCATE_TAIL:
                memmove(out, in + (n - max_len), max_len * sizeof *out);
                break;
        case SOCFW_TRUNCATE_HEAD_TAIL: {
                size_t h = head < max_len ? head : max_len;
                size_t t = max_len - h;
                memmove(out, in, h * sizeof *out);
                memmove(out + h, in + (n - t), t * sizeof *out);
                break;
        }
        case SOCFW_TRUNCATE_HEAD:
        default:
                memmove(out, in, max_len * sizeof *out);
                break;
        }
        return max_len;
}

int
socfw_truncate_policy_parse(const char *name)
{
        if (!name)
                return -1;
        if (!strcmp(name, "head"))
                return SOCFW_TRUNCATE_HEAD;
        if (!strcmp(name, "tail"))
                return SOCFW_TRUNCATE_TAIL;
        if (!strcmp(name, "head+tail") || !strcmp(name, "head_tail"))
                return SOCFW_TRUNCATE_HEAD_TAIL;
        return -1;
}

size_t
socfw_chunk_windows(size_t n, size_t window, size_t stride, size_t *starts,
                    size_t max_starts)
{
        if (window == 0 || stride == 0)
                return 0;
        if (n <= window) {
                if (starts && max_starts)
                        starts[0] = 0;
                return 1;
        }
        size_t count = 0, s = 0;
        for (;;) {
                if (s + window >= n)
                        s = n - window;
                if (starts && count < max_starts)
                        starts[count] = s;
                count++;
                if (s + window >= n)
                        break;
                s += stride;
        }
        return count;
}
