/*
 * Unit tests for the scheduler SDK's pure parts: master URL and redirect
 * Location parsing, the LAUNCH builder, and event decoding/dispatch from a
 * canned RecordIO byte stream (calls captured through the call hook).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agora/scheduler.h"
#include "core/loop.h"
#include "core/recordio.h"
#include "test.h"

/* --- addresses --- */

static void expect_url(const char *in, const char *want)
{
    char *base = NULL;
    int r = ag_scheduler_master_url(in, &base);
    if (r != 0)
        AG_TEST_FAIL("ag_scheduler_master_url(\"%s\") = %d", in, r);
    if (strcmp(base, want) != 0)
        AG_TEST_FAIL("ag_scheduler_master_url(\"%s\") = \"%s\", want \"%s\"", in, base, want);
    free(base);
}

TEST(master_url_forms)
{
    expect_url("127.0.0.1:5050", "http://127.0.0.1:5050");
    expect_url("http://127.0.0.1:5050", "http://127.0.0.1:5050");
    expect_url("http://127.0.0.1:5050/", "http://127.0.0.1:5050");
    expect_url("//10.1.2.3:6060/api/v1/scheduler", "http://10.1.2.3:6060");
    expect_url("localhost", "http://localhost:5050");
    expect_url("[::1]:5051", "http://[::1]:5051");
}

TEST(master_url_rejects)
{
    const char *bad[] = {"",           ":5050",    "host:",       "host:0",
                         "host:70000", "host:50x", "https://h:1", "zk://h:2181/mesos",
                         "ho st:1",    "[::1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *base = NULL;
        int r = ag_scheduler_master_url(bad[i], &base);
        if (r != -EINVAL)
            AG_TEST_FAIL("\"%s\" accepted as \"%s\"", bad[i], base ? base : "?");
    }
    char *base = NULL;
    ASSERT_EQ(ag_scheduler_master_url(NULL, &base), -EINVAL);
}

TEST(location_parsing)
{
    char *base = NULL;
    ASSERT_EQ(ag_scheduler_parse_location("//leader.example:5050/api/v1/scheduler", &base), 0);
    ASSERT_STREQ(base, "http://leader.example:5050");
    free(base);
    ASSERT_EQ(ag_scheduler_parse_location("//127.0.0.1:5052", &base), 0);
    ASSERT_STREQ(base, "http://127.0.0.1:5052");
    free(base);
    ASSERT_EQ(ag_scheduler_parse_location("http://10.0.0.2:5050/master/redirect", &base), 0);
    ASSERT_STREQ(base, "http://10.0.0.2:5050");
    free(base);
    base = NULL;
    ASSERT_EQ(ag_scheduler_parse_location("/api/v1/scheduler", &base), -EINVAL);
    ASSERT_EQ(ag_scheduler_parse_location("", &base), -EINVAL);
    ASSERT_EQ(ag_scheduler_parse_location(NULL, &base), -EINVAL);
    ASSERT_EQ(ag_scheduler_parse_location("//:5050/x", &base), -EINVAL);
    ASSERT_NULL(base);
}

/* --- LAUNCH builder --- */

static json_t *sample_offer(void)
{
    const char *text =
        "{\"id\":{\"value\":\"O1\"},\"framework_id\":{\"value\":\"F1\"},"
        "\"agent_id\":{\"value\":\"S1\"},\"hostname\":\"h\","
        "\"allocation_info\":{\"role\":\"batch\"},\"resources\":["
        "{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1.0},"
        "\"role\":\"*\",\"allocation_info\":{\"role\":\"batch\"}},"
        "{\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":{\"value\":128},"
        "\"role\":\"*\",\"allocation_info\":{\"role\":\"batch\"}},"
        "{\"name\":\"ports\",\"type\":\"RANGES\",\"ranges\":{\"range\":[{\"begin\":31000,"
        "\"end\":32000}]},\"role\":\"*\",\"allocation_info\":{\"role\":\"batch\"}}]}";
    json_error_t e;
    json_t *offer = json_loads(text, 0, &e);
    if (!offer)
        AG_TEST_FAIL("bad sample offer: %s", e.text);
    return offer;
}

TEST(offer_scalar_sums)
{
    json_t *offer = sample_offer();
    ASSERT_NEAR(ag_scheduler_offer_scalar(offer, "cpus"), 1.0, 1e-9);
    ASSERT_NEAR(ag_scheduler_offer_scalar(offer, "mem"), 128.0, 1e-9);
    ASSERT_NEAR(ag_scheduler_offer_scalar(offer, "disk"), 0.0, 1e-9);
    json_decref(offer);
}

TEST(build_launch_shell_and_argv)
{
    json_t *offer = sample_offer();
    const char *argv[] = {"/bin/echo", "a b", NULL};
    const char *env[] = {"K=V", "EMPTY=", NULL};
    struct ag_sched_task tasks[2] = {
        {.task_id = "t1", .command = "echo hi", .cpus = 0.5, .mem = 64, .env = env},
        {.task_id = "t2", .name = "second", .argv = argv, .cpus = 0.5, .mem = 64},
    };
    int code = 0;
    char err[256];
    json_t *op = ag_scheduler_build_launch(offer, tasks, 2, &code, err, sizeof(err));
    ASSERT_NOT_NULL(op);
    ASSERT_STREQ(json_string_value(json_object_get(op, "type")), "LAUNCH");
    json_t *infos = json_object_get(json_object_get(op, "launch"), "task_infos");
    ASSERT_EQ(json_array_size(infos), 2);

    json_t *t1 = json_array_get(infos, 0);
    ASSERT_STREQ(json_string_value(json_object_get(t1, "name")), "t1");
    ASSERT_STREQ(json_string_value(json_object_get(json_object_get(t1, "agent_id"), "value")),
                 "S1");
    json_t *cmd1 = json_object_get(t1, "command");
    ASSERT_TRUE(json_is_true(json_object_get(cmd1, "shell")));
    ASSERT_STREQ(json_string_value(json_object_get(cmd1, "value")), "echo hi");
    json_t *vars = json_object_get(json_object_get(cmd1, "environment"), "variables");
    ASSERT_EQ(json_array_size(vars), 2);
    ASSERT_STREQ(json_string_value(json_object_get(json_array_get(vars, 0), "name")), "K");
    ASSERT_STREQ(json_string_value(json_object_get(json_array_get(vars, 0), "value")), "V");
    ASSERT_STREQ(json_string_value(json_object_get(json_array_get(vars, 1), "value")), "");
    json_t *res = json_object_get(t1, "resources");
    ASSERT_EQ(json_array_size(res), 2);
    json_t *cpus = json_array_get(res, 0);
    ASSERT_STREQ(json_string_value(json_object_get(cpus, "name")), "cpus");
    ASSERT_NEAR(json_number_value(json_object_get(json_object_get(cpus, "scalar"), "value")), 0.5,
                1e-9);
    /* The offer's role and allocation_info are carried into the task. */
    ASSERT_STREQ(
        json_string_value(json_object_get(json_object_get(cpus, "allocation_info"), "role")),
        "batch");
    ASSERT_STREQ(json_string_value(json_object_get(cpus, "role")), "*");

    json_t *t2 = json_array_get(infos, 1);
    ASSERT_STREQ(json_string_value(json_object_get(t2, "name")), "second");
    json_t *cmd2 = json_object_get(t2, "command");
    ASSERT_TRUE(json_is_false(json_object_get(cmd2, "shell")));
    ASSERT_STREQ(json_string_value(json_object_get(cmd2, "value")), "/bin/echo");
    ASSERT_EQ(json_array_size(json_object_get(cmd2, "arguments")), 2);
    ASSERT_STREQ(json_string_value(json_array_get(json_object_get(cmd2, "arguments"), 1)), "a b");
    json_decref(op);
    json_decref(offer);
}

TEST(build_launch_does_not_overcommit)
{
    json_t *offer = sample_offer();
    struct ag_sched_task tasks[3] = {
        {.task_id = "a", .command = "true", .cpus = 0.4, .mem = 32},
        {.task_id = "b", .command = "true", .cpus = 0.4, .mem = 32},
        {.task_id = "c", .command = "true", .cpus = 0.4, .mem = 32},
    };
    int code = 0;
    char err[256] = "";
    ASSERT_NULL(ag_scheduler_build_launch(offer, tasks, 3, &code, err, sizeof(err)));
    ASSERT_EQ(code, -ENOSPC);
    ASSERT_TRUE(strstr(err, "'c'") != NULL);
    ASSERT_TRUE(strstr(err, "cpus") != NULL);
    /* Exactly the offer fits. */
    tasks[0].cpus = 0.6;
    json_t *op = ag_scheduler_build_launch(offer, tasks, 2, &code, err, sizeof(err));
    ASSERT_NOT_NULL(op);
    json_decref(op);
    json_decref(offer);
}

TEST(build_launch_rejects_bad_tasks)
{
    json_t *offer = sample_offer();
    const char *argv[] = {"x", NULL};
    const char *env[] = {"NOEQUALS", NULL};
    struct ag_sched_task bad[] = {
        {.command = "true", .cpus = 0.1},                               /* no id */
        {.task_id = "x", .cpus = 0.1},                                  /* no command */
        {.task_id = "x", .command = "true", .argv = argv, .cpus = 0.1}, /* both */
        {.task_id = "x", .command = "true"},                            /* no resources */
        {.task_id = "x", .command = "true", .cpus = -1},                /* negative */
        {.task_id = "x", .command = "true", .cpus = 0.1, .env = env},   /* bad env */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int code = 0;
        char err[256] = "";
        json_t *op = ag_scheduler_build_launch(offer, &bad[i], 1, &code, err, sizeof(err));
        if (op || code != -EINVAL || !err[0])
            AG_TEST_FAIL("bad task %zu: op=%p code=%d err=\"%s\"", i, (void *)op, code, err);
    }
    struct ag_sched_task dup[2] = {
        {.task_id = "same", .command = "true", .cpus = 0.1},
        {.task_id = "same", .command = "true", .cpus = 0.1},
    };
    int code = 0;
    char err[256] = "";
    ASSERT_NULL(ag_scheduler_build_launch(offer, dup, 2, &code, err, sizeof(err)));
    ASSERT_EQ(code, -EINVAL);
    json_t *no_agent = json_pack("{s:{s:s}}", "id", "value", "O");
    ASSERT_NULL(ag_scheduler_build_launch(no_agent, dup, 1, &code, err, sizeof(err)));
    ASSERT_EQ(code, -EINVAL);
    json_decref(no_agent);
    json_decref(offer);
}

/* --- event dispatch from a canned stream --- */

struct seen {
    int subscribed, offers, rescind, update, message, failure, error, heartbeat, other;
    char framework_id[64];
    char rescinded[64];
    char last_state[32];
    char message_data[64];
    int failure_status;
    char error_message[128];
    json_t *calls; /* array of Call objects sent */
    bool free_in_update;
};

static void cb_subscribed(struct ag_scheduler *s, const char *fid, const json_t *sub, void *arg)
{
    struct seen *seen = arg;
    (void)s;
    (void)sub;
    seen->subscribed++;
    snprintf(seen->framework_id, sizeof(seen->framework_id), "%s", fid);
}

static void cb_offers(struct ag_scheduler *s, const json_t *offers, void *arg)
{
    struct seen *seen = arg;
    seen->offers += (int)json_array_size(offers);
    ag_scheduler_decline_offer(s, json_array_get(offers, 0), 7);
}

static void cb_rescind(struct ag_scheduler *s, const char *id, void *arg)
{
    struct seen *seen = arg;
    (void)s;
    seen->rescind++;
    snprintf(seen->rescinded, sizeof(seen->rescinded), "%s", id);
}

static void cb_update(struct ag_scheduler *s, const json_t *status, void *arg)
{
    struct seen *seen = arg;
    seen->update++;
    snprintf(seen->last_state, sizeof(seen->last_state), "%s",
             json_string_value(json_object_get(status, "state")));
    if (seen->free_in_update)
        ag_scheduler_free(s);
}

static void cb_message(struct ag_scheduler *s, const char *agent, const char *exec,
                       const uint8_t *data, size_t len, void *arg)
{
    struct seen *seen = arg;
    (void)s;
    (void)agent;
    (void)exec;
    seen->message++;
    snprintf(seen->message_data, sizeof(seen->message_data), "%.*s", (int)len, (const char *)data);
}

static void cb_failure(struct ag_scheduler *s, const char *agent, const char *exec, int status,
                       void *arg)
{
    struct seen *seen = arg;
    (void)s;
    (void)agent;
    (void)exec;
    seen->failure++;
    seen->failure_status = status;
}

static void cb_error(struct ag_scheduler *s, const char *message, void *arg)
{
    struct seen *seen = arg;
    (void)s;
    seen->error++;
    snprintf(seen->error_message, sizeof(seen->error_message), "%s", message);
}

static void cb_heartbeat(struct ag_scheduler *s, void *arg)
{
    struct seen *seen = arg;
    (void)s;
    seen->heartbeat++;
}

static void cb_other(struct ag_scheduler *s, const json_t *event, void *arg)
{
    struct seen *seen = arg;
    (void)s;
    (void)event;
    seen->other++;
}

static int hook(struct ag_scheduler *s, const json_t *call, void *arg)
{
    struct seen *seen = arg;
    (void)s;
    json_array_append_new(seen->calls, json_deep_copy(call));
    return 202;
}

static const struct ag_scheduler_callbacks all_callbacks = {
    .subscribed = cb_subscribed,
    .offers = cb_offers,
    .rescind = cb_rescind,
    .update = cb_update,
    .message = cb_message,
    .failure = cb_failure,
    .error = cb_error,
    .heartbeat = cb_heartbeat,
    .other = cb_other,
};

/* Appends one RecordIO record to buf. */
static void add_record(char **buf, size_t *len, const char *json)
{
    size_t rlen = 0;
    char *rec = ag_recordio_encode(json, strlen(json), &rlen);
    *buf = realloc(*buf, *len + rlen + 1);
    memcpy(*buf + *len, rec, rlen);
    *len += rlen;
    (*buf)[*len] = '\0';
    free(rec);
}

static const char *const canned_events[] = {
    "{\"type\":\"SUBSCRIBED\",\"subscribed\":{\"framework_id\":{\"value\":\"M-0001\"},"
    "\"heartbeat_interval_seconds\":15}}",
    "{\"type\":\"HEARTBEAT\"}",
    "{\"type\":\"OFFERS\",\"offers\":{\"offers\":[{\"id\":{\"value\":\"M-O1\"},"
    "\"framework_id\":{\"value\":\"M-0001\"},\"agent_id\":{\"value\":\"M-S0\"},"
    "\"hostname\":\"h\",\"resources\":[]}]}}",
    "{\"type\":\"RESCIND\",\"rescind\":{\"offer_id\":{\"value\":\"M-O1\"}}}",
    "{\"type\":\"UPDATE\",\"update\":{\"status\":{\"task_id\":{\"value\":\"t1\"},"
    "\"state\":\"TASK_RUNNING\",\"agent_id\":{\"value\":\"M-S0\"},"
    "\"uuid\":\"p0Vd5qzCQj+3sN8m1tXc1w==\"}}}",
    "{\"type\":\"UPDATE\",\"update\":{\"status\":{\"task_id\":{\"value\":\"t2\"},"
    "\"state\":\"TASK_LOST\",\"agent_id\":{\"value\":\"M-S0\"},"
    "\"source\":\"SOURCE_MASTER\"}}}",
    "{\"type\":\"MESSAGE\",\"message\":{\"agent_id\":{\"value\":\"M-S0\"},"
    "\"executor_id\":{\"value\":\"e\"},\"data\":\"aGVsbG8=\"}}",
    "{\"type\":\"FAILURE\",\"failure\":{\"agent_id\":{\"value\":\"M-S0\"},"
    "\"executor_id\":{\"value\":\"e\"},\"status\":256}}",
    "{\"type\":\"UPDATE_OPERATION_STATUS\",\"update_operation_status\":{}}",
};

static char *canned_stream(size_t *ret_len)
{
    char *buf = NULL;
    size_t len = 0;
    for (size_t i = 0; i < sizeof(canned_events) / sizeof(canned_events[0]); i++)
        add_record(&buf, &len, canned_events[i]);
    *ret_len = len;
    return buf;
}

static struct ag_scheduler *new_sched(struct ag_loop *loop, struct seen *seen)
{
    memset(seen, 0, sizeof(*seen));
    seen->calls = json_array();
    json_t *fw = json_pack("{s:s,s:s}", "name", "test", "user", "nobody");
    struct ag_scheduler *s = ag_scheduler_new(loop, "127.0.0.1:1", fw, &all_callbacks, seen);
    json_decref(fw);
    if (!s)
        AG_TEST_FAIL("ag_scheduler_new failed");
    ag_scheduler_set_call_hook(s, hook, seen);
    return s;
}

static json_t *find_call(struct seen *seen, const char *type)
{
    size_t i;
    json_t *call;
    json_array_foreach(seen->calls, i, call)
    {
        if (strcmp(json_string_value(json_object_get(call, "type")), type) == 0)
            return call;
    }
    return NULL;
}

static void check_canned(struct ag_scheduler *s, struct seen *seen)
{
    ASSERT_EQ(seen->subscribed, 1);
    ASSERT_STREQ(seen->framework_id, "M-0001");
    ASSERT_STREQ(ag_scheduler_framework_id(s), "M-0001");
    ASSERT_TRUE(ag_scheduler_subscribed(s));
    ASSERT_EQ(seen->heartbeat, 1);
    ASSERT_EQ(seen->offers, 1);
    ASSERT_EQ(seen->rescind, 1);
    ASSERT_STREQ(seen->rescinded, "M-O1");
    ASSERT_EQ(seen->update, 2);
    ASSERT_STREQ(seen->last_state, "TASK_LOST");
    ASSERT_EQ(seen->message, 1);
    ASSERT_STREQ(seen->message_data, "hello");
    ASSERT_EQ(seen->failure, 1);
    ASSERT_EQ(seen->failure_status, 256);
    ASSERT_EQ(seen->other, 1);
    ASSERT_EQ(seen->error, 0);

    /* The decline from the offers callback, and one automatic ACK: the
     * update without uuid (master-generated) is not acknowledged. */
    ASSERT_EQ(json_array_size(seen->calls), 2);
    json_t *decline = find_call(seen, "DECLINE");
    ASSERT_NOT_NULL(decline);
    ASSERT_STREQ(
        json_string_value(json_object_get(json_object_get(decline, "framework_id"), "value")),
        "M-0001");
    json_t *d = json_object_get(decline, "decline");
    ASSERT_NEAR(json_number_value(json_object_get(json_object_get(d, "filters"), "refuse_seconds")),
                7.0, 1e-9);
    json_t *ack = find_call(seen, "ACKNOWLEDGE");
    ASSERT_NOT_NULL(ack);
    json_t *a = json_object_get(ack, "acknowledge");
    ASSERT_STREQ(json_string_value(json_object_get(a, "uuid")), "p0Vd5qzCQj+3sN8m1tXc1w==");
    ASSERT_STREQ(json_string_value(json_object_get(json_object_get(a, "task_id"), "value")), "t1");
    ASSERT_STREQ(json_string_value(json_object_get(json_object_get(a, "agent_id"), "value")),
                 "M-S0");
}

TEST(dispatch_whole_stream)
{
    struct ag_loop *loop = ag_loop_new();
    struct seen seen;
    struct ag_scheduler *s = new_sched(loop, &seen);
    size_t len;
    char *stream = canned_stream(&len);
    ASSERT_EQ(ag_scheduler_feed(s, stream, len), 0);
    check_canned(s, &seen);
    free(stream);
    ag_scheduler_free(s);
    json_decref(seen.calls);
    ag_loop_free(loop);
}

TEST(dispatch_byte_by_byte)
{
    /* Chunk boundaries are not record boundaries: feed one byte at a time
     * and in odd-sized pieces, expecting the same events. */
    static const size_t steps[] = {1, 3, 7, 64};
    for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
        struct ag_loop *loop = ag_loop_new();
        struct seen seen;
        struct ag_scheduler *s = new_sched(loop, &seen);
        size_t len;
        char *stream = canned_stream(&len);
        for (size_t off = 0; off < len; off += steps[k]) {
            size_t n = len - off < steps[k] ? len - off : steps[k];
            ASSERT_EQ(ag_scheduler_feed(s, stream + off, n), 0);
        }
        check_canned(s, &seen);
        free(stream);
        ag_scheduler_free(s);
        json_decref(seen.calls);
        ag_loop_free(loop);
    }
}

TEST(auto_ack_off)
{
    struct ag_loop *loop = ag_loop_new();
    struct seen seen;
    struct ag_scheduler *s = new_sched(loop, &seen);
    ag_scheduler_set_auto_ack(s, false);
    size_t len;
    char *stream = canned_stream(&len);
    ASSERT_EQ(ag_scheduler_feed(s, stream, len), 0);
    ASSERT_EQ(seen.update, 2);
    ASSERT_NULL(find_call(&seen, "ACKNOWLEDGE"));
    free(stream);
    ag_scheduler_free(s);
    json_decref(seen.calls);
    ag_loop_free(loop);
}

TEST(error_event_is_final)
{
    struct ag_loop *loop = ag_loop_new();
    struct seen seen;
    struct ag_scheduler *s = new_sched(loop, &seen);
    char *buf = NULL;
    size_t len = 0;
    add_record(&buf, &len, canned_events[0]);
    add_record(&buf, &len,
               "{\"type\":\"ERROR\",\"error\":{\"message\":\"Framework has been removed\"}}");
    add_record(&buf, &len, "{\"type\":\"HEARTBEAT\"}");
    ASSERT_EQ(ag_scheduler_feed(s, buf, len), 0);
    ASSERT_EQ(seen.error, 1);
    ASSERT_STREQ(seen.error_message, "Framework has been removed");
    /* Nothing after the ERROR is dispatched, and we are no longer subscribed. */
    ASSERT_EQ(seen.heartbeat, 0);
    ASSERT_FALSE(ag_scheduler_subscribed(s));
    free(buf);
    ag_scheduler_free(s);
    json_decref(seen.calls);
    ag_loop_free(loop);
}

TEST(malformed_stream)
{
    struct ag_loop *loop = ag_loop_new();
    struct seen seen;
    struct ag_scheduler *s = new_sched(loop, &seen);
    ASSERT_TRUE(ag_scheduler_feed(s, "abc\n{}", 6) < 0);
    ASSERT_EQ(ag_scheduler_feed(s, "4\n{not", 6), -EBADMSG);
    ASSERT_EQ(seen.subscribed + seen.other + seen.error, 0);
    /* A fed stream recovers: the next good record still works. */
    char *buf = NULL;
    size_t len = 0;
    add_record(&buf, &len, canned_events[0]);
    ASSERT_EQ(ag_scheduler_feed(s, buf, len), 0);
    ASSERT_EQ(seen.subscribed, 1);
    free(buf);
    ag_scheduler_free(s);
    json_decref(seen.calls);
    ag_loop_free(loop);
}

TEST(free_inside_callback)
{
    struct ag_loop *loop = ag_loop_new();
    struct seen seen;
    struct ag_scheduler *s = new_sched(loop, &seen);
    seen.free_in_update = true;
    size_t len;
    char *stream = canned_stream(&len);
    /* The first UPDATE frees the scheduler: decoding stops there, no ACK is
     * sent, and nothing touches freed memory (ASan would say). */
    ASSERT_EQ(ag_scheduler_feed(s, stream, len), 0);
    ASSERT_EQ(seen.update, 1);
    ASSERT_EQ(seen.message, 0);
    ASSERT_NULL(find_call(&seen, "ACKNOWLEDGE"));
    free(stream);
    json_decref(seen.calls);
    ag_loop_free(loop);
}

TEST(calls_need_subscription)
{
    struct ag_loop *loop = ag_loop_new();
    struct seen seen;
    struct ag_scheduler *s = new_sched(loop, &seen);
    ASSERT_EQ(ag_scheduler_kill(s, "t", NULL), -ENOTCONN);
    ASSERT_EQ(ag_scheduler_reconcile(s, NULL, 0), -ENOTCONN);
    ASSERT_NULL(ag_scheduler_framework_id(s));
    ASSERT_EQ(json_array_size(seen.calls), 0);
    ag_scheduler_free(s);
    json_decref(seen.calls);
    ag_loop_free(loop);
}

TEST(call_shapes)
{
    struct ag_loop *loop = ag_loop_new();
    struct seen seen;
    struct ag_scheduler *s = new_sched(loop, &seen);
    char *buf = NULL;
    size_t len = 0;
    add_record(&buf, &len, canned_events[0]);
    ASSERT_EQ(ag_scheduler_feed(s, buf, len), 0);
    free(buf);

    struct ag_sched_task_ref refs[] = {{"t1", "S1"}, {"t2", NULL}};
    ASSERT_EQ(ag_scheduler_reconcile(s, refs, 2), 0);
    ASSERT_EQ(ag_scheduler_reconcile(s, NULL, 0), 0);
    const char *roles[] = {"batch"};
    ASSERT_EQ(ag_scheduler_revive(s, roles, 1), 0);
    ASSERT_EQ(ag_scheduler_suppress(s, NULL, 0), 0);
    ASSERT_EQ(ag_scheduler_kill(s, "t1", "S1"), 0);
    ASSERT_EQ(ag_scheduler_shutdown(s, "e1", "S1"), 0);
    ASSERT_EQ(ag_scheduler_message(s, "S1", "e1", "hi", 2), 0);
    json_t *offer = sample_offer();
    struct ag_sched_task t = {.task_id = "t9", .command = "true", .cpus = 0.1, .mem = 8};
    ASSERT_EQ(ag_scheduler_launch(s, offer, &t, 1, 3), 0);
    t.cpus = 2;
    ASSERT_EQ(ag_scheduler_launch(s, offer, &t, 1, 3), -ENOSPC);
    json_decref(offer);
    ASSERT_EQ(ag_scheduler_teardown(s, NULL, NULL), 0);

    ASSERT_EQ(json_array_size(seen.calls), 9);
    json_t *c = json_array_get(seen.calls, 0);
    json_t *tasks = json_object_get(json_object_get(c, "reconcile"), "tasks");
    ASSERT_EQ(json_array_size(tasks), 2);
    ASSERT_NULL(json_object_get(json_array_get(tasks, 1), "agent_id"));
    c = json_array_get(seen.calls, 1);
    ASSERT_EQ(json_array_size(json_object_get(json_object_get(c, "reconcile"), "tasks")), 0);
    c = json_array_get(seen.calls, 2);
    ASSERT_STREQ(json_string_value(
                     json_array_get(json_object_get(json_object_get(c, "revive"), "roles"), 0)),
                 "batch");
    c = json_array_get(seen.calls, 3);
    ASSERT_STREQ(json_string_value(json_object_get(c, "type")), "SUPPRESS");
    ASSERT_NULL(json_object_get(c, "suppress"));
    c = json_array_get(seen.calls, 6);
    ASSERT_STREQ(json_string_value(json_object_get(json_object_get(c, "message"), "data")), "aGk=");
    c = json_array_get(seen.calls, 7);
    json_t *acc = json_object_get(c, "accept");
    ASSERT_STREQ(json_string_value(json_object_get(
                     json_array_get(json_object_get(acc, "offer_ids"), 0), "value")),
                 "O1");
    ASSERT_STREQ(json_string_value(json_object_get(
                     json_array_get(json_object_get(acc, "operations"), 0), "type")),
                 "LAUNCH");
    c = json_array_get(seen.calls, 8);
    ASSERT_STREQ(json_string_value(json_object_get(c, "type")), "TEARDOWN");
    ag_scheduler_free(s);
    json_decref(seen.calls);
    ag_loop_free(loop);
}

static void flushed(struct ag_scheduler *s, int code, const char *message, void *arg)
{
    (void)s;
    (void)message;
    int *count = arg;
    *count += 1 + code; /* code is 0 */
}

static void stop_loop_cb(void *arg)
{
    ag_loop_stop(arg);
}

TEST(flush_without_calls_runs_from_loop)
{
    struct ag_loop *loop = ag_loop_new();
    struct seen seen;
    struct ag_scheduler *s = new_sched(loop, &seen);
    int count = 0;
    ASSERT_EQ(ag_scheduler_flush(s, flushed, &count), 0);
    ASSERT_EQ(count, 0); /* never from inside the call */
    ASSERT_EQ(ag_scheduler_flush(s, NULL, NULL), -EINVAL);
    ASSERT_EQ(ag_scheduler_calls_in_flight(s), 0);
    struct ag_timer *t = ag_timer_new(loop, stop_loop_cb, loop);
    ag_timer_start(t, 0.2);
    ag_loop_run(loop);
    ASSERT_EQ(count, 1);
    ag_timer_free(t);
    ag_scheduler_free(s);
    json_decref(seen.calls);
    ag_loop_free(loop);
}

TEST(new_rejects_bad_input)
{
    struct ag_loop *loop = ag_loop_new();
    ASSERT_NULL(ag_scheduler_new(loop, "not a url:xx", NULL, NULL, NULL));
    json_t *arr = json_array();
    ASSERT_NULL(ag_scheduler_new(loop, "127.0.0.1:5050", arr, NULL, NULL));
    json_decref(arr);
    json_t *bad_id = json_pack("{s:i}", "id", 3);
    ASSERT_NULL(ag_scheduler_new(loop, "127.0.0.1:5050", bad_id, NULL, NULL));
    json_decref(bad_id);
    json_t *with_id = json_pack("{s:{s:s}}", "id", "value", "F-7");
    struct ag_scheduler *s = ag_scheduler_new(loop, "127.0.0.1:5050", with_id, NULL, NULL);
    ASSERT_NOT_NULL(s);
    ASSERT_STREQ(ag_scheduler_framework_id(s), "F-7");
    ASSERT_STREQ(ag_scheduler_master(s), "http://127.0.0.1:5050");
    json_decref(with_id);
    ag_scheduler_free(s);
    ag_loop_free(loop);
}

TEST_MAIN(TEST_CASE(master_url_forms), TEST_CASE(master_url_rejects), TEST_CASE(location_parsing),
          TEST_CASE(offer_scalar_sums), TEST_CASE(build_launch_shell_and_argv),
          TEST_CASE(build_launch_does_not_overcommit), TEST_CASE(build_launch_rejects_bad_tasks),
          TEST_CASE(dispatch_whole_stream), TEST_CASE(dispatch_byte_by_byte),
          TEST_CASE(auto_ack_off), TEST_CASE(error_event_is_final), TEST_CASE(malformed_stream),
          TEST_CASE(free_inside_callback), TEST_CASE(calls_need_subscription),
          TEST_CASE(call_shapes), TEST_CASE(flush_without_calls_runs_from_loop),
          TEST_CASE(new_rejects_bad_input))
