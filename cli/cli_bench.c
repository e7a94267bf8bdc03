/*
 * cli_bench.c: `migsim bench events`, the hold-model benchmark of the
 * event queue (overview in cli_bench.h).
 *
 * Hold model: N events pending; each step removes the earliest and inserts
 * one event at that time plus a random increment (uniform in [1, 2 x mean]),
 * so the queue size stays N.  "queue" drives sim_queue directly; "sim" runs
 * the same through sim_run with a small handler that re-arms its own event.
 * Wall-clock time is read here only, outside the simulated path.
 *
 * `migsim bench ram` times the synthetic backing: ram_page_hash over written
 * pages (materialise 4 KiB with ram_synth_fill, then XXH3), and a whole
 * conform_check of a 64 GiB synthetic guest, reading the peak resident set
 * from /proc/self/status (VmHWM) afterwards.
 *
 * `migsim bench fibers` times fiber hand-offs: a body that only yields,
 * resumed in a loop (each resume + yield is two switches), once per switch
 * kind, and once more with each resume made by a simulation event, as the
 * migration fibers are driven.  It divides by the thread's CPU time, so time
 * the scheduler gave to other processes does not count.
 *
 * `migsim bench sim [FILE.json ...]` runs scenarios as `migsim run` does
 * (migrated run, reference run, oracles) and prints wall and CPU seconds,
 * the process's peak RSS so far, events/s and stream MB per wall second.
 * Whole-process pairs against another build come from harness/bench_pair.py.
 * It first measures the machine's floor for such a run: how fast the kernel
 * hands out fresh memory (a dense guest's source, destination and reference
 * RAM are all first touched during the run), and a memcpy of warm memory.
 *
 * `migsim bench load|validate STREAM` time the stream walker (validate) and
 * the walker plus RAM application into dense per-block RAM (load) on a stream
 * copied into memory first (from the file's mapping, or decoded; neither is
 * timed), best of
 * 3 to BENCH_STREAM_REPEATS_MAX runs (more while the runs so far took under
 * BENCH_STREAM_BUDGET_S: a 4 ms walk is otherwise at the mercy of one
 * scheduler tick), next to a memcpy of as many bytes into a pre-faulted
 * buffer in the same process, repeated as often.
 */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS, MADV_HUGEPAGE */

#include "sim_base.h"

#include "cli_bench.h"
#include "amdvi.h"
#include "amdvi_guest.h"
#include "cli_inspect.h"
#include "cli_input.h"
#include "conform_run.h"
#include "conform_scenario.h"
#include "mig_inspect.h"
#include "mig_ramapply.h"
#include "ram.h"
#include "sim.h"
#include "sim_fiber.h"
#include "sim_queue.h"

#include <sys/mman.h>
#include <xxhash.h>

#define BENCH_MEAN_NS UINT64_C(1000)

static double bench_seconds(void)
{
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

/* CPU time of the calling thread: a rate that the other processes on the machine do not skew. */
static double bench_cpu_seconds(int clock)
{
  struct timespec now;
  clock_gettime(clock, &now);
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

int cli_bench_events(FILE *out)
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

static void bench_fiber_body(struct sim_fiber *fiber, void *context)
{
  uint64_t *count = context;
  for (;;) {
    ++*count;
    if (!sim_fiber_yield(fiber)) return;
  }
}

/* Switches per second, resumed directly from a loop. */
static double bench_fiber_rate(enum sim_fiber_switch kind, uint64_t resumes, uint64_t *check)
{
  struct sim_options options = {.seed = 1};
  struct sim *sim = sim_create(&options);
  SIM_ASSERT(sim != NULL);
  uint64_t count = 0;
  struct sim_fiber *fiber = sim_fiber_create_with(sim, bench_fiber_body, &count, kind);
  sim_fiber_resume(fiber); /* maps the stack before the clock starts */
  double start = bench_cpu_seconds(CLOCK_THREAD_CPUTIME_ID);
  for (uint64_t i = 0; i < resumes; i++) sim_fiber_resume(fiber);
  double elapsed = bench_cpu_seconds(CLOCK_THREAD_CPUTIME_ID) - start;
  sim_destroy(sim);
  SIM_ASSERT(count == resumes + 1);
  *check += count;
  return (double)(2 * resumes) / elapsed;
}

struct bench_fiber_driver {
  struct sim_event event;
  struct sim_fiber *fiber;
};

static void bench_fiber_fire(struct sim *sim, struct sim_event *event)
{
  struct bench_fiber_driver *driver = SIM_CONTAINER_OF(event, struct bench_fiber_driver, event);
  sim_fiber_resume(driver->fiber);
  sim_event_schedule_after(sim, event, 1);
}

/* Switches per second, each resume made by an event (the event's cost included). */
static double bench_fiber_event_rate(uint64_t resumes, uint64_t *check)
{
  struct sim_options options = {.seed = 1, .events_max = resumes};
  struct sim *sim = sim_create(&options);
  SIM_ASSERT(sim != NULL);
  uint64_t count = 0;
  struct bench_fiber_driver driver = {
      .fiber = sim_fiber_create(sim, bench_fiber_body, &count)};
  sim_event_init(&driver.event, bench_fiber_fire, "bench.fiber");
  sim_event_schedule_at(sim, &driver.event, 0);
  double start = bench_cpu_seconds(CLOCK_THREAD_CPUTIME_ID);
  SIM_ASSERT(sim_run(sim) == SIM_RUN_EVENTS_MAX);
  double elapsed = bench_cpu_seconds(CLOCK_THREAD_CPUTIME_ID) - start;
  sim_destroy(sim);
  SIM_ASSERT(count == resumes);
  *check += count;
  return (double)(2 * resumes) / elapsed;
}

int cli_bench_fibers(FILE *out)
{
  const uint64_t resumes = 10000000, resumes_ucontext = 1000000;
  uint64_t check = 0;
  double native = bench_fiber_rate(SIM_FIBER_SWITCH_NATIVE, resumes, &check);
  double portable = bench_fiber_rate(SIM_FIBER_SWITCH_UCONTEXT, resumes_ucontext, &check);
  double driven = bench_fiber_event_rate(resumes, &check);
  fprintf(out, "fiber switches (a resume + a yield = 2), one thread, per CPU second of it\n");
  fprintf(out, "%-28s  %12s  %10s\n", "case", "M switches/s", "ns/switch");
  fprintf(out, "%-28s  %12.1f  %10.1f\n", sim_fiber_switch_name(SIM_FIBER_SWITCH_NATIVE),
          native / 1e6, 1e9 / native);
  fprintf(out, "%-28s  %12.1f  %10.1f\n", "ucontext (portable)", portable / 1e6, 1e9 / portable);
  fprintf(out, "%-28s  %12.1f  %10.1f\n", "resumed by an event", driven / 1e6, 1e9 / driven);
  fprintf(out, "check %016" PRIx64 "\n", check);
  return 0;
}

static uint64_t bench_rss_peak_kib(void);

static const char *const bench_sim_default_files[] = {
    "conformance/scenarios/bench-256m.json",
    "conformance/scenarios/bench-1g.json",
};

#define BENCH_FRESH_BYTES (UINT64_C(256) << 20)

/*
 * GB/s at which fresh anonymous memory becomes usable: map, advise 2 MiB
 * pages (as dense RAM blocks do), write one byte per 4 KiB, unmap; twice, as
 * the second mapping may get back the pages the first one freed.
 */
static void bench_fresh_memory(FILE *out)
{
  double rates[2];
  for (int round = 0; round < 2; round++) {
    double start = bench_seconds();
    uint8_t *bytes = mmap(NULL, BENCH_FRESH_BYTES, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    SIM_ASSERT(bytes != MAP_FAILED);
    (void)madvise(bytes, BENCH_FRESH_BYTES, MADV_HUGEPAGE);
    for (uint64_t i = 0; i < BENCH_FRESH_BYTES; i += 4096) bytes[i] = 1;
    SIM_ASSERT(munmap(bytes, BENCH_FRESH_BYTES) == 0);
    rates[round] = (double)BENCH_FRESH_BYTES / (bench_seconds() - start);
  }
  uint8_t *from = malloc(BENCH_FRESH_BYTES), *to = malloc(BENCH_FRESH_BYTES);
  SIM_ASSERT(from != NULL && to != NULL);
  memset(from, 1, BENCH_FRESH_BYTES);
  memset(to, 2, BENCH_FRESH_BYTES);
  void *(*volatile copy)(void *, const void *, size_t) = memcpy; /* not optimised away */
  double start = bench_seconds();
  copy(to, from, BENCH_FRESH_BYTES);
  double copy_rate = (double)BENCH_FRESH_BYTES / (bench_seconds() - start);
  volatile uint8_t sink = to[BENCH_FRESH_BYTES / 2];
  (void)sink;
  free(from);
  free(to);
  fprintf(out, "machine floor: fresh memory %.2f GB/s (first mapping), %.2f GB/s (second); "
          "memcpy of warm memory %.2f GB/s\n", rates[0] / 1e9, rates[1] / 1e9, copy_rate / 1e9);
}

/* One scenario through conform_check; returns the verdict's exit code. */
static int bench_sim_one(FILE *out, const char *path)
{
  static struct conform_scenario scenario;
  static struct conform_run_result result;
  char error[CONFORM_ERROR_BYTES];
  if (!conform_scenario_load(path, &scenario, error, sizeof(error))) {
    fprintf(stderr, "migsim bench sim: %s\n", error);
    return CONFORM_BAD_INPUT;
  }
  double start = bench_seconds();
  double cpu_start = bench_cpu_seconds(CLOCK_PROCESS_CPUTIME_ID);
  conform_check(&scenario, false, NULL, NULL, &result);
  double wall = bench_seconds() - start;
  double cpu = bench_cpu_seconds(CLOCK_PROCESS_CPUTIME_ID) - cpu_start;
  const struct mig_precopy_stats *stats = &result.stats;
  fprintf(out, "%s\n", path);
  fprintf(out, "  verdict         %s%s%.200s\n", conform_verdict_name(result.verdict),
          result.verdict == CONFORM_PASS ? "" : ": ", result.failure);
  fprintf(out, "  wall time       %.3f s, CPU %.3f s (migrated run + reference run + oracles)\n",
          wall, cpu);
  fprintf(out, "  peak RSS        %.1f MiB (VmHWM of this process so far)\n",
          bench_rss_peak_kib() / 1024.0);
  fprintf(out, "  events          %" PRIu64 " (migrated run), %.2f M/s of wall time\n",
          result.events_count, result.events_count / wall / 1e6);
  fprintf(out, "  stream          %" PRIu64 " bytes, %.1f MB per wall second\n",
          stats->transferred_bytes, stats->transferred_bytes / wall / 1e6);
  fprintf(out, "  trace digest    0x%016" PRIx64 "\n", result.trace_digest);
  int exit_code = result.verdict == CONFORM_PASS ? 0 : (int)result.verdict;
  conform_run_result_deinit(&result);
  return exit_code;
}

int cli_bench_sim(FILE *out, int file_count, char **files)
{
  int exit_code = 0;
  bench_fresh_memory(out);
  if (file_count == 0) {
    for (size_t i = 0; i < SIM_ARRAY_COUNT(bench_sim_default_files) && exit_code == 0; i++) {
      exit_code = bench_sim_one(out, bench_sim_default_files[i]);
    }
    return exit_code;
  }
  for (int i = 0; i < file_count && exit_code == 0; i++) exit_code = bench_sim_one(out, files[i]);
  return exit_code;
}

/*
 * The 64 GiB guest: synthetic pc.ram with 2 MiB pages, four vCPUs on a 0.1%
 * hot set.  The write rate is modest because every 64 KiB link packet costs
 * two fiber switches: the run time is the simulator's, not the RAM model's.
 */
static const char bench_ram_scenario[] =
    "{\n"
    "  \"seed\": 1,\n"
    "  \"limits\": {\"events_max\": 100000000, \"time_ns_max\": 600000000000},\n"
    "  \"machine\": {\n"
    "    \"type\": \"migsim-1.0\",\n"
    "    \"ram\": [{\"name\": \"pc.ram\", \"bytes\": 68719476736, \"page_bytes\": 2097152,\n"
    "             \"backing\": \"synthetic\"},\n"
    "            {\"name\": \"pc.bios\", \"bytes\": 262144}],\n"
    "    \"devices\": [{\"driver\": \"testdev\", \"addr\": \"00:03.0\", \"device_id\": 4660}]\n"
    "  },\n"
    "  \"workload\": {\"kind\": \"hotset\", \"vcpus\": 4, \"hot_pages\": 0.001,\n"
    "               \"hot_writes\": 0.9, \"pages_per_s\": 5000,\n"
    "               \"duration_ns\": 2000000000, \"fill_pages\": 16384},\n"
    "  \"link\": {\"bandwidth_bytes_per_s\": 1250000000, \"latency_ns\": 100000,\n"
    "           \"window_bytes\": 1048576, \"packet_bytes\": 65536},\n"
    "  \"migration\": {\"section_pages\": 4096},\n"
    "  \"commands\": [\n"
    "    {\"at_ns\": 0, \"execute\": \"migrate-set-parameters\",\n"
    "     \"arguments\": {\"downtime-limit\": 300, \"max-bandwidth\": 1250000000}},\n"
    "    {\"at_ns\": 500000000, \"execute\": \"migrate\",\n"
    "     \"arguments\": {\"uri\": \"sim:link0\"}}\n"
    "  ]\n"
    "}\n";

/* Peak resident set in KiB (VmHWM), or 0 when /proc is not there. */
static uint64_t bench_rss_peak_kib(void)
{
  FILE *file = fopen("/proc/self/status", "r");
  if (file == NULL) return 0;
  char line[256];
  uint64_t kib = 0;
  while (fgets(line, sizeof(line), file) != NULL) {
    unsigned long long value;
    if (sscanf(line, "VmHWM: %llu kB", &value) == 1) kib = value;
  }
  fclose(file);
  return kib;
}

/* Materialise-and-hash rate over a synthetic block whose pages all have been written. */
static double bench_ram_hash(uint64_t *check, uint64_t *bytes_out, double *wall_rate)
{
  struct sim_options options = {.seed = 1};
  struct sim *sim = sim_create(&options);
  SIM_ASSERT(sim != NULL);
  struct ram_block_options block_options = {.name = "pc.ram", .used_bytes = UINT64_C(256) << 20,
                                            .backing = RAM_BACKING_SYNTHETIC};
  struct ram_block *block = ram_block_create_with(sim, &block_options);
  for (uint64_t page = 0; page < block->page_count; page++) ram_store(block, page, 0, page);
  uint64_t sum = 0, passes = 16;
  double start = bench_seconds();
  double cpu_start = bench_cpu_seconds(CLOCK_THREAD_CPUTIME_ID);
  for (uint64_t pass = 0; pass < passes; pass++) {
    for (uint64_t page = 0; page < block->page_count; page++) sum += ram_page_hash(block, page);
  }
  double cpu_elapsed = bench_cpu_seconds(CLOCK_THREAD_CPUTIME_ID) - cpu_start;
  *wall_rate = (double)(passes * block->used_bytes) / (bench_seconds() - start);
  *bytes_out = passes * block->used_bytes;
  *check = sum;
  sim_destroy(sim);
  return (double)*bytes_out / cpu_elapsed;
}

int cli_bench_ram(FILE *out)
{
  static struct conform_scenario scenario;
  char error[CONFORM_ERROR_BYTES];
  bool ok = conform_scenario_parse(bench_ram_scenario, strlen(bench_ram_scenario),
                                   "<bench ram>", &scenario, error, sizeof(error));
  SIM_ASSERT(ok);
  uint64_t rss_before_kib = bench_rss_peak_kib();
  static struct conform_run_result result;
  double start = bench_seconds();
  double cpu_start = bench_cpu_seconds(CLOCK_PROCESS_CPUTIME_ID);
  conform_check(&scenario, false, NULL, NULL, &result);
  double elapsed = bench_seconds() - start;
  double cpu_elapsed = bench_cpu_seconds(CLOCK_PROCESS_CPUTIME_ID) - cpu_start;
  uint64_t rss_kib = bench_rss_peak_kib();
  const struct mig_precopy_stats *stats = &result.stats;
  fprintf(out, "64 GiB synthetic guest (pc.ram 64 GiB, 2 MiB pages; 4 vCPUs hotset 0.1%%/90%%, "
          "5000 pages/s each), migrated and run unmigrated, both oracles:\n");
  fprintf(out, "  verdict         %s%s%s\n", conform_verdict_name(result.verdict),
          result.verdict == CONFORM_PASS ? "" : ": ", result.failure);
  fprintf(out, "  wall time       %.2f s, CPU %.2f s (migrated run + reference run + oracles)\n",
          elapsed, cpu_elapsed);
  fprintf(out, "  peak RSS        %.1f MiB (VmHWM; %.1f MiB before)\n", rss_kib / 1024.0,
          rss_before_kib / 1024.0);
  fprintf(out, "  pages           %" PRIu64 " normal + %" PRIu64 " zero, %" PRIu64
          " rounds, %" PRIu64 " bytes sent\n", stats->normal_pages_count,
          stats->zero_pages_count, stats->rounds_count, stats->transferred_bytes);
  fprintf(out, "  simulated       %.3f s, downtime %.3f ms\n", result.end_ns / 1e9,
          (stats->end_ns - stats->stop_ns) / 1e6);
  int exit_code = result.verdict == CONFORM_PASS ? 0 : 1;
  conform_run_result_deinit(&result);
  uint64_t check, bytes;
  double wall_rate;
  double rate = bench_ram_hash(&check, &bytes, &wall_rate);
  fprintf(out, "synthetic pages materialised + XXH3-hashed: %.2f GB/s per CPU second "
          "(%.2f GB/s wall; %.1f GiB of page data, one thread, check %016" PRIx64 ")\n",
          rate / 1e9, wall_rate / 1e9, bytes / 1073741824.0, check);
  return exit_code;
}

/*
 * `migsim bench iommu`: amdvi_translate on one device with a mode-3 table of
 * 4 KiB pages.  "hit" cycles over 512 pages (inside the 1024-entry IOTLB);
 * "miss" strides over 65536 pages so every call misses and walks 3 levels.
 * "irq" remaps MSIs through legacy IRTEs (a DTE and an IRTE read per call).
 */
static double bench_iommu_rate(struct amdvi *iommu, uint64_t pages, uint64_t stride,
                               uint64_t steps, uint64_t *check)
{
  struct amdvi_xlate_result result;
  uint64_t sum = 0;
  double start = bench_seconds();
  for (uint64_t i = 0; i < steps; i++) {
    uint64_t page = (i * stride) % pages;
    amdvi_translate(iommu, 0x10, page << 12, (i & 1) != 0, &result);
    sum += result.address ^ (uint64_t)result.iotlb_hit;
  }
  double elapsed = bench_seconds() - start;
  *check ^= sum;
  return (double)steps / elapsed;
}

int cli_bench_iommu(FILE *out)
{
  struct sim_options options = {.seed = 1};
  struct sim *sim = sim_create(&options);
  SIM_ASSERT(sim != NULL);
  struct amdvi_config config;
  amdvi_config_default(&config);
  struct amdvi_guest guest;
  amdvi_guest_init(&guest, sim, &config, UINT64_C(64) << 20);
  amdvi_guest_setup(&guest, 8, 8, AMDVI_CONTROL_EVTLOG_EN | AMDVI_CONTROL_CMDBUF_EN);
  (void)amdvi_guest_dte_translate(&guest, 0x10, 3, 1);
  const uint64_t pages = 65536;
  for (uint64_t page = 0; page < pages; page++) {
    (void)amdvi_guest_map(&guest, 0x10, page << 12, UINT64_C(0x2000000) + ((page % 4096) << 12),
                          4096, true, true);
  }
  uint64_t check = 0;
  const uint64_t steps = 4000000;
  double hit_rate = bench_iommu_rate(guest.iommu, 512, 1, steps, &check);
  struct amdvi_stats hit_stats;
  amdvi_stats_get(guest.iommu, &hit_stats);
  double miss_rate = bench_iommu_rate(guest.iommu, pages, 1031, steps, &check);
  struct amdvi_stats stats;
  amdvi_stats_get(guest.iommu, &stats);
  /* Interrupt remapping: legacy IRTEs, IntCtl 10b, 256 vectors round robin. */
  uint64_t irt = amdvi_guest_page_alloc(&guest);
  uint64_t dte[4] = {0, 0, 1 | (UINT64_C(8) << 1) | irt | (UINT64_C(2) << 60), 0};
  amdvi_guest_dte_set(&guest, 0x20, dte);
  for (uint64_t i = 0; i < 256; i++) amdvi_guest_write64(&guest, irt + 4 * i, 1 | (i << 16));
  double irq_start = bench_seconds();
  for (uint64_t i = 0; i < steps; i++) {
    struct amdvi_msi in = {.address = 0xFEE00000, .data = (uint32_t)(i & 255)}, msi;
    check += amdvi_remap_msi(guest.iommu, 0x20, &in, &msi) == AMDVI_IRQ_REMAPPED ? msi.data : 0;
  }
  double irq_rate = (double)steps / (bench_seconds() - irq_start);
  fprintf(out, "amd-iommu translate, mode 3, 4 KiB pages, %" PRIu64 " calls each\n", steps);
  fprintf(out, "%8s  %16s  %12s\n", "case", "M translations/s", "IOTLB hits");
  fprintf(out, "%8s  %16.2f  %12" PRIu64 "\n", "hit", hit_rate / 1e6, hit_stats.iotlb_hit_count);
  fprintf(out, "%8s  %16.2f  %12" PRIu64 "\n", "miss", miss_rate / 1e6,
          stats.iotlb_hit_count - hit_stats.iotlb_hit_count);
  fprintf(out, "%8s  %16.2f  %12s\n", "irq", irq_rate / 1e6, "-");
  fprintf(out, "check %016" PRIx64 "\n", check);
  sim_destroy(sim);
  return 0;
}

#define BENCH_STREAM_REPEATS_MIN 3
#define BENCH_STREAM_REPEATS_MAX 50
#define BENCH_STREAM_BUDGET_S 1.0

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
static double bench_memcpy(const struct mig_membuf *input, int repeats)
{
  uint8_t *target = malloc(input->count == 0 ? 1 : input->count);
  SIM_ASSERT(target != NULL);
  memset(target, 1, input->count);
  double best = 0;
  for (int r = 0; r < repeats; r++) {
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

int cli_bench_stream(FILE *out, const char *mode, const char *path)
{
  bool load = strcmp(mode, "load") == 0;
  char message[MIG_PATH_BYTES_MAX + 512];
  static struct cli_input file;
  struct mig_membuf input;
  /*
   * The benches time the walker on a stream in memory, so the stream is
   * copied (from the mapping, or as decoded) into one allocation, which the
   * kernel backs with huge pages: walked in place from a mapping's 4 KiB
   * pages, each page record would also cost a TLB miss (docs/performance.md).
   */
  bool ok = cli_input_open(&file, path, message, sizeof message) &&
            cli_input_slurp(&file, &input, CLI_INSPECT_BYTES_MAX, message, sizeof message);
  cli_input_close(&file);
  if (!ok) {
    fprintf(stderr, "migsim bench: %s\n", message);
    mig_membuf_deinit(&input);
    return CONFORM_BAD_INPUT;
  }
  double best = 0, total = 0;
  uint64_t pages = 0;
  int repeats = 0;
  while (repeats < BENCH_STREAM_REPEATS_MIN ||
         (repeats < BENCH_STREAM_REPEATS_MAX && total < BENCH_STREAM_BUDGET_S)) {
    double elapsed = bench_stream_once(&input, load, &pages);
    if (elapsed < 0) {
      mig_membuf_deinit(&input);
      return CONFORM_BAD_INPUT;
    }
    if (repeats == 0 || elapsed < best) best = elapsed;
    total += elapsed;
    repeats++;
  }
  double copy = bench_memcpy(&input, repeats);
  double bytes = (double)input.count;
  fprintf(out, "%s %s\n  stream bytes   %zu\n  seconds        %.6f (best of %d)\n"
          "  GB/s           %.3f\n", mode, path, input.count, best, repeats,
          bytes / best / 1e9);
  if (load) fprintf(out, "  pages applied  %" PRIu64 "\n", pages);
  fprintf(out, "  memcpy GB/s    %.3f (same bytes, same run)\n"
          "  time / memcpy  %.2f\n", bytes / copy / 1e9, best / copy);
  mig_membuf_deinit(&input);
  return 0;
}
