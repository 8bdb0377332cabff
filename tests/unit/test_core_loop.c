/*
 * Unit tests for lib/core/loop.c: timers, deferred calls, signals, clocks.
 * Nothing here asserts on elapsed time; timers only need to fire, in order.
 */
#include <signal.h>
#include <stdlib.h>

#include "core/loop.h"
#include "test.h"

TEST(clocks)
{
    double a = ag_monotonic(), b = ag_monotonic();

    ASSERT_TRUE(ag_now() > 1.6e9); /* after 2020 */
    ASSERT_TRUE(b >= a);
}

struct counter {
    struct ag_loop *loop;
    struct ag_timer *timer;
    int fired;
    int limit;
    int order[8];
    int n_order;
};

static void count_cb(void *arg)
{
    struct counter *c = arg;

    c->fired++;
}

TEST(one_shot_fires_once_and_loop_ends)
{
    struct ag_loop *loop = ag_loop_new();
    struct counter c = {0};
    struct ag_timer *t;

    ASSERT_NOT_NULL(loop);
    t = ag_timer_new(loop, count_cb, &c);
    ASSERT_NOT_NULL(t);
    ASSERT_FALSE(ag_timer_pending(t));
    ag_timer_start(t, 0.001);
    ASSERT_TRUE(ag_timer_pending(t));
    /* Returns once nothing is left to wait for. */
    ASSERT_EQ(ag_loop_run(loop), 0);
    ASSERT_EQ(c.fired, 1);
    ASSERT_FALSE(ag_timer_pending(t));
    ag_timer_free(t);
    ag_loop_free(loop);
}

TEST(stop_prevents_firing)
{
    struct ag_loop *loop = ag_loop_new();
    struct counter c = {0};
    struct ag_timer *t = ag_timer_new(loop, count_cb, &c);

    ag_timer_start(t, 0.001);
    ag_timer_stop(t);
    ASSERT_FALSE(ag_timer_pending(t));
    ASSERT_EQ(ag_loop_run(loop), 0);
    ASSERT_EQ(c.fired, 0);
    /* Negative and NaN delays are clamped to "now". */
    ag_timer_start(t, -5);
    ASSERT_EQ(ag_loop_run(loop), 0);
    ASSERT_EQ(c.fired, 1);
    ag_timer_free(t);
    ag_timer_free(NULL);
    ag_loop_free(loop);
}

static void periodic_cb(void *arg)
{
    struct counter *c = arg;

    if (++c->fired == c->limit)
        ag_timer_stop(c->timer);
}

TEST(periodic_until_stopped)
{
    struct ag_loop *loop = ag_loop_new();
    struct counter c = {.limit = 5};

    c.timer = ag_timer_new(loop, periodic_cb, &c);
    ag_timer_start_periodic(c.timer, 0.001);
    ASSERT_EQ(ag_loop_run(loop), 0);
    ASSERT_EQ(c.fired, 5);
    ASSERT_FALSE(ag_timer_pending(c.timer));
    ag_timer_free(c.timer);
    ag_loop_free(loop);
}

static void free_self_cb(void *arg)
{
    struct counter *c = arg;

    c->fired++;
    ag_timer_free(c->timer);
    /* Freeing twice from the callback must be harmless as well. */
    ag_timer_free(c->timer);
}

TEST(periodic_freed_from_own_callback)
{
    struct ag_loop *loop = ag_loop_new();
    struct counter c = {0};

    c.timer = ag_timer_new(loop, free_self_cb, &c);
    ag_timer_start_periodic(c.timer, 0.001);
    ASSERT_EQ(ag_loop_run(loop), 0);
    ASSERT_EQ(c.fired, 1);
    ag_loop_free(loop);
}

TEST(one_shot_freed_from_own_callback)
{
    struct ag_loop *loop = ag_loop_new();
    struct counter c = {0};

    c.timer = ag_timer_new(loop, free_self_cb, &c);
    ag_timer_start(c.timer, 0);
    ASSERT_EQ(ag_loop_run(loop), 0);
    ASSERT_EQ(c.fired, 1);
    ag_loop_free(loop);
}

static void rearm_once_cb(void *arg)
{
    struct counter *c = arg;

    /* A periodic timer turned into a one-shot from its own callback. */
    if (++c->fired == 2)
        ag_timer_start(c->timer, 0.001);
}

TEST(periodic_rearmed_as_one_shot)
{
    struct ag_loop *loop = ag_loop_new();
    struct counter c = {0};

    c.timer = ag_timer_new(loop, rearm_once_cb, &c);
    ag_timer_start_periodic(c.timer, 0.001);
    ASSERT_EQ(ag_loop_run(loop), 0);
    ASSERT_EQ(c.fired, 3);
    ag_timer_free(c.timer);
    ag_loop_free(loop);
}

struct deferred {
    struct counter *c;
    int id;
};

static void record_cb(void *arg)
{
    struct deferred *d = arg;

    d->c->order[d->c->n_order++] = d->id;
}

static void defer_more_cb(void *arg)
{
    struct deferred *d = arg;
    static struct deferred late;

    record_cb(arg);
    late.c = d->c;
    late.id = 9;
    ag_loop_defer(d->c->loop, record_cb, &late);
}

TEST(defer_runs_later_in_order)
{
    struct ag_loop *loop = ag_loop_new();
    struct counter c = {.loop = loop};
    struct deferred d[3] = {{&c, 1}, {&c, 2}, {&c, 3}};

    ASSERT_EQ(ag_loop_defer(loop, record_cb, &d[0]), 0);
    ASSERT_EQ(ag_loop_defer(loop, defer_more_cb, &d[1]), 0);
    ASSERT_EQ(ag_loop_defer(loop, record_cb, &d[2]), 0);
    ASSERT_EQ(c.n_order, 0); /* never from inside the call */
    ASSERT_EQ(ag_loop_run(loop), 0);
    ASSERT_EQ(c.n_order, 4);
    ASSERT_EQ(c.order[0], 1);
    ASSERT_EQ(c.order[1], 2);
    ASSERT_EQ(c.order[2], 3);
    ASSERT_EQ(c.order[3], 9);
    ag_loop_free(loop);
}

TEST(urgent_timer_runs_before_ordinary_callbacks)
{
    struct ag_loop *loop = ag_loop_new();
    struct counter c = {.loop = loop};
    struct deferred d[3] = {{&c, 1}, {&c, 2}, {&c, 3}};
    struct ag_timer *urgent = ag_timer_new(loop, record_cb, &d[2]);

    ASSERT_EQ(ag_timer_set_urgent(urgent), 0);
    /* Both deferred calls are queued before the timer is even due; an
     * ordinary timer would run after them. */
    ASSERT_EQ(ag_loop_defer(loop, record_cb, &d[0]), 0);
    ASSERT_EQ(ag_loop_defer(loop, record_cb, &d[1]), 0);
    ag_timer_start(urgent, 0);
    ASSERT_EQ(ag_loop_run(loop), 0);
    ASSERT_EQ(c.n_order, 3);
    ASSERT_EQ(c.order[0], 3);
    ASSERT_EQ(c.order[1], 1);
    ASSERT_EQ(c.order[2], 2);
    ag_timer_free(urgent);
    ag_loop_free(loop);
}

TEST(free_with_pending_defers_drops_them)
{
    struct ag_loop *loop = ag_loop_new();
    struct counter c = {.loop = loop};
    struct deferred d = {&c, 1};

    ASSERT_EQ(ag_loop_defer(loop, record_cb, &d), 0);
    ASSERT_EQ(ag_loop_defer(loop, record_cb, &d), 0);
    ag_loop_free(loop); /* ASan reports a leak if they are not released */
    ASSERT_EQ(c.n_order, 0);
}

static void stop_cb(void *arg)
{
    ag_loop_stop(arg);
}

TEST(stop_returns_with_timers_pending)
{
    struct ag_loop *loop = ag_loop_new();
    struct counter c = {0};
    struct ag_timer *tick = ag_timer_new(loop, count_cb, &c);
    struct ag_timer *stopper = ag_timer_new(loop, stop_cb, loop);

    ag_timer_start_periodic(tick, 0.001);
    ag_timer_start(stopper, 0.01);
    ASSERT_EQ(ag_loop_run(loop), 0);
    ASSERT_TRUE(ag_timer_pending(tick));
    ag_timer_free(tick);
    ag_timer_free(stopper);
    ag_loop_free(loop);
}

struct hooked {
    struct ag__loop_hook hook;
    int *released;
};

static void hook_release(struct ag__loop_hook *hook)
{
    struct hooked *h = (struct hooked *)hook;

    (*h->released)++;
    free(h);
}

TEST(hooks_released_at_loop_free)
{
    struct ag_loop *loop = ag_loop_new();
    int released = 0;
    struct hooked *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
    struct ag__loop_hook never_added = {0};

    a->released = b->released = &released;
    a->hook.release = b->hook.release = hook_release;
    ag__loop_hook_add(loop, &a->hook);
    ag__loop_hook_add(loop, &b->hook);
    ag__loop_hook_remove(&b->hook);
    ag__loop_hook_remove(&never_added);
    ag_loop_free(loop);
    ASSERT_EQ(released, 1);
    free(b);
}

struct sigstate {
    struct ag_signal *sig;
    int got;
    int signo;
};

static void on_signal(int signo, void *arg)
{
    struct sigstate *s = arg;

    s->got++;
    s->signo = signo;
    ag_signal_free(s->sig); /* from its own callback */
}

static void raise_cb(void *arg)
{
    (void)arg;
    raise(SIGUSR1);
}

TEST(signal_delivered_on_loop)
{
    struct ag_loop *loop = ag_loop_new();
    struct sigstate s = {0};
    struct ag_timer *t = ag_timer_new(loop, raise_cb, NULL);

    s.sig = ag_signal_new(loop, SIGUSR1, on_signal, &s);
    ASSERT_NOT_NULL(s.sig);
    ag_timer_start(t, 0);
    ASSERT_EQ(ag_loop_run(loop), 0);
    ASSERT_EQ(s.got, 1);
    ASSERT_EQ(s.signo, SIGUSR1);
    ag_timer_free(t);
    ag_loop_free(loop);
}

TEST(sigpipe_ignored)
{
    struct ag_loop *loop = ag_loop_new();
    struct sigaction sa;

    ASSERT_EQ(sigaction(SIGPIPE, NULL, &sa), 0);
    ASSERT_TRUE(sa.sa_handler == SIG_IGN);
    ag_loop_free(loop);
    ag_loop_free(NULL);
}

TEST_MAIN(TEST_CASE(clocks), TEST_CASE(one_shot_fires_once_and_loop_ends),
          TEST_CASE(stop_prevents_firing), TEST_CASE(periodic_until_stopped),
          TEST_CASE(periodic_freed_from_own_callback), TEST_CASE(one_shot_freed_from_own_callback),
          TEST_CASE(periodic_rearmed_as_one_shot), TEST_CASE(defer_runs_later_in_order),
          TEST_CASE(urgent_timer_runs_before_ordinary_callbacks),
          TEST_CASE(free_with_pending_defers_drops_them),
          TEST_CASE(stop_returns_with_timers_pending), TEST_CASE(hooks_released_at_loop_free),
          TEST_CASE(signal_delivered_on_loop), TEST_CASE(sigpipe_ignored))
