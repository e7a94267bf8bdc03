/*
 * vmsd_diff_fuzz.c: -dump-vmstate JSON through the parser and the static
 * checker (migration/mig_vmsd_diff.h).  The input is OLD, a NUL byte and
 * NEW; without a NUL it is compared with itself.  Inputs over 1 MiB are
 * dropped (the parser's own bound is tested in mig_vmsd_diff_test.c).
 * STYLE R25: one input format, no I/O, nothing kept between inputs.
 *
 * Oracles besides the sanitizers: a refusal has a code and either an offset
 * inside the input or a JSON path; every finding's path starts with its
 * section; severity counts add up to the findings kept and dropped.
 */
#include "sim_base.h"

#include "mig_vmsd_diff.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct mig_vmsd_file *parse(const uint8_t *bytes, size_t count)
{
  struct mig_vmsd_file *file = NULL;
  struct mig_vmsd_error error;
  enum mig_vmsd_err err = mig_vmsd_file_parse(bytes, count, &file, &error);
  if (err == MIG_VMSD_OK) {
    SIM_ASSERT(file != NULL);
    return file;
  }
  SIM_ASSERT(file == NULL && error.code == err);
  SIM_ASSERT(!error.has_offset || error.offset <= SIM_MAX(count, MIG_VMSD_FILE_BYTES_MAX));
  char text[MIG_VMSD_PATH_BYTES_MAX + 256];
  mig_vmsd_error_format(&error, text, sizeof(text));
  SIM_ASSERT(text[0] != '\0');
  return NULL;
}

static void check_report(const struct mig_vmsd_report *report)
{
  uint32_t total = report->severity_counts[MIG_VMSD_NOTE] +
                   report->severity_counts[MIG_VMSD_WARNING] +
                   report->severity_counts[MIG_VMSD_ERROR];
  SIM_ASSERT(total == report->findings_count + report->findings_dropped);
  char line[MIG_VMSD_PATH_BYTES_MAX + 512];
  for (uint32_t i = 0; i < report->findings_count; i++) {
    const struct mig_vmsd_finding *f = &report->findings[i];
    SIM_ASSERT(f->severity == mig_vmsd_code_severity(f->code));
    size_t length = strlen(f->section);
    SIM_ASSERT(strncmp(f->path, f->section, length) == 0);
    mig_vmsd_finding_format(f, line, sizeof(line));
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size > ((size_t)1 << 20)) return 0;
  const uint8_t *split = size > 0 ? memchr(data, 0, size) : NULL;
  size_t old_count = split != NULL ? (size_t)(split - data) : size;
  struct mig_vmsd_file *old_file = parse(data, old_count);
  struct mig_vmsd_file *new_file =
      split != NULL ? parse(split + 1, size - old_count - 1) : NULL;
  if (old_file != NULL && (split == NULL || new_file != NULL)) {
    struct mig_vmsd_report report;
    mig_vmsd_report_init(&report);
    mig_vmsd_diff(old_file, new_file != NULL ? new_file : old_file, NULL, &report);
    check_report(&report);
    json_t *json = mig_vmsd_report_json(&report, "old", old_file, "new",
                                        new_file != NULL ? new_file : old_file, NULL, false);
    SIM_ASSERT(json != NULL);
    json_decref(json);
    mig_vmsd_report_deinit(&report);
  }
  mig_vmsd_file_free(old_file);
  mig_vmsd_file_free(new_file);
  return 0;
}
