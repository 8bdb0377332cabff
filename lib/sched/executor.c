/*
 * executor: the C executor SDK (see include/agora/executor.h for the
 * contract). One SUBSCRIBE stream from the agent, calls one at a time in
 * order, and the bookkeeping that makes status updates reliable: every
 * update is kept until ACKNOWLEDGED, re-sent if the acknowledgement is
 * slow, and carried over a re-subscription.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agora/executor.h"
#include "core/flags.h"
#include "core/http.h"
#include "core/id.h"
#include "core/json.h"
#include "core/loop.h"
#include "core/proto.h"
#include "core/recordio.h"

#define RESEND_AFTER        10.0 /* an update not acknowledged by then is sent again */
#define RESEND_CHECK        2.0
#define CALL_RETRY          1.0 /* after a transport failure or a 5xx/403 */
#define CALL_TIMEOUT        30.0
#define INITIAL_CONNECT_MAX 10.0 /* before the first SUBSCRIBED: keep trying this long */

struct pending_update {
    char uuid[32];
    char *task_id;
    json_t *status;    /* the TaskStatus as sent */
    double sent_at;    /* monotonic; 0 = not sent on this subscription */
    bool queued;       /* in the call queue now */
    bool in_subscribe; /* carried by the SUBSCRIBE in flight */
};

struct call_item {
    struct call_item *next;
    json_t *call;
    char uuid[32]; /* for UPDATE: which pending update; "" otherwise */
};

/* The context of one HTTP call in flight; detached (e = NULL) if the
 * executor goes away first. Detached tickets stay listed (reachable) until
 * their answer comes, which may be never if the loop is freed first. */
struct ticket {
    struct ag_executor *e;
    struct ticket *next; /* in `orphans` once detached */
};

static _Thread_local struct ticket *orphans;

static void ticket_detach(struct ticket *t)
{
    t->e = NULL;
    t->next = orphans;
    orphans = t;
}

static void ticket_free(struct ticket *t)
{
    if (!t->e) {
        struct ticket **pp = &orphans;
        while (*pp && *pp != t)
            pp = &(*pp)->next;
        if (*pp)
            *pp = t->next;
    }
    free(t);
}

struct ag_executor {
    struct ag_loop *loop;
    struct ag_executor_callbacks cb;
    void *arg;
    char *endpoint, *framework_id, *executor_id;
    bool checkpoint;
    double recovery_timeout, backoff_max;
    char url[512];

    struct ag_http_client_stream *stream;
    struct ag_recordio_decoder dec;
    int code;          /* HTTP status of the current SUBSCRIBE */
    char refusal[512]; /* body of a refused SUBSCRIBE */
    bool started, stopped, subscribed, ever_subscribed;
    double lost_at; /* monotonic time the subscription was lost (0 = never) */
    double backoff;
    json_t *info; /* the last SUBSCRIBED payload */

    struct pending_update *updates;
    size_t n_updates, cap_updates;
    json_t *tasks; /* task id -> TaskInfo, launched and no update acknowledged */

    struct call_item *head, *tail;
    struct ticket *in_flight;
    bool pumping;

    struct ag_timer *reconnect_timer, *resend_timer, *call_timer;
    ag_executor_call_hook hook;
    void *hook_arg;
};

/* ------------------------------------------------------------------ */
/* configuration                                                       */

static int env_duration(const char *name, double dflt, double *ret, char *err, size_t errlen)
{
    const char *v = getenv(name);
    if (!v || !*v) {
        *ret = dflt;
        return 0;
    }
    if (ag_duration_parse(v, ret) < 0) {
        snprintf(err, errlen, "%s: '%s' is not a duration", name, v);
        return -EINVAL;
    }
    return 0;
}

int ag_executor_config_from_env(struct ag_executor_config *cfg, char *err, size_t errlen)
{
    static const char *const required[] = {"MESOS_AGENT_ENDPOINT", "MESOS_FRAMEWORK_ID",
                                           "MESOS_EXECUTOR_ID"};
    const char *cp;

    memset(cfg, 0, sizeof(*cfg));
    for (size_t i = 0; i < 3; i++) {
        const char *v = getenv(required[i]);
        if (!v || !*v) {
            snprintf(err, errlen, "%s is not set (is this process run by an agent?)", required[i]);
            return -EINVAL;
        }
    }
    cfg->agent_endpoint = getenv("MESOS_AGENT_ENDPOINT");
    cfg->framework_id = getenv("MESOS_FRAMEWORK_ID");
    cfg->executor_id = getenv("MESOS_EXECUTOR_ID");
    cfg->sandbox = getenv("MESOS_SANDBOX");
    if (!cfg->sandbox)
        cfg->sandbox = getenv("MESOS_DIRECTORY");
    cp = getenv("MESOS_CHECKPOINT");
    cfg->checkpoint = cp && strcmp(cp, "1") == 0;
    if (env_duration("MESOS_RECOVERY_TIMEOUT", 15 * 60, &cfg->recovery_timeout, err, errlen) < 0 ||
        env_duration("MESOS_SUBSCRIPTION_BACKOFF_MAX", 2, &cfg->subscription_backoff_max, err,
                     errlen) < 0 ||
        env_duration("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", 5, &cfg->shutdown_grace_period, err,
                     errlen) < 0)
        return -EINVAL;
    return 0;
}

/* ------------------------------------------------------------------ */
/* calls                                                               */

static json_t *call_new(const struct ag_executor *e, const char *type)
{
    json_t *call = json_pack("{s:s}", "type", type);
    if (!call)
        return NULL;
    ag_json_set_id(call, "framework_id", e->framework_id);
    ag_json_set_id(call, "executor_id", e->executor_id);
    return call;
}

static struct pending_update *update_find(const struct ag_executor *e, const char *uuid)
{
    for (size_t i = 0; i < e->n_updates; i++)
        if (strcmp(e->updates[i].uuid, uuid) == 0)
            return &e->updates[i];
    return NULL;
}

static void update_remove(struct ag_executor *e, const char *uuid)
{
    struct pending_update *u = update_find(e, uuid);
    size_t i;
    if (!u)
        return;
    i = (size_t)(u - e->updates);
    free(u->task_id);
    json_decref(u->status);
    memmove(&e->updates[i], &e->updates[i + 1], (e->n_updates - i - 1) * sizeof(e->updates[0]));
    e->n_updates--;
}

static void queue_clear(struct ag_executor *e)
{
    while (e->head) {
        struct call_item *c = e->head;
        e->head = c->next;
        json_decref(c->call);
        free(c);
    }
    e->tail = NULL;
    for (size_t i = 0; i < e->n_updates; i++)
        e->updates[i].queued = false;
    if (e->in_flight) {
        ticket_detach(e->in_flight); /* its answer will be ignored */
        e->in_flight = NULL;
    }
    ag_timer_stop(e->call_timer);
}

static int enqueue(struct ag_executor *e, json_t *call, const char *uuid)
{
    struct call_item *c = calloc(1, sizeof(*c));
    if (!c) {
        json_decref(call);
        return -ENOMEM;
    }
    c->call = call;
    if (uuid)
        snprintf(c->uuid, sizeof(c->uuid), "%s", uuid);
    if (e->tail)
        e->tail->next = c;
    else
        e->head = c;
    e->tail = c;
    return 0;
}

static void report_error(struct ag_executor *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void report_error(struct ag_executor *e, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    if (!e->cb.error)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    e->cb.error(e, msg, e->arg);
}

static void pump(struct ag_executor *e);

/* The head call got an answer (code 0 = none). */
static void call_answered(struct ag_executor *e, int code, const char *body, size_t len)
{
    struct call_item *c = e->head;
    const char *type;

    if (!c)
        return;
    if (code == 0 || code >= 500 || code == 403) {
        /* Transient: the agent is busy, restarting, or has not seen our
         * SUBSCRIBE yet. Try again shortly, in order. */
        ag_timer_start(e->call_timer, CALL_RETRY);
        return;
    }
    e->head = c->next;
    if (!e->head)
        e->tail = NULL;
    type = json_string_value(json_object_get(c->call, "type"));
    if (code >= 200 && code < 300) {
        struct pending_update *u = c->uuid[0] ? update_find(e, c->uuid) : NULL;
        if (u) {
            u->queued = false;
            u->sent_at = ag_monotonic();
        }
    } else {
        if (c->uuid[0])
            update_remove(e, c->uuid); /* refused for good: never resend it */
        report_error(e, "agent refused %s: %d %.*s", type ? type : "call", code,
                     (int)(len > 400 ? 400 : len), body ? body : "");
    }
    json_decref(c->call);
    free(c);
}

static void call_done(const struct ag_http_response *resp, void *arg)
{
    struct ticket *t = arg;
    struct ag_executor *e = t->e;
    size_t len = 0;
    const char *body;

    ticket_free(t);
    if (!e)
        return;
    e->in_flight = NULL;
    body = ag_http_response_body(resp, &len);
    call_answered(e, ag_http_response_code(resp), body, len);
    pump(e);
}

static void send_head(struct ag_executor *e)
{
    struct call_item *c = e->head;
    char *body;
    size_t len;
    struct ticket *t;
    struct ag_http_header headers[] = {
        {"Content-Type", "application/json"},
        {"Accept", "application/json"},
        {NULL, NULL},
    };

    body = ag_json_dump(c->call, &len);
    t = calloc(1, sizeof(*t));
    if (!body || !t ||
        ag_http_request(e->loop, "POST", e->url, headers, body, len, CALL_TIMEOUT, call_done, t) <
            0) {
        free(body);
        free(t);
        ag_timer_start(e->call_timer, CALL_RETRY);
        return;
    }
    free(body);
    t->e = e;
    e->in_flight = t;
}

/* Sends queued calls, one at a time, while subscribed. */
static void pump(struct ag_executor *e)
{
    if (e->pumping)
        return;
    e->pumping = true;
    while (e->head && !e->in_flight && e->subscribed && !e->stopped &&
           !ag_timer_pending(e->call_timer)) {
        if (e->hook) {
            int code = e->hook(e, e->head->call, e->hook_arg);
            call_answered(e, code, "", 0);
            if (code == 0 || code >= 500 || code == 403)
                break;
        } else {
            send_head(e);
        }
    }
    e->pumping = false;
}

static void call_retry(void *arg)
{
    pump(arg);
}

static int queue_update(struct ag_executor *e, struct pending_update *u)
{
    json_t *call = call_new(e, "UPDATE");
    if (!call)
        return -ENOMEM;
    json_object_set_new(call, "update", json_pack("{s:O}", "status", u->status));
    u->queued = true;
    return enqueue(e, call, u->uuid);
}

/* Re-sends updates whose acknowledgement is late (the agent dedupes). */
static void resend_check(void *arg)
{
    struct ag_executor *e = arg;
    double now = ag_monotonic();
    if (!e->subscribed)
        return;
    for (size_t i = 0; i < e->n_updates; i++) {
        struct pending_update *u = &e->updates[i];
        if (!u->queued && u->sent_at > 0 && now - u->sent_at >= RESEND_AFTER)
            queue_update(e, u);
    }
    pump(e);
}

/* ------------------------------------------------------------------ */
/* the subscription                                                    */

static void subscribe(struct ag_executor *e);

static void close_stream(struct ag_executor *e)
{
    if (e->stream) {
        ag_http_client_stream_close(e->stream);
        e->stream = NULL;
    }
}

/* The subscription is gone: reconnect or give up. */
static void lost(struct ag_executor *e, const char *reason, bool refused)
{
    double now = ag_monotonic(), delay;
    bool final;

    close_stream(e);
    queue_clear(e);
    e->subscribed = false;
    if (e->lost_at == 0)
        e->lost_at = now;
    if (refused)
        final = true;
    else if (!e->ever_subscribed)
        final = now - e->lost_at >= INITIAL_CONNECT_MAX;
    else
        final = !e->checkpoint || now - e->lost_at >= e->recovery_timeout;
    if (final) {
        e->stopped = true;
        ag_timer_stop(e->resend_timer);
        if (e->cb.disconnected)
            e->cb.disconnected(e, reason, true, e->arg);
        return;
    }
    delay = e->backoff;
    e->backoff = e->backoff * 2 > e->backoff_max ? e->backoff_max : e->backoff * 2;
    if (e->ever_subscribed && e->cb.disconnected)
        e->cb.disconnected(e, reason, false, e->arg);
    if (!e->stopped)
        ag_timer_start(e->reconnect_timer, delay);
}

static void dispatch_subscribed(struct ag_executor *e, const json_t *event)
{
    json_t *sub = ag_json_get(event, "subscribed");
    json_decref(e->info);
    e->info = json_is_object(sub) ? json_deep_copy(sub) : json_object();
    e->subscribed = true;
    e->ever_subscribed = true;
    e->lost_at = 0;
    e->backoff = 0.1;
    /* Updates carried by SUBSCRIBE count as sent now (the agent
     * acknowledges them; resend_check covers a lost acknowledgement);
     * those made since go out as UPDATE calls. */
    for (size_t i = 0; i < e->n_updates; i++) {
        struct pending_update *u = &e->updates[i];
        if (u->in_subscribe)
            u->sent_at = ag_monotonic();
        else if (!u->queued)
            queue_update(e, u);
        u->in_subscribe = false;
    }
    if (e->cb.subscribed)
        e->cb.subscribed(e, e->info, e->arg);
    pump(e);
}

static void remember_task(struct ag_executor *e, const json_t *task)
{
    char err[64];
    const char *id = ag_json_get_id(task, "task_id", false, err, sizeof(err));
    if (id)
        json_object_set_new(e->tasks, id, json_deep_copy(task));
}

static void dispatch_acknowledged(struct ag_executor *e, const json_t *event)
{
    char err[128] = "";
    json_t *ack = ag_json_get(event, "acknowledged");
    const char *task_id = ag_json_get_id(ack, "task_id", true, err, sizeof(err));
    const char *uuid = json_string_value(ag_json_get(ack, "uuid"));
    char *task_copy, *uuid_copy;

    if (!task_id || !uuid)
        return;
    task_copy = strdup(task_id);
    uuid_copy = strdup(uuid);
    if (!task_copy || !uuid_copy) {
        free(task_copy);
        free(uuid_copy);
        return;
    }
    if (update_find(e, uuid_copy)) {
        update_remove(e, uuid_copy);
        json_object_del(e->tasks, task_copy);
    }
    if (e->cb.acknowledged)
        e->cb.acknowledged(e, task_copy, uuid_copy, e->arg);
    free(task_copy);
    free(uuid_copy);
}

static void dispatch(struct ag_executor *e, const char *type, const json_t *event)
{
    if (strcmp(type, "SUBSCRIBED") == 0) {
        dispatch_subscribed(e, event);
    } else if (strcmp(type, "LAUNCH") == 0) {
        json_t *task = ag_json_get(ag_json_get(event, "launch"), "task");
        if (!json_is_object(task))
            return;
        remember_task(e, task);
        if (e->cb.launch)
            e->cb.launch(e, task, e->arg);
    } else if (strcmp(type, "LAUNCH_GROUP") == 0) {
        json_t *group = ag_json_get(ag_json_get(event, "launch_group"), "task_group");
        json_t *t;
        size_t i;
        if (!json_is_object(group))
            return;
        json_array_foreach(ag_json_get(group, "tasks"), i, t) remember_task(e, t);
        if (e->cb.launch_group)
            e->cb.launch_group(e, group, e->arg);
    } else if (strcmp(type, "KILL") == 0) {
        char err[128];
        json_t *kill = ag_json_get(event, "kill");
        const char *task_id = ag_json_get_id(kill, "task_id", true, err, sizeof(err));
        if (task_id && e->cb.kill)
            e->cb.kill(e, task_id, ag_json_get(kill, "kill_policy"), e->arg);
    } else if (strcmp(type, "ACKNOWLEDGED") == 0) {
        dispatch_acknowledged(e, event);
    } else if (strcmp(type, "MESSAGE") == 0) {
        const char *data = json_string_value(ag_json_get(ag_json_get(event, "message"), "data"));
        size_t len = 0;
        uint8_t *bytes = data ? ag_base64_decode(data, &len) : NULL;
        if (bytes && e->cb.message)
            e->cb.message(e, bytes, len, e->arg);
        free(bytes);
    } else if (strcmp(type, "SHUTDOWN") == 0) {
        if (e->cb.shutdown)
            e->cb.shutdown(e, e->arg);
    } else if (strcmp(type, "ERROR") == 0) {
        const char *msg = json_string_value(ag_json_get(ag_json_get(event, "error"), "message"));
        report_error(e, "%s", msg ? msg : "ERROR event without a message");
    }
    /* HEARTBEAT and unknown events need nothing. */
}

static int on_record(const char *data, size_t len, void *arg)
{
    struct ag_executor *e = arg;
    char err[256];
    json_t *event = ag_json_parse(data, len, err, sizeof(err));
    const char *type;

    if (!event) {
        report_error(e, "bad event from the agent: %s", err);
        return 0;
    }
    type = json_string_value(json_object_get(event, "type"));
    if (type)
        dispatch(e, type, event);
    json_decref(event);
    return e->stopped ? 1 : 0;
}

static void stream_open(struct ag_http_client_stream *s, const struct ag_http_response *resp,
                        void *arg)
{
    struct ag_executor *e = arg;
    (void)s;
    e->code = ag_http_response_code(resp);
    e->refusal[0] = '\0';
}

static void stream_data(struct ag_http_client_stream *s, const char *data, size_t len, void *arg)
{
    struct ag_executor *e = arg;
    int rc;
    (void)s;
    if (e->code != 200) {
        size_t have = strlen(e->refusal);
        if (have + 1 < sizeof(e->refusal))
            snprintf(e->refusal + have, sizeof(e->refusal) - have, "%.*s", (int)len, data);
        return;
    }
    rc = ag_recordio_feed(&e->dec, data, len, on_record, e);
    if (rc < 0 && !e->stopped) {
        report_error(e, "malformed event stream from the agent");
        lost(e, "malformed event stream", false);
    }
}

static void stream_closed(struct ag_http_client_stream *s, const char *reason, void *arg)
{
    struct ag_executor *e = arg;
    (void)s;
    e->stream = NULL; /* freed by the client after this returns */
    if (e->stopped)
        return;
    if (e->code >= 400 && e->code < 500) {
        /* The agent does not want this executor (unknown, terminated...):
         * retrying cannot help. */
        report_error(e, "agent refused SUBSCRIBE: %d %s", e->code, e->refusal);
        lost(e, "subscription refused", true);
        return;
    }
    lost(e, reason && *reason ? reason : "stream closed", false);
}

static const struct ag_http_client_stream_ops stream_ops = {
    .on_open = stream_open,
    .on_data = stream_data,
    .on_closed = stream_closed,
};

json_t *ag_executor_subscribe_call(const struct ag_executor *e)
{
    json_t *call = call_new(e, "SUBSCRIBE");
    json_t *sub = json_object(), *tasks = json_array(), *updates = json_array();
    const char *key;
    json_t *task;

    if (!call || !sub || !tasks || !updates) {
        json_decref(call);
        json_decref(sub);
        json_decref(tasks);
        json_decref(updates);
        return NULL;
    }
    json_object_foreach(e->tasks, key, task) json_array_append(tasks, task);
    for (size_t i = 0; i < e->n_updates; i++)
        json_array_append_new(updates, json_pack("{s:O}", "status", e->updates[i].status));
    if (json_array_size(tasks))
        json_object_set(sub, "unacknowledged_tasks", tasks);
    if (json_array_size(updates))
        json_object_set(sub, "unacknowledged_updates", updates);
    json_decref(tasks);
    json_decref(updates);
    json_object_set_new(call, "subscribe", sub);
    return call;
}

static void subscribe(struct ag_executor *e)
{
    struct ag_http_header headers[] = {
        {"Content-Type", "application/json"},
        {"Accept", "application/json"},
        {NULL, NULL},
    };
    json_t *call = ag_executor_subscribe_call(e);
    char *body;
    size_t len;

    if (e->stopped)
        return;
    body = call ? ag_json_dump(call, &len) : NULL;
    json_decref(call);
    if (!body) {
        lost(e, "out of memory", false);
        return;
    }
    for (size_t i = 0; i < e->n_updates; i++)
        e->updates[i].in_subscribe = true;
    ag_recordio_decoder_release(&e->dec);
    ag_recordio_decoder_init(&e->dec, AG_RECORDIO_MAX_DEFAULT);
    e->code = 0;
    e->stream = ag_http_client_stream_open(e->loop, e->url, headers, body, len, &stream_ops, e);
    free(body);
    if (!e->stream)
        lost(e, "cannot open a connection to the agent", false);
}

static void reconnect_fired(void *arg)
{
    subscribe(arg);
}

/* ------------------------------------------------------------------ */
/* public API                                                          */

struct ag_executor *ag_executor_new(struct ag_loop *loop, const struct ag_executor_config *cfg,
                                    const struct ag_executor_callbacks *callbacks, void *arg)
{
    struct ag_executor *e;

    if (!loop || !cfg || !cfg->agent_endpoint || !*cfg->agent_endpoint || !cfg->framework_id ||
        !*cfg->framework_id || !cfg->executor_id || !*cfg->executor_id)
        return NULL;
    e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    e->loop = loop;
    if (callbacks)
        e->cb = *callbacks;
    e->arg = arg;
    e->endpoint = strdup(cfg->agent_endpoint);
    e->framework_id = strdup(cfg->framework_id);
    e->executor_id = strdup(cfg->executor_id);
    e->checkpoint = cfg->checkpoint;
    e->recovery_timeout = cfg->recovery_timeout > 0 ? cfg->recovery_timeout : 15 * 60;
    e->backoff_max = cfg->subscription_backoff_max > 0 ? cfg->subscription_backoff_max : 2;
    e->backoff = 0.1;
    e->tasks = json_object();
    e->reconnect_timer = ag_timer_new(loop, reconnect_fired, e);
    e->resend_timer = ag_timer_new(loop, resend_check, e);
    e->call_timer = ag_timer_new(loop, call_retry, e);
    ag_recordio_decoder_init(&e->dec, AG_RECORDIO_MAX_DEFAULT);
    if (!e->endpoint || !e->framework_id || !e->executor_id || !e->tasks || !e->reconnect_timer ||
        !e->resend_timer || !e->call_timer) {
        ag_executor_free(e);
        return NULL;
    }
    if (strncmp(e->endpoint, "http://", 7) == 0)
        snprintf(e->url, sizeof(e->url), "%s/api/v1/executor", e->endpoint);
    else
        snprintf(e->url, sizeof(e->url), "http://%s/api/v1/executor", e->endpoint);
    return e;
}

int ag_executor_start(struct ag_executor *e)
{
    if (e->started)
        return -EALREADY;
    e->started = true;
    ag_timer_start_periodic(e->resend_timer, RESEND_CHECK);
    subscribe(e);
    return 0;
}

void ag_executor_stop(struct ag_executor *e)
{
    if (!e)
        return;
    e->stopped = true;
    e->subscribed = false;
    close_stream(e);
    queue_clear(e);
    ag_timer_stop(e->reconnect_timer);
    ag_timer_stop(e->resend_timer);
}

void ag_executor_free(struct ag_executor *e)
{
    if (!e)
        return;
    ag_executor_stop(e);
    ag_timer_free(e->reconnect_timer);
    ag_timer_free(e->resend_timer);
    ag_timer_free(e->call_timer);
    ag_recordio_decoder_release(&e->dec);
    for (size_t i = 0; i < e->n_updates; i++) {
        free(e->updates[i].task_id);
        json_decref(e->updates[i].status);
    }
    free(e->updates);
    json_decref(e->tasks);
    json_decref(e->info);
    free(e->endpoint);
    free(e->framework_id);
    free(e->executor_id);
    free(e);
}

bool ag_executor_subscribed(const struct ag_executor *e)
{
    return e->subscribed;
}

const json_t *ag_executor_framework_info(const struct ag_executor *e)
{
    return ag_json_get(e->info, "framework_info");
}

const json_t *ag_executor_executor_info(const struct ag_executor *e)
{
    return ag_json_get(e->info, "executor_info");
}

const json_t *ag_executor_agent_info(const struct ag_executor *e)
{
    return ag_json_get(e->info, "agent_info");
}

const char *ag_executor_container_id(const struct ag_executor *e)
{
    return json_string_value(ag_json_get(ag_json_get(e->info, "container_id"), "value"));
}

const char *ag_executor_framework_id(const struct ag_executor *e)
{
    return e->framework_id;
}

const char *ag_executor_executor_id(const struct ag_executor *e)
{
    return e->executor_id;
}

bool ag_executor_framework_capable(const struct ag_executor *e, const char *capability)
{
    json_t *caps = ag_json_get(ag_executor_framework_info(e), "capabilities");
    json_t *c;
    size_t i;
    json_array_foreach(caps, i, c)
    {
        const char *type = json_string_value(json_object_get(c, "type"));
        if (type && strcmp(type, capability) == 0)
            return true;
    }
    return false;
}

int ag_executor_send_status(struct ag_executor *e, const json_t *status, char ret_uuid[25])
{
    char err[128] = "", uuid[25];
    const char *task_id, *state_name, *given;
    enum ag_task_state state;
    struct pending_update *u;
    json_t *copy;

    if (!json_is_object(status))
        return -EINVAL;
    task_id = ag_json_get_id(status, "task_id", true, err, sizeof(err));
    state_name = json_string_value(ag_json_get(status, "state"));
    if (!task_id || !state_name || ag_task_state_parse(state_name, &state) < 0 ||
        state == AG_TASK_STAGING)
        return -EINVAL;
    copy = json_deep_copy(status);
    if (!copy)
        return -ENOMEM;
    given = json_string_value(ag_json_get(copy, "uuid"));
    if (given && strlen(given) < sizeof(uuid)) {
        snprintf(uuid, sizeof(uuid), "%s", given);
    } else {
        ag_status_uuid(uuid);
        json_object_set_new(copy, "uuid", json_string(uuid));
    }
    if (!ag_json_get(copy, "source"))
        json_object_set_new(copy, "source", json_string("SOURCE_EXECUTOR"));
    if (!ag_json_get(copy, "executor_id"))
        ag_json_set_id(copy, "executor_id", e->executor_id);
    if (!ag_json_get(copy, "timestamp"))
        json_object_set_new(copy, "timestamp", json_real(ag_now()));
    if (update_find(e, uuid)) {
        json_decref(copy);
        return -EEXIST;
    }
    if (e->n_updates == e->cap_updates) {
        size_t cap = e->cap_updates ? e->cap_updates * 2 : 8;
        struct pending_update *n = realloc(e->updates, cap * sizeof(*n));
        if (!n) {
            json_decref(copy);
            return -ENOMEM;
        }
        e->updates = n;
        e->cap_updates = cap;
    }
    u = &e->updates[e->n_updates];
    memset(u, 0, sizeof(*u));
    snprintf(u->uuid, sizeof(u->uuid), "%s", uuid);
    u->task_id = strdup(task_id);
    u->status = copy;
    if (!u->task_id) {
        json_decref(copy);
        return -ENOMEM;
    }
    e->n_updates++;
    if (ret_uuid)
        snprintf(ret_uuid, 25, "%s", uuid);
    /* While disconnected the update waits for SUBSCRIBE.unacknowledged_updates. */
    if (e->subscribed) {
        int rc = queue_update(e, u);
        if (rc < 0)
            return rc;
        pump(e);
    }
    return 0;
}

int ag_executor_update(struct ag_executor *e, const char *task_id, const char *state,
                       const char *reason, const char *message, char ret_uuid[25])
{
    enum ag_task_state st;
    json_t *status;
    int rc;

    if (!task_id || !state || ag_task_state_parse(state, &st) < 0)
        return -EINVAL;
    status =
        ag_task_status_new(task_id, st, "SOURCE_EXECUTOR", reason, message, NULL, e->executor_id);
    if (!status)
        return -ENOMEM;
    rc = ag_executor_send_status(e, status, ret_uuid);
    json_decref(status);
    return rc;
}

int ag_executor_send_message(struct ag_executor *e, const void *data, size_t len)
{
    char *b64;
    json_t *call;
    int rc;

    if (!e->subscribed)
        return -ENOTCONN;
    b64 = ag_base64_encode(data, len);
    call = call_new(e, "MESSAGE");
    if (!b64 || !call) {
        free(b64);
        json_decref(call);
        return -ENOMEM;
    }
    json_object_set_new(call, "message", json_pack("{s:s}", "data", b64));
    free(b64);
    rc = enqueue(e, call, NULL);
    if (rc == 0)
        pump(e);
    return rc;
}

bool ag_executor_idle(const struct ag_executor *e)
{
    return !e->head && !e->in_flight;
}

size_t ag_executor_unacknowledged(const struct ag_executor *e)
{
    return e->n_updates;
}

bool ag_executor_acknowledged(const struct ag_executor *e, const char *uuid)
{
    return uuid && !update_find(e, uuid);
}

int ag_executor_feed(struct ag_executor *e, const char *data, size_t len)
{
    int rc;
    e->code = 200;
    rc = ag_recordio_feed(&e->dec, data, len, on_record, e);
    if (rc < 0) {
        lost(e, "malformed event stream", false);
        return -EBADMSG;
    }
    return 0;
}

void ag_executor_set_call_hook(struct ag_executor *e, ag_executor_call_hook hook, void *arg)
{
    e->hook = hook;
    e->hook_arg = arg;
}
