/* The pure parts of sandbox housekeeping: the GC plan and disk pressure
 * (agent/gc.c), byte sizes of the agent's flags (agent/sandboxes.c), and
 * the container logger's rotation (logger/rotate.c). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/sandboxes.h"
#include "logger/rotate.c"
#include "test.h"

TEST(gc_plan_by_age)
{
    char a[] = "/w/a", b[] = "/w/b", c[] = "/w/c";
    struct ag_agent_gc_entry e[3] = {{a, 900.0}, {b, 100.0}, {c, 500.0}};
    /* now 1000, delay 450: b (age 900) and c (age 500) are due, oldest first. */
    ASSERT_EQ(ag_agent_gc_plan(e, 3, 1000.0, 450.0, false), 2);
    ASSERT_STREQ(e[0].path, "/w/b");
    ASSERT_STREQ(e[1].path, "/w/c");
    ASSERT_STREQ(e[2].path, "/w/a");
    /* Exactly at the delay counts as due. */
    ASSERT_EQ(ag_agent_gc_plan(e, 3, 1000.0, 100.0, false), 3);
    ASSERT_EQ(ag_agent_gc_plan(e, 3, 1000.0, 1e9, false), 0);
    ASSERT_EQ(ag_agent_gc_plan(e, 0, 1000.0, 1.0, false), 0);
}

TEST(gc_plan_under_pressure)
{
    char a[] = "/w/a", b[] = "/w/b";
    struct ag_agent_gc_entry e[2] = {{a, 999.0}, {b, 998.0}};
    /* Young sandboxes go too, oldest first. */
    ASSERT_EQ(ag_agent_gc_plan(e, 2, 1000.0, 7 * 86400.0, true), 2);
    ASSERT_STREQ(e[0].path, "/w/b");
}

TEST(gc_pressure)
{
    ASSERT_TRUE(ag_agent_gc_pressure(5, 100, 0.1));
    ASSERT_FALSE(ag_agent_gc_pressure(10, 100, 0.1));
    ASSERT_FALSE(ag_agent_gc_pressure(50, 100, 0.1));
    ASSERT_FALSE(ag_agent_gc_pressure(0, 100, 0.0)); /* headroom 0: never */
    ASSERT_TRUE(ag_agent_gc_pressure(99, 100, 1.0));
    ASSERT_FALSE(ag_agent_gc_pressure(0, 0, 0.5)); /* no size known */
}

TEST(parse_bytes)
{
    uint64_t v = 0;
    ASSERT_EQ(ag_agent_parse_bytes("10MB", &v), 0);
    ASSERT_EQ(v, 10ull * 1024 * 1024);
    ASSERT_EQ(ag_agent_parse_bytes("4kb", &v), 0);
    ASSERT_EQ(v, 4096);
    ASSERT_EQ(ag_agent_parse_bytes("2GB", &v), 0);
    ASSERT_EQ(v, 2ull << 30);
    ASSERT_EQ(ag_agent_parse_bytes("512", &v), 0);
    ASSERT_EQ(v, 512);
    ASSERT_EQ(ag_agent_parse_bytes("7 B", &v), 0);
    ASSERT_EQ(v, 7);
    ASSERT_EQ(ag_agent_parse_bytes("", &v), -EINVAL);
    ASSERT_EQ(ag_agent_parse_bytes(NULL, &v), -EINVAL);
    ASSERT_EQ(ag_agent_parse_bytes("-1MB", &v), -EINVAL);
    ASSERT_EQ(ag_agent_parse_bytes("10XB", &v), -EINVAL);
    ASSERT_EQ(ag_agent_parse_bytes("MB", &v), -EINVAL);
    ASSERT_EQ(ag_agent_parse_bytes("99999999999999999999TB", &v), -EINVAL);
    ASSERT_EQ(ag_agent_parse_bytes("20000000TB", &v), -EINVAL);
    /* The logger's own parser agrees. */
    ASSERT_EQ(ag_logger_parse_size("10MB", &v), 0);
    ASSERT_EQ(v, 10ull * 1024 * 1024);
    ASSERT_EQ(ag_logger_parse_size("1.5MB", &v), -EINVAL);
}

TEST(rotation_names)
{
    char out[32];
    volatile size_t small = 16; /* not a constant: the check is at run time */
    ASSERT_EQ(ag_logger_rotated_name("/s/stdout", 0, out, sizeof(out)), 0);
    ASSERT_STREQ(out, "/s/stdout");
    ASSERT_EQ(ag_logger_rotated_name("/s/stdout", 1, out, sizeof(out)), 0);
    ASSERT_STREQ(out, "/s/stdout.1");
    ASSERT_EQ(ag_logger_rotated_name("/s/stderr", 12, out, sizeof(out)), 0);
    ASSERT_STREQ(out, "/s/stderr.12");
    ASSERT_EQ(ag_logger_rotated_name("/a/very/long/path/to/stdout", 3, out, small), -ENAMETOOLONG);
}

TEST(rotation_room)
{
    ASSERT_EQ(ag_logger_room(0, 100, 40), 40);
    ASSERT_EQ(ag_logger_room(90, 100, 40), 10);
    ASSERT_EQ(ag_logger_room(100, 100, 40), 0);
    ASSERT_EQ(ag_logger_room(150, 100, 40), 0);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ASSERT_NOT_NULL(f);
    fputs(text, f);
    fclose(f);
}

static void expect_file(const char *dir, const char *name, const char *text)
{
    char path[PATH_MAX], buf[64] = "";
    FILE *f;
    size_t n;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "r");
    if (!text) {
        ASSERT_NULL(f);
        return;
    }
    ASSERT_NOT_NULL(f);
    n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    ASSERT_STREQ(buf, text);
}

TEST(rotation_shifts_and_drops_the_oldest)
{
    char tmpl[] = "/tmp/agora-rotate-XXXXXX", base[PATH_MAX], path[PATH_MAX];
    char *dir = mkdtemp(tmpl);
    ASSERT_NOT_NULL(dir);
    snprintf(base, sizeof(base), "%s/stdout", dir);

    /* Three files kept: live, .1, .2. */
    write_file(base, "one");
    ASSERT_EQ(ag_logger_rotate(base, 3), 0);
    expect_file(dir, "stdout", NULL);
    expect_file(dir, "stdout.1", "one");
    write_file(base, "two");
    ASSERT_EQ(ag_logger_rotate(base, 3), 0);
    write_file(base, "three");
    ASSERT_EQ(ag_logger_rotate(base, 3), 0);
    expect_file(dir, "stdout.1", "three");
    expect_file(dir, "stdout.2", "two");
    expect_file(dir, "stdout.3", NULL); /* "one" dropped */

    /* One file kept: rotation just empties the live one. */
    write_file(base, "solo");
    ASSERT_EQ(ag_logger_rotate(base, 1), 0);
    expect_file(dir, "stdout", NULL);

    for (int i = 1; i <= 3; i++) {
        snprintf(path, sizeof(path), "%s/stdout.%d", dir, i);
        unlink(path);
    }
    unlink(base);
    ASSERT_EQ(rmdir(dir), 0);
}

TEST_MAIN(TEST_CASE(gc_plan_by_age), TEST_CASE(gc_plan_under_pressure), TEST_CASE(gc_pressure),
          TEST_CASE(parse_bytes), TEST_CASE(rotation_names), TEST_CASE(rotation_room),
          TEST_CASE(rotation_shifts_and_drops_the_oldest))
