/*
 * idmap: string -> index, open addressing (see idmap.h for the contract).
 */
#include "allocator/idmap.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* FNV-1a: ids are short (UUIDs plus a suffix), so a simple byte hash is
 * fast enough and spreads them well. */
static uint32_t hash_str(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 16777619u;
    }
    return h;
}

void ag__idmap_init(struct ag__idmap *m)
{
    m->slots = NULL;
    m->cap = 0;
    m->n = 0;
}

void ag__idmap_release(struct ag__idmap *m)
{
    free(m->slots);
    ag__idmap_init(m);
}

/* Slot index holding key, or of the empty slot where it would go. */
static uint32_t find_slot(const struct ag__idmap *m, const char *key, uint32_t h)
{
    uint32_t mask = m->cap - 1;
    uint32_t i = h & mask;
    while (m->slots[i].key) {
        if (m->slots[i].hash == h && strcmp(m->slots[i].key, key) == 0)
            return i;
        i = (i + 1) & mask;
    }
    return i;
}

uint32_t ag__idmap_get(const struct ag__idmap *m, const char *key)
{
    if (m->cap == 0)
        return AG_IDMAP_NONE;
    uint32_t i = find_slot(m, key, hash_str(key));
    return m->slots[i].key ? m->slots[i].value : AG_IDMAP_NONE;
}

static int grow(struct ag__idmap *m)
{
    uint32_t ncap = m->cap ? m->cap * 2 : 16;
    if (ncap < m->cap)
        return -ENOMEM;
    struct ag__idmap_slot *ns = calloc(ncap, sizeof(*ns));
    if (!ns)
        return -ENOMEM;
    for (uint32_t i = 0; i < m->cap; i++) {
        const struct ag__idmap_slot *s = &m->slots[i];
        if (!s->key)
            continue;
        uint32_t j = s->hash & (ncap - 1);
        while (ns[j].key)
            j = (j + 1) & (ncap - 1);
        ns[j] = *s;
    }
    free(m->slots);
    m->slots = ns;
    m->cap = ncap;
    return 0;
}

int ag__idmap_put(struct ag__idmap *m, const char *key, uint32_t value)
{
    if ((m->n + 1) * 2 > m->cap) {
        int rc = grow(m);
        if (rc < 0)
            return rc;
    }
    uint32_t h = hash_str(key);
    uint32_t i = find_slot(m, key, h);
    if (!m->slots[i].key)
        m->n++;
    m->slots[i].key = key;
    m->slots[i].hash = h;
    m->slots[i].value = value;
    return 0;
}

void ag__idmap_del(struct ag__idmap *m, const char *key)
{
    if (m->cap == 0)
        return;
    uint32_t mask = m->cap - 1;
    uint32_t i = find_slot(m, key, hash_str(key));
    if (!m->slots[i].key)
        return;
    /* Backward shift: pull later members of the probe run into the hole
     * unless their home slot lies cyclically in (hole, j]. */
    uint32_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (!m->slots[j].key)
            break;
        uint32_t home = m->slots[j].hash & mask;
        bool stays = (i <= j) ? (i < home && home <= j) : (i < home || home <= j);
        if (stays)
            continue;
        m->slots[i] = m->slots[j];
        i = j;
    }
    m->slots[i].key = NULL;
    m->n--;
}
