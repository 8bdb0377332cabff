/*
 * fifo: first come, first served; the second built-in policy, proving the
 * interface holds more than DRF.
 *
 * Agents are visited in admission order and (framework, role) clients in
 * subscription order: the oldest framework is offered every agent, and a
 * younger one only what the older ones filter (decline), suppress, or
 * cannot take (reservations of another role). Weights are ignored; quota
 * limits and the headroom of unmet guarantees are honoured, but there is
 * no guarantee-first stage. Useful
 * for a single dominant framework, or batch queues that should drain in
 * order; it starves late frameworks by design.
 *
 * Cost of a round: O(A log A + C log C) sorting, then per agent a walk over
 * the clients until the agent is empty.
 */
#include "allocator/internal.h"

#include <errno.h>
#include <stdlib.h>

struct fifo_scratch {
    uint32_t *agents, *clients;
    size_t cap_agents, cap_clients;
};

static void scratch_free(void *p)
{
    struct fifo_scratch *s = p;
    if (!s)
        return;
    free(s->agents);
    free(s->clients);
    free(s);
}

static int reserve(uint32_t **arr, size_t *cap, size_t n)
{
    if (n <= *cap)
        return 0;
    size_t ncap = *cap ? *cap : 64;
    while (ncap < n)
        ncap *= 2;
    uint32_t *na = realloc(*arr, ncap * sizeof(*na));
    if (!na)
        return -ENOMEM;
    *arr = na;
    *cap = ncap;
    return 0;
}

static int agent_qcmp(const void *x, const void *y, void *arg)
{
    const struct ag_allocator *a = arg;
    uint64_t sx = a->agents[*(const uint32_t *)x].seq, sy = a->agents[*(const uint32_t *)y].seq;
    return sx < sy ? -1 : sx > sy;
}

static int client_qcmp(const void *x, const void *y, void *arg)
{
    const struct ag_allocator *a = arg;
    uint64_t sx = a->clients[*(const uint32_t *)x].seq;
    uint64_t sy = a->clients[*(const uint32_t *)y].seq;
    return sx < sy ? -1 : sx > sy;
}

static void fifo_round(struct ag_allocator *a, double now)
{
    struct fifo_scratch *s = a->policy;
    if (!s) {
        s = calloc(1, sizeof(*s));
        if (!s)
            return;
        a->policy = s;
        a->policy_free = scratch_free;
    }
    if (reserve(&s->agents, &s->cap_agents, a->agent_pool.n) < 0 ||
        reserve(&s->clients, &s->cap_clients, a->client_pool.n) < 0)
        return;
    uint32_t n_agents = 0, n_clients = 0;
    for (uint32_t ai = 0; ai < a->agent_pool.n; ai++) {
        if (ag__alloc_agent_offerable(a, ai))
            s->agents[n_agents++] = ai;
    }
    for (uint32_t ci = 0; ci < a->client_pool.n; ci++) {
        if (ag__alloc_client_eligible(a, ci))
            s->clients[n_clients++] = ci;
    }
    /* The arrays are still NULL while the pools are empty. */
    if (n_agents > 1)
        qsort_r(s->agents, n_agents, sizeof(uint32_t), agent_qcmp, a);
    if (n_clients > 1)
        qsort_r(s->clients, n_clients, sizeof(uint32_t), client_qcmp, a);

    struct ag_resources tmp;
    ag_resources_init(&tmp);
    for (uint32_t k = 0; k < n_agents; k++) {
        uint32_t ai = s->agents[k];
        for (uint32_t j = 0; j < n_clients; j++) {
            uint32_t ci = s->clients[j];
            const struct ag_resources *offer;
            if (ag__alloc_offerable(a, ai, a->clients[ci].role, AG_ALLOC_STAGE_FAIR, &tmp, &offer) <
                    0 ||
                !ag__alloc_allocatable(a, offer) || ag__alloc_filtered(a, ci, ai, offer, now))
                continue;
            (void)ag__alloc_make_offer(a, ci, ai, offer);
            if (!ag__alloc_allocatable(a, &a->agents[ai].available))
                break;
        }
    }
    ag_resources_release(&tmp);
}

static void fifo_allocate(struct ag_allocator *a, double now)
{
    ag__alloc_run_round(a, now, fifo_round);
}

static struct ag_allocator *fifo_create(const struct ag_allocator_options *options,
                                        ag_allocator_offer_cb offer, void *ctx)
{
    return ag__alloc_create(&ag__alloc_fifo_ops, options, offer, ctx);
}

const struct ag_allocator_ops ag__alloc_fifo_ops = {
    .name = "fifo",
    .create = fifo_create,
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
    .allocate = fifo_allocate,
    .update_agent = ag__alloc_update_agent,
    .transform = ag__alloc_transform,
    .set_quota = ag__alloc_set_quota,
    /* No order to keep: an incremental round is a full one. */
    .allocate_changed = fifo_allocate,
};
