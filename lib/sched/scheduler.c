/*
 * scheduler: the scheduler half of the SDK (include/agora/scheduler.h).
 *
 * One object per framework. The subscription is a streaming POST whose
 * body is decoded as RecordIO; calls are one-shot POSTs, each tracked in a
 * small context so that redirects and 503 retries can resend it and so that
 * freeing the scheduler while calls are in flight is safe (the context
 * outlives the scheduler and is freed when the HTTP answer arrives).
 *
 * Re-entrancy: user callbacks may call anything, including
 * ag_scheduler_free(). Every entry from the loop (stream callbacks, timers,
 * call answers, ag_scheduler_feed) holds `busy`; a free requested while busy
 * only marks the object and the last entry to leave frees it. A stream
 * `generation` counter lets the decoder stop as soon as the stream it was
 * decoding has been replaced or closed by a callback.
 */
#include <assert.h>
#include <errno.h>
#include <math.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agora/scheduler.h"
#include "core/http.h"
#include "core/id.h"
#include "core/json.h"
#include "core/jw.h"
#include "core/loop.h"
#include "core/recordio.h"

#define SCHED_MAGIC         0x5c4ed01eu
#define SCHED_PATH          "/api/v1/scheduler"
#define BACKOFF_INITIAL     1.0
#define BACKOFF_MAX         30.0
#define HEARTBEAT_DEFAULT   15.0
#define HEARTBEAT_MISSES    5
#define MAX_REDIRECTS       10
#define CALL_MAX_ATTEMPTS   5
#define CALL_TIMEOUT        30.0
#define ERROR_BODY_MAX      4096
#define DEFAULT_MASTER_PORT 5050
#define DEFAULT_FRAMEWORK   "agora-framework"

struct call_ctx;

struct ag_scheduler {
    unsigned magic;
    struct ag_loop *loop;
    char *master; /* "http://host:port" */
    json_t *framework_info;
    struct ag_scheduler_callbacks cb;
    void *arg;

    char *framework_id;
    char *stream_id;
    bool subscribed;   /* SUBSCRIBED seen on the current stream */
    bool running;      /* between start() and stop() */
    bool tearing_down; /* TEARDOWN sent: the master closing the stream is expected */
    bool auto_ack;

    /* the subscription stream */
    struct ag_http_client_stream *stream;
    unsigned generation;
    int stream_code;
    char *stream_location;
    char *stream_body; /* error body of a non-200 answer */
    size_t stream_body_len;
    struct ag_recordio_decoder dec;
    int redirects;
    double data_at; /* when the bytes being decoded were read */

    struct ag_timer *reconnect_timer;
    struct ag_timer *heartbeat_timer;
    struct ag_timer *flush_timer;
    ag_scheduler_done_cb flush_cb;
    void *flush_arg;
    double backoff;
    double heartbeat_interval;

    struct call_ctx *calls; /* in flight, doubly linked */

    ag_scheduler_call_hook hook;
    void *hook_arg;

    int busy;
    bool free_pending;
};

struct call_ctx {
    struct ag_scheduler *s; /* NULL once the scheduler is gone */
    struct call_ctx *prev, *next;
    struct ag_timer *retry_timer;
    char type[48];
    char *body;
    size_t len;
    char *url;
    int attempts;
    int redirects;
    bool stop_on_success; /* TEARDOWN: stop the subscription once accepted */
    ag_scheduler_done_cb done;
    void *done_arg;
};

static void subscribe_now(struct ag_scheduler *s);
static void destroy(struct ag_scheduler *s);

/* Catches use of a freed or foreign pointer in debug builds. */
#define CHECK_MAGIC(s) assert((s)->magic == SCHED_MAGIC)

/* --- small helpers --- */

static void enter(struct ag_scheduler *s)
{
    s->busy++;
}

/* Leaves a loop entry; frees the object if a free was requested inside.
 * Returns true if the object is gone. */
static bool leave(struct ag_scheduler *s)
{
    if (--s->busy == 0 && s->free_pending) {
        destroy(s);
        return true;
    }
    return false;
}

static void set_str(char **dst, const char *src)
{
    char *copy = src ? strdup(src) : NULL;
    free(*dst);
    *dst = copy;
}

static char *join_url(const char *base, const char *path)
{
    size_t a = strlen(base), b = strlen(path);
    char *url = malloc(a + b + 1);
    if (!url)
        return NULL;
    memcpy(url, base, a);
    memcpy(url + a, path, b + 1);
    return url;
}

/* Parses "host[:port][/...]" (after any scheme) into "http://host:port". */
static int base_from_authority(const char *p, char **ret_base)
{
    const char *host = p, *host_end, *port_str = NULL;
    if (*p == '[') {
        host_end = strchr(p, ']');
        if (!host_end)
            return -EINVAL;
        host_end++;
    } else {
        host_end = p + strcspn(p, ":/?#");
    }
    if (host_end == host)
        return -EINVAL;
    long port = DEFAULT_MASTER_PORT;
    const char *rest = host_end;
    if (*rest == ':') {
        port_str = rest + 1;
        size_t digits = strspn(port_str, "0123456789");
        if (digits == 0 || digits > 5)
            return -EINVAL;
        port = strtol(port_str, NULL, 10);
        if (port < 1 || port > 65535)
            return -EINVAL;
        rest = port_str + digits;
    }
    if (*rest != '\0' && *rest != '/' && *rest != '?' && *rest != '#')
        return -EINVAL;
    for (const char *c = host; c < host_end; c++)
        if (*c == ' ' || *c == '@' || (unsigned char)*c < 0x21)
            return -EINVAL;
    int hlen = (int)(host_end - host);
    size_t n = (size_t)hlen + 32;
    char *base = malloc(n);
    if (!base)
        return -ENOMEM;
    snprintf(base, n, "http://%.*s:%ld", hlen, host, port);
    *ret_base = base;
    return 0;
}

int ag_scheduler_master_url(const char *address, char **ret_base)
{
    if (!address || !*address)
        return -EINVAL;
    const char *p = address;
    if (strncmp(p, "http://", 7) == 0)
        p += 7;
    else if (strncmp(p, "//", 2) == 0)
        p += 2;
    else if (strstr(p, "://"))
        return -EINVAL; /* https, zk: not supported by this client */
    return base_from_authority(p, ret_base);
}

int ag_scheduler_parse_location(const char *location, char **ret_base)
{
    if (!location)
        return -EINVAL;
    while (*location == ' ' || *location == '\t')
        location++;
    if (strncmp(location, "//", 2) == 0)
        return base_from_authority(location + 2, ret_base);
    if (strncmp(location, "http://", 7) == 0)
        return base_from_authority(location + 7, ret_base);
    return -EINVAL;
}

double ag_scheduler_offer_scalar(const json_t *offer, const char *name)
{
    json_t *resources = ag_json_get(offer, "resources");
    double sum = 0;
    size_t i;
    json_t *res;
    json_array_foreach(resources, i, res)
    {
        const char *rname = json_string_value(ag_json_get(res, "name"));
        json_t *scalar = ag_json_get(res, "scalar");
        if (rname && strcmp(rname, name) == 0 && scalar)
            sum += json_number_value(ag_json_get(scalar, "value"));
    }
    return sum;
}

/* --- building LAUNCH --- */

struct scalar_slot {
    const char *name;
    json_t *res; /* the offer's Resource (borrowed) */
    long long left_milli;
};

static int collect_scalars(const json_t *offer, struct scalar_slot **ret, size_t *ret_n)
{
    json_t *resources = ag_json_get(offer, "resources");
    size_t n = json_is_array(resources) ? json_array_size(resources) : 0;
    struct scalar_slot *slots = calloc(n ? n : 1, sizeof(*slots));
    if (!slots)
        return -ENOMEM;
    size_t k = 0, i;
    json_t *res;
    json_array_foreach(resources, i, res)
    {
        const char *name = json_string_value(ag_json_get(res, "name"));
        json_t *value = ag_json_get(ag_json_get(res, "scalar"), "value");
        if (!name || !json_is_number(value))
            continue;
        slots[k].name = name;
        slots[k].res = res;
        slots[k].left_milli = llround(json_number_value(value) * 1000.0);
        k++;
    }
    *ret = slots;
    *ret_n = k;
    return 0;
}

/* Takes `amount` of `name` from the slots; the Resource to put in the task
 * is returned (new reference). NULL with ENOSPC in *ret_code when nothing
 * fits. */
static json_t *take_scalar(struct scalar_slot *slots, size_t n, const char *name, double amount,
                           int *ret_code)
{
    long long need = llround(amount * 1000.0);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(slots[i].name, name) != 0 || slots[i].left_milli < need)
            continue;
        json_t *copy = json_deep_copy(slots[i].res);
        if (!copy) {
            *ret_code = -ENOMEM;
            return NULL;
        }
        json_object_set_new(copy, "scalar", json_pack("{s:f}", "value", (double)need / 1000.0));
        slots[i].left_milli -= need;
        return copy;
    }
    *ret_code = -ENOSPC;
    return NULL;
}

static json_t *build_command(const struct ag_sched_task *t, char *err, size_t errlen)
{
    json_t *cmd = json_object();
    if (t->command) {
        json_object_set_new(cmd, "shell", json_true());
        json_object_set_new(cmd, "value", json_string(t->command));
    } else {
        json_t *args = json_array();
        for (size_t i = 0; t->argv[i]; i++)
            json_array_append_new(args, json_string(t->argv[i]));
        json_object_set_new(cmd, "shell", json_false());
        json_object_set_new(cmd, "value", json_string(t->argv[0]));
        json_object_set_new(cmd, "arguments", args);
    }
    if (t->env && t->env[0]) {
        json_t *vars = json_array();
        for (size_t i = 0; t->env[i]; i++) {
            const char *eq = strchr(t->env[i], '=');
            if (!eq || eq == t->env[i]) {
                snprintf(err, errlen, "task '%s': environment entry '%s' is not NAME=VALUE",
                         t->task_id, t->env[i]);
                json_decref(vars);
                json_decref(cmd);
                return NULL;
            }
            json_array_append_new(vars, json_pack("{s:s%,s:s,s:s}", "name", t->env[i],
                                                  (size_t)(eq - t->env[i]), "type", "VALUE",
                                                  "value", eq + 1));
        }
        json_object_set_new(cmd, "environment", json_pack("{s:o}", "variables", vars));
    }
    if (t->user)
        json_object_set_new(cmd, "user", json_string(t->user));
    return cmd;
}

static int validate_task(const struct ag_sched_task *tasks, size_t idx, char *err, size_t errlen)
{
    const struct ag_sched_task *t = &tasks[idx];
    if (!t->task_id || !*t->task_id) {
        snprintf(err, errlen, "task %zu: missing task_id", idx);
        return -EINVAL;
    }
    if ((t->command != NULL) == (t->argv != NULL && t->argv[0] != NULL)) {
        snprintf(err, errlen, "task '%s': give exactly one of command and argv", t->task_id);
        return -EINVAL;
    }
    const double amounts[] = {t->cpus, t->mem, t->disk};
    bool any = false;
    for (size_t i = 0; i < 3; i++) {
        if (!isfinite(amounts[i]) || amounts[i] < 0) {
            snprintf(err, errlen, "task '%s': resource amounts must be finite and >= 0",
                     t->task_id);
            return -EINVAL;
        }
        any = any || amounts[i] >= 0.001;
    }
    if (!any) {
        snprintf(err, errlen, "task '%s': must use some cpus, mem or disk", t->task_id);
        return -EINVAL;
    }
    for (size_t j = 0; j < idx; j++) {
        if (strcmp(tasks[j].task_id, t->task_id) == 0) {
            snprintf(err, errlen, "task id '%s' used twice", t->task_id);
            return -EINVAL;
        }
    }
    return 0;
}

static json_t *build_task(const struct ag_sched_task *t, const char *agent_id,
                          struct scalar_slot *slots, size_t nslots, int *ret_code, char *err,
                          size_t errlen)
{
    static const char *const names[] = {"cpus", "mem", "disk"};
    const double amounts[] = {t->cpus, t->mem, t->disk};
    json_t *resources = json_array();
    for (size_t i = 0; i < 3; i++) {
        if (amounts[i] < 0.001)
            continue;
        json_t *res = take_scalar(slots, nslots, names[i], amounts[i], ret_code);
        if (!res) {
            if (*ret_code == -ENOSPC)
                snprintf(err, errlen, "task '%s' needs %s %g, more than the offer has left",
                         t->task_id, names[i], amounts[i]);
            json_decref(resources);
            return NULL;
        }
        json_array_append_new(resources, res);
    }
    json_t *cmd = build_command(t, err, errlen);
    if (!cmd) {
        *ret_code = -EINVAL;
        json_decref(resources);
        return NULL;
    }
    return json_pack("{s:s,s:{s:s},s:{s:s},s:o,s:o}", "name", t->name ? t->name : t->task_id,
                     "task_id", "value", t->task_id, "agent_id", "value", agent_id, "resources",
                     resources, "command", cmd);
}

json_t *ag_scheduler_build_launch(const json_t *offer, const struct ag_sched_task *tasks, size_t n,
                                  int *ret_code, char *err, size_t errlen)
{
    int code = 0;
    char ignored[8];
    if (!err || errlen == 0) {
        err = ignored;
        errlen = sizeof(ignored);
    }
    err[0] = '\0';
    const char *agent_id = ag_json_get_id(offer, "agent_id", true, err, errlen);
    if (!agent_id) {
        *ret_code = -EINVAL;
        return NULL;
    }
    if (n == 0) {
        snprintf(err, errlen, "no tasks to launch");
        *ret_code = -EINVAL;
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        if ((code = validate_task(tasks, i, err, errlen)) < 0) {
            *ret_code = code;
            return NULL;
        }
    }
    struct scalar_slot *slots;
    size_t nslots;
    if ((code = collect_scalars(offer, &slots, &nslots)) < 0) {
        *ret_code = code;
        return NULL;
    }
    json_t *infos = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *task = build_task(&tasks[i], agent_id, slots, nslots, &code, err, errlen);
        if (!task) {
            free(slots);
            json_decref(infos);
            *ret_code = code ? code : -ENOMEM;
            return NULL;
        }
        json_array_append_new(infos, task);
    }
    free(slots);
    return json_pack("{s:s,s:{s:o}}", "type", "LAUNCH", "launch", "task_infos", infos);
}

/* --- calls --- */

static void call_http_send(struct call_ctx *ctx);

static void call_unlink(struct call_ctx *ctx)
{
    struct ag_scheduler *s = ctx->s;
    if (!s)
        return;
    if (ctx->prev)
        ctx->prev->next = ctx->next;
    else
        s->calls = ctx->next;
    if (ctx->next)
        ctx->next->prev = ctx->prev;
    ctx->prev = ctx->next = NULL;
}

static void call_free(struct call_ctx *ctx)
{
    struct ag_scheduler *s = ctx->s;
    call_unlink(ctx);
    if (s && !s->calls && s->flush_cb)
        ag_timer_start(s->flush_timer, 0);
    ag_timer_free(ctx->retry_timer);
    free(ctx->body);
    free(ctx->url);
    free(ctx);
}

/* Reports the outcome of a call and frees its context. */
static void call_finish(struct call_ctx *ctx, int code, const char *message)
{
    struct ag_scheduler *s = ctx->s;
    ag_scheduler_done_cb done = ctx->done;
    void *done_arg = ctx->done_arg;
    bool stop = ctx->stop_on_success && !message;
    char type[sizeof(ctx->type)];
    memcpy(type, ctx->type, sizeof(type));
    bool teardown = ctx->stop_on_success;
    call_free(ctx);
    if (!s || s->free_pending)
        return;
    if (teardown && !stop) {
        /* The framework still exists: keep (or get back) the subscription. */
        s->tearing_down = false;
        if (s->running && !s->stream && !ag_timer_pending(s->reconnect_timer))
            ag_timer_start(s->reconnect_timer, s->backoff);
    }
    if (stop)
        ag_scheduler_stop(s);
    if (done)
        done(s, code, message, done_arg);
    else if (message && s->cb.call_failed)
        s->cb.call_failed(s, type, code, message, s->arg);
}

static void call_retry_cb(void *arg)
{
    struct call_ctx *ctx = arg;
    struct ag_scheduler *s = ctx->s;
    enter(s);
    call_http_send(ctx);
    leave(s);
}

static void call_done_cb(const struct ag_http_response *resp, void *arg)
{
    struct call_ctx *ctx = arg;
    struct ag_scheduler *s = ctx->s;
    if (!s) {
        call_free(ctx);
        return;
    }
    enter(s);
    int code = ag_http_response_code(resp);
    size_t blen = 0;
    const char *body = ag_http_response_body(resp, &blen);
    if (code >= 200 && code < 300) {
        call_finish(ctx, code, NULL);
    } else if (code == 307 && ctx->redirects < MAX_REDIRECTS) {
        char *base = NULL;
        const char *loc = ag_http_response_header(resp, "Location");
        if (ag_scheduler_parse_location(loc, &base) == 0) {
            /* Calls must reach the leader; later subscriptions go there too. */
            free(s->master);
            s->master = base;
            free(ctx->url);
            ctx->url = join_url(s->master, SCHED_PATH);
            ctx->redirects++;
            call_http_send(ctx);
        } else {
            call_finish(ctx, code, "redirect without a usable Location header");
        }
    } else if ((code == 503 || (code == 0 && strcmp(ctx->type, "ACCEPT") != 0)) &&
               ctx->attempts < CALL_MAX_ATTEMPTS) {
        /* No answer may mean the call was applied: an ACCEPT sent twice
         * would fail the second time and report its tasks lost, so only
         * the other (idempotent enough) calls are retried then. */
        if (!ctx->retry_timer)
            ctx->retry_timer = ag_timer_new(s->loop, call_retry_cb, ctx);
        if (ctx->retry_timer) {
            ag_timer_start(ctx->retry_timer, 0.25 * (double)(1 << ctx->attempts));
        } else {
            call_finish(ctx, code, "out of memory");
        }
    } else {
        char msg[512];
        if (code == 0)
            snprintf(msg, sizeof(msg), "%s", ag_http_response_error(resp));
        else if (blen > 0)
            snprintf(msg, sizeof(msg), "%.*s", (int)(blen < 400 ? blen : 400), body);
        else
            snprintf(msg, sizeof(msg), "HTTP %d", code);
        call_finish(ctx, code, msg);
    }
    leave(s);
}

static void call_http_send(struct call_ctx *ctx)
{
    struct ag_scheduler *s = ctx->s;
    ctx->attempts++;
    struct ag_http_header headers[4] = {
        {"Content-Type", "application/json"},
        {"Accept", "application/json"},
        {NULL, NULL},
        {NULL, NULL},
    };
    if (s->stream_id)
        headers[2] = (struct ag_http_header){"Mesos-Stream-Id", s->stream_id};
    if (!ctx->url || ag_http_request(s->loop, "POST", ctx->url, headers, ctx->body, ctx->len,
                                     CALL_TIMEOUT, call_done_cb, ctx) < 0)
        call_finish(ctx, 0, "cannot send the request (bad master URL or out of memory)");
}

/* Sends through the test hook: synchronous, same reporting as HTTP. */
static int call_via_hook(struct ag_scheduler *s, const json_t *call, const char *type,
                         bool stop_on_success, ag_scheduler_done_cb done, void *done_arg)
{
    int code = s->hook(s, call, s->hook_arg);
    char msg[64];
    snprintf(msg, sizeof(msg), "HTTP %d", code);
    bool ok = code >= 200 && code < 300;
    if (ok && stop_on_success)
        ag_scheduler_stop(s);
    if (done)
        done(s, code, ok ? NULL : msg, done_arg);
    else if (!ok && s->cb.call_failed)
        s->cb.call_failed(s, type, code, msg, s->arg);
    return 0;
}

static int send_body(struct ag_scheduler *s, const char *type, char *body, size_t len,
                     bool stop_on_success, ag_scheduler_done_cb done, void *arg);

static int send_call(struct ag_scheduler *s, json_t *call, bool stop_on_success,
                     ag_scheduler_done_cb done, void *arg)
{
    if (!s || !json_is_object(call)) {
        json_decref(call);
        return -EINVAL;
    }
    CHECK_MAGIC(s);
    if (!s->framework_id || s->free_pending) {
        json_decref(call);
        return -ENOTCONN;
    }
    ag_json_set_id(call, "framework_id", s->framework_id);
    const char *type = json_string_value(json_object_get(call, "type"));
    if (!type)
        type = "UNKNOWN";
    if (stop_on_success)
        s->tearing_down = true;
    if (s->hook) {
        int r = call_via_hook(s, call, type, stop_on_success, done, arg);
        json_decref(call);
        return r;
    }
    size_t len = 0;
    char type_copy[sizeof(((struct call_ctx *)0)->type)];
    snprintf(type_copy, sizeof(type_copy), "%s", type); /* `type` is in the tree */
    char *body = ag_json_dump(call, &len);
    json_decref(call);
    return send_body(s, type_copy, body, len, stop_on_success, done, arg);
}

/* Sends a call already rendered (`body` is taken, NULL is out of memory). */
static int send_body(struct ag_scheduler *s, const char *type, char *body, size_t len,
                     bool stop_on_success, ag_scheduler_done_cb done, void *arg)
{
    struct call_ctx *ctx = calloc(1, sizeof(*ctx));
    if (!ctx) {
        free(body);
        return -ENOMEM;
    }
    snprintf(ctx->type, sizeof(ctx->type), "%s", type);
    ctx->body = body;
    ctx->len = len;
    ctx->url = join_url(s->master, SCHED_PATH);
    if (!ctx->body || !ctx->url) {
        free(ctx->body);
        free(ctx->url);
        free(ctx);
        return -ENOMEM;
    }
    ctx->s = s;
    ctx->stop_on_success = stop_on_success;
    ctx->done = done;
    ctx->done_arg = arg;
    ctx->next = s->calls;
    if (s->calls)
        s->calls->prev = ctx;
    s->calls = ctx;
    call_http_send(ctx);
    return 0;
}

int ag_scheduler_send(struct ag_scheduler *s, json_t *call, ag_scheduler_done_cb done, void *arg)
{
    return send_call(s, call, false, done, arg);
}

static int send_simple(struct ag_scheduler *s, const char *type, const char *field, json_t *payload)
{
    json_t *call = json_pack("{s:s}", "type", type);
    if (!call) {
        json_decref(payload);
        return -ENOMEM;
    }
    if (payload)
        json_object_set_new(call, field, payload);
    return ag_scheduler_send(s, call, NULL, NULL);
}

static json_t *id_array(const char *const *ids, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, ag_json_id(ids[i]));
    return arr;
}

static json_t *string_array(const char *const *items, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_string(items[i]));
    return arr;
}

static void add_filters(json_t *payload, double refuse_seconds)
{
    if (refuse_seconds >= 0)
        json_object_set_new(payload, "filters",
                            json_pack("{s:f}", "refuse_seconds", refuse_seconds));
}

int ag_scheduler_accept(struct ag_scheduler *s, const char *const *offer_ids, size_t n,
                        json_t *operations, double refuse_seconds)
{
    if (n == 0 || (operations && !json_is_array(operations))) {
        json_decref(operations);
        return -EINVAL;
    }
    json_t *payload = json_pack("{s:o,s:o}", "offer_ids", id_array(offer_ids, n), "operations",
                                operations ? operations : json_array());
    add_filters(payload, refuse_seconds);
    return send_simple(s, "ACCEPT", "accept", payload);
}

int ag_scheduler_launch(struct ag_scheduler *s, const json_t *offer,
                        const struct ag_sched_task *tasks, size_t n, double refuse_seconds)
{
    char err[256];
    int code = 0;
    const char *offer_id = ag_json_get_id(offer, "id", true, err, sizeof(err));
    if (!offer_id)
        return -EINVAL;
    json_t *op = ag_scheduler_build_launch(offer, tasks, n, &code, err, sizeof(err));
    if (!op)
        return code;
    json_t *ops = json_array();
    json_array_append_new(ops, op);
    return ag_scheduler_accept(s, &offer_id, 1, ops, refuse_seconds);
}

int ag_scheduler_decline(struct ag_scheduler *s, const char *const *offer_ids, size_t n,
                         double refuse_seconds)
{
    if (n == 0)
        return -EINVAL;
    json_t *payload = json_pack("{s:o}", "offer_ids", id_array(offer_ids, n));
    add_filters(payload, refuse_seconds);
    return send_simple(s, "DECLINE", "decline", payload);
}

int ag_scheduler_decline_offer(struct ag_scheduler *s, const json_t *offer, double refuse_seconds)
{
    char err[128];
    const char *id = ag_json_get_id(offer, "id", true, err, sizeof(err));
    if (!id)
        return -EINVAL;
    return ag_scheduler_decline(s, &id, 1, refuse_seconds);
}

int ag_scheduler_kill(struct ag_scheduler *s, const char *task_id, const char *agent_id)
{
    if (!task_id)
        return -EINVAL;
    json_t *payload = json_pack("{s:{s:s}}", "task_id", "value", task_id);
    ag_json_set_id(payload, "agent_id", agent_id);
    return send_simple(s, "KILL", "kill", payload);
}

/* ACKNOWLEDGE, one per status update, written as text: the bytes the tree
 * path (send_simple, then framework_id added) dumped, without building and
 * dumping a tree (bench/README.md, "Master throughput, second round"). A
 * call hook still gets the tree. */
static int send_ack_text(struct ag_scheduler *s, const char *agent_id, const char *task_id,
                         const char *uuid)
{
    struct ag_jw w;
    ag_jw_init(&w);
    ag_jw_obj_begin(&w);
    ag_jw_key_str(&w, "type", "ACKNOWLEDGE");
    ag_jw_key(&w, "acknowledge");
    ag_jw_obj_begin(&w);
    ag_jw_key(&w, "agent_id");
    ag_jw_obj_begin(&w);
    ag_jw_key_str(&w, "value", agent_id);
    ag_jw_obj_end(&w);
    ag_jw_key(&w, "task_id");
    ag_jw_obj_begin(&w);
    ag_jw_key_str(&w, "value", task_id);
    ag_jw_obj_end(&w);
    ag_jw_key_str(&w, "uuid", uuid);
    ag_jw_obj_end(&w);
    ag_jw_key(&w, "framework_id");
    ag_jw_obj_begin(&w);
    ag_jw_key_str(&w, "value", s->framework_id);
    ag_jw_obj_end(&w);
    ag_jw_obj_end(&w);
    if (w.oom || w.bad) {
        ag_jw_release(&w);
        return -ENOMEM;
    }
    /* The writer's buffer is a malloc'd NUL-terminated string: the call
     * takes it. */
    return send_body(s, "ACKNOWLEDGE", w.buf, w.len, false, NULL, NULL);
}

int ag_scheduler_acknowledge(struct ag_scheduler *s, const char *agent_id, const char *task_id,
                             const char *uuid)
{
    if (!agent_id || !task_id || !uuid)
        return -EINVAL;
    if (s && !s->hook && s->magic == SCHED_MAGIC && s->framework_id && !s->free_pending)
        return send_ack_text(s, agent_id, task_id, uuid);
    json_t *payload = json_pack("{s:{s:s},s:{s:s},s:s}", "agent_id", "value", agent_id, "task_id",
                                "value", task_id, "uuid", uuid);
    return send_simple(s, "ACKNOWLEDGE", "acknowledge", payload);
}

int ag_scheduler_acknowledge_status(struct ag_scheduler *s, const json_t *status)
{
    char err[128];
    const char *uuid = json_string_value(ag_json_get(status, "uuid"));
    if (!uuid)
        return 0;
    const char *task_id = ag_json_get_id(status, "task_id", true, err, sizeof(err));
    const char *agent_id = ag_json_get_id(status, "agent_id", true, err, sizeof(err));
    if (!task_id || !agent_id)
        return -EINVAL;
    return ag_scheduler_acknowledge(s, agent_id, task_id, uuid);
}

int ag_scheduler_reconcile(struct ag_scheduler *s, const struct ag_sched_task_ref *tasks, size_t n)
{
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++) {
        if (!tasks[i].task_id) {
            json_decref(list);
            return -EINVAL;
        }
        json_t *t = json_pack("{s:{s:s}}", "task_id", "value", tasks[i].task_id);
        ag_json_set_id(t, "agent_id", tasks[i].agent_id);
        json_array_append_new(list, t);
    }
    return send_simple(s, "RECONCILE", "reconcile", json_pack("{s:o}", "tasks", list));
}

int ag_scheduler_revive(struct ag_scheduler *s, const char *const *roles, size_t n)
{
    json_t *payload = n ? json_pack("{s:o}", "roles", string_array(roles, n)) : NULL;
    return send_simple(s, "REVIVE", "revive", payload);
}

int ag_scheduler_suppress(struct ag_scheduler *s, const char *const *roles, size_t n)
{
    json_t *payload = n ? json_pack("{s:o}", "roles", string_array(roles, n)) : NULL;
    return send_simple(s, "SUPPRESS", "suppress", payload);
}

int ag_scheduler_shutdown(struct ag_scheduler *s, const char *executor_id, const char *agent_id)
{
    if (!executor_id || !agent_id)
        return -EINVAL;
    json_t *payload = json_pack("{s:{s:s},s:{s:s}}", "executor_id", "value", executor_id,
                                "agent_id", "value", agent_id);
    return send_simple(s, "SHUTDOWN", "shutdown", payload);
}

int ag_scheduler_message(struct ag_scheduler *s, const char *agent_id, const char *executor_id,
                         const void *data, size_t len)
{
    if (!agent_id || !executor_id || (!data && len))
        return -EINVAL;
    char *b64 = ag_base64_encode(data ? data : (const void *)"", len);
    if (!b64)
        return -ENOMEM;
    json_t *payload = json_pack("{s:{s:s},s:{s:s},s:s}", "agent_id", "value", agent_id,
                                "executor_id", "value", executor_id, "data", b64);
    free(b64);
    return send_simple(s, "MESSAGE", "message", payload);
}

int ag_scheduler_teardown(struct ag_scheduler *s, ag_scheduler_done_cb done, void *arg)
{
    return send_call(s, json_pack("{s:s}", "type", "TEARDOWN"), true, done, arg);
}

static void flush_timer_cb(void *arg)
{
    struct ag_scheduler *s = arg;
    if (s->calls || !s->flush_cb)
        return;
    ag_scheduler_done_cb cb = s->flush_cb;
    void *cb_arg = s->flush_arg;
    s->flush_cb = NULL;
    enter(s);
    cb(s, 0, NULL, cb_arg);
    leave(s);
}

int ag_scheduler_flush(struct ag_scheduler *s, ag_scheduler_done_cb done, void *arg)
{
    if (!s || !done || s->free_pending)
        return -EINVAL;
    s->flush_cb = done;
    s->flush_arg = arg;
    if (!s->calls)
        ag_timer_start(s->flush_timer, 0);
    return 0;
}

/* --- events --- */

static void arm_heartbeat(struct ag_scheduler *s)
{
    if (s->heartbeat_timer && s->stream)
        ag_timer_start(s->heartbeat_timer, HEARTBEAT_MISSES * s->heartbeat_interval);
}

static void on_subscribed(struct ag_scheduler *s, const json_t *payload)
{
    char err[128];
    const char *fid = ag_json_get_id(payload, "framework_id", true, err, sizeof(err));
    if (fid) {
        set_str(&s->framework_id, fid);
        ag_json_set_id(s->framework_info, "id", fid);
    }
    double hb = HEARTBEAT_DEFAULT;
    if (ag_json_get_number(payload, "heartbeat_interval_seconds", false, &hb, err, sizeof(err)) ==
            0 &&
        hb > 0)
        s->heartbeat_interval = hb;
    s->subscribed = true;
    s->backoff = BACKOFF_INITIAL;
    s->redirects = 0;
    arm_heartbeat(s);
    if (s->cb.subscribed && s->framework_id)
        s->cb.subscribed(s, s->framework_id, payload, s->arg);
}

static void on_update(struct ag_scheduler *s, const json_t *payload)
{
    json_t *status = ag_json_get(payload, "status");
    if (!json_is_object(status))
        return;
    /* Keep the status alive even if the callback frees the event. */
    json_incref(status);
    if (s->cb.update)
        s->cb.update(s, status, s->arg);
    if (s->auto_ack && !s->free_pending)
        ag_scheduler_acknowledge_status(s, status);
    json_decref(status);
}

static void on_message(struct ag_scheduler *s, const json_t *payload)
{
    if (!s->cb.message)
        return;
    char err[128];
    const char *agent = ag_json_get_id(payload, "agent_id", false, err, sizeof(err));
    const char *exec = ag_json_get_id(payload, "executor_id", false, err, sizeof(err));
    const char *data = json_string_value(ag_json_get(payload, "data"));
    size_t len = 0;
    uint8_t *bytes = ag_base64_decode(data ? data : "", &len);
    if (!bytes)
        return; /* malformed data: nothing sensible to deliver */
    s->cb.message(s, agent, exec, bytes, len, s->arg);
    free(bytes);
}

static void on_failure(struct ag_scheduler *s, const json_t *payload)
{
    if (!s->cb.failure)
        return;
    char err[128];
    const char *agent = ag_json_get_id(payload, "agent_id", false, err, sizeof(err));
    const char *exec = ag_json_get_id(payload, "executor_id", false, err, sizeof(err));
    double status = -1;
    ag_json_get_number(payload, "status", false, &status, err, sizeof(err));
    s->cb.failure(s, agent, exec, (int)status, s->arg);
}

static void close_stream(struct ag_scheduler *s)
{
    if (s->stream) {
        ag_http_client_stream_close(s->stream);
        s->stream = NULL;
    }
    s->generation++;
    s->subscribed = false;
    set_str(&s->stream_id, NULL);
    if (s->heartbeat_timer)
        ag_timer_stop(s->heartbeat_timer);
}

/* A final error: no more re-subscription. */
static void fail_fatally(struct ag_scheduler *s, const char *message)
{
    close_stream(s);
    s->running = false;
    if (s->reconnect_timer)
        ag_timer_stop(s->reconnect_timer);
    if (s->cb.error)
        s->cb.error(s, message, s->arg);
}

static void on_error(struct ag_scheduler *s, const json_t *payload)
{
    const char *msg = json_string_value(ag_json_get(ag_json_get(payload, "error"), "message"));
    if (!msg) /* some documents put it at the top level */
        msg = json_string_value(ag_json_get(payload, "message"));
    fail_fatally(s, msg ? msg : "error event without a message");
}

static void dispatch(struct ag_scheduler *s, const json_t *event)
{
    const char *type = json_string_value(ag_json_get(event, "type"));
    if (!type)
        type = "";
    if (strcmp(type, "SUBSCRIBED") == 0) {
        on_subscribed(s, ag_json_get(event, "subscribed"));
    } else if (strcmp(type, "OFFERS") == 0) {
        json_t *offers = ag_json_get(ag_json_get(event, "offers"), "offers");
        if (s->cb.offers && json_is_array(offers) && json_array_size(offers) > 0)
            s->cb.offers(s, offers, s->arg);
    } else if (strcmp(type, "RESCIND") == 0) {
        char err[128];
        const char *id =
            ag_json_get_id(ag_json_get(event, "rescind"), "offer_id", true, err, sizeof(err));
        if (s->cb.rescind && id)
            s->cb.rescind(s, id, s->arg);
    } else if (strcmp(type, "UPDATE") == 0) {
        on_update(s, ag_json_get(event, "update"));
    } else if (strcmp(type, "MESSAGE") == 0) {
        on_message(s, ag_json_get(event, "message"));
    } else if (strcmp(type, "FAILURE") == 0) {
        on_failure(s, ag_json_get(event, "failure"));
    } else if (strcmp(type, "ERROR") == 0) {
        on_error(s, event);
    } else if (strcmp(type, "HEARTBEAT") == 0) {
        if (s->cb.heartbeat)
            s->cb.heartbeat(s, s->arg);
    } else if (s->cb.other) {
        s->cb.other(s, event, s->arg);
    }
}

struct feed_state {
    struct ag_scheduler *s;
    unsigned generation;
    bool bad_json;
};

static int record_cb(const char *data, size_t len, void *arg)
{
    struct feed_state *fs = arg;
    struct ag_scheduler *s = fs->s;
    char err[160];
    json_t *event = ag_json_parse(data, len, err, sizeof(err));
    if (!event) {
        fs->bad_json = true;
        return -EBADMSG;
    }
    arm_heartbeat(s);
    dispatch(s, event);
    json_decref(event);
    /* Stop if a callback freed us, or replaced / closed the stream. */
    if (s->free_pending || s->generation != fs->generation)
        return 1;
    return 0;
}

/* Decodes bytes of the current stream. Negative on a malformed stream. */
static int feed_bytes(struct ag_scheduler *s, const char *data, size_t len)
{
    struct feed_state fs = {.s = s, .generation = s->generation};
    int r = ag_recordio_feed(&s->dec, data, len, record_cb, &fs);
    if (r == 1)
        return 0;
    return r < 0 ? (fs.bad_json ? -EBADMSG : r) : 0;
}

/* --- the subscription stream --- */

static void reconnect_cb(void *arg)
{
    struct ag_scheduler *s = arg;
    enter(s);
    if (s->running && !s->stream)
        subscribe_now(s);
    leave(s);
}

/* The stream is gone (or never came up): tell the user and retry later. */
static void lost(struct ag_scheduler *s, const char *reason, double delay)
{
    close_stream(s);
    if (!s->running)
        return;
    if (delay < 0) {
        delay = s->backoff;
        s->backoff = s->backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : s->backoff * 2;
    }
    ag_timer_start(s->reconnect_timer, delay);
    if (s->cb.disconnected)
        s->cb.disconnected(s, reason, delay, s->arg);
}

static void stream_open(struct ag_http_client_stream *st, const struct ag_http_response *resp,
                        void *arg)
{
    struct ag_scheduler *s = arg;
    (void)st;
    enter(s);
    s->stream_code = ag_http_response_code(resp);
    if (s->stream_code == 200) {
        set_str(&s->stream_id, ag_http_response_header(resp, "Mesos-Stream-Id"));
        ag_recordio_decoder_release(&s->dec);
        ag_recordio_decoder_init(&s->dec, AG_RECORDIO_MAX_DEFAULT);
        /* Until SUBSCRIBED says otherwise, expect the default heartbeat. */
        arm_heartbeat(s);
    } else if (s->stream_code == 307) {
        set_str(&s->stream_location, ag_http_response_header(resp, "Location"));
    }
    leave(s);
}

static void stream_data(struct ag_http_client_stream *st, const char *data, size_t len, void *arg)
{
    struct ag_scheduler *s = arg;
    (void)st;
    enter(s);
    if (s->stream_code == 200) {
        s->data_at = ag_monotonic();
        if (feed_bytes(s, data, len) < 0 && !s->free_pending)
            lost(s, "malformed event stream", -1);
        s->data_at = 0;
    } else if (s->stream_body_len < ERROR_BODY_MAX) {
        size_t take =
            len < ERROR_BODY_MAX - s->stream_body_len ? len : ERROR_BODY_MAX - s->stream_body_len;
        char *grown = realloc(s->stream_body, s->stream_body_len + take + 1);
        if (grown) {
            memcpy(grown + s->stream_body_len, data, take);
            s->stream_body_len += take;
            grown[s->stream_body_len] = '\0';
            s->stream_body = grown;
        }
    }
    leave(s);
}

double ag_scheduler_event_arrival(const struct ag_scheduler *s)
{
    return s->data_at;
}

static void stream_closed(struct ag_http_client_stream *st, const char *reason, void *arg)
{
    struct ag_scheduler *s = arg;
    (void)st;
    enter(s);
    s->stream = NULL; /* freed by the client after this returns */
    int code = s->stream_code;
    if (s->tearing_down) {
        /* The master ends the stream of a framework it removes. */
        close_stream(s);
        leave(s);
        return;
    }
    char msg[600];
    const char *body = s->stream_body ? s->stream_body : "";
    if (code == 200) {
        snprintf(msg, sizeof(msg), "subscription stream closed: %s",
                 reason ? reason : "end of stream");
        lost(s, msg, -1);
    } else if (code == 307) {
        char *base = NULL;
        if (s->redirects < MAX_REDIRECTS &&
            ag_scheduler_parse_location(s->stream_location, &base) == 0) {
            free(s->master);
            s->master = base;
            s->redirects++;
            snprintf(msg, sizeof(msg), "redirected to the leading master %s", s->master);
            lost(s, msg, 0);
        } else {
            s->redirects = 0;
            lost(s, "too many redirects, or a redirect without a usable Location", -1);
        }
    } else if (code >= 400 && code < 500) {
        snprintf(msg, sizeof(msg), "SUBSCRIBE refused (HTTP %d): %s", code,
                 *body ? body : "no message");
        fail_fatally(s, msg);
    } else if (code == 0) {
        snprintf(msg, sizeof(msg), "cannot reach the master at %s: %s", s->master,
                 reason ? reason : "connection failed");
        lost(s, msg, -1);
    } else {
        snprintf(msg, sizeof(msg), "SUBSCRIBE failed (HTTP %d): %s", code,
                 *body ? body : "no message");
        lost(s, msg, -1);
    }
    leave(s);
}

static const struct ag_http_client_stream_ops stream_ops = {
    .on_open = stream_open,
    .on_data = stream_data,
    .on_closed = stream_closed,
};

static void heartbeat_cb(void *arg)
{
    struct ag_scheduler *s = arg;
    enter(s);
    if (s->stream) {
        char msg[128];
        snprintf(msg, sizeof(msg), "no event for %g seconds (%d missed heartbeats)",
                 HEARTBEAT_MISSES * s->heartbeat_interval, HEARTBEAT_MISSES);
        lost(s, msg, -1);
    }
    leave(s);
}

static json_t *subscribe_call(struct ag_scheduler *s)
{
    json_t *call = json_pack("{s:s,s:{s:O}}", "type", "SUBSCRIBE", "subscribe", "framework_info",
                             s->framework_info);
    if (call && s->framework_id)
        ag_json_set_id(call, "framework_id", s->framework_id);
    return call;
}

static void subscribe_now(struct ag_scheduler *s)
{
    close_stream(s);
    s->stream_code = 0;
    set_str(&s->stream_location, NULL);
    free(s->stream_body);
    s->stream_body = NULL;
    s->stream_body_len = 0;
    ag_recordio_decoder_release(&s->dec);
    ag_recordio_decoder_init(&s->dec, AG_RECORDIO_MAX_DEFAULT);

    json_t *call = subscribe_call(s);
    size_t len = 0;
    char *body = call ? ag_json_dump(call, &len) : NULL;
    json_decref(call);
    char *url = join_url(s->master, SCHED_PATH);
    static const struct ag_http_header headers[] = {
        {"Content-Type", "application/json"},
        {"Accept", "application/json"},
        {NULL, NULL},
    };
    if (body && url)
        s->stream = ag_http_client_stream_open(s->loop, url, headers, body, len, &stream_ops, s);
    free(body);
    free(url);
    if (!s->stream)
        lost(s, "cannot open the subscription (bad master URL or out of memory)", -1);
    else
        arm_heartbeat(s); /* also bounds a connection attempt that hangs */
}

/* --- lifecycle --- */

static void fill_defaults(json_t *fi)
{
    if (!json_is_string(json_object_get(fi, "user"))) {
        const char *user = NULL;
        struct passwd *pw = getpwuid(getuid());
        if (pw && pw->pw_name)
            user = pw->pw_name;
        if (!user)
            user = getenv("USER");
        json_object_set_new(fi, "user", json_string(user ? user : "root"));
    }
    if (!json_is_string(json_object_get(fi, "name")))
        json_object_set_new(fi, "name", json_string(DEFAULT_FRAMEWORK));
}

struct ag_scheduler *ag_scheduler_new(struct ag_loop *loop, const char *master,
                                      const json_t *framework_info,
                                      const struct ag_scheduler_callbacks *callbacks, void *arg)
{
    if (!loop || (framework_info && !json_is_object(framework_info)))
        return NULL;
    struct ag_scheduler *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->magic = SCHED_MAGIC;
    s->loop = loop;
    s->arg = arg;
    s->auto_ack = true;
    s->backoff = BACKOFF_INITIAL;
    s->heartbeat_interval = HEARTBEAT_DEFAULT;
    if (callbacks)
        s->cb = *callbacks;
    ag_recordio_decoder_init(&s->dec, AG_RECORDIO_MAX_DEFAULT);
    if (ag_scheduler_master_url(master, &s->master) < 0)
        goto fail;
    s->framework_info = framework_info ? json_deep_copy(framework_info) : json_object();
    if (!s->framework_info)
        goto fail;
    fill_defaults(s->framework_info);
    char err[128];
    err[0] = '\0';
    const char *fid = ag_json_get_id(s->framework_info, "id", false, err, sizeof(err));
    if (err[0])
        goto fail;
    if (fid)
        s->framework_id = strdup(fid);
    s->reconnect_timer = ag_timer_new(loop, reconnect_cb, s);
    s->heartbeat_timer = ag_timer_new(loop, heartbeat_cb, s);
    s->flush_timer = ag_timer_new(loop, flush_timer_cb, s);
    if (!s->reconnect_timer || !s->heartbeat_timer || !s->flush_timer)
        goto fail;
    return s;
fail:
    destroy(s);
    return NULL;
}

int ag_scheduler_start(struct ag_scheduler *s)
{
    if (!s || s->free_pending)
        return -EINVAL;
    CHECK_MAGIC(s);
    if (s->running)
        return 0;
    s->running = true;
    s->backoff = BACKOFF_INITIAL;
    /* Subscribe from the loop, so no callback runs inside this call. */
    ag_timer_start(s->reconnect_timer, 0);
    return 0;
}

void ag_scheduler_stop(struct ag_scheduler *s)
{
    if (!s)
        return;
    s->running = false;
    if (s->reconnect_timer)
        ag_timer_stop(s->reconnect_timer);
    close_stream(s);
}

static void destroy(struct ag_scheduler *s)
{
    ag_scheduler_stop(s);
    /* Calls waiting for an HTTP answer keep their context, orphaned; calls
     * waiting on a retry timer can go now. */
    struct call_ctx *ctx = s->calls;
    while (ctx) {
        struct call_ctx *next = ctx->next;
        if (ctx->retry_timer && ag_timer_pending(ctx->retry_timer)) {
            call_free(ctx);
        } else {
            ctx->prev = ctx->next = NULL;
            ctx->s = NULL;
        }
        ctx = next;
    }
    s->calls = NULL;
    ag_timer_free(s->reconnect_timer);
    ag_timer_free(s->heartbeat_timer);
    ag_timer_free(s->flush_timer);
    ag_recordio_decoder_release(&s->dec);
    json_decref(s->framework_info);
    free(s->master);
    free(s->framework_id);
    free(s->stream_id);
    free(s->stream_location);
    free(s->stream_body);
    s->magic = 0;
    free(s);
}

void ag_scheduler_free(struct ag_scheduler *s)
{
    if (!s)
        return;
    CHECK_MAGIC(s);
    if (s->busy > 0) {
        ag_scheduler_stop(s);
        s->free_pending = true;
        return;
    }
    destroy(s);
}

bool ag_scheduler_subscribed(const struct ag_scheduler *s)
{
    return s && s->subscribed;
}

const char *ag_scheduler_framework_id(const struct ag_scheduler *s)
{
    return s ? s->framework_id : NULL;
}

const char *ag_scheduler_stream_id(const struct ag_scheduler *s)
{
    return s ? s->stream_id : NULL;
}

const char *ag_scheduler_master(const struct ag_scheduler *s)
{
    return s ? s->master : NULL;
}

size_t ag_scheduler_calls_in_flight(const struct ag_scheduler *s)
{
    size_t n = 0;
    for (const struct call_ctx *c = s ? s->calls : NULL; c; c = c->next)
        n++;
    return n;
}

void ag_scheduler_set_auto_ack(struct ag_scheduler *s, bool on)
{
    if (s)
        s->auto_ack = on;
}

void ag_scheduler_set_call_hook(struct ag_scheduler *s, ag_scheduler_call_hook hook, void *arg)
{
    if (!s)
        return;
    s->hook = hook;
    s->hook_arg = arg;
}

int ag_scheduler_feed(struct ag_scheduler *s, const char *data, size_t len)
{
    if (!s || (!data && len))
        return -EINVAL;
    CHECK_MAGIC(s);
    enter(s);
    int r = feed_bytes(s, data, len);
    if (r < 0 && !s->free_pending) {
        /* A fed stream has no connection to lose; just start over clean. */
        ag_recordio_decoder_release(&s->dec);
        ag_recordio_decoder_init(&s->dec, AG_RECORDIO_MAX_DEFAULT);
    }
    leave(s);
    return r;
}
