/*
 * conform_matrix_test.c: the compatibility matrix (conform_matrix.h), the
 * golden matrix and golden streams (conformance/golden/), and per-side
 * configuration in scenarios (conform_scenario.h "destination").
 */
#include "sim_base.h"

#include "conform_matrix.h"
#include "conform_run.h"
#include "sim_check.h"

#include <dirent.h>

#define GOLDEN_MATRIX "conformance/golden/matrix.json"
#define GOLDEN_STREAMS "conformance/golden/streams"

/* A release pair on sim-<machine>, with extra text spliced into the destination object. */
static void pair_text(const char *from, const char *to, const char *machine, const char *extra,
                      char *out, size_t out_bytes)
{
  snprintf(out, out_bytes,
           "{\"seed\": 1, \"limits\": {\"events_max\": 2000000, \"time_ns_max\": 5000000000},\n"
           " \"machine\": {\"type\": \"%s\", \"release\": \"%s\",\n"
           "  \"ram\": [{\"name\": \"pc.ram\", \"bytes\": 1048576}],\n"
           "  \"devices\": [{\"driver\": \"simnet\", \"addr\": \"00:05.0\"}]},\n"
           " \"destination\": {\"release\": \"%s\"%s},\n"
           " \"workload\": {\"pages_per_s\": 100, \"duration_ns\": 300000000, "
           "\"fill_pages\": 8},\n"
           " \"link\": {\"bandwidth_bytes_per_s\": 268435456, \"latency_ns\": 100000,\n"
           "          \"window_bytes\": 1048576, \"packet_bytes\": 65536},\n"
           " \"commands\": [{\"at_ns\": 100000000, \"execute\": \"migrate\",\n"
           "               \"arguments\": {\"uri\": \"sim:link0\"}}]}\n",
           machine, from, to, extra);
}

static void check_text(const char *text, struct conform_run_result *result)
{
  static struct conform_scenario scenario;
  char error[CONFORM_ERROR_BYTES];
  ck_assert_msg(conform_scenario_parse(text, strlen(text), "<test>", &scenario, error,
                                       sizeof(error)), "%s", error);
  conform_check(&scenario, false, NULL, NULL, result);
}

START_TEST(conform_matrix_golden_unchanged)
{
  /* Goal: every cell's two verdicts agree and none changed from the committed golden matrix. */
  struct conform_matrix_options options = {.shard_count = 1, .capability_sets = 1};
  struct conform_matrix_result result;
  char why[CONFORM_ERROR_BYTES];
  ck_assert_msg(conform_matrix_run(&options, &result, why, sizeof(why)), "%s", why);
  ck_assert_uint_eq(result.cell_count, 120);     /* 5 x 5 x 4 pairs, 5 chains x 4 */
  ck_assert_uint_eq(result.disagree_count, 0);
  ck_assert_uint_gt(result.schema_blind_count, 0); /* what only the dynamic run sees exists */
  json_error_t error;
  json_t *golden = json_load_file(GOLDEN_MATRIX, 0, &error);
  ck_assert_msg(golden != NULL, "%s: %s", GOLDEN_MATRIX, error.text);
  char *changes_text = NULL;
  size_t changes_bytes = 0;
  FILE *changes = open_memstream(&changes_text, &changes_bytes);
  uint32_t changed = conform_matrix_golden_check(&result, golden, changes);
  fclose(changes);
  ck_assert_msg(changed == 0, "%s", changes_text);
  free(changes_text);
  /* A changed outcome is named with its cell and both reasons. */
  struct conform_matrix_cell *cell = &result.cells[1];     /* 1.0>1.1:sim-1.0:none */
  ck_assert_str_eq(cell->id, "1.0>1.1:sim-1.0:none");
  ck_assert_str_eq(cell->observed.kind, "BAD_CONFIG_DATA");
  cell->observed.outcome = CONFORM_MATRIX_PASS;
  changes = open_memstream(&changes_text, &changes_bytes);
  ck_assert_uint_eq(conform_matrix_golden_check(&result, golden, changes), 1);
  fclose(changes);
  ck_assert_msg(strstr(changes_text, "cell 1.0>1.1:sim-1.0:none: dynamic verdict changed: "
                                     "golden refused BAD_CONFIG_DATA simnet (") != NULL,
                "%s", changes_text);
  free(changes_text);
  json_decref(golden);
  conform_matrix_result_deinit(&result);
}
END_TEST

START_TEST(conform_matrix_shards_partition)
{
  /* Goal: --shard I/N over N = 3 covers every cell exactly once, with the same verdicts. */
  struct conform_matrix_options options = {.shard_count = 1, .capability_sets = 3,
                                           .static_only = true};
  struct conform_matrix_result whole, part;
  char why[CONFORM_ERROR_BYTES];
  ck_assert(conform_matrix_run(&options, &whole, why, sizeof(why)));
  ck_assert_uint_eq(whole.total_count, 240);
  uint32_t seen = 0;
  for (uint32_t shard = 0; shard < 3; shard++) {
    options.shard_index = shard;
    options.shard_count = 3;
    ck_assert(conform_matrix_run(&options, &part, why, sizeof(why)));
    for (uint32_t i = 0; i < part.cell_count; i++) {
      const struct conform_matrix_cell *cell = &part.cells[i];
      ck_assert_uint_eq(cell->index % 3, shard);
      ck_assert_str_eq(cell->id, whole.cells[cell->index].id);
      ck_assert_int_eq(cell->expected.outcome, whole.cells[cell->index].expected.outcome);
      seen++;
    }
    conform_matrix_result_deinit(&part);
  }
  ck_assert_uint_eq(seen, whole.cell_count);
  conform_matrix_result_deinit(&whole);
}
END_TEST

/* Each golden stream file name: "<release>-sim-<machine>.bin". */
static bool stream_name_parse(const char *name, uint32_t *release, uint32_t *machine)
{
  char release_name[16], machine_name[24];
  const char *dash = strstr(name, "-sim-");
  size_t length = strlen(name);
  if (dash == NULL || length < 4 || strcmp(name + length - 4, ".bin") != 0) return false;
  snprintf(release_name, sizeof(release_name), "%.*s", (int)(dash - name), name);
  snprintf(machine_name, sizeof(machine_name), "%.*s", (int)(name + length - 4 - dash - 1),
           dash + 1);
  return compat_release_find(release_name, release) != NULL &&
         compat_machine_find(*release, machine_name, machine);
}

static uint8_t *file_read(const char *path, size_t *count)
{
  FILE *file = fopen(path, "rb");
  ck_assert_msg(file != NULL, "%s", path);
  uint8_t *bytes = malloc(1u << 22);
  ck_assert_ptr_nonnull(bytes);
  *count = fread(bytes, 1, 1u << 22, file);
  fclose(file);
  return bytes;
}

/* One stream into release to: loaded exactly when the matrix's static verdict says pass. */
static void stream_check(const char *name, const uint8_t *bytes, size_t count, uint32_t from,
                         uint32_t to, uint32_t machine)
{
  struct conform_matrix_verdict expected;
  char why[CONFORM_ERROR_BYTES];
  ck_assert(conform_matrix_pair_expected(from, to, machine, &expected, why, sizeof(why)));
  struct mig_error error;
  enum mig_err err = conform_matrix_stream_load(to, machine, bytes, count, &error);
  if (expected.outcome == CONFORM_MATRIX_REFUSED) {
    ck_assert_msg(err != MIG_OK, "%s into %s: loaded, the matrix says %s", name,
                  compat_release_at(to)->name, expected.reason);
    ck_assert_str_eq(conform_matrix_error_kind(&error), expected.kind);
  } else {
    ck_assert_msg(err == MIG_OK, "%s into %s: %s (%s)", name, compat_release_at(to)->name,
                  mig_err_name(err), error.detail);
  }
}

START_TEST(conform_matrix_golden_streams)
{
  /* Goal: each release's committed stream loads into every later release, or is refused as
   * the matrix says (the same kind of error). */
  DIR *dir = opendir(GOLDEN_STREAMS);
  ck_assert_msg(dir != NULL, "%s", GOLDEN_STREAMS);
  uint32_t files = 0, loads = 0;
  for (struct dirent *entry; (entry = readdir(dir)) != NULL;) {
    uint32_t release, machine;
    if (!stream_name_parse(entry->d_name, &release, &machine)) continue;
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", GOLDEN_STREAMS, entry->d_name);
    size_t count = 0;
    uint8_t *bytes = file_read(path, &count);
    for (uint32_t to = release; to < COMPAT_RELEASES_COUNT; to++) {
      stream_check(entry->d_name, bytes, count, release, to, machine);
      loads++;
    }
    free(bytes);
    files++;
  }
  closedir(dir);
  ck_assert_uint_eq(files, 12); /* every (release, machine type) it offers */
  ck_assert_uint_eq(loads, 29); /* 15 + 10 + 3 + 1: into itself and every later release */
}
END_TEST

START_TEST(conform_matrix_golden_streams_reproduce)
{
  /* Goal: today's writer produces the committed bytes (a change of a release's stream is seen). */
  struct mig_membuf stream;
  char why[CONFORM_ERROR_BYTES];
  ck_assert_msg(conform_matrix_stream_record(3, 1, &stream, why, sizeof(why)), "%s", why);
  size_t count = 0;
  uint8_t *bytes = file_read(GOLDEN_STREAMS "/2.0-sim-1.1.bin", &count);
  /* Intended writer changes: `migsim matrix --write-streams conformance/golden/streams`. */
  ck_assert_msg(stream.count == count && memcmp(stream.bytes, bytes, count) == 0,
                "the 2.0/sim-1.1 stream changed (%zu bytes, golden %zu)", stream.count, count);
  free(bytes);
  mig_membuf_deinit(&stream);
}
END_TEST

START_TEST(conform_scenario_destination_host_feature)
{
  /* Goal: a destination host without USO refuses a guest that negotiated it; the source runs on. */
  char text[2048];
  struct conform_run_result result;
  pair_text("2.0", "2.0", "sim-2.0",
            ", \"devices\": [{\"addr\": \"00:05.0\", \"host-uso\": false}]", text,
            sizeof(text));
  check_text(text, &result);
  ck_assert_int_eq(result.verdict, CONFORM_PASS);
  ck_assert(result.stats.dest_refused);
  ck_assert_int_eq(result.stats.error.code, MIG_ERR_HOOK);
  ck_assert_str_eq(result.stats.error.path, "0000:00:05.0/simnet");
  ck_assert_str_eq(result.stats.error.detail, "Features 0x1c0000000400021 unsupported. Allowed "
                                              "features: 0x400021");
  ck_assert_uint_eq(result.guest_digest, result.reference_guest_digest); /* source intact */
  conform_run_result_deinit(&result);
  pair_text("2.0", "2.0", "sim-2.0", "", text, sizeof(text));
  check_text(text, &result);
  ck_assert_int_eq(result.stats.status, MIG_STATE_COMPLETED);
  conform_run_result_deinit(&result);
}
END_TEST

START_TEST(conform_scenario_destination_config_byte)
{
  /* Goal: a guest-visible default changed on one side only: "Bad config data" names the byte. */
  char text[2048];
  struct conform_run_result result;
  pair_text("2.1", "2.1", "sim-2.0", ", \"devices\": [{\"addr\": \"00:05.0\", \"cfg-bytes\": 12}]",
            text, sizeof(text));
  check_text(text, &result);
  ck_assert_int_eq(result.verdict, CONFORM_PASS);
  ck_assert(result.stats.dest_refused);
  ck_assert_str_eq(result.stats.error.path, "0000:00:05.0/simnet/pci");
  ck_assert_str_eq(result.stats.error.detail, "Bad config data: i=0x43 read: 8 device: c cmask: "
                                              "ff wmask: 0 w1cmask:0");
  ck_assert_str_eq(result.failure_at.path, "0000:00:05.0/simnet/pci");
  ck_assert(result.failure_at.has_offset);
  conform_run_result_deinit(&result);
}
END_TEST

START_TEST(conform_scenario_destination_ram_layout)
{
  /* Goal: a per-side RAM layout: a smaller destination block refuses the RAM block list. */
  char text[2048];
  struct conform_run_result result;
  pair_text("1.0", "1.0", "sim-1.0", ", \"ram\": [{\"name\": \"pc.ram\", \"bytes\": 524288}]",
            text, sizeof(text));
  check_text(text, &result);
  ck_assert_int_eq(result.verdict, CONFORM_PASS);
  ck_assert(result.stats.dest_refused);
  ck_assert_int_eq(result.stats.error.code, MIG_ERR_RAM_BLOCK);
  ck_assert_str_eq(result.stats.error.path, "ram/pc.ram");
  ck_assert_str_eq(result.stats.error.detail, "Size mismatch: pc.ram: 0x100000 != 0x80000");
  bool refused = false;
  for (uint32_t i = 0; i < result.timeline_count; i++) {
    refused |= strcmp(result.timeline[i].what, "load-refused") == 0;
  }
  ck_assert(refused);
  ck_assert_uint_eq(result.guest_digest, result.reference_guest_digest); /* source intact */
  conform_run_result_deinit(&result);
}
END_TEST

START_TEST(conform_scenario_destination_live_section)
{
  /* Goal: a device that gained a live section: a destination without it refuses the unknown
   * section ("<bdf>/vfio"); the matrix's 2.1>2.0 cell on sim-2.0 is that refusal. */
  char text[2048];
  struct conform_run_result result;
  pair_text("2.1", "2.1", "sim-2.1",
            ", \"devices\": [{\"addr\": \"00:05.0\", \"x-live\": false}]", text,
            sizeof(text));
  check_text(text, &result);
  ck_assert_int_eq(result.verdict, CONFORM_PASS);
  ck_assert(result.stats.dest_refused);
  ck_assert_int_eq(result.stats.error.code, MIG_ERR_UNKNOWN_SECTION);
  ck_assert_str_eq(result.stats.error.path, "0000:00:05.0/vfio");
  ck_assert_str_eq(conform_matrix_error_kind(&result.stats.error), "SECTION");
  ck_assert_uint_eq(result.guest_digest, result.reference_guest_digest); /* source intact */
  conform_run_result_deinit(&result);
  pair_text("2.1", "2.0", "sim-2.0", "", text, sizeof(text));
  check_text(text, &result);
  ck_assert(result.stats.dest_refused);
  ck_assert_str_eq(result.stats.error.path, "0000:00:05.0/vfio");
  conform_run_result_deinit(&result);
}
END_TEST

START_TEST(conform_scenario_destination_live_dest_only)
{
  /* Goal: only the destination has the live section: nothing loads it, the run completes. */
  static struct conform_scenario scenario;
  char text[2048], error[CONFORM_ERROR_BYTES];
  struct conform_run_result result;
  pair_text("2.1", "2.1", "sim-2.1", "", text, sizeof(text));
  ck_assert(conform_scenario_parse(text, strlen(text), "<test>", &scenario, error,
                                   sizeof(error)));
  ck_assert(dev_config_prop_set(&scenario.machine.devices[0], "x-live", 0)); /* source only */
  conform_check(&scenario, false, NULL, NULL, &result);
  ck_assert_int_eq(result.verdict, CONFORM_PASS);
  ck_assert_int_eq(result.stats.status, MIG_STATE_COMPLETED);
  ck_assert_uint_eq(result.guest_digest, result.reference_guest_digest);
  conform_run_result_deinit(&result);
}
END_TEST

START_TEST(conform_scenario_destination_errors)
{
  /* Goal: per-side configuration errors point at the key, with the release's machine types. */
  static struct conform_scenario scenario;
  char text[2048], error[CONFORM_ERROR_BYTES];
  pair_text("1.1.1", "1.1", "sim-2.0", "", text, sizeof(text));
  ck_assert(!conform_scenario_parse(text, strlen(text), "t.json", &scenario, error,
                                    sizeof(error)));
  ck_assert_msg(strstr(error, "t.json:2:22: release 1.1.1 has no machine type \"sim-2.0\" (it "
                              "has sim-1.0, sim-1.1)") != NULL, "%s", error);
  pair_text("1.0", "9.9", "sim-1.0", "", text, sizeof(text));
  ck_assert(!conform_scenario_parse(text, strlen(text), "t.json", &scenario, error,
                                    sizeof(error)));
  ck_assert_msg(strstr(error, "t.json:5:29: unknown release \"9.9\"") != NULL, "%s", error);
  pair_text("1.0", "1.0", "sim-1.0", ", \"devices\": [{\"addr\": \"00:06.0\", \"mtu\": 9000}]",
            text, sizeof(text));
  ck_assert(!conform_scenario_parse(text, strlen(text), "t.json", &scenario, error,
                                    sizeof(error)));
  ck_assert_msg(strstr(error, "no device at \"00:06.0\" on the source") != NULL, "%s", error);
  pair_text("1.0", "1.0", "sim-1.0", ", \"type\": \"sim-1.0\"", text, sizeof(text));
  ck_assert_msg(conform_scenario_parse(text, strlen(text), "t.json", &scenario, error,
                                       sizeof(error)), "%s", error);
  ck_assert_uint_eq(scenario.destination_count, 1);
  ck_assert_str_eq(scenario.destination_releases[0], "1.0");
  ck_assert_uint_eq(scenario.destinations[0].ram_count, 2); /* pc.ram and the firmware */
}
END_TEST

Suite *conform_matrix_suite(void)
{
  Suite *suite = suite_create("conform_matrix");
  TCase *core = tcase_create("core");
  tcase_set_timeout(core, 600);
  tcase_add_test(core, conform_matrix_golden_unchanged);
  tcase_add_test(core, conform_matrix_shards_partition);
  tcase_add_test(core, conform_matrix_golden_streams);
  tcase_add_test(core, conform_matrix_golden_streams_reproduce);
  suite_add_tcase(suite, core);
  TCase *sides = tcase_create("sides");
  tcase_add_test(sides, conform_scenario_destination_host_feature);
  tcase_add_test(sides, conform_scenario_destination_config_byte);
  tcase_add_test(sides, conform_scenario_destination_ram_layout);
  tcase_add_test(sides, conform_scenario_destination_live_section);
  tcase_add_test(sides, conform_scenario_destination_live_dest_only);
  tcase_add_test(sides, conform_scenario_destination_errors);
  suite_add_tcase(suite, sides);
  return suite;
}
