/*
 * namespaces/uts: UTS namespace: the container has its own hostname (ContainerInfo.hostname when
 * given, else the agent's). The work is done by agora-container-init (agent/init/main.c); this
 * table only asks for the namespace.
 */
#include <sched.h>

#include "agent/isolators/isolator.h"

const struct ag_isolator_ops ag_isolator_ns_uts = {
    .name = "namespaces/uts",
    .ns_flag = CLONE_NEWUTS,
    .ctrl = -1,
};
