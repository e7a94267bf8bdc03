/*
 * mig_postcopy_bug_test.c: a test binary of its own, linked with
 * mig_postcopy.c built with -DMIG_POSTCOPY_PLANTED_BUG (every DISCARD command
 * loses its last range; configure.py).  The exactly-once checker must catch
 * it: a page the source re-dirtied after precopy sent it, left undiscarded,
 * arrives a second time in postcopy and the load fails naming it.
 */
#include "sim_base.h"

#include "mig_postcopy_test_inl.h"

START_TEST(mig_postcopy_planted_discard_bug_caught)
{
  /* The 12th range of pc.ram (page 0x50, re-dirtied) is not discarded: "applied twice". */
  struct fixture f;
  fixture_init(&f);
  write_stream(&f, 150, FLAW_NONE);
  struct mig_error error;
  ck_assert_int_eq(load_stream(&f, &error), MIG_ERR_RAM_ORDER);
  ck_assert_str_eq(error.path, "ram/pc.ram");
  ck_assert_msg(strstr(error.detail, "0x50 applied twice") != NULL, "%s", error.detail);
  fixture_deinit(&f);
}
END_TEST

static Suite *mig_postcopy_bug_suite(void)
{
  Suite *suite = suite_create("mig_postcopy_bug");
  TCase *core = tcase_create("core");
  tcase_add_test(core, mig_postcopy_planted_discard_bug_caught);
  suite_add_tcase(suite, core);
  return suite;
}

int main(int argc, char **argv)
{
  static sim_suite_fn *const suites[] = {mig_postcopy_bug_suite};
  return sim_check_main(argc, argv, suites, SIM_ARRAY_COUNT(suites));
}
