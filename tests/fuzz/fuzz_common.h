/* fuzz_common.h - shared body of the model-file fuzz targets: open the
 * input from memory and, when it parses, touch everything a caller could. */
#ifndef SOCFW_FUZZ_COMMON_H
#define SOCFW_FUZZ_COMMON_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "socfw/modelfile.h"

static void
fuzz_modelfile(const uint8_t *data, size_t size, const char *name)
{
        socfw_modelfile *mf = NULL;
        socfw_error err = {0};
        char buf[2048];

        if (socfw_modelfile_open_memory(&mf, data, size, name, &err) < 0) {
                /* every failure must carry a message */
                if (!err.message[0])
                        abort();
                socfw_error_string(&err, buf, sizeof buf);
                return;
        }
        for (size_t i = 0; i < socfw_modelfile_n_tensors(mf); i++) {
                const socfw_tensor_info *t = socfw_modelfile_tensor(mf, i);
                if (socfw_modelfile_find(mf, t->name) != t)
                        abort();
                /* the data must lie inside the input */
                if (t->nbytes && ((const uint8_t *)t->data < data ||
                                  t->offset > size ||
                                  t->nbytes > size - t->offset))
                        abort();
                /* row ranges at the edges of int64 read nothing or are
                 * refused, whatever the shape */
                static const int64_t r[][2] = {{0, 0}, {0, 1}, {1, 0},
                                               {0, INT64_MAX},
                                               {INT64_MAX, 1},
                                               {1, INT64_MAX}, {-1, 1}};
                for (size_t k = 0; k < sizeof r / sizeof r[0]; k++) {
                        float one;
                        int rc = socfw_modelfile_read_f32_rows(
                                mf, t, r[k][0], r[k][1], &one, 1, NULL);
                        if (rc != 0 && rc != SOCFW_EINVAL &&
                            rc != SOCFW_EUNSUPPORTED)
                                abort();
                }
                if (t->nelem > 0 && t->nelem <= (1 << 16)) {
                        float *f = malloc((size_t)t->nelem * sizeof *f);
                        if (f) {
                                socfw_modelfile_read_f32(mf, t, f,
                                                         (size_t)t->nelem,
                                                         NULL);
                                socfw_modelfile_read_f32_rows(mf, t, 0, 1, f,
                                                              (size_t)t->nelem,
                                                              NULL);
                        }
                        free(f);
                }
        }
        for (size_t i = 0; i < socfw_modelfile_meta_count(mf); i++) {
                const char *k = socfw_modelfile_meta_key(mf, i);
                int64_t iv;
                double dv;
                bool bv;
                const char *s;
                size_t n, len;
                socfw_meta_type et;
                const socfw_strview *sv;
                socfw_modelfile_get_int(mf, k, &iv, NULL);
                socfw_modelfile_get_float(mf, k, &dv, NULL);
                socfw_modelfile_get_bool(mf, k, &bv, NULL);
                if (socfw_modelfile_get_string(mf, k, &s, &len, NULL) == 0 &&
                    s[len] != '\0')
                        abort();
                if (socfw_modelfile_get_string_array(mf, k, &sv, &n,
                                                     NULL) == 0)
                        for (size_t j = 0; j < n; j++)
                                if (sv[j].ptr[sv[j].len] != '\0')
                                        abort();
                if (socfw_modelfile_get_array(mf, k, &et, &n, NULL) == 0 &&
                    n <= (1 << 16)) {
                        double *d = malloc((n ? n : 1) * sizeof *d);
                        int32_t *i32 = malloc((n ? n : 1) * sizeof *i32);
                        if (d && i32) {
                                socfw_modelfile_get_f64_array(mf, k, d, n,
                                                              NULL);
                                socfw_modelfile_get_i32_array(mf, k, i32, n,
                                                              NULL);
                        }
                        free(d);
                        free(i32);
                }
        }
        socfw_modelfile_close(mf);
}

#endif
