/*
 * Unit tests of the allocator's string -> index map (allocator/idmap.h):
 * growth, replacement, and backward-shift deletion keeping every other key
 * reachable.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "allocator/idmap.h"
#include "test.h"

#define N 2000

static char keys[N][16];

TEST(put_get_grow)
{
    struct ag__idmap m;
    ag__idmap_init(&m);
    ASSERT_EQ(ag__idmap_get(&m, "x"), AG_IDMAP_NONE);
    ag__idmap_del(&m, "x"); /* empty map: no-op */
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof(keys[i]), "id-%d", i);
        ASSERT_EQ(ag__idmap_put(&m, keys[i], (uint32_t)i), 0);
    }
    ASSERT_EQ(m.n, N);
    ASSERT_TRUE(m.cap >= 2 * N);
    for (int i = 0; i < N; i++)
        ASSERT_EQ(ag__idmap_get(&m, keys[i]), i);
    /* Lookups compare contents, not pointers; replacing keeps one entry. */
    ASSERT_EQ(ag__idmap_get(&m, "id-7"), 7);
    ASSERT_EQ(ag__idmap_put(&m, keys[7], 70), 0);
    ASSERT_EQ(m.n, N);
    ASSERT_EQ(ag__idmap_get(&m, "id-7"), 70);
    ASSERT_EQ(ag__idmap_get(&m, "id-"), AG_IDMAP_NONE);
    ag__idmap_release(&m);
}

TEST(delete_keeps_others_reachable)
{
    struct ag__idmap m;
    ag__idmap_init(&m);
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof(keys[i]), "k%d", i);
        ASSERT_EQ(ag__idmap_put(&m, keys[i], (uint32_t)i), 0);
    }
    /* Delete in a scrambled order, checking all survivors each time a
     * batch goes. */
    unsigned seed = 7;
    int order[N];
    for (int i = 0; i < N; i++)
        order[i] = i;
    for (int i = N - 1; i > 0; i--) {
        seed = seed * 1103515245u + 12345u;
        int j = (int)((seed >> 8) % (unsigned)(i + 1));
        int t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    static bool gone[N];
    for (int d = 0; d < N; d++) {
        ag__idmap_del(&m, keys[order[d]]);
        ag__idmap_del(&m, keys[order[d]]); /* twice: no-op */
        gone[order[d]] = true;
        if (d % 97 != 0 && d != N - 1)
            continue;
        for (int i = 0; i < N; i++)
            ASSERT_EQ(ag__idmap_get(&m, keys[i]), gone[i] ? AG_IDMAP_NONE : (uint32_t)i);
        ASSERT_EQ(m.n, (uint32_t)(N - d - 1));
    }
    /* Reusable after emptying. */
    ASSERT_EQ(ag__idmap_put(&m, keys[3], 3), 0);
    ASSERT_EQ(ag__idmap_get(&m, "k3"), 3);
    ag__idmap_release(&m);
}

TEST_MAIN(TEST_CASE(put_get_grow), TEST_CASE(delete_keeps_others_reachable))
