/* rng.c - xoshiro256** with splitmix64 seeding (see socfw/rng.h). */
#include "socfw/rng.h"

#include <math.h>

uint64_t
socfw_rng_mix64(uint64_t x)
{
        uint64_t z = x + UINT64_C(0x9e3779b97f4a7c15);
        z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
        return z ^ (z >> 31);
}

static uint64_t
splitmix64(uint64_t *x)
{
        uint64_t z = socfw_rng_mix64(*x);
        *x += UINT64_C(0x9e3779b97f4a7c15);
        return z;
}

static inline uint64_t
rotl(uint64_t x, int k)
{
        return (x << k) | (x >> (64 - k));
}

void
socfw_rng_seed(socfw_rng *rng, uint64_t seed)
{
        uint64_t x = seed;
        for (int i = 0; i < 4; i++)
                rng->s[i] = splitmix64(&x);
        if (!(rng->s[0] | rng->s[1] | rng->s[2] | rng->s[3]))
                rng->s[0] = 1;  /* cannot happen with splitmix, but be sure */
        rng->spare = 0.0;
        rng->has_spare = 0;
        rng->key = rng->row0 = rng->rows = rng->calls = 0;
}

void
socfw_rng_key_rows(socfw_rng *rng, uint64_t key, uint64_t row0,
                   uint64_t rows)
{
        rng->key = key;
        rng->row0 = row0;
        rng->rows = rows;
        rng->calls = 0;
}

int
socfw_rng_keyed_begin(socfw_rng *rng, uint64_t n, uint64_t *call_key,
                      uint64_t *row_len)
{
        if (!rng || rng->rows == 0)
                return 0;
        *row_len = n % rng->rows == 0 ? n / rng->rows : n;
        if (*row_len == 0)
                *row_len = 1;
        *call_key = socfw_rng_mix64(rng->key ^
                                    socfw_rng_mix64(++rng->calls));
        return 1;
}

uint64_t
socfw_rng_keyed_row(uint64_t call_key, uint64_t global_row)
{
        return socfw_rng_mix64(call_key ^
                               (global_row * UINT64_C(0xd1b54a32d192ed03)));
}

uint64_t
socfw_rng_keyed_bits(uint64_t row_key, uint64_t col)
{
        return socfw_rng_mix64(row_key + col * UINT64_C(0x9e3779b97f4a7c15));
}

uint64_t
socfw_rng_next(socfw_rng *rng)
{
        uint64_t *s = rng->s;
        uint64_t result = rotl(s[1] * 5, 7) * 9;
        uint64_t t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = rotl(s[3], 45);
        return result;
}

float
socfw_rng_uniform(socfw_rng *rng)
{
        return (float)(socfw_rng_next(rng) >> 40) * (1.0f / 16777216.0f);
}

double
socfw_rng_uniform_double(socfw_rng *rng)
{
        return (double)(socfw_rng_next(rng) >> 11) * (1.0 / 9007199254740992.0);
}

float
socfw_rng_normal(socfw_rng *rng)
{
        if (rng->has_spare) {
                rng->has_spare = 0;
                return (float)rng->spare;
        }
        /* u1 in (0,1] so log() is finite */
        double u1 = 1.0 - socfw_rng_uniform_double(rng);
        double u2 = socfw_rng_uniform_double(rng);
        double r = sqrt(-2.0 * log(u1));
        double a = 6.283185307179586476925 * u2;
        rng->spare = r * sin(a);
        rng->has_spare = 1;
        return (float)(r * cos(a));
}

uint64_t
socfw_rng_below(socfw_rng *rng, uint64_t n)
{
        if (n == 0)
                return 0;
        /* rejection: accept x below the largest multiple of n */
        uint64_t limit = UINT64_MAX - (UINT64_MAX % n);
        uint64_t x;
        do
                x = socfw_rng_next(rng);
        while (x >= limit);
        return x % n;
}

void
socfw_rng_fork(socfw_rng *rng, uint64_t stream, socfw_rng *out)
{
        uint64_t base = socfw_rng_next(rng);
        uint64_t x = stream * UINT64_C(0xd1b54a32d192ed03);
        socfw_rng_seed(out, base ^ splitmix64(&x));
}

void
socfw_rng_shuffle_i32(socfw_rng *rng, int32_t *v, uint64_t n)
{
        for (uint64_t i = n; i > 1; i--) {
                uint64_t j = socfw_rng_below(rng, i);
                int32_t t = v[i - 1];
                v[i - 1] = v[j];
                v[j] = t;
        }
}
