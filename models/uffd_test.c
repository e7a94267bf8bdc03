/*
 * uffd_test.c: the postcopy destination's userfaultfd (faults, wakes, 2 MiB
 * host pages, blocktime), vCPUs blocked on missing pages, and the shared-
 * memory client.
 */
#include "sim_base.h"

#include "machine.h"
#include "shmclient.h"
#include "sim_check.h"
#include "uffd.h"

static struct sim *test_sim(uint64_t seed)
{
  struct sim_options options = {.seed = seed};
  struct sim *sim = sim_create(&options);
  ck_assert_ptr_nonnull(sim);
  return sim;
}

struct probe {
  struct uffd *uffd;
  uint32_t faults_count;
  uint32_t last_block, last_who;
  uint64_t last_page;
  uint32_t wakes_count;
  uint64_t wake_ns;
  struct sim *sim;
};

static void probe_fault(void *context, uint32_t block_index, uint64_t page_index, uint32_t who)
{
  struct probe *probe = context;
  probe->faults_count++;
  probe->last_block = block_index;
  probe->last_page = page_index;
  probe->last_who = who;
}

static void probe_wake(void *context, struct uffd_waiter *waiter)
{
  struct probe *probe = context;
  (void)waiter;
  probe->wakes_count++;
  probe->wake_ns = sim_now_ns(probe->sim);
}

START_TEST(uffd_touch_parks_until_placed)
{
  /* A touch of a missing page parks, calls the fault handler once, and wakes at placement. */
  struct sim *sim = test_sim(1);
  struct ram_block *blocks[2] = {ram_block_create(sim, "pc.ram", 64 * RAM_PAGE_BYTES),
                                 ram_block_create(sim, "pc.bios", 4 * RAM_PAGE_BYTES)};
  struct uffd *uffd = uffd_create(sim, blocks, 2, 1);
  struct probe probe = {.uffd = uffd, .sim = sim};
  uffd_fault_handler_set(uffd, &probe, probe_fault);
  uffd_missing_mark(uffd, 1, 0, 4);
  struct uffd_waiter waiter = {0};
  ck_assert(uffd_touch(uffd, &waiter, 1, 2, 0, probe_wake, &probe)); /* not armed yet */
  uffd_arm(uffd);
  ck_assert(uffd_touch(uffd, &waiter, 0, 2, 0, probe_wake, &probe)); /* present */
  ck_assert(!uffd_touch(uffd, &waiter, 1, 2, 0, probe_wake, &probe));
  ck_assert_uint_eq(probe.faults_count, 1);
  ck_assert_uint_eq(probe.last_block, 1);
  ck_assert_uint_eq(probe.last_page, 2);
  ck_assert_uint_eq(uffd_waiting_count(uffd), 1);
  ck_assert(uffd_place(uffd, 1, 3));           /* another page: still waiting */
  ck_assert_uint_eq(probe.wakes_count, 0);
  ck_assert(uffd_place(uffd, 1, 2));
  ck_assert_uint_eq(probe.wakes_count, 1);
  ck_assert_uint_eq(uffd_waiting_count(uffd), 0);
  ck_assert(!uffd_place(uffd, 1, 2));          /* a second placement is counted */
  struct uffd_stats stats;
  uffd_stats_get(uffd, &stats);
  ck_assert_uint_eq(stats.placed_twice_count, 1);
  ck_assert_uint_eq(stats.placed_count, 2);
  ck_assert_uint_eq(stats.missing_count, 2);
  ck_assert_uint_eq(stats.vcpu_faults_count[0], 1);
  uffd_disarm(uffd);
  sim_destroy(sim);
}
END_TEST

START_TEST(uffd_huge_page_wakes_only_when_whole)
{
  /* A 2 MiB host page is present only when all 512 target pages are placed. */
  struct sim *sim = test_sim(1);
  struct ram_block_options options = {.name = "mem", .used_bytes = 4u << 20,
                                      .host_page_bytes = 2u << 20};
  struct ram_block *block = ram_block_create_with(sim, &options);
  struct uffd *uffd = uffd_create(sim, &block, 1, 1);
  struct probe probe = {.uffd = uffd, .sim = sim};
  uffd_fault_handler_set(uffd, &probe, probe_fault);
  uffd_missing_mark(uffd, 0, 0, block->page_count);
  uffd_arm(uffd);
  struct uffd_waiter waiter = {0};
  ck_assert(!uffd_touch(uffd, &waiter, 0, 512 + 7, 0, probe_wake, &probe));
  for (uint64_t page = 512; page < 1023; page++) ck_assert(uffd_place(uffd, 0, page));
  ck_assert_uint_eq(probe.wakes_count, 0);
  ck_assert(uffd_host_page_missing(uffd, 0, 600));
  ck_assert(uffd_place(uffd, 0, 1023));
  ck_assert_uint_eq(probe.wakes_count, 1);
  ck_assert(!uffd_host_page_missing(uffd, 0, 600));
  ck_assert(uffd_host_page_missing(uffd, 0, 0)); /* the other host page */
  sim_destroy(sim);
}
END_TEST

struct blocktime_step {
  struct sim_event event;
  struct uffd *uffd;
  struct uffd_waiter *waiter;
  struct probe *probe;
  uint32_t who;
  uint64_t page;
  bool place;
};

static void blocktime_on_step(struct sim *sim, struct sim_event *event)
{
  (void)sim;
  struct blocktime_step *step = SIM_CONTAINER_OF(event, struct blocktime_step, event);
  if (step->place) {
    ck_assert(uffd_place(step->uffd, 0, step->page));
  } else {
    ck_assert(!uffd_touch(step->uffd, step->waiter, 0, step->page, step->who, probe_wake,
                          step->probe));
  }
}

START_TEST(uffd_blocktime_counts_all_blocked_overlap)
{
  /* vCPU 0 waits 10..30, vCPU 1 waits 20..50: per vCPU 20 and 30, all blocked 20..30 = 10. */
  struct sim *sim = test_sim(1);
  struct ram_block *block = ram_block_create(sim, "pc.ram", 8 * RAM_PAGE_BYTES);
  struct uffd *uffd = uffd_create(sim, &block, 1, 2);
  struct probe probe = {.uffd = uffd, .sim = sim};
  uffd_missing_mark(uffd, 0, 0, 8);
  uffd_arm(uffd);
  struct uffd_waiter waiters[2] = {{0}, {0}};
  struct blocktime_step steps[4] = {
      {.who = 0, .page = 1, .waiter = &waiters[0]}, {.who = 1, .page = 2, .waiter = &waiters[1]},
      {.page = 1, .place = true}, {.page = 2, .place = true}};
  const uint64_t at_ns[4] = {10, 20, 30, 50};
  for (uint32_t i = 0; i < 4; i++) {
    steps[i].uffd = uffd;
    steps[i].probe = &probe;
    sim_event_init(&steps[i].event, blocktime_on_step, "test.step");
    sim_event_schedule_at(sim, &steps[i].event, at_ns[i]);
  }
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
  struct uffd_stats stats;
  uffd_stats_get(uffd, &stats);
  ck_assert_uint_eq(stats.vcpu_blocktime_ns[0], 20);
  ck_assert_uint_eq(stats.vcpu_blocktime_ns[1], 30);
  ck_assert_uint_eq(stats.blocktime_ns, 10);
  ck_assert_uint_eq(stats.fault_latency_ns_sum, 50);
  ck_assert_uint_eq(probe.wakes_count, 2);
  sim_destroy(sim);
}
END_TEST

static struct machine_config uffd_machine_config(void)
{
  struct machine_config config = {.type = "migsim-1.0", .ram_count = 1, .vcpu_count = 2};
  snprintf(config.ram[0].name, sizeof(config.ram[0].name), "pc.ram");
  config.ram[0].bytes = 256 * RAM_PAGE_BYTES;
  for (uint32_t i = 0; i < 2; i++) {
    config.vcpus[i] = (struct vcpu_config){.pages_per_s = 20000, .duration_ns = SIM_NS_PER_S / 10,
                                           .fill_pages = 16, .checksum = true};
  }
  return config;
}

/* Places the pages faulted on, in batches 50 us after the first fault of each (a round trip). */
struct placer {
  struct uffd *uffd;
  struct sim *sim;
  struct sim_event event;
  uint64_t queue[64];
  uint32_t count;
};

static void placer_fault(void *context, uint32_t block_index, uint64_t page_index, uint32_t who)
{
  struct placer *placer = context;
  (void)who;
  ck_assert_uint_eq(block_index, 0);
  ck_assert_uint_lt(placer->count, 64);
  placer->queue[placer->count++] = page_index;
  if (sim_event_armed(&placer->event)) return; /* the batch in flight takes it */
  sim_event_schedule_at(placer->sim, &placer->event, sim_now_ns(placer->sim) + 50000);
}

static void placer_on_event(struct sim *sim, struct sim_event *event)
{
  (void)sim;
  struct placer *placer = SIM_CONTAINER_OF(event, struct placer, event);
  for (uint32_t i = 0; i < placer->count; i++) {
    uint64_t page = placer->queue[i];
    if (uffd_missing(placer->uffd, 0, page)) uffd_place(placer->uffd, 0, page);
  }
  placer->count = 0;
}

/* Runs the two-vCPU program; with_faults: every page missing at boot and placed on demand. */
static void uffd_vcpu_run(bool with_faults, uint64_t *hash, uint64_t *checksum,
                          struct uffd_stats *stats)
{
  struct sim *sim = test_sim(5);
  struct machine_config config = uffd_machine_config();
  struct machine *machine = machine_create(sim, &config, 1);
  machine_boot(machine);
  struct ram_block *block = machine_ram(machine, 0);
  struct placer placer = {.sim = sim};
  sim_event_init(&placer.event, placer_on_event, "test.placer");
  if (with_faults) {
    placer.uffd = uffd_create(sim, &block, 1, 2);
    uffd_fault_handler_set(placer.uffd, &placer, placer_fault);
    uffd_missing_mark(placer.uffd, 0, 0, block->page_count);
    uffd_arm(placer.uffd);
    machine_uffd_set(machine, placer.uffd);
  }
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
  ck_assert(machine_workload_done(machine));
  *hash = ram_block_hash(block);
  *checksum = machine_vcpu(machine, 0)->checksum ^ machine_vcpu(machine, 1)->checksum;
  if (with_faults) uffd_stats_get(placer.uffd, stats);
  sim_destroy(sim);
}

START_TEST(uffd_vcpu_blocked_writes_land_unchanged)
{
  /* vCPUs that wait on missing pages end with the memory and checksums of a run without. */
  uint64_t hash_ref, checksum_ref, hash, checksum;
  struct uffd_stats stats = {0};
  uffd_vcpu_run(false, &hash_ref, &checksum_ref, &stats);
  uffd_vcpu_run(true, &hash, &checksum, &stats);
  ck_assert_uint_eq(hash, hash_ref);
  ck_assert_uint_eq(checksum, checksum_ref);
  ck_assert_uint_gt(stats.vcpu_faults_count[0], 10);
  ck_assert_uint_gt(stats.vcpu_faults_count[1], 10);
  /* Each fault waits at most 50 us, the first of each batch exactly 50 us. */
  ck_assert_uint_ge(stats.vcpu_blocktime_ns[0], 50000);
  ck_assert_uint_le(stats.vcpu_blocktime_ns[0], stats.vcpu_faults_count[0] * 50000);
  ck_assert_uint_le(stats.blocktime_ns, stats.vcpu_blocktime_ns[0]);
}
END_TEST

static struct shmclient_config client_config(void)
{
  return (struct shmclient_config){.block_index = 0, .map_offset_bytes = 16 * RAM_PAGE_BYTES,
                                   .map_bytes = 32 * RAM_PAGE_BYTES,
                                   .client_base = UINT64_C(0x7f0000000000),
                                   .reads_per_s = 10000, .duration_ns = SIM_NS_PER_S / 100};
}

START_TEST(shmclient_translate_maps_its_region_only)
{
  /* The mapping table turns client addresses into block pages, and nothing outside it. */
  struct sim *sim = test_sim(1);
  struct machine_config config = uffd_machine_config();
  struct machine *machine = machine_create(sim, &config, 1);
  struct shmclient_config cc = client_config();
  struct shmclient *client = shmclient_create(machine, &cc, 0);
  uint32_t block_index;
  uint64_t page;
  ck_assert(shmclient_translate(client, cc.client_base + 5 * RAM_PAGE_BYTES + 17, &block_index,
                                &page));
  ck_assert_uint_eq(block_index, 0);
  ck_assert_uint_eq(page, 21);
  ck_assert(!shmclient_translate(client, cc.client_base - 1, &block_index, &page));
  ck_assert(!shmclient_translate(client, cc.client_base + cc.map_bytes, &block_index, &page));
  cc.map_bytes = 300 * RAM_PAGE_BYTES;
  ck_assert(!shmclient_config_valid(machine, &cc)); /* past the block's end */
  sim_destroy(sim);
}
END_TEST

/* A client on a machine whose pages are all missing, placed 20 us after each fault. */
static void shmclient_run(bool registered, struct shmclient_stats *stats,
                          struct uffd_stats *uffd_stats)
{
  struct sim *sim = test_sim(3);
  struct machine_config config = uffd_machine_config();
  config.vcpus[0].pages_per_s = 0;
  config.vcpus[1].pages_per_s = 0;
  struct machine *machine = machine_create(sim, &config, 1);
  machine_boot(machine);
  struct ram_block *block = machine_ram(machine, 0);
  struct placer placer = {.sim = sim};
  sim_event_init(&placer.event, placer_on_event, "test.placer");
  placer.uffd = uffd_create(sim, &block, 1, 2);
  uffd_fault_handler_set(placer.uffd, &placer, placer_fault);
  uffd_missing_mark(placer.uffd, 0, 0, block->page_count);
  uffd_arm(placer.uffd);
  machine_uffd_set(machine, placer.uffd);
  struct shmclient_config cc = client_config();
  struct shmclient *client = shmclient_create(machine, &cc, 2);
  if (registered) shmclient_register(client);
  shmclient_start(client);
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
  shmclient_stats_get(client, stats);
  uffd_stats_get(placer.uffd, uffd_stats);
  sim_destroy(sim);
}

START_TEST(shmclient_faults_are_served_for_it)
{
  /* A registered client waits for each missing page; an unregistered one reads stale pages. */
  struct shmclient_stats stats;
  struct uffd_stats uffd_stats;
  shmclient_run(true, &stats, &uffd_stats);
  ck_assert_uint_ge(stats.reads_count, 50);
  ck_assert_uint_gt(stats.faults_count, 0);
  ck_assert_uint_le(stats.faults_count, 32);        /* a region of 32 pages */
  ck_assert_uint_eq(stats.stale_reads_count, 0);
  ck_assert_uint_eq(uffd_stats.client_faults_count, stats.faults_count);
  ck_assert_uint_eq(uffd_stats.client_blocktime_ns, stats.blocked_ns);
  ck_assert_uint_eq(uffd_stats.vcpu_faults_count[0], 0);
  shmclient_run(false, &stats, &uffd_stats);
  ck_assert_uint_eq(stats.faults_count, 0);
  ck_assert_uint_eq(stats.stale_reads_count, stats.reads_count);
}
END_TEST

Suite *uffd_suite(void)
{
  Suite *suite = suite_create("uffd");
  TCase *core = tcase_create("core");
  tcase_add_test(core, uffd_touch_parks_until_placed);
  tcase_add_test(core, uffd_huge_page_wakes_only_when_whole);
  tcase_add_test(core, uffd_blocktime_counts_all_blocked_overlap);
  tcase_add_test(core, uffd_vcpu_blocked_writes_land_unchanged);
  suite_add_tcase(suite, core);
  TCase *client = tcase_create("shmclient");
  tcase_add_test(client, shmclient_translate_maps_its_region_only);
  tcase_add_test(client, shmclient_faults_are_served_for_it);
  suite_add_tcase(suite, client);
  return suite;
}
