/* ranking.c - ranking (HitRate, NDCG, MRR) and generation metrics
 * (ROUGE-L, distinct-n, length, perplexity). */
#include "socfw/metrics.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- ranking ---- */

static int
is_relevant(int64_t item, const int64_t *relevant, size_t n_relevant)
{
        for (size_t j = 0; j < n_relevant; j++)
                if (relevant[j] == item)
                        return 1;
        return 0;
}

static size_t
cutoff(size_t n, size_t k)
{
        return k == 0 || k > n ? n : k;
}

double
socfw_rank_hit_rate(const int64_t *ranked, size_t n, const int64_t *relevant,
                    size_t n_relevant, size_t k)
{
        size_t c = cutoff(n, k);
        for (size_t i = 0; i < c; i++)
                if (is_relevant(ranked[i], relevant, n_relevant))
                        return 1.0;
        return 0.0;
}

double
socfw_rank_ndcg(const int64_t *ranked, size_t n, const int64_t *relevant,
                size_t n_relevant, size_t k)
{
        if (n_relevant == 0)
                return 0.0;
        size_t c = cutoff(n, k);
        double dcg = 0, idcg = 0;
        for (size_t i = 0; i < c; i++) {
                /* an item listed twice counts once */
                if (!is_relevant(ranked[i], relevant, n_relevant) ||
                    is_relevant(ranked[i], ranked, i))
                        continue;
                dcg += 1.0 / log2((double)i + 2.0);
        }
        size_t ideal = k == 0 ? n_relevant : (k < n_relevant ? k : n_relevant);
        for (size_t i = 0; i < ideal; i++)
                idcg += 1.0 / log2((double)i + 2.0);
        return idcg > 0 ? dcg / idcg : 0.0;
}

double
socfw_rank_mrr(const int64_t *ranked, size_t n, const int64_t *relevant,
               size_t n_relevant, size_t k)
{
        size_t c = cutoff(n, k);
        for (size_t i = 0; i < c; i++)
                if (is_relevant(ranked[i], relevant, n_relevant))
                        return 1.0 / (double)(i + 1);
        return 0.0;
}

/* ---- ROUGE-L ---- */

typedef int (*eq_fn)(const void *a, size_t i, const void *b, size_t j);

static int
eq_ids(const void *a, size_t i, const void *b, size_t j)
{
        return ((const int32_t *)a)[i] == ((const int32_t *)b)[j];
}

typedef struct word {
        const char *s;
        size_t len;
} word;

static int
eq_words(const void *a, size_t i, const void *b, size_t j)
{
        const word *x = (const word *)a + i, *y = (const word *)b + j;
        return x->len == y->len && !memcmp(x->s, y->s, x->len);
}

/* LCS length with two rows over the shorter sequence; (size_t)-1 on OOM */
static size_t
lcs(const void *a, size_t n, const void *b, size_t m, eq_fn eq)
{
        int swap = m > n;
        const void *x = swap ? b : a, *y = swap ? a : b;
        size_t nx = swap ? m : n, ny = swap ? n : m;   /* ny <= nx */
        size_t *prev = calloc(ny + 1, sizeof *prev);
        size_t *cur = calloc(ny + 1, sizeof *cur);
        if (!prev || !cur) {
                free(prev);
                free(cur);
                return (size_t)-1;
        }
        for (size_t i = 1; i <= nx; i++) {
                for (size_t j = 1; j <= ny; j++) {
                        int e = swap ? eq(y, j - 1, x, i - 1)
                                     : eq(x, i - 1, y, j - 1);
                        if (e)
                                cur[j] = prev[j - 1] + 1;
                        else
                                cur[j] = prev[j] > cur[j - 1] ? prev[j]
                                                              : cur[j - 1];
                }
                size_t *t = prev;
                prev = cur;
                cur = t;
        }
        size_t r = prev[ny];
        free(prev);
        free(cur);
        return r;
}

static socfw_rouge
rouge_from(size_t l, size_t n, size_t m, double beta)
{
        socfw_rouge r = {0, 0, 0};
        if (l == (size_t)-1 || n == 0 || m == 0)
                return r;
        r.precision = (double)l / (double)n;
        r.recall = (double)l / (double)m;
        double b2 = beta * beta;
        double den = r.recall + b2 * r.precision;
        r.f = den > 0 ? (1 + b2) * r.precision * r.recall / den : 0.0;
        return r;
}

socfw_rouge
socfw_rouge_l(const int32_t *cand, size_t n, const int32_t *ref, size_t m,
              double beta)
{
        if (n == 0 || m == 0)
                return rouge_from(0, n, m, beta);
        return rouge_from(lcs(cand, n, ref, m, eq_ids), n, m, beta);
}

static word *
split_words(const char *s, size_t *n)
{
        size_t cap = 16, k = 0;
        word *w = malloc(cap * sizeof *w);
        if (!w)
                return NULL;
        while (s && *s) {
                while (*s && isspace((unsigned char)*s))
                        s++;
                if (!*s)
                        break;
                const char *b = s;
                while (*s && !isspace((unsigned char)*s))
                        s++;
                if (k == cap) {
                        cap *= 2;
                        word *nw = realloc(w, cap * sizeof *nw);
                        if (!nw) {
                                free(w);
                                return NULL;
                        }
                        w = nw;
                }
                w[k].s = b;
                w[k].len = (size_t)(s - b);
                k++;
        }
        *n = k;
        return w;
}

socfw_rouge
socfw_rouge_l_text(const char *cand, const char *ref, double beta)
{
        size_t n = 0, m = 0;
        word *a = split_words(cand, &n);
        word *b = split_words(ref, &m);
        socfw_rouge r = {0, 0, 0};
        if (a && b && n && m)
                r = rouge_from(lcs(a, n, b, m, eq_words), n, m, beta);
        free(a);
        free(b);
        return r;
}

/* ---- distinct-n ---- */

typedef struct gram {
        const int32_t *p;       /* NULL: empty slot */
} gram;

static uint64_t
hash_gram(const int32_t *p, size_t n)
{
        uint64_t h = 1469598103934665603ULL;
        for (size_t i = 0; i < n; i++) {
                h ^= (uint32_t)p[i];
                h *= 1099511628211ULL;
        }
        return h ^ (h >> 29);
}

double
socfw_distinct_n(const int32_t *const *seqs, const size_t *lens,
                 size_t n_seqs, size_t n)
{
        if (n == 0 || n > 8)
                return 0.0;
        size_t total = 0;
        for (size_t s = 0; s < n_seqs; s++)
                if (lens[s] >= n)
                        total += lens[s] - n + 1;
        if (total == 0)
                return 0.0;
        size_t cap = 16;
        while (cap < total * 2)
                cap *= 2;
        gram *tab = calloc(cap, sizeof *tab);
        if (!tab)
                return NAN;
        size_t unique = 0;
        for (size_t s = 0; s < n_seqs; s++) {
                for (size_t i = 0; i + n <= lens[s]; i++) {
                        const int32_t *p = seqs[s] + i;
                        size_t h = (size_t)hash_gram(p, n) & (cap - 1);
                        while (tab[h].p &&
                               memcmp(tab[h].p, p, n * sizeof *p))
                                h = (h + 1) & (cap - 1);
                        if (!tab[h].p) {
                                tab[h].p = p;
                                unique++;
                        }
                }
        }
        free(tab);
        return (double)unique / (double)total;
}

double
socfw_mean_length(const size_t *lens, size_t n_seqs)
{
        if (n_seqs == 0)
                return 0.0;
        double sum = 0;
        for (size_t i = 0; i < n_seqs; i++)
                sum += (double)lens[i];
        return sum / (double)n_seqs;
}

double
socfw_perplexity(double total_nll, size_t n_tokens)
{
        if (n_tokens == 0)
                return NAN;
        return exp(total_nll / (double)n_tokens);
}
