/*
 * Unit tests of the "fifo" allocator policy (first come, first served),
 * through the public ops table; the helpers mirror test_allocator_drf.c.
 * The bookkeeping it shares with drf (filters, recover, add_used, removal)
 * is covered there; these tests pin down the ordering.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define ALLOC_TEST_POLICY "fifo"
#include "alloc_sink.h"
#include "test.h"

static bool any_reserved(const struct ag_resources *r)
{
    for (size_t k = 0; k < r->n; k++) {
        if (ag_resource_is_reserved(&r->items[k]))
            return true;
    }
    return false;
}

TEST(oldest_framework_first_agents_in_admission_order)
{
    struct sink s = {0};
    struct ag_allocator *a = make(&s);
    ASSERT_STREQ(ops()->name, "fifo");
    add_agent(a, "c", "cpus:1;mem:1024");
    add_agent(a, "a", "cpus:1;mem:1024");
    add_agent(a, "b", "cpus:1;mem:1024");
    ASSERT_EQ(add_fw(a, "zz-old", "*"), 0);
    ASSERT_EQ(add_fw(a, "aa-new", "*"), 0);
    /* Weights mean nothing here. */
    ASSERT_EQ(ops()->set_weight(a, "*", 100), 0);

    ops()->allocate(a, 0);
    ASSERT_EQ(s.n, 3);
    ASSERT_EQ(count(&s, "zz-old"), 3);
    ASSERT_STREQ(s.v[0].agent, "c");
    ASSERT_STREQ(s.v[1].agent, "a");
    ASSERT_STREQ(s.v[2].agent, "b");
    /* Given back unfiltered, it all goes to the oldest again. */
    decline_all(a, &s, 0, 0);
    ops()->allocate(a, 1);
    ASSERT_EQ(count(&s, "zz-old"), 3);

    /* What the oldest declines (filtered) goes to the next. */
    decline(a, find(&s, "zz-old", "a"), 100, 1);
    decline(a, find(&s, "zz-old", "b"), 0, 1);
    ops()->allocate(a, 2);
    ASSERT_EQ(s.n, 5);
    ASSERT_NOT_NULL(find(&s, "aa-new", "a"));
    ASSERT_EQ(count(&s, "zz-old"), 4); /* c held, b again */
    sink_release(&s);
    ops()->destroy(a);
}

TEST(suppressed_and_removed_make_way)
{
    struct sink s = {0};
    struct ag_allocator *a = make(&s);
    add_agent(a, "ag1", "cpus:1;mem:1024");
    add_agent(a, "ag2", "cpus:1;mem:1024");
    ASSERT_EQ(add_fw(a, "old", "*"), 0);
    ASSERT_EQ(add_fw(a, "new", "*"), 0);

    ops()->suppress(a, "old", NULL, 0);
    ops()->allocate(a, 0);
    ASSERT_EQ(count(&s, "new"), 2);
    decline_all(a, &s, 0, 0);

    ops()->revive(a, "old", NULL, 0, 1);
    ops()->allocate(a, 1);
    ASSERT_EQ(count(&s, "old"), 2);

    /* Removing the oldest gives its resources back; the next is first. */
    ops()->remove_framework(a, "old");
    sink_clear(&s);
    ops()->allocate(a, 2);
    ASSERT_EQ(count(&s, "new"), 2);
    sink_release(&s);
    ops()->destroy(a);
}

TEST(reservations_and_roles)
{
    struct sink s = {0};
    struct ag_allocator *a = make(&s);
    add_agent(a, "ag1", "cpus:2;mem:1024;cpus(eng):2;mem(eng):512");
    ASSERT_EQ(add_fw(a, "star", "*"), 0);
    const char *roles[] = {"*", "eng"};
    ASSERT_EQ(ops()->add_framework(a, "multi", roles, 2, NULL, 0, true), 0);

    ops()->allocate(a, 0);
    /* The oldest ("*") takes the unreserved part; multi's "*" role finds
     * nothing left; eng's reservation goes to multi as role eng. */
    ASSERT_EQ(s.n, 2);
    struct offer *st = find(&s, "star", "ag1"), *m = find(&s, "multi", "ag1");
    ASSERT_NOT_NULL(st);
    ASSERT_NOT_NULL(m);
    ASSERT_FALSE(any_reserved(&st->res));
    ASSERT_STREQ(m->role, "eng");
    ASSERT_TRUE(any_reserved(&m->res));
    ASSERT_NEAR(scalar(m, "cpus"), 2, 1e-9);

    /* With "star" gone, multi gets both parts as two offers (one per
     * role) in one round: "*" first (subscribed first), then eng. */
    decline_all(a, &s, 0, 0);
    ops()->remove_framework(a, "star");
    ops()->allocate(a, 1);
    ASSERT_EQ(s.n, 2);
    ASSERT_EQ(count(&s, "multi"), 2);
    ASSERT_STREQ(s.v[0].role, "*");
    ASSERT_FALSE(any_reserved(&s.v[0].res));
    ASSERT_STREQ(s.v[1].role, "eng");
    ASSERT_NEAR(scalar(&s.v[1], "cpus"), 2, 1e-9);
    decline_all(a, &s, 0, 1);

    /* Had eng come first, it would take everything: unreserved resources
     * may go to any role. */
    const char *eng_first[] = {"eng"};
    ASSERT_EQ(ops()->add_framework(a, "multi", eng_first, 1, NULL, 0, true), 0);
    ops()->allocate(a, 2);
    ASSERT_EQ(s.n, 1);
    ASSERT_STREQ(s.v[0].role, "eng");
    ASSERT_NEAR(scalar(&s.v[0], "cpus"), 4, 1e-9);
    sink_release(&s);
    ops()->destroy(a);
}

TEST(inactive_and_min_allocatable)
{
    struct sink s = {0};
    struct ag_allocator *a = make(&s);
    add_agent(a, "ag1", "cpus:1;mem:1024");
    add_agent(a, "ag2", "cpus:0.001;mem:1");
    add_agent(a, "ag3", "cpus:1;mem:1024");
    ASSERT_EQ(add_fw(a, "A", "*"), 0);
    ops()->set_agent_active(a, "ag3", false);
    ops()->allocate(a, 0);
    ASSERT_EQ(s.n, 1);
    ASSERT_STREQ(s.v[0].agent, "ag1");
    decline_all(a, &s, 0, 0);
    ops()->set_framework_active(a, "A", false);
    ops()->allocate(a, 1);
    ASSERT_EQ(s.n, 0);
    sink_release(&s);
    ops()->destroy(a);
}

/* A master allocates before any agent or framework has arrived. */
TEST(empty_cluster)
{
    struct sink s = {0};
    struct ag_allocator *a = make(&s);
    ops()->allocate(a, 0);
    ASSERT_EQ(add_fw(a, "F", "*"), 0);
    ops()->allocate(a, 1);
    ASSERT_EQ(count(&s, "F"), 0);
    add_agent(a, "S1", "cpus:1;mem:64");
    ops()->allocate(a, 2);
    ASSERT_EQ(count(&s, "F"), 1);
    sink_release(&s);
    ops()->destroy(a);
}

TEST_MAIN(TEST_CASE(oldest_framework_first_agents_in_admission_order),
          TEST_CASE(suppressed_and_removed_make_way), TEST_CASE(reservations_and_roles),
          TEST_CASE(inactive_and_min_allocatable), TEST_CASE(empty_cluster))
