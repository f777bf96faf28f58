/* pii.c - entity names, span lists, offsets and overlap resolution. */
#include "pii.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- names ---- */

static const char *const type_names[SOCFW_PII_TYPE_COUNT] = {
        [SOCFW_PII_NONE] = "NONE",
        [SOCFW_PII_EMAIL_ADDRESS] = "EMAIL_ADDRESS",
        [SOCFW_PII_PHONE_NUMBER] = "PHONE_NUMBER",
        [SOCFW_PII_CREDIT_CARD] = "CREDIT_CARD",
        [SOCFW_PII_CN_ID] = "CN_ID",
        [SOCFW_PII_IBAN_CODE] = "IBAN_CODE",
        [SOCFW_PII_US_SSN] = "US_SSN",
        [SOCFW_PII_IP_ADDRESS] = "IP_ADDRESS",
        [SOCFW_PII_URL] = "URL",
        [SOCFW_PII_HANDLE] = "HANDLE",
        [SOCFW_PII_STREET_ADDRESS] = "STREET_ADDRESS",
        [SOCFW_PII_PERSON] = "PERSON",
        [SOCFW_PII_LOCATION] = "LOCATION",
        [SOCFW_PII_ORGANIZATION] = "ORGANIZATION",
};

static const char *const type_tags[SOCFW_PII_TYPE_COUNT] = {
        [SOCFW_PII_NONE] = "PII",
        [SOCFW_PII_EMAIL_ADDRESS] = "EMAIL",
        [SOCFW_PII_PHONE_NUMBER] = "PHONE",
        [SOCFW_PII_CREDIT_CARD] = "CREDIT_CARD",
        [SOCFW_PII_CN_ID] = "CN_ID",
        [SOCFW_PII_IBAN_CODE] = "IBAN",
        [SOCFW_PII_US_SSN] = "US_SSN",
        [SOCFW_PII_IP_ADDRESS] = "IP_ADDRESS",
        [SOCFW_PII_URL] = "URL",
        [SOCFW_PII_HANDLE] = "HANDLE",
        [SOCFW_PII_STREET_ADDRESS] = "ADDRESS",
        [SOCFW_PII_PERSON] = "PERSON",
        [SOCFW_PII_LOCATION] = "LOCATION",
        [SOCFW_PII_ORGANIZATION] = "ORGANIZATION",
};

static const struct {
        const char *alias;
        socfw_pii_type type;
} aliases[] = {
        {"EMAIL", SOCFW_PII_EMAIL_ADDRESS},
        {"PHONE", SOCFW_PII_PHONE_NUMBER},
        {"CARD", SOCFW_PII_CREDIT_CARD},
        {"IBAN", SOCFW_PII_IBAN_CODE},
        {"SSN", SOCFW_PII_US_SSN},
        {"IP", SOCFW_PII_IP_ADDRESS},
        {"ADDRESS", SOCFW_PII_STREET_ADDRESS},
        {"PER", SOCFW_PII_PERSON},
        {"LOC", SOCFW_PII_LOCATION},
        {"GPE", SOCFW_PII_LOCATION},
        {"ORG", SOCFW_PII_ORGANIZATION},
};

const char *
socfw_pii_type_name(socfw_pii_type type)
{
        if ((unsigned)type >= SOCFW_PII_TYPE_COUNT)
                return "NONE";
        return type_names[type];
}

const char *
socfw_pii_type_tag(socfw_pii_type type)
{
        if ((unsigned)type >= SOCFW_PII_TYPE_COUNT)
                return "PII";
        return type_tags[type];
}

socfw_pii_type
socfw_pii_type_parse(const char *name)
{
        if (!name)
                return SOCFW_PII_NONE;
        for (int t = 1; t < SOCFW_PII_TYPE_COUNT; t++)
                if (strcasecmp(name, type_names[t]) == 0)
                        return (socfw_pii_type)t;
        for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
                if (strcasecmp(name, aliases[i].alias) == 0)
                        return aliases[i].type;
        return SOCFW_PII_NONE;
}

/* ---- span lists ---- */

#define MAX_SPANS ((size_t)16 << 20)

int
socfw_pii_spans_push(socfw_pii_spans *spans, const socfw_pii_span *s)
{
        if (spans->n == spans->cap) {
                size_t cap = spans->cap ? spans->cap * 2 : 16;
                if (cap > MAX_SPANS)
                        return SOCFW_ENOMEM;
                socfw_pii_span *v = realloc(spans->v, cap * sizeof *v);
                if (!v)
                        return SOCFW_ENOMEM;
                spans->v = v;
                spans->cap = cap;
        }
        spans->v[spans->n++] = *s;
        return 0;
}

void
socfw_pii_spans_free(socfw_pii_spans *spans)
{
        if (!spans)
                return;
        free(spans->v);
        memset(spans, 0, sizeof *spans);
}

static int
cmp_by_start(const void *a, const void *b)
{
        const socfw_pii_span *x = a, *y = b;
        if (x->start != y->start)
                return x->start < y->start ? -1 : 1;
        if (x->end != y->end)
                return x->end < y->end ? -1 : 1;
        return (int)x->type - (int)y->type;
}

void
socfw_pii_spans_sort(socfw_pii_spans *spans)
{
        if (spans->n > 1)
                qsort(spans->v, spans->n, sizeof spans->v[0], cmp_by_start);
}

/* ---- UTF-8 and offsets ---- */

size_t
socfw_pii_utf8_seq(const unsigned char *s, size_t avail)
{
        if (avail == 0)
                return 0;
        unsigned c = s[0];
        if (c < 0x80)
                return 1;
        size_t n;
        unsigned lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) {
                n = 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
                n = 3;
                if (c == 0xE0)
                        lo = 0xA0;
                else if (c == 0xED)
                        hi = 0x9F;      /* no surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
                n = 4;
                if (c == 0xF0)
                        lo = 0x90;
                else if (c == 0xF4)
                        hi = 0x8F;
        } else {
                return 0;
        }
        if (avail < n)
                return 0;
        if (s[1] < lo || s[1] > hi)
                return 0;
        for (size_t i = 2; i < n; i++)
                if ((s[i] & 0xC0) != 0x80)
                        return 0;
        return n;
}

/* Step over one "character": a well-formed sequence or one bad byte. */
static size_t
char_len(const unsigned char *s, size_t avail)
{
        size_t n = socfw_pii_utf8_seq(s, avail);
        return n ? n : 1;
}

/* Convert byte offset <-> code point offset for a sorted list of queries.
 * `q` holds byte offsets (to_cp) or code point offsets (!to_cp); results
 * replace them.  Returns -1 if an offset is out of range or (bytes) not on a
 * boundary. */
typedef struct {
        size_t value;
        size_t *slot;
} offset_query;

static int
cmp_query(const void *a, const void *b)
{
        const offset_query *x = a, *y = b;
        return x->value < y->value ? -1 : x->value > y->value;
}

static int
convert_offsets(offset_query *q, size_t nq, const char *text, size_t len,
                int to_cp)
{
        qsort(q, nq, sizeof *q, cmp_query);
        const unsigned char *s = (const unsigned char *)text;
        size_t byte = 0, cp = 0, k = 0;
        while (k < nq) {
                size_t want = q[k].value;
                /* walk to the next query; ASCII takes the short path */
                if (to_cp) {
                        if (want > len)
                                return -1;
                        while (byte < want) {
                                if (s[byte] < 0x80)
                                        byte++;
                                else
                                        byte += char_len(s + byte,
                                                         len - byte);
                                cp++;
                        }
                        if (byte != want)
                                return -1;      /* inside a character */
                } else {
                        while (cp < want && byte < len) {
                                if (s[byte] < 0x80)
                                        byte++;
                                else
                                        byte += char_len(s + byte,
                                                         len - byte);
                                cp++;
                        }
                        if (cp != want)
                                return -1;
                }
                while (k < nq && q[k].value == want) {
                        *q[k].slot = to_cp ? cp : byte;
                        k++;
                }
        }
        return 0;
}

static int
fill_offsets(socfw_pii_spans *spans, const char *text, size_t len,
             int to_cp, socfw_error *err)
{
        if (spans->n == 0)
                return 0;
        offset_query *q = malloc(2 * spans->n * sizeof *q);
        if (!q)
                return socfw_error_set(err, SOCFW_ENOMEM,
                                       "privacy: out of memory converting "
                                       "%zu span offsets", spans->n);
        for (size_t i = 0; i < spans->n; i++) {
                socfw_pii_span *s = &spans->v[i];
                if (to_cp) {
                        q[2 * i] = (offset_query){s->start, &s->cp_start};
                        q[2 * i + 1] = (offset_query){s->end, &s->cp_end};
                } else {
                        q[2 * i] = (offset_query){s->cp_start, &s->start};
                        q[2 * i + 1] = (offset_query){s->cp_end, &s->end};
                }
        }
        int rc = convert_offsets(q, 2 * spans->n, text, len, to_cp);
        free(q);
        if (rc < 0)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "privacy: a span offset lies outside "
                                       "the %zu-byte text or inside a "
                                       "character; hint: offsets are %s",
                                       len, to_cp ? "bytes" : "code points");
        for (size_t i = 0; i < spans->n; i++)
                if (spans->v[i].end < spans->v[i].start)
                        return socfw_error_set(err, SOCFW_EINVAL,
                                               "privacy: span %zu ends "
                                               "before it starts", i);
        return 0;
}

int
socfw_pii_spans_fill_cp(socfw_pii_spans *spans, const char *text, size_t len,
                        socfw_error *err)
{
        return fill_offsets(spans, text, len, 1, err);
}

int
socfw_pii_spans_fill_bytes(socfw_pii_spans *spans, const char *text,
                           size_t len, socfw_error *err)
{
        return fill_offsets(spans, text, len, 0, err);
}

/* ---- overlap resolution ---- */

static int
cmp_rank(const void *a, const void *b)
{
        const socfw_pii_span *x = a, *y = b;
        size_t lx = x->end - x->start, ly = y->end - y->start;
        if (lx != ly)
                return lx > ly ? -1 : 1;
        if (x->score != y->score)
                return x->score > y->score ? -1 : 1;
        if (x->type != y->type)
                return (int)x->type - (int)y->type;
        if (x->start != y->start)
                return x->start < y->start ? -1 : 1;
        return 0;
}

void
socfw_pii_spans_resolve(socfw_pii_spans *spans)
{
        if (spans->n < 2)
                return;
        qsort(spans->v, spans->n, sizeof spans->v[0], cmp_rank);
        /* A bitmap of taken bytes: each candidate costs its own length, so
         * the whole walk is linear in the total span length. */
        size_t max_end = 0;
        for (size_t i = 0; i < spans->n; i++)
                if (spans->v[i].end > max_end)
                        max_end = spans->v[i].end;
        unsigned char *taken = calloc(max_end / 8 + 1, 1);
        size_t kept = 0;
        for (size_t i = 0; i < spans->n; i++) {
                socfw_pii_span s = spans->v[i];
                int clash = s.end <= s.start;
                for (size_t k = s.start; !clash && k < s.end; k++)
                        if (taken ? taken[k >> 3] & (1u << (k & 7)) : 0)
                                clash = 1;
                if (!clash && !taken) {
                        /* no memory for the bitmap: quadratic fallback */
                        for (size_t j = 0; j < kept && !clash; j++)
                                clash = spans->v[j].start < s.end &&
                                        s.start < spans->v[j].end;
                }
                if (clash)
                        continue;
                if (taken)
                        for (size_t k = s.start; k < s.end; k++)
                                taken[k >> 3] |= (unsigned char)(1u << (k & 7));
                spans->v[kept++] = s;
        }
        free(taken);
        spans->n = kept;
        socfw_pii_spans_sort(spans);
}

int
socfw_pii_spans_merge(socfw_pii_spans *dst, const socfw_pii_span *ext,
                      size_t n_ext, const char *text, size_t len,
                      socfw_error *err)
{
        socfw_pii_spans tmp = {0};
        int rc = 0;
        for (size_t i = 0; i < n_ext; i++) {
                socfw_pii_span s = ext[i];
                if (s.start > s.end || s.end > len ||
                    (unsigned)s.type >= SOCFW_PII_TYPE_COUNT ||
                    s.type == SOCFW_PII_NONE) {
                        rc = socfw_error_set(err, SOCFW_EINVAL,
                                             "privacy: external span %zu "
                                             "(%zu..%zu, type %d) is not "
                                             "inside the %zu-byte text or "
                                             "has no type", i, s.start,
                                             s.end, (int)s.type, len);
                        goto out;
                }
                s.source = SOCFW_PII_SOURCE_EXTERNAL;
                if (!(s.score >= 0.0f && s.score <= 1.0f))
                        s.score = s.score > 1.0f ? 1.0f : 0.0f;
                if ((rc = socfw_pii_spans_push(&tmp, &s)) < 0) {
                        socfw_error_set(err, rc, "privacy: too many spans");
                        goto out;
                }
        }
        if ((rc = socfw_pii_spans_fill_cp(&tmp, text, len, err)) < 0)
                goto out;
        for (size_t i = 0; i < tmp.n; i++)
                if ((rc = socfw_pii_spans_push(dst, &tmp.v[i])) < 0) {
                        socfw_error_set(err, rc, "privacy: too many spans");
                        goto out;
                }
        socfw_pii_spans_resolve(dst);
out:
        socfw_pii_spans_free(&tmp);
        return rc;
}
