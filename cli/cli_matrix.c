/*
 * cli_matrix.c: `migsim matrix`, the compatibility regression matrix over
 * the simulated releases (conformance/conform_matrix.h; docs/compat.md).
 * Exit codes: 0 every cell's two verdicts agree (and the golden matrix, if
 * given, is unchanged), 1 a disagreement or a change, 2 bad input or usage.
 */
#include "sim_base.h"

#include "cli_args.h"
#include "cli_matrix.h"
#include "conform_matrix.h"
#include "conform_run.h"

#include <errno.h>
#include <sys/stat.h>

static const char usage_matrix[] =
    "usage: migsim matrix [--shard I/N] [--caps none,switchover-ack] [--no-chains]\n"
    "                     [--static-only] [--format text|json|html] [--output FILE]\n"
    "                     [--golden FILE] [--write-golden FILE] [--write-streams DIR]\n"
    "\n"
    "Every cell of (source release, destination release, machine type sim-<R>,\n"
    "capability set), and chains started on one release and migrated twice,\n"
    "gets a static verdict (tables: firmware sizes, vmstate-diff of the two\n"
    "sides' dumps, read-only config bytes, feature bits) and a dynamic one (a\n"
    "simulated migration under every oracle).  They must agree.\n"
    "\n"
    "  --shard I/N          only cells whose index %% N == I (0 <= I < N)\n"
    "  --caps LIST          capability sets, comma-separated (default: none)\n"
    "  --no-chains          pairs only\n"
    "  --static-only        no simulations (the dynamic column copies the static one)\n"
    "  --format F           text (default), json (schema migsim-matrix/1) or html\n"
    "  --output FILE        write there instead of stdout\n"
    "  --golden FILE        compare with a golden matrix: any changed cell fails\n"
    "  --write-golden FILE  write this run as the golden matrix\n"
    "  --write-streams DIR  write each release's stream per machine type\n"
    "                       (DIR/<release>-sim-<M>.bin, the golden streams)\n"
    "\n"
    "exit codes: 0 all agree (and the golden matrix holds), 1 a disagreement or a\n"
    "            changed cell, 2 bad input or usage\n";

struct matrix_args {
  struct conform_matrix_options options;
  uint32_t format;                 /* 0 text, 1 json, 2 html */
  const char *output;
  const char *golden;
  const char *write_golden;
  const char *write_streams;
};

static bool shard_parse(const char *text, struct conform_matrix_options *options)
{
  unsigned index = 0, count = 0;
  char tail;
  if (sscanf(text, "%u/%u%c", &index, &count, &tail) != 2) return false;
  if (count == 0 || count > CONFORM_MATRIX_CELLS_MAX || index >= count) return false;
  options->shard_index = index;
  options->shard_count = count;
  return true;
}

static bool caps_parse(const char *text, struct conform_matrix_options *options)
{
  options->capability_sets = 0;
  char copy[128];
  snprintf(copy, sizeof(copy), "%s", text);
  for (char *save = NULL, *name = strtok_r(copy, ",", &save); name != NULL;
       name = strtok_r(NULL, ",", &save)) {
    bool found = false;
    for (uint32_t set = 0; set < CONFORM_MATRIX_CAPS_COUNT && !found; set++) {
      found = strcmp(name, conform_matrix_caps_name(set)) == 0;
      if (found) options->capability_sets |= 1u << set;
    }
    if (!found) return false;
  }
  return options->capability_sets != 0;
}

/* 0 when parsed (help: *help), else the exit code. */
static int matrix_args_parse(int argc, char **argv, struct matrix_args *args, bool *help)
{
  static const char *const formats[] = {"text", "json", "html", NULL};
  const char *shard = NULL, *caps = NULL;
  const struct cli_option options[] = {
      {"--shard", CLI_OPTION_STRING, &shard, 0, 0, false, NULL, NULL},
      {"--caps", CLI_OPTION_STRING, &caps, 0, 0, false, NULL, NULL},
      {"--no-chains", CLI_OPTION_FLAG, &args->options.no_chains, 0, 0, false, NULL, NULL},
      {"--static-only", CLI_OPTION_FLAG, &args->options.static_only, 0, 0, false, NULL, NULL},
      {"--format", CLI_OPTION_CHOICE, &args->format, 0, 0, false, formats, NULL},
      {"--output", CLI_OPTION_STRING, &args->output, 0, 0, false, NULL, NULL},
      {"--golden", CLI_OPTION_STRING, &args->golden, 0, 0, false, NULL, NULL},
      {"--write-golden", CLI_OPTION_STRING, &args->write_golden, 0, 0, false, NULL, NULL},
      {"--write-streams", CLI_OPTION_STRING, &args->write_streams, 0, 0, false, NULL, NULL},
  };
  const struct cli_command command = {"matrix", usage_matrix, options,
                                      SIM_ARRAY_COUNT(options), 0, 0};
  struct cli_parsed parsed;
  int rc = cli_args_parse(&command, argc, argv, &parsed);
  *help = parsed.help;
  if (rc != 0 || parsed.help) return rc;
  args->options.shard_count = 1;
  args->options.capability_sets = 1;
  if (shard != NULL && !shard_parse(shard, &args->options)) {
    fprintf(stderr, "migsim matrix: --shard: want I/N with 0 <= I < N, got '%s'\n", shard);
    return CONFORM_BAD_INPUT;
  }
  if (caps != NULL && !caps_parse(caps, &args->options)) {
    fprintf(stderr, "migsim matrix: --caps: want a list of none, switchover-ack; got '%s'\n",
            caps);
    return CONFORM_BAD_INPUT;
  }
  const char *outputs[] = {args->output, args->write_golden};
  for (size_t i = 0; i < SIM_ARRAY_COUNT(outputs); i++) {
    const char *why = outputs[i] != NULL ? cli_output_check(outputs[i]) : NULL;
    if (why == NULL) continue;
    fprintf(stderr, "migsim matrix: %s: %s\n", outputs[i], why);
    return CONFORM_BAD_INPUT;
  }
  return 0;
}

/* Every offered (release, machine type): its stream, as DIR/<release>-sim-<M>.bin. */
static bool streams_write(const char *dir)
{
  for (uint32_t release = 0; release < COMPAT_RELEASES_COUNT; release++) {
    for (uint32_t machine = 0; machine <= release; machine++) {
      if (!compat_release_at(machine)->new_machine) continue;
      struct mig_membuf stream;
      char why[CONFORM_ERROR_BYTES], path[512];
      bool recorded = conform_matrix_stream_record(release, machine, &stream, why, sizeof(why));
      snprintf(path, sizeof(path), "%s/%s-sim-%s.bin", dir, compat_release_at(release)->name,
               compat_release_at(machine)->name);
      FILE *file = recorded ? fopen(path, "wb") : NULL;
      bool ok = file != NULL && fwrite(stream.bytes, 1, stream.count, file) == stream.count;
      if (file != NULL) ok = fclose(file) == 0 && ok;
      int saved_errno = errno;  /* of fopen, fwrite or fclose */
      mig_membuf_deinit(&stream);
      if (!ok) {
        fprintf(stderr, "migsim matrix: %s: %s\n", path,
                recorded ? strerror(saved_errno) : why);
        return false;
      }
      fprintf(stderr, "migsim matrix: wrote %s\n", path);
    }
  }
  return true;
}

static bool json_write(const char *path, json_t *json)
{
  FILE *file = path != NULL && strcmp(path, "-") != 0 ? fopen(path, "w") : stdout;
  if (file == NULL) return false;
  bool ok = json_dumpf(json, file, JSON_INDENT(1)) == 0 && fputc('\n', file) != EOF;
  if (file != stdout) ok = fclose(file) == 0 && ok;
  return ok;
}

/* The golden comparison: the number of changed cells, or -1 when the file is unreadable. */
static int64_t golden_check(const struct conform_matrix_result *result, const char *path)
{
  json_error_t error;
  json_t *golden = json_load_file(path, JSON_REJECT_DUPLICATES, &error);
  if (golden == NULL) {
    fprintf(stderr, "migsim matrix: --golden %s:%d: %s\n", path, error.line, error.text);
    return -1;
  }
  fflush(stdout);  /* the table first: a CI log that takes both keeps whole lines */
  uint32_t changes = conform_matrix_golden_check(result, golden, stderr);
  json_decref(golden);
  return changes;
}

static bool output_write(const struct matrix_args *args,
                         const struct conform_matrix_result *result)
{
  if (args->format == 1) {
    json_t *json = conform_matrix_json(result, &args->options, false);
    bool ok = json_write(args->output, json);
    json_decref(json);
    return ok;
  }
  FILE *out = args->output != NULL && strcmp(args->output, "-") != 0
                  ? fopen(args->output, "w") : stdout;
  if (out == NULL) return false;
  if (args->format == 2) conform_matrix_html(result, out); else conform_matrix_text(result, out);
  return out == stdout || fclose(out) == 0;
}

int cli_matrix_main(int argc, char **argv)
{
  struct matrix_args args = {0};
  bool help = false;
  int rc = matrix_args_parse(argc, argv, &args, &help);
  if (rc != 0 || help) return rc;
  if (args.write_streams != NULL) return streams_write(args.write_streams) ? 0 : CONFORM_BAD_INPUT;
  struct conform_matrix_result result;
  char why[CONFORM_ERROR_BYTES];
  if (!conform_matrix_run(&args.options, &result, why, sizeof(why))) {
    fprintf(stderr, "migsim matrix: %s\n", why);
    return CONFORM_BAD_INPUT;
  }
  bool ok = output_write(&args, &result);
  if (ok && args.write_golden != NULL) {
    json_t *json = conform_matrix_json(&result, &args.options, true);
    ok = json_write(args.write_golden, json);
    json_decref(json);
  }
  if (!ok) fprintf(stderr, "migsim matrix: cannot write the output\n");
  int64_t changes = args.golden != NULL ? golden_check(&result, args.golden) : 0;
  uint32_t disagree = result.disagree_count;
  conform_matrix_result_deinit(&result);
  if (!ok || changes < 0) return CONFORM_BAD_INPUT;
  if (changes > 0) {
    fprintf(stderr, "migsim matrix: %" PRId64 " change(s) from the golden matrix %s\n", changes,
            args.golden);
  }
  return disagree > 0 || changes > 0 ? CONFORM_ORACLE_VIOLATION : CONFORM_PASS;
}
