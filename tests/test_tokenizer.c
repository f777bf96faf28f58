/* tests/test_tokenizer.c - conformance against llama.cpp's vocab suites,
 * Hugging Face files, robustness (invalid UTF-8, long inputs), training. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "socfw/tokenizer.h"
#include "testutil.h"

/* ---- helpers ---- */

static double
now_sec(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static socfw_tokenizer *
load_or_fail(const char *path)
{
        socfw_tokenizer *tok = NULL;
        socfw_error err = {0};
        char buf[2048];
        int rc = socfw_tokenizer_load(&tok, path, &err);
        cr_assert_eq(rc, 0, "loading %s: %s", path,
                     socfw_error_string(&err, buf, sizeof buf));
        cr_assert_not_null(tok);
        return tok;
}

/* Parse "1 2 3" into ids; returns count. */
static size_t
parse_ids(const char *s, size_t len, int32_t *ids, size_t cap)
{
        size_t n = 0;
        const char *end = s + len;
        while (s < end) {
                while (s < end && *s == ' ')
                        s++;
                if (s >= end)
                        break;
                char *e;
                long v = strtol(s, &e, 10);
                if (e == s)
                        break;
                if (n < cap)
                        ids[n] = (int32_t)v;
                n++;
                s = e;
        }
        return n;
}

static void
fmt_ids(char *buf, size_t size, const int32_t *ids, size_t n)
{
        size_t o = 0;
        buf[0] = '\0';
        for (size_t i = 0; i < n && o + 16 < size; i++)
                o += (size_t)snprintf(buf + o, size - o, " %d", (int)ids[i]);
}

/* Run llama.cpp's test-tokenizer-0 suite: .inp holds the strings, each
 * followed by "\n__ggml_vocab_test__\n"; .out one line of ids per string,
 * encoded without special tokens. */
static void
run_vocab_suite(const char *name)
{
        char gguf[4096], inp_path[4200], out_path[4200];
        char rel[256];
        snprintf(rel, sizeof rel, "models/vocab/ggml-vocab-%s.gguf", name);
        SOCFW_TEST_NEED_SHARED(gguf, rel);
        snprintf(inp_path, sizeof inp_path, "%s.inp", gguf);
        snprintf(out_path, sizeof out_path, "%s.out", gguf);
        size_t inp_len = 0, out_len = 0;
        char *inp = socfw_test_read_file(inp_path, &inp_len);
        char *outp = socfw_test_read_file(out_path, &out_len);
        cr_assert(inp && outp, "reading %s / %s", inp_path, out_path);
        socfw_tokenizer *tok = load_or_fail(gguf);

        static const char sep[] = "\n__ggml_vocab_test__\n";
        const size_t sl = sizeof sep - 1;
        const char *p = inp, *o = outp;
        size_t ncase = 0, nfail = 0;
        int32_t want[4096];
        char a[8192], b[8192];
        for (;;) {
                const char *e = strstr(p, sep);
                if (!e)
                        break;
                const char *oe = memchr(o, '\n', (size_t)(outp + out_len - o));
                cr_assert_not_null(oe, "%s.out has fewer lines than tests",
                                   name);
                size_t nw = parse_ids(o, (size_t)(oe - o), want, 4096);
                int32_t *ids = NULL;
                size_t n = 0;
                socfw_error err = {0};
                cr_assert_eq(socfw_tokenizer_encode(tok, p, (size_t)(e - p), 0,
                                                    &ids, &n, &err), 0);
                if (n != nw || (n && memcmp(ids, want, n * sizeof *ids))) {
                        fmt_ids(a, sizeof a, want, nw);
                        fmt_ids(b, sizeof b, ids, n);
                        cr_log_error("%s case %zu \"%.*s\":\n want%s\n  got%s",
                                     name, ncase, (int)(e - p), p, a, b);
                        nfail++;
                }
                free(ids);
                ncase++;
                p = e + sl;
                o = oe + 1;
        }
        cr_log_info("%s: %zu/%zu cases match", name, ncase - nfail, ncase);
        cr_expect_gt(ncase, 40, "%s: only %zu cases parsed", name, ncase);
        cr_expect_eq(nfail, 0, "%s: %zu of %zu cases differ", name, nfail,
                     ncase);
        socfw_tokenizer_free(tok);
        free(inp);
        free(outp);
}

/* ---- conformance: llama.cpp vocab suites ---- */

Test(tokenizer_conformance, gpt2, .timeout = 60)
{
        run_vocab_suite("gpt-2");
}

Test(tokenizer_conformance, bert_bge, .timeout = 60)
{
        run_vocab_suite("bert-bge");
}

Test(tokenizer_conformance, llama_spm, .timeout = 60)
{
        run_vocab_suite("llama-spm");
}

/* ---- Hugging Face files against the committed fixture ---- */

#include <jansson.h>

static json_t *
load_fixture(void)
{
        char path[4096];
        socfw_test_path(path, sizeof path, socfw_test_srcdir(),
                        "tests/fixtures/tokenizer/hf_expected.json");
        json_error_t je;
        json_t *j = json_load_file(path, 0, &je);
        cr_assert_not_null(j, "%s: %s", path, je.text);
        return j;
}

/* Check every case of fixture[key] against tok; returns the case count. */
static size_t
check_fixture(socfw_tokenizer *tok, const char *key, const char *what)
{
        json_t *root = load_fixture();
        json_t *cases = json_object_get(root, key);
        size_t i, nfail = 0;
        json_t *c;
        char a[8192], b[8192];
        json_array_foreach(cases, i, c) {
                json_t *jt = json_object_get(c, "text");
                const char *text = json_string_value(jt);
                size_t tl = json_string_length(jt);
                unsigned flags = json_is_true(json_object_get(c,
                                                      "parse_special"))
                                         ? SOCFW_TOKENIZER_PARSE_SPECIAL : 0;
                json_t *jids = json_object_get(c, "ids");
                size_t nw = json_array_size(jids);
                int32_t *want = calloc(nw + 1, sizeof *want);
                for (size_t k = 0; k < nw; k++)
                        want[k] = (int32_t)json_integer_value(
                                json_array_get(jids, k));
                int32_t *ids = NULL;
                size_t n = 0;
                cr_assert_eq(socfw_tokenizer_encode(tok, text, tl, flags,
                                                    &ids, &n, NULL), 0);
                if (n != nw || (n && memcmp(ids, want, n * sizeof *ids))) {
                        fmt_ids(a, sizeof a, want, nw);
                        fmt_ids(b, sizeof b, ids, n);
                        cr_log_error("%s case %zu \"%s\" flags %u:\n want%s\n"
                                     "  got%s", what, i, text, flags, a, b);
                        nfail++;
                }
                free(ids);
                free(want);
        }
        size_t ncase = json_array_size(cases);
        cr_expect_gt(ncase, 20);
        cr_expect_eq(nfail, 0, "%s: %zu of %zu cases differ", what, nfail,
                     ncase);
        json_decref(root);
        return ncase;
}

Test(tokenizer_hf, gpt2_tokenizer_json, .timeout = 60)
{
        char dir[4096];
        SOCFW_TEST_NEED_SHARED(dir, "models/hf/fake_gpt2");
        socfw_tokenizer *tok = load_or_fail(dir);
        cr_expect_eq(socfw_tokenizer_get_kind(tok), SOCFW_TOKENIZER_BPE);
        cr_expect_eq(socfw_tokenizer_vocab_size(tok), 50257);
        cr_expect_eq(socfw_tokenizer_special_id(tok, SOCFW_TOKENIZER_EOS),
                     50256);
        cr_expect_eq(socfw_tokenizer_token_type(tok, 50256),
                     SOCFW_TOKEN_CONTROL);
        check_fixture(tok, "gpt2", "fake_gpt2/tokenizer.json");
        socfw_tokenizer_free(tok);
}

Test(tokenizer_hf, gpt2_vocab_json_merges_txt, .timeout = 60)
{
        char dir[4096], v[4200], m[4200];
        SOCFW_TEST_NEED_SHARED(dir, "models/hf/fake_gpt2");
        snprintf(v, sizeof v, "%s/vocab.json", dir);
        snprintf(m, sizeof m, "%s/merges.txt", dir);
        socfw_tokenizer *tok = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_tokenizer_load_bpe_files(&tok, v, m, NULL, &err), 0,
                     "%s", err.message);
        cr_expect_eq(socfw_tokenizer_special_id(tok, SOCFW_TOKENIZER_BOS),
                     50256);
        check_fixture(tok, "gpt2", "fake_gpt2/vocab.json+merges.txt");
        /* a merge-file view of the tokens */
        size_t len = 0;
        const char *t = socfw_tokenizer_token_text(tok, 262, &len);
        cr_assert_not_null(t);
        cr_expect_str_eq(t, "\xc4\xa0the");     /* "Ġthe" */
        cr_expect_eq(socfw_tokenizer_token_id(tok, "\xc4\xa0the", 5), 262);
        char piece[16];
        cr_expect_eq(socfw_tokenizer_token_to_piece(tok, 262, piece,
                                                    sizeof piece), 4);
        cr_expect_eq(memcmp(piece, " the", 4), 0);
        socfw_tokenizer_free(tok);
}

Test(tokenizer_hf, bert_tokenizer_json, .timeout = 60)
{
        char dir[4096];
        SOCFW_TEST_NEED_SHARED(dir, "models/hf/bert_tiniest");
        socfw_tokenizer *tok = load_or_fail(dir);
        cr_expect_eq(socfw_tokenizer_get_kind(tok), SOCFW_TOKENIZER_WORDPIECE);
        cr_expect_eq(socfw_tokenizer_vocab_size(tok), 30522);
        cr_expect_eq(socfw_tokenizer_special_id(tok, SOCFW_TOKENIZER_CLS), 101);
        cr_expect_eq(socfw_tokenizer_special_id(tok, SOCFW_TOKENIZER_SEP), 102);
        cr_expect_eq(socfw_tokenizer_special_id(tok, SOCFW_TOKENIZER_UNK), 100);
        cr_expect_eq(socfw_tokenizer_special_id(tok, SOCFW_TOKENIZER_PAD), 0);
        cr_expect_eq(socfw_tokenizer_special_id(tok, SOCFW_TOKENIZER_MASK),
                     103);
        check_fixture(tok, "bert", "bert_tiniest/tokenizer.json");
        socfw_tokenizer_free(tok);
}

Test(tokenizer_hf, bert_vocab_txt, .timeout = 60)
{
        char path[4096];
        SOCFW_TEST_NEED_SHARED(path, "models/hf/bert_tiniest/vocab.txt");
        socfw_tokenizer *tok = load_or_fail(path);
        check_fixture(tok, "bert", "bert_tiniest/vocab.txt");
        socfw_tokenizer_free(tok);
}

/* Hand-verified BERT cases: wrapping, specials, accents, CJK, decode. */
Test(tokenizer_hf, bert_hand_checked, .timeout = 60)
{
        char dir[4096];
        SOCFW_TEST_NEED_SHARED(dir, "models/hf/bert_tiniest");
        socfw_tokenizer *tok = load_or_fail(dir);
        int32_t *ids = NULL;
        size_t n = 0;
        /* "hello" 7592, "world" 2088, "!" 999 */
        cr_assert_eq(socfw_tokenizer_encode(tok, "Hello World!", 12,
                                            SOCFW_TOKENIZER_ADD_SPECIAL, &ids,
                                            &n, NULL), 0);
        int32_t want[] = { 101, 7592, 2088, 999, 102 };
        cr_assert_eq(n, 5);
        cr_expect_arr_eq(ids, want, sizeof want);
        char *text = NULL;
        cr_assert_eq(socfw_tokenizer_decode(tok, ids, n,
                                            SOCFW_TOKENIZER_SKIP_SPECIAL,
                                            &text, NULL, NULL), 0);
        cr_expect_str_eq(text, "hello world!");
        free(text);
        cr_assert_eq(socfw_tokenizer_decode(tok, ids, n, 0, &text, NULL,
                                            NULL), 0);
        cr_expect_str_eq(text, "[CLS] hello world! [SEP]");
        free(text);
        free(ids);
        /* [SEP] as text is split as punctuation unless PARSE_SPECIAL */
        cr_assert_eq(socfw_tokenizer_encode(tok, "a [SEP] b", 9,
                                            SOCFW_TOKENIZER_PARSE_SPECIAL,
                                            &ids, &n, NULL), 0);
        int32_t want2[] = { 1037, 102, 1038 };
        cr_assert_eq(n, 3);
        cr_expect_arr_eq(ids, want2, sizeof want2);
        free(ids);
        /* "Café" -> "cafe" (accents stripped for uncased) */
        cr_assert_eq(socfw_tokenizer_encode(tok, "Caf\xc3\xa9", 5, 0, &ids,
                                            &n, NULL), 0);
        cr_assert_eq(n, 1);
        cr_expect_eq(ids[0], socfw_tokenizer_token_id(tok, "cafe", 4));
        free(ids);
        /* a word longer than 100 characters is one [UNK] */
        char longw[151];
        memset(longw, 'a', 150);
        longw[150] = '\0';
        cr_assert_eq(socfw_tokenizer_encode(tok, longw, 150, 0, &ids, &n,
                                            NULL), 0);
        cr_assert_eq(n, 1);
        cr_expect_eq(ids[0], 100);
        free(ids);
        /* "unaffable" -> un ##af ##fa ##ble (the BERT paper example) */
        cr_assert_eq(socfw_tokenizer_encode(tok, "unaffable", 9, 0, &ids, &n,
                                            NULL), 0);
        cr_assert_eq(socfw_tokenizer_decode(tok, ids, n, 0, &text, NULL,
                                            NULL), 0);
        cr_expect_str_eq(text, "unaffable");
        cr_expect_gt(n, 1);
        for (size_t i = 1; i < n; i++) {
                size_t l;
                const char *p = socfw_tokenizer_token_text(tok, ids[i], &l);
                cr_expect(l > 2 && p[0] == '#' && p[1] == '#');
        }
        free(text);
        free(ids);
        socfw_tokenizer_free(tok);
}

/* GPT-2 special tokens: whole-string matching, decode back to text. */
Test(tokenizer_hf, gpt2_special_tokens, .timeout = 60)
{
        char path[4096];
        SOCFW_TEST_NEED_SHARED(path, "models/vocab/ggml-vocab-gpt-2.gguf");
        socfw_tokenizer *tok = load_or_fail(path);
        const char *s = "Hi<|endoftext|>there";
        int32_t *ids = NULL;
        size_t n = 0;
        cr_assert_eq(socfw_tokenizer_encode(tok, s, strlen(s),
                                            SOCFW_TOKENIZER_PARSE_SPECIAL,
                                            &ids, &n, NULL), 0);
        int32_t want[] = { 17250, 50256, 8117 };
        cr_assert_eq(n, 3);
        cr_expect_arr_eq(ids, want, sizeof want);
        char *text = NULL;
        size_t len = 0;
        cr_assert_eq(socfw_tokenizer_decode(tok, ids, n, 0, &text, &len,
                                            NULL), 0);
        cr_expect_str_eq(text, s);
        free(text);
        cr_assert_eq(socfw_tokenizer_decode(tok, ids, n,
                                            SOCFW_TOKENIZER_SKIP_SPECIAL,
                                            &text, &len, NULL), 0);
        cr_expect_str_eq(text, "Hithere");
        free(text);
        free(ids);
        /* without the flag it is plain text: several tokens */
        cr_assert_eq(socfw_tokenizer_encode(tok, s, strlen(s), 0, &ids, &n,
                                            NULL), 0);
        cr_expect_gt(n, 3);
        for (size_t i = 0; i < n; i++)
                cr_expect_neq(ids[i], 50256);
        free(ids);
        socfw_tokenizer_free(tok);
}

/* Llama SPM: BOS with ADD_SPECIAL, byte fallback round trip. */
Test(tokenizer_hf, llama_spm_bos_and_bytes, .timeout = 60)
{
        char path[4096];
        SOCFW_TEST_NEED_SHARED(path, "models/vocab/ggml-vocab-llama-spm.gguf");
        socfw_tokenizer *tok = load_or_fail(path);
        int32_t *ids = NULL;
        size_t n = 0;
        cr_assert_eq(socfw_tokenizer_encode(tok, "Hello world", 11,
                                            SOCFW_TOKENIZER_ADD_SPECIAL, &ids,
                                            &n, NULL), 0);
        int32_t want[] = { 1, 15043, 3186 };
        cr_assert_eq(n, 3);
        cr_expect_arr_eq(ids, want, sizeof want);
        free(ids);
        cr_assert_eq(socfw_tokenizer_encode(tok, "", 0,
                                            SOCFW_TOKENIZER_ADD_SPECIAL, &ids,
                                            &n, NULL), 0);
        cr_expect_eq(n, 1);
        free(ids);
        /* decoding: dummy prefix removed, bytes reassembled */
        const char *s = " this is \xf0\x9f\xa6\x99.cpp \xff\xfe tail";
        cr_assert_eq(socfw_tokenizer_encode(tok, s, strlen(s), 0, &ids, &n,
                                            NULL), 0);
        char *text = NULL;
        size_t len = 0;
        cr_assert_eq(socfw_tokenizer_decode(tok, ids, n, 0, &text, &len,
                                            NULL), 0);
        cr_expect_eq(len, strlen(s));
        cr_expect_str_eq(text, s);
        free(text);
        free(ids);
        socfw_tokenizer_free(tok);
}

/* ---- in-memory construction (no ../shared needed) ---- */

/* GPT-2 spelling of byte b into out (1 or 2 bytes + NUL). */
static void
byte_spelling(unsigned b, char out[3])
{
        unsigned cp = b;
        if (!((b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) ||
              (b >= 0xae))) {
                unsigned k = 0;
                for (unsigned i = 0; i < b; i++)
                        if (!((i >= 0x21 && i <= 0x7e) ||
                              (i >= 0xa1 && i <= 0xac) || (i >= 0xae)))
                                k++;
                cp = 256 + k;
        }
        if (cp < 0x80) {
                out[0] = (char)cp;
                out[1] = '\0';
        } else {
                out[0] = (char)(0xc0 | (cp >> 6));
                out[1] = (char)(0x80 | (cp & 0x3f));
                out[2] = '\0';
        }
}

/* 256 byte tokens + a few merges + <|endoftext|>. */
static socfw_tokenizer *
tiny_bpe(void)
{
        static char bytes[256][3];
        const char *tokens[256 + 6];
        for (unsigned b = 0; b < 256; b++) {
                byte_spelling(b, bytes[b]);
                tokens[b] = bytes[b];
        }
        tokens[256] = "\xc4\xa0t";      /* Ġt */
        tokens[257] = "he";
        tokens[258] = "\xc4\xa0the";    /* Ġthe */
        tokens[259] = "aa";
        tokens[260] = "aaaa";
        tokens[261] = "<|endoftext|>";
        const char *merges[] = { "\xc4\xa0 t", "h e", "\xc4\xa0t he", "a a",
                                 "aa aa" };
        socfw_tokenizer_spec spec;
        socfw_tokenizer_spec_init(&spec, SOCFW_TOKENIZER_BPE);
        spec.n_tokens = 262;
        spec.tokens = tokens;
        spec.n_merges = 5;
        spec.merges = merges;
        spec.special[SOCFW_TOKENIZER_EOS] = 261;
        spec.special[SOCFW_TOKENIZER_BOS] = 261;
        socfw_tokenizer *tok = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_tokenizer_new(&tok, &spec, &err), 0, "%s",
                     err.message);
        return tok;
}

Test(tokenizer_memory, bpe_from_arrays)
{
        socfw_tokenizer *tok = tiny_bpe();
        int32_t *ids = NULL;
        size_t n = 0;
        /* "he the aaaaa": "he" | " the" | " " "aaaa" "a"?  The pre-tokenizer
         * gives "he", " the", " aaaaa"; " aaaaa" -> Ġ(32->0xc4a0) aaaa a */
        const char *s = "he the aaaaa";
        cr_assert_eq(socfw_tokenizer_encode(tok, s, strlen(s), 0, &ids, &n,
                                            NULL), 0);
        int32_t want[] = { 257, 258, ' ', 260, 'a' };
        cr_assert_eq(n, 5);
        cr_expect_arr_eq(ids, want, sizeof want);
        free(ids);
        cr_expect_eq(socfw_tokenizer_token_type(tok, 261), SOCFW_TOKEN_CONTROL);
        cr_expect_eq(socfw_tokenizer_token_id(tok, "\xc4\xa0the", 5), 258);
        cr_expect_eq(socfw_tokenizer_token_id(tok, "nope", 4), -1);
        cr_expect_null(socfw_tokenizer_token_text(tok, 262, NULL));
        cr_expect_eq(socfw_tokenizer_token_to_piece(tok, -1, NULL, 0), -1);
        /* bad ids are refused by decode */
        int32_t bad[] = { 1, 999 };
        char *text = NULL;
        socfw_error err = {0};
        cr_expect_eq(socfw_tokenizer_decode(tok, bad, 2, 0, &text, NULL,
                                            &err), SOCFW_EINVAL);
        cr_expect_null(text);
        cr_expect(strstr(err.message, "999") != NULL, "%s", err.message);
        socfw_tokenizer_free(tok);
        socfw_tokenizer_free(NULL);
}

Test(tokenizer_memory, bad_specs_are_refused)
{
        socfw_tokenizer *tok = (socfw_tokenizer *)1;
        socfw_tokenizer_spec spec;
        socfw_error err = {0};
        socfw_tokenizer_spec_init(&spec, SOCFW_TOKENIZER_SPM);
        const char *tokens[] = { "<unk>", "a" };
        spec.n_tokens = 2;
        spec.tokens = tokens;
        cr_expect_eq(socfw_tokenizer_new(&tok, &spec, &err), SOCFW_EINVAL);
        cr_expect_null(tok);
        cr_expect(strstr(err.message, "scores") != NULL);
        socfw_tokenizer_spec_init(&spec, SOCFW_TOKENIZER_BPE);
        spec.n_tokens = 1;
        spec.tokens = tokens;
        spec.pattern = "(unclosed";
        socfw_error_clear(&err);
        cr_expect_eq(socfw_tokenizer_new(&tok, &spec, &err), SOCFW_EINVAL);
        cr_expect(strstr(err.message, "regex") != NULL, "%s", err.message);
        socfw_error_clear(&err);
        cr_expect_eq(socfw_tokenizer_load(&tok, "/nonexistent/tok", &err),
                     SOCFW_ENOTFOUND);
        cr_expect_null(tok);
}

/* ---- robustness: any bytes, long inputs, bounded time ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t
rnd(void)
{
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        return (uint32_t)(rng_state >> 11);
}

static void
expect_roundtrip(socfw_tokenizer *tok, const char *s, size_t len,
                 const char *what)
{
        int32_t *ids = NULL;
        size_t n = 0;
        char *text = NULL;
        size_t tl = 0;
        cr_assert_eq(socfw_tokenizer_encode(tok, s, len, 0, &ids, &n, NULL), 0,
                     "%s: encode", what);
        cr_assert_eq(socfw_tokenizer_decode(tok, ids, n, 0, &text, &tl, NULL),
                     0, "%s: decode", what);
        cr_expect_eq(tl, len, "%s: %zu bytes back for %zu", what, tl, len);
        cr_expect(tl == len && memcmp(text, s, len) == 0,
                  "%s: round trip differs", what);
        free(ids);
        free(text);
}

/* `spm`: leave out a literal U+2581 in the input, which SentencePiece
 * cannot tell from an escaped space (decode gives a space back). */
static void
roundtrip_suite(socfw_tokenizer *tok, int spm)
{
        char buf[4096];
        expect_roundtrip(tok, "", 0, "empty");
        expect_roundtrip(tok, "\xff", 1, "lone 0xff");
        expect_roundtrip(tok, "\xc3(", 2, "truncated 2-byte sequence");
        expect_roundtrip(tok, "a\xe2\x82", 3, "truncated 3-byte at end");
        expect_roundtrip(tok, "\xed\xa0\x80 surrogate", 13, "surrogate");
        expect_roundtrip(tok, "\xc0\xaf overlong", 11, "overlong");
        expect_roundtrip(tok, "nul\0inside", 10, "NUL byte");
        expect_roundtrip(tok, "  \t\n\n  x  ", 10, "whitespace runs");
        for (int iter = 0; iter < 200; iter++) {
                size_t len = rnd() % sizeof buf;
                for (size_t i = 0; i < len; i++) {
                        buf[i] = (char)(rnd() & 0xff);
                        if (spm && (uint8_t)buf[i] == 0xe2)
                                buf[i] = (char)0xe3;    /* no U+2581 */
                }
                expect_roundtrip(tok, buf, len, "random bytes");
        }
        /* random mixes of ASCII, spaces, multibyte and broken sequences */
        static const char *const parts[] = {
                "a", " ", "  ", "\n", "'s", "1", "\xc3\xa9", "\xe4\xb8\xad",
                "\xf0\x9f\x98\x80", "\xe2\x96\x81", "\x80", "\xc3", "!",
                "<|endoftext|>",
        };
        size_t nparts = sizeof parts / sizeof *parts;
        for (int iter = 0; iter < 200; iter++) {
                size_t len = 0;
                while (len < 200) {
                        const char *p = parts[rnd() % nparts];
                        if (spm && !strcmp(p, "\xe2\x96\x81"))
                                p = " ";
                        memcpy(buf + len, p, strlen(p));
                        len += strlen(p);
                }
                expect_roundtrip(tok, buf, len, "random mix");
        }
}

Test(tokenizer_robust, bpe_roundtrip_in_memory, .timeout = 60)
{
        socfw_tokenizer *tok = tiny_bpe();
        roundtrip_suite(tok, 0);
        socfw_tokenizer_free(tok);
}

Test(tokenizer_robust, bpe_roundtrip_gpt2, .timeout = 60)
{
        char path[4096];
        SOCFW_TEST_NEED_SHARED(path, "models/vocab/ggml-vocab-gpt-2.gguf");
        socfw_tokenizer *tok = load_or_fail(path);
        roundtrip_suite(tok, 0);
        socfw_tokenizer_free(tok);
}

/* SPM falls back to bytes for anything: it must round-trip too (apart from
 * the dummy prefix, which decode removes). */
Test(tokenizer_robust, spm_roundtrip, .timeout = 60)
{
        char path[4096];
        SOCFW_TEST_NEED_SHARED(path, "models/vocab/ggml-vocab-llama-spm.gguf");
        socfw_tokenizer *tok = load_or_fail(path);
        roundtrip_suite(tok, 1);
        socfw_tokenizer_free(tok);
}

/* WordPiece is lossy by design; invalid UTF-8 must still be handled the
 * same way every time: as U+FFFD, which BERT's cleaning drops. */
Test(tokenizer_robust, wordpiece_invalid_utf8, .timeout = 60)
{
        char path[4096];
        SOCFW_TEST_NEED_SHARED(path, "models/vocab/ggml-vocab-bert-bge.gguf");
        socfw_tokenizer *tok = load_or_fail(path);
        int32_t *a = NULL, *b = NULL;
        size_t na = 0, nb = 0;
        cr_assert_eq(socfw_tokenizer_encode(tok, "hello \xff\xfeworld", 13, 0,
                                            &a, &na, NULL), 0);
        cr_assert_eq(socfw_tokenizer_encode(tok, "hello world", 11, 0, &b, &nb,
                                            NULL), 0);
        cr_expect_eq(na, nb);
        cr_expect(na == nb && memcmp(a, b, na * sizeof *a) == 0);
        free(a);
        free(b);
        char buf[2048];
        for (int iter = 0; iter < 200; iter++) {
                size_t len = rnd() % sizeof buf;
                for (size_t i = 0; i < len; i++)
                        buf[i] = (char)(rnd() & 0xff);
                int32_t *ids = NULL;
                size_t n = 0;
                cr_assert_eq(socfw_tokenizer_encode(tok, buf, len,
                                                    SOCFW_TOKENIZER_ADD_SPECIAL,
                                                    &ids, &n, NULL), 0);
                cr_assert_geq(n, 2);
                cr_expect_eq(ids[0], 101);
                cr_expect_eq(ids[n - 1], 102);
                for (size_t i = 0; i < n; i++)
                        cr_assert(ids[i] >= 0 && ids[i] < 30522);
                free(ids);
        }
        socfw_tokenizer_free(tok);
}

/* 100 kB inputs and 100k-long runs of one character: the merge loops are
 * O(n log n), so these take milliseconds; a quadratic loop would take
 * minutes.  The bound is deliberately loose. */
static void
long_inputs(socfw_tokenizer *tok, const char *what)
{
        static const char *const units[] = {
                "a", " ", "\n", "1", "\xc3\xa9", "\xe4\xb8\xad",
                "\xf0\x9f\x98\x80", "!", "\xff",
        };
        const size_t reps = 100000;
        for (size_t u = 0; u < sizeof units / sizeof *units; u++) {
                size_t ul = strlen(units[u]);
                char *s = malloc(reps * ul);
                for (size_t i = 0; i < reps; i++)
                        memcpy(s + i * ul, units[u], ul);
                int32_t *ids = NULL;
                size_t n = 0;
                double t0 = now_sec();
                cr_assert_eq(socfw_tokenizer_encode(tok, s, reps * ul, 0, &ids,
                                                    &n, NULL), 0);
                double dt = now_sec() - t0;
                cr_log_info("%s: %zu x \"%s\" -> %zu tokens in %.3f s", what,
                            reps, u == 8 ? "\\xff" : units[u], n, dt);
                cr_expect_lt(dt, 5.0, "%s: %zu repeats of unit %zu took "
                             "%.2f s", what, reps, u, dt);
                /* BERT drops whitespace and invalid bytes entirely */
                if (u != 1 && u != 2 && u != 8)
                        cr_expect_gt(n, 0, "%s: unit %zu gave no tokens",
                                     what, u);
                free(ids);
                free(s);
        }
        /* 100 kB of random printable text with spaces */
        size_t len = 100 * 1024;
        char *s = malloc(len);
        for (size_t i = 0; i < len; i++)
                s[i] = (rnd() % 6 == 0) ? ' ' : (char)('a' + rnd() % 26);
        int32_t *ids = NULL;
        size_t n = 0;
        double t0 = now_sec();
        cr_assert_eq(socfw_tokenizer_encode(tok, s, len, 0, &ids, &n, NULL),
                     0);
        double dt = now_sec() - t0;
        cr_log_info("%s: 100 kB text -> %zu tokens in %.3f s", what, n, dt);
        cr_expect_lt(dt, 5.0);
        free(ids);
        free(s);
}

Test(tokenizer_robust, long_inputs_bpe, .timeout = 120)
{
        char path[4096];
        SOCFW_TEST_NEED_SHARED(path, "models/vocab/ggml-vocab-gpt-2.gguf");
        socfw_tokenizer *tok = load_or_fail(path);
        long_inputs(tok, "gpt-2");
        socfw_tokenizer_free(tok);
}

Test(tokenizer_robust, long_inputs_spm, .timeout = 120)
{
        char path[4096];
        SOCFW_TEST_NEED_SHARED(path, "models/vocab/ggml-vocab-llama-spm.gguf");
        socfw_tokenizer *tok = load_or_fail(path);
        long_inputs(tok, "llama-spm");
        socfw_tokenizer_free(tok);
}

Test(tokenizer_robust, long_inputs_wordpiece, .timeout = 120)
{
        char path[4096];
        SOCFW_TEST_NEED_SHARED(path, "models/vocab/ggml-vocab-bert-bge.gguf");
        socfw_tokenizer *tok = load_or_fail(path);
        long_inputs(tok, "bert-bge");
        socfw_tokenizer_free(tok);
}

Test(tokenizer_robust, long_inputs_in_memory, .timeout = 120)
{
        socfw_tokenizer *tok = tiny_bpe();
        long_inputs(tok, "tiny-bpe");
        socfw_tokenizer_free(tok);
}

/* ---- file formats: pair merges, malformed files ---- */

static void
write_str(const char *dir, const char *name, const char *s)
{
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", dir, name);
        cr_assert_eq(socfw_test_write_file(path, s, strlen(s)), 0);
}

Test(tokenizer_files, tokenizer_json_with_pair_merges, .timeout = 30)
{
        char dir[4096];
        cr_assert_not_null(socfw_test_tmpdir(dir, sizeof dir));
        /* bytes a, b, c, space (Ġ) + merges as ["a","b"] pairs */
        write_str(dir, "tokenizer.json",
                  "{\"version\": \"1.0\", \"added_tokens\": [{\"id\": 8, "
                  "\"content\": \"<|eot|>\", \"special\": true}],"
                  "\"pre_tokenizer\": {\"type\": \"ByteLevel\", "
                  "\"add_prefix_space\": false, \"use_regex\": true},"
                  "\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, "
                  "\"b\": 1, \"c\": 2, \"\\u0120\": 3, \"ab\": 4, "
                  "\"abc\": 5, \"\\u0120a\": 6, \"\\u0120abc\": 7},"
                  "\"merges\": [[\"a\", \"b\"], [\"ab\", \"c\"], "
                  "[\"\\u0120\", \"a\"], [\"\\u0120a\", \"bc\"], "
                  "\"\\u0120a b\"]}}");
        socfw_tokenizer *tok = load_or_fail(dir);
        int32_t *ids = NULL;
        size_t n = 0;
        const char *s = "abc abc<|eot|>";
        cr_assert_eq(socfw_tokenizer_encode(tok, s, strlen(s),
                                            SOCFW_TOKENIZER_PARSE_SPECIAL,
                                            &ids, &n, NULL), 0);
        /* " abc": Ġa (rank 2) first? no: a b (rank 0) wins -> Ġ ab ->
         * ab c (rank 1) -> Ġ abc; no merge (Ġ, abc) -> 3 5 */
        int32_t want[] = { 5, 3, 5, 8 };
        cr_assert_eq(n, 4, "got %zu ids", n);
        cr_expect_arr_eq(ids, want, sizeof want);
        free(ids);
        socfw_tokenizer_free(tok);
}

Test(tokenizer_files, malformed_files_are_errors, .timeout = 30)
{
        char dir[4096], path[4200];
        socfw_tokenizer *tok = NULL;
        socfw_error err = {0};
        cr_assert_not_null(socfw_test_tmpdir(dir, sizeof dir));
        write_str(dir, "tokenizer.json", "{\"model\": {\"type\": \"BPE\", ");
        cr_expect_eq(socfw_tokenizer_load(&tok, dir, &err), SOCFW_EFORMAT);
        cr_expect_null(tok);
        cr_expect(strstr(err.file, "tokenizer.json") != NULL, "%s", err.file);
        socfw_error_clear(&err);
        write_str(dir, "tokenizer.json", "{\"model\": {\"type\": \"Unigram\", "
                  "\"vocab\": []}}");
        cr_expect_eq(socfw_tokenizer_load(&tok, dir, &err),
                     SOCFW_EUNSUPPORTED);
        cr_expect(strstr(err.message, "Unigram") != NULL, "%s", err.message);
        socfw_error_clear(&err);
        write_str(dir, "tokenizer.json", "{\"model\": {\"type\": \"BPE\", "
                  "\"vocab\": {\"a\": -3}, \"merges\": []}}");
        cr_expect_eq(socfw_tokenizer_load(&tok, dir, &err), SOCFW_EFORMAT);
        socfw_error_clear(&err);
        /* vocab.json + a merges.txt line without a space */
        char d2[4096];
        cr_assert_not_null(socfw_test_tmpdir(d2, sizeof d2));
        write_str(d2, "vocab.json", "{\"a\": 0, \"b\": 1}");
        write_str(d2, "merges.txt", "#version: 0.2\na b\nab\n");
        cr_expect_eq(socfw_tokenizer_load(&tok, d2, &err), SOCFW_EFORMAT);
        cr_expect_eq(err.line, 3);
        socfw_error_clear(&err);
        /* empty vocab.txt */
        char d3[4096];
        cr_assert_not_null(socfw_test_tmpdir(d3, sizeof d3));
        write_str(d3, "vocab.txt", "");
        cr_expect_eq(socfw_tokenizer_load(&tok, d3, &err), SOCFW_EFORMAT);
        socfw_error_clear(&err);
        /* an empty directory */
        char d4[4096];
        cr_assert_not_null(socfw_test_tmpdir(d4, sizeof d4));
        cr_expect_eq(socfw_tokenizer_load(&tok, d4, &err), SOCFW_ENOTFOUND);
        socfw_error_clear(&err);
        /* truncated GGUFs: every cut is an error, never a crash */
        char src[4096];
        if (!socfw_test_shared(src, sizeof src,
                               "models/vocab/ggml-vocab-llama-spm.gguf"))
                return;
        size_t len = 0;
        char *data = socfw_test_read_file(src, &len);
        cr_assert_not_null(data);
        snprintf(path, sizeof path, "%s/cut.gguf", dir);
        size_t cuts[] = { 4, 10, 24, 100, 1000, len / 3, len / 2, len - 1 };
        for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
                cr_assert_eq(socfw_test_write_file(path, data, cuts[i]), 0);
                socfw_error_clear(&err);
                int rc = socfw_tokenizer_load(&tok, path, &err);
                cr_expect_lt(rc, 0, "cut at %zu loaded", cuts[i]);
                cr_expect_null(tok);
                socfw_tokenizer_free(tok);
                tok = NULL;
        }
        free(data);
}

/* SentencePiece exported as tokenizer.json (Llama HF layout): BPE with
 * byte_fallback, run with the SPM algorithm. */
Test(tokenizer_files, llama_style_tokenizer_json, .timeout = 30)
{
        char dir[4096];
        cr_assert_not_null(socfw_test_tmpdir(dir, sizeof dir));
        write_str(dir, "tokenizer.json",
                  "{\"added_tokens\": ["
                  "{\"id\": 0, \"content\": \"<unk>\", \"special\": true},"
                  "{\"id\": 1, \"content\": \"<s>\", \"special\": true},"
                  "{\"id\": 2, \"content\": \"</s>\", \"special\": true}],"
                  "\"normalizer\": {\"type\": \"Sequence\", \"normalizers\": ["
                  "{\"type\": \"Prepend\", \"prepend\": \"\\u2581\"},"
                  "{\"type\": \"Replace\", \"pattern\": {\"String\": \" \"},"
                  " \"content\": \"\\u2581\"}]},"
                  "\"pre_tokenizer\": null,"
                  "\"post_processor\": {\"type\": \"TemplateProcessing\", "
                  "\"single\": [{\"SpecialToken\": {\"id\": \"<s>\", "
                  "\"type_id\": 0}}, {\"Sequence\": {\"id\": \"A\", "
                  "\"type_id\": 0}}]},"
                  "\"model\": {\"type\": \"BPE\", \"byte_fallback\": true, "
                  "\"unk_token\": \"<unk>\", \"vocab\": {\"<unk>\": 0, "
                  "\"<s>\": 1, \"</s>\": 2, \"<0x0A>\": 3, \"<0x21>\": 4, "
                  "\"\\u2581\": 5, \"h\": 6, \"i\": 7, \"\\u2581h\": 8, "
                  "\"\\u2581hi\": 9, \"hi\": 10},"
                  "\"merges\": [\"\\u2581 h\", \"h i\", \"\\u2581h i\"]}}");
        socfw_tokenizer *tok = load_or_fail(dir);
        cr_expect_eq(socfw_tokenizer_get_kind(tok), SOCFW_TOKENIZER_SPM);
        cr_expect_eq(socfw_tokenizer_special_id(tok, SOCFW_TOKENIZER_BOS), 1);
        cr_expect_eq(socfw_tokenizer_token_type(tok, 3), SOCFW_TOKEN_BYTE);
        int32_t *ids = NULL;
        size_t n = 0;
        const char *s = "hi hi\n";
        cr_assert_eq(socfw_tokenizer_encode(tok, s, strlen(s),
                                            SOCFW_TOKENIZER_ADD_SPECIAL, &ids,
                                            &n, NULL), 0);
        /* "▁hi▁hi\n": ▁h (rank 0) twice, then ▁hi (rank 2); "\n" has no
         * token and falls back to <0x0A> */
        int32_t want[] = { 1, 9, 9, 3 };
        cr_assert_eq(n, 4, "got %zu ids", n);
        cr_expect_arr_eq(ids, want, sizeof want);
        char *text = NULL;
        cr_assert_eq(socfw_tokenizer_decode(tok, ids, n,
                                            SOCFW_TOKENIZER_SKIP_SPECIAL,
                                            &text, NULL, NULL), 0);
        cr_expect_str_eq(text, s);
        free(text);
        free(ids);
        socfw_tokenizer_free(tok);
}

/* The pre-tokenizer pattern decides what can merge: Llama-3 cuts digits
 * into groups of three, GPT-2 keeps "12345" whole. */
Test(tokenizer_memory, pretokenizer_pattern_matters)
{
        static char bytes[256][3];
        const char *tokens[260];
        for (unsigned b = 0; b < 256; b++) {
                byte_spelling(b, bytes[b]);
                tokens[b] = bytes[b];
        }
        tokens[256] = "12";
        tokens[257] = "123";
        tokens[258] = "34";
        tokens[259] = "45";
        const char *merges[] = { "3 4", "1 2", "12 3", "4 5" };
        const char *patterns[] = { NULL, SOCFW_TOKENIZER_PATTERN_LLAMA3 };
        int32_t want[2][3] = { { 256, 258, '5' }, { 257, 259, -1 } };
        size_t nwant[2] = { 3, 2 };
        for (int k = 0; k < 2; k++) {
                socfw_tokenizer_spec spec;
                socfw_tokenizer_spec_init(&spec, SOCFW_TOKENIZER_BPE);
                spec.n_tokens = 260;
                spec.tokens = tokens;
                spec.n_merges = 4;
                spec.merges = merges;
                spec.pattern = patterns[k];
                socfw_tokenizer *tok = NULL;
                socfw_error err = {0};
                cr_assert_eq(socfw_tokenizer_new(&tok, &spec, &err), 0, "%s",
                             err.message);
                int32_t *ids = NULL;
                size_t n = 0;
                cr_assert_eq(socfw_tokenizer_encode(tok, "12345", 5, 0, &ids,
                                                    &n, NULL), 0);
                cr_assert_eq(n, nwant[k], "pattern %d: %zu ids", k, n);
                cr_expect_arr_eq(ids, want[k], n * sizeof *ids);
                free(ids);
                socfw_tokenizer_free(tok);
        }
}
