/* kquants.c - dequantisation of GGML's "K-quant" block formats, the types
 * most GGUF language models are published in (Q4_K_M files mix Q4_K and
 * Q6_K; Q3_K_M/Q5_K_M likewise).
 *
 * Every K-quant block holds QK_K = 256 elements as 16 sub-blocks of 16 or
 * 8 sub-blocks of 32, each with its own small integer scale (and for the
 * "min" types an offset), all multiplied by the block's f16 super-scales
 * d (and dmin).  Layouts, little-endian, in file order:
 *
 *   Q2_K  84 B   scales[16] (low nibble scale, high nibble min), qs[64]
 *                (2-bit), f16 d, f16 dmin;  x = d*sc*q - dmin*m
 *   Q3_K 110 B   hmask[32] (3rd bit), qs[64] (low 2 bits), scales[12]
 *                (16 six-bit scales), f16 d;  x = d*(sc-32)*(q - 4*!h)
 *   Q4_K 144 B   f16 d, f16 dmin, scales[12] (8 six-bit scales and mins),
 *                qs[128] (4-bit);  x = d*sc*q - dmin*m
 *   Q5_K 176 B   as Q4_K then qh[32] (5th bit) before qs[128]
 *   Q6_K 210 B   ql[128] (low 4 bits), qh[64] (high 2 bits), int8
 *                scales[16], f16 d;  x = d*sc*(q - 32)
 *   Q8_K 292 B   f32 d, int8 qs[256], int16 bsums[16];  x = d*q
 *
 * Within a block, element e of the 2- and 3-bit formats lives in byte
 * (e % 32) + 32 * (e / 128) of qs at bit pair (e / 32) % 4; the 4-bit ones
 * use byte (e % 32) + 32 * (e / 64), low nibble for the first 32 of each 64
 * and high nibble for the second.  The loops below walk those orders.
 */
#include "socfw/dtype.h"
#include "socfw/error.h"
#include "nn/nn_internal.h"

#include <string.h>

#define QK_K 256

static uint16_t
rd16(const uint8_t *p)
{
        return (uint16_t)(p[0] | (p[1] << 8));
}

static float
half(const uint8_t *p)
{
        return socfw_f16_to_f32(rd16(p));
}

/* Scale and min j (0..7) of the 12-byte Q4_K/Q5_K table: six bits each;
 * the first four are the low six bits of bytes 0..3 (scales) and 4..7
 * (mins), the last four take their low nibbles from bytes 8..11 and their
 * top two bits from the top of bytes 0..7. */
static void
scale_min_k4(int j, const uint8_t *q, int *sc, int *m)
{
        if (j < 4) {
                *sc = q[j] & 63;
                *m = q[j + 4] & 63;
        } else {
                *sc = (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4);
                *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
        }
}

/* Each unpack fills q[256] and, per group of 16 elements g, s[g] and m[g]
 * such that element e = s[e/16] * q[e] + m[e/16] (nn_internal.h). */

void
nn_unpack_q2_k(const uint8_t *x, int8_t *q, float *s, float *m)
{
        const uint8_t *scales = x, *qs = x + 16;
        float d = half(x + 80), dmin = half(x + 82);
        int g = 0;
        for (int half128 = 0; half128 < 2; half128++) {
                const uint8_t *b = qs + 32 * half128;
                for (int shift = 0; shift < 8; shift += 2) {
                        for (int part = 0; part < 2; part++, g++) {
                                int sc = scales[g];
                                s[g] = d * (float)(sc & 0x0f);
                                m[g] = -(dmin * (float)(sc >> 4));
                                for (int l = 0; l < 16; l++)
                                        *q++ = (int8_t)((b[16 * part + l] >>
                                                         shift) & 3);
                        }
                }
        }
}

void
nn_unpack_q3_k(const uint8_t *x, int8_t *q, float *s, float *m)
{
        const uint8_t *hmask = x, *qs = x + 32, *raw = x + 96;
        float d = half(x + 108);
        /* sixteen six-bit scales: low nibbles from bytes 0..7 (two per
         * byte, scales 0..7 low, 8..15 high), top two bits from 8..11 */
        int sc[16];
        for (int k = 0; k < 4; k++) {
                sc[k] = (raw[k] & 0x0f) | ((raw[8 + k] & 3) << 4);
                sc[4 + k] = (raw[4 + k] & 0x0f) |
                            (((raw[8 + k] >> 2) & 3) << 4);
                sc[8 + k] = (raw[k] >> 4) | (((raw[8 + k] >> 4) & 3) << 4);
                sc[12 + k] = (raw[4 + k] >> 4) |
                             (((raw[8 + k] >> 6) & 3) << 4);
        }
        int g = 0, bit = 0;
        for (int half128 = 0; half128 < 2; half128++) {
                const uint8_t *b = qs + 32 * half128;
                for (int shift = 0; shift < 8; shift += 2, bit++) {
                        for (int part = 0; part < 2; part++, g++) {
                                s[g] = d * (float)(sc[g] - 32);
                                m[g] = 0.0f;
                                for (int l = 0; l < 16; l++) {
                                        int i = 16 * part + l;
                                        int v = (b[i] >> shift) & 3;
                                        if (!((hmask[i] >> bit) & 1))
                                                v -= 4;
                                        *q++ = (int8_t)v;
                                }
                        }
                }
        }
}

/* Q4_K and Q5_K: qh is NULL for Q4_K. */
static void
q45_k(const uint8_t *x, const uint8_t *qh, const uint8_t *qs, int8_t *q,
      float *s, float *m)
{
        float d = half(x), dmin = half(x + 2);
        const uint8_t *scales = x + 4;
        for (int g = 0; g < 4; g++) {
                const uint8_t *b = qs + 32 * g;
                for (int nib = 0; nib < 2; nib++) {
                        int sc, mn, sb = 2 * g + nib;
                        scale_min_k4(sb, scales, &sc, &mn);
                        s[2 * sb] = s[2 * sb + 1] = d * (float)sc;
                        m[2 * sb] = m[2 * sb + 1] = -(dmin * (float)mn);
                        for (int l = 0; l < 32; l++) {
                                int v = nib ? b[l] >> 4 : b[l] & 0x0f;
                                if (qh && ((qh[l] >> sb) & 1))
                                        v += 16;
                                *q++ = (int8_t)v;
                        }
                }
        }
}

void
nn_unpack_q4_k(const uint8_t *x, int8_t *q, float *s, float *m)
{
        q45_k(x, NULL, x + 16, q, s, m);
}

void
nn_unpack_q5_k(const uint8_t *x, int8_t *q, float *s, float *m)
{
        q45_k(x, x + 16, x + 48, q, s, m);
}

void
nn_unpack_q6_k(const uint8_t *x, int8_t *q, float *s, float *m)
{
        const uint8_t *ql = x, *qh = x + 128;
        const int8_t *sc = (const int8_t *)(x + 192);
        float d = half(x + 208);
        /* group g = e / 16 of element e = 128 h + 32 k + l uses sc[g] */
        for (int g = 0; g < 16; g++) {
                s[g] = d * (float)sc[g];
                m[g] = 0.0f;
        }
        for (int half128 = 0; half128 < 2; half128++) {
                for (int l = 0; l < 32; l++) {
                        int h = qh[l];
                        q[l] = (int8_t)(((ql[l] & 0x0f) | ((h & 3) << 4)) -
                                        32);
                        q[l + 32] = (int8_t)(((ql[l + 32] & 0x0f) |
                                              (((h >> 2) & 3) << 4)) - 32);
                        q[l + 64] = (int8_t)(((ql[l] >> 4) |
                                              (((h >> 4) & 3) << 4)) - 32);
                        q[l + 96] = (int8_t)(((ql[l + 32] >> 4) |
                                              (((h >> 6) & 3) << 4)) - 32);
                }
                q += 128;
                ql += 64;
                qh += 32;
        }
}

void
nn_unpack_q8_k(const uint8_t *x, int8_t *q, float *s, float *m)
{
        float d;
        memcpy(&d, x, sizeof d); /* little-endian hosts only, as GGUF */
        for (int g = 0; g < 16; g++) {
                s[g] = d;
                m[g] = 0.0f;
        }
        memcpy(q, x + 4, QK_K);
}
