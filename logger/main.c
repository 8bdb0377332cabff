/*
 * agora-logger --path=FILE [--max_size=BYTES] [--max_files=N]
 *
 * Copies its stdin to FILE, rotating by size (see logger.h). Blocking I/O
 * is fine here: the logger is a process of its own, and it has nothing to
 * do but wait for the container's output.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "logger.h"

#define BUF_SIZE (64 * 1024)

struct logger {
    const char *path;
    uint64_t max_size;
    unsigned max_files;
    int fd;
    uint64_t size; /* bytes in the live file */
};

static void usage(FILE *out)
{
    fprintf(out, "usage: agora-logger --path=FILE [--max_size=BYTES] [--max_files=N]\n"
                 "  copies stdin to FILE until end of file; when FILE reaches max_size\n"
                 "  (default 10MB) it becomes FILE.1 (FILE.1 becomes FILE.2, ...), keeping\n"
                 "  at most max_files files in all (default 5)\n");
}

static int open_live(struct logger *l)
{
    struct stat st;
    l->fd = open(l->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (l->fd < 0) {
        fprintf(stderr, "agora-logger: cannot open '%s': %s\n", l->path, strerror(errno));
        return -1;
    }
    /* Whatever is there already (the fetcher's messages) counts. */
    l->size = fstat(l->fd, &st) == 0 ? (uint64_t)st.st_size : 0;
    return 0;
}

static int rotate(struct logger *l)
{
    int rc;
    close(l->fd);
    l->fd = -1;
    rc = ag_logger_rotate(l->path, l->max_files);
    if (rc < 0)
        fprintf(stderr, "agora-logger: cannot rotate '%s': %s\n", l->path, strerror(-rc));
    return open_live(l);
}

static int write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Writes a chunk, rotating as often as the size limit says. A write error
 * (disk full) drops the chunk but keeps reading, so that the container
 * never blocks on a full pipe. */
static int put(struct logger *l, const char *p, size_t len)
{
    while (len > 0) {
        size_t room = ag_logger_room(l->size, l->max_size, len);
        if (room == 0) {
            if (rotate(l) < 0)
                return -1;
            continue;
        }
        if (write_all(l->fd, p, room) < 0)
            fprintf(stderr, "agora-logger: cannot write '%s': %s\n", l->path, strerror(errno));
        l->size += room;
        p += room;
        len -= room;
    }
    return 0;
}

static int parse_args(struct logger *l, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        uint64_t v;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            exit(0);
        } else if (strncmp(a, "--path=", 7) == 0 && a[7]) {
            l->path = a + 7;
        } else if (strncmp(a, "--max_size=", 11) == 0) {
            if (ag_logger_parse_size(a + 11, &v) < 0 || v == 0) {
                fprintf(stderr, "agora-logger: --max_size: '%s' is not a size above 0\n", a + 11);
                return -1;
            }
            l->max_size = v;
        } else if (strncmp(a, "--max_files=", 12) == 0) {
            char *end;
            long n = strtol(a + 12, &end, 10);
            if (!a[12] || *end || n < 1 || n > 1000) {
                fprintf(stderr, "agora-logger: --max_files: '%s' is not a number in 1..1000\n",
                        a + 12);
                return -1;
            }
            l->max_files = (unsigned)n;
        } else {
            fprintf(stderr, "agora-logger: unknown argument '%s'\n", a);
            usage(stderr);
            return -1;
        }
    }
    if (!l->path) {
        fprintf(stderr, "agora-logger: --path is required\n");
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct logger l = {.max_size = 10 * 1024 * 1024, .max_files = 5, .fd = -1};
    static char buf[BUF_SIZE];

    if (parse_args(&l, argc, argv) < 0)
        return 2;
    /* The container going away must not take its logs with it: only the
     * end of the pipe stops us. */
    signal(SIGINT, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    if (open_live(&l) < 0)
        return 1;
    for (;;) {
        ssize_t n = read(0, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (put(&l, buf, (size_t)n) < 0)
            return 1;
    }
    if (l.fd >= 0)
        close(l.fd);
    return 0;
}
