/*
 * agora-fetcher: the program (see fetcher.h for its input and output).
 *
 * It runs as a child of the agent, so it may block: every wait is bounded
 * (libcurl's connect, stall and total timeouts; a deadline on the archive
 * tools), and the agent kills it if it outlives its own deadline anyway.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#include <curl/curl.h>
#include <jansson.h>

#include "fetcher.h"

extern char **environ;

#define DEFAULT_CACHE_SIZE    (2ull * 1024 * 1024 * 1024)
#define DEFAULT_TIMEOUT       600.0
#define DEFAULT_STALL_TIMEOUT 60.0
#define CONNECT_TIMEOUT       30L
#define TOOL_TIMEOUT          600.0
#define MAX_CACHE_ENTRIES     4096

struct fetch_cfg {
    const char *sandbox;
    const char *cache_dir; /* NULL: no cache */
    uint64_t cache_size;
    const char *user;
    double timeout, stall_timeout;
    const char *result_file;
};

static struct fetch_cfg cfg;
static char errbuf[1024];

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Records the cause of the current failure (the last one wins). */
static void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errbuf, sizeof(errbuf), fmt, ap);
    va_end(ap);
}

static double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* --- files --- */

static int mkdirs(const char *path)
{
    char buf[4096];
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof(buf))
        return -ENAMETOOLONG;
    memcpy(buf, path, len + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) < 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(buf, 0755) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

/* Copies a regular file; dst is replaced. 0 or -1 with the cause recorded. */
static int copy_file(const char *src, const char *dst)
{
    char buf[64 * 1024], tmp[4200];
    struct stat st;
    int in, out, rc = -1;

    in = open(src, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (in < 0) {
        fail("cannot open '%s': %s", src, strerror(errno));
        return -1;
    }
    if (fstat(in, &st) < 0 || !S_ISREG(st.st_mode)) {
        fail("'%s' is not a regular file", src);
        close(in);
        return -1;
    }
    snprintf(tmp, sizeof(tmp), "%s.fetching", dst);
    out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0) {
        fail("cannot create '%s': %s", tmp, strerror(errno));
        close(in);
        return -1;
    }
    for (;;) {
        ssize_t n = read(in, buf, sizeof(buf)), w = 0;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            fail("cannot read '%s': %s", src, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        while (w < n) {
            ssize_t k = write(out, buf + w, (size_t)(n - w));
            if (k < 0 && errno == EINTR)
                continue;
            if (k <= 0) {
                fail("cannot write '%s': %s", dst, strerror(errno));
                goto out;
            }
            w += k;
        }
    }
    if (rename(tmp, dst) < 0) {
        fail("cannot rename '%s': %s", tmp, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    close(in);
    if (close(out) < 0 && rc == 0) {
        fail("cannot write '%s': %s", dst, strerror(errno));
        rc = -1;
    }
    if (rc < 0)
        unlink(tmp);
    return rc;
}

/* --- http --- */

struct dl {
    int fd;
    bool write_error;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct dl *d = arg;
    size_t len = size * nmemb, done = 0;
    while (done < len) {
        ssize_t n = write(d->fd, ptr + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            d->write_error = true;
            return 0;
        }
        done += (size_t)n;
    }
    return len;
}

static int download(const char *uri, const char *dst)
{
    char tmp[4200], cerr[CURL_ERROR_SIZE] = "";
    struct dl d = {.fd = -1};
    CURL *c;
    CURLcode res;
    long code = 0;
    int rc = -1;

    snprintf(tmp, sizeof(tmp), "%s.fetching", dst);
    d.fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (d.fd < 0) {
        fail("cannot create '%s': %s", tmp, strerror(errno));
        return -1;
    }
    c = curl_easy_init();
    if (!c) {
        fail("cannot initialise libcurl");
        close(d.fd);
        unlink(tmp);
        return -1;
    }
    curl_easy_setopt(c, CURLOPT_URL, uri);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(cfg.timeout * 1000));
    /* Less than a byte a second for stall_timeout seconds is a stall. */
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long)(cfg.stall_timeout + 0.5));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &d);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "agora-fetcher/" AGORA_VERSION);
    res = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    if (d.write_error)
        fail("cannot write '%s': %s", tmp, strerror(errno));
    else if (res != CURLE_OK)
        fail("%s", cerr[0] ? cerr : curl_easy_strerror(res));
    /* libcurl calls any complete response a success: a 404 included. */
    else if (code < 200 || code > 299)
        fail("the server answered HTTP %ld", code);
    else
        rc = 0;
    if (close(d.fd) < 0 && rc == 0) {
        fail("cannot write '%s': %s", tmp, strerror(errno));
        rc = -1;
    }
    if (rc == 0 && rename(tmp, dst) < 0) {
        fail("cannot rename '%s': %s", tmp, strerror(errno));
        rc = -1;
    }
    if (rc < 0)
        unlink(tmp);
    return rc;
}

/* Gets a URI (any scheme) into dst. */
static int retrieve(const char *uri, const char *dst)
{
    const char *path = NULL;
    char err[256];
    switch (ag_fetcher_scheme(uri, &path, err, sizeof(err))) {
    case AG_FETCHER_SCHEME_HTTP:
        return download(uri, dst);
    case AG_FETCHER_SCHEME_FILE:
        return copy_file(path, dst);
    case AG_FETCHER_SCHEME_BAD:
        break;
    }
    fail("%s", err);
    return -1;
}

/* --- the cache --- */

/* An exclusive lock on the cache directory, for lookups and eviction
 * (agents fetch for several containers at once). -1 if it cannot be had:
 * the caller then bypasses the cache. */
static int cache_lock(void)
{
    char path[4200];
    int fd;
    snprintf(path, sizeof(path), "%s/.lock", cfg.cache_dir);
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    if (flock(fd, LOCK_EX) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void cache_unlock(int fd)
{
    if (fd >= 0)
        close(fd); /* releases the lock */
}

static bool is_key(const char *name)
{
    if (strlen(name) != 64)
        return false;
    for (const char *p = name; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

/* A download ("<key>.<pid>") that a fetcher killed midway left behind,
 * an hour old: removed. */
static bool is_stale_download(const char *dir, const char *name)
{
    const char *dot = strchr(name, '.');
    char path[4200];
    struct stat st;
    if (!dot || dot - name != 64 || !dot[1] || strspn(dot + 1, "0123456789") != strlen(dot + 1))
        return false;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (stat(path, &st) < 0 || time(NULL) - st.st_mtime < 3600)
        return false;
    unlink(path);
    return true;
}

/* Removes least recently used entries until the cache fits (lock held). */
static void cache_evict(const char *keep)
{
    static struct ag_fetcher_cache_entry entries[MAX_CACHE_ENTRIES];
    size_t n = 0, k;
    DIR *d = opendir(cfg.cache_dir);
    struct dirent *e;

    if (!d)
        return;
    while ((e = readdir(d)) != NULL && n < MAX_CACHE_ENTRIES) {
        char path[4200];
        struct stat st;
        if (is_stale_download(cfg.cache_dir, e->d_name))
            continue;
        if (!is_key(e->d_name))
            continue;
        snprintf(path, sizeof(path), "%s/%s", cfg.cache_dir, e->d_name);
        if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
            continue;
        size_t klen = strlen(e->d_name);
        if (klen >= sizeof(entries[n].key))
            continue; /* is_key() admits only 64 characters; never here */
        memcpy(entries[n].key, e->d_name, klen + 1);
        entries[n].size = (uint64_t)st.st_size;
        entries[n].last_used = (double)st.st_mtim.tv_sec + st.st_mtim.tv_nsec / 1e9;
        n++;
    }
    closedir(d);
    k = ag_fetcher_cache_plan(entries, n, cfg.cache_size, keep);
    for (size_t i = 0; i < k; i++) {
        char path[4200];
        /* Paths that do not fit were never written: skip them. */
        if (snprintf(path, sizeof(path), "%s/%s", cfg.cache_dir, entries[i].key) >=
            (int)sizeof(path))
            continue;
        fprintf(stderr, "agora-fetcher: evicting cache entry %s (%llu bytes)\n", entries[i].key,
                (unsigned long long)entries[i].size);
        unlink(path);
        if (snprintf(path, sizeof(path), "%s/%s.uri", cfg.cache_dir, entries[i].key) <
            (int)sizeof(path))
            unlink(path);
    }
}

/* Whether the cache holds `uri` (its key file and the same URI text). */
static bool cache_has(const char *key, const char *uri)
{
    char path[4200], text[8192];
    FILE *f;
    size_t n;
    snprintf(path, sizeof(path), "%s/%s.uri", cfg.cache_dir, key);
    f = fopen(path, "re");
    if (!f)
        return false;
    n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    if (strcmp(text, uri) != 0)
        return false;
    snprintf(path, sizeof(path), "%s/%s", cfg.cache_dir, key);
    return access(path, R_OK) == 0;
}

/* Fetches through the cache. 0, or -1 with the cause recorded. */
static int fetch_cached(const char *uri, const char *dst)
{
    char key[65], entry[4200], meta[4200], tmp[4300];
    struct stat st;
    int lock, rc;
    FILE *f;

    ag_fetcher_cache_key(uri, key);
    snprintf(entry, sizeof(entry), "%s/%s", cfg.cache_dir, key);
    snprintf(meta, sizeof(meta), "%s/%s.uri", cfg.cache_dir, key);
    lock = cache_lock();
    if (lock < 0) {
        fprintf(stderr, "agora-fetcher: cannot lock the cache '%s'; fetching '%s' directly\n",
                cfg.cache_dir, uri);
        return retrieve(uri, dst);
    }
    if (cache_has(key, uri)) {
        /* A copy, not a link: the task may change its file, and chmod must
         * not reach the cache. */
        utimensat(AT_FDCWD, entry, NULL, 0); /* most recently used now */
        rc = copy_file(entry, dst);
        cache_unlock(lock);
        if (rc == 0)
            fprintf(stderr, "agora-fetcher: '%s' served from the cache\n", uri);
        return rc;
    }
    cache_unlock(lock);

    snprintf(tmp, sizeof(tmp), "%s/%s.%d", cfg.cache_dir, key, (int)getpid());
    if (retrieve(uri, tmp) < 0)
        return -1;
    if (stat(tmp, &st) == 0 && (uint64_t)st.st_size > cfg.cache_size) {
        fprintf(stderr,
                "agora-fetcher: '%s' (%lld bytes) is larger than the cache (%llu bytes); "
                "not caching it\n",
                uri, (long long)st.st_size, (unsigned long long)cfg.cache_size);
        if (rename(tmp, dst) == 0)
            return 0;
        rc = copy_file(tmp, dst);
        unlink(tmp);
        return rc;
    }
    lock = cache_lock();
    if (rename(tmp, entry) < 0) {
        fail("cannot add '%s' to the cache: %s", entry, strerror(errno));
        unlink(tmp);
        cache_unlock(lock);
        return -1;
    }
    f = fopen(meta, "we");
    if (f) {
        fputs(uri, f);
        fclose(f);
    }
    cache_evict(key);
    rc = copy_file(entry, dst);
    cache_unlock(lock);
    return rc;
}

/* --- archives --- */

/* Runs a tool with stdout to out_path (or ours), bounded in time. */
static int run_tool(char *const argv[], const char *out_path)
{
    posix_spawn_file_actions_t fa;
    pid_t pid;
    int rc, status;
    double deadline = now_mono() + TOOL_TIMEOUT;

    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    if (out_path)
        posix_spawn_file_actions_addopen(&fa, 1, out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    else
        posix_spawn_file_actions_adddup2(&fa, 2, 1);
    rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        fail("cannot run '%s': %s", argv[0], strerror(rc));
        return -1;
    }
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            break;
        if (r < 0 && errno != EINTR) {
            fail("cannot wait for '%s': %s", argv[0], strerror(errno));
            return -1;
        }
        if (now_mono() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            fail("'%s' did not finish within %.0fs", argv[0], TOOL_TIMEOUT);
            return -1;
        }
        usleep(10000);
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (WIFEXITED(status))
        fail("'%s' exited with status %d (see the sandbox's stderr)", argv[0], WEXITSTATUS(status));
    else
        fail("'%s' was killed by signal %d", argv[0], WTERMSIG(status));
    return -1;
}

static int extract(const char *file, const char *name, enum ag_fetcher_archive type)
{
    char out[4200];
    size_t len;

    fprintf(stderr, "agora-fetcher: extracting '%s' (%s) into '%s'\n", file,
            ag_fetcher_archive_name(type), cfg.sandbox);
    switch (type) {
    case AG_FETCHER_ARCHIVE_TAR:
    case AG_FETCHER_ARCHIVE_TAR_GZ:
    case AG_FETCHER_ARCHIVE_TAR_XZ:
    case AG_FETCHER_ARCHIVE_TAR_BZ2: {
        const char *z = type == AG_FETCHER_ARCHIVE_TAR_GZ    ? "-z"
                        : type == AG_FETCHER_ARCHIVE_TAR_XZ  ? "-J"
                        : type == AG_FETCHER_ARCHIVE_TAR_BZ2 ? "-j"
                                                             : NULL;
        char *argv[] = {(char *)"tar", (char *)"--no-same-owner",
                        (char *)"-C",  (char *)cfg.sandbox,
                        (char *)"-x",  (char *)"-f",
                        (char *)file,  (char *)z,
                        NULL};
        return run_tool(argv, NULL);
    }
    case AG_FETCHER_ARCHIVE_ZIP: {
        char *argv[] = {(char *)"unzip", (char *)"-o",        (char *)"-q", (char *)file,
                        (char *)"-d",    (char *)cfg.sandbox, NULL};
        return run_tool(argv, NULL);
    }
    case AG_FETCHER_ARCHIVE_GZ: {
        char *argv[] = {(char *)"gzip", (char *)"-d", (char *)"-c", (char *)file, NULL};
        len = strlen(name) - 3; /* without ".gz" */
        snprintf(out, sizeof(out), "%s/%.*s", cfg.sandbox, (int)len, name);
        return run_tool(argv, out);
    }
    case AG_FETCHER_ARCHIVE_NONE:
        break;
    }
    return 0;
}

/* --- one URI --- */

static bool bool_field(const json_t *uri, const char *key, bool dflt)
{
    json_t *v = json_object_get(uri, key);
    if (json_is_boolean(v))
        return json_is_true(v);
    if (json_is_string(v))
        return strcmp(json_string_value(v), "true") == 0;
    return dflt;
}

static int fetch_one(const json_t *uri_obj, const char **ret_uri)
{
    const char *uri = json_string_value(json_object_get(uri_obj, "value"));
    const char *output = json_string_value(json_object_get(uri_obj, "output_file"));
    bool executable = bool_field(uri_obj, "executable", false);
    bool extract_it = bool_field(uri_obj, "extract", true);
    bool cache = bool_field(uri_obj, "cache", false);
    char name[1024], dst[4200];
    const char *path;
    enum ag_fetcher_archive type;

    *ret_uri = uri ? uri : "";
    if (!uri || !*uri) {
        fail("the URI has no 'value'");
        return -1;
    }
    if (ag_fetcher_scheme(uri, &path, errbuf, sizeof(errbuf)) == AG_FETCHER_SCHEME_BAD)
        return -1;
    if (output) {
        if (!ag_fetcher_output_file_ok(output)) {
            fail("output_file '%s' must be a relative path inside the sandbox", output);
            return -1;
        }
        snprintf(name, sizeof(name), "%s", output);
    } else if (ag_fetcher_basename(uri, name, sizeof(name)) < 0) {
        fail("cannot tell a file name from the URI; set output_file");
        return -1;
    }
    snprintf(dst, sizeof(dst), "%s/%s", cfg.sandbox, name);
    if (strchr(name, '/')) {
        char parent[4200];
        snprintf(parent, sizeof(parent), "%s", dst);
        *strrchr(parent, '/') = '\0';
        if (mkdirs(parent) < 0) {
            fail("cannot create '%s': %s", parent, strerror(errno));
            return -1;
        }
    }
    fprintf(stderr, "agora-fetcher: fetching '%s' to '%s'%s\n", uri, dst,
            cache && cfg.cache_dir ? " through the cache" : "");
    if ((cache && cfg.cache_dir ? fetch_cached(uri, dst) : retrieve(uri, dst)) < 0)
        return -1;
    if (executable) {
        if (chmod(dst, 0755) < 0) {
            fail("cannot make '%s' executable: %s", dst, strerror(errno));
            return -1;
        }
        return 0;
    }
    type = ag_fetcher_archive_type(name);
    if (extract_it && type != AG_FETCHER_ARCHIVE_NONE)
        return extract(dst, name, type);
    return 0;
}

/* --- ownership --- */

static uid_t chown_uid;
static gid_t chown_gid;

static int chown_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    if (lchown(path, chown_uid, chown_gid) < 0)
        fprintf(stderr, "agora-fetcher: cannot chown '%s': %s\n", path, strerror(errno));
    return 0;
}

static int give_to_user(void)
{
    struct passwd *pw;
    if (!cfg.user || !*cfg.user || geteuid() != 0)
        return 0;
    pw = getpwnam(cfg.user);
    if (!pw) {
        fail("user '%s' does not exist on this agent", cfg.user);
        return -1;
    }
    if (pw->pw_uid == 0)
        return 0;
    chown_uid = pw->pw_uid;
    chown_gid = pw->pw_gid;
    nftw(cfg.sandbox, chown_one, 32, FTW_PHYS | FTW_MOUNT);
    return 0;
}

/* --- main --- */

static void write_result(const char *line)
{
    FILE *f;
    if (!cfg.result_file)
        return;
    f = fopen(cfg.result_file, "we");
    if (f) {
        fputs(line, f);
        fclose(f);
    }
}

static void report(const char *uri)
{
    char line[2048];
    if (uri)
        snprintf(line, sizeof(line), "Failed to fetch '%s': %s", uri, errbuf);
    else
        snprintf(line, sizeof(line), "%s", errbuf);
    fprintf(stderr, "agora-fetcher: %s\n", line);
    write_result(line);
}

static double number_field(const json_t *in, const char *key, double dflt)
{
    json_t *v = json_object_get(in, key);
    return json_is_number(v) && json_number_value(v) > 0 ? json_number_value(v) : dflt;
}

static int configure(const json_t *in)
{
    struct stat st;
    json_t *size = json_object_get(in, "cache_size");
    cfg.sandbox = json_string_value(json_object_get(in, "sandbox_directory"));
    cfg.cache_dir = json_string_value(json_object_get(in, "cache_directory"));
    cfg.user = json_string_value(json_object_get(in, "user"));
    cfg.result_file = json_string_value(json_object_get(in, "result_file"));
    cfg.timeout = number_field(in, "timeout", DEFAULT_TIMEOUT);
    cfg.stall_timeout = number_field(in, "stall_timeout", DEFAULT_STALL_TIMEOUT);
    cfg.cache_size = json_is_integer(size) && json_integer_value(size) >= 0
                         ? (uint64_t)json_integer_value(size)
                         : DEFAULT_CACHE_SIZE;
    if (!json_is_array(json_object_get(in, "uris"))) {
        fail("the input has no 'uris' array");
        return -1;
    }
    if (!cfg.sandbox || cfg.sandbox[0] != '/' || stat(cfg.sandbox, &st) < 0 ||
        !S_ISDIR(st.st_mode)) {
        fail("'sandbox_directory' must name an existing directory");
        return -1;
    }
    if (cfg.cache_dir && (cfg.cache_dir[0] != '/' || mkdirs(cfg.cache_dir) < 0)) {
        fprintf(stderr, "agora-fetcher: cannot use cache directory '%s'; not caching\n",
                cfg.cache_dir);
        cfg.cache_dir = NULL;
    }
    return 0;
}

int main(int argc, char **argv)
{
    json_error_t jerr;
    json_t *in, *uri;
    size_t i, n;
    int rc = 0;

    if (argc > 2 || (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0))) {
        fprintf(argc == 2 ? stdout : stderr,
                "usage: agora-fetcher [INPUT.json]   (reads stdin without INPUT)\n");
        return argc == 2 ? 0 : 2;
    }
    in = argc == 2 ? json_load_file(argv[1], 0, &jerr) : json_loadf(stdin, 0, &jerr);
    if (!in || !json_is_object(in)) {
        fprintf(stderr, "agora-fetcher: bad input: %s\n", in ? "not a JSON object" : jerr.text);
        json_decref(in);
        return 2;
    }
    if (configure(in) < 0) {
        report(NULL);
        json_decref(in);
        return 2;
    }
    n = json_array_size(json_object_get(in, "uris"));
    curl_global_init(CURL_GLOBAL_DEFAULT);
    json_array_foreach(json_object_get(in, "uris"), i, uri)
    {
        const char *value = json_string_value(json_object_get(uri, "value"));
        char line[2048];
        /* Should we be killed (the agent's deadline), the agent still
         * knows which URI it was: it replaces the cause. */
        snprintf(line, sizeof(line), "Failed to fetch '%s': interrupted", value ? value : "");
        write_result(line);
        if (fetch_one(uri, &value) < 0) {
            report(value);
            rc = 1;
            break;
        }
    }
    if (rc == 0)
        write_result("");
    if (rc == 0 && give_to_user() < 0) {
        report(NULL);
        rc = 1;
    }
    curl_global_cleanup();
    json_decref(in);
    if (rc == 0)
        fprintf(stderr, "agora-fetcher: fetched %zu URI%s\n", n, n == 1 ? "" : "s");
    return rc;
}
