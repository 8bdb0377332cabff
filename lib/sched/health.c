/*
 * health: HealthCheck / CheckInfo policies, the health state machine, and
 * the checker that runs probes on an ag_loop (see agora/health.h).
 *
 * No probe blocks the loop: HTTP goes through the core HTTP client, TCP is
 * a non-blocking connect whose completion is polled on a timer (the loop
 * API has no fd watchers above lib/core, and a loopback connect completes
 * in microseconds, so the poll ends almost at once), and COMMAND is started
 * and reaped by the caller.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agora/health.h"
#include "core/http.h"
#include "core/json.h"
#include "core/loop.h"

#define TCP_POLL_FIRST 0.001
#define TCP_POLL_MAX   0.05
#define HTTP_REDIRECTS 5 /* redirects followed within one probe */
#define HTTP_PATH_MAX  1024

const char *ag_health_type_name(enum ag_health_type type)
{
    switch (type) {
    case AG_HEALTH_COMMAND:
        return "COMMAND";
    case AG_HEALTH_HTTP:
        return "HTTP";
    case AG_HEALTH_TCP:
        return "TCP";
    }
    return "UNKNOWN";
}

/* ------------------------------------------------------------------ */
/* policies                                                            */

void ag_health_policy_release(struct ag_health_policy *policy)
{
    if (!policy)
        return;
    free(policy->path);
    json_decref(policy->command);
    memset(policy, 0, sizeof(*policy));
}

int ag_health_policy_copy(const struct ag_health_policy *policy, struct ag_health_policy *ret)
{
    *ret = *policy;
    ret->path = NULL;
    ret->command = NULL;
    if (policy->path && !(ret->path = strdup(policy->path)))
        goto oom;
    if (policy->command && !(ret->command = json_deep_copy(policy->command)))
        goto oom;
    return 0;
oom:
    ag_health_policy_release(ret);
    return -ENOMEM;
}

/* A non-negative number of seconds at json[key], or `dflt` when absent. */
static int get_seconds(const json_t *json, const char *what, const char *key, double dflt,
                       double *ret, char *err, size_t errlen)
{
    char e[128];
    double v;
    int rc = ag_json_get_number(json, key, false, &v, e, sizeof(e));
    if (rc == -ENOENT) {
        *ret = dflt;
        return 0;
    }
    if (rc < 0 || v < 0 || v != v || v > 1e9) {
        snprintf(err, errlen, "%s.%s must be a non-negative number of seconds", what, key);
        return -EINVAL;
    }
    *ret = v;
    return 0;
}

static int get_port(const json_t *obj, const char *what, int *ret, char *err, size_t errlen)
{
    char e[128];
    double v;
    int rc = ag_json_get_number(obj, "port", true, &v, e, sizeof(e));
    if (rc < 0 || v < 1 || v > 65535 || v != (double)(int)v) {
        snprintf(err, errlen, "%s.port %s", what,
                 rc == -ENOENT ? "is missing" : "must be an integer between 1 and 65535");
        return -EINVAL;
    }
    *ret = (int)v;
    return 0;
}

static int get_protocol(const json_t *obj, const char *what, bool *ret_ipv6, char *err,
                        size_t errlen)
{
    json_t *p = ag_json_get(obj, "protocol");
    const char *s = json_string_value(p);
    *ret_ipv6 = false;
    if (!p)
        return 0;
    if (s && strcmp(s, "IPv4") == 0)
        return 0;
    if (s && strcmp(s, "IPv6") == 0) {
        *ret_ipv6 = true;
        return 0;
    }
    snprintf(err, errlen, "%s.protocol must be \"IPv4\" or \"IPv6\"", what);
    return -EINVAL;
}

/* HTTP: port, path (a '/' is prepended when missing), scheme http only. */
static int parse_http(const json_t *http, const char *what, bool is_check,
                      struct ag_health_policy *p, char *err, size_t errlen)
{
    const char *scheme = json_string_value(ag_json_get(http, "scheme"));
    json_t *path_j = ag_json_get(http, "path");
    const char *path = path_j ? json_string_value(path_j) : "/";
    size_t len;

    if (!json_is_object(http)) {
        snprintf(err, errlen, "%s is missing or not an object", what);
        return -EINVAL;
    }
    if (get_port(http, what, &p->port, err, errlen) < 0)
        return -EINVAL;
    if (!is_check && ag_json_get(http, "scheme")) {
        if (scheme && strcmp(scheme, "https") == 0) {
            p->https = true;
        } else if (!scheme || strcmp(scheme, "http") != 0) {
            snprintf(err, errlen, "%s.scheme must be \"http\" or \"https\"", what);
            return -EINVAL;
        }
    }
    if (!is_check && get_protocol(http, what, &p->ipv6, err, errlen) < 0)
        return -EINVAL;
    if (!path) {
        snprintf(err, errlen, "%s.path must be a string", what);
        return -EINVAL;
    }
    for (const char *c = path; *c; c++) {
        if ((unsigned char)*c <= ' ' || *c == 0x7f) {
            snprintf(err, errlen, "%s.path must not contain spaces or control characters", what);
            return -EINVAL;
        }
    }
    len = strlen(path);
    if (len >= HTTP_PATH_MAX - 1) {
        snprintf(err, errlen, "%s.path is longer than %d bytes", what, HTTP_PATH_MAX - 2);
        return -EINVAL;
    }
    p->path = malloc(len + 2);
    if (!p->path) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    snprintf(p->path, len + 2, "%s%s", path[0] == '/' ? "" : "/", path);
    return 0;
}

static int parse_type(const json_t *json, const char *what, enum ag_health_type *ret, char *err,
                      size_t errlen)
{
    json_t *t = ag_json_get(json, "type");
    const char *s = json_string_value(t);
    int given =
        !!ag_json_get(json, "command") + !!ag_json_get(json, "http") + !!ag_json_get(json, "tcp");

    if (!t) {
        if (given != 1) {
            snprintf(err, errlen, "%s.type is missing (COMMAND, HTTP or TCP)", what);
            return -EINVAL;
        }
        *ret = ag_json_get(json, "command") ? AG_HEALTH_COMMAND
               : ag_json_get(json, "http")  ? AG_HEALTH_HTTP
                                            : AG_HEALTH_TCP;
        return 0;
    }
    if (s && strcmp(s, "COMMAND") == 0)
        *ret = AG_HEALTH_COMMAND;
    else if (s && strcmp(s, "HTTP") == 0)
        *ret = AG_HEALTH_HTTP;
    else if (s && strcmp(s, "TCP") == 0)
        *ret = AG_HEALTH_TCP;
    else {
        snprintf(err, errlen, "%s.type must be COMMAND, HTTP or TCP", what);
        return -EINVAL;
    }
    return 0;
}

static int parse_body(const json_t *json, bool is_check, struct ag_health_policy *p, char *err,
                      size_t errlen)
{
    const char *what = is_check ? "check" : "health_check";
    char sub[64];
    json_t *m;
    double failures = AG_HEALTH_DEFAULT_FAILURES;

    if (!json_is_object(json)) {
        snprintf(err, errlen, "%s must be an object", what);
        return -EINVAL;
    }
    if (parse_type(json, what, &p->type, err, errlen) < 0)
        return -EINVAL;
    if (get_seconds(json, what, "delay_seconds", AG_HEALTH_DEFAULT_DELAY, &p->delay, err, errlen) <
            0 ||
        get_seconds(json, what, "interval_seconds", AG_HEALTH_DEFAULT_INTERVAL, &p->interval, err,
                    errlen) < 0 ||
        get_seconds(json, what, "timeout_seconds", AG_HEALTH_DEFAULT_TIMEOUT, &p->timeout, err,
                    errlen) < 0)
        return -EINVAL;
    if (!is_check) {
        char e[128];
        int rc;
        if (get_seconds(json, what, "grace_period_seconds", AG_HEALTH_DEFAULT_GRACE_PERIOD,
                        &p->grace_period, err, errlen) < 0)
            return -EINVAL;
        rc = ag_json_get_number(json, "consecutive_failures", false, &failures, e, sizeof(e));
        if ((rc < 0 && rc != -ENOENT) || failures < 0 || failures > 1e6 ||
            failures != (double)(int)failures) {
            snprintf(err, errlen, "%s.consecutive_failures must be a non-negative integer", what);
            return -EINVAL;
        }
    }
    p->consecutive_failures = (int)failures;

    switch (p->type) {
    case AG_HEALTH_COMMAND:
        snprintf(sub, sizeof(sub), "%s.command", what);
        m = ag_json_get(json, "command");
        /* CheckInfo wraps the CommandInfo: {"command": {"command": {...}}}. */
        if (is_check)
            m = ag_json_get(m, "command");
        if (!json_is_object(m)) {
            snprintf(err, errlen, "%s%s is missing or not an object (a CommandInfo)", sub,
                     is_check ? ".command" : "");
            return -EINVAL;
        }
        if (!json_string_value(ag_json_get(m, "value")) ||
            !*json_string_value(ag_json_get(m, "value"))) {
            snprintf(err, errlen, "%s%s.value is missing (the command to run)", sub,
                     is_check ? ".command" : "");
            return -EINVAL;
        }
        p->command = json_deep_copy(m);
        if (!p->command) {
            snprintf(err, errlen, "out of memory");
            return -ENOMEM;
        }
        return 0;
    case AG_HEALTH_HTTP:
        snprintf(sub, sizeof(sub), "%s.http", what);
        return parse_http(ag_json_get(json, "http"), sub, is_check, p, err, errlen);
    case AG_HEALTH_TCP:
        snprintf(sub, sizeof(sub), "%s.tcp", what);
        m = ag_json_get(json, "tcp");
        if (!json_is_object(m)) {
            snprintf(err, errlen, "%s is missing or not an object", sub);
            return -EINVAL;
        }
        if (get_port(m, sub, &p->port, err, errlen) < 0)
            return -EINVAL;
        if (!is_check && get_protocol(m, sub, &p->ipv6, err, errlen) < 0)
            return -EINVAL;
        return 0;
    }
    return -EINVAL;
}

int ag_health_policy_parse(const json_t *json, bool is_check, struct ag_health_policy *ret,
                           char *err, size_t errlen)
{
    int rc;
    memset(ret, 0, sizeof(*ret));
    ret->is_check = is_check;
    rc = parse_body(json, is_check, ret, err, errlen);
    if (rc < 0)
        ag_health_policy_release(ret);
    else
        ret->is_check = is_check;
    return rc;
}

/* ------------------------------------------------------------------ */
/* the state machine                                                   */

void ag_health_state_init(struct ag_health_state *state, double now)
{
    memset(state, 0, sizeof(*state));
    state->started = now;
}

struct ag_health_verdict ag_health_judge(struct ag_health_state *state,
                                         const struct ag_health_policy *policy, bool ok, double now)
{
    struct ag_health_verdict v;
    memset(&v, 0, sizeof(v));
    if (ok) {
        /* The first success, and the first after counted failures. */
        v.report = !state->succeeded || state->consecutive > 0;
        v.healthy = true;
        state->succeeded = true;
        state->consecutive = 0;
        return v;
    }
    if (!state->succeeded && now - state->started <= policy->grace_period) {
        v.ignored = true;
        return v;
    }
    state->consecutive++;
    v.report = true;
    v.healthy = false;
    v.consecutive = state->consecutive;
    v.kill = state->consecutive >= policy->consecutive_failures;
    return v;
}

/* ------------------------------------------------------------------ */
/* the checker                                                         */

/*
 * An HTTP request cannot be cancelled, so each one carries a ticket. A
 * checker that stops while its request is in flight detaches the ticket
 * and parks it on this list; the answer (or the request's own timeout)
 * frees it. A ticket still parked when the loop is freed stays reachable
 * from here, which is all it needs: the process is about to exit.
 */
struct http_ticket {
    struct ag_health_checker *hc; /* NULL once detached */
    struct http_ticket *prev, *next;
};
static _Thread_local struct http_ticket *parked;

struct probe_result {
    bool ok;
    bool have_value; /* an exit code, HTTP status or TCP outcome exists */
    int value;
    char message[256];
};

struct ag_health_checker {
    struct ag_loop *loop;
    struct ag_health_policy policy;
    struct ag_health_checker_ops ops;
    void *arg;
    struct ag_timer *next_timer, *timeout_timer, *poll_timer;
    struct ag_health_state state;
    bool running;
    bool probing;
    bool command_running;
    struct http_ticket *ticket;
    char http_path[HTTP_PATH_MAX]; /* the path asked for now (after redirects) */
    int redirects;
    int tcp_fd;
    double tcp_poll;
    json_t *check_status;
};

static void schedule(struct ag_health_checker *hc, double delay)
{
    if (hc->running)
        ag_timer_start(hc->next_timer, delay);
}

/* Drops whatever the probe in flight holds; no result. */
static void probe_abandon(struct ag_health_checker *hc)
{
    ag_timer_stop(hc->timeout_timer);
    ag_timer_stop(hc->poll_timer);
    if (hc->ticket) {
        struct http_ticket *t = hc->ticket;
        t->hc = NULL;
        t->prev = NULL;
        t->next = parked;
        if (parked)
            parked->prev = t;
        parked = t;
        hc->ticket = NULL;
    }
    if (hc->tcp_fd >= 0) {
        close(hc->tcp_fd);
        hc->tcp_fd = -1;
    }
    if (hc->command_running) {
        hc->command_running = false;
        if (hc->ops.command_cancel)
            hc->ops.command_cancel(hc, hc->arg);
    }
    hc->probing = false;
}

static json_t *check_status_of(const struct ag_health_checker *hc, const struct probe_result *r)
{
    const char *type = ag_health_type_name(hc->policy.type);
    json_t *inner = json_object();
    if (!inner)
        return NULL;
    if (r->have_value) {
        switch (hc->policy.type) {
        case AG_HEALTH_COMMAND:
            json_object_set_new(inner, "exit_code", json_integer(r->value));
            break;
        case AG_HEALTH_HTTP:
            json_object_set_new(inner, "status_code", json_integer(r->value));
            break;
        case AG_HEALTH_TCP:
            json_object_set_new(inner, "succeeded", json_boolean(r->value));
            break;
        }
    }
    return json_pack("{s:s,s:o}", "type", type,
                     hc->policy.type == AG_HEALTH_COMMAND ? "command"
                     : hc->policy.type == AG_HEALTH_HTTP  ? "http"
                                                          : "tcp",
                     inner);
}

static void probe_end(struct ag_health_checker *hc, const struct probe_result *r)
{
    probe_abandon(hc);
    if (!hc->running)
        return;
    if (hc->policy.is_check) {
        json_t *cs = check_status_of(hc, r);
        if (cs && !json_equal(cs, hc->check_status)) {
            json_decref(hc->check_status);
            hc->check_status = cs;
            if (hc->ops.check)
                hc->ops.check(hc, cs, hc->arg);
        } else {
            json_decref(cs);
        }
    } else {
        struct ag_health_verdict v =
            ag_health_judge(&hc->state, &hc->policy, r->ok, ag_monotonic());
        if (v.kill)
            hc->running = false; /* nothing more to learn: the task goes */
        if (v.report && hc->ops.health)
            hc->ops.health(hc, &v, r->message, hc->arg);
    }
    schedule(hc, hc->policy.interval);
}

static void http_send(struct ag_health_checker *hc);

/* The path to follow a redirect to, into out; false when the Location is
 * not on the probed server (the 3xx then stands, as healthy): probes only
 * ever go to the task on the loopback. */
static bool local_redirect(const struct ag_health_checker *hc, const char *loc, char *out,
                           size_t outlen)
{
    char *host = NULL, *path = NULL;
    int port = 0;
    bool ok = false;

    if (!loc || !*loc)
        return false;
    for (const char *c = loc; *c; c++) {
        if ((unsigned char)*c <= ' ' || *c == 0x7f)
            return false;
    }
    if (loc[0] == '/' && loc[1] != '/') {
        snprintf(out, outlen, "%s", loc);
        return strlen(loc) < outlen;
    }
    if (strncmp(loc, "http://", 7) == 0) {
        if (ag_http_parse_url(loc, &host, &port, &path) == 0 && port == hc->policy.port &&
            (strcmp(host, "127.0.0.1") == 0 || strcmp(host, "localhost") == 0 ||
             strcmp(host, "::1") == 0 || strcmp(host, "[::1]") == 0)) {
            snprintf(out, outlen, "%s", path && *path ? path : "/");
            ok = strlen(path ? path : "/") < outlen;
        }
        free(host);
        free(path);
        return ok;
    }
    if (strchr(loc, ':'))
        return false; /* another scheme */
    {
        /* Relative to the current path's directory. */
        const char *q = strchr(hc->http_path, '?');
        size_t dir = q ? (size_t)(q - hc->http_path) : strlen(hc->http_path);
        while (dir > 0 && hc->http_path[dir - 1] != '/')
            dir--;
        if (dir + strlen(loc) >= outlen)
            return false;
        snprintf(out, outlen, "%.*s%s", (int)dir, hc->http_path, loc);
        return true;
    }
}

static void http_done(const struct ag_http_response *resp, void *arg)
{
    struct http_ticket *t = arg;
    struct ag_health_checker *hc = t->hc;
    struct probe_result r;
    int code;

    if (!hc) {
        if (t->prev)
            t->prev->next = t->next;
        else
            parked = t->next;
        if (t->next)
            t->next->prev = t->prev;
        free(t);
        return;
    }
    hc->ticket = NULL;
    free(t);
    memset(&r, 0, sizeof(r));
    code = ag_http_response_code(resp);
    if ((code == 301 || code == 302 || code == 303 || code == 307 || code == 308) &&
        hc->redirects < HTTP_REDIRECTS) {
        char next[HTTP_PATH_MAX];
        if (local_redirect(hc, ag_http_response_header(resp, "Location"), next, sizeof(next))) {
            memcpy(hc->http_path, next, sizeof(next));
            hc->redirects++;
            http_send(hc);
            return;
        }
    }
    if (code > 0) {
        r.have_value = true;
        r.value = code;
        r.ok = code >= 200 && code < 400;
        snprintf(r.message, sizeof(r.message), "HTTP GET %s:%d%.160s returned %d",
                 hc->policy.ipv6 ? "[::1]" : "127.0.0.1", hc->policy.port, hc->http_path, code);
    } else {
        const char *why = ag_http_response_error(resp);
        snprintf(r.message, sizeof(r.message), "HTTP GET %s:%d%.160s failed: %s",
                 hc->policy.ipv6 ? "[::1]" : "127.0.0.1", hc->policy.port, hc->http_path,
                 why ? why : "no response");
    }
    probe_end(hc, &r);
}

/* Sends the GET for hc->http_path; the answer comes to http_done. */
static void http_send(struct ag_health_checker *hc)
{
    static const struct ag_http_header headers[] = {
        {"User-Agent", "agora-health-check"}, {"Connection", "close"}, {NULL, NULL}};
    struct probe_result r;
    char url[1100];
    int rc;
    /* The client's own timeout frees the request some time after ours
     * gave up on it. */
    double timeout = hc->policy.timeout > 0 ? hc->policy.timeout + 1.0 : 0;

    snprintf(url, sizeof(url), "http://%s:%d%s", hc->policy.ipv6 ? "[::1]" : "127.0.0.1",
             hc->policy.port, hc->http_path);
    hc->ticket = calloc(1, sizeof(*hc->ticket));
    if (!hc->ticket) {
        rc = -ENOMEM;
        goto fail;
    }
    hc->ticket->hc = hc;
    rc = ag_http_request(hc->loop, "GET", url, headers, NULL, 0, timeout, http_done, hc->ticket);
    if (rc == 0)
        return;
    free(hc->ticket);
    hc->ticket = NULL;
fail:
    memset(&r, 0, sizeof(r));
    snprintf(r.message, sizeof(r.message), "HTTP GET %.160s could not be sent: %s", url,
             strerror(-rc));
    probe_end(hc, &r);
}

/* HTTP: a GET, following redirects on the same server (as Mesos' curl -L
 * does), healthy for a final 200-399. */
static void probe_http(struct ag_health_checker *hc)
{
    snprintf(hc->http_path, sizeof(hc->http_path), "%s", hc->policy.path);
    hc->redirects = 0;
    http_send(hc);
}

static void tcp_result(struct ag_health_checker *hc, int error)
{
    struct probe_result r;
    memset(&r, 0, sizeof(r));
    r.ok = error == 0;
    r.have_value = true;
    r.value = r.ok;
    if (r.ok)
        snprintf(r.message, sizeof(r.message), "TCP connection to %s:%d succeeded",
                 hc->policy.ipv6 ? "[::1]" : "127.0.0.1", hc->policy.port);
    else
        snprintf(r.message, sizeof(r.message), "TCP connection to %s:%d failed: %s",
                 hc->policy.ipv6 ? "[::1]" : "127.0.0.1", hc->policy.port, strerror(error));
    probe_end(hc, &r);
}

static void tcp_poll(void *arg)
{
    struct ag_health_checker *hc = arg;
    struct pollfd pfd = {.fd = hc->tcp_fd, .events = POLLOUT};
    int error = 0;
    socklen_t len = sizeof(error);

    if (hc->tcp_fd < 0)
        return;
    if (poll(&pfd, 1, 0) == 0) {
        hc->tcp_poll = hc->tcp_poll * 2 > TCP_POLL_MAX ? TCP_POLL_MAX : hc->tcp_poll * 2;
        ag_timer_start(hc->poll_timer, hc->tcp_poll);
        return;
    }
    if (getsockopt(hc->tcp_fd, SOL_SOCKET, SO_ERROR, &error, &len) < 0)
        error = errno;
    tcp_result(hc, error);
}

static void probe_tcp(struct ag_health_checker *hc)
{
    struct sockaddr_in v4;
    struct sockaddr_in6 v6;
    const struct sockaddr *sa;
    socklen_t salen;
    int fd;

    memset(&v4, 0, sizeof(v4));
    memset(&v6, 0, sizeof(v6));
    if (hc->policy.ipv6) {
        v6.sin6_family = AF_INET6;
        v6.sin6_port = htons((uint16_t)hc->policy.port);
        v6.sin6_addr = in6addr_loopback;
        sa = (const struct sockaddr *)&v6;
        salen = sizeof(v6);
    } else {
        v4.sin_family = AF_INET;
        v4.sin_port = htons((uint16_t)hc->policy.port);
        v4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        sa = (const struct sockaddr *)&v4;
        salen = sizeof(v4);
    }
    fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        tcp_result(hc, errno);
        return;
    }
    if (connect(fd, sa, salen) == 0) {
        close(fd);
        tcp_result(hc, 0);
        return;
    }
    if (errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        tcp_result(hc, e);
        return;
    }
    hc->tcp_fd = fd;
    hc->tcp_poll = TCP_POLL_FIRST;
    ag_timer_start(hc->poll_timer, hc->tcp_poll);
}

/* HTTPS: curl, run like a COMMAND probe (the core client has no TLS).
 * -k: a task's certificate is rarely one we could verify; -L: follow
 * redirects; -f: fail on 400 and above. */
static void probe_curl(struct ag_health_checker *hc)
{
    struct probe_result r;
    char url[1100], max_time[32];
    json_t *cmd;
    int rc = -ENOMEM;

    snprintf(url, sizeof(url), "https://%s:%d%s", hc->policy.ipv6 ? "[::1]" : "127.0.0.1",
             hc->policy.port, hc->policy.path);
    snprintf(max_time, sizeof(max_time), "%g", hc->policy.timeout);
    cmd = json_pack("{s:b,s:s,s:[s,s,s,s,s,s,s]}", "shell", 0, "value", "curl", "arguments", "curl",
                    "-s", "-k", "-L", "-f", "-o", "/dev/null");
    if (cmd && hc->policy.timeout > 0) {
        json_array_append_new(json_object_get(cmd, "arguments"), json_string("--max-time"));
        json_array_append_new(json_object_get(cmd, "arguments"), json_string(max_time));
    }
    if (cmd && json_array_append_new(json_object_get(cmd, "arguments"), json_string(url)) == 0) {
        hc->command_running = true;
        rc = hc->ops.command_start ? hc->ops.command_start(hc, cmd, hc->arg) : -ENOSYS;
    }
    json_decref(cmd);
    if (rc == 0)
        return;
    hc->command_running = false;
    memset(&r, 0, sizeof(r));
    snprintf(r.message, sizeof(r.message), "HTTPS GET %.160s: curl could not be started: %s", url,
             strerror(-rc));
    probe_end(hc, &r);
}

/* What curl's exit status says about an HTTPS probe. */
static void curl_result(const struct ag_health_checker *hc, int wait_status, struct probe_result *r)
{
    int code = WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : -1;
    const char *why = code == 0     ? "succeeded"
                      : code == 7   ? "failed: could not connect"
                      : code == 22  ? "failed: the server answered with an error status (400+)"
                      : code == 28  ? "failed: timed out"
                      : code == 35  ? "failed: TLS handshake failed"
                      : code == 127 ? "failed: curl could not be run"
                                    : NULL;
    r->ok = code == 0;
    if (why)
        snprintf(r->message, sizeof(r->message), "HTTPS GET %s:%d%s %s",
                 hc->policy.ipv6 ? "[::1]" : "127.0.0.1", hc->policy.port, hc->policy.path, why);
    else
        snprintf(r->message, sizeof(r->message), "HTTPS GET %s:%d%s failed: curl exit status %d",
                 hc->policy.ipv6 ? "[::1]" : "127.0.0.1", hc->policy.port, hc->policy.path, code);
}

static void probe_command(struct ag_health_checker *hc)
{
    struct probe_result r;
    int rc = -ENOSYS;
    hc->command_running = true;
    if (hc->ops.command_start)
        rc = hc->ops.command_start(hc, hc->policy.command, hc->arg);
    if (rc == 0)
        return;
    hc->command_running = false;
    memset(&r, 0, sizeof(r));
    snprintf(r.message, sizeof(r.message), "the check command could not be started: %s",
             strerror(-rc));
    probe_end(hc, &r);
}

static void probe_start(void *arg)
{
    struct ag_health_checker *hc = arg;
    if (!hc->running || hc->probing)
        return;
    hc->probing = true;
    if (hc->policy.timeout > 0)
        ag_timer_start(hc->timeout_timer, hc->policy.timeout);
    switch (hc->policy.type) {
    case AG_HEALTH_HTTP:
        if (hc->policy.https)
            probe_curl(hc);
        else
            probe_http(hc);
        break;
    case AG_HEALTH_TCP:
        probe_tcp(hc);
        break;
    case AG_HEALTH_COMMAND:
        probe_command(hc);
        break;
    }
}

static void probe_timeout(void *arg)
{
    struct ag_health_checker *hc = arg;
    struct probe_result r;
    if (!hc->probing)
        return;
    memset(&r, 0, sizeof(r));
    snprintf(r.message, sizeof(r.message), "%s %s timed out after %gs",
             ag_health_type_name(hc->policy.type), hc->policy.is_check ? "check" : "health check",
             hc->policy.timeout);
    probe_end(hc, &r);
}

struct ag_health_checker *ag_health_checker_new(struct ag_loop *loop,
                                                const struct ag_health_policy *policy,
                                                const struct ag_health_checker_ops *ops, void *arg)
{
    struct ag_health_checker *hc = calloc(1, sizeof(*hc));
    if (!hc)
        return NULL;
    hc->loop = loop;
    hc->ops = *ops;
    hc->arg = arg;
    hc->tcp_fd = -1;
    hc->next_timer = ag_timer_new(loop, probe_start, hc);
    hc->timeout_timer = ag_timer_new(loop, probe_timeout, hc);
    hc->poll_timer = ag_timer_new(loop, tcp_poll, hc);
    if (!hc->next_timer || !hc->timeout_timer || !hc->poll_timer ||
        ag_health_policy_copy(policy, &hc->policy) < 0) {
        ag_health_checker_free(hc);
        return NULL;
    }
    return hc;
}

void ag_health_checker_start(struct ag_health_checker *hc)
{
    ag_health_state_init(&hc->state, ag_monotonic());
    hc->running = true;
    schedule(hc, hc->policy.delay);
}

void ag_health_checker_stop(struct ag_health_checker *hc)
{
    if (!hc)
        return;
    hc->running = false;
    ag_timer_stop(hc->next_timer);
    probe_abandon(hc);
}

void ag_health_checker_free(struct ag_health_checker *hc)
{
    if (!hc)
        return;
    ag_health_checker_stop(hc);
    ag_timer_free(hc->next_timer);
    ag_timer_free(hc->timeout_timer);
    ag_timer_free(hc->poll_timer);
    ag_health_policy_release(&hc->policy);
    json_decref(hc->check_status);
    free(hc);
}

void ag_health_checker_command_done(struct ag_health_checker *hc, int wait_status)
{
    struct probe_result r;
    if (!hc->command_running)
        return;
    hc->command_running = false;
    memset(&r, 0, sizeof(r));
    if (hc->policy.type == AG_HEALTH_HTTP) {
        curl_result(hc, wait_status, &r);
    } else if (WIFEXITED(wait_status)) {
        r.have_value = true;
        r.value = WEXITSTATUS(wait_status);
        r.ok = r.value == 0;
        snprintf(r.message, sizeof(r.message), "the check command exited with status %d", r.value);
    } else if (WIFSIGNALED(wait_status)) {
        snprintf(r.message, sizeof(r.message), "the check command was terminated by signal %s",
                 strsignal(WTERMSIG(wait_status)));
    } else {
        snprintf(r.message, sizeof(r.message), "the check command ended with wait status %d",
                 wait_status);
    }
    probe_end(hc, &r);
}

bool ag_health_checker_command_running(const struct ag_health_checker *hc)
{
    return hc && hc->command_running;
}

const struct ag_health_policy *ag_health_checker_policy(const struct ag_health_checker *hc)
{
    return &hc->policy;
}

const json_t *ag_health_checker_check_status(const struct ag_health_checker *hc)
{
    return hc->check_status;
}
