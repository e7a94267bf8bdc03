/*
 * cli_input.h: how `migsim inspect`, `reencode`, `analyze` and `bench` read
 * a stream file, without reading it whole into memory first.
 *
 * - A regular file that is not xz is mapped (mmap, read-only): the walker
 *   reads it in memory mode, and cli_input_consumed drops the pages the walk
 *   has passed (MADV_DONTNEED; the file's page cache stays), so the resident
 *   set does not grow with the stream.  The trailer at the end is read
 *   first, as the walker sizes FULL sections from it.
 * - Standard input, pipes and xz files are read as a stream: a refill-mode
 *   reader (MIG_INSPECT_STREAM_WINDOW_BYTES of window) over read(2) or over
 *   an xz decoder that decodes as the walker asks, so a stream whose first
 *   bytes are wrong is refused before the rest is read or decoded.  The
 *   walker holds only the stream's tail (mig_inspect_walk_reader).
 * Errors of the input itself (xz data corrupt, a read error) are kept here
 * and take precedence over the walk's TRUNCATED that they cause.
 */
#ifndef CLI_INPUT_H
#define CLI_INPUT_H

#include "sim_base.h"
#include "mig_stream.h"

#include <lzma.h>

#define CLI_INPUT_XZ_MEMORY_MAX (UINT64_C(256) << 20)  /* xz decoder memory */
#define CLI_INPUT_CHUNK_BYTES (UINT32_C(256) << 10)

struct cli_input {
  bool mapped;                      /* bytes/count hold the whole stream (mmap) */
  const uint8_t *bytes;
  size_t count;
  struct mig_reader reader;         /* !mapped: refill mode over the stream */
  bool failed;                      /* an input error; message holds it */
  char message[256];
  /* Private. */
  int fd;
  bool xz;
  bool xz_done;                     /* the decoder returned LZMA_STREAM_END */
  lzma_stream lzma;
  uint8_t *in;                      /* CLI_INPUT_CHUNK_BYTES of compressed or raw input */
  size_t in_count, in_at;
  bool in_eof;
  uint64_t in_total;                /* input bytes read (for xz messages) */
  uint8_t *window;                  /* the reader's window */
  struct mig_membuf *tee;           /* when set: every byte handed out is kept here too */
};

/* Opens path ("-": standard input); false with a message in error. */
bool cli_input_open(struct cli_input *input, const char *path, char *error, size_t error_bytes);
void cli_input_close(struct cli_input *input);
/* mig_inspect_options.consumed for a mapped input (context = the input). */
void cli_input_consumed(void *context, uint64_t offset);
/*
 * The whole stream copied into out (at most count_max bytes), for the
 * readers that need it whole (the benches, tests).  False with a message.
 */
bool cli_input_slurp(struct cli_input *input, struct mig_membuf *out, size_t count_max,
                     char *error, size_t error_bytes);

#endif /* CLI_INPUT_H */
