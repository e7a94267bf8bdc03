/*
 * mig_ram_test.c: the RAM section payloads between source and destination
 * blocks of both backings: a synthetic multi-block guest migrates with its
 * page digests equal, a resized block arrives resized, host pages are not
 * split across sections, block-list mismatches are typed errors, and
 * x-ignore-shared leaves shared blocks' pages out.  A guest resize during a
 * precopy cancels it with the block named; a retry then completes.
 */
#include "sim_base.h"

#include "machine.h"
#include "mig_format.h"
#include "mig_precopy.h"
#include "mig_ram.h"
#include "sim_check.h"
#include "sim_link.h"

#define BLOCKS_COUNT 3

struct pair {
  struct sim *sim;
  struct ram_block *source[BLOCKS_COUNT];
  struct ram_block *dest[BLOCKS_COUNT];
  struct mig_membuf stream;
  struct mig_writer writer;
  uint8_t buffer[4096];
};

static uint64_t be64_at(const uint8_t *bytes)
{
  uint64_t value = 0;
  for (int i = 0; i < 8; i++) value = value << 8 | bytes[i];
  return value;
}

static enum mig_err membuf_sink(void *context, const uint8_t *bytes, size_t count)
{
  return mig_membuf_write(context, bytes, count);
}

/* Synthetic pc.ram (2 MiB pages), dense pc.bios, synthetic resizable ACPI tables. */
static void pair_init(struct pair *pair, uint64_t dest_acpi_max_bytes)
{
  struct sim_options options = {.seed = 11};
  pair->sim = sim_create(&options);
  for (int side = 0; side < 2; side++) {
    struct ram_block_options blocks[BLOCKS_COUNT] = {
        {.name = "pc.ram", .used_bytes = UINT64_C(64) << 20,
         .host_page_bytes = RAM_HOST_PAGE_BYTES_MAX, .backing = RAM_BACKING_SYNTHETIC},
        {.name = "pc.bios", .used_bytes = 64 * RAM_PAGE_BYTES},
        {.name = "/rom@etc/acpi/tables", .used_bytes = 16 * RAM_PAGE_BYTES,
         .max_bytes = side == 0 ? 256 * RAM_PAGE_BYTES : dest_acpi_max_bytes,
         .backing = RAM_BACKING_SYNTHETIC},
    };
    struct ram_block **out = side == 0 ? pair->source : pair->dest;
    for (int i = 0; i < BLOCKS_COUNT; i++) out[i] = ram_block_create_with(pair->sim, &blocks[i]);
  }
  mig_membuf_init(&pair->stream, (size_t)1 << 28);
  mig_writer_init(&pair->writer, pair->buffer, sizeof(pair->buffer), membuf_sink,
                  &pair->stream);
}

static void pair_deinit(struct pair *pair)
{
  mig_membuf_deinit(&pair->stream);
  sim_destroy(pair->sim);
}

/* Loads the stream written so far as one section of section_type. */
static enum mig_err pair_load(struct pair *pair, struct mig_ram_dest *dest, size_t *at,
                              uint8_t section_type, struct mig_error *error)
{
  ck_assert_int_eq(mig_writer_flush(&pair->writer), MIG_OK);
  struct mig_reader reader;
  mig_reader_init_memory(&reader, pair->stream.bytes + *at, pair->stream.count - *at);
  enum mig_err err = mig_ram_load(dest, &reader, section_type);
  if (error != NULL) *error = *mig_reader_error(&reader);
  if (err == MIG_OK) ck_assert(mig_reader_at_end(&reader));
  *at = pair->stream.count;
  return err;
}

START_TEST(mig_ram_synthetic_guest_migrates_with_equal_digests)
{
  /* Setup, rounds with guest stores in between, completion: every page's digest agrees. */
  static struct pair pair;
  pair_init(&pair, 256 * RAM_PAGE_BYTES);
  ram_block_resize(pair.source[2], 48 * RAM_PAGE_BYTES);
  struct ram_block *ram = pair.source[0];
  for (uint64_t i = 0; i < 3000; i++) ram_store(ram, (i * 7919) % ram->page_count, 0, i);
  ram_store(pair.source[1], 5, 2, 0x55);
  ram_store(pair.source[2], 40, 0, 1);
  static struct mig_ram_source source;
  struct mig_ram_dest dest;
  mig_ram_source_init(&source, pair.sim, pair.source, BLOCKS_COUNT);
  mig_ram_dest_init(&dest, pair.dest, BLOCKS_COUNT);
  size_t at = 0;
  mig_ram_save_setup(&source, &pair.writer);
  ck_assert_int_eq(pair_load(&pair, &dest, &at, MIG_SECTION_START, NULL), MIG_OK);
  ck_assert_uint_eq(pair.dest[2]->used_bytes, 48 * RAM_PAGE_BYTES);
  for (uint64_t step = 0; step < 200; step++) {
    bool round_ended = mig_ram_save_iterate(&source, &pair.writer, 512);
    ck_assert_int_eq(pair_load(&pair, &dest, &at, MIG_SECTION_PART, NULL), MIG_OK);
    ram_store(ram, (step * 104729) % ram->page_count, 1, step);
    if (round_ended) mig_ram_sync(&source);
  }
  mig_ram_sync(&source);
  mig_ram_save_complete(&source, &pair.writer);
  ck_assert_int_eq(pair_load(&pair, &dest, &at, MIG_SECTION_END, NULL), MIG_OK);
  uint64_t nonzero_count = 0;
  for (int b = 0; b < BLOCKS_COUNT; b++) {
    ck_assert_uint_eq(pair.dest[b]->page_count, pair.source[b]->page_count);
    for (uint64_t page = 0; page < pair.source[b]->page_count; page++) {
      ck_assert_uint_eq(ram_page_hash(pair.dest[b], page), ram_page_hash(pair.source[b], page));
      nonzero_count += !ram_page_is_zero(pair.dest[b], page);
    }
  }
  ck_assert_uint_eq(ram_page_generation(pair.dest[0], 7919), ram_page_generation(ram, 7919));
  ck_assert_uint_gt(nonzero_count, 3000);
  ck_assert_uint_eq(dest.normal_pages_count, source.normal_pages_count);
  ck_assert_uint_gt(source.rounds_count, 1);
  pair_deinit(&pair);
}
END_TEST

START_TEST(mig_ram_iterate_keeps_host_pages_whole)
{
  /* Over budget, the rest of a started 2 MiB host page still goes out; 4 KiB pages stop. */
  static struct pair pair;
  pair_init(&pair, 256 * RAM_PAGE_BYTES);
  for (uint64_t page = 0; page < 3; page++) ram_store(pair.source[0], page, 0, 1);
  ram_store(pair.source[0], 600, 0, 1);
  ram_store(pair.source[1], 0, 0, 1);
  ram_store(pair.source[1], 1, 0, 1);
  static struct mig_ram_source source;
  mig_ram_source_init(&source, pair.sim, pair.source, BLOCKS_COUNT);
  /* Only the logged pages: skip the setup's all-dirty pass. */
  mig_ram_sync(&source);
  ck_assert_uint_eq(source.dirty_pages_count, 6);
  mig_ram_save_iterate(&source, &pair.writer, 1);
  ck_assert_uint_eq(source.normal_pages_count, 3); /* pages 0..2 share a host page */
  mig_ram_save_iterate(&source, &pair.writer, 1);
  ck_assert_uint_eq(source.normal_pages_count, 4); /* page 600: the next host page */
  mig_ram_save_iterate(&source, &pair.writer, 1);
  ck_assert_uint_eq(source.normal_pages_count, 5); /* pc.bios has 4 KiB host pages */
  ck_assert_uint_eq(source.dirty_pages_count, 1);
  pair_deinit(&pair);
}
END_TEST

START_TEST(mig_ram_block_list_resize_beyond_max_is_refused)
{
  /* A length past the destination block's maximum is a located error naming the block. */
  static struct pair pair;
  pair_init(&pair, 32 * RAM_PAGE_BYTES);
  ram_block_resize(pair.source[2], 48 * RAM_PAGE_BYTES);
  static struct mig_ram_source source;
  struct mig_ram_dest dest;
  mig_ram_source_init(&source, pair.sim, pair.source, BLOCKS_COUNT);
  mig_ram_dest_init(&dest, pair.dest, BLOCKS_COUNT);
  mig_ram_save_setup(&source, &pair.writer);
  size_t at = 0;
  struct mig_error error;
  ck_assert_int_eq(pair_load(&pair, &dest, &at, MIG_SECTION_START, &error), MIG_ERR_RAM_BLOCK);
  ck_assert_str_eq(error.path, "ram//rom@etc/acpi/tables");
  ck_assert_str_eq(error.detail, "Size too large: /rom@etc/acpi/tables: 0x30000 > 0x20000");
  /* 8 (MEM_SIZE) + 7 + 8 (pc.ram) + 8 + 8 (pc.bios): the third entry. */
  ck_assert_uint_eq(error.offset, 39);
  ck_assert_uint_eq(pair.dest[2]->used_bytes, 16 * RAM_PAGE_BYTES);
  pair_deinit(&pair);
}
END_TEST

/* pc.ram and a shared vga.vram at 0xfd000000, which the destination may map too (alias). */
static void shared_init(struct pair *pair, bool alias, uint64_t dest_vram_gpa)
{
  struct sim_options options = {.seed = 12};
  pair->sim = sim_create(&options);
  struct ram_block_options ram = {.name = "pc.ram", .used_bytes = 256 * RAM_PAGE_BYTES,
                                  .backing = RAM_BACKING_SYNTHETIC};
  struct ram_block_options vram = {.name = "vga.vram", .used_bytes = 64 * RAM_PAGE_BYTES,
                                   .backing = RAM_BACKING_SYNTHETIC, .shared = true,
                                   .gpa = UINT64_C(0xfd000000)};
  pair->source[0] = ram_block_create_with(pair->sim, &ram);
  pair->source[1] = ram_block_create_with(pair->sim, &vram);
  pair->dest[0] = ram_block_create_with(pair->sim, &ram);
  vram.gpa = dest_vram_gpa;
  pair->dest[1] = alias ? pair->source[1] : ram_block_create_with(pair->sim, &vram);
  mig_membuf_init(&pair->stream, (size_t)1 << 24);
  mig_writer_init(&pair->writer, pair->buffer, sizeof(pair->buffer), membuf_sink,
                  &pair->stream);
}

static size_t count_bytes(const struct mig_membuf *stream, const char *needle)
{
  size_t count = 0, needle_count = strlen(needle);
  for (size_t at = 0; at + needle_count <= stream->count; at++) {
    count += memcmp(stream->bytes + at, needle, needle_count) == 0;
  }
  return count;
}

START_TEST(mig_ram_ignore_shared_sends_no_shared_pages)
{
  /* x-ignore-shared: GPAs in the list, no vga.vram page, and the shared memory is just there. */
  static struct pair pair;
  shared_init(&pair, true, UINT64_C(0xfd000000));
  for (uint64_t page = 0; page < 10; page++) ram_store(pair.source[0], page * 3, 0, page);
  for (uint64_t page = 0; page < 20; page++) ram_store(pair.source[1], page, 0, page);
  static struct mig_ram_source source;
  struct mig_ram_dest dest;
  mig_ram_source_init(&source, pair.sim, pair.source, 2);
  mig_ram_source_ignore_shared_set(&source, true);
  mig_ram_dest_init(&dest, pair.dest, 2);
  mig_ram_dest_ignore_shared_set(&dest, true);
  size_t at = 0;
  mig_ram_save_setup(&source, &pair.writer);
  ck_assert_int_eq(pair_load(&pair, &dest, &at, MIG_SECTION_START, NULL), MIG_OK);
  ck_assert_uint_eq(source.dirty_pages_count, 256);
  ram_store(pair.source[1], 30, 0, 1); /* a later guest store to shared memory: not sent */
  mig_ram_sync(&source);
  mig_ram_save_complete(&source, &pair.writer);
  ck_assert_int_eq(pair_load(&pair, &dest, &at, MIG_SECTION_END, NULL), MIG_OK);
  ck_assert_uint_eq(source.normal_pages_count, 10);
  ck_assert_uint_eq(source.zero_pages_count, 246);
  ck_assert_uint_eq(count_bytes(&pair.stream, "\x08vga.vram"), 1); /* the list entry only */
  ck_assert_uint_eq(be64_at(pair.stream.bytes + 8 + 7 + 8 + 8 + 9 + 8), 0xfd000000);
  for (uint64_t page = 0; page < 256; page++) {
    ck_assert_uint_eq(ram_page_hash(pair.dest[0], page), ram_page_hash(pair.source[0], page));
  }
  ck_assert_uint_eq(ram_page_generation(pair.dest[1], 30), 1);
  pair_deinit(&pair);
}
END_TEST

START_TEST(mig_ram_ignore_shared_gpa_mismatch_and_stray_page_fail)
{
  /* A shared block mapped elsewhere, or a page record for it, is a located error. */
  static struct pair pair;
  shared_init(&pair, false, UINT64_C(0xfe000000));
  static struct mig_ram_source source;
  struct mig_ram_dest dest;
  mig_ram_source_init(&source, pair.sim, pair.source, 2);
  mig_ram_source_ignore_shared_set(&source, true);
  mig_ram_dest_init(&dest, pair.dest, 2);
  mig_ram_dest_ignore_shared_set(&dest, true);
  mig_ram_save_setup(&source, &pair.writer);
  size_t at = 0;
  struct mig_error error;
  ck_assert_int_eq(pair_load(&pair, &dest, &at, MIG_SECTION_START, &error), MIG_ERR_RAM_BLOCK);
  ck_assert_str_eq(error.path, "ram/vga.vram/gpa");
  ck_assert_str_eq(error.detail, "mismatched GPA 0xfd000000, here 0xfe000000");
  ck_assert_uint_eq(error.offset, 8 + 7 + 8 + 8 + 9 + 8);
  pair_deinit(&pair);
  shared_init(&pair, true, UINT64_C(0xfd000000));
  mig_ram_source_init(&source, pair.sim, pair.source, 2);
  mig_ram_source_ignore_shared_set(&source, true);
  mig_ram_dest_init(&dest, pair.dest, 2);
  mig_ram_dest_ignore_shared_set(&dest, true);
  mig_ram_save_setup(&source, &pair.writer);
  at = 0;
  ck_assert_int_eq(pair_load(&pair, &dest, &at, MIG_SECTION_START, NULL), MIG_OK);
  mig_writer_be64(&pair.writer, 5 * MIG_PAGE_BYTES | MIG_RAM_FLAG_ZERO);
  mig_writer_counted_string(&pair.writer, "vga.vram");
  mig_writer_u8(&pair.writer, 0);
  mig_writer_be64(&pair.writer, MIG_RAM_FLAG_EOS);
  ck_assert_int_eq(pair_load(&pair, &dest, &at, MIG_SECTION_PART, &error), MIG_ERR_RAM_BLOCK);
  ck_assert_str_eq(error.path, "ram/vga.vram");
  ck_assert_str_eq(error.detail, "page of a block x-ignore-shared leaves out");
  pair_deinit(&pair);
}
END_TEST

START_TEST(mig_ram_block_list_shrinks_and_refuses_fixed_sizes)
{
  /* The list shrinks a grown resizable block (its tail gone); a fixed block refuses to. */
  static struct pair pair;
  pair_init(&pair, 256 * RAM_PAGE_BYTES);
  ram_block_resize(pair.dest[2], 200 * RAM_PAGE_BYTES);
  ram_store(pair.dest[2], 150, 0, 77);
  static struct mig_ram_source source;
  struct mig_ram_dest dest;
  mig_ram_source_init(&source, pair.sim, pair.source, BLOCKS_COUNT);
  mig_ram_dest_init(&dest, pair.dest, BLOCKS_COUNT);
  mig_ram_save_setup(&source, &pair.writer);
  size_t at = 0;
  ck_assert_int_eq(pair_load(&pair, &dest, &at, MIG_SECTION_START, NULL), MIG_OK);
  ck_assert_uint_eq(pair.dest[2]->used_bytes, 16 * RAM_PAGE_BYTES);
  ram_block_resize(pair.dest[2], 200 * RAM_PAGE_BYTES);
  ck_assert(ram_page_is_zero(pair.dest[2], 150));
  /* A destination whose pc.bios is not resizable and twice as long. */
  pair.dest[1] = ram_block_create(pair.sim, "pc.bios", 128 * RAM_PAGE_BYTES);
  mig_ram_dest_init(&dest, pair.dest, BLOCKS_COUNT);
  struct mig_reader reader;
  mig_reader_init_memory(&reader, pair.stream.bytes, pair.stream.count);
  ck_assert_int_eq(mig_ram_load(&dest, &reader, MIG_SECTION_START), MIG_ERR_RAM_BLOCK);
  const struct mig_error *error = mig_reader_error(&reader);
  ck_assert_str_eq(error->path, "ram/pc.bios");
  ck_assert_str_eq(error->detail, "Size mismatch: pc.bios: 0x40000 != 0x80000");
  ck_assert_uint_eq(error->offset, 8 + 7 + 8); /* the second entry */
  ck_assert_uint_eq(pair.dest[1]->used_bytes, 128 * RAM_PAGE_BYTES);
  pair_deinit(&pair);
}
END_TEST

START_TEST(mig_ram_source_block_resized_drops_pages_past_the_end)
{
  /* After the setup's all-dirty sync, a shrink takes exactly the dropped pages out. */
  static struct pair pair;
  pair_init(&pair, 256 * RAM_PAGE_BYTES);
  static struct mig_ram_source source;
  mig_ram_source_init(&source, pair.sim, pair.source, BLOCKS_COUNT);
  mig_ram_save_setup(&source, &pair.writer);
  uint64_t before = source.dirty_pages_count;
  ram_block_resize(pair.source[2], 4 * RAM_PAGE_BYTES);
  mig_ram_source_block_resized(&source, pair.source[2]);
  ck_assert_uint_eq(source.dirty_pages_count, before - 12);
  mig_ram_save_complete(&source, &pair.writer);
  ck_assert_uint_eq(source.zero_pages_count + source.normal_pages_count, before - 12);
  pair_deinit(&pair);
}
END_TEST

START_TEST(mig_ram_ignore_shared_block_is_never_resized_back)
{
  /* The destination maps the source's shared block: a length the source changed is refused. */
  static struct pair pair;
  shared_init(&pair, true, UINT64_C(0xfd000000));
  pair.source[1] = ram_block_create_with(
      pair.sim, &(struct ram_block_options){.name = "vga.vram", .used_bytes = 64 * RAM_PAGE_BYTES,
                                            .max_bytes = 128 * RAM_PAGE_BYTES, .shared = true,
                                            .gpa = UINT64_C(0xfd000000)});
  pair.dest[1] = pair.source[1];
  static struct mig_ram_source source;
  struct mig_ram_dest dest;
  mig_ram_source_init(&source, pair.sim, pair.source, 2);
  mig_ram_source_ignore_shared_set(&source, true);
  mig_ram_dest_init(&dest, pair.dest, 2);
  mig_ram_dest_ignore_shared_set(&dest, true);
  mig_ram_save_setup(&source, &pair.writer);
  ram_block_resize(pair.source[1], 96 * RAM_PAGE_BYTES); /* after the list went out */
  size_t at = 0;
  struct mig_error error;
  ck_assert_int_eq(pair_load(&pair, &dest, &at, MIG_SECTION_START, &error), MIG_ERR_RAM_BLOCK);
  ck_assert_str_eq(error.path, "ram/vga.vram");
  ck_assert_str_eq(error.detail, "Size mismatch: vga.vram: 0x40000 != 0x60000 (shared)");
  ck_assert_uint_eq(pair.source[1]->used_bytes, 96 * RAM_PAGE_BYTES);
  pair_deinit(&pair);
}
END_TEST

/* A 32 MiB guest whose firmware grows its ACPI tables at 150 ms of guest time. */
static struct machine_config resize_machine_config(void)
{
  struct machine_config config = {.type = "migsim-1.0", .ram_count = 2};
  snprintf(config.ram[0].name, sizeof(config.ram[0].name), "pc.ram");
  config.ram[0].bytes = UINT64_C(32) << 20;
  snprintf(config.ram[1].name, sizeof(config.ram[1].name), "/rom@etc/acpi/tables");
  config.ram[1].bytes = 32 * RAM_PAGE_BYTES;
  config.ram[1].max_bytes = 512 * RAM_PAGE_BYTES;
  config.ram[1].resizes[0] = (struct ram_resize_at){150 * SIM_NS_PER_MS, 64 * RAM_PAGE_BYTES};
  config.ram[1].resize_count = 1;
  config.vcpu = (struct vcpu_config){.pages_per_s = 2000, .duration_ns = 400 * SIM_NS_PER_MS,
                                     .fill_pages = 8192}; /* all of pc.ram: 0.5 s to send */
  return config;
}

static void count_failed(void *context)
{
  (*(uint32_t *)context)++;
}

/* Migrates source to a fresh destination now; runs the sim until idle. */
static struct mig_precopy_stats resize_migrate(struct sim *sim, struct machine *source,
                                               const struct machine_config *config,
                                               uint32_t *failed_count, struct machine **dest)
{
  *dest = machine_create_peer(sim, config, 1, source);
  struct link_options link_options = {.bandwidth_bytes_per_s = 64 << 20, .latency_ns = 100000,
                                      .window_bytes = 1 << 20, .packet_bytes_max = 1 << 16};
  struct link *link = link_create(sim, &link_options, "migration");
  struct mig_precopy_params params;
  mig_precopy_params_default(&params, 256);
  params.qmp.values[MIG_PARAM_DOWNTIME_LIMIT] = 30;
  params.qmp.values[MIG_PARAM_MAX_BANDWIDTH] = 0; /* the link alone limits */
  struct mig_precopy_hooks hooks = {.context = failed_count, .failed = count_failed};
  struct mig_precopy *precopy = mig_precopy_create(sim, source, *dest, link, &params, &hooks);
  mig_precopy_start(precopy);
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
  return *mig_precopy_stats(precopy);
}

START_TEST(mig_precopy_ram_resize_cancels_then_retry_completes)
{
  /* A resize at 150 ms cancels the 500 ms migration; the guest runs on; a retry completes. */
  struct sim_options options = {.seed = 9};
  struct sim *sim = sim_create(&options);
  struct machine_config config = resize_machine_config();
  struct machine *source = machine_create(sim, &config, 0);
  machine_boot(source);
  uint32_t failed_count = 0;
  struct machine *dest;
  struct mig_precopy_stats stats = resize_migrate(sim, source, &config, &failed_count, &dest);
  ck_assert_int_eq(stats.status, MIG_STATE_CANCELLED); /* QEMU's migration_cancel */
  ck_assert(stats.source_failed);
  ck_assert_uint_eq(failed_count, 1);
  ck_assert_int_eq(stats.error.code, MIG_ERR_CANCELLED);
  ck_assert_str_eq(stats.error.path, "ram//rom@etc/acpi/tables");
  ck_assert_str_eq(stats.error.detail,
                   "RAM block '/rom@etc/acpi/tables' resized during precopy.");
  ck_assert_uint_eq(stats.end_ns, 150 * SIM_NS_PER_MS);
  ck_assert_uint_gt(stats.transferred_bytes, UINT64_C(4) << 20);
  ck_assert_uint_lt(stats.transferred_bytes, UINT64_C(32) << 20);
  ck_assert_uint_eq(stats.stop_ns, 0); /* never stopped */
  /* What was sent before the cancel: about 9.5 MiB of whole pages at 64 MiB/s by 150 ms. */
  ck_assert_uint_gt(stats.normal_pages_count, 1000);
  ck_assert_uint_le(stats.normal_pages_count * RAM_PAGE_BYTES, stats.transferred_bytes);
  ck_assert(machine_running(source));
  ck_assert(!machine_running(dest));
  ck_assert(machine_workload_done(source));
  ck_assert_uint_eq(machine_ram(source, 1)->used_bytes, 64 * RAM_PAGE_BYTES);
  ck_assert_uint_eq(machine_ram(dest, 1)->used_bytes, 32 * RAM_PAGE_BYTES);
  /* The retry lists the new length; the destination resizes and ends equal, page by page. */
  stats = resize_migrate(sim, source, &config, &failed_count, &dest);
  ck_assert_int_eq(stats.status, MIG_STATE_COMPLETED);
  ck_assert_uint_eq(failed_count, 1);
  ck_assert(machine_running(dest));
  for (uint32_t b = 0; b < 2; b++) {
    struct ram_block *a = machine_ram(source, b), *z = machine_ram(dest, b);
    ck_assert_uint_eq(z->used_bytes, a->used_bytes);
    for (uint64_t page = 0; page < a->page_count; page++) {
      ck_assert_uint_eq(ram_page_hash(z, page), ram_page_hash(a, page));
    }
  }
  sim_destroy(sim);
}
END_TEST

Suite *mig_ram_suite(void)
{
  Suite *suite = suite_create("mig_ram");
  TCase *core = tcase_create("core");
  tcase_set_timeout(core, 60);
  tcase_add_test(core, mig_ram_synthetic_guest_migrates_with_equal_digests);
  tcase_add_test(core, mig_ram_iterate_keeps_host_pages_whole);
  tcase_add_test(core, mig_ram_block_list_resize_beyond_max_is_refused);
  tcase_add_test(core, mig_ram_block_list_shrinks_and_refuses_fixed_sizes);
  tcase_add_test(core, mig_ram_source_block_resized_drops_pages_past_the_end);
  tcase_add_test(core, mig_precopy_ram_resize_cancels_then_retry_completes);
  tcase_add_test(core, mig_ram_ignore_shared_block_is_never_resized_back);
  tcase_add_test(core, mig_ram_ignore_shared_sends_no_shared_pages);
  tcase_add_test(core, mig_ram_ignore_shared_gpa_mismatch_and_stray_page_fail);
  suite_add_tcase(suite, core);
  return suite;
}
