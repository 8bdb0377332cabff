/*
 * jw: a streaming JSON writer. It appends compact JSON to a growing byte
 * buffer, with no tree in between, so a large document (the master's
 * state) costs one pass and no per-value allocation.
 *
 * The output is what jansson's json_dumps(JSON_COMPACT) prints for the same
 * values: strings escaped the same way (", \, control characters; no "\/",
 * UTF-8 kept as is), integers in decimal, reals with 17 significant digits
 * and always a "." or an exponent ("2.0", "1e+100" as "1e100"). Bytes that
 * are not valid UTF-8 are written as U+FFFD (jansson refuses such strings).
 *
 * Commas and colons are the writer's job: callers write keys and values in
 * order. The buffer may be taken and reset between values (a streamed
 * document goes out in pieces); the nesting state is kept across resets.
 *
 *     struct ag_jw w;
 *     ag_jw_init(&w);
 *     ag_jw_obj_begin(&w);
 *     ag_jw_key_str(&w, "id", "x");
 *     ag_jw_obj_end(&w);
 *     ... w.buf[0 .. w.len) ...
 *     ag_jw_release(&w);
 *
 * Out of memory is sticky: w.oom is set, later writes do nothing.
 */
#ifndef AG_CORE_JW_H
#define AG_CORE_JW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

/* Nesting deeper than this sets `bad` (a bug in the caller). */
#define AG_JW_MAX_DEPTH 64

struct ag_jw {
    /* read-only */
    char *buf; /* NUL-terminated when not NULL */
    size_t len;
    bool oom;
    bool bad; /* misuse: unbalanced nesting, too deep, value where a key belongs */
    /* private */
    size_t cap;
    int depth;
    uint64_t has_items; /* bit d: the container at depth d has an item */
    uint64_t is_object; /* bit d: the container at depth d is an object */
    bool after_key;
};

void ag_jw_init(struct ag_jw *w);
/* Frees the buffer; the writer can be initialised again. */
void ag_jw_release(struct ag_jw *w);
/* Empties the buffer (keeps its memory and the nesting state). */
void ag_jw_clear(struct ag_jw *w);

void ag_jw_obj_begin(struct ag_jw *w);
void ag_jw_obj_end(struct ag_jw *w);
void ag_jw_arr_begin(struct ag_jw *w);
void ag_jw_arr_end(struct ag_jw *w);
/* An object member's key; the next write is its value. */
void ag_jw_key(struct ag_jw *w, const char *key);

void ag_jw_str(struct ag_jw *w, const char *s); /* NULL writes "" */
void ag_jw_strn(struct ag_jw *w, const char *s, size_t len);
void ag_jw_int(struct ag_jw *w, int64_t v);
/* A real as jansson prints it; NaN and infinities (which jansson refuses)
 * are written as 0.0. */
void ag_jw_real(struct ag_jw *w, double v);
void ag_jw_bool(struct ag_jw *w, bool v);
void ag_jw_null(struct ag_jw *w);
/* A jansson value, written in its key order. NULL writes null. */
void ag_jw_json(struct ag_jw *w, const json_t *v);
/* A value already serialised as compact JSON (copied verbatim). */
void ag_jw_raw(struct ag_jw *w, const char *json, size_t len);
/* Members already serialised as compact JSON ("\"a\":1,\"b\":[]", no
 * braces), appended to the object being written with the comma their
 * position needs; nothing when len is 0. */
void ag_jw_raw_members(struct ag_jw *w, const char *text, size_t len);
/* Text outside any value (a JSONP prefix, say): no comma logic. */
void ag_jw_text(struct ag_jw *w, const char *text, size_t len);

/* A key known not to need escaping (a literal member name), written as
 * it is: the common case, without scanning it. Inline, so that the copy
 * of a literal of known length is a few moves; the rest (growing the
 * buffer, misuse) is ag__jw_key_plain(). */
void ag__jw_key_plain(struct ag_jw *w, const char *key, size_t len);
/* Writes [,]"key": for a key needing no escape; the caller has checked that
 * a member may start here and that len + 5 bytes are free. */
static inline void ag__jw_put_plain_key(struct ag_jw *w, uint64_t bit, const char *key, size_t len)
{
    char *p = w->buf + w->len;
    if (w->has_items & bit)
        *p++ = ',';
    w->has_items |= bit;
    *p++ = '"';
    memcpy(p, key, len);
    p += len;
    *p++ = '"';
    *p++ = ':';
    *p = '\0';
    w->len = (size_t)(p - w->buf);
    w->after_key = true;
}

static inline void ag_jw_key_plain(struct ag_jw *w, const char *key, size_t len)
{
    uint64_t bit = w->depth > 0 ? 1ull << (w->depth - 1) : 0;
    if (w->oom || !(w->is_object & bit) || w->after_key || w->len + len + 5 > w->cap) {
        ag__jw_key_plain(w, key, len);
        return;
    }
    ag__jw_put_plain_key(w, bit, key, len);
}
/* For string literals only: AG_JW_KEY(w, "name"). */
#define AG_JW_KEY(w, lit) ag_jw_key_plain((w), "" lit "", sizeof(lit) - 1)

/* key + value shorthands */
void ag_jw_key_str(struct ag_jw *w, const char *key, const char *s);
void ag_jw_key_int(struct ag_jw *w, const char *key, int64_t v);
void ag_jw_key_real(struct ag_jw *w, const char *key, double v);
void ag_jw_key_bool(struct ag_jw *w, const char *key, bool v);
void ag_jw_key_json(struct ag_jw *w, const char *key, const json_t *v);
/* {"value": s} (a Mesos id). */
void ag_jw_key_id(struct ag_jw *w, const char *key, const char *s);

#endif
