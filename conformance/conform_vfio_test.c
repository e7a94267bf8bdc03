/*
 * conform_vfio_test.c: whole runs with a vfiodev (issue 4 item 6): its device
 * data migrates in live sections and both oracles hold; without
 * switchover-ack the downtime carries the destination's initial load; with
 * it the source waits for SWITCHOVER_ACK on the return path and the downtime
 * stays near the limit; a device that does not ask for the ack is caught;
 * scenario errors for the device are located.
 */
#include "sim_base.h"

#include "conform_oracle.h"
#include "conform_run.h"
#include "conform_scenario.h"
#include "pci.h"
#include "sim_check.h"
#include "vfiodev.h"

#define PRECOPY_FILE "conformance/scenarios/vfio-precopy.json"
#define ACK_FILE "conformance/scenarios/vfio-ack.json"
#define CPR_FILE "conformance/scenarios/vfio-cpr.json"

static void load(const char *path, struct conform_scenario *scenario)
{
  char error[CONFORM_ERROR_BYTES];
  ck_assert_msg(conform_scenario_load(path, scenario, error, sizeof(error)), "%s", error);
}

static uint64_t downtime_ns(const struct mig_precopy_stats *stats)
{
  return stats->end_ns - stats->stop_ns;
}

/* Simulated time the destination needs to load the device's whole initial state. */
static uint64_t initial_load_ns(const struct conform_scenario *scenario)
{
  const struct vfiodev_config *vfio = dev_props_const(&scenario->machine.devices[0]);
  return vfio->state_bytes / vfio->load_bytes_per_s * SIM_NS_PER_S +
         vfio->state_bytes % vfio->load_bytes_per_s * SIM_NS_PER_S / vfio->load_bytes_per_s;
}

START_TEST(conform_vfio_precopy_downtime_carries_initial_load)
{
  /* Goal: no ack: both oracles hold, yet the destination is still loading at the stop. */
  static struct conform_scenario scenario;
  load(PRECOPY_FILE, &scenario);
  static struct conform_run_result result;
  conform_check(&scenario, true, NULL, NULL, &result);
  ck_assert_msg(result.verdict == CONFORM_PASS, "%s", result.failure);
  const struct mig_precopy_stats *stats = &result.stats;
  ck_assert_int_eq(stats->status, MIG_STATE_COMPLETED);
  ck_assert_uint_ge(stats->device_bytes, vfiodev_props(&scenario.machine.devices[0])->state_bytes);
  ck_assert_uint_eq(stats->switchover_ack_ns, 0);
  /* The load backlog: what the link brought faster than the device could take. */
  uint64_t load_end_ns = stats->start_ns + initial_load_ns(&scenario);
  ck_assert_uint_gt(load_end_ns, stats->stop_ns);
  ck_assert_uint_ge(stats->dest_load_end_ns, load_end_ns);
  ck_assert_uint_ge(downtime_ns(stats), load_end_ns - stats->stop_ns);
  ck_assert_uint_gt(downtime_ns(stats), 2 * 50 * SIM_NS_PER_MS);
  ck_assert_uint_eq(result.guest_digest, result.reference_guest_digest);
  conform_run_result_deinit(&result);
}
END_TEST

START_TEST(conform_vfio_ack_waits_for_initial_load)
{
  /* Goal: with switchover-ack the stop comes after the ack, and after the initial load. */
  static struct conform_scenario scenario;
  load(ACK_FILE, &scenario);
  static struct conform_run_result result;
  conform_check(&scenario, true, NULL, NULL, &result);
  ck_assert_msg(result.verdict == CONFORM_PASS, "%s", result.failure);
  const struct mig_precopy_stats *stats = &result.stats;
  ck_assert_int_eq(stats->status, MIG_STATE_COMPLETED);
  ck_assert_uint_gt(stats->switchover_ack_ns, 0);
  ck_assert_uint_ge(stats->switchover_ack_ns, stats->start_ns + initial_load_ns(&scenario));
  ck_assert_uint_le(stats->switchover_ack_ns, stats->stop_ns);
  ck_assert_uint_gt(stats->ack_waits_count, 0);
  ck_assert_uint_le(downtime_ns(stats), 50 * SIM_NS_PER_MS);
  ck_assert_uint_eq(result.guest_digest, result.reference_guest_digest);
  conform_run_result_deinit(&result);
}
END_TEST

START_TEST(conform_vfio_ignore_ack_quirk_is_caught)
{
  /* Goal: a device that does not ask for the ack lets the source stop early; the oracle says so. */
  static struct conform_scenario scenario;
  load(ACK_FILE, &scenario);
  vfiodev_props(&scenario.machine.devices[0])->quirk_ignore_ack = true;
  static struct conform_run_result result;
  conform_check(&scenario, false, NULL, NULL, &result);
  ck_assert_int_eq(result.verdict, CONFORM_ORACLE_VIOLATION);
  ck_assert_msg(strstr(result.failure, "with switchover-ack on") != NULL, "%s", result.failure);
  /* No destination device owes an approval: QEMU 10 acks at OPEN_RETURN_PATH, before PONG. */
  ck_assert_uint_gt(result.stats.switchover_ack_ns, 0);
  ck_assert_uint_le(result.stats.switchover_ack_ns, result.stats.pong_ns);
  ck_assert_uint_gt(downtime_ns(&result.stats), 2 * 50 * SIM_NS_PER_MS);
  conform_run_result_deinit(&result);
}
END_TEST

START_TEST(conform_vfio_cpr_transfer_hands_device_over)
{
  /* Goal: cpr-transfer copies neither shared RAM nor device data, and both oracles hold. */
  static struct conform_scenario scenario;
  load(CPR_FILE, &scenario);
  static struct conform_run_result result;
  conform_check(&scenario, true, NULL, NULL, &result);
  ck_assert_msg(result.verdict == CONFORM_PASS, "%s", result.failure);
  const struct mig_precopy_stats *stats = &result.stats;
  ck_assert_int_eq(stats->status, MIG_STATE_COMPLETED);
  ck_assert_uint_eq(stats->device_bytes, 0);
  ck_assert_uint_eq(stats->normal_pages_count, 0);
  ck_assert_uint_eq(stats->rounds_count, 0);
  ck_assert_uint_lt(stats->transferred_bytes, 65536);
  ck_assert_uint_le(downtime_ns(stats), SIM_NS_PER_MS);
  /* The device kept working on the destination: the same guest result as never migrating. */
  ck_assert_uint_eq(result.guest_digest, result.reference_guest_digest);
  conform_run_result_deinit(&result);
  /* The same machine in normal mode copies the device's whole state. */
  scenario.commands[0].params.params.values[MIG_PARAM_MODE] = MIG_MODE_NORMAL;
  conform_check(&scenario, false, NULL, NULL, &result);
  ck_assert_msg(result.verdict == CONFORM_PASS, "%s", result.failure);
  const struct vfiodev_config *vfio = dev_props_const(&scenario.machine.devices[0]);
  ck_assert_uint_ge(result.stats.device_bytes, vfio->state_bytes);
  conform_run_result_deinit(&result);
}
END_TEST

START_TEST(conform_vfio_oracle_sees_config)
{
  /* Goal: the device config, which travels outside the vmstate sections, is still compared:
   * an MSI data byte changed on one of two equal machines is the first difference, by path,
   * and it changes the guest digest. */
  static struct conform_scenario scenario;
  load(ACK_FILE, &scenario);
  struct sim_options options = {.seed = 3};
  struct sim *sim = sim_create(&options);
  struct machine *a = machine_create(sim, &scenario.machine, 0);
  struct machine *b = machine_create(sim, &scenario.machine, 0);
  struct conform_snapshot snapshot;
  conform_snapshot_take(&snapshot, a, true);
  char failure[512];
  ck_assert_msg(conform_snapshot_compare(&snapshot, b, failure, sizeof(failure)), "%s", failure);
  ck_assert_uint_eq(conform_guest_digest(a), conform_guest_digest(b));
  struct pci_function *fn = &machine_vfiodev(b, 0)->pci;
  pci_config_write_default(fn, fn->msi_offset + 12, 0x0031u, 2);
  ck_assert(!conform_snapshot_compare(&snapshot, b, failure, sizeof(failure)));
  ck_assert_ptr_nonnull(strstr(failure, "0000:00:05.0/vfio/pci/config"));
  ck_assert_uint_ne(conform_guest_digest(a), conform_guest_digest(b));
  conform_snapshot_deinit(&snapshot);
  sim_destroy(sim);
}
END_TEST

START_TEST(conform_vfio_cpr_transfer_refused_for_legacy_mdev)
{
  /* Goal: a mediated device in a legacy container refuses cpr-transfer, named; source runs on. */
  static struct conform_scenario scenario;
  load(CPR_FILE, &scenario);
  vfiodev_props(&scenario.machine.devices[0])->container = VFIODEV_CONTAINER_LEGACY;
  vfiodev_props(&scenario.machine.devices[0])->mdev = true;
  static struct conform_run_result result;
  conform_check(&scenario, false, NULL, NULL, &result);
  ck_assert_msg(result.verdict == CONFORM_PASS, "%s", result.failure);
  ck_assert_int_eq(result.stats.status, MIG_STATE_FAILED);
  ck_assert(result.stats.source_failed);
  ck_assert_str_eq(result.stats.error.path, "0000:00:05.0/vfio");
  ck_assert_msg(strstr(result.failure, "cpr-transfer refused: a mediated device in a legacy "
                                       "VFIO container") != NULL, "%s", result.failure);
  ck_assert_uint_eq(result.guest_digest, result.reference_guest_digest);
  conform_run_result_deinit(&result);
}
END_TEST

/* Parses the ack scenario with its device entry replaced; returns the error text. */
static bool parse_with_device(const char *device, char *error, size_t error_bytes)
{
  FILE *file = fopen(ACK_FILE, "rb");
  ck_assert_ptr_nonnull(file);
  static char text[8192];
  size_t count = fread(text, 1, sizeof(text) - 1, file);
  fclose(file);
  text[count] = 0;
  char *start = strstr(text, "{\"driver\": \"vfiodev\"");
  char *end = strstr(text, "}]}]");
  ck_assert_ptr_nonnull(start);
  ck_assert_ptr_nonnull(end);
  static char edited[8192];
  snprintf(edited, sizeof(edited), "%.*s%s%s", (int)(start - text), text, device, end + 3);
  static struct conform_scenario scenario;
  return conform_scenario_parse(edited, strlen(edited), "vfio.json", &scenario, error,
                                error_bytes);
}

START_TEST(conform_vfio_scenario_errors_located)
{
  /* Goal: bad vfiodev properties fail with the key named. */
  char error[CONFORM_ERROR_BYTES];
  ck_assert(parse_with_device("{\"driver\": \"vfiodev\", \"addr\": \"00:05.0\"}", error,
                              sizeof(error)));
  ck_assert(!parse_with_device("{\"driver\": \"vfiodev\", \"addr\": \"00:05.0\", "
                               "\"state_bytes\": 5000}", error, sizeof(error)));
  ck_assert_msg(strstr(error, "\"state_bytes\" must be a multiple of 4096") != NULL, "%s", error);
  ck_assert(!parse_with_device("{\"driver\": \"vfiodev\", \"addr\": \"00:05.0\", "
                               "\"container\": \"vfio\"}", error, sizeof(error)));
  ck_assert_msg(strstr(error, "\"container\" must be") != NULL, "%s", error);
  ck_assert(!parse_with_device("{\"driver\": \"vfiodev\", \"addr\": \"00:05.0\", "
                               "\"quirks\": [\"fast\"]}", error, sizeof(error)));
  ck_assert_msg(strstr(error, "unknown vfiodev quirk") != NULL, "%s", error);
  ck_assert(!parse_with_device("{\"driver\": \"vfiodev\", \"addr\": \"00:05.0\", "
                               "\"mappings\": [{\"iova\": 1, \"gpa\": 0, \"bytes\": 4096}]}",
                               error, sizeof(error)));
  ck_assert_msg(strstr(error, "multiples of 4096") != NULL, "%s", error);
  ck_assert(!parse_with_device("{\"driver\": \"vfiodev\", \"addr\": \"00:05.0\", "
                               "\"mappings\": [{\"iova\": 0, \"gpa\": 16777216, "
                               "\"bytes\": 4096}]}", error, sizeof(error)));
  ck_assert_msg(strstr(error, "0000:00:05.0/vfiodev: mapping 0 is outside guest RAM "
                              "(16777216 bytes)") != NULL, "%s", error);
}
END_TEST

Suite *conform_vfio_suite(void)
{
  Suite *suite = suite_create("conform_vfio");
  TCase *core = tcase_create("core");
  tcase_set_timeout(core, 300);
  tcase_add_test(core, conform_vfio_precopy_downtime_carries_initial_load);
  tcase_add_test(core, conform_vfio_ack_waits_for_initial_load);
  tcase_add_test(core, conform_vfio_ignore_ack_quirk_is_caught);
  tcase_add_test(core, conform_vfio_cpr_transfer_hands_device_over);
  tcase_add_test(core, conform_vfio_cpr_transfer_refused_for_legacy_mdev);
  tcase_add_test(core, conform_vfio_oracle_sees_config);
  tcase_add_test(core, conform_vfio_scenario_errors_located);
  suite_add_tcase(suite, core);
  return suite;
}
