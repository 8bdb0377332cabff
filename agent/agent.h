/*
 * agent: the Agora agent daemon (one per machine). It registers with the
 * master over the agent protocol (docs/agent-protocol.md), launches
 * executors into sandboxes under --work_dir, serves the executor API
 * (/api/v1/executor), forwards status updates reliably, and serves /state,
 * /metrics/snapshot and /files for operators and UIs.
 */
#ifndef AG_AGENT_AGENT_H
#define AG_AGENT_AGENT_H

/* Runs the agent with flags from argv[1..] until SIGINT/SIGTERM; returns
 * the process exit code (0 after a clean shutdown, 1 on a startup error,
 * 0 after --help). Used by agent/main.c and by `agora agent`. */
int ag_agent_main(int argc, char **argv);

#endif
