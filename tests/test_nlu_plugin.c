/* tests/test_nlu_plugin.c - the nlu plugin in pipelines: the extractors
 * alone as a chain stage (no training), configuration errors, and a tiny
 * joint intent + slot model trained on a synthetic set that learns,
 * evaluates jointly, and predicts nlu.intent and nlu.slots (model and
 * pattern spans merged). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "socfw/chain.h"
#include "socfw/pipeline.h"
#include "socfw/registry.h"
#include "socfw/runtime.h"
#include "testutil.h"

/* The post's annotation `key` parsed as JSON (caller decrefs). */
static json_t *
annotation(const socfw_post *post, const char *key)
{
        char *js = socfw_post_to_json(post);
        json_t *o = json_loads(js, 0, NULL);
        free(js);
        cr_assert_not_null(o);
        json_t *v = json_object_get(json_object_get(o, "nlu"), key);
        json_incref(v);
        json_decref(o);
        return v;
}

static json_t *
slot_of(json_t *slots, const char *type)
{
        size_t i;
        json_t *s;
        json_array_foreach(slots, i, s)
        {
                if (!strcmp(json_string_value(json_object_get(s, "type")),
                            type))
                        return s;
        }
        return NULL;
}

Test(nlu_plugin, extractors_run_without_training, .init = fx_setup,
     .fini = fx_teardown, .timeout = 60)
{
        FILE *f = socfw_test_create(fx.dir, "co.tsv");
        fputs("AAPL\tApple Inc.\nMSFT\tMicrosoft Corporation\n", f);
        fclose(f);
        socfw_pipeline *p = fx_load("socfw: 1\n"
                                    "tasks:\n"
                                    "  - name: keys\n"
                                    "    plugin: nlu\n"
                                    "    tickers: co.tsv\n"
                                    "chain: [keys]\n");
        socfw_chain *chain = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_chain_new(&chain, p, NULL, &err), 0, "%s",
                     err.message);
        socfw_post *post = NULL;
        const char *js = "{\"text\": \"Caf\xC3\xA9 talk: $AAPL +5% after "
                         "Microsoft paid \xE2\x82\xAC" "30 yesterday\", "
                         "\"timestamp\": \"2024-03-15T08:00:00Z\"}";
        cr_assert_eq(socfw_post_from_json(&post, js, strlen(js), NULL, &err),
                     0, "%s", err.message);
        cr_assert_eq(socfw_chain_run(chain, post, &err), 0, "%s",
                     err.message);
        json_t *slots = annotation(post, "slots");
        cr_assert(json_is_array(slots));
        json_t *c = slot_of(slots, "CASHTAG");
        cr_assert_not_null(c);
        /* "Café talk: " is 11 code points (12 bytes) */
        cr_assert_eq(json_integer_value(json_object_get(c, "start")), 11);
        cr_assert_eq(json_integer_value(json_object_get(c, "end")), 16);
        cr_assert_str_eq(json_string_value(json_object_get(c, "text")),
                         "$AAPL");
        json_t *d = slot_of(slots, "DATE");
        cr_assert_str_eq(json_string_value(json_object_get(d, "value")),
                         "2024-03-14");
        cr_assert_str_eq(json_string_value(json_object_get(
                                 slot_of(slots, "COMPANY"), "value")),
                         "MSFT");
        cr_assert_str_eq(json_string_value(json_object_get(
                                 slot_of(slots, "AMOUNT"), "value")),
                         "30 EUR");
        cr_assert_str_eq(json_string_value(json_object_get(
                                 slot_of(slots, "PERCENT"), "value")),
                         "5");
        json_decref(slots);
        json_t *tk = annotation(post, "tickers");
        cr_assert_eq(json_array_size(tk), 2);
        cr_assert_str_eq(json_string_value(json_array_get(tk, 0)), "AAPL");
        cr_assert_str_eq(json_string_value(json_array_get(tk, 1)), "MSFT");
        json_decref(tk);
        /* no intent without an intent model */
        cr_assert_null(socfw_post_get_string(post, "nlu.intent"));
        socfw_post_free(post);
        socfw_chain_free(chain);
        socfw_pipeline_free(p);
}

Test(nlu_plugin, parameters_take_effect, .init = fx_setup,
     .fini = fx_teardown, .timeout = 60)
{
        socfw_pipeline *p = fx_load("socfw: 1\n"
                                    "tasks:\n"
                                    "  - name: keys\n"
                                    "    plugin: nlu\n"
                                    "    key: info\n"
                                    "    extractors: [date, amount]\n"
                                    "    day_first: true\n"
                                    "    dollar: CAD\n"
                                    "    date_reference: none\n"
                                    "chain: [keys]\n");
        socfw_chain *chain = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_chain_new(&chain, p, NULL, &err), 0, "%s",
                     err.message);
        socfw_post *post = socfw_post_new(
                "$AAPL cost $5 on 03/04/2024, 10% more than yesterday",
                NULL);
        cr_assert_eq(socfw_chain_run(chain, post, &err), 0, "%s",
                     err.message);
        char *js = socfw_post_to_json(post);
        json_t *o = json_loads(js, 0, NULL);
        json_t *slots = json_object_get(json_object_get(o, "info"), "slots");
        cr_assert(json_is_array(slots), "%s", js);
        cr_assert_null(slot_of(slots, "CASHTAG"), "%s", js);
        cr_assert_null(slot_of(slots, "PERCENT"), "%s", js);
        cr_assert_str_eq(json_string_value(json_object_get(
                                 slot_of(slots, "AMOUNT"), "value")),
                         "5 CAD");
        /* day first; and no post date: "yesterday" is found, no value */
        size_t i;
        json_t *x;
        int dates = 0;
        json_array_foreach(slots, i, x)
        {
                const char *t = json_string_value(json_object_get(x, "text"));
                if (strcmp(json_string_value(json_object_get(x, "type")),
                           "DATE"))
                        continue;
                dates++;
                if (!strcmp(t, "03/04/2024"))
                        cr_assert_str_eq(json_string_value(
                                                 json_object_get(x, "value")),
                                         "2024-04-03");
                else
                        cr_assert(!strcmp(t, "yesterday") &&
                                          !json_object_get(x, "value"),
                                  "%s", js);
        }
        cr_assert_eq(dates, 2, "%s", js);
        json_decref(o);
        free(js);
        socfw_post_free(post);
        socfw_chain_free(chain);
        socfw_pipeline_free(p);
}

Test(nlu_plugin, configuration_errors_name_the_place, .init = fx_setup,
     .fini = fx_teardown, .timeout = 60)
{
        FILE *f = socfw_test_create(fx.dir, "dup.tsv");
        fputs("AAPL\tApple Inc.\nAAPL\tApple again\n", f);
        fclose(f);
        static const struct {
                const char *task;
                const char *says;
        } c[] = {
                {"    tickers: dup.tsv\n", "dup.tsv:2:"},
                {"    extractors: [cashtag, ticker]\n",
                 "need a company list"},
                {"    key: a.b\n", "plain name"},
        };
        for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
                char y[512];
                snprintf(y, sizeof y,
                         "socfw: 1\ntasks:\n  - name: keys\n    plugin: "
                         "nlu\n%schain: [keys]\n",
                         c[i].task);
                socfw_pipeline *p = fx_load(y);
                socfw_chain *chain = NULL;
                socfw_error err = {0};
                cr_assert_lt(socfw_chain_new(&chain, p, NULL, &err), 0,
                             "case %zu accepted", i);
                char msg[1200];
                socfw_error_string(&err, msg, sizeof msg);
                cr_expect(strstr(msg, c[i].says), "case %zu: %s", i, msg);
                socfw_pipeline_free(p);
        }
}

/* ---- a tiny joint model ---- */

static const char *const ARTIST[] = {"adele", "queen", "muse", "abba",
                                     "drake", "sia"};
static const char *const SERVICE[] = {"spotify", "deezer", "youtube"};
static const char *const CITY[] = {"paris", "london", "tokyo", "oslo",
                                   "lima"};
static const char *const WHEN[] = {"today", "tomorrow", "now"};

/* JSON Lines of the SNIPS shape: text, tokens, tags, intent. */
static void
write_set(const char *name, int n, unsigned seed)
{
        FILE *f = socfw_test_create(fx.dir, name);
        for (int i = 0; i < n; i++) {
                const char *w[8], *t[8];
                int k = 0;
                const char *intent;
                seed = seed * 1103515245u + 12345u;
                if ((seed >> 8) & 1) {
                        intent = "PlayMusic";
                        w[k] = "play", t[k++] = "O";
                        w[k] = ARTIST[(seed >> 10) % 6], t[k++] = "B-artist";
                        w[k] = "on", t[k++] = "O";
                        w[k] = SERVICE[(seed >> 14) % 3],
                        t[k++] = "B-service";
                } else {
                        intent = "GetWeather";
                        w[k] = "weather", t[k++] = "O";
                        w[k] = "in", t[k++] = "O";
                        w[k] = CITY[(seed >> 10) % 5], t[k++] = "B-city";
                        w[k] = WHEN[(seed >> 14) % 3], t[k++] = "B-time";
                }
                fprintf(f, "{\"text\": \"");
                for (int j = 0; j < k; j++)
                        fprintf(f, "%s%s", j ? " " : "", w[j]);
                fprintf(f, "\", \"tokens\": [");
                for (int j = 0; j < k; j++)
                        fprintf(f, "%s\"%s\"", j ? ", " : "", w[j]);
                fprintf(f, "], \"tags\": [");
                for (int j = 0; j < k; j++)
                        fprintf(f, "%s\"%s\"", j ? ", " : "", t[j]);
                fprintf(f, "], \"intent\": \"%s\"}\n", intent);
        }
        fclose(f);
}

static const char JOINT[] =
        "socfw: 1\n"
        "threads: 1\n"
        "backbone: {arch: gpt2, hidden: 32, layers: 1, heads: 2,"
        " max_positions: 32, max_seq_len: 16, dropout: 0.0}\n"
        "pretrain: {corpus: [], steps: 10, batch_size: 8, seq_len: 16,"
        " tokenizer: {vocab_size: 300}}\n"
        "tasks:\n"
        "  - name: intent\n"
        "    plugin: nlu\n"
        "    head: {type: classifier, pooling: mean, dropout: 0.0}\n"
        "    data: {train: train.jsonl, valid: valid.jsonl,"
        " label_field: intent}\n"
        "  - name: nlu\n"
        "    plugin: nlu\n"
        "    head: {type: tagger, dropout: 0.0, label_token: last,"
        " lookahead: 1}\n"
        "    intent_task: intent\n"
        "    lowercase: true\n"
        "    labels: [O, B-artist, I-artist, B-service, I-service, B-city,"
        " I-city, B-time, I-time]\n"
        "    data: {train: train.jsonl, valid: valid.jsonl}\n"
        "train: {lr: 1.0e-2, epochs: 5, batch_size: 16, seed: 7}\n"
        "chain: [nlu]\n"
        "output: {dir: run}\n";

Test(nlu_plugin, a_tiny_joint_model_learns_and_predicts, .init = fx_setup,
     .fini = fx_teardown, .timeout = 300)
{
        write_set("train.jsonl", 300, 1);
        write_set("valid.jsonl", 60, 2);
        socfw_pipeline *p = fx_load(JOINT);
        char out[4200];
        snprintf(out, sizeof out, "%s/run", fx.dir);
        socfw_runtime *rt = socfw_test_runtime(p, out, 0);
        socfw_error err = {0};
        double em0 = -1, em = -1, ia = -1, f1 = -1, sf1 = -1;
        cr_assert_eq(socfw_runtime_evaluate(rt, "valid", &err), 0, "%s",
                     err.message);
        cr_assert_eq(socfw_runtime_metric(rt, "nlu.valid.exact_match", &em0),
                     0);
        cr_assert_eq(socfw_runtime_train(rt, &err), 0, "%s", err.message);
        cr_assert_eq(socfw_runtime_evaluate(rt, "valid", &err), 0, "%s",
                     err.message);
        cr_assert_eq(socfw_runtime_metric(rt, "nlu.valid.exact_match", &em),
                     0);
        cr_assert_eq(socfw_runtime_metric(rt, "nlu.valid.intent_accuracy",
                                          &ia),
                     0);
        cr_assert_eq(socfw_runtime_metric(rt, "nlu.valid.f1", &f1), 0);
        cr_assert_eq(socfw_runtime_metric(rt, "nlu.valid.slot_f1", &sf1), 0);
        cr_log_info("exact match %.4f (before %.4f), intent accuracy %.4f, "
                    "slot F1 %.4f (host %.4f)",
                    em, em0, ia, sf1, f1);
        cr_assert_lt(em0, 0.2, "untrained exact match %.4f", em0);
        cr_assert_gt(ia, 0.95, "intent accuracy %.4f", ia);
        cr_assert_gt(em, 0.8, "exact match %.4f", em);
        /* the joint path (predict's) and the host's batched scorer agree */
        cr_assert_float_eq(sf1, f1, 1e-9, "slot F1 %.6f vs %.6f", sf1, f1);
        socfw_runtime_free(rt);
        char path[4400];
        snprintf(path, sizeof path, "%s/nlu.valid.txt", out);
        char *txt = socfw_test_read_file(path, NULL);
        cr_assert(txt && strstr(txt, "exact match"), "%s",
                  txt ? txt : "(missing)");
        free(txt);

        /* predict from the finished run: intent, model slots and pattern
         * spans; offsets on the original (upper-case) text */
        rt = socfw_test_runtime(p, out, 1);
        socfw_chain *chain = NULL;
        cr_assert_eq(socfw_runtime_chain(rt, &chain, &err), 0, "%s",
                     err.message);
        socfw_post *post = socfw_post_new("Play ADELE on Spotify for $5",
                                          NULL);
        cr_assert_eq(socfw_chain_run(chain, post, &err), 0, "%s",
                     err.message);
        cr_assert_str_eq(socfw_post_get_string(post, "nlu.intent"),
                         "PlayMusic");
        json_t *scores = annotation(post, "intent_scores");
        cr_assert_eq(json_object_size(scores), 2);
        json_decref(scores);
        json_t *slots = annotation(post, "slots");
        char *dump = json_dumps(slots, JSON_COMPACT);
        cr_log_info("slots: %s", dump);
        json_t *a = slot_of(slots, "artist");
        cr_assert_not_null(a, "%s", dump);
        cr_assert_str_eq(json_string_value(json_object_get(a, "text")),
                         "ADELE");
        cr_assert_eq(json_integer_value(json_object_get(a, "start")), 5);
        cr_assert_str_eq(json_string_value(json_object_get(a, "source")),
                         "model");
        cr_assert_not_null(slot_of(slots, "service"), "%s", dump);
        json_t *m = slot_of(slots, "AMOUNT");
        cr_assert_not_null(m, "%s", dump);
        cr_assert_str_eq(json_string_value(json_object_get(m, "source")),
                         "pattern");
        free(dump);
        json_decref(slots);
        socfw_post_free(post);
        post = socfw_post_new("weather in Oslo tomorrow", NULL);
        cr_assert_eq(socfw_chain_run(chain, post, &err), 0, "%s",
                     err.message);
        cr_assert_str_eq(socfw_post_get_string(post, "nlu.intent"),
                         "GetWeather");
        slots = annotation(post, "slots");
        cr_assert_not_null(slot_of(slots, "city"));
        /* "tomorrow" is both a model slot (time) and a pattern date: the
         * pattern wins by default */
        cr_assert_not_null(slot_of(slots, "DATE"));
        cr_assert_null(slot_of(slots, "time"));
        json_decref(slots);
        socfw_post_free(post);

        /* `socfw evaluate` on a file reports the joint figures too */
        char *report = NULL;
        char valid[4200];
        snprintf(valid, sizeof valid, "%s/valid.jsonl", fx.dir);
        cr_assert_eq(socfw_runtime_evaluate_file(rt, "nlu", valid, &report,
                                                 &err),
                     0, "%s", err.message);
        cr_assert(report && strstr(report, "exact match"), "%s",
                  report ? report : "(none)");
        free(report);
        socfw_chain_free(chain);
        socfw_runtime_free(rt);
        socfw_pipeline_free(p);
}

Test(nlu_plugin, bad_training_records_name_the_field, .init = fx_setup,
     .fini = fx_teardown, .timeout = 120)
{
        for (int i = 0; i < 2; i++) {
                FILE *f = socfw_test_create(fx.dir, i ? "valid.jsonl"
                                                      : "train.jsonl");
                fputs("{\"text\": \"play adele\", \"tokens\": [\"play\", "
                      "\"adele\"], \"tags\": [\"O\", \"B-singer\"], "
                      "\"intent\": \"PlayMusic\"}\n",
                      f);
                fclose(f);
        }
        socfw_pipeline *p = fx_load(JOINT);
        char out[4200];
        snprintf(out, sizeof out, "%s/run", fx.dir);
        socfw_runtime *rt = NULL;
        socfw_runtime_options o = {.output_dir = out,
                                   .progress = socfw_test_quiet};
        socfw_error err = {0};
        int rc = socfw_runtime_new(&rt, p, &o, &err);
        cr_assert_lt(rc, 0);
        char msg[1200];
        socfw_error_string(&err, msg, sizeof msg);
        cr_assert(strstr(msg, "B-singer") && strstr(msg, "train.jsonl:1"),
                  "%s", msg);
        socfw_pipeline_free(p);
}
