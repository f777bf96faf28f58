/* tests/test_tokenizer_train.c - training byte-level BPE and WordPiece
 * vocabularies, saving them and loading them back. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "socfw/tokenizer.h"
#include "testutil.h"

static const char *const corpus[] = {
        "the cat sat on the mat",
        "the dog sat on the log",
        "cats and dogs are the best friends",
        "I can't believe it's not butter!!! 😂😂",
        "@user check https://example.com #blessed #blessed",
        "Ünïcödé naïve café résumé",
        "东京 北京 我爱自然语言处理",
        "numbers 123 4567 89",
        "the the the the the the",
        "  spaces   and\ttabs\nand newlines  ",
};
#define NCORPUS (sizeof corpus / sizeof *corpus)

static void
ids_of(socfw_tokenizer *tok, const char *s, unsigned flags, int32_t **ids,
       size_t *n)
{
        socfw_error err = {0};
        cr_assert_eq(socfw_tokenizer_encode(tok, s, strlen(s), flags, ids, n,
                                            &err), 0, "%s", err.message);
}

static int
same_ids(socfw_tokenizer *a, socfw_tokenizer *b, const char *s)
{
        int32_t *x = NULL, *y = NULL;
        size_t nx = 0, ny = 0;
        ids_of(a, s, SOCFW_TOKENIZER_PARSE_SPECIAL, &x, &nx);
        ids_of(b, s, SOCFW_TOKENIZER_PARSE_SPECIAL, &y, &ny);
        int same = nx == ny && (nx == 0 || memcmp(x, y, nx * sizeof *x) == 0);
        free(x);
        free(y);
        return same;
}

Test(tokenizer_train, bpe_is_lossless_and_reloads, .timeout = 60)
{
        const char *specials[] = { "<|endoftext|>" };
        socfw_tokenizer_train_options opt = {
                .vocab_size = 500,
                .special_tokens = specials,
                .n_special_tokens = 1,
        };
        socfw_tokenizer *tok = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_tokenizer_train_bpe(&tok, corpus, NULL, NCORPUS,
                                               &opt, &err), 0, "%s",
                     err.message);
        size_t V = socfw_tokenizer_vocab_size(tok);
        cr_expect_gt(V, 257, "no merges learned");
        cr_expect_leq(V, 500);
        cr_expect_eq(socfw_tokenizer_special_id(tok, SOCFW_TOKENIZER_EOS), 0);
        cr_expect_eq(socfw_tokenizer_token_type(tok, 0), SOCFW_TOKEN_CONTROL);
        /* the most frequent word should have become one token */
        int32_t *ids = NULL;
        size_t n = 0;
        ids_of(tok, " the", 0, &ids, &n);
        cr_expect_eq(n, 1, "\" the\" is %zu tokens", n);
        free(ids);
        /* lossless on the corpus, on unseen text and on raw bytes */
        size_t total_bytes = 0, total_tokens = 0;
        for (size_t i = 0; i < NCORPUS; i++) {
                char *text = NULL;
                size_t len = 0;
                ids_of(tok, corpus[i], 0, &ids, &n);
                total_bytes += strlen(corpus[i]);
                total_tokens += n;
                cr_assert_eq(socfw_tokenizer_decode(tok, ids, n, 0, &text,
                                                    &len, NULL), 0);
                cr_expect_str_eq(text, corpus[i]);
                free(text);
                free(ids);
        }
        cr_expect_lt(total_tokens, total_bytes / 2,
                     "%zu tokens for %zu bytes: merges not applied",
                     total_tokens, total_bytes);
        const char unseen[] = "zebra\xff\xfe quixotic \xe2\x82 <|endoftext|>!";
        ids_of(tok, unseen, SOCFW_TOKENIZER_PARSE_SPECIAL, &ids, &n);
        char *text = NULL;
        size_t len = 0;
        cr_assert_eq(socfw_tokenizer_decode(tok, ids, n, 0, &text, &len,
                                            NULL), 0);
        cr_expect_eq(len, sizeof unseen - 1);
        cr_expect_str_eq(text, unseen);
        int has_eot = 0;
        for (size_t i = 0; i < n; i++)
                has_eot |= ids[i] == 0;
        cr_expect(has_eot, "<|endoftext|> not matched as a special token");
        free(text);
        free(ids);

        /* save, load back three ways, same ids */
        char dir[4096];
        cr_assert_not_null(socfw_test_tmpdir(dir, sizeof dir));
        cr_assert_eq(socfw_tokenizer_save(tok, dir, &err), 0, "%s",
                     err.message);
        socfw_tokenizer *back = NULL;
        cr_assert_eq(socfw_tokenizer_load(&back, dir, &err), 0, "%s",
                     err.message);
        cr_expect_eq(socfw_tokenizer_vocab_size(back), V);
        char v[4200], m[4200];
        snprintf(v, sizeof v, "%s/vocab.json", dir);
        snprintf(m, sizeof m, "%s/merges.txt", dir);
        socfw_tokenizer *back2 = NULL;
        cr_assert_eq(socfw_tokenizer_load_bpe_files(&back2, v, m, NULL, &err),
                     0, "%s", err.message);
        for (size_t i = 0; i < NCORPUS; i++) {
                cr_expect(same_ids(tok, back, corpus[i]),
                          "tokenizer.json reload differs on \"%s\"", corpus[i]);
                cr_expect(same_ids(tok, back2, corpus[i]),
                          "vocab.json reload differs on \"%s\"", corpus[i]);
        }
        cr_expect(same_ids(tok, back, unseen));
        cr_expect_eq(socfw_tokenizer_special_id(back, SOCFW_TOKENIZER_EOS), 0);
        socfw_tokenizer_free(back);
        socfw_tokenizer_free(back2);
        socfw_tokenizer_free(tok);
}

Test(tokenizer_train, wordpiece_trains_and_reloads, .timeout = 60)
{
        socfw_tokenizer_train_options opt = { .vocab_size = 200 };
        socfw_tokenizer *tok = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_tokenizer_train_wordpiece(&tok, corpus, NULL,
                                                     NCORPUS, &opt, &err), 0,
                     "%s", err.message);
        cr_expect_eq(socfw_tokenizer_get_kind(tok), SOCFW_TOKENIZER_WORDPIECE);
        int32_t cls = socfw_tokenizer_special_id(tok, SOCFW_TOKENIZER_CLS);
        int32_t sep = socfw_tokenizer_special_id(tok, SOCFW_TOKENIZER_SEP);
        int32_t unk = socfw_tokenizer_special_id(tok, SOCFW_TOKENIZER_UNK);
        cr_expect_eq(socfw_tokenizer_special_id(tok, SOCFW_TOKENIZER_PAD), 0);
        cr_expect_eq(unk, 1);
        cr_expect_eq(cls, 2);
        cr_expect_eq(sep, 3);
        int32_t *ids = NULL;
        size_t n = 0;
        ids_of(tok, "The cat sat on the mat.", SOCFW_TOKENIZER_ADD_SPECIAL,
               &ids, &n);
        cr_assert_geq(n, 3);
        cr_expect_eq(ids[0], cls);
        cr_expect_eq(ids[n - 1], sep);
        for (size_t i = 0; i < n; i++)
                cr_expect_neq(ids[i], unk, "[UNK] at %zu", i);
        char *text = NULL;
        cr_assert_eq(socfw_tokenizer_decode(tok, ids, n,
                                            SOCFW_TOKENIZER_SKIP_SPECIAL,
                                            &text, NULL, NULL), 0);
        cr_expect_str_eq(text, "the cat sat on the mat.");
        free(text);
        free(ids);
        /* every corpus line decodes to its normalised words */
        ids_of(tok, "Ünïcödé café", 0, &ids, &n);
        cr_assert_eq(socfw_tokenizer_decode(tok, ids, n, 0, &text, NULL,
                                            NULL), 0);
        cr_expect_str_eq(text, "unicode cafe");
        free(text);
        free(ids);
        ids_of(tok, "东京", 0, &ids, &n);
        cr_expect_eq(n, 2, "CJK characters are words of their own");
        free(ids);

        char dir[4096];
        cr_assert_not_null(socfw_test_tmpdir(dir, sizeof dir));
        cr_assert_eq(socfw_tokenizer_save(tok, dir, &err), 0, "%s",
                     err.message);
        socfw_tokenizer *back = NULL;
        cr_assert_eq(socfw_tokenizer_load(&back, dir, &err), 0, "%s",
                     err.message);
        char vt[4200];
        snprintf(vt, sizeof vt, "%s/vocab.txt", dir);
        socfw_tokenizer *back2 = NULL;
        cr_assert_eq(socfw_tokenizer_load_vocab_txt(&back2, vt, -1, &err), 0,
                     "%s", err.message);
        for (size_t i = 0; i < NCORPUS; i++) {
                cr_expect(same_ids(tok, back, corpus[i]), "json: \"%s\"",
                          corpus[i]);
                cr_expect(same_ids(tok, back2, corpus[i]), "txt: \"%s\"",
                          corpus[i]);
        }
        ids_of(back, "cat", SOCFW_TOKENIZER_ADD_SPECIAL, &ids, &n);
        cr_expect_eq(ids[0], cls);
        free(ids);
        socfw_tokenizer_free(back);
        socfw_tokenizer_free(back2);
        socfw_tokenizer_free(tok);
}

Test(tokenizer_train, bad_options)
{
        socfw_tokenizer *tok = NULL;
        socfw_error err = {0};
        socfw_tokenizer_train_options opt = { .vocab_size = 100 };
        cr_expect_eq(socfw_tokenizer_train_bpe(&tok, corpus, NULL, NCORPUS,
                                               &opt, &err), SOCFW_EINVAL);
        cr_expect_null(tok);
        cr_expect(strstr(err.message, "vocab_size") != NULL, "%s",
                  err.message);
        cr_expect_eq(socfw_tokenizer_train_bpe(&tok, corpus, NULL, NCORPUS,
                                               NULL, NULL), SOCFW_EINVAL);
        /* an empty corpus gives just the base vocabulary */
        opt.vocab_size = 300;
        cr_assert_eq(socfw_tokenizer_train_bpe(&tok, NULL, NULL, 0, &opt,
                                               NULL), 0);
        cr_expect_eq(socfw_tokenizer_vocab_size(tok), 256);
        socfw_tokenizer_free(tok);
}

/* A real corpus slice: measures training speed (no pass/fail on time
 * beyond the timeout) and checks compression on held-out lines. */
Test(tokenizer_train, social_corpus_slice, .timeout = 120)
{
        char path[4096];
        SOCFW_TEST_NEED_SHARED(path, "data/corpus-social/tweets.txt");
        size_t len = 0;
        char *data = socfw_test_read_file(path, &len);
        cr_assert_not_null(data);
        if (len > 1000000)
                len = 1000000;
        data[len] = '\0';
        size_t cap = 1024, n = 0;
        const char **lines = malloc(cap * sizeof *lines);
        for (char *p = data; p < data + len;) {
                char *e = strchr(p, '\n');
                if (!e)
                        e = data + len;
                *e = '\0';
                if (n == cap)
                        lines = realloc(lines, (cap *= 2) * sizeof *lines);
                lines[n++] = p;
                p = e + 1;
        }
        size_t ntrain = n * 9 / 10;
        socfw_tokenizer_train_options opt = { .vocab_size = 2000, .min_frequency = 2 };
        socfw_tokenizer *tok = NULL;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        cr_assert_eq(socfw_tokenizer_train_bpe(&tok, lines, NULL, ntrain, &opt,
                                               NULL), 0);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double dt = (double)(t1.tv_sec - t0.tv_sec) +
                    (t1.tv_nsec - t0.tv_nsec) * 1e-9;
        size_t bytes = 0, toks = 0;
        for (size_t i = ntrain; i < n; i++) {
                int32_t *ids = NULL;
                size_t k = 0;
                char *text = NULL;
                size_t tl = 0;
                cr_assert_eq(socfw_tokenizer_encode(tok, lines[i],
                                                    strlen(lines[i]), 0, &ids,
                                                    &k, NULL), 0);
                cr_assert_eq(socfw_tokenizer_decode(tok, ids, k, 0, &text,
                                                    &tl, NULL), 0);
                cr_expect_str_eq(text, lines[i]);
                bytes += strlen(lines[i]);
                toks += k;
                free(ids);
                free(text);
        }
        cr_log_info("trained BPE 2000 on %zu lines (%zu kB) in %.2f s; "
                    "held-out %.2f bytes/token", ntrain, len / 1024, dt,
                    (double)bytes / (double)(toks ? toks : 1));
        cr_expect_gt((double)bytes / (double)(toks ? toks : 1), 2.5);
        socfw_tokenizer_free(tok);
        free(lines);
        free(data);
}
