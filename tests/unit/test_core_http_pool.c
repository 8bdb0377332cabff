/*
 * Unit tests for the keep-alive connection pool of lib/core/http.c's
 * client: reuse (seen as the server's count of accepted connections), many
 * concurrent requests, the server closing an idle connection, a reused
 * connection closing under a request (idempotent methods are retried, POST
 * is not), timeouts in the queue and in flight, and a loop freed with
 * queued requests (ASan checks the teardown). Real sockets on 127.0.0.1;
 * no timing is asserted.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/http.h"
#include "core/loop.h"
#include "test.h"

struct ctx {
    struct ag_loop *loop;
    struct ag_http_server *server;
    struct ag_timer *slice;
    char base[64];
};

static void slice_cb(void *arg)
{
    ag_loop_stop(((struct ctx *)arg)->loop);
}

static void run_slice(struct ctx *c)
{
    ag_timer_start(c->slice, 0.01);
    ag_loop_run(c->loop);
    ag_timer_stop(c->slice);
}

/* Runs slices until cond holds, for at most about 20 s. */
#define SPIN_UNTIL(c, cond)                                                                        \
    for (int spin_ = 0; spin_ < 2000 && !(cond); spin_++)                                          \
    run_slice(c)

static void ctx_init(struct ctx *c)
{
    char err[256];

    memset(c, 0, sizeof(*c));
    c->loop = ag_loop_new();
    c->server = ag_http_server_new(c->loop, "127.0.0.1", 0, 0, err, sizeof(err));
    if (!c->server)
        fprintf(stderr, "server: %s\n", err);
    c->slice = ag_timer_new(c->loop, slice_cb, c);
    if (c->server)
        snprintf(c->base, sizeof(c->base), "http://127.0.0.1:%d", ag_http_server_port(c->server));
}

static void ctx_release(struct ctx *c)
{
    ag_http_server_free(c->server);
    ag_timer_free(c->slice);
    ag_loop_free(c->loop);
}

struct result {
    int calls;
    int code;
    char body[128];
    char error[200];
};

static void result_cb(const struct ag_http_response *resp, void *arg)
{
    struct result *r = arg;
    size_t len;
    const char *body = ag_http_response_body(resp, &len);

    r->calls++;
    r->code = ag_http_response_code(resp);
    snprintf(r->body, sizeof(r->body), "%.*s", (int)len, body);
    if (r->code == 0)
        snprintf(r->error, sizeof(r->error), "%s", ag_http_response_error(resp));
}

static int send_req(struct ctx *c, struct result *r, const char *method, const char *path,
                    const struct ag_http_header *headers, const char *body, double timeout)
{
    char url[256];

    memset(r, 0, sizeof(*r));
    snprintf(url, sizeof(url), "%s%s", c->base, path);
    return ag_http_request(c->loop, method, url, headers, body, body ? strlen(body) : 0, timeout,
                           result_cb, r);
}

/* Answers with the request's method, path and body. */
static void echo_handler(struct ag_http_req *req, void *arg)
{
    char out[256];
    size_t len;
    const char *body = ag_http_req_body(req, &len);
    int n;

    (void)arg;
    n = snprintf(out, sizeof(out), "%s %s %.*s",
                 ag_http_req_method(req) == AG_HTTP_POST ? "POST" : "GET", ag_http_req_path(req),
                 (int)len, body);
    ag_http_reply(req, 200, "text/plain", out, (size_t)n);
}

/* Holds requests unanswered. */
struct held {
    struct ag_http_req *reqs[64];
    int n;
};

static void hold_handler(struct ag_http_req *req, void *arg)
{
    struct held *h = arg;

    if (h->n < 64)
        h->reqs[h->n++] = req;
    else
        ag_http_reply(req, 503, NULL, NULL, 0);
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;

    if (!d)
        return -1;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

/* --- reuse ------------------------------------------------------------- */

TEST(sequential_requests_share_one_connection)
{
    struct ctx c;
    struct result r;

    ctx_init(&c);
    ASSERT_NOT_NULL(c.server);
    ag_http_server_route(c.server, "/echo", echo_handler, NULL);
    for (int i = 0; i < 50; i++) {
        char body[32];

        snprintf(body, sizeof(body), "n%d", i);
        ASSERT_EQ(send_req(&c, &r, i % 2 ? "POST" : "GET", "/echo", NULL, body, 5), 0);
        SPIN_UNTIL(&c, r.calls > 0);
        ASSERT_EQ(r.calls, 1);
        ASSERT_EQ(r.code, 200);
        char want[64];
        snprintf(want, sizeof(want), "%s /echo n%d", i % 2 ? "POST" : "GET", i);
        ASSERT_STREQ(r.body, want);
    }
    ASSERT_EQ(ag_http_server_connections(c.server), 1);
    ctx_release(&c);
}

TEST(many_concurrent_requests_on_a_few_connections)
{
    enum { N = 300 };
    struct ctx c;
    static struct result r[N];
    int done = 0;

    ctx_init(&c);
    ag_http_server_route(c.server, "/echo", echo_handler, NULL);
    for (int i = 0; i < N; i++) {
        char body[32];

        snprintf(body, sizeof(body), "n%d", i);
        ASSERT_EQ(send_req(&c, &r[i], "POST", "/echo", NULL, body, 20), 0);
    }
    for (int spin = 0; spin < 2000 && done < N; spin++) {
        run_slice(&c);
        done = 0;
        for (int i = 0; i < N; i++)
            done += r[i].calls;
    }
    ASSERT_EQ(done, N);
    for (int i = 0; i < N; i++) {
        char want[64];

        snprintf(want, sizeof(want), "POST /echo n%d", i);
        ASSERT_EQ(r[i].code, 200);
        ASSERT_STREQ(r[i].body, want);
    }
    /* The pool's size, not one connection per request. */
    ASSERT_TRUE(ag_http_server_connections(c.server) >= 1);
    ASSERT_TRUE(ag_http_server_connections(c.server) <= 8);
    ctx_release(&c);
}

TEST(connection_close_gets_its_own_connection)
{
    static const struct ag_http_header close_hdr[] = {{"Connection", "close"}, {NULL, NULL}};
    struct ctx c;
    struct result r;
    int fds;

    ctx_init(&c);
    ag_http_server_route(c.server, "/echo", echo_handler, NULL);
    fds = count_fds();
    for (int i = 0; i < 3; i++) {
        ASSERT_EQ(send_req(&c, &r, "GET", "/echo", close_hdr, NULL, 5), 0);
        SPIN_UNTIL(&c, r.calls > 0);
        ASSERT_EQ(r.code, 200);
    }
    ASSERT_EQ(ag_http_server_connections(c.server), 3);
    /* Nothing stays open. */
    SPIN_UNTIL(&c, count_fds() == fds);
    ASSERT_EQ(count_fds(), fds);
    ctx_release(&c);
}

/* Each answer sends the next request from inside the callback, on the
 * connection that just answered (and, at every tenth, a second one that
 * must open or wait for another): the pool must hand a connection on from
 * within libevent's callback safely. */
struct chain {
    struct ctx *c;
    int sent, answered, ok;
};

static void chain_cb(const struct ag_http_response *resp, void *arg);

static void chain_send(struct chain *ch)
{
    char url[128];

    snprintf(url, sizeof(url), "%s/echo", ch->c->base);
    if (ag_http_request(ch->c->loop, ch->sent % 2 ? "POST" : "GET", url, NULL, "x", 1, 5, chain_cb,
                        ch) == 0)
        ch->sent++;
}

static void chain_cb(const struct ag_http_response *resp, void *arg)
{
    struct chain *ch = arg;

    ch->answered++;
    if (ag_http_response_code(resp) == 200)
        ch->ok++;
    if (ch->sent < 200) {
        chain_send(ch);
        if (ch->sent % 10 == 0)
            chain_send(ch);
    }
}

TEST(requests_sent_from_inside_callbacks)
{
    struct ctx c;
    struct chain ch = {0};

    ctx_init(&c);
    ag_http_server_route(c.server, "/echo", echo_handler, NULL);
    ch.c = &c;
    chain_send(&ch);
    SPIN_UNTIL(&c, ch.sent >= 200 && ch.answered == ch.sent);
    ASSERT_TRUE(ch.sent >= 200);
    ASSERT_EQ(ch.answered, ch.sent);
    ASSERT_EQ(ch.ok, ch.sent);
    ASSERT_TRUE(ag_http_server_connections(c.server) <= 8);
    ctx_release(&c);
}

/* --- the server closes ------------------------------------------------- */

TEST(server_closes_idle_connection_then_next_request_reconnects)
{
    struct ctx c;
    struct result r;
    int fds;

    ctx_init(&c);
    ag_http_server_route(c.server, "/echo", echo_handler, NULL);
    ag_http_server_set_timeout(c.server, 0.2);
    fds = count_fds();
    ASSERT_EQ(send_req(&c, &r, "GET", "/echo", NULL, NULL, 5), 0);
    SPIN_UNTIL(&c, r.calls > 0);
    ASSERT_EQ(r.code, 200);
    ASSERT_EQ(count_fds(), fds + 2); /* both ends of the kept connection */
    /* The server closes it for idleness; the client notices and lets go. */
    SPIN_UNTIL(&c, count_fds() == fds);
    ASSERT_EQ(count_fds(), fds);
    ASSERT_EQ(send_req(&c, &r, "POST", "/echo", NULL, "again", 5), 0);
    SPIN_UNTIL(&c, r.calls > 0);
    ASSERT_EQ(r.code, 200);
    ASSERT_STREQ(r.body, "POST /echo again");
    ASSERT_EQ(ag_http_server_connections(c.server), 2);
    ctx_release(&c);
}

/* A plain-socket server in a thread: answers every request with keep-alive
 * except request number `drop_at` (counted from 1 over all connections),
 * whose connection it closes without answering, the way a server going
 * away mid-request looks. It logs "METHOD PATH" of every request. */
struct raw_server {
    int lfd;
    int port;
    int drop_at;
    int stop;
    pthread_t thread;
    pthread_mutex_t mu;
    char log[16][64];
    int n;
    int conns;
};

static int read_request(int fd, char *line, size_t linelen)
{
    char buf[4096];
    size_t have = 0;
    char *end;

    for (;;) {
        ssize_t n = read(fd, buf + have, sizeof(buf) - 1 - have);
        if (n <= 0)
            return -1;
        have += (size_t)n;
        buf[have] = '\0';
        end = strstr(buf, "\r\n\r\n");
        if (end)
            break;
    }
    /* Bodies here are small: read what Content-Length says is left. */
    const char *cl = strcasestr(buf, "Content-Length:");
    size_t body = cl ? (size_t)strtoul(cl + 15, NULL, 10) : 0;
    size_t got = have - (size_t)(end + 4 - buf);
    while (got < body) {
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        if (n <= 0)
            return -1;
        got += (size_t)n;
    }
    snprintf(line, linelen, "%.*s", (int)strcspn(buf, "\r"), buf);
    /* "GET /a HTTP/1.1" -> "GET /a" */
    char *sp = strrchr(line, ' ');
    if (sp)
        *sp = '\0';
    return 0;
}

static void *raw_server_main(void *arg)
{
    struct raw_server *s = arg;

    for (;;) {
        int fd = accept(s->lfd, NULL, NULL);
        if (fd < 0)
            return NULL;
        pthread_mutex_lock(&s->mu);
        if (s->stop) {
            pthread_mutex_unlock(&s->mu);
            close(fd);
            return NULL;
        }
        s->conns++;
        pthread_mutex_unlock(&s->mu);
        for (;;) {
            char line[64];
            static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
            int n;

            if (read_request(fd, line, sizeof(line)) < 0)
                break;
            pthread_mutex_lock(&s->mu);
            n = s->n < 16 ? s->n++ : s->n;
            snprintf(s->log[n], sizeof(s->log[n]), "%s", line);
            pthread_mutex_unlock(&s->mu);
            if (n + 1 == s->drop_at)
                break;
            if (write(fd, ok, sizeof(ok) - 1) < 0)
                break;
        }
        close(fd);
    }
}

static int raw_server_start(struct raw_server *s, int drop_at)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
    socklen_t len = sizeof(sa);

    memset(s, 0, sizeof(*s));
    s->drop_at = drop_at;
    pthread_mutex_init(&s->mu, NULL);
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    if (s->lfd < 0 || bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(s->lfd, 16) < 0 || getsockname(s->lfd, (struct sockaddr *)&sa, &len) < 0)
        return -1;
    s->port = ntohs(sa.sin_port);
    return pthread_create(&s->thread, NULL, raw_server_main, s) == 0 ? 0 : -1;
}

static void raw_server_stop(struct raw_server *s)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(0x7f000001),
                             .sin_port = htons((uint16_t)s->port)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    pthread_mutex_lock(&s->mu);
    s->stop = 1;
    pthread_mutex_unlock(&s->mu);
    /* Wakes accept() so the thread sees stop. */
    connect(fd, (struct sockaddr *)&sa, sizeof(sa));
    pthread_join(s->thread, NULL);
    close(fd);
    close(s->lfd);
    pthread_mutex_destroy(&s->mu);
}

static int raw_count(struct raw_server *s)
{
    int n;

    pthread_mutex_lock(&s->mu);
    n = s->n;
    pthread_mutex_unlock(&s->mu);
    return n;
}

static int raw_send(struct ctx *c, struct raw_server *s, struct result *r, const char *method,
                    const char *path)
{
    char url[128];

    memset(r, 0, sizeof(*r));
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", s->port, path);
    return ag_http_request(c->loop, method, url, NULL, strcmp(method, "POST") == 0 ? "x" : NULL,
                           strcmp(method, "POST") == 0 ? 1 : 0, 10, result_cb, r);
}

TEST(get_is_retried_when_a_reused_connection_closes)
{
    struct ctx c;
    struct raw_server s;
    struct result r;

    ctx_init(&c);
    ASSERT_EQ(raw_server_start(&s, 2), 0);
    ASSERT_EQ(raw_send(&c, &s, &r, "GET", "/a"), 0);
    SPIN_UNTIL(&c, r.calls > 0);
    ASSERT_EQ(r.code, 200);
    /* Sent on the kept connection, which closes unanswered: sent again on a
     * new one, answered there. */
    ASSERT_EQ(raw_send(&c, &s, &r, "GET", "/b"), 0);
    SPIN_UNTIL(&c, r.calls > 0);
    ASSERT_EQ(r.calls, 1);
    ASSERT_EQ(r.code, 200);
    ASSERT_STREQ(r.body, "ok");
    ASSERT_EQ(raw_count(&s), 3);
    ASSERT_STREQ(s.log[1], "GET /b");
    ASSERT_STREQ(s.log[2], "GET /b");
    ASSERT_EQ(s.conns, 2);
    ag_timer_free(c.slice);
    ag_http_server_free(c.server);
    ag_loop_free(c.loop);
    raw_server_stop(&s);
}

TEST(post_is_not_resent_when_a_reused_connection_closes)
{
    struct ctx c;
    struct raw_server s;
    struct result r;

    ctx_init(&c);
    ASSERT_EQ(raw_server_start(&s, 2), 0);
    ASSERT_EQ(raw_send(&c, &s, &r, "GET", "/a"), 0);
    SPIN_UNTIL(&c, r.calls > 0);
    ASSERT_EQ(r.code, 200);
    ASSERT_EQ(raw_send(&c, &s, &r, "POST", "/b"), 0);
    SPIN_UNTIL(&c, r.calls > 0);
    ASSERT_EQ(r.calls, 1);
    ASSERT_EQ(r.code, 0);
    ASSERT_TRUE(strlen(r.error) > 0);
    /* The next request goes out on a new connection; had the POST been
     * resent, it would come first. */
    ASSERT_EQ(raw_send(&c, &s, &r, "GET", "/c"), 0);
    SPIN_UNTIL(&c, r.calls > 0);
    ASSERT_EQ(r.code, 200);
    ASSERT_EQ(raw_count(&s), 3);
    ASSERT_STREQ(s.log[0], "GET /a");
    ASSERT_STREQ(s.log[1], "POST /b");
    ASSERT_STREQ(s.log[2], "GET /c");
    ag_timer_free(c.slice);
    ag_http_server_free(c.server);
    ag_loop_free(c.loop);
    raw_server_stop(&s);
}

/* --- timeouts and teardown --------------------------------------------- */

TEST(timeouts_in_flight_and_in_queue_leave_the_pool_working)
{
    struct ctx c;
    struct held h = {0};
    struct result hang[8], queued_short, queued_long;

    ctx_init(&c);
    ag_http_server_route(c.server, "/hang", hold_handler, &h);
    ag_http_server_route(c.server, "/echo", echo_handler, NULL);
    /* Eight held requests fill the pool; the next two wait in its queue. */
    for (int i = 0; i < 8; i++)
        ASSERT_EQ(send_req(&c, &hang[i], "GET", "/hang", NULL, NULL, 0.5), 0);
    ASSERT_EQ(send_req(&c, &queued_short, "GET", "/echo", NULL, NULL, 0.1), 0);
    ASSERT_EQ(send_req(&c, &queued_long, "POST", "/echo", NULL, "late", 20), 0);
    SPIN_UNTIL(&c, h.n == 8);
    ASSERT_EQ(h.n, 8);
    /* The short one times out while still queued. */
    SPIN_UNTIL(&c, queued_short.calls > 0);
    ASSERT_EQ(queued_short.code, 0);
    ASSERT_NOT_NULL(strstr(queued_short.error, "timed out"));
    ASSERT_EQ(queued_long.calls, 0);
    /* The held ones time out; their connections are replaced and the
     * queued request goes through. */
    SPIN_UNTIL(&c, queued_long.calls > 0);
    for (int i = 0; i < 8; i++) {
        ASSERT_EQ(hang[i].calls, 1);
        ASSERT_EQ(hang[i].code, 0);
    }
    ASSERT_EQ(queued_long.code, 200);
    ASSERT_STREQ(queued_long.body, "POST /echo late");
    for (int i = 0; i < h.n; i++)
        ag_http_reply(h.reqs[i], 200, NULL, NULL, 0); /* clients gone: only frees */
    ctx_release(&c);
}

TEST(loop_freed_with_queued_and_pending_requests)
{
    struct ctx c;
    struct held h = {0};
    static struct result r[20];

    ctx_init(&c);
    ag_http_server_route(c.server, "/hang", hold_handler, &h);
    for (int i = 0; i < 20; i++)
        ASSERT_EQ(send_req(&c, &r[i], "GET", "/hang", NULL, NULL, 0), 0);
    SPIN_UNTIL(&c, h.n == 8);
    ASSERT_EQ(h.n, 8);
    ag_http_server_free(c.server);
    c.server = NULL;
    for (int i = 0; i < h.n; i++)
        ag_http_reply(h.reqs[i], 200, NULL, NULL, 0);
    ag_timer_free(c.slice);
    /* Requests whose callbacks are pending or queued are released without
     * callbacks; ASan reports anything leaked or touched after free. */
    ag_loop_free(c.loop);
    for (int i = 0; i < 20; i++)
        ASSERT_EQ(r[i].calls, 0);
}

TEST_MAIN(TEST_CASE(sequential_requests_share_one_connection),
          TEST_CASE(many_concurrent_requests_on_a_few_connections),
          TEST_CASE(connection_close_gets_its_own_connection),
          TEST_CASE(requests_sent_from_inside_callbacks),
          TEST_CASE(server_closes_idle_connection_then_next_request_reconnects),
          TEST_CASE(get_is_retried_when_a_reused_connection_closes),
          TEST_CASE(post_is_not_resent_when_a_reused_connection_closes),
          TEST_CASE(timeouts_in_flight_and_in_queue_leave_the_pool_working),
          TEST_CASE(loop_freed_with_queued_and_pending_requests))
