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
  sim_arena_init(&arena, SIM_ARENA_BYTES_MAX, NULL);
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
  sim_arena_init(&arena, SIM_ARENA_BYTES_MAX, NULL);
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

/* Counts the requests of bytes each that land right after the previous one. */
static uint32_t contiguous_run(struct sim_arena *arena, uint32_t bytes, uint32_t count)
{
  uint8_t *previous = sim_arena_alloc(arena, bytes);
  uint32_t run = 1;
  for (uint32_t i = 1; i < count; i++) {
    uint8_t *next = sim_arena_alloc(arena, bytes);
    ck_assert_ptr_nonnull(next);
    ck_assert_uint_eq(next[bytes - 1], 0);
    if (next == previous + bytes) run++;
    previous = next;
  }
  return run;
}

START_TEST(sim_arena_small_chunks_double)
{
  /* The first small chunk holds 64 KiB, the second 128 KiB: 16-byte requests run contiguously
     through each, and a mid-size request (over the open chunk, under 1 MiB) still fits whole. */
  struct sim_arena arena;
  sim_arena_init(&arena, SIM_ARENA_BYTES_MAX, NULL);
  ck_assert_uint_eq(contiguous_run(&arena, 16, 4096), 4096);
  ck_assert_uint_eq(contiguous_run(&arena, 16, 8192), 8192);
  uint8_t *middle = sim_arena_alloc(&arena, 300 * 1024);
  ck_assert_ptr_nonnull(middle);
  ck_assert_uint_eq(bytes_differing(middle, 300 * 1024, 0), 0);
  memset(middle, 0xa5, 300 * 1024);
  ck_assert_uint_eq(sim_arena_bytes_used(&arena), (4096 + 8192) * 16 + 300 * 1024);
  sim_arena_deinit(&arena);
}
END_TEST

START_TEST(sim_arena_pool_recycles_zeroed)
{
  /* A second arena over the pool gets the first one's chunks back (same addresses), zeroed;
     a pool bound smaller than the chunks returned keeps what fits and frees the rest. */
  struct sim_arena_pool pool;
  sim_arena_pool_init(&pool, 2 * MIB);
  struct sim_arena arena;
  sim_arena_init(&arena, SIM_ARENA_BYTES_MAX, &pool);
  uint8_t *small = sim_arena_alloc(&arena, 100);
  uint8_t *large = sim_arena_alloc(&arena, MIB + 4096);
  ck_assert_ptr_nonnull(small);
  ck_assert_ptr_nonnull(large);
  memset(small, 0x5a, 100);
  memset(large, 0xc3, MIB + 4096);
  sim_arena_deinit(&arena);
  /* 64 KiB + (1 MiB + 4 KiB) fit the 2 MiB bound: both chunks are pooled. */
  sim_arena_init(&arena, SIM_ARENA_BYTES_MAX, &pool);
  uint8_t *large_again = sim_arena_alloc(&arena, MIB + 4096);
  uint8_t *small_again = sim_arena_alloc(&arena, 100);
  ck_assert_ptr_eq(large_again, large);
  ck_assert_ptr_eq(small_again, small);
  ck_assert_uint_eq(bytes_differing(large_again, MIB + 4096, 0), 0);
  ck_assert_uint_eq(bytes_differing(small_again, 100, 0), 0);
  /* A size the pool does not hold comes from the allocator. */
  uint8_t *other = sim_arena_alloc(&arena, 3 * MIB);
  ck_assert_ptr_nonnull(other);
  ck_assert_uint_eq(other[3 * MIB - 1], 0);
  sim_arena_deinit(&arena);
  sim_arena_pool_deinit(&pool);
  ck_assert_ptr_null(pool.chunks);
}
END_TEST

START_TEST(sim_arena_alloc_bytes_max_exact)
{
  /* The bound admits an exact fit, then every further request fails and changes nothing. */
  struct sim_arena arena;
  sim_arena_init(&arena, 4096, NULL);
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
  sim_arena_init(&arena, 1024, NULL);
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
  tcase_add_test(core, sim_arena_small_chunks_double);
  tcase_add_test(core, sim_arena_pool_recycles_zeroed);
  suite_add_tcase(suite, core);
  TCase *limits = tcase_create("limits");
  tcase_add_test(limits, sim_arena_alloc_bytes_max_exact);
  tcase_add_test(limits, sim_arena_alloc_zero_bytes_distinct);
  suite_add_tcase(suite, limits);
  return suite;
}
