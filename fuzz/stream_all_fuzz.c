/*
 * stream_all_fuzz.c: the whole incoming stream, as hostile bytes, into a
 * fresh destination with every device migsim models: amd-iommu, testdev,
 * dmadev, blockdev, vfiodev (its live vfio section too) and simnet (the
 * scenario below; stream_fuzz has only a testdev).  STYLE R25: one input
 * format, no I/O, everything created and destroyed per input; the scenario
 * text is parsed once (static one-time initialisation).
 *
 * The vfio devices' live sections are loaded by destination-only handlers
 * (mig_vfio_live_create without a source).  Oracles besides the sanitizers:
 * the loader returns MIG_OK or a latched error with an offset inside the
 * input; an accepted stream loaded every device section (as many FULL
 * sections as the machine has vmstate instances).
 *
 * Seeds: `python3 harness/fuzz_seeds.py --target stream_all_fuzz` runs this
 * scenario (the text between the markers) with `migsim run --stream-out`.
 */
#include "sim_base.h"

#include "fuzz_machine.h"
#include "conform_scenario.h"
#include "fuzz_mutator.h"
#include "machine.h"
#include "mig_live.h"
#include "mig_load.h"
#include "mig_vfio.h"
#include "sim.h"

#define FUZZ_INPUT_BYTES_MAX (UINT32_C(1) << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

FUZZ_CUSTOM_MUTATOR(.shape = FUZZ_SHAPE_STREAM)

/* FUZZ_ALL_SCENARIO_BEGIN */
static const char fuzz_all_scenario[] =
    "{\"description\": \"every device migsim models, "
    "small: the destination of fuzz/stream_all_fuzz.c\", \"seed\": 3, "
    "\"limits\": {\"events_max\": 2000000, \"time_ns_max\": 10000000000}, "
    "\"machine\": {\"type\": \"migsim-1.0\", \"ram\": [{\"name\": \"pc.ram\", \"bytes\": 65536}, "
    "{\"name\": \"dma.ram\", \"bytes\": 16384}], \"devices\": [{\"driver\": \"amd-iommu\", "
    "\"addr\": \"00:01.0\"}, {\"driver\": \"testdev\", \"addr\": \"00:03.0\", "
    "\"device_id\": 4660}, {\"driver\": \"dmadev\", \"addr\": \"00:04.0\", \"ring_entries\": 16, "
    "\"bandwidth\": 4194304}, {\"driver\": \"blockdev\", \"addr\": \"00:05.0\", "
    "\"sectors\": 64}, {\"driver\": \"vfiodev\", \"addr\": \"00:06.0\", \"state_bytes\": 16384, "
    "\"dirty_pages_per_s\": 200, \"load_bytes_per_s\": 100000000, "
    "\"duration_ns\": 200000000, \"mappings\": [{\"iova\": 0, \"gpa\": 32768, "
    "\"bytes\": 16384}]}, {\"driver\": \"simnet\", \"addr\": \"00:07.0\"}]}, "
    "\"workload\": {\"pages_per_s\": 100, \"duration_ns\": 40000000, \"fill_pages\": 8, "
    "\"device_every\": 4}, \"link\": {\"bandwidth_bytes_per_s\": 67108864, "
    "\"latency_ns\": 100000, \"window_bytes\": 65536, \"packet_bytes\": 8192}, "
    "\"migration\": {\"section_pages\": 16}, \"commands\": [{\"at_ns\": 0, "
    "\"execute\": \"migrate-set-parameters\", \"arguments\": {\"downtime-limit\": 10, "
    "\"max-bandwidth\": 67108864}}, {\"at_ns\": 20000000, \"execute\": \"migrate\", "
    "\"arguments\": {\"uri\": \"sim:link0\"}}]}";
/* FUZZ_ALL_SCENARIO_END */

static const struct conform_scenario *fuzz_scenario(void)
{
  static struct conform_scenario scenario;
  static bool parsed = false;
  if (!parsed) {
    char error[512];
    bool ok = conform_scenario_parse(fuzz_all_scenario, sizeof fuzz_all_scenario - 1,
                                     "stream_all_fuzz", &scenario, error, sizeof error);
    SIM_ASSERT(ok);
    parsed = true;
  }
  return &scenario;
}

struct fuzz_lives {
  struct mig_live_handler handlers[MIG_LOAD_LIVES_MAX];
  struct mig_load_live loads[MIG_LOAD_LIVES_MAX];
  uint32_t count;
};

/* Destination-only live handlers for every live device of machine. */
static void fuzz_lives_create(struct fuzz_lives *lives, struct sim *sim, struct machine *machine)
{
  static const struct mig_live_hooks hooks = {0};
  lives->count = machine_live_count(machine);
  SIM_ASSERT(lives->count <= MIG_LOAD_LIVES_MAX);
  for (uint32_t i = 0; i < lives->count; i++) {
    struct dev_live to = machine_live(machine, i);
    mig_vfio_live_create(sim, NULL, &to, 0, i, false, &hooks, &lives->handlers[i],
                         &lives->loads[i]);
  }
}

static void fuzz_lives_cleanup(struct fuzz_lives *lives)
{
  for (uint32_t i = 0; i < lives->count; i++) {
    const struct mig_live_ops *ops = lives->handlers[i].ops;
    if (ops->load_cleanup != NULL) ops->load_cleanup(lives->handlers[i].dest);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size > FUZZ_INPUT_BYTES_MAX) return 0;
  const struct conform_scenario *scenario = fuzz_scenario();
  struct sim_options options = {.seed = 1, .events_max = 1000};
  struct sim *sim = fuzz_sim_create(&options);
  struct machine *machine = machine_create(sim, &scenario->machine, 1);
  struct fuzz_lives *lives = calloc(1, sizeof *lives);
  SIM_ASSERT(lives != NULL);
  fuzz_lives_create(lives, sim, machine);
  struct mig_load_options load = {.lives = lives->loads, .live_count = lives->count};
  struct mig_reader reader;
  mig_reader_init_memory(&reader, data, size);
  struct mig_load_stats stats;
  enum mig_err err = mig_load_machine_with(&reader, machine, &load, &stats);
  SIM_ASSERT(err == MIG_OK || mig_reader_failed(&reader));
  SIM_ASSERT(err == MIG_OK || mig_reader_error(&reader)->offset <= size);
  if (err == MIG_OK) SIM_ASSERT(stats.devices_count >= machine_vmstate_count(machine));
  fuzz_lives_cleanup(lives);
  free(lives);
  sim_destroy(sim);
  return 0;
}
