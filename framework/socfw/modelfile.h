/* socfw/modelfile.h - read model weight files: GGUF (llama.cpp) and Hugging
 * Face safetensors (single file, directory, or sharded directory with
 * model.safetensors.index.json) plus config.json.
 *
 * Opening maps the files read-only; tensor data is never copied on open.
 * Every count, offset, size and string length in a file is checked against
 * the file before use, so a hostile or truncated file gives an error, never
 * a crash.  Metadata (GGUF key/value pairs, or config.json with nested objects
 * flattened with dots, e.g. "task_specific_params.text-generation.max_length",
 * plus safetensors "__metadata__.<key>") is read through one set of getters.
 *
 *     socfw_modelfile *mf = NULL;
 *     socfw_error err = {0};
 *     if (socfw_modelfile_open(&mf, "models/gpt2", &err) < 0)
 *             goto fail;                      // err says which file/field
 *     int64_t n_embd;
 *     if (socfw_modelfile_get_int(mf, "n_embd", &n_embd, &err) < 0)
 *             goto fail;
 *     const socfw_tensor_info *wte = socfw_modelfile_find(mf, "wte.weight");
 *     // wte->shape = {50257, 768}: outermost first, as PyTorch shows it
 *     float *w = malloc(wte->nelem * sizeof *w);
 *     socfw_modelfile_read_f32(mf, wte, w, wte->nelem, &err);
 *     ...
 *     socfw_modelfile_close(mf);
 *
 * Shapes are always row-major, OUTERMOST FIRST (PyTorch order).  GGUF stores
 * ne[0] as the innermost (fastest) dimension; it is reversed here, so the
 * GGUF token_embd.weight with ne = {64, 512} has shape {512, 64}.
 *
 * Only little-endian hosts and files are supported.  A socfw_modelfile is
 * immutable after open: concurrent readers from several threads are fine.
 */
#ifndef SOCFW_MODELFILE_H
#define SOCFW_MODELFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "socfw/dtype.h"
#include "socfw/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- tensors ---- */

#define SOCFW_MODELFILE_MAX_DIMS 8

typedef struct socfw_tensor_info {
        const char *name;       /* NUL-terminated, borrowed from the file */
        socfw_dtype dtype;
        int ndim;               /* 0 (scalar) .. SOCFW_MODELFILE_MAX_DIMS */
        int64_t shape[SOCFW_MODELFILE_MAX_DIMS]; /* outermost first; unused
                                                    entries are 1          */
        int64_t nelem;          /* product of shape (1 for a scalar)      */
        const void *data;       /* into the read-only mapping; may be
                                   unaligned for its type in safetensors  */
        size_t nbytes;          /* exactly socfw_dtype_nbytes(dtype, nelem) */
        const char *file;       /* path of the file (shard) holding it    */
        uint64_t offset;        /* absolute byte offset of data in `file` */
} socfw_tensor_info;

/* ---- opening ---- */

typedef struct socfw_modelfile socfw_modelfile;

typedef enum socfw_modelfile_format {
        SOCFW_MODELFILE_GGUF = 1,
        SOCFW_MODELFILE_SAFETENSORS = 2,
} socfw_modelfile_format;

/* Open `path`:
 *   - a .gguf file (GGUF v2 or v3; detected by its magic, any name works),
 *   - a .safetensors file (a config.json next to it is NOT read), or
 *   - a directory holding model.safetensors, or model.safetensors.index.json
 *     and its shards; config.json in that directory, if present, provides
 *     the metadata.  A directory with exactly one *.gguf file and no
 *     safetensors opens that file.
 * Returns 0 and sets *out (caller closes with socfw_modelfile_close), or a
 * negative SOCFW_E* code with *out = NULL and `err` naming the file and the
 * field at fault, e.g. "x.gguf: tensor 3 'blk.0.attn_q.weight': data offset
 * 123456 + size 4096 past end of file (100000 bytes)". */
int socfw_modelfile_open(socfw_modelfile **out, const char *path,
                         socfw_error *err);

/* Parse a GGUF or safetensors image already in memory (format detected from
 * the GGUF magic; anything else is tried as safetensors).  `data` is
 * borrowed and must stay valid and unchanged until socfw_modelfile_close.
 * `name` (may be NULL: "<memory>") is used in messages.  Same returns as
 * socfw_modelfile_open.  Meant for fuzzing and for embedded models. */
int socfw_modelfile_open_memory(socfw_modelfile **out, const void *data,
                                size_t size, const char *name,
                                socfw_error *err);

/* Unmap and free.  NULL is a no-op.  All borrowed pointers die here. */
void socfw_modelfile_close(socfw_modelfile *mf);

socfw_modelfile_format socfw_modelfile_format_of(const socfw_modelfile *mf);

/* The path given to open (borrowed). */
const char *socfw_modelfile_path(const socfw_modelfile *mf);

/* The directory the model lives in (borrowed, no trailing slash): the
 * directory itself when a directory was opened, else the file's directory
 * ("." for a bare file name).  Tokenizer files (tokenizer.json, vocab.json,
 * merges.txt, vocab.txt) are looked up here.  For open_memory: ".". */
const char *socfw_modelfile_dir(const socfw_modelfile *mf);

/* GGUF version (2 or 3); 0 for safetensors. */
uint32_t socfw_modelfile_gguf_version(const socfw_modelfile *mf);

/* ---- tensor access ---- */

size_t socfw_modelfile_n_tensors(const socfw_modelfile *mf);

/* Tensor i in file order (GGUF) or name order (safetensors).  Borrowed;
 * NULL when i is out of range. */
const socfw_tensor_info *socfw_modelfile_tensor(const socfw_modelfile *mf,
                                                size_t i);

/* Tensor by exact name; borrowed; NULL when absent. */
const socfw_tensor_info *socfw_modelfile_find(const socfw_modelfile *mf,
                                              const char *name);

/* Zero-copy view of an F32 tensor: `t->data` as const float * when t is F32
 * and suitably aligned, else NULL (then use socfw_modelfile_read_f32). */
const float *socfw_modelfile_f32_data(const socfw_tensor_info *t);

/* Convert a whole tensor to float32 into dst[0 .. t->nelem).  `n` is the
 * capacity of dst and must be >= t->nelem.  Handles F32, F16, BF16, F64,
 * integer and BOOL types, Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0 (GGML layouts).
 * Returns 0, SOCFW_EINVAL (n too small), or SOCFW_EUNSUPPORTED naming the
 * tensor and its dtype. */
int socfw_modelfile_read_f32(const socfw_modelfile *mf,
                             const socfw_tensor_info *t, float *dst,
                             size_t n, socfw_error *err);

/* The caller has its own copy of t and will not read t->data again soon
 * (a model loaded into float32): let the kernel drop the pages of t's
 * bytes from memory, so that loading does not hold the file and its
 * float copy at once.  They are read from the file again if touched.  A
 * no-op for tensors not in a file mapping (socfw_modelfile_open_memory). */
void socfw_modelfile_release(const socfw_modelfile *mf,
                             const socfw_tensor_info *t);

/* Same for rows [row0, row0 + nrows) where a row is the innermost dimension
 * (shape[ndim-1] elements), e.g. to look up a few embedding rows of a
 * quantised table.  dst receives nrows * row_length floats; `n` is its
 * capacity.  Returns as above; SOCFW_EINVAL for a bad row range. */
int socfw_modelfile_read_f32_rows(const socfw_modelfile *mf,
                                  const socfw_tensor_info *t, int64_t row0,
                                  int64_t nrows, float *dst, size_t n,
                                  socfw_error *err);

/* ---- metadata ---- */

/* Value types; 0..12 are the GGUF value type ids. */
typedef enum socfw_meta_type {
        SOCFW_META_U8 = 0,
        SOCFW_META_I8 = 1,
        SOCFW_META_U16 = 2,
        SOCFW_META_I16 = 3,
        SOCFW_META_U32 = 4,
        SOCFW_META_I32 = 5,
        SOCFW_META_F32 = 6,
        SOCFW_META_BOOL = 7,
        SOCFW_META_STRING = 8,
        SOCFW_META_ARRAY = 9,
        SOCFW_META_U64 = 10,
        SOCFW_META_I64 = 11,
        SOCFW_META_F64 = 12,
        SOCFW_META_NULL = 13,   /* JSON null (e.g. "n_inner": null)        */
        SOCFW_META_MIXED = 14,  /* element type of a JSON array whose items
                                   are not all one scalar type            */
} socfw_meta_type;

/* A length-delimited string (GGUF strings may contain NUL bytes).  `ptr` is
 * also NUL-terminated (at ptr[len]).  Borrowed from the modelfile. */
typedef struct socfw_strview {
        const char *ptr;
        size_t len;
} socfw_strview;

/* Name of a meta type ("u32", "string", "array", ...); static. */
const char *socfw_meta_type_name(socfw_meta_type t);

/* Number of metadata keys and key i (borrowed; NULL if out of range), in
 * file order (safetensors "__metadata__" first, then config.json), for
 * listing and inspection. */
size_t socfw_modelfile_meta_count(const socfw_modelfile *mf);
const char *socfw_modelfile_meta_key(const socfw_modelfile *mf, size_t i);

/* Returns 1 and sets *type (may be NULL) when `key` exists, else 0. */
int socfw_modelfile_has(const socfw_modelfile *mf, const char *key,
                        socfw_meta_type *type);

/* The scalar getters return 0 and set *out, SOCFW_ENOTFOUND when the key is
 * absent (err is filled too: callers that treat the key as optional may
 * pass NULL), or SOCFW_EINVAL when the value has the wrong type or does not
 * fit (the message names the key, its type and what was expected).
 *
 * get_int accepts any integer type (a u64 above INT64_MAX is an error) and a
 * float with an exact integer value; get_float accepts any numeric type;
 * get_bool accepts only booleans. */
int socfw_modelfile_get_int(const socfw_modelfile *mf, const char *key,
                            int64_t *out, socfw_error *err);
int socfw_modelfile_get_float(const socfw_modelfile *mf, const char *key,
                              double *out, socfw_error *err);
int socfw_modelfile_get_bool(const socfw_modelfile *mf, const char *key,
                             bool *out, socfw_error *err);

/* *out <- borrowed NUL-terminated string; *len (may be NULL) <- its length
 * in bytes (it may contain NUL bytes in GGUF). */
int socfw_modelfile_get_string(const socfw_modelfile *mf, const char *key,
                               const char **out, size_t *len,
                               socfw_error *err);

/* Array info: element type and count.  Either out pointer may be NULL.
 * Returns 0, SOCFW_ENOTFOUND, or SOCFW_EINVAL when not an array. */
int socfw_modelfile_get_array(const socfw_modelfile *mf, const char *key,
                              socfw_meta_type *elem_type, size_t *count,
                              socfw_error *err);

/* String array: *items <- borrowed array of *count views (tokens, merges).
 * SOCFW_EINVAL when not an array of strings. */
int socfw_modelfile_get_string_array(const socfw_modelfile *mf,
                                     const char *key,
                                     const socfw_strview **items,
                                     size_t *count, socfw_error *err);

/* Numeric arrays, converted and copied into dst (caller owns it).  `n` must
 * equal the element count reported by socfw_modelfile_get_array.  _int
 * accepts integer and bool elements (and floats with integer values); _f32
 * and _f64 accept any numeric element type.  Returns 0, SOCFW_ENOTFOUND or
 * SOCFW_EINVAL (wrong type, wrong n, value out of range for int32). */
int socfw_modelfile_get_int_array(const socfw_modelfile *mf, const char *key,
                                  int64_t *dst, size_t n, socfw_error *err);
int socfw_modelfile_get_i32_array(const socfw_modelfile *mf, const char *key,
                                  int32_t *dst, size_t n, socfw_error *err);
int socfw_modelfile_get_f32_array(const socfw_modelfile *mf, const char *key,
                                  float *dst, size_t n, socfw_error *err);
int socfw_modelfile_get_f64_array(const socfw_modelfile *mf, const char *key,
                                  double *dst, size_t n, socfw_error *err);

#ifdef __cplusplus
}
#endif
#endif /* SOCFW_MODELFILE_H */
