/*
 * idmap: a small open-addressing hash map from strings to dense indices,
 * used at the allocator's edge so hot loops work on integers only.
 *
 * Linear probing with backward-shift deletion (no tombstones), load kept at
 * or below one half. The map does not copy keys: a key must stay valid
 * (and unchanged) while it is in the map; the allocator points it at the
 * id string its agent, framework or role record owns.
 */
#ifndef AG_ALLOCATOR_IDMAP_H
#define AG_ALLOCATOR_IDMAP_H

#include <stddef.h>
#include <stdint.h>

#define AG_IDMAP_NONE UINT32_MAX

struct ag__idmap_slot {
    const char *key; /* NULL = empty */
    uint32_t hash;
    uint32_t value;
};

struct ag__idmap {
    struct ag__idmap_slot *slots;
    uint32_t cap; /* 0 or a power of two */
    uint32_t n;
};

void ag__idmap_init(struct ag__idmap *m);
void ag__idmap_release(struct ag__idmap *m);
/* The value stored for key, or AG_IDMAP_NONE. */
uint32_t ag__idmap_get(const struct ag__idmap *m, const char *key);
/* Inserts or replaces key -> value. 0 or -ENOMEM (map unchanged). */
int ag__idmap_put(struct ag__idmap *m, const char *key, uint32_t value);
/* Removes key if present. */
void ag__idmap_del(struct ag__idmap *m, const char *key);

#endif
