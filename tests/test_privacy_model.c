/* tests/test_privacy_model.c - the privacy plugin's model-based recognizer
 * (plugins/privacy/model.h): the word splitter, mapping data set tags to
 * labels, reading NER records, and BIO decoding into PII spans. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "core/example_impl.h"
#include "model.h"
#include "socfw/data.h"
#include "testutil.h"

static const char *const LABELS[] = {"O", "B-PERSON", "I-PERSON",
                                     "B-LOCATION", "I-LOCATION",
                                     "B-ORGANIZATION", "I-ORGANIZATION"};
#define NL 7

static char *
word(const char *text, const socfw_pii_word *w)
{
        return strndup(text + w->start, w->end - w->start);
}

Test(privacy_model, words_split_on_space_punctuation_and_cjk)
{
        const char *t = "Hi, (Alice O'Neil) @bob_1 #tag... 我在北京 ok!";
        socfw_pii_words w = {0};
        cr_assert_eq(socfw_pii_words_split(t, strlen(t), &w), 0);
        const char *want[] = {"Hi", ",", "(", "Alice", "O'Neil", ")",
                              "@bob_1", "#tag", ".", ".", ".", "我", "在",
                              "北", "京", "ok", "!"};
        size_t nw = sizeof want / sizeof want[0];
        cr_assert_eq(w.n, nw, "%zu words", w.n);
        for (size_t i = 0; i < nw; i++) {
                char *s = word(t, &w.v[i]);
                cr_assert_str_eq(s, want[i], "word %zu", i);
                free(s);
        }
        /* code point offsets: "我" is the 34th character */
        cr_assert_eq(w.v[11].cp_start, 34);
        cr_assert_eq(w.v[11].cp_end, 35);
        cr_assert_eq(w.v[11].end - w.v[11].start, 3);
        cr_assert_eq(w.v[15].cp_start, 39);
        socfw_pii_words_free(&w);
        socfw_pii_words_free(&w); /* twice is fine */
}

Test(privacy_model, line_breaks_between_words_are_words)
{
        /* a signature: the name's line, then the company's */
        const char *t = "\n Ann Lee \r\n\n Acme\xe2\x80\xa8Inc.\n\n";
        socfw_pii_words w = {0};
        cr_assert_eq(socfw_pii_words_split(t, strlen(t), &w), 0);
        const char *want[] = {"Ann", "Lee", "\r", "Acme", "\xe2\x80\xa8",
                              "Inc", "."};
        const int brk[] = {0, 0, 1, 0, 1, 0, 0};
        size_t nw = sizeof want / sizeof want[0];
        cr_assert_eq(w.n, nw, "%zu words (none for the leading or trailing "
                              "breaks)", w.n);
        for (size_t i = 0; i < nw; i++) {
                char *s = word(t, &w.v[i]);
                cr_assert_str_eq(s, want[i], "word %zu", i);
                cr_assert_eq(w.v[i].line_break, brk[i], "word %zu", i);
                free(s);
        }
        cr_assert_eq(w.v[2].cp_start, 10);
        cr_assert_eq(w.v[4].cp_start, 18, "U+2028 is one code point");

        /* a break tagged I-PERSON still ends the name: "Ann Lee", "Acme" */
        float p[7 * NL] = {0};
        const int tag[] = {1, 2, 2, 2, 2, 0, 0};
        for (size_t i = 0; i < nw; i++)
                p[i * NL + tag[i]] = 0.9f;
        socfw_pii_spans sp = {0};
        socfw_error err = {0};
        cr_assert_eq(socfw_pii_spans_from_tags(&w, p, NL, LABELS, 0.5f,
                                               SOCFW_PII_ALL_TYPES, &sp,
                                               &err),
                     0, "%s", err.message);
        cr_assert_eq(sp.n, 2);
        cr_assert_eq(sp.v[0].cp_start, 2);
        cr_assert_eq(sp.v[0].cp_end, 9);
        cr_assert_eq(sp.v[1].cp_start, 14, "an I- after the break opens");
        cr_assert_eq(sp.v[1].cp_end, 18);
        socfw_pii_spans_free(&sp);
        socfw_pii_words_free(&w);
}

Test(privacy_model, words_survive_bad_input)
{
        /* invalid UTF-8, NULs inside the length, only spaces, lone signs */
        const char t[] = "\xff\xfe ab\x80" "c \x00 @ \xe4\xb8";
        socfw_pii_words w = {0};
        cr_assert_eq(socfw_pii_words_split(t, sizeof t - 1, &w), 0);
        cr_assert_gt(w.n, 0);
        for (size_t i = 0; i < w.n; i++) {
                cr_assert_lt(w.v[i].start, w.v[i].end);
                cr_assert_leq(w.v[i].end, sizeof t - 1);
        }
        socfw_pii_words_free(&w);
        cr_assert_eq(socfw_pii_words_split("   \t\n", 5, &w), 0);
        cr_assert_eq(w.n, 0);
        socfw_pii_words_free(&w);
}

Test(privacy_model, data_set_tags_map_to_labels)
{
        struct {
                const char *tag;
                int id;
        } cases[] = {
                {"O", 0},
                {"B-person", 1},
                {"I-person", 2},
                {"B-location", 3},
                {"I-GPE", 4},
                {"B-corporation", 5},
                {"I-group", 6},
                {"B-product", 0},
                {"I-creative-work", 0},
                {"B-PER.NAM", 1},
                {"I-ORG.NAM", 6},
                {"B-PER.NOM", 0},       /* nominal: not a name */
                {"B-GPE.NAM", 3},
                {"S-PER", 1},           /* IOBES */
                {"E-LOC", 4},
                {"B-PERSON", 1},        /* a label as it is */
                {"", 0},
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
                cr_assert_eq(socfw_pii_ner_label(cases[i].tag, LABELS, NL),
                             cases[i].id, "%s", cases[i].tag);
        /* no O among the labels: -1 for what does not map */
        const char *const only[] = {"B-PER", "I-PER"};
        cr_assert_eq(socfw_pii_ner_label("B-person", only, 2), 0);
        cr_assert_eq(socfw_pii_ner_label("B-product", only, 2), -1);
        cr_assert_eq(socfw_pii_ner_type("person"), SOCFW_PII_PERSON);
        cr_assert_eq(socfw_pii_ner_type("DATE_TIME"), SOCFW_PII_NONE);
        cr_assert_eq(socfw_pii_ner_type(NULL), SOCFW_PII_NONE);
}

/* Read one JSON line as a record and turn it into an example with the
 * given labels. */
static int
parse_with(const char *line, const char *const *labels, size_t n_labels,
           socfw_example *ex, socfw_error *err)
{
        char dir[4096], path[4200];
        cr_assert_not_null(socfw_test_tmpdir(dir, sizeof dir));
        snprintf(path, sizeof path, "%s/r.jsonl", dir);
        cr_assert_eq(socfw_test_write_file(path, line, strlen(line)), 0);
        socfw_reader_options ro = SOCFW_READER_OPTIONS_INIT;
        socfw_reader *r = NULL;
        socfw_record *rec = NULL;
        cr_assert_eq(socfw_reader_open(&r, path, &ro, err), 0, "%s",
                     err->message);
        cr_assert_eq(socfw_reader_next(r, &rec, err), 1, "%s", err->message);
        int rc = socfw_pii_ner_example(rec, ex, labels, n_labels, err);
        socfw_record_free(rec);
        socfw_reader_close(r);
        return rc;
}

static int
parse(const char *line, socfw_example *ex, socfw_error *err)
{
        return parse_with(line, LABELS, NL, ex, err);
}

Test(privacy_model, records_with_tokens_or_spans_become_word_tags,
     .timeout = 30)
{
        socfw_example *ex = socfw_example_new();
        socfw_error err = {0};
        cr_assert_eq(parse("{\"tokens\": [\"Empire\", \"State\", \"is\"], "
                           "\"tags\": [\"B-location\", \"I-location\", "
                           "\"O\"]}\n",
                           ex, &err),
                     0, "%s", err.message);
        cr_assert_eq(socfw_example_count(ex), 1);
        const example_item *it = socfw_example_item(ex, 0);
        cr_assert_eq(it->n_words, 3);
        cr_assert_eq(it->word_tags[0], 3);
        cr_assert_eq(it->word_tags[1], 4);
        cr_assert_eq(it->word_tags[2], 0);
        socfw_example_reset(ex);

        /* pii-en: code point spans ("é" is one character, two bytes) */
        cr_assert_eq(parse("{\"text\": \"José Smith lives in Oslo.\", "
                           "\"spans\": [{\"start\": 20, \"end\": 24, "
                           "\"type\": \"GPE\"}, {\"start\": 0, \"end\": 10, "
                           "\"type\": \"PERSON\"}, {\"start\": 11, \"end\": "
                           "16, \"type\": \"DATE_TIME\"}]}\n",
                           ex, &err),
                     0, "%s", err.message);
        it = socfw_example_item(ex, 0);
        cr_assert_not_null(it);
        cr_assert_eq(it->n_words, 6); /* José Smith lives in Oslo . */
        cr_assert_str_eq(it->words[0], "José");
        const int want[] = {1, 2, 0, 0, 3, 0};
        for (int i = 0; i < 6; i++)
                cr_assert_eq(it->word_tags[i], want[i], "word %d", i);
        socfw_example_reset(ex);

        /* a span across a line break: the break is O, the next line's
         * words start a new entity */
        cr_assert_eq(parse("{\"text\": \"Acme Ltd\\nOslo Branch\", "
                           "\"spans\": [{\"start\": 0, \"end\": 20, "
                           "\"type\": \"ORG\"}]}\n",
                           ex, &err),
                     0, "%s", err.message);
        it = socfw_example_item(ex, 0);
        cr_assert_eq(it->n_words, 5); /* Acme Ltd \n Oslo Branch */
        cr_assert_str_eq(it->words[2], "\n");
        const int want_org[] = {5, 6, 0, 5, 6};
        for (int i = 0; i < 5; i++)
                cr_assert_eq(it->word_tags[i], want_org[i], "word %d", i);
        socfw_example_reset(ex);

        /* bad records name the field */
        cr_assert_lt(parse("{\"tokens\": [\"a\"], \"tags\": [\"O\", "
                           "\"O\"]}\n",
                           ex, &err),
                     0);
        cr_assert(strstr(err.message, "tags"), "%s", err.message);
        memset(&err, 0, sizeof err);
        cr_assert_lt(parse("{\"text\": \"a\", \"spans\": [{\"start\": 3, "
                           "\"end\": 1, \"type\": \"PERSON\"}]}\n",
                           ex, &err),
                     0);
        cr_assert(strstr(err.message, "spans"), "%s", err.message);
        memset(&err, 0, sizeof err);
        cr_assert_lt(parse("{\"label\": 1}\n", ex, &err), 0);
        cr_assert(strstr(err.message, "tokens"), "%s", err.message);
        socfw_example_free(ex);
}

/* The IO scheme: labels without B- tags.  Every word of an entity takes
 * the type's label, and decoding joins adjacent words of one type. */
static const char *const IO_LABELS[] = {"O", "PERSON", "I-LOCATION",
                                        "ORGANIZATION"};
#define NIO 4

Test(privacy_model, io_labels_tag_every_word_of_an_entity_alike,
     .timeout = 30)
{
        cr_assert_eq(socfw_pii_ner_label("B-person", IO_LABELS, NIO), 1);
        cr_assert_eq(socfw_pii_ner_label("I-person", IO_LABELS, NIO), 1);
        cr_assert_eq(socfw_pii_ner_label("B-GPE", IO_LABELS, NIO), 2);
        cr_assert_eq(socfw_pii_ner_label("S-ORG", IO_LABELS, NIO), 3);
        cr_assert_eq(socfw_pii_ner_label("B-product", IO_LABELS, NIO), 0);

        socfw_example *ex = socfw_example_new();
        socfw_error err = {0};
        cr_assert_eq(parse_with("{\"text\": \"Mathias Ruud met Ann in "
                                "Oslo\", \"spans\": [{\"start\": 0, "
                                "\"end\": 12, \"type\": \"PERSON\"}, "
                                "{\"start\": 17, \"end\": 20, \"type\": "
                                "\"PERSON\"}, {\"start\": 24, \"end\": "
                                "28, \"type\": \"GPE\"}]}\n",
                                IO_LABELS, NIO, ex, &err),
                     0, "%s", err.message);
        const example_item *it = socfw_example_item(ex, 0);
        cr_assert_not_null(it);
        cr_assert_eq(it->n_words, 6);
        const int want[] = {1, 1, 0, 1, 0, 2};
        for (int i = 0; i < 6; i++)
                cr_assert_eq(it->word_tags[i], want[i], "word %d", i);
        socfw_example_free(ex);

        /* decoding: "Mathias Ruud" is one name, "Ann , Bo" two */
        const char *t = "Mathias Ruud met Ann , Bo";
        socfw_pii_words w = {0};
        cr_assert_eq(socfw_pii_words_split(t, strlen(t), &w), 0);
        cr_assert_eq(w.n, 6);
        const int tag[] = {1, 1, 0, 1, 0, 1};
        float p[6 * NIO] = {0};
        for (int i = 0; i < 6; i++)
                p[i * NIO + tag[i]] = 0.9f;
        socfw_pii_spans sp = {0};
        cr_assert_eq(socfw_pii_spans_from_tags(&w, p, NIO, IO_LABELS, 0.5f,
                                               SOCFW_PII_ALL_TYPES, &sp,
                                               &err),
                     0, "%s", err.message);
        cr_assert_eq(sp.n, 3);
        cr_assert_eq(sp.v[0].cp_start, 0);
        cr_assert_eq(sp.v[0].cp_end, 12);
        cr_assert_eq(sp.v[1].cp_start, 17);
        cr_assert_eq(sp.v[1].cp_end, 20);
        cr_assert_eq(sp.v[2].cp_start, 23);
        socfw_pii_spans_free(&sp);
        socfw_pii_words_free(&w);
}

/* The template hash of one JSONL record. */
static int
template_hash(const char *line, uint64_t *h)
{
        char dir[4096], path[4200];
        cr_assert_not_null(socfw_test_tmpdir(dir, sizeof dir));
        snprintf(path, sizeof path, "%s/t.jsonl", dir);
        cr_assert_eq(socfw_test_write_file(path, line, strlen(line)), 0);
        socfw_reader_options ro = SOCFW_READER_OPTIONS_INIT;
        socfw_reader *r = NULL;
        socfw_record *rec = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_reader_open(&r, path, &ro, &err), 0, "%s",
                     err.message);
        cr_assert_eq(socfw_reader_next(r, &rec, &err), 1, "%s", err.message);
        int rc = socfw_pii_ner_template_hash(rec, h);
        socfw_record_free(rec);
        socfw_reader_close(r);
        return rc;
}

Test(privacy_model, rows_of_one_template_hash_alike, .timeout = 30)
{
        uint64_t a, b, c, d, e, f, g;
        /* the same sentence pattern with other values (and other lengths,
         * "é" being one code point) */
        cr_assert_eq(template_hash("{\"text\": \"My name is Ann Lee, I "
                                   "live in Oslo\", \"spans\": [{\"start\": "
                                   "11, \"end\": 18, \"type\": \"PERSON\"}, "
                                   "{\"start\": 30, \"end\": 34, \"type\": "
                                   "\"GPE\"}]}\n",
                                   &a),
                     0);
        cr_assert_eq(template_hash("{\"text\": \"My name is Zoé "
                                   "Kowalczyk-Wrona, I live in Rome\", "
                                   "\"spans\": [{\"start\": 42, \"end\": 46, "
                                   "\"type\": \"GPE\"}, {\"start\": 11, "
                                   "\"end\": 30, \"type\": \"PERSON\"}]}\n",
                                   &b),
                     0);
        cr_assert_eq(a, b, "one template, two rows");
        /* another sentence, another type in the same place */
        cr_assert_eq(template_hash("{\"text\": \"My name is Ann Lee, I "
                                   "work in Oslo\", \"spans\": [{\"start\": "
                                   "11, \"end\": 18, \"type\": \"PERSON\"}, "
                                   "{\"start\": 30, \"end\": 34, \"type\": "
                                   "\"GPE\"}]}\n",
                                   &c),
                     0);
        cr_assert_eq(template_hash("{\"text\": \"My name is Ann Lee, I "
                                   "live in Oslo\", \"spans\": [{\"start\": "
                                   "11, \"end\": 18, \"type\": \"ORG\"}, "
                                   "{\"start\": 30, \"end\": 34, \"type\": "
                                   "\"GPE\"}]}\n",
                                   &d),
                     0);
        cr_assert_neq(a, c);
        cr_assert_neq(a, d);
        /* word-tag rows: entity words become their type */
        cr_assert_eq(template_hash("{\"tokens\": [\"met\", \"Ann\", "
                                   "\"Lee\"], \"tags\": [\"O\", "
                                   "\"B-person\", \"I-person\"]}\n",
                                   &e),
                     0);
        cr_assert_eq(template_hash("{\"tokens\": [\"met\", \"Bob\"], "
                                   "\"tags\": [\"O\", \"B-person\"]}\n",
                                   &f),
                     0);
        cr_assert_eq(e, f);
        /* overlapping and out-of-range spans are read, not trusted */
        cr_assert_eq(template_hash("{\"text\": \"see www.a.com/x@y.org\", "
                                   "\"spans\": [{\"start\": 4, \"end\": 99, "
                                   "\"type\": \"URL\"}, {\"start\": 14, "
                                   "\"end\": 21, \"type\": \"EMAIL\"}, "
                                   "{\"start\": 3, \"end\": 1, \"type\": "
                                   "\"X\"}]}\n",
                                   &g),
                     0);
        cr_assert_lt(template_hash("{\"label\": 1}\n", &g), 0);
}

Test(privacy_model, io_tagged_rows_hash_like_bio_tagged_rows, .timeout = 30)
{
        /* an entity is read as the evaluation reads it (conlleval): bare
         * types and I- after O open one, so IO rows have templates too */
        uint64_t bio, io, bare, other;
        cr_assert_eq(template_hash("{\"tokens\": [\"met\", \"Ann\", "
                                   "\"Lee\", \"today\"], \"tags\": "
                                   "[\"O\", \"B-person\", \"I-person\", "
                                   "\"O\"]}\n",
                                   &bio),
                     0);
        cr_assert_eq(template_hash("{\"tokens\": [\"met\", \"Bo\", "
                                   "\"today\"], \"tags\": [\"O\", "
                                   "\"I-person\", \"O\"]}\n",
                                   &io),
                     0);
        cr_assert_eq(template_hash("{\"tokens\": [\"met\", \"Bo\", "
                                   "\"Li\", \"today\"], \"tags\": "
                                   "[\"O\", \"person\", \"person\", "
                                   "\"O\"]}\n",
                                   &bare),
                     0);
        cr_assert_eq(template_hash("{\"tokens\": [\"met\", \"today\"], "
                                   "\"tags\": [\"O\", \"O\"]}\n",
                                   &other),
                     0);
        cr_assert_eq(bio, io);
        cr_assert_eq(bio, bare);
        cr_assert_neq(bio, other, "the entity is part of the template");
}

Test(privacy_model, tag_probabilities_decode_into_spans)
{
        const char *t = "so Ann Lee met 张伟 in Rome";
        socfw_pii_words w = {0};
        cr_assert_eq(socfw_pii_words_split(t, strlen(t), &w), 0);
        cr_assert_eq(w.n, 8); /* so Ann Lee met 张 伟 in Rome */
        float p[8 * NL] = {0};
        /* tags: O B-PER I-PER O B-PER I-PER O I-LOC(after O: opens) */
        const int tag[] = {0, 1, 2, 0, 1, 2, 0, 4};
        const float conf[] = {0.9f, 0.8f, 0.6f, 0.9f, 0.7f, 0.7f, 0.9f,
                              0.3f};
        for (int i = 0; i < 8; i++) {
                p[i * NL + tag[i]] = conf[i];
                p[i * NL + (tag[i] + 1) % NL] = (1 - conf[i]) / 6;
        }
        socfw_pii_spans sp = {0};
        socfw_error err = {0};
        cr_assert_eq(socfw_pii_spans_from_tags(&w, p, NL, LABELS, 0.5f,
                                               SOCFW_PII_ALL_TYPES, &sp,
                                               &err),
                     0, "%s", err.message);
        cr_assert_eq(sp.n, 2, "LOC at 0.3 is under the threshold");
        cr_assert_eq(sp.v[0].type, SOCFW_PII_PERSON);
        cr_assert_eq(sp.v[0].cp_start, 3);
        cr_assert_eq(sp.v[0].cp_end, 10);
        cr_assert_float_eq(sp.v[0].score, 0.7f, 1e-6);
        cr_assert_eq(sp.v[1].cp_start, 15);
        cr_assert_eq(sp.v[1].cp_end, 17);
        cr_assert_eq(sp.v[1].end - sp.v[1].start, 6);
        cr_assert_eq(sp.v[1].source, SOCFW_PII_SOURCE_EXTERNAL);
        socfw_pii_spans_free(&sp);

        /* the type mask and a lower threshold */
        cr_assert_eq(socfw_pii_spans_from_tags(
                             &w, p, NL, LABELS, 0.2f,
                             SOCFW_PII_BIT(SOCFW_PII_LOCATION), &sp, &err),
                     0);
        cr_assert_eq(sp.n, 1);
        cr_assert_eq(sp.v[0].type, SOCFW_PII_LOCATION);
        cr_assert_eq(sp.v[0].cp_start, 21);
        socfw_pii_spans_free(&sp);
        socfw_pii_words_free(&w);
}
