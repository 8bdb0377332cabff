/*
 * drf: Dominant Resource Fairness, the default policy.
 *
 * At the start of a round the eligible (framework, role) clients are
 * grouped by role; roles are sorted by weighted dominant share
 * (allocation / cluster total, maximised over scalar names, divided by the
 * role's weight) and clients within a role by their own dominant share;
 * ties go to the smaller name, so rounds are reproducible. Shares count
 * everything allocated: offered and in use.
 *
 * Each active agent is then visited once. For each role in order, the
 * part of the agent's free resources that role may have (unreserved plus
 * its own and its ancestors' reservations) goes, whole, to the first
 * client of the role that does not filter it. That client and its role
 * then move back in the order (binary search + memmove, after the agent so
 * the walk itself never sees the order change), so the next agent goes to
 * whoever is now furthest below its share.
 *
 * Cost of a round: O(C log C) to sort C clients, then per agent one pass
 * over the roles until the agent is empty, and per offer O(log C)
 * compares plus a memmove; a client with a filter on the agent costs a
 * table lookup and, while the filter lives, a subset test.
 */
#include "allocator/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* A client offered resources during one agent's visit, and where it and
 * its role sat in the order. */
struct drf_touched {
    uint32_t client, pos, role_pos;
};

struct drf_scratch {
    uint32_t *order; /* clients grouped by role, each group sorted */
    uint32_t *roles; /* roles with eligible clients, sorted */
    struct drf_touched *touched;
    size_t cap_order, cap_roles, cap_touched;
};

static void scratch_free(void *p)
{
    struct drf_scratch *s = p;
    if (!s)
        return;
    free(s->order);
    free(s->roles);
    free(s->touched);
    free(s);
}

/* Grows *arr (elements of `size` bytes) to hold n. 0 or -ENOMEM. */
static int reserve(void **arr, size_t size, size_t *cap, size_t n)
{
    if (n <= *cap)
        return 0;
    size_t ncap = *cap ? *cap : 64;
    while (ncap < n)
        ncap *= 2;
    void *na = realloc(*arr, ncap * size);
    if (!na)
        return -ENOMEM;
    *arr = na;
    *cap = ncap;
    return 0;
}

static int client_cmp(const struct ag_allocator *a, uint32_t x, uint32_t y)
{
    const struct ag__alloc_client *cx = &a->clients[x], *cy = &a->clients[y];
    if (cx->share != cy->share)
        return cx->share < cy->share ? -1 : 1;
    return strcmp(a->frameworks[cx->framework].id, a->frameworks[cy->framework].id);
}

static int role_cmp(const struct ag_allocator *a, uint32_t x, uint32_t y)
{
    const struct ag__alloc_role *rx = &a->roles[x], *ry = &a->roles[y];
    if (rx->share != ry->share)
        return rx->share < ry->share ? -1 : 1;
    return strcmp(rx->name, ry->name);
}

static int client_qcmp(const void *x, const void *y, void *a)
{
    return client_cmp(a, *(const uint32_t *)x, *(const uint32_t *)y);
}

static int role_qcmp(const void *x, const void *y, void *a)
{
    return role_cmp(a, *(const uint32_t *)x, *(const uint32_t *)y);
}

static double role_share(const struct ag_allocator *a, uint32_t ri)
{
    return ag__alloc_share(a, a->roles[ri].alloc) / a->roles[ri].weight;
}

/* Groups the eligible clients by role and sorts clients and roles. Fills
 * s->order and s->roles; returns the number of roles, or -ENOMEM. */
static int build_order(struct ag_allocator *a, struct drf_scratch *s)
{
    uint32_t n_roles = 0, n_clients = 0;
    for (uint32_t ri = 0; ri < a->role_pool.n; ri++)
        a->roles[ri].end = 0;
    for (uint32_t ci = 0; ci < a->client_pool.n; ci++) {
        if (!ag__alloc_client_eligible(a, ci))
            continue;
        struct ag__alloc_role *r = &a->roles[a->clients[ci].role];
        if (r->end++ == 0)
            n_roles++;
        n_clients++;
    }
    if (n_roles == 0)
        return 0;
    if (reserve((void **)&s->order, sizeof(*s->order), &s->cap_order, n_clients) < 0 ||
        reserve((void **)&s->roles, sizeof(*s->roles), &s->cap_roles, n_roles) < 0 ||
        reserve((void **)&s->touched, sizeof(*s->touched), &s->cap_touched, n_roles) < 0)
        return -ENOMEM;

    /* Counting sort into role groups: begin = offset, end = fill cursor. */
    uint32_t off = 0, k = 0;
    for (uint32_t ri = 0; ri < a->role_pool.n; ri++) {
        struct ag__alloc_role *r = &a->roles[ri];
        if (!r->name || r->end == 0)
            continue;
        r->begin = off;
        off += r->end;
        r->end = r->begin;
        r->share = role_share(a, ri);
        s->roles[k++] = ri;
    }
    for (uint32_t ci = 0; ci < a->client_pool.n; ci++) {
        if (!ag__alloc_client_eligible(a, ci))
            continue;
        struct ag__alloc_client *c = &a->clients[ci];
        c->share = ag__alloc_share(a, c->alloc);
        s->order[a->roles[c->role].end++] = ci;
    }
    for (k = 0; k < n_roles; k++) {
        struct ag__alloc_role *r = &a->roles[s->roles[k]];
        qsort_r(s->order + r->begin, r->end - r->begin, sizeof(uint32_t), client_qcmp, a);
    }
    qsort_r(s->roles, n_roles, sizeof(uint32_t), role_qcmp, a);
    return (int)n_roles;
}

/* Moves arr[pos] (whose key just grew) right to its sorted place within
 * [pos, end). */
static void move_back(const struct ag_allocator *a, uint32_t *arr, uint32_t pos, uint32_t end,
                      int (*cmp)(const struct ag_allocator *, uint32_t, uint32_t))
{
    uint32_t x = arr[pos];
    uint32_t lo = pos + 1, hi = end; /* first index whose key exceeds x's */
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (cmp(a, arr[mid], x) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    uint32_t dst = lo - 1;
    if (dst == pos)
        return;
    memmove(arr + pos, arr + pos + 1, (size_t)(dst - pos) * sizeof(*arr));
    arr[dst] = x;
}

/* Offers agent ai to the roles in order; returns the number of clients
 * offered (their indices in s->touched). */
static uint32_t visit_agent(struct ag_allocator *a, struct drf_scratch *s, uint32_t n_roles,
                            uint32_t ai, struct ag_resources *tmp, double now)
{
    uint32_t n_touched = 0;
    for (uint32_t k = 0; k < n_roles; k++) {
        uint32_t ri = s->roles[k];
        const struct ag__alloc_role *r = &a->roles[ri];
        const struct ag_resources *offer;
        if (ag__alloc_offerable(a, ai, ri, tmp, &offer) < 0 || !ag__alloc_allocatable(a, offer))
            continue;
        for (uint32_t p = r->begin; p < r->end; p++) {
            uint32_t ci = s->order[p];
            if (ag__alloc_filtered(a, ci, ai, offer, now))
                continue;
            if (ag__alloc_make_offer(a, ci, ai, offer) == 0)
                s->touched[n_touched++] = (struct drf_touched){ci, p, k};
            break;
        }
        if (ag_resources_empty(&a->agents[ai].available))
            break;
    }
    return n_touched;
}

static void drf_round(struct ag_allocator *a, double now)
{
    struct drf_scratch *s = a->policy;
    if (!s) {
        s = calloc(1, sizeof(*s));
        if (!s)
            return;
        a->policy = s;
        a->policy_free = scratch_free;
    }
    int n_roles = build_order(a, s);
    if (n_roles <= 0)
        return;
    struct ag_resources tmp;
    ag_resources_init(&tmp);
    for (uint32_t ai = 0; ai < a->agent_pool.n; ai++) {
        if (!ag__alloc_agent_offerable(a, ai))
            continue;
        uint32_t n = visit_agent(a, s, (uint32_t)n_roles, ai, &tmp, now);
        /* Latest role first: moving a role back shifts only roles after
         * it, so the recorded positions of earlier ones stay right. Each
         * role has one touched client, so client positions cannot clash. */
        for (uint32_t t = n; t-- > 0;) {
            const struct drf_touched *to = &s->touched[t];
            struct ag__alloc_client *c = &a->clients[to->client];
            struct ag__alloc_role *r = &a->roles[c->role];
            c->share = ag__alloc_share(a, c->alloc);
            move_back(a, s->order, to->pos, r->end, client_cmp);
            r->share = role_share(a, c->role);
            move_back(a, s->roles, to->role_pos, (uint32_t)n_roles, role_cmp);
        }
    }
    ag_resources_release(&tmp);
}

static void drf_allocate(struct ag_allocator *a, double now)
{
    ag__alloc_run_round(a, now, drf_round);
}

static struct ag_allocator *drf_create(const struct ag_allocator_options *options,
                                       ag_allocator_offer_cb offer, void *ctx);

const struct ag_allocator_ops ag__alloc_drf_ops = {
    .name = "drf",
    .create = drf_create,
    .destroy = ag__alloc_destroy,
    .add_framework = ag__alloc_add_framework,
    .remove_framework = ag__alloc_remove_framework,
    .set_framework_active = ag__alloc_set_framework_active,
    .add_agent = ag__alloc_add_agent,
    .remove_agent = ag__alloc_remove_agent,
    .set_agent_active = ag__alloc_set_agent_active,
    .add_used = ag__alloc_add_used,
    .recover = ag__alloc_recover,
    .suppress = ag__alloc_suppress,
    .revive = ag__alloc_revive,
    .set_weight = ag__alloc_set_weight,
    .allocate = drf_allocate,
};

static struct ag_allocator *drf_create(const struct ag_allocator_options *options,
                                       ag_allocator_offer_cb offer, void *ctx)
{
    return ag__alloc_create(&ag__alloc_drf_ops, options, offer, ctx);
}
