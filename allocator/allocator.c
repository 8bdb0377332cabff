/*
 * allocator: the registry of built-in policies, looked up by the name the
 * master's --allocator flag gives.
 */
#include "allocator/allocator.h"

#include <string.h>

#include "allocator/internal.h"

static const struct ag_allocator_ops *const builtins[] = {
    &ag__alloc_drf_ops,
    &ag__alloc_fifo_ops,
};

static const char *const names[] = {"drf", "fifo", NULL};

const struct ag_allocator_ops *ag_allocator_find(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++) {
        if (strcmp(builtins[i]->name, name) == 0)
            return builtins[i];
    }
    return NULL;
}

const char *const *ag_allocator_names(void)
{
    return names;
}
