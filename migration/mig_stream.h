/*
 * mig_stream.h: buffered stream writer and reader (QEMUFile's role).
 *
 * Everything is big-endian (spec §1).  Both sides latch their first error
 * (STYLE R10): after it, writes are dropped and reads return zeros, so callers
 * check once per field or record.  The reader keeps the absolute byte offset
 * of every item, and every failure records offset and "section/field" path.
 *
 * A reader works on memory (all bytes present) or through a refill callback
 * that blocks until more bytes arrive (a socket, a file, or a simulated link
 * through a fiber).  Refill returning 0 means end of stream.
 */
#ifndef MIG_STREAM_H
#define MIG_STREAM_H

#include "sim_base.h"
#include "mig_err.h"

/* Consumes count bytes; returns MIG_OK or an error that the writer latches. */
typedef enum mig_err mig_write_fn(void *context, const uint8_t *bytes, size_t count);

struct mig_writer {          /* caller-owned; fields private */
  uint8_t *buffer;           /* staging bytes */
  size_t capacity;           /* staging size */
  size_t used;               /* staged bytes */
  uint64_t offset_flushed;   /* stream offset of buffer[0] */
  mig_write_fn *write;       /* sink */
  void *context;             /* sink's context */
  enum mig_err error;        /* first error, latched */
};

void mig_writer_init(struct mig_writer *writer, uint8_t *buffer, size_t capacity,
                     mig_write_fn *write, void *context);
void mig_writer_u8(struct mig_writer *writer, uint8_t value);
void mig_writer_be16(struct mig_writer *writer, uint16_t value);
void mig_writer_be32(struct mig_writer *writer, uint32_t value);
void mig_writer_be64(struct mig_writer *writer, uint64_t value);
void mig_writer_bytes(struct mig_writer *writer, const void *bytes, size_t count);
/* Length byte then the bytes; strlen(text) must be <= 255. */
void mig_writer_counted_string(struct mig_writer *writer, const char *text);
/* Bytes written so far, flushed or staged. */
uint64_t mig_writer_offset(const struct mig_writer *writer);
enum mig_err mig_writer_flush(struct mig_writer *writer);
enum mig_err mig_writer_error(const struct mig_writer *writer);

/* A growable in-memory sink for mig_writer (tests, files, canonical encodings). */
struct mig_membuf {
  uint8_t *bytes;            /* malloc'd; owned by the membuf */
  size_t count;              /* bytes held */
  size_t capacity;           /* bytes allocated */
  size_t count_max;          /* writes beyond this fail with MIG_ERR_NOMEM */
};
void mig_membuf_init(struct mig_membuf *membuf, size_t count_max);
void mig_membuf_deinit(struct mig_membuf *membuf);
mig_write_fn mig_membuf_write;  /* context is the struct mig_membuf */

/* Fills up to capacity bytes; returns 0 at end of stream. */
typedef size_t mig_refill_fn(void *context, uint8_t *bytes, size_t capacity);

struct mig_reader {          /* caller-owned; fields private */
  const uint8_t *cursor;     /* next unread byte */
  const uint8_t *end;        /* end of the readable window */
  const uint8_t *window;     /* start of the window */
  uint64_t window_offset;    /* stream offset of window[0] */
  uint8_t *buffer;           /* refill mode: owned window storage */
  size_t capacity;           /* refill mode: buffer size */
  mig_refill_fn *refill;     /* NULL in memory mode */
  void *context;             /* refill's context */
  bool at_eof;               /* refill returned 0 */
  struct mig_error error;    /* first error, latched */
};

void mig_reader_init_memory(struct mig_reader *reader, const uint8_t *bytes, size_t count);
/* The same for bytes that sit at stream offset `offset`: offsets and errors are absolute. */
void mig_reader_init_memory_at(struct mig_reader *reader, const uint8_t *bytes, size_t count,
                               uint64_t offset);
/* capacity >= MIG_IDSTR_BYTES_MAX + 2, so a subsection header can be peeked whole. */
void mig_reader_init_refill(struct mig_reader *reader, uint8_t *buffer, size_t capacity,
                            mig_refill_fn *refill, void *context);

uint8_t mig_read_u8(struct mig_reader *reader);
uint16_t mig_read_be16(struct mig_reader *reader);
uint32_t mig_read_be32(struct mig_reader *reader);
uint64_t mig_read_be64(struct mig_reader *reader);
/* Copies count bytes into out (zeros after an error). */
void mig_read_bytes(struct mig_reader *reader, void *out, size_t count);
/* Discards count bytes. */
void mig_read_skip(struct mig_reader *reader, uint64_t count);
/*
 * Returns a pointer to count contiguous unread bytes and consumes them, or
 * NULL after an error; count <= MIG_READER_BUFFER_BYTES in refill mode (a
 * count larger than the reader's window latches MIG_ERR_TOO_LONG).  The
 * pointer is valid until the next read or peek.
 */
const uint8_t *mig_read_view(struct mig_reader *reader, size_t count);
/*
 * Reads a counted string into out (NUL-terminated, out_bytes >= 256).
 * Returns its length; a zero length is returned as 0 without error.
 */
size_t mig_read_counted_string(struct mig_reader *reader, char *out, size_t out_bytes);
/* Looks at the next byte without consuming it; false at end of stream or error. */
bool mig_reader_peek_u8(struct mig_reader *reader, uint8_t *out);
/*
 * Looks at the byte `ahead` bytes past the cursor without consuming it;
 * false at end of stream or error, and never latches an error.
 * ahead <= MIG_IDSTR_BYTES_MAX + 1, so a subsection's 0x05 marker, length
 * byte and name can all be peeked; refill mode may call refill to get there.
 */
bool mig_reader_peek_at(struct mig_reader *reader, size_t ahead, uint8_t *out);
/*
 * Moves up to capacity unread bytes to out (refilling once when none is
 * buffered) and returns how many; 0 at the end of the stream or after an
 * error.  For consumers that take the rest of a stream whole (the walker's
 * tail, mig_inspect.h).
 */
size_t mig_reader_take(struct mig_reader *reader, uint8_t *out, size_t capacity);
/* True when no byte remains (memory mode: at end; refill mode: refill said 0). */
bool mig_reader_at_end(struct mig_reader *reader);

uint64_t mig_reader_offset(const struct mig_reader *reader);
bool mig_reader_failed(const struct mig_reader *reader);
const struct mig_error *mig_reader_error(const struct mig_reader *reader);

/*
 * Memory mode only: the unread bytes (*available of them) at the cursor, for
 * parsers that scan in place (the record layer's fast paths); NULL in refill
 * mode or after an error.  Consume what was scanned with
 * mig__reader_advance (count <= *available) or mig_read_skip.
 */
static inline const uint8_t *mig__reader_window(const struct mig_reader *reader,
                                                size_t *available)
{
  *available = 0;
  if (reader->refill != NULL || reader->error.code != MIG_OK) return NULL;
  *available = (size_t)(reader->end - reader->cursor);
  return reader->cursor;
}

static inline void mig__reader_advance(struct mig_reader *reader, size_t count)
{
  SIM_ASSERT(reader->refill == NULL && count <= (size_t)(reader->end - reader->cursor));
  reader->cursor += count;
}

/*
 * Latches an error at `offset` with a printf-style path; the first error wins.
 * Use MIG_READER_FAIL so the C source line is recorded.
 */
void mig__reader_fail(struct mig_reader *reader, enum mig_err code, uint64_t offset,
                      const char *file, int line, const char *detail,
                      const char *path_format, ...)
#ifdef __GNUC__
    __attribute__((format(printf, 7, 8)))
#endif
    ;
#define MIG_READER_FAIL(reader, code, offset, detail, ...) \
  mig__reader_fail((reader), (code), (offset), __FILE__, __LINE__, (detail), __VA_ARGS__)

/*
 * Names the mig_policy field behind the latched error (a refusal that a
 * laxer policy would accept); no effect without an error or when one is set.
 */
void mig__reader_policy(struct mig_reader *reader, const char *field);

/*
 * Fills in the path of the latched error if it is still empty; no effect when
 * the reader has not failed or the path is already set.  Primitive reads
 * latch MIG_ERR_TRUNCATED with an empty path (they do not know what they were
 * reading); the layer that does (the vmstate loader, the section loader)
 * calls this after each field or record, so the innermost path wins.
 */
void mig__reader_annotate(struct mig_reader *reader, const char *path_format, ...)
#ifdef __GNUC__
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#endif /* MIG_STREAM_H */
