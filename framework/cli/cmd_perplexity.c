/* cmd_perplexity.c - `socfw perplexity --model M --input FILE`: perplexity
 * of a causal language model over a text file (plain or gzip), windowed as
 * llama.cpp's perplexity tool (socfw/perplexity.h).
 *
 *   socfw perplexity --model stories260K.gguf --input story.txt --ctx 256
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "socfw/model.h"
#include "socfw/perplexity.h"
#include "socfw/tokenizer.h"

static const char perplexity_usage[] =
        "Usage: socfw perplexity --model PATH --input FILE [--ctx N]\n"
        "                        [--stride N] [--max-tokens N]\n"
        "\n"
        "Perplexity of a decoder model (GPT-2, Llama, Qwen2; a .gguf file or\n"
        "a Hugging Face directory, quantised or not) over the text of FILE\n"
        "(UTF-8; gzip-compressed files are read as well), as llama.cpp's\n"
        "perplexity tool computes it: windows of N tokens every --stride\n"
        "tokens, each run from scratch with its first token replaced by BOS\n"
        "when the model adds one, and only the second half of each window\n"
        "scored (never a token twice).  Prints one line to standard output:\n"
        "\n"
        "  ppl P nll_per_token X scored K tokens T windows W ctx N stride S\n"
        "\n"
        "  -m, --model PATH     the model\n"
        "  -i, --input FILE     the text (.gz or plain)\n"
        "  --ctx N              window length (default 512, at most the\n"
        "                       model's context)\n"
        "  --stride N           tokens between window starts (default N:\n"
        "                       llama.cpp's chunks; N/2 scores every token\n"
        "                       from N/2 on)\n"
        "  --max-tokens N       read only the first N tokens of FILE\n"
        "                       (default: all)\n"
        "\n"
        "Encoders (BERT, RoBERTa) are refused: their pseudo-perplexity is not\n"
        "implemented.\n";

static int
num(const char *opt, const char *s, long lo, long hi, long *out)
{
        char *end;
        long v = strtol(s, &end, 10);
        if (!*s || *end || v < lo || v > hi)
                return cli_usage("perplexity", "%s: expected a number from "
                                 "%ld to %ld, got '%s'", opt, lo, hi, s);
        *out = v;
        return 0;
}

int
cli_cmd_perplexity(int argc, char **argv)
{
        static const struct option opts[] = {
                {"model", required_argument, NULL, 'm'},
                {"input", required_argument, NULL, 'i'},
                {"ctx", required_argument, NULL, 'c'},
                {"stride", required_argument, NULL, 's'},
                {"max-tokens", required_argument, NULL, 'n'},
                {"help", no_argument, NULL, 'h'},
                {0, 0, 0, 0},
        };
        const char *model = NULL, *input = NULL;
        long ctx = 0, stride = 0, max_tokens = 0;
        int c;
        while ((c = getopt_long(argc, argv, "m:i:h", opts, NULL)) != -1) {
                switch (c) {
                case 'm': model = optarg; break;
                case 'i': input = optarg; break;
                case 'c':
                        if (num("--ctx", optarg, 2, 1 << 20, &ctx) != 0)
                                return CLI_USAGE;
                        break;
                case 's':
                        if (num("--stride", optarg, 1, 1 << 20, &stride) != 0)
                                return CLI_USAGE;
                        break;
                case 'n':
                        if (num("--max-tokens", optarg, 1, 1L << 40,
                                &max_tokens) != 0)
                                return CLI_USAGE;
                        break;
                case 'h': fputs(perplexity_usage, stdout); return CLI_OK;
                default: return cli_usage("perplexity", "unknown option");
                }
        }
        if (optind != argc)
                return cli_usage("perplexity", "unexpected argument '%s'",
                                 argv[optind]);
        if (!model || !input)
                return cli_usage("perplexity", "--model and --input are "
                                 "required");
        socfw_error err = {0};
        socfw_model *m = NULL;
        socfw_tokenizer *tok = NULL;
        int32_t *ids = NULL;
        size_t n = 0;
        int rc = socfw_model_load(&m, model, NULL, &err);
        if (rc < 0)
                goto out;
        const socfw_model_config *mc = socfw_model_config_of(m);
        if (mc->arch == SOCFW_ARCH_BERT || mc->arch == SOCFW_ARCH_ROBERTA) {
                socfw_perplexity r;
                rc = socfw_perplexity_ids(m, NULL, 0, 2, 1, -1, &r, &err);
                goto out;
        }
        if (ctx == 0)
                ctx = mc->max_positions < 512 ? mc->max_positions : 512;
        if (stride == 0)
                stride = ctx;
        rc = socfw_tokenizer_load(&tok, model, &err);
        if (rc < 0)
                goto out;
        int bos = 0;
        socfw_tokenizer_adds(tok, &bos, NULL, NULL);
        int32_t bos_id = bos ? socfw_tokenizer_special_id(tok,
                                                          SOCFW_TOKENIZER_BOS)
                             : -1;
        rc = socfw_perplexity_read_tokens(input, tok, max_tokens, &ids, &n,
                                          &err);
        if (rc < 0)
                goto out;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        socfw_perplexity r;
        rc = socfw_perplexity_ids(m, ids, n, (int)ctx, (int)stride, bos_id,
                                  &r, &err);
        if (rc < 0)
                goto out;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double secs = (double)(t1.tv_sec - t0.tv_sec) +
                      (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
        printf("ppl %.6f nll_per_token %.6f scored %lld tokens %lld windows "
               "%d ctx %ld stride %ld\n", r.ppl,
               r.n_scored ? r.nll / (double)r.n_scored : 0.0,
               (long long)r.n_scored, (long long)r.n_tokens, r.n_windows,
               ctx, stride);
        fprintf(stderr, "socfw: perplexity: %d windows in %.2f s (%.0f "
                "tokens/s through the model)\n", r.n_windows, secs,
                secs > 0 ? (double)r.n_windows * (double)ctx / secs : 0.0);
out:
        if (rc < 0)
                cli_error(&err);
        free(ids);
        socfw_tokenizer_free(tok);
        socfw_model_free(m);
        return rc < 0 ? CLI_FAIL : CLI_OK;
}
