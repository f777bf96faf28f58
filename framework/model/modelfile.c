/* modelfile.c - the socfw_modelfile object: opening (format dispatch),
 * mappings, tensor lookup, metadata getters and conversion to float32.
 * The format parsers are in gguf.c and safetensors_read.c. */
#include "model/modelfile_internal.h"
#include "socfw/io.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- arena ---- */

struct mf_arena_chunk {
        struct mf_arena_chunk *next;
        size_t used, size;
        max_align_t data[];
};

#define ARENA_CHUNK (64u * 1024u)

void *
mf_alloc(socfw_modelfile *mf, size_t size)
{
        const size_t align = sizeof(max_align_t);
        if (size > SIZE_MAX - align)
                return NULL;
        size = (size + align - 1) / align * align;
        struct mf_arena_chunk *c = mf->arena;
        if (!c || c->size - c->used < size) {
                size_t want = size > ARENA_CHUNK ? size : ARENA_CHUNK;
                if (want > SIZE_MAX - sizeof *c)
                        return NULL;
                c = malloc(sizeof *c + want);
                if (!c)
                        return NULL;
                c->used = 0;
                c->size = want;
                if (mf->arena && size > ARENA_CHUNK) {
                        /* a big one-off: keep the current chunk on top */
                        c->next = mf->arena->next;
                        mf->arena->next = c;
                } else {
                        c->next = mf->arena;
                        mf->arena = c;
                }
        }
        void *p = (char *)c->data + c->used;
        c->used += size;
        return p;
}

char *
mf_strndup(socfw_modelfile *mf, const char *s, size_t len)
{
        if (len == SIZE_MAX)
                return NULL;
        char *p = mf_alloc(mf, len + 1);
        if (!p)
                return NULL;
        if (len)
                memcpy(p, s, len);
        p[len] = '\0';
        return p;
}

/* ---- growing arrays ---- */

static int
grow(void **arr, size_t *cap, size_t need, size_t elsize)
{
        if (need <= *cap)
                return 0;
        size_t nc = *cap ? *cap : 16;
        while (nc < need) {
                if (nc > SIZE_MAX / 2 / elsize)
                        return SOCFW_ENOMEM;
                nc *= 2;
        }
        void *p = realloc(*arr, nc * elsize);
        if (!p)
                return SOCFW_ENOMEM;
        *arr = p;
        *cap = nc;
        return 0;
}

int
mf_add_tensor(socfw_modelfile *mf, const socfw_tensor_info *t)
{
        if (grow((void **)&mf->tensors, &mf->cap_tensors, mf->n_tensors + 1,
                 sizeof *mf->tensors) < 0)
                return SOCFW_ENOMEM;
        mf->tensors[mf->n_tensors++] = *t;
        return 0;
}

int
mf_add_meta(socfw_modelfile *mf, const char *key, const struct mf_value *val)
{
        if (grow((void **)&mf->meta, &mf->cap_meta, mf->n_meta + 1,
                 sizeof *mf->meta) < 0)
                return SOCFW_ENOMEM;
        mf->meta[mf->n_meta].key = key;
        mf->meta[mf->n_meta].val = *val;
        mf->n_meta++;
        return 0;
}

/* ---- mappings ---- */

int
mf_map_file(socfw_modelfile *mf, const char *path, socfw_error *err)
{
        int fd = -1, rc;
        struct stat st;
        void *base = NULL;
        char *copy = NULL;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                rc = socfw_error_set_at(err, errno == ENOENT ? SOCFW_ENOTFOUND
                                                             : SOCFW_EIO,
                                        path, 0, 0, "cannot open: %s",
                                        strerror(errno));
                goto out;
        }
        if (fstat(fd, &st) < 0) {
                rc = socfw_error_set_at(err, SOCFW_EIO, path, 0, 0,
                                        "cannot stat: %s", strerror(errno));
                goto out;
        }
        if (!S_ISREG(st.st_mode)) {
                rc = socfw_error_set_at(err, SOCFW_EINVAL, path, 0, 0,
                                        "not a regular file");
                goto out;
        }
        if (st.st_size <= 0) {
                rc = socfw_error_set_at(err, SOCFW_EFORMAT, path, 0, 0,
                                        "file is empty");
                goto out;
        }
        if ((uint64_t)st.st_size > SIZE_MAX) {
                rc = socfw_error_set_at(err, SOCFW_ENOMEM, path, 0, 0,
                                        "file too large to map");
                goto out;
        }
        base = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (base == MAP_FAILED) {
                base = NULL;
                rc = socfw_error_set_at(err, SOCFW_EIO, path, 0, 0,
                                        "cannot map %lld bytes: %s",
                                        (long long)st.st_size,
                                        strerror(errno));
                goto out;
        }
        copy = strdup(path);
        if (!copy || grow((void **)&mf->maps, &mf->cap_maps, mf->n_maps + 1,
                          sizeof *mf->maps) < 0) {
                rc = socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
                goto out;
        }
        struct mf_map *m = &mf->maps[mf->n_maps];
        m->path = copy;
        m->base = base;
        m->size = (size_t)st.st_size;
        m->mapped = 1;
        copy = NULL;
        base = NULL;
        rc = (int)mf->n_maps++;
out:
        if (base)
                munmap(base, (size_t)st.st_size);
        free(copy);
        if (fd >= 0)
                close(fd);
        return rc;
}

/* ---- sorting and duplicate detection ---- */

struct name_idx {
        const char *name;
        size_t idx;
};

static int
cmp_name_idx(const void *a, const void *b)
{
        const struct name_idx *x = a, *y = b;
        int c = strcmp(x->name, y->name);
        if (c)
                return c;
        return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* order[] <- indices sorted by name; on a duplicate, *dup_a < *dup_b are
 * the two indices and 1 is returned. */
static int
sort_names(const socfw_modelfile *mf,
           const char *(*name_of)(const socfw_modelfile *, size_t), size_t n,
           size_t **order, size_t *dup_a, size_t *dup_b)
{
        struct name_idx *tmp = NULL;
        int rc = 0;
        *order = NULL;
        if (n == 0)
                return 0;
        tmp = malloc(n * sizeof *tmp);
        *order = malloc(n * sizeof **order);
        if (!tmp || !*order) {
                rc = SOCFW_ENOMEM;
                goto out;
        }
        for (size_t i = 0; i < n; i++) {
                tmp[i].name = name_of(mf, i);
                tmp[i].idx = i;
        }
        qsort(tmp, n, sizeof *tmp, cmp_name_idx);
        for (size_t i = 0; i < n; i++) {
                (*order)[i] = tmp[i].idx;
                if (i > 0 && strcmp(tmp[i - 1].name, tmp[i].name) == 0) {
                        *dup_a = tmp[i - 1].idx;
                        *dup_b = tmp[i].idx;
                        rc = 1;
                        goto out;
                }
        }
out:
        free(tmp);
        return rc;
}

static const char *
tensor_name_at(const socfw_modelfile *mf, size_t i)
{
        return mf->tensors[i].name;
}

static const char *
meta_key_at(const socfw_modelfile *mf, size_t i)
{
        return mf->meta[i].key;
}

int
mf_finish(socfw_modelfile *mf, const char *what, socfw_error *err)
{
        size_t a = 0, b = 0;
        int rc;

        free(mf->tensor_order);
        rc = sort_names(mf, tensor_name_at, mf->n_tensors,
                        &mf->tensor_order, &a, &b);
        if (rc < 0)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        if (rc > 0)
                return socfw_error_set_at(err, SOCFW_EFORMAT, what, 0, 0,
                                          "duplicate tensor name '%s' "
                                          "(tensors %zu and %zu)",
                                          mf->tensors[a].name, a, b);
        free(mf->meta_order);
        rc = sort_names(mf, meta_key_at, mf->n_meta, &mf->meta_order,
                        &a, &b);
        if (rc < 0)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        if (rc > 0)
                return socfw_error_set_at(err, SOCFW_EFORMAT, what, 0, 0,
                                          "duplicate metadata key '%s' "
                                          "(entries %zu and %zu)",
                                          mf->meta[a].key, a, b);
        return 0;
}

/* ---- open / close ---- */

static socfw_modelfile *
mf_new(const char *path)
{
        socfw_modelfile *mf = calloc(1, sizeof *mf);
        if (!mf)
                return NULL;
        mf->path = strdup(path);
        if (!mf->path) {
                free(mf);
                return NULL;
        }
        return mf;
}

static int
set_dir_of_file(socfw_modelfile *mf, const char *path)
{
        const char *slash = strrchr(path, '/');
        if (!slash)
                mf->dir = strdup(".");
        else if (slash == path)
                mf->dir = strdup("/");
        else
                mf->dir = strndup(path, (size_t)(slash - path));
        return mf->dir ? 0 : SOCFW_ENOMEM;
}

static int
parse_map(socfw_modelfile *mf, const struct mf_map *m, socfw_error *err)
{
        if ((m->size >= 4 && memcmp(m->base, "GGUF", 4) == 0) ||
            socfw_str_ends_with(m->path, ".gguf")) {
                mf->format = SOCFW_MODELFILE_GGUF;
                return mf_gguf_parse(mf, m, err);
        }
        mf->format = SOCFW_MODELFILE_SAFETENSORS;
        return mf_safetensors_parse(mf, m, err);
}

int
socfw_modelfile_open(socfw_modelfile **out, const char *path,
                     socfw_error *err)
{
        socfw_modelfile *mf = NULL;
        struct stat st;
        int rc;

        if (out)
                *out = NULL;
        if (!out || !path || !*path)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "socfw_modelfile_open: no path given");
        mf = mf_new(path);
        if (!mf) {
                rc = socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
                goto out;
        }
        if (stat(path, &st) < 0) {
                rc = socfw_error_set_at(err, errno == ENOENT ? SOCFW_ENOTFOUND
                                                             : SOCFW_EIO,
                                        path, 0, 0,
                                        "cannot open model: %s (hint: give "
                                        "a .gguf file, a .safetensors file "
                                        "or a Hugging Face model directory)",
                                        strerror(errno));
                goto out;
        }
        if (S_ISDIR(st.st_mode)) {
                mf->dir = strdup(path);
                if (!mf->dir) {
                        rc = socfw_error_set(err, SOCFW_ENOMEM,
                                             "out of memory");
                        goto out;
                }
                size_t l = strlen(mf->dir);
                while (l > 1 && mf->dir[l - 1] == '/')
                        mf->dir[--l] = '\0';
                rc = mf_hf_dir_open(mf, mf->dir, err);
                goto out;
        }
        if (set_dir_of_file(mf, path) < 0) {
                rc = socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
                goto out;
        }
        rc = mf_map_file(mf, path, err);
        if (rc < 0)
                goto out;
        rc = parse_map(mf, &mf->maps[rc], err);
        if (rc < 0)
                goto out;
        rc = mf_finish(mf, path, err);
out:
        if (rc < 0) {
                socfw_modelfile_close(mf);
                return rc;
        }
        *out = mf;
        return 0;
}

int
socfw_modelfile_open_memory(socfw_modelfile **out, const void *data,
                            size_t size, const char *name, socfw_error *err)
{
        socfw_modelfile *mf = NULL;
        int rc;

        if (out)
                *out = NULL;
        if (!name)
                name = "<memory>";
        if (!out || (!data && size))
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "socfw_modelfile_open_memory: bad "
                                       "arguments");
        if (size == 0)
                return socfw_error_set_at(err, SOCFW_EFORMAT, name, 0, 0,
                                          "file is empty");
        mf = mf_new(name);
        if (!mf || !(mf->dir = strdup(".")) ||
            !(mf->maps = calloc(1, sizeof *mf->maps)) ||
            !(mf->maps[0].path = strdup(name))) {
                rc = socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
                goto out;
        }
        mf->cap_maps = mf->n_maps = 1;
        mf->maps[0].base = data;
        mf->maps[0].size = size;
        mf->maps[0].mapped = 0;
        rc = parse_map(mf, &mf->maps[0], err);
        if (rc < 0)
                goto out;
        rc = mf_finish(mf, name, err);
out:
        if (rc < 0) {
                socfw_modelfile_close(mf);
                return rc;
        }
        *out = mf;
        return 0;
}

void
socfw_modelfile_close(socfw_modelfile *mf)
{
        if (!mf)
                return;
        for (size_t i = 0; i < mf->n_maps; i++) {
                if (mf->maps[i].mapped)
                        munmap((void *)mf->maps[i].base, mf->maps[i].size);
                free(mf->maps[i].path);
        }
        free(mf->maps);
        free(mf->tensors);
        free(mf->tensor_order);
        free(mf->meta);
        free(mf->meta_order);
        struct mf_arena_chunk *c = mf->arena;
        while (c) {
                struct mf_arena_chunk *next = c->next;
                free(c);
                c = next;
        }
        free(mf->path);
        free(mf->dir);
        free(mf);
}

/* ---- accessors ---- */

socfw_modelfile_format
socfw_modelfile_format_of(const socfw_modelfile *mf)
{
        return mf->format;
}

const char *
socfw_modelfile_path(const socfw_modelfile *mf)
{
        return mf->path;
}

const char *
socfw_modelfile_dir(const socfw_modelfile *mf)
{
        return mf->dir;
}

uint32_t
socfw_modelfile_gguf_version(const socfw_modelfile *mf)
{
        return mf->gguf_version;
}

size_t
socfw_modelfile_n_tensors(const socfw_modelfile *mf)
{
        return mf->n_tensors;
}

const socfw_tensor_info *
socfw_modelfile_tensor(const socfw_modelfile *mf, size_t i)
{
        return i < mf->n_tensors ? &mf->tensors[i] : NULL;
}

const socfw_tensor_info *
socfw_modelfile_find(const socfw_modelfile *mf, const char *name)
{
        if (!name || !mf->tensor_order)
                return NULL;
        size_t lo = 0, hi = mf->n_tensors;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                const socfw_tensor_info *t =
                        &mf->tensors[mf->tensor_order[mid]];
                int c = strcmp(name, t->name);
                if (c == 0)
                        return t;
                if (c < 0)
                        hi = mid;
                else
                        lo = mid + 1;
        }
        return NULL;
}

const float *
socfw_modelfile_f32_data(const socfw_tensor_info *t)
{
        if (!t || t->dtype != SOCFW_DTYPE_F32 ||
            (uintptr_t)t->data % _Alignof(float) != 0)
                return NULL;
        return t->data;
}

/* ---- conversion ---- */

static int64_t
row_length(const socfw_tensor_info *t)
{
        return t->ndim > 0 ? t->shape[t->ndim - 1] : 1;
}

static int
read_range(const socfw_modelfile *mf, const socfw_tensor_info *t,
           uint64_t first, uint64_t count, float *dst, size_t n,
           socfw_error *err)
{
        size_t off, len;
        if (count > n)
                return socfw_error_set_at(err, SOCFW_EINVAL, t->file, 0, 0,
                                          "tensor '%s': destination holds "
                                          "%zu floats, %llu needed", t->name,
                                          n, (unsigned long long)count);
        if (socfw_dtype_nbytes(t->dtype, first, &off) < 0 ||
            socfw_dtype_nbytes(t->dtype, count, &len) < 0 ||
            off > t->nbytes || len > t->nbytes - off)
                return socfw_error_set_at(err, SOCFW_EINVAL, t->file, 0, 0,
                                          "tensor '%s': elements %llu..+%llu "
                                          "do not fall on %s block "
                                          "boundaries inside the tensor",
                                          t->name, (unsigned long long)first,
                                          (unsigned long long)count,
                                          socfw_dtype_name(t->dtype));
        if (count == 0)
                return 0;
        int rc = socfw_model_convert_f32(t->dtype,
                                         (const uint8_t *)t->data + off,
                                         (size_t)count, dst);
        if (rc < 0)
                return socfw_error_set_at(err, SOCFW_EUNSUPPORTED, t->file, 0,
                                          0, "tensor '%s' has dtype %s, "
                                          "which socfw cannot convert to F32 "
                                          "(supported: F32 F16 BF16 F64 "
                                          "integers BOOL Q4_0 Q4_1 Q5_0 "
                                          "Q5_1 Q8_0; hint: re-quantise the "
                                          "model to Q8_0 or F16)",
                                          t->name,
                                          socfw_dtype_name(t->dtype));
        (void)mf;
        return 0;
}

int
socfw_modelfile_read_f32(const socfw_modelfile *mf,
                         const socfw_tensor_info *t, float *dst, size_t n,
                         socfw_error *err)
{
        if (!t || (!dst && t->nelem > 0))
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "socfw_modelfile_read_f32: NULL "
                                       "argument");
        return read_range(mf, t, 0, (uint64_t)t->nelem, dst, n, err);
}

int
socfw_modelfile_read_f32_rows(const socfw_modelfile *mf,
                              const socfw_tensor_info *t, int64_t row0,
                              int64_t nrows, float *dst, size_t n,
                              socfw_error *err)
{
        if (!t || (!dst && nrows > 0))
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "socfw_modelfile_read_f32_rows: NULL "
                                       "argument");
        int64_t rl = row_length(t);
        int64_t rows = rl > 0 ? t->nelem / rl : 0;
        if (rl == 0 && t->ndim > 0) {
                /* empty rows: nelem (0) does not bound the outer
                 * dimensions, so count them without overflowing */
                rows = 1;
                for (int i = 0; i < t->ndim - 1; i++) {
                        int64_t d = t->shape[i];
                        if (d == 0 || rows == 0) {
                                rows = 0;
                                break;
                        }
                        rows = rows > INT64_MAX / d ? INT64_MAX : rows * d;
                }
        }
        if (row0 < 0 || nrows < 0 || row0 > rows || nrows > rows - row0)
                return socfw_error_set_at(err, SOCFW_EINVAL, t->file, 0, 0,
                                          "tensor '%s': %lld rows from row "
                                          "%lld out of range (it has %lld "
                                          "rows)", t->name, (long long)nrows,
                                          (long long)row0, (long long)rows);
        return read_range(mf, t, (uint64_t)row0 * (uint64_t)rl,
                          (uint64_t)nrows * (uint64_t)rl, dst, n, err);
}

/* ---- metadata ---- */

const char *
socfw_meta_type_name(socfw_meta_type t)
{
        switch (t) {
        case SOCFW_META_U8: return "u8";
        case SOCFW_META_I8: return "i8";
        case SOCFW_META_U16: return "u16";
        case SOCFW_META_I16: return "i16";
        case SOCFW_META_U32: return "u32";
        case SOCFW_META_I32: return "i32";
        case SOCFW_META_F32: return "f32";
        case SOCFW_META_BOOL: return "bool";
        case SOCFW_META_STRING: return "string";
        case SOCFW_META_ARRAY: return "array";
        case SOCFW_META_U64: return "u64";
        case SOCFW_META_I64: return "i64";
        case SOCFW_META_F64: return "f64";
        case SOCFW_META_NULL: return "null";
        case SOCFW_META_MIXED: return "mixed";
        }
        return "?";
}

static int
is_int_type(socfw_meta_type t)
{
        switch (t) {
        case SOCFW_META_U8: case SOCFW_META_I8: case SOCFW_META_U16:
        case SOCFW_META_I16: case SOCFW_META_U32: case SOCFW_META_I32:
        case SOCFW_META_U64: case SOCFW_META_I64:
                return 1;
        default:
                return 0;
        }
}

static int
is_float_type(socfw_meta_type t)
{
        return t == SOCFW_META_F32 || t == SOCFW_META_F64;
}

size_t
socfw_modelfile_meta_count(const socfw_modelfile *mf)
{
        return mf->n_meta;
}

const char *
socfw_modelfile_meta_key(const socfw_modelfile *mf, size_t i)
{
        return i < mf->n_meta ? mf->meta[i].key : NULL;
}

static const struct mf_value *
lookup(const socfw_modelfile *mf, const char *key)
{
        if (!key || !mf->meta_order)
                return NULL;
        size_t lo = 0, hi = mf->n_meta;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                const struct mf_entry *e = &mf->meta[mf->meta_order[mid]];
                int c = strcmp(key, e->key);
                if (c == 0)
                        return &e->val;
                if (c < 0)
                        hi = mid;
                else
                        lo = mid + 1;
        }
        return NULL;
}

static const struct mf_value *
need(const socfw_modelfile *mf, const char *key, socfw_error *err)
{
        const struct mf_value *v = lookup(mf, key);
        if (!v)
                socfw_error_set_at(err, SOCFW_ENOTFOUND, mf->path, 0, 0,
                                   "metadata key '%s' not found",
                                   key ? key : "(null)");
        return v;
}

static int
wrong_type(const socfw_modelfile *mf, const char *key,
           const struct mf_value *v, const char *expected, socfw_error *err)
{
        const char *got = socfw_meta_type_name(v->type);
        if (v->type == SOCFW_META_ARRAY)
                return socfw_error_set_at(err, SOCFW_EINVAL, mf->path, 0, 0,
                                          "metadata key '%s' is an array of "
                                          "%s, expected %s", key,
                                          socfw_meta_type_name(v->v.a.elem),
                                          expected);
        return socfw_error_set_at(err, SOCFW_EINVAL, mf->path, 0, 0,
                                  "metadata key '%s' is %s, expected %s", key,
                                  got, expected);
}

int
socfw_modelfile_has(const socfw_modelfile *mf, const char *key,
                    socfw_meta_type *type)
{
        const struct mf_value *v = lookup(mf, key);
        if (v && type)
                *type = v->type;
        return v != NULL;
}

/* Scalar as int64 if it is one exactly; returns 0 or -1. */
static int
value_int(const struct mf_value *v, int64_t *out)
{
        if (v->type == SOCFW_META_U64) {
                if (v->v.u > INT64_MAX)
                        return -1;
                *out = (int64_t)v->v.u;
                return 0;
        }
        if (is_int_type(v->type)) {
                *out = v->v.i;
                return 0;
        }
        if (is_float_type(v->type)) {
                double f = v->v.f;
                if (!(f >= -9.2233720368547758e18 &&
                      f < 9.2233720368547758e18) || f != floor(f))
                        return -1;
                *out = (int64_t)f;
                return 0;
        }
        return -1;
}

int
socfw_modelfile_get_int(const socfw_modelfile *mf, const char *key,
                        int64_t *out, socfw_error *err)
{
        const struct mf_value *v = need(mf, key, err);
        if (!v)
                return SOCFW_ENOTFOUND;
        int64_t x;
        if (value_int(v, &x) < 0)
                return wrong_type(mf, key, v, "an integer", err);
        if (out)
                *out = x;
        return 0;
}

int
socfw_modelfile_get_float(const socfw_modelfile *mf, const char *key,
                          double *out, socfw_error *err)
{
        const struct mf_value *v = need(mf, key, err);
        if (!v)
                return SOCFW_ENOTFOUND;
        double x;
        if (is_float_type(v->type))
                x = v->v.f;
        else if (v->type == SOCFW_META_U64)
                x = (double)v->v.u;
        else if (is_int_type(v->type))
                x = (double)v->v.i;
        else
                return wrong_type(mf, key, v, "a number", err);
        if (out)
                *out = x;
        return 0;
}

int
socfw_modelfile_get_bool(const socfw_modelfile *mf, const char *key,
                         bool *out, socfw_error *err)
{
        const struct mf_value *v = need(mf, key, err);
        if (!v)
                return SOCFW_ENOTFOUND;
        if (v->type != SOCFW_META_BOOL)
                return wrong_type(mf, key, v, "a boolean", err);
        if (out)
                *out = v->v.b;
        return 0;
}

int
socfw_modelfile_get_string(const socfw_modelfile *mf, const char *key,
                           const char **out, size_t *len, socfw_error *err)
{
        const struct mf_value *v = need(mf, key, err);
        if (!v)
                return SOCFW_ENOTFOUND;
        if (v->type != SOCFW_META_STRING)
                return wrong_type(mf, key, v, "a string", err);
        if (out)
                *out = v->v.s.ptr;
        if (len)
                *len = v->v.s.len;
        return 0;
}

int
socfw_modelfile_get_array(const socfw_modelfile *mf, const char *key,
                          socfw_meta_type *elem_type, size_t *count,
                          socfw_error *err)
{
        const struct mf_value *v = need(mf, key, err);
        if (!v)
                return SOCFW_ENOTFOUND;
        if (v->type != SOCFW_META_ARRAY)
                return wrong_type(mf, key, v, "an array", err);
        if (elem_type)
                *elem_type = v->v.a.elem;
        if (count)
                *count = v->v.a.count;
        return 0;
}

int
socfw_modelfile_get_string_array(const socfw_modelfile *mf, const char *key,
                                 const socfw_strview **items, size_t *count,
                                 socfw_error *err)
{
        const struct mf_value *v = need(mf, key, err);
        if (!v)
                return SOCFW_ENOTFOUND;
        if (v->type != SOCFW_META_ARRAY ||
            (v->v.a.elem != SOCFW_META_STRING && v->v.a.count > 0))
                return wrong_type(mf, key, v, "an array of strings", err);
        if (items)
                *items = v->v.a.items;
        if (count)
                *count = v->v.a.count;
        return 0;
}

/* Common part of the numeric array getters: the array and its size. */
static const struct mf_value *
numeric_array(const socfw_modelfile *mf, const char *key, size_t n,
              int want_int, socfw_error *err)
{
        const struct mf_value *v = need(mf, key, err);
        if (!v)
                return NULL;
        socfw_meta_type e = v->v.a.elem;
        int ok = v->type == SOCFW_META_ARRAY &&
                 (v->v.a.count == 0 || is_int_type(e) || is_float_type(e) ||
                  (want_int && e == SOCFW_META_BOOL));
        if (!ok) {
                wrong_type(mf, key, v, want_int ? "an array of integers"
                                                : "an array of numbers",
                           err);
                return NULL;
        }
        if (n != v->v.a.count) {
                socfw_error_set_at(err, SOCFW_EINVAL, mf->path, 0, 0,
                                   "metadata array '%s' has %zu elements, "
                                   "caller expected %zu", key, v->v.a.count,
                                   n);
                return NULL;
        }
        return v;
}

/* Element i of a numeric array, as int64 (-1 if not exact) or double. */
static int
elem_int(const struct mf_value *v, size_t i, int64_t *out)
{
        socfw_meta_type e = v->v.a.elem;
        if (e == SOCFW_META_U64) {
                uint64_t u = ((const uint64_t *)v->v.a.items)[i];
                if (u > INT64_MAX)
                        return -1;
                *out = (int64_t)u;
                return 0;
        }
        if (is_float_type(e)) {
                struct mf_value tmp = {.type = SOCFW_META_F64};
                tmp.v.f = ((const double *)v->v.a.items)[i];
                return value_int(&tmp, out);
        }
        *out = ((const int64_t *)v->v.a.items)[i];
        return 0;
}

static double
elem_double(const struct mf_value *v, size_t i)
{
        socfw_meta_type e = v->v.a.elem;
        if (e == SOCFW_META_U64)
                return (double)((const uint64_t *)v->v.a.items)[i];
        if (is_float_type(e))
                return ((const double *)v->v.a.items)[i];
        return (double)((const int64_t *)v->v.a.items)[i];
}

static int
array_ret(const socfw_modelfile *mf, const char *key, socfw_error *err)
{
        return lookup(mf, key) ? (err && err->code ? err->code : SOCFW_EINVAL)
                               : SOCFW_ENOTFOUND;
}

static int
bad_elem(const socfw_modelfile *mf, const char *key, size_t i,
         const char *what, socfw_error *err)
{
        return socfw_error_set_at(err, SOCFW_EINVAL, mf->path, 0, 0,
                                  "metadata array '%s': element %zu is not "
                                  "%s", key, i, what);
}

int
socfw_modelfile_get_int_array(const socfw_modelfile *mf, const char *key,
                              int64_t *dst, size_t n, socfw_error *err)
{
        const struct mf_value *v = numeric_array(mf, key, n, 1, err);
        if (!v)
                return array_ret(mf, key, err);
        for (size_t i = 0; i < n; i++)
                if (elem_int(v, i, &dst[i]) < 0)
                        return bad_elem(mf, key, i, "a 64-bit integer", err);
        return 0;
}

int
socfw_modelfile_get_i32_array(const socfw_modelfile *mf, const char *key,
                              int32_t *dst, size_t n, socfw_error *err)
{
        const struct mf_value *v = numeric_array(mf, key, n, 1, err);
        if (!v)
                return array_ret(mf, key, err);
        for (size_t i = 0; i < n; i++) {
                int64_t x;
                if (elem_int(v, i, &x) < 0 || x < INT32_MIN || x > INT32_MAX)
                        return bad_elem(mf, key, i, "a 32-bit integer", err);
                dst[i] = (int32_t)x;
        }
        return 0;
}

int
socfw_modelfile_get_f32_array(const socfw_modelfile *mf, const char *key,
                              float *dst, size_t n, socfw_error *err)
{
        const struct mf_value *v = numeric_array(mf, key, n, 0, err);
        if (!v)
                return array_ret(mf, key, err);
        for (size_t i = 0; i < n; i++)
                dst[i] = (float)elem_double(v, i);
        return 0;
}

int
socfw_modelfile_get_f64_array(const socfw_modelfile *mf, const char *key,
                              double *dst, size_t n, socfw_error *err)
{
        const struct mf_value *v = numeric_array(mf, key, n, 0, err);
        if (!v)
                return array_ret(mf, key, err);
        for (size_t i = 0; i < n; i++)
                dst[i] = elem_double(v, i);
        return 0;
}

void
socfw_modelfile_release(const socfw_modelfile *mf, const socfw_tensor_info *t)
{
        if (!mf || !t || !t->data || t->nbytes == 0)
                return;
        const uint8_t *p = t->data;
        for (size_t i = 0; i < mf->n_maps; i++) {
                const struct mf_map *m = &mf->maps[i];
                if (!m->mapped || p < m->base || p >= m->base + m->size)
                        continue;
                /* whole pages inside the tensor only: its neighbours'
                 * bytes stay */
                uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
                uintptr_t a = ((uintptr_t)p + page - 1) & ~(page - 1);
                uintptr_t b = ((uintptr_t)p + t->nbytes) & ~(page - 1);
                if (b > a)
                        madvise((void *)a, b - a, MADV_DONTNEED);
                return;
        }
}
