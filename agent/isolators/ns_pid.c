/*
 * namespaces/pid: PID namespace: the executor runs under a PID 1 of its own, so that killing the
 * container (or its PID 1) kills every process in it, and ps inside shows only the container. The
 * work is done by agora-container-init (agent/init/main.c); this table only asks for the namespace.
 */
#include <sched.h>

#include "agent/isolators/isolator.h"

const struct ag_isolator_ops ag_isolator_ns_pid = {
    .name = "namespaces/pid",
    .ns_flag = CLONE_NEWPID,
    .ctrl = -1,
};
