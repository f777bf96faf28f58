/* model.c - the privacy plugin's model-based recognizer: the word splitter
 * shared by training and prediction, reading NER training records into
 * word-tag examples, and BIO decoding of a tagger's output into PII spans
 * (see model.h). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <sodium.h>

#include "buf.h"
#include "model.h"
#include "socfw/metrics.h"

#define MAX_WORDS ((size_t)16 << 20)

/* ---- characters ---- */

/* Decode the character at text[i]: its length (an invalid byte is one
 * character, U+FFFD) and code point. */
static size_t
char_at(const char *text, size_t len, size_t i, uint32_t *cp)
{
        const unsigned char *u = (const unsigned char *)text + i;
        size_t n = socfw_pii_utf8_seq(u, len - i);
        if (n == 0) {
                *cp = 0xFFFD;
                return 1;
        }
        *cp = n == 1   ? u[0]
              : n == 2 ? (uint32_t)(u[0] & 0x1F) << 6 | (u[1] & 0x3F)
              : n == 3 ? (uint32_t)(u[0] & 0x0F) << 12 |
                                 (uint32_t)(u[1] & 0x3F) << 6 | (u[2] & 0x3F)
                       : (uint32_t)(u[0] & 0x07) << 18 |
                                 (uint32_t)(u[1] & 0x3F) << 12 |
                                 (uint32_t)(u[2] & 0x3F) << 6 | (u[3] & 0x3F);
        return n;
}

static int
is_space(uint32_t c)
{
        return c == ' ' || (c >= 0x09 && c <= 0x0D) || c == 0x85 ||
               c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200B) ||
               c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
               c == 0x3000 || c == 0xFEFF;
}

/* Scripts written without spaces: every character is a word. */
static int
is_cjk(uint32_t c)
{
        return (c >= 0x2E80 && c <= 0x9FFF) || (c >= 0xAC00 && c <= 0xD7AF) ||
               (c >= 0xF900 && c <= 0xFAFF) || (c >= 0xFE30 && c <= 0xFE4F) ||
               (c >= 0xFF00 && c <= 0xFFEF) || (c >= 0x20000 && c <= 0x3FFFF);
}

static int
is_punct(uint32_t c)
{
        if (c < 0x80)
                return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) ||
                       (c >= 0x5B && c <= 0x60) || (c >= 0x7B && c <= 0x7E);
        return c == 0xA1 || c == 0xAB || c == 0xBB || c == 0xBF ||
               (c >= 0x2010 && c <= 0x2027) || (c >= 0x2030 && c <= 0x205E);
}

/* ---- words ---- */

static int
is_line_break(uint32_t c)
{
        return (c >= 0x0A && c <= 0x0D) || c == 0x85 || c == 0x2028 ||
               c == 0x2029;
}

static int
push_word(socfw_pii_words *w, size_t s, size_t e, size_t cs, size_t ce)
{
        if (w->n == w->cap) {
                size_t cap = w->cap ? w->cap * 2 : 32;
                if (cap > MAX_WORDS)
                        return SOCFW_ENOMEM;
                socfw_pii_word *v = realloc(w->v, cap * sizeof *v);
                if (!v)
                        return SOCFW_ENOMEM;
                w->v = v;
                w->cap = cap;
        }
        w->v[w->n++] = (socfw_pii_word){s, e, cs, ce, 0};
        return 0;
}

void
socfw_pii_words_free(socfw_pii_words *w)
{
        if (!w)
                return;
        free(w->v);
        memset(w, 0, sizeof *w);
}

/* Split off each punctuation character in [i, end) as a word. */
static int
each_char(const char *text, size_t len, size_t i, size_t cp, size_t end,
          socfw_pii_words *out)
{
        int rc = 0;
        while (rc == 0 && i < end) {
                uint32_t c;
                size_t n = char_at(text, len, i, &c);
                rc = push_word(out, i, i + n, cp, cp + 1);
                i += n;
                cp++;
        }
        return rc;
}

int
socfw_pii_words_split(const char *text, size_t len, socfw_pii_words *out)
{
        size_t i = 0, cp = 0, first = out->n;
        size_t brk = 0, brk_n = 0, brk_cp = 0; /* a pending line break */
        int rc = 0;
        while (rc == 0 && i < len) {
                uint32_t c;
                size_t n = char_at(text, len, i, &c);
                if (is_space(c)) {
                        if (is_line_break(c) && !brk_n) {
                                brk = i;
                                brk_n = n;
                                brk_cp = cp;
                        }
                        i += n;
                        cp++;
                        continue;
                }
                if (brk_n && out->n > first) {
                        /* a line break between two words is a word */
                        rc = push_word(out, brk, brk + brk_n, brk_cp,
                                       brk_cp + 1);
                        if (rc < 0)
                                break;
                        out->v[out->n - 1].line_break = 1;
                }
                brk_n = 0;
                if (is_cjk(c)) {
                        rc = push_word(out, i, i + n, cp, cp + 1);
                        i += n;
                        cp++;
                        continue;
                }
                /* a chunk: up to white space or a CJK character */
                int leading = 1, have_core = 0, have_end = 0;
                size_t core_s = 0, core_cs = 0, core_e = 0, core_ce = 0;
                while (rc == 0 && i < len) {
                        n = char_at(text, len, i, &c);
                        if (is_space(c) || is_cjk(c))
                                break;
                        int p = is_punct(c);
                        if (leading && p && c != '@' && c != '#') {
                                rc = push_word(out, i, i + n, cp, cp + 1);
                        } else {
                                leading = 0;
                                if (!have_core) {
                                        have_core = 1;
                                        core_s = i;
                                        core_cs = cp;
                                }
                                if (!p) {
                                        have_end = 1;
                                        core_e = i + n;
                                        core_ce = cp + 1;
                                }
                        }
                        i += n;
                        cp++;
                }
                if (rc < 0 || !have_core)
                        continue;
                if (!have_end) {
                        /* "@", "#!": a handle sign and punctuation only */
                        rc = push_word(out, core_s, i, core_cs, cp);
                        continue;
                }
                rc = push_word(out, core_s, core_e, core_cs, core_ce);
                if (rc == 0)
                        rc = each_char(text, len, core_e, core_ce, i, out);
        }
        return rc;
}

/* ---- tags and types ---- */

socfw_pii_type
socfw_pii_ner_type(const char *tag_type)
{
        if (!tag_type || !*tag_type)
                return SOCFW_PII_NONE;
        char base[64];
        snprintf(base, sizeof base, "%s", tag_type);
        char *dot = strchr(base, '.');
        if (dot) {
                /* Weibo: named (.NAM) mentions only; nominal ones ("mom",
                 * "the company") are not personal data */
                if (strcasecmp(dot + 1, "NAM") != 0)
                        return SOCFW_PII_NONE;
                *dot = '\0';
        }
        static const struct {
                const char *name;
                socfw_pii_type type;
        } map[] = {
                {"person", SOCFW_PII_PERSON},
                {"per", SOCFW_PII_PERSON},
                {"pers", SOCFW_PII_PERSON},
                {"location", SOCFW_PII_LOCATION},
                {"loc", SOCFW_PII_LOCATION},
                {"gpe", SOCFW_PII_LOCATION},
                {"corporation", SOCFW_PII_ORGANIZATION},
                {"group", SOCFW_PII_ORGANIZATION},
                {"org", SOCFW_PII_ORGANIZATION},
                {"organization", SOCFW_PII_ORGANIZATION},
                {"organisation", SOCFW_PII_ORGANIZATION},
        };
        for (size_t k = 0; k < sizeof map / sizeof map[0]; k++)
                if (!strcasecmp(base, map[k].name))
                        return map[k].type;
        return SOCFW_PII_NONE;
}

/* "B-PER" -> 'B' and "PER"; "O" -> 'O'; a bare type is 'I' (conlleval). */
static char
split_tag(const char *tag, const char **type)
{
        *type = "";
        if (!tag || !*tag || !strcasecmp(tag, "O"))
                return 'O';
        if (tag[1] == '-' && strchr("BIESbies", tag[0])) {
                *type = tag + 2;
                char p = (char)(tag[0] & ~0x20);
                return p == 'S' ? 'B' : p == 'E' ? 'I' : p;
        }
        *type = tag;
        return 'I';
}

int
socfw_pii_ner_label(const char *tag, const char *const *labels,
                    size_t n_labels)
{
        int o = -1;
        for (size_t k = 0; k < n_labels; k++) {
                if (labels[k] && tag && !strcmp(labels[k], tag))
                        return (int)k;
                if (labels[k] && o < 0 && !strcasecmp(labels[k], "O"))
                        o = (int)k;
        }
        const char *type;
        char p = split_tag(tag, &type);
        socfw_pii_type ty = p == 'O' ? SOCFW_PII_NONE
                                     : socfw_pii_ner_type(type);
        if (ty == SOCFW_PII_NONE)
                return o;
        /* the tag's own prefix; failing that, a B- tag takes the type's
         * inside label: labels without B- tags are the IO scheme (each
         * entity word is I-TYPE, or just TYPE; adjacent words of one type
         * are one entity) */
        for (int pass = 0; pass < 2; pass++) {
                char want = pass == 0 ? p : p == 'B' ? 'I' : 0;
                for (size_t k = 0; want && k < n_labels; k++) {
                        const char *lt;
                        char lp = split_tag(labels[k], &lt);
                        if (lp == want && socfw_pii_ner_type(lt) == ty)
                                return (int)k;
                }
        }
        return o;
}

/* ---- training records ---- */

static int
bad(socfw_error *err, const char *field, const char *what)
{
        return socfw_error_set(err, SOCFW_EINVAL, "field '%s': %s", field,
                               what);
}

static int
example_from_tokens(json_t *tokens, json_t *tags, socfw_example *ex,
                    const char *const *labels, size_t n_labels,
                    socfw_error *err)
{
        if (!json_is_array(tokens))
                return bad(err, "tokens", "expected a list of words");
        if (!json_is_array(tags) || json_array_size(tags) !=
                                            json_array_size(tokens))
                return bad(err, "tags", "expected a list of tags, one per "
                                        "token");
        size_t n = json_array_size(tokens);
        if (n == 0)
                return 0; /* nothing to learn from an empty record */
        const char **words = calloc(n, sizeof *words);
        int *ids = calloc(n, sizeof *ids);
        int rc = words && ids ? 0 : SOCFW_ENOMEM;
        for (size_t i = 0; rc == 0 && i < n; i++) {
                json_t *w = json_array_get(tokens, i);
                json_t *t = json_array_get(tags, i);
                if (!json_is_string(w)) {
                        rc = bad(err, "tokens", "a token is not a string");
                        break;
                }
                words[i] = json_string_value(w);
                if (json_is_integer(t)) {
                        json_int_t v = json_integer_value(t);
                        if (v < 0 || (size_t)v >= n_labels) {
                                rc = bad(err, "tags", "a tag id is outside "
                                                      "the task's labels");
                                break;
                        }
                        ids[i] = (int)v;
                } else if (json_is_string(t)) {
                        ids[i] = socfw_pii_ner_label(json_string_value(t),
                                                     labels, n_labels);
                        if (ids[i] < 0) {
                                rc = bad(err, "tags",
                                         "a tag is not among the task's "
                                         "labels, and O is not a label "
                                         "either (hint: labels: [O, "
                                         "B-PERSON, I-PERSON, ...])");
                                break;
                        }
                } else {
                        rc = bad(err, "tags", "a tag is not a string");
                        break;
                }
        }
        if (rc == 0)
                rc = socfw_example_set_word_tags(ex, words, ids, n);
        if (rc == SOCFW_ENOMEM)
                rc = socfw_error_set(err, rc, "out of memory");
        free(words);
        free(ids);
        return rc;
}

static int
example_from_spans(const char *text, json_t *spans, socfw_example *ex,
                   const char *const *labels, size_t n_labels,
                   socfw_error *err)
{
        if (spans && !json_is_array(spans))
                return bad(err, "spans", "expected a list of {start, end, "
                                         "type}");
        size_t len = strlen(text);
        socfw_pii_words w = {0};
        int rc = socfw_pii_words_split(text, len, &w);
        if (rc < 0)
                return socfw_error_set(err, rc, "out of memory");
        if (w.n == 0) {
                socfw_pii_words_free(&w);
                return 0;
        }
        char **words = calloc(w.n, sizeof *words);
        int *ids = calloc(w.n, sizeof *ids);
        int o = socfw_pii_ner_label("O", labels, n_labels);
        if (!words || !ids) {
                rc = socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
                goto out;
        }
        if (o < 0) {
                rc = bad(err, "spans", "O is not among the task's labels "
                                       "(hint: labels: [O, B-PERSON, "
                                       "I-PERSON, ...])");
                goto out;
        }
        for (size_t i = 0; i < w.n; i++) {
                ids[i] = o;
                size_t n = w.v[i].end - w.v[i].start;
                if (!(words[i] = malloc(n + 1))) {
                        rc = socfw_error_set(err, SOCFW_ENOMEM,
                                             "out of memory");
                        goto out;
                }
                memcpy(words[i], text + w.v[i].start, n);
                words[i][n] = '\0';
        }
        for (size_t k = 0; spans && k < json_array_size(spans); k++) {
                json_t *s = json_array_get(spans, k);
                json_t *js = json_object_get(s, "start");
                json_t *je = json_object_get(s, "end");
                json_t *jt = json_object_get(s, "type");
                if (!json_is_integer(js) || !json_is_integer(je) ||
                    !json_is_string(jt) || json_integer_value(js) < 0 ||
                    json_integer_value(je) < json_integer_value(js)) {
                        rc = bad(err, "spans", "each span needs integer "
                                               "start <= end and a string "
                                               "type");
                        goto out;
                }
                size_t a = (size_t)json_integer_value(js);
                size_t b = (size_t)json_integer_value(je);
                socfw_pii_type ty = socfw_pii_ner_type(json_string_value(jt));
                if (ty == SOCFW_PII_NONE)
                        continue;
                char tb[64], ti[64];
                snprintf(tb, sizeof tb, "B-%s", socfw_pii_type_name(ty));
                snprintf(ti, sizeof ti, "I-%s", socfw_pii_type_name(ty));
                int idb = socfw_pii_ner_label(tb, labels, n_labels);
                int idi = socfw_pii_ner_label(ti, labels, n_labels);
                int first = 1;
                for (size_t i = 0; i < w.n; i++) {
                        /* a word inside the span (code points); a line
                         * break is never part of an entity, the words
                         * after it start a new one (as decoding reads
                         * them) */
                        if (w.v[i].cp_end <= a || w.v[i].cp_start >= b)
                                continue;
                        if (w.v[i].line_break) {
                                first = 1;
                                continue;
                        }
                        ids[i] = first ? idb : idi;
                        first = 0;
                }
        }
        rc = socfw_example_set_word_tags(ex, (const char *const *)words, ids,
                                         w.n);
        if (rc == SOCFW_ENOMEM)
                rc = socfw_error_set(err, rc, "out of memory");
out:
        for (size_t i = 0; words && i < w.n; i++)
                free(words[i]);
        free(words);
        free(ids);
        socfw_pii_words_free(&w);
        return rc;
}

int
socfw_pii_ner_example(const socfw_record *rec, socfw_example *ex,
                      const char *const *labels, size_t n_labels,
                      socfw_error *err)
{
        char *tokens = socfw_record_get_json(rec, "tokens");
        int rc = 0;
        if (tokens) {
                char *tags = socfw_record_get_json(rec, "tags");
                json_t *jt = json_loads(tokens, 0, NULL);
                json_t *jg = tags ? json_loads(tags, 0, NULL) : NULL;
                rc = example_from_tokens(jt, jg, ex, labels, n_labels, err);
                json_decref(jt);
                json_decref(jg);
                free(tags);
                free(tokens);
                return rc;
        }
        const char *text = socfw_record_get_string(rec, "text");
        if (!text)
                return bad(err, "tokens",
                           "missing: a record needs tokens + tags, or text "
                           "(+ spans of {start, end, type} in code points)");
        char *spans = socfw_record_get_json(rec, "spans");
        json_t *js = spans ? json_loads(spans, 0, NULL) : NULL;
        if (spans && !js)
                rc = bad(err, "spans", "not valid JSON");
        else
                rc = example_from_spans(text, js, ex, labels, n_labels, err);
        json_decref(js);
        free(spans);
        return rc;
}

/* ---- templates ---- */

static void
append_type(socfw_pii_buf *b, const char *type)
{
        socfw_pii_buf_add(b, "{", 1);
        socfw_pii_buf_str(b, type);
        socfw_pii_buf_add(b, "}", 1);
}

typedef struct tspan {
        json_int_t start, end;
        const char *type;
} tspan;

static int
tspan_cmp(const void *a, const void *b)
{
        const tspan *x = a, *y = b;
        return x->start < y->start ? -1 : x->start > y->start;
}

/* "My name is {PERSON}": the text with every span replaced by its type
 * (overlapping spans: the first to start names the run). */
static int
template_of_spans(const char *text, json_t *spans, socfw_pii_buf *b)
{
        size_t ns = 0, n_in = json_array_size(spans);
        tspan *v = n_in ? calloc(n_in, sizeof *v) : NULL;
        if (n_in && !v)
                return SOCFW_ENOMEM;
        for (size_t k = 0; k < n_in; k++) {
                json_t *sp = json_array_get(spans, k);
                json_t *js = json_object_get(sp, "start");
                json_t *je = json_object_get(sp, "end");
                const char *ty = json_string_value(json_object_get(sp,
                                                                   "type"));
                if (json_is_integer(js) && json_is_integer(je) &&
                    json_integer_value(js) < json_integer_value(je))
                        v[ns++] = (tspan){json_integer_value(js),
                                          json_integer_value(je),
                                          ty ? ty : "?"};
        }
        if (ns)
                qsort(v, ns, sizeof *v, tspan_cmp);
        size_t tl = strlen(text), i = 0, j = 0;
        json_int_t cp = 0, covered_to = 0;
        while (i < tl) {
                uint32_t c;
                size_t n = char_at(text, tl, i, &c);
                while (j < ns && v[j].start < cp)
                        j++; /* starts inside a run already replaced */
                if (j < ns && v[j].start == cp) {
                        if (cp >= covered_to)
                                append_type(b, v[j].type);
                        for (; j < ns && v[j].start == cp; j++)
                                if (v[j].end > covered_to)
                                        covered_to = v[j].end;
                } else if (cp >= covered_to) {
                        socfw_pii_buf_add(b, text + i, n);
                }
                i += n;
                cp++;
        }
        free(v);
        return 0;
}

/* "met {person}": the words, each entity (conlleval rules, as the
 * evaluation reads tags: socfw_bio_to_spans) as its type. */
static int
template_of_tokens(json_t *tokens, json_t *tags, socfw_pii_buf *b)
{
        size_t n = json_array_size(tokens);
        const char **t = calloc(n ? n : 1, sizeof *t);
        if (!t)
                return SOCFW_ENOMEM;
        for (size_t i = 0; i < n; i++)
                t[i] = json_string_value(json_array_get(tags, i));
        socfw_span *sp = NULL;
        size_t ns = 0, k = 0;
        int rc = socfw_bio_to_spans(t, n, &sp, &ns);
        for (size_t i = 0; rc == 0 && i < n; i++) {
                if (i)
                        socfw_pii_buf_add(b, " ", 1);
                if (k < ns && sp[k].start == i) {
                        append_type(b, sp[k].type);
                        i = sp[k++].end - 1;
                        continue;
                }
                const char *w = json_string_value(json_array_get(tokens, i));
                socfw_pii_buf_str(b, w ? w : "");
        }
        free(sp);
        free(t);
        return rc;
}

int
socfw_pii_ner_template_hash(const socfw_record *rec, uint64_t *hash)
{
        socfw_pii_buf b = {0};
        int rc = SOCFW_EINVAL;
        if (sodium_init() < 0)
                return SOCFW_ENOMEM;
        char *tokens = socfw_record_get_json(rec, "tokens");
        const char *text = socfw_record_get_string(rec, "text");
        if (tokens) {
                char *tags = socfw_record_get_json(rec, "tags");
                json_t *jt = json_loads(tokens, 0, NULL);
                json_t *jg = tags ? json_loads(tags, 0, NULL) : NULL;
                if (json_is_array(jt) && json_is_array(jg))
                        rc = template_of_tokens(jt, jg, &b);
                json_decref(jt);
                json_decref(jg);
                free(tags);
        } else if (text) {
                char *spans = socfw_record_get_json(rec, "spans");
                json_t *js = spans ? json_loads(spans, 0, NULL) : NULL;
                rc = template_of_spans(text, json_is_array(js) ? js : NULL,
                                       &b);
                json_decref(js);
                free(spans);
        }
        free(tokens);
        if (rc == 0 && b.failed)
                rc = SOCFW_ENOMEM;
        if (rc == 0) {
                unsigned char h[8];
                crypto_generichash(h, sizeof h, (const unsigned char *)b.p,
                                   b.n, NULL, 0);
                uint64_t v = 0;
                for (int k = 0; k < 8; k++)
                        v = v << 8 | h[k];
                *hash = v;
        }
        free(b.p);
        return rc;
}

/* ---- decoding a tagger's output ---- */

typedef struct open_entity {
        int on;
        socfw_pii_type type;
        size_t first, last;
        double score;
} open_entity;

static int
close_entity(open_entity *e, const socfw_pii_words *w, float threshold,
             uint32_t types, socfw_pii_spans *out)
{
        if (!e->on)
                return 0;
        e->on = 0;
        double mean = e->score / (double)(e->last - e->first + 1);
        if (!(types & SOCFW_PII_BIT(e->type)) || mean < threshold)
                return 0;
        socfw_pii_span s = {
                .start = w->v[e->first].start,
                .end = w->v[e->last].end,
                .cp_start = w->v[e->first].cp_start,
                .cp_end = w->v[e->last].cp_end,
                .type = e->type,
                .score = (float)mean,
                .source = SOCFW_PII_SOURCE_EXTERNAL,
        };
        return socfw_pii_spans_push(out, &s);
}

int
socfw_pii_spans_from_tags(const socfw_pii_words *w, const float *probs,
                          size_t n_tags, const char *const *labels,
                          float threshold, uint32_t types,
                          socfw_pii_spans *out, socfw_error *err)
{
        if (!w || !w->n || !n_tags)
                return 0;
        char *prefix = malloc(n_tags);
        socfw_pii_type *ty = malloc(n_tags * sizeof *ty);
        if (!prefix || !ty) {
                free(prefix);
                free(ty);
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        }
        for (size_t k = 0; k < n_tags; k++) {
                const char *t;
                prefix[k] = split_tag(labels ? labels[k] : NULL, &t);
                ty[k] = prefix[k] == 'O' ? SOCFW_PII_NONE
                                         : socfw_pii_ner_type(t);
                if (ty[k] == SOCFW_PII_NONE)
                        prefix[k] = 'O';
        }
        open_entity e = {0};
        int rc = 0;
        for (size_t i = 0; rc == 0 && i < w->n; i++) {
                const float *row = probs + i * n_tags;
                size_t best = 0;
                for (size_t k = 1; k < n_tags; k++)
                        if (row[k] > row[best])
                                best = k;
                char p = row[best] > 0 && !w->v[i].line_break
                                 ? prefix[best]
                                 : 'O';
                if (p == 'O') {
                        rc = close_entity(&e, w, threshold, types, out);
                        continue;
                }
                if (p == 'I' && e.on && e.type == ty[best]) {
                        e.last = i;
                        e.score += row[best];
                        continue;
                }
                rc = close_entity(&e, w, threshold, types, out);
                e = (open_entity){.on = 1, .type = ty[best], .first = i,
                                  .last = i, .score = row[best]};
        }
        if (rc == 0)
                rc = close_entity(&e, w, threshold, types, out);
        free(prefix);
        free(ty);
        if (rc < 0)
                return socfw_error_set(err, rc, "privacy: too many spans");
        return 0;
}
