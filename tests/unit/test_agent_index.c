/* The agent's id index (agent/index.h): put, get, replace, delete only
 * of the mapped value, growth past many entries with tombstones, against
 * a plain array as the reference. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/index.h"
#include "test.h"

TEST(empty_index_finds_nothing)
{
    struct ag_agent_index ix;
    ag_agent_index_init(&ix);
    ASSERT_NULL(ag_agent_index_get(&ix, "a"));
    ASSERT_NULL(ag_agent_index_get(&ix, NULL));
    ag_agent_index_del(&ix, "a", NULL);
    ag_agent_index_release(&ix);
}

TEST(put_get_replace_del)
{
    struct ag_agent_index ix;
    int a, b;
    char key1[] = "task-1", key2[] = "task-1";
    ag_agent_index_init(&ix);
    ASSERT_EQ(ag_agent_index_put(&ix, key1, &a), 0);
    ASSERT_TRUE(ag_agent_index_get(&ix, "task-1") == &a);
    ASSERT_NULL(ag_agent_index_get(&ix, "task-2"));
    /* A second object with the same id replaces the first... */
    ASSERT_EQ(ag_agent_index_put(&ix, key2, &b), 0);
    ASSERT_TRUE(ag_agent_index_get(&ix, "task-1") == &b);
    ASSERT_EQ(ix.n, 1);
    /* ...and removing the first then leaves the second in place. */
    ag_agent_index_del(&ix, "task-1", &a);
    ASSERT_TRUE(ag_agent_index_get(&ix, "task-1") == &b);
    ag_agent_index_del(&ix, "task-1", &b);
    ASSERT_NULL(ag_agent_index_get(&ix, "task-1"));
    ASSERT_EQ(ix.n, 0);
    ASSERT_FALSE(ix.broken);
    ag_agent_index_release(&ix);
}

/* Many insertions and removals in turn (the shape of a burst of tasks
 * that start and end), checked against an array after each step. */
TEST(churn_matches_reference)
{
    enum { N = 3000 };
    static char keys[N][16];
    static int live[N];
    struct ag_agent_index ix;
    ag_agent_index_init(&ix);
    for (int i = 0; i < N; i++)
        snprintf(keys[i], sizeof(keys[i]), "id-%d", i);
    for (int round = 0; round < 4; round++) {
        for (int i = round; i < N; i += 2) {
            ASSERT_EQ(ag_agent_index_put(&ix, keys[i], &live[i]), 0);
            live[i] = 1;
        }
        for (int i = 0; i < N; i += 3) {
            ag_agent_index_del(&ix, keys[i], &live[i]);
            live[i] = 0;
        }
        size_t n = 0;
        for (int i = 0; i < N; i++) {
            void *v = ag_agent_index_get(&ix, keys[i]);
            if (live[i]) {
                ASSERT_TRUE(v == &live[i]);
                n++;
            } else {
                ASSERT_NULL(v);
            }
        }
        ASSERT_EQ(ix.n, n);
        /* At most half full, tombstones included. */
        ASSERT_TRUE(ix.used * 2 <= ix.cap);
    }
    ag_agent_index_release(&ix);
}

TEST_MAIN(TEST_CASE(empty_index_finds_nothing), TEST_CASE(put_get_replace_del),
          TEST_CASE(churn_matches_reference))
