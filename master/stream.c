/*
 * stream: /master/state, /master/frameworks, /master/slaves and the
 * operator GET_STATE, GET_TASKS, GET_AGENTS, GET_FRAMEWORKS and
 * GET_EXECUTORS, written straight from the master's tables with the
 * streaming writer (core/jw.h) and sent as HTTP chunks, a slice at a
 * time: each slice renders for a few milliseconds, goes out, and the loop
 * serves schedulers and agents before the next one. A 100,000-task state
 * is then tens of slices instead of one multi-second stall, and no
 * document-sized tree is ever built.
 *
 * The document is described as a script of sections (fixed text, or a
 * walk over agents, frameworks or tasks). Walks hold map cursors
 * (map.h), never object pointers, across slices: an object removed
 * between two slices is simply not shown, one added is shown if the walk
 * has not passed its place. A slice that stopped inside a framework's
 * tasks looks the framework up again by id. So the answer is not one
 * instant's snapshot (Mesos's is), but every object in it is shown whole
 * and as it was when its slice ran.
 *
 * The objects have the shapes, key order and number formatting of the
 * tree renderers in render.c, which HEAD requests and the unit tests
 * still use (tests/unit/test_master_state.c compares the two byte for
 * byte).
 */
#include "master/internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/http.h"
#include "core/json.h"
#include "core/jw.h"
#include "core/log.h"
#include "core/loop.h"

/* How long one slice may render, and how much it may queue. */
#define SLICE_SECONDS 0.004
#define SLICE_BYTES   (1u << 20)
/* Past this many bytes unread by the client, wait before rendering more
 * (a slow reader must not make the master buffer the whole document). */
#define MAX_PENDING          (8u << 20)
#define PENDING_WAIT_SECONDS 0.005

enum section {
    S_END = 0,
    S_STATE_HEAD,         /* {version fields, ..., "flags": {...} */
    S_OBJ_END,            /* } */
    S_EMPTY_ARRAY,        /* "key": [] */
    S_OPERATOR_HEAD,      /* {"type": T, "<t>": { */
    S_KEY_OBJ,            /* "key": { */
    S_SUMMARY_HEAD,       /* "hostname": ... */
    S_AGENTS_LEGACY,      /* "slaves": [...] of /master/state */
    S_AGENTS_LEGACY_FULL, /* "slaves": [...] of /master/slaves */
    S_FWS_LEGACY,         /* "frameworks": [...] with their tasks */
    S_DONE_FWS_LEGACY,    /* "completed_frameworks": [...] */
    S_TASKS_ACTIVE,       /* "tasks": [...] (operator Task messages) */
    S_TASKS_UNREACHABLE,  /* "unreachable_tasks": [...] */
    S_TASKS_COMPLETED,    /* "completed_tasks": [...] */
    S_EXECUTORS,          /* "executors": [...] */
    S_FWS_PROTO,          /* "frameworks": [...] (operator Framework messages) */
    S_DONE_FWS_PROTO,     /* "completed_frameworks": [...] */
    S_AGENTS_PROTO,       /* "agents": [...] */
    S_AGENTS_SUMMARY,     /* "slaves": [...] of /master/state-summary */
    S_FWS_SUMMARY,        /* "frameworks": [...] of /master/state-summary */
};

struct step {
    enum section s;
    const char *key;
};

static const struct step script_state[] = {
    {S_STATE_HEAD, NULL},
    {S_AGENTS_LEGACY, "slaves"},
    {S_EMPTY_ARRAY, "recovered_slaves"},
    {S_FWS_LEGACY, "frameworks"},
    {S_DONE_FWS_LEGACY, "completed_frameworks"},
    {S_EMPTY_ARRAY, "orphan_tasks"},
    {S_EMPTY_ARRAY, "unregistered_frameworks"},
    {S_OBJ_END, NULL},
    {S_END, NULL},
};

static const struct step script_frameworks[] = {
    {S_KEY_OBJ, NULL},
    {S_FWS_LEGACY, "frameworks"},
    {S_DONE_FWS_LEGACY, "completed_frameworks"},
    {S_EMPTY_ARRAY, "unregistered_frameworks"},
    {S_OBJ_END, NULL},
    {S_END, NULL},
};

static const struct step script_summary[] = {
    {S_KEY_OBJ, NULL},
    {S_SUMMARY_HEAD, NULL},
    {S_AGENTS_SUMMARY, "slaves"},
    {S_FWS_SUMMARY, "frameworks"},
    {S_OBJ_END, NULL},
    {S_END, NULL},
};

static const struct step script_slaves[] = {
    {S_KEY_OBJ, NULL},
    {S_AGENTS_LEGACY_FULL, "slaves"},
    {S_EMPTY_ARRAY, "recovered_slaves"},
    {S_OBJ_END, NULL},
    {S_END, NULL},
};

#define TASKS_STEPS                                                                                \
    {S_TASKS_ACTIVE, "tasks"}, {S_TASKS_UNREACHABLE, "unreachable_tasks"},                         \
    {                                                                                              \
        S_TASKS_COMPLETED, "completed_tasks"                                                       \
    }
#define FRAMEWORKS_STEPS                                                                           \
    {S_FWS_PROTO, "frameworks"},                                                                   \
    {                                                                                              \
        S_DONE_FWS_PROTO, "completed_frameworks"                                                   \
    }
#define AGENTS_STEPS                                                                               \
    {S_AGENTS_PROTO, "agents"},                                                                    \
    {                                                                                              \
        S_EMPTY_ARRAY, "recovered_agents"                                                          \
    }

static const struct step script_get_tasks[] = {
    {S_OPERATOR_HEAD, "GET_TASKS"},
    TASKS_STEPS,
    {S_OBJ_END, NULL},
    {S_OBJ_END, NULL},
    {S_END, NULL},
};
static const struct step script_get_agents[] = {
    {S_OPERATOR_HEAD, "GET_AGENTS"},
    AGENTS_STEPS,
    {S_OBJ_END, NULL},
    {S_OBJ_END, NULL},
    {S_END, NULL},
};
static const struct step script_get_frameworks[] = {
    {S_OPERATOR_HEAD, "GET_FRAMEWORKS"},
    FRAMEWORKS_STEPS,
    {S_OBJ_END, NULL},
    {S_OBJ_END, NULL},
    {S_END, NULL},
};
static const struct step script_get_executors[] = {
    {S_OPERATOR_HEAD, "GET_EXECUTORS"},
    {S_EXECUTORS, "executors"},
    {S_OBJ_END, NULL},
    {S_OBJ_END, NULL},
    {S_END, NULL},
};
static const struct step script_get_state[] = {
    {S_OPERATOR_HEAD, "GET_STATE"},
    {S_KEY_OBJ, "get_tasks"},
    TASKS_STEPS,
    {S_OBJ_END, NULL},
    {S_KEY_OBJ, "get_executors"},
    {S_EXECUTORS, "executors"},
    {S_OBJ_END, NULL},
    {S_KEY_OBJ, "get_frameworks"},
    FRAMEWORKS_STEPS,
    {S_OBJ_END, NULL},
    {S_KEY_OBJ, "get_agents"},
    AGENTS_STEPS,
    {S_OBJ_END, NULL},
    {S_OBJ_END, NULL},
    {S_OBJ_END, NULL},
    {S_END, NULL},
};

static const struct step *const scripts[] = {
    [AG_RENDER_STATE] = script_state,
    [AG_RENDER_FRAMEWORKS] = script_frameworks,
    [AG_RENDER_SLAVES] = script_slaves,
    [AG_RENDER_GET_STATE] = script_get_state,
    [AG_RENDER_GET_TASKS] = script_get_tasks,
    [AG_RENDER_GET_AGENTS] = script_get_agents,
    [AG_RENDER_GET_FRAMEWORKS] = script_get_frameworks,
    [AG_RENDER_GET_EXECUTORS] = script_get_executors,
    [AG_RENDER_STATE_SUMMARY] = script_summary,
};

struct ag_master_render {
    struct ag_master *m;
    const struct step *step;
    char *only; /* framework_id / slave_id filter, or NULL */
    struct ag_jw w;
    /* the walk of the current section */
    bool opened;                       /* its key and "[" are written */
    int sub;                           /* where a framework walk is */
    struct ag_master_map_cursor outer; /* agents or frameworks */
    struct ag_master_map_cursor inner; /* a framework's tasks */
    char *fw_id;                       /* the framework the inner cursor walks */
    struct ag_master_framework *fw;    /* it, within one slice (NULL: look it up) */
    char *done_fw;                     /* last completed framework shown */
    /* serving */
    struct ag_http_stream *stream;
    struct ag_timer *timer;
    char *jsonp;
    size_t units; /* objects rendered, for the slice's limit */
};

/* --- small writers --- */

/* Literal member names: written without scanning them for escapes. */
#define KEY(w, lit)      AG_JW_KEY(w, lit)
#define KSTR(w, lit, v)  (KEY(w, lit), ag_jw_str((w), (v)))
#define KINT(w, lit, v)  (KEY(w, lit), ag_jw_int((w), (v)))
#define KREAL(w, lit, v) (KEY(w, lit), ag_jw_real((w), (v)))
#define KBOOL(w, lit, v) (KEY(w, lit), ag_jw_bool((w), (v)))
#define KJSON(w, lit, v) (KEY(w, lit), ag_jw_json((w), (v)))

static void key_id(struct ag_jw *w, const char *lit, size_t len, const char *id)
{
    ag_jw_key_plain(w, lit, len);
    ag_jw_obj_begin(w);
    KSTR(w, "value", id);
    ag_jw_obj_end(w);
}
#define KID(w, lit, v) key_id((w), "" lit "", sizeof(lit) - 1, (v))

static void key_json_if(struct ag_jw *w, const json_t *obj, const char *key)
{
    json_t *v = ag_json_get(obj, key);
    if (v)
        ag_jw_key_json(w, key, v);
}

static const char *str_or(const json_t *obj, const char *key, const char *dflt)
{
    json_t *v = ag_json_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : dflt;
}

/* A tree from render.c, written and freed. */
static void put_tree(struct ag_jw *w, json_t *j)
{
    ag_jw_json(w, j);
    json_decref(j);
}

static void key_tree(struct ag_jw *w, const char *key, json_t *j)
{
    ag_jw_key(w, key);
    put_tree(w, j);
}

/* The four names every flattened set shows, in order, and their index,
 * or -1: compared once per resource instead of once per name. */
static int always_index(const char *name)
{
    switch (name[0]) {
    case 'c':
        return strcmp(name, "cpus") == 0 ? 0 : -1;
    case 'g':
        return strcmp(name, "gpus") == 0 ? 1 : -1;
    case 'm':
        return strcmp(name, "mem") == 0 ? 2 : -1;
    case 'd':
        return strcmp(name, "disk") == 0 ? 3 : -1;
    default:
        return -1;
    }
}

/* The flattened {name: value} form of render.c's flatten(), written
 * directly when every resource is a scalar (agents and tasks, mostly):
 * "cpus", "gpus", "mem", "disk" always, then up to 16 other names (and
 * revocable ones as "<name>_revocable") merged as ag_resources_flatten()
 * merges them, in the order they first appear. */
#define FLAT_MAX 16
static void put_flat(struct ag_jw *w, const struct ag_resources *r)
{
    if (r->n == 0) {
        /* nothing offered or in use (most agents, most of the time) */
        static const char empty[] = "{\"cpus\":0.0,\"gpus\":0.0,\"mem\":0.0,\"disk\":0.0}";
        ag_jw_raw(w, empty, sizeof(empty) - 1);
        return;
    }
    int64_t known[4] = {0, 0, 0, 0};
    const char *names[FLAT_MAX];
    bool rev[FLAT_MAX];
    int64_t milli[FLAT_MAX];
    size_t n = 0;
    for (size_t i = 0; i < r->n; i++) {
        const struct ag_resource *x = &r->items[i];
        if (x->type != AG_VALUE_SCALAR) {
            put_tree(w, ag_resources_flatten(r));
            return;
        }
        int a = x->revocable ? -1 : always_index(x->name);
        if (a >= 0) {
            known[a] += x->scalar_milli;
            continue;
        }
        size_t k = 0;
        while (k < n && !(rev[k] == x->revocable && strcmp(names[k], x->name) == 0))
            k++;
        if (k == n) {
            if (n == FLAT_MAX) {
                put_tree(w, ag_resources_flatten(r));
                return;
            }
            names[n] = x->name;
            rev[n] = x->revocable;
            milli[n++] = 0;
        }
        milli[k] += x->scalar_milli;
    }
    ag_jw_obj_begin(w);
    KREAL(w, "cpus", (double)known[0] / 1000.0);
    KREAL(w, "gpus", (double)known[1] / 1000.0);
    KREAL(w, "mem", (double)known[2] / 1000.0);
    KREAL(w, "disk", (double)known[3] / 1000.0);
    for (size_t k = 0; k < n; k++) {
        char key[300];
        snprintf(key, sizeof(key), "%s%s", names[k], rev[k] ? "_revocable" : "");
        ag_jw_key_real(w, key, (double)milli[k] / 1000.0);
    }
    ag_jw_obj_end(w);
}

/* For literal member names: KFLAT(w, "resources", r). */
#define KFLAT(w, lit, r) (KEY(w, lit), put_flat((w), (r)))

static bool any_reserved(const struct ag_resources *r)
{
    for (size_t i = 0; i < r->n; i++)
        if (ag_resource_is_reserved(&r->items[i]))
            return true;
    return false;
}

static void put_u64(struct ag_jw *w, uint64_t v)
{
    if (v <= INT64_MAX)
        ag_jw_int(w, (int64_t)v);
    else
        ag_jw_real(w, (double)v);
}

/* One unreserved Resource without DiskInfo as ag_resources_to_json()
 * writes it (POST_REFINEMENT). */
static void put_resource(struct ag_jw *w, const struct ag_resource *x)
{
    static const char *const type_names[] = {"SCALAR", "RANGES", "SET"};
    ag_jw_obj_begin(w);
    KSTR(w, "name", x->name);
    KSTR(w, "type", type_names[x->type]);
    ag_jw_key(w, x->type == AG_VALUE_SCALAR   ? "scalar"
                 : x->type == AG_VALUE_RANGES ? "ranges"
                                              : "set");
    ag_jw_obj_begin(w);
    if (x->type == AG_VALUE_SCALAR) {
        KREAL(w, "value", (double)x->scalar_milli / 1000.0);
    } else if (x->type == AG_VALUE_RANGES) {
        KEY(w, "range");
        ag_jw_arr_begin(w);
        for (size_t i = 0; i < x->n_ranges; i++) {
            ag_jw_obj_begin(w);
            KEY(w, "begin");
            put_u64(w, x->ranges[i].begin);
            KEY(w, "end");
            put_u64(w, x->ranges[i].end);
            ag_jw_obj_end(w);
        }
        ag_jw_arr_end(w);
    } else {
        KEY(w, "item");
        ag_jw_arr_begin(w);
        for (size_t i = 0; i < x->n_items; i++)
            ag_jw_str(w, x->items[i]);
        ag_jw_arr_end(w);
    }
    ag_jw_obj_end(w);
    if (x->allocation_role) {
        KEY(w, "allocation_info");
        ag_jw_obj_begin(w);
        KSTR(w, "role", x->allocation_role);
        ag_jw_obj_end(w);
    }
    if (x->revocable) {
        KEY(w, "revocable");
        ag_jw_obj_begin(w);
        ag_jw_obj_end(w);
    }
    ag_jw_obj_end(w);
}

/* Resources as a Resource array, only when there are any: written
 * directly, or through the tree when reservations or disks are involved. */
static void key_res_if(struct ag_jw *w, const char *key, const struct ag_resources *r)
{
    if (r->n == 0)
        return;
    for (size_t i = 0; i < r->n; i++) {
        if (r->items[i].n_reservations > 0 || r->items[i].disk ||
            (unsigned)r->items[i].type > AG_VALUE_SET) {
            key_tree(w, key, ag_resources_to_json(r, AG_RESOURCES_POST_REFINEMENT));
            return;
        }
    }
    ag_jw_key(w, key);
    ag_jw_arr_begin(w);
    for (size_t i = 0; i < r->n; i++)
        put_resource(w, &r->items[i]);
    ag_jw_arr_end(w);
}

static void key_time_info(struct ag_jw *w, const char *key, double seconds)
{
    ag_jw_key(w, key);
    ag_jw_obj_begin(w);
    KINT(w, "nanoseconds", (int64_t)(seconds * 1e9));
    ag_jw_obj_end(w);
}

/* --- tasks --- */

static void put_status_legacy(struct ag_jw *w, const json_t *st)
{
    ag_jw_obj_begin(w);
    key_json_if(w, st, "state");
    json_t *ts = ag_json_get(st, "timestamp");
    KREAL(w, "timestamp", json_is_number(ts) ? json_number_value(ts) : 0);
    key_json_if(w, st, "labels");
    key_json_if(w, st, "container_status");
    key_json_if(w, st, "healthy");
    ag_jw_obj_end(w);
}

char *ag_master_status_legacy_text(const json_t *status)
{
    struct ag_jw w;
    ag_jw_init(&w);
    put_status_legacy(&w, status);
    if (w.oom || w.bad) {
        ag_jw_release(&w);
        return NULL;
    }
    return w.buf; /* the writer's buffer, handed over */
}

/* What never changes in a task's objects (its ids, name, resources, role
 * and the TaskInfo members it keeps are set when it is created) is
 * rendered once, when the task is first shown, and kept beside it as
 * three runs of members; what changes (state, statuses, the user, which
 * may come from the framework, unreachable_time) is written live between
 * them. A task then costs a few copies of contiguous text instead of a
 * dozen strings scanned for escapes and its resources formatted again,
 * per request. */
#define TASK_PIECES 3
struct ag_master_task_text {
    uint32_t len[TASK_PIECES];
    char bytes[]; /* the pieces, one after the other */
};

enum { SHOWN_LEGACY = 0, SHOWN_PROTO = 1 };

static void task_piece_legacy(struct ag_jw *w, const struct ag_master_task *t, int piece)
{
    if (piece == 0) {
        KSTR(w, "id", t->id);
        KSTR(w, "name", t->name);
        KSTR(w, "framework_id", t->fw->id);
        KSTR(w, "executor_id", t->executor_id ? t->executor_id : "");
        KSTR(w, "slave_id", t->agent->id);
    } else if (piece == 1) {
        KFLAT(w, "resources", &t->resources);
        KSTR(w, "role", t->role);
    } else if (t->extra) {
        json_t *labels = ag_json_get(ag_json_get(t->extra, "labels"), "labels");
        if (json_is_array(labels))
            KJSON(w, "labels", labels);
        key_json_if(w, t->extra, "discovery");
        key_json_if(w, t->extra, "container");
        key_json_if(w, t->extra, "health_check");
    }
}

static void task_piece_proto(struct ag_jw *w, const struct ag_master_task *t, int piece)
{
    if (piece == 0) {
        KSTR(w, "name", t->name);
        KID(w, "task_id", t->id);
        KID(w, "framework_id", t->fw->id);
        KID(w, "agent_id", t->agent->id);
    } else if (piece == 1) {
        if (t->executor_id)
            KID(w, "executor_id", t->executor_id);
        key_res_if(w, "resources", &t->resources);
    } else {
        static const char *const copied[] = {"labels",       "discovery",   "container",
                                             "health_check", "kill_policy", "limits"};
        for (size_t i = 0; i < sizeof(copied) / sizeof(copied[0]) && t->extra; i++)
            key_json_if(w, t->extra, copied[i]);
    }
}

static void task_piece(struct ag_jw *w, const struct ag_master_task *t, int kind, int piece)
{
    if (kind == SHOWN_LEGACY)
        task_piece_legacy(w, t, piece);
    else
        task_piece_proto(w, t, piece);
}

/* The task's kept pieces of one kind, rendered now if they are not yet;
 * NULL when out of memory (the caller then writes them live). The cache
 * is not part of what the task shows, hence the const cast. */
static const struct ag_master_task_text *task_text(const struct ag_master_task *t, int kind)
{
    struct ag_master_task *mt = (struct ag_master_task *)t;
    if (mt->shown[kind])
        return mt->shown[kind];
    struct ag_jw w;
    ag_jw_init(&w);
    size_t start[TASK_PIECES], end[TASK_PIECES];
    for (int i = 0; i < TASK_PIECES; i++) {
        /* each piece as an object of its own, kept without its braces */
        start[i] = w.len + 1;
        ag_jw_obj_begin(&w);
        task_piece(&w, t, kind, i);
        ag_jw_obj_end(&w);
        end[i] = w.len - 1;
    }
    struct ag_master_task_text *x = NULL;
    if (!w.oom && !w.bad && w.len < UINT32_MAX)
        x = malloc(sizeof(*x) + w.len);
    if (x) {
        size_t n = 0;
        for (int i = 0; i < TASK_PIECES; i++) {
            x->len[i] = (uint32_t)(end[i] - start[i]);
            memcpy(x->bytes + n, w.buf + start[i], x->len[i]);
            n += x->len[i];
        }
    }
    ag_jw_release(&w);
    mt->shown[kind] = x;
    return x;
}

/* Piece i of a task's object: the kept text, or written live. */
static void put_piece(struct ag_jw *w, const struct ag_master_task *t, int kind,
                      const struct ag_master_task_text *x, int i)
{
    if (!x) {
        task_piece(w, t, kind, i);
        return;
    }
    size_t off = 0;
    for (int k = 0; k < i; k++)
        off += x->len[k];
    ag_jw_raw_members(w, x->bytes + off, x->len[i]);
}

static void put_task_legacy(struct ag_jw *w, const struct ag_master_task *t)
{
    const struct ag_master_task_text *x = task_text(t, SHOWN_LEGACY);
    ag_jw_obj_begin(w);
    put_piece(w, t, SHOWN_LEGACY, x, 0);
    KSTR(w, "state", ag_task_state_name(t->state));
    put_piece(w, t, SHOWN_LEGACY, x, 1);
    KEY(w, "statuses");
    ag_jw_arr_begin(w);
    for (size_t i = 0; i < t->n_statuses; i++)
        ag_jw_raw(w, t->statuses[i].legacy, t->statuses[i].legacy_len);
    ag_jw_arr_end(w);
    const char *user = ag_master_task_user(t);
    if (user)
        KSTR(w, "user", user);
    put_piece(w, t, SHOWN_LEGACY, x, 2);
    if (t->unreachable_time > 0)
        KREAL(w, "unreachable_time", t->unreachable_time);
    ag_jw_obj_end(w);
}

static void put_task_proto(struct ag_jw *w, const struct ag_master_task *t)
{
    const struct ag_master_task_text *x = task_text(t, SHOWN_PROTO);
    ag_jw_obj_begin(w);
    put_piece(w, t, SHOWN_PROTO, x, 0);
    KSTR(w, "state", ag_task_state_name(t->state));
    put_piece(w, t, SHOWN_PROTO, x, 1);
    if (t->n_statuses > 0) {
        KEY(w, "statuses");
        ag_jw_arr_begin(w);
        for (size_t i = 0; i < t->n_statuses; i++)
            ag_jw_raw(w, t->statuses[i].json, t->statuses[i].json_len);
        ag_jw_arr_end(w);
    }
    if (t->has_update_state) {
        KSTR(w, "status_update_state", ag_task_state_name(t->update_state));
        if (t->update_uuid)
            KSTR(w, "status_update_uuid", t->update_uuid);
    }
    put_piece(w, t, SHOWN_PROTO, x, 2);
    const char *user = ag_master_task_user(t);
    if (user)
        KSTR(w, "user", user);
    KSTR(w, "role", t->role);
    ag_jw_obj_end(w);
}

/* --- agents --- */

static bool agent_listed(const struct ag_master_agent *a)
{
    return a->state != AG_MASTER_AGENT_UNREACHABLE;
}

/* The members of an agent's legacy object, left open. */
/* An agent's members that follow from its AgentInfo and registration
 * (id, hostname, port, attributes, pid, registered time; the agent_info
 * of the operator object) are kept rendered like a task's, for as long as
 * a->info is the same object: the master replaces the info, together with
 * the hostname, address and port, when the agent re-registers, and never
 * edits it in place. The kept text holds a reference to the info it was
 * rendered from, so that address cannot be reused by another while it is
 * kept. */
struct ag_master_agent_text {
    json_t *of;
    uint32_t len;
    char bytes[];
};

void ag_master_agent_text_free(struct ag_master_agent_text *x)
{
    if (!x)
        return;
    json_decref(x->of);
    free(x);
}

static void agent_piece(struct ag_jw *w, const struct ag_master_agent *a, int kind)
{
    if (kind == SHOWN_PROTO) {
        KJSON(w, "agent_info", a->info);
        return;
    }
    char pid[300];
    KSTR(w, "id", a->id);
    KSTR(w, "hostname", a->hostname ? a->hostname : "");
    KINT(w, "port", a->port);
    KEY(w, "attributes");
    ag_jw_obj_begin(w);
    size_t i;
    json_t *attr;
    json_array_foreach(ag_json_get(a->info, "attributes"), i, attr)
    {
        const char *name = str_or(attr, "name", NULL);
        if (name)
            key_tree(w, name, ag_master_attribute_value(attr));
    }
    ag_jw_obj_end(w);
    KSTR(w, "pid", ag_master_agent_pid(a, pid, sizeof(pid)));
    KREAL(w, "registered_time", a->registered_time);
}

/* The agent's kept members of one kind, rendered again when its info is
 * another object than the one they were rendered from; NULL when out of
 * memory. As for tasks, the cache is not part of what the agent shows. */
static const struct ag_master_agent_text *agent_text(const struct ag_master_agent *a, int kind)
{
    struct ag_master_agent *ma = (struct ag_master_agent *)a;
    struct ag_master_agent_text *x = ma->shown[kind];
    if (x && x->of == a->info)
        return x;
    ag_master_agent_text_free(x);
    ma->shown[kind] = x = NULL;
    struct ag_jw w;
    ag_jw_init(&w);
    ag_jw_obj_begin(&w);
    agent_piece(&w, a, kind);
    ag_jw_obj_end(&w);
    if (!w.oom && !w.bad && w.len >= 2 && w.len < UINT32_MAX)
        x = malloc(sizeof(*x) + w.len - 2);
    if (x) {
        x->of = json_incref(a->info);
        x->len = (uint32_t)(w.len - 2);
        memcpy(x->bytes, w.buf + 1, x->len);
    }
    ag_jw_release(&w);
    ma->shown[kind] = x;
    return x;
}

static void put_agent_piece(struct ag_jw *w, const struct ag_master_agent *a, int kind)
{
    const struct ag_master_agent_text *x = agent_text(a, kind);
    if (x)
        ag_jw_raw_members(w, x->bytes, x->len);
    else
        agent_piece(w, a, kind);
}

static void put_agent_legacy_open(struct ag_jw *w, const struct ag_master_agent *a, bool full)
{
    ag_jw_obj_begin(w);
    put_agent_piece(w, a, SHOWN_LEGACY);
    KFLAT(w, "resources", &a->total);
    KFLAT(w, "used_resources", &a->used);
    KFLAT(w, "offered_resources", &a->offered);
    if (any_reserved(&a->total)) {
        key_tree(w, "reserved_resources", ag_master_reserved_by_role_json(&a->total, false));
        key_tree(w, "unreserved_resources", ag_master_unreserved_json(&a->total, false));
    } else {
        KEY(w, "reserved_resources");
        ag_jw_obj_begin(w);
        ag_jw_obj_end(w);
        KFLAT(w, "unreserved_resources", &a->total);
    }
    KBOOL(w, "active", a->state == AG_MASTER_AGENT_CONNECTED);
    KBOOL(w, "deactivated", false);
    KSTR(w, "version", AG_MASTER_MESOS_VERSION);
    KEY(w, "capabilities");
    static const char caps[] = "[\"MULTI_ROLE\",\"HIERARCHICAL_ROLE\",\"RESERVATION_REFINEMENT\"]";
    ag_jw_raw(w, caps, sizeof(caps) - 1);
    if (a->reregistered_time > 0)
        KREAL(w, "reregistered_time", a->reregistered_time);
    key_json_if(w, a->info, "domain");
    if (full) {
        key_tree(w, "reserved_resources_full", ag_master_reserved_by_role_json(&a->total, true));
        key_tree(w, "unreserved_resources_full", ag_master_unreserved_json(&a->total, true));
        key_tree(w, "used_resources_full",
                 ag_resources_to_json(&a->used, AG_RESOURCES_PRE_REFINEMENT));
        key_tree(w, "offered_resources_full",
                 ag_resources_to_json(&a->offered, AG_RESOURCES_PRE_REFINEMENT));
    }
}

static void put_agent_legacy(struct ag_jw *w, const struct ag_master_agent *a, bool full)
{
    put_agent_legacy_open(w, a, full);
    ag_jw_obj_end(w);
}

static void put_agent_proto(struct ag_jw *w, const struct ag_master_agent *a)
{
    char pid[300];
    ag_jw_obj_begin(w);
    put_agent_piece(w, a, SHOWN_PROTO);
    KBOOL(w, "active", a->state == AG_MASTER_AGENT_CONNECTED);
    KBOOL(w, "deactivated", false);
    KSTR(w, "version", AG_MASTER_MESOS_VERSION);
    KSTR(w, "pid", ag_master_agent_pid(a, pid, sizeof(pid)));
    key_time_info(w, "registered_time", a->registered_time);
    KEY(w, "capabilities");
    static const char caps[] = "[{\"type\":\"MULTI_ROLE\"},{\"type\":\"HIERARCHICAL_ROLE\"},"
                               "{\"type\":\"RESERVATION_REFINEMENT\"}]";
    ag_jw_raw(w, caps, sizeof(caps) - 1);
    if (a->reregistered_time > 0)
        key_time_info(w, "reregistered_time", a->reregistered_time);
    key_res_if(w, "total_resources", &a->total);
    key_res_if(w, "allocated_resources", &a->used);
    key_res_if(w, "offered_resources", &a->offered);
    ag_jw_obj_end(w);
}

/* --- frameworks (legacy) --- */

static void put_fw_legacy_head(struct ag_jw *w, const struct ag_master_framework *fw)
{
    const json_t *info = fw->info;
    bool connected = fw->state == AG_MASTER_FW_CONNECTED;
    ag_jw_obj_begin(w);
    KSTR(w, "id", fw->id);
    KSTR(w, "name", str_or(info, "name", ""));
    KFLAT(w, "used_resources", &fw->used);
    KFLAT(w, "offered_resources", &fw->offered);
    KEY(w, "capabilities");
    ag_jw_arr_begin(w);
    size_t i;
    json_t *c;
    json_array_foreach(ag_json_get(info, "capabilities"), i, c)
    {
        json_t *t = ag_json_get(c, "type");
        if (json_is_string(t))
            ag_jw_json(w, t);
    }
    ag_jw_arr_end(w);
    KSTR(w, "hostname", str_or(info, "hostname", ""));
    KSTR(w, "webui_url", str_or(info, "webui_url", ""));
    KBOOL(w, "active", connected);
    KBOOL(w, "connected", connected);
    KBOOL(w, "recovered", fw->state == AG_MASTER_FW_RECOVERED);
    KSTR(w, "user", str_or(info, "user", ""));
    json_t *fo = ag_json_get(info, "failover_timeout");
    KREAL(w, "failover_timeout", json_is_number(fo) ? json_number_value(fo) : 0);
    json_t *cp = ag_json_get(info, "checkpoint");
    KBOOL(w, "checkpoint", json_is_boolean(cp) && json_is_true(cp));
    KREAL(w, "registered_time", fw->registered_time);
    KREAL(w, "unregistered_time", fw->unregistered_time);
    if (fw->reregistered_time > 0)
        KREAL(w, "reregistered_time", fw->reregistered_time);
    const char *principal = str_or(info, "principal", NULL);
    if (principal)
        KSTR(w, "principal", principal);
    struct ag_resources all;
    ag_resources_init(&all);
    ag_resources_add(&all, &fw->used);
    ag_resources_add(&all, &fw->offered);
    KFLAT(w, "resources", &all);
    ag_resources_release(&all);
    if (fw->caps & AG_CAP_MULTI_ROLE) {
        KEY(w, "roles");
        ag_jw_arr_begin(w);
        for (size_t k = 0; k < fw->n_roles; k++)
            ag_jw_str(w, fw->roles[k]);
        ag_jw_arr_end(w);
    } else {
        KSTR(w, "role", fw->n_roles ? fw->roles[0] : "*");
    }
}

/* After "tasks" and "unreachable_tasks": the bounded rest and the "}". */
static void put_fw_legacy_tail(struct ag_jw *w, const struct ag_master_framework *fw)
{
    KEY(w, "completed_tasks");
    ag_jw_arr_begin(w);
    for (const struct ag_master_list *n = fw->completed.next; n != &fw->completed; n = n->next)
        put_task_legacy(w, ag_master_container_of(n, struct ag_master_task, fw_link));
    ag_jw_arr_end(w);
    KEY(w, "offers");
    ag_jw_arr_begin(w);
    for (const struct ag_master_list *n = fw->offers.next; n != &fw->offers; n = n->next)
        put_tree(w, ag_master_offer_legacy_json(
                        ag_master_container_of(n, struct ag_master_offer, fw_link)));
    ag_jw_arr_end(w);
    KEY(w, "executors");
    ag_jw_arr_begin(w);
    for (const struct ag_master_list *n = fw->executors.next; n != &fw->executors; n = n->next)
        put_tree(w, ag_master_executor_legacy_json(
                        ag_master_container_of(n, struct ag_master_executor, fw_link)));
    ag_jw_arr_end(w);
    json_t *labels = ag_json_get(ag_json_get(fw->info, "labels"), "labels");
    if (json_is_array(labels))
        KJSON(w, "labels", labels);
    ag_jw_obj_end(w);
}

static void put_fw_tasks_legacy(struct ag_jw *w, const struct ag_master_framework *fw,
                                bool unreachable)
{
    for (const struct ag_master_map_entry *e = fw->tasks.head; e; e = e->next) {
        const struct ag_master_task *t = e->value;
        if ((t->state == AG_TASK_UNREACHABLE) == unreachable)
            put_task_legacy(w, t);
    }
}

/* A whole framework in one go (completed frameworks are capped). */
static void put_fw_legacy(struct ag_jw *w, const struct ag_master_framework *fw)
{
    put_fw_legacy_head(w, fw);
    KEY(w, "tasks");
    ag_jw_arr_begin(w);
    put_fw_tasks_legacy(w, fw, false);
    ag_jw_arr_end(w);
    KEY(w, "unreachable_tasks");
    ag_jw_arr_begin(w);
    put_fw_tasks_legacy(w, fw, true);
    ag_jw_arr_end(w);
    put_fw_legacy_tail(w, fw);
}

/* --- walks --- */

static bool wanted(const struct ag_master_render *r, const char *id)
{
    return !r->only || strcmp(r->only, id) == 0;
}

/* The completed framework after the last one shown (by id; when that one
 * was dropped from the capped list meanwhile, the oldest is next). */
static struct ag_master_framework *next_done_fw(struct ag_master_render *r)
{
    struct ag_master_list *head = &r->m->completed_frameworks, *n = head->next;
    if (r->done_fw) {
        for (struct ag_master_list *p = head->next; p != head; p = p->next) {
            if (strcmp(ag_master_container_of(p, struct ag_master_framework, completed_link)->id,
                       r->done_fw) == 0) {
                n = p->next;
                break;
            }
        }
    }
    if (n == head)
        return NULL;
    struct ag_master_framework *fw =
        ag_master_container_of(n, struct ag_master_framework, completed_link);
    free(r->done_fw);
    r->done_fw = strdup(fw->id);
    if (!r->done_fw)
        r->w.oom = true;
    return fw;
}

/* The framework the inner walk is in, or NULL if it is gone. */
static struct ag_master_framework *cur_fw(struct ag_master_render *r)
{
    if (!r->fw)
        r->fw = ag_master_map_get(&r->m->frameworks, r->fw_id);
    return r->fw;
}

static void set_fw(struct ag_master_render *r, const char *id)
{
    r->fw = NULL;
    free(r->fw_id);
    r->fw_id = strdup(id);
    if (!r->fw_id)
        r->w.oom = true;
    ag_master_map_cursor_release(&r->inner);
}

/* One step of "frameworks" in the legacy shape: a framework's head, one
 * of its tasks, or its tail. True when the walk is over. */
static bool step_fws_legacy(struct ag_master_render *r)
{
    struct ag_jw *w = &r->w;
    if (r->sub == 0) {
        struct ag_master_map_entry *e = ag_master_map_cursor_next(&r->m->frameworks, &r->outer);
        if (!e)
            return true;
        if (!wanted(r, e->key))
            return false;
        set_fw(r, e->key);
        put_fw_legacy_head(w, e->value);
        KEY(w, "tasks");
        ag_jw_arr_begin(w);
        r->sub = 1;
        return false;
    }
    struct ag_master_framework *fw = cur_fw(r);
    if (!fw) {
        /* removed since the last slice: close what was opened */
        ag_jw_arr_end(w);
        if (r->sub == 1) {
            KEY(w, "unreachable_tasks");
            ag_jw_raw(w, "[]", 2);
        }
        static const char *const empty[] = {"completed_tasks", "offers", "executors"};
        for (size_t i = 0; i < 3; i++) {
            ag_jw_key(w, empty[i]);
            ag_jw_raw(w, "[]", 2);
        }
        ag_jw_obj_end(w);
        r->sub = 0;
        return false;
    }
    struct ag_master_map_entry *e = ag_master_map_cursor_next(&fw->tasks, &r->inner);
    if (e) {
        const struct ag_master_task *t = e->value;
        if ((t->state == AG_TASK_UNREACHABLE) == (r->sub == 2))
            put_task_legacy(w, t);
        return false;
    }
    ag_jw_arr_end(w);
    ag_master_map_cursor_release(&r->inner);
    if (r->sub == 1) {
        KEY(w, "unreachable_tasks");
        ag_jw_arr_begin(w);
        r->sub = 2;
        return false;
    }
    put_fw_legacy_tail(w, fw);
    r->sub = 0;
    return false;
}

static bool step_done_fws_legacy(struct ag_master_render *r)
{
    struct ag_master_framework *fw = next_done_fw(r);
    if (!fw)
        return true;
    if (wanted(r, fw->id))
        put_fw_legacy(&r->w, fw);
    return false;
}

static bool step_agents(struct ag_master_render *r, enum section s)
{
    struct ag_master_map_entry *e = ag_master_map_cursor_next(&r->m->agents, &r->outer);
    if (!e)
        return true;
    const struct ag_master_agent *a = e->value;
    if (!agent_listed(a) || (s == S_AGENTS_LEGACY_FULL && !wanted(r, a->id)))
        return false;
    if (s == S_AGENTS_PROTO)
        put_agent_proto(&r->w, a);
    else
        put_agent_legacy(&r->w, a, s == S_AGENTS_LEGACY_FULL);
    return false;
}

static const enum ag_task_state summary_counted[] = {
    AG_TASK_STAGING, AG_TASK_STARTING, AG_TASK_RUNNING, AG_TASK_KILLING, AG_TASK_FINISHED,
    AG_TASK_KILLED,  AG_TASK_FAILED,   AG_TASK_LOST,    AG_TASK_ERROR,   AG_TASK_UNREACHABLE};

/* An agent of /master/state-summary: its legacy object, task counts per
 * state and the frameworks it runs tasks of. */
static void put_agent_summary(struct ag_jw *w, const struct ag_master_agent *a)
{
    put_agent_legacy_open(w, a, false);
    size_t counts[AG_TASK_STATE_COUNT] = {0};
    const struct ag_master_framework *seen[16];
    size_t n_seen = 0;
    bool overflow = false;
    for (const struct ag_master_list *n = a->tasks.next; n != &a->tasks; n = n->next) {
        const struct ag_master_task *t =
            ag_master_container_of(n, struct ag_master_task, agent_link);
        counts[t->state]++;
        size_t k = 0;
        while (k < n_seen && seen[k] != t->fw)
            k++;
        if (k == n_seen) {
            if (n_seen < 16)
                seen[n_seen++] = t->fw;
            else
                overflow = true;
        }
    }
    for (size_t i = 0; i < sizeof(summary_counted) / sizeof(summary_counted[0]); i++)
        ag_jw_key_int(w, ag_task_state_name(summary_counted[i]),
                      (int64_t)counts[summary_counted[i]]);
    KEY(w, "framework_ids");
    if (overflow) {
        /* many frameworks on one agent: the tree's way (a set in order) */
        json_t *fids = json_object(), *ids = json_array();
        for (const struct ag_master_list *n = a->tasks.next; n != &a->tasks; n = n->next)
            json_object_set_new(
                fids, ag_master_container_of(n, struct ag_master_task, agent_link)->fw->id,
                json_true());
        const char *k;
        json_t *v;
        json_object_foreach(fids, k, v) json_array_append_new(ids, json_string(k));
        json_decref(fids);
        put_tree(w, ids);
    } else {
        ag_jw_arr_begin(w);
        for (size_t k = 0; k < n_seen; k++)
            ag_jw_str(w, seen[k]->id);
        ag_jw_arr_end(w);
    }
    ag_jw_obj_end(w);
}

static bool task_in_section(const struct ag_master_task *t, enum section s)
{
    return (t->state == AG_TASK_UNREACHABLE) == (s == S_TASKS_UNREACHABLE);
}

/* Operator Task messages of one section: the frameworks' tasks a task at
 * a time, then each completed framework in one go. */
static bool step_tasks(struct ag_master_render *r, enum section s)
{
    struct ag_jw *w = &r->w;
    if (r->sub == 0) {
        struct ag_master_map_entry *e = ag_master_map_cursor_next(&r->m->frameworks, &r->outer);
        if (!e) {
            r->sub = 2;
            return false;
        }
        if (s == S_TASKS_COMPLETED) {
            const struct ag_master_framework *fw = e->value;
            for (const struct ag_master_list *n = fw->completed.next; n != &fw->completed;
                 n = n->next)
                put_task_proto(w, ag_master_container_of(n, struct ag_master_task, fw_link));
            return false;
        }
        set_fw(r, e->key);
        r->sub = 1;
        return false;
    }
    if (r->sub == 1) {
        struct ag_master_framework *fw = cur_fw(r);
        struct ag_master_map_entry *e =
            fw ? ag_master_map_cursor_next(&fw->tasks, &r->inner) : NULL;
        if (!e) {
            r->sub = 0;
            return false;
        }
        if (task_in_section(e->value, s))
            put_task_proto(w, e->value);
        return false;
    }
    struct ag_master_framework *fw = next_done_fw(r);
    if (!fw)
        return true;
    if (s == S_TASKS_COMPLETED) {
        for (const struct ag_master_list *n = fw->completed.next; n != &fw->completed; n = n->next)
            put_task_proto(w, ag_master_container_of(n, struct ag_master_task, fw_link));
    } else {
        for (const struct ag_master_map_entry *e = fw->tasks.head; e; e = e->next)
            if (task_in_section(e->value, s))
                put_task_proto(w, e->value);
    }
    return false;
}

static bool step_executors(struct ag_master_render *r)
{
    struct ag_master_map_entry *e = ag_master_map_cursor_next(&r->m->agents, &r->outer);
    if (!e)
        return true;
    const struct ag_master_agent *a = e->value;
    for (const struct ag_master_list *n = a->executors.next; n != &a->executors; n = n->next) {
        const struct ag_master_executor *x =
            ag_master_container_of(n, struct ag_master_executor, agent_link);
        ag_jw_obj_begin(&r->w);
        KJSON(&r->w, "executor_info", x->info);
        KID(&r->w, "agent_id", a->id);
        ag_jw_obj_end(&r->w);
    }
    return false;
}

static bool step_fws_proto(struct ag_master_render *r)
{
    struct ag_master_map_entry *e = ag_master_map_cursor_next(&r->m->frameworks, &r->outer);
    if (!e)
        return true;
    put_tree(&r->w, ag_master_framework_proto_json(e->value));
    return false;
}

static bool step_done_fws_proto(struct ag_master_render *r)
{
    struct ag_master_framework *fw = next_done_fw(r);
    if (!fw)
        return true;
    put_tree(&r->w, ag_master_framework_proto_json(fw));
    return false;
}

/* --- fixed pieces --- */

static void put_state_head(struct ag_master_render *r)
{
    struct ag_jw *w = &r->w;
    const struct ag_master *m = r->m;
    size_t activated = 0, deactivated = 0, unreachable = 0;
    for (const struct ag_master_map_entry *e = m->agents.head; e; e = e->next) {
        const struct ag_master_agent *a = e->value;
        if (a->state == AG_MASTER_AGENT_CONNECTED)
            activated++;
        else if (a->state == AG_MASTER_AGENT_DISCONNECTED)
            deactivated++;
        else
            unreachable++;
    }
    ag_jw_obj_begin(w);
    json_t *v = ag_master_version_json();
    const char *k;
    json_t *x;
    json_object_foreach(v, k, x) ag_jw_key_json(w, k, x);
    json_decref(v);
    KREAL(w, "start_time", m->start_time);
    KREAL(w, "elected_time", m->start_time);
    KSTR(w, "id", m->id);
    KSTR(w, "pid", m->pid);
    KSTR(w, "hostname", m->hostname);
    KEY(w, "capabilities");
    ag_jw_raw(w, "[]", 2);
    KINT(w, "activated_slaves", (int64_t)activated);
    KINT(w, "deactivated_slaves", (int64_t)deactivated);
    KINT(w, "unreachable_slaves", (int64_t)unreachable);
    KSTR(w, "leader", m->pid);
    KEY(w, "leader_info");
    ag_jw_obj_begin(w);
    KSTR(w, "id", m->id);
    KSTR(w, "pid", m->pid);
    KINT(w, "port", m->port);
    KSTR(w, "hostname", m->hostname);
    ag_jw_obj_end(w);
    key_tree(w, "flags", ag_master_flags_json(m));
}

static void put_operator_head(struct ag_jw *w, const char *type)
{
    char key[64];
    size_t i = 0;
    for (; type[i] && i + 1 < sizeof(key); i++)
        key[i] = (char)(type[i] >= 'A' && type[i] <= 'Z' ? type[i] - 'A' + 'a' : type[i]);
    key[i] = '\0';
    ag_jw_obj_begin(w);
    KSTR(w, "type", type);
    ag_jw_key(w, key);
    ag_jw_obj_begin(w);
}

/* --- the engine --- */

static void next_section(struct ag_master_render *r)
{
    r->step++;
    r->opened = false;
    r->sub = 0;
    ag_master_map_cursor_release(&r->outer);
    ag_master_map_cursor_release(&r->inner);
    free(r->fw_id);
    free(r->done_fw);
    r->fw_id = r->done_fw = NULL;
    r->fw = NULL;
}

/* One bounded piece of the current section; false when the document is
 * complete. */
static bool advance(struct ag_master_render *r)
{
    const struct step *st = r->step;
    struct ag_jw *w = &r->w;
    bool walk = st->s >= S_AGENTS_LEGACY;
    if (walk && !r->opened) {
        ag_jw_key(w, st->key);
        ag_jw_arr_begin(w);
        r->opened = true;
        return true;
    }
    bool done = true;
    switch (st->s) {
    case S_END:
        return false;
    case S_STATE_HEAD:
        put_state_head(r);
        break;
    case S_OBJ_END:
        ag_jw_obj_end(w);
        break;
    case S_EMPTY_ARRAY:
        ag_jw_key(w, st->key);
        ag_jw_raw(w, "[]", 2);
        break;
    case S_OPERATOR_HEAD:
        put_operator_head(w, st->key);
        break;
    case S_KEY_OBJ:
        if (st->key)
            ag_jw_key(w, st->key);
        ag_jw_obj_begin(w);
        break;
    case S_SUMMARY_HEAD:
        KSTR(w, "hostname", r->m->hostname);
        break;
    case S_AGENTS_SUMMARY: {
        struct ag_master_map_entry *e = ag_master_map_cursor_next(&r->m->agents, &r->outer);
        done = !e;
        if (e && agent_listed(e->value))
            put_agent_summary(w, e->value);
        break;
    }
    case S_FWS_SUMMARY: {
        struct ag_master_map_entry *e = ag_master_map_cursor_next(&r->m->frameworks, &r->outer);
        done = !e;
        if (e)
            put_tree(w, ag_master_framework_legacy_json(e->value, true));
        break;
    }
    case S_AGENTS_LEGACY:
    case S_AGENTS_LEGACY_FULL:
    case S_AGENTS_PROTO:
        done = step_agents(r, st->s);
        break;
    case S_FWS_LEGACY:
        done = step_fws_legacy(r);
        break;
    case S_DONE_FWS_LEGACY:
        done = step_done_fws_legacy(r);
        break;
    case S_TASKS_ACTIVE:
    case S_TASKS_UNREACHABLE:
    case S_TASKS_COMPLETED:
        done = step_tasks(r, st->s);
        break;
    case S_EXECUTORS:
        done = step_executors(r);
        break;
    case S_FWS_PROTO:
        done = step_fws_proto(r);
        break;
    case S_DONE_FWS_PROTO:
        done = step_done_fws_proto(r);
        break;
    }
    if (done) {
        if (walk)
            ag_jw_arr_end(w);
        next_section(r);
    }
    return true;
}

struct ag_master_render *ag_master_render_new(struct ag_master *m, enum ag_master_render_kind kind,
                                              const char *only)
{
    struct ag_master_render *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->m = m;
    r->step = scripts[kind];
    ag_jw_init(&r->w);
    if (only && !(r->only = strdup(only))) {
        free(r);
        return NULL;
    }
    return r;
}

void ag_master_render_free(struct ag_master_render *r)
{
    if (!r)
        return;
    ag_master_map_cursor_release(&r->outer);
    ag_master_map_cursor_release(&r->inner);
    free(r->fw_id);
    free(r->done_fw);
    free(r->only);
    free(r->jsonp);
    ag_timer_free(r->timer);
    ag_jw_release(&r->w);
    free(r);
}

static double monotonic(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

bool ag_master_render_slice(struct ag_master_render *r, size_t max_steps, double max_seconds)
{
    double deadline = max_seconds > 0 ? monotonic() + max_seconds : 0;
    size_t start = r->w.len;
    bool more = true;
    for (size_t i = 0; more && (max_steps == 0 || i < max_steps); i++) {
        more = advance(r);
        if (r->w.oom || (max_seconds > 0 && r->w.len - start >= SLICE_BYTES))
            break;
        if (deadline > 0 && (i & 7) == 7 && monotonic() > deadline)
            break;
    }
    ag_master_map_cursor_park(&r->outer);
    ag_master_map_cursor_park(&r->inner);
    r->fw = NULL; /* the master may change before the next slice */
    return !more || r->w.oom;
}

const char *ag_master_render_output(const struct ag_master_render *r, size_t *ret_len)
{
    if (ret_len)
        *ret_len = r->w.len;
    return r->w.buf ? r->w.buf : "";
}

bool ag_master_render_failed(const struct ag_master_render *r)
{
    return r->w.oom || r->w.bad;
}

char *ag_master_render_all(struct ag_master *m, enum ag_master_render_kind kind, const char *only,
                           size_t *ret_len)
{
    struct ag_master_render *r = ag_master_render_new(m, kind, only);
    if (!r)
        return NULL;
    while (!ag_master_render_slice(r, 0, 0))
        ;
    char *out = NULL;
    if (!ag_master_render_failed(r)) {
        out = r->w.buf ? r->w.buf : strdup("");
        r->w.buf = NULL;
        if (ret_len)
            *ret_len = r->w.len;
    }
    ag_master_render_free(r);
    return out;
}

/* --- serving --- */

static void on_close(struct ag_http_stream *stream, void *arg)
{
    (void)stream;
    struct ag_master_render *r = arg;
    r->stream = NULL; /* freed by the server right after this returns */
    ag_master_render_free(r);
}

static void run_slice(void *arg)
{
    struct ag_master_render *r = arg;
    if (ag_http_stream_pending(r->stream) > MAX_PENDING) {
        ag_timer_start(r->timer, PENDING_WAIT_SECONDS);
        return;
    }
    bool done = ag_master_render_slice(r, 0, SLICE_SECONDS);
    if (ag_master_render_failed(r)) {
        /* The status line is out: all that is left is to cut the answer
         * short, which the client sees as a truncated body. */
        ag_warn("state render failed (%s); closing the response",
                r->w.oom ? "out of memory" : "bug: unbalanced JSON");
        ag_http_stream_end(r->stream);
        r->stream = NULL;
        ag_master_render_free(r);
        return;
    }
    if (done && r->jsonp)
        ag_jw_text(&r->w, ");", 2);
    if (r->w.len > 0 && ag_http_stream_send(r->stream, r->w.buf, r->w.len) < 0) {
        /* out of memory queueing it (a gone peer would have freed r) */
        ag_http_stream_end(r->stream);
        r->stream = NULL;
        ag_master_render_free(r);
        return;
    }
    ag_jw_clear(&r->w);
    if (done) {
        ag_http_stream_end(r->stream);
        r->stream = NULL;
        ag_master_render_free(r);
        return;
    }
    ag_timer_start(r->timer, 0);
}

void ag_master_render_serve(struct ag_master *m, struct ag_http_req *req,
                            enum ag_master_render_kind kind, const char *only)
{
    const char *jsonp = ag_http_req_query(req, "jsonp");
    if (jsonp && !ag_http_jsonp_valid(jsonp)) {
        ag_http_reply_error(req, 400, "invalid 'jsonp' parameter: not a JavaScript identifier");
        return;
    }
    struct ag_master_render *r = ag_master_render_new(m, kind, only);
    if (r)
        r->timer = ag_timer_new(m->loop, run_slice, r);
    if (r && jsonp && !(r->jsonp = strdup(jsonp)))
        r->w.oom = true;
    if (!r || !r->timer || r->w.oom) {
        ag_master_render_free(r);
        ag_http_reply_error(req, 500, "out of memory");
        return;
    }
    if (r->jsonp) {
        ag_jw_text(&r->w, r->jsonp, strlen(r->jsonp));
        ag_jw_text(&r->w, "(", 1);
    }
    r->stream =
        ag_http_stream_start(req, 200, jsonp ? "text/javascript" : "application/json", on_close, r);
    if (!r->stream) {
        ag_master_render_free(r);
        return;
    }
    /* The first slice runs now: small documents go out in one chunk with
     * no extra loop turn. */
    run_slice(r);
}
