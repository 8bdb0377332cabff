/*
 * main: the `agora` command. One binary for everything an operator or a
 * user needs: the daemons (`agora master`, `agora agent`), a whole cluster
 * on one machine (`agora local`), a one-off task (`agora run`), and views
 * of the cluster (`agora tasks`, `agents`, `frameworks`, `state`).
 */
#include <stdio.h>
#include <string.h>

#include "agent/agent.h"
#include "cli/cli.h"
#include "cli/logs.h"
#include "master/master.h"

struct command {
    const char *name;
    int (*main)(int argc, char **argv);
    const char *summary;
};

static int version_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("agora %s\n", AGORA_VERSION);
    return 0;
}

static const struct command commands[] = {
    {"local", ag_cli_local_main, "run a master and agents on this machine, with an example"},
    {"run", ag_cli_run_main, "run one command as a task and stream its output"},
    {"tasks", ag_cli_tasks_main, "list tasks"},
    {"agents", ag_cli_agents_main, "list agents and their resources"},
    {"frameworks", ag_cli_frameworks_main, "list frameworks"},
    {"state", ag_cli_state_main, "print the master's state JSON"},
    {"logs", ag_cli_logs_main, "print a task's stdout/stderr (-f: follow it live)"},
    {"master", ag_master_main, "run a master (same flags as agora-master)"},
    {"agent", ag_agent_main, "run an agent (same flags as agora-agent)"},
    {"version", version_main, "print the version"},
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *out)
{
    fprintf(out, "usage: agora COMMAND [OPTIONS] [ARGS]\n\nCommands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(out, "  %-12s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "  %-12s %s\n", "help CMD", "options of a command (same as agora CMD --help)");
    fprintf(out, "\nCommands that talk to a master take --master=HOST:PORT (default "
                 "$AGORA_MASTER, else 127.0.0.1:5050).\n"
                 "Examples:\n"
                 "  agora local                 a master and 2 agents; Ctrl-C stops them\n"
                 "  agora run -- echo hello     one task; exits with the task's exit code\n"
                 "  agora tasks\n");
}

static const struct command *find(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 ||
        (strcmp(name, "help") == 0 && argc == 2)) {
        usage(stdout);
        return 0;
    }
    if (strcmp(name, "--version") == 0)
        return version_main(0, NULL);
    if (strcmp(name, "help") == 0) {
        const struct command *cmd = find(argv[2]);
        if (!cmd) {
            fprintf(stderr, "agora: no command '%s' (see agora --help)\n", argv[2]);
            return 2;
        }
        char *help_argv[] = {argv[2], (char *)"--help", NULL};
        return cmd->main(2, help_argv);
    }
    const struct command *cmd = find(name);
    if (!cmd) {
        fprintf(stderr, "agora: no command '%s' (see agora --help)\n", name);
        return 2;
    }
    return cmd->main(argc - 1, argv + 1);
}
