/* custom.c - ad-hoc recognizers from YAML, deny and allow lists (see
 * custom.h).
 *
 * Sections: word lists, the YAML reader (libyaml's document API; every
 * value checked with its position), patterns, the scan, the filter.
 */
#define _GNU_SOURCE 1   /* memmem */
#include "custom.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <yaml.h>

#include "recognizers.h"

#define MAX_FILE (4u << 20)      /* bytes of a recognizers file          */
#define MAX_RECOGNIZERS 1000
#define MAX_WORDS 100000         /* words of all lists together          */
#define MATCH_LIMIT 100000
#define DEPTH_LIMIT 5000

typedef enum { VAL_NONE, VAL_LUHN, VAL_CN_ID, VAL_IBAN } validator_kind;

typedef struct {
        char **v;
        size_t n;
} strlist;

typedef struct {
        char *name;
        socfw_pii_type type;
        pcre2_code *code;        /* a pattern, or                         */
        strlist words;           /* a word list                            */
        strlist context;         /* lower case                             */
        float score;
        validator_kind validator;
        int ci;
} recognizer;

struct socfw_pii_custom {
        recognizer *r;
        size_t n;
        size_t total_words;
        strlist deny;
        socfw_pii_type *deny_type;
        strlist allow;
        int ci;
        pcre2_match_context *mctx;
};

/* ---- word lists ---- */

static int
strlist_add(strlist *l, const char *s, size_t n)
{
        char **v = realloc(l->v, (l->n + 1) * sizeof *v);
        if (!v)
                return SOCFW_ENOMEM;
        l->v = v;
        if (!(v[l->n] = malloc(n + 1)))
                return SOCFW_ENOMEM;
        memcpy(v[l->n], s, n);
        v[l->n][n] = '\0';
        l->n++;
        return 0;
}

static void
strlist_free(strlist *l)
{
        for (size_t i = 0; i < l->n; i++)
                free(l->v[i]);
        free(l->v);
        l->v = NULL;
        l->n = 0;
}

static void
recognizer_free(recognizer *r)
{
        free(r->name);
        pcre2_code_free(r->code);
        strlist_free(&r->words);
        strlist_free(&r->context);
}

int
socfw_pii_custom_new(socfw_pii_custom **out, socfw_error *err)
{
        *out = calloc(1, sizeof **out);
        if (!*out || !((*out)->mctx = pcre2_match_context_create(NULL))) {
                free(*out);
                *out = NULL;
                return socfw_error_set(err, SOCFW_ENOMEM,
                                       "privacy: out of memory");
        }
        pcre2_set_match_limit((*out)->mctx, MATCH_LIMIT);
        pcre2_set_depth_limit((*out)->mctx, DEPTH_LIMIT);
        return 0;
}

void
socfw_pii_custom_free(socfw_pii_custom *c)
{
        if (!c)
                return;
        for (size_t i = 0; i < c->n; i++)
                recognizer_free(&c->r[i]);
        free(c->r);
        strlist_free(&c->deny);
        free(c->deny_type);
        strlist_free(&c->allow);
        pcre2_match_context_free(c->mctx);
        free(c);
}

size_t
socfw_pii_custom_count(const socfw_pii_custom *c)
{
        return c ? c->n : 0;
}

void
socfw_pii_custom_set_case_insensitive(socfw_pii_custom *c, int on)
{
        c->ci = on != 0;
}

int
socfw_pii_custom_add_deny(socfw_pii_custom *c, const char *value,
                          socfw_pii_type type, socfw_error *err)
{
        if (!value || !*value || type == SOCFW_PII_NONE)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "privacy: a deny-list entry needs a "
                                       "value and an entity type");
        socfw_pii_type *t = realloc(c->deny_type,
                                    (c->deny.n + 1) * sizeof *t);
        if (!t)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        c->deny_type = t;
        if (strlist_add(&c->deny, value, strlen(value)) < 0)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        t[c->deny.n - 1] = type;
        return 0;
}

int
socfw_pii_custom_add_allow(socfw_pii_custom *c, const char *value,
                           socfw_error *err)
{
        if (!value || !*value)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "privacy: an empty allow-list entry");
        if (strlist_add(&c->allow, value, strlen(value)) < 0)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        return 0;
}

/* ---- the YAML reader ---- */

typedef struct {
        yaml_document_t *doc;
        const char *file;
        socfw_error *err;
} reader;

static int
bad(reader *rd, const yaml_node_t *n, const char *fmt, ...)
{
        char msg[768];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        return socfw_error_set_at(rd->err, SOCFW_ESCHEMA, rd->file,
                                  n ? (long)n->start_mark.line + 1 : 0,
                                  n ? (long)n->start_mark.column + 1 : 0,
                                  "%s", msg);
}

static const char *
kind_name(const yaml_node_t *n)
{
        return n->type == YAML_MAPPING_NODE ? "a mapping" :
               n->type == YAML_SEQUENCE_NODE ? "a list" : "a scalar";
}

static const char *
scalar(const yaml_node_t *n)
{
        return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value
                                                : NULL;
}

static int
read_list(reader *rd, socfw_pii_custom *c, const char *rname,
          const char *key, yaml_node_t *n, strlist *out, int lower)
{
        if (n->type != YAML_SEQUENCE_NODE)
                return bad(rd, n, "recognizer '%s': '%s' must be a list of "
                                  "words ([a, b]), not %s",
                           rname, key, kind_name(n));
        for (yaml_node_item_t *it = n->data.sequence.items.start;
             it < n->data.sequence.items.top; it++) {
                yaml_node_t *v = yaml_document_get_node(rd->doc, *it);
                const char *s = scalar(v);
                if (!s || !*s)
                        return bad(rd, v ? v : n, "recognizer '%s': items of "
                                                  "'%s' must be non-empty "
                                                  "words, not %s",
                                   rname, key,
                                   v && !s ? kind_name(v) : "an empty value");
                if (++c->total_words > MAX_WORDS)
                        return bad(rd, v, "more than %d words in the "
                                          "recognizers' lists",
                                   MAX_WORDS);
                if (strlist_add(out, s, strlen(s)) < 0)
                        return socfw_error_set(rd->err, SOCFW_ENOMEM,
                                               "out of memory");
                if (lower)
                        for (char *p = out->v[out->n - 1]; *p; p++)
                                if (*p >= 'A' && *p <= 'Z')
                                        *p = (char)(*p + 32);
        }
        if (out->n == 0)
                return bad(rd, n, "recognizer '%s': '%s' is empty", rname,
                           key);
        return 0;
}

static int
read_recognizer(reader *rd, socfw_pii_custom *c, yaml_node_t *m,
                recognizer *r, size_t index)
{
        static const char *const keys[] = {"name", "type", "pattern",
                                           "words", "context", "score",
                                           "validator", "case_insensitive",
                                           NULL};
        if (m->type != YAML_MAPPING_NODE)
                return bad(rd, m, "recognizer %zu must be a mapping (name, "
                                  "type, pattern or words, ...), not %s",
                           index + 1, kind_name(m));
        yaml_node_t *v[8] = {0};
        for (yaml_node_pair_t *p = m->data.mapping.pairs.start;
             p < m->data.mapping.pairs.top; p++) {
                yaml_node_t *k = yaml_document_get_node(rd->doc, p->key);
                const char *ks = scalar(k);
                size_t i = 0;
                while (ks && keys[i] && strcmp(keys[i], ks))
                        i++;
                if (!ks || !keys[i])
                        return bad(rd, k, "recognizer %zu: unknown key '%s' "
                                          "(valid keys: name, type, pattern, "
                                          "words, context, score, validator, "
                                          "case_insensitive)",
                                   index + 1, ks ? ks : "?");
                v[i] = yaml_document_get_node(rd->doc, p->value);
        }
        const char *name = scalar(v[0]);
        if (!name || !*name)
                return bad(rd, v[0] ? v[0] : m, "recognizer %zu needs a "
                                                "name", index + 1);
        if (!(r->name = strdup(name)))
                return socfw_error_set(rd->err, SOCFW_ENOMEM, "out of memory");
        const char *type = scalar(v[1]);
        if (!type)
                return bad(rd, v[1] ? v[1] : m, "recognizer '%s' needs a "
                                                "type (an entity type such as "
                                                "PERSON or CREDIT_CARD)", name);
        if ((r->type = socfw_pii_type_parse(type)) == SOCFW_PII_NONE)
                return bad(rd, v[1], "recognizer '%s': unknown entity type "
                                     "'%s' (hint: EMAIL_ADDRESS, "
                                     "PHONE_NUMBER, CREDIT_CARD, CN_ID, "
                                     "IBAN_CODE, US_SSN, IP_ADDRESS, URL, "
                                     "HANDLE, STREET_ADDRESS, PERSON, "
                                     "LOCATION, ORGANIZATION)", name, type);
        if (!v[2] == !v[3])
                return bad(rd, m, "recognizer '%s' needs exactly one of "
                                  "'pattern' and 'words'", name);
        r->score = 0.6f;
        if (v[5]) {
                const char *s = scalar(v[5]);
                char *end = NULL;
                double d = s ? strtod(s, &end) : -1;
                if (!s || end == s || *end || !(d >= 0 && d <= 1))
                        return bad(rd, v[5], "recognizer '%s': score must be "
                                             "a number in [0, 1]", name);
                r->score = (float)d;
        }
        if (v[6]) {
                const char *s = scalar(v[6]);
                if (s && !strcmp(s, "luhn"))
                        r->validator = VAL_LUHN;
                else if (s && !strcmp(s, "cn_id"))
                        r->validator = VAL_CN_ID;
                else if (s && !strcmp(s, "iban"))
                        r->validator = VAL_IBAN;
                else if (!s || strcmp(s, "none"))
                        return bad(rd, v[6], "recognizer '%s': validator must "
                                             "be one of none, luhn, cn_id, "
                                             "iban", name);
        }
        if (v[7]) {
                const char *s = scalar(v[7]);
                if (s && !strcmp(s, "true"))
                        r->ci = 1;
                else if (!s || strcmp(s, "false"))
                        return bad(rd, v[7], "recognizer '%s': "
                                             "case_insensitive must be true "
                                             "or false", name);
        }
        int rc;
        if (v[4] && (rc = read_list(rd, c, name, "context", v[4],
                                    &r->context, 1)) < 0)
                return rc;
        if (v[3])
                return read_list(rd, c, name, "words", v[3], &r->words, 0);
        const char *pat = scalar(v[2]);
        if (!pat || !*pat)
                return bad(rd, v[2], "recognizer '%s': pattern must be a "
                                     "non-empty string", name);
        int ec;
        PCRE2_SIZE eo;
        r->code = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED,
                                PCRE2_UTF | PCRE2_MATCH_INVALID_UTF |
                                        (r->ci ? PCRE2_CASELESS : 0),
                                &ec, &eo, NULL);
        if (!r->code) {
                PCRE2_UCHAR msg[256];
                pcre2_get_error_message(ec, msg, sizeof msg);
                /* the column of the error: the value's column plus the
                 * offset, plus one for an opening quote */
                int quoted = v[2]->data.scalar.style ==
                                     YAML_SINGLE_QUOTED_SCALAR_STYLE ||
                             v[2]->data.scalar.style ==
                                     YAML_DOUBLE_QUOTED_SCALAR_STYLE;
                return socfw_error_set_at(
                        rd->err, SOCFW_ESCHEMA, rd->file,
                        (long)v[2]->start_mark.line + 1,
                        (long)v[2]->start_mark.column + 1 + quoted + (long)eo,
                        "recognizer '%s': the pattern does not compile at "
                        "offset %zu: %s", name, (size_t)eo, (char *)msg);
        }
        (void)pcre2_jit_compile(r->code, PCRE2_JIT_COMPLETE);
        return 0;
}

int
socfw_pii_custom_load_buffer(socfw_pii_custom *c, const char *text,
                             size_t len, const char *name, socfw_error *err)
{
        int rc = 0;
        yaml_parser_t parser;
        yaml_document_t doc;
        int have_doc = 0;
        recognizer *add = NULL;
        size_t n_add = 0;
        reader rd = {.doc = &doc, .file = name ? name : "<recognizers>",
                     .err = err};
        if (len > MAX_FILE)
                return socfw_error_set(err, SOCFW_ESCHEMA,
                                       "%s: larger than 4 MiB", rd.file);
        if (!yaml_parser_initialize(&parser))
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        yaml_parser_set_input_string(&parser, (const unsigned char *)text,
                                     len);
        if (!yaml_parser_load(&parser, &doc)) {
                rc = socfw_error_set_at(err, SOCFW_ESCHEMA, rd.file,
                                        (long)parser.problem_mark.line + 1,
                                        (long)parser.problem_mark.column + 1,
                                        "not valid YAML: %s",
                                        parser.problem ? parser.problem :
                                                         "parse error");
                goto out;
        }
        have_doc = 1;
        yaml_node_t *root = yaml_document_get_root_node(&doc);
        yaml_node_t *list = NULL;
        if (root && root->type == YAML_MAPPING_NODE) {
                for (yaml_node_pair_t *p = root->data.mapping.pairs.start;
                     p < root->data.mapping.pairs.top; p++) {
                        const char *k = scalar(
                                yaml_document_get_node(&doc, p->key));
                        if (k && !strcmp(k, "recognizers"))
                                list = yaml_document_get_node(&doc, p->value);
                        else {
                                rc = bad(&rd, yaml_document_get_node(&doc,
                                                                     p->key),
                                         "unknown key '%s' (the file holds "
                                         "one key, recognizers: a list)",
                                         k ? k : "?");
                                goto out;
                        }
                }
        }
        if (!list || list->type != YAML_SEQUENCE_NODE) {
                rc = bad(&rd, list ? list : root,
                         "expected 'recognizers:' with a list of "
                         "recognizers");
                goto out;
        }
        size_t n = (size_t)(list->data.sequence.items.top -
                            list->data.sequence.items.start);
        if (n == 0 || n > MAX_RECOGNIZERS) {
                rc = bad(&rd, list, n ? "more than 1000 recognizers" :
                                        "the list of recognizers is empty");
                goto out;
        }
        if (!(add = calloc(n, sizeof *add))) {
                rc = socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
                goto out;
        }
        for (size_t i = 0; i < n; i++) {
                yaml_node_t *m = yaml_document_get_node(
                        &doc, list->data.sequence.items.start[i]);
                n_add = i + 1;
                if (!m) {
                        rc = bad(&rd, list, "recognizer %zu is empty", i + 1);
                        goto out;
                }
                if ((rc = read_recognizer(&rd, c, m, &add[i], i)) < 0)
                        goto out;
        }
        recognizer *all = realloc(c->r, (c->n + n) * sizeof *all);
        if (!all) {
                rc = socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
                goto out;
        }
        memcpy(all + c->n, add, n * sizeof *add);
        c->r = all;
        c->n += n;
        n_add = 0;
out:
        for (size_t i = 0; i < n_add; i++)
                recognizer_free(&add[i]);
        free(add);
        if (have_doc)
                yaml_document_delete(&doc);
        yaml_parser_delete(&parser);
        return rc;
}

int
socfw_pii_custom_load(socfw_pii_custom *c, const char *path, socfw_error *err)
{
        FILE *f = fopen(path, "rb");
        if (!f)
                return socfw_error_set(err, SOCFW_EIO,
                                       "privacy: cannot open the recognizers "
                                       "file %s", path);
        char *buf = malloc(MAX_FILE + 1);
        size_t n = buf ? fread(buf, 1, MAX_FILE + 1, f) : 0;
        fclose(f);
        if (!buf)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        int rc = socfw_pii_custom_load_buffer(c, buf, n, path, err);
        free(buf);
        return rc;
}

/* ---- the scan ---- */

static int
alpha(unsigned char c)
{
        c |= 32;
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static int
ci_eq(const char *a, const char *b, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
                if (x >= 'A' && x <= 'Z')
                        x += 32;
                if (y >= 'A' && y <= 'Z')
                        y += 32;
                if (x != y)
                        return 0;
        }
        return 1;
}

/* Whole-word occurrences of `w` in the text (ASCII word edges). */
static int
find_words(const char *t, size_t len, const char *w, int ci,
           socfw_pii_type type, float score, socfw_pii_spans *out)
{
        size_t k = strlen(w);
        if (!k || k > len)
                return 0;
        unsigned char f = (unsigned char)w[0];
        for (size_t i = 0; i + k <= len;) {
                const char *p;
                if (ci && ((f | 32) >= 'a' && (f | 32) <= 'z')) {
                        /* next occurrence of either case of the first byte */
                        const char *p1 = memchr(t + i, f | 32, len - k + 1 - i);
                        const char *p2 = memchr(t + i, f & ~32, len - k + 1 - i);
                        p = !p1 ? p2 : !p2 ? p1 : p1 < p2 ? p1 : p2;
                } else {
                        p = memchr(t + i, f, len - k + 1 - i);
                }
                if (!p)
                        break;
                size_t s = (size_t)(p - t);
                i = s + 1;
                if (!(ci ? ci_eq(p, w, k) : !memcmp(p, w, k)))
                        continue;
                if ((s > 0 && alpha((unsigned char)t[s - 1]) &&
                     alpha((unsigned char)w[0])) ||
                    (s + k < len && alpha((unsigned char)t[s + k]) &&
                     alpha((unsigned char)w[k - 1])))
                        continue;
                socfw_pii_span sp = {.start = s, .end = s + k, .type = type,
                                     .score = score,
                                     .source = SOCFW_PII_SOURCE_PATTERN};
                if (socfw_pii_spans_push(out, &sp) < 0)
                        return SOCFW_ENOMEM;
                i = s + k;
        }
        return 0;
}

static int
context_near(const recognizer *r, const char *t, size_t len, size_t s,
             size_t e)
{
        size_t a = s > 48 ? s - 48 : 0, b = e + 24 < len ? e + 24 : len;
        for (size_t i = 0; i < r->context.n; i++) {
                const char *w = r->context.v[i];
                size_t k = strlen(w);
                for (size_t j = a; j + k <= b; j++) {
                        if (j + k > s && j < e) {
                                j = e - 1;
                                continue;   /* not inside the match */
                        }
                        if (ci_eq(t + j, w, k) &&
                            (j == 0 || !alpha((unsigned char)t[j - 1])) &&
                            (j + k == len || !alpha((unsigned char)t[j + k])))
                                return 1;
                }
        }
        return 0;
}

static int
validate(validator_kind v, const char *s, size_t n)
{
        switch (v) {
        case VAL_LUHN:
                return socfw_pii_luhn_ok(s, n);
        case VAL_CN_ID:
                return socfw_pii_cn_id_ok(s, n);
        case VAL_IBAN:
                return socfw_pii_iban_ok(s, n);
        default:
                return 1;
        }
}

int
socfw_pii_custom_scan(const socfw_pii_custom *c, const char *text, size_t len,
                      socfw_pii_spans *out, socfw_error *err)
{
        if (!c || !out || (!text && len))
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "privacy: custom scan needs its "
                                       "recognizers, a text and a span list");
        if (!text)
                return 0;
        int rc = 0;
        size_t first = out->n;
        pcre2_match_data *md = NULL;
        for (size_t i = 0; i < c->deny.n && rc == 0; i++)
                rc = find_words(text, len, c->deny.v[i], c->ci,
                                c->deny_type[i], 1.0f, out);
        for (size_t ri = 0; ri < c->n && rc == 0; ri++) {
                const recognizer *r = &c->r[ri];
                size_t from = out->n;
                for (size_t i = 0; i < r->words.n && rc == 0; i++)
                        rc = find_words(text, len, r->words.v[i], r->ci,
                                        r->type, r->score, out);
                if (r->code) {
                        if (!md && !(md = pcre2_match_data_create(4, NULL))) {
                                rc = SOCFW_ENOMEM;
                                break;
                        }
                        size_t pos = 0;
                        while (pos <= len && rc == 0) {
                                int m = pcre2_match(r->code, (PCRE2_SPTR)text,
                                                    len, pos, 0, md, c->mctx);
                                if (m == PCRE2_ERROR_NOMATCH)
                                        break;
                                if (m < 0) {
                                        PCRE2_UCHAR msg[256];
                                        pcre2_get_error_message(m, msg,
                                                                sizeof msg);
                                        rc = socfw_error_set(
                                                err, SOCFW_EINTERNAL,
                                                "privacy: recognizer '%s' "
                                                "failed at byte %zu: %s "
                                                "(hint: a pattern that "
                                                "backtracks without bound; "
                                                "use possessive or bounded "
                                                "repetition)",
                                                r->name, pos, (char *)msg);
                                        goto out;
                                }
                                PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
                                size_t s = ov[0], e = ov[1];
                                pos = e > s ? e : s + 1;
                                while (pos < len &&
                                       ((unsigned char)text[pos] & 0xC0) == 0x80)
                                        pos++;
                                if (e == s || !validate(r->validator,
                                                        text + s, e - s))
                                        continue;
                                socfw_pii_span sp = {
                                        .start = s, .end = e, .type = r->type,
                                        .score = r->score,
                                        .source = SOCFW_PII_SOURCE_PATTERN};
                                if (socfw_pii_spans_push(out, &sp) < 0)
                                        rc = SOCFW_ENOMEM;
                        }
                }
                /* context raises the score */
                for (size_t i = from; i < out->n && r->context.n; i++)
                        if (context_near(r, text, len, out->v[i].start,
                                         out->v[i].end)) {
                                out->v[i].score += 0.35f;
                                if (out->v[i].score > 1.0f)
                                        out->v[i].score = 1.0f;
                        }
        }
        if (rc == SOCFW_ENOMEM) {
                rc = socfw_error_set(err, rc, "privacy: out of memory");
                goto out;
        }
        if (out->n > first) {
                socfw_pii_spans fresh = {.v = out->v + first,
                                         .n = out->n - first,
                                         .cap = out->n - first};
                rc = socfw_pii_spans_fill_cp(&fresh, text, len, err);
        }
out:
        pcre2_match_data_free(md);
        return rc;
}

/* ---- the allow list ---- */

void
socfw_pii_custom_filter(const socfw_pii_custom *c, const char *text,
                        size_t len, socfw_pii_spans *spans)
{
        if (!c || !c->allow.n || !spans)
                return;
        size_t k = 0;
        for (size_t i = 0; i < spans->n; i++) {
                const socfw_pii_span *s = &spans->v[i];
                size_t n = s->end - s->start;
                int allowed = 0;
                for (size_t j = 0; j < c->allow.n && !allowed && s->end <= len;
                     j++)
                        allowed = strlen(c->allow.v[j]) == n &&
                                  (c->ci ? ci_eq(text + s->start,
                                                 c->allow.v[j], n)
                                         : !memcmp(text + s->start,
                                                   c->allow.v[j], n));
                if (!allowed)
                        spans->v[k++] = *s;
        }
        spans->n = k;
}
