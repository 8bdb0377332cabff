/*
 * flags: a table-driven command-line parser with AGORA_<NAME> environment
 * fallbacks, and stout-style durations ("1.5mins").
 *
 * Ownership: a string flag's variable holds the caller's default until the
 * flag is parsed; from then on it holds a strdup'd copy and `set` is true,
 * which is how ag_flags_release knows what it may free.
 */
#include "core/flags.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* ---- durations ---- */

static const struct {
    const char *suffix;
    double seconds;
} duration_units[] = {
    {"ns", 1e-9},   {"us", 1e-6},    {"ms", 1e-3},      {"secs", 1.0},
    {"mins", 60.0}, {"hrs", 3600.0}, {"days", 86400.0}, {"weeks", 604800.0},
};
#define N_DURATION_UNITS (sizeof(duration_units) / sizeof(duration_units[0]))

int ag_duration_parse(const char *text, double *ret_seconds)
{
    if (!text)
        return -EINVAL;
    /* A plain decimal: digits with an optional fraction. strtod alone would
     * also take signs, spaces, hex, "inf" and "nan". */
    const char *p = text;
    size_t digits = 0;
    while (isdigit((unsigned char)*p)) {
        p++;
        digits++;
    }
    if (*p == '.') {
        p++;
        while (isdigit((unsigned char)*p)) {
            p++;
            digits++;
        }
    }
    if (digits == 0)
        return -EINVAL;
    char num[64];
    size_t nlen = (size_t)(p - text);
    if (nlen >= sizeof(num))
        return -EINVAL;
    memcpy(num, text, nlen);
    num[nlen] = '\0';
    double value = strtod(num, NULL);

    double unit = 0;
    if (*p == '\0') {
        unit = 1.0;
    } else {
        for (size_t i = 0; i < N_DURATION_UNITS; i++) {
            if (strcmp(p, duration_units[i].suffix) == 0) {
                unit = duration_units[i].seconds;
                break;
            }
        }
    }
    if (unit == 0)
        return -EINVAL;
    double s = value * unit;
    if (!isfinite(s))
        return -EINVAL;
    *ret_seconds = s;
    return 0;
}

void ag_duration_format(double seconds, char *out, size_t outlen)
{
    if (!out || outlen == 0)
        return;
    if (isnan(seconds)) {
        snprintf(out, outlen, "0ns");
        return;
    }
    const char *sign = seconds < 0 ? "-" : "";
    double a = fabs(seconds);
    size_t u = 0;
    /* The largest unit of which there is at least one, as stout prints. */
    for (size_t i = 0; i < N_DURATION_UNITS; i++) {
        if (a >= duration_units[i].seconds * (1 - 1e-12))
            u = i;
    }
    if (a == 0) {
        snprintf(out, outlen, "0ns");
        return;
    }
    double v = a / duration_units[u].seconds;
    /* 12 significant digits hide the binary noise of the division. */
    snprintf(out, outlen, "%s%.12g%s", sign, v, duration_units[u].suffix);
}

/* ---- flag values ---- */

static int parse_bool(const char *s, bool *ret)
{
    if (strcmp(s, "true") == 0 || strcmp(s, "1") == 0 || strcmp(s, "yes") == 0) {
        *ret = true;
        return 0;
    }
    if (strcmp(s, "false") == 0 || strcmp(s, "0") == 0 || strcmp(s, "no") == 0) {
        *ret = false;
        return 0;
    }
    return -EINVAL;
}

static const char *type_expectation(enum ag_flag_type type)
{
    switch (type) {
    case AG_FLAG_INT:
        return "an integer";
    case AG_FLAG_DOUBLE:
        return "a number";
    case AG_FLAG_BOOL:
        return "true or false";
    case AG_FLAG_DURATION:
        return "a duration such as 5secs, 1.5mins or 250ms";
    default:
        return "a string";
    }
}

/* Stores value into the flag's variable; `origin` names where it came
 * from ("--name" or "AGORA_NAME") for the error message. */
static int set_value(struct ag_flag *f, const char *value, const char *origin, char *err,
                     size_t errlen)
{
    switch (f->type) {
    case AG_FLAG_STRING: {
        char *copy = strdup(value);
        if (!copy) {
            set_err(err, errlen, "out of memory setting '%s'", origin);
            return -ENOMEM;
        }
        char **slot = f->ptr;
        if (f->set)
            free(*slot);
        *slot = copy;
        f->set = true;
        return 0;
    }
    case AG_FLAG_INT: {
        char *end;
        errno = 0;
        long v = strtol(value, &end, 10);
        if (*value == '\0' || isspace((unsigned char)*value) || *end != '\0' || errno ||
            v < INT_MIN || v > INT_MAX)
            goto bad;
        *(int *)f->ptr = (int)v;
        break;
    }
    case AG_FLAG_DOUBLE: {
        char *end;
        errno = 0;
        double v = strtod(value, &end);
        if (*value == '\0' || isspace((unsigned char)*value) || *end != '\0' || errno ||
            !isfinite(v))
            goto bad;
        *(double *)f->ptr = v;
        break;
    }
    case AG_FLAG_BOOL: {
        bool b;
        if (parse_bool(value, &b) < 0)
            goto bad;
        *(bool *)f->ptr = b;
        break;
    }
    case AG_FLAG_DURATION: {
        double s;
        if (ag_duration_parse(value, &s) < 0)
            goto bad;
        *(double *)f->ptr = s;
        break;
    }
    default:
        set_err(err, errlen, "flag '%s' has an unknown type", origin);
        return -EINVAL;
    }
    f->set = true;
    return 0;
bad:
    set_err(err, errlen, "invalid value '%s' for '%s': expected %s", value, origin,
            type_expectation(f->type));
    return -EINVAL;
}

static struct ag_flag *find_flag(struct ag_flag *flags, size_t n, const char *name, size_t len)
{
    for (size_t i = 0; i < n; i++) {
        if (strlen(flags[i].name) == len && strncmp(flags[i].name, name, len) == 0)
            return &flags[i];
    }
    return NULL;
}

static void env_name(const char *flag, char *out, size_t outlen)
{
    size_t n = (size_t)snprintf(out, outlen, "AGORA_");
    for (const char *p = flag; *p && n + 1 < outlen; p++)
        out[n++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
    out[n] = '\0';
}

/* Handles argv[*i]; advances *i past what it consumed. */
static int parse_one(struct ag_flag *flags, size_t n, int argc, char **argv, int *i, char *err,
                     size_t errlen)
{
    const char *arg = argv[*i] + 2;
    const char *eq = strchr(arg, '=');
    size_t name_len = eq ? (size_t)(eq - arg) : strlen(arg);
    char origin[160];

    struct ag_flag *f = find_flag(flags, n, arg, name_len);
    bool negated = false;
    if (!f && name_len > 3 && strncmp(arg, "no-", 3) == 0) {
        f = find_flag(flags, n, arg + 3, name_len - 3);
        if (f && f->type != AG_FLAG_BOOL)
            f = NULL;
        negated = f != NULL;
    }
    if (!f) {
        set_err(err, errlen, "unknown flag '--%.*s'", (int)name_len, arg);
        return -EINVAL;
    }
    snprintf(origin, sizeof(origin), "--%s", f->name);
    (*i)++;

    if (f->type == AG_FLAG_BOOL && (negated || !eq)) {
        if (eq) {
            set_err(err, errlen, "flag '--no-%s' takes no value", f->name);
            return -EINVAL;
        }
        *(bool *)f->ptr = !negated;
        f->set = true;
        return 0;
    }
    const char *value;
    if (eq) {
        value = eq + 1;
    } else {
        if (*i >= argc) {
            set_err(err, errlen, "flag '--%s' needs a value", f->name);
            return -EINVAL;
        }
        value = argv[(*i)++];
    }
    return set_value(f, value, origin, err, errlen);
}

int ag_flags_parse(struct ag_flag *flags, size_t n, int argc, char **argv, const char *usage,
                   int *ret_next, char *err, size_t errlen)
{
    int i = 1;
    if (err && errlen)
        err[0] = '\0';
    while (i < argc) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            ag_flags_print_help(flags, n, usage);
            if (ret_next)
                *ret_next = i + 1;
            return 1;
        }
        if (strncmp(a, "--", 2) != 0) {
            if (a[0] == '-' && a[1] != '\0') {
                set_err(err, errlen, "unknown flag '%s' (flags start with '--')", a);
                return -EINVAL;
            }
            break;
        }
        int r = parse_one(flags, n, argc, argv, &i, err, errlen);
        if (r < 0)
            return r;
    }
    if (ret_next)
        *ret_next = i;

    /* Environment fallbacks for what the command line did not give. */
    for (size_t k = 0; k < n; k++) {
        if (flags[k].set)
            continue;
        char name[128];
        env_name(flags[k].name, name, sizeof(name));
        const char *v = getenv(name);
        if (!v)
            continue;
        int r = set_value(&flags[k], v, name, err, errlen);
        if (r < 0)
            return r;
    }
    return 0;
}

char *ag_flags_value_string(const struct ag_flag *flag)
{
    char buf[64];
    switch (flag->type) {
    case AG_FLAG_STRING: {
        const char *s = *(char *const *)flag->ptr;
        return strdup(s ? s : "");
    }
    case AG_FLAG_INT:
        snprintf(buf, sizeof(buf), "%d", *(const int *)flag->ptr);
        break;
    case AG_FLAG_DOUBLE:
        snprintf(buf, sizeof(buf), "%.15g", *(const double *)flag->ptr);
        break;
    case AG_FLAG_BOOL:
        snprintf(buf, sizeof(buf), "%s", *(const bool *)flag->ptr ? "true" : "false");
        break;
    case AG_FLAG_DURATION:
        ag_duration_format(*(const double *)flag->ptr, buf, sizeof(buf));
        break;
    default:
        buf[0] = '\0';
    }
    return strdup(buf);
}

void ag_flags_print_help(const struct ag_flag *flags, size_t n, const char *usage)
{
    if (usage)
        printf("Usage: %s\n\n", usage);
    printf("Flags (each may also be set as AGORA_<NAME> in the environment):\n");
    for (size_t i = 0; i < n; i++) {
        const struct ag_flag *f = &flags[i];
        char left[160];
        if (f->type == AG_FLAG_BOOL)
            snprintf(left, sizeof(left), "--[no-]%s", f->name);
        else
            snprintf(left, sizeof(left), "--%s=VALUE", f->name);
        char *def = ag_flags_value_string(f);
        printf("  %-32s %s", left, f->help ? f->help : "");
        if (def && def[0])
            printf(" (default: %s)", def);
        printf("\n");
        free(def);
    }
    printf("  %-32s %s\n", "--help", "print this help and exit");
    fflush(stdout);
}

void ag_flags_release(struct ag_flag *flags, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (flags[i].type == AG_FLAG_STRING && flags[i].set) {
            char **slot = flags[i].ptr;
            free(*slot);
            *slot = NULL;
        }
        flags[i].set = false;
    }
}
