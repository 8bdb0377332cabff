/* Chained hash table plus an insertion-ordered list; see map.h. */
#include "master/map.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* FNV-1a: short keys (uuids with suffixes), good enough spread. */
static uint64_t hash_key(const char *key)
{
    uint64_t h = 1469598103934665603ull;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
        h ^= *p;
        h *= 1099511628211ull;
    }
    return h;
}

void ag_master_map_init(struct ag_master_map *map)
{
    memset(map, 0, sizeof(*map));
}

void ag_master_map_release(struct ag_master_map *map)
{
    struct ag_master_map_entry *e = map->head, *next;
    for (; e; e = next) {
        next = e->next;
        free(e->key);
        free(e);
    }
    free(map->buckets);
    ag_master_map_init(map);
}

static struct ag_master_map_entry *find(const struct ag_master_map *map, const char *key,
                                        uint64_t h)
{
    if (map->n_buckets == 0)
        return NULL;
    struct ag_master_map_entry *e = map->buckets[h & (map->n_buckets - 1)];
    for (; e; e = e->chain)
        if (e->hash == h && strcmp(e->key, key) == 0)
            return e;
    return NULL;
}

void *ag_master_map_get(const struct ag_master_map *map, const char *key)
{
    struct ag_master_map_entry *e = find(map, key, hash_key(key));
    return e ? e->value : NULL;
}

int ag_master_map_has(const struct ag_master_map *map, const char *key)
{
    return find(map, key, hash_key(key)) != NULL;
}

/* Doubles the bucket array (power of two) and rehashes; keeps load <= 1. */
static int grow(struct ag_master_map *map)
{
    size_t nb = map->n_buckets ? map->n_buckets * 2 : 16;
    struct ag_master_map_entry **b = calloc(nb, sizeof(*b));
    if (!b)
        return -ENOMEM;
    for (struct ag_master_map_entry *e = map->head; e; e = e->next) {
        size_t i = e->hash & (nb - 1);
        e->chain = b[i];
        b[i] = e;
    }
    free(map->buckets);
    map->buckets = b;
    map->n_buckets = nb;
    return 0;
}

int ag_master_map_put(struct ag_master_map *map, const char *key, void *value)
{
    uint64_t h = hash_key(key);
    struct ag_master_map_entry *e = find(map, key, h);
    if (e) {
        e->value = value;
        return 0;
    }
    if (map->n + 1 > map->n_buckets && grow(map) < 0)
        return -ENOMEM;
    e = calloc(1, sizeof(*e));
    if (!e)
        return -ENOMEM;
    e->key = strdup(key);
    if (!e->key) {
        free(e);
        return -ENOMEM;
    }
    e->value = value;
    e->hash = h;
    e->order = ++map->next_order;
    size_t i = h & (map->n_buckets - 1);
    e->chain = map->buckets[i];
    map->buckets[i] = e;
    e->prev = map->tail;
    if (map->tail)
        map->tail->next = e;
    else
        map->head = e;
    map->tail = e;
    map->n++;
    return 0;
}

void *ag_master_map_remove(struct ag_master_map *map, const char *key)
{
    uint64_t h = hash_key(key);
    if (map->n_buckets == 0)
        return NULL;
    struct ag_master_map_entry **pp = &map->buckets[h & (map->n_buckets - 1)];
    for (; *pp; pp = &(*pp)->chain) {
        struct ag_master_map_entry *e = *pp;
        if (e->hash != h || strcmp(e->key, key) != 0)
            continue;
        *pp = e->chain;
        if (e->prev)
            e->prev->next = e->next;
        else
            map->head = e->next;
        if (e->next)
            e->next->prev = e->prev;
        else
            map->tail = e->prev;
        map->n--;
        void *value = e->value;
        free(e->key);
        free(e);
        return value;
    }
    return NULL;
}

struct ag_master_map_entry *ag_master_map_cursor_next(const struct ag_master_map *map,
                                                      struct ag_master_map_cursor *c)
{
    struct ag_master_map_entry *e;
    if (c->live) {
        e = c->live->next;
    } else if (!c->begun) {
        e = map->head;
    } else {
        struct ag_master_map_entry *at = c->key ? find(map, c->key, hash_key(c->key)) : NULL;
        if (at && at->order == c->order) {
            e = at->next;
        } else {
            /* removed meanwhile: the first entry inserted after it */
            for (e = map->head; e && e->order <= c->order; e = e->next)
                ;
        }
    }
    c->begun = 1;
    c->live = e;
    if (e)
        c->order = e->order;
    return e;
}

void ag_master_map_cursor_park(struct ag_master_map_cursor *c)
{
    if (!c->live)
        return;
    free(c->key);
    c->key = strdup(c->live->key); /* NULL: the walk from the head finds the place */
    c->live = NULL;
}

void ag_master_map_cursor_release(struct ag_master_map_cursor *c)
{
    free(c->key);
    memset(c, 0, sizeof(*c));
}
