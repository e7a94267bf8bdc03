/*
 * sim_base.h: included first by every migsim C file.
 *
 * It pulls in the C library headers the tree uses, defines the assertion
 * macros (always on, STYLE R13), and on the simulated path (sim/, models/,
 * migration/, compiled with SIM_DETERMINISTIC_PATH) poisons the wall clock and
 * libc randomness so a stray call fails to compile (STYLE R14).  System headers
 * must therefore all be included here, before the poison.
 */
#ifndef SIM_BASE_H
#define SIM_BASE_H

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>   /* sim_fiber.c stacks, ram.c huge-page advice */
#include <time.h>
#include <ucontext.h>   /* sim_fiber.c fallback; on aarch64 it declares gettimeofday */

#if defined(SIM_DETERMINISTIC_PATH) && defined(__GNUC__)
#pragma GCC poison time clock_gettime gettimeofday rand srand random drand48 getpid getenv
#endif

/* Reports a failed invariant with its source location and aborts. */
_Noreturn void sim__assert_fail(const char *expression, const char *file, int line);

/* SIM_ASSERT stays on in every variant, release included: a crash is a found bug. */
#define SIM_ASSERT(x) ((x) ? (void)0 : sim__assert_fail(#x, __FILE__, __LINE__))

#ifdef SIM_DEBUG
#define SIM_ASSERT_DEBUG(x) SIM_ASSERT(x)
#else
#define SIM_ASSERT_DEBUG(x) ((void)0)
#endif

/*
 * ALWAYS/NEVER mark defensive branches believed impossible (SQLite's macros).
 * Normally they assert and pass the value through; in the coverage variant they
 * become constants so lcov shows which defensive branches are truly untested.
 */
#ifdef SIM_COVERAGE_TEST
#define ALWAYS(x) (1)
#define NEVER(x) (0)
void sim__testcase_hit(const char *file, int line);
#define TESTCASE(x) \
  do { \
    if (x) sim__testcase_hit(__FILE__, __LINE__); \
  } while (0)
#else
#define ALWAYS(x) ((x) ? 1 : (sim__assert_fail(#x, __FILE__, __LINE__), 0))
#define NEVER(x) ((x) ? (sim__assert_fail("!(" #x ")", __FILE__, __LINE__), 1) : 0)
#define TESTCASE(x) ((void)0)
#endif

#define SIM_ARRAY_COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define SIM_CONTAINER_OF(ptr, type, member) \
  ((type *)(void *)((char *)(ptr) - offsetof(type, member)))
#define SIM_MIN(a, b) ((a) < (b) ? (a) : (b))
#define SIM_MAX(a, b) ((a) > (b) ? (a) : (b))

#define SIM_NS_PER_S UINT64_C(1000000000)
#define SIM_NS_PER_MS UINT64_C(1000000)
#define SIM_NS_PER_US UINT64_C(1000)

#endif /* SIM_BASE_H */
