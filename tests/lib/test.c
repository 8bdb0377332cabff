/* The runner behind tests/lib/test.h. */
#include "test.h"

#include <stdbool.h>
#include <stdlib.h>

jmp_buf ag_test_jmp;
const char *ag_test_current;

/* Runs one test; false when an assertion failed (longjmp'd back here). Kept
 * separate so no local of the caller lives across setjmp. */
static bool run_one(const struct ag_test_case *tc)
{
    ag_test_current = tc->name;
    if (setjmp(ag_test_jmp) != 0)
        return false;
    tc->fn();
    return true;
}

int ag_test_run_all(const struct ag_test_case *cases, size_t n)
{
    int passed = 0, failed = 0;
    for (size_t i = 0; i < n; i++) {
        if (run_one(&cases[i])) {
            printf("ok   %s\n", cases[i].name);
            passed++;
        } else {
            printf("FAIL %s\n", cases[i].name);
            failed++;
        }
        fflush(stdout);
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
