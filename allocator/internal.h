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
/* Distinct scalar names that count toward shares; names beyond this many
 * (never seen in practice: cpus, mem, disk, gpus...) are still offered and
 * accounted, but ignored when computing shares. */
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
    uint32_t gen; /* bumped when the slot is freed */
    uint32_t framework, role;
    uint64_t seq;       /* creation order (first come, first served) */
    uint32_t n_entries; /* agents on which it holds an allocation */
    int64_t alloc[AG_ALLOC_MAX_SCALARS];
    struct ag__alloc_filters filters;
    /* Scratch for the policy during allocate(). */
    double share;
};

struct ag__alloc_framework {
    char *id; /* NULL = free slot */
    bool active;
    uint32_t *clients;
    uint32_t n_clients, cap_clients;
};

struct ag__alloc_role {
    char *name; /* NULL = free slot */
    double weight;
    uint32_t n_clients;
    int64_t alloc[AG_ALLOC_MAX_SCALARS];
    /* Scratch for the policy during allocate(). */
    double share;
    uint32_t begin, end;
};

/* What one client holds on one agent (allocation role cleared). */
struct ag__alloc_entry {
    uint32_t client;
    struct ag_resources res;
};

struct ag__alloc_agent {
    char *id; /* NULL = free slot */
    bool active;
    bool has_reserved; /* some resource may be reserved: filter per role */
    uint32_t gen;
    uint64_t seq; /* admission order */
    struct ag_resources total;
    struct ag_resources available; /* total - allocated */
    int64_t total_scalar[AG_ALLOC_MAX_SCALARS];
    struct ag__alloc_entry *entries;
    uint32_t n_entries, cap_entries;
    uint32_t n_filters; /* filters on this agent, over all clients */
};

/* An offer decided during a round, delivered after the round. */
struct ag__alloc_pending {
    uint32_t client, client_gen, agent, agent_gen;
    struct ag_resources res;
};

/* Slot bookkeeping for one dense array: n slots ever used, cap allocated,
 * free holds reusable indices (sized to cap, so pushing never fails). */
struct ag__alloc_pool {
    uint32_t n, cap, n_free;
    uint32_t *free;
};

struct ag__alloc_min {
    char *name;
    int64_t milli;
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
    int64_t cluster_total[AG_ALLOC_MAX_SCALARS]; /* over active agents */

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

/* Helpers for the policies' allocate(). */

/* Whether client ci may be offered anything this round: framework active,
 * role subscribed, not suppressed. */
bool ag__alloc_client_eligible(const struct ag_allocator *a, uint32_t ci);
/* Whether agent ai is active and its free resources pass min-allocatable
 * (if they do not, no part of them can). */
bool ag__alloc_agent_offerable(const struct ag_allocator *a, uint32_t ai);
/* The part of agent ai's free resources that role ri may be offered: *ret
 * is the agent's own available set when nothing on it is reserved,
 * otherwise tmp (initialised by the caller, filled here). 0 or -ENOMEM. */
int ag__alloc_offerable(struct ag_allocator *a, uint32_t ai, uint32_t ri, struct ag_resources *tmp,
                        const struct ag_resources **ret);
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
/* Dominant share of a scalar vector against the active cluster total. */
double ag__alloc_share(const struct ag_allocator *a, const int64_t *alloc);
/* Runs a round: sets in_round, calls policy(a, now), then delivers the
 * queued offers through the offer callback. A call from inside the
 * callback (re-entrant) does nothing. */
void ag__alloc_run_round(struct ag_allocator *a, double now,
                         void (*policy)(struct ag_allocator *a, double now));

#endif
