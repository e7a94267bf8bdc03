/*
 * conform_control_test.c: migration control in scenarios: QMP commands,
 * capabilities and parameters with QEMU's refusals, the checks a scenario
 * gets at parse time, cancel in every state, pause-before-switchover, the
 * return path on its own, and the MIGRATION events of the timeline.
 */
#include "sim_base.h"

#include "conform_run.h"
#include "conform_scenario.h"
#include "sim_check.h"
#include "vfiodev.h"

/* A small scenario whose RAM, workload and commands a case replaces. */
static void scenario_text(char *out, size_t out_bytes, const char *ram, const char *workload,
                          const char *commands)
{
  snprintf(out, out_bytes,
           "{\"seed\": 1, \"limits\": {\"events_max\": 1000000, \"time_ns_max\": 1000000000},\n"
           "\"machine\": {\"type\": \"migsim-1.0\", \"ram\": %s},\n"
           "\"workload\": %s,\n"
           "\"link\": {\"bandwidth_bytes_per_s\": 67108864, \"latency_ns\": 0},\n"
           "\"commands\": [\n%s]}\n",
           ram, workload, commands);
}

#define RAM_ONE "[{\"name\": \"pc.ram\", \"bytes\": 1048576}]"
#define WL_IDLE "{\"kind\": \"idle\"}"
#define CAPS(list) "{\"at_ns\": 0, \"execute\": \"migrate-set-capabilities\", " \
                   "\"arguments\": {\"capabilities\": [" list "]}}"
#define CAP(name, state) "{\"capability\": \"" name "\", \"state\": " state "}"
#define MIGRATE(at) "{\"at_ns\": " at ", \"execute\": \"migrate\", " \
                    "\"arguments\": {\"uri\": \"sim:l\"}}"

START_TEST(conform_control_scenario_refusals)
{
  /* Goal: each check refuses at the right line with QEMU's (or migsim's stated) text. */
  static const struct {
    const char *ram, *workload, *commands, *where, *message;
  } cases[] = {
      {RAM_ONE, WL_IDLE, CAPS(CAP("switchover-ack", "true")), "t.json:6:",
       "Capability 'switchover-ack' requires capability 'return-path'"},
      {RAM_ONE, WL_IDLE, CAPS(CAP("xbzrl", "false")), "t.json:6:",
       "Parameter 'capability' does not accept value 'xbzrl'"},
      {RAM_ONE, WL_IDLE, MIGRATE("0") ",\n" CAPS(CAP("return-path", "true")), "t.json:7:",
       "There's a migration process in progress"},
      {RAM_ONE, WL_IDLE, MIGRATE("2000000000"), "t.json:6:",
       "\"migrate\" at 2000000000 ns is after limits.time_ns_max (1000000000 ns)"},
      {RAM_ONE, WL_IDLE, CAPS(CAP("x-ignore-shared", "true")) ",\n" MIGRATE("5"), "t.json:7:",
       "x-ignore-shared needs a shared RAM block"},
      {"[{\"name\": \"a\", \"bytes\": 8192, \"shared\": true, \"gpa\": 0},\n"
       " {\"name\": \"b\", \"bytes\": 8192, \"shared\": true, \"gpa\": 4096}]",
       WL_IDLE, "", "t.json:3:",
       "shared blocks \"a\" and \"b\" overlap in guest-physical memory"},
      {RAM_ONE, "{\"kind\": \"idle\", \"fill_pages\": 257}", "", "t.json:3:",
       "\"fill_pages\" is 257, more than the 256 pages of block \"pc.ram\""},
      {RAM_ONE, WL_IDLE, "{\"at_ns\": 0, \"execute\": \"migrate-set-parameters\", "
       "\"arguments\": {\"compress-level\": 10}}", "t.json:6:",
       "Parameter 'compress_level' expects a value between 0 and 9"},
      {RAM_ONE, WL_IDLE, "{\"at_ns\": 0, \"execute\": \"migrate-set-parameters\", "
       "\"arguments\": {\"max-bandwdth\": 10}}", "t.json:6:", "unknown parameter \"max-bandwdth\""},
      {RAM_ONE, WL_IDLE, "{\"at_ns\": 0, \"execute\": \"migrate-set-parameters\", "
       "\"arguments\": {\"multifd-compression\": \"lz4\"}}", "t.json:6:",
       "\"multifd-compression\" must be \"none\", \"zlib\" or \"zstd\""},
      {RAM_ONE, WL_IDLE, "{\"at_ns\": 0, \"execute\": \"migrate-continue\", "
       "\"arguments\": {\"state\": \"pre-switchover\"}}", "t.json:6:",
       "migrate-continue needs pause-before-switchover"},
      {RAM_ONE, WL_IDLE, "{\"at_ns\": 0, \"execute\": \"migrate-start-postcopy\"}", "t.json:6:",
       "Enable postcopy with migrate_set_capability before the start of migration"},
      {RAM_ONE, WL_IDLE, "{\"at_ns\": 0, \"execute\": \"migrate\", \"arguments\": {\"uri\": "
       "\"ftp:x\"}}", "t.json:6:", "\"uri\" must be sim:, tcp:, unix:, exec:, fd:, file: or"},
      {RAM_ONE, WL_IDLE, "{\"at_ns\": 0, \"execute\": \"migrate-incoming\", \"arguments\": "
       "{\"uri\": \"tcp:0:4444\"}},\n" MIGRATE("5"), "t.json:7:",
       "\"uri\" \"sim:l\" is not where the destination listens (\"tcp:0:4444\""},
      {RAM_ONE, WL_IDLE, "{\"at_ns\": 0, \"execute\": \"migrate-pauze\"}", "t.json:6:",
       "unknown command \"migrate-pauze\""},
  };
  for (size_t i = 0; i < SIM_ARRAY_COUNT(cases); i++) {
    char text[2048], error[CONFORM_ERROR_BYTES];
    scenario_text(text, sizeof(text), cases[i].ram, cases[i].workload, cases[i].commands);
    static struct conform_scenario scenario;
    bool ok = conform_scenario_parse(text, strlen(text), "t.json", &scenario, error,
                                     sizeof(error));
    ck_assert_msg(!ok, "case %zu parsed", i);
    ck_assert_msg(strncmp(error, cases[i].where, strlen(cases[i].where)) == 0 &&
                      strstr(error, cases[i].message) != NULL,
                  "case %zu: want %s %s, got %s", i, cases[i].where, cases[i].message, error);
  }
}
END_TEST

static void load(const char *path, struct conform_scenario *scenario)
{
  char error[CONFORM_ERROR_BYTES];
  ck_assert_msg(conform_scenario_load(path, scenario, error, sizeof(error)), "%s", error);
}

static uint32_t timeline_find(const struct conform_run_result *result, const char *what,
                              const char *detail, uint64_t value)
{
  uint32_t count = 0;
  for (uint32_t i = 0; i < result->timeline_count; i++) {
    const struct conform_timeline_entry *entry = &result->timeline[i];
    if (strcmp(entry->what, what) != 0) continue;
    if (value != UINT64_MAX && entry->value != value) continue; /* UINT64_MAX: any value */
    if (detail != NULL && (entry->detail == NULL || strcmp(entry->detail, detail) != 0)) continue;
    count++;
  }
  return count;
}

static const char *const cancel_files[] = {
    "conformance/scenarios/cancel-setup.json", "conformance/scenarios/cancel-active.json",
    "conformance/scenarios/cancel-pre-switchover.json",
    "conformance/scenarios/cancel-device.json"};
static const char *const cancel_states[] = {"setup", "active", "pre-switchover", "device"};

START_TEST(conform_control_cancel_in_each_state)
{
  /* Goal: cancel in setup/active/pre-switchover/device ends cancelled; the source is intact. */
  static struct conform_scenario scenario;
  load(cancel_files[_i], &scenario);
  static struct conform_run_result result;
  conform_check(&scenario, true, NULL, NULL, &result);
  ck_assert_msg(result.verdict == CONFORM_PASS, "%s: %s", cancel_files[_i], result.failure);
  ck_assert_int_eq(result.stats.status, MIG_STATE_CANCELLED);
  ck_assert_int_eq(result.stats.dest_status, MIG_STATE_FAILED); /* it never ran */
  ck_assert_int_eq(result.stats.error.code, MIG_ERR_CANCELLED);
  char detail[64];
  snprintf(detail, sizeof(detail), "migrate-cancel in state %s", cancel_states[_i]);
  ck_assert_str_eq(result.stats.error.detail, detail);
  ck_assert_uint_eq(result.guest_digest, result.reference_guest_digest);
  ck_assert_uint_eq(timeline_find(&result, "MIGRATION", "cancelling", 0), 1);
  ck_assert_uint_eq(timeline_find(&result, "MIGRATION", "cancelled", 0), 1);
  ck_assert_uint_eq(timeline_find(&result, "MIGRATION", cancel_states[_i], 0), 1);
  conform_run_result_deinit(&result);
}
END_TEST

START_TEST(conform_control_cancel_after_completion_is_a_no_op)
{
  /* Goal: migrate-cancel once the migration completed changes nothing. */
  static struct conform_scenario scenario;
  load("conformance/scenarios/cancel-completed.json", &scenario);
  static struct conform_run_result result;
  conform_check(&scenario, false, NULL, NULL, &result);
  ck_assert_msg(result.verdict == CONFORM_PASS, "%s", result.failure);
  ck_assert_int_eq(result.stats.status, MIG_STATE_COMPLETED);
  ck_assert_uint_eq(timeline_find(&result, "cancel-no-op", NULL, 0), 1);
  conform_run_result_deinit(&result);
}
END_TEST

START_TEST(conform_control_pause_before_switchover)
{
  /* Goal: the source waits in pre-switchover, stopped, until migrate-continue at 600 ms. */
  static struct conform_scenario scenario;
  load("conformance/scenarios/cap-pause-before-switchover.json", &scenario);
  static struct conform_run_result result;
  conform_check(&scenario, false, NULL, NULL, &result);
  ck_assert_msg(result.verdict == CONFORM_PASS, "%s", result.failure);
  const struct mig_precopy_stats *stats = &result.stats;
  ck_assert_int_eq(stats->status, MIG_STATE_COMPLETED);
  ck_assert_uint_gt(stats->pre_switchover_ns, stats->start_ns);
  ck_assert_uint_eq(stats->pre_switchover_ns, stats->stop_ns);
  ck_assert_uint_eq(stats->continue_ns, 600 * SIM_NS_PER_MS);
  ck_assert_uint_gt(stats->end_ns, stats->continue_ns);
  ck_assert_uint_eq(timeline_find(&result, "query-migrate", "pre-switchover", UINT64_MAX), 1);
  ck_assert_uint_eq(timeline_find(&result, "MIGRATION", "pre-switchover", 0), 1);
  conform_run_result_deinit(&result);
  /* A continue before the pause is refused (QEMU's text) and the source never resumes. */
  scenario.commands[3].at_ns = scenario.commands[2].at_ns + 1;
  scenario.commands[4].at_ns = scenario.commands[2].at_ns + 1;
  conform_check(&scenario, false, NULL, NULL, &result);
  ck_assert_int_eq(result.verdict, CONFORM_LIVENESS);
  ck_assert_uint_eq(timeline_find(&result, "qmp-error", "Migration not in expected state",
                                  MIG_STATE_ACTIVE), 1);
  conform_run_result_deinit(&result);
}
END_TEST

START_TEST(conform_control_return_path_alone)
{
  /* Goal: return-path without switchover-ack opens the channel: PONG(1), then SHUT(0). */
  static struct conform_scenario scenario;
  load("conformance/scenarios/cap-return-path.json", &scenario);
  static struct conform_run_result result;
  conform_check(&scenario, false, NULL, NULL, &result);
  ck_assert_msg(result.verdict == CONFORM_PASS, "%s", result.failure);
  const struct mig_precopy_stats *stats = &result.stats;
  ck_assert_uint_gt(stats->pong_ns, stats->start_ns);
  ck_assert_uint_lt(stats->pong_ns, stats->stop_ns);
  ck_assert_uint_gt(stats->shut_ns, stats->stop_ns);
  ck_assert_uint_eq(stats->switchover_ack_ns, 0);
  ck_assert_uint_eq(stats->rp_messages_count, 2);
  conform_run_result_deinit(&result);
  /* Without the capability there is no reverse channel at all. */
  scenario.commands[1].caps_state.on[MIG_CAP_RETURN_PATH] = false;
  conform_check(&scenario, false, NULL, NULL, &result);
  ck_assert_msg(result.verdict == CONFORM_PASS, "%s", result.failure);
  ck_assert_uint_eq(result.stats.pong_ns, 0);
  ck_assert_uint_eq(result.stats.rp_messages_count, 0);
  conform_run_result_deinit(&result);
}
END_TEST

START_TEST(conform_control_max_bandwidth_as_bytes_go_out)
{
  /* Goal: max-bandwidth holds within a window's budget whatever the section size. */
  static struct conform_scenario scenario;
  load("conformance/scenarios/param-max-bandwidth.json", &scenario);
  static const uint64_t section_pages[] = {65536, 256, 16};
  for (size_t i = 0; i < SIM_ARRAY_COUNT(section_pages); i++) {
    scenario.section_pages_max = section_pages[i];
    static struct conform_run_result result;
    conform_check(&scenario, false, NULL, NULL, &result);
    ck_assert_msg(result.verdict == CONFORM_PASS, "%s", result.failure);
    /* The queries at 1 s and 5 s after migrate: 8 MiB/s, to one 100 ms budget (0.8 MiB). */
    uint32_t seen = 0;
    for (uint32_t e = 0; e < result.timeline_count; e++) {
      const struct conform_timeline_entry *entry = &result.timeline[e];
      if (strcmp(entry->what, "query-migrate") != 0 || entry->detail == NULL) continue;
      uint64_t elapsed_ns = entry->time_ns - 200 * SIM_NS_PER_MS;
      uint64_t allowed = 8388608 * elapsed_ns / SIM_NS_PER_S;
      ck_assert_uint_le(entry->value, allowed + 8388608 / 10);
      ck_assert_uint_ge(entry->value + 8388608 / 10, allowed);
      seen++;
    }
    ck_assert_uint_eq(seen, 3);
    /* 64 MiB at 8 MiB/s: about 8 s, the same for every section size. */
    uint64_t total_ns = result.stats.end_ns - result.stats.start_ns;
    ck_assert_uint_ge(total_ns, 7900 * SIM_NS_PER_MS);
    ck_assert_uint_le(total_ns, 8100 * SIM_NS_PER_MS);
    conform_run_result_deinit(&result);
  }
}
END_TEST

START_TEST(conform_control_unfinished_statistics)
{
  /* Goal: a migration still running when the run ends reports what it sent, not garbage. */
  static struct conform_scenario scenario;
  load("conformance/scenarios/param-max-bandwidth.json", &scenario);
  scenario.time_ns_max = 2 * SIM_NS_PER_S;
  static struct conform_run_result result;
  conform_check(&scenario, false, NULL, NULL, &result);
  ck_assert_int_eq(result.verdict, CONFORM_LIVENESS);
  ck_assert_int_eq(result.stats.status, MIG_STATE_ACTIVE);
  ck_assert_uint_eq(result.stats.end_ns, 0);
  ck_assert_uint_gt(result.stats.normal_pages_count, 3000); /* 1.8 s at 8 MiB/s: ~3700 pages */
  ck_assert_uint_gt(result.stats.remaining_bytes, 0);
  ck_assert_uint_ge(result.stats.dirty_sync_count, 1);
  conform_run_result_deinit(&result);
}
END_TEST

/* vfio-ack.json with a second vfiodev at 00:06.0 (quirks and size as given). */
static void two_vfio(struct conform_scenario *scenario, bool quirk, uint64_t second_bytes)
{
  load("conformance/scenarios/vfio-ack.json", scenario);
  struct machine_config *machine = &scenario->machine;
  ck_assert_uint_eq(machine->device_count, 1);
  machine->devices[1] = machine->devices[0];
  machine->devices[1].slot = 6;
  struct vfiodev_config *second = vfiodev_props(&machine->devices[1]);
  second->mappings[0].gpa = 2 * 1048576;
  second->state_bytes = second_bytes;
  second->quirk_ignore_ack = quirk;
  machine->device_count = 2;
}

START_TEST(conform_control_two_vfio_devices_ack)
{
  /* Goal: two vfiodevs with switchover-ack pass (each loads on its own; both approve). */
  static struct conform_scenario scenario;
  two_vfio(&scenario, false, 33554432);
  scenario.seed = 1 + (uint64_t)_i;
  static struct conform_run_result result;
  conform_check(&scenario, false, NULL, NULL, &result);
  ck_assert_msg(result.verdict == CONFORM_PASS, "seed %" PRIu64 ": %s", scenario.seed,
                result.failure);
  ck_assert_uint_gt(result.stats.switchover_ack_ns, 0);
  conform_run_result_deinit(&result);
}
END_TEST

START_TEST(conform_control_ignore_ack_on_one_device)
{
  /*
   * Goal: the quirky device is not waited for (source and destination agree), so
   * no LIVENESS: equal devices hide it (the other's ack comes as late), a larger
   * quirky one is caught by the downtime oracle.
   */
  static struct conform_scenario scenario;
  two_vfio(&scenario, true, 33554432);
  static struct conform_run_result result;
  conform_check(&scenario, false, NULL, NULL, &result);
  ck_assert_msg(result.verdict == CONFORM_PASS, "%s", result.failure);
  conform_run_result_deinit(&result);
  two_vfio(&scenario, true, 67108864);
  conform_check(&scenario, false, NULL, NULL, &result);
  ck_assert_int_eq(result.verdict, CONFORM_ORACLE_VIOLATION);
  ck_assert_str_eq(result.failure_at.oracle, "downtime");
  conform_run_result_deinit(&result);
}
END_TEST

START_TEST(conform_control_seed_002_table)
{
  /* Goal: seed 002's table: 300 MB of VFIO data, ~1900 ms downtime without the ack, ~420 with. */
  static const struct {
    const char *file;
    uint64_t downtime_ms;
  } rows[] = {{"conformance/scenarios/vfio-002-noack.json", 1900},
              {"conformance/scenarios/vfio-002-ack.json", 420}};
  static struct conform_scenario scenario;
  load(rows[_i].file, &scenario);
  static struct conform_run_result result;
  conform_check(&scenario, false, NULL, NULL, &result);
  ck_assert_msg(result.verdict == CONFORM_PASS, "%s", result.failure);
  uint64_t downtime_ns = result.stats.end_ns - result.stats.stop_ns;
  uint64_t want_ns = rows[_i].downtime_ms * SIM_NS_PER_MS;
  ck_assert_msg(downtime_ns >= want_ns * 8 / 10 && downtime_ns <= want_ns * 12 / 10,
                "%s: downtime %" PRIu64 " us, table %" PRIu64 " ms +-20%%", rows[_i].file,
                downtime_ns / SIM_NS_PER_US, rows[_i].downtime_ms);
  ck_assert_uint_ge(result.stats.device_bytes, 299999232);
  ck_assert((result.stats.switchover_ack_ns != 0) == (_i == 1));
  conform_run_result_deinit(&result);
}
END_TEST

START_TEST(conform_control_auto_converge)
{
  /* Goal: a guest dirtying twice the link's rate converges only with auto-converge on. */
  static struct conform_scenario scenario;
  load("conformance/scenarios/cap-auto-converge.json", &scenario);
  static struct conform_run_result on, off;
  conform_check(&scenario, false, NULL, NULL, &on);
  ck_assert_msg(on.verdict == CONFORM_PASS, "%s", on.failure);
  ck_assert_uint_ge(on.stats.cpu_throttle_percentage, 20);
  scenario.commands[1].caps_state.on[MIG_CAP_AUTO_CONVERGE] = false;
  conform_check(&scenario, false, NULL, NULL, &off);
  ck_assert_msg(off.verdict == CONFORM_PASS, "%s", off.failure);
  ck_assert_uint_eq(off.stats.cpu_throttle_percentage, 0);
  /* Off, the source stops only once the guest's 30 s program has ended. */
  ck_assert_uint_ge(off.stats.stop_ns, 30 * SIM_NS_PER_S);
  ck_assert_uint_lt(on.stats.stop_ns, 20 * SIM_NS_PER_S);
  ck_assert_uint_eq(on.guest_digest, on.reference_guest_digest);
  conform_run_result_deinit(&on);
  conform_run_result_deinit(&off);
}
END_TEST

Suite *conform_control_suite(void)
{
  Suite *suite = suite_create("conform_control");
  TCase *scenario = tcase_create("scenario");
  tcase_add_test(scenario, conform_control_scenario_refusals);
  suite_add_tcase(suite, scenario);
  TCase *run = tcase_create("run");
  tcase_set_timeout(run, 120);
  tcase_add_loop_test(run, conform_control_cancel_in_each_state, 0,
                      (int)SIM_ARRAY_COUNT(cancel_files));
  tcase_add_test(run, conform_control_cancel_after_completion_is_a_no_op);
  tcase_add_test(run, conform_control_pause_before_switchover);
  tcase_add_test(run, conform_control_return_path_alone);
  tcase_add_test(run, conform_control_max_bandwidth_as_bytes_go_out);
  tcase_add_test(run, conform_control_unfinished_statistics);
  tcase_add_loop_test(run, conform_control_two_vfio_devices_ack, 0, 5);
  tcase_add_test(run, conform_control_ignore_ack_on_one_device);
  tcase_add_loop_test(run, conform_control_seed_002_table, 0, 2);
  tcase_add_test(run, conform_control_auto_converge);
  suite_add_tcase(suite, run);
  return suite;
}
