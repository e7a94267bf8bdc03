/*
 * analyze_fuzz.c: a whole stream, as hostile bytes, through `migsim inspect
 * --format analyze` minus the file I/O: the walker (mig_inspect_stream) and,
 * when it accepts the stream, the description-driven decoder
 * (mig_analyze_stream) and the text rendering (cli_analyze_text).  The
 * trailer is part of the input, so the fuzzer mutates descriptions and
 * payloads together.  STYLE R25: one input format, no globals, no I/O,
 * everything created and destroyed per input.
 *
 * Contract checked: a result or a latched error whose offset lies inside the
 * input, never both, never neither.
 */
#include "sim_base.h"

#include "fuzz_mutator.h"
#include "cli_analyze.h"
#include "mig_analyze.h"
#include "mig_inspect.h"

#define FUZZ_INPUT_BYTES_MAX (UINT32_C(1) << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

FUZZ_CUSTOM_MUTATOR(.shape = FUZZ_SHAPE_STREAM)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size > FUZZ_INPUT_BYTES_MAX) return 0;
  struct mig_inspect inspect;
  struct mig_error error;
  if (mig_inspect_stream(data, size, &inspect, &error) == MIG_OK) {
    json_t *root = NULL;
    enum mig_err err = mig_analyze_stream(data, size, &inspect, &root, &error);
    SIM_ASSERT((err == MIG_OK) == (root != NULL));
    SIM_ASSERT(err == error.code);
    SIM_ASSERT(err == MIG_OK || error.offset <= size);
    if (root != NULL) {
      char *text = cli_analyze_text(root);
      SIM_ASSERT(text != NULL && text[0] == '{');
      free(text);
      json_decref(root);
    }
  }
  mig_inspect_deinit(&inspect);
  return 0;
}
