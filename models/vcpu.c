/*
 * vcpu.c: the guest program of vcpu.h.
 *
 * One event per write, scheduled in guest time and converted to sim time by
 * the machine's VM clock.  Every choice is drawn from the migrated PRNG, so
 * the destination continues the exact sequence the source would have run.
 * The draw order of a write (value, then page, then word) is the original
 * program's, so the uniform workload reproduces earlier runs exactly.
 */
#include "sim_base.h"

#include "machine.h"
#include "testdev.h"
#include "vcpu.h"

#include <math.h>

#define CHECKSUM_MUL UINT64_C(0x9fb21c651e98df25)

static const struct vmstate_field vcpu_fields[] = {
    VMSTATE_UINT64_ARRAY(struct vcpu, prng.s, 4),
    VMSTATE_UINT64(struct vcpu, writes_count),
    VMSTATE_UINT64(struct vcpu, device_writes_count),
    VMSTATE_UINT64(struct vcpu, next_write_vm_ns),
};

static bool vcpu_workload_needed(void *opaque)
{
  const struct vcpu *vcpu = opaque;
  return vcpu->config.checksum;
}

static const struct vmstate_field vcpu_workload_fields[] = {
    VMSTATE_UINT64(struct vcpu, checksum),
    VMSTATE_UINT64(struct vcpu, sweep_page_index),
};

static const struct vmstate_desc vcpu_workload_vmstate = {
    .name = "cpu/workload",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = vcpu_workload_fields,
    .field_count = SIM_ARRAY_COUNT(vcpu_workload_fields),
    .needed = vcpu_workload_needed,
};

static const struct vmstate_desc *const vcpu_subsections[] = {
    &vcpu_workload_vmstate,
};

static int vcpu_post_load(void *opaque, int32_t version_id)
{
  const struct vcpu *vcpu = opaque;
  (void)version_id;
  /* xoshiro256** must never hold the all-zero state: refuse it rather than stall. */
  bool zero = (vcpu->prng.s[0] | vcpu->prng.s[1] | vcpu->prng.s[2] | vcpu->prng.s[3]) == 0;
  return zero ? -1 : 0;
}

const struct vmstate_desc vcpu_vmstate = {
    .name = "cpu",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = vcpu_fields,
    .field_count = SIM_ARRAY_COUNT(vcpu_fields),
    .subsections = vcpu_subsections,
    .subsection_count = SIM_ARRAY_COUNT(vcpu_subsections),
    .post_load = vcpu_post_load,
};

const char *vcpu_workload_name(enum vcpu_workload kind)
{
  switch (kind) {
  case VCPU_WORKLOAD_UNIFORM: return "uniform";
  case VCPU_WORKLOAD_IDLE: return "idle";
  case VCPU_WORKLOAD_HOTSET: return "hotset";
  case VCPU_WORKLOAD_SWEEP: return "sweep";
  case VCPU_WORKLOAD_ZIPF: return "zipf";
  }
  return "?";
}

/* Integral of x^-s over [a, b], a > 0: the weight of a bucket of ranks. */
static double zipf_integral(double a, double b, double s)
{
  if (fabs(s - 1.0) < 1e-12) return log(b / a);
  return (pow(b, 1.0 - s) - pow(a, 1.0 - s)) / (1.0 - s);
}

/*
 * Builds the zipf sampler's table at set-up: the first half of the buckets
 * are single ranks, the rest split the tail geometrically.  Floating point is
 * used here only, once, and its results are frozen into integers (STYLE
 * tangle 9): every draw during the run is an integer search of the table.
 */
static void vcpu_zipf_build(struct vcpu *vcpu, uint64_t rank_count)
{
  struct sim *sim = machine_sim(vcpu->machine);
  double s = vcpu->config.zipf_s_milli / 1000.0;
  uint64_t exact = SIM_MIN(rank_count, (uint64_t)VCPU_ZIPF_TABLE_MAX / 2);
  uint64_t tail = SIM_MIN(rank_count - exact, (uint64_t)VCPU_ZIPF_TABLE_MAX - exact);
  uint32_t count = (uint32_t)(exact + tail);
  vcpu->zipf_cdf = sim_alloc(sim, count * sizeof(uint64_t));
  vcpu->zipf_start = sim_alloc(sim, (count + 1) * sizeof(uint64_t));
  vcpu->zipf_bucket_count = count;
  double *weights = sim_alloc(sim, count * sizeof(double));
  double total = 0;
  for (uint32_t i = 0; i < count; i++) {
    uint64_t start = i;
    if (i >= exact) {
      double ratio = (double)rank_count / (double)exact;
      double at = (double)exact * pow(ratio, (double)(i - exact) / (double)tail);
      start = SIM_MAX((uint64_t)at, vcpu->zipf_start[i - 1] + 1);
      start = SIM_MIN(start, rank_count - (count - i));
    }
    vcpu->zipf_start[i] = start;
  }
  vcpu->zipf_start[count] = rank_count;
  for (uint32_t i = 0; i < count; i++) {
    SIM_ASSERT(vcpu->zipf_start[i] < vcpu->zipf_start[i + 1]);
    /* A single rank r (0-based) weighs (r + 1)^-s; a wider bucket, the integral around it. */
    weights[i] = i < exact ? pow((double)i + 1.0, -s)
                           : zipf_integral((double)vcpu->zipf_start[i] + 0.5,
                                           (double)vcpu->zipf_start[i + 1] + 0.5, s);
    total += weights[i];
  }
  double cumulative = 0;
  for (uint32_t i = 0; i < count; i++) {
    cumulative += weights[i];
    uint64_t scaled = (uint64_t)(cumulative / total * 9007199254740992.0); /* 2^53 */
    uint64_t previous = i == 0 ? 0 : vcpu->zipf_cdf[i - 1];
    vcpu->zipf_cdf[i] = SIM_MAX(scaled, previous);
  }
  vcpu->zipf_cdf[count - 1] = UINT64_C(1) << 53;
}

static uint64_t vcpu_zipf_rank(struct vcpu *vcpu)
{
  uint64_t u = sim_prng_below(&vcpu->prng, UINT64_C(1) << 53);
  uint32_t low = 0, high = vcpu->zipf_bucket_count - 1;
  while (low < high) { /* first bucket whose cumulative weight exceeds u */
    uint32_t mid = low + (high - low) / 2;
    if (vcpu->zipf_cdf[mid] > u) {
      high = mid;
    } else {
      low = mid + 1;
    }
  }
  uint64_t start = vcpu->zipf_start[low];
  return start + sim_prng_below(&vcpu->prng, vcpu->zipf_start[low + 1] - start);
}

uint64_t vcpu_pick_page(struct vcpu *vcpu, uint64_t page_count)
{
  SIM_ASSERT(page_count > 0);
  switch (vcpu->config.kind) {
  case VCPU_WORKLOAD_IDLE:
  case VCPU_WORKLOAD_UNIFORM:
    return sim_prng_below(&vcpu->prng, page_count);
  case VCPU_WORKLOAD_HOTSET: {
    uint64_t hot_count = SIM_MAX(page_count * vcpu->config.hot_pages_ppm / VCPU_PPM, 1);
    bool hot = sim_prng_below(&vcpu->prng, VCPU_PPM) < vcpu->config.hot_writes_ppm;
    if (hot || hot_count >= page_count) return sim_prng_below(&vcpu->prng, hot_count);
    return hot_count + sim_prng_below(&vcpu->prng, page_count - hot_count);
  }
  case VCPU_WORKLOAD_SWEEP: {
    uint64_t page = vcpu->sweep_page_index % page_count;
    vcpu->sweep_page_index = (page + 1) % page_count;
    return page;
  }
  case VCPU_WORKLOAD_ZIPF:
    return vcpu_zipf_rank(vcpu) % page_count;
  }
  SIM_ASSERT(false);
  return 0;
}

/* The vCPU's running time now (guest time unless throttled since an anchor). */
static uint64_t vcpu_cpu_now_ns(const struct vcpu *vcpu)
{
  uint64_t now_vm_ns = machine_vm_ns(vcpu->machine);
  if (now_vm_ns < vcpu->throttle_vm_ns) return vcpu->throttle_cpu_ns;
  uint64_t elapsed_ns = now_vm_ns - vcpu->throttle_vm_ns;
  return vcpu->throttle_cpu_ns + elapsed_ns / 100 * (100 - vcpu->throttle_pct) +
         elapsed_ns % 100 * (100 - vcpu->throttle_pct) / 100;
}

/* Sim time at which the vCPU's running time cpu_ns arrives on a running machine. */
static uint64_t vcpu_sim_time_ns(const struct vcpu *vcpu, uint64_t cpu_ns)
{
  uint64_t now_ns = sim_now_ns(machine_sim(vcpu->machine));
  uint64_t cpu_now_ns = vcpu_cpu_now_ns(vcpu);
  if (cpu_ns <= cpu_now_ns) return now_ns;
  uint64_t ahead_ns = cpu_ns - cpu_now_ns;
  uint64_t share = 100 - vcpu->throttle_pct; /* rounded up: the write is due when it fires */
  if (vcpu->throttle_pct != 0) ahead_ns = (ahead_ns * 100 + share - 1) / share;
  return now_ns + ahead_ns;
}

static void vcpu_schedule_next(struct vcpu *vcpu)
{
  uint64_t interval_ns = SIM_NS_PER_S / vcpu->config.pages_per_s;
  /* Jitter in [interval/2, 3*interval/2] keeps writes from aligning with rounds. */
  vcpu->next_write_vm_ns += interval_ns / 2 + sim_prng_below(&vcpu->prng, interval_ns + 1);
}

static void vcpu_fold(struct vcpu *vcpu, uint64_t page, uint64_t word, uint64_t value)
{
  uint64_t x = (vcpu->checksum << 7 | vcpu->checksum >> 57) ^ (page << 9 | word);
  vcpu->checksum = (x * CHECKSUM_MUL) ^ value;
}

/* The RAM half of a write: store, count, fold, trace. */
static void vcpu_store(struct vcpu *vcpu, struct ram_block *block, uint64_t page, uint64_t word,
                       uint64_t value)
{
  struct machine *machine = vcpu->machine;
  ram_store(block, page, (uint32_t)word, value);
  vcpu->writes_count++;
  vcpu_fold(vcpu, page, word, value);
  sim_trace(machine_sim(machine), "vcpu.write", machine_role_index(machine), page, word,
            value);
}

static void vcpu_on_wake(void *context, struct uffd_waiter *waiter);

/*
 * One write of the program.  False when it touched a page a postcopy
 * destination has not received yet: the write waits (vcpu_on_wake does it),
 * and with it the rest of the program, as a vCPU thread blocked in a fault.
 */
static bool vcpu_write_one(struct vcpu *vcpu)
{
  struct machine *machine = vcpu->machine;
  uint64_t value = sim_prng_u64(&vcpu->prng);
  bool to_device = vcpu->config.device_every != 0 && machine_device_count(machine) > 0 &&
                   (vcpu->writes_count + vcpu->device_writes_count + 1) %
                           vcpu->config.device_every == 0;
  if (to_device) {
    uint32_t reg = (uint32_t)sim_prng_below(&vcpu->prng, TESTDEV_REGS_COUNT);
    testdev_mmio_write(machine_testdev(machine, 0), vcpu->next_write_vm_ns, reg, value);
    vcpu->device_writes_count++;
    vcpu_fold(vcpu, UINT64_MAX, reg, value);
    return true;
  }
  struct ram_block *block = machine_ram(machine, vcpu->config.block_index);
  uint64_t page = vcpu_pick_page(vcpu, block->page_count);
  uint64_t word = sim_prng_below(&vcpu->prng, RAM_PAGE_BYTES / 8);
  struct uffd *uffd = machine_uffd(machine);
  if (uffd != NULL && !uffd_touch(uffd, &vcpu->waiter, vcpu->config.block_index, page,
                                  vcpu->index, vcpu_on_wake, vcpu)) {
    vcpu->blocked = true;
    vcpu->pending_page = page;
    vcpu->pending_word = word;
    vcpu->pending_value = value;
    return false;
  }
  vcpu_store(vcpu, block, page, word, value);
  return true;
}

static void vcpu_on_event(struct sim *sim, struct sim_event *event)
{
  struct vcpu *vcpu = SIM_CONTAINER_OF(event, struct vcpu, event);
  (void)sim;
  SIM_ASSERT(machine_running(vcpu->machine));
  /*
   * The write is due: exactly now unthrottled; a vCPU migrated while throttled
   * lags its guest time on the destination (the lag is the host's, not
   * migrated) and catches up with its overdue writes; later than planned also
   * after a postcopy fault held the program back.
   */
  SIM_ASSERT(vcpu_cpu_now_ns(vcpu) >= vcpu->next_write_vm_ns);
  SIM_ASSERT(!vcpu->blocked);
  if (!vcpu_write_one(vcpu)) return;
  vcpu_schedule_next(vcpu);
  vcpu_resume(vcpu);
}

/* The faulted page is in: the waiting write happens now, and the program goes on. */
static void vcpu_on_wake(void *context, struct uffd_waiter *waiter)
{
  struct vcpu *vcpu = context;
  SIM_ASSERT(waiter == &vcpu->waiter && vcpu->blocked);
  vcpu->blocked = false;
  struct ram_block *block = machine_ram(vcpu->machine, vcpu->config.block_index);
  vcpu_store(vcpu, block, vcpu->pending_page, vcpu->pending_word, vcpu->pending_value);
  vcpu_schedule_next(vcpu);
  if (machine_running(vcpu->machine)) vcpu_resume(vcpu);
}

void vcpu_init(struct vcpu *vcpu, struct machine *machine, uint32_t index,
               const struct vcpu_config *config)
{
  SIM_ASSERT(config->pages_per_s <= VCPU_PAGES_PER_S_MAX);
  SIM_ASSERT(config->block_index < machine_ram_count(machine));
  SIM_ASSERT(config->hot_pages_ppm <= VCPU_PPM && config->hot_writes_ppm <= VCPU_PPM);
  SIM_ASSERT(config->zipf_s_milli <= VCPU_ZIPF_S_MILLI_MAX);
  vcpu->machine = machine;
  vcpu->index = index;
  vcpu->config = *config;
  if (config->kind == VCPU_WORKLOAD_IDLE) vcpu->config.pages_per_s = 0;
  if (config->kind == VCPU_WORKLOAD_ZIPF) {
    /* Built from the configured length, so both sides agree whatever a resize did. */
    vcpu_zipf_build(vcpu, machine_ram(machine, config->block_index)->page_count);
  }
  sim_event_init(&vcpu->event, vcpu_on_event, "vcpu.tick");
}

/* Boot fill: random bytes on a dense block (the original program), a store per page otherwise. */
static void vcpu_fill(struct vcpu *vcpu, struct ram_block *block)
{
  uint64_t fill_pages = SIM_MIN(vcpu->config.fill_pages, block->page_count);
  if (block->backing == RAM_BACKING_DENSE) {
    /* In place: the bytes and the log are what ram_write of a filled page would leave. */
    for (uint64_t i = 0; i < fill_pages; i++) {
      sim_prng_fill(&vcpu->prng, ram_page_write(block, i), RAM_PAGE_BYTES);
    }
  } else {
    for (uint64_t i = 0; i < fill_pages; i++) {
      ram_store(block, i, 0, sim_prng_u64(&vcpu->prng));
    }
  }
  sim_trace(machine_sim(vcpu->machine), "vcpu.boot", machine_role_index(vcpu->machine),
            fill_pages, vcpu->index, 0);
}

void vcpu_boot(struct vcpu *vcpu)
{
  struct sim *sim = machine_sim(vcpu->machine);
  char stream[32];
  snprintf(stream, sizeof(stream), "guest/vcpu%" PRIu32, vcpu->index);
  sim_prng_stream(sim, &vcpu->prng, stream);
  vcpu_fill(vcpu, machine_ram(vcpu->machine, vcpu->config.block_index));
  vcpu->next_write_vm_ns = 0;
  vcpu->checksum = 0;
  vcpu->sweep_page_index = 0;
  if (vcpu->config.pages_per_s != 0) vcpu_schedule_next(vcpu);
}

void vcpu_resume(struct vcpu *vcpu)
{
  if (vcpu->config.pages_per_s == 0 || vcpu_done(vcpu) || vcpu->blocked) return;
  struct sim *sim = machine_sim(vcpu->machine);
  sim_event_schedule_at(sim, &vcpu->event, vcpu_sim_time_ns(vcpu, vcpu->next_write_vm_ns));
}

void vcpu_throttle_set(struct vcpu *vcpu, uint32_t pct)
{
  SIM_ASSERT(pct < 100);
  if (pct == vcpu->throttle_pct) return;
  vcpu->throttle_cpu_ns = vcpu_cpu_now_ns(vcpu);
  vcpu->throttle_vm_ns = machine_vm_ns(vcpu->machine);
  vcpu->throttle_pct = pct;
  sim_trace(machine_sim(vcpu->machine), "vcpu.throttle", vcpu->index, pct,
            vcpu->throttle_vm_ns, vcpu->throttle_cpu_ns);
  if (machine_running(vcpu->machine)) vcpu_resume(vcpu); /* re-arms at the new pace */
}

void vcpu_stop(struct vcpu *vcpu)
{
  sim_event_cancel(machine_sim(vcpu->machine), &vcpu->event);
}

bool vcpu_done(const struct vcpu *vcpu)
{
  return vcpu->config.pages_per_s == 0 || vcpu->next_write_vm_ns >= vcpu->config.duration_ns;
}
