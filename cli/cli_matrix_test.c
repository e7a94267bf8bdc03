/*
 * cli_matrix_test.c: `migsim matrix` and `dump-vmstate --release` as a user
 * runs them (cli_matrix.h, cli_vmsd.h): exit codes 0, 1 and 2, the summary
 * line, JSON and HTML output, a golden file with a changed cell, golden
 * streams into a missing folder, and a release dump that vmstate-diff reads.
 */
#include "sim_base.h"

#include "cli_matrix.h"
#include "cli_vmsd.h"
#include "cli_capture_test_inl.h"
#include "conform_run.h"
#include "sim_check.h"

#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>


static char output[1 << 20];

START_TEST(cli_matrix_usage_errors)
{
  /* Goal: a bad shard or capability list is exit 2 with one line naming the option. */
  char *shard[] = {"--shard", "3/3"};
  ck_assert_int_eq(cli_run_captured(cli_matrix_main, 2, shard, output, sizeof(output)),
                   CONFORM_BAD_INPUT);
  ck_assert_str_eq(output, "migsim matrix: --shard: want I/N with 0 <= I < N, got '3/3'\n");
  char *caps[] = {"--caps", "none,postcopy"};
  ck_assert_int_eq(cli_run_captured(cli_matrix_main, 2, caps, output, sizeof(output)),
                   CONFORM_BAD_INPUT);
  ck_assert(strstr(output, "--caps: want a list of none, switchover-ack") != NULL);
}
END_TEST

START_TEST(cli_matrix_static_shard_text)
{
  /* Goal: a static shard prints one row per cell of the shard and a summary; exit 0. */
  char *argv[] = {"--static-only", "--shard", "1/4", "--no-chains"};
  ck_assert_int_eq(cli_run_captured(cli_matrix_main, 4, argv, output, sizeof(output)), 0);
  ck_assert_msg(strstr(output, "migsim matrix: 25 of 100 cells:") != NULL, "%s", output);
  ck_assert(strstr(output, "1.0>1.1:sim-1.0:none") != NULL);     /* index 1 */
  ck_assert(strstr(output, "1.0>1.0:sim-1.0:none") == NULL);     /* index 0: another shard */
}
END_TEST

START_TEST(cli_matrix_golden_changed_cell)
{
  /*
   * Goal: a golden file whose cell says otherwise makes exit 1 and names the cell, on a line
   * of its own when stdout and stderr share one log (a CI job's).
   */
  char golden[] = "/tmp/cli_matrix_golden_XXXXXX";
  int fd = mkstemp(golden);
  ck_assert_int_ge(fd, 0);
  close(fd);
  char *write[] = {"--static-only", "--no-chains", "--write-golden", golden, "--format", "json",
                   "--output", "/dev/null"};
  ck_assert_int_eq(cli_run_captured(cli_matrix_main, 8, write, output, sizeof(output)), 0);
  json_error_t error;
  json_t *root = json_load_file(golden, 0, &error);
  ck_assert_ptr_nonnull(root);
  json_t *cell = json_array_get(json_object_get(root, "cells"), 1);
  ck_assert_str_eq(json_string_value(json_object_get(cell, "id")), "1.0>1.1:sim-1.0:none");
  json_object_set_new(json_object_get(cell, "static"), "outcome", json_string("pass"));
  ck_assert_int_eq(json_dump_file(root, golden, 0), 0);
  json_decref(root);
  char *check[] = {"--static-only", "--no-chains", "--golden", golden};
  ck_assert_int_eq(cli_run_captured(cli_matrix_main, 4, check, output, sizeof(output)),
                   CONFORM_ORACLE_VIOLATION);
  ck_assert_msg(strstr(output, "\nmigsim matrix: cell 1.0>1.1:sim-1.0:none: static verdict "
                               "changed: golden pass BAD_CONFIG_DATA simnet") != NULL,
                "%s", output);
  ck_assert(strstr(output, "1 change(s) from the golden matrix") != NULL);
  unlink(golden);
}
END_TEST

START_TEST(cli_matrix_html_self_contained)
{
  /* Goal: the HTML page has a grid per machine type, also per shard, and loads nothing else. */
  char *argv[] = {"--static-only", "--format", "html"};
  ck_assert_int_eq(cli_run_captured(cli_matrix_main, 3, argv, output, sizeof(output)), 0);
  ck_assert(strstr(output, "<h2>sim-1.1, capabilities none</h2>") != NULL);
  ck_assert(strstr(output, "<h2>Chains (started on, then each hop)</h2>") != NULL);
  ck_assert(strstr(output, "src=") == NULL && strstr(output, "href=") == NULL);
  /* A shard without a grid's 1.0>1.0 cell still draws that grid with the cells it has. */
  char *shard[] = {"--static-only", "--format", "html", "--shard", "1/4"};
  ck_assert_int_eq(cli_run_captured(cli_matrix_main, 5, shard, output, sizeof(output)), 0);
  ck_assert_msg(strstr(output, "<h2>sim-1.0, capabilities none</h2>") != NULL, "%s", output);
  ck_assert(strstr(output, "(other shard)") != NULL);
}
END_TEST

START_TEST(cli_matrix_write_streams_missing_dir)
{
  /* Goal: --write-streams into a folder that does not exist exits 2 naming the file and why. */
  char *argv[] = {"--write-streams", "/nonexistent-cli-matrix"};
  ck_assert_int_eq(cli_run_captured(cli_matrix_main, 2, argv, output, sizeof(output)),
                   CONFORM_BAD_INPUT);
  ck_assert_str_eq(output, "migsim matrix: /nonexistent-cli-matrix/1.0-sim-1.0.bin: No such "
                           "file or directory\n");
}
END_TEST

START_TEST(cli_dump_vmstate_release)
{
  /* Goal: --release R --machine M dumps that release's tables; vmstate-diff sees the rename. */
  char *bad[] = {"--release", "1.1.1", "--machine", "sim-2.0"};
  ck_assert_int_eq(cli_run_captured(cli_dump_vmstate_main, 4, bad, output, sizeof(output)),
                   CONFORM_BAD_INPUT);
  ck_assert_str_eq(output, "migsim dump-vmstate: --release 1.1.1: release 1.1.1 has no machine "
                           "type 'sim-2.0'\n");
  /* A folder of its own: the suites of the four builds run side by side (harness/test.sh). */
  char folder[] = "/tmp/cli_matrix_dump_XXXXXX", old_path[64], new_path[64];
  ck_assert_ptr_nonnull(mkdtemp(folder));
  snprintf(old_path, sizeof(old_path), "%s/old.json", folder);
  snprintf(new_path, sizeof(new_path), "%s/new.json", folder);
  char *old_dump[] = {"--release", "1.1.1", "--machine", "sim-1.0", "--output", old_path};
  char *new_dump[] = {"--release", "2.0", "--machine", "sim-1.0", "--output", new_path};
  ck_assert_int_eq(cli_run_captured(cli_dump_vmstate_main, 6, old_dump, output, sizeof(output)), 0);
  ck_assert_int_eq(cli_run_captured(cli_dump_vmstate_main, 6, new_dump, output, sizeof(output)), 0);
  char *diff[] = {old_path, new_path, "--direction", "forward"};
  ck_assert_int_eq(cli_run_captured(cli_vmstate_diff_main, 4, diff, output, sizeof(output)), 0);
  ck_assert_msg(strstr(output, "[FIELD_RENAMED]") != NULL, "%s", output);
  ck_assert(strstr(output, "[PLACEHOLDER]") != NULL);
  ck_assert(strstr(output, "machine sim-1.0") != NULL);
  unlink(old_path);
  unlink(new_path);
  rmdir(folder);
}
END_TEST

Suite *cli_matrix_suite(void)
{
  Suite *suite = suite_create("cli_matrix");
  TCase *core = tcase_create("core");
  tcase_set_timeout(core, 300);
  tcase_add_test(core, cli_matrix_usage_errors);
  tcase_add_test(core, cli_matrix_static_shard_text);
  tcase_add_test(core, cli_matrix_golden_changed_cell);
  tcase_add_test(core, cli_matrix_html_self_contained);
  tcase_add_test(core, cli_matrix_write_streams_missing_dir);
  tcase_add_test(core, cli_dump_vmstate_release);
  suite_add_tcase(suite, core);
  return suite;
}
