/*
 * loop: the event loop, a thin layer over a libevent event_base.
 *
 * Timers and signals wrap one struct event each. Freeing either from its
 * own callback is allowed: the callback wrapper notices (in_cb) and does
 * the free once the user callback has returned, so no code path touches a
 * freed object. Deferred calls are zero-timeout one-shot events kept on a
 * list so that ag_loop_free() can release the ones that never ran.
 */
#include "core/loop.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#define AG_LOOP_MAGIC 0x4c4f4f50u /* "LOOP" */

struct ag_defer {
    struct ag_defer *prev, *next;
    struct ag_loop *loop;
    struct event *ev;
    ag_timer_cb cb;
    void *arg;
};

struct ag_loop {
    unsigned magic;
    struct event_base *base;
    struct ag_defer *defers; /* pending deferred calls, oldest first */
    struct ag_defer *defers_tail;
    struct ag__loop_hook hooks; /* list head of lib/core hooks */
};

struct ag_timer {
    struct ag_loop *loop;
    struct event *ev;
    ag_timer_cb cb;
    void *arg;
    struct timeval interval; /* valid when periodic */
    bool periodic;
    bool in_cb;        /* the user callback is running */
    bool free_pending; /* freed from inside its own callback */
};

struct ag_signal {
    struct event *ev;
    ag_signal_cb cb;
    void *arg;
    bool in_cb;
    bool free_pending;
};

static void ignore_sigpipe(void)
{
    struct sigaction old;

    if (sigaction(SIGPIPE, NULL, &old) == 0 && old.sa_handler == SIG_DFL &&
        !(old.sa_flags & SA_SIGINFO))
        signal(SIGPIPE, SIG_IGN);
}

/* With epoll, libevent then applies the changes of one loop iteration
 * together before waiting: a write event armed and disarmed in the same
 * iteration (every answered request, every event sent on a stream) costs
 * no epoll_ctl, and read/write changes on one descriptor share one. */
#define AG_LOOP_PRIORITIES 2

static struct event_base *new_base(void)
{
    struct event_config *cfg = event_config_new();
    struct event_base *base;

    if (!cfg)
        return NULL;
    event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    /* Two priorities: events get the lower one (1) unless made urgent
     * (ag_timer_set_urgent). */
    if (base && event_base_priority_init(base, AG_LOOP_PRIORITIES) < 0) {
        event_base_free(base);
        return NULL;
    }
    return base;
}

struct ag_loop *ag_loop_new(void)
{
    struct ag_loop *loop = calloc(1, sizeof(*loop));

    if (!loop)
        return NULL;
    loop->base = new_base();
    if (!loop->base) {
        free(loop);
        return NULL;
    }
    loop->magic = AG_LOOP_MAGIC;
    loop->hooks.prev = loop->hooks.next = &loop->hooks;
    ignore_sigpipe();
    return loop;
}

static void defer_unlink(struct ag_defer *d)
{
    struct ag_loop *loop = d->loop;

    if (d->prev)
        d->prev->next = d->next;
    else
        loop->defers = d->next;
    if (d->next)
        d->next->prev = d->prev;
    else
        loop->defers_tail = d->prev;
    d->prev = d->next = NULL;
}

void ag_loop_free(struct ag_loop *loop)
{
    if (!loop)
        return;
    /* Hooks first: their release may cancel libevent objects that still
     * sit on the base. A release may add or remove other hooks, so always
     * restart from the head. */
    while (loop->hooks.next != &loop->hooks) {
        struct ag__loop_hook *hook = loop->hooks.next;

        ag__loop_hook_remove(hook);
        hook->release(hook);
    }
    while (loop->defers) {
        struct ag_defer *d = loop->defers;

        defer_unlink(d);
        event_free(d->ev);
        free(d);
    }
    event_base_free(loop->base);
    loop->magic = 0;
    free(loop);
}

int ag_loop_run(struct ag_loop *loop)
{
    int r = event_base_dispatch(loop->base);

    return r < 0 ? -EIO : 0;
}

void ag_loop_stop(struct ag_loop *loop)
{
    event_base_loopbreak(loop->base);
}

struct event_base *ag_loop_base(struct ag_loop *loop)
{
    return loop->base;
}

double ag_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double ag_monotonic(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Negative, NaN and absurd values are clamped: a timer is never armed with
 * a timeval libevent would reject. */
static struct timeval seconds_to_tv(double seconds)
{
    struct timeval tv;

    if (!(seconds > 0))
        seconds = 0;
    if (seconds > 1e9)
        seconds = 1e9;
    tv.tv_sec = (time_t)seconds;
    tv.tv_usec = (suseconds_t)((seconds - (double)tv.tv_sec) * 1e6);
    if (tv.tv_usec >= 1000000)
        tv.tv_usec = 999999;
    return tv;
}

static void timer_fire(evutil_socket_t fd, short what, void *arg)
{
    struct ag_timer *timer = arg;

    (void)fd;
    (void)what;
    /* Re-arm before the callback so that the callback may stop or re-arm
     * the timer itself. */
    if (timer->periodic)
        event_add(timer->ev, &timer->interval);
    timer->in_cb = true;
    timer->cb(timer->arg);
    timer->in_cb = false;
    if (timer->free_pending) {
        event_free(timer->ev);
        free(timer);
    }
}

struct ag_timer *ag_timer_new(struct ag_loop *loop, ag_timer_cb cb, void *arg)
{
    struct ag_timer *timer = calloc(1, sizeof(*timer));

    if (!timer)
        return NULL;
    timer->ev = event_new(loop->base, -1, 0, timer_fire, timer);
    if (!timer->ev) {
        free(timer);
        return NULL;
    }
    timer->loop = loop;
    timer->cb = cb;
    timer->arg = arg;
    return timer;
}

int ag_timer_set_urgent(struct ag_timer *timer)
{
    return event_priority_set(timer->ev, 0) < 0 ? -EINVAL : 0;
}

void ag_timer_start(struct ag_timer *timer, double seconds)
{
    struct timeval tv = seconds_to_tv(seconds);

    if (timer->free_pending)
        return;
    timer->periodic = false;
    event_add(timer->ev, &tv);
}

void ag_timer_start_periodic(struct ag_timer *timer, double seconds)
{
    struct timeval tv = seconds_to_tv(seconds);

    if (timer->free_pending)
        return;
    /* An interval of zero would spin the loop. */
    if (tv.tv_sec == 0 && tv.tv_usec == 0)
        tv.tv_usec = 1;
    timer->periodic = true;
    timer->interval = tv;
    event_add(timer->ev, &tv);
}

void ag_timer_stop(struct ag_timer *timer)
{
    timer->periodic = false;
    event_del(timer->ev);
}

bool ag_timer_pending(const struct ag_timer *timer)
{
    if (timer->free_pending)
        return false;
    return event_pending(timer->ev, EV_TIMEOUT, NULL) != 0;
}

void ag_timer_free(struct ag_timer *timer)
{
    if (!timer || timer->free_pending)
        return;
    event_del(timer->ev);
    timer->periodic = false;
    if (timer->in_cb) {
        timer->free_pending = true;
        return;
    }
    event_free(timer->ev);
    free(timer);
}

static void defer_fire(evutil_socket_t fd, short what, void *arg)
{
    struct ag_defer *d = arg;
    ag_timer_cb cb = d->cb;
    void *cb_arg = d->arg;

    (void)fd;
    (void)what;
    /* Unlink and free first: the callback may free the loop's other
     * objects or schedule more deferred calls. */
    defer_unlink(d);
    event_free(d->ev);
    free(d);
    cb(cb_arg);
}

int ag_loop_defer(struct ag_loop *loop, ag_timer_cb cb, void *arg)
{
    struct ag_defer *d = calloc(1, sizeof(*d));

    if (!d)
        return -ENOMEM;
    d->ev = event_new(loop->base, -1, 0, defer_fire, d);
    if (!d->ev) {
        free(d);
        return -ENOMEM;
    }
    d->loop = loop;
    d->cb = cb;
    d->arg = arg;
    d->prev = loop->defers_tail;
    if (loop->defers_tail)
        loop->defers_tail->next = d;
    else
        loop->defers = d;
    loop->defers_tail = d;
    /* Activating (rather than adding with a zero timeout) queues the
     * callback behind those already active, so deferred calls run in the
     * order they were made, on the next pass of the loop. */
    event_active(d->ev, EV_TIMEOUT, 0);
    return 0;
}

void ag__loop_hook_add(struct ag_loop *loop, struct ag__loop_hook *hook)
{
    hook->prev = loop->hooks.prev;
    hook->next = &loop->hooks;
    loop->hooks.prev->next = hook;
    loop->hooks.prev = hook;
}

void ag__loop_hook_remove(struct ag__loop_hook *hook)
{
    if (!hook->next)
        return;
    hook->prev->next = hook->next;
    hook->next->prev = hook->prev;
    hook->prev = hook->next = NULL;
}

static void signal_fire(evutil_socket_t fd, short what, void *arg)
{
    struct ag_signal *sig = arg;

    (void)what;
    sig->in_cb = true;
    sig->cb((int)fd, sig->arg);
    sig->in_cb = false;
    if (sig->free_pending) {
        event_free(sig->ev);
        free(sig);
    }
}

struct ag_signal *ag_signal_new(struct ag_loop *loop, int signo, ag_signal_cb cb, void *arg)
{
    struct ag_signal *sig = calloc(1, sizeof(*sig));

    if (!sig)
        return NULL;
    sig->ev = evsignal_new(loop->base, signo, signal_fire, sig);
    if (!sig->ev || event_add(sig->ev, NULL) < 0) {
        if (sig->ev)
            event_free(sig->ev);
        free(sig);
        return NULL;
    }
    sig->cb = cb;
    sig->arg = arg;
    return sig;
}

void ag_signal_free(struct ag_signal *sig)
{
    if (!sig || sig->free_pending)
        return;
    event_del(sig->ev);
    if (sig->in_cb) {
        sig->free_pending = true;
        return;
    }
    event_free(sig->ev);
    free(sig);
}
