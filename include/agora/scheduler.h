/*
 * agora/scheduler.h: the C scheduler SDK. A framework's scheduler talks to
 * the Agora (or Apache Mesos) master through it over the v1 HTTP API.
 *
 * What it does for you
 *   - SUBSCRIBEs with a streaming POST to <master>/api/v1/scheduler, decodes
 *     the RecordIO event stream and calls your callbacks, one per event type.
 *   - Keeps the Mesos-Stream-Id and the framework id, and sends every other
 *     call in its own short POST carrying that stream id.
 *   - Follows 307 redirects to the leading master (Location is
 *     protocol-relative, "//host:port/path"), retries 503 answers.
 *   - Watches heartbeats: when the stream breaks, or nothing arrives for 5
 *     heartbeat intervals, it reports `disconnected` and re-subscribes with
 *     the framework id it was given, backing off 1 s, 2 s, 4 s ... up to 30 s
 *     (reset after each successful SUBSCRIBED).
 *   - Acknowledges status updates that carry a uuid after your `update`
 *     callback returns (turn this off with ag_scheduler_set_auto_ack()).
 *
 * Threading: everything happens on the ag_loop you pass in; callbacks run on
 * that loop's thread. The SDK never blocks. Call the ag_scheduler_* functions
 * from the loop thread only.
 *
 * FrameworkInfo is given as a jansson object in the Mesos v1 JSON shape
 * ({"user": ..., "name": ..., "roles": [...], "failover_timeout": ...}). The
 * SDK copies it; "user" defaults to the current user and "name" to
 * "agora-framework". Once subscribed the SDK sets "id" itself.
 *
 * Errors: functions return 0 or a negative errno. Calls are asynchronous: a
 * 0 return means "sent"; a refusal by the master (4xx, or giving up after
 * retries) is reported to the `call_failed` callback. -ENOTCONN means the
 * scheduler is not subscribed (no framework id / stream id yet).
 *
 * Stopping: ag_scheduler_teardown() removes the framework (its tasks are
 * killed); ag_scheduler_stop() only disconnects (the master keeps the
 * framework for its failover_timeout). Before stopping your loop, call
 * ag_scheduler_flush() so acknowledgements in flight reach the master.
 *
 * ERROR events are final: the master closes the stream after one, and the
 * SDK does not re-subscribe (the framework was removed, failed over to
 * another instance, or is invalid). The `error` callback is the last one
 * the subscription gets. A 4xx answer to SUBSCRIBE is reported the same way.
 *
 * Minimal use (see docs/sdk.md for a complete worked example):
 *
 *     static void on_offers(struct ag_scheduler *s, const json_t *offers, void *arg)
 *     {
 *         static bool launched;
 *         size_t i;
 *         json_t *offer;
 *         json_array_foreach(offers, i, offer) {
 *             struct ag_sched_task t = {.task_id = "t1", .command = "echo hi",
 *                                       .cpus = 0.1, .mem = 32};
 *             if (!launched && ag_scheduler_launch(s, offer, &t, 1, -1) == 0)
 *                 launched = true;
 *             else
 *                 ag_scheduler_decline_offer(s, offer, 5);
 *         }
 *     }
 *     ...
 *     struct ag_scheduler_callbacks cb = {.offers = on_offers, .update = on_update};
 *     json_t *fw = json_pack("{s:s}", "name", "hello");
 *     struct ag_scheduler *s = ag_scheduler_new(loop, "127.0.0.1:5050", fw, &cb, NULL);
 *     json_decref(fw);
 *     ag_scheduler_start(s);
 *     ag_loop_run(loop);
 *     ag_scheduler_free(s);
 */
#ifndef AGORA_SCHEDULER_H
#define AGORA_SCHEDULER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct ag_loop;
struct ag_scheduler;

/*
 * Callbacks; any may be NULL. JSON arguments are borrowed: valid only during
 * the call (json_incref what you keep). Every callback receives the `arg`
 * given to ag_scheduler_new(). A callback may call any ag_scheduler_*
 * function, including ag_scheduler_free() (the object is then freed once
 * the callback returns).
 */
struct ag_scheduler_callbacks {
    /* SUBSCRIBED: `framework_id` is the id to use from now on; `subscribed`
     * is the whole payload ({framework_id, heartbeat_interval_seconds,
     * master_info}). Called again after every re-subscription: reconcile
     * there. */
    void (*subscribed)(struct ag_scheduler *s, const char *framework_id, const json_t *subscribed,
                       void *arg);
    /* OFFERS: a JSON array of Offer objects. Answer each one with
     * ag_scheduler_accept / launch / decline, or it stays allocated to you. */
    void (*offers)(struct ag_scheduler *s, const json_t *offers, void *arg);
    /* RESCIND: the offer is gone; accepting it would fail. */
    void (*rescind)(struct ag_scheduler *s, const char *offer_id, void *arg);
    /* UPDATE: a TaskStatus object. With auto-ack on (the default) the SDK
     * acknowledges it after this returns if it carries a uuid. */
    void (*update)(struct ag_scheduler *s, const json_t *status, void *arg);
    /* MESSAGE from an executor; data is the decoded bytes (NUL-terminated
     * for convenience, len excludes the NUL). */
    void (*message)(struct ag_scheduler *s, const char *agent_id, const char *executor_id,
                    const uint8_t *data, size_t len, void *arg);
    /* FAILURE: an agent was removed (executor_id NULL, status -1) or an
     * executor exited (status = its wait status). */
    void (*failure)(struct ag_scheduler *s, const char *agent_id, const char *executor_id,
                    int status, void *arg);
    /* ERROR event, or a 4xx refusal of SUBSCRIBE: final, see above. */
    void (*error)(struct ag_scheduler *s, const char *message, void *arg);
    /* HEARTBEAT event. */
    void (*heartbeat)(struct ag_scheduler *s, void *arg);
    /* The subscription stream ended (or could not be opened) and the SDK
     * will re-subscribe after `retry_in` seconds. `reason` says why. */
    void (*disconnected)(struct ag_scheduler *s, const char *reason, double retry_in, void *arg);
    /* A call (ACCEPT, KILL, ...) was refused or could not be delivered.
     * `type` is the call type ("ACCEPT"), `code` the HTTP status (0 when no
     * answer came), `message` the master's text or the transport error. */
    void (*call_failed)(struct ag_scheduler *s, const char *type, int code, const char *message,
                        void *arg);
    /* Other events (INVERSE_OFFERS, UPDATE_OPERATION_STATUS, ...): the whole
     * event object. */
    void (*other)(struct ag_scheduler *s, const json_t *event, void *arg);
};

/*
 * Creates a scheduler for the master at `master` ("http://127.0.0.1:5050",
 * "127.0.0.1:5050" or "//127.0.0.1:5050"). `framework_info` is copied (it
 * may carry "id" to re-subscribe as an existing framework). Nothing is sent
 * until ag_scheduler_start(). NULL on a bad master address or OOM.
 */
struct ag_scheduler *ag_scheduler_new(struct ag_loop *loop, const char *master,
                                      const json_t *framework_info,
                                      const struct ag_scheduler_callbacks *callbacks, void *arg);
/* Starts subscribing (and keeps the subscription alive). 0 or -errno. */
int ag_scheduler_start(struct ag_scheduler *s);
/* Closes the subscription without tearing the framework down (the master
 * keeps it for failover_timeout) and stops re-subscribing. Idempotent. */
void ag_scheduler_stop(struct ag_scheduler *s);
/* Stops and frees. Calls still in flight complete silently. Accepts NULL.
 * Safe from inside a callback. */
void ag_scheduler_free(struct ag_scheduler *s);

/* Whether SUBSCRIBED has arrived on the current stream. */
bool ag_scheduler_subscribed(const struct ag_scheduler *s);
/* The framework id (NULL until first subscribed, unless given in the
 * FrameworkInfo). */
const char *ag_scheduler_framework_id(const struct ag_scheduler *s);
/* The current Mesos-Stream-Id, or NULL. */
const char *ag_scheduler_stream_id(const struct ag_scheduler *s);
/* The master base URL in use ("http://host:port"), after redirects. */
const char *ag_scheduler_master(const struct ag_scheduler *s);
/* Calls sent and not yet answered (including retries waiting). A program
 * about to exit can run its loop until this is 0 so that acknowledgements
 * and the TEARDOWN reach the master. */
size_t ag_scheduler_calls_in_flight(const struct ag_scheduler *s);
/* Turns automatic acknowledgement of status updates on (default) or off.
 * With it off, call ag_scheduler_acknowledge() yourself. */
void ag_scheduler_set_auto_ack(struct ag_scheduler *s, bool on);

/* --- calls (all asynchronous; see the header comment for errors) --- */

/*
 * A simple command task for ag_scheduler_launch(). Either `command` (run
 * with /bin/sh -c) or `argv` (NULL-terminated, argv[0] is the program, run
 * without a shell). `env` is NULL or a NULL-terminated array of "NAME=VALUE".
 * cpus/mem/disk: scalars to take from the offer (0 = none of it).
 */
struct ag_sched_task {
    const char *task_id;     /* required */
    const char *name;        /* defaults to task_id */
    const char *command;     /* shell form */
    const char *const *argv; /* or argv form */
    const char *const *env;
    const char *user; /* CommandInfo.user; NULL = the framework's user */
    double cpus, mem, disk;
};

/* Sends ACCEPT for `offer_ids` (n of them) with `operations` (a JSON array
 * of Offer.Operation; the reference is stolen, NULL = none, i.e. decline)
 * and `refuse_seconds` as filters (< 0: no filters, the master's default). */
int ag_scheduler_accept(struct ag_scheduler *s, const char *const *offer_ids, size_t n,
                        json_t *operations, double refuse_seconds);
/* Launches tasks on one offer (an Offer object as given to `offers`): builds
 * their TaskInfos (agent_id, resources with the offer's roles and
 * allocation_info) and ACCEPTs the offer with one LAUNCH. Unused resources
 * are declined with `refuse_seconds` (< 0: master default). -ENOSPC if the
 * tasks do not fit in the offer, -EINVAL for a bad task (nothing sent). */
int ag_scheduler_launch(struct ag_scheduler *s, const json_t *offer,
                        const struct ag_sched_task *tasks, size_t n, double refuse_seconds);
/* DECLINE; refuse_seconds < 0 means no filters. */
int ag_scheduler_decline(struct ag_scheduler *s, const char *const *offer_ids, size_t n,
                         double refuse_seconds);
/* DECLINE of one Offer object. */
int ag_scheduler_decline_offer(struct ag_scheduler *s, const json_t *offer, double refuse_seconds);
/* KILL; agent_id may be NULL. */
int ag_scheduler_kill(struct ag_scheduler *s, const char *task_id, const char *agent_id);
/* ACKNOWLEDGE; uuid is the Base64 text from status.uuid. */
int ag_scheduler_acknowledge(struct ag_scheduler *s, const char *agent_id, const char *task_id,
                             const char *uuid);
/* ACKNOWLEDGE for a TaskStatus object; 0 without sending if it has no uuid. */
int ag_scheduler_acknowledge_status(struct ag_scheduler *s, const json_t *status);

/* One task for explicit reconciliation; agent_id may be NULL. */
struct ag_sched_task_ref {
    const char *task_id;
    const char *agent_id;
};
/* RECONCILE: explicit for the n tasks given, implicit (all tasks) if n == 0. */
int ag_scheduler_reconcile(struct ag_scheduler *s, const struct ag_sched_task_ref *tasks, size_t n);
/* REVIVE / SUPPRESS for the given roles (n == 0: all subscribed roles). */
int ag_scheduler_revive(struct ag_scheduler *s, const char *const *roles, size_t n);
int ag_scheduler_suppress(struct ag_scheduler *s, const char *const *roles, size_t n);
/* SHUTDOWN an executor. */
int ag_scheduler_shutdown(struct ag_scheduler *s, const char *executor_id, const char *agent_id);
/* MESSAGE to an executor (data is sent Base64-encoded). */
int ag_scheduler_message(struct ag_scheduler *s, const char *agent_id, const char *executor_id,
                         const void *data, size_t len);

/* Done callback for ag_scheduler_send / ag_scheduler_teardown: code is the
 * final HTTP status (0 if no answer), message NULL on success. */
typedef void (*ag_scheduler_done_cb)(struct ag_scheduler *s, int code, const char *message,
                                     void *arg);
/* TEARDOWN: removes the framework (tasks are killed). `done` (may be NULL)
 * runs when the master has answered; the subscription is then stopped. */
int ag_scheduler_teardown(struct ag_scheduler *s, ag_scheduler_done_cb done, void *arg);
/* Calls done(s, 0, NULL, arg) from the loop once no call is in flight (on
 * the next iteration if none is). Use it before stopping the loop so that
 * acknowledgements and the TEARDOWN reach the master. One flush at a time:
 * a new one replaces the previous. 0, or -EINVAL. */
int ag_scheduler_flush(struct ag_scheduler *s, ag_scheduler_done_cb done, void *arg);
/* Sends any Call object (the SDK fills framework_id). Steals `call`. `done`
 * may be NULL; without it failures go to `call_failed`. */
int ag_scheduler_send(struct ag_scheduler *s, json_t *call, ag_scheduler_done_cb done, void *arg);

/* --- pure helpers (no I/O), public for frameworks and tests --- */

/* Normalises a master address ("host:port", "http://host:port/...",
 * "//host:port/...") to a malloc'd base URL "http://host:port". The port
 * defaults to 5050. -EINVAL for anything else. */
int ag_scheduler_master_url(const char *address, char **ret_base);
/* Turns a redirect Location ("//host:port/api/v1/scheduler", or an absolute
 * http URL) into a malloc'd base URL "http://host:port". -EINVAL if bad. */
int ag_scheduler_parse_location(const char *location, char **ret_base);
/* Builds a LAUNCH Offer.Operation for `tasks` on `offer` (see
 * ag_scheduler_launch). New reference, or NULL with a message in err and
 * *ret_code = -EINVAL / -ENOSPC. */
json_t *ag_scheduler_build_launch(const json_t *offer, const struct ag_sched_task *tasks, size_t n,
                                  int *ret_code, char *err, size_t errlen);
/* Sum of scalar resource `name` in an Offer object (all roles). */
double ag_scheduler_offer_scalar(const json_t *offer, const char *name);
/* Monotonic time (ag_monotonic) at which the stream bytes holding the event
 * being dispatched were read; 0 outside a stream callback. Lets a client
 * tell the master's delay from its own handling of earlier events. */
double ag_scheduler_event_arrival(const struct ag_scheduler *s);

/*
 * Feeds stream bytes to the scheduler as if they came from the master's
 * SUBSCRIBE response: records are decoded and dispatched to the callbacks.
 * For tests and for frameworks that bring their own transport. -EBADMSG on
 * a malformed stream (which is then closed as a real one would be).
 */
int ag_scheduler_feed(struct ag_scheduler *s, const char *data, size_t len);
/* Replaces the HTTP transport for calls (not SUBSCRIBE) with `hook`, which
 * receives each Call object (borrowed) and returns the HTTP status to
 * pretend. For tests. NULL restores HTTP. */
typedef int (*ag_scheduler_call_hook)(struct ag_scheduler *s, const json_t *call, void *arg);
void ag_scheduler_set_call_hook(struct ag_scheduler *s, ag_scheduler_call_hook hook, void *arg);

#endif
