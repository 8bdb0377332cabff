/*
 * namespaces/net: network namespace with only loopback (brought up by the helper): off by default;
 * the executor still reaches the agent through a relay the helper keeps in the host's namespace.
 * The work is done by agora-container-init (agent/init/main.c); this table
 * only asks for the namespace.
 */
#include <sched.h>

#include "agent/isolators/isolator.h"

const struct ag_isolator_ops ag_isolator_ns_net = {
    .name = "namespaces/net",
    .ns_flag = CLONE_NEWNET,
    .ctrl = -1,
};
