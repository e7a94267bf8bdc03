/*
 * conform_devices_test.c: whole runs with the PCI devices of issue 4: the DMA
 * engine and block device pass both oracles across a migration, the
 * write-ownership checker catches the two injected bugs, a device's
 * save-time self-check fails the migration cleanly, and scenario errors for
 * devices are located and name the device.
 */
#include "sim_base.h"

#include "blockdev.h"
#include "conform_run.h"
#include "conform_scenario.h"
#include "dmadev.h"
#include "sim_check.h"

/* The same machine as conformance/scenarios/devices.json. */
static const char devices_text[] =
    "{\n"
    "  \"seed\": 7,\n"
    "  \"limits\": {\"events_max\": 50000000, \"time_ns_max\": 60000000000},\n"
    "  \"machine\": {\n"
    "    \"type\": \"migsim-1.0\",\n"
    "    \"ram\": [{\"name\": \"pc.ram\", \"bytes\": 8388608},\n"
    "            {\"name\": \"dma.ram\", \"bytes\": 4194304}],\n"
    "    \"devices\": [{\"driver\": \"testdev\", \"addr\": \"00:03.0\", \"device_id\": 4660},\n"
    "                {\"driver\": \"dmadev\", \"addr\": \"00:04.0\", \"ring_entries\": 16,\n"
    "                 \"bandwidth\": 4194304},\n"
    "                {\"driver\": \"blockdev\", \"addr\": \"00:05.0\", \"sectors\": 2048}],\n"
    "    \"device_driver\": {\"period_ns\": 100000, \"duration_ns\": 1500000000,\n"
    "                      \"transfer_bytes_max\": 65536}\n"
    "  },\n"
    "  \"workload\": {\"pages_per_s\": 4000, \"duration_ns\": 1500000000,\n"
    "               \"fill_pages\": 1024, \"device_every\": 16},\n"
    "  \"link\": {\"bandwidth_bytes_per_s\": 67108864, \"latency_ns\": 200000,\n"
    "           \"window_bytes\": 1048576, \"packet_bytes\": 65536},\n"
    "  \"migration\": {\"section_pages\": 256},\n"
    "  \"commands\": [\n"
    "    {\"at_ns\": 0, \"execute\": \"migrate-set-parameters\",\n"
    "     \"arguments\": {\"downtime-limit\": 30, \"max-bandwidth\": 67108864}},\n"
    "    {\"at_ns\": 500000000, \"execute\": \"migrate\",\n"
    "     \"arguments\": {\"uri\": \"sim:link0\"}}\n"
    "  ]\n"
    "}\n";

static void parse_devices(struct conform_scenario *scenario)
{
  char error[CONFORM_ERROR_BYTES];
  ck_assert_msg(conform_scenario_parse(devices_text, strlen(devices_text), "devices.json",
                                       scenario, error, sizeof(error)), "%s", error);
}

/* Trace lines of the migrated run, for counting device records. */
struct trace_capture {
  char *text;
  size_t bytes;
  FILE *file;
};

static uint64_t trace_count(const struct trace_capture *capture, const char *kind)
{
  uint64_t count = 0;
  for (const char *at = strstr(capture->text, kind); at != NULL; at = strstr(at + 1, kind)) {
    count++;
  }
  return count;
}

static void check_captured(const struct conform_scenario *scenario, bool twice,
                           struct trace_capture *capture, struct conform_run_result *result)
{
  capture->file = open_memstream(&capture->text, &capture->bytes);
  ck_assert_ptr_nonnull(capture->file);
  conform_check(scenario, twice, capture->file, NULL, result);
  fclose(capture->file);
}

START_TEST(conform_devices_scenario_passes)
{
  /* DMA, block I/O and MSI across a migration: both oracles hold, twice the same trace. */
  static struct conform_scenario scenario;
  parse_devices(&scenario);
  scenario.seed = 7 + (uint64_t)_i;
  static struct conform_run_result result;
  struct trace_capture capture = {0};
  check_captured(&scenario, true, &capture, &result);
  ck_assert_msg(result.verdict == CONFORM_PASS, "seed %" PRIu64 ": %s: %s", scenario.seed,
                conform_verdict_name(result.verdict), result.failure);
  ck_assert_int_eq(result.stats.status, MIG_STATE_COMPLETED);
  ck_assert_uint_eq(result.guest_digest, result.reference_guest_digest);
  ck_assert_uint_gt(trace_count(&capture, "dmadev.retire"), 150);
  ck_assert_uint_gt(trace_count(&capture, "blockdev.write"), 10000);
  ck_assert_uint_eq(trace_count(&capture, "blockdev.activate"), 2);   /* source, destination */
  ck_assert_uint_eq(trace_count(&capture, "blockdev.inactivate"), 1); /* source at the stop */
  ck_assert_uint_eq(trace_count(&capture, "blockdev.violation"), 0);
  free(capture.text);
  conform_run_result_deinit(&result);
}
END_TEST

START_TEST(conform_each_device_alone_passes)
{
  /* _i = 0: the DMA engine alone; _i = 1: the block device alone; both oracles hold. */
  static struct conform_scenario scenario;
  parse_devices(&scenario);
  scenario.machine.devices[0] = scenario.machine.devices[1 + _i];
  scenario.machine.device_count = 1;
  static struct conform_run_result result;
  struct trace_capture capture = {0};
  check_captured(&scenario, false, &capture, &result);
  ck_assert_msg(result.verdict == CONFORM_PASS, "%s: %s", conform_verdict_name(result.verdict),
                result.failure);
  ck_assert_int_eq(result.stats.status, MIG_STATE_COMPLETED);
  ck_assert_uint_eq(result.guest_digest, result.reference_guest_digest);
  bool dma = _i == 0;
  ck_assert_uint_eq(trace_count(&capture, "dmadev.retire") > 150, dma);
  ck_assert_uint_eq(trace_count(&capture, "blockdev.write") > 10000, !dma);
  free(capture.text);
  conform_run_result_deinit(&result);
}
END_TEST

START_TEST(conform_blockdev_early_activation_caught)
{
  /* A destination that takes the image at -incoming collides with the running source. */
  static struct conform_scenario scenario;
  parse_devices(&scenario);
  blockdev_props(&scenario.machine.devices[2])->quirk_activate_early = true;
  static struct conform_run_result result;
  conform_check(&scenario, false, NULL, NULL, &result);
  ck_assert_int_eq(result.verdict, CONFORM_ORACLE_VIOLATION);
  ck_assert_msg(strstr(result.failure, "invariant: 0000:00:05.0/blockdev: write ownership: at "
                                       "500000000 ns roles 0x3 held write ownership") != NULL,
                "%s", result.failure);
  /* The same failure as fields: the oracle and the device path, no stream offset. */
  ck_assert_str_eq(result.failure_at.oracle, "invariant");
  ck_assert_str_eq(result.failure_at.path, "0000:00:05.0/blockdev");
  ck_assert(!result.failure_at.has_offset);
  conform_run_result_deinit(&result);
}
END_TEST

START_TEST(conform_blockdev_kept_ownership_caught)
{
  /* A source that never lets go is caught when the destination resumes. */
  static struct conform_scenario scenario;
  parse_devices(&scenario);
  blockdev_props(&scenario.machine.devices[2])->quirk_keep_ownership = true;
  static struct conform_run_result result;
  conform_check(&scenario, false, NULL, NULL, &result);
  ck_assert_int_eq(result.verdict, CONFORM_ORACLE_VIOLATION);
  ck_assert_int_eq(result.stats.status, MIG_STATE_COMPLETED);
  char expected[96];
  snprintf(expected, sizeof(expected), "write ownership: at %" PRIu64 " ns roles 0x3",
           result.stats.end_ns);
  ck_assert_msg(strstr(result.failure, expected) != NULL, "%s", result.failure);
  conform_run_result_deinit(&result);
}
END_TEST

START_TEST(conform_dmadev_self_check_fails_cleanly)
{
  /* The engine's accounting bug, found at save, fails the migration; the source runs on. */
  static struct conform_scenario scenario;
  parse_devices(&scenario);
  dmadev_props(&scenario.machine.devices[1])->quirk_overrun = true;
  static struct conform_run_result result;
  struct trace_capture capture = {0};
  check_captured(&scenario, false, &capture, &result);
  ck_assert_msg(result.verdict == CONFORM_PASS, "%s", result.failure);
  ck_assert_int_eq(result.stats.status, MIG_STATE_FAILED);
  ck_assert(result.stats.source_failed);
  ck_assert_str_eq(result.stats.error.path, "0000:00:04.0/dmadev");
  /* A clean, expected failure names no oracle but keeps the error's path and offset. */
  ck_assert_ptr_null(result.failure_at.oracle);
  ck_assert_str_eq(result.failure_at.path, "0000:00:04.0/dmadev");
  ck_assert(result.failure_at.has_offset);
  ck_assert_uint_eq(result.failure_at.offset, result.stats.error.offset);
  ck_assert_msg(strstr(result.failure, "migration failed cleanly: ") == result.failure &&
                strstr(result.failure, "0000:00:04.0/dmadev") != NULL &&
                strstr(result.failure, "save refused by the device: copied ") != NULL,
                "%s", result.failure);
  ck_assert_uint_eq(trace_count(&capture, "dmadev.selfcheck"), 1);
  ck_assert_uint_eq(trace_count(&capture, "machine.resume"), 2);     /* boot, after the failure */
  /* Ownership went back to the source; the destination never took it. */
  ck_assert_uint_eq(trace_count(&capture, "blockdev.activate"), 2);
  ck_assert_uint_eq(trace_count(&capture, "blockdev.violation"), 0);
  free(capture.text);
  conform_run_result_deinit(&result);
}
END_TEST

/* devices_text with one substring replaced; returns the parse error. */
static const char *devices_error(const char *from, const char *to)
{
  static char text[sizeof(devices_text) + 256];
  static struct conform_scenario scenario;
  static char error[CONFORM_ERROR_BYTES];
  const char *at = strstr(devices_text, from);
  ck_assert_ptr_nonnull(at);
  snprintf(text, sizeof(text), "%.*s%s%s", (int)(at - devices_text), devices_text, to,
           at + strlen(from));
  ck_assert(!conform_scenario_parse(text, strlen(text), "d.json", &scenario, error,
                                    sizeof(error)));
  return error;
}

START_TEST(conform_scenario_device_errors)
{
  /* Device keys are checked per driver, and machine-level problems name the device. */
  const char *error = devices_error("\"sectors\": 2048", "\"ring_entries\": 4");
  ck_assert_msg(strstr(error, "d.json:11:") && strstr(error, "unknown key \"ring_entries\""),
                "%s", error);
  error = devices_error("\"00:05.0\"", "\"04:05.0\"");
  ck_assert_msg(strstr(error, "PCI bus 4 does not exist (buses 00..03)"), "%s", error);
  error = devices_error("\"sectors\": 2048}", "\"sectors\": 2048, \"quirks\": [\"overrun\"]}");
  ck_assert_msg(strstr(error, "unknown blockdev quirk (known: \"activate-early\", "
                              "\"keep-ownership\")"), "%s", error);
  error = devices_error("\"bytes\": 4194304", "\"bytes\": 1048576");
  ck_assert_msg(strstr(error, "driver: the DMA window is the last RAM block") &&
                strstr(error, "needs 2101248 bytes"), "%s", error);
  error = devices_error("\"period_ns\": 100000", "\"period_ns\": 100001");
  ck_assert_msg(strstr(error, "must be even"), "%s", error);
  error = devices_error("\"ring_entries\": 16", "\"ring_entries\": 1");
  ck_assert_msg(strstr(error, "\"ring_entries\" is 1, outside 2..256"), "%s", error);
}
END_TEST

Suite *conform_devices_suite(void)
{
  Suite *suite = suite_create("conform_devices");
  TCase *scenario = tcase_create("scenario");
  tcase_add_test(scenario, conform_scenario_device_errors);
  suite_add_tcase(suite, scenario);
  TCase *run = tcase_create("run");
  tcase_set_timeout(run, 300);
  tcase_add_loop_test(run, conform_devices_scenario_passes, 0, 3);
  tcase_add_loop_test(run, conform_each_device_alone_passes, 0, 2);
  tcase_add_test(run, conform_blockdev_early_activation_caught);
  tcase_add_test(run, conform_blockdev_kept_ownership_caught);
  tcase_add_test(run, conform_dmadev_self_check_fails_cleanly);
  suite_add_tcase(suite, run);
  return suite;
}
