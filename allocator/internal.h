/*
 * internal: the bookkeeping every built-in policy shares.
 *
 * Policies differ only in the order in which they visit agents and
 * (framework, role) pairs in allocate(); everything else (ids, agents,
 * frameworks, allocations, decline filters, suppression, min-allocatable
 * checks, offer delivery) lives here, in state.c, and the policies' ops
 * tables point at these functions.
 *
 * Records live in dense arrays indexed by uint32_t, found through idmaps
 * at the API edge; freed slots go on a free list and are reused. A
 * (framework, role) pair is a "client": it holds the allocation counters
 * and the decline filters. Not part of the public interface.
 *
 * Quantities are vectors over interned names (int64_t thousandths, as in
 * resources.h): per agent (total, free), per client and role (allocated,
 * and per role its subtree's allocation and free reservations), and for
 * the cluster (total, unreserved free). Resource sets (struct
 * ag_resources) are kept only where identities matter: an agent's free
 * set, which becomes the offer itself, and the non-plain part of what a
 * client holds on an agent. Quota: guarantees and limits per role apply
 * to its subtree; consumption is allocation plus free reservations.
 */
#ifndef AG_ALLOCATOR_INTERNAL_H
#define AG_ALLOCATOR_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "allocator/allocator.h"
#include "allocator/idmap.h"
#include "core/resources.h"

#define AG_ALLOC_NONE UINT32_MAX
/* Distinct scalar and ranges names interned (cpus, mem, disk, gpus,
 * ports...); resources of names beyond this many are still offered and
 * held exactly, but count toward no share, quota or minimum. */
#define AG_ALLOC_MAX_SCALARS 16
#define AG_ALLOC_MAGIC       0x41414c43u /* "AALC" */

/* A decline filter on one agent: offers that fit inside `refused` are
 * withheld until `expiry`. */
struct ag__alloc_filter {
    uint32_t agent; /* AG_ALLOC_NONE = empty slot */
    double expiry;
    struct ag_resources refused;
};

/* Per-client filters keyed by agent index (open addressing). */
struct ag__alloc_filters {
    struct ag__alloc_filter *slots;
    uint32_t cap, n;
};

struct ag__alloc_client {
    bool used;
    bool subscribed; /* the framework currently subscribes with this role */
    bool suppressed;
    bool in_order; /* policy: listed in its role's sorted client list */
    uint32_t gen;  /* bumped when the slot is freed */
    uint32_t framework, role;
    uint64_t seq;       /* creation order (first come, first served) */
    uint32_t n_entries; /* agents on which it holds an allocation */
    int64_t alloc[AG_ALLOC_MAX_SCALARS];
    struct ag__alloc_filters filters;
    /* Policy scratch: cached share, and the framework id's rank among
     * the ordered clients (ties break by id without comparing strings). */
    double share;
    uint32_t rank;
};

struct ag__alloc_framework {
    char *id; /* NULL = free slot */
    bool active;
    uint32_t *clients;
    uint32_t n_clients, cap_clients;
};

/* A growable list of indices. */
struct ag__alloc_list {
    uint32_t *v;
    uint32_t n, cap;
};

/* A policy order list: entries sorted by (key, tie), each carrying its
 * sort key so that searches and moves stay inside the list's memory. */
struct ag__alloc_oentry {
    double key;
    uint32_t tie, id;
};
struct ag__alloc_olist {
    struct ag__alloc_oentry *v;
    uint32_t n, cap;
};

/* Roles form a tree by name ("eng/web" is a child of "eng"); top-level
 * roles have parent AG_ALLOC_NONE. Vectors are over interned scalar names. */
struct ag__alloc_role {
    char *name; /* NULL = free slot */
    double weight;
    uint32_t parent;
    uint32_t n_children; /* child roles that exist */
    uint32_t n_clients;
    /* Allocated to clients of this role and its descendants. */
    int64_t alloc[AG_ALLOC_MAX_SCALARS];
    /* Allocated to clients of exactly this role. */
    int64_t own[AG_ALLOC_MAX_SCALARS];
    /* Reserved to this role or a descendant, free on an active agent:
     * counts toward the role's share and consumed quota, as in Mesos. */
    int64_t unalloc_res[AG_ALLOC_MAX_SCALARS];
    /* Quota: masks of interned names that have a guarantee / limit. */
    uint32_t guar_mask, limit_mask;
    int64_t guar[AG_ALLOC_MAX_SCALARS], limit[AG_ALLOC_MAX_SCALARS];
    /* Policy (drf) order, rebuilt when a->stale, kept sorted otherwise. */
    bool in_tree;                 /* some eligible client in the subtree */
    double key, self_key;         /* weighted share of the subtree / own clients */
    uint32_t rank;                /* the name's rank among roles in the tree */
    struct ag__alloc_olist kids;  /* child roles in tree, and SELF|ri */
    struct ag__alloc_olist order; /* eligible clients of this role */
};

/* What one client holds on one agent (allocation role cleared): plain
 * scalars (unreserved, non-revocable, no disk info, interned name) as
 * numbers in `simple`, one plain ranges resource inline, everything else
 * (reserved, volumes, sets...) in `res`. Adding a whole-agent offer then
 * allocates nothing. */
#define AG_ALLOC_ENTRY_RANGES 4
struct ag__alloc_entry {
    uint32_t client;
    uint32_t pending; /* index in a->pending of this round's offer */
    uint64_t round;   /* the round that offer belongs to (0: none) */
    int64_t simple[AG_ALLOC_MAX_SCALARS];
    /* One plain ranges resource (e.g. ports) of up to
     * AG_ALLOC_ENTRY_RANGES ranges, kept inline: rng_name is its interned
     * name, AG_ALLOC_NONE if none. Such a resource is either here or in
     * res, never in both. */
    uint32_t rng_name, n_rng;
    struct ag_range rng[AG_ALLOC_ENTRY_RANGES];
    struct ag_resources res;
};

struct ag__alloc_agent {
    /* What a round's visit reads comes first (one cache line, then the
     * free vector). */
    char *id; /* NULL = free slot */
    bool active;
    bool has_reserved; /* some resource may be reserved: filter per role */
    bool dirty;        /* listed in a->dirty (changed since the last round) */
    /* Every scalar of `available` is plain (kept as a number in entries;
     * see struct ag__alloc_entry): a whole-agent offer is then accounted
     * from free_scalar without looking names up. May be false when it
     * need not be, never the other way. */
    bool plain;
    uint32_t gen;
    struct ag_resources available; /* total - allocated */
    struct ag__alloc_entry *entries;
    uint32_t n_entries, cap_entries;
    /* Clients with a decline filter on this agent (n_filters of them,
     * unordered): most candidates of a visit are told apart from the
     * filtered ones without touching their filter tables. */
    uint32_t *filter_clients;
    uint32_t n_filters, cap_filter_clients;
    int64_t free_scalar[AG_ALLOC_MAX_SCALARS]; /* scalars of `available` */
    uint64_t seq;                              /* admission order */
    /* The total's scalars. The total itself is not kept: it is available
     * plus the entries, and only rare operations need it whole. */
    int64_t total_scalar[AG_ALLOC_MAX_SCALARS];
};

/* An offer decided during a round, delivered after the round. */
struct ag__alloc_pending {
    uint32_t client, client_gen, agent, agent_gen;
    /* The strings the callback gets, valid while a->epoch stays. */
    const char *framework_id, *role, *agent_id;
    struct ag_resources res; /* allocation role already set */
};

/* Slot bookkeeping for one dense array: n slots ever used, cap allocated,
 * free holds reusable indices (sized to cap, so pushing never fails). */
struct ag__alloc_pool {
    uint32_t n, cap, n_free;
    uint32_t *free;
};

/* One --min_allocatable_resources alternative: every named quantity. */
struct ag__alloc_min {
    uint32_t mask;
    int64_t milli[AG_ALLOC_MAX_SCALARS];
};

/* Offer stages of a round (see drf.c). */
enum ag__alloc_stage {
    AG_ALLOC_STAGE_GUARANTEE = 1, /* only toward unmet guarantees */
    AG_ALLOC_STAGE_FAIR = 2,      /* everyone, capped by limits, headroom */
};

struct ag_allocator {
    uint32_t magic;
    const struct ag_allocator_ops *ops;
    ag_allocator_offer_cb offer;
    void *ctx;
    double default_refuse;
    struct ag__alloc_min *min;
    size_t n_min;

    char *names[AG_ALLOC_MAX_SCALARS];
    uint32_t n_names;
    /* names by hash (index + 1, 0 = empty; linear probing): a lookup is
     * a hash of a short string and one compare. */
    uint8_t name_slots[4 * AG_ALLOC_MAX_SCALARS];
    uint32_t excluded_mask;                      /* names left out of shares */
    int64_t cluster_total[AG_ALLOC_MAX_SCALARS]; /* over active agents */
    double inv_total[AG_ALLOC_MAX_SCALARS];      /* 1/total, 0 if excluded */
    /* Unreserved free scalars over active agents (headroom). */
    int64_t free_unres[AG_ALLOC_MAX_SCALARS];
    uint32_t n_quota_roles; /* roles with a guarantee or limit */
    /* The headroom unmet guarantees need, cached until an allocation or
     * a reservation's state changes (req_valid false). */
    bool req_valid;
    int64_t req[AG_ALLOC_MAX_SCALARS];

    /* The policy's order must be rebuilt (eligibility, weights, quota or
     * the cluster total changed). */
    bool stale;
    /* Bit ai set: agent ai is active and has something free, so a full
     * round visits only these (a busy cluster's full agents cost
     * nothing). n_free_words words, covering the agent pool. */
    uint64_t *free_bits;
    uint32_t n_free_words;
    /* Agents changed since the last round; all_dirty: every agent. */
    bool all_dirty;
    struct ag__alloc_list dirty;
    /* Policy hooks: a client's allocation or a role's consumption
     * changed (the order must move it). NULL for unordered policies. */
    void (*touch_client)(struct ag_allocator *a, uint32_t ci);
    void (*touch_role)(struct ag_allocator *a, uint32_t ri);

    struct ag__alloc_agent *agents;
    struct ag__alloc_pool agent_pool;

    struct ag__alloc_framework *frameworks;
    struct ag__alloc_pool framework_pool;

    struct ag__alloc_client *clients;
    struct ag__alloc_pool client_pool;

    struct ag__alloc_role *roles;
    struct ag__alloc_pool role_pool;

    struct ag__idmap agent_ids, framework_ids, role_names;
    uint64_t seq;

    bool in_round;
    uint64_t round; /* rounds run, for merging offers within one */
    /* Bumped whenever an id or role string may be freed (a framework,
     * client, agent or role goes): queued offers' string pointers are
     * good while it stays. */
    uint64_t epoch;
    struct ag__alloc_pending *pending;
    size_t n_pending, cap_pending;

    /* Policy scratch, freed by destroy. */
    void *policy;
    void (*policy_free)(void *policy);
};

/* The built-in policies (drf.c, fifo.c). */
extern const struct ag_allocator_ops ag__alloc_drf_ops;
extern const struct ag_allocator_ops ag__alloc_fifo_ops;

/* Shared ops (the policies' tables point at these). */
struct ag_allocator *ag__alloc_create(const struct ag_allocator_ops *ops,
                                      const struct ag_allocator_options *options,
                                      ag_allocator_offer_cb offer, void *ctx);
void ag__alloc_destroy(struct ag_allocator *a);
int ag__alloc_add_framework(struct ag_allocator *a, const char *framework_id,
                            const char *const *roles, size_t n_roles, const char *const *suppressed,
                            size_t n_suppressed, bool active);
void ag__alloc_remove_framework(struct ag_allocator *a, const char *framework_id);
void ag__alloc_set_framework_active(struct ag_allocator *a, const char *framework_id, bool active);
int ag__alloc_add_agent(struct ag_allocator *a, const char *agent_id,
                        const struct ag_resources *total);
void ag__alloc_remove_agent(struct ag_allocator *a, const char *agent_id);
void ag__alloc_set_agent_active(struct ag_allocator *a, const char *agent_id, bool active);
int ag__alloc_add_used(struct ag_allocator *a, const char *framework_id, const char *role,
                       const char *agent_id, const struct ag_resources *used);
void ag__alloc_recover(struct ag_allocator *a, const char *framework_id, const char *role,
                       const char *agent_id, const struct ag_resources *resources,
                       double refuse_seconds, double now);
void ag__alloc_suppress(struct ag_allocator *a, const char *framework_id, const char *const *roles,
                        size_t n_roles);
void ag__alloc_revive(struct ag_allocator *a, const char *framework_id, const char *const *roles,
                      size_t n_roles, double now);
int ag__alloc_set_weight(struct ag_allocator *a, const char *role, double weight);
int ag__alloc_update_agent(struct ag_allocator *a, const char *agent_id,
                           const struct ag_resources *total);
int ag__alloc_transform(struct ag_allocator *a, const char *framework_id, const char *role,
                        const char *agent_id, const struct ag_resources *from,
                        const struct ag_resources *to);
int ag__alloc_set_quota(struct ag_allocator *a, const char *role,
                        const struct ag_resources *guarantees, const struct ag_resources *limits);

/* Helpers for the policies' allocate(). */

/* Whether client ci may be offered anything this round: framework active,
 * role subscribed, not suppressed. */
bool ag__alloc_client_eligible(const struct ag_allocator *a, uint32_t ci);
/* Whether agent ai is active and its free resources pass min-allocatable
 * (if they do not, no part of them can). */
bool ag__alloc_agent_offerable(const struct ag_allocator *a, uint32_t ai);
/* The part of agent ai's free resources that role ri may be offered in
 * `stage`: its own and its ancestors' reservations plus unreserved
 * resources, with unreserved scalars capped by the role's quota limits
 * and by the headroom other roles' unmet guarantees need (stage FAIR), or
 * to the unmet guarantees themselves (stage GUARANTEE; nothing if none).
 * *ret is the agent's own available set when nothing needs taking out,
 * otherwise tmp (initialised by the caller, filled here). 0 or -ENOMEM. */
int ag__alloc_offerable(struct ag_allocator *a, uint32_t ai, uint32_t ri,
                        enum ag__alloc_stage stage, struct ag_resources *tmp,
                        const struct ag_resources **ret);
/* Whether any role has a guarantee not yet met (stage GUARANTEE needed). */
bool ag__alloc_any_unmet(const struct ag_allocator *a);
/* Consumed quota of role ri (subtree allocation + unallocated
 * reservations) for name i. */
int64_t ag__alloc_consumed(const struct ag_allocator *a, uint32_t ri, uint32_t i);
/* Recomputes inv_total from cluster_total (call when stale). */
void ag__alloc_refresh_totals(struct ag_allocator *a);
/* Marks agent ai changed (for allocate_changed). */
void ag__alloc_mark_dirty(struct ag_allocator *a, uint32_t ai);
/* Whether r is non-empty and passes the min-allocatable check. */
bool ag__alloc_allocatable(const struct ag_allocator *a, const struct ag_resources *r);
/* Whether a decline filter of client ci withholds `offer` on agent ai at
 * `now` (an expired filter is dropped on the way). */
bool ag__alloc_filtered(struct ag_allocator *a, uint32_t ci, uint32_t ai,
                        const struct ag_resources *offer, double now);
/* Allocates `offer` (a subset of agent ai's available set; if it is that
 * set itself, the whole of it) to client ci and queues the offer for
 * delivery at the end of the round. 0 or -ENOMEM (nothing changed). */
int ag__alloc_make_offer(struct ag_allocator *a, uint32_t ci, uint32_t ai,
                         const struct ag_resources *offer);
/* Dominant share of a scalar vector against the active cluster total
 * (excluded names left out; uses inv_total, fresh after a rebuild). */
double ag__alloc_share(const struct ag_allocator *a, const int64_t *alloc);
/* Empties the dirty-agent list (and all_dirty). */
void ag__alloc_clear_dirty(struct ag_allocator *a);
/* Runs a round: sets in_round, calls policy(a, now), then delivers the
 * queued offers through the offer callback. A call from inside the
 * callback (re-entrant) does nothing. */
void ag__alloc_run_round(struct ag_allocator *a, double now,
                         void (*policy)(struct ag_allocator *a, double now));

#endif
