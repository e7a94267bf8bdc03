/*
 * cli_run_test.c: `migsim run` and `migsim list` as a user calls them
 * (cli_run_main, cli_list_main): output paths checked before the run, the
 * report's structured failure and identity, one stream file per attempt.
 */
#include "sim_base.h"

#include "cli_run.h"
#include "cli_sweep.h"
#include "conform_run.h"
#include "conform_scenario.h"
#include "mig_inspect.h"

#include <check.h>
#include <jansson.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#define SCENARIOS "conformance/scenarios"

static int run_argv(char **argv)
{
  int argc = 0;
  while (argv[argc] != NULL) argc++;
  return cli_run_main(argc, argv);
}

static char *read_all(const char *path, size_t *count)
{
  FILE *file = fopen(path, "rb");
  ck_assert_msg(file != NULL, "%s", path);
  fseek(file, 0, SEEK_END);
  long bytes = ftell(file);
  fseek(file, 0, SEEK_SET);
  char *text = malloc((size_t)bytes + 1);
  ck_assert(text != NULL && fread(text, 1, (size_t)bytes, file) == (size_t)bytes);
  fclose(file);
  text[bytes] = 0;
  *count = (size_t)bytes;
  return text;
}

/* A directory or a missing directory as an output is refused before anything runs. */
START_TEST(cli_run_outputs_checked_first)
{
  char dir[] = "/tmp/cli_run_test.XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  char missing[128];
  snprintf(missing, sizeof missing, "%s/no/such/stream.mig", dir);
  char *report_dir[] = {"--report", dir, "--no-progress", NULL};
  char *stream_missing[] = {"--stream-out", missing, "--no-progress", NULL};
  char *negative_seed[] = {"--seed", "-1", NULL};
  ck_assert_int_eq(run_argv(report_dir), CONFORM_BAD_INPUT);
  ck_assert_int_eq(run_argv(stream_missing), CONFORM_BAD_INPUT);
  ck_assert_int_eq(run_argv(negative_seed), CONFORM_BAD_INPUT);
  rmdir(dir);
}
END_TEST

/*
 * A run with a retry writes each attempt's stream (x.1.mig, x.2.mig) and the
 * last as x.mig: the completed attempt walks cleanly and equals x.mig; the
 * report names the tool and the scenario's hash.
 */
START_TEST(cli_run_stream_out_per_attempt)
{
  char dir[] = "/tmp/cli_run_test.XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  char out[128], report[128], first[128], second[128];
  snprintf(out, sizeof out, "%s/x.mig", dir);
  snprintf(report, sizeof report, "%s/r.json", dir);
  snprintf(first, sizeof first, "%s/x.1.mig", dir);
  snprintf(second, sizeof second, "%s/x.2.mig", dir);
  char *argv[] = {SCENARIOS "/ram-resize-retry.json", "--stream-out", out, "--report", report,
                  "--no-progress", NULL};
  ck_assert_int_eq(run_argv(argv), CONFORM_PASS);
  size_t last_bytes, second_bytes, first_bytes;
  char *last = read_all(out, &last_bytes), *two = read_all(second, &second_bytes);
  char *one = read_all(first, &first_bytes);
  ck_assert_uint_eq(last_bytes, second_bytes);
  ck_assert(memcmp(last, two, last_bytes) == 0);
  struct mig_inspect inspect;
  struct mig_error error;
  ck_assert_int_eq(mig_inspect_stream((const uint8_t *)two, second_bytes, &inspect, &error),
                   MIG_OK);
  mig_inspect_deinit(&inspect);
  /* The cancelled attempt starts with its own header: the QEVM magic. */
  ck_assert(first_bytes > 8 && memcmp(one, "QEVM", 4) == 0);
  json_error_t json_error;
  json_t *root = json_load_file(report, 0, &json_error);
  ck_assert_msg(root != NULL, "%s", json_error.text);
  ck_assert_str_eq(json_string_value(json_object_get(root, "tool")), "migsim 0.7.0");
  ck_assert_uint_eq(strlen(json_string_value(json_object_get(root, "scenario_xxh3"))), 18);
  ck_assert(json_is_null(json_object_get(root, "failure")));
  json_decref(root);
  free(one);
  free(two);
  free(last);
  unlink(out), unlink(first), unlink(second), unlink(report);
  rmdir(dir);
}
END_TEST

/* The catalog lists and parses; a folder with a broken scenario makes list exit 2. */
START_TEST(cli_list_catalog)
{
  char *argv[] = {SCENARIOS, NULL};
  ck_assert_int_eq(cli_list_main(1, argv), 0);
  char dir[] = "/tmp/cli_run_test.XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  char path[128];
  snprintf(path, sizeof path, "%s/broken.json", dir);
  FILE *file = fopen(path, "w");
  fputs("{\"seed\": }", file);
  fclose(file);
  char *broken[] = {dir, NULL};
  ck_assert_int_eq(cli_list_main(1, broken), CONFORM_BAD_INPUT);
  unlink(path);
  rmdir(dir);
}
END_TEST

/* The seed range syntax: A-B or N, numbers in the one syntax; errors say what is wrong. */
START_TEST(cli_seeds_parse_forms)
{
  uint64_t first, last;
  ck_assert_ptr_null(cli_seeds_parse("1-300", &first, &last));
  ck_assert_uint_eq(first, 1);
  ck_assert_uint_eq(last, 300);
  ck_assert_ptr_null(cli_seeds_parse("0x10-0x12", &first, &last));
  ck_assert(first == 16 && last == 18);
  ck_assert_ptr_null(cli_seeds_parse("010", &first, &last));
  ck_assert(first == 10 && last == 10);
  ck_assert_str_eq(cli_seeds_parse("5-3", &first, &last), "A-B: B is below A");
  ck_assert_ptr_nonnull(strstr(cli_seeds_parse("1-", &first, &last), "not a number"));
  ck_assert_ptr_nonnull(strstr(cli_seeds_parse("-3", &first, &last), "not a number"));
  ck_assert_str_eq(cli_seeds_parse("0-4294967296", &first, &last), "A-B: more than 2^32 seeds");
  ck_assert_uint_lt(cli_sweep_severity(CONFORM_LIVENESS),
                    cli_sweep_severity(CONFORM_ORACLE_VIOLATION));
  ck_assert_uint_lt(cli_sweep_severity(CONFORM_ORACLE_VIOLATION),
                    cli_sweep_severity(CONFORM_NONDETERMINISM));
  ck_assert_uint_lt(cli_sweep_severity(CONFORM_BAD_INPUT), cli_sweep_severity(134));
}
END_TEST

/* Runs argv with stdout into path; returns the exit code. */
static int run_captured(char **argv, const char *path)
{
  fflush(stdout);
  int saved = dup(STDOUT_FILENO);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ck_assert(saved >= 0 && fd >= 0);
  dup2(fd, STDOUT_FILENO);
  close(fd);
  int rc = run_argv(argv);
  fflush(stdout);
  dup2(saved, STDOUT_FILENO);
  close(saved);
  return rc;
}

/* The default scenario with testdev's lossy-extra quirk, written to path. */
static void write_lossy_scenario(const char *path)
{
  const char *text = conform_scenario_default_text();
  const char *at = strstr(text, "\"device_id\": 4660}");
  ck_assert_ptr_nonnull(at);
  FILE *file = fopen(path, "w");
  ck_assert_ptr_nonnull(file);
  fprintf(file, "%.*s\"device_id\": 4660, \"quirks\": [\"lossy-extra\"]}%s", (int)(at - text),
          text, at + strlen("\"device_id\": 4660}"));
  fclose(file);
}

/*
 * A sweep of 8 seeds of a planted bug in this process and in 3 workers:
 * the same lines in seed order (one per failing seed, with its reproduce
 * line), the same per-seed results in the report, exit 1; and the usage
 * errors of the combination.
 */
START_TEST(cli_run_sweep_jobs_same_as_serial)
{
  char dir[] = "/tmp/cli_run_test.XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  char scenario[128], out[2][128], report[2][128];
  snprintf(scenario, sizeof scenario, "%s/lossy.json", dir);
  write_lossy_scenario(scenario);
  for (int i = 0; i < 2; i++) {
    snprintf(out[i], sizeof out[i], "%s/out%d.txt", dir, i);
    snprintf(report[i], sizeof report[i], "%s/report%d.json", dir, i);
    char *argv[] = {scenario, "--seeds", "1-8", "--jobs", i == 0 ? "1" : "3", "--report",
                    report[i], "--no-progress", NULL};
    ck_assert_int_eq(run_captured(argv, out[i]), CONFORM_ORACLE_VIOLATION);
  }
  size_t bytes[2];
  char *text[2] = {read_all(out[0], &bytes[0]), read_all(out[1], &bytes[1])};
  ck_assert_str_eq(text[0], text[1]);
  char expected[512];
  snprintf(expected, sizeof expected, "seed 3: ORACLE-VIOLATION transparency at "
           "0000:00:03.0/testdev/extra/extra; reproduce: migsim run %s --seed 3\n", scenario);
  ck_assert_msg(strncmp(text[0], expected, strlen(expected)) == 0, "%s", text[0]);
  json_t *roots[2];
  for (int i = 0; i < 2; i++) {
    json_error_t error;
    roots[i] = json_load_file(report[i], 0, &error);
    ck_assert_msg(roots[i] != NULL, "%s", error.text);
  }
  json_t *results = json_object_get(roots[0], "results");
  ck_assert_uint_eq(json_array_size(results), 8);
  ck_assert(json_equal(results, json_object_get(roots[1], "results")));
  ck_assert(json_equal(json_object_get(roots[0], "counts"), json_object_get(roots[1], "counts")));
  json_int_t failing = 8 - json_integer_value(json_object_get(json_object_get(roots[0], "counts"),
                                                              "PASS"));
  ck_assert_int_gt(failing, 0);
  ck_assert_ptr_nonnull(strstr(text[0], "\nmigsim: 8 seeds (1-8) of "));
  for (int i = 0; i < 2; i++) json_decref(roots[i]), free(text[i]), unlink(out[i]);
  for (int i = 0; i < 2; i++) unlink(report[i]);
  char *jobs_alone[] = {"--jobs", "2", NULL};
  char *seed_and_seeds[] = {"--seeds", "1-2", "--seed", "1", NULL};
  char *bad_range[] = {"--seeds", "4-2", NULL};
  ck_assert_int_eq(run_argv(jobs_alone), CONFORM_BAD_INPUT);
  ck_assert_int_eq(run_argv(seed_and_seeds), CONFORM_BAD_INPUT);
  ck_assert_int_eq(run_argv(bad_range), CONFORM_BAD_INPUT);
  unlink(scenario);
  rmdir(dir);
}
END_TEST

Suite *cli_run_suite(void)
{
  Suite *suite = suite_create("cli_run");
  TCase *core = tcase_create("core");
  tcase_set_timeout(core, 120);
  tcase_add_test(core, cli_run_outputs_checked_first);
  tcase_add_test(core, cli_run_stream_out_per_attempt);
  tcase_add_test(core, cli_list_catalog);
  tcase_add_test(core, cli_seeds_parse_forms);
  tcase_add_test(core, cli_run_sweep_jobs_same_as_serial);
  suite_add_tcase(suite, core);
  return suite;
}
