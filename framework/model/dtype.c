/* dtype.c - tensor element types: names, block sizes, half-precision
 * conversion and dequantisation of the GGML block formats. */
#include "model/modelfile_internal.h"

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

/* ---- conversion to float32 ---- */

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

static uint64_t
rd64(const uint8_t *p)
{
        return (uint64_t)rd32(p) | ((uint64_t)rd32(p + 4) << 32);
}

/* Convert `nelem` elements starting at `src` (which holds whole blocks) to
 * float.  Returns 0 or SOCFW_EUNSUPPORTED. */
int
socfw_model_convert_f32(socfw_dtype t, const void *src_, size_t nelem,
                        float *dst)
{
        const uint8_t *s = src_;
        size_t i, b, j;

        switch (t) {
        case SOCFW_DTYPE_F32:
                memcpy(dst, s, nelem * 4);
                return 0;
        case SOCFW_DTYPE_F16:
                for (i = 0; i < nelem; i++)
                        dst[i] = socfw_f16_to_f32(rd16(s + 2 * i));
                return 0;
        case SOCFW_DTYPE_BF16:
                for (i = 0; i < nelem; i++)
                        dst[i] = socfw_bf16_to_f32(rd16(s + 2 * i));
                return 0;
        case SOCFW_DTYPE_F64:
                for (i = 0; i < nelem; i++) {
                        uint64_t u = rd64(s + 8 * i);
                        double d;
                        memcpy(&d, &u, sizeof d);
                        dst[i] = (float)d;
                }
                return 0;
        case SOCFW_DTYPE_I8:
                for (i = 0; i < nelem; i++)
                        dst[i] = (float)(int8_t)s[i];
                return 0;
        case SOCFW_DTYPE_U8:
                for (i = 0; i < nelem; i++)
                        dst[i] = (float)s[i];
                return 0;
        case SOCFW_DTYPE_BOOL:
                for (i = 0; i < nelem; i++)
                        dst[i] = s[i] ? 1.0f : 0.0f;
                return 0;
        case SOCFW_DTYPE_I16:
                for (i = 0; i < nelem; i++)
                        dst[i] = (float)(int16_t)rd16(s + 2 * i);
                return 0;
        case SOCFW_DTYPE_U16:
                for (i = 0; i < nelem; i++)
                        dst[i] = (float)rd16(s + 2 * i);
                return 0;
        case SOCFW_DTYPE_I32:
                for (i = 0; i < nelem; i++)
                        dst[i] = (float)(int32_t)rd32(s + 4 * i);
                return 0;
        case SOCFW_DTYPE_U32:
                for (i = 0; i < nelem; i++)
                        dst[i] = (float)rd32(s + 4 * i);
                return 0;
        case SOCFW_DTYPE_I64:
                for (i = 0; i < nelem; i++)
                        dst[i] = (float)(int64_t)rd64(s + 8 * i);
                return 0;
        case SOCFW_DTYPE_U64:
                for (i = 0; i < nelem; i++)
                        dst[i] = (float)rd64(s + 8 * i);
                return 0;
        case SOCFW_DTYPE_Q8_0:
                /* f16 d, int8 q[32]: x = q * d */
                for (b = 0; b < nelem / 32; b++, s += 34) {
                        float d = socfw_f16_to_f32(rd16(s));
                        for (j = 0; j < 32; j++)
                                dst[32 * b + j] = (float)(int8_t)s[2 + j] * d;
                }
                return 0;
        case SOCFW_DTYPE_Q4_0:
                /* f16 d, 16 bytes: low nibbles are elements 0..15, high
                 * nibbles 16..31; x = (q - 8) * d */
                for (b = 0; b < nelem / 32; b++, s += 18) {
                        float d = socfw_f16_to_f32(rd16(s));
                        float *y = dst + 32 * b;
                        for (j = 0; j < 16; j++) {
                                y[j] = (float)((s[2 + j] & 0x0f) - 8) * d;
                                y[j + 16] = (float)((s[2 + j] >> 4) - 8) * d;
                        }
                }
                return 0;
        case SOCFW_DTYPE_Q4_1:
                /* f16 d, f16 m, 16 bytes of nibbles: x = q * d + m */
                for (b = 0; b < nelem / 32; b++, s += 20) {
                        float d = socfw_f16_to_f32(rd16(s));
                        float m = socfw_f16_to_f32(rd16(s + 2));
                        float *y = dst + 32 * b;
                        for (j = 0; j < 16; j++) {
                                y[j] = (float)(s[4 + j] & 0x0f) * d + m;
                                y[j + 16] = (float)(s[4 + j] >> 4) * d + m;
                        }
                }
                return 0;
        case SOCFW_DTYPE_Q5_0:
        case SOCFW_DTYPE_Q5_1: {
                /* [f16 d][f16 m (Q5_1)] u32 qh, 16 bytes of nibbles; bit j
                 * of qh is the 5th bit of element j.  Q5_0: x = (q-16)*d;
                 * Q5_1: x = q * d + m */
                int has_m = t == SOCFW_DTYPE_Q5_1;
                size_t bb = has_m ? 24 : 22;
                for (b = 0; b < nelem / 32; b++, s += bb) {
                        float d = socfw_f16_to_f32(rd16(s));
                        float m = has_m ? socfw_f16_to_f32(rd16(s + 2)) : 0;
                        const uint8_t *p = s + (has_m ? 4 : 2);
                        uint32_t qh = rd32(p);
                        const uint8_t *qs = p + 4;
                        float *y = dst + 32 * b;
                        for (j = 0; j < 16; j++) {
                                int lo = (qs[j] & 0x0f) |
                                         (int)(((qh >> j) & 1) << 4);
                                int hi = (qs[j] >> 4) |
                                         (int)(((qh >> (j + 16)) & 1) << 4);
                                if (has_m) {
                                        y[j] = (float)lo * d + m;
                                        y[j + 16] = (float)hi * d + m;
                                } else {
                                        y[j] = (float)(lo - 16) * d;
                                        y[j + 16] = (float)(hi - 16) * d;
                                }
                        }
                }
                return 0;
        }
        case SOCFW_DTYPE_Q2_K:
        case SOCFW_DTYPE_Q3_K:
        case SOCFW_DTYPE_Q4_K:
        case SOCFW_DTYPE_Q5_K:
        case SOCFW_DTYPE_Q6_K:
        case SOCFW_DTYPE_Q8_K:
                return mf_dequant_kquant(t, s, nelem, dst);
        default:
                return SOCFW_EUNSUPPORTED;
        }
}
