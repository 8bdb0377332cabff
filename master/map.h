/*
 * map: a string-keyed hash map that remembers insertion order, for the
 * master's tables (agents, frameworks, offers, a framework's tasks).
 *
 * Lookups are O(1) on average; iteration follows insertion order so the
 * state endpoints list objects in the order they appeared. Keys are copied;
 * values are the caller's (the map never frees them).
 *
 * Iterate with
 *     for (e = map.head; e; e = next) { next = e->next; ... }
 * which stays valid when the current entry is removed.
 */
#ifndef AG_MASTER_MAP_H
#define AG_MASTER_MAP_H

#include <stddef.h>
#include <stdint.h>

struct ag_master_map_entry {
    char *key;
    void *value;
    /* private */
    uint64_t hash;
    uint64_t order;                          /* increases along the insertion order */
    struct ag_master_map_entry *chain;       /* next in the bucket */
    struct ag_master_map_entry *prev, *next; /* insertion order */
};

struct ag_master_map {
    /* read-only */
    struct ag_master_map_entry *head, *tail;
    size_t n;
    /* private */
    struct ag_master_map_entry **buckets;
    size_t n_buckets;
    uint64_t next_order;
};

void ag_master_map_init(struct ag_master_map *map);
/* Frees the entries and keys (not the values). The map is empty after. */
void ag_master_map_release(struct ag_master_map *map);
/* The value stored under key, or NULL. */
void *ag_master_map_get(const struct ag_master_map *map, const char *key);
/* Whether key is present (values may be NULL). */
int ag_master_map_has(const struct ag_master_map *map, const char *key);
/* Stores value under key, replacing an existing value in place (its
 * position in the order is kept). 0 or -ENOMEM. */
int ag_master_map_put(struct ag_master_map *map, const char *key, void *value);
/* Removes key; returns its value (NULL if absent). */
void *ag_master_map_remove(struct ag_master_map *map, const char *key);

/* A position in a map's order that survives changes to the map between
 * uses: a walk over a large map in slices (the state endpoints) parks the
 * cursor, lets the loop run, and goes on after the entry it stopped at,
 * or, when that entry was removed meanwhile, after where it was. Entries
 * added meanwhile are seen (they come last). Zero-initialise; release. */
struct ag_master_map_cursor {
    /* private */
    const struct ag_master_map_entry *live; /* valid until parked */
    char *key;
    uint64_t order;
    int begun;
};
/* The next entry (the first on a fresh cursor), or NULL at the end; the
 * cursor moves onto it. */
struct ag_master_map_entry *ag_master_map_cursor_next(const struct ag_master_map *map,
                                                      struct ag_master_map_cursor *c);
/* Forgets the entry pointer (keeps the position) before the map may
 * change. */
void ag_master_map_cursor_park(struct ag_master_map_cursor *c);
/* Frees the cursor's memory; it is fresh again. */
void ag_master_map_cursor_release(struct ag_master_map_cursor *c);

#endif
