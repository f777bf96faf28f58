/* test_monitor_sink.c - the webhook sink against a local HTTP server
 * (libmicrohttpd on loopback) that answers from a script of statuses: 500
 * and 429 are retried with backoff, 400 is not, a server that never
 * recovers ends in an error after the configured retries; every attempt
 * carries the same Idempotency-Key and, with a secret, the HMAC-SHA256 of
 * the body. */
#include <criterion/criterion.h>
#include <microhttpd.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "socfw/monitor.h"

typedef struct script {
        int statuses[8];      /* answered in turn; the last one repeats */
        int n;
        int calls;
        char keys[8][64];     /* Idempotency-Key per call */
        char sigs[8][80];     /* X-Socfw-Signature per call */
        char body[512];
        double times[8];
        pthread_mutex_t lock;
} script;

static double
now(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static enum MHD_Result
handle(void *cls, struct MHD_Connection *c, const char *url,
       const char *method, const char *version, const char *data,
       size_t *size, void **ctx)
{
        script *s = cls;
        (void)url;
        (void)method;
        (void)version;
        if (!*ctx) { /* first call: headers only */
                *ctx = s;
                return MHD_YES;
        }
        if (*size) {
                pthread_mutex_lock(&s->lock);
                size_t have = strlen(s->body);
                if (have + *size < sizeof s->body) {
                        memcpy(s->body + have, data, *size);
                        s->body[have + *size] = '\0';
                }
                pthread_mutex_unlock(&s->lock);
                *size = 0;
                return MHD_YES;
        }
        pthread_mutex_lock(&s->lock);
        int i = s->calls < 8 ? s->calls : 7;
        const char *k = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                    "Idempotency-Key");
        const char *g = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                    "X-Socfw-Signature");
        snprintf(s->keys[i], sizeof s->keys[i], "%s", k ? k : "");
        snprintf(s->sigs[i], sizeof s->sigs[i], "%s", g ? g : "");
        s->times[i] = now();
        int status = s->statuses[s->calls < s->n ? s->calls : s->n - 1];
        s->calls++;
        pthread_mutex_unlock(&s->lock);
        if (status == 0) { /* a slow server: answers after the timeout */
                struct timespec ts = {1, 200000000L};
                nanosleep(&ts, NULL);
                status = 200;
        }
        struct MHD_Response *r = MHD_create_response_from_buffer(
                2, (void *)"{}", MHD_RESPMEM_PERSISTENT);
        if (status == 429)
                MHD_add_response_header(r, "Retry-After", "0");
        enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, r);
        MHD_destroy_response(r);
        return ret;
}

static struct MHD_Daemon *
serve(script *s, char *url, size_t size)
{
        pthread_mutex_init(&s->lock, NULL);
        struct MHD_Daemon *d = MHD_start_daemon(
                MHD_USE_INTERNAL_POLLING_THREAD |
                        MHD_USE_THREAD_PER_CONNECTION,
                0, NULL, NULL, handle, s, MHD_OPTION_END);
        cr_assert_not_null(d, "cannot start the test HTTP server");
        const union MHD_DaemonInfo *info =
                MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
        cr_assert_not_null(info);
        snprintf(url, size, "http://127.0.0.1:%u/hook", info->port);
        return d;
}

#define BODY "{\"key\": \"AAPL\", \"metric\": \"negative_share\"}"

Test(monitor_sink, retries_500_and_429_then_succeeds, .timeout = 30)
{
        script s = {.statuses = {500, 429, 200}, .n = 3};
        char url[128];
        struct MHD_Daemon *d = serve(&s, url, sizeof url);
        socfw_error err = {0};
        int attempts = 0;
        double t0 = now();
        int rc = socfw_monitor_post_json(url, BODY, "alert-1", "s3cret", 5,
                                         4, 0.2, 2, &attempts, &err);
        double took = now() - t0;
        MHD_stop_daemon(d);
        cr_assert_eq(rc, 0, "%s", err.message);
        cr_expect_eq(attempts, 3);
        cr_expect_eq(s.calls, 3);
        /* the waits: 0.2 * 2^0 then 0.2 * 2^1, each times [0.5, 1] */
        double w1 = s.times[1] - s.times[0], w2 = s.times[2] - s.times[1];
        cr_expect(w1 >= 0.09 && w1 <= 0.5, "first wait %.3f s", w1);
        cr_expect(w2 >= 0.19 && w2 <= 0.8, "second wait %.3f s", w2);
        cr_expect_lt(took, 5);
        for (int i = 0; i < 3; i++)
                cr_expect_str_eq(s.keys[i], "alert-1");
        /* signature: HMAC-SHA256 of the body with the secret */
        unsigned char mac[crypto_auth_hmacsha256_BYTES];
        crypto_auth_hmacsha256_state st;
        cr_assert_geq(sodium_init(), 0);
        crypto_auth_hmacsha256_init(&st, (const unsigned char *)"s3cret", 6);
        crypto_auth_hmacsha256_update(&st, (const unsigned char *)BODY,
                                      strlen(BODY));
        crypto_auth_hmacsha256_final(&st, mac);
        char hex[2 * sizeof mac + 1], want[80];
        sodium_bin2hex(hex, sizeof hex, mac, sizeof mac);
        snprintf(want, sizeof want, "sha256=%s", hex);
        cr_expect_str_eq(s.sigs[2], want);
        cr_expect(strstr(s.body, "negative_share"), "body %s", s.body);
}

Test(monitor_sink, gives_up_after_retries, .timeout = 30)
{
        script s = {.statuses = {503}, .n = 1};
        char url[128];
        struct MHD_Daemon *d = serve(&s, url, sizeof url);
        socfw_error err = {0};
        int attempts = 0;
        int rc = socfw_monitor_post_json(url, BODY, "alert-2", NULL, 5, 2,
                                         0.01, 0.05, &attempts, &err);
        MHD_stop_daemon(d);
        cr_expect_eq(rc, SOCFW_EIO);
        cr_expect_eq(attempts, 3);
        cr_expect(strstr(err.message, "503") && strstr(err.message, "3 "),
                  "%s", err.message);
        cr_expect_str_eq(s.sigs[0], "", "signed without a secret");
}

Test(monitor_sink, client_errors_are_not_retried, .timeout = 30)
{
        script s = {.statuses = {400, 200}, .n = 2};
        char url[128];
        struct MHD_Daemon *d = serve(&s, url, sizeof url);
        socfw_error err = {0};
        int attempts = 0;
        int rc = socfw_monitor_post_json(url, BODY, "alert-3", NULL, 5, 4,
                                         0.01, 0.05, &attempts, &err);
        MHD_stop_daemon(d);
        cr_expect_eq(rc, SOCFW_EIO);
        cr_expect_eq(attempts, 1);
        cr_expect(strstr(err.message, "400"), "%s", err.message);
}

Test(monitor_sink, unreachable_server_is_retried, .timeout = 30)
{
        /* a port nobody listens on: connection refused each time */
        script s = {.statuses = {200}, .n = 1};
        char url[128];
        struct MHD_Daemon *d = serve(&s, url, sizeof url);
        MHD_stop_daemon(d);
        socfw_error err = {0};
        int attempts = 0;
        int rc = socfw_monitor_post_json(url, BODY, "alert-4", NULL, 2, 2,
                                         0.01, 0.05, &attempts, &err);
        cr_expect_eq(rc, SOCFW_EIO);
        cr_expect_eq(attempts, 3);
}

Test(monitor_sink, slow_server_times_out_then_recovers, .timeout = 30)
{
        /* first answer too late for the 0.4 s timeout, the second in time */
        script s = {.statuses = {0, 200}, .n = 2};
        char url[128];
        struct MHD_Daemon *d = serve(&s, url, sizeof url);
        socfw_error err = {0};
        int attempts = 0;
        double t0 = now();
        int rc = socfw_monitor_post_json(url, BODY, "alert-5", NULL, 0.4, 2,
                                         0.01, 0.05, &attempts, &err);
        double took = now() - t0;
        cr_expect_eq(rc, 0, "%s", err.message);
        cr_expect_eq(attempts, 2);
        cr_expect(took >= 0.4 && took < 1.2, "took %.2f s", took);
        cr_expect_str_eq(s.keys[1], "alert-5");
        MHD_stop_daemon(d);
}
