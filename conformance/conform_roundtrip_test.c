/*
 * conform_roundtrip_test.c: the round-trip property of the record layer over
 * every stream the simulator writes.  Each catalog scenario (the .json
 * files of conformance/scenarios, sorted) runs with its stream captured, at
 * its own seed and at the RAM sweep seeds; the completed migration's stream
 * must then walk without error (inspect --validate), decode with its own VM
 * description with a member for every device section and every live section
 * (--format analyze), and re-encode byte for byte (reencode).  A cancelled
 * attempt before a retry (ram-resize-*) sits in front of the last attempt in
 * the capture: it must be refused inside its own bytes.  A postcopy stream
 * walks up to its PACKAGED command, where the walker stops (not walked yet);
 * a multifd stream's main channel walks whole.  Scenario files are
 * read relative to the repository root, where the suites run.
 */
#include "sim_base.h"

#include "conform_run.h"
#include "conform_scenario.h"
#include "mig_analyze.h"
#include "mig_inspect.h"
#include "mig_reencode.h"
#include "sim_check.h"

#include <glob.h>

#define ROUNDTRIP_SEED_BASE UINT64_C(2000)  /* conform_ram_test.c's RAM sweep seeds */
#define ROUNDTRIP_SWEEP_SEEDS 1
#define ROUNDTRIP_FILES_MAX 64

struct catalog {
  glob_t found;
  size_t count;
};

/*
 * The catalog, sorted by name (glob sorts), so loop indexes are stable;
 * bench-*.json are benchmarks (1 GiB guests), not tests, and are left out.
 */
static void catalog_load(struct catalog *catalog)
{
  memset(catalog, 0, sizeof *catalog);
  int ret = glob("conformance/scenarios/*.json", 0, NULL, &catalog->found);
  SIM_ASSERT(ret == 0);  /* the suites run from the repository root */
  size_t kept = 0;
  for (size_t i = 0; i < catalog->found.gl_pathc; i++) {
    char *path = catalog->found.gl_pathv[i];
    if (strncmp(path, "conformance/scenarios/bench-", 28) == 0) {
      free(path);
      continue;
    }
    catalog->found.gl_pathv[kept++] = path;
  }
  catalog->found.gl_pathv[kept] = NULL;
  catalog->found.gl_pathc = kept;
  catalog->count = kept;
  SIM_ASSERT(catalog->count > 0 && catalog->count <= ROUNDTRIP_FILES_MAX);
}

/* Seeds per scenario: its own, then the sweep seeds (one of them with MIGSIM_PROPERTY_SEEDS). */
static int seeds_per_scenario(void)
{
  const char *seeds = getenv("MIGSIM_PROPERTY_SEEDS");
  bool reduced = seeds != NULL && atoi(seeds) > 0 && atoi(seeds) < 200;
  return 1 + (reduced ? 1 : ROUNDTRIP_SWEEP_SEEDS);
}

/* Every FULL device and live section of the walk has its "idstr (id)" member in the output. */
static void analyze_lists_every_section(const struct mig_inspect *inspect, const json_t *root,
                                        const char *where)
{
  char key[MIG_IDSTR_BYTES_MAX + 16];
  for (uint32_t i = 0; i < inspect->device_count; i++) {
    const struct mig_inspect_device *device = &inspect->devices[i];
    snprintf(key, sizeof key, "%s (%" PRIu32 ")", device->idstr, device->section_id);
    ck_assert_msg(json_object_get(root, key) != NULL, "%s: analyze lacks %s", where, key);
  }
  for (uint32_t i = 0; i < inspect->live_count; i++) {
    const struct mig_inspect_live *live = &inspect->lives[i];
    bool shared_id = false;  /* a live section whose FULL (vfio's config) has the same id */
    for (uint32_t d = 0; d < inspect->device_count; d++) {
      shared_id = shared_id || inspect->devices[d].section_id == live->section_id;
    }
    snprintf(key, sizeof key, "%s (%" PRIu32 ")", live->idstr, live->section_id);
    ck_assert_msg(json_object_get(root, key) != NULL || shared_id, "%s: analyze lacks %s",
                  where, key);
  }
}

/*
 * The property on one complete stream: validate, analyze, reencode byte for
 * byte.  A postcopy stream has no trailer (QEMU writes no VM description
 * after a postcopy either), so analyze, which decodes with it, is skipped.
 */
static void roundtrip(const uint8_t *bytes, size_t count, bool postcopy, const char *where)
{
  struct mig_inspect inspect;
  struct mig_error error;
  char text[512];
  enum mig_err code = mig_inspect_stream(bytes, count, &inspect, &error);
  mig_error_format(&error, text, sizeof text);
  ck_assert_msg(code == MIG_OK, "%s: inspect --validate: %s", where, text);
  ck_assert_msg(inspect.has_trailer != postcopy, "%s: %s", where,
                postcopy ? "a trailer after a postcopy" : "no trailer");
  if (!postcopy) {
    json_t *root = NULL;
    code = mig_analyze_stream(bytes, count, &inspect, &root, &error);
    mig_error_format(&error, text, sizeof text);
    ck_assert_msg(code == MIG_OK, "%s: --format analyze: %s", where, text);
    analyze_lists_every_section(&inspect, root, where);
    json_decref(root);
  }
  mig_inspect_deinit(&inspect);
  struct mig_membuf out;
  mig_membuf_init(&out, count + 1);
  static uint8_t staging[64 << 10];
  struct mig_writer writer;
  mig_writer_init(&writer, staging, sizeof staging, mig_membuf_write, &out);
  struct mig_reencode reencode;
  mig_reencode_init(&reencode, &writer, NULL);
  struct mig_inspect_visitor visitor = {.visit = mig_reencode_visit, .context = &reencode,
                                        .zero_runs = true};
  code = mig_inspect_walk(bytes, count, &inspect, &visitor, &error);
  mig_inspect_deinit(&inspect);
  ck_assert_msg(code == MIG_OK && mig_writer_flush(&writer) == MIG_OK, "%s: reencode", where);
  ck_assert_msg(out.count == count && memcmp(out.bytes, bytes, count) == 0,
                "%s: reencode differs (%zu bytes, %zu in)", where, out.count, count);
  mig_membuf_deinit(&out);
}

/*
 * Goal: every stream migsim writes reads back through every reader of the
 * record layer and is written again byte for byte; method: run each catalog
 * scenario at its seed and the sweep seeds with the stream captured.
 */
START_TEST(conform_roundtrip_catalog_streams)
{
  static struct catalog catalog;
  catalog_load(&catalog);
  int per = seeds_per_scenario();
  ck_assert_uint_lt((size_t)_i / (size_t)per, catalog.count);
  const char *path = catalog.found.gl_pathv[(size_t)_i / (size_t)per];
  static struct conform_scenario scenario;
  char error[CONFORM_ERROR_BYTES];
  ck_assert_msg(conform_scenario_load(path, &scenario, error, sizeof error), "%s", error);
  if (_i % per > 0) scenario.seed = ROUNDTRIP_SEED_BASE + (uint64_t)(_i % per - 1);
  struct mig_membuf capture;
  mig_membuf_init(&capture, (size_t)1 << 30);
  struct conform_run_options options = {.migrate_enabled = true, .capture = &capture};
  static struct conform_run_result result;
  conform_run(&scenario, &options, &result);
  char where[600];
  snprintf(where, sizeof where, "%s seed %" PRIu64 " (reproduce: migsim run %s --seed %" PRIu64
           " --stream-out x.mig; migsim inspect x.mig --validate)", path, scenario.seed, path,
           scenario.seed);
  /*
   * Every attempt's stream on its own (result.capture_starts): one that walks
   * must re-encode byte for byte; one that does not was cut (a cancel, a
   * refusing destination) and is refused inside its own bytes.  The last
   * attempt of a completed migration must walk.
   */
  uint32_t attempts = result.capture_attempt_count;
  ck_assert_msg(!result.migrated || attempts > 0 || capture.count == 0, "%s", where);
  for (uint32_t a = 0; a < attempts; a++) {
    size_t from = (size_t)result.capture_starts[a];
    size_t to = a + 1 < attempts ? (size_t)result.capture_starts[a + 1] : capture.count;
    ck_assert_uint_le(from, to);
    struct mig_inspect inspect;
    struct mig_error walk_error;
    enum mig_err code = mig_inspect_stream(capture.bytes + from, to - from, &inspect,
                                           &walk_error);
    mig_inspect_deinit(&inspect);
    if (result.plugged && result.plug.recoveries_count > 0 && a + 1 == attempts) {
      /*
       * A recovered postcopy: the captured main channel is the cut connection's
       * bytes, then the new connection's, which starts inside the stream (as
       * QEMU's resumed channel does: no header).  The join is refused inside
       * the bytes, with a path.  A postcopy without recovery walks whole
       * (PACKAGED, LISTEN, RUN and the pages after) and re-encodes below.
       */
      ck_assert_msg(code != MIG_OK && walk_error.path[0] != '\0' &&
                    walk_error.offset <= to - from, "%s: recovered postcopy stream walked",
                    where);
      continue;
    }
    bool last_completed = a + 1 == attempts && result.stats.status == MIG_STATE_COMPLETED;
    ck_assert_msg(code == MIG_OK || !last_completed, "%s: the completed attempt %" PRIu32
                  " does not walk", where, a + 1);
    if (code == MIG_OK) {
      bool postcopy = result.stats.postcopy_start_ns != 0 && a + 1 == attempts;
      roundtrip(capture.bytes + from, to - from, postcopy, where);
    } else {
      ck_assert_uint_le(walk_error.offset, to - from);
    }
  }
  conform_run_result_deinit(&result);
  mig_membuf_deinit(&capture);
  globfree(&catalog.found);
}
END_TEST

Suite *conform_roundtrip_suite(void)
{
  Suite *suite = suite_create("conform_roundtrip");
  TCase *property = tcase_create("property");
  tcase_set_timeout(property, 600);
  static struct catalog catalog;
  catalog_load(&catalog);
  tcase_add_loop_test(property, conform_roundtrip_catalog_streams, 0,
                      (int)catalog.count * seeds_per_scenario());
  globfree(&catalog.found);
  suite_add_tcase(suite, property);
  return suite;
}
