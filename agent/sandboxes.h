/*
 * sandboxes: what the agent does around an executor's sandbox besides
 * creating it (launcher.c): fetching CommandInfo.uris with agora-fetcher
 * before the executor starts (fetch.c), keeping the executor's stdout and
 * stderr with size-rotating agora-logger processes (logs.c), and removing
 * the sandboxes of terminated executors after --gc_delay, sooner when the
 * work dir's filesystem runs short of space (gc.c).
 *
 * Every helper process is a child of the agent, reaped without blocking
 * (ag_agent_sandboxes_reap, from the agent's SIGCHLD handling, and a
 * periodic timer as a fallback).
 *
 * One agent per process: the configuration filled from the agent's flags
 * and the state of these modules are per process (agora local runs each
 * agent as a process of its own).
 */
#ifndef AG_AGENT_SANDBOXES_H
#define AG_AGENT_SANDBOXES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "core/flags.h"

struct ag_agent;
struct ag_agent_executor;

/* --- configuration (agent flags) --- */

struct ag_agent_sandbox_config {
    double gc_delay;                 /* seconds a terminated sandbox is kept */
    double gc_disk_headroom;         /* free fraction of the work dir's fs to keep */
    char *container_logger_max_size; /* "10MB" */
    int container_logger_max_files;  /* files kept per stream, the live one included */
    char *fetcher_cache_size;        /* "2GB" */
    double fetcher_stall_timeout;    /* seconds without download progress */
    /* derived by ag_agent_sandboxes_start() */
    uint64_t logger_max_bytes, cache_bytes;
};

extern struct ag_agent_sandbox_config ag_agent_sandbox_cfg;

/* The flag table entries, for the agent's flag table. */
#define AG_AGENT_SANDBOX_FLAGS                                                                     \
    {"gc_delay", AG_FLAG_DURATION, &ag_agent_sandbox_cfg.gc_delay,                                 \
     "time after which the sandbox of a terminated executor is removed", false},                   \
        {"gc_disk_headroom", AG_FLAG_DOUBLE, &ag_agent_sandbox_cfg.gc_disk_headroom,               \
         "fraction of the work dir's filesystem to keep free: below it, terminated "               \
         "sandboxes are removed oldest first without waiting for gc_delay",                        \
         false},                                                                                   \
        {"container_logger_max_size", AG_FLAG_STRING,                                              \
         &ag_agent_sandbox_cfg.container_logger_max_size,                                          \
         "size at which an executor's stdout/stderr file is rotated (e.g. 10MB)", false},          \
        {"container_logger_max_files", AG_FLAG_INT,                                                \
         &ag_agent_sandbox_cfg.container_logger_max_files,                                         \
         "files kept per stream (stdout, stdout.1, ...), the live one included", false},           \
        {"fetcher_cache_size", AG_FLAG_STRING, &ag_agent_sandbox_cfg.fetcher_cache_size,           \
         "size of the fetcher's cache under <work_dir>/fetch-cache (e.g. 2GB)", false},            \
    {                                                                                              \
        "fetcher_stall_timeout", AG_FLAG_DURATION, &ag_agent_sandbox_cfg.fetcher_stall_timeout,    \
            "time a download may make no progress before it fails", false                          \
    }

/* Parses "1048576", "512B", "10KB", "10MB", "2GB" (binary units). 0 or -EINVAL. */
int ag_agent_parse_bytes(const char *text, uint64_t *ret);

/* Checks the flags above, creates <work_dir>/fetch-cache and starts the GC
 * and reaping timers. -EINVAL with a message naming the flag. */
int ag_agent_sandboxes_start(struct ag_agent *agent, char *err, size_t errlen);
/* Stops the timers and kills running fetchers (loggers end by themselves
 * when their containers are gone). Safe if never started. */
void ag_agent_sandboxes_stop(struct ag_agent *agent);
/* Reaps the helper processes that have exited (never blocks). */
void ag_agent_sandboxes_reap(struct ag_agent *agent);
/* Adds the fetcher and GC metrics to a /metrics/snapshot object. */
void ag_agent_sandboxes_metrics(struct ag_agent *agent, json_t *metrics);

/* --- children (sandboxes.c): helper processes waited for on the loop --- */

typedef void (*ag_agent_child_cb)(struct ag_agent *agent, pid_t pid, int status, void *arg);
/* Calls cb once pid has exited (status from waitpid). 0 or -ENOMEM. */
int ag_agent_child_watch(pid_t pid, ag_agent_child_cb cb, void *arg);

/* --- fetch.c --- */

/* error is NULL on success, else "Failed to fetch '<uri>': <cause>". The
 * executor may have been shut down meanwhile (check its state). */
typedef void (*ag_agent_fetch_done_cb)(struct ag_agent *agent, struct ag_agent_executor *ex,
                                       const char *error);

/* The URIs to fetch for a launch: the executor's CommandInfo.uris, then
 * the task's (task_info may be NULL). New reference; an empty array when
 * there are none. */
json_t *ag_agent_fetch_uris(const json_t *executor_info, const json_t *task_info);
/* Runs agora-fetcher for the executor's sandbox (ex->directory must
 * exist). 1 when there is nothing to fetch (done is not called); 0 when
 * the fetch started: done runs later on the loop, exactly once, unless the
 * executor is gone by then; -errno with a message. */
int ag_agent_fetch_start(struct ag_agent *agent, struct ag_agent_executor *ex,
                         const json_t *task_info, const char *user, ag_agent_fetch_done_cb done,
                         char *err, size_t errlen);
/* A nested container's fetch ended: error as for ag_agent_fetch_done_cb.
 * The container is found again by its parent's container id and its id. */
typedef void (*ag_agent_fetch_nested_cb)(struct ag_agent *agent, const char *parent_cid,
                                         const char *nested_id, const char *error);
/* Runs agora-fetcher for a nested container's CommandInfo.uris into
 * `directory` (which must exist). 1 when there is nothing to fetch; 0
 * when the fetch started (done runs later on the loop, exactly once); or
 * -errno with a message. */
int ag_agent_fetch_nested(struct ag_agent *agent, const char *directory, const char *parent_cid,
                          const char *nested_id, const json_t *command, const char *user,
                          ag_agent_fetch_nested_cb done, char *err, size_t errlen);
/* Whether a fetch is running into this sandbox (GC leaves it alone). */
bool ag_agent_fetch_busy(const char *directory);

/* --- logs.c --- */

/* Starts two agora-logger processes writing <sandbox>/stdout and
 * <sandbox>/stderr with the configured rotation, and returns in ret_fds
 * the write ends of their pipes (close-on-exec), to become the executor's
 * fd 1 and fd 2; the caller closes them once the executor is spawned. The
 * loggers exit when every writer is gone. -errno with a message. */
int ag_agent_logs_start(struct ag_agent *agent, const char *sandbox, int ret_fds[2], char *err,
                        size_t errlen);

/* The same for the agent started with ag_agent_sandboxes_start (the one
 * of this process), for the launcher's I/O hook (ag_agent_launch_io),
 * which does not see the agent: -ENOSYS when no agent runs the sandboxes
 * (unit tests) or agora-logger is missing from --launcher_dir, and the
 * caller then writes plain files. */
int ag_agent_logs_open(const char *sandbox, int ret_fds[2], char *err, size_t errlen);

/* --- gc.c --- */

struct ag_agent_gc_entry {
    char *path;
    double mtime; /* last change to the sandbox */
};

/* Orders sandboxes oldest first and returns how many of them are due:
 * every one older than `delay` at `now`, or, under disk pressure, every
 * one. Pure. */
size_t ag_agent_gc_plan(struct ag_agent_gc_entry *entries, size_t n, double now, double delay,
                        bool pressure);
/* Whether free/total is below headroom (headroom 0: never). */
bool ag_agent_gc_pressure(uint64_t free_bytes, uint64_t total_bytes, double headroom);
/* One GC round now (the timer calls it). */
void ag_agent_gc_run(struct ag_agent *agent);

/* The agent ag_agent_sandboxes_start was called with, or NULL. */
struct ag_agent *ag__agent_sandboxes_agent(void);

/* --- counters of fetch.c and gc.c, for ag_agent_sandboxes_metrics --- */
void ag__agent_fetch_metrics(uint64_t *ret_succeeded, uint64_t *ret_failed);
void ag__agent_gc_metrics(uint64_t *ret_succeeded, uint64_t *ret_failed, uint64_t *ret_pending);

#endif
