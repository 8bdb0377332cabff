/*
 * files: /files/browse, /files/read, /files/download and /files/debug
 * (§7.6), the sandbox access UIs and `agora logs` use.
 *
 * Every path is resolved with realpath() and must land inside one of the
 * executor sandboxes the agent knows: "..", parents of sandboxes and
 * symlinks that lead out are refused (403), whatever the spelling. Sandboxes are reachable by their
 * host path (the "directory" of /state) and by the virtual names
 * /frameworks/<fw>/executors/<ex>/runs/latest and
 * slaves/<agent>/frameworks/... .
 *
 * /files/follow streams a file as it grows (what `agora logs -f` reads):
 * a chunked text/plain response with the raw bytes from `offset` on,
 * polled on a timer, following the logger's rotation (the file renamed
 * away is read to its end, then the new one from its start). It ends when
 * the client goes away, or with until_exit=1 once the executor owning the
 * sandbox has terminated and its output has drained.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/internal.h"
#include "core/json.h"
#include "core/loop.h"

#define READ_CAP      (64 * 1024) /* 16 pages of 4 KiB, as Mesos caps a read */
#define DOWNLOAD_PART (64 * 1024)
#define DOWNLOAD_HIGH (1024 * 1024) /* pause while this much is queued */
#define FOLLOW_POLL   0.2           /* seconds between looks at a followed file */
#define FOLLOW_ROUND  (256 * 1024)  /* bytes sent per look at most */
#define FOLLOW_QUIET  3             /* empty looks after the executor ended */

/* --- pure helpers --- */

static bool within(const char *real, const char *dir)
{
    size_t len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/')
        len--;
    return strncmp(real, dir, len) == 0 && (real[len] == '\0' || real[len] == '/');
}

int ag_agent_files_resolve(const char *root, const char *agent_id, const char *path,
                           const char *const *sandboxes, size_t n, char **ret_real)
{
    char candidate[PATH_MAX * 2];
    char *real;

    if (!path || !*path || strlen(path) >= PATH_MAX)
        return -ENOENT;
    if (strncmp(path, "/frameworks/", 12) == 0 || strcmp(path, "/frameworks") == 0) {
        if (!agent_id)
            return -ENOENT;
        snprintf(candidate, sizeof(candidate), "%s/slaves/%s%s", root, agent_id, path);
    } else if (strncmp(path, "/slaves/", 8) == 0 || strncmp(path, "slaves/", 7) == 0) {
        snprintf(candidate, sizeof(candidate), "%s/%s", root, path + (path[0] == '/'));
    } else if (path[0] == '/') {
        snprintf(candidate, sizeof(candidate), "%s", path);
    } else {
        if (!agent_id)
            return -ENOENT;
        snprintf(candidate, sizeof(candidate), "%s/slaves/%s/%s", root, agent_id, path);
    }
    real = realpath(candidate, NULL);
    if (!real)
        return errno == ENOMEM ? -ENOMEM : -ENOENT;
    for (size_t i = 0; i < n; i++) {
        if (sandboxes[i] && within(real, sandboxes[i])) {
            *ret_real = real;
            return 0;
        }
    }
    free(real);
    return -EACCES;
}

/* Length of the UTF-8 sequence starting with byte c, or 0 if c cannot
 * start one. */
static size_t utf8_len(unsigned char c)
{
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        return 2;
    if (c >= 0xe0 && c <= 0xef)
        return 3;
    if (c >= 0xf0 && c <= 0xf4)
        return 4;
    return 0;
}

/* Whether s[0..n) is a valid complete sequence (continuations, no
 * overlongs or surrogates, at most U+10FFFF). */
static bool utf8_valid(const unsigned char *s, size_t n)
{
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return false;
    if (n == 3) {
        if (s[0] == 0xe0 && s[1] < 0xa0)
            return false;
        if (s[0] == 0xed && s[1] >= 0xa0)
            return false;
    }
    if (n == 4) {
        if (s[0] == 0xf0 && s[1] < 0x90)
            return false;
        if (s[0] == 0xf4 && s[1] >= 0x90)
            return false;
    }
    return true;
}

size_t ag_agent_files_sanitize(char *data, size_t len, bool at_eof)
{
    unsigned char *s = (unsigned char *)data;
    size_t i = 0;
    while (i < len) {
        size_t n = utf8_len(s[i]);
        if (n == 0) {
            s[i++] = '?';
            continue;
        }
        if (i + n > len) {
            /* Cut at the end of the read: keep it for the next read if what
             * we have is a valid start. */
            bool prefix_ok = true;
            for (size_t k = i + 1; k < len; k++)
                if ((s[k] & 0xc0) != 0x80)
                    prefix_ok = false;
            if (!at_eof && prefix_ok)
                return i;
            s[i++] = '?';
            continue;
        }
        if (!utf8_valid(s + i, n)) {
            s[i++] = '?';
            continue;
        }
        i += n;
    }
    return len;
}

void ag_agent_files_mode_string(unsigned mode, char out[11])
{
    static const char rwx[] = "rwxrwxrwx";
    char type = '-';
    if (S_ISDIR(mode))
        type = 'd';
    else if (S_ISLNK(mode))
        type = 'l';
    else if (S_ISCHR(mode))
        type = 'c';
    else if (S_ISBLK(mode))
        type = 'b';
    else if (S_ISFIFO(mode))
        type = 'p';
    else if (S_ISSOCK(mode))
        type = 's';
    out[0] = type;
    for (int i = 0; i < 9; i++)
        out[1 + i] = (mode & (1u << (8 - i))) ? rwx[i] : '-';
    out[10] = '\0';
}

/* --- handlers --- */

static bool reject_method(struct ag_http_req *req)
{
    enum ag_http_method m = ag_http_req_method(req);
    if (m == AG_HTTP_GET || m == AG_HTTP_HEAD)
        return false;
    ag_http_req_add_header(req, "Allow", "GET");
    ag_http_reply_error(req, 405, "Expecting 'GET', received a different method");
    return true;
}

static void collect(const struct ag_agent_list *frameworks, const char ***dirs, size_t *n,
                    size_t *cap)
{
    const struct ag_agent_list *fpos, *epos;
    for (fpos = frameworks->next; fpos != frameworks; fpos = fpos->next) {
        const struct ag_agent_framework *fw =
            ag_agent_list_entry(fpos, struct ag_agent_framework, node);
        const struct ag_agent_list *heads[] = {&fw->executors, &fw->completed_executors};
        for (size_t h = 0; h < 2; h++) {
            for (epos = heads[h]->next; epos != heads[h]; epos = epos->next) {
                const struct ag_agent_executor *ex =
                    ag_agent_list_entry(epos, struct ag_agent_executor, node);
                if (!ex->directory)
                    continue;
                if (*n == *cap) {
                    size_t ncap = *cap ? *cap * 2 : 16;
                    const char **d = realloc(*dirs, ncap * sizeof(*d));
                    if (!d)
                        return;
                    *dirs = d;
                    *cap = ncap;
                }
                (*dirs)[(*n)++] = ex->directory;
            }
        }
    }
}

/* Resolves a /files path against every sandbox the agent knows. */
static int resolve(struct ag_agent *agent, const char *path, char **ret_real)
{
    const char **dirs = NULL;
    size_t n = 0, cap = 0;
    int rc;
    collect(&agent->frameworks, &dirs, &n, &cap);
    collect(&agent->completed_frameworks, &dirs, &n, &cap);
    rc = ag_agent_files_resolve(agent->work_dir, agent->id, path, dirs, n, ret_real);
    free(dirs);
    return rc;
}

/* Resolves the "path" parameter, answering the request on failure. */
static char *resolve_or_reply(struct ag_agent *agent, struct ag_http_req *req,
                              const char **ret_path)
{
    const char *path = ag_http_req_query(req, "path");
    char *real = NULL;
    int rc;

    if (!path || !*path) {
        ag_http_reply_error(req, 400, "Expecting 'path' query parameter");
        return NULL;
    }
    rc = resolve(agent, path, &real);
    if (rc == -EACCES) {
        ag_http_reply_error(req, 403, "Access to '%s' is not allowed: it is outside the sandboxes",
                            path);
        return NULL;
    }
    if (rc < 0) {
        ag_http_reply_error(req, 404, "No such file or directory: '%s'", path);
        return NULL;
    }
    *ret_path = path;
    return real;
}

static json_t *user_name(uid_t uid)
{
    struct passwd pw, *res = NULL;
    char buf[1024];
    if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) == 0 && res)
        return json_string(res->pw_name);
    snprintf(buf, sizeof(buf), "%u", (unsigned)uid);
    return json_string(buf);
}

static json_t *group_name(gid_t gid)
{
    struct group gr, *res = NULL;
    char buf[4096];
    if (getgrgid_r(gid, &gr, buf, sizeof(buf), &res) == 0 && res)
        return json_string(res->gr_name);
    snprintf(buf, sizeof(buf), "%u", (unsigned)gid);
    return json_string(buf);
}

static json_t *file_entry(const char *vpath, const struct stat *st)
{
    char mode[11];
    json_t *e;
    ag_agent_files_mode_string(st->st_mode, mode);
    e = json_pack("{s:s,s:I,s:I,s:f,s:s}", "path", vpath, "nlink", (json_int_t)st->st_nlink, "size",
                  (json_int_t)st->st_size, "mtime", (double)st->st_mtime, "mode", mode);
    if (e) {
        json_object_set_new(e, "uid", user_name(st->st_uid));
        json_object_set_new(e, "gid", group_name(st->st_gid));
    }
    return e;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void serve_browse(struct ag_http_req *req, void *arg)
{
    struct ag_agent *agent = arg;
    const char *vpath;
    char *real;
    struct stat st;
    json_t *out;
    DIR *d;
    struct dirent *e;
    char **names = NULL;
    size_t n = 0, cap = 0, vlen;

    if (reject_method(req))
        return;
    real = resolve_or_reply(agent, req, &vpath);
    if (!real)
        return;
    if (stat(real, &st) < 0) {
        ag_http_reply_error(req, 404, "No such file or directory: '%s'", vpath);
        free(real);
        return;
    }
    out = json_array();
    if (!S_ISDIR(st.st_mode)) {
        json_array_append_new(out, file_entry(vpath, &st));
        free(real);
        ag_http_reply_json(req, 200, out);
        return;
    }
    d = opendir(real);
    if (!d) {
        ag_http_reply_error(req, 403, "Cannot list '%s': %s", vpath, strerror(errno));
        free(real);
        json_decref(out);
        return;
    }
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 32;
            char **nn = realloc(names, ncap * sizeof(*nn));
            if (!nn)
                break;
            names = nn;
            cap = ncap;
        }
        names[n] = strdup(e->d_name);
        if (names[n])
            n++;
    }
    closedir(d);
    qsort(names, n, sizeof(*names), cmp_names);
    vlen = strlen(vpath);
    while (vlen > 1 && vpath[vlen - 1] == '/')
        vlen--;
    for (size_t i = 0; i < n; i++) {
        char full[PATH_MAX * 2], vfull[PATH_MAX * 2];
        struct stat est;
        snprintf(full, sizeof(full), "%s/%s", real, names[i]);
        snprintf(vfull, sizeof(vfull), "%.*s/%s", (int)vlen, vpath, names[i]);
        if (stat(full, &est) == 0 || lstat(full, &est) == 0)
            json_array_append_new(out, file_entry(vfull, &est));
        free(names[i]);
    }
    free(names);
    free(real);
    ag_http_reply_json(req, 200, out);
}

/* Parses an integer query parameter; absent → dflt. -1 on a bad value
 * (the request is then answered). */
static int query_int(struct ag_http_req *req, const char *key, long long dflt, long long *ret)
{
    const char *v = ag_http_req_query(req, key);
    char *end;
    long long x;
    if (!v || !*v) {
        *ret = dflt;
        return 0;
    }
    errno = 0;
    x = strtoll(v, &end, 10);
    if (errno || *end) {
        ag_http_reply_error(req, 400, "Failed to parse %s: '%s' is not an integer", key, v);
        return -1;
    }
    if (x < -1) {
        ag_http_reply_error(req, 400, "Negative %s provided: %lld", key, x);
        return -1;
    }
    *ret = x;
    return 0;
}

static void serve_read(struct ag_http_req *req, void *arg)
{
    struct ag_agent *agent = arg;
    const char *vpath;
    long long offset, length;
    char *real, *buf;
    struct stat st;
    ssize_t got;
    size_t keep;
    int fd;
    json_t *data;

    if (reject_method(req))
        return;
    if (query_int(req, "offset", -1, &offset) < 0 || query_int(req, "length", -1, &length) < 0)
        return;
    real = resolve_or_reply(agent, req, &vpath);
    if (!real)
        return;
    fd = open(real, O_RDONLY | O_CLOEXEC);
    free(real);
    if (fd < 0 || fstat(fd, &st) < 0) {
        ag_http_reply_error(req, 404, "Cannot open '%s': %s", vpath, strerror(errno));
        if (fd >= 0)
            close(fd);
        return;
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        ag_http_reply_error(req, 400, "Cannot read a directory: '%s'", vpath);
        return;
    }
    if (offset == -1) {
        close(fd);
        ag_http_reply_json(req, 200,
                           json_pack("{s:s,s:I}", "data", "", "offset", (json_int_t)st.st_size));
        return;
    }
    if (length == -1 || length > READ_CAP)
        length = READ_CAP;
    buf = malloc((size_t)length + 1);
    if (!buf) {
        close(fd);
        ag_http_reply_error(req, 500, "out of memory");
        return;
    }
    got = length > 0 ? pread(fd, buf, (size_t)length, (off_t)offset) : 0;
    close(fd);
    if (got < 0) {
        free(buf);
        ag_http_reply_error(req, 500, "Cannot read '%s': %s", vpath, strerror(errno));
        return;
    }
    keep = ag_agent_files_sanitize(buf, (size_t)got, offset + got >= (long long)st.st_size);
    data = json_stringn(buf, keep);
    free(buf);
    ag_http_reply_json(req, 200,
                       json_pack("{s:o,s:I}", "data", data ? data : json_string(""), "offset",
                                 (json_int_t)offset));
}

/* --- download: streamed in parts so a large file is never held whole --- */

struct download {
    struct ag_http_stream *stream;
    struct ag_timer *timer;
    int fd;
};

static void download_free(struct download *dl)
{
    ag_timer_free(dl->timer);
    if (dl->fd >= 0)
        close(dl->fd);
    free(dl);
}

static void download_closed(struct ag_http_stream *stream, void *arg)
{
    (void)stream;
    download_free(arg);
}

static void download_pump(void *arg)
{
    struct download *dl = arg;
    char buf[DOWNLOAD_PART];
    while (ag_http_stream_pending(dl->stream) < DOWNLOAD_HIGH) {
        ssize_t n = read(dl->fd, buf, sizeof(buf));
        if (n <= 0 || ag_http_stream_send(dl->stream, buf, (size_t)n) < 0) {
            struct ag_http_stream *s = dl->stream;
            download_free(dl);
            ag_http_stream_end(s);
            return;
        }
    }
    ag_timer_start(dl->timer, 0.01);
}

static const char *content_type(const char *path)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".txt", "text/plain"},       {".log", "text/plain"},        {".json", "application/json"},
        {".html", "text/html"},       {".htm", "text/html"},         {".css", "text/css"},
        {".js", "text/javascript"},   {".xml", "application/xml"},   {".gz", "application/gzip"},
        {".tgz", "application/gzip"}, {".tar", "application/x-tar"}, {".zip", "application/zip"},
        {".png", "image/png"},        {".jpg", "image/jpeg"},
    };
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    if (!dot || (slash && dot < slash))
        return "application/octet-stream";
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].type;
    return "application/octet-stream";
}

static void serve_download(struct ag_http_req *req, void *arg)
{
    struct ag_agent *agent = arg;
    const char *vpath, *base;
    char *real, disp[PATH_MAX + 64];
    struct stat st;
    struct download *dl;
    int fd;

    if (reject_method(req))
        return;
    real = resolve_or_reply(agent, req, &vpath);
    if (!real)
        return;
    fd = open(real, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) < 0) {
        ag_http_reply_error(req, 404, "Cannot open '%s': %s", vpath, strerror(errno));
        if (fd >= 0)
            close(fd);
        free(real);
        return;
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        free(real);
        ag_http_reply_error(req, 400, "Cannot download a directory: '%s'", vpath);
        return;
    }
    base = strrchr(real, '/');
    base = base ? base + 1 : real;
    snprintf(disp, sizeof(disp), "attachment; filename=%s", base);
    ag_http_req_add_header(req, "Content-Disposition", disp);
    dl = calloc(1, sizeof(*dl));
    if (!dl) {
        close(fd);
        free(real);
        ag_http_reply_error(req, 500, "out of memory");
        return;
    }
    dl->fd = fd;
    dl->timer = ag_timer_new(agent->loop, download_pump, dl);
    dl->stream = ag_http_stream_start(req, 200, content_type(real), download_closed, dl);
    free(real);
    if (!dl->stream || !dl->timer) {
        if (dl->stream) {
            struct ag_http_stream *s = dl->stream;
            download_free(dl);
            ag_http_stream_end(s);
        } else {
            download_free(dl);
        }
        return;
    }
    ag_timer_start(dl->timer, 0);
}

/* --- follow: a file streamed as it grows --- */

struct follow {
    struct ag_agent *agent;
    struct ag_http_stream *stream;
    struct ag_timer *timer;
    int fd;
    char *real;    /* the followed path, looked at again for rotation */
    char *sandbox; /* the sandbox it lies in */
    bool until_exit;
    int quiet;
};

static void follow_free(struct follow *f)
{
    ag_timer_free(f->timer);
    if (f->fd >= 0)
        close(f->fd);
    free(f->real);
    free(f->sandbox);
    free(f);
}

static void follow_closed(struct ag_http_stream *stream, void *arg)
{
    (void)stream;
    follow_free(arg);
}

static void follow_end(struct follow *f)
{
    struct ag_http_stream *s = f->stream;
    follow_free(f);
    ag_http_stream_end(s);
}

/* Whether the executor owning the sandbox has terminated (or is gone). */
static bool sandbox_ended(struct ag_agent *agent, const char *sandbox)
{
    const struct ag_agent_list *heads[] = {&agent->frameworks, &agent->completed_frameworks};
    for (size_t h = 0; h < 2; h++) {
        const struct ag_agent_list *fpos, *epos;
        for (fpos = heads[h]->next; fpos != heads[h]; fpos = fpos->next) {
            const struct ag_agent_framework *fw =
                ag_agent_list_entry(fpos, struct ag_agent_framework, node);
            for (epos = fw->executors.next; epos != &fw->executors; epos = epos->next) {
                const struct ag_agent_executor *ex =
                    ag_agent_list_entry(epos, struct ag_agent_executor, node);
                if (ex->directory && strcmp(ex->directory, sandbox) == 0)
                    return ex->state == AG_AGENT_EXECUTOR_TERMINATED;
            }
        }
    }
    return true;
}

/* The file that came after `done` (which was `path` before the logger
 * rotated it): if it is now path.K, the next is path.(K-1), or path itself
 * for K = 1, so that nothing is skipped when the logger rotated twice
 * between two looks. If it is gone (rotated off the end), the oldest file
 * left. An open descriptor, or -1. */
static int open_successor(const char *path, const struct stat *done)
{
    char name[PATH_MAX + 16];
    long found = -1, last = 0;
    for (long k = 1; k <= 1000; k++) {
        struct stat sb;
        snprintf(name, sizeof(name), "%s.%ld", path, k);
        if (stat(name, &sb) < 0)
            break;
        last = k;
        if (sb.st_ino == done->st_ino && sb.st_dev == done->st_dev) {
            found = k;
            break;
        }
    }
    if (found > 1)
        snprintf(name, sizeof(name), "%s.%ld", path, found - 1);
    else if (found < 0 && last > 0)
        snprintf(name, sizeof(name), "%s.%ld", path, last);
    else
        snprintf(name, sizeof(name), "%s", path);
    return open(name, O_RDONLY | O_CLOEXEC);
}

/* Sends what is new; true if anything was. -1 when the peer is gone. */
static int follow_read(struct follow *f)
{
    char buf[64 * 1024];
    size_t sent = 0;
    struct stat now, cur;

    while (sent < FOLLOW_ROUND && ag_http_stream_pending(f->stream) < DOWNLOAD_HIGH) {
        ssize_t n = read(f->fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n > 0) {
            if (ag_http_stream_send(f->stream, buf, (size_t)n) < 0)
                return -1;
            sent += (size_t)n;
            continue;
        }
        /* At the end: the logger may have rotated the file away (read
         * the new one from its start) or it may have been truncated. */
        if (fstat(f->fd, &cur) == 0 && stat(f->real, &now) == 0) {
            if (now.st_ino != cur.st_ino || now.st_dev != cur.st_dev) {
                int fd = open_successor(f->real, &cur);
                if (fd >= 0) {
                    close(f->fd);
                    f->fd = fd;
                    continue;
                }
            } else if (lseek(f->fd, 0, SEEK_CUR) > now.st_size) {
                lseek(f->fd, 0, SEEK_SET);
                continue;
            }
        }
        break;
    }
    return sent > 0;
}

static void follow_poll(void *arg)
{
    struct follow *f = arg;
    int got = follow_read(f);

    if (got < 0) {
        follow_end(f);
        return;
    }
    if (f->until_exit && sandbox_ended(f->agent, f->sandbox)) {
        /* The loggers write the last output after the executor is reaped:
         * a few quiet looks before the end. */
        f->quiet = got ? 0 : f->quiet + 1;
        if (f->quiet >= FOLLOW_QUIET) {
            follow_end(f);
            return;
        }
    }
    ag_timer_start(f->timer, got ? 0.0 : FOLLOW_POLL);
}

/* The known sandbox that holds `real` (malloc'd), or NULL. */
static char *owning_sandbox(struct ag_agent *agent, const char *real)
{
    const char **dirs = NULL;
    size_t n = 0, cap = 0;
    char *out = NULL;
    collect(&agent->frameworks, &dirs, &n, &cap);
    collect(&agent->completed_frameworks, &dirs, &n, &cap);
    for (size_t i = 0; i < n && !out; i++) {
        char *rd = realpath(dirs[i], NULL);
        if (rd && within(real, rd))
            out = strdup(dirs[i]);
        free(rd);
    }
    free(dirs);
    return out;
}

static void serve_follow(struct ag_http_req *req, void *arg)
{
    struct ag_agent *agent = arg;
    const char *vpath, *until = ag_http_req_query(req, "until_exit");
    long long offset;
    struct stat st;
    struct follow *f;
    char *real;

    if (reject_method(req))
        return;
    if (query_int(req, "offset", 0, &offset) < 0)
        return;
    if (until && strcmp(until, "1") != 0 && strcmp(until, "true") != 0 && strcmp(until, "0") != 0 &&
        strcmp(until, "false") != 0) {
        ag_http_reply_error(req, 400, "Failed to parse until_exit: '%s' is not 1/0/true/false",
                            until);
        return;
    }
    real = resolve_or_reply(agent, req, &vpath);
    if (!real)
        return;
    f = calloc(1, sizeof(*f));
    if (!f) {
        free(real);
        ag_http_reply_error(req, 500, "out of memory");
        return;
    }
    f->agent = agent;
    f->real = real;
    f->until_exit = until && (strcmp(until, "1") == 0 || strcmp(until, "true") == 0);
    f->fd = open(real, O_RDONLY | O_CLOEXEC);
    if (f->fd < 0 || fstat(f->fd, &st) < 0) {
        ag_http_reply_error(req, 404, "Cannot open '%s': %s", vpath, strerror(errno));
        follow_free(f);
        return;
    }
    if (S_ISDIR(st.st_mode)) {
        ag_http_reply_error(req, 400, "Cannot follow a directory: '%s'", vpath);
        follow_free(f);
        return;
    }
    if (lseek(f->fd, offset == -1 ? 0 : (off_t)offset, offset == -1 ? SEEK_END : SEEK_SET) < 0) {
        ag_http_reply_error(req, 400, "Cannot seek '%s' to %lld: %s", vpath, offset,
                            strerror(errno));
        follow_free(f);
        return;
    }
    f->sandbox = owning_sandbox(agent, real);
    f->timer = ag_timer_new(agent->loop, follow_poll, f);
    if (!f->sandbox || !f->timer) {
        ag_http_reply_error(req, 500, "out of memory");
        follow_free(f);
        return;
    }
    ag_http_req_add_header(req, "X-Content-Type-Options", "nosniff");
    f->stream = ag_http_stream_start(req, 200, "text/plain; charset=utf-8", follow_closed, f);
    if (!f->stream) {
        follow_free(f);
        return;
    }
    ag_timer_start(f->timer, 0);
}

static void serve_debug(struct ag_http_req *req, void *arg)
{
    struct ag_agent *agent = arg;
    json_t *out = json_object();
    const struct ag_agent_list *fpos, *epos;

    if (reject_method(req)) {
        json_decref(out);
        return;
    }
    for (fpos = agent->frameworks.next; fpos != &agent->frameworks; fpos = fpos->next) {
        const struct ag_agent_framework *fw =
            ag_agent_list_entry(fpos, struct ag_agent_framework, node);
        for (epos = fw->executors.next; epos != &fw->executors; epos = epos->next) {
            const struct ag_agent_executor *ex =
                ag_agent_list_entry(epos, struct ag_agent_executor, node);
            char vpath[PATH_MAX];
            if (!ex->directory)
                continue;
            snprintf(vpath, sizeof(vpath), "/frameworks/%s/executors/%s/runs/latest", fw->id,
                     ex->id);
            json_object_set_new(out, vpath, json_string(ex->directory));
            json_object_set_new(out, ex->directory, json_string(ex->directory));
        }
    }
    ag_http_reply_json(req, 200, out);
}

void ag_agent_routes_files(struct ag_agent *agent)
{
    static const char *const prefixes[] = {"", "/slave(1)"};
    for (size_t i = 0; i < 2; i++) {
        char path[64];
        snprintf(path, sizeof(path), "%s/files/browse", prefixes[i]);
        ag_http_server_route(agent->http, path, serve_browse, agent);
        snprintf(path, sizeof(path), "%s/files/browse.json", prefixes[i]);
        ag_http_server_route(agent->http, path, serve_browse, agent);
        snprintf(path, sizeof(path), "%s/files/read", prefixes[i]);
        ag_http_server_route(agent->http, path, serve_read, agent);
        snprintf(path, sizeof(path), "%s/files/read.json", prefixes[i]);
        ag_http_server_route(agent->http, path, serve_read, agent);
        snprintf(path, sizeof(path), "%s/files/download", prefixes[i]);
        ag_http_server_route(agent->http, path, serve_download, agent);
        snprintf(path, sizeof(path), "%s/files/download.json", prefixes[i]);
        ag_http_server_route(agent->http, path, serve_download, agent);
        snprintf(path, sizeof(path), "%s/files/follow", prefixes[i]);
        ag_http_server_route(agent->http, path, serve_follow, agent);
        snprintf(path, sizeof(path), "%s/files/debug", prefixes[i]);
        ag_http_server_route(agent->http, path, serve_debug, agent);
    }
}
