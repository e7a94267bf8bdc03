/*
 * loadwalk_fuzz.c: a differential target over the record layer's two main
 * consumers.  The same hostile bytes go to the strict loader (into a fresh
 * destination machine, the one of conformance/scenarios/fuzz-small.json, as
 * stream_fuzz.c sets it up) and to the walker behind `migsim inspect`
 * (mig_inspect_walk).  Both read through mig_record; where they may differ
 * the difference is a field of struct mig_policy (docs/hostile.md "Policy"),
 * and every refusal such a field causes names it in mig_error.policy.
 *
 * Oracle: the two verdicts (accepted or refused) agree, or the refusing side
 * names a policy field that it refuses and the other side does not
 * (mig_policy_refuses on mig_policy_strict and mig_policy_walk); the
 * loader's destination_known covers what only a destination can refuse
 * (machine type, sections and versions it has, RAM sizes, device state).
 * Anything else aborts: a verdict difference nobody listed is a bug in one
 * of them or a missing policy field.  The walker also runs streamed
 * (mig_inspect_walk_reader, the input in pieces of changing sizes) and must
 * reach the memory walk's verdict.  STYLE R25: one input format, no I/O,
 * everything created and destroyed per input.
 */
#include "sim_base.h"

#include "fuzz_machine.h"
#include "mig_inspect.h"
#include "mig_record.h"
#include "mig_stream.h"

#include <stdio.h>

#define FUZZ_INPUT_BYTES_MAX (UINT32_C(1) << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* True when the refusal `refused` is one that `refuser` makes and `other` does not. */
static bool fuzz_explained(const struct mig_error *refused, const struct mig_policy *refuser,
                           const struct mig_policy *other)
{
  return refused->policy != NULL && mig_policy_refuses(refuser, refused->policy) &&
         !mig_policy_refuses(other, refused->policy);
}

static void fuzz_report(const char *who, const struct mig_error *error)
{
  char message[MIG_PATH_BYTES_MAX + 512];
  mig_error_format(error, message, sizeof message);
  fprintf(stderr, "loadwalk_fuzz: only the %s refuses, policy %s: %s (%s:%d)\n", who,
          error->policy != NULL ? error->policy : "(none)", message,
          error->source_file != NULL ? error->source_file : "?", error->source_line);
}

/* A refill over the input in pieces whose sizes cycle with the input's length. */
struct fuzz_pieces {
  const uint8_t *bytes;
  size_t count, at, step;
};

static size_t fuzz_pieces_refill(void *context, uint8_t *out, size_t capacity)
{
  struct fuzz_pieces *pieces = context;
  size_t take = SIM_MIN(SIM_MIN(pieces->step, capacity), pieces->count - pieces->at);
  memcpy(out, pieces->bytes + pieces->at, take);
  pieces->at += take;
  pieces->step = pieces->step * 5 % 8191 + 1;
  return take;
}

/*
 * The streaming walk (mig_inspect_walk_reader) must give the memory walk's
 * verdict: it checks the same rules, only earlier.
 */
static void fuzz_streamed(const uint8_t *data, size_t size, const struct mig_error *walk_error)
{
  uint8_t *window = malloc(MIG_INSPECT_STREAM_WINDOW_BYTES);
  SIM_ASSERT(window != NULL);
  struct fuzz_pieces pieces = {.bytes = data, .count = size, .step = 1 + size % 13};
  struct mig_reader reader;
  mig_reader_init_refill(&reader, window, MIG_INSPECT_STREAM_WINDOW_BYTES, fuzz_pieces_refill,
                         &pieces);
  struct mig_inspect inspect;
  struct mig_error error;
  enum mig_err streamed = mig_inspect_walk_reader(&reader, &inspect, NULL, NULL, &error);
  mig_inspect_deinit(&inspect);
  free(window);
  SIM_ASSERT(streamed == MIG_OK || error.offset <= size);
  if ((streamed == MIG_OK) != (walk_error->code == MIG_OK)) {
    fuzz_report(streamed == MIG_OK ? "memory walk" : "streamed walk",
                streamed == MIG_OK ? walk_error : &error);
    SIM_ASSERT(!"the streamed and the memory walk differ");
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size > FUZZ_INPUT_BYTES_MAX) return 0;
  struct mig_error load_error, walk_error;
  enum mig_err load = fuzz_machine_load(data, size, &load_error, NULL);
  struct mig_inspect inspect;
  enum mig_err walk = mig_inspect_walk(data, size, &inspect, NULL, &walk_error);
  mig_inspect_deinit(&inspect);
  SIM_ASSERT(walk == walk_error.code);
  SIM_ASSERT(load == MIG_OK || load_error.offset <= size);
  SIM_ASSERT(walk == MIG_OK || walk_error.offset <= size);
  fuzz_streamed(data, size, &walk_error);
  if ((load == MIG_OK) == (walk == MIG_OK)) return 0;
  if (load != MIG_OK) {
    if (fuzz_explained(&load_error, &mig_policy_strict, &mig_policy_walk)) return 0;
    fuzz_report("loader", &load_error);
  } else {
    if (fuzz_explained(&walk_error, &mig_policy_walk, &mig_policy_strict)) return 0;
    fuzz_report("walker", &walk_error);
  }
  SIM_ASSERT(!"verdicts differ and no policy field explains it");
  return 0;
}
