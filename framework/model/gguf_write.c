/* gguf_write.c - GGUF v3 writer (socfw/gguf_write.h): metadata encoded as
 * it is set, tensor infos laid out at _begin, data streamed afterwards
 * through the atomic writer. */
#include "socfw/gguf_write.h"
#include "model/modelfile_internal.h"
#include "socfw/io.h"

#include <stdlib.h>
#include <string.h>

#define GGUF_VERSION 3
#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_NAME 64        /* llama.cpp's GGML_MAX_NAME, NUL included */
#define GGUF_MAX_DIMS 4

/* ---- a growable byte buffer ---- */

typedef struct buf {
        uint8_t *p;
        size_t len, cap;
        int oom;
} buf;

static void
put(buf *b, const void *data, size_t n)
{
        if (b->oom)
                return;
        if (b->len + n > b->cap) {
                size_t nc = b->cap ? b->cap : 256;
                while (nc < b->len + n)
                        nc *= 2;
                uint8_t *np = realloc(b->p, nc);
                if (!np) {
                        b->oom = 1;
                        return;
                }
                b->p = np;
                b->cap = nc;
        }
        if (n)
                memcpy(b->p + b->len, data, n);
        b->len += n;
}

static void
put_le(buf *b, uint64_t v, int bytes)
{
        uint8_t t[8];
        for (int i = 0; i < bytes; i++)
                t[i] = (uint8_t)(v >> (8 * i));
        put(b, t, (size_t)bytes);
}

static void
put_str(buf *b, const char *s, size_t len)
{
        put_le(b, len, 8);
        put(b, s, len);
}

/* ---- the writer ---- */

typedef struct kv {
        char *key;
        buf val;                /* u32 type + the encoded value */
} kv;

typedef struct tinfo {
        char *name;
        socfw_dtype dtype;
        int ndim;
        int64_t shape[GGUF_MAX_DIMS];
        size_t nbytes;
        uint64_t offset;        /* from the start of the data section */
} tinfo;

struct socfw_gguf_writer {
        kv *kvs;
        size_t n_kv, cap_kv;
        tinfo *ts;
        size_t n_t, cap_t;
        uint32_t alignment;
        socfw_atomic_file *f;
        const char *path;       /* for messages; borrowed from _begin */
        size_t next;            /* next tensor to write */
        uint64_t written;       /* bytes of the data section so far */
        int failed;
};

int
socfw_gguf_type_id(socfw_dtype t)
{
        switch (t) {
        case SOCFW_DTYPE_F32: return 0;
        case SOCFW_DTYPE_F16: return 1;
        case SOCFW_DTYPE_Q4_0: return 2;
        case SOCFW_DTYPE_Q4_1: return 3;
        case SOCFW_DTYPE_Q5_0: return 6;
        case SOCFW_DTYPE_Q5_1: return 7;
        case SOCFW_DTYPE_Q8_0: return 8;
        case SOCFW_DTYPE_Q8_1: return 9;
        case SOCFW_DTYPE_Q2_K: return 10;
        case SOCFW_DTYPE_Q3_K: return 11;
        case SOCFW_DTYPE_Q4_K: return 12;
        case SOCFW_DTYPE_Q5_K: return 13;
        case SOCFW_DTYPE_Q6_K: return 14;
        case SOCFW_DTYPE_Q8_K: return 15;
        case SOCFW_DTYPE_I8: return 24;
        case SOCFW_DTYPE_I16: return 25;
        case SOCFW_DTYPE_I32: return 26;
        case SOCFW_DTYPE_I64: return 27;
        case SOCFW_DTYPE_F64: return 28;
        case SOCFW_DTYPE_BF16: return 30;
        default: return -1;
        }
}

int
socfw_gguf_writer_new(socfw_gguf_writer **out, socfw_error *err)
{
        *out = calloc(1, sizeof **out);
        if (!*out)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        (*out)->alignment = GGUF_DEFAULT_ALIGNMENT;
        return 0;
}

void
socfw_gguf_writer_free(socfw_gguf_writer *w)
{
        if (!w)
                return;
        socfw_atomic_file_abort(w->f);
        for (size_t i = 0; i < w->n_kv; i++) {
                free(w->kvs[i].key);
                free(w->kvs[i].val.p);
        }
        for (size_t i = 0; i < w->n_t; i++)
                free(w->ts[i].name);
        free(w->kvs);
        free(w->ts);
        free(w);
}

/* ---- metadata ---- */

static kv *
find_kv(const socfw_gguf_writer *w, const char *key)
{
        for (size_t i = 0; i < w->n_kv; i++)
                if (strcmp(w->kvs[i].key, key) == 0)
                        return &w->kvs[i];
        return NULL;
}

bool
socfw_gguf_writer_has(const socfw_gguf_writer *w, const char *key)
{
        return w && key && find_kv(w, key) != NULL;
}

/* Store an encoded value under key (taking ownership of v's bytes). */
static int
set_encoded(socfw_gguf_writer *w, const char *key, buf *v, socfw_error *err)
{
        int rc = 0;
        if (!w || !key || !*key) {
                rc = socfw_error_set(err, SOCFW_EINVAL,
                                     "gguf: empty metadata key");
                goto out;
        }
        if (w->f) {
                rc = socfw_error_set(err, SOCFW_EINVAL,
                                     "gguf: metadata '%s' set after the "
                                     "header was written", key);
                goto out;
        }
        if (v->oom) {
                rc = socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
                goto out;
        }
        kv *e = find_kv(w, key);
        if (e) {
                free(e->val.p);
                e->val = *v;
                v->p = NULL;
                goto out;
        }
        if (w->n_kv == w->cap_kv) {
                size_t nc = w->cap_kv ? 2 * w->cap_kv : 32;
                kv *nk = realloc(w->kvs, nc * sizeof *nk);
                if (!nk) {
                        rc = socfw_error_set(err, SOCFW_ENOMEM,
                                             "out of memory");
                        goto out;
                }
                w->kvs = nk;
                w->cap_kv = nc;
        }
        char *k = strdup(key);
        if (!k) {
                rc = socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
                goto out;
        }
        w->kvs[w->n_kv].key = k;
        w->kvs[w->n_kv].val = *v;
        w->n_kv++;
        v->p = NULL;
out:
        free(v->p);
        return rc;
}

static int
set_scalar(socfw_gguf_writer *w, const char *key, socfw_meta_type t,
           uint64_t bits, int bytes, socfw_error *err)
{
        buf v = {0};
        put_le(&v, (uint64_t)t, 4);
        put_le(&v, bits, bytes);
        return set_encoded(w, key, &v, err);
}

int
socfw_gguf_writer_set_u32(socfw_gguf_writer *w, const char *key, uint32_t x,
                          socfw_error *err)
{
        if (key && strcmp(key, "general.alignment") == 0) {
                if (x == 0 || (x & (x - 1)) != 0)
                        return socfw_error_set(err, SOCFW_EINVAL,
                                               "gguf: general.alignment %u "
                                               "is not a power of two", x);
                if (w && !w->f)
                        w->alignment = x;
        }
        return set_scalar(w, key, SOCFW_META_U32, x, 4, err);
}

int
socfw_gguf_writer_set_i32(socfw_gguf_writer *w, const char *key, int32_t x,
                          socfw_error *err)
{
        return set_scalar(w, key, SOCFW_META_I32, (uint32_t)x, 4, err);
}

int
socfw_gguf_writer_set_u64(socfw_gguf_writer *w, const char *key, uint64_t x,
                          socfw_error *err)
{
        return set_scalar(w, key, SOCFW_META_U64, x, 8, err);
}

int
socfw_gguf_writer_set_f32(socfw_gguf_writer *w, const char *key, float x,
                          socfw_error *err)
{
        uint32_t u;
        memcpy(&u, &x, sizeof u);
        return set_scalar(w, key, SOCFW_META_F32, u, 4, err);
}

int
socfw_gguf_writer_set_bool(socfw_gguf_writer *w, const char *key, bool x,
                           socfw_error *err)
{
        return set_scalar(w, key, SOCFW_META_BOOL, x ? 1 : 0, 1, err);
}

int
socfw_gguf_writer_set_string(socfw_gguf_writer *w, const char *key,
                             const char *s, size_t len, socfw_error *err)
{
        buf v = {0};
        if (!s && len)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "gguf: NULL string for '%s'",
                                       key ? key : "");
        put_le(&v, SOCFW_META_STRING, 4);
        put_str(&v, s ? s : "", len);
        return set_encoded(w, key, &v, err);
}

/* (the reader's table: model/modelfile_internal.h) */
static int
scalar_bytes(socfw_meta_type t)
{
        return (int)mf_gguf_scalar_size((uint32_t)t);
}

int
socfw_gguf_writer_set_array(socfw_gguf_writer *w, const char *key,
                            socfw_meta_type elem, const void *items, size_t n,
                            socfw_error *err)
{
        buf v = {0};
        int sb = scalar_bytes(elem);
        if ((elem != SOCFW_META_STRING && sb == 0) || (n && !items))
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "gguf: array '%s' of %s elements "
                                       "cannot be written",
                                       key ? key : "",
                                       socfw_meta_type_name(elem));
        put_le(&v, SOCFW_META_ARRAY, 4);
        put_le(&v, (uint64_t)elem, 4);
        put_le(&v, n, 8);
        if (elem == SOCFW_META_STRING) {
                const socfw_strview *sv = items;
                for (size_t i = 0; i < n; i++)
                        put_str(&v, sv[i].ptr, sv[i].len);
        } else {
                put(&v, items, n * (size_t)sb);  /* little-endian host */
        }
        return set_encoded(w, key, &v, err);
}

/* Copy an array from a modelfile, converting back to its element type. */
static int
copy_array(socfw_gguf_writer *w, const socfw_modelfile *mf, const char *key,
           socfw_error *err)
{
        socfw_meta_type et;
        size_t n;
        int rc = socfw_modelfile_get_array(mf, key, &et, &n, err);
        if (rc < 0)
                return rc;
        if (et == SOCFW_META_STRING) {
                const socfw_strview *sv;
                rc = socfw_modelfile_get_string_array(mf, key, &sv, &n, err);
                return rc < 0 ? rc
                              : socfw_gguf_writer_set_array(w, key, et, sv, n,
                                                            err);
        }
        int sb = scalar_bytes(et);
        if (sb == 0)
                return socfw_error_set(err, SOCFW_EUNSUPPORTED,
                                       "gguf: cannot copy '%s', an array of "
                                       "%s", key, socfw_meta_type_name(et));
        uint8_t *packed = malloc(n * (size_t)sb + 1);
        int64_t *iv = NULL;
        double *fv = NULL;
        if (et == SOCFW_META_F32 || et == SOCFW_META_F64)
                fv = malloc((n + 1) * sizeof *fv);
        else
                iv = malloc((n + 1) * sizeof *iv);
        if (!packed || (!iv && !fv)) {
                rc = socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
                goto out;
        }
        rc = fv ? socfw_modelfile_get_f64_array(mf, key, fv, n, err)
                : socfw_modelfile_get_int_array(mf, key, iv, n, err);
        if (rc < 0)
                goto out;
        for (size_t i = 0; i < n; i++) {
                uint64_t bits;
                if (et == SOCFW_META_F32) {
                        float f = (float)fv[i];
                        uint32_t u;
                        memcpy(&u, &f, sizeof u);
                        bits = u;
                } else if (et == SOCFW_META_F64) {
                        memcpy(&bits, &fv[i], sizeof bits);
                } else {
                        bits = (uint64_t)iv[i];
                }
                for (int b = 0; b < sb; b++)
                        packed[i * (size_t)sb + (size_t)b] =
                                (uint8_t)(bits >> (8 * b));
        }
        rc = socfw_gguf_writer_set_array(w, key, et, packed, n, err);
out:
        free(packed);
        free(iv);
        free(fv);
        return rc;
}

int
socfw_gguf_writer_copy_meta(socfw_gguf_writer *w, const socfw_modelfile *mf,
                            const char *key, socfw_error *err)
{
        socfw_meta_type t;
        if (!socfw_modelfile_has(mf, key, &t))
                return socfw_error_set(err, SOCFW_ENOTFOUND,
                                       "gguf: no metadata '%s' to copy", key);
        int64_t i;
        double f;
        bool b;
        const char *s;
        size_t len;
        int rc;
        switch (t) {
        case SOCFW_META_STRING:
                rc = socfw_modelfile_get_string(mf, key, &s, &len, err);
                return rc < 0 ? rc
                              : socfw_gguf_writer_set_string(w, key, s, len,
                                                             err);
        case SOCFW_META_BOOL:
                rc = socfw_modelfile_get_bool(mf, key, &b, err);
                return rc < 0 ? rc
                              : socfw_gguf_writer_set_bool(w, key, b, err);
        case SOCFW_META_F32:
        case SOCFW_META_F64:
                rc = socfw_modelfile_get_float(mf, key, &f, err);
                if (rc < 0)
                        return rc;
                if (t == SOCFW_META_F32)
                        return socfw_gguf_writer_set_f32(w, key, (float)f,
                                                         err);
                uint64_t bits;
                memcpy(&bits, &f, sizeof bits);
                return set_scalar(w, key, t, bits, 8, err);
        case SOCFW_META_ARRAY:
                return copy_array(w, mf, key, err);
        default:
                if (scalar_bytes(t) == 0)
                        return socfw_error_set(err, SOCFW_EUNSUPPORTED,
                                               "gguf: cannot copy '%s' of "
                                               "type %s", key,
                                               socfw_meta_type_name(t));
                rc = socfw_modelfile_get_int(mf, key, &i, err);
                if (rc < 0)
                        return rc;
                if (t == SOCFW_META_U32 && strcmp(key, "general.alignment")
                    == 0)
                        return socfw_gguf_writer_set_u32(w, key, (uint32_t)i,
                                                         err);
                return set_scalar(w, key, t, (uint64_t)i, scalar_bytes(t),
                                  err);
        }
}

/* ---- tensors ---- */

int
socfw_gguf_writer_add_tensor(socfw_gguf_writer *w, const char *name,
                             socfw_dtype dtype, int ndim, const int64_t *shape,
                             socfw_error *err)
{
        const char *nm = name ? name : "(null)";
        if (!w || !name || !*name || strlen(name) >= GGUF_MAX_NAME)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "gguf: tensor name '%s' is empty or "
                                       "not shorter than %d bytes", nm,
                                       GGUF_MAX_NAME);
        if (w->f)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "gguf: tensor '%s' declared after the "
                                       "header was written", nm);
        if (socfw_gguf_type_id(dtype) < 0)
                return socfw_error_set(err, SOCFW_EUNSUPPORTED,
                                       "gguf: tensor '%s': type %s has no "
                                       "GGUF id", nm, socfw_dtype_name(dtype));
        if (ndim < 1 || ndim > GGUF_MAX_DIMS || !shape)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "gguf: tensor '%s' has %d dimensions "
                                       "(1..%d allowed)", nm, ndim,
                                       GGUF_MAX_DIMS);
        uint64_t nelem = 1;
        for (int d = 0; d < ndim; d++) {
                if (shape[d] < 0 ||
                    (shape[d] && nelem > (uint64_t)INT64_MAX /
                                                 (uint64_t)shape[d]))
                        return socfw_error_set(err, SOCFW_EINVAL,
                                               "gguf: tensor '%s' has a bad "
                                               "dimension %lld", nm,
                                               (long long)shape[d]);
                nelem *= (uint64_t)shape[d];
        }
        size_t bs = socfw_dtype_block_size(dtype);
        if ((uint64_t)shape[ndim - 1] % bs != 0)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "gguf: tensor '%s': row length %lld is "
                                       "not a multiple of the %s block size "
                                       "%zu", nm, (long long)shape[ndim - 1],
                                       socfw_dtype_name(dtype), bs);
        size_t nbytes;
        if (socfw_dtype_nbytes(dtype, nelem, &nbytes) < 0)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "gguf: tensor '%s' is too big", nm);
        for (size_t i = 0; i < w->n_t; i++)
                if (strcmp(w->ts[i].name, name) == 0)
                        return socfw_error_set(err, SOCFW_EINVAL,
                                               "gguf: duplicate tensor '%s'",
                                               nm);
        if (w->n_t == w->cap_t) {
                size_t nc = w->cap_t ? 2 * w->cap_t : 64;
                tinfo *nt = realloc(w->ts, nc * sizeof *nt);
                if (!nt)
                        return socfw_error_set(err, SOCFW_ENOMEM,
                                               "out of memory");
                w->ts = nt;
                w->cap_t = nc;
        }
        tinfo *t = &w->ts[w->n_t];
        memset(t, 0, sizeof *t);
        t->name = strdup(name);
        if (!t->name)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        t->dtype = dtype;
        t->ndim = ndim;
        for (int d = 0; d < ndim; d++)
                t->shape[d] = shape[d];
        t->nbytes = nbytes;
        w->n_t++;
        return 0;
}

static uint64_t
pad_to(uint64_t x, uint64_t a)
{
        return (x + a - 1) / a * a;
}

int
socfw_gguf_writer_begin(socfw_gguf_writer *w, const char *path,
                        socfw_error *err)
{
        buf h = {0};
        int rc = 0;
        if (!w || !path)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "gguf: NULL argument");
        if (w->f || w->failed)
                return socfw_error_set(err, SOCFW_ESTATE,
                                       "gguf: %s: writer already begun",
                                       path);
        put(&h, "GGUF", 4);
        put_le(&h, GGUF_VERSION, 4);
        put_le(&h, w->n_t, 8);
        put_le(&h, w->n_kv, 8);
        for (size_t i = 0; i < w->n_kv; i++) {
                put_str(&h, w->kvs[i].key, strlen(w->kvs[i].key));
                put(&h, w->kvs[i].val.p, w->kvs[i].val.len);
        }
        uint64_t off = 0;
        for (size_t i = 0; i < w->n_t; i++) {
                tinfo *t = &w->ts[i];
                put_str(&h, t->name, strlen(t->name));
                put_le(&h, (uint64_t)t->ndim, 4);
                for (int d = t->ndim - 1; d >= 0; d--)   /* innermost first */
                        put_le(&h, (uint64_t)t->shape[d], 8);
                put_le(&h, (uint64_t)socfw_gguf_type_id(t->dtype), 4);
                t->offset = off;
                put_le(&h, off, 8);
                off = pad_to(off + t->nbytes, w->alignment);
        }
        size_t hl = h.len;
        for (uint64_t i = hl; i < pad_to(hl, w->alignment); i++)
                put(&h, "", 1);
        if (h.oom) {
                rc = socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
                goto out;
        }
        rc = socfw_atomic_file_open(&w->f, path, err);
        if (rc < 0)
                goto out;
        w->path = path;
        rc = socfw_atomic_file_write(w->f, h.p, h.len, err);
        if (rc < 0)
                w->failed = 1;
out:
        free(h.p);
        return rc;
}

int
socfw_gguf_writer_write_tensor(socfw_gguf_writer *w, const void *data,
                               size_t nbytes, socfw_error *err)
{
        static const uint8_t zeros[64];
        if (!w || !w->f || w->failed)
                return socfw_error_set(err, SOCFW_ESTATE,
                                       "gguf: tensor data written before "
                                       "begin or after an error");
        if (w->next >= w->n_t)
                return socfw_error_set(err, SOCFW_ESTATE,
                                       "gguf: %s: all %zu tensors are "
                                       "already written", w->path, w->n_t);
        tinfo *t = &w->ts[w->next];
        if (nbytes != t->nbytes || (nbytes && !data))
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "gguf: tensor '%s': %zu bytes given, "
                                       "%s %s needs %zu", t->name, nbytes,
                                       socfw_dtype_name(t->dtype), "data",
                                       t->nbytes);
        int rc = socfw_atomic_file_write(w->f, data, nbytes, err);
        uint64_t end = t->offset + nbytes;
        uint64_t pad = pad_to(end, w->alignment) - end;
        while (rc == 0 && pad > 0) {
                size_t k = pad > sizeof zeros ? sizeof zeros : (size_t)pad;
                rc = socfw_atomic_file_write(w->f, zeros, k, err);
                pad -= k;
        }
        if (rc < 0) {
                w->failed = 1;
                return rc;
        }
        w->next++;
        return 0;
}

int
socfw_gguf_writer_commit(socfw_gguf_writer *w, socfw_error *err)
{
        if (!w || !w->f || w->failed)
                return socfw_error_set(err, SOCFW_ESTATE,
                                       "gguf: nothing to commit (not begun, "
                                       "or a write failed)");
        if (w->next != w->n_t)
                return socfw_error_set(err, SOCFW_ESTATE,
                                       "gguf: %s: %zu of %zu tensors "
                                       "written", w->path, w->next, w->n_t);
        int rc = socfw_atomic_file_commit(w->f, err);
        w->f = NULL;
        return rc;
}
