/*
 * Unit tests for lib/core/http.c: a server and a client on 127.0.0.1 in
 * one loop. Each test runs the loop until its client side has seen what it
 * waits for; a guard timer stops a hung test (it then fails on its counts,
 * never on elapsed time). ASan turns any use-after-free or leak in the
 * connection teardown paths into a failure.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <dirent.h>
#include <unistd.h>

#include <jansson.h>

#include "core/http.h"
#include "core/loop.h"
#include "core/recordio.h"
#include "test.h"

/* --- harness ---------------------------------------------------------- */

struct ctx {
    struct ag_loop *loop;
    struct ag_http_server *server;
    struct ag_timer *guard;
    struct ag_timer *slice;
    char base[64]; /* "http://127.0.0.1:PORT" */
    int want;      /* completions to wait for */
    int got;
    bool timed_out;
};

static void guard_cb(void *arg)
{
    struct ctx *c = arg;

    c->timed_out = true;
    ag_loop_stop(c->loop);
}

static void slice_cb(void *arg)
{
    struct ctx *c = arg;

    ag_loop_stop(c->loop);
}

/* Runs the loop for a short slice (or until a completion stops it). */
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

static void ctx_init(struct ctx *c, size_t max_body)
{
    char err[256];

    memset(c, 0, sizeof(*c));
    c->loop = ag_loop_new();
    c->server = ag_http_server_new(c->loop, "127.0.0.1", 0, max_body, err, sizeof(err));
    if (!c->server)
        fprintf(stderr, "server: %s\n", err);
    c->guard = ag_timer_new(c->loop, guard_cb, c);
    c->slice = ag_timer_new(c->loop, slice_cb, c);
    if (c->server)
        snprintf(c->base, sizeof(c->base), "http://127.0.0.1:%d", ag_http_server_port(c->server));
}

static void ctx_url(const struct ctx *c, char *buf, size_t len, const char *path)
{
    snprintf(buf, len, "%s%s", c->base, path);
}

/* Runs until `want` completions were counted (or the guard fires). */
static void ctx_run(struct ctx *c, int want)
{
    c->want = want;
    if (c->got >= want)
        return;
    ag_timer_start(c->guard, 20);
    ag_loop_run(c->loop);
    ag_timer_stop(c->guard);
}

static void ctx_done(struct ctx *c)
{
    if (++c->got >= c->want)
        ag_loop_stop(c->loop);
}

static void ctx_release(struct ctx *c)
{
    ag_http_server_free(c->server);
    ag_timer_free(c->guard);
    ag_timer_free(c->slice);
    /* Let deferred frees of client connections run. */
    ag_loop_run(c->loop);
    ag_loop_free(c->loop);
}

/* A one-shot response, copied out of the callback. */
struct result {
    struct ctx *c;
    int code;
    char *body;
    size_t len;
    char ctype[64];
    char clen[32];
    char error[200];
    int calls;
};

static void result_cb(const struct ag_http_response *resp, void *arg)
{
    struct result *r = arg;
    const char *ct = ag_http_response_header(resp, "content-type");
    const char *body = ag_http_response_body(resp, &r->len);

    r->calls++;
    r->code = ag_http_response_code(resp);
    r->body = malloc(r->len + 1);
    memcpy(r->body, body, r->len + 1);
    snprintf(r->ctype, sizeof(r->ctype), "%s", ct ? ct : "");
    ct = ag_http_response_header(resp, "Content-Length");
    snprintf(r->clen, sizeof(r->clen), "%s", ct ? ct : "");
    if (r->code == 0)
        snprintf(r->error, sizeof(r->error), "%s", ag_http_response_error(resp));
    else if (ag_http_response_error(resp) != NULL)
        snprintf(r->error, sizeof(r->error), "unexpected error text");
    ctx_done(r->c);
}

static void result_release(struct result *r)
{
    free(r->body);
    r->body = NULL;
}

static int request(struct ctx *c, struct result *r, const char *method, const char *path,
                   const struct ag_http_header *headers, const char *body, size_t len,
                   double timeout)
{
    char url[256];

    memset(r, 0, sizeof(*r));
    r->c = c;
    ctx_url(c, url, sizeof(url), path);
    return ag_http_request(c->loop, method, url, headers, body, len, timeout, result_cb, r);
}

/* Open descriptors of this process: a leaked socket is invisible to ASan. */
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

/* --- handlers ---------------------------------------------------------- */

static const char *method_name(enum ag_http_method m)
{
    switch (m) {
    case AG_HTTP_GET:
        return "GET";
    case AG_HTTP_POST:
        return "POST";
    case AG_HTTP_PUT:
        return "PUT";
    case AG_HTTP_DELETE:
        return "DELETE";
    case AG_HTTP_HEAD:
        return "HEAD";
    default:
        return "OTHER";
    }
}

static void echo_handler(struct ag_http_req *req, void *arg)
{
    size_t len;
    const char *body = ag_http_req_body(req, &len);
    const char *a = ag_http_req_query(req, "a");
    const char *h = ag_http_req_header(req, "x-agora-test");
    json_t *out;

    out = json_pack("{s:s, s:s, s:s?, s:s?, s:s%, s:I, s:s, s:s}", "method",
                    method_name(ag_http_req_method(req)), "path", ag_http_req_path(req), "a", a,
                    "header", h, "body", body, len, "len", (json_int_t)len, "peer",
                    ag_http_req_peer(req), "tag", (const char *)arg);
    ag_http_req_add_header(req, "X-Reply", "yes");
    ag_http_reply_json(req, 200, out);
}

static void error_handler(struct ag_http_req *req, void *arg)
{
    (void)arg;
    ag_http_reply_error(req, 400, "field '%s' is %d too big", "cpus", 3);
}

static void plain_handler(struct ag_http_req *req, void *arg)
{
    ag_http_reply(req, 200, "text/plain", arg, strlen(arg));
}

/* --- tests: requests ------------------------------------------------------ */

TEST(get_and_post_round_trip)
{
    struct ctx c;
    struct result get, post;
    struct ag_http_header hdrs[] = {{"X-Agora-Test", "hello"}, {NULL, NULL}};
    json_t *j;

    ctx_init(&c, 0);
    ASSERT_NOT_NULL(c.server);
    ASSERT_EQ(ag_http_server_route(c.server, "/echo", echo_handler, (void *)"exact"), 0);
    ASSERT_EQ(request(&c, &get, "GET", "/echo?a=one%20two&b=2", hdrs, NULL, 0, 5), 0);
    ASSERT_EQ(request(&c, &post, "POST", "/echo", NULL, "{\"x\":1}", 7, 5), 0);
    ASSERT_EQ(get.calls + post.calls, 0); /* never from inside the call */
    ctx_run(&c, 2);
    ASSERT_FALSE(c.timed_out);

    ASSERT_EQ(get.code, 200);
    ASSERT_STREQ(get.ctype, "application/json");
    j = json_loads(get.body, 0, NULL);
    ASSERT_NOT_NULL(j);
    ASSERT_STREQ(json_string_value(json_object_get(j, "method")), "GET");
    ASSERT_STREQ(json_string_value(json_object_get(j, "path")), "/echo");
    ASSERT_STREQ(json_string_value(json_object_get(j, "a")), "one two");
    ASSERT_STREQ(json_string_value(json_object_get(j, "header")), "hello");
    ASSERT_STREQ(json_string_value(json_object_get(j, "body")), "");
    ASSERT_TRUE(strncmp(json_string_value(json_object_get(j, "peer")), "127.0.0.1:", 10) == 0);
    json_decref(j);

    ASSERT_EQ(post.code, 200);
    j = json_loads(post.body, 0, NULL);
    ASSERT_NOT_NULL(j);
    ASSERT_STREQ(json_string_value(json_object_get(j, "method")), "POST");
    ASSERT_STREQ(json_string_value(json_object_get(j, "body")), "{\"x\":1}");
    ASSERT_EQ(json_integer_value(json_object_get(j, "len")), 7);
    ASSERT_TRUE(json_object_get(j, "a") == NULL || json_is_null(json_object_get(j, "a")));
    json_decref(j);
    result_release(&get);
    result_release(&post);
    ctx_release(&c);
}

TEST(unknown_path_is_404_with_message)
{
    struct ctx c;
    struct result r;

    ctx_init(&c, 0);
    ag_http_server_route(c.server, "/echo", echo_handler, (void *)"exact");
    ASSERT_EQ(request(&c, &r, "GET", "/nope/x%20y", NULL, NULL, 0, 5), 0);
    ctx_run(&c, 1);
    ASSERT_EQ(r.code, 404);
    ASSERT_STREQ(r.ctype, "text/plain");
    ASSERT_NOT_NULL(strstr(r.body, "/nope/x y"));
    result_release(&r);
    ctx_release(&c);
}

TEST(exact_beats_prefix_and_longest_prefix_wins)
{
    struct ctx c;
    struct result r[5];

    ctx_init(&c, 0);
    ag_http_server_route_prefix(c.server, "/files", plain_handler, (void *)"short");
    ag_http_server_route_prefix(c.server, "/files/browse", plain_handler, (void *)"long");
    ag_http_server_route(c.server, "/files/browse/x", plain_handler, (void *)"exact");
    ag_http_server_route(c.server, "/dup", plain_handler, (void *)"first");
    ag_http_server_route(c.server, "/dup", plain_handler, (void *)"second");
    ASSERT_EQ(ag_http_server_route(c.server, "nope", plain_handler, NULL), -EINVAL);
    request(&c, &r[0], "GET", "/files/read?path=x", NULL, NULL, 0, 5);
    request(&c, &r[1], "GET", "/files/browse/y", NULL, NULL, 0, 5);
    request(&c, &r[2], "GET", "/files/browse/x", NULL, NULL, 0, 5);
    request(&c, &r[3], "GET", "/dup", NULL, NULL, 0, 5);
    request(&c, &r[4], "GET", "/fil", NULL, NULL, 0, 5);
    ctx_run(&c, 5);
    ASSERT_STREQ(r[0].body, "short");
    ASSERT_STREQ(r[1].body, "long");
    ASSERT_STREQ(r[2].body, "exact");
    ASSERT_STREQ(r[3].body, "second");
    ASSERT_EQ(r[4].code, 404);
    for (int i = 0; i < 5; i++)
        result_release(&r[i]);
    ctx_release(&c);
}

TEST(oversized_body_is_413)
{
    struct ctx c;
    struct result big, ok;
    size_t len = 64 * 1024;
    char *body = malloc(len);

    memset(body, 'x', len);
    ctx_init(&c, 1024);
    ag_http_server_route(c.server, "/echo", echo_handler, (void *)"exact");
    ASSERT_EQ(request(&c, &big, "POST", "/echo", NULL, body, len, 5), 0);
    ASSERT_EQ(request(&c, &ok, "POST", "/echo", NULL, body, 1000, 5), 0);
    ctx_run(&c, 2);
    ASSERT_EQ(big.code, 413);
    ASSERT_EQ(ok.code, 200);
    free(body);
    result_release(&big);
    result_release(&ok);
    ctx_release(&c);
}

TEST(head_has_no_body)
{
    struct ctx c;
    struct result r;

    ctx_init(&c, 0);
    ag_http_server_route(c.server, "/plain", plain_handler, (void *)"some text");
    ASSERT_EQ(request(&c, &r, "HEAD", "/plain", NULL, NULL, 0, 5), 0);
    ctx_run(&c, 1);
    ASSERT_EQ(r.code, 200);
    ASSERT_EQ(r.len, 0);
    ASSERT_STREQ(r.clen, "9"); /* the length of the GET body, none sent */
    result_release(&r);
    ctx_release(&c);
}

TEST(errors_and_jsonp)
{
    struct ctx c;
    struct result err, jsonp, bad;

    ctx_init(&c, 0);
    ag_http_server_route(c.server, "/error", error_handler, NULL);
    ag_http_server_route(c.server, "/echo", echo_handler, (void *)"j");
    request(&c, &err, "GET", "/error", NULL, NULL, 0, 5);
    request(&c, &jsonp, "GET", "/echo?jsonp=my.cb_1", NULL, NULL, 0, 5);
    request(&c, &bad, "GET", "/echo?jsonp=alert(1)", NULL, NULL, 0, 5);
    ctx_run(&c, 3);
    ASSERT_EQ(err.code, 400);
    ASSERT_STREQ(err.ctype, "text/plain");
    ASSERT_STREQ(err.body, "field 'cpus' is 3 too big");
    ASSERT_EQ(jsonp.code, 200);
    ASSERT_STREQ(jsonp.ctype, "text/javascript");
    ASSERT_TRUE(strncmp(jsonp.body, "my.cb_1({", 9) == 0);
    ASSERT_TRUE(strcmp(jsonp.body + jsonp.len - 2, ");") == 0);
    ASSERT_EQ(bad.code, 400);
    result_release(&err);
    result_release(&jsonp);
    result_release(&bad);
    ctx_release(&c);
}

/* A handler that answers later, from a timer. */
struct held {
    struct ctx *c;
    struct ag_http_req *req;
    struct ag_http_req *all[4];
    struct ag_timer *timer;
    int seen;
};

static void held_reply_cb(void *arg)
{
    struct held *h = arg;

    ag_http_reply(h->req, 202, "text/plain", "later", 5);
    h->req = NULL;
}

static void hold_handler(struct ag_http_req *req, void *arg)
{
    struct held *h = arg;

    h->req = req;
    h->all[h->seen++ % 4] = req;
    if (h->timer)
        ag_timer_start(h->timer, 0.01);
}

TEST(handler_answers_later)
{
    struct ctx c;
    struct result r;
    struct held h = {0};

    ctx_init(&c, 0);
    h.c = &c;
    h.timer = ag_timer_new(c.loop, held_reply_cb, &h);
    ag_http_server_route(c.server, "/later", hold_handler, &h);
    request(&c, &r, "GET", "/later", NULL, NULL, 0, 5);
    ctx_run(&c, 1);
    ASSERT_EQ(r.code, 202);
    ASSERT_STREQ(r.body, "later");
    ag_timer_free(h.timer);
    result_release(&r);
    ctx_release(&c);
}

TEST(timeout_reports_code_0)
{
    struct ctx c;
    struct result r;
    struct held h = {0};

    ctx_init(&c, 0);
    ag_http_server_route(c.server, "/hang", hold_handler, &h);
    ASSERT_EQ(request(&c, &r, "GET", "/hang", NULL, NULL, 0, 0.2), 0);
    ctx_run(&c, 1);
    ASSERT_FALSE(c.timed_out);
    ASSERT_EQ(r.calls, 1);
    ASSERT_EQ(r.code, 0);
    ASSERT_NOT_NULL(strstr(r.error, "timed out"));
    ASSERT_EQ(h.seen, 1);
    /* The client is gone; answering must still be safe. */
    ag_http_reply_json(h.req, 200, json_object());
    result_release(&r);
    ctx_release(&c);
}

TEST(server_freed_with_a_request_held)
{
    struct ctx c;
    struct result r;
    struct held h = {0};

    ctx_init(&c, 0);
    ag_http_server_route(c.server, "/hang", hold_handler, &h);
    request(&c, &r, "GET", "/hang", NULL, NULL, 0, 5);
    SPIN_UNTIL(&c, h.seen == 1);
    ASSERT_EQ(h.seen, 1);
    ag_http_server_free(c.server);
    c.server = NULL;
    ASSERT_NULL(ag_http_req_header(h.req, "host")); /* gone */
    ASSERT_STREQ(ag_http_req_path(h.req), "/hang");
    ag_http_reply_error(h.req, 500, "too late"); /* only frees it */
    ctx_run(&c, 1);
    ASSERT_EQ(r.calls, 1);
    ASSERT_EQ(r.code, 0);
    result_release(&r);
    ctx_release(&c);
}

static int closed_port(void)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
    socklen_t len = sizeof(sin);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;

    bind(fd, (struct sockaddr *)&sin, sizeof(sin));
    getsockname(fd, (struct sockaddr *)&sin, &len);
    port = ntohs(sin.sin_port);
    close(fd); /* bound, never listened: nothing accepts there */
    return port;
}

TEST(connect_failure_reports_code_0)
{
    struct ctx c;
    struct result r;
    char url[64];

    ctx_init(&c, 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", closed_port());
    memset(&r, 0, sizeof(r));
    r.c = &c;
    ASSERT_EQ(ag_http_request(c.loop, "GET", url, NULL, NULL, 0, 5, result_cb, &r), 0);
    ASSERT_EQ(r.calls, 0);
    ctx_run(&c, 1);
    ASSERT_EQ(r.calls, 1);
    ASSERT_EQ(r.code, 0);
    ASSERT_TRUE(strlen(r.error) > 0);
    result_release(&r);
    ctx_release(&c);
}

TEST(bad_requests_rejected)
{
    struct ctx c;
    struct result r;

    ctx_init(&c, 0);
    ASSERT_EQ(ag_http_request(c.loop, "GET", "ftp://x/", NULL, NULL, 0, 1, result_cb, &r), -EINVAL);
    ASSERT_EQ(
        ag_http_request(c.loop, "FETCH", "http://127.0.0.1:1/", NULL, NULL, 0, 1, result_cb, &r),
        -EINVAL);
    ASSERT_NULL(ag_http_client_stream_open(c.loop, "http://:80/", NULL, NULL, 0,
                                           &(struct ag_http_client_stream_ops){0}, NULL));
    ctx_release(&c);
}

TEST(parse_url)
{
    char *host, *path;
    int port;

    ASSERT_EQ(ag_http_parse_url("http://127.0.0.1:5050/api/v1?x=1#frag", &host, &port, &path), 0);
    ASSERT_STREQ(host, "127.0.0.1");
    ASSERT_EQ(port, 5050);
    ASSERT_STREQ(path, "/api/v1?x=1");
    free(host);
    free(path);
    ASSERT_EQ(ag_http_parse_url("HTTP://master.example", &host, &port, &path), 0);
    ASSERT_STREQ(host, "master.example");
    ASSERT_EQ(port, 80);
    ASSERT_STREQ(path, "/");
    free(host);
    free(path);
    ASSERT_EQ(ag_http_parse_url("http://[::1]:8080?q", &host, &port, &path), 0);
    ASSERT_STREQ(host, "::1");
    ASSERT_EQ(port, 8080);
    ASSERT_STREQ(path, "/?q");
    free(host);
    free(path);
    ASSERT_EQ(ag_http_parse_url("https://x/", &host, &port, &path), -EINVAL);
    ASSERT_EQ(ag_http_parse_url("http://x:0/", &host, &port, &path), -EINVAL);
    ASSERT_EQ(ag_http_parse_url("http://x:65536/", &host, &port, &path), -EINVAL);
    ASSERT_EQ(ag_http_parse_url("http://x:99999999999999/", &host, &port, &path), -EINVAL);
    ASSERT_EQ(ag_http_parse_url("http://x:/", &host, &port, &path), -EINVAL);
    ASSERT_EQ(ag_http_parse_url("http:///path", &host, &port, &path), -EINVAL);
    ASSERT_EQ(ag_http_parse_url("http://user@x/", &host, &port, &path), -EINVAL);
    ASSERT_EQ(ag_http_parse_url("http://x/a b", &host, &port, &path), -EINVAL);
    ASSERT_EQ(ag_http_parse_url("http://[::1/", &host, &port, &path), -EINVAL);
    ASSERT_EQ(ag_http_parse_url(NULL, &host, &port, &path), -EINVAL);
}

/* --- tests: streams ---------------------------------------------------- */

struct server_stream {
    struct ctx *c;
    struct ag_http_stream *stream;
    struct ag_timer *timer;
    int to_send; /* records in total; the stream ends after them if end */
    int sent;
    int per_tick; /* records per timer tick */
    bool end;
    int closed; /* the close callback ran */
    int started;
    bool urgent;    /* served at the loop's urgent priority */
    int urgent_err; /* what ag_http_stream_set_urgent returned */
};

static void server_stream_closed(struct ag_http_stream *stream, void *arg)
{
    struct server_stream *ss = arg;

    (void)stream;
    ss->closed++;
    ss->stream = NULL;
    ag_timer_stop(ss->timer);
    /* Ending from inside the close callback must be harmless. */
    ag_http_stream_end(stream);
}

static void server_stream_tick(void *arg)
{
    struct server_stream *ss = arg;
    char rec[64];

    for (int i = 0; i < ss->per_tick && ss->sent < ss->to_send && ss->stream; i++) {
        int n = snprintf(rec, sizeof(rec), "{\"seq\":%d}", ss->sent);

        if (ss->sent % 3 == 1) {
            ag_http_stream_send_record(ss->stream, rec, (size_t)n);
        } else if (ss->sent % 3 == 2) {
            /* The same record from pieces: prefix, number, suffix. */
            const struct ag_http_piece pieces[] = {
                {rec, 7}, {rec + 7, (size_t)n - 8}, {rec + n - 1, 1}};
            ag_http_stream_send_pieces(ss->stream, pieces, 3);
        } else {
            json_t *j = json_pack("{s:i}", "seq", ss->sent);

            ag_http_stream_send_json(ss->stream, j);
            json_decref(j);
        }
        ss->sent++;
    }
    if (!ss->stream)
        return;
    if (ss->sent >= ss->to_send && ss->end) {
        ag_http_stream_end(ss->stream);
        ss->stream = NULL;
        return;
    }
    if (ss->sent < ss->to_send || !ss->end)
        ag_timer_start(ss->timer, 0.001);
}

static void stream_handler(struct ag_http_req *req, void *arg)
{
    struct server_stream *ss = arg;

    ss->started++;
    ss->stream = ag_http_stream_start(req, 200, "application/recordio", server_stream_closed, ss);
    if (!ss->stream)
        return;
    ag_http_stream_set_data(ss->stream, ss);
    if (ss->urgent)
        ss->urgent_err = ag_http_stream_set_urgent(ss->stream);
    if (ss->per_tick > 0)
        ag_timer_start(ss->timer, 0);
}

struct reader {
    struct ctx *c;
    struct ag_http_client_stream *s;
    struct ag_recordio_decoder dec;
    int code;
    char ctype[64];
    int opened;
    int records;
    int bad_seq;
    int closed;
    char reason[200];
    int close_after; /* user-close after this many records (0: never) */
    bool close_in_open;
    bool close_in_closed;
    char body[256]; /* non-record bodies (error responses) */
    size_t body_len;
};

static int reader_record(const char *data, size_t len, void *arg)
{
    struct reader *rd = arg;
    json_t *j = json_loadb(data, len, 0, NULL);

    if (!j || json_integer_value(json_object_get(j, "seq")) != rd->records)
        rd->bad_seq++;
    json_decref(j);
    rd->records++;
    return 0;
}

static void reader_open(struct ag_http_client_stream *s, const struct ag_http_response *resp,
                        void *arg)
{
    struct reader *rd = arg;
    const char *ct = ag_http_response_header(resp, "Content-Type");

    rd->opened++;
    rd->code = ag_http_response_code(resp);
    snprintf(rd->ctype, sizeof(rd->ctype), "%s", ct ? ct : "");
    if (rd->close_in_open) {
        ag_http_client_stream_close(s);
        ag_http_client_stream_close(s); /* twice: harmless */
        rd->s = NULL;
        ctx_done(rd->c);
    }
}

static void reader_data(struct ag_http_client_stream *s, const char *data, size_t len, void *arg)
{
    struct reader *rd = arg;

    if (rd->code != 200) {
        size_t n =
            len < sizeof(rd->body) - 1 - rd->body_len ? len : sizeof(rd->body) - 1 - rd->body_len;
        memcpy(rd->body + rd->body_len, data, n);
        rd->body_len += n;
        return;
    }
    ag_recordio_feed(&rd->dec, data, len, reader_record, rd);
    if (rd->close_after && rd->records >= rd->close_after && rd->s) {
        /* Closing from inside the data callback. */
        ag_http_client_stream_close(s);
        rd->s = NULL;
        ctx_done(rd->c);
    }
}

static void reader_closed(struct ag_http_client_stream *s, const char *reason, void *arg)
{
    struct reader *rd = arg;

    rd->closed++;
    snprintf(rd->reason, sizeof(rd->reason), "%s", reason);
    if (rd->close_in_closed)
        ag_http_client_stream_close(s);
    rd->s = NULL;
    ctx_done(rd->c);
}

static const struct ag_http_client_stream_ops reader_ops = {
    .on_open = reader_open,
    .on_data = reader_data,
    .on_closed = reader_closed,
};

static void reader_open_stream(struct ctx *c, struct reader *rd, const char *path, const char *body)
{
    char url[256];

    rd->c = c;
    ag_recordio_decoder_init(&rd->dec, 0);
    ctx_url(c, url, sizeof(url), path);
    rd->s = ag_http_client_stream_open(c->loop, url, NULL, body, body ? strlen(body) : 0,
                                       &reader_ops, rd);
}

static void server_stream_init(struct ctx *c, struct server_stream *ss, int to_send, int per_tick,
                               bool end)
{
    memset(ss, 0, sizeof(*ss));
    ss->c = c;
    ss->to_send = to_send;
    ss->per_tick = per_tick;
    ss->end = end;
    ss->timer = ag_timer_new(c->loop, server_stream_tick, ss);
}

TEST(stream_of_many_records_ended_by_server)
{
    struct ctx c;
    struct server_stream ss;
    struct reader rd = {0};

    ctx_init(&c, 0);
    server_stream_init(&c, &ss, 3000, 100, true);
    ag_http_server_route(c.server, "/api/v1/stream", stream_handler, &ss);
    reader_open_stream(&c, &rd, "/api/v1/stream", "{\"type\":\"SUBSCRIBE\"}");
    ASSERT_NOT_NULL(rd.s);
    ctx_run(&c, 1);
    ASSERT_FALSE(c.timed_out);
    ASSERT_EQ(rd.opened, 1);
    ASSERT_EQ(rd.code, 200);
    ASSERT_STREQ(rd.ctype, "application/recordio");
    ASSERT_EQ(rd.records, 3000);
    ASSERT_EQ(rd.bad_seq, 0);
    ASSERT_EQ(rd.closed, 1);
    ASSERT_NOT_NULL(strstr(rd.reason, "ended"));
    ASSERT_EQ(ss.closed, 0); /* ended by the server: no close callback */
    ag_recordio_decoder_release(&rd.dec);
    ag_timer_free(ss.timer);
    ctx_release(&c);
}

/* An urgent stream still carries every record, in order, while the timer
 * that queues them runs at the ordinary priority. */
TEST(urgent_stream_keeps_order)
{
    struct ctx c;
    struct server_stream ss;
    struct reader rd = {0};

    ctx_init(&c, 0);
    server_stream_init(&c, &ss, 3000, 100, true);
    ss.urgent = true;
    ss.urgent_err = 1;
    ag_http_server_route(c.server, "/api/v1/stream", stream_handler, &ss);
    reader_open_stream(&c, &rd, "/api/v1/stream", "{\"type\":\"SUBSCRIBE\"}");
    ASSERT_NOT_NULL(rd.s);
    ctx_run(&c, 1);
    ASSERT_FALSE(c.timed_out);
    ASSERT_EQ(ss.urgent_err, 0);
    ASSERT_EQ(rd.records, 3000);
    ASSERT_EQ(rd.bad_seq, 0);
    ASSERT_EQ(rd.closed, 1);
    ag_recordio_decoder_release(&rd.dec);
    ag_timer_free(ss.timer);
    ctx_release(&c);
}

TEST(client_closes_inside_data_callback)
{
    struct ctx c;
    struct server_stream ss;
    struct reader rd = {0};

    ctx_init(&c, 0);
    server_stream_init(&c, &ss, 1000000, 5, false);
    ag_http_server_route(c.server, "/stream", stream_handler, &ss);
    rd.close_after = 20;
    reader_open_stream(&c, &rd, "/stream", NULL);
    ctx_run(&c, 1);
    ASSERT_TRUE(rd.records >= 20);
    ASSERT_EQ(rd.closed, 0); /* closed by the user: no on_closed */
    SPIN_UNTIL(&c, ss.closed == 1);
    ASSERT_EQ(ss.closed, 1);
    ASSERT_NULL(ss.stream);
    ag_recordio_decoder_release(&rd.dec);
    ag_timer_free(ss.timer);
    ctx_release(&c);
}

static void close_reader_cb(void *arg)
{
    struct reader *rd = arg;

    ag_http_client_stream_close(rd->s);
    rd->s = NULL;
}

TEST(client_closes_from_outside_and_in_open)
{
    struct ctx c;
    struct server_stream ss;
    struct reader a = {0}, b = {0};
    struct ag_timer *t;

    ctx_init(&c, 0);
    server_stream_init(&c, &ss, 1000000, 1, false);
    ag_http_server_route(c.server, "/stream", stream_handler, &ss);
    b.close_in_open = true;
    reader_open_stream(&c, &a, "/stream", NULL);
    reader_open_stream(&c, &b, "/stream", NULL);
    ctx_run(&c, 1); /* b closed itself in on_open */
    ASSERT_EQ(b.opened, 1);
    ASSERT_EQ(b.closed, 0);
    /* Close a from a timer, i.e. outside any of its callbacks. */
    t = ag_timer_new(c.loop, close_reader_cb, &a);
    ag_timer_start(t, 0.05);
    SPIN_UNTIL(&c, ss.closed == 2 && a.s == NULL);
    ASSERT_NULL(a.s);
    ASSERT_EQ(a.closed, 0);
    ASSERT_EQ(ss.closed, 2);
    ag_timer_free(t);
    ag_recordio_decoder_release(&a.dec);
    ag_recordio_decoder_release(&b.dec);
    ag_timer_free(ss.timer);
    ctx_release(&c);
}

TEST(stream_to_closed_port_and_404)
{
    struct ctx c;
    struct reader dead = {0}, missing = {0};
    char url[64];

    ctx_init(&c, 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", closed_port());
    dead.c = &c;
    ag_recordio_decoder_init(&dead.dec, 0);
    dead.s = ag_http_client_stream_open(c.loop, url, NULL, "{}", 2, &reader_ops, &dead);
    ASSERT_NOT_NULL(dead.s);
    missing.close_in_closed = true; /* closing inside on_closed is harmless */
    reader_open_stream(&c, &missing, "/nothing-here", "{}");
    ASSERT_EQ(dead.closed + missing.closed, 0);
    ctx_run(&c, 2);
    ASSERT_EQ(dead.opened, 0);
    ASSERT_EQ(dead.closed, 1);
    ASSERT_TRUE(strlen(dead.reason) > 0);
    ASSERT_EQ(missing.opened, 1);
    ASSERT_EQ(missing.code, 404);
    ASSERT_NOT_NULL(strstr(missing.body, "/nothing-here"));
    ASSERT_EQ(missing.closed, 1);
    ag_recordio_decoder_release(&dead.dec);
    ag_recordio_decoder_release(&missing.dec);
    ctx_release(&c);
}

TEST(pending_counts_unwritten_bytes)
{
    struct ctx c;
    struct server_stream ss;
    struct reader rd = {0};
    size_t len = 256 * 1024;
    char *big;

    ctx_init(&c, 0);
    server_stream_init(&c, &ss, 0, 0, false);
    ag_http_server_route(c.server, "/stream", stream_handler, &ss);
    reader_open_stream(&c, &rd, "/stream", NULL);
    SPIN_UNTIL(&c, rd.opened == 1);
    ASSERT_NOT_NULL(ss.stream);
    big = malloc(len);
    memset(big, ' ', len);
    /* Nothing is written before the loop runs again. */
    ASSERT_EQ(ag_http_stream_send(ss.stream, big, len), 0);
    ASSERT_TRUE(ag_http_stream_pending(ss.stream) >= len);
    ASSERT_EQ(ag_http_stream_send(ss.stream, big, 0), 0);
    free(big);
    ag_http_client_stream_close(rd.s);
    SPIN_UNTIL(&c, ss.closed == 1);
    ASSERT_EQ(ss.closed, 1);
    ag_recordio_decoder_release(&rd.dec);
    ag_timer_free(ss.timer);
    ctx_release(&c);
}

static void idle_resume_cb(void *arg)
{
    struct server_stream *ss = arg;

    ss->per_tick = ss->to_send = 3;
    ss->end = true;
    server_stream_tick(ss);
}

static void flood_handler(struct ag_http_req *req, void *arg)
{
    struct server_stream *ss = arg;
    static char part[64 * 1024];

    stream_handler(req, arg);
    memset(part, 'z', sizeof(part));
    for (int i = 0; i < 128 && ss->stream; i++) /* 8 MiB queued at once */
        ag_http_stream_send(ss->stream, part, sizeof(part));
}

static void flood_data(struct ag_http_client_stream *s, const char *data, size_t len, void *arg)
{
    struct reader *rd = arg;

    (void)data;
    rd->body_len += len;
    ag_http_client_stream_close(s);
    rd->s = NULL;
    ctx_done(rd->c);
}

TEST(client_leaves_with_megabytes_queued)
{
    static const struct ag_http_client_stream_ops ops = {
        .on_open = reader_open, .on_data = flood_data, .on_closed = reader_closed};
    struct ctx c;
    struct server_stream ss;
    struct reader rd = {0};
    char url[256];

    ctx_init(&c, 0);
    server_stream_init(&c, &ss, 0, 0, false);
    ag_http_server_route(c.server, "/flood", flood_handler, &ss);
    rd.c = &c;
    ctx_url(&c, url, sizeof(url), "/flood");
    rd.s = ag_http_client_stream_open(c.loop, url, NULL, NULL, 0, &ops, &rd);
    ctx_run(&c, 1);
    ASSERT_TRUE(rd.body_len > 0);
    SPIN_UNTIL(&c, ss.closed == 1);
    ASSERT_EQ(ss.closed, 1);
    ASSERT_EQ(rd.closed, 0);
    ag_timer_free(ss.timer);
    ctx_release(&c);
}

TEST(idle_stream_outlives_server_timeout)
{
    struct ctx c;
    struct server_stream ss;
    struct reader rd = {0};
    struct ag_timer *later;

    ctx_init(&c, 0);
    ag_http_server_set_timeout(c.server, 0.2);
    server_stream_init(&c, &ss, 0, 0, false);
    ag_http_server_route(c.server, "/stream", stream_handler, &ss);
    reader_open_stream(&c, &rd, "/stream", NULL);
    /* The stream starts, stays idle for several timeouts, then sends. */
    SPIN_UNTIL(&c, rd.opened == 1);
    ASSERT_NOT_NULL(ss.stream);
    later = ag_timer_new(c.loop, idle_resume_cb, &ss);
    ag_timer_start(later, 1.0);
    ctx_run(&c, 1);
    ASSERT_EQ(rd.records, 3);
    ASSERT_EQ(rd.closed, 1);
    ASSERT_EQ(ss.closed, 0);
    ag_timer_free(later);
    ag_recordio_decoder_release(&rd.dec);
    ag_timer_free(ss.timer);
    ctx_release(&c);
}

/* Many streams and short calls at once, then the server goes away with
 * the streams still open. */
#define N_STREAMS 40
#define N_CALLS   200

struct many {
    struct ctx *c;
    struct ag_http_stream *streams[N_STREAMS];
    int n_streams;
    int server_closed;
    struct ag_timer *tick;
};

static void many_closed(struct ag_http_stream *stream, void *arg)
{
    struct many *m = arg;

    m->server_closed++;
    for (int i = 0; i < m->n_streams; i++)
        if (m->streams[i] == stream)
            m->streams[i] = NULL;
}

static void many_stream_handler(struct ag_http_req *req, void *arg)
{
    struct many *m = arg;

    m->streams[m->n_streams++] =
        ag_http_stream_start(req, 200, "application/recordio", many_closed, m);
}

static void many_tick(void *arg)
{
    struct many *m = arg;

    for (int i = 0; i < m->n_streams; i++)
        if (m->streams[i])
            ag_http_stream_send_record(m->streams[i], "{\"seq\":0}", 9);
}

TEST(many_streams_and_calls_then_server_free)
{
    struct ctx c;
    struct many m = {0};
    static struct reader readers[N_STREAMS];
    static struct result results[N_CALLS];
    int ok = 0, with_record = 0, reset = 0;
    int fds = count_fds();

    ctx_init(&c, 0);
    m.c = &c;
    m.tick = ag_timer_new(c.loop, many_tick, &m);
    ag_http_server_route(c.server, "/stream", many_stream_handler, &m);
    ag_http_server_route(c.server, "/plain", plain_handler, (void *)"pong");
    memset(readers, 0, sizeof(readers));
    for (int i = 0; i < N_STREAMS; i++) {
        readers[i].close_after = 0;
        reader_open_stream(&c, &readers[i], "/stream", NULL);
    }
    for (int i = 0; i < N_CALLS; i++)
        request(&c, &results[i], i % 2 ? "POST" : "GET", "/plain", NULL, i % 2 ? "x" : NULL, i % 2,
                10);
    ag_timer_start_periodic(m.tick, 0.005);
    ctx_run(&c, N_CALLS);
    ASSERT_FALSE(c.timed_out);
    for (int i = 0; i < N_CALLS; i++) {
        ok += results[i].code == 200 && strcmp(results[i].body, "pong") == 0;
        result_release(&results[i]);
    }
    ASSERT_EQ(ok, N_CALLS);
    /* Let every stream see at least one record. */
    for (int spins = 0; spins < 500; spins++) {
        with_record = 0;
        for (int i = 0; i < N_STREAMS; i++)
            with_record += readers[i].records > 0;
        if (with_record == N_STREAMS)
            break;
        run_slice(&c);
    }
    ASSERT_EQ(with_record, N_STREAMS);
    ASSERT_EQ(m.n_streams, N_STREAMS);
    ag_timer_stop(m.tick);
    ag_http_server_free(c.server);
    c.server = NULL;
    ASSERT_EQ(m.server_closed, N_STREAMS);
    c.got = 0;
    ctx_run(&c, N_STREAMS);
    for (int i = 0; i < N_STREAMS; i++) {
        reset += readers[i].closed == 1;
        ag_recordio_decoder_release(&readers[i].dec);
    }
    ASSERT_EQ(reset, N_STREAMS);
    ag_timer_free(m.tick);
    ctx_release(&c);
    ASSERT_EQ(count_fds(), fds);
}

static void free_server_handler(struct ag_http_req *req, void *arg)
{
    struct ctx *c = arg;

    ag_http_reply(req, 200, "text/plain", "bye", 3);
    ag_http_server_free(c->server);
    c->server = NULL;
}

TEST(server_freed_from_its_own_handler)
{
    struct ctx c;
    struct result r;

    ctx_init(&c, 0);
    ag_http_server_route(c.server, "/quit", free_server_handler, &c);
    request(&c, &r, "POST", "/quit", NULL, "", 0, 5);
    ctx_run(&c, 1);
    ASSERT_NULL(c.server);
    ASSERT_TRUE(r.code == 200 || r.code == 0);
    result_release(&r);
    ctx_release(&c);
}

TEST(loop_freed_with_requests_in_flight)
{
    struct ctx c;
    struct result r;
    struct reader rd = {0};
    struct held h = {0};

    ctx_init(&c, 0);
    ag_http_server_route(c.server, "/hang", hold_handler, &h);
    request(&c, &r, "GET", "/hang", NULL, NULL, 0, 0);
    reader_open_stream(&c, &rd, "/hang", NULL);
    SPIN_UNTIL(&c, h.seen == 2);
    ASSERT_EQ(h.seen, 2);
    ag_http_server_free(c.server);
    c.server = NULL;
    ag_http_reply(h.all[0], 200, NULL, NULL, 0);
    ag_http_reply(h.all[1], 200, NULL, NULL, 0);
    ag_timer_free(c.guard);
    ag_timer_free(c.slice);
    /* No callbacks, no leaks: the loop releases the client objects. */
    ag_loop_free(c.loop);
    ASSERT_EQ(r.calls, 0);
    ASSERT_EQ(rd.closed, 0);
    ag_recordio_decoder_release(&rd.dec);
}

/* Connects a plain socket to the server; -1 once descriptors run out. */
static int raw_connect(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* With no descriptor left, accept() fails. The server must pause rather
 * than retry at once (which spins a core and floods the log), and accept
 * again once descriptors are back. ~30 slices of 10 ms pass while
 * starved: a paused server fails a handful of times, a spinning one
 * thousands. */
TEST(accept_pauses_when_out_of_descriptors)
{
    struct ctx c;
    struct result r;
    struct rlimit old, low;
    int fds[4096], n = 0;

    ctx_init(&c, 0);
    ASSERT_NOT_NULL(c.server);
    ASSERT_EQ(ag_http_server_route(c.server, "/echo", echo_handler, (void *)"exact"), 0);
    ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &old), 0);
    low = old;
    low.rlim_cur = 256;
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
    while (n < 4096) {
        int fd = raw_connect(ag_http_server_port(c.server));
        if (fd < 0)
            break;
        fds[n++] = fd;
    }
    ASSERT_TRUE(n > 0 && n < 4096);
    for (int i = 0; i < 30; i++)
        run_slice(&c);
    uint64_t errors = ag_http_server_accept_errors(c.server);
    for (int i = 0; i < n; i++)
        close(fds[i]);
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &old), 0);
    ASSERT_TRUE(errors >= 1);
    ASSERT_TRUE(errors <= 50);

    /* Descriptors are back: the server accepts again. */
    ASSERT_EQ(request(&c, &r, "GET", "/echo", NULL, NULL, 0, 10), 0);
    SPIN_UNTIL(&c, r.calls > 0);
    ASSERT_EQ(r.code, 200);
    result_release(&r);
    ctx_release(&c);
}

TEST_MAIN(TEST_CASE(accept_pauses_when_out_of_descriptors), TEST_CASE(get_and_post_round_trip),
          TEST_CASE(unknown_path_is_404_with_message),
          TEST_CASE(exact_beats_prefix_and_longest_prefix_wins), TEST_CASE(oversized_body_is_413),
          TEST_CASE(head_has_no_body), TEST_CASE(errors_and_jsonp),
          TEST_CASE(handler_answers_later), TEST_CASE(timeout_reports_code_0),
          TEST_CASE(server_freed_with_a_request_held), TEST_CASE(connect_failure_reports_code_0),
          TEST_CASE(bad_requests_rejected), TEST_CASE(parse_url),
          TEST_CASE(stream_of_many_records_ended_by_server), TEST_CASE(urgent_stream_keeps_order),
          TEST_CASE(client_closes_inside_data_callback),
          TEST_CASE(client_closes_from_outside_and_in_open),
          TEST_CASE(stream_to_closed_port_and_404), TEST_CASE(pending_counts_unwritten_bytes),
          TEST_CASE(client_leaves_with_megabytes_queued),
          TEST_CASE(idle_stream_outlives_server_timeout),
          TEST_CASE(many_streams_and_calls_then_server_free),
          TEST_CASE(server_freed_from_its_own_handler),
          TEST_CASE(loop_freed_with_requests_in_flight))
