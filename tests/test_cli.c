/* tests/test_cli.c - the socfw program end to end: exit codes, messages,
 * inspect, validate, predict. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "testutil.h"

TestSuite(cli, .timeout = 60);

/* Run `socfw ARGS` from the build tree; output in *out (caller frees). */
static int
socfw(char **out, const char *fmt, const char *args)
{
        char cmd[8192];
        int status;
        snprintf(cmd, sizeof cmd, "%s/socfw %s", socfw_test_builddir(), args);
        (void)fmt;
        *out = socfw_test_run(cmd, &status);
        cr_assert_not_null(*out);
        return status;
}

static char tmp[4096];

static const char *
write_tmp(const char *name, const char *text)
{
        static char path[4200];
        if (!tmp[0])
                cr_assert_not_null(socfw_test_tmpdir(tmp, sizeof tmp));
        snprintf(path, sizeof path, "%s/%s", tmp, name);
        cr_assert_eq(socfw_test_write_file(path, text, strlen(text)), 0);
        return path;
}

Test(cli, version_and_help)
{
        char *out;
        cr_assert_eq(socfw(&out, "", "version"), 0);
        cr_assert(strstr(out, "socfw 0.1.0 (plugin ABI 2.0"), "%s", out);
        free(out);
        cr_assert_eq(socfw(&out, "", "help"), 0);
        cr_assert(strstr(out, "Commands:") && strstr(out, "validate"), "%s",
                  out);
        free(out);
        cr_assert_eq(socfw(&out, "", "help pipeline"), 0);
        cr_assert(strstr(out, "| `lr` | float | 5e-5 |"), "%s", out);
        free(out);
}

Test(cli, usage_errors_exit_2)
{
        char *out;
        cr_assert_eq(socfw(&out, "", ""), 2);
        free(out);
        cr_assert_eq(socfw(&out, "", "frobnicate"), 2);
        cr_assert(strstr(out, "unknown command 'frobnicate'"), "%s", out);
        free(out);
        /* a mistyped command gets the one it most likely meant */
        static const char *const typos[][2] = {
                {"predcit", "predict"}, {"valdiate", "validate"},
                {"serv", "serve"},      {"train", "run"},
                {"exprot", "export"}};
        for (size_t i = 0; i < sizeof typos / sizeof typos[0]; i++) {
                char want[128];
                cr_assert_eq(socfw(&out, "", typos[i][0]), 2);
                snprintf(want, sizeof want, "did you mean '%s'?",
                         typos[i][1]);
                cr_assert(strstr(out, want), "%s: %s", typos[i][0], out);
                free(out);
        }
        cr_assert_eq(socfw(&out, "", "zzzzzz"), 2);
        cr_assert_null(strstr(out, "did you mean"), "%s", out);
        free(out);
        cr_assert_eq(socfw(&out, "", "validate"), 2);
        cr_assert(strstr(out, "missing the pipeline file"), "%s", out);
        free(out);
        cr_assert_eq(socfw(&out, "", "--threads lots version"), 2);
        free(out);
}

Test(cli, inspect_lists_the_five_task_plugins_and_the_heads)
{
        char *out;
        cr_assert_eq(socfw(&out, "", "inspect"), 0);
        const char *names[] = {"sentiment", "dialog", "recommend", "adcopy",
                               "privacy", "classifier", "tagger", "lm",
                               "ranker"};
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
                cr_expect(strstr(out, names[i]), "'%s' missing in:\n%s",
                          names[i], out);
        free(out);
}

Test(cli, inspect_name_prints_parameter_specs)
{
        char *out;
        cr_assert_eq(socfw(&out, "", "inspect sentiment"), 0);
        cr_assert(strstr(out, "Name         sentiment") &&
                          strstr(out, "threshold") &&
                          strstr(out, "accepts a number in [0, 1]"),
                  "%s", out);
        free(out);
        /* a task shows the keys of its default head and loss too */
        cr_assert_eq(socfw(&out, "", "inspect sentiment"), 0);
        cr_assert(strstr(out, "Head parameters (keys of head:, default head "
                              "'classifier'") &&
                          strstr(out, "pooling") &&
                          strstr(out, "cross_entropy"),
                  "%s", out);
        cr_assert(strstr(out, "ABI          2.0"), "%s", out);
        free(out);
        /* a head shows the target it declares */
        cr_assert_eq(socfw(&out, "", "inspect tagger"), 0);
        cr_assert(strstr(out, "Target       tags (one tag per word)"), "%s",
                  out);
        free(out);
        cr_assert_eq(socfw(&out, "", "inspect nosuch"), 1);
        cr_assert(strstr(out, "no plugin or head named 'nosuch'"), "%s", out);
        free(out);
}

Test(cli, validate_misspelt_key_reports_location_and_exits_1)
{
        const char *p = write_tmp("typo.yaml", "socfw: 1\n"
                                               "train:\n"
                                               "  lr: 0.001\n"
                                               "  batch_szie: 8\n");
        char args[4200], *out;
        snprintf(args, sizeof args, "validate %s", p);
        cr_assert_eq(socfw(&out, "", args), 1);
        char want[4400];
        snprintf(want, sizeof want,
                 "%s:4:3: unknown key 'batch_szie' in train; did you mean "
                 "'batch_size'?",
                 p);
        cr_assert(strstr(out, want), "wanted:\n%s\ngot:\n%s", want, out);
        free(out);
        p = write_tmp("ok.yaml", "socfw: 1\ntrain: {lr: 0.001}\n"
                                 "privacy: {entities: [EMAIL_ADDRESS]}\n"
                                 "chain: [privacy]\n");
        snprintf(args, sizeof args, "validate %s", p);
        cr_assert_eq(socfw(&out, "", args), 0, "%s", out);
        cr_assert(strstr(out, ": ok"), "%s", out);
        free(out);
}

Test(cli, predict_runs_the_chain_and_writes_atomically)
{
        char plugins[4096];
        snprintf(plugins, sizeof plugins, "%s/tests/plugins/good",
                 socfw_test_builddir());
        const char *p = write_tmp("chain.yaml",
                                  "socfw: 1\n"
                                  "tasks:\n"
                                  "  - {name: g, plugin: testgood, "
                                  "greeting: bonjour}\n"
                                  "chain: [g]\n");
        char pipeline[4200];
        snprintf(pipeline, sizeof pipeline, "%s", p);
        const char *in = write_tmp("in.jsonl", "{\"text\": \"one\", \"id\": 1}\n"
                                               "{\"text\": \"two\"}\n");
        char input[4200];
        snprintf(input, sizeof input, "%s", in);
        char args[20000], *out;
        snprintf(args, sizeof args,
                 "--plugin-path %s predict %s --input %s --output %s/out.jsonl",
                 plugins, pipeline, input, tmp);
        cr_assert_eq(socfw(&out, "", args), 0, "%s", out);
        free(out);
        char path[4200];
        snprintf(path, sizeof path, "%s/out.jsonl", tmp);
        char *res = socfw_test_read_file(path, NULL);
        cr_assert_not_null(res);
        cr_assert(strstr(res, "{\"text\":\"one\",\"id\":1,\"g\":{\"greeting\":"
                              "\"bonjour\"}}\n"),
                  "%s", res);
        free(res);

        /* a bad line: error names file:line; the old output is intact */
        in = write_tmp("bad.jsonl", "{\"text\": \"ok\"}\n{\"txt\": 1}\n");
        snprintf(input, sizeof input, "%s", in);
        snprintf(args, sizeof args,
                 "--plugin-path %s predict %s --input %s --output %s/out.jsonl",
                 plugins, pipeline, input, tmp);
        cr_assert_eq(socfw(&out, "", args), 1);
        char want[4400];
        snprintf(want, sizeof want, "%s:2: missing string field 'text'",
                 input);
        cr_assert(strstr(out, want), "wanted %s in:\n%s", want, out);
        free(out);
        res = socfw_test_read_file(path, NULL);
        cr_assert(res && strstr(res, "bonjour"), "old output kept");
        free(res);
}

Test(cli, a_broken_plugin_is_reported_and_the_rest_still_load)
{
        char args[8192], *out;
        snprintf(args, sizeof args,
                 "--plugin-path %s/tests/plugins/abimajor:%s/tests/plugins/good "
                 "inspect",
                 socfw_test_builddir(), socfw_test_builddir());
        cr_assert_eq(socfw(&out, "", args), 0);
        cr_assert(strstr(out, "testgood"), "%s", out);
        cr_assert(strstr(out, "plugin skipped") &&
                          strstr(out, "'testabimajor' was built for socfw "
                                      "plugin ABI 1.3; this socfw speaks "
                                      "2.0"),
                  "%s", out);
        free(out);
}

Test(cli, settings_not_implemented_yet_are_refused_not_ignored)
{
        const char *p = write_tmp("rec.yaml",
                                  "socfw: 1\n"
                                  "tasks:\n"
                                  "  - name: rec\n"
                                  "    plugin: recommend\n"
                                  "    rerank: 20\n"
                                  "chain: [rec]\n");
        char pipeline[4096];
        snprintf(pipeline, sizeof pipeline, "%s", p);
        const char *in = write_tmp("rec.jsonl", "{\"text\": \"u1\"}\n");
        char args[9000], *out;
        snprintf(args, sizeof args, "predict %s --input %s", pipeline, in);
        cr_assert_eq(socfw(&out, "", args), 1);
        char want[4200];
        snprintf(want, sizeof want, "%s:5:13: task 'rec' (plugin recommend): "
                                    "rerank: cross-encoder re-ranking is not "
                                    "available",
                 pipeline);
        cr_assert(strstr(out, want), "wanted %s in:\n%s", want, out);
        free(out);
}

/* `validate` refuses what `run` would refuse only after setup: a pipeline
 * with nothing to do, an unreadable pretraining corpus, a data file whose
 * rows lack the label field (named with file:line, before any
 * pretraining in `run`). */
Test(cli, validate_runs_the_checks_run_makes_before_real_work)
{
        char args[9000], *out;
        const char *p = write_tmp("empty.yaml", "socfw: 1\n");
        snprintf(args, sizeof args, "validate %s", p);
        cr_assert_eq(socfw(&out, "", args), 1);
        cr_assert(strstr(out, "no tasks, no chain and no pretraining"),
                  "%s", out);
        free(out);
        /* a base pipeline that only pretrains (configs/base-en.yaml) is
         * work to do */
        char base[8192];
        snprintf(base, sizeof base, "validate %s/configs/base-en.yaml",
                 socfw_test_srcdir());
        int st = socfw(&out, "", base);
        cr_expect(!strstr(out, "nothing to run"), "%s", out);
        cr_expect(st == 0 || strstr(out, "shared"), "%s", out);
        free(out);

        char data[4096];
        snprintf(data, sizeof data, "%s/configs/data", socfw_test_srcdir());
        char yaml[16384];
        static const char *const tmpl =
                "socfw: 1\n"
                "backbone: {arch: gpt2, hidden: 32, layers: 1, heads: 2,\n"
                "           max_positions: 64}\n"
                "pretrain: {corpus: [%s], steps: 5}\n"
                "tasks:\n"
                "  - name: s\n"
                "    plugin: sentiment\n"
                "    data: {train: %s/quickstart-train.jsonl,\n"
                "           label_field: %s}\n"
                "train: {epochs: 1}\n"
                "output: {dir: %s/never}\n";
        char corpus[4200];
        snprintf(corpus, sizeof corpus, "%s/no-such-corpus.txt", data);
        snprintf(yaml, sizeof yaml, tmpl, corpus, data, "label", tmp);
        p = write_tmp("nocorpus.yaml", yaml);
        snprintf(args, sizeof args, "validate %s", p);
        cr_assert_eq(socfw(&out, "", args), 1);
        cr_assert(strstr(out, "nocorpus.yaml:4:20: pretrain.corpus: cannot "
                              "read") &&
                          strstr(out, "no-such-corpus.txt"),
                  "%s", out);
        free(out);

        snprintf(corpus, sizeof corpus, "%s/quickstart-corpus.txt", data);
        snprintf(yaml, sizeof yaml, tmpl, corpus, data, "sentiment_label",
                 tmp);
        p = write_tmp("badlabel.yaml", yaml);
        char want[4400];
        snprintf(want, sizeof want,
                 "%s/quickstart-train.jsonl:1: task 's': data.train: "
                 "missing field 'sentiment_label'",
                 data);
        snprintf(args, sizeof args, "validate %s", p);
        cr_assert_eq(socfw(&out, "", args), 1);
        cr_assert(strstr(out, want), "wanted %s in:\n%s", want, out);
        free(out);
        /* run stops at the same place, before pretraining */
        snprintf(args, sizeof args, "run %s", p);
        cr_assert_eq(socfw(&out, "", args), 1);
        cr_assert(strstr(out, want), "wanted %s in:\n%s", want, out);
        cr_assert_null(strstr(out, "pretrain step"), "%s", out);
        free(out);

        snprintf(yaml, sizeof yaml, tmpl, corpus, data, "label", tmp);
        p = write_tmp("good.yaml", yaml);
        snprintf(args, sizeof args, "validate %s", p);
        cr_assert_eq(socfw(&out, "", args), 0, "%s", out);
        free(out);
}

/* `socfw init` writes a pipeline that validates as written, for the default
 * task and for every shipped task plugin; a name that is no task plugin,
 * and an existing --output, are refused. */
Test(cli, init_writes_a_pipeline_that_validates)
{
        static const char *const sets[] = {
                "", "--task sentiment --task privacy",
                "--task nlu --task recommend --task adcopy --task dialog "
                "--task sentiment --task sentiment"};
        char args[9000], *out;
        if (!tmp[0])
                cr_assert_not_null(socfw_test_tmpdir(tmp, sizeof tmp));
        for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) {
                char path[4200];
                snprintf(path, sizeof path, "%s/init%zu.yaml", tmp, i);
                snprintf(args, sizeof args, "init %s --output %s", sets[i],
                         path);
                cr_assert_eq(socfw(&out, "", args), 0, "%s", out);
                free(out);
                char *text = socfw_test_read_file(path, NULL);
                cr_assert(text && strstr(text, "socfw: 1") &&
                                  strstr(text, "chain: [privacy") &&
                                  strstr(text, "# data:"),
                          "%s", text);
                if (i == 2)
                        cr_assert(strstr(text, "name: sentiment2") &&
                                          strstr(text, "plugin: recommend"),
                                  "%s", text);
                free(text);
                snprintf(args, sizeof args, "validate %s", path);
                cr_assert_eq(socfw(&out, "", args), 0, "%s: %s", sets[i],
                             out);
                cr_assert(strstr(out, ": ok"), "%s", out);
                free(out);
                snprintf(args, sizeof args, "init --output %s", path);
                cr_assert_eq(socfw(&out, "", args), 1);
                cr_assert(strstr(out, "already exists"), "%s", out);
                free(out);
        }
        cr_assert_eq(socfw(&out, "", "init --task sentimnet"), 1);
        cr_assert(strstr(out, "--task sentimnet: no task plugin"), "%s", out);
        free(out);
        /* to standard output */
        cr_assert_eq(socfw(&out, "", "init"), 0);
        cr_assert(strstr(out, "plugin: sentiment") &&
                          strstr(out, "# pooling: mean"),
                  "%s", out);
        free(out);
}

/* A task that reads records of its own (its plugin declares `input`):
 * predict hands an ad-copy chain a brief without a text field, instead of
 * stopping at "missing string field 'text'"; a text field of the wrong type
 * is still named; inspect shows what the task reads. */
Test(cli, predict_gives_record_tasks_their_own_records)
{
        const char *p = write_tmp("ad.yaml", "socfw: 1\n"
                                             "tasks:\n"
                                             "  - {name: ad, plugin: adcopy}\n"
                                             "chain: [ad]\n");
        char pipeline[4200];
        snprintf(pipeline, sizeof pipeline, "%s", p);
        const char *in = write_tmp("brief.jsonl",
                                   "{\"category\": \"shoes\", \"advertiser\": "
                                   "\"Acme\", \"product\": \"trail runner\"}\n");
        char args[9000], *out;
        snprintf(args, sizeof args, "predict %s --input %s", pipeline, in);
        cr_assert_eq(socfw(&out, "", args), 1); /* no model: cannot write */
        cr_assert_null(strstr(out, "missing string field"), "%s", out);
        cr_assert(strstr(out, "brief.jsonl:1: stage 'ad'") &&
                          strstr(out, "no language model"),
                  "%s", out);
        free(out);
        in = write_tmp("bad.jsonl", "{\"text\": 5, \"product\": \"x\"}\n");
        snprintf(args, sizeof args, "predict %s --input %s", pipeline, in);
        cr_assert_eq(socfw(&out, "", args), 1);
        cr_assert(strstr(out, "bad.jsonl:1: field 'text' must be a string"),
                  "%s", out);
        free(out);
        cr_assert_eq(socfw(&out, "", "inspect recommend"), 0);
        cr_assert(strstr(out, "Input        a user {\"user\": ID}"), "%s",
                  out);
        free(out);
}

/* `version` says whether this build trains across processes (MPI), as
 * config.h says; `validate` names an unreadable pretrain.valid file with
 * its line, as it does a corpus, before `run` would meet it after the
 * corpus and vocabulary. */
Test(cli, version_tells_mpi_and_validate_checks_pretrain_valid)
{
        char *out;
        cr_assert_eq(socfw(&out, "", "version"), 0);
#ifdef HAVE_MPI
        cr_expect(strstr(out, "MPI yes"), "%s", out);
#else
        cr_expect(strstr(out, "MPI no"), "%s", out);
#endif
        free(out);
        const char *corpus = write_tmp("c.txt", "one line of text\n");
        char yaml[4096];
        snprintf(yaml, sizeof yaml,
                 "socfw: 1\n"
                 "backbone: {arch: gpt2, hidden: 16, layers: 1, heads: 2,"
                 " max_positions: 32}\n"
                 "pretrain: {corpus: [%s],\n"
                 "           valid: [no-such-valid.txt.gz]}\n",
                 corpus);
        const char *p = write_tmp("pv.yaml", yaml);
        char args[9000];
        snprintf(args, sizeof args, "validate %s", p);
        cr_assert_eq(socfw(&out, "", args), 1);
        cr_expect(strstr(out, "pretrain.valid: cannot read") &&
                          strstr(out, "no-such-valid.txt.gz") &&
                          strstr(out, "pv.yaml:4:"),
                  "%s", out);
        free(out);
}
