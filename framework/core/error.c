/* error.c - the socfw_error object. */
#include "socfw/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void
set_message_v(socfw_error *err, const char *fmt, va_list ap)
{
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        /* keep messages single-line */
        for (char *p = err->message; *p; p++)
                if (*p == '\n')
                        *p = ' ';
}

int
socfw_error_set(socfw_error *err, int code, const char *fmt, ...)
{
        if (!err || err->code != 0)
                return code;
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        set_message_v(err, fmt, ap);
        va_end(ap);
        err->file[0] = '\0';
        err->line = err->column = 0;
        return code;
}

int
socfw_error_set_at(socfw_error *err, int code, const char *file, long line,
                   long column, const char *fmt, ...)
{
        if (!err || err->code != 0)
                return code;
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        set_message_v(err, fmt, ap);
        va_end(ap);
        snprintf(err->file, sizeof err->file, "%s", file ? file : "");
        err->line = line;
        err->column = column;
        return code;
}

int
socfw_error_prefix(socfw_error *err, int code, const char *fmt, ...)
{
        if (!err)
                return code;
        char prefix[SOCFW_ERROR_MSG_MAX];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(prefix, sizeof prefix, fmt, ap);
        va_end(ap);
        if (err->code == 0) {
                err->code = code;
                snprintf(err->message, sizeof err->message, "%s", prefix);
                return code;
        }
        /* prefix + ": " + old message, truncated to fit */
        char joined[SOCFW_ERROR_MSG_MAX];
        size_t lp = strnlen(prefix, sizeof joined - 3);
        memcpy(joined, prefix, lp);
        memcpy(joined + lp, ": ", 2);
        size_t room = sizeof joined - lp - 3;
        size_t lo = strnlen(err->message, room);
        memcpy(joined + lp + 2, err->message, lo);
        joined[lp + 2 + lo] = '\0';
        memcpy(err->message, joined, sizeof joined);
        return err->code;
}

void
socfw_error_clear(socfw_error *err)
{
        if (err)
                memset(err, 0, sizeof *err);
}

const char *
socfw_error_string(const socfw_error *err, char *buf, size_t size)
{
        if (!buf || size == 0)
                return buf;
        if (!err || err->code == 0) {
                snprintf(buf, size, "no error");
                return buf;
        }
        const char *msg = err->message[0] ? err->message
                                          : socfw_strerror(err->code);
        if (err->file[0] && err->line > 0 && err->column > 0)
                snprintf(buf, size, "%s:%ld:%ld: %s", err->file, err->line,
                         err->column, msg);
        else if (err->file[0] && err->line > 0)
                snprintf(buf, size, "%s:%ld: %s", err->file, err->line, msg);
        else if (err->file[0])
                snprintf(buf, size, "%s: %s", err->file, msg);
        else
                snprintf(buf, size, "%s", msg);
        return buf;
}

const char *
socfw_strerror(int code)
{
        switch (code) {
        case SOCFW_OK: return "success";
        case SOCFW_EINVAL: return "invalid input";
        case SOCFW_ENOMEM: return "out of memory";
        case SOCFW_EIO: return "input/output error";
        case SOCFW_EFORMAT: return "malformed file";
        case SOCFW_ESCHEMA: return "configuration error";
        case SOCFW_ENOTFOUND: return "not found";
        case SOCFW_EABI: return "incompatible plugin ABI";
        case SOCFW_EUNSUPPORTED: return "not supported";
        case SOCFW_ESTATE: return "invalid state";
        case SOCFW_EINTERNAL: return "internal error";
        default: return "unknown error";
        }
}
