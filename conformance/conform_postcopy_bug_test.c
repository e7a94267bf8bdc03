/*
 * conform_postcopy_bug_test.c: a binary of its own, linked with the
 * mig_postcopy.c built with -DMIG_POSTCOPY_PLANTED_BUG (each DISCARD command
 * loses its last range; configure.py).  Whole catalog runs must catch it:
 * the exactly-once oracle names the re-dirtied page that was not discarded,
 * on the scenario's seed and on more seeds.
 */
#include "sim_base.h"

#include "conform_run.h"
#include "conform_scenario.h"
#include "sim_check.h"

/*
 * Goal: the planted discard bug fails a run, by the exactly-once oracle with
 * the page and block named; method: postcopy-after-precopy at three seeds.
 */
START_TEST(conform_postcopy_planted_bug_caught_in_a_run)
{
  static struct conform_scenario scenario;
  static struct conform_run_result result;
  char error[CONFORM_ERROR_BYTES];
  ck_assert_msg(conform_scenario_load("conformance/scenarios/postcopy-after-precopy.json",
                                      &scenario, error, sizeof(error)), "%s", error);
  for (uint64_t seed = 31; seed < 34; seed++) {
    scenario.seed = seed;
    conform_check(&scenario, false, NULL, NULL, &result);
    ck_assert_msg(result.verdict == CONFORM_ORACLE_VIOLATION, "seed %" PRIu64 ": %s: %s", seed,
                  conform_verdict_name(result.verdict), result.failure);
    ck_assert_str_eq(result.failure_at.oracle, "exactly-once");
    ck_assert_msg(strncmp(result.failure_at.path, "ram/", 4) == 0, "%s", result.failure_at.path);
    ck_assert_msg(strstr(result.failure, "applied twice") != NULL ||
                  strstr(result.failure, "never received") != NULL, "%s", result.failure);
    conform_run_result_deinit(&result);
  }
}
END_TEST

static Suite *conform_postcopy_bug_suite(void)
{
  Suite *suite = suite_create("conform_postcopy_bug");
  TCase *core = tcase_create("core");
  tcase_set_timeout(core, 300);
  tcase_add_test(core, conform_postcopy_planted_bug_caught_in_a_run);
  suite_add_tcase(suite, core);
  return suite;
}

int main(int argc, char **argv)
{
  static sim_suite_fn *const suites[] = {conform_postcopy_bug_suite};
  return sim_check_main(argc, argv, suites, SIM_ARRAY_COUNT(suites));
}
