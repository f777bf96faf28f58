/* chunks.c - how a sequence-level input becomes model windows.
 *
 * Every input gets the backbone's special tokens ([CLS] ... [SEP] for
 * encoders, BOS for decoders that have one) around at most `max_seq`
 * tokens.  A longer input is, by backbone.truncation:
 *
 *   head, tail, head_tail   cut to one window (socfw_truncate);
 *   chunk_average           cut into overlapping windows of the same size,
 *                           each read on its own; training learns every
 *                           window with the input's target, prediction
 *                           and evaluation average the windows' class
 *                           probabilities.  Windows start every
 *                           (window - backbone.chunk_overlap) tokens and the
 *                           last one ends with the input; past
 *                           backbone.max_chunks windows they are spread
 *                           evenly over the input instead (first and last
 *                           kept), so a 1 MB post costs max_chunks windows.
 */
#include <stdlib.h>
#include <string.h>

#include "runtime_impl.h"
#include "socfw/data.h"

rt_specials
rt_specials_for(const socfw_tokenizer *tok, int encoder, int max_seq)
{
        rt_specials s = {-1, -1, -1, max_seq};
        if (encoder) {
                s.cls = socfw_tokenizer_special_id(tok, SOCFW_TOKENIZER_CLS);
                s.sep = socfw_tokenizer_special_id(tok, SOCFW_TOKENIZER_SEP);
                if (s.cls < 0)
                        s.cls = socfw_tokenizer_special_id(tok,
                                                           SOCFW_TOKENIZER_BOS);
                if (s.sep < 0)
                        s.sep = socfw_tokenizer_special_id(tok,
                                                           SOCFW_TOKENIZER_EOS);
        } else {
                s.bos = socfw_tokenizer_special_id(tok, SOCFW_TOKENIZER_BOS);
        }
        s.room -= (s.cls >= 0) + (s.sep >= 0) + (s.bos >= 0);
        if (s.room < 1)
                s.room = 1;
        return s;
}

static rt_specials
specials_of(const socfw_runtime *rt)
{
        return rt_specials_for(rt->tok, rt->encoder, rt->max_seq);
}

/* ids[0..m) with the specials around them, as a new array. */
static int
wrap(const socfw_runtime *rt, const rt_specials *s, const int32_t *ids, int m,
     int32_t **out, int *n_out, socfw_error *err)
{
        int total = m + (s->cls >= 0) + (s->sep >= 0) + (s->bos >= 0);
        int32_t *res = malloc(sizeof(int32_t) * (size_t)(total ? total : 1));
        if (!res)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        int k = 0;
        if (s->cls >= 0)
                res[k++] = s->cls;
        if (s->bos >= 0)
                res[k++] = s->bos;
        if (m > 0)
                memcpy(res + k, ids, (size_t)m * sizeof(int32_t));
        k += m;
        if (s->sep >= 0)
                res[k++] = s->sep;
        if (k == 0)
                res[k++] = rt->pad_id; /* an empty post still needs one
                                          position */
        *out = res;
        *n_out = k;
        return 0;
}

int
rt_encode(socfw_runtime *rt, const char *text, int32_t **out, int *n_out,
          socfw_error *err)
{
        int32_t *ids = NULL;
        size_t n = 0;
        int rc = socfw_tokenizer_encode(rt->tok, text, strlen(text), 0, &ids,
                                        &n, err);
        if (rc < 0)
                return rc;
        rt_specials s = specials_of(rt);
        int m = (int)n;
        if (m > s.room) {
                int32_t *kept = malloc(sizeof(int32_t) * (size_t)s.room);
                if (!kept) {
                        free(ids);
                        return socfw_error_set(err, SOCFW_ENOMEM,
                                               "out of memory");
                }
                m = (int)socfw_truncate(ids, n, kept, (size_t)s.room,
                                        (socfw_truncate_policy)rt->truncation,
                                        (size_t)s.room / 2);
                free(ids);
                ids = kept;
        }
        rc = wrap(rt, &s, ids, m, out, n_out, err);
        free(ids);
        return rc;
}

void
rt_chunks_clear(rt_chunks *c)
{
        for (int i = 0; i < c->count; i++)
                free(c->ids[i]);
        free(c->ids);
        free(c->n);
        memset(c, 0, sizeof *c);
}

int
rt_encode_chunks(socfw_runtime *rt, const char *text, rt_chunks *c,
                 socfw_error *err)
{
        memset(c, 0, sizeof *c);
        if (!rt->chunking) {
                c->ids = calloc(1, sizeof *c->ids);
                c->n = calloc(1, sizeof *c->n);
                if (!c->ids || !c->n) {
                        rt_chunks_clear(c);
                        return socfw_error_set(err, SOCFW_ENOMEM,
                                               "out of memory");
                }
                int rc = rt_encode(rt, text, &c->ids[0], &c->n[0], err);
                if (rc == 0)
                        c->count = 1;
                else
                        rt_chunks_clear(c);
                return rc;
        }
        int32_t *ids = NULL;
        size_t n = 0;
        int rc = socfw_tokenizer_encode(rt->tok, text, strlen(text), 0, &ids,
                                        &n, err);
        if (rc < 0)
                return rc;
        rt_specials s = specials_of(rt);
        int W = s.room;
        int stride = W - rt->chunk_overlap;
        if (stride < 1)
                stride = 1;
        /* windows at 0, stride, 2 stride, ... and one ending with the
         * input; evenly spread when there would be too many */
        long count = 1;
        if ((long)n > W)
                count = 1 + ((long)n - W + stride - 1) / stride;
        int spread = count > rt->max_chunks;
        if (spread)
                count = rt->max_chunks;
        c->ids = calloc((size_t)count, sizeof *c->ids);
        c->n = calloc((size_t)count, sizeof *c->n);
        if (!c->ids || !c->n) {
                free(ids);
                rt_chunks_clear(c);
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        }
        long last = (long)n > W ? (long)n - W : 0;
        for (long i = 0; rc == 0 && i < count; i++) {
                long start = spread ? (count > 1 ? i * last / (count - 1) : 0)
                                    : i * stride;
                if (start > last)
                        start = last;
                int m = (long)n - start < W ? (int)((long)n - start) : W;
                rc = wrap(rt, &s, ids + start, m, &c->ids[i], &c->n[i], err);
                if (rc == 0)
                        c->count = (int)i + 1;
        }
        free(ids);
        if (rc < 0)
                rt_chunks_clear(c);
        return rc;
}
