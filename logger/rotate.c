/*
 * rotate: the pure parts of agora-logger (see logger.h).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "logger.h"

int ag_logger_parse_size(const char *text, uint64_t *ret_bytes)
{
    static const struct {
        const char *unit;
        uint64_t mult;
    } units[] = {
        {"", 1},
        {"b", 1},
        {"kb", 1024},
        {"mb", 1024 * 1024},
        {"gb", 1024ull * 1024 * 1024},
        {"tb", 1024ull * 1024 * 1024 * 1024},
    };
    char *end;
    unsigned long long n;
    char unit[4];
    size_t ulen = 0;

    if (!text || !isdigit((unsigned char)*text))
        return -EINVAL;
    errno = 0;
    n = strtoull(text, &end, 10);
    if (errno)
        return -EINVAL;
    while (*end == ' ')
        end++;
    while (end[ulen] && ulen < sizeof(unit) - 1) {
        unit[ulen] = (char)tolower((unsigned char)end[ulen]);
        ulen++;
    }
    if (end[ulen])
        return -EINVAL;
    unit[ulen] = '\0';
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(unit, units[i].unit) != 0)
            continue;
        if (units[i].mult > 1 && n > UINT64_MAX / units[i].mult)
            return -EINVAL;
        *ret_bytes = (uint64_t)n * units[i].mult;
        return 0;
    }
    return -EINVAL;
}

int ag_logger_rotated_name(const char *base, unsigned index, char *out, size_t outlen)
{
    int n = index == 0 ? snprintf(out, outlen, "%s", base)
                       : snprintf(out, outlen, "%s.%u", base, index);
    return n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : 0;
}

size_t ag_logger_room(uint64_t current, uint64_t max_size, size_t len)
{
    if (current >= max_size)
        return 0;
    return max_size - current < len ? (size_t)(max_size - current) : len;
}

int ag_logger_rotate(const char *base, unsigned max_files)
{
    char from[4096], to[4096];
    int rc;

    if (max_files <= 1) {
        if (unlink(base) < 0 && errno != ENOENT)
            return -errno;
        return 0;
    }
    rc = ag_logger_rotated_name(base, max_files - 1, to, sizeof(to));
    if (rc < 0)
        return rc;
    if (unlink(to) < 0 && errno != ENOENT)
        return -errno;
    for (unsigned i = max_files - 1; i >= 1; i--) {
        if (ag_logger_rotated_name(base, i - 1, from, sizeof(from)) < 0 ||
            ag_logger_rotated_name(base, i, to, sizeof(to)) < 0)
            return -ENAMETOOLONG;
        if (rename(from, to) < 0 && errno != ENOENT)
            return -errno;
    }
    return 0;
}
