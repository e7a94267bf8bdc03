/*
 * sim_base.c: the out-of-line halves of sim_base.h's assertion macros.
 */
#include "sim_base.h"

_Noreturn void sim__assert_fail(const char *expression, const char *file, int line)
{
  fprintf(stderr, "%s:%d: assertion failed: %s\n", file, line, expression);
  fflush(stderr);
  abort();
}

#ifdef SIM_COVERAGE_TEST
/* gcov shows this call's line as hit; the body only keeps it from being elided. */
void sim__testcase_hit(const char *file, int line)
{
  static volatile int hits;
  (void)file;
  (void)line;
  hits++;
}
#endif
