/*
 * allocator: the policy that decides who is offered what.
 *
 * An allocator is an ops table plus a context (STYLE.md §11). It is pure
 * logic: no sockets, no timers, no clock of its own. The master feeds it
 * events (agents, frameworks, resources used and recovered) and calls
 * allocate() when it wants offers; the allocator answers through the
 * offer callback, one call per (framework, role, agent). Time is passed in
 * (`now`, monotonic seconds) so tests are deterministic.
 *
 * Accounting contract: resources handed out through the offer callback
 * count as allocated to that framework and role until the master gives
 * them back with recover(). A launched task keeps its resources allocated;
 * when it ends, or when an offer is declined, rescinded or partly used, the
 * master recovers the unused part. Resource sets passed in are copied;
 * the allocator never keeps a caller's pointer.
 *
 * Ids are the master's strings; an implementation maps them to dense
 * indices internally.
 *
 * Policies: "drf" (default) is hierarchical DRF: roles form a tree by
 * name ("eng/web" under "eng"), siblings are ordered by weighted dominant
 * share (a subtree's share counts its descendants and the reservations
 * lying free for it), frameworks within a role by their own share; quota
 * guarantees are offered first, limits are never exceeded, and headroom
 * for unmet guarantees is held back. "fifo" offers in subscription order
 * (limits and headroom honoured, no guarantee-first stage).
 */
#ifndef AG_ALLOCATOR_H
#define AG_ALLOCATOR_H

#include <stdbool.h>
#include <stddef.h>

#include "core/resources.h"

struct ag_allocator;

/* Receives one offer: `resources` (allocation role set to `role`) now
 * belongs to the callee, who must ag_resources_release() it. */
typedef void (*ag_allocator_offer_cb)(void *ctx, const char *framework_id, const char *role,
                                      const char *agent_id, struct ag_resources *resources);

struct ag_allocator_options {
    /* Filter applied when recover() is given refuse_seconds < 0. */
    double default_refuse_seconds; /* 5 */
    /* Deprecated single form of min_allocatable_alternatives: each scalar
     * in it is one alternative. Ignored when n_min_allocatable > 0. */
    const struct ag_resources *min_allocatable;
    /* --min_allocatable_resources: an offer is made only if it holds at
     * least every quantity of one of these alternatives (Mesos's
     * "cpus:0.01|mem:32": two alternatives of one scalar each). When
     * none is given the default is that Mesos default. */
    const struct ag_resources *min_allocatable_alternatives;
    size_t n_min_allocatable;
    /* --fair_sharing_excluded_resource_names: resource names left out of
     * dominant-share computations (e.g. "gpus"). */
    const char *const *excluded_resource_names;
    size_t n_excluded_resource_names;
};

struct ag_allocator_ops {
    const char *name; /* "drf", ... as selected by --allocator */

    /* options may be NULL (defaults). NULL on bad options (a count with
     * a NULL array, a NULL name) or without memory. */
    struct ag_allocator *(*create)(const struct ag_allocator_options *options,
                                   ag_allocator_offer_cb offer, void *ctx);
    void (*destroy)(struct ag_allocator *a);

    /* Frameworks. roles: the roles it subscribes with (>= 1). suppressed:
     * roles that start suppressed (subset of roles). A framework already
     * known (e.g. created by add_used) is updated in place. */
    int (*add_framework)(struct ag_allocator *a, const char *framework_id, const char *const *roles,
                         size_t n_roles, const char *const *suppressed, size_t n_suppressed,
                         bool active);
    void (*remove_framework)(struct ag_allocator *a, const char *framework_id);
    /* Inactive frameworks (disconnected) get no offers. */
    void (*set_framework_active)(struct ag_allocator *a, const char *framework_id, bool active);

    /* Agents. total: everything the agent has. */
    int (*add_agent)(struct ag_allocator *a, const char *agent_id,
                     const struct ag_resources *total);
    void (*remove_agent)(struct ag_allocator *a, const char *agent_id);
    /* Inactive agents (disconnected, unreachable) are not offered. */
    void (*set_agent_active)(struct ag_allocator *a, const char *agent_id, bool active);

    /* Marks resources on an agent as already allocated to a framework and
     * role (tasks an agent reports when it re-registers). Creates an
     * inactive framework entry if the framework is not known yet. */
    int (*add_used)(struct ag_allocator *a, const char *framework_id, const char *role,
                    const char *agent_id, const struct ag_resources *used);

    /* Gives resources back. refuse_seconds > 0 filters the (framework,
     * role, agent) for that long; 0 no filter; < 0 the default filter. */
    void (*recover)(struct ag_allocator *a, const char *framework_id, const char *role,
                    const char *agent_id, const struct ag_resources *resources,
                    double refuse_seconds, double now);

    /* SUPPRESS / REVIVE; n_roles == 0 means every role of the framework.
     * Revive also clears the framework's filters for those roles. */
    void (*suppress)(struct ag_allocator *a, const char *framework_id, const char *const *roles,
                     size_t n_roles);
    void (*revive)(struct ag_allocator *a, const char *framework_id, const char *const *roles,
                   size_t n_roles, double now);

    /* Role weights (default 1.0). A weight divides the share of the
     * role's whole subtree when it is compared with its siblings. */
    int (*set_weight)(struct ag_allocator *a, const char *role, double weight);

    /* Runs one allocation round at time `now`: calls the offer callback for
     * every offer it decides on. Within one round a (framework, role) gets
     * at most one offer per agent. */
    void (*allocate)(struct ag_allocator *a, double now);

    /* --- reservations, volumes and quota (issue: allocator) --- */

    /* Replaces an agent's total (dynamic reservations and persistent
     * volumes change it). What is allocated on the agent must stay within
     * the new total: -ERANGE and nothing changes otherwise (-ENOENT for
     * an unknown agent). */
    int (*update_agent)(struct ag_allocator *a, const char *agent_id,
                        const struct ag_resources *total);

    /* Converts resources held by (framework, role) on an agent: `from`
     * (which must be allocated to them) becomes `to`, in both the
     * allocation and the agent's total, atomically. This is how RESERVE,
     * UNRESERVE, CREATE and DESTROY inside an ACCEPT are applied to
     * offered resources. -ERANGE if `from` is not held; -EINVAL if `to`
     * amounts to something else than `from` by name (these operations
     * only relabel); -ENOENT for an unknown agent or framework. Nothing
     * changes on error. */
    int (*transform)(struct ag_allocator *a, const char *framework_id, const char *role,
                     const char *agent_id, const struct ag_resources *from,
                     const struct ag_resources *to);

    /* Sets a role's quota: guarantees (offered before fair sharing, with
     * headroom held back from other roles) and limits (never offered
     * past). Scalar quantities only; NULL or empty clears that half.
     * Applies to the role's whole subtree; consumption counts what the
     * subtree is allocated plus its reservations lying free. -EINVAL if
     * a guarantee exceeds its limit, for a non-scalar entry, or for a bad
     * role ("*" included); nothing changes then. */
    int (*set_quota)(struct ag_allocator *a, const char *role,
                     const struct ag_resources *guarantees, const struct ag_resources *limits);

    /* --- incremental rounds --- */

    /* Like allocate(), but visits only the agents that changed since the
     * last round (added, re-activated, resources recovered, total
     * updated), so a batched event costs what it touched, not the
     * cluster. They are visited in the order a full round would visit
     * them, so without decline filters it makes the offers allocate()
     * would. Events that concern every agent (a framework added or
     * re-activated, REVIVE, weights, quota) make it a full round. Keep
     * calling allocate() on the periodic tick: decline filters expire
     * by time, which marks nothing. May be NULL in other policies (then
     * call allocate()). */
    void (*allocate_changed)(struct ag_allocator *a, double now);
};

/* The policy named `name`, or NULL. */
const struct ag_allocator_ops *ag_allocator_find(const char *name);
/* Names of the built-in policies, NULL-terminated (for --help). */
const char *const *ag_allocator_names(void);

#endif
