/* The executor SDK (lib/sched/executor.c), driven without a network: events
 * are fed as stream bytes and calls are captured by a hook. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agora/executor.h"
#include "core/loop.h"
#include "core/recordio.h"
#include "test.h"

struct seen {
    int subscribed, launched, killed, acked, shutdowns, errors, disconnects;
    bool final;
    double kill_grace_ns;
    char last_task[64], last_uuid[32], message[64], error[256];
    json_t *calls; /* every call the hook saw */
    int answer;    /* HTTP status the hook pretends */
};

static void on_subscribed(struct ag_executor *e, const json_t *sub, void *arg)
{
    struct seen *s = arg;
    (void)e;
    (void)sub;
    s->subscribed++;
}

static void on_launch(struct ag_executor *e, const json_t *task, void *arg)
{
    struct seen *s = arg;
    (void)e;
    s->launched++;
    snprintf(s->last_task, sizeof(s->last_task), "%s",
             json_string_value(json_object_get(json_object_get(task, "task_id"), "value")));
}

static void on_kill(struct ag_executor *e, const char *task_id, const json_t *policy, void *arg)
{
    struct seen *s = arg;
    (void)e;
    s->killed++;
    snprintf(s->last_task, sizeof(s->last_task), "%s", task_id);
    s->kill_grace_ns =
        json_number_value(json_object_get(json_object_get(policy, "grace_period"), "nanoseconds"));
}

static void on_acked(struct ag_executor *e, const char *task_id, const char *uuid, void *arg)
{
    struct seen *s = arg;
    (void)e;
    (void)task_id;
    s->acked++;
    snprintf(s->last_uuid, sizeof(s->last_uuid), "%s", uuid);
}

static void on_message(struct ag_executor *e, const uint8_t *data, size_t len, void *arg)
{
    struct seen *s = arg;
    (void)e;
    snprintf(s->message, sizeof(s->message), "%.*s", (int)len, (const char *)data);
}

static void on_shutdown(struct ag_executor *e, void *arg)
{
    struct seen *s = arg;
    (void)e;
    s->shutdowns++;
}

static void on_error(struct ag_executor *e, const char *msg, void *arg)
{
    struct seen *s = arg;
    (void)e;
    s->errors++;
    snprintf(s->error, sizeof(s->error), "%s", msg);
}

static void on_disconnected(struct ag_executor *e, const char *reason, bool final, void *arg)
{
    struct seen *s = arg;
    (void)e;
    (void)reason;
    s->disconnects++;
    s->final = final;
}

static int hook(struct ag_executor *e, const json_t *call, void *arg)
{
    struct seen *s = arg;
    (void)e;
    json_array_append_new(s->calls, json_deep_copy(call));
    return s->answer;
}

static const struct ag_executor_callbacks callbacks = {
    .subscribed = on_subscribed,
    .launch = on_launch,
    .kill = on_kill,
    .acknowledged = on_acked,
    .message = on_message,
    .shutdown = on_shutdown,
    .error = on_error,
    .disconnected = on_disconnected,
};

struct fixture {
    struct ag_loop *loop;
    struct ag_executor *e;
    struct seen seen;
};

static void setup(struct fixture *f)
{
    struct ag_executor_config cfg = {
        .agent_endpoint = "127.0.0.1:1",
        .framework_id = "F",
        .executor_id = "E",
    };
    memset(f, 0, sizeof(*f));
    f->loop = ag_loop_new();
    ASSERT_NOT_NULL(f->loop);
    f->seen.calls = json_array();
    f->seen.answer = 202;
    f->e = ag_executor_new(f->loop, &cfg, &callbacks, &f->seen);
    ASSERT_NOT_NULL(f->e);
    ag_executor_set_call_hook(f->e, hook, &f->seen);
}

static void teardown(struct fixture *f)
{
    ag_executor_free(f->e);
    ag_loop_free(f->loop);
    json_decref(f->seen.calls);
}

static void feed(struct fixture *f, const char *json)
{
    size_t len;
    char *rec = ag_recordio_encode(json, strlen(json), &len);
    ASSERT_NOT_NULL(rec);
    ASSERT_EQ(ag_executor_feed(f->e, rec, len), 0);
    free(rec);
}

static const char *call_type(const struct fixture *f, size_t i)
{
    return json_string_value(json_object_get(json_array_get(f->seen.calls, i), "type"));
}

static const json_t *call_status(const struct fixture *f, size_t i)
{
    return json_object_get(json_object_get(json_array_get(f->seen.calls, i), "update"), "status");
}

#define SUBSCRIBED                                                                                 \
    "{\"type\":\"SUBSCRIBED\",\"subscribed\":{\"executor_info\":{},\"framework_info\":{"           \
    "\"user\":\"u\",\"name\":\"n\",\"capabilities\":[{\"type\":\"TASK_KILLING_STATE\"}]},"         \
    "\"agent_info\":{\"hostname\":\"h\"},\"container_id\":{\"value\":\"C\"}}}"
#define LAUNCH_T1                                                                                  \
    "{\"type\":\"LAUNCH\",\"launch\":{\"task\":{\"name\":\"t1\",\"task_id\":{\"value\":\"t1\"},"   \
    "\"agent_id\":{\"value\":\"S\"},\"resources\":[]}}}"

TEST(new_refuses_incomplete_config)
{
    struct ag_loop *loop = ag_loop_new();
    struct ag_executor_config cfg = {.agent_endpoint = "h:1", .framework_id = "F"};
    ASSERT_NULL(ag_executor_new(loop, &cfg, &callbacks, NULL));
    ASSERT_NULL(ag_executor_new(loop, NULL, &callbacks, NULL));
    ag_loop_free(loop);
}

TEST(subscribed_records_the_payload)
{
    struct fixture f;
    setup(&f);
    ASSERT_FALSE(ag_executor_subscribed(f.e));
    ASSERT_NULL(ag_executor_framework_info(f.e));
    feed(&f, SUBSCRIBED);
    ASSERT_EQ(f.seen.subscribed, 1);
    ASSERT_TRUE(ag_executor_subscribed(f.e));
    ASSERT_STREQ(ag_executor_container_id(f.e), "C");
    ASSERT_STREQ(json_string_value(json_object_get(ag_executor_framework_info(f.e), "user")), "u");
    ASSERT_TRUE(ag_executor_framework_capable(f.e, "TASK_KILLING_STATE"));
    ASSERT_FALSE(ag_executor_framework_capable(f.e, "PARTITION_AWARE"));
    teardown(&f);
}

TEST(update_is_filled_sent_and_kept_until_acknowledged)
{
    struct fixture f;
    char uuid[25], ack[256];
    const json_t *st;
    json_t *sub;
    setup(&f);
    feed(&f, SUBSCRIBED);
    feed(&f, LAUNCH_T1);
    ASSERT_EQ(f.seen.launched, 1);
    ASSERT_STREQ(f.seen.last_task, "t1");
    ASSERT_EQ(ag_executor_update(f.e, "t1", "TASK_RUNNING", NULL, "up", uuid), 0);
    ASSERT_EQ(strlen(uuid), 24);
    ASSERT_EQ(json_array_size(f.seen.calls), 1);
    ASSERT_STREQ(call_type(&f, 0), "UPDATE");
    st = call_status(&f, 0);
    ASSERT_STREQ(json_string_value(json_object_get(st, "uuid")), uuid);
    ASSERT_STREQ(json_string_value(json_object_get(st, "source")), "SOURCE_EXECUTOR");
    ASSERT_STREQ(json_string_value(json_object_get(json_object_get(st, "executor_id"), "value")),
                 "E");
    ASSERT_STREQ(json_string_value(json_object_get(
                     json_object_get(json_array_get(f.seen.calls, 0), "framework_id"), "value")),
                 "F");
    ASSERT_EQ(ag_executor_unacknowledged(f.e), 1);
    ASSERT_FALSE(ag_executor_acknowledged(f.e, uuid));
    ASSERT_TRUE(ag_executor_idle(f.e));
    /* Not acknowledged yet: a reconnection would carry task and update. */
    sub = ag_executor_subscribe_call(f.e);
    ASSERT_EQ(json_array_size(
                  json_object_get(json_object_get(sub, "subscribe"), "unacknowledged_updates")),
              1);
    ASSERT_EQ(
        json_array_size(json_object_get(json_object_get(sub, "subscribe"), "unacknowledged_tasks")),
        1);
    json_decref(sub);
    snprintf(ack, sizeof(ack),
             "{\"type\":\"ACKNOWLEDGED\",\"acknowledged\":{\"task_id\":{\"value\":\"t1\"},"
             "\"uuid\":\"%s\"}}",
             uuid);
    feed(&f, ack);
    ASSERT_EQ(f.seen.acked, 1);
    ASSERT_STREQ(f.seen.last_uuid, uuid);
    ASSERT_EQ(ag_executor_unacknowledged(f.e), 0);
    ASSERT_TRUE(ag_executor_acknowledged(f.e, uuid));
    sub = ag_executor_subscribe_call(f.e);
    ASSERT_NULL(json_object_get(json_object_get(sub, "subscribe"), "unacknowledged_tasks"));
    ASSERT_NULL(json_object_get(json_object_get(sub, "subscribe"), "unacknowledged_updates"));
    json_decref(sub);
    teardown(&f);
}

TEST(updates_go_out_in_order)
{
    struct fixture f;
    setup(&f);
    feed(&f, SUBSCRIBED);
    ASSERT_EQ(ag_executor_update(f.e, "t1", "TASK_STARTING", NULL, NULL, NULL), 0);
    ASSERT_EQ(ag_executor_update(f.e, "t1", "TASK_RUNNING", NULL, NULL, NULL), 0);
    ASSERT_EQ(ag_executor_update(f.e, "t1", "TASK_FINISHED", NULL, NULL, NULL), 0);
    ASSERT_EQ(json_array_size(f.seen.calls), 3);
    ASSERT_STREQ(json_string_value(json_object_get(call_status(&f, 0), "state")), "TASK_STARTING");
    ASSERT_STREQ(json_string_value(json_object_get(call_status(&f, 1), "state")), "TASK_RUNNING");
    ASSERT_STREQ(json_string_value(json_object_get(call_status(&f, 2), "state")), "TASK_FINISHED");
    teardown(&f);
}

TEST(updates_before_subscribed_wait_for_the_subscription)
{
    struct fixture f;
    json_t *sub;
    setup(&f);
    ASSERT_EQ(ag_executor_update(f.e, "t1", "TASK_RUNNING", NULL, NULL, NULL), 0);
    ASSERT_EQ(json_array_size(f.seen.calls), 0);
    sub = ag_executor_subscribe_call(f.e);
    ASSERT_EQ(json_array_size(
                  json_object_get(json_object_get(sub, "subscribe"), "unacknowledged_updates")),
              1);
    json_decref(sub);
    /* Not carried by a SUBSCRIBE (none was sent): it goes as an UPDATE. */
    feed(&f, SUBSCRIBED);
    ASSERT_EQ(json_array_size(f.seen.calls), 1);
    ASSERT_STREQ(call_type(&f, 0), "UPDATE");
    teardown(&f);
}

TEST(refused_update_is_reported_and_dropped)
{
    struct fixture f;
    setup(&f);
    feed(&f, SUBSCRIBED);
    f.seen.answer = 400;
    ASSERT_EQ(ag_executor_update(f.e, "t1", "TASK_RUNNING", NULL, NULL, NULL), 0);
    ASSERT_EQ(f.seen.errors, 1);
    ASSERT_NOT_NULL(strstr(f.seen.error, "UPDATE"));
    ASSERT_EQ(ag_executor_unacknowledged(f.e), 0);
    teardown(&f);
}

TEST(transient_failure_keeps_the_call_queued)
{
    struct fixture f;
    setup(&f);
    feed(&f, SUBSCRIBED);
    f.seen.answer = 503;
    ASSERT_EQ(ag_executor_update(f.e, "t1", "TASK_RUNNING", NULL, NULL, NULL), 0);
    ASSERT_EQ(ag_executor_update(f.e, "t1", "TASK_FINISHED", NULL, NULL, NULL), 0);
    ASSERT_EQ(json_array_size(f.seen.calls), 1); /* the second waits behind the first */
    ASSERT_FALSE(ag_executor_idle(f.e));
    ASSERT_EQ(f.seen.errors, 0);
    ASSERT_EQ(ag_executor_unacknowledged(f.e), 2);
    teardown(&f);
}

TEST(bad_updates_are_refused_locally)
{
    struct fixture f;
    json_t *st;
    setup(&f);
    ASSERT_EQ(ag_executor_update(f.e, "t1", "TASK_STAGING", NULL, NULL, NULL), -EINVAL);
    ASSERT_EQ(ag_executor_update(f.e, "t1", "RUNNING", NULL, NULL, NULL), -EINVAL);
    ASSERT_EQ(ag_executor_update(f.e, NULL, "TASK_RUNNING", NULL, NULL, NULL), -EINVAL);
    st = json_pack("{s:s}", "state", "TASK_RUNNING");
    ASSERT_EQ(ag_executor_send_status(f.e, st, NULL), -EINVAL);
    json_decref(st);
    /* The same uuid twice is one update. */
    st = json_pack("{s:{s:s},s:s,s:s}", "task_id", "value", "t1", "state", "TASK_RUNNING", "uuid",
                   "AAAAAAAAAAAAAAAAAAAAAA==");
    ASSERT_EQ(ag_executor_send_status(f.e, st, NULL), 0);
    ASSERT_EQ(ag_executor_send_status(f.e, st, NULL), -EEXIST);
    json_decref(st);
    ASSERT_EQ(ag_executor_unacknowledged(f.e), 1);
    teardown(&f);
}

TEST(events_reach_their_callbacks)
{
    struct fixture f;
    setup(&f);
    feed(&f, SUBSCRIBED);
    feed(&f, "{\"type\":\"KILL\",\"kill\":{\"task_id\":{\"value\":\"t9\"},\"kill_policy\":{"
             "\"grace_period\":{\"nanoseconds\":2000000000}}}}");
    ASSERT_EQ(f.seen.killed, 1);
    ASSERT_STREQ(f.seen.last_task, "t9");
    ASSERT_NEAR(f.seen.kill_grace_ns, 2e9, 1);
    feed(&f, "{\"type\":\"MESSAGE\",\"message\":{\"data\":\"aGVsbG8=\"}}");
    ASSERT_STREQ(f.seen.message, "hello");
    feed(&f, "{\"type\":\"HEARTBEAT\"}");
    feed(&f, "{\"type\":\"SHUTDOWN\"}");
    ASSERT_EQ(f.seen.shutdowns, 1);
    feed(&f, "{\"type\":\"ERROR\",\"error\":{\"message\":\"boom\"}}");
    ASSERT_STREQ(f.seen.error, "boom");
    feed(&f, "{\"type\":\"KILL\",\"kill\":{}}"); /* no task id: ignored */
    ASSERT_EQ(f.seen.killed, 1);
    teardown(&f);
}

TEST(message_needs_a_subscription)
{
    struct fixture f;
    setup(&f);
    ASSERT_EQ(ag_executor_send_message(f.e, "x", 1), -ENOTCONN);
    feed(&f, SUBSCRIBED);
    ASSERT_EQ(ag_executor_send_message(f.e, "hi", 2), 0);
    ASSERT_STREQ(call_type(&f, 0), "MESSAGE");
    ASSERT_STREQ(json_string_value(json_object_get(
                     json_object_get(json_array_get(f.seen.calls, 0), "message"), "data")),
                 "aGk=");
    teardown(&f);
}

TEST(malformed_stream_is_a_final_disconnection_without_checkpoint)
{
    struct fixture f;
    setup(&f);
    feed(&f, SUBSCRIBED);
    ASSERT_EQ(ag_executor_feed(f.e, "x\n", 2), -EBADMSG);
    ASSERT_EQ(f.seen.disconnects, 1);
    ASSERT_TRUE(f.seen.final);
    ASSERT_FALSE(ag_executor_subscribed(f.e));
    teardown(&f);
}

TEST(checkpointed_executor_reconnects_with_its_unacknowledged_updates)
{
    struct fixture f;
    struct ag_executor_config cfg = {
        .agent_endpoint = "127.0.0.1:1",
        .framework_id = "F",
        .executor_id = "E",
        .checkpoint = true,
        .recovery_timeout = 60,
        .subscription_backoff_max = 1,
    };
    json_t *sub, *updates;
    memset(&f, 0, sizeof(f));
    f.loop = ag_loop_new();
    f.seen.calls = json_array();
    f.seen.answer = 202;
    f.e = ag_executor_new(f.loop, &cfg, &callbacks, &f.seen);
    ASSERT_NOT_NULL(f.e);
    ag_executor_set_call_hook(f.e, hook, &f.seen);
    feed(&f, SUBSCRIBED);
    feed(&f, LAUNCH_T1);
    ASSERT_EQ(ag_executor_update(f.e, "t1", "TASK_RUNNING", NULL, NULL, NULL), 0);
    ASSERT_EQ(ag_executor_feed(f.e, "x\n", 2), -EBADMSG);
    ASSERT_EQ(f.seen.disconnects, 1);
    ASSERT_FALSE(f.seen.final); /* it will re-subscribe */
    ASSERT_FALSE(ag_executor_subscribed(f.e));
    /* Meanwhile updates wait, and the next SUBSCRIBE carries them. */
    ASSERT_EQ(ag_executor_update(f.e, "t1", "TASK_FINISHED", NULL, NULL, NULL), 0);
    ASSERT_EQ(json_array_size(f.seen.calls), 1);
    sub = ag_executor_subscribe_call(f.e);
    updates = json_object_get(json_object_get(sub, "subscribe"), "unacknowledged_updates");
    ASSERT_EQ(json_array_size(updates), 2);
    ASSERT_STREQ(json_string_value(json_object_get(
                     json_object_get(json_array_get(updates, 1), "status"), "state")),
                 "TASK_FINISHED");
    ASSERT_EQ(
        json_array_size(json_object_get(json_object_get(sub, "subscribe"), "unacknowledged_tasks")),
        1);
    json_decref(sub);
    teardown(&f);
}

TEST(config_from_env)
{
    struct ag_executor_config cfg;
    char err[256] = "";
    unsetenv("MESOS_AGENT_ENDPOINT");
    setenv("MESOS_FRAMEWORK_ID", "F", 1);
    setenv("MESOS_EXECUTOR_ID", "E", 1);
    ASSERT_EQ(ag_executor_config_from_env(&cfg, err, sizeof(err)), -EINVAL);
    ASSERT_NOT_NULL(strstr(err, "MESOS_AGENT_ENDPOINT"));
    setenv("MESOS_AGENT_ENDPOINT", "127.0.0.1:5051", 1);
    setenv("MESOS_CHECKPOINT", "1", 1);
    setenv("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", "7secs", 1);
    setenv("MESOS_SUBSCRIPTION_BACKOFF_MAX", "500ms", 1);
    unsetenv("MESOS_RECOVERY_TIMEOUT");
    ASSERT_EQ(ag_executor_config_from_env(&cfg, err, sizeof(err)), 0);
    ASSERT_STREQ(cfg.agent_endpoint, "127.0.0.1:5051");
    ASSERT_TRUE(cfg.checkpoint);
    ASSERT_NEAR(cfg.shutdown_grace_period, 7, 1e-9);
    ASSERT_NEAR(cfg.subscription_backoff_max, 0.5, 1e-9);
    ASSERT_NEAR(cfg.recovery_timeout, 900, 1e-9);
    setenv("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", "soon", 1);
    ASSERT_EQ(ag_executor_config_from_env(&cfg, err, sizeof(err)), -EINVAL);
    ASSERT_NOT_NULL(strstr(err, "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD"));
}

TEST_MAIN(TEST_CASE(new_refuses_incomplete_config), TEST_CASE(subscribed_records_the_payload),
          TEST_CASE(update_is_filled_sent_and_kept_until_acknowledged),
          TEST_CASE(updates_go_out_in_order),
          TEST_CASE(updates_before_subscribed_wait_for_the_subscription),
          TEST_CASE(refused_update_is_reported_and_dropped),
          TEST_CASE(transient_failure_keeps_the_call_queued),
          TEST_CASE(bad_updates_are_refused_locally), TEST_CASE(events_reach_their_callbacks),
          TEST_CASE(message_needs_a_subscription),
          TEST_CASE(malformed_stream_is_a_final_disconnection_without_checkpoint),
          TEST_CASE(checkpointed_executor_reconnects_with_its_unacknowledged_updates),
          TEST_CASE(config_from_env))
