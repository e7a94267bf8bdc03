/*
 * cli_vmsd_test.c: `migsim vmstate-diff` and `migsim dump-vmstate` as a
 * user runs them (cli_vmsd.h): exit codes 0, 1 and 2, the text lines, the
 * JSON report, --direction and --strict, QEMU 7.2's dumps of two machine
 * types (skipped with SIM_CHECK_SKIP when ../shared is absent).
 */
#include "sim_base.h"

#include "cli_vmsd.h"
#include "cli_capture_test_inl.h"
#include "conform_run.h"
#include "sim_check.h"

#include <fcntl.h>
#include <jansson.h>
#include <unistd.h>

#define VMSTATE_DIR "../shared/corpus/qemu-7.2/vmstate"

/* A temporary file holding text; its path in path (room for 64 bytes). */
static void temp_write(char *path, const char *text)
{
  snprintf(path, 64, "/tmp/cli_vmsd_XXXXXX");
  int fd = mkstemp(path);
  ck_assert_int_ge(fd, 0);
  size_t length = strlen(text);
  ck_assert_int_eq(write(fd, text, length), (ssize_t)length);
  close(fd);
}


static const char old_text[] =
    "{\"vmschkmachine\": {\"Name\": \"sim-1.0\"},\n"
    " \"dev\": {\"Name\": \"dev\", \"version_id\": 1, \"minimum_version_id\": 1,\n"
    "  \"Description\": {\"name\": \"dev\", \"version_id\": 1, \"minimum_version_id\": 1,\n"
    "   \"Fields\": [{\"field\": \"a\", \"version_id\": 0, \"field_exists\": false, "
    "\"size\": 4}]}}}\n";

/* The command line: exit 0, 1, 2; the text lines; JSON; --direction and --strict. */
START_TEST(cli_vmstate_diff_exit_codes)
{
  char old_path[64], new_path[64], bad_path[64];
  temp_write(old_path, old_text);
  char new_text[sizeof(old_text) + 64];
  snprintf(new_text, sizeof(new_text), "%s", old_text);
  memcpy(strstr(new_text, "\"size\": 4"), "\"size\": 8", 9);
  temp_write(new_path, new_text);
  temp_write(bad_path, "{\"dev\": {\"Name\": \"dev\", \"version_id\": \"1\"}}");
  static char out[8192];
  char *same[] = {old_path, old_path};
  ck_assert_int_eq(cli_run_captured(cli_vmstate_diff_main, 2, same, out, sizeof(out)), 0);
  ck_assert_ptr_nonnull(strstr(out, "migsim vmstate-diff: COMPATIBLE\n"));
  char *differ[] = {old_path, new_path};
  ck_assert_int_eq(cli_run_captured(cli_vmstate_diff_main, 2, differ, out, sizeof(out)), 1);
  ck_assert_ptr_nonnull(strstr(out, "\nerror: both: dev/a: field \"a\" size mismatch: 4, 8 "
                                    "[FIELD_SIZE]\n"));
  ck_assert_ptr_nonnull(strstr(out, "migsim vmstate-diff: 1 error, 0 warnings, 0 notes; "
                                    "directions: forward and backward\n"
                                    "migsim vmstate-diff: INCOMPATIBLE\n"));
  char *as_json[] = {old_path, new_path, "--format", "json", "--direction", "forward"};
  ck_assert_int_eq(cli_run_captured(cli_vmstate_diff_main, 6, as_json, out, sizeof(out)), 1);
  json_error_t error;
  json_t *report = json_loads(out, 0, &error);
  ck_assert_msg(report != NULL, "%s", error.text);
  ck_assert_str_eq(json_string_value(json_object_get(report, "verdict")), "incompatible");
  json_t *finding = json_array_get(json_object_get(report, "findings"), 0);
  ck_assert_str_eq(json_string_value(json_object_get(finding, "path")), "dev/a");
  ck_assert_int_eq(json_integer_value(json_object_get(finding, "new")), 8);
  json_decref(report);
  char *bad[] = {old_path, bad_path};
  ck_assert_int_eq(cli_run_captured(cli_vmstate_diff_main, 2, bad, out, sizeof(out)), 2);
  char expected[256];
  snprintf(expected, sizeof(expected), "migsim vmstate-diff: %s: dev/version_id: value of the "
           "wrong type (got string, want integer)\n", bad_path);
  ck_assert_str_eq(out, expected);
  char *missing[] = {old_path, "/nonexistent/dump.json"};
  ck_assert_int_eq(cli_run_captured(cli_vmstate_diff_main, 2, missing, out, sizeof(out)), 2);
  char *one[] = {old_path};
  ck_assert_int_eq(cli_run_captured(cli_vmstate_diff_main, 1, one, out, sizeof(out)), 2);
  char *direction[] = {old_path, new_path, "--direction", "sideways"};
  ck_assert_int_eq(cli_run_captured(cli_vmstate_diff_main, 4, direction, out, sizeof(out)), 2);
  unlink(old_path);
  unlink(new_path);
  unlink(bad_path);
}
END_TEST

/* --strict: a rename (a warning) fails the check; without it the check passes. */
START_TEST(cli_vmstate_diff_strict)
{
  char old_path[64], new_path[64];
  temp_write(old_path, old_text);
  char new_text[sizeof(old_text) + 64];
  snprintf(new_text, sizeof(new_text), "%s", old_text);
  memcpy(strstr(new_text, "\"field\": \"a\""), "\"field\": \"b\"", 12);
  temp_write(new_path, new_text);
  static char out[8192];
  char *plain[] = {old_path, new_path};
  ck_assert_int_eq(cli_run_captured(cli_vmstate_diff_main, 2, plain, out, sizeof(out)), 0);
  ck_assert_ptr_nonnull(strstr(out, "warning: both: dev/a: field \"a\" is \"b\" on the "
                                    "destination (4 bytes both) [FIELD_RENAMED]\n"));
  char *strict[] = {old_path, new_path, "--strict"};
  ck_assert_int_eq(cli_run_captured(cli_vmstate_diff_main, 3, strict, out, sizeof(out)), 1);
  unlink(old_path);
  unlink(new_path);
}
END_TEST

/* QEMU 7.2's dumps of two machine types through the command line: one note, exit 0. */
START_TEST(cli_vmstate_diff_corpus)
{
  if (access(VMSTATE_DIR "/pc-i440fx-7.2.vmstate.json", R_OK) != 0) {
    SIM_CHECK_SKIP("%s not found", VMSTATE_DIR);
    return;
  }
  static char out[8192];
  char *args[] = {VMSTATE_DIR "/pc-i440fx-2.3.vmstate.json",
                  VMSTATE_DIR "/pc-q35-7.2.vmstate.json"};
  ck_assert_int_eq(cli_run_captured(cli_vmstate_diff_main, 2, args, out, sizeof(out)), 0);
  ck_assert_ptr_nonnull(strstr(out, "note: both: vmschkmachine: checking different machine "
                                    "types: \"pc-i440fx-2.3\", \"pc-q35-7.2\" "
                                    "[MACHINE_DIFFERS]\n"));
  ck_assert_ptr_nonnull(strstr(out, "(machine pc-i440fx-2.3, 214 sections)"));
}
END_TEST

/* dump-vmstate writes a file the checker reads; a bad machine type is exit 2. */
START_TEST(cli_dump_vmstate_output)
{
  char path[64];
  temp_write(path, "");
  static char out[8192];
  char *args[] = {"--machine", "sim-1.0", "--output", path};
  ck_assert_int_eq(cli_run_captured(cli_dump_vmstate_main, 4, args, out, sizeof(out)), 0);
  char *same[] = {path, path};
  ck_assert_int_eq(cli_run_captured(cli_vmstate_diff_main, 2, same, out, sizeof(out)), 0);
  ck_assert_ptr_nonnull(strstr(out, "(machine sim-1.0, 11 sections)"));
  char *bad[] = {"--machine", ""};
  ck_assert_int_eq(cli_run_captured(cli_dump_vmstate_main, 2, bad, out, sizeof(out)), 2);
  char *unknown[] = {"--frobnicate"};
  ck_assert_int_eq(cli_run_captured(cli_dump_vmstate_main, 1, unknown, out, sizeof(out)), 2);
  unlink(path);
}
END_TEST

Suite *cli_vmsd_suite(void)
{
  Suite *suite = suite_create("cli_vmsd");
  TCase *core = tcase_create("core");
  tcase_set_timeout(core, 60);
  tcase_add_test(core, cli_vmstate_diff_exit_codes);
  tcase_add_test(core, cli_vmstate_diff_strict);
  tcase_add_test(core, cli_vmstate_diff_corpus);
  tcase_add_test(core, cli_dump_vmstate_output);
  suite_add_tcase(suite, core);
  return suite;
}
