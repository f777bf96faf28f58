/* registry.c - find, load and check plugin modules with libltdl. */
#include "socfw/registry.h"

#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <limits.h>
#include <ltdl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/config_impl.h"
#include "core/param.h"
#include "socfw/log.h"
#include "socfw/io.h"

#ifndef SOCFW_PLUGINDIR
#define SOCFW_PLUGINDIR "/usr/local/lib/socfw-2"
#endif
#ifndef SOCFW_BUILDDIR
#define SOCFW_BUILDDIR ""
#endif

#define MAX_MODULES 4096

/* The sizes of ABI 2.0's structures (the smallest a 2.x plugin has):
 * each ends with the field named here, whatever later minors append. */
#define END_OF(type, field)                                               \
        (offsetof(type, field) + sizeof(((type *)0)->field))
#define SOCFW_PLUGIN_SIZE_2_0 END_OF(socfw_plugin, head)
#define SOCFW_TASK_HOOKS_SIZE_2_0 END_OF(socfw_task_hooks, evaluate)
#define SOCFW_HEAD_HOOKS_SIZE_2_0 END_OF(socfw_head_hooks, output_size)

/* The host's copy of a descriptor and its hook tables, each at this
 * socfw's size: what an older plugin's structures lack reads as 0/NULL,
 * so the rest of the host reads fields and hooks directly. */
typedef struct host_copy {
        socfw_plugin d;
        socfw_task_hooks task;
        socfw_head_hooks head;
} host_copy;

typedef struct entry {
        const socfw_plugin *desc; /* &copy->d */
        host_copy *copy;
        char *file;
        lt_dlhandle handle; /* NULL for static entries */
} entry;

struct socfw_registry {
        char **paths;
        size_t n_paths;
        entry *entries;
        size_t n_entries;
        char **problems;
        size_t n_problems;
        lt_dlhandle *orphans; /* handles kept open but not registered */
        size_t n_orphans;
        int ltdl_ready;
};

/* ---- small helpers ---- */

static pthread_mutex_t ltdl_lock = PTHREAD_MUTEX_INITIALIZER;

static int
push_str(char ***arr, size_t *n, const char *s)
{
        char *copy = strdup(s);
        char **grown = copy ? realloc(*arr, sizeof(char *) * (*n + 1)) : NULL;
        if (!grown) {
                free(copy);
                return SOCFW_ENOMEM;
        }
        grown[(*n)++] = copy;
        *arr = grown;
        return 0;
}

static void
add_problem(socfw_registry *reg, const char *file, const char *reason)
{
        char buf[2048];
        snprintf(buf, sizeof buf, "%s: %s", file, reason);
        if (push_str(&reg->problems, &reg->n_problems, buf) == 0)
                SOCFW_LOG_DEBUG("plugin problem: %s", buf);
}

const char *
socfw_plugin_kind_name(int kind)
{
        switch (kind) {
        case SOCFW_PLUGIN_TASK: return "task";
        case SOCFW_PLUGIN_HEAD: return "head";
        default: return "unknown";
        }
}

const char *
socfw_param_type_name(int type)
{
        switch (type) {
        case SOCFW_PARAM_BOOL: return "bool";
        case SOCFW_PARAM_INT: return "int";
        case SOCFW_PARAM_FLOAT: return "float";
        case SOCFW_PARAM_STRING: return "string";
        case SOCFW_PARAM_ENUM: return "enum";
        case SOCFW_PARAM_PATH: return "path";
        case SOCFW_PARAM_LIST: return "list";
        case SOCFW_PARAM_MAP: return "map";
        default: return "unknown";
        }
}

/* ---- lifetime ---- */

socfw_registry *
socfw_registry_new(void)
{
        return calloc(1, sizeof(socfw_registry));
}

void
socfw_registry_free(socfw_registry *reg)
{
        if (!reg)
                return;
        for (size_t i = 0; i < reg->n_entries; i++) {
                free(reg->entries[i].file);
                free(reg->entries[i].copy);
                if (reg->entries[i].handle)
                        lt_dlclose(reg->entries[i].handle);
        }
        for (size_t i = 0; i < reg->n_orphans; i++)
                lt_dlclose(reg->orphans[i]);
        for (size_t i = 0; i < reg->n_paths; i++)
                free(reg->paths[i]);
        for (size_t i = 0; i < reg->n_problems; i++)
                free(reg->problems[i]);
        free(reg->orphans);
        free(reg->entries);
        free(reg->paths);
        free(reg->problems);
        if (reg->ltdl_ready) {
                pthread_mutex_lock(&ltdl_lock);
                lt_dlexit();
                pthread_mutex_unlock(&ltdl_lock);
        }
        free(reg);
}

/* ---- search path ---- */

int
socfw_registry_add_path(socfw_registry *reg, const char *dir)
{
        if (!dir || !*dir)
                return 0;
        for (size_t i = 0; i < reg->n_paths; i++)
                if (strcmp(reg->paths[i], dir) == 0)
                        return 0;
        return push_str(&reg->paths, &reg->n_paths, dir);
}

static int
add_path_list(socfw_registry *reg, const char *list)
{
        if (!list)
                return 0;
        char *copy = strdup(list);
        if (!copy)
                return SOCFW_ENOMEM;
        int rc = 0;
        char *save = NULL;
        for (char *tok = strtok_r(copy, ":", &save); tok && rc == 0;
             tok = strtok_r(NULL, ":", &save))
                rc = socfw_registry_add_path(reg, tok);
        free(copy);
        return rc;
}

/* True when this process is the build tree's socfw (or a test in it). */
static int
running_uninstalled(void)
{
        const char *env = getenv("SOCFW_UNINSTALLED");
        if (env && strcmp(env, "1") == 0)
                return 1;
        if (!SOCFW_BUILDDIR[0])
                return 0;
        char exe[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n <= 0)
                return 0;
        exe[n] = '\0';
        size_t lb = strlen(SOCFW_BUILDDIR);
        return strncmp(exe, SOCFW_BUILDDIR, lb) == 0 && exe[lb] == '/';
}

/* An installation made with another prefix than configure's (make install
 * prefix=/x) or moved since: the modules beside the program,
 * <dir of the executable>/../lib/socfw-N, when that directory exists and
 * is not SOCFW_PLUGINDIR itself. */
static int
add_relocated_path(socfw_registry *reg)
{
        char exe[PATH_MAX], dir[PATH_MAX + 64], a[PATH_MAX], b[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n <= 0)
                return 0;
        exe[n] = '\0';
        for (int up = 0; up < 2; up++) { /* .../bin/socfw -> ... */
                char *slash = strrchr(exe, '/');
                if (!slash)
                        return 0;
                *slash = '\0';
        }
        const char *leaf = strrchr(SOCFW_PLUGINDIR, '/');
        snprintf(dir, sizeof dir, "%s/lib%s", exe,
                 leaf ? leaf : "/socfw-2");
        if (!socfw_path_is_dir(dir) || !realpath(dir, a))
                return 0;
        if (realpath(SOCFW_PLUGINDIR, b) && strcmp(a, b) == 0)
                return 0;
        return socfw_registry_add_path(reg, a);
}

int
socfw_registry_add_default_paths(socfw_registry *reg, const char *cli_paths)
{
        int rc = add_path_list(reg, cli_paths);
        if (rc == 0)
                rc = add_path_list(reg, getenv("SOCFW_PLUGIN_PATH"));
        if (rc == 0 && running_uninstalled()) {
                const char *b = getenv("SOCFW_BUILDDIR");
                if (!b || !*b)
                        b = SOCFW_BUILDDIR;
                char dir[PATH_MAX];
                snprintf(dir, sizeof dir, "%s/plugins", b);
                rc = socfw_registry_add_path(reg, dir);
                snprintf(dir, sizeof dir, "%s/heads", b);
                if (rc == 0)
                        rc = socfw_registry_add_path(reg, dir);
        }
        else if (rc == 0)
                rc = add_relocated_path(reg);
        if (rc == 0)
                rc = socfw_registry_add_path(reg, SOCFW_PLUGINDIR);
        return rc;
}

size_t
socfw_registry_path_count(const socfw_registry *reg)
{
        return reg->n_paths;
}

const char *
socfw_registry_path(const socfw_registry *reg, size_t i)
{
        return i < reg->n_paths ? reg->paths[i] : NULL;
}

/* ---- descriptor checks ---- */

static int
check_specs(const socfw_param_spec *specs, const char *what,
            socfw_error *err)
{
        if (!specs)
                return 0;
        for (size_t i = 0; specs[i].key; i++) {
                const socfw_param_spec *s = &specs[i];
                char why[600];
                if (!s->key[0] || s->type < SOCFW_PARAM_BOOL ||
                    s->type > SOCFW_PARAM_MAP)
                        return socfw_error_set(
                                err, SOCFW_EINVAL,
                                "%s parameter %zu ('%s') has an invalid type "
                                "%d",
                                what, i, s->key, (int)s->type);
                if (s->type == SOCFW_PARAM_ENUM && !s->choices)
                        return socfw_error_set(
                                err, SOCFW_EINVAL,
                                "%s parameter '%s' is an enum without choices",
                                what, s->key);
                for (size_t j = 0; j < i; j++)
                        if (strcmp(specs[j].key, s->key) == 0)
                                return socfw_error_set(
                                        err, SOCFW_EINVAL,
                                        "%s parameter '%s' is declared twice",
                                        what, s->key);
                if (s->default_value && s->type == SOCFW_PARAM_LIST) {
                        ynode *seq = socfw_config_parse_list_default(
                                s->default_value);
                        int bad = !seq;
                        for (size_t k = 0; seq && k < seq->n && !bad; k++)
                                bad = socfw_param_check_scalar(
                                        s, seq->items[k]->value, why,
                                        sizeof why) != 0;
                        ynode_free(seq);
                        if (bad)
                                return socfw_error_set(
                                        err, SOCFW_EINVAL,
                                        "%s parameter '%s' has a bad list "
                                        "default '%s'",
                                        what, s->key, s->default_value);
                }
                if (s->default_value && s->type != SOCFW_PARAM_LIST &&
                    s->type != SOCFW_PARAM_MAP &&
                    socfw_param_check_scalar(s, s->default_value, why,
                                             sizeof why) != 0)
                        return socfw_error_set(
                                err, SOCFW_EINVAL,
                                "%s parameter '%s' has a bad default: %s",
                                what, s->key, why);
        }
        return 0;
}

int
socfw_plugin_check(const socfw_plugin *d, const char *expected_name,
                   socfw_error *err)
{
        if (!d)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "the descriptor function returned "
                                       "NULL");
        /* abi_major, abi_minor and name sit at the same offsets in
         * every major version (1.x and 2.x), so a plugin of another
         * major is named in the refusal */
        if (d->abi_major != SOCFW_ABI_MAJOR || d->abi_minor > SOCFW_ABI_MINOR)
                return socfw_error_set(
                        err, SOCFW_EABI,
                        "plugin '%s' was built for socfw plugin ABI %u.%u; "
                        "this socfw speaks %d.%d (hint: %s)",
                        d->name ? d->name : "?", d->abi_major, d->abi_minor,
                        SOCFW_ABI_MAJOR, SOCFW_ABI_MINOR,
                        d->abi_major == SOCFW_ABI_MAJOR
                                ? "upgrade socfw, or rebuild the plugin "
                                  "against this socfw's socfw/plugin.h"
                                : "rebuild it against this socfw's "
                                  "socfw/plugin.h; see the plugin guide's "
                                  "ABI section for what changed");
        if (d->size < SOCFW_PLUGIN_SIZE_2_0)
                return socfw_error_set(
                        err, SOCFW_EABI,
                        "plugin '%s' gives its descriptor size as %u bytes, "
                        "less than ABI %d.0's %u (hint: build the "
                        "descriptor with SOCFW_TASK_PLUGIN or "
                        "SOCFW_HEAD_PLUGIN, which fill the size)",
                        d->name ? d->name : "?", (unsigned)d->size,
                        SOCFW_ABI_MAJOR, (unsigned)SOCFW_PLUGIN_SIZE_2_0);
        if (d->kind != SOCFW_PLUGIN_TASK && d->kind != SOCFW_PLUGIN_HEAD)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "unknown plugin kind %d (expected "
                                       "task or head)",
                                       (int)d->kind);
        if (!d->name || !d->name[0])
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "the descriptor has no name");
        for (const char *p = d->name; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
                      *p == '_'))
                        return socfw_error_set(
                                err, SOCFW_EINVAL,
                                "plugin name '%s' may only contain a-z, 0-9 "
                                "and _",
                                d->name);
        if (expected_name && strcmp(d->name, expected_name) != 0)
                return socfw_error_set(
                        err, SOCFW_EINVAL,
                        "descriptor name '%s' does not match the module "
                        "file name '%s'",
                        d->name, expected_name);
        if (!d->version || !d->description)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "plugin '%s' lacks a version or "
                                       "description",
                                       d->name);
        if (d->task && d->task->size < SOCFW_TASK_HOOKS_SIZE_2_0)
                return socfw_error_set(
                        err, SOCFW_EABI,
                        "plugin '%s': its task hook table gives its size as "
                        "%zu bytes, less than ABI %d.0's %zu (hint: write "
                        "it with SOCFW_TASK_HOOKS, which fills the size)",
                        d->name, d->task->size, SOCFW_ABI_MAJOR,
                        (size_t)SOCFW_TASK_HOOKS_SIZE_2_0);
        if (d->head && d->head->size < SOCFW_HEAD_HOOKS_SIZE_2_0)
                return socfw_error_set(
                        err, SOCFW_EABI,
                        "plugin '%s': its head hook table gives its size as "
                        "%zu bytes, less than ABI %d.0's %zu (hint: write "
                        "it with SOCFW_HEAD_HOOKS, which fills the size)",
                        d->name, d->head->size, SOCFW_ABI_MAJOR,
                        (size_t)SOCFW_HEAD_HOOKS_SIZE_2_0);
        if (d->kind == SOCFW_PLUGIN_TASK && (!d->task || !d->task->create))
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "task plugin '%s' has no create hook",
                                       d->name);
        if (d->kind == SOCFW_PLUGIN_HEAD &&
            (!d->head || !d->head->create || !d->head->forward ||
             !d->head->output_size))
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "head '%s' lacks create, forward or "
                                       "output_size",
                                       d->name);
        if (d->kind == SOCFW_PLUGIN_HEAD &&
            (d->target < SOCFW_TARGET_CLASS || d->target > SOCFW_TARGET_SCORE))
                return socfw_error_set(
                        err, SOCFW_EINVAL,
                        "head '%s' declares no kind of target (hint: set "
                        ".target, e.g. SOCFW_TARGET_CLASS for one class per "
                        "example or SOCFW_TARGET_TAGS for one tag per token)",
                        d->name);
        int rc = check_specs(d->params, d->name, err);
        if (rc == 0)
                rc = check_specs(d->loss_params, d->name, err);
        return rc;
}

/* ---- registration ---- */

static size_t
min_size(size_t a, size_t b)
{
        return a < b ? a : b;
}

/* A checked descriptor at this socfw's sizes (see host_copy). */
static host_copy *
copy_descriptor(const socfw_plugin *d)
{
        host_copy *c = calloc(1, sizeof *c);
        if (!c)
                return NULL;
        memcpy(&c->d, d, min_size(d->size, sizeof c->d));
        c->d.size = sizeof c->d;
        if (d->task) {
                memcpy(&c->task, d->task, min_size(d->task->size,
                                                   sizeof c->task));
                c->task.size = sizeof c->task;
                c->d.task = &c->task;
        }
        if (d->head) {
                memcpy(&c->head, d->head, min_size(d->head->size,
                                                   sizeof c->head));
                c->head.size = sizeof c->head;
                c->d.head = &c->head;
        }
        return c;
}

static int
add_entry(socfw_registry *reg, const socfw_plugin *desc, const char *file,
          lt_dlhandle handle, socfw_error *err)
{
        for (size_t i = 0; i < reg->n_entries; i++) {
                if (strcmp(reg->entries[i].desc->name, desc->name) == 0) {
                        char why[1024];
                        snprintf(why, sizeof why,
                                 "a plugin named '%s' is already loaded from "
                                 "%s; this one is ignored (hint: the first "
                                 "directory on the plugin path wins)",
                                 desc->name, reg->entries[i].file);
                        add_problem(reg, file, why);
                        return socfw_error_set(err, SOCFW_EINVAL, "%s: %s",
                                               file, why);
                }
        }
        if (reg->n_entries >= MAX_MODULES)
                return socfw_error_set(err, SOCFW_ENOMEM,
                                       "too many plugins (limit %d)",
                                       MAX_MODULES);
        entry *grown =
                realloc(reg->entries, sizeof(entry) * (reg->n_entries + 1));
        char *copy = strdup(file);
        host_copy *hc = copy_descriptor(desc);
        if (!grown || !copy || !hc) {
                free(copy);
                free(hc);
                if (grown)
                        reg->entries = grown;
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        }
        reg->entries = grown;
        reg->entries[reg->n_entries++] = (entry){
                .desc = &hc->d, .copy = hc, .file = copy, .handle = handle};
        return 0;
}

int
socfw_registry_add_static(socfw_registry *reg, const socfw_plugin *desc,
                          const char *origin, socfw_error *err)
{
        socfw_error local = {0};
        int rc = socfw_plugin_check(desc, NULL, &local);
        if (rc < 0) {
                add_problem(reg, origin, local.message);
                return socfw_error_set(err, rc, "%s: %s", origin,
                                       local.message);
        }
        return add_entry(reg, desc, origin, NULL, err);
}

static int
ensure_ltdl(socfw_registry *reg, socfw_error *err)
{
        if (reg->ltdl_ready)
                return 0;
        pthread_mutex_lock(&ltdl_lock);
        int rc = lt_dlinit();
        pthread_mutex_unlock(&ltdl_lock);
        if (rc != 0)
                return socfw_error_set(err, SOCFW_EINTERNAL,
                                       "libltdl failed to initialise");
        reg->ltdl_ready = 1;
        return 0;
}

/* Module name from its file: "/x/.libs/sentiment.so" -> "sentiment". */
static void
module_name(const char *path, char *out, size_t size)
{
        const char *base = strrchr(path, '/');
        base = base ? base + 1 : path;
        snprintf(out, size, "%s", base);
        char *dot = strchr(out, '.');
        if (dot)
                *dot = '\0';
        /* libtool may prefix "lib" when -module is missing */
        if (strncmp(out, "lib", 3) == 0 && out[3])
                memmove(out, out + 3, strlen(out + 3) + 1);
}


/* The shared object behind a libtool archive: dlname='x.so' found in
 * .libs/ (build tree) or beside it (installed).  Returns 0 and fills out,
 * or -1 when it cannot be told (then the loader decides). */
static int
la_shared_object(const char *la, char *out, size_t size)
{
        FILE *f = fopen(la, "r");
        if (!f)
                return -1;
        char line[1024], dlname[512] = "";
        while (fgets(line, sizeof line, f))
                if (sscanf(line, "dlname='%511[^']'", dlname) == 1)
                        break;
        fclose(f);
        if (!dlname[0])
                return -1;
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%s", la);
        char *slash = strrchr(dir, '/');
        if (slash)
                *slash = '\0';
        else
                snprintf(dir, sizeof dir, ".");
        struct stat st;
        int n = snprintf(out, size, "%s/.libs/%s", dir, dlname);
        if (n < 0 || (size_t)n >= size)
                return -1;
        if (stat(out, &st) == 0)
                return 0;
        n = snprintf(out, size, "%s/%s", dir, dlname);
        return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* dlopen maps segments without checking they lie inside the file, and a
 * truncated shared object then crashes the process on first touch.  Check
 * the ELF header, program headers and section headers against the size
 * first.  Returns 0 when plausible, else -1 with the reason in `why`. */
static int
elf_check(const char *path, char *why, size_t why_size)
{
        FILE *f = fopen(path, "rb");
        if (!f) {
                snprintf(why, why_size, "cannot open: %s", strerror(errno));
                return -1;
        }
        int rc = -1;
        Elf64_Ehdr eh;
        struct stat st;
        if (fstat(fileno(f), &st) != 0 ||
            fread(&eh, 1, sizeof eh, f) != sizeof eh) {
                snprintf(why, why_size,
                         "truncated shared object: no complete ELF header");
                goto out;
        }
        if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0) {
                snprintf(why, why_size, "not an ELF shared object (bad magic)");
                goto out;
        }
        if (eh.e_ident[EI_CLASS] != ELFCLASS64) {
                rc = 0; /* leave 32-bit objects to the loader's message */
                goto out;
        }
        uint64_t size = (uint64_t)st.st_size;
        if (eh.e_phentsize != sizeof(Elf64_Phdr) ||
            eh.e_phoff > size ||
            (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr) > size - eh.e_phoff) {
                snprintf(why, why_size,
                         "truncated shared object: program headers end past "
                         "the end of the file (%llu bytes)",
                         (unsigned long long)size);
                goto out;
        }
        for (unsigned i = 0; i < eh.e_phnum; i++) {
                Elf64_Phdr ph;
                if (fseeko(f, (off_t)(eh.e_phoff + i * sizeof ph), SEEK_SET) ||
                    fread(&ph, 1, sizeof ph, f) != sizeof ph)
                        goto short_read;
                if (ph.p_type == PT_LOAD &&
                    (ph.p_offset > size || ph.p_filesz > size - ph.p_offset)) {
                        snprintf(why, why_size,
                                 "truncated shared object: segment %u ends at "
                                 "byte %llu but the file has %llu bytes",
                                 i,
                                 (unsigned long long)(ph.p_offset +
                                                      ph.p_filesz),
                                 (unsigned long long)size);
                        goto out;
                }
        }
        if (eh.e_shoff &&
            (eh.e_shoff > size ||
             (uint64_t)eh.e_shnum * eh.e_shentsize > size - eh.e_shoff)) {
                snprintf(why, why_size,
                         "truncated shared object: section headers end past "
                         "the end of the file (%llu bytes)",
                         (unsigned long long)size);
                goto out;
        }
        rc = 0;
        goto out;
short_read:
        snprintf(why, why_size, "truncated shared object");
out:
        fclose(f);
        return rc;
}

int
socfw_registry_load_file(socfw_registry *reg, const char *path,
                         socfw_error *err)
{
        socfw_error local = {0};
        char name[256], sym[320];
        lt_dlhandle h = NULL;
        int rc = ensure_ltdl(reg, err);
        if (rc < 0)
                return rc;

        module_name(path, name, sizeof name);
        {
                char so[PATH_MAX], why[512];
                const char *target = path;
                if (socfw_str_ends_with(path, ".la") &&
                    la_shared_object(path, so, sizeof so) == 0)
                        target = so;
                if (elf_check(target, why, sizeof why) < 0) {
                        socfw_error_set(&local, SOCFW_EFORMAT,
                                        "cannot load module: %s (hint: "
                                        "rebuild or reinstall the plugin)",
                                        why);
                        goto fail;
                }
        }
        pthread_mutex_lock(&ltdl_lock);
        h = lt_dlopen(path);
        const char *why = h ? NULL : lt_dlerror();
        pthread_mutex_unlock(&ltdl_lock);
        if (!h) {
                socfw_error_set(&local, SOCFW_EFORMAT,
                                "cannot load module: %s (hint: is it a "
                                "complete socfw plugin built for this "
                                "machine?)",
                                why ? why : "unknown reason");
                goto fail;
        }
        snprintf(sym, sizeof sym, "socfw_plugin_%s_get", name);
        socfw_plugin_get_fn get = NULL;
        void *addr = lt_dlsym(h, sym);
        memcpy(&get, &addr, sizeof get);
        if (!get) {
                socfw_error_set(&local, SOCFW_ENOTFOUND,
                                "no symbol %s (hint: a socfw plugin exports "
                                "one function named after its file, "
                                "socfw_plugin_<name>_get)",
                                sym);
                goto fail;
        }
        const socfw_plugin *desc = get();
        rc = socfw_plugin_check(desc, name, &local);
        if (rc < 0)
                goto fail;
        rc = add_entry(reg, desc, path, h, err);
        if (rc < 0) {
                /* duplicate: already recorded as a problem; keep the
                 * handle open until free so nothing dangles */
                lt_dlhandle *o = realloc(reg->orphans, sizeof(lt_dlhandle) *
                                                              (reg->n_orphans +
                                                               1));
                if (o) {
                        reg->orphans = o;
                        reg->orphans[reg->n_orphans++] = h;
                } else {
                        lt_dlclose(h);
                }
        }
        return rc;
fail:
        if (h)
                lt_dlclose(h);
        add_problem(reg, path, local.message);
        return socfw_error_set(err, local.code ? local.code : SOCFW_EINVAL,
                               "%s: %s", path, local.message);
}

static int
cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A libtool archive with no shared object (a convenience library in the
 * build tree) is not a module: skip it quietly. */
static int
la_is_loadable(const char *path)
{
        FILE *f = fopen(path, "r");
        if (!f)
                return 1; /* let the loader report it */
        char line[512];
        int loadable = 1;
        while (fgets(line, sizeof line, f))
                if (strncmp(line, "dlname=''", 9) == 0) {
                        loadable = 0;
                        break;
                }
        fclose(f);
        return loadable;
}

/* Modules directly in `dir`: prefer name.la over name.so. */
static void
scan_dir(socfw_registry *reg, const char *dir, int depth)
{
        DIR *d = opendir(dir);
        if (!d)
                return;
        char **names = NULL;
        size_t n = 0;
        struct dirent *de;
        while ((de = readdir(d)) != NULL && n < MAX_MODULES)
                if (de->d_name[0] != '.')
                        push_str(&names, &n, de->d_name);
        closedir(d);
        if (n)
                qsort(names, n, sizeof *names, cmp_str);

        for (size_t i = 0; i < n; i++) {
                char path[PATH_MAX];
                snprintf(path, sizeof path, "%s/%s", dir, names[i]);
                struct stat st;
                if (stat(path, &st) != 0)
                        continue;
                if (S_ISDIR(st.st_mode)) {
                        if (depth == 0)
                                scan_dir(reg, path, 1);
                        continue;
                }
                if (socfw_str_ends_with(names[i], ".la")) {
                        if (la_is_loadable(path))
                                socfw_registry_load_file(reg, path, NULL);
                } else if (socfw_str_ends_with(names[i], ".so")) {
                        /* skip when a libtool archive of the same name
                         * sits beside it */
                        char la[PATH_MAX];
                        snprintf(la, sizeof la, "%.*s.la",
                                 (int)(strlen(path) - 3), path);
                        if (stat(la, &st) != 0)
                                socfw_registry_load_file(reg, path, NULL);
                }
        }
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
}

int
socfw_registry_scan(socfw_registry *reg)
{
        size_t before = reg->n_entries;
        for (size_t i = 0; i < reg->n_paths; i++)
                scan_dir(reg, reg->paths[i], 0);
        return (int)(reg->n_entries - before);
}

/* ---- queries ---- */

size_t
socfw_registry_count(const socfw_registry *reg)
{
        return reg->n_entries;
}

const socfw_plugin *
socfw_registry_get(const socfw_registry *reg, size_t i)
{
        return i < reg->n_entries ? reg->entries[i].desc : NULL;
}

const char *
socfw_registry_file(const socfw_registry *reg, size_t i)
{
        return i < reg->n_entries ? reg->entries[i].file : NULL;
}

const socfw_plugin *
socfw_registry_find(const socfw_registry *reg, const char *name, int kind)
{
        for (size_t i = 0; i < reg->n_entries; i++) {
                const socfw_plugin *d = reg->entries[i].desc;
                if (strcmp(d->name, name) == 0 &&
                    (kind == 0 || (int)d->kind == kind))
                        return d;
        }
        return NULL;
}

size_t
socfw_registry_problem_count(const socfw_registry *reg)
{
        return reg->n_problems;
}

const char *
socfw_registry_problem(const socfw_registry *reg, size_t i)
{
        return i < reg->n_problems ? reg->problems[i] : NULL;
}

/* ---- what a head learns from ---- */

const char *
socfw_registry_task_input(const socfw_plugin *task)
{
        return task && task->kind == SOCFW_PLUGIN_TASK ? task->input : NULL;
}

socfw_target_kind
socfw_registry_head_target(const socfw_plugin *head)
{
        return head && head->kind == SOCFW_PLUGIN_HEAD ? head->target : 0;
}
