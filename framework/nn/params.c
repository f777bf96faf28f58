/* params.c - the parameter store (see socfw/params.h). */
#include "socfw/params.h"
#include "socfw/threads.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

typedef struct {
        char *name;
        int ndim;
        int64_t shape[SOCFW_PARAMS_MAX_DIMS];
        int64_t numel;
        int64_t offset;         /* -1 until finalize */
        bool trainable;
} param_tensor;

struct socfw_params {
        param_tensor *t;
        int count, cap;
        bool finalized;
        int64_t size;           /* floats in each buffer, padding included */
        float *data, *grad;
        size_t map_data, map_grad; /* > 0: that buffer is an mmap() of this size */
};

#define MAX_TENSORS (1 << 20)

/* Buffers of at least this many bytes come straight from mmap: the
 * kernel hands out zeroed pages lazily (no memset touching every page of
 * a 500 MB model before it is loaded over) and, with transparent huge
 * pages in "madvise" mode, in 2 MiB pages (512x fewer page faults, fewer
 * TLB misses in the kernels). */
#define MAP_MIN_BYTES ((size_t)4 << 20)

static float *
alloc_floats(int64_t n, size_t *mapped)
{
        size_t bytes = (size_t)n * sizeof(float);
        *mapped = 0;
        if (bytes >= MAP_MIN_BYTES) {
                void *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
                if (m != MAP_FAILED) {
#ifdef MADV_HUGEPAGE
                        madvise(m, bytes, MADV_HUGEPAGE);
#endif
                        *mapped = bytes;
                        return m;
                }
        }
        /* n is a multiple of 16 floats, so bytes is a multiple of 64 */
        float *p = aligned_alloc(SOCFW_PARAMS_ALIGN_BYTES, bytes);
        if (p)
                memset(p, 0, bytes);
        return p;
}

static void
free_floats(float *p, size_t mapped)
{
        if (p && mapped)
                munmap(p, mapped);
        else
                free(p);
}

socfw_params *
socfw_params_new(void)
{
        return calloc(1, sizeof(socfw_params));
}

void
socfw_params_free(socfw_params *ps)
{
        if (!ps)
                return;
        for (int i = 0; i < ps->count; i++)
                free(ps->t[i].name);
        free(ps->t);
        free_floats(ps->data, ps->map_data);
        free_floats(ps->grad, ps->map_grad);
        free(ps);
}

int
socfw_params_find(const socfw_params *ps, const char *name)
{
        if (!ps || !name)
                return SOCFW_ENOTFOUND;
        for (int i = 0; i < ps->count; i++)
                if (strcmp(ps->t[i].name, name) == 0)
                        return i;
        return SOCFW_ENOTFOUND;
}

int
socfw_params_add(socfw_params *ps, const char *name, int ndim,
                 const int64_t *shape, socfw_error *err)
{
        if (!ps || !name)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "params: add called with NULL store or name");
        if (ps->finalized)
                return socfw_error_set(err, SOCFW_ESTATE,
                                       "params: cannot add tensor '%s' after finalize; "
                                       "hint: declare every tensor first", name);
        size_t len = strnlen(name, SOCFW_PARAMS_NAME_MAX);
        if (len == 0 || len >= SOCFW_PARAMS_NAME_MAX)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "params: tensor name must be 1..%d bytes",
                                       SOCFW_PARAMS_NAME_MAX - 1);
        if (ndim < 1 || ndim > SOCFW_PARAMS_MAX_DIMS || !shape)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "params: tensor '%s' has %d dims, expected 1..%d",
                                       name, ndim, SOCFW_PARAMS_MAX_DIMS);
        int64_t numel = 1;
        for (int d = 0; d < ndim; d++) {
                if (shape[d] < 1 || shape[d] > SOCFW_PARAMS_MAX_FLOATS)
                        return socfw_error_set(err, SOCFW_EINVAL,
                                               "params: tensor '%s' dim %d is %lld, "
                                               "expected 1..%lld", name, d,
                                               (long long)shape[d],
                                               (long long)SOCFW_PARAMS_MAX_FLOATS);
                if (numel > SOCFW_PARAMS_MAX_FLOATS / shape[d])
                        return socfw_error_set(err, SOCFW_EINVAL,
                                               "params: tensor '%s' is larger than "
                                               "the %lld-float limit", name,
                                               (long long)SOCFW_PARAMS_MAX_FLOATS);
                numel *= shape[d];
        }
        if (socfw_params_find(ps, name) >= 0)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "params: duplicate tensor name '%s'", name);
        if (ps->count >= MAX_TENSORS)
                return socfw_error_set(err, SOCFW_ENOMEM,
                                       "params: more than %d tensors", MAX_TENSORS);
        if (ps->count == ps->cap) {
                int ncap = ps->cap ? ps->cap * 2 : 64;
                param_tensor *nt = realloc(ps->t, (size_t)ncap * sizeof *nt);
                if (!nt)
                        return socfw_error_set(err, SOCFW_ENOMEM,
                                               "params: out of memory adding '%s'", name);
                ps->t = nt;
                ps->cap = ncap;
        }
        param_tensor *t = &ps->t[ps->count];
        memset(t, 0, sizeof *t);
        t->name = malloc(len + 1);
        if (!t->name)
                return socfw_error_set(err, SOCFW_ENOMEM,
                                       "params: out of memory adding '%s'", name);
        memcpy(t->name, name, len + 1);
        t->ndim = ndim;
        memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
        t->numel = numel;
        t->offset = -1;
        t->trainable = true;
        return ps->count++;
}

int
socfw_params_finalize(socfw_params *ps, socfw_error *err)
{
        if (!ps)
                return socfw_error_set(err, SOCFW_EINVAL, "params: finalize on NULL");
        if (ps->finalized)
                return socfw_error_set(err, SOCFW_ESTATE,
                                       "params: finalize called twice");
        const int64_t A = SOCFW_PARAMS_ALIGN_FLOATS;
        int64_t off = 0;
        for (int i = 0; i < ps->count; i++) {
                int64_t padded = (ps->t[i].numel + A - 1) / A * A;
                if (padded > SOCFW_PARAMS_MAX_FLOATS - off)
                        return socfw_error_set(err, SOCFW_ENOMEM,
                                               "params: total size exceeds %lld floats "
                                               "(at tensor '%s'); hint: the model is "
                                               "too large for one store",
                                               (long long)SOCFW_PARAMS_MAX_FLOATS,
                                               ps->t[i].name);
                off += padded;
        }
        if (off > 0) {
                if ((uint64_t)off > SIZE_MAX / sizeof(float))
                        return socfw_error_set(err, SOCFW_ENOMEM,
                                               "params: %lld floats do not fit in memory",
                                               (long long)off);
                ps->data = alloc_floats(off, &ps->map_data);
                ps->grad = alloc_floats(off, &ps->map_grad);
                if (!ps->data || !ps->grad) {
                        free_floats(ps->data, ps->map_data);
                        free_floats(ps->grad, ps->map_grad);
                        ps->data = ps->grad = NULL;
                        ps->map_data = ps->map_grad = 0;
                        return socfw_error_set(err, SOCFW_ENOMEM,
                                               "params: cannot allocate 2 x %lld floats "
                                               "(%.1f MiB each)", (long long)off,
                                               (double)off * 4.0 / 1048576.0);
                }
        }
        off = 0;
        for (int i = 0; i < ps->count; i++) {
                ps->t[i].offset = off;
                off += (ps->t[i].numel + A - 1) / A * A;
        }
        ps->size = off;
        ps->finalized = true;
        return 0;
}

bool
socfw_params_is_finalized(const socfw_params *ps)
{
        return ps && ps->finalized;
}

int
socfw_params_count(const socfw_params *ps)
{
        return ps ? ps->count : 0;
}

static const param_tensor *
get(const socfw_params *ps, int idx)
{
        if (!ps || idx < 0 || idx >= ps->count)
                return NULL;
        return &ps->t[idx];
}

const char *
socfw_params_name(const socfw_params *ps, int idx)
{
        const param_tensor *t = get(ps, idx);
        return t ? t->name : NULL;
}

int
socfw_params_ndim(const socfw_params *ps, int idx)
{
        const param_tensor *t = get(ps, idx);
        return t ? t->ndim : 0;
}

const int64_t *
socfw_params_shape(const socfw_params *ps, int idx)
{
        const param_tensor *t = get(ps, idx);
        return t ? t->shape : NULL;
}

int64_t
socfw_params_numel(const socfw_params *ps, int idx)
{
        const param_tensor *t = get(ps, idx);
        return t ? t->numel : 0;
}

int64_t
socfw_params_offset(const socfw_params *ps, int idx)
{
        const param_tensor *t = get(ps, idx);
        return t ? t->offset : -1;
}

float *
socfw_params_data(const socfw_params *ps, int idx)
{
        const param_tensor *t = get(ps, idx);
        return t && ps->data ? ps->data + t->offset : NULL;
}

float *
socfw_params_grad(const socfw_params *ps, int idx)
{
        const param_tensor *t = get(ps, idx);
        return t && ps->grad ? ps->grad + t->offset : NULL;
}

void
socfw_params_hint_sparse(socfw_params *ps)
{
#ifdef MADV_NOHUGEPAGE
        if (ps && ps->map_data)
                madvise(ps->data, ps->map_data, MADV_NOHUGEPAGE);
        if (ps && ps->map_grad)
                madvise(ps->grad, ps->map_grad, MADV_NOHUGEPAGE);
#else
        (void)ps;
#endif
}

float *
socfw_params_data_buffer(const socfw_params *ps)
{
        return ps ? ps->data : NULL;
}

float *
socfw_params_grad_buffer(const socfw_params *ps)
{
        return ps ? ps->grad : NULL;
}

int64_t
socfw_params_size(const socfw_params *ps)
{
        return ps ? ps->size : 0;
}

int64_t
socfw_params_total_numel(const socfw_params *ps)
{
        int64_t n = 0;
        for (int i = 0; ps && i < ps->count; i++)
                n += ps->t[i].numel;
        return n;
}

int64_t
socfw_params_trainable_numel(const socfw_params *ps)
{
        int64_t n = 0;
        for (int i = 0; ps && i < ps->count; i++)
                if (ps->t[i].trainable)
                        n += ps->t[i].numel;
        return n;
}

bool
socfw_params_trainable(const socfw_params *ps, int idx)
{
        const param_tensor *t = get(ps, idx);
        return t ? t->trainable : false;
}

int
socfw_params_set_trainable(socfw_params *ps, int idx, bool trainable)
{
        if (!get(ps, idx))
                return SOCFW_EINVAL;
        ps->t[idx].trainable = trainable;
        return 0;
}

int
socfw_params_set_trainable_prefix(socfw_params *ps, const char *prefix,
                                  bool trainable)
{
        if (!ps || !prefix)
                return 0;
        size_t lp = strlen(prefix);
        int n = 0;
        for (int i = 0; i < ps->count; i++) {
                if (strncmp(ps->t[i].name, prefix, lp) == 0) {
                        ps->t[i].trainable = trainable;
                        n++;
                }
        }
        return n;
}

/* zero_grad: big tensors are cleared in 1 MiB pieces over the pool (a
 * 500 MB model's gradients take ~50 ms on one core). */
#define ZERO_PIECE ((int64_t)1 << 18)          /* floats */

typedef struct {
        float *p;
        int64_t n;
} zero_ctx;

static void
zero_body(void *vctx, int64_t begin, int64_t end)
{
        zero_ctx *c = vctx;
        int64_t a = begin * ZERO_PIECE, b = end * ZERO_PIECE;
        if (b > c->n)
                b = c->n;
        if (a < b)
                memset(c->p + a, 0, (size_t)(b - a) * sizeof(float));
}

void
socfw_params_zero_grad(socfw_params *ps)
{
        if (!ps || !ps->grad)
                return;
        /* runs of consecutive trainable tensors (padding included: it is
         * never read) are cleared with one pool dispatch each, usually one
         * for the whole model */
        const int64_t A = SOCFW_PARAMS_ALIGN_FLOATS;
        for (int i = 0; i < ps->count;) {
                if (!ps->t[i].trainable) {
                        i++;
                        continue;
                }
                int64_t start = ps->t[i].offset, end = start;
                while (i < ps->count && ps->t[i].trainable) {
                        end = ps->t[i].offset +
                              (ps->t[i].numel + A - 1) / A * A;
                        i++;
                }
                zero_ctx c = { ps->grad + start, end - start };
                /* ~0.1 ns per float (memory bandwidth) */
                socfw_parallel_for_cost((c.n + ZERO_PIECE - 1) / ZERO_PIECE,
                                        0.1 * (double)ZERO_PIECE, zero_body,
                                        &c);
        }
}

double
socfw_params_grad_norm(const socfw_params *ps)
{
        if (!ps || !ps->grad)
                return 0.0;
        double total = 0.0;
        for (int i = 0; i < ps->count; i++) {
                if (!ps->t[i].trainable)
                        continue;
                const float *g = ps->grad + ps->t[i].offset;
                double s = 0.0;
                for (int64_t j = 0; j < ps->t[i].numel; j++)
                        s += (double)g[j] * (double)g[j];
                total += s;
        }
        return sqrt(total);
}

void
socfw_params_scale_grad(socfw_params *ps, float s)
{
        if (!ps || !ps->grad)
                return;
        for (int i = 0; i < ps->count; i++) {
                if (!ps->t[i].trainable)
                        continue;
                float *g = ps->grad + ps->t[i].offset;
                for (int64_t j = 0; j < ps->t[i].numel; j++)
                        g[j] *= s;
        }
}

static int
check_init(socfw_params *ps, int idx)
{
        if (!get(ps, idx))
                return SOCFW_EINVAL;
        if (!ps->finalized)
                return SOCFW_ESTATE;
        return 0;
}

int
socfw_params_init_normal(socfw_params *ps, int idx, float mean, float std,
                         socfw_rng *rng)
{
        int rc = check_init(ps, idx);
        if (rc < 0)
                return rc;
        if (!rng || !(std >= 0.0f))
                return SOCFW_EINVAL;
        float *p = ps->data + ps->t[idx].offset;
        for (int64_t j = 0; j < ps->t[idx].numel; j++)
                p[j] = mean + std * socfw_rng_normal(rng);
        return 0;
}

int
socfw_params_init_uniform(socfw_params *ps, int idx, float lo, float hi,
                          socfw_rng *rng)
{
        int rc = check_init(ps, idx);
        if (rc < 0)
                return rc;
        if (!rng || !(hi >= lo))
                return SOCFW_EINVAL;
        float *p = ps->data + ps->t[idx].offset;
        for (int64_t j = 0; j < ps->t[idx].numel; j++)
                p[j] = lo + (hi - lo) * socfw_rng_uniform(rng);
        return 0;
}

int
socfw_params_init_const(socfw_params *ps, int idx, float value)
{
        int rc = check_init(ps, idx);
        if (rc < 0)
                return rc;
        float *p = ps->data + ps->t[idx].offset;
        for (int64_t j = 0; j < ps->t[idx].numel; j++)
                p[j] = value;
        return 0;
}
