/* cmd_serve.c - `socfw serve PIPELINE|RUN_DIR`: options, loading the model,
 * and handing it to the HTTP server (serve.h; the endpoints are listed in
 * `socfw help serve` and doc/guide.md).
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/serve.h"
#include "socfw/runtime.h"

#define MAX_SETS 128

typedef struct serve_cmd {
        const char *pipeline;
        const char *sets[MAX_SETS];
        size_t n_sets;
} serve_cmd;

/* What one load owns: the inference state and its chains. */
typedef struct loaded {
        cli_inference in;
        socfw_chain *chain, *mask;
} loaded;

static void
loaded_free(void *owner)
{
        loaded *l = owner;
        if (!l)
                return;
        socfw_chain_free(l->mask);
        socfw_chain_free(l->chain);
        cli_inference_close(&l->in);
        free(l);
}

/* The first stage of the chain when it is a privacy stage. */
static const char *
privacy_first(const socfw_pipeline *p)
{
        if (socfw_pipeline_chain_len(p) == 0)
                return NULL;
        const char *name = socfw_pipeline_chain_stage(p, 0);
        if (!strcmp(name, "privacy"))
                return name;
        int t = socfw_pipeline_task_find(p, name);
        const socfw_plugin *pl =
                t >= 0 ? socfw_pipeline_task_plugin(p, (size_t)t) : NULL;
        return pl && !strcmp(pl->name, "privacy") ? name : NULL;
}

static int
load(void *user, serve_model *out)
{
        serve_cmd *sc = user;
        loaded *l = calloc(1, sizeof *l);
        if (!l) {
                cli_errorf("out of memory");
                return -1;
        }
        int rc = cli_inference_open(&l->in, sc->pipeline, sc->sets,
                                    sc->n_sets);
        if (rc == CLI_OK)
                l->chain = cli_inference_chain(l->in.p, l->in.rt, NULL);
        const char *first = l->chain ? privacy_first(l->in.p) : NULL;
        if (first)
                l->mask = cli_inference_chain(l->in.p, l->in.rt, first);
        if (!l->chain || (first && !l->mask)) {
                loaded_free(l);
                return -1;
        }
        *out = (serve_model){.chain = l->chain, .mask = l->mask,
                             .p = l->in.p, .rt = l->in.rt, .owner = l,
                             .release = loaded_free};
        return 0;
}

/* Requests in flight by default: enough that concurrent classifications
 * fill batched forward passes of about 8 windows (half the workers are in
 * the other stages at any moment), where a request's CPU time levels off
 * (2.4-2.8 ms against 3.0-3.5 in batches of 4, no less in batches of 16
 * or 32; doc/performance.md, "Serving") and the latency is still that of
 * one batch ahead; beyond 4 cores, 4 per core so that the stages around
 * the forward pass keep every core busy.  Under load the engine runs one
 * pass per thread at once (engine/batch.c), sharing the waiting calls
 * among them, so more workers make fuller batches: on 2 cores 32 workers
 * served 15-30% more classifications than 16 at c=32 ("Under load, one
 * forward pass per core").  A pipeline that never generates holds no KV
 * caches per worker, so it gets 16 per core; one with a dialog stage
 * keeps the smaller count, each concurrent chat holding a KV cache. */
static int
default_workers(int generates)
{
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        cores = cores < 1 ? 1 : cores;
        if (!generates)
                return cores < 16 ? 16 * (int)cores : 256;
        if (cores <= 4)
                return 16;
        return cores < 64 ? 4 * (int)cores : 256;
}

static int
parse_int(const char *opt, const char *arg, long lo, long hi, int *out)
{
        char *end;
        long v = strtol(arg, &end, 10);
        if (!*arg || *end || v < lo || v > hi)
                return cli_usage("serve", "%s: expected %ld to %ld", opt, lo,
                                 hi);
        *out = (int)v;
        return 0;
}

int
cli_cmd_serve(int argc, char **argv)
{
        static const struct option opts[] = {
                {"set", required_argument, NULL, 's'},
                {"text-field", required_argument, NULL, 'f'},
                {"host", required_argument, NULL, 'H'},
                {"port", required_argument, NULL, 'p'},
                {"workers", required_argument, NULL, 'w'},
                {"queue", required_argument, NULL, 'q'},
                {"timeout", required_argument, NULL, 't'},
                {"api-key", required_argument, NULL, 'k'},
                {"access-log", required_argument, NULL, 'l'},
                {"plugin-path", required_argument, NULL, 'P'},
                {"help", no_argument, NULL, 'h'},
                {0, 0, 0, 0},
        };
        serve_cmd sc;
        memset(&sc, 0, sizeof sc);
        serve_opts o = {.host = "127.0.0.1", .port = 8080,
                        .workers = 0,   /* default_workers, once loaded */
                        .queue = 64, .timeout = 60};
        const char *env = getenv("SOCFW_API_KEY");
        if (env && env[0])
                o.api_key = env;
        int c, rc;
        while ((c = getopt_long(argc, argv, "s:P:h", opts, NULL)) != -1) {
                switch (c) {
                case 's':
                        if (sc.n_sets == MAX_SETS)
                                return cli_usage("serve", "too many --set "
                                                          "options");
                        sc.sets[sc.n_sets++] = optarg;
                        break;
                case 'f':
                        o.text_field = optarg;
                        break;
                case 'H':
                        o.host = optarg;
                        break;
                case 'p':
                        if ((rc = parse_int("--port", optarg, 0, 65535,
                                            &o.port)))
                                return rc;
                        break;
                case 'w':
                        if ((rc = parse_int("--workers", optarg, 1, 1024,
                                            &o.workers)))
                                return rc;
                        break;
                case 'q':
                        if ((rc = parse_int("--queue", optarg, 0, 65536,
                                            &o.queue)))
                                return rc;
                        break;
                case 't':
                        if ((rc = parse_int("--timeout", optarg, 1, 86400,
                                            &o.timeout)))
                                return rc;
                        break;
                case 'k':
                        if (!optarg[0])
                                return cli_usage("serve", "--api-key: empty "
                                                          "key");
                        o.api_key = optarg;
                        break;
                case 'l':
                        o.access_log = optarg;
                        break;
                case 'P':
                        cli_g.plugin_path = optarg;
                        break;
                case 'h':
                        cli_print_help(stdout, "serve");
                        return CLI_OK;
                default:
                        return cli_usage("serve", "bad option");
                }
        }
        if (optind >= argc)
                return cli_usage("serve", "missing the pipeline file or run "
                                          "directory");
        if (optind + 1 < argc)
                return cli_usage("serve", "unexpected argument '%s'",
                                 argv[optind + 1]);
        sc.pipeline = argv[optind];
        o.reload = load;
        o.reload_user = &sc;
        serve_model m = {0};
        if (load(&sc, &m) < 0)
                return CLI_FAIL;
        int last;
        if (o.workers == 0)
                o.workers = default_workers(cli_chat_stage(m.p, &last) !=
                                            NULL);
        return serve_run(&o, &m);
}
