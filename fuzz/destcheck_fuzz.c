/*
 * destcheck_fuzz.c: a stream checked as a known destination checks it
 * (mig_destcheck.h), both inputs hostile: a -dump-vmstate JSON, a NUL byte,
 * then the stream.  STYLE R25: one input format, no I/O, everything created
 * and destroyed per input.  The machine type is the dump's vmschkmachine.
 *
 * Oracles besides the sanitizers: a refusal carries an offset inside the
 * stream; the same answer twice; a stream the destination check accepts
 * without a dump is one the plain walker accepts (the check only adds
 * refusals there); at most MIG_DESTCHECK_WARNINGS_MAX warnings are kept.
 */
#include "sim_base.h"

#include "mig_destcheck.h"
#include "mig_inspect.h"
#include "mig_vmsd_diff.h"

#define FUZZ_INPUT_BYTES_MAX (UINT32_C(1) << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static enum mig_err fuzz_check(const uint8_t *stream, size_t count,
                               const struct mig_destcheck_options *options,
                               struct mig_error *error)
{
  struct mig_inspect inspect;
  struct mig_destcheck_report *report = malloc(sizeof *report);
  SIM_ASSERT(report != NULL);
  enum mig_err code = mig_destcheck_walk(stream, count, options, NULL, NULL, &inspect, report,
                                         error);
  SIM_ASSERT(code == error->code);
  SIM_ASSERT(code == MIG_OK || error->offset <= count);
  SIM_ASSERT(report->warning_count <= MIG_DESTCHECK_WARNINGS_MAX);
  mig_inspect_deinit(&inspect);
  free(report);
  return code;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size > FUZZ_INPUT_BYTES_MAX) return 0;
  const uint8_t *nul = memchr(data, 0, size);
  if (nul == NULL) return 0;
  size_t dump_bytes = (size_t)(nul - data);
  const uint8_t *stream = nul + 1;
  size_t count = size - dump_bytes - 1;
  struct mig_vmsd_file *dump = NULL;
  struct mig_vmsd_error dump_error;
  (void)mig_vmsd_file_parse(data, dump_bytes, &dump, &dump_error);
  struct mig_destcheck_options options = {
      .machine_type = dump != NULL ? mig_vmsd_file_machine(dump) : NULL, .dump = dump};
  struct mig_error first, second;
  enum mig_err code = fuzz_check(stream, count, &options, &first);
  SIM_ASSERT(fuzz_check(stream, count, &options, &second) == code);
  SIM_ASSERT(code == MIG_OK || (first.offset == second.offset &&
                                strcmp(first.path, second.path) == 0));
  struct mig_destcheck_options alone = {0};
  if (fuzz_check(stream, count, &alone, &first) == MIG_OK) {
    struct mig_inspect inspect;
    SIM_ASSERT(mig_inspect_walk(stream, count, &inspect, NULL, &second) == MIG_OK);
    mig_inspect_deinit(&inspect);
  }
  mig_vmsd_file_free(dump);
  return 0;
}
