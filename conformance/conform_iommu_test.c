/*
 * conform_iommu_test.c: whole runs with the AMD IOMMU in the machine
 * (scenarios/iommu.json: amd-iommu at 00:01.0, a dmadev behind it at
 * 00:04.0, the DMA driver and the guest IOMMU driver).
 *
 * The scenario passes both oracles and --twice; a sweep puts the switchover
 * at each cut point of spec §9.4 (idle, commands pending with CmdBufEn=0,
 * event log full with overflow, right after a command-ring wrap, interrupt
 * status bits pending, the dmadev in translated mode), checks from the
 * source's "machine.iommu_stop" trace record that the IOMMU really was in
 * that state, and requires both oracles against the unmigrated run.  The
 * qemu-10.1 profile must fail and name the invariant; an implicitly placed
 * IOMMU must fail the migration cleanly, naming the device.
 *
 * scenarios/iommu-irq.json: two dmadevs (00:04.0, 00:05.0) in their own
 * domains, completion MSIs remapped through legacy IRTEs into the machine's
 * interrupt sink, the driver reaping on interrupts.  It passes both oracles
 * and --twice; two more cut points (an MSI pending in each device, both
 * devices mid-descriptor) are checked from the source's "machine.irq_stop"
 * record; a device model that drops its pending-MSI field must fail the
 * transparency oracle.
 *
 * scenarios/iommu-ats.json: the dmadev is an ATS device (ATC, translation
 * requests, pre-translated accesses; DTE.I; INVALIDATE_IOTLB_PAGES per
 * unmap).  It passes both oracles and --twice; a cut with device
 * invalidations owed (answered late, or never with "ats-no-complete") settles
 * them on the destination at the unmigrated run's guest time; "ats-stale"
 * fails, naming the stale translation, with a guest-visible result that
 * differs from the correct device's.
 */
#include "sim_base.h"

#include "amdvi.h"
#include "conform_run.h"
#include "conform_scenario.h"
#include "dmadev.h"
#include "pci.h"
#include "sim_check.h"

#define IOMMU_SCENARIO "conformance/scenarios/iommu.json"
#define IOMMU_IRQ_SCENARIO "conformance/scenarios/iommu-irq.json"
#define IOMMU_ATS_SCENARIO "conformance/scenarios/iommu-ats.json"

static void load_file(const char *path, struct conform_scenario *scenario)
{
  char error[CONFORM_ERROR_BYTES];
  ck_assert_msg(conform_scenario_load(path, scenario, error, sizeof(error)), "%s", error);
}

static void load(struct conform_scenario *scenario) { load_file(IOMMU_SCENARIO, scenario); }

struct trace_capture {
  char *text;
  size_t bytes;
  FILE *file;
};

static void check_captured(const struct conform_scenario *scenario, bool twice,
                           struct trace_capture *capture, struct conform_run_result *result)
{
  capture->file = open_memstream(&capture->text, &capture->bytes);
  ck_assert_ptr_nonnull(capture->file);
  conform_check(scenario, twice, capture->file, NULL, result);
  fclose(capture->file);
}

/* check_captured with --twice, then: every oracle held, the migration completed, and the
 * guest ended as in the unmigrated run. */
static void check_migrated_twice(const struct conform_scenario *scenario,
                                 struct trace_capture *capture, struct conform_run_result *result)
{
  check_captured(scenario, true, capture, result);
  ck_assert_msg(result->verdict == CONFORM_PASS, "%s: %s", conform_verdict_name(result->verdict),
                result->failure);
  ck_assert_int_eq(result->stats.status, MIG_STATE_COMPLETED);
  ck_assert_uint_eq(result->guest_digest, result->reference_guest_digest);
}

/* Occurrences of kind in the trace text up to (not including) until, or all. */
static uint64_t trace_count(const struct trace_capture *capture, const char *kind,
                            const char *until)
{
  uint64_t count = 0;
  for (const char *at = strstr(capture->text, kind); at != NULL && (until == NULL || at < until);
       at = strstr(at + 1, kind)) {
    count++;
  }
  return count;
}

/* The IOMMU at the source's stop, decoded from its trace record. */
struct iommu_stop {
  const char *at;                  /* the record in the trace text */
  uint64_t control;
  uint64_t status;
  uint32_t cmd_head, cmd_tail, evt_head, evt_tail;
  bool translated;
  uint32_t pending;
};

static void iommu_stop_get(const struct trace_capture *capture, struct iommu_stop *stop)
{
  const char *kind = "machine.iommu_stop ";
  stop->at = strstr(capture->text, kind);
  ck_assert_ptr_nonnull(stop->at);
  ck_assert_ptr_null(strstr(stop->at + 1, kind)); /* one stop: the source's */
  uint64_t rings = 0, last = 0;
  ck_assert_int_eq(sscanf(stop->at + strlen(kind), "%" SCNx64 " %" SCNx64 " %" SCNx64
                          " %" SCNx64, &stop->control, &stop->status, &rings, &last), 4);
  stop->cmd_head = (uint32_t)(rings >> 48 & 0xFFFF);
  stop->cmd_tail = (uint32_t)(rings >> 32 & 0xFFFF);
  stop->evt_head = (uint32_t)(rings >> 16 & 0xFFFF);
  stop->evt_tail = (uint32_t)(rings & 0xFFFF);
  stop->translated = (last >> 32) != 0;
  stop->pending = (uint32_t)last;
}

/*
 * The IOMMU's and the engine's observable records (commands executed,
 * completion stores, events, MSIs, guest register writes, retired
 * descriptors) without index and time: a malloc'd text, one record a line.
 */
static char *observable_records(const char *trace)
{
  static const char *const kinds[] = {"amdvi.command ",  "amdvi.comwait_store ",
                                      "amdvi.event ",    "amdvi.msi ",
                                      "amdvi.mmio_write ", "dmadev.retire ",
                                      "dmadev.msi ",     "machine.msi "};
  size_t bytes = strlen(trace) + 1;
  char *out = malloc(bytes);
  ck_assert_ptr_nonnull(out);
  size_t used = 0;
  for (const char *line = trace; *line != 0;) {
    const char *end = strchr(line, '\n');
    size_t length = end != NULL ? (size_t)(end - line) + 1 : strlen(line);
    const char *kind = strchr(line, ' ');
    kind = kind != NULL && kind < line + length ? strchr(kind + 1, ' ') : NULL;
    if (kind != NULL && kind < line + length) {
      kind++;
      for (size_t i = 0; i < SIM_ARRAY_COUNT(kinds); i++) {
        if (strncmp(kind, kinds[i], strlen(kinds[i])) != 0) continue;
        size_t part = length - (size_t)(kind - line);
        memcpy(out + used, kind, part);
        used += part;
        break;
      }
    }
    line += length;
  }
  out[used] = 0;
  return out;
}

/*
 * Whether the migrated run's observable records equal the unmigrated run's,
 * record for record; why names the first divergence.
 */
static bool records_match_reference(const struct conform_scenario *scenario,
                                    const struct trace_capture *migrated, char *why,
                                    size_t why_bytes)
{
  struct trace_capture reference = {0};
  reference.file = open_memstream(&reference.text, &reference.bytes);
  ck_assert_ptr_nonnull(reference.file);
  struct conform_run_options options = {.migrate_enabled = false,
                                        .trace_text = reference.file};
  static struct conform_run_result result;
  conform_run(scenario, &options, &result);
  fclose(reference.file);
  char *a = observable_records(migrated->text);
  char *b = observable_records(reference.text);
  size_t at = 0;
  while (a[at] != 0 && a[at] == b[at]) at++;
  size_t line_start = at;
  while (line_start > 0 && a[line_start - 1] != '\n') line_start--;
  bool same = a[at] == 0 && b[at] == 0;
  snprintf(why, why_bytes, "first divergence: migrated \"%.60s\", unmigrated \"%.60s\"",
           a + line_start, b + line_start);
  ck_assert_uint_gt(strlen(a), 1000);
  free(a);
  free(b);
  free(reference.text);
  conform_run_result_deinit(&result);
  return same;
}

START_TEST(conform_iommu_scenario_passes)
{
  /* Translated DMA with maps, unmaps, invalidations, faults and MSIs, migrated; twice. */
  static struct conform_scenario scenario;
  load(&scenario);
  static struct conform_run_result result;
  struct trace_capture capture = {0};
  check_migrated_twice(&scenario, &capture, &result);
  struct iommu_stop stop;
  iommu_stop_get(&capture, &stop);
  ck_assert(stop.translated);
  /* Work on both sides of the switchover. */
  ck_assert_uint_gt(trace_count(&capture, "amdvi.comwait_store", stop.at), 50);
  ck_assert_uint_gt(trace_count(&capture, "amdvi.comwait_store", NULL),
                    trace_count(&capture, "amdvi.comwait_store", stop.at) + 50);
  ck_assert_uint_gt(trace_count(&capture, "amdvi.event ", NULL), 20); /* fault_every 7 */
  ck_assert_uint_gt(trace_count(&capture, "machine.iommu_msi", NULL), 100);
  ck_assert_uint_gt(trace_count(&capture, "dmadev.retire", NULL), 150);
  free(capture.text);
  conform_run_result_deinit(&result);
}
END_TEST

enum cut_point {
  CUT_IDLE,
  CUT_COMMANDS_PENDING,
  CUT_EVENT_OVERFLOW,
  CUT_RING_WRAP,
  CUT_STATUS_PENDING,
  CUT_COUNT,
};

struct cut_plan {
  const char *name;
  uint32_t fault_every;
  uint32_t event_consume_every;
  uint32_t cmdbuf_pause_every;
  uint64_t duration_ns;            /* the guest programs' */
  uint64_t migrate_ns;             /* found by sweeping; the state is asserted below */
};

static const struct cut_plan cut_plans[CUT_COUNT] = {
    [CUT_IDLE] = {"idle", 0, 1, 0, 100000000, 300000000},
    [CUT_COMMANDS_PENDING] = {"commands pending, CmdBufEn=0", 7, 1, 2, 1000000000, 101000000},
    [CUT_EVENT_OVERFLOW] = {"event log full, overflow", 1, 3000, 0, 1000000000, 100000000},
    [CUT_RING_WRAP] = {"after a ring wrap", 7, 1, 0, 1000000000, 152000000},
    [CUT_STATUS_PENDING] = {"status bits pending", 7, 50, 0, 1000000000, 102000000},
};

START_TEST(conform_iommu_cut_points)
{
  /* Each §9.4 cut point, checked at the switchover; both oracles against the reference. */
  const struct cut_plan *plan = &cut_plans[_i];
  static struct conform_scenario scenario;
  load(&scenario);
  struct machine_config *machine = &scenario.machine;
  machine->iommu_driver.fault_every = plan->fault_every;
  machine->iommu_driver.event_consume_every = plan->event_consume_every;
  machine->iommu_driver.cmdbuf_pause_every = plan->cmdbuf_pause_every;
  machine->driver.duration_ns = plan->duration_ns;
  machine->vcpu.duration_ns = plan->duration_ns;
  ck_assert_str_eq(machine->devices[1].driver, "dmadev");
  dmadev_props(&machine->devices[1])->bandwidth_bytes_per_s = UINT64_C(16777216);
  ck_assert_str_eq(scenario.commands[1].execute, "migrate");
  scenario.commands[1].at_ns = plan->migrate_ns;
  static struct conform_run_result result;
  struct trace_capture capture = {0};
  check_captured(&scenario, false, &capture, &result);
  ck_assert_msg(result.verdict == CONFORM_PASS, "%s: %s: %s", plan->name,
                conform_verdict_name(result.verdict), result.failure);
  ck_assert_int_eq(result.stats.status, MIG_STATE_COMPLETED);
  ck_assert_uint_eq(result.guest_digest, result.reference_guest_digest);
  struct iommu_stop stop;
  iommu_stop_get(&capture, &stop);
  ck_assert_msg(stop.translated, "%s: the dmadev is not in translated mode", plan->name);
  ck_assert(stop.control & AMDVI_CONTROL_IOMMU_EN);
  bool cmdbuf_on = (stop.control & AMDVI_CONTROL_CMDBUF_EN) != 0;
  uint64_t int_bits = AMDVI_STATUS_EVTLOG_INT | AMDVI_STATUS_COMWAIT_INT;
  switch ((enum cut_point)_i) {
  case CUT_IDLE:
    ck_assert(cmdbuf_on);
    ck_assert_uint_eq(stop.pending, 0);
    ck_assert_uint_eq(stop.cmd_head, stop.cmd_tail);
    ck_assert_uint_eq(stop.evt_head, stop.evt_tail);
    ck_assert_uint_eq(stop.status & AMDVI_STATUS_EVT_OVERFLOW, 0);
    /* The programs ended long before the migration started. */
    ck_assert_uint_gt(result.stats.end_ns, plan->duration_ns * 3);
    break;
  case CUT_COMMANDS_PENDING:
    ck_assert(!cmdbuf_on);
    ck_assert_uint_gt(stop.pending, 0);
    ck_assert_uint_eq((stop.cmd_tail - stop.cmd_head + 4096) % 4096 / 16, stop.pending);
    break;
  case CUT_EVENT_OVERFLOW:
    ck_assert(stop.status & AMDVI_STATUS_EVT_OVERFLOW);
    ck_assert_uint_eq((stop.evt_tail + 16) % 4096, stop.evt_head); /* full */
    break;
  case CUT_RING_WRAP:
    ck_assert(cmdbuf_on);
    ck_assert_uint_eq(stop.cmd_head, stop.cmd_tail);
    ck_assert_uint_le(stop.cmd_head, 16 * 16); /* at most sixteen entries past the wrap */
    ck_assert_uint_gt(trace_count(&capture, "amdvi.command", stop.at), 256);
    break;
  case CUT_STATUS_PENDING:
    ck_assert_uint_eq(stop.status & int_bits, int_bits);
    ck_assert_uint_ne(stop.evt_head, stop.evt_tail); /* an unconsumed fault */
    break;
  case CUT_COUNT:
    ck_abort();
  }
  char why[256];
  ck_assert_msg(records_match_reference(&scenario, &capture, why, sizeof(why)), "%s: %s",
                plan->name, why);
  free(capture.text);
  conform_run_result_deinit(&result);
}
END_TEST

START_TEST(conform_iommu_qemu_10_1_fails)
{
  /* QEMU 10.1's state set loses the per-device mode: the failure names invariant 9. */
  static struct conform_scenario scenario;
  load(&scenario);
  ck_assert_str_eq(scenario.machine.devices[0].driver, "amd-iommu");
  amdvi_props(&scenario.machine.devices[0])->profile = AMDVI_PROFILE_QEMU_10_1;
  static struct conform_run_result result;
  struct trace_capture capture = {0};
  check_captured(&scenario, false, &capture, &result);
  ck_assert_int_eq(result.verdict, CONFORM_ORACLE_VIOLATION);
  /* Event for event: the destination's first DMA retires failed (status 2, not 1). */
  char why[256];
  ck_assert(!records_match_reference(&scenario, &capture, why, sizeof(why)));
  ck_assert_msg(strstr(why, "migrated \"dmadev.retire 0x20 ") != NULL, "%s", why);
  free(capture.text);
  ck_assert_msg(strstr(result.failure, "invariant after load: 0000:00:01.0/amd-iommu: spec 9.4 "
                                       "invariant 9 (device mode): 0000:00:04.0 is passthrough, "
                                       "its DTE says confined") == result.failure,
                "%s", result.failure);
  /* And the guest sees it: the migrated run ends unlike the unmigrated one. */
  ck_assert_uint_ne(result.guest_digest, result.reference_guest_digest);
  conform_run_result_deinit(&result);
}
END_TEST

START_TEST(conform_iommu_implicit_placement_blocks)
{
  /* Without "addr": 00:01.0 by the default rule, and the save is refused by name. */
  static const char from[] = "{\"driver\": \"amd-iommu\", \"addr\": \"00:01.0\"}";
  static struct conform_scenario scenario;
  FILE *file = fopen(IOMMU_SCENARIO, "rb");
  ck_assert_ptr_nonnull(file);
  static char text[8192];
  size_t length = fread(text, 1, sizeof(text) - 1, file);
  fclose(file);
  text[length] = 0;
  char *at = strstr(text, from);
  ck_assert_ptr_nonnull(at);
  static char changed[8192 + 64];
  snprintf(changed, sizeof(changed), "%.*s{\"driver\": \"amd-iommu\"}%s", (int)(at - text), text,
           at + strlen(from));
  char error[CONFORM_ERROR_BYTES];
  ck_assert_msg(conform_scenario_parse(changed, strlen(changed), "i.json", &scenario, error,
                                       sizeof(error)), "%s", error);
  ck_assert(scenario.machine.devices[0].addr_implicit); /* pci_placed_explicitly off */
  ck_assert_uint_eq(scenario.machine.devices[0].slot, 1);
  static struct conform_run_result result;
  conform_check(&scenario, false, NULL, NULL, &result);
  ck_assert_msg(result.verdict == CONFORM_PASS, "%s", result.failure);
  ck_assert_int_eq(result.stats.status, MIG_STATE_FAILED);
  ck_assert(result.stats.source_failed);
  ck_assert_str_eq(result.stats.error.path, "0000:00:01.0/amd-iommu");
  ck_assert_msg(strstr(result.failure, "migration failed cleanly: ") == result.failure &&
                strstr(result.failure, "AMDVI-PCI was not placed explicitly") != NULL,
                "%s", result.failure);
  conform_run_result_deinit(&result);
}
END_TEST

/* path with one substring replaced; returns the parse error. */
static const char *scenario_error(const char *path, const char *from, const char *to)
{
  static char text[8192], changed[8192 + 256];
  static struct conform_scenario scenario;
  static char error[CONFORM_ERROR_BYTES];
  FILE *file = fopen(path, "rb");
  ck_assert_ptr_nonnull(file);
  size_t length = fread(text, 1, sizeof(text) - 1, file);
  fclose(file);
  text[length] = 0;
  const char *at = strstr(text, from);
  ck_assert_ptr_nonnull(at);
  snprintf(changed, sizeof(changed), "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
  ck_assert(!conform_scenario_parse(changed, strlen(changed), "i.json", &scenario, error,
                                    sizeof(error)));
  return error;
}

/* iommu.json with one substring replaced; returns the parse error. */
static const char *iommu_error(const char *from, const char *to)
{
  return scenario_error(IOMMU_SCENARIO, from, to);
}

START_TEST(conform_iommu_scenario_errors)
{
  const char *error = iommu_error("\"addr\": \"00:01.0\"", "\"addr\": \"01:01.0\"");
  ck_assert_msg(strstr(error, "0000:01:01.0/amd-iommu: AMDVI-PCI must be on bus 0"), "%s",
                error);
  error = iommu_error("\"addr\": \"00:01.0\"", "\"addr\": \"00:01.0\", \"profile\": \"qemu\"");
  ck_assert_msg(strstr(error, "i.json:") && strstr(error, "must be \"default\" or \"qemu-10.1\""),
                "%s", error);
  error = iommu_error("{\"driver\": \"amd-iommu\", \"addr\": \"00:01.0\"},", "");
  ck_assert_msg(strstr(error, "\"iommu\" is set but the machine has no amd-iommu"), "%s", error);
  error = iommu_error("\"mode\": 3", "\"mode\": 5");
  ck_assert_msg(strstr(error, "\"mode\" is 5, outside 3..4"), "%s", error);
  error = iommu_error("\"cmdbuf_pause_every\": 0", "\"cmdbuf_pause_every\": 1");
  ck_assert_msg(strstr(error, "must be 0 or >= 2"), "%s", error);
  error = iommu_error("\"bytes\": 262144", "\"bytes\": 4096");
  ck_assert_msg(strstr(error, "iommu_driver: its tables live in the second-to-last RAM block"),
                "%s", error);
  error = iommu_error(", \"iommu\": true", "");
  ck_assert_msg(strstr(error, "iommu_driver: needs the device driver and a first dmadev"), "%s",
                error);
  /* iommu-irq.json's options. */
  error = scenario_error(IOMMU_IRQ_SCENARIO, "\"intremap\": \"legacy\"", "\"intremap\": \"v2\"");
  ck_assert_msg(strstr(error, "i.json:") &&
                strstr(error, "\"intremap\" must be \"off\" or \"legacy\" or \"ga\""), "%s",
                error);
  error = scenario_error(IOMMU_IRQ_SCENARIO, "\"domains\": \"separate\"", "\"domains\": 2");
  ck_assert_msg(strstr(error, "\"domains\" must be \"shared\" or \"separate\""), "%s", error);
  error = scenario_error(IOMMU_IRQ_SCENARIO, "\"interrupts\": true", "\"interrupts\": false");
  ck_assert_msg(strstr(error, "iommu_driver: intremap needs the device driver's interrupts"),
                "%s", error);
  error = scenario_error(IOMMU_IRQ_SCENARIO, "\"addr\": \"00:05.0\"",
                         "\"addr\": \"00:05.0\", \"quirks\": [\"msi-gone\"]");
  ck_assert_msg(strstr(error, "unknown dmadev quirk (known: \"overrun\", \"msi-lost\", "
                             "\"ats-stale\", \"ats-no-complete\")"), "%s", error);
  /* ATS on a machine whose IOMMU has no IotlbSup; an ATS quirk without ATS. */
  error = scenario_error(IOMMU_ATS_SCENARIO, "\"device_iotlb\": true", "\"device_iotlb\": false");
  ck_assert_msg(strstr(error, "dmadev: \"ats\" needs the amd-iommu's \"device_iotlb\": true"),
                "%s", error);
  error = scenario_error(IOMMU_ATS_SCENARIO, "\"ats\": true,", "\"quirks\": [\"ats-stale\"],");
  ck_assert_msg(strstr(error, "0000:00:04.0/dmadev: ATS quirks and ats_response_ns need \"ats\""),
                "%s", error);
  /* The machine-wide key: iommu.json's IOMMU has no IotlbSup, so it is refused the same way. */
  error = iommu_error("\"cmdbuf_pause_every\": 0", "\"cmdbuf_pause_every\": 0, \"ats\": 1");
  ck_assert_msg(strstr(error, "\"ats\" must be true or false"), "%s", error);
  error = iommu_error("\"cmdbuf_pause_every\": 0", "\"cmdbuf_pause_every\": 0, \"ats\": true");
  ck_assert_msg(strstr(error, "dmadev: \"ats\" needs the amd-iommu's \"device_iotlb\": true"),
                "%s", error);
}
END_TEST

START_TEST(conform_iommu_ats_machine_key)
{
  /* "iommu_driver": {"ats": true} makes every dmadev behind the IOMMU an ATS device. */
  static char text[8192];
  static struct conform_scenario scenario;
  char error[CONFORM_ERROR_BYTES];
  FILE *file = fopen(IOMMU_ATS_SCENARIO, "rb");
  ck_assert_ptr_nonnull(file);
  size_t length = fread(text, 1, sizeof(text) - 1, file);
  fclose(file);
  text[length] = 0;
  char *device_key = strstr(text, "\"ats\": true, ");
  ck_assert_ptr_nonnull(device_key);
  memset(device_key, ' ', strlen("\"ats\": true, ")); /* now an ATS quirk-free plain dmadev */
  char *pause = strstr(text, "\"cmdbuf_pause_every\": 0");
  ck_assert_ptr_nonnull(pause);
  ck_assert(!conform_scenario_parse(text, length, "a.json", &scenario, error, sizeof(error)));
  ck_assert_msg(strstr(error, "ATS quirks and ats_response_ns need \"ats\""), "%s", error);
  static char with_key[8192 + 32];
  snprintf(with_key, sizeof(with_key), "%.*s\"ats\": true, %s", (int)(pause - text), text, pause);
  ck_assert_msg(conform_scenario_parse(with_key, strlen(with_key), "a.json", &scenario, error,
                                       sizeof(error)), "%s", error);
  ck_assert(dmadev_props(&scenario.machine.devices[1])->ats);
  ck_assert_uint_eq(dmadev_props(&scenario.machine.devices[1])->ats_response_ns, 20000);
}
END_TEST

START_TEST(conform_iommu_irq_scenario_passes)
{
  /*
   * Two devices, remapped completion MSIs, interrupt-driven reaping, migrated;
   * twice.  _i 0: the scenario (legacy IRTEs, separate domains); _i 1: 128-bit
   * IRTEs and one shared domain.
   */
  static struct conform_scenario scenario;
  load_file(IOMMU_IRQ_SCENARIO, &scenario);
  ck_assert(scenario.machine.iommu_driver.intremap);
  ck_assert(!scenario.machine.iommu_driver.irte_ga);
  ck_assert(scenario.machine.iommu_driver.domains_separate);
  if (_i == 1) {
    scenario.machine.iommu_driver.irte_ga = true;
    scenario.machine.iommu_driver.domains_separate = false;
  }
  static struct conform_run_result result;
  struct trace_capture capture = {0};
  check_migrated_twice(&scenario, &capture, &result);
  const char *stop = strstr(capture.text, "machine.irq_stop ");
  ck_assert_ptr_nonnull(stop);
  /* Every delivered MSI was remapped, from both devices, on both sides of the switchover. */
  uint64_t delivered = trace_count(&capture, "machine.msi ", NULL);
  ck_assert_uint_eq(trace_count(&capture, "amdvi.irq_remap", NULL), delivered);
  ck_assert_uint_eq(trace_count(&capture, "machine.msi_blocked", NULL), 0);
  ck_assert_uint_gt(trace_count(&capture, "machine.msi 0x20 0xfee00000 0x50 ", stop), 20);
  ck_assert_uint_gt(trace_count(&capture, "machine.msi 0x28 0xfee00000 0x51 ", stop), 20);
  ck_assert_uint_gt(delivered, trace_count(&capture, "machine.msi ", stop) + 40);
  free(capture.text);
  conform_run_result_deinit(&result);
}
END_TEST

enum irq_cut_point { IRQ_CUT_MSI_PENDING, IRQ_CUT_MID_DESCRIPTOR, IRQ_CUT_COUNT };

/*
 * iommu-irq.json made busy: 64 MiB/s engines, transfers up to 16 KiB, a
 * 50 us MSI delay, 300 ms programs; migrate_ns found by sweeping, the state
 * asserted from the trace.
 */
static const uint64_t irq_cut_migrate_ns[IRQ_CUT_COUNT] = {
    [IRQ_CUT_MSI_PENDING] = 101000000,
    [IRQ_CUT_MID_DESCRIPTOR] = 100000000,
};

static void irq_cut_load(struct conform_scenario *scenario, enum irq_cut_point cut)
{
  load_file(IOMMU_IRQ_SCENARIO, scenario);
  struct machine_config *machine = &scenario->machine;
  for (uint32_t i = 1; i <= 2; i++) {
    ck_assert_str_eq(machine->devices[i].driver, "dmadev");
    dmadev_props(&machine->devices[i])->bandwidth_bytes_per_s = UINT64_C(67108864);
    dmadev_props(&machine->devices[i])->msi_delay_ns = 50000;
  }
  machine->driver.transfer_bytes_max = 16384;
  machine->driver.duration_ns = 300000000;
  machine->vcpu.duration_ns = 300000000;
  ck_assert_str_eq(scenario->commands[1].execute, "migrate");
  scenario->commands[1].at_ns = irq_cut_migrate_ns[cut];
}

/* The engines at the source's stop: 16 bits per engine, engine 0 lowest. */
static void irq_stop_get(const struct trace_capture *capture, uint64_t *pending,
                         uint64_t *progress)
{
  const char *kind = "machine.irq_stop ";
  const char *at = strstr(capture->text, kind);
  ck_assert_ptr_nonnull(at);
  ck_assert_ptr_null(strstr(at + 1, kind));
  ck_assert_int_eq(sscanf(at + strlen(kind), "%" SCNx64 " %" SCNx64, pending, progress), 2);
}

START_TEST(conform_iommu_irq_cut_points)
{
  /* An MSI pending in each device; both devices mid-descriptor: both oracles, and records. */
  static const char *const names[IRQ_CUT_COUNT] = {"MSI pending in the devices",
                                                   "two devices mid-descriptor"};
  static struct conform_scenario scenario;
  irq_cut_load(&scenario, (enum irq_cut_point)_i);
  static struct conform_run_result result;
  struct trace_capture capture = {0};
  check_captured(&scenario, false, &capture, &result);
  ck_assert_msg(result.verdict == CONFORM_PASS, "%s: %s: %s", names[_i],
                conform_verdict_name(result.verdict), result.failure);
  ck_assert_int_eq(result.stats.status, MIG_STATE_COMPLETED);
  ck_assert_uint_eq(result.guest_digest, result.reference_guest_digest);
  uint64_t pending = 0, progress = 0;
  irq_stop_get(&capture, &pending, &progress);
  if (_i == IRQ_CUT_MSI_PENDING) {
    ck_assert_msg((pending & 0xFFFF) != 0 && (pending >> 16 & 0xFFFF) != 0, "%s: pending %#" PRIx64,
                  names[_i], pending);
  } else {
    ck_assert_msg((progress & 0xFFFF) != 0 && (progress >> 16 & 0xFFFF) != 0,
                  "%s: progress %#" PRIx64, names[_i], progress);
  }
  char why[256];
  ck_assert_msg(records_match_reference(&scenario, &capture, why, sizeof(why)), "%s: %s",
                names[_i], why);
  free(capture.text);
  conform_run_result_deinit(&result);
}
END_TEST

START_TEST(conform_iommu_irq_field_dropped_fails)
{
  /*
   * The same MSI-pending cut with a device model that does not migrate its
   * pending MSI ("msi-lost"): both sides describe the same fields, so the
   * switchover hashes agree, but the destination never sends the MSI and the
   * transparency oracle must catch it.
   */
  static struct conform_scenario scenario;
  irq_cut_load(&scenario, IRQ_CUT_MSI_PENDING);
  dmadev_props(&scenario.machine.devices[1])->quirk_msi_lost = true;
  static struct conform_run_result result;
  conform_check(&scenario, false, NULL, NULL, &result);
  ck_assert_int_eq(result.verdict, CONFORM_ORACLE_VIOLATION);
  ck_assert_int_eq(result.stats.status, MIG_STATE_COMPLETED);
  ck_assert_uint_ne(result.guest_digest, result.reference_guest_digest);
  ck_assert_msg(strstr(result.failure, "transparency") != NULL, "%s", result.failure);
  conform_run_result_deinit(&result);
}
END_TEST

START_TEST(conform_iommu_ats_scenario_passes)
{
  /* An ATS dmadev migrated: both oracles, twice; ATC hits, requests, invalidations each side. */
  static struct conform_scenario scenario;
  load_file(IOMMU_ATS_SCENARIO, &scenario);
  ck_assert(dmadev_props(&scenario.machine.devices[1])->ats);
  static struct conform_run_result result;
  struct trace_capture capture = {0};
  check_migrated_twice(&scenario, &capture, &result);
  struct iommu_stop stop;
  iommu_stop_get(&capture, &stop);
  ck_assert(stop.translated);
  uint64_t requests = trace_count(&capture, "amdvi.ats_translate ", NULL);
  uint64_t accesses = trace_count(&capture, "amdvi.ats_translated ", NULL);
  uint64_t invalidations = trace_count(&capture, "amdvi.ats_invalidate ", NULL);
  uint64_t requests_before = trace_count(&capture, "amdvi.ats_translate ", stop.at);
  uint64_t invalidations_before = trace_count(&capture, "amdvi.ats_invalidate ", stop.at);
  printf("iommu-ats: %" PRIu64 " translation requests, %" PRIu64 " ATC hits, %" PRIu64
         " device invalidations (%" PRIu64 ", %" PRIu64 " before the stop)\n", requests,
         accesses - requests, invalidations, requests_before, invalidations_before);
  ck_assert_uint_gt(requests_before, 500);
  ck_assert_uint_gt(requests, requests_before + 500);
  ck_assert_uint_gt(accesses, requests); /* the ring page hits */
  ck_assert_uint_gt(invalidations_before, 50);
  ck_assert_uint_gt(invalidations, invalidations_before + 50);
  /* Only the injected unmapped destinations fault; no device request is refused. */
  ck_assert_uint_eq(trace_count(&capture, "amdvi.event 0x8 ", NULL), 0);
  ck_assert_uint_eq(trace_count(&capture, "amdvi.event 0x7 ", NULL), 0);
  ck_assert_uint_eq(trace_count(&capture, "dmadev.ats_stale", NULL), 0);
  ck_assert_uint_gt(trace_count(&capture, "amdvi.event 0x2 ", NULL), 20);
  free(capture.text);
  conform_run_result_deinit(&result);
}
END_TEST

START_TEST(conform_iommu_ats_owed_at_cut)
{
  /*
   * Device invalidations owed at the cut (amd-iommu/ats): _i 0, answered
   * 700 us late on the destination; _i 1, "ats-no-complete", timing out there
   * (IOTLB_INV_TIMEOUT in the guest's log, counted by its driver).  The cut
   * (migrate at 120 ms) was found by sweeping; "amdvi.ats_resume 0x2" shows the
   * destination resumed with two owed.  Both oracles and event for event.
   */
  static struct conform_scenario scenario;
  load_file(IOMMU_ATS_SCENARIO, &scenario);
  struct dmadev_config *dma = dmadev_props(&scenario.machine.devices[1]);
  if (_i == 0) {
    dma->ats_response_ns = 700000;
  } else {
    dma->ats_response_ns = 0;
    dma->quirk_ats_no_complete = true;
  }
  ck_assert_str_eq(scenario.commands[1].execute, "migrate");
  scenario.commands[1].at_ns = 120000000;
  static struct conform_run_result result;
  struct trace_capture capture = {0};
  check_captured(&scenario, false, &capture, &result);
  ck_assert_msg(result.verdict == CONFORM_PASS, "%d: %s: %s", _i,
                conform_verdict_name(result.verdict), result.failure);
  ck_assert_int_eq(result.stats.status, MIG_STATE_COMPLETED);
  ck_assert_uint_eq(result.guest_digest, result.reference_guest_digest);
  struct iommu_stop stop;
  iommu_stop_get(&capture, &stop);
  const char *resume = strstr(capture.text, "amdvi.ats_resume 0x2 ");
  ck_assert_msg(resume != NULL && resume > stop.at, "%d: nothing owed at the cut", _i);
  const char *settled = _i == 0 ? "amdvi.ats_complete " : "amdvi.event 0x7 ";
  ck_assert_uint_gt(trace_count(&capture, settled, NULL), trace_count(&capture, settled, resume));
  ck_assert_uint_eq(trace_count(&capture, "amdvi.event 0x7 ", NULL) != 0, _i == 1);
  char why[256];
  ck_assert_msg(records_match_reference(&scenario, &capture, why, sizeof(why)), "%d: %s", _i,
                why);
  free(capture.text);
  conform_run_result_deinit(&result);
}
END_TEST

START_TEST(conform_iommu_ats_stale_fails)
{
  /*
   * "ats-stale" (acknowledges invalidations, keeps its entries) with a ring
   * and buffers that fit the ATC: the run fails naming the stale translation,
   * and the guest-visible result differs from the correct device's (writes
   * through stale entries into destinations the driver left unmapped).
   */
  static struct conform_scenario scenario;
  load_file(IOMMU_ATS_SCENARIO, &scenario);
  dmadev_props(&scenario.machine.devices[1])->ring_entries = 3;
  scenario.machine.driver.transfer_bytes_max = 4096;
  static struct conform_run_result result;
  conform_check(&scenario, false, NULL, NULL, &result);
  ck_assert_msg(result.verdict == CONFORM_PASS, "%s", result.failure);
  uint64_t correct_digest = result.reference_guest_digest;
  conform_run_result_deinit(&result);
  dmadev_props(&scenario.machine.devices[1])->quirk_ats_stale = true;
  conform_check(&scenario, false, NULL, NULL, &result);
  ck_assert_int_eq(result.verdict, CONFORM_ORACLE_VIOLATION);
  ck_assert_msg(strstr(result.failure, "invariant: 0000:00:04.0/dmadev: DMA through a stale ATS "
                                       "translation (") == result.failure, "%s", result.failure);
  ck_assert_msg(strstr(result.failure, "after an invalidation the device acknowledged") != NULL,
                "%s", result.failure);
  ck_assert_uint_ne(result.reference_guest_digest, correct_digest);
  conform_run_result_deinit(&result);
}
END_TEST

Suite *conform_iommu_suite(void)
{
  Suite *suite = suite_create("conform_iommu");
  TCase *scenario = tcase_create("scenario");
  tcase_add_test(scenario, conform_iommu_scenario_errors);
  tcase_add_test(scenario, conform_iommu_ats_machine_key);
  suite_add_tcase(suite, scenario);
  TCase *run = tcase_create("run");
  tcase_set_timeout(run, 300);
  tcase_add_test(run, conform_iommu_scenario_passes);
  tcase_add_loop_test(run, conform_iommu_cut_points, 0, CUT_COUNT);
  tcase_add_test(run, conform_iommu_qemu_10_1_fails);
  tcase_add_test(run, conform_iommu_implicit_placement_blocks);
  tcase_add_loop_test(run, conform_iommu_irq_scenario_passes, 0, 2);
  tcase_add_loop_test(run, conform_iommu_irq_cut_points, 0, IRQ_CUT_COUNT);
  tcase_add_test(run, conform_iommu_irq_field_dropped_fails);
  tcase_add_test(run, conform_iommu_ats_scenario_passes);
  tcase_add_loop_test(run, conform_iommu_ats_owed_at_cut, 0, 2);
  tcase_add_test(run, conform_iommu_ats_stale_fails);
  suite_add_tcase(suite, run);
  return suite;
}
