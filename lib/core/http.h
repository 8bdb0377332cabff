/*
 * http: HTTP/1.1 server and client for Agora's APIs, on an ag_loop.
 *
 * The server routes exact paths to handlers and supports long-lived chunked
 * responses (the Mesos RecordIO event streams). The client does one-shot
 * requests and streaming reads (a SUBSCRIBE stream delivered as it arrives).
 * Built on libevent's evhttp; no libevent type leaks out of this header.
 *
 * Ownership: a struct ag_http_req is owned by the server; the handler must
 * answer it exactly once, with ag_http_reply*() (which frees it) or by
 * turning it into a stream with ag_http_stream_start(). Handlers may answer
 * later (after a timer, say), but must not keep the pointer after replying.
 */
#ifndef AG_CORE_HTTP_H
#define AG_CORE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct ag_loop;
struct ag_http_server;
struct ag_http_req;
struct ag_http_stream;

enum ag_http_method {
    AG_HTTP_OTHER = 0,
    AG_HTTP_GET = 1,
    AG_HTTP_POST = 2,
    AG_HTTP_PUT = 3,
    AG_HTTP_DELETE = 4,
    AG_HTTP_HEAD = 5,
};

/* Default cap on request bodies (bytes); larger bodies get 413. */
#define AG_HTTP_MAX_BODY_DEFAULT (4u * 1024 * 1024)

typedef void (*ag_http_handler)(struct ag_http_req *req, void *arg);

/* Listens on ip:port (port 0 picks a free one; ip NULL means every
 * address). Request bodies over max_body bytes get 413 (0 means
 * AG_HTTP_MAX_BODY_DEFAULT). NULL on failure, with a message in err. */
struct ag_http_server *ag_http_server_new(struct ag_loop *loop, const char *ip, int port,
                                          size_t max_body, char *err, size_t errlen);
/* Port actually bound (useful with port 0). */
int ag_http_server_port(const struct ag_http_server *server);
/* Routes requests whose decoded path equals `path` exactly. Later routes
 * with the same path replace earlier ones. */
int ag_http_server_route(struct ag_http_server *server, const char *path, ag_http_handler handler,
                         void *arg);
/* Routes requests whose path starts with `prefix` (checked after exact
 * routes, longest prefix first). */
int ag_http_server_route_prefix(struct ag_http_server *server, const char *prefix,
                                ag_http_handler handler, void *arg);
/* Connections with no request in progress (and slow writers) are closed
 * after this many seconds without progress; default 60, 0 = never. Streams
 * are never closed for being idle, only when a write makes no progress for
 * this long. Applies to connections accepted afterwards. */
void ag_http_server_set_timeout(struct ag_http_server *server, double seconds);
/* How many accept() calls failed (out of descriptors or memory). After
 * each failure accepting pauses for 100 ms rather than retrying at once. */
uint64_t ag_http_server_accept_errors(const struct ag_http_server *server);
/* How many connections the server has accepted (keep-alive reuse shows as
 * many requests per connection). */
uint64_t ag_http_server_connections(const struct ag_http_server *server);
/* Closes the listener and every connection (streams get their close
 * callback; requests a handler still holds become dead: replying to them
 * only frees them). Accepts NULL. May be called from a handler or a close
 * callback of this server: the connections are then closed on the next
 * loop iteration. */
void ag_http_server_free(struct ag_http_server *server);

/* --- the request, inside a handler --- */
enum ag_http_method ag_http_req_method(const struct ag_http_req *req);
/* Decoded path without the query string, e.g. "/master/state". */
const char *ag_http_req_path(const struct ag_http_req *req);
/* Value of a query parameter (decoded), or NULL. */
const char *ag_http_req_query(const struct ag_http_req *req, const char *key);
/* Header value, case-insensitive name, or NULL (also once the client is
 * gone). */
const char *ag_http_req_header(const struct ag_http_req *req, const char *name);
/* Request body, always NUL-terminated (len excludes the NUL). Never NULL. */
const char *ag_http_req_body(const struct ag_http_req *req, size_t *ret_len);
/* "ip:port" of the peer. */
const char *ag_http_req_peer(const struct ag_http_req *req);
/* Adds a response header (before replying or starting a stream). */
void ag_http_req_add_header(struct ag_http_req *req, const char *name, const char *value);

/* Answers and frees the request. body may be NULL when len is 0. */
void ag_http_reply(struct ag_http_req *req, int code, const char *content_type, const char *body,
                   size_t len);
/* Answers with compact JSON (application/json) and frees the request.
 * Steals the reference to `body`. With a `jsonp` query parameter, wraps the
 * JSON in a call to it (text/javascript), as the Mesos endpoints do. */
void ag_http_reply_json(struct ag_http_req *req, int code, json_t *body);
/* Whether `name` is acceptable as a `jsonp` callback (a dotted
 * JavaScript identifier); for handlers that stream JSON themselves. */
bool ag_http_jsonp_valid(const char *name);
/* Answers with a text/plain message (printf-style) and frees the request. */
void ag_http_reply_error(struct ag_http_req *req, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* --- long-lived streaming responses --- */
typedef void (*ag_http_stream_close_cb)(struct ag_http_stream *stream, void *arg);

/* Starts a chunked 200-style response and takes over the request. The
 * close callback runs once when the peer goes away (or the server is freed,
 * then from inside ag_http_server_free()); the stream is freed right after
 * it returns. NULL on failure (the request
 * has then been answered with 500). */
struct ag_http_stream *ag_http_stream_start(struct ag_http_req *req, int code,
                                            const char *content_type,
                                            ag_http_stream_close_cb on_close, void *arg);
/* Sends one chunk. 0, or -EPIPE when the peer is gone. */
int ag_http_stream_send(struct ag_http_stream *stream, const char *data, size_t len);
/* Sends `json` framed as one RecordIO record, in one chunk. 0 or -EPIPE. */
int ag_http_stream_send_record(struct ag_http_stream *stream, const char *json, size_t len);
/* A piece of text; see ag_http_stream_send_pieces(). */
struct ag_http_piece {
    const char *data;
    size_t len;
};
/* Sends the concatenation of n pieces (JSON text rendered by the caller,
 * e.g. a prefix, a value kept serialised, a suffix) as one RecordIO
 * record in one chunk, without copying them together first. 0, -EPIPE or
 * -ENOMEM. */
int ag_http_stream_send_pieces(struct ag_http_stream *stream, const struct ag_http_piece *pieces,
                               size_t n);
/* Dumps `event` compactly and sends it as one record. Does not steal. */
int ag_http_stream_send_json(struct ag_http_stream *stream, const json_t *event);
/* Bytes queued but not yet written to the socket (back-pressure). */
size_t ag_http_stream_pending(const struct ag_http_stream *stream);
/* The stream's socket is served at the loop's urgent priority (see
 * ag_timer_set_urgent): what is queued on it is written before the other
 * callbacks of the next loop pass run, not after them. Order within the
 * stream is unchanged. 0, or -EPIPE when the peer is gone. */
int ag_http_stream_set_urgent(struct ag_http_stream *stream);
/* Ends the response and frees the stream; the close callback is NOT called. */
void ag_http_stream_end(struct ag_http_stream *stream);
/* Caller-defined pointer attached to the stream. */
void ag_http_stream_set_data(struct ag_http_stream *stream, void *data);
void *ag_http_stream_data(const struct ag_http_stream *stream);

/* --- client --- */

/* Response given to client callbacks; valid only during the callback. */
struct ag_http_response;
/* HTTP status, or 0 when no response came (connect failure, timeout,
 * reset); then ag_http_response_error() says why. */
int ag_http_response_code(const struct ag_http_response *resp);
const char *ag_http_response_header(const struct ag_http_response *resp, const char *name);
/* Body (NUL-terminated; len excludes the NUL). Empty for streams. */
const char *ag_http_response_body(const struct ag_http_response *resp, size_t *ret_len);
/* Why no response came; NULL when the code is not 0. */
const char *ag_http_response_error(const struct ag_http_response *resp);

typedef void (*ag_http_done_cb)(const struct ag_http_response *resp, void *arg);

/* One request header. Arrays of them end with {NULL, NULL}. */
struct ag_http_header {
    const char *name;
    const char *value;
};

/* Sends one request to `url` ("http://host:port/path?query"); calls done
 * exactly once, on the loop thread, never from inside this call. `method`
 * is "GET", "POST", ... timeout in seconds (0 = none; it covers the wait
 * for a free connection too). 0, or -EINVAL for a bad URL or method,
 * -ENOMEM. A host name (rather than an address) is resolved with a
 * blocking lookup at each connect.
 *
 * Connections are kept alive and reused: each loop keeps up to 8 per
 * (host, port), one request in flight on each; further requests wait in
 * order for a free one. Idle connections close after 15 s. A request
 * carrying the header "Connection: close" gets a connection of its own
 * instead (use it for calls the server may hold for long, so that they do
 * not occupy the pool). When a reused connection turns out closed before
 * any response came, a GET, HEAD, PUT, DELETE or OPTIONS is sent once more
 * on a fresh connection; a POST or PATCH is not (the server may have
 * processed it): done then gets code 0 and the caller decides. */
int ag_http_request(struct ag_loop *loop, const char *method, const char *url,
                    const struct ag_http_header *headers, const char *body, size_t len,
                    double timeout, ag_http_done_cb done, void *arg);

/* Connections each pool of this thread's loops keeps at most (1 to 64;
 * default 8). Applies to connections opened afterwards. */
void ag_http_client_set_pool_size(int n);

struct ag_http_client_stream;

struct ag_http_client_stream_ops {
    /* Response headers arrived. For a non-2xx code the body follows in
     * on_data and then on_closed is called. */
    void (*on_open)(struct ag_http_client_stream *s, const struct ag_http_response *resp,
                    void *arg);
    /* A piece of the body, as read (not aligned to records). */
    void (*on_data)(struct ag_http_client_stream *s, const char *data, size_t len, void *arg);
    /* The stream ended or failed (reason says which); the stream is freed
     * after this returns. Not called after ag_http_client_stream_close(). */
    void (*on_closed)(struct ag_http_client_stream *s, const char *reason, void *arg);
};

/* POSTs (or GETs when body is NULL) and reads the response as a stream.
 * NULL on a bad URL or OOM. No timeout once the response headers arrived
 * (the caller watches heartbeats); before that libevent's defaults apply
 * (45 s to connect, 50 s for the headers). Connect failures arrive as
 * on_closed, never from inside this call. */
struct ag_http_client_stream *
ag_http_client_stream_open(struct ag_loop *loop, const char *url,
                           const struct ag_http_header *headers, const char *body, size_t len,
                           const struct ag_http_client_stream_ops *ops, void *arg);
/* Closes the connection and frees the stream; no callback follows. Safe
 * from inside the stream's own callbacks. */
void ag_http_client_stream_close(struct ag_http_client_stream *s);

/* Splits "http://host:port/path" into parts; host and path are malloc'd.
 * Port defaults to 80. 0 or -EINVAL. */
int ag_http_parse_url(const char *url, char **ret_host, int *ret_port, char **ret_path);

#endif
