/*
 * status_update: the agent's status update manager (reference §4.3).
 *
 * Per task an ordered queue of updates; only the head is in flight. The
 * head is sent to the master when it becomes the head (or when the agent
 * (re)subscribes) and re-sent with exponential backoff, starting at
 * --status_update_retry_interval and capped at 10 minutes, until the
 * master's ACKNOWLEDGE for its uuid pops it; then the next one goes.
 * Nothing acknowledged to an executor is dropped here, and nothing is
 * delivered out of order for a task.
 *
 * The queue itself is pure (no timers, no I/O) so it can be tested alone;
 * the manager adds the timers and the "send" callback.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/internal.h"
#include "core/loop.h"

/* --- the pure queue --- */

void ag_agent_update_queue_init(struct ag_agent_update_queue *q)
{
    memset(q, 0, sizeof(*q));
    q->latest_state = AG_TASK_STAGING;
}

void ag_agent_update_queue_release(struct ag_agent_update_queue *q)
{
    for (size_t i = 0; i < q->n; i++)
        json_decref(q->items[i].status);
    free(q->items);
    memset(q, 0, sizeof(*q));
}

int ag_agent_update_queue_push(struct ag_agent_update_queue *q, const json_t *status)
{
    const char *uuid = json_string_value(json_object_get(status, "uuid"));
    const char *state_name = json_string_value(json_object_get(status, "state"));
    enum ag_task_state state;
    json_t *copy;

    if (!uuid || !*uuid || strlen(uuid) >= sizeof(q->items[0].uuid) || !state_name ||
        ag_task_state_parse(state_name, &state) < 0)
        return -EINVAL;
    for (size_t i = 0; i < q->n; i++)
        if (strcmp(q->items[i].uuid, uuid) == 0)
            return -EEXIST;
    if (q->n == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 4;
        struct ag_agent_update *items = realloc(q->items, cap * sizeof(*items));
        if (!items)
            return -ENOMEM;
        q->items = items;
        q->cap = cap;
    }
    copy = json_deep_copy(status);
    if (!copy)
        return -ENOMEM;
    snprintf(q->items[q->n].uuid, sizeof(q->items[q->n].uuid), "%s", uuid);
    q->items[q->n].status = copy;
    q->n++;
    q->latest_state = state;
    if (ag_task_state_is_terminal(state))
        q->has_terminal = true;
    return 0;
}

const struct ag_agent_update *ag_agent_update_queue_head(const struct ag_agent_update_queue *q)
{
    return q->n ? &q->items[0] : NULL;
}

int ag_agent_update_queue_ack(struct ag_agent_update_queue *q, const char *uuid)
{
    if (!q->n || !uuid || strcmp(q->items[0].uuid, uuid) != 0)
        return -ENOENT;
    json_decref(q->items[0].status);
    memmove(&q->items[0], &q->items[1], (q->n - 1) * sizeof(q->items[0]));
    q->n--;
    return 0;
}

double ag_agent_update_backoff(double current, double max)
{
    double next = current * 2;
    if (next > max)
        next = max;
    if (next < current) /* current already above max */
        next = current;
    return next;
}

/* --- the manager --- */

struct sum_stream {
    struct ag_agent_list node;
    struct ag_agent_sum *sum;
    char *framework_id;
    char *task_id;
    struct ag_agent_update_queue queue;
    double interval; /* the next retry delay */
    struct ag_timer *timer;
};

struct ag_agent_sum {
    struct ag_loop *loop;
    double retry_interval;
    struct ag_agent_sum_ops ops;
    void *arg;
    bool connected;
    struct ag_agent_list streams;
    size_t n_streams;
};

static void stream_free(struct sum_stream *s)
{
    ag_agent_list_del(&s->node);
    s->sum->n_streams--;
    ag_timer_free(s->timer);
    ag_agent_update_queue_release(&s->queue);
    free(s->framework_id);
    free(s->task_id);
    free(s);
}

/* Sends the head (if connected) and arms the retry timer. */
static void stream_send(struct sum_stream *s)
{
    const struct ag_agent_update *head = ag_agent_update_queue_head(&s->queue);
    if (!head || !s->sum->connected)
        return;
    s->sum->ops.send(s->sum->arg, s->framework_id, head->status, s->queue.latest_state);
    ag_timer_start(s->timer, s->interval);
}

static void stream_retry(void *arg)
{
    struct sum_stream *s = arg;
    s->interval = ag_agent_update_backoff(s->interval, AG_AGENT_UPDATE_RETRY_MAX);
    stream_send(s);
}

static struct sum_stream *stream_find(const struct ag_agent_sum *sum, const char *framework_id,
                                      const char *task_id)
{
    struct ag_agent_list *pos, *tmp;
    ag_agent_list_for_each(pos, tmp, &sum->streams)
    {
        struct sum_stream *s = ag_agent_list_entry(pos, struct sum_stream, node);
        if (strcmp(s->task_id, task_id) == 0 && strcmp(s->framework_id, framework_id) == 0)
            return s;
    }
    return NULL;
}

static struct sum_stream *stream_new(struct ag_agent_sum *sum, const char *framework_id,
                                     const char *task_id)
{
    struct sum_stream *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->sum = sum;
    s->framework_id = strdup(framework_id);
    s->task_id = strdup(task_id);
    s->timer = ag_timer_new(sum->loop, stream_retry, s);
    s->interval = sum->retry_interval;
    ag_agent_update_queue_init(&s->queue);
    ag_agent_list_add_tail(&sum->streams, &s->node);
    sum->n_streams++;
    if (!s->framework_id || !s->task_id || !s->timer) {
        stream_free(s);
        return NULL;
    }
    return s;
}

struct ag_agent_sum *ag_agent_sum_new(struct ag_loop *loop, double retry_interval,
                                      const struct ag_agent_sum_ops *ops, void *arg)
{
    struct ag_agent_sum *sum = calloc(1, sizeof(*sum));
    if (!sum)
        return NULL;
    sum->loop = loop;
    sum->retry_interval = retry_interval > 0 ? retry_interval : 10;
    sum->ops = *ops;
    sum->arg = arg;
    ag_agent_list_init(&sum->streams);
    return sum;
}

void ag_agent_sum_free(struct ag_agent_sum *sum)
{
    struct ag_agent_list *pos, *tmp;
    if (!sum)
        return;
    ag_agent_list_for_each(pos, tmp, &sum->streams)
        stream_free(ag_agent_list_entry(pos, struct sum_stream, node));
    free(sum);
}

int ag_agent_sum_update(struct ag_agent_sum *sum, const char *framework_id, const char *task_id,
                        const json_t *status)
{
    struct sum_stream *s = stream_find(sum, framework_id, task_id);
    bool created = false;
    int rc;

    if (!s) {
        s = stream_new(sum, framework_id, task_id);
        if (!s)
            return -ENOMEM;
        created = true;
    }
    rc = ag_agent_update_queue_push(&s->queue, status);
    if (rc < 0) {
        if (created)
            stream_free(s);
        return rc;
    }
    if (s->queue.n == 1) {
        s->interval = sum->retry_interval;
        stream_send(s);
    }
    return 0;
}

int ag_agent_sum_ack(struct ag_agent_sum *sum, const char *framework_id, const char *task_id,
                     const char *uuid)
{
    struct sum_stream *s = stream_find(sum, framework_id, task_id);
    const struct ag_agent_update *head;
    json_t *status;

    if (!s)
        return -ENOENT;
    head = ag_agent_update_queue_head(&s->queue);
    if (!head || strcmp(head->uuid, uuid) != 0)
        return -ENOENT;
    status = json_incref(head->status);
    ag_agent_update_queue_ack(&s->queue, uuid);
    ag_timer_stop(s->timer);
    s->interval = sum->retry_interval;
    if (s->queue.n == 0) {
        char *fw = strdup(framework_id), *task = strdup(task_id);
        stream_free(s);
        if (fw && task && sum->ops.acked)
            sum->ops.acked(sum->arg, fw, task, status);
        free(fw);
        free(task);
    } else {
        /* Tell the owner first so a terminal ack is recorded before the
         * next update goes out; the stream stays alive meanwhile. */
        if (sum->ops.acked)
            sum->ops.acked(sum->arg, s->framework_id, s->task_id, status);
        stream_send(s);
    }
    json_decref(status);
    return 0;
}

void ag_agent_sum_set_connected(struct ag_agent_sum *sum, bool connected)
{
    struct ag_agent_list *pos, *tmp;
    sum->connected = connected;
    ag_agent_list_for_each(pos, tmp, &sum->streams)
    {
        struct sum_stream *s = ag_agent_list_entry(pos, struct sum_stream, node);
        ag_timer_stop(s->timer);
        s->interval = sum->retry_interval;
        if (connected)
            stream_send(s);
    }
}

void ag_agent_sum_drop_framework(struct ag_agent_sum *sum, const char *framework_id)
{
    struct ag_agent_list *pos, *tmp;
    ag_agent_list_for_each(pos, tmp, &sum->streams)
    {
        struct sum_stream *s = ag_agent_list_entry(pos, struct sum_stream, node);
        if (strcmp(s->framework_id, framework_id) == 0)
            stream_free(s);
    }
}

bool ag_agent_sum_pending(const struct ag_agent_sum *sum, const char *framework_id,
                          const char *task_id)
{
    return stream_find(sum, framework_id, task_id) != NULL;
}

const json_t *ag_agent_sum_head(const struct ag_agent_sum *sum, const char *framework_id,
                                const char *task_id)
{
    const struct sum_stream *s = stream_find(sum, framework_id, task_id);
    const struct ag_agent_update *head = s ? ag_agent_update_queue_head(&s->queue) : NULL;
    return head ? head->status : NULL;
}

size_t ag_agent_sum_streams(const struct ag_agent_sum *sum)
{
    return sum->n_streams;
}
