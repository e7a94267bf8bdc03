/*
 * conform_caps_test.c: what each capability of cap-*.json changes, end to
 * end: the catalog scenario with the capability on, and the same scenario
 * with it turned off in memory, both judged by every oracle (docs/capabilities/).
 * Scenario files are read relative to the repository root, where the suites run.
 */
#include "sim_base.h"

#include "conform_run.h"
#include "conform_scenario.h"
#include "sim_check.h"

static void load(const char *path, struct conform_scenario *scenario)
{
  char error[CONFORM_ERROR_BYTES];
  ck_assert_msg(conform_scenario_load(path, scenario, error, sizeof(error)), "%s", error);
}

/* The scenario's capability turned off where its commands turn it on. */
static void cap_off(struct conform_scenario *scenario, enum mig_cap cap)
{
  bool found = false;
  for (uint32_t i = 0; i < scenario->command_count; i++) {
    struct conform_command *command = &scenario->commands[i];
    if (command->kind != CONFORM_COMMAND_SET_CAPABILITIES || !command->caps_given.on[cap]) {
      continue;
    }
    command->caps_state.on[cap] = false;
    found = true;
  }
  ck_assert(found);
  scenario->caps.on[cap] = false;
}

/* Runs path with cap on (twice: determinism) and off; both results, PASS expected on. */
static void run_pair(const char *path, enum mig_cap cap, struct conform_run_result *on,
                     struct conform_run_result *off)
{
  static struct conform_scenario scenario;
  load(path, &scenario);
  conform_check(&scenario, true, NULL, NULL, on);
  ck_assert_msg(on->verdict == CONFORM_PASS, "%s: %s", path, on->failure);
  cap_off(&scenario, cap);
  conform_check(&scenario, false, NULL, NULL, off);
}

START_TEST(conform_caps_xbzrle_sends_fewer_bytes)
{
  /* Goal: XBZRLE on the hot working set sends less than plain pages; method: on vs off. */
  static struct conform_run_result on, off;
  run_pair("conformance/scenarios/cap-xbzrle.json", MIG_CAP_XBZRLE, &on, &off);
  ck_assert_msg(off.verdict == CONFORM_PASS, "%s", off.failure);
  ck_assert(on.stats.xbzrle_on && !off.stats.xbzrle_on);
  ck_assert_uint_gt(on.stats.xbzrle.encoded_count, 0);
  ck_assert_uint_gt(on.stats.xbzrle.cache_miss_count, 0);
  /* Each encoded page saved most of its 4 KiB; the whole run sends under two thirds. */
  ck_assert_uint_gt(on.stats.xbzrle.saved_bytes, on.stats.xbzrle.encoded_count * 2048);
  ck_assert_uint_lt(on.stats.transferred_bytes * 3, off.stats.transferred_bytes * 2);
}
END_TEST

START_TEST(conform_caps_compress_sends_fewer_bytes)
{
  /* Goal: 7.2's compress sends zlib pages, fewer bytes than plain; method: on vs off. */
  static struct conform_run_result on, off;
  run_pair("conformance/scenarios/cap-compress.json", MIG_CAP_COMPRESS, &on, &off);
  /* Plain, 64 MiB of pages at max-bandwidth 1 MiB/s cannot finish within the 60 s bound. */
  ck_assert_int_eq(off.verdict, CONFORM_LIVENESS);
  ck_assert_uint_gt(on.stats.compress.pages, 0);
  ck_assert_uint_eq(off.stats.compress.pages, 0);
  ck_assert_uint_lt(on.stats.compress.compressed_bytes, on.stats.compress.pages * 4096 / 4);
  ck_assert_uint_lt(on.stats.transferred_bytes * 2, off.stats.transferred_bytes);
}
END_TEST

START_TEST(conform_caps_release_ram_frees_source_pages)
{
  /* Goal: release-ram gives sent pages back in postcopy and nothing else changes; method: on
   * vs off, the guest's result equal. */
  static struct conform_run_result on, off;
  run_pair("conformance/scenarios/cap-release-ram.json", MIG_CAP_RELEASE_RAM, &on, &off);
  ck_assert_msg(off.verdict == CONFORM_PASS, "%s", off.failure);
  ck_assert_uint_ne(on.stats.postcopy_start_ns, 0);
  ck_assert_uint_gt(on.stats.released_pages_count, 1000);
  ck_assert_uint_eq(off.stats.released_pages_count, 0);
  ck_assert_uint_eq(on.guest_digest, off.guest_digest);
}
END_TEST

START_TEST(conform_caps_late_block_activate_lets_the_source_back)
{
  /* Goal: a reverted migration's paused destination holds the shared disk without
   * late-block-activate (the invariant oracle names it), not with it; method: on vs off. */
  static struct conform_run_result on, off;
  run_pair("conformance/scenarios/cap-late-block-activate.json", MIG_CAP_LATE_BLOCK_ACTIVATE,
           &on, &off);
  ck_assert(on.reverted && off.reverted);
  ck_assert_int_eq(off.verdict, CONFORM_ORACLE_VIOLATION);
  ck_assert_ptr_nonnull(strstr(off.failure, "write ownership"));
  ck_assert_str_eq(off.failure_at.oracle, "invariant");
}
END_TEST

Suite *conform_caps_suite(void)
{
  Suite *suite = suite_create("conform_caps");
  TCase *pairs = tcase_create("pairs");
  tcase_set_timeout(pairs, 300);
  tcase_add_test(pairs, conform_caps_xbzrle_sends_fewer_bytes);
  tcase_add_test(pairs, conform_caps_compress_sends_fewer_bytes);
  tcase_add_test(pairs, conform_caps_release_ram_frees_source_pages);
  tcase_add_test(pairs, conform_caps_late_block_activate_lets_the_source_back);
  suite_add_tcase(suite, pairs);
  return suite;
}
