/* cmd_adapter.c - `socfw adapter merge|inspect|versions|promote|
 * rollback`: fold a trained adapter into its base model as a standalone
 * Hugging Face directory, show what an adapter directory holds, and list
 * or switch the versions continued runs made (socfw/adapter_store.h).
 *
 *   socfw adapter merge runs/bot --task sentiment --output merged/
 *   socfw adapter inspect runs/bot/adapters/sentiment
 *   socfw adapter versions runs/bot --task sentiment
 *   socfw adapter rollback runs/bot --task sentiment
 */
#define _GNU_SOURCE /* asprintf */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "socfw/adapter_store.h"
#include "socfw/model.h"
#include "socfw/modelfile.h"
#include "socfw/peft.h"
#include "socfw/threads.h"
#include "socfw/tokenizer.h"

static const char adapter_usage[] =
        "Usage: socfw adapter merge RUN --task T --output DIR [--model M]\n"
        "                           [--force]\n"
        "       socfw adapter merge ADAPTER_DIR --model M --output DIR\n"
        "       socfw adapter inspect ADAPTER_DIR\n"
        "       socfw adapter versions RUN --task T\n"
        "       socfw adapter promote RUN --task T --version N\n"
        "       socfw adapter rollback RUN --task T [--version N]\n"
        "\n"
        "merge    fold a LoRA or IA3 adapter into the weights of its base\n"
        "         model and write the result as a standalone Hugging Face\n"
        "         directory (config.json, model.safetensors, tokenizer):\n"
        "         its outputs equal the base model run with the adapter.\n"
        "         RUN is a trained run (its adapters/<task> and, when the\n"
        "         pipeline pretrained it, its backbone/); --model names the\n"
        "         base model otherwise.  An adapter trained on another base\n"
        "         model is refused.  DIR must not exist unless --force.\n"
        "inspect  print an adapter's type, sites, ranks, parameter count\n"
        "         and the fingerprint of the base model it was trained on.\n"
        "versions list the versions of a task's adapter that continued\n"
        "         runs (socfw run --continue) made: decision, gate scores,\n"
        "         data, and which one is current.\n"
        "promote  make version N current (predict reads it; a running\n"
        "         serve after SIGHUP), whatever its gate said.\n"
        "rollback make the current version's parent current again (or\n"
        "         version N).\n";

static int
exists(const char *path)
{
        struct stat st;
        return stat(path, &st) == 0;
}

/* ---- merge -------------------------------------------------------------- */

static int
cmd_merge(int argc, char **argv)
{
        static const struct option opts[] = {
                {"task", required_argument, NULL, 'k'},
                {"output", required_argument, NULL, 'o'},
                {"model", required_argument, NULL, 'm'},
                {"force", no_argument, NULL, 'f'},
                {"help", no_argument, NULL, 'h'},
                {0, 0, 0, 0},
        };
        const char *task = NULL, *output = NULL, *model = NULL;
        int force = 0, c;
        optind = 0;     /* re-initialise getopt for the subcommand */
        while ((c = getopt_long(argc, argv, "k:o:m:fh", opts, NULL)) != -1) {
                switch (c) {
                case 'k': task = optarg; break;
                case 'o': output = optarg; break;
                case 'm': model = optarg; break;
                case 'f': force = 1; break;
                case 'h': fputs(adapter_usage, stdout); return CLI_OK;
                default: return cli_usage("adapter", "bad option");
                }
        }
        if (optind + 1 != argc)
                return cli_usage("adapter", "expected one RUN or "
                                 "ADAPTER_DIR");
        if (!output)
                return cli_usage("adapter", "missing --output DIR");
        const char *src = argv[optind];
        char *adir = NULL, *base = NULL, *probe = NULL, *tmp = NULL,
             *old = NULL;
        int rc = CLI_FAIL;
        if (asprintf(&probe, "%s/adapter_config.json", src) < 0)
                goto nomem;
        if (exists(probe)) {
                adir = strdup(src);
        } else {
                if (!task) {
                        rc = cli_usage("adapter", "%s is a run: name "
                                       "the task (--task T)", src);
                        goto out;
                }
                if (asprintf(&adir, "%s/adapters/%s", src, task) < 0)
                        adir = NULL;
        }
        if (!adir)
                goto nomem;
        if (model) {
                base = strdup(model);
        } else {
                free(probe);
                probe = NULL;
                if (asprintf(&probe, "%s/backbone/config.json", src) < 0)
                        goto nomem;
                if (exists(probe) && asprintf(&base, "%s/backbone", src) < 0)
                        base = NULL;
                if (!base) {
                        cli_errorf("%s: no backbone/ in it; hint: name the "
                                   "base model with --model", src);
                        goto out;
                }
        }
        if (!base)
                goto nomem;
        if (exists(output) && !force) {
                cli_errorf("%s exists; hint: --force replaces it", output);
                goto out;
        }

        socfw_error err = {0};
        socfw_model *m = NULL;
        socfw_adapter *a = NULL;
        socfw_tokenizer *tok = NULL;
        int r = socfw_model_load(&m, base, NULL, &err);
        if (r == 0)
                r = socfw_adapter_load(&a, m, adir, true, &err);
        if (r == 0)
                r = socfw_adapter_merge(a, m, &err);
        if (r == 0)
                r = socfw_tokenizer_load(&tok, base, &err);
        if (r == 0 && (asprintf(&tmp, "%s.tmp-%ld", output, (long)getpid()) < 0))
                r = socfw_error_set(&err, SOCFW_ENOMEM, "out of memory");
        if (r == 0)
                r = socfw_model_save(m, tmp, NULL, 0, &err);
        if (r == 0)
                r = socfw_tokenizer_save(tok, tmp, &err);
        if (r == 0 && exists(output)) {   /* --force: swap, then remove */
                if (asprintf(&old, "%s.old-%ld", output, (long)getpid()) < 0 ||
                    rename(output, old) != 0)
                        r = socfw_error_set(&err, SOCFW_EIO, "cannot move %s "
                                            "aside", output);
        }
        if (r == 0 && rename(tmp, output) != 0)
                r = socfw_error_set(&err, SOCFW_EIO, "cannot rename %s to %s",
                                    tmp, output);
        if (r == 0 && old)
                cli_remove_tree(old);
        if (r < 0 && tmp && exists(tmp))
                cli_remove_tree(tmp);
        socfw_tokenizer_free(tok);
        socfw_adapter_free(a);
        socfw_model_free(m);
        if (r < 0) {
                cli_error(&err);
                goto out;
        }
        fprintf(stderr, "socfw: %s + %s merged into %s\n", base, adir, output);
        rc = CLI_OK;
        goto out;
nomem:
        cli_errorf("out of memory");
out:
        free(adir);
        free(base);
        free(probe);
        free(tmp);
        free(old);
        socfw_threads_shutdown();
        return rc;
}

/* ---- inspect ------------------------------------------------------------ */

static int
cmd_inspect(int argc, char **argv)
{
        if (argc != 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
                if (argc == 2)
                        return fputs(adapter_usage, stdout), CLI_OK;
                return cli_usage("adapter", "expected ADAPTER_DIR");
        }
        const char *dir = argv[1];
        char path[4200];
        json_error_t je;
        snprintf(path, sizeof path, "%s/adapter_config.json", dir);
        json_t *cfg = json_load_file(path, 0, &je);
        if (!cfg) {
                socfw_error e = {0};
                socfw_error_set_at(&e, SOCFW_EFORMAT, path, je.line,
                                   je.column, "%s", je.text);
                cli_error(&e);
                return CLI_FAIL;
        }
        snprintf(path, sizeof path, "%s/meta.json", dir);
        json_t *meta = json_load_file(path, 0, &je);
        socfw_modelfile *mf = NULL;
        socfw_error err = {0};
        snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
        if (socfw_modelfile_open(&mf, path, &err) < 0) {
                cli_error(&err);
                json_decref(cfg);
                json_decref(meta);
                return CLI_FAIL;
        }
        const char *type = json_string_value(json_object_get(cfg,
                                                             "peft_type"));
        printf("adapter      %s\n", dir);
        printf("type         %s\n", type ? type : "?");
        json_t *bm = json_object_get(meta, "base_model");
        if (bm) {
                printf("base model   %s, %lld layers, hidden %lld\n",
                       json_string_value(json_object_get(bm, "architecture")),
                       (long long)json_integer_value(json_object_get(bm,
                                                                     "layers")),
                       (long long)json_integer_value(json_object_get(bm,
                                                                     "hidden")));
                printf("fingerprint  %s\n",
                       json_string_value(json_object_get(bm, "fingerprint")));
                const char *s = json_string_value(json_object_get(bm,
                                                                  "source"));
                if (s)
                        printf("source       %s\n", s);
        } else {
                printf("base model   (no meta.json: not checked)\n");
        }
        const char *task = json_string_value(json_object_get(meta, "task"));
        if (task)
                printf("task         %s\n", task);
        if (json_object_get(cfg, "r"))
                printf("LoRA         r %lld, alpha %g%s\n",
                       (long long)json_integer_value(json_object_get(cfg, "r")),
                       json_number_value(json_object_get(cfg, "lora_alpha")),
                       json_is_true(json_object_get(cfg, "use_rslora"))
                               ? ", rsLoRA" : "");
        if (type && !strcmp(type, "PREFIX_TUNING")) {
                printf("prefix       %lld virtual tokens",
                       (long long)json_integer_value(
                               json_object_get(cfg, "num_virtual_tokens")));
                if (json_is_true(json_object_get(cfg, "prefix_projection")))
                        printf(", trained through a projection MLP of "
                               "width %lld (saved folded: no MLP to load)",
                               (long long)json_integer_value(json_object_get(
                                       cfg, "encoder_hidden_size")));
                printf("\n");
        }
        if (type && !strcmp(type, "PROMPT_TUNING"))
                printf("prompt       %lld virtual tokens x %lld, init %s\n",
                       (long long)json_integer_value(json_object_get(
                               cfg, "num_virtual_tokens")),
                       (long long)json_integer_value(json_object_get(
                               cfg, "token_dim")),
                       json_string_value(json_object_get(
                               cfg, "prompt_tuning_init"))
                               ? json_string_value(json_object_get(
                                         cfg, "prompt_tuning_init"))
                               : "?");
        /* per module: the rank (LoRA A rows) or the vector size */
        long long total = 0;
        printf("tensors      %zu\n", socfw_modelfile_n_tensors(mf));
        for (size_t i = 0; i < socfw_modelfile_n_tensors(mf); i++) {
                const socfw_tensor_info *t = socfw_modelfile_tensor(mf, i);
                total += (long long)t->nelem;
                const char *name = t->name;
                if (!strncmp(name, "base_model.model.", 17))
                        name += 17;
                size_t n = strlen(name);
                if (n > 14 && !strcmp(name + n - 14, ".lora_A.weight"))
                        printf("  %-52.*s rank %lld\n", (int)(n - 14), name,
                               (long long)t->shape[0]);
                else if (n > 17 && !strcmp(name + n - 17,
                                           ".lora_embedding_A"))
                        printf("  %-52.*s rank %lld (token embedding, "
                               "%lld rows)\n", (int)(n - 17), name,
                               (long long)t->shape[0],
                               (long long)t->shape[1]);
                else if (n > 7 && !strcmp(name + n - 7, ".lora_E")) {
                        /* AdaLoRA: singular values still in use */
                        float *e = malloc((size_t)t->nelem * sizeof *e);
                        long long used = 0;
                        if (e && socfw_modelfile_read_f32(mf, t, e,
                                                          (size_t)t->nelem,
                                                          &err) == 0)
                                for (int64_t q = 0; q < t->nelem; q++)
                                        used += e[q] != 0.0f;
                        free(e);
                        printf("  %-52.*s rank %lld of %lld\n", (int)(n - 7),
                               name, used, (long long)t->nelem);
                } else if (n > 6 && !strcmp(name + n - 6, ".ia3_l"))
                        printf("  %-52.*s %lld scalings\n", (int)(n - 6),
                               name, (long long)t->nelem);
                else if (n > 20 && !strcmp(name + n - 20,
                                           ".adapter_down.weight"))
                        printf("  %-52.*s bottleneck %lld\n", (int)(n - 20),
                               name, (long long)t->shape[0]);
        }
        printf("parameters   %lld\n", total);
        socfw_modelfile_close(mf);
        json_decref(cfg);
        json_decref(meta);
        return CLI_OK;
}

/* ---- versions, promote, rollback --------------------------------------- */

static int
cmd_store(const char *sub, int argc, char **argv)
{
        static const struct option opts[] = {
                {"task", required_argument, NULL, 'k'},
                {"version", required_argument, NULL, 'v'},
                {"help", no_argument, NULL, 'h'},
                {0, 0, 0, 0},
        };
        const char *task = NULL;
        long version = 0;
        int c;
        optind = 0;
        while ((c = getopt_long(argc, argv, "k:v:h", opts, NULL)) != -1) {
                char *end;
                switch (c) {
                case 'k': task = optarg; break;
                case 'v':
                        version = strtol(optarg, &end, 10);
                        if (*optarg == '\0' || *end || version < 1 ||
                            version > 1000000)
                                return cli_usage("adapter", "--version: "
                                                 "expected a version number "
                                                 "(1, 2, ...)");
                        break;
                case 'h': fputs(adapter_usage, stdout); return CLI_OK;
                default: return cli_usage("adapter", "bad option");
                }
        }
        if (optind + 1 != argc)
                return cli_usage("adapter", "expected one RUN");
        if (!task)
                return cli_usage("adapter", "missing --task T");
        if (!strcmp(sub, "promote") && !version)
                return cli_usage("adapter", "promote needs --version N");
        char *tdir = NULL;
        if (asprintf(&tdir, "%s/adapters/%s", argv[optind], task) < 0) {
                cli_errorf("out of memory");
                return CLI_FAIL;
        }
        socfw_error err = {0};
        int rc = CLI_FAIL, cur = 0;
        json_t *list = NULL;
        if (!exists(tdir)) {
                cli_errorf("%s: no adapter of task '%s' (hint: is %s a run "
                           "of a pipeline whose task '%s' has an adapter?)",
                           tdir, task, argv[optind], task);
                goto out;
        }
        if (socfw_adapter_store_current(tdir, &cur, &err) < 0) {
                cli_error(&err);
                goto out;
        }
        if (!strcmp(sub, "versions")) {
                if (socfw_adapter_store_list(tdir, &list, &err) < 0) {
                        cli_error(&err);
                        goto out;
                }
                if (json_array_size(list) == 0)
                        printf("task %s: one version, the run's own (no "
                               "continued runs yet)\n", task);
                else
                        printf("   version  parent  decision  gate (cur -> "
                               "new)      held-out (cur -> new)  time\n");
                for (size_t i = 0; i < json_array_size(list); i++) {
                        json_t *m = json_array_get(list, i);
                        json_t *sc = json_object_get(m, "scores");
                        json_t *gs = json_object_get(sc, "gate");
                        json_t *hs = json_object_get(sc, "holdout");
                        char gate[64] = "-", hold[64] = "-";
                        if (gs)
                                snprintf(gate, sizeof gate, "%.4f -> %.4f",
                                         json_number_value(json_object_get(
                                                 gs, "current")),
                                         json_number_value(json_object_get(
                                                 gs, "candidate")));
                        if (hs)
                                snprintf(hold, sizeof hold, "%.4f -> %.4f",
                                         json_number_value(json_object_get(
                                                 hs, "current")),
                                         json_number_value(json_object_get(
                                                 hs, "candidate")));
                        json_t *par = json_object_get(m, "parent");
                        char parent[32] = "-";
                        if (json_is_integer(par))
                                snprintf(parent, sizeof parent, "v%lld",
                                         (long long)json_integer_value(par));
                        const char *dec = json_string_value(
                                json_object_get(m, "decision"));
                        const char *when = json_string_value(
                                json_object_get(m, "time"));
                        printf("%s v%-7lld %-7s %-9s %-21s %-22s %s\n",
                               json_is_true(json_object_get(m, "current"))
                                       ? "*"
                                       : " ",
                               (long long)json_integer_value(
                                       json_object_get(m, "version")),
                               parent, dec ? dec : "?", gate, hold,
                               when ? when : "");
                        const char *why = json_string_value(
                                json_object_get(m, "reasons"));
                        if (why)
                                printf("             %s\n", why);
                }
                rc = CLI_OK;
                goto out;
        }
        int to = (int)version;
        if (!strcmp(sub, "rollback") && !to) {
                to = cur ? socfw_adapter_store_parent(tdir, cur) : 0;
                if (!to) {
                        cli_errorf("task %s: version %d has no earlier "
                                   "version to roll back to (hint: socfw "
                                   "adapter versions %s --task %s)",
                                   task, cur, argv[optind], task);
                        goto out;
                }
        }
        char why[128];
        snprintf(why, sizeof why, "%s by hand (was v%d)", sub, cur);
        if (socfw_adapter_store_promote(tdir, to, why, &err) < 0) {
                cli_error(&err);
                goto out;
        }
        if (cli_package_refresh(argv[optind]) != CLI_OK)
                goto out;
        printf("task %s: version %d is current (was %d)\n", task, to, cur);
        rc = CLI_OK;
out:
        json_decref(list);
        free(tdir);
        return rc;
}

int
cli_cmd_adapter(int argc, char **argv)
{
        if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
                if (argc >= 2)
                        return fputs(adapter_usage, stdout), CLI_OK;
                return cli_usage("adapter", "expected merge or inspect");
        }
        if (!strcmp(argv[1], "merge"))
                return cmd_merge(argc - 1, argv + 1);
        if (!strcmp(argv[1], "inspect"))
                return cmd_inspect(argc - 1, argv + 1);
        if (!strcmp(argv[1], "versions") || !strcmp(argv[1], "promote") ||
            !strcmp(argv[1], "rollback"))
                return cmd_store(argv[1], argc - 1, argv + 1);
        return cli_usage("adapter", "unknown subcommand '%s' (hint: merge, "
                         "inspect, versions, promote or rollback)", argv[1]);
}
