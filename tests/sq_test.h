/*  =========================================================================
    sq_test - a minimal test framework shared by unit and integration tests

    Each test binary defines test functions, runs them with SQ_RUN, and ends
    with sq_test_summary (), which prints "N passed, N failed" and returns the
    exit code. A failed check aborts the current test function only.
    =========================================================================
*/
#ifndef SQ_TEST_H_INCLUDED
#define SQ_TEST_H_INCLUDED

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>

extern int sq_test_passed;
extern int sq_test_failed;
extern jmp_buf sq_test_jump;
extern const char *sq_test_current;

//  Define the counters once, in the file that holds main ()
#define SQ_TEST_DEFINE \
    int sq_test_passed = 0; \
    int sq_test_failed = 0; \
    jmp_buf sq_test_jump; \
    const char *sq_test_current = "";

#define SQ_CHECK(cond) do { \
    if (!(cond)) { \
        fprintf (stderr, "FAIL %s: %s:%d: %s\n", \
                 sq_test_current, __FILE__, __LINE__, #cond); \
        longjmp (sq_test_jump, 1); \
    } \
} while (0)

#define SQ_CHECK_MSG(cond, ...) do { \
    if (!(cond)) { \
        fprintf (stderr, "FAIL %s: %s:%d: %s: ", \
                 sq_test_current, __FILE__, __LINE__, #cond); \
        fprintf (stderr, __VA_ARGS__); \
        fprintf (stderr, "\n"); \
        longjmp (sq_test_jump, 1); \
    } \
} while (0)

#define SQ_CHECK_EQ(a, b) do { \
    long long sq_a_ = (long long) (a), sq_b_ = (long long) (b); \
    SQ_CHECK_MSG (sq_a_ == sq_b_, "%lld != %lld", sq_a_, sq_b_); \
} while (0)

#define SQ_CHECK_STR(a, b) do { \
    const char *sq_a_ = (a), *sq_b_ = (b); \
    SQ_CHECK_MSG (sq_a_ && sq_b_ && strcmp (sq_a_, sq_b_) == 0, \
                  "\"%s\" != \"%s\"", sq_a_? sq_a_: "(null)", sq_b_? sq_b_: "(null)"); \
} while (0)

//  Run one test function; a failed check lands back here
#define SQ_RUN(fn) do { \
    sq_test_current = #fn; \
    if (setjmp (sq_test_jump) == 0) { \
        fn (); \
        sq_test_passed++; \
        printf ("ok   %s\n", #fn); \
    } \
    else { \
        sq_test_failed++; \
        printf ("FAIL %s\n", #fn); \
    } \
    fflush (stdout); \
} while (0)

static inline int
sq_test_summary (void)
{
    printf ("%d passed, %d failed\n", sq_test_passed, sq_test_failed);
    return sq_test_failed? 1: 0;
}

#endif
