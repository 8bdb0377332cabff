/*
 * master: the state machine. Objects (agents, frameworks, offers, tasks,
 * executors), their transitions, and the glue to the allocator. The HTTP
 * handlers in scheduler.c, agent_api.c and endpoints.c parse and validate
 * requests and then call into here.
 */
#include "master/internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/http.h"
#include "core/json.h"
#include "core/jw.h"
#include "core/log.h"
#include "core/loop.h"

/* The batching window after a change (seconds): events within it share one
 * round. Rounds after events visit only changed agents, so the window can
 * be short; it bounds the added offer latency. 0 means the next loop
 * iteration: the events one wake-up read share a round. Measured against
 * 2 ms (bench/README.md): offer latency p50 ~2.3 ms -> ~0.4 ms at about
 * the same CPU per launched task. Overridable at build time to compare. */
#ifndef ALLOCATE_SOON_DELAY
#define ALLOCATE_SOON_DELAY 0.0
#endif
/* A task keeps at most this many statuses (health updates can be many). */
#define MAX_TASK_STATUSES 100

void ag_master_config_defaults(struct ag_master_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->ip = "127.0.0.1";
    cfg->port = 5050;
    cfg->offer_timeout = 0;
    cfg->agent_ping_timeout = 15;
    cfg->max_agent_ping_timeouts = 5;
    cfg->agent_reregister_timeout = 600;
    cfg->allocation_interval = 1;
    cfg->allocator = "drf";
    cfg->framework_heartbeat_interval = 15;
    cfg->max_completed_tasks_per_framework = 1000;
    cfg->max_completed_frameworks = 50;
    cfg->max_unreachable_tasks_per_framework = 1000;
    cfg->max_body_size = AG_HTTP_MAX_BODY_DEFAULT;
}

static const char *const agent_state_names[AG_MASTER_AGENT_STATE_COUNT] = {
    [AG_MASTER_AGENT_CONNECTED] = "connected",
    [AG_MASTER_AGENT_DISCONNECTED] = "disconnected",
    [AG_MASTER_AGENT_UNREACHABLE] = "unreachable",
};

const char *ag_master_agent_state_name(enum ag_master_agent_state state)
{
    return (unsigned)state < AG_MASTER_AGENT_STATE_COUNT ? agent_state_names[state] : "?";
}

static const char *const fw_state_names[AG_MASTER_FW_STATE_COUNT] = {
    [AG_MASTER_FW_CONNECTED] = "connected",
    [AG_MASTER_FW_DISCONNECTED] = "disconnected",
    [AG_MASTER_FW_RECOVERED] = "recovered",
    [AG_MASTER_FW_REMOVED] = "removed",
};

const char *ag_master_fw_state_name(enum ag_master_fw_state state)
{
    return (unsigned)state < AG_MASTER_FW_STATE_COUNT ? fw_state_names[state] : "?";
}

/* The one place a framework changes state (STYLE.md §12). */
static void fw_transition(struct ag_master_framework *fw, enum ag_master_fw_state state)
{
    if (fw->state != state)
        ag_debug("framework '%s': %s -> %s", fw->id, ag_master_fw_state_name(fw->state),
                 ag_master_fw_state_name(state));
    fw->state = state;
}

/* The one place an agent changes state. */
static void agent_transition(struct ag_master_agent *a, enum ag_master_agent_state state)
{
    if (a->state != state)
        ag_debug("agent '%s': %s -> %s", a->id, ag_master_agent_state_name(a->state),
                 ag_master_agent_state_name(state));
    a->state = state;
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    if (!p) {
        ag_error("out of memory");
        abort();
    }
    return p;
}

static char *xstrdup(const char *s)
{
    char *p = strdup(s ? s : "");
    if (!p) {
        ag_error("out of memory");
        abort();
    }
    return p;
}

static void *xrealloc(void *old, size_t size)
{
    void *p = realloc(old, size);
    if (!p) {
        ag_error("out of memory");
        abort();
    }
    return p;
}

/* The wire's number format (what ag_http_reply_json() prints). */
#define STATUS_DUMP_FLAGS (JSON_COMPACT | JSON_ENCODE_ANY)

static void status_drop_data(struct ag_master_status *st)
{
    if (!st->has_data)
        return;
    json_t *j = json_loads(st->json, 0, NULL);
    if (!j)
        return;
    json_object_del(j, "data");
    char *text = json_dumps(j, STATUS_DUMP_FLAGS);
    json_decref(j);
    if (!text)
        return;
    free(st->json);
    st->json = text;
    st->json_len = (uint32_t)strlen(text);
    st->has_data = false;
}

/* --- events --- */

static json_t *event_new(const char *type)
{
    return json_pack("{s:s}", "type", type);
}

/* Drops the streams whose peers stopped reading. Runs deferred: a send can
 * happen in the middle of a walk over the lists a disconnect changes. */
static void overflow_sweep(void *arg)
{
    struct ag_master *m = arg;
    struct ag_master_map_entry *e, *next;
    m->overflow_check = false;
    for (e = m->frameworks.head; e; e = next) {
        next = e->next;
        struct ag_master_framework *fw = e->value;
        if (!fw->overflowed)
            continue;
        fw->overflowed = false;
        if (fw->stream) {
            ag_warn("framework '%s' does not read its event stream; disconnecting it", fw->id);
            ag_http_stream_end(fw->stream);
            fw->stream = NULL;
            ag_master_fw_disconnected(m, fw);
        }
    }
    for (e = m->agents.head; e; e = e->next) {
        struct ag_master_agent *a = e->value;
        if (!a->overflowed)
            continue;
        a->overflowed = false;
        if (a->stream) {
            ag_warn("agent '%s' does not read its event stream; disconnecting it", a->id);
            ag_http_stream_end(a->stream);
            a->stream = NULL;
            ag_master_agent_disconnected(m, a);
        }
    }
}

/* Whether a stream takes more: false once its backlog is over the cap
 * (then *overflowed is set and a sweep is queued). */
static bool stream_room(struct ag_master *m, struct ag_http_stream *stream, bool *overflowed)
{
    if (*overflowed)
        return false;
    if (ag_http_stream_pending(stream) > AG_MASTER_MAX_STREAM_BACKLOG) {
        *overflowed = true;
        if (!m->overflow_check && m->loop && ag_loop_defer(m->loop, overflow_sweep, m) == 0)
            m->overflow_check = true;
        return false;
    }
    return true;
}

/* Sends on a stream unless its backlog is over the cap; false if dropped.
 * The tree is written with jw into one flat buffer and added in one piece:
 * jansson's dumper hands every token to its callback, and an evbuffer_add
 * per token cost more than the dump itself (bench/README.md, "Master
 * throughput, second round"). The bytes are the same. */
static bool stream_send(struct ag_master *m, struct ag_http_stream *stream, bool *overflowed,
                        const json_t *event)
{
    if (!stream_room(m, stream, overflowed))
        return false;
    struct ag_jw w;
    ag_jw_init(&w);
    ag_jw_json(&w, event);
    bool ok = !w.oom && !w.bad;
    if (ok) {
        const struct ag_http_piece piece = {w.buf, w.len};
        ok = ag_http_stream_send_pieces(stream, &piece, 1) == 0;
    }
    ag_jw_release(&w);
    return ok;
}

/* Sends an event rendered as text in pieces to a stream (framework's or
 * agent's; `id` names it for the sink). The hot events (UPDATE to a
 * framework, ACKNOWLEDGE to an agent) go this way: no tree is built or
 * dumped, which was about a sixth of the master's CPU per launched task
 * (bench/README.md). A sink (unit tests) still gets the tree. */
static void send_pieces(struct ag_master *m, bool to_agent, const char *id,
                        struct ag_http_stream *stream, bool *overflowed,
                        const struct ag_http_piece *pieces, size_t n)
{
    if (m->sink) {
        struct ag_jw w;
        ag_jw_init(&w);
        for (size_t i = 0; i < n; i++)
            ag_jw_text(&w, pieces[i].data, pieces[i].len);
        json_t *event = w.oom ? NULL : json_loadb(w.buf, w.len, 0, NULL);
        if (event)
            m->sink(m->sink_arg, to_agent, id, event);
        json_decref(event);
        ag_jw_release(&w);
    }
    if (stream) {
        if (!stream_room(m, stream, overflowed) ||
            ag_http_stream_send_pieces(stream, pieces, n) != 0)
            m->metrics.dropped_messages++;
    } else if (!m->sink) {
        m->metrics.dropped_messages++;
    }
}

void ag_master_send_fw(struct ag_master *m, struct ag_master_framework *fw, json_t *event)
{
    if (!event)
        return;
    if (m->sink)
        m->sink(m->sink_arg, false, fw->id, event);
    if (fw->stream) {
        if (!stream_send(m, fw->stream, &fw->overflowed, event))
            m->metrics.dropped_messages++;
    } else if (!m->sink) {
        m->metrics.dropped_messages++;
    }
    json_decref(event);
}

void ag_master_send_agent(struct ag_master *m, struct ag_master_agent *a, json_t *event)
{
    if (!event)
        return;
    if (m->sink)
        m->sink(m->sink_arg, true, a->id, event);
    if (a->stream) {
        if (!stream_send(m, a->stream, &a->overflowed, event))
            m->metrics.dropped_messages++;
    } else if (!m->sink) {
        m->metrics.dropped_messages++;
    }
    json_decref(event);
}

void ag_master_send_update(struct ag_master *m, struct ag_master_framework *fw, json_t *status)
{
    enum ag_task_state state;
    json_t *s = json_object_get(status, "state");
    if (json_is_string(s) && ag_task_state_parse(json_string_value(s), &state) == 0) {
        enum ag_task_state mapped = ag_task_state_for(state, ag_master_fw_partition_aware(fw));
        if (mapped != state) {
            if (status->refcount > 1) {
                /* Shared with the task's history: change a copy. */
                json_t *copy = json_copy(status);
                json_decref(status);
                status = copy;
            }
            json_object_set_new(status, "state", json_string(ag_task_state_name(mapped)));
        }
    }
    json_t *ev = event_new("UPDATE");
    json_object_set_new(ev, "update", json_pack("{s:o}", "status", status));
    ag_master_send_fw(m, fw, ev);
}

void ag_master_send_update_kept(struct ag_master *m, struct ag_master_framework *fw,
                                const struct ag_master_status *kept, enum ag_task_state state)
{
    if (ag_task_state_for(state, ag_master_fw_partition_aware(fw)) != state) {
        /* Rare (TASK_UNREACHABLE and friends to an old framework): the
         * tree path rewrites the state. */
        ag_master_send_update(m, fw, json_loadb(kept->json, kept->json_len, 0, NULL));
        return;
    }
    static const char head[] = "{\"type\":\"UPDATE\",\"update\":{\"status\":";
    const struct ag_http_piece pieces[] = {
        {head, sizeof(head) - 1},
        {kept->json, kept->json_len},
        {"}}", 2},
    };
    send_pieces(m, false, fw->id, fw->stream, &fw->overflowed, pieces, 3);
}

void ag_master_send_ack(struct ag_master *m, struct ag_master_agent *a, const char *framework_id,
                        const char *task_id, const char *uuid)
{
    struct ag_jw w;
    ag_jw_init(&w);
    ag_jw_obj_begin(&w);
    ag_jw_key(&w, "type");
    ag_jw_str(&w, "ACKNOWLEDGE");
    ag_jw_key(&w, "acknowledge");
    ag_jw_obj_begin(&w);
    ag_jw_key(&w, "framework_id");
    ag_jw_obj_begin(&w);
    ag_jw_key(&w, "value");
    ag_jw_str(&w, framework_id);
    ag_jw_obj_end(&w);
    ag_jw_key(&w, "task_id");
    ag_jw_obj_begin(&w);
    ag_jw_key(&w, "value");
    ag_jw_str(&w, task_id);
    ag_jw_obj_end(&w);
    ag_jw_key(&w, "uuid");
    ag_jw_str(&w, uuid);
    ag_jw_obj_end(&w);
    ag_jw_obj_end(&w);
    if (w.oom || w.bad) {
        ag_error("out of memory rendering an acknowledgement for agent '%s'", a->id);
        m->metrics.dropped_messages++;
    } else {
        const struct ag_http_piece piece = {w.buf, w.len};
        send_pieces(m, true, a->id, a->stream, &a->overflowed, &piece, 1);
    }
    ag_jw_release(&w);
}

void ag_master_send_agent_text(struct ag_master *m, struct ag_master_agent *a, const char *text,
                               size_t len)
{
    const struct ag_http_piece piece = {text, len};
    send_pieces(m, true, a->id, a->stream, &a->overflowed, &piece, 1);
}

/* --- allocation and offers --- */

static void on_alloc_offer(void *ctx, const char *framework_id, const char *role,
                           const char *agent_id, struct ag_resources *resources)
{
    struct ag_master *m = ctx;
    if (m->n_pending == m->cap_pending) {
        size_t cap = m->cap_pending ? m->cap_pending * 2 : 16;
        struct ag_master_pending_offer *p = realloc(m->pending, cap * sizeof(*p));
        if (!p) {
            ag_error("out of memory");
            abort();
        }
        m->pending = p;
        m->cap_pending = cap;
    }
    struct ag_master_pending_offer *po = &m->pending[m->n_pending++];
    po->framework_id = xstrdup(framework_id);
    po->role = xstrdup(role);
    po->agent_id = xstrdup(agent_id);
    po->resources = *resources; /* ownership moves to us */
    ag_resources_init(resources);
}

static void offer_timeout_cb(void *arg)
{
    struct ag_master_offer *o = arg;
    struct ag_master *m = o->fw->m;
    ag_info("offer '%s' of framework '%s' timed out", o->id, o->fw->id);
    ag_master_offer_remove(m, o, true, true, 0);
    ag_master_allocate_soon(m);
}

/* A framework's used/offered tallies span agents. Ranges and sets add by
 * union, so the same port offered or used on two agents would count once
 * and then be removed twice: the tallies keep scalar quantities only. */
static bool is_scalar(const struct ag_resource *res, void *arg)
{
    (void)arg;
    return res->type == AG_VALUE_SCALAR;
}

static void fw_tally_add(struct ag_resources *tally, const struct ag_resources *r)
{
    struct ag_resources q;
    if (ag_resources_filter(r, is_scalar, NULL, &q) == 0)
        ag_resources_add(tally, &q);
    ag_resources_release(&q);
}

static int fw_tally_subtract(struct ag_resources *tally, const struct ag_resources *r)
{
    struct ag_resources q;
    int rc = ag_resources_filter(r, is_scalar, NULL, &q);
    if (rc == 0)
        rc = ag_resources_subtract(tally, &q);
    ag_resources_release(&q);
    return rc;
}

static struct ag_master_offer *offer_create(struct ag_master *m, struct ag_master_framework *fw,
                                            struct ag_master_agent *a, const char *role,
                                            struct ag_resources *res)
{
    struct ag_master_offer *o = xcalloc(1, sizeof(*o));
    char id[AG_UUID_STR_LEN + 32];
    snprintf(id, sizeof(id), "%s-O%" PRIu64, m->id, m->next_offer++);
    o->id = xstrdup(id);
    o->fw = fw;
    o->agent = a;
    o->role = xstrdup(role);
    o->resources = *res; /* moved */
    ag_resources_init(res);
    o->created = ag_now();
    ag_master_list_append(&fw->offers, &o->fw_link);
    ag_master_list_append(&a->offers, &o->agent_link);
    fw_tally_add(&fw->offered, &o->resources);
    ag_resources_add(&a->offered, &o->resources);
    ag_master_map_put(&m->offers, o->id, o);
    if (m->cfg.offer_timeout > 0) {
        o->timer = ag_timer_new(m->loop, offer_timeout_cb, o);
        if (o->timer)
            ag_timer_start(o->timer, m->cfg.offer_timeout);
    }
    return o;
}

void ag_master_offer_remove(struct ag_master *m, struct ag_master_offer *o, bool rescind,
                            bool recover, double refuse_seconds)
{
    ag_master_map_remove(&m->offers, o->id);
    ag_master_list_unlink(&o->fw_link);
    ag_master_list_unlink(&o->agent_link);
    if (fw_tally_subtract(&o->fw->offered, &o->resources) < 0)
        ag_warn("offer '%s': framework offered resources out of sync", o->id);
    if (ag_resources_subtract(&o->agent->offered, &o->resources) < 0)
        ag_warn("offer '%s': agent offered resources out of sync", o->id);
    if (rescind) {
        json_t *ev = event_new("RESCIND");
        json_object_set_new(ev, "rescind", json_pack("{s:o}", "offer_id", ag_json_id(o->id)));
        ag_master_send_fw(m, o->fw, ev);
    }
    if (recover && o->agent->in_allocator)
        m->alloc_ops->recover(m->alloc, o->fw->id, o->role, o->agent->id, &o->resources,
                              refuse_seconds, ag_monotonic());
    ag_timer_free(o->timer);
    ag_resources_release(&o->resources);
    free(o->role);
    free(o->id);
    free(o);
}

/* Removes every offer on a list (a framework's or an agent's). */
static void remove_offers(struct ag_master *m, struct ag_master_list *head, bool fw_list,
                          bool rescind)
{
    while (!ag_master_list_empty(head)) {
        struct ag_master_offer *o =
            fw_list ? ag_master_container_of(head->next, struct ag_master_offer, fw_link)
                    : ag_master_container_of(head->next, struct ag_master_offer, agent_link);
        ag_master_offer_remove(m, o, rescind, true, 0);
    }
}

/* --- offer trace (AGORA_OFFER_TRACE) ---
 * A benchmark aid: per freed agent, the wait from a task's resources freed
 * to the allocation round that offers them, and per OFFERS event carrying
 * such an agent, the round's start to the event queued, and the bytes
 * already queued ahead of it on the framework's stream (written before
 * it). Printed on stderr when the master is freed. */
struct trace_series {
    double *v;
    size_t n, cap;
};

struct ag_master_offer_trace {
    double round_at;
    struct trace_series wait, queue, ahead_kb;
    /* AGORA_OFFER_TRACE=/path: per offer "O offer fw freed round" and per
     * OFFERS event "Q fw queued" (monotonic seconds, the clock
     * bench-loadfw's trace uses), joined by bench/scale. */
    FILE *out;
};

static void trace_add(struct trace_series *t, double v)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 1024;
        double *grown = realloc(t->v, cap * sizeof(*grown));
        if (!grown)
            return; /* a lost sample, not a lost master */
        t->v = grown;
        t->cap = cap;
    }
    t->v[t->n++] = v;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void trace_print(const char *what, struct trace_series *t)
{
    if (t->n == 0)
        return;
    qsort(t->v, t->n, sizeof(double), cmp_double);
    fprintf(stderr, "# master offer trace: %s: p50 %.2f p90 %.2f p99 %.2f max %.2f (%zu)\n", what,
            t->v[t->n / 2], t->v[t->n * 9 / 10], t->v[t->n * 99 / 100], t->v[t->n - 1], t->n);
}

static void trace_free(struct ag_master_offer_trace *tr)
{
    if (!tr)
        return;
    trace_print("freed -> allocation round (ms)", &tr->wait);
    trace_print("round -> OFFERS queued (ms)", &tr->queue);
    trace_print("bytes queued ahead of the OFFERS (KB)", &tr->ahead_kb);
    free(tr->wait.v);
    free(tr->queue.v);
    free(tr->ahead_kb.v);
    if (tr->out)
        fclose(tr->out);
    free(tr);
}

/* Before the event is queued: what is ahead of it on the stream. */
static void trace_offers_queued(struct ag_master *m, struct ag_master_framework *fw)
{
    if (!m->trace || fw->trace_freed_at <= 0)
        return;
    fw->trace_freed_at = 0;
    if (m->trace->out)
        fprintf(m->trace->out, "Q %s %.6f\n", fw->id, ag_monotonic());
    size_t ahead = fw->stream ? ag_http_stream_pending(fw->stream) : 0;
    trace_add(&m->trace->ahead_kb, (double)ahead / 1024);
}

/* Turns the offers the allocator decided on into Offer objects and sends
 * each framework one OFFERS event. */
static bool is_refined(const struct ag_resource *res, void *arg)
{
    (void)arg;
    return res->n_reservations > 1;
}

static bool not_refined(const struct ag_resource *res, void *arg)
{
    return !is_refined(res, arg);
}

/* Refined reservations cannot be shown in the pre-refinement format
 * (§3.3): a framework without RESERVATION_REFINEMENT is not offered them;
 * they go back with the default filter. */
static void hold_back_refined(struct ag_master *m, struct ag_master_pending_offer *po, double now)
{
    struct ag_resources refined, rest;
    if (ag_resources_filter(&po->resources, is_refined, NULL, &refined) < 0)
        return;
    if (!ag_resources_empty(&refined) &&
        ag_resources_filter(&po->resources, not_refined, NULL, &rest) == 0) {
        m->alloc_ops->recover(m->alloc, po->framework_id, po->role, po->agent_id, &refined, -1,
                              now);
        ag_resources_release(&po->resources);
        po->resources = rest;
    }
    ag_resources_release(&refined);
}

static void flush_pending_offers(struct ag_master *m)
{
    struct ag_master_framework **touched = NULL;
    size_t n_touched = 0;
    double now = ag_monotonic();

    for (size_t i = 0; i < m->n_pending; i++) {
        struct ag_master_pending_offer *po = &m->pending[i];
        struct ag_master_framework *fw = ag_master_fw_find(m, po->framework_id);
        struct ag_master_agent *a = ag_master_agent_find(m, po->agent_id);
        if (!fw || fw->state != AG_MASTER_FW_CONNECTED || !a ||
            a->state != AG_MASTER_AGENT_CONNECTED || ag_resources_empty(&po->resources)) {
            /* The allocator raced with a disconnect: give it back. */
            m->alloc_ops->recover(m->alloc, po->framework_id, po->role, po->agent_id,
                                  &po->resources, 0, now);
        } else {
            if (!(fw->caps & AG_CAP_RESERVATION_REFINEMENT))
                hold_back_refined(m, po, now);
            if (ag_resources_empty(&po->resources))
                goto next;
            struct ag_master_offer *o = offer_create(m, fw, a, po->role, &po->resources);
            if (m->trace && a->freed_at > 0) {
                trace_add(&m->trace->wait, (m->trace->round_at - a->freed_at) * 1000);
                if (m->trace->out)
                    fprintf(m->trace->out, "O %s %s %.6f %.6f\n", o->id, fw->id, a->freed_at,
                            m->trace->round_at);
                if (fw->trace_freed_at <= 0)
                    fw->trace_freed_at = a->freed_at;
                a->freed_at = 0;
            }
            if (!fw->pending_offers) {
                fw->pending_offers = json_array();
                struct ag_master_framework **t =
                    realloc(touched, (n_touched + 1) * sizeof(*touched));
                if (!t) {
                    ag_error("out of memory");
                    abort();
                }
                touched = t;
                touched[n_touched++] = fw;
            }
            json_array_append_new(fw->pending_offers, ag_master_offer_json(o));
        }
    next:
        ag_resources_release(&po->resources);
        free(po->framework_id);
        free(po->role);
        free(po->agent_id);
    }
    m->n_pending = 0;

    for (size_t i = 0; i < n_touched; i++) {
        struct ag_master_framework *fw = touched[i];
        json_t *ev = event_new("OFFERS");
        json_object_set_new(ev, "offers", json_pack("{s:o}", "offers", fw->pending_offers));
        fw->pending_offers = NULL;
        ag_debug("sending %zu offer(s) to framework '%s'",
                 json_array_size(json_object_get(json_object_get(ev, "offers"), "offers")), fw->id);
        bool traced = m->trace && fw->trace_freed_at > 0;
        trace_offers_queued(m, fw);
        ag_master_send_fw(m, fw, ev);
        if (traced)
            trace_add(&m->trace->queue, (ag_monotonic() - m->trace->round_at) * 1000);
    }
    free(touched);
}

/* One allocation round. A full round visits every agent; the batched
 * rounds that follow events visit only what changed (the allocator turns
 * cluster-wide events such as a new framework or REVIVE into a full round
 * itself), so an event costs what it touched, not the cluster. */
static void allocate_round(struct ag_master *m, bool full)
{
    if (m->allocating)
        return;
    if (m->alloc_soon)
        ag_timer_stop(m->alloc_soon);
    m->allocating = true;
    if (m->trace)
        m->trace->round_at = ag_monotonic();
    if (!full && m->alloc_ops->allocate_changed)
        m->alloc_ops->allocate_changed(m->alloc, ag_monotonic());
    else
        m->alloc_ops->allocate(m->alloc, ag_monotonic());
    m->allocating = false;
    m->metrics.allocation_runs++;
    flush_pending_offers(m);
}

void ag_master_allocate(struct ag_master *m)
{
    allocate_round(m, true);
}

/* The periodic tick: a full round, since decline filters expire by time
 * and nothing marks their agents as changed. */
static void allocate_tick_cb(void *arg)
{
    allocate_round(arg, true);
}

static void allocate_soon_cb(void *arg)
{
    allocate_round(arg, false);
}

void ag_master_allocate_soon(struct ag_master *m)
{
    if (m->alloc_soon && !ag_timer_pending(m->alloc_soon))
        ag_timer_start(m->alloc_soon, ALLOCATE_SOON_DELAY);
}

/* --- frameworks --- */

struct ag_master_framework *ag_master_fw_find(struct ag_master *m, const char *id)
{
    return id ? ag_master_map_get(&m->frameworks, id) : NULL;
}

bool ag_master_fw_partition_aware(const struct ag_master_framework *fw)
{
    return (fw->caps & AG_CAP_PARTITION_AWARE) != 0;
}

enum ag_resources_format ag_master_fw_format(const struct ag_master_framework *fw)
{
    return (fw->caps & AG_CAP_RESERVATION_REFINEMENT) ? AG_RESOURCES_POST_REFINEMENT
                                                      : AG_RESOURCES_PRE_REFINEMENT;
}

bool ag_master_fw_has_role(const struct ag_master_framework *fw, const char *role)
{
    return ag_master_map_has(&fw->role_index, role);
}

static void fw_set_roles(struct ag_master_framework *fw, struct ag_master_fwinfo *fi)
{
    for (size_t i = 0; i < fw->n_roles; i++)
        free(fw->roles[i]);
    free(fw->roles);
    fw->roles = fi->roles;
    fw->n_roles = fi->n_roles;
    fw->caps = fi->caps;
    fi->roles = NULL;
    fi->n_roles = 0;
    ag_master_map_release(&fw->role_index);
    for (size_t i = 0; i < fw->n_roles; i++)
        ag_master_map_put(&fw->role_index, fw->roles[i], NULL);
}

static struct ag_master_framework *fw_new(struct ag_master *m, const char *id)
{
    struct ag_master_framework *fw = xcalloc(1, sizeof(*fw));
    fw->m = m;
    fw->id = xstrdup(id);
    ag_master_map_init(&fw->tasks);
    ag_master_map_init(&fw->role_index);
    ag_master_list_init(&fw->completed);
    ag_master_list_init(&fw->unreachable);
    ag_master_list_init(&fw->offers);
    ag_master_list_init(&fw->executors);
    ag_master_list_init(&fw->completed_link);
    ag_resources_init(&fw->used);
    ag_resources_init(&fw->offered);
    fw->state = AG_MASTER_FW_RECOVERED; /* initial state */
    ag_master_map_put(&m->frameworks, fw->id, fw);
    return fw;
}

static void task_free(struct ag_master_task *t);
static void track_unreachable(struct ag_master *m, struct ag_master_task *t, enum ag_task_state old,
                              enum ag_task_state state);

/* Frees a framework that holds no offers and no active tasks. */
static void fw_free(struct ag_master_framework *fw)
{
    ag_timer_free(fw->heartbeat);
    ag_timer_free(fw->failover);
    for (struct ag_master_map_entry *e = fw->tasks.head; e; e = e->next)
        task_free(e->value);
    ag_master_map_release(&fw->tasks);
    while (!ag_master_list_empty(&fw->completed)) {
        struct ag_master_task *t =
            ag_master_container_of(fw->completed.next, struct ag_master_task, fw_link);
        ag_master_list_unlink(&t->fw_link);
        task_free(t);
    }
    for (size_t i = 0; i < fw->n_roles; i++)
        free(fw->roles[i]);
    free(fw->roles);
    ag_master_map_release(&fw->role_index);
    json_decref(fw->info);
    json_decref(fw->pending_offers);
    ag_resources_release(&fw->used);
    ag_resources_release(&fw->offered);
    free(fw->id);
    free(fw);
}

static void fw_heartbeat_cb(void *arg)
{
    struct ag_master_framework *fw = arg;
    ag_master_send_fw(fw->m, fw, event_new("HEARTBEAT"));
}

static void fw_failover_cb(void *arg)
{
    struct ag_master_framework *fw = arg;
    ag_info("framework '%s' did not re-subscribe within its failover timeout; removing it", fw->id);
    ag_master_fw_remove(fw->m, fw);
}

static const char *json_str(const json_t *obj, const char *key)
{
    json_t *v = ag_json_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static bool same_optional_string(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

/* Tells the allocator about the framework's roles and suppressed roles. */
static void fw_allocator_add(struct ag_master *m, struct ag_master_framework *fw,
                             const json_t *suppressed, bool active)
{
    size_t n_sup = json_array_size(suppressed);
    const char **sup = n_sup ? xcalloc(n_sup, sizeof(*sup)) : NULL;
    for (size_t i = 0; i < n_sup; i++)
        sup[i] = json_string_value(json_array_get(suppressed, i));
    int r = m->alloc_ops->add_framework(m->alloc, fw->id, (const char *const *)fw->roles,
                                        fw->n_roles, sup, n_sup, active);
    if (r < 0)
        ag_warn("allocator refused framework '%s': %s", fw->id, strerror(-r));
    free(sup);
}

static void send_subscribed(struct ag_master *m, struct ag_master_framework *fw)
{
    json_t *ev = event_new("SUBSCRIBED");
    json_object_set_new(ev, "subscribed",
                        json_pack("{s:o, s:f, s:o}", "framework_id", ag_json_id(fw->id),
                                  "heartbeat_interval_seconds", m->cfg.framework_heartbeat_interval,
                                  "master_info", ag_master_info_json(m)));
    ag_master_send_fw(m, fw, ev);
}

int ag_master_fw_subscribe(struct ag_master *m, const json_t *framework_info,
                           const json_t *suppressed_roles, struct ag_http_stream *stream,
                           const char *stream_id, struct ag_master_framework **ret_fw, char *err,
                           size_t errlen)
{
    struct ag_master_fwinfo fi;
    if (ag_master_validate_framework_info(framework_info, suppressed_roles, &fi, err, errlen) < 0)
        return -EINVAL;

    char e[256] = "";
    const char *id = ag_json_get_id(framework_info, "id", false, e, sizeof(e));
    struct ag_master_framework *fw = NULL;
    double now = ag_now();
    if (id) {
        if (ag_master_map_has(&m->removed_ids, id)) {
            snprintf(err, errlen, "Framework has been removed");
            ag_master_fwinfo_release(&fi);
            return -EINVAL;
        }
        fw = ag_master_fw_find(m, id);
    }

    if (fw && fw->state != AG_MASTER_FW_RECOVERED &&
        !same_optional_string(json_str(fw->info, "principal"),
                              json_str(framework_info, "principal"))) {
        snprintf(err, errlen, "Changing 'FrameworkInfo.principal' is not allowed");
        ag_master_fwinfo_release(&fi);
        return -EINVAL;
    }

    json_t *info = json_deep_copy(framework_info);
    if (!info) {
        snprintf(err, errlen, "out of memory");
        ag_master_fwinfo_release(&fi);
        return -ENOMEM;
    }

    if (!fw) {
        char nid[AG_UUID_STR_LEN + 32];
        if (!id) {
            snprintf(nid, sizeof(nid), "%s-%04" PRIu64, m->id, m->next_framework++);
            id = nid;
        }
        fw = fw_new(m, id);
        fw->registered_time = now;
        m->metrics.msg_register_framework++;
        ag_info("framework '%s' (%s) subscribed%s", fw->id, json_str(info, "name"),
                stream ? "" : " (no stream)");
    } else {
        if (fw->stream) {
            json_t *ev = event_new("ERROR");
            json_object_set_new(ev, "error",
                                json_pack("{s:s}", "message", "Framework failed over"));
            ag_master_send_fw(m, fw, ev);
            ag_http_stream_end(fw->stream);
            fw->stream = NULL;
        }
        /* Offers never survive a (re-)subscription. */
        remove_offers(m, &fw->offers, true, false);
        if (fw->state == AG_MASTER_FW_RECOVERED) {
            fw->registered_time = now;
        } else {
            /* user and checkpoint changes are silently ignored (§2.2). */
            json_t *v;
            if ((v = json_object_get(fw->info, "user")))
                json_object_set(info, "user", v);
            if ((v = json_object_get(fw->info, "checkpoint")))
                json_object_set(info, "checkpoint", v);
            else
                json_object_del(info, "checkpoint");
            fw->reregistered_time = now;
        }
        if (fw->failover)
            ag_timer_stop(fw->failover);
        m->metrics.msg_reregister_framework++;
        ag_info("framework '%s' (%s) re-subscribed", fw->id, json_str(info, "name"));
    }
    ag_json_set_id(info, "id", fw->id);
    json_decref(fw->info);
    fw->info = info;
    fw_set_roles(fw, &fi);
    ag_master_fwinfo_release(&fi);

    fw_transition(fw, AG_MASTER_FW_CONNECTED);
    fw->stream = stream;
    fw->overflowed = false;
    snprintf(fw->stream_id, sizeof(fw->stream_id), "%s", stream_id ? stream_id : "");
    if (stream)
        ag_http_stream_set_data(stream, fw);
    /* Offer latency: an OFFERS event queued by the (urgent) allocation
     * round goes out before the rest of a burst of calls is served, rather
     * than at the end of the loop's queue. The updates before it on the
     * stream still go first. */
    if (stream && ag_http_stream_set_urgent(stream) < 0)
        ag_warn("framework '%s': cannot make its event stream urgent", fw->id);
    fw_allocator_add(m, fw, suppressed_roles, true);
    m->alloc_ops->set_framework_active(m->alloc, fw->id, true);

    send_subscribed(m, fw);
    if (!fw->heartbeat)
        fw->heartbeat = ag_timer_new(m->loop, fw_heartbeat_cb, fw);
    if (fw->heartbeat && m->cfg.framework_heartbeat_interval > 0)
        ag_timer_start_periodic(fw->heartbeat, m->cfg.framework_heartbeat_interval);
    ag_master_allocate_soon(m);
    if (ret_fw)
        *ret_fw = fw;
    return 0;
}

int ag_master_fw_update(struct ag_master *m, struct ag_master_framework *fw,
                        const json_t *framework_info, const json_t *suppressed_roles, char *err,
                        size_t errlen)
{
    struct ag_master_fwinfo fi;
    if (ag_master_validate_framework_info(framework_info, suppressed_roles, &fi, err, errlen) < 0)
        return -EINVAL;
    static const char *const fixed[] = {"user", "checkpoint", "principal"};
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        json_t *a = ag_json_get(fw->info, fixed[i]);
        json_t *b = ag_json_get(framework_info, fixed[i]);
        bool same = (!a && !b) || (a && b && json_equal(a, b));
        if (!same && strcmp(fixed[i], "checkpoint") == 0)
            same = json_is_true(a) == json_is_true(b);
        if (!same) {
            snprintf(err, errlen, "Updating 'FrameworkInfo.%s' is not supported", fixed[i]);
            ag_master_fwinfo_release(&fi);
            return -EINVAL;
        }
    }
    json_t *info = json_deep_copy(framework_info);
    if (!info) {
        ag_master_fwinfo_release(&fi);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    ag_json_set_id(info, "id", fw->id);
    json_decref(fw->info);
    fw->info = info;
    fw_set_roles(fw, &fi);
    ag_master_fwinfo_release(&fi);

    /* Offers for roles the framework left are rescinded. */
    struct ag_master_list *n = fw->offers.next, *next;
    for (; n != &fw->offers; n = next) {
        next = n->next;
        struct ag_master_offer *o = ag_master_container_of(n, struct ag_master_offer, fw_link);
        if (!ag_master_fw_has_role(fw, o->role))
            ag_master_offer_remove(m, o, true, true, 0);
    }
    fw_allocator_add(m, fw, suppressed_roles, fw->state == AG_MASTER_FW_CONNECTED);
    ag_info("framework '%s' updated its FrameworkInfo", fw->id);
    ag_master_allocate_soon(m);
    return 0;
}

void ag_master_fw_disconnected(struct ag_master *m, struct ag_master_framework *fw)
{
    if (fw->state != AG_MASTER_FW_CONNECTED)
        return;
    fw_transition(fw, AG_MASTER_FW_DISCONNECTED);
    fw->stream = NULL;
    fw->unregistered_time = ag_now();
    if (fw->heartbeat)
        ag_timer_stop(fw->heartbeat);
    m->alloc_ops->set_framework_active(m->alloc, fw->id, false);
    remove_offers(m, &fw->offers, true, false);

    double timeout = 0;
    char e[256] = "";
    ag_json_get_number(fw->info, "failover_timeout", false, &timeout, e, sizeof(e));
    if (timeout < 0)
        timeout = 0;
    ag_info("framework '%s' disconnected; failover timeout %gs", fw->id, timeout);
    if (!fw->failover)
        fw->failover = ag_timer_new(m->loop, fw_failover_cb, fw);
    if (fw->failover)
        ag_timer_start(fw->failover, timeout);
    ag_master_allocate_soon(m);
}

/* Records that `agent` needs a SHUTDOWN_FRAMEWORK (once per agent). */
static void note_agent(struct ag_master_map *seen, struct ag_master_agent *a)
{
    if (!ag_master_map_has(seen, a->id))
        ag_master_map_put(seen, a->id, a);
}

void ag_master_fw_remove(struct ag_master *m, struct ag_master_framework *fw)
{
    if (fw->state == AG_MASTER_FW_REMOVED)
        return;
    ag_info("removing framework '%s'", fw->id);
    if (fw->stream) {
        ag_http_stream_end(fw->stream);
        fw->stream = NULL;
    }
    if (fw->heartbeat)
        ag_timer_stop(fw->heartbeat);
    if (fw->failover)
        ag_timer_stop(fw->failover);
    remove_offers(m, &fw->offers, true, false);

    struct ag_master_map seen;
    ag_master_map_init(&seen);
    struct ag_master_map_entry *e, *next;
    for (e = fw->tasks.head; e; e = next) {
        next = e->next;
        struct ag_master_task *t = e->value;
        note_agent(&seen, t->agent);
        if (!ag_task_state_is_terminal(t->state)) {
            json_t *st = ag_task_status_new(t->id, AG_TASK_KILLED, "SOURCE_MASTER",
                                            "REASON_FRAMEWORK_REMOVED", "Framework removed",
                                            t->agent->id, t->executor_id);
            ag_master_task_add_status(t, st);
            ag_master_task_set_state(m, t, AG_TASK_KILLED);
        }
        ag_master_task_complete(m, t);
    }
    while (!ag_master_list_empty(&fw->executors)) {
        struct ag_master_executor *x =
            ag_master_container_of(fw->executors.next, struct ag_master_executor, fw_link);
        note_agent(&seen, x->agent);
        ag_master_executor_remove(m, x);
    }
    for (e = seen.head; e; e = e->next) {
        struct ag_master_agent *a = e->value;
        if (a->state != AG_MASTER_AGENT_CONNECTED)
            continue;
        json_t *ev = event_new("SHUTDOWN_FRAMEWORK");
        json_object_set_new(ev, "shutdown_framework",
                            json_pack("{s:o}", "framework_id", ag_json_id(fw->id)));
        ag_master_send_agent(m, a, ev);
    }
    ag_master_map_release(&seen);

    m->alloc_ops->remove_framework(m->alloc, fw->id);
    fw_transition(fw, AG_MASTER_FW_REMOVED);
    fw->unregistered_time = ag_now();
    m->metrics.msg_unregister_framework++;
    ag_master_map_remove(&m->frameworks, fw->id);
    ag_master_map_put(&m->removed_ids, fw->id, NULL);
    ag_master_list_append(&m->completed_frameworks, &fw->completed_link);
    m->n_completed_frameworks++;
    while (m->n_completed_frameworks >
           (size_t)(m->cfg.max_completed_frameworks > 0 ? m->cfg.max_completed_frameworks : 0)) {
        struct ag_master_framework *old = ag_master_container_of(
            m->completed_frameworks.next, struct ag_master_framework, completed_link);
        ag_master_list_unlink(&old->completed_link);
        m->n_completed_frameworks--;
        fw_free(old);
    }
    ag_master_allocate_soon(m);
}

/* A framework known only from an agent's report (after a master restart). */
static struct ag_master_framework *fw_recovered(struct ag_master *m, const char *id,
                                                const json_t *info)
{
    struct ag_master_framework *fw = fw_new(m, id);
    fw->info = info ? json_deep_copy(info) : json_pack("{s:s, s:s}", "user", "", "name", "");
    ag_json_set_id(fw->info, "id", id);
    struct ag_master_fwinfo fi;
    char err[256];
    if (ag_master_validate_framework_info(fw->info, NULL, &fi, err, sizeof(err)) == 0) {
        fw_set_roles(fw, &fi);
        ag_master_fwinfo_release(&fi);
    }
    fw_transition(fw, AG_MASTER_FW_RECOVERED);
    fw->registered_time = ag_now();
    ag_info("framework '%s' recovered from an agent's report", id);
    return fw;
}

/* --- tasks --- */

static void task_free(struct ag_master_task *t)
{
    ag_master_list_unlink(&t->agent_link);
    ag_resources_release(&t->resources);
    json_decref(t->extra);
    for (size_t i = 0; i < t->n_statuses; i++) {
        free(t->statuses[i].json);
        free(t->statuses[i].legacy);
    }
    free(t->statuses);
    free(t->shown[0]);
    free(t->shown[1]);
    free(t->name);
    free(t->user);
    free(t->update_uuid);
    free(t->executor_id);
    free(t->role);
    free(t->id);
    free(t);
}

static const char *info_str(const json_t *obj, const char *key)
{
    json_t *v = ag_json_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Keeps the parts of the TaskInfo the endpoints show (see the struct). */
static void task_keep_info(struct ag_master_task *t, const json_t *info)
{
    const char *name = info_str(info, "name");
    t->name = xstrdup(name ? name : "");
    const char *user = info_str(ag_json_get(info, "command"), "user");
    if (!user)
        user = info_str(ag_json_get(ag_json_get(info, "executor"), "command"), "user");
    t->user = user ? xstrdup(user) : NULL;
    static const char *const shown[] = {"labels",       "discovery",   "container",
                                        "health_check", "kill_policy", "limits"};
    for (size_t i = 0; i < sizeof(shown) / sizeof(shown[0]); i++) {
        json_t *v = ag_json_get(info, shown[i]);
        if (!v)
            continue;
        if (!t->extra)
            t->extra = json_object();
        json_object_set(t->extra, shown[i], v);
    }
}

struct ag_master_task *ag_master_task_new(struct ag_master *m, struct ag_master_framework *fw,
                                          struct ag_master_agent *a, const char *task_id,
                                          const char *executor_id, const char *role, json_t *info,
                                          const struct ag_resources *res, enum ag_task_state state)
{
    struct ag_master_task *t = xcalloc(1, sizeof(*t));
    t->id = xstrdup(task_id);
    t->fw = fw;
    t->agent = a;
    t->executor_id = executor_id ? xstrdup(executor_id) : NULL;
    t->role = xstrdup(role);
    task_keep_info(t, info);
    ag_resources_init(&t->resources);
    if (res)
        ag_resources_copy(&t->resources, res);
    t->state = state;
    t->launch_time = ag_now();
    ag_master_list_init(&t->agent_link);
    ag_master_list_init(&t->fw_link);
    ag_master_list_append(&a->tasks, &t->agent_link);
    ag_master_map_put(&fw->tasks, t->id, t);
    m->metrics.tasks_gauge[state]++;
    if (state == AG_TASK_UNREACHABLE)
        track_unreachable(m, t, AG_TASK_STAGING, state);
    return t;
}

void ag_master_task_hold(struct ag_master *m, struct ag_master_task *t, bool to_allocator)
{
    if (t->held)
        return;
    ag_resources_add(&t->agent->used, &t->resources);
    fw_tally_add(&t->fw->used, &t->resources);
    if (to_allocator && t->agent->in_allocator) {
        int r = m->alloc_ops->add_used(m->alloc, t->fw->id, t->role, t->agent->id, &t->resources);
        if (r < 0)
            ag_warn("allocator refused the resources of task '%s': %s", t->id, strerror(-r));
    }
    t->held = true;
}

void ag_master_task_release(struct ag_master *m, struct ag_master_task *t)
{
    if (!t->held)
        return;
    t->held = false;
    if (ag_resources_subtract(&t->agent->used, &t->resources) < 0)
        ag_warn("task '%s': agent used resources out of sync", t->id);
    if (fw_tally_subtract(&t->fw->used, &t->resources) < 0)
        ag_warn("task '%s': framework used resources out of sync", t->id);
    if (t->agent->in_allocator) {
        if (m->trace && t->agent->freed_at <= 0)
            t->agent->freed_at = ag_monotonic();
        m->alloc_ops->recover(m->alloc, t->fw->id, t->role, t->agent->id, &t->resources, 0,
                              ag_monotonic());
        ag_master_allocate_soon(m);
    }
}

/* Forgets a task entirely (no completed entry): the oldest unreachable
 * tasks beyond --max_unreachable_tasks_per_framework. */
static void task_forget(struct ag_master *m, struct ag_master_task *t)
{
    ag_master_map_remove(&t->fw->tasks, t->id);
    ag_master_list_unlink(&t->fw_link);
    t->fw->n_unreachable--;
    if (m->metrics.tasks_gauge[t->state] > 0)
        m->metrics.tasks_gauge[t->state]--;
    ag_info("forgetting unreachable task '%s' of framework '%s' (over the limit)", t->id,
            t->fw->id);
    task_free(t);
}

/* Keeps the framework's unreachable list in step with a state change. */
static void track_unreachable(struct ag_master *m, struct ag_master_task *t, enum ag_task_state old,
                              enum ag_task_state state)
{
    struct ag_master_framework *fw = t->fw;
    if (old == AG_TASK_UNREACHABLE) {
        ag_master_list_unlink(&t->fw_link);
        fw->n_unreachable--;
    }
    if (state != AG_TASK_UNREACHABLE)
        return;
    ag_master_list_append(&fw->unreachable, &t->fw_link);
    fw->n_unreachable++;
    size_t max = m->cfg.max_unreachable_tasks_per_framework > 0
                     ? (size_t)m->cfg.max_unreachable_tasks_per_framework
                     : 0;
    while (fw->n_unreachable > max) {
        struct ag_master_task *oldest =
            ag_master_container_of(fw->unreachable.next, struct ag_master_task, fw_link);
        if (oldest == t)
            break; /* never the task being changed: the caller still holds it */
        task_forget(m, oldest);
    }
}

void ag_master_task_set_state(struct ag_master *m, struct ag_master_task *t,
                              enum ag_task_state state)
{
    if (t->state == state)
        return;
    enum ag_task_state old = t->state;
    if (!t->completed) {
        if (m->metrics.tasks_gauge[old] > 0)
            m->metrics.tasks_gauge[old]--;
        m->metrics.tasks_gauge[state]++;
        track_unreachable(m, t, old, state);
    }
    t->state = state;
    if (ag_task_state_is_terminal(state) && !ag_task_state_is_terminal(old)) {
        m->metrics.tasks_terminal[state]++;
        ag_master_task_release(m, t);
    }
    ag_debug("task '%s' of framework '%s': %s -> %s", t->id, t->fw->id, ag_task_state_name(old),
             ag_task_state_name(state));
}

void ag_master_task_complete(struct ag_master *m, struct ag_master_task *t)
{
    if (t->completed)
        return;
    ag_master_task_release(m, t);
    if (t->state == AG_TASK_UNREACHABLE) {
        ag_master_list_unlink(&t->fw_link);
        t->fw->n_unreachable--;
    }
    ag_master_map_remove(&t->fw->tasks, t->id);
    ag_master_list_unlink(&t->agent_link);
    if (m->metrics.tasks_gauge[t->state] > 0)
        m->metrics.tasks_gauge[t->state]--;
    t->completed = true;
    /* Completed tasks keep no status data (memory, §4.3). */
    for (size_t i = 0; i < t->n_statuses; i++)
        status_drop_data(&t->statuses[i]);

    struct ag_master_framework *fw = t->fw;
    ag_master_list_append(&fw->completed, &t->fw_link);
    fw->n_completed++;
    size_t max = m->cfg.max_completed_tasks_per_framework > 0
                     ? (size_t)m->cfg.max_completed_tasks_per_framework
                     : 0;
    while (fw->n_completed > max) {
        struct ag_master_task *old =
            ag_master_container_of(fw->completed.next, struct ag_master_task, fw_link);
        ag_master_list_unlink(&old->fw_link);
        fw->n_completed--;
        task_free(old);
    }
}

const struct ag_master_status *ag_master_task_add_status(struct ag_master_task *t, json_t *status)
{
    if (!status)
        return NULL;
    struct ag_master_status st = {
        .json = json_dumps(status, STATUS_DUMP_FLAGS),
        .legacy = ag_master_status_legacy_text(status),
        .has_data = ag_json_get(status, "data") != NULL,
    };
    json_decref(status);
    if (!st.json || !st.legacy) {
        free(st.json);
        free(st.legacy);
        ag_error("out of memory keeping a status of task '%s'", t->id);
        return NULL;
    }
    st.json_len = (uint32_t)strlen(st.json);
    st.legacy_len = (uint32_t)strlen(st.legacy);
    if (t->n_statuses >= MAX_TASK_STATUSES) {
        free(t->statuses[0].json);
        free(t->statuses[0].legacy);
        memmove(t->statuses, t->statuses + 1, (t->n_statuses - 1) * sizeof(*t->statuses));
        t->n_statuses--;
    }
    /* exact size: most tasks keep two or three statuses */
    struct ag_master_status *a = xrealloc(t->statuses, (t->n_statuses + 1) * sizeof(*a));
    a[t->n_statuses++] = st;
    t->statuses = a;
    return &a[t->n_statuses - 1];
}

json_t *ag_master_task_last_status(const struct ag_master_task *t)
{
    if (t->n_statuses == 0)
        return NULL;
    return json_loads(t->statuses[t->n_statuses - 1].json, 0, NULL);
}

/* --- executors --- */

/* The key of an executor in its agent's index. */
static void executor_key(char *out, size_t len, const char *framework_id, const char *executor_id)
{
    snprintf(out, len, "%s\n%s", framework_id, executor_id);
}

struct ag_master_executor *ag_master_executor_find(struct ag_master_agent *a,
                                                   const struct ag_master_framework *fw,
                                                   const char *executor_id)
{
    char key[2048];
    executor_key(key, sizeof(key), fw->id, executor_id);
    struct ag_master_executor *x = ag_master_map_get(&a->executor_index, key);
    return x && x->fw == fw && strcmp(x->id, executor_id) == 0 ? x : NULL;
}

struct ag_master_executor *ag_master_executor_new(struct ag_master *m,
                                                  struct ag_master_framework *fw,
                                                  struct ag_master_agent *a, json_t *info,
                                                  const struct ag_resources *res, const char *role,
                                                  bool to_allocator)
{
    struct ag_master_executor *x = xcalloc(1, sizeof(*x));
    char e[256] = "";
    x->id = xstrdup(ag_json_get_id(info, "executor_id", false, e, sizeof(e)));
    x->fw = fw;
    x->agent = a;
    x->info = json_incref(info);
    x->role = xstrdup(role);
    ag_resources_init(&x->resources);
    if (res)
        ag_resources_copy(&x->resources, res);
    ag_master_list_append(&a->executors, &x->agent_link);
    ag_master_list_append(&fw->executors, &x->fw_link);
    char key[2048];
    executor_key(key, sizeof(key), fw->id, x->id);
    ag_master_map_put(&a->executor_index, key, x);
    ag_resources_add(&a->used, &x->resources);
    fw_tally_add(&fw->used, &x->resources);
    if (to_allocator && a->in_allocator && !ag_resources_empty(&x->resources))
        m->alloc_ops->add_used(m->alloc, fw->id, role, a->id, &x->resources);
    x->held = true;
    return x;
}

void ag_master_executor_remove(struct ag_master *m, struct ag_master_executor *x)
{
    if (x->held) {
        ag_resources_subtract(&x->agent->used, &x->resources);
        fw_tally_subtract(&x->fw->used, &x->resources);
        if (x->agent->in_allocator && !ag_resources_empty(&x->resources)) {
            m->alloc_ops->recover(m->alloc, x->fw->id, x->role, x->agent->id, &x->resources, 0,
                                  ag_monotonic());
            ag_master_allocate_soon(m);
        }
    }
    char key[2048];
    executor_key(key, sizeof(key), x->fw->id, x->id);
    if (ag_master_map_get(&x->agent->executor_index, key) == x)
        ag_master_map_remove(&x->agent->executor_index, key);
    ag_master_list_unlink(&x->agent_link);
    ag_master_list_unlink(&x->fw_link);
    ag_resources_release(&x->resources);
    json_decref(x->info);
    free(x->role);
    free(x->id);
    free(x);
}

/* --- agents --- */

struct ag_master_agent *ag_master_agent_find(struct ag_master *m, const char *id)
{
    return id ? ag_master_map_get(&m->agents, id) : NULL;
}

void ag_master_agent_alive(struct ag_master_agent *a)
{
    a->missed_pings = 0;
    a->ping_outstanding = false;
}

static void agent_ping_cb(void *arg)
{
    struct ag_master_agent *a = arg;
    struct ag_master *m = a->m;
    if (a->state != AG_MASTER_AGENT_CONNECTED)
        return;
    if (a->ping_outstanding) {
        a->missed_pings++;
        if (a->missed_pings >= m->cfg.max_agent_ping_timeouts) {
            ag_warn("agent '%s' missed %d pings; marking it unreachable", a->id, a->missed_pings);
            ag_master_agent_unreachable(m, a);
            return;
        }
    }
    a->ping_outstanding = true;
    ag_master_send_agent(m, a, event_new("HEARTBEAT"));
}

static void agent_reregister_cb(void *arg)
{
    struct ag_master_agent *a = arg;
    ag_warn("agent '%s' did not come back within the re-registration timeout", a->id);
    ag_master_agent_unreachable(a->m, a);
}

static struct ag_master_agent *agent_new(struct ag_master *m, const char *id)
{
    struct ag_master_agent *a = xcalloc(1, sizeof(*a));
    a->m = m;
    a->id = xstrdup(id);
    ag_resources_init(&a->total);
    ag_resources_init(&a->used);
    ag_resources_init(&a->offered);
    ag_master_list_init(&a->tasks);
    ag_master_list_init(&a->executors);
    ag_master_map_init(&a->executor_index);
    ag_master_list_init(&a->offers);
    a->state = AG_MASTER_AGENT_DISCONNECTED; /* initial state */
    a->ping_timer = ag_timer_new(m->loop, agent_ping_cb, a);
    a->reregister_timer = ag_timer_new(m->loop, agent_reregister_cb, a);
    ag_master_map_put(&m->agents, a->id, a);
    return a;
}

static void agent_free(struct ag_master_agent *a)
{
    ag_timer_free(a->ping_timer);
    ag_timer_free(a->reregister_timer);
    ag_master_map_release(&a->executor_index);
    ag_resources_release(&a->total);
    ag_resources_release(&a->used);
    ag_resources_release(&a->offered);
    json_decref(a->info);
    ag_master_agent_text_free(a->shown[0]);
    ag_master_agent_text_free(a->shown[1]);
    free(a->hostname);
    free(a->ip);
    free(a->id);
    free(a);
}

/* An UPDATE generated by the master for a task (no uuid). */
static json_t *master_status(const struct ag_master_task *t, enum ag_task_state state,
                             const char *reason, const char *message)
{
    return ag_task_status_new(t->id, state, "SOURCE_MASTER", reason, message, t->agent->id,
                              t->executor_id);
}

/* The role of a task reported by an agent: its resources' allocation role,
 * else the framework's first role, else "*". */
static const char *reported_role(const struct ag_resources *res,
                                 const struct ag_master_framework *fw)
{
    for (size_t i = 0; i < res->n; i++)
        if (res->items[i].allocation_role)
            return res->items[i].allocation_role;
    return fw->n_roles > 0 ? fw->roles[0] : "*";
}

static const json_t *find_reported_fw_info(const json_t *subscribe, const char *fid)
{
    json_t *fws = ag_json_get(subscribe, "frameworks");
    size_t i;
    json_t *info;
    char e[256];
    json_array_foreach(fws, i, info)
    {
        e[0] = '\0';
        const char *id = ag_json_get_id(info, "id", false, e, sizeof(e));
        if (id && strcmp(id, fid) == 0)
            return info;
    }
    return NULL;
}

/* The framework a re-registering agent reports a task or executor for:
 * known, or recovered now; NULL if it was removed (then the agent is told
 * to shut it down). */
static struct ag_master_framework *reported_framework(struct ag_master *m,
                                                      struct ag_master_agent *a,
                                                      const json_t *subscribe, const char *fid)
{
    struct ag_master_framework *fw = ag_master_fw_find(m, fid);
    if (fw)
        return fw;
    if (ag_master_map_has(&m->removed_ids, fid)) {
        json_t *ev = event_new("SHUTDOWN_FRAMEWORK");
        json_object_set_new(ev, "shutdown_framework",
                            json_pack("{s:o}", "framework_id", ag_json_id(fid)));
        ag_master_send_agent(m, a, ev);
        return NULL;
    }
    return fw_recovered(m, fid, find_reported_fw_info(subscribe, fid));
}

/* Merges one task an agent reports on (re-)registration. Known tasks take
 * the agent's state; tasks the master had given up on are announced to the
 * framework again. Unknown tasks are adopted. */
static void admit_reported_task(struct ag_master *m, struct ag_master_agent *a,
                                const json_t *subscribe, const json_t *rt,
                                struct ag_master_map *reported)
{
    char e[256] = "";
    const char *tid = ag_json_get_id(rt, "task_id", false, e, sizeof(e));
    const char *fid = ag_json_get_id(rt, "framework_id", false, e, sizeof(e));
    json_t *sv = ag_json_get(rt, "state");
    enum ag_task_state state;
    if (!tid || !fid || !json_is_string(sv) ||
        ag_task_state_parse(json_string_value(sv), &state) < 0) {
        ag_warn("agent '%s' reported a malformed task; ignored", a->id);
        return;
    }
    struct ag_master_framework *fw = reported_framework(m, a, subscribe, fid);
    if (!fw)
        return;
    char key[1024];
    snprintf(key, sizeof(key), "%s\n%s", fid, tid);
    ag_master_map_put(reported, key, NULL);

    struct ag_master_task *t = ag_master_map_get(&fw->tasks, tid);
    if (t && t->agent != a) {
        ag_warn("agent '%s' reports task '%s' that the master knows on agent '%s'; ignored", a->id,
                tid, t->agent->id);
        return;
    }
    if (!t) {
        struct ag_resources res;
        ag_resources_init(&res);
        json_t *rarr = ag_json_get(rt, "resources");
        if (rarr && ag_resources_from_json(rarr, &res, e, sizeof(e)) < 0) {
            ag_warn("agent '%s' reported task '%s' with bad resources: %s", a->id, tid, e);
            ag_resources_clear(&res);
        }
        const char *eid = ag_json_get_id(rt, "executor_id", false, e, sizeof(e));
        json_t *info = json_deep_copy(rt);
        t = ag_master_task_new(m, fw, a, tid, eid, reported_role(&res, fw), info, &res, state);
        json_decref(info);
        ag_resources_release(&res);
        json_t *sts = ag_json_get(rt, "statuses");
        size_t i;
        json_t *st;
        json_array_foreach(sts, i, st) ag_master_task_add_status(t, json_deep_copy(st));
        /* The update the agent is delivering, so a later ACKNOWLEDGE of a
         * terminal one completes the task. */
        json_t *us = ag_json_get(rt, "status_update_state");
        json_t *uu = ag_json_get(rt, "status_update_uuid");
        enum ag_task_state ustate;
        if (json_is_string(us) && ag_task_state_parse(json_string_value(us), &ustate) == 0) {
            t->has_update_state = true;
            t->update_state = ustate;
            if (json_is_string(uu))
                t->update_uuid = xstrdup(json_string_value(uu));
        }
        if (!ag_task_state_is_terminal(state))
            ag_master_task_hold(m, t, true);
        ag_info("adopted task '%s' of framework '%s' on agent '%s' (%s)", tid, fid, a->id,
                ag_task_state_name(state));
        return;
    }

    bool was_given_up = t->state == AG_TASK_UNREACHABLE || t->state == AG_TASK_LOST;
    if (t->state != state) {
        if (ag_task_state_is_terminal(t->state) && !ag_task_state_is_terminal(state))
            t->held = false; /* released when it went terminal */
        ag_master_task_set_state(m, t, state);
    }
    t->unreachable_time = 0;
    if (!ag_task_state_is_terminal(state))
        ag_master_task_hold(m, t, true);
    if (was_given_up && state != AG_TASK_UNREACHABLE) {
        json_t *st = master_status(t, state, "REASON_AGENT_REREGISTERED",
                                   "Agent re-registered with the task");
        ag_master_task_add_status(t, json_deep_copy(st));
        if (t->fw->state == AG_MASTER_FW_CONNECTED)
            ag_master_send_update(m, t->fw, st);
        else
            json_decref(st);
    }
}

/* Tasks the master knew on the agent that the agent no longer reports. */
static void drop_unreported_tasks(struct ag_master *m, struct ag_master_agent *a,
                                  const struct ag_master_map *reported)
{
    struct ag_master_list *n = a->tasks.next, *next;
    for (; n != &a->tasks; n = next) {
        next = n->next;
        struct ag_master_task *t = ag_master_container_of(n, struct ag_master_task, agent_link);
        char key[1024];
        snprintf(key, sizeof(key), "%s\n%s", t->fw->id, t->id);
        if (ag_master_map_has(reported, key))
            continue;
        json_t *st =
            master_status(t, AG_TASK_GONE, "REASON_RECONCILIATION", "Task is unknown to the agent");
        ag_master_task_add_status(t, json_deep_copy(st));
        ag_master_task_set_state(
            m, t, ag_task_state_for(AG_TASK_GONE, ag_master_fw_partition_aware(t->fw)));
        if (t->fw->state == AG_MASTER_FW_CONNECTED)
            ag_master_send_update(m, t->fw, st);
        else
            json_decref(st);
        ag_master_task_complete(m, t);
    }
}

static void admit_reported_executors(struct ag_master *m, struct ag_master_agent *a,
                                     const json_t *subscribe)
{
    json_t *execs = ag_json_get(subscribe, "executors");
    size_t i;
    json_t *x;
    json_array_foreach(execs, i, x)
    {
        char e[256] = "";
        const char *fid = ag_json_get_id(x, "framework_id", false, e, sizeof(e));
        json_t *info = ag_json_get(x, "executor_info");
        const char *eid = ag_json_get_id(info, "executor_id", false, e, sizeof(e));
        if (!fid || !eid) {
            ag_warn("agent '%s' reported a malformed executor; ignored", a->id);
            continue;
        }
        struct ag_master_framework *fw = reported_framework(m, a, subscribe, fid);
        if (!fw || ag_master_executor_find(a, fw, eid))
            continue;
        /* A command task's executor (ExecutorID = TaskID) is not charged:
         * its task holds the resources (§4.2). */
        struct ag_master_task *t = ag_master_map_get(&fw->tasks, eid);
        if (t && !t->executor_id && t->agent == a)
            continue;
        struct ag_resources res;
        ag_resources_init(&res);
        json_t *rarr = ag_json_get(info, "resources");
        if (rarr && ag_resources_from_json(rarr, &res, e, sizeof(e)) < 0)
            ag_resources_clear(&res);
        json_t *norm = json_deep_copy(info);
        ag_json_set_id(norm, "framework_id", fid);
        ag_master_executor_new(m, fw, a, norm, &res, reported_role(&res, fw), true);
        json_decref(norm);
        ag_resources_release(&res);
    }
}

/* Executors the agent no longer reports are gone. */
static void drop_unreported_executors(struct ag_master *m, struct ag_master_agent *a,
                                      const json_t *subscribe)
{
    struct ag_master_map reported;
    ag_master_map_init(&reported);
    json_t *execs = ag_json_get(subscribe, "executors");
    size_t i;
    json_t *rx;
    json_array_foreach(execs, i, rx)
    {
        char e[256] = "", key[2048];
        const char *fid = ag_json_get_id(rx, "framework_id", false, e, sizeof(e));
        const char *eid =
            ag_json_get_id(ag_json_get(rx, "executor_info"), "executor_id", false, e, sizeof(e));
        if (fid && eid) {
            executor_key(key, sizeof(key), fid, eid);
            ag_master_map_put(&reported, key, NULL);
        }
    }
    struct ag_master_list *n = a->executors.next, *next;
    for (; n != &a->executors; n = next) {
        next = n->next;
        struct ag_master_executor *x =
            ag_master_container_of(n, struct ag_master_executor, agent_link);
        char key[2048];
        executor_key(key, sizeof(key), x->fw->id, x->id);
        if (!ag_master_map_has(&reported, key))
            ag_master_executor_remove(m, x);
    }
    ag_master_map_release(&reported);
}

int ag_master_check_agent_subscribe(const json_t *subscribe, char *err, size_t errlen)
{
    if (!json_is_object(subscribe)) {
        snprintf(err, errlen, "Expecting 'subscribe' to be present");
        return -EINVAL;
    }
    double version = 1;
    char e[256] = "";
    if (ag_json_get_number(subscribe, "version", false, &version, e, sizeof(e)) == -EINVAL ||
        version != 1) {
        snprintf(err, errlen, "'subscribe.version' must be 1 (the protocol version spoken)");
        return -EINVAL;
    }
    json_t *info = ag_json_get(subscribe, "agent_info");
    if (!json_is_object(info)) {
        snprintf(err, errlen, "Expecting 'subscribe.agent_info' to be present");
        return -EINVAL;
    }
    if (!json_str(info, "hostname")) {
        snprintf(err, errlen, "Expecting 'subscribe.agent_info.hostname' to be a string");
        return -EINVAL;
    }
    const char *id = ag_json_get_id(info, "id", false, e, sizeof(e));
    if (e[0]) {
        snprintf(err, errlen, "'subscribe.agent_info.id' must be {\"value\": string}");
        return -EINVAL;
    }
    if (id && ag_master_validate_id("agent id", id, err, errlen) < 0)
        return -EINVAL;
    double port = 5051;
    if (ag_json_get_number(info, "port", false, &port, e, sizeof(e)) == -EINVAL || port < 0 ||
        port > 65535) {
        snprintf(err, errlen, "'subscribe.agent_info.port' must be a port number");
        return -EINVAL;
    }
    struct ag_resources total;
    ag_resources_init(&total);
    json_t *rarr = ag_json_get(info, "resources");
    if (rarr && ag_resources_from_json(rarr, &total, e, sizeof(e)) < 0) {
        snprintf(err, errlen, "invalid 'subscribe.agent_info.resources': %s", e);
        return -EINVAL;
    }
    ag_resources_release(&total);
    const char *arrays[] = {"tasks", "executors", "frameworks"};
    for (size_t i = 0; i < 3; i++) {
        json_t *v = ag_json_get(subscribe, arrays[i]);
        if (v && !json_is_array(v)) {
            snprintf(err, errlen, "'subscribe.%s' must be an array", arrays[i]);
            return -EINVAL;
        }
    }
    return 0;
}

int ag_master_agent_subscribe(struct ag_master *m, const json_t *subscribe, const char *peer_ip,
                              struct ag_http_stream *stream, const char *stream_id,
                              struct ag_master_agent **ret_agent, char *err, size_t errlen)
{
    if (ag_master_check_agent_subscribe(subscribe, err, errlen) < 0)
        return -EINVAL;
    json_t *info = ag_json_get(subscribe, "agent_info");
    char e[256] = "";
    const char *hostname = json_str(info, "hostname");
    const char *id = ag_json_get_id(info, "id", false, e, sizeof(e));
    double port = 5051;
    ag_json_get_number(info, "port", false, &port, e, sizeof(e));
    struct ag_resources total;
    ag_resources_init(&total);
    json_t *rarr = ag_json_get(info, "resources");
    if (rarr)
        ag_resources_from_json(rarr, &total, e, sizeof(e));

    struct ag_master_agent *a = id ? ag_master_agent_find(m, id) : NULL;
    double now = ag_now();
    if (!a) {
        char nid[AG_UUID_STR_LEN + 32];
        if (!id) {
            snprintf(nid, sizeof(nid), "%s-S%" PRIu64, m->id, m->next_agent++);
            m->metrics.slave_registrations++;
        } else {
            snprintf(nid, sizeof(nid), "%s", id);
            m->metrics.slave_reregistrations++;
        }
        a = agent_new(m, nid);
        a->registered_time = now;
        ag_info("agent '%s' (%s) registered", a->id, hostname);
    } else {
        if (a->stream) {
            ag_http_stream_end(a->stream);
            a->stream = NULL;
        }
        a->reregistered_time = now;
        m->metrics.slave_reregistrations++;
        ag_info("agent '%s' (%s) re-registered (was %s)", a->id, hostname,
                ag_master_agent_state_name(a->state));
    }
    remove_offers(m, &a->offers, false, true);
    ag_timer_stop(a->reregister_timer);

    json_t *ninfo = json_deep_copy(info);
    ag_json_set_id(ninfo, "id", a->id);
    if (!json_object_get(ninfo, "port"))
        json_object_set_new(ninfo, "port", json_integer(5051));
    json_decref(a->info);
    a->info = ninfo;
    free(a->hostname);
    a->hostname = xstrdup(hostname);
    free(a->ip);
    a->ip = xstrdup(peer_ip ? peer_ip : "127.0.0.1");
    a->port = (int)port;

    if (a->total_known) {
        /* The master changed this agent's reservations or volumes: its
         * view wins over a report that may predate them. */
        struct ag_resources merged;
        if (ag_master_resources_merge_checkpoint(&total, &a->total, &merged) == 0) {
            ag_resources_release(&total);
            total = merged;
        }
    }
    bool total_changed = !ag_resources_equal(&a->total, &total);
    ag_resources_release(&a->total);
    a->total = total;
    if (a->in_allocator && total_changed) {
        /* Re-add with the new total; live resources are re-declared below. */
        struct ag_master_list *n;
        for (n = a->tasks.next; n != &a->tasks; n = n->next)
            ag_master_task_release(m, ag_master_container_of(n, struct ag_master_task, agent_link));
        m->alloc_ops->remove_agent(m->alloc, a->id);
        a->in_allocator = false;
    }
    if (!a->in_allocator) {
        int r = m->alloc_ops->add_agent(m->alloc, a->id, &a->total);
        if (r < 0)
            ag_warn("allocator refused agent '%s': %s", a->id, strerror(-r));
        a->in_allocator = true;
        /* Executors known before were released with the agent. */
        for (struct ag_master_list *n = a->executors.next; n != &a->executors; n = n->next) {
            struct ag_master_executor *x =
                ag_master_container_of(n, struct ag_master_executor, agent_link);
            if (!ag_resources_empty(&x->resources))
                m->alloc_ops->add_used(m->alloc, x->fw->id, x->role, a->id, &x->resources);
        }
    } else {
        m->alloc_ops->set_agent_active(m->alloc, a->id, true);
    }

    agent_transition(a, AG_MASTER_AGENT_CONNECTED);
    a->stream = stream;
    a->overflowed = false;
    snprintf(a->stream_id, sizeof(a->stream_id), "%s", stream_id ? stream_id : "");
    if (stream)
        ag_http_stream_set_data(stream, a);
    a->missed_pings = 0;
    a->ping_outstanding = false;
    a->unreachable_time = 0;

    json_t *ev = event_new("SUBSCRIBED");
    json_object_set_new(ev, "subscribed",
                        json_pack("{s:o, s:f}", "agent_id", ag_json_id(a->id),
                                  "heartbeat_interval_seconds", m->cfg.agent_ping_timeout));
    ag_master_send_agent(m, a, ev);
    ag_master_agent_send_resources(m, a);

    /* Reconcile what the agent reports with what the master knows. */
    struct ag_master_map reported;
    ag_master_map_init(&reported);
    json_t *tasks = ag_json_get(subscribe, "tasks");
    size_t i;
    json_t *rt;
    json_array_foreach(tasks, i, rt) admit_reported_task(m, a, subscribe, rt, &reported);
    drop_unreported_tasks(m, a, &reported);
    ag_master_map_release(&reported);
    drop_unreported_executors(m, a, subscribe);
    admit_reported_executors(m, a, subscribe);

    if (a->ping_timer && m->cfg.agent_ping_timeout > 0)
        ag_timer_start_periodic(a->ping_timer, m->cfg.agent_ping_timeout);
    ag_master_allocate_soon(m);
    if (ret_agent)
        *ret_agent = a;
    return 0;
}

void ag_master_agent_disconnected(struct ag_master *m, struct ag_master_agent *a)
{
    if (a->state != AG_MASTER_AGENT_CONNECTED)
        return;
    ag_info("agent '%s' disconnected; it has %gs to re-register", a->id,
            m->cfg.agent_reregister_timeout);
    agent_transition(a, AG_MASTER_AGENT_DISCONNECTED);
    a->stream = NULL;
    ag_timer_stop(a->ping_timer);
    if (a->in_allocator)
        m->alloc_ops->set_agent_active(m->alloc, a->id, false);
    remove_offers(m, &a->offers, false, true);
    ag_timer_start(a->reregister_timer, m->cfg.agent_reregister_timeout);
    ag_master_allocate_soon(m);
}

void ag_master_agent_unreachable(struct ag_master *m, struct ag_master_agent *a)
{
    if (a->state == AG_MASTER_AGENT_UNREACHABLE)
        return;
    ag_warn("agent '%s' is unreachable", a->id);
    if (a->stream) {
        ag_http_stream_end(a->stream);
        a->stream = NULL;
    }
    ag_timer_stop(a->ping_timer);
    ag_timer_stop(a->reregister_timer);
    agent_transition(a, AG_MASTER_AGENT_UNREACHABLE);
    a->unreachable_time = ag_now();
    m->metrics.slave_removals++;

    remove_offers(m, &a->offers, false, true);

    struct ag_master_list *n = a->tasks.next, *next;
    for (; n != &a->tasks; n = next) {
        next = n->next;
        struct ag_master_task *t = ag_master_container_of(n, struct ag_master_task, agent_link);
        if (ag_task_state_is_terminal(t->state)) {
            /* Its terminal update can no longer be acknowledged. */
            ag_master_task_complete(m, t);
            continue;
        }
        json_t *st =
            master_status(t, AG_TASK_UNREACHABLE, "REASON_AGENT_REMOVED", "Agent is unreachable");
        json_object_set_new(st, "unreachable_time", ag_master_time_info(a->unreachable_time));
        ag_master_task_add_status(t, json_deep_copy(st));
        ag_master_task_release(m, t);
        ag_master_task_set_state(m, t, AG_TASK_UNREACHABLE);
        t->unreachable_time = a->unreachable_time;
        if (t->fw->state == AG_MASTER_FW_CONNECTED)
            ag_master_send_update(m, t->fw, st);
        else
            json_decref(st);
    }
    while (!ag_master_list_empty(&a->executors)) {
        struct ag_master_executor *x =
            ag_master_container_of(a->executors.next, struct ag_master_executor, agent_link);
        ag_master_executor_remove(m, x);
    }
    if (a->in_allocator) {
        m->alloc_ops->remove_agent(m->alloc, a->id);
        a->in_allocator = false;
    }
    for (struct ag_master_map_entry *e = m->frameworks.head; e; e = e->next) {
        struct ag_master_framework *fw = e->value;
        if (fw->state != AG_MASTER_FW_CONNECTED)
            continue;
        json_t *ev = event_new("FAILURE");
        json_object_set_new(ev, "failure", json_pack("{s:o}", "agent_id", ag_json_id(a->id)));
        ag_master_send_fw(m, fw, ev);
    }
    ag_master_allocate_soon(m);
}

/* --- the master itself --- */

struct ag_master *ag_master_new(const struct ag_master_config *cfg, struct ag_loop *loop,
                                const struct ag_allocator_ops *ops, char *err, size_t errlen)
{
    if (!ops)
        ops = ag_allocator_find(cfg->allocator);
    if (!ops) {
        char known[256] = "";
        const char *const *names = ag_allocator_names();
        for (size_t i = 0; names && names[i]; i++) {
            size_t len = strlen(known);
            snprintf(known + len, sizeof(known) - len, "%s%s", i ? ", " : "", names[i]);
        }
        snprintf(err, errlen, "unknown allocator '%s' (known: %s)",
                 cfg->allocator ? cfg->allocator : "", known);
        return NULL;
    }
    struct ag_master *m = xcalloc(1, sizeof(*m));
    m->cfg = *cfg;
    m->loop = loop;
    ag_uuid_string(m->id);
    m->hostname = xstrdup(cfg->hostname && cfg->hostname[0] ? cfg->hostname : cfg->ip);
    m->port = cfg->port;
    char pid[512];
    snprintf(pid, sizeof(pid), "master@%s:%d", cfg->ip, cfg->port);
    m->pid = xstrdup(pid);
    m->start_time = ag_now();
    ag_master_map_init(&m->agents);
    ag_master_map_init(&m->frameworks);
    ag_master_map_init(&m->offers);
    ag_master_map_init(&m->removed_ids);
    ag_master_list_init(&m->completed_frameworks);

    m->alloc_ops = ops;
    m->quotas = json_object();
    m->weights = ag_master_weights_parse(cfg->weights, err, errlen);
    if (!m->weights) {
        ag_master_free(m);
        return NULL;
    }
    struct ag_master_alloc_options ao;
    if (ag_master_alloc_options_parse(cfg, &ao, err, errlen) < 0) {
        ag_master_free(m);
        return NULL;
    }
    m->alloc = ops->create(&ao.opts, on_alloc_offer, m);
    ag_master_alloc_options_release(&ao);
    if (m->alloc) {
        const char *role;
        json_t *w;
        json_object_foreach(m->weights, role, w)
        {
            if (ops->set_weight && ops->set_weight(m->alloc, role, json_number_value(w)) < 0)
                ag_warn("the allocator refused weight %g for role '%s'", json_number_value(w),
                        role);
        }
    }
    if (!m->alloc) {
        snprintf(err, errlen, "cannot create the '%s' allocator", ops->name);
        ag_master_free(m);
        return NULL;
    }
    const char *trace = getenv("AGORA_OFFER_TRACE");
    if (trace && (m->trace = calloc(1, sizeof(*m->trace))) && strchr(trace, '/') &&
        !(m->trace->out = fopen(trace, "w")))
        ag_warn("AGORA_OFFER_TRACE: cannot write '%s': %s", trace, strerror(errno));
    if (loop) {
        m->alloc_timer = ag_timer_new(loop, allocate_tick_cb, m);
        m->alloc_soon = ag_timer_new(loop, allocate_soon_cb, m);
        /* Offers for freed resources go out before the next pass's
         * callbacks (a burst of updates) run: offer latency. */
        if (m->alloc_soon)
            ag_timer_set_urgent(m->alloc_soon);
        if (m->alloc_timer && cfg->allocation_interval > 0)
            ag_timer_start_periodic(m->alloc_timer, cfg->allocation_interval);
    }
    return m;
}

void ag_master_free(struct ag_master *m)
{
    if (!m)
        return;
    struct ag_master_map_entry *e, *next;
    /* Streams first, so no close callback reaches half-freed state. */
    for (e = m->frameworks.head; e; e = e->next) {
        struct ag_master_framework *fw = e->value;
        if (fw->stream) {
            ag_http_stream_end(fw->stream);
            fw->stream = NULL;
        }
    }
    for (e = m->agents.head; e; e = e->next) {
        struct ag_master_agent *a = e->value;
        if (a->stream) {
            ag_http_stream_end(a->stream);
            a->stream = NULL;
        }
    }
    ag_http_server_free(m->http);
    m->http = NULL;

    for (e = m->offers.head; e; e = next) {
        next = e->next;
        struct ag_master_offer *o = e->value;
        ag_master_list_unlink(&o->fw_link);
        ag_master_list_unlink(&o->agent_link);
        ag_timer_free(o->timer);
        ag_resources_release(&o->resources);
        free(o->role);
        free(o->id);
        free(o);
    }
    ag_master_map_release(&m->offers);
    for (e = m->frameworks.head; e; e = e->next) {
        struct ag_master_framework *fw = e->value;
        while (!ag_master_list_empty(&fw->executors)) {
            struct ag_master_executor *x =
                ag_master_container_of(fw->executors.next, struct ag_master_executor, fw_link);
            x->held = false;
            ag_master_executor_remove(m, x);
        }
        fw_free(fw);
    }
    ag_master_map_release(&m->frameworks);
    while (!ag_master_list_empty(&m->completed_frameworks)) {
        struct ag_master_framework *fw = ag_master_container_of(
            m->completed_frameworks.next, struct ag_master_framework, completed_link);
        ag_master_list_unlink(&fw->completed_link);
        fw_free(fw);
    }
    for (e = m->agents.head; e; e = e->next)
        agent_free(e->value);
    ag_master_map_release(&m->agents);
    ag_master_map_release(&m->removed_ids);

    for (size_t i = 0; i < m->n_pending; i++) {
        ag_resources_release(&m->pending[i].resources);
        free(m->pending[i].framework_id);
        free(m->pending[i].role);
        free(m->pending[i].agent_id);
    }
    free(m->pending);
    if (m->alloc)
        m->alloc_ops->destroy(m->alloc);
    ag_timer_free(m->alloc_timer);
    ag_timer_free(m->alloc_soon);
    trace_free(m->trace);
    json_decref(m->weights);
    json_decref(m->quotas);
    free(m->hostname);
    free(m->pid);
    free(m);
}
