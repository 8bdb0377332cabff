/*
 * master: the agent's link to the master (docs/agent-protocol.md).
 *
 * A SUBSCRIBE POST to <master>/api/v1/agent whose response is a RecordIO
 * event stream; every other call is its own POST with the Mesos-Stream-Id.
 * The link answers HEARTBEAT events, follows 307 redirects, and
 * re-subscribes with backoff (--registration_backoff_factor doubling to
 * 30 s, with jitter) when the stream ends, fails, or stays silent for
 * 5 heartbeat intervals. A SIGSTOPped agent finds on resume that the
 * master has closed its stream (or that the watchdog is overdue, since
 * timers run on the monotonic clock) and re-subscribes with its id.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agent/internal.h"
#include "core/json.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/recordio.h"

#define BACKOFF_MAX       30.0
#define SUBSCRIBE_TIMEOUT 30.0 /* no SUBSCRIBED within this: retry */
#define MAX_REDIRECTS     5
#define HEARTBEATS_MISSED 5.0

struct ag_agent_master {
    struct ag_loop *loop;
    struct ag_agent_master_ops ops;
    void *arg;
    char *configured; /* --master base URL */
    char *current;    /* base URL in use (after redirects) */
    double backoff_initial, backoff;
    int redirects;
    struct ag_http_client_stream *stream;
    struct ag_recordio_decoder dec;
    char *stream_id;
    char *agent_id; /* from the last SUBSCRIBED */
    bool subscribed;
    bool started;
    double heartbeat_interval;
    struct ag_timer *retry_timer;
    struct ag_timer *watchdog;
    int code; /* HTTP status of the current SUBSCRIBE */
    struct call_ctx *calls;
};

/* --- address parsing (pure) --- */

static int host_port(const char *s, size_t len, char **ret_base)
{
    char host[256];
    const char *colon;
    long port = 5050;
    char *end;

    if (len == 0 || len >= sizeof(host))
        return -EINVAL;
    memcpy(host, s, len);
    host[len] = '\0';
    colon = strrchr(host, ':');
    if (colon) {
        if (colon == host)
            return -EINVAL;
        errno = 0;
        port = strtol(colon + 1, &end, 10);
        if (errno || *end || end == colon + 1 || port <= 0 || port > 65535)
            return -EINVAL;
        host[colon - host] = '\0';
    }
    for (const char *p = host; *p; p++)
        if (*p == '/' || *p == ' ' || *p == '@' || *p == '?' || *p == '#')
            return -EINVAL;
    {
        size_t need = strlen(host) + 32;
        char *base = malloc(need);
        if (!base)
            return -ENOMEM;
        snprintf(base, need, "http://%s:%ld", host, port);
        *ret_base = base;
    }
    return 0;
}

int ag_agent_master_parse(const char *address, char **ret_base)
{
    const char *p = address, *end;
    if (!p || !*p)
        return -EINVAL;
    if (strncasecmp(p, "http://", 7) == 0)
        p += 7;
    else if (strncmp(p, "//", 2) == 0)
        p += 2;
    else if (strstr(p, "://"))
        return -EINVAL; /* https, zk: not supported here */
    end = strchr(p, '/');
    return host_port(p, end ? (size_t)(end - p) : strlen(p), ret_base);
}

int ag_agent_master_location(const char *location, char **ret_base)
{
    if (!location || (strncmp(location, "//", 2) != 0 && strncasecmp(location, "http://", 7) != 0))
        return -EINVAL;
    return ag_agent_master_parse(location, ret_base);
}

double ag_agent_master_jitter(double backoff, double random01)
{
    if (random01 < 0)
        random01 = 0;
    if (random01 >= 1)
        random01 = 0.999999;
    return backoff * (0.5 + random01 / 2);
}

/* --- the link --- */

static void subscribe(struct ag_agent_master *m);

static void drop_stream(struct ag_agent_master *m)
{
    if (m->stream) {
        ag_http_client_stream_close(m->stream);
        m->stream = NULL;
    }
    /* The decoder is reset by subscribe(), not here: this may run from
     * inside ag_recordio_feed(). */
    free(m->stream_id);
    m->stream_id = NULL;
    ag_timer_stop(m->watchdog);
}

/* Drops the stream and schedules a re-subscription after the backoff. */
static void reconnect(struct ag_agent_master *m, const char *reason, bool now)
{
    bool was = m->subscribed;
    double delay;

    drop_stream(m);
    m->subscribed = false;
    if (now) {
        delay = 0;
    } else {
        delay = ag_agent_master_jitter(m->backoff, (double)random() / ((double)RAND_MAX + 1));
        m->backoff *= 2;
        if (m->backoff > BACKOFF_MAX)
            m->backoff = BACKOFF_MAX;
        /* A failing redirect target sends us back to the configured master. */
        if (strcmp(m->current, m->configured) != 0) {
            free(m->current);
            m->current = ag_agent_strdup(m->configured);
        }
    }
    ag_info("disconnected from master %s: %s; re-subscribing in %.1fs", m->current, reason, delay);
    ag_timer_start(m->retry_timer, delay);
    if (was && m->ops.disconnected)
        m->ops.disconnected(m->arg, reason);
}

static void watchdog_fired(void *arg)
{
    struct ag_agent_master *m = arg;
    reconnect(m, m->subscribed ? "no heartbeat from the master" : "no SUBSCRIBED from the master",
              false);
}

static void arm_watchdog(struct ag_agent_master *m)
{
    double t = m->subscribed && m->heartbeat_interval > 0
                   ? HEARTBEATS_MISSED * m->heartbeat_interval
                   : SUBSCRIBE_TIMEOUT;
    ag_timer_start(m->watchdog, t);
}

/* A call in flight. They are listed so that freeing the link (after the
 * loop has stopped for good) frees them too: the loop drops requests still
 * in flight without calling back. */
struct call_ctx {
    struct call_ctx *prev, *next;
    struct ag_agent_master *m;
    char type[32];
};

static void call_done(const struct ag_http_response *resp, void *arg)
{
    struct call_ctx *ctx = arg;
    const char *type = ctx->type;
    int code = ag_http_response_code(resp);
    if (code == 0) {
        ag_warn("call %s to the master failed: %s", type, ag_http_response_error(resp));
    } else if (code < 200 || code >= 300) {
        size_t len;
        const char *body = ag_http_response_body(resp, &len);
        ag_warn("master refused call %s: %d %.*s", type, code, (int)(len > 300 ? 300 : len), body);
    }
    if (ctx->prev)
        ctx->prev->next = ctx->next;
    else
        ctx->m->calls = ctx->next;
    if (ctx->next)
        ctx->next->prev = ctx->prev;
    free(ctx);
}

int ag_agent_master_call(struct ag_agent_master *m, json_t *call)
{
    char url[512];
    char *body;
    struct call_ctx *ctx;
    size_t len;
    int rc;
    struct ag_http_header headers[] = {
        {"Content-Type", "application/json"},
        {"Accept", "application/json"},
        {"Mesos-Stream-Id", m->stream_id},
        {NULL, NULL},
    };

    if (!m->subscribed || !m->stream_id) {
        json_decref(call);
        return -ENOTCONN;
    }
    body = ag_json_dump(call, &len);
    ctx = calloc(1, sizeof(*ctx));
    if (!body || !ctx) {
        json_decref(call);
        free(body);
        free(ctx);
        return -ENOMEM;
    }
    ctx->m = m;
    snprintf(ctx->type, sizeof(ctx->type), "%s",
             json_string_value(json_object_get(call, "type")) ?: "?");
    json_decref(call);
    snprintf(url, sizeof(url), "%s/api/v1/agent", m->current);
    rc = ag_http_request(m->loop, "POST", url, headers, body, len, 30, call_done, ctx);
    free(body);
    if (rc < 0) {
        free(ctx);
        return rc;
    }
    ctx->next = m->calls;
    if (m->calls)
        m->calls->prev = ctx;
    m->calls = ctx;
    return 0;
}

static void heartbeat(struct ag_agent_master *m)
{
    json_t *call = json_pack("{s:s}", "type", "HEARTBEAT");
    ag_json_set_id(call, "agent_id", m->agent_id);
    ag_agent_master_call(m, call);
}

static int on_record(const char *data, size_t len, void *arg)
{
    struct ag_agent_master *m = arg;
    char err[256] = "";
    json_t *event = ag_json_parse(data, len, err, sizeof(err));
    const char *type;

    if (!event) {
        ag_warn("bad event from the master: %s", err);
        return 0;
    }
    type = json_string_value(json_object_get(event, "type"));
    arm_watchdog(m);
    if (!type) {
        ag_warn("event from the master without a type");
    } else if (strcmp(type, "SUBSCRIBED") == 0) {
        json_t *sub = ag_json_get(event, "subscribed");
        const char *id = ag_json_get_id(sub, "agent_id", true, err, sizeof(err));
        double hb = 15;
        if (!id) {
            ag_warn("SUBSCRIBED without an agent id: %s", err);
            json_decref(event);
            reconnect(m, "bad SUBSCRIBED", false);
            return 1;
        }
        if (ag_json_get_number(sub, "heartbeat_interval_seconds", false, &hb, err, sizeof(err)) <
                0 ||
            hb <= 0)
            hb = 15;
        /* A sane range for the watchdog, whatever the master says. */
        hb = hb < 0.1 ? 0.1 : hb > 3600 ? 3600 : hb;
        m->heartbeat_interval = hb;
        free(m->agent_id);
        m->agent_id = ag_agent_strdup(id);
        m->subscribed = true;
        m->backoff = m->backoff_initial;
        m->redirects = 0;
        arm_watchdog(m);
        m->ops.subscribed(m->arg, id, hb);
    } else if (!m->subscribed) {
        ag_warn("event %s from the master before SUBSCRIBED; ignored", type);
    } else if (strcmp(type, "HEARTBEAT") == 0) {
        heartbeat(m);
    } else if (strcmp(type, "ERROR") == 0) {
        const char *msg =
            json_string_value(json_object_get(ag_json_get(event, "error"), "message"));
        ag_warn("master sent ERROR: %s", msg ? msg : "(no message)");
        m->ops.event(m->arg, type, event);
        json_decref(event);
        reconnect(m, "ERROR event", false);
        return 1;
    } else {
        m->ops.event(m->arg, type, event);
    }
    json_decref(event);
    return m->stream ? 0 : 1;
}

static void stream_open(struct ag_http_client_stream *s, const struct ag_http_response *resp,
                        void *arg)
{
    struct ag_agent_master *m = arg;
    const char *sid;
    (void)s;
    m->code = ag_http_response_code(resp);
    if (m->code == 200) {
        sid = ag_http_response_header(resp, "Mesos-Stream-Id");
        free(m->stream_id);
        m->stream_id = sid ? strdup(sid) : NULL;
        if (!m->stream_id)
            ag_warn("master answered SUBSCRIBE without a Mesos-Stream-Id");
        return;
    }
    if (m->code == 307) {
        const char *loc = ag_http_response_header(resp, "Location");
        char *base = NULL;
        if (ag_agent_master_location(loc, &base) == 0 && ++m->redirects <= MAX_REDIRECTS) {
            ag_info("master redirected us to %s", base);
            free(m->current);
            m->current = base;
            drop_stream(m);
            m->subscribed = false;
            ag_timer_start(m->retry_timer, 0);
            return;
        }
        free(base);
        ag_warn("bad or repeated redirect from the master (Location '%s')", loc ? loc : "");
    }
}

static void stream_data(struct ag_http_client_stream *s, const char *data, size_t len, void *arg)
{
    struct ag_agent_master *m = arg;
    int rc;
    (void)s;
    if (m->code != 200) {
        ag_warn("master refused SUBSCRIBE: %d %.*s", m->code, (int)(len > 300 ? 300 : len), data);
        return;
    }
    rc = ag_recordio_feed(&m->dec, data, len, on_record, m);
    if (rc < 0) {
        ag_warn("malformed event stream from the master (%s)", strerror(-rc));
        reconnect(m, "malformed stream", false);
    }
}

static void stream_closed(struct ag_http_client_stream *s, const char *reason, void *arg)
{
    struct ag_agent_master *m = arg;
    (void)s;
    m->stream = NULL; /* freed by the client after this returns */
    if (m->code == 307 && ag_timer_pending(m->retry_timer))
        return; /* redirect already scheduled */
    reconnect(m, reason && *reason ? reason : "stream closed", false);
}

static const struct ag_http_client_stream_ops stream_ops = {
    .on_open = stream_open,
    .on_data = stream_data,
    .on_closed = stream_closed,
};

static void subscribe(struct ag_agent_master *m)
{
    char url[512];
    char *body;
    size_t len;
    json_t *call = m->ops.subscribe_call(m->arg);
    struct ag_http_header headers[] = {
        {"Content-Type", "application/json"},
        {"Accept", "application/json"},
        {NULL, NULL},
    };

    drop_stream(m);
    body = call ? ag_json_dump(call, &len) : NULL;
    json_decref(call);
    if (!body) {
        reconnect(m, "out of memory", false);
        return;
    }
    snprintf(url, sizeof(url), "%s/api/v1/agent", m->current);
    ag_recordio_decoder_release(&m->dec);
    ag_recordio_decoder_init(&m->dec, AG_RECORDIO_MAX_DEFAULT);
    m->code = 0;
    ag_debug("subscribing to %s", url);
    m->stream = ag_http_client_stream_open(m->loop, url, headers, body, len, &stream_ops, m);
    free(body);
    if (!m->stream) {
        reconnect(m, "cannot open a connection", false);
        return;
    }
    arm_watchdog(m);
}

static void retry_fired(void *arg)
{
    subscribe(arg);
}

struct ag_agent_master *ag_agent_master_new(struct ag_loop *loop, const char *base_url,
                                            double backoff_initial,
                                            const struct ag_agent_master_ops *ops, void *arg)
{
    struct ag_agent_master *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    m->loop = loop;
    m->ops = *ops;
    m->arg = arg;
    m->configured = strdup(base_url);
    m->current = strdup(base_url);
    m->backoff_initial = backoff_initial > 0 ? backoff_initial : 1;
    m->backoff = m->backoff_initial;
    m->retry_timer = ag_timer_new(loop, retry_fired, m);
    m->watchdog = ag_timer_new(loop, watchdog_fired, m);
    ag_recordio_decoder_init(&m->dec, AG_RECORDIO_MAX_DEFAULT);
    if (!m->configured || !m->current || !m->retry_timer || !m->watchdog) {
        ag_agent_master_free(m);
        return NULL;
    }
    return m;
}

void ag_agent_master_free(struct ag_agent_master *m)
{
    if (!m)
        return;
    drop_stream(m);
    while (m->calls) {
        struct call_ctx *next = m->calls->next;
        free(m->calls);
        m->calls = next;
    }
    ag_timer_free(m->retry_timer);
    ag_timer_free(m->watchdog);
    ag_recordio_decoder_release(&m->dec);
    free(m->configured);
    free(m->current);
    free(m->agent_id);
    free(m);
}

void ag_agent_master_start(struct ag_agent_master *m)
{
    m->started = true;
    ag_timer_start(m->retry_timer, 0);
}

bool ag_agent_master_connected(const struct ag_agent_master *m)
{
    return m->subscribed;
}

const char *ag_agent_master_url(const struct ag_agent_master *m)
{
    return m->current;
}
