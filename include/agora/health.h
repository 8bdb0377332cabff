/*
 * agora/health.h: task health checks and checks for executors (Mesos
 * HealthCheck and CheckInfo, reference §3.7). Agora's command executor uses
 * it; a custom executor can too.
 *
 * Three layers, each usable alone:
 *   - ag_health_policy: a HealthCheck or CheckInfo read from its JSON, with
 *     the Mesos defaults (delay 15 s, interval 10 s, timeout 20 s, 3
 *     consecutive failures, grace period 10 s) and a message naming the
 *     field when it is malformed.
 *   - ag_health_state + ag_health_judge(): the pure state machine that
 *     turns probe results into what to report and when to kill. No I/O, no
 *     clock of its own.
 *   - ag_health_checker: runs the probes on an ag_loop without blocking it
 *     (first probe after delay, then one every interval after the previous
 *     one ended, each bounded by timeout): HTTP GET to 127.0.0.1:port/path
 *     (200-399 healthy, after following up to 5 redirects that stay on the
 *     same server), TCP connect to 127.0.0.1:port, and COMMAND, which
 *     the caller runs (it knows the task's user and environment) through
 *     the ops below. HTTPS health checks run curl (-k -L -f) the same way,
 *     as Mesos does: healthy when curl exits 0.
 *
 * Probes reach the task on 127.0.0.1, i.e. in the network namespace of the
 * executor: this is right while tasks share the host network. A task in a
 * network namespace of its own needs probes entered into it.
 *
 * Threading: a checker lives on one loop; call it from that loop only.
 * Errors: 0 or a negative errno, with a message in err where one is taken.
 */
#ifndef AGORA_HEALTH_H
#define AGORA_HEALTH_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

struct ag_loop;
struct ag_health_checker;

enum ag_health_type {
    AG_HEALTH_COMMAND = 1,
    AG_HEALTH_HTTP = 2,
    AG_HEALTH_TCP = 3,
};

/* "COMMAND", "HTTP", "TCP" ("UNKNOWN" otherwise). */
const char *ag_health_type_name(enum ag_health_type type);

/* Mesos defaults (mesos.proto HealthCheck / CheckInfo). */
#define AG_HEALTH_DEFAULT_DELAY        15.0
#define AG_HEALTH_DEFAULT_INTERVAL     10.0
#define AG_HEALTH_DEFAULT_TIMEOUT      20.0
#define AG_HEALTH_DEFAULT_FAILURES     3
#define AG_HEALTH_DEFAULT_GRACE_PERIOD 10.0

/* A HealthCheck or a CheckInfo. Owns its strings and JSON: release with
 * ag_health_policy_release(). */
struct ag_health_policy {
    bool is_check; /* CheckInfo: results are reported, never acted on */
    enum ag_health_type type;
    double delay;             /* seconds before the first probe */
    double interval;          /* seconds between the end of a probe and the next */
    double timeout;           /* a probe running longer fails; 0 = no limit */
    double grace_period;      /* failures this soon after start are ignored until a success */
    int consecutive_failures; /* health checks: kill after this many failures in a row */
    int port;                 /* HTTP and TCP */
    bool ipv6;                /* protocol IPv6: probe ::1 instead of 127.0.0.1 */
    char *path;               /* HTTP: request path, always starting with '/' */
    bool https;               /* HTTP: scheme "https" (health checks only; probed with curl) */
    json_t *command;          /* COMMAND: the CommandInfo to run */
};

/* Reads a HealthCheck (is_check false) or a CheckInfo (is_check true).
 * A missing type is inferred when exactly one of command/http/tcp is
 * given. -EINVAL with a message naming the field ("health_check.http.port
 * must be between 1 and 65535") for anything malformed. On success *ret
 * is filled; on failure it is left released. */
int ag_health_policy_parse(const json_t *json, bool is_check, struct ag_health_policy *ret,
                           char *err, size_t errlen);
/* Frees what the policy owns and zeroes it. Accepts a zeroed policy. */
void ag_health_policy_release(struct ag_health_policy *policy);
/* A deep copy into *ret. 0 or -ENOMEM. */
int ag_health_policy_copy(const struct ag_health_policy *policy, struct ag_health_policy *ret);

/* --- the pure state machine (health checks) --- */

struct ag_health_state {
    double started;  /* when checking started; the grace period counts from here */
    bool succeeded;  /* a probe has succeeded since start */
    int consecutive; /* failures in a row that counted */
};

/* What one probe result means. */
struct ag_health_verdict {
    bool report;     /* send a TASK_RUNNING update with `healthy` */
    bool healthy;    /* the value to report */
    bool kill;       /* over the failure limit: kill the task (report is also set) */
    bool ignored;    /* a failure inside the grace period: nothing to do */
    int consecutive; /* failures in a row after this result */
};

void ag_health_state_init(struct ag_health_state *state, double now);
/* Applies one probe result at time `now` (same clock as `started`):
 *   - a success is reported when it is the first one, or follows counted
 *     failures; it resets the failure count;
 *   - a failure before the first success and within grace_period of the
 *     start is ignored;
 *   - any other failure counts and is reported unhealthy; at
 *     consecutive_failures in a row the verdict also says kill. */
struct ag_health_verdict ag_health_judge(struct ag_health_state *state,
                                         const struct ag_health_policy *policy, bool ok,
                                         double now);

/* --- the checker --- */

struct ag_health_checker_ops {
    /* Starts a COMMAND probe running `command` (a CommandInfo, borrowed for
     * the call). Return 0 and later call ag_health_checker_command_done()
     * with its wait status, or -errno when it cannot start (the probe then
     * fails with that error). */
    int (*command_start)(struct ag_health_checker *hc, const json_t *command, void *arg);
    /* Abandons the COMMAND probe started last (it timed out, or the checker
     * stopped): kill it. A later command_done() for it is ignored. */
    void (*command_cancel)(struct ag_health_checker *hc, void *arg);
    /* Health checks: a verdict with report set. `message` says what the
     * probe saw ("HTTP GET 127.0.0.1:8080/health returned 503"). */
    void (*health)(struct ag_health_checker *hc, const struct ag_health_verdict *verdict,
                   const char *message, void *arg);
    /* Checks: the result changed; check_status is a CheckStatusInfo
     * (borrowed), e.g. {"type":"HTTP","http":{"status_code":200}}; the
     * type's member is empty when the probe gave no result (timeout). */
    void (*check)(struct ag_health_checker *hc, const json_t *check_status, void *arg);
};

/* A checker for `policy` (copied). Nothing runs before ag_health_checker_start().
 * NULL on OOM. */
struct ag_health_checker *ag_health_checker_new(struct ag_loop *loop,
                                                const struct ag_health_policy *policy,
                                                const struct ag_health_checker_ops *ops, void *arg);
/* Starts checking now: the grace period counts from here, the first probe
 * runs after the policy's delay. */
void ag_health_checker_start(struct ag_health_checker *hc);
/* Stops for good: cancels a probe in flight; no callback follows. Safe
 * from inside the checker's own callbacks. */
void ag_health_checker_stop(struct ag_health_checker *hc);
/* Stops and frees; accepts NULL. Not from inside the checker's callbacks. */
void ag_health_checker_free(struct ag_health_checker *hc);
/* The COMMAND probe ended with this wait status (exit 0 = success). */
void ag_health_checker_command_done(struct ag_health_checker *hc, int wait_status);
/* Whether a COMMAND probe is running (started and neither done nor cancelled). */
bool ag_health_checker_command_running(const struct ag_health_checker *hc);
const struct ag_health_policy *ag_health_checker_policy(const struct ag_health_checker *hc);
/* The last CheckStatusInfo reported (checks), or NULL. Borrowed. */
const json_t *ag_health_checker_check_status(const struct ag_health_checker *hc);

#endif
