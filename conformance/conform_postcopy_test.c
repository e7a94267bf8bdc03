/*
 * conform_postcopy_test.c: whole runs of the postcopy and multifd catalog
 * scenarios (issue 10 items 6, 7, 11): each passes every oracle and --twice;
 * the figures show what each feature did (pages requested and served first,
 * per-vCPU blocktime, the preempt channel's bytes, a recovery's resent pages,
 * multifd's bytes off the main channel); the exactly-once checker runs on
 * MIGSIM_PROPERTY_SEEDS seeds of every postcopy scenario.
 */
#include "sim_base.h"

#include "conform_run.h"
#include "conform_scenario.h"
#include "sim_check.h"

static void load(const char *name, struct conform_scenario *scenario)
{
  char path[256], error[CONFORM_ERROR_BYTES];
  snprintf(path, sizeof(path), "conformance/scenarios/%s.json", name);
  ck_assert_msg(conform_scenario_load(path, scenario, error, sizeof(error)), "%s", error);
}

/* Runs name with --twice; PASS required; the result stays for the caller's checks. */
static void check_pass(const char *name, struct conform_scenario *scenario,
                       struct conform_run_result *result)
{
  load(name, scenario);
  conform_check(scenario, true, NULL, NULL, result);
  ck_assert_msg(result->verdict == CONFORM_PASS, "%s: %s: %s", name,
                conform_verdict_name(result->verdict), result->failure);
  ck_assert_int_eq(result->stats.status, MIG_STATE_COMPLETED);
  ck_assert(result->plugged);
}

static uint32_t timeline_count(const struct conform_run_result *result, const char *what)
{
  uint32_t count = 0;
  for (uint32_t i = 0; i < result->timeline_count; i++) {
    count += strcmp(result->timeline[i].what, what) == 0;
  }
  return count;
}

/*
 * Goal: postcopy after precopy discards what precopy left, runs the guest at
 * RUN, and every discarded page comes exactly once, requested ones first;
 * method: the catalog run and its postcopy counters.
 */
START_TEST(conform_postcopy_after_precopy)
{
  static struct conform_scenario scenario;
  static struct conform_run_result result;
  check_pass("postcopy-after-precopy", &scenario, &result);
  const struct mig_plug_stats *plug = &result.plug;
  ck_assert_uint_gt(plug->postcopy_source.discard_pages_count, 0);
  ck_assert_uint_eq(plug->postcopy_dest.postcopy_pages_count,
                    plug->postcopy_source.discard_pages_count);
  ck_assert_uint_gt(plug->postcopy_source.urgent_pages_count, 0);
  ck_assert_uint_gt(result.stats.postcopy_requests, 0);
  /* Requests still in flight when the last page left are never read: at most as many. */
  ck_assert_uint_le(plug->postcopy_source.requests_count, plug->postcopy_dest.requests_count);
  ck_assert_uint_le(result.stats.postcopy_requests, plug->postcopy_source.requests_count);
  /* Overall blocktime (every vCPU at once) is at most any one vCPU's. */
  ck_assert_uint_eq(plug->vcpu_count, 2);
  ck_assert_uint_gt(plug->uffd.blocktime_ns, 0);
  for (uint32_t i = 0; i < plug->vcpu_count; i++) {
    ck_assert_uint_ge(plug->uffd.vcpu_blocktime_ns[i], plug->uffd.blocktime_ns);
  }
  ck_assert_uint_eq(result.stats.postcopy_blocktime_ms, plug->uffd.blocktime_ns / SIM_NS_PER_MS);
  ck_assert_uint_ge(result.stats.postcopy_run_ns, result.stats.stop_ns);
  ck_assert_uint_eq(timeline_count(&result, "postcopy-run"), 1);
  conform_run_result_deinit(&result);
}
END_TEST

/* Goal: postcopy-ram alone (no precopy round) completes with most pages after RUN. */
START_TEST(conform_postcopy_ram_alone)
{
  static struct conform_scenario scenario;
  static struct conform_run_result result;
  check_pass("postcopy-ram", &scenario, &result);
  const struct mig_plug_stats *plug = &result.plug;
  ck_assert_uint_eq(result.stats.rounds_count, 0);
  ck_assert_uint_gt(plug->postcopy_dest.postcopy_pages_count,
                    plug->postcopy_dest.precopy_pages_count);
  conform_run_result_deinit(&result);
}
END_TEST

/*
 * Goal: with postcopy-preempt and multifd, precopy's pages go on the
 * channels and requested pages on the preempt connection, and the blocktime
 * is below the run without preempt; method: both catalog runs.
 */
START_TEST(conform_postcopy_preempt_multifd)
{
  static struct conform_scenario scenario;
  static struct conform_run_result result;
  check_pass("postcopy-preempt-multifd", &scenario, &result);
  const struct mig_plug_stats *plug = &result.plug;
  ck_assert_uint_gt(plug->preempt_bytes, 0);
  ck_assert_uint_gt(plug->multifd_bytes, 0);
  ck_assert_uint_eq(plug->multifd_send.normal_pages_count, plug->multifd_recv.normal_pages_count);
  ck_assert_uint_eq(plug->postcopy_dest.postcopy_pages_count,
                    plug->postcopy_source.discard_pages_count);
  uint64_t preempt_blocktime = plug->uffd.blocktime_ns;
  conform_run_result_deinit(&result);
  check_pass("postcopy-after-precopy", &scenario, &result);
  ck_assert_uint_lt(preempt_blocktime, result.plug.uffd.blocktime_ns);
  conform_run_result_deinit(&result);
}
END_TEST

/*
 * Goal: migrate-pause in postcopy-active pauses both sides, migrate-recover
 * resumes with the received bitmaps, and the run passes with no page lost or
 * applied twice; method: the catalog run's MIGRATION events and counters.
 */
START_TEST(conform_postcopy_recovery)
{
  static struct conform_scenario scenario;
  static struct conform_run_result result;
  check_pass("postcopy-recovery", &scenario, &result);
  const struct mig_plug_stats *plug = &result.plug;
  ck_assert_uint_eq(plug->postcopy_dest.pauses_count, 1);
  ck_assert_uint_eq(plug->recoveries_count, 1);
  ck_assert_uint_eq(plug->postcopy_source.bitmaps_count, 3);  /* one per block */
  uint32_t paused = 0, recover = 0;
  for (uint32_t i = 0; i < result.timeline_count; i++) {
    const struct conform_timeline_entry *e = &result.timeline[i];
    if (strcmp(e->what, "MIGRATION") != 0 || e->detail == NULL) continue;
    paused += strcmp(e->detail, "postcopy-paused") == 0;
    recover += strcmp(e->detail, "postcopy-recover") == 0;
  }
  ck_assert_uint_eq(paused, 2);   /* source and destination */
  ck_assert_uint_eq(recover, 2);
  ck_assert_uint_eq(timeline_count(&result, "qmp-error"), 0);
  conform_run_result_deinit(&result);
}
END_TEST

/* Goal: migrate-cancel in postcopy-active and postcopy-paused is refused and it completes. */
START_TEST(conform_postcopy_cancel_refused)
{
  static struct conform_scenario scenario;
  static struct conform_run_result result;
  check_pass("postcopy-cancel", &scenario, &result);
  ck_assert_uint_eq(timeline_count(&result, "qmp-error"), 3);  /* pause early, two cancels */
  ck_assert_uint_eq(result.plug.recoveries_count, 1);
  conform_run_result_deinit(&result);
}
END_TEST

/*
 * Goal: multifd (none, zlib, zstd) carries the pages on its channels, each
 * packet received as sent, the main channel only the rest; method: three
 * catalog runs.
 */
START_TEST(conform_multifd_channels)
{
  static const char *const names[] = {"multifd", "multifd-zlib", "multifd-zstd"};
  static struct conform_scenario scenario;
  static struct conform_run_result result;
  uint64_t plain_bytes = 0;
  for (size_t i = 0; i < SIM_ARRAY_COUNT(names); i++) {
    check_pass(names[i], &scenario, &result);
    const struct mig_plug_stats *plug = &result.plug;
    ck_assert_uint_eq(plug->multifd_send.packets_count, plug->multifd_recv.packets_count);
    ck_assert_uint_eq(plug->multifd_send.normal_pages_count,
                      plug->multifd_recv.normal_pages_count);
    ck_assert_uint_gt(plug->multifd_send.sync_packets_count, 0);
    ck_assert_uint_eq(plug->multifd_send.sync_packets_count % 4, 0);  /* one per channel */
    ck_assert_uint_gt(result.stats.multifd_bytes, 16 * result.stats.transferred_bytes);
    if (i == 0) plain_bytes = result.stats.multifd_bytes;
    if (i > 0) ck_assert_uint_lt(result.stats.multifd_bytes, plain_bytes);  /* compressed */
    conform_run_result_deinit(&result);
  }
}
END_TEST

/*
 * MIGSIM_PROPERTY_SEEDS (default 8), at most 16: seeds per postcopy scenario
 * in the sweep (five scenarios, so 80 whole runs per build at most; longer
 * sweeps are campaigns: `migsim run conformance/scenarios/postcopy-ram.json
 * --seeds 1-1000 --jobs 2`).
 */
static uint32_t property_seeds(void)
{
  const char *text = getenv("MIGSIM_PROPERTY_SEEDS");
  int seeds = text != NULL ? atoi(text) : 0;
  return seeds > 0 ? (uint32_t)SIM_MIN(seeds, 16) : 8u;
}

/*
 * Goal: postcopy with shared memory (seed 003): a vhost-user-style client
 * registered with the destination's userfaultfd waits for each missing page
 * it reads, requested on its behalf, and never reads a page before it is
 * placed; the same client unregistered is caught by the shared-memory
 * oracle, naming the client; method: the catalog run, then the same scenario
 * with "register": false.
 */
START_TEST(conform_postcopy_shared_memory_client)
{
  static struct conform_scenario scenario;
  static struct conform_run_result result;
  check_pass("postcopy-shm", &scenario, &result);
  ck_assert_uint_eq(result.shm_client_count, 1);
  const struct shmclient_stats *client = &result.shm_clients[0];
  ck_assert_uint_gt(client->reads_count, 0);
  ck_assert_uint_gt(client->faults_count, 0);
  ck_assert_uint_eq(client->stale_reads_count, 0);
  ck_assert_uint_eq(result.plug.uffd.client_faults_count, client->faults_count);
  ck_assert_uint_gt(result.plug.postcopy_dest.requests_count, 0);
  conform_run_result_deinit(&result);
  scenario.shm_clients[0].registered = false;
  conform_check(&scenario, false, NULL, NULL, &result);
  ck_assert_int_eq(result.verdict, CONFORM_ORACLE_VIOLATION);
  ck_assert_str_eq(result.failure_at.oracle, "shared-memory");
  ck_assert_str_eq(result.failure_at.path, "shm_clients/0");
  ck_assert_uint_gt(result.shm_clients[0].stale_reads_count, 0);
  ck_assert_uint_eq(result.shm_clients[0].faults_count, 0);
  conform_run_result_deinit(&result);
}
END_TEST

/*
 * Goal: the exactly-once checker and every oracle hold on more seeds of
 * every postcopy scenario; method: MIGSIM_PROPERTY_SEEDS seeds each.
 */
START_TEST(conform_postcopy_seeds)
{
  static const char *const names[] = {"postcopy-after-precopy", "postcopy-ram",
                                      "postcopy-preempt-multifd", "postcopy-recovery",
                                      "postcopy-shm"};
  static struct conform_scenario scenario;
  static struct conform_run_result result;
  uint32_t seeds = property_seeds();
  for (size_t i = 0; i < SIM_ARRAY_COUNT(names); i++) {
    load(names[i], &scenario);
    for (uint32_t s = 0; s < seeds; s++) {
      scenario.seed = 1000 + s;
      conform_check(&scenario, false, NULL, NULL, &result);
      ck_assert_msg(result.verdict == CONFORM_PASS, "%s seed %" PRIu64 ": %s", names[i],
                    scenario.seed, result.failure);
      ck_assert_uint_eq(result.plug.postcopy_dest.postcopy_pages_count,
                        result.plug.postcopy_source.discard_pages_count);
      conform_run_result_deinit(&result);
    }
  }
}
END_TEST

Suite *conform_postcopy_suite(void)
{
  Suite *suite = suite_create("conform_postcopy");
  TCase *core = tcase_create("core");
  tcase_set_timeout(core, 600);
  tcase_add_test(core, conform_postcopy_after_precopy);
  tcase_add_test(core, conform_postcopy_ram_alone);
  tcase_add_test(core, conform_postcopy_preempt_multifd);
  tcase_add_test(core, conform_postcopy_recovery);
  tcase_add_test(core, conform_postcopy_cancel_refused);
  tcase_add_test(core, conform_multifd_channels);
  tcase_add_test(core, conform_postcopy_shared_memory_client);
  tcase_add_test(core, conform_postcopy_seeds);
  suite_add_tcase(suite, core);
  return suite;
}
