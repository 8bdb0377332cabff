/* Unit tests for lib/core/flags.c: flag forms, environment fallback,
 * errors naming the flag, --help, and stout durations. */
#include <errno.h>
#include <stdlib.h>

#include "core/flags.h"
#include "test.h"

static char *work_dir;
static int port;
static double ratio;
static bool verbose;
static double timeout;

static struct ag_flag table[] = {
    {"work_dir", AG_FLAG_STRING, &work_dir, "where to keep state", false},
    {"port", AG_FLAG_INT, &port, "port to listen on", false},
    {"ratio", AG_FLAG_DOUBLE, &ratio, "a ratio", false},
    {"verbose", AG_FLAG_BOOL, &verbose, "log more", false},
    {"timeout", AG_FLAG_DURATION, &timeout, "how long to wait", false},
};
#define N_FLAGS (sizeof(table) / sizeof(table[0]))

static char err[256];

/* argv arrays from literals (-Wwrite-strings makes literals const). */
#define ARGV(...) ((char **)(const char *[]){__VA_ARGS__, NULL})

static void reset(void)
{
    ag_flags_release(table, N_FLAGS);
    work_dir = (char *)"/default";
    port = 5050;
    ratio = 0.5;
    verbose = false;
    timeout = 5;
    unsetenv("AGORA_WORK_DIR");
    unsetenv("AGORA_PORT");
    unsetenv("AGORA_VERBOSE");
    unsetenv("AGORA_TIMEOUT");
    unsetenv("AGORA_RATIO");
}

static int parse(int argc, char **argv, int *next)
{
    err[0] = '\0';
    return ag_flags_parse(table, N_FLAGS, argc, argv, "prog [flags]", next, err, sizeof(err));
}

TEST(forms)
{
    reset();
    char **argv = ARGV("prog", "--work_dir=/tmp/w", "--port", "6000", "--ratio=0.25", "--verbose",
                       "--timeout=1.5mins", "rest", "--port=1");
    int next = -1;
    ASSERT_EQ(parse(9, argv, &next), 0);
    ASSERT_STREQ(work_dir, "/tmp/w");
    ASSERT_EQ(port, 6000);
    ASSERT_NEAR(ratio, 0.25, 1e-12);
    ASSERT_TRUE(verbose);
    ASSERT_NEAR(timeout, 90, 1e-9);
    ASSERT_EQ(next, 7); /* stops at the first non-flag */
    ASSERT_TRUE(table[0].set);

    char **argv2 = ARGV("prog", "--no-verbose", "--work_dir", "a", "--work_dir", "b", "--", "--x");
    ASSERT_EQ(parse(8, argv2, &next), 0);
    ASSERT_FALSE(verbose);
    ASSERT_STREQ(work_dir, "b"); /* last wins; the first copy is freed */
    ASSERT_EQ(next, 7);

    char **argv3 = ARGV("prog", "--verbose=true");
    ASSERT_EQ(parse(2, argv3, &next), 0);
    ASSERT_TRUE(verbose);
    char **argv4 = ARGV("prog", "--verbose=false");
    ASSERT_EQ(parse(2, argv4, &next), 0);
    ASSERT_FALSE(verbose);
    reset();
}

TEST(environment_fallback)
{
    reset();
    setenv("AGORA_WORK_DIR", "/from/env", 1);
    setenv("AGORA_PORT", "7000", 1);
    setenv("AGORA_VERBOSE", "true", 1);
    setenv("AGORA_TIMEOUT", "250ms", 1);
    char **argv = ARGV("prog", "--port=8000");
    int next;
    ASSERT_EQ(parse(2, argv, &next), 0);
    ASSERT_EQ(port, 8000); /* command line beats environment */
    ASSERT_STREQ(work_dir, "/from/env");
    ASSERT_TRUE(verbose);
    ASSERT_NEAR(timeout, 0.25, 1e-12);
    ASSERT_NEAR(ratio, 0.5, 1e-12); /* default kept */
    ASSERT_FALSE(table[2].set);

    reset();
    setenv("AGORA_PORT", "seven", 1);
    ASSERT_EQ(parse(1, argv, &next), -EINVAL);
    ASSERT_TRUE(strstr(err, "AGORA_PORT") != NULL);
    ASSERT_TRUE(strstr(err, "seven") != NULL);
    reset();
}

static void expect_error(int argc, char **argv, const char *fragment)
{
    int next;
    reset();
    int rc = parse(argc, argv, &next);
    if (rc != -EINVAL)
        AG_TEST_FAIL("%s: expected -EINVAL, got %d", argv[1], rc);
    if (!strstr(err, fragment))
        AG_TEST_FAIL("%s: error \"%s\" lacks \"%s\"", argv[1], err, fragment);
}

TEST(errors_name_the_flag)
{
    char **a1 = ARGV("prog", "--nope=1");
    expect_error(2, a1, "'--nope'");
    char **a2 = ARGV("prog", "--port=12x");
    expect_error(2, a2, "'--port'");
    char **a3 = ARGV("prog", "--port");
    expect_error(2, a3, "'--port' needs a value");
    char **a4 = ARGV("prog", "--port=99999999999");
    expect_error(2, a4, "99999999999");
    char **a5 = ARGV("prog", "--verbose=maybe");
    expect_error(2, a5, "'--verbose'");
    char **a6 = ARGV("prog", "--timeout=5 secs");
    expect_error(2, a6, "'--timeout'");
    char **a7 = ARGV("prog", "--no-port");
    expect_error(2, a7, "'--no-port'");
    char **a8 = ARGV("prog", "--ratio=nan");
    expect_error(2, a8, "'--ratio'");
    char **a9 = ARGV("prog", "-v");
    expect_error(2, a9, "'-v'");
    char **a10 = ARGV("prog", "--no-verbose=1");
    expect_error(2, a10, "--no-verbose");
    reset();
}

TEST(help)
{
    reset();
    char **argv = ARGV("prog", "--port=1", "--help");
    int next;
    /* The help text goes to stdout; the test checks the return value. */
    ASSERT_EQ(parse(3, argv, &next), 1);
    reset();
}

TEST(value_strings)
{
    reset();
    char *s;
    ASSERT_STREQ(s = ag_flags_value_string(&table[0]), "/default");
    free(s);
    ASSERT_STREQ(s = ag_flags_value_string(&table[1]), "5050");
    free(s);
    ASSERT_STREQ(s = ag_flags_value_string(&table[2]), "0.5");
    free(s);
    ASSERT_STREQ(s = ag_flags_value_string(&table[3]), "false");
    free(s);
    ASSERT_STREQ(s = ag_flags_value_string(&table[4]), "5secs");
    free(s);
}

TEST(duration_parse)
{
    static const struct {
        const char *text;
        double seconds;
    } good[] = {
        {"10", 10},     {"10secs", 10},   {"1.5mins", 90},    {"250ms", 0.25},
        {"2hrs", 7200}, {"1days", 86400}, {"1weeks", 604800}, {"100us", 1e-4},
        {"5ns", 5e-9},  {"0", 0},         {".5secs", 0.5},    {"3.", 3},
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        double s = -1;
        if (ag_duration_parse(good[i].text, &s) != 0)
            AG_TEST_FAIL("'%s' should parse", good[i].text);
        ASSERT_NEAR(s, good[i].seconds, good[i].seconds * 1e-12);
    }
    const char *bad[] = {"",     "secs", "-5secs", "5 secs", "5sec", "5s",    "1e3secs",
                         "0x10", "nan",  "inf",    "5secs ", " 5",   "1.2.3", "."};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        double s = 42;
        if (ag_duration_parse(bad[i], &s) != -EINVAL)
            AG_TEST_FAIL("'%s' should be refused", bad[i]);
        ASSERT_NEAR(s, 42, 0);
    }
}

TEST(duration_format)
{
    static const struct {
        double seconds;
        const char *text;
    } cases[] = {
        {5, "5secs"},     {90, "1.5mins"},     {0.25, "250ms"}, {7200, "2hrs"},
        {86400, "1days"}, {1209600, "2weeks"}, {1e-4, "100us"}, {5e-9, "5ns"},
        {0, "0ns"},       {60, "1mins"},       {-2, "-2secs"},  {0.001, "1ms"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[32];
        ag_duration_format(cases[i].seconds, out, sizeof(out));
        ASSERT_STREQ(out, cases[i].text);
        /* What is formatted parses back (negative durations excepted). */
        double back;
        if (cases[i].seconds >= 0) {
            ASSERT_EQ(ag_duration_parse(out, &back), 0);
            ASSERT_NEAR(back, cases[i].seconds, cases[i].seconds * 1e-9);
        }
    }
}

TEST_MAIN(TEST_CASE(forms), TEST_CASE(environment_fallback), TEST_CASE(errors_name_the_flag),
          TEST_CASE(help), TEST_CASE(value_strings), TEST_CASE(duration_parse),
          TEST_CASE(duration_format))
