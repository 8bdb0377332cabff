/*
 * log: leveled logging to stderr for the daemons. Libraries return errors;
 * the daemon that decides what to do logs once.
 *
 * Lines look like "2026-11-24T14:21:18.123Z I master: agent 'x' registered".
 * The level check happens in the macro, so a skipped log costs a compare.
 */
#ifndef AG_CORE_LOG_H
#define AG_CORE_LOG_H

enum ag_log_level {
    AG_LOG_DEBUG = 0,
    AG_LOG_INFO = 1,
    AG_LOG_WARNING = 2,
    AG_LOG_ERROR = 3,
    AG_LOG_NONE = 4,
};

extern enum ag_log_level ag_log_threshold;

/* Sets the tag printed on every line ("master", "agent", ...). */
void ag_log_set_tag(const char *tag);
void ag_log_set_level(enum ag_log_level level);
/* Parses "debug", "info", "warning", "error", "none"; -EINVAL otherwise. */
int ag_log_level_parse(const char *text, enum ag_log_level *ret);
void ag_log_write(enum ag_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define ag_log(level, ...)                                                                         \
    do {                                                                                           \
        if ((level) >= ag_log_threshold)                                                           \
            ag_log_write((level), __VA_ARGS__);                                                    \
    } while (0)
#define ag_debug(...) ag_log(AG_LOG_DEBUG, __VA_ARGS__)
#define ag_info(...)  ag_log(AG_LOG_INFO, __VA_ARGS__)
#define ag_warn(...)  ag_log(AG_LOG_WARNING, __VA_ARGS__)
#define ag_error(...) ag_log(AG_LOG_ERROR, __VA_ARGS__)

#endif
