/*
 * stream_fuzz.c: the whole incoming stream, as hostile bytes, into a fresh
 * destination machine (STYLE R25: one input format, no globals, no I/O,
 * everything created and destroyed per input).
 *
 * The machine is the one of conformance/scenarios/fuzz-small.json, so the
 * seed corpus (streams migsim wrote for that scenario) loads deep.  The
 * loader must return a typed error or MIG_OK for every input; a crash, a
 * sanitizer report or a hang is a finding.
 */
#include "sim_base.h"

#include "fuzz_mutator.h"
#include "fuzz_machine.h"
#include "machine.h"
#include "mig_load.h"
#include "mig_stream.h"
#include "sim.h"

#define FUZZ_INPUT_BYTES_MAX (UINT32_C(1) << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

FUZZ_CUSTOM_MUTATOR(.shape = FUZZ_SHAPE_STREAM)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size > FUZZ_INPUT_BYTES_MAX) return 0;
  struct sim_options options = {.seed = 1, .events_max = 1000};
  struct sim *sim = sim_create(&options);
  SIM_ASSERT(sim != NULL);
  struct machine_config config = fuzz_machine_small();
  struct machine *machine = machine_create(sim, &config, 1);
  struct mig_reader reader;
  mig_reader_init_memory(&reader, data, size);
  struct mig_load_stats stats;
  enum mig_err err = mig_load_machine(&reader, machine, &stats);
  /* The loader's own contract: an error is always latched with its offset. */
  SIM_ASSERT(err == MIG_OK || mig_reader_failed(&reader));
  SIM_ASSERT(err == MIG_OK || mig_reader_error(&reader)->offset <= size);
  sim_destroy(sim);
  return 0;
}
