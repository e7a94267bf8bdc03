/*
 * conform_ram_test.c: RAM blocks and guest workloads across the layers: every
 * workload scenario in conformance/scenarios/ram-*.json migrates and passes
 * both oracles, resizes show in the stream, the page oracle names the page,
 * and bad RAM or workload keys are located errors.  ram-resize-*.json: a guest
 * resize before a migration, during one (cancelled, then retried), and the
 * destination's resize or refusal of the listed length.  Scenario files are read
 * relative to the repository root, where the suites run.
 */
#include "sim_base.h"

#include "conform_oracle.h"
#include "conform_run.h"
#include "conform_scenario.h"
#include "mig_load.h"
#include "sim_check.h"

static const char *const workload_files[] = {
    "conformance/scenarios/ram-idle.json",    "conformance/scenarios/ram-uniform.json",
    "conformance/scenarios/ram-hotset.json",  "conformance/scenarios/ram-sweep.json",
    "conformance/scenarios/ram-zipf.json",    "conformance/scenarios/ram-synthetic.json",
    "conformance/scenarios/ram-shared.json",
};

static void load(const char *path, struct conform_scenario *scenario)
{
  char error[CONFORM_ERROR_BYTES];
  ck_assert_msg(conform_scenario_load(path, scenario, error, sizeof(error)), "%s", error);
}

START_TEST(conform_ram_workload_scenario_migrates)
{
  /* Each workload migrates, passes switchover and transparency, twice alike; seeds matter. */
  static struct conform_scenario scenario;
  load(workload_files[_i], &scenario);
  static struct conform_run_result result;
  conform_check(&scenario, true, NULL, NULL, &result);
  ck_assert_msg(result.verdict == CONFORM_PASS, "%s seed %" PRIu64 ": %s: %s",
                workload_files[_i], scenario.seed, conform_verdict_name(result.verdict),
                result.failure);
  ck_assert(result.migrated);
  ck_assert_int_eq(result.stats.status, MIG_STATE_COMPLETED);
  ck_assert_uint_eq(result.guest_digest, result.reference_guest_digest);
  ck_assert_uint_gt(result.stats.normal_pages_count, 0);
  uint64_t digest = result.guest_digest;
  conform_run_result_deinit(&result);
  scenario.seed++;
  struct conform_run_options options = {.migrate_enabled = false};
  conform_run(&scenario, &options, &result);
  ck_assert_int_eq(result.verdict, CONFORM_PASS);
  ck_assert_uint_ne(result.guest_digest, digest);
  conform_run_result_deinit(&result);
}
END_TEST

#define RAM_SWEEP_SEEDS_PER_SCENARIO 3
#define RAM_SWEEP_SEED_BASE UINT64_C(2000)

/*
 * Sweep step i over files[]: file i % count at seed base + i / count must pass
 * its expectation and both oracles, run identically twice, and end with the
 * reference run's guest digest; a failure prints the command that reproduces it.
 */
static void sweep_step(const char *const *files, size_t count, uint64_t seed_base, int i)
{
  size_t file = (size_t)i % count;
  static struct conform_scenario scenario;
  load(files[file], &scenario);
  scenario.seed = seed_base + (uint64_t)i / count;
  static struct conform_run_result result;
  conform_check(&scenario, true, NULL, NULL, &result);
  ck_assert_msg(result.verdict == CONFORM_PASS,
                "%s seed %" PRIu64 " trace digest 0x%016" PRIx64 ": %s: %s\n"
                "reproduce: migsim run %s --seed %" PRIu64 " --twice", files[file],
                scenario.seed, result.trace_digest, conform_verdict_name(result.verdict),
                result.failure, files[file], scenario.seed);
  ck_assert_uint_eq(result.guest_digest, result.reference_guest_digest);
  conform_run_result_deinit(&result);
}

START_TEST(conform_ram_workload_seed_sweep)
{
  /* Property: every workload scenario passes both oracles and runs identically twice. */
  sweep_step(workload_files, SIM_ARRAY_COUNT(workload_files), RAM_SWEEP_SEED_BASE, _i);
}
END_TEST

/* Offset of needle in haystack, or SIZE_MAX. */
static size_t find_bytes(const uint8_t *haystack, size_t count, const void *needle,
                         size_t needle_count)
{
  for (size_t at = 0; at + needle_count <= count; at++) {
    if (memcmp(haystack + at, needle, needle_count) == 0) return at;
  }
  return SIZE_MAX;
}

static uint64_t be64_at(const uint8_t *bytes)
{
  uint64_t value = 0;
  for (int i = 0; i < 8; i++) value = value << 8 | bytes[i];
  return value;
}

START_TEST(conform_ram_resize_is_in_the_block_list)
{
  /* The source resized the ACPI block at boot: MEM_SIZE and the list carry the new length. */
  static struct conform_scenario scenario;
  load("conformance/scenarios/ram-synthetic.json", &scenario);
  struct mig_membuf capture;
  mig_membuf_init(&capture, (size_t)1 << 30);
  static struct conform_run_result result;
  conform_check(&scenario, false, NULL, &capture, &result);
  ck_assert_msg(result.verdict == CONFORM_PASS, "%s", result.failure);
  static const char entry[] = "\x14/rom@etc/acpi/tables";
  size_t at = find_bytes(capture.bytes, capture.count, entry, sizeof(entry) - 1);
  ck_assert_uint_ne(at, SIZE_MAX);
  ck_assert_uint_eq(be64_at(capture.bytes + at + sizeof(entry) - 1), 196608);
  uint64_t total = UINT64_C(268435456) + 196608 + 262144 + 16777216;
  uint8_t mem_size[8];
  for (int i = 0; i < 8; i++) mem_size[i] = (uint8_t)((total | 4) >> (56 - 8 * i));
  ck_assert_uint_lt(find_bytes(capture.bytes, capture.count, mem_size, 8), at);
  mig_membuf_deinit(&capture);
  conform_run_result_deinit(&result);
}
END_TEST

START_TEST(conform_ram_ignore_shared_leaves_shared_pages_out)
{
  /* x-ignore-shared: the capability is in the configuration, shared pages are not sent. */
  static struct conform_scenario scenario;
  load("conformance/scenarios/ram-shared.json", &scenario);
  ck_assert(scenario.commands[0].caps_given.on[MIG_CAP_X_IGNORE_SHARED] &&
            scenario.commands[0].caps_state.on[MIG_CAP_X_IGNORE_SHARED]);
  struct mig_membuf capture;
  mig_membuf_init(&capture, (size_t)1 << 30);
  static struct conform_run_result on, off;
  conform_check(&scenario, false, NULL, &capture, &on);
  ck_assert_msg(on.verdict == CONFORM_PASS, "%s", on.failure);
  static const char caps[] = "\x05\x1a" "configuration/capabilities\0\0\0\1\0\0\0\1\x0f"
                             "x-ignore-shared";
  ck_assert_uint_eq(find_bytes(capture.bytes, capture.count, caps, sizeof(caps) - 1),
                    8 + 1 + 4 + strlen("migsim-1.0"));
  /* A destination without the capability refuses the stream before any RAM. */
  struct sim_options options = {.seed = scenario.seed};
  struct sim *sim = sim_create(&options);
  struct machine *dest = machine_create(sim, &scenario.machine, 1);
  struct mig_reader reader;
  mig_reader_init_memory(&reader, capture.bytes, capture.count);
  struct mig_load_stats stats;
  ck_assert_int_eq(mig_load_machine(&reader, dest, &stats), MIG_ERR_CONFIG_MISMATCH);
  ck_assert_str_eq(mig_reader_error(&reader)->path, "configuration/capabilities");
  sim_destroy(sim);
  mig_membuf_deinit(&capture);
  /* Off: the same guest sends its shared blocks too, so many more pages. */
  scenario.commands[0].caps_state.on[MIG_CAP_X_IGNORE_SHARED] = false;
  conform_check(&scenario, false, NULL, NULL, &off);
  ck_assert_msg(off.verdict == CONFORM_PASS, "%s", off.failure);
  uint64_t shared_pages = (16777216 + 4194304) / RAM_PAGE_BYTES;
  ck_assert_uint_ge(off.stats.normal_pages_count + off.stats.zero_pages_count,
                    on.stats.normal_pages_count + on.stats.zero_pages_count + shared_pages);
  ck_assert_uint_eq(on.guest_digest, off.guest_digest);
  conform_run_result_deinit(&on);
  conform_run_result_deinit(&off);
}
END_TEST

/* Two machines of ram-synthetic.json on one new sim, booted alike; returns the sim. */
static struct sim *synthetic_pair(struct machine **a, struct machine **b)
{
  static struct conform_scenario scenario;
  load("conformance/scenarios/ram-synthetic.json", &scenario);
  struct sim_options options = {.seed = scenario.seed};
  struct sim *sim = sim_create(&options);
  *a = machine_create(sim, &scenario.machine, 0);
  *b = machine_create(sim, &scenario.machine, 1);
  machine_boot(*a);
  machine_boot(*b);
  return sim;
}

/* Takes a's snapshot into *snapshot; b must equal it, by the compare and the guest digest. */
static void snapshot_take_equal(struct conform_snapshot *snapshot, const struct machine *a,
                                const struct machine *b)
{
  conform_snapshot_take(snapshot, a, true);
  char failure[512] = "";
  ck_assert_msg(conform_snapshot_compare(snapshot, b, failure, sizeof(failure)), "%s",
                failure);
  ck_assert_uint_eq(conform_guest_digest(a), conform_guest_digest(b));
}

START_TEST(conform_ram_oracle_names_the_synthetic_page)
{
  /* Two machines booted alike compare equal; a store or a checksum differing is named. */
  struct machine *a, *b;
  struct sim *sim = synthetic_pair(&a, &b);
  struct conform_snapshot snapshot;
  snapshot_take_equal(&snapshot, a, b);
  char failure[512] = "";
  ram_store(machine_ram(b, 3), 0x123, 5, 99);
  ck_assert(!conform_snapshot_compare(&snapshot, b, failure, sizeof(failure)));
  ck_assert_str_eq(failure, "ram/vga.vram/0x123000: page 0x123 zero at the source only");
  char path[MIG_PATH_BYTES_MAX];
  conform_failure_path(failure, path, sizeof path);
  ck_assert_str_eq(path, "ram/vga.vram/0x123000");
  ram_store(machine_ram(a, 3), 0x123, 5, 99);
  ck_assert_uint_eq(conform_guest_digest(a), conform_guest_digest(b));
  ram_store(machine_ram(a, 0), 3, 0, 1);
  ck_assert_uint_ne(conform_guest_digest(a), conform_guest_digest(b));
  conform_snapshot_deinit(&snapshot);
  /* The workload's checksum is guest-visible state: a difference is named by its path. */
  conform_snapshot_take(&snapshot, b, true);
  ((struct vcpu *)machine_vcpu(b, 1))->checksum ^= 1;
  ck_assert(!conform_snapshot_compare(&snapshot, b, failure, sizeof(failure)));
  ck_assert_msg(strncmp(failure, "cpu/workload/checksum: ", 23) == 0, "%s", failure);
  conform_failure_path(failure, path, sizeof path);
  ck_assert_str_eq(path, "cpu/workload/checksum");
  conform_snapshot_deinit(&snapshot);
  sim_destroy(sim);
}
END_TEST

START_TEST(conform_ram_oracle_checks_loaded_synthetic_bytes)
{
  /*
   * A loaded page recorded by its generation must hold exactly that
   * generation's bytes: one flipped bit, loaded, is named by the snapshot
   * compare and changes the guest digest; the right bytes compare equal.
   */
  struct machine *a, *b;
  struct sim *sim = synthetic_pair(&a, &b);
  struct ram_block *block_a = machine_ram(a, 0), *block_b = machine_ram(b, 0);
  ram_store(block_a, 7, 0, 1);
  uint8_t scratch[RAM_PAGE_BYTES], bad[RAM_PAGE_BYTES];
  memcpy(bad, ram_page_read(block_a, 7, scratch), sizeof(bad));
  ram_page_load(block_b, 7, bad);
  struct conform_snapshot snapshot;
  snapshot_take_equal(&snapshot, a, b);
  char failure[512] = "";
  bad[RAM_PAGE_BYTES / 2] ^= 1;
  ram_page_load(block_b, 7, bad);
  ck_assert(!conform_snapshot_compare(&snapshot, b, failure, sizeof(failure)));
  ck_assert_msg(strstr(failure, "page 0x7 destination differs from source") != NULL, "%s",
                failure);
  ck_assert_uint_ne(conform_guest_digest(a), conform_guest_digest(b));
  conform_snapshot_deinit(&snapshot);
  sim_destroy(sim);
}
END_TEST

static const char *const resize_files[] = {
    "conformance/scenarios/ram-resize-before.json",
    "conformance/scenarios/ram-resize-cancel.json",
    "conformance/scenarios/ram-resize-retry.json",
};

#define ACPI_CANCEL_DETAIL "RAM block '/rom@etc/acpi/tables' resized during precopy."

START_TEST(conform_ram_resize_scenario_outcomes)
{
  /* Before: completes; during: cancelled, the guest runs on; retry: completes.  Both oracles. */
  static struct conform_scenario scenario;
  load(resize_files[_i], &scenario);
  static struct conform_run_result result;
  conform_check(&scenario, true, NULL, NULL, &result);
  ck_assert_msg(result.verdict == CONFORM_PASS, "%s: %s", resize_files[_i], result.failure);
  ck_assert(result.migrated);
  /* Transparency held after the cancel too: the source is the unmigrated guest. */
  ck_assert_uint_eq(result.guest_digest, result.reference_guest_digest);
  if (_i == 1) {
    ck_assert_int_eq(result.stats.status, MIG_STATE_CANCELLED);
    ck_assert(result.stats.source_failed);
    ck_assert_int_eq(result.stats.error.code, MIG_ERR_CANCELLED);
    ck_assert_str_eq(result.stats.error.path, "ram//rom@etc/acpi/tables");
    ck_assert_str_eq(result.stats.error.detail, ACPI_CANCEL_DETAIL);
    ck_assert_uint_eq(result.stats.end_ns, 300 * SIM_NS_PER_MS + 150 * SIM_NS_PER_MS);
    ck_assert_uint_eq(result.stats.stop_ns, 0);
    ck_assert_uint_gt(result.stats.normal_pages_count, 1000); /* sent before the cancel */
    ck_assert_msg(strstr(result.failure, "migration failed cleanly: ") == result.failure, "%s",
                  result.failure);
  } else {
    ck_assert_int_eq(result.stats.status, MIG_STATE_COMPLETED);
  }
  ck_assert_uint_eq(result.failed_attempts_count, _i == 0 ? 0 : 1);
  if (_i != 0) ck_assert_str_eq(result.first_error.detail, ACPI_CANCEL_DETAIL);
  /* The last step shrank the block on whichever machine ran last. */
  ck_assert_uint_eq(result.final.ram_page_counts[1], _i == 0 ? 512 : _i == 1 ? 96 : 16);
  conform_run_result_deinit(&result);
}
END_TEST

/* Offset of the block-list entry for the ACPI block with length bytes, from at, or SIZE_MAX. */
static size_t find_acpi_entry(const struct mig_membuf *capture, size_t at, uint64_t bytes)
{
  uint8_t entry[64] = "\x14/rom@etc/acpi/tables";
  size_t name_bytes = 21;
  for (int i = 0; i < 8; i++) entry[name_bytes + (size_t)i] = (uint8_t)(bytes >> (56 - 8 * i));
  size_t found = find_bytes(capture->bytes + at, capture->count - at, entry, name_bytes + 8);
  return found == SIZE_MAX ? SIZE_MAX : at + found;
}

START_TEST(conform_ram_resize_retry_lists_the_new_length)
{
  /* The cancelled stream listed 128 KiB; the retry's, later in the capture, lists 384 KiB. */
  static struct conform_scenario scenario;
  load("conformance/scenarios/ram-resize-retry.json", &scenario);
  struct mig_membuf capture;
  mig_membuf_init(&capture, (size_t)1 << 30);
  static struct conform_run_result result;
  conform_check(&scenario, false, NULL, &capture, &result);
  ck_assert_msg(result.verdict == CONFORM_PASS, "%s", result.failure);
  size_t first = find_acpi_entry(&capture, 0, 131072);
  ck_assert_uint_ne(first, SIZE_MAX);
  ck_assert_uint_eq(find_acpi_entry(&capture, 0, 393216) > first, true);
  ck_assert_uint_ne(find_acpi_entry(&capture, 0, 393216), SIZE_MAX);
  ck_assert_uint_eq(find_acpi_entry(&capture, first + 1, 131072), SIZE_MAX);
  /* Without the retry the run ends with the cancel, which "completed" now refuses. */
  scenario.retries_max = 0;
  conform_run_result_deinit(&result);
  conform_check(&scenario, false, NULL, NULL, &result);
  ck_assert_int_eq(result.verdict, CONFORM_ORACLE_VIOLATION);
  ck_assert_msg(strstr(result.failure, "expected the migration to complete; it ended cancelled: ") ==
                    result.failure && strstr(result.failure, ACPI_CANCEL_DETAIL) != NULL,
                "%s", result.failure);
  conform_run_result_deinit(&result);
  /* And a scenario expecting failure fails when the migration completes. */
  load("conformance/scenarios/ram-resize-before.json", &scenario);
  scenario.expect = CONFORM_EXPECT_FAILED;
  conform_check(&scenario, false, NULL, NULL, &result);
  ck_assert_int_eq(result.verdict, CONFORM_ORACLE_VIOLATION);
  ck_assert_str_eq(result.failure, "expected the migration to fail; it completed");
  conform_run_result_deinit(&result);
  /* A scenario that expects an outcome but never migrates has none. */
  scenario.command_count = 1; /* migrate-set-parameters only */
  conform_check(&scenario, false, NULL, NULL, &result);
  ck_assert_int_eq(result.verdict, CONFORM_ORACLE_VIOLATION);
  ck_assert_str_eq(result.failure, "expected a migration to fail; none started");
  mig_membuf_deinit(&capture);
  conform_run_result_deinit(&result);
}
END_TEST

/* Loads stream into a fresh destination built from config; returns the error. */
static enum mig_err load_into(const struct conform_scenario *scenario,
                              const struct machine_config *config, const struct mig_membuf *stream,
                              struct mig_error *error, uint64_t *acpi_used_bytes)
{
  struct sim_options options = {.seed = scenario->seed};
  struct sim *sim = sim_create(&options);
  struct machine *dest = machine_create(sim, config, 1);
  struct mig_reader reader;
  mig_reader_init_memory(&reader, stream->bytes, stream->count);
  struct mig_load_stats stats;
  enum mig_err err = mig_load_machine(&reader, dest, &stats);
  *error = *mig_reader_error(&reader);
  *acpi_used_bytes = machine_ram(dest, 1)->used_bytes;
  sim_destroy(sim);
  return err;
}

START_TEST(conform_ram_resize_destination_takes_or_refuses_the_length)
{
  /* The guest grew its 2 MiB ACPI block to 4 MiB: a destination resizes, or names the block. */
  static struct conform_scenario scenario;
  load("conformance/scenarios/ram-resize-before.json", &scenario);
  struct mig_membuf capture;
  mig_membuf_init(&capture, (size_t)1 << 30);
  static struct conform_run_result result;
  conform_check(&scenario, false, NULL, &capture, &result);
  ck_assert_msg(result.verdict == CONFORM_PASS, "%s", result.failure);
  size_t entry = find_acpi_entry(&capture, 0, 4194304);
  ck_assert_uint_ne(entry, SIZE_MAX);
  static struct machine_config config;
  config = scenario.machine;
  struct mig_error error;
  uint64_t acpi_used_bytes;
  ck_assert_int_eq(load_into(&scenario, &config, &capture, &error, &acpi_used_bytes), MIG_OK);
  ck_assert_uint_eq(acpi_used_bytes, 4194304);
  config.ram[1].resize_count = 0; /* steps beyond the new maximum would not fit */
  config.ram[1].max_bytes = 2097152; /* resizable only up to what it has */
  ck_assert_int_eq(load_into(&scenario, &config, &capture, &error, &acpi_used_bytes),
                   MIG_ERR_RAM_BLOCK);
  ck_assert_str_eq(error.path, "ram//rom@etc/acpi/tables");
  ck_assert_str_eq(error.detail, "Size too large: /rom@etc/acpi/tables: 0x400000 > 0x200000");
  ck_assert_uint_eq(error.offset, entry);
  ck_assert_uint_eq(acpi_used_bytes, 2097152);
  config.ram[1].max_bytes = 0; /* fixed size */
  ck_assert_int_eq(load_into(&scenario, &config, &capture, &error, &acpi_used_bytes),
                   MIG_ERR_RAM_BLOCK);
  ck_assert_str_eq(error.detail, "Size mismatch: /rom@etc/acpi/tables: 0x400000 != 0x200000");
  ck_assert_uint_eq(error.offset, entry);
  mig_membuf_deinit(&capture);
  conform_run_result_deinit(&result);
}
END_TEST

#define RESIZE_POINTS_COUNT 16
#define RESIZE_POINT_STEP_NS (50 * SIM_NS_PER_MS)

/*
 * The slower extra builds (asan, debug, clang, coverage) ask for a shorter
 * sweep with MIGSIM_PROPERTY_SEEDS; then the loops below take every third
 * resize point (still on both sides of the migration) and one seed per scenario.
 */
static bool sweep_reduced(void)
{
  const char *seeds = getenv("MIGSIM_PROPERTY_SEEDS");
  return seeds != NULL && atoi(seeds) > 0 && atoi(seeds) < 200;
}

START_TEST(conform_ram_resize_at_every_point)
{
  /*
   * Anomaly loop: the guest resizes at migrate + k x 50 ms, from the migrate
   * command itself to after the switchover.  Every point either completes or
   * is cancelled at exactly the resize, with the block named; both oracles hold.
   */
  static struct conform_scenario scenario;
  load("conformance/scenarios/ram-resize-cancel.json", &scenario);
  scenario.expect = CONFORM_EXPECT_ANY;
  uint64_t resize_ns = 300 * SIM_NS_PER_MS + (uint64_t)_i * RESIZE_POINT_STEP_NS;
  scenario.machine.ram[1].resizes[0].at_vm_ns = resize_ns;
  static struct conform_run_result result;
  conform_check(&scenario, false, NULL, NULL, &result);
  ck_assert_msg(result.verdict == CONFORM_PASS, "resize at %" PRIu64 " ns: %s", resize_ns,
                result.failure);
  ck_assert_uint_eq(result.guest_digest, result.reference_guest_digest);
  ck_assert_uint_eq(result.final.ram_page_counts[1], 96);
  /* This seed's migration runs from 300 ms to about 900 ms: points 1..11 fall inside it. */
  if (_i >= 1 && _i <= 11) ck_assert_int_eq(result.stats.status, MIG_STATE_CANCELLED);
  if (_i >= 13) ck_assert_int_eq(result.stats.status, MIG_STATE_COMPLETED);
  if (result.stats.status == MIG_STATE_CANCELLED) {
    ck_assert_str_eq(result.stats.error.detail, ACPI_CANCEL_DETAIL);
    ck_assert_uint_eq(result.stats.end_ns, resize_ns);
    } else {
    ck_assert_int_eq(result.stats.status, MIG_STATE_COMPLETED);
    /* Completed: the resize came before the setup listed the block, or after the stop. */
    ck_assert(resize_ns <= result.stats.start_ns || resize_ns >= result.stats.stop_ns);
  }
  conform_run_result_deinit(&result);
}
END_TEST

#define RESIZE_SWEEP_SEEDS_PER_SCENARIO 2
#define RESIZE_SWEEP_SEED_BASE UINT64_C(3000)

START_TEST(conform_ram_resize_seed_sweep)
{
  /* Property: each resize scenario passes its expectation and both oracles on other seeds. */
  sweep_step(resize_files, SIM_ARRAY_COUNT(resize_files), RESIZE_SWEEP_SEED_BASE, _i);
}
END_TEST

/* Parses text and returns the error message (static storage). */
static const char *ram_parse_error(const char *machine_ram, const char *workload)
{
  static char text[4096];
  snprintf(text, sizeof(text),
           "{\"seed\": 1, \"limits\": {\"events_max\": 10, \"time_ns_max\": 10},\n"
           "\"machine\": {\"type\": \"t\",\n"
           "\"ram\": %s},\n"
           "\"workload\": %s,\n"
           "\"link\": {\"bandwidth_bytes_per_s\": 1, \"latency_ns\": 0}}\n",
           machine_ram, workload);
  static struct conform_scenario scenario;
  static char error[CONFORM_ERROR_BYTES];
  bool ok = conform_scenario_parse(text, strlen(text), "r.json", &scenario, error,
                                   sizeof(error));
  ck_assert_msg(!ok, "accepted: %s", text);
  return error;
}

#define RAM_OK "[{\"name\": \"pc.ram\", \"bytes\": 65536}]"
#define WL_OK "{\"pages_per_s\": 1, \"duration_ns\": 1}"

static void expect_error(const char *ram, const char *workload, const char *where,
                         const char *message)
{
  const char *error = ram_parse_error(ram, workload);
  ck_assert_msg(strncmp(error, where, strlen(where)) == 0 && strstr(error, message) != NULL,
                "want %s ... %s, got %s", where, message, error);
}

START_TEST(conform_ram_scenario_errors_are_located)
{
  /* Every RAM and workload key is range-checked, with file:line:col and a message. */
  expect_error("[{\"name\": \"pc.ram\", \"bytes\": 65536, \"backing\": \"sparse\"}]", WL_OK,
               "r.json:3:", "\"backing\" must be \"dense\" or \"synthetic\"");
  expect_error("[{\"name\": \"pc.ram\", \"bytes\": 65536, \"page_bytes\": 8192}]", WL_OK,
               "r.json:3:", "\"page_bytes\" must be 4096 or 2097152");
  expect_error("[{\"name\": \"pc.ram\", \"bytes\": 65536, \"page_bytes\": 2097152}]", WL_OK,
               "r.json:3:", "\"bytes\" is 65536, outside 2097152..");
  expect_error("[{\"name\": \"pc.ram\", \"bytes\": 3145728, \"page_bytes\": 2097152}]", WL_OK,
               "r.json:3:", "\"bytes\" must be whole 2 MiB pages");
  expect_error("[{\"name\": \"a\", \"bytes\": 8192, \"boot_bytes\": 4096}]", WL_OK,
               "r.json:3:", "\"boot_bytes\" needs a resizable block");
  expect_error("[{\"name\": \"a\", \"bytes\": 8192, \"max_bytes\": 4096}]", WL_OK,
               "r.json:3:", "\"max_bytes\" is smaller than \"bytes\"");
  expect_error("[{\"name\": \"a\", \"bytes\": 8192, \"shared\": 1}]", WL_OK, "r.json:3:",
               "\"shared\" must be true or false");
  expect_error("[{\"name\": \"a\", \"bytes\": 8192, \"gpa\": 100}]", WL_OK, "r.json:3:",
               "\"gpa\" must be 4 KiB aligned");
  expect_error("[{\"name\": \"a\", \"bytes\": 4294967296}, {\"name\": \"b\", \"bytes\": 4096}]",
               WL_OK, "r.json:3:", "dense RAM totals more than");
  expect_error(RAM_OK, "{\"kind\": \"random\", \"pages_per_s\": 1, \"duration_ns\": 1}",
               "r.json:4:", "\"kind\" must be one of");
  expect_error(RAM_OK, "{\"kind\": \"hotset\", \"pages_per_s\": 1, \"duration_ns\": 1}",
               "r.json:4:", "kind \"hotset\" needs \"hot_pages\"");
  expect_error(RAM_OK, "{\"kind\": \"uniform\", \"s\": 1, \"pages_per_s\": 1, "
               "\"duration_ns\": 1}", "r.json:4:", "\"s\" does not apply to kind \"uniform\"");
  expect_error(RAM_OK, "{\"kind\": \"zipf\", \"s\": 9.5, \"pages_per_s\": 1, "
               "\"duration_ns\": 1}", "r.json:4:", "\"s\" must be a number with 0 <= x <= 8");
  expect_error(RAM_OK, "{\"kind\": \"hotset\", \"hot_pages\": 0, \"hot_writes\": 1, "
               "\"pages_per_s\": 1, \"duration_ns\": 1}", "r.json:4:",
               "\"hot_pages\" must be a number with 0 < x <= 1");
  expect_error(RAM_OK, "{\"kind\": \"idle\", \"pages_per_s\": 5}", "r.json:4:",
               "\"pages_per_s\" does not apply to kind \"idle\"");
  expect_error(RAM_OK, "{\"block\": \"vga.vram\", \"pages_per_s\": 1, \"duration_ns\": 1}",
               "r.json:4:", "no RAM block \"vga.vram\"");
  expect_error(RAM_OK, "{\"vcpus\": 9, \"pages_per_s\": 1, \"duration_ns\": 1}", "r.json:4:",
               "\"vcpus\" is 9, outside 1..8");
  expect_error(RAM_OK, "[" WL_OK ", {\"vcpus\": 2}]", "r.json:4:",
               "\"vcpus\" belongs to the object form");
  expect_error(RAM_OK, "[]", "r.json:4:", "\"workload\" must list 1..8 vCPU programs");
  expect_error("[{\"name\": \"a\", \"bytes\": 8192, \"resizes\": [{\"at_vm_ns\": 1, "
               "\"bytes\": 4096}]}]", WL_OK, "r.json:3:",
               "\"resizes\" needs a resizable block (\"max_bytes\")");
  expect_error("[{\"name\": \"a\", \"bytes\": 8192, \"max_bytes\": 16384, \"resizes\": "
               "[{\"at_vm_ns\": 1, \"bytes\": 20480}]}]", WL_OK, "r.json:3:",
               "\"bytes\" is 20480, outside 4096..16384");
  expect_error("[{\"name\": \"a\", \"bytes\": 8192, \"max_bytes\": 16384, \"resizes\": "
               "[{\"at_vm_ns\": 1, \"bytes\": 4096, \"when\": 2}]}]", WL_OK, "r.json:3:",
               "unknown key \"when\"");
  expect_error("[{\"name\": \"a\", \"bytes\": 8192, \"max_bytes\": 16384, \"resizes\": "
               "[]}]", WL_OK, "r.json:3:", "\"resizes\" must be an array of 1..8 objects");
}
END_TEST

START_TEST(conform_ram_migration_outcome_keys_are_checked)
{
  /* retry_delay_ns, retries and expect: ranges, dependencies and values, located. */
  static const struct {
    const char *migration;
    const char *message;
  } cases[] = {
      {"{\"retries\": 2}", "\"retries\" needs \"retry_delay_ns\""},
      {"{\"retry_delay_ns\": 5, \"retries\": 9}", "\"retries\" is 9, outside 1..8"},
      {"{\"expect\": \"fail\"}",
       "\"expect\" must be \"completed\", \"failed\" or \"cancelled\""},
  };
  for (size_t i = 0; i < SIM_ARRAY_COUNT(cases); i++) {
    char text[1024];
    snprintf(text, sizeof(text),
             "{\"seed\": 1, \"limits\": {\"events_max\": 10, \"time_ns_max\": 10},\n"
             "\"machine\": {\"type\": \"t\", \"ram\": " RAM_OK "},\n\"workload\": " WL_OK ",\n"
             "\"link\": {\"bandwidth_bytes_per_s\": 1, \"latency_ns\": 0},\n"
             "\"migration\": %s}\n", cases[i].migration);
    static struct conform_scenario scenario;
    char error[CONFORM_ERROR_BYTES];
    ck_assert(!conform_scenario_parse(text, strlen(text), "m.json", &scenario, error,
                                      sizeof(error)));
    ck_assert_msg(strncmp(error, "m.json:5:", 9) == 0 && strstr(error, cases[i].message),
                  "want %s, got %s", cases[i].message, error);
  }
  static struct conform_scenario scenario;
  load("conformance/scenarios/ram-resize-retry.json", &scenario);
  ck_assert_uint_eq(scenario.retry_delay_ns, 200 * SIM_NS_PER_MS);
  ck_assert_uint_eq(scenario.retries_max, 1);
  ck_assert_int_eq(scenario.expect, CONFORM_EXPECT_COMPLETED);
  ck_assert_uint_eq(scenario.machine.ram[1].resize_count, 2);
  ck_assert_uint_eq(scenario.machine.ram[1].resizes[1].used_bytes, 65536);
}
END_TEST

Suite *conform_ram_suite(void)
{
  Suite *suite = suite_create("conform_ram");
  TCase *scenario = tcase_create("scenario");
  tcase_add_test(scenario, conform_ram_scenario_errors_are_located);
  tcase_add_test(scenario, conform_ram_migration_outcome_keys_are_checked);
  suite_add_tcase(suite, scenario);
  TCase *run = tcase_create("run");
  tcase_set_timeout(run, 300);
  tcase_add_loop_test(run, conform_ram_workload_scenario_migrates, 0,
                      (int)SIM_ARRAY_COUNT(workload_files));
  tcase_add_test(run, conform_ram_resize_is_in_the_block_list);
  tcase_add_test(run, conform_ram_oracle_names_the_synthetic_page);
  tcase_add_test(run, conform_ram_oracle_checks_loaded_synthetic_bytes);
  tcase_add_test(run, conform_ram_ignore_shared_leaves_shared_pages_out);
  tcase_add_loop_test(run, conform_ram_resize_scenario_outcomes, 0,
                      (int)SIM_ARRAY_COUNT(resize_files));
  tcase_add_test(run, conform_ram_resize_retry_lists_the_new_length);
  tcase_add_test(run, conform_ram_resize_destination_takes_or_refuses_the_length);
  for (int point = 0; point < RESIZE_POINTS_COUNT; point += sweep_reduced() ? 3 : 1) {
    tcase_add_loop_test(run, conform_ram_resize_at_every_point, point, point + 1);
  }
  suite_add_tcase(suite, run);
  TCase *property = tcase_create("property");
  tcase_set_timeout(property, 600);
  int seeds_per_scenario = sweep_reduced() ? 1 : RAM_SWEEP_SEEDS_PER_SCENARIO;
  tcase_add_loop_test(property, conform_ram_workload_seed_sweep, 0,
                      (int)SIM_ARRAY_COUNT(workload_files) * seeds_per_scenario);
  seeds_per_scenario = sweep_reduced() ? 1 : RESIZE_SWEEP_SEEDS_PER_SCENARIO;
  tcase_add_loop_test(property, conform_ram_resize_seed_sweep, 0,
                      (int)SIM_ARRAY_COUNT(resize_files) * seeds_per_scenario);
  suite_add_tcase(suite, property);
  return suite;
}
