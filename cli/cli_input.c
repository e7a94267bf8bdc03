/*
 * cli_input.c: stream input by mmap or as a stream (overview in
 * cli_input.h).  File I/O and xz decoding live here, off the simulated path.
 */
/* MADV_DONTNEED is not POSIX: ask glibc for it. */
#define _DEFAULT_SOURCE 1

#include "sim_base.h"

#include "cli_input.h"
#include "mig_inspect.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static const uint8_t xz_magic[6] = {0xfd, '7', 'z', 'X', 'Z', 0x00};

_Static_assert(CLI_INPUT_CHUNK_BYTES >= sizeof xz_magic, "the sniffed bytes fit the input");

#ifdef __GNUC__
__attribute__((format(printf, 2, 3)))
#endif
static void input_fail(struct cli_input *input, const char *format, ...)
{
  if (input->failed) return;
  input->failed = true;
  va_list args;
  va_start(args, format);
  vsnprintf(input->message, sizeof input->message, format, args);
  va_end(args);
}

/* Reads more raw input into input->in (which must be used up); false at its end. */
static bool input_fill(struct cli_input *input)
{
  SIM_ASSERT(input->in_at == input->in_count);
  input->in_at = input->in_count = 0;
  while (!input->in_eof) {
    ssize_t got = read(input->fd, input->in, CLI_INPUT_CHUNK_BYTES);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      input_fail(input, "read error: %s", strerror(errno));
      input->in_eof = true;
      return false;
    }
    if (got == 0) input->in_eof = true;
    input->in_count = (size_t)got;
    input->in_total += (uint64_t)got;
    return got > 0;
  }
  return false;
}

static const char *input_xz_reason(lzma_ret ret)
{
  return ret == LZMA_BUF_ERROR      ? "xz data truncated (the file ends early)"
         : ret == LZMA_DATA_ERROR   ? "xz data corrupt"
         : ret == LZMA_MEMLIMIT_ERROR ? "xz data needs more decoder memory than allowed (256 MiB)"
                                      : "xz decompression failed";
}

/* Decodes into bytes[0, capacity) as far as the input allows; 0 at the end or on an error. */
static size_t input_xz_refill(struct cli_input *input, uint8_t *bytes, size_t capacity)
{
  lzma_stream *stream = &input->lzma;
  stream->next_out = bytes;
  stream->avail_out = capacity;
  while (stream->avail_out == capacity && !input->xz_done && !input->failed) {
    if (input->in_at == input->in_count && !input->in_eof) (void)input_fill(input);
    stream->next_in = input->in + input->in_at;
    stream->avail_in = input->in_count - input->in_at;
    size_t before = stream->avail_in;
    lzma_ret ret = lzma_code(stream, input->in_eof ? LZMA_FINISH : LZMA_RUN);
    input->in_at += before - stream->avail_in;
    if (ret == LZMA_STREAM_END) {
      input->xz_done = true;
    } else if (ret != LZMA_OK) {
      input_fail(input, "%s (lzma_ret %d, after %" PRIu64 " input bytes)", input_xz_reason(ret),
                 (int)ret, input->in_total - (input->in_count - input->in_at));
    }
  }
  return capacity - stream->avail_out;
}

static size_t input_refill(void *context, uint8_t *bytes, size_t capacity)
{
  struct cli_input *input = context;
  size_t count = 0;
  if (input->xz) {
    count = input_xz_refill(input, bytes, capacity);
  } else if (input->in_at < input->in_count) {  /* the bytes read to sniff the format */
    count = SIM_MIN(capacity, input->in_count - input->in_at);
    memcpy(bytes, input->in + input->in_at, count);
    input->in_at += count;
  } else if (!input->in_eof) {
    ssize_t got;
    do {
      got = read(input->fd, bytes, capacity);
    } while (got < 0 && errno == EINTR);
    if (got < 0) input_fail(input, "read error: %s", strerror(errno));
    if (got <= 0) input->in_eof = true;
    count = got > 0 ? (size_t)got : 0;
  }
  if (count > 0 && input->tee != NULL && mig_membuf_write(input->tee, bytes, count) != MIG_OK) {
    input_fail(input, "stream exceeds %zu bytes held in memory", input->tee->count_max);
    return 0;
  }
  return count;
}

/* Maps a regular file; false (not an error) when it cannot be mapped, so it is read instead. */
static bool input_map(struct cli_input *input, const struct stat *status)
{
  if (!S_ISREG(status->st_mode) || status->st_size <= 0) return false;
  void *map = mmap(NULL, (size_t)status->st_size, PROT_READ, MAP_PRIVATE, input->fd, 0);
  if (map == MAP_FAILED) return false;
  (void)madvise(map, (size_t)status->st_size, MADV_SEQUENTIAL);
  input->mapped = true;
  input->bytes = map;
  input->count = (size_t)status->st_size;
  return true;
}

bool cli_input_open(struct cli_input *input, const char *path, char *error, size_t error_bytes)
{
  memset(input, 0, sizeof *input);
  input->fd = -1;
  bool is_stdin = strcmp(path, "-") == 0;
  input->fd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY);
  struct stat status;
  if (input->fd < 0 || fstat(input->fd, &status) != 0) {
    snprintf(error, error_bytes, "%s: %s", path, strerror(errno));
    return false;
  }
  if (S_ISDIR(status.st_mode)) {
    snprintf(error, error_bytes, "%s: is a directory, not a stream file", path);
    return false;
  }
  input->in = malloc(CLI_INPUT_CHUNK_BYTES);
  input->window = malloc(MIG_INSPECT_STREAM_WINDOW_BYTES);
  if (input->in == NULL || input->window == NULL) {
    snprintf(error, error_bytes, "%s: out of memory", path);
    return false;
  }
  /* Sniff the format: the first 6 bytes (a pipe may give them in pieces). */
  while (input->in_count < sizeof xz_magic && !input->in_eof) {
    input->in_at = input->in_count;
    size_t had = input->in_count;
    ssize_t got = read(input->fd, input->in + had, CLI_INPUT_CHUNK_BYTES - had);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      snprintf(error, error_bytes, "%s: read error: %s", path, strerror(errno));
      return false;
    }
    input->in_count = had + (size_t)got;
    input->in_total += (uint64_t)got;
    if (got == 0) input->in_eof = true;
  }
  input->in_at = 0;
  input->xz = input->in_count >= sizeof xz_magic &&
              memcmp(input->in, xz_magic, sizeof xz_magic) == 0;
  if (!input->xz && !is_stdin && input_map(input, &status)) return true;
  if (input->xz && lzma_stream_decoder(&input->lzma, CLI_INPUT_XZ_MEMORY_MAX, 0) != LZMA_OK) {
    snprintf(error, error_bytes, "xz: decoder init failed");
    return false;
  }
  mig_reader_init_refill(&input->reader, input->window, MIG_INSPECT_STREAM_WINDOW_BYTES,
                         input_refill, input);
  return true;
}

void cli_input_close(struct cli_input *input)
{
  if (input->mapped) (void)munmap((void *)input->bytes, input->count);
  if (input->xz) lzma_end(&input->lzma);
  if (input->fd > STDIN_FILENO) close(input->fd);
  free(input->in);
  free(input->window);
  memset(input, 0, sizeof *input);
  input->fd = -1;
}

void cli_input_consumed(void *context, uint64_t offset)
{
  struct cli_input *input = context;
  SIM_ASSERT(input->mapped && offset <= input->count);
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  size_t below = (size_t)offset / page * page;
  if (below > 0) (void)madvise((void *)input->bytes, below, MADV_DONTNEED);
}

/*
 * A mapped file into out with pread(2): the kernel copies from the page
 * cache, where a memcpy from the mapping would fault on each of its pages
 * (0.1-0.3 s of CPU more for a 286 MB stream).  False, out empty, when a
 * read falls short (the caller then copies from the mapping).
 */
static bool slurp_read(const struct cli_input *input, struct mig_membuf *out)
{
  uint8_t *bytes = malloc(input->count);
  if (bytes == NULL) return false;
  size_t done = 0;
  while (done < input->count) {
    ssize_t got = pread(input->fd, bytes + done, input->count - done, (off_t)done);
    if (got <= 0) break;
    done += (size_t)got;
  }
  if (done < input->count) {
    free(bytes);
    return false;
  }
  out->bytes = bytes;
  out->count = out->capacity = input->count;
  return true;
}

bool cli_input_slurp(struct cli_input *input, struct mig_membuf *out, size_t count_max,
                     char *error, size_t error_bytes)
{
  mig_membuf_init(out, count_max);
  if (input->mapped && input->count > count_max) {
    snprintf(error, error_bytes, "input exceeds %zu bytes", count_max);
    return false;
  }
  if (input->mapped && slurp_read(input, out)) return true;
  if (input->mapped) {
    if (mig_membuf_write(out, input->bytes, input->count) == MIG_OK) return true;
    snprintf(error, error_bytes, "input of %zu bytes: out of memory", input->count);
    return false;
  }
  uint8_t *chunk = malloc(CLI_INPUT_CHUNK_BYTES);
  bool ok = chunk != NULL;
  size_t got;
  while (ok && (got = mig_reader_take(&input->reader, chunk, CLI_INPUT_CHUNK_BYTES)) > 0) {
    ok = mig_membuf_write(out, chunk, got) == MIG_OK;
  }
  free(chunk);
  if (!ok) {
    snprintf(error, error_bytes, "decompressed stream exceeds %zu bytes", count_max);
    return false;
  }
  if (input->failed) {
    snprintf(error, error_bytes, "%s", input->message);
    return false;
  }
  return true;
}
