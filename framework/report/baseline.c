/* baseline.c - the classical baseline next to classification reports:
 * TF-IDF over word 1-2-grams and character 2-5-grams, logistic regression
 * trained with liblinear (see socfw/baseline.h for the exact recipe). */
#include "socfw/baseline.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <linear.h>
#include <sodium.h>
#include <utf8proc.h>

#include "core/example_impl.h"
#include "core/task_impl.h"
#include "socfw/chain.h"
#include "socfw/config.h"
#include "socfw/data.h"
#include "socfw/io.h"
#include "socfw/log.h"
#include "socfw/report.h"

#define NGRAM_MAX 8

/* ---- text analysis ---- */

/* One text lower-cased: code points and, for each, where its UTF-8 bytes
 * start in `utf8` (off[n] is the end). */
typedef struct analysed {
        uint32_t *cp;
        size_t *off;
        char *utf8;
        size_t n, cap;
        size_t bytes, bytes_cap;
} analysed;

static void
analysed_clear(analysed *a)
{
        free(a->cp);
        free(a->off);
        free(a->utf8);
        memset(a, 0, sizeof *a);
}

static int
analysed_push(analysed *a, uint32_t c)
{
        if (a->n + 2 > a->cap) {
                size_t nc = a->cap ? a->cap * 2 : 256;
                uint32_t *cp = realloc(a->cp, nc * sizeof *cp);
                if (!cp)
                        return -1;
                a->cp = cp;
                size_t *off = realloc(a->off, nc * sizeof *off);
                if (!off)
                        return -1;
                a->off = off;
                a->cap = nc;
        }
        if (a->bytes + 4 > a->bytes_cap) {
                size_t nc = a->bytes_cap ? a->bytes_cap * 2 : 1024;
                char *u = realloc(a->utf8, nc);
                if (!u)
                        return -1;
                a->utf8 = u;
                a->bytes_cap = nc;
        }
        a->cp[a->n] = c;
        a->off[a->n++] = a->bytes;
        a->bytes += (size_t)utf8proc_encode_char((utf8proc_int32_t)c,
                                                 (utf8proc_uint8_t *)a->utf8 +
                                                         a->bytes);
        a->off[a->n] = a->bytes;
        return 0;
}

/* Python's str.isspace(): white-space controls and Z* separators */
static int
is_space(uint32_t c)
{
        if ((c >= 9 && c <= 13) || (c >= 28 && c <= 32) || c == 0x85)
                return 1;
        if (c < 0x80)
                return 0;
        utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
        return k == UTF8PROC_CATEGORY_ZS || k == UTF8PROC_CATEGORY_ZL ||
               k == UTF8PROC_CATEGORY_ZP;
}

/* Python's \w: str.isalnum() or '_' (letters L*, numbers N*) */
static int
is_word(uint32_t c)
{
        if (c < 0x80)
                return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                       (c >= '0' && c <= '9') || c == '_';
        switch (utf8proc_category((utf8proc_int32_t)c)) {
        case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL:
        case UTF8PROC_CATEGORY_LT: case UTF8PROC_CATEGORY_LM:
        case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_ND:
        case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
                return 1;
        default:
                return 0;
        }
}

/* Lower-case `text` into a (invalid bytes become U+FFFD); with
 * `squeeze`, runs of two or more white-space characters become one
 * space (scikit-learn's character analyser). */
static int
analyse(analysed *a, const char *text, int squeeze)
{
        if (!a->cap && analysed_push(a, 0) < 0) /* off[0] must exist */
                return -1;
        a->n = a->bytes = 0;
        a->off[0] = 0;
        const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)(text ? text
                                                                     : "");
        utf8proc_ssize_t len = (utf8proc_ssize_t)strlen((const char *)p);
        while (len > 0) {
                utf8proc_int32_t c;
                utf8proc_ssize_t k = utf8proc_iterate(p, len, &c);
                if (k <= 0) {
                        c = 0xFFFD;
                        k = 1;
                }
                p += k;
                len -= k;
                uint32_t lc = (uint32_t)utf8proc_tolower(c);
                if (squeeze && is_space(lc)) {
                        /* a run of 2+ white-space characters -> " " */
                        size_t run = 1;
                        utf8proc_int32_t c2;
                        utf8proc_ssize_t k2;
                        while (len > 0 &&
                               (k2 = utf8proc_iterate(p, len, &c2)) > 0 &&
                               is_space((uint32_t)utf8proc_tolower(c2))) {
                                p += k2;
                                len -= k2;
                                run++;
                        }
                        if (run > 1)
                                lc = ' ';
                }
                if (analysed_push(a, lc) < 0)
                        return -1;
        }
        return 0;
}

/* ---- n-gram hashes ---- */

static const unsigned char gram_key[crypto_shorthash_KEYBYTES] =
        "socfw-baseline-1";

static uint64_t
gram_hash(const char *s, size_t len)
{
        unsigned char h[crypto_shorthash_BYTES];
        crypto_shorthash(h, (const unsigned char *)s, len, gram_key);
        uint64_t v = 0;
        for (int i = 0; i < 8; i++)
                v |= (uint64_t)h[i] << (8 * i);
        return v ? v : 1; /* 0 marks an empty slot */
}

typedef struct hashes {
        uint64_t *v;
        size_t n, cap;
        char *buf;      /* word n-grams are assembled here */
        size_t buf_cap;
} hashes;

static int
hashes_push(hashes *h, uint64_t v)
{
        if (h->n == h->cap) {
                size_t nc = h->cap ? h->cap * 2 : 512;
                uint64_t *nv = realloc(h->v, nc * sizeof *nv);
                if (!nv)
                        return -1;
                h->v = nv;
                h->cap = nc;
        }
        h->v[h->n++] = v;
        return 0;
}

/* Character n-grams of a squeezed text. */
static int
char_grams(const analysed *a, int lo, int hi, hashes *h)
{
        for (int n = lo; n <= hi; n++)
                for (size_t i = 0; i + (size_t)n <= a->n; i++)
                        if (hashes_push(h, gram_hash(a->utf8 + a->off[i],
                                                     a->off[i + (size_t)n] -
                                                             a->off[i])) < 0)
                                return -1;
        return 0;
}

/* Word n-grams: tokens are runs of 2+ word characters, an n-gram is its
 * tokens joined by single spaces. */
static int
word_grams(const analysed *a, int lo, int hi, hashes *h)
{
        size_t tok_s[NGRAM_MAX], tok_e[NGRAM_MAX]; /* the last hi tokens */
        size_t have = 0;
        size_t i = 0;
        while (i < a->n) {
                if (!is_word(a->cp[i])) {
                        i++;
                        continue;
                }
                size_t s = i;
                while (i < a->n && is_word(a->cp[i]))
                        i++;
                if (i - s < 2)
                        continue;
                /* shift the window of recent tokens */
                if (have == (size_t)hi) {
                        memmove(tok_s, tok_s + 1, (have - 1) * sizeof *tok_s);
                        memmove(tok_e, tok_e + 1, (have - 1) * sizeof *tok_e);
                        have--;
                }
                tok_s[have] = a->off[s];
                tok_e[have++] = a->off[i];
                /* every n-gram ending at this token */
                for (int n = lo; n <= hi && (size_t)n <= have; n++) {
                        size_t need = 0;
                        for (size_t t = have - (size_t)n; t < have; t++)
                                need += tok_e[t] - tok_s[t] + 1;
                        if (need > h->buf_cap) {
                                char *nb = realloc(h->buf, need * 2);
                                if (!nb)
                                        return -1;
                                h->buf = nb;
                                h->buf_cap = need * 2;
                        }
                        size_t len = 0;
                        for (size_t t = have - (size_t)n; t < have; t++) {
                                if (len)
                                        h->buf[len++] = ' ';
                                memcpy(h->buf + len, a->utf8 + tok_s[t],
                                       tok_e[t] - tok_s[t]);
                                len += tok_e[t] - tok_s[t];
                        }
                        if (hashes_push(h, gram_hash(h->buf, len)) < 0)
                                return -1;
                }
        }
        return 0;
}

static int
cmp_u64(const void *x, const void *y)
{
        uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
        return a < b ? -1 : a > b;
}

/* Sort h's hashes and fold duplicates: h->v keeps the distinct ones,
 * counts[i] how often each occurred.  Returns the distinct count. */
static size_t
fold(hashes *h, uint32_t *counts)
{
        if (h->n == 0)
                return 0;
        qsort(h->v, h->n, sizeof *h->v, cmp_u64);
        size_t m = 0;
        for (size_t i = 0; i < h->n; i++) {
                if (m > 0 && h->v[m - 1] == h->v[i]) {
                        counts[m - 1]++;
                        continue;
                }
                h->v[m] = h->v[i];
                counts[m++] = 1;
        }
        return m;
}

/* ---- vocabulary: open addressing on the 64-bit n-gram hash ---- */

typedef struct vocab {
        uint64_t *key;          /* 0: empty                                */
        uint32_t *val;          /* df while fitting, then feature index    */
        size_t cap, n;          /* cap a power of two, n <= cap / 2        */
} vocab;

static void
vocab_clear(vocab *v)
{
        free(v->key);
        free(v->val);
        memset(v, 0, sizeof *v);
}

static size_t
vocab_slot(const vocab *v, uint64_t k)
{
        size_t m = v->cap - 1, i = (size_t)(k ^ (k >> 29)) & m;
        while (v->key[i] && v->key[i] != k)
                i = (i + 1) & m;
        return i;
}

static int
vocab_reserve(vocab *v, size_t want)
{
        if (want * 2 <= v->cap)
                return 0;
        size_t nc = v->cap ? v->cap : 1024;
        while (nc < want * 2)
                nc *= 2;
        vocab o = *v;
        v->key = calloc(nc, sizeof *v->key);
        v->val = calloc(nc, sizeof *v->val);
        if (!v->key || !v->val) {
                free(v->key);
                free(v->val);
                *v = o;
                return -1;
        }
        v->cap = nc;
        for (size_t i = 0; i < o.cap; i++)
                if (o.key[i]) {
                        size_t s = vocab_slot(v, o.key[i]);
                        v->key[s] = o.key[i];
                        v->val[s] = o.val[i];
                }
        free(o.key);
        free(o.val);
        return 0;
}

/* The value slot of k, inserted with 0 when new; NULL on ENOMEM. */
static uint32_t *
vocab_upsert(vocab *v, uint64_t k)
{
        if (vocab_reserve(v, v->n + 1) < 0)
                return NULL;
        size_t s = vocab_slot(v, k);
        if (!v->key[s]) {
                v->key[s] = k;
                v->val[s] = 0;
                v->n++;
        }
        return &v->val[s];
}

static uint32_t
vocab_get(const vocab *v, uint64_t k)
{
        if (!v->cap)
                return 0;
        size_t s = vocab_slot(v, k);
        return v->key[s] ? v->val[s] : 0;
}

/* ---- TF-IDF ---- */

struct socfw_tfidf {
        socfw_baseline_options o;
        vocab voc[2];           /* per block: hash -> feature index        */
        size_t n_block[2];      /* features per block                      */
        double *idf;            /* [1 + n_features]                        */
        uint32_t *df;           /* [1 + n_features]                        */
        size_t n_docs;
};

/* scratch for one text */
typedef struct work {
        analysed a;
        hashes h;
        uint32_t *counts;
        size_t counts_cap;
} work;

static void
work_clear(work *w)
{
        analysed_clear(&w->a);
        free(w->h.v);
        free(w->h.buf);
        free(w->counts);
        memset(w, 0, sizeof *w);
}

/* The distinct n-gram hashes of block b of `text` in w->h.v[0..*m) with
 * their counts in w->counts. */
static int
grams_of(const socfw_baseline_options *o, int b, const char *text, work *w,
         size_t *m)
{
        w->h.n = 0;
        int rc;
        if (b == SOCFW_TFIDF_WORDS)
                rc = o->word_min_n > o->word_max_n
                             ? 0
                             : analyse(&w->a, text, 0) < 0
                                       ? -1
                                       : word_grams(&w->a, o->word_min_n,
                                                    o->word_max_n, &w->h);
        else
                rc = o->char_min_n > o->char_max_n
                             ? 0
                             : analyse(&w->a, text, 1) < 0
                                       ? -1
                                       : char_grams(&w->a, o->char_min_n,
                                                    o->char_max_n, &w->h);
        if (rc < 0)
                return -1;
        if (w->h.n > w->counts_cap) {
                uint32_t *c = realloc(w->counts, w->h.n * sizeof *c);
                if (!c)
                        return -1;
                w->counts = c;
                w->counts_cap = w->h.n;
        }
        *m = fold(&w->h, w->counts);
        return 0;
}

static int
check_options(const socfw_baseline_options *o, socfw_error *err)
{
        int ok = o->min_df >= 1 && o->C > 0 && isfinite(o->C) &&
                 o->eps > 0 && isfinite(o->eps);
        ok = ok && o->word_min_n >= 1 && o->word_max_n <= NGRAM_MAX &&
             o->char_min_n >= 1 && o->char_max_n <= NGRAM_MAX;
        if (!ok)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "baseline options out of range "
                                       "(n-grams 1..%d, min_df >= 1, C > 0, "
                                       "eps > 0)",
                                       NGRAM_MAX);
        return 0;
}

typedef struct kept {
        uint64_t key;
        uint32_t df;
} kept;

static int
cmp_kept(const void *x, const void *y)
{
        return cmp_u64(&((const kept *)x)->key, &((const kept *)y)->key);
}

int
socfw_tfidf_fit(socfw_tfidf **out, const char *const *texts, size_t n,
                const socfw_baseline_options *o, socfw_error *err)
{
        socfw_baseline_options def = SOCFW_BASELINE_OPTIONS_INIT;
        *out = NULL;
        if (!o)
                o = &def;
        int rc = check_options(o, err);
        if (rc < 0)
                return rc;
        if (n == 0)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "baseline: no training texts");
        socfw_tfidf *v = calloc(1, sizeof *v);
        work w = {0};
        vocab dfs[2] = {{0}};
        kept *keep = NULL;
        if (!v)
                goto oom;
        v->o = *o;
        v->n_docs = n;
        /* document frequencies per block */
        for (size_t i = 0; i < n; i++)
                for (int b = 0; b < 2; b++) {
                        size_t m;
                        if (grams_of(o, b, texts[i], &w, &m) < 0)
                                goto oom;
                        for (size_t j = 0; j < m; j++) {
                                uint32_t *df = vocab_upsert(&dfs[b],
                                                            w.h.v[j]);
                                if (!df)
                                        goto oom;
                                (*df)++;
                        }
                }
        /* keep n-grams with df >= min_df; index them in hash order so the
         * layout does not depend on the table's history */
        size_t total = 0;
        for (int b = 0; b < 2; b++) {
                size_t k = 0;
                free(keep);
                keep = malloc((dfs[b].n ? dfs[b].n : 1) * sizeof *keep);
                if (!keep)
                        goto oom;
                for (size_t s = 0; s < dfs[b].cap; s++)
                        if (dfs[b].key[s] &&
                            dfs[b].val[s] >= (uint32_t)o->min_df)
                                keep[k++] = (kept){dfs[b].key[s],
                                                   dfs[b].val[s]};
                qsort(keep, k, sizeof *keep, cmp_kept);
                vocab_clear(&dfs[b]);
                if (vocab_reserve(&v->voc[b], k) < 0)
                        goto oom;
                double *idf = realloc(v->idf, (1 + total + k) * sizeof *idf);
                if (!idf)
                        goto oom;
                v->idf = idf;
                uint32_t *df = realloc(v->df, (1 + total + k) * sizeof *df);
                if (!df)
                        goto oom;
                v->df = df;
                v->idf[0] = 0;
                v->df[0] = 0;
                for (size_t j = 0; j < k; j++) {
                        size_t index = 1 + total + j;
                        uint32_t *slot = vocab_upsert(&v->voc[b], keep[j].key);
                        *slot = (uint32_t)index;   /* reserved: no ENOMEM */
                        v->df[index] = keep[j].df;
                        v->idf[index] = log((1.0 + (double)n) /
                                            (1.0 + (double)keep[j].df)) +
                                        1.0;
                }
                v->n_block[b] = k;
                total += k;
        }
        if (total > (size_t)INT32_MAX - 2) {
                rc = socfw_error_set(err, SOCFW_ENOMEM,
                                     "baseline: %zu features exceed "
                                     "liblinear's int index", total);
                goto out;
        }
        *out = v;
        v = NULL;
        rc = 0;
        goto out;
oom:
        rc = socfw_error_set(err, SOCFW_ENOMEM,
                             "baseline: out of memory building the "
                             "vocabulary of %zu texts", n);
out:
        free(keep);
        vocab_clear(&dfs[0]);
        vocab_clear(&dfs[1]);
        work_clear(&w);
        socfw_tfidf_free(v);
        return rc;
}

void
socfw_tfidf_free(socfw_tfidf *v)
{
        if (!v)
                return;
        vocab_clear(&v->voc[0]);
        vocab_clear(&v->voc[1]);
        free(v->idf);
        free(v->df);
        free(v);
}

size_t
socfw_tfidf_n_features(const socfw_tfidf *v)
{
        return v ? v->n_block[0] + v->n_block[1] : 0;
}

int
socfw_tfidf_feature(const socfw_tfidf *v, int block, const char *gram,
                    size_t len)
{
        if (!v || !gram || (block != SOCFW_TFIDF_WORDS &&
                            block != SOCFW_TFIDF_CHARS))
                return 0;
        return (int)vocab_get(&v->voc[block], gram_hash(gram, len));
}

size_t
socfw_tfidf_df(const socfw_tfidf *v, int index)
{
        if (!v || index < 1 || (size_t)index > socfw_tfidf_n_features(v))
                return 0;
        return v->df[index];
}

double
socfw_tfidf_idf(const socfw_tfidf *v, int index)
{
        if (!v || index < 1 || (size_t)index > socfw_tfidf_n_features(v))
                return 0;
        return v->idf[index];
}

typedef struct feat {
        int index;
        double value;
} feat;

static int
cmp_feat(const void *x, const void *y)
{
        int a = ((const feat *)x)->index, b = ((const feat *)y)->index;
        return (a > b) - (a < b);
}

/* The vector of one text into *f (grown; *cap its size), *n entries. */
static int
vectorise(const socfw_tfidf *v, const char *text, work *w, feat **f,
          size_t *cap, size_t *n)
{
        *n = 0;
        for (int b = 0; b < 2; b++) {
                size_t m, start = *n;
                if (grams_of(&v->o, b, text, w, &m) < 0)
                        return -1;
                if (*n + m > *cap) {
                        size_t nc = (*n + m) * 2;
                        feat *nf = realloc(*f, nc * sizeof *nf);
                        if (!nf)
                                return -1;
                        *f = nf;
                        *cap = nc;
                }
                double norm = 0;
                for (size_t j = 0; j < m; j++) {
                        uint32_t index = vocab_get(&v->voc[b], w->h.v[j]);
                        if (!index)
                                continue;
                        double tf = v->o.sublinear_tf
                                            ? 1.0 + log((double)w->counts[j])
                                            : (double)w->counts[j];
                        double x = tf * v->idf[index];
                        (*f)[(*n)++] = (feat){(int)index, x};
                        norm += x * x;
                }
                norm = sqrt(norm);
                for (size_t j = start; norm > 0 && j < *n; j++)
                        (*f)[j].value /= norm;
        }
        qsort(*f, *n, sizeof **f, cmp_feat);
        return 0;
}

int
socfw_tfidf_transform(const socfw_tfidf *v, const char *text, int **idx,
                      double **val, size_t *n, socfw_error *err)
{
        work w = {0};
        feat *f = NULL;
        size_t cap = 0;
        *idx = NULL;
        *val = NULL;
        *n = 0;
        int rc = vectorise(v, text, &w, &f, &cap, n);
        if (rc == 0 && *n) {
                *idx = malloc(*n * sizeof **idx);
                *val = malloc(*n * sizeof **val);
                if (!*idx || !*val)
                        rc = -1;
                for (size_t j = 0; rc == 0 && j < *n; j++) {
                        (*idx)[j] = f[j].index;
                        (*val)[j] = f[j].value;
                }
        }
        free(f);
        work_clear(&w);
        if (rc < 0) {
                free(*idx);
                free(*val);
                *idx = NULL;
                *val = NULL;
                *n = 0;
                return socfw_error_set(err, SOCFW_ENOMEM,
                                       "baseline: out of memory");
        }
        return 0;
}

/* ---- logistic regression (liblinear) ---- */

struct socfw_baseline {
        socfw_tfidf *tfidf;
        struct model *model;    /* NULL: a single class, always predicted */
        size_t n_classes;
        int only_class;
};

static void
quiet(const char *s)
{
        (void)s; /* liblinear prints its progress to stdout otherwise */
}

/* One text as liblinear's row: features, the bias node, the terminator. */
static struct feature_node *
row_of(const socfw_tfidf *v, const char *text, work *w, feat **f,
       size_t *cap)
{
        size_t n;
        if (vectorise(v, text, w, f, cap, &n) < 0)
                return NULL;
        struct feature_node *x = malloc((n + 2) * sizeof *x);
        if (!x)
                return NULL;
        for (size_t j = 0; j < n; j++)
                x[j] = (struct feature_node){(*f)[j].index, (*f)[j].value};
        x[n] = (struct feature_node){(int)socfw_tfidf_n_features(v) + 1, 1.0};
        x[n + 1] = (struct feature_node){-1, 0};
        return x;
}

int
socfw_baseline_train(socfw_baseline **out, const char *const *texts,
                     const int *labels, size_t n, size_t n_classes,
                     const socfw_baseline_options *o, socfw_error *err)
{
        socfw_baseline_options def = SOCFW_BASELINE_OPTIONS_INIT;
        *out = NULL;
        if (!o)
                o = &def;
        if (n_classes == 0 || n > (size_t)INT32_MAX)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "baseline: %zu classes, %zu texts",
                                       n_classes, n);
        for (size_t i = 0; i < n; i++)
                if (labels[i] < 0 || (size_t)labels[i] >= n_classes)
                        return socfw_error_set(err, SOCFW_EINVAL,
                                               "baseline: text %zu has class "
                                               "%d, expected 0..%zu",
                                               i, labels[i], n_classes - 1);
        socfw_baseline *b = calloc(1, sizeof *b);
        size_t *count = calloc(n_classes, sizeof *count);
        struct feature_node **x = NULL;
        double *y = NULL, *wt = NULL;
        int *wl = NULL;
        feat *f = NULL;
        size_t cap = 0;
        work w = {0};
        int rc;
        if (!b || !count) {
                rc = socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
                goto out;
        }
        b->n_classes = n_classes;
        rc = socfw_tfidf_fit(&b->tfidf, texts, n, o, err);
        if (rc < 0)
                goto out;
        size_t present = 0;
        for (size_t i = 0; i < n; i++)
                count[labels[i]]++;
        for (size_t k = 0; k < n_classes; k++)
                if (count[k]) {
                        present++;
                        b->only_class = (int)k;
                }
        if (present < 2) { /* nothing to separate */
                *out = b;
                b = NULL;
                goto out;
        }
        x = calloc(n, sizeof *x);
        y = malloc(n * sizeof *y);
        wt = malloc(present * sizeof *wt);
        wl = malloc(present * sizeof *wl);
        if (!x || !y || !wt || !wl)
                goto oom;
        for (size_t i = 0; i < n; i++) {
                if (!(x[i] = row_of(b->tfidf, texts[i], &w, &f, &cap)))
                        goto oom;
                y[i] = labels[i];
        }
        for (size_t k = 0, j = 0; k < n_classes; k++)
                if (count[k]) {
                        wl[j] = (int)k;
                        wt[j++] = o->balanced ? (double)n /
                                                        ((double)present *
                                                         (double)count[k])
                                              : 1.0;
                }
        struct problem prob = {
                .l = (int)n,
                .n = (int)socfw_tfidf_n_features(b->tfidf) + 1,
                .y = y, .x = x, .bias = 1.0,
        };
        struct parameter param = {
                .solver_type = L2R_LR, .eps = o->eps, .C = o->C,
                .nr_weight = (int)present, .weight_label = wl, .weight = wt,
        };
        const char *msg = check_parameter(&prob, &param);
        if (msg) {
                rc = socfw_error_set(err, SOCFW_EINTERNAL,
                                     "baseline: liblinear refused its "
                                     "parameters: %s", msg);
                goto out;
        }
        set_print_string_function(quiet);
        b->model = train(&prob, &param);
        if (!b->model)
                goto oom;
        *out = b;
        b = NULL;
        rc = 0;
        goto out;
oom:
        rc = socfw_error_set(err, SOCFW_ENOMEM,
                             "baseline: out of memory training on %zu texts",
                             n);
out:
        for (size_t i = 0; x && i < n; i++)
                free(x[i]);
        free(x);
        free(y);
        free(wt);
        free(wl);
        free(f);
        free(count);
        work_clear(&w);
        socfw_baseline_free(b);
        return rc;
}

void
socfw_baseline_free(socfw_baseline *b)
{
        if (!b)
                return;
        if (b->model)
                free_and_destroy_model(&b->model);
        socfw_tfidf_free(b->tfidf);
        free(b);
}

const socfw_tfidf *
socfw_baseline_features(const socfw_baseline *b)
{
        return b ? b->tfidf : NULL;
}

int
socfw_baseline_predict(const socfw_baseline *b, const char *text,
                       double *scores, int *label, socfw_error *err)
{
        size_t K = b->n_classes;
        for (size_t k = 0; scores && k < K; k++)
                scores[k] = -HUGE_VAL;
        if (!b->model) {
                *label = b->only_class;
                if (scores)
                        scores[b->only_class] = 0;
                return 0;
        }
        work w = {0};
        feat *f = NULL;
        size_t cap = 0;
        int nr = get_nr_class(b->model);
        struct feature_node *x = row_of(b->tfidf, text, &w, &f, &cap);
        double *dec = malloc((size_t)nr * sizeof *dec);
        int rc = 0;
        if (!x || !dec) {
                rc = socfw_error_set(err, SOCFW_ENOMEM,
                                     "baseline: out of memory");
                goto out;
        }
        *label = (int)predict_values(b->model, x, dec);
        if (scores) {
                if (nr == 2) {
                        scores[b->model->label[0]] = dec[0];
                        scores[b->model->label[1]] = -dec[0];
                } else {
                        for (int k = 0; k < nr; k++)
                                scores[b->model->label[k]] = dec[k];
                }
        }
out:
        free(dec);
        free(x);
        free(f);
        work_clear(&w);
        return rc;
}

/* ---- next to a task's report ---- */

typedef struct corpus {
        char **text;
        int *label;
        size_t n, cap;
        size_t skipped;         /* rows parse_example refused */
} corpus;

static void
corpus_clear(corpus *c)
{
        for (size_t i = 0; i < c->n; i++)
                free(c->text[i]);
        free(c->text);
        free(c->label);
        memset(c, 0, sizeof *c);
}

/* Append (text is consumed). */
static int
corpus_push(corpus *c, char *text, int label)
{
        if (c->n == c->cap) {
                size_t nc = c->cap ? c->cap * 2 : 1024;
                char **t = realloc(c->text, nc * sizeof *t);
                if (t)
                        c->text = t;
                int *l = t ? realloc(c->label, nc * sizeof *l) : NULL;
                if (!l) {
                        free(text);
                        return -1;
                }
                c->label = l;
                c->cap = nc;
        }
        c->text[c->n] = text;
        c->label[c->n++] = label;
        return 0;
}

/* The text the model reads: the pair joined by a space, through the
 * privacy stage when the pipeline anonymises its data (as the runtime's
 * rt_anonymise).  *out: caller frees. */
static int
model_text(socfw_task_ctx *privacy, const example_item *it, char **out,
           socfw_error *err)
{
        const char *a = it->text ? it->text : "";
        const char *b = it->text_pair;
        size_t la = strlen(a), lb = b ? strlen(b) : 0;
        char *t = malloc(la + lb + 2);
        *out = NULL;
        if (!t)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        memcpy(t, a, la);
        t[la] = 0;
        if (b) {
                t[la] = ' ';
                memcpy(t + la + 1, b, lb + 1);
        }
        if (!privacy) {
                *out = t;
                return 0;
        }
        socfw_post *post = socfw_post_new(t, NULL);
        free(t);
        if (!post)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        int rc = privacy->plugin->task.predict(privacy->state, post, err);
        if (rc == 0 && !(*out = strdup(socfw_post_text(post))))
                rc = socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        socfw_post_free(post);
        return rc;
}

/* Read one data file through the task's parse_example, as the runtime
 * reads it for the model.  Returns 0, 1 when the task is not single-label
 * classification, or a negative code. */
static int
read_split(socfw_task_ctx *ctx, socfw_task_ctx *privacy, const char *split,
           const char *path, corpus *c, socfw_error *err)
{
        socfw_reader_options ro = SOCFW_READER_OPTIONS_INIT;
        int fmt = socfw_data_format_parse(
                socfw_config_get_string(ctx->cfg, "data.format"));
        ro.format = fmt < 0 ? SOCFW_DATA_FORMAT_AUTO : (socfw_data_format)fmt;
        /* the model's own reading already applied train.on_bad_row */
        ro.bad_rows = SOCFW_BAD_ROWS_SKIP;
        int64_t max_rows = socfw_config_get_int(ctx->cfg, "data.max_rows");
        const char *saved = ctx->split;
        socfw_reader *r = NULL;
        socfw_record *rec = NULL;
        socfw_example *ex = socfw_example_new();
        int rc = ex ? socfw_reader_open(&r, path, &ro, err)
                    : socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        int64_t rows = 0;
        ctx->split = !strcmp(split, "train")   ? "train"
                     : !strcmp(split, "valid") ? "valid"
                     : !strcmp(split, "test")  ? "test"
                                               : "eval";
        while (rc == 0 && (max_rows <= 0 || rows < max_rows)) {
                int got = socfw_reader_next(r, &rec, err);
                if (got <= 0) {
                        rc = got;
                        break;
                }
                rows++;
                socfw_error perr = {0};
                socfw_example_reset(ex);
                int prc = ctx->plugin->task.parse_example(ctx->state, rec, ex,
                                                          &perr);
                if (prc == SOCFW_ENOMEM)
                        rc = socfw_error_set(err, prc, "out of memory");
                else if (prc < 0)
                        c->skipped++;
                for (size_t i = 0; prc == 0 && rc == 0 &&
                                   i < socfw_example_count(ex);
                     i++) {
                        const example_item *it = socfw_example_item(ex, i);
                        char *text;
                        if (it->kind != EXAMPLE_CLASS) {
                                rc = 1;
                                break;
                        }
                        rc = model_text(privacy, it, &text, err);
                        if (rc == 0 && corpus_push(c, text, it->class_id) < 0)
                                rc = socfw_error_set(err, SOCFW_ENOMEM,
                                                     "out of memory");
                }
                socfw_record_free(rec);
                rec = NULL;
        }
        ctx->split = saved;
        socfw_reader_close(r);
        socfw_example_free(ex);
        return rc;
}

static void
sb_append(char **s, size_t *len, int *oom, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static void
sb_append(char **s, size_t *len, int *oom, const char *fmt, ...)
{
        va_list ap;
        if (*oom)
                return;
        va_start(ap, fmt);
        int n = vsnprintf(NULL, 0, fmt, ap);
        va_end(ap);
        char *ns = n >= 0 ? realloc(*s, *len + (size_t)n + 1) : NULL;
        if (!ns) {
                *oom = 1;
                return;
        }
        *s = ns;
        va_start(ap, fmt);
        vsnprintf(*s + *len, (size_t)n + 1, fmt, ap);
        va_end(ap);
        *len += (size_t)n;
}

static double
seconds_now(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* BLAKE2b-256 (hex) of everything the baseline's result depends on: the
 * recipe, the labels, and both splits' texts and classes. */
static void
fingerprint(const socfw_baseline_options *o, const char *const *names,
            size_t K, const corpus *tr, const corpus *te, char hex[65])
{
        crypto_generichash_state st;
        unsigned char h[32];
        char buf[256];
        crypto_generichash_init(&st, NULL, 0, sizeof h);
        int n = snprintf(buf, sizeof buf,
                         "socfw-baseline-1 %d %d %d %d %d %d %.17g %d %.17g "
                         "%zu",
                         o->word_min_n, o->word_max_n, o->char_min_n,
                         o->char_max_n, o->min_df, o->sublinear_tf, o->C,
                         o->balanced, o->eps, K);
        crypto_generichash_update(&st, (const unsigned char *)buf,
                                  (size_t)n + 1);
        for (size_t k = 0; k < K; k++)
                crypto_generichash_update(
                        &st, (const unsigned char *)(names[k] ? names[k] : ""),
                        strlen(names[k] ? names[k] : "") + 1);
        const corpus *c[2] = {tr, te};
        for (int j = 0; j < 2; j++) {
                n = snprintf(buf, sizeof buf, "split %d %zu", j, c[j]->n);
                crypto_generichash_update(&st, (const unsigned char *)buf,
                                          (size_t)n + 1);
                for (size_t i = 0; i < c[j]->n; i++) {
                        n = snprintf(buf, sizeof buf, "%d", c[j]->label[i]);
                        crypto_generichash_update(
                                &st, (const unsigned char *)buf, (size_t)n + 1);
                        crypto_generichash_update(
                                &st, (const unsigned char *)c[j]->text[i],
                                strlen(c[j]->text[i]) + 1);
                }
        }
        crypto_generichash_final(&st, h, sizeof h);
        sodium_bin2hex(hex, 65, h, sizeof h);
}

/* A result saved by an earlier evaluation of this run with the same
 * fingerprint: fills cm (K x K), *n_features and *secs and returns 1;
 * 0 when there is none or it does not fit (then it is recomputed). */
static int
cache_load(const char *path, const char *fp, socfw_confusion *cm,
           size_t *n_features, double *secs)
{
        json_t *j = json_load_file(path, 0, NULL);
        json_t *rows = json_object_get(j, "confusion_matrix");
        const char *have = json_string_value(json_object_get(j,
                                                             "fingerprint"));
        size_t K = cm->n_classes;
        int ok = have && !strcmp(have, fp) && json_is_array(rows) &&
                 json_array_size(rows) == K &&
                 json_is_integer(json_object_get(j, "features")) &&
                 json_is_number(json_object_get(j, "seconds"));
        for (size_t t = 0; ok && t < K; t++) {
                json_t *row = json_array_get(rows, t);
                ok = json_is_array(row) && json_array_size(row) == K;
                for (size_t q = 0; ok && q < K; q++) {
                        json_t *v = json_array_get(row, q);
                        ok = json_is_integer(v) && json_integer_value(v) >= 0;
                        if (ok)
                                cm->counts[t * K + q] =
                                        (size_t)json_integer_value(v);
                }
        }
        if (ok) {
                json_int_t f = json_integer_value(json_object_get(j,
                                                                  "features"));
                *n_features = f > 0 ? (size_t)f : 0;
                *secs = json_number_value(json_object_get(j, "seconds"));
        } else {
                memset(cm->counts, 0, K * K * sizeof *cm->counts);
        }
        json_decref(j);
        return ok;
}

/* <task>.<split>.baseline.json: the fingerprint, the training set, and
 * the classification report with its confusion matrix. */
static int
cache_save(const char *path, const char *fp, const char *train,
           size_t n_train, size_t n_features, double secs,
           const socfw_classification *res, const socfw_confusion *cm,
           const char *const *names, socfw_error *err)
{
        json_t *j = socfw_report_classification_json(res, cm, names);
        char *text = NULL;
        int rc = 0;
        if (!j ||
            json_object_set_new(j, "fingerprint", json_string(fp)) < 0 ||
            json_object_set_new(j, "train", json_string(train)) < 0 ||
            json_object_set_new(j, "train_texts",
                                json_integer((json_int_t)n_train)) < 0 ||
            json_object_set_new(j, "features",
                                json_integer((json_int_t)n_features)) < 0 ||
            json_object_set_new(j, "seconds", json_real(secs)) < 0 ||
            !(text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS)))
                rc = socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        if (rc == 0)
                rc = socfw_file_write_atomic(path, text, strlen(text), err);
        free(text);
        json_decref(j);
        return rc;
}

int
socfw_baseline_task_report(socfw_task_ctx *ctx, socfw_task_ctx *privacy,
                           const socfw_pipeline *p, const char *split,
                           const char *path, const char *out_dir,
                           socfw_metrics *metrics, char **report,
                           socfw_error *err)
{
        const socfw_config *ev = p ? socfw_pipeline_section(p, "evaluate")
                                   : NULL;
        size_t K = ctx ? socfw_task_label_count(ctx) : 0;
        if (!ctx || !path || !split || K < 2 ||
            !ctx->plugin->task.parse_example ||
            (ev && !socfw_config_get_bool(ev, "baseline")))
                return 0;
        socfw_baseline_options o = SOCFW_BASELINE_OPTIONS_INIT;
        const char *train = socfw_config_get_string(ctx->cfg, "data.train");
        corpus tr = {0}, te = {0};
        socfw_baseline *b = NULL;
        socfw_confusion *cm = NULL;
        socfw_classification res = {0};
        socfw_error local = {0};
        const char **names = calloc(K, sizeof *names);
        char *table = NULL, *sec = NULL; /* the section, then appended */
        char *cache = NULL, fp[65];
        size_t len = 0, n_features = 0;
        int oom = !names, rc = 0, cached = 0;
        double t0 = seconds_now(), secs = 0;
        if (oom)
                goto out;
        for (size_t k = 0; k < K; k++)
                names[k] = socfw_task_label(ctx, k);
        /* read both splits as the model reads them */
        rc = train ? read_split(ctx, privacy, "train", train, &tr, &local)
                   : socfw_error_set(&local, SOCFW_ENOTFOUND,
                                     "the task has no data.train");
        if (rc == 0)
                rc = read_split(ctx, privacy, split, path, &te, &local);
        if (rc == 1) { /* not single-label classification: no section */
                rc = 0;
                goto out;
        }
        sb_append(&sec, &len, &oom, "baseline: TF-IDF (word %d-%d-grams + "
                  "char %d-%d-grams, sublinear tf, min_df %d) + logistic "
                  "regression (liblinear, C=%g, %s class weights), trained "
                  "in this run\n",
                  o.word_min_n, o.word_max_n, o.char_min_n, o.char_max_n,
                  o.min_df, o.C, o.balanced ? "balanced" : "equal");
        if (rc == 0 && (tr.n == 0 || te.n == 0))
                rc = socfw_error_set_at(&local, SOCFW_EFORMAT,
                                        tr.n ? path : train, 0, 0,
                                        "no usable examples");
        if (rc == 0)
                rc = socfw_confusion_new(&cm, K, &local);
        /* the same data as an earlier evaluation of this run: its result */
        if (rc == 0 && out_dir) {
                char file[600];
                snprintf(file, sizeof file, "%s.%s.baseline.json",
                         socfw_task_name(ctx), split);
                cache = socfw_path_join_alloc(out_dir, file);
                if (!cache)
                        rc = socfw_error_set(&local, SOCFW_ENOMEM,
                                             "out of memory");
                fingerprint(&o, names, K, &tr, &te, fp);
                cached = cache &&
                         cache_load(cache, fp, cm, &n_features, &secs);
        }
        if (rc == 0 && !cached) {
                rc = socfw_baseline_train(&b, (const char *const *)tr.text,
                                          tr.label, tr.n, K, &o, &local);
                for (size_t i = 0; rc == 0 && i < te.n; i++) {
                        int k;
                        rc = socfw_baseline_predict(b, te.text[i], NULL, &k,
                                                    &local);
                        if (rc == 0)
                                socfw_confusion_add(cm, te.label[i], k);
                }
                n_features = socfw_tfidf_n_features(
                        socfw_baseline_features(b));
                secs = seconds_now() - t0;
        }
        if (rc == 0)
                rc = socfw_classification_compute(&res, cm, &local);
        if (rc == 0 && cache && !cached &&
            cache_save(cache, fp, train, tr.n, n_features, secs, &res, cm,
                       names, &local) < 0)
                SOCFW_LOG_WARN("baseline: cannot save %s: %s", cache,
                               local.message);
        if (rc == SOCFW_ENOMEM) {
                rc = socfw_error_set(err, rc, "%s", local.message);
                goto out;
        }
        if (rc < 0) { /* said in the report, not fatal to the run */
                sb_append(&sec, &len, &oom, "  not computed: %s%s%s\n",
                          local.file[0] ? local.file : "",
                          local.file[0] ? ": " : "", local.message);
                rc = 0;
                goto append;
        }
        /* metrics, and how the model compares */
        char prefix[512], name[600];
        snprintf(prefix, sizeof prefix, "%s.%s.baseline",
                 socfw_task_name(ctx), split);
        if (metrics &&
            socfw_metrics_add_classification(metrics, prefix, &res) < 0)
                oom = 1;
        sb_append(&sec, &len, &oom, "  %zu training texts (%s), %zu "
                  "features, trained and scored in %.1f s%s\n", tr.n, train,
                  n_features, secs,
                  cached ? " (result kept from an earlier evaluation of "
                           "this run on the same data)"
                         : "");
        static const char *const cmp[] = {"macro_recall", "macro_f1",
                                          "accuracy"};
        double base[] = {res.macro_recall, res.macro_f1, res.accuracy};
        int shown = 0;
        for (size_t i = 0; metrics && i < 3; i++) {
                double v;
                snprintf(name, sizeof name, "%s.%s.%s", socfw_task_name(ctx),
                         split, cmp[i]);
                if (socfw_metrics_get(metrics, name, &v, NULL) < 0)
                        continue;
                sb_append(&sec, &len, &oom, "%s%s %.4f vs %.4f (%+.4f)",
                          shown++ ? ", " : "  model vs baseline: ", cmp[i],
                          v, base[i], v - base[i]);
        }
        if (shown)
                sb_append(&sec, &len, &oom, "\n");
        table = socfw_report_classification_text(&res, cm, names, 4);
        if (!table)
                oom = 1;
        sb_append(&sec, &len, &oom, "\n%s", table ? table : "");
append:
        if (!oom && report) {
                size_t have = *report ? strlen(*report) : 0;
                char *r = realloc(*report, have + 1 + len + 1);
                if (!r) {
                        oom = 1;
                } else {
                        r[have] = 0;
                        if (have)
                                strcat(r, "\n");
                        strcat(r, sec);
                        *report = r;
                }
        }
out:
        if (oom && rc == 0)
                rc = socfw_error_set(err, SOCFW_ENOMEM,
                                     "baseline: out of memory");
        free(cache);
        free(sec);
        free(table);
        free(names);
        socfw_classification_clear(&res);
        socfw_confusion_free(cm);
        socfw_baseline_free(b);
        corpus_clear(&tr);
        corpus_clear(&te);
        return rc;
}
