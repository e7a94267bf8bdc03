/*
 * mig_vmsd_report.c: the findings of mig_vmsd_diff (mig_vmsd_diff.h): code
 * tables generated from MIG_VMSD_FINDING_MAP, the bounded finding list, one
 * line of text per finding and the JSON report (docs/compat.md documents
 * both shapes; CI jobs parse them, so changes are format changes).
 */
#include "sim_base.h"

#include "mig_json_inl.h"
#include "mig_vmsd_int.h"

struct code_info {
  const char *name;
  enum mig_vmsd_severity severity;
  bool symmetric;
  const char *text;
};

static const struct code_info codes[MIG_VMSD_CODE_COUNT] = {
#define CODE_INFO(name, severity, symmetric, text) \
  [MIG_VMSD_##name] = {#name, MIG_VMSD_##severity, symmetric, text},
  MIG_VMSD_FINDING_MAP(CODE_INFO)
#undef CODE_INFO
};

static const struct code_info *code_info(enum mig_vmsd_code code)
{
  SIM_ASSERT((unsigned)code < (unsigned)MIG_VMSD_CODE_COUNT);
  SIM_ASSERT(codes[code].name != NULL);
  return &codes[code];
}

const char *mig_vmsd_code_name(enum mig_vmsd_code code) { return code_info(code)->name; }
const char *mig_vmsd_code_text(enum mig_vmsd_code code) { return code_info(code)->text; }
bool mig_vmsd__code_symmetric(enum mig_vmsd_code code) { return code_info(code)->symmetric; }

enum mig_vmsd_severity mig_vmsd_code_severity(enum mig_vmsd_code code)
{
  return code_info(code)->severity;
}

const char *mig_vmsd_severity_name(enum mig_vmsd_severity severity)
{
  switch (severity) {
  case MIG_VMSD_NOTE: return "note";
  case MIG_VMSD_WARNING: return "warning";
  case MIG_VMSD_ERROR: return "error";
  }
  SIM_ASSERT(!"unknown severity");
  return "?";
}

const char *mig_vmsd_direction_name(enum mig_vmsd_direction direction)
{
  switch (direction) {
  case MIG_VMSD_FORWARD: return "forward";
  case MIG_VMSD_BACKWARD: return "backward";
  case MIG_VMSD_BOTH: return "both";
  }
  SIM_ASSERT(!"unknown direction");
  return "?";
}

void mig_vmsd_report_init(struct mig_vmsd_report *report)
{
  SIM_ASSERT(report != NULL);
  memset(report, 0, sizeof(*report));
}

void mig_vmsd_report_deinit(struct mig_vmsd_report *report)
{
  SIM_ASSERT(report != NULL);
  free(report->findings);
  memset(report, 0, sizeof(*report));
}

static bool already_reported(const struct mig_vmsd_report *report,
                             const struct mig_vmsd_finding *finding)
{
  for (uint32_t i = 0; i < report->findings_count; i++) {
    const struct mig_vmsd_finding *other = &report->findings[i];
    if (other->code == finding->code && strcmp(other->path, finding->path) == 0) return true;
  }
  return false;
}

void mig_vmsd__report_add(struct mig_vmsd_report *report, const struct mig_vmsd_finding *finding)
{
  SIM_ASSERT(report != NULL && finding != NULL);
  SIM_ASSERT(report->findings_count <= MIG_VMSD_FINDINGS_MAX);
  if (mig_vmsd__code_symmetric(finding->code) && already_reported(report, finding)) return;
  enum mig_vmsd_severity severity = mig_vmsd_code_severity(finding->code);
  report->severity_counts[severity]++;
  if (report->findings_count == MIG_VMSD_FINDINGS_MAX) {
    report->findings_dropped++;
    return;
  }
  if (report->findings_count == report->findings_capacity) {
    uint32_t capacity = SIM_MIN(SIM_MAX(report->findings_capacity * 2, 16u),
                                MIG_VMSD_FINDINGS_MAX);
    struct mig_vmsd_finding *grown = realloc(report->findings, capacity * sizeof(*grown));
    SIM_ASSERT(grown != NULL);
    report->findings = grown;
    report->findings_capacity = capacity;
  }
  struct mig_vmsd_finding *slot = &report->findings[report->findings_count++];
  *slot = *finding;
  slot->severity = severity;
}

bool mig_vmsd_report_incompatible(const struct mig_vmsd_report *report, bool strict)
{
  SIM_ASSERT(report != NULL);
  return report->severity_counts[MIG_VMSD_ERROR] > 0 ||
         (strict && report->severity_counts[MIG_VMSD_WARNING] > 0);
}

void mig_vmsd_finding_format(const struct mig_vmsd_finding *finding, char *out,
                             size_t out_bytes)
{
  SIM_ASSERT(finding != NULL);
  SIM_ASSERT(out != NULL && out_bytes > 0);
  snprintf(out, out_bytes, "%s: %s: %s: %s [%s]", mig_vmsd_severity_name(finding->severity),
           mig_vmsd_direction_name(finding->direction),
           finding->path[0] != '\0' ? finding->path : "(dump)", finding->message,
           mig_vmsd_code_name(finding->code));
}


static json_t *finding_json(const struct mig_vmsd_finding *finding)
{
  json_t *entry = json_object();
  SIM_ASSERT(entry != NULL);
  mig__json_set(entry, "severity", json_string(mig_vmsd_severity_name(finding->severity)));
  mig__json_set(entry, "code", json_string(mig_vmsd_code_name(finding->code)));
  mig__json_set(entry, "direction", json_string(mig_vmsd_direction_name(finding->direction)));
  mig__json_set(entry, "section", json_string(finding->section));
  mig__json_set(entry, "description", json_string(finding->description));
  mig__json_set(entry, "field", json_string(finding->field));
  mig__json_set(entry, "path", json_string(finding->path));
  mig__json_set(entry, "message", json_string(finding->message));
  if (finding->has_values) {
    mig__json_set(entry, "old", json_integer(finding->old_value));
    mig__json_set(entry, "new", json_integer(finding->new_value));
  }
  return entry;
}

static json_t *file_json(const char *name, const struct mig_vmsd_file *file)
{
  json_t *entry = json_object();
  SIM_ASSERT(entry != NULL);
  mig__json_set(entry, "file", json_string(name));
  mig__json_set(entry, "machine", file->machine != NULL ? json_string(file->machine) : json_null());
  mig__json_set(entry, "sections", json_integer(file->section_count));
  return entry;
}

json_t *mig_vmsd_report_json(const struct mig_vmsd_report *report, const char *old_name,
                             const struct mig_vmsd_file *old_file, const char *new_name,
                             const struct mig_vmsd_file *new_file,
                             const struct mig_vmsd_diff_options *options, bool strict)
{
  SIM_ASSERT(report != NULL && old_file != NULL && new_file != NULL);
  enum mig_vmsd_direction directions = options != NULL && options->directions != 0
                                           ? options->directions : MIG_VMSD_BOTH;
  json_t *root = json_object();
  SIM_ASSERT(root != NULL);
  mig__json_set(root, "schema", json_string("migsim-vmstate-diff/1"));
  mig__json_set(root, "old", file_json(old_name, old_file));
  mig__json_set(root, "new", file_json(new_name, new_file));
  json_t *list = json_array();
  if (directions & MIG_VMSD_FORWARD) json_array_append_new(list, json_string("forward"));
  if (directions & MIG_VMSD_BACKWARD) json_array_append_new(list, json_string("backward"));
  mig__json_set(root, "directions", list);
  json_t *findings = json_array();
  for (uint32_t i = 0; i < report->findings_count; i++) {
    int rc = json_array_append_new(findings, finding_json(&report->findings[i]));
    SIM_ASSERT(rc == 0);
  }
  mig__json_set(root, "findings", findings);
  json_t *counts = json_object();
  mig__json_set(counts, "errors", json_integer(report->severity_counts[MIG_VMSD_ERROR]));
  mig__json_set(counts, "warnings", json_integer(report->severity_counts[MIG_VMSD_WARNING]));
  mig__json_set(counts, "notes", json_integer(report->severity_counts[MIG_VMSD_NOTE]));
  mig__json_set(counts, "dropped", json_integer(report->findings_dropped));
  mig__json_set(counts, "sections_compared", json_integer(report->sections_compared));
  mig__json_set(root, "summary", counts);
  mig__json_set(root, "strict", json_boolean(strict));
  bool bad = mig_vmsd_report_incompatible(report, strict);
  mig__json_set(root, "verdict", json_string(bad ? "incompatible" : "compatible"));
  return root;
}
