/* tests/fuzz/fuzz_names.c - libFuzzer target for the privacy plugin's
 * name recognizer (names.h) and the user's recognizer definitions
 * (custom.h).
 *
 * make check builds and runs it on tests/fuzz/seeds/names/
 * (tests/fuzz/local.mk).  The first byte picks what the rest is:
 *   even: a text (any bytes, invalid UTF-8 too) scanned for names with
 *         small built-in lists (English and Chinese: family names,
 *         transliterations, nicknames, screen names), once without and once with a "tagger"
 *         span made from the input;
 *   odd:  a recognizers YAML file, loaded (it may be refused, never
 *         crash), and when it loads, used to scan itself.
 * Checked: spans lie inside the text, start before they end, fall on
 * character boundaries (the scan fills code point offsets and fails
 * otherwise, which aborts here) and are PERSON
 * for the names recognizer; loading never leaves recognizers behind on
 * error; a match limit error is the only scan failure allowed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "custom.h"
#include "names.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static socfw_pii_names *nm;

static void
write_file(const char *path, const char *text)
{
        FILE *f = fopen(path, "w");
        if (!f || fputs(text, f) < 0)
                abort();
        fclose(f);
}

static void
setup(void)
{
        char dir[] = "/tmp/fuzz-names-XXXXXX";
        if (!mkdtemp(dir))
                abort();
        char g[64], s[64], z[64], w[64];
        snprintf(g, sizeof g, "%s/g.tsv", dir);
        snprintf(s, sizeof s, "%s/s.tsv", dir);
        snprintf(z, sizeof z, "%s/z.tsv", dir);
        snprintf(w, sizeof w, "%s/w.tsv", dir);
        write_file(g, "name\tcount\nJohn\t500000\nWill\t40000\nAnn\t9000\n"
                      "Mary-Jane\t900\n");
        write_file(s, "name\tcount\nSmith\t2000000\nO'Brien\t90000\n");
        write_file(z, "name\tcount\n王\t9520\n欧阳\t91\n李\t30.5\n陈\t7000\n"
                      "袁\t667\n毛\t264\n安\t179\n");
        write_file(w, "word\tlower\tcapitalised\nwill\t100000\t1000\n"
                      "the\t2000000\t10000\n");
        socfw_pii_names_options o = socfw_pii_names_options_default();
        o.given = g;
        o.surnames = s;
        o.surnames_zh = z;
        o.word_freq = w;
        if (socfw_pii_names_new(&nm, &o, NULL) < 0)
                abort();
}

static void
check(const socfw_pii_spans *sp, size_t from, size_t len, int person)
{
        for (size_t i = from; i < sp->n; i++) {
                const socfw_pii_span *x = &sp->v[i];
                if (x->end > len || x->start >= x->end ||
                    x->cp_end > x->end || x->cp_start > x->cp_end ||
                    (person && x->type != SOCFW_PII_PERSON))
                        abort();
        }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (!nm)
                setup();
        if (size == 0)
                return 0;
        const char *text = (const char *)data + 1;
        size_t len = size - 1;
        socfw_pii_spans sp = {0};
        if (!(data[0] & 1)) {
                if (socfw_pii_names_scan(nm, text, len, NULL, &sp, NULL) < 0)
                        abort();
                check(&sp, 0, len, 1);
                /* a tagger span from the input's second byte */
                socfw_pii_spans tg = {0};
                size_t a = len ? data[0] % (len + 1) : 0;
                size_t b = a + (len > 1 ? data[1] % 16 : 0);
                if (b > len)
                        b = len;
                while (a < b && ((unsigned char)text[a] & 0xC0) == 0x80)
                        a++;
                while (b < len && ((unsigned char)text[b] & 0xC0) == 0x80)
                        b++;
                socfw_pii_span s = {.start = a, .end = b,
                                    .type = SOCFW_PII_PERSON, .score = 0.8f};
                if (a < b)
                        socfw_pii_spans_push(&tg, &s);
                size_t from = sp.n;
                if (socfw_pii_names_scan(nm, text, len, &tg, &sp, NULL) < 0)
                        abort();
                check(&sp, from, len, 1);
                socfw_pii_spans_free(&tg);
        } else {
                socfw_pii_custom *c = NULL;
                if (socfw_pii_custom_new(&c, NULL) < 0)
                        abort();
                socfw_error err = {0};
                if (socfw_pii_custom_load_buffer(c, text, len, "fuzz.yaml",
                                                 &err) < 0) {
                        if (socfw_pii_custom_count(c) != 0 || !err.message[0])
                                abort();
                } else {
                        int rc = socfw_pii_custom_scan(c, text, len, &sp,
                                                       &err);
                        if (rc < 0 && rc != SOCFW_EINTERNAL)
                                abort();
                        if (rc == 0)
                                check(&sp, 0, len, 0);
                        socfw_pii_custom_filter(c, text, len, &sp);
                }
                socfw_pii_custom_free(c);
        }
        socfw_pii_spans_free(&sp);
        return 0;
}
