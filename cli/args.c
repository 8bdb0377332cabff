/*
 * args: option parsing for the agora subcommands.
 *
 * The daemons use core/flags.h; the CLI needs a little more (repeatable
 * options such as --env, and "--" before a command to run), and keeps its
 * strings pointing into argv so nothing needs freeing but list arrays.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agora/scheduler.h"
#include "cli/cli.h"

static const struct ag_cli_opt *find_opt(const struct ag_cli_opt *opts, size_t n, const char *name,
                                         size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(opts[i].name) == len && strncmp(opts[i].name, name, len) == 0)
            return &opts[i];
    return NULL;
}

static int parse_bool(const char *text, bool *ret)
{
    if (strcmp(text, "true") == 0 || strcmp(text, "1") == 0 || strcmp(text, "yes") == 0) {
        *ret = true;
        return 0;
    }
    if (strcmp(text, "false") == 0 || strcmp(text, "0") == 0 || strcmp(text, "no") == 0) {
        *ret = false;
        return 0;
    }
    return -EINVAL;
}

static int list_append(struct ag_cli_list *list, const char *value)
{
    const char **grown = realloc(list->items, (list->n + 2) * sizeof(*grown));
    if (!grown)
        return -ENOMEM;
    grown[list->n++] = value;
    grown[list->n] = NULL;
    list->items = grown;
    return 0;
}

static int set_value(const struct ag_cli_opt *opt, const char *value, char *err, size_t errlen)
{
    char *end = NULL;
    switch (opt->type) {
    case AG_CLI_STR:
        *(const char **)opt->ptr = value;
        return 0;
    case AG_CLI_INT: {
        errno = 0;
        long v = strtol(value, &end, 10);
        if (!*value || *end || errno || v < -2147483647L || v > 2147483647L) {
            snprintf(err, errlen, "--%s: '%s' is not an integer", opt->name, value);
            return -EINVAL;
        }
        *(int *)opt->ptr = (int)v;
        return 0;
    }
    case AG_CLI_DOUBLE: {
        errno = 0;
        double v = strtod(value, &end);
        if (!*value || *end || errno || !isfinite(v)) {
            snprintf(err, errlen, "--%s: '%s' is not a number", opt->name, value);
            return -EINVAL;
        }
        *(double *)opt->ptr = v;
        return 0;
    }
    case AG_CLI_BOOL:
        if (parse_bool(value, (bool *)opt->ptr) < 0) {
            snprintf(err, errlen, "--%s: '%s' is not true or false", opt->name, value);
            return -EINVAL;
        }
        return 0;
    case AG_CLI_LIST:
        return list_append((struct ag_cli_list *)opt->ptr, value);
    }
    return -EINVAL;
}

int ag_cli_parse(const struct ag_cli_opt *opts, size_t n, int argc, char **argv, int *ret_next,
                 char *err, size_t errlen)
{
    int i = 1;
    err[0] = '\0';
    for (; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--") == 0) {
            i++;
            break;
        }
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)
            return 1;
        if (strncmp(arg, "--", 2) != 0) {
            if (arg[0] == '-' && arg[1] != '\0') {
                snprintf(err, errlen, "unknown option '%s' (options are --name=value)", arg);
                return -EINVAL;
            }
            break;
        }
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const struct ag_cli_opt *opt = find_opt(opts, n, name, len);
        if (!opt && !eq && strncmp(name, "no-", 3) == 0) {
            const struct ag_cli_opt *neg = find_opt(opts, n, name + 3, len - 3);
            if (neg && neg->type == AG_CLI_BOOL) {
                *(bool *)neg->ptr = false;
                continue;
            }
        }
        if (!opt) {
            snprintf(err, errlen, "unknown option '--%.*s'", (int)len, name);
            return -EINVAL;
        }
        const char *value;
        if (eq) {
            value = eq + 1;
        } else if (opt->type == AG_CLI_BOOL) {
            *(bool *)opt->ptr = true;
            continue;
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            snprintf(err, errlen, "option '--%s' needs a value", opt->name);
            return -EINVAL;
        }
        int r = set_value(opt, value, err, errlen);
        if (r < 0)
            return r;
    }
    *ret_next = i;
    return 0;
}

void ag_cli_list_release(struct ag_cli_list *list)
{
    free(list->items);
    list->items = NULL;
    list->n = 0;
}

void ag_cli_print_options(const struct ag_cli_opt *opts, size_t n)
{
    printf("\nOptions:\n");
    for (size_t i = 0; i < n; i++) {
        char left[64];
        const char *meta = opts[i].type == AG_CLI_BOOL ? "" : "=VALUE";
        snprintf(left, sizeof(left), "--%s%s", opts[i].name, meta);
        printf("  %-24s %s\n", left, opts[i].help);
    }
}

char *ag_cli_master_base(const char *flag, char *err, size_t errlen)
{
    const char *addr = flag;
    if (!addr || !*addr)
        addr = getenv("AGORA_MASTER");
    if (!addr || !*addr)
        addr = "127.0.0.1:5050";
    char *base = NULL;
    if (ag_scheduler_master_url(addr, &base) < 0) {
        snprintf(err, errlen, "bad master address '%s' (expected HOST:PORT or http://HOST:PORT)",
                 addr);
        return NULL;
    }
    return base;
}
