/*
 * conform_vmsd_test.c: a scenario's machine as -dump-vmstate JSON
 * (conform_vmsd.h): migsim's own machine written in QEMU's format and read
 * back by the checker, and a real compatibility break between two migsim
 * configurations (the amd-iommu's qemu-10.1 profile lacks five subsections).
 * The command lines are tested in cli/cli_vmsd_test.c.
 */
#include "sim_base.h"

#include "amdvi.h"
#include "conform_run.h"
#include "conform_vmsd.h"
#include "mig_vmsd_diff.h"
#include "sim_check.h"

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
  amdvi_props(&scenario.machine.devices[0])->profile = AMDVI_PROFILE_QEMU_10_1;
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

Suite *conform_vmsd_suite(void)
{
  Suite *suite = suite_create("conform_vmsd");
  TCase *dump = tcase_create("dump");
  tcase_set_timeout(dump, 60);
  tcase_add_test(dump, conform_vmsd_dump_catalog);
  tcase_add_test(dump, conform_vmsd_diff_iommu_profiles);
  suite_add_tcase(suite, dump);
  return suite;
}
