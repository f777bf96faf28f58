/* test_model_gguf.c - GGUF reading: the real stories260K model, a GGUF
 * built here with known quantised values, and corrupt variants of it. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "socfw/modelfile.h"
#include "testutil.h"

/* ---- a tiny GGUF writer, independent of the library ---- */

struct gb {
        uint8_t *p;
        size_t n, cap;
};

static void
gb_raw(struct gb *b, const void *d, size_t len)
{
        if (b->n + len > b->cap) {
                b->cap = (b->n + len) * 2 + 64;
                b->p = realloc(b->p, b->cap);
                cr_assert_not_null(b->p);
        }
        memcpy(b->p + b->n, d, len);
        b->n += len;
}

static void
gb_le(struct gb *b, uint64_t v, int bytes)
{
        uint8_t t[8];
        for (int i = 0; i < bytes; i++)
                t[i] = (uint8_t)(v >> (8 * i));
        gb_raw(b, t, (size_t)bytes);
}

static void gb_u8(struct gb *b, uint8_t v) { gb_le(b, v, 1); }
static void gb_u16(struct gb *b, uint16_t v) { gb_le(b, v, 2); }
static void gb_u32(struct gb *b, uint32_t v) { gb_le(b, v, 4); }
static void gb_u64(struct gb *b, uint64_t v) { gb_le(b, v, 8); }

static void
gb_f32(struct gb *b, float f)
{
        uint32_t u;
        memcpy(&u, &f, 4);
        gb_u32(b, u);
}

static void
gb_strn(struct gb *b, const char *s, size_t len)
{
        gb_u64(b, len);
        gb_raw(b, s, len);
}

static void gb_str(struct gb *b, const char *s) { gb_strn(b, s, strlen(s)); }

/* Knobs for variants of the fixture. */
enum {
        V_DUP_TENSOR = 1,       /* second tensor named like the first */
        V_DUP_KEY = 2,          /* general.name twice                  */
        V_DEEP = 4,             /* arrays nested 10 deep               */
};

/* Offsets of interesting fields, recorded while building. */
struct layout {
        size_t version, n_tensors, n_kv, first_key_len, align_val, type_of_kv1;
        size_t ndim[8], ne0[8], type[8], offset[8];
        size_t n_tensor;
};

/* Tensor payloads with known values. */
#define N_TENSORS 6
static const char *tensor_names[N_TENSORS] = {"f32", "f16", "bf16", "q8_0",
                                              "q4_0", "q8_1"};

static void
payload(int i, struct gb *d, uint32_t *gtype, int *ndim, uint64_t ne[4])
{
        switch (i) {
        case 0:         /* f32 (3): 1.5, -2, 1e-3 */
                *gtype = 0; *ndim = 1; ne[0] = 3;
                gb_f32(d, 1.5f); gb_f32(d, -2.0f); gb_f32(d, 1e-3f);
                break;
        case 1: {       /* f16, shape (2, 4): ne = {4, 2} */
                static const uint16_t h[8] = {0x0000, 0x3c00, 0xc000, 0x3800,
                                              0x7bff, 0x8000, 0x0001, 0x4248};
                *gtype = 1; *ndim = 2; ne[0] = 4; ne[1] = 2;
                for (int k = 0; k < 8; k++)
                        gb_u16(d, h[k]);
                break;
        }
        case 2: {       /* bf16 (4) */
                static const uint16_t h[4] = {0x3f80, 0xc040, 0x4049, 0x0000};
                *gtype = 30; *ndim = 1; ne[0] = 4;
                for (int k = 0; k < 4; k++)
                        gb_u16(d, h[k]);
                break;
        }
        case 3:         /* q8_0, shape (2, 32): scales 0.5 and 2 */
                *gtype = 8; *ndim = 2; ne[0] = 32; ne[1] = 2;
                gb_u16(d, 0x3800);
                for (int k = 0; k < 32; k++)
                        gb_u8(d, (uint8_t)(int8_t)(k - 16));
                gb_u16(d, 0x4000);
                for (int k = 0; k < 32; k++)
                        gb_u8(d, (uint8_t)(int8_t)(-128 + 8 * k));
                break;
        case 4:         /* q4_0, shape (64): scales 0.25 and -1 */
                *gtype = 2; *ndim = 1; ne[0] = 64;
                gb_u16(d, 0x3400);
                for (int k = 0; k < 16; k++)
                        gb_u8(d, (uint8_t)((k & 0xf) | ((15 - k) << 4)));
                gb_u16(d, 0xbc00);
                for (int k = 0; k < 16; k++)
                        gb_u8(d, (uint8_t)(((k + 3) & 0xf) | (k << 4)));
                break;
        default:        /* q8_1 (32): one zero block, unsupported by read */
                *gtype = 9; *ndim = 1; ne[0] = 32;
                for (int k = 0; k < 36; k++)
                        gb_u8(d, 0);
                break;
        }
}

static float
expect_value(int i, int k)
{
        static const float f32[3] = {1.5f, -2.0f, 1e-3f};
        static const float f16[8] = {0, 1, -2, 0.5f, 65504, -0.0f,
                                     5.9604644775390625e-08f, 3.140625f};
        static const float bf16[4] = {1, -3, 3.140625f, 0};
        switch (i) {
        case 0: return f32[k];
        case 1: return f16[k];
        case 2: return bf16[k];
        case 3:
                return k < 32 ? (float)(k - 16) * 0.5f
                              : (float)(-128 + 8 * (k - 32)) * 2.0f;
        case 4: {
                int blk = k / 32, j = k % 32;
                float d = blk == 0 ? 0.25f : -1.0f;
                int q;
                if (blk == 0)
                        q = j < 16 ? (j & 0xf) : (15 - (j - 16));
                else
                        q = j < 16 ? ((j + 3) & 0xf) : (j - 16);
                return (float)(q - 8) * d;
        }
        }
        return NAN;
}

/* Build the fixture.  Returns the byte buffer (caller frees). */
static uint8_t *
build_gguf(int variant, size_t *len, struct layout *L)
{
        struct gb b = {0};
        struct gb data[N_TENSORS];
        uint32_t gtype[N_TENSORS];
        int ndim[N_TENSORS];
        uint64_t ne[N_TENSORS][4];
        const uint32_t align = 32;
        memset(L, 0, sizeof *L);
        memset(data, 0, sizeof data);

        gb_raw(&b, "GGUF", 4);
        L->version = b.n;
        gb_u32(&b, 3);
        L->n_tensors = b.n;
        gb_u64(&b, N_TENSORS);
        L->n_kv = b.n;
        int n_kv = 6 + ((variant & V_DUP_KEY) != 0) + ((variant & V_DEEP) != 0);
        gb_u64(&b, (uint64_t)n_kv);

        /* kv 0: general.architecture = "llama" */
        L->first_key_len = b.n;
        gb_str(&b, "general.architecture");
        gb_u32(&b, 8);
        gb_str(&b, "llama");
        /* kv 1: general.alignment = 32 (u32) */
        gb_str(&b, "general.alignment");
        L->type_of_kv1 = b.n;
        gb_u32(&b, 4);
        L->align_val = b.n;
        gb_u32(&b, align);
        /* kv 2: tokens, one containing a NUL byte */
        gb_str(&b, "tokenizer.ggml.tokens");
        gb_u32(&b, 9);
        gb_u32(&b, 8);
        gb_u64(&b, 3);
        gb_str(&b, "<s>");
        gb_strn(&b, "a\0b", 3);
        gb_str(&b, "");
        /* kv 3: scores f32 array */
        gb_str(&b, "tokenizer.ggml.scores");
        gb_u32(&b, 9);
        gb_u32(&b, 6);
        gb_u64(&b, 3);
        gb_f32(&b, 0.0f);
        gb_f32(&b, -1.5f);
        gb_f32(&b, 2.25f);
        /* kv 4: i32 scalar, negative */
        gb_str(&b, "test.i32");
        gb_u32(&b, 5);
        gb_u32(&b, (uint32_t)-7);
        /* kv 5: bool + u64 via general.name (string) */
        gb_str(&b, "general.name");
        gb_u32(&b, 8);
        gb_str(&b, "tiny");
        if (variant & V_DUP_KEY) {
                gb_str(&b, "general.name");
                gb_u32(&b, 7);
                gb_u8(&b, 1);
        }
        if (variant & V_DEEP) {
                gb_str(&b, "test.deep");
                gb_u32(&b, 9);
                for (int k = 0; k < 10; k++) {
                        gb_u32(&b, 9);  /* array of arrays */
                        gb_u64(&b, 1);
                }
                gb_u32(&b, 0);
                gb_u64(&b, 0);
        }

        uint64_t off = 0, offs[N_TENSORS];
        for (int i = 0; i < N_TENSORS; i++) {
                payload(i, &data[i], &gtype[i], &ndim[i], ne[i]);
                offs[i] = off;
                off += data[i].n;
                if (i + 1 < N_TENSORS)
                        off = (off + align - 1) / align * align;
        }
        for (int i = 0; i < N_TENSORS; i++) {
                const char *name = tensor_names[i];
                if ((variant & V_DUP_TENSOR) && i == 1)
                        name = tensor_names[0];
                gb_str(&b, name);
                L->ndim[i] = b.n;
                gb_u32(&b, (uint32_t)ndim[i]);
                L->ne0[i] = b.n;
                for (int d = 0; d < ndim[i]; d++)
                        gb_u64(&b, ne[i][d]);
                L->type[i] = b.n;
                gb_u32(&b, gtype[i]);
                L->offset[i] = b.n;
                gb_u64(&b, offs[i]);
        }
        L->n_tensor = N_TENSORS;
        while (b.n % align)
                gb_u8(&b, 0);
        size_t start = b.n;
        for (int i = 0; i < N_TENSORS; i++) {
                while (b.n < start + offs[i])
                        gb_u8(&b, 0);
                gb_raw(&b, data[i].p, data[i].n);
                free(data[i].p);
        }
        *len = b.n;
        return b.p;
}

static void
patch(uint8_t *p, size_t at, uint64_t v, int bytes)
{
        for (int i = 0; i < bytes; i++)
                p[at + (size_t)i] = (uint8_t)(v >> (8 * i));
}

/* Open a private, exactly-sized copy (so ASan sees any over-read). */
static int
open_copy(socfw_modelfile **mf, const uint8_t *p, size_t len,
          socfw_error *err)
{
        uint8_t *copy = malloc(len ? len : 1);
        cr_assert_not_null(copy);
        memcpy(copy, p, len);
        int rc = socfw_modelfile_open_memory(mf, copy, len, "x.gguf", err);
        socfw_modelfile_close(*mf);
        *mf = NULL;
        free(copy);
        return rc;
}

/* ---- the valid fixture ---- */

Test(model_gguf, fixture_opens_with_metadata)
{
        struct layout L;
        size_t len;
        uint8_t *p = build_gguf(0, &len, &L);
        socfw_modelfile *mf = NULL;
        socfw_error err = {0};
        char buf[2048];
        int rc = socfw_modelfile_open_memory(&mf, p, len, "x.gguf", &err);
        cr_assert_eq(rc, 0, "%s", socfw_error_string(&err, buf, sizeof buf));
        cr_assert_eq(socfw_modelfile_format_of(mf), SOCFW_MODELFILE_GGUF);
        cr_assert_eq(socfw_modelfile_gguf_version(mf), 3);
        cr_assert_eq(socfw_modelfile_n_tensors(mf), N_TENSORS);
        cr_assert_eq(socfw_modelfile_meta_count(mf), 6);

        const char *s;
        size_t sl;
        cr_assert_eq(socfw_modelfile_get_string(mf, "general.architecture",
                                                &s, &sl, NULL), 0);
        cr_assert_str_eq(s, "llama");
        cr_assert_eq(sl, 5);
        int64_t i64;
        cr_assert_eq(socfw_modelfile_get_int(mf, "test.i32", &i64, NULL), 0);
        cr_assert_eq(i64, -7);
        cr_assert_eq(socfw_modelfile_get_int(mf, "general.alignment", &i64,
                                             NULL), 0);
        cr_assert_eq(i64, 32);
        double d;
        cr_assert_eq(socfw_modelfile_get_float(mf, "test.i32", &d, NULL), 0);
        cr_assert_float_eq(d, -7.0, 1e-12);

        /* wrong type and missing key give clear errors */
        socfw_error e2 = {0};
        cr_assert_eq(socfw_modelfile_get_int(mf, "general.name", &i64, &e2),
                     SOCFW_EINVAL);
        cr_assert(strstr(e2.message, "general.name") &&
                  strstr(e2.message, "string"), "%s", e2.message);
        socfw_error_clear(&e2);
        cr_assert_eq(socfw_modelfile_get_bool(mf, "nope", NULL, &e2),
                     SOCFW_ENOTFOUND);
        cr_assert(strstr(e2.message, "'nope'"), "%s", e2.message);

        /* string array with a NUL inside a token */
        const socfw_strview *items;
        size_t n;
        cr_assert_eq(socfw_modelfile_get_string_array(
                             mf, "tokenizer.ggml.tokens", &items, &n, NULL),
                     0);
        cr_assert_eq(n, 3);
        cr_assert_str_eq(items[0].ptr, "<s>");
        cr_assert_eq(items[1].len, 3);
        cr_assert_eq(memcmp(items[1].ptr, "a\0b", 4), 0);
        cr_assert_eq(items[2].len, 0);
        cr_assert_str_eq(items[2].ptr, "");

        socfw_meta_type et;
        cr_assert_eq(socfw_modelfile_get_array(mf, "tokenizer.ggml.scores",
                                               &et, &n, NULL), 0);
        cr_assert_eq(et, SOCFW_META_F32);
        float sc[3];
        cr_assert_eq(socfw_modelfile_get_f32_array(
                             mf, "tokenizer.ggml.scores", sc, 3, NULL), 0);
        cr_assert_float_eq(sc[1], -1.5f, 1e-7);
        cr_assert_float_eq(sc[2], 2.25f, 1e-7);
        /* wrong n is refused */
        cr_assert_eq(socfw_modelfile_get_f32_array(
                             mf, "tokenizer.ggml.scores", sc, 2, NULL),
                     SOCFW_EINVAL);
        int32_t i32[3];
        cr_assert_eq(socfw_modelfile_get_i32_array(
                             mf, "tokenizer.ggml.tokens", i32, 3, NULL),
                     SOCFW_EINVAL);

        /* shapes are outermost first */
        const socfw_tensor_info *t = socfw_modelfile_find(mf, "f16");
        cr_assert_not_null(t);
        cr_assert_eq(t->ndim, 2);
        cr_assert_eq(t->shape[0], 2);
        cr_assert_eq(t->shape[1], 4);
        cr_assert_eq(t->nelem, 8);
        cr_assert_eq(t->nbytes, 16);
        cr_assert_eq(t->offset % 32, 0);
        cr_assert_null(socfw_modelfile_find(mf, "missing"));
        cr_assert_str_eq(socfw_modelfile_tensor(mf, 0)->name, "f32");
        cr_assert_null(socfw_modelfile_tensor(mf, N_TENSORS));
        socfw_modelfile_close(mf);
        free(p);
}

Test(model_gguf, dequantises_exactly)
{
        struct layout L;
        size_t len;
        uint8_t *p = build_gguf(0, &len, &L);
        socfw_modelfile *mf = NULL;
        cr_assert_eq(socfw_modelfile_open_memory(&mf, p, len, NULL, NULL), 0);
        for (int i = 0; i < 5; i++) {
                const socfw_tensor_info *t = socfw_modelfile_find(
                        mf, tensor_names[i]);
                cr_assert_not_null(t, "%s", tensor_names[i]);
                float out[64];
                socfw_error err = {0};
                cr_assert_eq(socfw_modelfile_read_f32(mf, t, out, 64, &err),
                             0, "%s", err.message);
                for (int k = 0; k < t->nelem; k++) {
                        float e = expect_value(i, k);
                        /* these values are exact in float */
                        cr_assert(out[k] == e || (isnan(e) && isnan(out[k])),
                                  "%s[%d] = %.9g, expected %.9g",
                                  tensor_names[i], k, out[k], e);
                }
                if (i == 1)     /* sign of -0.0 kept */
                        cr_assert(signbit(out[5]));
        }
        /* rows: second row of q8_0 */
        const socfw_tensor_info *q8 = socfw_modelfile_find(mf, "q8_0");
        float row[32];
        cr_assert_eq(socfw_modelfile_read_f32_rows(mf, q8, 1, 1, row, 32,
                                                   NULL), 0);
        cr_assert_eq(row[0], -256.0f);
        cr_assert_eq(row[31], (-128 + 8 * 31) * 2.0f);
        cr_assert_eq(socfw_modelfile_read_f32_rows(mf, q8, 1, 2, row, 64,
                                                   NULL), SOCFW_EINVAL);
        /* destination too small */
        float small[8];
        cr_assert_eq(socfw_modelfile_read_f32(mf, q8, small, 8, NULL),
                     SOCFW_EINVAL);
        /* F32 zero-copy view (aligned inside our buffer? malloc gives >= 8) */
        const socfw_tensor_info *f32 = socfw_modelfile_find(mf, "f32");
        const float *v = socfw_modelfile_f32_data(f32);
        cr_assert_not_null(v);
        cr_assert_eq(v[0], 1.5f);
        cr_assert_null(socfw_modelfile_f32_data(q8));
        /* unsupported dtype names the tensor */
        const socfw_tensor_info *qk = socfw_modelfile_find(mf, "q8_1");
        cr_assert_eq(qk->dtype, SOCFW_DTYPE_Q8_1);
        float *big = malloc(256 * sizeof *big);
        socfw_error err = {0};
        cr_assert_eq(socfw_modelfile_read_f32(mf, qk, big, 256, &err),
                     SOCFW_EUNSUPPORTED);
        cr_assert(strstr(err.message, "'q8_1'") &&
                  strstr(err.message, "Q8_1"), "%s", err.message);
        free(big);
        socfw_modelfile_close(mf);
        free(p);
}

Test(model_gguf, file_on_disk_is_mapped, .timeout = 10)
{
        struct layout L;
        size_t len;
        char dir[4096], path[4200];
        uint8_t *p = build_gguf(0, &len, &L);
        cr_assert_not_null(socfw_test_tmpdir(dir, sizeof dir));
        snprintf(path, sizeof path, "%s/tiny.gguf", dir);
        cr_assert_eq(socfw_test_write_file(path, p, len), 0);
        socfw_modelfile *mf = NULL;
        cr_assert_eq(socfw_modelfile_open(&mf, path, NULL), 0);
        cr_assert_str_eq(socfw_modelfile_dir(mf), dir);
        cr_assert_str_eq(socfw_modelfile_path(mf), path);
        const socfw_tensor_info *t = socfw_modelfile_find(mf, "bf16");
        cr_assert_str_eq(t->file, path);
        float out[4];
        cr_assert_eq(socfw_modelfile_read_f32(mf, t, out, 4, NULL), 0);
        cr_assert_eq(out[1], -3.0f);
        socfw_modelfile_close(mf);

        /* the directory with one .gguf opens too */
        cr_assert_eq(socfw_modelfile_open(&mf, dir, NULL), 0);
        cr_assert_eq(socfw_modelfile_format_of(mf), SOCFW_MODELFILE_GGUF);
        socfw_modelfile_close(mf);
        free(p);
}

/* ---- corrupt files ---- */

Test(model_gguf, every_truncation_is_rejected, .timeout = 30)
{
        struct layout L;
        size_t len;
        uint8_t *p = build_gguf(0, &len, &L);
        for (size_t cut = 0; cut < len; cut++) {
                socfw_modelfile *mf = NULL;
                socfw_error err = {0};
                int rc = open_copy(&mf, p, cut, &err);
                cr_assert_lt(rc, 0, "prefix of %zu/%zu bytes accepted", cut,
                             len);
                cr_assert_neq(err.message[0], '\0', "no message at %zu", cut);
                cr_assert_str_eq(err.file, "x.gguf");
        }
        free(p);
}

struct corrupt_case {
        const char *what;
        size_t (*where)(const struct layout *L);
        uint64_t value;
        int bytes;
        int code;
        const char *expect;     /* substring of the message */
};

static size_t at_magic(const struct layout *L) { (void)L; return 0; }
static size_t at_version(const struct layout *L) { return L->version; }
static size_t at_ntensors(const struct layout *L) { return L->n_tensors; }
static size_t at_nkv(const struct layout *L) { return L->n_kv; }
static size_t at_keylen(const struct layout *L) { return L->first_key_len; }
static size_t at_kvtype(const struct layout *L) { return L->type_of_kv1; }
static size_t at_align(const struct layout *L) { return L->align_val; }
static size_t at_off1(const struct layout *L) { return L->offset[1]; }
static size_t at_ndim1(const struct layout *L) { return L->ndim[1]; }
static size_t at_ne0(const struct layout *L) { return L->ne0[1]; }
static size_t at_ne1(const struct layout *L) { return L->ne0[1] + 8; }
static size_t at_type1(const struct layout *L) { return L->type[1]; }
static size_t at_q8ne0(const struct layout *L) { return L->ne0[3]; }

static const struct corrupt_case cases[] = {
        {"bad magic", at_magic, 0x58554747, 4, SOCFW_EFORMAT, "magic"},
        {"version 1", at_version, 1, 4, SOCFW_EUNSUPPORTED, "version 1"},
        {"version 99", at_version, 99, 4, SOCFW_EUNSUPPORTED, "version 99"},
        {"big-endian", at_version, 0x03000000, 4, SOCFW_EUNSUPPORTED,
         "big-endian"},
        {"n_tensors 2^63", at_ntensors, 1ull << 63, 8, SOCFW_EFORMAT,
         "tensor count 9223372036854775808"},
        {"n_tensors 2^64-1", at_ntensors, UINT64_MAX, 8, SOCFW_EFORMAT,
         "tensor count"},
        {"n_kv 2^63", at_nkv, 1ull << 63, 8, SOCFW_EFORMAT,
         "metadata count"},
        {"string length past end", at_keylen, 1ull << 40, 8, SOCFW_EFORMAT,
         "past end of file"},
        {"string length 2^64-1", at_keylen, UINT64_MAX, 8, SOCFW_EFORMAT,
         "past end of file"},
        {"unknown kv type", at_kvtype, 13, 4, SOCFW_EFORMAT,
         "unknown value type 13"},
        {"alignment not power of 2", at_align, 33, 4, SOCFW_EFORMAT,
         "power of two"},
        {"alignment zero", at_align, 0, 4, SOCFW_EFORMAT, "power of two"},
        {"data offset past end", at_off1, 1ull << 20, 8, SOCFW_EFORMAT,
         "tensor 1 'f16': data offset 1048576 + size 16 past end of file"},
        {"data offset huge", at_off1, UINT64_MAX - 31, 8, SOCFW_EFORMAT,
         "past end of file"},
        {"misaligned offset", at_off1, 33, 8, SOCFW_EFORMAT,
         "not a multiple of the alignment"},
        {"overlapping tensors", at_off1, 0, 8, SOCFW_EFORMAT, "overlaps"},
        {"ndim > max", at_ndim1, 5, 4, SOCFW_EFORMAT, "5 dimensions"},
        {"ndim huge", at_ndim1, UINT32_MAX, 4, SOCFW_EFORMAT, "dimensions"},
        {"shape product overflow", at_ne1, 1ull << 62, 8, SOCFW_EFORMAT,
         "overflow"},
        {"dimension > INT64_MAX", at_ne0, UINT64_MAX, 8, SOCFW_EFORMAT,
         "overflow"},
        {"unknown dtype", at_type1, 99, 4, SOCFW_EUNSUPPORTED,
         "tensor type 99"},
        {"IQ type", at_type1, 16, 4, SOCFW_EUNSUPPORTED, "tensor type 16"},
        {"not a block multiple", at_q8ne0, 33, 8, SOCFW_EFORMAT,
         "block size"},
};

Test(model_gguf, corrupt_fields_are_rejected_clearly)
{
        struct layout L;
        size_t len;
        uint8_t *p = build_gguf(0, &len, &L);
        uint8_t *q = malloc(len);
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                const struct corrupt_case *c = &cases[i];
                memcpy(q, p, len);
                patch(q, c->where(&L), c->value, c->bytes);
                socfw_modelfile *mf = NULL;
                socfw_error err = {0};
                char buf[2048];
                int rc = open_copy(&mf, q, len, &err);
                socfw_error_string(&err, buf, sizeof buf);
                cr_assert_eq(rc, c->code, "%s: rc %d: %s", c->what, rc, buf);
                cr_assert(strstr(buf, c->expect),
                          "%s: message '%s' lacks '%s'", c->what, buf,
                          c->expect);
                cr_assert(strncmp(buf, "x.gguf: ", 8) == 0, "%s", buf);
        }
        free(q);
        free(p);
}

Test(model_gguf, duplicates_and_deep_nesting_are_rejected)
{
        static const struct {
                int variant;
                const char *expect;
        } v[] = {
                {V_DUP_TENSOR, "duplicate tensor name 'f32'"},
                {V_DUP_KEY, "duplicate metadata key 'general.name'"},
                {V_DEEP, "nested more than"},
        };
        for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
                struct layout L;
                size_t len;
                uint8_t *p = build_gguf(v[i].variant, &len, &L);
                socfw_modelfile *mf = NULL;
                socfw_error err = {0};
                cr_assert_eq(open_copy(&mf, p, len, &err), SOCFW_EFORMAT,
                             "variant %d: %s", v[i].variant, err.message);
                cr_assert(strstr(err.message, v[i].expect), "%s",
                          err.message);
                free(p);
        }
}

Test(model_gguf, garbage_and_missing_files)
{
        socfw_modelfile *mf = (socfw_modelfile *)1;
        socfw_error err = {0};
        cr_assert_eq(socfw_modelfile_open(&mf, "/nonexistent/x.gguf", &err),
                     SOCFW_ENOTFOUND);
        cr_assert_null(mf);
        cr_assert(strstr(err.message, "cannot open"), "%s", err.message);
        socfw_error_clear(&err);
        cr_assert_lt(socfw_modelfile_open_memory(&mf, "", 0, NULL, &err), 0);
        socfw_modelfile_close(NULL);
}

/* ---- the real model ---- */

Test(model_gguf, stories260K, .timeout = 30)
{
        char path[4096];
        SOCFW_TEST_NEED_SHARED(path, "models/stories260K.gguf");
        socfw_modelfile *mf = NULL;
        socfw_error err = {0};
        char buf[2048];
        cr_assert_eq(socfw_modelfile_open(&mf, path, &err), 0, "%s",
                     socfw_error_string(&err, buf, sizeof buf));
        const char *arch;
        cr_assert_eq(socfw_modelfile_get_string(mf, "general.architecture",
                                                &arch, NULL, NULL), 0);
        cr_assert_str_eq(arch, "llama");
        static const struct {
                const char *key;
                int64_t value;
        } ints[] = {
                {"llama.embedding_length", 64},
                {"llama.block_count", 5},
                {"llama.attention.head_count", 8},
                {"llama.attention.head_count_kv", 4},
                {"llama.feed_forward_length", 172},
                {"llama.context_length", 2048},
                {"tokenizer.ggml.bos_token_id", 1},
                {"tokenizer.ggml.eos_token_id", 2},
        };
        for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
                int64_t v = -1;
                cr_assert_eq(socfw_modelfile_get_int(mf, ints[i].key, &v,
                                                     NULL), 0, "%s",
                             ints[i].key);
                cr_assert_eq(v, ints[i].value, "%s = %lld", ints[i].key,
                             (long long)v);
        }
        double eps;
        cr_assert_eq(socfw_modelfile_get_float(
                             mf, "llama.attention.layer_norm_rms_epsilon",
                             &eps, NULL), 0);
        cr_assert_float_eq(eps, 1e-5, 1e-9);

        const socfw_strview *tok;
        size_t n;
        cr_assert_eq(socfw_modelfile_get_string_array(
                             mf, "tokenizer.ggml.tokens", &tok, &n, NULL), 0);
        cr_assert_eq(n, 512);
        cr_assert_str_eq(tok[1].ptr, "<s>");
        cr_assert_str_eq(tok[3].ptr, "<0x00>");
        float scores[512];
        cr_assert_eq(socfw_modelfile_get_f32_array(
                             mf, "tokenizer.ggml.scores", scores, 512, NULL),
                     0);
        cr_assert_float_eq(scores[300], -41.0f, 1e-6);
        int32_t types[512];
        cr_assert_eq(socfw_modelfile_get_i32_array(
                             mf, "tokenizer.ggml.token_type", types, 512,
                             NULL), 0);
        cr_assert_eq(types[0], 2);
        cr_assert_eq(types[3], 6);

        static const struct {
                const char *name;
                int ndim;
                int64_t s0, s1;
        } shapes[] = {
                {"token_embd.weight", 2, 512, 64},
                {"output.weight", 2, 512, 64},
                {"output_norm.weight", 1, 64, 1},
                {"blk.0.attn_q.weight", 2, 64, 64},
                {"blk.0.attn_k.weight", 2, 32, 64},
                {"blk.4.ffn_gate.weight", 2, 172, 64},
                {"blk.4.ffn_down.weight", 2, 64, 172},
        };
        for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
                const socfw_tensor_info *t = socfw_modelfile_find(
                        mf, shapes[i].name);
                cr_assert_not_null(t, "%s", shapes[i].name);
                cr_assert_eq(t->dtype, SOCFW_DTYPE_F32);
                cr_assert_eq(t->ndim, shapes[i].ndim, "%s", t->name);
                cr_assert_eq(t->shape[0], shapes[i].s0, "%s", t->name);
                cr_assert_eq(t->shape[1], shapes[i].s1, "%s", t->name);
        }
        cr_assert_null(socfw_modelfile_find(mf, "blk.5.attn_q.weight"));

        /* values (reference: struct.unpack of the file in Python) */
        const socfw_tensor_info *emb = socfw_modelfile_find(
                mf, "token_embd.weight");
        float *w = malloc((size_t)emb->nelem * sizeof *w);
        cr_assert_eq(socfw_modelfile_read_f32(mf, emb, w, (size_t)emb->nelem,
                                              NULL), 0);
        cr_assert_float_eq(w[0], -0.29474878f, 1e-7);
        cr_assert_float_eq(w[3], 0.34057361f, 1e-7);
        cr_assert_float_eq(w[511 * 64 + 63], -0.4240326f, 1e-7);
        float row[64];
        cr_assert_eq(socfw_modelfile_read_f32_rows(mf, emb, 511, 1, row, 64,
                                                   NULL), 0);
        cr_assert_eq(row[63], w[511 * 64 + 63]);
        free(w);
        socfw_modelfile_close(mf);
}

/* ---- fixtures written by tests/fixtures/model/make_fixtures.py ---- */

Test(model_gguf, python_written_fixture, .timeout = 10)
{
        char path[4096];
        socfw_test_path(path, sizeof path, socfw_test_srcdir(),
                        "tests/fixtures/model/tiny.gguf");
        socfw_modelfile *mf = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_modelfile_open(&mf, path, &err), 0, "%s",
                     err.message);
        int64_t v;
        cr_assert_eq(socfw_modelfile_get_int(mf, "llama.block_count", &v,
                                             NULL), 0);
        cr_assert_eq(v, 2);
        float out[32];
        const socfw_tensor_info *t = socfw_modelfile_find(mf, "w.f32");
        cr_assert_eq(t->shape[0], 2);
        cr_assert_eq(t->shape[1], 3);
        cr_assert_eq(socfw_modelfile_read_f32(mf, t, out, 32, NULL), 0);
        for (int i = 0; i < 6; i++)
                cr_assert_eq(out[i], 0.5f * (float)i - 1.0f);
        t = socfw_modelfile_find(mf, "w.f16");
        cr_assert_eq(socfw_modelfile_read_f32(mf, t, out, 32, NULL), 0);
        cr_assert_eq(out[1], -0.5f);
        cr_assert_eq(out[3], 0.25f);
        t = socfw_modelfile_find(mf, "w.q8");
        cr_assert_eq(socfw_modelfile_read_f32(mf, t, out, 32, NULL), 0);
        for (int i = 0; i < 32; i++)
                cr_assert_eq(out[i], 0.125f * (float)(i - 16));
        t = socfw_modelfile_find(mf, "w.q4");
        cr_assert_eq(socfw_modelfile_read_f32(mf, t, out, 32, NULL), 0);
        for (int i = 0; i < 32; i++) {
                int q = i < 16 ? i : 15 - (i - 16);
                cr_assert_eq(out[i], 0.5f * (float)(q - 8), "%d", i);
        }
        socfw_modelfile_close(mf);

        socfw_test_path(path, sizeof path, socfw_test_srcdir(),
                        "tests/fixtures/model/tiny.safetensors");
        cr_assert_eq(socfw_modelfile_open(&mf, path, &err), 0, "%s",
                     err.message);
        t = socfw_modelfile_find(mf, "b");
        cr_assert_eq(t->dtype, SOCFW_DTYPE_I32);
        cr_assert_eq(socfw_modelfile_read_f32(mf, t, out, 32, NULL), 0);
        cr_assert_eq(out[0], -1.0f);
        cr_assert_eq(out[2], 7.0f);
        socfw_modelfile_close(mf);
}

/* Found by tests/fuzz/fuzz_quant.c: a row range near INT64_MAX overflowed
 * while the refusal was being worded, and the rows of an empty tensor were
 * counted by multiplying outer dimensions that nothing bounds. */
Test(model_gguf, row_ranges_never_overflow)
{
        struct gb b = {0};
        gb_raw(&b, "GGUF", 4);
        gb_u32(&b, 3);
        gb_u64(&b, 2);                          /* tensors  */
        gb_u64(&b, 0);                          /* metadata */
        gb_str(&b, "m");                        /* Q8_0, 4 rows of 32 */
        gb_u32(&b, 2);
        gb_u64(&b, 32);
        gb_u64(&b, 4);
        gb_u32(&b, 8);
        gb_u64(&b, 0);
        gb_str(&b, "empty");                    /* F32 [2^62, 2^62, 0] */
        gb_u32(&b, 3);
        gb_u64(&b, 0);
        gb_u64(&b, UINT64_C(1) << 62);
        gb_u64(&b, UINT64_C(1) << 62);
        gb_u32(&b, 0);
        gb_u64(&b, 0);
        while (b.n % 32)
                gb_u8(&b, 0);
        for (int i = 0; i < 4 * 34; i++)
                gb_u8(&b, (uint8_t)i);

        socfw_modelfile *mf = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_modelfile_open_memory(&mf, b.p, b.n, "r.gguf",
                                                 &err), 0, "%s", err.message);
        const socfw_tensor_info *m = socfw_modelfile_find(mf, "m");
        const socfw_tensor_info *e = socfw_modelfile_find(mf, "empty");
        cr_assert(m && e);
        float out[64];
        cr_assert_eq(socfw_modelfile_read_f32_rows(mf, m, 1, INT64_MAX, out,
                                                   64, &err), SOCFW_EINVAL);
        cr_assert(strstr(err.message, "from row 1 out of range (it has 4 "
                                      "rows)"), "%s", err.message);
        cr_assert_eq(socfw_modelfile_read_f32_rows(mf, m, INT64_MAX, 1, out,
                                                   64, NULL), SOCFW_EINVAL);
        cr_assert_eq(socfw_modelfile_read_f32_rows(mf, m, 3, 1, out, 32,
                                                   NULL), 0);
        /* 2^124 empty rows: counted as INT64_MAX, every range reads nothing */
        cr_assert_eq(e->nelem, 0);
        cr_assert_eq(socfw_modelfile_read_f32_rows(mf, e, 0, INT64_MAX, out,
                                                   1, &err), 0, "%s",
                     err.message);
        cr_assert_eq(socfw_modelfile_read_f32_rows(mf, e, INT64_MAX, 1, out,
                                                   1, NULL), SOCFW_EINVAL);
        cr_assert_eq(socfw_modelfile_read_f32_rows(mf, e, -1, 1, out, 1,
                                                   NULL), SOCFW_EINVAL);
        socfw_modelfile_close(mf);
        free(b.p);
}
