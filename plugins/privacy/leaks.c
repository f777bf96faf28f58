/* leaks.c - what masking with the tagger's predictions leaves in the
 * clear (leaks.h). */
#include "leaks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "buf.h"
#include "model.h"

/* Word w of a record as socfw_pii_ner_example split it: tokens[w], or the
 * w-th word of its text.  Caller frees; NULL when it cannot be told. */
static char *
record_word(const socfw_record *rec, size_t w)
{
        char *tokens = rec ? socfw_record_get_json(rec, "tokens") : NULL;
        if (tokens) {
                json_t *jt = json_loads(tokens, 0, NULL);
                const char *s = json_string_value(json_array_get(jt, w));
                char *out = s ? strdup(s) : NULL;
                json_decref(jt);
                free(tokens);
                return out;
        }
        const char *text = rec ? socfw_record_get_string(rec, "text") : NULL;
        if (!text)
                return NULL;
        socfw_pii_words words = {0};
        char *out = NULL;
        if (socfw_pii_words_split(text, strlen(text), &words) == 0 &&
            w < words.n) {
                size_t n = words.v[w].end - words.v[w].start;
                if ((out = malloc(n + 1))) {
                        memcpy(out, text + words.v[w].start, n);
                        out[n] = '\0';
                }
        }
        socfw_pii_words_free(&words);
        return out;
}

/* "B-PERSON" -> "PERSON" */
static const char *
type_of(const char *label)
{
        if (label && (label[0] == 'B' || label[0] == 'I') && label[1] == '-')
                return label + 2;
        return label ? label : "?";
}

int
socfw_pii_eval_leaks(socfw_eval *ev, const socfw_task_ctx *ctx,
                     size_t max_listed, socfw_error *err)
{
        if (socfw_eval_kind(ev) != SOCFW_TARGET_TAGS)
                return 0;
        size_t K = socfw_task_label_count(ctx);
        int o = -1;
        for (size_t k = 0; k < K && o < 0; k++)
                if (!strcmp(socfw_task_label(ctx, k), "O"))
                        o = (int)k;
        if (o < 0)
                return 0;
        size_t pii = 0, masked = 0, other = 0, over = 0, with_pii = 0,
               clean = 0, listed = 0;
        socfw_pii_buf leaks = {0};
        for (size_t i = 0; i < socfw_eval_count(ev); i++) {
                const int *gold, *pred;
                size_t n = socfw_eval_tags(ev, i, &gold, &pred);
                size_t leaked = 0, has = 0;
                for (size_t w = 0; w < n; w++) {
                        if (gold[w] < 0)
                                continue; /* no gold tag */
                        /* a word the model never read is not masked */
                        int hidden = pred[w] >= 0 && pred[w] != o;
                        if (gold[w] == o) {
                                other++;
                                over += hidden;
                                continue;
                        }
                        has = 1;
                        pii++;
                        masked += hidden;
                        if (hidden)
                                continue;
                        leaked++;
                        if (listed >= max_listed)
                                continue;
                        const socfw_record *rec = socfw_eval_record(ev, i);
                        char *word = record_word(rec, w);
                        char line[600];
                        snprintf(line, sizeof line,
                                 "  %s:%ld: '%s' (%s)\n",
                                 rec ? socfw_record_file(rec) : "?",
                                 rec ? socfw_record_line(rec) : 0L,
                                 word ? word : "?",
                                 type_of(socfw_task_label(ctx,
                                                          (size_t)gold[w])));
                        free(word);
                        socfw_pii_buf_str(&leaks, line);
                        listed++;
                }
                with_pii += has;
                clean += has && !leaked;
        }
        double recall = pii ? (double)masked / (double)pii : 1.0;
        double leak_free = with_pii ? (double)clean / (double)with_pii : 1.0;
        double over_rate = other ? (double)over / (double)other : 0.0;
        int rc = socfw_eval_add_metric(ev, "masked_word_recall", recall,
                                       true);
        if (rc == 0)
                rc = socfw_eval_add_metric(ev, "leak_free_records",
                                           leak_free, true);
        if (rc == 0)
                rc = socfw_eval_add_metric(ev, "over_masked_rate", over_rate,
                                           false);
        char head[512];
        snprintf(head, sizeof head,
                 "masking with the tagger: %zu of %zu entity words masked "
                 "(%.2f%%), %zu of %zu records with entities leak none "
                 "(%.2f%%), %zu of %zu other words masked needlessly "
                 "(%.2f%%)\n%s",
                 masked, pii, 100 * recall, clean, with_pii, 100 * leak_free,
                 over, other, 100 * over_rate,
                 listed ? "entity words left in the clear (the first "
                          "ones):\n"
                        : "");
        socfw_pii_buf text = {0};
        socfw_pii_buf_str(&text, head);
        if (leaks.p)
                socfw_pii_buf_add(&text, leaks.p, leaks.n);
        if (rc == 0 && (leaks.failed || text.failed))
                rc = SOCFW_ENOMEM;
        if (rc == 0)
                rc = socfw_eval_add_report(ev, text.p);
        free(text.p);
        free(leaks.p);
        return rc == SOCFW_ENOMEM ? socfw_error_set(err, rc, "out of memory")
                                  : rc;
}
