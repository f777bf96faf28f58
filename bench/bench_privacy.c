/* bench/bench_privacy.c - throughput of the PII pattern recognizers on one
 * core over realistic mixed social-media text.
 *
 *     bench/bench_privacy [MB] [tweets.txt]
 *
 * Text: lines of ../shared/data/corpus-social/tweets.txt when given (or
 * found through $SOCFW_SHARED_DIR), else a built-in mix of English and
 * Chinese posts; one post in ten carries PII (e-mail, phone, card, CN ID,
 * IBAN, IP, URL, handle, address).  Reports MB/s for whole-buffer scans and
 * for post-by-post scans (the way a chain calls it), and spans found.  A
 * benchmark measures; it does not pass or fail.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_clock.h"
#include "recognizers.h"

static const char *const plain[] = {
        "Just finished my morning run, feeling great! The weather is perfect today.",
        "Can't believe the game last night, what a comeback in the 4th quarter 🏀",
        "今天天气真好，和朋友们一起去公园散步了，心情特别愉快。",
        "New blog post is up: ten tips for better sleep, number 7 surprised me.",
        "Anyone else waiting 45 minutes for the 8:15 train? Version 2.3 of the app still crashes.",
        "这家餐厅的菜太好吃了，尤其是红烧肉，推荐大家去试试！价格¥128。",
        "Order #123456789012 arrived on 2023-10-05, two days late but well packed.",
        "Loving the new album, track 3 is on repeat all day long 🎶",
        "Meeting moved to 14:30, bring the Q3 numbers ($1,234.56 over budget).",
        "我昨天买的手机壳到了，质量不错，就是颜色和图片有点不一样。",
};

static const char *const with_pii[] = {
        "DM me or mail jane.doe@example.com, thanks @support_team!",
        "Call me at (415) 555-2671 after 6pm please.",
        "我的手机号是13812345678，有事打电话。",
        "Card 4111 1111 1111 1111 was charged twice, please refund.",
        "身份证号11010519491231002X已经提交了。",
        "Send it to IBAN GB82 WEST 1234 5698 7654 32 by Friday.",
        "Server 192.168.10.24 keeps timing out, see https://status.example.com/incident?id=42",
        "We moved to 221 Baker Street, London. Come visit!",
};

/* CPU time of this process: what one core spent, whatever else runs */
static double
cpu(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
        return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Build `target` bytes of newline-separated posts. */
static char *
build_text(size_t target, const char *tweets_path, size_t *len_out)
{
        char *src = NULL;
        size_t src_len = 0;
        FILE *f = tweets_path ? fopen(tweets_path, "rb") : NULL;
        if (f) {
                fseek(f, 0, SEEK_END);
                long sz = ftell(f);
                fseek(f, 0, SEEK_SET);
                if (sz > 0 && (src = malloc((size_t)sz + 1)) &&
                    fread(src, 1, (size_t)sz, f) == (size_t)sz)
                        src_len = (size_t)sz;
                fclose(f);
        }
        char *buf = malloc(target + 512);
        size_t n = 0, k = 0, off = 0;
        unsigned st = 7;
        while (n < target) {
                const char *line;
                size_t ll;
                st = st * 1103515245u + 12345u;
                if ((st >> 16) % 10 == 0) {
                        line = with_pii[k++ % (sizeof with_pii /
                                               sizeof with_pii[0])];
                        ll = strlen(line);
                } else if (src_len) {
                        if (off >= src_len)
                                off = 0;
                        line = src + off;
                        const char *nl = memchr(line, '\n', src_len - off);
                        ll = nl ? (size_t)(nl - line) : src_len - off;
                        off += ll + 1;
                        if (ll > 400)
                                ll = 400;
                } else {
                        line = plain[(st >> 20) %
                                     (sizeof plain / sizeof plain[0])];
                        ll = strlen(line);
                }
                memcpy(buf + n, line, ll);
                n += ll;
                buf[n++] = '\n';
        }
        buf[n] = '\0';
        free(src);
        *len_out = n;
        return buf;
}

int
main(int argc, char **argv)
{
        size_t mb = argc > 1 ? strtoul(argv[1], NULL, 10) : 20;
        if (mb == 0 || mb > 1024)
                mb = 20;
        char tweets[4096];
        const char *tweets_path = argc > 2 ? argv[2] : NULL;
        if (!tweets_path) {
                const char *sh = getenv("SOCFW_SHARED_DIR");
                snprintf(tweets, sizeof tweets,
                         "%s/data/corpus-social/tweets.txt",
                         sh && *sh ? sh : SOCFW_SRCDIR "/../shared");
                tweets_path = tweets;
        }
        size_t len;
        char *text = build_text(mb << 20, tweets_path, &len);
        socfw_pii_recognizer *rec = NULL;
        socfw_error err = {0};
        if (socfw_pii_recognizer_new(&rec, NULL, &err) < 0) {
                fprintf(stderr, "bench_privacy: %s\n", err.message);
                return 1;
        }
        FILE *probe = fopen(tweets_path, "rb");
        printf("text: %.1f MB (%s)\n", len / 1048576.0,
               probe ? tweets_path : "built-in posts");
        if (probe)
                fclose(probe);

        /* whole buffer */
        socfw_pii_spans sp = {0};
        double t0 = bench_now(), c0 = cpu();
        if (socfw_pii_recognizer_scan(rec, text, len, &sp, &err) < 0) {
                fprintf(stderr, "bench_privacy: %s\n", err.message);
                return 1;
        }
        double dt = bench_now() - t0, dc = cpu() - c0;
        printf("whole buffer : %8.1f MB/s wall, %8.1f MB/s cpu  (%zu spans)\n",
               len / 1048576.0 / dt, len / 1048576.0 / dc, sp.n);
        size_t per_type[SOCFW_PII_TYPE_COUNT] = {0};
        for (size_t i = 0; i < sp.n; i++)
                per_type[sp.v[i].type]++;
        socfw_pii_spans_free(&sp);

        /* post by post */
        size_t spans = 0, posts = 0;
        t0 = bench_now();
        c0 = cpu();
        for (size_t p = 0; p < len;) {
                const char *nl = memchr(text + p, '\n', len - p);
                size_t e = nl ? (size_t)(nl - text) : len;
                if (socfw_pii_recognizer_scan(rec, text + p, e - p, &sp,
                                              &err) < 0) {
                        fprintf(stderr, "bench_privacy: %s\n", err.message);
                        return 1;
                }
                spans += sp.n;
                posts++;
                sp.n = 0;
                p = e + 1;
        }
        dt = bench_now() - t0;
        dc = cpu() - c0;
        socfw_pii_spans_free(&sp);
        printf("post by post : %8.1f MB/s wall, %8.1f MB/s cpu  (%zu posts, "
               "%zu spans)\n", len / 1048576.0 / dt, len / 1048576.0 / dc,
               posts, spans);
        for (int t = 1; t < SOCFW_PII_TYPE_COUNT; t++)
                if (per_type[t])
                        printf("  %-15s %zu\n",
                               socfw_pii_type_name((socfw_pii_type)t),
                               per_type[t]);
        socfw_pii_recognizer_free(rec);
        free(text);
        return 0;
}
