/*
 * views: the master's legacy JSON (/master/tasks, /master/slaves,
 * /master/frameworks) turned into tables, and small lookups in agent
 * state and offers. Pure: no I/O.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

/* Number formatting for resources: "0.5", "32", "2048". */
static void fmt_num(char *out, size_t len, double v)
{
    snprintf(out, len, "%.10g", v);
}

static double res_value(const json_t *resources, const char *name)
{
    json_t *v = json_object_get(resources, name);
    return json_is_number(v) ? json_number_value(v) : 0.0;
}

static const char *str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

static int table_with(struct ag_cli_table *t, const char *const *headers, size_t n)
{
    return ag_cli_table_init(t, headers, n);
}

int ag_cli_tasks_table(const json_t *doc, struct ag_cli_table *ret)
{
    json_t *tasks = json_object_get(doc, "tasks");
    if (!json_is_array(tasks))
        return -EINVAL;
    static const char *const headers[] = {"ID",    "NAME", "STATE", "FRAMEWORK",
                                          "AGENT", "CPUS", "MEM"};
    int r = table_with(ret, headers, 7);
    if (r < 0)
        return r;
    ag_cli_table_align_right(ret, 5);
    ag_cli_table_align_right(ret, 6);
    size_t i;
    json_t *task;
    json_array_foreach(tasks, i, task)
    {
        char cpus[32], mem[32];
        json_t *res = json_object_get(task, "resources");
        fmt_num(cpus, sizeof(cpus), res_value(res, "cpus"));
        fmt_num(mem, sizeof(mem), res_value(res, "mem"));
        const char *row[] = {str(task, "id"),
                             str(task, "name"),
                             str(task, "state"),
                             str(task, "framework_id"),
                             str(task, "slave_id"),
                             cpus,
                             mem};
        if ((r = ag_cli_table_add(ret, row)) < 0) {
            ag_cli_table_release(ret);
            return r;
        }
    }
    return 0;
}

static void used_total(char *out, size_t len, const json_t *agent, const char *name)
{
    char used[32], total[32];
    fmt_num(used, sizeof(used), res_value(json_object_get(agent, "used_resources"), name));
    fmt_num(total, sizeof(total), res_value(json_object_get(agent, "resources"), name));
    snprintf(out, len, "%s/%s", used, total);
}

int ag_cli_agents_table(const json_t *doc, struct ag_cli_table *ret)
{
    json_t *agents = json_object_get(doc, "slaves");
    if (!json_is_array(agents))
        return -EINVAL;
    static const char *const headers[] = {"ID",   "HOSTNAME", "PORT",     "ACTIVE",
                                          "CPUS", "MEM (MB)", "DISK (MB)"};
    int r = table_with(ret, headers, 7);
    if (r < 0)
        return r;
    for (size_t c = 4; c < 7; c++)
        ag_cli_table_align_right(ret, c);
    size_t i;
    json_t *agent;
    json_array_foreach(agents, i, agent)
    {
        char port[16] = "-", cpus[64], mem[64], disk[64];
        json_t *p = json_object_get(agent, "port");
        if (json_is_integer(p))
            snprintf(port, sizeof(port), "%lld", (long long)json_integer_value(p));
        used_total(cpus, sizeof(cpus), agent, "cpus");
        used_total(mem, sizeof(mem), agent, "mem");
        used_total(disk, sizeof(disk), agent, "disk");
        json_t *active = json_object_get(agent, "active");
        const char *row[] = {str(agent, "id"),
                             str(agent, "hostname"),
                             port,
                             json_is_boolean(active) ? (json_is_true(active) ? "yes" : "no") : NULL,
                             cpus,
                             mem,
                             disk};
        if ((r = ag_cli_table_add(ret, row)) < 0) {
            ag_cli_table_release(ret);
            return r;
        }
    }
    return 0;
}

static void framework_roles(char *out, size_t len, const json_t *fw)
{
    json_t *roles = json_object_get(fw, "roles");
    out[0] = '\0';
    if (json_is_array(roles) && json_array_size(roles) > 0) {
        size_t i, used = 0;
        json_t *role;
        json_array_foreach(roles, i, role)
        {
            int n = snprintf(out + used, len - used, "%s%s", i ? "," : "",
                             json_string_value(role) ? json_string_value(role) : "?");
            if (n < 0 || (size_t)n >= len - used)
                break;
            used += (size_t)n;
        }
        return;
    }
    snprintf(out, len, "%s", str(fw, "role") ? str(fw, "role") : "*");
}

static int add_framework_row(struct ag_cli_table *t, const json_t *fw, bool completed)
{
    char roles[128], tasks[16], cpus[32], mem[32];
    framework_roles(roles, sizeof(roles), fw);
    json_t *list = json_object_get(fw, "tasks");
    snprintf(tasks, sizeof(tasks), "%zu", json_is_array(list) ? json_array_size(list) : 0);
    json_t *used = json_object_get(fw, "used_resources");
    fmt_num(cpus, sizeof(cpus), res_value(used, "cpus"));
    fmt_num(mem, sizeof(mem), res_value(used, "mem"));
    const char *state = "completed";
    if (!completed) {
        bool active = json_is_true(json_object_get(fw, "active"));
        json_t *conn = json_object_get(fw, "connected");
        bool connected = !json_is_boolean(conn) || json_is_true(conn);
        state = active ? "active" : (connected ? "inactive" : "disconnected");
    }
    const char *row[] = {str(fw, "id"), str(fw, "name"), state, roles, tasks, cpus, mem};
    return ag_cli_table_add(t, row);
}

int ag_cli_frameworks_table(const json_t *doc, struct ag_cli_table *ret)
{
    json_t *active = json_object_get(doc, "frameworks");
    json_t *completed = json_object_get(doc, "completed_frameworks");
    if (!json_is_array(active))
        return -EINVAL;
    static const char *const headers[] = {"ID", "NAME", "STATE", "ROLES", "TASKS", "CPUS", "MEM"};
    int r = table_with(ret, headers, 7);
    if (r < 0)
        return r;
    for (size_t c = 4; c < 7; c++)
        ag_cli_table_align_right(ret, c);
    size_t i;
    json_t *fw;
    json_array_foreach(active, i, fw)
    {
        if ((r = add_framework_row(ret, fw, false)) < 0)
            goto fail;
    }
    json_array_foreach(completed, i, fw)
    {
        if ((r = add_framework_row(ret, fw, true)) < 0)
            goto fail;
    }
    return 0;
fail:
    ag_cli_table_release(ret);
    return r;
}

char *ag_cli_urlencode(const char *text)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t len = strlen(text);
    char *out = malloc(len * 3 + 1);
    if (!out)
        return NULL;
    char *p = out;
    for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
        if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
            strchr("-_.~/", *c)) {
            *p++ = (char)*c;
        } else {
            *p++ = '%';
            *p++ = hex[*c >> 4];
            *p++ = hex[*c & 15];
        }
    }
    *p = '\0';
    return out;
}

static bool has_task(const json_t *executor, const char *task_id)
{
    static const char *const lists[] = {"tasks", "queued_tasks", "completed_tasks"};
    for (size_t l = 0; l < 3; l++) {
        size_t i;
        json_t *task;
        json_array_foreach(json_object_get(executor, lists[l]), i, task)
        {
            const char *id = str(task, "id");
            if (id && strcmp(id, task_id) == 0)
                return true;
        }
    }
    return false;
}

static const char *dir_in_framework(const json_t *fw, const char *task_id)
{
    static const char *const lists[] = {"executors", "completed_executors"};
    for (size_t l = 0; l < 2; l++) {
        size_t i;
        json_t *ex;
        json_array_foreach(json_object_get(fw, lists[l]), i, ex)
        {
            const char *id = str(ex, "id");
            const char *dir = str(ex, "directory");
            if (dir && ((id && strcmp(id, task_id) == 0) || has_task(ex, task_id)))
                return dir;
        }
    }
    return NULL;
}

const char *ag_cli_sandbox_dir(const json_t *agent_state, const char *fid, const char *task_id)
{
    static const char *const lists[] = {"frameworks", "completed_frameworks"};
    for (size_t l = 0; l < 2; l++) {
        size_t i;
        json_t *fw;
        json_array_foreach(json_object_get(agent_state, lists[l]), i, fw)
        {
            const char *id = str(fw, "id");
            if (!id || strcmp(id, fid) != 0)
                continue;
            const char *dir = dir_in_framework(fw, task_id);
            if (dir)
                return dir;
        }
    }
    return NULL;
}

char *ag_cli_offer_agent_url(const json_t *offer)
{
    json_t *address = json_object_get(json_object_get(offer, "url"), "address");
    const char *host = str(address, "ip");
    if (!host || !*host)
        host = str(address, "hostname");
    json_t *port = json_object_get(address, "port");
    long long p = json_is_integer(port) ? json_integer_value(port) : 5051;
    if (!host || !*host)
        host = str(offer, "hostname");
    if (!host || !*host || p <= 0 || p > 65535)
        return NULL;
    size_t n = strlen(host) + 32;
    char *url = malloc(n);
    if (url)
        snprintf(url, n, "http://%s:%lld", host, p);
    return url;
}

char *ag_cli_agent_url_from_slaves(const json_t *doc, const char *agent_id)
{
    size_t i;
    json_t *agent;
    json_array_foreach(json_object_get(doc, "slaves"), i, agent)
    {
        const char *id = str(agent, "id");
        if (!id || strcmp(id, agent_id) != 0)
            continue;
        /* pid is "slave(1)@ip:port": the address the agent really listens on. */
        const char *pid = str(agent, "pid");
        const char *at = pid ? strchr(pid, '@') : NULL;
        if (at && at[1]) {
            size_t n = strlen(at + 1) + 8;
            char *url = malloc(n);
            if (url)
                snprintf(url, n, "http://%s", at + 1);
            return url;
        }
        const char *host = str(agent, "hostname");
        json_t *port = json_object_get(agent, "port");
        if (host && json_is_integer(port)) {
            size_t n = strlen(host) + 32;
            char *url = malloc(n);
            if (url)
                snprintf(url, n, "http://%s:%lld", host, (long long)json_integer_value(port));
            return url;
        }
    }
    return NULL;
}
