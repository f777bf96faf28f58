/* stream.c - write a reply as it is generated (see stream.h). */
#include "stream.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <utf8proc.h>

#define CONTROL_OPEN "<|tone:"
#define CONTROL_CLOSE "|>"

void
socfw_dialog_stream_init(socfw_dialog_stream *s, socfw_dialog_sink_fn sink,
                         void *user)
{
        memset(s, 0, sizeof *s);
        s->sink = sink;
        s->user = user;
}

static int
is_space(char c)
{
        return c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
               c == '\f' || c == '\v';
}

/* Give the collected output to the sink. */
static void
drain(socfw_dialog_stream *s)
{
        if (s->failed || s->n_out == 0)
                return;
        if (s->sink(s->user, s->out, s->n_out) != 0)
                s->failed = 1;
        else
                s->written += s->n_out;
        s->n_out = 0;
}

static void
out(socfw_dialog_stream *s, const char *buf, size_t len)
{
        for (size_t i = 0; i < len && !s->failed; i++) {
                if (s->n_out == sizeof s->out)
                        drain(s);
                s->out[s->n_out++] = buf[i];
        }
}

static void
flush_hold(socfw_dialog_stream *s)
{
        out(s, s->hold, s->n_hold);
        s->n_hold = 0;
}

/* One byte of valid UTF-8 text. */
static void
feed_byte(socfw_dialog_stream *s, char c)
{
        switch (s->state) {
        case 0: /* leading white space */
                if (is_space(c))
                        return;
                if (!s->control_done && c == CONTROL_OPEN[0]) {
                        s->state = 1;
                        s->hold[0] = c;
                        s->n_hold = 1;
                        return;
                }
                s->state = 2;
                out(s, &c, 1);
                return;
        case 1: { /* a control token, maybe */
                size_t ol = strlen(CONTROL_OPEN);
                if (s->n_hold < ol ? c != CONTROL_OPEN[s->n_hold]
                                   : s->n_hold + 1 >= sizeof s->hold) {
                        /* not one: it was text */
                        s->state = 2;
                        flush_hold(s);
                        feed_byte(s, c);
                        return;
                }
                s->hold[s->n_hold++] = c;
                if (s->n_hold > ol + 1 && c == CONTROL_CLOSE[1] &&
                    s->hold[s->n_hold - 2] == CONTROL_CLOSE[0]) {
                        s->n_hold = 0;
                        s->control_done = 1;
                        s->state = 0;
                }
                return;
        }
        default: /* text: hold white space until more text comes */
                if (is_space(c)) {
                        if (s->n_hold + 1 >= sizeof s->hold)
                                flush_hold(s);
                        s->hold[s->n_hold++] = c;
                        return;
                }
                flush_hold(s);
                out(s, &c, 1);
        }
}

int
socfw_dialog_stream_piece(void *stream, const char *piece, size_t len)
{
        socfw_dialog_stream *s = stream;
        size_t i = 0;
        while (i < len && !s->failed) {
                utf8proc_int32_t cp;
                utf8proc_ssize_t k = utf8proc_iterate(
                        (const utf8proc_uint8_t *)piece + i,
                        (utf8proc_ssize_t)(len - i), &cp);
                if (k <= 0 || cp == 0) { /* invalid or NUL: dropped */
                        i++;
                        continue;
                }
                for (utf8proc_ssize_t j = 0; j < k; j++)
                        feed_byte(s, piece[i + (size_t)j]);
                i += (size_t)k;
        }
        drain(s);
        return s->failed ? 1 : 0;
}

void
socfw_dialog_stream_finish(socfw_dialog_stream *s)
{
        if (s->state == 1)
                flush_hold(s);
        drain(s);
        s->n_hold = 0;
}

int
socfw_dialog_sink_fd(void *user, const char *buf, size_t len)
{
        int fd = (int)(intptr_t)user;
        while (len > 0) {
                ssize_t n = write(fd, buf, len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return -1;
                buf += n;
                len -= (size_t)n;
        }
        return 0;
}
