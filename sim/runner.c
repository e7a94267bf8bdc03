/*
 * runner.c: the sim/ test runner; suites in a fixed order.
 */
#include "sim_base.h"

#include "sim_check.h"

Suite *sim_arena_suite(void);
Suite *sim_fiber_suite(void);
Suite *sim_link_suite(void);
Suite *sim_prng_suite(void);
Suite *sim_queue_suite(void);
Suite *sim_suite(void);
Suite *sim_transport_suite(void);

int main(int argc, char **argv)
{
  /* Bottom-up: the pieces first, then what is built from them. */
  static sim_suite_fn *const suites[] = {
      sim_arena_suite, sim_prng_suite, sim_queue_suite, sim_suite, sim_link_suite,
      sim_fiber_suite, sim_transport_suite,
  };
  return sim_check_main(argc, argv, suites, SIM_ARRAY_COUNT(suites));
}
