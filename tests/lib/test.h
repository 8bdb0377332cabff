/*
 * test: a tiny unit-test harness. Each test file defines TEST(name)
 * functions and ends with TEST_MAIN(...) listing them; the executable runs
 * them all, prints one line per test and "N passed, N failed", and exits
 * non-zero on any failure. ASSERT_* print both sides on failure and end the
 * current test.
 */
#ifndef AG_TEST_H
#define AG_TEST_H

#include <inttypes.h>
#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

extern jmp_buf ag_test_jmp;
extern const char *ag_test_current;

#define TEST(name) static void test_##name(void)

#define AG_TEST_FAIL(...)                                                                          \
    do {                                                                                           \
        fprintf(stderr, "  %s:%d: ", __FILE__, __LINE__);                                          \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fprintf(stderr, "\n");                                                                     \
        longjmp(ag_test_jmp, 1);                                                                   \
    } while (0)

#define ASSERT_TRUE(c)                                                                             \
    do {                                                                                           \
        if (!(c))                                                                                  \
            AG_TEST_FAIL("expected true: %s", #c);                                                 \
    } while (0)
#define ASSERT_FALSE(c)                                                                            \
    do {                                                                                           \
        if (c)                                                                                     \
            AG_TEST_FAIL("expected false: %s", #c);                                                \
    } while (0)
#define ASSERT_EQ(a, b)                                                                            \
    do {                                                                                           \
        long long ag_a_ = (long long)(a), ag_b_ = (long long)(b);                                  \
        if (ag_a_ != ag_b_)                                                                        \
            AG_TEST_FAIL("%s == %s: %lld != %lld", #a, #b, ag_a_, ag_b_);                          \
    } while (0)
#define ASSERT_NE(a, b)                                                                            \
    do {                                                                                           \
        long long ag_a_ = (long long)(a), ag_b_ = (long long)(b);                                  \
        if (ag_a_ == ag_b_)                                                                        \
            AG_TEST_FAIL("%s != %s: both %lld", #a, #b, ag_a_);                                    \
    } while (0)
#define ASSERT_NEAR(a, b, eps)                                                                     \
    do {                                                                                           \
        double ag_a_ = (a), ag_b_ = (b);                                                           \
        if (fabs(ag_a_ - ag_b_) > (eps))                                                           \
            AG_TEST_FAIL("%s ~= %s: %g != %g", #a, #b, ag_a_, ag_b_);                              \
    } while (0)
#define ASSERT_STREQ(a, b)                                                                         \
    do {                                                                                           \
        const char *ag_a_ = (a), *ag_b_ = (b);                                                     \
        if (!ag_a_ || !ag_b_ || strcmp(ag_a_, ag_b_) != 0)                                         \
            AG_TEST_FAIL("%s == %s: \"%s\" != \"%s\"", #a, #b, ag_a_ ? ag_a_ : "(null)",           \
                         ag_b_ ? ag_b_ : "(null)");                                                \
    } while (0)
#define ASSERT_NULL(p)                                                                             \
    do {                                                                                           \
        if ((p) != NULL)                                                                           \
            AG_TEST_FAIL("expected NULL: %s", #p);                                                 \
    } while (0)
#define ASSERT_NOT_NULL(p)                                                                         \
    do {                                                                                           \
        if ((p) == NULL)                                                                           \
            AG_TEST_FAIL("expected non-NULL: %s", #p);                                             \
    } while (0)

struct ag_test_case {
    const char *name;
    void (*fn)(void);
};

int ag_test_run_all(const struct ag_test_case *cases, size_t n);

#define TEST_CASE(name)                                                                            \
    {                                                                                              \
#name, test_##name                                                                         \
    }
#define TEST_MAIN(...)                                                                             \
    int main(void)                                                                                 \
    {                                                                                              \
        static const struct ag_test_case cases[] = {__VA_ARGS__};                                  \
        return ag_test_run_all(cases, sizeof(cases) / sizeof(cases[0]));                           \
    }

#endif
