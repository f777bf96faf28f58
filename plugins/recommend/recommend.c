/* recommend.c - text-based recommendation task plugin.
 *
 * Interactions (user, item, rating or click, timestamp) and an items file
 * with text fields (title, genres, tags, ...) are read; each item's text
 * and each user's recent history are encoded by the backbone, and the
 * "ranker" head scores (user, item) pairs as a two-tower model.
 *
 * Training: each positive interaction of data.train becomes a pair example
 * (query = the user's last history_length positive items before it, most
 * recent first; item = the item's text; score 1).  With loss bce the plugin
 * adds `negatives` sampled items per positive with score 0.  The host lays
 * the pairs out for the ranker (framework/train/retrieval.c).
 *
 * Evaluation (leave-last-out by timestamp): for every row of the evaluated
 * split (its records as the host read them, socfw_eval_record), the whole
 * catalogue is ranked by the dot product of the item and
 * query embeddings, the user's training items excluded; HitRate@K, NDCG@K
 * and MRR over the full set, and the same for a popularity baseline
 * (training counts) computed in the same pass (pop_*).
 *
 * As a chain stage it writes <task>.items: the top-K items ({item, score})
 * for the post's user (field data.user_field, or the post text).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "catalog.h"
#include "socfw/log.h"
#include "socfw/plugin.h"

static const char *const negative_choices[] = {"uniform", "popular", NULL};

static const socfw_param_spec params[] = {
        {.key = "data.items", .type = SOCFW_PARAM_PATH,
         .flags = SOCFW_PARAM_MUST_EXIST,
         .help = "Items file (JSON Lines) with an id field and text fields."},
        {.key = "data.user_field", .type = SOCFW_PARAM_STRING,
         .default_value = "user", .help = "Field with the user id."},
        {.key = "data.item_field", .type = SOCFW_PARAM_STRING,
         .default_value = "item", .help = "Field with the item id."},
        {.key = "data.rating_field", .type = SOCFW_PARAM_STRING,
         .default_value = "rating",
         .help = "Field with the rating or click (1/0)."},
        {.key = "data.time_field", .type = SOCFW_PARAM_STRING,
         .default_value = "ts",
         .help = "Field with the timestamp (orders histories; leave-last-"
                 "out evaluation)."},
        {.key = "item_text_fields", .type = SOCFW_PARAM_LIST,
         .default_value = "title,genres,tags",
         .help = "Item fields joined into the text the backbone reads."},
        {.key = "positive_threshold", .type = SOCFW_PARAM_FLOAT,
         .default_value = "4.0", .min = -1e9, .max = 1e9,
         .help = "Ratings at or above this count as positive (a row "
                 "without a rating is a click: 1); 0 takes every "
                 "interaction as positive."},
        {.key = "history_length", .type = SOCFW_PARAM_INT,
         .default_value = "20", .min = 1, .max = 10000,
         .help = "Most recent positive items that describe a user."},
        {.key = "negatives", .type = SOCFW_PARAM_INT, .default_value = "4",
         .min = 0, .max = 10000,
         .help = "Sampled negatives per positive (bce loss; bpr draws one "
                 "per positive from the training items)."},
        {.key = "negative_sampling", .type = SOCFW_PARAM_ENUM,
         .default_value = "uniform", .choices = negative_choices,
         .help = "How negatives are drawn."},
        {.key = "top_k", .type = SOCFW_PARAM_INT, .default_value = "10",
         .min = 1, .max = 100000,
         .help = "Items recommended per user; also K of HitRate@K and "
                 "NDCG@K."},
        {.key = "rerank", .type = SOCFW_PARAM_INT, .default_value = "0",
         .min = 0, .max = 100000,
         .help = "Re-rank this many retrieved candidates with a "
                 "cross-encoder; 0 = off (the only value this version "
                 "supports)."},
        {.key = "train_recent", .type = SOCFW_PARAM_INT,
         .default_value = "0", .min = 0, .max = 100000000,
         .help = "Learn only from each user's last N training interactions "
                 "(their queries still read the earlier history); 0 = all. "
                 "Recent interactions are the ones like the held-out ones, "
                 "and this bounds the cost of an epoch."},
        {.key = "logq_correction", .type = SOCFW_PARAM_BOOL,
         .default_value = "true",
         .help = "With loss in_batch_softmax, rank by score / temperature + "
                 "log(training count + 1): in-batch negatives are drawn by "
                 "popularity, so the learnt score lacks log q(item) "
                 "(Yi et al., 2019); adding it back estimates p(item | user)."},
        {.key = "history_fields", .type = SOCFW_PARAM_LIST,
         .help = "Item fields naming the items of a user's history in the "
                 "query text (default: item_text_fields); fewer fields give "
                 "shorter queries and room for more items."},
        {0},
};

/* Cap on the rows one evaluation ranks the catalogue for. */
#define MAX_EVAL_ROWS 1000000
#define MAX_DIM 65536

typedef struct recommend {
        socfw_task_ctx *ctx;
        const socfw_config *cfg;
        rc_catalog *cat;
        const char *train_path;
        const char *user_field, *item_field, *rating_field, *time_field;
        double threshold;
        int history_length, negatives, popular, bce, top_k;
        long train_recent;
        float *prior;           /* log(count+1) when logq_correction     */
        double inv_temp;
        uint64_t rng;
        long *cum;              /* cumulative popularity (popular draws) */
        float *emb;             /* item embeddings for predict, or NULL  */
        size_t dim;
} recommend;

static void
recommend_destroy(void *state)
{
        recommend *r = state;
        if (!r)
                return;
        rc_catalog_free(r->cat);
        free(r->cum);
        free(r->prior);
        free(r->emb);
        free(r);
}

static const char **
config_list(const socfw_config *cfg, const char *key, size_t *n)
{
        *n = socfw_config_list_len(cfg, key);
        const char **v = calloc(*n ? *n : 1, sizeof *v);
        for (size_t i = 0; v && i < *n; i++)
                v[i] = socfw_config_list_get(cfg, key, i);
        return v;
}

static int
recommend_create(const socfw_config *cfg, socfw_task_ctx *ctx, void **state,
                 socfw_error *err)
{
        int rc = 0;
        recommend *r = calloc(1, sizeof *r);
        const char **tf = NULL, **hf = NULL;
        if (!r)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        r->ctx = ctx;
        r->cfg = cfg;
        r->user_field = socfw_config_get_string(cfg, "data.user_field");
        r->item_field = socfw_config_get_string(cfg, "data.item_field");
        r->rating_field = socfw_config_get_string(cfg, "data.rating_field");
        r->time_field = socfw_config_get_string(cfg, "data.time_field");
        r->threshold = socfw_config_get_float(cfg, "positive_threshold");
        r->history_length = (int)socfw_config_get_int(cfg, "history_length");
        r->negatives = (int)socfw_config_get_int(cfg, "negatives");
        r->top_k = (int)socfw_config_get_int(cfg, "top_k");
        r->train_recent = (long)socfw_config_get_int(cfg, "train_recent");
        const char *ns = socfw_config_get_string(cfg, "negative_sampling");
        r->popular = ns && !strcmp(ns, "popular");
        const char *lt = socfw_config_get_string(cfg, "loss.type");
        r->bce = lt && !strcmp(lt, "bce");
        r->rng = 0x9e3779b97f4a7c15ull;
        r->train_path = socfw_config_get_string(cfg, "data.train");
        if (r->history_length < 1)
                r->history_length = 20;
        if (r->top_k < 1)
                r->top_k = 10;
        if (socfw_config_get_int(cfg, "rerank") > 0) {
                rc = socfw_error_set_at(err, SOCFW_EUNSUPPORTED,
                                        socfw_config_file(cfg),
                                        socfw_config_line(cfg, "rerank"),
                                        socfw_config_column(cfg, "rerank"),
                                        "rerank: cross-encoder re-ranking "
                                        "is not available in this version; "
                                        "hint: set rerank: 0");
                goto out;
        }

        rc_catalog_options o = RC_CATALOG_OPTIONS_INIT;
        o.user_field = r->user_field;
        o.item_field = r->item_field;
        o.rating_field = r->rating_field;
        o.time_field = r->time_field;
        o.positive_threshold = r->threshold;
        tf = config_list(cfg, "item_text_fields", &o.n_text_fields);
        hf = config_list(cfg, "history_fields", &o.n_history_fields);
        if (!tf || !hf) {
                rc = socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
                goto out;
        }
        o.text_fields = tf;
        o.history_fields = hf;
        rc = rc_catalog_load_items(&r->cat,
                                   socfw_config_get_string(cfg, "data.items"),
                                   &o, err);
        if (rc < 0)
                goto out;
        /* histories and popularity come from the training interactions */
        if (r->train_path) {
                size_t skipped = 0;
                rc = rc_catalog_load_history(r->cat, r->train_path, &skipped,
                                             err);
                if (rc < 0)
                        goto out;
                if (skipped)
                        SOCFW_LOG_WARN("task '%s': %zu rows of %s left out of "
                                       "the histories (bad rows or unknown "
                                       "items)",
                                       socfw_task_name(ctx), skipped,
                                       r->train_path);
        }
        size_t n = rc_catalog_size(r->cat);
        r->cum = malloc(n * sizeof *r->cum);
        if (!r->cum) {
                rc = socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
                goto out;
        }
        long acc = 0;
        for (size_t i = 0; i < n; i++)
                r->cum[i] = acc += rc_catalog_count(r->cat, (int)i) + 1;
        int softmax = !lt || !strcmp(lt, "in_batch_softmax");
        if (softmax && socfw_config_get_bool(cfg, "logq_correction")) {
                double t = socfw_config_get_float(cfg, "loss.temperature");
                r->inv_temp = t > 0 ? 1.0 / t : 20.0;
                r->prior = malloc(n * sizeof *r->prior);
                if (!r->prior) {
                        rc = socfw_error_set(err, SOCFW_ENOMEM,
                                             "out of memory");
                        goto out;
                }
                for (size_t i = 0; i < n; i++)
                        r->prior[i] = (float)log(
                                (double)rc_catalog_count(r->cat, (int)i) +
                                1.0);
        }
out:
        free(tf);
        free(hf);
        if (rc < 0) {
                recommend_destroy(r);
                r = NULL;
        }
        *state = r;
        return rc;
}

/* ---- training examples ---- */

static uint64_t
next_rand(recommend *r)
{
        r->rng ^= r->rng << 13;
        r->rng ^= r->rng >> 7;
        r->rng ^= r->rng << 17;
        return r->rng;
}

/* A negative item for a user: uniform over the catalogue, or by
 * popularity (training count + 1); never an item the user has. */
static int
draw_negative(recommend *r, const char *user, int pos)
{
        size_t n = rc_catalog_size(r->cat);
        int item = pos;
        for (int tries = 0; tries < 16; tries++) {
                if (r->popular) {
                        long x = (long)(next_rand(r) % (uint64_t)r->cum[n - 1]);
                        size_t lo = 0, hi = n - 1;
                        while (lo < hi) {
                                size_t mid = (lo + hi) / 2;
                                if (r->cum[mid] > x)
                                        hi = mid;
                                else
                                        lo = mid + 1;
                        }
                        item = (int)lo;
                } else {
                        item = (int)(next_rand(r) % n);
                }
                if (item != pos && !rc_catalog_seen(r->cat, user, item))
                        break;
        }
        return item;
}

/* A field as text: strings as they are, numbers printed. */
static const char *
record_text(const socfw_record *rec, const char *field, char *buf,
            size_t size)
{
        const char *s = socfw_record_get_string(rec, field);
        double v;
        if (s)
                return s;
        if (socfw_record_get_number(rec, field, &v) == 0) {
                snprintf(buf, size, "%.0f", v);
                return buf;
        }
        return NULL;
}

/* A numeric field: 0 with *out set, 0 leaving *out when the field is
 * missing, -1 when it is there but not a number. */
static int
record_number(const socfw_record *rec, const char *field, double *out)
{
        double v;
        if (socfw_record_get_number(rec, field, &v) == 0) {
                *out = v;
                return 0;
        }
        const char *s = socfw_record_get_string(rec, field);
        if (s) {
                char *end;
                v = strtod(s, &end);
                if (end == s || *end != '\0' || !isfinite(v))
                        return -1;
                *out = v;
                return 0;
        }
        char *j = socfw_record_get_json(rec, field);
        int present = j != NULL && strcmp(j, "null") != 0;
        free(j);
        return present ? -1 : 0;
}

static int
is_train_file(const recommend *r, const socfw_record *rec)
{
        const char *f = socfw_record_file(rec);
        return r->train_path && f && strcmp(f, r->train_path) == 0;
}

/* The interaction a record holds, as training and evaluation read it:
 * e->user points into the record or `ubuf` (room 64).  SOCFW_EINVAL with
 * a message naming the field for a missing user or item, an unknown item
 * or a rating or time that is not a number. */
static int
record_event(const recommend *r, const socfw_record *rec, char *ubuf,
             rc_event *e, socfw_error *err)
{
        char ibuf[64];
        const char *user = record_text(rec, r->user_field, ubuf, 64);
        const char *id = record_text(rec, r->item_field, ibuf, sizeof ibuf);
        if (!user || !user[0])
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "missing user id field '%s'",
                                       r->user_field);
        if (!id)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "missing item id field '%s'",
                                       r->item_field);
        int item = rc_catalog_find(r->cat, id);
        if (item < 0)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "unknown item '%.64s' (not in the "
                                       "items file; hint: check data.items "
                                       "or use train.on_bad_row: skip)",
                                       id);
        /* a missing rating is an implicit interaction (1), a missing time
         * 0; present, both must be numbers (or numeric strings) */
        double rating = 1.0, ts = 0.0;
        if (record_number(rec, r->rating_field, &rating) < 0)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "field '%s' is not a number",
                                       r->rating_field);
        if (record_number(rec, r->time_field, &ts) < 0)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "field '%s' is not a number",
                                       r->time_field);
        *e = (rc_event){.user = user, .item = item, .rating = rating,
                        .ts = ts};
        return 0;
}

static int
recommend_parse_example(void *state, const socfw_record *rec,
                        socfw_example *ex, socfw_error *err)
{
        recommend *r = state;
        char ubuf[64];
        rc_event e;
        int rc = record_event(r, rec, ubuf, &e, err);
        if (rc < 0)
                return rc;
        const char *user = e.user;
        int item = e.item;
        double rating = e.rating, ts = e.ts;
        int train = is_train_file(r, rec);
        /* training learns from positives; evaluation files keep every row
         * (the held-out interaction is the target whatever its rating) */
        if (train && rating < r->threshold)
                return 0;
        if (train && r->train_recent > 0 &&
            rc_catalog_entries_after(r->cat, user, item, ts) >=
                    r->train_recent)
                return 0;
        char *query = rc_catalog_query(r->cat, user, item, ts,
                                       r->history_length, NULL);
        if (!query)
                return SOCFW_ENOMEM;
        rc = socfw_example_set_text(ex, query);
        if (rc == 0)
                rc = socfw_example_set_text_pair(
                        ex, rc_catalog_text(r->cat, item));
        if (rc == 0)
                rc = socfw_example_set_score(ex, 1.0);
        for (int k = 0; rc == 0 && train && r->bce && k < r->negatives; k++) {
                int neg = draw_negative(r, user, item);
                rc = socfw_example_next(ex);
                if (rc == 0)
                        rc = socfw_example_set_text(ex, query);
                if (rc == 0)
                        rc = socfw_example_set_text_pair(
                                ex, rc_catalog_text(r->cat, neg));
                if (rc == 0)
                        rc = socfw_example_set_score(ex, 0.0);
        }
        free(query);
        return rc;
}

/* ---- embeddings ---- */

/* Embed `text`; on the first call *dim is 0 and gets the size. */
static int
embed(recommend *r, const char *text, float *out, size_t *dim,
      socfw_error *err)
{
        size_t n = 0;
        float probe[1];
        if (*dim == 0) {
                int rc = socfw_task_infer(r->ctx, text, probe, 0, &n, err);
                if (rc < 0)
                        return rc;
                if (n == 0 || n > MAX_DIM)
                        return socfw_error_set(err, SOCFW_ESTATE,
                                               "task '%s': the head gives %zu "
                                               "outputs (expected an "
                                               "embedding of 1..%d)",
                                               socfw_task_name(r->ctx), n,
                                               MAX_DIM);
                *dim = n;
                if (!out)
                        return 0;
        }
        int rc = socfw_task_infer(r->ctx, text, out, *dim, &n, err);
        if (rc == 0 && n != *dim)
                rc = socfw_error_set(err, SOCFW_ESTATE,
                                     "task '%s': embedding size changed "
                                     "(%zu, then %zu)",
                                     socfw_task_name(r->ctx), *dim, n);
        return rc;
}

/* Every catalogue item's embedding: (*emb)[n x *dim], caller frees. */
static int
embed_items(recommend *r, float **emb, size_t *dim, socfw_error *err)
{
        size_t n = rc_catalog_size(r->cat);
        *emb = NULL;
        *dim = 0;
        int rc = embed(r, rc_catalog_text(r->cat, 0), NULL, dim, err);
        if (rc < 0)
                return rc;
        float *e = malloc(n * *dim * sizeof *e);
        if (!e)
                return socfw_error_set(err, SOCFW_ENOMEM,
                                       "out of memory for %zu item "
                                       "embeddings",
                                       n);
        for (size_t i = 0; rc == 0 && i < n; i++)
                rc = embed(r, rc_catalog_text(r->cat, (int)i), e + i * *dim,
                           dim, err);
        if (rc < 0) {
                free(e);
                return rc;
        }
        *emb = e;
        return 0;
}

static void
score_all(const float *emb, size_t n, size_t dim, const float *q,
          float *score)
{
        for (size_t i = 0; i < n; i++) {
                const float *e = emb + i * dim;
                double s = 0;
                for (size_t d = 0; d < dim; d++)
                        s += (double)e[d] * q[d];
                score[i] = (float)s;
        }
}

/* Score every item for `user` just before (item, ts); seen items are
 * flagged in `excl` (set; the caller clears them). */
static int
score_user(recommend *r, const float *emb, size_t dim, const char *user,
           int item, double ts, float *q, float *score, uint8_t *excl,
           socfw_error *err)
{
        char *query = rc_catalog_query(r->cat, user, item, ts,
                                       r->history_length, NULL);
        if (!query)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        size_t d = dim;
        int rc = embed(r, query, q, &d, err);
        free(query);
        if (rc < 0)
                return rc;
        size_t n = rc_catalog_size(r->cat);
        score_all(emb, n, dim, q, score);
        for (size_t i = 0; r->prior && i < n; i++)
                score[i] = (float)(score[i] * r->inv_temp) + r->prior[i];
        const int *seen;
        size_t ns = rc_catalog_user_items(r->cat, user, &seen);
        for (size_t k = 0; k < ns; k++)
                excl[seen[k]] = 1;
        return 0;
}

static void
clear_seen(recommend *r, const char *user, uint8_t *excl)
{
        const int *seen;
        size_t ns = rc_catalog_user_items(r->cat, user, &seen);
        for (size_t k = 0; k < ns; k++)
                excl[seen[k]] = 0;
}

/* ---- evaluation ---- */

/* Leave-last-out over the evaluated rows: the records the host read the
 * split from (socfw_eval_record; one item per row of an evaluation file,
 * several when bce adds negatives to a row of the training file), each
 * ranked once.  A row the host cannot give again, or that no longer holds
 * an interaction, means the file changed since it was read: an error
 * naming it, rather than figures over other rows. */
static int
recommend_evaluate(void *state, socfw_eval *ev, socfw_error *err)
{
        recommend *r = state;
        const char *src = socfw_eval_source(ev);
        if (!src)
                return 0; /* nothing to rank against */
        size_t n = rc_catalog_size(r->cat), dim = 0, rows = 0;
        size_t n_items = socfw_eval_count(ev);
        float *emb = NULL, *score = NULL, *pop = NULL, *q = NULL;
        uint8_t *excl = NULL;
        rc_rank_sums model = {0}, base = {0};
        const socfw_record *prev = NULL;
        int rc = 0;
        /* the user's tower changed with training: drop predict's cache */
        free(r->emb);
        r->emb = NULL;
        rc = embed_items(r, &emb, &dim, err);
        if (rc < 0)
                goto out;
        score = malloc(n * sizeof *score);
        pop = malloc(n * sizeof *pop);
        q = malloc(dim * sizeof *q);
        excl = calloc(n, 1);
        if (!score || !pop || !q || !excl) {
                rc = socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
                goto out;
        }
        for (size_t i = 0; i < n; i++)
                pop[i] = (float)rc_catalog_count(r->cat, (int)i);
        size_t K = (size_t)r->top_k;
        for (size_t i = 0; rc == 0 && i < n_items && rows < MAX_EVAL_ROWS;
             i++) {
                const socfw_record *rec = socfw_eval_record(ev, i);
                if (!rec) {
                        rc = socfw_error_set_at(
                                err, SOCFW_EIO, src, 0, 0,
                                "task '%s': the record of evaluated row %zu "
                                "cannot be read again (the file was moved, "
                                "deleted or shortened since it was read?); "
                                "hint: restore the file and evaluate again",
                                socfw_task_name(r->ctx), i + 1);
                        break;
                }
                if (rec == prev)
                        continue; /* another item of the same row */
                prev = rec;
                char ubuf[64];
                rc_event e;
                socfw_error perr = {0};
                if (record_event(r, rec, ubuf, &e, &perr) < 0) {
                        rc = socfw_error_set_at(
                                err, SOCFW_EFORMAT, socfw_record_file(rec),
                                socfw_record_line(rec), 0,
                                "task '%s': the row no longer holds an "
                                "interaction (%s); the file changed since "
                                "it was read; hint: evaluate it again from "
                                "the start",
                                socfw_task_name(r->ctx), perr.message);
                        break;
                }
                rc = score_user(r, emb, dim, e.user, e.item, e.ts, q, score,
                                excl, err);
                if (rc == 0) {
                        excl[e.item] = 0; /* the target always competes */
                        rc_rank_add(&model,
                                    rc_rank_of(score, n, e.item, excl), K);
                        rc_rank_add(&base, rc_rank_of(pop, n, e.item, excl),
                                    K);
                        rows++;
                }
                clear_seen(r, e.user, excl);
        }
        if (rc < 0)
                goto out;
        char name[64];
        double m = rows ? (double)rows : 1.0;
        snprintf(name, sizeof name, "hit_rate@%zu", K);
        socfw_eval_add_metric(ev, name, model.hit / m, true);
        snprintf(name, sizeof name, "ndcg@%zu", K);
        socfw_eval_add_metric(ev, name, model.ndcg / m, true);
        socfw_eval_add_metric(ev, "mrr", model.mrr / m, true);
        snprintf(name, sizeof name, "pop_hit_rate@%zu", K);
        socfw_eval_add_metric(ev, name, base.hit / m, true);
        snprintf(name, sizeof name, "pop_ndcg@%zu", K);
        socfw_eval_add_metric(ev, name, base.ndcg / m, true);
        socfw_eval_add_metric(ev, "pop_mrr", base.mrr / m, true);
        char report[1024];
        snprintf(report, sizeof report,
                 "task %s: ranking of all %zu items for %zu rows of %s "
                 "(training items of each user excluded; rows the data "
                 "reader skipped are in the log)\n\n"
                 "%-12s %12s %10s %10s\n"
                 "%-12s %12.4f %10.4f %10.4f\n"
                 "%-12s %12.4f %10.4f %10.4f\n",
                 socfw_task_name(r->ctx), n, rows, src, "", "HitRate@K",
                 "NDCG@K", "MRR", "model", model.hit / m, model.ndcg / m,
                 model.mrr / m, "popularity", base.hit / m, base.ndcg / m,
                 base.mrr / m);
        rc = socfw_eval_add_report(ev, report);
out:
        free(emb);
        free(score);
        free(pop);
        free(q);
        free(excl);
        return rc;
}

/* ---- predict: top-K for a user ---- */

static int
recommend_predict(void *state, socfw_post *post, socfw_error *err)
{
        recommend *r = state;
        size_t n = rc_catalog_size(r->cat);
        const char *user = socfw_post_get_string(post, r->user_field);
        if (!user)
                user = socfw_post_text(post);
        if (!user)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "the post has no user id (field '%s')",
                                       r->user_field);
        int rc = 0;
        if (!r->emb && (rc = embed_items(r, &r->emb, &r->dim, err)) < 0)
                return rc;
        float *score = malloc(n * sizeof *score);
        float *q = malloc(r->dim * sizeof *q);
        uint8_t *excl = calloc(n, 1);
        int *top = calloc((size_t)r->top_k, sizeof *top);
        json_t *arr = json_array();
        char *text = NULL;
        if (!score || !q || !excl || !top || !arr) {
                rc = socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
                goto out;
        }
        rc = score_user(r, r->emb, r->dim, user, -1, INFINITY, q, score, excl,
                        err);
        if (rc < 0)
                goto out;
        /* top-K by insertion (K is small next to the catalogue) */
        size_t kept = 0, K = (size_t)r->top_k;
        for (size_t i = 0; i < n; i++) {
                if (excl[i])
                        continue;
                if (kept == K && score[i] <= score[top[K - 1]])
                        continue;
                size_t p = kept < K ? kept++ : K - 1;
                while (p > 0 && score[top[p - 1]] < score[i]) {
                        top[p] = top[p - 1];
                        p--;
                }
                top[p] = (int)i;
        }
        for (size_t k = 0; k < kept; k++)
                json_array_append_new(
                        arr, json_pack("{s:s, s:f}", "item",
                                       rc_catalog_id(r->cat, top[k]), "score",
                                       (double)score[top[k]]));
        text = json_dumps(arr, JSON_COMPACT);
        char key[256];
        snprintf(key, sizeof key, "%s.items", socfw_task_name(r->ctx));
        rc = text ? socfw_post_set_json(post, key, text, err)
                  : socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
out:
        free(text);
        json_decref(arr);
        free(score);
        free(q);
        free(excl);
        free(top);
        return rc;
}

SOCFW_TASK_PLUGIN(recommend,
        .version = "0.2.0",
        .description = "Personalised recommendation from the text of the "
                       "items a user interacted with (two-tower ranker).",
        .license = "MIT",
        .author = "socfw developers",
        .params = params,
        .default_head = "ranker",
        .task = SOCFW_TASK_HOOKS(.create = recommend_create,
                                 .destroy = recommend_destroy,
                                 .parse_example = recommend_parse_example,
                                 .predict = recommend_predict,
                                 .evaluate = recommend_evaluate),
        .input = "a user {\"user\": ID} (field name: user_field; the "
                 "text field also works)");
