/* gguf.c - GGUF (llama.cpp) parser: header, key/value metadata, tensor
 * infos.  Every count, length and offset is checked against the bytes that
 * are left before it is used.
 *
 * Layout (little-endian): "GGUF", u32 version (2 or 3), u64 n_tensors,
 * u64 n_kv; n_kv x (string key, u32 type, value); n_tensors x (string
 * name, u32 n_dims, u64 ne[n_dims], u32 ggml_type, u64 offset); padding to
 * general.alignment (default 32); tensor data.  A string is u64 length +
 * bytes (no NUL); an array is u32 element type + u64 count + elements. */
#include "model/modelfile_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_DIMS 4
#define GGUF_MAX_NAME 4096      /* llama.cpp uses 64; be a little lenient */

struct rd {
        const uint8_t *base;
        size_t size;
        size_t pos;
        const char *file;
        socfw_modelfile *mf;
        socfw_error *err;
        char ctx[320];          /* "tensor 3 'blk.0.attn_q.weight'" */
};

static int
fail(struct rd *r, int code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static int
fail(struct rd *r, int code, const char *fmt, ...)
{
        char msg[768];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        if (r->ctx[0])
                return socfw_error_set_at(r->err, code, r->file, 0, 0,
                                          "%s: %s", r->ctx, msg);
        return socfw_error_set_at(r->err, code, r->file, 0, 0, "%s", msg);
}

static void
set_ctx(struct rd *r, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

static void
set_ctx(struct rd *r, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->ctx, sizeof r->ctx, fmt, ap);
        va_end(ap);
}

/* A printable, bounded rendering of a name for messages. */
static void
printable(char *buf, size_t size, const uint8_t *s, size_t len)
{
        size_t o = 0;
        for (size_t i = 0; i < len && o + 5 < size; i++) {
                if (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '\'')
                        buf[o++] = (char)s[i];
                else
                        o += (size_t)snprintf(buf + o, size - o, "\\x%02x",
                                              s[i]);
        }
        if (o >= size)
                o = size - 1;
        buf[o] = '\0';
}

static size_t
left(const struct rd *r)
{
        return r->size - r->pos;
}

static int
need(struct rd *r, uint64_t n, const char *what)
{
        if (n > left(r))
                return fail(r, SOCFW_EFORMAT,
                            "%s at offset %zu needs %llu bytes, only %zu "
                            "left (file is %zu bytes; truncated?)", what,
                            r->pos, (unsigned long long)n, left(r), r->size);
        return 0;
}

static uint64_t
le(const uint8_t *p, int n)
{
        uint64_t v = 0;
        for (int i = n - 1; i >= 0; i--)
                v = (v << 8) | p[i];
        return v;
}

static int
rd_u32(struct rd *r, uint32_t *out, const char *what)
{
        if (need(r, 4, what) < 0)
                return SOCFW_EFORMAT;
        *out = (uint32_t)le(r->base + r->pos, 4);
        r->pos += 4;
        return 0;
}

static int
rd_u64(struct rd *r, uint64_t *out, const char *what)
{
        if (need(r, 8, what) < 0)
                return SOCFW_EFORMAT;
        *out = le(r->base + r->pos, 8);
        r->pos += 8;
        return 0;
}

/* A GGUF string: *s points into the file, not NUL-terminated. */
static int
rd_str(struct rd *r, const uint8_t **s, size_t *len, const char *what)
{
        uint64_t n;
        char w[96];
        snprintf(w, sizeof w, "%s length", what);
        if (rd_u64(r, &n, w) < 0)
                return SOCFW_EFORMAT;
        if (n > left(r))
                return fail(r, SOCFW_EFORMAT,
                            "%s length %llu at offset %zu runs past end of "
                            "file (%zu bytes left of %zu)", what,
                            (unsigned long long)n, r->pos - 8, left(r),
                            r->size);
        *s = r->base + r->pos;
        *len = (size_t)n;
        r->pos += (size_t)n;
        return 0;
}

/* ---- metadata values ---- */

size_t
mf_gguf_scalar_size(uint32_t type)
{
        switch (type) {
        case SOCFW_META_U8: case SOCFW_META_I8: case SOCFW_META_BOOL:
                return 1;
        case SOCFW_META_U16: case SOCFW_META_I16:
                return 2;
        case SOCFW_META_U32: case SOCFW_META_I32: case SOCFW_META_F32:
                return 4;
        case SOCFW_META_U64: case SOCFW_META_I64: case SOCFW_META_F64:
                return 8;
        default:
                return 0;
        }
}

/* Decode a fixed-size scalar at p into v (type already set). */
static void
decode_scalar(uint32_t type, const uint8_t *p, struct mf_value *v)
{
        uint64_t u = le(p, (int)mf_gguf_scalar_size(type));
        switch (type) {
        case SOCFW_META_U8: case SOCFW_META_U16: case SOCFW_META_U32:
                v->v.i = (int64_t)u;
                break;
        case SOCFW_META_I8: v->v.i = (int8_t)u; break;
        case SOCFW_META_I16: v->v.i = (int16_t)u; break;
        case SOCFW_META_I32: v->v.i = (int32_t)u; break;
        case SOCFW_META_I64: v->v.i = (int64_t)u; break;
        case SOCFW_META_U64: v->v.u = u; break;
        case SOCFW_META_BOOL: v->v.b = u != 0; break;
        case SOCFW_META_F32: {
                uint32_t b = (uint32_t)u;
                float f;
                memcpy(&f, &b, sizeof f);
                v->v.f = f;
                break;
        }
        case SOCFW_META_F64: {
                double d;
                memcpy(&d, &u, sizeof d);
                v->v.f = d;
                break;
        }
        }
        v->type = (socfw_meta_type)type;
}

static int read_value(struct rd *r, uint32_t type, int depth,
                      struct mf_value *out);

static int
read_array(struct rd *r, int depth, struct mf_value *out)
{
        uint32_t et;
        uint64_t count;
        if (depth >= MF_MAX_DEPTH)
                return fail(r, SOCFW_EFORMAT,
                            "arrays nested more than %d deep", MF_MAX_DEPTH);
        if (rd_u32(r, &et, "array element type") < 0 ||
            rd_u64(r, &count, "array element count") < 0)
                return SOCFW_EFORMAT;
        if (et > SOCFW_META_F64)
                return fail(r, SOCFW_EFORMAT,
                            "unknown array element type %u (valid: 0..12)",
                            et);
        /* smallest encoding of one element bounds the count */
        size_t min = et == SOCFW_META_STRING ? 8
                     : et == SOCFW_META_ARRAY ? 12 : mf_gguf_scalar_size(et);
        if (count > left(r) / min)
                return fail(r, SOCFW_EFORMAT,
                            "array of %llu %s elements at offset %zu cannot "
                            "fit in the %zu bytes left", (unsigned long long)
                            count, socfw_meta_type_name(et), r->pos - 12,
                            left(r));
        size_t n = (size_t)count;
        out->type = SOCFW_META_ARRAY;
        out->v.a.elem = (socfw_meta_type)et;
        out->v.a.count = n;
        out->v.a.items = NULL;
        if (n == 0)
                return 0;

        size_t es = et == SOCFW_META_STRING ? sizeof(socfw_strview)
                    : et == SOCFW_META_ARRAY ? sizeof(struct mf_value) : 8;
        void *items = mf_alloc(r->mf, n * es);     /* n*es <= 8 * file */
        if (!items)
                return fail(r, SOCFW_ENOMEM, "out of memory for array of "
                            "%zu elements", n);
        out->v.a.items = items;
        if (et == SOCFW_META_STRING) {
                socfw_strview *sv = items;
                for (size_t i = 0; i < n; i++) {
                        const uint8_t *s;
                        size_t len;
                        if (rd_str(r, &s, &len, "array string") < 0)
                                return SOCFW_EFORMAT;
                        sv[i].ptr = mf_strndup(r->mf, (const char *)s, len);
                        sv[i].len = len;
                        if (!sv[i].ptr)
                                return fail(r, SOCFW_ENOMEM, "out of memory");
                }
        } else if (et == SOCFW_META_ARRAY) {
                struct mf_value *vv = items;
                for (size_t i = 0; i < n; i++)
                        if (read_array(r, depth + 1, &vv[i]) < 0)
                                return SOCFW_EFORMAT;
        } else {
                size_t ss = mf_gguf_scalar_size(et);
                for (size_t i = 0; i < n; i++) {
                        struct mf_value tmp;
                        decode_scalar(et, r->base + r->pos + i * ss, &tmp);
                        if (et == SOCFW_META_F32 || et == SOCFW_META_F64)
                                ((double *)items)[i] = tmp.v.f;
                        else if (et == SOCFW_META_U64)
                                ((uint64_t *)items)[i] = tmp.v.u;
                        else if (et == SOCFW_META_BOOL)
                                ((int64_t *)items)[i] = tmp.v.b;
                        else
                                ((int64_t *)items)[i] = tmp.v.i;
                }
                r->pos += n * ss;          /* checked by the count bound */
        }
        return 0;
}

static int
read_value(struct rd *r, uint32_t type, int depth, struct mf_value *out)
{
        if (type == SOCFW_META_STRING) {
                const uint8_t *s;
                size_t len;
                if (rd_str(r, &s, &len, "string value") < 0)
                        return SOCFW_EFORMAT;
                out->type = SOCFW_META_STRING;
                out->v.s.ptr = mf_strndup(r->mf, (const char *)s, len);
                out->v.s.len = len;
                if (!out->v.s.ptr)
                        return fail(r, SOCFW_ENOMEM, "out of memory");
                return 0;
        }
        if (type == SOCFW_META_ARRAY)
                return read_array(r, depth, out);
        size_t ss = mf_gguf_scalar_size(type);
        if (ss == 0)
                return fail(r, SOCFW_EFORMAT,
                            "unknown value type %u (valid: 0..12)", type);
        if (need(r, ss, "value") < 0)
                return SOCFW_EFORMAT;
        decode_scalar(type, r->base + r->pos, out);
        r->pos += ss;
        return 0;
}

/* ---- tensor types ---- */

static int
ggml_to_dtype(uint32_t g, socfw_dtype *out)
{
        static const int map[] = {
                [0] = SOCFW_DTYPE_F32, [1] = SOCFW_DTYPE_F16,
                [2] = SOCFW_DTYPE_Q4_0, [3] = SOCFW_DTYPE_Q4_1,
                [4] = -1, [5] = -1,
                [6] = SOCFW_DTYPE_Q5_0, [7] = SOCFW_DTYPE_Q5_1,
                [8] = SOCFW_DTYPE_Q8_0, [9] = SOCFW_DTYPE_Q8_1,
                [10] = SOCFW_DTYPE_Q2_K, [11] = SOCFW_DTYPE_Q3_K,
                [12] = SOCFW_DTYPE_Q4_K, [13] = SOCFW_DTYPE_Q5_K,
                [14] = SOCFW_DTYPE_Q6_K, [15] = SOCFW_DTYPE_Q8_K,
                [16] = -1, [17] = -1, [18] = -1, [19] = -1, [20] = -1,
                [21] = -1, [22] = -1, [23] = -1,
                [24] = SOCFW_DTYPE_I8, [25] = SOCFW_DTYPE_I16,
                [26] = SOCFW_DTYPE_I32, [27] = SOCFW_DTYPE_I64,
                [28] = SOCFW_DTYPE_F64, [29] = -1,
                [30] = SOCFW_DTYPE_BF16,
        };
        if (g >= sizeof map / sizeof map[0] || map[g] < 0)
                return -1;
        *out = (socfw_dtype)map[g];
        return 0;
}

/* ---- the file ---- */

static int
check_header(struct rd *r, uint64_t *n_tensors, uint64_t *n_kv)
{
        uint32_t version;
        if (r->size < 4)
                return fail(r, SOCFW_EFORMAT,
                            "file too short for a GGUF header (%zu bytes)",
                            r->size);
        if (memcmp(r->base, "GGUF", 4) != 0)
                return fail(r, SOCFW_EFORMAT,
                            "bad magic %02x %02x %02x %02x, expected 'GGUF' "
                            "(hint: is this a GGUF file?)", r->base[0],
                            r->base[1], r->base[2], r->base[3]);
        r->pos = 4;
        if (rd_u32(r, &version, "version") < 0)
                return SOCFW_EFORMAT;
        if (version == 1)
                return fail(r, SOCFW_EUNSUPPORTED,
                            "GGUF version 1 is not supported (supported: 2, "
                            "3; hint: re-convert the model with a current "
                            "llama.cpp)");
        if (version != 2 && version != 3) {
                if ((version & 0xffff) == 0 && (version >> 16) != 0)
                        return fail(r, SOCFW_EUNSUPPORTED,
                                    "big-endian GGUF files are not supported");
                return fail(r, SOCFW_EUNSUPPORTED,
                            "unsupported GGUF version %u (supported: 2, 3)",
                            version);
        }
        r->mf->gguf_version = version;
        if (rd_u64(r, n_tensors, "tensor count") < 0 ||
            rd_u64(r, n_kv, "metadata count") < 0)
                return SOCFW_EFORMAT;
        /* a tensor info takes >= 24 bytes, a key/value pair >= 13 */
        if (*n_tensors > MF_MAX_TENSORS || *n_tensors > left(r) / 24)
                return fail(r, SOCFW_EFORMAT,
                            "tensor count %llu is impossible for a file of "
                            "%zu bytes (limit %u)",
                            (unsigned long long)*n_tensors, r->size,
                            MF_MAX_TENSORS);
        if (*n_kv > MF_MAX_KV || *n_kv > left(r) / 13)
                return fail(r, SOCFW_EFORMAT,
                            "metadata count %llu is impossible for a file of "
                            "%zu bytes (limit %u)", (unsigned long long)*n_kv,
                            r->size, MF_MAX_KV);
        return 0;
}

static int
read_kvs(struct rd *r, uint64_t n_kv)
{
        for (uint64_t i = 0; i < n_kv; i++) {
                const uint8_t *k;
                size_t klen;
                uint32_t type;
                struct mf_value v;
                set_ctx(r, "metadata entry %llu", (unsigned long long)i);
                if (rd_str(r, &k, &klen, "key") < 0)
                        return SOCFW_EFORMAT;
                char pk[200];
                printable(pk, sizeof pk, k, klen);
                set_ctx(r, "metadata entry %llu '%s'", (unsigned long long)i,
                        pk);
                if (klen == 0 || memchr(k, '\0', klen))
                        return fail(r, SOCFW_EFORMAT,
                                    "key is empty or contains a NUL byte");
                if (rd_u32(r, &type, "value type") < 0)
                        return SOCFW_EFORMAT;
                if (type > SOCFW_META_F64)
                        return fail(r, SOCFW_EFORMAT,
                                    "unknown value type %u (valid: 0..12)",
                                    type);
                int rc = read_value(r, type, 0, &v);
                if (rc < 0)
                        return rc;
                const char *key = mf_strndup(r->mf, (const char *)k, klen);
                if (!key || mf_add_meta(r->mf, key, &v) < 0)
                        return fail(r, SOCFW_ENOMEM, "out of memory");
        }
        r->ctx[0] = '\0';
        return 0;
}

static int
get_alignment(struct rd *r, uint64_t *align)
{
        *align = GGUF_DEFAULT_ALIGNMENT;
        for (size_t i = 0; i < r->mf->n_meta; i++) {
                const struct mf_entry *e = &r->mf->meta[i];
                if (strcmp(e->key, "general.alignment") != 0)
                        continue;
                if (e->val.type != SOCFW_META_U32)
                        return fail(r, SOCFW_EFORMAT,
                                    "general.alignment has type %s, expected "
                                    "u32", socfw_meta_type_name(e->val.type));
                uint64_t a = (uint64_t)e->val.v.i;
                if (a == 0 || (a & (a - 1)) != 0)
                        return fail(r, SOCFW_EFORMAT,
                                    "general.alignment %llu is not a power "
                                    "of two", (unsigned long long)a);
                *align = a;
                break;  /* duplicates are rejected later */
        }
        return 0;
}

static int
read_tensor_info(struct rd *r, uint64_t i, socfw_tensor_info *t,
                 uint64_t *rel_offset)
{
        const uint8_t *name;
        size_t nlen;
        uint32_t ndim, gtype;
        uint64_t ne[GGUF_MAX_DIMS];
        char pn[200];

        set_ctx(r, "tensor %llu", (unsigned long long)i);
        if (rd_str(r, &name, &nlen, "name") < 0)
                return SOCFW_EFORMAT;
        printable(pn, sizeof pn, name, nlen);
        set_ctx(r, "tensor %llu '%s'", (unsigned long long)i, pn);
        if (nlen == 0 || nlen > GGUF_MAX_NAME || memchr(name, '\0', nlen))
                return fail(r, SOCFW_EFORMAT,
                            "name is empty, longer than %d bytes, or "
                            "contains a NUL byte", GGUF_MAX_NAME);
        if (rd_u32(r, &ndim, "number of dimensions") < 0)
                return SOCFW_EFORMAT;
        if (ndim > GGUF_MAX_DIMS)
                return fail(r, SOCFW_EFORMAT,
                            "%u dimensions, at most %d allowed", ndim,
                            GGUF_MAX_DIMS);
        uint64_t nelem = 1;
        for (uint32_t d = 0; d < ndim; d++) {
                if (rd_u64(r, &ne[d], "dimension") < 0)
                        return SOCFW_EFORMAT;
                if (ne[d] > INT64_MAX ||
                    (ne[d] != 0 && nelem > (uint64_t)INT64_MAX / ne[d]))
                        return fail(r, SOCFW_EFORMAT,
                                    "element count overflows at dimension %u "
                                    "(ne=%llu)", d,
                                    (unsigned long long)ne[d]);
                nelem *= ne[d];
        }
        if (rd_u32(r, &gtype, "type") < 0)
                return SOCFW_EFORMAT;
        socfw_dtype dt;
        if (ggml_to_dtype(gtype, &dt) < 0)
                return fail(r, SOCFW_EUNSUPPORTED,
                            "unknown or unsupported tensor type %u (hint: "
                            "socfw reads F32 F16 BF16 Q4_0 Q4_1 Q5_0 Q5_1 "
                            "Q8_0, K-quants, I8..I64, F64)", gtype);
        if (rd_u64(r, rel_offset, "data offset") < 0)
                return SOCFW_EFORMAT;
        size_t bs = socfw_dtype_block_size(dt);
        if (ndim > 0 && ne[0] % bs != 0)
                return fail(r, SOCFW_EFORMAT,
                            "innermost dimension %llu is not a multiple of "
                            "the %s block size %zu",
                            (unsigned long long)ne[0], socfw_dtype_name(dt),
                            bs);
        if (ndim == 0 && bs != 1)
                return fail(r, SOCFW_EFORMAT, "scalar of block type %s",
                            socfw_dtype_name(dt));
        size_t nbytes;
        if (socfw_dtype_nbytes(dt, nelem, &nbytes) < 0)
                return fail(r, SOCFW_EFORMAT, "data size overflows");

        memset(t, 0, sizeof *t);
        t->name = mf_strndup(r->mf, (const char *)name, nlen);
        if (!t->name)
                return fail(r, SOCFW_ENOMEM, "out of memory");
        t->dtype = dt;
        t->ndim = (int)ndim;
        for (int d = 0; d < SOCFW_MODELFILE_MAX_DIMS; d++)
                t->shape[d] = 1;
        for (uint32_t d = 0; d < ndim; d++)      /* outermost first */
                t->shape[d] = (int64_t)ne[ndim - 1 - d];
        t->nelem = (int64_t)nelem;
        t->nbytes = nbytes;
        t->file = r->file;
        return 0;
}

static int
cmp_offset(const void *a, const void *b)
{
        const socfw_tensor_info *x = *(const socfw_tensor_info *const *)a;
        const socfw_tensor_info *y = *(const socfw_tensor_info *const *)b;
        return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Tensors must not share bytes (zero-size tensors excepted). */
static int
check_overlap(struct rd *r, socfw_tensor_info *ts, size_t n)
{
        if (n < 2)
                return 0;
        const socfw_tensor_info **v = malloc(n * sizeof *v);
        if (!v)
                return fail(r, SOCFW_ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++)
                v[i] = &ts[i];
        qsort(v, n, sizeof *v, cmp_offset);
        int rc = 0;
        uint64_t end = 0;
        const socfw_tensor_info *prev = NULL;
        for (size_t i = 0; i < n; i++) {
                if (v[i]->nbytes == 0)
                        continue;
                if (prev && v[i]->offset < end) {
                        r->ctx[0] = '\0';
                        rc = fail(r, SOCFW_EFORMAT,
                                  "tensor '%s' (bytes %llu..%llu) overlaps "
                                  "tensor '%s' (bytes %llu..%llu)",
                                  v[i]->name,
                                  (unsigned long long)v[i]->offset,
                                  (unsigned long long)(v[i]->offset +
                                                       v[i]->nbytes),
                                  prev->name,
                                  (unsigned long long)prev->offset,
                                  (unsigned long long)end);
                        break;
                }
                prev = v[i];
                end = v[i]->offset + v[i]->nbytes;
        }
        free(v);
        return rc;
}

int
mf_gguf_parse(socfw_modelfile *mf, const struct mf_map *m, socfw_error *err)
{
        struct rd r = {.base = m->base, .size = m->size, .file = m->path,
                       .mf = mf, .err = err};
        uint64_t n_tensors, n_kv, align;
        uint64_t *rel = NULL;
        int rc;

        rc = check_header(&r, &n_tensors, &n_kv);
        if (rc < 0)
                goto out;
        rc = read_kvs(&r, n_kv);
        if (rc < 0)
                goto out;
        rc = get_alignment(&r, &align);
        if (rc < 0)
                goto out;
        rel = malloc((n_tensors ? n_tensors : 1) * sizeof *rel);
        if (!rel) {
                rc = fail(&r, SOCFW_ENOMEM, "out of memory");
                goto out;
        }
        size_t first = mf->n_tensors;
        for (uint64_t i = 0; i < n_tensors; i++) {
                socfw_tensor_info t;
                rc = read_tensor_info(&r, i, &t, &rel[i]);
                if (rc < 0)
                        goto out;
                if (mf_add_tensor(mf, &t) < 0) {
                        rc = fail(&r, SOCFW_ENOMEM, "out of memory");
                        goto out;
                }
        }
        r.ctx[0] = '\0';

        /* data section: after the tensor infos, aligned */
        uint64_t data_start = r.pos;
        if (data_start % align)
                data_start += align - data_start % align;  /* pos < 2^63 */
        for (uint64_t i = 0; i < n_tensors; i++) {
                socfw_tensor_info *t = &mf->tensors[first + i];
                set_ctx(&r, "tensor %llu '%s'", (unsigned long long)i,
                        t->name);
                if (rel[i] % align != 0) {
                        rc = fail(&r, SOCFW_EFORMAT,
                                  "data offset %llu is not a multiple of "
                                  "the alignment %llu",
                                  (unsigned long long)rel[i],
                                  (unsigned long long)align);
                        goto out;
                }
                if (data_start > m->size || rel[i] > m->size - data_start ||
                    t->nbytes > m->size - data_start - rel[i]) {
                        rc = fail(&r, SOCFW_EFORMAT,
                                  "data offset %llu + size %zu past end of "
                                  "file (data section starts at %llu, file "
                                  "is %zu bytes)", (unsigned long long)rel[i],
                                  t->nbytes, (unsigned long long)data_start,
                                  m->size);
                        goto out;
                }
                t->offset = data_start + rel[i];
                t->data = m->base + t->offset;
        }
        r.ctx[0] = '\0';
        if (n_tensors > 1)
                rc = check_overlap(&r, mf->tensors + first,
                                   (size_t)n_tensors);
out:
        free(rel);
        return rc;
}
