/*
 * mig_stream.c: the buffered stream writer, its in-memory sink, and the
 * stream reader (QEMUFile's role; the contract is in mig_stream.h and the
 * byte conventions in spec/stream-format.md §1).
 *
 * The writer stages bytes in the caller's buffer and hands them to the sink
 * in chunks of at most the buffer's size: eagerly when the buffer fills, and
 * on mig_writer_flush.  The reader either reads straight from memory or keeps
 * a window in an owned buffer that a refill callback tops up; in both modes
 * every multi-byte read is first made contiguous by reader_fill(), so the
 * decoders below see one pointer and one end.  Both sides latch their first
 * error (STYLE R10): after it writes are dropped and reads return zeros
 * without advancing, so callers check once per field or record.  Primitive
 * reads latch MIG_ERR_TRUNCATED with an empty path; the layer that knows what
 * it was reading fills the path in with mig__reader_annotate.
 */
#include "sim_base.h"

#include "mig_limits.h"
#include "mig_stream.h"

/* ---------------------------------------------------------------- writer */

void mig_writer_init(struct mig_writer *writer, uint8_t *buffer, size_t capacity,
                     mig_write_fn *write, void *context)
{
  SIM_ASSERT(writer != NULL);
  SIM_ASSERT(buffer != NULL && capacity > 0);
  SIM_ASSERT(write != NULL);
  *writer = (struct mig_writer){
    .buffer = buffer,
    .capacity = capacity,
    .write = write,
    .context = context,
    .error = MIG_OK,
  };
}

/* Hands the staged bytes to the sink; a sink error is latched. */
static void writer_drain(struct mig_writer *writer)
{
  SIM_ASSERT(writer->used <= writer->capacity);
  if (writer->error != MIG_OK || writer->used == 0) return;
  enum mig_err err = writer->write(writer->context, writer->buffer, writer->used);
  SIM_ASSERT((unsigned)err < (unsigned)MIG_ERR_COUNT);
  if (err != MIG_OK) {
    writer->error = err;
    return;
  }
  writer->offset_flushed += writer->used;
  writer->used = 0;
}

/*
 * Stages bytes and hands the sink whole buffers.  A whole buffer's worth
 * met with an empty buffer goes to the sink from the caller's bytes, with
 * no copy: the sink sees the same writes either way.
 */
static void writer_put(struct mig_writer *writer, const uint8_t *bytes, size_t count)
{
  SIM_ASSERT(bytes != NULL || count == 0);
  while (writer->error == MIG_OK && count > 0) {
    size_t chunk = SIM_MIN(count, writer->capacity - writer->used);
    SIM_ASSERT(chunk > 0);
    if (writer->used == 0 && chunk == writer->capacity) {
      enum mig_err err = writer->write(writer->context, bytes, chunk);
      SIM_ASSERT((unsigned)err < (unsigned)MIG_ERR_COUNT);
      if (err != MIG_OK) { /* as if staged and refused: the buffer holds the chunk */
        memcpy(writer->buffer, bytes, chunk);
        writer->used = chunk;
        writer->error = err;
        return;
      }
      writer->offset_flushed += chunk;
      bytes += chunk;
      count -= chunk;
      continue;
    }
    memcpy(writer->buffer + writer->used, bytes, chunk);
    writer->used += chunk;
    bytes += chunk;
    count -= chunk;
    if (writer->used == writer->capacity) writer_drain(writer);
  }
}

void mig_writer_u8(struct mig_writer *writer, uint8_t value)
{
  writer_put(writer, &value, 1);
}

void mig_writer_be16(struct mig_writer *writer, uint16_t value)
{
  uint8_t bytes[2] = {(uint8_t)(value >> 8), (uint8_t)value};
  writer_put(writer, bytes, sizeof bytes);
}

void mig_writer_be32(struct mig_writer *writer, uint32_t value)
{
  uint8_t bytes[4];
  for (size_t i = 0; i < sizeof bytes; i++) bytes[i] = (uint8_t)(value >> (24 - 8 * i));
  writer_put(writer, bytes, sizeof bytes);
}

void mig_writer_be64(struct mig_writer *writer, uint64_t value)
{
  uint8_t bytes[8];
  for (size_t i = 0; i < sizeof bytes; i++) bytes[i] = (uint8_t)(value >> (56 - 8 * i));
  writer_put(writer, bytes, sizeof bytes);
}

void mig_writer_bytes(struct mig_writer *writer, const void *bytes, size_t count)
{
  writer_put(writer, bytes, count);
}

void mig_writer_counted_string(struct mig_writer *writer, const char *text)
{
  SIM_ASSERT(text != NULL);
  size_t length = strlen(text);
  SIM_ASSERT(length <= MIG_IDSTR_BYTES_MAX);
  mig_writer_u8(writer, (uint8_t)length);
  writer_put(writer, (const uint8_t *)text, length);
}

uint64_t mig_writer_offset(const struct mig_writer *writer)
{
  SIM_ASSERT(writer->used <= writer->capacity);
  return writer->offset_flushed + writer->used;
}

enum mig_err mig_writer_flush(struct mig_writer *writer)
{
  writer_drain(writer);
  SIM_ASSERT(writer->error != MIG_OK || writer->used == 0);
  return writer->error;
}

enum mig_err mig_writer_error(const struct mig_writer *writer)
{
  return writer->error;
}

/* ---------------------------------------------------------------- membuf */

void mig_membuf_init(struct mig_membuf *membuf, size_t count_max)
{
  SIM_ASSERT(membuf != NULL);
  *membuf = (struct mig_membuf){.count_max = count_max};
}

void mig_membuf_deinit(struct mig_membuf *membuf)
{
  SIM_ASSERT(membuf != NULL);
  free(membuf->bytes);
  *membuf = (struct mig_membuf){0};
}

/* Grows by doubling, never past count_max; the bound is checked before realloc. */
enum mig_err mig_membuf_write(void *context, const uint8_t *bytes, size_t count)
{
  struct mig_membuf *membuf = context;
  SIM_ASSERT(membuf != NULL);
  SIM_ASSERT(membuf->count <= membuf->capacity && membuf->count <= membuf->count_max);
  if (count > membuf->count_max - membuf->count) return MIG_ERR_NOMEM;
  size_t needed = membuf->count + count;
  if (needed > membuf->capacity) {
    size_t capacity = membuf->capacity > 0 ? membuf->capacity : 256;
    while (capacity < needed) capacity = capacity > SIZE_MAX / 2 ? needed : capacity * 2;
    capacity = SIM_MIN(capacity, membuf->count_max);
    SIM_ASSERT(capacity >= needed);
    uint8_t *grown = realloc(membuf->bytes, capacity);
    if (grown == NULL) return MIG_ERR_NOMEM;
    membuf->bytes = grown;
    membuf->capacity = capacity;
  }
  if (count > 0) memcpy(membuf->bytes + membuf->count, bytes, count);
  membuf->count = needed;
  return MIG_OK;
}

/* ---------------------------------------------------------------- reader */

void mig_reader_init_memory(struct mig_reader *reader, const uint8_t *bytes, size_t count)
{
  SIM_ASSERT(reader != NULL);
  SIM_ASSERT(bytes != NULL || count == 0);
  static const uint8_t empty[1];
  const uint8_t *start = bytes != NULL ? bytes : empty;
  *reader = (struct mig_reader){
    .cursor = start,
    .end = start + count,
    .window = start,
    .at_eof = true,
  };
}

void mig_reader_init_memory_at(struct mig_reader *reader, const uint8_t *bytes, size_t count,
                               uint64_t offset)
{
  mig_reader_init_memory(reader, bytes, count);
  reader->window_offset = offset;
}

void mig_reader_init_refill(struct mig_reader *reader, uint8_t *buffer, size_t capacity,
                            mig_refill_fn *refill, void *context)
{
  SIM_ASSERT(reader != NULL);
  SIM_ASSERT(buffer != NULL && capacity >= MIG_IDSTR_BYTES_MAX + 2);
  SIM_ASSERT(refill != NULL);
  *reader = (struct mig_reader){
    .cursor = buffer,
    .end = buffer,
    .window = buffer,
    .buffer = buffer,
    .capacity = capacity,
    .refill = refill,
    .context = context,
  };
}

static size_t reader_available(const struct mig_reader *reader)
{
  SIM_ASSERT(reader->cursor <= reader->end);
  return (size_t)(reader->end - reader->cursor);
}

/*
 * Makes `needed` unread bytes contiguous at the cursor if the stream holds
 * them.  Refill mode moves the unread bytes to the front of the buffer and
 * asks refill for the rest of the buffer, looping because refill may return
 * fewer bytes than asked.  Never latches an error (peeks rely on that); this
 * invalidates pointers previously returned by mig_read_view.
 */
static bool reader_fill(struct mig_reader *reader, size_t needed)
{
  size_t available = reader_available(reader);
  if (available >= needed) return true;
  if (reader->refill == NULL || reader->at_eof || needed > reader->capacity) return false;
  if (reader->cursor != reader->buffer) {
    reader->window_offset += (uint64_t)(reader->cursor - reader->window);
    memmove(reader->buffer, reader->cursor, available);
    reader->window = reader->buffer;
    reader->cursor = reader->buffer;
    reader->end = reader->buffer + available;
  }
  while (available < needed) {
    size_t room = reader->capacity - available;
    size_t got = reader->refill(reader->context, reader->buffer + available, room);
    SIM_ASSERT(got <= room);
    if (got == 0) {
      reader->at_eof = true;
      return false;
    }
    available += got;
    reader->end = reader->buffer + available;
  }
  return true;
}

uint64_t mig_reader_offset(const struct mig_reader *reader)
{
  SIM_ASSERT(reader->window <= reader->cursor);
  return reader->window_offset + (uint64_t)(reader->cursor - reader->window);
}

bool mig_reader_failed(const struct mig_reader *reader)
{
  return reader->error.code != MIG_OK;
}

const struct mig_error *mig_reader_error(const struct mig_reader *reader)
{
  return &reader->error;
}

static void reader_truncated(struct mig_reader *reader, uint64_t offset, uint64_t needed,
                             uint64_t left)
{
  char detail[80];
  snprintf(detail, sizeof detail, "needed %" PRIu64 " bytes, %" PRIu64 " left", needed, left);
  MIG_READER_FAIL(reader, MIG_ERR_TRUNCATED, offset, detail, "%s", "");
}

/* Consumes count (<= 8 or <= the window) contiguous bytes; NULL on error. */
static const uint8_t *reader_take(struct mig_reader *reader, size_t count)
{
  if (reader->error.code != MIG_OK) return NULL;
  if (!reader_fill(reader, count)) {
    reader_truncated(reader, mig_reader_offset(reader), count, reader_available(reader));
    return NULL;
  }
  const uint8_t *bytes = reader->cursor;
  reader->cursor += count;
  return bytes;
}

static uint64_t decode_be(const uint8_t *bytes, size_t count)
{
  uint64_t value = 0;
  for (size_t i = 0; i < count; i++) value = (value << 8) | bytes[i];
  return value;
}

uint8_t mig_read_u8(struct mig_reader *reader)
{
  const uint8_t *bytes = reader_take(reader, 1);
  return bytes != NULL ? bytes[0] : 0;
}

uint16_t mig_read_be16(struct mig_reader *reader)
{
  const uint8_t *bytes = reader_take(reader, 2);
  return bytes != NULL ? (uint16_t)decode_be(bytes, 2) : 0;
}

uint32_t mig_read_be32(struct mig_reader *reader)
{
  const uint8_t *bytes = reader_take(reader, 4);
  return bytes != NULL ? (uint32_t)decode_be(bytes, 4) : 0;
}

uint64_t mig_read_be64(struct mig_reader *reader)
{
  const uint8_t *bytes = reader_take(reader, 8);
  return bytes != NULL ? decode_be(bytes, 8) : 0;
}

/*
 * Copies (out != NULL) or discards count bytes in window-sized chunks, so a
 * count larger than the refill window works.  If the stream ends part way the
 * error is latched at the item's first byte; the chunks already consumed stay
 * consumed (refill mode cannot give them back).
 */
static bool reader_consume(struct mig_reader *reader, uint8_t *out, uint64_t count)
{
  if (reader->error.code != MIG_OK) return false;
  uint64_t start = mig_reader_offset(reader);
  uint64_t done = 0;
  size_t chunk_max = reader->refill != NULL ? reader->capacity : SIZE_MAX;
  while (done < count) {
    size_t chunk = (size_t)SIM_MIN(count - done, (uint64_t)chunk_max);
    if (!reader_fill(reader, chunk)) {
      reader_truncated(reader, start, count, done + reader_available(reader));
      return false;
    }
    if (out != NULL) memcpy(out + done, reader->cursor, chunk);
    reader->cursor += chunk;
    done += chunk;
  }
  return true;
}

void mig_read_bytes(struct mig_reader *reader, void *out, size_t count)
{
  SIM_ASSERT(out != NULL || count == 0);
  if (count == 0) return;
  if (!reader_consume(reader, out, count)) memset(out, 0, count);
}

void mig_read_skip(struct mig_reader *reader, uint64_t count)
{
  (void)reader_consume(reader, NULL, count);
}

const uint8_t *mig_read_view(struct mig_reader *reader, size_t count)
{
  if (reader->error.code != MIG_OK) return NULL;
  if (reader->refill != NULL && count > reader->capacity) {
    char detail[80];
    snprintf(detail, sizeof detail, "view of %zu bytes, window %zu", count, reader->capacity);
    MIG_READER_FAIL(reader, MIG_ERR_TOO_LONG, mig_reader_offset(reader), detail, "%s", "");
    return NULL;
  }
  return reader_take(reader, count);
}

size_t mig_read_counted_string(struct mig_reader *reader, char *out, size_t out_bytes)
{
  SIM_ASSERT(out != NULL);
  SIM_ASSERT(out_bytes > MIG_IDSTR_BYTES_MAX);
  size_t length = mig_read_u8(reader);
  mig_read_bytes(reader, out, length);
  if (reader->error.code != MIG_OK) length = 0;
  out[length] = '\0';
  return length;
}

bool mig_reader_peek_at(struct mig_reader *reader, size_t ahead, uint8_t *out)
{
  SIM_ASSERT(out != NULL);
  SIM_ASSERT(ahead <= MIG_IDSTR_BYTES_MAX + 1);
  if (reader->error.code != MIG_OK || !reader_fill(reader, ahead + 1)) return false;
  *out = reader->cursor[ahead];
  return true;
}

bool mig_reader_peek_u8(struct mig_reader *reader, uint8_t *out)
{
  return mig_reader_peek_at(reader, 0, out);
}

size_t mig_reader_take(struct mig_reader *reader, uint8_t *out, size_t capacity)
{
  SIM_ASSERT(out != NULL || capacity == 0);
  if (reader->error.code != MIG_OK || capacity == 0 || !reader_fill(reader, 1)) return 0;
  size_t count = SIM_MIN(reader_available(reader), capacity);
  memcpy(out, reader->cursor, count);
  reader->cursor += count;
  SIM_ASSERT(reader->cursor <= reader->end);
  return count;
}

/* Reports the bytes themselves, so it answers the same before and after an error. */
bool mig_reader_at_end(struct mig_reader *reader)
{
  return !reader_fill(reader, 1);
}

/* ---------------------------------------------------------------- errors */

void mig__reader_fail(struct mig_reader *reader, enum mig_err code, uint64_t offset,
                      const char *file, int line, const char *detail,
                      const char *path_format, ...)
{
  va_list args;
  va_start(args, path_format);
  mig__error_vlatch(&reader->error, code, offset, file, line, detail, path_format, args);
  va_end(args);
}

void mig__reader_annotate(struct mig_reader *reader, const char *path_format, ...)
{
  SIM_ASSERT(path_format != NULL);
  if (reader->error.code == MIG_OK || reader->error.path[0] != '\0') return;
  va_list args;
  va_start(args, path_format);
  mig__error_vformat_path(reader->error.path, sizeof reader->error.path, path_format, args);
  va_end(args);
}

void mig__reader_policy(struct mig_reader *reader, const char *field)
{
  SIM_ASSERT(field != NULL);
  if (reader->error.code == MIG_OK || reader->error.policy != NULL) return;
  reader->error.policy = field;
}
