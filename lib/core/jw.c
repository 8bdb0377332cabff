/*
 * jw: the streaming JSON writer (see jw.h). The formatting rules follow
 * what jansson prints, so a streamed document and a dumped tree of the
 * same values are the same bytes (tests/unit/test_core_jw.c checks it).
 */
#include "core/jw.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ag_jw_init(struct ag_jw *w)
{
    memset(w, 0, sizeof(*w));
}

void ag_jw_release(struct ag_jw *w)
{
    free(w->buf);
    memset(w, 0, sizeof(*w));
}

void ag_jw_clear(struct ag_jw *w)
{
    w->len = 0;
    if (w->buf)
        w->buf[0] = '\0';
}

static bool reserve(struct ag_jw *w, size_t more)
{
    if (w->oom)
        return false;
    if (w->len + more + 1 <= w->cap)
        return true;
    size_t cap = w->cap ? w->cap : 256;
    while (cap < w->len + more + 1)
        cap *= 2;
    char *p = realloc(w->buf, cap);
    if (!p) {
        w->oom = true;
        return false;
    }
    w->buf = p;
    w->cap = cap;
    return true;
}

static void put(struct ag_jw *w, const char *s, size_t n)
{
    if (!reserve(w, n))
        return;
    memcpy(w->buf + w->len, s, n);
    w->len += n;
    w->buf[w->len] = '\0';
}

static void put_c(struct ag_jw *w, char c)
{
    if (!reserve(w, 1))
        return;
    w->buf[w->len++] = c;
    w->buf[w->len] = '\0';
}

void ag_jw_text(struct ag_jw *w, const char *text, size_t len)
{
    put(w, text, len);
}

static void put_escaped(struct ag_jw *w, const char *s, size_t n);

/* Writes the separator a new value needs at the current position. */
static void before_value(struct ag_jw *w)
{
    if (w->depth == 0)
        return;
    uint64_t bit = 1ull << (w->depth - 1);
    if (w->is_object & bit) {
        if (!w->after_key)
            w->bad = true; /* a value where a key belongs */
        w->after_key = false;
        return;
    }
    if (w->has_items & bit)
        put_c(w, ',');
    w->has_items |= bit;
}

/* A member may start here (inside an object, no key pending): its bit in
 * the writer's masks, or 0 after marking the writer bad. */
static uint64_t member_bit(struct ag_jw *w)
{
    uint64_t bit = w->depth > 0 ? 1ull << (w->depth - 1) : 0;
    if (!(w->is_object & bit) || w->after_key) {
        w->bad = true;
        return 0;
    }
    return bit;
}

/* The comma before every member but the first. */
static void open_member(struct ag_jw *w, uint64_t bit)
{
    if (w->has_items & bit)
        put_c(w, ',');
    w->has_items |= bit;
}

void ag_jw_key(struct ag_jw *w, const char *key)
{
    uint64_t bit = member_bit(w);
    if (!bit)
        return;
    open_member(w, bit);
    put_escaped(w, key, strlen(key));
    put_c(w, ':');
    w->after_key = true;
}

void ag__jw_key_plain(struct ag_jw *w, const char *key, size_t len)
{
    uint64_t bit = member_bit(w);
    if (bit && reserve(w, len + 4))
        ag__jw_put_plain_key(w, bit, key, len);
}

static void open_container(struct ag_jw *w, char c, bool object)
{
    before_value(w);
    if (w->depth >= AG_JW_MAX_DEPTH) {
        w->bad = true;
        return;
    }
    uint64_t bit = 1ull << w->depth;
    w->has_items &= ~bit;
    if (object)
        w->is_object |= bit;
    else
        w->is_object &= ~bit;
    w->depth++;
    put_c(w, c);
}

static void close_container(struct ag_jw *w, char c, bool object)
{
    if (w->depth == 0 || w->after_key || (((w->is_object >> (w->depth - 1)) & 1u) != 0) != object) {
        w->bad = true;
        return;
    }
    w->depth--;
    put_c(w, c);
}

void ag_jw_obj_begin(struct ag_jw *w)
{
    open_container(w, '{', true);
}

void ag_jw_obj_end(struct ag_jw *w)
{
    close_container(w, '}', true);
}

void ag_jw_arr_begin(struct ag_jw *w)
{
    open_container(w, '[', false);
}

void ag_jw_arr_end(struct ag_jw *w)
{
    close_container(w, ']', false);
}

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid:
 * the rules jansson's decoder applies (no overlong forms, no surrogates,
 * nothing past U+10FFFF). */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

/* The slow path of put_escaped: from the first byte that may need an
 * escape (or UTF-8 validation) on. */
static void put_escaped_rest(struct ag_jw *w, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, run = 0; /* bytes [i - run, i) are copied as they are */
    while (i < n) {
        unsigned char c = p[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            run++;
            i++;
            continue;
        }
        size_t ulen = c >= 0x80 ? utf8_len(p + i, n - i) : 0;
        if (ulen > 0) {
            run += ulen;
            i += ulen;
            continue;
        }
        put(w, s + i - run, run);
        run = 0;
        char esc[8];
        switch (c) {
        case '"':
            put(w, "\\\"", 2);
            break;
        case '\\':
            put(w, "\\\\", 2);
            break;
        case '\b':
            put(w, "\\b", 2);
            break;
        case '\f':
            put(w, "\\f", 2);
            break;
        case '\n':
            put(w, "\\n", 2);
            break;
        case '\r':
            put(w, "\\r", 2);
            break;
        case '\t':
            put(w, "\\t", 2);
            break;
        default:
            if (c < 0x20) {
                snprintf(esc, sizeof(esc), "\\u%04X", c);
                put(w, esc, 6);
            } else {
                put(w, "\xEF\xBF\xBD", 3); /* U+FFFD for a stray byte */
            }
        }
        i++;
    }
    put(w, s + i - run, run);
}

/* Whether any byte of the 8 in x needs a look: a control character, '"',
 * '\\' or a byte >= 0x80. Word-at-a-time tests (exact as to "any"; which
 * byte is not needed here). */
static inline bool word_needs_look(uint64_t x)
{
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    uint64_t q = x ^ (ones * '"'), b = x ^ (ones * '\\');
    uint64_t below_space = (x - ones * 0x20) & ~x;
    uint64_t is_quote = (q - ones) & ~q;
    uint64_t is_backslash = (b - ones) & ~b;
    return ((below_space | is_quote | is_backslash) & highs) != 0 || (x & highs) != 0;
}

/* How many leading bytes of s need no escape and no UTF-8 check (a
 * lower bound: the slow path looks at the rest byte by byte). The last
 * bytes are checked as one word overlapping the one before. */
static size_t clean_prefix(const char *s, size_t n)
{
    uint64_t x;
    if (n < 8) {
        x = 0x6161616161616161ull; /* "aaaaaaaa": clean filler */
        memcpy(&x, s, n);
        return word_needs_look(x) ? 0 : n;
    }
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        memcpy(&x, s + i, 8);
        if (word_needs_look(x))
            return i;
    }
    if (i < n) {
        memcpy(&x, s + n - 8, 8);
        if (word_needs_look(x))
            return i;
    }
    return n;
}

/* A string, quoted: most strings (ids, names, states) need no escape and
 * are copied in one go. */
static void put_escaped(struct ag_jw *w, const char *s, size_t n)
{
    size_t clean = clean_prefix(s, n);
    if (!reserve(w, clean + 2))
        return;
    char *p = w->buf + w->len;
    *p++ = '"';
    memcpy(p, s, clean);
    w->len += clean + 1;
    if (clean < n)
        put_escaped_rest(w, s + clean, n - clean);
    put_c(w, '"');
}

void ag_jw_strn(struct ag_jw *w, const char *s, size_t len)
{
    before_value(w);
    put_escaped(w, s ? s : "", s ? len : 0);
}

void ag_jw_str(struct ag_jw *w, const char *s)
{
    ag_jw_strn(w, s, s ? strlen(s) : 0);
}

/* Writes u in decimal, ending at end; returns where it starts. */
static char *format_u64(char *end, uint64_t u)
{
    char *p = end;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    return p;
}

void ag_jw_int(struct ag_jw *w, int64_t v)
{
    char buf[24];
    char *end = buf + sizeof(buf);
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    char *p = format_u64(end, u);
    if (v < 0)
        *--p = '-';
    before_value(w);
    put(w, p, (size_t)(end - p));
}

/* jansson's format: "%.17g", a ".0" when neither "." nor "e" appears, and
 * the exponent without "+" or leading zeros. */
/* Whole numbers (most resource amounts) print exactly as "%.17g" would,
 * and without snprintf's cost. */
static bool put_whole(struct ag_jw *w, double v)
{
    if (!(v > -1e15 && v < 1e15) || v != (double)(int64_t)v || (v == 0 && signbit(v)))
        return false;
    char buf[32];
    char *end = buf + sizeof(buf);
    int64_t n = (int64_t)v;
    char *p = end - 2;
    p[0] = '.';
    p[1] = '0';
    p = format_u64(p, n < 0 ? (uint64_t)(-n) : (uint64_t)n);
    if (n < 0)
        *--p = '-';
    before_value(w);
    put(w, p, (size_t)(end - p));
    return true;
}

#define POW10_16 10000000000000000ull
#define POW10_17 100000000000000000ull

/* floor(m * 10^k / 2^s) and whether the rest is below, at or above one
 * half (-1, 0, 1): exact in 128 bits for m < 2^53, k <= 22, s < 128. */
static uint64_t scaled_floor(uint64_t m, int k, int s, int *ret_half)
{
    static const uint64_t pow10[20] = {1ull,
                                       10ull,
                                       100ull,
                                       1000ull,
                                       10000ull,
                                       100000ull,
                                       1000000ull,
                                       10000000ull,
                                       100000000ull,
                                       1000000000ull,
                                       10000000000ull,
                                       100000000000ull,
                                       1000000000000ull,
                                       10000000000000ull,
                                       100000000000000ull,
                                       1000000000000000ull,
                                       10000000000000000ull,
                                       100000000000000000ull,
                                       1000000000000000000ull,
                                       10000000000000000000ull};
    unsigned __int128 x = (unsigned __int128)m * pow10[k < 19 ? k : 19];
    for (int i = 19; i < k; i++)
        x *= 10;
    unsigned __int128 mask = ((unsigned __int128)1 << s) - 1, rest = x & mask;
    unsigned __int128 half = (unsigned __int128)1 << (s - 1);
    *ret_half = rest < half ? -1 : rest > half;
    return (uint64_t)(x >> s);
}

/* "%.17g" of a positive, non-whole v in [1e-4, 1e15), the common case
 * (timestamps, fractional resources), without snprintf: the 17
 * significant digits are found exactly in 128-bit integers and rounded
 * half to even, as glibc's printf does in the default rounding mode.
 * Writes into buf (32 bytes) and returns the length, or 0 when v is out
 * of that range (the caller falls back to snprintf). */
static size_t format_g17(char *buf, double v)
{
    if (!(v >= 1e-4 && v < 1e15))
        return 0;
    uint64_t bits;
    memcpy(&bits, &v, sizeof(bits));
    /* a normal double: v = m / 2^s */
    uint64_t m = (bits & ((1ull << 52) - 1)) | (1ull << 52);
    int s = 1075 - (int)((bits >> 52) & 0x7ff);
    if (s <= 0 || s >= 100)
        return 0;
    /* the decimal exponent x of v (10^x <= v < 10^(x+1)), first guessed
     * from 2^(52-s) <= v (78913 / 2^18 is just under log10(2)) and then
     * corrected by the digit count */
    int t = (52 - s) * 78913;
    int x = t >= 0 ? t >> 18 : -((-t + (1 << 18) - 1) >> 18);
    int k = 16 - x, half;
    uint64_t q = 0;
    for (int tries = 0; tries < 3; tries++) {
        if (k < 0 || k > 22)
            return 0;
        q = scaled_floor(m, k, s, &half);
        if (q >= POW10_17)
            k--, x++;
        else if (q < POW10_16)
            k++, x--;
        else
            break;
    }
    if (q < POW10_16 || q >= POW10_17)
        return 0;
    if (half > 0 || (half == 0 && (q & 1)))
        q++;
    if (q == POW10_17) {
        q /= 10;
        x++;
    }
    if (x < -4 || x >= 17)
        return 0; /* exponent form: left to snprintf */
    char digits[17];
    format_u64(digits + 17, q);
    int n_digits = 17;
    while (n_digits > 0 && digits[n_digits - 1] == '0')
        n_digits--;
    size_t len = 0;
    if (x >= 0) {
        memcpy(buf, digits, (size_t)x + 1);
        len = (size_t)x + 1;
        if (n_digits > x + 1) {
            buf[len++] = '.';
            memcpy(buf + len, digits + x + 1, (size_t)(n_digits - x - 1));
            len += (size_t)(n_digits - x - 1);
        } else {
            memcpy(buf + len, ".0", 2); /* jansson's ".0" */
            len += 2;
        }
    } else {
        buf[len++] = '0';
        buf[len++] = '.';
        for (int i = 0; i < -x - 1; i++)
            buf[len++] = '0';
        memcpy(buf + len, digits, (size_t)n_digits);
        len += (size_t)n_digits;
    }
    return len;
}

void ag_jw_real(struct ag_jw *w, double v)
{
    char buf[64];
    if (!isfinite(v))
        v = 0;
    if (put_whole(w, v))
        return;
    size_t fast = format_g17(buf + 1, fabs(v));
    if (fast > 0) {
        buf[0] = '-';
        before_value(w);
        put(w, v < 0 ? buf : buf + 1, v < 0 ? fast + 1 : fast);
        return;
    }
    int n = snprintf(buf, sizeof(buf), "%.17g", v);
    if (n < 0 || (size_t)n >= sizeof(buf) - 3)
        n = snprintf(buf, sizeof(buf), "0.0");
    size_t len = (size_t)n;
    for (char *p = buf; *p; p++)
        if (*p == ',')
            *p = '.'; /* a locale's decimal comma */
    if (!strchr(buf, '.') && !strchr(buf, 'e')) {
        memcpy(buf + len, ".0", 3);
        len += 2;
    }
    char *e = strchr(buf, 'e');
    if (e) {
        char *start = e + 1, *end = e + 2;
        if (*start == '-')
            start++;
        while (*end == '0')
            end++;
        if (end != start) {
            memmove(start, end, len - (size_t)(end - buf) + 1);
            len -= (size_t)(end - start);
        }
    }
    before_value(w);
    put(w, buf, len);
}

void ag_jw_bool(struct ag_jw *w, bool v)
{
    before_value(w);
    put(w, v ? "true" : "false", v ? 4 : 5);
}

void ag_jw_null(struct ag_jw *w)
{
    before_value(w);
    put(w, "null", 4);
}

void ag_jw_raw(struct ag_jw *w, const char *json, size_t len)
{
    before_value(w);
    put(w, json, len);
}

void ag_jw_raw_members(struct ag_jw *w, const char *text, size_t len)
{
    if (len == 0)
        return;
    uint64_t bit = member_bit(w);
    if (!bit)
        return;
    open_member(w, bit);
    put(w, text, len);
}

void ag_jw_json(struct ag_jw *w, const json_t *v)
{
    switch (v ? json_typeof(v) : JSON_NULL) {
    case JSON_OBJECT: {
        const char *k;
        json_t *x;
        ag_jw_obj_begin(w);
        json_object_foreach((json_t *)v, k, x)
        {
            ag_jw_key(w, k);
            ag_jw_json(w, x);
        }
        ag_jw_obj_end(w);
        break;
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *x;
        ag_jw_arr_begin(w);
        json_array_foreach(v, i, x) ag_jw_json(w, x);
        ag_jw_arr_end(w);
        break;
    }
    case JSON_STRING:
        ag_jw_strn(w, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        ag_jw_int(w, (int64_t)json_integer_value(v));
        break;
    case JSON_REAL:
        ag_jw_real(w, json_real_value(v));
        break;
    case JSON_TRUE:
        ag_jw_bool(w, true);
        break;
    case JSON_FALSE:
        ag_jw_bool(w, false);
        break;
    default:
        ag_jw_null(w);
    }
}

void ag_jw_key_str(struct ag_jw *w, const char *key, const char *s)
{
    ag_jw_key(w, key);
    ag_jw_str(w, s);
}

void ag_jw_key_int(struct ag_jw *w, const char *key, int64_t v)
{
    ag_jw_key(w, key);
    ag_jw_int(w, v);
}

void ag_jw_key_real(struct ag_jw *w, const char *key, double v)
{
    ag_jw_key(w, key);
    ag_jw_real(w, v);
}

void ag_jw_key_bool(struct ag_jw *w, const char *key, bool v)
{
    ag_jw_key(w, key);
    ag_jw_bool(w, v);
}

void ag_jw_key_json(struct ag_jw *w, const char *key, const json_t *v)
{
    ag_jw_key(w, key);
    ag_jw_json(w, v);
}

void ag_jw_key_id(struct ag_jw *w, const char *key, const char *s)
{
    ag_jw_key(w, key);
    ag_jw_obj_begin(w);
    ag_jw_key_str(w, "value", s);
    ag_jw_obj_end(w);
}
