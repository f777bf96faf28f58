/* quantize.c - float32 rows to GGML block formats (socfw/quantize.h).
 *
 * The block layouts are those dtype.c and kquants.c read back.  Scales and
 * rounding follow llama.cpp's reference quantisers (no importance matrix):
 *
 *   Q8_0  d = max|x| / 127, q = round-half-away(x / d)
 *   Q4_0  m = the element of largest magnitude (with its sign), d = m / -8,
 *         q = min(15, trunc(x / d + 8.5))            (Q5_0: 16, 31, 16.5)
 *   Q4_1  d = (max - min) / 15, offset min, q = min(15, trunc((x-min)/d
 *         + 0.5))                                    (Q5_1: 31, no min())
 *   K-quants: per sub-block a scale (and for Q2_K/Q4_K/Q5_K a min) fitted
 *         by weighted least squares over a few candidate grids, the
 *         sub-block scales then quantised to 4/6/8 bits against the block's
 *         f16 super-scale, and the values re-rounded against the scales
 *         actually stored.
 *
 * "nearest" below is round-half-to-even, as ggml's nearest_int.
 */
#include "socfw/quantize.h"

#include <float.h>
#include <math.h>
#include <string.h>
#include <strings.h>

#define QK 32
#define QK_K 256
#define EPS_ALL_ZERO 1e-15f     /* a group below this is all zeros */

/* ---- small helpers ---- */

static int
nearest(float v)
{
        /* ggml asserts |v| <= 4194303; saturate instead of trusting it */
        if (!(v > -4194303.0f))
                return -4194303;
        if (v > 4194303.0f)
                return 4194303;
        return (int)lrintf(v);
}

static int
clampi(int v, int lo, int hi)
{
        return v < lo ? lo : v > hi ? hi : v;
}

static void
put16(uint8_t *p, uint16_t v)
{
        p[0] = (uint8_t)v;
        p[1] = (uint8_t)(v >> 8);
}

static void
put_half(uint8_t *p, float f)
{
        put16(p, socfw_f32_to_f16(f));
}

static float
get_half(const uint8_t *p)
{
        return socfw_f16_to_f32((uint16_t)(p[0] | (p[1] << 8)));
}

/* ---- 32-element formats ---- */

static void
q8_0_block(const float *x, uint8_t *y)
{
        float amax = 0;
        for (int j = 0; j < QK; j++)
                amax = fmaxf(amax, fabsf(x[j]));
        float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        put_half(y, d);
        for (int j = 0; j < QK; j++)
                y[2 + j] = (uint8_t)(int8_t)roundf(x[j] * id);
}

/* The signed element of largest magnitude (the first one on ties). */
static float
signed_absmax(const float *x, int n)
{
        float amax = 0, max = 0;
        for (int j = 0; j < n; j++)
                if (amax < fabsf(x[j])) {
                        amax = fabsf(x[j]);
                        max = x[j];
                }
        return max;
}

static void
min_max(const float *x, int n, float *mn, float *mx)
{
        *mn = FLT_MAX;
        *mx = -FLT_MAX;
        for (int j = 0; j < n; j++) {
                *mn = fminf(*mn, x[j]);
                *mx = fmaxf(*mx, x[j]);
        }
}

static void
q4_0_block(const float *x, uint8_t *y)
{
        float d = signed_absmax(x, QK) / -8.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        put_half(y, d);
        for (int j = 0; j < QK / 2; j++) {
                int lo = clampi((int8_t)(x[j] * id + 8.5f), -128, 15);
                int hi = clampi((int8_t)(x[j + 16] * id + 8.5f), -128, 15);
                y[2 + j] = (uint8_t)((lo & 0x0f) | (hi << 4));
        }
}

static void
q4_1_block(const float *x, uint8_t *y)
{
        float mn, mx;
        min_max(x, QK, &mn, &mx);
        float d = (mx - mn) / 15.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        put_half(y, d);
        put_half(y + 2, mn);
        for (int j = 0; j < QK / 2; j++) {
                int lo = clampi((int8_t)((x[j] - mn) * id + 0.5f), -128, 15);
                int hi = clampi((int8_t)((x[j + 16] - mn) * id + 0.5f), -128,
                                15);
                y[4 + j] = (uint8_t)((lo & 0x0f) | (hi << 4));
        }
}

/* Q5_0 / Q5_1: the 16 low-nibble pairs, then bit 4 of element j in bit j
 * of the 32-bit qh (written before the nibbles in the block). */
static void
pack5(const int *q, uint8_t *qh_out, uint8_t *qs)
{
        uint32_t qh = 0;
        for (int j = 0; j < QK / 2; j++) {
                qs[j] = (uint8_t)((q[j] & 0x0f) | ((q[j + 16] & 0x0f) << 4));
                qh |= (uint32_t)((q[j] >> 4) & 1) << j;
                qh |= (uint32_t)((q[j + 16] >> 4) & 1) << (j + 16);
        }
        for (int b = 0; b < 4; b++)
                qh_out[b] = (uint8_t)(qh >> (8 * b));
}

static void
q5_0_block(const float *x, uint8_t *y)
{
        float d = signed_absmax(x, QK) / -16.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        int q[QK];
        put_half(y, d);
        for (int j = 0; j < QK; j++)
                q[j] = clampi((int8_t)(x[j] * id + 16.5f), -128, 31) & 0xff;
        pack5(q, y + 2, y + 6);
}

static void
q5_1_block(const float *x, uint8_t *y)
{
        float mn, mx;
        min_max(x, QK, &mn, &mx);
        float d = (mx - mn) / 31.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        int q[QK];
        put_half(y, d);
        put_half(y + 2, mn);
        for (int j = 0; j < QK; j++)
                q[j] = (uint8_t)((x[j] - mn) * id + 0.5f);
        pack5(q, y + 4, y + 8);
}

/* ---- K-quant fitting ---- */

/* Symmetric fit of n values to the signed grid [-nmax, nmax-1]: start from
 * the scale that maps the largest-magnitude value to -nmax, then try 18
 * nearby grids and keep the one with the best weighted least-squares scale
 * (weights x^2, or qw).  L gets q + nmax.  Returns the scale. */
static float
fit_symmetric(int n, int nmax, const float *x, int8_t *L, const float *qw)
{
        float max = signed_absmax(x, n);
        if (fabsf(max) < EPS_ALL_ZERO) {
                memset(L, 0, (size_t)n);
                return 0.0f;
        }
        float iscale = -(float)nmax / max, sumlx = 0, suml2 = 0;
        for (int i = 0; i < n; i++) {
                int l = clampi(nearest(iscale * x[i]), -nmax, nmax - 1);
                L[i] = (int8_t)(l + nmax);
                float w = qw ? qw[i] : x[i] * x[i];
                sumlx += w * x[i] * (float)l;
                suml2 += w * (float)(l * l);
        }
        float scale = suml2 != 0.0f ? sumlx / suml2 : 0.0f;
        float best = scale * sumlx;
        for (int is = -9; is <= 9; is++) {
                if (is == 0)
                        continue;
                iscale = -((float)nmax + 0.1f * (float)is) / max;
                sumlx = suml2 = 0;
                for (int i = 0; i < n; i++) {
                        int l = clampi(nearest(iscale * x[i]), -nmax,
                                       nmax - 1);
                        float w = qw ? qw[i] : x[i] * x[i];
                        sumlx += w * x[i] * (float)l;
                        suml2 += w * (float)(l * l);
                }
                if (suml2 > 0 && sumlx * sumlx > best * suml2) {
                        for (int i = 0; i < n; i++)
                                L[i] = (int8_t)(nmax + clampi(nearest(iscale *
                                                                      x[i]),
                                                              -nmax,
                                                              nmax - 1));
                        scale = sumlx / suml2;
                        best = scale * sumlx;
                }
        }
        return scale;
}

/* Q3_K's symmetric fit: start as above with weights x^2, then move single
 * values to a better level while that improves the fit (up to 5 rounds). */
static float
fit_q3(int n, int nmax, const float *x, int8_t *L)
{
        float max = signed_absmax(x, n);
        if (fabsf(max) < EPS_ALL_ZERO) {
                memset(L, 0, (size_t)n);
                return 0.0f;
        }
        float iscale = -(float)nmax / max, sumlx = 0, suml2 = 0;
        for (int i = 0; i < n; i++) {
                int l = clampi(nearest(iscale * x[i]), -nmax, nmax - 1);
                L[i] = (int8_t)l;
                float w = x[i] * x[i];
                sumlx += w * x[i] * (float)l;
                suml2 += w * (float)(l * l);
        }
        for (int round = 0; round < 5; round++) {
                int changed = 0;
                for (int i = 0; i < n; i++) {
                        float w = x[i] * x[i];
                        float slx = sumlx - w * x[i] * (float)L[i];
                        if (!(slx > 0))
                                continue;
                        float sl2 = suml2 - w * (float)(L[i] * L[i]);
                        int nl = clampi(nearest(x[i] * sl2 / slx), -nmax,
                                        nmax - 1);
                        if (nl == L[i])
                                continue;
                        slx += w * x[i] * (float)nl;
                        sl2 += w * (float)(nl * nl);
                        if (sl2 > 0 && slx * slx * suml2 >
                                               sumlx * sumlx * sl2) {
                                L[i] = (int8_t)nl;
                                sumlx = slx;
                                suml2 = sl2;
                                changed++;
                        }
                }
                if (!changed)
                        break;
        }
        for (int i = 0; i < n; i++)
                L[i] = (int8_t)(L[i] + nmax);
        return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

/* Asymmetric fit of n values to [0, nmax] as scale * L - min (min >= 0 is
 * returned in *the_min): start from the min..max grid, then try nstep + 1
 * stretched grids (rmin + rdelta * is extra levels) solving the weighted
 * least-squares scale and offset of each, and keep the lowest weighted
 * error (|diff| when use_mad, else diff^2). */
static float
fit_scale_min(int n, int nmax, const float *x, const float *w, uint8_t *L,
              float *the_min, float rmin, float rdelta, int nstep,
              bool use_mad)
{
        uint8_t Laux[32];
        float mn = x[0], mx = x[0], sum_w = w[0], sum_x = w[0] * x[0];
        for (int i = 1; i < n; i++) {
                mn = fminf(mn, x[i]);
                mx = fmaxf(mx, x[i]);
                sum_w += w[i];
                sum_x += w[i] * x[i];
        }
        if (mn > 0)
                mn = 0;
        if (mx == mn) {
                memset(L, 0, (size_t)n);
                *the_min = -mn;
                return 0.0f;
        }
        float iscale = (float)nmax / (mx - mn), scale = 1.0f / iscale;
        float best = 0;
        for (int i = 0; i < n; i++) {
                L[i] = (uint8_t)clampi(nearest(iscale * (x[i] - mn)), 0, nmax);
                float diff = scale * (float)L[i] + mn - x[i];
                best += w[i] * (use_mad ? fabsf(diff) : diff * diff);
        }
        for (int is = 0; is <= nstep; is++) {
                iscale = (rmin + rdelta * (float)is + (float)nmax) / (mx - mn);
                float sum_l = 0, sum_l2 = 0, sum_xl = 0;
                for (int i = 0; i < n; i++) {
                        int l = clampi(nearest(iscale * (x[i] - mn)), 0, nmax);
                        Laux[i] = (uint8_t)l;
                        sum_l += w[i] * (float)l;
                        sum_l2 += w[i] * (float)(l * l);
                        sum_xl += w[i] * (float)l * x[i];
                }
                float D = sum_w * sum_l2 - sum_l * sum_l;
                if (!(D > 0))
                        continue;
                float s = (sum_w * sum_xl - sum_x * sum_l) / D;
                float m = (sum_l2 * sum_x - sum_l * sum_xl) / D;
                if (m > 0) {
                        m = 0;
                        s = sum_xl / sum_l2;
                }
                float err = 0;
                for (int i = 0; i < n; i++) {
                        float diff = s * (float)Laux[i] + m - x[i];
                        err += w[i] * (use_mad ? fabsf(diff) : diff * diff);
                }
                if (err < best) {
                        memcpy(L, Laux, (size_t)n);
                        best = err;
                        scale = s;
                        mn = m;
                }
        }
        *the_min = -mn;
        return scale;
}

/* 2-bit planes: element e of a 128-half goes to byte e % 32 at bit pair
 * e / 32 (as kquants.c reads them). */
static void
pack2(const uint8_t *L, uint8_t *qs)
{
        for (int j = 0; j < QK_K; j += 128)
                for (int l = 0; l < 32; l++)
                        qs[j / 4 + l] = (uint8_t)(L[j + l] |
                                                  (L[j + l + 32] << 2) |
                                                  (L[j + l + 64] << 4) |
                                                  (L[j + l + 96] << 6));
}

/* ---- K-quant blocks ---- */

static void
q2_k_block(const float *x, uint8_t *y)
{
        uint8_t L[QK_K], *scales = y, *qs = y + 16;
        float w[16], mins[16], sc[16], max_scale = 0, max_min = 0;
        for (int j = 0; j < 16; j++) {
                for (int l = 0; l < 16; l++)
                        w[l] = fabsf(x[16 * j + l]);
                sc[j] = fit_scale_min(16, 3, x + 16 * j, w, L + 16 * j,
                                      &mins[j], -0.5f, 0.1f, 15, true);
                max_scale = fmaxf(max_scale, sc[j]);
                max_min = fmaxf(max_min, mins[j]);
        }
        memset(scales, 0, 16);
        float d = 0, dmin = 0;
        if (max_scale > 0) {
                float is = 15.0f / max_scale;
                for (int j = 0; j < 16; j++)
                        scales[j] = (uint8_t)nearest(is * sc[j]);
                d = max_scale / 15.0f;
        }
        if (max_min > 0) {
                float is = 15.0f / max_min;
                for (int j = 0; j < 16; j++)
                        scales[j] |= (uint8_t)(nearest(is * mins[j]) << 4);
                dmin = max_min / 15.0f;
        }
        put_half(y + 80, d);
        put_half(y + 82, dmin);
        for (int j = 0; j < 16; j++) {
                float dl = get_half(y + 80) * (float)(scales[j] & 0x0f);
                if (dl == 0.0f)
                        continue;
                float ml = get_half(y + 82) * (float)(scales[j] >> 4);
                for (int i = 0; i < 16; i++)
                        L[16 * j + i] = (uint8_t)clampi(
                                nearest((x[16 * j + i] + ml) / dl), 0, 3);
        }
        pack2(L, qs);
}

static void
q3_k_block(const float *x, uint8_t *y)
{
        int8_t L[QK_K];
        uint8_t *hmask = y, *qs = y + 32, *scales = y + 96;
        float sc[16], amax = 0, max_scale = 0;
        for (int j = 0; j < 16; j++) {
                sc[j] = fit_q3(16, 4, x + 16 * j, L + 16 * j);
                if (fabsf(sc[j]) > amax) {
                        amax = fabsf(sc[j]);
                        max_scale = sc[j];
                }
        }
        memset(scales, 0, 12);
        float d = 0;
        if (max_scale != 0.0f) {
                float is = -32.0f / max_scale;
                for (int j = 0; j < 16; j++) {
                        int l = clampi(nearest(is * sc[j]), -32, 31) + 32;
                        if (j < 8)
                                scales[j] = (uint8_t)(l & 0x0f);
                        else
                                scales[j - 8] |= (uint8_t)((l & 0x0f) << 4);
                        scales[j % 4 + 8] |= (uint8_t)((l >> 4) <<
                                                       (2 * (j / 4)));
                }
                d = 1.0f / is;
        }
        put_half(y + 108, d);
        for (int j = 0; j < 16; j++) {
                int s = j < 8 ? scales[j] & 0x0f : scales[j - 8] >> 4;
                s = (s | (((scales[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) -
                    32;
                float dl = get_half(y + 108) * (float)s;
                if (dl == 0.0f)
                        continue;
                for (int i = 0; i < 16; i++)
                        L[16 * j + i] = (int8_t)(clampi(nearest(x[16 * j + i] /
                                                                dl),
                                                        -4, 3) + 4);
        }
        /* the third bit: element e in hmask byte e % 32, bit e / 32 */
        memset(hmask, 0, 32);
        uint8_t U[QK_K];
        for (int e = 0; e < QK_K; e++) {
                int v = L[e];
                if (v > 3) {
                        hmask[e % 32] |= (uint8_t)(1u << (e / 32));
                        v -= 4;
                }
                U[e] = (uint8_t)v;
        }
        pack2(U, qs);
}

/* Q4_K / Q5_K: 8 sub-blocks of 32 with six-bit scales and mins. */
static void
q45_k_block(const float *x, uint8_t *y, int nmax)
{
        uint8_t L[QK_K];
        uint8_t *scales = y + 4;
        float w[32], mins[8], sc[8], max_scale = 0, max_min = 0;
        for (int j = 0; j < 8; j++) {
                const float *xs = x + 32 * j;
                float sum_x2 = 0;
                for (int l = 0; l < 32; l++)
                        sum_x2 += xs[l] * xs[l];
                float av_x = sqrtf(sum_x2 / 32);
                for (int l = 0; l < 32; l++)
                        w[l] = av_x + fabsf(xs[l]);
                if (nmax == 15)
                        sc[j] = fit_scale_min(32, 15, xs, w, L + 32 * j,
                                              &mins[j], -1.0f, 0.1f, 20,
                                              false);
                else
                        sc[j] = fit_scale_min(32, 31, xs, w, L + 32 * j,
                                              &mins[j], -0.5f, 0.1f, 15,
                                              false);
                max_scale = fmaxf(max_scale, sc[j]);
                max_min = fmaxf(max_min, mins[j]);
        }
        float inv_scale = max_scale > 0 ? 63.0f / max_scale : 0.0f;
        float inv_min = max_min > 0 ? 63.0f / max_min : 0.0f;
        memset(scales, 0, 12);
        for (int j = 0; j < 8; j++) {
                int ls = (uint8_t)nearest(inv_scale * sc[j]);
                int lm = (uint8_t)nearest(inv_min * mins[j]);
                ls = ls > 63 ? 63 : ls;
                lm = lm > 63 ? 63 : lm;
                if (j < 4) {
                        scales[j] = (uint8_t)ls;
                        scales[j + 4] = (uint8_t)lm;
                } else {
                        scales[j + 4] = (uint8_t)((ls & 0x0f) |
                                                  ((lm & 0x0f) << 4));
                        scales[j - 4] |= (uint8_t)((ls >> 4) << 6);
                        scales[j] |= (uint8_t)((lm >> 4) << 6);
                }
        }
        put_half(y, max_scale / 63.0f);
        put_half(y + 2, max_min / 63.0f);
        float d = get_half(y), dmin = get_half(y + 2);
        for (int j = 0; j < 8; j++) {
                int s, m;
                if (j < 4) {
                        s = scales[j] & 63;
                        m = scales[j + 4] & 63;
                } else {
                        s = (scales[j + 4] & 0x0f) | ((scales[j - 4] >> 6) << 4);
                        m = (scales[j + 4] >> 4) | ((scales[j] >> 6) << 4);
                }
                float dl = d * (float)s;
                if (dl == 0.0f)
                        continue;
                float ml = dmin * (float)m;
                for (int i = 0; i < 32; i++)
                        L[32 * j + i] = (uint8_t)clampi(
                                nearest((x[32 * j + i] + ml) / dl), 0, nmax);
        }
        if (nmax == 15) {
                uint8_t *q = y + 16;
                for (int j = 0; j < QK_K; j += 64, q += 32)
                        for (int l = 0; l < 32; l++)
                                q[l] = (uint8_t)(L[j + l] |
                                                 (L[j + l + 32] << 4));
                return;
        }
        /* Q5_K: bit 4 of element 64g + 32h + l in qh[l] bit 2g + h */
        uint8_t *qh = y + 16, *ql = y + 48;
        memset(qh, 0, 32);
        for (int g = 0; g < 4; g++, ql += 32)
                for (int l = 0; l < 32; l++) {
                        int a = L[64 * g + l], b = L[64 * g + l + 32];
                        if (a > 15) {
                                a -= 16;
                                qh[l] |= (uint8_t)(1u << (2 * g));
                        }
                        if (b > 15) {
                                b -= 16;
                                qh[l] |= (uint8_t)(2u << (2 * g));
                        }
                        ql[l] = (uint8_t)(a | (b << 4));
                }
}

static void
q6_k_block(const float *x, uint8_t *y)
{
        int8_t L[QK_K];
        uint8_t *ql = y, *qh = y + 128;
        int8_t *scales = (int8_t *)(y + 192);
        float sc[16], max_abs = 0, max_scale = 0;
        for (int j = 0; j < 16; j++) {
                sc[j] = fit_symmetric(16, 32, x + 16 * j, L + 16 * j, NULL);
                if (fabsf(sc[j]) > max_abs) {
                        max_abs = fabsf(sc[j]);
                        max_scale = sc[j];
                }
        }
        if (max_abs < EPS_ALL_ZERO) {
                memset(y, 0, 210);
                return;
        }
        float is = -128.0f / max_scale;
        put_half(y + 208, 1.0f / is);
        for (int j = 0; j < 16; j++) {
                int v = nearest(is * sc[j]);
                scales[j] = (int8_t)(v > 127 ? 127 : v);
        }
        float d = get_half(y + 208);
        for (int j = 0; j < 16; j++) {
                float dl = d * (float)scales[j];
                if (dl == 0.0f)
                        continue;
                for (int i = 0; i < 16; i++)
                        L[16 * j + i] = (int8_t)(clampi(nearest(x[16 * j + i] /
                                                                dl),
                                                        -32, 31) + 32);
        }
        for (int j = 0; j < QK_K; j += 128, ql += 64, qh += 32)
                for (int l = 0; l < 32; l++) {
                        int a = L[j + l], b = L[j + l + 32];
                        int c = L[j + l + 64], e = L[j + l + 96];
                        ql[l] = (uint8_t)((a & 0x0f) | ((c & 0x0f) << 4));
                        ql[l + 32] = (uint8_t)((b & 0x0f) | ((e & 0x0f) << 4));
                        qh[l] = (uint8_t)((a >> 4) | ((b >> 4) << 2) |
                                          ((c >> 4) << 4) | ((e >> 4) << 6));
                }
}

/* ---- public ---- */

typedef void (*block_fn)(const float *x, uint8_t *y);

static void
q4_k_block(const float *x, uint8_t *y)
{
        q45_k_block(x, y, 15);
}

static void
q5_k_block(const float *x, uint8_t *y)
{
        q45_k_block(x, y, 31);
}

static block_fn
block_of(socfw_dtype t)
{
        switch (t) {
        case SOCFW_DTYPE_Q8_0: return q8_0_block;
        case SOCFW_DTYPE_Q4_0: return q4_0_block;
        case SOCFW_DTYPE_Q4_1: return q4_1_block;
        case SOCFW_DTYPE_Q5_0: return q5_0_block;
        case SOCFW_DTYPE_Q5_1: return q5_1_block;
        case SOCFW_DTYPE_Q2_K: return q2_k_block;
        case SOCFW_DTYPE_Q3_K: return q3_k_block;
        case SOCFW_DTYPE_Q4_K: return q4_k_block;
        case SOCFW_DTYPE_Q5_K: return q5_k_block;
        case SOCFW_DTYPE_Q6_K: return q6_k_block;
        default: return NULL;
        }
}

bool
socfw_quantize_supported(socfw_dtype t)
{
        return t == SOCFW_DTYPE_F32 || t == SOCFW_DTYPE_F16 ||
               t == SOCFW_DTYPE_BF16 || block_of(t) != NULL;
}

int
socfw_quantize_type_from_name(const char *name, socfw_dtype *out)
{
        if (!name)
                return SOCFW_ENOTFOUND;
        for (int i = 0; i < SOCFW_DTYPE_COUNT; i++) {
                socfw_dtype t = (socfw_dtype)i;
                if (socfw_quantize_supported(t) &&
                    strcasecmp(name, socfw_dtype_name(t)) == 0) {
                        if (out)
                                *out = t;
                        return 0;
                }
        }
        return SOCFW_ENOTFOUND;
}

int
socfw_quantize_rows(socfw_dtype t, const float *src, int64_t nrows,
                    int64_t row_len, void *dst_, size_t dst_size,
                    const char *name, socfw_error *err)
{
        uint8_t *dst = dst_;
        const char *nm = name ? name : "(unnamed)";
        if (!socfw_quantize_supported(t))
                return socfw_error_set(err, SOCFW_EUNSUPPORTED,
                                       "tensor '%s': cannot quantise to %s "
                                       "(hint: f32 f16 bf16 q8_0 q4_0 q4_1 "
                                       "q5_0 q5_1 q2_k q3_k q4_k q5_k q6_k)",
                                       nm, socfw_dtype_name(t));
        if (nrows < 0 || row_len < 0 || (nrows * row_len > 0 && !src) ||
            (nrows * row_len > 0 && !dst))
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "tensor '%s': bad arguments to "
                                       "socfw_quantize_rows", nm);
        size_t bs = socfw_dtype_block_size(t), bb = socfw_dtype_block_bytes(t);
        if (row_len % (int64_t)bs != 0)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "tensor '%s': row length %lld is not "
                                       "a multiple of the %s block size %zu "
                                       "(hint: keep this tensor in f16 or "
                                       "f32)", nm,
                                       (long long)row_len,
                                       socfw_dtype_name(t), bs);
        size_t need;
        if (nrows != 0 && row_len > INT64_MAX / nrows)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "tensor '%s': size overflows", nm);
        if (socfw_dtype_nbytes(t, (uint64_t)(nrows * row_len), &need) < 0 ||
            need > dst_size)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "tensor '%s': output buffer of %zu "
                                       "bytes is too small for %lld x %lld "
                                       "%s", nm, dst_size, (long long)nrows,
                                       (long long)row_len,
                                       socfw_dtype_name(t));
        for (int64_t r = 0; r < nrows; r++)
                for (int64_t c = 0; c < row_len; c++)
                        if (!isfinite(src[r * row_len + c]))
                                return socfw_error_set(
                                        err, SOCFW_EINVAL,
                                        "tensor '%s': row %lld column %lld is "
                                        "%g; only finite values can be "
                                        "quantised", nm, (long long)r,
                                        (long long)c,
                                        (double)src[r * row_len + c]);
        size_t n = (size_t)(nrows * row_len);
        switch (t) {
        case SOCFW_DTYPE_F32:
                memcpy(dst, src, n * sizeof(float));
                return 0;
        case SOCFW_DTYPE_F16:
                for (size_t i = 0; i < n; i++)
                        put16(dst + 2 * i, socfw_f32_to_f16(src[i]));
                return 0;
        case SOCFW_DTYPE_BF16:
                for (size_t i = 0; i < n; i++)
                        put16(dst + 2 * i, socfw_f32_to_bf16(src[i]));
                return 0;
        default:
                break;
        }
        block_fn fn = block_of(t);
        for (size_t b = 0; b < n / bs; b++)
                fn(src + b * bs, dst + b * bb);
        return 0;
}
