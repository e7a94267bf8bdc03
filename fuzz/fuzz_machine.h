/*
 * fuzz_machine.h: what the stream-shaped fuzz targets share: the destination
 * of conformance/scenarios/fuzz-small.json (pc.ram 128 KiB, pc.bios 16 KiB, a
 * testdev at 00:03.0), so the seed corpora (streams migsim wrote for that
 * scenario) load deep; one strict load into it; and the stream prefix that
 * puts a target's input where its records belong (after the header and
 * configuration, or inside the RAM START section); and the simulation every
 * target creates per input.  No I/O.  One process-wide object: the arena
 * pool behind fuzz_sim_create.
 */
#ifndef FUZZ_MACHINE_H
#define FUZZ_MACHINE_H

#include "sim_base.h"
#include "machine.h"
#include "mig_err.h"

#define FUZZ_MACHINE_TYPE "migsim-1.0"

/*
 * sim_create(options) with the process's arena pool (sim_arena.h): an input's
 * simulation reuses the memory the previous input's touched, zeroed, instead
 * of fresh mappings (about half the time per input of the stream targets
 * under ASan went to mapping and faulting in pages).  Every input still
 * starts from zeroed memory, so a finding replays alone.
 */
struct sim *fuzz_sim_create(const struct sim_options *options);

/* The fuzz-small machine's configuration: machine_config_small (machine.h). */
struct machine_config fuzz_machine_config(void);
/*
 * Loads data with the strict loader into a fresh machine of that config and
 * returns its verdict; *error gets the latched error.  Asserts the loader's
 * own contract: every refusal is latched, with an offset inside the input.
 * *stats (may be NULL) gets the loader's counts, on a refusal too.
 */
struct mig_load_stats;
enum mig_err fuzz_machine_load(const uint8_t *data, size_t size, struct mig_error *error,
                               struct mig_load_stats *stats);

enum fuzz_prefix {
  FUZZ_PREFIX_HEADER,         /* QEVM, version 3 */
  FUZZ_PREFIX_CONFIGURATION,  /* ... and the configuration section naming FUZZ_MACHINE_TYPE */
  FUZZ_PREFIX_RAM_START,      /* ... and START(id 0, "ram", instance 0, version 4) */
};

/*
 * A malloc'd buffer holding the prefix and then input[0..size); *out_size is
 * its length.  The caller frees it.
 */
uint8_t *fuzz_prefixed(enum fuzz_prefix prefix, const uint8_t *input, size_t size,
                       size_t *out_size);

#endif /* FUZZ_MACHINE_H */
