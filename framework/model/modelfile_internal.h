/* modelfile_internal.h - shared between the model/ sources; not installed. */
#ifndef SOCFW_MODELFILE_INTERNAL_H
#define SOCFW_MODELFILE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "socfw/error.h"
#include "socfw/modelfile.h"

/* Limits on what a file may ask of us. */
#define MF_MAX_TENSORS   (1u << 20)
#define MF_MAX_KV        (1u << 20)
#define MF_MAX_DEPTH     8              /* nested GGUF arrays / JSON objects */
#define MF_MAX_SHARDS    4096
#define MF_MAX_ST_HEADER (100u << 20)   /* safetensors JSON header bytes    */
#define MF_MAX_CONFIG    (16u << 20)    /* config.json / index.json bytes   */

/* A metadata value.  Integers of every width are kept in `i` (or `u` for
 * U64); arrays keep their elements converted: integer arrays as int64_t
 * (uint64_t for U64), float arrays as double, string arrays as
 * socfw_strview, nested arrays as struct mf_value. */
struct mf_value {
        socfw_meta_type type;
        union {
                int64_t i;
                uint64_t u;
                double f;
                bool b;
                socfw_strview s;
                struct {
                        socfw_meta_type elem;
                        size_t count;
                        void *items;
                } a;
        } v;
};

struct mf_entry {
        const char *key;
        struct mf_value val;
};

struct mf_map {
        char *path;
        const uint8_t *base;
        size_t size;
        int mapped;
};

struct mf_arena_chunk;

struct socfw_modelfile {
        socfw_modelfile_format format;
        char *path;
        char *dir;
        uint32_t gguf_version;

        struct mf_map *maps;
        size_t n_maps, cap_maps;

        socfw_tensor_info *tensors;
        size_t n_tensors, cap_tensors;
        size_t *tensor_order;           /* indices sorted by name */

        struct mf_entry *meta;
        size_t n_meta, cap_meta;
        size_t *meta_order;             /* indices sorted by key  */

        struct mf_arena_chunk *arena;
};

/* ---- modelfile.c ---- */

/* Allocate from the modelfile's arena (freed at close).  NULL on OOM. */
void *mf_alloc(socfw_modelfile *mf, size_t size);
/* Copy `len` bytes and NUL-terminate. */
char *mf_strndup(socfw_modelfile *mf, const char *s, size_t len);

/* Append a tensor / metadata entry (grows arrays).  Return 0 or ENOMEM. */
int mf_add_tensor(socfw_modelfile *mf, const socfw_tensor_info *t);
int mf_add_meta(socfw_modelfile *mf, const char *key,
                const struct mf_value *val);

/* Map a whole file read-only; the map is owned by mf.  Returns the map
 * index (>= 0) or an error. */
int mf_map_file(socfw_modelfile *mf, const char *path, socfw_error *err);

/* Sort indices and reject duplicate tensor names / keys.  `what` names the
 * source for messages. */
int mf_finish(socfw_modelfile *mf, const char *what, socfw_error *err);

/* ---- gguf.c ---- */
/* Bytes of one GGUF metadata scalar of `type` (socfw_meta_type); 0 for
 * strings, arrays and unknown types.  Shared by the reader and the
 * writer (gguf_write.c). */
size_t mf_gguf_scalar_size(uint32_t type);

int mf_gguf_parse(socfw_modelfile *mf, const struct mf_map *m,
                  socfw_error *err);

/* ---- safetensors_read.c ---- */
int mf_safetensors_parse(socfw_modelfile *mf, const struct mf_map *m,
                         socfw_error *err);
int mf_hf_dir_open(socfw_modelfile *mf, const char *dir, socfw_error *err);

/* ---- dtype.c ---- */
int socfw_model_convert_f32(socfw_dtype t, const void *src, size_t nelem,
                            float *dst);

#endif
