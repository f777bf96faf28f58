/* post.c - a post flowing through a chain: text plus annotations, kept as
 * one JSON object (jansson). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "socfw/chain.h"

struct socfw_post {
        json_t *obj;        /* the record: other fields + annotations */
        char *text_field;   /* where the text lives in obj             */
        char *session;
};

static int
valid_utf8(const char *s)
{
        json_t *probe = json_string(s);
        int ok = probe != NULL;
        json_decref(probe);
        return ok;
}

socfw_post *
socfw_post_new(const char *text, const char *session)
{
        socfw_post *p = calloc(1, sizeof *p);
        if (!p)
                return NULL;
        p->obj = json_object();
        p->text_field = strdup("text");
        /* invalid UTF-8 is kept byte for byte via json_stringn_nocheck */
        json_t *t = json_stringn_nocheck(text ? text : "",
                                         text ? strlen(text) : 0);
        if (!p->obj || !p->text_field || !t ||
            json_object_set_new(p->obj, "text", t) < 0 ||
            (session && !(p->session = strdup(session)))) {
                socfw_post_free(p);
                return NULL;
        }
        return p;
}

/* A post from a JSON object; the text field must be a string, or, unless
 * `require_text`, absent. */
static int
post_parse(socfw_post **out, const char *json, size_t len,
           const char *text_field, int require_text, socfw_error *err)
{
        json_error_t je;
        *out = NULL;
        if (!text_field)
                text_field = "text";
        json_t *obj = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
        if (!obj)
                return socfw_error_set_at(err, SOCFW_EINVAL, NULL, je.line,
                                          je.column, "invalid JSON: %s",
                                          je.text);
        if (!json_is_object(obj)) {
                json_decref(obj);
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "expected a JSON object with a '%s' "
                                       "field",
                                       text_field);
        }
        json_t *t = json_object_get(obj, text_field);
        if (!require_text && t && !json_is_string(t)) {
                const char *kind = json_is_number(t)  ? "a number"
                                   : json_is_array(t) ? "a list"
                                                      : "another type";
                json_decref(obj); /* t goes with it */
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "field '%s' must be a string (the "
                                       "text), not %s",
                                       text_field, kind);
        }
        if (require_text && !json_is_string(t)) {
                json_decref(obj);
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "missing string field '%s' (hint: "
                                       "set the text field name)",
                                       text_field);
        }
        socfw_post *p = calloc(1, sizeof *p);
        if (!p || !(p->text_field = strdup(text_field))) {
                free(p);
                json_decref(obj);
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        }
        p->obj = obj;
        json_t *s = json_object_get(obj, "session");
        if (json_is_string(s) && !(p->session = strdup(json_string_value(s)))) {
                socfw_post_free(p);
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        }
        *out = p;
        return 0;
}

int
socfw_post_from_json(socfw_post **out, const char *json, size_t len,
                     const char *text_field, socfw_error *err)
{
        return post_parse(out, json, len, text_field, 1, err);
}

int
socfw_post_from_record(socfw_post **out, const char *json, size_t len,
                       const char *text_field, socfw_error *err)
{
        return post_parse(out, json, len, text_field, 0, err);
}

void
socfw_post_free(socfw_post *post)
{
        if (!post)
                return;
        json_decref(post->obj);
        free(post->text_field);
        free(post->session);
        free(post);
}

char *
socfw_post_to_json(const socfw_post *post)
{
        return json_dumps(post->obj, JSON_COMPACT | JSON_PRESERVE_ORDER |
                                             JSON_REAL_PRECISION(7));
}

const char *
socfw_post_text(const socfw_post *post)
{
        return json_string_value(json_object_get(post->obj, post->text_field));
}

int
socfw_post_set_text(socfw_post *post, const char *text, socfw_error *err)
{
        if (!text || !valid_utf8(text))
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "post text must be valid UTF-8");
        if (json_object_set_new(post->obj, post->text_field,
                                json_string(text)) < 0)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        return 0;
}

const char *
socfw_post_session(const socfw_post *post)
{
        return post->session;
}

/* Walk "a.b.c" to the parent object of "c"; create objects when asked. */
static json_t *
walk(json_t *root, const char *key, int create, const char **leaf)
{
        char part[256];
        json_t *cur = root;
        const char *p = key;
        for (;;) {
                const char *dot = strchr(p, '.');
                if (!dot) {
                        *leaf = p;
                        return cur;
                }
                size_t len = (size_t)(dot - p);
                if (len == 0 || len >= sizeof part)
                        return NULL;
                memcpy(part, p, len);
                part[len] = '\0';
                json_t *next = json_object_get(cur, part);
                if (!json_is_object(next)) {
                        if (!create)
                                return NULL;
                        next = json_object();
                        if (!next || json_object_set_new(cur, part, next) < 0)
                                return NULL;
                }
                cur = next;
                p = dot + 1;
        }
}

static json_t *
lookup(const socfw_post *post, const char *key)
{
        const char *leaf;
        json_t *parent = walk(post->obj, key, 0, &leaf);
        return parent ? json_object_get(parent, leaf) : NULL;
}

static int
store(socfw_post *post, const char *key, json_t *value, socfw_error *err)
{
        const char *leaf;
        if (!value)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "annotation '%s': invalid value "
                                       "(strings must be valid UTF-8)",
                                       key);
        json_t *parent = walk(post->obj, key, 1, &leaf);
        if (!parent || !*leaf || json_object_set_new(parent, leaf, value) < 0) {
                if (!parent)
                        json_decref(value);
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "cannot store annotation '%s' (hint: "
                                       "keys are dotted names such as "
                                       "sentiment.label)",
                                       key);
        }
        return 0;
}

const char *
socfw_post_get_string(const socfw_post *post, const char *key)
{
        return json_string_value(lookup(post, key));
}

int
socfw_post_get_number(const socfw_post *post, const char *key, double *out)
{
        json_t *v = lookup(post, key);
        if (!json_is_number(v))
                return SOCFW_ENOTFOUND;
        *out = json_number_value(v);
        return 0;
}

int
socfw_post_set_string(socfw_post *post, const char *key, const char *value,
                      socfw_error *err)
{
        return store(post, key, value ? json_string(value) : NULL, err);
}

int
socfw_post_set_number(socfw_post *post, const char *key, double value,
                      socfw_error *err)
{
        /* whole numbers are written as integers ("count": 2); the range
         * is checked first: converting a double outside json_int_t's
         * range (or NaN) is undefined */
        if (value > -9e15 && value < 9e15 &&
            value == (double)(json_int_t)value)
                return store(post, key, json_integer((json_int_t)value), err);
        return store(post, key, json_real(value), err);
}

int
socfw_post_set_json(socfw_post *post, const char *key, const char *json,
                    socfw_error *err)
{
        json_error_t je;
        json_t *v = json_loads(json, JSON_DECODE_ANY, &je);
        if (!v)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "annotation '%s': invalid JSON: %s",
                                       key, je.text);
        return store(post, key, v, err);
}
