/* tests/test_cli_model.c - `socfw tokenize`, `socfw generate` and
 * `socfw logits` end to end: ids against llama.cpp's tokenizer conformance
 * files, greedy generation with stories260K, logits and pooled outputs
 * against the PyTorch references of tests/fixtures/arch, exit codes and
 * messages.  Tests that need ../shared skip visibly without it. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_arch_util.h"
#include "testutil.h"

TestSuite(cli_model, .timeout = 60);

/* Run `socfw ARGS` (a shell fragment) from the build tree; stdout and
 * stderr in *out (caller frees).  Returns the exit status. */
static int
socfw(char **out, const char *args)
{
        char cmd[8192];
        int status;
        snprintf(cmd, sizeof cmd, "%s/socfw %s", socfw_test_builddir(), args);
        *out = socfw_test_run(cmd, &status);
        cr_assert_not_null(*out);
        return status;
}

/* Same with printf-style arguments. */
static int
socfwf(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int
socfwf(char **out, const char *fmt, ...)
{
        char args[8192];
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(args, sizeof args, fmt, ap);
        va_end(ap);
        cr_assert(n > 0 && (size_t)n < sizeof args);
        return socfw(out, args);
}

static const char *
fixture(const char *name)
{
        static char buf[4][4096];
        static int k;
        k = (k + 1) % 4;
        return arch_fixture_dir(buf[k], sizeof buf[k], name);
}

/* Parse one number per line; every line must be a number.  Returns a
 * malloc'ed array and its length in *n. */
static float *
parse_values(const char *text, size_t *n)
{
        size_t cap = 64, k = 0;
        float *v = malloc(cap * sizeof *v);
        cr_assert_not_null(v);
        const char *p = text;
        while (*p) {
                char *end;
                double d = strtod(p, &end);
                cr_assert(end != p && (*end == '\n'),
                          "not a number line at \"%.60s\"", p);
                if (k == cap) {
                        cap *= 2;
                        v = realloc(v, cap * sizeof *v);
                        cr_assert_not_null(v);
                }
                v[k++] = (float)d;
                p = end + 1;
        }
        *n = k;
        return v;
}

static size_t
argmax(const float *v, size_t n)
{
        size_t best = 0;
        for (size_t i = 1; i < n; i++)
                if (v[i] > v[best])
                        best = i;
        return best;
}

/* ---- tokenize ------------------------------------------------------------ */

Test(cli_model, tokenize_stories260K_known_ids)
{
        char path[4096];
        SOCFW_TEST_NEED_SHARED(path, "models/stories260K.gguf");
        char *out;
        /* BOS (1) is added as Llama does; the word ids are those that
         * `logits` below predicts ("upon" after "Once") */
        cr_assert_eq(socfwf(&out, "tokenize --model '%s' Once upon a time",
                            path), 0, "%s", out);
        cr_assert_str_eq(out, "1 403 407 261 378\n");
        free(out);
        cr_assert_eq(socfwf(&out, "tokenize --no-special -m '%s' "
                                  "'Once upon a time'", path), 0);
        cr_assert_str_eq(out, "403 407 261 378\n");
        free(out);
        cr_assert_eq(socfwf(&out, "tokenize --pieces -m '%s' 'Once upon'",
                            path), 0);
        cr_assert_str_eq(out, "1\t<s>\n403\t Once\n407\t upon\n");
        free(out);
}

Test(cli_model, tokenize_reads_stdin)
{
        char path[4096], tmp[4096], file[4200];
        SOCFW_TEST_NEED_SHARED(path, "models/stories260K.gguf");
        cr_assert_not_null(socfw_test_tmpdir(tmp, sizeof tmp));
        snprintf(file, sizeof file, "%s/in.txt", tmp);
        cr_assert_eq(socfw_test_write_file(file, "Once upon\n", 10), 0);
        char *out;
        cr_assert_eq(socfwf(&out, "tokenize -m '%s' --pieces - < '%s'", path,
                            file), 0, "%s", out);
        /* the newline is kept: <0x0A> is a byte token, shown escaped */
        cr_assert(strncmp(out, "1\t<s>\n403\t Once\n407\t upon\n", 26) == 0,
                  "%s", out);
        cr_assert(strstr(out, "\t\\n\n"), "newline piece not escaped: %s",
                  out);
        free(out);
}

/* Case `idx` of llama.cpp's conformance files for vocabulary `vocab`:
 * the text (caller frees, *len bytes) and the expected ids line without
 * its leading space (caller frees). */
static void
conformance_case(const char *vocab, int idx, char **text, size_t *len,
                 char **ids)
{
        char rel[256], path[4096];
        snprintf(rel, sizeof rel, "models/vocab/ggml-vocab-%s.gguf.inp",
                 vocab);
        cr_assert(socfw_test_shared(path, sizeof path, rel));
        char *inp = socfw_test_read_file(path, NULL);
        snprintf(rel, sizeof rel, "models/vocab/ggml-vocab-%s.gguf.out",
                 vocab);
        cr_assert(socfw_test_shared(path, sizeof path, rel));
        char *outf = socfw_test_read_file(path, NULL);
        cr_assert(inp && outf);
        static const char sep[] = "\n__ggml_vocab_test__\n";
        const char *p = inp;
        for (int i = 0; i < idx; i++) {
                p = strstr(p, sep);
                cr_assert_not_null(p, "%s.inp has fewer than %d cases",
                                   vocab, idx + 1);
                p += sizeof sep - 1;
        }
        const char *e = strstr(p, sep);
        cr_assert_not_null(e);
        *len = (size_t)(e - p);
        *text = strndup(p, *len);
        const char *q = outf;
        for (int i = 0; i < idx; i++) {
                q = strchr(q, '\n');
                cr_assert_not_null(q);
                q++;
        }
        while (*q == ' ')
                q++;
        *ids = strndup(q, strcspn(q, "\n"));
        cr_assert(*text && *ids);
        free(inp);
        free(outf);
}

/* Tokenize case `idx` through a file on standard input and compare. */
static void
check_conformance(const char *model, const char *flags, const char *vocab,
                  int idx)
{
        char *text, *want, tmp[4096], file[4200];
        size_t len;
        conformance_case(vocab, idx, &text, &len, &want);
        cr_assert_not_null(socfw_test_tmpdir(tmp, sizeof tmp));
        snprintf(file, sizeof file, "%s/case%d.txt", tmp, idx);
        cr_assert_eq(socfw_test_write_file(file, text, len), 0);
        char *out;
        cr_assert_eq(socfwf(&out, "tokenize -m '%s' %s - < '%s'", model,
                            flags, file), 0, "%s", out);
        size_t ol = strlen(out);
        cr_assert(ol > 0 && out[ol - 1] == '\n', "%s", out);
        out[ol - 1] = '\0';
        cr_expect_str_eq(out, want, "%s case %d \"%s\": got \"%s\", want "
                                    "\"%s\"",
                         vocab, idx, text, out, want);
        free(out);
        free(text);
        free(want);
}

/* "Hello world", " this is 🦙.cpp", emoji sequences, newlines and spaces,
 * mixed scripts with CJK: cases of the .inp files. */
static const int conformance_idx[] = {11, 18, 28, 32};

Test(cli_model, tokenize_fake_gpt2_matches_conformance)
{
        char dir[4096], st[4096];
        SOCFW_TEST_NEED_SHARED(dir, "models/hf/fake_gpt2");
        SOCFW_TEST_NEED_SHARED(st, "models/hf/fake_gpt2/model.safetensors");
        /* GPT-2 adds no BOS, so the default equals llama.cpp's ids */
        for (size_t i = 0; i < sizeof conformance_idx / sizeof(int); i++)
                check_conformance(dir, "", "gpt-2", conformance_idx[i]);
        /* a file of the model directory finds the directory's tokenizer */
        check_conformance(st, "", "gpt-2", 16);
        /* and special token strings are recognised */
        char *out;
        cr_assert_eq(socfwf(&out, "tokenize -m '%s' 'Hello<|endoftext|>'",
                            dir), 0, "%s", out);
        cr_assert_str_eq(out, "15496 50256\n");
        free(out);
        cr_assert_eq(socfwf(&out, "tokenize --no-parse-special -m '%s' "
                                  "'<|endoftext|>'", dir), 0, "%s", out);
        cr_assert_neq(strcmp(out, "50256\n"), 0, "%s", out);
        free(out);
}

Test(cli_model, tokenize_gguf_vocabularies_match_conformance)
{
        char spm[4096], bge[4096];
        SOCFW_TEST_NEED_SHARED(spm, "models/vocab/ggml-vocab-llama-spm.gguf");
        SOCFW_TEST_NEED_SHARED(bge, "models/vocab/ggml-vocab-bert-bge.gguf");
        for (size_t i = 0; i < sizeof conformance_idx / sizeof(int); i++) {
                check_conformance(spm, "--no-special", "llama-spm",
                                  conformance_idx[i]);
                check_conformance(bge, "--no-special", "bert-bge",
                                  conformance_idx[i]);
        }
        /* with specials: BOS for SPM, [CLS] ... [SEP] for BERT */
        char *out;
        cr_assert_eq(socfwf(&out, "tokenize -m '%s' Hello world", spm), 0);
        cr_assert_str_eq(out, "1 15043 3186\n");
        free(out);
        cr_assert_eq(socfwf(&out, "tokenize -m '%s' Hello world", bge), 0);
        cr_assert_str_eq(out, "101 7592 2088 102\n");
        free(out);
}

/* ---- generate ------------------------------------------------------------ */

Test(cli_model, generate_greedy_stories260K)
{
        char path[4096];
        SOCFW_TEST_NEED_SHARED(path, "models/stories260K.gguf");
        char *out;
        cr_assert_eq(socfwf(&out, "generate --model '%s' --temperature 0 "
                                  "--max-tokens 40 --threads 1", path),
                     0, "%s", out);
        const char *want = "Once upon a time, there was a little girl named "
                           "Lily";
        cr_log_info("socfw generate: %s", out);
        cr_assert(strncmp(out, want, strlen(want)) == 0, "got \"%s\"", out);
        size_t ol = strlen(out);
        cr_assert(ol > strlen(want) && out[ol - 1] == '\n');
        free(out);

        /* explicit empty prompt, a stop string (left out) and the stats
         * line on stderr */
        cr_assert_eq(socfwf(&out, "generate -m '%s' --prompt '' "
                                  "--temperature 0 --stop . --stats "
                                  "--threads 1 2>/dev/null", path), 0);
        cr_assert_str_eq(out, "Once upon a time, there was a little girl "
                              "named Lily\n");
        free(out);
        cr_assert_eq(socfwf(&out, "generate -m '%s' --temperature 0 -n 5 "
                                  "--stats --threads 1 >/dev/null", path), 0);
        cr_assert(strstr(out, "5 tokens in") && strstr(out, "tokens/s") &&
                          strstr(out, "stopped: max tokens"),
                  "%s", out);
        cr_assert(strstr(out, "resident memory") && strstr(out, "MiB"),
                  "%s", out);
        free(out);
        /* --dequantize changes nothing for a float32 file */
        cr_assert_eq(socfwf(&out, "generate -m '%s' --prompt '' "
                                  "--temperature 0 --stop . --dequantize "
                                  "--threads 1 2>/dev/null", path), 0);
        cr_assert_str_eq(out, "Once upon a time, there was a little girl "
                              "named Lily\n");
        free(out);

        /* a prompt: its BOS is added, only the continuation is printed */
        cr_assert_eq(socfwf(&out, "generate -m '%s' --prompt 'Once upon a "
                                  "time' --temperature 0 -n 8 --threads 1",
                            path), 0, "%s", out);
        cr_assert(strncmp(out, ", there was a little girl", 25) == 0, "%s",
                  out);
        free(out);
}

Test(cli_model, generate_sampling_is_seeded)
{
        char path[4096];
        SOCFW_TEST_NEED_SHARED(path, "models/stories260K.gguf");
        char *a, *b, *c;
#define SAMPLED "generate -m '%s' --temperature 1.5 --top-k 0 --top-p 1 " \
                "--min-p 0 --repetition-penalty 1.1 --seed %d -n 30 "      \
                "--threads 1"
        cr_assert_eq(socfwf(&a, SAMPLED, path, 11), 0, "%s", a);
        cr_assert_eq(socfwf(&b, SAMPLED, path, 11), 0, "%s", b);
        cr_assert_eq(socfwf(&c, SAMPLED, path, 12), 0, "%s", c);
#undef SAMPLED
        cr_assert_str_eq(a, b);
        cr_assert_str_neq(a, c, "seeds 11 and 12 gave \"%s\"", a);
        cr_assert_gt(strlen(a), 10);
        free(a);
        free(b);
        free(c);
}

Test(cli_model, generate_refuses_an_encoder)
{
        char *out;
        cr_assert_eq(socfwf(&out, "generate -m '%s' --prompt hi",
                            fixture("bert")), 1, "%s", out);
        cr_assert(strstr(out, "needs a decoder") && strstr(out, "bert"),
                  "%s", out);
        free(out);
}

/* ---- logits -------------------------------------------------------------- */

Test(cli_model, logits_stories260K)
{
        char path[4096];
        SOCFW_TEST_NEED_SHARED(path, "models/stories260K.gguf");
        char *out;
        cr_assert_eq(socfwf(&out, "logits --model '%s' --ids '1 403' "
                                  "--threads 1", path), 0, "%s", out);
        size_t n;
        float *v = parse_values(out, &n);
        cr_assert_eq(n, 512);
        /* after "<s> Once" the model says " upon" (id 407) */
        cr_assert_eq(argmax(v, n), 407);
        free(v);
        free(out);
        /* commas work as separators too */
        cr_assert_eq(socfwf(&out, "logits -m '%s' --ids 1,403,407", path),
                     0);
        v = parse_values(out, &n);
        cr_assert_eq(n, 512);
        cr_assert_eq(argmax(v, n), 261, "after 'Once upon': %zu",
                     argmax(v, n));
        free(v);
        free(out);
}

/* Run `logits` on the first `len` ids of row `b` of the fixture's input and
 * compare the printed values with `want` (n values). */
static void
check_fixture_values(const char *fx, const int32_t *ids, size_t len,
                     const float *want, size_t n, double tol)
{
        char list[1024];
        size_t k = 0;
        for (size_t i = 0; i < len; i++)
                k += (size_t)snprintf(list + k, sizeof list - k, "%s%d",
                                      i ? " " : "", (int)ids[i]);
        cr_assert_lt(k, sizeof list);
        char *out;
        cr_assert_eq(socfwf(&out, "logits -m '%s' --ids '%s' --threads 1",
                            fixture(fx), list), 0, "%s", out);
        size_t got;
        float *v = parse_values(out, &got);
        cr_assert_eq(got, n, "%s: %zu values, want %zu", fx, got, n);
        double d = arch_max_diff(v, want, n);
        cr_log_info("%s, %zu ids: max |socfw logits - torch| = %.3g", fx, len,
                    d);
        cr_expect_lt(d, tol * (1.0 + arch_max_abs(want, n)), "%s: %g", fx,
                     d);
        free(v);
        free(out);
}

Test(cli_model, logits_decoders_match_torch)
{
        static const char *const fxs[] = {"gpt2", "llama", "qwen2"};
        for (size_t f = 0; f < sizeof fxs / sizeof fxs[0]; f++) {
                socfw_modelfile *ref = arch_ref_open(fxs[f]);
                const socfw_tensor_info *ti = arch_ref_info(ref, "logits");
                size_t B = (size_t)ti->shape[0], T = (size_t)ti->shape[1],
                       V = (size_t)ti->shape[2];
                int32_t *ids = arch_ref_i32(ref, "input_ids", NULL);
                float *logits = arch_ref_f32(ref, "logits", NULL);
                /* the whole first row: its last position */
                check_fixture_values(fxs[f], ids, T,
                                     logits + (T - 1) * V, V, 1e-4);
                /* a prefix of the last row (causal: same logits) */
                size_t len = T / 2;
                check_fixture_values(fxs[f], ids + (B - 1) * T, len,
                                     logits + ((B - 1) * T + len - 1) * V, V,
                                     1e-4);
                free(ids);
                free(logits);
                socfw_modelfile_close(ref);
        }
}

Test(cli_model, logits_encoders_print_the_pooled_output)
{
        static const char *const fxs[] = {"bert", "roberta"};
        for (size_t f = 0; f < sizeof fxs / sizeof fxs[0]; f++) {
                socfw_modelfile *ref = arch_ref_open(fxs[f]);
                const socfw_tensor_info *ti = arch_ref_info(ref, "pooled");
                size_t B = (size_t)ti->shape[0], C = (size_t)ti->shape[1];
                size_t T = (size_t)arch_ref_info(ref, "input_ids")->shape[1];
                int32_t *ids = arch_ref_i32(ref, "input_ids", NULL);
                int32_t *mask = arch_ref_i32(ref, "attention_mask", NULL);
                float *pooled = arch_ref_f32(ref, "pooled", NULL);
                /* each row without its padding gives that row's pooled
                 * output */
                for (size_t b = 0; b < B; b++) {
                        size_t len = 0;
                        while (len < T && mask[b * T + len])
                                len++;
                        check_fixture_values(fxs[f], ids + b * T, len,
                                             pooled + b * C, C, 1e-4);
                }
                free(ids);
                free(mask);
                free(pooled);
                socfw_modelfile_close(ref);
        }
}

Test(cli_model, logits_encoder_without_pooler_prints_cls_state)
{
        char dir[4096];
        SOCFW_TEST_NEED_SHARED(dir, "models/hf/bert_tiniest");
        char *out;
        cr_assert_eq(socfwf(&out, "logits -m '%s' --ids '101 7592 102' -v "
                                  ">/dev/null", dir), 0, "%s", out);
        cr_assert(strstr(out, "no pooler") && strstr(out, "4 values"),
                  "%s", out);
        free(out);
        cr_assert_eq(socfwf(&out, "logits -m '%s' --ids '101 7592 102'",
                            dir), 0, "%s", out);
        size_t n;
        float *v = parse_values(out, &n);
        cr_assert_eq(n, 4, "hidden size of bert_tiniest is 4: %zu", n);
        free(v);
        free(out);
}

/* ---- errors -------------------------------------------------------------- */

Test(cli_model, usage_errors_exit_2)
{
        static const struct {
                const char *args;
                const char *msg;
        } cases[] = {
                {"tokenize hello", "missing --model"},
                {"tokenize -m x", "missing the TEXT"},
                {"tokenize --frob -m x hi", "bad option"},
                {"generate --prompt hi", "missing --model"},
                {"generate -m x --max-tokens lots", "--max-tokens"},
                {"generate -m x --max-tokens -1", "--max-tokens"},
                {"generate -m x --temperature -0.5", "--temperature"},
                {"generate -m x --temperature nan", "--temperature"},
                {"generate -m x --top-k 4x", "--top-k"},
                {"generate -m x --top-p 1.5", "--top-p"},
                {"generate -m x --min-p -1", "--min-p"},
                {"generate -m x --repetition-penalty 0", "--repetition-"
                                                        "penalty"},
                {"generate -m x --seed -4", "--seed"},
                {"generate -m x --threads many", "--threads"},
                {"generate -m x --stop ''", "--stop"},
                {"generate -m x stray", "unexpected argument 'stray'"},
                {"logits --ids 1", "missing --model"},
                {"logits -m x", "missing --ids"},
                {"logits -m x --ids ''", "no token ids"},
                {"logits -m x --ids '1 two 3'", "'two'"},
                {"logits -m x --ids '1 2.5'", "'2.5'"},
                {"logits -m x 1 2", "unexpected argument"},
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                char *out;
                int st = socfw(&out, cases[i].args);
                cr_expect_eq(st, 2, "'%s' exited %d: %s", cases[i].args, st,
                             out);
                cr_expect(strstr(out, cases[i].msg) &&
                                  strstr(out, "Try 'socfw help"),
                          "'%s': want \"%s\" in:\n%s", cases[i].args,
                          cases[i].msg, out);
                free(out);
        }
}

Test(cli_model, help_prints_usage)
{
        static const char *const cmds[] = {"tokenize", "generate", "logits"};
        for (size_t i = 0; i < 3; i++) {
                char *out, want[64];
                cr_assert_eq(socfwf(&out, "%s --help", cmds[i]), 0);
                snprintf(want, sizeof want, "Usage: socfw %s --model PATH",
                         cmds[i]);
                cr_expect(strncmp(out, want, strlen(want)) == 0, "%s", out);
                free(out);
        }
}

Test(cli_model, bad_model_path_exits_1_naming_it)
{
        static const char *const cmd[][2] = {
                {"tokenize", "hello"},
                {"generate", ""},
                {"logits", "--ids 1"},
        };
        const char *bad = "/nonexistent/socfw-test/model.gguf";
        for (size_t i = 0; i < 3; i++) {
                char *out;
                int st = socfwf(&out, "%s -m '%s' %s", cmd[i][0], bad,
                                cmd[i][1]);
                cr_expect_eq(st, 1, "%s: %d %s", cmd[i][0], st, out);
                cr_expect(strstr(out, bad), "%s: path not named: %s",
                          cmd[i][0], out);
                free(out);
        }
        /* a file that is not a model: the loader's message names it */
        char readme[4096];
        socfw_test_path(readme, sizeof readme, socfw_test_srcdir(), "README");
        char *out;
        cr_assert_eq(socfwf(&out, "logits -m '%s' --ids 1", readme), 1);
        cr_assert(strstr(out, readme), "%s", out);
        free(out);
}

Test(cli_model, out_of_range_ids_exit_1_naming_the_id)
{
        /* the GPT-2 fixture has a vocabulary of 96 */
        char *out;
        cr_assert_eq(socfwf(&out, "logits -m '%s' --ids '5 96 7'",
                            fixture("gpt2")), 1, "%s", out);
        cr_assert(strstr(out, "token id 96 ") &&
                          strstr(out, "from 0 to 95"),
                  "%s", out);
        free(out);
        cr_assert_eq(socfwf(&out, "logits -m '%s' --ids '-3'",
                            fixture("bert")), 1, "%s", out);
        cr_assert(strstr(out, "token id -3 "), "%s", out);
        free(out);
        /* more ids than positions (16) */
        cr_assert_eq(socfwf(&out, "logits -m '%s' --ids '%s'",
                            fixture("gpt2"),
                            "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17"),
                     1, "%s", out);
        cr_assert(strstr(out, "17 ids") && strstr(out, "16"), "%s", out);
        free(out);
}
