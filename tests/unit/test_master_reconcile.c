/* Unit tests for master/reconcile.c: the answers of §4.6. */
#include "test.h"

#include "master/internal.h"

static enum ag_task_state unknown(enum ag_master_recon_agent agent, bool recovering, bool pa,
                                  bool *answered)
{
    enum ag_task_state s = AG_TASK_STAGING;
    *answered = ag_master_reconcile_unknown(agent, recovering, pa, &s);
    return s;
}

TEST(unknown_task_partition_aware)
{
    bool ans;
    ASSERT_EQ(unknown(AG_RECON_AGENT_REGISTERED, false, true, &ans), AG_TASK_GONE);
    ASSERT_TRUE(ans);
    ASSERT_EQ(unknown(AG_RECON_AGENT_UNREACHABLE, false, true, &ans), AG_TASK_UNREACHABLE);
    ASSERT_TRUE(ans);
    ASSERT_EQ(unknown(AG_RECON_AGENT_GONE, false, true, &ans), AG_TASK_GONE_BY_OPERATOR);
    ASSERT_TRUE(ans);
    ASSERT_EQ(unknown(AG_RECON_AGENT_UNKNOWN, false, true, &ans), AG_TASK_UNKNOWN);
    ASSERT_TRUE(ans);
    ASSERT_EQ(unknown(AG_RECON_AGENT_NOT_GIVEN, false, true, &ans), AG_TASK_UNKNOWN);
    ASSERT_TRUE(ans);
}

TEST(unknown_task_not_partition_aware)
{
    bool ans;
    ASSERT_EQ(unknown(AG_RECON_AGENT_REGISTERED, false, false, &ans), AG_TASK_LOST);
    ASSERT_EQ(unknown(AG_RECON_AGENT_UNREACHABLE, false, false, &ans), AG_TASK_LOST);
    ASSERT_EQ(unknown(AG_RECON_AGENT_GONE, false, false, &ans), AG_TASK_LOST);
    ASSERT_EQ(unknown(AG_RECON_AGENT_UNKNOWN, false, false, &ans), AG_TASK_LOST);
    ASSERT_EQ(unknown(AG_RECON_AGENT_NOT_GIVEN, false, false, &ans), AG_TASK_LOST);
    ASSERT_TRUE(ans);
}

TEST(unknown_task_recovering_agents_get_no_answer)
{
    bool ans;
    unknown(AG_RECON_AGENT_RECOVERING, false, true, &ans);
    ASSERT_FALSE(ans);
    unknown(AG_RECON_AGENT_NOT_GIVEN, true, true, &ans);
    ASSERT_FALSE(ans);
    /* a registered agent answers even while others recover */
    ASSERT_EQ(unknown(AG_RECON_AGENT_REGISTERED, true, true, &ans), AG_TASK_GONE);
    ASSERT_TRUE(ans);
}

TEST(known_task_reports_update_state)
{
    /* status_update_state wins over the latest state */
    ASSERT_EQ(ag_master_reconcile_known(AG_TASK_FINISHED, true, AG_TASK_RUNNING, true),
              AG_TASK_RUNNING);
    ASSERT_EQ(ag_master_reconcile_known(AG_TASK_STAGING, false, AG_TASK_RUNNING, true),
              AG_TASK_STAGING);
    ASSERT_EQ(ag_master_reconcile_known(AG_TASK_UNREACHABLE, false, AG_TASK_RUNNING, true),
              AG_TASK_UNREACHABLE);
    ASSERT_EQ(ag_master_reconcile_known(AG_TASK_UNREACHABLE, false, AG_TASK_RUNNING, false),
              AG_TASK_LOST);
    ASSERT_EQ(ag_master_reconcile_known(AG_TASK_RUNNING, true, AG_TASK_GONE, false), AG_TASK_LOST);
}

TEST_MAIN(TEST_CASE(unknown_task_partition_aware), TEST_CASE(unknown_task_not_partition_aware),
          TEST_CASE(unknown_task_recovering_agents_get_no_answer),
          TEST_CASE(known_task_reports_update_state))
