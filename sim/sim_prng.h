/*
 * sim_prng.h: the only random number generator (STYLE R15).
 *
 * xoshiro256** with its state expanded from a 64-bit seed by splitmix64.  Each
 * component takes an independent named stream: the stream's seed is a hash of
 * (root seed, name), so adding a component never shifts another one's draws.
 * The API is integer-only; probabilities are sim_ratio.
 */
#ifndef SIM_PRNG_H
#define SIM_PRNG_H

#include "sim_base.h"

struct sim_prng {   /* caller-owned; fields private */
  uint64_t s[4];    /* xoshiro256** state, never all zero */
};

struct sim_ratio {
  uint64_t numerator;   /* <= denominator */
  uint64_t denominator; /* > 0 */
};

void sim_prng_init(struct sim_prng *prng, uint64_t seed);
/* Seeds prng as the stream `name` of root seed `seed`. */
void sim_prng_init_stream(struct sim_prng *prng, uint64_t seed, const char *name);
uint64_t sim_prng_u64(struct sim_prng *prng);
/* Uniform in [0, bound), unbiased; bound > 0. */
uint64_t sim_prng_below(struct sim_prng *prng, uint64_t bound);
/* Uniform in [low, high], inclusive. */
uint64_t sim_prng_range(struct sim_prng *prng, uint64_t low, uint64_t high);
/* True with probability ratio.numerator / ratio.denominator. */
bool sim_prng_chance(struct sim_prng *prng, struct sim_ratio ratio);
/* Fills bytes from the stream (little-endian words). */
void sim_prng_fill(struct sim_prng *prng, uint8_t *bytes, size_t count);
/* splitmix64 step, exposed for seed derivation. */
uint64_t sim_splitmix64(uint64_t *state);

#endif /* SIM_PRNG_H */
