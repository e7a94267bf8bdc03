/*
 * conform_run.c: one scenario run, and the judgement over several runs
 * (overview in conform_run.h; oracles in DESIGN.md).
 *
 * Verdicts are decided here in C, never in the python harness (STYLE
 * tangle 7): the exit code alone classifies a failure.
 */
#include "sim_base.h"

#include "conform_run.h"
#include "sim_link.h"

struct run;

/* One migrate (the first, or a retry): the hooks' context, so a late callback finds its own. */
struct attempt {
  struct run *run;
  struct mig_precopy *precopy;
  struct machine *dest;
};

struct run {
  struct sim *sim;
  const struct conform_scenario *scenario;
  const struct conform_run_options *options;
  struct conform_run_result *result;
  struct machine *source;               /* the machine a migrate starts from */
  struct machine *origin;               /* the first source: the guest's started-on release */
  struct machine *dest;
  struct mig_precopy *precopy;
  struct mig_precopy_params params;     /* as set by migrate-set-parameters so far */
  struct conform_snapshot switchover;   /* source state when it stopped */
  bool switchover_taken;
  uint32_t next_command_index;
  struct sim_event command_event;
  uint32_t retries_count;               /* retries started */
  struct sim_event retry_event;         /* migration.retry_delay_ns after a failure */
  uint32_t hops_count;                  /* migrations completed: the next one's destination */
};

const char *conform_verdict_name(enum conform_verdict verdict)
{
  switch (verdict) {
  case CONFORM_PASS: return "PASS";
  case CONFORM_ORACLE_VIOLATION: return "ORACLE-VIOLATION";
  case CONFORM_BAD_INPUT: return "BAD-INPUT";
  case CONFORM_LIVENESS: return "LIVENESS";
  case CONFORM_NONDETERMINISM: return "NONDETERMINISM";
  }
  return "?";
}

static void timeline_add(struct run *run, const char *what, uint64_t value)
{
  struct conform_run_result *result = run->result;
  if (result->timeline_count == CONFORM_TIMELINE_MAX) return;
  result->timeline[result->timeline_count++] =
      (struct conform_timeline_entry){sim_now_ns(run->sim), what, value};
}

/* Records where a failure is; path may be NULL (none) and error NULL (no stream error). */
static void failure_locate(struct conform_run_result *result, const char *oracle,
                           const char *path, const struct mig_error *error)
{
  struct conform_failure *at = &result->failure_at;
  memset(at, 0, sizeof *at);
  at->oracle = oracle;
  if (path != NULL) snprintf(at->path, sizeof at->path, "%s", path);
  if (error != NULL) {
    if (path == NULL) snprintf(at->path, sizeof at->path, "%s", error->path);
    at->offset = error->offset;
    at->has_offset = true;
  }
}

/*
 * The first violation of an oracle; difference is the oracle's "PATH: what"
 * text (conform_failure_path) or NULL.
 */
static void violation(struct run *run, const char *oracle, const char *difference,
                      const char *format, ...)
{
  if (run->result->verdict != CONFORM_PASS) return; /* the first violation is reported */
  run->result->verdict = CONFORM_ORACLE_VIOLATION;
  va_list args;
  va_start(args, format);
  vsnprintf(run->result->failure, sizeof(run->result->failure), format, args);
  va_end(args);
  char path[MIG_PATH_BYTES_MAX] = "";
  if (difference != NULL) conform_failure_path(difference, path, sizeof path);
  failure_locate(run->result, oracle, path, NULL);
}

static void on_switchover(void *context)
{
  struct attempt *attempt = context;
  struct run *run = attempt->run;
  SIM_ASSERT(attempt->precopy == run->precopy);
  if (run->switchover_taken) conform_snapshot_deinit(&run->switchover); /* a chain's next hop */
  conform_snapshot_take(&run->switchover, run->source, false);
  run->switchover_taken = true;
  timeline_add(run, "stop", mig_precopy_stats(run->precopy)->pending_bytes_at_stop);
}

/* The source failed the migration and runs on: retry after the delay, if the scenario says so. */
static void on_failed(void *context)
{
  struct attempt *attempt = context;
  struct run *run = attempt->run;
  const struct mig_precopy_stats *stats = mig_precopy_stats(attempt->precopy);
  timeline_add(run, "migrate-failed", (uint64_t)stats->error.code);
  if (run->result->failed_attempts_count++ == 0) run->result->first_error = stats->error;
  if (run->retries_count >= run->scenario->retries_max) return;
  sim_event_schedule_at(run->sim, &run->retry_event,
                        sim_now_ns(run->sim) + run->scenario->retry_delay_ns);
}

/*
 * A destination with its own configuration refused the stream: a clean
 * failure, as an incompatible pair must fail.  Whoever runs the migration
 * resumes a stopped source (QEMU: over the return path, or `cont` after the
 * destination's error); the source must then finish as if never migrated.
 */
static void dest_refused(struct run *run)
{
  timeline_add(run, "load-refused", (uint64_t)mig_precopy_stats(run->precopy)->error.code);
  if (!machine_running(run->source)) machine_resume(run->source);
}

static void on_loaded(void *context, enum mig_err err)
{
  struct attempt *attempt = context;
  struct run *run = attempt->run;
  if (err != MIG_OK && mig_precopy_stats(attempt->precopy)->source_failed) {
    /* The source cut the stream after a device refused its save: expected, not a bug here. */
    timeline_add(run, "load-cut", (uint64_t)err);
    return;
  }
  if (err != MIG_OK && run->scenario->destination_count > 0) {
    dest_refused(run);
    return;
  }
  SIM_ASSERT(attempt->precopy == run->precopy); /* only the last attempt gets this far */
  if (err != MIG_OK) {
    char message[512];
    mig_error_format(&mig_precopy_stats(run->precopy)->error, message, sizeof(message));
    timeline_add(run, "load-failed", (uint64_t)err);
    violation(run, "load", NULL, "destination failed to load the stream: %s", message);
    failure_locate(run->result, "load", NULL, &mig_precopy_stats(run->precopy)->error);
    return;
  }
  timeline_add(run, "loaded", mig_precopy_stats(run->precopy)->dest_stream_bytes);
  SIM_ASSERT(run->switchover_taken);
  /*
   * switchover-ack promises that the destination has loaded the devices'
   * initial data before the source stops, so the blackout stays near the
   * limit.  Twice the limit (plus a millisecond of fixed costs) is a broken
   * promise, not an estimate error.
   */
  uint64_t downtime_ns = sim_now_ns(run->sim) - mig_precopy_stats(run->precopy)->stop_ns;
  if (run->params.switchover_ack &&
      downtime_ns > 2 * run->params.downtime_limit_ns + SIM_NS_PER_MS) {
    violation(run, "downtime", NULL, "downtime %" PRIu64 " us exceeds twice the limit %" PRIu64
              " us with switchover-ack on", downtime_ns / SIM_NS_PER_US,
              run->params.downtime_limit_ns / SIM_NS_PER_US);
  }
  char failure[512];
  if (!conform_snapshot_compare_as(&run->switchover, run->dest, run->source, failure,
                                   sizeof(failure))) {
    violation(run, "switchover-equality", failure, "switchover equality: %s", failure);
  }
  if (!machine_iommu_check(run->dest, failure, sizeof(failure))) {
    violation(run, "invariant", failure, "invariant after load: %s", failure);
  }
  if (run->scenario->destination_count > 0) {
    /* A chain: the next migrate starts from the machine that runs now. */
    run->hops_count++;
    run->source = run->dest;
  }
}

static void run_migrate(struct run *run)
{
  const struct conform_scenario *scenario = run->scenario;
  /* Per-side configuration: the hop's own machine (a chain takes them in turn). */
  const struct machine_config *config = &scenario->machine;
  if (scenario->destination_count > 0) {
    config = &scenario->destinations[SIM_MIN(run->hops_count, scenario->destination_count - 1)];
  }
  uint32_t role_index = 1 + run->hops_count;
  /*
   * The destination shares the source's disk images, as on shared storage;
   * with x-ignore-shared or cpr-transfer it also maps the source's shared RAM blocks.
   */
  run->dest = run->params.x_ignore_shared || run->params.cpr_transfer
                  ? machine_create_sharing(run->sim, config, role_index, run->source)
                  : machine_create_peer(run->sim, config, role_index, run->source);
  struct link *link = link_create(run->sim, &scenario->link, "migration");
  struct attempt *attempt = sim_alloc(run->sim, sizeof(*attempt));
  struct mig_precopy_hooks hooks = {attempt, on_switchover, on_loaded, on_failed};
  run->precopy = mig_precopy_create(run->sim, run->source, run->dest, link, &run->params,
                                    &hooks);
  *attempt = (struct attempt){run, run->precopy, run->dest};
  if (run->params.switchover_ack) {
    /* The return path: the same channel's reverse direction, with the same profile. */
    mig_precopy_return_path_set(run->precopy,
                                link_create(run->sim, &scenario->link, "return-path"));
  }
  if (run->options->capture != NULL) {
    struct conform_run_result *result = run->result;
    if (result->capture_attempt_count < CONFORM_ATTEMPTS_MAX) {
      result->capture_starts[result->capture_attempt_count++] = run->options->capture->count;
    }
    mig_precopy_capture_set(run->precopy, run->options->capture);
  }
  run->result->migrated = true;
  mig_precopy_start(run->precopy);
}

static void on_retry(struct sim *sim, struct sim_event *event)
{
  (void)sim;
  struct run *run = SIM_CONTAINER_OF(event, struct run, retry_event);
  run->retries_count++;
  timeline_add(run, "migrate-retry", run->retries_count);
  if (machine_running(run->source)) run_migrate(run);
}

static void run_command(struct run *run, const struct conform_command *command)
{
  timeline_add(run, command->execute, 0);
  switch (command->kind) {
  case CONFORM_COMMAND_SET_PARAMETERS:
    if (command->has_downtime_limit) {
      run->params.downtime_limit_ns = command->downtime_limit_ms * SIM_NS_PER_MS;
    }
    if (command->has_max_bandwidth) {
      run->params.max_bandwidth_bytes_per_s = command->max_bandwidth_bytes_per_s;
    }
    if (command->has_mode && run->precopy == NULL) {
      run->params.cpr_transfer = command->cpr_transfer;
    }
    if (run->precopy != NULL) mig_precopy_params_set(run->precopy, &run->params);
    break;
  case CONFORM_COMMAND_SET_CAPABILITIES:
    /* QMP refuses capability changes during a migration; so does this. */
    if (command->has_x_ignore_shared && run->precopy == NULL) {
      run->params.x_ignore_shared = command->x_ignore_shared;
    }
    if (command->has_switchover_ack && run->precopy == NULL) {
      run->params.switchover_ack = command->switchover_ack;
    }
    break;
  case CONFORM_COMMAND_MIGRATE:
    if (run->options->migrate_enabled && machine_running(run->source)) run_migrate(run);
    break;
  case CONFORM_COMMAND_QUERY_MIGRATE:
    if (run->precopy != NULL) {
      timeline_add(run, "transferred", mig_precopy_stats(run->precopy)->transferred_bytes);
    }
    break;
  }
}

static void on_command(struct sim *sim, struct sim_event *event)
{
  struct run *run = SIM_CONTAINER_OF(event, struct run, command_event);
  const struct conform_scenario *scenario = run->scenario;
  while (run->next_command_index < scenario->command_count &&
         scenario->commands[run->next_command_index].at_ns == sim_now_ns(sim)) {
    run_command(run, &scenario->commands[run->next_command_index++]);
  }
  if (run->next_command_index < scenario->command_count) {
    sim_event_schedule_at(sim, event, scenario->commands[run->next_command_index].at_ns);
  }
}

static const char *run_result_name(enum sim_run_result result)
{
  switch (result) {
  case SIM_RUN_IDLE: return "idle";
  case SIM_RUN_STOPPED: return "stopped";
  case SIM_RUN_EVENTS_MAX: return "events_max reached";
  case SIM_RUN_TIME_MAX: return "time_ns_max reached";
  case SIM_RUN_SLICE: return "slice";
  }
  return "?";
}

/* After sim_run: liveness, and the figures of the machine that ran last. */
static void run_finish(struct run *run)
{
  struct conform_run_result *result = run->result;
  const struct mig_precopy_stats *stats =
      run->precopy != NULL ? mig_precopy_stats(run->precopy) : NULL;
  if (stats != NULL) result->stats = *stats;
  bool completed = stats != NULL && stats->status == MIG_PRECOPY_COMPLETED;
  bool refused = stats != NULL && (stats->source_failed || stats->dest_refused);
  struct machine *last = completed ? run->dest : run->source;
  char why[512];
  if (!machine_invariants_check(run->source, why, sizeof(why))) {
    violation(run, "invariant", why, "invariant: %s", why);
  }
  if (result->verdict == CONFORM_PASS) {
    if (result->run_result != SIM_RUN_IDLE) {
      result->verdict = CONFORM_LIVENESS;
      failure_locate(result, "liveness", NULL, NULL);
      snprintf(result->failure, sizeof(result->failure),
               "run ended at %" PRIu64 " ns: %s (migration %s)", result->end_ns,
               run_result_name(result->run_result),
               stats == NULL ? "not started" : completed ? "completed" : "unfinished");
    } else if (stats != NULL && !completed && !refused) {
      result->verdict = CONFORM_LIVENESS;
      failure_locate(result, "liveness", NULL, NULL);
      snprintf(result->failure, sizeof(result->failure),
               "simulation went idle with the migration unfinished (status %d)",
               (int)stats->status);
    } else if (!machine_workload_done(last)) {
      result->verdict = CONFORM_LIVENESS;
      failure_locate(result, "liveness", NULL, NULL);
      snprintf(result->failure, sizeof(result->failure), "guest program did not finish");
    } else if (refused && !machine_running(run->source)) {
      violation(run, "clean-failure", NULL, "clean failure: the source did not resume after the failed migration");
    } else if (refused) {
      /* Clean failure held: the source ran on to the end.  Say why the migration failed. */
      char message[512];
      mig_error_format(&stats->error, message, sizeof(message));
      snprintf(result->failure, sizeof(result->failure), "migration failed cleanly: %s",
               message);
      failure_locate(result, NULL, NULL, &stats->error);
      if (run->scenario->expect == CONFORM_EXPECT_COMPLETED) {
        result->verdict = CONFORM_ORACLE_VIOLATION;
        failure_locate(result, "expectation", NULL, &stats->error);
        snprintf(result->failure, sizeof(result->failure),
                 "expected the migration to complete; it failed: %s", message);
      }
    } else if (stats != NULL && run->scenario->expect == CONFORM_EXPECT_FAILED) {
      violation(run, "expectation", NULL, "expected the migration to fail; it completed");
    } else if (stats == NULL && run->options->migrate_enabled &&
               run->scenario->expect != CONFORM_EXPECT_ANY) {
      violation(run, "expectation", NULL, "expected a migration to %s; none started",
                run->scenario->expect == CONFORM_EXPECT_FAILED ? "fail" : "complete");
    }
  }
  /* Across releases, read through the started-on release's tables (what the reference has). */
  result->guest_digest = conform_guest_digest_as(last, run->origin);
  conform_snapshot_take_as(&result->final, last, run->origin, true);
  if (run->options->trace_records_max > 0) {
    uint64_t count;
    const struct sim_trace_record *records = sim_trace_records(run->sim, &count);
    result->records = malloc(SIM_MAX(count, 1) * sizeof(*records));
    SIM_ASSERT(result->records != NULL);
    memcpy(result->records, records, count * sizeof(*records));
    result->record_count = count;
  }
}

#define RUN_PROGRESS_EVENTS (UINT64_C(1) << 16) /* events between progress calls */

/* sim_run in slices, so a progress callback can look in; the run is the same. */
static enum sim_run_result run_sliced(struct run *run)
{
  const struct conform_run_options *options = run->options;
  if (options->progress == NULL) return sim_run(run->sim);
  enum sim_run_result result;
  while ((result = sim_run_for(run->sim, RUN_PROGRESS_EVENTS)) == SIM_RUN_SLICE) {
    options->progress(options->progress_context, sim_now_ns(run->sim),
                      run->scenario->time_ns_max, sim_events_count(run->sim));
  }
  return result;
}

void conform_run(const struct conform_scenario *scenario,
                 const struct conform_run_options *options, struct conform_run_result *result)
{
  memset(result, 0, sizeof(*result));
  struct sim_options sim_options = {
      .seed = scenario->seed,
      .events_max = scenario->events_max,
      .time_ns_max = scenario->time_ns_max,
      .trace_records_max = options->trace_records_max,
      .trace_text = options->trace_text,
  };
  struct run run = {.scenario = scenario, .options = options, .result = result};
  run.sim = sim_create(&sim_options);
  SIM_ASSERT(run.sim != NULL);
  result->seed = scenario->seed;
  run.params = (struct mig_precopy_params){
      .downtime_limit_ns = 300 * SIM_NS_PER_MS,          /* QEMU's defaults */
      .max_bandwidth_bytes_per_s = UINT64_C(134217728),
      .section_pages_max = scenario->section_pages_max,
  };
  run.source = machine_create(run.sim, &scenario->machine, 0);
  run.origin = run.source;
  machine_boot(run.source);
  sim_event_init(&run.command_event, on_command, "scenario.command");
  sim_event_init(&run.retry_event, on_retry, "scenario.retry");
  if (scenario->command_count > 0) {
    sim_event_schedule_at(run.sim, &run.command_event, scenario->commands[0].at_ns);
  }
  result->run_result = run_sliced(&run);
  result->end_ns = sim_now_ns(run.sim);
  result->events_count = sim_events_count(run.sim);
  run_finish(&run);
  result->trace_digest = sim_trace_digest(run.sim);
  result->trace_count = sim_trace_count(run.sim);
  if (run.switchover_taken) conform_snapshot_deinit(&run.switchover);
  sim_destroy(run.sim);
}

void conform_run_result_deinit(struct conform_run_result *result)
{
  free(result->records);
  result->records = NULL;
  conform_snapshot_deinit(&result->final);
}

/* Names the first record where two runs' traces part; returns its index. */
static uint64_t twice_compare(const struct conform_run_result *first,
                          const struct conform_run_result *second, char *out, size_t out_bytes)
{
  uint64_t count = SIM_MIN(first->record_count, second->record_count);
  uint64_t index = 0;
  while (index < count && first->records[index].digest == second->records[index].digest) {
    index++;
  }
  if (index == count) {
    snprintf(out, out_bytes, "traces agree on %" PRIu64 " kept records; they part after "
             "(%" PRIu64 " vs %" PRIu64 " records in all)", count, first->trace_count,
             second->trace_count);
    return index;
  }
  const struct sim_trace_record *a = &first->records[index];
  const struct sim_trace_record *b = &second->records[index];
  snprintf(out, out_bytes,
           "first divergent record #%" PRIu64 ": run 1 %" PRIu64 " ns %s 0x%" PRIx64
           " 0x%" PRIx64 " 0x%" PRIx64 " 0x%" PRIx64 "; run 2 %" PRIu64 " ns %s 0x%" PRIx64
           " 0x%" PRIx64 " 0x%" PRIx64 " 0x%" PRIx64, index, a->time_ns, a->kind,
           a->values[0], a->values[1], a->values[2], a->values[3], b->time_ns, b->kind,
           b->values[0], b->values[1], b->values[2], b->values[3]);
  return index;
}

#define TWICE_RECORDS_MAX (UINT64_C(1) << 22)

void conform_check(const struct conform_scenario *scenario, bool twice, FILE *trace_text,
                   struct mig_membuf *capture, struct conform_run_result *result)
{
  struct conform_run_options options = {.trace_text = trace_text, .capture = capture};
  conform_check_with(scenario, twice, &options, result);
}

void conform_check_with(const struct conform_scenario *scenario, bool twice,
                        const struct conform_run_options *given,
                        struct conform_run_result *result)
{
  struct conform_run_options options = *given;
  options.migrate_enabled = true;
  options.trace_records_max = twice ? TWICE_RECORDS_MAX : 0;
  conform_run(scenario, &options, result);
  struct conform_run_options reference_options = {.migrate_enabled = false,
                                                  .progress = options.progress,
                                                  .progress_context = options.progress_context};
  struct conform_run_result reference;
  conform_run(scenario, &reference_options, &reference);
  result->reference_guest_digest = reference.guest_digest;
  result->reference_trace_digest = reference.trace_digest;
  if (result->verdict == CONFORM_PASS && reference.verdict != CONFORM_PASS) {
    result->verdict = reference.verdict;
    snprintf(result->failure, sizeof(result->failure), "reference run: %.900s",
             reference.failure);
    result->failure_at = reference.failure_at;
    result->failure_at.oracle = "reference";
  }
  char failure[512] = "no field or page differs";
  bool same_state = conform_snapshot_diff(&reference.final, &result->final, failure,
                                          sizeof(failure));
  /*
   * A device that refused its save entered its error state, which the guest
   * saw; the reference never saved, so only the clean-failure checks of
   * run_finish apply to that run.
   */
  /* A cancel (a RAM block resized) changes nothing the guest sees: transparency applies. */
  bool refused = result->stats.source_failed && result->stats.error.code != MIG_ERR_CANCELLED;
  if (result->verdict == CONFORM_PASS && result->migrated && !refused &&
      (result->guest_digest != reference.guest_digest || !same_state)) {
    result->verdict = CONFORM_ORACLE_VIOLATION;
    snprintf(result->failure, sizeof(result->failure),
             "transparency: guest digest 0x%016" PRIx64 " after migration, 0x%016" PRIx64
             " unmigrated; first difference (source = unmigrated): %s", result->guest_digest,
             reference.guest_digest, failure);
    char path[MIG_PATH_BYTES_MAX];
    conform_failure_path(failure, path, sizeof path);
    failure_locate(result, "transparency", path, NULL);
  }
  conform_run_result_deinit(&reference);
  if (!twice) return;
  struct conform_run_result second;
  struct conform_run_options second_options = options;
  second_options.trace_text = NULL;
  second_options.capture = NULL;
  conform_run(scenario, &second_options, &second);
  if (second.trace_digest != result->trace_digest) {
    result->verdict = CONFORM_NONDETERMINISM;
    int at = snprintf(result->failure, sizeof(result->failure), "same seed, different trace "
                      "digests 0x%016" PRIx64 " and 0x%016" PRIx64 "; ", result->trace_digest,
                      second.trace_digest);
    uint64_t index = twice_compare(result, &second, result->failure + at,
                                   sizeof(result->failure) - (size_t)at);
    char path[MIG_PATH_BYTES_MAX];
    snprintf(path, sizeof path, "trace/#%" PRIu64, index);
    failure_locate(result, "determinism", path, NULL);
  }
  conform_run_result_deinit(&second);
}

bool conform_capture_default(struct mig_membuf *capture, char *error, size_t error_bytes)
{
  static struct conform_scenario scenario;
  static struct conform_run_result result;
  const char *text = conform_scenario_default_text();
  mig_membuf_init(capture, (size_t)1 << 30);
  if (!conform_scenario_parse(text, strlen(text), "<default>", &scenario, error, error_bytes))
    return false;
  conform_check(&scenario, false, NULL, capture, &result);
  enum conform_verdict verdict = result.verdict;
  conform_run_result_deinit(&result);
  if (verdict != CONFORM_PASS) {
    snprintf(error, error_bytes, "the default scenario did not pass: %s",
             conform_verdict_name(verdict));
    return false;
  }
  if (capture->count == 0) {
    snprintf(error, error_bytes, "the default scenario wrote no migration stream");
    return false;
  }
  return true;
}
