/*
 * record_fuzz.c: the header/section layer alone: the record tokenizer
 * (mig_record.h) over hostile bytes, and mig_record_write.  STYLE R25: one
 * input format, no I/O, no globals; byte 0 is a selector:
 *
 *   bit 0   10.x command codes (MIG_CMD_MAX_10) instead of 7.2's
 *   bit 1   a run of top-level records without header (a PACKAGED body)
 *   bit 2   refill mode: the reader is fed ((bits 3..7) + 1) * 127 bytes a
 *           time through a 64 KiB window, as the sink reads a socket
 *
 * A FULL section's payload is sized by its footer (fuzz_payload_end).
 * Oracles besides the sanitizers: every record lies after the previous one
 * and inside the input; the records written back with mig_record_write (a
 * payload the tokenizer did not view is copied from the input) equal the
 * input up to the end of the last record, byte for byte; an error carries an
 * offset inside the input.
 */
#include "sim_base.h"

#include "fuzz_mutator.h"
#include "mig_record.h"
#include "mig_stream.h"

#define FUZZ_INPUT_BYTES_MAX (UINT32_C(1) << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

FUZZ_CUSTOM_MUTATOR(.shape = FUZZ_SHAPE_STREAM, .prefix_bytes = 1)

struct fuzz_feed {
  const uint8_t *bytes;
  size_t count, at, chunk;
};

static size_t fuzz_refill(void *context, uint8_t *bytes, size_t capacity)
{
  struct fuzz_feed *feed = context;
  size_t count = SIM_MIN(SIM_MIN(capacity, feed->chunk), feed->count - feed->at);
  memcpy(bytes, feed->bytes + feed->at, count);
  feed->at += count;
  return count;
}

/* Writes record (and a payload it did not view) and checks it against the input. */
static void fuzz_write_back(struct mig_writer *writer, const struct mig_record *record,
                            const uint8_t *input, size_t input_bytes)
{
  SIM_ASSERT(record->offset == mig_writer_offset(writer));
  mig_record_write(writer, record);
  if (record->payload == NULL && record->payload_bytes > 0) {
    /* Not read yet (a vfio DATA record's size comes first): the next call fails if it is cut. */
    SIM_ASSERT(record->payload_offset <= input_bytes);
    uint64_t count = SIM_MIN(record->payload_bytes, input_bytes - record->payload_offset);
    mig_writer_bytes(writer, input + record->payload_offset, (size_t)count);
  }
}

static void fuzz_tokenize(const uint8_t *input, size_t size, uint8_t selector,
                          struct mig_reader *reader, struct mig_membuf *out)
{
  static uint8_t buffer[MIG_WRITER_BUFFER_BYTES];
  struct mig_writer writer;
  mig_writer_init(&writer, buffer, sizeof buffer, mig_membuf_write, out);
  struct mig_record_options options = {
      .command_max = (selector & 1) != 0 ? MIG_CMD_MAX_10 : MIG_CMD_MAX_7_2};
  struct mig_tokenizer tokenizer;
  if ((selector & 2) != 0) {
    mig_tokenizer_init_records(&tokenizer, reader, &options);
  } else {
    mig_tokenizer_init(&tokenizer, reader, &options);
  }
  struct mig_record record;
  uint64_t end = 0;
  while (mig_record_next(&tokenizer, &record) == MIG_OK && record.kind != MIG_RECORD_END) {
    SIM_ASSERT(record.offset >= end && record.offset <= size);
    SIM_ASSERT(record.offset + record.header_bytes <= size);
    fuzz_write_back(&writer, &record, input, size);
    /* A vfio DATA size is the stream's (up to 2^64 - 1): bounded by the input before adding. */
    end = record.payload_bytes > 0
              ? record.payload_offset + SIM_MIN(record.payload_bytes, size - record.payload_offset)
              : record.offset + record.header_bytes;
    bool opaque = record.section.grammar == MIG_GRAMMAR_OPAQUE ||
                  record.section.grammar == MIG_GRAMMAR_NONE;
    if (record.kind != MIG_RECORD_SECTION || !opaque) continue;
    size_t stop = fuzz_payload_end(input, size, (size_t)end, record.section.section_id);
    if (stop >= size || mig_record_payload(&tokenizer, stop - end, &record) != MIG_OK) break;
    fuzz_write_back(&writer, &record, input, size);
    end = stop;
  }
  if (mig_reader_failed(reader)) SIM_ASSERT(mig_reader_error(reader)->offset <= size);
  SIM_ASSERT(mig_writer_flush(&writer) == MIG_OK);
  SIM_ASSERT(out->count == end);
  SIM_ASSERT(end == 0 || memcmp(out->bytes, input, (size_t)end) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 1 || size > FUZZ_INPUT_BYTES_MAX) return 0;
  uint8_t selector = data[0];
  const uint8_t *input = data + 1;
  size_t count = size - 1;
  /*
   * Static and only emptied per input: growing a fresh buffer by doubling
   * cost each input ASan allocations and page faults (about a tenth of the
   * target's time).  A leak check still sees it reachable.
   */
  static struct mig_membuf out;
  if (out.count_max == 0) mig_membuf_init(&out, FUZZ_INPUT_BYTES_MAX);
  out.count = 0;
  struct mig_reader reader;
  if ((selector & 4) != 0) {
    /* Static: a fresh 64 KiB per input costs ASan's quarantine a page fault per page. */
    static uint8_t window[MIG_READER_BUFFER_BYTES];
    struct fuzz_feed feed = {.bytes = input, .count = count, .chunk = ((selector >> 3) + 1u) * 127};
    mig_reader_init_refill(&reader, window, sizeof window, fuzz_refill, &feed);
    fuzz_tokenize(input, count, selector, &reader, &out);
  } else {
    mig_reader_init_memory(&reader, input, count);
    fuzz_tokenize(input, count, selector, &reader, &out);
  }
  return 0;
}
