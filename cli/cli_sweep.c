/*
 * cli_sweep.c: seed sweeps, in this process or in forked workers (overview
 * in cli_sweep.h, the user's view in docs/campaign.md).
 *
 * Workers take one seed at a time from the parent over a pipe and answer
 * with a message: a header (struct wire) then the failing line and the
 * seed's JSON.  The parent keeps up to CLI_SWEEP_WINDOW answers in a ring
 * indexed by seed, so that it prints in seed order however the workers
 * finish.  A worker whose pipe closes before it answers died on its seed:
 * that seed is a CRASH and a new worker takes the rest.  Wall-clock time
 * appears only in the progress line; the CLI is off the simulated path.
 */
#include "sim_base.h"

#include "cli_args.h"
#include "cli_sweep.h"
#include "conform_report.h"
#include "conform_run.h"

#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define VERDICTS_COUNT 5u              /* enum conform_verdict 0 .. 4 */

/* One seed's answer. */
struct outcome {
  uint64_t seed;
  int exit_code;                       /* enum conform_verdict, or 128 + signal */
  bool explored;                       /* exploration moved the migrate command */
  bool aimed;                          /* and the aimed kind was in flight at the stop */
  bool done;                           /* ring slot filled */
  char *line;                          /* failing seeds: the line to print (malloc'd) */
  char *json;                          /* with --report: the seed's JSON (malloc'd) */
};

/* The header of a worker's answer; line_bytes then json_bytes follow. */
struct wire {
  uint64_t seed;
  int32_t exit_code;
  uint8_t explored;
  uint8_t aimed;
  uint8_t unused[2];
  uint32_t line_bytes;
  uint32_t json_bytes;
};

struct worker {
  pid_t pid;                           /* 0: not running */
  int to_fd;                           /* seeds go down this pipe */
  int from_fd;                         /* answers come up this one */
  bool busy;
  uint64_t seed;                       /* the seed it works on, when busy */
};

struct sweep {
  const struct conform_scenario *scenario;
  const struct cli_sweep_options *options;
  FILE *report;                        /* open while the sweep runs, or NULL */
  uint64_t counts[VERDICTS_COUNT];     /* per verdict */
  uint64_t crashes_count;
  uint64_t explored_count;
  uint64_t aimed_count;
  uint64_t done_count;
  int exit_code;                       /* the most severe so far */
  struct timespec start;
  double progress_shown_s;             /* wall time of the last progress line, 0: none */
  struct worker workers[CLI_SWEEP_JOBS_MAX];
  uint32_t worker_count;
  struct outcome ring[CLI_SWEEP_WINDOW];
};

const char *cli_seeds_parse(const char *text, uint64_t *first, uint64_t *last)
{
  static char message[128];
  const char *dash = strchr(text, '-');
  char head[64];
  if (dash == NULL) {
    const char *why = cli_number_parse(text, 0, INT64_MAX, false, first);
    *last = *first;
    return why;
  }
  if ((size_t)(dash - text) >= sizeof head) return "not a range (A-B, or one seed N)";
  memcpy(head, text, (size_t)(dash - text));
  head[dash - text] = 0;
  const char *why = cli_number_parse(head, 0, INT64_MAX, false, first);
  if (why == NULL) why = cli_number_parse(dash + 1, 0, INT64_MAX, false, last);
  if (why != NULL) {
    snprintf(message, sizeof message, "A-B: %s", why);
    return message;
  }
  if (*last < *first) return "A-B: B is below A";
  if (*last - *first >= CLI_SWEEP_SEEDS_MAX) return "A-B: more than 2^32 seeds";
  return NULL;
}

uint32_t cli_sweep_severity(int exit_code)
{
  switch (exit_code) {
  case CONFORM_PASS: return 0;
  case CONFORM_LIVENESS: return 1;
  case CONFORM_ORACLE_VIOLATION: return 2;
  case CONFORM_NONDETERMINISM: return 3;
  case CONFORM_BAD_INPUT: return 4;
  }
  return 5; /* a crash */
}

static double seconds_since(const struct timespec *start)
{
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

/* The command that reproduces one seed of the sweep. */
static void repro_format(char *out, size_t out_bytes, const struct cli_sweep_options *options,
                         uint64_t seed)
{
  char cut[48] = "";
  if (options->cut_points_flag > 0) {
    snprintf(cut, sizeof cut, " --cut-points %" PRIu32, options->cut_points_flag);
  }
  snprintf(out, out_bytes, "migsim run %s%s--seed %" PRIu64 "%s%s%s",
           options->file != NULL ? options->file : "", options->file != NULL ? " " : "", seed,
           cut, options->twice ? " --twice" : "", options->swarm_flag ? " --swarm" : "");
}

static char *text_copy(const char *text)
{
  char *copy = strdup(text);
  SIM_ASSERT(copy != NULL);
  return copy;
}

/* Judges one seed (conform_check) into out. */
static void seed_evaluate(const struct sweep *sweep, uint64_t seed, struct outcome *out)
{
  static struct conform_scenario scenario;
  scenario = *sweep->scenario;
  scenario.seed = seed;
  struct conform_run_result *result = malloc(sizeof(*result));
  SIM_ASSERT(result != NULL);
  struct conform_run_options run_options = {.trace_text = NULL};
  conform_check_with(&scenario, sweep->options->twice, &run_options, result);
  char repro[1024], line[2048];
  repro_format(repro, sizeof repro, sweep->options, seed);
  const struct conform_cut *cut = &result->cut;
  *out = (struct outcome){
      .seed = seed, .exit_code = (int)result->verdict, .explored = cut->explored,
      .aimed = cut->explored && (result->stop_flight & (UINT32_C(1) << cut->kind)) != 0};
  if (result->verdict != CONFORM_PASS) {
    const struct conform_failure *at = &result->failure_at;
    snprintf(line, sizeof line, "seed %" PRIu64 ": %s %s%s%s; reproduce: %s", seed,
             conform_verdict_name(result->verdict), at->oracle != NULL ? at->oracle : "-",
             at->path[0] != 0 ? " at " : "", at->path, repro);
    out->line = text_copy(line);
  }
  if (sweep->options->report != NULL) {
    json_t *json = conform_report_seed_json(&scenario, result, repro);
    out->json = json_dumps(json, JSON_COMPACT | JSON_PRESERVE_ORDER);
    SIM_ASSERT(out->json != NULL);
    json_decref(json);
  }
  conform_run_result_deinit(result);
  free(result);
}

/* ------------------------------------------------------------------ output */

static void report_head(struct sweep *sweep)
{
  const struct cli_sweep_options *options = sweep->options;
  json_t *name = json_string(sweep->scenario->name);
  char *quoted = json_dumps(name, JSON_ENCODE_ANY);
  json_decref(name);
  SIM_ASSERT(quoted != NULL);
  fprintf(sweep->report, "{\n  \"tool\": \"%s\",\n  \"kind\": \"sweep\",\n  \"scenario\": %s,\n"
          "  \"scenario_xxh3\": \"0x%016" PRIx64 "\",\n  \"seeds\": {\"first\": %" PRIu64
          ", \"last\": %" PRIu64 "},\n  \"jobs\": %" PRIu32 ",\n  \"twice\": %s,\n"
          "  \"cut_points\": %" PRIu32 ",\n  \"results\": [", CONFORM_TOOL_VERSION, quoted,
          sweep->scenario->text_xxh3, options->seed_first, options->seed_last, options->jobs,
          options->twice ? "true" : "false", sweep->scenario->cut_points_count);
  free(quoted);
}

static void report_tail(struct sweep *sweep)
{
  fprintf(sweep->report, "\n  ],\n  \"counts\": {");
  for (uint32_t v = 0; v < VERDICTS_COUNT; v++) {
    fprintf(sweep->report, "%s\"%s\": %" PRIu64, v > 0 ? ", " : "",
            conform_verdict_name((enum conform_verdict)v), sweep->counts[v]);
  }
  fprintf(sweep->report, ", \"CRASH\": %" PRIu64 "},\n  \"explored\": %" PRIu64
          ",\n  \"aimed_in_flight\": %" PRIu64 ",\n  \"exit_code\": %d\n}\n",
          sweep->crashes_count, sweep->explored_count, sweep->aimed_count, sweep->exit_code);
}

static void progress_show(struct sweep *sweep, bool final)
{
  if (!sweep->options->progress) return;
  double seconds = seconds_since(&sweep->start);
  if (!final && seconds - sweep->progress_shown_s < 0.25) return;
  uint64_t total = sweep->options->seed_last - sweep->options->seed_first + 1;
  uint64_t failing = sweep->done_count - sweep->counts[CONFORM_PASS];
  fprintf(stderr, "\rmigsim: %" PRIu64 "/%" PRIu64 " seeds, %" PRIu64 " failing, %.1f s ",
          sweep->done_count, total, failing, seconds);
  if (final) fputc('\n', stderr);
  fflush(stderr);
  sweep->progress_shown_s = seconds;
}

/* Prints and counts one outcome (in seed order), and releases its texts. */
static void outcome_emit(struct sweep *sweep, struct outcome *outcome)
{
  if (outcome->line != NULL) {
    if (sweep->progress_shown_s > 0) fputc('\n', stderr); /* the line must not share it */
    printf("%s\n", outcome->line);
    fflush(stdout);
    sweep->progress_shown_s = 0;
  }
  if (outcome->exit_code >= 0 && outcome->exit_code < (int)VERDICTS_COUNT) {
    sweep->counts[outcome->exit_code]++;
  } else {
    sweep->crashes_count++;
  }
  if (cli_sweep_severity(outcome->exit_code) > cli_sweep_severity(sweep->exit_code)) {
    sweep->exit_code = outcome->exit_code;
  }
  sweep->explored_count += outcome->explored;
  sweep->aimed_count += outcome->aimed;
  if (sweep->report != NULL && outcome->json != NULL) {
    fprintf(sweep->report, "%s\n    %s", sweep->done_count > 0 ? "," : "", outcome->json);
  }
  sweep->done_count++;
  free(outcome->line);
  free(outcome->json);
  *outcome = (struct outcome){.done = false};
  progress_show(sweep, false);
}

static void summary_print(const struct sweep *sweep)
{
  const struct cli_sweep_options *options = sweep->options;
  printf("migsim: %" PRIu64 " seeds (%" PRIu64 "-%" PRIu64 ") of %s:", sweep->done_count,
         options->seed_first, options->seed_last, sweep->scenario->name);
  for (uint32_t v = 0; v < VERDICTS_COUNT; v++) {
    if (v == CONFORM_BAD_INPUT && sweep->counts[v] == 0) continue;
    printf("%s %s %" PRIu64, v > 0 ? "," : "", conform_verdict_name((enum conform_verdict)v),
           sweep->counts[v]);
  }
  if (sweep->crashes_count > 0) printf(", CRASH %" PRIu64, sweep->crashes_count);
  printf("\n");
  if (sweep->scenario->cut_points_count > 0) {
    printf("migsim: cut points (%" PRIu32 "): %" PRIu64 " seeds explored, the aimed state in "
           "flight at the stop on %" PRIu64 "\n", sweep->scenario->cut_points_count,
           sweep->explored_count, sweep->aimed_count);
  }
  printf("migsim: exit %d\n", sweep->exit_code);
}

/* ----------------------------------------------------------------- workers */

static bool read_full(int fd, void *bytes, size_t count)
{
  for (size_t at = 0; at < count;) {
    ssize_t got = read(fd, (uint8_t *)bytes + at, count - at);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    at += (size_t)got;
  }
  return true;
}

static bool write_full(int fd, const void *bytes, size_t count)
{
  for (size_t at = 0; at < count;) {
    ssize_t put = write(fd, (const uint8_t *)bytes + at, count - at);
    if (put < 0 && errno == EINTR) continue;
    if (put <= 0) return false;
    at += (size_t)put;
  }
  return true;
}

/* A worker: judges the seeds that come down in_fd until it closes. */
static void worker_serve(const struct sweep *sweep, int in_fd, int out_fd)
{
  uint64_t seed;
  while (read_full(in_fd, &seed, sizeof seed)) {
    struct outcome outcome;
    seed_evaluate(sweep, seed, &outcome);
    struct wire wire = {
        .seed = seed, .exit_code = outcome.exit_code, .explored = outcome.explored,
        .aimed = outcome.aimed,
        .line_bytes = outcome.line != NULL ? (uint32_t)strlen(outcome.line) : 0,
        .json_bytes = outcome.json != NULL ? (uint32_t)strlen(outcome.json) : 0};
    bool ok = write_full(out_fd, &wire, sizeof wire) &&
              write_full(out_fd, outcome.line != NULL ? outcome.line : "", wire.line_bytes) &&
              write_full(out_fd, outcome.json != NULL ? outcome.json : "", wire.json_bytes);
    free(outcome.line);
    free(outcome.json);
    if (!ok) break;
  }
}

/* Starts worker index (its pipes, then fork); false when the system refuses. */
static bool worker_start(struct sweep *sweep, uint32_t index)
{
  int down[2], up[2];
  if (pipe(down) != 0) return false;
  if (pipe(up) != 0) {
    close(down[0]), close(down[1]);
    return false;
  }
  fflush(NULL); /* the child must not write the parent's buffered output again */
  pid_t pid = fork();
  if (pid < 0) {
    close(down[0]), close(down[1]), close(up[0]), close(up[1]);
    return false;
  }
  if (pid == 0) {
    /* The other workers' pipe ends: held here, they would keep those pipes open. */
    for (uint32_t i = 0; i < sweep->worker_count; i++) {
      if (i == index || sweep->workers[i].pid == 0) continue;
      close(sweep->workers[i].to_fd), close(sweep->workers[i].from_fd);
    }
    close(down[1]), close(up[0]);
    worker_serve(sweep, down[0], up[1]);
    close(down[0]), close(up[1]);
    exit(0);
  }
  close(down[0]), close(up[1]);
  sweep->workers[index] = (struct worker){.pid = pid, .to_fd = down[1], .from_fd = up[0]};
  return true;
}

/* Ends worker index: closes its pipes and reaps it; returns its wait status. */
static int worker_end(struct sweep *sweep, uint32_t index)
{
  struct worker *worker = &sweep->workers[index];
  SIM_ASSERT(worker->pid > 0);
  close(worker->to_fd);
  close(worker->from_fd);
  int status = 0;
  while (waitpid(worker->pid, &status, 0) < 0 && errno == EINTR) {
  }
  worker->pid = 0;
  return status;
}

static struct outcome *ring_slot(struct sweep *sweep, uint64_t seed)
{
  return &sweep->ring[(seed - sweep->options->seed_first) % CLI_SWEEP_WINDOW];
}

/* Reads worker index's answer into the ring; false when the worker died instead. */
static bool worker_collect(struct sweep *sweep, uint32_t index)
{
  struct worker *worker = &sweep->workers[index];
  struct wire wire;
  if (!read_full(worker->from_fd, &wire, sizeof wire)) return false;
  SIM_ASSERT(worker->busy && wire.seed == worker->seed);
  struct outcome *slot = ring_slot(sweep, wire.seed);
  SIM_ASSERT(!slot->done);
  *slot = (struct outcome){.seed = wire.seed, .exit_code = wire.exit_code,
                           .explored = wire.explored, .aimed = wire.aimed, .done = true};
  char **texts[2] = {&slot->line, &slot->json};
  uint32_t sizes[2] = {wire.line_bytes, wire.json_bytes};
  for (int i = 0; i < 2; i++) {
    if (sizes[i] == 0) continue;
    *texts[i] = malloc((size_t)sizes[i] + 1);
    SIM_ASSERT(*texts[i] != NULL);
    if (!read_full(worker->from_fd, *texts[i], sizes[i])) return false;
    (*texts[i])[sizes[i]] = 0;
  }
  worker->busy = false;
  return true;
}

/* A crashed seed's entry in the report, shaped as conform_report_seed_json's. */
static char *crash_json(uint64_t seed, int code, const char *line, const char *repro)
{
  json_t *root = json_object();
  json_object_set_new(root, "seed", json_integer((json_int_t)seed));
  json_object_set_new(root, "verdict", json_string("CRASH"));
  json_object_set_new(root, "exit_code", json_integer(code));
  json_t *failure = json_object();
  json_object_set_new(failure, "oracle", json_string("crash"));
  json_object_set_new(failure, "path", json_string(""));
  json_object_set_new(failure, "offset", json_null());
  json_object_set_new(failure, "message", json_string(line));
  json_object_set_new(root, "failure", failure);
  json_object_set_new(root, "query-migrate", json_null());
  json_object_set_new(root, "rounds", json_array());
  json_object_set_new(root, "faults", json_array());
  json_object_set_new(root, "reproduce", json_string(repro));
  json_object_set_new(root, "shrink", json_null());
  char *text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
  SIM_ASSERT(text != NULL);
  json_decref(root);
  return text;
}

/* Worker index died: its seed is a CRASH; a new worker takes its place. */
static bool worker_died(struct sweep *sweep, uint32_t index)
{
  struct worker *worker = &sweep->workers[index];
  bool busy = worker->busy;
  uint64_t seed = worker->seed;
  int status = worker_end(sweep, index);
  if (busy) {
    struct outcome *slot = ring_slot(sweep, seed);
    free(slot->line), free(slot->json);
    int code = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 128;
    char repro[1024], line[1280];
    repro_format(repro, sizeof repro, sweep->options, seed);
    snprintf(line, sizeof line, "seed %" PRIu64 ": CRASH (%s %d); reproduce: %s", seed,
             WIFSIGNALED(status) ? "signal" : "exit status",
             WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status), repro);
    *slot = (struct outcome){.seed = seed, .exit_code = code, .done = true,
                             .line = text_copy(line)};
    if (sweep->options->report != NULL) slot->json = crash_json(seed, code, line, repro);
  }
  return worker_start(sweep, index);
}

/* Hands out seeds, collects answers and prints them in order until the range is done. */
static bool sweep_workers(struct sweep *sweep)
{
  const struct cli_sweep_options *options = sweep->options;
  uint64_t next_seed = options->seed_first, next_print = options->seed_first;
  while (next_print <= options->seed_last) {
    struct pollfd fds[CLI_SWEEP_JOBS_MAX];
    for (uint32_t i = 0; i < sweep->worker_count; i++) {
      struct worker *worker = &sweep->workers[i];
      if (!worker->busy && next_seed <= options->seed_last &&
          next_seed - next_print < CLI_SWEEP_WINDOW) {
        worker->busy = true;
        worker->seed = next_seed++;
        if (!write_full(worker->to_fd, &worker->seed, sizeof worker->seed)) {
          /* It died between seeds: the seed goes back in the queue. */
          worker->busy = false;
          next_seed--;
          if (!worker_died(sweep, i)) return false;
        }
      }
      /* Only busy workers owe an answer; poll skips negative descriptors. */
      fds[i] = (struct pollfd){.fd = worker->busy ? worker->from_fd : -1, .events = POLLIN};
    }
    if (poll(fds, sweep->worker_count, -1) < 0 && errno != EINTR) return false;
    for (uint32_t i = 0; i < sweep->worker_count; i++) {
      if (fds[i].revents == 0 || !sweep->workers[i].busy) continue;
      if (!worker_collect(sweep, i) && !worker_died(sweep, i)) return false;
    }
    for (struct outcome *slot; (slot = ring_slot(sweep, next_print))->done; next_print++) {
      outcome_emit(sweep, slot);
      if (next_print == options->seed_last) break;
    }
    if (sweep->done_count == options->seed_last - options->seed_first + 1) break;
  }
  return true;
}

int cli_sweep_run(const struct conform_scenario *scenario,
                  const struct cli_sweep_options *options)
{
  SIM_ASSERT(options->seed_first <= options->seed_last);
  SIM_ASSERT(options->jobs >= 1 && options->jobs <= CLI_SWEEP_JOBS_MAX);
  struct sweep *sweep = calloc(1, sizeof(*sweep));
  SIM_ASSERT(sweep != NULL);
  sweep->scenario = scenario;
  sweep->options = options;
  clock_gettime(CLOCK_MONOTONIC, &sweep->start);
  if (options->report != NULL && (sweep->report = fopen(options->report, "w")) == NULL) {
    fprintf(stderr, "migsim run: cannot write %s: %s\n", options->report, strerror(errno));
    free(sweep);
    return CONFORM_BAD_INPUT;
  }
  if (sweep->report != NULL) report_head(sweep);
  uint64_t seeds = options->seed_last - options->seed_first + 1;
  bool ok = true;
  if (options->jobs == 1) {
    for (uint64_t seed = options->seed_first; seed - options->seed_first < seeds; seed++) {
      struct outcome outcome;
      seed_evaluate(sweep, seed, &outcome);
      outcome_emit(sweep, &outcome);
    }
  } else {
    void (*previous)(int) = signal(SIGPIPE, SIG_IGN); /* a dead worker's pipe: EPIPE */
    sweep->worker_count = (uint32_t)SIM_MIN((uint64_t)options->jobs, seeds);
    for (uint32_t i = 0; i < sweep->worker_count && ok; i++) ok = worker_start(sweep, i);
    ok = ok && sweep_workers(sweep);
    for (uint32_t i = 0; i < sweep->worker_count; i++) {
      if (sweep->workers[i].pid > 0) worker_end(sweep, i);
    }
    signal(SIGPIPE, previous);
  }
  if (sweep->progress_shown_s > 0) progress_show(sweep, true);
  if (!ok) {
    fprintf(stderr, "migsim run: --jobs: cannot run workers: %s\n", strerror(errno));
    sweep->exit_code = CONFORM_BAD_INPUT;
  }
  if (sweep->report != NULL) {
    report_tail(sweep);
    if (fclose(sweep->report) != 0) {
      fprintf(stderr, "migsim run: cannot write %s: %s\n", options->report, strerror(errno));
      if (sweep->exit_code == CONFORM_PASS) sweep->exit_code = CONFORM_BAD_INPUT;
    }
  }
  summary_print(sweep);
  int exit_code = sweep->exit_code;
  free(sweep);
  return exit_code;
}
