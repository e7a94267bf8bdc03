/*
 * cli_nondet_test.c: --twice against planted nondeterminism.  This binary
 * (out/<variant>/cli_nondet_test, its own main) links conform_run.c built
 * with -DSIM_TEST_NONDETERMINISM: every second migrated run in a process
 * gets one more event at conform_test_perturb_ns that traces "test.perturb"
 * and writes a guest byte, and the hash chain keeps 16 checkpoints and 64
 * records, so the divergence search must narrow its window in re-runs.  The
 * tests know where the extra record lands from an unperturbed run's text
 * trace, and require the exact record index, time and kind.
 */
#include "sim_base.h"

#include "cli_run.h"
#include "conform_run.h"
#include "conform_scenario.h"
#include "sim_check.h"

#include <jansson.h>
#include <signal.h>
#include <unistd.h>

static void parse_default(struct conform_scenario *scenario)
{
  char error[CONFORM_ERROR_BYTES];
  const char *text = conform_scenario_default_text();
  ck_assert_msg(conform_scenario_parse(text, strlen(text), "<default>", scenario, error,
                                       sizeof(error)), "%s", error);
}

/* A record of a text trace: "index time_ns kind a b c d". */
struct text_record {
  uint64_t index;
  uint64_t time_ns;
  char kind[64];
};

/*
 * Runs scenario once (migrated) with a text trace and finds the first record
 * at or after at_ns: *before is how many come earlier; false when none does.
 */
static bool trace_first_at(const struct conform_scenario *scenario, uint64_t at_ns,
                           uint64_t *before, struct text_record *first, uint64_t *count)
{
  FILE *text = tmpfile();
  ck_assert_ptr_nonnull(text);
  struct conform_run_options options = {.migrate_enabled = true, .trace_text = text};
  static struct conform_run_result result;
  conform_run(scenario, &options, &result);
  *count = result.trace_count;
  conform_run_result_deinit(&result);
  rewind(text);
  struct text_record record;
  bool found = false;
  *before = 0;
  while (fscanf(text, "%" SCNu64 " %" SCNu64 " %63s %*s %*s %*s %*s", &record.index,
                &record.time_ns, record.kind) == 3) {
    if (record.time_ns >= at_ns) {
      *first = record;
      found = true;
      break;
    }
    (*before)++;
  }
  fclose(text);
  return found;
}

START_TEST(conform_twice_names_planted_record)
{
  /*
   * The default scenario with one extra record on the second run: --twice
   * says NONDETERMINISM at exactly the record index where it lands, with run
   * 1's record there and run 2's "test.perturb" at its time, after two pairs
   * of re-runs (10927 records, 16 checkpoints, 64 kept).
   */
  static struct conform_scenario scenario;
  parse_default(&scenario);
  uint64_t before, count;
  struct text_record first, second;
  ck_assert(trace_first_at(&scenario, conform_test_perturb_ns, &before, &first, &count));
  ck_assert_uint_gt(first.time_ns, conform_test_perturb_ns); /* nothing else at that time */
  ck_assert(trace_first_at(&scenario, conform_test_perturb_ns, &before, &second, &count));
  ck_assert_str_eq(second.kind, "test.perturb");  /* the plant, in run 2 */
  ck_assert_uint_eq(second.index, before);
  static struct conform_run_result result;
  conform_check(&scenario, true, NULL, NULL, &result);
  const struct conform_divergence *divergence = &result.divergence;
  ck_assert_int_eq(result.verdict, CONFORM_NONDETERMINISM);
  ck_assert(divergence->diverged && divergence->located);
  ck_assert_uint_eq(divergence->index, before);
  ck_assert_uint_eq(divergence->first.time_ns, first.time_ns);
  ck_assert_str_eq(divergence->first.kind, first.kind);
  ck_assert_uint_eq(divergence->second.time_ns, conform_test_perturb_ns);
  ck_assert_str_eq(divergence->second.kind, "test.perturb");
  ck_assert_uint_eq(divergence->reruns_count, 2);
  ck_assert_uint_le(divergence->window_to - divergence->window_from, 64);
  char path[64], text[192];
  snprintf(path, sizeof path, "trace/#%" PRIu64, before);
  snprintf(text, sizeof text, "first divergent record #%" PRIu64 "; run 1: %" PRIu64 " ns %s",
           before, first.time_ns, first.kind);
  ck_assert_str_eq(result.failure_at.path, path);
  ck_assert_str_eq(result.failure_at.oracle, "determinism");
  ck_assert_msg(strstr(result.failure, text) != NULL, "%s", result.failure);
  conform_run_result_deinit(&result);
}
END_TEST

START_TEST(conform_twice_one_trace_ends_first)
{
  /* The plant after the run's end: run 2 has one record more; run 1's trace ended there. */
  static struct conform_scenario scenario;
  parse_default(&scenario);
  conform_test_perturb_ns = 5 * SIM_NS_PER_S;
  uint64_t before, count;
  struct text_record first;
  ck_assert(!trace_first_at(&scenario, conform_test_perturb_ns, &before, &first, &count));
  ck_assert_uint_eq(before, count);
  ck_assert(trace_first_at(&scenario, conform_test_perturb_ns, &before, &first, &count));
  static struct conform_run_result result;
  conform_check(&scenario, true, NULL, NULL, &result);
  ck_assert_int_eq(result.verdict, CONFORM_NONDETERMINISM);
  ck_assert(result.divergence.located);
  ck_assert_uint_eq(result.divergence.index, before);
  ck_assert_ptr_null(result.divergence.first.kind);
  ck_assert_str_eq(result.divergence.second.kind, "test.perturb");
  ck_assert_msg(strstr(result.failure, "run 1: trace ended; run 2: 5000000000 ns test.perturb")
                != NULL, "%s", result.failure);
  conform_run_result_deinit(&result);
}
END_TEST

static int run_argv(char **argv)
{
  int argc = 0;
  while (argv[argc] != NULL) argc++;
  return cli_run_main(argc, argv);
}

/* A sweep's report: every seed's verdict and reproduce line, and its exit code. */
static json_t *load_report(const char *path)
{
  json_error_t error;
  json_t *root = json_load_file(path, 0, &error);
  ck_assert_msg(root != NULL, "%s: %s", path, error.text);
  return root;
}

START_TEST(cli_run_twice_reports_divergence)
{
  /*
   * `migsim run --twice` exits 4 and its report names the record; a sweep
   * with --jobs 2 fails every seed the same way, each with its own
   * reproduce line, and exits 4.
   */
  char dir[] = "/tmp/cli_nondet_test.XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  char report[128], sweep[128];
  snprintf(report, sizeof report, "%s/r.json", dir);
  snprintf(sweep, sizeof sweep, "%s/s.json", dir);
  char *one[] = {"--twice", "--report", report, "--no-progress", NULL};
  ck_assert_int_eq(run_argv(one), CONFORM_NONDETERMINISM);
  json_t *root = load_report(report);
  json_t *failure = json_object_get(root, "failure");
  ck_assert_str_eq(json_string_value(json_object_get(failure, "oracle")), "determinism");
  ck_assert(strncmp(json_string_value(json_object_get(failure, "path")), "trace/#", 7) == 0);
  ck_assert_str_eq(json_string_value(json_object_get(root, "reproduce")),
                   "migsim run --seed 1 --twice");
  json_decref(root);
  char *many[] = {"--seeds", "3-5", "--jobs", "2", "--twice", "--report", sweep,
                  "--no-progress", NULL};
  ck_assert_int_eq(run_argv(many), CONFORM_NONDETERMINISM);
  root = load_report(sweep);
  json_t *results = json_object_get(root, "results");
  ck_assert_uint_eq(json_array_size(results), 3);
  for (size_t i = 0; i < 3; i++) {
    json_t *entry = json_array_get(results, i);
    char repro[64];
    snprintf(repro, sizeof repro, "migsim run --seed %zu --twice", i + 3);
    ck_assert_int_eq(json_integer_value(json_object_get(entry, "seed")), (json_int_t)(i + 3));
    ck_assert_str_eq(json_string_value(json_object_get(entry, "verdict")), "NONDETERMINISM");
    ck_assert_str_eq(json_string_value(json_object_get(entry, "reproduce")), repro);
  }
  ck_assert_int_eq(json_integer_value(json_object_get(root, "exit_code")),
                   CONFORM_NONDETERMINISM);
  json_decref(root);
  unlink(report), unlink(sweep);
  rmdir(dir);
}
END_TEST

START_TEST(cli_sweep_worker_crash)
{
  /*
   * A worker that dies on a seed (this build aborts on 57005): the seed is
   * a CRASH with exit code 128 + SIGABRT, in its place in the report, and
   * the seeds after it still run in a new worker.
   */
  char dir[] = "/tmp/cli_nondet_test.XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  char sweep[128];
  snprintf(sweep, sizeof sweep, "%s/s.json", dir);
  char *argv[] = {"--seeds", "57004-57007", "--jobs", "2", "--report", sweep, "--no-progress",
                  NULL};
  ck_assert_int_eq(run_argv(argv), 128 + SIGABRT);
  json_t *root = load_report(sweep);
  json_t *results = json_object_get(root, "results");
  ck_assert_uint_eq(json_array_size(results), 4);
  for (size_t i = 0; i < 4; i++) {
    json_t *entry = json_array_get(results, i);
    const char *verdict = json_string_value(json_object_get(entry, "verdict"));
    ck_assert_int_eq(json_integer_value(json_object_get(entry, "seed")), (json_int_t)(57004 + i));
    ck_assert_msg((strcmp(verdict, "CRASH") == 0) == (i == 1), "%zu: %s", i, verdict);
  }
  json_t *entry = json_array_get(results, 1);
  ck_assert_int_eq(json_integer_value(json_object_get(entry, "exit_code")), 128 + SIGABRT);
  ck_assert_str_eq(json_string_value(json_object_get(entry, "reproduce")),
                   "migsim run --seed 57005");
  ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(root, "counts"), "CRASH")),
                   1);
  json_decref(root);
  unlink(sweep);
  rmdir(dir);
}
END_TEST

static Suite *cli_nondet_suite(void)
{
  Suite *suite = suite_create("cli_nondet");
  TCase *core = tcase_create("core");
  tcase_set_timeout(core, 300);
  tcase_add_test(core, conform_twice_names_planted_record);
  tcase_add_test(core, conform_twice_one_trace_ends_first);
  tcase_add_test(core, cli_run_twice_reports_divergence);
  tcase_add_test(core, cli_sweep_worker_crash);
  suite_add_tcase(suite, core);
  return suite;
}

/* Its own runner: this binary's conform_run.c is the planted one (configure.py). */
int main(int argc, char **argv)
{
  static sim_suite_fn *const suites[] = {cli_nondet_suite};
  return sim_check_main(argc, argv, suites, SIM_ARRAY_COUNT(suites));
}
