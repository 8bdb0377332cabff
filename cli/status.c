/*
 * status: how `agora run` turns a task's final status into its own exit
 * code, the way a shell reports a child: the command's status when it
 * exited, 128+signal when a signal ended it.
 */
#include <ctype.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/cli.h"

static const char *const terminal_states[] = {
    "TASK_FINISHED", "TASK_FAILED",  "TASK_KILLED", "TASK_ERROR",
    "TASK_LOST",     "TASK_DROPPED", "TASK_GONE",   "TASK_GONE_BY_OPERATOR",
};

bool ag_cli_state_terminal(const char *state)
{
    if (!state)
        return false;
    for (size_t i = 0; i < sizeof(terminal_states) / sizeof(terminal_states[0]); i++)
        if (strcmp(state, terminal_states[i]) == 0)
            return true;
    return false;
}

/* Signal number from "9", "KILL", "SIGKILL" or strsignal()'s "Killed";
 * 0 if unknown. */
static int signal_number(const char *text, size_t len)
{
    char name[64];
    if (len == 0 || len >= sizeof(name))
        return 0;
    memcpy(name, text, len);
    name[len] = '\0';
    if (isdigit((unsigned char)name[0])) {
        char *end;
        long n = strtol(name, &end, 10);
        return (*end == '\0' && n > 0 && n < NSIG) ? (int)n : 0;
    }
    const char *abbrev = strncasecmp(name, "SIG", 3) == 0 ? name + 3 : name;
    for (int sig = 1; sig < NSIG; sig++) {
        const char *a = sigabbrev_np(sig);
        if (a && strcasecmp(a, abbrev) == 0)
            return sig;
        const char *d = sigdescr_np(sig);
        if (d && strcasecmp(d, name) == 0)
            return sig;
    }
    return 0;
}

int ag_cli_exit_code(const char *state, const char *message)
{
    if (state && strcmp(state, "TASK_FINISHED") == 0)
        return 0;
    if (!message)
        return 1;
    static const char exited[] = "Command exited with status ";
    static const char signaled[] = "Command terminated with signal ";
    const char *p;
    if ((p = strstr(message, exited)) != NULL) {
        p += sizeof(exited) - 1;
        char *end;
        long n = strtol(p, &end, 10);
        if (end != p && n > 0 && n <= 255)
            return (int)n;
        return 1; /* "status 0" without TASK_FINISHED is still a failure */
    }
    if ((p = strstr(message, signaled)) != NULL) {
        p += sizeof(signaled) - 1;
        /* The name runs to the end, or to a " (" / "." that follows it. */
        size_t len = strcspn(p, "(.\n");
        while (len > 0 && p[len - 1] == ' ')
            len--;
        int sig = signal_number(p, len);
        return sig ? 128 + sig : 1;
    }
    return 1;
}
