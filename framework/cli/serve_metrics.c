/* serve_metrics.c - GET /metrics for `socfw serve`: Prometheus text
 * exposition format 0.0.4.
 *
 *   socfw_http_requests_total{route,status}     counter
 *   socfw_http_request_duration_seconds{route}  histogram
 *   socfw_queue_depth, socfw_requests_in_flight gauges (sampled on scrape)
 *   socfw_workers, socfw_queue_capacity         gauges (configuration)
 *   socfw_generated_tokens_total                counter (dialog replies)
 *   socfw_predict_batch_size                    histogram (records per
 *                                               /v1/predict request)
 *   socfw_batch_forward_passes_total,           counters: the runtime's
 *   socfw_batch_windows_total                   classification micro-
 *                                               batches (their ratio is
 *                                               the mean batch size)
 *   socfw_tag_forward_passes_total,             counters: the same for
 *   socfw_tag_windows_total                     tagging (the privacy
 *                                               filter's tagger)
 *   socfw_decode_steps_total,                   counters: batched decoding
 *   socfw_decode_tokens_total                   of concurrent generations
 *                                               (tokens / steps = mean
 *                                               generations per step)
 */
#define _GNU_SOURCE /* open_memstream */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/serve.h"
#include "socfw/runtime.h"

#define MAX_STATUS 16

static const double lat_bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                    0.5,   1,    2.5,   5,    10,  30};
#define N_LAT (sizeof lat_bounds / sizeof lat_bounds[0])
static const double batch_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256};
#define N_BATCH (sizeof batch_bounds / sizeof batch_bounds[0])

typedef struct histogram {
        unsigned long long le[N_LAT > N_BATCH ? N_LAT : N_BATCH];
        unsigned long long count;
        double sum;
} histogram;

struct serve_metrics {
        pthread_mutex_t lock;
        unsigned status[ROUTE_COUNT][MAX_STATUS];
        unsigned long long count[ROUTE_COUNT][MAX_STATUS];
        histogram lat[ROUTE_COUNT];
        histogram batch;
        unsigned long long tokens;
};

const char *
serve_route_name(serve_route r)
{
        static const char *const names[ROUTE_COUNT] = {
                "/health", "/v1/predict", "/v1/chat/completions",
                "/v1/completions", "/v1/models", "/metrics", "/", "other"};
        return r < ROUTE_COUNT ? names[r] : "other";
}

serve_metrics *
serve_metrics_new(void)
{
        serve_metrics *m = calloc(1, sizeof *m);
        if (m)
                pthread_mutex_init(&m->lock, NULL);
        return m;
}

void
serve_metrics_free(serve_metrics *m)
{
        if (!m)
                return;
        pthread_mutex_destroy(&m->lock);
        free(m);
}

static void
observe(histogram *h, const double *bounds, size_t n, double v)
{
        for (size_t i = 0; i < n; i++)
                if (v <= bounds[i])
                        h->le[i]++;
        h->count++;
        h->sum += v;
}

void
serve_metrics_request(serve_metrics *m, serve_route r, unsigned status,
                      double seconds)
{
        if (!m || r >= ROUTE_COUNT)
                return;
        pthread_mutex_lock(&m->lock);
        for (size_t i = 0; i < MAX_STATUS; i++) {
                if (m->status[r][i] == 0)
                        m->status[r][i] = status;
                if (m->status[r][i] == status) {
                        m->count[r][i]++;
                        break;
                }
        }
        observe(&m->lat[r], lat_bounds, N_LAT, seconds);
        pthread_mutex_unlock(&m->lock);
}

void
serve_metrics_tokens(serve_metrics *m, long n)
{
        if (!m || n <= 0)
                return;
        pthread_mutex_lock(&m->lock);
        m->tokens += (unsigned long long)n;
        pthread_mutex_unlock(&m->lock);
}

void
serve_metrics_batch(serve_metrics *m, size_t n)
{
        if (!m)
                return;
        pthread_mutex_lock(&m->lock);
        observe(&m->batch, batch_bounds, N_BATCH, (double)n);
        pthread_mutex_unlock(&m->lock);
}

static void
put_histogram(FILE *f, const char *name, const char *labels,
              const histogram *h, const double *bounds, size_t n)
{
        const char *sep = labels[0] ? "," : "";
        for (size_t i = 0; i < n; i++)
                fprintf(f, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels,
                        sep, bounds[i], h->le[i]);
        fprintf(f, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep,
                h->count);
        if (labels[0]) {
                fprintf(f, "%s_sum{%s} %.6f\n", name, labels, h->sum);
                fprintf(f, "%s_count{%s} %llu\n", name, labels, h->count);
        } else {
                fprintf(f, "%s_sum %.6f\n", name, h->sum);
                fprintf(f, "%s_count %llu\n", name, h->count);
        }
}

char *
serve_metrics_text(serve_metrics *m, int queued, int in_flight, int workers,
                   int queue_max, struct socfw_runtime *rt)
{
        char *out = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&out, &len);
        if (!f)
                return NULL;
        pthread_mutex_lock(&m->lock);
        fputs("# HELP socfw_http_requests_total Requests answered, by route "
              "and HTTP status.\n"
              "# TYPE socfw_http_requests_total counter\n",
              f);
        for (int r = 0; r < ROUTE_COUNT; r++)
                for (size_t i = 0; i < MAX_STATUS && m->status[r][i]; i++)
                        fprintf(f,
                                "socfw_http_requests_total{route=\"%s\","
                                "status=\"%u\"} %llu\n",
                                serve_route_name((serve_route)r),
                                m->status[r][i], m->count[r][i]);
        fputs("# HELP socfw_http_request_duration_seconds Time from the "
              "request's arrival to its answer.\n"
              "# TYPE socfw_http_request_duration_seconds histogram\n",
              f);
        for (int r = 0; r < ROUTE_COUNT; r++) {
                if (!m->lat[r].count)
                        continue;
                char labels[64];
                snprintf(labels, sizeof labels, "route=\"%s\"",
                         serve_route_name((serve_route)r));
                put_histogram(f, "socfw_http_request_duration_seconds",
                              labels, &m->lat[r], lat_bounds, N_LAT);
        }
        fprintf(f,
                "# HELP socfw_queue_depth Requests waiting for a worker.\n"
                "# TYPE socfw_queue_depth gauge\n"
                "socfw_queue_depth %d\n"
                "# HELP socfw_requests_in_flight Requests holding a "
                "worker.\n"
                "# TYPE socfw_requests_in_flight gauge\n"
                "socfw_requests_in_flight %d\n"
                "# HELP socfw_workers Requests handled at once (--workers).\n"
                "# TYPE socfw_workers gauge\n"
                "socfw_workers %d\n"
                "# HELP socfw_queue_capacity Requests that may wait "
                "(--queue).\n"
                "# TYPE socfw_queue_capacity gauge\n"
                "socfw_queue_capacity %d\n"
                "# HELP socfw_generated_tokens_total Tokens of dialog "
                "replies generated.\n"
                "# TYPE socfw_generated_tokens_total counter\n"
                "socfw_generated_tokens_total %llu\n"
                "# HELP socfw_predict_batch_size Records per /v1/predict "
                "request.\n"
                "# TYPE socfw_predict_batch_size histogram\n",
                queued, in_flight, workers, queue_max, m->tokens);
        put_histogram(f, "socfw_predict_batch_size", "", &m->batch,
                      batch_bounds, N_BATCH);
        pthread_mutex_unlock(&m->lock);
        if (rt) {
                unsigned long long passes = 0, rows = 0;
                socfw_runtime_batch_stats(rt, &passes, &rows);
                fprintf(f,
                        "# HELP socfw_batch_forward_passes_total Classification "
                        "forward passes (concurrent calls are micro-batched "
                        "into one).\n"
                        "# TYPE socfw_batch_forward_passes_total counter\n"
                        "socfw_batch_forward_passes_total %llu\n"
                        "# HELP socfw_batch_windows_total Windows those "
                        "passes held (windows / passes = mean batch "
                        "size).\n"
                        "# TYPE socfw_batch_windows_total counter\n"
                        "socfw_batch_windows_total %llu\n",
                        passes, rows);
                socfw_runtime_tag_batch_stats(rt, &passes, &rows);
                fprintf(f,
                        "# HELP socfw_tag_forward_passes_total Tagging "
                        "forward passes (concurrent calls and the windows "
                        "of a long text are micro-batched into one).\n"
                        "# TYPE socfw_tag_forward_passes_total counter\n"
                        "socfw_tag_forward_passes_total %llu\n"
                        "# HELP socfw_tag_windows_total Windows those "
                        "passes held (windows / passes = mean batch "
                        "size).\n"
                        "# TYPE socfw_tag_windows_total counter\n"
                        "socfw_tag_windows_total %llu\n",
                        passes, rows);
                socfw_runtime_mixed_batch_stats(rt, &passes, &rows);
                fprintf(f,
                        "# HELP socfw_batch_mixed_passes_total "
                        "Classification and tagging forward passes that "
                        "served several tasks at once (each its own "
                        "adapter on its own windows over one backbone "
                        "pass).\n"
                        "# TYPE socfw_batch_mixed_passes_total counter\n"
                        "socfw_batch_mixed_passes_total %llu\n"
                        "# HELP socfw_batch_mixed_tasks_total Tasks those "
                        "passes served (tasks / passes = mean tasks per "
                        "mixed pass).\n"
                        "# TYPE socfw_batch_mixed_tasks_total counter\n"
                        "socfw_batch_mixed_tasks_total %llu\n",
                        passes, rows);
                fprintf(f,
                        "# HELP socfw_batch_overlapping_passes_total "
                        "Classification and tagging forward passes begun "
                        "while another ran (under load each pass runs on "
                        "one thread, one per thread at once).\n"
                        "# TYPE socfw_batch_overlapping_passes_total "
                        "counter\n"
                        "socfw_batch_overlapping_passes_total %llu\n",
                        socfw_runtime_batch_overlaps(rt));
                socfw_runtime_decode_stats(rt, &passes, &rows);
                fprintf(f,
                        "# HELP socfw_decode_steps_total Batched decoding "
                        "steps (one new token for every live generation).\n"
                        "# TYPE socfw_decode_steps_total counter\n"
                        "socfw_decode_steps_total %llu\n"
                        "# HELP socfw_decode_tokens_total Tokens those steps "
                        "made (tokens / steps = mean generations per "
                        "step).\n"
                        "# TYPE socfw_decode_tokens_total counter\n"
                        "socfw_decode_tokens_total %llu\n",
                        passes, rows);
        }
        if (fclose(f) != 0) {
                free(out);
                return NULL;
        }
        return out;
}
