/*
 * mig_vmsd_diff_test.c: the -dump-vmstate parser and the static checker
 * (mig_vmsd_diff.h).
 *
 * The edit tests start from QEMU 7.2's own dump of pc-i440fx-7.2
 * (../shared/corpus/qemu-7.2/vmstate, recorded with -dump-vmstate), change
 * one thing in a copy the way a release would, and assert the exact code,
 * direction, path and values of what the checker reports, and that nothing
 * else is reported.  libcheck has no "skipped" state: without the corpus a
 * test prints "skipped: ../shared/corpus/qemu-7.2/vmstate not found" and
 * returns.  The hostile-input tests need no corpus.
 */
#include "sim_base.h"

#include "mig_vmsd_diff.h"

#include <check.h>

#define VMSTATE_DIR "../shared/corpus/qemu-7.2/vmstate"

static const char *const corpus_machines[] = {
    "microvm",        "pc-i440fx-2.12", "pc-i440fx-2.3", "pc-i440fx-5.2",
    "pc-i440fx-7.2",  "pc-q35-4.2",     "pc-q35-7.2",
};

/* QEMU 7.2's dump for machine, or NULL after printing "skipped: …". */
static json_t *corpus_load(const char *machine)
{
  char path[256];
  snprintf(path, sizeof(path), VMSTATE_DIR "/%s.vmstate.json", machine);
  json_error_t error;
  json_t *root = json_load_file(path, 0, &error);
  if (root == NULL) fprintf(stderr, "skipped: %s not found\n", VMSTATE_DIR);
  return root;
}

static struct mig_vmsd_file *from_json(const json_t *root)
{
  struct mig_vmsd_file *file = NULL;
  struct mig_vmsd_error error;
  enum mig_vmsd_err err = mig_vmsd_file_from_json(root, &file, &error);
  char text[1024];
  mig_vmsd_error_format(&error, text, sizeof(text));
  ck_assert_msg(err == MIG_VMSD_OK, "%s", text);
  return file;
}

static void diff_trees(const json_t *old_root, const json_t *new_root,
                       struct mig_vmsd_report *report)
{
  struct mig_vmsd_file *old_file = from_json(old_root);
  struct mig_vmsd_file *new_file = from_json(new_root);
  mig_vmsd_report_init(report);
  mig_vmsd_diff(old_file, new_file, NULL, report);
  mig_vmsd_file_free(old_file);
  mig_vmsd_file_free(new_file);
}

static void report_print(const struct mig_vmsd_report *report)
{
  char line[2048];
  for (uint32_t i = 0; i < report->findings_count; i++) {
    mig_vmsd_finding_format(&report->findings[i], line, sizeof(line));
    fprintf(stderr, "  %s\n", line);
  }
}

/* The one finding with code, direction and path; fails unless there is exactly one. */
static const struct mig_vmsd_finding *expect(const struct mig_vmsd_report *report,
                                             enum mig_vmsd_code code,
                                             enum mig_vmsd_direction direction,
                                             const char *path)
{
  const struct mig_vmsd_finding *found = NULL;
  uint32_t count = 0;
  for (uint32_t i = 0; i < report->findings_count; i++) {
    const struct mig_vmsd_finding *f = &report->findings[i];
    if (f->code == code && f->direction == direction && strcmp(f->path, path) == 0) {
      found = f;
      count++;
    }
  }
  if (count != 1) report_print(report);
  ck_assert_msg(count == 1, "%u findings %s %s %s", count, mig_vmsd_code_name(code),
                mig_vmsd_direction_name(direction), path);
  return found;
}

static void expect_count(const struct mig_vmsd_report *report, uint32_t count)
{
  if (report->findings_count != count) report_print(report);
  ck_assert_uint_eq(report->findings_count, count);
}

/* Section key's description (or a nested one by field names) in root. */
static json_t *desc_of(json_t *root, const char *key)
{
  json_t *desc = json_object_get(json_object_get(root, key), "Description");
  ck_assert_ptr_nonnull(desc);
  return desc;
}

static json_t *field_named(json_t *desc, const char *name)
{
  json_t *fields = json_object_get(desc, "Fields");
  for (size_t i = 0; i < json_array_size(fields); i++) {
    json_t *field = json_array_get(fields, i);
    if (strcmp(json_string_value(json_object_get(field, "field")), name) == 0) return field;
  }
  ck_abort_msg("no field %s", name);
  return NULL;
}

static size_t field_index(json_t *desc, const char *name)
{
  json_t *fields = json_object_get(desc, "Fields");
  for (size_t i = 0; i < json_array_size(fields); i++) {
    json_t *field = json_array_get(fields, i);
    if (strcmp(json_string_value(json_object_get(field, "field")), name) == 0) return i;
  }
  ck_abort_msg("no field %s", name);
  return 0;
}

static json_t *plain_field(const char *name, int32_t version_id, bool test, uint32_t size)
{
  return json_pack("{s:s, s:i, s:b, s:i}", "field", name, "version_id", version_id,
                   "field_exists", test, "size", size);
}

static void set_int(json_t *object, const char *key, json_int_t value)
{
  ck_assert_int_eq(json_object_set_new(object, key, json_integer(value)), 0);
}

/* Both versions of a section move together, as QEMU writes them. */
static void set_versions(json_t *root, const char *key, int32_t version, int32_t minimum)
{
  json_t *section = json_object_get(root, key);
  set_int(section, "version_id", version);
  set_int(section, "minimum_version_id", minimum);
  set_int(json_object_get(section, "Description"), "version_id", version);
  set_int(json_object_get(section, "Description"), "minimum_version_id", minimum);
}

/* Each 7.2 dump against itself and every other: same QEMU, same tables. */
START_TEST(mig_vmsd_diff_corpus_same_qemu)
{
  json_t *roots[SIM_ARRAY_COUNT(corpus_machines)];
  for (size_t i = 0; i < SIM_ARRAY_COUNT(corpus_machines); i++) {
    roots[i] = corpus_load(corpus_machines[i]);
    if (roots[i] == NULL) return;
  }
  for (size_t i = 0; i < SIM_ARRAY_COUNT(corpus_machines); i++) {
    for (size_t j = 0; j < SIM_ARRAY_COUNT(corpus_machines); j++) {
      struct mig_vmsd_report report;
      diff_trees(roots[i], roots[j], &report);
      ck_assert_uint_eq(report.sections_compared, 2 * 214);
      if (i == j) {
        expect_count(&report, 0);
      } else {
        expect_count(&report, 1);
        expect(&report, MIG_VMSD_MACHINE_DIFFERS, MIG_VMSD_BOTH, "vmschkmachine");
        ck_assert(!mig_vmsd_report_incompatible(&report, true));
      }
      mig_vmsd_report_deinit(&report);
    }
  }
  for (size_t i = 0; i < SIM_ARRAY_COUNT(corpus_machines); i++) json_decref(roots[i]);
}
END_TEST

/* The same dump, parsed from its bytes: 214 sections, sorted, the machine named. */
START_TEST(mig_vmsd_file_parse_corpus)
{
  FILE *file = fopen(VMSTATE_DIR "/pc-q35-7.2.vmstate.json", "rb");
  if (file == NULL) {
    fprintf(stderr, "skipped: %s not found\n", VMSTATE_DIR);
    return;
  }
  static uint8_t bytes[1 << 20];
  size_t count = fread(bytes, 1, sizeof(bytes), file);
  fclose(file);
  ck_assert_uint_gt(count, 700000);
  struct mig_vmsd_file *parsed = NULL;
  struct mig_vmsd_error error;
  ck_assert_int_eq(mig_vmsd_file_parse(bytes, count, &parsed, &error), MIG_VMSD_OK);
  ck_assert_str_eq(mig_vmsd_file_machine(parsed), "pc-q35-7.2");
  ck_assert_uint_eq(mig_vmsd_file_section_count(parsed), 214);
  mig_vmsd_file_free(parsed);
}
END_TEST

/* A section the new release dropped: an old source's section has nowhere to go. */
START_TEST(mig_vmsd_diff_section_removed)
{
  json_t *old_root = corpus_load("pc-i440fx-7.2");
  if (old_root == NULL) return;
  json_t *new_root = json_deep_copy(old_root);
  json_object_del(new_root, "hpet");
  struct mig_vmsd_report report;
  diff_trees(old_root, new_root, &report);
  expect_count(&report, 1);
  const struct mig_vmsd_finding *f =
      expect(&report, MIG_VMSD_SECTION_MISSING, MIG_VMSD_FORWARD, "hpet");
  ck_assert_int_eq(f->severity, MIG_VMSD_ERROR);
  ck_assert_str_eq(f->message, "section \"hpet\" does not exist in the destination");
  ck_assert(mig_vmsd_report_incompatible(&report, false));
  mig_vmsd_report_deinit(&report);
  json_decref(old_root);
  json_decref(new_root);
}
END_TEST

/* A subsection the new release dropped: QEMU's dump cannot say when it is sent. */
START_TEST(mig_vmsd_diff_subsection_removed)
{
  json_t *old_root = corpus_load("pc-i440fx-7.2");
  if (old_root == NULL) return;
  json_t *new_root = json_deep_copy(old_root);
  json_t *subsections = json_object_get(desc_of(new_root, "hpet"), "Subsections");
  ck_assert_str_eq(json_string_value(json_object_get(json_array_get(subsections, 1), "name")),
                   "hpet/offset");
  json_array_remove(subsections, 1);
  struct mig_vmsd_report report;
  diff_trees(old_root, new_root, &report);
  expect_count(&report, 1);
  const struct mig_vmsd_finding *f =
      expect(&report, MIG_VMSD_SUBSECTION_MISSING, MIG_VMSD_FORWARD, "hpet/hpet/offset");
  ck_assert_str_eq(f->description, "hpet");
  ck_assert_int_eq(f->severity, MIG_VMSD_ERROR);
  mig_vmsd_report_deinit(&report);
  json_decref(old_root);
  json_decref(new_root);
}
END_TEST

/* A version bump that raises the minimum breaks both directions, with both numbers. */
START_TEST(mig_vmsd_diff_version_bump_min_raise)
{
  json_t *old_root = corpus_load("pc-i440fx-7.2");
  if (old_root == NULL) return;
  json_t *new_root = json_deep_copy(old_root);
  set_versions(new_root, "hpet", 3, 3); /* 7.2: version 2, minimum 1 */
  struct mig_vmsd_report report;
  diff_trees(old_root, new_root, &report);
  expect_count(&report, 2);
  const struct mig_vmsd_finding *f =
      expect(&report, MIG_VMSD_VERSION_TOO_OLD, MIG_VMSD_FORWARD, "hpet");
  ck_assert(f->has_values && f->old_value == 2 && f->new_value == 3);
  ck_assert_str_eq(f->message, "description \"hpet\": minimum version error: 2 < 3");
  f = expect(&report, MIG_VMSD_VERSION_TOO_NEW, MIG_VMSD_BACKWARD, "hpet");
  ck_assert(f->has_values && f->old_value == 2 && f->new_value == 3);
  ck_assert_str_eq(f->message, "description \"hpet\": version error: 3 > 2");
  mig_vmsd_report_deinit(&report);
  json_decref(old_root);
  json_decref(new_root);
}
END_TEST

/* QEMU's pattern: a bump with the new field at the new version: forward stays clean. */
START_TEST(mig_vmsd_diff_version_bump_new_field)
{
  json_t *old_root = corpus_load("pc-i440fx-7.2");
  if (old_root == NULL) return;
  json_t *new_root = json_deep_copy(old_root);
  set_versions(new_root, "hpet", 3, 1);
  json_array_insert_new(json_object_get(desc_of(new_root, "hpet"), "Fields"), 2,
                        plain_field("hpet_extra", 3, false, 4));
  struct mig_vmsd_report report;
  diff_trees(old_root, new_root, &report);
  expect_count(&report, 1);
  expect(&report, MIG_VMSD_VERSION_TOO_NEW, MIG_VMSD_BACKWARD, "hpet");
  mig_vmsd_report_deinit(&report);
  /* The same field without the bump: read but never sent forward, sent but unread back. */
  json_decref(new_root);
  new_root = json_deep_copy(old_root);
  json_array_insert_new(json_object_get(desc_of(new_root, "hpet"), "Fields"), 2,
                        plain_field("hpet_extra", 0, false, 4));
  set_int(field_named(desc_of(new_root, "hpet"), "hpet_counter"), "size", 4);
  diff_trees(old_root, new_root, &report);
  expect_count(&report, 3);
  expect(&report, MIG_VMSD_FIELD_NOT_SENT, MIG_VMSD_FORWARD, "hpet/hpet_extra");
  expect(&report, MIG_VMSD_FIELD_NOT_READ, MIG_VMSD_BACKWARD, "hpet/hpet_extra");
  /* Realigned, the walk still sees the field after the insertion. */
  const struct mig_vmsd_finding *f =
      expect(&report, MIG_VMSD_FIELD_SIZE, MIG_VMSD_BOTH, "hpet/hpet_counter");
  ck_assert(f->old_value == 8 && f->new_value == 4);
  mig_vmsd_report_deinit(&report);
  json_decref(old_root);
  json_decref(new_root);
}
END_TEST

/* A field appended at the end without a bump: QEMU's "dest has no further fields". */
START_TEST(mig_vmsd_diff_field_appended)
{
  json_t *old_root = corpus_load("pc-i440fx-7.2");
  if (old_root == NULL) return;
  json_t *new_root = json_deep_copy(old_root);
  json_array_append_new(json_object_get(desc_of(new_root, "kvmclock"), "Fields"),
                        plain_field("tsc", 0, false, 8));
  struct mig_vmsd_report report;
  diff_trees(old_root, new_root, &report);
  expect_count(&report, 2);
  expect(&report, MIG_VMSD_FIELD_NOT_SENT, MIG_VMSD_FORWARD, "kvmclock/tsc");
  const struct mig_vmsd_finding *f =
      expect(&report, MIG_VMSD_FIELD_NOT_READ, MIG_VMSD_BACKWARD, "kvmclock/tsc");
  ck_assert_str_eq(f->message, "expected field \"tsc\" (8 bytes), while the destination has "
                               "no further fields");
  mig_vmsd_report_deinit(&report);
  json_decref(old_root);
  json_decref(new_root);
}
END_TEST

/* A rename at the same size is one warning, reported once, under the old name. */
START_TEST(mig_vmsd_diff_field_renamed)
{
  json_t *old_root = corpus_load("pc-i440fx-7.2");
  if (old_root == NULL) return;
  json_t *new_root = json_deep_copy(old_root);
  json_object_set_new(field_named(desc_of(new_root, "hpet"), "isr"), "field",
                      json_string("int_status"));
  struct mig_vmsd_report report;
  diff_trees(old_root, new_root, &report);
  expect_count(&report, 1);
  const struct mig_vmsd_finding *f =
      expect(&report, MIG_VMSD_FIELD_RENAMED, MIG_VMSD_BOTH, "hpet/isr");
  ck_assert_int_eq(f->severity, MIG_VMSD_WARNING);
  ck_assert(!mig_vmsd_report_incompatible(&report, false));
  ck_assert(mig_vmsd_report_incompatible(&report, true));
  mig_vmsd_report_deinit(&report);
  /* Renamed and resized: no longer a rename; QEMU's "skipping rest". */
  json_t *field = field_named(desc_of(new_root, "hpet"), "int_status");
  set_int(field, "size", 4);
  diff_trees(old_root, new_root, &report);
  expect(&report, MIG_VMSD_FIELD_MISMATCH, MIG_VMSD_FORWARD, "hpet/isr");
  f = expect(&report, MIG_VMSD_FIELD_MISMATCH, MIG_VMSD_BACKWARD, "hpet/int_status");
  ck_assert_str_eq(f->message, "expected field \"int_status\", got \"isr\"; skipping rest");
  expect_count(&report, 2);
  mig_vmsd_report_deinit(&report);
  json_decref(old_root);
  json_decref(new_root);
}
END_TEST

/* A resized field inside a nested struct: its full path, both sizes, once. */
START_TEST(mig_vmsd_diff_field_resized)
{
  json_t *old_root = corpus_load("pc-i440fx-7.2");
  if (old_root == NULL) return;
  json_t *new_root = json_deep_copy(old_root);
  json_t *hid = json_object_get(field_named(desc_of(new_root, "usb-kbd"), "hid"),
                                "Description");
  set_int(field_named(hid, "kbd.keycodes"), "size", 2);
  struct mig_vmsd_report report;
  diff_trees(old_root, new_root, &report);
  expect_count(&report, 1);
  const struct mig_vmsd_finding *f =
      expect(&report, MIG_VMSD_FIELD_SIZE, MIG_VMSD_BOTH, "usb-kbd/hid/kbd.keycodes");
  ck_assert(f->old_value == 4 && f->new_value == 2);
  ck_assert_str_eq(f->description, "HIDKeyboardDevice");
  ck_assert_str_eq(f->field, "kbd.keycodes");
  ck_assert_str_eq(f->message, "field \"kbd.keycodes\" size mismatch: 4, 2");
  mig_vmsd_report_deinit(&report);
  json_decref(old_root);
  json_decref(new_root);
}
END_TEST

static json_t *subsection(const char *name, const char *needed, int sent)
{
  json_t *sub = json_pack("{s:s, s:i, s:i, s:[o]}", "name", name, "version_id", 1,
                          "minimum_version_id", 1, "Fields", plain_field("extra", 0, false, 4));
  if (needed != NULL) json_object_set_new(sub, "x-needed", json_string(needed));
  if (sent >= 0) json_object_set_new(sub, "x-sent", json_boolean(sent));
  return sub;
}

/* A new subsection in NEW, four ways: what its needed predicate says decides the code. */
START_TEST(mig_vmsd_diff_new_subsection)
{
  json_t *old_root = corpus_load("pc-i440fx-7.2");
  if (old_root == NULL) return;
  static const struct {
    const char *needed;
    int sent;
    enum mig_vmsd_code code;
    enum mig_vmsd_severity severity;
  } cases[] = {
      {NULL, -1, MIG_VMSD_SUBSECTION_MISSING, MIG_VMSD_ERROR},
      {"always", -1, MIG_VMSD_SUBSECTION_NO_NEEDED, MIG_VMSD_ERROR},
      {"predicate", 1, MIG_VMSD_SUBSECTION_ALWAYS_SENT, MIG_VMSD_ERROR},
      {"predicate", 0, MIG_VMSD_SUBSECTION_CONDITIONAL, MIG_VMSD_WARNING},
  };
  for (size_t i = 0; i < SIM_ARRAY_COUNT(cases); i++) {
    json_t *new_root = json_deep_copy(old_root);
    json_array_append_new(json_object_get(desc_of(new_root, "hpet"), "Subsections"),
                          subsection("hpet/extra", cases[i].needed, cases[i].sent));
    struct mig_vmsd_report report;
    diff_trees(old_root, new_root, &report);
    expect_count(&report, 1);
    const struct mig_vmsd_finding *f =
        expect(&report, cases[i].code, MIG_VMSD_BACKWARD, "hpet/hpet/extra");
    ck_assert_int_eq(f->severity, cases[i].severity);
    if (cases[i].code == MIG_VMSD_SUBSECTION_ALWAYS_SENT) {
      ck_assert_ptr_nonnull(strstr(f->message, "machine type \"pc-i440fx-7.2\""));
    }
    mig_vmsd_report_deinit(&report);
    json_decref(new_root);
  }
  json_decref(old_root);
}
END_TEST

/* _TEST fields: one that became conditional, one added conditional. */
START_TEST(mig_vmsd_diff_test_fields)
{
  json_t *old_root = corpus_load("pc-i440fx-7.2");
  if (old_root == NULL) return;
  json_t *new_root = json_deep_copy(old_root);
  json_t *desc = desc_of(new_root, "hpet");
  json_object_set_new(field_named(desc, "isr"), "field_exists", json_true());
  json_array_insert_new(json_object_get(desc, "Fields"), field_index(desc, "hpet_counter"),
                        plain_field("legacy_route", 0, true, 1));
  struct mig_vmsd_report report;
  diff_trees(old_root, new_root, &report);
  expect_count(&report, 3);
  expect(&report, MIG_VMSD_TEST_FIELD_CHANGED, MIG_VMSD_BOTH, "hpet/isr");
  const struct mig_vmsd_finding *f =
      expect(&report, MIG_VMSD_TEST_FIELD_UNPAIRED, MIG_VMSD_FORWARD, "hpet/legacy_route");
  ck_assert_int_eq(f->severity, MIG_VMSD_WARNING);
  expect(&report, MIG_VMSD_TEST_FIELD_UNPAIRED, MIG_VMSD_BACKWARD, "hpet/legacy_route");
  ck_assert(!mig_vmsd_report_incompatible(&report, false));
  mig_vmsd_report_deinit(&report);
  json_decref(old_root);
  json_decref(new_root);
}
END_TEST

/* Priorities are migsim's extension: compared when both dumps have them. */
START_TEST(mig_vmsd_diff_priority_changed)
{
  json_t *old_root = corpus_load("pc-i440fx-7.2");
  if (old_root == NULL) return;
  json_t *new_root = json_deep_copy(old_root);
  set_int(json_object_get(old_root, "hpet"), "x-priority", 0);
  struct mig_vmsd_report report;
  diff_trees(old_root, new_root, &report);
  expect_count(&report, 0); /* NEW says nothing: not compared */
  mig_vmsd_report_deinit(&report);
  set_int(json_object_get(new_root, "hpet"), "x-priority", 2);
  diff_trees(old_root, new_root, &report);
  expect_count(&report, 1);
  const struct mig_vmsd_finding *f =
      expect(&report, MIG_VMSD_PRIORITY_CHANGED, MIG_VMSD_BOTH, "hpet");
  ck_assert(f->old_value == 0 && f->new_value == 2);
  mig_vmsd_report_deinit(&report);
  json_decref(old_root);
  json_decref(new_root);
}
END_TEST

/* A field kept as an unused placeholder of its size is a note; a wrong size an error. */
START_TEST(mig_vmsd_diff_placeholder)
{
  json_t *old_root = corpus_load("pc-i440fx-7.2");
  if (old_root == NULL) return;
  json_t *new_root = json_deep_copy(old_root);
  json_t *isr = field_named(desc_of(new_root, "hpet"), "isr");
  json_object_set_new(isr, "field", json_string("unused"));
  struct mig_vmsd_report report;
  diff_trees(old_root, new_root, &report);
  expect_count(&report, 1);
  expect(&report, MIG_VMSD_PLACEHOLDER, MIG_VMSD_BOTH, "hpet/isr");
  ck_assert(!mig_vmsd_report_incompatible(&report, true));
  mig_vmsd_report_deinit(&report);
  /* Two fields (isr 8 + hpet_counter 8) behind one 16-byte placeholder. */
  json_t *fields = json_object_get(desc_of(new_root, "hpet"), "Fields");
  set_int(isr, "size", 16);
  json_array_remove(fields, field_index(desc_of(new_root, "hpet"), "hpet_counter"));
  diff_trees(old_root, new_root, &report);
  expect_count(&report, 1);
  expect(&report, MIG_VMSD_PLACEHOLDER, MIG_VMSD_BOTH, "hpet/isr");
  mig_vmsd_report_deinit(&report);
  set_int(isr, "size", 12);
  diff_trees(old_root, new_root, &report);
  expect(&report, MIG_VMSD_PLACEHOLDER_SIZE, MIG_VMSD_FORWARD, "hpet/unused");
  expect(&report, MIG_VMSD_PLACEHOLDER_SIZE, MIG_VMSD_BACKWARD, "hpet/unused");
  expect_count(&report, 2);
  mig_vmsd_report_deinit(&report);
  json_decref(old_root);
  json_decref(new_root);
}
END_TEST

/* Fields moved into a substruct keep the wire: compared inside it (QEMU's rule). */
START_TEST(mig_vmsd_diff_substruct)
{
  json_t *old_root = corpus_load("pc-i440fx-7.2");
  if (old_root == NULL) return;
  json_t *new_root = json_deep_copy(old_root);
  json_t *fields = json_object_get(desc_of(new_root, "hpet"), "Fields");
  json_t *regs = json_pack("{s:s, s:i, s:b, s:i, s:{s:s, s:i, s:i, s:[O, O]}}", "field",
                           "regs", "version_id", 0, "field_exists", 0, "size", 16,
                           "Description", "name", "HPETRegs", "version_id", 1,
                           "minimum_version_id", 1, "Fields", json_array_get(fields, 0),
                           json_array_get(fields, 1));
  ck_assert_ptr_nonnull(regs);
  json_array_remove(fields, 0);
  json_array_remove(fields, 0);
  json_array_insert_new(fields, 0, regs);
  struct mig_vmsd_report report;
  diff_trees(old_root, new_root, &report);
  expect_count(&report, 0);
  mig_vmsd_report_deinit(&report);
  json_decref(old_root);
  json_decref(new_root);
}
END_TEST

/* Renamed top-level description, missing Description, nested version and name. */
START_TEST(mig_vmsd_diff_descriptions)
{
  json_t *old_root = corpus_load("pc-i440fx-7.2");
  if (old_root == NULL) return;
  json_t *new_root = json_deep_copy(old_root);
  json_object_set_new(desc_of(new_root, "hpet"), "name", json_string("hpet2"));
  json_object_del(json_object_get(new_root, "kvmclock"), "Description");
  json_t *hid = json_object_get(field_named(desc_of(new_root, "usb-kbd"), "hid"),
                                "Description");
  set_int(hid, "version_id", 2);
  json_object_set_new(hid, "name", json_string("HIDKbd"));
  struct mig_vmsd_report report;
  diff_trees(old_root, new_root, &report);
  expect_count(&report, 4);
  expect(&report, MIG_VMSD_SECTION_RENAMED, MIG_VMSD_BOTH, "hpet");
  expect(&report, MIG_VMSD_DESCRIPTION_MISSING, MIG_VMSD_FORWARD, "kvmclock");
  expect(&report, MIG_VMSD_STRUCT_VERSION, MIG_VMSD_BOTH, "usb-kbd/hid");
  expect(&report, MIG_VMSD_STRUCT_RENAMED, MIG_VMSD_BOTH, "usb-kbd/hid");
  mig_vmsd_report_deinit(&report);
  json_decref(old_root);
  json_decref(new_root);
}
END_TEST

/* Array counts ("num", QEMU 8.1+): compared when both sides have them. */
START_TEST(mig_vmsd_diff_array_count)
{
  json_t *old_root = corpus_load("pc-i440fx-7.2");
  if (old_root == NULL) return;
  json_t *new_root = json_deep_copy(old_root);
  set_int(field_named(desc_of(old_root, "hpet"), "timer"), "num", 3);
  set_int(field_named(desc_of(new_root, "hpet"), "timer"), "num", 32);
  struct mig_vmsd_report report;
  diff_trees(old_root, new_root, &report);
  expect_count(&report, 1); /* a struct array too: each element is on the wire */
  const struct mig_vmsd_finding *f =
      expect(&report, MIG_VMSD_FIELD_COUNT, MIG_VMSD_BOTH, "hpet/timer");
  ck_assert(f->old_value == 3 && f->new_value == 32);
  mig_vmsd_report_deinit(&report);
  json_object_del(field_named(desc_of(new_root, "hpet"), "timer"), "num");
  set_int(field_named(desc_of(old_root, "hpet"), "config"), "num", 1);
  set_int(field_named(desc_of(new_root, "hpet"), "config"), "num", 2);
  diff_trees(old_root, new_root, &report);
  expect_count(&report, 1); /* timer: NEW says nothing, not compared */
  f = expect(&report, MIG_VMSD_FIELD_COUNT, MIG_VMSD_BOTH, "hpet/config");
  ck_assert(f->old_value == 1 && f->new_value == 2);
  mig_vmsd_report_deinit(&report);
  json_decref(old_root);
  json_decref(new_root);
}
END_TEST

/* ------------------------------------------------------------ hostile input */

/* Parses text; asserts the error code, then the path (or offset when path is NULL). */
static void refuse(const char *text, size_t length, enum mig_vmsd_err code, const char *path,
                   uint64_t offset)
{
  struct mig_vmsd_file *file = (struct mig_vmsd_file *)1;
  struct mig_vmsd_error error;
  enum mig_vmsd_err err = mig_vmsd_file_parse((const uint8_t *)text, length, &file, &error);
  char message[1024];
  mig_vmsd_error_format(&error, message, sizeof(message));
  ck_assert_msg(err == code, "%s: got %s", message, mig_vmsd_err_name(err));
  ck_assert_int_eq(error.code, code);
  ck_assert_ptr_null(file);
  if (path != NULL) {
    ck_assert_msg(!error.has_offset && strcmp(error.path, path) == 0, "%s", message);
  } else {
    ck_assert_msg(error.has_offset && error.offset == offset, "%s", message);
  }
}

static void refuse_text(const char *text, enum mig_vmsd_err code, const char *path)
{
  refuse(text, strlen(text), code, path, 0);
}

#define SECTION_HEAD "{\"dev\": {\"Name\": \"dev\", \"version_id\": 1, \"minimum_version_id\": 1, "
#define DESC_HEAD \
  "\"Description\": {\"name\": \"dev\", \"version_id\": 1, \"minimum_version_id\": 1, "

/* Wrong types, missing keys, ranges and names: each refused with its JSON path. */
START_TEST(mig_vmsd_file_parse_structure)
{
  refuse_text("[]", MIG_VMSD_ERR_TYPE, "");
  refuse_text("{\"dev\": 1}", MIG_VMSD_ERR_TYPE, "dev");
  refuse_text("{\"vmschkmachine\": {\"Name\": 7}}", MIG_VMSD_ERR_TYPE, "vmschkmachine/Name");
  refuse_text("{\"dev\": {\"Name\": \"dev\", \"version_id\": 1}}", MIG_VMSD_ERR_MISSING, "dev");
  refuse_text("{\"dev\": {\"Name\": \"dev\", \"version_id\": 1.5, \"minimum_version_id\": 1}}",
              MIG_VMSD_ERR_TYPE, "dev/version_id");
  refuse_text("{\"dev\": {\"Name\": \"dev\", \"version_id\": 4294967296, "
              "\"minimum_version_id\": 1}}", MIG_VMSD_ERR_RANGE, "dev/version_id");
  refuse_text(SECTION_HEAD DESC_HEAD "\"Fields\": {}}}}", MIG_VMSD_ERR_TYPE,
              "dev/Description/Fields");
  refuse_text(SECTION_HEAD DESC_HEAD "\"Fields\": [{\"field\": \"a\", \"version_id\": 0, "
              "\"field_exists\": false, \"size\": \"4\"}]}}}", MIG_VMSD_ERR_TYPE,
              "dev/Description/Fields[0]/size");
  refuse_text(SECTION_HEAD DESC_HEAD "\"Fields\": [{\"field\": \"a\", \"version_id\": 0, "
              "\"field_exists\": 0, \"size\": 4}]}}}", MIG_VMSD_ERR_TYPE,
              "dev/Description/Fields[0]/field_exists");
  refuse_text(SECTION_HEAD DESC_HEAD "\"Fields\": [{\"field\": \"a\", \"version_id\": 0, "
              "\"field_exists\": false, \"size\": -1}]}}}", MIG_VMSD_ERR_RANGE,
              "dev/Description/Fields[0]/size");
  refuse_text(SECTION_HEAD DESC_HEAD "\"Fields\": [{\"field\": \"a\\u0001\", \"version_id\": 0, "
              "\"field_exists\": false, \"size\": 4}]}}}", MIG_VMSD_ERR_NAME,
              "dev/Description/Fields[0]/field");
  refuse_text(SECTION_HEAD DESC_HEAD "\"Fields\": [{\"field\": \"\", \"version_id\": 0, "
              "\"field_exists\": false, \"size\": 4}]}}}", MIG_VMSD_ERR_NAME,
              "dev/Description/Fields[0]/field");
  refuse_text(SECTION_HEAD DESC_HEAD "\"Subsections\": [{\"name\": \"dev/x\", "
              "\"version_id\": 1, \"minimum_version_id\": 1, \"x-needed\": \"sometimes\"}]}}}",
              MIG_VMSD_ERR_TYPE, "dev/Description/Subsections[0]/x-needed");
  refuse_text(SECTION_HEAD DESC_HEAD "\"Subsections\": [7]}}}", MIG_VMSD_ERR_TYPE,
              "dev/Description/Subsections[0]");
  refuse_text("{\"dev\": {\"Name\": \"dev\", \"version_id\": 1, \"minimum_version_id\": 1, "
              "\"x-priority\": -1}}", MIG_VMSD_ERR_RANGE, "dev/x-priority");
}
END_TEST

/* Syntax, duplicate keys, size, depth and value counts: refused at a byte offset. */
START_TEST(mig_vmsd_file_parse_bounds)
{
  refuse("", 0, MIG_VMSD_ERR_SYNTAX, NULL, 0);
  refuse("{\"a\": ", 6, MIG_VMSD_ERR_SYNTAX, NULL, 6);
  refuse("{\"a\": 1, \"a\": 2}", 16, MIG_VMSD_ERR_SYNTAX, NULL, 12);
  static char deep[200];
  memset(deep, '[', sizeof(deep));
  refuse(deep, sizeof(deep), MIG_VMSD_ERR_DEPTH, NULL, MIG_VMSD_JSON_DEPTH_MAX);
  /* Brackets inside a string do not count. */
  char key[MIG_VMSD_JSON_DEPTH_MAX + 8];
  memset(key, '[', sizeof(key) - 1);
  key[sizeof(key) - 1] = '\0';
  char quoted[sizeof(key) + 16];
  snprintf(quoted, sizeof(quoted), "{\"%s\": 1}", key);
  refuse_text(quoted, MIG_VMSD_ERR_TYPE, key);
  size_t count = 2 + 2 * (size_t)MIG_VMSD_JSON_VALUES_MAX;
  char *wide = malloc(count);
  ck_assert_ptr_nonnull(wide);
  wide[0] = '[';
  for (size_t i = 1; i + 1 < count; i += 2) wide[i] = '0', wide[i + 1] = ',';
  wide[count - 1] = ']';
  refuse(wide, count, MIG_VMSD_ERR_TOO_MANY, NULL, 2 * (uint64_t)MIG_VMSD_JSON_VALUES_MAX - 2);
  free(wide);
  size_t big_count = (size_t)MIG_VMSD_FILE_BYTES_MAX + 1;
  char *big = malloc(big_count);
  ck_assert_ptr_nonnull(big);
  memset(big, ' ', big_count);
  refuse(big, big_count, MIG_VMSD_ERR_TOO_BIG, NULL, MIG_VMSD_FILE_BYTES_MAX);
  free(big);
}
END_TEST

/* Descriptions nested past the bound, and too many fields, name their path. */
START_TEST(mig_vmsd_file_parse_nesting)
{
  char text[8192];
  size_t length = (size_t)snprintf(text, sizeof(text), SECTION_HEAD "\"Description\": ");
  for (uint32_t i = 0; i < MIG_VMSD_DESC_DEPTH_MAX; i++) {
    length += (size_t)snprintf(text + length, sizeof(text) - length,
                               "{\"name\": \"d\", \"version_id\": 1, \"minimum_version_id\": 1, "
                               "\"Fields\": [{\"field\": \"f\", \"version_id\": 0, "
                               "\"field_exists\": false, \"size\": 1, \"Description\": ");
  }
  length += (size_t)snprintf(text + length, sizeof(text) - length, "{}");
  for (uint32_t i = 0; i < MIG_VMSD_DESC_DEPTH_MAX; i++) {
    length += (size_t)snprintf(text + length, sizeof(text) - length, "}]}");
  }
  length += (size_t)snprintf(text + length, sizeof(text) - length, "}}");
  ck_assert_uint_lt(length, sizeof(text) - 1);
  struct mig_vmsd_file *file = NULL;
  struct mig_vmsd_error error;
  ck_assert_int_eq(mig_vmsd_file_parse((const uint8_t *)text, length, &file, &error),
                   MIG_VMSD_ERR_DEPTH);
  ck_assert_uint_eq(strlen(error.path), strlen("dev/Description") +
                                            MIG_VMSD_DESC_DEPTH_MAX *
                                                strlen("/Fields[0]/Description"));
  /* MIG_VMSD_FIELDS_MAX + 1 fields. */
  static char many[200000];
  length = (size_t)snprintf(many, sizeof(many), SECTION_HEAD DESC_HEAD "\"Fields\": [");
  for (uint32_t i = 0; i <= MIG_VMSD_FIELDS_MAX; i++) {
    length += (size_t)snprintf(many + length, sizeof(many) - length,
                               "%s{\"field\": \"f\", \"version_id\": 0, \"field_exists\": false, "
                               "\"size\": 1}", i > 0 ? ", " : "");
  }
  length += (size_t)snprintf(many + length, sizeof(many) - length, "]}}}");
  ck_assert_uint_lt(length, sizeof(many) - 1);
  refuse(many, length, MIG_VMSD_ERR_ARRAY, "dev/Description/Fields", 0);
}
END_TEST

/* A minimal dump parses; unknown keys (QEMU's later additions) are ignored. */
START_TEST(mig_vmsd_file_parse_minimal)
{
  const char *text = "{\"vmschkmachine\": {\"Name\": \"m\"}, \"b\": {\"Name\": \"b\", "
                     "\"version_id\": 1, \"minimum_version_id\": 1, \"later\": [1]}, "
                     "\"a\": {\"Name\": \"a\", \"version_id\": 1, \"minimum_version_id\": 1}}";
  struct mig_vmsd_file *file = NULL;
  struct mig_vmsd_error error;
  ck_assert_int_eq(mig_vmsd_file_parse((const uint8_t *)text, strlen(text), &file, &error),
                   MIG_VMSD_OK);
  ck_assert_str_eq(mig_vmsd_file_machine(file), "m");
  ck_assert_uint_eq(mig_vmsd_file_section_count(file), 2);
  struct mig_vmsd_report report;
  mig_vmsd_report_init(&report);
  mig_vmsd_diff(file, file, NULL, &report);
  ck_assert_uint_eq(report.findings_count, 0);
  ck_assert_uint_eq(report.sections_compared, 4);
  mig_vmsd_report_deinit(&report);
  mig_vmsd_file_free(file);
}
END_TEST

/* The JSON report: its keys, one finding's shape, counts and the verdict. */
START_TEST(mig_vmsd_report_json_shape)
{
  const char *old_text = "{\"vmschkmachine\": {\"Name\": \"m\"}, \"dev\": {\"Name\": \"dev\", "
                         "\"version_id\": 2, \"minimum_version_id\": 1, \"Description\": "
                         "{\"name\": \"dev\", \"version_id\": 2, \"minimum_version_id\": 1}}}";
  const char *new_text = "{\"vmschkmachine\": {\"Name\": \"m\"}}";
  struct mig_vmsd_file *old_file = NULL;
  struct mig_vmsd_file *new_file = NULL;
  struct mig_vmsd_error error;
  ck_assert_int_eq(mig_vmsd_file_parse((const uint8_t *)old_text, strlen(old_text), &old_file,
                                       &error), MIG_VMSD_OK);
  ck_assert_int_eq(mig_vmsd_file_parse((const uint8_t *)new_text, strlen(new_text), &new_file,
                                       &error), MIG_VMSD_OK);
  struct mig_vmsd_report report;
  mig_vmsd_report_init(&report);
  struct mig_vmsd_diff_options options = {.directions = MIG_VMSD_FORWARD};
  mig_vmsd_diff(old_file, new_file, &options, &report);
  json_t *json = mig_vmsd_report_json(&report, "old.json", old_file, "new.json", new_file,
                                      &options, false);
  char *text = json_dumps(json, JSON_COMPACT | JSON_SORT_KEYS);
  ck_assert_str_eq(text,
      "{\"directions\":[\"forward\"],\"findings\":[{\"code\":\"SECTION_MISSING\","
      "\"description\":\"dev\",\"direction\":\"forward\",\"field\":\"\",\"message\":"
      "\"section \\\"dev\\\" does not exist in the destination\",\"path\":\"dev\","
      "\"section\":\"dev\",\"severity\":\"error\"}],\"new\":{\"file\":\"new.json\","
      "\"machine\":\"m\",\"sections\":0},\"old\":{\"file\":\"old.json\",\"machine\":\"m\","
      "\"sections\":1},\"schema\":\"migsim-vmstate-diff/1\",\"strict\":false,\"summary\":"
      "{\"dropped\":0,\"errors\":1,\"notes\":0,\"sections_compared\":0,\"warnings\":0},"
      "\"verdict\":\"incompatible\"}");
  free(text);
  json_decref(json);
  char line[1024];
  mig_vmsd_finding_format(&report.findings[0], line, sizeof(line));
  ck_assert_str_eq(line, "error: forward: dev: section \"dev\" does not exist in the "
                         "destination [SECTION_MISSING]");
  mig_vmsd_report_deinit(&report);
  mig_vmsd_file_free(old_file);
  mig_vmsd_file_free(new_file);
}
END_TEST

Suite *mig_vmsd_diff_suite(void)
{
  Suite *suite = suite_create("mig_vmsd_diff");
  TCase *corpus = tcase_create("corpus");
  tcase_set_timeout(corpus, 60);
  tcase_add_test(corpus, mig_vmsd_diff_corpus_same_qemu);
  tcase_add_test(corpus, mig_vmsd_file_parse_corpus);
  suite_add_tcase(suite, corpus);
  TCase *edits = tcase_create("edits");
  tcase_set_timeout(edits, 60);
  tcase_add_test(edits, mig_vmsd_diff_section_removed);
  tcase_add_test(edits, mig_vmsd_diff_subsection_removed);
  tcase_add_test(edits, mig_vmsd_diff_version_bump_min_raise);
  tcase_add_test(edits, mig_vmsd_diff_version_bump_new_field);
  tcase_add_test(edits, mig_vmsd_diff_field_appended);
  tcase_add_test(edits, mig_vmsd_diff_field_renamed);
  tcase_add_test(edits, mig_vmsd_diff_field_resized);
  tcase_add_test(edits, mig_vmsd_diff_new_subsection);
  tcase_add_test(edits, mig_vmsd_diff_test_fields);
  tcase_add_test(edits, mig_vmsd_diff_priority_changed);
  tcase_add_test(edits, mig_vmsd_diff_placeholder);
  tcase_add_test(edits, mig_vmsd_diff_substruct);
  tcase_add_test(edits, mig_vmsd_diff_descriptions);
  tcase_add_test(edits, mig_vmsd_diff_array_count);
  suite_add_tcase(suite, edits);
  TCase *hostile = tcase_create("hostile");
  tcase_set_timeout(hostile, 60);
  tcase_add_test(hostile, mig_vmsd_file_parse_structure);
  tcase_add_test(hostile, mig_vmsd_file_parse_bounds);
  tcase_add_test(hostile, mig_vmsd_file_parse_nesting);
  tcase_add_test(hostile, mig_vmsd_file_parse_minimal);
  tcase_add_test(hostile, mig_vmsd_report_json_shape);
  suite_add_tcase(suite, hostile);
  return suite;
}
