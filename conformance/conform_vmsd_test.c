/*
 * conform_vmsd_test.c: `migsim dump-vmstate` and `migsim vmstate-diff`
 * (conform_vmsd.h) end to end: migsim's own machine written in QEMU's
 * -dump-vmstate format and read back by the checker, a real compatibility
 * break between two migsim configurations (the amd-iommu's qemu-10.1
 * profile lacks five subsections), and the command line's exit codes and
 * wording.  Tests that read ../shared/corpus/qemu-7.2/vmstate print
 * "skipped: … not found" and return when it is absent.
 */
#include "sim_base.h"

#include "conform_run.h"
#include "conform_vmsd.h"
#include "mig_vmsd_diff.h"
#include "sim_check.h"

#include <fcntl.h>
#include <unistd.h>

#define VMSTATE_DIR "../shared/corpus/qemu-7.2/vmstate"

static void catalog_load(struct conform_scenario *scenario)
{
  char error[CONFORM_ERROR_BYTES];
  const char *text = conform_vmsd_catalog_text();
  bool ok = conform_scenario_parse(text, strlen(text), "<catalog>", scenario, error,
                                   sizeof(error));
  ck_assert_msg(ok, "%s", error);
}

static json_t *catalog_dump(const struct conform_scenario *scenario, bool qemu_only)
{
  char why[256];
  json_t *dump = conform_vmsd_dump_scenario(scenario, NULL, qemu_only, why, sizeof(why));
  ck_assert_msg(dump != NULL, "%s", why);
  return dump;
}

static struct mig_vmsd_file *parse_tree(const json_t *root)
{
  struct mig_vmsd_file *file = NULL;
  struct mig_vmsd_error error;
  char text[1024];
  enum mig_vmsd_err err = mig_vmsd_file_from_json(root, &file, &error);
  mig_vmsd_error_format(&error, text, sizeof(text));
  ck_assert_msg(err == MIG_VMSD_OK, "%s", text);
  return file;
}

static bool has_extension_key(const json_t *value)
{
  if (json_is_array(value)) {
    for (size_t i = 0; i < json_array_size(value); i++) {
      if (has_extension_key(json_array_get(value, i))) return true;
    }
  }
  if (!json_is_object(value)) return false;
  const char *key;
  const json_t *member;
  json_object_foreach((json_t *)value, key, member) {
    if (strncmp(key, "x-", 2) == 0 || has_extension_key(member)) return true;
  }
  return false;
}

/* migsim's machine in QEMU's format: every section kind, fields as in the tables. */
START_TEST(conform_vmsd_dump_catalog)
{
  static struct conform_scenario scenario;
  catalog_load(&scenario);
  json_t *dump = catalog_dump(&scenario, false);
  static const char *const expected[] = {"vmschkmachine", "amd-iommu", "blockdev", "cpu",
                                         "devdrv", "dmadev", "iommudrv", "irqsink",
                                         "ram-resize", "testdev", "vfiodev", "vmclock"};
  ck_assert_uint_eq(json_object_size(dump), SIM_ARRAY_COUNT(expected));
  for (size_t i = 0; i < SIM_ARRAY_COUNT(expected); i++) {
    ck_assert_msg(json_object_get(dump, expected[i]) != NULL, "no %s", expected[i]);
  }
  ck_assert_str_eq(json_string_value(json_object_get(json_object_get(dump, "vmschkmachine"),
                                                     "Name")), "migsim-1.0");
  /* The testdev table: 10 fields, its one subsection's predicate false on a fresh device. */
  json_t *testdev = json_object_get(json_object_get(dump, "testdev"), "Description");
  ck_assert_uint_eq(json_array_size(json_object_get(testdev, "Fields")), 10);
  json_t *extra = json_array_get(json_object_get(testdev, "Subsections"), 0);
  ck_assert_str_eq(json_string_value(json_object_get(extra, "name")), "testdev/extra");
  ck_assert_str_eq(json_string_value(json_object_get(extra, "x-needed")), "predicate");
  ck_assert(json_is_false(json_object_get(extra, "x-sent")));
  ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(dump, "amd-iommu"),
                                                      "x-priority")), 1);
  ck_assert(has_extension_key(dump));
  /* Read back: the checker finds nothing between the dump and itself. */
  struct mig_vmsd_file *file = parse_tree(dump);
  ck_assert_uint_eq(mig_vmsd_file_section_count(file), SIM_ARRAY_COUNT(expected) - 1);
  struct mig_vmsd_report report;
  mig_vmsd_report_init(&report);
  mig_vmsd_diff(file, file, NULL, &report);
  ck_assert_uint_eq(report.findings_count, 0);
  mig_vmsd_report_deinit(&report);
  mig_vmsd_file_free(file);
  json_decref(dump);
  /* --qemu-only: QEMU's keys only. */
  dump = catalog_dump(&scenario, true);
  ck_assert(!has_extension_key(dump));
  json_decref(dump);
}
END_TEST

static const struct mig_vmsd_finding *find(const struct mig_vmsd_report *report,
                                           enum mig_vmsd_code code, const char *path)
{
  for (uint32_t i = 0; i < report->findings_count; i++) {
    const struct mig_vmsd_finding *f = &report->findings[i];
    if (f->code == code && strcmp(f->path, path) == 0) return f;
  }
  ck_abort_msg("no %s at %s", mig_vmsd_code_name(code), path);
  return NULL;
}

/*
 * The amd-iommu's qemu-10.1 profile has QEMU 10.1's field set and none of
 * migsim's five subsections: 10.1 -> default is clean; default -> 10.1 fails
 * on amd-iommu/pci and amd-iommu/config for every guest (their predicates
 * are true on a fresh device) and on the other three when they are needed.
 */
START_TEST(conform_vmsd_diff_iommu_profiles)
{
  static struct conform_scenario scenario;
  catalog_load(&scenario);
  ck_assert_str_eq(scenario.machine.devices[0].driver, "amd-iommu");
  json_t *new_dump = catalog_dump(&scenario, false);
  scenario.machine.devices[0].iommu.profile = AMDVI_PROFILE_QEMU_10_1;
  json_t *old_dump = catalog_dump(&scenario, false);
  struct mig_vmsd_file *old_file = parse_tree(old_dump);
  struct mig_vmsd_file *new_file = parse_tree(new_dump);
  struct mig_vmsd_report report;
  mig_vmsd_report_init(&report);
  mig_vmsd_diff(old_file, new_file, NULL, &report);
  ck_assert_uint_eq(report.findings_count, 5);
  static const char *const always[] = {"amd-iommu/amd-iommu/pci", "amd-iommu/amd-iommu/config"};
  static const char *const sometimes[] = {"amd-iommu/amd-iommu/snp", "amd-iommu/amd-iommu/halt",
                                          "amd-iommu/amd-iommu/ats"};
  for (size_t i = 0; i < SIM_ARRAY_COUNT(always); i++) {
    const struct mig_vmsd_finding *f = find(&report, MIG_VMSD_SUBSECTION_ALWAYS_SENT, always[i]);
    ck_assert_int_eq(f->direction, MIG_VMSD_BACKWARD);
  }
  for (size_t i = 0; i < SIM_ARRAY_COUNT(sometimes); i++) {
    const struct mig_vmsd_finding *f = find(&report, MIG_VMSD_SUBSECTION_CONDITIONAL,
                                            sometimes[i]);
    ck_assert_int_eq(f->direction, MIG_VMSD_BACKWARD);
  }
  mig_vmsd_report_deinit(&report);
  mig_vmsd_file_free(old_file);
  mig_vmsd_file_free(new_file);
  json_decref(old_dump);
  json_decref(new_dump);
}
END_TEST

/* A temporary file holding text; its path in path (room for 64 bytes). */
static void temp_write(char *path, const char *text)
{
  snprintf(path, 64, "/tmp/conform_vmsd_XXXXXX");
  int fd = mkstemp(path);
  ck_assert_int_ge(fd, 0);
  size_t length = strlen(text);
  ck_assert_int_eq(write(fd, text, length), (ssize_t)length);
  close(fd);
}

/* Runs main with argv, stdout and stderr captured into out (NUL-terminated); its exit code. */
static int run_captured(int (*main_fn)(int, char **), int argc, char **argv, char *out,
                        size_t out_bytes)
{
  char path[64];
  temp_write(path, "");
  fflush(stdout);
  fflush(stderr);
  int saved_out = dup(STDOUT_FILENO);
  int saved_err = dup(STDERR_FILENO);
  int fd = open(path, O_WRONLY | O_TRUNC);
  ck_assert(saved_out >= 0 && saved_err >= 0 && fd >= 0);
  dup2(fd, STDOUT_FILENO);
  dup2(fd, STDERR_FILENO);
  close(fd);
  int rc = main_fn(argc, argv);
  fflush(stdout);
  fflush(stderr);
  dup2(saved_out, STDOUT_FILENO);
  dup2(saved_err, STDERR_FILENO);
  close(saved_out);
  close(saved_err);
  FILE *file = fopen(path, "r");
  size_t count = fread(out, 1, out_bytes - 1, file);
  out[count] = '\0';
  fclose(file);
  unlink(path);
  return rc;
}

static const char old_text[] =
    "{\"vmschkmachine\": {\"Name\": \"sim-1.0\"},\n"
    " \"dev\": {\"Name\": \"dev\", \"version_id\": 1, \"minimum_version_id\": 1,\n"
    "  \"Description\": {\"name\": \"dev\", \"version_id\": 1, \"minimum_version_id\": 1,\n"
    "   \"Fields\": [{\"field\": \"a\", \"version_id\": 0, \"field_exists\": false, "
    "\"size\": 4}]}}}\n";

/* The command line: exit 0, 1, 2; the text lines; JSON; --direction and --strict. */
START_TEST(conform_vmstate_diff_cli)
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
  ck_assert_int_eq(run_captured(conform_vmstate_diff_main, 2, same, out, sizeof(out)), 0);
  ck_assert_ptr_nonnull(strstr(out, "migsim vmstate-diff: COMPATIBLE\n"));
  char *differ[] = {old_path, new_path};
  ck_assert_int_eq(run_captured(conform_vmstate_diff_main, 2, differ, out, sizeof(out)), 1);
  ck_assert_ptr_nonnull(strstr(out, "\nerror: both: dev/a: field \"a\" size mismatch: 4, 8 "
                                    "[FIELD_SIZE]\n"));
  ck_assert_ptr_nonnull(strstr(out, "migsim vmstate-diff: 1 error, 0 warnings, 0 notes; "
                                    "directions: forward and backward\n"
                                    "migsim vmstate-diff: INCOMPATIBLE\n"));
  char *as_json[] = {old_path, new_path, "--format", "json", "--direction", "forward"};
  ck_assert_int_eq(run_captured(conform_vmstate_diff_main, 6, as_json, out, sizeof(out)), 1);
  json_error_t error;
  json_t *report = json_loads(out, 0, &error);
  ck_assert_msg(report != NULL, "%s", error.text);
  ck_assert_str_eq(json_string_value(json_object_get(report, "verdict")), "incompatible");
  json_t *finding = json_array_get(json_object_get(report, "findings"), 0);
  ck_assert_str_eq(json_string_value(json_object_get(finding, "path")), "dev/a");
  ck_assert_int_eq(json_integer_value(json_object_get(finding, "new")), 8);
  json_decref(report);
  char *bad[] = {old_path, bad_path};
  ck_assert_int_eq(run_captured(conform_vmstate_diff_main, 2, bad, out, sizeof(out)), 2);
  char expected[256];
  snprintf(expected, sizeof(expected), "migsim vmstate-diff: %s: dev/version_id: value of the "
           "wrong type (got string, want integer)\n", bad_path);
  ck_assert_str_eq(out, expected);
  char *missing[] = {old_path, "/nonexistent/dump.json"};
  ck_assert_int_eq(run_captured(conform_vmstate_diff_main, 2, missing, out, sizeof(out)), 2);
  char *one[] = {old_path};
  ck_assert_int_eq(run_captured(conform_vmstate_diff_main, 1, one, out, sizeof(out)), 2);
  char *direction[] = {old_path, new_path, "--direction", "sideways"};
  ck_assert_int_eq(run_captured(conform_vmstate_diff_main, 4, direction, out, sizeof(out)), 2);
  unlink(old_path);
  unlink(new_path);
  unlink(bad_path);
}
END_TEST

/* --strict: a rename (a warning) fails the check; without it the check passes. */
START_TEST(conform_vmstate_diff_cli_strict)
{
  char old_path[64], new_path[64];
  temp_write(old_path, old_text);
  char new_text[sizeof(old_text) + 64];
  snprintf(new_text, sizeof(new_text), "%s", old_text);
  memcpy(strstr(new_text, "\"field\": \"a\""), "\"field\": \"b\"", 12);
  temp_write(new_path, new_text);
  static char out[8192];
  char *plain[] = {old_path, new_path};
  ck_assert_int_eq(run_captured(conform_vmstate_diff_main, 2, plain, out, sizeof(out)), 0);
  ck_assert_ptr_nonnull(strstr(out, "warning: both: dev/a: field \"a\" is \"b\" on the "
                                    "destination (4 bytes both) [FIELD_RENAMED]\n"));
  char *strict[] = {old_path, new_path, "--strict"};
  ck_assert_int_eq(run_captured(conform_vmstate_diff_main, 3, strict, out, sizeof(out)), 1);
  unlink(old_path);
  unlink(new_path);
}
END_TEST

/* QEMU 7.2's dumps of two machine types through the command line: one note, exit 0. */
START_TEST(conform_vmstate_diff_cli_corpus)
{
  if (access(VMSTATE_DIR "/pc-i440fx-7.2.vmstate.json", R_OK) != 0) {
    fprintf(stderr, "skipped: %s not found\n", VMSTATE_DIR);
    return;
  }
  static char out[8192];
  char *args[] = {VMSTATE_DIR "/pc-i440fx-2.3.vmstate.json",
                  VMSTATE_DIR "/pc-q35-7.2.vmstate.json"};
  ck_assert_int_eq(run_captured(conform_vmstate_diff_main, 2, args, out, sizeof(out)), 0);
  ck_assert_ptr_nonnull(strstr(out, "note: both: vmschkmachine: checking different machine "
                                    "types: \"pc-i440fx-2.3\", \"pc-q35-7.2\" "
                                    "[MACHINE_DIFFERS]\n"));
  ck_assert_ptr_nonnull(strstr(out, "(machine pc-i440fx-2.3, 214 sections)"));
}
END_TEST

/* dump-vmstate writes a file the checker reads; a bad machine type is exit 2. */
START_TEST(conform_dump_vmstate_cli)
{
  char path[64];
  temp_write(path, "");
  static char out[8192];
  char *args[] = {"--machine", "sim-1.0", "--output", path};
  ck_assert_int_eq(run_captured(conform_dump_vmstate_main, 4, args, out, sizeof(out)), 0);
  char *same[] = {path, path};
  ck_assert_int_eq(run_captured(conform_vmstate_diff_main, 2, same, out, sizeof(out)), 0);
  ck_assert_ptr_nonnull(strstr(out, "(machine sim-1.0, 11 sections)"));
  char *bad[] = {"--machine", ""};
  ck_assert_int_eq(run_captured(conform_dump_vmstate_main, 2, bad, out, sizeof(out)), 2);
  char *unknown[] = {"--frobnicate"};
  ck_assert_int_eq(run_captured(conform_dump_vmstate_main, 1, unknown, out, sizeof(out)), 2);
  unlink(path);
}
END_TEST

Suite *conform_vmsd_suite(void)
{
  Suite *suite = suite_create("conform_vmsd");
  TCase *dump = tcase_create("dump");
  tcase_set_timeout(dump, 60);
  tcase_add_test(dump, conform_vmsd_dump_catalog);
  tcase_add_test(dump, conform_vmsd_diff_iommu_profiles);
  suite_add_tcase(suite, dump);
  TCase *cli = tcase_create("cli");
  tcase_set_timeout(cli, 60);
  tcase_add_test(cli, conform_vmstate_diff_cli);
  tcase_add_test(cli, conform_vmstate_diff_cli_strict);
  tcase_add_test(cli, conform_vmstate_diff_cli_corpus);
  tcase_add_test(cli, conform_dump_vmstate_cli);
  suite_add_tcase(suite, cli);
  return suite;
}
