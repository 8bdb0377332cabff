/*
 * internal: the master's object model, shared by the files of master/ only.
 *
 * One loop thread owns everything here; nothing is locked. The objects:
 *
 *   agent      connected / disconnected / unreachable; never freed before
 *              the master (tasks and executors point at it)
 *   framework  connected / disconnected (failover timer) / recovered
 *              (known only from an agent's report) / removed (kept in
 *              completed_frameworks, its id unusable)
 *   offer      outstanding resources of one agent for one (framework, role)
 *   task       launched by a framework; active until a terminal update is
 *              acknowledged, then kept in the framework's completed list
 *   executor   a custom executor running on an agent for a framework
 *
 * Resource accounting mirrors the allocator's: offered resources and the
 * resources of live tasks and executors are "allocated"; everything that
 * stops being so goes back through ops->recover().
 */
#ifndef AG_MASTER_INTERNAL_H
#define AG_MASTER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "allocator/allocator.h"
#include "core/id.h"
#include "core/proto.h"
#include "core/resources.h"
#include "master/map.h"

struct ag_loop;
struct ag_timer;
struct ag_http_server;
struct ag_http_req;
struct ag_http_stream;
struct ag_flag;

/* --- intrusive doubly-linked lists --- */

struct ag_master_list {
    struct ag_master_list *prev, *next;
};

#define ag_master_container_of(ptr, type, member)                                                  \
    ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

static inline void ag_master_list_init(struct ag_master_list *head)
{
    head->prev = head->next = head;
}

static inline bool ag_master_list_empty(const struct ag_master_list *head)
{
    return head->next == head;
}

static inline void ag_master_list_append(struct ag_master_list *head, struct ag_master_list *node)
{
    node->prev = head->prev;
    node->next = head;
    head->prev->next = node;
    head->prev = node;
}

/* Unlinks node (a no-op on a node that is not linked, i.e. self-looped). */
static inline void ag_master_list_unlink(struct ag_master_list *node)
{
    node->prev->next = node->next;
    node->next->prev = node->prev;
    node->prev = node->next = node;
}

/* --- configuration (the flags) --- */

struct ag_master_config {
    const char *ip;
    int port;
    const char *hostname; /* NULL: the ip */
    const char *work_dir;
    double offer_timeout; /* <= 0: offers never time out */
    double agent_ping_timeout;
    int max_agent_ping_timeouts;
    double agent_reregister_timeout;
    double allocation_interval;
    const char *allocator;
    double framework_heartbeat_interval;
    int max_completed_tasks_per_framework;
    int max_completed_frameworks;
    int max_unreachable_tasks_per_framework;
    size_t max_body_size;
    /* --weights "eng=2,ops=1" (NULL or "": none). */
    const char *weights;
    /* --fair_sharing_excluded_resource_names "gpus,..." (NULL or "": none). */
    const char *excluded_resource_names;
    /* --min_allocatable_resources "cpus:0.01|mem:32" (NULL or "": the default). */
    const char *min_allocatable_resources;
    /* For GET_FLAGS and /flags; may be NULL. */
    const struct ag_flag *flags;
    size_t n_flags;
};

/* Defaults of every field (Mesos's where Mesos has the flag). */
void ag_master_config_defaults(struct ag_master_config *cfg);

/* --- agents --- */

enum ag_master_agent_state {
    AG_MASTER_AGENT_CONNECTED = 0,
    AG_MASTER_AGENT_DISCONNECTED = 1, /* stream closed; may come back */
    AG_MASTER_AGENT_UNREACHABLE = 2,  /* removed; tasks UNREACHABLE/LOST */
};
#define AG_MASTER_AGENT_STATE_COUNT 3

const char *ag_master_agent_state_name(enum ag_master_agent_state state);

struct ag_master_agent {
    char *id;
    json_t *info; /* AgentInfo with id set */
    char *hostname;
    char *ip; /* the peer address the agent connected from */
    int port;
    enum ag_master_agent_state state;
    struct ag_resources total;
    struct ag_resources used;    /* live tasks and executors */
    struct ag_resources offered; /* outstanding offers */
    struct ag_http_stream *stream;
    char stream_id[AG_UUID_STR_LEN];
    int missed_pings;
    bool ping_outstanding;
    bool overflowed; /* stream backlog too large; disconnect soon */
    struct ag_timer *ping_timer;
    struct ag_timer *reregister_timer;
    double registered_time, reregistered_time, unreachable_time;
    bool in_allocator; /* added to the allocator and not removed */
    double freed_at;   /* AGORA_OFFER_TRACE: a task's resources freed, not yet offered */
    /* `total` was changed here (reservations, volumes): the master's copy
     * wins over what the agent reports, and is sent to it. */
    bool total_known;
    struct ag_master_list tasks;         /* ag_master_task.agent_link */
    struct ag_master_list executors;     /* ag_master_executor.agent_link */
    struct ag_master_map executor_index; /* "<framework id>\n<executor id>" -> executor */
    struct ag_master_list offers;        /* ag_master_offer.agent_link */
    struct ag_master *m;
    /* What the state endpoints render from `info`, kept by stream.c while
     * `info` is the same object ([0] legacy, [1] operator): so `info` is
     * replaced when it changes, never edited in place. */
    struct ag_master_agent_text *shown[2];
};

/* --- frameworks --- */

enum ag_master_fw_state {
    AG_MASTER_FW_CONNECTED = 0,    /* subscribed, stream open, active */
    AG_MASTER_FW_DISCONNECTED = 1, /* stream gone, failover timer running */
    AG_MASTER_FW_RECOVERED = 2,    /* known from an agent, never subscribed here */
    AG_MASTER_FW_REMOVED = 3,      /* torn down; in completed_frameworks */
};
#define AG_MASTER_FW_STATE_COUNT 4

const char *ag_master_fw_state_name(enum ag_master_fw_state state);

/* FrameworkInfo.capabilities as bits. */
enum {
    AG_CAP_REVOCABLE_RESOURCES = 1u << 1,
    AG_CAP_TASK_KILLING_STATE = 1u << 2,
    AG_CAP_GPU_RESOURCES = 1u << 3,
    AG_CAP_SHARED_RESOURCES = 1u << 4,
    AG_CAP_PARTITION_AWARE = 1u << 5,
    AG_CAP_MULTI_ROLE = 1u << 6,
    AG_CAP_RESERVATION_REFINEMENT = 1u << 7,
    AG_CAP_REGION_AWARE = 1u << 8,
};

struct ag_master_framework {
    char *id;
    json_t *info; /* FrameworkInfo with id set */
    char **roles;
    size_t n_roles;
    struct ag_master_map role_index; /* role -> NULL, for lookups */
    unsigned caps;
    enum ag_master_fw_state state;
    struct ag_http_stream *stream;
    char stream_id[AG_UUID_STR_LEN];
    struct ag_timer *heartbeat;
    struct ag_timer *failover;
    struct ag_master_map tasks;      /* task id -> ag_master_task (active + unreachable) */
    struct ag_master_list completed; /* ag_master_task.fw_link, oldest first */
    size_t n_completed;
    struct ag_master_list unreachable; /* ag_master_task.fw_link, oldest first */
    size_t n_unreachable;
    struct ag_master_list offers;    /* ag_master_offer.fw_link */
    struct ag_master_list executors; /* ag_master_executor.fw_link */
    /* Scalar quantities only: these span agents, where ports repeat. */
    struct ag_resources used, offered;
    double registered_time, reregistered_time, unregistered_time;
    json_t *pending_offers;               /* OFFERS being batched in one allocation round */
    double trace_freed_at;                /* AGORA_OFFER_TRACE: oldest freed in pending_offers */
    bool overflowed;                      /* stream backlog too large; disconnect soon */
    struct ag_master_list completed_link; /* in master's completed_frameworks */
    struct ag_master *m;
};

/* --- tasks --- */

/* A TaskStatus as a task keeps it: serialised, not as a tree (a tree of a
 * dozen nodes costs kilobytes per status at 100,000 tasks). */
struct ag_master_status {
    char *json;   /* the TaskStatus, compact JSON */
    char *legacy; /* its legacy form {state, timestamp, ...}, compact JSON */
    uint32_t json_len, legacy_len;
    bool has_data; /* `data` is set (dropped when the task completes) */
};

struct ag_master_task {
    char *id;
    struct ag_master_framework *fw;
    struct ag_master_agent *agent; /* agents outlive tasks */
    char *executor_id;             /* NULL for command tasks */
    char *role;
    /* What the master shows of the TaskInfo as launched (it keeps no copy
     * of the rest: the agent has it): */
    char *name;    /* "" when unnamed */
    char *user;    /* command.user, else executor.command.user; NULL if neither */
    json_t *extra; /* the members labels, discovery, container, health_check,
                    * kill_policy, limits that are set; NULL when none is */
    struct ag_resources resources;
    enum ag_task_state state;
    bool has_update_state;
    enum ag_task_state update_state;
    char *update_uuid;                 /* Base64, as the agent sent it */
    struct ag_master_status *statuses; /* oldest first */
    size_t n_statuses;
    double launch_time;
    double unreachable_time; /* 0: never unreachable */
    bool held;               /* resources count as used (agent, framework, allocator) */
    bool completed;          /* in fw->completed, out of fw->tasks */
    struct ag_master_list agent_link;
    struct ag_master_list fw_link; /* fw->completed, or fw->unreachable */
    /* The members of the task's /master/state ([0]) and operator ([1])
     * objects that never change, rendered by stream.c when first shown;
     * NULL until then. Freed with the task. */
    struct ag_master_task_text *shown[2];
};

/* --- executors --- */

struct ag_master_executor {
    char *id;
    struct ag_master_framework *fw;
    struct ag_master_agent *agent;
    json_t *info; /* ExecutorInfo with framework_id set */
    struct ag_resources resources;
    char *role;
    bool held;
    struct ag_master_list agent_link;
    struct ag_master_list fw_link;
};

/* --- offers --- */

struct ag_master_offer {
    char *id;
    struct ag_master_framework *fw;
    struct ag_master_agent *agent;
    char *role;
    struct ag_resources resources;
    struct ag_timer *timer; /* --offer_timeout */
    double created;
    struct ag_master_list fw_link;
    struct ag_master_list agent_link;
};

/* --- metrics (counters; gauges are computed) --- */

struct ag_master_metrics {
    uint64_t slave_registrations, slave_reregistrations, slave_removals;
    uint64_t tasks_terminal[AG_TASK_STATE_COUNT]; /* counters per terminal state */
    uint64_t tasks_gauge[AG_TASK_STATE_COUNT];    /* live tasks per state */
    uint64_t valid_status_updates, invalid_status_updates;
    uint64_t valid_acks, invalid_acks;
    uint64_t dropped_messages;
    uint64_t allocation_runs;
    uint64_t http_requests;
    uint64_t msg_register_framework, msg_reregister_framework, msg_unregister_framework;
    uint64_t msg_launch_tasks, msg_decline_offers, msg_revive_offers, msg_suppress_offers;
    uint64_t msg_kill_task, msg_status_update, msg_status_update_ack;
    uint64_t msg_reconcile_tasks, msg_framework_to_executor, msg_executor_to_framework;
    uint64_t msg_shutdown_executor, msg_teardown;
};

/* A hook that sees every event the master sends (unit tests). to_agent
 * tells whether `id` is an agent id or a framework id. */
typedef void (*ag_master_event_sink)(void *arg, bool to_agent, const char *id, const json_t *event);

/* An offer the allocator decided on, queued until allocate() returns. */
struct ag_master_pending_offer {
    char *framework_id, *role, *agent_id;
    struct ag_resources resources;
};

struct ag_master {
    struct ag_master_config cfg;
    struct ag_loop *loop;
    struct ag_http_server *http;
    char id[AG_UUID_STR_LEN];
    char *hostname;
    char *pid; /* "master@ip:port" */
    int port;  /* bound port */
    double start_time;
    uint64_t next_framework, next_agent, next_offer;

    struct ag_master_map agents;      /* id -> ag_master_agent */
    struct ag_master_map frameworks;  /* id -> ag_master_framework (not removed) */
    struct ag_master_map offers;      /* id -> ag_master_offer */
    struct ag_master_map removed_ids; /* framework ids never to be reused */
    struct ag_master_list completed_frameworks;
    size_t n_completed_frameworks;

    const struct ag_allocator_ops *alloc_ops;
    struct ag_allocator *alloc;
    struct ag_timer *alloc_timer; /* every --allocation_interval */
    struct ag_timer *alloc_soon;  /* batches event-driven allocations */
    bool allocating;
    struct ag_master_pending_offer *pending;
    size_t n_pending, cap_pending;
    /* AGORA_OFFER_TRACE set: where freed resources wait before their offer
     * is queued (bench/README.md, "Offer latency"); NULL otherwise. */
    struct ag_master_offer_trace *trace;

    /* Role weights and quotas, in memory only (no registry yet):
     * {role: weight} and {role: {"guarantees": {name: n}, "limits": {...}}}. */
    json_t *weights;
    json_t *quotas;

    bool overflow_check; /* a deferred overflow sweep is queued */
    struct ag_master_metrics metrics;
    ag_master_event_sink sink;
    void *sink_arg;
};

/* --- master.c: lifecycle and the state machine --- */

/* Creates the master state on loop (no HTTP). ops NULL: the --allocator
 * named in cfg. NULL with a message in err on failure. */
struct ag_master *ag_master_new(const struct ag_master_config *cfg, struct ag_loop *loop,
                                const struct ag_allocator_ops *ops, char *err, size_t errlen);
/* Ends every stream, frees every object. Accepts NULL. */
void ag_master_free(struct ag_master *m);

/* Sends an event (steals it) on the framework's / agent's stream; dropped
 * (and counted) when there is no stream. */
void ag_master_send_fw(struct ag_master *m, struct ag_master_framework *fw, json_t *event);
void ag_master_send_agent(struct ag_master *m, struct ag_master_agent *a, json_t *event);
/* Sends an UPDATE with `status` (stolen) to fw, mapping its state for
 * frameworks that are not PARTITION_AWARE. */
void ag_master_send_update(struct ag_master *m, struct ag_master_framework *fw, json_t *status);
/* The same for a status the task keeps serialised (its newest), whose
 * state is `state`: sent as text, no tree. */
void ag_master_send_update_kept(struct ag_master *m, struct ag_master_framework *fw,
                                const struct ag_master_status *kept, enum ag_task_state state);
/* Sends ACKNOWLEDGE{framework_id, task_id, uuid} to the agent (rendered
 * as text, no tree). */
void ag_master_send_ack(struct ag_master *m, struct ag_master_agent *a, const char *framework_id,
                        const char *task_id, const char *uuid);
/* Sends an event already rendered as compact JSON text to the agent
 * (LAUNCH: no event tree is built). */
void ag_master_send_agent_text(struct ag_master *m, struct ag_master_agent *a, const char *text,
                               size_t len);

/* Runs an allocation round now / within a few milliseconds. */
void ag_master_allocate(struct ag_master *m);
void ag_master_allocate_soon(struct ag_master *m);

/* Removes an offer; `rescind` sends RESCIND to its framework; `recover`
 * gives its resources back to the allocator with refuse_seconds. */
void ag_master_offer_remove(struct ag_master *m, struct ag_master_offer *o, bool rescind,
                            bool recover, double refuse_seconds);

/* Framework lifecycle. */
struct ag_master_framework *ag_master_fw_find(struct ag_master *m, const char *id);
/* SUBSCRIBE after the shape checks: new or re-subscribe. On a semantic
 * error (invalid roles, removed framework) returns -EINVAL with a message
 * for an ERROR event. On success sends SUBSCRIBED on stream. */
int ag_master_fw_subscribe(struct ag_master *m, const json_t *framework_info,
                           const json_t *suppressed_roles, struct ag_http_stream *stream,
                           const char *stream_id, struct ag_master_framework **ret_fw, char *err,
                           size_t errlen);
/* UPDATE_FRAMEWORK: replaces FrameworkInfo and suppressed roles. -EINVAL
 * with a message for changes that are not allowed or invalid info. */
int ag_master_fw_update(struct ag_master *m, struct ag_master_framework *fw,
                        const json_t *framework_info, const json_t *suppressed_roles, char *err,
                        size_t errlen);
void ag_master_fw_disconnected(struct ag_master *m, struct ag_master_framework *fw);
/* TEARDOWN or failover timeout: kills everything, keeps it as completed. */
void ag_master_fw_remove(struct ag_master *m, struct ag_master_framework *fw);
bool ag_master_fw_partition_aware(const struct ag_master_framework *fw);
enum ag_resources_format ag_master_fw_format(const struct ag_master_framework *fw);
bool ag_master_fw_has_role(const struct ag_master_framework *fw, const char *role);

/* Tasks. */
struct ag_master_task *ag_master_task_new(struct ag_master *m, struct ag_master_framework *fw,
                                          struct ag_master_agent *a, const char *task_id,
                                          const char *executor_id, const char *role, json_t *info,
                                          const struct ag_resources *res, enum ag_task_state state);
/* The one task state transition: gauges, counters, resource release on the
 * first terminal state. */
void ag_master_task_set_state(struct ag_master *m, struct ag_master_task *t,
                              enum ag_task_state state);
/* Marks the task's resources used (agent, framework; the allocator only
 * if to_allocator, for tasks reported by re-registering agents). */
void ag_master_task_hold(struct ag_master *m, struct ag_master_task *t, bool to_allocator);
/* Gives the task's resources back (allocator too if the agent is in it). */
void ag_master_task_release(struct ag_master *m, struct ag_master_task *t);
/* Moves an active task to its framework's completed list (capped). */
void ag_master_task_complete(struct ag_master *m, struct ag_master_task *t);
/* Appends a status to the task's history (stolen: the task keeps it
 * serialised and frees the tree). Returns the kept copy (valid until the
 * next status of the task), or NULL when out of memory (not kept). */
const struct ag_master_status *ag_master_task_add_status(struct ag_master_task *t, json_t *status);
/* The latest status as a new tree, or NULL. */
json_t *ag_master_task_last_status(const struct ag_master_task *t);

/* Executors. */
struct ag_master_executor *ag_master_executor_find(struct ag_master_agent *a,
                                                   const struct ag_master_framework *fw,
                                                   const char *executor_id);
struct ag_master_executor *ag_master_executor_new(struct ag_master *m,
                                                  struct ag_master_framework *fw,
                                                  struct ag_master_agent *a, json_t *info,
                                                  const struct ag_resources *res, const char *role,
                                                  bool to_allocator);
void ag_master_executor_remove(struct ag_master *m, struct ag_master_executor *e);

/* Agents. */
struct ag_master_agent *ag_master_agent_find(struct ag_master *m, const char *id);
/* The shape checks of an agent's subscribe payload (400 on failure). */
int ag_master_check_agent_subscribe(const json_t *subscribe, char *err, size_t errlen);
/* SUBSCRIBE from an agent; sends SUBSCRIBED. Fails only where
 * ag_master_check_agent_subscribe() would. */
int ag_master_agent_subscribe(struct ag_master *m, const json_t *subscribe, const char *peer_ip,
                              struct ag_http_stream *stream, const char *stream_id,
                              struct ag_master_agent **ret_agent, char *err, size_t errlen);
void ag_master_agent_disconnected(struct ag_master *m, struct ag_master_agent *a);
void ag_master_agent_unreachable(struct ag_master *m, struct ag_master_agent *a);
/* The agent answered (HEARTBEAT call or any other call). */
void ag_master_agent_alive(struct ag_master_agent *a);

/* --- resops.c: reservations and persistent volumes --- */

enum ag_master_conv_type {
    AG_CONV_RESERVE = 1,
    AG_CONV_UNRESERVE = 2,
    AG_CONV_CREATE = 3,
    AG_CONV_DESTROY = 4,
};
/* "RESERVE", "UNRESERVE", "CREATE", "DESTROY"; -EINVAL for others. */
int ag_master_conv_type_parse(const char *name, enum ag_master_conv_type *ret);
/* Validates an operation's payload ({resources[], source[]?} or
 * {volumes[]}) asked by fw (NULL: the operator) for resources allocated to
 * role (NULL: none) on agent a, and builds the conversion: `from` becomes
 * `to`. -EINVAL with a message naming the problem. */
int ag_master_conversion_build(const struct ag_master_agent *a,
                               const struct ag_master_framework *fw, const char *role,
                               enum ag_master_conv_type type, const json_t *payload,
                               struct ag_resources *from, struct ag_resources *to, char *err,
                               size_t errlen);
/* Runs a RESERVE/UNRESERVE/CREATE/DESTROY of an ACCEPT against the pooled
 * offer resources `pool` (allocated to role). On failure nothing changes
 * and err says why (the caller logs and goes on, as Mesos does). */
int ag_master_accept_conversion(struct ag_master *m, struct ag_master_framework *fw,
                                struct ag_master_agent *a, const char *role,
                                enum ag_master_conv_type type, const json_t *op,
                                struct ag_resources *pool, char *err, size_t errlen);
/* An operator call's conversion (payload {agent_id, resources|volumes}):
 * the HTTP status to answer (202, or 400/409/501 with err). */
int ag_master_operator_conversion(struct ag_master *m, enum ag_master_conv_type type,
                                  const json_t *payload, char *err, size_t errlen);
/* Sends UPDATE_RESOURCES with the agent's total, if the master changed it. */
void ag_master_agent_send_resources(struct ag_master *m, struct ag_master_agent *a);
/* ret = the static part of `reported` plus the dynamic reservations and
 * volumes of `known` that fit in it. ret is initialised here. */
int ag_master_resources_merge_checkpoint(const struct ag_resources *reported,
                                         const struct ag_resources *known,
                                         struct ag_resources *ret);
/* ret = a copy of src without allocation roles (initialised here). */
int ag_master_resources_unallocated(const struct ag_resources *src, struct ag_resources *ret);
/* Whether a persistence id is acceptable (non-empty, no '/', not . or ..). */
bool ag_master_volume_id_ok(const char *id);

/* --- roles.c: weights, quota, roles --- */

/* Parses the --weights, --fair_sharing_excluded_resource_names and
 * --min_allocatable_resources values of cfg into the allocator options
 * (owned by the caller: ag_master_alloc_options_release) and applies the
 * weights to m (after the allocator exists: ag_master_apply_weights). */
struct ag_master_alloc_options {
    struct ag_allocator_options opts;
    struct ag_resources *alternatives;
    size_t n_alternatives;
    char **excluded;
    size_t n_excluded;
};
int ag_master_alloc_options_parse(const struct ag_master_config *cfg,
                                  struct ag_master_alloc_options *ret, char *err, size_t errlen);
void ag_master_alloc_options_release(struct ag_master_alloc_options *o);
/* Parses "eng=2,ops=1" into {role: weight}. NULL with err on failure. */
json_t *ag_master_weights_parse(const char *text, char *err, size_t errlen);
/* Operator calls: GET_WEIGHTS/GET_QUOTA/GET_ROLES payloads, and the
 * updates (200 or 400 with err). */
json_t *ag_master_get_weights_json(const struct ag_master *m);
json_t *ag_master_get_quota_json(const struct ag_master *m);
json_t *ag_master_get_roles_json(const struct ag_master *m);
/* The legacy /master/roles, /master/weights and /master/quota bodies. */
json_t *ag_master_roles_legacy_json(const struct ag_master *m);
json_t *ag_master_weights_legacy_json(const struct ag_master *m);
json_t *ag_master_quota_legacy_json(const struct ag_master *m);
int ag_master_update_weights(struct ag_master *m, const json_t *payload, char *err, size_t errlen);
int ag_master_update_quota(struct ag_master *m, const json_t *payload, char *err, size_t errlen);

/* --- validate.c: pure checks --- */

enum ag_master_call {
    AG_CALL_UNKNOWN = 0,
    AG_CALL_SUBSCRIBE = 1,
    AG_CALL_TEARDOWN = 2,
    AG_CALL_ACCEPT = 3,
    AG_CALL_DECLINE = 4,
    AG_CALL_REVIVE = 5,
    AG_CALL_KILL = 6,
    AG_CALL_SHUTDOWN = 7,
    AG_CALL_ACKNOWLEDGE = 8,
    AG_CALL_RECONCILE = 9,
    AG_CALL_MESSAGE = 10,
    AG_CALL_REQUEST = 11,
    AG_CALL_SUPPRESS = 12,
    AG_CALL_ACCEPT_INVERSE_OFFERS = 13,
    AG_CALL_DECLINE_INVERSE_OFFERS = 14,
    AG_CALL_ACKNOWLEDGE_OPERATION_STATUS = 15,
    AG_CALL_RECONCILE_OPERATIONS = 16,
    AG_CALL_UPDATE_FRAMEWORK = 17,
};
#define AG_CALL_COUNT 18

const char *ag_master_call_name(enum ag_master_call call);
/* -EINVAL for a name that is not a scheduler Call.Type. */
int ag_master_call_parse(const char *name, enum ag_master_call *ret);

/* Whether an Accept header admits application/json (NULL: yes). */
bool ag_master_accepts_json(const char *accept);
/* 0 for application/json (optionally "; charset=utf-8"), -ENOENT when
 * missing (400), -EOPNOTSUPP for anything else (415). */
int ag_master_check_content_type(const char *content_type);
/* The checks every JSON call endpoint makes first, in Mesos's order:
 * POST (405), Content-Type present (400) and JSON (415), body parses
 * (400). Returns the parsed call (caller decrefs), or NULL once the
 * request has been answered. Counts the request in the metrics. */
json_t *ag_master_read_call(struct ag_master *m, struct ag_http_req *req);
/* Most status updates one agent UPDATE call may carry (`updates`). */
#define AG_MASTER_MAX_UPDATE_BATCH 1000
/* The checks of ag_master_read_call() but the parse: the body, or NULL
 * once the request has been answered. Counts the request. */
const char *ag_master_read_body(struct ag_master *m, struct ag_http_req *req, size_t *ret_len);
/* Parses a body ag_master_read_body() returned; NULL once answered (400). */
json_t *ag_master_parse_call(struct ag_http_req *req, const char *body, size_t len);

/* Validates a scheduler Call's envelope and payload shapes (what Mesos
 * rejects with 400). Sets *ret_type. Messages name the field. */
int ag_master_validate_sched_call(const json_t *call, enum ag_master_call *ret_type, char *err,
                                  size_t errlen);

/* The parts of a FrameworkInfo the master acts on. */
struct ag_master_fwinfo {
    char **roles; /* malloc'd strings */
    size_t n_roles;
    unsigned caps;
};
void ag_master_fwinfo_release(struct ag_master_fwinfo *fi);
/* Required fields of FrameworkInfo (user, name; a 400 in Mesos). */
int ag_master_check_framework_info_shape(const json_t *info, char *err, size_t errlen);
/* Semantic validation (an ERROR event in Mesos): role XOR roles, roles only
 * with MULTI_ROLE, valid unique role names, suppressed roles subscribed. */
int ag_master_validate_framework_info(const json_t *info, const json_t *suppressed_roles,
                                      struct ag_master_fwinfo *ret, char *err, size_t errlen);
/* Validates an id value (TaskID, ExecutorID): non-empty, printable, no '/',
 * not "." or "..". */
int ag_master_validate_id(const char *what, const char *value, char *err, size_t errlen);

/* One offer as ACCEPT sees it (NULL in the array: unknown id). */
struct ag_master_offer_ref {
    const char *framework_id;
    const char *agent_id;
    const char *role;
};
/* ACCEPT's offer rules: at least one, no duplicates, all known, all of
 * this framework, one agent, one role. */
int ag_master_validate_offers(const char *framework_id, const char *const *offer_ids,
                              const struct ag_master_offer_ref *const *offers, size_t n, char *err,
                              size_t errlen);

/* What task validation needs to know about the world. */
struct ag_master_task_ctx {
    const char *framework_id;
    const char *agent_id; /* the offers' agent */
    const char *role;     /* the offers' allocation role */
    const struct ag_resources *available;
    /* Whether the framework already has a task with this id. */
    bool (*task_exists)(void *arg, const char *task_id);
    /* The ExecutorInfo the framework runs on the agent under this id, or NULL. */
    const json_t *(*find_executor)(void *arg, const char *executor_id);
    void *arg;
};
/* The outcome of a valid task: its normalised resources, and the
 * executor's when the task brings a new executor (then *ret_new_executor). */
struct ag_master_task_check {
    struct ag_resources task_resources;
    struct ag_resources executor_resources;
    bool new_executor;
    json_t *executor; /* normalised ExecutorInfo (framework_id set), new ref, or NULL */
    json_t *task;     /* normalised TaskInfo, new ref */
};
void ag_master_task_check_release(struct ag_master_task_check *tc);
/* Validates one TaskInfo of a LAUNCH (TASK_ERROR + REASON_TASK_INVALID on
 * failure, with the message written into err). */
int ag_master_validate_task(const json_t *task, const struct ag_master_task_ctx *ctx,
                            struct ag_master_task_check *ret, char *err, size_t errlen);
/* A valid TaskGroupInfo: the normalised executor (in exec: executor,
 * executor_resources when new, new_executor) and each task's check. */
struct ag_master_group_check {
    struct ag_master_task_check exec;
    struct ag_master_task_check *tasks;
    size_t n;
};
void ag_master_group_check_release(struct ag_master_group_check *gc);
/* Validates a LAUNCH_GROUP: an ExecutorInfo of type DEFAULT without a
 * command (CUSTOM ones are refused), tasks with a command and no executor
 * of their own, unique task ids, each task valid as for LAUNCH, and all
 * tasks plus a new executor within ctx->available. The whole group fails
 * together (TASK_ERROR + REASON_TASK_GROUP_INVALID for each task). */
int ag_master_validate_group(const json_t *executor, const json_t *tasks,
                             const struct ag_master_task_ctx *ctx,
                             struct ag_master_group_check *ret, char *err, size_t errlen);
/* The Offer.Operation type names; -EINVAL for others. */
int ag_master_check_operation_type(const char *name);

/* --- reconcile.c: pure rules of §4.6 --- */

enum ag_master_recon_agent {
    AG_RECON_AGENT_NOT_GIVEN = 0,
    AG_RECON_AGENT_UNKNOWN = 1,
    AG_RECON_AGENT_REGISTERED = 2,
    AG_RECON_AGENT_RECOVERING = 3,
    AG_RECON_AGENT_UNREACHABLE = 4,
    AG_RECON_AGENT_GONE = 5,
};

/* The state to report for a task the master does not know. false: send no
 * answer (the agent may still report it). any_recovering: some agents are
 * expected to re-register. The result is already mapped for pa. */
bool ag_master_reconcile_unknown(enum ag_master_recon_agent agent, bool any_recovering, bool pa,
                                 enum ag_task_state *ret_state);
/* The state to report for a known task: TASK_UNREACHABLE when the master
 * marked it so, else status_update_state when set, else the latest state;
 * mapped for pa. */
enum ag_task_state ag_master_reconcile_known(enum ag_task_state state, bool has_update_state,
                                             enum ag_task_state update_state, bool pa);

/* --- render.c: JSON shapes --- */

json_t *ag_master_info_json(const struct ag_master *m);
json_t *ag_master_offer_json(const struct ag_master_offer *o);
struct ag_jw;
/* The LAUNCH event {type, launch{framework_info, task[, executor]}} as
 * text: the bytes jansson printed for the same tree. */
void ag_master_render_launch(struct ag_jw *w, const json_t *framework_info, const json_t *task,
                             const json_t *executor);
/* The Mesos Task message (operator API). */
json_t *ag_master_task_proto_json(const struct ag_master_task *t);
/* Legacy (§7) objects. */
json_t *ag_master_task_legacy_json(const struct ag_master_task *t);
json_t *ag_master_framework_legacy_json(const struct ag_master_framework *fw, bool summary);
json_t *ag_master_agent_legacy_json(const struct ag_master_agent *a, bool full);
json_t *ag_master_state_json(const struct ag_master *m);
json_t *ag_master_state_summary_json(const struct ag_master *m);
json_t *ag_master_flags_json(const struct ag_master *m); /* {name: value} */
json_t *ag_master_metrics_json(const struct ag_master *m);
json_t *ag_master_version_json(void);
/* Operator API payloads. */
json_t *ag_master_get_agents_json(const struct ag_master *m);
json_t *ag_master_get_frameworks_json(const struct ag_master *m);
json_t *ag_master_get_tasks_json(const struct ag_master *m);
json_t *ag_master_get_executors_json(const struct ag_master *m);
/* Pieces the streamed renderer (stream.c) shares. */
json_t *ag_master_offer_legacy_json(const struct ag_master_offer *o);
json_t *ag_master_executor_legacy_json(const struct ag_master_executor *x);
json_t *ag_master_framework_proto_json(const struct ag_master_framework *fw);
/* An Attribute's legacy value (text, number, "[a-b]", "{x, y}"). */
json_t *ag_master_attribute_value(const json_t *attr);
/* {role: resources} of the reserved part of r / the unreserved part,
 * flattened or in full. */
json_t *ag_master_reserved_by_role_json(const struct ag_resources *r, bool full);
json_t *ag_master_unreserved_json(const struct ag_resources *r, bool full);
/* The user a task runs as (TaskInfo, its executor, the framework), or NULL. */
const char *ag_master_task_user(const struct ag_master_task *t);
/* A TaskStatus in the legacy shape {state, timestamp, labels?,
 * container_status?, healthy?}, compact (malloc'd; NULL on OOM). */
char *ag_master_status_legacy_text(const json_t *status);
/* Frees an agent's kept state text (NULL is fine). */
void ag_master_agent_text_free(struct ag_master_agent_text *x);
/* "slave(1)@ip:port" into buf. */
char *ag_master_agent_pid(const struct ag_master_agent *a, char *buf, size_t len);
/* {"nanoseconds": t * 1e9} */
json_t *ag_master_time_info(double seconds);

/* --- stream.c: the large read endpoints, streamed in slices --- */

enum ag_master_render_kind {
    AG_RENDER_STATE = 0,      /* /master/state */
    AG_RENDER_FRAMEWORKS = 1, /* /master/frameworks (only: a framework id) */
    AG_RENDER_SLAVES = 2,     /* /master/slaves (only: an agent id) */
    AG_RENDER_GET_STATE = 3,  /* operator API responses, with their envelope */
    AG_RENDER_GET_TASKS = 4,
    AG_RENDER_GET_AGENTS = 5,
    AG_RENDER_GET_FRAMEWORKS = 6,
    AG_RENDER_GET_EXECUTORS = 7,
    AG_RENDER_STATE_SUMMARY = 8, /* /master/state-summary */
};
struct ag_master_render;
/* Answers req (200, chunked) with the document, rendered a few
 * milliseconds at a time between loop turns; honours `jsonp`. */
void ag_master_render_serve(struct ag_master *m, struct ag_http_req *req,
                            enum ag_master_render_kind kind, const char *only);
/* The whole document at once (malloc'd), NULL on failure. */
char *ag_master_render_all(struct ag_master *m, enum ag_master_render_kind kind, const char *only,
                           size_t *ret_len);
/* Driving a render by hand (tests): new, slices until one returns true
 * (at most max_steps objects each, 0 = no limit; max_seconds 0 = no
 * limit), the output so far, failed (OOM or a bug), free. */
struct ag_master_render *ag_master_render_new(struct ag_master *m, enum ag_master_render_kind kind,
                                              const char *only);
bool ag_master_render_slice(struct ag_master_render *r, size_t max_steps, double max_seconds);
const char *ag_master_render_output(const struct ag_master_render *r, size_t *ret_len);
bool ag_master_render_failed(const struct ag_master_render *r);
void ag_master_render_free(struct ag_master_render *r);

/* --- calls after authentication (scheduler.c, agent_api.c) --- */

enum {
    AG_MASTER_CALL_ACCEPTED = 0, /* answer 202 */
    AG_MASTER_CALL_OK = 1,       /* answer 200 (UPDATE_FRAMEWORK) */
};
/* Runs a validated scheduler call (ag_master_validate_sched_call) of a
 * subscribed framework: AG_MASTER_CALL_*, or -EINVAL with a message (400). */
int ag_master_sched_call(struct ag_master *m, struct ag_master_framework *fw,
                         enum ag_master_call type, const json_t *call, char *err, size_t errlen);
/* Runs an agent call (UPDATE, EXECUTOR_EXITED, MESSAGE, HEARTBEAT) of a
 * connected agent: 0, or -EINVAL with a message (400). */
int ag_master_agent_call(struct ag_master *m, struct ag_master_agent *a, const json_t *call,
                         char *err, size_t errlen);

/* --- http handlers (scheduler.c, agent_api.c, endpoints.c) --- */

int ag_master_http_start(struct ag_master *m, char *err, size_t errlen);
void ag_master_scheduler_routes(struct ag_master *m);
void ag_master_agent_routes(struct ag_master *m);
void ag_master_endpoint_routes(struct ag_master *m);

/* A stream whose peer leaves this many bytes unread is dropped. */
#define AG_MASTER_MAX_STREAM_BACKLOG (64u * 1024 * 1024)

/* Version reported on the wire: the Mesos API level Agora speaks. */
#define AG_MASTER_MESOS_VERSION "1.11.0"

#endif
