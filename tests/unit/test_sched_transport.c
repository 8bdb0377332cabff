/*
 * Tests the scheduler SDK's transport against a fake master served on
 * 127.0.0.1 by the core HTTP server, in-process: SUBSCRIBE and the
 * Mesos-Stream-Id on calls, following a 307 to the leader, retrying 503,
 * re-subscribing with the framework id after the stream is lost or
 * heartbeats stop, and final errors (ERROR event, 4xx on SUBSCRIBE).
 *
 * Each test runs the loop until the scenario completes; a guard timer
 * fails a test that hangs (it bounds the run, it does not time anything).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agora/scheduler.h"
#include "core/http.h"
#include "core/json.h"
#include "core/loop.h"
#include "test.h"

#define GUARD_SECS 20.0

struct fake {
    struct ag_loop *loop;
    struct ag_http_server *server;
    int port;
    /* behaviour */
    int redirect_to;       /* >0: answer SUBSCRIBE with 307 to this port */
    int subscribe_503;     /* answer this many SUBSCRIBEs with 503 first */
    int subscribe_400;     /* answer SUBSCRIBE with 400 */
    int call_503;          /* answer this many calls with 503 first */
    double heartbeat;      /* advertised heartbeat interval */
    bool send_error;       /* send ERROR right after SUBSCRIBED */
    bool end_first_stream; /* end the first stream right after SUBSCRIBED */
    /* observations */
    int subscribes;
    int streams;
    char last_sub_fid[64]; /* framework_info.id of the last SUBSCRIBE */
    int calls;
    char last_call[32];
    char last_call_sid[64];
    char last_body[512]; /* of the last call that was not SUBSCRIBE */
    struct ag_http_stream *stream;
};

static void stream_closed(struct ag_http_stream *st, void *arg)
{
    struct fake *f = arg;
    if (f->stream == st)
        f->stream = NULL;
}

static void handle(struct ag_http_req *req, void *arg)
{
    struct fake *f = arg;
    size_t len = 0;
    const char *body = ag_http_req_body(req, &len);
    char err[128];
    json_t *call = ag_json_parse(body, len, err, sizeof(err));
    const char *type = json_string_value(json_object_get(call, "type"));
    if (!type) {
        ag_http_reply_error(req, 400, "bad call: %s", err);
        json_decref(call);
        return;
    }
    if (strcmp(type, "SUBSCRIBE") == 0) {
        f->subscribes++;
        json_t *fi = json_object_get(json_object_get(call, "subscribe"), "framework_info");
        const char *fid = json_string_value(json_object_get(json_object_get(fi, "id"), "value"));
        snprintf(f->last_sub_fid, sizeof(f->last_sub_fid), "%s", fid ? fid : "");
        json_decref(call);
        if (f->redirect_to > 0) {
            char loc[96];
            snprintf(loc, sizeof(loc), "//127.0.0.1:%d/api/v1/scheduler", f->redirect_to);
            ag_http_req_add_header(req, "Location", loc);
            ag_http_reply(req, 307, "text/plain", NULL, 0);
            return;
        }
        if (f->subscribe_400) {
            ag_http_reply_error(req, 400, "Framework has been removed");
            return;
        }
        if (f->subscribe_503 > 0) {
            f->subscribe_503--;
            ag_http_reply_error(req, 503, "No leader elected");
            return;
        }
        f->streams++;
        char sid[32];
        snprintf(sid, sizeof(sid), "sid-%d", f->streams);
        ag_http_req_add_header(req, "Mesos-Stream-Id", sid);
        struct ag_http_stream *st =
            ag_http_stream_start(req, 200, "application/json", stream_closed, f);
        if (!st)
            return;
        f->stream = st;
        json_t *ev = json_pack("{s:s,s:{s:{s:s},s:f}}", "type", "SUBSCRIBED", "subscribed",
                               "framework_id", "value", "FW-1", "heartbeat_interval_seconds",
                               f->heartbeat > 0 ? f->heartbeat : 15.0);
        ag_http_stream_send_json(st, ev);
        json_decref(ev);
        if (f->send_error) {
            ev = json_pack("{s:s,s:{s:s}}", "type", "ERROR", "error", "message", "go away");
            ag_http_stream_send_json(st, ev);
            json_decref(ev);
        }
        if (f->end_first_stream && f->streams == 1) {
            f->stream = NULL;
            ag_http_stream_end(st);
        }
        return;
    }
    f->calls++;
    snprintf(f->last_call, sizeof(f->last_call), "%s", type);
    snprintf(f->last_body, sizeof(f->last_body), "%.*s", (int)len, body);
    const char *sid = ag_http_req_header(req, "Mesos-Stream-Id");
    snprintf(f->last_call_sid, sizeof(f->last_call_sid), "%s", sid ? sid : "");
    json_decref(call);
    if (f->call_503 > 0) {
        f->call_503--;
        ag_http_reply_error(req, 503, "Master has not finished recovery");
        return;
    }
    ag_http_reply(req, 202, "text/plain", NULL, 0);
}

static void fake_init(struct fake *f, struct ag_loop *loop)
{
    memset(f, 0, sizeof(*f));
    f->loop = loop;
    char err[128];
    f->server =
        ag_http_server_new(loop, "127.0.0.1", 0, AG_HTTP_MAX_BODY_DEFAULT, err, sizeof(err));
    if (!f->server)
        AG_TEST_FAIL("fake master: %s", err);
    f->port = ag_http_server_port(f->server);
    ag_http_server_route(f->server, "/api/v1/scheduler", handle, f);
}

static void fake_release(struct fake *f)
{
    ag_http_server_free(f->server);
}

/* --- the scheduler side --- */

struct client {
    struct ag_loop *loop;
    struct ag_scheduler *s;
    int subscribed, disconnected, errors, calls_done, heartbeats;
    char error[160];
    char reason[200];
    int call_code;
    /* what to do on each SUBSCRIBED */
    bool kill_on_subscribe;
    bool ack_on_subscribe; /* ACKNOWLEDGE with the strings of ack_body_equals_tree */
    int stop_after_subscribes;
    bool stop_after_call;
    bool stop_on_error;
    bool timed_out;
};

static void stop(struct client *c)
{
    ag_loop_stop(c->loop);
}

static void call_done(struct ag_scheduler *s, int code, const char *message, void *arg)
{
    struct client *c = arg;
    (void)s;
    (void)message;
    c->calls_done++;
    c->call_code = code;
    if (c->stop_after_call)
        stop(c);
}

/* Strings that need escapes, and UTF-8. */
#define ACK_AGENT "A\"1\\x"
#define ACK_TASK  "t\xc3\xa9\n\x01</x>"
#define ACK_UUID  "AAECAwQFBgcICQoLDA0ODw=="

static void on_subscribed(struct ag_scheduler *s, const char *fid, const json_t *sub, void *arg)
{
    struct client *c = arg;
    (void)fid;
    (void)sub;
    c->subscribed++;
    if (c->kill_on_subscribe) {
        json_t *call =
            json_pack("{s:s,s:{s:{s:s}}}", "type", "KILL", "kill", "task_id", "value", "t1");
        ag_scheduler_send(s, call, call_done, c);
    }
    if (c->ack_on_subscribe) {
        /* The flush ends the run once the answer is in. */
        ASSERT_EQ(ag_scheduler_acknowledge(s, ACK_AGENT, ACK_TASK, ACK_UUID), 0);
        c->stop_after_call = true;
        ASSERT_EQ(ag_scheduler_flush(s, call_done, c), 0);
    }
    if (c->stop_after_subscribes && c->subscribed >= c->stop_after_subscribes)
        stop(c);
}

static void on_disconnected(struct ag_scheduler *s, const char *reason, double retry_in, void *arg)
{
    struct client *c = arg;
    (void)s;
    (void)retry_in;
    c->disconnected++;
    snprintf(c->reason, sizeof(c->reason), "%s", reason);
}

static void on_error(struct ag_scheduler *s, const char *message, void *arg)
{
    struct client *c = arg;
    (void)s;
    c->errors++;
    snprintf(c->error, sizeof(c->error), "%s", message);
    if (c->stop_on_error)
        stop(c);
}

static void guard_cb(void *arg)
{
    struct client *c = arg;
    c->timed_out = true;
    stop(c);
}

static const struct ag_scheduler_callbacks callbacks = {
    .subscribed = on_subscribed,
    .disconnected = on_disconnected,
    .error = on_error,
};

static void run_client(struct client *c, struct ag_loop *loop, int port)
{
    c->loop = loop;
    char master[64];
    snprintf(master, sizeof(master), "127.0.0.1:%d", port);
    json_t *fi = json_pack("{s:s,s:s}", "name", "t", "user", "nobody");
    c->s = ag_scheduler_new(loop, master, fi, &callbacks, c);
    json_decref(fi);
    ASSERT_NOT_NULL(c->s);
    struct ag_timer *guard = ag_timer_new(loop, guard_cb, c);
    ag_timer_start(guard, GUARD_SECS);
    ASSERT_EQ(ag_scheduler_start(c->s), 0);
    ag_loop_run(loop);
    ag_timer_free(guard);
}

/* Lets calls in flight finish before the loop and server go away. */
static void finish(struct client *c)
{
    ag_scheduler_free(c->s);
    c->s = NULL;
}

TEST(subscribe_and_call_with_stream_id)
{
    struct ag_loop *loop = ag_loop_new();
    struct fake m;
    fake_init(&m, loop);
    struct client c = {.kill_on_subscribe = true, .stop_after_call = true};
    run_client(&c, loop, m.port);
    ASSERT_FALSE(c.timed_out);
    ASSERT_EQ(c.subscribed, 1);
    ASSERT_STREQ(ag_scheduler_framework_id(c.s), "FW-1");
    ASSERT_STREQ(ag_scheduler_stream_id(c.s), "sid-1");
    ASSERT_EQ(c.call_code, 202);
    ASSERT_STREQ(m.last_call, "KILL");
    ASSERT_STREQ(m.last_call_sid, "sid-1");
    ASSERT_STREQ(m.last_sub_fid, ""); /* a new framework: no id on SUBSCRIBE */
    finish(&c);
    fake_release(&m);
    ag_loop_free(loop);
}

TEST(follows_redirect_to_leader)
{
    struct ag_loop *loop = ag_loop_new();
    struct fake leader, standby;
    fake_init(&leader, loop);
    fake_init(&standby, loop);
    standby.redirect_to = leader.port;
    struct client c = {.kill_on_subscribe = true, .stop_after_call = true};
    run_client(&c, loop, standby.port);
    ASSERT_FALSE(c.timed_out);
    ASSERT_EQ(standby.subscribes, 1);
    ASSERT_EQ(leader.subscribes, 1);
    ASSERT_EQ(c.subscribed, 1);
    char want[64];
    snprintf(want, sizeof(want), "http://127.0.0.1:%d", leader.port);
    ASSERT_STREQ(ag_scheduler_master(c.s), want);
    /* The call went to the leader, not the standby. */
    ASSERT_EQ(leader.calls, 1);
    ASSERT_EQ(standby.calls, 0);
    finish(&c);
    fake_release(&leader);
    fake_release(&standby);
    ag_loop_free(loop);
}

TEST(retries_503)
{
    struct ag_loop *loop = ag_loop_new();
    struct fake m;
    fake_init(&m, loop);
    m.subscribe_503 = 1;
    m.call_503 = 2;
    struct client c = {.kill_on_subscribe = true, .stop_after_call = true};
    run_client(&c, loop, m.port);
    ASSERT_FALSE(c.timed_out);
    ASSERT_EQ(m.subscribes, 2);
    ASSERT_EQ(c.disconnected, 1);
    ASSERT_TRUE(strstr(c.reason, "503") != NULL);
    ASSERT_EQ(c.subscribed, 1);
    /* The KILL was answered 503 twice, then accepted. */
    ASSERT_EQ(m.calls, 3);
    ASSERT_EQ(c.call_code, 202);
    finish(&c);
    fake_release(&m);
    ag_loop_free(loop);
}

TEST(resubscribes_with_id_after_stream_loss)
{
    struct ag_loop *loop = ag_loop_new();
    struct fake m;
    fake_init(&m, loop);
    m.end_first_stream = true;
    struct client c = {.stop_after_subscribes = 2};
    run_client(&c, loop, m.port);
    ASSERT_FALSE(c.timed_out);
    ASSERT_EQ(c.subscribed, 2);
    ASSERT_EQ(c.disconnected, 1);
    ASSERT_EQ(m.subscribes, 2);
    ASSERT_STREQ(m.last_sub_fid, "FW-1");
    ASSERT_STREQ(ag_scheduler_stream_id(c.s), "sid-2");
    finish(&c);
    fake_release(&m);
    ag_loop_free(loop);
}

TEST(resubscribes_after_missed_heartbeats)
{
    struct ag_loop *loop = ag_loop_new();
    struct fake m;
    fake_init(&m, loop);
    m.heartbeat = 0.05; /* and never sends one */
    struct client c = {.stop_after_subscribes = 2};
    run_client(&c, loop, m.port);
    ASSERT_FALSE(c.timed_out);
    ASSERT_EQ(c.subscribed, 2);
    ASSERT_TRUE(strstr(c.reason, "heartbeat") != NULL);
    ASSERT_STREQ(m.last_sub_fid, "FW-1");
    finish(&c);
    fake_release(&m);
    ag_loop_free(loop);
}

TEST(error_event_stops_subscription)
{
    struct ag_loop *loop = ag_loop_new();
    struct fake m;
    fake_init(&m, loop);
    m.send_error = true;
    struct client c = {.stop_on_error = true};
    run_client(&c, loop, m.port);
    ASSERT_FALSE(c.timed_out);
    ASSERT_EQ(c.errors, 1);
    ASSERT_STREQ(c.error, "go away");
    ASSERT_FALSE(ag_scheduler_subscribed(c.s));
    ASSERT_EQ(m.subscribes, 1);
    finish(&c);
    fake_release(&m);
    ag_loop_free(loop);
}

TEST(subscribe_refused_is_final)
{
    struct ag_loop *loop = ag_loop_new();
    struct fake m;
    fake_init(&m, loop);
    m.subscribe_400 = 1;
    struct client c = {.stop_on_error = true};
    run_client(&c, loop, m.port);
    ASSERT_FALSE(c.timed_out);
    ASSERT_EQ(c.errors, 1);
    ASSERT_TRUE(strstr(c.error, "400") != NULL);
    ASSERT_TRUE(strstr(c.error, "Framework has been removed") != NULL);
    ASSERT_EQ(c.subscribed, 0);
    finish(&c);
    fake_release(&m);
    ag_loop_free(loop);
}

/* The ACKNOWLEDGE call written as text has the bytes the tree path dumped
 * (type, acknowledge{agent_id, task_id, uuid}, then framework_id). */
TEST(ack_body_equals_tree)
{
    struct ag_loop *loop = ag_loop_new();
    struct fake m;
    fake_init(&m, loop);
    struct client c = {.ack_on_subscribe = true};
    run_client(&c, loop, m.port);
    ASSERT_FALSE(c.timed_out);
    ASSERT_STREQ(m.last_call, "ACKNOWLEDGE");
    json_t *tree =
        json_pack("{s:s,s:{s:{s:s},s:{s:s},s:s}}", "type", "ACKNOWLEDGE", "acknowledge", "agent_id",
                  "value", ACK_AGENT, "task_id", "value", ACK_TASK, "uuid", ACK_UUID);
    ag_json_set_id(tree, "framework_id", "FW-1");
    size_t len;
    char *want = ag_json_dump(tree, &len);
    ASSERT_STREQ(m.last_body, want);
    free(want);
    json_decref(tree);
    finish(&c);
    fake_release(&m);
    ag_loop_free(loop);
}

TEST_MAIN(TEST_CASE(subscribe_and_call_with_stream_id), TEST_CASE(follows_redirect_to_leader),
          TEST_CASE(retries_503), TEST_CASE(resubscribes_with_id_after_stream_loss),
          TEST_CASE(resubscribes_after_missed_heartbeats),
          TEST_CASE(error_event_stops_subscription), TEST_CASE(subscribe_refused_is_final),
          TEST_CASE(ack_body_equals_tree))
