/*
 * state: the bookkeeping shared by every built-in allocator policy (see
 * internal.h). Event handlers are O(1) hash lookups plus resource math on
 * one agent and vector updates along one role chain, except removals,
 * which may walk the agents a removed framework holds resources on, or
 * the clients filtering a removed agent, and the quota checks, which walk
 * the roles that have quota.
 */
#include "allocator/internal.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- dense slot pools ---------------------------------------------------- */

/* A slot index for *items (elements of `size` bytes). A new slot is zeroed;
 * a reused one is left as its free function left it (zeroed except for its
 * generation counter). 0 or -ENOMEM. */
static int pool_take(void **items, size_t size, struct ag__alloc_pool *p, uint32_t *ret)
{
    if (p->n_free > 0) {
        *ret = p->free[--p->n_free];
        return 0;
    }
    if (p->n == p->cap) {
        if (p->cap >= UINT32_MAX / 4)
            return -ENOMEM;
        uint32_t ncap = p->cap ? p->cap * 2 : 16;
        void *ni = realloc(*items, (size_t)ncap * size);
        if (!ni)
            return -ENOMEM;
        *items = ni;
        uint32_t *nf = realloc(p->free, (size_t)ncap * sizeof(*nf));
        if (!nf)
            return -ENOMEM;
        p->free = nf;
        p->cap = ncap;
    }
    uint32_t i = p->n++;
    memset((char *)*items + (size_t)i * size, 0, size);
    *ret = i;
    return 0;
}

static void pool_put(struct ag__alloc_pool *p, uint32_t i)
{
    p->free[p->n_free++] = i;
}

/* ---- scalar names and vectors ---------------------------------------------- */

#define NAME_SLOTS (4 * AG_ALLOC_MAX_SCALARS)

static uint32_t name_hash(const char *name)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h;
}

static uint32_t name_index(const struct ag_allocator *a, const char *name)
{
    for (uint32_t k = name_hash(name) % NAME_SLOTS;; k = (k + 1) % NAME_SLOTS) {
        uint32_t v = a->name_slots[k];
        if (v == 0)
            return AG_ALLOC_NONE;
        if (strcmp(a->names[v - 1], name) == 0)
            return v - 1;
    }
}

/* The index of `name`, interned if new and there is room; AG_ALLOC_NONE
 * if there is not (such names are accounted nowhere, see
 * AG_ALLOC_MAX_SCALARS). */
static uint32_t intern_name(struct ag_allocator *a, const char *name)
{
    uint32_t i = name_index(a, name);
    if (i != AG_ALLOC_NONE || a->n_names == AG_ALLOC_MAX_SCALARS)
        return i;
    char *copy = strdup(name);
    if (!copy)
        return AG_ALLOC_NONE;
    a->names[a->n_names] = copy;
    /* At most a quarter full: an empty slot always ends a probe. */
    uint32_t k = name_hash(copy) % NAME_SLOTS;
    while (a->name_slots[k] != 0)
        k = (k + 1) % NAME_SLOTS;
    a->name_slots[k] = (uint8_t)(a->n_names + 1);
    /* A new name changes every share only once agents carry it. */
    a->stale = true;
    return a->n_names++;
}

/* Interns every scalar and ranges name of r that fits (ranges names so
 * that entries can keep plain ranges inline; their vector columns stay
 * zero). */
static void intern_names(struct ag_allocator *a, const struct ag_resources *r)
{
    for (size_t k = 0; k < r->n; k++) {
        if (r->items[k].type != AG_VALUE_SET)
            (void)intern_name(a, r->items[k].name);
    }
}

/* vec += sign * scalars of r. */
static void vec_apply(const struct ag_allocator *a, int64_t *vec, const struct ag_resources *r,
                      int sign)
{
    for (size_t k = 0; k < r->n; k++) {
        const struct ag_resource *res = &r->items[k];
        if (res->type != AG_VALUE_SCALAR)
            continue;
        uint32_t i = name_index(a, res->name);
        if (i != AG_ALLOC_NONE)
            vec[i] += sign * res->scalar_milli;
    }
}

/* Adds (sign 1) or removes (-1) an allocation to a client, its role and
 * the role's ancestors. */
static void account_vec(struct ag_allocator *a, uint32_t ci, const int64_t *d)
{
    struct ag__alloc_client *c = &a->clients[ci];
    a->req_valid = false;
    for (uint32_t i = 0; i < a->n_names; i++) {
        c->alloc[i] += d[i];
        a->roles[c->role].own[i] += d[i];
    }
    for (uint32_t ri = c->role; ri != AG_ALLOC_NONE; ri = a->roles[ri].parent) {
        for (uint32_t i = 0; i < a->n_names; i++)
            a->roles[ri].alloc[i] += d[i];
    }
    if (a->touch_client)
        a->touch_client(a, ci);
}

static void account(struct ag_allocator *a, uint32_t ci, const struct ag_resources *r, int sign)
{
    int64_t d[AG_ALLOC_MAX_SCALARS] = {0};
    vec_apply(a, d, r, sign);
    account_vec(a, ci, d);
}

/* The scalar sums of a resource set, taken in one pass so the hot path
 * looks each name up once. */
struct scan {
    int64_t all[AG_ALLOC_MAX_SCALARS];    /* every scalar */
    int64_t unres[AG_ALLOC_MAX_SCALARS];  /* unreserved scalars */
    int64_t simple[AG_ALLOC_MAX_SCALARS]; /* what an entry keeps as numbers */
    bool reserved;                        /* some scalar is reserved */
    bool nonsimple;                       /* some entry is kept as a resource */
    bool plain;                           /* every scalar entry is plain */
};

static void scan_set(const struct ag_allocator *a, const struct ag_resources *r, struct scan *sc)
{
    memset(sc, 0, sizeof(*sc));
    for (size_t k = 0; k < r->n; k++) {
        const struct ag_resource *res = &r->items[k];
        uint32_t i = res->type == AG_VALUE_SCALAR ? name_index(a, res->name) : AG_ALLOC_NONE;
        if (i == AG_ALLOC_NONE) {
            sc->nonsimple = true;
            continue;
        }
        int64_t v = res->scalar_milli;
        sc->all[i] += v;
        if (res->n_reservations > 0) {
            sc->reserved = true;
            sc->nonsimple = true;
            continue;
        }
        sc->unres[i] += v;
        if (res->revocable || res->disk || res->allocation_role)
            sc->nonsimple = true;
        else
            sc->simple[i] += v;
    }
}

/* scan_set of a plain agent's whole free set, from its free vector: no
 * name is looked up (nor its string touched). */
static void scan_plain(const struct ag_allocator *a, const struct ag__alloc_agent *ag,
                       struct scan *sc)
{
    memcpy(sc->all, ag->free_scalar, sizeof(sc->all));
    memcpy(sc->unres, ag->free_scalar, sizeof(sc->unres));
    memcpy(sc->simple, ag->free_scalar, sizeof(sc->simple));
    sc->reserved = false;
    sc->plain = true;
    sc->nonsimple = false;
    for (size_t k = 0; k < ag->available.n && !sc->nonsimple; k++)
        sc->nonsimple = ag->available.items[k].type != AG_VALUE_SCALAR;
    (void)a;
}

double ag__alloc_share(const struct ag_allocator *a, const int64_t *alloc)
{
    double share = 0.0;
    for (uint32_t i = 0; i < a->n_names; i++) {
        double s = (double)alloc[i] * a->inv_total[i];
        if (s > share)
            share = s;
    }
    return share;
}

void ag__alloc_refresh_totals(struct ag_allocator *a)
{
    for (uint32_t i = 0; i < AG_ALLOC_MAX_SCALARS; i++) {
        bool use = i < a->n_names && a->cluster_total[i] > 0 && !(a->excluded_mask & (1u << i));
        a->inv_total[i] = use ? 1.0 / (double)a->cluster_total[i] : 0.0;
    }
}

int64_t ag__alloc_consumed(const struct ag_allocator *a, uint32_t ri, uint32_t i)
{
    return a->roles[ri].alloc[i] + a->roles[ri].unalloc_res[i];
}

static int list_push(struct ag__alloc_list *l, uint32_t x)
{
    if (l->n == l->cap) {
        uint32_t ncap = l->cap ? l->cap * 2 : 16;
        uint32_t *nv = realloc(l->v, (size_t)ncap * sizeof(*nv));
        if (!nv)
            return -ENOMEM;
        l->v = nv;
        l->cap = ncap;
    }
    l->v[l->n++] = x;
    return 0;
}

void ag__alloc_mark_dirty(struct ag_allocator *a, uint32_t ai)
{
    struct ag__alloc_agent *ag = &a->agents[ai];
    if (ag->dirty || a->all_dirty)
        return;
    if (list_push(&a->dirty, ai) < 0) {
        a->all_dirty = true; /* cannot track it: visit everything */
        return;
    }
    ag->dirty = true;
}

void ag__alloc_clear_dirty(struct ag_allocator *a)
{
    for (uint32_t k = 0; k < a->dirty.n; k++) {
        if (a->dirty.v[k] < a->agent_pool.n)
            a->agents[a->dirty.v[k]].dirty = false;
    }
    a->dirty.n = 0;
    a->all_dirty = false;
}

/* ---- filters ------------------------------------------------------------- */

static uint32_t hash_u32(uint32_t x)
{
    x *= 0x9e3779b1u;
    return x ^ (x >> 16);
}

static struct ag__alloc_filter *filter_find(const struct ag__alloc_filters *f, uint32_t agent)
{
    if (f->n == 0)
        return NULL;
    uint32_t mask = f->cap - 1;
    for (uint32_t i = hash_u32(agent) & mask; f->slots[i].agent != AG_ALLOC_NONE;
         i = (i + 1) & mask) {
        if (f->slots[i].agent == agent)
            return &f->slots[i];
    }
    return NULL;
}

static int filters_grow(struct ag__alloc_filters *f)
{
    uint32_t ncap = f->cap ? f->cap * 2 : 8;
    struct ag__alloc_filter *ns = malloc((size_t)ncap * sizeof(*ns));
    if (!ns)
        return -ENOMEM;
    for (uint32_t i = 0; i < ncap; i++)
        ns[i].agent = AG_ALLOC_NONE;
    for (uint32_t i = 0; i < f->cap; i++) {
        if (f->slots[i].agent == AG_ALLOC_NONE)
            continue;
        uint32_t j = hash_u32(f->slots[i].agent) & (ncap - 1);
        while (ns[j].agent != AG_ALLOC_NONE)
            j = (j + 1) & (ncap - 1);
        ns[j] = f->slots[i];
    }
    free(f->slots);
    f->slots = ns;
    f->cap = ncap;
    return 0;
}

/* Takes ci off agent ai's list of filtering clients. */
static void agent_unfilter(struct ag_allocator *a, uint32_t ai, uint32_t ci)
{
    struct ag__alloc_agent *ag = &a->agents[ai];
    for (uint32_t k = 0; k < ag->n_filters; k++) {
        if (ag->filter_clients[k] == ci) {
            ag->filter_clients[k] = ag->filter_clients[--ag->n_filters];
            return;
        }
    }
}

/* Filters client ci on agent ai: offers within `refused` are withheld until
 * `expiry`. A live filter already there is widened (union of the refused
 * sets, later expiry), so declining two offers of one agent hides both. */
static int filter_put(struct ag_allocator *a, uint32_t ci, uint32_t ai,
                      const struct ag_resources *refused, double now, double expiry)
{
    struct ag__alloc_filters *f = &a->clients[ci].filters;
    struct ag__alloc_filter *slot = filter_find(f, ai);
    if (slot) {
        if (now >= slot->expiry) {
            ag_resources_clear(&slot->refused);
            slot->expiry = expiry;
        } else if (expiry > slot->expiry) {
            slot->expiry = expiry;
        }
        return ag_resources_add(&slot->refused, refused);
    }
    struct ag__alloc_agent *ag = &a->agents[ai];
    if (ag->n_filters == ag->cap_filter_clients) {
        uint32_t ncap = ag->cap_filter_clients ? ag->cap_filter_clients * 2 : 2;
        uint32_t *nc = realloc(ag->filter_clients, (size_t)ncap * sizeof(*nc));
        if (!nc)
            return -ENOMEM;
        ag->filter_clients = nc;
        ag->cap_filter_clients = ncap;
    }
    if ((f->n + 1) * 2 > f->cap) {
        int rc = filters_grow(f);
        if (rc < 0)
            return rc;
    }
    uint32_t mask = f->cap - 1;
    uint32_t i = hash_u32(ai) & mask;
    while (f->slots[i].agent != AG_ALLOC_NONE)
        i = (i + 1) & mask;
    slot = &f->slots[i];
    ag_resources_init(&slot->refused);
    int rc = ag_resources_copy(&slot->refused, refused);
    if (rc < 0) {
        ag_resources_release(&slot->refused);
        return rc;
    }
    slot->agent = ai;
    slot->expiry = expiry;
    f->n++;
    ag->filter_clients[ag->n_filters++] = ci;
    return 0;
}

static void filter_del(struct ag_allocator *a, uint32_t ci, uint32_t ai)
{
    struct ag__alloc_filters *f = &a->clients[ci].filters;
    struct ag__alloc_filter *slot = filter_find(f, ai);
    if (!slot) {
        agent_unfilter(a, ai, ci); /* keeps the two sides in step regardless */
        return;
    }
    ag_resources_release(&slot->refused);
    uint32_t mask = f->cap - 1;
    uint32_t i = (uint32_t)(slot - f->slots);
    /* Backward-shift deletion, as in idmap.c. */
    uint32_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (f->slots[j].agent == AG_ALLOC_NONE)
            break;
        uint32_t home = hash_u32(f->slots[j].agent) & mask;
        bool stays = (i <= j) ? (i < home && home <= j) : (i < home || home <= j);
        if (stays)
            continue;
        f->slots[i] = f->slots[j];
        i = j;
    }
    f->slots[i].agent = AG_ALLOC_NONE;
    f->n--;
    agent_unfilter(a, ai, ci);
}

static void filters_clear(struct ag_allocator *a, uint32_t ci)
{
    struct ag__alloc_filters *f = &a->clients[ci].filters;
    for (uint32_t i = 0; i < f->cap && f->n > 0; i++) {
        if (f->slots[i].agent == AG_ALLOC_NONE)
            continue;
        agent_unfilter(a, f->slots[i].agent, ci);
        ag_resources_release(&f->slots[i].refused);
        f->slots[i].agent = AG_ALLOC_NONE;
        f->n--;
    }
}

static void filters_release(struct ag_allocator *a, uint32_t ci)
{
    filters_clear(a, ci);
    struct ag__alloc_filters *f = &a->clients[ci].filters;
    free(f->slots);
    f->slots = NULL;
    f->cap = 0;
}

bool ag__alloc_filtered(struct ag_allocator *a, uint32_t ci, uint32_t ai,
                        const struct ag_resources *offer, double now)
{
    /* A short list answers "not filtered" without touching ci's table; a
     * long one (many frameworks declined this agent) would cost more than
     * the table probe it saves. */
    const struct ag__alloc_agent *ag = &a->agents[ai];
    if (ag->n_filters <= 8) {
        uint32_t k = 0;
        while (k < ag->n_filters && ag->filter_clients[k] != ci)
            k++;
        if (k == ag->n_filters)
            return false;
    }
    struct ag__alloc_filter *f = filter_find(&a->clients[ci].filters, ai);
    if (!f)
        return false;
    if (now >= f->expiry) {
        filter_del(a, ci, ai);
        return false;
    }
    return ag_resources_contains(&f->refused, offer);
}

/* ---- roles, frameworks, clients ------------------------------------------- */

static uint32_t role_find(const struct ag_allocator *a, const char *name)
{
    return ag__idmap_get(&a->role_names, name);
}

static bool vec_zero(const int64_t *v)
{
    for (uint32_t i = 0; i < AG_ALLOC_MAX_SCALARS; i++) {
        if (v[i] != 0)
            return false;
    }
    return true;
}

/* A role is kept while clients, child roles, a weight, quota or resources
 * (allocated or reserved) refer to it. */
static void role_maybe_free(struct ag_allocator *a, uint32_t ri)
{
    while (ri != AG_ALLOC_NONE) {
        struct ag__alloc_role *r = &a->roles[ri];
        if (r->n_clients > 0 || r->n_children > 0 || r->weight != 1.0 || r->guar_mask ||
            r->limit_mask || !vec_zero(r->alloc) || !vec_zero(r->unalloc_res))
            return;
        uint32_t parent = r->parent;
        ag__idmap_del(&a->role_names, r->name);
        a->epoch++;
        free(r->name);
        free(r->kids.v);
        free(r->order.v);
        memset(r, 0, sizeof(*r));
        pool_put(&a->role_pool, ri);
        a->stale = true;
        if (parent != AG_ALLOC_NONE)
            a->roles[parent].n_children--;
        ri = parent;
    }
}

/* The role named `name`, created with weight 1 (and its ancestors) if new.
 * 0 or -ENOMEM. */
static int role_get(struct ag_allocator *a, const char *name, uint32_t *ret)
{
    uint32_t ri = role_find(a, name);
    if (ri != AG_ALLOC_NONE) {
        *ret = ri;
        return 0;
    }
    uint32_t parent = AG_ALLOC_NONE;
    const char *slash = strrchr(name, '/');
    if (slash) {
        char *pname = strndup(name, (size_t)(slash - name));
        if (!pname)
            return -ENOMEM;
        int rc = role_get(a, pname, &parent);
        free(pname);
        if (rc < 0)
            return rc;
    }
    char *copy = strdup(name);
    int rc = copy ? pool_take((void **)&a->roles, sizeof(*a->roles), &a->role_pool, &ri) : -ENOMEM;
    if (rc == 0) {
        rc = ag__idmap_put(&a->role_names, copy, ri);
        if (rc < 0)
            pool_put(&a->role_pool, ri);
    }
    if (rc < 0) {
        free(copy);
        if (parent != AG_ALLOC_NONE)
            role_maybe_free(a, parent);
        return rc;
    }
    memset(&a->roles[ri], 0, sizeof(a->roles[ri]));
    a->roles[ri].name = copy;
    a->roles[ri].weight = 1.0;
    a->roles[ri].parent = parent;
    if (parent != AG_ALLOC_NONE)
        a->roles[parent].n_children++;
    a->stale = true;
    *ret = ri;
    return 0;
}

/* Free resources of agent ai change by sign * r: the agent's free vector
 * and, if the agent is active (and `cluster`), the cluster's unreserved
 * free vector and the reserved roles' unallocated reservations. */
static uint32_t simple_index(const struct ag_allocator *a, const struct ag_resource *res);

/* Keeps agent ai's bit in a->free_bits in step with its state. */
static void free_bit_update(struct ag_allocator *a, uint32_t ai)
{
    if (ai / 64 >= a->n_free_words)
        return;
    const struct ag__alloc_agent *ag = &a->agents[ai];
    uint64_t bit = 1ull << (ai % 64);
    if (ag->id && ag->active && ag->available.n > 0)
        a->free_bits[ai / 64] |= bit;
    else
        a->free_bits[ai / 64] &= ~bit;
}

/* Room in a->free_bits for agents [0, n). 0 or -ENOMEM. */
static int free_bits_reserve(struct ag_allocator *a, uint32_t n)
{
    uint32_t words = (n + 63) / 64;
    if (words <= a->n_free_words)
        return 0;
    uint32_t nw = a->n_free_words ? a->n_free_words * 2 : 4;
    while (nw < words)
        nw *= 2;
    uint64_t *nb = realloc(a->free_bits, (size_t)nw * sizeof(*nb));
    if (!nb)
        return -ENOMEM;
    memset(nb + a->n_free_words, 0, (size_t)(nw - a->n_free_words) * sizeof(*nb));
    a->free_bits = nb;
    a->n_free_words = nw;
    return 0;
}

/* Whether every scalar of r is plain (see struct ag__alloc_entry). */
static bool set_is_plain(const struct ag_allocator *a, const struct ag_resources *r)
{
    for (size_t k = 0; k < r->n; k++) {
        if (r->items[k].type == AG_VALUE_SCALAR && simple_index(a, &r->items[k]) == AG_ALLOC_NONE)
            return false;
    }
    return true;
}

static void avail_vec(struct ag_allocator *a, uint32_t ai, const struct ag_resources *r, int sign,
                      bool agent_part, bool cluster_part)
{
    struct ag__alloc_agent *ag = &a->agents[ai];
    cluster_part = cluster_part && ag->active;
    a->req_valid = false;
    if (agent_part && sign > 0 && ag->plain)
        ag->plain = set_is_plain(a, r);
    for (size_t k = 0; k < r->n; k++) {
        const struct ag_resource *res = &r->items[k];
        if (res->type != AG_VALUE_SCALAR)
            continue;
        uint32_t i = name_index(a, res->name);
        if (i == AG_ALLOC_NONE)
            continue;
        int64_t d = sign * res->scalar_milli;
        if (agent_part)
            ag->free_scalar[i] += d;
        if (!cluster_part)
            continue;
        if (!ag_resource_is_reserved(res)) {
            a->free_unres[i] += d;
            continue;
        }
        uint32_t ri;
        if (role_get(a, ag_resource_reserved_role(res), &ri) < 0)
            continue;
        for (uint32_t p = ri; p != AG_ALLOC_NONE; p = a->roles[p].parent)
            a->roles[p].unalloc_res[i] += d;
        if (a->touch_role)
            a->touch_role(a, ri);
        if (sign < 0)
            role_maybe_free(a, ri);
    }
    if (agent_part)
        free_bit_update(a, ai);
}

/* avail_vec(a, ai, r, -1, true, true) for a scanned r. */
static void avail_take_scanned(struct ag_allocator *a, uint32_t ai, const struct ag_resources *r,
                               const struct scan *sc)
{
    struct ag__alloc_agent *ag = &a->agents[ai];
    a->req_valid = false;
    if (sc->reserved) {
        avail_vec(a, ai, r, -1, true, true);
        return;
    }
    for (uint32_t i = 0; i < a->n_names; i++) {
        ag->free_scalar[i] -= sc->all[i];
        if (ag->active)
            a->free_unres[i] -= sc->unres[i];
    }
    free_bit_update(a, ai);
}

static uint32_t framework_find(const struct ag_allocator *a, const char *id)
{
    return ag__idmap_get(&a->framework_ids, id);
}

static uint32_t agent_find(const struct ag_allocator *a, const char *id)
{
    return ag__idmap_get(&a->agent_ids, id);
}

static uint32_t client_find(const struct ag_allocator *a, uint32_t fi, const char *role)
{
    const struct ag__alloc_framework *fw = &a->frameworks[fi];
    for (uint32_t k = 0; k < fw->n_clients; k++) {
        uint32_t ci = fw->clients[k];
        if (strcmp(a->roles[a->clients[ci].role].name, role) == 0)
            return ci;
    }
    return AG_ALLOC_NONE;
}

static int framework_create(struct ag_allocator *a, const char *id, uint32_t *ret)
{
    char *copy = strdup(id);
    if (!copy)
        return -ENOMEM;
    uint32_t fi;
    int rc = pool_take((void **)&a->frameworks, sizeof(*a->frameworks), &a->framework_pool, &fi);
    if (rc == 0) {
        rc = ag__idmap_put(&a->framework_ids, copy, fi);
        if (rc < 0)
            pool_put(&a->framework_pool, fi);
    }
    if (rc < 0) {
        free(copy);
        return rc;
    }
    a->frameworks[fi].id = copy;
    *ret = fi;
    return 0;
}

/* Frees a framework record; its clients must be gone already. */
static void framework_free(struct ag_allocator *a, uint32_t fi)
{
    struct ag__alloc_framework *fw = &a->frameworks[fi];
    ag__idmap_del(&a->framework_ids, fw->id);
    a->epoch++;
    free(fw->id);
    free(fw->clients);
    memset(fw, 0, sizeof(*fw));
    pool_put(&a->framework_pool, fi);
}

/* A new client (framework fi, role named `role`). 0 or -ENOMEM. */
static int client_create(struct ag_allocator *a, uint32_t fi, const char *role, uint32_t *ret)
{
    uint32_t ri, ci;
    int rc = role_get(a, role, &ri);
    if (rc < 0)
        return rc;
    struct ag__alloc_framework *fw = &a->frameworks[fi];
    if (fw->n_clients == fw->cap_clients) {
        uint32_t ncap = fw->cap_clients ? fw->cap_clients * 2 : 2;
        uint32_t *nc = realloc(fw->clients, ncap * sizeof(*nc));
        if (!nc) {
            role_maybe_free(a, ri);
            return -ENOMEM;
        }
        fw->clients = nc;
        fw->cap_clients = ncap;
    }
    rc = pool_take((void **)&a->clients, sizeof(*a->clients), &a->client_pool, &ci);
    if (rc < 0) {
        role_maybe_free(a, ri);
        return rc;
    }
    struct ag__alloc_client *c = &a->clients[ci];
    uint32_t gen = c->gen;
    memset(c, 0, sizeof(*c));
    c->gen = gen;
    c->used = true;
    c->framework = fi;
    c->role = ri;
    c->seq = ++a->seq;
    fw->clients[fw->n_clients++] = ci;
    a->roles[ri].n_clients++;
    a->stale = true;
    *ret = ci;
    return 0;
}

/* Frees a client that holds no allocation. */
static void client_free(struct ag_allocator *a, uint32_t ci)
{
    struct ag__alloc_client *c = &a->clients[ci];
    struct ag__alloc_framework *fw = &a->frameworks[c->framework];
    filters_release(a, ci);
    for (uint32_t k = 0; k < fw->n_clients; k++) {
        if (fw->clients[k] == ci) {
            fw->clients[k] = fw->clients[--fw->n_clients];
            break;
        }
    }
    uint32_t ri = c->role;
    a->roles[ri].n_clients--;
    c->used = false;
    c->in_order = false;
    a->epoch++;
    a->stale = true;
    role_maybe_free(a, ri);
    c->gen++;
    pool_put(&a->client_pool, ci);
}

/* An unsubscribed client lives only as long as it holds resources. */
static void client_maybe_free(struct ag_allocator *a, uint32_t ci)
{
    const struct ag__alloc_client *c = &a->clients[ci];
    if (c->used && !c->subscribed && c->n_entries == 0)
        client_free(a, ci);
}

bool ag__alloc_client_eligible(const struct ag_allocator *a, uint32_t ci)
{
    const struct ag__alloc_client *c = &a->clients[ci];
    return c->used && c->subscribed && !c->suppressed && a->frameworks[c->framework].active;
}

/* ---- allocation entries ------------------------------------------------- */

static struct ag__alloc_entry *entry_find(const struct ag_allocator *a, uint32_t ai, uint32_t ci)
{
    const struct ag__alloc_agent *ag = &a->agents[ai];
    for (uint32_t k = 0; k < ag->n_entries; k++) {
        if (ag->entries[k].client == ci)
            return &ag->entries[k];
    }
    return NULL;
}

/* The entry of client ci on agent ai, created empty if missing. */
static int entry_get(struct ag_allocator *a, uint32_t ai, uint32_t ci, struct ag__alloc_entry **ret)
{
    struct ag__alloc_entry *e = entry_find(a, ai, ci);
    if (e) {
        *ret = e;
        return 0;
    }
    struct ag__alloc_agent *ag = &a->agents[ai];
    if (ag->n_entries == ag->cap_entries) {
        uint32_t ncap = ag->cap_entries ? ag->cap_entries * 2 : 2;
        struct ag__alloc_entry *ne = realloc(ag->entries, ncap * sizeof(*ne));
        if (!ne)
            return -ENOMEM;
        ag->entries = ne;
        ag->cap_entries = ncap;
    }
    e = &ag->entries[ag->n_entries++];
    memset(e, 0, sizeof(*e));
    e->client = ci;
    e->rng_name = AG_ALLOC_NONE;
    ag_resources_init(&e->res);
    a->clients[ci].n_entries++;
    *ret = e;
    return 0;
}

static void entry_remove(struct ag_allocator *a, uint32_t ai, struct ag__alloc_entry *e)
{
    struct ag__alloc_agent *ag = &a->agents[ai];
    a->clients[e->client].n_entries--;
    ag_resources_release(&e->res);
    *e = ag->entries[--ag->n_entries];
}

/* The vector index an entry keeps res under, or AG_ALLOC_NONE if it is
 * kept as a resource (see struct ag__alloc_entry). */
static uint32_t simple_index(const struct ag_allocator *a, const struct ag_resource *res)
{
    if (res->type != AG_VALUE_SCALAR || res->n_reservations > 0 || res->revocable || res->disk ||
        res->allocation_role)
        return AG_ALLOC_NONE;
    return name_index(a, res->name);
}

/* A read-only one-entry view of res (never released). */
static struct ag_resources view_one(const struct ag_resource *res)
{
    return (struct ag_resources){.items = (struct ag_resource *)res, .n = 1, .cap = 1};
}

/* The interned name of res if it is a plain ranges resource (what an
 * entry may keep inline), else AG_ALLOC_NONE. */
static uint32_t plain_ranges_index(const struct ag_allocator *a, const struct ag_resource *res)
{
    if (res->type != AG_VALUE_RANGES || res->n_reservations > 0 || res->revocable || res->disk ||
        res->allocation_role)
        return AG_ALLOC_NONE;
    return name_index(a, res->name);
}

static bool kept_inline(const struct ag_allocator *a, const struct ag__alloc_entry *e,
                        const struct ag_resource *res)
{
    return e->rng_name != AG_ALLOC_NONE && plain_ranges_index(a, res) == e->rng_name;
}

/* Sorts and coalesces v (overlapping or adjacent ranges merge), as
 * resources.h keeps ranges; returns the new count. */
static size_t ranges_canon(struct ag_range *v, size_t n)
{
    for (size_t i = 1; i < n; i++) { /* insertion sort: n is tiny */
        struct ag_range x = v[i];
        size_t j = i;
        for (; j > 0 &&
               (v[j - 1].begin > x.begin || (v[j - 1].begin == x.begin && v[j - 1].end > x.end));
             j--)
            v[j] = v[j - 1];
        v[j] = x;
    }
    size_t out = 0;
    for (size_t i = 0; i < n; i++) {
        if (out > 0 && (v[i].begin <= v[out - 1].end || v[i].begin - 1 <= v[out - 1].end)) {
            if (v[i].end > v[out - 1].end)
                v[out - 1].end = v[i].end;
        } else {
            v[out++] = v[i];
        }
    }
    return out;
}

/* Whether every range of b lies inside one of a (both canonical). */
static bool ranges_within(const struct ag_range *a, size_t na, const struct ag_range *b, size_t nb)
{
    size_t i = 0;
    for (size_t k = 0; k < nb; k++) {
        while (i < na && a[i].end < b[k].begin)
            i++;
        if (i == na || a[i].begin > b[k].begin || a[i].end < b[k].end)
            return false;
    }
    return true;
}

/* out = a - b (canonical inputs); returns the count, at most na + nb. */
static size_t ranges_minus(const struct ag_range *a, size_t na, const struct ag_range *b, size_t nb,
                           struct ag_range *out)
{
    size_t n = 0, j = 0;
    for (size_t i = 0; i < na; i++) {
        uint64_t begin = a[i].begin, end = a[i].end;
        bool left = true;
        while (j < nb && b[j].end < begin)
            j++;
        for (size_t k = j; k < nb && b[k].begin <= end && left; k++) {
            if (b[k].begin > begin)
                out[n++] = (struct ag_range){begin, b[k].begin - 1};
            if (b[k].end >= end)
                left = false;
            else
                begin = b[k].end + 1;
        }
        if (left)
            out[n++] = (struct ag_range){begin, end};
    }
    return n;
}

/* The inline ranges as a resource (borrowing e's array and a's name). */
static struct ag_resource inline_resource(const struct ag_allocator *a,
                                          const struct ag__alloc_entry *e)
{
    return (struct ag_resource){.name = a->names[e->rng_name],
                                .type = AG_VALUE_RANGES,
                                .ranges = (struct ag_range *)e->rng,
                                .n_ranges = e->n_rng};
}

/* Moves the inline ranges into e->res. 0 or -ENOMEM (nothing moved). */
static int inline_spill(const struct ag_allocator *a, struct ag__alloc_entry *e)
{
    if (e->rng_name == AG_ALLOC_NONE)
        return 0;
    struct ag_resource one = inline_resource(a, e);
    int rc = ag_resources_add_one(&e->res, &one);
    if (rc == 0) {
        e->rng_name = AG_ALLOC_NONE;
        e->n_rng = 0;
    }
    return rc;
}

/* Whether e->res holds a plain ranges resource named `name`. */
static bool res_has_plain(const struct ag_allocator *a, const struct ag__alloc_entry *e,
                          uint32_t name)
{
    for (size_t k = 0; k < e->res.n; k++) {
        if (plain_ranges_index(a, &e->res.items[k]) == name)
            return true;
    }
    return false;
}

static bool entry_empty(const struct ag__alloc_entry *e)
{
    return ag_resources_empty(&e->res) && vec_zero(e->simple) && e->rng_name == AG_ALLOC_NONE;
}

/* Where item x of an addition goes: 1 = inline (merged with what is
 * there), 0 = e->res. May spill the inline ranges to make room (the
 * entry's contents stay the same). < 0 on -ENOMEM. */
static int inline_target(const struct ag_allocator *a, struct ag__alloc_entry *e,
                         const struct ag_resource *x)
{
    uint32_t i = plain_ranges_index(a, x);
    if (i == AG_ALLOC_NONE)
        return 0;
    if (e->rng_name == i) {
        struct ag_range v[2 * AG_ALLOC_ENTRY_RANGES];
        if (x->n_ranges <= AG_ALLOC_ENTRY_RANGES) {
            memcpy(v, e->rng, e->n_rng * sizeof(*v));
            memcpy(v + e->n_rng, x->ranges, x->n_ranges * sizeof(*v));
            if (ranges_canon(v, e->n_rng + x->n_ranges) <= AG_ALLOC_ENTRY_RANGES)
                return 1;
        }
        int rc = inline_spill(a, e);
        return rc < 0 ? rc : 0;
    }
    if (e->rng_name == AG_ALLOC_NONE && x->n_ranges <= AG_ALLOC_ENTRY_RANGES &&
        !res_has_plain(a, e, i))
        return 1;
    return 0;
}

static void inline_add(struct ag__alloc_entry *e, uint32_t name, const struct ag_resource *x)
{
    struct ag_range v[2 * AG_ALLOC_ENTRY_RANGES];
    size_t n = e->rng_name == name ? e->n_rng : 0;
    memcpy(v, e->rng, n * sizeof(*v));
    memcpy(v + n, x->ranges, x->n_ranges * sizeof(*v));
    n = ranges_canon(v, n + x->n_ranges);
    memcpy(e->rng, v, n * sizeof(*v));
    e->n_rng = (uint32_t)n;
    e->rng_name = n ? name : AG_ALLOC_NONE;
}

/* Whether entries keep item res of a set scanned as sc (or NULL) as a
 * number. */
static bool is_simple(const struct ag_allocator *a, const struct ag_resource *res,
                      const struct scan *sc)
{
    if (sc && sc->plain)
        return res->type == AG_VALUE_SCALAR;
    return simple_index(a, res) != AG_ALLOC_NONE;
}

/* e += r (scanned as sc, or NULL). 0 or -ENOMEM (then e holds what it
 * held). */
static int entry_add_scanned(struct ag_allocator *a, struct ag__alloc_entry *e,
                             const struct ag_resources *r, const struct scan *sc)
{
    if (sc && !sc->nonsimple) {
        for (uint32_t i = 0; i < a->n_names; i++)
            e->simple[i] += sc->simple[i];
        return 0;
    }
    /* Decide first (spilling may allocate), so that what follows cannot
     * fail half way through the inline part. At most one item of r goes
     * inline: identities in a set are unique, and the inline slot holds
     * one name. */
    size_t inline_item = SIZE_MAX;
    for (size_t k = 0; k < r->n; k++) {
        if (is_simple(a, &r->items[k], sc))
            continue;
        int t = inline_target(a, e, &r->items[k]);
        if (t < 0)
            return t;
        if (t == 1 && inline_item == SIZE_MAX)
            inline_item = k;
    }
    size_t k;
    int rc = 0;
    for (k = 0; k < r->n && rc == 0; k++) {
        if (k != inline_item && !is_simple(a, &r->items[k], sc))
            rc = ag_resources_add_one(&e->res, &r->items[k]);
    }
    if (rc < 0) {
        /* Take back what went in (merged entries subtract exactly). */
        for (size_t j = 0; j + 1 < k; j++) {
            if (j != inline_item && !is_simple(a, &r->items[j], sc)) {
                struct ag_resources one = view_one(&r->items[j]);
                (void)ag_resources_subtract(&e->res, &one);
            }
        }
        return rc;
    }
    if (inline_item != SIZE_MAX)
        inline_add(e, plain_ranges_index(a, &r->items[inline_item]), &r->items[inline_item]);
    if (sc) {
        for (uint32_t i = 0; i < a->n_names; i++)
            e->simple[i] += sc->simple[i];
        return 0;
    }
    for (k = 0; k < r->n; k++) {
        uint32_t i = simple_index(a, &r->items[k]);
        if (i != AG_ALLOC_NONE)
            e->simple[i] += r->items[k].scalar_milli;
    }
    return 0;
}

static int entry_add(struct ag_allocator *a, struct ag__alloc_entry *e,
                     const struct ag_resources *r)
{
    return entry_add_scanned(a, e, r, NULL);
}

static bool entry_contains(const struct ag_allocator *a, const struct ag__alloc_entry *e,
                           const struct ag_resources *r)
{
    for (size_t k = 0; k < r->n; k++) {
        const struct ag_resource *res = &r->items[k];
        uint32_t i = simple_index(a, res);
        if (i != AG_ALLOC_NONE) {
            /* One entry per identity: no other item of r adds to i. */
            if (e->simple[i] < res->scalar_milli)
                return false;
            continue;
        }
        if (kept_inline(a, e, res)) {
            if (!ranges_within(e->rng, e->n_rng, res->ranges, res->n_ranges))
                return false;
            continue;
        }
        struct ag_resources one = view_one(res);
        if (!ag_resources_contains(&e->res, &one))
            return false;
    }
    return true;
}

/* Takes ranges x (within them) from the inline ranges. 0 or -ENOMEM. */
static int inline_sub(const struct ag_allocator *a, struct ag__alloc_entry *e,
                      const struct ag_resource *x)
{
    size_t cap = e->n_rng + x->n_ranges + 1;
    struct ag_range small[4 * AG_ALLOC_ENTRY_RANGES];
    struct ag_range *v = cap <= 4 * AG_ALLOC_ENTRY_RANGES ? small : malloc(cap * sizeof(*v));
    if (!v)
        return -ENOMEM;
    size_t n = ranges_minus(e->rng, e->n_rng, x->ranges, x->n_ranges, v);
    int rc = 0;
    if (n <= AG_ALLOC_ENTRY_RANGES) {
        memcpy(e->rng, v, n * sizeof(*v));
        e->n_rng = (uint32_t)n;
        if (n == 0)
            e->rng_name = AG_ALLOC_NONE;
    } else {
        /* Split into too many pieces: keep them in res instead. */
        struct ag_resource one = inline_resource(a, e);
        one.ranges = v;
        one.n_ranges = n;
        rc = ag_resources_add_one(&e->res, &one);
        if (rc == 0) {
            e->rng_name = AG_ALLOC_NONE;
            e->n_rng = 0;
        }
    }
    if (v != small)
        free(v);
    return rc;
}

/* e -= r, where e contains r. 0 or -ENOMEM (e may then hold less of the
 * non-scalar part). */
static int entry_sub(struct ag_allocator *a, struct ag__alloc_entry *e,
                     const struct ag_resources *r)
{
    /* The usual case, a whole offer coming back: r takes every resource
     * entry e keeps in res, so clear them (keeping the array) rather than
     * subtract one by one (each a copy of the set). */
    bool all = e->res.n > 0 && ag_resources_contains(r, &e->res);
    if (all)
        ag_resources_clear(&e->res);
    for (size_t k = 0; k < r->n; k++) {
        const struct ag_resource *x = &r->items[k];
        uint32_t i = simple_index(a, x);
        if (i != AG_ALLOC_NONE) {
            e->simple[i] -= x->scalar_milli;
            continue;
        }
        int rc = 0;
        if (kept_inline(a, e, x)) {
            rc = inline_sub(a, e, x);
        } else if (!all) {
            struct ag_resources one = view_one(x);
            rc = ag_resources_subtract(&e->res, &one);
        }
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* *out (initialised here) = everything e holds, as resources. */
static int entry_materialize(const struct ag_allocator *a, const struct ag__alloc_entry *e,
                             struct ag_resources *out)
{
    ag_resources_init(out);
    int rc = ag_resources_copy(out, &e->res);
    for (uint32_t i = 0; i < a->n_names && rc == 0; i++) {
        if (e->simple[i] == 0)
            continue;
        struct ag_resource one = {
            .name = a->names[i], .type = AG_VALUE_SCALAR, .scalar_milli = e->simple[i]};
        rc = ag_resources_add_one(out, &one);
    }
    if (rc == 0 && e->rng_name != AG_ALLOC_NONE) {
        struct ag_resource one = inline_resource(a, e);
        rc = ag_resources_add_one(out, &one);
    }
    if (rc < 0)
        ag_resources_release(out);
    return rc;
}

/* Gives everything client ci holds on agent ai back to the agent. */
static void entry_return(struct ag_allocator *a, uint32_t ai, struct ag__alloc_entry *e)
{
    uint32_t ci = e->client;
    struct ag_resources all;
    /* Best effort on -ENOMEM: the resources are then lost to offers until
     * the agent is re-added, which beats double-counting them. */
    if (entry_materialize(a, e, &all) == 0) {
        account(a, ci, &all, -1);
        if (ag_resources_add(&a->agents[ai].available, &all) == 0)
            avail_vec(a, ai, &all, 1, true, true);
        ag_resources_release(&all);
    }
    ag__alloc_mark_dirty(a, ai);
    entry_remove(a, ai, e);
}

/* ---- min allocatable ------------------------------------------------------ */

/* Whether the scalar vector v holds every quantity of some alternative. */
static bool min_ok(const struct ag_allocator *a, const int64_t *v)
{
    if (a->n_min == 0)
        return true;
    for (size_t k = 0; k < a->n_min; k++) {
        const struct ag__alloc_min *m = &a->min[k];
        bool ok = true;
        for (uint32_t i = 0; i < AG_ALLOC_MAX_SCALARS && ok; i++) {
            if ((m->mask & (1u << i)) && v[i] < m->milli[i])
                ok = false;
        }
        if (ok)
            return true;
    }
    return false;
}

bool ag__alloc_allocatable(const struct ag_allocator *a, const struct ag_resources *r)
{
    if (ag_resources_empty(r))
        return false;
    int64_t v[AG_ALLOC_MAX_SCALARS] = {0};
    vec_apply(a, v, r, 1);
    return min_ok(a, v);
}

/* Adds one alternative: the scalars of r (all of them must be met). */
static int min_add(struct ag_allocator *a, const struct ag_resources *r)
{
    struct ag__alloc_min m = {0};
    for (size_t k = 0; k < r->n; k++) {
        const struct ag_resource *res = &r->items[k];
        if (res->type != AG_VALUE_SCALAR)
            continue;
        uint32_t i = intern_name(a, res->name);
        if (i == AG_ALLOC_NONE)
            return -ENOSPC;
        m.mask |= 1u << i;
        m.milli[i] += res->scalar_milli;
    }
    if (m.mask == 0)
        return 0; /* an empty alternative would allow anything: ignore it */
    struct ag__alloc_min *nm = realloc(a->min, (a->n_min + 1) * sizeof(*nm));
    if (!nm)
        return -ENOMEM;
    a->min = nm;
    nm[a->n_min++] = m;
    return 0;
}

/* One alternative holding just scalar `name` = milli. */
static int min_add_one(struct ag_allocator *a, const char *name, int64_t milli)
{
    struct ag_resource one = {.name = (char *)name, .type = AG_VALUE_SCALAR, .scalar_milli = milli};
    struct ag_resources r = {.items = &one, .n = 1, .cap = 1};
    return min_add(a, &r);
}

static int min_init(struct ag_allocator *a, const struct ag_allocator_options *o)
{
    if (o && o->n_min_allocatable > 0) {
        if (!o->min_allocatable_alternatives)
            return -EINVAL;
        for (size_t k = 0; k < o->n_min_allocatable; k++) {
            int rc = min_add(a, &o->min_allocatable_alternatives[k]);
            if (rc < 0)
                return rc;
        }
        return 0;
    }
    if (!o || !o->min_allocatable) {
        int rc = min_add_one(a, "cpus", 10);
        return rc < 0 ? rc : min_add_one(a, "mem", 32000);
    }
    const struct ag_resources *min = o->min_allocatable;
    for (size_t k = 0; k < min->n; k++) {
        const struct ag_resource *res = &min->items[k];
        if (res->type != AG_VALUE_SCALAR)
            continue;
        int rc = min_add_one(a, res->name, res->scalar_milli);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* ---- lifecycle ------------------------------------------------------------- */

struct ag_allocator *ag__alloc_create(const struct ag_allocator_ops *ops,
                                      const struct ag_allocator_options *options,
                                      ag_allocator_offer_cb offer, void *ctx)
{
    if (!offer)
        return NULL;
    struct ag_allocator *a = calloc(1, sizeof(*a));
    if (!a)
        return NULL;
    a->magic = AG_ALLOC_MAGIC;
    a->ops = ops;
    a->offer = offer;
    a->ctx = ctx;
    a->default_refuse = 5.0;
    if (options && options->default_refuse_seconds >= 0)
        a->default_refuse = options->default_refuse_seconds;
    ag__idmap_init(&a->agent_ids);
    ag__idmap_init(&a->framework_ids);
    ag__idmap_init(&a->role_names);
    if (options && options->n_excluded_resource_names > 0) {
        if (!options->excluded_resource_names) {
            ag__alloc_destroy(a);
            return NULL;
        }
        for (size_t k = 0; k < options->n_excluded_resource_names; k++) {
            const char *n = options->excluded_resource_names[k];
            uint32_t i = n ? intern_name(a, n) : AG_ALLOC_NONE;
            if (i == AG_ALLOC_NONE) {
                ag__alloc_destroy(a);
                return NULL;
            }
            a->excluded_mask |= 1u << i;
        }
    }
    if (min_init(a, options) < 0) {
        ag__alloc_destroy(a);
        return NULL;
    }
    a->stale = true;
    return a;
}

static void agent_release(struct ag__alloc_agent *ag)
{
    for (uint32_t k = 0; k < ag->n_entries; k++)
        ag_resources_release(&ag->entries[k].res);
    free(ag->entries);
    free(ag->filter_clients);
    ag_resources_release(&ag->available);
    free(ag->id);
}

void ag__alloc_destroy(struct ag_allocator *a)
{
    if (!a)
        return;
    for (uint32_t i = 0; i < a->client_pool.n; i++) {
        if (!a->clients[i].used)
            continue;
        struct ag__alloc_filters *f = &a->clients[i].filters;
        for (uint32_t k = 0; k < f->cap; k++) {
            if (f->slots[k].agent != AG_ALLOC_NONE)
                ag_resources_release(&f->slots[k].refused);
        }
        free(f->slots);
    }
    for (uint32_t i = 0; i < a->agent_pool.n; i++) {
        if (a->agents[i].id)
            agent_release(&a->agents[i]);
    }
    for (uint32_t i = 0; i < a->framework_pool.n; i++) {
        free(a->frameworks[i].id);
        free(a->frameworks[i].clients);
    }
    for (uint32_t i = 0; i < a->role_pool.n; i++) {
        free(a->roles[i].name);
        free(a->roles[i].kids.v);
        free(a->roles[i].order.v);
    }
    for (size_t i = 0; i < a->n_pending; i++)
        ag_resources_release(&a->pending[i].res);
    for (uint32_t i = 0; i < a->n_names; i++)
        free(a->names[i]);
    free(a->min);
    free(a->dirty.v);
    free(a->free_bits);
    free(a->pending);
    free(a->agents);
    free(a->frameworks);
    free(a->clients);
    free(a->roles);
    free(a->agent_pool.free);
    free(a->framework_pool.free);
    free(a->client_pool.free);
    free(a->role_pool.free);
    ag__idmap_release(&a->agent_ids);
    ag__idmap_release(&a->framework_ids);
    ag__idmap_release(&a->role_names);
    if (a->policy_free)
        a->policy_free(a->policy);
    a->magic = 0;
    free(a);
}

/* ---- frameworks ------------------------------------------------------------- */

static bool valid_id(const char *id)
{
    return id && id[0] != '\0';
}

static bool valid_role(const char *role)
{
    char err[128];
    return role && ag_role_validate(role, err, sizeof(err)) == 0;
}

static bool in_list(const char *s, const char *const *list, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        if (strcmp(list[k], s) == 0)
            return true;
    }
    return false;
}

int ag__alloc_add_framework(struct ag_allocator *a, const char *framework_id,
                            const char *const *roles, size_t n_roles, const char *const *suppressed,
                            size_t n_suppressed, bool active)
{
    if (!a || !valid_id(framework_id) || n_roles == 0 || !roles ||
        (n_suppressed > 0 && !suppressed))
        return -EINVAL;
    for (size_t k = 0; k < n_roles; k++) {
        if (!valid_role(roles[k]))
            return -EINVAL;
    }
    for (size_t k = 0; k < n_suppressed; k++) {
        if (!suppressed[k] || !in_list(suppressed[k], roles, n_roles))
            return -EINVAL;
    }

    uint32_t fi = framework_find(a, framework_id);
    bool created = false;
    if (fi == AG_ALLOC_NONE) {
        int rc = framework_create(a, framework_id, &fi);
        if (rc < 0)
            return rc;
        created = true;
    }
    for (size_t k = 0; k < n_roles; k++) {
        uint32_t ci = client_find(a, fi, roles[k]);
        if (ci == AG_ALLOC_NONE) {
            int rc = client_create(a, fi, roles[k], &ci);
            if (rc < 0) {
                if (created) {
                    struct ag__alloc_framework *fw = &a->frameworks[fi];
                    while (fw->n_clients > 0)
                        client_free(a, fw->clients[fw->n_clients - 1]);
                    framework_free(a, fi);
                }
                return rc;
            }
        }
        a->clients[ci].subscribed = true;
        a->clients[ci].suppressed = in_list(roles[k], suppressed, n_suppressed);
    }
    /* Roles dropped by an update stop getting offers; their allocations
     * stay until recovered. Backwards: client_free swaps from the end. */
    struct ag__alloc_framework *fw = &a->frameworks[fi];
    for (uint32_t k = fw->n_clients; k-- > 0;) {
        uint32_t ci = fw->clients[k];
        if (in_list(a->roles[a->clients[ci].role].name, roles, n_roles))
            continue;
        a->clients[ci].subscribed = false;
        a->clients[ci].suppressed = false;
        client_maybe_free(a, ci);
    }
    fw->active = active;
    a->stale = true;
    a->all_dirty = true;
    return 0;
}

void ag__alloc_remove_framework(struct ag_allocator *a, const char *framework_id)
{
    if (!a || !framework_id)
        return;
    uint32_t fi = framework_find(a, framework_id);
    if (fi == AG_ALLOC_NONE)
        return;
    struct ag__alloc_framework *fw = &a->frameworks[fi];
    while (fw->n_clients > 0) {
        uint32_t ci = fw->clients[fw->n_clients - 1];
        for (uint32_t ai = 0; ai < a->agent_pool.n && a->clients[ci].n_entries > 0; ai++) {
            if (!a->agents[ai].id)
                continue;
            struct ag__alloc_entry *e = entry_find(a, ai, ci);
            if (e)
                entry_return(a, ai, e);
        }
        client_free(a, ci);
    }
    framework_free(a, fi);
}

void ag__alloc_set_framework_active(struct ag_allocator *a, const char *framework_id, bool active)
{
    if (!a || !framework_id)
        return;
    uint32_t fi = framework_find(a, framework_id);
    if (fi == AG_ALLOC_NONE || a->frameworks[fi].active == active)
        return;
    a->frameworks[fi].active = active;
    a->stale = true;
    a->all_dirty = a->all_dirty || active;
}

/* ---- agents ----------------------------------------------------------------- */

static bool any_reserved(const struct ag_resources *r)
{
    for (size_t k = 0; k < r->n; k++) {
        if (ag_resource_is_reserved(&r->items[k]))
            return true;
    }
    return false;
}

/* A deep copy of r with allocation roles cleared: the allocator keeps its
 * sets unallocated so that they compare with the agent's total. */
static int copy_unallocated(struct ag_resources *dst, const struct ag_resources *src)
{
    ag_resources_init(dst);
    for (size_t k = 0; k < src->n; k++) {
        /* Copied without its allocation role (never duplicated only to be
         * freed); entries that differed only in it merge. */
        struct ag_resource bare = src->items[k];
        bare.allocation_role = NULL;
        int rc = ag_resources_add_one(dst, &bare);
        if (rc < 0) {
            ag_resources_release(dst);
            return rc;
        }
    }
    return 0;
}

static void cluster_apply(struct ag_allocator *a, const struct ag__alloc_agent *ag, int sign)
{
    for (uint32_t i = 0; i < AG_ALLOC_MAX_SCALARS; i++)
        a->cluster_total[i] += sign * ag->total_scalar[i];
}

int ag__alloc_add_agent(struct ag_allocator *a, const char *agent_id,
                        const struct ag_resources *total)
{
    if (!a || !valid_id(agent_id) || !total)
        return -EINVAL;
    if (agent_find(a, agent_id) != AG_ALLOC_NONE)
        return -EEXIST;
    struct ag_resources t;
    int rc = copy_unallocated(&t, total);
    if (rc < 0)
        return rc;
    char *id = strdup(agent_id);
    uint32_t ai = AG_ALLOC_NONE;
    rc = id ? free_bits_reserve(a, a->agent_pool.n + 1) : -ENOMEM;
    if (rc == 0)
        rc = pool_take((void **)&a->agents, sizeof(*a->agents), &a->agent_pool, &ai);
    if (rc == 0) {
        rc = ag__idmap_put(&a->agent_ids, id, ai);
        if (rc < 0)
            pool_put(&a->agent_pool, ai);
    }
    if (rc < 0) {
        free(id);
        ag_resources_release(&t);
        return rc;
    }
    /* pool_take zeroed the slot; keep the generation counter going. */
    struct ag__alloc_agent *ag = &a->agents[ai];
    ag->id = id;
    ag->active = true;
    ag->seq = ++a->seq;
    ag->available = t; /* all of it is free */
    ag->has_reserved = any_reserved(&t);
    intern_names(a, &t);
    vec_apply(a, ag->total_scalar, &t, 1);
    cluster_apply(a, ag, 1);
    ag->plain = true; /* until avail_vec sees otherwise */
    avail_vec(a, ai, &ag->available, 1, true, true);
    a->stale = true;
    ag__alloc_mark_dirty(a, ai);
    return 0;
}

void ag__alloc_remove_agent(struct ag_allocator *a, const char *agent_id)
{
    if (!a || !agent_id)
        return;
    uint32_t ai = agent_find(a, agent_id);
    if (ai == AG_ALLOC_NONE)
        return;
    struct ag__alloc_agent *ag = &a->agents[ai];
    while (ag->n_entries > 0) {
        struct ag__alloc_entry *e = &ag->entries[ag->n_entries - 1];
        uint32_t ci = e->client;
        struct ag_resources all;
        if (entry_materialize(a, e, &all) == 0) {
            account(a, ci, &all, -1);
            ag_resources_release(&all);
        }
        entry_remove(a, ai, e);
        client_maybe_free(a, ci);
    }
    while (ag->n_filters > 0)
        filter_del(a, ag->filter_clients[ag->n_filters - 1], ai);
    if (ag->active) {
        cluster_apply(a, ag, -1);
        avail_vec(a, ai, &ag->available, -1, false, true);
    }
    a->stale = true;
    a->epoch++;
    ag__idmap_del(&a->agent_ids, ag->id);
    agent_release(ag);
    uint32_t gen = ag->gen + 1;
    memset(ag, 0, sizeof(*ag));
    ag->gen = gen;
    free_bit_update(a, ai);
    pool_put(&a->agent_pool, ai);
}

void ag__alloc_set_agent_active(struct ag_allocator *a, const char *agent_id, bool active)
{
    if (!a || !agent_id)
        return;
    uint32_t ai = agent_find(a, agent_id);
    if (ai == AG_ALLOC_NONE || a->agents[ai].active == active)
        return;
    if (!active)
        avail_vec(a, ai, &a->agents[ai].available, -1, false, true);
    a->agents[ai].active = active;
    if (active)
        avail_vec(a, ai, &a->agents[ai].available, 1, false, true);
    cluster_apply(a, &a->agents[ai], active ? 1 : -1);
    a->stale = true;
    free_bit_update(a, ai);
    if (active)
        ag__alloc_mark_dirty(a, ai);
}

bool ag__alloc_agent_offerable(const struct ag_allocator *a, uint32_t ai)
{
    const struct ag__alloc_agent *ag = &a->agents[ai];
    return ag->id && ag->active && ag->available.n > 0 && min_ok(a, ag->free_scalar);
}

/* ---- used / recovered ---------------------------------------------------------- */

int ag__alloc_add_used(struct ag_allocator *a, const char *framework_id, const char *role,
                       const char *agent_id, const struct ag_resources *used)
{
    if (!a || !valid_id(framework_id) || !valid_role(role) || !valid_id(agent_id) || !used)
        return -EINVAL;
    uint32_t ai = agent_find(a, agent_id);
    if (ai == AG_ALLOC_NONE)
        return -ENOENT;
    struct ag_resources u;
    int rc = copy_unallocated(&u, used);
    if (rc < 0)
        return rc;
    if (ag_resources_empty(&u))
        goto out;
    if (!ag_resources_contains(&a->agents[ai].available, &u)) {
        rc = -ERANGE;
        goto out;
    }
    uint32_t fi = framework_find(a, framework_id);
    bool new_framework = fi == AG_ALLOC_NONE;
    if (new_framework) {
        rc = framework_create(a, framework_id, &fi);
        if (rc < 0)
            goto out;
    }
    uint32_t ci = client_find(a, fi, role);
    if (ci == AG_ALLOC_NONE) {
        rc = client_create(a, fi, role, &ci);
        if (rc < 0)
            goto out_framework;
        /* A framework known only from its tasks subscribes, as far as we
         * know, with the roles of those tasks. */
        a->clients[ci].subscribed = new_framework;
    }
    struct ag__alloc_entry *e;
    rc = entry_get(a, ai, ci, &e);
    if (rc == 0) {
        rc = ag_resources_subtract(&a->agents[ai].available, &u);
        if (rc == 0 && (rc = entry_add(a, e, &u)) < 0)
            (void)ag_resources_add(&a->agents[ai].available, &u);
        if (rc == 0)
            avail_vec(a, ai, &u, -1, true, true);
        if (rc < 0 && entry_empty(e))
            entry_remove(a, ai, e);
    }
    if (rc < 0) {
        client_maybe_free(a, ci);
        goto out_framework;
    }
    account(a, ci, &u, 1);
    goto out;

out_framework:
    if (new_framework) {
        struct ag__alloc_framework *fw = &a->frameworks[fi];
        while (fw->n_clients > 0)
            client_free(a, fw->clients[fw->n_clients - 1]);
        framework_free(a, fi);
    }
out:
    ag_resources_release(&u);
    return rc;
}

/* got = the part of r that entry e holds (all of r when it holds it). */
static int recoverable(const struct ag_allocator *a, const struct ag__alloc_entry *e,
                       struct ag_resources *r, struct ag_resources *got)
{
    if (entry_contains(a, e, r)) {
        /* Take r's contents: the caller owns r and is done with it. */
        *got = *r;
        ag_resources_init(r);
        return 0;
    }
    for (size_t k = 0; k < r->n; k++) {
        struct ag_resources one = view_one(&r->items[k]);
        if (!entry_contains(a, e, &one))
            continue;
        int rc = ag_resources_add_one(got, &r->items[k]);
        if (rc < 0)
            return rc;
    }
    return 0;
}

void ag__alloc_recover(struct ag_allocator *a, const char *framework_id, const char *role,
                       const char *agent_id, const struct ag_resources *resources,
                       double refuse_seconds, double now)
{
    if (!a || !framework_id || !role || !agent_id || !resources)
        return;
    uint32_t ai = agent_find(a, agent_id);
    uint32_t fi = framework_find(a, framework_id);
    if (ai == AG_ALLOC_NONE || fi == AG_ALLOC_NONE)
        return;
    uint32_t ci = client_find(a, fi, role);
    if (ci == AG_ALLOC_NONE)
        return;
    struct ag__alloc_entry *e = entry_find(a, ai, ci);
    if (!e)
        return;
    struct ag_resources r, got;
    ag_resources_init(&got);
    if (copy_unallocated(&r, resources) < 0)
        return;
    if (recoverable(a, e, &r, &got) < 0 || ag_resources_empty(&got))
        goto out;
    struct ag__alloc_agent *ag = &a->agents[ai];
    /* An agent with nothing free (it was offered whole) takes the set as
     * it is; otherwise it is merged in. */
    bool take = ag->available.n == 0;
    if (!take && ag_resources_add(&ag->available, &got) < 0)
        goto out;
    if (entry_sub(a, e, &got) < 0) {
        if (!take)
            (void)ag_resources_subtract(&ag->available, &got);
        goto out;
    }
    account(a, ci, &got, -1);
    avail_vec(a, ai, &got, 1, true, true);
    ag__alloc_mark_dirty(a, ai);

    if (isnan(refuse_seconds) || refuse_seconds < 0)
        refuse_seconds = a->default_refuse;
    if (refuse_seconds > 0) {
        /* Best effort: without memory for the filter the framework is
         * merely offered the resources again. */
        (void)filter_put(a, ci, ai, &got, now, now + refuse_seconds);
    }
    if (take) {
        ag_resources_release(&ag->available);
        ag->available = got;
        ag_resources_init(&got);
        free_bit_update(a, ai);
    }
    if (entry_empty(e)) {
        entry_remove(a, ai, e);
        client_maybe_free(a, ci);
    }
out:
    ag_resources_release(&r);
    ag_resources_release(&got);
}

/* ---- suppress / revive / weights ------------------------------------------------ */

/* Calls fn on the clients of framework_id named in roles (all if none). */
static void for_roles(struct ag_allocator *a, const char *framework_id, const char *const *roles,
                      size_t n_roles, void (*fn)(struct ag_allocator *a, uint32_t ci))
{
    if (!a || !framework_id || (n_roles > 0 && !roles))
        return;
    uint32_t fi = framework_find(a, framework_id);
    if (fi == AG_ALLOC_NONE)
        return;
    if (n_roles == 0) {
        const struct ag__alloc_framework *fw = &a->frameworks[fi];
        for (uint32_t k = 0; k < fw->n_clients; k++)
            fn(a, fw->clients[k]);
        return;
    }
    for (size_t k = 0; k < n_roles; k++) {
        uint32_t ci = roles[k] ? client_find(a, fi, roles[k]) : AG_ALLOC_NONE;
        if (ci != AG_ALLOC_NONE)
            fn(a, ci);
    }
}

static void do_suppress(struct ag_allocator *a, uint32_t ci)
{
    a->clients[ci].suppressed = true;
    a->stale = true;
}

static void do_revive(struct ag_allocator *a, uint32_t ci)
{
    a->clients[ci].suppressed = false;
    filters_clear(a, ci);
    a->stale = true;
    a->all_dirty = true;
}

void ag__alloc_suppress(struct ag_allocator *a, const char *framework_id, const char *const *roles,
                        size_t n_roles)
{
    for_roles(a, framework_id, roles, n_roles, do_suppress);
}

void ag__alloc_revive(struct ag_allocator *a, const char *framework_id, const char *const *roles,
                      size_t n_roles, double now)
{
    (void)now;
    for_roles(a, framework_id, roles, n_roles, do_revive);
}

int ag__alloc_set_weight(struct ag_allocator *a, const char *role, double weight)
{
    if (!a || !valid_role(role) || !isfinite(weight) || weight <= 0)
        return -EINVAL;
    uint32_t ri;
    int rc = role_get(a, role, &ri);
    if (rc < 0)
        return rc;
    a->roles[ri].weight = weight;
    a->stale = true;
    a->all_dirty = true;
    role_maybe_free(a, ri);
    return 0;
}

/* ---- offers ------------------------------------------------------------------------ */

/* Whether some guaranteed quantity of role ri is not yet consumed; fills
 * unmet[i] with the shortfall of each guaranteed name. */
static bool role_unmet(const struct ag_allocator *a, uint32_t ri, int64_t *unmet)
{
    const struct ag__alloc_role *r = &a->roles[ri];
    bool any = false;
    for (uint32_t i = 0; i < a->n_names; i++) {
        unmet[i] = 0;
        if (!(r->guar_mask & (1u << i)))
            continue;
        int64_t d = r->guar[i] - ag__alloc_consumed(a, ri, i);
        if (d > 0) {
            unmet[i] = d;
            any = true;
        }
    }
    return any;
}

static bool has_guaranteed_ancestor(const struct ag_allocator *a, uint32_t ri)
{
    for (uint32_t p = a->roles[ri].parent; p != AG_ALLOC_NONE; p = a->roles[p].parent) {
        if (a->roles[p].guar_mask)
            return true;
    }
    return false;
}

bool ag__alloc_any_unmet(const struct ag_allocator *a)
{
    if (a->n_quota_roles == 0)
        return false;
    int64_t unmet[AG_ALLOC_MAX_SCALARS];
    for (uint32_t ri = 0; ri < a->role_pool.n; ri++) {
        if (a->roles[ri].name && a->roles[ri].guar_mask && role_unmet(a, ri, unmet))
            return true;
    }
    return false;
}

/* Headroom: the unreserved quantities the unmet guarantees still need,
 * summed over the outermost guaranteed roles (a nested guarantee is part
 * of its ancestor's). */
static void required_headroom(const struct ag_allocator *ca, int64_t *req)
{
    /* The cache is not part of the allocator's observable state. */
    struct ag_allocator *a = (struct ag_allocator *)ca;
    if (a->req_valid) {
        memcpy(req, a->req, sizeof(a->req));
        return;
    }
    int64_t unmet[AG_ALLOC_MAX_SCALARS];
    memset(req, 0, sizeof(int64_t) * AG_ALLOC_MAX_SCALARS);
    for (uint32_t ri = 0; ri < a->role_pool.n; ri++) {
        const struct ag__alloc_role *r = &a->roles[ri];
        if (!r->name || !r->guar_mask || has_guaranteed_ancestor(a, ri))
            continue;
        if (!role_unmet(a, ri, unmet))
            continue;
        for (uint32_t i = 0; i < a->n_names; i++)
            req[i] += unmet[i];
    }
    memcpy(a->req, req, sizeof(a->req));
    a->req_valid = true;
}

#define CAP_NONE INT64_MAX

/* The caps on unreserved scalars for an offer to role ri in `stage`
 * (CAP_NONE = uncapped). Returns false if the role may get nothing in
 * that stage; *any says whether some cap applies. */
static bool role_caps(const struct ag_allocator *a, uint32_t ri, enum ag__alloc_stage stage,
                      int64_t *cap, bool *any)
{
    for (uint32_t i = 0; i < AG_ALLOC_MAX_SCALARS; i++)
        cap[i] = CAP_NONE;
    *any = false;
    if (a->n_quota_roles == 0)
        return stage == AG_ALLOC_STAGE_FAIR;

    /* Limits of the role and every ancestor; unmet guarantees above. */
    int64_t unmet[AG_ALLOC_MAX_SCALARS], need[AG_ALLOC_MAX_SCALARS];
    uint32_t guar_names = 0;
    bool under_unmet = false;
    for (uint32_t i = 0; i < AG_ALLOC_MAX_SCALARS; i++)
        need[i] = CAP_NONE;
    for (uint32_t p = ri; p != AG_ALLOC_NONE; p = a->roles[p].parent) {
        const struct ag__alloc_role *r = &a->roles[p];
        for (uint32_t i = 0; i < a->n_names; i++) {
            if (!(r->limit_mask & (1u << i)))
                continue;
            int64_t left = r->limit[i] - ag__alloc_consumed(a, p, i);
            left = left > 0 ? left : 0;
            if (left < cap[i])
                cap[i] = left;
            *any = true;
        }
        if (r->guar_mask && role_unmet(a, p, unmet)) {
            under_unmet = true;
            guar_names |= r->guar_mask;
            for (uint32_t i = 0; i < a->n_names; i++) {
                if ((r->guar_mask & (1u << i)) && unmet[i] < need[i])
                    need[i] = unmet[i];
            }
        }
    }
    if (stage == AG_ALLOC_STAGE_GUARANTEE) {
        if (!under_unmet)
            return false;
        *any = true;
    }
    /* Headroom: what other roles may take of each unreserved name is what
     * is free beyond the unmet guarantees. Stage 1 gives a guaranteed
     * role its shortfall of the guaranteed names, and of the others what
     * the headroom allows (as Mesos does); stage 2 lets anyone take the
     * surplus, and a role below its guarantee also its shortfall. */
    int64_t req[AG_ALLOC_MAX_SCALARS];
    required_headroom(a, req);
    for (uint32_t i = 0; i < a->n_names; i++) {
        bool guaranteed = (guar_names & (1u << i)) && need[i] != CAP_NONE;
        int64_t surplus = CAP_NONE;
        if (req[i] > 0) {
            surplus = a->free_unres[i] - req[i];
            surplus = surplus > 0 ? surplus : 0;
        }
        int64_t c;
        if (stage == AG_ALLOC_STAGE_GUARANTEE)
            c = guaranteed ? need[i] : surplus;
        else
            c = guaranteed && surplus != CAP_NONE ? surplus + need[i] : surplus;
        if (c < cap[i])
            cap[i] = c;
        if (c != CAP_NONE)
            *any = true;
    }
    return true;
}

int ag__alloc_offerable(struct ag_allocator *a, uint32_t ai, uint32_t ri,
                        enum ag__alloc_stage stage, struct ag_resources *tmp,
                        const struct ag_resources **ret)
{
    struct ag__alloc_agent *ag = &a->agents[ai];
    /* Released, not cleared: the caller's tmp is reused across calls. */
    ag_resources_release(tmp);
    *ret = tmp;
    int64_t cap[AG_ALLOC_MAX_SCALARS];
    bool capped;
    if (!role_caps(a, ri, stage, cap, &capped))
        return 0;
    if (capped && ag->plain && !ag->has_reserved) {
        /* Caps above what the agent has change nothing (free_scalar is
         * all unreserved here). */
        capped = false;
        for (uint32_t i = 0; i < a->n_names && !capped; i++)
            capped = cap[i] < ag->free_scalar[i];
    }
    if (!ag->has_reserved && !capped) {
        *ret = &ag->available;
        return 0;
    }
    const char *role = a->roles[ri].name;
    for (size_t k = 0; k < ag->available.n; k++) {
        const struct ag_resource *res = &ag->available.items[k];
        if (!ag_resource_allocatable_to(res, role))
            continue;
        struct ag_resource one = *res;
        if (capped && res->type == AG_VALUE_SCALAR && !ag_resource_is_reserved(res)) {
            uint32_t i = name_index(a, res->name);
            int64_t c = i == AG_ALLOC_NONE ? CAP_NONE : cap[i];
            if (c < one.scalar_milli)
                one.scalar_milli = c;
            if (one.scalar_milli <= 0)
                continue;
        }
        int rc = ag_resources_add_one(tmp, &one);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* ---- reservations, volumes, quota ----------------------------------------- */

/* Gives agent ai the total t and the free set avail (taken), keeping
 * every vector in step. */
static void agent_replace(struct ag_allocator *a, uint32_t ai, const struct ag_resources *t,
                          struct ag_resources *avail)
{
    struct ag__alloc_agent *ag = &a->agents[ai];
    avail_vec(a, ai, &ag->available, -1, true, true);
    if (ag->active)
        cluster_apply(a, ag, -1);
    ag_resources_release(&ag->available);
    ag->available = *avail;
    intern_names(a, t);
    memset(ag->total_scalar, 0, sizeof(ag->total_scalar));
    vec_apply(a, ag->total_scalar, t, 1);
    ag->has_reserved = any_reserved(t);
    if (ag->active)
        cluster_apply(a, ag, 1);
    ag->plain = true; /* until avail_vec sees otherwise */
    avail_vec(a, ai, &ag->available, 1, true, true);
    a->stale = true;
    ag__alloc_mark_dirty(a, ai);
}

int ag__alloc_update_agent(struct ag_allocator *a, const char *agent_id,
                           const struct ag_resources *total)
{
    if (!a || !agent_id || !total)
        return -EINVAL;
    uint32_t ai = agent_find(a, agent_id);
    if (ai == AG_ALLOC_NONE)
        return -ENOENT;
    struct ag__alloc_agent *ag = &a->agents[ai];
    struct ag_resources t, used, avail;
    ag_resources_init(&used);
    ag_resources_init(&avail);
    int rc = copy_unallocated(&t, total);
    if (rc < 0)
        return rc;
    /* What is allocated: the sum of the entries (exact, unlike
     * total - available for sets merged by union). */
    for (uint32_t k = 0; k < ag->n_entries && rc == 0; k++) {
        struct ag_resources one;
        rc = entry_materialize(a, &ag->entries[k], &one);
        if (rc == 0) {
            rc = ag_resources_add(&used, &one);
            ag_resources_release(&one);
        }
    }
    if (rc == 0 && (rc = ag_resources_copy(&avail, &t)) == 0 &&
        ag_resources_subtract(&avail, &used) < 0)
        rc = -ERANGE;
    ag_resources_release(&used);
    if (rc < 0) {
        ag_resources_release(&t);
        ag_resources_release(&avail);
        return rc;
    }
    agent_replace(a, ai, &t, &avail);
    ag_resources_release(&t);
    return 0;
}

/* r's values by name alone (reservations, volumes, revocability and
 * allocation role dropped) into *out (initialised here). */
static int amounts(const struct ag_resources *r, struct ag_resources *out)
{
    ag_resources_init(out);
    for (size_t k = 0; k < r->n; k++) {
        struct ag_resource bare = r->items[k];
        bare.reservations = NULL;
        bare.n_reservations = 0;
        bare.disk = NULL;
        bare.revocable = false;
        bare.allocation_role = NULL;
        int rc = ag_resources_add_one(out, &bare);
        if (rc < 0) {
            ag_resources_release(out);
            return rc;
        }
    }
    return 0;
}

/* Whether x and y amount to the same by name. 0 or -ENOMEM. */
static int same_amounts(const struct ag_resources *x, const struct ag_resources *y, bool *same)
{
    struct ag_resources ax, ay;
    int rc = amounts(x, &ax);
    if (rc < 0)
        return rc;
    rc = amounts(y, &ay);
    if (rc == 0) {
        *same = ag_resources_equal(&ax, &ay);
        ag_resources_release(&ay);
    }
    ag_resources_release(&ax);
    return rc;
}

int ag__alloc_transform(struct ag_allocator *a, const char *framework_id, const char *role,
                        const char *agent_id, const struct ag_resources *from,
                        const struct ag_resources *to)
{
    if (!a || !framework_id || !role || !agent_id || !from || !to)
        return -EINVAL;
    uint32_t ai = agent_find(a, agent_id);
    uint32_t fi = framework_find(a, framework_id);
    if (ai == AG_ALLOC_NONE || fi == AG_ALLOC_NONE)
        return -ENOENT;
    uint32_t ci = client_find(a, fi, role);
    struct ag__alloc_entry *e = ci == AG_ALLOC_NONE ? NULL : entry_find(a, ai, ci);
    if (!e)
        return -ERANGE;
    struct ag__alloc_agent *ag = &a->agents[ai];
    struct ag_resources f, t, held;
    ag_resources_init(&held);
    int rc = copy_unallocated(&f, from);
    if (rc < 0)
        return rc;
    if ((rc = copy_unallocated(&t, to)) < 0) {
        ag_resources_release(&f);
        return rc;
    }
    /* RESERVE, UNRESERVE, CREATE, DESTROY (and volume resizes) only
     * relabel: what each name amounts to stays the same. */
    intern_names(a, &t);
    bool same = false;
    if ((rc = same_amounts(&f, &t, &same)) < 0)
        goto out;
    if (!same) {
        rc = -EINVAL;
        goto out;
    }
    if (!entry_contains(a, e, &f)) {
        rc = -ERANGE;
        goto out;
    }
    /* Build every new set first, so a failure changes nothing. */
    ag_resources_release(&held);
    if ((rc = entry_materialize(a, e, &held)) < 0)
        goto out;
    if (ag_resources_subtract(&held, &f) < 0) {
        rc = -ERANGE;
        goto out;
    }
    if ((rc = ag_resources_add(&held, &t)) < 0)
        goto out;
    struct ag__alloc_entry fresh = {.rng_name = AG_ALLOC_NONE};
    ag_resources_init(&fresh.res);
    if ((rc = entry_add(a, &fresh, &held)) < 0) {
        ag_resources_release(&fresh.res);
        goto out;
    }
    account(a, ci, &f, -1);
    ag_resources_release(&e->res);
    memcpy(e->simple, fresh.simple, sizeof(e->simple));
    e->rng_name = fresh.rng_name;
    e->n_rng = fresh.n_rng;
    memcpy(e->rng, fresh.rng, sizeof(e->rng));
    e->res = fresh.res;
    account(a, ci, &t, 1);
    /* The free set and the total's quantities stay; what is reserved may
     * not (has_reserved only errs toward the careful path). */
    ag->has_reserved = ag->has_reserved || any_reserved(&t);
    ag__alloc_mark_dirty(a, ai);
    if (entry_empty(e)) {
        entry_remove(a, ai, e);
        client_maybe_free(a, ci);
    }
out:
    ag_resources_release(&f);
    ag_resources_release(&t);
    ag_resources_release(&held);
    return rc;
}

/* Quantities of r into vec/mask; -EINVAL if r holds a non-scalar or a name
 * that cannot be interned. */
static int quota_vec(struct ag_allocator *a, const struct ag_resources *r, int64_t *vec,
                     uint32_t *mask)
{
    *mask = 0;
    memset(vec, 0, sizeof(int64_t) * AG_ALLOC_MAX_SCALARS);
    if (!r)
        return 0;
    for (size_t k = 0; k < r->n; k++) {
        const struct ag_resource *res = &r->items[k];
        if (res->type != AG_VALUE_SCALAR)
            return -EINVAL;
        uint32_t i = intern_name(a, res->name);
        if (i == AG_ALLOC_NONE)
            return -EINVAL;
        vec[i] += res->scalar_milli;
        *mask |= 1u << i;
    }
    return 0;
}

int ag__alloc_set_quota(struct ag_allocator *a, const char *role,
                        const struct ag_resources *guarantees, const struct ag_resources *limits)
{
    if (!a || !valid_role(role) || strcmp(role, "*") == 0)
        return -EINVAL;
    int64_t g[AG_ALLOC_MAX_SCALARS], l[AG_ALLOC_MAX_SCALARS];
    uint32_t gm, lm;
    if (quota_vec(a, guarantees, g, &gm) < 0 || quota_vec(a, limits, l, &lm) < 0)
        return -EINVAL;
    for (uint32_t i = 0; i < AG_ALLOC_MAX_SCALARS; i++) {
        if ((gm & lm & (1u << i)) && g[i] > l[i])
            return -EINVAL;
    }
    uint32_t ri;
    if (!gm && !lm) {
        ri = role_find(a, role);
        if (ri == AG_ALLOC_NONE)
            return 0;
    } else {
        int rc = role_get(a, role, &ri);
        if (rc < 0)
            return rc;
    }
    struct ag__alloc_role *r = &a->roles[ri];
    bool had = r->guar_mask || r->limit_mask;
    memcpy(r->guar, g, sizeof(g));
    memcpy(r->limit, l, sizeof(l));
    r->guar_mask = gm;
    r->limit_mask = lm;
    bool has = gm || lm;
    a->n_quota_roles += (uint32_t)has - (uint32_t)had;
    a->req_valid = false;
    a->stale = true;
    a->all_dirty = true;
    role_maybe_free(a, ri);
    return 0;
}

static int pending_reserve(struct ag_allocator *a)
{
    if (a->n_pending < a->cap_pending)
        return 0;
    size_t ncap = a->cap_pending ? a->cap_pending * 2 : 64;
    struct ag__alloc_pending *np = realloc(a->pending, ncap * sizeof(*np));
    if (!np)
        return -ENOMEM;
    a->pending = np;
    a->cap_pending = ncap;
    return 0;
}

/* Sets the allocation role of every entry of r, which has none: a set
 * whose entries differ only in what they all get stays a valid set, so
 * this tags in place rather than rebuilding (as
 * ag_resources_set_allocation_role does). 0, or -ENOMEM with r untagged. */
static int tag_role(struct ag_resources *r, const char *role)
{
    for (size_t k = 0; k < r->n; k++) {
        free(r->items[k].allocation_role);
        r->items[k].allocation_role = strdup(role);
        if (!r->items[k].allocation_role) {
            for (size_t j = 0; j < k; j++) {
                free(r->items[j].allocation_role);
                r->items[j].allocation_role = NULL;
            }
            return -ENOMEM;
        }
    }
    return 0;
}

int ag__alloc_make_offer(struct ag_allocator *a, uint32_t ci, uint32_t ai,
                         const struct ag_resources *offer)
{
    struct ag__alloc_agent *ag = &a->agents[ai];
    struct ag__alloc_entry *e;
    struct ag_resources res;
    struct scan sc;
    ag_resources_init(&res);
    if (offer == &ag->available && ag->plain)
        scan_plain(a, ag, &sc);
    else
        scan_set(a, offer, &sc);
    int rc = pending_reserve(a);
    if (rc == 0)
        rc = entry_get(a, ai, ci, &e);
    if (rc == 0)
        rc = entry_add_scanned(a, e, offer, &sc);
    if (rc < 0)
        goto fail;
    bool moved = offer == &ag->available, was_plain = ag->plain;
    if (moved) {
        /* The whole free set: move it rather than copy and clear. */
        res = ag->available;
        ag_resources_init(&ag->available);
        ag->plain = true;
    } else if ((rc = ag_resources_copy(&res, offer)) < 0 ||
               (rc = ag_resources_subtract(&ag->available, &res)) < 0) {
        (void)entry_sub(a, e, offer);
        goto fail;
    }
    /* Tagged now, while its entries are in cache, not at delivery. */
    const char *role = a->roles[a->clients[ci].role].name;
    if ((rc = tag_role(&res, role)) < 0) {
        /* Cannot tag it, so cannot offer it: put everything back. */
        (void)entry_sub(a, e, &res);
        if (moved) {
            ag->available = res;
            ag->plain = was_plain;
            ag_resources_init(&res);
        } else {
            (void)ag_resources_add(&ag->available, &res);
        }
        goto fail;
    }
    account_vec(a, ci, sc.all);
    avail_take_scanned(a, ai, &res, &sc);
    /* A second offer of the round to the same client and agent (stage 2
     * after stage 1) joins the first: one offer per agent and round. */
    if (e->round == a->round && a->in_round &&
        ag_resources_add(&a->pending[e->pending].res, &res) == 0) {
        ag_resources_release(&res);
        return 0;
    }
    e->round = a->round;
    e->pending = (uint32_t)a->n_pending;
    struct ag__alloc_pending *p = &a->pending[a->n_pending++];
    p->client = ci;
    p->client_gen = a->clients[ci].gen;
    p->agent = ai;
    p->agent_gen = ag->gen;
    p->framework_id = a->frameworks[a->clients[ci].framework].id;
    p->role = role;
    p->agent_id = ag->id;
    p->res = res;
    return 0;

fail:
    e = entry_find(a, ai, ci);
    if (e && entry_empty(e))
        entry_remove(a, ai, e);
    ag_resources_release(&res);
    return rc;
}

/* Hands one queued offer to the callback, unless the callback removed its
 * framework or agent earlier in this delivery (the removal already gave
 * the resources back, so the copy is just dropped). Until something is
 * removed (epoch unchanged), the queued strings are used as they are. */
static void deliver(struct ag_allocator *a, struct ag__alloc_pending *p, uint64_t epoch)
{
    if (a->epoch != epoch) {
        const struct ag__alloc_client *c = &a->clients[p->client];
        const struct ag__alloc_agent *ag = &a->agents[p->agent];
        if (!c->used || c->gen != p->client_gen || !ag->id || ag->gen != p->agent_gen) {
            ag_resources_release(&p->res);
            return;
        }
        p->framework_id = a->frameworks[c->framework].id;
        p->role = a->roles[c->role].name;
        p->agent_id = ag->id;
    }
    a->offer(a->ctx, p->framework_id, p->role, p->agent_id, &p->res);
}

void ag__alloc_run_round(struct ag_allocator *a, double now,
                         void (*policy)(struct ag_allocator *a, double now))
{
    if (!a || a->in_round)
        return;
    a->in_round = true;
    a->round++;
    a->n_pending = 0;
    policy(a, now);
    /* The callback may call back into the allocator (recover, remove...):
     * the round is over, so that is safe; a nested allocate() is ignored. */
    uint64_t epoch = a->epoch;
    for (size_t i = 0; i < a->n_pending; i++)
        deliver(a, &a->pending[i], epoch);
    a->n_pending = 0;
    a->in_round = false;
}
