/*
 * master: the Agora master daemon (a Mesos-compatible master).
 *
 * ag_master_main() is the whole daemon: it parses the flags (Mesos names,
 * AGORA_* environment fallbacks), serves the scheduler, agent and operator
 * APIs and the legacy endpoints on one HTTP listener, and runs until
 * SIGINT or SIGTERM. The `agora master` command and the agora-master binary
 * both call it.
 */
#ifndef AG_MASTER_MASTER_H
#define AG_MASTER_MASTER_H

/* Flags from argv[1..]; returns the process exit code (0 after a clean
 * stop or --help, 1 on bad flags or when the listener cannot start). */
int ag_master_main(int argc, char **argv);

#endif
