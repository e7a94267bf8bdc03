/*
 * mig_vmsd_diff.h: a static migration-compatibility checker over QEMU's
 * `-dump-vmstate` JSON (docs/compat.md).
 *
 * A dump lists every device class of one QEMU binary and machine type:
 * `{"vmschkmachine": {"Name": M}, "<type>": {"Name", "version_id",
 * "minimum_version_id", "Description": {"name", "version_id",
 * "minimum_version_id", "Fields": [{"field", "version_id", "field_exists",
 * "size", ["num"], ["Description"]}...], "Subsections": [desc...]}}}`.
 * migsim's own dumps (mig_vmsd_dump.h) add "x-priority" to a section and
 * "x-needed"/"x-sent" to a subsection; QEMU's readers ignore them.
 *
 * The parser refuses a hostile file with one located error (a byte offset
 * for syntax and size errors, a JSON path such as
 * `usb-kbd/Description/Fields[2]/size` for structural ones) and never
 * crashes, hangs or allocates beyond MIG_VMSD_* bounds (mig_limits.h).
 *
 * The diff compares OLD with NEW in two migrations: forward (an OLD source
 * into a NEW destination) and backward (NEW into OLD).  It flags what QEMU's
 * scripts/vmstate-static-checker.py flags (sections and subsections the
 * destination lacks, version and minimum-version conflicts, field renames
 * and size changes) and what that script cannot see: fields the destination
 * reads but the source never sends, fields that became or were added as
 * `_TEST` fields, priority changes, new subsections without a needed
 * predicate, and subsections sent on the dumped machine type that the other
 * side does not know.  Each finding has a stable code, a severity, a
 * direction and a `section/field` path.
 */
#ifndef MIG_VMSD_DIFF_H
#define MIG_VMSD_DIFF_H

#include "sim_base.h"
#include "mig_limits.h"

#include <jansson.h>

/* Why a file was refused (STYLE R8). */
#define MIG_VMSD_ERR_MAP(X) \
  X(TOO_BIG, "file larger than its bound") \
  X(SYNTAX, "not valid JSON") \
  X(DEPTH, "JSON nested too deeply") \
  X(TOO_MANY, "too many JSON values") \
  X(TYPE, "value of the wrong type") \
  X(MISSING, "required key missing") \
  X(RANGE, "number out of range") \
  X(NAME, "name empty, too long or not a name") \
  X(ARRAY, "array or object larger than its bound")

enum mig_vmsd_err {
  MIG_VMSD_OK = 0,
#define MIG_VMSD_ERR_ENUM(name, message) MIG_VMSD_ERR_##name,
  MIG_VMSD_ERR_MAP(MIG_VMSD_ERR_ENUM)
#undef MIG_VMSD_ERR_ENUM
  MIG_VMSD_ERR_COUNT
};

const char *mig_vmsd_err_name(enum mig_vmsd_err err);
const char *mig_vmsd_err_message(enum mig_vmsd_err err);

struct mig_vmsd_error {
  enum mig_vmsd_err code;               /* MIG_VMSD_OK when no error */
  bool has_offset;                      /* offset is meaningful (syntax, size, depth) */
  uint64_t offset;                      /* byte offset in the file */
  char path[MIG_VMSD_PATH_BYTES_MAX];   /* JSON path, "" at the top */
  char detail[160];                     /* free text, e.g. "got string, want integer" */
};

/* "offset 0x…: message (detail)" or "path: message (detail)". */
void mig_vmsd_error_format(const struct mig_vmsd_error *error, char *out, size_t out_bytes);

/* A parsed dump (private layout in mig_vmsd_int.h). */
struct mig_vmsd_file;

/*
 * Parses count bytes of -dump-vmstate JSON.  On success *out is a new file
 * (free with mig_vmsd_file_free); on failure *out is NULL and error says why.
 */
enum mig_vmsd_err mig_vmsd_file_parse(const uint8_t *bytes, size_t count,
                                      struct mig_vmsd_file **out, struct mig_vmsd_error *error);
/* The same from a JSON tree (e.g. mig_vmsd_dump_json's); root is not taken. */
enum mig_vmsd_err mig_vmsd_file_from_json(const json_t *root, struct mig_vmsd_file **out,
                                          struct mig_vmsd_error *error);
void mig_vmsd_file_free(struct mig_vmsd_file *file);
/* vmschkmachine's Name, or NULL when the dump has none. */
const char *mig_vmsd_file_machine(const struct mig_vmsd_file *file);
uint32_t mig_vmsd_file_section_count(const struct mig_vmsd_file *file);

enum mig_vmsd_severity {
  MIG_VMSD_NOTE,     /* informational: the stream stays compatible */
  MIG_VMSD_WARNING,  /* compatible only if runtime predicates agree, or a name changed */
  MIG_VMSD_ERROR,    /* migration fails, or loads bytes into the wrong fields */
};

enum mig_vmsd_direction {
  MIG_VMSD_FORWARD = 1,  /* OLD source -> NEW destination */
  MIG_VMSD_BACKWARD = 2, /* NEW source -> OLD destination */
  MIG_VMSD_BOTH = 3,     /* a symmetric change (a size, a name, a priority) */
};

/*
 * Finding codes: (name, severity, symmetric, text).  Names are stable: CI
 * jobs and golden files match on them.  A symmetric finding is reported once,
 * with direction MIG_VMSD_BOTH.
 */
#define MIG_VMSD_FINDING_MAP(X) \
  X(MACHINE_DIFFERS, NOTE, true, "the dumps are of different machine types") \
  X(SECTION_MISSING, ERROR, false, "section unknown to the destination") \
  X(DESCRIPTION_MISSING, ERROR, false, "section has no description on the destination") \
  X(SECTION_RENAMED, ERROR, true, "description renamed: its name is the section's idstr") \
  X(VERSION_TOO_NEW, ERROR, false, "source version above the destination's version_id") \
  X(VERSION_TOO_OLD, ERROR, false, \
    "source version below the destination's minimum_version_id") \
  X(STRUCT_VERSION, WARNING, true, "nested description's version changed") \
  X(STRUCT_RENAMED, NOTE, true, "nested description renamed (not on the wire)") \
  X(SUBSECTION_MISSING, ERROR, false, "subsection unknown to the destination") \
  X(SUBSECTION_NO_NEEDED, ERROR, false, \
    "subsection without a needed predicate, unknown to the destination") \
  X(SUBSECTION_ALWAYS_SENT, ERROR, false, \
    "subsection sent on this machine type, unknown to the destination") \
  X(SUBSECTION_CONDITIONAL, WARNING, false, \
    "subsection unknown to the destination, sent when its predicate holds") \
  X(FIELD_NOT_READ, ERROR, false, "the source sends a field the destination does not read") \
  X(FIELD_NOT_SENT, ERROR, false, "the destination reads a field the source does not send") \
  X(FIELD_MISMATCH, ERROR, false, "fields out of step; rest of the description skipped") \
  X(FIELD_SIZE, ERROR, true, "field size changed") \
  X(FIELD_COUNT, ERROR, true, "array element count changed") \
  X(FIELD_KIND, ERROR, true, "a plain field and a struct field share a name") \
  X(FIELD_RENAMED, WARNING, true, "field renamed at the same size (the wire is unchanged)") \
  X(TEST_FIELD_CHANGED, WARNING, true, "field became, or stopped being, a _TEST field") \
  X(TEST_FIELD_UNPAIRED, WARNING, false, \
    "_TEST field on one side only: compatible only while its predicate is false") \
  X(PLACEHOLDER, NOTE, true, "field replaced by an unused placeholder of the same size") \
  X(PLACEHOLDER_SIZE, ERROR, false, "unused placeholder does not match the bytes it replaces") \
  X(PRIORITY_CHANGED, WARNING, true, "migration priority (save order) changed")

enum mig_vmsd_code {
#define MIG_VMSD_CODE_ENUM(name, severity, symmetric, text) MIG_VMSD_##name,
  MIG_VMSD_FINDING_MAP(MIG_VMSD_CODE_ENUM)
#undef MIG_VMSD_CODE_ENUM
  MIG_VMSD_CODE_COUNT
};

const char *mig_vmsd_code_name(enum mig_vmsd_code code);
const char *mig_vmsd_code_text(enum mig_vmsd_code code);
enum mig_vmsd_severity mig_vmsd_code_severity(enum mig_vmsd_code code);
const char *mig_vmsd_severity_name(enum mig_vmsd_severity severity); /* "note", ... */
const char *mig_vmsd_direction_name(enum mig_vmsd_direction direction); /* "forward", ... */

struct mig_vmsd_finding {
  enum mig_vmsd_code code;
  enum mig_vmsd_severity severity;            /* the code's severity */
  enum mig_vmsd_direction direction;          /* the migration it breaks */
  char section[MIG_VMSD_NAME_BYTES_MAX + 1];  /* the dump's key, e.g. "usb-kbd"; "" */
  char description[MIG_VMSD_NAME_BYTES_MAX + 1]; /* innermost description's name */
  char field[MIG_VMSD_NAME_BYTES_MAX + 1];    /* the field, or "" */
  char path[MIG_VMSD_PATH_BYTES_MAX];         /* section/[subsection/]field..., source's names */
  char message[320];                          /* one line, names quoted */
  bool has_values;                            /* old_value/new_value are set */
  int64_t old_value;                          /* in OLD's dump (version, size, priority...) */
  int64_t new_value;                          /* in NEW's dump */
};

struct mig_vmsd_diff_options {
  enum mig_vmsd_direction directions;         /* FORWARD, BACKWARD or BOTH (0 = BOTH) */
};

/* Caller-owned storage (STYLE R20): init, mig_vmsd_diff, deinit. */
struct mig_vmsd_report {
  struct mig_vmsd_finding *findings;          /* in report order; private, do not touch */
  uint32_t findings_count;                    /* kept, at most MIG_VMSD_FINDINGS_MAX */
  uint32_t findings_capacity;                 /* private */
  uint32_t findings_dropped;                  /* beyond the bound: counted only */
  uint32_t severity_counts[3];                /* by severity, dropped ones included */
  uint32_t sections_compared;                 /* sections present on both sides, per pass */
};

void mig_vmsd_report_init(struct mig_vmsd_report *report);
void mig_vmsd_report_deinit(struct mig_vmsd_report *report);

/*
 * Compares OLD with NEW and appends findings to report: forward findings,
 * then backward ones, each pass in the order of sorted section names.
 */
void mig_vmsd_diff(const struct mig_vmsd_file *old_file, const struct mig_vmsd_file *new_file,
                   const struct mig_vmsd_diff_options *options, struct mig_vmsd_report *report);

/* True when the report has an error (or, if strict, a warning). */
bool mig_vmsd_report_incompatible(const struct mig_vmsd_report *report, bool strict);

/* "error: forward: usb-kbd/kbd.keycodes: field size changed: ... [FIELD_SIZE]" */
void mig_vmsd_finding_format(const struct mig_vmsd_finding *finding, char *out,
                             size_t out_bytes);
/*
 * The report as a new JSON object (docs/compat.md, "JSON output"): schema,
 * the two files, directions, findings, per-severity counts, verdict.
 */
json_t *mig_vmsd_report_json(const struct mig_vmsd_report *report, const char *old_name,
                             const struct mig_vmsd_file *old_file, const char *new_name,
                             const struct mig_vmsd_file *new_file,
                             const struct mig_vmsd_diff_options *options, bool strict);

#endif /* MIG_VMSD_DIFF_H */
