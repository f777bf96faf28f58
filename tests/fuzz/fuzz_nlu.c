/* tests/fuzz/fuzz_nlu.c - libFuzzer target for the nlu plugin's pattern
 * input: the company list reader (TSV and JSON Lines), the extractors,
 * the word splitter, BIO decoding and the slots JSON.
 *
 * make check builds and runs it on tests/fuzz/seeds/nlu/
 * (tests/fuzz/local.mk).  The input is split at its first NUL byte: the part before is
 * read as a company list (TSV, and again as JSON Lines), the part after
 * (or the whole input when there is no NUL) is a post.  Checked: a list
 * that fails carries a message; every span lies inside the post, spans
 * never overlap and come sorted; words lie inside the text, in order; the
 * slots JSON parses and has one object per span; reference dates always
 * come out valid.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "extract.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_spans(const socfw_nlu_spans *sp, size_t len, int disjoint)
{
        for (size_t i = 0; i < sp->n; i++) {
                if (sp->v[i].start >= sp->v[i].end || sp->v[i].end > len)
                        abort();
                if (i && sp->v[i].start < sp->v[i - 1].start)
                        abort();
                if (disjoint && i && sp->v[i].start < sp->v[i - 1].end)
                        abort();
        }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const char *s = (const char *)data;
        const char *nul = memchr(s, 0, size);
        size_t list_len = nul ? (size_t)(nul - s) : 0;
        const char *text = nul ? nul + 1 : s;
        size_t len = nul ? size - list_len - 1 : size;
        socfw_error err = {0};
        socfw_nlu_tickers *t = NULL, *tj = NULL;
        if (nul) {
                if (socfw_nlu_tickers_parse(&t, s, list_len, "f.tsv", 0,
                                            &err) < 0 &&
                    !err.message[0])
                        abort();
                socfw_error_clear(&err);
                if (socfw_nlu_tickers_parse(&tj, s, list_len, "f.jsonl", 1,
                                            &err) < 0 &&
                    !err.message[0])
                        abort();
                socfw_error_clear(&err);
        }
        socfw_nlu_extract_options o = socfw_nlu_extract_options_default();
        o.tickers = t ? t : tj;
        o.day_first = size & 1;
        socfw_nlu_extractor *x = NULL;
        if (socfw_nlu_extractor_new(&x, &o, &err) < 0)
                abort(); /* the patterns always compile */
        socfw_nlu_date ref = {2024, 2, 29};
        socfw_nlu_spans sp = {0};
        if (socfw_nlu_extract(x, text, len, (size & 2) ? &ref : NULL, &sp,
                              &err) < 0)
                abort();
        check_spans(&sp, len, 1);

        /* words and BIO decoding with tag rows drawn from the text */
        static const char *const labels[] = {"O", "B-a", "I-a", "B-b",
                                             "I-b"};
        socfw_nlu_words w = {0};
        if (socfw_nlu_words_split(text, len, &w) < 0)
                abort();
        for (size_t i = 0; i < w.n; i++)
                if (w.v[i].start >= w.v[i].end || w.v[i].end > len ||
                    (i && w.v[i].start < w.v[i - 1].end))
                        abort();
        float *probs = calloc(w.n ? w.n * 5 : 1, sizeof *probs);
        for (size_t i = 0; i < w.n; i++)
                probs[i * 5 + (unsigned char)text[w.v[i].start] % 5] = 1;
        socfw_nlu_spans model = {0}, all = {0};
        if (socfw_nlu_spans_from_tags(&w, probs, 5, labels, &model) < 0)
                abort();
        check_spans(&model, len, 1);
        if (socfw_nlu_spans_merge(&model, &sp, (socfw_nlu_overlap)(size % 3),
                                  &all) < 0)
                abort();
        check_spans(&all, len, size % 3 != 2);
        char *js = socfw_nlu_spans_json(&all, text, len);
        json_t *a = js ? json_loads(js, JSON_ALLOW_NUL, NULL) : NULL;
        if (!json_is_array(a) || json_array_size(a) != all.n)
                abort();
        json_decref(a);
        free(js);

        /* the text as a timestamp */
        char ts[64];
        size_t n = len < sizeof ts - 1 ? len : sizeof ts - 1;
        memcpy(ts, text, n);
        ts[n] = '\0';
        socfw_nlu_date d;
        if (socfw_nlu_date_parse_reference(ts, &d) == 0 &&
            !socfw_nlu_date_valid(d.year, d.month, d.day))
                abort();

        free(probs);
        socfw_nlu_words_free(&w);
        socfw_nlu_spans_free(&sp);
        socfw_nlu_spans_free(&model);
        socfw_nlu_spans_free(&all);
        socfw_nlu_extractor_free(x);
        socfw_nlu_tickers_free(t);
        socfw_nlu_tickers_free(tj);
        return 0;
}
