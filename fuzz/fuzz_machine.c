/*
 * fuzz_machine.c: the fuzz-small destination, one load into it, and stream
 * prefixes (fuzz_machine.h).
 */
#include "sim_base.h"

#include "fuzz_machine.h"
#include "mig_load.h"
#include "mig_stream.h"
#include "mig_wire.h"
#include "sim.h"
#include "sim_arena.h"

/* What the pool keeps between inputs: more than any fuzz destination allocates. */
#define FUZZ_ARENA_POOL_BYTES_MAX (UINT64_C(64) << 20)

struct sim *fuzz_sim_create(const struct sim_options *options)
{
  static struct sim_arena_pool pool;
  static bool pool_ready = false;
  if (!pool_ready) {
    sim_arena_pool_init(&pool, FUZZ_ARENA_POOL_BYTES_MAX);
    pool_ready = true;
  }
  struct sim_options pooled = *options;
  pooled.arena_pool = &pool;
  struct sim *sim = sim_create(&pooled);
  SIM_ASSERT(sim != NULL);
  return sim;
}

struct machine_config fuzz_machine_config(void)
{
  struct machine_config config = machine_config_small();
  SIM_ASSERT(strcmp(config.type, FUZZ_MACHINE_TYPE) == 0);  /* fuzz_prefixed names it */
  return config;
}

enum mig_err fuzz_machine_load(const uint8_t *data, size_t size, struct mig_error *error,
                               struct mig_load_stats *stats_out)
{
  struct sim_options options = {.seed = 1, .events_max = 1000};
  struct sim *sim = fuzz_sim_create(&options);
  struct machine_config config = fuzz_machine_config();
  struct machine *machine = machine_create(sim, &config, 1);
  struct mig_reader reader;
  mig_reader_init_memory(&reader, data, size);
  struct mig_load_stats stats;
  enum mig_err err = mig_load_machine(&reader, machine, &stats);
  SIM_ASSERT(err == MIG_OK || mig_reader_failed(&reader));
  SIM_ASSERT(err == MIG_OK || mig_reader_error(&reader)->offset <= size);
  *error = *mig_reader_error(&reader);
  SIM_ASSERT(err == error->code);
  if (stats_out != NULL) *stats_out = stats;
  sim_destroy(sim);
  return err;
}

uint8_t *fuzz_prefixed(enum fuzz_prefix prefix, const uint8_t *input, size_t size,
                       size_t *out_size)
{
  static const uint8_t header[] = {'Q', 'E', 'V', 'M', 0, 0, 0, MIG_FILE_VERSION};
  static const uint8_t configuration[] = {MIG_SECTION_CONFIGURATION, 0, 0, 0, 10,
                                          'm', 'i', 'g', 's', 'i', 'm', '-', '1', '.', '0'};
  static const uint8_t ram_start[] = {MIG_SECTION_START, 0, 0, 0, 0, 3, 'r', 'a', 'm',
                                      0, 0, 0, 0, 0, 0, 0, MIG_RAM_SECTION_VERSION};
  _Static_assert(sizeof(FUZZ_MACHINE_TYPE) - 1 == 10, "the configuration's length byte");
  size_t bytes = sizeof header + (prefix >= FUZZ_PREFIX_CONFIGURATION ? sizeof configuration : 0) +
                 (prefix >= FUZZ_PREFIX_RAM_START ? sizeof ram_start : 0);
  uint8_t *out = malloc(bytes + size + 1);
  SIM_ASSERT(out != NULL);
  memcpy(out, header, sizeof header);
  if (prefix >= FUZZ_PREFIX_CONFIGURATION) {
    memcpy(out + sizeof header, configuration, sizeof configuration);
  }
  if (prefix >= FUZZ_PREFIX_RAM_START) {
    memcpy(out + sizeof header + sizeof configuration, ram_start, sizeof ram_start);
  }
  if (size > 0) memcpy(out + bytes, input, size);
  *out_size = bytes + size;
  return out;
}
