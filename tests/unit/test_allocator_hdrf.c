/*
 * Unit tests of the "drf" allocator's hierarchy, quota, reservations
 * changed at run time (update_agent, transform), option lists and
 * incremental rounds, driven through the public ops table only.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define ALLOC_TEST_POLICY "drf"
#include "alloc_sink.h"
#include "test.h"

/* Moves every offer of `from` into `to` (the test keeps holding them). */
static void sink_move(struct sink *to, struct sink *from)
{
    for (size_t i = 0; i < from->n; i++) {
        on_offer(to, from->v[i].fw, from->v[i].role, from->v[i].agent, &from->v[i].res);
        ag_resources_init(&from->v[i].res);
    }
    sink_clear(from);
}

static double total_of(const struct sink *s, const char *fw, const char *name)
{
    double t = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (!fw || strcmp(s->v[i].fw, fw) == 0)
            t += ag_resources_scalar(&s->v[i].res, name);
    }
    return t;
}

static void add_agents(struct ag_allocator *a, int n, const char *text)
{
    char id[32];
    for (int i = 0; i < n; i++) {
        snprintf(id, sizeof(id), "ag%02d", i);
        add_agent(a, id, text);
    }
}

static int quota(struct ag_allocator *a, const char *role, const char *guar, const char *limit)
{
    struct ag_resources g = R(guar ? guar : ""), l = R(limit ? limit : "");
    int rc = ops()->set_quota(a, role, guar ? &g : NULL, limit ? &l : NULL);
    ag_resources_release(&g);
    ag_resources_release(&l);
    return rc;
}

static void recover_all(struct ag_allocator *a, struct sink *s, double refuse, double now)
{
    for (size_t i = 0; i < s->n; i++)
        ops()->recover(a, s->v[i].fw, s->v[i].role, s->v[i].agent, &s->v[i].res, refuse, now);
    sink_clear(s);
}

static bool is_ancestor_or_self(const char *anc, const char *role)
{
    size_t n = strlen(anc);
    return strncmp(anc, role, n) == 0 && (role[n] == '\0' || role[n] == '/');
}

/* Every reserved entry of every offer goes to its role or a descendant. */
static bool reservations_respected(const struct sink *s)
{
    for (size_t i = 0; i < s->n; i++) {
        for (size_t k = 0; k < s->v[i].res.n; k++) {
            const struct ag_resource *r = &s->v[i].res.items[k];
            if (ag_resource_is_reserved(r) &&
                !is_ancestor_or_self(ag_resource_reserved_role(r), s->v[i].role))
                return false;
        }
    }
    return true;
}

/* "eng/a" and "eng/b" share eng's half against "ops". */
TEST(hierarchy_splits_parent_share)
{
    struct sink s = {0};
    struct ag_allocator *a = make(&s);
    add_agents(a, 12, "cpus:1;mem:1024");
    ASSERT_EQ(add_fw(a, "fa", "eng/a"), 0);
    ASSERT_EQ(add_fw(a, "fb", "eng/b"), 0);
    ASSERT_EQ(add_fw(a, "fo", "ops"), 0);
    ops()->allocate(a, 0);
    ASSERT_EQ(s.n, 12);
    ASSERT_EQ(count(&s, "fo"), 6);
    ASSERT_EQ(count(&s, "fa"), 3);
    ASSERT_EQ(count(&s, "fb"), 3);

    /* Flat, the same three would split 4/4/4. */
    struct sink f = {0};
    struct ag_allocator *flat = ops()->create(NULL, on_offer, &f);
    add_agents(flat, 12, "cpus:1;mem:1024");
    ASSERT_EQ(add_fw(flat, "fa", "a"), 0);
    ASSERT_EQ(add_fw(flat, "fb", "b"), 0);
    ASSERT_EQ(add_fw(flat, "fo", "ops"), 0);
    ops()->allocate(flat, 0);
    ASSERT_EQ(count(&f, "fo"), 4);
    ASSERT_EQ(count(&f, "fa"), 4);

    /* A weight on the parent scales the whole subtree: eng 3, ops 1. */
    recover_all(a, &s, 0, 1);
    ASSERT_EQ(ops()->set_weight(a, "eng", 3.0), 0);
    ops()->allocate(a, 1);
    ASSERT_EQ(count(&s, "fo"), 3);
    ASSERT_EQ(count(&s, "fa") + count(&s, "fb"), 9);

    sink_release(&f);
    ops()->destroy(flat);
    sink_release(&s);
    ops()->destroy(a);
}

/* A role with clients of its own and a child role: the parent's own
 * clients compete with the child as one more sibling. */
TEST(hierarchy_parent_with_own_clients)
{
    struct sink s = {0};
    struct ag_allocator *a = make(&s);
    add_agents(a, 8, "cpus:1;mem:1024");
    ASSERT_EQ(add_fw(a, "e", "eng"), 0);
    ASSERT_EQ(add_fw(a, "w", "eng/web"), 0);
    ASSERT_EQ(add_fw(a, "o", "ops"), 0);
    ops()->allocate(a, 0);
    ASSERT_EQ(count(&s, "o"), 4);
    ASSERT_EQ(count(&s, "e"), 2);
    ASSERT_EQ(count(&s, "w"), 2);
    sink_release(&s);
    ops()->destroy(a);
}

/* The guarantee is met first although fair sharing alone would give the
 * guaranteed role less. */
TEST(guarantee_before_fair_share)
{
    struct sink s = {0};
    struct ag_allocator *a = make(&s);
    add_agents(a, 10, "cpus:1;mem:1024");
    /* "aaa" sorts first and wants everything too. */
    ASSERT_EQ(add_fw(a, "A", "aaa"), 0);
    ASSERT_EQ(add_fw(a, "Q", "q"), 0);
    ASSERT_EQ(quota(a, "q", "cpus:7;mem:7168", NULL), 0);
    ops()->allocate(a, 0);
    ASSERT_EQ(s.n, 10);
    ASSERT_NEAR(total_of(&s, "Q", "cpus"), 7, 1e-9);
    ASSERT_NEAR(total_of(&s, "A", "cpus"), 3, 1e-9);

    /* Cleared: everything back, fair share again. */
    recover_all(a, &s, 0, 1);
    ASSERT_EQ(ops()->set_quota(a, "q", NULL, NULL), 0);
    ops()->allocate(a, 1);
    ASSERT_NEAR(total_of(&s, "Q", "cpus"), 5, 1e-9);
    sink_release(&s);
    ops()->destroy(a);
}

/* A guarantee is capped at what it asks for in stage 1: the rest of a
 * big agent goes through fair sharing. */
TEST(guarantee_offer_is_capped)
{
    struct sink s = {0};
    struct ag_allocator *a = make(&s);
    add_agent(a, "big", "cpus:10;mem:10240");
    ASSERT_EQ(add_fw(a, "Q", "q"), 0);
    ASSERT_EQ(add_fw(a, "A", "aaa"), 0);
    ASSERT_EQ(quota(a, "q", "cpus:2;mem:2048", NULL), 0);
    ops()->allocate(a, 0);
    ASSERT_EQ(s.n, 2);
    ASSERT_NEAR(total_of(&s, "Q", "cpus"), 2, 1e-9);
    ASSERT_NEAR(total_of(&s, "Q", "mem"), 2048, 1e-9);
    ASSERT_NEAR(total_of(&s, "A", "cpus"), 8, 1e-9);
    sink_release(&s);
    ops()->destroy(a);
}

/* A guarantee on cpus alone still brings the memory along in stage 1
 * when no other guarantee needs it, so the role can launch tasks. */
TEST(guarantee_brings_unguaranteed_names)
{
    struct sink s = {0};
    struct ag_allocator *a = make(&s);
    add_agents(a, 4, "cpus:1;mem:1024");
    ASSERT_EQ(add_fw(a, "A", "aaa"), 0);
    ASSERT_EQ(add_fw(a, "Q", "q"), 0);
    ASSERT_EQ(quota(a, "q", "cpus:2", NULL), 0);
    ops()->allocate(a, 0);
    ASSERT_EQ(count(&s, "Q"), 2);
    ASSERT_NEAR(total_of(&s, "Q", "cpus"), 2, 1e-9);
    ASSERT_NEAR(total_of(&s, "Q", "mem"), 2048, 1e-9);
    ASSERT_EQ(count(&s, "A"), 2);
    sink_release(&s);
    ops()->destroy(a);
}

/* A limit is never exceeded, however many rounds and partial agents. */
TEST(limit_never_exceeded)
{
    struct sink s = {0}, held = {0};
    struct ag_allocator *a = make(&s);
    add_agents(a, 10, "cpus:1;mem:1024");
    ASSERT_EQ(add_fw(a, "L", "lim"), 0);
    ASSERT_EQ(add_fw(a, "O", "other"), 0);
    ASSERT_EQ(quota(a, "lim", NULL, "cpus:2.5"), 0);
    for (int round = 0; round < 5; round++) {
        ops()->allocate(a, round);
        sink_move(&held, &s);
        ASSERT_TRUE(total_of(&held, "L", "cpus") <= 2.5 + 1e-9);
        /* O gives back everything, so L would take all it may. */
        for (size_t i = 0; i < held.n;) {
            if (strcmp(held.v[i].fw, "O") == 0) {
                ops()->recover(a, "O", "other", held.v[i].agent, &held.v[i].res, 0, round);
                ag_resources_release(&held.v[i].res);
                held.v[i] = held.v[--held.n];
            } else {
                i++;
            }
        }
    }
    ASSERT_NEAR(total_of(&held, "L", "cpus"), 2.5, 1e-9);
    /* The limit also bounds a nested role's subtree. */
    ASSERT_EQ(add_fw(a, "N", "lim/sub"), 0);
    ops()->allocate(a, 10);
    sink_move(&held, &s);
    ASSERT_TRUE(total_of(&held, "L", "cpus") + total_of(&held, "N", "cpus") <= 2.5 + 1e-9);
    sink_release(&held);
    sink_release(&s);
    ops()->destroy(a);
}

/* Headroom for an unsatisfied guarantee is not offered to other roles. */
/* A limit of 0 is "none of it", not "no limit": the role gets nothing
 * of that resource while another role still gets everything. */
TEST(zero_limit_means_none)
{
    struct sink s = {0};
    struct ag_allocator *a = make(&s);
    struct ag_resources l;
    add_agents(a, 3, "cpus:1;mem:1024");
    ASSERT_EQ(add_fw(a, "Z", "zero"), 0);
    ag_resources_init(&l);
    ASSERT_EQ(ag_resources_push_quantity(&l, "cpus", 0), 0);
    ASSERT_EQ(ag_resources_push_quantity(&l, "mem", 0), 0);
    ASSERT_EQ(ops()->set_quota(a, "zero", NULL, &l), 0);
    ag_resources_release(&l);
    ops()->allocate(a, 0);
    ASSERT_EQ(s.n, 0);
    ASSERT_EQ(add_fw(a, "O", "other"), 0);
    ops()->allocate(a, 1);
    ASSERT_NEAR(total_of(&s, "O", "cpus"), 3, 1e-9);
    ASSERT_NEAR(total_of(&s, "Z", "cpus"), 0, 1e-9);
    sink_release(&s);
    ops()->destroy(a);
}

TEST(headroom_held_back)
{
    struct sink s = {0};
    struct ag_allocator *a = make(&s);
    add_agents(a, 10, "cpus:1;mem:1024");
    ASSERT_EQ(add_fw(a, "O", "other"), 0);
    ASSERT_EQ(quota(a, "g", "cpus:4;mem:4096", NULL), 0);
    ops()->allocate(a, 0);
    ASSERT_NEAR(total_of(&s, "O", "cpus"), 6, 1e-9);
    ASSERT_NEAR(total_of(&s, "O", "mem"), 6144, 1e-9);
    /* The guaranteed role arrives and gets what was held for it. */
    struct sink held = {0};
    sink_move(&held, &s);
    ASSERT_EQ(add_fw(a, "G", "g"), 0);
    ops()->allocate(a, 1);
    ASSERT_NEAR(total_of(&s, "G", "cpus"), 4, 1e-9);
    ASSERT_EQ(count(&s, "O"), 0);
    sink_release(&held);
    sink_release(&s);
    ops()->destroy(a);
}

TEST(quota_bad_input)
{
    struct sink s = {0};
    struct ag_allocator *a = make(&s);
    ASSERT_EQ(quota(a, "q", "cpus:4", "cpus:2"), -EINVAL);
    ASSERT_EQ(quota(a, "*", "cpus:1", NULL), -EINVAL);
    ASSERT_EQ(quota(a, "bad//role", "cpus:1", NULL), -EINVAL);
    ASSERT_EQ(quota(a, "q", "ports:[1-2]", NULL), -EINVAL);
    ASSERT_EQ(quota(a, "q", "cpus:2", "cpus:4;mem:10"), 0);
    /* The failed calls changed nothing: no headroom is held for them. */
    add_agents(a, 4, "cpus:1;mem:1024");
    ASSERT_EQ(add_fw(a, "O", "other"), 0);
    ops()->allocate(a, 0);
    ASSERT_NEAR(total_of(&s, "O", "cpus"), 2, 1e-9);
    sink_release(&s);
    ops()->destroy(a);
}

/* Reserved resources reach their role and its descendants only; an
 * unallocated reservation counts toward its role's share. */
TEST(reservations_role_and_descendants)
{
    struct sink s = {0};
    struct ag_allocator *a = make(&s);
    add_agent(a, "r", "cpus(eng):4;mem(eng):4096");
    add_agents(a, 4, "cpus:1;mem:1024");
    ASSERT_EQ(add_fw(a, "W", "eng/web"), 0);
    ASSERT_EQ(add_fw(a, "O", "ops"), 0);
    ASSERT_EQ(add_fw(a, "X", "engineering"), 0);
    ops()->allocate(a, 0);
    ASSERT_TRUE(reservations_respected(&s));
    /* eng's reserved 4 of 8 cpus count toward it before any offer, so
     * ops and engineering take the unreserved agents. */
    ASSERT_EQ(count(&s, "W"), 1);
    ASSERT_NEAR(total_of(&s, "W", "cpus"), 4, 1e-9);
    ASSERT_EQ(count(&s, "O") + count(&s, "X"), 4);
    sink_release(&s);
    ops()->destroy(a);
}

TEST(excluded_names_do_not_count)
{
    for (int excluded = 0; excluded < 2; excluded++) {
        struct sink s = {0};
        const char *names[] = {"gpus"};
        struct ag_allocator_options o = {.default_refuse_seconds = 5,
                                         .excluded_resource_names = names,
                                         .n_excluded_resource_names = excluded ? 1 : 0};
        struct ag_allocator *a = ops()->create(&o, on_offer, &s);
        ASSERT_NOT_NULL(a);
        add_agent(a, "g", "cpus:1;mem:1024;gpus:4");
        add_agents(a, 4, "cpus:1;mem:1024");
        ASSERT_EQ(add_fw(a, "A", "*"), 0);
        ASSERT_EQ(add_fw(a, "B", "*"), 0);
        struct ag_resources used = R("cpus:1;mem:1024;gpus:4");
        ASSERT_EQ(ops()->add_used(a, "A", "*", "g", &used), 0);
        ag_resources_release(&used);
        ops()->allocate(a, 0);
        ASSERT_EQ(s.n, 4);
        /* Counting gpus, A's share is 1 and B takes all; without, they
         * alternate. */
        ASSERT_EQ(count(&s, "B"), excluded ? 2 : 4);
        sink_release(&s);
        ops()->destroy(a);
    }
}

TEST(min_allocatable_alternatives)
{
    struct sink s = {0};
    struct ag_resources alts[2] = {R("cpus:1;mem:512"), R("gpus:1")};
    struct ag_allocator_options o = {
        .default_refuse_seconds = 5, .min_allocatable_alternatives = alts, .n_min_allocatable = 2};
    struct ag_allocator *a = ops()->create(&o, on_offer, &s);
    ASSERT_NOT_NULL(a);
    add_agent(a, "small-mem", "cpus:2;mem:256");   /* cpus but not mem: no */
    add_agent(a, "both", "cpus:1;mem:1024");       /* first alternative */
    add_agent(a, "gpu", "cpus:0.1;mem:10;gpus:1"); /* second */
    add_agent(a, "tiny", "cpus:0.5;mem:4096");     /* mem but not cpus: no */
    ASSERT_EQ(add_fw(a, "F", "*"), 0);
    ops()->allocate(a, 0);
    ASSERT_EQ(s.n, 2);
    bool both = false, gpu = false;
    for (size_t i = 0; i < s.n; i++) {
        both |= strcmp(s.v[i].agent, "both") == 0;
        gpu |= strcmp(s.v[i].agent, "gpu") == 0;
    }
    ASSERT_TRUE(both && gpu);
    ag_resources_release(&alts[0]);
    ag_resources_release(&alts[1]);
    sink_release(&s);
    ops()->destroy(a);
}

TEST(multi_role_one_role_per_offer)
{
    struct sink s = {0};
    struct ag_allocator *a = make(&s);
    add_agents(a, 4, "cpus:1;mem:1024");
    const char *roles[] = {"x", "y"};
    ASSERT_EQ(ops()->add_framework(a, "M", roles, 2, NULL, 0, true), 0);
    ASSERT_EQ(add_fw(a, "Z", "z"), 0);
    ops()->allocate(a, 0);
    ASSERT_EQ(s.n, 4);
    int x = 0, y = 0;
    for (size_t i = 0; i < s.n; i++) {
        for (size_t k = 0; k < s.v[i].res.n; k++)
            ASSERT_STREQ(s.v[i].res.items[k].allocation_role, s.v[i].role);
        x += strcmp(s.v[i].role, "x") == 0;
        y += strcmp(s.v[i].role, "y") == 0;
    }
    /* Each role of M is its own client in its own role. */
    ASSERT_TRUE(x >= 1 && y >= 1);
    ASSERT_EQ(count(&s, "Z"), 4 - x - y);
    sink_release(&s);
    ops()->destroy(a);
}

TEST(update_agent_grows_and_refuses_below_allocated)
{
    struct sink s = {0}, held = {0};
    struct ag_allocator *a = make(&s);
    add_agent(a, "ag", "cpus:4;mem:4096");
    ASSERT_EQ(add_fw(a, "F", "*"), 0);
    ops()->allocate(a, 0);
    sink_move(&held, &s);
    /* Less than is allocated: refused, nothing changes. */
    struct ag_resources small = R("cpus:2;mem:4096");
    ASSERT_EQ(ops()->update_agent(a, "ag", &small), -ERANGE);
    ASSERT_EQ(ops()->update_agent(a, "nope", &small), -ENOENT);
    ag_resources_release(&small);
    /* More: the extra is offered at once. */
    struct ag_resources big = R("cpus:6;mem:4096;cpus(eng):2");
    ASSERT_EQ(ops()->update_agent(a, "ag", &big), 0);
    ag_resources_release(&big);
    ops()->allocate(a, 1);
    ASSERT_EQ(s.n, 1);
    ASSERT_NEAR(total_of(&s, NULL, "cpus"), 2, 1e-9);
    ASSERT_TRUE(reservations_respected(&s));
    sink_release(&held);
    sink_release(&s);
    ops()->destroy(a);
}

/* RESERVE inside an ACCEPT: offered unreserved cpus become the role's,
 * and once given back they go to that role only. */
TEST(transform_reserve_and_unreserve)
{
    struct sink s = {0};
    struct ag_allocator *a = make(&s);
    add_agent(a, "ag", "cpus:4;mem:4096");
    ASSERT_EQ(add_fw(a, "E", "eng"), 0);
    ops()->allocate(a, 0);
    ASSERT_EQ(s.n, 1);
    struct ag_resources from = R("cpus:2"), to = R("cpus(eng):2"), nope = R("cpus:5"),
                        to5 = R("cpus(eng):5");
    ASSERT_EQ(ops()->transform(a, "E", "eng", "ag", &nope, &to5), -ERANGE);
    ag_resources_release(&to5);
    ASSERT_EQ(ops()->transform(a, "X", "eng", "ag", &from, &to), -ENOENT);
    struct ag_resources more = R("cpus(eng):3");
    ASSERT_EQ(ops()->transform(a, "E", "eng", "ag", &from, &more), -EINVAL);
    ag_resources_release(&more);
    /* Nothing may appear out of thin air either, whatever its type. */
    struct ag_resources none = R(""), ports = R("ports:[1-2]");
    ASSERT_EQ(ops()->transform(a, "E", "eng", "ag", &none, &ports), -EINVAL);
    ag_resources_release(&none);
    ag_resources_release(&ports);
    ASSERT_EQ(ops()->transform(a, "E", "eng", "ag", &from, &to), 0);
    /* The master's copy of the offer changes the same way. */
    ASSERT_EQ(ag_resources_set_allocation_role(&s.v[0].res, NULL), 0);
    ASSERT_EQ(ag_resources_subtract(&s.v[0].res, &from), 0);
    ASSERT_EQ(ag_resources_add(&s.v[0].res, &to), 0);
    recover_all(a, &s, 0, 0);
    ops()->remove_framework(a, "E");
    ASSERT_EQ(add_fw(a, "O", "ops"), 0);
    ops()->allocate(a, 1);
    ASSERT_EQ(s.n, 1);
    ASSERT_NEAR(total_of(&s, "O", "cpus"), 2, 1e-9);
    ASSERT_TRUE(reservations_respected(&s));
    ASSERT_EQ(add_fw(a, "E", "eng"), 0);
    ops()->allocate(a, 2);
    ASSERT_EQ(count(&s, "E"), 1);
    ASSERT_NEAR(total_of(&s, "E", "cpus"), 2, 1e-9);
    /* UNRESERVE: back to unreserved, then anyone may have it. */
    struct offer *e = &s.v[s.n - 1];
    ASSERT_STREQ(e->fw, "E");
    ASSERT_EQ(ops()->transform(a, "E", "eng", "ag", &to, &from), 0);
    ops()->recover(a, "E", "eng", "ag", &from, 0, 2);
    ops()->remove_framework(a, "E");
    sink_clear(&s);
    ops()->allocate(a, 3);
    ASSERT_EQ(count(&s, "O"), 1);
    ASSERT_NEAR(total_of(&s, "O", "cpus"), 2, 1e-9);
    ag_resources_release(&from);
    ag_resources_release(&to);
    ag_resources_release(&nope);
    sink_release(&s);
    ops()->destroy(a);
}

TEST(allocate_changed_visits_changed_agents)
{
    struct sink s = {0}, held = {0};
    struct ag_allocator *a = make(&s);
    add_agents(a, 3, "cpus:1;mem:1024");
    ASSERT_EQ(add_fw(a, "F", "*"), 0);
    ASSERT_NOT_NULL(ops()->allocate_changed);
    ops()->allocate_changed(a, 0); /* everything is new */
    ASSERT_EQ(s.n, 3);
    sink_move(&held, &s);
    ops()->allocate_changed(a, 1);
    ASSERT_EQ(s.n, 0);
    /* One agent's resources come back: only it is visited and offered. */
    for (size_t i = 0; i < held.n; i++) {
        if (strcmp(held.v[i].agent, "ag01") == 0)
            ops()->recover(a, "F", "*", "ag01", &held.v[i].res, 0, 1);
    }
    ops()->allocate_changed(a, 1);
    ASSERT_EQ(s.n, 1);
    ASSERT_STREQ(s.v[0].agent, "ag01");
    /* A filtered agent is not offered until the filter expires; that is
     * the periodic full round's job. */
    recover_all(a, &s, 5, 1);
    ops()->allocate_changed(a, 2);
    ASSERT_EQ(s.n, 0);
    ops()->allocate_changed(a, 7);
    ASSERT_EQ(s.n, 0);
    ops()->allocate(a, 7);
    ASSERT_EQ(s.n, 1);
    sink_release(&held);
    sink_release(&s);
    ops()->destroy(a);
}

/* Ports taken by tasks in pieces come back exactly, however they split. */
TEST(ports_split_and_return)
{
    struct sink s = {0};
    struct ag_allocator *a = make(&s);
    add_agent(a, "ag", "cpus:4;mem:4096;ports:[1000-1099]");
    ASSERT_EQ(add_fw(a, "F", "*"), 0);
    const char *tasks[] = {"cpus:1;ports:[1000-1000,1050-1050]",
                           "cpus:1;ports:[1010-1010,1020-1020,1030-1030,1040-1040,1060-1060]"};
    for (int t = 0; t < 2; t++) {
        ops()->allocate(a, t);
        ASSERT_EQ(s.n, 1);
        struct ag_resources task = R(tasks[t]);
        ASSERT_EQ(ag_resources_set_allocation_role(&task, "*"), 0);
        ASSERT_EQ(ag_resources_subtract(&s.v[0].res, &task), 0);
        recover_all(a, &s, 0, t);
        ops()->allocate(a, t);
        ASSERT_EQ(s.n, 1);
        /* What comes back is what the task did not take. */
        ASSERT_TRUE(ag_resources_contains(&s.v[0].res, &task) == false);
        recover_all(a, &s, 0, t);
        ASSERT_EQ(ag_resources_set_allocation_role(&task, NULL), 0);
        /* Double recovery of what was never offered is ignored. */
        struct ag_resources bogus = R("ports:[2000-2000]");
        ops()->recover(a, "F", "*", "ag", &bogus, 0, t);
        ag_resources_release(&bogus);
        ops()->recover(a, "F", "*", "ag", &task, 0, t);
        ag_resources_release(&task);
        ops()->allocate(a, t);
        ASSERT_EQ(s.n, 1);
        struct ag_resources whole = R("cpus:4;mem:4096;ports:[1000-1099]");
        ASSERT_EQ(ag_resources_set_allocation_role(&whole, "*"), 0);
        ASSERT_TRUE(ag_resources_equal(&s.v[0].res, &whole));
        ag_resources_release(&whole);
        recover_all(a, &s, 0, t);
    }
    /* Both tasks at once, then their ends in the other order. */
    ops()->allocate(a, 5);
    struct ag_resources t0 = R(tasks[0]), t1 = R(tasks[1]);
    ASSERT_EQ(ag_resources_set_allocation_role(&t0, "*"), 0);
    ASSERT_EQ(ag_resources_set_allocation_role(&t1, "*"), 0);
    ASSERT_EQ(ag_resources_subtract(&s.v[0].res, &t0), 0);
    ASSERT_EQ(ag_resources_subtract(&s.v[0].res, &t1), 0);
    recover_all(a, &s, 0, 5);
    ops()->recover(a, "F", "*", "ag", &t1, 0, 5);
    ops()->recover(a, "F", "*", "ag", &t0, 0, 5);
    ops()->allocate(a, 6);
    ASSERT_EQ(s.n, 1);
    struct ag_resources whole = R("cpus:4;mem:4096;ports:[1000-1099]");
    ASSERT_EQ(ag_resources_set_allocation_role(&whole, "*"), 0);
    ASSERT_TRUE(ag_resources_equal(&s.v[0].res, &whole));
    ag_resources_release(&whole);
    ag_resources_release(&t0);
    ag_resources_release(&t1);
    sink_release(&s);
    ops()->destroy(a);
}

/* Bad arguments to the newer ops are refused and change nothing. */
TEST(new_ops_bad_input)
{
    struct sink s = {0};
    struct ag_allocator *a = make(&s);
    add_agent(a, "ag", "cpus:2;mem:1024");
    ASSERT_EQ(add_fw(a, "F", "*"), 0);
    struct ag_resources r = R("cpus:1");
    ASSERT_EQ(ops()->update_agent(NULL, "ag", &r), -EINVAL);
    ASSERT_EQ(ops()->update_agent(a, NULL, &r), -EINVAL);
    ASSERT_EQ(ops()->update_agent(a, "ag", NULL), -EINVAL);
    ASSERT_EQ(ops()->transform(NULL, "F", "*", "ag", &r, &r), -EINVAL);
    ASSERT_EQ(ops()->transform(a, "F", NULL, "ag", &r, &r), -EINVAL);
    ASSERT_EQ(ops()->transform(a, "F", "*", "ag", NULL, &r), -EINVAL);
    ASSERT_EQ(ops()->transform(a, "F", "*", "nope", &r, &r), -ENOENT);
    ASSERT_EQ(ops()->transform(a, "F", "other", "ag", &r, &r), -ERANGE); /* holds nothing */
    ASSERT_EQ(ops()->set_quota(NULL, "q", &r, NULL), -EINVAL);
    ASSERT_EQ(ops()->set_quota(a, NULL, &r, NULL), -EINVAL);
    ASSERT_EQ(ops()->set_quota(a, "", &r, NULL), -EINVAL);
    ASSERT_EQ(ops()->set_quota(a, "/q", &r, NULL), -EINVAL);
    ops()->allocate_changed(NULL, 0);
    /* A bad option list makes create fail rather than guess. */
    struct ag_allocator_options o = {.default_refuse_seconds = 5, .n_min_allocatable = 2};
    ASSERT_NULL(ops()->create(&o, on_offer, &s));
    const char *names[] = {NULL};
    struct ag_allocator_options o2 = {.default_refuse_seconds = 5,
                                      .excluded_resource_names = names,
                                      .n_excluded_resource_names = 1};
    ASSERT_NULL(ops()->create(&o2, on_offer, &s));
    /* Still whole. */
    ops()->allocate(a, 0);
    ASSERT_EQ(s.n, 1);
    ASSERT_NEAR(total_of(&s, "F", "cpus"), 2, 1e-9);
    ag_resources_release(&r);
    sink_release(&s);
    ops()->destroy(a);
}

/* The order kept incrementally between rounds is the order a rebuild
 * from scratch gives: two allocators see the same events, one is made to
 * rebuild before every round (a weight set on an unused role marks the
 * order stale), and both must make the same offers. */
TEST(incremental_order_matches_rebuild)
{
    struct sink s[2] = {{0}}, held[2] = {{0}};
    struct ag_allocator *a[2];
    const char *roles[] = {"*", "eng", "eng/web", "eng/web/x", "ops", "ops/db", "research"};
    const char *kinds[] = {"cpus:4;mem:4096;ports:[1-10]", "cpus:8;mem:2048;cpus(eng):2",
                           "cpus:2;mem:8192;gpus:1", "cpus:16;mem:16384;mem(ops/db):1024"};
    char id[32];
    for (int k = 0; k < 2; k++) {
        a[k] = ops()->create(NULL, on_offer, &s[k]);
        ASSERT_NOT_NULL(a[k]);
        for (int i = 0; i < 24; i++) {
            snprintf(id, sizeof(id), "ag%02d", i);
            add_agent(a[k], id, kinds[i % 4]);
        }
        for (int i = 0; i < 14; i++) {
            snprintf(id, sizeof(id), "f%02d", i);
            ASSERT_EQ(add_fw(a[k], id, roles[i % 7]), 0);
        }
        ASSERT_EQ(ops()->set_weight(a[k], "eng", 2.5), 0);
        ASSERT_EQ(ops()->set_weight(a[k], "ops/db", 0.5), 0);
    }
    unsigned seed = 99;
    double now = 0;
    for (int step = 0; step < 300; step++) {
        seed = seed * 1103515245u + 12345u;
        unsigned r = (seed >> 16) % 8;
        now += 1;
        if (r < 3) {
            ASSERT_EQ(ops()->set_weight(a[1], "zz-unused", 3.0), 0);
            ASSERT_EQ(ops()->set_weight(a[1], "zz-unused", 1.0), 0);
            for (int k = 0; k < 2; k++)
                ops()->allocate(a[k], now);
            ASSERT_EQ(s[0].n, s[1].n);
            for (size_t i = 0; i < s[0].n; i++) {
                ASSERT_STREQ(s[0].v[i].fw, s[1].v[i].fw);
                ASSERT_STREQ(s[0].v[i].agent, s[1].v[i].agent);
                ASSERT_TRUE(ag_resources_equal(&s[0].v[i].res, &s[1].v[i].res));
            }
            for (int k = 0; k < 2; k++)
                sink_move(&held[k], &s[k]);
        } else if (r < 7 && held[0].n > 0) {
            size_t i = (seed >> 4) % held[0].n;
            /* Keep part of it (a task) now and then. */
            bool keep = (seed >> 9) & 1;
            for (int k = 0; k < 2; k++) {
                struct offer *o = &held[k].v[i];
                if (keep) {
                    struct ag_resources task = R("cpus:1");
                    ASSERT_EQ(ag_resources_set_allocation_role(&task, o->role), 0);
                    (void)ag_resources_subtract(&o->res, &task);
                    ag_resources_release(&task);
                }
                ops()->recover(a[k], o->fw, o->role, o->agent, &o->res, (double)(r - 3), now);
                ag_resources_release(&o->res);
                *o = held[k].v[--held[k].n];
            }
        } else {
            snprintf(id, sizeof(id), "f%02u", (seed >> 5) % 14);
            for (int k = 0; k < 2; k++) {
                if ((seed >> 11) & 1)
                    ops()->suppress(a[k], id, NULL, 0);
                else
                    ops()->revive(a[k], id, NULL, 0, now);
            }
        }
    }
    for (int k = 0; k < 2; k++) {
        sink_release(&held[k]);
        sink_release(&s[k]);
        ops()->destroy(a[k]);
    }
}

/* Without filters, a round over the changed agents makes the offers a full
 * round does: whatever is free and offerable was changed since the last
 * round. */
TEST(changed_round_matches_full_round)
{
    struct sink s[2] = {{0}}, held[2] = {{0}};
    struct ag_allocator *a[2];
    const char *roles[] = {"*", "eng", "eng/web", "ops"};
    const char *kinds[] = {"cpus:4;mem:4096;ports:[1-10]", "cpus:8;mem:2048;cpus(eng):2",
                           "cpus:2;mem:8192"};
    char id[32];
    for (int k = 0; k < 2; k++) {
        a[k] = ops()->create(NULL, on_offer, &s[k]);
        ASSERT_NOT_NULL(a[k]);
        for (int i = 0; i < 12; i++) {
            snprintf(id, sizeof(id), "ag%02d", i);
            add_agent(a[k], id, kinds[i % 3]);
        }
        for (int i = 0; i < 6; i++) {
            snprintf(id, sizeof(id), "f%02d", i);
            ASSERT_EQ(add_fw(a[k], id, roles[i % 4]), 0);
        }
    }
    unsigned seed = 7;
    for (int step = 0; step < 300; step++) {
        seed = seed * 1103515245u + 12345u;
        unsigned r = (seed >> 16) % 6;
        if (r < 2) {
            ops()->allocate_changed(a[0], step);
            ops()->allocate(a[1], step);
            ASSERT_EQ(s[0].n, s[1].n);
            for (size_t i = 0; i < s[0].n; i++) {
                ASSERT_STREQ(s[0].v[i].fw, s[1].v[i].fw);
                ASSERT_STREQ(s[0].v[i].agent, s[1].v[i].agent);
                ASSERT_TRUE(ag_resources_equal(&s[0].v[i].res, &s[1].v[i].res));
            }
            for (int k = 0; k < 2; k++)
                sink_move(&held[k], &s[k]);
        } else if (r < 5 && held[0].n > 0) {
            size_t i = (seed >> 4) % held[0].n;
            for (int k = 0; k < 2; k++) {
                struct offer *o = &held[k].v[i];
                ops()->recover(a[k], o->fw, o->role, o->agent, &o->res, 0, step);
                ag_resources_release(&o->res);
                *o = held[k].v[--held[k].n];
            }
        } else {
            snprintf(id, sizeof(id), "ag%02u", (seed >> 5) % 12);
            for (int k = 0; k < 2; k++)
                ops()->set_agent_active(a[k], id, (seed >> 11) & 1);
        }
    }
    for (int k = 0; k < 2; k++) {
        sink_release(&held[k]);
        sink_release(&s[k]);
        ops()->destroy(a[k]);
    }
}

/* Filters go with the agent or framework they concern; slots reused
 * afterwards start clean. */
TEST(filters_follow_removals)
{
    struct sink s = {0};
    struct ag_allocator *a = make(&s);
    add_agent(a, "ag1", "cpus:2;mem:1024");
    ASSERT_EQ(add_fw(a, "F", "*"), 0);
    ASSERT_EQ(add_fw(a, "G", "*"), 0);
    ops()->allocate(a, 0);
    ASSERT_EQ(s.n, 1);
    ASSERT_STREQ(s.v[0].fw, "F");
    recover_all(a, &s, 100, 0);
    ops()->allocate(a, 1);
    ASSERT_EQ(s.n, 1);
    ASSERT_STREQ(s.v[0].fw, "G");
    recover_all(a, &s, 100, 1);
    ops()->allocate(a, 2);
    ASSERT_EQ(s.n, 0);
    ops()->remove_framework(a, "G");
    ops()->allocate(a, 3);
    ASSERT_EQ(s.n, 0); /* F is still filtered */
    /* A new framework may take G's slot: it has no filter. */
    ASSERT_EQ(add_fw(a, "H", "*"), 0);
    ops()->allocate(a, 4);
    ASSERT_EQ(s.n, 1);
    ASSERT_STREQ(s.v[0].fw, "H");
    recover_all(a, &s, 100, 4);
    /* The agent goes and comes back: its filters went with it. */
    ops()->remove_agent(a, "ag1");
    add_agent(a, "ag1", "cpus:2;mem:1024");
    ops()->allocate(a, 5);
    ASSERT_EQ(s.n, 1);
    ASSERT_STREQ(s.v[0].fw, "F");
    recover_all(a, &s, 100, 5);
    ops()->allocate(a, 6);
    ASSERT_EQ(s.n, 1);
    ASSERT_STREQ(s.v[0].fw, "H");
    recover_all(a, &s, 100, 6);
    ops()->allocate(a, 7);
    ASSERT_EQ(s.n, 0);
    const char *star[] = {"*"};
    ops()->revive(a, "F", star, 1, 8);
    ops()->allocate(a, 8);
    ASSERT_EQ(s.n, 1);
    ASSERT_STREQ(s.v[0].fw, "F");
    sink_release(&s);
    ops()->destroy(a);
}

/* Random events, transforms and total updates against a model of what the
 * master holds: offers never overlap what is held, reservations stay with
 * their roles, and once all is given back each agent is offered exactly
 * its (current) total. */
TEST(random_invariants)
{
    struct sink s = {0}, held = {0};
    struct ag_allocator *a = make(&s);
    const char *base[] = {"cpus:4;mem:4096;ports:[1000-1099]",
                          "cpus:8;mem:2048;cpus(a):2;mem(a):512", "cpus:2;mem:8192;disk:100"};
    enum { NA = 6 };
    struct ag_resources totals[NA];
    char id[32];
    for (int i = 0; i < NA; i++) {
        snprintf(id, sizeof(id), "ag%d", i);
        totals[i] = R(base[i % 3]);
        ASSERT_EQ(ops()->add_agent(a, id, &totals[i]), 0);
    }
    const char *fws[] = {"f0", "f1", "f2", "f3"};
    const char *roles[] = {"*", "a", "a/b", "c"};
    for (int i = 0; i < 4; i++)
        ASSERT_EQ(add_fw(a, fws[i], roles[i]), 0);
    ASSERT_EQ(quota(a, "c", "cpus:3", "cpus:6;mem:6000"), 0);
    ASSERT_EQ(ops()->set_weight(a, "a", 2), 0);
    unsigned seed = 4242;
    double now = 0;
    for (int step = 0; step < 600; step++) {
        seed = seed * 1103515245u + 12345u;
        unsigned r = (seed >> 16) % 12;
        now += 0.5;
        if (r < 4) {
            if (r & 1)
                ops()->allocate(a, now);
            else
                ops()->allocate_changed(a, now);
            ASSERT_TRUE(reservations_respected(&s));
            sink_move(&held, &s);
        } else if (r < 7 && held.n > 0) {
            size_t k = (seed >> 8) % held.n;
            ops()->recover(a, held.v[k].fw, held.v[k].role, held.v[k].agent, &held.v[k].res,
                           (double)(r - 4), now);
            ag_resources_release(&held.v[k].res);
            held.v[k] = held.v[--held.n];
        } else if (r == 7 && held.n > 0) {
            /* RESERVE one unreserved cpu of a held offer for its role. */
            struct offer *o = &held.v[(seed >> 8) % held.n];
            /* Not "*" (cannot reserve) nor "c" (keeps its limit exact). */
            if (strcmp(o->role, "*") == 0 || strcmp(o->role, "c") == 0)
                goto check;
            struct ag_resources from = R("cpus:1"), to;
            char text[96];
            snprintf(text, sizeof(text), "cpus(%s):1", o->role);
            to = R(text);
            int ai = o->agent[2] - '0';
            ASSERT_EQ(ag_resources_set_allocation_role(&from, o->role), 0);
            if (ag_resources_contains(&o->res, &from)) {
                ASSERT_EQ(ops()->transform(a, o->fw, o->role, o->agent, &from, &to), 0);
                ASSERT_EQ(ag_resources_subtract(&o->res, &from), 0);
                ASSERT_EQ(ag_resources_set_allocation_role(&to, o->role), 0);
                ASSERT_EQ(ag_resources_add(&o->res, &to), 0);
                ASSERT_EQ(ag_resources_set_allocation_role(&from, NULL), 0);
                ASSERT_EQ(ag_resources_set_allocation_role(&to, NULL), 0);
                ASSERT_EQ(ag_resources_subtract(&totals[ai], &from), 0);
                ASSERT_EQ(ag_resources_add(&totals[ai], &to), 0);
            } else {
                /* Never more than the whole agent: cannot be held. */
                struct ag_resources lots = R("cpus:1000");
                snprintf(text, sizeof(text), "cpus(%s):1000", o->role);
                struct ag_resources lots_to = R(text);
                ASSERT_EQ(ops()->transform(a, o->fw, o->role, o->agent, &lots, &lots_to), -ERANGE);
                ag_resources_release(&lots);
                ag_resources_release(&lots_to);
            }
            ag_resources_release(&from);
            ag_resources_release(&to);
        } else if (r == 8) {
            /* Grow an agent's total by one unreserved cpu. */
            int ai = (int)((seed >> 8) % NA);
            snprintf(id, sizeof(id), "ag%d", ai);
            struct ag_resources one = R("cpus:1"), t;
            ag_resources_init(&t);
            ASSERT_EQ(ag_resources_copy(&t, &totals[ai]), 0);
            ASSERT_EQ(ag_resources_add(&t, &one), 0);
            ASSERT_EQ(ops()->update_agent(a, id, &t), 0);
            ag_resources_release(&totals[ai]);
            totals[ai] = t;
            ag_resources_release(&one);
        } else if (r == 9) {
            const char *f = fws[(seed >> 8) % 4];
            if ((seed >> 12) & 1)
                ops()->suppress(a, f, NULL, 0);
            else
                ops()->revive(a, f, NULL, 0, now);
        } else if (r == 10) {
            snprintf(id, sizeof(id), "ag%u", (seed >> 8) % NA);
            ops()->set_agent_active(a, id, (seed >> 12) & 1);
        } else {
            /* Shrinking an agent below what is held is refused. */
            int ai = (int)((seed >> 8) % NA);
            snprintf(id, sizeof(id), "ag%d", ai);
            struct ag_resources none = R("mem:1");
            int rc = ops()->update_agent(a, id, &none);
            bool holds = false;
            for (size_t k = 0; k < held.n; k++)
                holds |= strcmp(held.v[k].agent, id) == 0;
            if (holds)
                ASSERT_EQ(rc, -ERANGE);
            else
                ASSERT_EQ(ops()->update_agent(a, id, &totals[ai]), 0);
            ag_resources_release(&none);
        }
    check:
        /* What is held on each agent fits in its total. */
        for (int i = 0; i < NA; i++) {
            snprintf(id, sizeof(id), "ag%d", i);
            struct ag_resources sum;
            ag_resources_init(&sum);
            for (size_t k = 0; k < held.n; k++) {
                if (strcmp(held.v[k].agent, id) == 0)
                    ASSERT_EQ(ag_resources_add(&sum, &held.v[k].res), 0);
            }
            ASSERT_EQ(ag_resources_set_allocation_role(&sum, NULL), 0);
            ASSERT_TRUE(ag_resources_contains(&totals[i], &sum));
            /* Scalars add exactly: their sum cannot exceed the total. */
            ASSERT_TRUE(ag_resources_scalar(&sum, "cpus") <=
                        ag_resources_scalar(&totals[i], "cpus") + 1e-9);
            ag_resources_release(&sum);
        }
        /* The limit of "c" holds throughout. */
        double c_cpus = 0;
        for (size_t k = 0; k < held.n; k++) {
            if (strcmp(held.v[k].role, "c") == 0)
                c_cpus += ag_resources_scalar(&held.v[k].res, "cpus");
        }
        ASSERT_TRUE(c_cpus <= 6 + 1e-9);
    }
    recover_all(a, &held, 0, now);
    ASSERT_EQ(quota(a, "c", NULL, NULL), 0);
    for (int i = 0; i < NA; i++) {
        snprintf(id, sizeof(id), "ag%d", i);
        ops()->set_agent_active(a, id, true);
    }
    for (int i = 0; i < 4; i++)
        ops()->revive(a, fws[i], NULL, 0, now);
    ops()->allocate(a, now);
    for (int i = 0; i < NA; i++) {
        snprintf(id, sizeof(id), "ag%d", i);
        struct ag_resources sum;
        ag_resources_init(&sum);
        for (size_t k = 0; k < s.n; k++) {
            if (strcmp(s.v[k].agent, id) == 0)
                ASSERT_EQ(ag_resources_add(&sum, &s.v[k].res), 0);
        }
        ASSERT_EQ(ag_resources_set_allocation_role(&sum, NULL), 0);
        ASSERT_TRUE(ag_resources_equal(&sum, &totals[i]));
        ag_resources_release(&sum);
        ag_resources_release(&totals[i]);
    }
    ASSERT_TRUE(reservations_respected(&s));
    sink_release(&held);
    sink_release(&s);
    ops()->destroy(a);
}

TEST_MAIN(TEST_CASE(hierarchy_splits_parent_share), TEST_CASE(hierarchy_parent_with_own_clients),
          TEST_CASE(guarantee_before_fair_share), TEST_CASE(guarantee_offer_is_capped),
          TEST_CASE(guarantee_brings_unguaranteed_names), TEST_CASE(limit_never_exceeded),
          TEST_CASE(zero_limit_means_none), TEST_CASE(headroom_held_back),
          TEST_CASE(quota_bad_input), TEST_CASE(reservations_role_and_descendants),
          TEST_CASE(excluded_names_do_not_count), TEST_CASE(min_allocatable_alternatives),
          TEST_CASE(multi_role_one_role_per_offer),
          TEST_CASE(update_agent_grows_and_refuses_below_allocated),
          TEST_CASE(transform_reserve_and_unreserve),
          TEST_CASE(allocate_changed_visits_changed_agents), TEST_CASE(ports_split_and_return),
          TEST_CASE(new_ops_bad_input), TEST_CASE(incremental_order_matches_rebuild),
          TEST_CASE(changed_round_matches_full_round), TEST_CASE(filters_follow_removals),
          TEST_CASE(random_invariants))
