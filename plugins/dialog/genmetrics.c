/* genmetrics.c - distinct-n and length of generated replies (see
 * genmetrics.h for what a word is). */
#include "genmetrics.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "socfw/metrics.h"

/* ---- words ---- */

static int
is_separator(utf8proc_int32_t cp, utf8proc_category_t cat)
{
        return cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_ZL ||
               cat == UTF8PROC_CATEGORY_ZP || cat == UTF8PROC_CATEGORY_CC ||
               cp == ' ';
}

static int
is_mark_word(utf8proc_category_t cat)
{
        return (cat >= UTF8PROC_CATEGORY_PC && cat <= UTF8PROC_CATEGORY_PO) ||
               (cat >= UTF8PROC_CATEGORY_SM && cat <= UTF8PROC_CATEGORY_SO);
}

/* Append s[0..len) as a new word. */
static int
push_word(char ***words, size_t *n, size_t *cap, const char *s, size_t len)
{
        if (*n == *cap) {
                size_t nc = *cap ? *cap * 2 : 16;
                char **g = realloc(*words, nc * sizeof *g);
                if (!g)
                        return SOCFW_ENOMEM;
                *words = g;
                *cap = nc;
        }
        char *w = malloc(len + 1);
        if (!w)
                return SOCFW_ENOMEM;
        memcpy(w, s, len);
        w[len] = '\0';
        (*words)[(*n)++] = w;
        return 0;
}

int
socfw_dialog_words(const char *text, char ***words, size_t *n_words,
                   socfw_error *err)
{
        utf8proc_uint8_t *folded = NULL;
        char **v = NULL;
        size_t n = 0, cap = 0;
        int rc = 0;
        *words = NULL;
        *n_words = 0;
        if (!text || !text[0])
                return 0;
        utf8proc_ssize_t flen = utf8proc_map(
                (const utf8proc_uint8_t *)text, 0, &folded,
                UTF8PROC_NULLTERM | UTF8PROC_STABLE | UTF8PROC_COMPOSE |
                        UTF8PROC_COMPAT | UTF8PROC_CASEFOLD);
        if (flen < 0)
                return socfw_error_set(err, flen == UTF8PROC_ERROR_NOMEM
                                                    ? SOCFW_ENOMEM
                                                    : SOCFW_EINVAL,
                                       "reply text: %s",
                                       utf8proc_errmsg(flen));
        const char *s = (const char *)folded;
        size_t i = 0, start = 0, len = (size_t)flen;
        int in_word = 0;
        while (i < len && rc == 0) {
                utf8proc_int32_t cp;
                utf8proc_ssize_t k = utf8proc_iterate(
                        folded + i, (utf8proc_ssize_t)(len - i), &cp);
                if (k <= 0) { /* cannot happen after utf8proc_map */
                        rc = socfw_error_set(err, SOCFW_EINVAL,
                                             "reply text: invalid UTF-8");
                        break;
                }
                utf8proc_category_t cat = utf8proc_category(cp);
                if (is_separator(cp, cat) || is_mark_word(cat)) {
                        if (in_word)
                                rc = push_word(&v, &n, &cap, s + start,
                                               i - start);
                        in_word = 0;
                        if (rc == 0 && is_mark_word(cat))
                                rc = push_word(&v, &n, &cap, s + i,
                                               (size_t)k);
                } else if (!in_word) {
                        in_word = 1;
                        start = i;
                }
                i += (size_t)k;
        }
        if (rc == 0 && in_word)
                rc = push_word(&v, &n, &cap, s + start, len - start);
        free(folded);
        if (rc < 0) {
                for (size_t j = 0; j < n; j++)
                        free(v[j]);
                free(v);
                if (rc == SOCFW_ENOMEM)
                        socfw_error_set(err, rc, "out of memory");
                return rc;
        }
        *words = v;
        *n_words = n;
        return 0;
}

/* ---- interning: word -> id ---- */

typedef struct intern {
        const char **keys;      /* borrowed; NULL = empty slot */
        int32_t *ids;
        size_t cap, n;
} intern;

static uint64_t
hash_str(const char *s)
{
        uint64_t h = 1469598103934665603ULL;
        for (; *s; s++) {
                h ^= (unsigned char)*s;
                h *= 1099511628211ULL;
        }
        return h;
}

static int
intern_grow(intern *t)
{
        size_t cap = t->cap ? t->cap * 2 : 256;
        const char **keys = calloc(cap, sizeof *keys);
        int32_t *ids = calloc(cap, sizeof *ids);
        if (!keys || !ids) {
                free(keys);
                free(ids);
                return SOCFW_ENOMEM;
        }
        for (size_t i = 0; i < t->cap; i++) {
                if (!t->keys[i])
                        continue;
                size_t h = (size_t)hash_str(t->keys[i]) & (cap - 1);
                while (keys[h])
                        h = (h + 1) & (cap - 1);
                keys[h] = t->keys[i];
                ids[h] = t->ids[i];
        }
        free(t->keys);
        free(t->ids);
        t->keys = keys;
        t->ids = ids;
        t->cap = cap;
        return 0;
}

/* The id of `w` (borrowed; must outlive the table); -1 on ENOMEM. */
static int32_t
intern_id(intern *t, const char *w)
{
        if ((t->n + 1) * 2 > t->cap && intern_grow(t) < 0)
                return -1;
        size_t h = (size_t)hash_str(w) & (t->cap - 1);
        while (t->keys[h]) {
                if (strcmp(t->keys[h], w) == 0)
                        return t->ids[h];
                h = (h + 1) & (t->cap - 1);
        }
        t->keys[h] = w;
        t->ids[h] = (int32_t)t->n++;
        return t->ids[h];
}

/* ---- statistics ---- */

int
socfw_dialog_genstats_compute(const char *const *replies, size_t n,
                              socfw_dialog_genstats *out, socfw_error *err)
{
        char ***words = calloc(n ? n : 1, sizeof *words);
        size_t *lens = calloc(n ? n : 1, sizeof *lens);
        int32_t **seqs = calloc(n ? n : 1, sizeof *seqs);
        intern tab = {0};
        int rc = 0;
        memset(out, 0, sizeof *out);
        if (!words || !lens || !seqs) {
                rc = socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
                goto out;
        }
        for (size_t i = 0; i < n && rc == 0; i++) {
                rc = socfw_dialog_words(replies[i], &words[i], &lens[i], err);
                if (rc < 0)
                        break;
                seqs[i] = malloc(sizeof(int32_t) * (lens[i] ? lens[i] : 1));
                if (!seqs[i]) {
                        rc = socfw_error_set(err, SOCFW_ENOMEM,
                                             "out of memory");
                        break;
                }
                for (size_t j = 0; j < lens[i]; j++) {
                        int32_t id = intern_id(&tab, words[i][j]);
                        if (id < 0) {
                                rc = socfw_error_set(err, SOCFW_ENOMEM,
                                                     "out of memory");
                                break;
                        }
                        seqs[i][j] = id;
                }
                out->n_words += lens[i];
                out->n_empty += lens[i] == 0;
        }
        if (rc < 0)
                goto out;
        out->n_replies = n;
        out->distinct_1 = socfw_distinct_n((const int32_t *const *)seqs, lens,
                                           n, 1);
        out->distinct_2 = socfw_distinct_n((const int32_t *const *)seqs, lens,
                                           n, 2);
        out->avg_words = n ? (double)out->n_words / (double)n : 0;
        if (out->distinct_1 != out->distinct_1 ||
            out->distinct_2 != out->distinct_2) /* NaN: ENOMEM */
                rc = socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
out:
        for (size_t i = 0; words && i < n; i++) {
                for (size_t j = 0; words[i] && j < lens[i]; j++)
                        free(words[i][j]);
                free(words[i]);
        }
        for (size_t i = 0; seqs && i < n; i++)
                free(seqs[i]);
        free(words);
        free(lens);
        free(seqs);
        free(tab.keys);
        free(tab.ids);
        return rc;
}
