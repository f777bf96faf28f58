/* io.c - atomic file writing, bounded reading, mkdir -p, path helpers
 * and checks. */
#include "socfw/io.h"

#include "io/io_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ATOMIC_BUF_SIZE (64 * 1024)

struct socfw_atomic_file {
        char *path;             /* target                              */
        char *tmp;              /* temporary file in the same directory */
        char *dir;              /* directory, for the final fsync       */
        int fd;
        int failed;             /* a write failed: commit must fail     */
        size_t used;
        unsigned char buf[ATOMIC_BUF_SIZE];
};

/* ---- paths ---- */

int
socfw_path_join(char *buf, size_t size, const char *a, const char *b)
{
        if (!buf || size == 0)
                return SOCFW_EINVAL;
        a = a ? a : "";
        b = b ? b : "";
        int n;
        size_t la = strlen(a);
        if (b[0] == '/' || la == 0)
                n = snprintf(buf, size, "%s", b);
        else if (b[0] == '\0')
                n = snprintf(buf, size, "%s", a);
        else if (a[la - 1] == '/')
                n = snprintf(buf, size, "%s%s", a, b);
        else
                n = snprintf(buf, size, "%s/%s", a, b);
        if (n < 0 || (size_t)n >= size) {
                buf[0] = '\0';
                return SOCFW_EINVAL;
        }
        return 0;
}

char *
socfw_path_join_alloc(const char *a, const char *b)
{
        size_t size = (a ? strlen(a) : 0) + (b ? strlen(b) : 0) + 2;
        char *buf = malloc(size);
        if (!buf)
                return NULL;
        if (socfw_path_join(buf, size, a, b) < 0) {
                free(buf);
                return NULL;
        }
        return buf;
}

int
socfw_path_dirname(char *buf, size_t size, const char *path)
{
        if (!buf || size == 0 || !path)
                return SOCFW_EINVAL;
        size_t n = strlen(path);
        while (n > 1 && path[n - 1] == '/')     /* trailing slashes */
                n--;
        while (n > 0 && path[n - 1] != '/')     /* last component   */
                n--;
        while (n > 1 && path[n - 1] == '/')     /* separator(s)     */
                n--;
        int w;
        if (n == 0)
                w = snprintf(buf, size, ".");
        else
                w = snprintf(buf, size, "%.*s", (int)n, path);
        if (w < 0 || (size_t)w >= size) {
                buf[0] = '\0';
                return SOCFW_EINVAL;
        }
        return 0;
}

const char *
socfw_path_basename(const char *path)
{
        if (!path)
                return "";
        const char *slash = strrchr(path, '/');
        return slash ? slash + 1 : path;
}

int
socfw_path_is_file(const char *path)
{
        struct stat st;
        return path && stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int
socfw_path_is_dir(const char *path)
{
        struct stat st;
        return path && stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int
socfw_str_ends_with(const char *s, const char *suffix)
{
        if (!s || !suffix)
                return 0;
        size_t a = strlen(s), b = strlen(suffix);
        return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

/* ---- directories ---- */

static int
make_one(const char *path, mode_t mode, socfw_error *err)
{
        struct stat st;
        if (mkdir(path, mode) == 0)
                return 0;
        int e = errno;
        if (e == EEXIST && stat(path, &st) == 0) {
                if (S_ISDIR(st.st_mode))
                        return 0;
                return socfw_error_set(err, SOCFW_EIO,
                                       "cannot create directory %s: a file "
                                       "of that name exists", path);
        }
        return socfw_error_set(err, SOCFW_EIO,
                               "cannot create directory %s: %s", path,
                               strerror(e));
}

int
socfw_dir_make(const char *path, mode_t mode, socfw_error *err)
{
        if (!path || !*path)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "mkdir: empty path");
        char *copy = strdup(path);
        if (!copy)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        int rc = 0;
        for (char *p = copy + 1; *p; p++) {
                if (*p != '/')
                        continue;
                *p = '\0';
                rc = make_one(copy, mode, err);
                *p = '/';
                if (rc < 0)
                        goto out;
        }
        rc = make_one(copy, mode, err);
out:
        free(copy);
        return rc;
}

/* ---- reading ---- */

int
socfw_file_read(const char *path, size_t max_size, char **out, size_t *len,
                socfw_error *err)
{
        int rc = 0;
        int fd = -1;
        char *buf = NULL;
        size_t n = 0;

        if (!out || !path)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "read: NULL argument");
        *out = NULL;
        if (len)
                *len = 0;
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                int e = errno;
                rc = socfw_error_set_at(err, e == ENOENT ? SOCFW_ENOTFOUND
                                                         : SOCFW_EIO,
                                        path, 0, 0, "cannot open: %s",
                                        strerror(e));
                goto out;
        }
        struct stat st;
        if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
                rc = socfw_error_set_at(err, SOCFW_EIO, path, 0, 0,
                                        "is a directory, expected a file");
                goto out;
        }
        /* Grow as we read: st_size may lie (pipes, /proc, a file that
         * changes underneath), and the cap must hold regardless. */
        size_t cap = 4096;
        if (st.st_size > 0 && (unsigned long long)st.st_size < max_size)
                cap = (size_t)st.st_size + 1;
        if ((unsigned long long)st.st_size > max_size) {
                rc = socfw_error_set_at(err, SOCFW_ENOMEM, path, 0, 0,
                                        "file is %lld bytes, more than the "
                                        "limit of %zu bytes", (long long)
                                        st.st_size, max_size);
                goto out;
        }
        buf = malloc(cap);
        if (!buf) {
                rc = socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
                goto out;
        }
        for (;;) {
                if (n + 1 >= cap) {
                        if (cap > max_size) {
                                rc = socfw_error_set_at(
                                        err, SOCFW_ENOMEM, path, 0, 0,
                                        "file is more than the limit of "
                                        "%zu bytes", max_size);
                                goto out;
                        }
                        size_t ncap = cap * 2;
                        if (ncap > max_size + 2)
                                ncap = max_size + 2;
                        char *nb = realloc(buf, ncap);
                        if (!nb) {
                                rc = socfw_error_set(err, SOCFW_ENOMEM,
                                                     "out of memory");
                                goto out;
                        }
                        buf = nb;
                        cap = ncap;
                }
                ssize_t r = read(fd, buf + n, cap - n - 1);
                if (r < 0) {
                        if (errno == EINTR)
                                continue;
                        rc = socfw_error_set_at(err, SOCFW_EIO, path, 0, 0,
                                                "read failed: %s",
                                                strerror(errno));
                        goto out;
                }
                if (r == 0)
                        break;
                n += (size_t)r;
                if (n > max_size) {
                        rc = socfw_error_set_at(err, SOCFW_ENOMEM, path, 0,
                                                0, "file is more than the "
                                                "limit of %zu bytes",
                                                max_size);
                        goto out;
                }
        }
        buf[n] = '\0';
        *out = buf;
        buf = NULL;
        if (len)
                *len = n;
out:
        free(buf);
        if (fd >= 0)
                close(fd);
        return rc;
}

/* ---- atomic writer ---- */

static int
write_all(int fd, const void *data, size_t len)
{
        const unsigned char *p = data;
        while (len > 0) {
                ssize_t w = write(fd, p, len);
                if (w < 0) {
                        if (errno == EINTR)
                                continue;
                        return -1;
                }
                p += w;
                len -= (size_t)w;
        }
        return 0;
}

static int
fsync_dir(const char *dir)
{
        int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -1;
        int rc = fsync(fd);
        /* some file systems refuse fsync on directories: not an error */
        if (rc < 0 && (errno == EINVAL || errno == EROFS))
                rc = 0;
        close(fd);
        return rc;
}

static void
atomic_release(socfw_atomic_file *f)
{
        if (f->fd >= 0)
                close(f->fd);
        free(f->path);
        free(f->tmp);
        free(f->dir);
        free(f);
}

int
socfw_atomic_file_open(socfw_atomic_file **out, const char *path,
                       socfw_error *err)
{
        int rc = 0;
        socfw_atomic_file *f = NULL;

        if (!out || !path || !*path)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "atomic write: empty path");
        *out = NULL;
        const char *base = socfw_path_basename(path);
        if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
                return socfw_error_set_at(err, SOCFW_EINVAL, path, 0, 0,
                                          "atomic write: not a file name");
        f = calloc(1, sizeof *f);
        if (!f)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        f->fd = -1;
        size_t dsize = strlen(path) + 2;
        f->path = strdup(path);
        f->dir = malloc(dsize);
        size_t tsize = strlen(path) + 32;
        f->tmp = malloc(tsize);
        if (!f->path || !f->dir || !f->tmp) {
                rc = socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
                goto out;
        }
        socfw_path_dirname(f->dir, dsize, path);
        snprintf(f->tmp, tsize, "%.*s.%s.tmp-XXXXXX",
                 (int)(base - path), path, base);
        f->fd = mkstemp(f->tmp);
        if (f->fd < 0) {
                rc = socfw_error_set_at(err, SOCFW_EIO, path, 0, 0,
                                        "cannot create temporary file in "
                                        "%s: %s", f->dir, strerror(errno));
                goto out;
        }
        (void)fcntl(f->fd, F_SETFD, FD_CLOEXEC);
        struct stat st;
        mode_t mode = 0644;
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
                mode = st.st_mode & 07777;
        (void)fchmod(f->fd, mode);
        *out = f;
        f = NULL;
out:
        if (f) {
                if (f->fd >= 0)
                        unlink(f->tmp);
                atomic_release(f);
        }
        return rc;
}

static int
atomic_flush(socfw_atomic_file *f, socfw_error *err)
{
        if (f->used == 0)
                return 0;
        if (write_all(f->fd, f->buf, f->used) < 0) {
                f->failed = 1;
                f->used = 0;
                return socfw_error_set_at(err, SOCFW_EIO, f->path, 0, 0,
                                          "write failed: %s (the previous file is unchanged)",
                                          strerror(errno));
        }
        f->used = 0;
        return 0;
}

int
socfw_atomic_file_write(socfw_atomic_file *f, const void *data, size_t len,
                        socfw_error *err)
{
        if (!f)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "atomic write: NULL handle");
        if (f->failed)
                return socfw_error_set_at(err, SOCFW_EIO, f->path, 0, 0,
                                          "write after an earlier failure");
        if (len >= ATOMIC_BUF_SIZE) {
                if (atomic_flush(f, err) < 0)
                        return SOCFW_EIO;
                if (write_all(f->fd, data, len) < 0) {
                        f->failed = 1;
                        return socfw_error_set_at(err, SOCFW_EIO, f->path,
                                                  0, 0, "write failed: %s (the previous file is unchanged)",
                                                  strerror(errno));
                }
                return 0;
        }
        if (f->used + len > ATOMIC_BUF_SIZE && atomic_flush(f, err) < 0)
                return SOCFW_EIO;
        if (len)
                memcpy(f->buf + f->used, data, len);
        f->used += len;
        return 0;
}

int
socfw_atomic_file_printf(socfw_atomic_file *f, socfw_error *err,
                         const char *fmt, ...)
{
        char small[1024];
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(small, sizeof small, fmt, ap);
        va_end(ap);
        if (n < 0)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "atomic write: bad format");
        if ((size_t)n < sizeof small)
                return socfw_atomic_file_write(f, small, (size_t)n, err);
        char *big = malloc((size_t)n + 1);
        if (!big)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        va_start(ap, fmt);
        vsnprintf(big, (size_t)n + 1, fmt, ap);
        va_end(ap);
        int rc = socfw_atomic_file_write(f, big, (size_t)n, err);
        free(big);
        return rc;
}

int
socfw_atomic_file_commit(socfw_atomic_file *f, socfw_error *err)
{
        int rc = 0;
        if (!f)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "atomic commit: NULL handle");
        if (f->failed) {
                rc = socfw_error_set_at(err, SOCFW_EIO, f->path, 0, 0,
                                        "not replaced: an earlier write "
                                        "failed");
                goto fail;
        }
        if (atomic_flush(f, err) < 0) {
                rc = SOCFW_EIO;
                goto fail;
        }
        if (fsync(f->fd) < 0) {
                rc = socfw_error_set_at(err, SOCFW_EIO, f->path, 0, 0,
                                        "fsync failed: %s", strerror(errno));
                goto fail;
        }
        int fd = f->fd;
        f->fd = -1;
        if (close(fd) < 0) {
                rc = socfw_error_set_at(err, SOCFW_EIO, f->path, 0, 0,
                                        "close failed: %s", strerror(errno));
                goto fail;
        }
        if (rename(f->tmp, f->path) < 0) {
                rc = socfw_error_set_at(err, SOCFW_EIO, f->path, 0, 0,
                                        "cannot rename %s into place: %s",
                                        f->tmp, strerror(errno));
                goto fail;
        }
        if (fsync_dir(f->dir) < 0) {
                /* the rename happened; report, but the file is complete */
                rc = socfw_error_set_at(err, SOCFW_EIO, f->path, 0, 0,
                                        "fsync of directory %s failed: %s",
                                        f->dir, strerror(errno));
        }
        atomic_release(f);
        return rc;
fail:
        unlink(f->tmp);
        atomic_release(f);
        return rc;
}

void
socfw_atomic_file_abort(socfw_atomic_file *f)
{
        if (!f)
                return;
        if (f->fd >= 0) {
                close(f->fd);
                f->fd = -1;
        }
        unlink(f->tmp);
        atomic_release(f);
}

const char *
socfw_atomic_file_temp_path(const socfw_atomic_file *f)
{
        return f ? f->tmp : NULL;
}

int
socfw_file_write_atomic(const char *path, const void *data, size_t len,
                        socfw_error *err)
{
        socfw_atomic_file *f;
        int rc = socfw_atomic_file_open(&f, path, err);
        if (rc < 0)
                return rc;
        rc = socfw_atomic_file_write(f, data, len, err);
        if (rc < 0) {
                socfw_atomic_file_abort(f);
                return rc;
        }
        return socfw_atomic_file_commit(f, err);
}

int
socfw_file_read_blocks(const char *path, socfw_file_block_fn block,
                       void *user, socfw_error *err)
{
        unsigned char buf[1 << 16];
        int rc = 0;
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                int e = errno;
                return socfw_error_set_at(err, e == ENOENT ? SOCFW_ENOTFOUND
                                                           : SOCFW_EIO,
                                          path, 0, 0, "cannot open: %s",
                                          strerror(e));
        }
        struct stat st;
        if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
                rc = socfw_error_set_at(err, SOCFW_EIO, path, 0, 0,
                                        "is a directory, expected a file");
                goto out;
        }
        for (;;) {
                ssize_t n = read(fd, buf, sizeof buf);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        rc = socfw_error_set_at(err, SOCFW_EIO, path, 0, 0,
                                                "cannot read: %s",
                                                strerror(errno));
                        goto out;
                }
                if (n == 0)
                        break;
                if ((rc = block(user, buf, (size_t)n, err)) < 0)
                        goto out;
        }
out:
        close(fd);
        return rc;
}

static int
copy_block(void *user, const unsigned char *data, size_t n, socfw_error *err)
{
        return socfw_atomic_file_write(user, data, n, err);
}

int
socfw_file_copy(const char *from, const char *to, socfw_error *err)
{
        socfw_atomic_file *out = NULL;
        if (!from || !to)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "copy: NULL argument");
        /* a source that cannot be read aborts the write: `to` stays as
         * it was */
        int rc = socfw_atomic_file_open(&out, to, err);
        if (rc == 0)
                rc = socfw_file_read_blocks(from, copy_block, out, err);
        if (rc == 0) {
                rc = socfw_atomic_file_commit(out, err);
                out = NULL;
        }
        socfw_atomic_file_abort(out);
        return rc;
}
