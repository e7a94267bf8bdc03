/*
 * cli_run_test.c: `migsim run` and `migsim list` as a user calls them
 * (cli_run_main, cli_list_main): output paths checked before the run, the
 * report's structured failure and identity, one stream file per attempt.
 */
#include "sim_base.h"

#include "cli_run.h"
#include "conform_run.h"
#include "mig_inspect.h"

#include <check.h>
#include <jansson.h>
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

Suite *cli_run_suite(void)
{
  Suite *suite = suite_create("cli_run");
  TCase *core = tcase_create("core");
  tcase_set_timeout(core, 120);
  tcase_add_test(core, cli_run_outputs_checked_first);
  tcase_add_test(core, cli_run_stream_out_per_attempt);
  tcase_add_test(core, cli_list_catalog);
  suite_add_tcase(suite, core);
  return suite;
}
