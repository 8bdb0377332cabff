/* Unit tests for lib/core/log.c: level names, the threshold, and the line
 * format (stderr redirected to a file). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/log.h"
#include "test.h"

TEST(level_parse)
{
    enum ag_log_level l = AG_LOG_ERROR;
    ASSERT_EQ(ag_log_level_parse("debug", &l), 0);
    ASSERT_EQ(l, AG_LOG_DEBUG);
    ASSERT_EQ(ag_log_level_parse("info", &l), 0);
    ASSERT_EQ(l, AG_LOG_INFO);
    ASSERT_EQ(ag_log_level_parse("warning", &l), 0);
    ASSERT_EQ(l, AG_LOG_WARNING);
    ASSERT_EQ(ag_log_level_parse("error", &l), 0);
    ASSERT_EQ(l, AG_LOG_ERROR);
    ASSERT_EQ(ag_log_level_parse("none", &l), 0);
    ASSERT_EQ(l, AG_LOG_NONE);
    ASSERT_EQ(ag_log_level_parse("loud", &l), -EINVAL);
    ASSERT_EQ(ag_log_level_parse("", &l), -EINVAL);
    ASSERT_EQ(ag_log_level_parse(NULL, &l), -EINVAL);
    ASSERT_EQ(l, AG_LOG_NONE);
}

static int evaluated;

static int side_effect(void)
{
    return ++evaluated;
}

TEST(lines_and_threshold)
{
    char path[] = "/tmp/agora-test-log-XXXXXX";
    int fd = mkstemp(path);
    ASSERT_TRUE(fd >= 0);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);

    ag_log_set_tag("master");
    ag_log_set_level(AG_LOG_INFO);
    evaluated = 0;
    ag_debug("hidden %d", side_effect()); /* skipped: arguments not evaluated */
    ag_info("agent '%s' registered", "a1");
    ag_warn("w");
    ag_log_set_level(AG_LOG_NONE);
    ag_error("also hidden");
    ag_log_set_level(AG_LOG_INFO);

    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    char buf[512] = {0};
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    close(fd);
    unlink(path);
    ASSERT_TRUE(n > 0);
    ASSERT_EQ(evaluated, 0);
    /* "2026-11-24T14:21:18.123Z I master: agent 'a1' registered\n" */
    ASSERT_EQ(buf[4], '-');
    ASSERT_EQ(buf[10], 'T');
    ASSERT_EQ(buf[19], '.');
    ASSERT_EQ(buf[23], 'Z');
    ASSERT_TRUE(strncmp(buf + 24, " I master: agent 'a1' registered\n", 33) == 0);
    char *second = strchr(buf, '\n') + 1;
    ASSERT_TRUE(strncmp(second + 24, " W master: w\n", 13) == 0);
    ASSERT_TRUE(strstr(buf, "hidden") == NULL);
}

TEST_MAIN(TEST_CASE(level_parse), TEST_CASE(lines_and_threshold))
