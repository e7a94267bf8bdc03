/*
 * sim_prng_test.c: the PRNG (sim_prng.h) against independent reference
 * implementations, its stream derivation, and the bounded draws.
 */
#include "sim_base.h"

#include "sim_check.h"
#include "sim_prng.h"

#include <signal.h>
#include <xxhash.h>

/* xoshiro256** 1.0, transcribed from https://prng.di.unimi.it/xoshiro256starstar.c. */
static uint64_t reference_rotl(const uint64_t x, int k)
{
  return (x << k) | (x >> (64 - k));
}

static uint64_t reference_next(uint64_t s[4])
{
  const uint64_t result = reference_rotl(s[1] * 5, 7) * 9;
  const uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = reference_rotl(s[3], 45);
  return result;
}

/* splitmix64, transcribed from https://prng.di.unimi.it/splitmix64.c. */
static uint64_t reference_splitmix(uint64_t *x)
{
  uint64_t z = (*x += 0x9e3779b97f4a7c15);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
  z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
  return z ^ (z >> 31);
}

START_TEST(sim_prng_u64_matches_reference)
{
  /* From state {1,2,3,4}: the published first outputs, then 10000 more against the reference. */
  struct sim_prng prng = {{1, 2, 3, 4}};
  uint64_t reference[4] = {1, 2, 3, 4};
  static const uint64_t known[] = {11520, 0, 1509978240, UINT64_C(1215971899390074240)};
  for (size_t i = 0; i < SIM_ARRAY_COUNT(known); i++) {
    ck_assert_uint_eq(reference_next(reference), known[i]);
    ck_assert_uint_eq(sim_prng_u64(&prng), known[i]);
  }
  for (int i = 0; i < 10000; i++) {
    ck_assert_uint_eq(sim_prng_u64(&prng), reference_next(reference));
  }
}
END_TEST

START_TEST(sim_splitmix64_matches_reference)
{
  /* Seed 0 starts with 0xe220a8397b1dcdaf; later outputs and other seeds follow the reference. */
  uint64_t state = 0, reference = 0;
  ck_assert_uint_eq(sim_splitmix64(&state), UINT64_C(0xe220a8397b1dcdaf));
  ck_assert_uint_eq(reference_splitmix(&reference), UINT64_C(0xe220a8397b1dcdaf));
  for (int i = 0; i < 1000; i++) {
    ck_assert_uint_eq(sim_splitmix64(&state), reference_splitmix(&reference));
  }
  ck_assert_uint_eq(state, reference);
}
END_TEST

START_TEST(sim_prng_init_expands_seed_with_splitmix)
{
  /* The state is four consecutive splitmix64 outputs of the seed, for several seeds. */
  static const uint64_t seeds[] = {0, 1, UINT64_C(0xdeadbeef), UINT64_MAX};
  for (size_t i = 0; i < SIM_ARRAY_COUNT(seeds); i++) {
    struct sim_prng prng;
    sim_prng_init(&prng, seeds[i]);
    uint64_t state = seeds[i];
    for (int j = 0; j < 4; j++) ck_assert_uint_eq(prng.s[j], reference_splitmix(&state));
  }
}
END_TEST

START_TEST(sim_prng_init_stream_is_keyed_hash)
{
  /* A stream is sim_prng_init of XXH3-64(name) keyed by the root seed, whatever the order. */
  struct sim_prng stream, direct, other;
  sim_prng_init_stream(&stream, 42, "link/0");
  sim_prng_init(&direct, XXH3_64bits_withSeed("link/0", 6, 42));
  ck_assert_mem_eq(stream.s, direct.s, sizeof(stream.s));
  sim_prng_init_stream(&other, 43, "link/0");
  ck_assert_uint_ne(sim_prng_u64(&stream), sim_prng_u64(&other));
}
END_TEST

START_TEST(sim_prng_below_uniform_and_in_bounds)
{
  /* Bound 3 over 30000 draws: every residue near 10000; bound 1 gives 0; huge bounds stay below. */
  struct sim_prng prng;
  sim_prng_init(&prng, 7);
  uint32_t counts[3] = {0};
  for (int i = 0; i < 30000; i++) counts[sim_prng_below(&prng, 3)]++;
  for (int i = 0; i < 3; i++) {
    ck_assert_uint_gt(counts[i], 9500);
    ck_assert_uint_lt(counts[i], 10500);
  }
  uint64_t half = (UINT64_C(1) << 63) + 1; /* rejects almost half the raw draws */
  for (int i = 0; i < 1000; i++) {
    ck_assert_uint_eq(sim_prng_below(&prng, 1), 0);
    ck_assert_uint_lt(sim_prng_below(&prng, half), half);
    ck_assert_uint_lt(sim_prng_below(&prng, UINT64_MAX), UINT64_MAX);
  }
}
END_TEST

START_TEST(sim_prng_range_edges)
{
  /* Single-value, full-width and small inclusive ranges; both ends of [10, 12] do occur. */
  struct sim_prng prng;
  sim_prng_init(&prng, 8);
  bool seen_low = false, seen_high = false;
  for (int i = 0; i < 1000; i++) {
    ck_assert_uint_eq(sim_prng_range(&prng, 5, 5), 5);
    uint64_t value = sim_prng_range(&prng, 10, 12);
    ck_assert_uint_ge(value, 10);
    ck_assert_uint_le(value, 12);
    seen_low |= value == 10;
    seen_high |= value == 12;
    (void)sim_prng_range(&prng, 0, UINT64_MAX);
  }
  ck_assert(seen_low && seen_high);
}
END_TEST

START_TEST(sim_prng_chance_edges_draw_once)
{
  /* 0/n never and n/n always happen, and every call consumes exactly one draw. */
  struct sim_prng prng, shadow;
  sim_prng_init(&prng, 9);
  sim_prng_init(&shadow, 9);
  for (int i = 0; i < 1000; i++) {
    ck_assert(!sim_prng_chance(&prng, (struct sim_ratio){0, 10}));
    ck_assert(sim_prng_chance(&prng, (struct sim_ratio){10, 10}));
    (void)sim_prng_u64(&shadow);
    (void)sim_prng_u64(&shadow);
  }
  ck_assert_uint_eq(sim_prng_u64(&prng), sim_prng_u64(&shadow));
}
END_TEST

START_TEST(sim_prng_chance_invalid_ratio_aborts)
{
  /* A numerator above its denominator is a caller bug and trips the assertion. */
  struct sim_prng prng;
  sim_prng_init(&prng, 10);
  (void)sim_prng_chance(&prng, (struct sim_ratio){2, 1});
}
END_TEST

START_TEST(sim_prng_fill_little_endian_words)
{
  /* 13 bytes are the 8 little-endian bytes of one draw, then the low 5 bytes of the next. */
  struct sim_prng prng, shadow;
  sim_prng_init(&prng, 11);
  sim_prng_init(&shadow, 11);
  uint8_t bytes[13];
  sim_prng_fill(&prng, bytes, sizeof(bytes));
  uint64_t first = sim_prng_u64(&shadow), second = sim_prng_u64(&shadow);
  for (int i = 0; i < 8; i++) ck_assert_uint_eq(bytes[i], (uint8_t)(first >> (8 * i)));
  for (int i = 0; i < 5; i++) ck_assert_uint_eq(bytes[8 + i], (uint8_t)(second >> (8 * i)));
  ck_assert_uint_eq(sim_prng_u64(&prng), sim_prng_u64(&shadow));
}
END_TEST

START_TEST(sim_prng_fill_page_matches_draws)
{
  /* A page and 5 bytes, at an odd offset: byte for byte the draws in little-endian order. */
  struct sim_prng prng, shadow;
  sim_prng_init(&prng, 12);
  sim_prng_init(&shadow, 12);
  static uint8_t bytes[1 + 4096 + 5];
  sim_prng_fill(&prng, bytes + 1, sizeof(bytes) - 1);
  for (size_t i = 0; i < sizeof(bytes) - 1; i += 8) {
    uint64_t word = sim_prng_u64(&shadow);
    for (size_t j = 0; j < 8 && i + j < sizeof(bytes) - 1; j++) {
      ck_assert_uint_eq(bytes[1 + i + j], (uint8_t)(word >> (8 * j)));
    }
  }
  ck_assert_uint_eq(sim_prng_u64(&prng), sim_prng_u64(&shadow));
}
END_TEST

Suite *sim_prng_suite(void)
{
  Suite *suite = suite_create("sim_prng");
  TCase *reference = tcase_create("reference");
  tcase_add_test(reference, sim_prng_u64_matches_reference);
  tcase_add_test(reference, sim_splitmix64_matches_reference);
  tcase_add_test(reference, sim_prng_init_expands_seed_with_splitmix);
  tcase_add_test(reference, sim_prng_init_stream_is_keyed_hash);
  suite_add_tcase(suite, reference);
  TCase *draws = tcase_create("draws");
  tcase_add_test(draws, sim_prng_below_uniform_and_in_bounds);
  tcase_add_test(draws, sim_prng_range_edges);
  tcase_add_test(draws, sim_prng_chance_edges_draw_once);
  tcase_add_test_raise_signal(draws, sim_prng_chance_invalid_ratio_aborts, SIGABRT);
  tcase_add_test(draws, sim_prng_fill_little_endian_words);
  tcase_add_test(draws, sim_prng_fill_page_matches_draws);
  suite_add_tcase(suite, draws);
  return suite;
}
