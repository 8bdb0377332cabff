/* The agent's status update manager (agent/status_update.c): per-task
 * ordering, uuid dedupe, acknowledgement of the head only, backoff, and
 * sending only while connected. */
#include <errno.h>
#include <string.h>

#include "agent/internal.h"
#include "core/loop.h"
#include "test.h"

static json_t *status(const char *task, const char *state, const char *uuid)
{
    json_t *s = json_pack("{s:{s:s},s:s}", "task_id", "value", task, "state", state);
    if (uuid)
        json_object_set_new(s, "uuid", json_string(uuid));
    return s;
}

static void push(struct ag_agent_update_queue *q, const char *state, const char *uuid, int want)
{
    json_t *s = status("t", state, uuid);
    ASSERT_EQ(ag_agent_update_queue_push(q, s), want);
    json_decref(s);
}

TEST(queue_keeps_order_and_pops_only_the_head)
{
    struct ag_agent_update_queue q;
    ag_agent_update_queue_init(&q);
    ASSERT_NULL(ag_agent_update_queue_head(&q));
    push(&q, "TASK_STARTING", "u1", 0);
    push(&q, "TASK_RUNNING", "u2", 0);
    push(&q, "TASK_FINISHED", "u3", 0);
    ASSERT_EQ(q.latest_state, AG_TASK_FINISHED);
    ASSERT_TRUE(q.has_terminal);
    ASSERT_STREQ(ag_agent_update_queue_head(&q)->uuid, "u1");
    /* An acknowledgement of anything but the head changes nothing. */
    ASSERT_EQ(ag_agent_update_queue_ack(&q, "u2"), -ENOENT);
    ASSERT_EQ(ag_agent_update_queue_ack(&q, "nope"), -ENOENT);
    ASSERT_STREQ(ag_agent_update_queue_head(&q)->uuid, "u1");
    ASSERT_EQ(ag_agent_update_queue_ack(&q, "u1"), 0);
    ASSERT_STREQ(ag_agent_update_queue_head(&q)->uuid, "u2");
    ASSERT_STREQ(
        json_string_value(json_object_get(ag_agent_update_queue_head(&q)->status, "state")),
        "TASK_RUNNING");
    ASSERT_EQ(ag_agent_update_queue_ack(&q, "u1"), -ENOENT); /* duplicate ack */
    ASSERT_EQ(ag_agent_update_queue_ack(&q, "u2"), 0);
    ASSERT_EQ(ag_agent_update_queue_ack(&q, "u3"), 0);
    ASSERT_NULL(ag_agent_update_queue_head(&q));
    ASSERT_EQ(ag_agent_update_queue_ack(&q, "u3"), -ENOENT);
    ag_agent_update_queue_release(&q);
}

TEST(queue_refuses_duplicates_and_malformed)
{
    struct ag_agent_update_queue q;
    json_t *bad;
    ag_agent_update_queue_init(&q);
    push(&q, "TASK_RUNNING", "u1", 0);
    push(&q, "TASK_RUNNING", "u1", -EEXIST);
    push(&q, "TASK_RUNNING", NULL, -EINVAL);
    push(&q, "TASK_NOPE", "u9", -EINVAL);
    bad = json_pack("{s:s}", "uuid", "u8");
    ASSERT_EQ(ag_agent_update_queue_push(&q, bad), -EINVAL);
    json_decref(bad);
    ASSERT_EQ(q.n, 1);
    ag_agent_update_queue_release(&q);
}

TEST(queue_keeps_its_own_copy)
{
    struct ag_agent_update_queue q;
    json_t *s = status("t", "TASK_RUNNING", "u1");
    ag_agent_update_queue_init(&q);
    ASSERT_EQ(ag_agent_update_queue_push(&q, s), 0);
    json_object_set_new(s, "state", json_string("TASK_FAILED"));
    json_decref(s);
    ASSERT_STREQ(
        json_string_value(json_object_get(ag_agent_update_queue_head(&q)->status, "state")),
        "TASK_RUNNING");
    ag_agent_update_queue_release(&q);
}

TEST(backoff_doubles_up_to_the_cap)
{
    ASSERT_NEAR(ag_agent_update_backoff(10, 600), 20, 1e-9);
    ASSERT_NEAR(ag_agent_update_backoff(320, 600), 600, 1e-9);
    ASSERT_NEAR(ag_agent_update_backoff(600, 600), 600, 1e-9);
    ASSERT_NEAR(ag_agent_update_backoff(900, 600), 900, 1e-9); /* never shrinks */
}

/* --- the manager, with a recording "master" --- */

struct rec {
    char sent[16][64]; /* "task:state:latest" */
    int n_sent;
    char acked[16][64];
    int n_acked;
};

static void rec_send(void *arg, const char *fw, const json_t *st, enum ag_task_state latest)
{
    struct rec *r = arg;
    (void)fw;
    if (r->n_sent < 16)
        snprintf(r->sent[r->n_sent++], 64, "%s:%s:%s",
                 json_string_value(json_object_get(json_object_get(st, "task_id"), "value")),
                 json_string_value(json_object_get(st, "uuid")), ag_task_state_name(latest));
}

static void rec_acked(void *arg, const char *fw, const char *task, const json_t *st)
{
    struct rec *r = arg;
    (void)fw;
    if (r->n_acked < 16)
        snprintf(r->acked[r->n_acked++], 64, "%s:%s", task,
                 json_string_value(json_object_get(st, "uuid")));
}

static const struct ag_agent_sum_ops rec_ops = {.send = rec_send, .acked = rec_acked};

static void sum_push(struct ag_agent_sum *sum, const char *task, const char *state,
                     const char *uuid, int want)
{
    json_t *s = status(task, state, uuid);
    ASSERT_EQ(ag_agent_sum_update(sum, "F", task, s), want);
    json_decref(s);
}

TEST(manager_sends_heads_only_while_connected)
{
    struct ag_loop *loop = ag_loop_new();
    struct rec r;
    struct ag_agent_sum *sum;
    memset(&r, 0, sizeof(r));
    sum = ag_agent_sum_new(loop, 10, &rec_ops, &r);
    sum_push(sum, "a", "TASK_STARTING", "a1", 0);
    sum_push(sum, "a", "TASK_RUNNING", "a2", 0);
    ASSERT_EQ(r.n_sent, 0); /* not connected yet */
    ag_agent_sum_set_connected(sum, true);
    ASSERT_EQ(r.n_sent, 1);
    ASSERT_STREQ(r.sent[0], "a:a1:TASK_RUNNING"); /* latest_state runs ahead */
    sum_push(sum, "b", "TASK_RUNNING", "b1", 0);  /* another task goes at once */
    ASSERT_EQ(r.n_sent, 2);
    ASSERT_STREQ(r.sent[1], "b:b1:TASK_RUNNING");
    sum_push(sum, "a", "TASK_FINISHED", "a3", 0); /* queued behind a1 */
    ASSERT_EQ(r.n_sent, 2);
    sum_push(sum, "a", "TASK_FINISHED", "a3", -EEXIST);
    /* Reconnecting re-sends every head. */
    ag_agent_sum_set_connected(sum, false);
    ag_agent_sum_set_connected(sum, true);
    ASSERT_EQ(r.n_sent, 4);
    ag_agent_sum_free(sum);
    ag_loop_free(loop);
}

TEST(manager_ack_pops_and_sends_the_next)
{
    struct ag_loop *loop = ag_loop_new();
    struct rec r;
    struct ag_agent_sum *sum;
    memset(&r, 0, sizeof(r));
    sum = ag_agent_sum_new(loop, 10, &rec_ops, &r);
    ag_agent_sum_set_connected(sum, true);
    sum_push(sum, "a", "TASK_STARTING", "a1", 0);
    sum_push(sum, "a", "TASK_FINISHED", "a2", 0);
    ASSERT_EQ(r.n_sent, 1);
    ASSERT_EQ(ag_agent_sum_ack(sum, "F", "a", "a2"), -ENOENT); /* not the head */
    ASSERT_EQ(ag_agent_sum_ack(sum, "G", "a", "a1"), -ENOENT); /* other framework */
    ASSERT_EQ(r.n_acked, 0);
    ASSERT_STREQ(json_string_value(json_object_get(ag_agent_sum_head(sum, "F", "a"), "uuid")),
                 "a1");
    ASSERT_EQ(ag_agent_sum_ack(sum, "F", "a", "a1"), 0);
    ASSERT_STREQ(json_string_value(json_object_get(ag_agent_sum_head(sum, "F", "a"), "uuid")),
                 "a2");
    ASSERT_EQ(r.n_acked, 1);
    ASSERT_STREQ(r.acked[0], "a:a1");
    ASSERT_EQ(r.n_sent, 2);
    ASSERT_STREQ(r.sent[1], "a:a2:TASK_FINISHED");
    ASSERT_TRUE(ag_agent_sum_pending(sum, "F", "a"));
    ASSERT_EQ(ag_agent_sum_ack(sum, "F", "a", "a2"), 0);
    ASSERT_FALSE(ag_agent_sum_pending(sum, "F", "a"));
    ASSERT_NULL(ag_agent_sum_head(sum, "F", "a"));
    ASSERT_EQ(ag_agent_sum_streams(sum), 0);
    ASSERT_EQ(r.n_sent, 2);
    ag_agent_sum_free(sum);
    ag_loop_free(loop);
}

TEST(manager_drops_a_framework)
{
    struct ag_loop *loop = ag_loop_new();
    struct rec r;
    struct ag_agent_sum *sum;
    json_t *s;
    memset(&r, 0, sizeof(r));
    sum = ag_agent_sum_new(loop, 10, &rec_ops, &r);
    sum_push(sum, "a", "TASK_RUNNING", "a1", 0);
    s = status("x", "TASK_RUNNING", "x1");
    ASSERT_EQ(ag_agent_sum_update(sum, "G", "x", s), 0);
    json_decref(s);
    ASSERT_EQ(ag_agent_sum_streams(sum), 2);
    ag_agent_sum_drop_framework(sum, "F");
    ASSERT_EQ(ag_agent_sum_streams(sum), 1);
    ASSERT_FALSE(ag_agent_sum_pending(sum, "F", "a"));
    ASSERT_TRUE(ag_agent_sum_pending(sum, "G", "x"));
    ag_agent_sum_free(sum);
    ag_loop_free(loop);
}

TEST(manager_refuses_bad_updates_without_a_stream)
{
    struct ag_loop *loop = ag_loop_new();
    struct rec r;
    struct ag_agent_sum *sum;
    memset(&r, 0, sizeof(r));
    sum = ag_agent_sum_new(loop, 10, &rec_ops, &r);
    sum_push(sum, "a", "TASK_RUNNING", NULL, -EINVAL);
    ASSERT_EQ(ag_agent_sum_streams(sum), 0);
    ag_agent_sum_free(sum);
    ag_loop_free(loop);
}

TEST_MAIN(TEST_CASE(queue_keeps_order_and_pops_only_the_head),
          TEST_CASE(queue_refuses_duplicates_and_malformed), TEST_CASE(queue_keeps_its_own_copy),
          TEST_CASE(backoff_doubles_up_to_the_cap),
          TEST_CASE(manager_sends_heads_only_while_connected),
          TEST_CASE(manager_ack_pops_and_sends_the_next), TEST_CASE(manager_drops_a_framework),
          TEST_CASE(manager_refuses_bad_updates_without_a_stream))
