/*
 * json: jansson helpers following the Mesos JSON mapping (stout's
 * protobuf.hpp): null means absent, ids are {"value": ...}, numbers and
 * booleans may arrive as strings.
 */
#include "core/json.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 16 significant digits print 0.1 as "0.1" and keep microseconds in epoch
 * timestamps, where jansson's default of 17 prints 0.10000000000000001. */
#define AG_JSON_DUMP_FLAGS (JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(16))

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static void clear_err(char *err, size_t errlen)
{
    if (err && errlen > 0)
        err[0] = '\0';
}

json_t *ag_json_parse(const char *text, size_t len, char *err, size_t errlen)
{
    json_error_t jerr;
    if (!text) {
        set_err(err, errlen, "invalid JSON: no input");
        return NULL;
    }
    json_t *v = json_loadb(text, len, JSON_DECODE_ANY, &jerr);
    if (!v)
        set_err(err, errlen, "invalid JSON at line %d column %d: %s", jerr.line, jerr.column,
                jerr.text);
    return v;
}

char *ag_json_dump(const json_t *value, size_t *ret_len)
{
    if (!value)
        return NULL;
    char *s = json_dumps(value, AG_JSON_DUMP_FLAGS);
    if (s && ret_len)
        *ret_len = strlen(s);
    return s;
}

json_t *ag_json_get(const json_t *obj, const char *key)
{
    if (!obj || !json_is_object(obj) || !key)
        return NULL;
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return NULL;
    return v;
}

/* Common "absent" handling: an error only if required. */
static void absent(const char *key, bool required, char *err, size_t errlen)
{
    if (required)
        set_err(err, errlen, "missing '%s'", key);
    else
        clear_err(err, errlen);
}

const char *ag_json_get_id(const json_t *obj, const char *key, bool required, char *err,
                           size_t errlen)
{
    json_t *v = ag_json_get(obj, key);
    if (!v) {
        absent(key, required, err, errlen);
        return NULL;
    }
    json_t *s = json_is_object(v) ? json_object_get(v, "value") : NULL;
    if (!s || !json_is_string(s)) {
        set_err(err, errlen, "'%s' must be {\"value\": string}", key);
        return NULL;
    }
    return json_string_value(s);
}

const char *ag_json_get_string(const json_t *obj, const char *key, bool required, char *err,
                               size_t errlen)
{
    json_t *v = ag_json_get(obj, key);
    if (!v) {
        absent(key, required, err, errlen);
        return NULL;
    }
    if (!json_is_string(v)) {
        set_err(err, errlen, "'%s' must be a string", key);
        return NULL;
    }
    return json_string_value(v);
}

/* A numeric string as Mesos accepts it: a decimal number, "Infinity" or
 * "-Infinity". NaN and trailing garbage are refused. */
static int parse_number_string(const char *s, double *ret)
{
    if (strcmp(s, "Infinity") == 0) {
        *ret = INFINITY;
        return 0;
    }
    if (strcmp(s, "-Infinity") == 0) {
        *ret = -INFINITY;
        return 0;
    }
    /* strtod would also take hex, "inf", "nan" and leading spaces. */
    const char *p = s;
    if (*p == '-' || *p == '+')
        p++;
    if (!((*p >= '0' && *p <= '9') || (*p == '.' && p[1] >= '0' && p[1] <= '9')))
        return -EINVAL;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
        return -EINVAL;
    char *end;
    errno = 0;
    double d = strtod(s, &end);
    if (end == s || *end != '\0' || isnan(d) || (errno == ERANGE && isinf(d)))
        return -EINVAL;
    *ret = d;
    return 0;
}

int ag_json_get_number(const json_t *obj, const char *key, bool required, double *ret, char *err,
                       size_t errlen)
{
    json_t *v = ag_json_get(obj, key);
    if (!v) {
        if (required)
            set_err(err, errlen, "missing '%s'", key);
        return -ENOENT;
    }
    double d;
    if (json_is_integer(v)) {
        d = (double)json_integer_value(v);
    } else if (json_is_real(v)) {
        d = json_real_value(v);
    } else if (!json_is_string(v) || parse_number_string(json_string_value(v), &d) < 0) {
        set_err(err, errlen, "'%s' must be a number", key);
        return -EINVAL;
    }
    *ret = d;
    return 0;
}

int ag_json_get_bool(const json_t *obj, const char *key, bool required, bool *ret, char *err,
                     size_t errlen)
{
    json_t *v = ag_json_get(obj, key);
    if (!v) {
        if (required)
            set_err(err, errlen, "missing '%s'", key);
        return -ENOENT;
    }
    if (json_is_boolean(v)) {
        *ret = json_is_true(v);
        return 0;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (strcmp(s, "true") == 0) {
            *ret = true;
            return 0;
        }
        if (strcmp(s, "false") == 0) {
            *ret = false;
            return 0;
        }
    }
    set_err(err, errlen, "'%s' must be a boolean", key);
    return -EINVAL;
}

json_t *ag_json_get_array(const json_t *obj, const char *key, bool required, char *err,
                          size_t errlen)
{
    json_t *v = ag_json_get(obj, key);
    if (!v) {
        absent(key, required, err, errlen);
        return NULL;
    }
    if (!json_is_array(v)) {
        set_err(err, errlen, "'%s' must be an array", key);
        return NULL;
    }
    return v;
}

json_t *ag_json_get_object(const json_t *obj, const char *key, bool required, char *err,
                           size_t errlen)
{
    json_t *v = ag_json_get(obj, key);
    if (!v) {
        absent(key, required, err, errlen);
        return NULL;
    }
    if (!json_is_object(v)) {
        set_err(err, errlen, "'%s' must be an object", key);
        return NULL;
    }
    return v;
}

json_t *ag_json_id(const char *value)
{
    return json_pack("{s:s}", "value", value ? value : "");
}

void ag_json_set_id(json_t *obj, const char *key, const char *value)
{
    if (!obj || !key || !value)
        return;
    json_object_set_new(obj, key, ag_json_id(value));
}

void ag_json_set_string(json_t *obj, const char *key, const char *value)
{
    if (!obj || !key || !value)
        return;
    json_object_set_new(obj, key, json_string(value));
}

/* --- lean reader --- */

#define LEAN_MAX_DEPTH 4
#define LEAN_MAX_PATH  128

struct lean {
    const char *p, *end;
    struct ag_json_lean_field *fields;
    size_t n;
};

static void lean_ws(struct lean *l)
{
    while (l->p < l->end && (*l->p == ' ' || *l->p == '\t' || *l->p == '\n' || *l->p == '\r'))
        l->p++;
}

static bool lean_peek(struct lean *l, char c)
{
    lean_ws(l);
    return l->p < l->end && *l->p == c;
}

/* A string of printable ASCII without escapes (anything else: -1). */
static int lean_str(struct lean *l, const char **ret, size_t *ret_len)
{
    if (!lean_peek(l, '"'))
        return -1;
    const char *start = ++l->p;
    while (l->p < l->end && *l->p != '"') {
        unsigned char c = (unsigned char)*l->p;
        if (c < 0x20 || c > 0x7e || c == '\\')
            return -1;
        l->p++;
    }
    if (l->p >= l->end)
        return -1;
    *ret = start;
    *ret_len = (size_t)(l->p - start);
    l->p++;
    return 0;
}

static int lean_set(struct lean *l, const char *path, size_t plen, const char *v, size_t vlen)
{
    for (size_t i = 0; i < l->n; i++) {
        struct ag_json_lean_field *f = &l->fields[i];
        if (strlen(f->path) != plen || memcmp(f->path, path, plen) != 0)
            continue;
        if (f->value)
            return -1; /* repeated */
        f->value = v;
        f->len = vlen;
        return 0;
    }
    return -1; /* a member we do not expect */
}

/* An object whose members' paths start with path[0 .. plen). */
static int lean_obj(struct lean *l, char *path, size_t plen, int depth)
{
    if (depth > LEAN_MAX_DEPTH || !lean_peek(l, '{'))
        return -1;
    l->p++;
    if (lean_peek(l, '}')) {
        l->p++;
        return 0;
    }
    for (;;) {
        const char *key, *v;
        size_t klen, vlen, len = plen;
        if (lean_str(l, &key, &klen) < 0 || !lean_peek(l, ':'))
            return -1;
        l->p++;
        if (len + klen + 2 > LEAN_MAX_PATH)
            return -1;
        if (len > 0)
            path[len++] = '.';
        memcpy(path + len, key, klen);
        len += klen;
        if (lean_peek(l, '{')) {
            if (lean_obj(l, path, len, depth + 1) < 0)
                return -1;
        } else if (lean_str(l, &v, &vlen) < 0 || lean_set(l, path, len, v, vlen) < 0) {
            return -1;
        }
        if (lean_peek(l, ',')) {
            l->p++;
            continue;
        }
        if (!lean_peek(l, '}'))
            return -1;
        l->p++;
        return 0;
    }
}

int ag_json_lean_read(const char *text, size_t len, struct ag_json_lean_field *fields, size_t n)
{
    char path[LEAN_MAX_PATH];
    struct lean l = {text, text + len, fields, n};

    for (size_t i = 0; i < n; i++) {
        fields[i].value = NULL;
        fields[i].len = 0;
    }
    if (!text || lean_obj(&l, path, 0, 0) < 0)
        return -1;
    lean_ws(&l);
    return l.p == l.end ? 0 : -1;
}
