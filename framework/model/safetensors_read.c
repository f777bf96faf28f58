/* safetensors_read.c - safetensors parser and Hugging Face model
 * directories (model.safetensors or a sharded index, plus config.json).
 *
 * A safetensors file is: u64 little-endian header length N, N bytes of JSON
 * (an object: tensor name -> {"dtype", "shape", "data_offsets": [begin,
 * end]}, plus an optional "__metadata__" object of strings), then the data
 * buffer.  Offsets are relative to the buffer, must cover it exactly, and
 * must not overlap. */
#include "model/modelfile_internal.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "socfw/log.h"
#include "socfw/io.h"

/* ---- small helpers ---- */

static char *
join(const char *dir, const char *name)
{
        size_t ld = strlen(dir), ln = strlen(name);
        char *p = malloc(ld + ln + 2);
        if (!p)
                return NULL;
        memcpy(p, dir, ld);
        p[ld] = '/';
        memcpy(p + ld + 1, name, ln + 1);
        return p;
}

static json_t *
load_json(const char *path, socfw_error *err)
{
        char *text = NULL;
        size_t len = 0;
        json_error_t jerr;
        if (socfw_file_read(path, MF_MAX_CONFIG, &text, &len, err) < 0)
                return NULL;
        json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
        free(text);
        if (!j)
                socfw_error_set_at(err, SOCFW_EFORMAT, path, jerr.line,
                                   jerr.column, "invalid JSON: %s", jerr.text);
        else if (!json_is_object(j)) {
                socfw_error_set_at(err, SOCFW_EFORMAT, path, 0, 0,
                                   "expected a JSON object at top level");
                json_decref(j);
                j = NULL;
        }
        return j;
}

/* ---- JSON values as metadata ---- */

static int
json_to_value(socfw_modelfile *mf, json_t *v, struct mf_value *out)
{
        memset(out, 0, sizeof *out);
        switch (json_typeof(v)) {
        case JSON_NULL:
                out->type = SOCFW_META_NULL;
                return 0;
        case JSON_TRUE:
        case JSON_FALSE:
                out->type = SOCFW_META_BOOL;
                out->v.b = json_is_true(v);
                return 0;
        case JSON_INTEGER:
                out->type = SOCFW_META_I64;
                out->v.i = json_integer_value(v);
                return 0;
        case JSON_REAL:
                out->type = SOCFW_META_F64;
                out->v.f = json_real_value(v);
                return 0;
        case JSON_STRING:
                out->type = SOCFW_META_STRING;
                out->v.s.len = json_string_length(v);
                out->v.s.ptr = mf_strndup(mf, json_string_value(v),
                                          out->v.s.len);
                return out->v.s.ptr ? 0 : SOCFW_ENOMEM;
        case JSON_ARRAY:
                break;
        default:
                return SOCFW_EINVAL;    /* objects are flattened instead */
        }

        size_t n = json_array_size(v), i;
        int ints = 1, nums = 1, strs = 1, bools = 1;
        json_t *e;
        json_array_foreach(v, i, e) {
                ints &= json_is_integer(e);
                nums &= json_is_number(e);
                strs &= json_is_string(e);
                bools &= json_is_boolean(e);
        }
        out->type = SOCFW_META_ARRAY;
        out->v.a.count = n;
        out->v.a.items = NULL;
        if (n == 0) {
                out->v.a.elem = SOCFW_META_NULL;
                return 0;
        }
        if (strs) {
                socfw_strview *sv = mf_alloc(mf, n * sizeof *sv);
                if (!sv)
                        return SOCFW_ENOMEM;
                json_array_foreach(v, i, e) {
                        sv[i].len = json_string_length(e);
                        sv[i].ptr = mf_strndup(mf, json_string_value(e),
                                               sv[i].len);
                        if (!sv[i].ptr)
                                return SOCFW_ENOMEM;
                }
                out->v.a.elem = SOCFW_META_STRING;
                out->v.a.items = sv;
        } else if (ints || bools) {
                int64_t *iv = mf_alloc(mf, n * sizeof *iv);
                if (!iv)
                        return SOCFW_ENOMEM;
                json_array_foreach(v, i, e)
                        iv[i] = ints ? json_integer_value(e) : json_is_true(e);
                out->v.a.elem = ints ? SOCFW_META_I64 : SOCFW_META_BOOL;
                out->v.a.items = iv;
        } else if (nums) {
                double *dv = mf_alloc(mf, n * sizeof *dv);
                if (!dv)
                        return SOCFW_ENOMEM;
                json_array_foreach(v, i, e)
                        dv[i] = json_number_value(e);
                out->v.a.elem = SOCFW_META_F64;
                out->v.a.items = dv;
        } else {
                out->v.a.elem = SOCFW_META_MIXED;
        }
        return 0;
}

/* Add every member of `obj` as "<prefix>.<key>", descending into nested
 * objects (at most MF_MAX_DEPTH levels). */
static int
flatten(socfw_modelfile *mf, const char *prefix, json_t *obj, int depth,
        const char *file, socfw_error *err)
{
        const char *k;
        json_t *v;
        json_object_foreach(obj, k, v) {
                size_t lp = prefix ? strlen(prefix) + 1 : 0;
                size_t lk = strlen(k);
                char *key = mf_alloc(mf, lp + lk + 1);
                if (!key)
                        return socfw_error_set(err, SOCFW_ENOMEM,
                                               "out of memory");
                if (prefix) {
                        memcpy(key, prefix, lp - 1);
                        key[lp - 1] = '.';
                }
                memcpy(key + lp, k, lk + 1);
                if (json_is_object(v)) {
                        if (depth + 1 >= MF_MAX_DEPTH) {
                                socfw_log(SOCFW_LOG_LEVEL_WARN,
                                          "%s: '%s' nested more than %d "
                                          "levels deep; ignored", file, key,
                                          MF_MAX_DEPTH);
                                continue;
                        }
                        int rc = flatten(mf, key, v, depth + 1, file, err);
                        if (rc < 0)
                                return rc;
                        continue;
                }
                if (mf->n_meta >= MF_MAX_KV)
                        return socfw_error_set_at(err, SOCFW_EFORMAT, file, 0,
                                                  0, "more than %u keys",
                                                  MF_MAX_KV);
                struct mf_value val;
                if (json_to_value(mf, v, &val) < 0 ||
                    mf_add_meta(mf, key, &val) < 0)
                        return socfw_error_set(err, SOCFW_ENOMEM,
                                               "out of memory");
        }
        return 0;
}

/* ---- one safetensors file ---- */

static int
cmp_tensor_name(const void *a, const void *b)
{
        const socfw_tensor_info *x = a, *y = b;
        return strcmp(x->name, y->name);
}

struct st_tensor {
        socfw_tensor_info *t;   /* index into mf->tensors via base + i */
        uint64_t begin, end;
};

static int
cmp_begin(const void *a, const void *b)
{
        const struct st_tensor *x = a, *y = b;
        if (x->begin != y->begin)
                return x->begin < y->begin ? -1 : 1;
        return x->end < y->end ? -1 : x->end > y->end;
}

static int
get_u64(json_t *v, uint64_t *out)
{
        if (!json_is_integer(v) || json_integer_value(v) < 0)
                return -1;
        *out = (uint64_t)json_integer_value(v);
        return 0;
}

static int
parse_tensor(socfw_modelfile *mf, const struct mf_map *m, const char *name,
             json_t *spec, uint64_t bufsize, uint64_t *begin, uint64_t *end,
             socfw_error *err)
{
        const char *f = m->path;
        socfw_tensor_info t;
        memset(&t, 0, sizeof t);

        if (!json_is_object(spec))
                return socfw_error_set_at(err, SOCFW_EFORMAT, f, 0, 0,
                                          "tensor '%s': expected an object "
                                          "with dtype, shape, data_offsets",
                                          name);
        json_t *jd = json_object_get(spec, "dtype");
        json_t *js = json_object_get(spec, "shape");
        json_t *jo = json_object_get(spec, "data_offsets");
        if (!json_is_string(jd) || !json_is_array(js) ||
            !json_is_array(jo) || json_array_size(jo) != 2)
                return socfw_error_set_at(err, SOCFW_EFORMAT, f, 0, 0,
                                          "tensor '%s': needs \"dtype\" "
                                          "(string), \"shape\" (array) and "
                                          "\"data_offsets\" ([begin, end])",
                                          name);
        if (socfw_dtype_from_name(json_string_value(jd), &t.dtype) < 0 ||
            socfw_dtype_block_size(t.dtype) != 1)
                return socfw_error_set_at(err, SOCFW_EUNSUPPORTED, f, 0, 0,
                                          "tensor '%s': unknown or "
                                          "unsupported dtype '%s' (supported:"
                                          " F64 F32 F16 BF16 I64 I32 I16 I8 "
                                          "U64 U32 U16 U8 BOOL)", name,
                                          json_string_value(jd));
        size_t nd = json_array_size(js);
        if (nd > SOCFW_MODELFILE_MAX_DIMS)
                return socfw_error_set_at(err, SOCFW_EFORMAT, f, 0, 0,
                                          "tensor '%s': %zu dimensions, at "
                                          "most %d allowed", name, nd,
                                          SOCFW_MODELFILE_MAX_DIMS);
        uint64_t nelem = 1;
        for (int d = 0; d < SOCFW_MODELFILE_MAX_DIMS; d++)
                t.shape[d] = 1;
        for (size_t d = 0; d < nd; d++) {
                uint64_t x;
                if (get_u64(json_array_get(js, d), &x) < 0)
                        return socfw_error_set_at(err, SOCFW_EFORMAT, f, 0, 0,
                                                  "tensor '%s': shape[%zu] is"
                                                  " not a non-negative "
                                                  "integer", name, d);
                if (x != 0 && nelem > (uint64_t)INT64_MAX / x)
                        return socfw_error_set_at(err, SOCFW_EFORMAT, f, 0, 0,
                                                  "tensor '%s': element count"
                                                  " overflows at shape[%zu]",
                                                  name, d);
                nelem *= x;
                t.shape[d] = (int64_t)x;
        }
        if (get_u64(json_array_get(jo, 0), begin) < 0 ||
            get_u64(json_array_get(jo, 1), end) < 0)
                return socfw_error_set_at(err, SOCFW_EFORMAT, f, 0, 0,
                                          "tensor '%s': data_offsets must be "
                                          "non-negative integers", name);
        size_t nbytes;
        if (socfw_dtype_nbytes(t.dtype, nelem, &nbytes) < 0)
                return socfw_error_set_at(err, SOCFW_EFORMAT, f, 0, 0,
                                          "tensor '%s': data size overflows",
                                          name);
        if (*begin > *end || *end > bufsize)
                return socfw_error_set_at(err, SOCFW_EFORMAT, f, 0, 0,
                                          "tensor '%s': data_offsets [%llu, "
                                          "%llu] outside the data buffer "
                                          "(%llu bytes)", name,
                                          (unsigned long long)*begin,
                                          (unsigned long long)*end,
                                          (unsigned long long)bufsize);
        if (*end - *begin != nbytes)
                return socfw_error_set_at(err, SOCFW_EFORMAT, f, 0, 0,
                                          "tensor '%s': data_offsets span "
                                          "%llu bytes but %s x %llu elements "
                                          "need %zu", name,
                                          (unsigned long long)(*end - *begin),
                                          socfw_dtype_name(t.dtype),
                                          (unsigned long long)nelem, nbytes);
        t.name = mf_strndup(mf, name, strlen(name));
        if (!t.name)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        t.ndim = (int)nd;
        t.nelem = (int64_t)nelem;
        t.nbytes = nbytes;
        t.file = m->path;
        /* data/offset are set by the caller once the buffer start is known */
        t.offset = *begin;
        if (mf_add_tensor(mf, &t) < 0)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        return 0;
}

static int
check_coverage(const struct mf_map *m, socfw_modelfile *mf, size_t first,
               uint64_t bufsize, socfw_error *err)
{
        size_t n = mf->n_tensors - first;
        struct st_tensor *v = NULL;
        int rc = 0;
        if (n == 0) {
                if (bufsize != 0)
                        return socfw_error_set_at(err, SOCFW_EFORMAT, m->path,
                                                  0, 0, "%llu bytes of data "
                                                  "but no tensors",
                                                  (unsigned long long)bufsize);
                return 0;
        }
        v = malloc(n * sizeof *v);
        if (!v)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++) {
                v[i].t = &mf->tensors[first + i];
                v[i].begin = v[i].t->offset;
                v[i].end = v[i].begin + v[i].t->nbytes;
        }
        qsort(v, n, sizeof *v, cmp_begin);
        uint64_t pos = 0;
        for (size_t i = 0; i < n; i++) {
                if (v[i].begin < pos) {
                        rc = socfw_error_set_at(err, SOCFW_EFORMAT, m->path,
                                                0, 0, "tensor '%s' (bytes "
                                                "%llu..%llu) overlaps tensor "
                                                "'%s'", v[i].t->name,
                                                (unsigned long long)v[i].begin,
                                                (unsigned long long)v[i].end,
                                                v[i - 1].t->name);
                        goto out;
                }
                if (v[i].begin > pos) {
                        rc = socfw_error_set_at(err, SOCFW_EFORMAT, m->path,
                                                0, 0, "unused bytes %llu..%llu"
                                                " before tensor '%s' (the "
                                                "data buffer must be fully "
                                                "indexed)",
                                                (unsigned long long)pos,
                                                (unsigned long long)v[i].begin,
                                                v[i].t->name);
                        goto out;
                }
                pos = v[i].end;
        }
        if (pos != bufsize)
                rc = socfw_error_set_at(err, SOCFW_EFORMAT, m->path, 0, 0,
                                        "tensors end at byte %llu of a %llu "
                                        "byte data buffer (trailing bytes)",
                                        (unsigned long long)pos,
                                        (unsigned long long)bufsize);
out:
        free(v);
        return rc;
}

int
mf_safetensors_parse(socfw_modelfile *mf, const struct mf_map *m,
                     socfw_error *err)
{
        const char *f = m->path;
        json_t *root = NULL;
        json_error_t jerr;
        int rc = 0;

        if (m->size < 8)
                return socfw_error_set_at(err, SOCFW_EFORMAT, f, 0, 0,
                                          "file too short for a safetensors "
                                          "header (%zu bytes)", m->size);
        uint64_t hlen = 0;
        for (int i = 7; i >= 0; i--)
                hlen = (hlen << 8) | m->base[i];
        if (hlen > m->size - 8)
                return socfw_error_set_at(err, SOCFW_EFORMAT, f, 0, 0,
                                          "header length %llu exceeds the "
                                          "file size (%zu bytes; hint: not a "
                                          "safetensors file, or truncated)",
                                          (unsigned long long)hlen, m->size);
        if (hlen > MF_MAX_ST_HEADER)
                return socfw_error_set_at(err, SOCFW_EFORMAT, f, 0, 0,
                                          "header length %llu exceeds the "
                                          "limit of %u bytes",
                                          (unsigned long long)hlen,
                                          MF_MAX_ST_HEADER);
        const char *h = (const char *)m->base + 8;
        if (hlen < 2 || h[0] != '{')
                return socfw_error_set_at(err, SOCFW_EFORMAT, f, 0, 0,
                                          "header is not a JSON object "
                                          "(hint: not a safetensors file?)");
        root = json_loadb(h, (size_t)hlen, JSON_REJECT_DUPLICATES, &jerr);
        if (!root) {
                rc = socfw_error_set_at(err, SOCFW_EFORMAT, f, 0, 0,
                                        "invalid JSON header at byte %d: %s",
                                        jerr.position, jerr.text);
                goto out;
        }
        if (!json_is_object(root)) {
                rc = socfw_error_set_at(err, SOCFW_EFORMAT, f, 0, 0,
                                        "header is not a JSON object");
                goto out;
        }
        uint64_t bufstart = 8 + hlen, bufsize = m->size - bufstart;
        size_t first = mf->n_tensors;
        const char *k;
        json_t *v;
        json_object_foreach(root, k, v) {
                if (strcmp(k, "__metadata__") == 0) {
                        if (!json_is_object(v)) {
                                rc = socfw_error_set_at(err, SOCFW_EFORMAT, f,
                                                        0, 0, "__metadata__ "
                                                        "is not an object");
                                goto out;
                        }
                        const char *mk;
                        json_t *mv;
                        json_object_foreach(v, mk, mv) {
                                if (!json_is_string(mv)) {
                                        rc = socfw_error_set_at(
                                                err, SOCFW_EFORMAT, f, 0, 0,
                                                "__metadata__ value '%s' is "
                                                "not a string", mk);
                                        goto out;
                                }
                        }
                        rc = flatten(mf, "__metadata__", v, 0, f, err);
                        if (rc < 0)
                                goto out;
                        continue;
                }
                if (!*k) {
                        rc = socfw_error_set_at(err, SOCFW_EFORMAT, f, 0, 0,
                                                "empty tensor name");
                        goto out;
                }
                if (mf->n_tensors >= MF_MAX_TENSORS) {
                        rc = socfw_error_set_at(err, SOCFW_EFORMAT, f, 0, 0,
                                                "more than %u tensors",
                                                MF_MAX_TENSORS);
                        goto out;
                }
                uint64_t b, e;
                rc = parse_tensor(mf, m, k, v, bufsize, &b, &e, err);
                if (rc < 0)
                        goto out;
        }
        rc = check_coverage(m, mf, first, bufsize, err);
        if (rc < 0)
                goto out;
        for (size_t i = first; i < mf->n_tensors; i++) {
                socfw_tensor_info *t = &mf->tensors[i];
                t->offset += bufstart;
                t->data = m->base + t->offset;
        }
        if (mf->n_tensors - first > 1)
                qsort(mf->tensors + first, mf->n_tensors - first,
                      sizeof *mf->tensors, cmp_tensor_name);
out:
        json_decref(root);
        return rc;
}

/* ---- Hugging Face directories ---- */

static int
open_shards(socfw_modelfile *mf, const char *dir, const char *index_path,
            socfw_error *err)
{
        json_t *idx = load_json(index_path, err);
        json_t *wm;
        const char **files = NULL;
        size_t n_files = 0;
        int rc = 0;
        const char *k;
        json_t *v;

        if (!idx)
                return err && err->code ? err->code : SOCFW_EFORMAT;
        wm = json_object_get(idx, "weight_map");
        if (!json_is_object(wm)) {
                rc = socfw_error_set_at(err, SOCFW_EFORMAT, index_path, 0, 0,
                                        "no \"weight_map\" object");
                goto out;
        }
        files = malloc((json_object_size(wm) + 1) * sizeof *files);
        if (!files) {
                rc = socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
                goto out;
        }
        json_object_foreach(wm, k, v) {
                const char *s = json_string_value(v);
                if (!s || !*s || strchr(s, '/') || s[0] == '.') {
                        rc = socfw_error_set_at(err, SOCFW_EFORMAT, index_path,
                                                0, 0, "weight_map['%s'] must "
                                                "be a file name in the same "
                                                "directory", k);
                        goto out;
                }
                size_t i;
                for (i = 0; i < n_files; i++)
                        if (strcmp(files[i], s) == 0)
                                break;
                if (i == n_files) {
                        if (n_files >= MF_MAX_SHARDS) {
                                rc = socfw_error_set_at(err, SOCFW_EFORMAT,
                                                        index_path, 0, 0,
                                                        "more than %d shards",
                                                        MF_MAX_SHARDS);
                                goto out;
                        }
                        files[n_files++] = s;
                }
        }
        for (size_t i = 0; i < n_files; i++) {
                char *p = join(dir, files[i]);
                if (!p) {
                        rc = socfw_error_set(err, SOCFW_ENOMEM,
                                             "out of memory");
                        goto out;
                }
                rc = mf_map_file(mf, p, err);
                free(p);
                if (rc < 0) {
                        socfw_error_prefix(err, rc, "%s: shard listed in "
                                           "the index", index_path);
                        goto out;
                }
                rc = mf_safetensors_parse(mf, &mf->maps[rc], err);
                if (rc < 0)
                        goto out;
        }
        /* every entry of the weight map must be in the shard it names */
        json_object_foreach(wm, k, v) {
                const char *s = json_string_value(v);
                const socfw_tensor_info *t = NULL;
                for (size_t i = 0; i < mf->n_tensors && !t; i++)
                        if (strcmp(mf->tensors[i].name, k) == 0)
                                t = &mf->tensors[i];
                size_t lf = t ? strlen(t->file) : 0, ls = strlen(s);
                if (!t || lf < ls || strcmp(t->file + lf - ls, s) != 0) {
                        rc = socfw_error_set_at(err, SOCFW_EFORMAT, index_path,
                                                0, 0, "tensor '%s' is not in "
                                                "shard %s", k, s);
                        goto out;
                }
        }
out:
        free(files);
        json_decref(idx);
        return rc;
}

/* The single file in `dir` ending with `suffix`; NULL if none or several
 * (*several set). Caller frees. */
static char *
only_file_with_suffix(const char *dir, const char *suffix, int *several)
{
        DIR *d = opendir(dir);
        char *found = NULL;
        struct dirent *de;
        *several = 0;
        if (!d)
                return NULL;
        size_t lx = strlen(suffix);
        while ((de = readdir(d)) != NULL) {
                size_t l = strlen(de->d_name);
                if (l <= lx || strcmp(de->d_name + l - lx, suffix) != 0)
                        continue;
                char *p = join(dir, de->d_name);
                if (!p || !socfw_path_is_file(p)) {
                        free(p);
                        continue;
                }
                if (found) {
                        *several = 1;
                        free(p);
                        free(found);
                        found = NULL;
                        break;
                }
                found = p;
        }
        closedir(d);
        return found;
}

int
mf_hf_dir_open(socfw_modelfile *mf, const char *dir, socfw_error *err)
{
        char *index = join(dir, "model.safetensors.index.json");
        char *single = join(dir, "model.safetensors");
        char *config = join(dir, "config.json");
        char *other = NULL;
        json_t *cfg = NULL;
        int rc = 0, several = 0;

        if (!index || !single || !config) {
                rc = socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
                goto out;
        }
        mf->format = SOCFW_MODELFILE_SAFETENSORS;
        if (socfw_path_is_file(index)) {
                rc = open_shards(mf, dir, index, err);
        } else if (socfw_path_is_file(single)) {
                rc = mf_map_file(mf, single, err);
                if (rc >= 0)
                        rc = mf_safetensors_parse(mf, &mf->maps[rc], err);
        } else if ((other = only_file_with_suffix(dir, ".safetensors",
                                                  &several)) != NULL) {
                rc = mf_map_file(mf, other, err);
                if (rc >= 0)
                        rc = mf_safetensors_parse(mf, &mf->maps[rc], err);
        } else if (!several &&
                   (other = only_file_with_suffix(dir, ".gguf",
                                                  &several)) != NULL) {
                mf->format = SOCFW_MODELFILE_GGUF;
                rc = mf_map_file(mf, other, err);
                if (rc >= 0)
                        rc = mf_gguf_parse(mf, &mf->maps[rc], err);
                if (rc >= 0)
                        rc = mf_finish(mf, other, err);
                goto out;       /* config.json is not used with GGUF */
        } else {
                rc = socfw_error_set_at(err, SOCFW_ENOTFOUND, dir, 0, 0,
                                        "no model.safetensors, "
                                        "model.safetensors.index.json or "
                                        "single .gguf/.safetensors file in "
                                        "this directory (hint: convert "
                                        "pytorch_model.bin to safetensors)");
        }
        if (rc < 0)
                goto out;
        if (mf->n_tensors > 1)
                qsort(mf->tensors, mf->n_tensors, sizeof *mf->tensors,
                      cmp_tensor_name);
        if (socfw_path_is_file(config)) {
                cfg = load_json(config, err);
                if (!cfg) {
                        rc = err && err->code ? err->code : SOCFW_EFORMAT;
                        goto out;
                }
                rc = flatten(mf, NULL, cfg, 0, config, err);
                if (rc < 0)
                        goto out;
        }
        rc = mf_finish(mf, socfw_path_is_file(index) ? index : dir, err);
out:
        json_decref(cfg);
        free(index);
        free(single);
        free(config);
        free(other);
        return rc;
}
