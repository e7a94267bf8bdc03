/*
 * conform_report.c: summary and JSON report (overview in conform_report.h).
 * QMP reports times in milliseconds; the report does too, beside the exact
 * nanosecond figures.
 */
#include "sim_base.h"

#include "conform_report.h"

#include <jansson.h>

/* QMP's rates (kept as integer fractions by the engine): part / whole, 0 when whole is 0. */
static double rate_of(uint64_t part, uint64_t whole)
{
  return whole == 0 ? 0.0 : (double)part / (double)whole;
}

static void set_u64(json_t *object, const char *key, uint64_t value)
{
  json_object_set_new(object, key, json_integer((json_int_t)value));
}

static const char *status_name(enum mig_state status) { return mig_state_name(status); }

/* Blackout: source stop to destination resume; 0 unless the destination runs. */
static uint64_t downtime_ns(const struct mig_precopy_stats *stats)
{
  /* Postcopy: the guest runs again when the destination starts (POSTCOPY_RUN). */
  if (stats->postcopy_run_ns != 0 && stats->status == MIG_STATE_COMPLETED) {
    return stats->postcopy_run_ns - SIM_MIN(stats->postcopy_run_ns, stats->stop_ns);
  }
  return stats->status == MIG_STATE_COMPLETED && stats->end_ns >= stats->stop_ns
             ? stats->end_ns - stats->stop_ns
             : 0;
}

/* total-time: to the end, or (still running when the run stopped) to the run's end. */
static uint64_t total_ns(const struct mig_precopy_stats *stats, uint64_t run_end_ns)
{
  uint64_t end_ns = stats->end_ns != 0 ? stats->end_ns : run_end_ns;
  return end_ns >= stats->start_ns ? end_ns - stats->start_ns : 0;
}

/* Exploration's line: what the stop was aimed at, where the migrate command went. */
static void report_cut_summary(FILE *out, const struct conform_run_result *result)
{
  const struct conform_cut *cut = &result->cut;
  char flight[128];
  conform_flight_format(result->stop_flight, flight, sizeof flight);
  if (!cut->explored) {
    fprintf(out, "  cut point       migrate not moved (no stop, or nothing in flight); at the "
            "stop: %s\n", flight);
    return;
  }
  fprintf(out, "  cut point       %s at %.6f ms, 1 of %" PRIu32 "; migrate moved %.6f -> %.6f"
          " ms (%" PRIu32 " probes); at the stop: %s\n", conform_flight_name(cut->kind),
          (double)cut->target_ns / 1e6, cut->candidates_count, (double)cut->original_ns / 1e6,
          (double)cut->migrate_ns / 1e6, cut->probes_count, flight);
}

/* The fault plan a run used: one line per fault, and what fired. */
static void report_faults_summary(FILE *out, const struct conform_run_result *result)
{
  const struct conform_plan *plan = &result->faults;
  if (plan->fault_count == 0 && !plan->buggify && !plan->has_heal) return;
  fprintf(out, "  faults          %" PRIu32 " of %" PRIu32 " fired%s",
          result->faults_fired.fired_count, plan->fault_count,
          plan->buggify ? ", buggify on" : "");
  if (plan->has_heal) {
    fprintf(out, ", healed at %.3f ms, bound %.3f ms after", (double)plan->heal_ns / 1e6,
            (double)plan->liveness_ns / 1e6);
  }
  fputc('\n', out);
  for (uint32_t i = 0; i < plan->fault_count; i++) {
    char line[256];
    conform_plan_fault_describe(&plan->faults[i], line, sizeof line);
    bool fired = (result->faults_fired.fired_mask >> i & 1) != 0;
    fprintf(out, "    %s %s\n", fired ? "fired  " : "unfired", line);
  }
}

void conform_report_summary(FILE *out, const struct conform_scenario *scenario,
                            const struct conform_run_result *result, const char *repro)
{
  const struct mig_precopy_stats *stats = &result->stats;
  fprintf(out, "migsim: %s\n", conform_verdict_name(result->verdict));
  if (result->failure[0] != 0) fprintf(out, "  failure         %s\n", result->failure);
  const struct conform_failure *at = &result->failure_at;
  if (at->oracle != NULL) {
    fprintf(out, "  oracle          %s%s%s", at->oracle, at->path[0] != 0 ? ", at " : "",
            at->path);
    if (at->has_offset) fprintf(out, ", stream offset 0x%" PRIx64, at->offset);
    fputc('\n', out);
  }
  fprintf(out, "  scenario        %s\n", scenario->name);
  fprintf(out, "  seed            %" PRIu64 "\n", result->seed);
  fprintf(out, "  simulated time  %.6f s\n", (double)result->end_ns / 1e9);
  if (result->migrated) {
    fprintf(out, "  migration       %s, total %.3f ms%s\n", status_name(stats->status),
            (double)total_ns(stats, result->end_ns) / 1e6,
            stats->end_ns == 0 ? " (unfinished when the run ended)" : "");
    fprintf(out, "  downtime        %.3f ms\n", (double)downtime_ns(stats) / 1e6);
    fprintf(out, "  bytes sent      %" PRIu64 " (%.2f MiB)\n", stats->transferred_bytes,
            (double)stats->transferred_bytes / 1048576.0);
    fprintf(out, "  rounds          %" PRIu64 " (dirty syncs %" PRIu64 ", pages %" PRIu64
            " normal + %" PRIu64 " zero)\n", stats->rounds_count, stats->dirty_sync_count,
            stats->normal_pages_count, stats->zero_pages_count);
    if (stats->device_bytes > 0 || stats->switchover_ack_ns > 0) {
      /* vfio devices only (docs/vfiodev.md); other runs print what they always did. */
      fprintf(out, "  device data     %" PRIu64 " bytes, %" PRIu64 " pending at stop\n",
              stats->device_bytes, stats->device_pending_bytes_at_stop);
    }
    if (stats->released_pages_count > 0) {
      fprintf(out, "  release-ram     %" PRIu64 " source pages given back in postcopy\n",
              stats->released_pages_count);
    }
    if (stats->xbzrle_on) {
      const struct mig_xbzrle_stats *x = &stats->xbzrle;
      fprintf(out, "  xbzrle          %" PRIu64 " pages encoded, %" PRIu64 " unchanged, %" PRIu64
              " cache misses, %" PRIu64 " overflows; %" PRIu64 " bytes saved\n",
              x->encoded_count, x->skipped_count, x->cache_miss_count, x->overflow_count,
              x->saved_bytes);
    }
    if (stats->compress_on) {
      const struct mig_compress_stats *c = &stats->compress;
      fprintf(out, "  compression     %" PRIu64 " pages in %" PRIu64 " bytes (%.2f:1), %" PRIu64
              " busy, %.3f ms waiting for a thread\n", c->pages, c->compressed_bytes,
              rate_of(c->pages * RAM_PAGE_BYTES, c->compressed_bytes), c->busy_count,
              (double)c->waited_ns / 1e6);
    }
    if (stats->switchover_ack_ns > 0) {
      fprintf(out, "  switchover-ack  at %.3f ms, source waited %" PRIu64 " times\n",
              (double)(stats->switchover_ack_ns - stats->start_ns) / 1e6,
              stats->ack_waits_count);
    }
  } else {
    fprintf(out, "  migration       none\n");
  }
  if (result->cut.explored || result->cut.probes_count > 0) report_cut_summary(out, result);
  report_faults_summary(out, result);
  fprintf(out, "  events          %" PRIu64 "\n", result->events_count);
  fprintf(out, "  guest digest    0x%016" PRIx64 "\n", result->guest_digest);
  fprintf(out, "  trace digest    0x%016" PRIx64 "\n", result->trace_digest);
  fprintf(out, "  reproduce       %s\n", repro);
}

static json_t *report_ram(const struct mig_precopy_stats *stats, uint64_t total_bytes,
                          uint64_t time_ns)
{
  json_t *ram = json_object();
  double seconds = (double)time_ns / 1e9;
  uint64_t pages = stats->normal_pages_count + stats->zero_pages_count;
  /* QEMU's transferred counts the multifd channels' bytes too (multifd-bytes is a part). */
  uint64_t transferred = stats->transferred_bytes + stats->multifd_bytes;
  json_object_set_new(ram, "transferred", json_integer((json_int_t)transferred));
  json_object_set_new(ram, "remaining", json_integer((json_int_t)stats->remaining_bytes));
  json_object_set_new(ram, "total", json_integer((json_int_t)total_bytes));
  json_object_set_new(ram, "duplicate", json_integer((json_int_t)stats->zero_pages_count));
  json_object_set_new(ram, "normal", json_integer((json_int_t)stats->normal_pages_count));
  json_object_set_new(ram, "normal-bytes",
                      json_integer((json_int_t)(stats->normal_pages_count * RAM_PAGE_BYTES)));
  json_object_set_new(ram, "dirty-pages-rate", json_integer((json_int_t)stats->dirty_pages_rate));
  json_object_set_new(ram, "dirty-sync-count",
                      json_integer((json_int_t)stats->dirty_sync_count));
  json_object_set_new(ram, "page-size", json_integer(RAM_PAGE_BYTES));
  json_object_set_new(ram, "multifd-bytes", json_integer((json_int_t)stats->multifd_bytes));
  json_object_set_new(ram, "postcopy-requests",
                      json_integer((json_int_t)stats->postcopy_requests));
  if (stats->released_pages_count > 0) set_u64(ram, "x-released-pages",
                                               stats->released_pages_count);
  json_object_set_new(ram, "pages-per-second",
                      json_integer(seconds > 0 ? (json_int_t)((double)pages / seconds) : 0));
  json_object_set_new(ram, "mbps",
                      json_real(seconds > 0 ? (double)transferred * 8 / 1e6 / seconds : 0));
  return ram;
}

/* The destination's shared-memory clients (models/shmclient.h). */
static void report_shm_clients(json_t *migrate, const struct conform_run_result *result)
{
  json_t *clients = json_array();
  for (uint32_t i = 0; i < result->shm_client_count; i++) {
    const struct shmclient_stats *stats = &result->shm_clients[i];
    json_t *x = json_object();
    set_u64(x, "reads", stats->reads_count);
    set_u64(x, "faults", stats->faults_count);
    set_u64(x, "blocked-ns", stats->blocked_ns);
    set_u64(x, "stale-reads", stats->stale_reads_count);
    json_array_append_new(clients, x);
  }
  json_object_set_new(migrate, "x-shm-clients", clients);
}

/* QMP's postcopy-vcpu-blocktime (ms per vCPU) and migsim's postcopy and multifd counters. */
static void report_plug(json_t *migrate, const struct mig_plug_stats *plug, bool postcopy)
{
  if (postcopy) {
    json_t *vcpus = json_array();
    for (uint32_t i = 0; i < plug->vcpu_count; i++) {
      json_array_append_new(vcpus, json_integer(
          (json_int_t)(plug->uffd.vcpu_blocktime_ns[i] / SIM_NS_PER_MS)));
    }
    json_object_set_new(migrate, "postcopy-vcpu-blocktime", vcpus);
    json_t *x = json_object();
    set_u64(x, "blocktime-ns", plug->uffd.blocktime_ns);
    set_u64(x, "faults", plug->uffd.faults_count);
    set_u64(x, "client-faults", plug->uffd.client_faults_count);
    set_u64(x, "client-blocktime-ns", plug->uffd.client_blocktime_ns);
    set_u64(x, "discard-ranges", plug->postcopy_source.discard_ranges_count);
    set_u64(x, "discard-pages", plug->postcopy_source.discard_pages_count);
    set_u64(x, "package-bytes", plug->postcopy_source.package_bytes);
    set_u64(x, "requests-ignored", plug->postcopy_source.requests_ignored_count);
    set_u64(x, "urgent-pages", plug->postcopy_source.urgent_pages_count);
    set_u64(x, "background-pages", plug->postcopy_source.background_pages_count);
    set_u64(x, "postcopy-pages", plug->postcopy_dest.postcopy_pages_count);
    set_u64(x, "requests-sent", plug->postcopy_dest.requests_count);
    set_u64(x, "rerequests", plug->postcopy_dest.rerequests_count);
    set_u64(x, "pauses", plug->postcopy_dest.pauses_count);
    set_u64(x, "recoveries", plug->recoveries_count);
    set_u64(x, "resent-pages", plug->postcopy_source.resent_pages_count);
    set_u64(x, "preempt-bytes", plug->preempt_bytes);
    json_object_set_new(migrate, "x-postcopy", x);
  }
  if (plug->multifd_send.packets_count + plug->multifd_send.sync_packets_count == 0) return;
  json_t *m = json_object();
  set_u64(m, "packets", plug->multifd_send.packets_count);
  set_u64(m, "sync-packets", plug->multifd_send.sync_packets_count);
  set_u64(m, "normal-pages", plug->multifd_send.normal_pages_count);
  set_u64(m, "zero-pages", plug->multifd_send.zero_pages_count);
  set_u64(m, "payload-bytes", plug->multifd_send.payload_bytes);
  set_u64(m, "received-packets", plug->multifd_recv.packets_count);
  set_u64(m, "received-pages",
          plug->multifd_recv.normal_pages_count + plug->multifd_recv.zero_pages_count);
  json_object_set_new(migrate, "x-multifd", m);
}

/* query-migrate's xbzrle-cache and compression (QEMU 7.2's names), each with its capability. */
static void report_encodings(json_t *migrate, const struct mig_precopy_stats *stats)
{
  if (stats->xbzrle_on) {
    const struct mig_xbzrle_stats *x = &stats->xbzrle;
    json_t *cache = json_object();
    set_u64(cache, "cache-size", x->cache_bytes);
    set_u64(cache, "bytes", x->bytes);
    set_u64(cache, "pages", x->pages);
    set_u64(cache, "cache-miss", x->cache_miss_count);
    json_object_set_new(cache, "cache-miss-rate",
                        json_real(rate_of(x->miss_rate_numerator, x->miss_rate_denominator)));
    json_object_set_new(cache, "encoding-rate", json_real(rate_of(
                            x->encoding_rate_numerator, x->encoding_rate_denominator)));
    set_u64(cache, "overflow", x->overflow_count);
    set_u64(cache, "x-encoded-pages", x->encoded_count);
    set_u64(cache, "x-skipped-pages", x->skipped_count);
    set_u64(cache, "x-saved-bytes", x->saved_bytes);
    json_object_set_new(migrate, "xbzrle-cache", cache);
  }
  if (stats->compress_on) {
    const struct mig_compress_stats *c = &stats->compress;
    json_t *compression = json_object();
    set_u64(compression, "pages", c->pages);
    set_u64(compression, "busy", c->busy_count);
    json_object_set_new(compression, "busy-rate",
                        json_real(rate_of(c->busy_rate_numerator, c->busy_rate_denominator)));
    set_u64(compression, "compressed-size", c->compressed_bytes);
    json_object_set_new(compression, "compression-rate", json_real(rate_of(
                            c->compression_rate_numerator, c->compression_rate_denominator)));
    set_u64(compression, "x-waited-ns", c->waited_ns);
    json_object_set_new(migrate, "compression", compression);
  }
}

static json_t *report_migrate(const struct conform_scenario *scenario,
                              const struct conform_run_result *result)
{
  const struct mig_precopy_stats *stats = &result->stats;
  json_t *migrate = json_object();
  uint64_t total_bytes = 0;
  for (uint32_t i = 0; i < scenario->machine.ram_count; i++) {
    total_bytes += scenario->machine.ram[i].bytes;
  }
  uint64_t time_ns = total_ns(stats, result->end_ns);
  json_object_set_new(migrate, "status", json_string(status_name(stats->status)));
  json_object_set_new(migrate, "total-time", json_integer((json_int_t)(time_ns / 1000000)));
  json_object_set_new(migrate, "downtime",
                      json_integer((json_int_t)(downtime_ns(stats) / 1000000)));
  json_object_set_new(migrate, "expected-downtime",
                      json_integer((json_int_t)(stats->expected_downtime_ns / 1000000)));
  json_object_set_new(migrate, "setup-time", json_integer(
      (json_int_t)((stats->setup_end_ns - SIM_MIN(stats->setup_end_ns, stats->start_ns)) /
                   1000000)));
  json_object_set_new(migrate, "cpu-throttle-percentage",
                      json_integer((json_int_t)stats->cpu_throttle_percentage));
  json_object_set_new(migrate, "ram", report_ram(stats, total_bytes, time_ns));
  if (stats->device_bytes > 0) {
    json_t *vfio = json_object();
    json_object_set_new(vfio, "transferred", json_integer((json_int_t)stats->device_bytes));
    json_object_set_new(migrate, "vfio", vfio);
  }
  if (stats->postcopy_start_ns != 0) {
    json_object_set_new(migrate, "postcopy-blocktime",
                        json_integer((json_int_t)stats->postcopy_blocktime_ms));
  }
  if (result->plugged) report_plug(migrate, &result->plug, stats->postcopy_start_ns != 0);
  if (result->shm_client_count > 0) report_shm_clients(migrate, result);
  report_encodings(migrate, stats);
  if (stats->error.code != MIG_OK) {
    char message[512];
    mig_error_format(&stats->error, message, sizeof(message));
    json_object_set_new(migrate, "error-desc", json_string(message));
  }
  json_object_set_new(migrate, "x-destination-status",
                      json_string(status_name(stats->dest_status)));
  json_object_set_new(migrate, "x-total-time-ns", json_integer((json_int_t)time_ns));
  json_object_set_new(migrate, "x-downtime-ns", json_integer((json_int_t)downtime_ns(stats)));
  json_object_set_new(migrate, "x-rounds", json_integer((json_int_t)stats->rounds_count));
  json_object_set_new(migrate, "x-threshold-bytes",
                      json_integer((json_int_t)stats->threshold_bytes));
  json_object_set_new(migrate, "x-bandwidth-bytes-per-s",
                      json_integer((json_int_t)stats->bandwidth_bytes_per_s));
  if (stats->device_bytes > 0) {
    json_object_set_new(migrate, "x-vfio-bytes", json_integer((json_int_t)stats->device_bytes));
  }
  if (stats->switchover_ack_ns > 0) {
    json_object_set_new(migrate, "x-switchover-ack-ns",
                        json_integer((json_int_t)(stats->switchover_ack_ns - stats->start_ns)));
  }
  return migrate;
}

/* The last migration's rounds: when each ended and what its dirty-log sync found. */
static json_t *report_rounds(const struct conform_run_result *result)
{
  json_t *rounds = json_array();
  uint32_t kept = SIM_MIN(result->rounds_count, (uint32_t)CONFORM_ROUNDS_MAX);
  for (uint32_t i = 0; i < kept; i++) {
    const struct conform_round *round = &result->rounds[i];
    json_t *entry = json_object();
    json_object_set_new(entry, "round", json_integer(i + 1));
    json_object_set_new(entry, "time_ns", json_integer((json_int_t)round->time_ns));
    json_object_set_new(entry, "dirty_pages", json_integer((json_int_t)(
        (round->pending_bytes + RAM_PAGE_BYTES - 1) / RAM_PAGE_BYTES)));
    json_object_set_new(entry, "pending_bytes", json_integer((json_int_t)round->pending_bytes));
    json_object_set_new(entry, "threshold_bytes",
                        json_integer((json_int_t)round->threshold_bytes));
    json_object_set_new(entry, "transferred_bytes",
                        json_integer((json_int_t)round->transferred_bytes));
    json_array_append_new(rounds, entry);
  }
  return rounds;
}

/* null without exploration; else where the migration was cut and what was in flight. */
static json_t *report_cut(const struct conform_run_result *result)
{
  const struct conform_cut *cut = &result->cut;
  if (!cut->explored && cut->probes_count == 0) return json_null();
  json_t *out = json_object();
  json_object_set_new(out, "explored", json_boolean(cut->explored));
  json_object_set_new(out, "kind", json_string(conform_flight_name(cut->kind)));
  json_object_set_new(out, "candidates", json_integer(cut->candidates_count));
  json_object_set_new(out, "target_ns", json_integer((json_int_t)cut->target_ns));
  json_object_set_new(out, "migrate_ns", json_integer((json_int_t)cut->migrate_ns));
  json_object_set_new(out, "original_ns", json_integer((json_int_t)cut->original_ns));
  json_object_set_new(out, "probes", json_integer(cut->probes_count));
  return out;
}

static json_t *report_stop_flight(const struct conform_run_result *result)
{
  if (!result->migrated) return json_null();
  char flight[128];
  conform_flight_format(result->stop_flight, flight, sizeof flight);
  return json_string(flight);
}

/* null on a pass; else {oracle, path, offset, message} (offset null without a stream error). */
static json_t *report_failure(const struct conform_run_result *result)
{
  if (result->failure[0] == 0) return json_null();
  const struct conform_failure *at = &result->failure_at;
  json_t *failure = json_object();
  json_object_set_new(failure, "oracle", at->oracle != NULL ? json_string(at->oracle)
                                                           : json_null());
  json_object_set_new(failure, "path", json_string(at->path));
  json_object_set_new(failure, "offset", at->has_offset ? json_integer((json_int_t)at->offset)
                                                        : json_null());
  json_object_set_new(failure, "message", json_string(result->failure));
  return failure;
}

/* What the single-run report and a sweep's entries share. */
/* "faults": each fault of the run's plan, as a line and as the scenario writes it. */
static json_t *report_faults(const struct conform_run_result *result)
{
  json_t *faults = json_array();
  json_t *plan = conform_plan_scenario_json(&result->faults);
  for (uint32_t i = 0; i < result->faults.fault_count; i++) {
    char line[256];
    conform_plan_fault_describe(&result->faults.faults[i], line, sizeof line);
    json_t *entry = json_object();
    bool fired = (result->faults_fired.fired_mask >> i & 1) != 0;
    json_t *as_written = json_array_get(json_object_get(plan, "plan"), i);
    json_object_set_new(entry, "kind",
                        json_string(conform_plan_kind_name(result->faults.faults[i].kind)));
    json_object_set_new(entry, "fault", json_string(line));
    json_object_set_new(entry, "fired", json_boolean(fired));
    json_object_set_new(entry, "plan", json_incref(as_written));
    json_array_append_new(faults, entry);
  }
  json_decref(plan);
  return faults;
}

/* The command that shrinks a failing seed into a regression file (conform_shrink.h). */
static json_t *report_shrink(const struct conform_scenario *scenario,
                             const struct conform_run_result *result)
{
  if (result->verdict == CONFORM_PASS || result->verdict == CONFORM_BAD_INPUT) return json_null();
  char command[768];
  snprintf(command, sizeof command, "migsim shrink %s --seed %" PRIu64 "%s"
           " --out conformance/regress/seed-%" PRIu64 ".json", scenario->name, result->seed,
           scenario->faults.swarm ? " --swarm" : "", result->seed);
  return json_string(command);
}

static void report_common(json_t *root, const struct conform_scenario *scenario,
                          const struct conform_run_result *result)
{
  char digest[24];
  json_object_set_new(root, "seed", json_integer((json_int_t)result->seed));
  snprintf(digest, sizeof(digest), "0x%016" PRIx64, result->trace_digest);
  json_object_set_new(root, "trace_digest", json_string(digest));
  snprintf(digest, sizeof(digest), "0x%016" PRIx64, result->guest_digest);
  json_object_set_new(root, "guest_digest", json_string(digest));
  json_object_set_new(root, "simulated_ns", json_integer((json_int_t)result->end_ns));
  json_object_set_new(root, "events", json_integer((json_int_t)result->events_count));
  json_object_set_new(root, "query-migrate", result->migrated
                                                 ? report_migrate(scenario, result)
                                                 : json_null());
  json_object_set_new(root, "rounds", report_rounds(result));
  json_object_set_new(root, "stop_flight", report_stop_flight(result));
  json_object_set_new(root, "cut", report_cut(result));
}

json_t *conform_report_seed_json(const struct conform_scenario *scenario,
                                 const struct conform_run_result *result, const char *repro)
{
  json_t *root = json_object();
  json_object_set_new(root, "seed", json_integer((json_int_t)result->seed));
  json_object_set_new(root, "verdict", json_string(conform_verdict_name(result->verdict)));
  json_object_set_new(root, "exit_code", json_integer(result->verdict));
  json_object_set_new(root, "failure", report_failure(result));
  report_common(root, scenario, result);
  json_object_set_new(root, "faults", report_faults(result));
  json_object_set_new(root, "reproduce", json_string(repro));
  json_object_set_new(root, "shrink", report_shrink(scenario, result));
  return root;
}

bool conform_report_write(const char *path, const struct conform_scenario *scenario,
                          const struct conform_run_result *result, const char *repro)
{
  char digest[24];
  json_t *root = json_object();
  json_object_set_new(root, "verdict", json_string(conform_verdict_name(result->verdict)));
  json_object_set_new(root, "exit_code", json_integer(result->verdict));
  json_object_set_new(root, "failure", report_failure(result));
  json_object_set_new(root, "tool", json_string(CONFORM_TOOL_VERSION));
  json_object_set_new(root, "scenario", json_string(scenario->name));
  snprintf(digest, sizeof(digest), "0x%016" PRIx64, scenario->text_xxh3);
  json_object_set_new(root, "scenario_xxh3", json_string(digest));
  report_common(root, scenario, result);
  json_t *timeline = json_array();
  for (uint32_t i = 0; i < result->timeline_count; i++) {
    json_t *entry = json_object();
    json_object_set_new(entry, "time_ns", json_integer((json_int_t)result->timeline[i].time_ns));
    json_object_set_new(entry, "event", json_string(result->timeline[i].what));
    json_object_set_new(entry, "value", json_integer((json_int_t)result->timeline[i].value));
    if (result->timeline[i].detail != NULL) {
      json_object_set_new(entry, "detail", json_string(result->timeline[i].detail));
    }
    json_array_append_new(timeline, entry);
  }
  json_object_set_new(root, "timeline", timeline);
  json_object_set_new(root, "faults", report_faults(result));
  json_object_set_new(root, "reproduce", json_string(repro));
  json_object_set_new(root, "shrink", report_shrink(scenario, result));
  int rc = json_dump_file(root, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  json_decref(root);
  return rc == 0;
}
