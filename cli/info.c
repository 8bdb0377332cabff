/*
 * info: the read-only operator commands (`agora tasks`, `agents`,
 * `frameworks`, `state`). Simple blocking GETs with libcurl: these commands
 * do one request and exit, so there is no loop to keep responsive.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "cli/cli.h"

#define FETCH_TIMEOUT_SECS 10L
#define FETCH_MAX_BYTES    (256L * 1024 * 1024)

struct buffer {
    char *data;
    size_t len;
    bool too_big;
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct buffer *b = arg;
    size_t n = size * nmemb;
    if (b->len + n > (size_t)FETCH_MAX_BYTES) {
        b->too_big = true;
        return 0;
    }
    char *grown = realloc(b->data, b->len + n + 1);
    if (!grown)
        return 0;
    memcpy(grown + b->len, ptr, n);
    b->len += n;
    grown[b->len] = '\0';
    b->data = grown;
    return n;
}

int ag_cli_get_json(const char *base, const char *path, json_t **ret, char *err, size_t errlen)
{
    size_t ulen = strlen(base) + strlen(path) + 1;
    char *url = malloc(ulen);
    if (!url)
        return -ENOMEM;
    snprintf(url, ulen, "%s%s", base, path);
    CURL *curl = curl_easy_init();
    if (!curl) {
        free(url);
        return -ENOMEM;
    }
    struct buffer body = {0};
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
    /* A standby master answers 307 to the leader ("//host:port/path"). */
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, FETCH_TIMEOUT_SECS);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(curl);
    long code = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(curl);
    int r = 0;
    if (rc != CURLE_OK) {
        snprintf(err, errlen, "cannot GET %s: %s", url,
                 body.too_big ? "response too large" : curl_easy_strerror(rc));
        r = -EIO;
    } else if (code != 200) {
        /* libcurl reports success for any answer; the status says more. */
        snprintf(err, errlen, "GET %s answered %ld: %.200s", url, code, body.data ? body.data : "");
        r = -EIO;
    } else {
        json_error_t jerr;
        *ret = json_loadb(body.data ? body.data : "", body.len, 0, &jerr);
        if (!*ret) {
            snprintf(err, errlen, "GET %s: invalid JSON at line %d column %d: %s", url, jerr.line,
                     jerr.column, jerr.text);
            r = -EBADMSG;
        }
    }
    free(body.data);
    free(url);
    return r;
}

/* Shared shape of the four commands: options, fetch, print. */
struct info_cmd {
    const char *name;
    const char *path;
    const char *usage;
    int (*table)(const json_t *doc, struct ag_cli_table *ret);
};

static int print_table(const json_t *doc, const struct info_cmd *cmd)
{
    struct ag_cli_table t;
    if (cmd->table(doc, &t) < 0) {
        fprintf(stderr, "agora %s: unexpected answer from %s (not the expected JSON shape)\n",
                cmd->name, cmd->path);
        return 1;
    }
    char *text = ag_cli_table_render(&t);
    if (text)
        fputs(text, stdout);
    free(text);
    ag_cli_table_release(&t);
    return text ? 0 : 1;
}

static int print_pretty(const json_t *doc)
{
    char *text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (!text)
        return 1;
    puts(text);
    free(text);
    return 0;
}

static int info_main(const struct info_cmd *cmd, int argc, char **argv)
{
    const char *master = NULL;
    bool json = false;
    struct ag_cli_opt opts[] = {
        {"master", AG_CLI_STR, &master,
         "master HOST:PORT (default $AGORA_MASTER or 127.0.0.1:5050)"},
        {"json", AG_CLI_BOOL, &json, "print the master's JSON instead of a table"},
    };
    size_t nopts = cmd->table ? 2 : 1;
    char err[512];
    int next = 0;
    int r = ag_cli_parse(opts, nopts, argc, argv, &next, err, sizeof(err));
    if (r == 1) {
        printf("usage: %s\n", cmd->usage);
        ag_cli_print_options(opts, nopts);
        return 0;
    }
    if (r < 0 || next < argc) {
        fprintf(stderr, "agora %s: %s\n", cmd->name,
                r < 0 ? err : "unexpected argument (see --help)");
        return 2;
    }
    char *base = ag_cli_master_base(master, err, sizeof(err));
    if (!base) {
        fprintf(stderr, "agora %s: %s\n", cmd->name, err);
        return 2;
    }
    json_t *doc = NULL;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    r = ag_cli_get_json(base, cmd->path, &doc, err, sizeof(err));
    free(base);
    if (r < 0) {
        fprintf(stderr, "agora %s: %s\n", cmd->name, err);
        curl_global_cleanup();
        return 1;
    }
    int code = (!cmd->table || json) ? print_pretty(doc) : print_table(doc, cmd);
    json_decref(doc);
    curl_global_cleanup();
    return code;
}

int ag_cli_tasks_main(int argc, char **argv)
{
    static const struct info_cmd cmd = {"tasks", "/master/tasks?limit=10000",
                                        "agora tasks [--master=HOST:PORT] [--json]",
                                        ag_cli_tasks_table};
    return info_main(&cmd, argc, argv);
}

int ag_cli_agents_main(int argc, char **argv)
{
    static const struct info_cmd cmd = {"agents", "/master/slaves",
                                        "agora agents [--master=HOST:PORT] [--json]",
                                        ag_cli_agents_table};
    return info_main(&cmd, argc, argv);
}

int ag_cli_frameworks_main(int argc, char **argv)
{
    static const struct info_cmd cmd = {"frameworks", "/master/frameworks",
                                        "agora frameworks [--master=HOST:PORT] [--json]",
                                        ag_cli_frameworks_table};
    return info_main(&cmd, argc, argv);
}

int ag_cli_state_main(int argc, char **argv)
{
    static const struct info_cmd cmd = {"state", "/master/state",
                                        "agora state [--master=HOST:PORT]", NULL};
    return info_main(&cmd, argc, argv);
}
