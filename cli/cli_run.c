/*
 * cli_run.c: `migsim run` (run and judge a scenario: progress line, output
 * files, --stream-out per attempt) and `migsim list` (the scenario catalog).
 * The run itself is conformance/conform_run.c.
 */
#include "sim_base.h"

#include "cli_args.h"
#include "cli_run.h"
#include "cli_sweep.h"
#include "conform_report.h"
#include "conform_run.h"
#include "conform_scenario.h"

#include <dirent.h>
#include <errno.h>
#include <time.h>
#include <unistd.h>

static const char usage_run[] =
    "usage: migsim run [FILE.json] [--seed N] [--report OUT.json] [--twice]\n"
    "                  [--trace OUT.txt] [--stream-out OUT.mig] [--no-progress]\n"
    "                  [--cut-points K] [--swarm]\n"
    "       migsim run [FILE.json] --seeds A-B [--jobs J] [--report OUT.json]\n"
    "                  [--twice] [--cut-points K] [--swarm] [--no-progress]\n"
    "\n"
    "Runs the scenario with a migration and once unmigrated, then applies the\n"
    "oracles: switchover equality (destination == source when it stopped) and\n"
    "transparency (same guest-visible result as the unmigrated run).\n"
    "\n"
    "  --seed N           override the scenario's seed (0 .. 2^63-1)\n"
    "  --report FILE      write the JSON report (verdict, failure with oracle, path and\n"
    "                     offset, digests, query-migrate, timeline, tool version)\n"
    "  --twice            run the migrated run a second time, whatever its verdict;\n"
    "                     differing traces fail (exit 4) and the first divergent\n"
    "                     trace record is named\n"
    "  --trace FILE       write every trace record as a text line\n"
    "  --stream-out FILE  save the migration stream the source wrote; when the\n"
    "                     scenario migrates more than once (retries), FILE holds the\n"
    "                     last attempt and FILE.1 .. FILE.N (before the extension:\n"
    "                     x.1.mig) hold each attempt from its header (a cancelled\n"
    "                     attempt's file ends where the source cut it)\n"
    "  --no-progress      no progress line (it is shown on a terminal only, after 1 s)\n"
    "  --cut-points K     cut-point exploration: move the migrate command so that the\n"
    "                     source stops while device state is in flight, at one of K\n"
    "                     moments chosen from the seed (docs/campaign.md)\n"
    "  --seeds A-B        a sweep: every seed from A to B (or one, N); prints each\n"
    "                     failing seed with its reproduce line and the counts per\n"
    "                     verdict; exit code: the most severe verdict (PASS <\n"
    "                     LIVENESS < ORACLE-VIOLATION < NONDETERMINISM < BAD-INPUT <\n"
    "                     a crash, 128 + signal); --report writes every seed's result\n"
    "  --jobs J           the sweep's seeds in J worker processes (1 .. 64; output\n"
    "                     stays in seed order)\n"
    "  --swarm            swarm fault mode (as \"faults\": {\"swarm\": true}): each seed\n"
    "                     draws its own fault kinds and parameters, a heal time and\n"
    "                     maybe BUGGIFY; the report lists them (docs/faults.md)\n";

static const char usage_list[] =
    "usage: migsim list [DIR]\n"
    "\n"
    "Lists the scenario catalog: every DIR/*.json (default: the conformance/scenarios\n"
    "folder of this checkout), sorted by name, with its description.  A file that\n"
    "does not parse is listed with its error and makes the exit code 2.\n";

struct run_args {
  const char *report;
  const char *trace;
  const char *stream_out;
  bool has_seed;
  uint64_t seed;
  bool twice;
  bool no_progress;
  const char *seeds;
  uint64_t jobs;
  bool has_jobs;
  uint64_t cut_points;
  bool has_cut_points;
  bool swarm;
};

/* The progress line: wall time is allowed here, the CLI is off the simulated path. */
struct progress {
  struct timespec start;
  bool shown;                      /* a line was printed: end it with a newline */
};

static double progress_seconds(const struct progress *progress)
{
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double)(now.tv_sec - progress->start.tv_sec) +
         (double)(now.tv_nsec - progress->start.tv_nsec) / 1e9;
}

static void progress_show(void *context, uint64_t now_ns, uint64_t time_ns_max,
                          uint64_t events_count)
{
  struct progress *progress = context;
  double seconds = progress_seconds(progress);
  if (seconds < 1.0) return;
  fprintf(stderr, "\rmigsim: simulated %.3f s of %.3f s, %" PRIu64 " events, %.1f s wall ",
          (double)now_ns / 1e9, (double)time_ns_max / 1e9, events_count, seconds);
  fflush(stderr);
  progress->shown = true;
}

/* Inserts ".N" before the extension of path ("x.mig" -> "x.1.mig"). */
static void attempt_path(char *out, size_t out_bytes, const char *path, uint32_t attempt)
{
  const char *slash = strrchr(path, '/');
  const char *dot = strrchr(path, '.');
  if (dot == NULL || (slash != NULL && dot < slash) || dot == path) dot = path + strlen(path);
  snprintf(out, out_bytes, "%.*s.%" PRIu32 "%s", (int)(dot - path), path, attempt, dot);
}

static bool write_file(const char *path, const uint8_t *bytes, size_t count)
{
  FILE *file = fopen(path, "wb");
  if (file == NULL) return false;
  bool ok = fwrite(bytes, 1, count, file) == count;
  return fclose(file) == 0 && ok;
}

/* Writes the capture: the last attempt to path, and with several, each to path.N. */
static bool stream_out_write(const char *path, const struct mig_membuf *capture,
                             const struct conform_run_result *result)
{
  uint32_t attempts = result->capture_attempt_count;
  uint64_t last = attempts > 0 ? result->capture_starts[attempts - 1] : 0;
  bool ok = write_file(path, capture->bytes + last, capture->count - last);
  for (uint32_t i = 0; attempts > 1 && i < attempts; i++) {
    uint64_t end = i + 1 < attempts ? result->capture_starts[i + 1] : capture->count;
    char name[4096];
    attempt_path(name, sizeof name, path, i + 1);
    ok = write_file(name, capture->bytes + result->capture_starts[i],
                    end - result->capture_starts[i]) && ok;
    if (ok) fprintf(stderr, "migsim run: attempt %" PRIu32 "'s stream in %s\n", i + 1, name);
  }
  return ok;
}

/* Checks every output path before the run; prints the first problem. */
static bool run_outputs_check(const struct run_args *args)
{
  const char *const paths[] = {args->report, args->trace, args->stream_out};
  const char *const names[] = {"--report", "--trace", "--stream-out"};
  for (size_t i = 0; i < SIM_ARRAY_COUNT(paths); i++) {
    const char *why = paths[i] != NULL ? cli_output_check(paths[i]) : NULL;
    if (why != NULL) {
      fprintf(stderr, "migsim run: %s %s: %s\n", names[i], paths[i], why);
      return false;
    }
  }
  return true;
}

static bool run_scenario_load(const char *file, struct conform_scenario *scenario)
{
  char error[CONFORM_ERROR_BYTES];
  const char *text = conform_scenario_default_text();
  bool ok = file != NULL ? conform_scenario_load(file, scenario, error, sizeof(error))
                         : conform_scenario_parse(text, strlen(text), "<default>", scenario,
                                                  error, sizeof(error));
  if (!ok) fprintf(stderr, "%s\n", error);
  return ok;
}

/* Runs and judges the scenario; returns the exit code. */
static int run_execute(const char *file, const struct run_args *args,
                       const struct conform_scenario *scenario, FILE *trace)
{
  struct mig_membuf capture;
  mig_membuf_init(&capture, (size_t)1 << 34);
  struct progress progress = {.shown = false};
  clock_gettime(CLOCK_MONOTONIC, &progress.start);
  bool show = !args->no_progress && isatty(STDERR_FILENO);
  struct conform_run_options options = {.trace_text = trace,
                                        .capture = args->stream_out != NULL ? &capture : NULL,
                                        .progress = show ? progress_show : NULL,
                                        .progress_context = &progress};
  static struct conform_run_result result;
  conform_check_with(scenario, args->twice, &options, &result);
  if (progress.shown) fputc('\n', stderr);
  char repro[512];
  char cut[48] = "";
  if (args->has_cut_points) snprintf(cut, sizeof cut, " --cut-points %" PRIu64, args->cut_points);
  snprintf(repro, sizeof(repro), "migsim run %s%s--seed %" PRIu64 "%s%s%s",
           file != NULL ? file : "", file != NULL ? " " : "", scenario->seed, cut,
           args->twice ? " --twice" : "", args->swarm ? " --swarm" : "");
  conform_report_summary(stdout, scenario, &result, repro);
  int exit_code = (int)result.verdict;
  if (args->report != NULL && !conform_report_write(args->report, scenario, &result, repro)) {
    fprintf(stderr, "migsim run: cannot write %s: %s\n", args->report, strerror(errno));
    exit_code = exit_code == 0 ? CONFORM_BAD_INPUT : exit_code;
  }
  if (args->stream_out != NULL && !stream_out_write(args->stream_out, &capture, &result)) {
    fprintf(stderr, "migsim run: cannot write %s: %s\n", args->stream_out, strerror(errno));
    exit_code = exit_code == 0 ? CONFORM_BAD_INPUT : exit_code;
  }
  mig_membuf_deinit(&capture);
  conform_run_result_deinit(&result);
  return exit_code;
}

/* --seeds: checks the combination, then cli_sweep_run. */
static int run_sweep(const char *file, const struct run_args *args,
                     const struct conform_scenario *scenario)
{
  const char *clash = args->seeds == NULL ? "--jobs needs --seeds"
                      : args->has_seed    ? "--seeds and --seed exclude each other"
                      : args->trace != NULL ? "--trace is for one seed (not with --seeds)"
                      : args->stream_out != NULL ? "--stream-out is for one seed (not with --seeds)"
                                                 : NULL;
  struct cli_sweep_options options = {
      .file = file, .jobs = args->has_jobs ? (uint32_t)args->jobs : 1, .twice = args->twice,
      .cut_points_flag = args->has_cut_points ? (uint32_t)args->cut_points : 0,
      .swarm_flag = args->swarm,
      .report = args->report, .progress = !args->no_progress && isatty(STDERR_FILENO)};
  if (clash != NULL) {
    fprintf(stderr, "migsim run: %s\n", clash);
    return CONFORM_BAD_INPUT;
  }
  const char *why = cli_seeds_parse(args->seeds, &options.seed_first, &options.seed_last);
  if (why != NULL) {
    fprintf(stderr, "migsim run: --seeds: %s\n", why);
    return CONFORM_BAD_INPUT;
  }
  return cli_sweep_run(scenario, &options);
}

int cli_run_main(int argc, char **argv)
{
  struct run_args args = {0};
  const struct cli_option options[] = {
      {"--seed", CLI_OPTION_NUMBER, &args.seed, 0, INT64_MAX, false, NULL, &args.has_seed},
      {"--report", CLI_OPTION_STRING, &args.report, 0, 0, false, NULL, NULL},
      {"--trace", CLI_OPTION_STRING, &args.trace, 0, 0, false, NULL, NULL},
      {"--stream-out", CLI_OPTION_STRING, &args.stream_out, 0, 0, false, NULL, NULL},
      {"--twice", CLI_OPTION_FLAG, &args.twice, 0, 0, false, NULL, NULL},
      {"--no-progress", CLI_OPTION_FLAG, &args.no_progress, 0, 0, false, NULL, NULL},
      {"--seeds", CLI_OPTION_STRING, &args.seeds, 0, 0, false, NULL, NULL},
      {"--jobs", CLI_OPTION_NUMBER, &args.jobs, 1, CLI_SWEEP_JOBS_MAX, false, NULL,
       &args.has_jobs},
      {"--cut-points", CLI_OPTION_NUMBER, &args.cut_points, 1, CONFORM_CUT_POINTS_MAX, false,
       NULL, &args.has_cut_points},
      {"--swarm", CLI_OPTION_FLAG, &args.swarm, 0, 0, false, NULL, NULL},
  };
  const struct cli_command command = {"run", usage_run, options, SIM_ARRAY_COUNT(options), 0, 1};
  struct cli_parsed parsed;
  int rc = cli_args_parse(&command, argc, argv, &parsed);
  if (rc != 0 || parsed.help) return rc;
  const char *file = parsed.positional_count > 0 ? parsed.positionals[0] : NULL;
  static struct conform_scenario scenario;
  if (!run_scenario_load(file, &scenario) || !run_outputs_check(&args)) return CONFORM_BAD_INPUT;
  if (args.has_seed) scenario.seed = args.seed;
  if (args.has_cut_points) scenario.cut_points_count = (uint32_t)args.cut_points;
  if (args.swarm) scenario.faults.swarm = true;
  if (args.seeds != NULL || args.has_jobs) return run_sweep(file, &args, &scenario);
  FILE *trace = NULL;
  if (args.trace != NULL && (trace = fopen(args.trace, "w")) == NULL) {
    fprintf(stderr, "migsim run: %s: %s\n", args.trace, strerror(errno));
    return CONFORM_BAD_INPUT;
  }
  int exit_code = run_execute(file, &args, &scenario, trace);
  if (trace != NULL) fclose(trace);
  return exit_code;
}

/* The catalog folder of this checkout: next to the binary (out/<variant>/), else ./ */
static void list_default_dir(char *out, size_t out_bytes)
{
  char exe[2048];
  ssize_t bytes = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (bytes > 0) {
    exe[bytes] = 0;
    char *slash = strrchr(exe, '/');
    if (slash != NULL) *slash = 0;
    snprintf(out, out_bytes, "%s/../../conformance/scenarios", exe);
    DIR *dir = opendir(out);
    if (dir != NULL) {
      closedir(dir);
      return;
    }
  }
  snprintf(out, out_bytes, "conformance/scenarios");
}

static int list_compare(const void *a, const void *b)
{
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Prints one catalog entry; false when it does not parse. */
static bool list_entry(const char *dir, const char *name)
{
  static struct conform_scenario scenario;
  char path[8192], error[CONFORM_ERROR_BYTES];
  if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path) return false;
  if (!conform_scenario_load(path, &scenario, error, sizeof error)) {
    printf("%-24s ERROR %s\n", name, error);
    return false;
  }
  printf("%-24s %s\n", name, scenario.description[0] != 0 ? scenario.description : "-");
  return true;
}

int cli_list_main(int argc, char **argv)
{
  const struct cli_command command = {"list", usage_list, NULL, 0, 0, 1};
  struct cli_parsed parsed;
  int rc = cli_args_parse(&command, argc, argv, &parsed);
  if (rc != 0 || parsed.help) return rc;
  char dir_path[4096];
  if (parsed.positional_count > 0) {
    snprintf(dir_path, sizeof dir_path, "%s", parsed.positionals[0]);
  } else {
    list_default_dir(dir_path, sizeof dir_path);
  }
  DIR *dir = opendir(dir_path);
  if (dir == NULL) {
    fprintf(stderr, "migsim list: %s: %s\n", dir_path, strerror(errno));
    return CONFORM_BAD_INPUT;
  }
  enum { LIST_ENTRIES_MAX = 1024 };
  static char *names[LIST_ENTRIES_MAX];
  size_t count = 0;
  for (struct dirent *entry; (entry = readdir(dir)) != NULL && count < LIST_ENTRIES_MAX;) {
    size_t bytes = strlen(entry->d_name);
    if (bytes > 5 && strcmp(entry->d_name + bytes - 5, ".json") == 0) {
      names[count++] = strdup(entry->d_name);
    }
  }
  closedir(dir);
  qsort(names, count, sizeof names[0], list_compare); /* names are unique: order is total */
  bool ok = true;
  for (size_t i = 0; i < count; i++) {
    ok = list_entry(dir_path, names[i]) && ok;
    free(names[i]);
  }
  return ok ? 0 : CONFORM_BAD_INPUT;
}

