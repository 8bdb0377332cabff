/*
 * flags: command-line flags with AGORA_* environment fallbacks and --help.
 *
 * A program describes its flags in a table; ag_flags_parse() fills the
 * variables they point to. Precedence: command line, then the environment
 * variable AGORA_<NAME> (upper-cased, e.g. AGORA_WORK_DIR for --work_dir),
 * then the default already in the variable. Forms accepted: --name=value,
 * --name value, and for booleans --name, --no-name, --name=true|false.
 */
#ifndef AG_CORE_FLAGS_H
#define AG_CORE_FLAGS_H

#include <stdbool.h>
#include <stddef.h>

enum ag_flag_type {
    AG_FLAG_STRING = 0,   /* char ** (strdup'd; free with ag_flags_release) */
    AG_FLAG_INT = 1,      /* int * */
    AG_FLAG_DOUBLE = 2,   /* double * */
    AG_FLAG_BOOL = 3,     /* bool * */
    AG_FLAG_DURATION = 4, /* double * seconds; "5", "5secs", "1.5mins", "100ms" */
};

struct ag_flag {
    const char *name; /* without dashes, e.g. "work_dir" */
    enum ag_flag_type type;
    void *ptr;
    const char *help;
    /* private: set by ag_flags_parse when the flag was given (on the
     * command line or in the environment) */
    bool set;
};

/* Parses argv[1..]. Stops at the first non-flag argument or after "--";
 * "-h" is taken as --help, any other "-x" is an error. Booleans also take
 * 1/0 and yes/no. On error, flags parsed so far keep their new values
 * (call ag_flags_release to free strings either way).
 * *ret_next is the index of the first argument not consumed. On --help
 * prints usage and the flag table to stdout and returns 1. On a bad flag
 * writes a message naming it into err and returns -EINVAL. 0 on success. */
int ag_flags_parse(struct ag_flag *flags, size_t n, int argc, char **argv, const char *usage,
                   int *ret_next, char *err, size_t errlen);
/* Prints usage and the flags (with current values as defaults). */
void ag_flags_print_help(const struct ag_flag *flags, size_t n, const char *usage);
/* Frees strings set by parsing (not defaults the caller set). */
void ag_flags_release(struct ag_flag *flags, size_t n);
/* Current value of flag i as text (for GET_FLAGS and /flags); malloc'd. */
char *ag_flags_value_string(const struct ag_flag *flag);

/* Parses a stout-style duration ("10", "10secs", "1.5mins", "250ms", "2hrs",
 * "1days", "1weeks", "100us", "5ns") into seconds. 0 or -EINVAL. */
int ag_duration_parse(const char *text, double *ret_seconds);
/* Formats seconds as a stout duration ("5secs", "1.5mins"); out >= 32. */
void ag_duration_format(double seconds, char *out, size_t outlen);

#endif
