/*
 * inspect_fuzz.c: a whole stream, as hostile bytes, through the VMSD-agnostic
 * walker (migration/mig_inspect.c) with both of its consumers: RAM
 * application into sparse RAM (mig_ramapply.c) and re-encoding
 * (mig_reencode.c).  STYLE R25: one input format, no I/O, everything created
 * and destroyed per input.
 *
 * Oracles besides the sanitizers: a rejection carries an offset inside the
 * input; an accepted stream re-encodes to bytes that the walker accepts and
 * that re-encode to themselves (a fixed point), and its rechunked form
 * (3 page records per RAM PART) is accepted too.
 */
#include "sim_base.h"

#include "fuzz_mutator.h"
#include "mig_inspect.h"
#include "mig_ramapply.h"
#include "mig_reencode.h"
#include "mig_stream.h"

#define FUZZ_INPUT_BYTES_MAX (UINT32_C(1) << 20)
#define FUZZ_OUTPUT_BYTES_MAX (UINT32_C(8) << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

FUZZ_CUSTOM_MUTATOR(.shape = FUZZ_SHAPE_STREAM)

struct fuzz_both {
  struct mig_ramapply apply;
  struct mig_reencode reencode;
};

static enum mig_err fuzz_visit_both(void *context, const struct mig_inspect_event *event,
                                    struct mig_error *error)
{
  struct fuzz_both *both = context;
  enum mig_err code = mig_ramapply_visit(&both->apply, event, error);
  return code != MIG_OK ? code : mig_reencode_visit(&both->reencode, event, error);
}

/* Walks bytes with a re-encoder (and RAM application when both != NULL). */
static enum mig_err fuzz_walk(const uint8_t *bytes, size_t count, uint32_t rechunk,
                              struct mig_membuf *out, struct fuzz_both *both)
{
  static uint8_t buffer[MIG_WRITER_BUFFER_BYTES];
  struct mig_writer writer;
  mig_membuf_init(out, FUZZ_OUTPUT_BYTES_MAX);
  mig_writer_init(&writer, buffer, sizeof buffer, mig_membuf_write, out);
  struct mig_reencode_options options = {.rechunk_records = rechunk};
  struct fuzz_both local;
  struct fuzz_both *target = both != NULL ? both : &local;
  mig_ramapply_init(&target->apply, false);
  mig_reencode_init(&target->reencode, &writer, &options);
  struct mig_inspect_visitor visitor = {
      .visit = both != NULL ? fuzz_visit_both : mig_reencode_visit,
      .context = both != NULL ? (void *)both : (void *)&local.reencode};
  struct mig_inspect inspect;
  struct mig_error error;
  enum mig_err code = mig_inspect_walk(bytes, count, &inspect, &visitor, &error);
  SIM_ASSERT(code == error.code);
  SIM_ASSERT(code == MIG_OK || error.offset <= count);
  mig_inspect_deinit(&inspect);
  mig_ramapply_deinit(&target->apply);
  enum mig_err flushed = mig_writer_flush(&writer);
  return code != MIG_OK ? code : flushed;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size > FUZZ_INPUT_BYTES_MAX) return 0;
  struct fuzz_both *both = malloc(sizeof *both);
  SIM_ASSERT(both != NULL);
  struct mig_membuf once, twice, rechunked;
  enum mig_err code = fuzz_walk(data, size, 0, &once, both);
  free(both);
  if (code == MIG_OK) {
    /* Output beyond the cap is a writer error, not a finding. */
    SIM_ASSERT(fuzz_walk(once.bytes, once.count, 0, &twice, NULL) == MIG_OK);
    SIM_ASSERT(twice.count == once.count && memcmp(twice.bytes, once.bytes, once.count) == 0);
    mig_membuf_deinit(&twice);
    SIM_ASSERT(fuzz_walk(data, size, 3, &rechunked, NULL) == MIG_OK);
    mig_membuf_deinit(&rechunked);
  }
  mig_membuf_deinit(&once);
  return 0;
}
