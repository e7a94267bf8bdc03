/*
 * conform_vmsd_diff_main.c: the `migsim vmstate-diff` subcommand: reads two
 * -dump-vmstate files, runs mig_vmsd_diff (migration/mig_vmsd_diff.h) and
 * prints one line per finding or the JSON report.  docs/compat.md has the
 * output shapes and how CI jobs use the exit code.
 */
#include "sim_base.h"

#include "conform_run.h"
#include "conform_vmsd.h"
#include "mig_vmsd_diff.h"

static const char usage_diff[] =
    "usage: migsim vmstate-diff OLD.json NEW.json [--format text|json]\n"
    "                           [--direction both|forward|backward] [--strict]\n"
    "\n"
    "Compares two -dump-vmstate files (QEMU's, or migsim dump-vmstate's) as a\n"
    "migration OLD -> NEW (forward) and NEW -> OLD (backward).  Prints one line per\n"
    "finding: 'SEVERITY: DIRECTION: PATH: message [CODE]', then a summary.\n"
    "\n"
    "  --format json   the report as JSON (schema migsim-vmstate-diff/1)\n"
    "  --direction D   check only one migration (default: both)\n"
    "  --strict        warnings count as incompatibilities too\n"
    "\n"
    "exit codes: 0 compatible, 1 incompatible (errors, or warnings with --strict),\n"
    "            2 bad input or usage\n";

struct diff_args {
  const char *paths[2];         /* OLD, NEW */
  uint32_t path_count;
  bool json;
  bool strict;
  enum mig_vmsd_direction directions;
};

static int diff_usage_error(const char *format, const char *value)
{
  fprintf(stderr, "migsim vmstate-diff: ");
  fprintf(stderr, format, value);
  fprintf(stderr, "\n%s", usage_diff);
  return CONFORM_BAD_INPUT;
}

static bool parse_direction(const char *text, enum mig_vmsd_direction *out)
{
  if (strcmp(text, "both") == 0) *out = MIG_VMSD_BOTH;
  else if (strcmp(text, "forward") == 0) *out = MIG_VMSD_FORWARD;
  else if (strcmp(text, "backward") == 0) *out = MIG_VMSD_BACKWARD;
  else return false;
  return true;
}

/* 0 when parsed, -1 after printing usage for --help, else the exit code. */
static int diff_args_parse(int argc, char **argv, struct diff_args *args)
{
  args->directions = MIG_VMSD_BOTH;
  for (int i = 0; i < argc; i++) {
    const char *arg = argv[i];
    bool has_value = i + 1 < argc;
    if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
      fputs(usage_diff, stdout);
      return -1;
    } else if (strcmp(arg, "--strict") == 0) {
      args->strict = true;
    } else if (strcmp(arg, "--format") == 0 && has_value) {
      const char *format = argv[++i];
      if (strcmp(format, "json") != 0 && strcmp(format, "text") != 0) {
        return diff_usage_error("--format wants text or json, got '%s'", format);
      }
      args->json = strcmp(format, "json") == 0;
    } else if (strcmp(arg, "--direction") == 0 && has_value) {
      if (!parse_direction(argv[++i], &args->directions)) {
        return diff_usage_error("--direction wants both, forward or backward, got '%s'",
                                argv[i]);
      }
    } else if ((arg[0] != '-' || strcmp(arg, "-") == 0) && args->path_count < 2) {
      args->paths[args->path_count++] = arg;
    } else {
      return diff_usage_error("unexpected argument '%s'", arg);
    }
  }
  if (args->path_count != 2) return diff_usage_error("%s", "wants OLD.json and NEW.json");
  return 0;
}

/* Reads at most MIG_VMSD_FILE_BYTES_MAX + 1 bytes ("-" is stdin); the parser refuses more. */
static uint8_t *read_bounded(const char *path, size_t *count)
{
  FILE *file = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
  if (file == NULL) return NULL;
  size_t capacity = (size_t)MIG_VMSD_FILE_BYTES_MAX + 1;
  uint8_t *bytes = malloc(capacity);
  SIM_ASSERT(bytes != NULL);
  *count = fread(bytes, 1, capacity, file);
  bool failed = ferror(file) != 0;
  if (file != stdin) fclose(file);
  if (failed) {
    free(bytes);
    return NULL;
  }
  return bytes;
}

/* The parsed file, or NULL after printing "migsim vmstate-diff: PATH: why". */
static struct mig_vmsd_file *load_dump(const char *path)
{
  size_t count = 0;
  uint8_t *bytes = read_bounded(path, &count);
  if (bytes == NULL) {
    fprintf(stderr, "migsim vmstate-diff: %s: %s\n", path, strerror(errno));
    return NULL;
  }
  struct mig_vmsd_file *file = NULL;
  struct mig_vmsd_error error;
  if (mig_vmsd_file_parse(bytes, count, &file, &error) != MIG_VMSD_OK) {
    char text[MIG_VMSD_PATH_BYTES_MAX + 256];
    mig_vmsd_error_format(&error, text, sizeof(text));
    fprintf(stderr, "migsim vmstate-diff: %s: %s\n", path, text);
  }
  free(bytes);
  return file;
}

static void print_text(const struct diff_args *args, const struct mig_vmsd_file *old_file,
                       const struct mig_vmsd_file *new_file,
                       const struct mig_vmsd_report *report)
{
  const char *old_machine = mig_vmsd_file_machine(old_file);
  const char *new_machine = mig_vmsd_file_machine(new_file);
  printf("migsim vmstate-diff: old %s (machine %s, %" PRIu32 " sections), new %s (machine %s, "
         "%" PRIu32 " sections)\n", args->paths[0], old_machine != NULL ? old_machine : "?",
         mig_vmsd_file_section_count(old_file), args->paths[1],
         new_machine != NULL ? new_machine : "?", mig_vmsd_file_section_count(new_file));
  char line[MIG_VMSD_PATH_BYTES_MAX + 512];
  for (uint32_t i = 0; i < report->findings_count; i++) {
    mig_vmsd_finding_format(&report->findings[i], line, sizeof(line));
    printf("%s\n", line);
  }
  if (report->findings_dropped > 0) {
    printf("migsim vmstate-diff: %" PRIu32 " more findings not shown (bound %u)\n",
           report->findings_dropped, MIG_VMSD_FINDINGS_MAX);
  }
  uint32_t errors = report->severity_counts[MIG_VMSD_ERROR];
  uint32_t warnings = report->severity_counts[MIG_VMSD_WARNING];
  uint32_t notes = report->severity_counts[MIG_VMSD_NOTE];
  printf("migsim vmstate-diff: %" PRIu32 " error%s, %" PRIu32 " warning%s, %" PRIu32
         " note%s; directions: %s\n", errors, errors == 1 ? "" : "s", warnings,
         warnings == 1 ? "" : "s", notes, notes == 1 ? "" : "s",
         args->directions == MIG_VMSD_BOTH ? "forward and backward"
                                           : mig_vmsd_direction_name(args->directions));
  printf("migsim vmstate-diff: %s\n",
         mig_vmsd_report_incompatible(report, args->strict) ? "INCOMPATIBLE" : "COMPATIBLE");
}

int conform_vmstate_diff_main(int argc, char **argv)
{
  struct diff_args args;
  memset(&args, 0, sizeof(args));
  int rc = diff_args_parse(argc, argv, &args);
  if (rc != 0) return rc < 0 ? 0 : rc;
  struct mig_vmsd_file *old_file = load_dump(args.paths[0]);
  struct mig_vmsd_file *new_file = old_file != NULL ? load_dump(args.paths[1]) : NULL;
  if (new_file == NULL) {
    mig_vmsd_file_free(old_file);
    return CONFORM_BAD_INPUT;
  }
  struct mig_vmsd_diff_options options = {.directions = args.directions};
  struct mig_vmsd_report report;
  mig_vmsd_report_init(&report);
  mig_vmsd_diff(old_file, new_file, &options, &report);
  if (args.json) {
    json_t *json = mig_vmsd_report_json(&report, args.paths[0], old_file, args.paths[1],
                                        new_file, &options, args.strict);
    json_dumpf(json, stdout, JSON_INDENT(2));
    fputc('\n', stdout);
    json_decref(json);
  } else {
    print_text(&args, old_file, new_file, &report);
  }
  bool incompatible = mig_vmsd_report_incompatible(&report, args.strict);
  mig_vmsd_report_deinit(&report);
  mig_vmsd_file_free(old_file);
  mig_vmsd_file_free(new_file);
  return incompatible ? CONFORM_ORACLE_VIOLATION : CONFORM_PASS;
}
