/* catalog.h - the recommend plugin's data: the item catalogue (id -> text),
 * users' time-ordered interaction histories, item popularity, the query
 * text that describes a user at a point in time, and full-catalogue
 * ranking metrics.  Internal to plugins/recommend (tests link it directly).
 *
 *     rc_catalog *c = NULL;
 *     rc_catalog_options o = RC_CATALOG_OPTIONS_INIT;
 *     rc_catalog_load_items(&c, "items.jsonl", &o, &err);
 *     rc_catalog_load_history(c, "train.jsonl", &skipped, &err);
 *     char *q = rc_catalog_query(c, "42", 964980499, NULL, 20);  // frees
 *     ...
 *     rc_catalog_free(c);
 */
#ifndef RECOMMEND_CATALOG_H
#define RECOMMEND_CATALOG_H

#include <stddef.h>
#include <stdint.h>

#include "socfw/error.h"

/* Text of a user without history (the model still ranks for them). */
#define RC_NO_HISTORY "no history"

typedef struct rc_catalog_options {
        const char *id_field;           /* items file: "item"            */
        const char *const *text_fields; /* joined into the item text     */
        size_t n_text_fields;
        const char *const *history_fields; /* of history items in queries;
                                              NULL = text_fields          */
        size_t n_history_fields;
        const char *user_field, *item_field, *rating_field, *time_field;
        double positive_threshold;      /* rating >= this is positive    */
} rc_catalog_options;

#define RC_CATALOG_OPTIONS_INIT                                             \
        {.id_field = "item", .user_field = "user", .item_field = "item",     \
         .rating_field = "rating", .time_field = "ts",                       \
         .positive_threshold = 4.0}

typedef struct rc_catalog rc_catalog;

/* One interaction read from a file. */
typedef struct rc_event {
        const char *user;       /* borrowed from the record             */
        int item;               /* catalogue index                      */
        double rating;
        double ts;
} rc_event;

/* Read the items file (JSON Lines: id field + text fields; strings, or
 * arrays of strings joined by ", ").  Errors (missing file, bad JSON, no or
 * duplicate id) carry file:line.  *out: caller frees with rc_catalog_free.
 * The options' strings are copied. */
int rc_catalog_load_items(rc_catalog **out, const char *path,
                          const rc_catalog_options *o, socfw_error *err);
void rc_catalog_free(rc_catalog *c);

size_t rc_catalog_size(const rc_catalog *c);
/* Index of an item id, -1 when unknown. */
int rc_catalog_find(const rc_catalog *c, const char *id);
const char *rc_catalog_id(const rc_catalog *c, int item);     /* borrowed */
const char *rc_catalog_text(const rc_catalog *c, int item);   /* borrowed */

/* Parse one interaction object (a JSON Lines row as jansson object `obj`,
 * passed as void * to keep jansson out of this header).  SOCFW_EINVAL
 * with a message naming the field for a missing user/item, an unknown item
 * or a non-numeric rating/time (missing rating: 1, missing time: 0). */
int rc_event_from_json(const rc_catalog *c, const void *obj, rc_event *ev,
                       socfw_error *err);

/* Add the interactions of a file to the histories (sorted by time, file
 * order among equal times) and to the popularity counts.  Rows that cannot
 * be used (bad JSON, unknown items) are skipped and counted in *skipped.
 * A missing file is an error. */
int rc_catalog_load_history(rc_catalog *c, const char *path, size_t *skipped,
                            socfw_error *err);
/* Add one interaction (tests, or callers with their own reader). */
int rc_catalog_add_event(rc_catalog *c, const char *user, int item,
                         double rating, double ts);
/* Sort the histories after adding events (load_history does it). */
void rc_catalog_finish(rc_catalog *c);

/* Interactions of `item` in the histories (its popularity). */
long rc_catalog_count(const rc_catalog *c, int item);
/* Whether `user` interacted with `item` in the histories. */
int rc_catalog_seen(const rc_catalog *c, const char *user, int item);
/* Items of `user` in the histories (for excluding them from rankings);
 * *items borrowed, valid until the catalogue changes. */
size_t rc_catalog_user_items(const rc_catalog *c, const char *user,
                             const int **items);

/* The text that describes `user` just before the interaction (item, ts):
 * the history_fields of the user's last `max_items` POSITIVE items that
 * come before it (before it in the history when (item, ts) is there, else
 * at or before ts), most recent first, joined by " ; "; RC_NO_HISTORY when
 * there are none.  *n_hist gets how many items it names.  Caller frees;
 * NULL on ENOMEM. */
char *rc_catalog_query(const rc_catalog *c, const char *user, int item,
                       double ts, int max_items, int *n_hist);

/* How many of `user`'s history entries come after the interaction (item,
 * ts) when it is in the history; -1 when it is not. */
long rc_catalog_entries_after(const rc_catalog *c, const char *user, int item,
                              double ts);

/* ---- ranking metrics over the full catalogue ---- */

/* 1-based rank of `target` among the items not excluded, by descending
 * score; ties go to the lower index.  excluded: n flags (NULL: none); the
 * target is never excluded. */
size_t rc_rank_of(const float *score, size_t n, int target,
                  const uint8_t *excluded);

typedef struct rc_rank_sums {
        double hit, ndcg, mrr;  /* sums over the queries                */
        size_t n;               /* queries                              */
} rc_rank_sums;

/* Add one query whose target is at `rank` (1-based) to HitRate@k,
 * NDCG@k (one relevant item: 1/log2(rank+1) within k) and MRR. */
void rc_rank_add(rc_rank_sums *s, size_t rank, size_t k);

#endif
