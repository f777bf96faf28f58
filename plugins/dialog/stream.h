/* plugins/dialog/stream.h - stream a reply as it is generated, written the
 * way the finished reply will be (dialog.c trims it): leading white space
 * and one leading control token ("<|tone:LABEL|>") are dropped, white space
 * is held back until more text follows (so trailing white space is never
 * written), and invalid UTF-8 bytes are dropped.
 *
 *     socfw_dialog_stream s;
 *     socfw_dialog_stream_init(&s, write_to_terminal, tty);
 *     // as the socfw_generate_opts.on_piece callback:
 *     socfw_dialog_stream_piece(&s, piece, len);   // 0 go on, 1 stop
 *     // s.written bytes went out; equal to the trimmed reply when the
 *     // model said something
 *
 * The sink returns 0 when it took all `len` bytes, nonzero on failure (the
 * stream then asks generation to stop).
 */
#ifndef SOCFW_DIALOG_STREAM_H
#define SOCFW_DIALOG_STREAM_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef int (*socfw_dialog_sink_fn)(void *user, const char *buf, size_t len);

#define SOCFW_DIALOG_STREAM_HOLD 96

typedef struct socfw_dialog_stream {
        socfw_dialog_sink_fn sink;
        void *user;
        int state;              /* 0 leading space, 1 maybe control, 2 text */
        int control_done;
        char hold[SOCFW_DIALOG_STREAM_HOLD];
        size_t n_hold;          /* control-token candidate or white space   */
        char out[256];          /* output of the current piece              */
        size_t n_out;
        size_t written;         /* bytes given to the sink                  */
        int failed;             /* the sink failed; nothing more is written */
} socfw_dialog_stream;

void socfw_dialog_stream_init(socfw_dialog_stream *s,
                              socfw_dialog_sink_fn sink, void *user);

/* Feed generated text.  Returns 0 to go on, 1 when the sink failed (stop
 * generating).  Usable directly as socfw_generate_opts.on_piece with the
 * stream as user. */
int socfw_dialog_stream_piece(void *stream, const char *piece, size_t len);

/* Flush a pending control-token candidate that turned out to be text (call
 * when generation ended).  Pending white space is dropped. */
void socfw_dialog_stream_finish(socfw_dialog_stream *s);

/* A sink writing to file descriptor (intptr_t)user with write(2). */
int socfw_dialog_sink_fd(void *user, const char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif /* SOCFW_DIALOG_STREAM_H */
