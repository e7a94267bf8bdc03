/*
 * mig_stream_test.c: libcheck suite for mig_stream.c and mig_err.c.  The
 * writer is checked byte for byte against hand-written big-endian encodings
 * and against a sink that records its chunks; the reader is checked in
 * memory mode and in refill mode with a refill that dribbles one byte at a
 * time, which must give the same values, offsets and errors.  TCases: core
 * (encodings and offsets), refill (window management), errors (latching,
 * truncation offsets, error text).
 */
#include "sim_base.h"

#include <check.h>

#include "mig_err.h"
#include "mig_limits.h"
#include "mig_stream.h"

/* ------------------------------------------------------------- helpers */

/* A sink that records the sizes of the chunks it receives and can fail on demand. */
struct chunk_sink {
  struct mig_membuf membuf;   /* everything received */
  size_t chunk_bytes[64];     /* size of each chunk, in order */
  size_t chunk_count;         /* chunks received */
  size_t fail_at_chunk;       /* 1-based chunk that fails with MIG_ERR_IO; 0 = never */
};

static enum mig_err chunk_sink_write(void *context, const uint8_t *bytes, size_t count)
{
  struct chunk_sink *sink = context;
  ck_assert_uint_lt(sink->chunk_count, SIM_ARRAY_COUNT(sink->chunk_bytes));
  sink->chunk_bytes[sink->chunk_count++] = count;
  if (sink->chunk_count == sink->fail_at_chunk) return MIG_ERR_IO;
  return mig_membuf_write(&sink->membuf, bytes, count);
}

/* A refill source over a byte array that hands out at most step_bytes per call. */
struct dribble {
  const uint8_t *bytes;  /* the whole stream */
  size_t count;          /* its length */
  size_t position;       /* bytes handed out so far */
  size_t step_bytes;     /* most bytes per refill call */
  size_t calls;          /* refill calls, including the ones that returned 0 */
};

static size_t dribble_refill(void *context, uint8_t *bytes, size_t capacity)
{
  struct dribble *source = context;
  source->calls++;
  size_t chunk = SIM_MIN(SIM_MIN(capacity, source->step_bytes), source->count - source->position);
  memcpy(bytes, source->bytes + source->position, chunk);
  source->position += chunk;
  return chunk;
}

/* Sample stream: u8, be16, be32, be64, counted string "ab", 3 raw bytes. */
static const uint8_t sample_stream[] = {
  0x7f,                                           /* u8 */
  0x12, 0x34,                                     /* be16 0x1234 */
  0xde, 0xad, 0xbe, 0xef,                         /* be32 0xdeadbeef */
  0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, /* be64 0x0102030405060708 */
  0x02, 'a', 'b',                                 /* counted string "ab" */
  0xaa, 0xbb, 0xcc,                               /* raw bytes */
};

static void sample_write(struct mig_writer *writer)
{
  mig_writer_u8(writer, 0x7f);
  mig_writer_be16(writer, 0x1234);
  mig_writer_be32(writer, 0xdeadbeef);
  mig_writer_be64(writer, UINT64_C(0x0102030405060708));
  mig_writer_counted_string(writer, "ab");
  mig_writer_bytes(writer, (const uint8_t[]){0xaa, 0xbb, 0xcc}, 3);
}

/* Reads sample_stream back and checks every value and offset. */
static void sample_read_check(struct mig_reader *reader)
{
  char text[MIG_IDSTR_BYTES_MAX + 1];
  uint8_t raw[3];
  ck_assert_uint_eq(mig_read_u8(reader), 0x7f);
  ck_assert_uint_eq(mig_read_be16(reader), 0x1234);
  ck_assert_uint_eq(mig_reader_offset(reader), 3);
  ck_assert_uint_eq(mig_read_be32(reader), 0xdeadbeef);
  ck_assert_uint_eq(mig_read_be64(reader), UINT64_C(0x0102030405060708));
  ck_assert_uint_eq(mig_read_counted_string(reader, text, sizeof text), 2);
  ck_assert_str_eq(text, "ab");
  mig_read_bytes(reader, raw, sizeof raw);
  ck_assert_mem_eq(raw, ((const uint8_t[]){0xaa, 0xbb, 0xcc}), 3);
  ck_assert_uint_eq(mig_reader_offset(reader), sizeof sample_stream);
  ck_assert(mig_reader_at_end(reader));
  ck_assert(!mig_reader_failed(reader));
}

/* ---------------------------------------------------------------- core */

/* Goal: every writer primitive emits big-endian bytes; method: compare with sample_stream. */
START_TEST(mig_writer_primitives_big_endian)
{
  struct mig_membuf membuf;
  mig_membuf_init(&membuf, 1024);
  uint8_t buffer[64];
  struct mig_writer writer;
  mig_writer_init(&writer, buffer, sizeof buffer, mig_membuf_write, &membuf);
  sample_write(&writer);
  ck_assert_uint_eq(mig_writer_offset(&writer), sizeof sample_stream);
  ck_assert_uint_eq(membuf.count, 0); /* still staged */
  ck_assert_int_eq(mig_writer_flush(&writer), MIG_OK);
  ck_assert_uint_eq(membuf.count, sizeof sample_stream);
  ck_assert_mem_eq(membuf.bytes, sample_stream, sizeof sample_stream);
  ck_assert_uint_eq(mig_writer_offset(&writer), sizeof sample_stream);
  mig_membuf_deinit(&membuf);
}
END_TEST

/* Goal: a small staging buffer flushes whenever full; method: record chunk sizes. */
START_TEST(mig_writer_flush_small_buffer)
{
  struct chunk_sink sink = {0};
  mig_membuf_init(&sink.membuf, 1024);
  uint8_t buffer[4];
  struct mig_writer writer;
  mig_writer_init(&writer, buffer, sizeof buffer, chunk_sink_write, &sink);
  sample_write(&writer); /* 21 bytes: five full chunks, one byte staged */
  ck_assert_uint_eq(sink.chunk_count, 5);
  for (size_t i = 0; i < sink.chunk_count; i++) ck_assert_uint_eq(sink.chunk_bytes[i], 4);
  ck_assert_uint_eq(mig_writer_offset(&writer), 21);
  ck_assert_int_eq(mig_writer_flush(&writer), MIG_OK);
  ck_assert_uint_eq(sink.chunk_count, 6);
  ck_assert_uint_eq(sink.chunk_bytes[5], 1);
  ck_assert_int_eq(mig_writer_flush(&writer), MIG_OK); /* nothing staged: no empty chunk */
  ck_assert_uint_eq(sink.chunk_count, 6);
  ck_assert_mem_eq(sink.membuf.bytes, sample_stream, sizeof sample_stream);
  mig_membuf_deinit(&sink.membuf);
}
END_TEST

/*
 * Goal: a long write reaches the sink in the same whole-buffer chunks whether
 * it is staged or handed over from the caller's bytes; method: 1 + 14 bytes
 * through a 4-byte buffer, chunks and bytes checked.
 */
START_TEST(mig_writer_long_write_whole_chunks)
{
  struct chunk_sink sink = {0};
  mig_membuf_init(&sink.membuf, 1024);
  uint8_t buffer[4], bytes[14];
  for (size_t i = 0; i < sizeof bytes; i++) bytes[i] = (uint8_t)(0xa0 + i);
  struct mig_writer writer;
  mig_writer_init(&writer, buffer, sizeof buffer, chunk_sink_write, &sink);
  mig_writer_u8(&writer, 0x55);
  mig_writer_bytes(&writer, bytes, sizeof bytes); /* 3 staged, then 4 + 4 direct, 3 staged */
  ck_assert_uint_eq(sink.chunk_count, 3);
  ck_assert_uint_eq(mig_writer_offset(&writer), 15);
  ck_assert_int_eq(mig_writer_flush(&writer), MIG_OK);
  ck_assert_uint_eq(sink.chunk_count, 4);
  for (size_t i = 0; i < 3; i++) ck_assert_uint_eq(sink.chunk_bytes[i], 4);
  ck_assert_uint_eq(sink.chunk_bytes[3], 3);
  ck_assert_uint_eq(sink.membuf.bytes[0], 0x55);
  ck_assert_mem_eq(sink.membuf.bytes + 1, bytes, sizeof bytes);
  mig_membuf_deinit(&sink.membuf);
}
END_TEST

/* Goal: memory-mode reads decode big-endian with exact offsets; method: read sample_stream. */
START_TEST(mig_reader_memory_reads_values)
{
  struct mig_reader reader;
  mig_reader_init_memory(&reader, sample_stream, sizeof sample_stream);
  ck_assert_uint_eq(mig_reader_offset(&reader), 0);
  ck_assert(!mig_reader_at_end(&reader));
  sample_read_check(&reader);
}
END_TEST

/* Goal: peeks neither consume nor latch at the end; method: peek past the last byte. */
START_TEST(mig_reader_peek_at_end_no_error)
{
  const uint8_t bytes[] = {0x05, 0x06};
  struct mig_reader reader;
  mig_reader_init_memory(&reader, bytes, sizeof bytes);
  uint8_t byte = 0;
  ck_assert(mig_reader_peek_u8(&reader, &byte));
  ck_assert_uint_eq(byte, 0x05);
  ck_assert(mig_reader_peek_at(&reader, 1, &byte));
  ck_assert_uint_eq(byte, 0x06);
  ck_assert(!mig_reader_peek_at(&reader, 2, &byte));
  ck_assert(!mig_reader_failed(&reader));
  ck_assert_uint_eq(mig_reader_offset(&reader), 0);
  ck_assert_uint_eq(mig_read_be16(&reader), 0x0506);
  ck_assert(!mig_reader_peek_u8(&reader, &byte));
  ck_assert(mig_reader_at_end(&reader));
  ck_assert(!mig_reader_failed(&reader));
}
END_TEST

/* Goal: a zero-length counted string is empty, not an error; method: read "\0". */
START_TEST(mig_read_counted_string_empty)
{
  const uint8_t bytes[] = {0x00, 0x41};
  struct mig_reader reader;
  mig_reader_init_memory(&reader, bytes, sizeof bytes);
  char text[MIG_IDSTR_BYTES_MAX + 1] = "junk";
  ck_assert_uint_eq(mig_read_counted_string(&reader, text, sizeof text), 0);
  ck_assert_str_eq(text, "");
  ck_assert(!mig_reader_failed(&reader));
  ck_assert_uint_eq(mig_reader_offset(&reader), 1);
}
END_TEST

/* Goal: membuf refuses to grow past count_max; method: write count_max + 1 bytes. */
START_TEST(mig_membuf_write_count_max)
{
  struct mig_membuf membuf;
  mig_membuf_init(&membuf, 5);
  const uint8_t bytes[6] = {1, 2, 3, 4, 5, 6};
  ck_assert_int_eq(mig_membuf_write(&membuf, bytes, 5), MIG_OK);
  ck_assert_int_eq(mig_membuf_write(&membuf, bytes, 1), MIG_ERR_NOMEM);
  ck_assert_uint_eq(membuf.count, 5);
  ck_assert_uint_le(membuf.capacity, 5);
  ck_assert_mem_eq(membuf.bytes, bytes, 5);
  mig_membuf_deinit(&membuf);
  ck_assert_ptr_null(membuf.bytes);
}
END_TEST

/* Goal: membuf growth keeps earlier bytes; method: write 10000 bytes one by one. */
START_TEST(mig_membuf_write_grows)
{
  struct mig_membuf membuf;
  mig_membuf_init(&membuf, 10000);
  for (uint32_t i = 0; i < 10000; i++) {
    uint8_t byte = (uint8_t)(i * 7);
    ck_assert_int_eq(mig_membuf_write(&membuf, &byte, 1), MIG_OK);
  }
  ck_assert_uint_eq(membuf.count, 10000);
  for (uint32_t i = 0; i < 10000; i++) ck_assert_uint_eq(membuf.bytes[i], (uint8_t)(i * 7));
  mig_membuf_deinit(&membuf);
}
END_TEST

/* -------------------------------------------------------------- refill */

/* Goal: refill mode with one byte per call equals memory mode; method: same reads. */
START_TEST(mig_reader_refill_one_byte_matches_memory)
{
  struct dribble source = {.bytes = sample_stream, .count = sizeof sample_stream,
                           .step_bytes = 1};
  uint8_t window[MIG_IDSTR_BYTES_MAX + 2];
  struct mig_reader reader;
  mig_reader_init_refill(&reader, window, sizeof window, dribble_refill, &source);
  ck_assert(!mig_reader_at_end(&reader));
  sample_read_check(&reader);
  ck_assert_uint_eq(source.position, sizeof sample_stream);
}
END_TEST

/* Goal: reads and skips larger than the window work; method: 1000 bytes via a 257-byte window. */
START_TEST(mig_read_bytes_refill_larger_than_window)
{
  uint8_t stream[1000];
  for (size_t i = 0; i < sizeof stream; i++) stream[i] = (uint8_t)(i * 13 + 1);
  struct dribble source = {.bytes = stream, .count = sizeof stream, .step_bytes = 100};
  uint8_t window[MIG_IDSTR_BYTES_MAX + 2];
  struct mig_reader reader;
  mig_reader_init_refill(&reader, window, sizeof window, dribble_refill, &source);
  uint8_t out[600];
  mig_read_skip(&reader, 300);
  ck_assert_uint_eq(mig_reader_offset(&reader), 300);
  mig_read_bytes(&reader, out, sizeof out);
  ck_assert(!mig_reader_failed(&reader));
  ck_assert_mem_eq(out, stream + 300, sizeof out);
  const uint8_t *view = mig_read_view(&reader, 100);
  ck_assert_ptr_nonnull(view);
  ck_assert_mem_eq(view, stream + 900, 100);
  ck_assert_uint_eq(mig_reader_offset(&reader), 1000);
  ck_assert(mig_reader_at_end(&reader));
}
END_TEST

/* Goal: a view larger than the refill window is an error, not a crash; method: ask 258. */
START_TEST(mig_read_view_refill_too_long)
{
  uint8_t stream[600] = {0};
  struct dribble source = {.bytes = stream, .count = sizeof stream, .step_bytes = 600};
  uint8_t window[MIG_IDSTR_BYTES_MAX + 2];
  struct mig_reader reader;
  mig_reader_init_refill(&reader, window, sizeof window, dribble_refill, &source);
  mig_read_skip(&reader, 5);
  ck_assert_ptr_null(mig_read_view(&reader, sizeof window + 1));
  ck_assert_int_eq(mig_reader_error(&reader)->code, MIG_ERR_TOO_LONG);
  ck_assert_uint_eq(mig_reader_error(&reader)->offset, 5);
  ck_assert_uint_eq(mig_reader_offset(&reader), 5);
}
END_TEST

/* Goal: refill is not called again once it reported the end; method: count calls. */
START_TEST(mig_reader_refill_eof_sticky)
{
  const uint8_t stream[] = {0x01};
  struct dribble source = {.bytes = stream, .count = sizeof stream, .step_bytes = 1};
  uint8_t window[MIG_IDSTR_BYTES_MAX + 2];
  struct mig_reader reader;
  mig_reader_init_refill(&reader, window, sizeof window, dribble_refill, &source);
  uint8_t byte = 0;
  ck_assert(!mig_reader_peek_at(&reader, 1, &byte)); /* refill: 1 byte, then 0 */
  ck_assert_uint_eq(source.calls, 2);
  ck_assert(!mig_reader_at_end(&reader));
  ck_assert_uint_eq(mig_read_u8(&reader), 0x01);
  ck_assert(mig_reader_at_end(&reader));
  ck_assert_uint_eq(source.calls, 2);
  ck_assert(!mig_reader_failed(&reader));
}
END_TEST

/* -------------------------------------------------------------- errors */

/* Goal: a short read latches TRUNCATED at the item start, then reads zeros; method: be32 of 3. */
START_TEST(mig_read_be32_truncated)
{
  const uint8_t bytes[] = {0xaa, 0x01, 0x02, 0x03};
  struct mig_reader reader;
  mig_reader_init_memory(&reader, bytes, sizeof bytes);
  ck_assert_uint_eq(mig_read_u8(&reader), 0xaa);
  ck_assert_uint_eq(mig_read_be32(&reader), 0);
  const struct mig_error *error = mig_reader_error(&reader);
  ck_assert(mig_reader_failed(&reader));
  ck_assert_int_eq(error->code, MIG_ERR_TRUNCATED);
  ck_assert_uint_eq(error->offset, 1);
  ck_assert_str_eq(error->path, "");
  ck_assert_str_eq(error->detail, "needed 4 bytes, 3 left");
  ck_assert_ptr_nonnull(error->source_file);
  ck_assert_int_gt(error->source_line, 0);
  ck_assert_uint_eq(mig_reader_offset(&reader), 1);
  ck_assert_uint_eq(mig_read_u8(&reader), 0); /* a byte remains, but the reader has failed */
  ck_assert_uint_eq(mig_reader_offset(&reader), 1);
  uint8_t byte = 0;
  ck_assert(!mig_reader_peek_u8(&reader, &byte));
  ck_assert_ptr_null(mig_read_view(&reader, 1));
}
END_TEST

/* Goal: refill mode truncates at the same offset as memory mode; method: be64 over 5 bytes. */
START_TEST(mig_read_be64_refill_truncated)
{
  const uint8_t bytes[] = {0x01, 0x02, 0x03, 0x04, 0x05};
  struct dribble source = {.bytes = bytes, .count = sizeof bytes, .step_bytes = 1};
  uint8_t window[MIG_IDSTR_BYTES_MAX + 2];
  struct mig_reader reader;
  mig_reader_init_refill(&reader, window, sizeof window, dribble_refill, &source);
  ck_assert_uint_eq(mig_read_be16(&reader), 0x0102);
  ck_assert_uint_eq(mig_read_be64(&reader), 0);
  ck_assert_int_eq(mig_reader_error(&reader)->code, MIG_ERR_TRUNCATED);
  ck_assert_uint_eq(mig_reader_error(&reader)->offset, 2);
  ck_assert_str_eq(mig_reader_error(&reader)->detail, "needed 8 bytes, 3 left");
}
END_TEST

/* Goal: a counted string cut short fails and yields ""; method: length 5, 2 bytes follow. */
START_TEST(mig_read_counted_string_truncated)
{
  const uint8_t bytes[] = {0x05, 'a', 'b'};
  struct mig_reader reader;
  mig_reader_init_memory(&reader, bytes, sizeof bytes);
  char text[MIG_IDSTR_BYTES_MAX + 1];
  ck_assert_uint_eq(mig_read_counted_string(&reader, text, sizeof text), 0);
  ck_assert_str_eq(text, "");
  ck_assert_int_eq(mig_reader_error(&reader)->code, MIG_ERR_TRUNCATED);
  ck_assert_uint_eq(mig_reader_error(&reader)->offset, 1);
}
END_TEST

/* Goal: read_bytes zero-fills on failure; method: ask 4 of 2 bytes into a dirty buffer. */
START_TEST(mig_read_bytes_truncated_zero_fill)
{
  const uint8_t bytes[] = {0x11, 0x22};
  struct mig_reader reader;
  mig_reader_init_memory(&reader, bytes, sizeof bytes);
  uint8_t out[4] = {0xff, 0xff, 0xff, 0xff};
  mig_read_bytes(&reader, out, sizeof out);
  ck_assert_mem_eq(out, ((const uint8_t[4]){0}), 4);
  ck_assert_int_eq(mig_reader_error(&reader)->code, MIG_ERR_TRUNCATED);
  ck_assert_uint_eq(mig_reader_offset(&reader), 0);
}
END_TEST

/* Goal: the first error wins and annotate only fills an empty path; method: fail twice. */
START_TEST(mig_reader_fail_first_wins)
{
  const uint8_t bytes[] = {0x00};
  struct mig_reader reader;
  mig_reader_init_memory(&reader, bytes, sizeof bytes);
  mig__reader_annotate(&reader, "ignored/%d", 1); /* no error yet: no effect */
  ck_assert_str_eq(mig_reader_error(&reader)->path, "");
  (void)mig_read_be16(&reader);
  MIG_READER_FAIL(&reader, MIG_ERR_BAD_VALUE, 7, "later", "dev/%s", "x");
  ck_assert_int_eq(mig_reader_error(&reader)->code, MIG_ERR_TRUNCATED);
  ck_assert_uint_eq(mig_reader_error(&reader)->offset, 0);
  mig__reader_annotate(&reader, "toydev/%s", "count");
  mig__reader_annotate(&reader, "outer/%s", "count");
  ck_assert_str_eq(mig_reader_error(&reader)->path, "toydev/count");
}
END_TEST

/* Goal: the writer latches a sink error and drops later writes; method: fail the 2nd chunk. */
START_TEST(mig_writer_error_latched)
{
  struct chunk_sink sink = {.fail_at_chunk = 2};
  mig_membuf_init(&sink.membuf, 1024);
  uint8_t buffer[4];
  struct mig_writer writer;
  mig_writer_init(&writer, buffer, sizeof buffer, chunk_sink_write, &sink);
  mig_writer_be32(&writer, 1); /* chunk 1 */
  mig_writer_be32(&writer, 2); /* chunk 2 fails */
  ck_assert_int_eq(mig_writer_error(&writer), MIG_ERR_IO);
  uint64_t offset = mig_writer_offset(&writer);
  mig_writer_be64(&writer, 3);
  mig_writer_counted_string(&writer, "abc");
  ck_assert_uint_eq(mig_writer_offset(&writer), offset);
  ck_assert_int_eq(mig_writer_flush(&writer), MIG_ERR_IO);
  ck_assert_uint_eq(sink.chunk_count, 2);
  ck_assert_uint_eq(sink.membuf.count, 4);
  mig_membuf_deinit(&sink.membuf);
}
END_TEST

/* Goal: a membuf overflow surfaces through the writer as NOMEM; method: count_max 3. */
START_TEST(mig_writer_membuf_nomem)
{
  struct mig_membuf membuf;
  mig_membuf_init(&membuf, 3);
  uint8_t buffer[2];
  struct mig_writer writer;
  mig_writer_init(&writer, buffer, sizeof buffer, mig_membuf_write, &membuf);
  mig_writer_be32(&writer, 0x01020304);
  ck_assert_int_eq(mig_writer_flush(&writer), MIG_ERR_NOMEM);
  ck_assert_uint_eq(membuf.count, 2);
  mig_membuf_deinit(&membuf);
}
END_TEST

/* Goal: error text follows "offset 0x..: path: message (detail)"; method: format three errors. */
START_TEST(mig_error_format_text)
{
  struct mig_error error = {.code = MIG_ERR_EQUAL_MISMATCH, .offset = 0x1f};
  snprintf(error.path, sizeof error.path, "toydev/count");
  snprintf(error.detail, sizeof error.detail, "read 0x3 expected 0x2");
  char text[256];
  mig_error_format(&error, text, sizeof text);
  ck_assert_str_eq(text, "offset 0x1f: toydev/count: field differs from the destination's "
                         "value (read 0x3 expected 0x2)");
  struct mig_error bare = {.code = MIG_ERR_TRUNCATED, .offset = 16};
  mig_error_format(&bare, text, sizeof text);
  ck_assert_str_eq(text, "offset 0x10: stream ended early");
  struct mig_error none = {.code = MIG_OK};
  mig_error_format(&none, text, sizeof text);
  ck_assert_str_eq(text, "no error");
  mig_error_format(&error, text, 8);
  ck_assert_str_eq(text, "offset ");
}
END_TEST

/* Goal: every code has a name and a message; method: walk the X-macro range and beyond. */
START_TEST(mig_err_name_every_code)
{
  for (int code = 0; code < MIG_ERR_COUNT; code++) {
    ck_assert_ptr_nonnull(mig_err_name((enum mig_err)code));
    ck_assert_str_ne(mig_err_name((enum mig_err)code), "UNKNOWN");
    ck_assert_str_ne(mig_err_message((enum mig_err)code), "unknown error");
  }
  ck_assert_str_eq(mig_err_name(MIG_OK), "OK");
  ck_assert_str_eq(mig_err_name(MIG_ERR_TRUNCATED), "TRUNCATED");
  ck_assert_str_eq(mig_err_message(MIG_ERR_NOMEM), "allocation bound exceeded");
  ck_assert_str_eq(mig_err_name(MIG_ERR_COUNT), "UNKNOWN");
  ck_assert_str_eq(mig_err_message((enum mig_err)(MIG_ERR_COUNT + 7)), "unknown error");
}
END_TEST

Suite *mig_stream_suite(void)
{
  Suite *suite = suite_create("mig_stream");
  TCase *core = tcase_create("core");
  tcase_add_test(core, mig_writer_primitives_big_endian);
  tcase_add_test(core, mig_writer_flush_small_buffer);
  tcase_add_test(core, mig_writer_long_write_whole_chunks);
  tcase_add_test(core, mig_reader_memory_reads_values);
  tcase_add_test(core, mig_reader_peek_at_end_no_error);
  tcase_add_test(core, mig_read_counted_string_empty);
  tcase_add_test(core, mig_membuf_write_count_max);
  tcase_add_test(core, mig_membuf_write_grows);
  suite_add_tcase(suite, core);
  TCase *refill = tcase_create("refill");
  tcase_add_test(refill, mig_reader_refill_one_byte_matches_memory);
  tcase_add_test(refill, mig_read_bytes_refill_larger_than_window);
  tcase_add_test(refill, mig_read_view_refill_too_long);
  tcase_add_test(refill, mig_reader_refill_eof_sticky);
  suite_add_tcase(suite, refill);
  TCase *errors = tcase_create("errors");
  tcase_add_test(errors, mig_read_be32_truncated);
  tcase_add_test(errors, mig_read_be64_refill_truncated);
  tcase_add_test(errors, mig_read_counted_string_truncated);
  tcase_add_test(errors, mig_read_bytes_truncated_zero_fill);
  tcase_add_test(errors, mig_reader_fail_first_wins);
  tcase_add_test(errors, mig_writer_error_latched);
  tcase_add_test(errors, mig_writer_membuf_nomem);
  tcase_add_test(errors, mig_error_format_text);
  tcase_add_test(errors, mig_err_name_every_code);
  suite_add_tcase(suite, errors);
  return suite;
}
