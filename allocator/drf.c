/*
 * drf: hierarchical Dominant Resource Fairness, the default policy.
 *
 * Roles form a tree by name ("eng" holds "eng/web"). Each role node keeps
 * a sorted list of its children that have eligible clients somewhere
 * below, plus a "self" leaf (SELF|ri) standing for the role's own clients,
 * as Mesos's sorter does with its virtual "." leaf; the top-level roles
 * sit in the root list. A node's key is its weighted dominant share:
 * max over scalar names (excluded names left out) of consumed / cluster
 * total, divided by the role's weight, where consumed is what its subtree
 * is allocated plus the reservations of its subtree that lie free on
 * active agents (Mesos counts reservations toward a role's share). The
 * self leaf uses only the role's own clients' allocation. Each role's
 * eligible clients are sorted by their own dominant share. Ties go to
 * the self leaf, then the smaller name, so rounds are reproducible.
 *
 * A round visits agents (those with something free, found through a
 * bitset, or only those changed since the last round); for each, a depth-first walk of the sorted
 * tree offers the part of the agent each role may have (ancestors' reservations, unreserved
 * resources capped by quota) to the first client of the role whose decline filters do not cover it.
 * When any guarantee is unmet, a first pass (stage 1) offers only toward unmet guarantees; the
 * second pass (stage 2) offers to everyone, capped by limits and by the headroom unmet guarantees
 * still need.
 *
 * The order is kept between rounds: any change of a client's allocation
 * or a role's consumption moves that client and its roles to their new
 * places (binary search + memmove per tree level, O(depth log n)); during
 * an agent's visit such moves are deferred to the end of the visit, so
 * the walk sees a fixed order per agent (as Mesos sorts once per agent).
 * Eligibility, weight, quota or cluster-total changes mark the order
 * stale; the next round rebuilds it in O(C log C).
 *
 * Cost: a visit that ends in a whole-agent offer is a walk down one path
 * of the tree plus one filter lookup per client skipped; no allocation
 * happens except for the offer's own resource set.
 */
#include "allocator/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define SELF 0x80000000u

struct drf_state {
    struct ag__alloc_olist root; /* top-level roles in the tree, sorted */
    struct ag__alloc_list names; /* rebuild scratch: ranking by name */
    struct ag__alloc_list touched_clients, touched_roles;
    bool in_visit;
};

static void state_free(void *p)
{
    struct drf_state *st = p;
    if (!st)
        return;
    free(st->root.v);
    free(st->names.v);
    free(st->touched_clients.v);
    free(st->touched_roles.v);
    free(st);
}

static int push(struct ag__alloc_list *l, uint32_t x)
{
    if (l->n == l->cap) {
        uint32_t ncap = l->cap ? l->cap * 2 : 8;
        uint32_t *nv = realloc(l->v, (size_t)ncap * sizeof(*nv));
        if (!nv)
            return -ENOMEM;
        l->v = nv;
        l->cap = ncap;
    }
    l->v[l->n++] = x;
    return 0;
}

/* ---- keys and comparisons --------------------------------------------------- */

static double role_key(const struct ag_allocator *a, uint32_t ri)
{
    const struct ag__alloc_role *r = &a->roles[ri];
    double share = 0.0;
    for (uint32_t i = 0; i < a->n_names; i++) {
        double s = (double)(r->alloc[i] + r->unalloc_res[i]) * a->inv_total[i];
        if (s > share)
            share = s;
    }
    return share / r->weight;
}

static double self_key(const struct ag_allocator *a, uint32_t ri)
{
    return ag__alloc_share(a, a->roles[ri].own) / a->roles[ri].weight;
}

static int client_name_qcmp(const void *x, const void *y, void *arg)
{
    const struct ag_allocator *a = arg;
    const struct ag__alloc_client *cx = &a->clients[*(const uint32_t *)x];
    const struct ag__alloc_client *cy = &a->clients[*(const uint32_t *)y];
    return strcmp(a->frameworks[cx->framework].id, a->frameworks[cy->framework].id);
}

static int role_name_qcmp(const void *x, const void *y, void *arg)
{
    const struct ag_allocator *a = arg;
    return strcmp(a->roles[*(const uint32_t *)x].name, a->roles[*(const uint32_t *)y].name);
}

/* Order: key, then tie (a client's name rank; for kids 0 for the self
 * leaf, then role name rank + 1). Ties are unique within a list. */
static int ocmp(const struct ag__alloc_oentry *x, const struct ag__alloc_oentry *y)
{
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return x->tie < y->tie ? -1 : x->tie > y->tie;
}

static int oqcmp(const void *x, const void *y)
{
    return ocmp(x, y);
}

static int opush(struct ag__alloc_olist *l, uint32_t id, double key, uint32_t tie)
{
    if (l->n == l->cap) {
        uint32_t ncap = l->cap ? l->cap * 2 : 8;
        struct ag__alloc_oentry *nv = realloc(l->v, (size_t)ncap * sizeof(*nv));
        if (!nv)
            return -ENOMEM;
        l->v = nv;
        l->cap = ncap;
    }
    l->v[l->n++] = (struct ag__alloc_oentry){key, tie, id};
    return 0;
}

/* First position in [lo, hi) of l whose entry does not sort before e. */
static uint32_t lower_bound(const struct ag__alloc_olist *l, uint32_t lo, uint32_t hi,
                            const struct ag__alloc_oentry *e)
{
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (ocmp(&l->v[mid], e) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Moves entry `id` (sorted under old_key, tie) of l to its place under
 * new_key. */
static void list_move(struct ag__alloc_olist *l, uint32_t id, uint32_t tie, double old_key,
                      double new_key)
{
    struct ag__alloc_oentry e = {old_key, tie, id};
    uint32_t pos = lower_bound(l, 0, l->n, &e);
    if (pos >= l->n || l->v[pos].id != id) {
        /* Not where its cached key says: cannot happen while every key
         * change goes through here, but stay safe. */
        for (pos = 0; pos < l->n && l->v[pos].id != id; pos++)
            ;
        if (pos == l->n)
            return;
    }
    e.key = new_key;
    uint32_t dst;
    if (pos + 1 < l->n && ocmp(&l->v[pos + 1], &e) < 0) {
        dst = lower_bound(l, pos + 1, l->n, &e) - 1;
        memmove(l->v + pos, l->v + pos + 1, (size_t)(dst - pos) * sizeof(e));
    } else if (pos > 0 && ocmp(&l->v[pos - 1], &e) > 0) {
        dst = lower_bound(l, 0, pos, &e);
        memmove(l->v + dst + 1, l->v + dst, (size_t)(pos - dst) * sizeof(e));
    } else {
        dst = pos;
    }
    l->v[dst] = e;
}

/* ---- keeping the order ---------------------------------------------------- */

static struct ag__alloc_olist *parent_list(struct ag_allocator *a, struct drf_state *st,
                                           uint32_t ri)
{
    uint32_t p = a->roles[ri].parent;
    return p == AG_ALLOC_NONE ? &st->root : &a->roles[p].kids;
}

/* Role ri's consumption changed: move it and its ancestors. */
static void move_role_chain(struct ag_allocator *a, struct drf_state *st, uint32_t ri)
{
    for (uint32_t r = ri; r != AG_ALLOC_NONE; r = a->roles[r].parent) {
        struct ag__alloc_role *role = &a->roles[r];
        if (!role->in_tree)
            continue;
        double old = role->key;
        role->key = role_key(a, r);
        if (role->key != old)
            list_move(parent_list(a, st, r), r, role->rank + 1, old, role->key);
    }
}

static void move_client(struct ag_allocator *a, struct drf_state *st, uint32_t ci)
{
    struct ag__alloc_client *c = &a->clients[ci];
    uint32_t ri = c->role;
    if (c->in_order) {
        double old = c->share;
        c->share = ag__alloc_share(a, c->alloc);
        if (c->share != old)
            list_move(&a->roles[ri].order, ci, c->rank, old, c->share);
        struct ag__alloc_role *r = &a->roles[ri];
        old = r->self_key;
        r->self_key = self_key(a, ri);
        if (r->self_key != old)
            list_move(&r->kids, SELF | ri, 0, old, r->self_key);
    }
    move_role_chain(a, st, ri);
}

static void touch_client(struct ag_allocator *a, uint32_t ci)
{
    struct drf_state *st = a->policy;
    if (!st || a->stale)
        return;
    if (st->in_visit) {
        if (push(&st->touched_clients, ci) < 0)
            a->stale = true;
        return;
    }
    move_client(a, st, ci);
}

static void touch_role(struct ag_allocator *a, uint32_t ri)
{
    struct drf_state *st = a->policy;
    if (!st || a->stale)
        return;
    if (st->in_visit) {
        if (push(&st->touched_roles, ri) < 0)
            a->stale = true;
        return;
    }
    move_role_chain(a, st, ri);
}

/* Rebuilds the whole order from scratch. 0 or -ENOMEM (stays stale). */
static int rebuild(struct ag_allocator *a, struct drf_state *st)
{
    ag__alloc_refresh_totals(a);
    st->root.n = 0;
    for (uint32_t ri = 0; ri < a->role_pool.n; ri++) {
        a->roles[ri].in_tree = false;
        a->roles[ri].kids.n = 0;
        a->roles[ri].order.n = 0;
    }
    /* Which clients and roles take part, then their ranks by name (so
     * that ties never compare strings again), then the lists. */
    st->names.n = 0;
    for (uint32_t ci = 0; ci < a->client_pool.n; ci++) {
        struct ag__alloc_client *c = &a->clients[ci];
        c->in_order = ag__alloc_client_eligible(a, ci);
        if (!c->in_order)
            continue;
        if (push(&st->names, ci) < 0)
            return -ENOMEM;
        for (uint32_t r = c->role; r != AG_ALLOC_NONE && !a->roles[r].in_tree;
             r = a->roles[r].parent)
            a->roles[r].in_tree = true;
    }
    if (st->names.n > 1)
        qsort_r(st->names.v, st->names.n, sizeof(uint32_t), client_name_qcmp, a);
    for (uint32_t k = 0; k < st->names.n; k++) {
        struct ag__alloc_client *c = &a->clients[st->names.v[k]];
        c->rank = k;
        c->share = ag__alloc_share(a, c->alloc);
        if (opush(&a->roles[c->role].order, st->names.v[k], c->share, k) < 0)
            return -ENOMEM;
    }
    st->names.n = 0;
    for (uint32_t ri = 0; ri < a->role_pool.n; ri++) {
        if (a->roles[ri].in_tree && push(&st->names, ri) < 0)
            return -ENOMEM;
    }
    if (st->names.n > 1)
        qsort_r(st->names.v, st->names.n, sizeof(uint32_t), role_name_qcmp, a);
    for (uint32_t k = 0; k < st->names.n; k++)
        a->roles[st->names.v[k]].rank = k;
    for (uint32_t k = 0; k < st->names.n; k++) {
        uint32_t ri = st->names.v[k];
        struct ag__alloc_role *r = &a->roles[ri];
        r->key = role_key(a, ri);
        if (opush(parent_list(a, st, ri), ri, r->key, r->rank + 1) < 0)
            return -ENOMEM;
        if (r->order.n > 0) {
            r->self_key = self_key(a, ri);
            if (opush(&r->kids, SELF | ri, r->self_key, 0) < 0)
                return -ENOMEM;
        }
    }
    for (uint32_t k = 0; k < st->names.n; k++) {
        struct ag__alloc_role *r = &a->roles[st->names.v[k]];
        if (r->order.n > 1)
            qsort(r->order.v, r->order.n, sizeof(*r->order.v), oqcmp);
        if (r->kids.n > 1)
            qsort(r->kids.v, r->kids.n, sizeof(*r->kids.v), oqcmp);
    }
    if (st->root.n > 1)
        qsort(st->root.v, st->root.n, sizeof(*st->root.v), oqcmp);
    a->stale = false;
    return 0;
}

/* ---- a round ------------------------------------------------------------------ */

struct visit {
    uint32_t ai;
    enum ag__alloc_stage stage;
    double now;
    struct ag_resources tmp;
};

/* Offers what role ri may have of the agent to its first client that
 * does not filter it. */
static void offer_role(struct ag_allocator *a, struct visit *v, uint32_t ri)
{
    const struct ag_resources *offer;
    if (ag__alloc_offerable(a, v->ai, ri, v->stage, &v->tmp, &offer) < 0)
        return;
    bool ok = offer == &a->agents[v->ai].available ? ag__alloc_agent_offerable(a, v->ai)
                                                   : ag__alloc_allocatable(a, offer);
    if (!ok)
        return;
    for (uint32_t p = 0; p < a->roles[ri].order.n; p++) {
        uint32_t ci = a->roles[ri].order.v[p].id;
        if (ag__alloc_filtered(a, ci, v->ai, offer, v->now))
            continue;
        (void)ag__alloc_make_offer(a, ci, v->ai, offer);
        return;
    }
}

/* Walks the sorted list of `owner` (AG_ALLOC_NONE: the root); true once
 * the agent has nothing left. Lists are re-read by index on every step:
 * nothing in them moves during a visit, but the role array may grow. */
static bool walk(struct ag_allocator *a, struct drf_state *st, struct visit *v, uint32_t owner)
{
    for (uint32_t k = 0;; k++) {
        const struct ag__alloc_olist *l =
            owner == AG_ALLOC_NONE ? &st->root : &a->roles[owner].kids;
        if (k >= l->n)
            return false;
        uint32_t x = l->v[k].id;
        if (x & SELF)
            offer_role(a, v, x & ~SELF);
        else if (walk(a, st, v, x))
            return true;
        if (a->agents[v->ai].available.n == 0)
            return true;
    }
}

static void visit_agent(struct ag_allocator *a, struct drf_state *st, struct visit *v)
{
    if (!ag__alloc_agent_offerable(a, v->ai))
        return;
    st->in_visit = true;
    walk(a, st, v, AG_ALLOC_NONE);
    st->in_visit = false;
    for (uint32_t k = 0; k < st->touched_clients.n; k++)
        touch_client(a, st->touched_clients.v[k]);
    for (uint32_t k = 0; k < st->touched_roles.n; k++)
        touch_role(a, st->touched_roles.v[k]);
    st->touched_clients.n = 0;
    st->touched_roles.n = 0;
}

static struct drf_state *state_get(struct ag_allocator *a)
{
    return a->policy;
}

static int u32_cmp(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    return a < b ? -1 : a > b;
}

/* The next agent at or after *k with something free (a->free_bits), or
 * false when there is none. */
static bool next_free(const struct ag_allocator *a, uint32_t *k)
{
    uint32_t w = *k / 64;
    if (w >= a->n_free_words)
        return false;
    uint64_t bits = a->free_bits[w] & (~0ull << (*k % 64));
    while (bits == 0) {
        if (++w >= a->n_free_words)
            return false;
        bits = a->free_bits[w];
    }
    *k = w * 64 + (uint32_t)__builtin_ctzll(bits);
    return *k < a->agent_pool.n;
}

/* One pass of `stage` over the agents (those with something free, or the
 * dirty list). */
static void pass(struct ag_allocator *a, struct drf_state *st, struct visit *v, bool all)
{
    uint32_t n = all ? a->agent_pool.n : a->dirty.n;
    for (uint32_t k = 0; k < n; k++) {
        if (all && !next_free(a, &k))
            break;
        v->ai = all ? k : a->dirty.v[k];
        if (v->ai >= a->agent_pool.n)
            continue;
        size_t before = a->n_pending;
        visit_agent(a, st, v);
        /* Stage 1 ends as soon as every guarantee is met. */
        if (v->stage == AG_ALLOC_STAGE_GUARANTEE && a->n_pending != before &&
            !ag__alloc_any_unmet(a))
            break;
    }
}

static void round_over(struct ag_allocator *a, double now, bool all)
{
    struct drf_state *st = state_get(a);
    if (!st)
        return;
    if (a->stale && rebuild(a, st) < 0)
        return;
    if (!all && a->dirty.n > 1) {
        /* Agent order, as a full round visits them: the same events give
         * the same offers either way. */
        qsort(a->dirty.v, a->dirty.n, sizeof(uint32_t), u32_cmp);
    }
    if (st->root.n > 0) {
        struct visit v = {.now = now};
        ag_resources_init(&v.tmp);
        if (ag__alloc_any_unmet(a)) {
            v.stage = AG_ALLOC_STAGE_GUARANTEE;
            pass(a, st, &v, all);
        }
        v.stage = AG_ALLOC_STAGE_FAIR;
        pass(a, st, &v, all);
        ag_resources_release(&v.tmp);
    }
    ag__alloc_clear_dirty(a);
}

static void drf_round_all(struct ag_allocator *a, double now)
{
    round_over(a, now, true);
}

static void drf_round_changed(struct ag_allocator *a, double now)
{
    round_over(a, now, a->all_dirty);
}

static void drf_allocate(struct ag_allocator *a, double now)
{
    ag__alloc_run_round(a, now, drf_round_all);
}

static void drf_allocate_changed(struct ag_allocator *a, double now)
{
    ag__alloc_run_round(a, now, drf_round_changed);
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
    .update_agent = ag__alloc_update_agent,
    .transform = ag__alloc_transform,
    .set_quota = ag__alloc_set_quota,
    .allocate_changed = drf_allocate_changed,
};

static struct ag_allocator *drf_create(const struct ag_allocator_options *options,
                                       ag_allocator_offer_cb offer, void *ctx)
{
    struct ag_allocator *a = ag__alloc_create(&ag__alloc_drf_ops, options, offer, ctx);
    if (!a)
        return NULL;
    struct drf_state *st = calloc(1, sizeof(*st));
    if (!st) {
        ag__alloc_destroy(a);
        return NULL;
    }
    a->policy = st;
    a->policy_free = state_free;
    a->touch_client = touch_client;
    a->touch_role = touch_role;
    return a;
}
