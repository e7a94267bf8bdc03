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
#include "machine.h"
#include "mig_load.h"
#include "mig_stream.h"
#include "sim.h"
#include "testdev.h"

#define FUZZ_INPUT_BYTES_MAX (UINT32_C(1) << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

FUZZ_CUSTOM_MUTATOR(.shape = FUZZ_SHAPE_STREAM)

static struct machine_config fuzz_machine_config(void)
{
  struct machine_config config = {.type = "migsim-1.0", .ram_count = 2, .device_count = 1};
  snprintf(config.ram[0].name, sizeof(config.ram[0].name), "pc.ram");
  config.ram[0].bytes = 32 * RAM_PAGE_BYTES;
  snprintf(config.ram[1].name, sizeof(config.ram[1].name), "pc.bios");
  config.ram[1].bytes = 4 * RAM_PAGE_BYTES;
  snprintf(config.devices[0].driver, sizeof(config.devices[0].driver), "testdev");
  config.devices[0].slot = 3;
  testdev_props(&config.devices[0])->device_id = 4660;
  config.vcpu = (struct vcpu_config){.pages_per_s = 200, .duration_ns = SIM_NS_PER_S / 2,
                                     .fill_pages = 16, .device_every = 4};
  return config;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size > FUZZ_INPUT_BYTES_MAX) return 0;
  struct sim_options options = {.seed = 1, .events_max = 1000};
  struct sim *sim = sim_create(&options);
  SIM_ASSERT(sim != NULL);
  struct machine_config config = fuzz_machine_config();
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
