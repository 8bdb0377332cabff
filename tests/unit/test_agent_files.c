/* /files path resolution and data sanitising (agent/files.c). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/internal.h"
#include "test.h"

/* A scratch work dir: root/slaves/S1/frameworks/F/executors/E/runs/C with a
 * runs/latest link, a file inside, a symlink out, and a secret outside. */
struct tree {
    char root[PATH_MAX];
    char sandbox[PATH_MAX * 2];
};

static void make_tree(struct tree *t)
{
    char path[PATH_MAX * 4];
    char tmpl[] = "/tmp/agora-files-XXXXXX";
    char *dir = mkdtemp(tmpl);
    FILE *f;
    ASSERT_NOT_NULL(dir);
    ASSERT_NOT_NULL(realpath(dir, t->root));
    snprintf(t->sandbox, sizeof(t->sandbox), "%s/slaves/S1/frameworks/F/executors/E/runs/C",
             t->root);
    ASSERT_EQ(ag_agent_mkdirs(t->sandbox, 0755), 0);
    snprintf(path, sizeof(path), "%s/slaves/S1/frameworks/F/executors/E/runs/latest", t->root);
    ASSERT_EQ(symlink("C", path), 0);
    snprintf(path, sizeof(path), "%s/stdout", t->sandbox);
    f = fopen(path, "w");
    ASSERT_NOT_NULL(f);
    fputs("hello\n", f);
    fclose(f);
    snprintf(path, sizeof(path), "%s/secret", t->root);
    f = fopen(path, "w");
    ASSERT_NOT_NULL(f);
    fclose(f);
    snprintf(path, sizeof(path), "%s/leak", t->sandbox);
    ASSERT_EQ(symlink("/etc/passwd", path), 0);
    snprintf(path, sizeof(path), "%s/up", t->sandbox);
    ASSERT_EQ(symlink("/", path), 0);
}

static void remove_tree(const struct tree *t)
{
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->root);
    ASSERT_EQ(system(cmd), 0);
}

static int resolve(const struct tree *t, const char *path, char **ret)
{
    const char *dirs[] = {t->sandbox};
    return ag_agent_files_resolve(t->root, "S1", path, dirs, 1, ret);
}

TEST(resolve_host_and_virtual_paths_inside_the_sandbox)
{
    struct tree t;
    char path[PATH_MAX * 4], *real = NULL;
    make_tree(&t);
    ASSERT_EQ(resolve(&t, t.sandbox, &real), 0);
    ASSERT_STREQ(real, t.sandbox);
    free(real);
    snprintf(path, sizeof(path), "%s/stdout", t.sandbox);
    ASSERT_EQ(resolve(&t, path, &real), 0);
    free(real);
    ASSERT_EQ(resolve(&t, "/frameworks/F/executors/E/runs/latest/stdout", &real), 0);
    snprintf(path, sizeof(path), "%s/stdout", t.sandbox);
    ASSERT_STREQ(real, path);
    free(real);
    ASSERT_EQ(resolve(&t, "slaves/S1/frameworks/F/executors/E/runs/latest", &real), 0);
    ASSERT_STREQ(real, t.sandbox);
    free(real);
    remove_tree(&t);
}

TEST(resolve_refuses_everything_outside_a_sandbox)
{
    struct tree t;
    char path[PATH_MAX * 4], *real = NULL;
    make_tree(&t);
    ASSERT_EQ(resolve(&t, "/etc/passwd", &real), -EACCES);
    snprintf(path, sizeof(path), "%s/../../../../../../../../secret", t.sandbox);
    ASSERT_EQ(resolve(&t, path, &real), -EACCES);
    snprintf(path, sizeof(path), "%s/..", t.sandbox); /* runs/: a parent of a sandbox */
    ASSERT_EQ(resolve(&t, path, &real), -EACCES);
    snprintf(path, sizeof(path), "%s/leak", t.sandbox); /* symlink out */
    ASSERT_EQ(resolve(&t, path, &real), -EACCES);
    snprintf(path, sizeof(path), "%s/up/etc/passwd", t.sandbox);
    ASSERT_EQ(resolve(&t, path, &real), -EACCES);
    ASSERT_EQ(
        resolve(&t, "/frameworks/F/executors/E/runs/latest/../../../../../../../../secret", &real),
        -EACCES);
    snprintf(path, sizeof(path), "%sX", t.sandbox); /* a sibling sharing the prefix */
    ASSERT_EQ(mkdir(path, 0755), 0);
    ASSERT_EQ(resolve(&t, path, &real), -EACCES);
    remove_tree(&t);
}

TEST(resolve_missing_paths_are_not_found)
{
    struct tree t;
    char path[PATH_MAX * 4], *real = NULL;
    make_tree(&t);
    snprintf(path, sizeof(path), "%s/nope", t.sandbox);
    ASSERT_EQ(resolve(&t, path, &real), -ENOENT);
    ASSERT_EQ(resolve(&t, "", &real), -ENOENT);
    ASSERT_EQ(ag_agent_files_resolve(t.root, NULL, "/frameworks/F", NULL, 0, &real), -ENOENT);
    remove_tree(&t);
}

TEST(sanitize_keeps_valid_utf8)
{
    char s[] = "h\xc3\xa9llo \xe2\x82\xac";
    ASSERT_EQ(ag_agent_files_sanitize(s, strlen(s), true), strlen(s));
    ASSERT_STREQ(s, "h\xc3\xa9llo \xe2\x82\xac");
}

TEST(sanitize_replaces_invalid_bytes_one_for_one)
{
    char s[] = "a\xff"
               "b\xc0\xaf"
               "c\xed\xa0\x80";
    size_t len = strlen(s);
    ASSERT_EQ(ag_agent_files_sanitize(s, len, true), len);
    ASSERT_STREQ(s, "a?b??c???");
}

TEST(sanitize_holds_back_a_sequence_cut_by_the_read)
{
    char s[] = "ab\xe2\x82";
    ASSERT_EQ(ag_agent_files_sanitize(s, 4, false), 2);
    ASSERT_EQ(ag_agent_files_sanitize(s, 4, true), 4); /* at EOF it is just bad */
    ASSERT_STREQ(s, "ab??");
}

TEST(mode_string)
{
    char m[11];
    ag_agent_files_mode_string(S_IFDIR | 0755, m);
    ASSERT_STREQ(m, "drwxr-xr-x");
    ag_agent_files_mode_string(S_IFREG | 0640, m);
    ASSERT_STREQ(m, "-rw-r-----");
    ag_agent_files_mode_string(S_IFLNK | 0777, m);
    ASSERT_STREQ(m, "lrwxrwxrwx");
}

TEST_MAIN(TEST_CASE(resolve_host_and_virtual_paths_inside_the_sandbox),
          TEST_CASE(resolve_refuses_everything_outside_a_sandbox),
          TEST_CASE(resolve_missing_paths_are_not_found), TEST_CASE(sanitize_keeps_valid_utf8),
          TEST_CASE(sanitize_replaces_invalid_bytes_one_for_one),
          TEST_CASE(sanitize_holds_back_a_sequence_cut_by_the_read), TEST_CASE(mode_string))
