/* framework/core/example_impl.h - training examples made by a task's
 * parse_example hook, and the evaluation object its evaluate hook fills
 * (internal; plugins use the accessors in socfw/plugin.h). */
#ifndef SOCFW_CORE_EXAMPLE_IMPL_H
#define SOCFW_CORE_EXAMPLE_IMPL_H

#include <stdbool.h>
#include <stddef.h>

#include "socfw/plugin.h"

typedef enum example_kind {
        EXAMPLE_NONE = 0,
        EXAMPLE_CLASS,
        EXAMPLE_MULTI_LABEL,
        EXAMPLE_WORD_TAGS,
        EXAMPLE_LM,
        EXAMPLE_SCORE,
} example_kind;

typedef struct example_item {
        char *text;             /* input text (CLASS, MULTI, SCORE)        */
        char *text_pair;        /* optional second segment                 */
        example_kind kind;
        int class_id;
        int *multi;             /* MULTI_LABEL class ids                   */
        size_t n_multi;
        char **words;           /* WORD_TAGS                               */
        int *word_tags;
        size_t n_words;
        char *lm_context;       /* LM: read, not learnt                    */
        char *lm_target;        /* LM: learnt                              */
        double score;
        long record;            /* which record of its file made it:
                                   1-based ordinal as the reader returned
                                   it (socfw_task_read_file); 0: unknown */
} example_item;

struct socfw_example {
        example_item *items;
        size_t n;               /* items in use (the last one is current)  */
        size_t cap;
};

/* New empty example list with one current item; NULL on ENOMEM. */
socfw_example *socfw_example_new(void);
void socfw_example_free(socfw_example *ex);
/* Drop every item; one empty current item remains. */
void socfw_example_reset(socfw_example *ex);
/* Complete items (with a target), in order. */
size_t socfw_example_count(const socfw_example *ex);
const example_item *socfw_example_item(const socfw_example *ex, size_t i);

struct socfw_eval {
        size_t n;
        socfw_target_kind kind; /* what the items hold (CLASS by default) */
        const int *gold;        /* CLASS: n; TAGS: tag_off[n] words        */
        const int *pred;
        const float *scores;    /* n x n_classes, may be NULL              */
        size_t n_classes;
        const size_t *tag_off;  /* TAGS: n + 1 offsets into gold/pred      */
        /* Records, read again on demand (socfw_eval_record): item i came
         * from record rows[i] (1-based ordinal, 0: unknown) of `source`,
         * read as `ctx` reads its data.  NULL rows or ctx: no records. */
        const long *rows;
        socfw_task_ctx *ctx;
        socfw_record **records; /* owned: records[ordinal - 1], or NULL   */
        size_t n_records;
        int records_tried;
        char **names;           /* metrics added by the hook               */
        double *values;
        bool *higher;
        size_t n_metrics;
        char *report;
        const char *source;     /* data file evaluated (borrowed), or NULL */
        const char *split;      /* "train", "valid", "test", "eval", or NULL */
};

/* Borrow the arrays; metrics are owned.  Clear with socfw_eval_clear.
 * The kind is CLASS; set kind, tag_off, rows, ctx, source and split after
 * init as the evaluation has them. */
void socfw_eval_init(socfw_eval *ev, size_t n, const int *gold,
                     const int *pred, const float *scores, size_t n_classes);
void socfw_eval_clear(socfw_eval *ev);

#endif
