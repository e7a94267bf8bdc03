/*
 * conform_run.c: one scenario run, and the judgement over several runs
 * (overview in conform_run.h; oracles in DESIGN.md).
 *
 * Verdicts are decided here in C, never in the python harness (STYLE
 * tangle 7): the exit code alone classifies a failure.
 */
#include "sim_base.h"

#include "conform_run.h"
#include "conform_file.h"
#include "conform_transport.h"
#include "conform_postcopy.h"
#include "mig_plug.h"
#include "sim_link.h"

struct run;

#ifdef SIM_TEST_NONDETERMINISM
/* Small, so that the test-only build narrows a short run's window in two re-runs. */
#define CHAIN_CHECKPOINTS 16u
#define CHAIN_KEEP UINT64_C(64)
#else
#define CHAIN_CHECKPOINTS CONFORM_CHAIN_CHECKPOINTS_MAX
#define CHAIN_KEEP CONFORM_CHAIN_KEEP_MAX
#endif

/* One migrate (the first, or a retry): the hooks' context, so a late callback finds its own. */
struct attempt {
  struct run *run;
  struct mig_precopy *precopy;
  struct machine *dest;
  struct mig_plug *plug;                /* postcopy or multifd; NULL when both are off */
  bool postcopy_ran;                    /* POSTCOPY_RUN started the destination early */
  struct attempt *next;                 /* the run's attempts, for mig_plug_destroy */
  struct shmclient *shm_clients[CONFORM_SHM_CLIENTS_MAX]; /* on dest (scenario "shm_clients") */
  uint32_t shm_client_count;
  bool shm_started;
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
  struct attempt *attempt;              /* the last migrate's; attempts chain from it */
  struct mig_precopy_params params;     /* as set by migrate-set-parameters so far */
  struct link *precopy_rp_link;         /* the attempt's return path, or NULL */
  enum conform_transport transport;     /* the last migrate's URI (docs/transports.md) */
  struct mig_conn_profile conn_profile; /* ...its connections */
  struct link *conn_links[2 * CONFORM_ATTEMPTS_MAX]; /* every attempt's carried main links */
  uint32_t conn_links_count;
  struct conform_file *file;            /* file:'s simulated file (the last migrate's) */
  struct conform_snapshot switchover;   /* source state when it stopped */
  bool switchover_taken;
  uint32_t next_command_index;
  struct sim_event command_event;
  uint32_t retries_count;               /* retries started */
  struct sim_event retry_event;         /* migration.retry_delay_ns after a failure */
#ifdef SIM_TEST_NONDETERMINISM
  struct sim_event perturb_event;       /* the planted nondeterminism (conform_run.h) */
#endif
  uint32_t hops_count;                  /* migrations completed: the next one's destination */
  struct conform_plan plan;             /* the faults of this run (swarm: drawn) */
  struct conform_faults *faults;        /* NULL without faults or in the reference run */
  uint32_t fault_retries_count;         /* retries the fault plan asked for */
  struct sim_event continue_event;      /* migrate-continue for a retried migration */
  enum mig_state states[2];             /* last "mig.state" per side (the transition checker) */
  char state_error[160];                /* the first illegal transition seen, or "" */
};

#define FAULT_RETRIES_MAX 8u            /* migrations again after failures under a plan */

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

static void timeline_add_detail(struct run *run, uint64_t time_ns, const char *what,
                                uint64_t value, const char *detail)
{
  struct conform_run_result *result = run->result;
  if (result->timeline_count == CONFORM_TIMELINE_MAX) return;
  result->timeline[result->timeline_count++] =
      (struct conform_timeline_entry){time_ns, what, value, detail};
}

static void timeline_add(struct run *run, const char *what, uint64_t value)
{
  timeline_add_detail(run, sim_now_ns(run->sim), what, value, NULL);
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
  run->result->stop_flight = conform_flight_state(run->source);
  if (run->switchover_taken) { /* a chain's next hop: the previous hop's snapshot goes */
    conform_snapshot_deinit(&run->switchover);
    run->switchover_taken = false;
  }
  if (run->options->stop_at_switchover) {
    /* A probe only wants to know when the stop came: end the run here. */
    run->result->stats = *mig_precopy_stats(run->precopy);
    sim_stop(run->sim);
    return;
  }
  conform_snapshot_take(&run->switchover, run->source, false);
  run->switchover_taken = true;
  timeline_add(run, "stop", mig_precopy_stats(run->precopy)->pending_bytes_at_stop);
}

/*
 * Under a fault plan with a heal time, the management layer migrates again
 * after a failure, once the faults have healed (conform_faults_retry_at).
 */
static bool fault_retry(struct run *run)
{
  uint64_t at_ns;
  /* A user's cancel, a device refusing its save, a resize: not the faults' doing. */
  const struct mig_precopy_stats *stats =
      run->precopy != NULL ? mig_precopy_stats(run->precopy) : NULL;
  bool own = stats != NULL && stats->source_failed &&
             (stats->error.code == MIG_ERR_CANCELLED || stats->error.code == MIG_ERR_HOOK);
  if (run->faults == NULL || own || run->fault_retries_count >= FAULT_RETRIES_MAX ||
      !conform_faults_retry_at(run->faults, sim_now_ns(run->sim), &at_ns)) {
    return false;
  }
  run->fault_retries_count++;
  sim_event_schedule_at(run->sim, &run->retry_event, at_ns);
  return true;
}

/* The source failed the migration and runs on: retry after the delay, if the scenario says so. */
static void on_failed(void *context)
{
  struct attempt *attempt = context;
  struct run *run = attempt->run;
  const struct mig_precopy_stats *stats = mig_precopy_stats(attempt->precopy);
  timeline_add(run, "migrate-failed", (uint64_t)stats->error.code);
  if (run->result->failed_attempts_count++ == 0) run->result->first_error = stats->error;
  if (attempt->precopy == run->precopy && fault_retry(run)) return;
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

/*
 * In postcopy, a load refused for a page applied twice or never is the
 * exactly-once checker's finding (mig_postcopy.h).
 */
static bool postcopy_once_broken(struct run *run, const struct attempt *attempt,
                                 enum mig_err err)
{
  if (!attempt->postcopy_ran || err != MIG_ERR_RAM_ORDER) return false;
  const struct mig_error *error = &mig_precopy_stats(attempt->precopy)->error;
  char message[512];
  mig_error_format(error, message, sizeof(message));
  timeline_add(run, "load-failed", (uint64_t)err);
  violation(run, "exactly-once", NULL, "destination failed to load the stream: %s", message);
  failure_locate(run->result, "exactly-once", NULL, error);
  return true;
}

/* A machine whose process a crash fault killed never runs again. */
static bool machine_dead(const struct run *run, const struct machine *machine)
{
  return run->faults != NULL && conform_faults_machine_dead(run->faults, machine);
}

/* The destination is loaded and paused: a revert fault sends management back to the source. */
static void revert_maybe(struct run *run)
{
  if (run->faults == NULL || !conform_faults_revert_now(run->faults)) return;
  mig_precopy_dest_autostart_set(run->precopy, false);
  run->result->reverted = true;
  timeline_add(run, "revert", 0);
  if (!machine_running(run->source) && !machine_dead(run, run->source)) {
    machine_resume(run->source);
  }
}

/*
 * The scenario's shared-memory clients on the attempt's destination; those
 * marked `register` join its userfaultfd (postcopy: the vhost-user handshake).
 */
static void shm_clients_create(struct run *run, struct attempt *attempt)
{
  for (uint32_t i = 0; i < run->scenario->shm_client_count; i++) {
    const struct conform_shm_client *client = &run->scenario->shm_clients[i];
    if (!shmclient_config_valid(attempt->dest, &client->config)) continue; /* not on this hop */
    struct shmclient *created = shmclient_create(attempt->dest, &client->config, i);
    if (client->registered && machine_uffd(attempt->dest) != NULL) shmclient_register(created);
    attempt->shm_clients[attempt->shm_client_count++] = created;
  }
}

/* The destination runs (postcopy RUN, or the load's end): its clients read from now on. */
static void shm_clients_start(struct attempt *attempt)
{
  if (attempt->shm_started) return;
  attempt->shm_started = true;
  for (uint32_t i = 0; i < attempt->shm_client_count; i++) shmclient_start(attempt->shm_clients[i]);
}

/* A client that read a page before it was there saw memory the source never had. */
static void shm_clients_judge(struct run *run, const struct attempt *attempt)
{
  run->result->shm_client_count = attempt->shm_client_count;
  for (uint32_t i = 0; i < attempt->shm_client_count; i++) {
    struct shmclient_stats *stats = &run->result->shm_clients[i];
    shmclient_stats_get(attempt->shm_clients[i], stats);
    if (stats->stale_reads_count == 0) continue;
    char where[48];
    snprintf(where, sizeof(where), "shm_clients/%" PRIu32 ": stale reads", i);
    violation(run, "shared-memory", where, "shared-memory client %" PRIu32 " read %" PRIu64
              " page(s) not yet placed on the destination (it is not registered with the "
              "userfaultfd)", i, stats->stale_reads_count);
  }
}

/* The destination's load failed: expected (the source cut it, a damaged stream) or not. */
static void loaded_failed(struct run *run, struct attempt *attempt, enum mig_err err)
{
  if (mig_precopy_stats(attempt->precopy)->source_failed) {
    /* The source cut the stream after a device refused its save: expected, not a bug here. */
    timeline_add(run, "load-cut", (uint64_t)err);
    return;
  }
  if (mig_precopy_stats(attempt->precopy)->source_crashed) {
    timeline_add(run, "load-cut", (uint64_t)err); /* the source died mid-stream: expected */
    return;
  }
  if (postcopy_once_broken(run, attempt, err)) return;
  bool damaged = run->faults != NULL && conform_faults_summary(run->faults)->damaging;
  if (run->scenario->destination_count > 0 || damaged) {
    /* A damaged stream must be refused, as an incompatible one: a clean failure. */
    dest_refused(run);
    if (attempt->precopy == run->precopy) fault_retry(run);
    return;
  }
  SIM_ASSERT(attempt->precopy == run->precopy); /* only the last attempt gets this far */
  char message[512];
  mig_error_format(&mig_precopy_stats(run->precopy)->error, message, sizeof(message));
  timeline_add(run, "load-failed", (uint64_t)err);
  violation(run, "load", NULL, "destination failed to load the stream: %s", message);
  failure_locate(run->result, "load", NULL, &mig_precopy_stats(run->precopy)->error);
}

static void on_loaded(void *context, enum mig_err err)
{
  struct attempt *attempt = context;
  struct run *run = attempt->run;
  SIM_ASSERT(!run->options->stop_at_switchover);
  if (err != MIG_OK) {
    loaded_failed(run, attempt, err);
    return;
  }
  SIM_ASSERT(attempt->precopy == run->precopy); /* only the last attempt gets this far */
  timeline_add(run, "loaded", mig_precopy_stats(run->precopy)->dest_stream_bytes);
  if (run->switchover_taken) shm_clients_start(attempt);
  if (!run->switchover_taken) {
    /* The source never stopped, so it never sent the final state: nothing can be whole. */
    mig_precopy_dest_autostart_set(run->precopy, false); /* caught: it must not run garbage */
    violation(run, "clean-failure", NULL, "the destination completed a stream whose source "
              "never stopped (%" PRIu64 " bytes loaded): it runs a partial guest",
              mig_precopy_stats(run->precopy)->dest_stream_bytes);
    return;
  }
  /*
   * switchover-ack promises that the destination has loaded the devices'
   * initial data before the source stops, so the blackout stays near the
   * limit.  Twice the limit (plus a millisecond of fixed costs) is a broken
   * promise, not an estimate error.
   */
  uint64_t downtime_ns = sim_now_ns(run->sim) - mig_precopy_stats(run->precopy)->stop_ns;
  uint64_t limit_ns = mig_precopy_downtime_limit_ns(&run->params);
  bool slowed = run->faults != NULL && conform_faults_summary(run->faults)->slow;
  if (run->params.caps.on[MIG_CAP_SWITCHOVER_ACK] && !slowed &&
      downtime_ns > 2 * limit_ns + SIM_NS_PER_MS) {
    violation(run, "downtime", NULL, "downtime %" PRIu64 " us exceeds twice the limit %" PRIu64
              " us with switchover-ack on", downtime_ns / SIM_NS_PER_US,
              limit_ns / SIM_NS_PER_US);
  }
  char failure[512];
  bool equal = attempt->postcopy_ran
                   ? conform_postcopy_loaded_check(&run->switchover, run->dest, run->source,
                                                   failure, sizeof(failure))
                   : conform_snapshot_compare_as(&run->switchover, run->dest, run->source,
                                                 failure, sizeof(failure));
  if (!equal) violation(run, "switchover-equality", failure, "switchover equality: %s", failure);
  if (!machine_iommu_check(run->dest, failure, sizeof(failure))) {
    violation(run, "invariant", failure, "invariant after load: %s", failure);
  }
  /*
   * Under injected faults a destination caught with a wrong state may hold
   * anything (a stream cut anywhere): it stays paused.  Without faults it
   * runs on, so the guest-visible divergence shows (conform_iommu_test).
   */
  bool faulted = run->faults != NULL && conform_faults_summary(run->faults)->fired_count > 0;
  if (run->result->verdict != CONFORM_PASS && faulted) {
    mig_precopy_dest_autostart_set(run->precopy, false);
  }
  revert_maybe(run);
  if (run->scenario->destination_count > 0 && !run->result->reverted) {
    /* A chain: the next migrate starts from the machine that runs now. */
    run->hops_count++;
    run->source = run->dest;
  }
}

/* POSTCOPY_RUN: the destination starts now; its devices must be the source's at the stop. */
static void on_postcopy_run(void *context)
{
  struct attempt *attempt = context;
  struct run *run = attempt->run;
  attempt->postcopy_ran = true;
  timeline_add(run, "postcopy-run", 0);
  shm_clients_start(attempt);
  SIM_ASSERT(run->switchover_taken);
  char failure[512];
  if (!conform_postcopy_run_check(&run->switchover, attempt->dest, run->source, failure,
                                  sizeof(failure))) {
    violation(run, "switchover-equality", failure, "switchover equality at postcopy run: %s",
              failure);
  }
}

/* postcopy-ram or multifd: the plug-in with its connections (migration/mig_plug.h). */
static void run_plug(struct run *run, struct attempt *attempt)
{
  const struct mig_caps *caps = &run->params.caps;
  if (!caps->on[MIG_CAP_POSTCOPY_RAM] && !caps->on[MIG_CAP_MULTIFD]) return;
  const uint64_t *values = run->params.qmp.values;
  enum mig_multifd_compression compression = (enum mig_multifd_compression)
      values[MIG_PARAM_MULTIFD_COMPRESSION];
  struct mig_plug_options options = {
      .postcopy = caps->on[MIG_CAP_POSTCOPY_RAM],
      .preempt = caps->on[MIG_CAP_POSTCOPY_PREEMPT],
      .multifd = caps->on[MIG_CAP_MULTIFD],
      .multifd_channels = (uint32_t)SIM_MAX(values[MIG_PARAM_MULTIFD_CHANNELS], 1u),
      .compression = compression,
      .level = (int32_t)values[compression == MIG_MULTIFD_COMPRESSION_ZSTD
                                   ? MIG_PARAM_MULTIFD_ZSTD_LEVEL
                                   : MIG_PARAM_MULTIFD_ZLIB_LEVEL],
      .zero_pages = values[MIG_PARAM_ZERO_PAGE_DETECTION] == MIG_ZERO_PAGE_MULTIFD,
      .link = run->scenario->link,
      .conn = run->conn_profile,
      .run = on_postcopy_run,
      .run_context = attempt};
  attempt->plug = mig_plug_create(run->sim, run->precopy, &options);
}

static void on_continue(struct sim *sim, struct sim_event *event)
{
  (void)sim;
  struct run *run = SIM_CONTAINER_OF(event, struct run, continue_event);
  if (run->precopy != NULL && mig_precopy_continue(run->precopy)) {
    timeline_add(run, "migrate-continue", 0);
  }
}

static void on_progress(void *context, enum mig_precopy_point point)
{
  struct attempt *attempt = context;
  struct run *run = attempt->run;
  if (run->faults == NULL || attempt->precopy != run->precopy) return;
  conform_faults_progress(run->faults, point);
  /*
   * The management layer that retried also says migrate-continue when the
   * retry pauses before switchover (the scenario's own came for the first).
   */
  if (point == MIG_PRECOPY_POINT_SOURCE_STATE && run->fault_retries_count > 0 &&
      mig_precopy_stats(run->precopy)->status == MIG_STATE_PRE_SWITCHOVER) {
    sim_event_schedule_at(run->sim, &run->continue_event, sim_now_ns(run->sim));
  }
}

/*
 * The migration connection for the URI's transport (conform_transport.h):
 * sim: a raw link ("migration"; the return path another), else a carried
 * connection whose way back is the return path.
 */
static struct link *run_connect(struct run *run, struct link **reverse)
{
  if (run->transport == CONFORM_TRANSPORT_FILE) {
    /* Each migrate writes the file anew (an earlier attempt's file is replaced). */
    conform_file_destroy(run->file);
    run->file = conform_file_create(run->sim, "file", CONFORM_TRANSPORT_FILE_WRITE_BYTES_PER_S,
                                    CONFORM_TRANSPORT_FILE_READ_BYTES_PER_S);
    timeline_add(run, "file", 0);
    return conform_file_link(run->file);
  }
  if (!run->conn_profile.carried) {
    return link_create(run->sim, &run->scenario->link, "migration");
  }
  struct link *forward;
  mig_conn_open(run->sim, &run->conn_profile, "migration", &forward, reverse);
  if (run->conn_links_count + 2 <= SIM_ARRAY_COUNT(run->conn_links)) {
    run->conn_links[run->conn_links_count++] = forward;
    run->conn_links[run->conn_links_count++] = *reverse;
  }
  timeline_add(run, conform_transport_name(run->transport), run->conn_profile.open_ns);
  return forward;
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
  bool sharing = run->params.caps.on[MIG_CAP_X_IGNORE_SHARED] ||
                 mig_precopy_cpr_transfer(&run->params);
  run->dest = sharing
                  ? machine_create_sharing(run->sim, config, role_index, run->source)
                  : machine_create_peer(run->sim, config, role_index, run->source);
  struct link *reverse = NULL;
  struct link *link = run_connect(run, &reverse);
  run->precopy_rp_link = NULL;
  struct attempt *attempt = sim_alloc(run->sim, sizeof(*attempt));
  struct mig_precopy_hooks hooks = {attempt, on_switchover, on_loaded, on_failed, on_progress};
  run->precopy = mig_precopy_create(run->sim, run->source, run->dest, link, &run->params,
                                    &hooks);
  *attempt = (struct attempt){.run = run, .precopy = run->precopy, .dest = run->dest,
                              .next = run->attempt};
  run->attempt = attempt;
  /* postcopy opens the return path whatever return-path says (QEMU: migrate_postcopy()). */
  if (run->params.caps.on[MIG_CAP_RETURN_PATH] || run->params.caps.on[MIG_CAP_POSTCOPY_RAM]) {
    /* The return path: the same channel's reverse direction, with the same profile. */
    run->precopy_rp_link =
        reverse != NULL ? reverse : link_create(run->sim, &scenario->link, "return-path");
    mig_precopy_return_path_set(run->precopy, run->precopy_rp_link);
  }
  if (run->faults != NULL) {
    conform_faults_attempt(run->faults, run->precopy, run->source, link, run->precopy_rp_link);
  }
  run_plug(run, attempt);
  shm_clients_create(run, attempt);
  if (run->faults != NULL && attempt->plug != NULL) {
    conform_faults_plug(run->faults, attempt->plug);
  }
  if (run->options->capture != NULL) {
    struct conform_run_result *result = run->result;
    if (result->capture_attempt_count < CONFORM_ATTEMPTS_MAX) {
      result->capture_starts[result->capture_attempt_count++] = run->options->capture->count;
    }
    mig_precopy_capture_set(run->precopy, run->options->capture);
  }
  run->result->migrated = true;
  run->result->reverted = false; /* the flag tells of the last migration */
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

/* The URI's transport for this migrate and its retries (the parser checked the profile). */
static void run_transport_set(struct run *run, enum conform_transport transport)
{
  char why[256];
  run->transport = transport;
  bool ok = conform_transport_profile(transport, run->scenario, &run->conn_profile, why,
                                      sizeof(why));
  SIM_ASSERT(ok);
}

/* A command QEMU would refuse now: its text goes into the timeline (QMP returns an error). */
static void qmp_error(struct run *run, const char *text)
{
  enum mig_state status = run->precopy != NULL ? mig_precopy_stats(run->precopy)->status
                                               : MIG_STATE_NONE;
  timeline_add_detail(run, sim_now_ns(run->sim), "qmp-error", (uint64_t)status, text);
}

/* query-migrate: the status and the bytes so far, in the timeline. */
static void run_query(struct run *run)
{
  if (run->precopy == NULL) {
    timeline_add_detail(run, sim_now_ns(run->sim), "query-migrate", 0, "none");
    return;
  }
  const struct mig_precopy_stats *stats = mig_precopy_stats(run->precopy);
  timeline_add_detail(run, sim_now_ns(run->sim), "query-migrate", stats->transferred_bytes,
                      mig_state_name(stats->status));
}

/* Commands that act on a running migration (cancel, continue, postcopy's). */
static void run_control(struct run *run, const struct conform_command *command)
{
  struct mig_precopy *precopy = run->precopy;
  struct mig_plug *plug = run->attempt != NULL ? run->attempt->plug : NULL;
  enum mig_state status = precopy != NULL ? mig_precopy_stats(precopy)->status : MIG_STATE_NONE;
  switch (command->kind) {
  case CONFORM_COMMAND_CANCEL:
    if (mig_state_postcopy(status)) {
      /* The destination runs with part of RAM: cancelling would lose the guest (migsim). */
      qmp_error(run, "migrate-cancel in postcopy: the destination already runs; refused");
      break;
    }
    /* QEMU's migrate-cancel succeeds in any state; it only acts on a running migration. */
    if (precopy == NULL || !mig_precopy_cancel(precopy)) timeline_add(run, "cancel-no-op", 0);
    break;
  case CONFORM_COMMAND_CONTINUE:
    if (precopy == NULL || status != command->state || !mig_precopy_continue(precopy)) {
      qmp_error(run, "Migration not in expected state");
    }
    break;
  case CONFORM_COMMAND_PAUSE:
    if (plug == NULL || !mig_plug_pause(plug)) {
      qmp_error(run, "migrate-pause is currently only supported during postcopy-active or "
                     "postcopy-recover state");
    }
    break;
  case CONFORM_COMMAND_RECOVER:
    if (plug == NULL || !mig_plug_recover(plug)) {
      qmp_error(run, "Migrate recover can only be run when postcopy is paused.");
    }
    break;
  case CONFORM_COMMAND_START_POSTCOPY:
    /* The parser checked postcopy-ram; too late once the switch came or the stream is whole. */
    if (plug == NULL || mig_precopy_stats(precopy)->stop_ns != 0 ||
        !mig_plug_start_postcopy(plug)) {
      qmp_error(run, "Postcopy must be started after migration has been started");
    }
    break;
  default: SIM_ASSERT(false);
  }
}

/* The fault plan's hands (conform_faults_env): migrate-cancel, and `cont` on the source. */
static void fault_cancel(void *context)
{
  struct run *run = context;
  timeline_add(run, "migrate-cancel", 0);
  if (run->precopy == NULL || !mig_precopy_cancel(run->precopy)) {
    timeline_add(run, "cancel-no-op", 0);
  }
}

static void fault_resume_source(void *context)
{
  struct run *run = context;
  if (machine_running(run->source) || machine_dead(run, run->source)) return;
  timeline_add(run, "cont", 0);
  machine_resume(run->source);
}

static bool fault_disk_full(void *context)
{
  struct run *run = context;
  return run->file != NULL && conform_file_disk_full(run->file);
}

static void run_command(struct run *run, const struct conform_command *command)
{
  timeline_add(run, command->execute, 0);
  switch (command->kind) {
  case CONFORM_COMMAND_SET_PARAMETERS:
    mig_params_apply(&run->params.qmp, &command->params);
    if (run->precopy != NULL) mig_precopy_params_set(run->precopy, &run->params);
    break;
  case CONFORM_COMMAND_SET_CAPABILITIES:
    /* The parser refused capabilities after migrate (QEMU: a migration is in progress). */
    for (uint32_t c = 0; c < MIG_CAP_COUNT; c++) {
      if (command->caps_given.on[c]) run->params.caps.on[c] = command->caps_state.on[c];
    }
    break;
  case CONFORM_COMMAND_MIGRATE:
    run_transport_set(run, command->transport);
    if (run->options->migrate_enabled && machine_running(run->source)) run_migrate(run);
    break;
  case CONFORM_COMMAND_MIGRATE_INCOMING:
    /* file: loads what an earlier migrate wrote; other URIs: migrate creates the listener. */
    if (command->transport == CONFORM_TRANSPORT_FILE && run->file != NULL) {
      timeline_add(run, "restore", conform_file_bytes(run->file));
      conform_file_restore(run->file);
    }
    break;
  case CONFORM_COMMAND_QUERY_MIGRATE:
    run_query(run);
    break;
  default:
    run_control(run, command);
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

/*
 * A crash took the only copy of the guest (docs/faults.md): the source died
 * before the destination had everything, or the destination died after it
 * ran the guest.  Then what must hold is that nobody runs a wrong copy: the
 * destination never ran a guest it did not fully receive, the source never
 * resumed behind a destination that ran (split brain).  True when so (the
 * run's other checks, which need a finished guest, do not apply).
 */
static bool crash_judge(struct run *run, const struct mig_precopy_stats *stats, bool completed)
{
  struct conform_run_result *result = run->result;
  bool live_dest = completed && !result->reverted; /* where the guest runs when all is well */
  if (stats->source_crashed && !live_dest) {
    result->guest_lost = true;
    if (run->dest != NULL && machine_running(run->dest)) {
      violation(run, "clean-failure", NULL, "the destination runs a guest it did not fully "
                "receive (the source crashed in %s)", mig_state_name(stats->status));
    }
    if (result->verdict != CONFORM_PASS) return true;
    snprintf(result->failure, sizeof(result->failure), "guest lost: the source crashed while "
             "it ran the guest (%s; %" PRIu64 " bytes sent)",
             result->reverted ? "after the revert" : "the destination did not have everything",
             stats->transferred_bytes);
    return true;
  }
  if (stats->dest_crashed && live_dest) {
    result->guest_lost = true;
    if (machine_running(run->source)) {
      violation(run, "clean-failure", NULL, "split brain: the source resumed although the "
                "destination had run the guest");
    }
    if (result->verdict != CONFORM_PASS) return true;
    snprintf(result->failure, sizeof(result->failure), "guest lost: the destination crashed "
             "after it ran the guest");
    return true;
  }
  return false;
}

/*
 * Liveness once faults heal: with a heal time and nothing terminal, the
 * migration must complete by heal_ns + liveness_ns.  A migration that
 * cannot converge for reasons of its own (a device refusing its save, a
 * cancel, a RAM block resized, an incompatible destination, a scenario
 * expecting failure) is exempt.
 */
static void liveness_judge(struct run *run, const struct mig_precopy_stats *stats,
                           bool completed)
{
  struct conform_run_result *result = run->result;
  const struct conform_plan *plan = &run->plan;
  if (run->faults == NULL || !plan->has_heal || conform_faults_summary(run->faults)->terminal ||
      result->verdict != CONFORM_PASS || stats == NULL) {
    return;
  }
  /* A device refusing its save, a cancel (the user's, or a RAM block resized): not the faults'. */
  bool own_reason = (stats->source_failed && (stats->error.code == MIG_ERR_HOOK ||
                                              stats->error.code == MIG_ERR_CANCELLED)) ||
                    run->scenario->destination_count > 0 ||
                    run->scenario->expect == CONFORM_EXPECT_FAILED ||
                    run->scenario->expect == CONFORM_EXPECT_CANCELLED;
  uint64_t bound_ns = plan->heal_ns + plan->liveness_ns;
  if (own_reason || (completed && stats->end_ns <= bound_ns)) return;
  result->verdict = CONFORM_LIVENESS;
  failure_locate(result, "liveness", NULL, NULL);
  snprintf(result->failure, sizeof(result->failure),
           "migration not completed within %" PRIu64 " ms of the faults healing at %" PRIu64
           " ms (status %s, %s at %" PRIu64 " ms, %" PRIu32 " failed attempt(s), %" PRIu64
           " waits for SWITCHOVER_ACK)", plan->liveness_ns / SIM_NS_PER_MS,
           plan->heal_ns / SIM_NS_PER_MS, mig_state_name(stats->status),
           completed ? "completed" : "still", (completed ? stats->end_ns : result->end_ns) /
           SIM_NS_PER_MS, result->failed_attempts_count, stats->ack_waits_count);
}

/* The checks every run ends with: invariants, legal transitions, a revert kept. */
static void run_checks(struct run *run)
{
  char why[512];
  if (!machine_invariants_check(run->source, why, sizeof(why))) {
    violation(run, "invariant", why, "invariant: %s", why);
  }
  if (run->state_error[0] != 0) {
    violation(run, "state-transition", NULL, "state transition: %s", run->state_error);
  }
  if (run->result->reverted && run->dest != NULL && machine_running(run->dest)) {
    violation(run, "clean-failure", NULL, "reverted to the source, yet the destination runs");
  }
}

/* The guest-visible result of the machine that ran last. */
static void run_final(struct run *run, struct machine *last)
{
  /* Across releases, read through the started-on release's tables (what the reference has). */
  conform_snapshot_take_as(&run->result->final, last, run->origin, true);
  run->result->guest_digest = conform_guest_digest_of(&run->result->final, last, run->origin);
}

/* After sim_run: liveness, and the figures of the machine that ran last. */
static void run_finish(struct run *run)
{
  struct conform_run_result *result = run->result;
  const struct mig_precopy_stats *stats =
      run->precopy != NULL ? mig_precopy_stats(run->precopy) : NULL;
  if (stats != NULL) result->stats = *stats;
  for (uint32_t i = 0; i < run->conn_links_count; i++) {
    const struct link_stats *link = link_stats(run->conn_links[i]);
    result->conn_packets_lost +=
        link->packets_lost + link->packets_burst_lost + link->packets_partitioned;
    result->conn_broken_count += link_broken(run->conn_links[i]);
  }
  if (run->attempt != NULL && run->attempt->plug != NULL) {
    result->plugged = true;
    mig_plug_stats(run->attempt->plug, &result->plug);
    result->stats.multifd_bytes = result->plug.multifd_bytes;
    result->stats.postcopy_blocktime_ms = result->plug.uffd.blocktime_ns / SIM_NS_PER_MS;
  }
  if (run->faults != NULL) result->faults_fired = *conform_faults_summary(run->faults);
  if (run->attempt != NULL) shm_clients_judge(run, run->attempt);
  bool completed = stats != NULL && stats->status == MIG_STATE_COMPLETED;
  bool refused = stats != NULL && (stats->source_failed || stats->dest_refused);
  bool cancelled = stats != NULL && stats->status == MIG_STATE_CANCELLED;
  struct machine *last = completed && !result->reverted ? run->dest : run->source;
  /* Injected faults change the story a scenario's "expect" was written for: not checked. */
  enum conform_expect expect_outcome = result->faults_fired.fired_count > 0
                                           ? CONFORM_EXPECT_ANY : run->scenario->expect;
  run_checks(run);
  if (stats != NULL && crash_judge(run, stats, completed)) {
    run_final(run, last);
    return;
  }
  liveness_judge(run, stats, completed); /* first: its message names the bound */
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
               "simulation went idle with the migration unfinished (status %s)",
               mig_state_name(stats->status));
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
      enum conform_expect expect = expect_outcome;
      if (expect == CONFORM_EXPECT_COMPLETED ||
          (expect == CONFORM_EXPECT_CANCELLED && !cancelled)) {
        result->verdict = CONFORM_ORACLE_VIOLATION;
        failure_locate(result, "expectation", NULL, &stats->error);
        snprintf(result->failure, sizeof(result->failure),
                 "expected the migration to %s; it ended %s: %s",
                 expect == CONFORM_EXPECT_COMPLETED ? "complete" : "be cancelled",
                 mig_state_name(stats->status), message);
      }
    } else if (stats != NULL && (expect_outcome == CONFORM_EXPECT_FAILED ||
                                 expect_outcome == CONFORM_EXPECT_CANCELLED)) {
      violation(run, "expectation", NULL, "expected the migration to %s; it completed",
                expect_outcome == CONFORM_EXPECT_FAILED ? "fail" : "be cancelled");
    } else if (stats == NULL && run->options->migrate_enabled &&
               expect_outcome != CONFORM_EXPECT_ANY) {
      violation(run, "expectation", NULL, "expected a migration to %s; none started",
                expect_outcome == CONFORM_EXPECT_COMPLETED ? "complete" : "fail");
    }
  }
  run_final(run, last);
}

/* The engine's records a run keeps figures from: rounds of the last migration. */
static void rounds_observe(struct conform_run_result *result,
                           const struct sim_trace_record *record)
{
  if (record->kind[0] != 'm' || record->kind[1] != 'i') return; /* "mig.*" only */
  if (strcmp(record->kind, "mig.start") == 0) {
    result->rounds_count = 0;
  } else if (strcmp(record->kind, "mig.round") == 0) {
    if (result->rounds_count < CONFORM_ROUNDS_MAX) {
      result->rounds[result->rounds_count] = (struct conform_round){
          record->time_ns, record->values[1], record->values[2], record->values[3]};
    }
    result->rounds_count++;
  }
}

/* The hash chain's part: a checkpoint every 2^shift records, and the kept window. */
static void chain_observe(struct conform_chain *chain, const struct sim *sim,
                          const struct sim_trace_record *record)
{
  uint64_t index = record->index;
  if (index < chain->from || index >= chain->to) return;
  if (index >= chain->keep_from && index < chain->keep_to) {
    SIM_ASSERT(chain->records_count == index - chain->keep_from);
    chain->records[chain->records_count++] = *record;
  }
  uint64_t position = index - chain->from + 1;
  if ((position & ((UINT64_C(1) << chain->shift) - 1)) != 0) return;
  if (chain->count == CHAIN_CHECKPOINTS) {
    /* Full: keep the odd ones (multiples of the doubled spacing) and go on at it. */
    for (uint32_t j = 0; j < CHAIN_CHECKPOINTS / 2; j++) {
      chain->digests[j] = chain->digests[2 * j + 1];
    }
    chain->count = CHAIN_CHECKPOINTS / 2;
    chain->shift++;
    if ((position & ((UINT64_C(1) << chain->shift) - 1)) != 0) return;
  }
  chain->digests[chain->count++] = sim_trace_digest(sim);
}

/* QMP's events from the engine's records: MIGRATION per status change, MIGRATION_PASS. */
static void events_observe(struct run *run, const struct sim_trace_record *record)
{
  if (record->kind[0] != 'm' || record->kind[1] != 'i') return; /* "mig.*" only */
  if (strcmp(record->kind, "mig.state") == 0) {
    timeline_add_detail(run, record->time_ns, "MIGRATION", record->values[0],
                        mig_state_name((enum mig_state)record->values[2]));
  } else if (strcmp(record->kind, "mig.pass") == 0) {
    timeline_add_detail(run, record->time_ns, "MIGRATION_PASS", record->values[0], NULL);
  }
}

/*
 * The transition checker: each side's "mig.state" records must chain (from
 * is where it was), be legal for that side (mig_state_legal), and outside
 * postcopy the source completes only after the destination has.  mig_state
 * asserts legality on the spot; this also catches a side whose stats say
 * one thing and whose machine another, or a plug-in bypassing it.
 */
static void states_observe(struct run *run, const struct sim_trace_record *record)
{
  if (run->state_error[0] != 0 || strcmp(record->kind, "mig.state") != 0) return;
  uint64_t side = record->values[0];
  enum mig_state from = (enum mig_state)record->values[1], to = (enum mig_state)record->values[2];
  if (side > MIG_SIDE_DEST || from >= MIG_STATE_COUNT || to >= MIG_STATE_COUNT) {
    snprintf(run->state_error, sizeof run->state_error, "record #%" PRIu64 " out of range",
             record->index);
    return;
  }
  const char *who = side == MIG_SIDE_SOURCE ? "source" : "destination";
  if (from == MIG_STATE_NONE) run->states[side] = MIG_STATE_NONE; /* a new attempt */
  if (from != run->states[side] || !mig_state_legal((enum mig_side)side, from, to)) {
    snprintf(run->state_error, sizeof run->state_error, "%s %s -> %s at %" PRIu64 " ns (it was "
             "in %s)", who, mig_state_name(from), mig_state_name(to), record->time_ns,
             mig_state_name(run->states[side]));
  } else if (side == MIG_SIDE_SOURCE && to == MIG_STATE_COMPLETED &&
             run->states[MIG_SIDE_DEST] != MIG_STATE_COMPLETED && !mig_state_postcopy(from)) {
    snprintf(run->state_error, sizeof run->state_error, "source completed at %" PRIu64 " ns "
             "while the destination was %s", record->time_ns,
             mig_state_name(run->states[MIG_SIDE_DEST]));
  }
  run->states[side] = to;
}

static void run_observe(void *context, const struct sim_trace_record *record)
{
  struct run *run = context;
  rounds_observe(run->result, record);
  if (run->options->migrate_enabled) events_observe(run, record);
  if (run->options->migrate_enabled) states_observe(run, record);
  if (run->options->chain != NULL) chain_observe(run->options->chain, run->sim, record);
  if (run->options->flight_log != NULL && run->source != NULL) {
    conform_flight_sample(run->options->flight_log, run->source, record->time_ns);
  }
}

#ifdef SIM_TEST_NONDETERMINISM
/*
 * The planted nondeterminism of the test-only build: every second migrated
 * run in the process (probes aside) gets one more event, which traces and
 * writes a guest byte, as a device that reads a global counter would.
 */
static uint64_t perturb_runs_count;
uint64_t conform_test_perturb_ns = CONFORM_TEST_PERTURB_NS;

static void on_perturb(struct sim *sim, struct sim_event *event)
{
  struct run *run = SIM_CONTAINER_OF(event, struct run, perturb_event);
  uint8_t byte = 0x5a;
  sim_trace(sim, "test.perturb", perturb_runs_count, 0, 0, 0);
  SIM_ASSERT(machine_dma_write(run->source, 0, &byte, 1));
}

static void perturb_arm(struct run *run)
{
  sim_event_init(&run->perturb_event, on_perturb, "test.perturb");
  if (!run->options->migrate_enabled || run->options->stop_at_switchover) return;
  if (++perturb_runs_count % 2 == 0) {
    sim_event_schedule_at(run->sim, &run->perturb_event, conform_test_perturb_ns);
  }
}
#endif

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
  struct run run = {.scenario = scenario, .options = options, .result = result};
  struct sim_options sim_options = {
      .seed = scenario->seed,
      .events_max = scenario->events_max,
      .time_ns_max = scenario->time_ns_max,
      .trace_text = options->trace_text,
      .trace_observer = run_observe,
      .trace_observer_context = &run,
  };
  if (options->migrate_enabled) conform_faults_swarm(scenario, &run.plan); /* the seed's plan */
  result->faults = run.plan;
  sim_options.buggify = run.plan.buggify; /* only migrated runs: the reference is the baseline */
  run.sim = sim_create(&sim_options);
  SIM_ASSERT(run.sim != NULL);
  result->seed = scenario->seed;
  mig_precopy_params_default(&run.params, scenario->section_pages_max); /* QEMU's defaults */
  run.params.quirk_serialize_iterate = scenario->quirk_serialize_iterate;
  if (run.plan.fault_count > 0 || run.plan.has_heal) {
    struct conform_faults_env env = {&run, fault_cancel, fault_resume_source, fault_disk_full};
    run.faults = conform_faults_create(run.sim, &run.plan, &env);
  }
  run.source = machine_create(run.sim, &scenario->machine, 0);
  run.origin = run.source;
  machine_boot(run.source);
  sim_event_init(&run.command_event, on_command, "scenario.command");
  sim_event_init(&run.retry_event, on_retry, "scenario.retry");
  sim_event_init(&run.continue_event, on_continue, "scenario.continue");
  if (scenario->command_count > 0) {
    sim_event_schedule_at(run.sim, &run.command_event, scenario->commands[0].at_ns);
  }
#ifdef SIM_TEST_NONDETERMINISM
  if (scenario->seed == CONFORM_TEST_CRASH_SEED) abort(); /* a sweep's CRASH, on purpose */
  perturb_arm(&run);
#endif
  result->run_result = run_sliced(&run);
  result->end_ns = sim_now_ns(run.sim);
  result->events_count = sim_events_count(run.sim);
  if (!options->stop_at_switchover) run_finish(&run);
  result->trace_digest = sim_trace_digest(run.sim);
  result->trace_count = sim_trace_count(run.sim);
  if (run.switchover_taken) conform_snapshot_deinit(&run.switchover);
  for (struct attempt *a = run.attempt; a != NULL; a = a->next) mig_plug_destroy(a->plug);
  conform_file_destroy(run.file);
  sim_destroy(run.sim);
}

void conform_run_result_deinit(struct conform_run_result *result)
{
  conform_snapshot_deinit(&result->final);
}

/* ------------------------------------------------------------ hash chain */


void conform_chain_init(struct conform_chain *chain, uint64_t from, uint64_t to, uint32_t shift,
                        uint64_t keep_from, uint64_t keep_to)
{
  SIM_ASSERT(from <= to && keep_from <= keep_to);
  SIM_ASSERT(keep_to - keep_from <= CHAIN_KEEP);
  *chain = (struct conform_chain){.from = from, .to = to, .shift = shift,
                                  .keep_from = keep_from, .keep_to = keep_to};
  chain->digests = malloc(CHAIN_CHECKPOINTS * sizeof(*chain->digests));
  chain->records = malloc(SIM_MAX(keep_to - keep_from, 1) * sizeof(*chain->records));
  SIM_ASSERT(chain->digests != NULL && chain->records != NULL);
}

void conform_chain_deinit(struct conform_chain *chain)
{
  free(chain->digests);
  free(chain->records);
  memset(chain, 0, sizeof(*chain));
}

/* The digest after record from + (k + 1) * 2^shift - 1, when chain took it. */
static bool chain_digest(const struct conform_chain *chain, uint32_t shift, uint64_t k,
                         uint64_t *digest)
{
  SIM_ASSERT(shift >= chain->shift && shift - chain->shift < 40);
  uint64_t j = ((k + 1) << (shift - chain->shift)) - 1;
  if (j >= chain->count) return false;
  *digest = chain->digests[j];
  return true;
}

/*
 * The first window [*from, *to) of records where two chains part: their
 * checkpoints agree up to *from, and the next one differs (or is missing,
 * then the window runs to the end of the longer trace).
 */
static void chain_window(const struct conform_chain *a, const struct conform_chain *b,
                         uint64_t end, uint64_t *from, uint64_t *to)
{
  SIM_ASSERT(a->from == b->from && a->to == b->to);
  uint32_t shift = SIM_MAX(a->shift, b->shift);
  uint64_t k = 0, digest_a = 0, digest_b = 0;
  bool both = false;
  while ((both = chain_digest(a, shift, k, &digest_a) && chain_digest(b, shift, k, &digest_b)) &&
         digest_a == digest_b) {
    k++;
  }
  *from = a->from + (k << shift);
  *to = SIM_MIN(end, a->to);
  if (both) *to = SIM_MIN(*to, *from + (UINT64_C(1) << shift));
  if (*to < *from) *to = *from;
}

static bool records_equal(const struct sim_trace_record *a, const struct sim_trace_record *b)
{
  return a->time_ns == b->time_ns && strcmp(a->kind, b->kind) == 0 &&
         memcmp(a->values, b->values, sizeof(a->values)) == 0;
}

/* The first kept record where two chains differ, into divergence; false if none. */
static bool chain_first_difference(const struct conform_chain *a, const struct conform_chain *b,
                                   struct conform_divergence *divergence)
{
  SIM_ASSERT(a->keep_from == b->keep_from);
  uint64_t count = SIM_MAX(a->records_count, b->records_count);
  for (uint64_t i = 0; i < count; i++) {
    const struct sim_trace_record *ra = i < a->records_count ? &a->records[i] : NULL;
    const struct sim_trace_record *rb = i < b->records_count ? &b->records[i] : NULL;
    if (ra != NULL && rb != NULL && records_equal(ra, rb)) continue;
    uint64_t index = a->keep_from + i;
    divergence->located = true;
    divergence->index = index;
    divergence->first = ra != NULL ? *ra : (struct sim_trace_record){.index = index};
    divergence->second = rb != NULL ? *rb : (struct sim_trace_record){.index = index};
    return true;
  }
  return false;
}

#define TWICE_RERUNS_MAX 8u /* pairs of runs to narrow the window: 4096^8 records */

/* Runs scenario once more under options with chain; returns its trace length. */
static uint64_t chain_run(const struct conform_scenario *scenario,
                          const struct conform_run_options *options, struct conform_chain *chain,
                          uint64_t *digest)
{
  struct conform_run_options chained = *options;
  chained.chain = chain;
  struct conform_run_result *result = malloc(sizeof(*result));
  SIM_ASSERT(result != NULL);
  conform_run(scenario, &chained, result);
  uint64_t count = result->trace_count;
  *digest = result->trace_digest;
  conform_run_result_deinit(result);
  free(result);
  return count;
}

/*
 * Two runs' traces differ: narrows the window where their chains part by
 * running both again with finer checkpoints inside it, until it is small
 * enough to keep its records, then names the first record that differs.  A
 * pair of re-runs that agree means the difference did not come back: the
 * window is all there is to say.
 */
static void twice_locate(const struct conform_scenario *scenario,
                         const struct conform_run_options *options, struct conform_chain *a,
                         struct conform_chain *b, uint64_t end,
                         struct conform_divergence *divergence)
{
  for (;;) {
    if (chain_first_difference(a, b, divergence)) return;
    uint64_t from, to;
    chain_window(a, b, end, &from, &to);
    divergence->window_from = from;
    divergence->window_to = to;
    if (to <= from || divergence->reruns_count == TWICE_RERUNS_MAX) return;
    uint32_t shift = 0;
    while (((to - from) >> shift) > CHAIN_CHECKPOINTS) shift++;
    bool keep = to - from <= CHAIN_KEEP;
    conform_chain_deinit(a);
    conform_chain_deinit(b);
    conform_chain_init(a, from, to, shift, keep ? from : 0, keep ? to : 0);
    conform_chain_init(b, from, to, shift, keep ? from : 0, keep ? to : 0);
    uint64_t digest_a, digest_b;
    uint64_t count_a = chain_run(scenario, options, a, &digest_a);
    uint64_t count_b = chain_run(scenario, options, b, &digest_b);
    divergence->reruns_count++;
    if (count_a == count_b && digest_a == digest_b) return;
    end = SIM_MAX(count_a, count_b);
  }
}

static void divergence_format(const struct conform_run_result *first, uint64_t second_digest,
                              char *out, size_t out_bytes)
{
  const struct conform_divergence *d = &first->divergence;
  int at = snprintf(out, out_bytes, "same seed, different trace digests 0x%016" PRIx64
                    " and 0x%016" PRIx64 "; ", first->trace_digest, second_digest);
  SIM_ASSERT(at > 0 && (size_t)at < out_bytes);
  if (!d->located) {
    snprintf(out + at, out_bytes - (size_t)at, "the runs part within records [%" PRIu64
             ", %" PRIu64 ") (checkpoints; re-runs did not show the difference again)",
             d->window_from, d->window_to);
    return;
  }
  const struct sim_trace_record *r[2] = {&d->first, &d->second};
  at += snprintf(out + at, out_bytes - (size_t)at, "first divergent record #%" PRIu64, d->index);
  for (int i = 0; i < 2 && (size_t)at < out_bytes; i++) {
    if (r[i]->kind == NULL) {
      at += snprintf(out + at, out_bytes - (size_t)at, "; run %d: trace ended", i + 1);
      continue;
    }
    at += snprintf(out + at, out_bytes - (size_t)at, "; run %d: %" PRIu64 " ns %s 0x%" PRIx64
                   " 0x%" PRIx64 " 0x%" PRIx64 " 0x%" PRIx64, i + 1, r[i]->time_ns, r[i]->kind,
                   r[i]->values[0], r[i]->values[1], r[i]->values[2], r[i]->values[3]);
  }
}

/*
 * --twice: runs scenario a second time (chain holds the first run's hash
 * chain) and, when the traces differ, makes the verdict NONDETERMINISM
 * naming the first divergent record.
 */
static void twice_check(const struct conform_scenario *scenario, struct conform_chain *chain,
                        struct conform_run_result *result)
{
  /* The first run's options but its outputs (trace text, capture, progress). */
  struct conform_run_options options = {.migrate_enabled = true};
  struct conform_chain second;
  conform_chain_init(&second, 0, UINT64_MAX, 0, 0, CHAIN_KEEP);
  uint64_t second_digest;
  uint64_t second_count = chain_run(scenario, &options, &second, &second_digest);
  struct conform_divergence *divergence = &result->divergence;
  divergence->diverged = second_digest != result->trace_digest ||
                         second_count != result->trace_count;
  if (divergence->diverged) {
    twice_locate(scenario, &options, chain, &second, SIM_MAX(result->trace_count, second_count),
                 divergence);
    result->verdict = CONFORM_NONDETERMINISM;
    divergence_format(result, second_digest, result->failure, sizeof(result->failure));
    char path[MIG_PATH_BYTES_MAX] = "";
    if (divergence->located) snprintf(path, sizeof path, "trace/#%" PRIu64, divergence->index);
    failure_locate(result, "determinism", path, NULL);
  }
  conform_chain_deinit(&second);
}

/* ------------------------------------------------------------ exploration */

/* The index of the scenario's first migrate command, or command_count. */
static uint32_t migrate_index(const struct conform_scenario *scenario)
{
  uint32_t index = 0;
  while (index < scenario->command_count &&
         scenario->commands[index].kind != CONFORM_COMMAND_MIGRATE) {
    index++;
  }
  return index;
}

/* Moves command index to at_ns and every later one by as much (the order is kept). */
static void commands_move(struct conform_scenario *scenario, uint32_t index, uint64_t at_ns)
{
  SIM_ASSERT(index < scenario->command_count);
  SIM_ASSERT(index == 0 || scenario->commands[index - 1].at_ns <= at_ns);
  uint64_t old_ns = scenario->commands[index].at_ns;
  for (uint32_t j = index; j < scenario->command_count; j++) {
    scenario->commands[j].at_ns = scenario->commands[j].at_ns - old_ns + at_ns;
  }
}

/* A probe: runs scenario until its source stops; false when it never does. */
static bool probe_stop(const struct conform_scenario *scenario, struct conform_cut *cut,
                       uint64_t *stop_ns, uint32_t *flight)
{
  struct conform_run_options options = {.migrate_enabled = true, .stop_at_switchover = true};
  struct conform_run_result *probe = malloc(sizeof(*probe));
  SIM_ASSERT(probe != NULL);
  conform_run(scenario, &options, probe);
  cut->probes_count++;
  bool stopped = probe->stats.stop_ns != 0; /* the source stopped (device or pre-switchover) */
  *stop_ns = probe->stats.stop_ns;
  *flight = probe->stop_flight;
  conform_run_result_deinit(probe);
  free(probe);
  return stopped;
}

#define EXPLORE_PROBES_MAX 8u /* the first measures the lead; the others aim */

static bool seen_in(const uint64_t *values, uint32_t count, uint64_t value)
{
  for (uint32_t i = 0; i < count; i++) {
    if (values[i] == value) return true;
  }
  return false;
}

/*
 * Aims moved's migrate command (index) so that the source stops with
 * cut->kind in flight: from the aim that cut->target_ns asks for, each probe
 * that misses moves it by the distance from its stop to the nearest interval
 * of the kind.  The lead jumps where a round ends a little earlier or later,
 * so an aim can come back: then the interval it sought is given up (a stop
 * cannot land inside that jump) and the nearest other one is sought.
 */
static void explore_aim(struct conform_scenario *moved, uint32_t index, uint64_t floor_ns,
                        uint64_t lead_ns, const struct conform_flight_log *log,
                        struct conform_cut *cut)
{
  uint64_t aims[EXPLORE_PROBES_MAX], given_up[EXPLORE_PROBES_MAX];
  uint32_t aim_count = 0, given_up_count = 0;
  uint64_t aim_ns = cut->target_ns - lead_ns;
  while (cut->probes_count < EXPLORE_PROBES_MAX) {
    commands_move(moved, index, aim_ns);
    aims[aim_count++] = aim_ns;
    uint64_t stop_ns, target_ns;
    uint32_t flight;
    if (!probe_stop(moved, cut, &stop_ns, &flight)) return;
    if ((flight & (UINT32_C(1) << cut->kind)) != 0) {
      cut->verified = true;
      return;
    }
    uint64_t earliest_ns = floor_ns + stop_ns - aim_ns;
    for (;;) {
      if (!conform_cut_nearest(log, cut->kind, stop_ns, earliest_ns, given_up, given_up_count,
                               &target_ns) ||
          target_ns == stop_ns || aim_ns + target_ns < floor_ns + stop_ns) {
        return;
      }
      if (!seen_in(aims, aim_count, aim_ns + target_ns - stop_ns)) break;
      given_up[given_up_count++] = target_ns;
      if (given_up_count == EXPLORE_PROBES_MAX) return;
    }
    cut->target_ns = target_ns;
    aim_ns = aim_ns + target_ns - stop_ns;
  }
  commands_move(moved, index, aim_ns); /* aimed, but no probe left to check it */
}

/*
 * Cut-point exploration (conform_explore.h): the scenario with its migrate
 * command moved so that the source stops at the seed's in-flight moment
 * (malloc'd), or NULL when there is no migrate command, no stop or nothing
 * in flight.  A probe at the scenario's time gives the lead from migrate to
 * stop; explore_aim's probes correct the aim.
 */
static struct conform_scenario *explore_cut(const struct conform_scenario *scenario,
                                            const struct conform_flight_log *log,
                                            struct conform_cut *cut)
{
  uint32_t index = migrate_index(scenario);
  uint64_t stop_ns;
  uint32_t flight;
  cut->kind = CONFORM_FLIGHT_KIND_COUNT;
  if (index == scenario->command_count || !probe_stop(scenario, cut, &stop_ns, &flight)) {
    return NULL;
  }
  uint64_t original_ns = scenario->commands[index].at_ns;
  uint64_t floor_ns = index > 0 ? scenario->commands[index - 1].at_ns : 0;
  SIM_ASSERT(stop_ns >= original_ns);
  uint64_t lead_ns = stop_ns - original_ns;
  cut->original_ns = original_ns;
  if (!conform_cut_choose(log, scenario->cut_points_count, scenario->seed, floor_ns + lead_ns,
                          &cut->kind, &cut->target_ns, &cut->candidates_count)) {
    return NULL;
  }
  struct conform_scenario *moved = malloc(sizeof(*moved));
  SIM_ASSERT(moved != NULL);
  *moved = *scenario;
  explore_aim(moved, index, floor_ns, lead_ns, log, cut);
  cut->explored = true;
  cut->migrate_ns = moved->commands[index].at_ns;
  return moved;
}

/* --------------------------------------------------------------- judgement */

void conform_check(const struct conform_scenario *scenario, bool twice, FILE *trace_text,
                   struct mig_membuf *capture, struct conform_run_result *result)
{
  struct conform_run_options options = {.trace_text = trace_text, .capture = capture};
  conform_check_with(scenario, twice, &options, result);
}

/* The reference run's verdict and the transparency oracle, applied to result. */
static void check_reference(const struct conform_run_result *reference,
                            struct conform_run_result *result)
{
  result->reference_guest_digest = reference->guest_digest;
  result->reference_trace_digest = reference->trace_digest;
  if (result->verdict == CONFORM_PASS && reference->verdict != CONFORM_PASS) {
    result->verdict = reference->verdict;
    snprintf(result->failure, sizeof(result->failure), "reference run: %.900s",
             reference->failure);
    result->failure_at = reference->failure_at;
    result->failure_at.oracle = "reference";
  }
  char failure[512] = "no field or page differs";
  bool same_state = conform_snapshot_diff(&reference->final, &result->final, failure,
                                          sizeof(failure));
  /*
   * A device that refused its save entered its error state, which the guest
   * saw; the reference never saved, so only the clean-failure checks of
   * run_finish apply to that run.
   */
  /* A cancel (a RAM block resized) changes nothing the guest sees: transparency applies. */
  bool refused = result->stats.source_failed && result->stats.error.code != MIG_ERR_CANCELLED;
  if (result->verdict == CONFORM_PASS && result->migrated && !refused && !result->guest_lost &&
      (result->guest_digest != reference->guest_digest || !same_state)) {
    result->verdict = CONFORM_ORACLE_VIOLATION;
    snprintf(result->failure, sizeof(result->failure),
             "transparency: guest digest 0x%016" PRIx64 " after migration, 0x%016" PRIx64
             " unmigrated; first difference (source = unmigrated): %s", result->guest_digest,
             reference->guest_digest, failure);
    char path[MIG_PATH_BYTES_MAX];
    conform_failure_path(failure, path, sizeof path);
    failure_locate(result, "transparency", path, NULL);
  }
}

void conform_check_with(const struct conform_scenario *scenario, bool twice,
                        const struct conform_run_options *given,
                        struct conform_run_result *result)
{
  struct conform_run_options options = *given;
  options.migrate_enabled = true;
  options.stop_at_switchover = false;
  options.flight_log = NULL;
  struct conform_run_options reference_options = {.migrate_enabled = false,
                                                  .progress = options.progress,
                                                  .progress_context = options.progress_context};
  struct conform_run_result *reference = malloc(sizeof(*reference));
  SIM_ASSERT(reference != NULL);
  struct conform_scenario *moved = NULL;
  struct conform_cut cut = {.kind = CONFORM_FLIGHT_KIND_COUNT};
  if (scenario->cut_points_count > 0) {
    /* The reference does not migrate, so the moved scenario's is the same run. */
    reference_options.flight_log = calloc(1, sizeof(*reference_options.flight_log));
    SIM_ASSERT(reference_options.flight_log != NULL);
    conform_run(scenario, &reference_options, reference);
    moved = explore_cut(scenario, reference_options.flight_log, &cut);
    free(reference_options.flight_log);
  }
  const struct conform_scenario *migrated = moved != NULL ? moved : scenario;
  struct conform_chain chain;
  if (twice) conform_chain_init(&chain, 0, UINT64_MAX, 0, 0, CHAIN_KEEP);
  options.chain = twice ? &chain : NULL;
  conform_run(migrated, &options, result);
  result->cut = cut;
  if (scenario->cut_points_count == 0) conform_run(scenario, &reference_options, reference);
  check_reference(reference, result);
  conform_run_result_deinit(reference);
  free(reference);
  if (twice) {
    twice_check(migrated, &chain, result);
    conform_chain_deinit(&chain);
  }
  free(moved);
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
