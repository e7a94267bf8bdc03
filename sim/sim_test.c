/*
 * sim_test.c: one simulation instance (sim.h): options, the two-phase run
 * loop and its bounds, stop and resume, cancellation during dispatch, and
 * the trace: canonical bytes, digest, kept records and the text format.
 */
#include "sim_base.h"

#include "sim.h"
#include "sim_check.h"
#include "sim_limits.h"

#include <signal.h>
#include <xxhash.h>

enum { PROBES_MAX = 5100 };

/* Events that log their id when they fire; what else they do is set per test. */
struct probe {
  struct sim_event event;
  struct probe_log *log;
  uint32_t id;
};

struct probe_log {
  struct probe probes[PROBES_MAX];
  uint32_t ids[PROBES_MAX * 2];     /* ids in firing order */
  uint64_t times_ns[PROBES_MAX * 2];
  uint32_t count;
  uint32_t rearms_left;             /* for probe_rearm_fire */
  uint32_t stop_id;                 /* probe_fire calls sim_stop when this id fires */
  uint32_t cancel_id;               /* probe_cancel_fire cancels this probe */
  struct sim_prng prng;             /* for workload_fire */
};

static struct probe_log test_log;

static struct probe *probe_fired(struct sim *sim, struct sim_event *event)
{
  struct probe *probe = SIM_CONTAINER_OF(event, struct probe, event);
  struct probe_log *log = probe->log;
  ck_assert_uint_lt(log->count, SIM_ARRAY_COUNT(log->ids));
  ck_assert(!sim_event_armed(event));
  log->ids[log->count] = probe->id;
  log->times_ns[log->count++] = sim_now_ns(sim);
  return probe;
}

static void probe_fire(struct sim *sim, struct sim_event *event)
{
  struct probe *probe = probe_fired(sim, event);
  if (probe->id == probe->log->stop_id) sim_stop(sim);
}

static void probe_rearm_fire(struct sim *sim, struct sim_event *event)
{
  struct probe *probe = probe_fired(sim, event);
  if (probe->log->rearms_left == 0) return;
  probe->log->rearms_left--;
  sim_event_schedule_at(sim, event, sim_now_ns(sim));
  ck_assert(sim_event_armed(event));
}

static void probe_cancel_fire(struct sim *sim, struct sim_event *event)
{
  struct probe *probe = probe_fired(sim, event);
  sim_event_cancel(sim, &probe->log->probes[probe->log->cancel_id].event);
}

/* Resets the shared log; every probe gets callback and the id of its index. */
static struct probe_log *log_reset(sim_event_fn *callback)
{
  memset(&test_log, 0, sizeof(test_log));
  test_log.stop_id = UINT32_MAX;
  for (uint32_t i = 0; i < PROBES_MAX; i++) {
    test_log.probes[i].log = &test_log;
    test_log.probes[i].id = i;
    sim_event_init(&test_log.probes[i].event, callback, "probe");
  }
  return &test_log;
}

static struct sim *sim_make(uint64_t events_max, uint64_t time_ns_max)
{
  struct sim_options options = {.seed = 3, .events_max = events_max, .time_ns_max = time_ns_max};
  struct sim *sim = sim_create(&options);
  ck_assert_ptr_nonnull(sim);
  return sim;
}

START_TEST(sim_create_rejects_out_of_range_options)
{
  /* Each limit one past its maximum makes sim_create fail; the maxima themselves succeed. */
  struct sim_options options = {.events_pending_max = SIM_EVENTS_PENDING_MAX + 1};
  ck_assert_ptr_null(sim_create(&options));
  options = (struct sim_options){.arena_bytes_max = SIM_ARENA_BYTES_MAX + 1};
  ck_assert_ptr_null(sim_create(&options));
  options = (struct sim_options){.trace_records_max = SIM_TRACE_RECORDS_MAX + 1};
  ck_assert_ptr_null(sim_create(&options));
  options = (struct sim_options){.seed = 77, .events_pending_max = SIM_EVENTS_PENDING_MAX,
                                 .trace_records_max = SIM_TRACE_RECORDS_MAX};
  struct sim *sim = sim_create(&options);
  ck_assert_ptr_nonnull(sim);
  ck_assert_uint_eq(sim_seed(sim), 77);
  ck_assert_uint_eq(sim_now_ns(sim), 0);
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
  sim_destroy(sim);
}
END_TEST

START_TEST(sim_run_more_than_one_step_at_one_time)
{
  /* 5000 events at one time, over SIM_STEP_EVENTS_MAX, run in seq order before a later one. */
  struct probe_log *log = log_reset(probe_fire);
  struct sim *sim = sim_make(0, 0);
  sim_event_schedule_at(sim, &log->probes[5000].event, 101);
  for (uint32_t i = 0; i < 5000; i++) {
    sim_event_schedule_at(sim, &log->probes[(i * 7) % 5000].event, 100);
  }
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
  ck_assert_uint_eq(log->count, 5001);
  for (uint32_t i = 0; i < 5000; i++) {
    ck_assert_uint_eq(log->ids[i], (i * 7) % 5000);
    ck_assert_uint_eq(log->times_ns[i], 100);
  }
  ck_assert_uint_eq(log->ids[5000], 5000);
  ck_assert_uint_eq(sim_now_ns(sim), 101);
  ck_assert_uint_eq(sim_events_count(sim), 5001);
  sim_destroy(sim);
}
END_TEST

START_TEST(sim_run_same_time_rearm_runs_in_later_step)
{
  /* A re-arms itself at its own time 3 times: B, armed before the run, runs between; C last. */
  struct probe_log *log = log_reset(probe_rearm_fire);
  log->rearms_left = 3;
  sim_event_init(&log->probes[1].event, probe_fire, "probe");
  sim_event_init(&log->probes[2].event, probe_fire, "probe");
  struct sim *sim = sim_make(0, 0);
  sim_event_schedule_at(sim, &log->probes[0].event, 50);
  sim_event_schedule_at(sim, &log->probes[2].event, 51);
  sim_event_schedule_at(sim, &log->probes[1].event, 50);
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
  static const uint32_t expected[] = {0, 1, 0, 0, 0, 2};
  ck_assert_uint_eq(log->count, SIM_ARRAY_COUNT(expected));
  for (uint32_t i = 0; i < SIM_ARRAY_COUNT(expected); i++) {
    ck_assert_uint_eq(log->ids[i], expected[i]);
  }
  ck_assert_uint_eq(log->times_ns[4], 50);
  sim_destroy(sim);
}
END_TEST

START_TEST(sim_event_cancel_during_step)
{
  /* An event cancels another one due in the same step: the cancelled one never runs. */
  struct probe_log *log = log_reset(probe_cancel_fire);
  log->cancel_id = 1;
  struct sim *sim = sim_make(0, 0);
  sim_event_schedule_at(sim, &log->probes[0].event, 10);
  sim_event_schedule_at(sim, &log->probes[1].event, 10);
  ck_assert(sim_event_armed(&log->probes[1].event));
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
  ck_assert_uint_eq(log->count, 1);
  ck_assert_uint_eq(log->ids[0], 0);
  ck_assert(!sim_event_armed(&log->probes[1].event));
  ck_assert_uint_eq(sim_events_count(sim), 1);
  sim_destroy(sim);
}
END_TEST

START_TEST(sim_stop_returns_then_run_resumes)
{
  /* Ten events at 1..10; the third stops the run; the next sim_run finishes the rest. */
  struct probe_log *log = log_reset(probe_fire);
  log->stop_id = 2;
  struct sim *sim = sim_make(0, 0);
  for (uint32_t i = 0; i < 10; i++) sim_event_schedule_at(sim, &log->probes[i].event, i + 1);
  ck_assert_int_eq(sim_run(sim), SIM_RUN_STOPPED);
  ck_assert_uint_eq(log->count, 3);
  ck_assert_uint_eq(sim_now_ns(sim), 3);
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
  ck_assert_uint_eq(log->count, 10);
  for (uint32_t i = 0; i < 10; i++) ck_assert_uint_eq(log->ids[i], i);
  sim_destroy(sim);
}
END_TEST

START_TEST(sim_run_events_max_holds_across_runs)
{
  /* events_max counts over the sim's life: a second run dispatches nothing more. */
  struct probe_log *log = log_reset(probe_rearm_fire);
  log->rearms_left = 100;
  struct sim *sim = sim_make(5, 0);
  sim_event_schedule_at(sim, &log->probes[0].event, 0);
  ck_assert_int_eq(sim_run(sim), SIM_RUN_EVENTS_MAX);
  ck_assert_uint_eq(sim_events_count(sim), 5);
  ck_assert_int_eq(sim_run(sim), SIM_RUN_EVENTS_MAX);
  ck_assert_uint_eq(sim_events_count(sim), 5);
  ck_assert_uint_eq(log->count, 5);
  ck_assert(sim_event_armed(&log->probes[0].event));
  sim_destroy(sim);
}
END_TEST

START_TEST(sim_run_time_max_is_inclusive)
{
  /* An event exactly at time_ns_max runs; one 1 ns later does not, and the clock stays put. */
  struct probe_log *log = log_reset(probe_fire);
  struct sim *sim = sim_make(0, 1000);
  sim_event_schedule_at(sim, &log->probes[0].event, 1000);
  sim_event_schedule_at(sim, &log->probes[1].event, 1001);
  ck_assert_int_eq(sim_run(sim), SIM_RUN_TIME_MAX);
  ck_assert_uint_eq(log->count, 1);
  ck_assert_uint_eq(sim_now_ns(sim), 1000);
  ck_assert_int_eq(sim_run(sim), SIM_RUN_TIME_MAX);
  ck_assert_uint_eq(sim_events_count(sim), 1);
  ck_assert(sim_event_armed(&log->probes[1].event));
  sim_destroy(sim);
}
END_TEST

START_TEST(sim_event_schedule_after_is_relative)
{
  /* schedule_after from a callback at 100 fires at 100 + delay; armed until then. */
  struct probe_log *log = log_reset(probe_rearm_fire);
  log->rearms_left = 0;
  struct sim *sim = sim_make(0, 0);
  sim_event_schedule_at(sim, &log->probes[0].event, 100);
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
  sim_event_schedule_after(sim, &log->probes[1].event, 25);
  ck_assert(sim_event_armed(&log->probes[1].event));
  ck_assert_uint_eq(log->probes[1].event.time_ns, 125);
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
  ck_assert_uint_eq(log->times_ns[1], 125);
  sim_destroy(sim);
}
END_TEST

START_TEST(sim_event_schedule_in_past_aborts)
{
  /* Scheduling before the current time is a model bug and trips the assertion. */
  struct probe_log *log = log_reset(probe_fire);
  struct sim *sim = sim_make(0, 0);
  sim_event_schedule_at(sim, &log->probes[0].event, 100);
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
  sim_event_schedule_at(sim, &log->probes[1].event, 99);
}
END_TEST

/* Appends the canonical bytes of one record: kind, NUL, five little-endian words. */
static size_t canonical_append(uint8_t *out, const char *kind, const uint64_t words[5])
{
  size_t kind_bytes = strlen(kind);
  memcpy(out, kind, kind_bytes + 1);
  for (size_t i = 0; i < 5; i++) {
    for (size_t j = 0; j < 8; j++) out[kind_bytes + 1 + 8 * i + j] = (uint8_t)(words[i] >> (8 * j));
  }
  return kind_bytes + 1 + 40;
}

static void trace_late_fire(struct sim *sim, struct sim_event *event)
{
  (void)event;
  sim_trace(sim, "x.y", 0xff, 1, 2, UINT64_MAX);
}

START_TEST(sim_trace_digest_matches_canonical_bytes)
{
  /* The digest is XXH3-64 of the records' canonical bytes, fed as one stream; empty hashes "". */
  struct sim *sim = sim_make(0, 0);
  ck_assert_uint_eq(sim_trace_digest(sim), XXH3_64bits("", 0));
  struct sim_event late;
  sim_event_init(&late, trace_late_fire, "late");
  sim_event_schedule_at(sim, &late, UINT64_C(0x0102030405060708));
  sim_trace(sim, "ram.write", 0, 3, 0, 0);
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
  uint8_t bytes[2 * (SIM_TRACE_KIND_BYTES_MAX + 41)];
  const uint64_t first[5] = {0, 0, 3, 0, 0};
  const uint64_t second[5] = {UINT64_C(0x0102030405060708), 0xff, 1, 2, UINT64_MAX};
  size_t count = canonical_append(bytes, "ram.write", first);
  count += canonical_append(bytes + count, "x.y", second);
  ck_assert_uint_eq(count, 10 + 40 + 4 + 40);
  ck_assert_uint_eq(sim_trace_digest(sim), XXH3_64bits(bytes, count));
  ck_assert_uint_eq(sim_trace_count(sim), 2);
  sim_destroy(sim);
}
END_TEST

/* Runs a small PRNG-driven workload that traces every step; returns its digest. */
static void workload_fire(struct sim *sim, struct sim_event *event)
{
  struct probe *probe = SIM_CONTAINER_OF(event, struct probe, event);
  uint64_t value = sim_prng_below(&probe->log->prng, 1000);
  sim_trace(sim, "work", probe->id, value, 0, 0);
  if (sim_events_count(sim) < 200) sim_event_schedule_after(sim, event, 1 + value);
}

static uint64_t workload_digest(uint64_t seed, uint64_t *count)
{
  struct probe_log *log = log_reset(workload_fire);
  struct sim_options options = {.seed = seed};
  struct sim *sim = sim_create(&options);
  sim_prng_stream(sim, &log->prng, "test/workload");
  for (uint32_t i = 0; i < 3; i++) sim_event_schedule_at(sim, &log->probes[i].event, i);
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
  uint64_t digest = sim_trace_digest(sim);
  *count = sim_trace_count(sim);
  sim_destroy(sim);
  return digest;
}

START_TEST(sim_trace_digest_repeats_for_seed)
{
  /* The same seed gives the same digest and record count; another seed gives another digest. */
  uint64_t count_a, count_b, count_c;
  uint64_t a = workload_digest(1, &count_a);
  uint64_t b = workload_digest(1, &count_b);
  uint64_t c = workload_digest(2, &count_c);
  ck_assert_uint_eq(a, b);
  ck_assert_uint_eq(count_a, count_b);
  ck_assert_uint_ge(count_a, 200);
  ck_assert_uint_ne(a, c);
}
END_TEST

/* What sim_trace_observer_sees_every_record's observer saw. */
struct observed_trace {
  struct sim *sim;
  uint64_t count;
  uint64_t last_value;
  uint64_t digests[4];
};

static void observe_record(void *context, const struct sim_trace_record *record)
{
  struct observed_trace *observed = context;
  ck_assert_uint_eq(record->index, observed->count);
  ck_assert_str_eq(record->kind, "rec");
  observed->last_value = record->values[0];
  observed->digests[observed->count++ % 4] = sim_trace_digest(observed->sim);
}

START_TEST(sim_trace_records_kept_up_to_max)
{
  /* With trace_records_max 3, five records keep the first three, each with its running digest. */
  struct sim_options options = {.seed = 1, .trace_records_max = 3};
  struct sim *sim = sim_create(&options);
  uint64_t digests[5];
  for (uint64_t i = 0; i < 5; i++) {
    sim_trace(sim, "rec", i, 2 * i, 0, 0);
    digests[i] = sim_trace_digest(sim);
  }
  uint64_t count = 0;
  const struct sim_trace_record *records = sim_trace_records(sim, &count);
  ck_assert_uint_eq(count, 3);
  ck_assert_uint_eq(sim_trace_count(sim), 5);
  for (uint64_t i = 0; i < count; i++) {
    ck_assert_uint_eq(records[i].index, i);
    ck_assert_str_eq(records[i].kind, "rec");
    ck_assert_uint_eq(records[i].values[1], 2 * i);
    ck_assert_uint_eq(records[i].digest, digests[i]);
  }
  sim_destroy(sim);
}
END_TEST

START_TEST(sim_trace_observer_sees_every_record)
{
  /*
   * An observer sees each record once, in order, with the digest already
   * updated; the digest is the same as without one.
   */
  struct observed_trace observed = {0};
  struct sim_options plain = {.seed = 1};
  struct sim *reference = sim_create(&plain);
  struct sim_options options = {.seed = 1, .trace_observer = observe_record,
                                .trace_observer_context = &observed};
  struct sim *sim = sim_create(&options);
  observed.sim = sim;
  for (uint64_t i = 0; i < 4; i++) {
    sim_trace(sim, "rec", i, 7, 0, 0);
    sim_trace(reference, "rec", i, 7, 0, 0);
    ck_assert_uint_eq(observed.digests[i], sim_trace_digest(reference));
  }
  ck_assert_uint_eq(observed.count, 4);
  ck_assert_uint_eq(observed.last_value, 3);
  ck_assert_uint_eq(sim_trace_digest(sim), sim_trace_digest(reference));
  sim_destroy(sim);
  sim_destroy(reference);
}
END_TEST

START_TEST(sim_trace_text_line_format)
{
  /* trace_text gets "<index> <time_ns> <kind> <a> <b> <c> <d>" lines, as record_print writes. */
  char *text = NULL;
  size_t text_bytes = 0;
  FILE *out = open_memstream(&text, &text_bytes);
  ck_assert_ptr_nonnull(out);
  struct sim_options options = {.seed = 1, .trace_text = out, .trace_records_max = 4};
  struct sim *sim = sim_create(&options);
  struct sim_event late;
  sim_event_init(&late, trace_late_fire, "late");
  sim_event_schedule_at(sim, &late, 1000000);
  sim_trace(sim, "ram.write", 0, 3, 0, 0);
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
  uint64_t count = 0;
  const struct sim_trace_record *records = sim_trace_records(sim, &count);
  ck_assert_uint_eq(count, 2);
  sim_trace_record_print(out, &records[1]);
  ck_assert_int_eq(fclose(out), 0);
  ck_assert_str_eq(text, "0 0 ram.write 0x0 0x3 0x0 0x0\n"
                         "1 1000000 x.y 0xff 0x1 0x2 0xffffffffffffffff\n"
                         "1 1000000 x.y 0xff 0x1 0x2 0xffffffffffffffff\n");
  free(text);
  sim_destroy(sim);
}
END_TEST

START_TEST(sim_trace_kind_too_long_aborts)
{
  /* A kind longer than SIM_TRACE_KIND_BYTES_MAX is a caller bug and trips the assertion. */
  char kind[SIM_TRACE_KIND_BYTES_MAX + 2];
  memset(kind, 'k', sizeof(kind) - 1);
  kind[sizeof(kind) - 1] = 0;
  struct sim *sim = sim_make(0, 0);
  sim_trace(sim, kind, 0, 0, 0, 0);
}
END_TEST

START_TEST(sim_alloc_try_respects_arena_bound)
{
  /* With a 4 KiB arena, 1 KiB requests succeed at most four times, then return NULL. */
  struct sim_options options = {.seed = 1, .arena_bytes_max = 4096};
  struct sim *sim = sim_create(&options);
  ck_assert_ptr_nonnull(sim);
  uint32_t successes = 0;
  while (successes < 5 && sim_alloc_try(sim, 1024) != NULL) successes++;
  ck_assert_uint_le(successes, 4);
  ck_assert_ptr_null(sim_alloc_try(sim, 1024));
  sim_destroy(sim);
}
END_TEST

START_TEST(sim_prng_stream_uses_root_seed)
{
  /* sim_prng_stream is sim_prng_init_stream of the sim's seed. */
  struct sim_options options = {.seed = 1234};
  struct sim *sim = sim_create(&options);
  struct sim_prng from_sim, direct;
  sim_prng_stream(sim, &from_sim, "dev/amdvi");
  sim_prng_init_stream(&direct, 1234, "dev/amdvi");
  ck_assert_mem_eq(from_sim.s, direct.s, sizeof(direct.s));
  sim_destroy(sim);
}
END_TEST

START_TEST(sim_buggify_off_never_fires_nor_traces)
{
  /* With buggify off a point is false every time and the trace stays empty. */
  struct sim_options options = {.seed = 7};
  struct sim *sim = sim_create(&options);
  for (int i = 0; i < 1000; i++) ck_assert(!SIM_BUGGIFY(sim, "test.point"));
  ck_assert_uint_eq(sim_trace_count(sim), 0);
  ck_assert_uint_eq(sim_buggify_fired_count(sim), 0);
  sim_destroy(sim);
}
END_TEST

START_TEST(sim_buggify_enabled_set_is_the_seeds)
{
  /*
   * Over 400 seeds about a quarter enable a point; the decision does not
   * depend on which points were reached before, and an enabled point fires
   * about a quarter of the time, each firing traced.
   */
  uint32_t enabled_count = 0;
  for (uint64_t seed = 0; seed < 400; seed++) {
    struct sim_options options = {.seed = seed, .buggify = true};
    struct sim *a = sim_create(&options);
    struct sim *b = sim_create(&options);
    for (int i = 0; i < 10; i++) (void)SIM_BUGGIFY(b, "test.other");
    bool enabled = sim_buggify_enabled(a, "test.point");
    ck_assert(enabled == sim_buggify_enabled(b, "test.point"));
    enabled_count += enabled;
    uint32_t fired = 0;
    for (int i = 0; i < 400; i++) fired += SIM_BUGGIFY(a, "test.point");
    if (!enabled) ck_assert_uint_eq(fired, 0);
    if (enabled) ck_assert(fired >= 60 && fired <= 140);
    ck_assert_uint_eq(sim_trace_count(a), fired);
    sim_destroy(a);
    sim_destroy(b);
  }
  ck_assert(enabled_count >= 70 && enabled_count <= 130);
}
END_TEST

Suite *sim_suite(void)
{
  Suite *suite = suite_create("sim");
  TCase *run = tcase_create("run");
  tcase_add_test(run, sim_create_rejects_out_of_range_options);
  tcase_add_test(run, sim_run_more_than_one_step_at_one_time);
  tcase_add_test(run, sim_run_same_time_rearm_runs_in_later_step);
  tcase_add_test(run, sim_event_cancel_during_step);
  tcase_add_test(run, sim_stop_returns_then_run_resumes);
  tcase_add_test(run, sim_run_events_max_holds_across_runs);
  tcase_add_test(run, sim_run_time_max_is_inclusive);
  tcase_add_test(run, sim_event_schedule_after_is_relative);
  tcase_add_test_raise_signal(run, sim_event_schedule_in_past_aborts, SIGABRT);
  suite_add_tcase(suite, run);
  TCase *trace = tcase_create("trace");
  tcase_add_test(trace, sim_trace_digest_matches_canonical_bytes);
  tcase_add_test(trace, sim_trace_digest_repeats_for_seed);
  tcase_add_test(trace, sim_trace_records_kept_up_to_max);
  tcase_add_test(trace, sim_trace_observer_sees_every_record);
  tcase_add_test(trace, sim_trace_text_line_format);
  tcase_add_test_raise_signal(trace, sim_trace_kind_too_long_aborts, SIGABRT);
  suite_add_tcase(suite, trace);
  TCase *memory = tcase_create("memory");
  tcase_add_test(memory, sim_alloc_try_respects_arena_bound);
  tcase_add_test(memory, sim_prng_stream_uses_root_seed);
  suite_add_tcase(suite, memory);
  TCase *buggify = tcase_create("buggify");
  tcase_add_test(buggify, sim_buggify_off_never_fires_nor_traces);
  tcase_add_test(buggify, sim_buggify_enabled_set_is_the_seeds);
  suite_add_tcase(suite, buggify);
  return suite;
}
