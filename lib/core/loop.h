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

/* Creates a loop; NULL on allocation failure. */
struct ag_loop *ag_loop_new(void);
/* Frees the loop. Timers and signals must be freed before. Accepts NULL. */
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
/* Stops and frees the timer; accepts NULL. Safe from the timer's own callback. */
void ag_timer_free(struct ag_timer *timer);

/* Runs cb(arg) once on the next loop iteration (deferred work, e.g. to free
 * an object outside of a callback that still uses it). 0 or -ENOMEM. */
int ag_loop_defer(struct ag_loop *loop, ag_timer_cb cb, void *arg);

typedef void (*ag_signal_cb)(int signo, void *arg);

/* Delivers signal `signo` to cb on the loop thread (not in signal context). */
struct ag_signal *ag_signal_new(struct ag_loop *loop, int signo, ag_signal_cb cb, void *arg);
void ag_signal_free(struct ag_signal *sig);

#endif
