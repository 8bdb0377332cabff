/*
 * http: the HTTP server and client, on libevent's evhttp.
 *
 * Lifetimes are the whole difficulty here; the rules this file follows
 * (libevent 2.1 behaviour, checked under ASan by tests/unit/test_core_http.c):
 *
 * Server side. evhttp keeps at most one request in progress per
 * connection, so each connection's close callback points at the one
 * wrapper (ag_http_req or ag_http_stream) currently using it, and is
 * cleared before the wrapper hands the request back to libevent. The close
 * callback runs from evhttp_connection_free() when the peer went away (for
 * streams, whose sockets are watched for EOF) or the server is freed. The
 * evhttp_request is then either still queued on the connection, and
 * libevent frees it right after the callback, or already detached from it
 * (the peer went away before we finished answering: libevent leaves a
 * request the user has not finished to the user), and we free it.
 *
 * Client side. One-shot requests share a small pool of keep-alive
 * connections per (loop, host, port), one request in flight on each, the
 * rest queued in order. A pooled connection stays in the pool across
 * requests (libevent reconnects it when the server closed it); only a
 * timed-out request frees its connection, from the timer. A request asking
 * for "Connection: close", and every stream, gets an evhttp_connection of
 * its own, which must not be freed from inside its own callbacks:
 * completion schedules a deferred free instead. Objects waiting for that
 * free, and the pools, sit on loop hooks, so a loop freed first releases
 * them rather than leaking them.
 */
#include "core/http.h"

#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include "core/log.h"
#include "core/loop.h"

#define AG_HTTP_DEFAULT_TIMEOUT 60.0
#define AG_HTTP_LISTEN_BACKLOG  1024
/* A peer sending data on a streaming connection is not read past this. */
#define AG_HTTP_STREAM_READ_CAP (64 * 1024)
/* Request line plus headers; Mesos clients send a few hundred bytes. */
#define AG_HTTP_MAX_HEADERS (64 * 1024)

/* ------------------------------------------------------------------ */
/* server                                                               */

struct ag_http_route {
    char *path;
    size_t len;
    ag_http_handler handler;
    void *arg;
};

struct ag_http_server {
    struct ag_loop *loop;
    struct evhttp *http;
    struct evhttp_bound_socket *listener;
    int port;
    struct timeval timeout; /* zero: none */
    struct ag_http_route *exact;
    size_t n_exact, cap_exact;
    struct ag_http_route *prefix; /* longest first */
    size_t n_prefix, cap_prefix;
    int depth;                        /* our callbacks running on the stack */
    bool freeing;                     /* ag_http_server_free() was called */
    struct ag__loop_hook hook;        /* while a deferred free is pending */
    struct ag_timer *accept_resume;   /* re-enables accepting after a pause */
    double accept_warned;             /* when the last accept failure was logged */
    uint64_t accept_errors;           /* failed accept() calls */
    uint64_t connections;             /* connections accepted */
    struct ag_http_server *next_live; /* in live_servers */
};

/* Every server not yet destroyed. libevent hands the listener's error
 * callback only the evhttp, so this finds our server from it. Servers are
 * few and live on loop threads; a daemon has one or two. */
static _Thread_local struct ag_http_server *live_servers;

static struct ag_http_server *server_of(const struct evhttp *http)
{
    for (struct ag_http_server *s = live_servers; s; s = s->next_live)
        if (s->http == http)
            return s;
    return NULL;
}

static void server_unlink(struct ag_http_server *server)
{
    for (struct ag_http_server **p = &live_servers; *p; p = &(*p)->next_live) {
        if (*p == server) {
            *p = server->next_live;
            return;
        }
    }
}

struct ag_http_req {
    struct evhttp_request *evreq; /* NULL once the connection is gone */
    struct evhttp_connection *evcon;
    struct ag_http_server *server; /* NULL once the connection is gone */
    enum ag_http_method method;
    char *path;
    char *body;
    size_t body_len;
    struct evkeyvalq query;
    bool query_parsed;
    char peer[80];
};

struct ag_http_stream {
    struct evhttp_request *evreq; /* NULL once the peer is gone */
    struct evhttp_connection *evcon;
    struct ag_http_server *server;
    struct evbuffer *scratch; /* one chunk being assembled */
    struct timeval timeout;
    ag_http_stream_close_cb on_close;
    void *arg;
    void *data;
    bool in_close; /* the close callback is running */
};

static int method_from_ev(enum evhttp_cmd_type type)
{
    switch (type) {
    case EVHTTP_REQ_GET:
        return AG_HTTP_GET;
    case EVHTTP_REQ_POST:
        return AG_HTTP_POST;
    case EVHTTP_REQ_PUT:
        return AG_HTTP_PUT;
    case EVHTTP_REQ_DELETE:
        return AG_HTTP_DELETE;
    case EVHTTP_REQ_HEAD:
        return AG_HTTP_HEAD;
    default:
        return AG_HTTP_OTHER;
    }
}

static struct timeval seconds_to_tv(double seconds)
{
    struct timeval tv = {0, 0};

    if (!(seconds > 0))
        return tv;
    if (seconds > 1e8)
        seconds = 1e8;
    tv.tv_sec = (time_t)seconds;
    tv.tv_usec = (suseconds_t)((seconds - (double)tv.tv_sec) * 1e6);
    if (tv.tv_sec == 0 && tv.tv_usec == 0)
        tv.tv_usec = 1;
    return tv;
}

static bool tv_isset(const struct timeval *tv)
{
    return tv->tv_sec != 0 || tv->tv_usec != 0;
}

static int valid_code(int code)
{
    return code >= 100 && code <= 599 ? code : 500;
}

/* Sends the response assembled in evreq's output buffer. libevent 2.1
 * would send a HEAD response's body too: drop it, keeping its length. */
static void send_reply(struct evhttp_request *evreq, int code)
{
    if (evhttp_request_get_command(evreq) == EVHTTP_REQ_HEAD) {
        struct evbuffer *out = evhttp_request_get_output_buffer(evreq);
        struct evkeyvalq *headers = evhttp_request_get_output_headers(evreq);
        char len[32];

        snprintf(len, sizeof(len), "%zu", evbuffer_get_length(out));
        evbuffer_drain(out, evbuffer_get_length(out));
        evhttp_remove_header(headers, "Content-Length");
        evhttp_add_header(headers, "Content-Length", len);
    }
    evhttp_send_reply(evreq, valid_code(code), NULL, NULL);
}

/* Answers a request that never got a wrapper (bad path, no route). */
static void send_plain(struct evhttp_request *evreq, int code, const char *msg)
{
    struct evkeyvalq *out = evhttp_request_get_output_headers(evreq);

    evhttp_remove_header(out, "Content-Type");
    evhttp_add_header(out, "Content-Type", "text/plain");
    evbuffer_add(evhttp_request_get_output_buffer(evreq), msg, strlen(msg));
    send_reply(evreq, code);
}

static void req_free(struct ag_http_req *req)
{
    if (req->query_parsed)
        evhttp_clear_headers(&req->query);
    free(req->path);
    free(req->body);
    free(req);
}

/* The connection of a pending request went away (server freed). */
static void req_conn_closed(struct evhttp_connection *evcon, void *arg)
{
    struct ag_http_req *req = arg;

    (void)evcon;
    if (req->evreq && !evhttp_request_get_connection(req->evreq))
        evhttp_request_free(req->evreq); /* detached: ours to free */
    req->evreq = NULL;
    req->evcon = NULL;
    req->server = NULL;
}

/* Hands the request back to libevent for answering: NULL if it is gone. */
static struct evhttp_request *req_take(struct ag_http_req *req)
{
    struct evhttp_request *evreq = req->evreq;

    if (evreq)
        evhttp_connection_set_closecb(req->evcon, NULL, NULL);
    req->evreq = NULL;
    return evreq;
}

static void format_peer(struct evhttp_connection *evcon, char *buf, size_t len)
{
    char *addr = NULL;
    ev_uint16_t port = 0;

    evhttp_connection_get_peer(evcon, &addr, &port);
    if (!addr)
        addr = (char *)"?";
    if (strchr(addr, ':'))
        snprintf(buf, len, "[%s]:%u", addr, (unsigned)port);
    else
        snprintf(buf, len, "%s:%u", addr, (unsigned)port);
}

/* Builds the wrapper; on bad input answers the request itself and
 * returns NULL. */
static struct ag_http_req *req_new(struct evhttp_request *evreq)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(evreq);
    const char *raw = uri ? evhttp_uri_get_path(uri) : NULL;
    struct evbuffer *in = evhttp_request_get_input_buffer(evreq);
    struct ag_http_req *req = calloc(1, sizeof(*req));
    size_t plen = 0;

    if (!req)
        goto oom;
    req->evreq = evreq;
    req->evcon = evhttp_request_get_connection(evreq);
    req->method = method_from_ev(evhttp_request_get_command(evreq));
    if (!raw || !*raw)
        raw = "/";
    req->path = evhttp_uridecode(raw, 0, &plen);
    if (!req->path)
        goto oom;
    if (strlen(req->path) != plen || req->path[0] != '/') {
        req_free(req);
        send_plain(evreq, 400, "invalid request path");
        return NULL;
    }
    req->body_len = evbuffer_get_length(in);
    req->body = malloc(req->body_len + 1);
    if (!req->body)
        goto oom;
    evbuffer_copyout(in, req->body, req->body_len);
    req->body[req->body_len] = '\0';
    format_peer(req->evcon, req->peer, sizeof(req->peer));
    return req;
oom:
    if (req)
        req_free(req);
    send_plain(evreq, 500, "out of memory");
    return NULL;
}

static const struct ag_http_route *find_route(const struct ag_http_server *server, const char *path)
{
    size_t plen = strlen(path);

    for (size_t i = 0; i < server->n_exact; i++)
        if (server->exact[i].len == plen && memcmp(server->exact[i].path, path, plen) == 0)
            return &server->exact[i];
    for (size_t i = 0; i < server->n_prefix; i++)
        if (server->prefix[i].len <= plen &&
            memcmp(server->prefix[i].path, path, server->prefix[i].len) == 0)
            return &server->prefix[i];
    return NULL;
}

static void on_request(struct evhttp_request *evreq, void *arg)
{
    struct ag_http_server *server = arg;
    const struct ag_http_route *route;
    struct ag_http_req *req;

    if (server->freeing) {
        send_plain(evreq, 503, "server shutting down");
        return;
    }
    req = req_new(evreq);
    if (!req)
        return;
    route = find_route(server, req->path);
    if (!route) {
        ag_http_reply_error(req, 404, "no such endpoint: '%s'", req->path);
        return;
    }
    req->server = server;
    evhttp_connection_set_closecb(req->evcon, req_conn_closed, req);
    server->depth++;
    route->handler(req, route->arg);
    server->depth--;
}

static int bind_listener(const char *ip, int port, char *err, size_t errlen)
{
    struct addrinfo hints = {0}, *ai = NULL;
    char portstr[16];
    int fd, r, one = 1;

    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(portstr, sizeof(portstr), "%d", port);
    r = getaddrinfo(ip, portstr, &hints, &ai);
    if (r != 0) {
        snprintf(err, errlen, "cannot resolve listen address '%s': %s", ip ? ip : "*",
                 gai_strerror(r));
        return -1;
    }
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create socket: %s", strerror(errno));
        freeaddrinfo(ai);
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, AG_HTTP_LISTEN_BACKLOG) < 0) {
        snprintf(err, errlen, "cannot listen on %s:%d: %s", ip ? ip : "*", port, strerror(errno));
        close(fd);
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);
    return fd;
}

static int bound_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return -1;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return -1;
}

/* evhttp asks for each accepted connection's bufferevent here: the
 * same one it would make itself, counted. */
static struct bufferevent *new_conn_bev(struct event_base *base, void *arg)
{
    struct ag_http_server *server = arg;

    server->connections++;
    return bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
}

/* How long accepting pauses when accept() fails for lack of descriptors or
 * memory. Without a pause libevent retries at once, forever: the daemon
 * spins at full CPU and floods its log while the condition lasts. */
#define ACCEPT_PAUSE_SECONDS 0.1

static void accept_resume_cb(void *arg)
{
    struct ag_http_server *server = arg;
    if (server->listener)
        evconnlistener_enable(evhttp_bound_socket_get_listener(server->listener));
}

static void accept_error_cb(struct evconnlistener *lev, void *arg)
{
    struct ag_http_server *server = server_of(arg);
    int e = EVUTIL_SOCKET_ERROR();
    if (!server)
        return;
    server->accept_errors++;
    double now = ag_monotonic();
    if (now - server->accept_warned >= 10 || server->accept_warned == 0) {
        ag_warn("http: cannot accept connections on port %d: %s; pausing accepts", server->port,
                strerror(e));
        server->accept_warned = now;
    }
    if (server->accept_resume) {
        evconnlistener_disable(lev);
        ag_timer_start(server->accept_resume, ACCEPT_PAUSE_SECONDS);
    }
}

struct ag_http_server *ag_http_server_new(struct ag_loop *loop, const char *ip, int port,
                                          size_t max_body, char *err, size_t errlen)
{
    char scratch[8];
    struct ag_http_server *server;
    int fd;

    if (!err) {
        err = scratch;
        errlen = sizeof(scratch);
    }
    if (port < 0 || port > 65535) {
        snprintf(err, errlen, "invalid port %d", port);
        return NULL;
    }
    server = calloc(1, sizeof(*server));
    if (!server) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    server->loop = loop;
    server->timeout = seconds_to_tv(AG_HTTP_DEFAULT_TIMEOUT);
    server->http = evhttp_new(ag_loop_base(loop));
    if (!server->http) {
        snprintf(err, errlen, "out of memory");
        free(server);
        return NULL;
    }
    fd = bind_listener(ip, port, err, errlen);
    if (fd < 0)
        goto fail;
    server->port = bound_port(fd);
    server->listener = evhttp_accept_socket_with_handle(server->http, fd);
    if (!server->listener) {
        snprintf(err, errlen, "cannot listen on %s:%d", ip ? ip : "*", port);
        close(fd);
        goto fail;
    }
    server->accept_resume = ag_timer_new(loop, accept_resume_cb, server);
    /* The error callback gets the listener's own argument: the evhttp. */
    evconnlistener_set_error_cb(evhttp_bound_socket_get_listener(server->listener),
                                accept_error_cb);
    server->next_live = live_servers;
    live_servers = server;
    evhttp_set_gencb(server->http, on_request, server);
    evhttp_set_bevcb(server->http, new_conn_bev, server);
    evhttp_set_max_body_size(server->http,
                             (ev_ssize_t)(max_body ? max_body : AG_HTTP_MAX_BODY_DEFAULT));
    evhttp_set_allowed_methods(server->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                                 EVHTTP_REQ_DELETE | EVHTTP_REQ_HEAD |
                                                 EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
    /* Read (and drop) an oversized body before answering 413, so that the
     * client sees the answer instead of a reset. */
    evhttp_set_flags(server->http, EVHTTP_SERVER_LINGERING_CLOSE);
    evhttp_set_max_headers_size(server->http, AG_HTTP_MAX_HEADERS);
    evhttp_set_timeout_tv(server->http, &server->timeout);
    return server;
fail:
    evhttp_free(server->http);
    free(server);
    return NULL;
}

int ag_http_server_port(const struct ag_http_server *server)
{
    return server->port;
}

void ag_http_server_set_timeout(struct ag_http_server *server, double seconds)
{
    server->timeout = seconds_to_tv(seconds);
    /* A zero timeval would fall back to libevent's defaults; a very long
     * one is "never". */
    if (!tv_isset(&server->timeout))
        server->timeout.tv_sec = 100000000;
    evhttp_set_timeout_tv(server->http, &server->timeout);
}

static int add_route(struct ag_http_route **routes, size_t *n, size_t *cap, const char *path,
                     ag_http_handler handler, void *arg, bool by_length)
{
    size_t len, pos;

    if (!path || path[0] != '/' || !handler)
        return -EINVAL;
    len = strlen(path);
    for (size_t i = 0; i < *n; i++) {
        if ((*routes)[i].len == len && strcmp((*routes)[i].path, path) == 0) {
            (*routes)[i].handler = handler;
            (*routes)[i].arg = arg;
            return 0;
        }
    }
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        struct ag_http_route *grown = realloc(*routes, ncap * sizeof(**routes));

        if (!grown)
            return -ENOMEM;
        *routes = grown;
        *cap = ncap;
    }
    pos = *n;
    if (by_length)
        for (pos = 0; pos < *n && (*routes)[pos].len >= len; pos++)
            ;
    memmove(&(*routes)[pos + 1], &(*routes)[pos], (*n - pos) * sizeof(**routes));
    (*routes)[pos].path = strdup(path);
    if (!(*routes)[pos].path) {
        memmove(&(*routes)[pos], &(*routes)[pos + 1], (*n - pos) * sizeof(**routes));
        return -ENOMEM;
    }
    (*routes)[pos].len = len;
    (*routes)[pos].handler = handler;
    (*routes)[pos].arg = arg;
    (*n)++;
    return 0;
}

int ag_http_server_route(struct ag_http_server *server, const char *path, ag_http_handler handler,
                         void *arg)
{
    return add_route(&server->exact, &server->n_exact, &server->cap_exact, path, handler, arg,
                     false);
}

int ag_http_server_route_prefix(struct ag_http_server *server, const char *prefix,
                                ag_http_handler handler, void *arg)
{
    return add_route(&server->prefix, &server->n_prefix, &server->cap_prefix, prefix, handler, arg,
                     true);
}

static void server_destroy(struct ag_http_server *server)
{
    ag__loop_hook_remove(&server->hook);
    server_unlink(server);
    ag_timer_free(server->accept_resume);
    /* Frees every connection: streams and pending requests learn it from
     * their close callbacks. */
    evhttp_free(server->http);
    for (size_t i = 0; i < server->n_exact; i++)
        free(server->exact[i].path);
    for (size_t i = 0; i < server->n_prefix; i++)
        free(server->prefix[i].path);
    free(server->exact);
    free(server->prefix);
    free(server);
}

static void server_destroy_deferred(void *arg)
{
    server_destroy(arg);
}

static void server_hook_release(struct ag__loop_hook *hook)
{
    server_destroy((struct ag_http_server *)((char *)hook - offsetof(struct ag_http_server, hook)));
}

uint64_t ag_http_server_accept_errors(const struct ag_http_server *server)
{
    return server->accept_errors;
}

uint64_t ag_http_server_connections(const struct ag_http_server *server)
{
    return server->connections;
}

void ag_http_server_free(struct ag_http_server *server)
{
    if (!server || server->freeing)
        return;
    server->freeing = true;
    if (server->depth == 0) {
        server_destroy(server);
        return;
    }
    /* Called from one of our callbacks, with libevent's connection code
     * below us on the stack: stop accepting now, tear down later. */
    evhttp_del_accept_socket(server->http, server->listener);
    server->listener = NULL;
    server->hook.release = server_hook_release;
    ag__loop_hook_add(server->loop, &server->hook);
    if (ag_loop_defer(server->loop, server_destroy_deferred, server) < 0) {
        /* No memory for the deferral: the loop's hook frees it at exit. */
    }
}

/* ------------------------------------------------------------------ */
/* request accessors and replies                                        */

enum ag_http_method ag_http_req_method(const struct ag_http_req *req)
{
    return req->method;
}

const char *ag_http_req_path(const struct ag_http_req *req)
{
    return req->path;
}

/* evhttp_parse_query_str() rejects a whole query when one item lacks '='
 * ("?pretty&x=1"); this fallback keeps the well-formed items and gives a
 * bare key an empty value. */
static void parse_query_lenient(const char *query, struct evkeyvalq *out)
{
    char *copy = strdup(query), *save = NULL;

    if (!copy)
        return;
    for (char *item = strtok_r(copy, "&", &save); item; item = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(item, '=');
        char *key, *value;

        if (eq)
            *eq = '\0';
        key = evhttp_uridecode(item, 1, NULL);
        value = evhttp_uridecode(eq ? eq + 1 : "", 1, NULL);
        if (key && value && *key)
            evhttp_add_header(out, key, value);
        free(key);
        free(value);
    }
    free(copy);
}

const char *ag_http_req_query(const struct ag_http_req *req, const char *key)
{
    struct ag_http_req *mut = (struct ag_http_req *)req;

    if (!req->query_parsed) {
        const struct evhttp_uri *uri =
            req->evreq ? evhttp_request_get_evhttp_uri(req->evreq) : NULL;
        const char *query = uri ? evhttp_uri_get_query(uri) : NULL;

        mut->query.tqh_first = NULL;
        mut->query.tqh_last = &mut->query.tqh_first;
        mut->query_parsed = true;
        if (query && *query && evhttp_parse_query_str(query, &mut->query) < 0) {
            evhttp_clear_headers(&mut->query);
            parse_query_lenient(query, &mut->query);
        }
    }
    return evhttp_find_header(&req->query, key);
}

const char *ag_http_req_header(const struct ag_http_req *req, const char *name)
{
    if (!req->evreq)
        return NULL;
    return evhttp_find_header(evhttp_request_get_input_headers(req->evreq), name);
}

const char *ag_http_req_body(const struct ag_http_req *req, size_t *ret_len)
{
    if (ret_len)
        *ret_len = req->body_len;
    return req->body;
}

const char *ag_http_req_peer(const struct ag_http_req *req)
{
    return req->peer;
}

void ag_http_req_add_header(struct ag_http_req *req, const char *name, const char *value)
{
    if (!req->evreq || !name || !value)
        return;
    evhttp_add_header(evhttp_request_get_output_headers(req->evreq), name, value);
}

static void set_content_type(struct evhttp_request *evreq, const char *content_type)
{
    struct evkeyvalq *out = evhttp_request_get_output_headers(evreq);

    if (!content_type)
        return;
    evhttp_remove_header(out, "Content-Type");
    evhttp_add_header(out, "Content-Type", content_type);
}

void ag_http_reply(struct ag_http_req *req, int code, const char *content_type, const char *body,
                   size_t len)
{
    struct evhttp_request *evreq = req_take(req);

    if (evreq) {
        set_content_type(evreq, content_type);
        if (body && len)
            evbuffer_add(evhttp_request_get_output_buffer(evreq), body, len);
        send_reply(evreq, code);
    }
    req_free(req);
}

static int dump_to_evbuffer(const char *buffer, size_t size, void *data)
{
    return evbuffer_add(data, buffer, size);
}

/* A JSONP callback is echoed into a script: allow only a dotted
 * JavaScript identifier. */
bool ag_http_jsonp_valid(const char *name)
{
    size_t len = strlen(name);

    if (len == 0 || len > 128)
        return false;
    for (const char *p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '$' && *p != '.')
            return false;
    return !isdigit((unsigned char)name[0]);
}

void ag_http_reply_json(struct ag_http_req *req, int code, json_t *body)
{
    const char *jsonp = ag_http_req_query(req, "jsonp");
    struct evhttp_request *evreq;
    struct evbuffer *out;
    int r;

    if (jsonp && !ag_http_jsonp_valid(jsonp)) {
        json_decref(body);
        ag_http_reply_error(req, 400, "invalid 'jsonp' parameter: not a JavaScript identifier");
        return;
    }
    if (!body) {
        ag_http_reply_error(req, 500, "no response body (out of memory?)");
        return;
    }
    if (!req->evreq) {
        json_decref(body);
        req_free(req);
        return;
    }
    out = evhttp_request_get_output_buffer(req->evreq);
    if (jsonp)
        evbuffer_add_printf(out, "%s(", jsonp);
    r = json_dump_callback(body, dump_to_evbuffer, out, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(body);
    if (jsonp)
        evbuffer_add(out, ");", 2);
    if (r < 0) {
        evbuffer_drain(out, evbuffer_get_length(out));
        ag_http_reply_error(req, 500, "cannot encode the response as JSON");
        return;
    }
    evreq = req_take(req);
    set_content_type(evreq, jsonp ? "text/javascript" : "application/json");
    send_reply(evreq, code);
    req_free(req);
}

void ag_http_reply_error(struct ag_http_req *req, int code, const char *fmt, ...)
{
    struct evhttp_request *evreq = req_take(req);
    va_list ap;

    if (evreq) {
        struct evbuffer *out = evhttp_request_get_output_buffer(evreq);

        evbuffer_drain(out, evbuffer_get_length(out));
        va_start(ap, fmt);
        evbuffer_add_vprintf(out, fmt, ap);
        va_end(ap);
        set_content_type(evreq, "text/plain");
        send_reply(evreq, code);
    }
    req_free(req);
}

/* ------------------------------------------------------------------ */
/* streams                                                              */

static void stream_free(struct ag_http_stream *stream)
{
    evbuffer_free(stream->scratch);
    free(stream);
}

/* The peer went away (or the server is being freed). */
static void stream_conn_closed(struct evhttp_connection *evcon, void *arg)
{
    struct ag_http_stream *stream = arg;
    struct evhttp_request *evreq = stream->evreq;
    struct ag_http_server *server = stream->server;
    bool detached = evreq && !evhttp_request_get_connection(evreq);

    (void)evcon;
    stream->evreq = NULL;
    stream->evcon = NULL;
    stream->in_close = true;
    if (stream->on_close) {
        server->depth++;
        stream->on_close(stream, stream->arg);
        server->depth--;
    }
    if (detached)
        evhttp_request_free(evreq);
    stream_free(stream);
}

struct ag_http_stream *ag_http_stream_start(struct ag_http_req *req, int code,
                                            const char *content_type,
                                            ag_http_stream_close_cb on_close, void *arg)
{
    struct ag_http_stream *stream;
    struct bufferevent *bev;

    if (!req->evreq) {
        req_free(req);
        return NULL;
    }
    stream = calloc(1, sizeof(*stream));
    if (stream)
        stream->scratch = evbuffer_new();
    if (!stream || !stream->scratch) {
        free(stream);
        ag_http_reply_error(req, 500, "out of memory");
        return NULL;
    }
    stream->server = req->server;
    stream->timeout = req->server->timeout;
    stream->on_close = on_close;
    stream->arg = arg;
    stream->evcon = req->evcon;
    stream->evreq = req_take(req);
    set_content_type(stream->evreq, content_type);
    evhttp_send_reply_start(stream->evreq, valid_code(code), NULL);
    evhttp_connection_set_closecb(stream->evcon, stream_conn_closed, stream);
    /* libevent now watches the socket for EOF (that is how a departed
     * client is noticed): no read timeout, as a stream's client never
     * sends; keep the write timeout for a client that stops reading; and
     * do not buffer much of what a misbehaving client sends. */
    bev = evhttp_connection_get_bufferevent(stream->evcon);
    bufferevent_set_timeouts(bev, NULL, &stream->timeout);
    bufferevent_setwatermark(bev, EV_READ, 0, AG_HTTP_STREAM_READ_CAP);
    req_free(req);
    return stream;
}

/* Sends what the scratch buffer holds as one chunk. */
static int stream_flush(struct ag_http_stream *stream)
{
    if (!stream->evreq) {
        evbuffer_drain(stream->scratch, evbuffer_get_length(stream->scratch));
        return -EPIPE;
    }
    evhttp_send_reply_chunk(stream->evreq, stream->scratch);
    evbuffer_drain(stream->scratch, evbuffer_get_length(stream->scratch));
    return 0;
}

int ag_http_stream_send(struct ag_http_stream *stream, const char *data, size_t len)
{
    if (!stream->evreq)
        return -EPIPE;
    if (len == 0)
        return 0;
    if (evbuffer_add(stream->scratch, data, len) < 0)
        return -ENOMEM;
    return stream_flush(stream);
}

int ag_http_stream_send_record(struct ag_http_stream *stream, const char *json, size_t len)
{
    if (!stream->evreq)
        return -EPIPE;
    /* RecordIO framing, "<length>\n<bytes>", written straight into the
     * chunk instead of through ag_recordio_encode() to save a copy. */
    if (evbuffer_add_printf(stream->scratch, "%zu\n", len) < 0 ||
        evbuffer_add(stream->scratch, json, len) < 0) {
        evbuffer_drain(stream->scratch, evbuffer_get_length(stream->scratch));
        return -ENOMEM;
    }
    return stream_flush(stream);
}

int ag_http_stream_send_pieces(struct ag_http_stream *stream, const struct ag_http_piece *pieces,
                               size_t n)
{
    size_t len = 0;

    if (!stream->evreq)
        return -EPIPE;
    for (size_t i = 0; i < n; i++)
        len += pieces[i].len;
    if (evbuffer_add_printf(stream->scratch, "%zu\n", len) < 0)
        goto fail;
    for (size_t i = 0; i < n; i++)
        if (evbuffer_add(stream->scratch, pieces[i].data, pieces[i].len) < 0)
            goto fail;
    return stream_flush(stream);
fail:
    evbuffer_drain(stream->scratch, evbuffer_get_length(stream->scratch));
    return -ENOMEM;
}

int ag_http_stream_send_json(struct ag_http_stream *stream, const json_t *event)
{
    char header[32];
    size_t len;
    int n;

    if (!stream->evreq)
        return -EPIPE;
    if (json_dump_callback(event, dump_to_evbuffer, stream->scratch,
                           JSON_COMPACT | JSON_ENCODE_ANY) < 0)
        goto fail;
    len = evbuffer_get_length(stream->scratch);
    n = snprintf(header, sizeof(header), "%zu\n", len);
    if (evbuffer_prepend(stream->scratch, header, (size_t)n) < 0)
        goto fail;
    return stream_flush(stream);
fail:
    evbuffer_drain(stream->scratch, evbuffer_get_length(stream->scratch));
    return -ENOMEM;
}

size_t ag_http_stream_pending(const struct ag_http_stream *stream)
{
    struct bufferevent *bev;

    if (!stream->evcon)
        return 0;
    bev = evhttp_connection_get_bufferevent(stream->evcon);
    return evbuffer_get_length(bufferevent_get_output(bev));
}

int ag_http_stream_set_urgent(struct ag_http_stream *stream)
{
    if (!stream->evcon)
        return -EPIPE;
    struct bufferevent *bev = evhttp_connection_get_bufferevent(stream->evcon);
    return bufferevent_priority_set(bev, 0) < 0 ? -EINVAL : 0;
}

void ag_http_stream_end(struct ag_http_stream *stream)
{
    struct bufferevent *bev;

    if (!stream)
        return;
    /* From inside the close callback the stream is freed on return. */
    if (stream->in_close)
        return;
    if (stream->evreq) {
        evhttp_connection_set_closecb(stream->evcon, NULL, NULL);
        bev = evhttp_connection_get_bufferevent(stream->evcon);
        /* The connection may serve further requests: give it back its
         * ordinary timeouts. */
        bufferevent_set_timeouts(bev, &stream->timeout, &stream->timeout);
        bufferevent_setwatermark(bev, EV_READ, 0, 0);
        evhttp_send_reply_end(stream->evreq);
    }
    stream_free(stream);
}

void ag_http_stream_set_data(struct ag_http_stream *stream, void *data)
{
    stream->data = data;
}

void *ag_http_stream_data(const struct ag_http_stream *stream)
{
    return stream->data;
}

/* ------------------------------------------------------------------ */
/* client                                                               */

struct ag_http_response {
    int code;
    const struct evkeyvalq *headers;
    const char *body;
    size_t len;
    const char *error;
};

int ag_http_response_code(const struct ag_http_response *resp)
{
    return resp->code;
}

const char *ag_http_response_header(const struct ag_http_response *resp, const char *name)
{
    return resp->headers ? evhttp_find_header(resp->headers, name) : NULL;
}

const char *ag_http_response_body(const struct ag_http_response *resp, size_t *ret_len)
{
    if (ret_len)
        *ret_len = resp->body ? resp->len : 0;
    return resp->body ? resp->body : "";
}

const char *ag_http_response_error(const struct ag_http_response *resp)
{
    return resp->code == 0 ? (resp->error ? resp->error : "no response") : NULL;
}

static bool host_char_ok(char c)
{
    return isalnum((unsigned char)c) || c == '.' || c == '-' || c == '_';
}

int ag_http_parse_url(const char *url, char **ret_host, int *ret_port, char **ret_path)
{
    const char *p, *host_start, *host_end;
    long port = 80;
    char *host, *path;
    size_t path_len;

    if (!url || strncasecmp(url, "http://", 7) != 0)
        return -EINVAL;
    p = url + 7;
    if (*p == '[') {
        host_start = ++p;
        while (*p && (isxdigit((unsigned char)*p) || *p == ':' || *p == '.'))
            p++;
        if (*p != ']')
            return -EINVAL;
        host_end = p++;
    } else {
        host_start = p;
        while (host_char_ok(*p))
            p++;
        host_end = p;
    }
    if (host_end == host_start)
        return -EINVAL;
    if (*p == ':') {
        p++;
        if (!isdigit((unsigned char)*p))
            return -EINVAL;
        port = 0;
        while (isdigit((unsigned char)*p) && port <= 65535)
            port = port * 10 + (*p++ - '0');
        if (port < 1 || port > 65535)
            return -EINVAL;
    }
    if (*p && *p != '/' && *p != '?' && *p != '#')
        return -EINVAL;
    path_len = strcspn(p, "#");
    for (size_t i = 0; i < path_len; i++)
        if ((unsigned char)p[i] <= ' ' || p[i] == 0x7f)
            return -EINVAL;
    host = strndup(host_start, (size_t)(host_end - host_start));
    path = malloc(path_len + 2);
    if (!host || !path) {
        free(host);
        free(path);
        return -ENOMEM;
    }
    if (path_len == 0 || p[0] != '/') {
        path[0] = '/';
        memcpy(path + 1, p, path_len);
        path[path_len + 1] = '\0';
    } else {
        memcpy(path, p, path_len);
        path[path_len] = '\0';
    }
    *ret_host = host;
    *ret_port = (int)port;
    *ret_path = path;
    return 0;
}

static int method_to_ev(const char *method, enum evhttp_cmd_type *ret)
{
    static const struct {
        const char *name;
        enum evhttp_cmd_type type;
    } table[] = {
        {"GET", EVHTTP_REQ_GET},       {"POST", EVHTTP_REQ_POST}, {"PUT", EVHTTP_REQ_PUT},
        {"DELETE", EVHTTP_REQ_DELETE}, {"HEAD", EVHTTP_REQ_HEAD}, {"OPTIONS", EVHTTP_REQ_OPTIONS},
        {"PATCH", EVHTTP_REQ_PATCH},
    };

    for (size_t i = 0; method && i < sizeof(table) / sizeof(table[0]); i++) {
        if (strcasecmp(method, table[i].name) == 0) {
            *ret = table[i].type;
            return 0;
        }
    }
    return -EINVAL;
}

static const char *request_error_text(enum evhttp_request_error error)
{
    switch (error) {
    case EVREQ_HTTP_TIMEOUT:
        return "timed out";
    case EVREQ_HTTP_EOF:
        return "connection closed before the response was complete";
    case EVREQ_HTTP_INVALID_HEADER:
        return "invalid response from the server";
    case EVREQ_HTTP_BUFFER_ERROR:
        return "connection error";
    case EVREQ_HTTP_REQUEST_CANCEL:
        return "request cancelled";
    case EVREQ_HTTP_DATA_TOO_LONG:
        return "response too large";
    default:
        return "connection error";
    }
}

/* Creates the connection and the request, with headers and body. */
static int client_prepare(struct ag_loop *loop, const char *url,
                          struct evhttp_connection **ret_evcon, char **ret_host, int *ret_port,
                          char **ret_path)
{
    char *host = NULL, *path = NULL;
    int port = 0, r;

    r = ag_http_parse_url(url, &host, &port, &path);
    if (r < 0)
        return r;
    *ret_evcon = evhttp_connection_base_new(ag_loop_base(loop), NULL, host, (ev_uint16_t)port);
    if (!*ret_evcon) {
        free(host);
        free(path);
        return -ENOMEM;
    }
    *ret_host = host;
    *ret_port = port;
    *ret_path = path;
    return 0;
}

static int client_fill_request(struct evhttp_request *evreq, const char *host, int port,
                               const struct ag_http_header *headers, const char *body, size_t len)
{
    struct evkeyvalq *out = evhttp_request_get_output_headers(evreq);
    char hostport[300];

    if (strchr(host, ':'))
        snprintf(hostport, sizeof(hostport), "[%s]:%d", host, port);
    else
        snprintf(hostport, sizeof(hostport), "%s:%d", host, port);
    for (size_t i = 0; headers && headers[i].name; i++) {
        if (!headers[i].value)
            continue;
        if (evhttp_add_header(out, headers[i].name, headers[i].value) < 0)
            return -EINVAL;
    }
    if (!evhttp_find_header(out, "Host"))
        evhttp_add_header(out, "Host", hostport);
    if (body && len) {
        if (evbuffer_add(evhttp_request_get_output_buffer(evreq), body, len) < 0)
            return -ENOMEM;
    }
    if (body && !evhttp_find_header(out, "Content-Length")) {
        char clen[32];

        snprintf(clen, sizeof(clen), "%zu", len);
        evhttp_add_header(out, "Content-Length", clen);
    }
    return 0;
}

/* --- one-shot requests, over pooled keep-alive connections --- */

/* Connections kept per (loop, host, port). Each carries one request at a
 * time (libevent's client does not pipeline); more requests wait in the
 * pool's queue, in order, for the next free connection. The limit is
 * ag_http_client_set_pool_size() (POOL_DEFAULT_CONNS unless set). */
#define POOL_MAX_CONNS     64
#define POOL_DEFAULT_CONNS 8
/* An idle pooled connection is closed after this long. Agora's servers
 * close idle connections after 60 s (ag_http_server_set_timeout): closing
 * first on this side keeps a request from being written into a connection
 * the server is closing at that moment. */
#define POOL_IDLE_SECONDS 15.0

struct client_req;

struct pool_conn {
    struct evhttp_connection *evcon; /* NULL until first used, or after a timeout */
    struct client_req *busy;         /* the request in flight on it */
    unsigned long served;            /* responses since it last (re)connected */
};

struct client_pool {
    struct ag__loop_hook hook; /* first: the hook release finds us */
    struct ag_loop *loop;
    char *host;
    int port;
    struct pool_conn conns[POOL_MAX_CONNS];
    int n_conns;
    struct client_req *head, *tail; /* waiting for a connection */
    bool kicking;
    struct client_pool *next; /* in client_pools */
};

/* Every pool of this thread; a process talks to a handful of servers. */
static _Thread_local struct client_pool *client_pools;
static _Thread_local int pool_size = POOL_DEFAULT_CONNS;

void ag_http_client_set_pool_size(int n)
{
    pool_size = n < 1 ? 1 : n > POOL_MAX_CONNS ? POOL_MAX_CONNS : n;
}

struct client_req {
    struct ag__loop_hook hook; /* first: the hook release finds us */
    struct ag_loop *loop;
    struct client_pool *pool;       /* NULL: a connection of its own */
    struct pool_conn *conn;         /* while in flight */
    struct pool_conn solo;          /* the connection of its own */
    struct client_req *prev, *next; /* in the pool's queue */
    bool queued;
    struct evhttp_request *evreq; /* built, not yet handed to libevent */
    enum evhttp_cmd_type type;
    char *path;
    struct ag_timer *timer;
    ag_http_done_cb done;
    void *arg;
    char *host;
    int port;
    double timeout;
    /* Kept for a retry (idempotent methods only). */
    struct evkeyvalq *saved_headers;
    char *saved_body;
    size_t saved_len;
    bool saved_has_body;
    bool in_call;  /* inside ag_http_request() or a dispatch */
    bool finished; /* done has been called or is scheduled */
    bool retried;
    bool eof; /* the connection closed before a response */
    char error[160];
};

static void pool_kick(struct client_pool *pool);

static void queue_push(struct client_pool *pool, struct client_req *cr, bool front)
{
    cr->queued = true;
    if (front) {
        cr->prev = NULL;
        cr->next = pool->head;
        if (pool->head)
            pool->head->prev = cr;
        else
            pool->tail = cr;
        pool->head = cr;
        return;
    }
    cr->next = NULL;
    cr->prev = pool->tail;
    if (pool->tail)
        pool->tail->next = cr;
    else
        pool->head = cr;
    pool->tail = cr;
}

static void queue_unlink(struct client_pool *pool, struct client_req *cr)
{
    if (!cr->queued)
        return;
    if (cr->prev)
        cr->prev->next = cr->next;
    else
        pool->head = cr->next;
    if (cr->next)
        cr->next->prev = cr->prev;
    else
        pool->tail = cr->prev;
    cr->prev = cr->next = NULL;
    cr->queued = false;
}

static void pool_release(struct ag__loop_hook *hook)
{
    struct client_pool *pool = (struct client_pool *)hook;

    /* The loop is going away: requests still alive are released by their
     * own hooks; detach them first. Freeing a connection frees its pending
     * request without callbacks. */
    for (int i = 0; i < pool->n_conns; i++) {
        struct pool_conn *conn = &pool->conns[i];

        if (conn->busy) {
            conn->busy->conn = NULL;
            conn->busy->pool = NULL;
        }
        if (conn->evcon)
            evhttp_connection_free(conn->evcon);
    }
    while (pool->head) {
        struct client_req *cr = pool->head;

        queue_unlink(pool, cr);
        cr->pool = NULL;
    }
    for (struct client_pool **p = &client_pools; *p; p = &(*p)->next) {
        if (*p == pool) {
            *p = pool->next;
            break;
        }
    }
    free(pool->host);
    free(pool);
}

static struct client_pool *pool_get(struct ag_loop *loop, const char *host, int port)
{
    struct client_pool *pool;

    for (pool = client_pools; pool; pool = pool->next)
        if (pool->loop == loop && pool->port == port && strcmp(pool->host, host) == 0)
            return pool;
    pool = calloc(1, sizeof(*pool));
    if (!pool)
        return NULL;
    pool->host = strdup(host);
    if (!pool->host) {
        free(pool);
        return NULL;
    }
    pool->loop = loop;
    pool->port = port;
    pool->hook.release = pool_release;
    ag__loop_hook_add(loop, &pool->hook);
    pool->next = client_pools;
    client_pools = pool;
    return pool;
}

static void client_req_destroy(struct client_req *cr)
{
    ag__loop_hook_remove(&cr->hook);
    ag_timer_free(cr->timer);
    if (cr->pool)
        queue_unlink(cr->pool, cr);
    if (cr->conn) {
        /* Still in flight (the loop is being freed): drop the connection
         * so that no callback can reach us later. */
        if (cr->conn->evcon)
            evhttp_connection_free(cr->conn->evcon);
        cr->conn->evcon = NULL;
        cr->conn->busy = NULL;
        cr->conn->served = 0;
    }
    if (cr->solo.evcon)
        evhttp_connection_free(cr->solo.evcon);
    if (cr->evreq)
        evhttp_request_free(cr->evreq);
    if (cr->saved_headers) {
        evhttp_clear_headers(cr->saved_headers);
        free(cr->saved_headers);
    }
    free(cr->saved_body);
    free(cr->path);
    free(cr->host);
    free(cr);
}

static void client_req_hook_release(struct ag__loop_hook *hook)
{
    client_req_destroy((struct client_req *)hook);
}

static void client_req_destroy_deferred(void *arg)
{
    client_req_destroy(arg);
}

/* Frees a finished request; a pooled one also hands its connection on. */
static void client_req_retire(struct client_req *cr)
{
    struct client_pool *pool = cr->pool;

    if (!pool) {
        /* Its own connection must not be freed from inside its callbacks.
         * If the deferral cannot be allocated the hook frees it at exit. */
        ag_loop_defer(cr->loop, client_req_destroy_deferred, cr);
        return;
    }
    client_req_destroy(cr);
    pool_kick(pool);
}

static void client_req_fail_deferred(void *arg)
{
    struct client_req *cr = arg;
    struct ag_http_response resp = {.code = 0, .error = cr->error};
    struct client_pool *pool = cr->pool;

    cr->done(&resp, cr->arg);
    client_req_destroy(cr);
    if (pool)
        pool_kick(pool);
}

static void client_req_error(enum evhttp_request_error error, void *arg)
{
    struct client_req *cr = arg;

    cr->eof = error == EVREQ_HTTP_EOF;
    if (!cr->error[0])
        snprintf(cr->error, sizeof(cr->error), "%s:%d: %s", cr->host, cr->port,
                 request_error_text(error));
}

static void client_req_done(struct evhttp_request *evreq, void *arg);

static bool method_idempotent(enum evhttp_cmd_type type)
{
    return type == EVHTTP_REQ_GET || type == EVHTTP_REQ_HEAD || type == EVHTTP_REQ_PUT ||
           type == EVHTTP_REQ_DELETE || type == EVHTTP_REQ_OPTIONS;
}

/* Keeps what a retry needs to build the request again. */
static int client_req_save(struct client_req *cr)
{
    struct evkeyvalq *out = evhttp_request_get_output_headers(cr->evreq);
    struct evbuffer *body = evhttp_request_get_output_buffer(cr->evreq);
    size_t len = evbuffer_get_length(body);

    cr->saved_headers = calloc(1, sizeof(*cr->saved_headers));
    if (!cr->saved_headers)
        return -ENOMEM;
    cr->saved_headers->tqh_first = NULL;
    cr->saved_headers->tqh_last = &cr->saved_headers->tqh_first;
    for (struct evkeyval *kv = out->tqh_first; kv; kv = kv->next.tqe_next)
        if (evhttp_add_header(cr->saved_headers, kv->key, kv->value) < 0)
            return -ENOMEM;
    cr->saved_body = malloc(len + 1);
    if (!cr->saved_body)
        return -ENOMEM;
    evbuffer_copyout(body, cr->saved_body, len);
    cr->saved_len = len;
    return 0;
}

static struct evhttp_request *client_req_build_again(struct client_req *cr)
{
    struct evhttp_request *evreq = evhttp_request_new(client_req_done, cr);
    struct evkeyvalq *out;

    if (!evreq)
        return NULL;
    evhttp_request_set_error_cb(evreq, client_req_error);
    out = evhttp_request_get_output_headers(evreq);
    for (struct evkeyval *kv = cr->saved_headers->tqh_first; kv; kv = kv->next.tqe_next)
        evhttp_add_header(out, kv->key, kv->value);
    if (cr->saved_len &&
        evbuffer_add(evhttp_request_get_output_buffer(evreq), cr->saved_body, cr->saved_len) < 0) {
        evhttp_request_free(evreq);
        return NULL;
    }
    return evreq;
}

/* A request that failed because a reused connection closed before any
 * response is sent once more, on a fresh connection, if its method is
 * idempotent: the server may or may not have processed it, and doing it
 * twice must be harmless. POST (every Mesos call) is never resent here:
 * the caller learns of the failure and decides (see docs/architecture.md). */
static bool client_req_retry(struct client_req *cr, unsigned long served_before)
{
    if (!cr->pool || !cr->saved_headers || cr->retried || !cr->eof || served_before == 0)
        return false;
    cr->evreq = client_req_build_again(cr);
    if (!cr->evreq)
        return false;
    cr->retried = true;
    cr->eof = false;
    cr->error[0] = '\0';
    queue_push(cr->pool, cr, true);
    pool_kick(cr->pool);
    return true;
}

static void client_req_done(struct evhttp_request *evreq, void *arg)
{
    struct client_req *cr = arg;
    struct pool_conn *conn = cr->conn;
    struct ag_http_response resp = {0};
    bool failed = !evreq || evhttp_request_get_response_code(evreq) == 0;
    unsigned long served_before = 0;

    if (cr->finished)
        return;
    if (conn) {
        served_before = conn->served;
        conn->busy = NULL;
        conn->served = failed ? 0 : conn->served + 1;
        cr->conn = NULL;
        if (!failed && cr->pool && conn->evcon) {
            /* Now idle: libevent watches it for the server's close; this
             * bounds how long it stays open unused. */
            struct timeval idle = seconds_to_tv(POOL_IDLE_SECONDS);

            evhttp_connection_set_timeout_tv(conn->evcon, &idle);
        }
    }
    if (failed && !cr->in_call && client_req_retry(cr, served_before))
        return;
    cr->finished = true;
    ag_timer_stop(cr->timer);
    if (failed) {
        if (!cr->error[0])
            snprintf(cr->error, sizeof(cr->error), "cannot connect to %s:%d", cr->host, cr->port);
        /* Never call back from inside ag_http_request(). */
        if (cr->in_call) {
            /* Without memory to defer, the hook frees the request at exit. */
            ag_loop_defer(cr->loop, client_req_fail_deferred, cr);
            return;
        }
        resp.error = cr->error;
        cr->done(&resp, cr->arg);
    } else {
        struct evbuffer *in = evhttp_request_get_input_buffer(evreq);

        resp.code = evhttp_request_get_response_code(evreq);
        resp.headers = evhttp_request_get_input_headers(evreq);
        resp.len = evbuffer_get_length(in);
        /* libevent frees the request after this callback: NUL-terminate
         * the body in place. */
        if (evbuffer_add(in, "", 1) == 0)
            resp.body = (const char *)evbuffer_pullup(in, -1);
        if (!resp.body)
            resp.len = 0;
        cr->done(&resp, cr->arg);
    }
    client_req_retire(cr);
}

/* Hands the built request to libevent on `conn`. */
static void client_req_dispatch(struct client_req *cr, struct pool_conn *conn)
{
    struct evhttp_request *evreq = cr->evreq;
    int r;

    if (!conn->evcon) {
        conn->evcon = evhttp_connection_base_new(ag_loop_base(cr->loop), NULL, cr->host,
                                                 (ev_uint16_t)cr->port);
        conn->served = 0;
    }
    if (!conn->evcon) {
        snprintf(cr->error, sizeof(cr->error), "%s:%d: out of memory", cr->host, cr->port);
        cr->finished = true;
        ag_timer_stop(cr->timer);
        ag_loop_defer(cr->loop, client_req_fail_deferred, cr);
        return;
    }
    if (cr->timeout > 0) {
        struct timeval tv = seconds_to_tv(cr->timeout);

        /* Bounds each connect/read/write; the timer bounds the total. */
        evhttp_connection_set_timeout_tv(conn->evcon, &tv);
    } else {
        /* "None": libevent would otherwise apply its own 45-50 s. */
        struct timeval never = {100000000, 0};

        evhttp_connection_set_timeout_tv(conn->evcon, &never);
    }
    conn->busy = cr;
    cr->conn = conn;
    cr->evreq = NULL; /* libevent's from here on */
    bool was_in_call = cr->in_call;
    cr->in_call = true;
    r = evhttp_make_request(conn->evcon, evreq, cr->type, cr->path);
    cr->in_call = was_in_call;
    if (r < 0 && !cr->finished) {
        /* Only allocation failures get here; libevent may or may not have
         * freed evreq, so leave it (a rare leak beats a double free). */
        if (cr->conn) {
            cr->conn->busy = NULL;
            cr->conn = NULL;
        }
        snprintf(cr->error, sizeof(cr->error), "%s:%d: cannot send the request", cr->host,
                 cr->port);
        cr->finished = true;
        ag_timer_stop(cr->timer);
        ag_loop_defer(cr->loop, client_req_fail_deferred, cr);
    }
}

/* Starts queued requests on free connections, opening new ones up to the
 * pool's size. A connection that already served is preferred. */
static void pool_kick(struct client_pool *pool)
{
    if (pool->kicking)
        return;
    pool->kicking = true;
    while (pool->head) {
        struct pool_conn *conn = NULL;

        for (int i = 0; i < pool->n_conns && !conn; i++)
            if (!pool->conns[i].busy && pool->conns[i].evcon)
                conn = &pool->conns[i];
        for (int i = 0; i < pool->n_conns && !conn; i++)
            if (!pool->conns[i].busy)
                conn = &pool->conns[i];
        if (!conn && pool->n_conns < pool_size)
            conn = &pool->conns[pool->n_conns++];
        if (!conn)
            break;
        struct client_req *cr = pool->head;

        queue_unlink(pool, cr);
        client_req_dispatch(cr, conn);
    }
    pool->kicking = false;
}

static void client_req_timeout(void *arg)
{
    struct client_req *cr = arg;
    struct ag_http_response resp = {.code = 0};
    struct client_pool *pool = cr->pool;

    if (cr->finished)
        return;
    cr->finished = true;
    if (cr->conn) {
        /* Not inside any connection callback: free the connection (and
         * with it the request, without callbacks) right away. Only this
         * request used it. */
        evhttp_connection_free(cr->conn->evcon);
        cr->conn->evcon = NULL;
        cr->conn->busy = NULL;
        cr->conn->served = 0;
        if (cr->conn == &cr->solo)
            cr->solo.evcon = NULL;
        cr->conn = NULL;
    }
    if (pool)
        queue_unlink(pool, cr);
    snprintf(cr->error, sizeof(cr->error), "%s:%d: timed out after %g s", cr->host, cr->port,
             cr->timeout);
    resp.error = cr->error;
    cr->done(&resp, cr->arg);
    client_req_destroy(cr);
    if (pool)
        pool_kick(pool);
}

/* "Connection: close" asks for a connection of its own, closed after the
 * response (a health check wants to see a fresh connect, say). */
static bool wants_own_connection(const struct ag_http_header *headers)
{
    for (size_t i = 0; headers && headers[i].name; i++)
        if (headers[i].value && strcasecmp(headers[i].name, "Connection") == 0 &&
            strcasecmp(headers[i].value, "close") == 0)
            return true;
    return false;
}

int ag_http_request(struct ag_loop *loop, const char *method, const char *url,
                    const struct ag_http_header *headers, const char *body, size_t len,
                    double timeout, ag_http_done_cb done, void *arg)
{
    enum evhttp_cmd_type type;
    struct client_req *cr;
    int r;

    if (!done || method_to_ev(method, &type) < 0)
        return -EINVAL;
    cr = calloc(1, sizeof(*cr));
    if (!cr)
        return -ENOMEM;
    cr->loop = loop;
    cr->done = done;
    cr->arg = arg;
    cr->timeout = timeout;
    cr->type = type;
    r = ag_http_parse_url(url, &cr->host, &cr->port, &cr->path);
    if (r < 0) {
        free(cr);
        return r;
    }
    cr->timer = ag_timer_new(loop, client_req_timeout, cr);
    cr->evreq = evhttp_request_new(client_req_done, cr);
    if (!cr->timer || !cr->evreq) {
        r = -ENOMEM;
        goto fail;
    }
    evhttp_request_set_error_cb(cr->evreq, client_req_error);
    r = client_fill_request(cr->evreq, cr->host, cr->port, headers, body, len);
    if (r < 0)
        goto fail;
    if (!wants_own_connection(headers)) {
        cr->pool = pool_get(loop, cr->host, cr->port);
        if (!cr->pool || (method_idempotent(type) && client_req_save(cr) < 0)) {
            r = -ENOMEM;
            goto fail;
        }
    }
    cr->hook.release = client_req_hook_release;
    ag__loop_hook_add(loop, &cr->hook);
    if (timeout > 0)
        ag_timer_start(cr->timer, timeout);
    cr->in_call = true;
    if (cr->pool) {
        struct client_pool *pool = cr->pool;

        queue_push(pool, cr, false);
        pool_kick(pool);
    } else {
        client_req_dispatch(cr, &cr->solo);
    }
    /* cr may only be touched if it is still ours: a failure inside the
     * call is always deferred, so it is. */
    cr->in_call = false;
    return 0;
fail:
    client_req_destroy(cr);
    return r;
}

/* --- streaming reads --- */

struct ag_http_client_stream {
    struct ag__loop_hook hook; /* first: the hook release finds us */
    struct ag_loop *loop;
    struct evhttp_connection *evcon;
    struct ag_http_client_stream_ops ops;
    void *arg;
    char *host;
    int port;
    int depth;           /* inside one of our libevent callbacks */
    bool opening;        /* inside ag_http_client_stream_open() */
    bool closed;         /* closed by the user: no more callbacks */
    bool finished;       /* on_closed delivered or scheduled */
    bool deliver_closed; /* the deferred pass must call on_closed */
    bool free_scheduled;
    char reason[160];
};

static void cstream_destroy(struct ag_http_client_stream *s)
{
    ag__loop_hook_remove(&s->hook);
    if (s->evcon)
        evhttp_connection_free(s->evcon);
    free(s->host);
    free(s);
}

static void cstream_hook_release(struct ag__loop_hook *hook)
{
    cstream_destroy((struct ag_http_client_stream *)hook);
}

static void cstream_deferred(void *arg)
{
    struct ag_http_client_stream *s = arg;

    if (s->deliver_closed && !s->closed) {
        s->deliver_closed = false;
        if (s->ops.on_closed)
            s->ops.on_closed(s, s->reason, s->arg);
    }
    cstream_destroy(s);
}

static void cstream_schedule_free(struct ag_http_client_stream *s)
{
    if (s->free_scheduled)
        return;
    s->free_scheduled = true;
    /* Without memory for the deferral the loop hook frees us at exit. */
    ag_loop_defer(s->loop, cstream_deferred, s);
}

static void cstream_finish(struct ag_http_client_stream *s, const char *reason)
{
    s->finished = true;
    /* Truncation is fine: the reason is for humans. */
    size_t n = strnlen(reason, sizeof(s->reason) - 1);
    memcpy(s->reason, reason, n);
    s->reason[n] = '\0';
    if (s->opening) {
        s->deliver_closed = true;
        cstream_schedule_free(s);
        return;
    }
    if (s->ops.on_closed) {
        s->depth++;
        s->ops.on_closed(s, s->reason, s->arg);
        s->depth--;
    }
    cstream_schedule_free(s);
}

static int cstream_on_headers(struct evhttp_request *evreq, void *arg)
{
    struct ag_http_client_stream *s = arg;
    struct ag_http_response resp = {0};

    if (s->closed || s->finished)
        return -1;
    /* From here on the server talks when it has something to say: the
     * caller watches heartbeats, so no read timeout. */
    bufferevent_set_timeouts(evhttp_connection_get_bufferevent(s->evcon), NULL, NULL);
    resp.code = evhttp_request_get_response_code(evreq);
    resp.headers = evhttp_request_get_input_headers(evreq);
    if (s->ops.on_open) {
        s->depth++;
        s->ops.on_open(s, &resp, s->arg);
        s->depth--;
    }
    return s->closed ? -1 : 0;
}

static void cstream_on_chunk(struct evhttp_request *evreq, void *arg)
{
    struct ag_http_client_stream *s = arg;
    struct evbuffer *in = evhttp_request_get_input_buffer(evreq);
    struct evbuffer_iovec vec[16];
    int n;

    if (s->closed || s->finished || !s->ops.on_data)
        return;
    s->depth++;
    while (!s->closed && evbuffer_get_length(in) > 0) {
        size_t used = 0;

        n = evbuffer_peek(in, -1, NULL, vec, 16);
        if (n > 16)
            n = 16;
        for (int i = 0; i < n && !s->closed; i++) {
            s->ops.on_data(s, vec[i].iov_base, vec[i].iov_len, s->arg);
            used += vec[i].iov_len;
        }
        evbuffer_drain(in, used);
    }
    s->depth--;
}

static void cstream_on_error(enum evhttp_request_error error, void *arg)
{
    struct ag_http_client_stream *s = arg;
    char reason[200];

    if (s->closed || s->finished)
        return;
    snprintf(reason, sizeof(reason), "%s:%d: %s", s->host, s->port, request_error_text(error));
    cstream_finish(s, reason);
}

static void cstream_on_done(struct evhttp_request *evreq, void *arg)
{
    struct ag_http_client_stream *s = arg;
    char reason[200];

    if (s->closed || s->finished)
        return;
    if (!evreq || evhttp_request_get_response_code(evreq) == 0)
        snprintf(reason, sizeof(reason), "cannot connect to %s:%d", s->host, s->port);
    else
        snprintf(reason, sizeof(reason), "stream ended by the server");
    cstream_finish(s, reason);
}

struct ag_http_client_stream *
ag_http_client_stream_open(struct ag_loop *loop, const char *url,
                           const struct ag_http_header *headers, const char *body, size_t len,
                           const struct ag_http_client_stream_ops *ops, void *arg)
{
    struct ag_http_client_stream *s;
    struct evhttp_request *evreq;
    char *path = NULL;
    int r;

    if (!ops)
        return NULL;
    s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->loop = loop;
    s->ops = *ops;
    s->arg = arg;
    if (client_prepare(loop, url, &s->evcon, &s->host, &s->port, &path) < 0) {
        free(s);
        return NULL;
    }
    /* The limit would count the whole stream. */
    evhttp_connection_set_max_body_size(s->evcon, -1);
    evreq = evhttp_request_new(cstream_on_done, s);
    if (!evreq)
        goto fail;
    evhttp_request_set_header_cb(evreq, cstream_on_headers);
    evhttp_request_set_chunked_cb(evreq, cstream_on_chunk);
    evhttp_request_set_error_cb(evreq, cstream_on_error);
    if (client_fill_request(evreq, s->host, s->port, headers, body, len) < 0) {
        evhttp_request_free(evreq);
        goto fail;
    }
    s->hook.release = cstream_hook_release;
    ag__loop_hook_add(loop, &s->hook);
    s->opening = true;
    r = evhttp_make_request(s->evcon, evreq, body ? EVHTTP_REQ_POST : EVHTTP_REQ_GET, path);
    s->opening = false;
    free(path);
    if (r < 0 && !s->finished) {
        cstream_destroy(s);
        return NULL;
    }
    return s;
fail:
    free(path);
    cstream_destroy(s);
    return NULL;
}

void ag_http_client_stream_close(struct ag_http_client_stream *s)
{
    if (!s || s->closed)
        return;
    s->closed = true;
    if (s->free_scheduled)
        return;
    if (s->depth > 0) {
        cstream_schedule_free(s);
        return;
    }
    cstream_destroy(s);
}
