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

#include "fuzz_machine.h"
#include "fuzz_mutator.h"

#define FUZZ_INPUT_BYTES_MAX (UINT32_C(1) << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

FUZZ_CUSTOM_MUTATOR(.shape = FUZZ_SHAPE_STREAM)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size > FUZZ_INPUT_BYTES_MAX) return 0;
  struct mig_error error;
  (void)fuzz_machine_load(data, size, &error, NULL);  /* asserts the loader's own contract */
  return 0;
}
