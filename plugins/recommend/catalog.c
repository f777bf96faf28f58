/* catalog.c - item catalogue, histories and ranking metrics of the
 * recommend plugin (see catalog.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "catalog.h"

#define MAX_ITEMS (1u << 24)
#define MAX_TEXT 4096           /* bytes of one item's text           */

/* ---- string -> index map (open addressing) ---- */

typedef struct strmap {
        const char **keys;      /* borrowed from the owner's arrays    */
        int *vals;
        size_t cap, n;
} strmap;

static uint64_t
hash_str(const char *s)
{
        uint64_t h = 1469598103934665603ull; /* FNV-1a */
        for (; *s; s++)
                h = (h ^ (unsigned char)*s) * 1099511628211ull;
        return h;
}

static int
strmap_find(const strmap *m, const char *key)
{
        if (!m->cap)
                return -1;
        size_t mask = m->cap - 1;
        for (size_t i = hash_str(key) & mask;; i = (i + 1) & mask) {
                if (!m->keys[i])
                        return -1;
                if (!strcmp(m->keys[i], key))
                        return m->vals[i];
        }
}

static int
strmap_put(strmap *m, const char *key, int val)
{
        if ((m->n + 1) * 2 > m->cap) {
                size_t cap = m->cap ? m->cap * 2 : 64;
                strmap g = {calloc(cap, sizeof *g.keys),
                            calloc(cap, sizeof *g.vals), cap, 0};
                if (!g.keys || !g.vals) {
                        free(g.keys);
                        free(g.vals);
                        return SOCFW_ENOMEM;
                }
                for (size_t i = 0; i < m->cap; i++)
                        if (m->keys[i])
                                strmap_put(&g, m->keys[i], m->vals[i]);
                free(m->keys);
                free(m->vals);
                *m = g;
        }
        size_t i = hash_str(key) & (m->cap - 1);
        while (m->keys[i] && strcmp(m->keys[i], key))
                i = (i + 1) & (m->cap - 1);
        if (!m->keys[i])
                m->n++;
        m->keys[i] = key;
        m->vals[i] = val;
        return 0;
}

static void
strmap_free(strmap *m)
{
        free(m->keys);
        free(m->vals);
        memset(m, 0, sizeof *m);
}

/* ---- the catalogue ---- */

typedef struct rc_hist {
        int item;
        float rating;
        double ts;
        size_t order;           /* file order, breaks ties of ts        */
} rc_hist;

typedef struct rc_user {
        char *id;
        rc_hist *h;
        size_t n, cap;
        int *items;             /* h[].item, for exclusion             */
} rc_user;

struct rc_catalog {
        rc_catalog_options o;
        char **ids, **texts, **htexts;
        long *count;
        size_t n, cap;
        strmap by_id;
        rc_user *users;
        size_t n_users, cap_users;
        strmap by_user;
        size_t order;
};

static char **
copy_list(const char *const *v, size_t n)
{
        char **c = calloc(n ? n : 1, sizeof *c);
        for (size_t i = 0; c && i < n; i++)
                if (!(c[i] = strdup(v[i]))) {
                        while (i--)
                                free(c[i]);
                        free(c);
                        return NULL;
                }
        return c;
}

static void
free_list(char **v, size_t n)
{
        for (size_t i = 0; v && i < n; i++)
                free(v[i]);
        free(v);
}

void
rc_catalog_free(rc_catalog *c)
{
        if (!c)
                return;
        for (size_t i = 0; i < c->n; i++) {
                free(c->ids[i]);
                free(c->texts[i]);
                free(c->htexts[i]);
        }
        free(c->ids);
        free(c->texts);
        free(c->htexts);
        free(c->count);
        strmap_free(&c->by_id);
        for (size_t u = 0; u < c->n_users; u++) {
                free(c->users[u].id);
                free(c->users[u].h);
                free(c->users[u].items);
        }
        free(c->users);
        strmap_free(&c->by_user);
        free((char *)c->o.id_field);
        free((char *)c->o.user_field);
        free((char *)c->o.item_field);
        free((char *)c->o.rating_field);
        free((char *)c->o.time_field);
        free_list((char **)c->o.text_fields, c->o.n_text_fields);
        free_list((char **)c->o.history_fields, c->o.n_history_fields);
        free(c);
}

/* Append the text of one field (a string, a number, or an array of
 * strings joined by ", ") to buf. */
static void
append_field(char *buf, size_t size, size_t *len, json_t *v)
{
        char tmp[64];
        const char *parts[256];
        size_t np = 0;
        if (json_is_string(v))
                parts[np++] = json_string_value(v);
        else if (json_is_number(v)) {
                snprintf(tmp, sizeof tmp, "%g", json_number_value(v));
                parts[np++] = tmp;
        } else if (json_is_array(v)) {
                size_t i;
                json_t *e;
                json_array_foreach(v, i, e) {
                        if (json_is_string(e) && json_string_length(e) &&
                            np < 256)
                                parts[np++] = json_string_value(e);
                }
        }
        for (size_t i = 0; i < np; i++) {
                if (!parts[i][0])
                        continue;
                const char *sep = *len == 0 ? "" : i == 0 ? " | " : ", ";
                int w = snprintf(buf + *len, size - *len, "%s%s", sep,
                                 parts[i]);
                if (w < 0)
                        return;
                *len += (size_t)w < size - *len ? (size_t)w : size - *len - 1;
        }
}

static char *
join_fields(json_t *obj, const char *const *fields, size_t n)
{
        char buf[MAX_TEXT];
        size_t len = 0;
        buf[0] = '\0';
        for (size_t f = 0; f < n; f++) {
                json_t *v = json_object_get(obj, fields[f]);
                if (v)
                        append_field(buf, sizeof buf, &len, v);
        }
        return strdup(buf);
}

static int
copy_options(rc_catalog *c, const rc_catalog_options *o)
{
        static const char *const def_text[] = {"title", "genres", "tags"};
        c->o = *o;
        c->o.id_field = strdup(o->id_field ? o->id_field : "item");
        c->o.user_field = strdup(o->user_field ? o->user_field : "user");
        c->o.item_field = strdup(o->item_field ? o->item_field : "item");
        c->o.rating_field = strdup(o->rating_field ? o->rating_field
                                                   : "rating");
        c->o.time_field = strdup(o->time_field ? o->time_field : "ts");
        const char *const *tf = o->n_text_fields ? o->text_fields : def_text;
        size_t ntf = o->n_text_fields ? o->n_text_fields : 3;
        c->o.text_fields = (const char *const *)copy_list(tf, ntf);
        c->o.n_text_fields = c->o.text_fields ? ntf : 0;
        const char *const *hf = o->n_history_fields ? o->history_fields : tf;
        size_t nhf = o->n_history_fields ? o->n_history_fields : ntf;
        c->o.history_fields = (const char *const *)copy_list(hf, nhf);
        c->o.n_history_fields = c->o.history_fields ? nhf : 0;
        return c->o.id_field && c->o.user_field && c->o.item_field &&
                               c->o.rating_field && c->o.time_field &&
                               c->o.text_fields && c->o.history_fields
                       ? 0
                       : SOCFW_ENOMEM;
}

int
rc_catalog_load_items(rc_catalog **out, const char *path,
                      const rc_catalog_options *o, socfw_error *err)
{
        *out = NULL;
        rc_catalog *c = calloc(1, sizeof *c);
        FILE *f = NULL;
        char *line = NULL;
        size_t cap = 0;
        long lineno = 0;
        int rc = 0;
        if (!c || copy_options(c, o) < 0) {
                rc = socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
                goto out;
        }
        if (!path) {
                rc = socfw_error_set(err, SOCFW_ESCHEMA,
                                     "no items file (hint: set data.items "
                                     "to a JSON Lines file with '%s' and "
                                     "text fields)",
                                     c->o.id_field);
                goto out;
        }
        f = fopen(path, "rb");
        if (!f) {
                rc = socfw_error_set_at(err, SOCFW_EIO, path, 0, 0,
                                        "cannot open the items file: %m "
                                        "(hint: check data.items)");
                goto out;
        }
        ssize_t len;
        while ((len = getline(&line, &cap, f)) >= 0) {
                lineno++;
                while (len > 0 && (line[len - 1] == '\n' ||
                                   line[len - 1] == '\r' ||
                                   line[len - 1] == ' '))
                        line[--len] = '\0';
                if (len == 0)
                        continue;
                json_error_t je;
                json_t *obj = json_loadb(line, (size_t)len, 0, &je);
                if (!json_is_object(obj)) {
                        json_decref(obj);
                        rc = socfw_error_set_at(err, SOCFW_EFORMAT, path,
                                                lineno, 0,
                                                "expected a JSON object per "
                                                "line: %s",
                                                obj ? "not an object"
                                                    : je.text);
                        goto out;
                }
                json_t *idv = json_object_get(obj, c->o.id_field);
                char idbuf[64];
                const char *id = json_string_value(idv);
                if (!id && json_is_integer(idv)) {
                        snprintf(idbuf, sizeof idbuf, "%lld",
                                 (long long)json_integer_value(idv));
                        id = idbuf;
                }
                if (!id || !id[0]) {
                        json_decref(obj);
                        rc = socfw_error_set_at(err, SOCFW_EFORMAT, path,
                                                lineno, 0,
                                                "missing item id field '%s'",
                                                c->o.id_field);
                        goto out;
                }
                if (strmap_find(&c->by_id, id) >= 0) {
                        rc = socfw_error_set_at(err, SOCFW_EFORMAT, path,
                                                lineno, 0,
                                                "duplicate item id '%s'", id);
                        json_decref(obj);
                        goto out;
                }
                if (c->n == c->cap) {
                        size_t nc = c->cap ? c->cap * 2 : 1024;
                        if (nc > MAX_ITEMS) {
                                json_decref(obj);
                                rc = socfw_error_set_at(
                                        err, SOCFW_EFORMAT, path, lineno, 0,
                                        "more than %u items", MAX_ITEMS);
                                goto out;
                        }
                        char **a = realloc(c->ids, nc * sizeof *a);
                        if (a)
                                c->ids = a;
                        char **b = a ? realloc(c->texts, nc * sizeof *b)
                                     : NULL;
                        if (b)
                                c->texts = b;
                        char **h = b ? realloc(c->htexts, nc * sizeof *h)
                                     : NULL;
                        if (h)
                                c->htexts = h;
                        long *k = h ? realloc(c->count, nc * sizeof *k)
                                    : NULL;
                        if (!k) {
                                json_decref(obj);
                                rc = socfw_error_set(err, SOCFW_ENOMEM,
                                                     "out of memory");
                                goto out;
                        }
                        c->count = k;
                        c->cap = nc;
                }
                char *cid = strdup(id);
                char *text = join_fields(obj, c->o.text_fields,
                                         c->o.n_text_fields);
                char *htext = join_fields(obj, c->o.history_fields,
                                          c->o.n_history_fields);
                json_decref(obj);
                if (!cid || !text || !htext ||
                    strmap_put(&c->by_id, cid, (int)c->n) < 0) {
                        free(cid);
                        free(text);
                        free(htext);
                        rc = socfw_error_set(err, SOCFW_ENOMEM,
                                             "out of memory");
                        goto out;
                }
                c->ids[c->n] = cid;
                c->texts[c->n] = text;
                c->htexts[c->n] = htext;
                c->count[c->n] = 0;
                c->n++;
        }
        if (c->n == 0)
                rc = socfw_error_set_at(err, SOCFW_EFORMAT, path, 0, 0,
                                        "no items in the items file");
out:
        free(line);
        if (f)
                fclose(f);
        if (rc < 0) {
                rc_catalog_free(c);
                return rc;
        }
        *out = c;
        return 0;
}

size_t
rc_catalog_size(const rc_catalog *c)
{
        return c ? c->n : 0;
}

int
rc_catalog_find(const rc_catalog *c, const char *id)
{
        return c && id ? strmap_find(&c->by_id, id) : -1;
}

const char *
rc_catalog_id(const rc_catalog *c, int item)
{
        return item >= 0 && (size_t)item < c->n ? c->ids[item] : NULL;
}

const char *
rc_catalog_text(const rc_catalog *c, int item)
{
        return item >= 0 && (size_t)item < c->n ? c->texts[item] : NULL;
}

long
rc_catalog_count(const rc_catalog *c, int item)
{
        return item >= 0 && (size_t)item < c->n ? c->count[item] : 0;
}

/* ---- interactions ---- */

static int
number_of(json_t *v, double *out)
{
        if (json_is_number(v)) {
                *out = json_number_value(v);
                return 0;
        }
        if (json_is_string(v)) {
                char *end;
                *out = strtod(json_string_value(v), &end);
                return end != json_string_value(v) && *end == '\0' ? 0 : -1;
        }
        return -1;
}

int
rc_event_from_json(const rc_catalog *c, const void *objv, rc_event *ev,
                   socfw_error *err)
{
        json_t *obj = (json_t *)objv;
        static char ibuf[64];
        memset(ev, 0, sizeof *ev);
        ev->item = -1;
        ev->rating = 1.0;
        ev->user = json_string_value(json_object_get(obj, c->o.user_field));
        if (!ev->user) {
                json_t *u = json_object_get(obj, c->o.user_field);
                if (json_is_integer(u)) {
                        /* integer user ids are fine; stored in the object */
                        char buf[64];
                        snprintf(buf, sizeof buf, "%lld",
                                 (long long)json_integer_value(u));
                        json_object_set_new(obj, c->o.user_field,
                                            json_string(buf));
                        ev->user = json_string_value(
                                json_object_get(obj, c->o.user_field));
                }
        }
        if (!ev->user || !ev->user[0])
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "missing user id field '%s'",
                                       c->o.user_field);
        json_t *iv = json_object_get(obj, c->o.item_field);
        const char *item = json_string_value(iv);
        if (!item && json_is_integer(iv)) {
                snprintf(ibuf, sizeof ibuf, "%lld",
                         (long long)json_integer_value(iv));
                item = ibuf;
        }
        if (!item)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "missing item id field '%s'",
                                       c->o.item_field);
        ev->item = rc_catalog_find(c, item);
        if (ev->item < 0)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "unknown item '%.64s' (not in the "
                                       "items file; hint: check data.items "
                                       "or use train.on_bad_row: skip)",
                                       item);
        json_t *r = json_object_get(obj, c->o.rating_field);
        if (r && number_of(r, &ev->rating) < 0)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "field '%s' is not a number",
                                       c->o.rating_field);
        json_t *t = json_object_get(obj, c->o.time_field);
        if (t && number_of(t, &ev->ts) < 0)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "field '%s' is not a number",
                                       c->o.time_field);
        return 0;
}

static rc_user *
user_get(const rc_catalog *c, const char *id)
{
        int u = strmap_find(&c->by_user, id);
        return u >= 0 ? &c->users[u] : NULL;
}

int
rc_catalog_add_event(rc_catalog *c, const char *user, int item, double rating,
                     double ts)
{
        if (item < 0 || (size_t)item >= c->n || !user)
                return SOCFW_EINVAL;
        rc_user *u = user_get(c, user);
        if (!u) {
                if (c->n_users == c->cap_users) {
                        size_t nc = c->cap_users ? c->cap_users * 2 : 256;
                        rc_user *g = realloc(c->users, nc * sizeof *g);
                        if (!g)
                                return SOCFW_ENOMEM;
                        c->users = g;
                        c->cap_users = nc;
                        /* the map borrows ids, which did not move */
                }
                u = &c->users[c->n_users];
                memset(u, 0, sizeof *u);
                if (!(u->id = strdup(user)))
                        return SOCFW_ENOMEM;
                if (strmap_put(&c->by_user, u->id, (int)c->n_users) < 0) {
                        free(u->id);
                        return SOCFW_ENOMEM;
                }
                c->n_users++;
        }
        if (u->n == u->cap) {
                size_t nc = u->cap ? u->cap * 2 : 16;
                rc_hist *g = realloc(u->h, nc * sizeof *g);
                if (!g)
                        return SOCFW_ENOMEM;
                u->h = g;
                u->cap = nc;
        }
        u->h[u->n++] = (rc_hist){.item = item, .rating = (float)rating,
                                 .ts = ts, .order = c->order++};
        c->count[item]++;
        free(u->items);
        u->items = NULL;
        return 0;
}

static int
cmp_hist(const void *a, const void *b)
{
        const rc_hist *x = a, *y = b;
        if (x->ts != y->ts)
                return x->ts < y->ts ? -1 : 1;
        return x->order < y->order ? -1 : x->order > y->order;
}

void
rc_catalog_finish(rc_catalog *c)
{
        for (size_t i = 0; i < c->n_users; i++) {
                rc_user *u = &c->users[i];
                qsort(u->h, u->n, sizeof *u->h, cmp_hist);
                free(u->items);
                u->items = malloc((u->n ? u->n : 1) * sizeof *u->items);
                for (size_t k = 0; u->items && k < u->n; k++)
                        u->items[k] = u->h[k].item;
        }
}

int
rc_catalog_load_history(rc_catalog *c, const char *path, size_t *skipped,
                        socfw_error *err)
{
        FILE *f = fopen(path, "rb");
        char *line = NULL;
        size_t cap = 0;
        int rc = 0;
        if (skipped)
                *skipped = 0;
        if (!f)
                return socfw_error_set_at(err, SOCFW_EIO, path, 0, 0,
                                          "cannot open: %m");
        ssize_t len;
        while ((len = getline(&line, &cap, f)) >= 0) {
                json_t *obj = len > 1 ? json_loadb(line, (size_t)len, 0, NULL)
                                      : NULL;
                rc_event ev;
                if (json_is_object(obj) &&
                    rc_event_from_json(c, obj, &ev, NULL) == 0) {
                        rc = rc_catalog_add_event(c, ev.user, ev.item,
                                                  ev.rating, ev.ts);
                } else if (skipped && len > 1) {
                        (*skipped)++;
                }
                json_decref(obj);
                if (rc < 0) {
                        rc = socfw_error_set(err, rc, "out of memory");
                        break;
                }
        }
        free(line);
        fclose(f);
        rc_catalog_finish(c);
        return rc;
}

int
rc_catalog_seen(const rc_catalog *c, const char *user, int item)
{
        const rc_user *u = user_get(c, user);
        for (size_t k = 0; u && k < u->n; k++)
                if (u->h[k].item == item)
                        return 1;
        return 0;
}

size_t
rc_catalog_user_items(const rc_catalog *c, const char *user,
                      const int **items)
{
        const rc_user *u = user_get(c, user);
        *items = u ? u->items : NULL;
        return u && u->items ? u->n : 0;
}

char *
rc_catalog_query(const rc_catalog *c, const char *user, int item, double ts,
                 int max_items, int *n_hist)
{
        const rc_user *u = user ? user_get(c, user) : NULL;
        size_t end = 0;
        if (n_hist)
                *n_hist = 0;
        if (u) {
                /* the interaction itself, when it is in the history */
                size_t pos = u->n;
                for (size_t k = 0; k < u->n; k++)
                        if (u->h[k].item == item && u->h[k].ts == ts) {
                                pos = k;
                                break;
                        }
                if (pos < u->n)
                        end = pos;
                else
                        while (end < u->n && u->h[end].ts <= ts)
                                end++;
        }
        size_t cap = 256, len = 0;
        char *q = malloc(cap);
        if (!q)
                return NULL;
        q[0] = '\0';
        int got = 0;
        for (size_t k = end; k-- > 0 && got < max_items;) {
                if (u->h[k].rating < c->o.positive_threshold)
                        continue;
                const char *t = c->htexts[u->h[k].item];
                size_t need = len + strlen(t) + 4;
                if (need > cap) {
                        cap = need * 2;
                        char *g = realloc(q, cap);
                        if (!g) {
                                free(q);
                                return NULL;
                        }
                        q = g;
                }
                len += (size_t)snprintf(q + len, cap - len, "%s%s",
                                        got ? " ; " : "", t);
                got++;
        }
        if (!got) {
                free(q);
                q = strdup(RC_NO_HISTORY);
        }
        if (n_hist)
                *n_hist = got;
        return q;
}

long
rc_catalog_entries_after(const rc_catalog *c, const char *user, int item,
                         double ts)
{
        const rc_user *u = user ? user_get(c, user) : NULL;
        for (size_t k = 0; u && k < u->n; k++)
                if (u->h[k].item == item && u->h[k].ts == ts)
                        return (long)(u->n - 1 - k);
        return -1;
}

/* ---- ranking ---- */

size_t
rc_rank_of(const float *score, size_t n, int target, const uint8_t *excluded)
{
        if (target < 0 || (size_t)target >= n)
                return n + 1;
        float st = score[target];
        size_t rank = 1;
        for (size_t j = 0; j < n; j++) {
                if ((int)j == target || (excluded && excluded[j]))
                        continue;
                if (score[j] > st || (score[j] == st && (int)j < target))
                        rank++;
        }
        return rank;
}

void
rc_rank_add(rc_rank_sums *s, size_t rank, size_t k)
{
        s->n++;
        if (rank == 0)
                return;
        s->mrr += 1.0 / (double)rank;
        if (rank <= k) {
                s->hit += 1.0;
                s->ndcg += 1.0 / log2((double)rank + 1.0);
        }
}
