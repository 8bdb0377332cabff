/*
 * log: one line per message on stderr, written with a single write(2) so
 * lines from several threads or processes sharing the terminal do not mix.
 */
#include "core/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

enum ag_log_level ag_log_threshold = AG_LOG_INFO;

static char log_tag[32] = "agora";

void ag_log_set_tag(const char *tag)
{
    snprintf(log_tag, sizeof(log_tag), "%s", tag ? tag : "");
}

void ag_log_set_level(enum ag_log_level level)
{
    if (level < AG_LOG_DEBUG)
        level = AG_LOG_DEBUG;
    if (level > AG_LOG_NONE)
        level = AG_LOG_NONE;
    ag_log_threshold = level;
}

int ag_log_level_parse(const char *text, enum ag_log_level *ret)
{
    static const struct {
        const char *name;
        enum ag_log_level level;
    } names[] = {
        {"debug", AG_LOG_DEBUG},  {"info", AG_LOG_INFO},   {"warning", AG_LOG_WARNING},
        {"warn", AG_LOG_WARNING}, {"error", AG_LOG_ERROR}, {"none", AG_LOG_NONE},
    };
    if (!text)
        return -EINVAL;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcasecmp(text, names[i].name) == 0) {
            *ret = names[i].level;
            return 0;
        }
    }
    return -EINVAL;
}

static char level_letter(enum ag_log_level level)
{
    switch (level) {
    case AG_LOG_DEBUG:
        return 'D';
    case AG_LOG_INFO:
        return 'I';
    case AG_LOG_WARNING:
        return 'W';
    case AG_LOG_ERROR:
        return 'E';
    default:
        return '?';
    }
}

void ag_log_write(enum ag_log_level level, const char *fmt, ...)
{
    char line[4096];
    struct timespec ts;
    struct tm tm;
    size_t n;
    int saved_errno = errno; /* so "%m" and callers' errno survive */

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(line + n, sizeof(line) - n, ".%03ldZ %c %s: ", ts.tv_nsec / 1000000L,
                          level_letter(level), log_tag);

    va_list ap;
    va_start(ap, fmt);
    errno = saved_errno;
    int m = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
    va_end(ap);
    if (m > 0)
        n += (size_t)m;
    /* Truncated lines keep their newline. */
    if (n >= sizeof(line) - 1)
        n = sizeof(line) - 2;
    line[n++] = '\n';

    const char *p = line;
    while (n > 0) {
        ssize_t w = write(STDERR_FILENO, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        p += w;
        n -= (size_t)w;
    }
    errno = saved_errno;
}
