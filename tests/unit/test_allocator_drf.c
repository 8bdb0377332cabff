/*
 * Unit tests of the "drf" allocator policy, driven through the public ops
 * table only: offers land in a sink, the test plays the master (launching
 * tasks from offers, recovering leftovers) and advances `now` by hand.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define ALLOC_TEST_POLICY "drf"
#include "alloc_sink.h"
#include "test.h"

TEST(registry)
{
    ASSERT_NOT_NULL(ag_allocator_find("drf"));
    ASSERT_NOT_NULL(ag_allocator_find("fifo"));
    ASSERT_NULL(ag_allocator_find("nope"));
    ASSERT_NULL(ag_allocator_find(NULL));
    ASSERT_STREQ(ag_allocator_find("drf")->name, "drf");
    const char *const *names = ag_allocator_names();
    size_t n = 0;
    for (; names[n]; n++)
        ASSERT_NOT_NULL(ag_allocator_find(names[n]));
    ASSERT_EQ(n, 2);
}

TEST(single_framework_gets_every_agent_once)
{
    struct sink s = {0};
    struct ag_allocator *a = make(&s);
    add_agent(a, "ag1", "cpus:2;mem:1024");
    add_agent(a, "ag2", "cpus:4;mem:2048;ports:[31000-32000]");
    add_agent(a, "ag3", "cpus:1;mem:512");
    ASSERT_EQ(add_fw(a, "fw1", "*"), 0);

    ops()->allocate(a, 0);
    ASSERT_EQ(s.n, 3);
    const char *agents[] = {"ag1", "ag2", "ag3"};
    for (size_t i = 0; i < 3; i++) {
        struct offer *o = find(&s, "fw1", agents[i]);
        ASSERT_NOT_NULL(o);
        ASSERT_STREQ(o->role, "*");
        /* Every entry carries the allocation role. */
        for (size_t k = 0; k < o->res.n; k++)
            ASSERT_STREQ(o->res.items[k].allocation_role, "*");
    }
    struct offer *o2 = find(&s, "fw1", "ag2");
    ASSERT_NEAR(scalar(o2, "cpus"), 4, 1e-9);
    ASSERT_NEAR(scalar(o2, "mem"), 2048, 1e-9);
    char *str = ag_resources_string(&o2->res);
    ASSERT_NOT_NULL(strstr(str, "31000-32000"));
    free(str);

    /* Everything is offered: nothing more until it comes back. */
    struct sink held = s;
    s = (struct sink){0};
    ops()->allocate(a, 1);
    ASSERT_EQ(s.n, 0);
    decline_all(a, &held, 0, 1);
    ops()->allocate(a, 2);
    ASSERT_EQ(s.n, 3);

    sink_release(&held);
    sink_release(&s);
    ops()->destroy(a);
}

/* Plays the master for the DRF paper example (Ghodsi et al. 2011): 9 CPUs,
 * 18 GB; A's tasks <1 CPU, 4 GB>, B's <3 CPUs, 1 GB>. Each framework
 * launches one task per offer when it fits and gives back the rest. */
TEST(drf_paper_example)
{
    struct sink s = {0};
    struct ag_allocator *a = make(&s);
    add_agent(a, "ag1", "cpus:9;mem:18432");
    ASSERT_EQ(add_fw(a, "A", "*"), 0);
    ASSERT_EQ(add_fw(a, "B", "*"), 0);
    struct ag_resources task_a = R("cpus:1;mem:4096"), task_b = R("cpus:3;mem:1024");
    int tasks_a = 0, tasks_b = 0;

    for (int round = 0; round < 30; round++) {
        ops()->allocate(a, round);
        for (size_t i = 0; i < s.n; i++) {
            struct offer *o = &s.v[i];
            bool is_a = strcmp(o->fw, "A") == 0;
            struct ag_resources task;
            ag_resources_init(&task);
            ASSERT_EQ(ag_resources_copy(&task, is_a ? &task_a : &task_b), 0);
            ASSERT_EQ(ag_resources_set_allocation_role(&task, o->role), 0);
            if (ag_resources_subtract(&o->res, &task) == 0) {
                /* Launched: the task keeps its share; the rest goes back. */
                if (is_a)
                    tasks_a++;
                else
                    tasks_b++;
            }
            ag_resources_release(&task);
        }
        decline_all(a, &s, 0, round);
    }
    ASSERT_EQ(tasks_a, 3);
    ASSERT_EQ(tasks_b, 2);

    ag_resources_release(&task_a);
    ag_resources_release(&task_b);
    sink_release(&s);
    ops()->destroy(a);
}

TEST(decline_filter_until_expiry)
{
    struct sink s = {0};
    struct ag_allocator *a = make(&s);
    add_agent(a, "ag1", "cpus:2;mem:1024");
    ASSERT_EQ(add_fw(a, "A", "*"), 0);
    ASSERT_EQ(add_fw(a, "B", "*"), 0);

    ops()->allocate(a, 0);
    ASSERT_EQ(s.n, 1);
    ASSERT_STREQ(s.v[0].fw, "A"); /* equal shares: smaller name first */
    decline_all(a, &s, 10, 0);

    /* While A's filter lives, B gets the agent every round. */
    for (double now = 1; now < 10; now += 3) {
        ops()->allocate(a, now);
        ASSERT_EQ(s.n, 1);
        ASSERT_STREQ(s.v[0].fw, "B");
        decline_all(a, &s, 0, now);
    }
    /* With B out of the way, A is still filtered: nobody gets it. */
    ops()->suppress(a, "B", NULL, 0);
    ops()->allocate(a, 9.5);
    ASSERT_EQ(s.n, 0);
    /* Expired: A is offered again. */
    ops()->allocate(a, 10);
    ASSERT_EQ(s.n, 1);
    ASSERT_STREQ(s.v[0].fw, "A");

    sink_release(&s);
    ops()->destroy(a);
}

TEST(default_filter_and_grown_offer)
{
    struct sink s = {0};
    struct ag_allocator *a = make(&s);
    add_agent(a, "ag1", "cpus:4;mem:1024");
    ASSERT_EQ(add_fw(a, "A", "*"), 0);

    ops()->allocate(a, 0);
    ASSERT_EQ(s.n, 1);
    /* Launch cpus:1 (kept), decline the rest with the default filter. */
    struct ag_resources task = R("cpus:1");
    ASSERT_EQ(ag_resources_set_allocation_role(&task, "*"), 0);
    ASSERT_EQ(ag_resources_subtract(&s.v[0].res, &task), 0);
    decline_all(a, &s, -1, 0);
    ops()->allocate(a, 4.9);
    ASSERT_EQ(s.n, 0);
    /* The task ends: what is free now exceeds what was refused, so the
     * filter no longer covers it (Mesos's subset rule). */
    ops()->recover(a, "A", "*", "ag1", &task, 0, 4.9);
    ops()->allocate(a, 4.9);
    ASSERT_EQ(s.n, 1);
    ASSERT_NEAR(scalar(&s.v[0], "cpus"), 4, 1e-9);
    decline_all(a, &s, -1, 5);
    ops()->allocate(a, 9.9);
    ASSERT_EQ(s.n, 0);
    ops()->allocate(a, 10);
    ASSERT_EQ(s.n, 1);

    ag_resources_release(&task);
    sink_release(&s);
    ops()->destroy(a);
}

TEST(revive_clears_filter)
{
    struct sink s = {0};
    struct ag_allocator *a = make(&s);
    add_agent(a, "ag1", "cpus:2;mem:1024");
    add_agent(a, "ag2", "cpus:2;mem:1024");
    ASSERT_EQ(add_fw(a, "A", "*"), 0);

    ops()->allocate(a, 0);
    ASSERT_EQ(s.n, 2);
    decline_all(a, &s, 1000, 0);
    ops()->allocate(a, 1);
    ASSERT_EQ(s.n, 0);
    /* Reviving another role leaves the filter. */
    const char *other[] = {"other"};
    ops()->revive(a, "A", other, 1, 1);
    ops()->allocate(a, 1);
    ASSERT_EQ(s.n, 0);
    const char *star[] = {"*"};
    ops()->revive(a, "A", star, 1, 2);
    ops()->allocate(a, 2);
    ASSERT_EQ(s.n, 2);

    sink_release(&s);
    ops()->destroy(a);
}

TEST(suppressed_gets_nothing_and_blocks_nobody)
{
    struct sink s = {0};
    struct ag_allocator *a = make(&s);
    add_agent(a, "ag1", "cpus:2;mem:1024");
    add_agent(a, "ag2", "cpus:2;mem:1024");
    /* A starts suppressed; it would come first by name. */
    const char *roles[] = {"*"};
    ASSERT_EQ(ops()->add_framework(a, "A", roles, 1, roles, 1, true), 0);
    ASSERT_EQ(add_fw(a, "B", "*"), 0);

    ops()->allocate(a, 0);
    ASSERT_EQ(count(&s, "A"), 0);
    ASSERT_EQ(count(&s, "B"), 2);
    decline_all(a, &s, 0, 0);

    ops()->revive(a, "A", NULL, 0, 1);
    ops()->allocate(a, 1);
    ASSERT_EQ(count(&s, "A"), 1);
    ASSERT_EQ(count(&s, "B"), 1);
    decline_all(a, &s, 0, 1);

    ops()->suppress(a, "A", NULL, 0);
    ops()->allocate(a, 2);
    ASSERT_EQ(count(&s, "A"), 0);
    ASSERT_EQ(count(&s, "B"), 2);

    sink_release(&s);
    ops()->destroy(a);
}

static bool any_reserved(const struct ag_resources *r)
{
    for (size_t k = 0; k < r->n; k++) {
        if (ag_resource_is_reserved(&r->items[k]))
            return true;
    }
    return false;
}

TEST(reservations_stay_with_their_role)
{
    struct sink s = {0};
    struct ag_allocator *a = make(&s);
    add_agent(a, "ag1", "cpus:4;mem:1024;cpus(eng):2;mem(eng):512");
    ASSERT_EQ(add_fw(a, "S", "*"), 0);

    /* Alone, "*" gets the unreserved part only, round after round. */
    for (int round = 0; round < 3; round++) {
        ops()->allocate(a, round);
        ASSERT_EQ(s.n, 1);
        ASSERT_FALSE(any_reserved(&s.v[0].res));
        ASSERT_NEAR(scalar(&s.v[0], "cpus"), 4, 1e-9);
        decline_all(a, &s, 0, round);
    }
    /* A descendant role may have eng's reservations. */
    ASSERT_EQ(add_fw(a, "W", "eng/web"), 0);
    ASSERT_EQ(add_fw(a, "E", "eng"), 0);
    for (int round = 3; round < 7; round++) {
        ops()->allocate(a, round);
        struct offer *o = find(&s, "S", "ag1");
        if (o)
            ASSERT_FALSE(any_reserved(&o->res));
        bool reserved_offered = false;
        for (size_t i = 0; i < s.n; i++) {
            if (strcmp(s.v[i].fw, "S") != 0 && any_reserved(&s.v[i].res))
                reserved_offered = true;
        }
        ASSERT_TRUE(reserved_offered);
        decline_all(a, &s, 0, round);
    }
    ops()->remove_framework(a, "E");
    ops()->allocate(a, 8);
    struct offer *w = find(&s, "W", "ag1");
    ASSERT_NOT_NULL(w);
    ASSERT_STREQ(w->role, "eng/web");
    ASSERT_TRUE(any_reserved(&w->res));

    sink_release(&s);
    ops()->destroy(a);
}

TEST(one_offer_per_role_per_agent)
{
    struct sink s = {0};
    struct ag_allocator *a = make(&s);
    add_agent(a, "ag1", "cpus:1;mem:256;cpus(x):1;mem(x):256;cpus(y):1;mem(y):256");
    const char *roles[] = {"x", "y"};
    ASSERT_EQ(ops()->add_framework(a, "M", roles, 2, NULL, 0, true), 0);

    ops()->allocate(a, 0);
    ASSERT_EQ(s.n, 2);
    ASSERT_TRUE(strcmp(s.v[0].role, s.v[1].role) != 0);
    for (size_t i = 0; i < s.n; i++) {
        /* Each offer is for one role and holds only what that role may use. */
        for (size_t k = 0; k < s.v[i].res.n; k++) {
            const struct ag_resource *res = &s.v[i].res.items[k];
            ASSERT_STREQ(res->allocation_role, s.v[i].role);
            if (ag_resource_is_reserved(res))
                ASSERT_STREQ(ag_resource_reserved_role(res), s.v[i].role);
        }
    }
    /* Together they cover the agent: 3 cpus. */
    ASSERT_NEAR(scalar(&s.v[0], "cpus") + scalar(&s.v[1], "cpus"), 3, 1e-9);

    sink_release(&s);
    ops()->destroy(a);
}

TEST(weights_two_to_one)
{
    struct sink s = {0};
    struct ag_allocator *a = make(&s);
    char id[32];
    for (int i = 0; i < 30; i++) {
        snprintf(id, sizeof(id), "ag%02d", i);
        add_agent(a, id, "cpus:1;mem:1024");
    }
    ASSERT_EQ(ops()->set_weight(a, "heavy", 2.0), 0);
    ASSERT_EQ(add_fw(a, "H", "heavy"), 0);
    ASSERT_EQ(add_fw(a, "L", "light"), 0);

    ops()->allocate(a, 0);
    ASSERT_EQ(s.n, 30);
    ASSERT_EQ(count(&s, "H"), 20);
    ASSERT_EQ(count(&s, "L"), 10);

    /* Weight back to 1: after everything comes back, it splits evenly. */
    decline_all(a, &s, 0, 0);
    ASSERT_EQ(ops()->set_weight(a, "heavy", 1.0), 0);
    ops()->allocate(a, 1);
    ASSERT_EQ(count(&s, "H"), 15);
    ASSERT_EQ(count(&s, "L"), 15);

    sink_release(&s);
    ops()->destroy(a);
}

TEST(inactive_agents_and_frameworks)
{
    struct sink s = {0};
    struct ag_allocator *a = make(&s);
    add_agent(a, "ag1", "cpus:1;mem:1024");
    add_agent(a, "ag2", "cpus:1;mem:1024");
    ASSERT_EQ(add_fw(a, "A", "*"), 0);

    ops()->set_agent_active(a, "ag2", false);
    ops()->allocate(a, 0);
    ASSERT_EQ(s.n, 1);
    ASSERT_STREQ(s.v[0].agent, "ag1");
    decline_all(a, &s, 0, 0);

    ops()->set_framework_active(a, "A", false);
    ops()->allocate(a, 1);
    ASSERT_EQ(s.n, 0);

    ops()->set_framework_active(a, "A", true);
    ops()->set_agent_active(a, "ag2", true);
    ops()->allocate(a, 2);
    ASSERT_EQ(s.n, 2);

    /* A framework added inactive gets nothing. */
    decline_all(a, &s, 0, 2);
    const char *roles[] = {"*"};
    ASSERT_EQ(ops()->add_framework(a, "0first", roles, 1, NULL, 0, false), 0);
    ops()->allocate(a, 3);
    ASSERT_EQ(count(&s, "0first"), 0);
    ASSERT_EQ(count(&s, "A"), 2);

    sink_release(&s);
    ops()->destroy(a);
}

TEST(remove_agent_and_framework_clean_up)
{
    struct sink s = {0};
    struct ag_allocator *a = make(&s);
    add_agent(a, "ag1", "cpus:2;mem:1024");
    add_agent(a, "ag2", "cpus:2;mem:1024");
    ASSERT_EQ(add_fw(a, "A", "*"), 0);

    ops()->allocate(a, 0);
    ASSERT_EQ(s.n, 2);
    /* A filters ag1 for a long time, then ag1 goes away. */
    decline(a, find(&s, "A", "ag1"), 1e9, 0);
    ops()->remove_agent(a, "ag1");
    /* Recovering what A held on the removed agent is harmless. */
    decline(a, find(&s, "A", "ag1"), 0, 0);
    ops()->remove_agent(a, "ag1");
    /* A new agent (reusing the freed slot, even the id) carries no filter. */
    add_agent(a, "ag1", "cpus:3;mem:1024");
    struct sink held = s;
    s = (struct sink){0};
    ops()->allocate(a, 1);
    ASSERT_EQ(s.n, 1);
    ASSERT_STREQ(s.v[0].agent, "ag1");
    ASSERT_NEAR(scalar(&s.v[0], "cpus"), 3, 1e-9);

    /* Removing A gives back everything it held. B then gets both agents,
     * whole, without any recover() from the master. */
    ops()->remove_framework(a, "A");
    ops()->remove_framework(a, "A");
    ASSERT_EQ(add_fw(a, "B", "*"), 0);
    sink_release(&s);
    ops()->allocate(a, 2);
    ASSERT_EQ(count(&s, "B"), 2);
    ASSERT_NEAR(scalar(find(&s, "B", "ag2"), "cpus"), 2, 1e-9);
    /* Stale recovers for the removed framework change nothing. */
    decline_all(a, &held, 0, 2);
    struct sink s2 = s;
    s = (struct sink){0};
    ops()->allocate(a, 3);
    ASSERT_EQ(s.n, 0);

    /* A re-added framework with the old id starts from nothing. */
    ASSERT_EQ(add_fw(a, "A", "*"), 0);
    decline_all(a, &s2, 0, 3);
    ops()->allocate(a, 4);
    ASSERT_EQ(count(&s, "A"), 1);
    ASSERT_EQ(count(&s, "B"), 1);

    sink_release(&s2);
    sink_release(&held);
    sink_release(&s);
    ops()->destroy(a);
}

TEST(recover_returns_resources)
{
    struct sink s = {0};
    struct ag_allocator *a = make(&s);
    add_agent(a, "ag1", "cpus:4;mem:4096;ports:[31000-31009]");
    ASSERT_EQ(add_fw(a, "A", "*"), 0);

    ops()->allocate(a, 0);
    ASSERT_EQ(s.n, 1);
    /* Launch cpus:1;mem:1024;ports:[31000-31000] and give back the rest. */
    struct ag_resources task = R("cpus:1;mem:1024;ports:[31000-31000]");
    ASSERT_EQ(ag_resources_set_allocation_role(&task, "*"), 0);
    ASSERT_EQ(ag_resources_subtract(&s.v[0].res, &task), 0);
    decline_all(a, &s, 0, 0);

    ops()->allocate(a, 1);
    ASSERT_EQ(s.n, 1);
    ASSERT_NEAR(scalar(&s.v[0], "cpus"), 3, 1e-9);
    ASSERT_NEAR(scalar(&s.v[0], "mem"), 3072, 1e-9);
    char *str = ag_resources_string(&s.v[0].res);
    ASSERT_NOT_NULL(strstr(str, "31001-31009"));
    free(str);
    decline_all(a, &s, 0, 1);

    /* The task ends. Recovering it twice (a confused master) only returns
     * it once; recovering something never allocated returns nothing. */
    ops()->recover(a, "A", "*", "ag1", &task, 0, 2);
    ops()->recover(a, "A", "*", "ag1", &task, 0, 2);
    struct ag_resources bogus = R("cpus:100;gpus:1");
    ops()->recover(a, "A", "*", "ag1", &bogus, 0, 2);
    ops()->recover(a, "A", "nope", "ag1", &bogus, 0, 2);
    ops()->recover(a, "nope", "*", "ag1", &bogus, 0, 2);
    ops()->recover(a, "A", "*", "nope", &bogus, 0, 2);
    ops()->allocate(a, 2);
    ASSERT_EQ(s.n, 1);
    ASSERT_NEAR(scalar(&s.v[0], "cpus"), 4, 1e-9);
    ASSERT_NEAR(scalar(&s.v[0], "mem"), 4096, 1e-9);
    ASSERT_NEAR(scalar(&s.v[0], "gpus"), 0, 1e-9);

    ag_resources_release(&bogus);
    ag_resources_release(&task);
    sink_release(&s);
    ops()->destroy(a);
}

TEST(no_starvation_behind_a_decliner)
{
    struct sink s = {0};
    struct ag_allocator *a = make(&s);
    add_agent(a, "ag1", "cpus:1;mem:1024");
    add_agent(a, "ag2", "cpus:1;mem:1024");
    add_agent(a, "ag3", "cpus:1;mem:1024");
    add_agent(a, "ag4", "cpus:1;mem:1024");
    ASSERT_EQ(add_fw(a, "A", "*"), 0); /* declines everything, long filter */
    ASSERT_EQ(add_fw(a, "B", "*"), 0); /* takes offers and gives them back */

    size_t last_b = 0;
    for (int round = 0; round < 6; round++) {
        ops()->allocate(a, round);
        ASSERT_TRUE(count(&s, "B") >= 1);
        last_b = count(&s, "B");
        for (size_t i = 0; i < s.n; i++)
            decline(a, &s.v[i], strcmp(s.v[i].fw, "A") == 0 ? 1e9 : 0, round);
        sink_clear(&s);
    }
    ASSERT_EQ(last_b, 4);

    sink_release(&s);
    ops()->destroy(a);
}

TEST(add_used_counts_toward_share)
{
    struct sink s = {0};
    struct ag_allocator *a = make(&s);
    add_agent(a, "ag1", "cpus:4;mem:4096");
    add_agent(a, "ag2", "cpus:4;mem:4096");
    /* Tasks reported at re-registration, before their framework is back. */
    struct ag_resources used = R("cpus:1;mem:1024");
    ASSERT_EQ(ops()->add_used(a, "X", "*", "ag1", &used), 0);
    struct ag_resources too_much = R("cpus:4");
    ASSERT_EQ(ops()->add_used(a, "X", "*", "ag1", &too_much), -ERANGE);
    ASSERT_EQ(ops()->add_used(a, "X", "*", "nope", &used), -ENOENT);
    ASSERT_EQ(ops()->add_used(a, "X", "bad//role", "ag1", &used), -EINVAL);
    ASSERT_EQ(add_fw(a, "Y", "*"), 0);

    /* X is inactive: Y gets both agents, minus what X uses. */
    ops()->allocate(a, 0);
    ASSERT_EQ(count(&s, "X"), 0);
    ASSERT_EQ(count(&s, "Y"), 2);
    ASSERT_NEAR(scalar(find(&s, "Y", "ag1"), "cpus"), 3, 1e-9);
    decline_all(a, &s, 0, 0);

    /* X subscribes (updated in place, keeping its usage): its share 1/8
     * exceeds Y's 0, so Y is served first and takes ag1's remainder; then
     * Y (3/8) exceeds X, which gets ag2. */
    ASSERT_EQ(add_fw(a, "X", "*"), 0);
    ops()->allocate(a, 1);
    ASSERT_NOT_NULL(find(&s, "Y", "ag1"));
    ASSERT_NOT_NULL(find(&s, "X", "ag2"));
    decline_all(a, &s, 0, 1);

    /* X's tasks end: both at zero, X (smaller name) gets all of ag1. */
    ops()->recover(a, "X", "*", "ag1", &used, 0, 2);
    ops()->allocate(a, 2);
    ASSERT_NEAR(scalar(find(&s, "X", "ag1"), "cpus"), 4, 1e-9);
    ASSERT_NOT_NULL(find(&s, "Y", "ag2"));

    ag_resources_release(&too_much);
    ag_resources_release(&used);
    sink_release(&s);
    ops()->destroy(a);
}

TEST(min_allocatable)
{
    struct sink s = {0};
    struct ag_allocator *a = make(&s);
    add_agent(a, "tiny", "cpus:0.005;mem:16");
    add_agent(a, "cpuonly", "cpus:0.01");
    add_agent(a, "memonly", "mem:32");
    add_agent(a, "portsonly", "ports:[1-10]");
    ASSERT_EQ(add_fw(a, "A", "*"), 0);
    ops()->allocate(a, 0);
    ASSERT_EQ(s.n, 2);
    ASSERT_NOT_NULL(find(&s, "A", "cpuonly"));
    ASSERT_NOT_NULL(find(&s, "A", "memonly"));
    sink_release(&s);
    ops()->destroy(a);

    /* A custom minimum: gpus:1 or cpus:1. */
    struct ag_resources min = R("gpus:1;cpus:1");
    struct ag_allocator_options opt = {.default_refuse_seconds = 5, .min_allocatable = &min};
    a = ops()->create(&opt, on_offer, &s);
    ag_resources_release(&min); /* copied by create */
    add_agent(a, "small", "cpus:0.5;mem:4096");
    add_agent(a, "gpu", "cpus:0.5;gpus:1");
    ASSERT_EQ(add_fw(a, "A", "*"), 0);
    ops()->allocate(a, 0);
    ASSERT_EQ(s.n, 1);
    ASSERT_STREQ(s.v[0].agent, "gpu");
    sink_release(&s);
    ops()->destroy(a);
}

TEST(bad_input_changes_nothing)
{
    struct sink s = {0};
    struct ag_allocator *a = make(&s);
    struct ag_resources r = R("cpus:1;mem:128");
    const char *good[] = {"*"}, *bad[] = {"/x"}, *other[] = {"y"};
    ASSERT_EQ(ops()->add_framework(a, "A", good, 0, NULL, 0, true), -EINVAL);
    ASSERT_EQ(ops()->add_framework(a, "A", bad, 1, NULL, 0, true), -EINVAL);
    ASSERT_EQ(ops()->add_framework(a, "A", good, 1, other, 1, true), -EINVAL);
    ASSERT_EQ(ops()->add_framework(a, "", good, 1, NULL, 0, true), -EINVAL);
    ASSERT_EQ(ops()->add_framework(a, NULL, good, 1, NULL, 0, true), -EINVAL);
    ASSERT_EQ(ops()->add_agent(a, "", &r), -EINVAL);
    ASSERT_EQ(ops()->add_agent(a, "ag1", NULL), -EINVAL);
    ASSERT_EQ(ops()->add_agent(a, "ag1", &r), 0);
    ASSERT_EQ(ops()->add_agent(a, "ag1", &r), -EEXIST);
    ASSERT_EQ(ops()->set_weight(a, "x", 0), -EINVAL);
    ASSERT_EQ(ops()->set_weight(a, "x", -1), -EINVAL);
    ASSERT_EQ(ops()->set_weight(a, "x", 0.0 / 0.0), -EINVAL);
    ASSERT_EQ(ops()->set_weight(a, "x/", 1), -EINVAL);
    /* Unknown ids are no-ops. */
    ops()->remove_framework(a, "nope");
    ops()->remove_agent(a, "nope");
    ops()->set_agent_active(a, "nope", false);
    ops()->set_framework_active(a, "nope", false);
    ops()->suppress(a, "nope", NULL, 0);
    ops()->revive(a, "nope", NULL, 0, 0);

    /* None of the rejected calls created a framework. */
    ops()->allocate(a, 0);
    ASSERT_EQ(s.n, 0);
    ASSERT_EQ(add_fw(a, "A", "*"), 0);
    ops()->allocate(a, 0);
    ASSERT_EQ(s.n, 1);

    ag_resources_release(&r);
    sink_release(&s);
    ops()->destroy(a);
}

TEST(update_framework_roles)
{
    struct sink s = {0};
    struct ag_allocator *a = make(&s);
    add_agent(a, "ag1", "cpus:1;mem:1024");
    add_agent(a, "ag2", "cpus:1;mem:1024");
    ASSERT_EQ(add_fw(a, "A", "old"), 0);
    ops()->allocate(a, 0);
    ASSERT_EQ(s.n, 2);
    struct sink held = s;
    s = (struct sink){0};

    /* A moves to role "new": its "old" offers stay allocated until the
     * master recovers them, and "old" gets nothing new. */
    ASSERT_EQ(add_fw(a, "A", "new"), 0);
    ops()->allocate(a, 1);
    ASSERT_EQ(s.n, 0);
    decline(a, &held.v[0], 0, 1);
    ops()->allocate(a, 1);
    ASSERT_EQ(s.n, 1);
    ASSERT_STREQ(s.v[0].role, "new");
    ASSERT_STREQ(s.v[0].agent, held.v[0].agent);
    decline(a, &held.v[1], 0, 1);

    sink_release(&held);
    sink_release(&s);
    ops()->destroy(a);
}

/* A master that declines inside the offer callback, and one that removes
 * the framework there: the round is over by then, so both are safe. */
struct reentrant {
    struct ag_allocator *a;
    int offers;
    bool remove;
};

static void on_offer_reenter(void *ctx, const char *fw, const char *role, const char *agent,
                             struct ag_resources *res)
{
    struct reentrant *r = ctx;
    r->offers++;
    if (r->remove) {
        ops()->remove_framework(r->a, fw);
    } else {
        ops()->allocate(r->a, 0); /* ignored */
        ops()->recover(r->a, fw, role, agent, res, 0, 0);
    }
    ag_resources_release(res);
}

TEST(reentrant_callback)
{
    struct reentrant r = {0};
    r.a = ops()->create(NULL, on_offer_reenter, &r);
    add_agent(r.a, "ag1", "cpus:1;mem:1024");
    add_agent(r.a, "ag2", "cpus:1;mem:1024");
    ASSERT_EQ(add_fw(r.a, "A", "*"), 0);
    ops()->allocate(r.a, 0);
    ASSERT_EQ(r.offers, 2);
    ops()->allocate(r.a, 0);
    ASSERT_EQ(r.offers, 4);
    /* Removed during delivery: its second offer is dropped, not sent. */
    r.remove = true;
    ops()->allocate(r.a, 0);
    ASSERT_EQ(r.offers, 5);
    ASSERT_EQ(add_fw(r.a, "B", "*"), 0);
    r.remove = false;
    ops()->allocate(r.a, 0);
    ASSERT_EQ(r.offers, 7);
    ops()->destroy(r.a);
}

/* Random events against a model of what the master holds; checks that no
 * agent is ever over-offered and that, once everything is given back,
 * each agent is offered whole again. */
TEST(random_accounting)
{
    struct sink s = {0};
    struct ag_allocator *a = make(&s);
    const char *totals[] = {"cpus:4;mem:4096;ports:[1000-1099]",
                            "cpus:8;mem:2048;cpus(r1):2;mem(r1):512", "cpus:2;mem:8192;disk:100"};
    char id[32];
    for (int i = 0; i < 6; i++) {
        snprintf(id, sizeof(id), "ag%d", i);
        add_agent(a, id, totals[i % 3]);
    }
    const char *fws[] = {"f0", "f1", "f2", "f3"};
    const char *roles[] = {"*", "r1", "r1/x", "r2"};
    for (int i = 0; i < 4; i++)
        ASSERT_EQ(add_fw(a, fws[i], roles[i]), 0);
    struct sink held = {0};
    unsigned seed = 12345;
    double now = 0;
    for (int step = 0; step < 400; step++) {
        seed = seed * 1103515245u + 12345u;
        unsigned r = (seed >> 16) % 10;
        now += 0.5;
        if (r < 4) {
            ops()->allocate(a, now);
            for (size_t i = 0; i < s.n; i++) {
                on_offer(&held, s.v[i].fw, s.v[i].role, s.v[i].agent, &s.v[i].res);
                ag_resources_init(&s.v[i].res);
            }
            sink_clear(&s);
        } else if (r < 8 && held.n > 0) {
            size_t k = (seed >> 8) % held.n;
            decline(a, &held.v[k], (double)(r - 4), now);
            ag_resources_release(&held.v[k].res);
            held.v[k] = held.v[--held.n];
        } else if (r == 8) {
            const char *f = fws[(seed >> 8) % 4];
            if ((seed >> 12) & 1)
                ops()->suppress(a, f, NULL, 0);
            else
                ops()->revive(a, f, NULL, 0, now);
        } else {
            snprintf(id, sizeof(id), "ag%u", (seed >> 8) % 6);
            ops()->set_agent_active(a, id, (seed >> 12) & 1);
        }
        /* Per agent, what is held never exceeds the agent's cpus. */
        for (int i = 0; i < 6; i++) {
            snprintf(id, sizeof(id), "ag%d", i);
            double cpus = 0;
            for (size_t k = 0; k < held.n; k++) {
                if (strcmp(held.v[k].agent, id) == 0)
                    cpus += scalar(&held.v[k], "cpus");
            }
            ASSERT_TRUE(cpus <= (i % 3 == 0 ? 4 : i % 3 == 1 ? 10 : 2) + 1e-9);
        }
    }
    decline_all(a, &held, 0, now);
    for (int i = 0; i < 6; i++) {
        snprintf(id, sizeof(id), "ag%d", i);
        ops()->set_agent_active(a, id, true);
    }
    for (int i = 0; i < 4; i++)
        ops()->revive(a, fws[i], NULL, 0, now);
    ops()->remove_framework(a, "f2"); /* so r1's reservations go to f1 */
    ops()->allocate(a, now);
    for (int i = 0; i < 6; i++) {
        snprintf(id, sizeof(id), "ag%d", i);
        struct ag_resources sum, total = R(totals[i % 3]);
        ag_resources_init(&sum);
        for (size_t k = 0; k < s.n; k++) {
            if (strcmp(s.v[k].agent, id) == 0)
                ASSERT_EQ(ag_resources_add(&sum, &s.v[k].res), 0);
        }
        ASSERT_EQ(ag_resources_set_allocation_role(&sum, NULL), 0);
        ASSERT_TRUE(ag_resources_equal(&sum, &total));
        ag_resources_release(&sum);
        ag_resources_release(&total);
    }

    sink_release(&held);
    sink_release(&s);
    ops()->destroy(a);
}

TEST_MAIN(TEST_CASE(registry), TEST_CASE(single_framework_gets_every_agent_once),
          TEST_CASE(drf_paper_example), TEST_CASE(decline_filter_until_expiry),
          TEST_CASE(default_filter_and_grown_offer), TEST_CASE(revive_clears_filter),
          TEST_CASE(suppressed_gets_nothing_and_blocks_nobody),
          TEST_CASE(reservations_stay_with_their_role), TEST_CASE(one_offer_per_role_per_agent),
          TEST_CASE(weights_two_to_one), TEST_CASE(inactive_agents_and_frameworks),
          TEST_CASE(remove_agent_and_framework_clean_up), TEST_CASE(recover_returns_resources),
          TEST_CASE(no_starvation_behind_a_decliner), TEST_CASE(add_used_counts_toward_share),
          TEST_CASE(min_allocatable), TEST_CASE(bad_input_changes_nothing),
          TEST_CASE(update_framework_roles), TEST_CASE(reentrant_callback),
          TEST_CASE(random_accounting))
