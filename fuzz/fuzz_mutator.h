/*
 * fuzz_mutator.h: a structure-aware mutator for the stream-shaped targets
 * (issue 12 item 2).  It parses the input with the record layer
 * (mig_record.h) into spans, one per record, mutates one record, field,
 * subsection, footer, length or version, and writes the bytes back; the
 * bytes around the mutated span stay as they were, so a mutant is one
 * plausible edit away from a stream the readers accept.
 *
 * A FULL section's payload (opaque to the record layer) is found by its
 * footer: the first 0x7e + be32 section id after the section header that
 * is followed by a byte that can start a record.  Subsection markers
 * (0x05, a counted name holding '/', a be32 version) are found inside it.
 * Parsing stops at the first syntax error or after FUZZ_MUTATOR_SPANS_MAX
 * records; everything after is one tail span.
 *
 * libFuzzer's own mutator (LLVMFuzzerMutate) mutates payload bytes and is
 * used for one mutation in four; in the replay builds, where it does not
 * exist, a small byte mutator stands in.  No state: each call is pure in
 * (data, seed); its workspace is static and reused (one thread, libFuzzer's).
 */
#ifndef FUZZ_MUTATOR_H
#define FUZZ_MUTATOR_H

#include "sim_base.h"

#define FUZZ_MUTATOR_SPANS_MAX 2048u
#define FUZZ_MUTATOR_NOTE_BYTES 160u

/* Where the input's records start. */
enum fuzz_mutator_shape {
  FUZZ_SHAPE_STREAM,          /* a whole stream: header, configuration, sections, trailer */
  FUZZ_SHAPE_NO_HEADER,       /* a whole stream after its header (the target adds it) */
  FUZZ_SHAPE_RECORDS,         /* top-level records without header (commands, packaged bodies) */
  FUZZ_SHAPE_RAM_PAYLOAD,     /* the payload of a RAM section (no header, no footer) */
};

struct fuzz_mutator_options {
  enum fuzz_mutator_shape shape;
  size_t prefix_bytes;        /* selector bytes before the records (R25), mutated apart */
  uint8_t section_type;       /* FUZZ_SHAPE_RAM_PAYLOAD: the section type (START, PART) */
  bool structural_only;       /* never a byte-level mutation of the whole input (a
                                 record's payload still may be); for differential runs */
};

/*
 * Mutates data[0..size) in place into at most max_size bytes; returns the
 * new size (>= 1 when max_size >= 1).  note, when not NULL, receives one
 * line naming the mutation ("field section[3]/version 4 -> 5"): the
 * differential harness triages by it.
 */
size_t fuzz_mutate(const struct fuzz_mutator_options *options, uint8_t *data, size_t size,
                   size_t max_size, unsigned int seed, char *note);

/*
 * The end of an opaque section payload that starts at `from`: its footer,
 * the first 0x7e + be32 section_id followed by a byte that can start a
 * record (or by the end).  size when there is none.
 */
size_t fuzz_payload_end(const uint8_t *data, size_t size, size_t from, uint32_t section_id);

/*
 * FUZZ_CUSTOM_MUTATOR(options...) in a target defines
 * fuzz_target_mutator_options(), the options of its inputs (the replay
 * driver's --mutate mode writes mutants with them), and
 * LLVMFuzzerCustomMutator over fuzz_mutate, unless FUZZ_NO_CUSTOM_MUTATOR is
 * defined: the same target without it, to measure what the mutator buys
 * (docs/fuzzing.md).
 */
const struct fuzz_mutator_options *fuzz_target_mutator_options(void);

#define FUZZ_MUTATOR_OPTIONS(...) \
  const struct fuzz_mutator_options *fuzz_target_mutator_options(void) \
  { \
    static const struct fuzz_mutator_options fuzz_options = {__VA_ARGS__}; \
    return &fuzz_options; \
  }

#ifdef FUZZ_NO_CUSTOM_MUTATOR
#define FUZZ_CUSTOM_MUTATOR(...) FUZZ_MUTATOR_OPTIONS(__VA_ARGS__)
#else
#define FUZZ_CUSTOM_MUTATOR(...) \
  FUZZ_MUTATOR_OPTIONS(__VA_ARGS__) \
  size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, \
                                 unsigned int seed); \
  size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, \
                                 unsigned int seed) \
  { \
    return fuzz_mutate(fuzz_target_mutator_options(), data, size, max_size, seed, NULL); \
  }
#endif

#endif /* FUZZ_MUTATOR_H */
