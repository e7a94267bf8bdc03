/*
 * runner.c: the sim/ test runner; suites in a fixed order.
 */
#include "sim_base.h"

#include "sim_check.h"

Suite *sim_core_suite(void);

int main(int argc, char **argv)
{
  static sim_suite_fn *const suites[] = {sim_core_suite};
  return sim_check_main(argc, argv, suites, SIM_ARRAY_COUNT(suites));
}
