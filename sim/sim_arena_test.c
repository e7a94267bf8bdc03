/*
 * sim_arena_test.c: the per-simulation arena (sim_arena.h): alignment,
 * zeroing, the large-chunk path and the byte bound.
 */
#include "sim_base.h"

#include "sim_arena.h"
#include "sim_check.h"
#include "sim_limits.h"

#define MIB (UINT64_C(1) << 20)

/* How many of count bytes differ from value (one assertion per block, not per byte). */
static uint64_t bytes_differing(const uint8_t *bytes, uint64_t count, uint8_t value)
{
  uint64_t differing = 0;
  for (uint64_t i = 0; i < count; i++) differing += bytes[i] != value;
  return differing;
}

START_TEST(sim_arena_alloc_zeroed_aligned_disjoint)
{
  /* Many odd-sized requests: each is 16-aligned and zero, and writing one never touches another. */
  enum { COUNT = 3000 };
  static uint8_t *blocks[COUNT];
  static uint32_t sizes[COUNT];
  struct sim_arena arena;
  sim_arena_init(&arena, SIM_ARENA_BYTES_MAX);
  for (uint32_t i = 0; i < COUNT; i++) {
    sizes[i] = 1 + (i * 37) % 1500;
    blocks[i] = sim_arena_alloc(&arena, sizes[i]);
    ck_assert_ptr_nonnull(blocks[i]);
    ck_assert_uint_eq((uintptr_t)blocks[i] % 16, 0);
    ck_assert_uint_eq(bytes_differing(blocks[i], sizes[i], 0), 0);
    memset(blocks[i], (int)(i & 0xff), sizes[i]);
  }
  for (uint32_t i = 0; i < COUNT; i++) {
    ck_assert_uint_eq(bytes_differing(blocks[i], sizes[i], (uint8_t)i), 0);
  }
  ck_assert_uint_ge(sim_arena_bytes_used(&arena), COUNT);
  sim_arena_deinit(&arena);
  ck_assert_uint_eq(sim_arena_bytes_used(&arena), 0);
}
END_TEST

START_TEST(sim_arena_alloc_large_keeps_small_chunk)
{
  /* A >= 1 MiB request gets its own zeroed chunk; small requests keep filling the open chunk. */
  struct sim_arena arena;
  sim_arena_init(&arena, SIM_ARENA_BYTES_MAX);
  uint8_t *small_a = sim_arena_alloc(&arena, 32);
  uint8_t *large = sim_arena_alloc(&arena, 3 * MIB + 5);
  uint8_t *small_b = sim_arena_alloc(&arena, 32);
  ck_assert_ptr_nonnull(small_a);
  ck_assert_ptr_nonnull(large);
  ck_assert_ptr_eq(small_b, small_a + 32);
  ck_assert_uint_eq((uintptr_t)large % 16, 0);
  ck_assert_uint_eq(large[0], 0);
  ck_assert_uint_eq(large[3 * MIB + 4], 0);
  large[3 * MIB + 4] = 1;
  /* Padding to 16 bytes is counted: 32 + (3 MiB + 16) + 32. */
  ck_assert_uint_eq(sim_arena_bytes_used(&arena), 32 + 3 * MIB + 16 + 32);
  sim_arena_deinit(&arena);
}
END_TEST

START_TEST(sim_arena_alloc_bytes_max_exact)
{
  /* The bound admits an exact fit, then every further request fails and changes nothing. */
  struct sim_arena arena;
  sim_arena_init(&arena, 4096);
  ck_assert_ptr_nonnull(sim_arena_alloc(&arena, 4000));
  ck_assert_uint_eq(sim_arena_bytes_used(&arena), 4000);
  ck_assert_ptr_null(sim_arena_alloc(&arena, 97));
  ck_assert_ptr_null(sim_arena_alloc(&arena, UINT64_MAX));
  ck_assert_uint_eq(sim_arena_bytes_used(&arena), 4000);
  ck_assert_ptr_nonnull(sim_arena_alloc(&arena, 96));
  ck_assert_uint_eq(sim_arena_bytes_used(&arena), 4096);
  ck_assert_ptr_null(sim_arena_alloc(&arena, 1));
  sim_arena_deinit(&arena);
}
END_TEST

START_TEST(sim_arena_alloc_zero_bytes_distinct)
{
  /* Zero-byte requests still return distinct, aligned pointers. */
  struct sim_arena arena;
  sim_arena_init(&arena, 1024);
  void *a = sim_arena_alloc(&arena, 0);
  void *b = sim_arena_alloc(&arena, 0);
  ck_assert_ptr_nonnull(a);
  ck_assert_ptr_nonnull(b);
  ck_assert_ptr_ne(a, b);
  ck_assert_uint_eq((uintptr_t)b % 16, 0);
  sim_arena_deinit(&arena);
}
END_TEST

Suite *sim_arena_suite(void)
{
  Suite *suite = suite_create("sim_arena");
  TCase *core = tcase_create("core");
  tcase_add_test(core, sim_arena_alloc_zeroed_aligned_disjoint);
  tcase_add_test(core, sim_arena_alloc_large_keeps_small_chunk);
  suite_add_tcase(suite, core);
  TCase *limits = tcase_create("limits");
  tcase_add_test(limits, sim_arena_alloc_bytes_max_exact);
  tcase_add_test(limits, sim_arena_alloc_zero_bytes_distinct);
  suite_add_tcase(suite, limits);
  return suite;
}
