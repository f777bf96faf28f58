/* names.c - PERSON from name lists, shape, context and a tagger's spans
 * (see names.h for the evidence and how it is merged).
 *
 * Sections: the word table (one open-addressing hash of lower-cased
 * words: given-name prior, surname prior, how ordinary a word it is),
 * the list readers, English candidates and their score, and the scan
 * that ties them together with the Chinese candidates of names_zh.c.
 */
#define _GNU_SOURCE 1   /* memmem */
#include "names_impl.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

/* ---- the word table ---- */

static uint32_t
hash_bytes(const char *s, size_t n)
{
        uint32_t h = 2166136261u;       /* FNV-1a */
        for (size_t i = 0; i < n; i++) {
                h ^= (unsigned char)s[i];
                h *= 16777619u;
        }
        return h ? h : 1;
}

/* Lower-case `s` into `out` (NUL-terminated); 0 when it does not fit or
 * is not valid UTF-8. */
static size_t
fold(const char *s, size_t n, char *out, size_t cap)
{
        size_t o = 0;
        for (size_t i = 0; i < n;) {
                unsigned char c = (unsigned char)s[i];
                if (c < 0x80) {
                        if (o + 1 >= cap)
                                return 0;
                        out[o++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
                        i++;
                        continue;
                }
                utf8proc_int32_t cp;
                utf8proc_ssize_t k = utf8proc_iterate(
                        (const utf8proc_uint8_t *)s + i,
                        (utf8proc_ssize_t)(n - i), &cp);
                if (k <= 0)
                        return 0;
                utf8proc_uint8_t enc[4];
                utf8proc_ssize_t m = utf8proc_encode_char(utf8proc_tolower(cp),
                                                          enc);
                if (m <= 0 || o + (size_t)m >= cap)
                        return 0;
                memcpy(out + o, enc, (size_t)m);
                o += (size_t)m;
                i += (size_t)k;
        }
        out[o] = '\0';
        return o;
}

const entry *
socfw_pii_names_find(const socfw_pii_names *nm, const char *key, size_t n)
{
        if (!nm->cap)
                return NULL;
        uint32_t h = hash_bytes(key, n);
        for (size_t i = h & (nm->cap - 1);; i = (i + 1) & (nm->cap - 1)) {
                const entry *e = &nm->tab[i];
                if (!e->key)
                        return NULL;
                const char *k = nm->arena + e->key - 1;
                if (e->hash == h && e->klen == n && !memcmp(k, key, n))
                        return e;
        }
}

static int
grow(socfw_pii_names *nm)
{
        size_t ncap = nm->cap ? nm->cap * 2 : 1024;
        entry *t = calloc(ncap, sizeof *t);
        if (!t)
                return SOCFW_ENOMEM;
        for (size_t i = 0; i < nm->cap; i++) {
                if (!nm->tab[i].key)
                        continue;
                size_t j = nm->tab[i].hash & (ncap - 1);
                while (t[j].key)
                        j = (j + 1) & (ncap - 1);
                t[j] = nm->tab[i];
        }
        free(nm->tab);
        nm->tab = t;
        nm->cap = ncap;
        return 0;
}

/* The entry of a folded key, made when absent; NULL when out of memory. */
entry *
socfw_pii_names_upsert(socfw_pii_names *nm, const char *key, size_t n)
{
        if ((nm->n + 1) * 2 > nm->cap) {
                if (nm->n >= MAX_ENTRIES || grow(nm) < 0)
                        return NULL;
        }
        uint32_t h = hash_bytes(key, n);
        size_t i = h & (nm->cap - 1);
        for (;; i = (i + 1) & (nm->cap - 1)) {
                entry *e = &nm->tab[i];
                if (!e->key)
                        break;
                const char *k = nm->arena + e->key - 1;
                if (e->hash == h && e->klen == n && !memcmp(k, key, n))
                        return e;
        }
        if (nm->arena_n + n + 1 > nm->arena_cap) {
                size_t nc = nm->arena_cap ? nm->arena_cap * 2 : 65536;
                while (nc < nm->arena_n + n + 1)
                        nc *= 2;
                char *a = realloc(nm->arena, nc);
                if (!a)
                        return NULL;
                nm->arena = a;
                nm->arena_cap = nc;
        }
        memcpy(nm->arena + nm->arena_n, key, n + 1);
        entry *e = &nm->tab[i];
        memset(e, 0, sizeof *e);
        e->key = (uint32_t)nm->arena_n + 1;
        e->klen = (uint8_t)n;
        e->hash = h;
        nm->arena_n += n + 1;
        nm->n++;
        return e;
}

/* ---- list readers ---- */

typedef enum { L_GIVEN, L_SURNAME, L_ZH, L_FREQ } list_kind;

static float
clamp01(double v)
{
        return v < 0 ? 0.0f : v > 1 ? 1.0f : (float)v;
}

/* A count: digits, optionally with a decimal fraction ("73.9": the
 * Chinese list gives frequencies). */
static int
parse_count(const char *s, size_t n, uint64_t *out)
{
        if (n == 0 || n > 18)
                return -1;
        uint64_t v = 0;
        size_t i = 0, digits = 0;
        for (; i < n && s[i] >= '0' && s[i] <= '9'; i++, digits++)
                v = v * 10 + (uint64_t)(s[i] - '0');
        if (!digits)
                return -1;
        if (i < n && s[i] == '.') {
                size_t f = 0;
                for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++)
                        f++;
                if (!f)
                        return -1;
        }
        if (i != n)
                return -1;
        *out = v;
        return 0;
}

static int
row_error(socfw_error *err, const char *path, long line, const char *what)
{
        return socfw_error_set(err, SOCFW_EINVAL, "%s:%ld: %s", path, line,
                               what);
}

static void
apply(entry *e, list_kind kind, uint64_t a, uint64_t b)
{
        double l = log10((double)a + 1.0);
        switch (kind) {
        case L_GIVEN:
                /* 10 registrations: nothing; 10,000: certain */
                e->given = fmaxf(e->given, clamp01((l - 1.0) / 3.0));
                if (a > e->gcount)
                        e->gcount = a > UINT32_MAX ? UINT32_MAX : (uint32_t)a;
                e->flags |= F_GIVEN;
                break;
        case L_SURNAME:
                /* every entry of the 1,000 commonest is a real surname */
                e->surname = fmaxf(e->surname,
                                   clamp01(0.6 + 0.4 * (l - 4.5) / 2.0));
                e->flags |= F_SURNAME;
                if (a > e->scount)
                        e->scount = a > UINT32_MAX ? UINT32_MAX : (uint32_t)a;
                break;
        case L_ZH:
                e->zh = fmaxf(e->zh, clamp01(0.3 + 0.7 * l / 4.0));
                e->flags |= F_ZH;
                break;
        case L_FREQ:
                e->lower = a > UINT32_MAX ? UINT32_MAX : (uint32_t)a;
                e->cap = b > UINT32_MAX ? UINT32_MAX : (uint32_t)b;
                e->common = (float)((double)a / ((double)a + (double)b + 2.0));
                e->flags |= F_FREQ;
                break;
        }
}

static int
load_list(socfw_pii_names *nm, const char *path, list_kind kind,
          socfw_error *err)
{
        int rc = 0;
        FILE *f = fopen(path, "r");
        if (!f)
                return socfw_error_set(
                        err, SOCFW_EIO,
                        "privacy: cannot open the name list %s: %s (hint: "
                        "the lists are read in place from ../shared/data/"
                        "names; set privacy.names.* to where they are)",
                        path, strerror(errno));
        char *line = NULL;
        size_t lcap = 0;
        ssize_t n;
        long lineno = 0, rows = 0;
        while ((n = getline(&line, &lcap, f)) >= 0) {
                lineno++;
                if (n > MAX_LINE) {
                        rc = row_error(err, path, lineno,
                                       "row longer than 4096 bytes");
                        goto out;
                }
                while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
                        line[--n] = '\0';
                if ((size_t)n != strlen(line)) {
                        rc = row_error(err, path, lineno,
                                       "NUL byte in the row");
                        goto out;
                }
                if (lineno == 1) {
                        if (!memchr(line, '\t', (size_t)n)) {
                                rc = row_error(err, path, lineno,
                                               "expected a header line with "
                                               "tab-separated columns (name, "
                                               "count, ...)");
                                goto out;
                        }
                        continue;
                }
                if (n == 0)
                        continue;       /* a blank line */
                char *t1 = memchr(line, '\t', (size_t)n);
                if (!t1 || t1 == line) {
                        rc = row_error(err, path, lineno,
                                       t1 ? "empty name" :
                                            "expected name<TAB>count");
                        goto out;
                }
                char *c1 = t1 + 1;
                char *t2 = strchr(c1, '\t');
                size_t c1n = t2 ? (size_t)(t2 - c1) : strlen(c1);
                uint64_t a = 0, b = 0;
                if (parse_count(c1, c1n, &a) < 0) {
                        rc = row_error(err, path, lineno,
                                       "the count is not a non-negative "
                                       "number");
                        goto out;
                }
                if (kind == L_FREQ) {
                        char *c2 = t2 ? t2 + 1 : NULL;
                        size_t c2n = c2 ? strcspn(c2, "\t") : 0;
                        if (!c2 || parse_count(c2, c2n, &b) < 0) {
                                rc = row_error(err, path, lineno,
                                               "expected word<TAB>lower"
                                               "<TAB>capitalised counts");
                                goto out;
                        }
                }
                char key[MAX_WORD + 1];
                size_t kn = fold(line, (size_t)(t1 - line), key, sizeof key);
                if (!kn) {
                        rc = row_error(err, path, lineno,
                                       "name longer than 64 bytes or not "
                                       "valid UTF-8");
                        goto out;
                }
                entry *e = socfw_pii_names_upsert(nm, key, kn);
                if (!e) {
                        rc = socfw_error_set(err, SOCFW_ENOMEM,
                                             "privacy: out of memory reading "
                                             "%s", path);
                        goto out;
                }
                apply(e, kind, a, b);
                rows++;
        }
        if (ferror(f)) {
                rc = socfw_error_set(err, SOCFW_EIO, "privacy: reading %s: %s",
                                     path, strerror(errno));
                goto out;
        }
        if (rows == 0)
                rc = socfw_error_set(err, SOCFW_EINVAL,
                                     "%s: the list is empty (hint: a header "
                                     "line and one name<TAB>count row per "
                                     "name)", path);
out:
        free(line);
        fclose(f);
        return rc;
}

/* ---- built-in phrase lists ---- */

static const char *const def_ctx_en[] = {
        "name is", "name's", "names are", "my name", "call me",
        "named him", "named her", "calls him", "calls her",
        "last name", "first name", "surname", "full name", "maiden name",
        "calls me", "i'm", "i am", "called",
        "named", "signed", "regards", "sincerely", "cheers", "dear",
        "yours", "best", "thanks", "thank you", "-- ", "attn",
        "contact person", "user", "customer", "patient", "employee",
        "mother", "father", "wife", "husband", "son", "daughter", "brother",
        "sister", "friend", "director", "directed by", "written by",
        "author", NULL};
static const char *const def_weak_en[] = {
        "call", "ask", "ask for", "talk to", "speak to", "meet", "met",
        "hi", "hello", "hey", "with", "said", "says", "told",
        "cc", "contact", "from", "by",
        /* after a name: what people do */
        "shouted", "whispered", "replied", "asked", "smiled", "laughed",
        "lives", "lived", "spent", "wrote", "is from", "was born", "works",
        "worked", "married", "had given", NULL};
static const char *const def_titles_en[] = {
        "mr", "mrs", "ms", "miss", "mx", "dr", "prof", "professor", "sir",
        "madam", "dame", "lady", "lord", "rev", "fr", "sr", "jr", "mister",
        "doctor", "uncle", "aunt", "auntie", "grandma", "grandpa", NULL};
/* Particles inside a name: "Ludwig van Beethoven". */
static const char *const particles[] = {"van", "von", "de", "da", "del",
                                        "della", "der", "den", "di", "du",
                                        "la", "le", "bin", "ibn", "al",
                                        "dos", "das", "ter", NULL};
/* A last word that makes the run a place or an organisation. */
static const char *const org_words[] = {
        "inc", "ltd", "llc", "corp", "co", "company", "university",
        "college", "school", "bank", "hotel", "street", "avenue", "road",
        "city", "county", "river", "mountain", "mountains", "lake", "park",
        "church", "hospital", "airport", "orchestra", "group",
        "foundation", "institute", "museum", "club", "team", "association",
        "society", "party", "department", "ministry", "island", "islands",
        "bay", "valley", "state", "states", "republic", "kingdom", "center",
        "centre", "street", "square", "station", "house", "hall", "press",
        "news", "times", "post", "day", "avenue", "boulevard", NULL};
/* Months and days: capitalised, and names too ("April", "June"). */
static const char *const calendar[] = {
        "january", "february", "march", "april", "may", "june", "july",
        "august", "september", "october", "november", "december", "monday",
        "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
        "god", "christmas", "easter", NULL};

/* Capitalised words that open a line or a sentence and are no names:
 * speakers of a transcript ("Bot:", "User:"), pronouns. */
static const char *const not_names[] = {
        "bot", "user", "agent", "customer", "assistant", "system", "admin",
        "q", "a", "i", "i'm", "i'll", "i've", "i'd", "re", "fwd", "ps",
        "note", "subject", "producer", "director", "ref", "sku", "id",
        "tel", "fax", "isbn", "ext", "url", "ip", "vs", "eta", "faq", "pin",
        "otp", "ok", "re", "cc", "bcc", "attn", "ps", "nb", "fyi",
        "website", "web", "e-mail", "email", "mail", "phone", "mobile",
        "address", "name", "title", "company", "city", "country", "zip",
        "postcode", "date", "time", "rua", "rue", "via", "calle", "avenida",
        "str", "strasse", "vicolo", "ul", "plaza", "piazza", "praça",
        "largo", "travessa", "calea", "ulica", "gasse", NULL};

static int
in_list(const char *const *list, const char *w, size_t n)
{
        for (; list && *list; list++)
                if (strlen(*list) == n && !memcmp(*list, w, n))
                        return 1;
        return 0;
}

/* ---- lifetime ---- */

socfw_pii_names_options
socfw_pii_names_options_default(void)
{
        socfw_pii_names_options o = {0};
        o.threshold = 0.4f;     /* chosen on pii-en's training templates */
        o.evidence = SOCFW_PII_NAMES_ALL;
        return o;
}

void
socfw_pii_names_free(socfw_pii_names *nm)
{
        if (!nm)
                return;
        free(nm->tab);
        free(nm->arena);
        for (size_t i = 0; i < nm->n_owned; i++)
                free(nm->owned[i]);
        free(nm->owned);
        free(nm);
}

/* A lower-cased copy of a phrase list (the names object keeps it). */
static int
own_list(socfw_pii_names *nm, const char *const *in, const char *const **out)
{
        size_t n = 0;
        while (in[n])
                n++;
        char **v = calloc(n + 1, sizeof *v);
        char **o = realloc(nm->owned, (nm->n_owned + 1) * sizeof *o);
        if (!v || !o) {
                free(v);
                if (o)
                        nm->owned = o;
                return SOCFW_ENOMEM;
        }
        nm->owned = o;
        nm->owned[nm->n_owned++] = (char *)v;
        for (size_t i = 0; i < n; i++) {
                size_t k = strlen(in[i]);
                char buf[256];
                size_t m = k < sizeof buf ? fold(in[i], k, buf, sizeof buf) : 0;
                v[i] = m ? strdup(buf) : strdup(in[i]);
                if (!v[i])
                        return SOCFW_ENOMEM;
                char **o2 = realloc(nm->owned,
                                    (nm->n_owned + 1) * sizeof *o2);
                if (!o2) {
                        free(v[i]);
                        v[i] = NULL;
                        return SOCFW_ENOMEM;
                }
                nm->owned = o2;
                nm->owned[nm->n_owned++] = v[i];
        }
        *out = (const char *const *)v;
        return 0;
}

int
socfw_pii_names_new(socfw_pii_names **out, const socfw_pii_names_options *opt,
                    socfw_error *err)
{
        int rc = 0;
        *out = NULL;
        socfw_pii_names *nm = calloc(1, sizeof *nm);
        if (!nm)
                return socfw_error_set(err, SOCFW_ENOMEM,
                                       "privacy: out of memory");
        nm->opt = opt ? *opt : socfw_pii_names_options_default();
        const socfw_pii_names_options *o = &nm->opt;
        if (!(o->threshold >= 0.0f && o->threshold <= 1.0f)) {
                rc = socfw_error_set(err, SOCFW_EINVAL,
                                     "privacy: names threshold %g is outside "
                                     "[0, 1]", (double)o->threshold);
                goto out;
        }
        if (!o->given && !o->surnames_zh) {
                rc = socfw_error_set(err, SOCFW_EINVAL,
                                     "privacy: the name recognizer needs a "
                                     "given-name list (names.given) or a "
                                     "Chinese family-name list "
                                     "(names.surnames_zh)");
                goto out;
        }
        if ((o->given && (rc = load_list(nm, o->given, L_GIVEN, err)) < 0) ||
            (o->surnames &&
             (rc = load_list(nm, o->surnames, L_SURNAME, err)) < 0) ||
            (o->surnames_zh &&
             (rc = load_list(nm, o->surnames_zh, L_ZH, err)) < 0) ||
            (o->word_freq &&
             (rc = load_list(nm, o->word_freq, L_FREQ, err)) < 0))
                goto out;
        /* the built-in word classes, as flags of the table */
        static const struct {
                const char *const *list;
                uint16_t flag;
        } classes[] = {{calendar, F_CAL}, {org_words, F_ORG},
                       {particles, F_PART}, {not_names, F_NOT}};
        for (size_t c = 0; c < sizeof classes / sizeof classes[0]; c++)
                for (const char *const *w = classes[c].list; *w; w++) {
                        entry *e = socfw_pii_names_upsert(nm, *w, strlen(*w));
                        if (!e) {
                                rc = socfw_error_set(err, SOCFW_ENOMEM,
                                                     "privacy: out of "
                                                     "memory");
                                goto out;
                        }
                        e->flags |= classes[c].flag;
                }
        if ((rc = socfw_pii_names_zh_setup(nm)) < 0) {
                rc = socfw_error_set(err, rc, "privacy: out of memory");
                goto out;
        }
        nm->have_en = o->given != NULL;
        nm->have_zh = o->surnames_zh != NULL;
        nm->ctx_en = def_ctx_en;
        nm->weak_en = def_weak_en;
        nm->titles_en = def_titles_en;
        nm->ctx_zh = socfw_pii_names_def_ctx_zh;
        nm->translit_ctx_zh = socfw_pii_names_zh_def_translit_ctx;
        if ((o->context_en && (rc = own_list(nm, o->context_en,
                                             &nm->ctx_en)) < 0) ||
            (o->weak_context_en && (rc = own_list(nm, o->weak_context_en,
                                                  &nm->weak_en)) < 0) ||
            (o->titles_en && (rc = own_list(nm, o->titles_en,
                                            &nm->titles_en)) < 0) ||
            (o->context_zh && (rc = own_list(nm, o->context_zh,
                                             &nm->ctx_zh)) < 0) ||
            (o->translit_context_zh &&
             (rc = own_list(nm, o->translit_context_zh,
                            &nm->translit_ctx_zh)) < 0)) {
                rc = socfw_error_set(err, SOCFW_ENOMEM,
                                     "privacy: out of memory");
                goto out;
        }
        *out = nm;
        nm = NULL;
out:
        socfw_pii_names_free(nm);
        return rc;
}

int
socfw_pii_names_lookup(const socfw_pii_names *nm, const char *word)
{
        char key[MAX_WORD + 1];
        size_t n = fold(word, strlen(word), key, sizeof key);
        const entry *e = n ? socfw_pii_names_find(nm, key, n) : NULL;
        return e ? e->flags & (F_GIVEN | F_SURNAME | F_ZH) : 0;
}

/* ---- reading the text ---- */

/* The code point at t[i] (invalid byte: U+FFFD, length 1). */
size_t
socfw_pii_names_cp_at(const char *t, size_t len, size_t i, uint32_t *cp)
{
        unsigned char c = (unsigned char)t[i];
        if (c < 0x80) {
                *cp = c;
                return 1;
        }
        size_t k = socfw_pii_utf8_seq((const unsigned char *)t + i, len - i);
        if (!k) {
                *cp = 0xFFFD;
                return 1;
        }
        /* a valid sequence (socfw_pii_utf8_seq checked it): decode */
        const unsigned char *u = (const unsigned char *)t + i;
        *cp = k == 2 ? (uint32_t)(u[0] & 0x1F) << 6 | (u[1] & 0x3F)
            : k == 3 ? (uint32_t)(u[0] & 0x0F) << 12 |
                               (uint32_t)(u[1] & 0x3F) << 6 | (u[2] & 0x3F)
                     : (uint32_t)(u[0] & 0x07) << 18 |
                               (uint32_t)(u[1] & 0x3F) << 12 |
                               (uint32_t)(u[2] & 0x3F) << 6 | (u[3] & 0x3F);
        return k;
}

size_t
socfw_pii_names_cp_before(const char *t, size_t len, size_t i, uint32_t *cp)
{
        /* back over continuation bytes to the byte that starts the
         * character (a UTF-8 character has at most 4 bytes) */
        for (size_t back = 1; back <= 4 && back <= i; back++) {
                if (((unsigned char)t[i - back] & 0xC0) == 0x80)
                        continue;
                uint32_t c;
                if (socfw_pii_names_cp_at(t, len, i - back, &c) != back)
                        return 0;
                *cp = c;
                return back;
        }
        return 0;
}

int
socfw_pii_names_is_han(uint32_t c)
{
        return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
               (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x20000 && c <= 0x2FA1F);
}

/* 1 upper, 2 lower, 3 other letter, 0 not a letter (Han is not: it has
 * its own recognizer). */
static int
letter_case(uint32_t c)
{
        if (c < 0x80)
                return (c >= 'A' && c <= 'Z') ? 1 : (c >= 'a' && c <= 'z') ? 2 : 0;
        if (socfw_pii_names_is_han(c) || c == 0xFFFD)
                return 0;
        switch (utf8proc_category((utf8proc_int32_t)c)) {
        case UTF8PROC_CATEGORY_LU:
        case UTF8PROC_CATEGORY_LT:
                return 1;
        case UTF8PROC_CATEGORY_LL:
                return 2;
        case UTF8PROC_CATEGORY_LM:
        case UTF8PROC_CATEGORY_LO:
        case UTF8PROC_CATEGORY_MN:
                return 3;
        default:
                return 0;
        }
}

/* ---- English ---- */

typedef struct {
        size_t s, e;            /* bytes of the word (no possessive 's) */
        uint8_t cap;            /* first letter upper case             */
        uint8_t upper;          /* every letter upper case, >= 2        */
        uint8_t initial;        /* "J." (e includes the dot)            */
        uint8_t joined;         /* only spaces since the previous word  */
        uint8_t sent_start;     /* first word of a sentence or line     */
        uint8_t comma_before;   /* ", " since the previous word         */
        uint8_t poss;           /* ended in a possessive 's: ends a run  */
} word;

typedef struct {
        word *v;
        size_t n, cap;
} words;

static int
push(words *w, const word *x)
{
        if (w->n == w->cap) {
                size_t nc = w->cap ? w->cap * 2 : 64;
                if (nc > (SIZE_MAX / sizeof *w->v))
                        return SOCFW_ENOMEM;
                word *v = realloc(w->v, nc * sizeof *v);
                if (!v)
                        return SOCFW_ENOMEM;
                w->v = v;
                w->cap = nc;
        }
        w->v[w->n++] = *x;
        return 0;
}

static int
is_title(const socfw_pii_names *nm, const char *t, const word *w)
{
        char key[MAX_WORD + 1];
        size_t e = w->e;
        if (e > w->s && t[e - 1] == '.')
                e--;
        size_t n = fold(t + w->s, e - w->s, key, sizeof key);
        return n && in_list(nm->titles_en, key, n);
}

/* Split the text into words, recording what stands between them. */
static int
split_words(const socfw_pii_names *nm, const char *t, size_t len, words *out)
{
        size_t i = 0;
        int joined = 0, sent = 1, comma = 0;
        word prev = {0};
        int have_prev = 0;
        while (i < len) {
                uint32_t cp;
                size_t k = socfw_pii_names_cp_at(t, len, i, &cp);
                int lc = letter_case(cp);
                if (!lc) {
                        if (cp == ' ' || cp == '\t') {
                                /* joined stays */
                        } else if (cp == '\n' || cp == '\r') {
                                sent = 1;
                                joined = 0;
                        } else if (cp == '.' || cp == '!' || cp == '?' ||
                                   cp == ':' || cp == ';' || cp == '"' ||
                                   cp == 0x201C) {
                                int abbrev = cp == '.' && have_prev &&
                                             prev.e == i &&
                                             is_title(nm, t, &prev);
                                if (!abbrev)
                                        sent = 1;
                                joined = abbrev ? joined : 0;
                        } else if (cp == ',') {
                                comma = joined;
                                joined = 0;
                        } else {
                                joined = 0;
                                comma = 0;
                        }
                        i += k;
                        continue;
                }
                /* a word: letters, with ' or - between letters */
                word w = {.s = i, .cap = lc == 1, .joined = (uint8_t)joined,
                          .sent_start = (uint8_t)sent,
                          .comma_before = (uint8_t)comma};
                size_t nl = 0, nupper = 0;
                size_t j = i;
                while (j < len) {
                        size_t kk = socfw_pii_names_cp_at(t, len, j, &cp);
                        int c = letter_case(cp);
                        if (c) {
                                nl++;
                                nupper += c == 1;
                                j += kk;
                                continue;
                        }
                        if ((cp == '\'' || cp == 0x2019 || cp == '-') &&
                            j + kk < len) {
                                uint32_t nx;
                                socfw_pii_names_cp_at(t, len, j + kk, &nx);
                                if (letter_case(nx)) {
                                        j += kk;
                                        continue;
                                }
                        }
                        break;
                }
                w.e = j;
                /* possessive: Yefremova's */
                if (w.e - w.s > 2 && t[w.e - 1] == 's' && t[w.e - 2] == '\'') {
                        w.e -= 2;
                        w.poss = 1;
                }
                else if (w.e - w.s > 4 && t[w.e - 1] == 's' &&
                         (unsigned char)t[w.e - 2] == 0x99 &&
                         (unsigned char)t[w.e - 3] == 0x80 &&
                         (unsigned char)t[w.e - 4] == 0xE2) {
                        w.e -= 4;
                        w.poss = 1;
                }
                w.upper = nl >= 2 && nupper == nl;
                if (nl == 1 && w.cap && j < len && t[j] == '.') {
                        w.initial = 1;
                        w.e = j + 1;
                        j++;
                }
                if (push(out, &w) < 0)
                        return SOCFW_ENOMEM;
                prev = w;
                have_prev = 1;
                joined = 1;
                sent = 0;
                comma = 0;
                i = j;
        }
        return 0;
}

typedef struct {
        float given, surname;   /* list priors, down-weighted            */
        float common;           /* share of ordinary uses                 */
        int ordinary;           /* a word of the table, not a name       */
        int foreign;            /* in no table: may be a name            */
        int calendar, org, particle;
        int listed;             /* in a name list, however common     */
} word_info;

static void
word_look(const socfw_pii_names *nm, const char *t, const word *w,
          word_info *wi)
{
        memset(wi, 0, sizeof *wi);
        char key[MAX_WORD + 1];
        size_t n = fold(t + w->s, w->e - w->s, key, sizeof key);
        if (!n) {
                wi->foreign = 0;
                return;
        }
        const entry *e = socfw_pii_names_find(nm, key, n);
        if (!e) {
                wi->foreign = 1;
                return;
        }
        wi->calendar = (e->flags & (F_CAL | F_NOT)) != 0;
        wi->org = (e->flags & F_ORG) != 0;
        wi->particle = (e->flags & F_PART) != 0;
        /* a real name, however common a word ("Will"), not a list's
         * oddity ("The", registered five times) */
        wi->listed = e->given >= 0.3f || (e->flags & F_SURNAME);
        float keep = 1.0f - e->common;
        /* capitalised in books far more often than registered as a
         * name: a place or a people ("France", "Tunisia") */
        float given = e->given, surname = e->surname;
        if ((e->flags & F_FREQ) && e->cap > 20) {
                double r = (double)e->gcount / (double)e->cap;
                if (r < 30.0)
                        given *= (float)(r / 30.0);
                r = (double)e->scount / (double)e->cap;
                if (r < 30.0)
                        surname *= (float)(r / 30.0);
        }
        if (wi->calendar)
                keep *= 0.2f;
        if (nm->opt.evidence & SOCFW_PII_NAMES_LISTS) {
                wi->given = given * keep;
                wi->surname = surname * keep;
        }
        wi->common = e->common;
        int seen = (e->flags & F_FREQ) && e->lower + e->cap >= 30;
        wi->ordinary = seen && e->common >= 0.5f &&
                       wi->given < 0.15f && wi->surname < 0.15f;
        /* rare in lower case, often capitalised: a name or a place */
        /* seen capitalised in books but in no list: a place, a people, a
         * brand more often than a person */
        wi->foreign = !wi->ordinary && !wi->org && !wi->calendar &&
                      (!seen || (wi->listed && e->common < 0.2f));
}

static int
is_sep(unsigned char c)
{
        return c == ' ' || c == ',' || c == ':' || c == '?' || c == '-' ||
               c == '\t' || c == '@' || c == '.' || c == '\n' || c == '\r';
}

static int
ascii_alpha(unsigned char c)
{
        c |= 32;
        return c >= 'a' && c <= 'z';
}

/* Does one of `list` end right before byte `s` (only separators between,
 * within `win` bytes), or start right after byte `e`, as whole words?
 * One comparison per phrase: the window is lower-cased once and its
 * trailing separators skipped, so the phrase must end where they
 * start. */
static int
phrase_near(const char *t, size_t len, size_t s, size_t e, size_t win,
            const char *const *list, int before, int after)
{
        char w[80];
        if (win > 64)
                win = 64;
        size_t a = s > win ? s - win : 0, n = s - a, j = n;
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)t[a + i];
                w[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        }
        while (j > 0 && is_sep((unsigned char)w[j - 1]))
                j--;
        for (; list && *list; list++) {
                const char *p = *list;
                size_t k = strlen(p);
                while (k > 0 && is_sep((unsigned char)p[k - 1]))
                        k--;
                if (!k)
                        continue;
                int ascii = (unsigned char)p[0] < 0x80;
                if (before && k <= j && !memcmp(w + j - k, p, k)) {
                        size_t i = j - k;
                        int left = i ? ascii_alpha((unsigned char)w[i - 1]) :
                                       a > 0 && ascii_alpha(
                                                        (unsigned char)t[a - 1]);
                        if (!ascii || !left)
                                return 1;
                }
                if (after && e < len) {
                        size_t q = e;
                        while (q < len && q - e < 4 && (t[q] == ' ' || t[q] == ','))
                                q++;
                        if (q + k <= len) {
                                size_t m;
                                for (m = 0; m < k; m++) {
                                        unsigned char c = (unsigned char)t[q + m];
                                        if ((char)(c >= 'A' && c <= 'Z' ? c + 32 : c) != p[m])
                                                break;
                                }
                                if (m == k && (!ascii || q + k == len ||
                                               !ascii_alpha((unsigned char)t[q + k])))
                                        return 1;
                        }
                }
        }
        return 0;
}

/* Does the line of byte s open with "--" or "—" (a signature)? */
static int
signature_line(const char *t, size_t s)
{
        size_t j = s;
        while (j > 0 && t[j - 1] != '\n' && s - j < 64)
                j--;
        if (j > 0 && t[j - 1] != '\n')
                return 0;
        while (j < s && (t[j] == ' ' || t[j] == '\t'))
                j++;
        return (j + 2 <= s && t[j] == '-' && t[j + 1] == '-') ||
               (j + 3 <= s && !memcmp(t + j, "\xE2\x80\x94", 3));
}

float
socfw_pii_names_sigmoid(float z)
{
        return 1.0f / (1.0f + expf(-z));
}

/* Best tagger PERSON score overlapping [s, e), or -1. */
float
socfw_pii_names_tagger_score(const socfw_pii_spans *tg, size_t s, size_t e, size_t *lo)
{
        float best = -1.0f;
        if (!tg)
                return best;
        /* tagger spans are sorted by start: skip those that ended */
        while (*lo < tg->n && tg->v[*lo].end <= s &&
               tg->v[*lo].start < s)
                (*lo)++;
        for (size_t i = *lo; i < tg->n && tg->v[i].start < e; i++)
                if (tg->v[i].type == SOCFW_PII_PERSON && tg->v[i].end > s &&
                    tg->v[i].score > best)
                        best = tg->v[i].score;
        return best;
}

int
socfw_pii_names_emit(socfw_pii_spans *out, size_t s, size_t e, float score)
{
        socfw_pii_span sp = {.start = s, .end = e,
                             .type = SOCFW_PII_PERSON, .score = score,
                             .source = SOCFW_PII_SOURCE_PATTERN};
        return socfw_pii_spans_push(out, &sp);
}

void
socfw_pii_names_remember(found *fnd, size_t *n_fnd, size_t s, size_t e,
                         float score)
{
        if (*n_fnd >= MAX_PROPAGATE)
                return;
        fnd[*n_fnd].s = s;
        fnd[*n_fnd].e = e;
        fnd[*n_fnd].score = score;
        (*n_fnd)++;
}

int
socfw_pii_names_accept(socfw_pii_spans *out, found *fnd, size_t *n_fnd,
                       size_t s, size_t e, float score)
{
        if (socfw_pii_names_emit(out, s, e, score) < 0)
                return SOCFW_ENOMEM;
        socfw_pii_names_remember(fnd, n_fnd, s, e, score);
        return 0;
}

/* Whether a Han character ends right before byte s or starts at byte e:
 * an unlisted Latin word glued to Chinese text ("@Mc小小豪", "ShopEx的")
 * is more often part of a screen name or a brand than a person's name
 * (listed given names such as "Emma张" are kept). */
static int
glued_to_han(const char *t, size_t len, size_t s, size_t e)
{
        uint32_t cp;
        if (e < len) {
                socfw_pii_names_cp_at(t, len, e, &cp);
                if (socfw_pii_names_is_han(cp))
                        return 1;
        }
        return socfw_pii_names_cp_before(t, len, s, &cp) &&
               socfw_pii_names_is_han(cp);
}

/* Score the names in w[a..b) (consecutive candidate words). */
static float
score_run(const socfw_pii_names *nm, const char *t, size_t len,
          const word *w, const word_info *wi, size_t a, size_t b,
          const socfw_pii_spans *tg, size_t *tlo, int *use_tagger)
{
        unsigned ev = nm->opt.evidence;
        float z = -2.2f;
        float best = 0.0f;
        int n_words = 0, n_init = 0, n_foreign = 0, n_sur = 0;
        for (size_t i = a; i < b; i++) {
                if (w[i].initial) {
                        n_init++;
                        continue;
                }
                if (wi[i].particle)
                        continue;
                n_words++;
                float v = fmaxf(wi[i].given, wi[i].surname);
                if (wi[i].foreign && v < 0.3f)
                        v = 0.3f;
                best = fmaxf(best, v);
                n_foreign += wi[i].foreign;
                n_sur += wi[i].surname >= 0.3f;
        }
        if (!n_words)
                return 0.0f;
        if (ev & SOCFW_PII_NAMES_LISTS) {
                z += 3.0f * best;
                size_t first = a;
                while (w[first].initial && first + 1 < b)
                        first++;
                const word_info *fi = &wi[first], *li = &wi[b - 1];
                if (n_words >= 2) {
                        if (fi->given >= 0.3f &&
                            (li->surname >= 0.3f || li->foreign ||
                             li->given >= 0.3f || li->listed))
                                z += 2.0f;
                        else if ((fi->foreign || fi->given >= 0.3f) &&
                                 (li->foreign || li->surname >= 0.3f))
                                z += 1.6f;
                        else if (n_foreign + n_sur >= 1)
                                z += 0.8f;
                }
                if (n_init && n_words)
                        z += 1.0f;
                if (a > 0 && w[a].joined && is_title(nm, t, &w[a - 1]))
                        z += 3.0f;
                if (w[a].sent_start && n_words == 1)
                        z -= 0.8f + 1.5f * wi[a].common;
                if (li->org)
                        z -= 4.0f;
                if (n_words > 4)
                        z -= 2.0f;
                if (best < 0.35f && glued_to_han(t, len, w[a].s, w[b - 1].e))
                        z -= 1.5f;      /* unlisted: Mc, iPad, ShopEx */
        }
        if (ev & SOCFW_PII_NAMES_CONTEXT) {
                size_t s = w[a].s, e = w[b - 1].e;
                if (phrase_near(t, len, s, e, 32, nm->ctx_en, 1, 0) ||
                    signature_line(t, s))
                        z += 2.5f;
                else if (phrase_near(t, len, s, e, 24, nm->weak_en, 1, 1))
                        z += 1.2f;
                if (s > 0 && t[s - 1] == '@')
                        z += 2.0f;
                /* a speaker's name opening a line: "Ubul: What a wife." */
                if (e < len && t[e] == ':' && w[a].sent_start) {
                        size_t j = s;
                        while (j > 0 && (t[j - 1] == ' ' || t[j - 1] == '\t'))
                                j--;
                        if (j == 0 || t[j - 1] == '\n')
                                z += 2.5f;
                }
        }
        if ((ev & SOCFW_PII_NAMES_TAGGER) && tg) {
                float ts = socfw_pii_names_tagger_score(tg, w[a].s, w[b - 1].e, tlo);
                *use_tagger = 1;
                if (ts >= 0)
                        z += 1.0f + 4.0f * (ts - 0.5f);
                else
                        z -= 1.0f;
        }
        return socfw_pii_names_sigmoid(z);
}

static int
candidate(const word *w, const word_info *wi)
{
        return (w->cap && !w->upper) || w->initial;
}

/* A scored run of words [a, b). */
typedef struct {
        size_t a, b;
        float score;
} run;

static int
scan_en(const socfw_pii_names *nm, const char *t, size_t len,
        const socfw_pii_spans *tg, socfw_pii_spans *out, found *fnd,
        size_t *n_fnd)
{
        int rc = 0;
        words ws = {0};
        word_info *wi = NULL;
        run *runs = NULL;
        size_t n_runs = 0, runs_cap = 0;
        if ((rc = split_words(nm, t, len, &ws)) < 0)
                goto out;
        if (!ws.n)
                goto out;
        wi = malloc(ws.n * sizeof *wi);
        if (!wi) {
                rc = SOCFW_ENOMEM;
                goto out;
        }
        for (size_t i = 0; i < ws.n; i++) {
                const word *x = &ws.v[i];
                if (candidate(x, NULL)) {
                        word_look(nm, t, x, &wi[i]);
                } else {
                        /* lower case: only particles matter */
                        memset(&wi[i], 0, sizeof wi[i]);
                        wi[i].particle = !x->cap && x->e - x->s <= 5 &&
                                         in_list(particles, t + x->s,
                                                 x->e - x->s);
                }
        }
        size_t tlo = 0;
        size_t i = 0;
        while (i < ws.n) {
                if (!candidate(&ws.v[i], &wi[i]) || wi[i].particle) {
                        i++;
                        continue;
                }
                /* a run: joined candidates, particles between them */
                size_t b = i + 1;
                while (b < ws.n && ws.v[b].joined && b - i < 8 &&
                       !ws.v[b - 1].poss) {
                        if (candidate(&ws.v[b], &wi[b]) && !wi[b].particle) {
                                b++;
                                continue;
                        }
                        if (wi[b].particle && b + 1 < ws.n &&
                            ws.v[b + 1].joined &&
                            candidate(&ws.v[b + 1], &wi[b + 1])) {
                                b += 2;
                                continue;
                        }
                        break;
                }
                size_t a = i;
                i = b;
                /* trim ordinary words ("Dear", "The", "Directed") at the
                 * ends */
                /* (a listed name stays: "Dear Will" is for the score
                 * to decide, by context) */
                while (a < b && !ws.v[a].initial &&
                       ((wi[a].ordinary && !wi[a].listed) || wi[a].calendar ||
                        is_title(nm, t, &ws.v[a]) || wi[a].particle))
                        a++;
                while (b > a && !ws.v[b - 1].initial &&
                       ((wi[b - 1].ordinary && !wi[b - 1].listed) ||
                        wi[b - 1].particle) &&
                       !(b - 1 == a && a > 0 && ws.v[a].joined &&
                         is_title(nm, t, &ws.v[a - 1])) &&
                       !(b - 1 > a && wi[b - 1].listed &&
                         wi[b - 2].given >= 0.3f && !wi[b - 2].ordinary))
                        b--;
                if (a >= b)
                        continue;
                /* "Smith, John": a surname, a comma, a given name */
                if (b - a == 1 && b < ws.n && ws.v[b].comma_before &&
                    !ws.v[a].comma_before && wi[a].surname >= 0.3f &&
                    candidate(&ws.v[b], &wi[b]) && wi[b].given >= 0.3f &&
                    (b + 1 >= ws.n ||
                     (!ws.v[b + 1].comma_before &&
                      !(ws.v[b + 1].e - ws.v[b + 1].s == 3 &&
                        !memcmp(t + ws.v[b + 1].s, "and", 3)) &&
                      (!ws.v[b + 1].joined ||
                       !candidate(&ws.v[b + 1], &wi[b + 1]))))) {
                        b++;
                        i = b;
                }
                int use_tagger = 0;
                float sc = score_run(nm, t, len, ws.v, wi, a, b, tg, &tlo,
                                     &use_tagger);
                if (sc < 0.05f)
                        continue;       /* kept for "X and Y" below */
                if (n_runs == runs_cap) {
                        size_t nc = runs_cap ? runs_cap * 2 : 32;
                        run *r = realloc(runs, nc * sizeof *r);
                        if (!r) {
                                rc = SOCFW_ENOMEM;
                                goto out;
                        }
                        runs = r;
                        runs_cap = nc;
                }
                runs[n_runs].a = a;
                runs[n_runs].b = b;
                runs[n_runs++].score = sc;
        }
        /* "Usamov and Bowers", "Gaetane, Hannah, Anthony": names listed
         * together with an accepted one are names */
        float thr = nm->opt.threshold;
        for (int pass = 0; pass < 2; pass++)
                for (size_t k = 0; k + 1 < n_runs; k++) {
                        run *x = &runs[k], *y = &runs[k + 1];
                        int linked = 0;
                        if (y->a == x->b)
                                linked = ws.v[y->a].comma_before;
                        else if (y->a == x->b + 1 && ws.v[x->b].joined &&
                                 ws.v[y->a].joined) {
                                const word *c = &ws.v[x->b];
                                size_t n = c->e - c->s;
                                linked = (n == 3 && !memcmp(t + c->s, "and", 3)) ||
                                         (n == 2 && !memcmp(t + c->s, "or", 2));
                        }
                        if (!linked)
                                continue;
                        if (x->score >= thr && y->score < thr)
                                y->score = thr;
                        else if (y->score >= thr && x->score < thr)
                                x->score = thr;
                }
        for (size_t k = 0; k < n_runs; k++) {
                size_t a = runs[k].a, b = runs[k].b;
                float sc = runs[k].score;
                if (sc < thr)
                        continue;
                size_t s = ws.v[a].s, e = ws.v[b - 1].e;
                if ((rc = socfw_pii_names_accept(out, fnd, n_fnd, s, e,
                                                 sc)) < 0)
                        goto out;
                /* also its first or last word alone ("Asya Godina ...
                 * Asya"), unless an initial or an ordinary word */
                size_t parts[2][2] = {{ws.v[a].s, ws.v[a].e},
                                      {ws.v[b - 1].s, e}};
                for (int p = 0; b - a >= 2 && p < 2; p++) {
                        size_t wi_k = p == 0 ? a : b - 1;
                        if (ws.v[wi_k].initial || wi[wi_k].ordinary)
                                continue;
                        socfw_pii_names_remember(fnd, n_fnd, parts[p][0],
                                                 parts[p][1], sc * 0.9f);
                }
        }
out:
        free(runs);
        free(ws.v);
        free(wi);
        return rc;
}

/* ---- the scan ---- */

/* Is byte i on a character boundary (invalid bytes are characters)? */
static int
boundary(const char *t, size_t len, size_t i)
{
        if (i == 0 || i >= len)
                return i <= len;
        for (size_t back = 1; back <= 3 && back <= i; back++) {
                size_t k = socfw_pii_utf8_seq((const unsigned char *)t + i - back,
                                              len - (i - back));
                if (k > back)
                        return 0;       /* inside that character */
                if (k)
                        break;
        }
        return 1;
}

/* The next occurrence of p[0, n) in t[from, len), or NULL.  memchr and
 * memcmp rather than memmem: sanitizers check memmem's whole haystack on
 * every call, which made the loop below quadratic under them. */
static const char *
find_from(const char *t, size_t len, size_t from, const char *p, size_t n)
{
        while (from + n <= len) {
                const char *c = memchr(t + from, p[0], len - n + 1 - from);
                if (!c)
                        return NULL;
                if (!memcmp(c, p, n))
                        return c;
                from = (size_t)(c - t) + 1;
        }
        return NULL;
}

/* Other occurrences of accepted names, as whole words. */
static int
propagate(const char *t, size_t len, const found *f, size_t nf,
          socfw_pii_spans *out)
{
        for (size_t k = 0; k < nf; k++) {
                size_t n = f[k].e - f[k].s;
                if (n < 2)
                        continue;
                int han = (unsigned char)t[f[k].s] >= 0xE0;
                size_t from = 0;
                while (from + n <= len) {
                        const char *p = find_from(t, len, from,
                                                  t + f[k].s, n);
                        if (!p)
                                break;
                        size_t s = (size_t)(p - t), e = s + n;
                        from = e;
                        if (s == f[k].s)
                                continue;
                        if (!han && ((s > 0 && (((unsigned char)t[s - 1] | 32) >= 'a' &&
                                                ((unsigned char)t[s - 1] | 32) <= 'z')) ||
                                     (e < len && (((unsigned char)t[e] | 32) >= 'a' &&
                                                  ((unsigned char)t[e] | 32) <= 'z'))))
                                continue;
                        if (socfw_pii_names_emit(out, s, e, f[k].score) < 0)
                                return SOCFW_ENOMEM;
                }
        }
        return 0;
}

int
socfw_pii_names_scan(const socfw_pii_names *nm, const char *text, size_t len,
                     const socfw_pii_spans *tagger, socfw_pii_spans *out,
                     socfw_error *err)
{
        if (!nm || !out || (!text && len))
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "privacy: names scan needs the lists, "
                                       "a text and a span list");
        if (!text)
                return 0;
        size_t first = out->n;
        found fnd[MAX_PROPAGATE];
        size_t n_fnd = 0;
        int rc = 0;
        if (nm->have_en)
                rc = scan_en(nm, text, len, tagger, out, fnd, &n_fnd);
        if (rc == 0 && nm->have_zh)
                rc = socfw_pii_names_scan_zh(nm, text, len, tagger, out, fnd,
                                             &n_fnd);
        if (rc == 0)
                rc = propagate(text, len, fnd, n_fnd, out);
        /* the tagger's own PERSON spans stand with the tagger's score */
        if (rc == 0 && tagger && (nm->opt.evidence & SOCFW_PII_NAMES_TAGGER))
                for (size_t i = 0; i < tagger->n && rc == 0; i++)
                        if (tagger->v[i].type == SOCFW_PII_PERSON &&
                            tagger->v[i].score >= nm->opt.threshold &&
                            tagger->v[i].start < tagger->v[i].end &&
                            boundary(text, len, tagger->v[i].start) &&
                            boundary(text, len, tagger->v[i].end))
                                rc = socfw_pii_names_emit(out, tagger->v[i].start,
                                          tagger->v[i].end,
                                          tagger->v[i].score * 0.95f);
        if (rc < 0)
                return socfw_error_set(err, rc, "privacy: out of memory");
        /* code point offsets of the new spans */
        if (out->n == first)
                return 0;
        socfw_pii_spans fresh = {.v = out->v + first, .n = out->n - first,
                                 .cap = out->n - first};
        return socfw_pii_spans_fill_cp(&fresh, text, len, err);
}
