/*
 * daemon: ag_master_main(), the master as a process: flags, the loop,
 * signals, the listener, and a clean shutdown.
 */
#include "master/master.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/flags.h"
#include "core/http.h"
#include "core/log.h"
#include "core/loop.h"
#include "master/internal.h"

#define USAGE "agora-master [flags]\n\nThe Agora master (Mesos v1 HTTP API)."

/* Flag storage: the table points here. Strings start as literals (cast:
 * ag_flags_release frees only what parsing set). */
struct flag_values {
    char *ip, *hostname, *work_dir, *log_level, *allocator;
    char *weights, *excluded_resource_names, *min_allocatable_resources;
    int port;
    double offer_timeout, agent_ping_timeout, agent_reregister_timeout, allocation_interval;
    double framework_heartbeat_interval;
    int max_agent_ping_timeouts, max_completed_tasks_per_framework, max_completed_frameworks;
    int max_unreachable_tasks_per_framework, max_body_size;
};

static void on_signal(int signo, void *arg)
{
    ag_info("received signal %d; shutting down", signo);
    ag_loop_stop(arg);
}

/* Range checks the flag parser cannot do. */
static int check_values(const struct flag_values *v, char *err, size_t errlen)
{
    if (v->port < 0 || v->port > 65535)
        snprintf(err, errlen, "--port must be between 0 and 65535, not %d", v->port);
    else if (v->agent_ping_timeout <= 0)
        snprintf(err, errlen, "--agent_ping_timeout must be positive");
    else if (v->max_agent_ping_timeouts < 1)
        snprintf(err, errlen, "--max_agent_ping_timeouts must be at least 1");
    else if (v->agent_reregister_timeout < 0)
        snprintf(err, errlen, "--agent_reregister_timeout must not be negative");
    else if (v->allocation_interval <= 0)
        snprintf(err, errlen, "--allocation_interval must be positive");
    else if (v->framework_heartbeat_interval <= 0)
        snprintf(err, errlen, "--framework_heartbeat_interval must be positive");
    else if (v->offer_timeout < 0)
        snprintf(err, errlen, "--offer_timeout must not be negative");
    else if (v->max_completed_tasks_per_framework < 0 || v->max_completed_frameworks < 0 ||
             v->max_unreachable_tasks_per_framework < 0)
        snprintf(err, errlen, "--max_completed_* flags must not be negative");
    else if (v->max_body_size <= 0)
        snprintf(err, errlen, "--max_body_size must be positive");
    else
        return 0;
    return -EINVAL;
}

static int run(struct ag_master_config *cfg)
{
    char err[1024] = "";
    int rc = 1;
    struct ag_loop *loop = ag_loop_new();
    struct ag_master *m = NULL;
    struct ag_signal *sigint = NULL, *sigterm = NULL;
    if (!loop) {
        fprintf(stderr, "agora-master: cannot create the event loop\n");
        return 1;
    }
    m = ag_master_new(cfg, loop, NULL, err, sizeof(err));
    if (!m) {
        fprintf(stderr, "agora-master: %s\n", err);
        goto out;
    }
    if (ag_master_http_start(m, err, sizeof(err)) < 0) {
        fprintf(stderr, "agora-master: cannot listen on %s:%d: %s\n", cfg->ip, cfg->port, err);
        goto out;
    }
    sigint = ag_signal_new(loop, SIGINT, on_signal, loop);
    sigterm = ag_signal_new(loop, SIGTERM, on_signal, loop);
    ag_info("master %s starting (allocator '%s')", m->id, m->alloc_ops->name);
    fprintf(stderr, "master listening on http://%s:%d\n", cfg->ip, m->port);
    fflush(stderr);
    int r = ag_loop_run(loop);
    if (r < 0)
        ag_error("event loop failed: %s", strerror(-r));
    rc = r < 0 ? 1 : 0;
    ag_info("master stopped");
out:
    ag_master_free(m);
    ag_signal_free(sigint);
    ag_signal_free(sigterm);
    ag_loop_free(loop);
    return rc;
}

int ag_master_main(int argc, char **argv)
{
    struct flag_values v = {
        .ip = (char *)"127.0.0.1",
        .hostname = (char *)"",
        .work_dir = (char *)"",
        .log_level = (char *)"info",
        .allocator = (char *)"drf",
        .weights = (char *)"",
        .excluded_resource_names = (char *)"",
        .min_allocatable_resources = (char *)"",
        .port = 5050,
        .offer_timeout = 0,
        .agent_ping_timeout = 15,
        .agent_reregister_timeout = 600,
        .allocation_interval = 1,
        .framework_heartbeat_interval = 15,
        .max_agent_ping_timeouts = 5,
        .max_completed_tasks_per_framework = 1000,
        .max_completed_frameworks = 50,
        .max_unreachable_tasks_per_framework = 1000,
        .max_body_size = (int)AG_HTTP_MAX_BODY_DEFAULT,
    };
    struct ag_flag flags[] = {
        {"ip", AG_FLAG_STRING, &v.ip, "IP address to listen on", false},
        {"port", AG_FLAG_INT, &v.port, "port to listen on (0 picks a free one)", false},
        {"hostname", AG_FLAG_STRING, &v.hostname,
         "hostname advertised to frameworks and agents (default: the --ip)", false},
        {"work_dir", AG_FLAG_STRING, &v.work_dir, "directory for the master's state", false},
        {"log_level", AG_FLAG_STRING, &v.log_level, "debug, info, warning, error or none", false},
        {"offer_timeout", AG_FLAG_DURATION, &v.offer_timeout,
         "time after which an outstanding offer is rescinded (0: never)", false},
        {"agent_ping_timeout", AG_FLAG_DURATION, &v.agent_ping_timeout,
         "interval of the pings (HEARTBEAT events) sent to agents", false},
        {"max_agent_ping_timeouts", AG_FLAG_INT, &v.max_agent_ping_timeouts,
         "unanswered pings after which an agent is unreachable", false},
        {"agent_reregister_timeout", AG_FLAG_DURATION, &v.agent_reregister_timeout,
         "time a disconnected agent has to come back before it is unreachable", false},
        {"allocation_interval", AG_FLAG_DURATION, &v.allocation_interval,
         "interval of the periodic allocation rounds", false},
        {"allocator", AG_FLAG_STRING, &v.allocator, "allocation policy (drf, ...)", false},
        {"weights", AG_FLAG_STRING, &v.weights,
         "role weights, e.g. 'eng=2,ops=1' (default 1; changeable with UPDATE_WEIGHTS)", false},
        {"fair_sharing_excluded_resource_names", AG_FLAG_STRING, &v.excluded_resource_names,
         "resource names left out of fair-share computations, e.g. 'gpus'", false},
        {"min_allocatable_resources", AG_FLAG_STRING, &v.min_allocatable_resources,
         "smallest offers made: alternatives separated by '|', each a resource text "
         "(default 'cpus:0.01|mem:32')",
         false},
        {"framework_heartbeat_interval", AG_FLAG_DURATION, &v.framework_heartbeat_interval,
         "interval of HEARTBEAT events on scheduler streams", false},
        {"max_completed_tasks_per_framework", AG_FLAG_INT, &v.max_completed_tasks_per_framework,
         "completed tasks kept per framework", false},
        {"max_completed_frameworks", AG_FLAG_INT, &v.max_completed_frameworks,
         "completed frameworks kept", false},
        {"max_unreachable_tasks_per_framework", AG_FLAG_INT, &v.max_unreachable_tasks_per_framework,
         "unreachable tasks kept per framework", false},
        {"max_body_size", AG_FLAG_INT, &v.max_body_size,
         "largest request body accepted, in bytes (larger: 413)", false},
    };
    size_t n_flags = sizeof(flags) / sizeof(flags[0]);
    char err[1024] = "";
    int next = argc;
    ag_log_set_tag("master");

    signal(SIGPIPE, SIG_IGN);
    int r = ag_flags_parse(flags, n_flags, argc, argv, USAGE, &next, err, sizeof(err));
    if (r == 1) {
        ag_flags_release(flags, n_flags);
        return 0;
    }
    if (r < 0) {
        fprintf(stderr, "agora-master: %s\n", err);
        ag_flags_release(flags, n_flags);
        return 1;
    }
    if (next < argc) {
        fprintf(stderr, "agora-master: unexpected argument '%s'\n", argv[next]);
        ag_flags_release(flags, n_flags);
        return 1;
    }
    enum ag_log_level level;
    if (ag_log_level_parse(v.log_level, &level) < 0) {
        fprintf(stderr,
                "agora-master: --log_level '%s' is not one of debug, info, warning, "
                "error, none\n",
                v.log_level);
        ag_flags_release(flags, n_flags);
        return 1;
    }
    ag_log_set_level(level);
    if (check_values(&v, err, sizeof(err)) < 0) {
        fprintf(stderr, "agora-master: %s\n", err);
        ag_flags_release(flags, n_flags);
        return 1;
    }

    struct ag_master_config cfg;
    ag_master_config_defaults(&cfg);
    cfg.ip = v.ip;
    cfg.port = v.port;
    cfg.hostname = v.hostname[0] ? v.hostname : NULL;
    cfg.work_dir = v.work_dir;
    cfg.offer_timeout = v.offer_timeout;
    cfg.agent_ping_timeout = v.agent_ping_timeout;
    cfg.max_agent_ping_timeouts = v.max_agent_ping_timeouts;
    cfg.agent_reregister_timeout = v.agent_reregister_timeout;
    cfg.allocation_interval = v.allocation_interval;
    /* Mesos's name for the default policy. */
    cfg.allocator = strcmp(v.allocator, "HierarchicalDRF") == 0 ? "drf" : v.allocator;
    cfg.framework_heartbeat_interval = v.framework_heartbeat_interval;
    cfg.max_completed_tasks_per_framework = v.max_completed_tasks_per_framework;
    cfg.max_completed_frameworks = v.max_completed_frameworks;
    cfg.max_unreachable_tasks_per_framework = v.max_unreachable_tasks_per_framework;
    cfg.max_body_size = (size_t)v.max_body_size;
    cfg.weights = v.weights;
    cfg.excluded_resource_names = v.excluded_resource_names;
    cfg.min_allocatable_resources = v.min_allocatable_resources;
    cfg.flags = flags;
    cfg.n_flags = n_flags;

    int rc = run(&cfg);
    ag_flags_release(flags, n_flags);
    return rc;
}
