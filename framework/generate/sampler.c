/* sampler.c - next-token selection (see socfw/sampler.h). */
#include "socfw/sampler.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "socfw/rng.h"

struct socfw_sampler {
        socfw_sampler_config cfg;
        int32_t n_vocab;
        socfw_rng rng;
        uint8_t *banned;        /* n_vocab flags                         */
        uint8_t *seen;          /* scratch marks for the penalty window  */
        float *work;            /* the logits being transformed          */
        int32_t *heap;          /* max-heap of ids by work[]             */
        int32_t *cand_ids;      /* kept candidates                       */
        float *cand_probs;
        size_t n_cand;
};

void
socfw_sampler_config_default(socfw_sampler_config *cfg)
{
        cfg->temperature = 0.8f;
        cfg->top_k = 40;
        cfg->top_p = 0.95f;
        cfg->min_p = 0.05f;
        cfg->repeat_penalty = 1.0f;
        cfg->repeat_last_n = 64;
        cfg->seed = 42;
}

void
socfw_sampler_config_greedy(socfw_sampler_config *cfg)
{
        socfw_sampler_config_default(cfg);
        cfg->temperature = 0.0f;
}

static int
check_config(const socfw_sampler_config *c, socfw_error *err)
{
        if (isnan(c->temperature) || isinf(c->temperature))
                return socfw_error_set(err, SOCFW_EINVAL,
                        "sampler: temperature %g must be finite (0 = greedy)",
                        (double)c->temperature);
        if (!(c->top_p >= 0.0f && c->top_p <= 1.0f))
                return socfw_error_set(err, SOCFW_EINVAL,
                        "sampler: top_p %g outside [0, 1]; hint: 1 disables "
                        "nucleus sampling", (double)c->top_p);
        if (!(c->min_p >= 0.0f && c->min_p <= 1.0f))
                return socfw_error_set(err, SOCFW_EINVAL,
                        "sampler: min_p %g outside [0, 1]; hint: 0 disables "
                        "it", (double)c->min_p);
        if (!(c->repeat_penalty > 0.0f) || isinf(c->repeat_penalty))
                return socfw_error_set(err, SOCFW_EINVAL,
                        "sampler: repeat_penalty %g must be > 0; hint: 1 "
                        "disables it, 1.1-1.3 are usual",
                        (double)c->repeat_penalty);
        if (c->repeat_last_n < -1)
                return socfw_error_set(err, SOCFW_EINVAL,
                        "sampler: repeat_last_n %d must be >= -1 (-1 = whole "
                        "history)", c->repeat_last_n);
        return 0;
}

socfw_sampler *
socfw_sampler_new(int32_t n_vocab, const socfw_sampler_config *cfg,
                  socfw_error *err)
{
        socfw_sampler *s = NULL;
        socfw_sampler_config c;

        if (cfg)
                c = *cfg;
        else
                socfw_sampler_config_default(&c);
        if (n_vocab <= 0) {
                socfw_error_set(err, SOCFW_EINVAL,
                        "sampler: vocabulary size %d must be > 0",
                        (int)n_vocab);
                return NULL;
        }
        if (check_config(&c, err) < 0)
                return NULL;
        s = calloc(1, sizeof *s);
        if (!s)
                goto nomem;
        s->cfg = c;
        s->n_vocab = n_vocab;
        size_t n = (size_t)n_vocab;
        s->banned = calloc(n, 1);
        s->seen = calloc(n, 1);
        s->work = malloc(n * sizeof *s->work);
        s->heap = malloc(n * sizeof *s->heap);
        s->cand_ids = malloc(n * sizeof *s->cand_ids);
        s->cand_probs = malloc(n * sizeof *s->cand_probs);
        if (!s->banned || !s->seen || !s->work || !s->heap ||
            !s->cand_ids || !s->cand_probs)
                goto nomem;
        socfw_rng_seed(&s->rng, c.seed);
        return s;
nomem:
        socfw_error_set(err, SOCFW_ENOMEM,
                "sampler: cannot allocate buffers for %d tokens",
                (int)n_vocab);
        socfw_sampler_free(s);
        return NULL;
}

void
socfw_sampler_free(socfw_sampler *s)
{
        if (!s)
                return;
        free(s->banned);
        free(s->seen);
        free(s->work);
        free(s->heap);
        free(s->cand_ids);
        free(s->cand_probs);
        free(s);
}

const socfw_sampler_config *
socfw_sampler_get_config(const socfw_sampler *s)
{
        return &s->cfg;
}

void
socfw_sampler_reseed(socfw_sampler *s, uint64_t seed)
{
        s->cfg.seed = seed;
        socfw_rng_seed(&s->rng, seed);
}

int
socfw_sampler_ban(socfw_sampler *s, int32_t id, int banned)
{
        if (id < 0 || id >= s->n_vocab)
                return SOCFW_EINVAL;
        s->banned[id] = banned != 0;
        return 0;
}

void
socfw_sampler_clear_bans(socfw_sampler *s)
{
        memset(s->banned, 0, (size_t)s->n_vocab);
}

int
socfw_sampler_is_banned(const socfw_sampler *s, int32_t id)
{
        return id >= 0 && id < s->n_vocab && s->banned[id];
}

size_t
socfw_sampler_last_candidates(const socfw_sampler *s, const int32_t **ids,
                              const float **probs)
{
        if (ids)
                *ids = s->cand_ids;
        if (probs)
                *probs = s->cand_probs;
        return s->n_cand;
}

/* ---- max-heap of ids keyed by work[] (ties: lower id first) ---- */

static inline int
heap_before(const float *w, int32_t a, int32_t b)
{
        return w[a] > w[b] || (w[a] == w[b] && a < b);
}

static void
heap_sift_down(int32_t *h, size_t n, size_t i, const float *w)
{
        for (;;) {
                size_t l = 2 * i + 1, r = l + 1, best = i;
                if (l < n && heap_before(w, h[l], h[best]))
                        best = l;
                if (r < n && heap_before(w, h[r], h[best]))
                        best = r;
                if (best == i)
                        return;
                int32_t t = h[i];
                h[i] = h[best];
                h[best] = t;
                i = best;
        }
}

static void
heap_build(int32_t *h, size_t n, const float *w)
{
        for (size_t i = n / 2; i-- > 0;)
                heap_sift_down(h, n, i, w);
}

static int32_t
heap_pop(int32_t *h, size_t *n, const float *w)
{
        int32_t top = h[0];
        h[0] = h[--*n];
        if (*n > 0)
                heap_sift_down(h, *n, 0, w);
        return top;
}

/* Top k of the live ids in decreasing order into out[0..k), with a
 * min-heap of size k: one comparison for most of the vocabulary. */
static inline int
heap_after(const float *w, int32_t a, int32_t b)
{
        return heap_before(w, b, a);
}

static void
minheap_sift_down(int32_t *h, size_t n, size_t i, const float *w)
{
        for (;;) {
                size_t l = 2 * i + 1, r = l + 1, worst = i;
                if (l < n && heap_after(w, h[l], h[worst]))
                        worst = l;
                if (r < n && heap_after(w, h[r], h[worst]))
                        worst = r;
                if (worst == i)
                        return;
                int32_t t = h[i];
                h[i] = h[worst];
                h[worst] = t;
                i = worst;
        }
}

static void
top_k_select(const float *w, size_t V, size_t k, int32_t *out)
{
        size_t n = 0;

        for (size_t i = 0; i < V; i++) {
                if (w[i] == -INFINITY)
                        continue;
                if (n < k) {
                        out[n++] = (int32_t)i;
                        if (n == k)
                                for (size_t j = k / 2; j-- > 0;)
                                        minheap_sift_down(out, k, j, w);
                } else if (heap_before(w, (int32_t)i, out[0])) {
                        out[0] = (int32_t)i;
                        minheap_sift_down(out, k, 0, w);
                }
        }
        /* heap-sort: the worst goes to the back */
        for (size_t m = k; m > 1; m--) {
                int32_t t = out[0];
                out[0] = out[m - 1];
                out[m - 1] = t;
                minheap_sift_down(out, m - 1, 0, w);
        }
}

/* ---- sampling ---- */

static void
apply_penalty(socfw_sampler *s, const int32_t *hist, size_t nh)
{
        float pen = s->cfg.repeat_penalty;
        size_t start = 0;

        if (pen == 1.0f || s->cfg.repeat_last_n == 0 || nh == 0 || !hist)
                return;
        if (s->cfg.repeat_last_n > 0 && nh > (size_t)s->cfg.repeat_last_n)
                start = nh - (size_t)s->cfg.repeat_last_n;
        for (size_t i = start; i < nh; i++) {
                int32_t t = hist[i];
                if (t < 0 || t >= s->n_vocab || s->seen[t])
                        continue;
                s->seen[t] = 1;
                float *x = &s->work[t];
                if (*x > 0.0f)
                        *x /= pen;
                else
                        *x *= pen;      /* -inf stays -inf */
        }
        for (size_t i = start; i < nh; i++) {
                int32_t t = hist[i];
                if (t >= 0 && t < s->n_vocab)
                        s->seen[t] = 0;
        }
}

/* Unnormalized probability exp((l - lmax) / T), in float (it is only a
 * weight; sums are kept in double). */
static inline double
prob_weight(float l, double lmax, double inv_t)
{
        return (double)expf((float)(((double)l - lmax) * inv_t));
}

static int32_t
draw(socfw_sampler *s, double total)
{
        double u = socfw_rng_uniform_double(&s->rng) * total;
        double acc = 0.0;

        for (size_t i = 0; i < s->n_cand; i++) {
                acc += (double)s->cand_probs[i];
                if (u < acc)
                        return s->cand_ids[i];
        }
        return s->cand_ids[s->n_cand - 1];     /* rounding at the very end */
}

int
socfw_sampler_sample(socfw_sampler *s, const float *logits,
                     const int32_t *history, size_t n_history, int32_t *out,
                     socfw_error *err)
{
        const socfw_sampler_config *c = &s->cfg;
        size_t V = (size_t)s->n_vocab, m = 0;
        float *w = s->work;
        int32_t best = -1;

        s->n_cand = 0;
        for (size_t i = 0; i < V; i++) {
                float x = logits[i];
                if (isnan(x) || s->banned[i])
                        x = -INFINITY;
                else if (x == INFINITY)
                        x = FLT_MAX;
                w[i] = x;
        }
        apply_penalty(s, history, n_history);
        for (size_t i = 0; i < V; i++) {
                if (w[i] == -INFINITY)
                        continue;
                m++;
                if (best < 0 || w[i] > w[best])
                        best = (int32_t)i;
        }
        if (best < 0)
                return socfw_error_set(err, SOCFW_EINVAL,
                        "sampler: every one of the %zu tokens is banned or "
                        "has logit -inf; hint: check the ban list", V);
        if (c->temperature <= 0.0f || m == 1) {
                *out = best;
                return 0;
        }

        double inv_t = 1.0 / (double)c->temperature;
        double lmax = (double)w[best];
        /* min-p as a logit threshold: p_i / p_max >= min_p */
        double lmin = c->min_p > 0.0f ?
                      lmax + log((double)c->min_p) / inv_t : -INFINITY;
        int use_k = c->top_k > 0 && (size_t)c->top_k < m;
        int use_p = c->top_p < 1.0f;
        double total = 0.0;

        if (!use_k && !use_p) {
                /* no ordering needed: one pass over the vocabulary */
                for (size_t i = 0; i < V; i++) {
                        if (w[i] == -INFINITY || (double)w[i] < lmin)
                                continue;
                        double e = prob_weight(w[i], lmax, inv_t);
                        s->cand_ids[s->n_cand] = (int32_t)i;
                        s->cand_probs[s->n_cand++] = (float)e;
                        total += e;
                }
                goto drawn;
        }

        /* the normalizer top-p works with: over the top k, or over all */
        size_t hn = 0, limit = use_k ? (size_t)c->top_k : m;
        double z = 0.0;
        if (use_k) {
                top_k_select(w, V, limit, s->cand_ids);
                for (size_t i = 0; i < limit; i++)
                        z += prob_weight(w[s->cand_ids[i]], lmax, inv_t);
        } else {
                for (size_t i = 0; i < V; i++) {
                        if (w[i] == -INFINITY)
                                continue;
                        s->heap[hn++] = (int32_t)i;
                        z += prob_weight(w[i], lmax, inv_t);
                }
                heap_build(s->heap, hn, w);
        }
        double need = use_p ? (double)c->top_p * z : INFINITY;
        for (size_t i = 0; i < limit; i++) {
                int32_t id = use_k ? s->cand_ids[i] :
                             heap_pop(s->heap, &hn, w);
                if (i > 0 && (double)w[id] < lmin)
                        break;
                double e = prob_weight(w[id], lmax, inv_t);
                s->cand_ids[s->n_cand] = id;
                s->cand_probs[s->n_cand++] = (float)e;
                total += e;
                if (total >= need)
                        break;
        }
drawn:
        if (s->n_cand == 0) {   /* cannot happen: the max always stays */
                *out = best;
                return 0;
        }
        *out = draw(s, total);
        for (size_t i = 0; i < s->n_cand; i++)
                s->cand_probs[i] = (float)((double)s->cand_probs[i] / total);
        return 0;
}
