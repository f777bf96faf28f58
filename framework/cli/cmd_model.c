/* cmd_model.c - `socfw tokenize`, `socfw generate`, `socfw logits`: tools
 * for looking at a backbone directly, without a pipeline.
 *
 *   socfw tokenize --model models/gpt2 "Hello world"      -> 15496 995
 *   socfw generate --model stories260K.gguf --temperature 0 --max-tokens 40
 *   socfw logits --model stories260K.gguf --ids "1 403"   -> 512 lines
 *
 * Each command prints its own usage with --help (the same text as
 * `socfw help COMMAND`).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "cli/cli.h"
#include "socfw/generate.h"
#include "socfw/hub.h"
#include "socfw/io.h"
#include "socfw/log.h"
#include "socfw/model.h"
#include "socfw/peft.h"
#include "socfw/modelfile.h"
#include "socfw/sampler.h"
#include "socfw/threads.h"
#include "socfw/tokenizer.h"

/* Caps on what a command line or standard input may make us allocate. */
#define MAX_STDIN_BYTES (64u << 20)
#define MAX_IDS (1 << 20)
#define MAX_STOPS 64
#define MAX_GEN_TOKENS 1000000L

/* ---- usage texts --------------------------------------------------------- */

static const char tokenize_usage[] =
        "Usage: socfw tokenize --model PATH [--no-special]\n"
        "                      [--no-parse-special] [--pieces] TEXT...\n"
        "\n"
        "Print the token ids of TEXT (the arguments joined by single spaces;\n"
        "- reads standard input, byte for byte) on one line, separated by\n"
        "spaces.  PATH is a .gguf file or a Hugging Face directory (or a file\n"
        "in it) with tokenizer.json, vocab.json + merges.txt, or vocab.txt.\n"
        "Special tokens are added as the model does (BOS for Llama, [CLS] and\n"
        "[SEP] for BERT), and special token strings in TEXT such as\n"
        "<|endoftext|> are recognised.\n"
        "\n"
        "  -m, --model PATH      the model (or tokenizer) to use\n"
        "  --no-special          do not add BOS/EOS/[CLS]/[SEP]\n"
        "  --no-parse-special    tokenize special token strings as plain text\n"
        "  -p, --pieces          one token per line: ID<TAB>PIECE, with the\n"
        "                        piece's control characters and stray bytes\n"
        "                        escaped (\\n, \\t, \\xNN)\n";

static const char generate_usage[] =
        "Usage: socfw generate --model PATH [--prompt TEXT] [--max-tokens N]\n"
        "                      [--temperature T] [--top-k K] [--top-p P]\n"
        "                      [--min-p P] [--repetition-penalty R]\n"
        "                      [--seed S] [--stop STR]... [--threads N]\n"
        "                      [--stats] [--adapter DIR] [--dequantize]\n"
        "\n"
        "Continue the prompt with a decoder model (GPT-2, Llama, Qwen2: a\n"
        ".gguf file or a Hugging Face directory) and stream the generated\n"
        "text to standard output as it comes, with a newline at the end.  The\n"
        "prompt gets the model's BOS token when the model wants one; an empty\n"
        "prompt starts from BOS.  Generation stops at N tokens, at the end of\n"
        "text token, at a stop string (left out of the output), at the\n"
        "context length, or on Ctrl-C.\n"
        "\n"
        "  -m, --model PATH           the model\n"
        "  --adapter DIR              run it with this adapter (a PEFT\n"
        "                             directory: LoRA, IA3, or socfw's\n"
        "                             bottleneck; OUTPUT/adapters/<task>)\n"
        "  --prompt TEXT              text to continue (default empty;\n"
        "                             - reads standard input)\n"
        "  -n, --max-tokens N         at most N new tokens (default 64;\n"
        "                             0 = until end of text or context)\n"
        "  --temperature T            0 = greedy (default 0.8)\n"
        "  --top-k K                  keep the K likeliest tokens\n"
        "                             (default 40, 0 = all)\n"
        "  --top-p P                  nucleus sampling mass (default 0.95,\n"
        "                             1 = off)\n"
        "  --min-p P                  drop tokens below P x the best one's\n"
        "                             probability (default 0.05, 0 = off)\n"
        "  --repetition-penalty R     > 1 discourages repeating the last 64\n"
        "                             tokens (default 1 = off)\n"
        "  --seed S                   random seed (default 42)\n"
        "  --stop STR                 stop when STR appears (repeatable)\n"
        "  --threads N                worker threads (0 = all cores)\n"
        "  --dequantize               convert quantised / half-precision\n"
        "                             weights to float32 on load (by\n"
        "                             default they stay in the file's\n"
        "                             format, memory-mapped; always with\n"
        "                             --adapter)\n"
        "  -v, --stats                print token counts, tokens/s and\n"
        "                             resident memory to standard error\n";

static const char logits_usage[] =
        "Usage: socfw logits --model PATH --ids \"I1 I2 ...\" [--threads N]\n"
        "                    [--adapter DIR] [--dequantize]\n"
        "\n"
        "Run the model on the token ids and print its output, one value per\n"
        "line (%.6g): for a decoder (GPT-2, Llama, Qwen2) the logits of the\n"
        "last position (vocabulary size lines); for an encoder (BERT,\n"
        "RoBERTa) the pooled output, or the first token's last hidden state\n"
        "when the model has no pooler (hidden size lines).  Ids are\n"
        "separated by spaces or commas and must lie in [0, vocabulary size).\n"
        "\n"
        "  -m, --model PATH   the model (.gguf file or Hugging Face\n"
        "                     directory)\n"
        "  --ids \"I1 I2 ...\"  the token ids\n"
        "  --adapter DIR      run the model with this adapter\n"
        "  --threads N        worker threads (0 = all cores)\n"
        "  --dequantize       convert the weights to float32 on load\n"
        "  -v, --verbose      say on standard error what was printed\n";

/* ---- shared helpers ------------------------------------------------------ */

/* Parse an integer option; on error prints a usage error naming `opt` and
 * returns CLI_USAGE. */
static int
parse_long(const char *cmd, const char *opt, const char *s, long min,
           long max, long *out)
{
        char *end;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (end == s || *end || errno || v < min || v > max)
                return cli_usage(cmd, "%s: expected an integer from %ld to "
                                      "%ld, got '%s'",
                                 opt, min, max, s);
        *out = v;
        return 0;
}

static int
parse_float(const char *cmd, const char *opt, const char *s, double min,
            double max, float *out)
{
        char *end;
        errno = 0;
        double v = strtod(s, &end);
        if (end == s || *end || errno || !isfinite(v) || v < min || v > max)
                return cli_usage(cmd, "%s: expected a number from %g to %g, "
                                      "got '%s'",
                                 opt, min, max, s);
        *out = (float)v;
        return 0;
}

static int
parse_seed(const char *cmd, const char *s, uint64_t *out)
{
        char *end;
        errno = 0;
        const char *p = s;
        while (*p == ' ')
                p++;
        unsigned long long v = strtoull(p, &end, 10);
        if (*p == '-' || end == p || *end || errno)
                return cli_usage(cmd, "--seed: expected an integer from 0 to "
                                      "%llu, got '%s'",
                                 (unsigned long long)UINT64_MAX, s);
        *out = (uint64_t)v;
        return 0;
}

/* Apply --threads (or the global --threads) when one was given. */
static void
apply_threads(int threads)
{
        if (threads > 0)
                socfw_threads_set(threads);
        else if (cli_g.threads > 0)
                socfw_threads_set(cli_g.threads);
}

/* Read all of standard input (capped).  Returns a malloc'ed NUL-terminated
 * buffer (caller frees) or NULL after printing why. */
static char *
read_stdin(size_t *len)
{
        size_t cap = 4096, n = 0;
        char *buf = malloc(cap);
        if (!buf) {
                cli_errorf("out of memory");
                return NULL;
        }
        for (;;) {
                if (n + 1 >= cap) {
                        if (cap >= MAX_STDIN_BYTES) {
                                cli_errorf("standard input: more than %u "
                                           "bytes (hint: pass a shorter "
                                           "text)",
                                           MAX_STDIN_BYTES);
                                free(buf);
                                return NULL;
                        }
                        char *nb = realloc(buf, cap * 2);
                        if (!nb) {
                                cli_errorf("out of memory");
                                free(buf);
                                return NULL;
                        }
                        buf = nb;
                        cap *= 2;
                }
                size_t got = fread(buf + n, 1, cap - 1 - n, stdin);
                n += got;
                if (got == 0)
                        break;
        }
        if (ferror(stdin)) {
                cli_errorf("standard input: read error");
                free(buf);
                return NULL;
        }
        buf[n] = '\0';
        *len = n;
        return buf;
}

/* A "hub:ORG/NAME" model is the directory (or .gguf) `socfw pull` left in
 * the cache: *owned (caller frees) holds it, else NULL and `path` stays. */
static int
hub_path(const char **path, char **owned, socfw_error *err)
{
        *owned = NULL;
        if (strncmp(*path, "hub:", 4) != 0)
                return 0;
        int rc = socfw_hub_resolve(*path, NULL, owned, err);
        if (rc == 0)
                *path = *owned;
        return rc;
}

/* The tokenizer of the model at `path`: the path itself (a .gguf file, a
 * directory, a tokenizer file), else the directory of a file such as
 * model.safetensors, else `alt` (may be NULL: the .gguf file a directory
 * holds).  On failure `err` tells about `path` (or its directory). */
static int load_tokenizer_at(socfw_tokenizer **tok, const char *path,
                             const char *alt, socfw_error *err);

static int
load_tokenizer(socfw_tokenizer **tok, const char *path, const char *alt,
               socfw_error *err)
{
        char *owned = NULL;
        int rc = hub_path(&path, &owned, err);
        if (rc == 0)
                rc = load_tokenizer_at(tok, path, alt, err);
        free(owned);
        return rc;
}

static int
load_tokenizer_at(socfw_tokenizer **tok, const char *path, const char *alt,
                  socfw_error *err)
{
        int rc = socfw_tokenizer_load(tok, path, err);
        if (rc == 0)
                return 0;
        if (socfw_path_is_file(path) && !socfw_str_ends_with(path, ".gguf")) {
                char dir[4096];
                if (socfw_path_dirname(dir, sizeof dir, path) == 0) {
                        socfw_error_clear(err);
                        rc = socfw_tokenizer_load(tok, dir, err);
                        if (rc == 0)
                                return 0;
                }
        }
        if (alt && strcmp(alt, path) != 0) {
                socfw_error e2 = {0};
                if (socfw_tokenizer_load(tok, alt, &e2) == 0)
                        return 0;
        }
        return rc;
}

/* Load the model at `path`.  An encoder gets the pooler of the file, if
 * it has one, and no invented one otherwise.  *gguf (may be NULL) receives
 * the .gguf file the model came from (caller frees; NULL for
 * safetensors).  Returns 0 or a negative SOCFW_E* code. */
/* Load the adapter in `dir` for m (refused when it was trained on
 * another base model) and attach it; *out gets it (caller frees after
 * the model). */
static int
attach_adapter(socfw_model *m, const char *dir, socfw_adapter **out,
               socfw_error *err)
{
        int rc = socfw_adapter_load(out, m, dir, true, err);
        if (rc == 0)
                rc = socfw_model_attach(m, *out, err);
        if (rc < 0)
                socfw_error_prefix(err, rc, "adapter %s", dir);
        return rc;
}

static int
load_model(socfw_model **m, char **gguf, const char *path, int keep,
           socfw_error *err)
{
        static const char pooler[] = "pooler.dense.weight";
        socfw_modelfile *mf = NULL;
        char *owned = NULL;
        int rc = hub_path(&path, &owned, err);
        if (rc == 0)
                rc = socfw_modelfile_open(&mf, path, err);
        if (rc < 0) {
                free(owned);
                return rc;
        }
        socfw_model_options mo = {.seed = 0, .no_pooler = true,
                                  .keep_quantized = keep};
        size_t nt = socfw_modelfile_n_tensors(mf);
        for (size_t i = 0; i < nt; i++) {
                const char *name = socfw_modelfile_tensor(mf, i)->name;
                size_t nl = strlen(name);
                if (nl >= sizeof pooler - 1 &&
                    strcmp(name + nl - (sizeof pooler - 1), pooler) == 0) {
                        mo.no_pooler = false;
                        break;
                }
        }
        if (keep)       /* reopened: the model keeps the mapping */
                rc = socfw_model_load(m, path, &mo, err);
        else
                rc = socfw_model_load_modelfile(m, mf, &mo, err);
        free(owned);
        if (rc == 0 && gguf && nt > 0 &&
            socfw_modelfile_format_of(mf) == SOCFW_MODELFILE_GGUF) {
                *gguf = strdup(socfw_modelfile_tensor(mf, 0)->file);
                if (!*gguf) {
                        socfw_model_free(*m);
                        *m = NULL;
                        rc = socfw_error_set(err, SOCFW_ENOMEM,
                                             "out of memory");
                }
        }
        socfw_modelfile_close(mf);
        return rc;
}

/* Print bytes with control characters, backslashes and bytes that are not
 * part of valid UTF-8 escaped, so that a piece stays on one line. */
static void
print_escaped(FILE *out, const char *s, size_t len)
{
        const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
        size_t i = 0;
        while (i < len) {
                utf8proc_int32_t c;
                utf8proc_ssize_t k = utf8proc_iterate(
                        p + i, (utf8proc_ssize_t)(len - i), &c);
                if (k <= 0) {
                        fprintf(out, "\\x%02X", p[i]);
                        i++;
                        continue;
                }
                if (c == '\n')
                        fputs("\\n", out);
                else if (c == '\t')
                        fputs("\\t", out);
                else if (c == '\r')
                        fputs("\\r", out);
                else if (c == '\\')
                        fputs("\\\\", out);
                else if (c < 0x20 || c == 0x7f)
                        fprintf(out, "\\x%02X", (unsigned)c);
                else
                        fwrite(p + i, 1, (size_t)k, out);
                i += (size_t)k;
        }
}

/* Flush stdout and turn a write failure into an error. */
static int
finish_stdout(int rc)
{
        if (fflush(stdout) != 0 || ferror(stdout)) {
                cli_errorf("standard output: write error");
                return CLI_FAIL;
        }
        return rc;
}

/* ---- tokenize ------------------------------------------------------------ */

int
cli_cmd_tokenize(int argc, char **argv)
{
        static const struct option opts[] = {
                {"model", required_argument, NULL, 'm'},
                {"no-special", no_argument, NULL, 'S'},
                {"no-parse-special", no_argument, NULL, 'N'},
                {"pieces", no_argument, NULL, 'p'},
                {"help", no_argument, NULL, 'h'},
                {0, 0, 0, 0},
        };
        const char *model = NULL;
        unsigned flags = SOCFW_TOKENIZER_ADD_SPECIAL |
                         SOCFW_TOKENIZER_PARSE_SPECIAL;
        int pieces = 0, c;
        while ((c = getopt_long(argc, argv, "m:ph", opts, NULL)) != -1) {
                switch (c) {
                case 'm':
                        model = optarg;
                        break;
                case 'S':
                        flags &= ~(unsigned)SOCFW_TOKENIZER_ADD_SPECIAL;
                        break;
                case 'N':
                        flags &= ~(unsigned)SOCFW_TOKENIZER_PARSE_SPECIAL;
                        break;
                case 'p':
                        pieces = 1;
                        break;
                case 'h':
                        fputs(tokenize_usage, stdout);
                        return CLI_OK;
                default:
                        return cli_usage("tokenize", "bad option");
                }
        }
        if (!model)
                return cli_usage("tokenize", "missing --model PATH");
        if (optind >= argc)
                return cli_usage("tokenize", "missing the TEXT to tokenize "
                                             "(- reads standard input)");

        char *text = NULL;
        size_t len = 0;
        if (optind + 1 == argc && strcmp(argv[optind], "-") == 0) {
                text = read_stdin(&len);
                if (!text)
                        return CLI_FAIL;
        } else {
                for (int i = optind; i < argc; i++)
                        len += strlen(argv[i]) + 1;
                text = malloc(len);
                if (!text) {
                        cli_errorf("out of memory");
                        return CLI_FAIL;
                }
                len = 0;
                for (int i = optind; i < argc; i++) {
                        size_t k = strlen(argv[i]);
                        if (i > optind)
                                text[len++] = ' ';
                        memcpy(text + len, argv[i], k);
                        len += k;
                }
                text[len] = '\0';
        }

        socfw_error err = {0};
        socfw_tokenizer *tok = NULL;
        int32_t *ids = NULL;
        size_t n = 0;
        int rc = load_tokenizer(&tok, model, NULL, &err);
        if (rc == 0)
                rc = socfw_tokenizer_encode(tok, text, len, flags, &ids, &n,
                                            &err);
        if (rc < 0) {
                cli_error(&err);
                rc = CLI_FAIL;
                goto out;
        }
        if (pieces) {
                for (size_t i = 0; i < n; i++) {
                        char small[256];
                        char *buf = small;
                        int k = socfw_tokenizer_token_to_piece(
                                tok, ids[i], small, sizeof small);
                        if (k > (int)sizeof small) {
                                buf = malloc((size_t)k);
                                if (!buf) {
                                        cli_errorf("out of memory");
                                        rc = CLI_FAIL;
                                        goto out;
                                }
                                k = socfw_tokenizer_token_to_piece(
                                        tok, ids[i], buf, (size_t)k);
                        }
                        printf("%d\t", (int)ids[i]);
                        if (k == 0 &&
                            socfw_tokenizer_token_type(tok, ids[i]) ==
                                    SOCFW_TOKEN_CONTROL) {
                                /* show "<s>" rather than nothing */
                                size_t tl = 0;
                                const char *t = socfw_tokenizer_token_text(
                                        tok, ids[i], &tl);
                                if (t)
                                        print_escaped(stdout, t, tl);
                        } else if (k > 0) {
                                print_escaped(stdout, buf, (size_t)k);
                        }
                        fputc('\n', stdout);
                        if (buf != small)
                                free(buf);
                }
        } else {
                for (size_t i = 0; i < n; i++)
                        printf(i ? " %d" : "%d", (int)ids[i]);
                fputc('\n', stdout);
        }
        rc = finish_stdout(CLI_OK);
out:
        free(ids);
        free(text);
        socfw_tokenizer_free(tok);
        return rc;
}

/* ---- generate ------------------------------------------------------------ */

typedef struct gen_ctx {
        socfw_model *m;
        socfw_model_kv *kv;
        socfw_tokenizer *tok;
        float *logits;
        int out_failed;
} gen_ctx;

static const float *
gen_step(void *user, const int32_t *ids, size_t n, socfw_error *err)
{
        gen_ctx *g = user;
        if (n > INT_MAX) {
                socfw_error_set(err, SOCFW_EINVAL, "too many tokens");
                return NULL;
        }
        if (socfw_model_decode_step(g->m, g->kv, ids, (int)n, g->logits,
                                    err) < 0)
                return NULL;
        return g->logits;
}

static int
gen_piece(void *user, int32_t id, char *buf, size_t size)
{
        gen_ctx *g = user;
        return socfw_tokenizer_token_to_piece(g->tok, id, buf, size);
}

static int
gen_stream(void *user, const char *text, size_t len)
{
        gen_ctx *g = user;
        if (fwrite(text, 1, len, stdout) != len || fflush(stdout) != 0) {
                g->out_failed = 1;
                return 1;
        }
        return 0;
}

static atomic_int gen_cancel;

static void
on_sigint(int sig)
{
        (void)sig;
        atomic_store(&gen_cancel, 1);
}

static const char *
stop_reason(socfw_generate_stop s)
{
        switch (s) {
        case SOCFW_GENERATE_STOP_MAX_TOKENS:
                return "max tokens";
        case SOCFW_GENERATE_STOP_TOKEN:
                return "end of text token";
        case SOCFW_GENERATE_STOP_STRING:
                return "stop string";
        case SOCFW_GENERATE_STOP_CONTEXT:
                return "context full";
        case SOCFW_GENERATE_STOP_CANCELLED:
                return "interrupted";
        case SOCFW_GENERATE_STOP_CALLBACK:
                return "output closed";
        }
        return "?";
}

typedef struct gen_opts {
        const char *model;
        const char *adapter;
        const char *prompt;
        long max_tokens;
        socfw_sampler_config sc;
        const char *stops[MAX_STOPS];
        size_t n_stops;
        int threads;
        int stats;
        int dequantize;
} gen_opts;

/* Returns 0, CLI_USAGE, or -1 after printing --help. */
static int
parse_gen_opts(int argc, char **argv, gen_opts *o)
{
        static const struct option opts[] = {
                {"model", required_argument, NULL, 'm'},
                {"prompt", required_argument, NULL, 'P'},
                {"max-tokens", required_argument, NULL, 'n'},
                {"temperature", required_argument, NULL, 'T'},
                {"top-k", required_argument, NULL, 'k'},
                {"top-p", required_argument, NULL, 'p'},
                {"min-p", required_argument, NULL, 'M'},
                {"repetition-penalty", required_argument, NULL, 'r'},
                {"seed", required_argument, NULL, 's'},
                {"stop", required_argument, NULL, 'S'},
                {"threads", required_argument, NULL, 't'},
                {"stats", no_argument, NULL, 'v'},
                {"verbose", no_argument, NULL, 'v'},
                {"adapter", required_argument, NULL, 'A'},
                {"dequantize", no_argument, NULL, 'D'},
                {"help", no_argument, NULL, 'h'},
                {0, 0, 0, 0},
        };
        const char *cmd = "generate";
        long v;
        int c, rc;
        memset(o, 0, sizeof *o);
        o->prompt = "";
        o->max_tokens = 64;
        socfw_sampler_config_default(&o->sc);
        while ((c = getopt_long(argc, argv, "m:n:vh", opts, NULL)) != -1) {
                rc = 0;
                switch (c) {
                case 'm':
                        o->model = optarg;
                        break;
                case 'P':
                        o->prompt = optarg;
                        break;
                case 'A':
                        o->adapter = optarg;
                        break;
                case 'n':
                        rc = parse_long(cmd, "--max-tokens", optarg, 0,
                                        MAX_GEN_TOKENS, &o->max_tokens);
                        break;
                case 'T':
                        rc = parse_float(cmd, "--temperature", optarg, 0.0,
                                         1000.0, &o->sc.temperature);
                        break;
                case 'k':
                        rc = parse_long(cmd, "--top-k", optarg, 0,
                                        INT32_MAX, &v);
                        o->sc.top_k = (int)v;
                        break;
                case 'p':
                        rc = parse_float(cmd, "--top-p", optarg, 0.0, 1.0,
                                         &o->sc.top_p);
                        break;
                case 'M':
                        rc = parse_float(cmd, "--min-p", optarg, 0.0, 1.0,
                                         &o->sc.min_p);
                        break;
                case 'r':
                        rc = parse_float(cmd, "--repetition-penalty", optarg,
                                         1e-3, 1000.0, &o->sc.repeat_penalty);
                        break;
                case 's':
                        rc = parse_seed(cmd, optarg, &o->sc.seed);
                        break;
                case 'S':
                        if (!optarg[0])
                                return cli_usage(cmd, "--stop: the stop "
                                                      "string is empty");
                        if (o->n_stops == MAX_STOPS)
                                return cli_usage(cmd, "--stop: more than %d "
                                                      "stop strings",
                                                 MAX_STOPS);
                        o->stops[o->n_stops++] = optarg;
                        break;
                case 't':
                        rc = parse_long(cmd, "--threads", optarg, 0, 1024,
                                        &v);
                        o->threads = (int)v;
                        break;
                case 'v':
                        o->stats = 1;
                        break;
                case 'D':
                        o->dequantize = 1;
                        break;
                case 'h':
                        fputs(generate_usage, stdout);
                        return -1;
                default:
                        return cli_usage(cmd, "bad option");
                }
                if (rc)
                        return rc;
        }
        if (optind < argc)
                return cli_usage(cmd, "unexpected argument '%s' (hint: the "
                                      "prompt goes after --prompt)",
                                 argv[optind]);
        if (!o->model)
                return cli_usage(cmd, "missing --model PATH");
        return 0;
}

/* The kB value of `key` ("VmRSS:") in /proc/self/status, or -1. */
static long
proc_status_kb(const char *key)
{
        FILE *f = fopen("/proc/self/status", "r");
        char line[256];
        long v = -1;
        size_t kl = strlen(key);
        if (!f)
                return -1;
        while (fgets(line, sizeof line, f))
                if (strncmp(line, key, kl) == 0) {
                        v = strtol(line + kl, NULL, 10);
                        break;
                }
        fclose(f);
        return v;
}

/* --stats: resident memory now and at its peak, and the weights kept in
 * their file's format. */
static void
print_memory(const socfw_model *m)
{
        long rss = proc_status_kb("VmRSS:"), hwm = proc_status_kb("VmHWM:");
        int nq = 0;
        size_t qb = socfw_model_quantized_bytes(m, &nq);
        if (rss < 0)
                return;
        fprintf(stderr, "socfw: resident memory %.1f MiB (peak %.1f MiB); "
                "%d matrices in the file's format (%.1f MiB)\n",
                (double)rss / 1024.0, (double)hwm / 1024.0, nq,
                (double)qb / 1048576.0);
}

static int
is_encoder(const socfw_model_config *mc)
{
        return mc->arch == SOCFW_ARCH_BERT || mc->arch == SOCFW_ARCH_ROBERTA;
}

int
cli_cmd_generate(int argc, char **argv)
{
        gen_opts o;
        int rc = parse_gen_opts(argc, argv, &o);
        if (rc)
                return rc < 0 ? CLI_OK : rc;
        if (socfw_log_get_level() >= SOCFW_LOG_LEVEL_DEBUG)
                o.stats = 1;
        apply_threads(o.threads);

        socfw_error err = {0};
        gen_ctx g = {0};
        socfw_sampler *sampler = NULL;
        int32_t *prompt = NULL;
        size_t n_prompt = 0;
        char *stdin_prompt = NULL, *gguf = NULL;
        socfw_generate_result res = {0};
        socfw_adapter *adapter = NULL;
        int have_res = 0;
        struct sigaction old_sa, sa;
        int sa_set = 0;

        const char *text = o.prompt;
        size_t text_len = strlen(text);
        if (strcmp(text, "-") == 0) {
                stdin_prompt = read_stdin(&text_len);
                if (!stdin_prompt) {
                        rc = CLI_FAIL;
                        goto out;
                }
                text = stdin_prompt;
        }

        rc = load_model(&g.m, &gguf, o.model, !o.dequantize && !o.adapter,
                        &err);
        if (rc == 0 && o.adapter)
                rc = attach_adapter(g.m, o.adapter, &adapter, &err);
        if (rc < 0)
                goto fail;
        const socfw_model_config *mc = socfw_model_config_of(g.m);
        if (is_encoder(mc)) {
                cli_errorf("%s: 'generate' needs a decoder (GPT-2, Llama, "
                           "Qwen2), but this is a %s encoder (hint: 'socfw "
                           "logits' shows an encoder's output)",
                           o.model, socfw_arch_name(mc->arch));
                rc = CLI_FAIL;
                goto out;
        }
        rc = load_tokenizer(&g.tok, o.model, gguf, &err);
        if (rc < 0)
                goto fail;
        int32_t n_tok = (int32_t)socfw_tokenizer_vocab_size(g.tok);

        rc = socfw_tokenizer_encode(g.tok, text, text_len,
                                    SOCFW_TOKENIZER_ADD_SPECIAL |
                                            SOCFW_TOKENIZER_PARSE_SPECIAL,
                                    &prompt, &n_prompt, &err);
        if (rc < 0)
                goto fail;
        int32_t bos = socfw_tokenizer_special_id(g.tok, SOCFW_TOKENIZER_BOS);
        if (bos < 0)
                bos = mc->bos_id;
        if (n_prompt == 0) {
                /* empty prompt: start from BOS (GPT-2: <|endoftext|>) */
                if (bos < 0) {
                        cli_errorf("%s: the prompt is empty and the model "
                                   "has no BOS token to start from (hint: "
                                   "give --prompt TEXT)",
                                   o.model);
                        rc = CLI_FAIL;
                        goto out;
                }
                prompt = malloc(sizeof *prompt);
                if (!prompt)
                        goto nomem;
                prompt[0] = bos;
                n_prompt = 1;
        }
        for (size_t i = 0; i < n_prompt; i++)
                if (prompt[i] < 0 || prompt[i] >= mc->vocab_size) {
                        cli_errorf("%s: the tokenizer gave id %d, outside "
                                   "the model's vocabulary of %d (hint: the "
                                   "tokenizer files do not match the "
                                   "weights)",
                                   o.model, (int)prompt[i], mc->vocab_size);
                        rc = CLI_FAIL;
                        goto out;
                }
        /* an empty SentencePiece prompt: the first word's "▁" is not a
         * space after anything */
        int strip = socfw_tokenizer_get_kind(g.tok) == SOCFW_TOKENIZER_SPM &&
                    text_len == 0;

        /* stop ids: the tokenizer's and the model's end of text */
        int32_t stop_ids[2];
        size_t n_stop_ids = 0;
        int32_t eos = socfw_tokenizer_special_id(g.tok, SOCFW_TOKENIZER_EOS);
        if (eos >= 0)
                stop_ids[n_stop_ids++] = eos;
        if (mc->eos_id >= 0 && mc->eos_id != eos)
                stop_ids[n_stop_ids++] = mc->eos_id;

        /* the cache: prompt + new tokens, up to the context length */
        long want = (long)n_prompt + (o.max_tokens > 0 ? o.max_tokens
                                                       : MAX_GEN_TOKENS);
        if (mc->max_positions > 0 && want > mc->max_positions)
                want = mc->max_positions;
        if (want > MAX_GEN_TOKENS)
                want = MAX_GEN_TOKENS;
        if ((long)n_prompt >= want) {
                cli_errorf("%s: the prompt has %zu tokens, but the model's "
                           "context holds %ld (hint: shorten the prompt)",
                           o.model, n_prompt, want);
                rc = CLI_FAIL;
                goto out;
        }
        rc = socfw_model_kv_new(&g.kv, g.m, (int)want, &err);
        if (rc < 0)
                goto fail;
        g.logits = malloc(sizeof(float) * (size_t)mc->vocab_size);
        if (!g.logits)
                goto nomem;

        sampler = socfw_sampler_new(mc->vocab_size, &o.sc, &err);
        if (!sampler) {
                rc = err.code ? err.code : SOCFW_ENOMEM;
                goto fail;
        }
        /* ids the tokenizer cannot spell (padded vocabularies) */
        for (int32_t id = n_tok; id < mc->vocab_size; id++)
                socfw_sampler_ban(sampler, id, 1);

        socfw_generate_model gm = {
                .n_vocab = mc->vocab_size,
                .n_ctx = (size_t)socfw_model_kv_capacity(g.kv),
                .step = gen_step,
                .piece = gen_piece,
                .user = &g,
        };
        socfw_generate_config cfg;
        socfw_generate_config_default(&cfg);
        cfg.max_tokens = (size_t)o.max_tokens;
        cfg.stop_tokens = stop_ids;
        cfg.n_stop_tokens = n_stop_ids;
        cfg.stop_strings = o.stops;
        cfg.n_stop_strings = o.n_stops;
        cfg.strip_leading_space = strip;
        cfg.stream = gen_stream;
        cfg.stream_user = &g;
        cfg.cancel = &gen_cancel;

        atomic_store(&gen_cancel, 0);
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_sigint;
        sigemptyset(&sa.sa_mask);
        if (sigaction(SIGINT, &sa, &old_sa) == 0)
                sa_set = 1;
        rc = socfw_generate(&gm, sampler, &cfg, prompt, n_prompt, &res, &err);
        have_res = 1;
        if (!g.out_failed)
                fputc('\n', stdout);
        if (rc < 0)
                goto fail;
        if (g.out_failed) {
                cli_errorf("standard output: write error");
                rc = CLI_FAIL;
                goto out;
        }
        if (o.stats) {
                fprintf(stderr,
                        "socfw: %zu tokens in %.3f s (%.1f tokens/s); prompt "
                        "%zu token%s in %.3f s; stopped: %s\n",
                        res.n_tokens, res.gen_seconds, res.tokens_per_second,
                        res.n_prompt, res.n_prompt == 1 ? "" : "s",
                        res.prompt_seconds, stop_reason(res.stop));
                print_memory(g.m);
        }
        rc = finish_stdout(CLI_OK);
        goto out;
nomem:
        rc = socfw_error_set(&err, SOCFW_ENOMEM, "out of memory");
fail:
        cli_error(&err);
        rc = CLI_FAIL;
out:
        if (sa_set)
                sigaction(SIGINT, &old_sa, NULL);
        if (have_res)
                socfw_generate_result_free(&res);
        socfw_sampler_free(sampler);
        free(g.logits);
        free(prompt);
        free(stdin_prompt);
        free(gguf);
        socfw_model_kv_free(g.kv);
        socfw_tokenizer_free(g.tok);
        socfw_model_free(g.m);
        socfw_adapter_free(adapter);
        socfw_threads_shutdown();
        return rc;
}

/* ---- logits -------------------------------------------------------------- */

/* Parse "I1 I2, I3 ..." into a malloc'ed array; integers only (range is
 * checked against the model later).  Returns 0 or CLI_USAGE / CLI_FAIL
 * after printing. */
static int
parse_ids(const char *s, long **out, size_t *n_out)
{
        size_t n = 0, cap = 0;
        long *ids = NULL;
        const char *p = s;
        for (;;) {
                while (*p == ' ' || *p == '\t' || *p == '\n' || *p == ',')
                        p++;
                if (!*p)
                        break;
                size_t wl = strcspn(p, " \t\n,");
                char word[64];
                char *end;
                long v = 0;
                int ok = wl < sizeof word;
                if (ok) {
                        memcpy(word, p, wl);
                        word[wl] = '\0';
                        errno = 0;
                        v = strtol(word, &end, 10);
                        ok = end != word && !*end && !errno;
                }
                if (!ok) {
                        free(ids);
                        return cli_usage("logits", "--ids: '%.*s' is not a "
                                                   "token id (expected "
                                                   "integers separated by "
                                                   "spaces)",
                                         (int)(wl > 40 ? 40 : wl), p);
                }
                if (n == MAX_IDS) {
                        free(ids);
                        return cli_usage("logits", "--ids: more than %d ids",
                                         MAX_IDS);
                }
                if (n == cap) {
                        cap = cap ? cap * 2 : 64;
                        long *ni = realloc(ids, cap * sizeof *ids);
                        if (!ni) {
                                free(ids);
                                cli_errorf("out of memory");
                                return CLI_FAIL;
                        }
                        ids = ni;
                }
                ids[n++] = v;
                p += wl;
        }
        if (n == 0)
                return cli_usage("logits", "--ids: no token ids given");
        *out = ids;
        *n_out = n;
        return 0;
}

int
cli_cmd_logits(int argc, char **argv)
{
        static const struct option opts[] = {
                {"model", required_argument, NULL, 'm'},
                {"ids", required_argument, NULL, 'i'},
                {"adapter", required_argument, NULL, 'A'},
                {"threads", required_argument, NULL, 't'},
                {"verbose", no_argument, NULL, 'v'},
                {"dequantize", no_argument, NULL, 'D'},
                {"help", no_argument, NULL, 'h'},
                {0, 0, 0, 0},
        };
        const char *model = NULL, *ids_arg = NULL, *adapter_dir = NULL;
        int threads = 0, verbose = 0, dequantize = 0, c, rc;
        long v;
        while ((c = getopt_long(argc, argv, "m:i:vh", opts, NULL)) != -1) {
                switch (c) {
                case 'm':
                        model = optarg;
                        break;
                case 'i':
                        ids_arg = optarg;
                        break;
                case 'A':
                        adapter_dir = optarg;
                        break;
                case 't':
                        rc = parse_long("logits", "--threads", optarg, 0,
                                        1024, &v);
                        if (rc)
                                return rc;
                        threads = (int)v;
                        break;
                case 'v':
                        verbose = 1;
                        break;
                case 'D':
                        dequantize = 1;
                        break;
                case 'h':
                        fputs(logits_usage, stdout);
                        return CLI_OK;
                default:
                        return cli_usage("logits", "bad option");
                }
        }
        if (optind < argc)
                return cli_usage("logits", "unexpected argument '%s' (hint: "
                                           "quote the ids: --ids \"1 2 3\")",
                                 argv[optind]);
        if (!model)
                return cli_usage("logits", "missing --model PATH");
        if (!ids_arg)
                return cli_usage("logits", "missing --ids \"I1 I2 ...\"");
        long *lids = NULL;
        size_t T = 0;
        rc = parse_ids(ids_arg, &lids, &T);
        if (rc)
                return rc;
        if (socfw_log_get_level() >= SOCFW_LOG_LEVEL_DEBUG)
                verbose = 1;
        apply_threads(threads);

        socfw_error err = {0};
        socfw_model *m = NULL;
        socfw_adapter *adapter = NULL;
        int32_t *ids = NULL;
        float *hidden = NULL, *outv = NULL;
        /* no invented pooler: without one we show the CLS hidden state */
        rc = load_model(&m, NULL, model, !dequantize && !adapter_dir, &err);
        if (rc == 0 && adapter_dir)
                rc = attach_adapter(m, adapter_dir, &adapter, &err);
        if (rc < 0)
                goto fail;
        const socfw_model_config *mc = socfw_model_config_of(m);
        for (size_t i = 0; i < T; i++)
                if (lids[i] < 0 || lids[i] >= mc->vocab_size) {
                        cli_errorf("--ids: token id %ld (number %zu of %zu) "
                                   "is outside the vocabulary of %s: ids "
                                   "go from 0 to %d",
                                   lids[i], i + 1, T, model,
                                   mc->vocab_size - 1);
                        rc = CLI_FAIL;
                        goto out;
                }
        if (mc->max_positions > 0 && T > (size_t)mc->max_positions) {
                cli_errorf("--ids: %zu ids, but %s takes at most %d "
                           "positions",
                           T, model, mc->max_positions);
                rc = CLI_FAIL;
                goto out;
        }
        if (T > INT_MAX / (size_t)mc->hidden) {
                cli_errorf("--ids: too many ids (%zu)", T);
                rc = CLI_FAIL;
                goto out;
        }
        size_t C = (size_t)mc->hidden;
        ids = malloc(T * sizeof *ids);
        hidden = malloc(T * C * sizeof *hidden);
        if (!ids || !hidden)
                goto nomem;
        for (size_t i = 0; i < T; i++)
                ids[i] = (int32_t)lids[i];
        rc = socfw_model_forward(m, ids, NULL, NULL, 1, (int)T, false, 0.0f,
                                 NULL, hidden, &err);
        if (rc < 0)
                goto fail;

        size_t n_out;
        const char *what;
        if (!is_encoder(mc)) {
                n_out = (size_t)mc->vocab_size;
                outv = malloc(n_out * sizeof *outv);
                if (!outv)
                        goto nomem;
                rc = socfw_model_lm_logits(m, hidden + (T - 1) * C, 1, outv,
                                           &err);
                if (rc < 0)
                        goto fail;
                what = "logits of the last position";
        } else if (mc->pooler) {
                n_out = C;
                outv = malloc(n_out * sizeof *outv);
                if (!outv)
                        goto nomem;
                rc = socfw_model_pool(m, hidden, 1, (int)T, outv, &err);
                if (rc < 0)
                        goto fail;
                what = "pooled output";
        } else {
                n_out = C;
                outv = malloc(n_out * sizeof *outv);
                if (!outv)
                        goto nomem;
                memcpy(outv, hidden, C * sizeof *outv);
                what = "first token's last hidden state (the model has no "
                       "pooler)";
        }
        for (size_t i = 0; i < n_out; i++)
                printf("%.6g\n", (double)outv[i]);
        if (verbose) {
                size_t best = 0;
                for (size_t i = 1; i < n_out; i++)
                        if (outv[i] > outv[best])
                                best = i;
                fprintf(stderr, "socfw: %s (%s): %zu values, the %s for %zu "
                                "id%s; largest at index %zu (%.6g)\n",
                        model, socfw_arch_name(mc->arch), n_out, what, T,
                        T == 1 ? "" : "s", best, (double)outv[best]);
        }
        rc = finish_stdout(CLI_OK);
        goto out;
nomem:
        socfw_error_set(&err, SOCFW_ENOMEM, "out of memory");
fail:
        cli_error(&err);
        rc = CLI_FAIL;
out:
        free(outv);
        free(hidden);
        free(ids);
        free(lids);
        socfw_model_free(m);
        socfw_adapter_free(adapter);
        socfw_threads_shutdown();
        return rc;
}
