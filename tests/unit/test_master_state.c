/* Unit tests for the master's state machine (master/master.c) and its JSON
 * shapes (master/render.c), without sockets: a fake allocator stands in for
 * the policy and an event sink captures what the master would send. The
 * loop is created for timers but never run. */
#include "test.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>

#include "allocator/allocator.h"
#include "core/json.h"
#include "core/jw.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/resources.h"
#include "master/internal.h"

/* --- a fake allocator: offers each agent whole to the one framework --- */

#define FAKE_MAX 8

struct ag_allocator {
    ag_allocator_offer_cb cb;
    void *ctx;
    char fw[256], role[64];
    bool has_fw, fw_active;
    char agents[FAKE_MAX][256];
    struct ag_resources totals[FAKE_MAX];
    bool present[FAKE_MAX], offered[FAKE_MAX];
    size_t n_agents;
    int n_recover, n_add_used, n_remove_agent, n_remove_framework;
    double last_refuse;
};

static struct ag_allocator *fake_create(const struct ag_allocator_options *o,
                                        ag_allocator_offer_cb cb, void *ctx)
{
    (void)o;
    struct ag_allocator *a = calloc(1, sizeof(*a));
    a->cb = cb;
    a->ctx = ctx;
    return a;
}

static void fake_destroy(struct ag_allocator *a)
{
    for (size_t i = 0; i < a->n_agents; i++)
        ag_resources_release(&a->totals[i]);
    free(a);
}

static int fake_add_framework(struct ag_allocator *a, const char *id, const char *const *roles,
                              size_t n, const char *const *sup, size_t n_sup, bool active)
{
    (void)sup;
    (void)n_sup;
    snprintf(a->fw, sizeof(a->fw), "%s", id);
    snprintf(a->role, sizeof(a->role), "%s", n ? roles[0] : "*");
    a->has_fw = true;
    a->fw_active = active;
    return 0;
}

static void fake_remove_framework(struct ag_allocator *a, const char *id)
{
    (void)id;
    a->has_fw = false;
    a->n_remove_framework++;
}

static void fake_set_framework_active(struct ag_allocator *a, const char *id, bool active)
{
    (void)id;
    a->fw_active = active;
}

static int agent_index(struct ag_allocator *a, const char *id)
{
    for (size_t i = 0; i < a->n_agents; i++)
        if (strcmp(a->agents[i], id) == 0)
            return (int)i;
    return -1;
}

static int fake_add_agent(struct ag_allocator *a, const char *id, const struct ag_resources *t)
{
    int i = agent_index(a, id);
    if (i < 0) {
        i = (int)a->n_agents++;
        snprintf(a->agents[i], sizeof(a->agents[i]), "%s", id);
        ag_resources_init(&a->totals[i]);
    }
    ag_resources_clear(&a->totals[i]);
    ag_resources_copy(&a->totals[i], t);
    a->present[i] = true;
    a->offered[i] = false;
    return 0;
}

static void fake_remove_agent(struct ag_allocator *a, const char *id)
{
    int i = agent_index(a, id);
    if (i >= 0)
        a->present[i] = false;
    a->n_remove_agent++;
}

static void fake_set_agent_active(struct ag_allocator *a, const char *id, bool active)
{
    (void)a;
    (void)id;
    (void)active;
}

static int fake_add_used(struct ag_allocator *a, const char *fw, const char *role,
                         const char *agent, const struct ag_resources *used)
{
    (void)fw;
    (void)role;
    (void)agent;
    (void)used;
    a->n_add_used++;
    return 0;
}

static void fake_recover(struct ag_allocator *a, const char *fw, const char *role,
                         const char *agent, const struct ag_resources *res, double refuse,
                         double now)
{
    (void)fw;
    (void)role;
    (void)res;
    (void)now;
    a->n_recover++;
    a->last_refuse = refuse;
    int i = agent_index(a, agent);
    if (i >= 0)
        a->offered[i] = false;
}

static void fake_roles(struct ag_allocator *a, const char *fw, const char *const *roles, size_t n)
{
    (void)a;
    (void)fw;
    (void)roles;
    (void)n;
}

static void fake_revive(struct ag_allocator *a, const char *fw, const char *const *roles, size_t n,
                        double now)
{
    (void)now;
    fake_roles(a, fw, roles, n);
}

static int fake_set_weight(struct ag_allocator *a, const char *role, double w)
{
    (void)a;
    (void)role;
    (void)w;
    return 0;
}

static void fake_allocate(struct ag_allocator *a, double now)
{
    (void)now;
    if (!a->has_fw || !a->fw_active)
        return;
    for (size_t i = 0; i < a->n_agents; i++) {
        if (!a->present[i] || a->offered[i])
            continue;
        struct ag_resources r;
        ag_resources_init(&r);
        ag_resources_copy(&r, &a->totals[i]);
        ag_resources_set_allocation_role(&r, a->role);
        a->offered[i] = true;
        a->cb(a->ctx, a->fw, a->role, a->agents[i], &r); /* the callee owns r now */
    }
}

static const struct ag_allocator_ops fake_ops = {
    .name = "fake",
    .create = fake_create,
    .destroy = fake_destroy,
    .add_framework = fake_add_framework,
    .remove_framework = fake_remove_framework,
    .set_framework_active = fake_set_framework_active,
    .add_agent = fake_add_agent,
    .remove_agent = fake_remove_agent,
    .set_agent_active = fake_set_agent_active,
    .add_used = fake_add_used,
    .recover = fake_recover,
    .suppress = fake_roles,
    .revive = fake_revive,
    .set_weight = fake_set_weight,
    .allocate = fake_allocate,
};

/* --- fixture --- */

struct fixture {
    struct ag_loop *loop;
    struct ag_master *m;
    json_t *events; /* [{to_agent, id, event}] */
};

static void sink(void *arg, bool to_agent, const char *id, const json_t *event)
{
    struct fixture *f = arg;
    json_array_append_new(
        f->events, json_pack("{s:b, s:s, s:O}", "to_agent", to_agent, "id", id, "event", event));
}

static void setup(struct fixture *f)
{
    struct ag_master_config cfg;
    ag_master_config_defaults(&cfg);
    cfg.port = 5050;
    char err[256];
    ag_log_set_level(AG_LOG_ERROR);
    f->loop = ag_loop_new();
    f->m = ag_master_new(&cfg, f->loop, &fake_ops, err, sizeof(err));
    f->events = json_array();
    f->m->sink = sink;
    f->m->sink_arg = f;
}

static void teardown(struct fixture *f)
{
    ag_master_free(f->m);
    ag_loop_free(f->loop);
    json_decref(f->events);
}

static json_t *parse(const char *text)
{
    char err[256];
    json_t *j = ag_json_parse(text, strlen(text), err, sizeof(err));
    if (!j)
        fprintf(stderr, "bad test JSON: %s\n%s\n", err, text);
    return j;
}

/* The n-th captured event of `type` (0-based), or NULL. */
static json_t *event(struct fixture *f, const char *type, size_t nth)
{
    size_t i;
    json_t *e;
    json_array_foreach(f->events, i, e)
    {
        json_t *ev = json_object_get(e, "event");
        if (strcmp(json_string_value(json_object_get(ev, "type")), type) == 0 && nth-- == 0)
            return ev;
    }
    return NULL;
}

static const char *path_str(const json_t *j, const char *a, const char *b, const char *c)
{
    json_t *v = json_object_get(j, a);
    if (b)
        v = json_object_get(v, b);
    if (c)
        v = json_object_get(v, c);
    return json_string_value(v);
}

static struct ag_master_agent *add_agent(struct fixture *f, const char *id)
{
    char text[1024];
    snprintf(text, sizeof(text),
             "{\"version\":1,\"agent_info\":{\"hostname\":\"node1\",%s%s%s\"resources\":["
             "{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":4}},"
             "{\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1024}}],"
             "\"attributes\":[{\"name\":\"rack\",\"type\":\"TEXT\",\"text\":{\"value\":\"r1\"}}]}}",
             id ? "\"id\":{\"value\":\"" : "", id ? id : "", id ? "\"}," : "");
    json_t *sub = parse(text);
    struct ag_master_agent *a = NULL;
    char err[256];
    int r = ag_master_agent_subscribe(f->m, sub, "127.0.0.1", NULL, "sid-a", &a, err, sizeof(err));
    json_decref(sub);
    return r == 0 ? a : NULL;
}

static struct ag_master_framework *add_fw(struct fixture *f, const char *extra)
{
    char text[1024];
    snprintf(text, sizeof(text), "{\"user\":\"u\",\"name\":\"fw\"%s}", extra ? extra : "");
    json_t *info = parse(text);
    struct ag_master_framework *fw = NULL;
    char err[256];
    int r = ag_master_fw_subscribe(f->m, info, NULL, NULL, "sid-f", &fw, err, sizeof(err));
    json_decref(info);
    return r == 0 ? fw : NULL;
}

/* A running task on a, holding cpus:1. */
static struct ag_master_task *add_task(struct fixture *f, struct ag_master_framework *fw,
                                       struct ag_master_agent *a, const char *id)
{
    struct ag_resources res;
    char err[256];
    ag_resources_init(&res);
    ag_resources_parse("cpus:1", NULL, &res, err, sizeof(err));
    ag_resources_set_allocation_role(&res, "*");
    json_t *info = json_pack("{s:s, s:{s:s}}", "name", id, "task_id", "value", id);
    struct ag_master_task *t =
        ag_master_task_new(f->m, fw, a, id, NULL, "*", info, &res, AG_TASK_RUNNING);
    ag_master_task_hold(f->m, t, false);
    json_decref(info);
    ag_resources_release(&res);
    return t;
}

/* --- tests --- */

TEST(ids_and_subscribed_events)
{
    struct fixture f;
    setup(&f);
    struct ag_master_agent *a = add_agent(&f, NULL);
    ASSERT_NOT_NULL(a);
    char want[128];
    snprintf(want, sizeof(want), "%s-S0", f.m->id);
    ASSERT_STREQ(a->id, want);
    json_t *ev = event(&f, "SUBSCRIBED", 0);
    ASSERT_STREQ(path_str(ev, "subscribed", "agent_id", "value"), want);

    struct ag_master_framework *fw = add_fw(&f, NULL);
    ASSERT_NOT_NULL(fw);
    snprintf(want, sizeof(want), "%s-0000", f.m->id);
    ASSERT_STREQ(fw->id, want);
    ev = event(&f, "SUBSCRIBED", 1);
    ASSERT_STREQ(path_str(ev, "subscribed", "framework_id", "value"), want);
    ASSERT_STREQ(path_str(ev, "subscribed", "master_info", "id"), f.m->id);
    ASSERT_EQ(json_integer_value(json_object_get(
                  json_object_get(json_object_get(ev, "subscribed"), "master_info"), "ip")),
              16777343);
    ASSERT_NEAR(json_number_value(json_object_get(json_object_get(ev, "subscribed"),
                                                  "heartbeat_interval_seconds")),
                15.0, 1e-9);
    teardown(&f);
}

TEST(offers_batched_and_shaped)
{
    struct fixture f;
    setup(&f);
    add_agent(&f, NULL);
    add_agent(&f, NULL);
    struct ag_master_framework *fw = add_fw(&f, NULL);
    ag_master_allocate(f.m);
    /* two agents, one OFFERS event with two offers */
    json_t *ev = event(&f, "OFFERS", 0);
    ASSERT_NOT_NULL(ev);
    ASSERT_NULL(event(&f, "OFFERS", 1));
    json_t *offers = json_object_get(json_object_get(ev, "offers"), "offers");
    ASSERT_EQ(json_array_size(offers), 2);
    json_t *o = json_array_get(offers, 0);
    char want[128];
    snprintf(want, sizeof(want), "%s-O0", f.m->id);
    ASSERT_STREQ(path_str(o, "id", "value", NULL), want);
    ASSERT_STREQ(path_str(o, "framework_id", "value", NULL), fw->id);
    ASSERT_STREQ(path_str(o, "hostname", NULL, NULL), "node1");
    ASSERT_STREQ(path_str(o, "url", "scheme", NULL), "http");
    ASSERT_STREQ(path_str(o, "url", "address", "ip"), "127.0.0.1");
    ASSERT_STREQ(path_str(o, "allocation_info", "role", NULL), "*");
    ASSERT_EQ(json_array_size(json_object_get(o, "resources")), 2);
    ASSERT_EQ(json_array_size(json_object_get(o, "attributes")), 1);
    ASSERT_EQ(f.m->offers.n, 2);
    ASSERT_NEAR(ag_resources_scalar(&fw->offered, "cpus"), 8.0, 1e-9);
    teardown(&f);
}

/* Two agents offer the same port range. A framework's tallies span agents,
 * where ranges would add by union: removing both offers must leave the
 * framework with nothing offered (it kept cpus before, once the second
 * subtraction found its ports already gone). */
TEST(framework_tallies_survive_repeated_ports)
{
    struct fixture f;
    setup(&f);
    for (int i = 0; i < 2; i++) {
        json_t *sub = parse("{\"version\":1,\"agent_info\":{\"hostname\":\"n\",\"resources\":["
                            "{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":2}},"
                            "{\"name\":\"ports\",\"type\":\"RANGES\",\"ranges\":{\"range\":"
                            "[{\"begin\":31000,\"end\":32000}]}}]}}");
        char err[256];
        ASSERT_EQ(
            ag_master_agent_subscribe(f.m, sub, "127.0.0.1", NULL, "sid", NULL, err, sizeof(err)),
            0);
        json_decref(sub);
    }
    struct ag_master_framework *fw = add_fw(&f, ",\"failover_timeout\":100");
    ag_master_allocate(f.m);
    ASSERT_EQ(f.m->offers.n, 2);
    ASSERT_NEAR(ag_resources_scalar(&fw->offered, "cpus"), 4.0, 1e-9);
    ag_master_fw_disconnected(f.m, fw);
    ASSERT_EQ(f.m->offers.n, 0);
    ASSERT_TRUE(ag_resources_empty(&fw->offered));
    teardown(&f);
}

TEST(disconnect_recovers_offers_and_remove_completes)
{
    struct fixture f;
    setup(&f);
    struct ag_master_agent *a = add_agent(&f, NULL);
    struct ag_master_framework *fw = add_fw(&f, ",\"failover_timeout\":100");
    ag_master_allocate(f.m);
    struct ag_master_task *t = add_task(&f, fw, a, "t1");
    (void)t;
    struct ag_allocator *fa = f.m->alloc;
    int recovered = fa->n_recover;
    ag_master_fw_disconnected(f.m, fw);
    ASSERT_EQ(fw->state, AG_MASTER_FW_DISCONNECTED);
    ASSERT_EQ(f.m->offers.n, 0);
    ASSERT_EQ(fa->n_recover, recovered + 1); /* the offer, silently */
    ASSERT_NULL(event(&f, "RESCIND", 0));
    ASSERT_FALSE(fa->fw_active);

    char id[128];
    snprintf(id, sizeof(id), "%s", fw->id);
    ag_master_fw_remove(f.m, fw);
    ASSERT_NULL(ag_master_fw_find(f.m, id));
    ASSERT_EQ(f.m->n_completed_frameworks, 1);
    ASSERT_EQ(fa->n_remove_framework, 1);
    /* the agent is told; the task is killed and its resources freed */
    json_t *ev = event(&f, "SHUTDOWN_FRAMEWORK", 0);
    ASSERT_STREQ(path_str(ev, "shutdown_framework", "framework_id", "value"), id);
    ASSERT_NEAR(ag_resources_scalar(&a->used, "cpus"), 0.0, 1e-9);
    ASSERT_EQ(f.m->metrics.tasks_terminal[AG_TASK_KILLED], 1);

    /* the id can never come back */
    char text[256];
    snprintf(text, sizeof(text), "{\"user\":\"u\",\"name\":\"fw\",\"id\":{\"value\":\"%s\"}}", id);
    json_t *info = parse(text);
    char err[256];
    ASSERT_EQ(ag_master_fw_subscribe(f.m, info, NULL, NULL, "x", NULL, err, sizeof(err)), -EINVAL);
    ASSERT_STREQ(err, "Framework has been removed");
    json_decref(info);

    json_t *state = ag_master_state_json(f.m);
    json_t *done = json_array_get(json_object_get(state, "completed_frameworks"), 0);
    json_t *ct = json_array_get(json_object_get(done, "completed_tasks"), 0);
    ASSERT_STREQ(path_str(ct, "state", NULL, NULL), "TASK_KILLED");
    json_decref(state);
    teardown(&f);
}

TEST(resubscribe_keeps_tasks_and_ignores_user_change)
{
    struct fixture f;
    setup(&f);
    struct ag_master_agent *a = add_agent(&f, NULL);
    struct ag_master_framework *fw = add_fw(&f, ",\"failover_timeout\":100");
    add_task(&f, fw, a, "t1");
    ag_master_fw_disconnected(f.m, fw);
    char text[256];
    snprintf(text, sizeof(text), "{\"user\":\"other\",\"name\":\"fw2\",\"id\":{\"value\":\"%s\"}}",
             fw->id);
    json_t *info = parse(text);
    struct ag_master_framework *again = NULL;
    char err[256];
    ASSERT_EQ(ag_master_fw_subscribe(f.m, info, NULL, NULL, "sid2", &again, err, sizeof(err)), 0);
    json_decref(info);
    ASSERT_TRUE(again == fw);
    ASSERT_EQ(fw->state, AG_MASTER_FW_CONNECTED);
    ASSERT_STREQ(fw->stream_id, "sid2");
    ASSERT_STREQ(path_str(fw->info, "user", NULL, NULL), "u");
    ASSERT_STREQ(path_str(fw->info, "name", NULL, NULL), "fw2");
    ASSERT_EQ(fw->tasks.n, 1);
    ASSERT_TRUE(fw->reregistered_time > 0);
    teardown(&f);
}

TEST(terminal_state_releases_once)
{
    struct fixture f;
    setup(&f);
    struct ag_master_agent *a = add_agent(&f, NULL);
    struct ag_master_framework *fw = add_fw(&f, NULL);
    struct ag_master_task *t = add_task(&f, fw, a, "t1");
    ASSERT_NEAR(ag_resources_scalar(&a->used, "cpus"), 1.0, 1e-9);
    ASSERT_EQ(f.m->metrics.tasks_gauge[AG_TASK_RUNNING], 1);
    struct ag_allocator *fa = f.m->alloc;
    int before = fa->n_recover;
    ag_master_task_set_state(f.m, t, AG_TASK_FINISHED);
    ASSERT_NEAR(ag_resources_scalar(&a->used, "cpus"), 0.0, 1e-9);
    ASSERT_EQ(fa->n_recover, before + 1);
    ag_master_task_set_state(f.m, t, AG_TASK_FAILED); /* terminal to terminal: nothing */
    ASSERT_EQ(fa->n_recover, before + 1);
    ASSERT_EQ(f.m->metrics.tasks_terminal[AG_TASK_FINISHED], 1);
    ASSERT_EQ(f.m->metrics.tasks_gauge[AG_TASK_RUNNING], 0);
    ag_master_task_complete(f.m, t);
    ASSERT_EQ(fw->tasks.n, 0);
    ASSERT_EQ(fw->n_completed, 1);
    teardown(&f);
}

TEST(completed_tasks_are_capped)
{
    struct fixture f;
    setup(&f);
    f.m->cfg.max_completed_tasks_per_framework = 2;
    struct ag_master_agent *a = add_agent(&f, NULL);
    struct ag_master_framework *fw = add_fw(&f, NULL);
    const char *ids[] = {"a", "b", "c"};
    for (int i = 0; i < 3; i++) {
        struct ag_master_task *t = add_task(&f, fw, a, ids[i]);
        ag_master_task_set_state(f.m, t, AG_TASK_FINISHED);
        ag_master_task_complete(f.m, t);
    }
    ASSERT_EQ(fw->n_completed, 2);
    struct ag_master_task *oldest =
        ag_master_container_of(fw->completed.next, struct ag_master_task, fw_link);
    ASSERT_STREQ(oldest->id, "b");
    teardown(&f);
}

TEST(unreachable_tasks_are_capped)
{
    struct fixture f;
    setup(&f);
    f.m->cfg.max_unreachable_tasks_per_framework = 2;
    struct ag_master_agent *a = add_agent(&f, NULL);
    struct ag_master_framework *fw = add_fw(&f, NULL);
    add_task(&f, fw, a, "a");
    add_task(&f, fw, a, "b");
    add_task(&f, fw, a, "c");
    ag_master_agent_unreachable(f.m, a);
    ASSERT_EQ(fw->n_unreachable, 2);
    ASSERT_EQ(fw->tasks.n, 2);
    ASSERT_NULL(ag_master_map_get(&fw->tasks, "a")); /* the oldest is forgotten */
    ASSERT_EQ(f.m->metrics.tasks_gauge[AG_TASK_UNREACHABLE], 2);
    /* removing the framework completes the rest and empties the list */
    ag_master_fw_remove(f.m, fw);
    ASSERT_EQ(fw->n_unreachable, 0);
    ASSERT_EQ(fw->n_completed, 2);
    teardown(&f);
}

TEST(unreachable_agent_and_reregistration)
{
    struct fixture f;
    setup(&f);
    struct ag_master_agent *a = add_agent(&f, NULL);
    struct ag_master_framework *pa =
        add_fw(&f, ",\"capabilities\":[{\"type\":\"PARTITION_AWARE\"}]");
    add_task(&f, pa, a, "t1");
    ag_master_allocate(f.m);
    ag_master_agent_unreachable(f.m, a);
    ASSERT_EQ(a->state, AG_MASTER_AGENT_UNREACHABLE);
    ASSERT_EQ(f.m->offers.n, 0);
    ASSERT_NOT_NULL(event(&f, "RESCIND", 0));
    json_t *ev = event(&f, "UPDATE", 0);
    json_t *st = json_object_get(json_object_get(ev, "update"), "status");
    ASSERT_STREQ(path_str(st, "state", NULL, NULL), "TASK_UNREACHABLE");
    ASSERT_STREQ(path_str(st, "reason", NULL, NULL), "REASON_AGENT_REMOVED");
    ASSERT_STREQ(path_str(st, "source", NULL, NULL), "SOURCE_MASTER");
    ASSERT_NOT_NULL(json_object_get(st, "unreachable_time"));
    ASSERT_NULL(json_object_get(st, "uuid"));
    ev = event(&f, "FAILURE", 0);
    ASSERT_STREQ(path_str(ev, "failure", "agent_id", "value"), a->id);
    ASSERT_EQ(f.m->metrics.tasks_gauge[AG_TASK_UNREACHABLE], 1);
    struct ag_allocator *fa = f.m->alloc;
    ASSERT_EQ(fa->n_remove_agent, 1);

    /* the agent comes back with the task still running */
    char text[1024];
    snprintf(text, sizeof(text),
             "{\"version\":1,\"agent_info\":{\"hostname\":\"node1\",\"id\":{\"value\":\"%s\"},"
             "\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":4}},"
             "{\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1024}}]},"
             "\"tasks\":[{\"task_id\":{\"value\":\"t1\"},\"framework_id\":{\"value\":\"%s\"},"
             "\"name\":\"t1\",\"state\":\"TASK_RUNNING\",\"resources\":[{\"name\":\"cpus\","
             "\"type\":\"SCALAR\",\"scalar\":{\"value\":1}}]}]}",
             a->id, pa->id);
    json_t *sub = parse(text);
    char err[256];
    ASSERT_EQ(ag_master_agent_subscribe(f.m, sub, "127.0.0.1", NULL, "s2", NULL, err, sizeof(err)),
              0);
    json_decref(sub);
    ASSERT_EQ(a->state, AG_MASTER_AGENT_CONNECTED);
    ev = event(&f, "UPDATE", 1);
    st = json_object_get(json_object_get(ev, "update"), "status");
    ASSERT_STREQ(path_str(st, "state", NULL, NULL), "TASK_RUNNING");
    ASSERT_STREQ(path_str(st, "reason", NULL, NULL), "REASON_AGENT_REREGISTERED");
    ASSERT_NEAR(ag_resources_scalar(&a->used, "cpus"), 1.0, 1e-9);
    ASSERT_EQ(f.m->metrics.tasks_gauge[AG_TASK_RUNNING], 1);
    teardown(&f);
}

TEST(non_partition_aware_sees_lost)
{
    struct fixture f;
    setup(&f);
    struct ag_master_agent *a = add_agent(&f, NULL);
    struct ag_master_framework *fw = add_fw(&f, NULL);
    add_task(&f, fw, a, "t1");
    ag_master_agent_unreachable(f.m, a);
    json_t *ev = event(&f, "UPDATE", 0);
    json_t *st = json_object_get(json_object_get(ev, "update"), "status");
    ASSERT_STREQ(path_str(st, "state", NULL, NULL), "TASK_LOST");
    /* internally the task is unreachable, not gone */
    struct ag_master_task *t = ag_master_map_get(&fw->tasks, "t1");
    ASSERT_NOT_NULL(t);
    ASSERT_EQ(t->state, AG_TASK_UNREACHABLE);
    teardown(&f);
}

TEST(reregistration_drops_unreported_and_adopts_unknown)
{
    struct fixture f;
    setup(&f);
    struct ag_master_agent *a = add_agent(&f, NULL);
    struct ag_master_framework *fw = add_fw(&f, NULL);
    add_task(&f, fw, a, "gone");
    ag_master_agent_disconnected(f.m, a);
    ASSERT_EQ(a->state, AG_MASTER_AGENT_DISCONNECTED);
    char text[1024];
    snprintf(text, sizeof(text),
             "{\"version\":1,\"agent_info\":{\"hostname\":\"node1\",\"id\":{\"value\":\"%s\"}},"
             "\"tasks\":[{\"task_id\":{\"value\":\"new\"},\"framework_id\":{\"value\":\"OTHER\"},"
             "\"name\":\"n\",\"state\":\"TASK_RUNNING\"}],"
             "\"frameworks\":[{\"user\":\"x\",\"name\":\"other\",\"id\":{\"value\":\"OTHER\"}}]}",
             a->id);
    json_t *sub = parse(text);
    char err[256];
    ASSERT_EQ(ag_master_agent_subscribe(f.m, sub, "127.0.0.1", NULL, "s2", NULL, err, sizeof(err)),
              0);
    json_decref(sub);
    /* the unreported task is lost for this non-PA framework and completed */
    json_t *ev = event(&f, "UPDATE", 0);
    json_t *st = json_object_get(json_object_get(ev, "update"), "status");
    ASSERT_STREQ(path_str(st, "state", NULL, NULL), "TASK_LOST");
    ASSERT_EQ(fw->tasks.n, 0);
    /* the unknown framework is recovered with its task */
    struct ag_master_framework *other = ag_master_fw_find(f.m, "OTHER");
    ASSERT_NOT_NULL(other);
    ASSERT_EQ(other->state, AG_MASTER_FW_RECOVERED);
    ASSERT_NOT_NULL(ag_master_map_get(&other->tasks, "new"));
    json_t *fws = ag_master_get_frameworks_json(f.m);
    json_t *j = json_array_get(json_object_get(fws, "frameworks"), 1);
    ASSERT_TRUE(json_is_true(json_object_get(j, "recovered")));
    json_decref(fws);
    teardown(&f);
}

TEST(reregistration_does_not_charge_command_executors)
{
    struct fixture f;
    setup(&f);
    struct ag_master_agent *a = add_agent(&f, NULL);
    struct ag_master_framework *fw = add_fw(&f, NULL);
    add_task(&f, fw, a, "t1");
    ag_master_agent_disconnected(f.m, a);
    char text[2048];
    snprintf(text, sizeof(text),
             "{\"version\":1,\"agent_info\":{\"hostname\":\"node1\",\"id\":{\"value\":\"%s\"},"
             "\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":4}},"
             "{\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1024}}]},"
             "\"tasks\":[{\"task_id\":{\"value\":\"t1\"},\"framework_id\":{\"value\":\"%s\"},"
             "\"name\":\"t1\",\"state\":\"TASK_RUNNING\",\"resources\":[{\"name\":\"cpus\","
             "\"type\":\"SCALAR\",\"scalar\":{\"value\":1}}]}],"
             "\"executors\":[{\"framework_id\":{\"value\":\"%s\"},\"executor_info\":{"
             "\"executor_id\":{\"value\":\"t1\"},\"command\":{\"value\":\"x\"},"
             "\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1}}]}}]}",
             a->id, fw->id, fw->id);
    json_t *sub = parse(text);
    char err[256];
    ASSERT_EQ(ag_master_agent_subscribe(f.m, sub, "127.0.0.1", NULL, "s2", NULL, err, sizeof(err)),
              0);
    json_decref(sub);
    ASSERT_NEAR(ag_resources_scalar(&a->used, "cpus"), 1.0, 1e-9);
    ASSERT_NULL(ag_master_executor_find(a, fw, "t1"));
    teardown(&f);
}

TEST(state_json_shapes)
{
    struct fixture f;
    setup(&f);
    struct ag_master_agent *a = add_agent(&f, NULL);
    struct ag_master_framework *fw =
        add_fw(&f, ",\"roles\":[\"web\"],\"capabilities\":[{\"type\":\"MULTI_ROLE\"}]");
    add_task(&f, fw, a, "t1");
    json_t *s = ag_master_state_json(f.m);
    static const char *const keys[] = {"version",
                                       "build_date",
                                       "build_time",
                                       "build_user",
                                       "start_time",
                                       "elected_time",
                                       "id",
                                       "pid",
                                       "hostname",
                                       "activated_slaves",
                                       "deactivated_slaves",
                                       "unreachable_slaves",
                                       "leader",
                                       "leader_info",
                                       "flags",
                                       "slaves",
                                       "recovered_slaves",
                                       "frameworks",
                                       "completed_frameworks",
                                       "orphan_tasks",
                                       "unregistered_frameworks",
                                       "capabilities"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if (!json_object_get(s, keys[i]))
            AG_TEST_FAIL("missing state key '%s'", keys[i]);
    ASSERT_EQ(json_integer_value(json_object_get(s, "activated_slaves")), 1);

    json_t *sl = json_array_get(json_object_get(s, "slaves"), 0);
    ASSERT_STREQ(path_str(sl, "id", NULL, NULL), a->id);
    ASSERT_STREQ(path_str(sl, "pid", NULL, NULL), "slave(1)@127.0.0.1:5051");
    ASSERT_STREQ(path_str(sl, "attributes", "rack", NULL), "r1");
    ASSERT_NEAR(json_number_value(json_object_get(json_object_get(sl, "resources"), "cpus")), 4.0,
                1e-9);
    ASSERT_NEAR(json_number_value(json_object_get(json_object_get(sl, "used_resources"), "cpus")),
                1.0, 1e-9);
    ASSERT_TRUE(json_is_true(json_object_get(sl, "active")));

    json_t *fj = json_array_get(json_object_get(s, "frameworks"), 0);
    ASSERT_STREQ(path_str(fj, "id", NULL, NULL), fw->id);
    ASSERT_STREQ(json_string_value(json_array_get(json_object_get(fj, "roles"), 0)), "web");
    ASSERT_NULL(json_object_get(fj, "role"));
    ASSERT_TRUE(json_is_true(json_object_get(fj, "active")));
    static const char *const fkeys[] = {"name",
                                        "user",
                                        "failover_timeout",
                                        "checkpoint",
                                        "registered_time",
                                        "unregistered_time",
                                        "resources",
                                        "used_resources",
                                        "offered_resources",
                                        "capabilities",
                                        "tasks",
                                        "unreachable_tasks",
                                        "completed_tasks",
                                        "offers",
                                        "executors",
                                        "hostname",
                                        "webui_url",
                                        "connected",
                                        "recovered"};
    for (size_t i = 0; i < sizeof(fkeys) / sizeof(fkeys[0]); i++)
        if (!json_object_get(fj, fkeys[i]))
            AG_TEST_FAIL("missing framework key '%s'", fkeys[i]);
    json_t *tj = json_array_get(json_object_get(fj, "tasks"), 0);
    ASSERT_STREQ(path_str(tj, "id", NULL, NULL), "t1");
    ASSERT_STREQ(path_str(tj, "slave_id", NULL, NULL), a->id);
    ASSERT_STREQ(path_str(tj, "executor_id", NULL, NULL), "");
    ASSERT_STREQ(path_str(tj, "state", NULL, NULL), "TASK_RUNNING");
    ASSERT_STREQ(path_str(tj, "user", NULL, NULL), "u");
    ASSERT_TRUE(json_is_array(json_object_get(tj, "statuses")));
    json_decref(s);

    /* the operator API's Task and Agent */
    json_t *tasks = ag_master_get_tasks_json(f.m);
    json_t *pt = json_array_get(json_object_get(tasks, "tasks"), 0);
    ASSERT_STREQ(path_str(pt, "task_id", "value", NULL), "t1");
    ASSERT_STREQ(path_str(pt, "agent_id", "value", NULL), a->id);
    ASSERT_STREQ(path_str(pt, "framework_id", "value", NULL), fw->id);
    ASSERT_STREQ(path_str(pt, "state", NULL, NULL), "TASK_RUNNING");
    json_decref(tasks);
    json_t *agents = ag_master_get_agents_json(f.m);
    json_t *pa = json_array_get(json_object_get(agents, "agents"), 0);
    ASSERT_STREQ(path_str(pa, "agent_info", "id", "value"), a->id);
    ASSERT_TRUE(json_is_true(json_object_get(pa, "active")));
    ASSERT_NOT_NULL(json_object_get(pa, "total_resources"));
    json_decref(agents);

    json_t *metrics = ag_master_metrics_json(f.m);
    ASSERT_NEAR(json_number_value(json_object_get(metrics, "master/cpus_total")), 4.0, 1e-9);
    ASSERT_NEAR(json_number_value(json_object_get(metrics, "master/cpus_used")), 1.0, 1e-9);
    ASSERT_NEAR(json_number_value(json_object_get(metrics, "master/cpus_percent")), 0.25, 1e-9);
    ASSERT_NEAR(json_number_value(json_object_get(metrics, "master/tasks_running")), 1.0, 1e-9);
    ASSERT_NEAR(json_number_value(json_object_get(metrics, "master/slaves_active")), 1.0, 1e-9);
    ASSERT_NEAR(json_number_value(json_object_get(metrics, "master/frameworks_active")), 1.0, 1e-9);
    ASSERT_NEAR(json_number_value(json_object_get(metrics, "master/elected")), 1.0, 1e-9);
    json_decref(metrics);

    json_t *summary = ag_master_state_summary_json(f.m);
    json_t *ss = json_array_get(json_object_get(summary, "slaves"), 0);
    ASSERT_EQ(json_integer_value(json_object_get(ss, "TASK_RUNNING")), 1);
    ASSERT_STREQ(json_string_value(json_array_get(json_object_get(ss, "framework_ids"), 0)),
                 fw->id);
    json_decref(summary);
    teardown(&f);
}

TEST(executors_in_state)
{
    struct fixture f;
    setup(&f);
    struct ag_master_agent *a = add_agent(&f, NULL);
    struct ag_master_framework *fw = add_fw(&f, NULL);
    struct ag_resources res;
    char err[256];
    ag_resources_init(&res);
    ag_resources_parse("cpus:0.5", NULL, &res, err, sizeof(err));
    json_t *info = parse("{\"executor_id\":{\"value\":\"ex\"},\"name\":\"my exec\","
                         "\"command\":{\"value\":\"run\"}}");
    struct ag_master_executor *x = ag_master_executor_new(f.m, fw, a, info, &res, "*", false);
    json_decref(info);
    ag_resources_release(&res);
    ASSERT_TRUE(ag_master_executor_find(a, fw, "ex") == x);
    ASSERT_NEAR(ag_resources_scalar(&fw->used, "cpus"), 0.5, 1e-9);

    json_t *s = ag_master_state_json(f.m);
    json_t *fj = json_array_get(json_object_get(s, "frameworks"), 0);
    json_t *xj = json_array_get(json_object_get(fj, "executors"), 0);
    ASSERT_STREQ(path_str(xj, "executor_id", NULL, NULL), "ex");
    ASSERT_STREQ(path_str(xj, "name", NULL, NULL), "my exec");
    ASSERT_STREQ(path_str(xj, "slave_id", NULL, NULL), a->id);
    ASSERT_STREQ(path_str(xj, "command", "value", NULL), "run");
    ASSERT_TRUE(json_is_array(json_object_get(json_object_get(xj, "command"), "argv")));
    json_decref(s);
    json_t *ex = ag_master_get_executors_json(f.m);
    ASSERT_STREQ(
        path_str(json_array_get(json_object_get(ex, "executors"), 0), "agent_id", "value", NULL),
        a->id);
    json_decref(ex);

    ag_master_executor_remove(f.m, x);
    ASSERT_NEAR(ag_resources_scalar(&fw->used, "cpus"), 0.0, 1e-9);
    ASSERT_NULL(ag_master_executor_find(a, fw, "ex"));
    teardown(&f);
}

/* --- the streamed renderer (stream.c) against the tree renderers --- */

static struct ag_master_agent *add_rich_agent(struct fixture *f)
{
    json_t *sub = parse(
        "{\"version\":1,\"agent_info\":{\"hostname\":\"node2\",\"port\":5052,"
        "\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":8}},"
        "{\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":{\"value\":2048},\"role\":\"web\"},"
        "{\"name\":\"ports\",\"type\":\"RANGES\",\"ranges\":{\"range\":[{\"begin\":31000,"
        "\"end\":32000}]}}],"
        "\"attributes\":[{\"name\":\"zone\",\"type\":\"SCALAR\",\"scalar\":{\"value\":2.5}},"
        "{\"name\":\"tag\",\"type\":\"TEXT\",\"text\":{\"value\":\"q\\\"uote\\u00e9\"}}],"
        "\"domain\":{\"fault_domain\":{\"region\":{\"name\":\"r\"},\"zone\":{\"name\":\"z\"}}}}}");
    struct ag_master_agent *a = NULL;
    char err[256];
    int r = ag_master_agent_subscribe(f->m, sub, "127.0.0.1", NULL, "sid-b", &a, err, sizeof(err));
    json_decref(sub);
    if (r != 0)
        AG_TEST_FAIL("subscribe: %s", err);
    return a;
}

/* Ranges and sets, nothing reserved: the writer's own Resource path. */
static void add_ranges_agent(struct fixture *f)
{
    json_t *sub =
        parse("{\"version\":1,\"agent_info\":{\"hostname\":\"node3\","
              "\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":0.5}},"
              "{\"name\":\"ports\",\"type\":\"RANGES\",\"ranges\":{\"range\":[{\"begin\":1,"
              "\"end\":5},{\"begin\":9,\"end\":9}]}},"
              "{\"name\":\"disks\",\"type\":\"SET\",\"set\":{\"item\":[\"sdb\",\"sda\"]}}]}}");
    struct ag_master_agent *a = NULL;
    char err[256];
    int r = ag_master_agent_subscribe(f->m, sub, "127.0.0.1", NULL, "sid-c", &a, err, sizeof(err));
    json_decref(sub);
    if (r != 0)
        AG_TEST_FAIL("subscribe: %s", err);
}

/* An agent whose flattened resources take every branch of the streamed
 * put_flat(): the four fixed names, other names, a revocable one,
 * fractions printed with all 17 digits, and strings needing escapes. */
static void add_scalars_agent(struct fixture *f)
{
    json_t *sub = parse(
        "{\"version\":1,\"agent_info\":{\"hostname\":\"n\\\"4\\u00e9\\t\",\"port\":5099,"
        "\"attributes\":[{\"name\":\"r\\\\ack\",\"type\":\"TEXT\",\"text\":{\"value\":\"a\\nb\"}}],"
        "\"resources\":[{\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1.001}},"
        "{\"name\":\"foo\",\"type\":\"SCALAR\",\"scalar\":{\"value\":0.3}},"
        "{\"name\":\"gpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":2}},"
        "{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1.5},\"revocable\":{}},"
        "{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":3.7}},"
        "{\"name\":\"disk\",\"type\":\"SCALAR\",\"scalar\":{\"value\":123456.789}},"
        "{\"name\":\"bar\",\"type\":\"SCALAR\",\"scalar\":{\"value\":0.001}}]}}");
    struct ag_master_agent *a = NULL;
    char err[256];
    int r =
        ag_master_agent_subscribe(f->m, sub, "10.200.300.4", NULL, "sid-s", &a, err, sizeof(err));
    json_decref(sub);
    if (r != 0)
        AG_TEST_FAIL("subscribe: %s", err);
}

/* A master with a bit of everything the state shows. */
static void populate(struct fixture *f)
{
    struct ag_master_agent *a = add_agent(f, NULL);
    add_ranges_agent(f);
    struct ag_master_agent *b = add_rich_agent(f);
    struct ag_master_agent *gone = add_agent(f, NULL);
    struct ag_master_framework *old = add_fw(f, NULL);
    struct ag_master_framework *fw =
        add_fw(f, ",\"roles\":[\"web\",\"*\"],\"capabilities\":[{\"type\":\"MULTI_ROLE\"},"
                  "{\"type\":\"PARTITION_AWARE\"}],\"principal\":\"p\",\"failover_timeout\":7.5,"
                  "\"labels\":{\"labels\":[{\"key\":\"k\",\"value\":\"v\"}]},\"webui_url\":\"w\"");
    struct ag_master_framework *fw2 = add_fw(f, NULL); /* the fake allocator offers to it */
    ASSERT_NOT_NULL(fw);
    ASSERT_NOT_NULL(fw2);
    ASSERT_NOT_NULL(old);
    struct ag_resources res;
    char err[256];
    ag_resources_init(&res);
    ag_resources_parse("cpus:1;mem:32", NULL, &res, err, sizeof(err));
    ag_resources_set_allocation_role(&res, "web");
    json_t *tinfo = parse("{\"name\":\"first\",\"task_id\":{\"value\":\"t1\"},"
                          "\"command\":{\"value\":\"x\",\"user\":\"alice\"},"
                          "\"labels\":{\"labels\":[{\"key\":\"a\",\"value\":\"b\"}]},"
                          "\"discovery\":{\"visibility\":\"FRAMEWORK\"},"
                          "\"kill_policy\":{\"grace_period\":{\"nanoseconds\":5}}}");
    struct ag_master_task *t =
        ag_master_task_new(f->m, fw, a, "t1", NULL, "web", tinfo, &res, AG_TASK_RUNNING);
    ag_master_task_hold(f->m, t, false);
    json_decref(tinfo);
    ag_resources_release(&res);
    ASSERT_STREQ(t->name, "first");
    ASSERT_STREQ(t->user, "alice");
    ASSERT_EQ(json_object_size(t->extra), 3);
    ag_master_task_add_status(
        t, parse("{\"task_id\":{\"value\":\"t1\"},\"state\":\"TASK_RUNNING\","
                 "\"timestamp\":1732458078.123456,\"healthy\":true,"
                 "\"labels\":{\"labels\":[]},\"uuid\":\"AAAA\",\"data\":\"ZGF0YQ==\"}"));
    t->has_update_state = true;
    t->update_state = AG_TASK_RUNNING;
    t->update_uuid = strdup("AAAA");
    add_task(f, fw, b, "t2");
    add_task(f, fw2, b, "t\n3");
    struct ag_master_task *done = add_task(f, fw2, a, "t4");
    ag_master_task_set_state(f->m, done, AG_TASK_FINISHED);
    ag_master_task_complete(f->m, done);
    add_task(f, fw, gone, "t5");
    add_task(f, old, a, "t6");
    ag_master_agent_unreachable(f->m, gone);
    ag_master_allocate(f->m); /* offers (before the fake allocator forgets fw2) */
    ag_master_fw_remove(f->m, old);

    ag_resources_init(&res);
    ag_resources_parse("cpus:0.5", NULL, &res, err, sizeof(err));
    json_t *info = parse("{\"executor_id\":{\"value\":\"ex\"},\"name\":\"my exec\","
                         "\"command\":{\"value\":\"run\",\"arguments\":[\"a\"]}}");
    ag_master_executor_new(f->m, fw2, b, info, &res, "*", false);
    json_decref(info);
    ag_resources_release(&res);
}

static json_t *operator_envelope(const char *type, const char *key, json_t *payload)
{
    return json_pack("{s:s, s:o}", "type", type, key, payload);
}

/* The streamed document equals the tree's compact dump, byte for byte. */
static void same_bytes(struct ag_master *m, enum ag_master_render_kind kind, const char *only,
                       json_t *tree)
{
    size_t len = 0;
    char *streamed = ag_master_render_all(m, kind, only, &len);
    /* what ag_http_reply_json() sends */
    char *dumped = json_dumps(tree, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(tree);
    ASSERT_NOT_NULL(streamed);
    ASSERT_NOT_NULL(dumped);
    ASSERT_EQ(len, strlen(streamed));
    if (strcmp(streamed, dumped) != 0) {
        size_t i = 0;
        while (streamed[i] && streamed[i] == dumped[i])
            i++;
        AG_TEST_FAIL("kind %d differs at byte %zu:\n  streamed ...%.160s\n  tree     ...%.160s",
                     (int)kind, i, streamed + (i > 40 ? i - 40 : 0),
                     dumped + (i > 40 ? i - 40 : 0));
    }
    free(streamed);
    free(dumped);
}

static json_t *legacy_frameworks(struct ag_master *m, const char *only)
{
    json_t *fws = json_array(), *done = json_array();
    for (struct ag_master_map_entry *e = m->frameworks.head; e; e = e->next) {
        struct ag_master_framework *fw = e->value;
        if (!only || strcmp(only, fw->id) == 0)
            json_array_append_new(fws, ag_master_framework_legacy_json(fw, false));
    }
    for (struct ag_master_list *n = m->completed_frameworks.next; n != &m->completed_frameworks;
         n = n->next) {
        struct ag_master_framework *fw =
            ag_master_container_of(n, struct ag_master_framework, completed_link);
        if (!only || strcmp(only, fw->id) == 0)
            json_array_append_new(done, ag_master_framework_legacy_json(fw, false));
    }
    return json_pack("{s:o, s:o, s:[]}", "frameworks", fws, "completed_frameworks", done,
                     "unregistered_frameworks");
}

static json_t *legacy_slaves(struct ag_master *m, const char *only)
{
    json_t *slaves = json_array();
    for (struct ag_master_map_entry *e = m->agents.head; e; e = e->next) {
        struct ag_master_agent *a = e->value;
        if (a->state != AG_MASTER_AGENT_UNREACHABLE && (!only || strcmp(only, a->id) == 0))
            json_array_append_new(slaves, ag_master_agent_legacy_json(a, true));
    }
    return json_pack("{s:o, s:[]}", "slaves", slaves, "recovered_slaves");
}

/* Every streamed document equals the tree renderer's. */
static void all_same_bytes(struct ag_master *m)
{
    same_bytes(m, AG_RENDER_STATE, NULL, ag_master_state_json(m));
    same_bytes(m, AG_RENDER_STATE_SUMMARY, NULL, ag_master_state_summary_json(m));
    same_bytes(m, AG_RENDER_FRAMEWORKS, NULL, legacy_frameworks(m, NULL));
    const char *fid = ((struct ag_master_framework *)m->frameworks.head->value)->id;
    same_bytes(m, AG_RENDER_FRAMEWORKS, fid, legacy_frameworks(m, fid));
    same_bytes(m, AG_RENDER_SLAVES, NULL, legacy_slaves(m, NULL));
    const char *aid = m->agents.head->next->key;
    same_bytes(m, AG_RENDER_SLAVES, aid, legacy_slaves(m, aid));
    same_bytes(m, AG_RENDER_GET_TASKS, NULL,
               operator_envelope("GET_TASKS", "get_tasks", ag_master_get_tasks_json(m)));
    same_bytes(m, AG_RENDER_GET_AGENTS, NULL,
               operator_envelope("GET_AGENTS", "get_agents", ag_master_get_agents_json(m)));
    same_bytes(
        m, AG_RENDER_GET_FRAMEWORKS, NULL,
        operator_envelope("GET_FRAMEWORKS", "get_frameworks", ag_master_get_frameworks_json(m)));
    same_bytes(
        m, AG_RENDER_GET_EXECUTORS, NULL,
        operator_envelope("GET_EXECUTORS", "get_executors", ag_master_get_executors_json(m)));
    json_t *state =
        json_pack("{s:o, s:o, s:o, s:o}", "get_tasks", ag_master_get_tasks_json(m), "get_executors",
                  ag_master_get_executors_json(m), "get_frameworks",
                  ag_master_get_frameworks_json(m), "get_agents", ag_master_get_agents_json(m));
    same_bytes(m, AG_RENDER_GET_STATE, NULL, operator_envelope("GET_STATE", "get_state", state));
}

TEST(streamed_state_equals_tree)
{
    struct fixture f;
    setup(&f);
    populate(&f);
    add_scalars_agent(&f);
    struct ag_master *m = f.m;
    ASSERT_TRUE(m->offers.n > 0);
    ASSERT_EQ(m->n_completed_frameworks, 1);
    all_same_bytes(m);

    /* what the task keeps of its TaskInfo and statuses reaches the state */
    char *text = ag_master_render_all(m, AG_RENDER_STATE, NULL, NULL);
    ASSERT_NOT_NULL(strstr(text, "\"pid\":\"slave(1)@10.200.300.4:5099\""));
    ASSERT_NOT_NULL(strstr(text, "\"cpus_revocable\":1.5,"));
    ASSERT_NOT_NULL(strstr(text, "\"mem\":1.0009999999999999,"));
    json_t *js = parse(text);
    free(text);
    json_t *fj = json_array_get(json_object_get(js, "frameworks"), 0);
    json_t *tj = json_array_get(json_object_get(fj, "tasks"), 0);
    ASSERT_STREQ(path_str(tj, "id", NULL, NULL), "t1");
    ASSERT_STREQ(path_str(tj, "name", NULL, NULL), "first");
    ASSERT_STREQ(path_str(tj, "user", NULL, NULL), "alice");
    ASSERT_STREQ(path_str(json_array_get(json_object_get(tj, "labels"), 0), "key", NULL, NULL),
                 "a");
    json_t *st = json_array_get(json_object_get(tj, "statuses"), 0);
    ASSERT_STREQ(path_str(st, "state", NULL, NULL), "TASK_RUNNING");
    ASSERT_TRUE(json_is_true(json_object_get(st, "healthy")));
    ASSERT_NEAR(json_number_value(json_object_get(st, "timestamp")), 1732458078.123456, 1e-6);
    struct ag_master_framework *fw =
        ag_master_map_get(&m->frameworks, json_string_value(json_object_get(fj, "id")));
    json_decref(js);

    /* a completed task drops its statuses' data */
    ASSERT_NOT_NULL(fw);
    struct ag_master_task *t1 = ag_master_map_get(&fw->tasks, "t1");
    ASSERT_TRUE(strstr(t1->statuses[0].json, "\"data\"") != NULL);
    ag_master_task_set_state(m, t1, AG_TASK_FINISHED);
    ag_master_task_complete(m, t1);
    ASSERT_NULL(strstr(t1->statuses[0].json, "\"data\""));
    ASSERT_TRUE(strstr(t1->statuses[0].json, "\"uuid\":\"AAAA\"") != NULL);
    teardown(&f);
}

/* A task's unchanging members are kept rendered after it is first shown:
 * what does change (state, statuses, unreachable time, the framework's
 * user) must show anyway, in both the legacy and the operator objects. */
TEST(kept_task_text_follows_changes)
{
    struct fixture f;
    setup(&f);
    populate(&f);
    struct ag_master *m = f.m;
    all_same_bytes(m); /* renders (and keeps) every task's pieces */
    struct ag_master_framework *fw = m->frameworks.head->value;
    struct ag_master_task *t1 = ag_master_map_get(&fw->tasks, "t1");
    struct ag_master_task *t2 = ag_master_map_get(&fw->tasks, "t2");
    ASSERT_NOT_NULL(t1);
    ASSERT_NOT_NULL(t2);
    ASSERT_NOT_NULL(t1->shown[0]);
    ASSERT_NOT_NULL(t1->shown[1]);
    ASSERT_NULL(t2->user); /* t2's user is its framework's */

    ag_master_task_add_status(t1,
                              parse("{\"task_id\":{\"value\":\"t1\"},\"state\":\"TASK_KILLING\","
                                    "\"timestamp\":1732458079.5,\"uuid\":\"BBBB\"}"));
    ag_master_task_set_state(m, t1, AG_TASK_KILLING);
    t2->unreachable_time = 1732458080.25;
    json_object_set_new(fw->info, "user", json_string("bob"));
    all_same_bytes(m);
    char *text = ag_master_render_all(m, AG_RENDER_STATE, NULL, NULL);
    ASSERT_NOT_NULL(strstr(text, "\"state\":\"TASK_KILLING\""));
    ASSERT_NOT_NULL(strstr(text, "\"unreachable_time\":1732458080.25"));
    ASSERT_NOT_NULL(strstr(text, "\"user\":\"bob\""));
    free(text);
    text = ag_master_render_all(m, AG_RENDER_GET_STATE, NULL, NULL);
    ASSERT_NOT_NULL(strstr(text, "\"uuid\":\"BBBB\""));
    free(text);

    /* and once it completes */
    ag_master_task_set_state(m, t1, AG_TASK_KILLED);
    ag_master_task_complete(m, t1);
    all_same_bytes(m);
    teardown(&f);
}

/* An agent's kept text (from its AgentInfo) is rendered again when the
 * agent re-registers with another hostname, address, port, attributes or
 * resources. */
TEST(kept_agent_text_follows_reregistration)
{
    struct fixture f;
    setup(&f);
    populate(&f);
    struct ag_master *m = f.m;
    all_same_bytes(m);
    struct ag_master_agent *a = m->agents.head->value;
    ASSERT_NOT_NULL(a->shown[0]);
    ASSERT_NOT_NULL(a->shown[1]);
    char text[1024];
    snprintf(text, sizeof(text),
             "{\"version\":1,\"agent_info\":{\"id\":{\"value\":\"%s\"},\"hostname\":\"moved\","
             "\"port\":6061,\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\","
             "\"scalar\":{\"value\":6}},{\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":"
             "{\"value\":1024}}],\"attributes\":[{\"name\":\"rack\",\"type\":\"TEXT\","
             "\"text\":{\"value\":\"r2\"}}]}}",
             a->id);
    json_t *sub = parse(text);
    struct ag_master_agent *again = NULL;
    char err[256];
    ASSERT_EQ(
        ag_master_agent_subscribe(m, sub, "127.0.0.9", NULL, "sid-b", &again, err, sizeof(err)), 0);
    json_decref(sub);
    ASSERT_TRUE(again == a);
    all_same_bytes(m);
    char *out = ag_master_render_all(m, AG_RENDER_STATE, NULL, NULL);
    ASSERT_NOT_NULL(strstr(out, "\"hostname\":\"moved\",\"port\":6061,\"attributes\":{\"rack\":"
                                "\"r2\"},\"pid\":\"slave(1)@127.0.0.9:6061\""));
    free(out);
    out = ag_master_render_all(m, AG_RENDER_GET_AGENTS, NULL, NULL);
    ASSERT_NOT_NULL(strstr(out, "\"hostname\":\"moved\""));
    free(out);
    teardown(&f);
}

static size_t array_len(const json_t *j, const char *a, const char *b)
{
    json_t *v = json_object_get(j, a);
    return json_array_size(b ? json_object_get(v, b) : v);
}

/* One object per slice while the master changes under the render: what
 * was removed before its turn is left out, what was added after the
 * walk's position is shown, and the document stays whole JSON. */
TEST(slices_survive_changes)
{
    struct fixture f;
    setup(&f);
    struct ag_master_agent *a = add_agent(&f, NULL);
    struct ag_master_agent *b = add_agent(&f, NULL);
    struct ag_master_framework *fw = add_fw(&f, NULL);
    struct ag_master_framework *fw2 = add_fw(&f, NULL);
    add_task(&f, fw, a, "t1");
    struct ag_master_task *t2 = add_task(&f, fw, a, "t2");
    add_task(&f, fw, a, "t3");
    add_task(&f, fw2, b, "u1");

    struct ag_master_render *r = ag_master_render_new(f.m, AG_RENDER_STATE, NULL);
    ASSERT_NOT_NULL(r);
    /* into the first framework's tasks: head, slaves..., fw head, "tasks", t1 */
    size_t steps = 0;
    const char *out;
    do {
        ASSERT_FALSE(ag_master_render_slice(r, 1, 0));
        out = ag_master_render_output(r, NULL);
        steps++;
    } while (!strstr(out, "\"id\":\"t1\"") && steps < 100);
    ASSERT_TRUE(strstr(out, "\"id\":\"t1\"") != NULL);
    /* t1 was the cursor's entry: remove it, and t2; add t9 */
    struct ag_master_task *t1 = ag_master_map_get(&fw->tasks, "t1");
    ag_master_task_set_state(f.m, t1, AG_TASK_FINISHED);
    ag_master_task_complete(f.m, t1);
    ag_master_task_set_state(f.m, t2, AG_TASK_FINISHED);
    ag_master_task_complete(f.m, t2);
    add_task(&f, fw, a, "t9");
    ASSERT_FALSE(ag_master_render_slice(r, 1, 0));
    /* the second framework goes away entirely before its turn */
    ag_master_fw_remove(f.m, fw2);
    while (!ag_master_render_slice(r, 1, 0))
        ;
    ASSERT_FALSE(ag_master_render_failed(r));
    size_t len;
    out = ag_master_render_output(r, &len);
    json_t *s = parse(out);
    ASSERT_NOT_NULL(s);
    json_t *fws = json_object_get(s, "frameworks");
    ASSERT_EQ(json_array_size(fws), 1);
    json_t *tasks = json_object_get(json_array_get(fws, 0), "tasks");
    ASSERT_EQ(json_array_size(tasks), 3); /* t1 (before), t3, t9 */
    ASSERT_STREQ(path_str(json_array_get(tasks, 0), "id", NULL, NULL), "t1");
    ASSERT_STREQ(path_str(json_array_get(tasks, 1), "id", NULL, NULL), "t3");
    ASSERT_STREQ(path_str(json_array_get(tasks, 2), "id", NULL, NULL), "t9");
    /* completed_tasks is rendered at the framework's end: t1 and t2 */
    ASSERT_EQ(array_len(json_array_get(fws, 0), "completed_tasks", NULL), 2);
    /* fw2 was removed before its turn: it shows among the completed */
    ASSERT_EQ(array_len(s, "completed_frameworks", NULL), 1);
    ASSERT_EQ(array_len(s, "slaves", NULL), 2);
    json_decref(s);
    ag_master_render_free(r);

    /* a framework removed while its tasks are being walked is closed */
    struct ag_master_framework *fw3 = add_fw(&f, NULL);
    add_task(&f, fw3, a, "v1");
    add_task(&f, fw3, a, "v2");
    r = ag_master_render_new(f.m, AG_RENDER_FRAMEWORKS, fw3->id);
    steps = 0;
    do {
        ASSERT_FALSE(ag_master_render_slice(r, 1, 0));
        out = ag_master_render_output(r, NULL);
    } while (!strstr(out, "\"id\":\"v1\"") && ++steps < 100);
    ag_master_fw_remove(f.m, fw3);
    while (!ag_master_render_slice(r, 1, 0))
        ;
    ASSERT_FALSE(ag_master_render_failed(r));
    s = parse(ag_master_render_output(r, NULL));
    ASSERT_NOT_NULL(s);
    ASSERT_EQ(array_len(s, "frameworks", NULL), 1);
    ASSERT_EQ(array_len(json_array_get(json_object_get(s, "frameworks"), 0), "tasks", NULL), 1);
    json_decref(s);
    ag_master_render_free(r);
    teardown(&f);
}

TEST(update_framework_rules)
{
    struct fixture f;
    setup(&f);
    struct ag_master_framework *fw = add_fw(&f, ",\"role\":\"web\"");
    char err[256];
    json_t *info = parse("{\"user\":\"other\",\"name\":\"fw\",\"role\":\"web\"}");
    ASSERT_EQ(ag_master_fw_update(f.m, fw, info, NULL, err, sizeof(err)), -EINVAL);
    ASSERT_NOT_NULL(strstr(err, "user"));
    json_decref(info);
    info = parse("{\"user\":\"u\",\"name\":\"renamed\",\"role\":\"db\"}");
    ASSERT_EQ(ag_master_fw_update(f.m, fw, info, NULL, err, sizeof(err)), 0);
    json_decref(info);
    ASSERT_STREQ(fw->roles[0], "db");
    ASSERT_STREQ(path_str(fw->info, "name", NULL, NULL), "renamed");
    ASSERT_STREQ(path_str(fw->info, "id", "value", NULL), fw->id);
    teardown(&f);
}

/* --- calls, through the same entry points the HTTP handlers use --- */

/* Validates and runs a scheduler call given as printf-style JSON. */
static int sched_call(struct fixture *f, struct ag_master_framework *fw, char *err, size_t errlen,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int sched_call(struct fixture *f, struct ag_master_framework *fw, char *err, size_t errlen,
                      const char *fmt, ...)
{
    char text[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    json_t *call = parse(text);
    enum ag_master_call type;
    err[0] = '\0';
    int r = ag_master_validate_sched_call(call, &type, err, errlen);
    if (r == 0)
        r = ag_master_sched_call(f->m, fw, type, call, err, errlen);
    json_decref(call);
    return r;
}

static int agent_call(struct fixture *f, struct ag_master_agent *a, char *err, size_t errlen,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int agent_call(struct fixture *f, struct ag_master_agent *a, char *err, size_t errlen,
                      const char *fmt, ...)
{
    char text[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    json_t *call = parse(text);
    err[0] = '\0';
    int r = ag_master_agent_call(f->m, a, call, err, errlen);
    json_decref(call);
    return r;
}

/* The id of the first offer of the n-th OFFERS event. */
static const char *offer_id(struct fixture *f, size_t nth)
{
    json_t *ev = event(f, "OFFERS", nth);
    json_t *o = json_array_get(json_object_get(json_object_get(ev, "offers"), "offers"), 0);
    return path_str(o, "id", "value", NULL);
}

static const char *const UUID1 = "p0Vd5qzCQj+3sN8m1tXc1w==";
static const char *const UUID2 = "aRdYZnQdQ0aBmocRWygNPQ==";

#define LAUNCH_ONE(tid, cpus)                                                                      \
    "{\"type\":\"ACCEPT\",\"framework_id\":{\"value\":\"%s\"},\"accept\":{\"offer_ids\":"          \
    "[{\"value\":\"%s\"}],\"operations\":[{\"type\":\"LAUNCH\",\"launch\":{\"task_infos\":[{"      \
    "\"name\":\"" tid "\",\"task_id\":{\"value\":\"" tid "\"},\"agent_id\":{\"value\":\"%s\"},"    \
    "\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":" cpus "}}],"     \
    "\"command\":{\"value\":\"sleep 1\"}}]}}],\"filters\":{\"refuse_seconds\":7}}}"

#define AGENT_UPDATE(tid, state, uuid)                                                             \
    "{\"type\":\"UPDATE\",\"agent_id\":{\"value\":\"%s\"},\"update\":{\"framework_id\":"           \
    "{\"value\":\"%s\"},\"status\":{\"task_id\":{\"value\":\"" tid "\"},\"state\":\"" state        \
    "\",\"source\":\"SOURCE_EXECUTOR\",\"uuid\":\"%s\"}}}"

TEST(launch_update_acknowledge_flow)
{
    struct fixture f;
    char err[512];
    setup(&f);
    struct ag_master_agent *a = add_agent(&f, NULL);
    struct ag_master_framework *fw =
        add_fw(&f, ",\"capabilities\":[{\"type\":\"PARTITION_AWARE\"}]");
    ag_master_allocate(f.m);
    char oid[256];
    snprintf(oid, sizeof(oid), "%s", offer_id(&f, 0));
    struct ag_allocator *fa = f.m->alloc;

    ASSERT_EQ(sched_call(&f, fw, err, sizeof(err), LAUNCH_ONE("t1", "1.5"), fw->id, oid, a->id),
              AG_MASTER_CALL_ACCEPTED);
    /* the agent is told, the task is staged and charged, leftovers filtered */
    json_t *ev = event(&f, "LAUNCH", 0);
    ASSERT_NOT_NULL(ev);
    ASSERT_STREQ(path_str(ev, "launch", "task", "name"), "t1");
    ASSERT_STREQ(path_str(json_object_get(json_object_get(ev, "launch"), "framework_info"), "id",
                          "value", NULL),
                 fw->id);
    ASSERT_NULL(json_object_get(json_object_get(ev, "launch"), "executor"));
    struct ag_master_task *t = ag_master_map_get(&fw->tasks, "t1");
    ASSERT_NOT_NULL(t);
    ASSERT_EQ(t->state, AG_TASK_STAGING);
    ASSERT_NEAR(ag_resources_scalar(&a->used, "cpus"), 1.5, 1e-9);
    ASSERT_EQ(f.m->offers.n, 0);
    ASSERT_NEAR(fa->last_refuse, 7.0, 1e-9);

    /* RUNNING from the agent reaches the framework with its uuid */
    ASSERT_EQ(agent_call(&f, a, err, sizeof(err), AGENT_UPDATE("t1", "TASK_RUNNING", "%s"), a->id,
                         fw->id, UUID1),
              0);
    ASSERT_EQ(t->state, AG_TASK_RUNNING);
    ASSERT_STREQ(t->update_uuid, UUID1);
    ev = event(&f, "UPDATE", 0);
    json_t *st = json_object_get(json_object_get(ev, "update"), "status");
    ASSERT_STREQ(path_str(st, "state", NULL, NULL), "TASK_RUNNING");
    ASSERT_STREQ(path_str(st, "uuid", NULL, NULL), UUID1);

    /* a duplicate is forwarded again but recorded once */
    ASSERT_EQ(agent_call(&f, a, err, sizeof(err), AGENT_UPDATE("t1", "TASK_RUNNING", "%s"), a->id,
                         fw->id, UUID1),
              0);
    ASSERT_NOT_NULL(event(&f, "UPDATE", 1));
    ASSERT_EQ(t->n_statuses, 1);

    /* the acknowledgement goes to the agent byte for byte */
    ASSERT_EQ(sched_call(&f, fw, err, sizeof(err),
                         "{\"type\":\"ACKNOWLEDGE\",\"framework_id\":{\"value\":\"%s\"},"
                         "\"acknowledge\":{\"agent_id\":{\"value\":\"%s\"},\"task_id\":{\"value\":"
                         "\"t1\"},\"uuid\":\"%s\"}}",
                         fw->id, a->id, UUID1),
              AG_MASTER_CALL_ACCEPTED);
    ev = event(&f, "ACKNOWLEDGE", 0);
    ASSERT_STREQ(path_str(ev, "acknowledge", "uuid", NULL), UUID1);
    ASSERT_STREQ(path_str(ev, "acknowledge", "task_id", "value"), "t1");
    ASSERT_EQ(f.m->metrics.valid_acks, 1);

    /* FINISHED frees the resources at once; its ack completes the task */
    ASSERT_EQ(agent_call(&f, a, err, sizeof(err), AGENT_UPDATE("t1", "TASK_FINISHED", "%s"), a->id,
                         fw->id, UUID2),
              0);
    ASSERT_NEAR(ag_resources_scalar(&a->used, "cpus"), 0.0, 1e-9);
    ASSERT_EQ(fw->tasks.n, 1);
    ASSERT_EQ(sched_call(&f, fw, err, sizeof(err),
                         "{\"type\":\"ACKNOWLEDGE\",\"framework_id\":{\"value\":\"%s\"},"
                         "\"acknowledge\":{\"agent_id\":{\"value\":\"%s\"},\"task_id\":{\"value\":"
                         "\"t1\"},\"uuid\":\"%s\"}}",
                         fw->id, a->id, UUID2),
              AG_MASTER_CALL_ACCEPTED);
    ASSERT_EQ(fw->tasks.n, 0);
    ASSERT_EQ(fw->n_completed, 1);
    teardown(&f);
}

TEST(accept_with_invalid_offer_drops_tasks)
{
    struct fixture f;
    char err[512];
    setup(&f);
    struct ag_master_agent *a = add_agent(&f, NULL);
    struct ag_master_framework *fw = add_fw(&f, NULL); /* not partition-aware */
    ASSERT_EQ(
        sched_call(&f, fw, err, sizeof(err), LAUNCH_ONE("t1", "1"), fw->id, "no-such-offer", a->id),
        AG_MASTER_CALL_ACCEPTED);
    json_t *ev = event(&f, "UPDATE", 0);
    json_t *st = json_object_get(json_object_get(ev, "update"), "status");
    ASSERT_STREQ(path_str(st, "state", NULL, NULL), "TASK_LOST");
    ASSERT_STREQ(path_str(st, "reason", NULL, NULL), "REASON_INVALID_OFFERS");
    ASSERT_STREQ(path_str(st, "source", NULL, NULL), "SOURCE_MASTER");
    ASSERT_NULL(json_object_get(st, "uuid"));
    ASSERT_NULL(event(&f, "LAUNCH", 0));
    ASSERT_EQ(fw->tasks.n, 0);
    teardown(&f);
}

TEST(accept_with_invalid_task_reports_error)
{
    struct fixture f;
    char err[512];
    setup(&f);
    struct ag_master_agent *a = add_agent(&f, NULL);
    struct ag_master_framework *fw = add_fw(&f, NULL);
    ag_master_allocate(f.m);
    char oid[256];
    snprintf(oid, sizeof(oid), "%s", offer_id(&f, 0));
    struct ag_allocator *fa = f.m->alloc;
    int before = fa->n_recover;
    ASSERT_EQ(sched_call(&f, fw, err, sizeof(err), LAUNCH_ONE("big", "64"), fw->id, oid, a->id),
              AG_MASTER_CALL_ACCEPTED);
    json_t *ev = event(&f, "UPDATE", 0);
    json_t *st = json_object_get(json_object_get(ev, "update"), "status");
    ASSERT_STREQ(path_str(st, "state", NULL, NULL), "TASK_ERROR");
    ASSERT_STREQ(path_str(st, "reason", NULL, NULL), "REASON_TASK_INVALID");
    ASSERT_NOT_NULL(strstr(path_str(st, "message", NULL, NULL), "more resources"));
    /* the whole offer went back, with the call's filter */
    ASSERT_EQ(fa->n_recover, before + 1);
    ASSERT_NEAR(ag_resources_scalar(&a->offered, "cpus"), 0.0, 1e-9);
    ASSERT_NEAR(fa->last_refuse, 7.0, 1e-9);
    teardown(&f);
}

TEST(calls_stay_within_their_framework)
{
    struct fixture f;
    char err[512];
    setup(&f);
    struct ag_master_agent *a = add_agent(&f, NULL);
    struct ag_master_framework *mine = add_fw(&f, NULL);
    ag_master_allocate(f.m); /* the fake offers to the latest framework: mine */
    char oid[256];
    snprintf(oid, sizeof(oid), "%s", offer_id(&f, 0));
    add_task(&f, mine, a, "secret");
    struct ag_master_framework *other = add_fw(&f, NULL);
    /* another framework cannot decline, accept or kill what is not its own */
    ASSERT_EQ(sched_call(&f, other, err, sizeof(err),
                         "{\"type\":\"DECLINE\",\"framework_id\":{\"value\":\"%s\"},\"decline\":"
                         "{\"offer_ids\":[{\"value\":\"%s\"}]}}",
                         other->id, oid),
              AG_MASTER_CALL_ACCEPTED);
    ASSERT_EQ(f.m->offers.n, 1);
    ASSERT_EQ(sched_call(&f, other, err, sizeof(err),
                         "{\"type\":\"KILL\",\"framework_id\":{\"value\":\"%s\"},\"kill\":"
                         "{\"task_id\":{\"value\":\"secret\"}}}",
                         other->id),
              AG_MASTER_CALL_ACCEPTED);
    ASSERT_NULL(event(&f, "KILL", 0));
    json_t *ev = event(&f, "UPDATE", 0); /* reconciliation answer: unknown to it */
    json_t *st = json_object_get(json_object_get(ev, "update"), "status");
    ASSERT_STREQ(path_str(st, "state", NULL, NULL), "TASK_LOST");
    ASSERT_STREQ(path_str(st, "reason", NULL, NULL), "REASON_RECONCILIATION");
    /* its owner can kill it */
    ASSERT_EQ(sched_call(&f, mine, err, sizeof(err),
                         "{\"type\":\"KILL\",\"framework_id\":{\"value\":\"%s\"},\"kill\":"
                         "{\"task_id\":{\"value\":\"secret\"}}}",
                         mine->id),
              AG_MASTER_CALL_ACCEPTED);
    ev = event(&f, "KILL", 0);
    ASSERT_STREQ(path_str(ev, "kill", "task_id", "value"), "secret");
    ASSERT_STREQ(path_str(ev, "kill", "framework_id", "value"), mine->id);
    teardown(&f);
}

TEST(reconcile_and_revive_calls)
{
    struct fixture f;
    char err[512];
    setup(&f);
    struct ag_master_agent *a = add_agent(&f, NULL);
    struct ag_master_framework *fw =
        add_fw(&f, ",\"role\":\"web\",\"capabilities\":[{\"type\":\"PARTITION_AWARE\"}]");
    add_task(&f, fw, a, "t1");
    add_task(&f, fw, a, "t2");
    ASSERT_EQ(sched_call(&f, fw, err, sizeof(err),
                         "{\"type\":\"RECONCILE\",\"framework_id\":{\"value\":\"%s\"},"
                         "\"reconcile\":{}}",
                         fw->id),
              AG_MASTER_CALL_ACCEPTED);
    ASSERT_NOT_NULL(event(&f, "UPDATE", 1));
    ASSERT_NULL(event(&f, "UPDATE", 2));
    json_t *st = json_object_get(json_object_get(event(&f, "UPDATE", 0), "update"), "status");
    ASSERT_STREQ(path_str(st, "reason", NULL, NULL), "REASON_RECONCILIATION");
    ASSERT_STREQ(path_str(st, "message", NULL, NULL), "Reconciliation: Latest task state");
    ASSERT_STREQ(path_str(st, "state", NULL, NULL), "TASK_RUNNING");

    ASSERT_EQ(sched_call(&f, fw, err, sizeof(err),
                         "{\"type\":\"RECONCILE\",\"framework_id\":{\"value\":\"%s\"},"
                         "\"reconcile\":{\"tasks\":[{\"task_id\":{\"value\":\"zz\"},"
                         "\"agent_id\":{\"value\":\"%s\"}}]}}",
                         fw->id, a->id),
              AG_MASTER_CALL_ACCEPTED);
    st = json_object_get(json_object_get(event(&f, "UPDATE", 2), "update"), "status");
    ASSERT_STREQ(path_str(st, "state", NULL, NULL), "TASK_GONE");

    ASSERT_EQ(sched_call(&f, fw, err, sizeof(err),
                         "{\"type\":\"REVIVE\",\"framework_id\":{\"value\":\"%s\"},\"revive\":"
                         "{\"roles\":[\"db\"]}}",
                         fw->id),
              -EINVAL);
    ASSERT_NOT_NULL(strstr(err, "'db'"));
    ASSERT_EQ(sched_call(&f, fw, err, sizeof(err),
                         "{\"type\":\"SUPPRESS\",\"framework_id\":{\"value\":\"%s\"},\"suppress\":"
                         "{\"role\":\"web\"}}",
                         fw->id),
              AG_MASTER_CALL_ACCEPTED);
    teardown(&f);
}

TEST(agent_calls_validate_and_relay)
{
    struct fixture f;
    char err[512];
    setup(&f);
    struct ag_master_agent *a = add_agent(&f, NULL);
    struct ag_master_framework *fw = add_fw(&f, NULL);
    add_task(&f, fw, a, "t1");
    /* a bad uuid changes nothing */
    ASSERT_EQ(agent_call(&f, a, err, sizeof(err), AGENT_UPDATE("t1", "TASK_FAILED", "%s"), a->id,
                         fw->id, "aGk="),
              -EINVAL);
    ASSERT_NOT_NULL(strstr(err, "uuid"));
    ASSERT_EQ(agent_call(&f, a, err, sizeof(err), AGENT_UPDATE("t1", "TASK_BOGUS", "%s"), a->id,
                         fw->id, UUID1),
              -EINVAL);
    struct ag_master_task *t = ag_master_map_get(&fw->tasks, "t1");
    ASSERT_EQ(t->state, AG_TASK_RUNNING);
    ASSERT_NULL(event(&f, "UPDATE", 0));
    /* latest_state ahead of the delivered status: resources freed now */
    ASSERT_EQ(agent_call(&f, a, err, sizeof(err),
                         "{\"type\":\"UPDATE\",\"agent_id\":{\"value\":\"%s\"},\"update\":"
                         "{\"framework_id\":{\"value\":\"%s\"},\"latest_state\":\"TASK_FAILED\","
                         "\"status\":{\"task_id\":{\"value\":\"t1\"},\"state\":\"TASK_RUNNING\","
                         "\"uuid\":\"%s\"}}}",
                         a->id, fw->id, UUID1),
              0);
    ASSERT_EQ(t->state, AG_TASK_FAILED);
    ASSERT_EQ(t->update_state, AG_TASK_RUNNING);
    ASSERT_NEAR(ag_resources_scalar(&a->used, "cpus"), 0.0, 1e-9);
    /* executor exit and messages reach the framework */
    ASSERT_EQ(agent_call(&f, a, err, sizeof(err),
                         "{\"type\":\"EXECUTOR_EXITED\",\"agent_id\":{\"value\":\"%s\"},"
                         "\"executor_exited\":{\"framework_id\":{\"value\":\"%s\"},"
                         "\"executor_id\":{\"value\":\"t1\"},\"status\":256}}",
                         a->id, fw->id),
              0);
    json_t *ev = event(&f, "FAILURE", 0);
    ASSERT_STREQ(path_str(ev, "failure", "executor_id", "value"), "t1");
    ASSERT_EQ(json_integer_value(json_object_get(json_object_get(ev, "failure"), "status")), 256);
    ASSERT_EQ(agent_call(&f, a, err, sizeof(err),
                         "{\"type\":\"MESSAGE\",\"agent_id\":{\"value\":\"%s\"},\"message\":"
                         "{\"framework_id\":{\"value\":\"%s\"},\"executor_id\":{\"value\":\"t1\"},"
                         "\"data\":\"aGk=\"}}",
                         a->id, fw->id),
              0);
    ev = event(&f, "MESSAGE", 0);
    ASSERT_STREQ(path_str(ev, "message", "data", NULL), "aGk=");
    ASSERT_STREQ(path_str(ev, "message", "agent_id", "value"), a->id);
    ASSERT_EQ(agent_call(&f, a, err, sizeof(err),
                         "{\"type\":\"MESSAGE\",\"agent_id\":{\"value\":\"%s\"},\"message\":"
                         "{\"framework_id\":{\"value\":\"%s\"},\"executor_id\":{\"value\":\"t1\"},"
                         "\"data\":\"!!\"}}",
                         a->id, fw->id),
              -EINVAL);
    teardown(&f);
}

/* One element of an `updates` batch: framework id, task id, state, uuid. */
#define BATCH_ITEM                                                                                 \
    "{\"framework_id\":{\"value\":\"%s\"},\"status\":{\"task_id\":{\"value\":\"%s\"},"             \
    "\"state\":\"%s\",\"uuid\":\"%s\"}}"

TEST(agent_update_batches)
{
    struct fixture f;
    char err[512];
    setup(&f);
    struct ag_master_agent *a = add_agent(&f, NULL);
    struct ag_master_framework *fw = add_fw(&f, NULL);
    struct ag_master_task *t1 = add_task(&f, fw, a, "t1");
    struct ag_master_task *t2 = add_task(&f, fw, a, "t2");
    /* a bad element anywhere refuses the whole batch, naming it */
    ASSERT_EQ(
        agent_call(&f, a, err, sizeof(err),
                   "{\"type\":\"UPDATE\",\"agent_id\":{\"value\":\"%s\"},\"updates\":[" BATCH_ITEM
                   "," BATCH_ITEM "]}",
                   a->id, fw->id, "t1", "TASK_FINISHED", UUID1, fw->id, "t2", "TASK_FINISHED",
                   "aGk="),
        -EINVAL);
    ASSERT_NOT_NULL(strstr(err, "updates[1].status.uuid"));
    ASSERT_EQ(t1->state, AG_TASK_RUNNING);
    ASSERT_NULL(event(&f, "UPDATE", 0));
    ASSERT_EQ(agent_call(&f, a, err, sizeof(err),
                         "{\"type\":\"UPDATE\",\"agent_id\":{\"value\":\"%s\"},\"updates\":[]}",
                         a->id),
              -EINVAL);
    ASSERT_NOT_NULL(strstr(err, "updates"));
    ASSERT_EQ(
        agent_call(&f, a, err, sizeof(err),
                   "{\"type\":\"UPDATE\",\"agent_id\":{\"value\":\"%s\"},\"updates\":[" BATCH_ITEM
                   "],\"update\":" BATCH_ITEM "}",
                   a->id, fw->id, "t1", "TASK_FINISHED", UUID1, fw->id, "t2", "TASK_FINISHED",
                   UUID2),
        -EINVAL);
    ASSERT_NOT_NULL(strstr(err, "exclusive"));
    ASSERT_EQ(t1->state, AG_TASK_RUNNING);
    ASSERT_EQ(t2->state, AG_TASK_RUNNING);
    /* a good batch: every update applied and forwarded, in order */
    ASSERT_EQ(
        agent_call(&f, a, err, sizeof(err),
                   "{\"type\":\"UPDATE\",\"agent_id\":{\"value\":\"%s\"},\"updates\":[" BATCH_ITEM
                   "," BATCH_ITEM "]}",
                   a->id, fw->id, "t1", "TASK_FINISHED", UUID1, fw->id, "t2", "TASK_FAILED", UUID2),
        0);
    ASSERT_EQ(t1->state, AG_TASK_FINISHED);
    ASSERT_EQ(t2->state, AG_TASK_FAILED);
    ASSERT_STREQ(t2->update_uuid, UUID2);
    json_t *ev = event(&f, "UPDATE", 0);
    ASSERT_STREQ(path_str(json_object_get(json_object_get(ev, "update"), "status"), "task_id",
                          "value", NULL),
                 "t1");
    ev = event(&f, "UPDATE", 1);
    json_t *st = json_object_get(json_object_get(ev, "update"), "status");
    ASSERT_STREQ(path_str(st, "state", NULL, NULL), "TASK_FAILED");
    ASSERT_STREQ(path_str(st, "uuid", NULL, NULL), UUID2);
    ASSERT_NULL(event(&f, "UPDATE", 2));
    teardown(&f);
}

TEST(map_basics)
{
    struct ag_master_map map;
    ag_master_map_init(&map);
    char key[32];
    static int values[200];
    for (int i = 0; i < 200; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        ASSERT_EQ(ag_master_map_put(&map, key, &values[i]), 0);
    }
    ASSERT_EQ(map.n, 200);
    ASSERT_TRUE(ag_master_map_get(&map, "k150") == &values[150]);
    ASSERT_NULL(ag_master_map_get(&map, "k200"));
    ASSERT_TRUE(ag_master_map_remove(&map, "k0") == &values[0]);
    ASSERT_NULL(ag_master_map_remove(&map, "k0"));
    ASSERT_STREQ(map.head->key, "k1");
    ASSERT_STREQ(map.tail->key, "k199");
    ASSERT_EQ(ag_master_map_put(&map, "k5", NULL), 0); /* replace in place */
    ASSERT_TRUE(ag_master_map_has(&map, "k5"));
    ASSERT_NULL(ag_master_map_get(&map, "k5"));
    ASSERT_EQ(map.n, 199);
    int n = 0;
    for (struct ag_master_map_entry *e = map.head, *next; e; e = next) {
        next = e->next;
        ag_master_map_remove(&map, e->key);
        n++;
    }
    ASSERT_EQ(n, 199);
    ASSERT_EQ(map.n, 0);
    ag_master_map_release(&map);
}

/* The LAUNCH event written as text has the bytes jansson printed for the
 * tree the master used to build ({type}, then launch{framework_info, task,
 * executor}), for odd values too: escapes, UTF-8, reals, nesting. */
static void check_launch_text(const json_t *info, const json_t *task, const json_t *executor)
{
    json_t *launch = json_pack("{s:O, s:O}", "framework_info", info, "task", task);
    if (executor)
        json_object_set(launch, "executor", (json_t *)executor);
    json_t *ev = json_pack("{s:s, s:o}", "type", "LAUNCH", "launch", launch);
    char *want = json_dumps(ev, JSON_COMPACT);
    struct ag_jw w;
    ag_jw_init(&w);
    ag_master_render_launch(&w, info, task, executor);
    ASSERT_FALSE(w.oom || w.bad);
    ASSERT_STREQ(w.buf, want);
    free(want);
    ag_jw_release(&w);
    json_decref(ev);
}

TEST(launch_text_equals_tree)
{
    json_t *info = json_loads(
        "{\"user\":\"r\\\"o\\\\ot\",\"name\":\"f\\u00e9\\n\\u0001\",\"id\":{\"value\":\"F-1\"},"
        "\"failover_timeout\":0.5,\"checkpoint\":true,\"roles\":[\"a\",\"b/c\"],"
        "\"capabilities\":[{\"type\":\"MULTI_ROLE\"}],\"labels\":null}",
        0, NULL);
    json_t *task = json_loads(
        "{\"name\":\"t\",\"task_id\":{\"value\":\"t-\\u2603\"},\"agent_id\":{\"value\":\"A\"},"
        "\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":0.1}},"
        "{\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":{\"value\":32}},"
        "{\"name\":\"ports\",\"type\":\"RANGES\",\"ranges\":{\"range\":[{\"begin\":31000,"
        "\"end\":31001}]}}],\"command\":{\"value\":\"echo '</x>' && exit 0\",\"shell\":true},"
        "\"data\":\"aGk=\",\"kill_policy\":{\"grace_period\":{\"nanoseconds\":-1}}}",
        0, NULL);
    json_t *executor =
        json_loads("{\"executor_id\":{\"value\":\"e\"},\"type\":\"DEFAULT\",\"resources\":[],"
                   "\"framework_id\":{\"value\":\"F-1\"},\"x\":1e100}",
                   0, NULL);
    ASSERT_NOT_NULL(info);
    ASSERT_NOT_NULL(task);
    ASSERT_NOT_NULL(executor);
    check_launch_text(info, task, NULL);
    check_launch_text(info, task, executor);
    json_decref(info);
    json_decref(task);
    json_decref(executor);
}

TEST_MAIN(TEST_CASE(streamed_state_equals_tree), TEST_CASE(kept_task_text_follows_changes),
          TEST_CASE(kept_agent_text_follows_reregistration), TEST_CASE(slices_survive_changes),
          TEST_CASE(ids_and_subscribed_events), TEST_CASE(offers_batched_and_shaped),
          TEST_CASE(framework_tallies_survive_repeated_ports),
          TEST_CASE(disconnect_recovers_offers_and_remove_completes),
          TEST_CASE(resubscribe_keeps_tasks_and_ignores_user_change),
          TEST_CASE(terminal_state_releases_once), TEST_CASE(completed_tasks_are_capped),
          TEST_CASE(unreachable_tasks_are_capped), TEST_CASE(unreachable_agent_and_reregistration),
          TEST_CASE(non_partition_aware_sees_lost),
          TEST_CASE(reregistration_drops_unreported_and_adopts_unknown),
          TEST_CASE(reregistration_does_not_charge_command_executors), TEST_CASE(state_json_shapes),
          TEST_CASE(executors_in_state), TEST_CASE(update_framework_rules),
          TEST_CASE(launch_update_acknowledge_flow),
          TEST_CASE(accept_with_invalid_offer_drops_tasks),
          TEST_CASE(accept_with_invalid_task_reports_error),
          TEST_CASE(calls_stay_within_their_framework), TEST_CASE(reconcile_and_revive_calls),
          TEST_CASE(agent_calls_validate_and_relay), TEST_CASE(agent_update_batches),
          TEST_CASE(map_basics), TEST_CASE(launch_text_equals_tree))
