/* bench/serve_load.c - a load generator for `socfw serve` (loopback only),
 * in C so that the client costs the shared cores little.
 *
 * C concurrent transfers over libcurl's multi interface (one thread, one
 * keep-alive connection per transfer) send requests until N are answered
 * or T seconds pass (requests in flight then finish), then one line:
 * requests/s (200 answers over the wall time), p50/p90/p99 latency of the
 * 200 answers, the count of every status, for chat the aggregate tokens/s
 * (the answers' usage.completion_tokens), the batch sizes of the run (the
 * server's /metrics counters before and after) and the passes that ran
 * beside another, the client's own CPU time
 * per request and the load average; with --server-pid, the server's CPU
 * time per request and its resident memory before and after.
 *
 *     bench/serve_load URL predict      [-c 8] [-n 400] [-t 60]
 *     bench/serve_load URL chat         [-c 8] [-n 400] [--max-tokens 32]
 *     bench/serve_load URL chat-stream  ...  (stream: true; tokens from
 *                                             the usage chunk)
 *     bench/serve_load URL predict -c 32 -n 1000000 -t 600 \
 *             --malformed 0.1 --server-pid PID        (a soak)
 *
 * With --malformed F, every round(1/F)-th request is malformed (bad JSON, a
 * number as text, invalid UTF-8, 301 records, a body over 1 MiB) and must
 * get its 400 or 413 (an array of records sent as a chat request: 400);
 * the ones that do not are counted and named.
 *
 * URL must be http://127.0.0.1:PORT, http://localhost:PORT or
 * http://[::1]:PORT; proxies are never used.  The same command line and
 * figures as bench/serve_load.py (which runs the clients as Python
 * threads), plus p90, the status counts, the client's CPU and the load
 * average.  Measures; never fails on time.  Exit status: 0 when the run
 * took place (whatever the answers), 1 on bad usage or setup failure.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bench_clock.h"

/* ---- what is sent ---- */

static const char *const TEXTS[] = {
        "my order arrived broken and nobody answers my mails",
        "great service, the parcel came a day early",
        "the app keeps crashing when I open my basket",
        "thanks for the quick refund!",
        "where is my parcel? it has been two weeks",
        "the new phone case looks fine",
        "worst support ever, I want my money back",
        "ok, the delivery was on time",
};
#define N_TEXTS (sizeof TEXTS / sizeof TEXTS[0])

enum kind { KIND_PREDICT, KIND_CHAT, KIND_CHAT_STREAM };

/* The malformed bodies (built once) and the status each must get. */
#define N_BAD 5
static struct {
        char *body;
        size_t len;
        long want;
} bad[N_BAD];

static int
bad_init(void)
{
        static const char rec[] = "{\"text\": \"a\"},";
        size_t n_rec = 300, big = ((size_t)1 << 20) + 1;
        size_t arr_len = 1 + n_rec * (sizeof rec - 1) + 14;
        static const char *const small[] = {
                "{not json", "{\"text\": 42}", "{\"text\": \"\xff\xfe\"}"};
        for (int k = 0; k < 3; k++) {
                bad[k].body = strdup(small[k]);
                if (!bad[k].body)
                        return -1;
                bad[k].len = strlen(small[k]);
                bad[k].want = 400;
        }
        /* 301 records: one more than /v1/predict takes at once */
        char *a = malloc(arr_len + 1);
        char *x = malloc(big);
        if (!a || !x) {
                free(a);
                free(x);
                return -1;
        }
        size_t o = 0;
        a[o++] = '[';
        for (size_t r = 0; r < n_rec; r++) {
                memcpy(a + o, rec, sizeof rec - 1);
                o += sizeof rec - 1;
        }
        memcpy(a + o, "{\"text\": \"a\"}]", 14);
        o += 14;
        a[o] = '\0';
        bad[3].body = a;
        bad[3].len = o;
        bad[3].want = 413;
        memset(x, 'x', big); /* a body over 1 MiB */
        bad[4].body = x;
        bad[4].len = big;
        bad[4].want = 413;
        return 0;
}

/* The i-th well-formed request body (caller frees), or NULL. */
static char *
body_for(enum kind kind, long i, const char *model, int max_tokens)
{
        const char *text = TEXTS[(size_t)i % N_TEXTS];
        json_t *b;
        if (kind == KIND_PREDICT)
                b = json_pack("{s:s, s:I}", "text", text, "id",
                              (json_int_t)i);
        else
                b = json_pack("{s:s, s:i, s:I, s:[{s:s, s:s}]}", "model",
                              model, "max_tokens", max_tokens, "seed",
                              (json_int_t)i, "messages", "role", "user",
                              "content", text);
        if (b && kind == KIND_CHAT_STREAM) {
                json_object_set_new(b, "stream", json_true());
                json_object_set_new(b, "stream_options",
                                    json_pack("{s:b}", "include_usage", 1));
        }
        char *s = b ? json_dumps(b, JSON_COMPACT) : NULL;
        json_decref(b);
        return s;
}

/* ---- a growable response buffer ---- */

typedef struct {
        char *p;
        size_t len, cap;
} buf;

#define RESPONSE_MAX ((size_t)64 << 20)

static size_t
buf_write(char *data, size_t size, size_t nmemb, void *user)
{
        buf *b = user;
        size_t n = size * nmemb;
        if (b->len + n + 1 > b->cap) {
                size_t cap = b->cap ? b->cap : 4096;
                while (cap < b->len + n + 1)
                        cap *= 2;
                if (cap > RESPONSE_MAX)
                        return 0; /* curl fails the transfer */
                char *p = realloc(b->p, cap);
                if (!p)
                        return 0;
                b->p = p;
                b->cap = cap;
        }
        memcpy(b->p + b->len, data, n);
        b->len += n;
        b->p[b->len] = '\0';
        return n;
}

/* ---- the server, seen from outside ---- */

typedef struct {
        const char *host; /* as in the URL: 127.0.0.1, localhost, [::1] */
        long port;
        char base[96];    /* http://HOST:PORT */
        struct curl_slist *headers;
} target;

/* Accepts only loopback URLs with a port. */
static int
target_parse(target *t, const char *url)
{
        static const char *const hosts[] = {"127.0.0.1", "localhost",
                                            "[::1]"};
        if (strncmp(url, "http://", 7) != 0)
                return -1;
        const char *h = url + 7;
        for (size_t k = 0; k < sizeof hosts / sizeof hosts[0]; k++) {
                size_t n = strlen(hosts[k]);
                if (strncmp(h, hosts[k], n) != 0 || h[n] != ':')
                        continue;
                char *end;
                long port = strtol(h + n + 1, &end, 10);
                if (end == h + n + 1 || port < 1 || port > 65535 ||
                    (*end && strcmp(end, "/") != 0))
                        return -1;
                t->host = hosts[k];
                t->port = port;
                snprintf(t->base, sizeof t->base, "http://%s:%ld", hosts[k],
                         port);
                return 0;
        }
        return -1;
}

/* The options every transfer shares: loopback http only, no proxy. */
static void
easy_common(CURL *e, const target *t)
{
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http");
        curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
        curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(e, CURLOPT_TIMEOUT, 120L);
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, buf_write);
}

/* GET path into *out (caller frees out->p); the HTTP status, or 0. */
static long
get_once(const target *t, const char *path, buf *out)
{
        char url[160];
        long status = 0;
        snprintf(url, sizeof url, "%s%s", t->base, path);
        CURL *e = curl_easy_init();
        if (!e)
                return 0;
        easy_common(e, t);
        curl_easy_setopt(e, CURLOPT_URL, url);
        curl_easy_setopt(e, CURLOPT_TIMEOUT, 30L);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, out);
        if (curl_easy_perform(e) == CURLE_OK)
                curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_cleanup(e);
        return status;
}

/* The batching counters of /metrics (the ones serve_load.py reads). */
static const char *const COUNTERS[] = {
        "socfw_batch_forward_passes_total", "socfw_batch_windows_total",
        "socfw_tag_forward_passes_total",   "socfw_tag_windows_total",
        "socfw_decode_steps_total",         "socfw_decode_tokens_total",
        "socfw_batch_overlapping_passes_total",
};
#define N_COUNTERS (sizeof COUNTERS / sizeof COUNTERS[0])

static void
counters_read(const target *t, double out[N_COUNTERS])
{
        buf b = {0};
        memset(out, 0, N_COUNTERS * sizeof out[0]);
        if (get_once(t, "/metrics", &b) == 200 && b.p) {
                for (char *line = b.p; line && *line;) {
                        char *nl = strchr(line, '\n');
                        if (nl)
                                *nl = '\0';
                        for (size_t k = 0; k < N_COUNTERS; k++) {
                                size_t n = strlen(COUNTERS[k]);
                                if (!strncmp(line, COUNTERS[k], n) &&
                                    line[n] == ' ')
                                        out[k] = strtod(line + n + 1, NULL);
                        }
                        line = nl ? nl + 1 : NULL;
                }
        }
        free(b.p);
}

/* The first model of /v1/models (caller frees), or NULL. */
static char *
first_model(const target *t)
{
        buf b = {0};
        char *id = NULL;
        if (get_once(t, "/v1/models", &b) == 200 && b.p) {
                json_t *j = json_loads(b.p, 0, NULL);
                const char *s = json_string_value(json_object_get(
                        json_array_get(json_object_get(j, "data"), 0), "id"));
                id = s ? strdup(s) : NULL;
                json_decref(j);
        }
        free(b.p);
        return id;
}

/* /proc/PID/status VmRSS in KiB, or 0. */
static long
proc_rss_kib(long pid)
{
        char path[64], line[256];
        long kib = 0;
        if (pid <= 0)
                return 0;
        snprintf(path, sizeof path, "/proc/%ld/status", pid);
        FILE *f = fopen(path, "r");
        if (!f)
                return 0;
        while (fgets(line, sizeof line, f))
                if (!strncmp(line, "VmRSS:", 6)) {
                        kib = strtol(line + 6, NULL, 10);
                        break;
                }
        fclose(f);
        return kib;
}

/* The CPU seconds (user + system) of process pid so far, or 0. */
static double
proc_cpu_s(long pid)
{
        char path[64], text[1024];
        if (pid <= 0)
                return 0;
        snprintf(path, sizeof path, "/proc/%ld/stat", pid);
        FILE *f = fopen(path, "r");
        if (!f)
                return 0;
        size_t n = fread(text, 1, sizeof text - 1, f);
        fclose(f);
        text[n] = '\0';
        char *p = strrchr(text, ')'); /* the name may hold spaces */
        if (!p)
                return 0;
        /* after ") ": state is field 3; utime 14 and stime 15 */
        unsigned long long ut = 0, st = 0;
        if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
                   &ut, &st) != 2)
                return 0;
        return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double
self_cpu_s(void)
{
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        return (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec +
               (double)ru.ru_stime.tv_sec + 1e-6 * (double)ru.ru_stime.tv_usec;
}

/* ---- the run ---- */

typedef struct {
        CURL *easy;
        buf resp;
        char *body; /* owned unless it is one of bad[] */
        int body_owned;
        long want;  /* 200, or a malformed body's status */
        double t0;
} slot;

typedef struct {
        enum kind kind;
        int concurrency;
        long requests;
        double seconds;
        int max_tokens;
        const char *model;
        double malformed;
        long server_pid;
        target t;
        char url[160];
        /* progress */
        long issued;
        double deadline;
        /* results of well-formed requests */
        double *lat_ok; /* latency of each 200, seconds */
        long n_ok, n_done;
        long long tokens;
        long status[600]; /* well-formed requests by status; 0: no answer */
        long n_bad, n_bad_wrong;
        long bad_wrong[600];
} run;

/* Tokens in a chat answer (plain or streamed), 0 if unreadable. */
static long
answer_tokens(enum kind kind, const char *text)
{
        long tokens = 0;
        if (kind == KIND_CHAT) {
                json_t *j = json_loads(text, 0, NULL);
                tokens = (long)json_integer_value(json_object_get(
                        json_object_get(j, "usage"), "completion_tokens"));
                json_decref(j);
                return tokens;
        }
        /* server-sent events: the usage chunk carries the count */
        for (const char *p = strstr(text, "data: {"); p;
             p = strstr(p + 1, "data: {")) {
                const char *end = strstr(p, "\n\n");
                size_t n = end ? (size_t)(end - p - 6) : strlen(p + 6);
                json_t *ev = json_loadb(p + 6, n, 0, NULL);
                json_t *u = json_object_get(ev, "usage");
                if (json_is_object(u))
                        tokens = (long)json_integer_value(
                                json_object_get(u, "completion_tokens"));
                json_decref(ev);
        }
        return tokens;
}

/* Starts the next request on s; 0 if there is none left to start. */
static int
slot_start(run *r, CURLM *m, slot *s)
{
        if (r->issued >= r->requests || bench_now() > r->deadline)
                return 0;
        long i = r->issued++;
        long every = r->malformed > 0 ? lround(1.0 / r->malformed) : 0;
        if (every < 1 && r->malformed > 0)
                every = 1;
        if (every && i % every == 0) {
                int k = (int)(i % N_BAD);
                s->body = bad[k].body;
                curl_easy_setopt(s->easy, CURLOPT_POSTFIELDSIZE_LARGE,
                                 (curl_off_t)bad[k].len);
                s->body_owned = 0;
                /* records in an array are for /v1/predict; a chat
                 * request that is an array is of the wrong type */
                s->want = k == 3 && r->kind != KIND_PREDICT ? 400
                                                            : bad[k].want;
        } else {
                s->body = body_for(r->kind, i, r->model, r->max_tokens);
                if (!s->body)
                        return 0;
                curl_easy_setopt(s->easy, CURLOPT_POSTFIELDSIZE_LARGE,
                                 (curl_off_t)strlen(s->body));
                s->body_owned = 1;
                s->want = 200;
        }
        curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, s->body);
        s->resp.len = 0;
        s->t0 = bench_now();
        curl_multi_add_handle(m, s->easy);
        return 1;
}

static void
slot_done(run *r, slot *s, CURLcode res)
{
        double dt = bench_now() - s->t0;
        long status = 0;
        if (res == CURLE_OK)
                curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
        if (status < 0 || status >= 600)
                status = 0;
        if (s->want != 200) {
                r->n_bad++;
                if (status != s->want) {
                        r->n_bad_wrong++;
                        r->bad_wrong[status]++;
                }
        } else {
                r->n_done++;
                r->status[status]++;
                if (status == 200) {
                        r->lat_ok[r->n_ok++] = dt;
                        if (r->kind != KIND_PREDICT && s->resp.p)
                                r->tokens += answer_tokens(r->kind,
                                                           s->resp.p);
                }
        }
        if (s->body_owned)
                free(s->body);
        s->body = NULL;
}

static int
run_load(run *r)
{
        int rc = -1;
        CURLM *m = curl_multi_init();
        slot *slots = calloc((size_t)r->concurrency, sizeof *slots);
        if (!m || !slots)
                goto out;
        /* one connection per concurrent transfer, kept alive */
        curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, (long)r->concurrency + 4);
        curl_multi_setopt(m, CURLMOPT_PIPELINING, CURLPIPE_NOTHING);
        int active = 0;
        for (int k = 0; k < r->concurrency; k++) {
                CURL *e = curl_easy_init();
                if (!e)
                        goto out;
                slots[k].easy = e;
                easy_common(e, &r->t);
                curl_easy_setopt(e, CURLOPT_URL, r->url);
                curl_easy_setopt(e, CURLOPT_WRITEDATA, &slots[k].resp);
                curl_easy_setopt(e, CURLOPT_PRIVATE, &slots[k]);
                active += slot_start(r, m, &slots[k]);
        }
        while (active > 0) {
                int running = 0, left = 0;
                if (curl_multi_perform(m, &running) != CURLM_OK)
                        goto out;
                CURLMsg *msg;
                while ((msg = curl_multi_info_read(m, &left))) {
                        if (msg->msg != CURLMSG_DONE)
                                continue;
                        slot *s = NULL;
                        CURL *e = msg->easy_handle;
                        CURLcode res = msg->data.result;
                        curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&s);
                        curl_multi_remove_handle(m, e);
                        slot_done(r, s, res);
                        active--;
                        active += slot_start(r, m, s);
                }
                if (active > 0 &&
                    curl_multi_poll(m, NULL, 0, 100, NULL) != CURLM_OK)
                        goto out;
        }
        rc = 0;
out:
        for (int k = 0; slots && k < r->concurrency; k++) {
                if (slots[k].easy) {
                        curl_multi_remove_handle(m, slots[k].easy);
                        curl_easy_cleanup(slots[k].easy);
                }
                if (slots[k].body_owned)
                        free(slots[k].body);
                free(slots[k].resp.p);
        }
        free(slots);
        if (m)
                curl_multi_cleanup(m);
        return rc;
}

/* ---- the report ---- */

static double
pct(const double *sorted, long n, double p)
{
        if (n <= 0)
                return NAN;
        long k = lround(p / 100.0 * (double)(n - 1));
        return sorted[k < 0 ? 0 : k >= n ? n - 1 : k];
}

/* Appends to the report line (bounded). */
static void
say(char *line, size_t cap, const char *fmt, ...)
{
        size_t n = strlen(line);
        if (n + 1 >= cap)
                return;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(line + n, cap - n, fmt, ap);
        va_end(ap);
}

static int
usage(const char *why)
{
        if (why)
                fprintf(stderr, "serve_load: %s\n", why);
        fprintf(stderr,
                "usage: serve_load URL predict|chat|chat-stream [-c C] [-n N] "
                "[-t SECONDS]\n"
                "                  [--max-tokens K] [--model NAME] "
                "[--api-key KEY]\n"
                "                  [--malformed FRACTION] [--server-pid PID]\n"
                "URL: http://127.0.0.1:PORT, http://localhost:PORT or "
                "http://[::1]:PORT\n"
                "-c 1..256 (8), -n 1..1000000 (400), -t up to 3600 s (60), "
                "--malformed 0..0.5\n");
        return 1;
}

static int
num_arg(const char *s, double lo, double hi, double *out)
{
        char *end;
        double v = strtod(s, &end);
        if (!*s || *end || !(v >= lo && v <= hi))
                return -1;
        *out = v;
        return 0;
}

int
main(int argc, char **argv)
{
        run r;
        memset(&r, 0, sizeof r);
        r.concurrency = 8;
        r.requests = 400;
        r.seconds = 60;
        r.max_tokens = 32;
        const char *api_key = NULL, *url = NULL, *kind = NULL;
        char *model_owned = NULL;
        int rc = 1;
        for (int a = 1; a < argc; a++) {
                const char *o = argv[a];
                double v;
                if (o[0] != '-') {
                        if (!url)
                                url = o;
                        else if (!kind)
                                kind = o;
                        else
                                return usage("too many arguments");
                        continue;
                }
                if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
                        usage(NULL);
                        return 0;
                }
                if (a + 1 >= argc)
                        return usage("an option lacks its value");
                const char *val = argv[++a];
                if (!strcmp(o, "-c") || !strcmp(o, "--concurrency")) {
                        if (num_arg(val, 1, 256, &v) || v != floor(v))
                                return usage("-c: expected 1 to 256");
                        r.concurrency = (int)v;
                } else if (!strcmp(o, "-n") || !strcmp(o, "--requests")) {
                        if (num_arg(val, 1, 1000000, &v) || v != floor(v))
                                return usage("-n: expected 1 to 1000000");
                        r.requests = (long)v;
                } else if (!strcmp(o, "-t") || !strcmp(o, "--time")) {
                        if (num_arg(val, 0.001, 3600, &v))
                                return usage("-t: expected up to 3600 s");
                        r.seconds = v;
                } else if (!strcmp(o, "--max-tokens")) {
                        if (num_arg(val, 1, 1 << 20, &v) || v != floor(v))
                                return usage("--max-tokens: expected a "
                                             "positive integer");
                        r.max_tokens = (int)v;
                } else if (!strcmp(o, "--model")) {
                        r.model = val;
                } else if (!strcmp(o, "--api-key")) {
                        api_key = val;
                } else if (!strcmp(o, "--malformed")) {
                        if (num_arg(val, 0, 0.5, &v))
                                return usage("--malformed: expected 0 to "
                                             "0.5");
                        r.malformed = v;
                } else if (!strcmp(o, "--server-pid")) {
                        if (num_arg(val, 1, 1e9, &v) || v != floor(v))
                                return usage("--server-pid: expected a "
                                             "process id");
                        r.server_pid = (long)v;
                } else {
                        return usage("unknown option");
                }
        }
        if (!url || !kind)
                return usage("expected URL and predict|chat|chat-stream");
        if (target_parse(&r.t, url))
                return usage("loopback only (http://127.0.0.1:PORT)");
        if (!strcmp(kind, "predict"))
                r.kind = KIND_PREDICT;
        else if (!strcmp(kind, "chat"))
                r.kind = KIND_CHAT;
        else if (!strcmp(kind, "chat-stream"))
                r.kind = KIND_CHAT_STREAM;
        else
                return usage("the kind is predict, chat or chat-stream");
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
                fprintf(stderr, "serve_load: libcurl did not initialise\n");
                return 1;
        }
        char auth[512];
        r.t.headers = curl_slist_append(NULL,
                                        "Content-Type: application/json");
        /* no `Expect: 100-continue` before the big body: send it as is */
        r.t.headers = curl_slist_append(r.t.headers, "Expect:");
        if (api_key) {
                snprintf(auth, sizeof auth, "Authorization: Bearer %s",
                         api_key);
                r.t.headers = curl_slist_append(r.t.headers, auth);
        }
        r.lat_ok = malloc((size_t)r.requests * sizeof *r.lat_ok);
        if (!r.t.headers || !r.lat_ok || bad_init()) {
                fprintf(stderr, "serve_load: out of memory\n");
                goto out;
        }
        if (r.kind != KIND_PREDICT && !r.model) {
                r.model = model_owned = first_model(&r.t);
                if (!r.model) {
                        fprintf(stderr, "serve_load: no model in %s/v1/models "
                                        "(is the server up, with a dialog "
                                        "stage?)\n", r.t.base);
                        goto out;
                }
        }
        snprintf(r.url, sizeof r.url, "%s%s", r.t.base,
                 r.kind == KIND_PREDICT ? "/v1/predict"
                                        : "/v1/chat/completions");
        long rss0 = proc_rss_kib(r.server_pid);
        double cpu0 = proc_cpu_s(r.server_pid), self0 = self_cpu_s();
        double m0[N_COUNTERS], m1[N_COUNTERS];
        counters_read(&r.t, m0);
        double t0 = bench_now();
        r.deadline = t0 + r.seconds;
        if (run_load(&r)) {
                fprintf(stderr, "serve_load: libcurl's multi interface "
                                "failed\n");
                goto out;
        }
        double wall = bench_now() - t0;
        double self_cpu = self_cpu_s() - self0;
        double cpu = proc_cpu_s(r.server_pid) - cpu0;
        counters_read(&r.t, m1);
        long rss1 = proc_rss_kib(r.server_pid);

        bench_sort(r.lat_ok, (size_t)r.n_ok);
        char line[2048] = "";
        say(line, sizeof line,
            "%s c=%d: %ld requests in %.2f s, %.1f req/s, p50 %.1f ms, "
            "p90 %.1f ms, p99 %.1f ms",
            kind, r.concurrency, r.n_done, wall, (double)r.n_ok / wall,
            pct(r.lat_ok, r.n_ok, 50) * 1000, pct(r.lat_ok, r.n_ok, 90) * 1000,
            pct(r.lat_ok, r.n_ok, 99) * 1000);
        if (r.kind != KIND_PREDICT)
                say(line, sizeof line, ", %lld tokens, %.1f tokens/s",
                    r.tokens, (double)r.tokens / wall);
        say(line, sizeof line, ", status");
        for (int st = 0; st < 600; st++)
                if (r.status[st])
                        say(line, sizeof line, " %d:%ld", st, r.status[st]);
        if (r.n_done - r.n_ok)
                say(line, sizeof line, " (%ld not 200)", r.n_done - r.n_ok);
        if (r.n_bad) {
                say(line, sizeof line, ", %ld malformed (%ld with the wrong "
                                       "status",
                    r.n_bad, r.n_bad_wrong);
                for (int st = 0; st < 600; st++)
                        if (r.bad_wrong[st])
                                say(line, sizeof line, " %d:%ld", st,
                                    r.bad_wrong[st]);
                say(line, sizeof line, ")");
        }
        double d[N_COUNTERS];
        for (size_t k = 0; k < N_COUNTERS; k++)
                d[k] = m1[k] - m0[k];
        static const char *const batch_name[] = {"classification", "tag",
                                                 "decoding"};
        static const char *const unit[] = {"windows", "windows", "tokens"};
        static const char *const per[] = {"passes", "passes", "steps"};
        for (int b = 0; b < 3; b++)
                if (d[2 * b] > 0)
                        say(line, sizeof line,
                            ", mean %s batch %.2f (%.0f %s / %.0f %s)",
                            batch_name[b], d[2 * b + 1] / d[2 * b],
                            d[2 * b + 1], unit[b], d[2 * b], per[b]);
        if (d[6] > 0)
                say(line, sizeof line, ", %.0f passes begun beside another",
                    d[6]);
        long answered = r.n_done + r.n_bad;
        if (r.server_pid && r.n_done)
                say(line, sizeof line, ", server CPU %.2f ms/request",
                    cpu * 1000.0 / (double)r.n_done);
        if (r.server_pid)
                say(line, sizeof line, ", server RSS %ld -> %ld KiB (%+.1f%%)",
                    rss0, rss1,
                    rss0 ? 100.0 * (double)(rss1 - rss0) / (double)rss0 : 0.0);
        if (answered)
                say(line, sizeof line, ", client CPU %.3f ms/request",
                    self_cpu * 1000.0 / (double)answered);
        double la[3];
        if (getloadavg(la, 3) == 3)
                say(line, sizeof line, ", load average %.2f %.2f %.2f", la[0],
                    la[1], la[2]);
        printf("%s\n", line);
        rc = 0;
out:
        free(model_owned);
        free(r.lat_ok);
        for (int k = 0; k < N_BAD; k++)
                free(bad[k].body);
        curl_slist_free_all(r.t.headers);
        curl_global_cleanup();
        return rc;
}
