/*
 * logs: the `agora logs` subcommand (logs.c).
 */
#ifndef AG_CLI_LOGS_H
#define AG_CLI_LOGS_H

/* agora logs [--master=HOST:PORT] [-f] [--stderr] [--framework=ID] TASK */
int ag_cli_logs_main(int argc, char **argv);

#endif
