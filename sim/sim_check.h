/*
 * sim_check.h: the shared main of the per-folder libcheck runners (STYLE R22).
 *
 * Each folder's runner.c lists its suites in a fixed order and calls
 * sim_check_main.  Options: --tap FILE and --xml FILE write libcheck's TAP or
 * XML report for CI; libcheck's own CK_RUN_SUITE / CK_RUN_CASE environment
 * variables select suites and cases.  Tests run in fork mode with a timeout.
 */
#ifndef SIM_CHECK_H
#define SIM_CHECK_H

#include "sim_base.h"

#include <check.h>
#include <stdarg.h>
#include <stdlib.h>

typedef Suite *sim_suite_fn(void);

/*
 * libcheck has no "skipped" state: a test that cannot run here (no
 * ../shared/corpus, no QEMU) calls SIM_CHECK_SKIP("why", ...) and returns.
 * The skip is printed ("skipped: TEST: why") and appended as "TEST<TAB>why"
 * to the file MIGSIM_SKIP_LOG names, so the test command counts the skips,
 * prints them, and fails when what they wait for is present
 * (harness/test.sh).
 */
#define SIM_CHECK_SKIP(...) sim_check_skip(__func__, __VA_ARGS__)

#ifdef __GNUC__
__attribute__((format(printf, 2, 3)))
#endif
static inline void sim_check_skip(const char *test, const char *format, ...)
{
  char why[512];
  va_list args;
  va_start(args, format);
  vsnprintf(why, sizeof why, format, args);
  va_end(args);
  fprintf(stderr, "skipped: %s: %s\n", test, why);
  const char *log_path = getenv("MIGSIM_SKIP_LOG");
  FILE *log = log_path != NULL && log_path[0] != 0 ? fopen(log_path, "a") : NULL;
  if (log != NULL) {
    fprintf(log, "%s\t%s\n", test, why);
    fclose(log);
  }
}

static inline int sim_check_main(int argc, char **argv, sim_suite_fn *const *suites,
                                 size_t suite_count)
{
  const char *tap_path = NULL;
  const char *xml_path = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--tap") == 0 && i + 1 < argc) {
      tap_path = argv[++i];
    } else if (strcmp(argv[i], "--xml") == 0 && i + 1 < argc) {
      xml_path = argv[++i];
    } else {
      fprintf(stderr, "usage: %s [--tap FILE] [--xml FILE]\n", argv[0]);
      return 2;
    }
  }
  SRunner *runner = srunner_create(NULL);
  for (size_t i = 0; i < suite_count; i++) srunner_add_suite(runner, suites[i]());
  srunner_set_fork_status(runner, CK_FORK);
  if (tap_path != NULL) srunner_set_tap(runner, tap_path);
  if (xml_path != NULL) srunner_set_xml(runner, xml_path);
  srunner_run_all(runner, CK_NORMAL);
  int failed = srunner_ntests_failed(runner);
  srunner_free(runner);
  return failed == 0 ? 0 : 1;
}

#endif /* SIM_CHECK_H */
