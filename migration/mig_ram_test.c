/*
 * mig_ram_test.c: the RAM section payloads between source and destination
 * blocks of both backings: a synthetic multi-block guest migrates with its
 * page digests equal, a resized block arrives resized, host pages are not
 * split across sections, block-list mismatches are typed errors, and
 * x-ignore-shared leaves shared blocks' pages out.
 */
#include "sim_base.h"

#include "mig_format.h"
#include "mig_ram.h"
#include "sim_check.h"

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
  ck_assert_str_eq(error.detail, "length 0x30000, here 0x10000, resizable");
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

Suite *mig_ram_suite(void)
{
  Suite *suite = suite_create("mig_ram");
  TCase *core = tcase_create("core");
  tcase_set_timeout(core, 60);
  tcase_add_test(core, mig_ram_synthetic_guest_migrates_with_equal_digests);
  tcase_add_test(core, mig_ram_iterate_keeps_host_pages_whole);
  tcase_add_test(core, mig_ram_block_list_resize_beyond_max_is_refused);
  tcase_add_test(core, mig_ram_ignore_shared_sends_no_shared_pages);
  tcase_add_test(core, mig_ram_ignore_shared_gpa_mismatch_and_stray_page_fail);
  suite_add_tcase(suite, core);
  return suite;
}
