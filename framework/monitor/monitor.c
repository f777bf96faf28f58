/* monitor.c - keys, windows and detectors of the sentiment monitor (see
 * socfw/monitor.h).  The state database is state.c, deliveries sink.c, the
 * HTML report mreport.c. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>
#include <utf8proc.h>

#include "monitor/monitor_impl.h"
#include "socfw/log.h"
#include "socfw/pipeline.h"

/* ---- configuration ---- */

/* The schema (framework/core/schema.c) holds the defaults; an absent
 * section or a NULL config reads them from there, so there is one source. */
static const char *
spec_default(const char *key)
{
        const socfw_param_spec *s = socfw_pipeline_section_specs("monitor");
        for (; s && s->key; s++)
                if (strcmp(s->key, key) == 0)
                        return s->default_value;
        return NULL;
}

static double
get_f(const socfw_config *cfg, const char *key)
{
        if (cfg)
                return socfw_config_get_float(cfg, key);
        const char *d = spec_default(key);
        return d ? strtod(d, NULL) : 0;
}

static int64_t
get_i(const socfw_config *cfg, const char *key)
{
        if (cfg)
                return socfw_config_get_int(cfg, key);
        const char *d = spec_default(key);
        return d ? strtoll(d, NULL, 10) : 0;
}

static void
get_s(const socfw_config *cfg, const char *key, char *buf, size_t size)
{
        const char *v = cfg ? socfw_config_get_string(cfg, key)
                            : spec_default(key);
        snprintf(buf, size, "%s", v ? v : "");
}

/* Item i of a LIST (from the config, or the default "a,b,c"). */
static size_t
get_list(const socfw_config *cfg, const char *key, char out[][32],
         size_t max)
{
        size_t n = 0;
        if (cfg) {
                size_t len = socfw_config_list_len(cfg, key);
                for (size_t i = 0; i < len && n < max; i++)
                        snprintf(out[n++], 32, "%s",
                                 socfw_config_list_get(cfg, key, i));
                return n;
        }
        const char *d = spec_default(key);
        while (d && *d && n < max) {
                size_t len = strcspn(d, ",");
                snprintf(out[n++], 32, "%.*s", (int)len, d);
                d += len;
                if (*d == ',')
                        d++;
        }
        return n;
}

static int
in_list(char list[][32], size_t n, const char *s)
{
        for (size_t i = 0; i < n; i++)
                if (strcmp(list[i], s) == 0)
                        return 1;
        return 0;
}

static int
config_read(mon_config *c, const socfw_config *cfg, socfw_error *err)
{
        char buf[64], items[MON_LIST_MAX][32];
        memset(c, 0, sizeof *c);
        get_s(cfg, "window.type", buf, sizeof buf);
        c->size = get_f(cfg, "window.size");
        c->step = strcmp(buf, "sliding") == 0 ? get_f(cfg, "window.step")
                                              : c->size;
        if (c->step <= 0)
                c->step = c->size;
        c->lateness = get_f(cfg, "window.lateness");
        const char *file = cfg ? socfw_config_file(cfg) : "";
        if (c->size <= 0 || c->step > c->size)
                return socfw_error_set_at(
                        err, SOCFW_ESCHEMA, file,
                        cfg ? socfw_config_line(cfg, "window.step") : 0, 0,
                        "monitor.window: step (%g s) must be positive and "
                        "at most size (%g s)",
                        c->step, c->size);
        if ((c->size + c->lateness) / c->step + 2 > MON_RING_MAX)
                return socfw_error_set_at(
                        err, SOCFW_ESCHEMA, file,
                        cfg ? socfw_config_line(cfg, "window.size") : 0, 0,
                        "monitor.window: (size + lateness) / step is %.0f "
                        "open windows per key; at most %d (hint: a larger "
                        "step or a shorter lateness)",
                        (c->size + c->lateness) / c->step, MON_RING_MAX - 2);
        /* every key keeps its open windows: bound what keys.max_keys may
         * cost before the first post arrives */
        double ring = ceil((c->size + c->lateness) / c->step) + 2;
        double mib = ring * (double)sizeof(mon_window) *
                     (double)get_i(cfg, "keys.max_keys") / (1 << 20);
        if (mib > MON_MEMORY_MIB)
                return socfw_error_set_at(
                        err, SOCFW_ESCHEMA, file,
                        cfg ? socfw_config_line(cfg, "keys.max_keys") : 0, 0,
                        "monitor: %.0f open windows per key for up to %lld "
                        "keys would take %.0f MiB; at most %d (hint: fewer "
                        "keys.max_keys, a larger window.step or a shorter "
                        "lateness)",
                        ring, (long long)get_i(cfg, "keys.max_keys"), mib,
                        MON_MEMORY_MIB);
        get_s(cfg, "timestamp.field", c->ts_field, sizeof c->ts_field);
        get_s(cfg, "timestamp.policy", buf, sizeof buf);
        c->ts_policy = strcmp(buf, "skip") == 0    ? TS_SKIP
                       : strcmp(buf, "error") == 0 ? TS_ERROR
                                                   : TS_ARRIVAL;
        get_s(cfg, "id_field", c->id_field, sizeof c->id_field);
        get_s(cfg, "text_field", c->text_field, sizeof c->text_field);
        get_s(cfg, "sentiment.field", c->sent_field, sizeof c->sent_field);
        if (!c->sent_field[0]) {
                char task[96];
                get_s(cfg, "sentiment.task", task, sizeof task);
                snprintf(c->sent_field, sizeof c->sent_field, "%s.label",
                         task);
        }
        c->n_neg = get_list(cfg, "sentiment.negative", c->neg_labels,
                            MON_LIST_MAX);
        c->n_pos = get_list(cfg, "sentiment.positive", c->pos_labels,
                            MON_LIST_MAX);
        size_t n = get_list(cfg, "keys.from", items, MON_LIST_MAX);
        for (size_t i = 0; i < n; i++)
                c->key_sources |= !strcmp(items[i], "field")      ? KEYS_FIELD
                                  : !strcmp(items[i], "hashtags") ? KEYS_HASHTAGS
                                  : !strcmp(items[i], "cashtags") ? KEYS_CASHTAGS
                                  : !strcmp(items[i], "nlu")      ? KEYS_NLU
                                  : !strcmp(items[i], "all")      ? KEYS_ALL
                                                                  : 0;
        get_s(cfg, "keys.field", c->key_field, sizeof c->key_field);
        get_s(cfg, "keys.nlu_field", c->nlu_field, sizeof c->nlu_field);
        c->n_nlu_types = get_list(cfg, "keys.nlu_types", c->nlu_types,
                                  MON_LIST_MAX);
        c->max_keys = (size_t)get_i(cfg, "keys.max_keys");
        c->max_per_post = (size_t)get_i(cfg, "keys.max_per_post");
        if (c->max_per_post > MON_KEYS_PER_POST)
                c->max_per_post = MON_KEYS_PER_POST;
        n = get_list(cfg, "detect.metrics", items, MON_LIST_MAX);
        c->metrics[MET_NEG_SHARE] = in_list(items, n, "negative_share");
        c->metrics[MET_VOLUME] = in_list(items, n, "volume");
        n = get_list(cfg, "detect.detectors", items, MON_LIST_MAX);
        c->detectors[DET_EWMA] = in_list(items, n, "ewma");
        c->detectors[DET_CUSUM] = in_list(items, n, "cusum");
        c->warmup = get_i(cfg, "detect.warmup");
        c->min_volume = get_i(cfg, "detect.min_volume");
        c->alpha = get_f(cfg, "detect.alpha");
        c->z_threshold = get_f(cfg, "detect.z_threshold");
        c->min_sd_share = get_f(cfg, "detect.min_sd_share");
        c->min_sd_volume = get_f(cfg, "detect.min_sd_volume");
        c->cusum_k = get_f(cfg, "detect.cusum_k");
        c->cusum_h = get_f(cfg, "detect.cusum_h");
        c->cooldown = get_f(cfg, "alerts.cooldown");
        c->sample_ids = (size_t)get_i(cfg, "alerts.sample_ids");
        if (c->sample_ids > MON_SAMPLES_MAX)
                c->sample_ids = MON_SAMPLES_MAX;
        get_s(cfg, "state_sync", buf, sizeof buf);
        c->full_sync = strcmp(buf, "normal") != 0;
        get_s(cfg, "sinks.webhook.url", c->webhook_url, sizeof c->webhook_url);
        get_s(cfg, "sinks.webhook.secret_env", c->webhook_secret_env,
              sizeof c->webhook_secret_env);
        c->webhook_timeout = get_f(cfg, "sinks.webhook.timeout");
        c->retries = (int)get_i(cfg, "sinks.webhook.retries");
        c->backoff = get_f(cfg, "sinks.webhook.backoff");
        c->max_backoff = get_f(cfg, "sinks.webhook.max_backoff");
        get_s(cfg, "sinks.jsonl", c->jsonl_path, sizeof c->jsonl_path);
        get_s(cfg, "sinks.command", c->command, sizeof c->command);
        c->command_timeout = get_f(cfg, "sinks.command_timeout");
        c->report_keys = (size_t)get_i(cfg, "report.max_keys");
        return 0;
}

void
mon_config_defaults(mon_config *c)
{
        socfw_error err = {0};
        config_read(c, NULL, &err);
}

/* ---- time ---- */

static int
digits(const char **p, int n, int *out)
{
        int v = 0;
        for (int i = 0; i < n; i++) {
                if (!isdigit((unsigned char)(*p)[i]))
                        return -1;
                v = v * 10 + ((*p)[i] - '0');
        }
        *p += n;
        *out = v;
        return 0;
}

static int
parse_iso(const char *s, double *out)
{
        struct tm tm = {0};
        int y, mo, d, h = 0, mi = 0, sec = 0;
        double frac = 0;
        long tz = 0;
        const char *p = s;
        if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) ||
            *p++ != '-' || digits(&p, 2, &d))
                return -1;
        if (*p == 'T' || *p == 't' || *p == ' ') {
                p++;
                if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi))
                        return -1;
                if (*p == ':') {
                        p++;
                        if (digits(&p, 2, &sec))
                                return -1;
                        if (*p == '.' || *p == ',') {
                                double scale = 0.1;
                                p++;
                                if (!isdigit((unsigned char)*p))
                                        return -1;
                                while (isdigit((unsigned char)*p)) {
                                        frac += (*p++ - '0') * scale;
                                        scale /= 10;
                                }
                        }
                }
                if (*p == 'Z' || *p == 'z') {
                        p++;
                } else if (*p == '+' || *p == '-') {
                        int sign = *p++ == '-' ? -1 : 1, th, tm_ = 0;
                        if (digits(&p, 2, &th))
                                return -1;
                        if (*p == ':')
                                p++;
                        if (*p && digits(&p, 2, &tm_))
                                return -1;
                        if (th > 23 || tm_ > 59)
                                return -1;
                        tz = sign * (th * 3600L + tm_ * 60L);
                }
        }
        if (*p || y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 ||
            d > 31 || h > 23 || mi > 59 || sec > 60)
                return -1;
        tm.tm_year = y - 1900;
        tm.tm_mon = mo - 1;
        tm.tm_mday = d;
        tm.tm_hour = h;
        tm.tm_min = mi;
        tm.tm_sec = sec;
        time_t t = timegm(&tm);
        /* timegm normalises 31 February into March: refuse it */
        struct tm back;
        if (t == (time_t)-1 || !gmtime_r(&t, &back) || back.tm_mday != d)
                return -1;
        *out = (double)t + frac - (double)tz;
        return 0;
}

int
socfw_monitor_parse_time(const json_t *v, double *out)
{
        double t;
        if (json_is_number(v)) {
                t = json_number_value(v);
        } else if (json_is_string(v)) {
                const char *s = json_string_value(v);
                char *end;
                if (*s && (isdigit((unsigned char)*s))) {
                        t = strtod(s, &end);
                        if (*end && parse_iso(s, &t) < 0)
                                return SOCFW_EINVAL;
                } else {
                        return SOCFW_EINVAL;
                }
        } else {
                return SOCFW_EINVAL;
        }
        /* 1970 .. 9999: anything else is a unit or parsing mistake */
        if (!isfinite(t) || t < 0 || t > 253402300799.0)
                return SOCFW_EINVAL;
        *out = t;
        return 0;
}

const char *
socfw_monitor_format_time(double t, char *buf, size_t size)
{
        time_t s = (time_t)floor(t);
        struct tm tm;
        if (!isfinite(t) || !gmtime_r(&s, &tm))
                snprintf(buf, size, "?");
        else
                strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
        return buf;
}

/* ---- reading records ---- */

/* rec["a"]["b"] for "a.b"; a literal key "a.b" wins when present. */
static const json_t *
dotted(const json_t *rec, const char *key)
{
        const json_t *v = json_object_get(rec, key);
        if (v || !strchr(key, '.'))
                return v;
        char part[128];
        const char *p = key;
        const json_t *cur = rec;
        for (;;) {
                size_t len = strcspn(p, ".");
                if (len >= sizeof part)
                        return NULL;
                memcpy(part, p, len);
                part[len] = '\0';
                cur = json_object_get(cur, part);
                if (!cur || !p[len])
                        return cur;
                p += len + 1;
        }
}

int
mon_sentiment(const socfw_monitor *m, const json_t *rec)
{
        const json_t *v = dotted(rec, m->cfg.sent_field);
        char num[32];
        const char *label;
        if (json_is_array(v))
                v = json_array_get(v, 0);
        if (json_is_string(v)) {
                label = json_string_value(v);
        } else if (json_is_integer(v)) {
                snprintf(num, sizeof num, "%lld",
                         (long long)json_integer_value(v));
                label = num;
        } else {
                return -1;
        }
        const mon_config *c = &m->cfg;
        for (size_t i = 0; i < c->n_neg; i++)
                if (strcmp(c->neg_labels[i], label) == 0)
                        return MON_NEG;
        for (size_t i = 0; i < c->n_pos; i++)
                if (strcmp(c->pos_labels[i], label) == 0)
                        return MON_POS;
        return MON_NEU;
}

static size_t
add_key(char keys[][MON_KEY_MAX], size_t n, size_t max, const char *s,
        size_t len)
{
        while (len && isspace((unsigned char)*s)) {
                s++;
                len--;
        }
        while (len && isspace((unsigned char)s[len - 1]))
                len--;
        if (n >= max || len == 0 || len >= MON_KEY_MAX)
                return n;
        for (size_t i = 0; i < n; i++)
                if (strlen(keys[i]) == len && memcmp(keys[i], s, len) == 0)
                        return n;
        memcpy(keys[n], s, len);
        keys[n][len] = '\0';
        return n + 1;
}

/* A ticker: "$aapl" / "AAPL" -> "AAPL". */
static size_t
add_ticker(char keys[][MON_KEY_MAX], size_t n, size_t max, const char *s,
           size_t len)
{
        char buf[MON_KEY_MAX];
        if (len && *s == '$') {
                s++;
                len--;
        }
        if (len >= sizeof buf)
                return n;
        for (size_t i = 0; i < len; i++)
                buf[i] = (char)toupper((unsigned char)s[i]);
        return add_key(keys, n, max, buf, len);
}

static size_t
scan(socfw_monitor *m, pcre2_code *re, const char *text, int hashtag,
     char keys[][MON_KEY_MAX], size_t n, size_t max)
{
        size_t len = strlen(text), pos = 0;
        while (n < max && pos < len) {
                /* the first match checks the UTF-8 (a caller may hand
                 * over unchecked bytes), the next ones need not */
                int rc = pcre2_match(re, (PCRE2_SPTR)text, len, pos,
                                     pos ? PCRE2_NO_UTF_CHECK : 0, m->md,
                                     NULL);
                if (rc < 2)
                        break;
                PCRE2_SIZE *ov = pcre2_get_ovector_pointer(m->md);
                const char *s = text + ov[2];
                size_t sl = ov[3] - ov[2];
                if (hashtag) {
                        utf8proc_uint8_t *folded = NULL;
                        utf8proc_ssize_t fl = utf8proc_map(
                                (const utf8proc_uint8_t *)s,
                                (utf8proc_ssize_t)sl, &folded,
                                UTF8PROC_STABLE | UTF8PROC_COMPOSE |
                                        UTF8PROC_CASEFOLD);
                        if (fl > 0 && (size_t)fl + 1 < MON_KEY_MAX) {
                                char buf[MON_KEY_MAX];
                                buf[0] = '#';
                                memcpy(buf + 1, folded, (size_t)fl);
                                n = add_key(keys, n, max, buf,
                                            (size_t)fl + 1);
                        }
                        free(folded);
                } else {
                        n = add_ticker(keys, n, max, s, sl);
                }
                pos = ov[1] > pos ? ov[1] : pos + 1;
        }
        return n;
}

size_t
mon_extract_keys(socfw_monitor *m, const json_t *rec,
                 char keys[][MON_KEY_MAX], size_t max)
{
        const mon_config *c = &m->cfg;
        size_t n = 0;
        if (max > c->max_per_post)
                max = c->max_per_post;
        if (c->key_sources & KEYS_ALL)
                n = add_key(keys, n, max, "*", 1);
        if (c->key_sources & KEYS_FIELD) {
                const json_t *v = dotted(rec, c->key_field);
                if (json_is_string(v)) {
                        n = add_key(keys, n, max, json_string_value(v),
                                    json_string_length(v));
                } else if (json_is_array(v)) {
                        size_t i;
                        json_t *it;
                        json_array_foreach(v, i, it)
                                if (json_is_string(it))
                                        n = add_key(keys, n, max,
                                                    json_string_value(it),
                                                    json_string_length(it));
                }
        }
        if (c->key_sources & KEYS_NLU) {
                const json_t *slots = dotted(rec, c->nlu_field);
                size_t i;
                json_t *it;
                if (json_is_array(slots))
                        json_array_foreach(slots, i, it)
                        {
                                const char *type = json_string_value(
                                        json_object_get(it, "type"));
                                /* the slot's normalised value (a company
                                 * name's ticker) when the nlu stage gives
                                 * one, else its text */
                                json_t *tx = json_object_get(it, "value");
                                if (!json_is_string(tx))
                                        tx = json_object_get(it, "text");
                                if (!type || !json_is_string(tx))
                                        continue;
                                int ok = 0;
                                for (size_t j = 0; j < c->n_nlu_types; j++)
                                        ok |= !strcmp(c->nlu_types[j], type);
                                if (!ok)
                                        continue;
                                if (!strcmp(type, "TICKER") ||
                                    !strcmp(type, "CASHTAG"))
                                        n = add_ticker(keys, n, max,
                                                       json_string_value(tx),
                                                       json_string_length(tx));
                                else
                                        n = add_key(keys, n, max,
                                                    json_string_value(tx),
                                                    json_string_length(tx));
                        }
        }
        const char *text = json_string_value(dotted(rec, c->text_field));
        if (text && (c->key_sources & KEYS_CASHTAGS) && strchr(text, '$'))
                n = scan(m, m->re_cash, text, 0, keys, n, max);
        if (text && (c->key_sources & KEYS_HASHTAGS) && strchr(text, '#'))
                n = scan(m, m->re_hash, text, 1, keys, n, max);
        return n;
}

/* ---- keys ---- */

static uint64_t
fnv1a(const char *s)
{
        uint64_t h = 1469598103934665603ull;
        for (; *s; s++)
                h = (h ^ (unsigned char)*s) * 1099511628211ull;
        return h;
}

static void
key_free(mon_key *k)
{
        if (!k)
                return;
        free(k->name);
        free(k->ring);
        free(k->lag);
        free(k);
}

/* Find or create a key: 1 found/created, 0 when keys.max_keys is reached,
 * negative on ENOMEM. */
int
mon_get_key(socfw_monitor *m, const char *name, mon_key **out,
            socfw_error *err)
{
        if (m->n_keys * 2 >= m->n_slots) {
                size_t ns = m->n_slots ? m->n_slots * 2 : 64;
                mon_key **s = calloc(ns, sizeof *s);
                if (!s)
                        return socfw_error_set(err, SOCFW_ENOMEM,
                                               "out of memory");
                for (size_t i = 0; i < m->n_slots; i++) {
                        mon_key *k = m->slots[i];
                        if (!k)
                                continue;
                        size_t j = fnv1a(k->name) & (ns - 1);
                        while (s[j])
                                j = (j + 1) & (ns - 1);
                        s[j] = k;
                }
                free(m->slots);
                m->slots = s;
                m->n_slots = ns;
        }
        size_t j = fnv1a(name) & (m->n_slots - 1);
        while (m->slots[j]) {
                if (strcmp(m->slots[j]->name, name) == 0) {
                        *out = m->slots[j];
                        return 1;
                }
                j = (j + 1) & (m->n_slots - 1);
        }
        if (m->n_keys >= m->cfg.max_keys)
                return 0;
        mon_key *k = calloc(1, sizeof *k);
        if (!k || !(k->name = strdup(name)) ||
            !(k->ring = malloc(m->ring_cap * sizeof *k->ring))) {
                key_free(k);
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        }
        for (size_t i = 0; i < m->ring_cap; i++)
                k->ring[i].k = -1;
        size_t lag = (size_t)ceil(m->cfg.size / m->cfg.step - 1e-9) - 1;
        if (lag > 0) {
                if (!(k->lag = calloc(MET_COUNT * lag, sizeof *k->lag))) {
                        key_free(k);
                        return socfw_error_set(err, SOCFW_ENOMEM,
                                               "out of memory");
                }
                for (int d = 0; d < MET_COUNT; d++) {
                        k->det[d].lag = k->lag + (size_t)d * lag;
                        k->det[d].lag_cap = (uint32_t)lag;
                }
        }
        k->next_k = m->closed_k;
        m->slots[j] = k;
        m->n_keys++;
        *out = k;
        return 1;
}

static mon_window *
slot_of(socfw_monitor *m, mon_key *key, int64_t k)
{
        int64_t cap = (int64_t)m->ring_cap;
        mon_window *w = &key->ring[((k % cap) + cap) % cap];
        if (w->k != k) {
                memset(w, 0, sizeof *w);
                w->k = k;
        }
        return w;
}

/* ---- detectors ---- */

static void
detect_learn(const mon_config *c, mon_detector *d, double v)
{
        if (d->n == 0) {
                d->mean = v;
                d->var = 0;
        } else {
                double diff = v - d->mean, incr = c->alpha * diff;
                d->mean += incr;
                d->var = (1 - c->alpha) * (d->var + diff * incr);
        }
        d->n++;
}

size_t
mon_detect(const mon_config *c, int metric, mon_detector *d, double x,
           double volume, mon_hit *hits)
{
        size_t n = 0;
        double upd = x;
        if (d->n >= c->warmup) {
                /* floors: what sampling alone would give (binomial share
                 * of `volume` posts, Poisson count) and the configured one */
                double p = fmin(fmax(d->mean, 0), 1);
                double floor_sd =
                        metric == MET_NEG_SHARE
                                ? fmax(c->min_sd_share,
                                       volume > 0 ? sqrt(p * (1 - p) / volume)
                                                  : 0)
                                : fmax(c->min_sd_volume,
                                       sqrt(fmax(d->mean, 0)));
                double sd = fmax(sqrt(fmax(d->var, 0)), floor_sd);
                double z = sd > 0 ? (x - d->mean) / sd : 0;
                /* the baseline learns from a burst no more than from a
                 * value CLIP sd away, so one episode does not blunt the
                 * detectors for the next (winsorised EWMA) */
                if (z > MON_CLIP_Z)
                        upd = d->mean + MON_CLIP_Z * sd;
                else if (z < -MON_CLIP_Z)
                        upd = d->mean - MON_CLIP_Z * sd;
                if (c->detectors[DET_EWMA] && z >= c->z_threshold)
                        hits[n++] = (mon_hit){metric, DET_EWMA, x, d->mean,
                                              z, c->z_threshold};
                if (c->detectors[DET_CUSUM]) {
                        /* overlapping (sliding) windows repeat the same
                         * posts: each counts step/size of a window */
                        d->cusum = fmax(0, d->cusum + (z - c->cusum_k) *
                                                   c->step / c->size);
                        if (d->cusum >= c->cusum_h) {
                                hits[n++] = (mon_hit){metric, DET_CUSUM, x,
                                                      d->mean, d->cusum,
                                                      c->cusum_h};
                                d->cusum = 0;
                        }
                }
        }
        /* the baseline learns a window only once no later window it is
         * scored against overlaps it: sliding windows wait in d->lag */
        if (!d->lag || d->lag_cap == 0) {
                detect_learn(c, d, upd);
        } else {
                if (d->lag_len == d->lag_cap) {
                        detect_learn(c, d, d->lag[d->lag_head]);
                        d->lag_head = (d->lag_head + 1) % d->lag_cap;
                        d->lag_len--;
                }
                d->lag[(d->lag_head + d->lag_len) % d->lag_cap] = upd;
                d->lag_len++;
        }
        return n;
}

static const char *const metric_names[] = {"negative_share", "volume"};
static const char *const detector_names[] = {"ewma", "cusum"};

/* The alert of one key's closed window, or nothing. */
static int
alert_build(socfw_monitor *m, mon_key *key, const mon_closed *cw,
            const mon_hit *hits, size_t n_hits, socfw_error *err)
{
        const mon_config *c = &m->cfg;
        /* the strongest hit relative to its threshold */
        size_t best = 0;
        for (size_t i = 1; i < n_hits; i++)
                if (hits[i].score / hits[i].threshold >
                    hits[best].score / hits[best].threshold)
                        best = i;
        if (cw->end <= key->cooldown_until) {
                m->st.suppressed += (int64_t)n_hits;
                return 0;
        }
        const mon_hit *h = &hits[best];
        const mon_window *w = cw->w;
        char id[33], ws[32], we[32], tag[MON_KEY_MAX + 64];
        unsigned char dg[16];
        int tl = snprintf(tag, sizeof tag, "%s%c%.3f%c%.3f", key->name, 0x1f,
                          cw->start, 0x1f, cw->end);
        if (tl < 0 || (size_t)tl >= sizeof tag)
                tl = (int)sizeof tag - 1;
        crypto_generichash(dg, sizeof dg, (const unsigned char *)tag,
                           (size_t)tl, NULL, 0);
        sodium_bin2hex(id, sizeof id, dg, sizeof dg);
        json_t *ids = json_array(), *also = json_array();
        uint8_t n_ids = h->metric == MET_NEG_SHARE ? w->n_neg_ids
                                                   : w->n_any_ids;
        for (uint8_t i = 0; i < n_ids; i++)
                json_array_append_new(ids, json_string(
                        h->metric == MET_NEG_SHARE ? w->neg_ids[i]
                                                   : w->any_ids[i]));
        for (size_t i = 0; i < n_hits; i++)
                if (i != best)
                        json_array_append_new(
                                also,
                                json_pack("{s:s, s:s, s:f}", "metric",
                                          metric_names[hits[i].metric],
                                          "detector",
                                          detector_names[hits[i].detector],
                                          "score", hits[i].score));
        json_t *a = json_pack(
                "{s:s, s:s, s:s, s:s, s:s, s:s, s:f, s:f, s:f, s:f, s:I, "
                "s:I, s:I, s:I, s:o, s:o}",
                "id", id, "key", key->name, "window_start",
                socfw_monitor_format_time(cw->start, ws, sizeof ws),
                "window_end", socfw_monitor_format_time(cw->end, we, sizeof we),
                "metric", metric_names[h->metric], "detector",
                detector_names[h->detector], "value", h->value, "baseline",
                h->baseline, "score", h->score, "threshold", h->threshold,
                "volume", (json_int_t)w->n, "negative",
                (json_int_t)w->c[MON_NEG], "neutral",
                (json_int_t)w->c[MON_NEU], "positive",
                (json_int_t)w->c[MON_POS], "post_ids", ids, "also", also);
        char *js = a ? json_dumps(a, JSON_COMPACT | JSON_PRESERVE_ORDER |
                                             JSON_REAL_PRECISION(6))
                     : NULL;
        json_decref(a);
        if (!js)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        key->cooldown_until = cw->end + c->cooldown;
        int rc = mon_state_add_alert(m, id, key->name, cw->start, cw->end,
                                     metric_names[h->metric], js, err);
        if (rc == 1) {
                m->st.alerts++;
                /* shown and delivered once the window's commit holds */
                if (m->n_new == m->cap_new) {
                        size_t nc = m->cap_new ? m->cap_new * 2 : 16;
                        char **p = realloc(m->new_alerts, nc * sizeof *p);
                        char **q = p ? realloc(m->new_json, nc * sizeof *q)
                                     : NULL;
                        if (p)
                                m->new_alerts = p;
                        if (!q) {
                                free(js);
                                return socfw_error_set(err, SOCFW_ENOMEM,
                                                       "out of memory");
                        }
                        m->new_json = q;
                        m->cap_new = nc;
                }
                if (!(m->new_alerts[m->n_new] = strdup(id))) {
                        free(js);
                        return socfw_error_set(err, SOCFW_ENOMEM,
                                               "out of memory");
                }
                m->new_json[m->n_new++] = js;
                return 0;
        }
        free(js);
        return rc < 0 ? rc : 0;
}

/* ---- windows ---- */

static int
close_window(socfw_monitor *m, mon_key *key, int64_t k, socfw_error *err)
{
        const mon_config *c = &m->cfg;
        mon_window empty = {.k = k};
        int64_t cap = (int64_t)m->ring_cap;
        mon_window *slot = &key->ring[((k % cap) + cap) % cap];
        const mon_window *w = slot->k == k ? slot : &empty;
        mon_closed cw = {.key = key, .start = (double)k * c->step,
                         .end = (double)k * c->step + c->size, .w = w};
        int rc = mon_state_save_window(m, &cw, err);
        if (rc < 0)
                return rc;
        mon_hit hits[4];
        size_t n = 0;
        if (c->metrics[MET_VOLUME])
                n += mon_detect(c, MET_VOLUME, &key->det[MET_VOLUME],
                                (double)w->n, (double)w->n, hits + n);
        if (c->metrics[MET_NEG_SHARE] && w->n > 0 &&
            (int64_t)w->n >= c->min_volume)
                n += mon_detect(c, MET_NEG_SHARE, &key->det[MET_NEG_SHARE],
                                (double)w->c[MON_NEG] / (double)w->n,
                                (double)w->n, hits + n);
        if (n)
                rc = alert_build(m, key, &cw, hits, n, err);
        m->st.windows_closed++;
        slot->k = -1;
        key->next_k = k + 1;
        return rc;
}

static void
new_alerts_clear(socfw_monitor *m)
{
        for (size_t i = 0; i < m->n_new; i++) {
                free(m->new_alerts[i]);
                free(m->new_json[i]);
        }
        m->n_new = 0;
}

/* Close windows [m->closed_k, upto) for every key, in one transaction. */
static int
close_until(socfw_monitor *m, int64_t upto, socfw_error *err)
{
        if (upto <= m->closed_k)
                return 0;
        int rc = mon_state_begin(m, err);
        if (rc < 0)
                return rc;
        /* a long silence: only windows holding posts are closed, the
         * empty ones in between are not replayed one by one */
        int64_t gap = upto - m->closed_k;
        for (size_t i = 0; i < m->n_slots && rc == 0; i++) {
                mon_key *key = m->slots[i];
                if (!key)
                        continue;
                if (gap <= 10000) {
                        for (int64_t k = key->next_k; k < upto && rc == 0;
                             k++)
                                rc = close_window(m, key, k, err);
                } else {
                        for (size_t s = 0; s < m->ring_cap && rc == 0; s++)
                                if (key->ring[s].k >= 0 &&
                                    key->ring[s].k < upto)
                                        rc = close_window(m, key,
                                                          key->ring[s].k, err);
                        key->next_k = upto;
                }
        }
        if (rc == 0) {
                m->closed_k = upto;
                rc = mon_state_commit(m, err);
        }
        if (rc < 0) {
                mon_state_rollback(m);
                new_alerts_clear(m);
                return rc;
        }
        if (m->n_new) {
                if (m->opts.on_alert)
                        for (size_t i = 0; i < m->n_new; i++)
                                m->opts.on_alert(m->new_json[i],
                                                 m->opts.user);
                rc = mon_deliver_pending(m, m->new_alerts, m->n_new, 0,
                                         err);
                new_alerts_clear(m);
        }
        return rc;
}

static void set_input(socfw_monitor *m, const char *file);

static int64_t
kfloor(double x)
{
        return (int64_t)floor(x);
}

static double
now_seconds(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int
socfw_monitor_feed(socfw_monitor *m, const json_t *rec, const char *file,
                   long line, int64_t offset, socfw_error *err)
{
        const mon_config *c = &m->cfg;
        m->lines++;
        m->offset = offset;
        set_input(m, file);
        m->st.posts++;
        double t;
        if (!json_is_object(rec))
                return socfw_error_set_at(err, SOCFW_EINVAL, file, line, 0,
                                          "expected a JSON object");
        if (socfw_monitor_parse_time(json_object_get(rec, c->ts_field), &t) <
            0) {
                m->st.no_timestamp++;
                if (c->ts_policy == TS_ERROR) {
                        const json_t *v = json_object_get(rec, c->ts_field);
                        return socfw_error_set_at(
                                err, SOCFW_EINVAL, file, line, 0,
                                "field '%s' is %s (expected ISO 8601 such as "
                                "2024-03-01T12:00:00Z, or epoch seconds); "
                                "hint: monitor.timestamp.policy: arrival "
                                "uses the arrival time, skip counts and "
                                "skips such posts",
                                c->ts_field,
                                v ? "not a time" : "missing");
                }
                if (c->ts_policy == TS_SKIP) {
                        m->st.skipped_time++;
                        return 0;
                }
                t = now_seconds();
        }
        int s = mon_sentiment(m, rec);
        if (s < 0) {
                m->st.no_sentiment++;
                return 0;
        }
        char keys[MON_KEYS_PER_POST][MON_KEY_MAX];
        size_t nk = mon_extract_keys(m, rec, keys, MON_KEYS_PER_POST);
        if (nk == 0) {
                m->st.no_key++;
                return 0;
        }
        if (!m->have_time) {
                m->have_time = 1;
                m->max_time = t;
                m->closed_k = kfloor((t - c->lateness - c->size) / c->step) +
                              1;
                for (size_t i = 0; i < m->n_slots; i++)
                        if (m->slots[i])
                                m->slots[i]->next_k = m->closed_k;
        }
        int64_t kmax = kfloor(t / c->step);
        int64_t kmin = kfloor((t - c->size) / c->step) + 1;
        if (kmin < m->closed_k)
                kmin = m->closed_k;
        if (t < m->max_time - c->lateness || kmax < kmin) {
                m->st.late_dropped++;
                return 0;
        }
        const json_t *idv = json_object_get(rec, c->id_field);
        char id[MON_ID_MAX];
        if (json_is_string(idv))
                snprintf(id, sizeof id, "%s", json_string_value(idv));
        else if (json_is_integer(idv))
                snprintf(id, sizeof id, "%lld",
                         (long long)json_integer_value(idv));
        else
                snprintf(id, sizeof id, "%s:%ld", file ? file : "", line);
        int counted = 0;
        for (size_t i = 0; i < nk; i++) {
                mon_key *key;
                int rc = mon_get_key(m, keys[i], &key, err);
                if (rc < 0)
                        return rc;
                if (rc == 0) {
                        m->st.keys_dropped++;
                        continue;
                }
                for (int64_t k = kmin; k <= kmax; k++) {
                        if (k < key->next_k)
                                continue;
                        mon_window *w = slot_of(m, key, k);
                        w->n++;
                        w->c[s]++;
                        if (w->n_any_ids < c->sample_ids)
                                snprintf(w->any_ids[w->n_any_ids++],
                                         MON_ID_MAX, "%s", id);
                        if (s == MON_NEG && w->n_neg_ids < c->sample_ids)
                                snprintf(w->neg_ids[w->n_neg_ids++],
                                         MON_ID_MAX, "%s", id);
                        counted = 1;
                }
        }
        m->st.counted += counted;
        if (t > m->max_time)
                m->max_time = t;
        int64_t upto = kfloor((m->max_time - c->lateness - c->size) /
                              c->step) + 1;
        return close_until(m, upto, err);
}

static void
set_input(socfw_monitor *m, const char *file)
{
        if (file && strcmp(file, m->input_name) != 0)
                snprintf(m->input_name, sizeof m->input_name, "%s", file);
}

void
socfw_monitor_skip_line(socfw_monitor *m, const char *file, int64_t offset)
{
        m->lines++;
        m->offset = offset;
        set_input(m, file);
}

int
socfw_monitor_checkpoint(socfw_monitor *m, socfw_error *err)
{
        int rc = mon_state_begin(m, err);
        if (rc == 0)
                rc = mon_state_commit(m, err);
        if (rc < 0) {
                mon_state_rollback(m);
                return rc;
        }
        /* a quiet stream still retries what failed, once a minute */
        return mon_deliver_pending(m, NULL, 0, 0, err);
}

int
socfw_monitor_finish(socfw_monitor *m, socfw_error *err)
{
        int rc = 0;
        if (m->have_time) {
                int64_t upto = m->closed_k;
                for (size_t i = 0; i < m->n_slots; i++) {
                        mon_key *key = m->slots[i];
                        for (size_t s = 0; key && s < m->ring_cap; s++)
                                if (key->ring[s].k >= upto)
                                        upto = key->ring[s].k + 1;
                }
                rc = close_until(m, upto, err);
        }
        if (rc == 0)
                rc = socfw_monitor_checkpoint(m, err);
        if (rc == 0)
                rc = mon_deliver_pending(m, NULL, 0, 1, err);
        return rc;
}

/* ---- lifetime ---- */

static pcre2_code *
compile(const char *pat)
{
        int code;
        PCRE2_SIZE off;
        return pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED,
                             PCRE2_UTF | PCRE2_UCP, &code, &off, NULL);
}

int
socfw_monitor_open(socfw_monitor **out, const socfw_config *cfg,
                   const socfw_monitor_options *opts, socfw_error *err)
{
        *out = NULL;
        if (sodium_init() < 0)
                return socfw_error_set(err, SOCFW_EINTERNAL,
                                       "libsodium failed to initialise");
        socfw_monitor *m = calloc(1, sizeof *m);
        if (!m)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        int rc = config_read(&m->cfg, cfg, err);
        if (rc < 0)
                goto out;
        if (opts)
                m->opts = *opts;
        if (m->opts.webhook_url)
                snprintf(m->cfg.webhook_url, sizeof m->cfg.webhook_url, "%s",
                         m->opts.webhook_url);
        snprintf(m->state_path, sizeof m->state_path, "%s",
                 m->opts.state_path ? m->opts.state_path : ":memory:");
        m->opts.state_path = NULL;
        m->opts.webhook_url = NULL;
        m->ring_cap = (size_t)ceil((m->cfg.size + m->cfg.lateness) /
                                   m->cfg.step) + 2;
        /* $AAPL, $brk.b; not $100 or a$b */
        m->re_cash = compile("(?<![\\w$])\\$([A-Za-z]{1,6}(?:\\.[A-Za-z]{1,2}"
                             ")?)(?![\\w])");
        m->re_hash = compile("(?<![\\w#&])#(\\w{1,100})");
        m->md = pcre2_match_data_create(4, NULL);
        if (!m->re_cash || !m->re_hash || !m->md) {
                rc = socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
                goto out;
        }
        if ((rc = mon_state_open(m, err)) < 0 ||
            (rc = mon_state_load(m, err)) < 0)
                goto out;
        /* deliveries an earlier run could not complete */
        rc = mon_deliver_pending(m, NULL, 0, 1, err);
out:
        if (rc < 0) {
                socfw_monitor_close(m);
                return rc;
        }
        *out = m;
        return 0;
}

void
socfw_monitor_close(socfw_monitor *m)
{
        if (!m)
                return;
        mon_state_close(m);
        for (size_t i = 0; i < m->n_slots; i++)
                key_free(m->slots[i]);
        free(m->slots);
        new_alerts_clear(m);
        free(m->new_alerts);
        free(m->new_json);
        pcre2_code_free(m->re_cash);
        pcre2_code_free(m->re_hash);
        pcre2_match_data_free(m->md);
        free(m);
}

int64_t
socfw_monitor_input_lines(const socfw_monitor *m)
{
        return m->lines;
}

int64_t
socfw_monitor_input_offset(const socfw_monitor *m)
{
        return m->offset;
}

const char *
socfw_monitor_input_name(const socfw_monitor *m)
{
        return m->input_name;
}

void
socfw_monitor_get_stats(const socfw_monitor *m, socfw_monitor_stats *st)
{
        *st = m->st;
}
