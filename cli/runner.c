/*
 * runner.c: the cli/ test runner; suites in a fixed order.
 */
#include "sim_base.h"

#include "sim_check.h"

Suite *cli_args_suite(void);
Suite *cli_run_suite(void);
Suite *cli_inspect_suite(void);
Suite *cli_sink_suite(void);
Suite *cli_analyze_suite(void);
Suite *cli_block_suite(void);
Suite *cli_vmsd_suite(void);
Suite *cli_proxy_suite(void);
Suite *cli_matrix_suite(void);
Suite *cli_shrink_suite(void);
Suite *cli_destcheck_suite(void);

int main(int argc, char **argv)
{
  static sim_suite_fn *const suites[] = {cli_args_suite, cli_run_suite, cli_inspect_suite,
                                         cli_sink_suite, cli_analyze_suite,
                                         cli_block_suite, cli_vmsd_suite,
                                         cli_proxy_suite, cli_matrix_suite,
                                         cli_shrink_suite, cli_destcheck_suite};
  return sim_check_main(argc, argv, suites, SIM_ARRAY_COUNT(suites));
}
