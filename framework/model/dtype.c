/* dtype.c - conversion of a tensor file's elements to float32: the plain
 * integer and F64 types here, the rest (half precision, GGML blocks) by
 * socfw_dtype_to_f32 in the nn layer (framework/nn/dtype.c). */
#include "model/modelfile_internal.h"

#include <string.h>

#include "socfw/qtensor.h"


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
        size_t i;

        switch (t) {
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
        default:
                /* F32, F16, BF16 and the block formats */
                return socfw_dtype_to_f32(t, s, nelem, dst);
        }
}
