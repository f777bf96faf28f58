/* tests/fuzz/fuzz_quant.c - libFuzzer target for the tensor element types:
 * the GGML block formats (Q4_0 .. Q8_0 in dtype.c, the K-quants Q2_K ..
 * Q8_K in kquants.c), half precision and the plain types, reached the way
 * a model file reaches them.
 *
 * The input describes one tensor:
 *
 *   byte 0        GGML type id (any value: unknown ids must be refused)
 *   byte 1        bits 0-1: number of dimensions (0..3); bit 2: the
 *                 innermost dimension counts blocks, not elements; bit 3:
 *                 leave the data short instead of repeating it to size;
 *                 bit 4: dimensions take 8 bytes each, not 1
 *   bytes 2..     the dimensions, innermost first (GGUF order), little-
 *                 endian
 *   next 2 bytes  which rows to read back (start, count)
 *   rest          block bytes, repeated to fill the tensor
 *
 * and is wrapped into a GGUF image held in a buffer of exactly its size,
 * so ASan sees any read past the blocks.  Checked: a refused file says
 * why; an accepted tensor's byte size is what its type says; whole-tensor
 * reads write exactly nelem floats (the destination is sized to fit, and a
 * destination one float short is refused); any row range reads the same
 * floats as the whole tensor, bit for bit; row ranges outside the tensor
 * are refused; every 16-bit half / bfloat value survives the round trip
 * through float.  Nothing asks for more than a few MiB.
 *
 * Built and run by `make check` (tests/fuzz.sh) when clang with libFuzzer
 * is present, and for longer by tests/fuzz/run-fuzz.sh quant.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "socfw/modelfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ELEMS (1u << 16)    /* floats read back per input            */
#define MAX_BYTES (1u << 18)    /* tensor bytes placed in the image      */

/* GGML type id -> socfw dtype, for the ids GGUF files may carry (-1:
 * none); only used to size the tensor, the parser decides for itself. */
static int
dtype_of(unsigned g)
{
        static const int map[] = {
                SOCFW_DTYPE_F32,  SOCFW_DTYPE_F16,  SOCFW_DTYPE_Q4_0,
                SOCFW_DTYPE_Q4_1, -1,               -1,
                SOCFW_DTYPE_Q5_0, SOCFW_DTYPE_Q5_1, SOCFW_DTYPE_Q8_0,
                SOCFW_DTYPE_Q8_1, SOCFW_DTYPE_Q2_K, SOCFW_DTYPE_Q3_K,
                SOCFW_DTYPE_Q4_K, SOCFW_DTYPE_Q5_K, SOCFW_DTYPE_Q6_K,
                SOCFW_DTYPE_Q8_K, -1, -1, -1, -1, -1, -1, -1, -1,
                SOCFW_DTYPE_I8,   SOCFW_DTYPE_I16,  SOCFW_DTYPE_I32,
                SOCFW_DTYPE_I64,  SOCFW_DTYPE_F64,  -1,
                SOCFW_DTYPE_BF16,
        };
        return g < sizeof map / sizeof map[0] ? map[g] : -1;
}

static uint8_t *
put(uint8_t *p, uint64_t v, int bytes)
{
        for (int i = 0; i < bytes; i++)
                *p++ = (uint8_t)(v >> (8 * i));
        return p;
}

static void
check_halves(const uint8_t *data, size_t size)
{
        for (size_t i = 0; i + 1 < size && i < 64; i += 2) {
                uint16_t h = (uint16_t)(data[i] | data[i + 1] << 8);
                float x = socfw_f16_to_f32(h);
                if (isnan(x) ? !isnan(socfw_f16_to_f32(socfw_f32_to_f16(x)))
                             : socfw_f32_to_f16(x) != h)
                        abort();
                x = socfw_bf16_to_f32(h);
                if (isnan(x) ? !isnan(socfw_bf16_to_f32(socfw_f32_to_bf16(x)))
                             : socfw_f32_to_bf16(x) != h)
                        abort();
        }
}

static void
check_dtype_table(unsigned g, const uint8_t *data, size_t size)
{
        /* out-of-range values are answered, never indexed */
        socfw_dtype t = (socfw_dtype)(int)(int8_t)g;
        if (!socfw_dtype_name(t))
                abort();
        size_t bs = socfw_dtype_block_size(t), bb = socfw_dtype_block_bytes(t);
        if (((int)t < 0 || t >= SOCFW_DTYPE_COUNT) != (bs == 0 || bb == 0))
                abort();
        uint64_t n = 0;
        memcpy(&n, data, size < sizeof n ? size : sizeof n);
        size_t nb;
        if (socfw_dtype_nbytes(t, n, &nb) == 0 &&
            (bs == 0 || n % bs || nb / bb != n / bs || nb % bb))
                abort();
}

static void
read_back(const socfw_modelfile *mf, const socfw_tensor_info *t,
          uint8_t sel0, uint8_t sel1)
{
        size_t n = (size_t)t->nelem;
        float *all = malloc(n ? n * sizeof *all : 1);
        if (!all)
                abort();
        socfw_error err = {0};
        int rc = socfw_modelfile_read_f32(mf, t, all, n, &err);
        if (rc < 0) {
                /* only types without a conversion may refuse, and say so */
                if (rc != SOCFW_EUNSUPPORTED || !err.message[0] ||
                    t->dtype != SOCFW_DTYPE_Q8_1)
                        abort();
                goto out;
        }
        if (n > 0) {
                float *shortdst = malloc((n - 1) ? (n - 1) * sizeof *all : 1);
                if (!shortdst ||
                    socfw_modelfile_read_f32(mf, t, shortdst, n - 1, NULL) !=
                            SOCFW_EINVAL)
                        abort();
                free(shortdst);
        }

        int64_t rl = t->ndim > 0 ? t->shape[t->ndim - 1] : 1;
        float one;
        if (rl == 0) {
                /* empty rows, however many the outer dimensions make:
                 * every range reads nothing or is refused */
                int64_t r[][2] = {{0, 0}, {sel0, sel1}, {0, INT64_MAX},
                                  {INT64_MAX, 1}, {1, INT64_MAX}};
                for (size_t i = 0; i < sizeof r / sizeof r[0]; i++) {
                        int rc2 = socfw_modelfile_read_f32_rows(
                                mf, t, r[i][0], r[i][1], &one, 0, NULL);
                        if (rc2 != 0 && rc2 != SOCFW_EINVAL)
                                abort();
                }
                goto out;
        }
        int64_t rows = t->nelem / rl;
        {
                int64_t r0 = sel0 % (rows + 1);
                int64_t nr = sel1 % (rows - r0 + 1);
                size_t m = (size_t)(nr * rl);
                float *part = malloc(m ? m * sizeof *part : 1);
                if (!part ||
                    socfw_modelfile_read_f32_rows(mf, t, r0, nr, part, m,
                                                  &err) < 0 ||
                    (m && memcmp(part, all + r0 * rl, m * sizeof *part)))
                        abort();
                free(part);
        }
        /* ranges outside the tensor, and overflowing ones, are refused */
        if (socfw_modelfile_read_f32_rows(mf, t, rows + 1, 0, &one, 1,
                                          NULL) != SOCFW_EINVAL ||
            socfw_modelfile_read_f32_rows(mf, t, -1, 1, &one, 1, NULL) !=
                    SOCFW_EINVAL ||
            socfw_modelfile_read_f32_rows(mf, t, 1, INT64_MAX, &one, 1,
                                          NULL) != SOCFW_EINVAL ||
            socfw_modelfile_read_f32_rows(mf, t, INT64_MAX, 1, &one, 1,
                                          NULL) != SOCFW_EINVAL)
                abort();
out:
        free(all);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size < 2)
                return 0;
        unsigned g = data[0], ctl = data[1], ndim = ctl & 3;
        unsigned width = (ctl & 16) ? 8 : 1, dims = ndim * width;
        check_dtype_table(g, data + 1, size - 1);
        if (size < 4 + dims)
                return 0;
        int dt = dtype_of(g);
        uint64_t bs = dt >= 0 ? socfw_dtype_block_size((socfw_dtype)dt) : 1;
        uint64_t ne[3], nelem = 1;
        for (unsigned d = 0; d < ndim; d++) {
                ne[d] = 0;
                for (unsigned k = 0; k < width; k++)
                        ne[d] |= (uint64_t)data[2 + d * width + k] << 8 * k;
                if (d == 0 && (ctl & 4) && ne[d] <= UINT32_MAX)
                        ne[d] *= bs;
                nelem = ne[d] && nelem > UINT64_MAX / ne[d] ? UINT64_MAX
                                                            : nelem * ne[d];
        }
        uint8_t sel0 = data[2 + dims], sel1 = data[3 + dims];
        const uint8_t *blocks = data + 4 + dims;
        size_t nblocks = size - 4 - dims;
        check_halves(blocks, nblocks);

        /* the tensor's bytes: repeated to size, or left as given */
        size_t need = 0;
        if (dt >= 0 && socfw_dtype_nbytes((socfw_dtype)dt, nelem, &need) < 0)
                need = 0;
        size_t have = (ctl & 8) || !nblocks ? nblocks : need;
        if (have > MAX_BYTES)
                have = nblocks;

        size_t hdr = 4 + 4 + 8 + 8 + 8 + 1 + 4 + 8 * ndim + 4 + 8;
        size_t off = (hdr + 31) / 32 * 32;
        size_t total = off + have;
        uint8_t *img = malloc(total);
        if (!img)
                abort();
        memset(img, 0, off);
        uint8_t *p = img;
        memcpy(p, "GGUF", 4);
        p = put(p + 4, 3, 4);           /* version          */
        p = put(p, 1, 8);               /* tensors          */
        p = put(p, 0, 8);               /* metadata entries */
        p = put(p, 1, 8);               /* name length      */
        *p++ = 't';
        p = put(p, ndim, 4);
        for (unsigned d = 0; d < ndim; d++)
                p = put(p, ne[d], 8);
        p = put(p, g, 4);
        put(p, 0, 8);                   /* data offset      */
        for (size_t i = 0; i < have; i++)
                img[off + i] = blocks[i % nblocks];

        socfw_modelfile *mf = NULL;
        socfw_error err = {0};
        if (socfw_modelfile_open_memory(&mf, img, total, "fuzz.gguf",
                                        &err) < 0) {
                if (!err.message[0])
                        abort();        /* a refusal says why */
                goto out;
        }
        const socfw_tensor_info *t = socfw_modelfile_tensor(mf, 0);
        size_t nbytes;
        if (!t || socfw_modelfile_n_tensors(mf) != 1 || (int)t->dtype != dt ||
            (uint64_t)t->nelem != nelem ||
            socfw_dtype_nbytes(t->dtype, nelem, &nbytes) < 0 ||
            t->nbytes != nbytes || (const uint8_t *)t->data != img + off ||
            nbytes > have)
                abort();
        if (nelem <= MAX_ELEMS)
                read_back(mf, t, sel0, sel1);
        socfw_modelfile_close(mf);
out:
        free(img);
        return 0;
}
