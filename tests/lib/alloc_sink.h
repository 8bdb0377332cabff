/*
 * alloc_sink: the harness the allocator unit tests share. Offers land in a
 * sink; a test plays the master (launching from offers, recovering what it
 * does not use) through the public ops table of the policy named by
 * ALLOC_TEST_POLICY, which the test file defines before including this.
 * Everything is static (one copy per test program); helpers a given test
 * does not use are marked unused rather than removed.
 */
#ifndef AG_TEST_ALLOC_SINK_H
#define AG_TEST_ALLOC_SINK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allocator/allocator.h"
#include "core/resources.h"

#ifndef ALLOC_TEST_POLICY
#error "define ALLOC_TEST_POLICY (the policy under test) before including alloc_sink.h"
#endif

#define AG_SINK_HELPER static __attribute__((unused))

struct offer {
    char fw[64], role[64], agent[64];
    struct ag_resources res;
};

struct sink {
    struct offer *v;
    size_t n, cap;
};

AG_SINK_HELPER void on_offer(void *ctx, const char *fw, const char *role, const char *agent,
                             struct ag_resources *res)
{
    struct sink *s = ctx;
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->v = realloc(s->v, s->cap * sizeof(*s->v));
        if (!s->v)
            abort();
    }
    struct offer *o = &s->v[s->n++];
    snprintf(o->fw, sizeof(o->fw), "%s", fw);
    snprintf(o->role, sizeof(o->role), "%s", role);
    snprintf(o->agent, sizeof(o->agent), "%s", agent);
    o->res = *res; /* take the contents */
}

AG_SINK_HELPER void sink_clear(struct sink *s)
{
    for (size_t i = 0; i < s->n; i++)
        ag_resources_release(&s->v[i].res);
    s->n = 0;
}

AG_SINK_HELPER void sink_release(struct sink *s)
{
    sink_clear(s);
    free(s->v);
    s->v = NULL;
    s->cap = 0;
}

/* How many offers in the sink went to framework fw. */
AG_SINK_HELPER size_t count(const struct sink *s, const char *fw)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++)
        n += strcmp(s->v[i].fw, fw) == 0;
    return n;
}

AG_SINK_HELPER struct offer *find(struct sink *s, const char *fw, const char *agent)
{
    for (size_t i = 0; i < s->n; i++) {
        if (strcmp(s->v[i].fw, fw) == 0 && strcmp(s->v[i].agent, agent) == 0)
            return &s->v[i];
    }
    return NULL;
}

/* Parsed resources; the caller releases them. */
AG_SINK_HELPER struct ag_resources R(const char *text) {
    struct ag_resources r;
    char err[256];
    ag_resources_init(&r);
    if (ag_resources_parse(text, NULL, &r, err, sizeof(err)) != 0) {
        fprintf(stderr, "bad resources '%s': %s\n", text, err);
        abort();
    }
    return r;
}

AG_SINK_HELPER const struct ag_allocator_ops *
ops(void)
{
    const struct ag_allocator_ops *o = ag_allocator_find(ALLOC_TEST_POLICY);
    if (!o)
        abort();
    return o;
}

AG_SINK_HELPER struct ag_allocator *make(struct sink *s)
{
    return ops()->create(NULL, on_offer, s);
}

AG_SINK_HELPER void add_agent(struct ag_allocator *a, const char *id, const char *text)
{
    struct ag_resources r = R(text);
    int rc = ops()->add_agent(a, id, &r);
    ag_resources_release(&r);
    if (rc != 0)
        abort();
}

AG_SINK_HELPER int add_fw(struct ag_allocator *a, const char *id, const char *role)
{
    const char *roles[] = {role};
    return ops()->add_framework(a, id, roles, 1, NULL, 0, true);
}

/* Recovers every offer in the sink with the given filter, then clears it. */
AG_SINK_HELPER void decline_all(struct ag_allocator *a, struct sink *s, double refuse, double now)
{
    for (size_t i = 0; i < s->n; i++)
        ops()->recover(a, s->v[i].fw, s->v[i].role, s->v[i].agent, &s->v[i].res, refuse, now);
    sink_clear(s);
}

AG_SINK_HELPER void decline(struct ag_allocator *a, struct offer *o, double refuse, double now)
{
    ops()->recover(a, o->fw, o->role, o->agent, &o->res, refuse, now);
}

AG_SINK_HELPER double scalar(const struct offer *o, const char *name)
{
    return ag_resources_scalar(&o->res, name);
}

#endif
