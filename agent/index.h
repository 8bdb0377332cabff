/*
 * index: a string -> pointer hash table (open addressing, linear probing)
 * for the agent's lookups by id: a framework's live executors and live
 * tasks. A burst of N command tasks is N executors in one framework, and
 * every executor call, status update and acknowledgement looked its
 * executor and task up by a scan of them: O(N^2) strcmp for the burst.
 *
 * Keys are not copied: a key must stay valid (it is the indexed object's
 * own id) until it is removed. An entry whose insertion failed for lack of
 * memory marks the index broken: callers then fall back to their scan, so
 * an allocation failure costs speed, never a lookup.
 */
#ifndef AG_AGENT_INDEX_H
#define AG_AGENT_INDEX_H

#include <stdbool.h>
#include <stddef.h>

struct ag_agent_index_slot {
    const char *key; /* NULL: empty; AG_AGENT_INDEX_GONE: removed */
    void *value;
    size_t hash;
};

struct ag_agent_index {
    struct ag_agent_index_slot *slots;
    size_t cap;  /* a power of two, or 0 */
    size_t n;    /* live entries */
    size_t used; /* live entries and tombstones */
    bool broken; /* an insertion failed: the index may miss entries */
};

void ag_agent_index_init(struct ag_agent_index *ix);
void ag_agent_index_release(struct ag_agent_index *ix);

/* Maps key to value, replacing what key mapped to. 0, or -ENOMEM (the
 * index is then broken). */
int ag_agent_index_put(struct ag_agent_index *ix, const char *key, void *value);

/* What key maps to, or NULL. */
void *ag_agent_index_get(const struct ag_agent_index *ix, const char *key);

/* Removes key if it maps to value (a later object with the same id may
 * have replaced it). */
void ag_agent_index_del(struct ag_agent_index *ix, const char *key, const void *value);

#endif
