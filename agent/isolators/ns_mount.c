/*
 * namespaces/mount: mount namespace: private propagation, /proc of the container's PID namespace, a
 * private /tmp (the sandbox's tmp directory) and the sandbox at /mnt/mesos/sandbox (MESOS_SANDBOX).
 * The work is done by agora-container-init (agent/init/main.c); this table
 * only asks for the namespace.
 */
#include <sched.h>

#include "agent/isolators/isolator.h"

const struct ag_isolator_ops ag_isolator_ns_mount = {
    .name = "namespaces/mount",
    .ns_flag = CLONE_NEWNS,
    .ctrl = -1,
};
