/*
 * json: helpers over jansson for the Mesos JSON shapes.
 *
 * Mesos wraps ids as {"value": "..."}, writes enums as name strings, and
 * treats a JSON null like an absent field. The getters here follow those
 * rules and, on failure, write a message naming the field into err, so a
 * handler can answer 400 with it.
 */
#ifndef AG_CORE_JSON_H
#define AG_CORE_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/* Parses text; NULL with a message ("invalid JSON at line L column C: ...")
 * in err on failure. */
json_t *ag_json_parse(const char *text, size_t len, char *err, size_t errlen);
/* Compact dump (no spaces, no newlines); malloc'd, NULL on OOM. */
char *ag_json_dump(const json_t *value, size_t *ret_len);

/* Object member, treating null as absent. NULL if absent or obj not an object. */
json_t *ag_json_get(const json_t *obj, const char *key);

/* The string inside {"value": "..."} at obj[key]; NULL if absent. If
 * `required` and absent, or present but malformed, returns NULL and writes
 * "missing 'key'" / "'key' must be {\"value\": string}" into err; callers
 * tell "absent" from "bad" by err[0] (set only on error). */
const char *ag_json_get_id(const json_t *obj, const char *key, bool required, char *err,
                           size_t errlen);
/* String member; same conventions as ag_json_get_id. */
const char *ag_json_get_string(const json_t *obj, const char *key, bool required, char *err,
                               size_t errlen);
/* Number member (integer, real, or numeric string as Mesos accepts).
 * Returns 0 and sets *ret; -ENOENT if absent (err untouched unless
 * required); -EINVAL if not a number (err set). */
int ag_json_get_number(const json_t *obj, const char *key, bool required, double *ret, char *err,
                       size_t errlen);
/* Boolean member (true/false or "true"/"false"); same return convention. */
int ag_json_get_bool(const json_t *obj, const char *key, bool required, bool *ret, char *err,
                     size_t errlen);
/* Array member, or NULL if absent; error if present but not an array. */
json_t *ag_json_get_array(const json_t *obj, const char *key, bool required, char *err,
                          size_t errlen);
/* Object member, or NULL if absent; error if present but not an object. */
json_t *ag_json_get_object(const json_t *obj, const char *key, bool required, char *err,
                           size_t errlen);

/* A lean reader for the hottest calls (e.g. a scheduler's ACKNOWLEDGE):
 * no tree, no allocation. It accepts only a JSON object made of nested
 * objects and plain strings (printable ASCII, no escapes), every string at
 * one of the given dotted paths ("acknowledge.task_id.value") and each at
 * most once; it then points each field's value into `text` (not
 * NUL-terminated; value NULL if absent) and returns 0. Anything else
 * (numbers, arrays, escapes, unknown or repeated members, bad JSON)
 * returns -1 and the caller takes the full parser, which gives the
 * precise error. */
struct ag_json_lean_field {
    const char *path;  /* in */
    const char *value; /* out */
    size_t len;        /* out */
};
int ag_json_lean_read(const char *text, size_t len, struct ag_json_lean_field *fields, size_t n);

/* New {"value": value}. */
json_t *ag_json_id(const char *value);
/* Sets obj[key] = {"value": value}; nothing when value is NULL. */
void ag_json_set_id(json_t *obj, const char *key, const char *value);
/* Sets obj[key] = string; nothing when value is NULL. */
void ag_json_set_string(json_t *obj, const char *key, const char *value);

#endif
