/* brief.c - briefs, prompts, constraints and metrics of advertising copy
 * (see brief.h). */
#define _GNU_SOURCE /* strndup */
#include "brief.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "socfw/rng.h"
#include "socfw/metrics.h"

/* ---- small helpers ---- */

static int
valid_utf8(const char *s)
{
        const unsigned char *u = (const unsigned char *)s;
        while (*u) {
                size_t n = *u < 0x80 ? 1 : (*u & 0xE0) == 0xC0 ? 2 :
                           (*u & 0xF0) == 0xE0 ? 3 : (*u & 0xF8) == 0xF0 ? 4 :
                           0;
                if (n == 0)
                        return 0;
                for (size_t i = 1; i < n; i++)
                        if ((u[i] & 0xC0) != 0x80)
                                return 0;
                u += n;
        }
        return 1;
}

size_t
socfw_adcopy_chars(const char *s)
{
        size_t c = 0;
        for (; s && *s; s++)
                c += ((unsigned char)*s & 0xC0) != 0x80;
        return c;
}

static int
lower(int c)
{
        return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/* Case-insensitive (ASCII) substring search. */
static const char *
find_icase(const char *hay, const char *needle)
{
        size_t n = strlen(needle);
        if (n == 0)
                return hay;
        for (const char *p = hay; *p; p++) {
                size_t i = 0;
                while (i < n && p[i] &&
                       lower((unsigned char)p[i]) ==
                               lower((unsigned char)needle[i]))
                        i++;
                if (i == n)
                        return p;
        }
        return NULL;
}

/* ---- briefs ---- */

void
socfw_adcopy_brief_clear(socfw_adcopy_brief *b)
{
        if (!b)
                return;
        free(b->category);
        free(b->advertiser);
        free(b->product);
        free(b->audience);
        free(b->tone);
        free(b->channel);
        for (size_t i = 0; i < b->n_keywords; i++)
                free(b->keywords[i]);
        free(b->keywords);
        memset(b, 0, sizeof *b);
}

/* A trimmed, single-line copy of v (NULL for blank). */
static int
clean_copy(const char *v, char **out, socfw_error *err)
{
        *out = NULL;
        if (!v)
                return 0;
        if (strlen(v) > SOCFW_ADCOPY_FIELD_MAX)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "%zu bytes, more than the %d "
                                       "allowed",
                                       strlen(v), SOCFW_ADCOPY_FIELD_MAX);
        if (!valid_utf8(v))
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "not valid UTF-8");
        while (isspace((unsigned char)*v))
                v++;
        size_t n = strlen(v);
        while (n && isspace((unsigned char)v[n - 1]))
                n--;
        if (n == 0)
                return 0;
        char *c = strndup(v, n);
        if (!c)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        for (char *p = c; *p; p++)
                if (*p == '\n' || *p == '\r' || *p == '\t')
                        *p = ' ';
        *out = c;
        return 0;
}

int
socfw_adcopy_brief_set(char **slot, const char *value, socfw_error *err)
{
        char *c = NULL;
        int rc = clean_copy(value, &c, err);
        if (rc < 0)
                return rc;
        free(*slot);
        *slot = c;
        return 0;
}

int
socfw_adcopy_brief_add_keyword(socfw_adcopy_brief *b, const char *kw,
                               socfw_error *err)
{
        char *c = NULL;
        int rc = clean_copy(kw, &c, err);
        if (rc < 0)
                return socfw_error_prefix(err, rc, "keywords");
        if (!c)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "keywords: an empty keyword");
        for (size_t i = 0; i < b->n_keywords; i++)
                if (strcasecmp(b->keywords[i], c) == 0) {
                        free(c);
                        return 0;       /* already there */
                }
        if (b->n_keywords >= SOCFW_ADCOPY_KEYWORDS_MAX) {
                free(c);
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "keywords: more than %d",
                                       SOCFW_ADCOPY_KEYWORDS_MAX);
        }
        char **k = realloc(b->keywords, (b->n_keywords + 1) * sizeof *k);
        if (!k) {
                free(c);
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        }
        b->keywords = k;
        k[b->n_keywords++] = c;
        return 0;
}

size_t
socfw_adcopy_channel_limit(const char *channel)
{
        static const struct {
                const char *name;
                size_t limit;
        } ch[] = {{"generic", 500}, {"twitter", 280}, {"weibo", 140},
                  {"search_ad", 90}, {"banner", 60}};
        for (size_t i = 0; channel && i < sizeof ch / sizeof ch[0]; i++)
                if (!strcmp(ch[i].name, channel))
                        return ch[i].limit;
        return 0;
}

int
socfw_adcopy_brief_check(const socfw_adcopy_brief *b,
                         const char *const *banned, socfw_error *err)
{
        if (!b->product)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "product: missing or empty (hint: "
                                       "say what the copy advertises)");
        size_t need = 0;
        for (size_t i = 0; i < b->n_keywords; i++) {
                const char *kw = b->keywords[i];
                size_t c = socfw_adcopy_chars(kw);
                if (b->max_chars && c > b->max_chars)
                        return socfw_error_set(err, SOCFW_EINVAL,
                                "keywords: '%s' has %zu characters, more "
                                "than the limit of %zu (hint: a shorter "
                                "keyword or another channel)",
                                kw, c, b->max_chars);
                need += c + 2;
                for (size_t j = 0; banned && banned[j]; j++)
                        if (find_icase(kw, banned[j]))
                                return socfw_error_set(err, SOCFW_EINVAL,
                                        "keywords: '%s' contains the banned "
                                        "'%s'",
                                        kw, banned[j]);
        }
        if (b->max_chars && need > b->max_chars)
                return socfw_error_set(err, SOCFW_EINVAL,
                        "keywords: together they need %zu characters with "
                        "separators, more than the limit of %zu (hint: "
                        "fewer keywords or another channel)",
                        need, b->max_chars);
        return 0;
}

/* Round a length to the hint buckets the prompt uses. */
static const size_t buckets[] = {60, 90, 140, 280, 500, 1000, 2000};
#define N_BUCKETS (sizeof buckets / sizeof buckets[0])

static size_t
hint_of(const socfw_adcopy_brief *b)
{
        if (b->length_hint) {
                /* a reference copy's length: the smallest bucket above */
                for (size_t i = 0; i < N_BUCKETS; i++)
                        if (b->length_hint <= buckets[i])
                                return buckets[i];
                return buckets[N_BUCKETS - 1];
        }
        if (!b->max_chars)
                return 0;
        /* a limit: the largest bucket within it */
        size_t h = 0;
        for (size_t i = 0; i < N_BUCKETS; i++)
                if (buckets[i] <= b->max_chars)
                        h = buckets[i];
        return h ? h : buckets[0];
}

char *
socfw_adcopy_prompt(const socfw_adcopy_brief *b)
{
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        if (!f)
                return NULL;
        const struct {
                const char *name, *value;
        } lines[] = {{"category", b->category}, {"advertiser", b->advertiser},
                     {"product", b->product}, {"audience", b->audience},
                     {"tone", b->tone}};
        for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
                if (lines[i].value)
                        fprintf(f, "%s: %s\n", lines[i].name, lines[i].value);
        size_t h = hint_of(b);
        if (h)
                fprintf(f, "length: under %zu\n", h);
        if (b->n_keywords) {
                fputs("keywords:", f);
                for (size_t i = 0; i < b->n_keywords; i++)
                        fprintf(f, "%s %s", i ? "," : "", b->keywords[i]);
                fputc('\n', f);
        }
        fputs("copy:", f);
        if (fclose(f) != 0) {
                free(buf);
                return NULL;
        }
        return buf;
}

/* ---- keywords from a reference ---- */

static const char *const stop_words[] = {
        "about", "after", "again", "also", "always", "because", "been",
        "before", "being", "best", "better", "both", "call", "came", "come",
        "could", "does", "doing", "done", "down", "each", "even", "every",
        "from", "gets", "give", "going", "good", "great", "have", "having",
        "here", "into", "just", "know", "like", "little", "long", "look",
        "made", "make", "many", "more", "most", "much", "must", "need",
        "never", "next", "only", "other", "over", "really", "right", "same",
        "should", "since", "some", "such", "take", "than", "that", "their",
        "them", "then", "there", "these", "they", "thing", "things", "this",
        "those", "through", "time", "today", "very", "want", "well", "were",
        "what", "when", "where", "which", "while", "will", "with", "without",
        "would", "year", "years", "your", "yours", "you're", "it's", "that's",
        "don't", "we're", "we've", "can't", "isn't", "there's", "let's",
        "you'll", "you've", "we'll", "they're", "what's", "won't", NULL,
};

static int
is_stop_word(const char *w)
{
        for (size_t i = 0; stop_words[i]; i++)
                if (!strcasecmp(stop_words[i], w))
                        return 1;
        return 0;
}

static int
word_byte(unsigned char c)
{
        return isalnum(c) || c == '\'' || c >= 0x80;
}

/* Whole word `w` (case-insensitive) among the words of s. */
static int
has_word(const char *s, const char *w)
{
        size_t n = strlen(w);
        for (const char *p = s; p && (p = find_icase(p, w)); p++) {
                int before = p > s && word_byte((unsigned char)p[-1]);
                int after = word_byte((unsigned char)p[n]);
                if (!before && !after)
                        return 1;
        }
        return 0;
}

static uint64_t
word_key(const char *w, uint64_t seed)
{
        uint64_t h = socfw_rng_mix64(seed);
        for (const char *p = w; *p; p++)
                h = socfw_rng_mix64(h ^ (uint64_t)lower((unsigned char)*p));
        return h;
}

typedef struct cand {
        char *w;
        uint64_t key;
} cand;

static int
cand_cmp(const void *a, const void *b)
{
        const cand *x = a, *y = b;
        return x->key < y->key ? -1 : x->key > y->key;
}

int
socfw_adcopy_derive_keywords(socfw_adcopy_brief *b, const char *copy,
                             size_t k, uint64_t seed, socfw_error *err)
{
        cand *c = NULL;
        size_t n = 0, cap = 0;
        int rc = 0, added = 0;
        const char *p = copy;
        while (p && *p) {
                while (*p && !word_byte((unsigned char)*p))
                        p++;
                const char *s = p;
                while (*p && word_byte((unsigned char)*p))
                        p++;
                size_t len = (size_t)(p - s);
                while (len && s[len - 1] == '\'')
                        len--;
                if (len < 4 || len > 40)
                        continue;
                char *w = strndup(s, len);
                if (!w) {
                        rc = socfw_error_set(err, SOCFW_ENOMEM,
                                             "out of memory");
                        goto out;
                }
                int skip = is_stop_word(w) || strspn(w, "0123456789") == len ||
                           has_word(b->product, w) ||
                           (b->advertiser && has_word(b->advertiser, w)) ||
                           socfw_adcopy_chars(w) < 4;
                for (size_t i = 0; !skip && i < n; i++)
                        skip = !strcasecmp(c[i].w, w);
                if (skip) {
                        free(w);
                        continue;
                }
                if (n == cap) {
                        size_t nc = cap ? cap * 2 : 32;
                        cand *g = realloc(c, nc * sizeof *g);
                        if (!g) {
                                free(w);
                                rc = socfw_error_set(err, SOCFW_ENOMEM,
                                                     "out of memory");
                                goto out;
                        }
                        c = g;
                        cap = nc;
                }
                c[n].w = w;
                c[n].key = word_key(w, seed);
                n++;
        }
        if (n)
                qsort(c, n, sizeof *c, cand_cmp);
        size_t need = 0;
        for (size_t i = 0; i < b->n_keywords; i++)
                need += socfw_adcopy_chars(b->keywords[i]) + 2;
        for (size_t i = 0; i < n && (size_t)added < k; i++) {
                size_t cost = socfw_adcopy_chars(c[i].w) + 2;
                if (b->max_chars && need + cost > b->max_chars)
                        continue;
                rc = socfw_adcopy_brief_add_keyword(b, c[i].w, err);
                if (rc < 0)
                        goto out;
                need += cost;
                added++;
        }
out:
        for (size_t i = 0; i < n; i++)
                free(c[i].w);
        free(c);
        return rc < 0 ? rc : added;
}

/* ---- constraints ---- */

size_t
socfw_adcopy_verify(const char *copy, const socfw_adcopy_brief *b,
                    const char *const *banned, socfw_adcopy_violations *v)
{
        memset(v, 0, sizeof *v);
        v->too_long = b->max_chars && socfw_adcopy_chars(copy) > b->max_chars;
        for (size_t j = 0; banned && banned[j]; j++)
                if (banned[j][0] && find_icase(copy, banned[j]))
                        v->banned++;
        for (size_t i = 0; i < b->n_keywords; i++)
                if (!find_icase(copy, b->keywords[i]))
                        v->missing++;
        v->total = (size_t)v->too_long + v->banned + v->missing;
        return v->total;
}

/* Would copy[0..at) still hold every keyword that copy holds? */
static int
keeps_keywords(char *copy, size_t at, const socfw_adcopy_brief *b)
{
        char save = copy[at];
        int ok = 1;
        for (size_t i = 0; ok && i < b->n_keywords; i++) {
                if (!find_icase(copy, b->keywords[i]))
                        continue;
                copy[at] = '\0';
                ok = find_icase(copy, b->keywords[i]) != NULL;
                copy[at] = save;
        }
        return ok;
}

static void
rstrip(char *s)
{
        size_t n = strlen(s);
        while (n && isspace((unsigned char)s[n - 1]))
                s[--n] = '\0';
}

void
socfw_adcopy_trim(char *copy, const socfw_adcopy_brief *b, int cut)
{
        if (b->max_chars && socfw_adcopy_chars(copy) > b->max_chars) {
                size_t cps = 0, i = 0;
                for (; copy[i]; i++) {
                        if (((unsigned char)copy[i] & 0xC0) == 0x80)
                                continue;
                        if (cps == b->max_chars)
                                break;
                        cps++;
                }
                copy[i] = '\0';
                cut = 1;
        }
        rstrip(copy);
        size_t n = strlen(copy);
        if (!cut || n == 0)
                return;
        char last = copy[n - 1];
        if (last == '.' || last == '!' || last == '?')
                return;
        /* the last sentence end in the second half */
        for (size_t i = n - 1; i > n / 2; i--) {
                char c = copy[i - 1];
                if ((c == '.' || c == '!' || c == '?') &&
                    isspace((unsigned char)copy[i]) &&
                    keeps_keywords(copy, i, b)) {
                        copy[i] = '\0';
                        return;
                }
        }
        /* else the last word boundary */
        for (size_t i = n - 1; i > 0; i--) {
                if (!isspace((unsigned char)copy[i]))
                        continue;
                if (!keeps_keywords(copy, i, b))
                        return;
                copy[i] = '\0';
                rstrip(copy);
                /* no dangling comma, colon or dash */
                size_t m = strlen(copy);
                while (m && strchr(",;:-(", copy[m - 1]))
                        copy[--m] = '\0';
                rstrip(copy);
                return;
        }
}

/* ---- metrics ---- */

/* Lower-cased words separated by single spaces (caller frees). */
static char *
normalize(const char *s)
{
        size_t n = strlen(s);
        char *o = malloc(n + 1);
        if (!o)
                return NULL;
        size_t k = 0;
        int space = 1;
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)s[i];
                if (word_byte(c)) {
                        o[k++] = (char)lower(c);
                        space = 0;
                } else if (!space) {
                        o[k++] = ' ';
                        space = 1;
                }
        }
        while (k && o[k - 1] == ' ')
                k--;
        o[k] = '\0';
        return o;
}

double
socfw_adcopy_rouge_l(const char *cand, const char *ref)
{
        char *a = normalize(cand), *b = normalize(ref);
        double f = 0;
        if (a && b)
                f = socfw_rouge_l_text(a, b, 1.0).f;
        free(a);
        free(b);
        return f;
}

double
socfw_adcopy_keyword_coverage(const char *copy, const socfw_adcopy_brief *b)
{
        if (b->n_keywords == 0)
                return 1.0;
        size_t hit = 0;
        for (size_t i = 0; i < b->n_keywords; i++)
                hit += find_icase(copy, b->keywords[i]) != NULL;
        return (double)hit / (double)b->n_keywords;
}

static int
str_cmp(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

double
socfw_adcopy_distinct_2(const char *const *texts, size_t n)
{
        char **bi = NULL;
        size_t nb = 0, cap = 0;
        double r = 0;
        for (size_t t = 0; t < n; t++) {
                char *s = normalize(texts[t]);
                if (!s) {
                        r = -1;
                        goto out;
                }
                char *prev = NULL, *save = NULL;
                for (char *w = strtok_r(s, " ", &save); w;
                     w = strtok_r(NULL, " ", &save)) {
                        if (prev) {
                                if (nb == cap) {
                                        size_t c = cap ? cap * 2 : 256;
                                        char **g = realloc(bi, c * sizeof *g);
                                        if (!g) {
                                                free(s);
                                                r = -1;
                                                goto out;
                                        }
                                        bi = g;
                                        cap = c;
                                }
                                if (asprintf(&bi[nb], "%s %s", prev, w) < 0) {
                                        free(s);
                                        r = -1;
                                        goto out;
                                }
                                nb++;
                        }
                        prev = w;
                }
                free(s);
        }
        if (nb) {
                qsort(bi, nb, sizeof *bi, str_cmp);
                size_t uniq = 1;
                for (size_t i = 1; i < nb; i++)
                        uniq += strcmp(bi[i], bi[i - 1]) != 0;
                r = (double)uniq / (double)nb;
        }
out:
        for (size_t i = 0; i < nb; i++)
                free(bi[i]);
        free(bi);
        return r;
}
