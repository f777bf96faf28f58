/* log.c - levelled logging to stderr. */
#include "socfw/log.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static int log_level = -1; /* -1: not yet read from SOCFW_LOG */
static socfw_log_sink log_sink;
static void *log_sink_user;

static const char *const level_names[] = {"error", "warn", "info", "debug",
                                          "trace"};

int
socfw_log_level_parse(const char *name)
{
        if (!name)
                return -1;
        for (int i = 0; i < 5; i++)
                if (strcasecmp(name, level_names[i]) == 0)
                        return i;
        if (strcasecmp(name, "warning") == 0)
                return SOCFW_LOG_LEVEL_WARN;
        return -1;
}

socfw_log_level
socfw_log_get_level(void)
{
        pthread_mutex_lock(&log_lock);
        if (log_level < 0) {
                int l = socfw_log_level_parse(getenv("SOCFW_LOG"));
                log_level = l < 0 ? SOCFW_LOG_LEVEL_INFO : l;
        }
        int l = log_level;
        pthread_mutex_unlock(&log_lock);
        return (socfw_log_level)l;
}

void
socfw_log_set_level(socfw_log_level level)
{
        pthread_mutex_lock(&log_lock);
        log_level = (int)level;
        pthread_mutex_unlock(&log_lock);
}

void
socfw_log_set_sink(socfw_log_sink sink, void *user)
{
        pthread_mutex_lock(&log_lock);
        log_sink = sink;
        log_sink_user = user;
        pthread_mutex_unlock(&log_lock);
}

void
socfw_log_v(socfw_log_level level, const char *fmt, va_list ap)
{
        if ((int)level > (int)socfw_log_get_level())
                return;
        char msg[2048];
        vsnprintf(msg, sizeof msg, fmt, ap);
        pthread_mutex_lock(&log_lock);
        if (log_sink)
                log_sink(level, msg, log_sink_user);
        else
                fprintf(stderr, "socfw: %s: %s\n", level_names[level], msg);
        pthread_mutex_unlock(&log_lock);
}

void
socfw_log(socfw_log_level level, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        socfw_log_v(level, fmt, ap);
        va_end(ap);
}
