/* tickers.c - the company list of the nlu extractors (see tickers.h). */
#include "tickers.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <utf8proc.h>

#include "socfw/io.h"

#define MAX_COMPANIES 1000000
#define MAX_FILE (64u << 20)
#define MAX_TSV_LINE 4096
#define MAX_NAME 512

/* ---- a string -> index hash table (open addressing) ---- */

typedef struct entry {
        char *key;              /* owned; NULL: empty slot    */
        size_t ticker;          /* index into tickers[]       */
        long line;              /* where it was defined       */
        int explicit_name;      /* written in the file        */
} entry;

typedef struct table {
        entry *slots;
        size_t cap, n;
} table;

static uint64_t
hash(const char *s, size_t n)
{
        uint64_t h = 1469598103934665603ull;
        for (size_t i = 0; i < n; i++) {
                h ^= (unsigned char)s[i];
                h *= 1099511628211ull;
        }
        return h;
}

static entry *
table_find(const table *t, const char *key, size_t n)
{
        if (!t->cap)
                return NULL;
        size_t i = (size_t)(hash(key, n) & (t->cap - 1));
        while (t->slots[i].key) {
                if (strlen(t->slots[i].key) == n &&
                    memcmp(t->slots[i].key, key, n) == 0)
                        return &t->slots[i];
                i = (i + 1) & (t->cap - 1);
        }
        return NULL;
}

static int
table_grow(table *t)
{
        size_t cap = t->cap ? t->cap * 2 : 1024;
        entry *s = calloc(cap, sizeof *s);
        if (!s)
                return SOCFW_ENOMEM;
        for (size_t k = 0; k < t->cap; k++) {
                if (!t->slots[k].key)
                        continue;
                size_t i = (size_t)(hash(t->slots[k].key,
                                         strlen(t->slots[k].key)) &
                                    (cap - 1));
                while (s[i].key)
                        i = (i + 1) & (cap - 1);
                s[i] = t->slots[k];
        }
        free(t->slots);
        t->slots = s;
        t->cap = cap;
        return 0;
}

/* Insert a key known to be absent; returns the entry or NULL (ENOMEM). */
static entry *
table_add(table *t, const char *key, size_t n)
{
        if ((t->n + 1) * 2 > t->cap && table_grow(t) < 0)
                return NULL;
        char *k = malloc(n + 1);
        if (!k)
                return NULL;
        memcpy(k, key, n);
        k[n] = '\0';
        size_t i = (size_t)(hash(key, n) & (t->cap - 1));
        while (t->slots[i].key)
                i = (i + 1) & (t->cap - 1);
        t->slots[i] = (entry){.key = k};
        t->n++;
        return &t->slots[i];
}

static void
table_clear(table *t)
{
        for (size_t i = 0; i < t->cap; i++)
                free(t->slots[i].key);
        free(t->slots);
        memset(t, 0, sizeof *t);
}

/* ---- the list ---- */

struct socfw_nlu_tickers {
        char **symbols;         /* by index */
        size_t n, cap;
        table by_symbol, by_name;
        size_t max_words;
};

void
socfw_nlu_tickers_free(socfw_nlu_tickers *t)
{
        if (!t)
                return;
        for (size_t i = 0; i < t->n; i++)
                free(t->symbols[i]);
        free(t->symbols);
        table_clear(&t->by_symbol);
        table_clear(&t->by_name);
        free(t);
}

size_t
socfw_nlu_tickers_count(const socfw_nlu_tickers *t)
{
        return t ? t->n : 0;
}

size_t
socfw_nlu_tickers_max_words(const socfw_nlu_tickers *t)
{
        return t ? t->max_words : 0;
}

const char *
socfw_nlu_tickers_symbol(const socfw_nlu_tickers *t, const char *sym,
                         size_t n)
{
        char up[16];
        if (!t || n == 0 || n >= sizeof up)
                return NULL;
        for (size_t i = 0; i < n; i++)
                up[i] = (char)toupper((unsigned char)sym[i]);
        entry *e = table_find(&t->by_symbol, up, n);
        return e ? t->symbols[e->ticker] : NULL;
}

/* name[0..n) with white space runs as one space and the ends trimmed,
 * into out; returns the length (0 when too long or empty). */
static size_t
normalise(const char *name, size_t n, char *out, size_t size)
{
        size_t o = 0;
        int space = 0;
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)name[i];
                if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
                        space = o > 0;
                        continue;
                }
                if (space) {
                        if (o + 1 >= size)
                                return 0;
                        out[o++] = ' ';
                        space = 0;
                }
                if (o + 1 >= size)
                        return 0;
                out[o++] = (char)c;
        }
        out[o] = '\0';
        return o;
}

const char *
socfw_nlu_tickers_by_name(const socfw_nlu_tickers *t, const char *name,
                          size_t n)
{
        char key[MAX_NAME];
        if (!t)
                return NULL;
        size_t k = normalise(name, n, key, sizeof key);
        entry *e = k ? table_find(&t->by_name, key, k) : NULL;
        return e ? t->symbols[e->ticker] : NULL;
}

/* ---- short names ---- */

static const char *const cut_at[] = {
        " (",           " Common Stock",  " Common Shares", " Class ",
        " Ordinary Shares", " American Depositary", " Depositary",
        " - ",          " Units",         " Warrant",       " Series ",
        " Preferred",   " Subordinate",   NULL};

static const char *const suffixes[] = {
        "Inc",   "Incorporated", "Corp",  "Corporation", "Co", "Company",
        "Ltd",   "Limited",      "plc",   "PLC",         "NV", "N.V",
        "SA",    "S.A",          "AG",    "SE",          "LLC", "L.P",
        "LP",    "Holdings",     "Holding", "Group",     "&",  NULL};

static int
is_suffix(const char *w, size_t n)
{
        while (n && (w[n - 1] == '.' || w[n - 1] == ','))
                n--;
        for (size_t i = 0; suffixes[i]; i++)
                if (strlen(suffixes[i]) == n && !memcmp(suffixes[i], w, n))
                        return 1;
        return 0;
}

size_t
socfw_nlu_company_short_name(const char *name, size_t n, char *out,
                             size_t size)
{
        char buf[MAX_NAME];
        size_t len = normalise(name, n, buf, sizeof buf);
        if (!len)
                return 0;
        for (size_t i = 0; cut_at[i]; i++) {
                char *p = strstr(buf, cut_at[i]);
                if (p && p > buf) {
                        *p = '\0';
                        len = (size_t)(p - buf);
                }
        }
        /* a leading "The " */
        size_t s = 0;
        if (len > 4 && !strncmp(buf, "The ", 4))
                s = 4;
        for (;;) {
                while (len > s && (buf[len - 1] == ',' || buf[len - 1] == ' '))
                        len--;
                size_t w = len;
                while (w > s && buf[w - 1] != ' ')
                        w--;
                if (w == s || !is_suffix(buf + w, len - w))
                        break;
                len = w;
        }
        while (len > s && (buf[len - 1] == ',' || buf[len - 1] == ' '))
                len--;
        if (len - s < 2 || len - s + 1 > size)
                return 0;
        memcpy(out, buf + s, len - s);
        out[len - s] = '\0';
        return len - s;
}

/* ---- loading ---- */

static int row_error(socfw_error *err, const char *file, long line,
                     const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int
row_error(socfw_error *err, const char *file, long line, const char *fmt, ...)
{
        char msg[700];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        return socfw_error_set_at(err, SOCFW_EFORMAT, file, line, 0, "%s",
                                  msg);
}

static int
valid_utf8(const char *s, size_t n)
{
        for (size_t i = 0; i < n;) {
                int32_t c;
                utf8proc_ssize_t m = utf8proc_iterate(
                        (const utf8proc_uint8_t *)s + i,
                        (utf8proc_ssize_t)(n - i), &c);
                if (m <= 0)
                        return 0;
                i += (size_t)m;
        }
        return 1;
}

static int
valid_symbol(const char *s, size_t n)
{
        if (n < 1 || n > 10)
                return 0;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];
                if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      strchr(".-$^/=+", c)))
                        return 0;
        }
        return isalnum((unsigned char)s[0]);
}

static size_t
count_words(const char *s)
{
        size_t n = 1;
        for (; *s; s++)
                n += *s == ' ';
        return n;
}

/* Add a name of company `k`.  An explicit name (written in the file) that
 * another company has is an error in TSV lists; short forms and JSONL
 * names go to the first company that has them. */
static int
add_name(socfw_nlu_tickers *t, size_t k, const char *name, size_t n,
         int explicit_name, int strict, const char *file, long line,
         socfw_error *err)
{
        char key[MAX_NAME];
        size_t len = normalise(name, n, key, sizeof key);
        if (!len)
                return explicit_name
                               ? row_error(err, file, line,
                                           "empty or over-long company name "
                                           "(%d bytes at most); hint: one "
                                           "row is TICKER<TAB>Name",
                                           MAX_NAME - 1)
                               : 0;
        entry *e = table_find(&t->by_name, key, len);
        if (e) {
                if (e->ticker != k && explicit_name && e->explicit_name &&
                    strict) {
                        char msg[700];
                        snprintf(msg, sizeof msg,
                                 "the name '%.200s' is given to %s and to "
                                 "%s (first on line %ld); hint: a name "
                                 "must name one company",
                                 key, t->symbols[e->ticker], t->symbols[k],
                                 e->line);
                        return socfw_error_set_at(err, SOCFW_EFORMAT, file,
                                                  line, 0, "%s", msg);
                }
                if (explicit_name && !e->explicit_name) {
                        /* a written name beats an earlier short form */
                        e->ticker = k;
                        e->line = line;
                        e->explicit_name = 1;
                }
                return 0;
        }
        if (!(e = table_add(&t->by_name, key, len)))
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        e->ticker = k;
        e->line = line;
        e->explicit_name = explicit_name;
        size_t w = count_words(key);
        if (w > t->max_words)
                t->max_words = w;
        return 0;
}

static int
add_company(socfw_nlu_tickers *t, const char *sym, size_t sn,
            const char *const *names, const size_t *lens, size_t n_names,
            int strict, const char *file, long line, socfw_error *err)
{
        if (!valid_symbol(sym, sn))
                return row_error(err, file, line,
                                 "bad ticker '%.*s' (1-10 of A-Z 0-9 and "
                                 ". - $ ^ / = +, upper case, a letter or "
                                 "digit first); hint: one row is "
                                 "TICKER<TAB>Name",
                                 (int)(sn < 40 ? sn : 40), sym);
        entry *e = table_find(&t->by_symbol, sym, sn);
        if (e) {
                char msg[300];
                snprintf(msg, sizeof msg,
                         "duplicate ticker '%.*s' (first on line %ld); hint: "
                         "list each ticker once, with its other names as "
                         "more columns",
                         (int)sn, sym, e->line);
                return socfw_error_set_at(err, SOCFW_EFORMAT, file, line, 0,
                                          "%s", msg);
        }
        if (t->n >= MAX_COMPANIES)
                return row_error(err, file, line,
                                 "too many companies (limit %d)",
                                 MAX_COMPANIES);
        if (t->n == t->cap) {
                size_t cap = t->cap ? t->cap * 2 : 256;
                char **s = realloc(t->symbols, cap * sizeof *s);
                if (!s)
                        return socfw_error_set(err, SOCFW_ENOMEM,
                                               "out of memory");
                t->symbols = s;
                t->cap = cap;
        }
        char *copy = malloc(sn + 1);
        if (!copy || !(e = table_add(&t->by_symbol, sym, sn))) {
                free(copy);
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        }
        memcpy(copy, sym, sn);
        copy[sn] = '\0';
        size_t k = t->n++;
        t->symbols[k] = copy;
        e->ticker = k;
        e->line = line;
        int rc = 0;
        for (size_t i = 0; rc == 0 && i < n_names; i++)
                rc = add_name(t, k, names[i], lens[i], 1, strict, file, line,
                              err);
        for (size_t i = 0; rc == 0 && i < n_names; i++) {
                char sh[MAX_NAME];
                size_t sl = socfw_nlu_company_short_name(names[i], lens[i], sh,
                                                         sizeof sh);
                if (sl)
                        rc = add_name(t, k, sh, sl, 0, strict, file, line,
                                      err);
        }
        return rc;
}

static int
tsv_line(socfw_nlu_tickers *t, const char *s, size_t n, const char *file,
         long line, int *first, socfw_error *err)
{
        const char *cols[64];
        size_t lens[64], nc = 0;
        if (n > MAX_TSV_LINE)
                return row_error(err, file, line,
                                 "line longer than %d bytes; hint: one row "
                                 "is TICKER<TAB>Name",
                                 MAX_TSV_LINE);
        if (!valid_utf8(s, n))
                return row_error(err, file, line,
                                 "invalid UTF-8; hint: save the list as "
                                 "UTF-8");
        size_t a = 0;
        for (size_t i = 0; i <= n && nc < 64; i++)
                if (i == n || s[i] == '\t') {
                        cols[nc] = s + a;
                        lens[nc++] = i - a;
                        a = i + 1;
                }
        int was_first = *first;
        *first = 0;
        if (was_first && nc >= 2 && lens[0] == 6 &&
            !strncasecmp(cols[0], "ticker", 6))
                return 0; /* a header */
        if (nc < 2)
                return row_error(err, file, line,
                                 "expected TICKER<TAB>Name, found no tab; "
                                 "hint: separate the columns with one tab "
                                 "character");
        /* trim spaces around the ticker */
        while (lens[0] && cols[0][0] == ' ')
                cols[0]++, lens[0]--;
        while (lens[0] && cols[0][lens[0] - 1] == ' ')
                lens[0]--;
        size_t nn = 0;
        for (size_t i = 1; i < nc; i++)
                if (lens[i]) {
                        cols[1 + nn] = cols[i];
                        lens[1 + nn++] = lens[i];
                }
        if (!nn)
                return row_error(err, file, line,
                                 "ticker without a company name; hint: one "
                                 "row is TICKER<TAB>Name");
        return add_company(t, cols[0], lens[0], cols + 1, lens + 1, nn, 1,
                           file, line, err);
}

static int
jsonl_line(socfw_nlu_tickers *t, const char *s, size_t n, const char *file,
           long line, socfw_error *err)
{
        json_error_t je;
        json_t *o = json_loadb(s, n, 0, &je);
        if (!o || !json_is_object(o)) {
                json_decref(o);
                return row_error(err, file, line,
                                 "not a JSON object (%.200s); hint: one "
                                 "line is {\"ticker\": ..., \"name\": ...}",
                                 o ? "not an object" : je.text);
        }
        const char *sym = json_string_value(json_object_get(o, "ticker"));
        const char *name = json_string_value(json_object_get(o, "name"));
        if (name && !*name) /* listings without a short name */
                name = json_string_value(json_object_get(o,
                                                         "security_name"));
        int rc;
        if (!sym || !name || !*name)
                rc = row_error(err, file, line,
                               "missing string field '%s'; hint: one line "
                               "is {\"ticker\": ..., \"name\": ...}",
                               !sym ? "ticker" : "name");
        else {
                size_t ln = strlen(name);
                rc = add_company(t, sym, strlen(sym), &name, &ln, 1, 0, file,
                                 line, err);
        }
        json_decref(o);
        return rc;
}

int
socfw_nlu_tickers_parse(socfw_nlu_tickers **out, const char *data,
                        size_t len, const char *name, int jsonl,
                        socfw_error *err)
{
        *out = NULL;
        socfw_nlu_tickers *t = calloc(1, sizeof *t);
        if (!t)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        int rc = 0, first = 1;
        long line = 0;
        for (size_t i = 0; rc == 0 && i < len;) {
                size_t e = i;
                while (e < len && data[e] != '\n')
                        e++;
                size_t n = e - i;
                line++;
                const char *s = data + i;
                i = e + 1;
                if (n && s[n - 1] == '\r')
                        n--;
                if (line == 1 && n >= 3 && !memcmp(s, "\xEF\xBB\xBF", 3))
                        s += 3, n -= 3; /* a byte-order mark */
                size_t k = 0;
                while (k < n && (s[k] == ' ' || s[k] == '\t'))
                        k++;
                if (k == n || s[k] == '#')
                        continue;
                rc = jsonl ? jsonl_line(t, s, n, name, line, err)
                           : tsv_line(t, s, n, name, line, &first, err);
        }
        if (rc == 0 && t->n == 0)
                rc = socfw_error_set(err, SOCFW_EFORMAT,
                                     "%s: no companies in the list; hint: "
                                     "one row is TICKER<TAB>Name",
                                     name);
        if (rc < 0) {
                socfw_nlu_tickers_free(t);
                return rc;
        }
        *out = t;
        return 0;
}

int
socfw_nlu_tickers_load(socfw_nlu_tickers **out, const char *path,
                       socfw_error *err)
{
        char *data = NULL;
        size_t len = 0;
        *out = NULL;
        int rc = socfw_file_read(path, MAX_FILE, &data, &len, err);
        if (rc < 0)
                return socfw_error_prefix(err, rc, "company list %s", path);
        size_t pl = strlen(path);
        int jsonl = (pl > 6 && !strcmp(path + pl - 6, ".jsonl")) ||
                    (pl > 5 && !strcmp(path + pl - 5, ".json"));
        rc = socfw_nlu_tickers_parse(out, data, len, path, jsonl, err);
        free(data);
        return rc;
}
