/*
 * cli_sink.c: `migsim sink`, a destination for a real QEMU 7.2 source
 * (overview in cli_sink.h).  This file holds the sockets, the poll loop,
 * the per-connection idle timers and the printing; the wire format is read
 * by migration/: the main channel by the streaming walker
 * (mig_inspect_walk_reader, which pulls bytes through sink_refill: "need
 * more bytes" is a poll round here, never an error), the multifd channels
 * by mig_multifd, the return-path answers by mig_rp.  Memory is bounded: one
 * read chunk per poll round, the main channel's unread bytes (one chunk),
 * the walker's window and its tail (the device sections and the trailer, at
 * most stream_bytes_max), one packet per multifd channel.
 */
#include "sim_base.h"

#include "cli_args.h"
#include "cli_inspect.h"
#include "cli_sink.h"
#include "conform_run.h"
#include "mig_format.h"
#include "mig_rp.h"
#include "mig_stream.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define SINK_CHUNK_BYTES (UINT32_C(256) << 10)

_Static_assert(CLI_SINK_CHANNELS_MAX == MIG_MULTIFD_CHANNELS_MAX + 1, "main + multifd channels");
_Static_assert(MIG_INSPECT_STREAM_WINDOW_BYTES >= SINK_CHUNK_BYTES,
               "one refill hands the walker every unread main byte");

enum channel_kind { CHANNEL_UNKNOWN, CHANNEL_MAIN, CHANNEL_MULTIFD, CHANNEL_PREEMPT };

struct channel {
  int fd;                           /* open until the migration is over */
  bool eof;                         /* the peer finished sending */
  enum channel_kind kind;
  uint32_t index;                   /* connection order, for error paths */
  uint64_t offset;                  /* bytes received so far */
  uint8_t magic[4];                 /* the first bytes, which classify the connection */
  size_t magic_count;
  uint64_t last_ms;                 /* monotonic time of the last byte (or the accept) */
  struct mig_multifd_channel multifd;  /* CHANNEL_MULTIFD */
};

struct sink {
  const struct cli_sink_options *options;
  struct cli_sink_result *result;
  struct channel channels[CLI_SINK_CHANNELS_MAX];
  uint32_t channel_count;
  int32_t main_index;               /* -1 until "QEVM" arrives */
  bool walk_over;                   /* the walker returned: the main channel owes nothing */
  uint64_t syncs_expected;          /* RAM sections in the main stream */
  uint64_t ping_answered_end;       /* PINGs before this offset were answered (tail trials) */
  FILE *stream_out;                 /* --stream-out, written as bytes arrive */
  struct mig_multifd multifd;
  struct mig_pctrack track;         /* postcopy: received and requested pages */
  int32_t request_block;            /* block of the last REQ_PAGES_ID sent; -1: none */
  int32_t preempt_index;            /* the postcopy-preempt channel; -1 until it speaks */
  struct mig_pctrack_preempt preempt;
  size_t main_count;                /* main bytes in main_bytes ... */
  size_t main_at;                   /* ... of which the walker took main_at */
  uint8_t main_bytes[SINK_CHUNK_BYTES + 4];  /* a read, and the magic before the first */
  uint8_t chunk[SINK_CHUNK_BYTES];
  uint8_t window[MIG_INSPECT_STREAM_WINDOW_BYTES];  /* the walker's reader */
};

static bool sink_failed(const struct sink *sink)
{
  return sink->result->error.code != MIG_OK;
}

#define SINK_FAIL(sink, code, offset, detail, ...) \
  MIG_ERROR_LATCH(&(sink)->result->error, (code), (offset), (detail), __VA_ARGS__)

/* Wall-clock milliseconds (monotonic): the idle limits; outside the simulated path. */
static uint64_t sink_now_ms(void)
{
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u;
}

/* ------------------------------------------------------------ return path */

/* A return-path message (spec §8) on the main channel's socket; what names it in errors. */
static bool sink_rp_write(struct sink *sink, const uint8_t *message, size_t bytes,
                          const char *what)
{
  SIM_ASSERT(sink->main_index >= 0);
  const struct channel *main = &sink->channels[sink->main_index];
  ssize_t sent = main->fd < 0 ? -1 : send(main->fd, message, bytes, MSG_NOSIGNAL);
  if (sent != (ssize_t)bytes) {
    SINK_FAIL(sink, MIG_ERR_IO, main->offset, strerror(errno), "return-path/%s", what);
    return false;
  }
  return true;
}

/* SHUT or PONG. */
static bool sink_rp_send(struct sink *sink, uint16_t type, uint32_t value)
{
  uint8_t message[MIG_RP_U32_MESSAGE_BYTES];
  size_t bytes = mig_rp_message_u32(type, value, message);
  return sink_rp_write(sink, message, bytes, type == MIG_RP_SHUT ? "shut" : "pong");
}

/*
 * At LISTEN: the pages the tracker picks, one REQ_PAGES_ID (a new block) or
 * REQ_PAGES each, 4 KiB (the ADVISE summary said so), as QEMU's destination
 * asks on a fault (postcopy-ram.c postcopy_request_page).
 */
static enum mig_err sink_request_pages(struct sink *sink, const struct mig_inspect_event *event,
                                       struct mig_error *error)
{
  struct cli_sink_result *result = sink->result;
  if (!result->return_path) {
    error->offset = event->offset;
    snprintf(error->path, sizeof error->path, "command/POSTCOPY_LISTEN");
    snprintf(error->detail, sizeof error->detail, "postcopy without a return path");
    return MIG_ERR_BAD_COMMAND;
  }
  struct mig_pctrack_request picks[32];
  for (uint32_t count; (count = mig_pctrack_pick(&sink->track, picks, 32)) > 0;) {
    for (uint32_t i = 0; i < count; i++) {
      uint8_t message[MIG_RP_REQ_MESSAGE_BYTES_MAX];
      bool named = (int32_t)picks[i].block_index != sink->request_block;
      size_t bytes = mig_rp_message_req_pages(
          named ? event->inspect->blocks[picks[i].block_index].name : NULL,
          picks[i].page_index * MIG_PAGE_BYTES, MIG_PAGE_BYTES, message);
      if (!sink_rp_write(sink, message, bytes, named ? "REQ_PAGES_ID" : "REQ_PAGES")) {
        *error = result->error;
        return MIG_ERR_IO;
      }
      sink->request_block = (int32_t)picks[i].block_index;
      result->requests_sent++;
    }
  }
  return MIG_OK;
}

/*
 * PING: answered with a PONG at once, once per PING (a tail may be walked
 * again).  The walk refuses a PING before OPEN_RETURN_PATH (its policy's
 * ping_needs_return_path), so the return path is open here.
 */
static enum mig_err sink_ping(struct sink *sink, const struct mig_inspect_event *event,
                              struct mig_error *error)
{
  struct cli_sink_result *result = sink->result;
  SIM_ASSERT(result->return_path);
  if (event->offset < sink->ping_answered_end) return MIG_OK;  /* a tail walked again */
  SIM_ASSERT(event->payload != NULL && event->payload_bytes == 4);
  const uint8_t *p = event->payload;
  uint32_t value = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
  if (!sink_rp_send(sink, MIG_RP_PONG, value)) {
    *error = result->error;
    return MIG_ERR_IO;
  }
  result->pongs_sent++;
  sink->ping_answered_end = event->offset + 1;
  return MIG_OK;
}

/*
 * The walker's visitor: every event goes to the postcopy tracker; then
 * OPEN_RETURN_PATH opens the return path, each PING is answered with a PONG
 * at once, as QEMU's destination does (spec §7, §8.1; a PING before
 * OPEN_RETURN_PATH is refused, as QEMU 7.2 refuses it), and LISTEN sends the
 * page requests.
 */
static enum mig_err sink_visit(void *context, const struct mig_inspect_event *event,
                               struct mig_error *error)
{
  struct sink *sink = context;
  enum mig_err code = mig_pctrack_visit(&sink->track, event, 0, error);
  if (code != MIG_OK || event->kind != MIG_INSPECT_COMMAND) return code;
  switch (event->command) {
  case MIG_CMD_OPEN_RETURN_PATH: sink->result->return_path = true; return MIG_OK;
  case MIG_CMD_PING: return sink_ping(sink, event, error);
  case MIG_CMD_POSTCOPY_LISTEN:
    return mig_pctrack_listening(&sink->track) ? sink_request_pages(sink, event, error) : MIG_OK;
  default: return MIG_OK;
  }
}

/* --------------------------------------------------------------- channels */

static void sink_multifd_check(struct sink *sink)
{
  if (sink->multifd.error.code != MIG_OK && !sink_failed(sink)) {
    sink->result->error = sink->multifd.error;
  }
}

/*
 * Main-channel bytes, prefix (the magic, on the first read) then bytes: kept
 * for the walker.  The main channel is read only when main_bytes is empty.
 */
static void sink_main_bytes(struct sink *sink, const uint8_t *prefix, size_t prefix_count,
                            const uint8_t *bytes, size_t count)
{
  SIM_ASSERT(sink->main_at == sink->main_count);
  SIM_ASSERT(prefix_count + count <= sizeof sink->main_bytes);
  if (prefix_count > 0) memcpy(sink->main_bytes, prefix, prefix_count);
  if (count > 0) memcpy(sink->main_bytes + prefix_count, bytes, count);
  sink->main_at = 0;
  sink->main_count = prefix_count + count;
  FILE *out = sink->stream_out;
  if (out != NULL && fwrite(sink->main_bytes, 1, sink->main_count, out) != sink->main_count) {
    SINK_FAIL(sink, MIG_ERR_IO, 0, strerror(errno), "stream-out");
  }
}

/* Preempt-channel bytes: pages to the tracker (mig_pctrack_preempt_feed). */
static void sink_preempt_feed(struct sink *sink, const uint8_t *bytes, size_t count)
{
  struct mig_error error = {.code = MIG_OK};
  enum mig_err code = mig_pctrack_preempt_feed(&sink->preempt, &sink->track,
                                               &sink->result->inspect, bytes, count, &error);
  if (code != MIG_OK && !sink_failed(sink)) {
    error.code = code;
    sink->result->error = error;
  }
}

/* Sorts a new connection by its first 4 bytes (spec §9.1), then feeds it. */
static void channel_feed(struct sink *sink, struct channel *channel, const uint8_t *bytes,
                         size_t count)
{
  if (channel->kind != CHANNEL_UNKNOWN) {
    if (channel->kind == CHANNEL_MAIN) {
      sink_main_bytes(sink, NULL, 0, bytes, count);
    } else if (channel->kind == CHANNEL_PREEMPT) {
      sink_preempt_feed(sink, bytes, count);
    } else {
      mig_multifd_channel_feed(&sink->multifd, &channel->multifd, bytes, count);
      sink_multifd_check(sink);
    }
    return;
  }
  size_t take = SIM_MIN(count, sizeof channel->magic - channel->magic_count);
  memcpy(channel->magic + channel->magic_count, bytes, take);
  channel->magic_count += take;
  if (channel->magic_count < sizeof channel->magic) return;
  uint32_t magic = (uint32_t)channel->magic[0] << 24 | (uint32_t)channel->magic[1] << 16 |
                   (uint32_t)channel->magic[2] << 8 | channel->magic[3];
  if (magic == MIG_FILE_MAGIC && sink->main_index < 0) {
    channel->kind = CHANNEL_MAIN;
    sink->main_index = (int32_t)channel->index;
    /* The magic is the stream's first 4 bytes: the walker reads them too. */
    sink_main_bytes(sink, channel->magic, sizeof channel->magic, bytes + take, count - take);
  } else if (magic == MIG_MULTIFD_MAGIC) {
    channel->kind = CHANNEL_MULTIFD;
    mig_multifd_channel_init(&sink->multifd, &channel->multifd, channel->index);
    mig_multifd_channel_feed(&sink->multifd, &channel->multifd, bytes + take, count - take);
    sink_multifd_check(sink);
  } else if (magic != MIG_FILE_MAGIC && sink->options->postcopy_preempt &&
             sink->preempt_index < 0) {
    /* 7.2's preempt channel has no magic: its first bytes are a RAM record (§6.9). */
    channel->kind = CHANNEL_PREEMPT;
    sink->preempt_index = (int32_t)channel->index;
    sink_preempt_feed(sink, channel->magic, sizeof channel->magic);
    if (!sink_failed(sink)) sink_preempt_feed(sink, bytes + take, count - take);
  } else {
    SINK_FAIL(sink, MIG_ERR_BAD_MAGIC, 0,
              magic == MIG_FILE_MAGIC ? "second main channel" : "neither QEVM nor multifd",
              "channel%" PRIu32 "/magic", channel->index);
  }
}

/* The peer stopped sending; the fd stays open so SHUT can still go back. */
static void channel_eof(struct sink *sink, struct channel *channel)
{
  channel->eof = true;
  if (channel->kind == CHANNEL_PREEMPT && mig_pctrack_preempt_busy(&sink->preempt)) {
    SINK_FAIL(sink, MIG_ERR_TRUNCATED, channel->offset, "closed inside a record", "preempt/ram");
  }
  if (channel->kind == CHANNEL_MULTIFD) {
    mig_multifd_channel_eof(&sink->multifd, &channel->multifd);
    sink_multifd_check(sink);
  }
}

static void sink_accept(struct sink *sink, int listen_fd)
{
  int fd = accept(listen_fd, NULL, NULL);
  if (fd < 0) {
    if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED) {
      SINK_FAIL(sink, MIG_ERR_IO, 0, strerror(errno), "listen");
    }
    return;
  }
  if (sink->channel_count == CLI_SINK_CHANNELS_MAX) {
    close(fd);
    SINK_FAIL(sink, MIG_ERR_TOO_LONG, 0, "more connections than CLI_SINK_CHANNELS_MAX",
              "channel%" PRIu32, sink->channel_count);
    return;
  }
  struct channel *channel = &sink->channels[sink->channel_count];
  memset(channel, 0, sizeof *channel);
  channel->fd = fd;
  channel->index = sink->channel_count++;
  channel->last_ms = sink_now_ms();
}

static void sink_read(struct sink *sink, struct channel *channel)
{
  ssize_t got = read(channel->fd, sink->chunk, sizeof sink->chunk);
  if (got < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (got < 0 && errno != ECONNRESET) {
    SINK_FAIL(sink, MIG_ERR_IO, channel->offset, strerror(errno), "channel%" PRIu32,
              channel->index);
    return;
  }
  channel->last_ms = sink_now_ms();
  if (got <= 0) {
    channel_eof(sink, channel);
    return;
  }
  channel->offset += (uint64_t)got;
  channel_feed(sink, channel, sink->chunk, (size_t)got);
}

/*
 * Whether a connection owes bytes, so that its idle timer runs: one not yet
 * classified, the main channel while the walker reads it, a multifd channel
 * inside a packet, or (the walk over) short of its SYNC packets.  A multifd
 * channel between packets may wait for the next RAM section as long as the
 * main channel moves.
 */
static bool channel_owes(const struct sink *sink, const struct channel *channel)
{
  if (channel->eof) return false;
  switch (channel->kind) {
  /* With postcopy-preempt one quiet connection may be the preempt channel (7.2: until postcopy). */
  case CHANNEL_UNKNOWN:
    return !(sink->options->postcopy_preempt && sink->preempt_index < 0 && !sink->walk_over);
  case CHANNEL_PREEMPT:
    return mig_pctrack_preempt_busy(&sink->preempt) || (sink->walk_over && !sink->preempt.eos);
  case CHANNEL_MAIN: return !sink->walk_over;
  case CHANNEL_MULTIFD:
    return mig_multifd_channel_busy(&channel->multifd) ||
           (sink->walk_over && channel->multifd.syncs_count < sink->syncs_expected);
  }
  SIM_ASSERT(!"unknown channel kind");
  return false;
}

/* The idle limit passed for a connection that owes bytes: its own error. */
static void channel_idle(struct sink *sink, const struct channel *channel)
{
  char detail[64];
  snprintf(detail, sizeof detail, "no byte for %" PRIu32 " ms", sink->options->idle_ms_max);
  if (channel->kind == CHANNEL_MAIN) {
    SINK_FAIL(sink, MIG_ERR_TRUNCATED, channel->offset, detail, "channel/main");
  } else if (channel->kind == CHANNEL_MULTIFD) {
    SINK_FAIL(sink, MIG_ERR_TRUNCATED, channel->offset, detail, "multifd/channel%" PRIu32,
              channel->index);
  } else {
    SINK_FAIL(sink, MIG_ERR_TRUNCATED, channel->offset, detail, "channel%" PRIu32,
              channel->index);
  }
}

/*
 * One poll round over the listening socket and every open channel (the
 * main channel only while the walker has taken all its bytes), waiting at
 * most wait_ms (-1: no cap) and at most until the first idle deadline of a
 * connection that owes bytes.
 */
static void sink_poll(struct sink *sink, int listen_fd, int wait_ms)
{
  struct pollfd fds[CLI_SINK_CHANNELS_MAX + 1];
  uint32_t owners[CLI_SINK_CHANNELS_MAX + 1];
  nfds_t count = 0;
  fds[count++] = (struct pollfd){.fd = listen_fd, .events = POLLIN};
  uint64_t now = sink_now_ms(), deadline = UINT64_MAX;
  for (uint32_t i = 0; i < sink->channel_count; i++) {
    const struct channel *channel = &sink->channels[i];
    if (channel_owes(sink, channel)) {
      deadline = SIM_MIN(deadline, channel->last_ms + sink->options->idle_ms_max);
    }
    bool main_full = (int32_t)i == sink->main_index && sink->main_at < sink->main_count;
    if (channel->eof || main_full) continue;
    owners[count] = i;
    fds[count++] = (struct pollfd){.fd = channel->fd, .events = POLLIN};
  }
  int timeout = wait_ms;
  if (deadline != UINT64_MAX) {
    uint64_t left = deadline > now ? deadline - now : 0;
    if (timeout < 0 || left < (uint64_t)timeout) timeout = (int)SIM_MIN(left, (uint64_t)INT_MAX);
  }
  int ready = poll(fds, count, timeout);
  if (ready < 0 && errno == EINTR) return;
  if (ready < 0) {
    SINK_FAIL(sink, MIG_ERR_IO, 0, strerror(errno), "poll");
    return;
  }
  for (nfds_t i = 1; i < count && !sink_failed(sink); i++) {
    if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      sink_read(sink, &sink->channels[owners[i]]);
    }
  }
  if ((fds[0].revents & POLLIN) != 0 && !sink_failed(sink)) sink_accept(sink, listen_fd);
  /* After the reads: whatever the other connections send, each one's own limit holds. */
  now = sink_now_ms();
  for (uint32_t i = 0; i < sink->channel_count && !sink_failed(sink); i++) {
    const struct channel *channel = &sink->channels[i];
    if (channel_owes(sink, channel) && now >= channel->last_ms + sink->options->idle_ms_max) {
      channel_idle(sink, channel);
    }
  }
}

/* ---------------------------------------------------------- the main walk */

struct sink_walk {
  struct sink *sink;
  int listen_fd;
};

static bool sink_main_open(const struct sink *sink)
{
  return !sink->channels[sink->main_index].eof && !sink_failed(sink);
}

/*
 * The walker's refill: the main channel's unread bytes, else poll rounds
 * (serving every other connection) until some arrive.  0 ends the stream:
 * the source closed it, or the sink failed (its error is the one reported).
 */
static size_t sink_refill(void *context, uint8_t *bytes, size_t capacity)
{
  struct sink_walk *walk = context;
  struct sink *sink = walk->sink;
  while (sink->main_at == sink->main_count && sink_main_open(sink)) {
    sink_poll(sink, walk->listen_fd, -1);
  }
  size_t count = SIM_MIN(capacity, sink->main_count - sink->main_at);
  memcpy(bytes, sink->main_bytes + sink->main_at, count);
  sink->main_at += count;
  return count;
}

/*
 * The walk of a tail that ended like a trailer failed: page or device bytes
 * that looked like one, or a real error.  More main bytes within settle_ms
 * say it was a look-alike (the walk goes on); none say the error is final
 * (a 7.2 source waits for SHUT and sends nothing more).
 */
static bool sink_tail_more(void *context)
{
  struct sink_walk *walk = context;
  struct sink *sink = walk->sink;
  uint64_t deadline = sink_now_ms() + sink->options->settle_ms;
  while (sink->main_at == sink->main_count && sink_main_open(sink)) {
    uint64_t now = sink_now_ms();
    if (now >= deadline) break;
    sink_poll(sink, walk->listen_fd, (int)(deadline - now));
  }
  if (sink->main_at == sink->main_count) return false;
  sink->result->false_trailers++;
  return true;
}

/* Walks the main channel as it arrives; then the SYNC count multifd channels owe is known. */
static void sink_walk_main(struct sink *sink, int listen_fd)
{
  struct cli_sink_result *result = sink->result;
  struct sink_walk context = {.sink = sink, .listen_fd = listen_fd};
  struct mig_reader reader;
  mig_reader_init_refill(&reader, sink->window, sizeof sink->window, sink_refill, &context);
  struct mig_inspect_options options = {.tail_bytes_max = sink->options->stream_bytes_max,
                                        .tail_trials = true, .tail_more = sink_tail_more,
                                        .context = &context};
  struct mig_inspect_visitor visitor = {.visit = sink_visit, .context = sink};
  struct mig_error error;
  enum mig_err code = mig_inspect_walk_reader(&reader, &result->inspect, &options, &visitor,
                                              &error);
  result->walked = true;
  sink->walk_over = true;
  if (code != MIG_OK) {
    if (!sink_failed(sink)) result->error = error;
    return;
  }
  const uint64_t *records = result->inspect.records;
  sink->syncs_expected = records[MIG_SECTION_START] + records[MIG_SECTION_PART] +
                         records[MIG_SECTION_END];
}

/* Done when the walk is over and each multifd channel sent its SYNCs or closed. */
static bool sink_done(const struct sink *sink)
{
  if (!sink->walk_over) return false;
  for (uint32_t i = 0; i < sink->channel_count; i++) {
    const struct channel *channel = &sink->channels[i];
    if (channel->eof || channel->kind == CHANNEL_MAIN) continue;
    /* A quiet preempt channel owes its EOS only when postcopy ran (7.2 sends none otherwise). */
    if (channel->kind == CHANNEL_UNKNOWN && channel->magic_count == 0 &&
        sink->options->postcopy_preempt && sink->preempt_index < 0 &&
        sink->result->inspect.postcopy_state != MIG_POSTCOPY_END) {
      continue;
    }
    if (channel->kind == CHANNEL_PREEMPT) {
      if (!sink->preempt.eos) return false;
      continue;
    }
    if (channel->kind == CHANNEL_UNKNOWN ||
        channel->multifd.syncs_count < sink->syncs_expected) {
      return false;
    }
  }
  return true;
}

/* Multifd pages join the per-block totals; ids, UUIDs, SYNCs, blocks are checked. */
static void sink_account_multifd(struct sink *sink)
{
  const struct mig_multifd_channel *channels[CLI_SINK_CHANNELS_MAX];
  uint32_t count = 0;
  for (uint32_t i = 0; i < sink->channel_count; i++) {
    if (sink->channels[i].kind == CHANNEL_MULTIFD) channels[count++] = &sink->channels[i].multifd;
  }
  mig_multifd_finish(&sink->multifd, channels, count, &sink->result->inspect,
                     sink->syncs_expected);
  sink_multifd_check(sink);
}

static void sink_result_counts(struct sink *sink)
{
  struct cli_sink_result *result = sink->result;
  const struct mig_multifd *set = &sink->multifd;
  result->multifd_channel_count = set->channel_count;
  result->multifd_packets = set->packets_count;
  result->multifd_sync_packets = set->sync_packets_count;
  result->multifd_pages = set->pages_count;
  result->multifd_bytes = set->bytes_count;
  result->multifd_payload_bytes = set->payload_bytes;
  result->stream_bytes = sink->main_index >= 0 ? sink->channels[sink->main_index].offset : 0;
  result->postcopy_state = result->walked ? result->inspect.postcopy_state : MIG_POSTCOPY_NONE;
  result->postcopy = *mig_pctrack_stats(&sink->track);
  result->connection_count = sink->channel_count;
  result->preempt_channel = sink->preempt_index >= 0;
}

static void sink_serve_loop(struct sink *sink, int listen_fd)
{
  while (!sink_failed(sink) && sink->main_index < 0) sink_poll(sink, listen_fd, -1);
  if (sink_failed(sink)) return;
  sink_walk_main(sink, listen_fd);
  while (!sink_failed(sink) && !sink_done(sink)) sink_poll(sink, listen_fd, -1);
  if (!sink_failed(sink)) sink_account_multifd(sink);
}

enum mig_err cli_sink_serve(int listen_fd, const struct cli_sink_options *options,
                            struct cli_sink_result *result)
{
  SIM_ASSERT(listen_fd >= 0 && options != NULL && result != NULL);
  SIM_ASSERT(options->idle_ms_max > 0 && options->idle_ms_max <= INT_MAX);
  SIM_ASSERT(options->settle_ms > 0 && options->settle_ms <= INT_MAX);
  memset(result, 0, sizeof *result);
  struct sink *sink = calloc(1, sizeof *sink);
  if (sink == NULL) {
    result->error.code = MIG_ERR_NOMEM;
    snprintf(result->error.path, sizeof result->error.path, "sink");
    return MIG_ERR_NOMEM;
  }
  sink->options = options;
  sink->result = result;
  result->multifd_compression = options->multifd_compression;
  sink->main_index = -1;
  sink->request_block = -1;
  sink->preempt_index = -1;
  mig_pctrack_preempt_init(&sink->preempt);
  mig_pctrack_init(&sink->track, options->postcopy_seed, options->postcopy_requests_max);
  mig_multifd_init(&sink->multifd, options->multifd_compression);
  if (options->stream_out != NULL) {
    sink->stream_out = fopen(options->stream_out, "wb");
    if (sink->stream_out == NULL) SINK_FAIL(sink, MIG_ERR_IO, 0, strerror(errno), "stream-out");
  }
  if (!sink_failed(sink)) sink_serve_loop(sink, listen_fd);
  if (sink->stream_out != NULL && fclose(sink->stream_out) != 0) {
    SINK_FAIL(sink, MIG_ERR_IO, 0, strerror(errno), "stream-out");
  }
  sink_result_counts(sink);
  if (result->return_path) {
    result->shut_value = sink_failed(sink) ? 1 : 0;
    result->shut_sent = sink_rp_send(sink, MIG_RP_SHUT, result->shut_value);
  }
  for (uint32_t i = 0; i < sink->channel_count; i++) {
    close(sink->channels[i].fd);
    mig_multifd_channel_deinit(&sink->channels[i].multifd);
  }
  mig_pctrack_deinit(&sink->track);
  free(sink);
  return result->error.code;
}

void cli_sink_result_deinit(struct cli_sink_result *result)
{
  if (result->walked) mig_inspect_deinit(&result->inspect);
  result->walked = false;
}

/* ------------------------------------------------------------ listen, CLI */

int cli_sink_listen(const char *spec, uint16_t *port_out, char *error, size_t error_bytes)
{
  *port_out = 0;
  if (strncmp(spec, "unix:", 5) == 0) {
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    if (strlen(spec + 5) == 0 || strlen(spec + 5) >= sizeof address.sun_path) {
      snprintf(error, error_bytes, "%s: unix socket path empty or too long", spec);
      return -1;
    }
    memcpy(address.sun_path, spec + 5, strlen(spec + 5) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    (void)unlink(address.sun_path);
    if (fd < 0 || bind(fd, (struct sockaddr *)&address, sizeof address) != 0 ||
        listen(fd, (int)CLI_SINK_CHANNELS_MAX) != 0) {
      snprintf(error, error_bytes, "%s: %s", spec, strerror(errno));
      if (fd >= 0) close(fd);
      return -1;
    }
    return fd;
  }
  char host[64];
  unsigned port = 0;
  const char *colon = strrchr(spec, ':');
  struct sockaddr_in address = {.sin_family = AF_INET};
  if (strncmp(spec, "tcp:", 4) != 0 || colon == NULL || colon - (spec + 4) <= 0 ||
      (size_t)(colon - (spec + 4)) >= sizeof host || sscanf(colon + 1, "%5u", &port) != 1 ||
      port > 65535) {
    snprintf(error, error_bytes, "%s: expected tcp:HOST:PORT or unix:PATH", spec);
    return -1;
  }
  memcpy(host, spec + 4, (size_t)(colon - (spec + 4)));
  host[colon - (spec + 4)] = 0;
  if (inet_pton(AF_INET, host, &address.sin_addr) != 1) {
    snprintf(error, error_bytes, "%s: HOST must be a numeric IPv4 address", spec);
    return -1;
  }
  address.sin_port = htons((uint16_t)port);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  socklen_t length = sizeof address;
  if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      bind(fd, (struct sockaddr *)&address, sizeof address) != 0 ||
      listen(fd, (int)CLI_SINK_CHANNELS_MAX) != 0 ||
      getsockname(fd, (struct sockaddr *)&address, &length) != 0) {
    snprintf(error, error_bytes, "%s: %s", spec, strerror(errno));
    if (fd >= 0) close(fd);
    return -1;
  }
  *port_out = ntohs(address.sin_port);
  return fd;
}

void cli_sink_print(FILE *out, const struct cli_sink_result *result, bool summary)
{
  const struct mig_inspect *inspect = &result->inspect;
  if (summary && result->walked) {
    cli_inspect_print_summary(out, inspect);
    fputc('\n', out);
  }
  uint64_t zero = 0, normal = 0, xbzrle = 0, compressed = 0;
  for (uint32_t i = 0; result->walked && i < inspect->block_count; i++) {
    zero += inspect->blocks[i].zero_pages;
    normal += inspect->blocks[i].normal_pages;
    xbzrle += inspect->blocks[i].xbzrle_pages;
    compressed += inspect->blocks[i].compressed_pages;
  }
  fprintf(out, "sink: main channel %" PRIu64 " bytes\n", result->stream_bytes);
  fprintf(out, "sink: connections %" PRIu32 "%s\n", result->connection_count,
          result->preempt_channel ? " (one the preempt channel)" : "");
  fprintf(out, "sink: return path %s, pongs %" PRIu32 ", shut %s\n",
          result->return_path ? "open" : "closed", result->pongs_sent,
          result->shut_sent ? (result->shut_value == 0 ? "0" : "1") : "none");
  fprintf(out, "sink: multifd channels %" PRIu32 ", packets %" PRIu64 " (sync %" PRIu64
          "), pages %" PRIu64 ", bytes %" PRIu64 ", compression %s (payload %" PRIu64
          " bytes)\n", result->multifd_channel_count, result->multifd_packets,
          result->multifd_sync_packets, result->multifd_pages, result->multifd_bytes,
          mig_multifd_compression_name(result->multifd_compression),
          result->multifd_payload_bytes);
  fprintf(out, "sink: ram pages normal %" PRIu64 " (multifd %" PRIu64 "), zero %" PRIu64
          ", xbzrle %" PRIu64 ", compressed %" PRIu64 "\n", normal, result->multifd_pages, zero,
          xbzrle, compressed);
  fprintf(out, "sink: devices %" PRIu32 "\n", result->walked ? inspect->device_count : 0);
  const struct mig_pctrack_stats *pc = &result->postcopy;
  fprintf(out, "sink: postcopy %s, discarded %" PRIu64 ", missing at listen %" PRIu64
          ", postcopy pages %" PRIu64 " (preempt %" PRIu64 "), requested %" PRIu64
          " (messages %" PRIu32 "), arrived %" PRIu64 "\n",
          mig_postcopy_state_name(result->postcopy_state), pc->discard_pages_count,
          pc->missing_at_listen_count, pc->postcopy_pages_count, pc->preempt_pages_count,
          pc->requested_count, result->requests_sent, pc->requested_arrived_count);
  fprintf(out, "sink: %s\n", result->error.code == MIG_OK ? "valid" : "INVALID");
}

static const char usage_sink[] =
    "usage: migsim sink --listen tcp:HOST:PORT|unix:PATH [--once] [--summary]\n"
    "                   [--idle-ms N] [--stream-bytes-max N] [--stream-out FILE]\n"
    "                   [--multifd-compression none|zlib|zstd]\n"
    "                   [--postcopy-requests N] [--postcopy-seed N] [--postcopy-preempt]\n"
    "\n"
    "A migration destination for a real QEMU 7.2 source (migrate uri tcp:HOST:PORT or\n"
    "unix:PATH).  Validates the stream, answers the return path (PONG, SHUT), accepts\n"
    "multifd channels, then prints sink lines (with --summary, the inspect summary\n"
    "first).  Prints 'migsim sink: listening on ...' on stderr when ready; PORT 0\n"
    "picks a free port.\n"
    "\n"
    "  --once              serve one migration, exit 0 when valid, 2 otherwise\n"
    "  --multifd-compression none|zlib|zstd  the destination's multifd-compression\n"
    "                      parameter: the method multifd packets must use (none)\n"
    "  --summary           print the `migsim inspect` summary of the stream\n"
    "  --idle-ms N         fail when a connection that owes bytes sends none for N ms\n"
    "                      (20000; each connection has its own limit)\n"
    "  --stream-bytes-max N  bytes of the main channel's tail (its device sections and\n"
    "                      trailer) held in memory (256 MiB, at most 4 GiB; K/M/G)\n"
    "  --stream-out FILE   save the main channel's bytes as received\n"
    "  --postcopy-requests N  postcopy: pages requested (REQ_PAGES) at LISTEN (64;\n"
    "                      at most 4096; 0: none); each must arrive exactly once\n"
    "  --postcopy-seed N   postcopy: the seed that picks those pages (1)\n"
    "  --postcopy-preempt  the destination's postcopy-preempt capability: one more\n"
    "                      connection, quiet until postcopy, carries requested pages\n";

/* "listening on ..." on stderr, with the bound port when PORT was 0. */
static void sink_print_listening(const char *listen_spec, uint16_t port)
{
  if (port != 0) {
    fprintf(stderr, "migsim sink: listening on tcp:%.*s:%u\n",
            (int)(strrchr(listen_spec, ':') - (listen_spec + 4)), listen_spec + 4, port);
  } else {
    fprintf(stderr, "migsim sink: listening on %s\n", listen_spec);
  }
  fflush(stderr);
}

int cli_sink_main(int argc, char **argv)
{
  const char *listen_spec = NULL;
  const char *stream_out = NULL;
  bool once = false, summary = false, preempt = false;
  uint32_t compression_index = 0;
  uint64_t idle_ms = CLI_SINK_IDLE_MS_DEFAULT, bytes_max = CLI_SINK_STREAM_BYTES_DEFAULT;
  uint64_t requests = CLI_SINK_REQUESTS_DEFAULT, seed = 1;
  /* In enum mig_multifd_compression's order. */
  static const char *const compressions[] = {"none", "zlib", "zstd", NULL};
  const struct cli_option table[] = {
      {"--listen", CLI_OPTION_STRING, &listen_spec, 0, 0, false, NULL, NULL},
      {"--stream-out", CLI_OPTION_STRING, &stream_out, 0, 0, false, NULL, NULL},
      {"--multifd-compression", CLI_OPTION_CHOICE, &compression_index, 0, 0, false,
       compressions, NULL},
      {"--once", CLI_OPTION_FLAG, &once, 0, 0, false, NULL, NULL},
      {"--summary", CLI_OPTION_FLAG, &summary, 0, 0, false, NULL, NULL},
      {"--postcopy-preempt", CLI_OPTION_FLAG, &preempt, 0, 0, false, NULL, NULL},
      {"--idle-ms", CLI_OPTION_NUMBER, &idle_ms, 1, INT_MAX, false, NULL, NULL},
      {"--stream-bytes-max", CLI_OPTION_NUMBER, &bytes_max, 64, CLI_SINK_STREAM_BYTES_MAX, true,
       NULL, NULL},
      {"--postcopy-requests", CLI_OPTION_NUMBER, &requests, 0, MIG_PCTRACK_REQUESTS_MAX, false,
       NULL, NULL},
      {"--postcopy-seed", CLI_OPTION_NUMBER, &seed, 0, INT64_MAX, false, NULL, NULL},
  };
  const struct cli_command command = {"sink", usage_sink, table, SIM_ARRAY_COUNT(table), 0, 0};
  struct cli_parsed parsed;
  int rc = cli_args_parse(&command, argc, argv, &parsed);
  if (rc != 0 || parsed.help) return rc;
  enum mig_multifd_compression compression = (enum mig_multifd_compression)compression_index;
  SIM_ASSERT(strcmp(mig_multifd_compression_name(compression), compressions[compression_index]) ==
             0);
  if (listen_spec == NULL) {
    fprintf(stderr, "migsim sink: --listen is required\n%s", usage_sink);
    return CONFORM_BAD_INPUT;
  }
  const char *why = stream_out != NULL ? cli_output_check(stream_out) : NULL;
  if (why != NULL) {
    fprintf(stderr, "migsim sink: --stream-out %s: %s\n", stream_out, why);
    return CONFORM_BAD_INPUT;
  }
  char message[MIG_PATH_BYTES_MAX + 512];
  uint16_t port = 0;
  int fd = cli_sink_listen(listen_spec, &port, message, sizeof message);
  if (fd < 0) {
    fprintf(stderr, "migsim sink: %s\n", message);
    return CONFORM_BAD_INPUT;
  }
  sink_print_listening(listen_spec, port);
  struct cli_sink_options options = {.stream_bytes_max = (size_t)bytes_max,
                                     .idle_ms_max = (uint32_t)idle_ms,
                                     .settle_ms = CLI_SINK_SETTLE_MS_DEFAULT,
                                     .stream_out = stream_out,
                                     .multifd_compression = compression,
                                     .postcopy_seed = seed,
                                     .postcopy_requests_max = (uint32_t)requests,
                                     .postcopy_preempt = preempt};
  int code = 0;
  do {
    struct cli_sink_result result;
    enum mig_err err = cli_sink_serve(fd, &options, &result);
    cli_sink_print(stdout, &result, summary);
    fflush(stdout);
    if (err != MIG_OK) {
      mig_error_format(&result.error, message, sizeof message);
      fprintf(stderr, "%s\n", message);
    }
    code = err == MIG_OK ? 0 : CONFORM_BAD_INPUT;
    cli_sink_result_deinit(&result);
  } while (!once);
  close(fd);
  return code;
}
