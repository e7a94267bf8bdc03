/*
 * config_fuzz.c: the configuration section (spec §3: 0x07, the machine type,
 * its subsections: capabilities, target-page-bits, uuid) and whatever
 * follows it, after a fixed header, into a destination that has only RAM
 * (mig_load_target_run).  STYLE R25: one input format, no I/O, everything
 * created and destroyed per input; byte 0 is a selector:
 *
 *   bit 0   the destination's machine type: pc-i440fx-7.2 (set) or migsim-1.0
 *   bit 1   x-ignore-shared on here
 *   bit 2   a -uuid here (00 11 22 .. ff)
 *   bit 3   QEMU 7.2's policy (mig_policy_qemu_7_2) instead of the strict one
 *   bit 4   the walker (mig_inspect_walk) instead of the loader
 *
 * Oracles besides the sanitizers: a refusal carries an offset inside the
 * stream; an accepted stream whose first record is a configuration names
 * the destination's machine type exactly; the strict policy accepts no
 * stream without one; the walker's machine and UUID are those the
 * configuration sent.
 */
#include "sim_base.h"

#include "fuzz_machine.h"
#include "fuzz_mutator.h"
#include "mig_inspect.h"
#include "mig_load.h"
#include "ram.h"
#include "sim.h"

#define FUZZ_INPUT_BYTES_MAX (UINT32_C(1) << 16)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

FUZZ_CUSTOM_MUTATOR(.shape = FUZZ_SHAPE_NO_HEADER, .prefix_bytes = 1)

/* The first record after the header: true with its name when it is a configuration. */
static bool fuzz_configuration(const uint8_t *stream, size_t count, char *name, size_t name_bytes)
{
  struct mig_reader reader;
  mig_reader_init_memory(&reader, stream, count);
  struct mig_tokenizer tokenizer;
  mig_tokenizer_init(&tokenizer, &reader, NULL);
  struct mig_record record;
  if (mig_record_next(&tokenizer, &record) != MIG_OK) return false;       /* the header */
  if (mig_record_next(&tokenizer, &record) != MIG_OK) return false;
  if (record.kind != MIG_RECORD_CONFIGURATION) return false;
  mig_name_copy(&record.config.name, name, name_bytes);
  return true;
}

static void fuzz_load(const uint8_t *stream, size_t count, uint8_t selector)
{
  static const uint8_t uuid[MIG_CONFIG_UUID_BYTES] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55,
                                                      0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb,
                                                      0xcc, 0xdd, 0xee, 0xff};
  struct sim_options options = {.seed = 1, .events_max = 1};
  struct sim *sim = fuzz_sim_create(&options);
  struct ram_block *blocks[1] = {ram_block_create(sim, "pc.ram", 8 * RAM_PAGE_BYTES)};
  const char *type = (selector & 1) != 0 ? "pc-i440fx-7.2" : FUZZ_MACHINE_TYPE;
  bool strict = (selector & 8) == 0;
  struct mig_load_target target = {
      .machine_type = type, .ram_blocks = blocks, .ram_block_count = 1,
      .x_ignore_shared = (selector & 2) != 0, .uuid = (selector & 4) != 0 ? uuid : NULL,
      .policy = strict ? &mig_policy_strict : &mig_policy_qemu_7_2};
  struct mig_reader reader;
  mig_reader_init_memory(&reader, stream, count);
  struct mig_load_stats stats;
  enum mig_err err = mig_load_target_run(&reader, &target, &stats);
  SIM_ASSERT(err == MIG_OK || mig_reader_error(&reader)->offset <= count);
  char name[MIG_IDSTR_BYTES_MAX + 1];
  bool configured = fuzz_configuration(stream, count, name, sizeof name);
  if (err == MIG_OK && configured) SIM_ASSERT(strcmp(name, type) == 0);
  if (err == MIG_OK && strict) SIM_ASSERT(configured);
  sim_destroy(sim);
}

static void fuzz_walk(const uint8_t *stream, size_t count)
{
  struct mig_inspect inspect;
  struct mig_error error;
  enum mig_err code = mig_inspect_walk(stream, count, &inspect, NULL, &error);
  SIM_ASSERT(code == MIG_OK || error.offset <= count);
  char name[MIG_IDSTR_BYTES_MAX + 1];
  if (code == MIG_OK && fuzz_configuration(stream, count, name, sizeof name)) {
    SIM_ASSERT(inspect.has_configuration && strcmp(inspect.machine, name) == 0);
  }
  mig_inspect_deinit(&inspect);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 1 || size > FUZZ_INPUT_BYTES_MAX) return 0;
  size_t count = 0;
  uint8_t *stream = fuzz_prefixed(FUZZ_PREFIX_HEADER, data + 1, size - 1, &count);
  if ((data[0] & 0x10) != 0) {
    fuzz_walk(stream, count);
  } else {
    fuzz_load(stream, count, data[0]);
  }
  free(stream);
  return 0;
}
