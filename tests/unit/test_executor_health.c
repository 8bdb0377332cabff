/* Health checks (lib/sched/health.c, agora/health.h): policy parsing with
 * the Mesos defaults, the state machine (grace period, consecutive
 * failures, which results are reported), and the checker's probes on a
 * real loop against 127.0.0.1. */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agora/health.h"
#include "core/http.h"
#include "core/loop.h"
#include "test.h"

static json_t *parse_json(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    if (!j)
        fprintf(stderr, "bad test JSON: %s\n", e.text);
    return j;
}

/* Parses text as a HealthCheck (or CheckInfo); rc, with err filled. */
static int parse(const char *text, bool is_check, struct ag_health_policy *p, char *err,
                 size_t errlen)
{
    json_t *j = parse_json(text);
    int rc = ag_health_policy_parse(j, is_check, p, err, errlen);
    json_decref(j);
    return rc;
}

TEST(policy_defaults)
{
    struct ag_health_policy p;
    char err[256] = "";
    ASSERT_EQ(parse("{\"type\":\"HTTP\",\"http\":{\"port\":8080}}", false, &p, err, sizeof(err)),
              0);
    ASSERT_EQ(p.type, AG_HEALTH_HTTP);
    ASSERT_FALSE(p.is_check);
    ASSERT_NEAR(p.delay, 15, 1e-9);
    ASSERT_NEAR(p.interval, 10, 1e-9);
    ASSERT_NEAR(p.timeout, 20, 1e-9);
    ASSERT_NEAR(p.grace_period, 10, 1e-9);
    ASSERT_EQ(p.consecutive_failures, 3);
    ASSERT_EQ(p.port, 8080);
    ASSERT_STREQ(p.path, "/");
    ASSERT_FALSE(p.ipv6);
    ag_health_policy_release(&p);
}

TEST(policy_fields)
{
    struct ag_health_policy p, q;
    char err[256] = "";
    ASSERT_EQ(parse("{\"type\":\"TCP\",\"tcp\":{\"port\":\"9000\",\"protocol\":\"IPv6\"},"
                    "\"delay_seconds\":0.5,\"interval_seconds\":0.25,\"timeout_seconds\":0,"
                    "\"grace_period_seconds\":0,\"consecutive_failures\":7}",
                    false, &p, err, sizeof(err)),
              0);
    ASSERT_EQ(p.type, AG_HEALTH_TCP);
    ASSERT_EQ(p.port, 9000);
    ASSERT_TRUE(p.ipv6);
    ASSERT_NEAR(p.delay, 0.5, 1e-9);
    ASSERT_NEAR(p.interval, 0.25, 1e-9);
    ASSERT_NEAR(p.timeout, 0, 1e-9);
    ASSERT_NEAR(p.grace_period, 0, 1e-9);
    ASSERT_EQ(p.consecutive_failures, 7);
    ASSERT_EQ(ag_health_policy_copy(&p, &q), 0);
    ag_health_policy_release(&p);
    ASSERT_EQ(q.port, 9000);
    ag_health_policy_release(&q);

    /* A path without its leading slash gets one. */
    ASSERT_EQ(parse("{\"type\":\"HTTP\",\"http\":{\"port\":80,\"path\":\"health?x=1\"}}", false, &p,
                    err, sizeof(err)),
              0);
    ASSERT_STREQ(p.path, "/health?x=1");
    ASSERT_FALSE(p.https);
    ag_health_policy_release(&p);
    ASSERT_EQ(parse("{\"type\":\"HTTP\",\"http\":{\"port\":443,\"scheme\":\"https\"}}", false, &p,
                    err, sizeof(err)),
              0);
    ASSERT_TRUE(p.https);
    ag_health_policy_release(&p);

    /* COMMAND: the CommandInfo is kept; a missing type is inferred. */
    ASSERT_EQ(parse("{\"command\":{\"value\":\"true\"}}", false, &p, err, sizeof(err)), 0);
    ASSERT_EQ(p.type, AG_HEALTH_COMMAND);
    ASSERT_STREQ(json_string_value(json_object_get(p.command, "value")), "true");
    ag_health_policy_release(&p);
}

TEST(check_info_shapes)
{
    struct ag_health_policy p;
    char err[256] = "";
    /* CheckInfo wraps its CommandInfo once more. */
    ASSERT_EQ(parse("{\"type\":\"COMMAND\",\"command\":{\"command\":{\"value\":\"exit 3\"}}}", true,
                    &p, err, sizeof(err)),
              0);
    ASSERT_TRUE(p.is_check);
    ASSERT_EQ(p.type, AG_HEALTH_COMMAND);
    ASSERT_STREQ(json_string_value(json_object_get(p.command, "value")), "exit 3");
    ag_health_policy_release(&p);
    ASSERT_EQ(parse("{\"type\":\"COMMAND\",\"command\":{\"value\":\"exit 3\"}}", true, &p, err,
                    sizeof(err)),
              -EINVAL);
    ASSERT_TRUE(strstr(err, "check.command.command") != NULL);
}

/* Each bad input fails with a message naming the field. */
TEST(policy_errors_name_the_field)
{
    static const struct {
        const char *json;
        const char *needle;
    } cases[] = {
        {"[]", "health_check must be an object"},
        {"{}", "health_check.type"},
        {"{\"type\":\"GRPC\"}", "health_check.type"},
        {"{\"type\":\"HTTP\"}", "health_check.http"},
        {"{\"type\":\"HTTP\",\"http\":{}}", "health_check.http.port is missing"},
        {"{\"type\":\"HTTP\",\"http\":{\"port\":0}}", "health_check.http.port"},
        {"{\"type\":\"HTTP\",\"http\":{\"port\":70000}}", "health_check.http.port"},
        {"{\"type\":\"HTTP\",\"http\":{\"port\":1.5}}", "health_check.http.port"},
        {"{\"type\":\"HTTP\",\"http\":{\"port\":80,\"scheme\":\"ftp\"}}",
         "health_check.http.scheme"},
        {"{\"type\":\"HTTP\",\"http\":{\"port\":80,\"path\":\"/a b\"}}", "health_check.http.path"},
        {"{\"type\":\"HTTP\",\"http\":{\"port\":80,\"path\":\"/a\\r\\nX: y\"}}",
         "health_check.http.path"},
        {"{\"type\":\"HTTP\",\"http\":{\"port\":80,\"protocol\":\"IPX\"}}", "protocol"},
        {"{\"type\":\"HTTP\",\"http\":{\"port\":80,\"path\":\"/"
         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
         "\"}}",
         "health_check.http.path is longer"},
        {"{\"type\":\"TCP\",\"tcp\":{\"port\":\"x\"}}", "health_check.tcp.port"},
        {"{\"type\":\"COMMAND\"}", "health_check.command"},
        {"{\"type\":\"COMMAND\",\"command\":{\"shell\":true}}", "health_check.command.value"},
        {"{\"command\":{\"value\":\"true\"},\"tcp\":{\"port\":1}}", "health_check.type"},
        {"{\"type\":\"TCP\",\"tcp\":{\"port\":1},\"delay_seconds\":-1}", "delay_seconds"},
        {"{\"type\":\"TCP\",\"tcp\":{\"port\":1},\"interval_seconds\":\"soon\"}",
         "interval_seconds"},
        {"{\"type\":\"TCP\",\"tcp\":{\"port\":1},\"timeout_seconds\":-0.5}", "timeout_seconds"},
        {"{\"type\":\"TCP\",\"tcp\":{\"port\":1},\"grace_period_seconds\":-3}",
         "grace_period_seconds"},
        {"{\"type\":\"TCP\",\"tcp\":{\"port\":1},\"consecutive_failures\":-1}",
         "consecutive_failures"},
        {"{\"type\":\"TCP\",\"tcp\":{\"port\":1},\"consecutive_failures\":2.5}",
         "consecutive_failures"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct ag_health_policy p;
        char err[256] = "";
        int rc = parse(cases[i].json, false, &p, err, sizeof(err));
        if (rc != -EINVAL || !strstr(err, cases[i].needle))
            AG_TEST_FAIL("%s: rc %d, message \"%s\" (want \"%s\")", cases[i].json, rc, err,
                         cases[i].needle);
        ASSERT_NULL(p.path); /* left released */
        ASSERT_NULL(p.command);
    }
}

static struct ag_health_policy policy(double grace, int failures)
{
    struct ag_health_policy p;
    memset(&p, 0, sizeof(p));
    p.type = AG_HEALTH_TCP;
    p.grace_period = grace;
    p.consecutive_failures = failures;
    return p;
}

TEST(first_success_reported_once)
{
    struct ag_health_policy p = policy(10, 3);
    struct ag_health_state st;
    struct ag_health_verdict v;
    ag_health_state_init(&st, 100);
    v = ag_health_judge(&st, &p, true, 101);
    ASSERT_TRUE(v.report);
    ASSERT_TRUE(v.healthy);
    ASSERT_FALSE(v.kill);
    for (int i = 0; i < 5; i++) {
        v = ag_health_judge(&st, &p, true, 102 + i);
        ASSERT_FALSE(v.report);
    }
}

TEST(failures_in_grace_period_ignored_until_first_success)
{
    struct ag_health_policy p = policy(10, 1);
    struct ag_health_state st;
    struct ag_health_verdict v;
    ag_health_state_init(&st, 100);
    for (int i = 0; i < 10; i++) {
        v = ag_health_judge(&st, &p, false, 100 + i); /* up to 109: inside the grace */
        ASSERT_TRUE(v.ignored);
        ASSERT_FALSE(v.report);
        ASSERT_FALSE(v.kill);
    }
    v = ag_health_judge(&st, &p, true, 109.5);
    ASSERT_TRUE(v.report);
    ASSERT_TRUE(v.healthy);
    /* Still inside the grace period, but after a success: it counts. */
    v = ag_health_judge(&st, &p, false, 109.8);
    ASSERT_FALSE(v.ignored);
    ASSERT_TRUE(v.report);
    ASSERT_FALSE(v.healthy);
    ASSERT_TRUE(v.kill);
    ASSERT_EQ(v.consecutive, 1);
}

TEST(grace_period_ends_without_success)
{
    struct ag_health_policy p = policy(2, 2);
    struct ag_health_state st;
    struct ag_health_verdict v;
    ag_health_state_init(&st, 0);
    ASSERT_TRUE(ag_health_judge(&st, &p, false, 1).ignored);
    ASSERT_TRUE(ag_health_judge(&st, &p, false, 2).ignored); /* the boundary is inside */
    v = ag_health_judge(&st, &p, false, 2.5);
    ASSERT_TRUE(v.report);
    ASSERT_FALSE(v.healthy);
    ASSERT_FALSE(v.kill);
    ASSERT_EQ(v.consecutive, 1);
    v = ag_health_judge(&st, &p, false, 3);
    ASSERT_TRUE(v.kill);
    ASSERT_EQ(v.consecutive, 2);
}

TEST(zero_grace_counts_every_failure)
{
    struct ag_health_policy p = policy(0, 3);
    struct ag_health_state st;
    struct ag_health_verdict v;
    ag_health_state_init(&st, 50);
    v = ag_health_judge(&st, &p, false, 50.1);
    ASSERT_FALSE(v.ignored);
    ASSERT_TRUE(v.report);
}

TEST(success_resets_consecutive_failures)
{
    struct ag_health_policy p = policy(0, 3);
    struct ag_health_state st;
    struct ag_health_verdict v;
    ag_health_state_init(&st, 0);
    ASSERT_TRUE(ag_health_judge(&st, &p, true, 1).report);
    v = ag_health_judge(&st, &p, false, 2);
    ASSERT_TRUE(v.report);
    ASSERT_EQ(v.consecutive, 1);
    v = ag_health_judge(&st, &p, false, 3);
    ASSERT_TRUE(v.report);
    ASSERT_FALSE(v.kill);
    /* Healthy again: reported (it follows failures), and the count resets. */
    v = ag_health_judge(&st, &p, true, 4);
    ASSERT_TRUE(v.report);
    ASSERT_TRUE(v.healthy);
    ASSERT_FALSE(ag_health_judge(&st, &p, true, 5).report);
    ASSERT_EQ(ag_health_judge(&st, &p, false, 6).consecutive, 1);
    ASSERT_FALSE(ag_health_judge(&st, &p, false, 7).kill);
    v = ag_health_judge(&st, &p, false, 8);
    ASSERT_TRUE(v.kill);
    ASSERT_EQ(v.consecutive, 3);
}

/* --- the checker on a real loop --- */

struct probe_log {
    struct ag_loop *loop;
    struct ag_health_checker *hc;
    int reports, healthy, unhealthy, kills, checks;
    int stop_after; /* stop the loop after this many reports/checks */
    double linger;  /* then keep the loop running this long, to catch extra reports */
    char last_message[256];
    json_t *last_check;
    /* COMMAND probes are faked: each "runs" and ends with the next status. */
    const int *statuses;
    int nstatuses, started, cancelled;
    struct ag_timer *finish;
};

static void maybe_stop(struct probe_log *l)
{
    if (l->reports + l->checks >= l->stop_after)
        ag_loop_stop(l->loop);
}

static void on_health(struct ag_health_checker *hc, const struct ag_health_verdict *v,
                      const char *message, void *arg)
{
    struct probe_log *l = arg;
    (void)hc;
    l->reports++;
    if (v->healthy)
        l->healthy++;
    else
        l->unhealthy++;
    if (v->kill)
        l->kills++;
    snprintf(l->last_message, sizeof(l->last_message), "%s", message);
    maybe_stop(l);
}

static void on_check(struct ag_health_checker *hc, const json_t *cs, void *arg)
{
    struct probe_log *l = arg;
    (void)hc;
    l->checks++;
    json_decref(l->last_check);
    l->last_check = json_deep_copy(cs);
    maybe_stop(l);
}

static void fake_finish(void *arg)
{
    struct probe_log *l = arg;
    int i = l->started - 1;
    int status = l->statuses[i < l->nstatuses ? i : l->nstatuses - 1];
    ag_health_checker_command_done(l->hc, status);
}

static int fake_start(struct ag_health_checker *hc, const json_t *command, void *arg)
{
    struct probe_log *l = arg;
    (void)hc;
    (void)command;
    l->started++;
    if (l->statuses[0] < 0) /* never ends: the timeout must fire */
        return 0;
    ag_timer_start(l->finish, 0);
    return 0;
}

static void fake_cancel(struct ag_health_checker *hc, void *arg)
{
    struct probe_log *l = arg;
    (void)hc;
    l->cancelled++;
}

static const struct ag_health_checker_ops log_ops = {
    .command_start = fake_start,
    .command_cancel = fake_cancel,
    .health = on_health,
    .check = on_check,
};

static void safety(void *arg)
{
    ag_loop_stop(arg);
}

/* Runs a checker for `text` until stop_after reports (or 20 s). */
static void run_checker(struct probe_log *l, const char *text, bool is_check)
{
    struct ag_health_policy p;
    char err[256] = "";
    struct ag_timer *guard;
    l->loop = ag_loop_new();
    ASSERT_NOT_NULL(l->loop);
    if (parse(text, is_check, &p, err, sizeof(err)) < 0)
        AG_TEST_FAIL("policy %s: %s", text, err);
    l->finish = ag_timer_new(l->loop, fake_finish, l);
    l->hc = ag_health_checker_new(l->loop, &p, &log_ops, l);
    ag_health_policy_release(&p);
    ASSERT_NOT_NULL(l->hc);
    guard = ag_timer_new(l->loop, safety, l->loop);
    ag_timer_start(guard, 20);
    ag_health_checker_start(l->hc);
    ag_loop_run(l->loop);
    if (l->linger > 0) {
        l->stop_after = 1000;
        ag_timer_start(guard, l->linger);
        ag_loop_run(l->loop);
    }
    ag_health_checker_free(l->hc);
    ag_timer_free(guard);
    ag_timer_free(l->finish);
    ag_loop_free(l->loop);
}

/* A listening socket on 127.0.0.1 (fd, port). */
static int listener(int *ret_port)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 64) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0)
        return -1;
    *ret_port = ntohs(a.sin_port);
    return fd;
}

TEST(tcp_probe_healthy_then_killed_when_closed)
{
    struct probe_log l;
    char text[256];
    int port, fd = listener(&port);
    ASSERT_TRUE(fd >= 0);
    memset(&l, 0, sizeof(l));
    l.stop_after = 1;
    snprintf(text, sizeof(text),
             "{\"type\":\"TCP\",\"tcp\":{\"port\":%d},\"delay_seconds\":0,"
             "\"interval_seconds\":0.01,\"grace_period_seconds\":0,\"consecutive_failures\":2}",
             port);
    run_checker(&l, text, false);
    ASSERT_EQ(l.healthy, 1);
    ASSERT_TRUE(strstr(l.last_message, "succeeded") != NULL);
    close(fd); /* nothing listens on the port now */
    memset(&l, 0, sizeof(l));
    l.stop_after = 2; /* two unhealthy, the second with kill */
    l.linger = 0.2;   /* no probe, no report after the kill */
    run_checker(&l, text, false);
    ASSERT_EQ(l.reports, 2);
    ASSERT_EQ(l.unhealthy, 2);
    ASSERT_EQ(l.kills, 1);
    ASSERT_EQ(l.healthy, 0);
    ASSERT_TRUE(strstr(l.last_message, "refused") != NULL);
}

static void answer(struct ag_http_req *req, void *arg)
{
    int *code = arg;
    ag_http_reply(req, *code, "text/plain", "x", 1);
}

TEST(http_probe_status_ranges)
{
    static const struct {
        int code;
        bool healthy;
    } cases[] = {{200, true},  {204, true},  {302, true}, {399, true},
                 {400, false}, {404, false}, {503, false}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct probe_log l;
        struct ag_health_policy p;
        struct ag_http_server *srv;
        struct ag_timer *guard;
        char text[256], err[256] = "";
        int code = cases[i].code;

        memset(&l, 0, sizeof(l));
        l.stop_after = 1;
        l.loop = ag_loop_new();
        srv = ag_http_server_new(l.loop, "127.0.0.1", 0, 0, err, sizeof(err));
        ASSERT_NOT_NULL(srv);
        ag_http_server_route(srv, "/health", answer, &code);
        snprintf(text, sizeof(text),
                 "{\"type\":\"HTTP\",\"http\":{\"port\":%d,\"path\":\"/health\"},"
                 "\"delay_seconds\":0,\"interval_seconds\":0.01,\"grace_period_seconds\":0}",
                 ag_http_server_port(srv));
        ASSERT_EQ(parse(text, false, &p, err, sizeof(err)), 0);
        l.hc = ag_health_checker_new(l.loop, &p, &log_ops, &l);
        ag_health_policy_release(&p);
        guard = ag_timer_new(l.loop, safety, l.loop);
        ag_timer_start(guard, 20);
        ag_health_checker_start(l.hc);
        ag_loop_run(l.loop);
        ag_health_checker_free(l.hc);
        ag_timer_free(guard);
        ag_http_server_free(srv);
        ag_loop_free(l.loop);
        if (l.healthy != (cases[i].healthy ? 1 : 0) || l.reports != 1)
            AG_TEST_FAIL("HTTP %d: %d healthy of %d reports (%s)", code, l.healthy, l.reports,
                         l.last_message);
    }
}

struct redirect_server {
    int final_code;
};

static void redirect_handler(struct ag_http_req *req, void *arg)
{
    struct redirect_server *rs = arg;
    const char *path = ag_http_req_path(req);
    if (strcmp(path, "/old") == 0) {
        ag_http_req_add_header(req, "Location", "/dir/new");
        ag_http_reply(req, 301, "text/plain", "", 0);
    } else if (strcmp(path, "/dir/new") == 0) {
        ag_http_req_add_header(req, "Location", "final"); /* relative to /dir/ */
        ag_http_reply(req, 302, "text/plain", "", 0);
    } else if (strcmp(path, "/dir/final") == 0) {
        ag_http_reply(req, rs->final_code, "text/plain", "x", 1);
    } else if (strcmp(path, "/away") == 0) {
        ag_http_req_add_header(req, "Location", "http://example.com/elsewhere");
        ag_http_reply(req, 302, "text/plain", "", 0);
    } else if (strcmp(path, "/loop") == 0) {
        ag_http_req_add_header(req, "Location", "/loop");
        ag_http_reply(req, 307, "text/plain", "", 0);
    } else {
        ag_http_reply(req, 404, "text/plain", "", 0);
    }
}

/* One probe of `path` against the redirecting server; the log after it. */
static void redirect_probe(const char *path, int final_code, struct probe_log *l)
{
    struct redirect_server rs = {final_code};
    struct ag_health_policy p;
    struct ag_http_server *srv;
    struct ag_timer *guard;
    char text[256], err[256] = "";

    memset(l, 0, sizeof(*l));
    l->stop_after = 1;
    l->loop = ag_loop_new();
    srv = ag_http_server_new(l->loop, "127.0.0.1", 0, 0, err, sizeof(err));
    ASSERT_NOT_NULL(srv);
    ag_http_server_route_prefix(srv, "/", redirect_handler, &rs);
    snprintf(text, sizeof(text),
             "{\"type\":\"HTTP\",\"http\":{\"port\":%d,\"path\":\"%s\"},"
             "\"delay_seconds\":0,\"interval_seconds\":0.01,\"grace_period_seconds\":0}",
             ag_http_server_port(srv), path);
    ASSERT_EQ(parse(text, false, &p, err, sizeof(err)), 0);
    l->hc = ag_health_checker_new(l->loop, &p, &log_ops, l);
    ag_health_policy_release(&p);
    guard = ag_timer_new(l->loop, safety, l->loop);
    ag_timer_start(guard, 20);
    ag_health_checker_start(l->hc);
    ag_loop_run(l->loop);
    ag_health_checker_free(l->hc);
    ag_timer_free(guard);
    ag_http_server_free(srv);
    ag_loop_free(l->loop);
}

TEST(http_probe_follows_local_redirects)
{
    struct probe_log l;
    redirect_probe("/old", 503, &l);
    ASSERT_EQ(l.unhealthy, 1);
    ASSERT_TRUE(strstr(l.last_message, "/dir/final returned 503") != NULL);
    redirect_probe("/old", 200, &l);
    ASSERT_EQ(l.healthy, 1);
    ASSERT_TRUE(strstr(l.last_message, "/dir/final returned 200") != NULL);
    /* Never off the loopback: the 302 itself is the (healthy) answer. */
    redirect_probe("/away", 500, &l);
    ASSERT_EQ(l.healthy, 1);
    ASSERT_TRUE(strstr(l.last_message, "/away returned 302") != NULL);
    /* A loop ends after a few hops, on a 3xx. */
    redirect_probe("/loop", 500, &l);
    ASSERT_EQ(l.healthy, 1);
    ASSERT_TRUE(strstr(l.last_message, "/loop returned 307") != NULL);
}

TEST(command_probe_failures_kill_after_n)
{
    static const int statuses[] = {0, 1 << 8, 1 << 8, 1 << 8, 1 << 8};
    struct probe_log l;
    memset(&l, 0, sizeof(l));
    l.statuses = statuses;
    l.nstatuses = 5;
    l.stop_after = 4; /* healthy, then 3 unhealthy (the last one kills) */
    l.linger = 0.1;   /* and then nothing */
    run_checker(&l,
                "{\"type\":\"COMMAND\",\"command\":{\"value\":\"x\"},\"delay_seconds\":0,"
                "\"interval_seconds\":0.001,\"grace_period_seconds\":0}",
                false);
    ASSERT_EQ(l.healthy, 1);
    ASSERT_EQ(l.unhealthy, 3);
    ASSERT_EQ(l.kills, 1);
    ASSERT_EQ(l.started, 4); /* no probe after the kill */
    ASSERT_TRUE(strstr(l.last_message, "status 1") != NULL);
}

TEST(command_probe_timeout_cancels)
{
    static const int never[] = {-1};
    struct probe_log l;
    memset(&l, 0, sizeof(l));
    l.statuses = never;
    l.nstatuses = 1;
    l.stop_after = 1;
    run_checker(&l,
                "{\"type\":\"COMMAND\",\"command\":{\"value\":\"x\"},\"delay_seconds\":0,"
                "\"interval_seconds\":0.001,\"timeout_seconds\":0.01,"
                "\"grace_period_seconds\":0,\"consecutive_failures\":1}",
                false);
    ASSERT_EQ(l.kills, 1);
    ASSERT_EQ(l.cancelled, 1);
    ASSERT_TRUE(strstr(l.last_message, "timed out") != NULL);
}

TEST(check_reports_only_changes)
{
    static const int statuses[] = {3 << 8, 3 << 8, 3 << 8, 0};
    struct probe_log l;
    memset(&l, 0, sizeof(l));
    l.statuses = statuses;
    l.nstatuses = 4;
    l.stop_after = 2; /* exit 3 once, then exit 0 */
    run_checker(&l,
                "{\"type\":\"COMMAND\",\"command\":{\"command\":{\"value\":\"x\"}},"
                "\"delay_seconds\":0,\"interval_seconds\":0.001}",
                true);
    ASSERT_EQ(l.checks, 2);
    ASSERT_EQ(l.reports, 0);
    ASSERT_TRUE(l.started >= 4);
    ASSERT_EQ(
        json_integer_value(json_object_get(json_object_get(l.last_check, "command"), "exit_code")),
        0);
    ASSERT_STREQ(json_string_value(json_object_get(l.last_check, "type")), "COMMAND");
    json_decref(l.last_check);
}

/* A probe whose answer never comes, abandoned by freeing the checker and
 * then the loop: nothing leaks (ASan's leak check runs at exit) and
 * nothing is called back. */
TEST(http_probe_abandoned_in_flight)
{
    struct probe_log l;
    struct ag_health_policy p;
    struct ag_timer *guard;
    char text[256], err[256] = "";
    int port, fd = listener(&port); /* listens, never answers */

    ASSERT_TRUE(fd >= 0);
    memset(&l, 0, sizeof(l));
    l.stop_after = 1;
    l.loop = ag_loop_new();
    snprintf(text, sizeof(text),
             "{\"type\":\"HTTP\",\"http\":{\"port\":%d},\"delay_seconds\":0,"
             "\"timeout_seconds\":30,\"grace_period_seconds\":0}",
             port);
    ASSERT_EQ(parse(text, false, &p, err, sizeof(err)), 0);
    l.hc = ag_health_checker_new(l.loop, &p, &log_ops, &l);
    ag_health_policy_release(&p);
    guard = ag_timer_new(l.loop, safety, l.loop);
    ag_timer_start(guard, 0.3);
    ag_health_checker_start(l.hc);
    ag_loop_run(l.loop);
    ASSERT_EQ(l.reports, 0);
    ag_health_checker_free(l.hc);
    ag_timer_free(guard);
    ag_loop_free(l.loop);
    close(fd);
}

/* The same, but the loop goes on until the client's own timeout answers
 * the abandoned request: the answer must not reach the freed checker (ASan
 * would see the use after free). */
TEST(http_probe_answer_after_checker_freed)
{
    struct probe_log l;
    struct ag_health_policy p;
    struct ag_timer *guard;
    char text[256], err[256] = "";
    int port, fd = listener(&port);

    ASSERT_TRUE(fd >= 0);
    memset(&l, 0, sizeof(l));
    l.stop_after = 1;
    l.loop = ag_loop_new();
    snprintf(text, sizeof(text),
             "{\"type\":\"HTTP\",\"http\":{\"port\":%d},\"delay_seconds\":0,"
             "\"timeout_seconds\":0.2,\"grace_period_seconds\":0}",
             port);
    ASSERT_EQ(parse(text, false, &p, err, sizeof(err)), 0);
    l.hc = ag_health_checker_new(l.loop, &p, &log_ops, &l);
    ag_health_policy_release(&p);
    guard = ag_timer_new(l.loop, safety, l.loop);
    ag_timer_start(guard, 0.05);
    ag_health_checker_start(l.hc);
    ag_loop_run(l.loop);
    ag_health_checker_free(l.hc);
    ag_timer_start(guard, 2.0); /* past the client's timeout (0.2 + 1 s) */
    ag_loop_run(l.loop);
    ASSERT_EQ(l.reports, 0);
    ag_timer_free(guard);
    ag_loop_free(l.loop);
    close(fd);
}

TEST_MAIN(TEST_CASE(policy_defaults), TEST_CASE(policy_fields), TEST_CASE(check_info_shapes),
          TEST_CASE(policy_errors_name_the_field), TEST_CASE(first_success_reported_once),
          TEST_CASE(failures_in_grace_period_ignored_until_first_success),
          TEST_CASE(grace_period_ends_without_success), TEST_CASE(zero_grace_counts_every_failure),
          TEST_CASE(success_resets_consecutive_failures),
          TEST_CASE(tcp_probe_healthy_then_killed_when_closed), TEST_CASE(http_probe_status_ranges),
          TEST_CASE(http_probe_follows_local_redirects),
          TEST_CASE(command_probe_failures_kill_after_n), TEST_CASE(command_probe_timeout_cancels),
          TEST_CASE(check_reports_only_changes), TEST_CASE(http_probe_abandoned_in_flight),
          TEST_CASE(http_probe_answer_after_checker_freed))
