/* hub.c - `socfw pull`: fetch a model repository from a Hugging Face-style
 * hub into the local cache with libcurl, and find it there again (see
 * socfw/hub.h for the layout and the guarantees). */
#include "config.h"

#include "socfw/hub.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/io_internal.h"
#include "socfw/io.h"
#include "socfw/log.h"

#define PART_MAX 96             /* ORG and NAME                            */
#define REVISION_MAX 128
#define FILE_NAME_MAX 256
#define MAX_FILES 4096          /* shards of one model                     */
#define INDEX_MAX_BYTES (64u << 20)
#define MANIFEST "socfw-pull.json"
#define DEFAULT_ENDPOINT "https://huggingface.co"

/* Tokenizer and generation files a Transformers repository may have. */
static const char *const optional_files[] = {
        "tokenizer.json",        "tokenizer_config.json",
        "special_tokens_map.json", "vocab.json",
        "merges.txt",            "vocab.txt",
        "generation_config.json", NULL,
};

/* ---- names ---- */

static int
name_char(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
               (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

/* A path component of 1..max characters of name_char, not "." or "..". */
static int
component_ok(const char *s, size_t n, size_t max)
{
        if (n == 0 || n > max)
                return 0;
        if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
                return 0;
        for (size_t i = 0; i < n; i++)
                if (!name_char(s[i]))
                        return 0;
        return 1;
}

int
socfw_hub_check_repo(const char *repo, socfw_error *err)
{
        const char *slash = repo ? strchr(repo, '/') : NULL;
        if (!slash || strchr(slash + 1, '/') ||
            !component_ok(repo, (size_t)(slash - repo), PART_MAX) ||
            !component_ok(slash + 1, strlen(slash + 1), PART_MAX))
                return socfw_error_set(
                        err, SOCFW_EINVAL,
                        "'%s' is not a model repository name (hint: ORG/NAME, "
                        "e.g. sshleifer/tiny-gpt2: letters, digits, '.', '_' "
                        "and '-')",
                        repo ? repo : "(null)");
        return 0;
}

/* Branch, tag or commit: components separated by '/' (release/v1). */
static int
check_revision(const char *rev, socfw_error *err)
{
        size_t n = strlen(rev);
        int ok = n > 0 && n <= REVISION_MAX;
        for (const char *p = rev; ok && *p;) {
                const char *e = strchr(p, '/');
                size_t len = e ? (size_t)(e - p) : strlen(p);
                ok = component_ok(p, len, REVISION_MAX);
                p += len + (e != NULL);
                if (e && !*p)
                        ok = 0;
        }
        if (!ok)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "revision '%s' is not a branch, tag "
                                       "or commit name",
                                       rev);
        return 0;
}

/* Files live directly in the model directory. */
static int
check_file_name(const char *name, socfw_error *err)
{
        if (!component_ok(name, strlen(name), FILE_NAME_MAX) ||
            !strcmp(name, MANIFEST))
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "'%s' is not a file name socfw can "
                                       "fetch (hint: files directly in the "
                                       "repository, letters, digits, '.', "
                                       "'_' and '-')",
                                       name);
        return 0;
}

/* ---- cache ---- */

int
socfw_hub_cache_root(char *buf, size_t size, const char *cache_dir,
                     socfw_error *err)
{
        const char *env;
        int n;
        if (cache_dir && *cache_dir)
                n = snprintf(buf, size, "%s", cache_dir);
        else if ((env = getenv("SOCFW_CACHE_DIR")) && *env)
                n = snprintf(buf, size, "%s/hub", env);
        else if ((env = getenv("XDG_CACHE_HOME")) && *env)
                n = snprintf(buf, size, "%s/socfw/hub", env);
        else if ((env = getenv("HOME")) && *env)
                n = snprintf(buf, size, "%s/.cache/socfw/hub", env);
        else
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "no cache directory (hint: set "
                                       "SOCFW_CACHE_DIR or HOME)");
        if (n < 0 || (size_t)n >= size)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "cache directory path too long");
        return 0;
}

/* <root>/<ORG>--<NAME>/<revision with '/' as "--"> */
static int
model_dir(char *buf, size_t size, const char *root, const char *repo,
          const char *rev, socfw_error *err)
{
        char r[2 * REVISION_MAX + 1];
        size_t k = 0;
        for (const char *p = rev; *p && k + 2 < sizeof r; p++) {
                if (*p == '/') {
                        r[k++] = '-';
                        r[k++] = '-';
                } else {
                        r[k++] = *p;
                }
        }
        r[k] = '\0';
        const char *slash = strchr(repo, '/');
        int n = snprintf(buf, size, "%s/%.*s--%s/%s", root,
                         (int)(slash - repo), repo, slash + 1, r);
        if (n < 0 || (size_t)n >= size)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "cache path too long for %s", repo);
        return 0;
}

/* ---- one file ---- */

typedef struct fetched {
        char *name;
        uint64_t size;
        char sha256[65];
} fetched;

typedef struct download {
        const socfw_hub_options *o;
        const char *name;
        FILE *f;
        uint64_t have;          /* bytes of .part kept from before        */
        uint64_t written;       /* bytes written in this request          */
        int io_failed;
        crypto_hash_sha256_state sha;
        char linked_etag[96];   /* sha256 of LFS files (huggingface.co)   */
} download;

static size_t
on_header(char *buf, size_t size, size_t n, void *user)
{
        download *d = user;
        size_t len = size * n;
        static const char key[] = "x-linked-etag:";
        if (len > sizeof key - 1 &&
            !strncasecmp(buf, key, sizeof key - 1)) {
                const char *v = buf + sizeof key - 1;
                const char *end = buf + len;
                while (v < end && (*v == ' ' || *v == '"'))
                        v++;
                size_t k = 0;
                while (v < end && k + 1 < sizeof d->linked_etag &&
                       *v != '"' && *v != '\r' && *v != '\n')
                        d->linked_etag[k++] = *v++;
                d->linked_etag[k] = '\0';
        }
        return len;
}

static size_t
on_body(char *data, size_t size, size_t n, void *user)
{
        download *d = user;
        size_t len = size * n;
        if (fwrite(data, 1, len, d->f) != len) {
                d->io_failed = errno ? errno : EIO;
                return 0;       /* aborts the transfer */
        }
        crypto_hash_sha256_update(&d->sha, (const unsigned char *)data, len);
        d->written += len;
        return len;
}

static int
on_progress(void *user, curl_off_t total, curl_off_t now, curl_off_t ut,
            curl_off_t un)
{
        (void)ut;
        (void)un;
        download *d = user;
        if (d->o->progress)
                d->o->progress(d->o->progress_user, d->name, d->have +
                               (uint64_t)now,
                               total ? d->have + (uint64_t)total : 0);
        return 0;
}

static int
fsync_dir(const char *dir)
{
        int fd = open(dir, O_RDONLY | O_DIRECTORY);
        if (fd < 0)
                return -1;
        int rc = fsync(fd);
        close(fd);
        return rc;
}

static CURLcode
setup_request(CURL *c, const char *url, download *d,
              struct curl_slist **headers, const char *token)
{
        CURLcode cc = CURLE_OK;
        *headers = NULL;
        if (token && *token) {
                char auth[4200];
                snprintf(auth, sizeof auth, "Authorization: Bearer %s",
                         token);
                *headers = curl_slist_append(NULL, auth);
        }
        long ct = d->o->connect_timeout_s > 0 ? d->o->connect_timeout_s : 30;
        if ((cc = curl_easy_setopt(c, CURLOPT_URL, url)) ||
            (cc = curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L)) ||
            (cc = curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L)) ||
            (cc = curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, ct)) ||
            /* a stalled connection (< 1 byte/s for 60 s) fails, a slow
             * one does not */
            (cc = curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L)) ||
            (cc = curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L)) ||
            (cc = curl_easy_setopt(c, CURLOPT_USERAGENT,
                                   "socfw/" PACKAGE_VERSION)) ||
            (cc = curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header)) ||
            (cc = curl_easy_setopt(c, CURLOPT_HEADERDATA, d)) ||
            (cc = curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body)) ||
            (cc = curl_easy_setopt(c, CURLOPT_WRITEDATA, d)) ||
            (cc = curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L)) ||
            (cc = curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION,
                                   on_progress)) ||
            (cc = curl_easy_setopt(c, CURLOPT_XFERINFODATA, d)) ||
            (cc = curl_easy_setopt(c, CURLOPT_HTTPHEADER, *headers)))
                return cc;
        return CURLE_OK;
}

/* The SHA-256 an earlier manifest gives `name` when it also gives this
 * size: copied into sha (65 bytes) and 1, else 0. */
static int
known_sha(const json_t *manifest, const char *name, uint64_t size, char *sha)
{
        json_t *f;
        size_t i;
        json_array_foreach(json_object_get(manifest, "files"), i, f) {
                const char *n = json_string_value(json_object_get(f, "name"));
                const char *h = json_string_value(json_object_get(f,
                                                                  "sha256"));
                json_t *sz = json_object_get(f, "size");
                if (n && h && !strcmp(n, name) && json_is_integer(sz) &&
                    (uint64_t)json_integer_value(sz) == size &&
                    strlen(h) == 64 && strspn(h, "0123456789abcdef") == 64) {
                        memcpy(sha, h, 65);
                        return 1;
                }
        }
        return 0;
}

/* One pull in progress: where from, where to, what has been fetched. */
typedef struct pull {
        CURL *c;
        const char *endpoint, *repo, *rev, *dir, *token;
        const socfw_hub_options *o;
        socfw_error *err;
        fetched *files;
        size_t n;
        json_t *prev;           /* the manifest of an earlier pull, or NULL */
} pull;

/* Fetch one file into dir.  `required` 0: a 404 is not an error
 * (returns SOCFW_ENOTFOUND without setting err).  Fills *out. */
static int
fetch_file(pull *p, const char *name, int required, fetched *out)
{
        CURL *c = p->c;
        const char *endpoint = p->endpoint, *repo = p->repo, *rev = p->rev;
        const char *dir = p->dir, *token = p->token;
        const socfw_hub_options *o = p->o;
        socfw_error *err = p->err;
        char path[4400], part[4500], url[8192];
        snprintf(path, sizeof path, "%s/%s", dir, name);
        snprintf(part, sizeof part, "%s.part", path);
        memset(out, 0, sizeof *out);
        out->name = strdup(name);
        if (!out->name)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        unsigned char digest[crypto_hash_sha256_BYTES];
        struct stat st;
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
                /* complete from an earlier pull: its manifest knows the
                 * hash unless the file changed size since */
                out->size = (uint64_t)st.st_size;
                if (known_sha(p->prev, name, out->size, out->sha256))
                        return 0;
                return socfw_file_sha256(path, out->sha256, &out->size,
                                         err);
        }
        int n = snprintf(url, sizeof url, "%s/%s/resolve/%s/%s", endpoint,
                         repo, rev, name);
        if (n < 0 || (size_t)n >= sizeof url)
                return socfw_error_set(err, SOCFW_EINVAL, "URL too long");

        download d = {.o = o, .name = name};
        for (int attempt = 0; attempt < 2; attempt++) {
                crypto_hash_sha256_init(&d.sha);
                d.have = 0;
                d.written = 0;
                d.io_failed = 0;
                d.linked_etag[0] = '\0';
                int rc;
                if (attempt == 0 && stat(part, &st) == 0 && st.st_size > 0 &&
                    (rc = socfw_file_sha256_feed(part, &d.sha, &d.have,
                                                 err)) < 0)
                        return rc;
                d.f = fopen(part, d.have ? "ab" : "wb");
                if (!d.f)
                        return socfw_error_set(err, SOCFW_EIO,
                                               "%s: %s (hint: is the cache "
                                               "directory writable?)",
                                               part, strerror(errno));
                curl_easy_reset(c);
                struct curl_slist *headers = NULL;
                CURLcode cc = setup_request(c, url, &d, &headers, token);
                if (cc == CURLE_OK && d.have)
                        cc = curl_easy_setopt(c, CURLOPT_RESUME_FROM_LARGE,
                                              (curl_off_t)d.have);
                /* curl stops at a status >= 400, so an error page never
                 * lands in .part */
                if (cc == CURLE_OK)
                        cc = curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
                if (cc == CURLE_OK)
                        cc = curl_easy_perform(c);
                long status = 0;
                curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
                curl_slist_free_all(headers);
                int flushed = fflush(d.f) == 0 && fsync(fileno(d.f)) == 0;
                fclose(d.f);
                d.f = NULL;
                if (d.io_failed || (cc == CURLE_OK && !flushed))
                        return socfw_error_set(err, SOCFW_EIO,
                                               "%s: %s (hint: is the disk "
                                               "full?)",
                                               part,
                                               strerror(d.io_failed
                                                                ? d.io_failed
                                                                : errno));
                if (cc == CURLE_HTTP_RETURNED_ERROR && status == 416 &&
                    attempt == 0) {
                        /* the .part is not a prefix the server knows:
                         * start over */
                        unlink(part);
                        continue;
                }
                if (cc == CURLE_HTTP_RETURNED_ERROR && status == 404) {
                        if (d.have == 0)
                                unlink(part);
                        if (!required)
                                return SOCFW_ENOTFOUND;
                        return socfw_error_set(
                                err, SOCFW_ENOTFOUND,
                                "%s: not found: %s has no file '%s' at "
                                "revision '%s' (hint: check the name and "
                                "revision; private repositories need "
                                "HF_TOKEN)",
                                url, repo, name, rev);
                }
                if (cc == CURLE_HTTP_RETURNED_ERROR &&
                    (status == 401 || status == 403))
                        return socfw_error_set(
                                err, SOCFW_EIO,
                                "%s: access denied (HTTP %ld) (hint: gated "
                                "or private models need a token in HF_TOKEN "
                                "or --token)",
                                url, status);
                if (cc != CURLE_OK)
                        return socfw_error_set(
                                err, SOCFW_EIO,
                                "%s: %s%s (hint: check the network or "
                                "--endpoint; run the same command again to "
                                "resume)",
                                url, curl_easy_strerror(cc),
                                cc == CURLE_HTTP_RETURNED_ERROR ? " (HTTP"
                                " status above 400)" : "");
                if (d.have && status == 200) {
                        /* the server ignored the range and sent the whole
                         * file after our kept prefix: start again */
                        unlink(part);
                        if (attempt == 0)
                                continue;
                        return socfw_error_set(err, SOCFW_EIO,
                                               "%s: the server does not "
                                               "resume downloads",
                                               url);
                }
                break;
        }
        crypto_hash_sha256_final(&d.sha, digest);
        sodium_bin2hex(out->sha256, sizeof out->sha256, digest, sizeof digest);
        out->size = d.have + d.written;
        if (strlen(d.linked_etag) == 64 &&
            strspn(d.linked_etag, "0123456789abcdef") == 64 &&
            strcmp(d.linked_etag, out->sha256) != 0) {
                unlink(part);
                return socfw_error_set(
                        err, SOCFW_EFORMAT,
                        "%s: SHA-256 %s, but the hub says %s: the download "
                        "is damaged and was removed (hint: run the pull "
                        "again)",
                        name, out->sha256, d.linked_etag);
        }
        if (rename(part, path) < 0 || fsync_dir(dir) < 0)
                return socfw_error_set(err, SOCFW_EIO, "%s: %s", path,
                                       strerror(errno));
        return 0;
}

/* ---- the shard index ---- */

static int
add_name(char ***names, size_t *n, const char *s, socfw_error *err)
{
        for (size_t i = 0; i < *n; i++)
                if (!strcmp((*names)[i], s))
                        return 0;
        if (*n >= MAX_FILES)
                return socfw_error_set(err, SOCFW_EFORMAT,
                                       "model.safetensors.index.json: more "
                                       "than %d shards",
                                       MAX_FILES);
        char **g = realloc(*names, (*n + 1) * sizeof *g);
        if (!g || !(g[*n] = strdup(s))) {
                if (g)
                        *names = g;
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        }
        *names = g;
        (*n)++;
        return 0;
}

static int
read_shards(const char *index_path, char ***names, size_t *n,
            socfw_error *err)
{
        char *text = NULL;
        size_t len = 0;
        int rc = socfw_file_read(index_path, INDEX_MAX_BYTES, &text, &len,
                                 err);
        if (rc < 0)
                return rc;
        json_error_t je;
        json_t *root = json_loadb(text, len, 0, &je);
        free(text);
        json_t *map = root ? json_object_get(root, "weight_map") : NULL;
        if (!json_is_object(map)) {
                json_decref(root);
                return socfw_error_set_at(err, SOCFW_EFORMAT, index_path,
                                          root ? 0 : je.line,
                                          root ? 0 : je.column,
                                          "%s", root ? "no \"weight_map\" "
                                                       "object"
                                                     : je.text);
        }
        const char *key;
        json_t *v;
        json_object_foreach(map, key, v) {
                const char *s = json_string_value(v);
                if (!s || check_file_name(s, err) < 0) {
                        json_decref(root);
                        return socfw_error_set_at(
                                err, SOCFW_EFORMAT, index_path, 0, 0,
                                "weight_map.%s: not a shard file name", key);
                }
                if ((rc = add_name(names, n, s, err)) < 0)
                        break;
        }
        json_decref(root);
        return rc;
}

/* ---- pull ---- */

/* Fetch `name` and append it to p->files.  SOCFW_ENOTFOUND without an
 * error message for a missing optional file. */
static int
fetch(pull *p, const char *name, int required)
{
        fetched *g = realloc(p->files, (p->n + 1) * sizeof *g);
        if (!g)
                return socfw_error_set(p->err, SOCFW_ENOMEM, "out of memory");
        p->files = g;
        int rc = fetch_file(p, name, required, &g[p->n]);
        if (rc == 0)
                p->n++;
        else
                free(g[p->n].name);
        return rc;
}

static void
curl_init_once(void)
{
        curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int
write_manifest(const char *dir, const char *repo, const char *rev,
               const char *endpoint, const fetched *files, size_t n,
               socfw_error *err)
{
        json_t *arr = json_array();
        for (size_t i = 0; arr && i < n; i++)
                json_array_append_new(
                        arr, json_pack("{s:s, s:I, s:s}", "name",
                                       files[i].name, "size",
                                       (json_int_t)files[i].size, "sha256",
                                       files[i].sha256));
        json_t *m = json_pack("{s:s, s:s, s:s, s:o}", "repository", repo,
                              "revision", rev, "endpoint", endpoint, "files",
                              arr ? arr : json_array());
        char *text = m ? json_dumps(m, JSON_INDENT(2)) : NULL;
        json_decref(m);
        if (!text)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        char path[4400];
        snprintf(path, sizeof path, "%s/%s", dir, MANIFEST);
        int rc = socfw_file_write_atomic(path, text, strlen(text), err);
        free(text);
        return rc;
}

/* What a pulled directory stands for: the directory, or its only .gguf. */
static char *
result_path(const char *dir, const fetched *files, size_t n)
{
        const char *gguf = NULL;
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
                size_t len = strlen(files[i].name);
                if (len > 5 && !strcmp(files[i].name + len - 5, ".gguf")) {
                        gguf = files[i].name;
                        k++;
                }
        }
        if (k == 1 && n == 1)
                return socfw_path_join_alloc(dir, gguf);
        return strdup(dir);
}

int
socfw_hub_pull(const char *repo, const socfw_hub_options *opts, char **out,
               socfw_error *err)
{
        static pthread_once_t once = PTHREAD_ONCE_INIT;
        socfw_hub_options o = opts ? *opts : (socfw_hub_options){0};
        *out = NULL;
        int rc = socfw_hub_check_repo(repo, err);
        if (rc < 0)
                return rc;
        const char *rev = o.revision && *o.revision ? o.revision : "main";
        if ((rc = check_revision(rev, err)) < 0)
                return rc;
        const char *endpoint = o.endpoint;
        if (!endpoint || !*endpoint)
                endpoint = getenv("SOCFW_HUB_ENDPOINT");
        if (!endpoint || !*endpoint)
                endpoint = DEFAULT_ENDPOINT;
        size_t elen = strlen(endpoint);
        while (elen > 0 && endpoint[elen - 1] == '/')
                elen--;
        if ((strncmp(endpoint, "http://", 7) && strncmp(endpoint, "https://", 8)) ||
            elen > 1024)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "endpoint '%s' is not an http(s) URL",
                                       endpoint);
        char ep[1100];
        snprintf(ep, sizeof ep, "%.*s", (int)elen, endpoint);
        const char *token = o.token ? o.token : getenv("HF_TOKEN");
        for (size_t i = 0; o.files && o.files[i]; i++)
                if ((rc = check_file_name(o.files[i], err)) < 0)
                        return rc;

        char root[4096], dir[4300];
        if ((rc = socfw_hub_cache_root(root, sizeof root, o.cache_dir, err)) <
                    0 ||
            (rc = model_dir(dir, sizeof dir, root, repo, rev, err)) < 0 ||
            (rc = socfw_dir_make(dir, 0755, err)) < 0)
                return rc;

        pthread_once(&once, curl_init_once);
        CURL *c = curl_easy_init();
        if (!c)
                return socfw_error_set(err, SOCFW_ENOMEM,
                                       "cannot start libcurl");
        char mpath[4400];
        snprintf(mpath, sizeof mpath, "%s/%s", dir, MANIFEST);
        pull p = {.c = c, .endpoint = ep, .repo = repo, .rev = rev,
                  .dir = dir, .o = &o, .token = token, .err = err,
                  .prev = json_load_file(mpath, 0, NULL)};
        char **names = NULL;
        size_t n_names = 0;
        if (o.files) {
                for (size_t i = 0; rc == 0 && o.files[i]; i++)
                        rc = fetch(&p, o.files[i], 1);
        } else {
                rc = fetch(&p, "config.json", 1);
                if (rc == 0) {
                        rc = fetch(&p, "model.safetensors", 0);
                        if (rc == SOCFW_ENOTFOUND) {
                                rc = fetch(&p, "model.safetensors.index.json", 0);
                                if (rc == SOCFW_ENOTFOUND)
                                        rc = socfw_error_set(
                                                err, SOCFW_ENOTFOUND,
                                                "%s has neither "
                                                "model.safetensors nor "
                                                "model.safetensors.index."
                                                "json at revision '%s' "
                                                "(hint: for GGUF files "
                                                "name them with --file)",
                                                repo, rev);
                                char ipath[4400];
                                snprintf(ipath, sizeof ipath,
                                         "%s/model.safetensors.index.json",
                                         dir);
                                if (rc == 0)
                                        rc = read_shards(ipath, &names,
                                                         &n_names, err);
                                for (size_t i = 0; rc == 0 && i < n_names;
                                     i++)
                                        rc = fetch(&p, names[i], 1);
                        }
                }
                for (size_t i = 0; rc == 0 && optional_files[i]; i++) {
                        rc = fetch(&p, optional_files[i], 0);
                        if (rc == SOCFW_ENOTFOUND)
                                rc = 0;
                }
        }
        curl_easy_cleanup(c);
        if (rc == 0)
                rc = write_manifest(dir, repo, rev, ep, p.files, p.n, err);
        if (rc == 0) {
                *out = result_path(dir, p.files, p.n);
                if (!*out)
                        rc = socfw_error_set(err, SOCFW_ENOMEM,
                                             "out of memory");
        }
        for (size_t i = 0; i < p.n; i++)
                free(p.files[i].name);
        free(p.files);
        json_decref(p.prev);
        for (size_t i = 0; i < n_names; i++)
                free(names[i]);
        free(names);
        return rc;
}

/* ---- resolve ---- */

int
socfw_hub_resolve(const char *ref, const char *cache_dir, char **out,
                  socfw_error *err)
{
        *out = NULL;
        if (!ref || strncmp(ref, "hub:", 4))
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "'%s' is not a hub:ORG/NAME reference",
                                       ref ? ref : "(null)");
        char repo[2 * PART_MAX + 2];
        const char *name = ref + 4, *at = strchr(name, '@');
        size_t len = at ? (size_t)(at - name) : strlen(name);
        if (len >= sizeof repo)
                return socfw_hub_check_repo(name, err);
        memcpy(repo, name, len);
        repo[len] = '\0';
        const char *rev = at ? at + 1 : "main";
        int rc;
        if ((rc = socfw_hub_check_repo(repo, err)) < 0 ||
            (rc = check_revision(rev, err)) < 0)
                return rc;
        char root[4096], dir[4300], path[4400];
        if ((rc = socfw_hub_cache_root(root, sizeof root, cache_dir, err)) <
                    0 ||
            (rc = model_dir(dir, sizeof dir, root, repo, rev, err)) < 0)
                return rc;
        snprintf(path, sizeof path, "%s/%s", dir, MANIFEST);
        json_error_t je;
        json_t *m = json_load_file(path, 0, &je);
        if (!m) {
                struct stat st;
                if (stat(path, &st) == 0)
                        return socfw_error_set_at(err, SOCFW_EFORMAT, path,
                                                  je.line, je.column, "%s",
                                                  je.text);
                return socfw_error_set(
                        err, SOCFW_ENOTFOUND,
                        "%s has not been pulled into %s (hint: socfw pull "
                        "%s%s%s; socfw downloads nothing unless asked)",
                        ref, root, repo, at ? " --revision " : "",
                        at ? rev : "");
        }
        json_t *arr = json_object_get(m, "files");
        size_t n = json_array_size(arr);
        fetched *files = calloc(n ? n : 1, sizeof *files);
        for (size_t i = 0; files && i < n; i++)
                files[i].name = (char *)json_string_value(
                        json_object_get(json_array_get(arr, i), "name"));
        for (size_t i = 0; files && i < n; i++)
                if (!files[i].name || check_file_name(files[i].name, NULL))
                        rc = socfw_error_set_at(err, SOCFW_EFORMAT, path, 0,
                                                0, "files[%zu]: not a file "
                                                "name", i);
        if (rc == 0 && files) {
                *out = result_path(dir, files, n);
                if (!*out)
                        rc = socfw_error_set(err, SOCFW_ENOMEM,
                                             "out of memory");
        } else if (!files) {
                rc = socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        }
        free(files);
        json_decref(m);
        return rc;
}
