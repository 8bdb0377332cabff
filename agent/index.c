/*
 * index: string -> pointer hash table (see index.h).
 */
#include "agent/index.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A removed slot: probing goes on past it, insertion may reuse it. */
static const char gone_key[1];
#define GONE gone_key

/* FNV-1a: ids are short (UUIDs, task names) and this is cheap. */
static size_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return (size_t)h;
}

void ag_agent_index_init(struct ag_agent_index *ix)
{
    memset(ix, 0, sizeof(*ix));
}

void ag_agent_index_release(struct ag_agent_index *ix)
{
    free(ix->slots);
    memset(ix, 0, sizeof(*ix));
}

/* The slot holding key, or NULL. */
static struct ag_agent_index_slot *find(const struct ag_agent_index *ix, const char *key, size_t h)
{
    if (ix->cap == 0)
        return NULL;
    for (size_t i = h & (ix->cap - 1);; i = (i + 1) & (ix->cap - 1)) {
        struct ag_agent_index_slot *s = &ix->slots[i];
        if (!s->key)
            return NULL;
        if (s->key != GONE && s->hash == h && strcmp(s->key, key) == 0)
            return s;
    }
}

/* Rebuilds the table with room for twice the live entries (tombstones
 * dropped). */
static int grow(struct ag_agent_index *ix)
{
    size_t cap = 16;
    struct ag_agent_index_slot *slots;

    while (cap < (ix->n + 1) * 4)
        cap *= 2;
    slots = calloc(cap, sizeof(*slots));
    if (!slots)
        return -ENOMEM;
    for (size_t i = 0; i < ix->cap; i++) {
        struct ag_agent_index_slot *s = &ix->slots[i];
        size_t j;
        if (!s->key || s->key == GONE)
            continue;
        for (j = s->hash & (cap - 1); slots[j].key; j = (j + 1) & (cap - 1))
            ;
        slots[j] = *s;
    }
    free(ix->slots);
    ix->slots = slots;
    ix->cap = cap;
    ix->used = ix->n;
    return 0;
}

int ag_agent_index_put(struct ag_agent_index *ix, const char *key, void *value)
{
    size_t h = hash_str(key);
    struct ag_agent_index_slot *s = find(ix, key, h);
    size_t i;

    if (s) {
        s->key = key;
        s->value = value;
        return 0;
    }
    /* At most half full, tombstones included, so probes stay short and
     * always end at an empty slot. */
    if ((ix->used + 1) * 2 > ix->cap && grow(ix) < 0) {
        ix->broken = true;
        return -ENOMEM;
    }
    for (i = h & (ix->cap - 1); ix->slots[i].key && ix->slots[i].key != GONE;
         i = (i + 1) & (ix->cap - 1))
        ;
    if (!ix->slots[i].key)
        ix->used++;
    ix->slots[i].key = key;
    ix->slots[i].value = value;
    ix->slots[i].hash = h;
    ix->n++;
    return 0;
}

void *ag_agent_index_get(const struct ag_agent_index *ix, const char *key)
{
    struct ag_agent_index_slot *s = key ? find(ix, key, hash_str(key)) : NULL;
    return s ? s->value : NULL;
}

void ag_agent_index_del(struct ag_agent_index *ix, const char *key, const void *value)
{
    struct ag_agent_index_slot *s = key ? find(ix, key, hash_str(key)) : NULL;
    if (!s || s->value != value)
        return;
    s->key = GONE;
    s->value = NULL;
    ix->n--;
}
