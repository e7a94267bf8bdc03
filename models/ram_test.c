/*
 * ram_test.c: RAM blocks, their dirty log, the synthetic backing, and the
 * page choices of the vCPU workloads.
 */
#include "sim_base.h"

#include "machine.h"
#include "ram.h"
#include "sim_check.h"

#include <xxhash.h>

static struct sim *test_sim(void)
{
  struct sim_options options = {.seed = 1};
  struct sim *sim = sim_create(&options);
  ck_assert_ptr_nonnull(sim);
  return sim;
}

START_TEST(ram_write_logs_touched_pages)
{
  /* A write that straddles a page boundary must log both pages and nothing else. */
  struct sim *sim = test_sim();
  struct ram_block *block = ram_block_create(sim, "pc.ram", 16 * RAM_PAGE_BYTES);
  uint8_t bytes[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  ram_write(block, 3 * RAM_PAGE_BYTES - 4, bytes, sizeof(bytes));
  ck_assert_uint_eq(block->dirty_log[0], (UINT64_C(1) << 2) | (UINT64_C(1) << 3));
  ck_assert_int_eq(memcmp(block->bytes + 3 * RAM_PAGE_BYTES - 4, bytes, 8), 0);
  ck_assert(!ram_page_is_zero(block, 2));
  ck_assert(ram_page_is_zero(block, 4));
  sim_destroy(sim);
}
END_TEST

START_TEST(ram_dirty_sync_counts_new_bits_only)
{
  /* Sync ORs the log into the bitmap, clears the log, and counts only fresh bits. */
  struct sim *sim = test_sim();
  struct ram_block *block = ram_block_create(sim, "pc.ram", 130 * RAM_PAGE_BYTES);
  uint64_t bitmap[3] = {0, 0, 0};
  uint8_t byte = 0xff;
  ram_write(block, 0, &byte, 1);
  ram_write(block, 129 * RAM_PAGE_BYTES, &byte, 1);
  ck_assert_uint_eq(ram_dirty_sync(block, bitmap), 2);
  ck_assert_uint_eq(block->dirty_log[0] | block->dirty_log[2], 0);
  ram_write(block, 0, &byte, 1);
  ram_write(block, 5 * RAM_PAGE_BYTES, &byte, 1);
  ck_assert_uint_eq(ram_dirty_sync(block, bitmap), 1);
  ck_assert_uint_eq(bitmap[0], UINT64_C(1) | (UINT64_C(1) << 5));
  ck_assert_uint_eq(bitmap[2], UINT64_C(1) << 1);
  sim_destroy(sim);
}
END_TEST

START_TEST(ram_dirty_all_sets_exactly_page_count_bits)
{
  /* The first sync sees every page: no bit past the block's end may be set. */
  struct sim *sim = test_sim();
  struct ram_block *block = ram_block_create(sim, "pc.bios", 70 * RAM_PAGE_BYTES);
  uint64_t bitmap[2] = {0, 0};
  ram_dirty_all(block);
  ck_assert_uint_eq(ram_dirty_sync(block, bitmap), 70);
  ck_assert_uint_eq(bitmap[1], (UINT64_C(1) << 6) - 1);
  sim_destroy(sim);
}
END_TEST

START_TEST(ram_page_mut_does_not_log)
{
  /* Loading writes through ram_page_mut, which must leave the dirty log alone. */
  struct sim *sim = test_sim();
  struct ram_block *block = ram_block_create(sim, "pc.ram", 4 * RAM_PAGE_BYTES);
  uint64_t before = ram_page_hash(block, 1);
  ram_page_mut(block, 1)[7] = 0x42;
  ck_assert_uint_eq(block->dirty_log[0], 0);
  ck_assert_uint_ne(ram_page_hash(block, 1), before);
  sim_destroy(sim);
}
END_TEST

START_TEST(ram_page_write_is_ram_write_in_place)
{
  /* Filling ram_page_write's page leaves the bytes, log and count a whole-page ram_write does. */
  struct sim *sim = test_sim();
  struct ram_block *copied = ram_block_create(sim, "pc.ram", 8 * RAM_PAGE_BYTES);
  struct ram_block *in_place = ram_block_create(sim, "vga.vram", 8 * RAM_PAGE_BYTES);
  static uint8_t page[RAM_PAGE_BYTES];
  for (uint32_t i = 0; i < RAM_PAGE_BYTES; i++) page[i] = (uint8_t)(i * 7 + 1);
  ram_write(copied, 5 * RAM_PAGE_BYTES, page, sizeof(page));
  uint8_t *bytes = ram_page_write(in_place, 5);
  ck_assert_ptr_eq(bytes, ram_page(in_place, 5));
  memcpy(bytes, page, sizeof(page));
  ck_assert_uint_eq(in_place->dirty_log[0], UINT64_C(1) << 5);
  ck_assert_uint_eq(in_place->dirty_log[0], copied->dirty_log[0]);
  ck_assert_uint_eq(in_place->writes_count, copied->writes_count);
  ck_assert_uint_eq(ram_page_hash(in_place, 5), ram_page_hash(copied, 5));
  ck_assert(ram_page_is_zero(in_place, 4) && ram_page_is_zero(in_place, 6));
  sim_destroy(sim);
}
END_TEST

START_TEST(ram_page_is_zero_sees_every_byte)
{
  /* One non-zero byte anywhere (line starts, line ends, the last byte) makes the page non-zero. */
  struct sim *sim = test_sim();
  struct ram_block *block = ram_block_create(sim, "pc.ram", 2 * RAM_PAGE_BYTES);
  static const uint32_t offsets[] = {0, 7, 8, 63, 64, 2049, RAM_PAGE_BYTES - 64,
                                     RAM_PAGE_BYTES - 1};
  for (size_t i = 0; i < SIM_ARRAY_COUNT(offsets); i++) {
    ram_page_mut(block, 1)[offsets[i]] = 0x80;
    ck_assert_msg(!ram_page_is_zero(block, 1), "offset %u", offsets[i]);
    ram_page_mut(block, 1)[offsets[i]] = 0;
    ck_assert(ram_page_is_zero(block, 1));
  }
  ck_assert(ram_page_is_zero(block, 0));
  sim_destroy(sim);
}
END_TEST

static struct ram_block *synthetic(struct sim *sim, const char *name, uint64_t bytes,
                                   uint64_t max_bytes)
{
  struct ram_block_options options = {.name = name, .used_bytes = bytes, .max_bytes = max_bytes,
                                      .backing = RAM_BACKING_SYNTHETIC};
  return ram_block_create_with(sim, &options);
}

START_TEST(ram_synth_fill_is_pure)
{
  /* Same (key, page, generation) gives the same bytes; changing any one changes every word. */
  static uint8_t a[RAM_PAGE_BYTES], b[RAM_PAGE_BYTES];
  static uint64_t pool[RAM_PAGE_BYTES / 8], pool2[RAM_PAGE_BYTES / 8];
  ram_synth_pool(77, pool);
  ram_synth_pool(77, pool2);
  ck_assert_int_eq(memcmp(pool, pool2, sizeof(pool)), 0);
  ram_synth_fill(pool, 77, 5, 3, a);
  ram_synth_fill(pool2, 77, 5, 3, b);
  ck_assert_int_eq(memcmp(a, b, RAM_PAGE_BYTES), 0);
  uint64_t word0;
  memcpy(&word0, a, 8);
  ck_assert_uint_eq(word0, UINT64_C(3) << 32 | 5);
  uint64_t wa[RAM_PAGE_BYTES / 8], wb[RAM_PAGE_BYTES / 8];
  memcpy(wa, a, sizeof(wa));
  const struct { uint64_t key, page; uint32_t generation; } others[] = {{78, 5, 3}, {77, 6, 3},
                                                                       {77, 5, 4}};
  for (size_t k = 0; k < SIM_ARRAY_COUNT(others); k++) {
    ram_synth_pool(others[k].key, pool2);
    ram_synth_fill(pool2, others[k].key, others[k].page, others[k].generation, b);
    memcpy(wb, b, sizeof(wb));
    for (uint32_t i = 1; i < RAM_PAGE_BYTES / 8; i++) ck_assert_uint_ne(wa[i], wb[i]);
  }
  /* Not degenerate: no two neighbouring words of a page are equal. */
  for (uint32_t i = 2; i < RAM_PAGE_BYTES / 8; i++) ck_assert_uint_ne(wa[i], wa[i - 1]);
  ck_assert_uint_ne(ram_synth_key(1, "pc.ram"), ram_synth_key(1, "pc.bios"));
  ck_assert_uint_ne(ram_synth_key(1, "pc.ram"), ram_synth_key(2, "pc.ram"));
}
END_TEST

START_TEST(ram_synthetic_store_load_and_hash)
{
  /*
   * A store advances the generation and logs; a loaded copy hashes the same and
   * is canonical (its generation stands for its bytes), a corrupted one is not.
   */
  struct sim *sim = test_sim();
  struct ram_block *source = synthetic(sim, "pc.ram", 64 * RAM_PAGE_BYTES, 0);
  struct ram_block *dest = synthetic(sim, "pc.ram", 64 * RAM_PAGE_BYTES, 0);
  ck_assert_uint_eq(source->content_key, dest->content_key);
  ck_assert(ram_page_is_zero(source, 9));
  ck_assert_uint_eq(ram_page_hash(source, 9), source->zero_hash);
  ram_store(source, 9, 0, 1);
  ram_store(source, 9, 3, 2);
  ck_assert_uint_eq(ram_page_generation(source, 9), 2);
  ck_assert_uint_eq(source->dirty_log[0], UINT64_C(1) << 9);
  ck_assert(!ram_page_is_zero(source, 9));
  uint8_t scratch[RAM_PAGE_BYTES];
  const uint8_t *bytes = ram_page_read(source, 9, scratch);
  ck_assert_uint_eq(ram_page_hash(source, 9), XXH3_64bits(bytes, RAM_PAGE_BYTES));
  ram_page_load(dest, 9, bytes);
  ck_assert_uint_eq(dest->dirty_log[0], 0);
  ck_assert_uint_eq(ram_page_generation(dest, 9), 2);
  ck_assert_uint_eq(ram_page_hash(dest, 9), ram_page_hash(source, 9));
  ck_assert_uint_eq(ram_page_canonical(source, 9), 2);
  ck_assert_uint_eq(ram_page_canonical(dest, 9), 2);
  ck_assert_uint_eq(ram_next_touched(dest, 0), 9);
  ck_assert_uint_eq(ram_next_touched(dest, 10), 64);
  /* A corrupted copy keeps its own digest: the oracle sees the difference. */
  uint8_t bad[RAM_PAGE_BYTES];
  memcpy(bad, bytes, sizeof(bad));
  bad[100] ^= 1;
  ram_page_load(dest, 9, bad);
  ck_assert_uint_eq(ram_page_generation(dest, 9), 2);
  ck_assert_uint_ne(ram_page_hash(dest, 9), ram_page_hash(source, 9));
  ck_assert_uint_eq(ram_page_canonical(dest, 9), 0);
  ck_assert(!ram_page_is_zero(dest, 9));
  /* The last word differing, or the page index in word 0, is caught as well. */
  memcpy(bad, bytes, sizeof(bad));
  bad[RAM_PAGE_BYTES - 1] ^= 0x80;
  ram_page_load(dest, 9, bad);
  ck_assert_uint_eq(ram_page_canonical(dest, 9), 0);
  ram_page_load(dest, 10, bytes);
  ck_assert_uint_eq(ram_page_canonical(dest, 10), 0);
  ck_assert_uint_ne(ram_page_hash(dest, 10), ram_page_hash(source, 10));
  ram_page_load_zero(dest, 10);
  ram_page_load(dest, 9, bytes);
  ck_assert_uint_eq(ram_page_canonical(dest, 9), 2);
  ram_page_load(dest, 9, bad);
  /* A guest store on the destination makes the page the generator's again. */
  ram_store(dest, 9, 0, 5);
  ram_store(source, 9, 0, 5);
  ck_assert_uint_eq(ram_page_hash(dest, 9), ram_page_hash(source, 9));
  ram_page_load_zero(dest, 9);
  ck_assert(ram_page_is_zero(dest, 9));
  sim_destroy(sim);
}
END_TEST

START_TEST(ram_block_resize_zeroes_the_dropped_tail)
{
  /* Resizing keeps pages below the new length, zeroes and un-logs the ones it drops. */
  struct sim *sim = test_sim();
  struct ram_block *block = synthetic(sim, "/rom@etc/acpi/tables", 8 * RAM_PAGE_BYTES,
                                      32 * RAM_PAGE_BYTES);
  ck_assert(block->resizable);
  ck_assert_uint_eq(block->dirty_words_count, 1);
  ram_block_resize(block, 20 * RAM_PAGE_BYTES);
  ck_assert_uint_eq(block->page_count, 20);
  ram_store(block, 3, 0, 1);
  ram_store(block, 15, 0, 1);
  ram_block_resize(block, 10 * RAM_PAGE_BYTES);
  ck_assert_uint_eq(block->page_count, 10);
  ck_assert_uint_eq(block->resize_count, 2);
  /* QEMU marks the whole new used range dirty; nothing past it stays logged. */
  ck_assert_uint_eq(block->dirty_log[0], (UINT64_C(1) << 10) - 1);
  ram_block_resize(block, 20 * RAM_PAGE_BYTES);
  ck_assert(ram_page_is_zero(block, 15));
  ck_assert(!ram_page_is_zero(block, 3));
  struct ram_block *dense = ram_block_create_with(
      sim, &(struct ram_block_options){.name = "d", .used_bytes = RAM_PAGE_BYTES,
                                       .max_bytes = 4 * RAM_PAGE_BYTES});
  ram_block_resize(dense, 4 * RAM_PAGE_BYTES);
  ram_store(dense, 3, 1, 0xabcdef);
  ram_block_resize(dense, RAM_PAGE_BYTES);
  ram_block_resize(dense, 4 * RAM_PAGE_BYTES);
  ck_assert(ram_page_is_zero(dense, 3));
  ram_dirty_all(dense);
  ck_assert_uint_eq(dense->dirty_log[0], 0xf);
  sim_destroy(sim);
}
END_TEST

START_TEST(ram_block_options_host_pages_and_shared)
{
  /* 2 MiB host pages keep a 4 KiB dirty log; shared and backing are recorded as given. */
  struct sim *sim = test_sim();
  struct ram_block_options options = {.name = "pc.ram", .used_bytes = UINT64_C(4) << 20,
                                      .host_page_bytes = RAM_HOST_PAGE_BYTES_MAX,
                                      .backing = RAM_BACKING_SYNTHETIC, .shared = true};
  struct ram_block *block = ram_block_create_with(sim, &options);
  ck_assert_uint_eq(block->host_page_bytes, RAM_HOST_PAGE_BYTES_MAX);
  ck_assert_uint_eq(block->page_count, 1024);
  ck_assert_uint_eq(block->dirty_words_count, 16);
  ck_assert(block->shared);
  ck_assert(!block->resizable);
  ck_assert_ptr_null(block->bytes);
  ram_store(block, 513, 0, 1);
  ck_assert_uint_eq(block->dirty_log[8], UINT64_C(1) << 1);
  struct ram_block *plain = ram_block_create(sim, "pc.bios", 2 * RAM_PAGE_BYTES);
  ck_assert_uint_eq(plain->host_page_bytes, RAM_PAGE_BYTES);
  ck_assert(!plain->shared);
  ck_assert_int_eq(plain->backing, RAM_BACKING_DENSE);
  sim_destroy(sim);
}
END_TEST

/* A one-block machine whose vCPU 0 runs config; page picks come from vcpu_pick_page. */
static struct machine *workload_machine(struct sim *sim, const struct vcpu_config *config,
                                        uint64_t pages)
{
  static struct machine_config machine_config;
  memset(&machine_config, 0, sizeof(machine_config));
  snprintf(machine_config.type, sizeof(machine_config.type), "t");
  snprintf(machine_config.ram[0].name, sizeof(machine_config.ram[0].name), "pc.ram");
  machine_config.ram[0].bytes = pages * RAM_PAGE_BYTES;
  machine_config.ram[0].backing = RAM_BACKING_SYNTHETIC;
  machine_config.ram_count = 1;
  machine_config.vcpu = *config;
  struct machine *machine = machine_create(sim, &machine_config, 0);
  machine_boot(machine);
  return machine;
}

START_TEST(vcpu_pick_page_follows_the_workload)
{
  /* Hot set share, sweep order and zipf's head weight match their definitions. */
  struct sim *sim = test_sim();
  struct vcpu_config hot = {.kind = VCPU_WORKLOAD_HOTSET, .pages_per_s = 1, .duration_ns = 1,
                            .hot_pages_ppm = 100000, .hot_writes_ppm = 900000};
  struct vcpu *vcpu = (struct vcpu *)machine_vcpu(workload_machine(sim, &hot, 1000), 0);
  uint64_t hot_hits = 0;
  for (int i = 0; i < 100000; i++) hot_hits += vcpu_pick_page(vcpu, 1000) < 100;
  ck_assert_uint_gt(hot_hits, 89000); /* expected 90000 */
  ck_assert_uint_lt(hot_hits, 91000);
  struct vcpu_config sweep = {.kind = VCPU_WORKLOAD_SWEEP, .pages_per_s = 1, .duration_ns = 1};
  vcpu = (struct vcpu *)machine_vcpu(workload_machine(sim, &sweep, 10), 0);
  for (uint64_t i = 0; i < 25; i++) ck_assert_uint_eq(vcpu_pick_page(vcpu, 10), i % 10);
  /* zipf s = 1 over 100000 ranks: P(rank 0) = 1 / H(100000) = 0.0830. */
  struct vcpu_config zipf = {.kind = VCPU_WORKLOAD_ZIPF, .pages_per_s = 1, .duration_ns = 1,
                             .zipf_s_milli = 1000};
  vcpu = (struct vcpu *)machine_vcpu(workload_machine(sim, &zipf, 100000), 0);
  uint64_t head = 0, tail = 0;
  for (int i = 0; i < 200000; i++) {
    uint64_t page = vcpu_pick_page(vcpu, 100000);
    ck_assert_uint_lt(page, 100000);
    head += page == 0;
    tail += page >= 50000;
  }
  ck_assert_uint_gt(head, 15900); /* 16600 expected */
  ck_assert_uint_lt(head, 17300);
  ck_assert_uint_gt(tail, 10000); /* ln 2 / H = 0.0575: 11500 expected */
  ck_assert_uint_lt(tail, 13000);
  sim_destroy(sim);
}
END_TEST

/* What the resize notifier saw: calls, the last old length and the new one. */
struct resize_probe {
  uint32_t calls_count;
  uint64_t old_used_bytes;
  uint64_t new_used_bytes;
  uint64_t sim_ns;                 /* sim time of the last call */
  uint64_t vm_ns;                  /* guest time of the last call */
  struct machine *machine;         /* optional, for vm_ns */
  struct sim *sim;
};

static void resize_probe_on_resized(void *context, struct ram_block *block,
                                    uint64_t old_used_bytes)
{
  struct resize_probe *probe = context;
  probe->calls_count++;
  probe->old_used_bytes = old_used_bytes;
  probe->new_used_bytes = block->used_bytes;
  probe->sim_ns = sim_now_ns(probe->sim);
  if (probe->machine != NULL) probe->vm_ns = machine_vm_ns(probe->machine);
}

START_TEST(ram_block_resize_notifies_after_the_change)
{
  /* The notifier runs once per real change, after it, with the old length; dense and synthetic. */
  struct sim *sim = test_sim();
  struct resize_probe probe = {.sim = sim};
  for (int backing = 0; backing < 2; backing++) {
    struct ram_block *block = ram_block_create_with(
        sim, &(struct ram_block_options){
                 .name = "/rom@etc/acpi/tables", .used_bytes = 4 * RAM_PAGE_BYTES,
                 .max_bytes = 100 * RAM_PAGE_BYTES,
                 .backing = backing ? RAM_BACKING_SYNTHETIC : RAM_BACKING_DENSE});
    probe.calls_count = 0;
    ram_block_resized_set(block, &probe, resize_probe_on_resized);
    ram_store(block, 3, 7, 0x1234);
    uint64_t hash3 = ram_page_hash(block, 3);
    ram_block_resize(block, 4 * RAM_PAGE_BYTES); /* the same length: no change, no call */
    ck_assert_uint_eq(probe.calls_count, 0);
    ram_block_resize(block, 70 * RAM_PAGE_BYTES);
    ck_assert_uint_eq(probe.calls_count, 1);
    ck_assert_uint_eq(probe.old_used_bytes, 4 * RAM_PAGE_BYTES);
    ck_assert_uint_eq(probe.new_used_bytes, 70 * RAM_PAGE_BYTES);
    /* Growth: the new pages are zero (generation 0); the old ones kept their bytes. */
    ck_assert(ram_page_is_zero(block, 69));
    ck_assert_uint_eq(ram_page_hash(block, 69), block->zero_hash);
    ck_assert_uint_eq(ram_page_hash(block, 3), hash3);
    if (backing) ck_assert_uint_eq(ram_page_generation(block, 69), 0);
    ck_assert_uint_eq(block->dirty_log[0], UINT64_MAX);
    ck_assert_uint_eq(block->dirty_log[1], (UINT64_C(1) << 6) - 1);
    ram_store(block, 66, 0, 5);
    ram_block_resize(block, 2 * RAM_PAGE_BYTES);
    ck_assert_uint_eq(probe.calls_count, 2);
    ck_assert_uint_eq(probe.old_used_bytes, 70 * RAM_PAGE_BYTES);
    ck_assert_uint_eq(block->dirty_log[0], 3);
    ck_assert_uint_eq(block->dirty_log[1], 0);
    /* Shrink then grow: bytes beyond the shrink are gone. */
    ram_block_resized_set(block, NULL, NULL);
    ram_block_resize(block, 70 * RAM_PAGE_BYTES);
    ck_assert_uint_eq(probe.calls_count, 2);
    ck_assert(ram_page_is_zero(block, 3));
    ck_assert(ram_page_is_zero(block, 66));
    ck_assert_uint_eq(ram_next_touched(block, 2), backing ? 70 : 2);
  }
  sim_destroy(sim);
}
END_TEST

/* A machine whose second block the guest grows at 300 ms and shrinks at 700 ms of guest time. */
static struct machine_config resize_config(void)
{
  struct machine_config config = {.type = "migsim-1.0", .ram_count = 2};
  snprintf(config.ram[0].name, sizeof(config.ram[0].name), "pc.ram");
  config.ram[0].bytes = 64 * RAM_PAGE_BYTES;
  snprintf(config.ram[1].name, sizeof(config.ram[1].name), "/rom@etc/acpi/tables");
  config.ram[1].bytes = 32 * RAM_PAGE_BYTES;
  config.ram[1].max_bytes = 512 * RAM_PAGE_BYTES;
  config.ram[1].backing = RAM_BACKING_SYNTHETIC;
  /* Listed out of order: the program sorts by guest time. */
  config.ram[1].resizes[0] = (struct ram_resize_at){700 * SIM_NS_PER_MS, 16 * RAM_PAGE_BYTES};
  config.ram[1].resizes[1] = (struct ram_resize_at){300 * SIM_NS_PER_MS, 256 * RAM_PAGE_BYTES};
  config.ram[1].resize_count = 2;
  config.vcpu = (struct vcpu_config){.pages_per_s = 1000, .duration_ns = SIM_NS_PER_S,
                                     .block_index = 1};
  return config;
}

struct stopper {
  struct sim_event stop;
  struct sim_event resume;
  struct machine *machine;
};

static void stopper_on_stop(struct sim *sim, struct sim_event *event)
{
  (void)sim;
  machine_stop(SIM_CONTAINER_OF(event, struct stopper, stop)->machine);
}

static void stopper_on_resume(struct sim *sim, struct sim_event *event)
{
  (void)sim;
  machine_resume(SIM_CONTAINER_OF(event, struct stopper, resume)->machine);
}

START_TEST(ram_resize_program_runs_on_guest_time)
{
  /* Steps run at their guest times in order, and a stopped VM postpones them in sim time. */
  struct sim_options options = {.seed = 3};
  struct sim *sim = sim_create(&options);
  struct machine_config config = resize_config();
  struct machine *machine = machine_create(sim, &config, 0);
  struct ram_block *block = machine_ram(machine, 1);
  struct resize_probe probe = {.sim = sim, .machine = machine};
  ram_block_resized_set(block, &probe, resize_probe_on_resized);
  /* The VM stops from 500 ms to 1500 ms of sim time: the shrink moves to 1700 ms. */
  struct stopper stopper = {.machine = machine};
  sim_event_init(&stopper.stop, stopper_on_stop, "test.stop");
  sim_event_init(&stopper.resume, stopper_on_resume, "test.resume");
  sim_event_schedule_at(sim, &stopper.stop, 500 * SIM_NS_PER_MS);
  sim_event_schedule_at(sim, &stopper.resume, 1500 * SIM_NS_PER_MS);
  machine_boot(machine);
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
  ck_assert_uint_eq(probe.calls_count, 2);
  ck_assert_uint_eq(probe.old_used_bytes, 256 * RAM_PAGE_BYTES);
  ck_assert_uint_eq(block->used_bytes, 16 * RAM_PAGE_BYTES);
  ck_assert_uint_eq(probe.vm_ns, 700 * SIM_NS_PER_MS);
  ck_assert_uint_eq(probe.sim_ns, 1700 * SIM_NS_PER_MS);
  ck_assert_uint_eq(block->resize_count, 2);
  /* The vCPU kept writing inside whatever length the block had (ram_store asserts it). */
  ck_assert_uint_gt(block->writes_count, 900);
  ck_assert_uint_lt(ram_next_touched(block, 0), 16);
  sim_destroy(sim);
}
END_TEST

START_TEST(ram_resize_program_section_only_when_configured)
{
  /* Machines with steps register "ram-resize" last; a bad migrated position is refused. */
  struct sim_options options = {.seed = 3};
  struct sim *sim = sim_create(&options);
  struct machine_config config = resize_config();
  struct machine *machine = machine_create(sim, &config, 0);
  uint32_t count = machine_vmstate_count(machine);
  const struct vmstate_instance *last = machine_vmstate(machine, count - 1);
  ck_assert_str_eq(last->idstr, "ram-resize");
  ck_assert(machine_vmstate_guest_visible(machine, count - 1));
  struct ram_resize_program *program = last->opaque;
  ck_assert_uint_eq(program->step_count, 2);
  ck_assert_uint_eq(program->steps[0].at_vm_ns, 300 * SIM_NS_PER_MS);
  ck_assert_uint_eq(program->steps[1].used_bytes, 16 * RAM_PAGE_BYTES);
  program->next_index = 2;
  ck_assert_int_eq(last->desc->post_load(program, 1), 0);
  program->next_index = 3;
  ck_assert_int_eq(last->desc->post_load(program, 1), -1);
  config.ram[1].resize_count = 0;
  struct machine *plain = machine_create(sim, &config, 1);
  ck_assert_uint_eq(machine_vmstate_count(plain), count - 1);
  sim_destroy(sim);
}
END_TEST

Suite *ram_suite(void)
{
  Suite *suite = suite_create("ram");
  TCase *core = tcase_create("core");
  tcase_add_test(core, ram_write_logs_touched_pages);
  tcase_add_test(core, ram_dirty_sync_counts_new_bits_only);
  tcase_add_test(core, ram_dirty_all_sets_exactly_page_count_bits);
  tcase_add_test(core, ram_page_mut_does_not_log);
  tcase_add_test(core, ram_page_write_is_ram_write_in_place);
  tcase_add_test(core, ram_page_is_zero_sees_every_byte);
  suite_add_tcase(suite, core);
  TCase *synth = tcase_create("synthetic");
  tcase_add_test(synth, ram_synth_fill_is_pure);
  tcase_add_test(synth, ram_synthetic_store_load_and_hash);
  tcase_add_test(synth, ram_block_resize_zeroes_the_dropped_tail);
  tcase_add_test(synth, ram_block_options_host_pages_and_shared);
  suite_add_tcase(suite, synth);
  TCase *resize = tcase_create("resize");
  tcase_add_test(resize, ram_block_resize_notifies_after_the_change);
  tcase_add_test(resize, ram_resize_program_runs_on_guest_time);
  tcase_add_test(resize, ram_resize_program_section_only_when_configured);
  suite_add_tcase(suite, resize);
  TCase *workload = tcase_create("workload");
  tcase_add_test(workload, vcpu_pick_page_follows_the_workload);
  suite_add_tcase(suite, workload);
  return suite;
}
