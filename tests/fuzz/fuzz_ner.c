/* tests/fuzz/fuzz_ner.c - libFuzzer target for the privacy plugin's NER
 * input: the word splitter, training records in both shapes (tokens +
 * tags, text + character spans) and BIO decoding of tag probabilities.
 *
 * Built by make check (tests/fuzz/local.mk) when clang with libFuzzer is
 * present; tests/fuzz/run-fuzz.sh 60 ner runs it longer.  The input is a JSON Lines file (any bytes): every record is
 * turned into a word-tag example, and every byte string is split into words
 * and decoded with tag probabilities drawn from the input itself.  Checked:
 * words lie inside the text, in order, never overlapping; a record's words
 * and tags agree in number and every tag is a label; spans lie inside the
 * text, cover whole words and never contain a line break.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/example_impl.h"
#include "model.h"
#include "socfw/data.h"
#include "socfw/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const labels[] = {"O",          "B-PERSON",
                                     "I-PERSON",   "B-LOCATION",
                                     "I-LOCATION", "B-ORGANIZATION",
                                     "I-ORGANIZATION"};
#define NL (sizeof labels / sizeof labels[0])

static void
check_words(const socfw_pii_words *w, size_t len)
{
        for (size_t i = 0; i < w->n; i++) {
                const socfw_pii_word *x = &w->v[i];
                if (x->start >= x->end || x->end > len ||
                    x->cp_start >= x->cp_end || x->cp_end > len ||
                    (i && x->start < w->v[i - 1].end))
                        abort();
        }
}

static void
split_and_decode(const char *text, size_t len, const uint8_t *noise,
                 size_t n_noise)
{
        socfw_pii_words w = {0};
        if (socfw_pii_words_split(text, len, &w) < 0)
                abort(); /* small inputs never run out of words */
        check_words(&w, len);
        float *p = w.n ? calloc(w.n * NL, sizeof *p) : NULL;
        if (w.n && !p)
                abort();
        for (size_t i = 0; i < w.n * NL; i++)
                p[i] = n_noise ? (float)noise[i % n_noise] / 255.0f : 0.0f;
        socfw_pii_spans sp = {0};
        socfw_error err = {0};
        if (socfw_pii_spans_from_tags(&w, p, NL, labels, 0.2f,
                                      SOCFW_PII_ALL_TYPES, &sp, &err) < 0)
                abort();
        for (size_t i = 0; i < sp.n; i++) {
                const socfw_pii_span *s = &sp.v[i];
                if (s->start >= s->end || s->end > len)
                        abort();
                for (size_t k = 0; k < w.n; k++)
                        if (w.v[k].line_break && w.v[k].start >= s->start &&
                            w.v[k].end <= s->end)
                                abort();
        }
        socfw_pii_spans_free(&sp);
        free(p);
        socfw_pii_words_free(&w);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        socfw_log_set_level(SOCFW_LOG_LEVEL_ERROR);
        split_and_decode((const char *)data, size, data, size);

        socfw_reader_options o = SOCFW_READER_OPTIONS_INIT;
        o.bad_rows = SOCFW_BAD_ROWS_SKIP;
        socfw_reader *r = NULL;
        socfw_error err = {0};
        if (socfw_reader_open_memory(&r, data, size, "fuzz", &o, &err) < 0)
                return 0;
        socfw_example *ex = socfw_example_new();
        socfw_record *rec;
        while (ex && socfw_reader_next(r, &rec, &err) == 1) {
                socfw_error e = {0};
                if (socfw_pii_ner_example(rec, ex, labels, NL, &e) == 0) {
                        for (size_t k = 0; k < socfw_example_count(ex); k++) {
                                const example_item *it =
                                        socfw_example_item(ex, k);
                                for (size_t j = 0; j < it->n_words; j++)
                                        if (!it->words[j] ||
                                            it->word_tags[j] < 0 ||
                                            it->word_tags[j] >= (int)NL)
                                                abort();
                        }
                } else if (!e.message[0]) {
                        abort(); /* a refused record says why */
                }
                const char *text = socfw_record_get_string(rec, "text");
                if (text)
                        split_and_decode(text, strlen(text), data, size);
                socfw_example_reset(ex);
                socfw_record_free(rec);
        }
        socfw_example_free(ex);
        socfw_reader_close(r);
        return 0;
}
