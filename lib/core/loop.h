/*
 * loop: the event loop every daemon and client of Agora runs on.
 *
 * A thin layer over libevent so that nothing above lib/core includes
 * libevent headers (except http.c, which needs the raw base). One loop per
 * thread; everything that touches daemon state runs on the loop thread.
 */
#ifndef AG_CORE_LOOP_H
#define AG_CORE_LOOP_H

#include <stdbool.h>

struct event_base;
struct ag_loop;
struct ag_timer;
struct ag_signal;

/* Creates a loop; NULL on allocation failure. The first loop also sets
 * SIGPIPE to ignored (if it was at its default) so that writing to a peer
 * that went away fails with EPIPE instead of killing the process. */
struct ag_loop *ag_loop_new(void);
/* Frees the loop. Timers, signals and HTTP servers must be freed before.
 * Deferred callbacks still pending are dropped without running; HTTP
 * client requests and streams still in flight are closed without
 * callbacks. Accepts NULL. */
void ag_loop_free(struct ag_loop *loop);
/* Runs until ag_loop_stop() or until nothing is left to wait for. 0 or -errno. */
int ag_loop_run(struct ag_loop *loop);
/* Makes ag_loop_run() return after the current callback. Safe from callbacks. */
void ag_loop_stop(struct ag_loop *loop);
/* The libevent base, for lib/core modules only (http.c). */
struct event_base *ag_loop_base(struct ag_loop *loop);

/* Wall clock in seconds since the epoch (for timestamps on the wire). */
double ag_now(void);
/* Monotonic clock in seconds (for timeouts and durations). */
double ag_monotonic(void);

typedef void (*ag_timer_cb)(void *arg);

/* A timer owned by the caller. It fires once per ag_timer_start(), or
 * every interval after ag_timer_start_periodic(), on the loop thread. */
struct ag_timer *ag_timer_new(struct ag_loop *loop, ag_timer_cb cb, void *arg);
/* (Re)arms the timer to fire once after `seconds` (>= 0). */
void ag_timer_start(struct ag_timer *timer, double seconds);
/* (Re)arms the timer to fire every `seconds` (> 0) until stopped. */
void ag_timer_start_periodic(struct ag_timer *timer, double seconds);
void ag_timer_stop(struct ag_timer *timer);
bool ag_timer_pending(const struct ag_timer *timer);
/* Makes the timer urgent: when it is due in the same loop pass as I/O
 * callbacks it runs first, and that pass runs no ordinary callback after
 * it (they run on the next pass, right away). For work whose latency
 * matters more than its batching (the master's allocation after resources
 * were freed). Call while the timer is not pending. 0 or -EINVAL. */
int ag_timer_set_urgent(struct ag_timer *timer);
/* Stops and frees the timer; accepts NULL. Safe from the timer's own callback. */
void ag_timer_free(struct ag_timer *timer);

/* Runs cb(arg) once on the next loop iteration (deferred work, e.g. to free
 * an object outside of a callback that still uses it). 0 or -ENOMEM. */
int ag_loop_defer(struct ag_loop *loop, ag_timer_cb cb, void *arg);

/* --- for lib/core modules only ---
 * An object that must not outlive its loop (an HTTP client connection
 * waiting for a deferred free, say) embeds a hook and adds it; if the loop
 * is freed first, ag_loop_free() removes the hook and calls release(hook),
 * which must free the object without calling user callbacks. */
struct ag__loop_hook {
    struct ag__loop_hook *prev, *next; /* private */
    void (*release)(struct ag__loop_hook *hook);
};
void ag__loop_hook_add(struct ag_loop *loop, struct ag__loop_hook *hook);
/* Removes a hook added before; a hook never added (zeroed) is ignored. */
void ag__loop_hook_remove(struct ag__loop_hook *hook);

typedef void (*ag_signal_cb)(int signo, void *arg);

/* Delivers signal `signo` to cb on the loop thread (not in signal context). */
struct ag_signal *ag_signal_new(struct ag_loop *loop, int signo, ag_signal_cb cb, void *arg);
/* Stops delivery and frees; accepts NULL. Safe from the signal's own callback. */
void ag_signal_free(struct ag_signal *sig);

#endif
