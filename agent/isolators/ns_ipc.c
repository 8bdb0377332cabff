/*
 * namespaces/ipc: IPC namespace: System V IPC objects and POSIX message queues of its own.
 * The work is done by agora-container-init (agent/init/main.c); this table
 * only asks for the namespace.
 */
#include <sched.h>

#include "agent/isolators/isolator.h"

const struct ag_isolator_ops ag_isolator_ns_ipc = {
    .name = "namespaces/ipc",
    .ns_flag = CLONE_NEWIPC,
    .ctrl = -1,
};
