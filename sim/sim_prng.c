/*
 * sim_prng.c: the tree's only random number generator (STYLE R15); the
 * contract is in sim_prng.h.
 *
 * The generator is xoshiro256** 1.0 by David Blackman and Sebastiano Vigna
 * (public domain, https://prng.di.unimi.it/xoshiro256starstar.c), and its
 * state is expanded from a 64-bit seed with splitmix64, as the authors
 * recommend.  A named stream's seed is XXH3-64 of the name, keyed by the root
 * seed, so streams are independent of the order components are created in.
 * Everything is integer arithmetic on uint64_t, identical on every host.
 */
#include "sim_base.h"
#include "sim_prng.h"

#include <xxhash.h>

/* Rejections sim_prng_below may make; each happens with probability < 1/2. */
#define PRNG_BELOW_ATTEMPTS_MAX 128

static inline uint64_t rotl(uint64_t x, int k)
{
  return (x << k) | (x >> (64 - k));
}

uint64_t sim_splitmix64(uint64_t *state)
{
  SIM_ASSERT(state != NULL);
  uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
  z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
  return z ^ (z >> 31);
}

void sim_prng_init(struct sim_prng *prng, uint64_t seed)
{
  SIM_ASSERT(prng != NULL);
  uint64_t state = seed;
  for (size_t i = 0; i < SIM_ARRAY_COUNT(prng->s); i++) prng->s[i] = sim_splitmix64(&state);
  /* splitmix64 is a bijection of distinct counters, so at most one word is 0. */
  SIM_ASSERT((prng->s[0] | prng->s[1] | prng->s[2] | prng->s[3]) != 0);
}

void sim_prng_init_stream(struct sim_prng *prng, uint64_t seed, const char *name)
{
  SIM_ASSERT(prng != NULL);
  SIM_ASSERT(name != NULL);
  sim_prng_init(prng, XXH3_64bits_withSeed(name, strlen(name), seed));
}

uint64_t sim_prng_u64(struct sim_prng *prng)
{
  SIM_ASSERT_DEBUG((prng->s[0] | prng->s[1] | prng->s[2] | prng->s[3]) != 0);
  uint64_t *s = prng->s;
  const uint64_t result = rotl(s[1] * 5, 7) * 9;
  const uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

/*
 * Rejection sampling: the 2^64 % bound smallest draws would make the low
 * residues more likely, so they are redrawn.  (0 - bound) % bound equals
 * 2^64 % bound without 128-bit arithmetic.
 */
uint64_t sim_prng_below(struct sim_prng *prng, uint64_t bound)
{
  SIM_ASSERT(bound > 0);
  const uint64_t threshold = (0 - bound) % bound;
  for (int attempt = 0; attempt < PRNG_BELOW_ATTEMPTS_MAX; attempt++) {
    uint64_t r = sim_prng_u64(prng);
    if (r >= threshold) return r % bound;
  }
  /* Probability below 2^-128: the generator is broken. */
  SIM_ASSERT(!"sim_prng_below: too many rejections");
  return 0;
}

uint64_t sim_prng_range(struct sim_prng *prng, uint64_t low, uint64_t high)
{
  SIM_ASSERT(low <= high);
  if (high - low == UINT64_MAX) return sim_prng_u64(prng);
  uint64_t result = low + sim_prng_below(prng, high - low + 1);
  SIM_ASSERT(result >= low && result <= high);
  return result;
}

/* Always draws once, even for 0 or 1, so toggling a fault keeps later draws aligned. */
bool sim_prng_chance(struct sim_prng *prng, struct sim_ratio ratio)
{
  SIM_ASSERT(ratio.denominator > 0);
  SIM_ASSERT(ratio.numerator <= ratio.denominator);
  return sim_prng_below(prng, ratio.denominator) < ratio.numerator;
}

/*
 * Word by word: the state lives in locals (stores through a byte pointer
 * could alias prng->s), and each word is stored little-endian in one go.
 * The bytes are those the original byte loop wrote: word i fills bytes
 * 8i..8i+7, least significant byte first, a partial last word its low bytes.
 */
void sim_prng_fill(struct sim_prng *prng, uint8_t *bytes, size_t count)
{
  SIM_ASSERT(prng != NULL);
  SIM_ASSERT(bytes != NULL || count == 0);
  uint64_t s0 = prng->s[0], s1 = prng->s[1], s2 = prng->s[2], s3 = prng->s[3];
  size_t index = 0;
  while (index < count) {
    uint64_t word = rotl(s1 * 5, 7) * 9;
    uint64_t t = s1 << 17;
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = rotl(s3, 45);
    if (count - index >= sizeof(word)) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
      memcpy(bytes + index, &word, sizeof(word));
#else
      for (size_t i = 0; i < sizeof(word); i++) bytes[index + i] = (uint8_t)(word >> (8 * i));
#endif
      index += sizeof(word);
      continue;
    }
    for (size_t i = 0; index < count; i++) bytes[index++] = (uint8_t)(word >> (8 * i));
  }
  prng->s[0] = s0, prng->s[1] = s1, prng->s[2] = s2, prng->s[3] = s3;
}
