/* dtype.c - tensor element types (socfw/dtype.h): names, block sizes,
 * half-precision conversion, and dequantisation of F16/BF16 and of the
 * GGML 32-element block formats (the K-quants are in kquants.c). */
#include "socfw/dtype.h"
#include "socfw/error.h"
#include "socfw/qtensor.h"
#include "nn/nn_internal.h"

#include <math.h>
#include <string.h>

/* ---- type table ---- */

static const struct {
        const char *name;
        size_t block;           /* elements per block */
        size_t bytes;           /* bytes per block    */
} dtype_table[SOCFW_DTYPE_COUNT] = {
        [SOCFW_DTYPE_F32] = {"F32", 1, 4},
        [SOCFW_DTYPE_F16] = {"F16", 1, 2},
        [SOCFW_DTYPE_BF16] = {"BF16", 1, 2},
        [SOCFW_DTYPE_F64] = {"F64", 1, 8},
        [SOCFW_DTYPE_I8] = {"I8", 1, 1},
        [SOCFW_DTYPE_I16] = {"I16", 1, 2},
        [SOCFW_DTYPE_I32] = {"I32", 1, 4},
        [SOCFW_DTYPE_I64] = {"I64", 1, 8},
        [SOCFW_DTYPE_U8] = {"U8", 1, 1},
        [SOCFW_DTYPE_U16] = {"U16", 1, 2},
        [SOCFW_DTYPE_U32] = {"U32", 1, 4},
        [SOCFW_DTYPE_U64] = {"U64", 1, 8},
        [SOCFW_DTYPE_BOOL] = {"BOOL", 1, 1},
        [SOCFW_DTYPE_Q4_0] = {"Q4_0", 32, 18},
        [SOCFW_DTYPE_Q4_1] = {"Q4_1", 32, 20},
        [SOCFW_DTYPE_Q5_0] = {"Q5_0", 32, 22},
        [SOCFW_DTYPE_Q5_1] = {"Q5_1", 32, 24},
        [SOCFW_DTYPE_Q8_0] = {"Q8_0", 32, 34},
        [SOCFW_DTYPE_Q8_1] = {"Q8_1", 32, 36},
        [SOCFW_DTYPE_Q2_K] = {"Q2_K", 256, 84},
        [SOCFW_DTYPE_Q3_K] = {"Q3_K", 256, 110},
        [SOCFW_DTYPE_Q4_K] = {"Q4_K", 256, 144},
        [SOCFW_DTYPE_Q5_K] = {"Q5_K", 256, 176},
        [SOCFW_DTYPE_Q6_K] = {"Q6_K", 256, 210},
        [SOCFW_DTYPE_Q8_K] = {"Q8_K", 256, 292},
};

static int
dtype_valid(socfw_dtype t)
{
        return (int)t >= 0 && t < SOCFW_DTYPE_COUNT;
}

const char *
socfw_dtype_name(socfw_dtype t)
{
        return dtype_valid(t) ? dtype_table[t].name : "?";
}

int
socfw_dtype_from_name(const char *name, socfw_dtype *out)
{
        if (!name)
                return SOCFW_ENOTFOUND;
        for (int i = 0; i < SOCFW_DTYPE_COUNT; i++) {
                if (strcmp(dtype_table[i].name, name) == 0) {
                        if (out)
                                *out = (socfw_dtype)i;
                        return 0;
                }
        }
        return SOCFW_ENOTFOUND;
}

size_t
socfw_dtype_block_size(socfw_dtype t)
{
        return dtype_valid(t) ? dtype_table[t].block : 0;
}

size_t
socfw_dtype_block_bytes(socfw_dtype t)
{
        return dtype_valid(t) ? dtype_table[t].bytes : 0;
}

const int *
socfw_dtype_scale_offsets(socfw_dtype t)
{
        static const int none[] = {-1}, d[] = {0, -1}, dm[] = {0, 2, -1},
                         q2k[] = {80, 82, -1}, q3k[] = {108, -1},
                         q6k[] = {208, -1};
        switch (t) {
        case SOCFW_DTYPE_Q4_0:
        case SOCFW_DTYPE_Q5_0:
        case SOCFW_DTYPE_Q8_0:
                return d;
        case SOCFW_DTYPE_Q4_1:
        case SOCFW_DTYPE_Q5_1:
        case SOCFW_DTYPE_Q4_K:
        case SOCFW_DTYPE_Q5_K:
                return dm;
        case SOCFW_DTYPE_Q2_K:
                return q2k;
        case SOCFW_DTYPE_Q3_K:
                return q3k;
        case SOCFW_DTYPE_Q6_K:
                return q6k;
        default:
                return none;
        }
}

int
socfw_dtype_nbytes(socfw_dtype t, uint64_t nelem, size_t *out)
{
        if (!dtype_valid(t))
                return SOCFW_EINVAL;
        uint64_t bs = dtype_table[t].block, bb = dtype_table[t].bytes;
        if (nelem % bs != 0)
                return SOCFW_EINVAL;
        uint64_t nblocks = nelem / bs;
        if (nblocks > SIZE_MAX / bb)
                return SOCFW_EINVAL;
        if (out)
                *out = (size_t)(nblocks * bb);
        return 0;
}

/* ---- half precision ---- */

static float
bits_to_f32(uint32_t u)
{
        float f;
        memcpy(&f, &u, sizeof f);
        return f;
}

static uint32_t
f32_to_bits(float f)
{
        uint32_t u;
        memcpy(&u, &f, sizeof u);
        return u;
}

float
socfw_f16_to_f32(uint16_t h)
{
        uint32_t sign = (uint32_t)(h & 0x8000) << 16;
        uint32_t exp = (h >> 10) & 0x1f;
        uint32_t man = h & 0x3ff;
        if (exp == 0x1f)                        /* inf / nan */
                return bits_to_f32(sign | 0x7f800000u | (man << 13));
        if (exp == 0) {
                /* zero or subnormal: man * 2^-24, exact in float */
                float v = (float)man * 5.9604644775390625e-08f;
                return sign ? -v : v;
        }
        return bits_to_f32(sign | ((exp + 112) << 23) | (man << 13));
}

float
socfw_bf16_to_f32(uint16_t h)
{
        return bits_to_f32((uint32_t)h << 16);
}

uint16_t
socfw_f32_to_f16(float f)
{
        uint32_t u = f32_to_bits(f);
        uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
        uint32_t a = u & 0x7fffffffu;
        if (a >= 0x7f800000u)                   /* inf or nan */
                return sign | 0x7c00 | (a > 0x7f800000u ? 0x200 : 0);
        if (a >= 0x477ff000u)                   /* rounds to >= 65536 */
                return sign | 0x7c00;
        if (a < 0x38800000u) {
                /* result is subnormal (or zero) in f16: value / 2^-24
                 * rounded to nearest even */
                float v = bits_to_f32(a) * 16777216.0f;
                return sign | (uint16_t)lrintf(v);
        }
        /* normal: rebias exponent, round mantissa to nearest even */
        uint32_t r = a + 0xfffu + ((a >> 13) & 1);
        return sign | (uint16_t)((r - 0x38000000u) >> 13);
}

uint16_t
socfw_f32_to_bf16(float f)
{
        uint32_t u = f32_to_bits(f);
        if ((u & 0x7fffffffu) > 0x7f800000u)    /* nan: keep it quiet nan */
                return (uint16_t)((u >> 16) | 0x40);
        u += 0x7fffu + ((u >> 16) & 1);
        return (uint16_t)(u >> 16);
}

/* ---- block formats ---- */

static uint16_t
rd16(const uint8_t *p)
{
        return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t
rd32(const uint8_t *p)
{
        return (uint32_t)p[0] | ((uint32_t)p[1] << 8) |
               ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static float
half(const uint8_t *p)
{
        return socfw_f16_to_f32(rd16(p));
}

/* Every block format is read through one function per type that unpacks a
 * block into small integers q and, per group of 16 elements, a scale s and
 * an offset m: element e = s[e/16] * q[e] + m[e/16] (nn_internal.h).  The
 * dequantiser and the integer dot products share it, so both read the
 * layout from one place.  The 32-element formats, little-endian:
 *
 *   Q8_0 34 B  f16 d, int8 q[32]                      x = q * d
 *   Q4_0 18 B  f16 d, 16 bytes: low nibbles are elements 0..15, high
 *              nibbles 16..31                         x = (q - 8) * d
 *   Q4_1 20 B  f16 d, f16 m, 16 bytes of nibbles      x = q * d + m
 *   Q5_0 22 B  f16 d, u32 qh, 16 bytes of nibbles; bit j of qh is the
 *              5th bit of element j                   x = (q - 16) * d
 *   Q5_1 24 B  f16 d, f16 m, u32 qh, 16 bytes         x = q * d + m
 */
static void
unpack_q8_0(const uint8_t *x, int8_t *q, float *s, float *m)
{
        s[0] = s[1] = half(x);
        m[0] = m[1] = 0.0f;
        memcpy(q, x + 2, 32);
}

static void
unpack_q4_0(const uint8_t *x, int8_t *q, float *s, float *m)
{
        s[0] = s[1] = half(x);
        m[0] = m[1] = 0.0f;
        for (int j = 0; j < 16; j++) {
                q[j] = (int8_t)((x[2 + j] & 0x0f) - 8);
                q[j + 16] = (int8_t)((x[2 + j] >> 4) - 8);
        }
}

static void
unpack_q4_1(const uint8_t *x, int8_t *q, float *s, float *m)
{
        s[0] = s[1] = half(x);
        m[0] = m[1] = half(x + 2);
        for (int j = 0; j < 16; j++) {
                q[j] = (int8_t)(x[4 + j] & 0x0f);
                q[j + 16] = (int8_t)(x[4 + j] >> 4);
        }
}

/* Q5_0 (has_m 0) and Q5_1 (has_m 1) */
static void
unpack_q5(const uint8_t *x, int has_m, int8_t *q, float *s, float *m)
{
        s[0] = s[1] = half(x);
        m[0] = m[1] = has_m ? half(x + 2) : 0.0f;
        const uint8_t *p = x + (has_m ? 4 : 2);
        uint32_t qh = rd32(p);
        const uint8_t *qs = p + 4;
        int off = has_m ? 0 : 16;
        for (int j = 0; j < 16; j++) {
                int lo = (qs[j] & 0x0f) | (int)(((qh >> j) & 1) << 4);
                int hi = (qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
                q[j] = (int8_t)(lo - off);
                q[j + 16] = (int8_t)(hi - off);
        }
}

static void
unpack_q5_0(const uint8_t *x, int8_t *q, float *s, float *m)
{
        unpack_q5(x, 0, q, s, m);
}

static void
unpack_q5_1(const uint8_t *x, int8_t *q, float *s, float *m)
{
        unpack_q5(x, 1, q, s, m);
}

static const nn_qtraits qtraits[SOCFW_DTYPE_COUNT] = {
        [SOCFW_DTYPE_Q8_0] = {32, 34, unpack_q8_0},
        [SOCFW_DTYPE_Q4_0] = {32, 18, unpack_q4_0},
        [SOCFW_DTYPE_Q4_1] = {32, 20, unpack_q4_1},
        [SOCFW_DTYPE_Q5_0] = {32, 22, unpack_q5_0},
        [SOCFW_DTYPE_Q5_1] = {32, 24, unpack_q5_1},
        [SOCFW_DTYPE_Q2_K] = {256, 84, nn_unpack_q2_k},
        [SOCFW_DTYPE_Q3_K] = {256, 110, nn_unpack_q3_k},
        [SOCFW_DTYPE_Q4_K] = {256, 144, nn_unpack_q4_k},
        [SOCFW_DTYPE_Q5_K] = {256, 176, nn_unpack_q5_k},
        [SOCFW_DTYPE_Q6_K] = {256, 210, nn_unpack_q6_k},
        [SOCFW_DTYPE_Q8_K] = {256, 292, nn_unpack_q8_k},
};

const nn_qtraits *
nn_qtraits_of(socfw_dtype t)
{
        if (!dtype_valid(t) || !qtraits[t].unpack)
                return NULL;
        return &qtraits[t];
}

void
nn_dequant_blocks(const nn_qtraits *tr, const uint8_t *src, size_t nblocks,
                  float *dst)
{
        int8_t q[256];
        float s[16], m[16];
        for (size_t b = 0; b < nblocks; b++, src += tr->bytes) {
                tr->unpack(src, q, s, m);
                for (int e = 0; e < tr->block; e++)
                        *dst++ = s[e / 16] * (float)q[e] + m[e / 16];
        }
}

/* ---- dequantisation ---- */

int
socfw_dtype_to_f32(socfw_dtype t, const void *src_, size_t nelem, float *dst)
{
        const uint8_t *s = src_;
        switch (t) {
        case SOCFW_DTYPE_F32:
                memcpy(dst, s, nelem * 4);
                return 0;
        case SOCFW_DTYPE_F16:
                for (size_t i = 0; i < nelem; i++)
                        dst[i] = socfw_f16_to_f32(rd16(s + 2 * i));
                return 0;
        case SOCFW_DTYPE_BF16:
                for (size_t i = 0; i < nelem; i++)
                        dst[i] = socfw_bf16_to_f32(rd16(s + 2 * i));
                return 0;
        default: {
                const nn_qtraits *tr = nn_qtraits_of(t);
                if (!tr)
                        return SOCFW_EUNSUPPORTED;
                nn_dequant_blocks(tr, s, nelem / (size_t)tr->block, dst);
                return 0;
        }
        }
}
