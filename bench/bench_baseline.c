/* bench/bench_baseline.c - the classical baseline alone on a data set:
 * TF-IDF (word 1-2-grams + char 2-5-grams) + logistic regression
 * (multinomial for more than two classes, else liblinear; C=2, balanced),
 * exactly as classification reports show it
 * next to the model (socfw/baseline.h).
 *
 *     bench/bench_baseline TRAIN.jsonl VALID.jsonl [min_df [eps]]
 *
 * Reads JSON Lines with "text" and "label" (labels sorted by name, as a
 * pipeline without labels: infers them), trains on TRAIN, prints VALID's
 * classification report, macro-recall, macro-F1, accuracy and the time
 * taken.  A benchmark measures; it does not pass or fail.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_clock.h"
#include "socfw/baseline.h"
#include "socfw/data.h"
#include "socfw/metrics.h"
#include "socfw/report.h"

int
main(int argc, char **argv)
{
        if (argc < 3) {
                fprintf(stderr, "usage: %s TRAIN.jsonl VALID.jsonl [min_df [eps]]\n",
                        argv[0]);
                return 2;
        }
        socfw_error err = {0};
        socfw_dataset *tr = NULL, *va = NULL;
        socfw_dataset_options o = SOCFW_DATASET_OPTIONS_INIT;
        o.label_field = "label";
        o.reader.bad_rows = SOCFW_BAD_ROWS_SKIP;
        socfw_baseline_options bo = SOCFW_BASELINE_OPTIONS_INIT;
        if (argc > 3)
                bo.min_df = (int)strtol(argv[3], NULL, 10);
        if (argc > 4)
                bo.eps = strtod(argv[4], NULL);
        socfw_baseline *b = NULL;
        socfw_confusion *cm = NULL;
        socfw_classification res = {0};
        const char **texts = NULL, **names = NULL;
        int *labels = NULL, rc = 1;
        if (socfw_dataset_load(&tr, argv[1], &o, &err) < 0)
                goto out;
        size_t K = socfw_dataset_num_labels(tr), n = socfw_dataset_size(tr);
        names = calloc(K, sizeof *names);
        for (size_t k = 0; names && k < K; k++)
                names[k] = socfw_dataset_label_name(tr, k);
        o.labels = names;
        o.n_labels = K;
        if (socfw_dataset_load(&va, argv[2], &o, &err) < 0)
                goto out;
        texts = calloc(n, sizeof *texts);
        labels = calloc(n, sizeof *labels);
        if (!texts || !labels)
                goto out;
        for (size_t i = 0; i < n; i++) {
                texts[i] = socfw_dataset_text(tr, i);
                labels[i] = socfw_dataset_label(tr, i);
        }
        double t0 = bench_now();
        if (socfw_baseline_train(&b, texts, labels, n, K, &bo, &err) < 0)
                goto out;
        double t1 = bench_now();
        if (socfw_confusion_new(&cm, K, &err) < 0)
                goto out;
        for (size_t i = 0; i < socfw_dataset_size(va); i++) {
                int k;
                if (socfw_baseline_predict(b, socfw_dataset_text(va, i), NULL,
                                           &k, &err) < 0)
                        goto out;
                socfw_confusion_add(cm, socfw_dataset_label(va, i), k);
        }
        double t2 = bench_now();
        if (socfw_classification_compute(&res, cm, &err) < 0)
                goto out;
        char *txt = socfw_report_classification_text(&res, cm, names, 4);
        printf("%s\n", txt ? txt : "");
        free(txt);
        printf("train %zu texts, %zu features, min_df %d: %.1f s; valid %zu "
               "texts: %.2f s\n",
               n, socfw_tfidf_n_features(socfw_baseline_features(b)),
               bo.min_df, t1 - t0, socfw_dataset_size(va), t2 - t1);
        printf("macro_recall %.4f macro_f1 %.4f accuracy %.4f\n",
               res.macro_recall, res.macro_f1, res.accuracy);
        rc = 0;
out:
        if (rc)
                fprintf(stderr, "bench_baseline: %s%s%s\n",
                        err.file[0] ? err.file : "", err.file[0] ? ": " : "",
                        err.message[0] ? err.message : "out of memory");
        socfw_classification_clear(&res);
        socfw_confusion_free(cm);
        socfw_baseline_free(b);
        socfw_dataset_free(tr);
        socfw_dataset_free(va);
        free(texts);
        free(labels);
        free(names);
        return rc;
}
