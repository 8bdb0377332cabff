/*
 * logs: `agora logs [--master=HOST:PORT] [-f] [--stderr] [--framework=ID] TASK`
 * prints a task's stdout (or stderr) from its sandbox; with -f it keeps
 * printing what the task writes until the task's executor has ended.
 *
 * The task is found in the master's /master/tasks (running or completed),
 * its agent's address in /master/slaves, its sandbox in the agent's
 * /state; the file comes from the agent's /files/download (the rotated
 * files first, oldest to newest, then the live one), or, with -f, from
 * /files/follow?until_exit=1 (a stream of the live file as it grows,
 * following the logger's rotation).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "cli/cli.h"
#include "cli/logs.h"

#define CONNECT_TIMEOUT_SECS 10L

struct logs_opts {
    const char *master;
    const char *framework;
    const char *task;
    bool follow, stderr_file;
};

static void usage(FILE *out)
{
    fprintf(out, "usage: agora logs [--master=HOST:PORT] [-f|--follow] [--stderr] [--framework=ID] "
                 "TASK\n"
                 "  prints the task's stdout (--stderr: its stderr) from its sandbox;\n"
                 "  -f keeps printing new output until the task's executor has ended\n");
}

static int parse(struct logs_opts *o, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 1;
        } else if (strcmp(a, "-f") == 0 || strcmp(a, "--follow") == 0) {
            o->follow = true;
        } else if (strcmp(a, "--stderr") == 0) {
            o->stderr_file = true;
        } else if (strncmp(a, "--master=", 9) == 0) {
            o->master = a + 9;
        } else if (strcmp(a, "--master") == 0 && i + 1 < argc) {
            o->master = argv[++i];
        } else if (strncmp(a, "--framework=", 12) == 0) {
            o->framework = a + 12;
        } else if (strcmp(a, "--framework") == 0 && i + 1 < argc) {
            o->framework = argv[++i];
        } else if (strcmp(a, "--") == 0 && i + 1 < argc && !o->task) {
            o->task = argv[++i];
        } else if (a[0] == '-') {
            fprintf(stderr, "agora logs: unknown option '%s'\n", a);
            usage(stderr);
            return -EINVAL;
        } else if (!o->task) {
            o->task = a;
        } else {
            fprintf(stderr, "agora logs: unexpected argument '%s' (one task at a time)\n", a);
            return -EINVAL;
        }
    }
    if (!o->task || !*o->task) {
        fprintf(stderr, "agora logs: which task? (see agora tasks)\n");
        usage(stderr);
        return -EINVAL;
    }
    return 0;
}

/* The task object of `task_id` from /master/tasks (a running one first),
 * or NULL. Borrowed from doc. */
static const json_t *pick_task(const json_t *doc, const char *task_id, const char *framework)
{
    const json_t *found = NULL;
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(doc, "tasks"), i, t)
    {
        const char *id = json_string_value(json_object_get(t, "id"));
        const char *fid = json_string_value(json_object_get(t, "framework_id"));
        const char *state = json_string_value(json_object_get(t, "state"));
        if (!id || strcmp(id, task_id) != 0 || (framework && (!fid || strcmp(fid, framework))))
            continue;
        if (!found || (state && !ag_cli_state_terminal(state)))
            found = t;
    }
    return found;
}

static size_t to_stdout(char *ptr, size_t size, size_t nmemb, void *arg)
{
    long *code = arg;
    size_t n = size * nmemb;
    if (*code != 200) /* an error body: printed by the caller's message */
        return n;
    if (fwrite(ptr, 1, n, stdout) != n)
        return 0;
    fflush(stdout);
    return n;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *arg)
{
    long *code = arg;
    size_t n = size * nmemb;
    int c;
    if (n > 9 && strncmp(ptr, "HTTP/1.", 7) == 0 && sscanf(ptr + 9, "%d", &c) == 1)
        *code = c;
    return n;
}

/* The rotation index of `name` as a file of stream `base` ("stdout" 0,
 * "stdout.3" 3), or -1 when it is not one. */
static long rotation_index(const char *name, const char *base)
{
    size_t n = strlen(base);
    char *end;
    long i;
    if (strncmp(name, base, n) != 0)
        return -1;
    if (name[n] == '\0')
        return 0;
    if (name[n] != '.' || name[n + 1] < '1' || name[n + 1] > '9')
        return -1;
    i = strtol(name + n + 1, &end, 10);
    return *end == '\0' && i > 0 && i < 100000 ? i : -1;
}

/* The highest rotation index of stream `base` in a /files/browse listing. */
static long oldest_rotation(const json_t *listing, const char *base)
{
    long max = 0;
    size_t i;
    json_t *e;
    json_array_foreach(listing, i, e)
    {
        const char *path = json_string_value(json_object_get(e, "path"));
        const char *slash = path ? strrchr(path, '/') : NULL;
        long idx = slash ? rotation_index(slash + 1, base) : -1;
        if (idx > max)
            max = idx;
    }
    return max;
}

/* Streams agent_url + path to stdout. 0, or 1 with a message. */
static int stream(const char *url, const char *what)
{
    CURL *curl = curl_easy_init();
    char cerr[CURL_ERROR_SIZE] = "";
    long code = 0;
    CURLcode rc;

    if (!curl) {
        fprintf(stderr, "agora logs: cannot initialise libcurl\n");
        return 1;
    }
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_SECS);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &code);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, to_stdout);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &code);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, cerr);
    rc = curl_easy_perform(curl);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(curl);
    if (rc != CURLE_OK) {
        fprintf(stderr, "agora logs: cannot read %s: %s\n", what,
                cerr[0] ? cerr : curl_easy_strerror(rc));
        return 1;
    }
    if (code != 200) {
        fprintf(stderr, "agora logs: the agent answered %ld for %s\n", code, what);
        return 1;
    }
    return 0;
}

/* As stream(), silent on failure (for rotated files that may be gone). */
static void stream_quiet(const char *url)
{
    CURL *curl = curl_easy_init();
    long code = 0;
    if (!curl)
        return;
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_SECS);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &code);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, to_stdout);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &code);
    curl_easy_perform(curl);
    curl_easy_cleanup(curl);
}

int ag_cli_logs_main(int argc, char **argv)
{
    struct logs_opts o = {0};
    char err[512], path[256];
    json_t *tasks = NULL, *slaves = NULL, *state = NULL;
    const json_t *task;
    const char *fid, *aid, *dir;
    char *base = NULL, *agent_url = NULL, *enc_task = NULL, *file = NULL, *enc = NULL, *url = NULL;
    int rc = 1;

    rc = parse(&o, argc, argv);
    if (rc != 0)
        return rc == 1 ? 0 : 2;
    rc = 1;
    base = ag_cli_master_base(o.master, err, sizeof(err));
    if (!base) {
        fprintf(stderr, "agora logs: %s\n", err);
        return 2;
    }
    enc_task = ag_cli_urlencode(o.task);
    snprintf(path, sizeof(path), "/master/tasks?limit=1000&task_id=");
    {
        size_t n = strlen(path) + strlen(enc_task ? enc_task : "") + 1;
        char *p = malloc(n);
        if (!p)
            goto out;
        snprintf(p, n, "%s%s", path, enc_task ? enc_task : "");
        if (ag_cli_get_json(base, p, &tasks, err, sizeof(err)) < 0) {
            free(p);
            fprintf(stderr, "agora logs: %s\n", err);
            goto out;
        }
        free(p);
    }
    task = pick_task(tasks, o.task, o.framework);
    if (!task) {
        fprintf(stderr, "agora logs: no task '%s' known to the master at %s (see agora tasks)\n",
                o.task, base);
        goto out;
    }
    fid = json_string_value(json_object_get(task, "framework_id"));
    aid = json_string_value(json_object_get(task, "slave_id"));
    if (!fid || !aid) {
        fprintf(stderr, "agora logs: the master does not say where task '%s' runs\n", o.task);
        goto out;
    }
    if (ag_cli_get_json(base, "/master/slaves", &slaves, err, sizeof(err)) < 0) {
        fprintf(stderr, "agora logs: %s\n", err);
        goto out;
    }
    agent_url = ag_cli_agent_url_from_slaves(slaves, aid);
    if (!agent_url) {
        fprintf(stderr, "agora logs: agent '%s' of task '%s' is not known to the master\n", aid,
                o.task);
        goto out;
    }
    if (ag_cli_get_json(agent_url, "/state", &state, err, sizeof(err)) < 0) {
        fprintf(stderr, "agora logs: %s\n", err);
        goto out;
    }
    dir = ag_cli_sandbox_dir(state, fid, o.task);
    if (!dir) {
        fprintf(stderr, "agora logs: agent %s has no sandbox for task '%s' (removed?)\n", agent_url,
                o.task);
        goto out;
    }
    if (!o.follow) {
        /* The rotated files first, oldest (highest number) to newest. */
        const char *name = o.stderr_file ? "stderr" : "stdout";
        char *enc_dir = ag_cli_urlencode(dir), *q;
        json_t *listing = NULL;
        long oldest = 0;
        size_t n = strlen(dir) * 3 + 32;
        q = malloc(n);
        if (enc_dir && q) {
            snprintf(q, n, "/files/browse?path=%s", enc_dir);
            if (ag_cli_get_json(agent_url, q, &listing, err, sizeof(err)) == 0)
                oldest = oldest_rotation(listing, name);
        }
        json_decref(listing);
        free(enc_dir);
        free(q);
        for (long i = oldest; i >= 1; i--) {
            char *f, *e, *u;
            n = strlen(dir) + strlen(name) + 32;
            f = malloc(n);
            if (!f)
                goto out;
            snprintf(f, n, "%s/%s.%ld", dir, name, i);
            e = ag_cli_urlencode(f);
            n = strlen(agent_url) + (e ? strlen(e) : 0) + 64;
            u = malloc(n);
            if (e && u) {
                snprintf(u, n, "%s/files/download?path=%s", agent_url, e);
                /* A file rotated away meanwhile is simply skipped. */
                stream_quiet(u);
            }
            free(f);
            free(e);
            free(u);
        }
    }
    {
        const char *name = o.stderr_file ? "stderr" : "stdout";
        size_t n = strlen(dir) + strlen(name) + 2;
        file = malloc(n);
        if (!file)
            goto out;
        snprintf(file, n, "%s/%s", dir, name);
        enc = ag_cli_urlencode(file);
        n = strlen(agent_url) + (enc ? strlen(enc) : 0) + 64;
        url = malloc(n);
        if (!enc || !url)
            goto out;
        if (o.follow)
            snprintf(url, n, "%s/files/follow?offset=0&until_exit=1&path=%s", agent_url, enc);
        else
            snprintf(url, n, "%s/files/download?path=%s", agent_url, enc);
    }
    rc = stream(url, file);
out:
    json_decref(tasks);
    json_decref(slaves);
    json_decref(state);
    free(base);
    free(agent_url);
    free(enc_task);
    free(file);
    free(enc);
    free(url);
    return rc;
}
