/* baseline.c - the classical baseline next to classification reports:
 * TF-IDF over word 1-2-grams and character 2-5-grams, logistic regression
 * trained with liblinear (two classes, or one-vs-rest) or as one softmax
 * model (softmax_lr.c) (see socfw/baseline.h for the exact recipe). */
#include "socfw/baseline.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linear.h>
#include <sodium.h>
#include <utf8proc.h>

#include "softmax_lr.h"

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
                 o->eps > 0 && o->eps < 1 && o->max_iter >= 1;
        ok = ok && o->word_min_n >= 1 && o->word_max_n <= NGRAM_MAX &&
             o->char_min_n >= 1 && o->char_max_n <= NGRAM_MAX;
        if (!ok)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "baseline options out of range "
                                       "(n-grams 1..%d, min_df >= 1, C > 0, "
                                       "0 < eps < 1, max_iter >= 1)",
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
        if (*n > 1)
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
        struct model *model;    /* liblinear's, or NULL                   */
        double *softmax;        /* or the softmax model's weights         */
        int *softmax_class;     /* its classes: row k is class [k]        */
        int n_softmax;
        size_t n_classes;
        int only_class;         /* neither: this class, always predicted  */
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

/* The loss weight of a class with n_k of the n training texts, over
 * `present` classes: n / (present n_k) when balanced (scikit-learn's
 * class_weight="balanced"), else 1. */
static double
class_weight(const socfw_baseline_options *o, size_t n, size_t present,
             size_t n_k)
{
        return o->balanced ? (double)n / ((double)present * (double)n_k)
                           : 1.0;
}

static int
out_of_memory_training(size_t n, socfw_error *err)
{
        return socfw_error_set(err, SOCFW_ENOMEM,
                               "baseline: out of memory training on %zu "
                               "texts", n);
}

/* The softmax model over the classes present (count[k] > 0), each
 * example's loss weighted as liblinear's path weights its C. */
static int
train_softmax(socfw_baseline *b, const char *const *texts, const int *labels,
              size_t n, const size_t *count, size_t present,
              const socfw_baseline_options *o, socfw_error *err)
{
        size_t K = b->n_classes, cap = 0, nnz = 0, nnz_cap = 1;
        int *compact = malloc(K * sizeof *compact), *y = malloc(n * sizeof *y);
        double *weight = malloc(present * sizeof *weight);
        size_t *ptr = malloc((n + 1) * sizeof *ptr);
        int *col = malloc(sizeof *col);         /* never NULL, even when */
        double *val = malloc(sizeof *val);      /* no text has a feature */
        feat *f = NULL;
        work w = {0};
        int rc = 0;
        b->softmax_class = malloc(present * sizeof *b->softmax_class);
        if (!compact || !y || !weight || !ptr || !col || !val ||
            !b->softmax_class)
                goto oom;
        for (size_t k = 0, j = 0; k < K; k++) {
                compact[k] = count[k] ? (int)j : -1;
                if (!count[k])
                        continue;
                b->softmax_class[j] = (int)k;
                weight[j++] = class_weight(o, n, present, count[k]);
        }
        ptr[0] = 0;
        for (size_t i = 0; i < n; i++) {
                size_t m;
                if (vectorise(b->tfidf, texts[i], &w, &f, &cap, &m) < 0)
                        goto oom;
                if (nnz + m > nnz_cap) {
                        size_t nc = (nnz + m) * 2;
                        int *nc_col = realloc(col, nc * sizeof *col);
                        if (nc_col)
                                col = nc_col;
                        double *nc_val = realloc(val, nc * sizeof *val);
                        if (nc_val)
                                val = nc_val;
                        if (!nc_col || !nc_val)
                                goto oom;
                        nnz_cap = nc;
                }
                for (size_t j = 0; j < m; j++) {
                        col[nnz] = f[j].index - 1;
                        val[nnz++] = f[j].value;
                }
                ptr[i + 1] = nnz;
                y[i] = compact[labels[i]];
        }
        sparse_rows X = {.n_rows = n,
                         .n_features = socfw_tfidf_n_features(b->tfidf),
                         .ptr = ptr, .col = col, .val = val};
        ptr = NULL; /* the solver frees them once it has its own copy */
        col = NULL;
        val = NULL;
        rc = softmax_lr_fit(&X, y, weight, (int)present, o->C, o->eps,
                            o->max_iter, &b->softmax, err);
        if (rc == 0)
                b->n_softmax = (int)present;
        goto out;
oom:
        rc = out_of_memory_training(n, err);
out:
        free(compact);
        free(y);
        free(weight);
        free(ptr);
        free(col);
        free(val);
        free(f);
        work_clear(&w);
        return rc;
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
        if (present < 2 || (o->multinomial && present > 2)) {
                if (present > 2)
                        rc = train_softmax(b, texts, labels, n, count,
                                           present, o, err);
                if (rc == 0) {
                        *out = b;
                        b = NULL;
                }
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
                        wt[j++] = class_weight(o, n, present, count[k]);
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
        rc = out_of_memory_training(n, err);
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
        free(b->softmax);
        free(b->softmax_class);
        socfw_tfidf_free(b->tfidf);
        free(b);
}

const socfw_tfidf *
socfw_baseline_features(const socfw_baseline *b)
{
        return b ? b->tfidf : NULL;
}

static int
predict_softmax(const socfw_baseline *b, const char *text, double *scores,
                int *label, socfw_error *err)
{
        work w = {0};
        feat *f = NULL;
        size_t cap = 0, m;
        int P = b->n_softmax, rc = 0;
        double *z = malloc((size_t)P * sizeof *z);
        int *col = NULL;
        double *val = NULL;
        if (!z || vectorise(b->tfidf, text, &w, &f, &cap, &m) < 0)
                goto oom;
        col = malloc((m ? m : 1) * sizeof *col);
        val = malloc((m ? m : 1) * sizeof *val);
        if (!col || !val)
                goto oom;
        for (size_t j = 0; j < m; j++) {
                col[j] = f[j].index - 1;
                val[j] = f[j].value;
        }
        softmax_lr_scores(b->softmax, socfw_tfidf_n_features(b->tfidf), P,
                          col, val, m, z);
        int best = 0;
        for (int k = 0; k < P; k++) {
                if (z[k] > z[best])
                        best = k;
                if (scores)
                        scores[b->softmax_class[k]] = z[k];
        }
        *label = b->softmax_class[best];
        goto out;
oom:
        rc = socfw_error_set(err, SOCFW_ENOMEM, "baseline: out of memory");
out:
        free(z);
        free(col);
        free(val);
        free(f);
        work_clear(&w);
        return rc;
}

int
socfw_baseline_predict(const socfw_baseline *b, const char *text,
                       double *scores, int *label, socfw_error *err)
{
        size_t K = b->n_classes;
        for (size_t k = 0; scores && k < K; k++)
                scores[k] = -HUGE_VAL;
        if (b->softmax)
                return predict_softmax(b, text, scores, label, err);
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
