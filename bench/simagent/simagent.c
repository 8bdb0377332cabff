/*
 * bench-simagent: one process emulating N Agora agents for benchmarks.
 *
 * Each emulated agent has its own agent id and its own SUBSCRIBE stream (its
 * own TCP connection) to the master and speaks docs/agent-protocol.md as
 * the real agent does: it answers HEARTBEAT events with HEARTBEAT calls and
 * runs a simulated executor: a LAUNCH puts TASK_STARTING and TASK_RUNNING
 * on the task's update stream at once, and TASK_FINISHED (or TASK_FAILED at
 * --fail_rate) after --task_duration. Every update carries a fresh uuid and
 * the head of each task's stream is resent until the master ACKNOWLEDGEs
 * it, so updates arrive in order per task.
 *
 * Why not lib/core's loop and HTTP client: 50,000 streams plus ~60,000
 * calls a second need keep-alive connections for the calls (the core
 * client opens one connection per request, which would exhaust the
 * ephemeral ports) and a few hundred bytes per agent. So this is a plain
 * epoll loop with a minimal HTTP/1.1 client: one stream connection per
 * agent and a small pool of keep-alive connections that carry every
 * agent's calls (each call names its agent and stream id, so sharing a
 * connection is invisible to the master).
 *
 * Source addresses: each stream comes from 127.0.0.<2 + i / per_ip> so
 * that 50,000 connections to one master port do not exhaust the ephemeral
 * port range of one source address (IP_BIND_ADDRESS_NO_PORT lets the
 * kernel pick ports per 4-tuple). The destination is always 127.0.0.1.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "core/id.h"
#include "core/recordio.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

/* ---------- options ---------- */

struct options {
    char master_ip[64];
    int master_port;
    int agents;
    double cpus, mem, disk;
    const char *attributes; /* "k:v;k2:v2" text attributes */
    const char *hostname_prefix;
    double task_duration; /* < 0: tasks never finish on their own */
    double fail_rate;     /* 0..1 */
    int call_conns;       /* keep-alive connections for calls */
    int max_connecting;   /* SUBSCRIBEs in flight at once */
    int per_ip;           /* streams per source address */
    double resend;        /* seconds before an unacknowledged update is resent */
    double duration;      /* run this long then exit (0 = until SIGTERM/SIGINT) */
    const char *ready_file;
    bool quiet;
    int detached; /* the first N agents leave once subscribed */
    int batch;    /* most updates in one UPDATE call (1: the single form) */
};

static struct options opt = {
    .master_ip = "127.0.0.1",
    .master_port = 5050,
    .agents = 10,
    .cpus = 8,
    .mem = 32768,
    .disk = 65536,
    .hostname_prefix = "sim",
    .task_duration = 1,
    .call_conns = 16,
    .max_connecting = 512,
    .per_ip = 20000,
    .resend = 10,
    .batch = 100,
};

/* ---------- small helpers ---------- */

static double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double now_wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "bench-simagent: out of memory\n");
        exit(1);
    }
    return p;
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) {
        fprintf(stderr, "bench-simagent: out of memory\n");
        exit(1);
    }
    return p;
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = xmalloc(n);
    memcpy(p, s, n);
    return p;
}

/* A growable byte buffer consumed from the front. */
struct buf {
    char *data;
    size_t off, len, cap; /* live bytes are data[off, len) */
};

static void buf_reserve(struct buf *b, size_t extra)
{
    if (b->off > 0 && (b->off == b->len || b->len + extra > b->cap)) {
        memmove(b->data, b->data + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
    }
    if (b->len + extra + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 512;
        while (cap < b->len + extra + 1)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d) {
            fprintf(stderr, "bench-simagent: out of memory\n");
            exit(1);
        }
        b->data = d;
        b->cap = cap;
    }
}

static void buf_add(struct buf *b, const char *data, size_t len)
{
    buf_reserve(b, len);
    memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
}

static size_t buf_size(const struct buf *b)
{
    return b->len - b->off;
}

static char *buf_head(const struct buf *b)
{
    return b->data + b->off;
}

static void buf_consume(struct buf *b, size_t n)
{
    b->off += n;
    if (b->off == b->len)
        b->off = b->len = 0;
}

static void buf_free(struct buf *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

/* Appends a string literal. */
#define BUF_LIT(b, lit) buf_add((b), (lit), sizeof(lit) - 1)

/* Appends `s` JSON-escaped (without quotes). */
static void buf_add_escaped(struct buf *b, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            buf_add(b, e, 2);
        } else if (c < 0x20) {
            char e[8];
            snprintf(e, sizeof(e), "\\u%04x", c);
            buf_add(b, e, 6);
        } else {
            buf_add(b, (const char *)&c, 1);
        }
    }
}

static void buf_addf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void buf_addf(struct buf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof(tmp)) {
        buf_add(b, tmp, (size_t)n);
        return;
    }
    buf_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* ---------- model ---------- */

enum { ST_STARTING, ST_RUNNING, ST_FINISHED, ST_FAILED, ST_KILLED };
static const char *const state_names[] = {"TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED",
                                          "TASK_FAILED", "TASK_KILLED"};

struct agent;

struct task {
    struct task *hnext; /* hash chain */
    struct agent *agent;
    char *fw_id, *task_id, *executor_id;
    int queue[4]; /* states waiting to be delivered; queue[0] is the head */
    int qlen;
    int latest;                 /* newest state known */
    bool ended;                 /* a terminal state is queued */
    bool in_fifo;               /* still waiting in the finish queue */
    char uuid[25];              /* uuid of the head */
    double sent_at;             /* when the head was (re)sent */
    struct task *rprev, *rnext; /* awaiting-ack list, oldest first */
    bool in_resend;
    struct task *fnext; /* finish queue */
    double finish_at;
};

/* AG_DETACHED: subscribed, then left on purpose (--detached); never comes back. */
enum agent_state { AG_IDLE, AG_CONNECTING, AG_SUBSCRIBED, AG_BACKOFF, AG_DETACHED };

struct conn;

struct agent {
    int idx;
    enum agent_state state;
    char *id; /* NULL until SUBSCRIBED */
    char sid[64];
    struct conn *stream;
    double retry_at;
    bool counted;            /* counted in subscribed_total */
    const char *lost_reason; /* set by an event that ends the stream */
    bool detach;             /* leave once subscribed (--detached) */
    /* Updates queued during this pass of the loop, sent together in one
     * UPDATE call ("updates": [...]) at the next pass. */
    struct buf batch;
    int batch_n;
    struct agent *batch_next; /* on batch_head while batch_listed */
    bool batch_listed;
};

enum conn_kind { CONN_STREAM, CONN_CALL };
enum http_phase { PH_CONNECTING, PH_HEADERS, PH_BODY, PH_IDLE };

struct call {
    struct call *next;
    int agent_idx;
    char *req;
    size_t len;
};

struct conn {
    enum conn_kind kind;
    int fd;
    struct agent *agent; /* streams */
    struct buf in, out;
    enum http_phase phase;
    int code;
    bool chunked;
    long content_left; /* non-chunked body bytes left */
    long chunk_left;   /* chunked: bytes left in current chunk, -1 = reading size line */
    bool chunk_crlf;   /* chunked: the CRLF after a chunk is due */
    bool want_write;
    struct ag_recordio_decoder dec;
    struct call *inflight; /* calls: the request awaiting its answer */
    int slot;              /* calls: index in the pool */
    double retry_at;
};

static int epfd;
static struct agent *agents;
static struct conn **call_pool;
static struct call *call_head, *call_tail;
static size_t call_queued;
static int connecting;
static int next_to_start;
static volatile sig_atomic_t stop_flag;

#define TASK_HASH_BITS 18
static struct task *task_hash[1u << TASK_HASH_BITS];
static struct task *resend_head, *resend_tail;
static struct task *fifo_head, *fifo_tail;
static struct agent *batch_head;

static struct {
    long batches_sent;
    long subscribed_total, subscribed_now, launches, updates_sent, updates_resent, acks, heartbeats,
        calls_ok, calls_failed, call_errors_logged, disconnects, kills;
    long running;
    double first_subscribed, all_subscribed;
} st;

/* ---------- epoll plumbing ---------- */

static void conn_watch(struct conn *c, bool add)
{
    struct epoll_event ev = {.events = EPOLLIN | (c->want_write ? EPOLLOUT : 0), .data.ptr = c};
    if (epoll_ctl(epfd, add ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, c->fd, &ev) < 0 && !add)
        epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev);
}

static void conn_set_write(struct conn *c, bool on)
{
    if (c->want_write == on)
        return;
    c->want_write = on;
    conn_watch(c, false);
}

static int sock_connect(int src_index)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (src_index >= 0) {
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
        struct sockaddr_in src = {.sin_family = AF_INET};
        src.sin_addr.s_addr = htonl(0x7f000002u + (uint32_t)(src_index / opt.per_ip));
        if (bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0) {
            int e = errno;
            close(fd);
            return -e;
        }
    }
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)opt.master_port)};
    inet_pton(AF_INET, opt.master_ip, &dst.sin_addr);
    if (connect(fd, (struct sockaddr *)&dst, sizeof(dst)) < 0 && errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

static void conn_reset_http(struct conn *c)
{
    c->phase = PH_HEADERS;
    c->code = 0;
    c->chunked = false;
    c->content_left = 0;
    c->chunk_left = -1;
    c->chunk_crlf = false;
}

/* Writes what the socket takes. 0, or -1 if the connection failed. */
static int conn_flush(struct conn *c)
{
    while (buf_size(&c->out) > 0) {
        ssize_t n = send(c->fd, buf_head(&c->out), buf_size(&c->out), MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                conn_set_write(c, true);
                return 0;
            }
            return -1;
        }
        buf_consume(&c->out, (size_t)n);
    }
    conn_set_write(c, false);
    return 0;
}

/* ---------- calls ---------- */

static void call_enqueue(int agent_idx, struct buf *body)
{
    struct agent *a = &agents[agent_idx];
    struct buf req = {0};
    buf_addf(&req,
             "POST /api/v1/agent HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
             "Mesos-Stream-Id: %s\r\nContent-Length: %zu\r\n\r\n",
             opt.master_ip, opt.master_port, a->sid, buf_size(body));
    buf_add(&req, buf_head(body), buf_size(body));
    struct call *call = xmalloc(sizeof(*call));
    call->next = NULL;
    call->agent_idx = agent_idx;
    call->req = req.data;
    call->len = req.len;
    if (call_tail)
        call_tail->next = call;
    else
        call_head = call;
    call_tail = call;
    call_queued++;
}

static void call_free(struct call *call)
{
    if (call) {
        free(call->req);
        free(call);
    }
}

static void call_conn_open(struct conn *c)
{
    int fd = sock_connect(-1);
    if (fd < 0) {
        c->fd = -1;
        c->retry_at = now_mono() + 0.5;
        return;
    }
    c->fd = fd;
    c->phase = PH_CONNECTING;
    c->want_write = true;
    conn_watch(c, true);
}

static void call_conn_fail(struct conn *c)
{
    /* The request in flight (if any) is dropped: updates are resent by the
     * resend timer, heartbeats by the next ping. */
    call_free(c->inflight);
    c->inflight = NULL;
    if (c->fd >= 0) {
        epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    c->fd = -1;
    buf_free(&c->in);
    buf_free(&c->out);
    c->want_write = false;
    c->retry_at = now_mono() + 0.2;
}

/* Puts the next queued call on an idle call connection. */
static void call_conn_pump(struct conn *c)
{
    if (c->fd < 0 || c->phase != PH_IDLE || !call_head)
        return;
    struct call *call = call_head;
    call_head = call->next;
    if (!call_head)
        call_tail = NULL;
    call_queued--;
    c->inflight = call;
    conn_reset_http(c);
    buf_add(&c->out, call->req, call->len);
    if (conn_flush(c) < 0)
        call_conn_fail(c);
}

static void pump_all_calls(void)
{
    for (int i = 0; i < opt.call_conns && call_head; i++)
        call_conn_pump(call_pool[i]);
}

/* ---------- tasks ---------- */

static uint32_t hash_key(int agent_idx, const char *fw, const char *task)
{
    uint32_t h = 2166136261u ^ (uint32_t)agent_idx;
    for (const char *p = fw; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    h = (h ^ '/') * 16777619u;
    for (const char *p = task; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    return h & ((1u << TASK_HASH_BITS) - 1);
}

static struct task *task_find(struct agent *a, const char *fw, const char *tid)
{
    for (struct task *t = task_hash[hash_key(a->idx, fw, tid)]; t; t = t->hnext)
        if (t->agent == a && strcmp(t->task_id, tid) == 0 && strcmp(t->fw_id, fw) == 0)
            return t;
    return NULL;
}

static void resend_unlink(struct task *t)
{
    if (!t->in_resend)
        return;
    if (t->rprev)
        t->rprev->rnext = t->rnext;
    else
        resend_head = t->rnext;
    if (t->rnext)
        t->rnext->rprev = t->rprev;
    else
        resend_tail = t->rprev;
    t->rprev = t->rnext = NULL;
    t->in_resend = false;
}

static void resend_append(struct task *t)
{
    resend_unlink(t);
    t->rprev = resend_tail;
    t->rnext = NULL;
    if (resend_tail)
        resend_tail->rnext = t;
    else
        resend_head = t;
    resend_tail = t;
    t->in_resend = true;
}

static void task_unhash(struct task *t)
{
    struct task **pp = &task_hash[hash_key(t->agent->idx, t->fw_id, t->task_id)];
    for (; *pp; pp = &(*pp)->hnext)
        if (*pp == t) {
            *pp = t->hnext;
            break;
        }
}

static void task_free(struct task *t)
{
    free(t->fw_id);
    free(t->task_id);
    free(t->executor_id);
    free(t);
}

/* Drops the task from this agent: no more updates. Freed once it has left
 * the finish queue too. */
static void task_drop(struct task *t)
{
    task_unhash(t);
    resend_unlink(t);
    if (t->latest == ST_RUNNING || t->latest == ST_STARTING)
        st.running--;
    t->qlen = 0;
    t->agent = NULL;
    if (!t->in_fifo)
        task_free(t);
}

/* Sends an agent's queued updates as one UPDATE call. */
static void batch_flush(struct agent *a)
{
    if (a->batch_n > 0 && a->state == AG_SUBSCRIBED) {
        struct buf b = {0};
        BUF_LIT(&b, "{\"type\":\"UPDATE\",\"agent_id\":{\"value\":\"");
        buf_add_escaped(&b, a->id);
        BUF_LIT(&b, "\"},\"updates\":[");
        buf_add(&b, buf_head(&a->batch), buf_size(&a->batch));
        BUF_LIT(&b, "]}");
        call_enqueue(a->idx, &b);
        buf_free(&b);
        st.batches_sent++;
    }
    /* Not subscribed any more: dropped; the resend timer sends them again. */
    buf_free(&a->batch);
    a->batch_n = 0;
}

static void flush_batches(void)
{
    while (batch_head) {
        struct agent *a = batch_head;
        batch_head = a->batch_next;
        a->batch_next = NULL;
        a->batch_listed = false;
        batch_flush(a);
    }
}

/* One update{framework_id, latest_state, status} of the task's head. */
static void task_render_update(struct task *t, struct buf *b)
{
    struct agent *a = t->agent;
    BUF_LIT(b, "{\"framework_id\":{\"value\":\"");
    buf_add_escaped(b, t->fw_id);
    buf_addf(b, "\"},\"latest_state\":\"%s\",\"status\":{\"task_id\":{\"value\":\"",
             state_names[t->latest]);
    buf_add_escaped(b, t->task_id);
    buf_addf(b, "\"},\"state\":\"%s\",\"source\":\"SOURCE_EXECUTOR\",\"agent_id\":{\"value\":\"",
             state_names[t->queue[0]]);
    buf_add_escaped(b, a->id);
    BUF_LIT(b, "\"},\"executor_id\":{\"value\":\"");
    buf_add_escaped(b, t->executor_id);
    buf_addf(b, "\"},\"timestamp\":%.6f,\"uuid\":\"%s\"}}", now_wall(), t->uuid);
}

static void task_send_head(struct task *t)
{
    struct agent *a = t->agent;
    if (!a || t->qlen == 0 || a->state != AG_SUBSCRIBED)
        return;
    if (opt.batch <= 1) {
        struct buf b = {0};
        BUF_LIT(&b, "{\"type\":\"UPDATE\",\"agent_id\":{\"value\":\"");
        buf_add_escaped(&b, a->id);
        BUF_LIT(&b, "\"},\"update\":");
        task_render_update(t, &b);
        BUF_LIT(&b, "}");
        call_enqueue(a->idx, &b);
        buf_free(&b);
    } else {
        if (a->batch_n > 0)
            BUF_LIT(&a->batch, ",");
        if (!a->batch_listed) {
            a->batch_listed = true;
            a->batch_next = batch_head;
            batch_head = a;
        }
        task_render_update(t, &a->batch);
        if (++a->batch_n >= opt.batch) {
            /* Full: sent at once; the agent stays listed with nothing queued. */
            batch_flush(a);
        }
    }
    t->sent_at = now_mono();
    resend_append(t);
    st.updates_sent++;
}

/* Queues a state on the task's update stream; sends it if it is the head. */
static void task_push(struct task *t, int state)
{
    if (t->ended || t->qlen >= 4)
        return;
    if ((t->latest == ST_RUNNING || t->latest == ST_STARTING) && state >= ST_FINISHED)
        st.running--;
    t->queue[t->qlen++] = state;
    t->latest = state;
    if (state >= ST_FINISHED)
        t->ended = true;
    if (t->qlen == 1) {
        ag_status_uuid(t->uuid);
        task_send_head(t);
    }
}

static void task_acked(struct task *t, const char *uuid)
{
    if (t->qlen == 0 || strcmp(uuid, t->uuid) != 0)
        return; /* an acknowledgement for an update already popped */
    st.acks++;
    memmove(t->queue, t->queue + 1, sizeof(int) * (size_t)(t->qlen - 1));
    t->qlen--;
    resend_unlink(t);
    if (t->qlen > 0) {
        ag_status_uuid(t->uuid);
        task_send_head(t);
    } else if (t->ended) {
        task_drop(t);
    }
}

static bool roll_failure(void)
{
    return opt.fail_rate > 0 && (double)rand() / RAND_MAX < opt.fail_rate;
}

static void on_launch(struct agent *a, json_t *launch)
{
    json_t *fwinfo = json_object_get(launch, "framework_info");
    json_t *task = json_object_get(launch, "task");
    const char *fw = json_string_value(json_object_get(json_object_get(fwinfo, "id"), "value"));
    const char *tid = json_string_value(json_object_get(json_object_get(task, "task_id"), "value"));
    if (!fw || !tid)
        return;
    json_t *exec = json_object_get(launch, "executor");
    const char *eid =
        json_string_value(json_object_get(json_object_get(exec, "executor_id"), "value"));
    if (task_find(a, fw, tid))
        return; /* duplicate LAUNCH */
    struct task *t = xcalloc(1, sizeof(*t));
    t->agent = a;
    t->fw_id = xstrdup(fw);
    t->task_id = xstrdup(tid);
    t->executor_id = xstrdup(eid ? eid : tid);
    uint32_t h = hash_key(a->idx, fw, tid);
    t->hnext = task_hash[h];
    task_hash[h] = t;
    st.launches++;
    st.running++;
    task_push(t, ST_STARTING);
    task_push(t, ST_RUNNING);
    if (opt.task_duration >= 0) {
        t->in_fifo = true;
        t->finish_at = now_mono() + opt.task_duration;
        if (fifo_tail)
            fifo_tail->fnext = t;
        else
            fifo_head = t;
        fifo_tail = t;
    }
}

static void kill_task(struct task *t)
{
    if (t && !t->ended) {
        st.kills++;
        task_push(t, ST_KILLED);
    }
}

/* Tasks of `fw` on agent `a` (all of them when executor is NULL). */
static void for_agent_tasks(struct agent *a, const char *fw, const char *executor, bool drop)
{
    /* Rare events (shutdowns): a scan of the hash table is fine. */
    for (size_t i = 0; i < (1u << TASK_HASH_BITS); i++) {
        struct task *t = task_hash[i], *next;
        for (; t; t = next) {
            next = t->hnext;
            if (t->agent != a || strcmp(t->fw_id, fw) != 0)
                continue;
            if (executor && strcmp(t->executor_id, executor) != 0)
                continue;
            if (drop)
                task_drop(t);
            else
                kill_task(t);
        }
    }
}

static void drop_agent_tasks(struct agent *a)
{
    for (size_t i = 0; i < (1u << TASK_HASH_BITS); i++) {
        struct task *t = task_hash[i], *next;
        for (; t; t = next) {
            next = t->hnext;
            if (t->agent == a)
                task_drop(t);
        }
    }
}

static void run_finish_queue(double now)
{
    while (fifo_head && fifo_head->finish_at <= now) {
        struct task *t = fifo_head;
        fifo_head = t->fnext;
        if (!fifo_head)
            fifo_tail = NULL;
        t->in_fifo = false;
        if (!t->agent) {
            task_free(t);
            continue;
        }
        if (!t->ended)
            task_push(t, roll_failure() ? ST_FAILED : ST_FINISHED);
    }
}

static void run_resends(double now)
{
    while (resend_head && resend_head->sent_at + opt.resend <= now) {
        struct task *t = resend_head;
        if (call_queued > 1000) {
            /* Our own queue is what delays the answer: resending would
             * only add load. Look again one interval later. */
            t->sent_at = now;
            resend_append(t);
            continue;
        }
        st.updates_resent++;
        if (t->agent && t->agent->state == AG_SUBSCRIBED)
            task_send_head(t); /* moves it to the tail */
        else
            resend_unlink(t); /* sent again after re-subscription */
    }
}

/* ---------- agent streams ---------- */

static void agent_subscribe(struct agent *a);

static void agent_lost(struct agent *a, const char *why)
{
    struct conn *c = a->stream;
    if (c) {
        epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        buf_free(&c->in);
        buf_free(&c->out);
        ag_recordio_decoder_release(&c->dec);
        free(c);
        a->stream = NULL;
    }
    if (a->state == AG_CONNECTING)
        connecting--;
    if (a->detach) {
        /* It stays registered at the master, as a disconnected agent. */
        if (a->state == AG_SUBSCRIBED)
            st.subscribed_now--;
        a->state = AG_DETACHED;
        return;
    }
    if (a->state == AG_SUBSCRIBED) {
        st.subscribed_now--;
        st.disconnects++;
        if (!opt.quiet)
            fprintf(stderr, "bench-simagent: agent %d (%s) lost its stream: %s\n", a->idx,
                    a->id ? a->id : "-", why);
    }
    /* The tasks are forgotten: on re-subscription the agent reports none,
     * so the master treats them as gone (a real agent would report them). */
    drop_agent_tasks(a);
    a->state = AG_BACKOFF;
    a->retry_at = now_mono() + 1 + (double)(rand() % 1000) / 1000.0;
}

static void add_attributes(struct buf *b)
{
    BUF_LIT(b, ",\"attributes\":[");
    if (opt.attributes) {
        char *copy = xstrdup(opt.attributes), *save = NULL;
        bool first = true;
        for (char *kv = strtok_r(copy, ";", &save); kv; kv = strtok_r(NULL, ";", &save)) {
            char *colon = strchr(kv, ':');
            if (!colon)
                continue;
            *colon = '\0';
            buf_addf(b, "%s{\"name\":\"", first ? "" : ",");
            buf_add_escaped(b, kv);
            BUF_LIT(b, "\",\"type\":\"TEXT\",\"text\":{\"value\":\"");
            buf_add_escaped(b, colon + 1);
            BUF_LIT(b, "\"}}");
            first = false;
        }
        free(copy);
    }
    BUF_LIT(b, "]");
}

static void agent_subscribe(struct agent *a)
{
    int fd = sock_connect(a->idx);
    if (fd < 0) {
        a->state = AG_BACKOFF;
        a->retry_at = now_mono() + 1;
        if (!opt.quiet)
            fprintf(stderr, "bench-simagent: agent %d cannot connect: %s\n", a->idx, strerror(-fd));
        return;
    }
    struct conn *c = xcalloc(1, sizeof(*c));
    c->kind = CONN_STREAM;
    c->fd = fd;
    c->agent = a;
    c->phase = PH_CONNECTING;
    c->want_write = true;
    ag_recordio_decoder_init(&c->dec, 0);
    a->stream = c;
    a->state = AG_CONNECTING;
    connecting++;

    struct buf body = {0};
    BUF_LIT(&body, "{\"type\":\"SUBSCRIBE\",");
    if (a->id) {
        BUF_LIT(&body, "\"agent_id\":{\"value\":\"");
        buf_add_escaped(&body, a->id);
        BUF_LIT(&body, "\"},");
    }
    buf_addf(&body,
             "\"subscribe\":{\"version\":1,\"agent_info\":{\"hostname\":\"%s-%d\",\"port\":%d,",
             opt.hostname_prefix, a->idx, 5051);
    if (a->id) {
        BUF_LIT(&body, "\"id\":{\"value\":\"");
        buf_add_escaped(&body, a->id);
        BUF_LIT(&body, "\"},");
    }
    /* Resources set to 0 are left out (a one-slot agent has no leftovers
     * to be offered again and again). */
    const char *names[3] = {"cpus", "mem", "disk"};
    double values[3] = {opt.cpus, opt.mem, opt.disk};
    BUF_LIT(&body, "\"resources\":[");
    bool first = true;
    for (int i = 0; i < 3; i++) {
        if (values[i] <= 0)
            continue;
        buf_addf(&body, "%s{\"name\":\"%s\",\"type\":\"SCALAR\",\"scalar\":{\"value\":%g}}",
                 first ? "" : ",", names[i], values[i]);
        first = false;
    }
    BUF_LIT(&body, "]");
    add_attributes(&body);
    BUF_LIT(&body, "},\"tasks\":[],\"executors\":[],\"frameworks\":[]}}");
    buf_addf(&c->out,
             "POST /api/v1/agent HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
             "Accept: application/json\r\nContent-Length: %zu\r\n\r\n",
             opt.master_ip, opt.master_port, buf_size(&body));
    buf_add(&c->out, buf_head(&body), buf_size(&body));
    buf_free(&body);
    conn_watch(c, true);
}

static const char *id_value(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(json_object_get(obj, key), "value"));
}

/* One event from the master on agent a's stream. Returns non-zero to stop
 * decoding (the stream was closed). */
static int on_event(const char *data, size_t len, void *arg)
{
    struct agent *a = arg;
    /* Fast path: heartbeats are most events of an idle cluster. */
    if (len < 40 && memmem(data, len, "\"HEARTBEAT\"", 11)) {
        struct buf b = {0};
        BUF_LIT(&b, "{\"type\":\"HEARTBEAT\",\"agent_id\":{\"value\":\"");
        buf_add_escaped(&b, a->id ? a->id : "");
        BUF_LIT(&b, "\"}}");
        call_enqueue(a->idx, &b);
        buf_free(&b);
        st.heartbeats++;
        return 0;
    }
    json_error_t jerr;
    json_t *ev = json_loadb(data, len, 0, &jerr);
    if (!ev) {
        a->lost_reason = "malformed event";
        return 1;
    }
    const char *type = json_string_value(json_object_get(ev, "type"));
    int rc = 0;
    if (!type) {
        /* ignore */
    } else if (strcmp(type, "SUBSCRIBED") == 0) {
        const char *id = id_value(json_object_get(ev, "subscribed"), "agent_id");
        if (id && a->state == AG_CONNECTING) {
            free(a->id);
            a->id = xstrdup(id);
            a->state = AG_SUBSCRIBED;
            connecting--;
            st.subscribed_now++;
            if (!a->counted) {
                a->counted = true;
                st.subscribed_total++;
                if (st.subscribed_total == 1)
                    st.first_subscribed = now_mono();
                if (st.subscribed_total == opt.agents)
                    st.all_subscribed = now_mono();
            }
            if (a->idx < opt.detached) {
                a->detach = true;
                a->lost_reason = "detached";
                rc = 1; /* ends the stream once this event is done */
            }
        }
    } else if (strcmp(type, "LAUNCH") == 0) {
        on_launch(a, json_object_get(ev, "launch"));
    } else if (strcmp(type, "ACKNOWLEDGE") == 0) {
        json_t *ack = json_object_get(ev, "acknowledge");
        const char *fw = id_value(ack, "framework_id"), *tid = id_value(ack, "task_id");
        const char *uuid = json_string_value(json_object_get(ack, "uuid"));
        struct task *t = fw && tid && uuid ? task_find(a, fw, tid) : NULL;
        if (t)
            task_acked(t, uuid);
    } else if (strcmp(type, "KILL") == 0) {
        json_t *k = json_object_get(ev, "kill");
        const char *fw = id_value(k, "framework_id"), *tid = id_value(k, "task_id");
        if (fw && tid)
            kill_task(task_find(a, fw, tid));
    } else if (strcmp(type, "SHUTDOWN_EXECUTOR") == 0) {
        json_t *s = json_object_get(ev, "shutdown_executor");
        const char *fw = id_value(s, "framework_id"), *eid = id_value(s, "executor_id");
        if (fw && eid)
            for_agent_tasks(a, fw, eid, false);
    } else if (strcmp(type, "SHUTDOWN_FRAMEWORK") == 0) {
        const char *fw = id_value(json_object_get(ev, "shutdown_framework"), "framework_id");
        if (fw)
            for_agent_tasks(a, fw, NULL, true);
    } else if (strcmp(type, "HEARTBEAT") == 0) {
        struct buf b = {0};
        BUF_LIT(&b, "{\"type\":\"HEARTBEAT\",\"agent_id\":{\"value\":\"");
        buf_add_escaped(&b, a->id ? a->id : "");
        BUF_LIT(&b, "\"}}");
        call_enqueue(a->idx, &b);
        buf_free(&b);
        st.heartbeats++;
    } else if (strcmp(type, "ERROR") == 0) {
        const char *msg =
            json_string_value(json_object_get(json_object_get(ev, "error"), "message"));
        a->lost_reason = msg ? "ERROR event" : "ERROR event without a message";
        if (!opt.quiet && msg)
            fprintf(stderr, "bench-simagent: agent %d got ERROR: %s\n", a->idx, msg);
        rc = 1;
    }
    json_decref(ev);
    return rc;
}

/* ---------- HTTP response parsing ---------- */

/* Parses the status line and headers once complete. 1 when parsed, 0 when
 * more bytes are needed, -1 on a malformed response. */
static int parse_headers(struct conn *c)
{
    char *head = buf_head(&c->in);
    char *end = memmem(head, buf_size(&c->in), "\r\n\r\n", 4);
    if (!end)
        return buf_size(&c->in) > 65536 ? -1 : 0;
    *end = '\0';
    if (strncmp(head, "HTTP/1.", 7) != 0 || strlen(head) < 12)
        return -1;
    c->code = atoi(head + 9);
    c->chunked = false;
    c->content_left = 0;
    for (char *line = strstr(head, "\r\n"); line; line = strstr(line, "\r\n")) {
        line += 2;
        if (strncasecmp(line, "Content-Length:", 15) == 0)
            c->content_left = atol(line + 15);
        else if (strncasecmp(line, "Transfer-Encoding:", 18) == 0 && strstr(line, "chunked"))
            c->chunked = true;
        else if (c->kind == CONN_STREAM && strncasecmp(line, "Mesos-Stream-Id:", 16) == 0) {
            const char *v = line + 16;
            while (*v == ' ')
                v++;
            size_t n = strcspn(v, "\r\n");
            if (n >= sizeof(c->agent->sid))
                n = sizeof(c->agent->sid) - 1;
            memcpy(c->agent->sid, v, n);
            c->agent->sid[n] = '\0';
        }
    }
    buf_consume(&c->in, (size_t)(end + 4 - head));
    c->phase = PH_BODY;
    c->chunk_left = -1;
    c->chunk_crlf = false;
    return 1;
}

/* Decodes chunked framing from c->in, handing body bytes to sink. Returns
 * 1 at the last chunk, 0 when more bytes are needed, -1 on bad framing,
 * or 2 if the sink asked to stop (the connection is gone). */
static int parse_chunks(struct conn *c, int (*sink)(struct conn *c, const char *d, size_t n))
{
    for (;;) {
        size_t avail = buf_size(&c->in);
        char *p = buf_head(&c->in);
        if (c->chunk_crlf) {
            if (avail < 2)
                return 0;
            buf_consume(&c->in, 2);
            c->chunk_crlf = false;
            continue;
        }
        if (c->chunk_left < 0) {
            char *nl = memchr(p, '\n', avail);
            if (!nl)
                return avail > 64 ? -1 : 0;
            char *endp;
            long n = strtol(p, &endp, 16);
            if (endp == p || n < 0)
                return -1;
            buf_consume(&c->in, (size_t)(nl + 1 - p));
            if (n == 0)
                return 1;
            c->chunk_left = n;
            continue;
        }
        if (avail == 0)
            return 0;
        size_t take = avail < (size_t)c->chunk_left ? avail : (size_t)c->chunk_left;
        if (sink && sink(c, p, take))
            return 2;
        buf_consume(&c->in, take);
        c->chunk_left -= (long)take;
        if (c->chunk_left == 0) {
            c->chunk_left = -1;
            c->chunk_crlf = true;
        }
    }
}

static int stream_sink(struct conn *c, const char *d, size_t n)
{
    struct agent *a = c->agent;
    a->lost_reason = NULL;
    int r = ag_recordio_feed(&c->dec, d, n, on_event, a);
    if (r == 0)
        return 0;
    /* The decoder may only be released after ag_recordio_feed returned. */
    agent_lost(a, a->lost_reason ? a->lost_reason : "bad RecordIO framing");
    return 1;
}

/* Returns -1 if the stream was closed (c freed). */
static int stream_readable(struct conn *c)
{
    struct agent *a = c->agent;
    if (c->phase == PH_HEADERS) {
        int r = parse_headers(c);
        if (r < 0) {
            agent_lost(a, "malformed HTTP response");
            return -1;
        }
        if (r == 0)
            return 0;
        if (c->code != 200) {
            if (!opt.quiet)
                fprintf(stderr, "bench-simagent: agent %d SUBSCRIBE got HTTP %d: %.200s\n", a->idx,
                        c->code, buf_head(&c->in));
            agent_lost(a, "SUBSCRIBE refused");
            return -1;
        }
    }
    if (!c->chunked) {
        agent_lost(a, "stream is not chunked");
        return -1;
    }
    int r = parse_chunks(c, stream_sink);
    if (r == 2)
        return -1;
    if (r != 0) {
        agent_lost(a, r < 0 ? "bad chunked framing" : "stream ended");
        return -1;
    }
    return 0;
}

static int call_readable(struct conn *c)
{
    for (;;) {
        if (c->phase == PH_IDLE) {
            if (buf_size(&c->in) > 0)
                return -1; /* bytes nobody asked for */
            return 0;
        }
        if (c->phase == PH_HEADERS) {
            int r = parse_headers(c);
            if (r <= 0)
                return r;
        }
        bool done;
        if (c->chunked) {
            int r = parse_chunks(c, NULL);
            if (r < 0)
                return -1;
            done = r == 1;
            if (done) {
                /* Trailer: expect the empty line. */
                if (buf_size(&c->in) < 2)
                    return 0;
                buf_consume(&c->in, 2);
            }
        } else {
            size_t take = buf_size(&c->in) < (size_t)c->content_left ? buf_size(&c->in)
                                                                     : (size_t)c->content_left;
            if (c->code >= 300 && st.call_errors_logged < 20 && take > 0) {
                st.call_errors_logged++;
                fprintf(stderr, "bench-simagent: call answered %d: %.*s\n", c->code, (int)take,
                        buf_head(&c->in));
            }
            buf_consume(&c->in, take);
            c->content_left -= (long)take;
            done = c->content_left == 0;
        }
        if (!done)
            return 0;
        if (c->code >= 200 && c->code < 300)
            st.calls_ok++;
        else
            st.calls_failed++;
        call_free(c->inflight);
        c->inflight = NULL;
        c->phase = PH_IDLE;
        call_conn_pump(c);
        if (c->fd < 0)
            return 0;
    }
}

static void on_conn_event(struct conn *c, uint32_t events)
{
    if (c->phase == PH_CONNECTING && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
        int err = 0;
        socklen_t l = sizeof(err);
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
        if (err) {
            if (c->kind == CONN_STREAM)
                agent_lost(c->agent, strerror(err));
            else
                call_conn_fail(c);
            return;
        }
        c->phase = c->kind == CONN_STREAM ? PH_HEADERS : PH_IDLE;
        if (c->kind == CONN_CALL)
            call_conn_pump(c);
    }
    if (c->fd < 0)
        return;
    if (events & EPOLLOUT) {
        if (conn_flush(c) < 0) {
            if (c->kind == CONN_STREAM)
                agent_lost(c->agent, "write failed");
            else
                call_conn_fail(c);
            return;
        }
    }
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        char tmp[65536];
        for (int rounds = 0; rounds < 4; rounds++) {
            ssize_t n = recv(c->fd, tmp, sizeof(tmp), 0);
            if (n < 0 && (errno == EAGAIN || errno == EINTR))
                break;
            if (n <= 0) {
                if (c->kind == CONN_STREAM)
                    agent_lost(c->agent, n == 0 ? "closed by the master" : strerror(errno));
                else
                    call_conn_fail(c);
                return;
            }
            buf_add(&c->in, tmp, (size_t)n);
            enum conn_kind kind = c->kind; /* a failed stream frees c */
            int r = kind == CONN_STREAM ? stream_readable(c) : call_readable(c);
            if (r < 0) {
                if (kind == CONN_CALL)
                    call_conn_fail(c);
                return;
            }
            if ((size_t)n < sizeof(tmp))
                break;
        }
    }
}

/* ---------- main loop ---------- */

static void on_signal(int signo)
{
    (void)signo;
    stop_flag = 1;
}

static void raise_nofile(void)
{
    /* Detached agents give their descriptor back once subscribed. */
    rlim_t want = (rlim_t)(opt.agents - opt.detached) + (rlim_t)opt.max_connecting +
                  (rlim_t)opt.call_conns + 256;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur >= want)
        return;
    if (rl.rlim_max < want) {
        struct rlimit hi = {want, want};
        if (setrlimit(RLIMIT_NOFILE, &hi) == 0)
            return;
        fprintf(stderr,
                "bench-simagent: need %llu file descriptors, hard limit is %llu (run as root, "
                "or raise it with ulimit -Hn)\n",
                (unsigned long long)want, (unsigned long long)rl.rlim_max);
        exit(1);
    }
    rl.rlim_cur = want;
    setrlimit(RLIMIT_NOFILE, &rl);
}

static void print_stats(double t0, bool final)
{
    fprintf(stderr,
            "bench-simagent: %.1fs subscribed=%ld connecting=%d launches=%ld running=%ld "
            "updates=%ld (batches %ld) resent=%ld acks=%ld heartbeats=%ld calls ok=%ld failed=%ld "
            "queued=%zu disconnects=%ld\n",
            now_mono() - t0, st.subscribed_now, connecting, st.launches, st.running,
            st.updates_sent, st.batches_sent, st.updates_resent, st.acks, st.heartbeats,
            st.calls_ok, st.calls_failed, call_queued, st.disconnects);
    if (final) {
        if (st.all_subscribed > 0)
            printf("BENCH simagent.subscribe_s.%d %.3f s\n", opt.agents, st.all_subscribed - t0);
        printf("BENCH simagent.launches %ld tasks\n", st.launches);
        fflush(stdout);
    }
}

/* Frees everything, so that leak checkers see a clean exit. */
static void cleanup(void)
{
    for (int i = 0; i < opt.agents; i++) {
        struct agent *a = &agents[i];
        if (a->stream) {
            close(a->stream->fd);
            buf_free(&a->stream->in);
            buf_free(&a->stream->out);
            ag_recordio_decoder_release(&a->stream->dec);
            free(a->stream);
        }
        free(a->id);
    }
    for (size_t i = 0; i < (1u << TASK_HASH_BITS); i++)
        while (task_hash[i])
            task_drop(task_hash[i]);
    while (fifo_head) {
        struct task *t = fifo_head;
        fifo_head = t->fnext;
        if (!t->agent)
            task_free(t);
    }
    while (call_head) {
        struct call *c = call_head;
        call_head = c->next;
        call_free(c);
    }
    for (int i = 0; i < opt.call_conns; i++) {
        struct conn *c = call_pool[i];
        if (c->fd >= 0)
            close(c->fd);
        call_free(c->inflight);
        buf_free(&c->in);
        buf_free(&c->out);
        free(c);
    }
    free(call_pool);
    free(agents);
    close(epfd);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: bench-simagent [options]\n"
               "  --master=IP:PORT       master address (default 127.0.0.1:5050)\n"
               "  --agents=N             emulated agents (default 10)\n"
               "  --cpus=X --mem=MB --disk=MB   resources of each agent (default 8, 32768, 65536)\n"
               "  --attributes='k:v;k2:v2'      text attributes of each agent\n"
               "  --hostname=PREFIX      agent hostnames are PREFIX-<i> (default sim)\n"
               "  --task_duration=SECS   running time of each task (default 1; <0: forever)\n"
               "  --fail_rate=P          share of tasks ending TASK_FAILED (default 0)\n"
               "  --call_conns=N         keep-alive connections for calls (default 16)\n"
               "  --max_connecting=N     SUBSCRIBEs in flight at once (default 512)\n"
               "  --per_ip=N             streams per source address 127.0.0.x (default 20000)\n"
               "  --resend=SECS          resend unacknowledged updates after (default 10)\n"
               "  --batch=N              most status updates per UPDATE call (default 100;\n"
               "                         1: one per call, the protocol's single form)\n"
               "  --duration=SECS        exit after this long (default: until SIGTERM)\n"
               "  --ready_file=PATH      written once every agent has subscribed\n"
               "  --quiet                no per-agent messages\n"
               "  --detached=N           the first N agents close their stream once subscribed\n"
               "                         and stay away: the master keeps them registered (as\n"
               "                         disconnected agents, for its --agent_reregister_timeout)\n"
               "                         without one descriptor each, here or there\n");
}

static int parse_args(int argc, char **argv)
{
    static const struct option longopts[] = {{"master", required_argument, NULL, 'm'},
                                             {"agents", required_argument, NULL, 'n'},
                                             {"cpus", required_argument, NULL, 'c'},
                                             {"mem", required_argument, NULL, 'M'},
                                             {"disk", required_argument, NULL, 'D'},
                                             {"attributes", required_argument, NULL, 'a'},
                                             {"hostname", required_argument, NULL, 'H'},
                                             {"task_duration", required_argument, NULL, 't'},
                                             {"fail_rate", required_argument, NULL, 'f'},
                                             {"call_conns", required_argument, NULL, 'C'},
                                             {"max_connecting", required_argument, NULL, 'x'},
                                             {"per_ip", required_argument, NULL, 'p'},
                                             {"resend", required_argument, NULL, 'r'},
                                             {"batch", required_argument, NULL, 'B'},
                                             {"duration", required_argument, NULL, 'd'},
                                             {"ready_file", required_argument, NULL, 'R'},
                                             {"quiet", no_argument, NULL, 'q'},
                                             {"detached", required_argument, NULL, 'X'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    int ch;
    char *end;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'm': {
            const char *colon = strrchr(optarg, ':');
            if (!colon || colon == optarg || (size_t)(colon - optarg) >= sizeof(opt.master_ip)) {
                fprintf(stderr, "bench-simagent: --master must be IP:PORT, not '%s'\n", optarg);
                return -1;
            }
            memcpy(opt.master_ip, optarg, (size_t)(colon - optarg));
            opt.master_ip[colon - optarg] = '\0';
            struct in_addr tmp;
            opt.master_port = (int)strtol(colon + 1, &end, 10);
            if (*end || opt.master_port <= 0 || opt.master_port > 65535 ||
                inet_pton(AF_INET, opt.master_ip, &tmp) != 1) {
                fprintf(stderr, "bench-simagent: --master must be IPv4:PORT, not '%s'\n", optarg);
                return -1;
            }
            break;
        }
        case 'n':
        case 'B':
        case 'C':
        case 'x':
        case 'p': {
            long v = strtol(optarg, &end, 10);
            if (*end || v < 1 || v > 10000000) {
                fprintf(stderr, "bench-simagent: bad count '%s'\n", optarg);
                return -1;
            }
            if (ch == 'n')
                opt.agents = (int)v;
            else if (ch == 'B')
                opt.batch = v > 1000 ? 1000 : (int)v;
            else if (ch == 'C')
                opt.call_conns = (int)v;
            else if (ch == 'x')
                opt.max_connecting = (int)v;
            else
                opt.per_ip = (int)v;
            break;
        }
        case 'c':
        case 'M':
        case 'D':
        case 't':
        case 'f':
        case 'r':
        case 'd': {
            double v = strtod(optarg, &end);
            if (*end || end == optarg) {
                fprintf(stderr, "bench-simagent: bad number '%s'\n", optarg);
                return -1;
            }
            if (ch == 'c')
                opt.cpus = v;
            else if (ch == 'M')
                opt.mem = v;
            else if (ch == 'D')
                opt.disk = v;
            else if (ch == 't')
                opt.task_duration = v;
            else if (ch == 'f') {
                if (v < 0 || v > 1) {
                    fprintf(stderr, "bench-simagent: --fail_rate must be within 0..1\n");
                    return -1;
                }
                opt.fail_rate = v;
            } else if (ch == 'r')
                opt.resend = v > 0.1 ? v : 0.1;
            else
                opt.duration = v;
            break;
        }
        case 'a':
            opt.attributes = optarg;
            break;
        case 'H':
            opt.hostname_prefix = optarg;
            break;
        case 'R':
            opt.ready_file = optarg;
            break;
        case 'q':
            opt.quiet = true;
            break;
        case 'X': {
            long v = strtol(optarg, &end, 10);
            if (*end || v < 0 || v > 10000000) {
                fprintf(stderr, "bench-simagent: bad --detached count '%s'\n", optarg);
                return -1;
            }
            opt.detached = (int)v;
            break;
        }
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "bench-simagent: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (opt.detached > opt.agents) {
        fprintf(stderr, "bench-simagent: --detached=%d is more than --agents=%d\n", opt.detached,
                opt.agents);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (parse_args(argc, argv) < 0)
        return 2;
    raise_nofile();
    srand((unsigned)getpid());
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) {
        perror("bench-simagent: epoll_create1");
        return 1;
    }
    agents = xcalloc((size_t)opt.agents, sizeof(*agents));
    for (int i = 0; i < opt.agents; i++) {
        agents[i].idx = i;
        agents[i].state = AG_IDLE;
    }
    call_pool = xcalloc((size_t)opt.call_conns, sizeof(*call_pool));
    for (int i = 0; i < opt.call_conns; i++) {
        call_pool[i] = xcalloc(1, sizeof(struct conn));
        call_pool[i]->kind = CONN_CALL;
        call_pool[i]->slot = i;
        call_conn_open(call_pool[i]);
    }

    double t0 = now_mono(), last_stats = t0, last_retry_scan = t0;
    bool ready_written = false;
    struct epoll_event events[512];
    while (!stop_flag) {
        double now = now_mono();
        if (opt.duration > 0 && now - t0 >= opt.duration)
            break;
        /* Start agents, at most max_connecting SUBSCRIBEs in flight. */
        while (next_to_start < opt.agents && connecting < opt.max_connecting)
            agent_subscribe(&agents[next_to_start++]);
        if (now - last_retry_scan >= 0.25) {
            last_retry_scan = now;
            for (int i = 0; i < opt.agents && connecting < opt.max_connecting; i++)
                if (agents[i].state == AG_BACKOFF && agents[i].retry_at <= now)
                    agent_subscribe(&agents[i]);
            for (int i = 0; i < opt.call_conns; i++)
                if (call_pool[i]->fd < 0 && call_pool[i]->retry_at <= now)
                    call_conn_open(call_pool[i]);
        }
        run_finish_queue(now);
        run_resends(now);
        flush_batches();
        pump_all_calls();
        if (!ready_written && st.all_subscribed > 0) {
            ready_written = true;
            fprintf(stderr, "bench-simagent: all %d agents subscribed in %.2f s\n", opt.agents,
                    st.all_subscribed - t0);
            if (opt.ready_file) {
                FILE *f = fopen(opt.ready_file, "w");
                if (f) {
                    fprintf(f, "%d\n", opt.agents);
                    fclose(f);
                }
            }
        }
        if (now - last_stats >= 5) {
            last_stats = now;
            if (!opt.quiet)
                print_stats(t0, false);
        }
        int timeout = 20;
        if (fifo_head) {
            double dt = fifo_head->finish_at - now;
            int ms = dt <= 0 ? 0 : (int)(dt * 1000) + 1;
            if (ms < timeout)
                timeout = ms;
        }
        int n = epoll_wait(epfd, events, 512, timeout);
        for (int i = 0; i < n; i++)
            on_conn_event(events[i].data.ptr, events[i].events);
    }
    print_stats(t0, true);
    cleanup();
    return 0;
}
