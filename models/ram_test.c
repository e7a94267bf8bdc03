/*
 * ram_test.c: RAM blocks and their dirty log.
 */
#include "sim_base.h"

#include "ram.h"
#include "sim_check.h"

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

Suite *ram_suite(void)
{
  Suite *suite = suite_create("ram");
  TCase *core = tcase_create("core");
  tcase_add_test(core, ram_write_logs_touched_pages);
  tcase_add_test(core, ram_dirty_sync_counts_new_bits_only);
  tcase_add_test(core, ram_dirty_all_sets_exactly_page_count_bits);
  tcase_add_test(core, ram_page_mut_does_not_log);
  suite_add_tcase(suite, core);
  return suite;
}
