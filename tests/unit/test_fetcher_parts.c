/* The pure parts of agora-fetcher (fetcher/parts.c): archive types, URI
 * schemes and file names, output_file checks, cache keys and the LRU
 * eviction plan. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fetcher/parts.c"
#include "test.h"

TEST(archive_types)
{
    ASSERT_EQ(ag_fetcher_archive_type("app.tar.gz"), AG_FETCHER_ARCHIVE_TAR_GZ);
    ASSERT_EQ(ag_fetcher_archive_type("APP.TGZ"), AG_FETCHER_ARCHIVE_TAR_GZ);
    ASSERT_EQ(ag_fetcher_archive_type("a.tar.xz"), AG_FETCHER_ARCHIVE_TAR_XZ);
    ASSERT_EQ(ag_fetcher_archive_type("a.txz"), AG_FETCHER_ARCHIVE_TAR_XZ);
    ASSERT_EQ(ag_fetcher_archive_type("a.tar.bz2"), AG_FETCHER_ARCHIVE_TAR_BZ2);
    ASSERT_EQ(ag_fetcher_archive_type("a.tbz2"), AG_FETCHER_ARCHIVE_TAR_BZ2);
    ASSERT_EQ(ag_fetcher_archive_type("a.tar"), AG_FETCHER_ARCHIVE_TAR);
    ASSERT_EQ(ag_fetcher_archive_type("a.zip"), AG_FETCHER_ARCHIVE_ZIP);
    ASSERT_EQ(ag_fetcher_archive_type("notes.txt.gz"), AG_FETCHER_ARCHIVE_GZ);
    ASSERT_EQ(ag_fetcher_archive_type("run.sh"), AG_FETCHER_ARCHIVE_NONE);
    ASSERT_EQ(ag_fetcher_archive_type("tarball"), AG_FETCHER_ARCHIVE_NONE);
    /* A bare extension is not an archive name. */
    ASSERT_EQ(ag_fetcher_archive_type(".zip"), AG_FETCHER_ARCHIVE_NONE);
    ASSERT_EQ(ag_fetcher_archive_type(NULL), AG_FETCHER_ARCHIVE_NONE);
    ASSERT_STREQ(ag_fetcher_archive_name(AG_FETCHER_ARCHIVE_TAR_GZ), "tar.gz");
    ASSERT_STREQ(ag_fetcher_archive_name(AG_FETCHER_ARCHIVE_NONE), "none");
}

TEST(schemes)
{
    const char *path = NULL;
    char err[256] = "";
    ASSERT_EQ(ag_fetcher_scheme("http://127.0.0.1/x", &path, err, sizeof(err)),
              AG_FETCHER_SCHEME_HTTP);
    ASSERT_EQ(ag_fetcher_scheme("HTTPS://h/x", &path, err, sizeof(err)), AG_FETCHER_SCHEME_HTTP);
    ASSERT_EQ(ag_fetcher_scheme("file:///tmp/a b", &path, err, sizeof(err)),
              AG_FETCHER_SCHEME_FILE);
    ASSERT_STREQ(path, "/tmp/a b");
    ASSERT_EQ(ag_fetcher_scheme("file://localhost/etc/x", &path, err, sizeof(err)),
              AG_FETCHER_SCHEME_FILE);
    ASSERT_STREQ(path, "/etc/x");
    ASSERT_EQ(ag_fetcher_scheme("/opt/app.tgz", &path, err, sizeof(err)), AG_FETCHER_SCHEME_FILE);
    ASSERT_STREQ(path, "/opt/app.tgz");
    ASSERT_EQ(ag_fetcher_scheme("file://relative/x", &path, err, sizeof(err)),
              AG_FETCHER_SCHEME_BAD);
    ASSERT_NOT_NULL(strstr(err, "absolute"));
    ASSERT_EQ(ag_fetcher_scheme("hdfs://nn/x", &path, err, sizeof(err)), AG_FETCHER_SCHEME_BAD);
    ASSERT_NOT_NULL(strstr(err, "'hdfs'"));
    ASSERT_EQ(ag_fetcher_scheme("app.tgz", &path, err, sizeof(err)), AG_FETCHER_SCHEME_BAD);
    ASSERT_NOT_NULL(strstr(err, "relative"));
    ASSERT_EQ(ag_fetcher_scheme("", &path, err, sizeof(err)), AG_FETCHER_SCHEME_BAD);
}

TEST(basenames)
{
    char out[64];
    ASSERT_EQ(ag_fetcher_basename("http://h:8080/a/b.tgz?x=1#frag", out, sizeof(out)), 0);
    ASSERT_STREQ(out, "b.tgz");
    ASSERT_EQ(ag_fetcher_basename("/srv/files/tool.sh", out, sizeof(out)), 0);
    ASSERT_STREQ(out, "tool.sh");
    ASSERT_EQ(ag_fetcher_basename("file:///x", out, sizeof(out)), 0);
    ASSERT_STREQ(out, "x");
    ASSERT_EQ(ag_fetcher_basename("http://host", out, sizeof(out)), -EINVAL);
    ASSERT_EQ(ag_fetcher_basename("http://host?x=/y", out, sizeof(out)), -EINVAL);
    ASSERT_EQ(ag_fetcher_basename("http://host/dir/", out, sizeof(out)), -EINVAL);
    ASSERT_EQ(ag_fetcher_basename("http://host/..", out, sizeof(out)), -EINVAL);
    ASSERT_EQ(
        ag_fetcher_basename("/a/0123456789012345678901234567890123456789012345678901234567890123",
                            out, sizeof(out)),
        -EINVAL);
}

TEST(output_files)
{
    ASSERT_TRUE(ag_fetcher_output_file_ok("app"));
    ASSERT_TRUE(ag_fetcher_output_file_ok("conf/app.ini"));
    ASSERT_TRUE(ag_fetcher_output_file_ok("..hidden"));
    ASSERT_FALSE(ag_fetcher_output_file_ok(""));
    ASSERT_FALSE(ag_fetcher_output_file_ok(NULL));
    ASSERT_FALSE(ag_fetcher_output_file_ok("/etc/passwd"));
    ASSERT_FALSE(ag_fetcher_output_file_ok("../up"));
    ASSERT_FALSE(ag_fetcher_output_file_ok("a/../../up"));
    ASSERT_FALSE(ag_fetcher_output_file_ok("a/.."));
    ASSERT_FALSE(ag_fetcher_output_file_ok("dir/"));
    ASSERT_FALSE(ag_fetcher_output_file_ok("a//b"));
}

TEST(cache_keys)
{
    char a[65], b[65];
    ag_fetcher_cache_key("abc", a);
    ASSERT_STREQ(a, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    ag_fetcher_cache_key("http://h/x.tgz", a);
    ag_fetcher_cache_key("http://h/x.tgz?v=2", b);
    ASSERT_EQ(strlen(a), 64);
    ASSERT_TRUE(strcmp(a, b) != 0);
}

static void entry(struct ag_fetcher_cache_entry *e, const char *key, uint64_t size, double t)
{
    snprintf(e->key, sizeof(e->key), "%s", key);
    e->size = size;
    e->last_used = t;
}

TEST(cache_lru_plan)
{
    struct ag_fetcher_cache_entry e[3];

    /* 60 bytes held, 35 allowed: the two least recently used go. */
    entry(&e[0], "a", 10, 3.0);
    entry(&e[1], "b", 20, 1.0);
    entry(&e[2], "c", 30, 2.0);
    ASSERT_EQ(ag_fetcher_cache_plan(e, 3, 35, NULL), 2);
    ASSERT_STREQ(e[0].key, "b");
    ASSERT_STREQ(e[1].key, "c");
    ASSERT_STREQ(e[2].key, "a");

    /* The entry just added is kept whatever its time stamp. */
    entry(&e[0], "a", 10, 3.0);
    entry(&e[1], "b", 20, 1.0);
    entry(&e[2], "c", 30, 2.0);
    ASSERT_EQ(ag_fetcher_cache_plan(e, 3, 35, "b"), 1);
    ASSERT_STREQ(e[0].key, "c");
    ASSERT_STREQ(e[2].key, "b");

    /* Everything fits: nothing goes. */
    ASSERT_EQ(ag_fetcher_cache_plan(e, 3, 60, NULL), 0);
    /* Only the kept entry, too big: it stays (the caller bypasses the cache). */
    entry(&e[0], "big", 100, 1.0);
    ASSERT_EQ(ag_fetcher_cache_plan(e, 1, 50, "big"), 0);
    ASSERT_EQ(ag_fetcher_cache_plan(e, 0, 50, NULL), 0);
}

TEST_MAIN(TEST_CASE(archive_types), TEST_CASE(schemes), TEST_CASE(basenames),
          TEST_CASE(output_files), TEST_CASE(cache_keys), TEST_CASE(cache_lru_plan))
