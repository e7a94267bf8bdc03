/*
 * conform_faults_test.c: fault plans in scenarios (conform_faults.h,
 * docs/faults.md): what each kind does to a run and what the checkers then
 * expect (crashes, a revert, a partition healed and retried, cancel in each
 * state, return-path loss, a slow destination), swarm plans as a function
 * of the seed, BUGGIFY in a run, and the switchover-ack quirk caught as a
 * liveness failure.
 */
#include "sim_base.h"

#include "conform_faults.h"
#include "conform_run.h"
#include "conform_scenario.h"
#include "conform_shrink.h"
#include "sim_check.h"

#include <jansson.h>

/* A 1 MiB guest with a testdev, migrated at 100 ms; faults is the "faults" member. */
static void scenario_with(const char *faults, const char *caps, struct conform_scenario *out)
{
  static char text[8192];
  snprintf(text, sizeof text,
           "{\"seed\": 3, \"limits\": {\"events_max\": 5000000, \"time_ns_max\": 30000000000},\n"
           "\"machine\": {\"type\": \"migsim-1.0\",\n"
           "  \"ram\": [{\"name\": \"pc.ram\", \"bytes\": 1048576}],\n"
           "  \"devices\": [{\"driver\": \"testdev\", \"addr\": \"00:03.0\"}]},\n"
           "\"workload\": {\"pages_per_s\": 400, \"duration_ns\": 1500000000, "
           "\"fill_pages\": 64, \"device_every\": 4},\n"
           "\"link\": {\"bandwidth_bytes_per_s\": 8388608, \"latency_ns\": 100000,\n"
           "  \"window_bytes\": 65536, \"packet_bytes\": 8192},\n"
           "\"migration\": {\"section_pages\": 32},\n"
           "\"faults\": %s,\n"
           "\"commands\": [%s\n"
           "  {\"at_ns\": 0, \"execute\": \"migrate-set-parameters\",\n"
           "   \"arguments\": {\"downtime-limit\": 20, \"max-bandwidth\": 8388608}},\n"
           "  {\"at_ns\": 100000000, \"execute\": \"migrate\", \"arguments\": {\"uri\": "
           "\"sim:l\"}}]}\n",
           faults, caps);
  char error[CONFORM_ERROR_BYTES];
  ck_assert_msg(conform_scenario_parse(text, strlen(text), "f.json", out, error, sizeof error),
                "%s", error);
}

#define RP_CAPS "{\"at_ns\": 0, \"execute\": \"migrate-set-capabilities\", \"arguments\": " \
                "{\"capabilities\": [{\"capability\": \"return-path\", \"state\": true}]}},"

static void check(const struct conform_scenario *scenario, struct conform_run_result *result)
{
  conform_check(scenario, false, NULL, NULL, result);
}

START_TEST(conform_faults_source_crash_mid_stream_loses_guest)
{
  /* Goal: the source dies mid-stream: guest lost, PASS, the destination never runs. */
  static struct conform_scenario scenario;
  static struct conform_run_result result;
  scenario_with("{\"plan\": [{\"kind\": \"source-crash\", \"at\": {\"sections\": 3}}]}", "",
                &scenario);
  check(&scenario, &result);
  ck_assert_msg(result.verdict == CONFORM_PASS, "%s", result.failure);
  ck_assert(result.guest_lost && result.stats.source_crashed);
  ck_assert(result.stats.status != MIG_STATE_COMPLETED);
  ck_assert_uint_eq(result.faults_fired.fired_count, 1);
  ck_assert_ptr_nonnull(strstr(result.failure, "guest lost"));
  conform_run_result_deinit(&result);
}
END_TEST

START_TEST(conform_faults_dest_crash_source_runs_on)
{
  /* Goal: the destination dies while loading: clean failure, the source finishes as unmigrated. */
  static struct conform_scenario scenario;
  static struct conform_run_result result;
  scenario_with("{\"plan\": [{\"kind\": \"dest-crash\", \"at\": {\"pages\": 100}}]}", "",
                &scenario);
  check(&scenario, &result);
  ck_assert_msg(result.verdict == CONFORM_PASS, "%s", result.failure);
  ck_assert(result.stats.dest_crashed && result.stats.dest_refused && !result.guest_lost);
  ck_assert_uint_eq(result.guest_digest, result.reference_guest_digest);
  conform_run_result_deinit(&result);
}
END_TEST

START_TEST(conform_faults_dest_crash_while_paused)
{
  /*
   * Goal: with pause-before-switchover, the destination dies while the
   * source waits in pre-switchover for a migrate-continue that never comes:
   * the source stops waiting, fails cleanly and runs on (it used to poll for
   * ever: LIVENESS).
   */
  static struct conform_scenario scenario;
  static struct conform_run_result result;
  scenario_with("{\"plan\": [{\"kind\": \"dest-crash\", \"at\": {\"state\": "
                "\"pre-switchover\", \"after_ns\": 1000000}}]}",
                "{\"at_ns\": 0, \"execute\": \"migrate-set-capabilities\", \"arguments\": "
                "{\"capabilities\": [{\"capability\": \"pause-before-switchover\", "
                "\"state\": true}]}},", &scenario);
  check(&scenario, &result);
  ck_assert_msg(result.verdict == CONFORM_PASS, "%s", result.failure);
  ck_assert(result.stats.dest_crashed && result.stats.pre_switchover_ns != 0);
  ck_assert_int_eq(result.stats.status, MIG_STATE_FAILED);
  ck_assert_uint_eq(result.guest_digest, result.reference_guest_digest);
  conform_run_result_deinit(&result);
}
END_TEST

START_TEST(conform_faults_revert_after_completion)
{
  /* Goal: management reverts once the destination loaded: it never runs, the source goes on. */
  static struct conform_scenario scenario;
  static struct conform_run_result result;
  scenario_with("{\"plan\": [{\"kind\": \"revert\"}]}", "", &scenario);
  check(&scenario, &result);
  ck_assert_msg(result.verdict == CONFORM_PASS, "%s", result.failure);
  ck_assert(result.reverted && result.stats.status == MIG_STATE_COMPLETED);
  ck_assert_uint_eq(result.guest_digest, result.reference_guest_digest);
  conform_run_result_deinit(&result);
}
END_TEST

START_TEST(conform_faults_partition_heals_then_completes)
{
  /*
   * Goal: a partition on the raw link resets the migration connection: the
   * destination reads nothing more and refuses (a clean failure), and after
   * heal_ns the retry completes within the bound; a bound shorter than the
   * retry needs is a LIVENESS failure.
   */
  static struct conform_scenario scenario;
  static struct conform_run_result result;
  scenario_with("{\"plan\": [{\"kind\": \"partition\", \"at\": {\"sections\": 2}}],"
                " \"heal_ns\": 400000000}", "", &scenario);
  check(&scenario, &result);
  ck_assert_msg(result.verdict == CONFORM_PASS, "%s", result.failure);
  ck_assert(result.faults_fired.damaging && result.stats.status == MIG_STATE_COMPLETED);
  ck_assert_uint_ge(result.stats.start_ns, 400000000);
  ck_assert_uint_eq(result.guest_digest, result.reference_guest_digest);
  conform_run_result_deinit(&result);
  scenario.faults.liveness_ns = 1000; /* 1 us: no migration completes that fast */
  check(&scenario, &result);
  ck_assert_int_eq(result.verdict, CONFORM_LIVENESS);
  ck_assert_str_eq(result.failure_at.oracle, "liveness");
  ck_assert_ptr_nonnull(strstr(result.failure, "of the faults healing at 400 ms"));
  conform_run_result_deinit(&result);
}
END_TEST

START_TEST(conform_faults_raw_partition_is_a_reset)
{
  /*
   * Goal: on the raw sim: link a partition is a connection reset, not lost
   * bytes: forward, the source's next write fails (EIO) and the attempt
   * fails at once; to-source with a return path, the return path breaks.
   * Both are clean and the retry after heal_ns completes.
   */
  static const char *const directions[] = {"to-destination", "to-source"};
  static struct conform_scenario scenario;
  static struct conform_run_result result;
  char faults[256];
  snprintf(faults, sizeof faults, "{\"plan\": [{\"kind\": \"partition\", \"direction\": "
           "\"%s\", \"at\": {\"sections\": 2}}], \"heal_ns\": 400000000}", directions[_i]);
  scenario_with(faults, RP_CAPS, &scenario);
  check(&scenario, &result);
  ck_assert_msg(result.verdict == CONFORM_PASS, "%s", result.failure);
  ck_assert_uint_eq(result.failed_attempts_count, 1);
  ck_assert_int_eq(result.first_error.code, MIG_ERR_IO);
  if (_i == 1) ck_assert_str_eq(result.first_error.path, "return-path");
  ck_assert(result.first_error.offset < result.stats.transferred_bytes);
  ck_assert(result.stats.status == MIG_STATE_COMPLETED && result.stats.start_ns >= 400000000);
  ck_assert_uint_eq(result.guest_digest, result.reference_guest_digest);
  conform_run_result_deinit(&result);
}
END_TEST

START_TEST(conform_faults_cancel_in_each_state)
{
  /* Goal: migrate-cancel on entering setup, active and device: cancelled or too late, clean. */
  static const char *const states[] = {"setup", "active", "device"};
  static struct conform_scenario scenario;
  static struct conform_run_result result;
  char faults[256];
  snprintf(faults, sizeof faults, "{\"plan\": [{\"kind\": \"cancel\", \"at\": {\"state\": "
           "\"%s\"}}]}", states[_i]);
  scenario_with(faults, "", &scenario);
  check(&scenario, &result);
  ck_assert_msg(result.verdict == CONFORM_PASS, "%s: %s", states[_i], result.failure);
  /* In device the stream may be whole before the cancel runs: then it is too late (QEMU too). */
  bool too_late = _i == 2 && result.stats.status == MIG_STATE_COMPLETED;
  ck_assert_msg(result.stats.status == MIG_STATE_CANCELLED || too_late, "%s: %s", states[_i],
                mig_state_name(result.stats.status));
  ck_assert_uint_eq(result.guest_digest, result.reference_guest_digest);
  conform_run_result_deinit(&result);
}
END_TEST

START_TEST(conform_faults_rp_loss_fails_then_retries)
{
  /*
   * Goal: the return path loses every message (the PONG): the source fails
   * after its 5 s wait, cleanly; healed at 6 s, the retry completes.
   */
  static struct conform_scenario scenario;
  static struct conform_run_result result;
  scenario_with("{\"plan\": [{\"kind\": \"rp-loss\", \"at\": {\"ns\": 0}}], "
                "\"heal_ns\": 6000000000}", RP_CAPS, &scenario);
  check(&scenario, &result);
  ck_assert_msg(result.verdict == CONFORM_PASS, "%s", result.failure);
  ck_assert_uint_eq(result.failed_attempts_count, 1);
  ck_assert_str_eq(result.first_error.path, "return-path/PONG");
  ck_assert(result.stats.status == MIG_STATE_COMPLETED && result.stats.pong_ns > 6000000000);
  conform_run_result_deinit(&result);
}
END_TEST

START_TEST(conform_faults_slow_load_delays_resume)
{
  /* Goal: a slow destination (200 ms more) stretches the downtime by about that, and passes. */
  static struct conform_scenario scenario;
  static struct conform_run_result result;
  scenario_with("{\"plan\": [{\"kind\": \"dest-slow-load\", \"at\": {\"state\": \"device\"}, "
                "\"delay_ns\": 200000000}]}", "", &scenario);
  check(&scenario, &result);
  ck_assert_msg(result.verdict == CONFORM_PASS, "%s", result.failure);
  ck_assert_uint_ge(result.stats.end_ns - result.stats.stop_ns, 200000000);
  ck_assert(result.faults_fired.slow);
  conform_run_result_deinit(&result);
}
END_TEST

START_TEST(conform_faults_swarm_is_the_seeds)
{
  /*
   * Goal: swarm plans are a function of the seed (same seed, same plan;
   * seeds differ in kinds), every kind appears over 200 seeds, and a drawn
   * plan written as scenario JSON parses back to the same faults.
   */
  static struct conform_scenario scenario;
  static struct conform_plan a, b, back;
  scenario_with("{\"swarm\": true}", "", &scenario);
  uint32_t kinds_seen = 0, plans_differ = 0;
  for (uint64_t seed = 1; seed <= 200; seed++) {
    scenario.seed = seed;
    conform_faults_swarm(&scenario, &a);
    conform_faults_swarm(&scenario, &b);
    ck_assert_mem_eq(&a, &b, sizeof a);
    ck_assert(!a.swarm && a.has_heal);
    for (uint32_t i = 0; i < a.fault_count; i++) kinds_seen |= UINT32_C(1) << a.faults[i].kind;
    scenario.seed = seed + 1000;
    conform_faults_swarm(&scenario, &b);
    plans_differ += a.fault_count != b.fault_count ||
                    (a.fault_count > 0 && a.faults[0].kind != b.faults[0].kind);
    json_t *root = json_object();
    json_object_set_new(root, "faults", conform_plan_scenario_json(&a));
    char *text = json_dumps(root, JSON_INDENT(1));
    char error[1024];
    ck_assert_msg(conform_plan_parse_scenario(text, strlen(text), "s", root, &back, error,
                                              sizeof error), "%s", error);
    ck_assert_uint_eq(back.fault_count, a.fault_count);
    for (uint32_t i = 0; i < a.fault_count; i++) {
      a.faults[i].line = back.faults[i].line;
      ck_assert_mem_eq(&a.faults[i], &back.faults[i], sizeof a.faults[i]);
    }
    ck_assert(back.heal_ns == a.heal_ns && back.buggify == a.buggify);
    free(text);
    json_decref(root);
  }
  for (uint32_t k = CONFORM_PLAN_SIM_FIRST; k < CONFORM_PLAN_KIND_COUNT; k++) {
    bool drawn = k != CONFORM_PLAN_MULTIFD_FAIL && k != CONFORM_PLAN_DISK_FULL;
    ck_assert_msg(((kinds_seen >> k) & 1) == drawn, "kind %s", conform_plan_kind_name(k));
  }
  ck_assert_uint_gt(plans_differ, 100);
}
END_TEST

START_TEST(conform_faults_buggify_fires_and_passes)
{
  /* Goal: with buggify on, points fire in the migrated run (traced) and the seed still passes. */
  static struct conform_scenario scenario;
  static struct conform_run_result result;
  scenario_with("{\"buggify\": true}", "", &scenario);
  uint32_t runs_fired = 0;
  for (uint64_t seed = 1; seed <= 20; seed++) {
    scenario.seed = seed;
    FILE *trace = tmpfile();
    ck_assert_ptr_nonnull(trace);
    conform_check(&scenario, false, trace, NULL, &result);
    ck_assert_msg(result.verdict == CONFORM_PASS, "seed %" PRIu64 ": %s", seed, result.failure);
    rewind(trace);
    char line[256];
    bool fired = false;
    while (!fired && fgets(line, sizeof line, trace) != NULL) fired = strstr(line, "sim.buggify");
    runs_fired += fired;
    fclose(trace);
    conform_run_result_deinit(&result);
  }
  ck_assert_uint_ge(runs_fired, 3);
}
END_TEST

START_TEST(conform_faults_serialize_iterate_quirk_is_liveness)
{
  /*
   * Goal: QEMU <8.1's serialized iterate starves the vfiodev while RAM stays
   * dirty, so with switchover-ack the migration cannot converge: LIVENESS
   * against the scenario's bound; the same scenario without the quirk passes.
   */
  static struct conform_scenario scenario;
  static struct conform_run_result result;
  char error[CONFORM_ERROR_BYTES];
  ck_assert_msg(conform_scenario_load("conformance/scenarios/vfio-ack-serialize.json", &scenario,
                                      error, sizeof error), "%s", error);
  check(&scenario, &result);
  ck_assert_int_eq(result.verdict, CONFORM_LIVENESS);
  ck_assert_str_eq(result.failure_at.oracle, "liveness");
  ck_assert_uint_gt(result.stats.ack_waits_count, 100);
  conform_run_result_deinit(&result);
  scenario.quirk_serialize_iterate = false;
  check(&scenario, &result);
  ck_assert_msg(result.verdict == CONFORM_PASS, "%s", result.failure);
  ck_assert_uint_lt(result.stats.end_ns, 1000000000);
  conform_run_result_deinit(&result);
}
END_TEST

START_TEST(conform_faults_shrink_keeps_the_cause)
{
  /*
   * Goal: a seed failing for a device bug (testdev lossy-extra: transparency)
   * under three unrelated faults and BUGGIFY shrinks to no fault, BUGGIFY
   * off, the buggy device kept, less RAM; the result replays as recorded.
   */
  static const char text[] =
      "{\"seed\": 5, \"limits\": {\"events_max\": 5000000, \"time_ns_max\": 30000000000},\n"
      "\"machine\": {\"type\": \"migsim-1.0\",\n"
      "  \"ram\": [{\"name\": \"pc.ram\", \"bytes\": 2097152}],\n"
      "  \"devices\": [{\"driver\": \"testdev\", \"addr\": \"00:03.0\", "
      "\"quirks\": [\"lossy-extra\"]}]},\n"
      "\"workload\": {\"pages_per_s\": 400, \"duration_ns\": 2000000000, "
      "\"fill_pages\": 64, \"device_every\": 2},\n"
      "\"link\": {\"bandwidth_bytes_per_s\": 8388608, \"latency_ns\": 100000,\n"
      "  \"window_bytes\": 65536, \"packet_bytes\": 8192},\n"
      "\"faults\": {\"buggify\": true, \"heal_ns\": 900000000, \"plan\": [\n"
      "  {\"kind\": \"bandwidth\", \"at\": {\"ns\": 150000000}, \"bytes_per_s\": 4194304},\n"
      "  {\"kind\": \"link\", \"at\": {\"sections\": 2}, \"jitter_ns\": 50000},\n"
      "  {\"kind\": \"dest-slow-load\", \"at\": {\"state\": \"device\"}, "
      "\"delay_ns\": 5000000}]},\n"
      "\"commands\": [{\"at_ns\": 100000000, \"execute\": \"migrate\", "
      "\"arguments\": {\"uri\": \"sim:l\"}}]}\n";
  static struct conform_scenario scenario;
  static struct conform_run_result result;
  char error[CONFORM_ERROR_BYTES];
  uint64_t seed = 0;
  for (uint64_t s = 1; s <= 40 && seed == 0; s++) { /* a seed the quirk shows on */
    ck_assert_msg(conform_scenario_parse(text, strlen(text), "q.json", &scenario, error,
                                         sizeof error), "%s", error);
    scenario.seed = s;
    check(&scenario, &result);
    if (result.verdict != CONFORM_PASS) seed = s;
    conform_run_result_deinit(&result);
  }
  ck_assert_uint_ne(seed, 0);
  struct conform_shrink_options options = {.seed = seed};
  struct conform_shrink_result shrunk;
  ck_assert_msg(conform_shrink(text, strlen(text), "q.json", &options, &shrunk, error,
                               sizeof error), "%s", error);
  ck_assert_uint_eq(shrunk.faults_before, 3);
  ck_assert_uint_eq(shrunk.faults_after, 0);
  ck_assert_ptr_null(strstr(shrunk.text, "\"buggify\""));
  ck_assert_ptr_nonnull(strstr(shrunk.text, "lossy-extra"));
  ck_assert_uint_ge(shrunk.edits_kept, 4); /* three faults and buggify at least */
  ck_assert_msg(conform_scenario_parse(shrunk.text, strlen(shrunk.text), "s", &scenario, error,
                                       sizeof error), "%s", error);
  ck_assert_uint_eq(scenario.seed, seed);
  char got[512];
  ck_assert_msg(conform_regress_check(&scenario, got, sizeof got), "%s", got);
  /* The same file recorded as PASS fails the replay (the check can fail). */
  snprintf(scenario.faults.regress.verdict, sizeof scenario.faults.regress.verdict, "PASS");
  ck_assert(!conform_regress_check(&scenario, got, sizeof got));
  conform_shrink_result_deinit(&shrunk);
  /* A passing seed has nothing to shrink. */
  options.seed = 1000000;
  scenario_with("{}", "", &scenario);
  static const char passing[] = "{\"seed\": 1}";
  ck_assert(!conform_shrink(passing, strlen(passing), "p.json", &options, &shrunk, error,
                            sizeof error));
}
END_TEST

Suite *conform_faults_suite(void)
{
  Suite *suite = suite_create("conform_faults");
  TCase *kinds = tcase_create("kinds");
  tcase_set_timeout(kinds, 120);
  tcase_add_test(kinds, conform_faults_source_crash_mid_stream_loses_guest);
  tcase_add_test(kinds, conform_faults_dest_crash_source_runs_on);
  tcase_add_test(kinds, conform_faults_dest_crash_while_paused);
  tcase_add_test(kinds, conform_faults_revert_after_completion);
  tcase_add_test(kinds, conform_faults_partition_heals_then_completes);
  tcase_add_loop_test(kinds, conform_faults_raw_partition_is_a_reset, 0, 2);
  tcase_add_loop_test(kinds, conform_faults_cancel_in_each_state, 0, 3);
  tcase_add_test(kinds, conform_faults_rp_loss_fails_then_retries);
  tcase_add_test(kinds, conform_faults_slow_load_delays_resume);
  suite_add_tcase(suite, kinds);
  TCase *swarm = tcase_create("swarm");
  tcase_set_timeout(swarm, 120);
  tcase_add_test(swarm, conform_faults_swarm_is_the_seeds);
  tcase_add_test(swarm, conform_faults_buggify_fires_and_passes);
  tcase_add_test(swarm, conform_faults_serialize_iterate_quirk_is_liveness);
  tcase_add_test(swarm, conform_faults_shrink_keeps_the_cause);
  suite_add_tcase(suite, swarm);
  return suite;
}
