/*
 * cli_vmsd.c: `migsim vmstate-diff` (two -dump-vmstate files through
 * mig_vmsd_diff, migration/mig_vmsd_diff.h: one line per finding or the JSON
 * report) and `migsim dump-vmstate` (a scenario's machine as -dump-vmstate
 * JSON, conformance/conform_vmsd.h).  docs/compat.md has the output shapes
 * and how CI jobs use the exit codes: 0 compatible (or dump written),
 * 1 incompatible, 2 bad input or usage.
 */
#include "sim_base.h"

#include "cli_args.h"
#include "cli_vmsd.h"
#include "conform_matrix.h"
#include "conform_run.h"
#include "conform_vmsd.h"
#include "mig_vmsd_diff.h"
#include "mig_vmsd_dump.h"

#include <errno.h>

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
  bool json;
  bool strict;
  enum mig_vmsd_direction directions;
};

/* 0 when parsed (help: *help), else the exit code. */
static int diff_args_parse(int argc, char **argv, struct diff_args *args, bool *help)
{
  static const char *const formats[] = {"text", "json", NULL};
  static const char *const directions[] = {"both", "forward", "backward", NULL};
  static const enum mig_vmsd_direction direction_values[] = {MIG_VMSD_BOTH, MIG_VMSD_FORWARD,
                                                             MIG_VMSD_BACKWARD};
  uint32_t format = 0, direction = 0;
  const struct cli_option options[] = {
      {"--format", CLI_OPTION_CHOICE, &format, 0, 0, false, formats, NULL},
      {"--direction", CLI_OPTION_CHOICE, &direction, 0, 0, false, directions, NULL},
      {"--strict", CLI_OPTION_FLAG, &args->strict, 0, 0, false, NULL, NULL},
  };
  const struct cli_command command = {"vmstate-diff", usage_diff, options,
                                      SIM_ARRAY_COUNT(options), 2, 2};
  struct cli_parsed parsed;
  int rc = cli_args_parse(&command, argc, argv, &parsed);
  *help = parsed.help;
  if (rc != 0 || parsed.help) return rc;
  args->paths[0] = parsed.positionals[0];
  args->paths[1] = parsed.positionals[1];
  args->json = format == 1;
  args->directions = direction_values[direction];
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

int cli_vmstate_diff_main(int argc, char **argv)
{
  struct diff_args args;
  memset(&args, 0, sizeof(args));
  bool help = false;
  int rc = diff_args_parse(argc, argv, &args, &help);
  if (rc != 0 || help) return rc;
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

static const char usage_dump[] =
    "usage: migsim dump-vmstate [SCENARIO.json] [--machine TYPE] [--output FILE]\n"
    "                           [--qemu-only]\n"
    "       migsim dump-vmstate --release R [--machine sim-M] [--output FILE] [--qemu-only]\n"
    "\n"
    "Writes the vmstate descriptions of a scenario's machine (default: a machine\n"
    "with one instance of every device kind) in QEMU's -dump-vmstate JSON, one entry\n"
    "per device class, for `migsim vmstate-diff` or QEMU's vmstate-static-checker.py.\n"
    "\n"
    "  --machine TYPE  the machine type to build and name (default: the scenario's)\n"
    "  --release R     a simulated release's machine (1.0, 1.1, 1.1.1, 2.0, 2.1):\n"
    "                  --machine picks one of its types sim-M (default: its newest)\n"
    "  --output FILE   write to FILE instead of stdout\n"
    "  --qemu-only     leave out migsim's x-priority, x-needed and x-sent keys\n";

struct dump_args {
  const char *scenario;
  const char *machine;
  const char *release;
  const char *output;
  bool qemu_only;
};

/* 0 when parsed (help: *help), else the exit code. */
static int dump_args_parse(int argc, char **argv, struct dump_args *args, bool *help)
{
  const struct cli_option options[] = {
      {"--machine", CLI_OPTION_STRING, &args->machine, 0, 0, false, NULL, NULL},
      {"--release", CLI_OPTION_STRING, &args->release, 0, 0, false, NULL, NULL},
      {"--output", CLI_OPTION_STRING, &args->output, 0, 0, false, NULL, NULL},
      {"--qemu-only", CLI_OPTION_FLAG, &args->qemu_only, 0, 0, false, NULL, NULL},
  };
  const struct cli_command command = {"dump-vmstate", usage_dump, options,
                                      SIM_ARRAY_COUNT(options), 0, 1};
  struct cli_parsed parsed;
  int rc = cli_args_parse(&command, argc, argv, &parsed);
  *help = parsed.help;
  if (rc != 0 || parsed.help) return rc;
  args->scenario = parsed.positional_count > 0 ? parsed.positionals[0] : NULL;
  const char *why = args->output != NULL ? cli_output_check(args->output) : NULL;
  if (why != NULL) {
    fprintf(stderr, "migsim dump-vmstate: --output %s: %s\n", args->output, why);
    return CONFORM_BAD_INPUT;
  }
  return 0;
}

static bool write_text(const char *path, const char *text)
{
  FILE *file = path != NULL ? fopen(path, "w") : stdout;
  if (file == NULL) return false;
  bool ok = fputs(text, file) >= 0;
  if (path != NULL) ok = fclose(file) == 0 && ok;
  return ok;
}

static int dump_write(const struct dump_args *args, const struct conform_scenario *scenario,
                      const char *machine)
{
  char error[CONFORM_ERROR_BYTES];
  json_t *dump = conform_vmsd_dump_scenario(scenario, machine, args->qemu_only, error,
                                            sizeof(error));
  if (dump == NULL) {
    fprintf(stderr, "migsim dump-vmstate: %s\n", error);
    return CONFORM_BAD_INPUT;
  }
  char *text = mig_vmsd_dump_text(dump);
  json_decref(dump);
  bool ok = write_text(args->output, text);
  free(text);
  if (!ok) {
    fprintf(stderr, "migsim dump-vmstate: cannot write %s\n", args->output);
    return CONFORM_BAD_INPUT;
  }
  return CONFORM_PASS;
}

/* --release R [--machine sim-M]: the release's machine, as conform_matrix builds it. */
static int dump_release(const struct dump_args *args)
{
  static struct conform_scenario scenario;
  char text[4096], error[CONFORM_ERROR_BYTES];
  if (args->scenario != NULL) {
    fprintf(stderr, "migsim dump-vmstate: --release builds its own machine: give no scenario\n");
    return CONFORM_BAD_INPUT;
  }
  if (!conform_matrix_board_text(args->release, args->machine, text, sizeof(text), error,
                                 sizeof(error)) ||
      !conform_scenario_parse(text, strlen(text), "<release>", &scenario, error,
                              sizeof(error))) {
    fprintf(stderr, "migsim dump-vmstate: --release %s: %s\n", args->release, error);
    return CONFORM_BAD_INPUT;
  }
  return dump_write(args, &scenario, NULL);
}

int cli_dump_vmstate_main(int argc, char **argv)
{
  struct dump_args args = {0};
  bool help = false;
  int rc = dump_args_parse(argc, argv, &args, &help);
  if (rc != 0 || help) return rc;
  static struct conform_scenario scenario;
  char error[CONFORM_ERROR_BYTES];
  if (args.release != NULL) return dump_release(&args);
  bool ok = args.scenario != NULL
                ? conform_scenario_load(args.scenario, &scenario, error, sizeof(error))
                : conform_scenario_parse(conform_vmsd_catalog_text(),
                                         strlen(conform_vmsd_catalog_text()), "<catalog>",
                                         &scenario, error, sizeof(error));
  if (!ok) {
    fprintf(stderr, "%s\n", error);
    return CONFORM_BAD_INPUT;
  }
  return dump_write(&args, &scenario, args.machine);
}
