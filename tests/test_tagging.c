/* tests/test_tagging.c - token classification through the runtime: word
 * tags aligned to sub-tokens (byte-level BPE, WordPiece), truncation,
 * entity-level metrics against hand-computed values, and a tiny NER task
 * (the privacy plugin with a tagger head) that learns, evaluates, and
 * finds entities at predict time. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "socfw/chain.h"
#include "socfw/metrics.h"
#include "socfw/pipeline.h"
#include "socfw/registry.h"
#include "socfw/runtime.h"
#include "socfw/tokenizer.h"
#include "testutil.h"
#include "train/runtime_impl.h"

/* ---- alignment ---- */

static const char *const CORPUS[] = {
        "Hello world ! The weather in Paris is nice today .",
        "My name is Alice and I live in London with Bob .",
        "hello there , how are you doing in the world today ?",
        "the quick brown fox jumps over the lazy dog",
        "口腔溃疡加上这玩意酸酸甜甜好滋味",
        "Alice met Bob in Paris , then in London again .",
};
#define N_CORPUS (sizeof CORPUS / sizeof CORPUS[0])

/* A runtime shell with just what rt_encode_words reads. */
static socfw_runtime *
shell(socfw_tokenizer *tok, int max_seq, int encoder)
{
        socfw_runtime *rt = calloc(1, sizeof *rt);
        cr_assert_not_null(rt);
        rt->tok = tok;
        rt->max_seq = max_seq;
        rt->encoder = encoder;
        int32_t pad = socfw_tokenizer_special_id(tok, SOCFW_TOKENIZER_PAD);
        rt->pad_id = pad >= 0 ? pad : 0;
        return rt;
}

static socfw_tokenizer *
bpe(void)
{
        static const char *const specials[] = {"<|endoftext|>"};
        socfw_tokenizer_train_options o = {.vocab_size = 300,
                                           .min_frequency = 1,
                                           .special_tokens = specials,
                                           .n_special_tokens = 1};
        socfw_tokenizer *tok = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_tokenizer_train_bpe(&tok, CORPUS, NULL, N_CORPUS,
                                               &o, &err),
                     0, "%s", err.message);
        return tok;
}

static socfw_tokenizer *
wordpiece(void)
{
        socfw_tokenizer_train_options o = {.vocab_size = 120,
                                           .min_frequency = 1,
                                           .keep_case = 1};
        socfw_tokenizer *tok = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_tokenizer_train_wordpiece(&tok, CORPUS, NULL,
                                                     N_CORPUS, &o, &err),
                     0, "%s", err.message);
        return tok;
}

static size_t
encode(socfw_tokenizer *tok, const char *text, int32_t **ids)
{
        size_t n = 0;
        socfw_error err = {0};
        cr_assert_eq(socfw_tokenizer_encode(tok, text, strlen(text), 0, ids,
                                            &n, &err),
                     0, "%s", err.message);
        return n;
}

Test(tagging, bpe_words_keep_their_leading_space_and_tag_the_first_piece)
{
        socfw_tokenizer *tok = bpe();
        socfw_runtime *rt = shell(tok, 64, 0);
        /* "Zqxjv" is unseen: several byte-level pieces */
        const char *words[] = {"Hello", "Zqxjv", "world", "!"};
        const int tags[] = {1, 2, 0, -100};
        int pos[4];
        size_t used = 0;
        rt_example ex;
        socfw_error err = {0};
        cr_assert_eq(rt_encode_words(rt, words, tags, 4, 0, &ex, pos, &used,
                                     &err),
                     0, "%s", err.message);
        cr_assert_eq(used, 4);
        /* the same ids as the sentence, after BOS */
        int32_t *ref = NULL;
        size_t n = encode(tok, "Hello Zqxjv world !", &ref);
        int32_t bos = socfw_tokenizer_special_id(tok, SOCFW_TOKENIZER_BOS);
        int off = bos >= 0;
        cr_assert_eq((size_t)ex.n, n + (size_t)off);
        if (bos >= 0)
                cr_assert_eq(ex.ids[0], bos);
        for (size_t i = 0; i < n; i++)
                cr_assert_eq(ex.ids[i + (size_t)off], ref[i], "token %zu", i);
        /* the tag sits on each word's first piece, -100 elsewhere */
        int32_t *zq = NULL;
        size_t nz = encode(tok, " Zqxjv", &zq);
        cr_assert_gt(nz, 1, "the test word should need several pieces");
        int32_t *he = NULL;
        size_t nh = encode(tok, "Hello", &he);
        free(he);
        cr_assert_eq(pos[0], off);
        cr_assert_eq(pos[1], off + (int)nh);
        cr_assert_eq(pos[2], off + (int)nh + (int)nz);
        int labelled = 0;
        for (int i = 0; i < ex.n; i++)
                labelled += ex.targets[i] != -100;
        cr_assert_eq(labelled, 3, "three tagged words (the -100 one not)");
        cr_assert_eq(ex.targets[pos[0]], 1);
        cr_assert_eq(ex.targets[pos[1]], 2);
        cr_assert_eq(ex.targets[pos[2]], 0);
        cr_assert_eq(ex.targets[pos[1] + 1], -100);
        free(ex.ids);
        free(ex.targets);

        /* label_token: last puts the tag on the word's last piece */
        cr_assert_eq(rt_encode_words(rt, words, tags, 4, 1, &ex, pos, NULL,
                                     &err),
                     0, "%s", err.message);
        cr_assert_eq(pos[1], off + (int)nh + (int)nz - 1);
        cr_assert_eq(ex.targets[pos[1]], 2);
        cr_assert_eq(ex.targets[off + (int)nh], -100);
        free(ex.ids);
        free(ex.targets);
        free(ref);
        free(zq);
        free(rt);
        socfw_tokenizer_free(tok);
}

Test(tagging, bpe_cjk_characters_are_not_spaced)
{
        socfw_tokenizer *tok = bpe();
        socfw_runtime *rt = shell(tok, 64, 0);
        const char *words[] = {"口", "腔", "Alice"};
        const int tags[] = {0, 0, 1};
        int pos[3];
        rt_example ex;
        socfw_error err = {0};
        cr_assert_eq(rt_encode_words(rt, words, tags, 3, 0, &ex, pos, NULL,
                                     &err),
                     0, "%s", err.message);
        int32_t *a = NULL, *b = NULL;
        size_t na = encode(tok, "腔", &a);
        size_t nb = encode(tok, "Alice", &b);
        cr_assert_eq(ex.ids[pos[1]], a[0], "no space before a CJK word");
        cr_assert(na >= 1 && nb >= 1);
        /* "Alice" after a CJK character is not spaced either */
        cr_assert_eq(ex.ids[pos[2]], b[0]);
        free(a);
        free(b);
        free(ex.ids);
        free(ex.targets);
        free(rt);
        socfw_tokenizer_free(tok);
}

Test(tagging, wordpiece_gets_cls_sep_and_tags_first_pieces)
{
        socfw_tokenizer *tok = wordpiece();
        socfw_runtime *rt = shell(tok, 64, 1);
        /* "todayworld" is unseen: today ##w ##or ##ld */
        const char *words[] = {"Alice", "todayworld", "Paris"};
        const int tags[] = {1, 0, 3};
        int pos[3];
        rt_example ex;
        socfw_error err = {0};
        cr_assert_eq(rt_encode_words(rt, words, tags, 3, 0, &ex, pos, NULL,
                                     &err),
                     0, "%s", err.message);
        int32_t cls = socfw_tokenizer_special_id(tok, SOCFW_TOKENIZER_CLS);
        int32_t sep = socfw_tokenizer_special_id(tok, SOCFW_TOKENIZER_SEP);
        cr_assert_geq(cls, 0);
        cr_assert_geq(sep, 0);
        cr_assert_eq(ex.ids[0], cls);
        cr_assert_eq(ex.ids[ex.n - 1], sep);
        cr_assert_eq(ex.targets[0], -100);
        cr_assert_eq(ex.targets[ex.n - 1], -100);
        int32_t *ref = NULL;
        size_t n = encode(tok, "Alice todayworld Paris", &ref);
        cr_assert_eq((size_t)ex.n, n + 2);
        for (size_t i = 0; i < n; i++)
                cr_assert_eq(ex.ids[i + 1], ref[i]);
        cr_assert_eq(pos[0], 1);
        cr_assert_eq(ex.targets[pos[0]], 1);
        cr_assert_eq(ex.targets[pos[1]], 0);
        cr_assert_eq(ex.targets[pos[2]], 3);
        /* the unseen word's continuation pieces are not learnt */
        cr_assert_gt(pos[2] - pos[1], 1, "'todayworld' should need pieces");
        for (int i = pos[1] + 1; i < pos[2]; i++)
                cr_assert_eq(ex.targets[i], -100);
        free(ref);
        free(ex.ids);
        free(ex.targets);
        free(rt);
        socfw_tokenizer_free(tok);
}

Test(tagging, truncation_keeps_whole_words_and_alignment)
{
        socfw_tokenizer *tok = wordpiece();
        const char *words[12];
        int tags[12];
        for (int i = 0; i < 12; i++) {
                words[i] = i % 3 == 0 ? "Alice" : i % 3 == 1 ? "Zqxjv"
                                                              : "world";
                tags[i] = i % 4;
        }
        int pos[12];
        size_t used = 0;
        rt_example ex;
        socfw_error err = {0};
        socfw_runtime *rt = shell(tok, 10, 1);
        cr_assert_eq(rt_encode_words(rt, words, tags, 12, 0, &ex, pos, &used,
                                     &err),
                     0, "%s", err.message);
        cr_assert_leq(ex.n, 10);
        cr_assert_gt(used, 0);
        cr_assert_lt(used, 12);
        for (size_t i = 0; i < 12; i++) {
                if (i < used) {
                        cr_assert_geq(pos[i], 1, "word %zu kept", i);
                        cr_assert_eq(ex.targets[pos[i]], tags[i]);
                } else {
                        cr_assert_eq(pos[i], -1, "word %zu cut", i);
                }
        }
        int32_t sep = socfw_tokenizer_special_id(tok, SOCFW_TOKENIZER_SEP);
        cr_assert_eq(ex.ids[ex.n - 1], sep, "[SEP] survives truncation");
        free(ex.ids);
        free(ex.targets);
        free(rt);
        socfw_tokenizer_free(tok);

        /* a first word longer than the window is cut, not lost */
        tok = bpe();
        rt = shell(tok, 4, 0);
        const char *one[] = {"Zqxjvzqxjvzqxjv", "Alice"};
        const int t1[] = {2, 1};
        cr_assert_eq(rt_encode_words(rt, one, t1, 2, 0, &ex, pos, &used,
                                     &err),
                     0, "%s", err.message);
        cr_assert_eq(ex.n, 4);
        cr_assert_eq(used, 1);
        cr_assert_eq(pos[0], 1);
        cr_assert_eq(ex.targets[1], 2);
        cr_assert_eq(pos[1], -1);
        free(ex.ids);
        free(ex.targets);

        /* no words: the specials only */
        cr_assert_eq(rt_encode_words(rt, NULL, NULL, 0, 0, &ex, NULL, &used,
                                     &err),
                     0, "%s", err.message);
        cr_assert_eq(ex.n, 1);
        cr_assert_null(ex.targets);
        free(ex.ids);
        free(rt);
        socfw_tokenizer_free(tok);
}

/* ---- entity-level metrics ---- */

Test(tagging, entity_metrics_match_hand_computed_values)
{
        /* tags: 0 O, 1 B-PER, 2 I-PER, 3 B-LOC, 4 I-LOC */
        const char *const names[] = {"O", "B-PER", "I-PER", "B-LOC", "I-LOC"};
        /* sequence 1: gold PER[0,2) LOC[3,4); pred PER[0,2) LOC[3,5)
         * sequence 2: gold PER[1,2);          pred PER[1,2) PER[3,4)
         * sequence 3: gold LOC[0,1) PER[2,3); pred O O I-PER -> PER[2,3)
         *   (an I- after O opens an entity, conlleval) */
        const int gold[] = {1, 2, 0, 3, 0,  0, 1, 0, 0,  3, 0, 1};
        const int pred[] = {1, 2, 0, 3, 4,  0, 1, 0, 1,  0, 0, 2};
        const size_t lens[] = {5, 4, 3};
        socfw_entity_metrics em;
        socfw_error err = {0};
        cr_assert_eq(socfw_entity_metrics_compute(&em, gold, pred, lens, 3,
                                                  names, 5, &err),
                     0, "%s", err.message);
        /* PER: tp 3 (seq1, seq2, seq3), fp 1, fn 0
         * LOC: tp 0, fp 1 (seq1 wrong end), fn 2 */
        const socfw_span_type_metrics *per = socfw_entity_metrics_type(&em,
                                                                       "PER");
        const socfw_span_type_metrics *loc = socfw_entity_metrics_type(&em,
                                                                       "LOC");
        cr_assert_not_null(per);
        cr_assert_not_null(loc);
        cr_assert_eq(per->tp, 3);
        cr_assert_eq(per->fp, 1);
        cr_assert_eq(per->fn, 0);
        cr_assert_eq(loc->tp, 0);
        cr_assert_eq(loc->fp, 1);
        cr_assert_eq(loc->fn, 2);
        cr_assert_float_eq(per->precision, 0.75, 1e-9);
        cr_assert_float_eq(per->recall, 1.0, 1e-9);
        cr_assert_float_eq(per->f1, 2 * 0.75 / 1.75, 1e-9);
        /* F2 = 5PR / (4P + R) */
        cr_assert_float_eq(per->fbeta, 5 * 0.75 / (4 * 0.75 + 1), 1e-9);
        cr_assert_float_eq(loc->f1, 0.0, 1e-9);
        /* micro: tp 3, fp 2, fn 2 */
        cr_assert_eq(em.tp, 3);
        cr_assert_float_eq(em.micro_precision, 0.6, 1e-9);
        cr_assert_float_eq(em.micro_recall, 0.6, 1e-9);
        cr_assert_float_eq(em.micro_f1, 0.6, 1e-9);
        cr_assert_float_eq(em.macro_f1, (2 * 0.75 / 1.75) / 2, 1e-9);
        cr_assert_float_eq(em.macro_recall, 0.5, 1e-9);
        /* tokens: 12, equal at 8 */
        cr_assert_eq(em.tokens, 12);
        cr_assert_eq(em.tokens_correct, 8);
        cr_assert_float_eq(em.token_accuracy, 8.0 / 12, 1e-9);
        /* word level (Presidio's evaluator), by hand:
         *   PER gold words 4 (seq1 0-1, seq2 1, seq3 2), all predicted PER,
         *       plus seq2 word 3: tp 4, fp 1, fn 0
         *   LOC gold seq1 3, seq3 0; pred seq1 3-4: tp 1, fp 1, fn 1 */
        cr_assert_eq(em.n_word_types, 2);
        cr_assert_str_eq(em.per_type_words[0].type, "LOC");
        const socfw_span_type_metrics *wl = &em.per_type_words[0];
        const socfw_span_type_metrics *wp = &em.per_type_words[1];
        cr_assert_eq(wp->tp, 4);
        cr_assert_eq(wp->fp, 1);
        cr_assert_eq(wp->fn, 0);
        cr_assert_eq(wl->tp, 1);
        cr_assert_eq(wl->fp, 1);
        cr_assert_eq(wl->fn, 1);
        cr_assert_float_eq(wp->fbeta, 5 * 0.8 / (4 * 0.8 + 1), 1e-9);
        cr_assert_float_eq(wl->f1, 0.5, 1e-9);

        char *table = socfw_entity_metrics_report(&em);
        cr_assert_not_null(table);
        cr_assert(strstr(table, "micro avg") && strstr(table, "PER"), "%s",
                  table);
        free(table);

        socfw_metrics *m = socfw_metrics_new();
        cr_assert_eq(socfw_metrics_add_entities(m, "ner.valid", &em), 0);
        double v = -1;
        cr_assert_eq(socfw_metrics_get(m, "ner.valid.f1", &v, NULL), 0);
        cr_assert_float_eq(v, 0.6, 1e-9);
        cr_assert_eq(socfw_metrics_get(m, "ner.valid.PER.f2", &v, NULL), 0);
        cr_assert_float_eq(v, per->fbeta, 1e-9);
        cr_assert_eq(socfw_metrics_get(m, "ner.valid.PER.word_f2", &v,
                                       NULL),
                     0);
        cr_assert_float_eq(v, wp->fbeta, 1e-9);
        cr_assert_eq(socfw_metrics_higher_is_better(m, "ner.valid.f1"), 1);
        socfw_metrics_free(m);
        socfw_entity_metrics_clear(&em);

        /* a name split in two: no entity right, both words right */
        const int g2[] = {1, 2}, p2[] = {1, 1};
        const size_t l2[] = {2};
        cr_assert_eq(socfw_entity_metrics_compute(&em, g2, p2, l2, 1, names,
                                                  5, &err),
                     0);
        cr_assert_eq(em.tp, 0);
        cr_assert_eq(em.fp, 2);
        cr_assert_eq(em.fn, 1);
        cr_assert_eq(em.per_type_words[0].tp, 2);
        cr_assert_float_eq(em.per_type_words[0].fbeta, 1.0, 1e-9);
        table = socfw_entity_metrics_report(&em);
        cr_assert(strstr(table, "Presidio"), "%s", table);
        free(table);
        socfw_entity_metrics_clear(&em);
}

Test(tagging, entity_metrics_edge_cases)
{
        const char *const names[] = {"O", "B-X"};
        socfw_entity_metrics em;
        /* nothing at all */
        cr_assert_eq(socfw_entity_metrics_compute(&em, NULL, NULL, NULL, 0,
                                                  names, 2, NULL),
                     0);
        cr_assert_eq(em.n_types, 0);
        cr_assert_float_eq(em.micro_f1, 0.0, 1e-12);
        socfw_entity_metrics_clear(&em);
        /* ids outside the tag set count as O */
        const int gold[] = {1, 7};
        const int pred[] = {1, -3};
        const size_t lens[] = {2};
        cr_assert_eq(socfw_entity_metrics_compute(&em, gold, pred, lens, 1,
                                                  names, 2, NULL),
                     0);
        cr_assert_float_eq(em.micro_f1, 1.0, 1e-12);
        socfw_entity_metrics_clear(&em);
        socfw_entity_metrics_clear(NULL);
        /* a type longer than a span's type field: cut alike everywhere,
         * one type however many words carry it */
        char lb[80], li[80];
        snprintf(lb, sizeof lb, "B-%060d", 7);
        snprintf(li, sizeof li, "I-%060d", 7);
        const char *const longs[] = {"O", lb, li};
        const int g3[] = {1, 2, 2, 2, 0, 1}, p3[] = {1, 2, 0, 2, 0, 1};
        const size_t l3[] = {6};
        cr_assert_eq(socfw_entity_metrics_compute(&em, g3, p3, l3, 1, longs,
                                                  3, NULL),
                     0);
        cr_assert_eq(em.n_word_types, 1);
        cr_assert_eq(em.per_type_words[0].tp, 4);
        cr_assert_eq(em.per_type_words[0].fn, 1);
        socfw_entity_metrics_clear(&em);
}

/* ---- a tiny NER task through the runtime ---- */

#define PLAIN_HEAD "{type: tagger, dropout: 0.0}"

static const char *const FIRST[] = {"Alice", "Bob", "Carol", "Dave",
                                    "Erin", "Frank"};
static const char *const LAST[] = {"Smith", "Jones", "Brown", "Taylor"};
static const char *const CITY[] = {"Paris", "London", "Berlin", "Tokyo",
                                   "Madrid"};
static const char *const FILL[] = {"the", "phone", "today", "was", "my",
                                   "friend", "and", "in", "with", "so"};

/* n records: filler words, a person (first [+ last] name) and a city; in
 * word-tag form, or as text with character spans (pii-en's shape). */
static void
write_ner(const char *name, int n, unsigned seed, int as_spans)
{
        FILE *f = socfw_test_create(fx.dir, name);
        for (int i = 0; i < n; i++) {
                const char *w[8];
                const char *t[8];
                int k = 0;
                seed = seed * 1103515245u + 12345u;
                w[k] = FILL[seed % 10], t[k++] = "O";
                w[k] = FILL[(seed >> 4) % 10], t[k++] = "O";
                w[k] = FIRST[(seed >> 8) % 6], t[k++] = "B-person";
                if ((seed >> 12) & 1)
                        w[k] = LAST[(seed >> 13) % 4], t[k++] = "I-person";
                w[k] = FILL[(seed >> 16) % 10], t[k++] = "O";
                w[k] = CITY[(seed >> 20) % 5], t[k++] = "B-location";
                w[k] = FILL[(seed >> 24) % 10], t[k++] = "O";
                if (!as_spans) {
                        fprintf(f, "{\"tokens\": [");
                        for (int j = 0; j < k; j++)
                                fprintf(f, "%s\"%s\"", j ? ", " : "", w[j]);
                        fprintf(f, "], \"tags\": [");
                        for (int j = 0; j < k; j++)
                                fprintf(f, "%s\"%s\"", j ? ", " : "", t[j]);
                        fprintf(f, "]}\n");
                        continue;
                }
                char text[256] = "";
                size_t at = 0, ps = 0, pe = 0, ls = 0, le = 0;
                for (int j = 0; j < k; j++) {
                        if (j)
                                text[at++] = ' ';
                        size_t s = at;
                        at += (size_t)snprintf(text + at, sizeof text - at,
                                               "%s", w[j]);
                        if (!strcmp(t[j], "B-person"))
                                ps = s, pe = at;
                        if (!strcmp(t[j], "I-person"))
                                pe = at;
                        if (!strcmp(t[j], "B-location"))
                                ls = s, le = at;
                }
                fprintf(f, "{\"text\": \"%s.\", \"spans\": [{\"start\": %zu, "
                           "\"end\": %zu, \"type\": \"GPE\"}, {\"start\": "
                           "%zu, \"end\": %zu, \"type\": \"PERSON\"}]}\n",
                        text, ls, le, ps, pe);
        }
        fclose(f);
}

/* The tiny NER pipeline: `head` is the task's head mapping, `task_extra`
 * more keys of the task. */
static const char *
ner_pipeline(const char *head, const char *task_extra)
{
        static char y[4096];
        FILE *f = socfw_test_create(fx.dir, "corpus.txt");
        for (int i = 0; i < 300; i++)
                fprintf(f, "%s %s %s %s %s\n", FILL[i % 10], FIRST[i % 6],
                        LAST[(i / 6) % 4], FILL[(i / 10) % 10], CITY[i % 5]);
        fclose(f);
        snprintf(y, sizeof y,
                 "socfw: 1\n"
                 "threads: 1\n"
                 "backbone: {arch: gpt2, hidden: 32, layers: 1, heads: 2,"
                 " max_positions: 32, max_seq_len: 16, dropout: 0.0}\n"
                 "pretrain: {corpus: [corpus.txt], steps: 10, batch_size: 8,"
                 " seq_len: 16, tokenizer: {vocab_size: 300}}\n"
                 "tasks:\n"
                 "  - name: pii\n"
                 "    plugin: privacy\n"
                 "    head: %s\n"
                 "    labels: [O, B-PERSON, I-PERSON, B-LOCATION,"
                 " I-LOCATION]\n"
                 "%s"
                 "train: {lr: 1.0e-2, epochs: 6, batch_size: 16, seed: 7}\n"
                 "output: {dir: run}\n",
                 head, task_extra);
        return y;
}

/* The privacy task's own evaluate hook (plugins/privacy/leaks.c) reads
 * each example's record and predicted tags (plugin ABI 2.0): its report
 * in run/pii.valid.txt names each leaked word with the file:line of its
 * record; check every listed word is on that line of valid.jsonl (the
 * listing itself is tested in test_privacy_plugin.c). */
static void
check_leak_report(const char *out, int trained)
{
        char path[4400];
        snprintf(path, sizeof path, "%s/pii.valid.txt", out);
        char *txt = socfw_test_read_file(path, NULL);
        cr_assert(txt && strstr(txt, "masking with the tagger: "), "%s",
                  txt ? txt : "(missing)");
        snprintf(path, sizeof path, "%s/valid.jsonl", fx.dir);
        char *data = socfw_test_read_file(path, NULL);
        cr_assert_not_null(data);
        size_t listed = 0;
        for (const char *at = strstr(txt, path); at;
             at = strstr(at + 1, path)) {
                long line = 0;
                char word[64] = "", type[32] = "";
                cr_assert_eq(sscanf(at + strlen(path), ":%ld: '%63[^']' "
                                                       "(%31[A-Z])",
                                    &line, word, type),
                             3, "%.80s", at);
                const char *l = data;
                for (long k = 1; k < line && l; k++)
                        if ((l = strchr(l, '\n')))
                                l++;
                cr_assert_not_null(l, "line %ld", line);
                const char *end = strchr(l, '\n');
                cr_assert(strstr(l, word) && strstr(l, word) < end,
                          "'%s' is not on line %ld: %.*s", word, line,
                          (int)(end - l), l);
                listed++;
        }
        cr_log_info("%s model: %zu leaks listed", trained ? "trained"
                                                           : "untrained",
                    listed);
        free(data);
        free(txt);
}

Test(tagging, a_tiny_ner_task_learns_and_finds_entities,
     .init = fx_setup,
     .fini = fx_teardown, .timeout = 240)
{
        write_ner("train.jsonl", 240, 1, 0);
        write_ner("valid.jsonl", 60, 2, 1); /* the pii-en shape */
        socfw_pipeline *p = fx_load(ner_pipeline(PLAIN_HEAD,
                "    data: {train: train.jsonl, valid: valid.jsonl}\n"));
        char out[4200];
        snprintf(out, sizeof out, "%s/run", fx.dir);
        socfw_runtime *rt = socfw_test_runtime(p, out, 0);
        socfw_error err = {0};
        /* before training: about chance */
        cr_assert_eq(socfw_runtime_evaluate(rt, "valid", &err), 0, "%s",
                     err.message);
        double f1_before = -1, f1 = -1, acc = -1, per_f2 = -1;
        cr_assert_eq(socfw_runtime_metric(rt, "pii.valid.f1", &f1_before), 0);
        check_leak_report(out, 0);
        cr_assert_eq(socfw_runtime_train(rt, &err), 0, "%s", err.message);
        cr_assert_eq(socfw_runtime_evaluate(rt, "valid", &err), 0, "%s",
                     err.message);
        cr_assert_eq(socfw_runtime_metric(rt, "pii.valid.f1", &f1), 0);
        cr_assert_eq(socfw_runtime_metric(rt, "pii.valid.token_accuracy",
                                          &acc),
                     0);
        cr_assert_eq(socfw_runtime_metric(rt, "pii.valid.PERSON.f2", &per_f2),
                     0);
        cr_log_info("entity F1 %.4f (before %.4f), token accuracy %.4f, "
                    "PERSON F2 %.4f",
                    f1, f1_before, acc, per_f2);
        cr_assert_lt(f1_before, 0.3, "untrained F1 %.4f", f1_before);
        cr_assert_gt(f1, 0.8, "entity F1 %.4f", f1);
        cr_assert_gt(per_f2, 0.8, "PERSON F2 %.4f", per_f2);
        double masked = -1;
        cr_assert_eq(socfw_runtime_metric(rt, "pii.valid.masked_word_recall",
                                          &masked),
                     0);
        cr_assert_gt(masked, 0.8, "masked word recall %.4f", masked);
        check_leak_report(out, 1);
        socfw_runtime_free(rt);

        char path[4400];
        snprintf(path, sizeof path, "%s/pii.valid.txt", out);
        char *txt = socfw_test_read_file(path, NULL);
        cr_assert(txt && strstr(txt, "PERSON") && strstr(txt, "macro avg"),
                  "%s", txt ? txt : "(missing)");
        free(txt);
        snprintf(path, sizeof path, "%s/pii.valid.json", out);
        txt = socfw_test_read_file(path, NULL);
        cr_assert(txt && strstr(txt, "\"entities\"") &&
                          strstr(txt, "\"token_accuracy\""),
                  "%s", txt ? txt : "(missing)");
        free(txt);

        /* predict from the finished run: model spans merged with the
         * patterns', anonymised by the same operators */
        rt = socfw_test_runtime(p, out, 1);
        const char *stages[] = {"pii", NULL};
        socfw_chain *chain = NULL;
        cr_assert_eq(socfw_runtime_chain_stages(rt, stages, &chain, &err), 0,
                     "%s", err.message);
        socfw_post *post = socfw_post_new(
                "my friend Carol Jones in Tokyo today carol@example.com",
                NULL);
        cr_assert_eq(socfw_chain_run(chain, post, &err), 0, "%s",
                     err.message);
        const char *text = socfw_post_text(post);
        cr_log_info("anonymised: %s", text);
        cr_assert(strstr(text, "<PERSON>") && !strstr(text, "Carol Jones"),
                  "%s", text);
        cr_assert(strstr(text, "<LOCATION>") && !strstr(text, "Tokyo"), "%s",
                  text);
        cr_assert(!strstr(text, "carol@example.com"), "%s", text);
        const char *ents = socfw_post_get_string(post, "privacy.entities");
        (void)ents;
        socfw_post_free(post);

        /* a post longer than the window (16 tokens): the name at its end
         * is still read, in a later window */
        char longp[2048] = "";
        for (int i = 0; i < 40; i++)
                strcat(longp, i % 2 ? "today " : "the ");
        strcat(longp, "with Frank Smith");
        post = socfw_post_new(longp, NULL);
        cr_assert_eq(socfw_chain_run(chain, post, &err), 0, "%s",
                     err.message);
        cr_assert(strstr(socfw_post_text(post), "<PERSON>"), "%s",
                  socfw_post_text(post));
        socfw_post_free(post);

        /* 301 words through overlapping windows of 16 tokens: every word
         * gets exactly one row of probabilities, seams included */
        const char *many[301];
        for (int i = 0; i < 301; i++)
                many[i] = i % 7 == 3 ? "Frank" : i % 2 ? "today" : "the";
        size_t n_tags = 0;
        float *pr = malloc(301 * 5 * sizeof *pr);
        cr_assert_not_null(pr);
        cr_assert_eq(socfw_task_tag_words(rt->tasks[0].ctx, many, 301, pr,
                                          301 * 5, &n_tags, &err),
                     0, "%s", err.message);
        cr_assert_eq(n_tags, 5);
        for (int i = 0; i < 301; i++) {
                double sum = 0;
                for (int k = 0; k < 5; k++)
                        sum += pr[i * 5 + k];
                cr_assert_float_eq(sum, 1.0, 1e-5, "word %d: %g", i, sum);
        }
        free(pr);

        /* `socfw evaluate` on a file: the entity table */
        char *report = NULL;
        char valid[4200];
        snprintf(valid, sizeof valid, "%s/valid.jsonl", fx.dir);
        cr_assert_eq(socfw_runtime_evaluate_file(rt, "pii", valid, &report,
                                                 &err),
                     0, "%s", err.message);
        cr_assert(report && strstr(report, "micro avg"), "%s", report);
        free(report);
        socfw_chain_free(chain);
        socfw_runtime_free(rt);
        socfw_pipeline_free(p);
}

/* Records whose tags depend on the NEXT word: a first name is a person
 * only when a surname follows ("Carol Jones" B I, "Carol today" O O). */
static void
write_next_word_ner(const char *name, int n, unsigned seed)
{
        FILE *f = socfw_test_create(fx.dir, name);
        for (int i = 0; i < n; i++) {
                seed = seed * 1103515245u + 12345u;
                int person = (seed >> 12) & 1;
                fprintf(f,
                        "{\"tokens\": [\"%s\", \"%s\", \"%s\", \"%s\"], "
                        "\"tags\": [\"O\", \"%s\", \"%s\", \"O\"]}\n",
                        FILL[seed % 10], FIRST[(seed >> 4) % 6],
                        person ? LAST[(seed >> 8) % 4]
                               : FILL[(seed >> 8) % 10],
                        FILL[(seed >> 16) % 10],
                        person ? "B-person" : "O", person ? "I-person" : "O");
        }
        fclose(f);
}

/* PERSON F1 on valid after training with the given lookahead. */
static double
next_word_f1(int lookahead)
{
        char head[128], out[4200];
        snprintf(head, sizeof head,
                 "{type: tagger, dropout: 0.0, label_token: last, "
                 "lookahead: %d}",
                 lookahead);
        socfw_pipeline *p = fx_load(ner_pipeline(
                head,
                "    data: {train: nw-train.jsonl, valid: nw-valid.jsonl}\n"));
        snprintf(out, sizeof out, "%s/run-la%d", fx.dir, lookahead);
        socfw_runtime *rt = socfw_test_runtime(p, out, 0);
        socfw_error err = {0};
        cr_assert_eq(socfw_runtime_train(rt, &err), 0, "%s", err.message);
        cr_assert_eq(socfw_runtime_evaluate(rt, "valid", &err), 0, "%s",
                     err.message);
        double f1 = -1;
        cr_assert_eq(socfw_runtime_metric(rt, "pii.valid.PERSON.f1", &f1), 0);
        socfw_runtime_free(rt);
        socfw_pipeline_free(p);
        return f1;
}

Test(tagging, lookahead_lets_a_causal_tagger_read_the_next_word,
     .init = fx_setup, .fini = fx_teardown, .timeout = 240)
{
        write_next_word_ner("nw-train.jsonl", 240, 11);
        write_next_word_ner("nw-valid.jsonl", 80, 12);
        double without = next_word_f1(0), with = next_word_f1(1);
        cr_log_info("PERSON F1: lookahead 0 %.4f, lookahead 1 %.4f", without,
                    with);
        /* without it, the first name's state cannot know what follows:
         * tagging every first name B gives F1 about 2/3 */
        cr_assert_lt(without, 0.8, "lookahead 0: F1 %.4f", without);
        cr_assert_gt(with, 0.9, "lookahead 1: F1 %.4f", with);
}

Test(tagging, holdout_splits_one_file_and_weights_balance_tags,
     .init = fx_setup, .fini = fx_teardown, .timeout = 120)
{
        write_ner("all.jsonl", 50, 3, 1);
        socfw_pipeline *p = fx_load(ner_pipeline(PLAIN_HEAD,
                "    holdout_every: 5\n"
                "    loss: {class_weights: balanced}\n"
                "    data: {train: all.jsonl, valid: all.jsonl}\n"));
        char out[4200];
        snprintf(out, sizeof out, "%s/run", fx.dir);
        socfw_runtime *rt = socfw_test_runtime(p, out, 0);
        cr_assert_eq(rt->n_tasks, 1);
        cr_assert_eq(rt->tasks[0].train.n, 40);
        cr_assert_eq(rt->tasks[0].valid.n, 10);
        cr_assert_eq(rt->tasks[0].kind, SOCFW_TARGET_TAGS);
        /* balanced tag weights: total / (K * count) over the tagged
         * tokens (truncation may drop some words); no I-LOCATION in the
         * data: weight 0 */
        const float *cw = rt->tasks[0].class_weight;
        cr_assert_not_null(cw);
        size_t total = 0, count[5] = {0};
        for (size_t i = 0; i < rt->tasks[0].train.n; i++)
                for (int k = 0; k < rt->tasks[0].train.ex[i].n; k++) {
                        int32_t g = rt->tasks[0].train.ex[i].targets[k];
                        cr_assert_lt(g, 5);
                        if (g >= 0) {
                                count[g]++;
                                total++;
                        }
                }
        cr_assert_gt(count[1], 30);
        cr_assert_eq(count[4], 0);
        for (int k = 0; k < 5; k++)
                cr_assert_float_eq(cw[k],
                                   count[k] ? (double)total /
                                                      (5.0 * count[k])
                                            : 0.0,
                                   1e-4, "tag %d", k);
        cr_assert_lt(cw[0], cw[1]);
        socfw_runtime_free(rt);
        socfw_pipeline_free(p);
}

Test(tagging, holdout_by_template_keeps_a_sentence_pattern_together,
     .init = fx_setup, .fini = fx_teardown, .timeout = 120)
{
        /* 40 rows from ten sentence patterns, four names each */
        FILE *f = socfw_test_create(fx.dir, "tpl.jsonl");
        for (int i = 0; i < 40; i++) {
                const char *name = FIRST[i % 4];
                int n = (int)strlen(name);
                fprintf(f, "{\"text\": \"%s %s said hi\", \"spans\": "
                           "[{\"start\": %d, \"end\": %d, \"type\": "
                           "\"PERSON\"}]}\n",
                        FILL[i / 4], name, (int)strlen(FILL[i / 4]) + 1,
                        (int)strlen(FILL[i / 4]) + 1 + n);
        }
        fclose(f);
        size_t n_valid[2];
        for (int by = 0; by < 2; by++) {
                char extra[256], out[4200];
                snprintf(extra, sizeof extra,
                         "    holdout_every: 3\n"
                         "    holdout_by: %s\n"
                         "    data: {train: tpl.jsonl, valid: tpl.jsonl}\n",
                         by ? "template" : "line");
                socfw_pipeline *p = fx_load(ner_pipeline(PLAIN_HEAD, extra));
                snprintf(out, sizeof out, "%s/run%d", fx.dir, by);
                socfw_runtime *rt = socfw_test_runtime(p, out, 0);
                cr_assert_eq(rt->tasks[0].train.n + rt->tasks[0].valid.n, 40);
                n_valid[by] = rt->tasks[0].valid.n;
                socfw_runtime_free(rt);
                socfw_pipeline_free(p);
        }
        cr_assert_eq(n_valid[0], 13, "every 3rd line");
        cr_assert(n_valid[1] % 4 == 0 && n_valid[1] > 0 && n_valid[1] < 40,
                  "whole patterns only: %zu rows held out", n_valid[1]);
}

Test(tagging, bad_tag_records_name_the_field,
     .init = fx_setup,
     .fini = fx_teardown, .timeout = 120)
{
        char path[4200];
        snprintf(path, sizeof path, "%s/bad.jsonl", fx.dir);
        const char *data =
                "{\"tokens\": [\"a\", \"b\"], \"tags\": [\"O\"]}\n";
        cr_assert_eq(socfw_test_write_file(path, data, strlen(data)), 0);
        socfw_pipeline *p = fx_load(
                ner_pipeline(PLAIN_HEAD, "    data: {train: bad.jsonl}\n"));
        char out[4200];
        snprintf(out, sizeof out, "%s/run", fx.dir);
        socfw_runtime *rt = NULL;
        socfw_error err = {0};
        socfw_runtime_options o = {.output_dir = out, .progress = socfw_test_quiet};
        cr_assert_lt(socfw_runtime_new(&rt, p, &o, &err), 0);
        cr_assert(strstr(err.message, "tags") &&
                          strstr(err.file, "bad.jsonl") && err.line == 1,
                  "%s (%s:%ld)", err.message, err.file, err.line);
        socfw_pipeline_free(p);
}
