/* spans.c - words, BIO decoding, merging and JSON of the nlu plugin's
 * slot spans (see spans.h). */
#include "spans.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <utf8proc.h>

#include "socfw/error.h"
#include "socfw/metrics.h"

#define MAX_WORDS (1u << 20)

/* ---- span lists ---- */

int
socfw_nlu_spans_push(socfw_nlu_spans *s, const char *type, size_t start,
                     size_t end, const char *value, socfw_nlu_source source,
                     float score)
{
        if (s->n == s->cap) {
                size_t cap = s->cap ? s->cap * 2 : 8;
                socfw_nlu_span *v = realloc(s->v, cap * sizeof *v);
                if (!v)
                        return SOCFW_ENOMEM;
                s->v = v;
                s->cap = cap;
        }
        socfw_nlu_span *x = &s->v[s->n];
        memset(x, 0, sizeof *x);
        snprintf(x->type, sizeof x->type, "%s", type ? type : "");
        x->start = start;
        x->end = end;
        x->source = source;
        x->score = score;
        if (value && !(x->value = strdup(value)))
                return SOCFW_ENOMEM;
        s->n++;
        return 0;
}

void
socfw_nlu_spans_free(socfw_nlu_spans *s)
{
        if (!s)
                return;
        for (size_t i = 0; i < s->n; i++)
                free(s->v[i].value);
        free(s->v);
        s->v = NULL;
        s->n = s->cap = 0;
}

static int
span_cmp(const void *a, const void *b)
{
        const socfw_nlu_span *x = a, *y = b;
        if (x->start != y->start)
                return x->start < y->start ? -1 : 1;
        if (x->end != y->end)
                return x->end > y->end ? -1 : 1;
        return (int)x->source - (int)y->source;
}

void
socfw_nlu_spans_sort(socfw_nlu_spans *s)
{
        if (s->n > 1)
                qsort(s->v, s->n, sizeof *s->v, span_cmp);
}

static int
overlaps(const socfw_nlu_span *a, const socfw_nlu_span *b)
{
        return a->start < b->end && b->start < a->end;
}

static int
copy_span(socfw_nlu_spans *out, const socfw_nlu_span *x)
{
        return socfw_nlu_spans_push(out, x->type, x->start, x->end, x->value,
                                    x->source, x->score);
}

int
socfw_nlu_spans_merge(const socfw_nlu_spans *model,
                      const socfw_nlu_spans *pattern,
                      socfw_nlu_overlap policy, socfw_nlu_spans *out)
{
        const socfw_nlu_spans *win = policy == SOCFW_NLU_MODEL_WINS ? model
                                                                   : pattern;
        const socfw_nlu_spans *lose = win == model ? pattern : model;
        int rc = 0;
        for (size_t i = 0; rc == 0 && i < win->n; i++)
                rc = copy_span(out, &win->v[i]);
        for (size_t i = 0; rc == 0 && i < lose->n; i++) {
                int hit = 0;
                for (size_t k = 0; policy != SOCFW_NLU_KEEP_BOTH && !hit &&
                                   k < win->n;
                     k++)
                        hit = overlaps(&lose->v[i], &win->v[k]);
                if (!hit)
                        rc = copy_span(out, &lose->v[i]);
        }
        if (rc < 0) {
                socfw_nlu_spans_free(out);
                return rc;
        }
        socfw_nlu_spans_sort(out);
        return 0;
}

/* ---- UTF-8 ---- */

/* Length of the character at text[i] (1 for an invalid byte) and its code
 * point in *c (the byte itself when invalid). */
static size_t
char_at(const char *text, size_t len, size_t i, int32_t *c)
{
        utf8proc_ssize_t n = utf8proc_iterate(
                (const utf8proc_uint8_t *)text + i,
                (utf8proc_ssize_t)(len - i), c);
        if (n <= 0) {
                *c = (unsigned char)text[i];
                return 1;
        }
        return (size_t)n;
}

size_t
socfw_nlu_cp_offset(const char *text, size_t len, size_t off)
{
        size_t cp = 0;
        int32_t c;
        if (off > len)
                off = len;
        for (size_t i = 0; i < off;) {
                i += char_at(text, len, i, &c);
                cp++;
        }
        return cp;
}

char *
socfw_nlu_spans_json(const socfw_nlu_spans *s, const char *text, size_t len)
{
        json_t *arr = json_array();
        char *out = NULL;
        if (!arr)
                return NULL;
        /* code points are counted once, in order of the spans' bytes */
        for (size_t i = 0; i < s->n; i++) {
                const socfw_nlu_span *x = &s->v[i];
                size_t a = x->start <= len ? x->start : len;
                size_t b = x->end <= len && x->end >= a ? x->end : a;
                json_t *o = json_object();
                json_t *t = NULL;
                if (!o)
                        goto out;
                /* invalid UTF-8 in the text: each bad byte becomes U+FFFD,
                 * never a broken JSON string */
                char *clean = malloc(3 * (b - a) + 1);
                if (!clean) {
                        json_decref(o);
                        goto out;
                }
                size_t n = 0;
                for (size_t k = a; k < b;) {
                        int32_t c;
                        utf8proc_ssize_t m = utf8proc_iterate(
                                (const utf8proc_uint8_t *)text + k,
                                (utf8proc_ssize_t)(b - k), &c);
                        if (m <= 0) {
                                memcpy(clean + n, "\xEF\xBF\xBD", 3);
                                n += 3;
                                k++;
                        } else {
                                memcpy(clean + n, text + k, (size_t)m);
                                n += (size_t)m;
                                k += (size_t)m;
                        }
                }
                t = json_stringn(clean, n);
                free(clean);
                json_object_set_new(o, "type", json_string(x->type));
                json_object_set_new(o, "text", t ? t : json_string(""));
                json_object_set_new(o, "start",
                                    json_integer((json_int_t)socfw_nlu_cp_offset(
                                            text, len, a)));
                json_object_set_new(o, "end",
                                    json_integer((json_int_t)socfw_nlu_cp_offset(
                                            text, len, b)));
                if (x->value)
                        json_object_set_new(o, "value",
                                            json_string(x->value));
                json_object_set_new(o, "source",
                                    json_string(x->source == SOCFW_NLU_MODEL
                                                        ? "model"
                                                        : "pattern"));
                if (x->source == SOCFW_NLU_MODEL)
                        json_object_set_new(
                                o, "score",
                                json_real((double)(int)(x->score * 1e4f +
                                                        0.5f) /
                                          1e4));
                if (json_array_append_new(arr, o) < 0)
                        goto out;
        }
        out = json_dumps(arr, JSON_COMPACT | JSON_PRESERVE_ORDER |
                               JSON_REAL_PRECISION(6));
out:
        json_decref(arr);
        return out;
}

/* ---- words ---- */

static int
is_space(int32_t c)
{
        return c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
               c == '\f' || c == '\v' || c == 0x85 || c == 0xA0 ||
               c == 0x3000 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
               c == 0x2029 || c == 0x202F || c == 0x205F;
}

/* Punctuation split off the edges of a word. */
static int
is_edge_punct(int32_t c)
{
        return c == ',' || c == '.' || c == '!' || c == '?' || c == ';' ||
               c == ':' || c == '"' || c == '(' || c == ')' || c == '[' ||
               c == ']' || c == '{' || c == '}' || c == '\'' ||
               c == 0x2018 || c == 0x2019 || c == 0x201C || c == 0x201D ||
               c == 0x2026 || c == 0x3002 || c == 0xFF0C || c == 0xFF01 ||
               c == 0xFF1F;
}

static int
push_word(socfw_nlu_words *w, size_t s, size_t e)
{
        if (w->n >= MAX_WORDS)
                return 1;
        if (w->n == w->cap) {
                size_t cap = w->cap ? w->cap * 2 : 16;
                socfw_nlu_word *v = realloc(w->v, cap * sizeof *v);
                if (!v)
                        return SOCFW_ENOMEM;
                w->v = v;
                w->cap = cap;
        }
        w->v[w->n++] = (socfw_nlu_word){s, e};
        return 0;
}

int
socfw_nlu_words_split(const char *text, size_t len, socfw_nlu_words *out)
{
        size_t i = 0;
        int rc = 0;
        while (rc == 0 && i < len) {
                int32_t c;
                size_t n = char_at(text, len, i, &c);
                if (is_space(c)) {
                        i += n;
                        continue;
                }
                /* a chunk up to white space */
                size_t s = i, e = i;
                while (e < len) {
                        n = char_at(text, len, e, &c);
                        if (is_space(c))
                                break;
                        e += n;
                }
                i = e;
                /* leading punctuation: one word per character */
                size_t a = s;
                while (rc == 0 && a < e) {
                        n = char_at(text, len, a, &c);
                        if (!is_edge_punct(c))
                                break;
                        rc = push_word(out, a, a + n);
                        a += n;
                }
                if (rc != 0 || a == e)
                        continue;
                /* trailing punctuation, found from the end */
                size_t b = e, k = a;
                size_t last_core_end = a;
                while (k < e) {
                        n = char_at(text, len, k, &c);
                        if (!is_edge_punct(c))
                                last_core_end = k + n;
                        k += n;
                }
                b = last_core_end;
                rc = push_word(out, a, b);
                for (k = b; rc == 0 && k < e; k += n) {
                        n = char_at(text, len, k, &c);
                        rc = push_word(out, k, k + n);
                }
        }
        return rc < 0 ? rc : 0;
}

void
socfw_nlu_words_free(socfw_nlu_words *w)
{
        if (!w)
                return;
        free(w->v);
        w->v = NULL;
        w->n = w->cap = 0;
}

char *
socfw_nlu_word_dup(const char *text, const socfw_nlu_word *w, int lower)
{
        size_t n = w->end - w->start;
        char *out = malloc(4 * n + 1);
        if (!out)
                return NULL;
        if (!lower) {
                memcpy(out, text + w->start, n);
                out[n] = '\0';
                return out;
        }
        size_t o = 0;
        for (size_t i = w->start; i < w->end;) {
                int32_t c;
                utf8proc_ssize_t m = utf8proc_iterate(
                        (const utf8proc_uint8_t *)text + i,
                        (utf8proc_ssize_t)(w->end - i), &c);
                if (m <= 0) {
                        out[o++] = text[i++];
                        continue;
                }
                utf8proc_ssize_t k = utf8proc_encode_char(
                        utf8proc_tolower(c), (utf8proc_uint8_t *)out + o);
                o += (size_t)(k > 0 ? k : 0);
                i += (size_t)m;
        }
        out[o] = '\0';
        return out;
}

/* ---- BIO decoding ---- */

int
socfw_nlu_spans_from_tags(const socfw_nlu_words *w, const float *probs,
                          size_t n_tags, const char *const *labels,
                          socfw_nlu_spans *out)
{
        if (!w->n || !n_tags)
                return 0;
        const char **tags = malloc(w->n * sizeof *tags);
        float *best_p = malloc(w->n * sizeof *best_p);
        socfw_span *sp = NULL;
        size_t ns = 0;
        int rc = tags && best_p ? 0 : SOCFW_ENOMEM;
        for (size_t i = 0; rc == 0 && i < w->n; i++) {
                const float *row = probs + i * n_tags;
                size_t best = 0;
                for (size_t k = 1; k < n_tags; k++)
                        if (row[k] > row[best])
                                best = k;
                tags[i] = labels[best] ? labels[best] : "O";
                best_p[i] = row[best];
        }
        if (rc == 0)
                rc = socfw_bio_to_spans(tags, w->n, &sp, &ns);
        for (size_t k = 0; rc == 0 && k < ns; k++) {
                float sum = 0;
                for (size_t i = sp[k].start; i < sp[k].end; i++)
                        sum += best_p[i];
                rc = socfw_nlu_spans_push(
                        out, sp[k].type, w->v[sp[k].start].start,
                        w->v[sp[k].end - 1].end, NULL, SOCFW_NLU_MODEL,
                        sum / (float)(sp[k].end - sp[k].start));
        }
        free(sp);
        free(tags);
        free(best_p);
        return rc;
}
