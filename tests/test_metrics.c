/* tests/test_metrics.c - every metric against hand-computed values
 * (table-driven), with the edge cases: a class never predicted, empty
 * input, K larger than the list. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "socfw/metrics.h"
#include "testutil.h"

#define EPS 1e-9

/* truth/pred over 4 classes; class 3 is never predicted (precision 0,
 * not NaN).  Hand-computed:
 *   class 0: tp 2, predicted 3, support 3 -> P 2/3 R 2/3 F 2/3
 *   class 1: tp 3, predicted 4, support 4 -> P 3/4 R 3/4 F 3/4
 *   class 2: tp 1, predicted 3, support 2 -> P 1/3 R 1/2 F 2/5
 *   class 3: tp 0, predicted 0, support 1 -> 0 0 0 */
static const int truth[] = {0, 0, 0, 1, 1, 1, 1, 2, 2, 3};
static const int pred[] = {0, 1, 0, 1, 1, 2, 1, 2, 0, 2};

Test(metrics, classification_hand_computed)
{
        socfw_confusion *cm;
        socfw_error err = {0};
        cr_assert_eq(socfw_confusion_new(&cm, 4, &err), 0);
        cr_assert_eq(socfw_confusion_add_many(cm, truth, pred, 10), 0);
        cr_assert_eq(socfw_confusion_get(cm, 2, 0), 1);
        cr_assert_eq(socfw_confusion_get(cm, 1, 1), 3);
        socfw_classification r;
        cr_assert_eq(socfw_classification_compute(&r, cm, &err), 0);
        static const double want[4][3] = {
                {2.0 / 3, 2.0 / 3, 2.0 / 3},
                {0.75, 0.75, 0.75},
                {1.0 / 3, 0.5, 0.4},
                {0, 0, 0},
        };
        static const size_t support[4] = {3, 4, 2, 1};
        for (int k = 0; k < 4; k++) {
                cr_assert_float_eq(r.per_class[k].precision, want[k][0], EPS);
                cr_assert_float_eq(r.per_class[k].recall, want[k][1], EPS);
                cr_assert_float_eq(r.per_class[k].f1, want[k][2], EPS);
                cr_assert_eq(r.per_class[k].support, support[k]);
                cr_assert(!isnan(r.per_class[k].precision));
        }
        cr_assert_eq(r.total, 10);
        cr_assert_float_eq(r.accuracy, 0.6, EPS);
        cr_assert_float_eq(r.macro_precision, 1.75 / 4, EPS);
        cr_assert_float_eq(r.macro_recall, (2.0 / 3 + 0.75 + 0.5) / 4, EPS);
        cr_assert_float_eq(r.macro_f1, (2.0 / 3 + 0.75 + 0.4) / 4, EPS);
        cr_assert_float_eq(r.weighted_f1, 0.58, EPS);
        cr_assert_float_eq(r.weighted_precision, (2 + 3 + 2.0 / 3) / 10, EPS);
        cr_assert_float_eq(r.weighted_recall, 0.6, EPS);
        socfw_classification_clear(&r);
        /* out-of-range classes are refused and counted */
        cr_assert_eq(socfw_confusion_add(cm, 4, 0), SOCFW_EINVAL);
        cr_assert_eq(socfw_confusion_add(cm, 0, -1), SOCFW_EINVAL);
        cr_assert_eq(cm->ignored, 2);
        socfw_confusion_free(cm);
        socfw_confusion_free(NULL);
        cr_assert_eq(socfw_confusion_new(&cm, 0, &err), SOCFW_EINVAL);
}

Test(metrics, classification_empty_input_is_zero)
{
        socfw_confusion *cm;
        cr_assert_eq(socfw_confusion_new(&cm, 3, NULL), 0);
        socfw_classification r;
        cr_assert_eq(socfw_classification_compute(&r, cm, NULL), 0);
        cr_assert_eq(r.total, 0);
        cr_assert_float_eq(r.accuracy, 0, 0);
        cr_assert_float_eq(r.macro_f1, 0, 0);
        cr_assert_float_eq(r.weighted_f1, 0, 0);
        cr_assert(!isnan(r.per_class[1].precision));
        socfw_classification_clear(&r);
        socfw_confusion_free(cm);
}

Test(metrics, multilabel_hand_computed)
{
        const uint8_t t[] = {1, 0, 1, 0, 1, 0, 1, 1, 0, 0, 0, 0};
        const uint8_t p[] = {1, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0};
        socfw_multilabel r;
        cr_assert_eq(socfw_multilabel_compute(&r, t, p, 4, 3, NULL), 0);
        cr_assert_float_eq(r.per_label[0].f1, 1.0, EPS);
        cr_assert_float_eq(r.per_label[1].precision, 1.0, EPS);
        cr_assert_float_eq(r.per_label[1].recall, 0.5, EPS);
        cr_assert_float_eq(r.per_label[1].f1, 2.0 / 3, EPS);
        cr_assert_float_eq(r.per_label[2].f1, 0.0, EPS);
        cr_assert_float_eq(r.micro_precision, 0.75, EPS);
        cr_assert_float_eq(r.micro_recall, 0.6, EPS);
        cr_assert_float_eq(r.micro_f1, 2.0 / 3, EPS);
        cr_assert_float_eq(r.macro_f1, (1 + 2.0 / 3) / 3, EPS);
        cr_assert_float_eq(r.subset_accuracy, 0.25, EPS);
        cr_assert_float_eq(r.hamming_loss, 0.25, EPS);
        socfw_multilabel_clear(&r);
        cr_assert_eq(socfw_multilabel_compute(&r, NULL, NULL, 0, 2, NULL), 0);
        cr_assert_float_eq(r.micro_f1, 0, 0);
        socfw_multilabel_clear(&r);
}

struct bio_case {
        const char *tags[8];
        size_t n;
        size_t n_spans;
        struct { size_t s, e; const char *type; } spans[4];
};

Test(metrics, bio_to_spans_conlleval_rules)
{
        static const struct bio_case cases[] = {
                {{"B-PER", "I-PER", "O", "B-LOC", "O", "B-ORG", "I-ORG"}, 7,
                 3, {{0, 2, "PER"}, {3, 4, "LOC"}, {5, 7, "ORG"}}},
                {{"I-PER", "I-PER", "O"}, 3, 1, {{0, 2, "PER"}}},
                {{"B-PER", "I-LOC"}, 2, 2, {{0, 1, "PER"}, {1, 2, "LOC"}}},
                {{"B-PER", "B-PER"}, 2, 2, {{0, 1, "PER"}, {1, 2, "PER"}}},
                {{"S-X", "B-Y", "E-Y", "I-Y"}, 4, 3,
                 {{0, 1, "X"}, {1, 3, "Y"}, {3, 4, "Y"}}},
                {{"PER", "PER", "O"}, 3, 1, {{0, 2, "PER"}}},
                {{"O", "I-X", "E-X", "O"}, 4, 1, {{1, 3, "X"}}},
                {{"O", "O"}, 2, 0, {{0, 0, ""}}},
                {{"B-EMAIL"}, 1, 1, {{0, 1, "EMAIL"}}},
                {{NULL}, 0, 0, {{0, 0, ""}}},
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                socfw_span *sp;
                size_t n;
                cr_assert_eq(socfw_bio_to_spans(cases[i].tags, cases[i].n, &sp,
                                                &n), 0);
                cr_assert_eq(n, cases[i].n_spans, "case %zu: %zu spans", i, n);
                for (size_t k = 0; k < n; k++) {
                        cr_assert_eq(sp[k].start, cases[i].spans[k].s,
                                     "case %zu span %zu", i, k);
                        cr_assert_eq(sp[k].end, cases[i].spans[k].e,
                                     "case %zu span %zu", i, k);
                        cr_assert_str_eq(sp[k].type, cases[i].spans[k].type);
                }
                free(sp);
        }
}

Test(metrics, span_scores_per_type_and_f2)
{
        socfw_span_scorer *s;
        cr_assert_eq(socfw_span_scorer_new(&s, 2.0, NULL), 0);
        const char *g1[] = {"B-PER", "I-PER", "O", "B-LOC", "O", "B-ORG",
                            "I-ORG"};
        const char *p1[] = {"B-PER", "I-PER", "O", "B-ORG", "O", "B-ORG", "O"};
        const char *g2[] = {"B-PER", "O", "B-PER"};
        const char *p2[] = {"B-PER", "O", "O"};
        cr_assert_eq(socfw_span_scorer_add_tags(s, g1, p1, 7, NULL), 0);
        cr_assert_eq(socfw_span_scorer_add_tags(s, g2, p2, 3, NULL), 0);
        const socfw_span_type_metrics *t;
        socfw_span_type_metrics all;
        cr_assert_eq(socfw_span_scorer_types(s, &t, &all), 3);
        /* sorted: LOC, ORG, PER */
        cr_assert_str_eq(t[0].type, "LOC");
        cr_assert_eq(t[0].fn, 1);
        cr_assert_float_eq(t[0].precision, 0, 0);      /* never predicted */
        cr_assert_str_eq(t[1].type, "ORG");
        cr_assert_eq(t[1].fp, 2);
        cr_assert_eq(t[1].fn, 1);
        cr_assert_str_eq(t[2].type, "PER");
        cr_assert_eq(t[2].tp, 2);
        cr_assert_eq(t[2].fn, 1);
        cr_assert_float_eq(t[2].precision, 1.0, EPS);
        cr_assert_float_eq(t[2].recall, 2.0 / 3, EPS);
        cr_assert_float_eq(t[2].f1, 0.8, EPS);
        cr_assert_float_eq(t[2].fbeta, 10.0 / 14, EPS);
        /* overall: tp 2, fp 2, fn 3 */
        cr_assert_eq(all.tp, 2);
        cr_assert_eq(all.fp, 2);
        cr_assert_eq(all.fn, 3);
        cr_assert_float_eq(all.precision, 0.5, EPS);
        cr_assert_float_eq(all.recall, 0.4, EPS);
        cr_assert_float_eq(all.f1, 0.4 / 0.9, EPS);
        cr_assert_float_eq(all.fbeta, 5 * 0.2 / (4 * 0.5 + 0.4), EPS);
        socfw_span_scorer_free(s);

        /* a gold span matches at most one prediction */
        socfw_span g = {0, 2, "X"};
        socfw_span pp[2] = {{0, 2, "X"}, {0, 2, "X"}};
        cr_assert_eq(socfw_span_scorer_new(&s, 1.0, NULL), 0);
        cr_assert_eq(socfw_span_scorer_add(s, &g, 1, pp, 2, NULL), 0);
        cr_assert_eq(socfw_span_scorer_types(s, &t, NULL), 1);
        cr_assert_eq(t[0].tp, 1);
        cr_assert_eq(t[0].fp, 1);
        socfw_span_scorer_free(s);
        cr_assert_eq(socfw_span_scorer_new(&s, 0, NULL), SOCFW_EINVAL);
}

struct rank_case {
        int64_t ranked[6];
        size_t n;
        int64_t rel[3];
        size_t n_rel, k;
        double hit, ndcg, mrr;
};

Test(metrics, ranking_hand_computed)
{
        static const struct rank_case cases[] = {
                {{5, 3, 9, 1, 7}, 5, {9}, 1, 1, 0, 0, 0},
                {{5, 3, 9, 1, 7}, 5, {9}, 1, 3, 1, 0.5, 1.0 / 3},
                /* K larger than the list */
                {{5, 3, 9, 1, 7}, 5, {9}, 1, 10, 1, 0.5, 1.0 / 3},
                {{5, 3, 9, 1, 7}, 5, {9, 7}, 2, 10, 1,
                 (0.5 + 1 / 2.584962500721156) / (1 + 1 / 1.584962500721156),
                 1.0 / 3},
                {{4, 2}, 2, {4}, 1, 0, 1, 1, 1},
                /* empty list, no relevant items */
                {{0}, 0, {4}, 1, 5, 0, 0, 0},
                {{1, 2}, 2, {0}, 0, 5, 0, 0, 0},
                /* more relevant items than k: ideal has k hits */
                {{1, 2, 3}, 3, {1, 2, 3}, 3, 2, 1, 1, 1},
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                const struct rank_case *c = &cases[i];
                cr_assert_float_eq(socfw_rank_hit_rate(c->ranked, c->n, c->rel,
                                                       c->n_rel, c->k),
                                   c->hit, EPS, "case %zu hit", i);
                cr_assert_float_eq(socfw_rank_ndcg(c->ranked, c->n, c->rel,
                                                   c->n_rel, c->k),
                                   c->ndcg, EPS, "case %zu ndcg", i);
                cr_assert_float_eq(socfw_rank_mrr(c->ranked, c->n, c->rel,
                                                  c->n_rel, c->k),
                                   c->mrr, EPS, "case %zu mrr", i);
        }
}

Test(metrics, generation_hand_computed)
{
        const int32_t cand[] = {1, 2, 3, 4, 5}, ref[] = {1, 3, 5, 6};
        socfw_rouge r = socfw_rouge_l(cand, 5, ref, 4, 1.0);
        cr_assert_float_eq(r.precision, 0.6, EPS);
        cr_assert_float_eq(r.recall, 0.75, EPS);
        cr_assert_float_eq(r.f, 2 * 0.45 / 1.35, EPS);
        /* symmetric LCS regardless of which is longer */
        socfw_rouge r2 = socfw_rouge_l(ref, 4, cand, 5, 1.0);
        cr_assert_float_eq(r2.precision, 0.75, EPS);
        r = socfw_rouge_l(cand, 0, ref, 4, 1.0);
        cr_assert_float_eq(r.f, 0, 0);
        r = socfw_rouge_l_text("the cat sat on the mat",
                               "the  cat is on the mat\n", 1.0);
        cr_assert_float_eq(r.f, 5.0 / 6, EPS);
        r = socfw_rouge_l_text("", "x", 1.0);
        cr_assert_float_eq(r.f, 0, 0);

        const int32_t a[] = {1, 2, 1, 2}, b[] = {1, 2, 3};
        const int32_t *seqs[] = {a, b};
        size_t lens[] = {4, 3};
        cr_assert_float_eq(socfw_distinct_n(seqs, lens, 2, 1), 3.0 / 7, EPS);
        cr_assert_float_eq(socfw_distinct_n(seqs, lens, 2, 2), 3.0 / 5, EPS);
        cr_assert_float_eq(socfw_distinct_n(seqs, lens, 2, 5), 0, 0);
        cr_assert_float_eq(socfw_distinct_n(seqs, lens, 0, 1), 0, 0);
        cr_assert_float_eq(socfw_mean_length(lens, 2), 3.5, EPS);
        cr_assert_float_eq(socfw_mean_length(lens, 0), 0, 0);
        cr_assert_float_eq(socfw_perplexity(10 * log(4.0), 10), 4.0, 1e-9);
        cr_assert(isnan(socfw_perplexity(1.0, 0)));
}

Test(metrics, distinct_many_sequences)
{
        /* 500 sequences of 0..9 repeated: 10 unique unigrams */
        static int32_t buf[500][10];
        const int32_t *seqs[500];
        size_t lens[500];
        for (int i = 0; i < 500; i++) {
                for (int j = 0; j < 10; j++)
                        buf[i][j] = j;
                seqs[i] = buf[i];
                lens[i] = 10;
        }
        cr_assert_float_eq(socfw_distinct_n(seqs, lens, 500, 1), 10.0 / 5000,
                           EPS);
        cr_assert_float_eq(socfw_distinct_n(seqs, lens, 500, 2), 9.0 / 4500,
                           EPS);
}

Test(metrics, registry_directions_and_lookup)
{
        socfw_metrics *m = socfw_metrics_new();
        cr_assert_not_null(m);
        cr_assert_eq(socfw_metrics_set(m, "sentiment.valid.macro_f1", 0.7, -1),
                     0);
        cr_assert_eq(socfw_metrics_set(m, "sentiment.valid.loss", 0.9, -1), 0);
        cr_assert_eq(socfw_metrics_set(m, "reply.valid.perplexity", 30, -1), 0);
        cr_assert_eq(socfw_metrics_set(m, "custom.score", 3, 0), 0);
        cr_assert_eq(socfw_metrics_set(m, "", 3, 0), SOCFW_EINVAL);
        cr_assert(socfw_metrics_higher_is_better(m,
                                                 "sentiment.valid.macro_f1"));
        cr_assert(!socfw_metrics_higher_is_better(m, "sentiment.valid.loss"));
        cr_assert(!socfw_metrics_higher_is_better(m, "reply.valid.perplexity"));
        cr_assert(!socfw_metrics_higher_is_better(m, "custom.score"));
        cr_assert(!socfw_metrics_default_higher_is_better("x.hamming_loss"));
        cr_assert(socfw_metrics_default_higher_is_better("loss_ratio.f1"));
        cr_assert(socfw_metrics_improves(m, "sentiment.valid.macro_f1", 0.71,
                                         0.7, 0.0));
        cr_assert(!socfw_metrics_improves(m, "sentiment.valid.macro_f1", 0.705,
                                          0.7, 0.01));
        cr_assert(socfw_metrics_improves(m, "sentiment.valid.loss", 0.8, 0.9,
                                         0.0));
        cr_assert(!socfw_metrics_improves(m, "sentiment.valid.loss", NAN, 0.9,
                                          0.0));
        cr_assert(socfw_metrics_improves(m, "sentiment.valid.loss", 5, NAN, 0));
        double v;
        socfw_error err = {0};
        cr_assert_eq(socfw_metrics_get(m, "sentiment.valid.loss", &v, &err), 0);
        cr_assert_float_eq(v, 0.9, 0);
        cr_assert_eq(socfw_metrics_set(m, "sentiment.valid.loss", 0.5, -1), 0);
        cr_assert_eq(socfw_metrics_count(m), 4);
        cr_assert_eq(socfw_metrics_get(m, "sentiment.valid.macro-f1", &v, &err),
                     SOCFW_ENOTFOUND);
        cr_assert_not_null(strstr(err.message, "unknown metric "
                                  "'sentiment.valid.macro-f1' (known: "
                                  "sentiment.valid.macro_f1, "));
        int hib;
        cr_assert_str_eq(socfw_metrics_name(m, 1, &v, &hib),
                         "sentiment.valid.loss");
        cr_assert_float_eq(v, 0.5, 0);
        cr_assert_eq(hib, 0);
        cr_assert_null(socfw_metrics_name(m, 9, NULL, NULL));

        socfw_classification r = {0};
        r.accuracy = 0.5;
        r.macro_f1 = 0.25;
        cr_assert_eq(socfw_metrics_add_classification(m, "s.test", &r), 0);
        cr_assert_eq(socfw_metrics_get(m, "s.test.macro_f1", &v, NULL), 0);
        cr_assert_float_eq(v, 0.25, 0);
        socfw_metrics_set(m, "nan.metric", NAN, -1);
        json_t *j = socfw_metrics_to_json(m);
        json_t *acc = json_object_get(j, "s.test.accuracy");
        cr_assert_float_eq(json_real_value(acc), 0.5, 0);
        cr_assert(json_is_null(json_object_get(j, "nan.metric")));
        json_decref(j);
        socfw_metrics_free(m);
        socfw_metrics_free(NULL);
}

/* Cross-check against scikit-learn when /usr/bin/python3 has it. */
Test(metrics, classification_matches_sklearn_when_installed, .timeout = 60)
{
        int status;
        char *out = socfw_test_run("/usr/bin/python3 -c 'import sklearn'",
                                   &status);
        free(out);
        if (status != 0)
                cr_skip_test("skipped: scikit-learn is not installed for "
                             "/usr/bin/python3");
        out = socfw_test_run(
                "/usr/bin/python3 -c 'from sklearn.metrics import "
                "precision_recall_fscore_support as p, accuracy_score as a\n"
                "t=[0,0,0,1,1,1,1,2,2,3]; q=[0,1,0,1,1,2,1,2,0,2]\n"
                "L=[0,1,2,3]\n"
                "m=p(t,q,labels=L,average=\"macro\",zero_division=0)\n"
                "w=p(t,q,labels=L,average=\"weighted\",zero_division=0)\n"
                "print(a(t,q), m[0], m[1], m[2], w[2])'", &status);
        cr_assert_eq(status, 0, "%s", out ? out : "");
        double want[5];
        char *p = out;
        for (int i = 0; i < 5; i++) {
                char *end;
                want[i] = strtod(p, &end);
                cr_assert_neq(end, p, "cannot parse: %s", out);
                p = end;
        }
        free(out);
        socfw_confusion *cm;
        cr_assert_eq(socfw_confusion_new(&cm, 4, NULL), 0);
        socfw_confusion_add_many(cm, truth, pred, 10);
        socfw_classification r;
        cr_assert_eq(socfw_classification_compute(&r, cm, NULL), 0);
        cr_assert_float_eq(r.accuracy, want[0], 1e-9);
        cr_assert_float_eq(r.macro_precision, want[1], 1e-9);
        cr_assert_float_eq(r.macro_recall, want[2], 1e-9);
        cr_assert_float_eq(r.macro_f1, want[3], 1e-9);
        cr_assert_float_eq(r.weighted_f1, want[4], 1e-9);
        socfw_classification_clear(&r);
        socfw_confusion_free(cm);
}
