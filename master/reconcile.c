/*
 * reconcile: the answers of explicit and implicit reconciliation (§4.6),
 * as pure functions of what the master knows.
 */
#include "master/internal.h"

bool ag_master_reconcile_unknown(enum ag_master_recon_agent agent, bool any_recovering, bool pa,
                                 enum ag_task_state *ret_state)
{
    enum ag_task_state state;
    switch (agent) {
    case AG_RECON_AGENT_RECOVERING:
        /* The agent may still report the task when it re-registers. */
        return false;
    case AG_RECON_AGENT_NOT_GIVEN:
        if (any_recovering)
            return false;
        state = AG_TASK_UNKNOWN;
        break;
    case AG_RECON_AGENT_REGISTERED:
        state = AG_TASK_GONE;
        break;
    case AG_RECON_AGENT_UNREACHABLE:
        state = AG_TASK_UNREACHABLE;
        break;
    case AG_RECON_AGENT_GONE:
        state = AG_TASK_GONE_BY_OPERATOR;
        break;
    case AG_RECON_AGENT_UNKNOWN:
    default:
        state = AG_TASK_UNKNOWN;
        break;
    }
    *ret_state = ag_task_state_for(state, pa);
    return true;
}

enum ag_task_state ag_master_reconcile_known(enum ag_task_state state, bool has_update_state,
                                             enum ag_task_state update_state, bool pa)
{
    /* A task the master moved to UNREACHABLE itself (its agent is gone)
     * answers that, not the last update the agent delivered: Mesos keeps
     * such tasks among the framework's unreachable tasks. */
    if (state == AG_TASK_UNREACHABLE)
        return ag_task_state_for(AG_TASK_UNREACHABLE, pa);
    return ag_task_state_for(has_update_state ? update_state : state, pa);
}
