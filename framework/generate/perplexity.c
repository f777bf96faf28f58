/* perplexity.c - windowed perplexity of a decoder (socfw/perplexity.h). */
#include "socfw/perplexity.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "socfw/io.h"

#define ROWS_PER_PASS 32        /* logits rows computed at a time */

/* -ln softmax(logits)[target], in double. */
static double
nll_of(const float *logits, int V, int32_t target)
{
        float mx = logits[0];
        for (int v = 1; v < V; v++)
                mx = logits[v] > mx ? logits[v] : mx;
        double s = 0;
        for (int v = 0; v < V; v++)
                s += exp((double)logits[v] - mx);
        return log(s) + mx - (double)logits[target];
}

int
socfw_perplexity_ids(socfw_model *m, const int32_t *ids, size_t n, int ctx,
                     int stride, int32_t bos, socfw_perplexity *out,
                     socfw_error *err)
{
        const socfw_model_config *c = socfw_model_config_of(m);
        int32_t *win = NULL;
        float *hidden = NULL, *logits = NULL;
        int rc = 0;
        memset(out, 0, sizeof *out);
        out->n_tokens = (int64_t)n;
        if (c->arch == SOCFW_ARCH_BERT || c->arch == SOCFW_ARCH_ROBERTA)
                return socfw_error_set(err, SOCFW_EUNSUPPORTED,
                                       "perplexity: a %s encoder has no "
                                       "causal perplexity (hint: "
                                       "pseudo-perplexity, masking each "
                                       "token in turn, is not implemented; "
                                       "use a decoder: GPT-2, Llama, Qwen2)",
                                       socfw_arch_name(c->arch));
        if (ctx < 2 || ctx > c->max_positions || stride < 1)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "perplexity: window %d / stride %d: "
                                       "the window must be 2..%d (the "
                                       "model's context) and the stride "
                                       ">= 1", ctx, stride, c->max_positions);
        if (n < (size_t)ctx)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "perplexity: %zu tokens, fewer than "
                                       "one window of %d (hint: a smaller "
                                       "--ctx or more text)", n, ctx);
        if (bos >= c->vocab_size)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "perplexity: BOS id %d is outside the "
                                       "vocabulary (%d)", bos, c->vocab_size);
        for (size_t i = 0; i < n; i++)
                if (ids[i] < 0 || ids[i] >= c->vocab_size)
                        return socfw_error_set(err, SOCFW_EINVAL,
                                               "perplexity: token %zu has id "
                                               "%d, outside the vocabulary "
                                               "(%d)", i, ids[i],
                                               c->vocab_size);
        int C = c->hidden, V = c->vocab_size, first = ctx / 2;
        win = malloc((size_t)ctx * sizeof *win);
        hidden = malloc((size_t)ctx * (size_t)C * sizeof *hidden);
        logits = malloc((size_t)ROWS_PER_PASS * (size_t)V * sizeof *logits);
        if (!win || !hidden || !logits) {
                rc = socfw_error_set(err, SOCFW_ENOMEM, "perplexity: out of "
                                     "memory");
                goto out;
        }
        int64_t last = -1;      /* absolute position last scored */
        for (size_t start = 0; start + (size_t)ctx <= n;
             start += (size_t)stride) {
                memcpy(win, ids + start, (size_t)ctx * sizeof *win);
                if (bos >= 0)
                        win[0] = bos;
                /* targets t in [t0, ctx): predicted from row t - 1 */
                int t0 = first;
                if ((int64_t)start + t0 <= last)
                        t0 = (int)(last - (int64_t)start) + 1;
                if (t0 >= ctx)
                        continue;
                rc = socfw_model_forward(m, win, NULL, NULL, 1, ctx, false,
                                         0.0f, NULL, hidden, err);
                if (rc < 0)
                        goto out;
                for (int t = t0; t < ctx; t += ROWS_PER_PASS) {
                        int rows = ctx - t < ROWS_PER_PASS ? ctx - t
                                                           : ROWS_PER_PASS;
                        rc = socfw_model_lm_logits(m, hidden +
                                                   (size_t)(t - 1) * C,
                                                   rows, logits, err);
                        if (rc < 0)
                                goto out;
                        for (int r = 0; r < rows; r++)
                                out->nll += nll_of(logits + (size_t)r * V, V,
                                                   win[t + r]);
                        out->n_scored += rows;
                }
                last = (int64_t)start + ctx - 1;
                out->n_windows++;
        }
        out->ppl = out->n_scored ? exp(out->nll / (double)out->n_scored)
                                 : 0.0;
out:
        free(win);
        free(hidden);
        free(logits);
        return rc;
}

/* ---- reading text ---- */

static int
append_ids(int32_t **ids, size_t *n, size_t *cap, const int32_t *add,
           size_t k)
{
        if (*n + k > *cap) {
                size_t nc = *cap ? *cap : 4096;
                while (nc < *n + k)
                        nc *= 2;
                int32_t *ni = realloc(*ids, nc * sizeof *ni);
                if (!ni)
                        return SOCFW_ENOMEM;
                *ids = ni;
                *cap = nc;
        }
        memcpy(*ids + *n, add, k * sizeof *add);
        *n += k;
        return 0;
}

int
socfw_perplexity_read_tokens(const char *path, const socfw_tokenizer *tok,
                             int64_t max_tokens, int32_t **ids_out,
                             size_t *n_out, socfw_error *err)
{
        enum { PIECE = 64 * 1024 };
        socfw_line_reader *lr = NULL;
        int32_t *ids = NULL, *part = NULL;
        size_t n = 0, cap = 0, np = 0, have = 0, bcap = 0;
        char *buf = NULL;
        int rc, more = 1;
        *ids_out = NULL;
        *n_out = 0;
        rc = socfw_line_reader_open(&lr, path, 0, err);
        if (rc < 0)
                return rc;
        while (more && (max_tokens <= 0 || (int64_t)n < max_tokens)) {
                /* gather whole lines (newline restored) into a piece */
                have = 0;
                while (have < PIECE) {
                        const char *line;
                        size_t len;
                        rc = socfw_line_reader_next(lr, &line, &len, err);
                        if (rc < 0)
                                goto out;
                        if (rc == 0) {
                                more = 0;
                                break;
                        }
                        if (have + len + 1 > bcap) {
                                size_t nc = 2 * (have + len + 1) + PIECE;
                                char *nb = realloc(buf, nc);
                                if (!nb) {
                                        rc = socfw_error_set(err, SOCFW_ENOMEM,
                                                             "out of memory");
                                        goto out;
                                }
                                buf = nb;
                                bcap = nc;
                        }
                        memcpy(buf + have, line, len);
                        buf[have + len] = '\n';
                        have += len + 1;
                }
                if (have == 0)
                        break;
                rc = socfw_tokenizer_encode(tok, buf, have, 0, &part, &np,
                                            err);
                if (rc < 0)
                        goto out;
                rc = append_ids(&ids, &n, &cap, part, np);
                free(part);
                part = NULL;
                if (rc < 0) {
                        rc = socfw_error_set(err, rc, "out of memory");
                        goto out;
                }
        }
        rc = 0;
        if (max_tokens > 0 && (int64_t)n > max_tokens)
                n = (size_t)max_tokens;
        *ids_out = ids;
        *n_out = n;
        ids = NULL;
out:
        socfw_line_reader_close(lr);
        free(buf);
        free(part);
        free(ids);
        return rc;
}
