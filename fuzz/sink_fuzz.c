/*
 * sink_fuzz.c: the sink (`migsim sink`, cli/cli_sink.c) over real sockets.
 * Each input is played by a source thread into cli_sink_serve through
 * connected AF_UNIX stream sockets: a fresh listening socket per input (an
 * abstract, auto-bound address: no file, and no connection left over from
 * the input before), one connection per channel.
 *
 * Input format (STYLE R25): byte 0 picks the channel count (bits 0-1: 1, 2
 * or 3, mod 3), the multifd compression the sink expects (bits 2-3, mod 3)
 * and a piece size (bits 4-7).  Channel 0 is the main channel: the thread
 * sends "QEVM" first (the sink waits for a main channel as long as no
 * connection gives one, as a destination waits for its source), then
 * - one channel: the rest of the input, in pieces of cycling sizes;
 * - more: frames of [u8 channel mod count][u16 little-endian length][bytes],
 *   a short last frame taking what is left.
 * Then it closes its write sides, reads the return path (PONG, SHUT) to the
 * end, and stops.  The sink runs in the fuzzing thread.
 *
 * Oracles besides the sanitizers and the per-input timeout: the sink
 * returns its latched error's code, with a non-empty path when it refuses;
 * with one channel its verdict (accept or refuse) is the memory walk's over
 * the same bytes (mig_inspect_walk), as the sink only walks them as they
 * arrive; when the return path was opened, SHUT(0) went back iff the
 * stream was accepted.
 */
#include "sim_base.h"

#include "cli_sink.h"
#include "mig_inspect.h"
#include "mig_wire.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define FUZZ_INPUT_BYTES_MAX (UINT32_C(1) << 16)   /* bounds the PONGs in flight too */
#define FUZZ_CHANNELS_MAX 3u
/*
 * Never reached: every side closes.  Above libFuzzer's 25 s timeout, so a
 * sink that waits is a timeout finding, and a source thread starved on a
 * loaded machine never turns into an idle-limit refusal.
 */
#define FUZZ_IDLE_MS 60000u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_source {
  struct sockaddr_un address;
  socklen_t address_bytes;
  const uint8_t *bytes;             /* the input after byte 0 */
  size_t count;
  uint32_t channel_count;
  size_t piece_bytes;
  int fds[FUZZ_CHANNELS_MAX];
  bool dead[FUZZ_CHANNELS_MAX];     /* the sink closed it (or never accepted it) */
};

/* Sends all of bytes on channel, unless the sink has closed it. */
static void fuzz_send(struct fuzz_source *source, uint32_t channel, const uint8_t *bytes,
                      size_t count)
{
  while (count > 0 && !source->dead[channel]) {
    ssize_t sent = send(source->fds[channel], bytes, count, MSG_NOSIGNAL);
    if (sent < 0 && errno == EINTR) continue;
    if (sent <= 0) {
      source->dead[channel] = true;
      return;
    }
    bytes += sent;
    count -= (size_t)sent;
  }
}

static void fuzz_send_frames(struct fuzz_source *source)
{
  size_t at = 0;
  while (at + 3 <= source->count) {
    uint32_t channel = source->bytes[at] % source->channel_count;
    size_t length = (size_t)source->bytes[at + 1] | (size_t)source->bytes[at + 2] << 8;
    at += 3;
    length = SIM_MIN(length, source->count - at);
    fuzz_send(source, channel, source->bytes + at, length);
    at += length;
  }
}

static void fuzz_send_pieces(struct fuzz_source *source)
{
  size_t step = source->piece_bytes;
  for (size_t at = 0; at < source->count;) {
    size_t take = SIM_MIN(step, source->count - at);
    fuzz_send(source, 0, source->bytes + at, take);
    at += take;
    step = step * 3 % 4093 + 1;
  }
}

static void *fuzz_source_run(void *context)
{
  struct fuzz_source *source = context;
  for (uint32_t i = 0; i < source->channel_count; i++) {
    source->fds[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    SIM_ASSERT(source->fds[i] >= 0);
    if (connect(source->fds[i], (const struct sockaddr *)&source->address,
                source->address_bytes) != 0) {
      source->dead[i] = true;
    }
  }
  static const uint8_t magic[4] = {'Q', 'E', 'V', 'M'};
  fuzz_send(source, 0, magic, sizeof magic);
  if (source->channel_count == 1) {
    fuzz_send_pieces(source);
  } else {
    fuzz_send_frames(source);
  }
  for (uint32_t i = 0; i < source->channel_count; i++) shutdown(source->fds[i], SHUT_WR);
  uint8_t sink_bytes[4096];
  while (!source->dead[0] && read(source->fds[0], sink_bytes, sizeof sink_bytes) > 0) continue;
  return NULL;
}

/* A listening socket on a fresh abstract address (Linux autobind). */
static int fuzz_listen(struct fuzz_source *source)
{
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  SIM_ASSERT(fd >= 0);
  sa_family_t family = AF_UNIX;
  SIM_ASSERT(bind(fd, (const struct sockaddr *)&family, sizeof family) == 0);
  source->address_bytes = sizeof source->address;
  SIM_ASSERT(getsockname(fd, (struct sockaddr *)&source->address, &source->address_bytes) == 0);
  SIM_ASSERT(listen(fd, (int)FUZZ_CHANNELS_MAX + 1) == 0);
  return fd;
}

/* With one channel: the memory walk's verdict over "QEVM" and the input's bytes. */
static bool fuzz_walk_accepts(const uint8_t *bytes, size_t count)
{
  uint8_t *stream = malloc(count + 4);
  SIM_ASSERT(stream != NULL);
  memcpy(stream, "QEVM", 4);
  if (count > 0) memcpy(stream + 4, bytes, count);
  struct mig_inspect inspect;
  struct mig_error error;
  enum mig_err code = mig_inspect_walk(stream, count + 4, &inspect, NULL, &error);
  mig_inspect_deinit(&inspect);
  free(stream);
  return code == MIG_OK;
}

static void fuzz_check(const struct fuzz_source *source, enum mig_err code,
                       const struct cli_sink_result *result)
{
  SIM_ASSERT(code == result->error.code);
  SIM_ASSERT(code == MIG_OK || result->error.path[0] != '\0');
  if (result->return_path && result->shut_sent) {
    SIM_ASSERT((result->shut_value == 0) == (code == MIG_OK));
  }
  if (source->channel_count != 1) return;
  bool walk = fuzz_walk_accepts(source->bytes, source->count);
  if (walk != (code == MIG_OK)) {
    char message[MIG_PATH_BYTES_MAX + 512];
    mig_error_format(&result->error, message, sizeof message);
    fprintf(stderr, "sink_fuzz: the walk %s, the sink %s: %s\n", walk ? "accepts" : "refuses",
            code == MIG_OK ? "accepts" : "refuses", message);
    SIM_ASSERT(!"the sink and the memory walk differ on one channel");
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size == 0 || size > FUZZ_INPUT_BYTES_MAX) return 0;
  struct fuzz_source source = {.bytes = data + 1, .count = size - 1,
                               .channel_count = 1 + data[0] % 4 % 3,
                               .piece_bytes = 1 + ((size_t)1 << (data[0] >> 4))};
  struct cli_sink_options options = {
      .stream_bytes_max = (size_t)1 << 20, .idle_ms_max = FUZZ_IDLE_MS, .settle_ms = 1,
      .multifd_compression = (enum mig_multifd_compression)((data[0] >> 2 & 3) % 3)};
  int listen_fd = fuzz_listen(&source);
  pthread_t thread;
  SIM_ASSERT(pthread_create(&thread, NULL, fuzz_source_run, &source) == 0);
  struct cli_sink_result result;
  enum mig_err code = cli_sink_serve(listen_fd, &options, &result);
  /* Connections the sink never accepted are reset here, so the source cannot block. */
  close(listen_fd);
  SIM_ASSERT(pthread_join(thread, NULL) == 0);
  for (uint32_t i = 0; i < source.channel_count; i++) close(source.fds[i]);
  fuzz_check(&source, code, &result);
  cli_sink_result_deinit(&result);
  return 0;
}
