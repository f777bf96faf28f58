/* safetensors_write.c - deterministic, atomic safetensors writer. */
#include "socfw/safetensors.h"
#include "socfw/io.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct wt {
        const socfw_tensor_info *t;
        size_t nbytes;
        uint64_t begin;         /* offset in the data buffer */
};

static int
cmp_wt(const void *a, const void *b)
{
        return strcmp(((const struct wt *)a)->t->name,
                      ((const struct wt *)b)->t->name);
}

/* Data order: wider elements first (so every tensor starts aligned to its
 * element size), then by name. */
static int
cmp_wt_layout(const void *a, const void *b)
{
        const struct wt *x = *(const struct wt *const *)a;
        const struct wt *y = *(const struct wt *const *)b;
        size_t sx = socfw_dtype_block_bytes(x->t->dtype);
        size_t sy = socfw_dtype_block_bytes(y->t->dtype);
        if (sx != sy)
                return sx > sy ? -1 : 1;
        return strcmp(x->t->name, y->t->name);
}

static int
cmp_kv(const void *a, const void *b)
{
        return strcmp(((const socfw_safetensors_kv *)a)->key,
                      ((const socfw_safetensors_kv *)b)->key);
}

/* Validate one tensor and compute its size. */
static int
check_tensor(const socfw_tensor_info *t, size_t i, size_t *nbytes,
             socfw_error *err)
{
        const char *name = t->name ? t->name : "(null)";
        if (!t->name || !*t->name || strcmp(t->name, "__metadata__") == 0)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "safetensors: tensor %zu has an empty "
                                       "or reserved name '%s'", i, name);
        if ((int)t->dtype < 0 || t->dtype >= SOCFW_DTYPE_COUNT)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "safetensors: tensor '%s' has an "
                                       "invalid dtype %d", name,
                                       (int)t->dtype);
        if (socfw_dtype_block_size(t->dtype) != 1)
                return socfw_error_set(err, SOCFW_EUNSUPPORTED,
                                       "safetensors: tensor '%s' has dtype "
                                       "%s; block-quantised types cannot be "
                                       "stored in safetensors (hint: convert "
                                       "with socfw_modelfile_read_f32)",
                                       name, socfw_dtype_name(t->dtype));
        if (t->ndim < 0 || t->ndim > SOCFW_MODELFILE_MAX_DIMS)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "safetensors: tensor '%s' has ndim %d "
                                       "(0..%d allowed)", name, t->ndim,
                                       SOCFW_MODELFILE_MAX_DIMS);
        uint64_t nelem = 1;
        for (int d = 0; d < t->ndim; d++) {
                int64_t x = t->shape[d];
                if (x < 0 || (x != 0 && nelem > (uint64_t)INT64_MAX /
                                                (uint64_t)x))
                        return socfw_error_set(err, SOCFW_EINVAL,
                                               "safetensors: tensor '%s' has "
                                               "a negative or overflowing "
                                               "shape[%d] = %lld", name, d,
                                               (long long)x);
                nelem *= (uint64_t)x;
        }
        if (socfw_dtype_nbytes(t->dtype, nelem, nbytes) < 0)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "safetensors: tensor '%s' is too big",
                                       name);
        if (t->nbytes != 0 && t->nbytes != *nbytes)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "safetensors: tensor '%s': nbytes %zu "
                                       "but %s x %llu elements need %zu",
                                       name, t->nbytes,
                                       socfw_dtype_name(t->dtype),
                                       (unsigned long long)nelem, *nbytes);
        if (*nbytes > 0 && !t->data)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "safetensors: tensor '%s' has no data",
                                       name);
        return 0;
}

/* Build the header JSON (padded to a multiple of 8 with spaces).  Caller
 * frees *out. */
static int
build_header(const struct wt *w, size_t n, const socfw_safetensors_kv *kv,
             size_t n_kv, char **out, size_t *len, socfw_error *err)
{
        json_t *root = json_object();
        json_t *meta = NULL;
        char *text = NULL, *padded = NULL;
        int rc = 0;

        if (!root)
                goto oom;
        if (n_kv > 0) {
                meta = json_object();
                if (!meta || json_object_set_new(root, "__metadata__", meta))
                        goto oom;
                for (size_t i = 0; i < n_kv; i++) {
                        json_t *s = json_string(kv[i].value);
                        if (!s || json_object_set_new(meta, kv[i].key, s)) {
                                rc = socfw_error_set(err, SOCFW_EINVAL,
                                                     "safetensors: metadata "
                                                     "'%s' is not valid "
                                                     "UTF-8", kv[i].key);
                                goto out;
                        }
                }
        }
        for (size_t i = 0; i < n; i++) {
                const socfw_tensor_info *t = w[i].t;
                json_t *o = json_object(), *shape = json_array(),
                       *offs = json_array();
                if (!o || !shape || !offs ||
                    json_object_set_new(o, "dtype",
                                        json_string(socfw_dtype_name(
                                                t->dtype))) ||
                    json_object_set_new(o, "shape", shape) ||
                    json_object_set_new(o, "data_offsets", offs)) {
                        json_decref(o);
                        goto oom;
                }
                for (int d = 0; d < t->ndim; d++)
                        if (json_array_append_new(shape,
                                                  json_integer(t->shape[d])))
                                goto oom_o;
                if (json_array_append_new(offs,
                                          json_integer((json_int_t)w[i].begin))
                    || json_array_append_new(offs, json_integer(
                                (json_int_t)(w[i].begin + w[i].nbytes))))
                        goto oom_o;
                if (json_object_set_new(root, t->name, o)) {
                        rc = socfw_error_set(err, SOCFW_EINVAL,
                                             "safetensors: tensor name '%s' "
                                             "is not valid UTF-8", t->name);
                        goto out;
                }
                continue;
oom_o:
                json_decref(o);
                goto oom;
        }
        text = json_dumps(root, JSON_COMPACT);
        if (!text)
                goto oom;
        size_t l = strlen(text), pl = (l + 7) / 8 * 8;
        padded = malloc(pl);
        if (!padded)
                goto oom;
        memcpy(padded, text, l);
        memset(padded + l, ' ', pl - l);
        *out = padded;
        *len = pl;
        padded = NULL;
        goto out;
oom:
        rc = socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
out:
        free(text);
        free(padded);
        json_decref(root);
        return rc;
}

int
socfw_safetensors_write(const char *path, const socfw_tensor_info *tensors,
                        size_t n, const socfw_safetensors_kv *meta,
                        size_t n_kv, socfw_error *err)
{
        struct wt *w = NULL;
        struct wt **layout = NULL;
        socfw_safetensors_kv *kv = NULL;
        char *header = NULL;
        size_t hlen = 0;
        socfw_atomic_file *af = NULL;
        int rc = 0;

        if (!path || !*path || (n && !tensors) || (n_kv && !meta))
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "socfw_safetensors_write: bad "
                                       "arguments");
        w = calloc(n ? n : 1, sizeof *w);
        layout = calloc(n ? n : 1, sizeof *layout);
        kv = calloc(n_kv ? n_kv : 1, sizeof *kv);
        if (!w || !layout || !kv) {
                rc = socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
                goto out;
        }
        for (size_t i = 0; i < n; i++) {
                w[i].t = &tensors[i];
                rc = check_tensor(&tensors[i], i, &w[i].nbytes, err);
                if (rc < 0)
                        goto out;
        }
        qsort(w, n, sizeof *w, cmp_wt);
        for (size_t i = 1; i < n; i++)
                if (strcmp(w[i - 1].t->name, w[i].t->name) == 0) {
                        rc = socfw_error_set(err, SOCFW_EINVAL,
                                             "safetensors: duplicate tensor "
                                             "name '%s'", w[i].t->name);
                        goto out;
                }
        for (size_t i = 0; i < n; i++)
                layout[i] = &w[i];
        qsort(layout, n, sizeof *layout, cmp_wt_layout);
        uint64_t off = 0;
        for (size_t i = 0; i < n; i++) {
                layout[i]->begin = off;
                off += layout[i]->nbytes;
                if (off > (uint64_t)INT64_MAX) {
                        rc = socfw_error_set(err, SOCFW_EINVAL,
                                             "safetensors: total size "
                                             "overflows");
                        goto out;
                }
        }
        for (size_t i = 0; i < n_kv; i++) {
                if (!meta[i].key || !*meta[i].key || !meta[i].value) {
                        rc = socfw_error_set(err, SOCFW_EINVAL,
                                             "safetensors: metadata entry "
                                             "%zu has no key or value", i);
                        goto out;
                }
                kv[i] = meta[i];
        }
        qsort(kv, n_kv, sizeof *kv, cmp_kv);
        for (size_t i = 1; i < n_kv; i++)
                if (strcmp(kv[i - 1].key, kv[i].key) == 0) {
                        rc = socfw_error_set(err, SOCFW_EINVAL,
                                             "safetensors: duplicate "
                                             "metadata key '%s'", kv[i].key);
                        goto out;
                }
        rc = build_header(w, n, kv, n_kv, &header, &hlen, err);
        if (rc < 0)
                goto out;

        /* atomically: a temporary file, fsync, rename, fsync the
         * directory (socfw/io.h) */
        rc = socfw_atomic_file_open(&af, path, err);
        if (rc < 0)
                goto out;
        uint8_t lenbuf[8];
        for (int i = 0; i < 8; i++)
                lenbuf[i] = (uint8_t)((uint64_t)hlen >> (8 * i));
        rc = socfw_atomic_file_write(af, lenbuf, 8, err);
        if (rc == 0)
                rc = socfw_atomic_file_write(af, header, hlen, err);
        for (size_t i = 0; rc == 0 && i < n; i++)
                if (layout[i]->nbytes)
                        rc = socfw_atomic_file_write(af, layout[i]->t->data,
                                                     layout[i]->nbytes, err);
        if (rc == 0) {
                rc = socfw_atomic_file_commit(af, err);
                af = NULL;
        }
out:
        socfw_atomic_file_abort(af);
        free(header);
        free(kv);
        free(layout);
        free(w);
        return rc;
}

void
socfw_safetensors_tensor_of(socfw_tensor_info *x, const socfw_params *ps,
                            int k, const char *name)
{
        memset(x, 0, sizeof *x);
        x->name = name ? name : socfw_params_name(ps, k);
        x->dtype = SOCFW_DTYPE_F32;
        x->ndim = socfw_params_ndim(ps, k);
        for (int d = 0; d < x->ndim; d++)
                x->shape[d] = socfw_params_shape(ps, k)[d];
        x->nelem = socfw_params_numel(ps, k);
        x->data = socfw_params_data(ps, k);
        x->nbytes = (size_t)x->nelem * sizeof(float);
}
