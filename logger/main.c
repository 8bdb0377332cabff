/*
 * agora-logger --path=FILE [--err_path=FILE2] [--max_size=BYTES] [--max_files=N]
 *
 * Copies its stdin to FILE (and, with --err_path, its descriptor 3 to
 * FILE2), rotating each by size (see logger.h). Blocking I/O (a poll over
 * the open streams) is fine here: the logger is a process of its own, and
 * it has nothing to do but wait for the container's output.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
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
    fprintf(out, "usage: agora-logger --path=FILE [--err_path=FILE2] [--max_size=BYTES] "
                 "[--max_files=N]\n"
                 "  copies stdin to FILE (and descriptor 3 to FILE2) until end of file; when\n"
                 "  a file reaches max_size (default 10MB) it becomes FILE.1 (FILE.1 becomes\n"
                 "  FILE.2, ...), keeping at most max_files files in all (default 5)\n");
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

/* One stream: its input descriptor and its file. */
struct stream {
    int in;
    struct logger log;
};

static int parse_args(struct stream *out, struct stream *err, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        uint64_t v;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            exit(0);
        } else if (strncmp(a, "--path=", 7) == 0 && a[7]) {
            out->log.path = a + 7;
        } else if (strncmp(a, "--err_path=", 11) == 0 && a[11]) {
            err->log.path = a + 11;
        } else if (strncmp(a, "--max_size=", 11) == 0) {
            if (ag_logger_parse_size(a + 11, &v) < 0 || v == 0) {
                fprintf(stderr, "agora-logger: --max_size: '%s' is not a size above 0\n", a + 11);
                return -1;
            }
            out->log.max_size = err->log.max_size = v;
        } else if (strncmp(a, "--max_files=", 12) == 0) {
            char *end;
            long n = strtol(a + 12, &end, 10);
            if (!a[12] || *end || n < 1 || n > 1000) {
                fprintf(stderr, "agora-logger: --max_files: '%s' is not a number in 1..1000\n",
                        a + 12);
                return -1;
            }
            out->log.max_files = err->log.max_files = (unsigned)n;
        } else {
            fprintf(stderr, "agora-logger: unknown argument '%s'\n", a);
            usage(stderr);
            return -1;
        }
    }
    if (!out->log.path) {
        fprintf(stderr, "agora-logger: --path is required\n");
        return -1;
    }
    return 0;
}

/* Reads what `s` has into its file. false at end of file (or a read
 * error): the stream is done. */
static bool pump(struct stream *s, char *buf, size_t len, int *ret_rc)
{
    ssize_t n = read(s->in, buf, len);
    if (n < 0 && errno == EINTR)
        return true;
    if (n <= 0)
        return false;
    if (put(&s->log, buf, (size_t)n) < 0) {
        *ret_rc = 1;
        return false;
    }
    return true;
}

int main(int argc, char **argv)
{
    struct stream streams[2] = {
        {.in = 0, .log = {.max_size = 10 * 1024 * 1024, .max_files = 5, .fd = -1}},
        {.in = 3, .log = {.max_size = 10 * 1024 * 1024, .max_files = 5, .fd = -1}},
    };
    static char buf[BUF_SIZE];
    int n_open, rc = 0;

    if (parse_args(&streams[0], &streams[1], argc, argv) < 0)
        return 2;
    /* The container going away must not take its logs with it: only the
     * end of the pipes stops us. */
    signal(SIGINT, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    n_open = streams[1].log.path ? 2 : 1;
    for (int i = 0; i < n_open; i++)
        if (open_live(&streams[i].log) < 0)
            return 1;
    while (n_open > 0) {
        struct pollfd p[2];
        int np = 0;
        for (int i = 0; i < 2; i++) {
            if (streams[i].log.fd < 0 || streams[i].in < 0)
                continue;
            p[np].fd = streams[i].in;
            p[np].events = POLLIN;
            p[np].revents = 0;
            np++;
        }
        if (poll(p, (nfds_t)np, -1) < 0) {
            if (errno == EINTR)
                continue;
            return 1;
        }
        for (int j = 0; j < np; j++) {
            struct stream *s = p[j].fd == streams[0].in ? &streams[0] : &streams[1];
            if (!p[j].revents || pump(s, buf, sizeof(buf), &rc))
                continue;
            if (rc)
                return rc;
            close(s->log.fd);
            s->log.fd = -1;
            s->in = -1;
            n_open--;
        }
    }
    return 0;
}
