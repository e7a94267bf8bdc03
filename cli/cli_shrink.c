/*
 * cli_shrink.c: `migsim shrink` and `migsim regress` (overview in
 * cli_shrink.h; the reducer is conformance/conform_shrink.c).
 */
#include "sim_base.h"

#include "cli_args.h"
#include "cli_shrink.h"
#include "conform_run.h"
#include "conform_scenario.h"
#include "conform_shrink.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char usage_shrink[] =
    "usage: migsim shrink FILE.json --seed N [--swarm] [--out OUT.json] [--runs-max R]\n"
    "                     [--quiet]\n"
    "\n"
    "Reduces a failing seed of FILE.json to a minimal scenario that still fails\n"
    "the same oracle: its fault plan written out (a swarm draw becomes a list),\n"
    "then fewer faults, BUGGIFY off, shorter faults, fewer commands and devices,\n"
    "a shorter and slower workload, smaller RAM, each edit kept only when the\n"
    "verdict and oracle stay.  The result records them under \"regress\":\n"
    "save it as conformance/regress/NAME.json, named after what it found, and\n"
    "`migsim regress` (the test command) replays it from then on.\n"
    "\n"
    "  --seed N        the failing seed (required)\n"
    "  --out FILE      where to write the scenario (default: stdout)\n"
    "  --swarm         as run --swarm: the seed draws its own faults\n"
    "  --runs-max R    runs to spend at most (default 400)\n"
    "  --quiet         no line per edit on stderr\n";

static const char usage_regress[] =
    "usage: migsim regress [PATH ...]\n"
    "\n"
    "Replays regression scenarios: every *.json with a \"regress\" key in each\n"
    "folder PATH (default: conformance/regress), or PATH itself when it is a file.\n"
    "Each must give its recorded verdict and oracle.  Prints one line per file\n"
    "and \"N passed, M failed\"; exit 0 when all passed, 1 otherwise.\n";

static void shrink_progress(void *context, const char *edit, bool kept, uint32_t runs_count)
{
  (void)context;
  fprintf(stderr, "migsim shrink: run %" PRIu32 ": %-40s %s\n", runs_count, edit,
          kept ? "kept (still fails alike)" : "undone");
}

/*
 * conform_shrink's check in a child process, so that a seed which crashes
 * migsim (an assertion: a detected bug) shrinks too: its verdict is CRASH.
 */
static void check_forked(void *context, const struct conform_scenario *scenario,
                         struct conform_shrink_outcome *out)
{
  (void)context;
  int fds[2];
  SIM_ASSERT(pipe(fds) == 0);
  fflush(NULL);
  pid_t pid = fork();
  SIM_ASSERT(pid >= 0);
  if (pid == 0) {
    close(fds[0]);
    conform_shrink_check(NULL, scenario, out);
    ssize_t wrote = write(fds[1], out, sizeof *out);
    _exit(wrote == (ssize_t)sizeof *out ? 0 : 1);
  }
  close(fds[1]);
  size_t got = 0;
  for (ssize_t n; got < sizeof *out && (n = read(fds[0], (char *)out + got,
                                                 sizeof *out - got)) > 0;) {
    got += (size_t)n;
  }
  close(fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) continue;
  if (got == sizeof *out && WIFEXITED(status) && WEXITSTATUS(status) == 0) return;
  memset(out, 0, sizeof *out);
  snprintf(out->verdict, sizeof out->verdict, "CRASH");
  snprintf(out->failure, sizeof out->failure, "the run died (%s %d)",
           WIFSIGNALED(status) ? "signal" : "exit",
           WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
}

static char *file_read(const char *path, size_t *length)
{
  FILE *file = fopen(path, "rb");
  if (file == NULL) return NULL;
  char *text = malloc(CONFORM_SCENARIO_BYTES_MAX + 1);
  SIM_ASSERT(text != NULL);
  *length = fread(text, 1, CONFORM_SCENARIO_BYTES_MAX + 1, file);
  bool bad = ferror(file) != 0 || *length > CONFORM_SCENARIO_BYTES_MAX;
  fclose(file);
  if (bad) {
    free(text);
    return NULL;
  }
  text[*length] = 0;
  return text;
}

int cli_shrink_main(int argc, char **argv)
{
  uint64_t seed = 0, runs_max = CONFORM_SHRINK_RUNS_DEFAULT;
  bool has_seed = false, quiet = false, swarm = false;
  const char *out_path = NULL;
  const struct cli_option options[] = {
      {"--seed", CLI_OPTION_NUMBER, &seed, 0, INT64_MAX, false, NULL, &has_seed},
      {"--out", CLI_OPTION_STRING, &out_path, 0, 0, false, NULL, NULL},
      {"--runs-max", CLI_OPTION_NUMBER, &runs_max, 1, 100000, false, NULL, NULL},
      {"--quiet", CLI_OPTION_FLAG, &quiet, 0, 0, false, NULL, NULL},
      {"--swarm", CLI_OPTION_FLAG, &swarm, 0, 0, false, NULL, NULL},
  };
  const struct cli_command command = {"shrink", usage_shrink, options, SIM_ARRAY_COUNT(options),
                                      1, 1};
  struct cli_parsed parsed;
  int rc = cli_args_parse(&command, argc, argv, &parsed);
  if (rc != 0 || parsed.help) return rc;
  const char *why = out_path != NULL ? cli_output_check(out_path) : NULL;
  if (!has_seed || why != NULL) {
    fprintf(stderr, "migsim shrink: %s%s%s\n", has_seed ? out_path : "--seed N is required",
            has_seed ? ": " : "", has_seed ? why : "");
    return CONFORM_BAD_INPUT;
  }
  const char *path = parsed.positionals[0];
  size_t length = 0;
  char *text = file_read(path, &length);
  if (text == NULL) {
    fprintf(stderr, "migsim shrink: %s: %s\n", path, errno != 0 ? strerror(errno) : "too big");
    return CONFORM_BAD_INPUT;
  }
  struct conform_shrink_options shrink_options = {
      .seed = seed, .runs_max = (uint32_t)runs_max, .swarm = swarm,
      .progress = quiet ? NULL : shrink_progress, .check = check_forked};
  struct conform_shrink_result result;
  char error[1024];
  bool ok = conform_shrink(text, length, path, &shrink_options, &result, error, sizeof error);
  free(text);
  if (!ok) {
    fprintf(stderr, "migsim shrink: %s\n", error);
    return CONFORM_BAD_INPUT;
  }
  FILE *out = out_path != NULL ? fopen(out_path, "w") : stdout;
  if (out == NULL) {
    fprintf(stderr, "migsim shrink: %s: %s\n", out_path, strerror(errno));
    conform_shrink_result_deinit(&result);
    return CONFORM_BAD_INPUT;
  }
  fprintf(out, "%s\n", result.text);
  if (out != stdout) fclose(out);
  fprintf(stderr, "migsim shrink: %s%s%s kept; faults %" PRIu32 " -> %" PRIu32 ", %" PRIu32
          " edits kept in %" PRIu32 " runs%s%s\n", result.verdict,
          result.oracle[0] != 0 ? " " : "", result.oracle, result.faults_before,
          result.faults_after, result.edits_kept, result.runs_count,
          out_path != NULL ? "; wrote " : "", out_path != NULL ? out_path : "");
  conform_shrink_result_deinit(&result);
  return 0;
}

static int name_compare(const void *a, const void *b)
{
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Replays one file; counts it.  Files without "regress" are skipped (not counted). */
static void regress_file(const char *path, uint32_t *passed, uint32_t *failed)
{
  static struct conform_scenario scenario;
  char error[CONFORM_ERROR_BYTES], got[512];
  if (!conform_scenario_load(path, &scenario, error, sizeof error)) {
    printf("regress %s: FAIL (does not parse: %s)\n", path, error);
    (*failed)++;
    return;
  }
  if (!scenario.faults.regress.present) return;
  bool ok = conform_regress_check(&scenario, got, sizeof got);
  printf("regress %s: %s (want %s%s%s; got %s)\n", path, ok ? "ok" : "FAIL",
         scenario.faults.regress.verdict, scenario.faults.regress.oracle[0] != 0 ? " " : "",
         scenario.faults.regress.oracle, got);
  *(ok ? passed : failed) += 1;
}

/* Every *.json of dir, sorted by name (STYLE R16). */
static void regress_dir(const char *dir_path, uint32_t *passed, uint32_t *failed)
{
  DIR *dir = opendir(dir_path);
  if (dir == NULL) {
    printf("regress %s: FAIL (%s)\n", dir_path, strerror(errno));
    (*failed)++;
    return;
  }
  enum { ENTRIES_MAX = 4096 };
  static char *names[ENTRIES_MAX];
  size_t count = 0;
  for (struct dirent *entry; (entry = readdir(dir)) != NULL && count < ENTRIES_MAX;) {
    size_t bytes = strlen(entry->d_name);
    if (bytes > 5 && strcmp(entry->d_name + bytes - 5, ".json") == 0) {
      names[count++] = strdup(entry->d_name);
    }
  }
  closedir(dir);
  qsort(names, count, sizeof names[0], name_compare);
  for (size_t i = 0; i < count; i++) {
    char path[8192];
    snprintf(path, sizeof path, "%s/%s", dir_path, names[i]);
    regress_file(path, passed, failed);
    free(names[i]);
  }
}

int cli_regress_main(int argc, char **argv)
{
  const struct cli_command command = {"regress", usage_regress, NULL, 0, 0,
                                      CLI_ARGS_POSITIONALS_MAX};
  struct cli_parsed parsed;
  int rc = cli_args_parse(&command, argc, argv, &parsed);
  if (rc != 0 || parsed.help) return rc;
  uint32_t passed = 0, failed = 0;
  static const char *const default_paths[] = {"conformance/regress"};
  uint32_t count = parsed.positional_count > 0 ? parsed.positional_count : 1;
  for (uint32_t i = 0; i < count; i++) {
    const char *path = parsed.positional_count > 0 ? parsed.positionals[i] : default_paths[0];
    struct stat status;
    if (stat(path, &status) == 0 && S_ISDIR(status.st_mode)) {
      regress_dir(path, &passed, &failed);
    } else {
      regress_file(path, &passed, &failed);
    }
  }
  printf("regress: %" PRIu32 " passed, %" PRIu32 " failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
