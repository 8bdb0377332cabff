/*
 * agent internals: the objects the agent's modules share (frameworks,
 * executors, tasks), and the small APIs between those modules. Nothing
 * outside agent/ (and its unit tests) includes this.
 *
 * Ownership: the agent owns its frameworks; a framework owns its executors
 * (live and completed); an executor owns its tasks (queued, launched,
 * completed). Every object is freed by its owner's free function.
 */
#ifndef AG_AGENT_INTERNAL_H
#define AG_AGENT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "core/http.h"
#include "core/id.h"
#include "core/proto.h"
#include "core/resources.h"
#include "agent/containerizer/containerizer.h"
#include "agent/index.h"

struct ag_loop;
struct ag_timer;
struct ag_signal;
struct ag_flag;
struct event;

/* --- intrusive doubly linked list --- */

struct ag_agent_list {
    struct ag_agent_list *prev, *next;
};

static inline void ag_agent_list_init(struct ag_agent_list *head)
{
    head->prev = head->next = head;
}

static inline bool ag_agent_list_empty(const struct ag_agent_list *head)
{
    return head->next == head;
}

static inline void ag_agent_list_add_tail(struct ag_agent_list *head, struct ag_agent_list *node)
{
    node->prev = head->prev;
    node->next = head;
    head->prev->next = node;
    head->prev = node;
}

static inline void ag_agent_list_del(struct ag_agent_list *node)
{
    node->prev->next = node->next;
    node->next->prev = node->prev;
    node->prev = node->next = node;
}

#define ag_agent_list_entry(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))
/* Iterates allowing removal of `pos`. */
#define ag_agent_list_for_each(pos, tmp, head)                                                     \
    for ((pos) = (head)->next, (tmp) = (pos)->next; (pos) != (head);                               \
         (pos) = (tmp), (tmp) = (pos)->next)

/* --- configuration (flags) --- */

struct ag_agent_config {
    char *master;
    char *ip;
    int port;
    char *hostname;
    char *work_dir;
    char *resources;
    char *attributes;
    char *launcher_dir;
    char *log_level;
    double executor_registration_timeout;
    double executor_shutdown_grace_period;
    double status_update_retry_interval;
    double registration_backoff_factor;
    char *recover;                          /* "reconnect" or "cleanup" */
    double recovery_timeout;                /* executors wait this long for us */
    double executor_reregistration_timeout; /* recovered executors re-subscribe */
};

/* --- tasks, executors, frameworks --- */

struct ag_agent_executor;
struct ag_agent_framework;
struct ag_agent;

struct ag_agent_task {
    struct ag_agent_list node; /* in the executor's queued/launched/completed list */
    struct ag_agent_executor *executor;
    char *id;
    json_t *info;             /* TaskInfo as launched */
    enum ag_task_state state; /* latest state the agent knows */
    json_t *statuses;         /* array of every TaskStatus accepted, in order */
    struct ag_resources resources;
    json_t *group; /* TaskGroupInfo the task came in (shared), NULL for LAUNCH */
};

enum ag_agent_executor_state {
    AG_AGENT_EXECUTOR_REGISTERING = 0, /* launched, not subscribed yet */
    AG_AGENT_EXECUTOR_RUNNING = 1,     /* subscribed (stream may be gone) */
    AG_AGENT_EXECUTOR_TERMINATING = 2, /* being shut down or killed */
    AG_AGENT_EXECUTOR_TERMINATED = 3,  /* process reaped */
};

struct ag_agent_executor {
    struct ag_agent_list node; /* in the framework's executors/completed list */
    struct ag_agent_framework *framework;
    char *id;
    json_t *info; /* ExecutorInfo (generated for command tasks) */
    bool command; /* the built-in command executor */
    char container_id[AG_UUID_STR_LEN];
    char *directory; /* host sandbox path */
    pid_t pid;       /* > 0 while the process lives */
    enum ag_agent_executor_state state;
    struct ag_http_stream *stream; /* the executor's SUBSCRIBE stream */
    struct ag_agent_list queued, launched, completed;
    size_t n_completed;
    struct ag_timer *registration_timer;
    struct ag_timer *kill_timer;
    bool shutdown_requested; /* SHUTDOWN asked by the framework/master */
    int exit_status;         /* wait status once TERMINATED */
    bool done;               /* moved to the framework's completed list */
    struct ag_resources resources;
    struct ag_cz_container *container; /* NULL without isolation */
    bool default_exec;                 /* ExecutorInfo.type DEFAULT: agora-default-executor */
    /* MESOS_EXECUTOR_AUTHENTICATION_TOKEN: the bearer token that lets this
     * executor launch nested containers in its own container only. */
    char token[AG_UUID_STR_LEN];
    struct ag_agent_list nested; /* struct ag_agent_nested (nested.c) */
    /* Reaping (agent/reap.c): a pidfd watched on the loop. A recovered
     * executor is not our child: its exit is seen, not its status. */
    int pidfd; /* -1 when none (waitpid polling instead) */
    struct event *pidfd_ev;
    bool child;                    /* started by this agent process */
    bool recovered;                /* re-adopted from the checkpoint */
    json_t *pending_kills;         /* KILL events for it before it re-subscribed */
    unsigned long long start_time; /* /proc/<pid>/stat field 22 */
    bool left;                     /* left running by a SIGTERM stop: freed, not killed */
};

struct ag_agent_framework {
    struct ag_agent_list node; /* in the agent's frameworks/completed list */
    struct ag_agent *agent;
    char *id;
    json_t *info; /* FrameworkInfo */
    struct ag_agent_list executors, completed_executors;
    size_t n_completed_executors;
    /* Live executors and live (queued or launched) tasks by id (index.h):
     * lookups without a scan of every executor. */
    struct ag_agent_index executors_by_id, tasks_by_id;
    bool shutting_down;
    bool done; /* moved to the agent's completed list */
};

struct ag_agent_metrics {
    uint64_t valid_status_updates, invalid_status_updates;
    uint64_t valid_framework_messages, invalid_framework_messages;
    uint64_t container_launch_errors;
    uint64_t executors_terminated;
    uint64_t tasks_finished, tasks_failed, tasks_killed, tasks_lost, tasks_gone;
};

struct ag_agent_master;
struct ag_agent_sum;

struct ag_agent {
    struct ag_loop *loop;
    struct ag_http_server *http;
    struct ag_agent_config cfg;
    struct ag_flag *flags;
    size_t n_flags;
    char *id; /* NULL until the master assigned one */
    char *hostname;
    int port;          /* actually bound */
    char endpoint[64]; /* "ip:port" */
    char pid[96];      /* "slave(1)@ip:port" */
    char *work_dir;    /* realpath of --work_dir */
    char *launcher_dir;
    struct ag_resources resources;
    json_t *attributes; /* array of Attribute objects */
    double start_time;
    struct ag_agent_list frameworks, completed_frameworks;
    size_t n_completed_frameworks;
    struct ag_agent_master *master;
    struct ag_agent_sum *sum;
    /* Status updates to the master made in this loop pass, sent together
     * in one UPDATE call ("updates") when the timer fires (0 s). */
    json_t *update_batch;
    struct ag_timer *update_flush;
    struct ag_agent_metrics metrics;
    struct ag_signal *sigchld, *sigint, *sigterm, *sigusr1;
    struct ag_timer *reap_timer;
    struct ag_timer *exec_heartbeat_timer;
    struct ag_timer *stop_timer;
    bool stopping;
    /* SIGTERM: stopping, but the executors that a restart can recover
     * stay running and the checkpoint stays (SIGUSR1/SIGINT: everything
     * is killed and forgotten). */
    bool leaving;
    struct ag_cz_config iso; /* isolation flags */
    struct ag_cz *cz;        /* the containerizer */
    bool recovering;         /* reading the checkpoint: executor calls get 503 */
};

/* Limits on completed objects kept for /state (as Mesos' defaults). */
#define AG_AGENT_MAX_COMPLETED_TASKS      200
#define AG_AGENT_MAX_COMPLETED_EXECUTORS  150
#define AG_AGENT_MAX_COMPLETED_FRAMEWORKS 50

/* --- agent.c: lookups and actions other modules use --- */

struct ag_agent_framework *ag_agent_framework_find(struct ag_agent *agent, const char *id);
struct ag_agent_executor *ag_agent_executor_find(struct ag_agent_framework *fw, const char *id);
/* Finds a task among the executor's queued and launched (not completed) tasks. */
struct ag_agent_task *ag_agent_executor_task(struct ag_agent_executor *ex, const char *task_id);
/* A live (queued or launched) task of a framework, or NULL. */
struct ag_agent_task *ag_agent_task_find(struct ag_agent_framework *fw, const char *task_id);
/* Whether the framework has the capability ("TASK_KILLING_STATE"...). */
bool ag_agent_framework_capable(const struct ag_agent_framework *fw, const char *capability);
/* The role the framework's tasks run under (first of roles, role, or "*"). */
const char *ag_agent_framework_role(const struct ag_agent_framework *fw);

/* Accepts a status update for a task: records it on the task and queues
 * it for the master. `status` is borrowed. 0; -EEXIST for a duplicate uuid
 * (already accepted: still acknowledge it). */
int ag_agent_task_status(struct ag_agent *agent, struct ag_agent_task *task, const json_t *status);
/* Generates an agent-side update (fresh uuid, SOURCE_AGENT). */
void ag_agent_task_fail(struct ag_agent *agent, struct ag_agent_task *task,
                        enum ag_task_state state, const char *reason, const char *message);

/* Executor subscribed (executor_api.c → agent.c): sends queued launches. */
void ag_agent_executor_subscribed(struct ag_agent *agent, struct ag_agent_executor *ex);
/* Sends one event to a subscribed executor. 0 or -ENOTCONN. */
int ag_agent_executor_send(struct ag_agent_executor *ex, const json_t *event);
/* An executor's MESSAGE call, relayed to the master. */
void ag_agent_executor_message(struct ag_agent *agent, struct ag_agent_executor *ex,
                               const char *data_b64);

/* --- executor_api.c --- */

/* Serves POST /api/v1/executor. */
void ag_agent_executor_api(struct ag_http_req *req, void *arg);
/* The executor's stream went away. */
void ag_agent_executor_stream_closed(struct ag_http_stream *stream, void *arg);

/* --- http_state.c: /state, /metrics/snapshot, /flags, /version, /health --- */

void ag_agent_routes_state(struct ag_agent *agent);
json_t *ag_agent_state_json(struct ag_agent *agent);
/* {"name": "value"} of every flag. */
json_t *ag_agent_flags_json(const struct ag_agent *agent);
/* The /metrics/snapshot object. */
json_t *ag_agent_metrics_json(struct ag_agent *agent);
/* The AgentInfo (v1 shape) of this agent (agent.c). */
json_t *ag_agent_info_json(const struct ag_agent *agent);

/* --- volumes.c: persistent volumes --- */

/* disk.persistence.id of a resource, or NULL. */
const char *ag_agent_volume_id(const struct ag_resource *res);
/* <work_dir>/volumes/roles/<role, '/' as ' '>/<persistence id>. */
int ag_agent_volume_path(const char *work_dir, const struct ag_resource *res, char *out,
                         size_t outlen);
int ag_agent_volume_create(const char *work_dir, const struct ag_resource *res);
/* Deletes a destroyed volume's directory and everything in it. */
int ag_agent_volume_remove(const char *work_dir, const struct ag_resource *res);
/* Links every persistent volume among `resources` (a JSON Resource array)
 * into the sandbox at its disk.volume.container_path. 0 or -errno. */
int ag_agent_volumes_link(const char *work_dir, const char *sandbox, const json_t *resources);

/* --- checkpoint_resources.c: the total the master set --- */

/* ret = base without dynamic reservations and volumes, plus those of ckpt
 * that fit in it (initialised here). */
int ag_agent_resources_merge(const struct ag_resources *base, const struct ag_resources *ckpt,
                             struct ag_resources *ret);
/* Writes <work_dir>/meta/resources.json atomically. 0 or -errno. */
int ag_agent_resources_checkpoint(const struct ag_agent *agent, const struct ag_resources *total);
/* On start: merges the checkpoint (if any) into agent->resources. */
int ag_agent_resources_recover(struct ag_agent *agent, char *err, size_t errlen);
/* UPDATE_RESOURCES from the master: checkpoint, volumes made and removed. */
void ag_agent_on_update_resources(struct ag_agent *agent, const json_t *event);

/* --- monitor.c: /monitor/statistics, /containers, GET_CONTAINERS --- */

void ag_agent_routes_monitor(struct ag_agent *agent);
/* [{executor_id, executor_name, framework_id, source, statistics}] of the
 * live executors (Mesos' /monitor/statistics). */
json_t *ag_agent_monitor_json(struct ag_agent *agent);
/* GET_CONTAINERS' `containers` array (v1 shape). */
json_t *ag_agent_containers_v1(struct ag_agent *agent);

/* --- operator.c: the agent's operator API (POST /api/v1), read-only calls --- */

void ag_agent_operator_api(struct ag_http_req *req, void *arg);
/* A Task object in the Mesos v1 shape for SUBSCRIBE (not the legacy one). */
json_t *ag_agent_task_v1(const struct ag_agent *agent, const struct ag_agent_task *task);

/* --- nested.c: nested containers (LAUNCH/WAIT/KILL/REMOVE_CONTAINER) --- */

/* Whether the operator call `type` is one of the nested-container calls
 * (then ag_agent_nested_call answers it). */
bool ag_agent_nested_handles(const char *type);
/* Answers a LAUNCH/WAIT/KILL/REMOVE_CONTAINER call (WAIT later, when the
 * container ends). `call` is borrowed. */
void ag_agent_nested_call(struct ag_agent *agent, struct ag_http_req *req, const char *type,
                          const json_t *call);
/* The executor ended: its nested containers are killed and destroyed,
 * waiting WAIT_CONTAINER calls answered, the records freed. */
void ag_agent_nested_executor_gone(struct ag_agent *agent, struct ag_agent_executor *ex);
/* Recovery: the nested containers of a recovered executor from its
 * checkpoint; live ones re-adopted, ended ones kept for WAIT_CONTAINER. */
void ag_agent_nested_recover(struct ag_agent *agent, struct ag_agent_executor *ex);
/* A SIGTERM stop: forgets the nested containers without touching them. */
void ag_agent_nested_release(struct ag_agent *agent, struct ag_agent_executor *ex);
/* A nested container hit a limit (from the containerizer's callback). */
void ag_agent_nested_limited(struct ag_agent *agent, struct ag_cz_container *c, const char *reason,
                             const char *message, const json_t *limitation);
/* Appends GET_CONTAINERS entries for the executor's nested containers. */
void ag_agent_nested_containers(struct ag_agent *agent, struct ag_agent_executor *ex, json_t *out);

/* --- files.c: /files/browse, /files/read, /files/download, /files/debug --- */

void ag_agent_routes_files(struct ag_agent *agent);
/* Maps a /files path to a real path: "/frameworks/..." is a virtual name
 * under root/slaves/<agent_id>/, "slaves/..." one under root (the
 * realpath of the work dir); anything else is a host path. The result
 * (realpath'd, malloc'd) must be one of the `n` sandbox directories (real
 * paths) or inside one: parents of sandboxes, "..", and symlinks that lead
 * out are refused. 0; -ENOENT if it does not exist; -EACCES if it resolves
 * outside every sandbox. */
int ag_agent_files_resolve(const char *root, const char *agent_id, const char *path,
                           const char *const *sandboxes, size_t n, char **ret_real);
/* Replaces bytes that are not valid UTF-8 with '?' (so the JSON string
 * keeps one character per byte), and returns the length to keep so that a
 * sequence cut at the end of a read is not split (len when `at_eof`). */
size_t ag_agent_files_sanitize(char *data, size_t len, bool at_eof);
/* "drwxr-xr-x" for a st_mode; out >= 11. */
void ag_agent_files_mode_string(unsigned mode, char out[11]);

/* --- resources.c: resource detection and attributes --- */

/* Default mem (MB) from total RAM in bytes: RAM - 1 GB, or half below 2 GB. */
uint64_t ag_agent_default_mem_mb(uint64_t ram_bytes);
/* Default disk (MB) from the work dir's filesystem size: size - 5 GB, or
 * half below 10 GB. */
uint64_t ag_agent_default_disk_mb(uint64_t fs_bytes);
/* Total RAM in bytes from /proc/meminfo text ("MemTotal: N kB"); 0 if absent. */
uint64_t ag_agent_meminfo_total(const char *text);
/* The agent's resources: --resources (`flag`, may be NULL) with the
 * detected defaults for cpus, mem, disk and ports where it says nothing.
 * -EINVAL with a message naming the bad part. */
int ag_agent_resources_build(const char *flag, unsigned cpus, uint64_t mem_mb, uint64_t disk_mb,
                             struct ag_resources *ret, char *err, size_t errlen);
/* Detects cpus/mem/disk for work_dir and builds the resources. */
int ag_agent_resources_detect(const char *flag, const char *work_dir, struct ag_resources *ret,
                              char *err, size_t errlen);
/* Parses --attributes "rack:r1;zone:a;level:3" into an array of Attribute
 * objects (SCALAR if numeric, RANGES "[a-b,...]", SET "{a,b}", else TEXT).
 * NULL with a message on a bad attribute. */
json_t *ag_agent_attributes_parse(const char *text, char *err, size_t errlen);
/* The legacy flattened form {"rack":"r1","level":3}. */
json_t *ag_agent_attributes_flatten(const json_t *attributes);

/* --- status_update.c: the status update manager --- */

/* One queued update. */
struct ag_agent_update {
    char uuid[32];
    json_t *status; /* TaskStatus, owned */
};

/* The ordered update stream of one task. Pure part: no I/O, no timers. */
struct ag_agent_update_queue {
    struct ag_agent_update *items;
    size_t n, cap;
    enum ag_task_state latest_state; /* newest state pushed */
    bool has_terminal;               /* a terminal update was pushed */
};

void ag_agent_update_queue_init(struct ag_agent_update_queue *q);
void ag_agent_update_queue_release(struct ag_agent_update_queue *q);
/* Appends a TaskStatus (borrowed; a copy is kept). 0; -EEXIST if an update
 * with the same uuid is queued; -EINVAL without a uuid or state; -ENOMEM. */
int ag_agent_update_queue_push(struct ag_agent_update_queue *q, const json_t *status);
/* The update to deliver now, or NULL when empty. */
const struct ag_agent_update *ag_agent_update_queue_head(const struct ag_agent_update_queue *q);
/* Pops the head if its uuid is `uuid`: 0; -ENOENT otherwise (nothing changes). */
int ag_agent_update_queue_ack(struct ag_agent_update_queue *q, const char *uuid);
/* Next retry interval after `current`: doubled, capped at `max`. */
double ag_agent_update_backoff(double current, double max);

#define AG_AGENT_UPDATE_RETRY_MAX 600.0 /* 10 minutes */

struct ag_agent_sum_ops {
    /* Sends the head update of a task's stream to the master. */
    void (*send)(void *arg, const char *framework_id, const json_t *status,
                 enum ag_task_state latest_state);
    /* The master acknowledged `status` (now popped). */
    void (*acked)(void *arg, const char *framework_id, const char *task_id, const json_t *status);
};

/* The manager: one queue per (framework, task), a retry timer each.
 * Sends only while "connected" (subscribed to a master). */
struct ag_agent_sum *ag_agent_sum_new(struct ag_loop *loop, double retry_interval,
                                      const struct ag_agent_sum_ops *ops, void *arg);
void ag_agent_sum_free(struct ag_agent_sum *sum);
/* Queues an update (borrowed). 0, -EEXIST (duplicate uuid), -EINVAL, -ENOMEM. */
int ag_agent_sum_update(struct ag_agent_sum *sum, const char *framework_id, const char *task_id,
                        const json_t *status);
/* The master acknowledged `uuid` for a task. 0 if it was the head. */
int ag_agent_sum_ack(struct ag_agent_sum *sum, const char *framework_id, const char *task_id,
                     const char *uuid);
/* Connected: (re)send every head now. Disconnected: stop retrying. */
void ag_agent_sum_set_connected(struct ag_agent_sum *sum, bool connected);
/* Drops every stream of a framework (SHUTDOWN_FRAMEWORK). */
void ag_agent_sum_drop_framework(struct ag_agent_sum *sum, const char *framework_id);
/* Whether a task still has updates waiting for acknowledgement. */
bool ag_agent_sum_pending(const struct ag_agent_sum *sum, const char *framework_id,
                          const char *task_id);
/* The update of a task being delivered now (head of its stream), or NULL. */
const json_t *ag_agent_sum_head(const struct ag_agent_sum *sum, const char *framework_id,
                                const char *task_id);
/* Number of streams (for tests and metrics). */
size_t ag_agent_sum_streams(const struct ag_agent_sum *sum);

/* --- master.c: the link to the master --- */

struct ag_agent_master_ops {
    /* Builds the SUBSCRIBE call (new reference). */
    json_t *(*subscribe_call)(void *arg);
    /* SUBSCRIBED arrived. */
    void (*subscribed)(void *arg, const char *agent_id, double heartbeat_interval);
    /* Any other event (HEARTBEAT is answered by the link itself). */
    void (*event)(void *arg, const char *type, const json_t *event);
    /* The stream is gone; the link re-subscribes by itself. */
    void (*disconnected)(void *arg, const char *reason);
};

struct ag_agent_master *ag_agent_master_new(struct ag_loop *loop, const char *base_url,
                                            double backoff_initial,
                                            const struct ag_agent_master_ops *ops, void *arg);
void ag_agent_master_free(struct ag_agent_master *m);
void ag_agent_master_start(struct ag_agent_master *m);
bool ag_agent_master_connected(const struct ag_agent_master *m);
/* The base URL of the master in use ("http://host:port"). */
const char *ag_agent_master_url(const struct ag_agent_master *m);
/* POSTs a call to the master (steals `call`). -ENOTCONN when not subscribed. */
int ag_agent_master_call(struct ag_agent_master *m, json_t *call);
/* Normalises --master ("host:port", "http://host:port[/...]", "//host:port")
 * to "http://host:port" (malloc'd). Port defaults to 5050. 0 or -EINVAL. */
int ag_agent_master_parse(const char *address, char **ret_base);
/* The base URL from a 307 Location ("//host:port/path" or "http://..."). */
int ag_agent_master_location(const char *location, char **ret_base);
/* Reconnect delay: `backoff` scaled by a jitter factor in [0.5, 1] drawn
 * from `random01` in [0, 1). */
double ag_agent_master_jitter(double backoff, double random01);

/* --- launcher.c: sandboxes and processes --- */

/* Creates the sandbox <work_dir>/slaves/<agent>/frameworks/<fw>/executors/
 * <ex>/runs/<container> (and the runs/latest link); malloc'd path. */
int ag_agent_sandbox_create(const char *work_dir, const char *agent_id, const char *framework_id,
                            const char *executor_id, const char *container_id, char **ret_path,
                            char *err, size_t errlen);
/* mkdir -p. 0 or -errno. */
int ag_agent_mkdirs(const char *path, mode_t mode);

/* A growable environment ("NAME=VALUE" strings, NULL-terminated). */
struct ag_agent_env {
    char **vars;
    size_t n, cap;
};
void ag_agent_env_init(struct ag_agent_env *env);
void ag_agent_env_release(struct ag_agent_env *env);
/* Sets NAME to VALUE, replacing an earlier NAME. 0 or -ENOMEM / -EINVAL. */
int ag_agent_env_set(struct ag_agent_env *env, const char *name, const char *value);
/* Adds every "NAME=VALUE" of a NULL-terminated array (e.g. environ). */
int ag_agent_env_merge(struct ag_agent_env *env, char *const *vars);
/* Adds the VALUE variables of an Environment object
 * ({"variables":[{"name","value"}]}); others (SECRET) are skipped. */
int ag_agent_env_merge_json(struct ag_agent_env *env, const json_t *environment);
/* The value of NAME or NULL. */
const char *ag_agent_env_get(const struct ag_agent_env *env, const char *name);

/* What the agent tells an executor through its environment (§5.3). */
struct ag_agent_exec_env {
    const char *framework_id, *executor_id, *agent_id;
    const char *endpoint;      /* "ip:port" */
    const char *agent_pid;     /* "slave(1)@ip:port" */
    const char *directory;     /* the sandbox */
    const char *role;          /* MESOS_ALLOCATION_ROLE */
    double shutdown_grace;     /* seconds */
    const json_t *environment; /* CommandInfo.environment, may be NULL */
    bool checkpoint;           /* MESOS_CHECKPOINT: the framework checkpoints */
    double recovery_timeout;   /* MESOS_RECOVERY_TIMEOUT (with checkpoint), seconds */
    double backoff_max;        /* MESOS_SUBSCRIPTION_BACKOFF_MAX (with checkpoint) */
};
/* env = base (e.g. environ) + the MESOS_* variables + the CommandInfo's
 * environment, later ones replacing earlier ones of the same name. */
int ag_agent_executor_env(struct ag_agent_env *env, char *const *base,
                          const struct ag_agent_exec_env *p);

/* Builds the executor's argv from a CommandInfo: shell → /bin/sh -c value;
 * else value with arguments (argv[0] = arguments[0] or value). NULL with a
 * message when the CommandInfo cannot run. Free with ag_agent_argv_free. */
char **ag_agent_command_argv(const json_t *command, char **ret_path, char *err, size_t errlen);
void ag_agent_argv_free(char **argv);

/* Spawns `path` with argv/envp in a new session (pid = pgid = sid), cwd =
 * sandbox, stdout/stderr appended to sandbox/stdout and sandbox/stderr,
 * stdin /dev/null, all other descriptors closed. 0 and *ret_pid, or -errno
 * with a message. */
int ag_agent_spawn(const char *path, char *const argv[], char *const envp[], const char *sandbox,
                   pid_t *ret_pid, char *err, size_t errlen);
/* The hook point of a launch: what the executor's container starts with.
 * Today it opens sandbox/stdout and sandbox/stderr for appending (the
 * descriptors are close-on-exec; the launcher dups them to 1 and 2). A
 * fetch step (CommandInfo.uris into the sandbox) and a logger pipe in
 * place of the files plug in here. 0, or -errno with a message. */
int ag_agent_launch_io(const char *sandbox, int *ret_out, int *ret_err, char *err, size_t errlen);

/* One executor launch, isolated or not. */
struct ag_agent_launch {
    const char *path;             /* executable */
    char *const *argv;            /* NULL-terminated */
    struct ag_agent_env *env;     /* the environment; may be adjusted */
    const char *sandbox;          /* host path */
    const char *container_id;     /* the cgroup's name */
    const char *user;             /* run-as user (checked), NULL = agent's */
    double cpus, mem_mb, disk_mb; /* limits, 0 = none */
    const char *hostname;         /* ContainerInfo.hostname, may be NULL */
    const char *agent_endpoint;   /* "ip:port" */
    const char *work_dir;         /* the agent's */
    void *owner;                  /* the executor */
    const char *status_file;      /* checkpointed exit status, may be NULL */
};
/* Starts the executor: a plain posix_spawn (ag_agent_spawn) when `cz`
 * isolates nothing, else a container (ag_cz_launch). MESOS_SANDBOX stays
 * the host path, as in Mesos for containers without an image; with the
 * mount namespace the sandbox is also at /mnt/mesos/sandbox. 0 with the
 * pid to reap (and *ret_container, NULL when not isolated), or -errno
 * with a message. */
int ag_agent_launch_executor(struct ag_cz *cz, const struct ag_agent_launch *l, pid_t *ret_pid,
                             struct ag_cz_container **ret_container, char *err, size_t errlen);
/* Whether the run-as `user` exists: 0, or -ENOENT with a message that
 * says so. NULL (no user) is fine. */
int ag_agent_user_check(const char *user, char *err, size_t errlen);

/* Signals the process group `pgid` and every process whose session is
 * `sid` (the executor and whatever it started, even in other groups). */
void ag_agent_kill_tree(pid_t pgid, int signo);
/* Signals an executor's processes: through its container `c` when that
 * holds them all (ag_cz_holds_all), else by session (ag_agent_kill_tree
 * of `pid`, the /proc scan, for uncontained executors). */
void ag_agent_kill_executor(struct ag_cz *cz, struct ag_cz_container *c, pid_t pid, int signo);
/* The session id field of a /proc/<pid>/stat line, or -1. */
pid_t ag_agent_stat_session(const char *stat_line);

/* --- checkpoint.c: agent, framework, executor and task checkpoints --- */

/*
 * Layout under <work_dir>/meta (docs/recovery.md):
 *   slaves/latest                      symlink to the agent's id
 *   slaves/<aid>/agent.info            AgentInfo
 *   slaves/<aid>/frameworks/<fid>/framework.info
 *   .../executors/<eid>/executor.info  {info, command, container_id}
 *   .../executors/<eid>/runs/<cid>/run.info  {pid, start_time, directory,
 *                                       cgroups, cpus, mem, disk}
 *   .../runs/<cid>/tasks/<tid>/task.info     TaskInfo
 *   .../runs/<cid>/tasks/<tid>/task.updates  {updates: [TaskStatus], acked: [uuid]}
 * Every file is one JSON object and a final newline, written atomically.
 */

/* Writes `data` to `path`: temporary file, fsync, rename, fsync of the
 * directory (made if missing). 0 or -errno. */
int ag_ckpt_write_atomic(const char *path, const char *data, size_t len);
/* The same with the fsyncs only if `sync` (still atomic for readers and
 * for a crash of the agent alone). */
int ag_ckpt_write(const char *path, const char *data, size_t len, bool sync);
/* Writes a JSON object (borrowed) as a checkpoint file. 0 or -errno. */
int ag_ckpt_write_json(const char *path, const json_t *obj);
/* Reads a checkpoint file: the object (new reference), or NULL with a
 * message naming the file (missing, truncated, not JSON, not an object). */
json_t *ag_ckpt_read_json(const char *path, char *err, size_t errlen);
/* rm -rf. 0 or -errno. */
int ag_ckpt_remove_tree(const char *path);
/* Field 22 (starttime) of /proc/<pid>/stat, 0 if the process is gone (or
 * a zombie). */
unsigned long long ag_ckpt_proc_start_time(pid_t pid);
/* starttime from a /proc/<pid>/stat line (the comm may hold spaces and
 * parentheses), 0 when malformed. */
unsigned long long ag_ckpt_stat_start_time(const char *stat_line);

/* Whether the framework asked for checkpointing. */
bool ag_agent_framework_checkpoints(const struct ag_agent_framework *fw);
/* The agent's id and AgentInfo (after SUBSCRIBED). */
void ag_agent_ckpt_agent(struct ag_agent *agent);
/* The framework's info; the executor's info (once) and run (once it has a
 * process); a task's info; a task's update stream. No-ops for frameworks
 * that do not checkpoint (but for the container note, see below). */
void ag_agent_ckpt_framework(struct ag_agent *agent, struct ag_agent_framework *fw);
void ag_agent_ckpt_executor(struct ag_agent *agent, struct ag_agent_executor *ex);
void ag_agent_ckpt_task(struct ag_agent *agent, struct ag_agent_task *task);
/* An executor of a framework that does not checkpoint gets only
 * slaves/<aid>/containers/<cid> (its run.info, not fsync'd), removed when
 * it exits: a restarted agent kills what is left of it. */
void ag_agent_ckpt_executor_exited(struct ag_agent *agent, struct ag_agent_executor *ex);
/* `acked_uuid` (may be NULL) joins the acknowledged ones. */
void ag_agent_ckpt_updates(struct ag_agent *agent, struct ag_agent_task *task,
                           const char *acked_uuid);
/* <run dir>/<file> of the executor's checkpoint: 0, or -ENOENT when its
 * framework does not checkpoint. */
int ag_agent_ckpt_run_path(const struct ag_agent_executor *ex, const char *file, char *out,
                           size_t outlen);
/* The executor is completed: its checkpoint goes. */
void ag_agent_ckpt_executor_done(struct ag_agent *agent, struct ag_agent_executor *ex);
/* The master gave a new id (it forgot the old one): the checkpoint of the
 * old id becomes the new one's. */
void ag_agent_ckpt_rename(struct ag_agent *agent, const char *new_id);
/* A clean shutdown: the next start is a new agent (slaves/latest goes). */
void ag_agent_ckpt_forget(struct ag_agent *agent);
/* After it, once every executor is gone: slaves/<aid> goes too. */
void ag_agent_ckpt_clear(struct ag_agent *agent);

/* --- recover.c: agent start with a checkpoint --- */

/* Reads the checkpoint (if any): keeps the agent id, re-creates the
 * frameworks, executors, tasks and update streams, re-attaches to live
 * executors (or kills them with --recover=cleanup) and reports the tasks
 * of those that died. A bad file is logged and skipped. 0, or -errno with
 * a message when the checkpoint cannot be used at all. */
int ag_agent_recover(struct ag_agent *agent, char *err, size_t errlen);

/* --- reap.c: executors' exits through pidfds --- */

/* Watches the executor's process (ex->pid) with a pidfd; `child` when it
 * is our child (its status is then collected with waitid(P_PIDFD)). */
void ag_agent_reap_watch(struct ag_agent *agent, struct ag_agent_executor *ex, bool child);
/* Stops watching (closes the pidfd). */
void ag_agent_reap_unwatch(struct ag_agent_executor *ex);
/* Looks at an executor now: 1 and *status if it is gone (status -1 when
 * unknown: not our child), 0 if alive, -1 if it has no pidfd. */
int ag_agent_reap_check(struct ag_agent_executor *ex, int *status);

/* --- agent.c entry points for recover.c and reap.c --- */

struct ag_agent_framework *ag_agent_framework_get(struct ag_agent *agent, const char *id,
                                                  const json_t *info);
/* A new executor (info stolen) in REGISTERING state, no process. */
struct ag_agent_executor *ag_agent_executor_new(struct ag_agent_framework *fw, const char *id,
                                                json_t *info, bool command);
/* A new queued task. */
struct ag_agent_task *ag_agent_task_new(struct ag_agent_executor *ex, const char *id,
                                        const json_t *info);
/* The executor's process ended with wait status `status` (-1: unknown). */
void ag_agent_executor_exited(struct ag_agent *agent, struct ag_agent_executor *ex, int status);
/* Signals the executor's process tree (and its container on SIGKILL). */
void ag_agent_executor_kill(struct ag_agent_executor *ex, int signo);
/* The container limits of an executor (its resources plus its tasks'). */
void ag_agent_container_limits(const struct ag_agent_executor *ex, double *cpus, double *mem,
                               double *disk);
void ag_agent_executor_maybe_complete(struct ag_agent *agent, struct ag_agent_executor *ex);
void ag_agent_framework_maybe_complete(struct ag_agent *agent, struct ag_agent_framework *fw);

/* --- small helpers (util.c) --- */

/* DurationInfo {nanoseconds} at obj[key] in seconds; -1 if absent/bad. */
double ag_agent_json_duration(const json_t *obj, const char *key);
/* Content-Type check for API calls: 0, or an HTTP code (400/415) with a
 * message. */
int ag_agent_check_content_type(const char *value, char *err, size_t errlen);
/* Accept check: whether JSON is acceptable (absent header = yes). */
bool ag_agent_accepts_json(const char *accept);
/* strdup that aborts on OOM: for small strings whose loss would leave
 * half-built state. */
char *ag_agent_strdup(const char *s);

#endif
