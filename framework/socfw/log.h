/* socfw/log.h - levelled logging to stderr (never stdout).
 *
 * The level comes from the SOCFW_LOG environment variable (error, warn,
 * info, debug, trace; default info) or socfw_log_set_level().  A host may
 * install its own sink, e.g. to route messages into a GUI.
 *
 *     SOCFW_LOG_INFO("loaded %s (%zu tensors)", path, n);
 */
#ifndef SOCFW_LOG_H
#define SOCFW_LOG_H

#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
        SOCFW_LOG_LEVEL_ERROR = 0,
        SOCFW_LOG_LEVEL_WARN = 1,
        SOCFW_LOG_LEVEL_INFO = 2,
        SOCFW_LOG_LEVEL_DEBUG = 3,
        SOCFW_LOG_LEVEL_TRACE = 4,
} socfw_log_level;

typedef void (*socfw_log_sink)(socfw_log_level level, const char *msg,
                               void *user);

/* Emit one message (a newline is added).  Thread-safe. */
void socfw_log(socfw_log_level level, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
void socfw_log_v(socfw_log_level level, const char *fmt, va_list ap);

/* Current threshold; messages above it are dropped. */
socfw_log_level socfw_log_get_level(void);
void socfw_log_set_level(socfw_log_level level);

/* Parse "debug" etc.; returns -1 for an unknown name. */
int socfw_log_level_parse(const char *name);

/* Replace the sink (NULL restores stderr).  `user` is passed through. */
void socfw_log_set_sink(socfw_log_sink sink, void *user);

#define SOCFW_LOG_ERROR(...) socfw_log(SOCFW_LOG_LEVEL_ERROR, __VA_ARGS__)
#define SOCFW_LOG_WARN(...)  socfw_log(SOCFW_LOG_LEVEL_WARN, __VA_ARGS__)
#define SOCFW_LOG_INFO(...)  socfw_log(SOCFW_LOG_LEVEL_INFO, __VA_ARGS__)
#define SOCFW_LOG_DEBUG(...) socfw_log(SOCFW_LOG_LEVEL_DEBUG, __VA_ARGS__)

#ifdef __cplusplus
}
#endif
#endif /* SOCFW_LOG_H */
