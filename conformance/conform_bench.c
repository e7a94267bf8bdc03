/*
 * conform_bench.c: `migsim bench events`, the hold-model benchmark of the
 * event queue (overview in conform_bench.h).
 *
 * Hold model: N events pending; each step removes the earliest and inserts
 * one event at that time plus a random increment (uniform in [1, 2 x mean]),
 * so the queue size stays N.  "queue" drives sim_queue directly; "sim" runs
 * the same through sim_run with a small handler that re-arms its own event.
 * Wall-clock time is read here only, outside the simulated path.
 *
 * `migsim bench load|validate STREAM` time the stream walker (validate) and
 * the walker plus RAM application into dense per-block RAM (load) on a stream
 * already in memory (reading and xz decompression are not timed), best of
 * BENCH_STREAM_REPEATS runs, next to a memcpy of as many bytes into a
 * pre-faulted buffer in the same process.
 */
#include "sim_base.h"

#include "conform_bench.h"
#include "conform_inspect.h"
#include "conform_run.h"
#include "mig_inspect.h"
#include "mig_ramapply.h"
#include "sim.h"
#include "sim_queue.h"

#define BENCH_MEAN_NS UINT64_C(1000)

static double bench_seconds(void)
{
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

static void bench_noop(struct sim *sim, struct sim_event *event)
{
  (void)sim;
  (void)event;
}

/* Queue only: returns events per second; *check receives a sum that depends on every pop. */
static double bench_queue(uint32_t pending, uint64_t steps, uint64_t *check)
{
  struct sim_queue *queue = malloc(sizeof(*queue));
  struct sim_event *events = calloc(pending, sizeof(*events));
  SIM_ASSERT(queue != NULL && events != NULL);
  sim_queue_init(queue);
  struct sim_prng prng;
  sim_prng_init_stream(&prng, 1, "bench/queue");
  uint64_t seq = 1;
  for (uint32_t i = 0; i < pending; i++) {
    events[i].callback = bench_noop;
    sim_queue_push(queue, &events[i], sim_prng_range(&prng, 1, 2 * BENCH_MEAN_NS), seq++);
  }
  double start = bench_seconds();
  uint64_t sum = 0;
  for (uint64_t i = 0; i < steps; i++) {
    struct sim_event *event = sim_queue_pop(queue);
    uint64_t now_ns = event->time_ns;
    sum += now_ns;
    sim_queue_push(queue, event, now_ns + sim_prng_range(&prng, 1, 2 * BENCH_MEAN_NS), seq++);
  }
  double elapsed = bench_seconds() - start;
  *check = sum;
  free(queue);
  free(events);
  return (double)steps / elapsed;
}

struct bench_holder {
  struct sim_event event;
  struct sim_prng *prng;
  uint64_t *sum;
};

static void bench_handler(struct sim *sim, struct sim_event *event)
{
  struct bench_holder *holder = SIM_CONTAINER_OF(event, struct bench_holder, event);
  *holder->sum += sim_now_ns(sim);
  sim_event_schedule_after(sim, event, sim_prng_range(holder->prng, 1, 2 * BENCH_MEAN_NS));
}

/* Through the simulator with a small handler. */
static double bench_sim(uint32_t pending, uint64_t steps, uint64_t *check)
{
  struct sim_options options = {.seed = 1, .events_max = steps,
                                .events_pending_max = pending + 1024};
  struct sim *sim = sim_create(&options);
  SIM_ASSERT(sim != NULL);
  struct sim_prng prng;
  sim_prng_stream(sim, &prng, "bench/sim");
  uint64_t sum = 0;
  struct bench_holder *holders = calloc(pending, sizeof(*holders));
  SIM_ASSERT(holders != NULL);
  for (uint32_t i = 0; i < pending; i++) {
    holders[i] = (struct bench_holder){.prng = &prng, .sum = &sum};
    sim_event_init(&holders[i].event, bench_handler, "bench");
    sim_event_schedule_at(sim, &holders[i].event, sim_prng_range(&prng, 1, 2 * BENCH_MEAN_NS));
  }
  double start = bench_seconds();
  enum sim_run_result result = sim_run(sim);
  double elapsed = bench_seconds() - start;
  SIM_ASSERT(result == SIM_RUN_EVENTS_MAX);
  *check = sum ^ sim_events_count(sim);
  sim_destroy(sim);
  free(holders);
  return (double)steps / elapsed;
}

int conform_bench_events(FILE *out)
{
  static const uint32_t sizes[] = {1000, 10000, 1000000};
  fprintf(out, "hold model, increment uniform in [1, %" PRIu64 "] ns\n", 2 * BENCH_MEAN_NS);
  fprintf(out, "%10s  %14s  %14s  %s\n", "pending", "queue (M ev/s)", "sim (M ev/s)", "check");
  for (size_t i = 0; i < SIM_ARRAY_COUNT(sizes); i++) {
    uint64_t steps = sizes[i] >= 1000000 ? UINT64_C(5000000) : UINT64_C(20000000);
    uint64_t check_queue, check_sim;
    double queue_rate = bench_queue(sizes[i], steps, &check_queue);
    double sim_rate = bench_sim(sizes[i], steps, &check_sim);
    fprintf(out, "%10" PRIu32 "  %14.1f  %14.1f  %016" PRIx64 "\n", sizes[i], queue_rate / 1e6,
            sim_rate / 1e6, check_queue ^ check_sim);
  }
  return 0;
}

#define BENCH_STREAM_REPEATS 3

/* One timed run; returns seconds, or a negative value when the stream is refused. */
static double bench_stream_once(const struct mig_membuf *input, bool load, uint64_t *pages)
{
  static struct mig_ramapply apply;
  struct mig_inspect inspect;
  struct mig_error error;
  mig_ramapply_init(&apply, true);
  struct mig_inspect_visitor visitor = {.visit = mig_ramapply_visit, .context = &apply};
  double start = bench_seconds();
  enum mig_err code = mig_inspect_walk(input->bytes, input->count, &inspect,
                                       load ? &visitor : NULL, &error);
  double elapsed = bench_seconds() - start;
  *pages = 0;
  for (uint32_t b = 0; b < apply.block_count; b++) *pages += mig_ramapply_pages_applied(&apply, b);
  mig_ramapply_deinit(&apply);
  mig_inspect_deinit(&inspect);
  if (code != MIG_OK) {
    char message[MIG_PATH_BYTES_MAX + 256];
    mig_error_format(&error, message, sizeof message);
    fprintf(stderr, "migsim bench: %s\n", message);
    return -1.0;
  }
  return elapsed;
}

/* Best memcpy time of count bytes into a buffer that was written once before. */
static double bench_memcpy(const struct mig_membuf *input)
{
  uint8_t *target = malloc(input->count == 0 ? 1 : input->count);
  SIM_ASSERT(target != NULL);
  memset(target, 1, input->count);
  double best = 0;
  for (int r = 0; r < BENCH_STREAM_REPEATS; r++) {
    double start = bench_seconds();
    memcpy(target, input->bytes, input->count);
    double elapsed = bench_seconds() - start;
    if (r == 0 || elapsed < best) best = elapsed;
  }
  volatile uint8_t sink = target[input->count / 2];
  (void)sink;
  free(target);
  return best;
}

int conform_bench_stream(FILE *out, const char *mode, const char *path)
{
  bool load = strcmp(mode, "load") == 0;
  char message[MIG_PATH_BYTES_MAX + 512];
  struct mig_membuf input;
  if (!conform_inspect_read(path, &input, message, sizeof message)) {
    fprintf(stderr, "migsim bench: %s\n", message);
    mig_membuf_deinit(&input);
    return CONFORM_BAD_INPUT;
  }
  double best = 0;
  uint64_t pages = 0;
  for (int r = 0; r < BENCH_STREAM_REPEATS; r++) {
    double elapsed = bench_stream_once(&input, load, &pages);
    if (elapsed < 0) {
      mig_membuf_deinit(&input);
      return CONFORM_BAD_INPUT;
    }
    if (r == 0 || elapsed < best) best = elapsed;
  }
  double copy = bench_memcpy(&input);
  double bytes = (double)input.count;
  fprintf(out, "%s %s\n  stream bytes   %zu\n  seconds        %.6f (best of %d)\n"
          "  GB/s           %.3f\n", mode, path, input.count, best, BENCH_STREAM_REPEATS,
          bytes / best / 1e9);
  if (load) fprintf(out, "  pages applied  %" PRIu64 "\n", pages);
  fprintf(out, "  memcpy GB/s    %.3f (same bytes, same run)\n"
          "  time / memcpy  %.2f\n", bytes / copy / 1e9, best / copy);
  mig_membuf_deinit(&input);
  return 0;
}
