/* Unit tests for master/validate.c: content negotiation, scheduler call
 * shapes, FrameworkInfo, ACCEPT offers and TaskInfo validation. */
#include "test.h"

#include <errno.h>
#include <stdlib.h>

#include "core/json.h"
#include "core/resources.h"
#include "master/internal.h"

static json_t *parse(const char *text)
{
    char err[256];
    json_t *j = ag_json_parse(text, strlen(text), err, sizeof(err));
    if (!j)
        fprintf(stderr, "bad test JSON: %s\n", err);
    return j;
}

/* Validates a call given as text; returns the result and the message. */
static int call_check(const char *text, enum ag_master_call *type, char *err, size_t errlen)
{
    json_t *j = parse(text);
    err[0] = '\0';
    int r = ag_master_validate_sched_call(j, type, err, errlen);
    json_decref(j);
    return r;
}

TEST(accepts_json)
{
    ASSERT_TRUE(ag_master_accepts_json(NULL));
    ASSERT_TRUE(ag_master_accepts_json(""));
    ASSERT_TRUE(ag_master_accepts_json("application/json"));
    ASSERT_TRUE(ag_master_accepts_json("*/*"));
    ASSERT_TRUE(ag_master_accepts_json("application/*"));
    ASSERT_TRUE(ag_master_accepts_json("text/html, application/json;q=0.5"));
    ASSERT_TRUE(ag_master_accepts_json("Application/JSON"));
    ASSERT_FALSE(ag_master_accepts_json("text/html"));
    ASSERT_FALSE(ag_master_accepts_json("application/x-protobuf"));
    ASSERT_FALSE(ag_master_accepts_json("application/json;q=0"));
    ASSERT_FALSE(ag_master_accepts_json("application/jsonx"));
}

TEST(content_type)
{
    ASSERT_EQ(ag_master_check_content_type(NULL), -ENOENT);
    ASSERT_EQ(ag_master_check_content_type("application/json"), 0);
    ASSERT_EQ(ag_master_check_content_type("application/json; charset=utf-8"), 0);
    ASSERT_EQ(ag_master_check_content_type("application/json;charset=UTF-8"), 0);
    ASSERT_EQ(ag_master_check_content_type("text/plain"), -EOPNOTSUPP);
    ASSERT_EQ(ag_master_check_content_type("application/x-protobuf"), -EOPNOTSUPP);
    ASSERT_EQ(ag_master_check_content_type("application/jsonp"), -EOPNOTSUPP);
}

TEST(call_envelope)
{
    enum ag_master_call t;
    char err[512];
    ASSERT_EQ(call_check("[]", &t, err, sizeof(err)), -EINVAL);
    ASSERT_EQ(call_check("{}", &t, err, sizeof(err)), -EINVAL);
    ASSERT_NOT_NULL(strstr(err, "'type'"));
    ASSERT_EQ(call_check("{\"type\":\"NOPE\"}", &t, err, sizeof(err)), -EINVAL);
    ASSERT_NOT_NULL(strstr(err, "NOPE"));
    ASSERT_EQ(call_check("{\"type\":\"KILL\",\"kill\":{\"task_id\":{\"value\":\"t\"}}}", &t, err,
                         sizeof(err)),
              -EINVAL);
    ASSERT_NOT_NULL(strstr(err, "framework_id"));
    ASSERT_EQ(
        call_check("{\"type\":\"KILL\",\"framework_id\":{\"value\":\"f\"}}", &t, err, sizeof(err)),
        -EINVAL);
    ASSERT_NOT_NULL(strstr(err, "'kill'"));
    ASSERT_EQ(call_check("{\"type\":\"KILL\",\"framework_id\":{\"value\":\"f\"},\"kill\":{}}", &t,
                         err, sizeof(err)),
              -EINVAL);
    ASSERT_NOT_NULL(strstr(err, "kill.task_id"));
    ASSERT_EQ(call_check("{\"type\":\"KILL\",\"framework_id\":{\"value\":\"f\"},"
                         "\"kill\":{\"task_id\":{\"value\":\"t\"}}}",
                         &t, err, sizeof(err)),
              0);
    ASSERT_EQ(t, AG_CALL_KILL);
    /* payload-less calls */
    ASSERT_EQ(call_check("{\"type\":\"REVIVE\",\"framework_id\":{\"value\":\"f\"}}", &t, err,
                         sizeof(err)),
              0);
    ASSERT_EQ(call_check("{\"type\":\"TEARDOWN\",\"framework_id\":{\"value\":\"f\"}}", &t, err,
                         sizeof(err)),
              0);
    ASSERT_EQ(call_check("{\"type\":\"UNKNOWN\"}", &t, err, sizeof(err)), 0);
    ASSERT_EQ(t, AG_CALL_UNKNOWN);
    /* null means absent */
    ASSERT_EQ(call_check("{\"type\":\"SUPPRESS\",\"framework_id\":{\"value\":\"f\"},"
                         "\"suppress\":null}",
                         &t, err, sizeof(err)),
              0);
    ASSERT_EQ(call_check("{\"type\":\"SUPPRESS\",\"framework_id\":{\"value\":\"f\"},"
                         "\"suppress\":{\"roles\":[1]}}",
                         &t, err, sizeof(err)),
              -EINVAL);
}

TEST(call_acknowledge_uuid)
{
    enum ag_master_call t;
    char err[512];
    const char *fmt = "{\"type\":\"ACKNOWLEDGE\",\"framework_id\":{\"value\":\"f\"},"
                      "\"acknowledge\":{\"agent_id\":{\"value\":\"a\"},\"task_id\":{\"value\":"
                      "\"t\"},\"uuid\":\"%s\"}}";
    char buf[512];
    snprintf(buf, sizeof(buf), fmt, "p0Vd5qzCQj+3sN8m1tXc1w==");
    ASSERT_EQ(call_check(buf, &t, err, sizeof(err)), 0);
    snprintf(buf, sizeof(buf), fmt, "not base64!");
    ASSERT_EQ(call_check(buf, &t, err, sizeof(err)), -EINVAL);
    ASSERT_NOT_NULL(strstr(err, "uuid"));
    snprintf(buf, sizeof(buf), fmt, "aGk=");
    ASSERT_EQ(call_check(buf, &t, err, sizeof(err)), -EINVAL);
    ASSERT_NOT_NULL(strstr(err, "16 bytes"));
}

TEST(call_subscribe)
{
    enum ag_master_call t;
    char err[512];
    ASSERT_EQ(call_check("{\"type\":\"SUBSCRIBE\",\"subscribe\":{\"framework_info\":"
                         "{\"user\":\"u\",\"name\":\"n\"}}}",
                         &t, err, sizeof(err)),
              0);
    ASSERT_EQ(t, AG_CALL_SUBSCRIBE);
    ASSERT_EQ(call_check("{\"type\":\"SUBSCRIBE\",\"subscribe\":{\"framework_info\":"
                         "{\"name\":\"n\"}}}",
                         &t, err, sizeof(err)),
              -EINVAL);
    ASSERT_NOT_NULL(strstr(err, "user"));
    ASSERT_EQ(call_check("{\"type\":\"SUBSCRIBE\",\"framework_id\":{\"value\":\"a\"},"
                         "\"subscribe\":{\"framework_info\":{\"user\":\"u\",\"name\":\"n\","
                         "\"id\":{\"value\":\"b\"}}}}",
                         &t, err, sizeof(err)),
              -EINVAL);
    ASSERT_NOT_NULL(strstr(err, "differs"));
    ASSERT_EQ(call_check("{\"type\":\"SUBSCRIBE\",\"framework_id\":{\"value\":\"a\"},"
                         "\"subscribe\":{\"framework_info\":{\"user\":\"u\",\"name\":\"n\","
                         "\"id\":{\"value\":\"a\"}}}}",
                         &t, err, sizeof(err)),
              0);
}

TEST(call_accept_shapes)
{
    enum ag_master_call t;
    char err[512];
    ASSERT_EQ(call_check("{\"type\":\"ACCEPT\",\"framework_id\":{\"value\":\"f\"},\"accept\":"
                         "{\"offer_ids\":[{\"value\":\"o\"}],\"operations\":[{\"type\":\"FLY\"}]}}",
                         &t, err, sizeof(err)),
              -EINVAL);
    ASSERT_NOT_NULL(strstr(err, "operations[0].type"));
    ASSERT_EQ(call_check("{\"type\":\"ACCEPT\",\"framework_id\":{\"value\":\"f\"},\"accept\":"
                         "{\"offer_ids\":[{\"value\":\"o\"}],\"operations\":[{\"type\":\"LAUNCH\","
                         "\"launch\":{\"task_infos\":[{\"task_id\":{\"value\":\"t\"},"
                         "\"agent_id\":{\"value\":\"a\"}}]}}]}}",
                         &t, err, sizeof(err)),
              -EINVAL);
    ASSERT_NOT_NULL(strstr(err, "task_infos[0].name"));
    ASSERT_EQ(call_check("{\"type\":\"ACCEPT\",\"framework_id\":{\"value\":\"f\"},\"accept\":"
                         "{\"offer_ids\":[\"o\"]}}",
                         &t, err, sizeof(err)),
              -EINVAL);
    ASSERT_NOT_NULL(strstr(err, "offer_ids[0]"));
    ASSERT_EQ(call_check("{\"type\":\"ACCEPT\",\"framework_id\":{\"value\":\"f\"},\"accept\":"
                         "{\"offer_ids\":[],\"filters\":{\"refuse_seconds\":\"x\"}}}",
                         &t, err, sizeof(err)),
              -EINVAL);
    ASSERT_NOT_NULL(strstr(err, "refuse_seconds"));
    ASSERT_EQ(call_check("{\"type\":\"ACCEPT\",\"framework_id\":{\"value\":\"f\"},\"accept\":"
                         "{\"operations\":[]}}",
                         &t, err, sizeof(err)),
              -EINVAL);
    ASSERT_NOT_NULL(strstr(err, "accept.offer_ids"));
    ASSERT_EQ(call_check("{\"type\":\"DECLINE\",\"framework_id\":{\"value\":\"f\"},"
                         "\"decline\":{}}",
                         &t, err, sizeof(err)),
              -EINVAL);
    ASSERT_NOT_NULL(strstr(err, "decline.offer_ids"));
    ASSERT_EQ(call_check("{\"type\":\"ACCEPT\",\"framework_id\":{\"value\":\"f\"},\"accept\":"
                         "{\"offer_ids\":[{\"value\":\"o\"}],\"operations\":[{\"type\":\"LAUNCH\","
                         "\"launch\":{\"task_infos\":[{\"name\":\"n\",\"task_id\":{\"value\":"
                         "\"t\"},\"agent_id\":{\"value\":\"a\"}}]}}],\"filters\":"
                         "{\"refuse_seconds\":10}}}",
                         &t, err, sizeof(err)),
              0);
    ASSERT_EQ(t, AG_CALL_ACCEPT);
}

TEST(call_update_framework_id)
{
    enum ag_master_call t;
    char err[512];
    ASSERT_EQ(call_check("{\"type\":\"UPDATE_FRAMEWORK\",\"framework_id\":{\"value\":\"f\"},"
                         "\"update_framework\":{\"framework_info\":{\"user\":\"u\",\"name\":"
                         "\"n\",\"id\":{\"value\":\"g\"}}}}",
                         &t, err, sizeof(err)),
              -EINVAL);
    ASSERT_EQ(call_check("{\"type\":\"UPDATE_FRAMEWORK\",\"framework_id\":{\"value\":\"f\"},"
                         "\"update_framework\":{\"framework_info\":{\"user\":\"u\",\"name\":"
                         "\"n\",\"id\":{\"value\":\"f\"}}}}",
                         &t, err, sizeof(err)),
              0);
}

/* Semantic FrameworkInfo validation; returns the result, fills fi. */
static int fwinfo(const char *text, const char *suppressed, struct ag_master_fwinfo *fi, char *err,
                  size_t errlen)
{
    json_t *info = parse(text);
    json_t *sup = suppressed ? parse(suppressed) : NULL;
    memset(fi, 0, sizeof(*fi));
    int r = ag_master_validate_framework_info(info, sup, fi, err, errlen);
    json_decref(info);
    json_decref(sup);
    return r;
}

TEST(framework_info)
{
    struct ag_master_fwinfo fi;
    char err[512];
    ASSERT_EQ(fwinfo("{\"user\":\"u\",\"name\":\"n\"}", NULL, &fi, err, sizeof(err)), 0);
    ASSERT_EQ(fi.n_roles, 1);
    ASSERT_STREQ(fi.roles[0], "*");
    ASSERT_EQ(fi.caps, 0);
    ag_master_fwinfo_release(&fi);

    ASSERT_EQ(fwinfo("{\"user\":\"u\",\"name\":\"n\",\"role\":\"web\",\"capabilities\":"
                     "[{\"type\":\"PARTITION_AWARE\"},{\"type\":\"FUTURE_THING\"}]}",
                     NULL, &fi, err, sizeof(err)),
              0);
    ASSERT_STREQ(fi.roles[0], "web");
    ASSERT_EQ(fi.caps, AG_CAP_PARTITION_AWARE);
    ag_master_fwinfo_release(&fi);

    ASSERT_EQ(fwinfo("{\"user\":\"u\",\"name\":\"n\",\"roles\":[\"a\",\"b\"],\"capabilities\":"
                     "[{\"type\":\"MULTI_ROLE\"}]}",
                     "[\"b\"]", &fi, err, sizeof(err)),
              0);
    ASSERT_EQ(fi.n_roles, 2);
    ASSERT_STREQ(fi.roles[1], "b");
    ag_master_fwinfo_release(&fi);

    /* MULTI_ROLE with no roles is allowed (no offers) */
    ASSERT_EQ(fwinfo("{\"user\":\"u\",\"name\":\"n\",\"capabilities\":[{\"type\":\"MULTI_ROLE\"}]}",
                     NULL, &fi, err, sizeof(err)),
              0);
    ASSERT_EQ(fi.n_roles, 0);
    ag_master_fwinfo_release(&fi);
}

TEST(framework_info_errors)
{
    struct ag_master_fwinfo fi;
    char err[512];
    ASSERT_EQ(
        fwinfo("{\"user\":\"u\",\"name\":\"n\",\"roles\":[\"a\"]}", NULL, &fi, err, sizeof(err)),
        -EINVAL);
    ASSERT_NOT_NULL(strstr(err, "MULTI_ROLE"));
    ASSERT_EQ(fwinfo("{\"user\":\"u\",\"name\":\"n\",\"role\":\"a\",\"roles\":[\"a\"],"
                     "\"capabilities\":[{\"type\":\"MULTI_ROLE\"}]}",
                     NULL, &fi, err, sizeof(err)),
              -EINVAL);
    ASSERT_NOT_NULL(strstr(err, "FrameworkInfo.role"));
    ASSERT_EQ(fwinfo("{\"user\":\"u\",\"name\":\"n\",\"roles\":[\"a\",\"a\"],"
                     "\"capabilities\":[{\"type\":\"MULTI_ROLE\"}]}",
                     NULL, &fi, err, sizeof(err)),
              -EINVAL);
    ASSERT_NOT_NULL(strstr(err, "duplicate"));
    ASSERT_EQ(
        fwinfo("{\"user\":\"u\",\"name\":\"n\",\"role\":\"a//b\"}", NULL, &fi, err, sizeof(err)),
        -EINVAL);
    ASSERT_NOT_NULL(strstr(err, "a//b"));
    ASSERT_EQ(
        fwinfo("{\"user\":\"u\",\"name\":\"n\",\"role\":\"a\"}", "[\"b\"]", &fi, err, sizeof(err)),
        -EINVAL);
    ASSERT_NOT_NULL(strstr(err, "suppressed role 'b'"));

    json_t *info = parse("{\"name\":\"n\"}");
    ASSERT_EQ(ag_master_check_framework_info_shape(info, err, sizeof(err)), -EINVAL);
    ASSERT_NOT_NULL(strstr(err, "user"));
    json_decref(info);
    info = parse("{\"user\":\"u\",\"name\":\"n\",\"failover_timeout\":\"soon\"}");
    ASSERT_EQ(ag_master_check_framework_info_shape(info, err, sizeof(err)), -EINVAL);
    ASSERT_NOT_NULL(strstr(err, "failover_timeout"));
    json_decref(info);
}

TEST(ids)
{
    char err[256];
    ASSERT_EQ(ag_master_validate_id("task id", "web-1.a_b", err, sizeof(err)), 0);
    ASSERT_EQ(ag_master_validate_id("task id", "", err, sizeof(err)), -EINVAL);
    ASSERT_EQ(ag_master_validate_id("task id", "..", err, sizeof(err)), -EINVAL);
    ASSERT_EQ(ag_master_validate_id("task id", "a/b", err, sizeof(err)), -EINVAL);
    ASSERT_NOT_NULL(strstr(err, "'/'"));
    ASSERT_EQ(ag_master_validate_id("task id", "a\tb", err, sizeof(err)), -EINVAL);
}

TEST(offers)
{
    char err[512];
    struct ag_master_offer_ref a = {"f", "s1", "web"}, b = {"f", "s1", "web"},
                               c = {"g", "s1", "web"}, d = {"f", "s2", "web"},
                               e = {"f", "s1", "db"};
    const char *ids2[] = {"o1", "o2"};
    const struct ag_master_offer_ref *ok[] = {&a, &b};
    ASSERT_EQ(ag_master_validate_offers("f", ids2, ok, 2, err, sizeof(err)), 0);
    ASSERT_EQ(ag_master_validate_offers("f", ids2, ok, 0, err, sizeof(err)), -EINVAL);
    const char *dup[] = {"o1", "o1"};
    ASSERT_EQ(ag_master_validate_offers("f", dup, ok, 2, err, sizeof(err)), -EINVAL);
    ASSERT_NOT_NULL(strstr(err, "more than once"));
    const struct ag_master_offer_ref *unknown[] = {&a, NULL};
    ASSERT_EQ(ag_master_validate_offers("f", ids2, unknown, 2, err, sizeof(err)), -EINVAL);
    ASSERT_NOT_NULL(strstr(err, "'o2' is no longer valid"));
    const struct ag_master_offer_ref *other[] = {&a, &c};
    ASSERT_EQ(ag_master_validate_offers("f", ids2, other, 2, err, sizeof(err)), -EINVAL);
    const struct ag_master_offer_ref *agents[] = {&a, &d};
    ASSERT_EQ(ag_master_validate_offers("f", ids2, agents, 2, err, sizeof(err)), -EINVAL);
    ASSERT_NOT_NULL(strstr(err, "different agents"));
    const struct ag_master_offer_ref *roles[] = {&a, &e};
    ASSERT_EQ(ag_master_validate_offers("f", ids2, roles, 2, err, sizeof(err)), -EINVAL);
    ASSERT_NOT_NULL(strstr(err, "different roles"));
}

/* --- TaskInfo --- */

static const char *existing_task;
static json_t *existing_executor;

static bool exists_cb(void *arg, const char *task_id)
{
    (void)arg;
    return existing_task && strcmp(task_id, existing_task) == 0;
}

static const json_t *executor_cb(void *arg, const char *executor_id)
{
    (void)arg;
    json_t *id = json_object_get(json_object_get(existing_executor, "executor_id"), "value");
    if (existing_executor && strcmp(json_string_value(id), executor_id) == 0)
        return existing_executor;
    return NULL;
}

/* Validates a task against an offer of cpus:2;mem:1024 for role "web". */
static int task_check(const char *text, struct ag_master_task_check *tc, char *err, size_t errlen)
{
    struct ag_resources avail;
    char e[256];
    ag_resources_init(&avail);
    if (ag_resources_parse("cpus:2;mem:1024;ports:[31000-31010]", NULL, &avail, e, sizeof(e)) < 0)
        fprintf(stderr, "resources: %s\n", e);
    ag_resources_set_allocation_role(&avail, "web");
    struct ag_master_task_ctx ctx = {
        .framework_id = "F",
        .agent_id = "S1",
        .role = "web",
        .available = &avail,
        .task_exists = exists_cb,
        .find_executor = executor_cb,
    };
    json_t *task = parse(text);
    memset(tc, 0, sizeof(*tc));
    err[0] = '\0';
    int r = ag_master_validate_task(task, &ctx, tc, err, errlen);
    json_decref(task);
    ag_resources_release(&avail);
    return r;
}

#define RES_CPU1 "\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1}}]"

TEST(task_ok)
{
    struct ag_master_task_check tc;
    char err[512];
    existing_task = NULL;
    existing_executor = NULL;
    ASSERT_EQ(task_check("{\"name\":\"t\",\"task_id\":{\"value\":\"t1\"},\"agent_id\":{\"value\":"
                         "\"S1\"}," RES_CPU1 ",\"command\":{\"value\":\"true\"}}",
                         &tc, err, sizeof(err)),
              0);
    ASSERT_FALSE(tc.new_executor);
    ASSERT_NULL(tc.executor);
    ASSERT_NEAR(ag_resources_scalar(&tc.task_resources, "cpus"), 1.0, 1e-9);
    ASSERT_STREQ(tc.task_resources.items[0].allocation_role, "web");
    /* the normalised TaskInfo carries allocation_info */
    json_t *r0 = json_array_get(json_object_get(tc.task, "resources"), 0);
    ASSERT_STREQ(json_string_value(json_object_get(json_object_get(r0, "allocation_info"), "role")),
                 "web");
    ag_master_task_check_release(&tc);
}

TEST(task_errors)
{
    struct ag_master_task_check tc;
    char err[512];
    existing_task = "dup";
    existing_executor = NULL;
    ASSERT_EQ(task_check("{\"name\":\"t\",\"task_id\":{\"value\":\"dup\"},\"agent_id\":{\"value\":"
                         "\"S1\"}," RES_CPU1 ",\"command\":{}}",
                         &tc, err, sizeof(err)),
              -EINVAL);
    ASSERT_NOT_NULL(strstr(err, "'dup' is already in use"));
    ASSERT_EQ(task_check("{\"name\":\"t\",\"task_id\":{\"value\":\"t\"},\"agent_id\":{\"value\":"
                         "\"S2\"}," RES_CPU1 ",\"command\":{}}",
                         &tc, err, sizeof(err)),
              -EINVAL);
    ASSERT_NOT_NULL(strstr(err, "agent 'S2'"));
    ASSERT_EQ(task_check("{\"name\":\"t\",\"task_id\":{\"value\":\"t\"},\"agent_id\":{\"value\":"
                         "\"S1\"}," RES_CPU1 "}",
                         &tc, err, sizeof(err)),
              -EINVAL);
    ASSERT_NOT_NULL(strstr(err, "CommandInfo or ExecutorInfo"));
    ASSERT_EQ(task_check("{\"name\":\"t\",\"task_id\":{\"value\":\"t\"},\"agent_id\":{\"value\":"
                         "\"S1\"}," RES_CPU1 ",\"command\":{},\"executor\":{\"executor_id\":"
                         "{\"value\":\"e\"},\"command\":{}}}",
                         &tc, err, sizeof(err)),
              -EINVAL);
    ASSERT_NOT_NULL(strstr(err, "not both"));
    ASSERT_EQ(task_check("{\"name\":\"t\",\"task_id\":{\"value\":\"t\"},\"agent_id\":{\"value\":"
                         "\"S1\"},\"command\":{}}",
                         &tc, err, sizeof(err)),
              -EINVAL);
    ASSERT_NOT_NULL(strstr(err, "no resources"));
    ASSERT_EQ(task_check("{\"name\":\"t\",\"task_id\":{\"value\":\"t\"},\"agent_id\":{\"value\":"
                         "\"S1\"},\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\","
                         "\"scalar\":{\"value\":3}}],\"command\":{}}",
                         &tc, err, sizeof(err)),
              -EINVAL);
    ASSERT_NOT_NULL(strstr(err, "more resources"));
    ASSERT_EQ(task_check("{\"name\":\"t\",\"task_id\":{\"value\":\"t\"},\"agent_id\":{\"value\":"
                         "\"S1\"},\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\","
                         "\"scalar\":{\"value\":1},\"allocation_info\":{\"role\":\"db\"}}],"
                         "\"command\":{}}",
                         &tc, err, sizeof(err)),
              -EINVAL);
    ASSERT_NOT_NULL(strstr(err, "role 'db'"));
    ASSERT_EQ(task_check("{\"name\":\"t\",\"task_id\":{\"value\":\"t\"},\"agent_id\":{\"value\":"
                         "\"S1\"}," RES_CPU1 ",\"command\":{},\"kill_policy\":{\"grace_period\":"
                         "{\"nanoseconds\":-5}}}",
                         &tc, err, sizeof(err)),
              -EINVAL);
    ASSERT_NOT_NULL(strstr(err, "grace_period"));
    ASSERT_EQ(task_check("{\"name\":\"t\",\"task_id\":{\"value\":\"a/b\"},\"agent_id\":{\"value\":"
                         "\"S1\"}," RES_CPU1 ",\"command\":{}}",
                         &tc, err, sizeof(err)),
              -EINVAL);
    ASSERT_EQ(task_check("{\"name\":\"t\",\"task_id\":{\"value\":\"t\"},\"agent_id\":{\"value\":"
                         "\"S1\"},\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\","
                         "\"scalar\":{\"value\":-1}}],\"command\":{}}",
                         &tc, err, sizeof(err)),
              -EINVAL);
    ASSERT_NOT_NULL(strstr(err, "invalid task resources"));
}

#define EXEC_T(eid, extra)                                                                         \
    "{\"name\":\"t\",\"task_id\":{\"value\":\"t\"},\"agent_id\":{\"value\":\"S1\"}," RES_CPU1      \
    ",\"executor\":{\"executor_id\":{\"value\":\"" eid "\"}" extra "}}"

TEST(task_executors)
{
    struct ag_master_task_check tc;
    char err[512];
    existing_task = NULL;
    existing_executor = NULL;
    /* a new executor: its resources count, framework_id is filled in */
    ASSERT_EQ(task_check(EXEC_T("e1", ",\"command\":{\"value\":\"x\"},\"resources\":[{\"name\":"
                                      "\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":0.5}}]"),
                         &tc, err, sizeof(err)),
              0);
    ASSERT_TRUE(tc.new_executor);
    ASSERT_NEAR(ag_resources_scalar(&tc.executor_resources, "cpus"), 0.5, 1e-9);
    ASSERT_STREQ(
        json_string_value(json_object_get(json_object_get(tc.executor, "framework_id"), "value")),
        "F");
    existing_executor = json_incref(tc.executor);
    ag_master_task_check_release(&tc);

    /* the same executor again: not new, nothing extra charged */
    ASSERT_EQ(task_check(EXEC_T("e1", ",\"command\":{\"value\":\"x\"},\"resources\":[{\"name\":"
                                      "\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":0.5}}]"),
                         &tc, err, sizeof(err)),
              0);
    ASSERT_FALSE(tc.new_executor);
    ASSERT_TRUE(ag_resources_empty(&tc.executor_resources));
    ag_master_task_check_release(&tc);

    /* a different ExecutorInfo under the same id */
    ASSERT_EQ(task_check(EXEC_T("e1", ",\"command\":{\"value\":\"y\"}"), &tc, err, sizeof(err)),
              -EINVAL);
    ASSERT_NOT_NULL(strstr(err, "differs"));
    json_decref(existing_executor);
    existing_executor = NULL;

    ASSERT_EQ(task_check(EXEC_T("e2", ""), &tc, err, sizeof(err)), -EINVAL);
    ASSERT_NOT_NULL(strstr(err, "no 'command'"));
    ASSERT_EQ(task_check(EXEC_T("e2", ",\"type\":\"DEFAULT\""), &tc, err, sizeof(err)), -EINVAL);
    ASSERT_NOT_NULL(strstr(err, "LAUNCH_GROUP"));
    ASSERT_EQ(task_check(EXEC_T("e2", ",\"command\":{},\"framework_id\":{\"value\":\"G\"}"), &tc,
                         err, sizeof(err)),
              -EINVAL);
    ASSERT_NOT_NULL(strstr(err, "framework 'G'"));
}

/* Validates a group against the same offer as task_check. */
static int group_check(const char *exec_text, const char *tasks_text,
                       struct ag_master_group_check *gc, char *err, size_t errlen)
{
    struct ag_resources avail;
    char e[256];
    ag_resources_init(&avail);
    if (ag_resources_parse("cpus:2;mem:1024", NULL, &avail, e, sizeof(e)) < 0)
        fprintf(stderr, "resources: %s\n", e);
    ag_resources_set_allocation_role(&avail, "web");
    struct ag_master_task_ctx ctx = {
        .framework_id = "F",
        .agent_id = "S1",
        .role = "web",
        .available = &avail,
        .task_exists = exists_cb,
        .find_executor = executor_cb,
    };
    json_t *exec = exec_text ? parse(exec_text) : NULL;
    json_t *tasks = parse(tasks_text);
    memset(gc, 0, sizeof(*gc));
    err[0] = '\0';
    int r = ag_master_validate_group(exec, tasks, &ctx, gc, err, errlen);
    json_decref(exec);
    json_decref(tasks);
    ag_resources_release(&avail);
    return r;
}

#define G_EXEC                                                                                     \
    "{\"executor_id\":{\"value\":\"ge\"},\"type\":\"DEFAULT\",\"resources\":[{\"name\":\"cpus\","  \
    "\"type\":\"SCALAR\",\"scalar\":{\"value\":0.5}}]}"
#define G_TASK(id, cpus)                                                                           \
    "{\"name\":\"t\",\"task_id\":{\"value\":\"" id "\"},\"agent_id\":{\"value\":\"S1\"},"          \
    "\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":" cpus "}}],"     \
    "\"command\":{\"value\":\"true\"}}"

TEST(group_ok)
{
    struct ag_master_group_check gc;
    char err[512];
    existing_task = NULL;
    existing_executor = NULL;
    ASSERT_EQ(
        group_check(G_EXEC, "[" G_TASK("a", "0.5") "," G_TASK("b", "1") "]", &gc, err, sizeof(err)),
        0);
    ASSERT_EQ(gc.n, 2);
    ASSERT_TRUE(gc.exec.new_executor);
    ASSERT_NEAR(ag_resources_scalar(&gc.exec.executor_resources, "cpus"), 0.5, 1e-9);
    ASSERT_NEAR(ag_resources_scalar(&gc.tasks[1].task_resources, "cpus"), 1.0, 1e-9);
    ASSERT_STREQ(json_string_value(
                     json_object_get(json_object_get(gc.exec.executor, "framework_id"), "value")),
                 "F");
    /* the same executor running already: not charged again */
    existing_executor = json_incref(gc.exec.executor);
    ag_master_group_check_release(&gc);
    ASSERT_EQ(group_check(G_EXEC, "[" G_TASK("c", "2") "]", &gc, err, sizeof(err)), 0);
    ASSERT_FALSE(gc.exec.new_executor);
    ag_master_group_check_release(&gc);
    json_decref(existing_executor);
    existing_executor = NULL;
}

TEST(group_errors)
{
    struct ag_master_group_check gc;
    char err[512];
    existing_task = NULL;
    existing_executor = NULL;
    ASSERT_EQ(group_check(NULL, "[" G_TASK("a", "1") "]", &gc, err, sizeof(err)), -EINVAL);
    ASSERT_NOT_NULL(strstr(err, "needs an 'executor'"));
    ASSERT_EQ(group_check(G_EXEC, "[]", &gc, err, sizeof(err)), -EINVAL);
    ASSERT_NOT_NULL(strstr(err, "no tasks"));
    ASSERT_EQ(group_check(G_EXEC, "[" G_TASK("a", "0.5") "," G_TASK("a", "0.5") "]", &gc, err,
                          sizeof(err)),
              -EINVAL);
    ASSERT_NOT_NULL(strstr(err, "'a' appears more than once"));
    ASSERT_EQ(group_check("{\"executor_id\":{\"value\":\"ge\"},\"command\":{\"value\":\"x\"}}",
                          "[" G_TASK("a", "1") "]", &gc, err, sizeof(err)),
              -EINVAL);
    ASSERT_NOT_NULL(strstr(err, "type DEFAULT"));
    ASSERT_EQ(group_check("{\"executor_id\":{\"value\":\"ge\"},\"type\":\"DEFAULT\","
                          "\"command\":{\"value\":\"x\"}}",
                          "[" G_TASK("a", "1") "]", &gc, err, sizeof(err)),
              -EINVAL);
    ASSERT_NOT_NULL(strstr(err, "must not have a 'command'"));
    /* each task fits but the sum (with the executor's 0.5) does not */
    ASSERT_EQ(
        group_check(G_EXEC, "[" G_TASK("a", "1") "," G_TASK("b", "1") "]", &gc, err, sizeof(err)),
        -EINVAL);
    ASSERT_NOT_NULL(strstr(err, "task group and its executor use more resources"));
    ASSERT_EQ(group_check(G_EXEC,
                          "[{\"name\":\"t\",\"task_id\":{\"value\":\"x\"},\"agent_id\":{\"value\":"
                          "\"S1\"}," RES_CPU1 ",\"command\":{},\"executor\":{\"executor_id\":{"
                          "\"value\":\"e\"},\"command\":{}}}]",
                          &gc, err, sizeof(err)),
              -EINVAL);
    ASSERT_NOT_NULL(strstr(err, "task 'x': a task of a task group must not have an 'executor'"));
    ASSERT_EQ(group_check(G_EXEC,
                          "[{\"name\":\"t\",\"task_id\":{\"value\":\"y\"},\"agent_id\":{\"value\":"
                          "\"S1\"}," RES_CPU1 "}]",
                          &gc, err, sizeof(err)),
              -EINVAL);
    ASSERT_NOT_NULL(strstr(err, "task 'y': a task of a task group needs a 'command'"));
    existing_task = "dup";
    ASSERT_EQ(group_check(G_EXEC, "[" G_TASK("dup", "1") "]", &gc, err, sizeof(err)), -EINVAL);
    ASSERT_NOT_NULL(strstr(err, "task 'dup': task id 'dup' is already in use"));
    existing_task = NULL;
}

TEST(operation_types)
{
    ASSERT_EQ(ag_master_check_operation_type("LAUNCH"), 0);
    ASSERT_EQ(ag_master_check_operation_type("LAUNCH_GROUP"), 0);
    ASSERT_EQ(ag_master_check_operation_type("RESERVE"), 0);
    ASSERT_EQ(ag_master_check_operation_type("DESTROY_DISK"), 0);
    ASSERT_EQ(ag_master_check_operation_type("UNKNOWN"), -EINVAL);
    ASSERT_EQ(ag_master_check_operation_type("launch"), -EINVAL);
}

TEST(call_names)
{
    enum ag_master_call c;
    for (int i = 0; i < AG_CALL_COUNT; i++) {
        ASSERT_EQ(ag_master_call_parse(ag_master_call_name((enum ag_master_call)i), &c), 0);
        ASSERT_EQ(c, i);
    }
    ASSERT_EQ(ag_master_call_parse("subscribe", &c), -EINVAL);
}

TEST_MAIN(TEST_CASE(accepts_json), TEST_CASE(content_type), TEST_CASE(call_envelope),
          TEST_CASE(call_acknowledge_uuid), TEST_CASE(call_subscribe),
          TEST_CASE(call_accept_shapes), TEST_CASE(call_update_framework_id),
          TEST_CASE(framework_info), TEST_CASE(framework_info_errors), TEST_CASE(ids),
          TEST_CASE(offers), TEST_CASE(task_ok), TEST_CASE(task_errors), TEST_CASE(task_executors),
          TEST_CASE(group_ok), TEST_CASE(group_errors), TEST_CASE(operation_types),
          TEST_CASE(call_names))
