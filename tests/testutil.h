/* tests/testutil.h - helpers shared by the Criterion test binaries.
 *
 * Tests find their inputs through the environment that `make check` sets:
 *   SOCFW_SRCDIR      the source tree (fixtures live in tests/fixtures/)
 *   SOCFW_BUILDDIR    the build tree (plugins, the socfw program)
 *   SOCFW_SHARED_DIR  ../shared: real models and data sets; may be absent
 *
 *     char path[4096];
 *     SOCFW_TEST_NEED_SHARED(path, "models/stories260K.gguf");
 *     // skips the test, with the reason, when ../shared is not there
 */
#ifndef SOCFW_TESTUTIL_H
#define SOCFW_TESTUTIL_H

#include <stddef.h>
#include <stdio.h>

/* Directory from the environment, falling back to the compile-time path. */
const char *socfw_test_srcdir(void);
const char *socfw_test_builddir(void);
const char *socfw_test_shared_dir(void);

/* Join dir and a relative path into buf; returns buf. */
char *socfw_test_path(char *buf, size_t size, const char *dir, const char *rel);

/* buf <- $SOCFW_SHARED_DIR/rel; returns 1 if that file or directory exists. */
int socfw_test_shared(char *buf, size_t size, const char *rel);

/* buf <- fresh empty directory under $TMPDIR; returns buf (NULL on failure). */
char *socfw_test_tmpdir(char *buf, size_t size);

/* Write `len` bytes to `path`; returns 0 on success. */
int socfw_test_write_file(const char *path, const void *data, size_t len);

/* Read a whole file (NUL-terminated, caller frees); *len may be NULL. */
char *socfw_test_read_file(const char *path, size_t *len);

/* Run a shell command, capturing stdout+stderr into a malloc'ed string
 * (caller frees).  Returns the exit status (or -1) in *status. */
char *socfw_test_run(const char *cmd, int *status);

/* ---- pipelines (these assert through Criterion on failure) ---- */

struct socfw_registry;
struct socfw_pipeline;

/* A registry over the default plugin path (the build tree's plugins and
 * heads), scanned.  Caller frees with socfw_registry_free. */
struct socfw_registry *socfw_test_registry(void);

/* `yaml` loaded as "t.yaml" in `dir` and validated against `reg`; asserts
 * that it is valid, with the first diagnostic as the message.  Caller
 * frees with socfw_pipeline_free. */
struct socfw_pipeline *socfw_test_pipeline(const struct socfw_registry *reg,
                                           const char *yaml, const char *dir);

/* A runtime progress callback that drops every line. */
void socfw_test_quiet(const char *line, void *user);

/* Code points of a UTF-8 string (continuation bytes not counted). */
size_t socfw_test_utf8_chars(const char *s);

/* Whether `needle` occurs in `hay`, ASCII case ignored. */
int socfw_test_has_icase(const char *hay, const char *needle);

/* ---- the fixture of the end-to-end tests ---- */

/* Tests that run whole pipelines share one fixture: the scanned plugin
 * registry and a fresh temporary directory, both new for every test.
 *
 *     TestSuite(train, .init = fx_setup,
 *               .fini = fx_teardown);
 *     ... write data files into fx.dir ...
 *     socfw_pipeline *p = fx_load(yaml);  // validated
 */
typedef struct socfw_fixture {
        struct socfw_registry *reg;
        char dir[4096];
} socfw_fixture;

extern socfw_fixture fx;

void fx_setup(void);
void fx_teardown(void);

/* `yaml` loaded as fx.dir/t.yaml and validated against fx.reg
 * (socfw_test_pipeline). */
struct socfw_pipeline *fx_load(const char *yaml);

struct socfw_runtime;

/* A runtime for `p` writing to out_dir, progress dropped (from the run's
 * checkpoint with from_checkpoint); asserts that it opens.  Caller frees
 * with socfw_runtime_free. */
struct socfw_runtime *socfw_test_runtime(const struct socfw_pipeline *p,
                                         const char *out_dir,
                                         int from_checkpoint);

/* dir/name opened for writing; asserts.  Caller fcloses. */
FILE *socfw_test_create(const char *dir, const char *name);

#define SOCFW_TEST_NEED_SHARED(buf, rel)                                       \
        do {                                                                   \
                if (!socfw_test_shared((buf), sizeof(buf), (rel)))             \
                        cr_skip_test("skipped: %s not found (../shared is "    \
                                     "absent; set SOCFW_SHARED_DIR)", (buf));  \
        } while (0)

#endif
