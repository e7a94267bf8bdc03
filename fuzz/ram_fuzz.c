/*
 * ram_fuzz.c: RAM records (spec §6), as the payload of the RAM handler's
 * START section and whatever follows it: the input is appended to a header,
 * the configuration of fuzz-small.json's machine and START(id 0, "ram",
 * version 4).  STYLE R25: one input format, no I/O, everything created and
 * destroyed per input; byte 0 is a selector:
 *
 *   bit 0 clear  the strict loader into a fresh fuzz-small machine
 *                (mig_load_machine: XBZRLE and COMPRESS_PAGE are outside
 *                its dialect, docs/hostile.md);
 *   bit 0 set    the walker with RAM application (mig_inspect_walk +
 *                mig_ramapply), which decodes XBZRLE and inflates
 *                compressed pages as QEMU 7.2 does.
 *
 * Oracles besides the sanitizers: a refusal carries an offset inside the
 * stream; on the walker side, no more pages materialise than the blocks
 * hold and no more page records are applied than were walked; the strict
 * loader counts no more pages than the stream has 9-byte records.
 */
#include "sim_base.h"

#include "fuzz_machine.h"
#include "fuzz_mutator.h"
#include "mig_inspect.h"
#include "mig_load.h"
#include "mig_ramapply.h"
#include "sim.h"

#define FUZZ_INPUT_BYTES_MAX (UINT32_C(1) << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

FUZZ_CUSTOM_MUTATOR(.shape = FUZZ_SHAPE_RAM_PAYLOAD, .prefix_bytes = 1,
                    .section_type = MIG_SECTION_START)

struct fuzz_ram_walk {
  struct mig_ramapply apply;
  uint64_t records_count;     /* RAM page records walked */
};

static enum mig_err fuzz_ram_visit(void *context, const struct mig_inspect_event *event,
                                   struct mig_error *error)
{
  struct fuzz_ram_walk *walk = context;
  if (event->kind == MIG_INSPECT_RAM_PAGE) walk->records_count++;
  if (event->kind == MIG_INSPECT_RAM_ZERO_RUN) walk->records_count += event->run_count;
  return mig_ramapply_visit(&walk->apply, event, error);
}

static void fuzz_walk(const uint8_t *stream, size_t count)
{
  struct fuzz_ram_walk *walk = calloc(1, sizeof *walk);
  SIM_ASSERT(walk != NULL);
  mig_ramapply_init(&walk->apply, false);
  struct mig_inspect_visitor visitor = {.visit = fuzz_ram_visit, .context = walk};
  struct mig_inspect inspect;
  struct mig_error error;
  enum mig_err code = mig_inspect_walk(stream, count, &inspect, &visitor, &error);
  SIM_ASSERT(code == MIG_OK || error.offset <= count);
  uint64_t pages = 0, applied = 0;
  for (uint32_t i = 0; i < inspect.block_count; i++) {
    pages += (inspect.blocks[i].used_bytes + RAM_PAGE_BYTES - 1) / RAM_PAGE_BYTES;
  }
  /* A MEM_SIZE list the apply refused (RAM above its bound) leaves it fewer blocks. */
  SIM_ASSERT(walk->apply.block_count <= inspect.block_count);
  for (uint32_t i = 0; i < walk->apply.block_count; i++) {
    applied += mig_ramapply_pages_applied(&walk->apply, i);
  }
  SIM_ASSERT(mig_ramapply_pages_materialised(&walk->apply) <= pages);
  SIM_ASSERT(applied <= walk->records_count);
  mig_inspect_deinit(&inspect);
  mig_ramapply_deinit(&walk->apply);
  free(walk);
}

static void fuzz_load(const uint8_t *stream, size_t count)
{
  struct mig_error error;
  struct mig_load_stats stats;
  (void)fuzz_machine_load(stream, count, &error, &stats);
  SIM_ASSERT(stats.zero_pages_count + stats.normal_pages_count <= count / 9);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 1 || size > FUZZ_INPUT_BYTES_MAX) return 0;
  size_t count = 0;
  uint8_t *stream = fuzz_prefixed(FUZZ_PREFIX_RAM_START, data + 1, size - 1, &count);
  if ((data[0] & 1) != 0) {
    fuzz_walk(stream, count);
  } else {
    fuzz_load(stream, count);
  }
  free(stream);
  return 0;
}
