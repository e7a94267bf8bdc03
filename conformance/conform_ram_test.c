/*
 * conform_ram_test.c: RAM blocks and guest workloads across the layers: every
 * workload scenario in conformance/scenarios/ram-*.json migrates and passes
 * both oracles, resizes show in the stream, the page oracle names the page,
 * and bad RAM or workload keys are located errors.  Scenario files are read
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
  ck_assert_int_eq(result.stats.status, MIG_PRECOPY_COMPLETED);
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

START_TEST(conform_ram_workload_seed_sweep)
{
  /* Property: every workload scenario passes both oracles and runs identically twice. */
  size_t file = (size_t)_i % SIM_ARRAY_COUNT(workload_files);
  static struct conform_scenario scenario;
  load(workload_files[file], &scenario);
  scenario.seed = RAM_SWEEP_SEED_BASE + (uint64_t)_i / SIM_ARRAY_COUNT(workload_files);
  static struct conform_run_result result;
  conform_check(&scenario, true, NULL, NULL, &result);
  ck_assert_msg(result.verdict == CONFORM_PASS,
                "%s seed %" PRIu64 " trace digest 0x%016" PRIx64 ": %s: %s\n"
                "reproduce: migsim run %s --seed %" PRIu64 " --twice", workload_files[file],
                scenario.seed, result.trace_digest, conform_verdict_name(result.verdict),
                result.failure, workload_files[file], scenario.seed);
  ck_assert_uint_eq(result.guest_digest, result.reference_guest_digest);
  conform_run_result_deinit(&result);
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
  ck_assert(scenario.commands[0].has_x_ignore_shared && scenario.commands[0].x_ignore_shared);
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
  scenario.commands[0].x_ignore_shared = false;
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

START_TEST(conform_ram_oracle_names_the_synthetic_page)
{
  /* Two machines booted alike compare equal; a store or a checksum differing is named. */
  static struct conform_scenario scenario;
  load("conformance/scenarios/ram-synthetic.json", &scenario);
  struct sim_options options = {.seed = scenario.seed};
  struct sim *sim = sim_create(&options);
  struct machine *a = machine_create(sim, &scenario.machine, 0);
  struct machine *b = machine_create(sim, &scenario.machine, 1);
  machine_boot(a);
  machine_boot(b);
  struct conform_snapshot snapshot;
  conform_snapshot_take(&snapshot, a, true);
  char failure[512] = "";
  ck_assert_msg(conform_snapshot_compare(&snapshot, b, failure, sizeof(failure)), "%s",
                failure);
  ck_assert_uint_eq(conform_guest_digest(a), conform_guest_digest(b));
  ram_store(machine_ram(b, 3), 0x123, 5, 99);
  ck_assert(!conform_snapshot_compare(&snapshot, b, failure, sizeof(failure)));
  ck_assert_str_eq(failure, "ram/vga.vram page 0x123 (offset 0x123000): "
                            "zero at the source only");
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
  conform_snapshot_deinit(&snapshot);
  sim_destroy(sim);
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
}
END_TEST

Suite *conform_ram_suite(void)
{
  Suite *suite = suite_create("conform_ram");
  TCase *scenario = tcase_create("scenario");
  tcase_add_test(scenario, conform_ram_scenario_errors_are_located);
  suite_add_tcase(suite, scenario);
  TCase *run = tcase_create("run");
  tcase_set_timeout(run, 300);
  tcase_add_loop_test(run, conform_ram_workload_scenario_migrates, 0,
                      (int)SIM_ARRAY_COUNT(workload_files));
  tcase_add_test(run, conform_ram_resize_is_in_the_block_list);
  tcase_add_test(run, conform_ram_oracle_names_the_synthetic_page);
  tcase_add_test(run, conform_ram_ignore_shared_leaves_shared_pages_out);
  suite_add_tcase(suite, run);
  TCase *property = tcase_create("property");
  tcase_set_timeout(property, 600);
  tcase_add_loop_test(property, conform_ram_workload_seed_sweep, 0,
                      (int)(SIM_ARRAY_COUNT(workload_files) * RAM_SWEEP_SEEDS_PER_SCENARIO));
  suite_add_tcase(suite, property);
  return suite;
}
