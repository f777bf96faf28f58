/* socfw/hub.h - pretrained models from a Hugging Face-style hub.
 *
 * socfw never downloads anything on its own.  `socfw pull ORG/NAME` (this
 * module's socfw_hub_pull) fetches a model repository's files into a local
 * cache; a pipeline then names the model `backbone: {model: hub:ORG/NAME}`
 * and socfw_hub_resolve finds it in the cache, or fails with the pull
 * command to run.
 *
 *     socfw_hub_options o = {0};          // revision main, default cache
 *     char *dir = NULL;
 *     socfw_error err = {0};
 *     if (socfw_hub_pull("sshleifer/tiny-gpt2", &o, &dir, &err) == 0) {
 *             ... socfw_model_load(&m, dir, NULL, &err) ...
 *             free(dir);
 *     }
 *
 * Cache layout: <root>/<ORG>--<NAME>/<revision>/ holds the files under
 * their repository names, and `socfw-pull.json` (repository, revision,
 * endpoint, each file's size and SHA-256), written last: a directory
 * without it is an unfinished pull and is never used.  The root is
 * opts->cache_dir, else $SOCFW_CACHE_DIR/hub, else
 * $XDG_CACHE_HOME/socfw/hub, else ~/.cache/socfw/hub.
 *
 * Downloads go to "<file>.part" and are renamed into place once complete
 * (fsync'ed); an interrupted pull resumes where it stopped (HTTP Range).
 * When the hub names a file's SHA-256 (the X-Linked-Etag of large files
 * on huggingface.co) the download is checked against it.
 */
#ifndef SOCFW_HUB_H
#define SOCFW_HUB_H

#include <stddef.h>
#include <stdint.h>

#include "socfw/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Progress of one file: `total` is 0 when the size is not known yet. */
typedef void (*socfw_hub_progress_fn)(void *user, const char *file,
                                      uint64_t done, uint64_t total);

typedef struct socfw_hub_options {
        const char *revision;   /* branch, tag or commit; NULL: "main"     */
        const char *endpoint;   /* NULL: $SOCFW_HUB_ENDPOINT, else
                                   https://huggingface.co                  */
        const char *cache_dir;  /* cache root; NULL: see above             */
        const char *token;      /* bearer token; NULL: $HF_TOKEN           */
        /* Files to fetch (NULL-terminated), all required; NULL: a
         * Transformers model: config.json, model.safetensors (or the
         * shards of model.safetensors.index.json) and whichever tokenizer
         * files the repository has. */
        const char *const *files;
        socfw_hub_progress_fn progress; /* may be NULL                     */
        void *progress_user;
        long connect_timeout_s; /* 0: 30                                   */
} socfw_hub_options;

/* The cache root (see above) into buf.  Returns 0, or SOCFW_EINVAL when
 * no root can be found (no HOME) or it does not fit. */
int socfw_hub_cache_root(char *buf, size_t size, const char *cache_dir,
                         socfw_error *err);

/* Check a repository name: ORG/NAME, each part 1..96 characters of
 * [A-Za-z0-9._-], not "." or "..".  Returns 0 or SOCFW_EINVAL with a
 * message saying what is wrong. */
int socfw_hub_check_repo(const char *repo, socfw_error *err);

/* Fetch `repo` at opts->revision into the cache.  On success *dir (caller
 * frees) is the directory with the files, or the file itself when the
 * pull fetched one .gguf file.  Files already complete in the cache are
 * not fetched again.  Errors: SOCFW_EINVAL (bad name, revision or
 * options), SOCFW_ENOTFOUND (no such repository, revision or required
 * file), SOCFW_EIO (network, HTTP status, disk), SOCFW_EFORMAT (a file's
 * SHA-256 or the shard index is wrong), SOCFW_ENOMEM. */
int socfw_hub_pull(const char *repo, const socfw_hub_options *opts,
                   char **dir, socfw_error *err);

/* "hub:ORG/NAME" or "hub:ORG/NAME@REVISION" -> what socfw_hub_pull gave
 * for it (caller frees *path), from the cache only.  `cache_dir` as in
 * the options (NULL: default).  SOCFW_ENOTFOUND, with the `socfw pull`
 * command to run as the hint, when it has not been pulled. */
int socfw_hub_resolve(const char *ref, const char *cache_dir, char **path,
                      socfw_error *err);

#ifdef __cplusplus
}
#endif

#endif
