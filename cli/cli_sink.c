/*
 * cli_sink.c: `migsim sink`, a destination for a real QEMU 7.2 source
 * (overview and approach in cli_sink.h; wire facts in
 * spec/stream-format.md §7-§9).  One poll loop reads every channel; the main
 * channel is buffered and its prefix walked as it grows, multifd channels are
 * parsed packet by packet and discarded (zlib/zstd payloads are decompressed
 * into a scratch buffer on the way).  The whole main stream is validated
 * by mig_inspect_stream once it is complete.  Every length read from a
 * channel is bounded before use: the main buffer by stream_bytes_max, a
 * multifd packet by its fixed size, a payload by 128 pages (raw) or
 * CLI_SINK_MULTIFD_COMPRESSED_BYTES_MAX (compressed), and decompressed
 * output by normal_pages x 4096 plus at most one scratch buffer.
 */
#include "sim_base.h"

#include "cli_args.h"
#include "cli_inspect.h"
#include "cli_sink.h"
#include "conform_run.h"
#include "mig_format.h"
#include "mig_stream.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#define ZLIB_CONST 1                 /* next_in is const */
#include <zlib.h>
#include <zstd.h>

#define SINK_MULTIFD_MAGIC UINT32_C(0x11223344)
#define SINK_MULTIFD_VERSION 1u
#define SINK_MULTIFD_FLAG_SYNC 0x1u
#define SINK_MULTIFD_FLAG_COMPRESSION 0xeu     /* 7.2: zlib 0x2, zstd 0x4 */
#define SINK_MULTIFD_FLAG_ZLIB 0x2u
#define SINK_MULTIFD_FLAG_ZSTD 0x4u
#define SINK_SCRATCH_BYTES (UINT32_C(64) << 10)  /* decompressed pages land here, discarded */
#define SINK_RP_SHUT 1u
#define SINK_RP_PONG 2u
#define SINK_CMD_OPEN_RETURN_PATH 1u
#define SINK_CMD_PING 2u
#define SINK_CMD_PACKAGED 7u
#define SINK_CHUNK_BYTES (UINT32_C(256) << 10)
#define SINK_TRAILER_CANDIDATES_MAX 64u

_Static_assert(CLI_SINK_MULTIFD_PACKET_BYTES == 1344, "7.2 x86 packet size (spec §9.3)");
_Static_assert(CLI_SINK_CHANNELS_MAX >= 2, "main plus at least one multifd channel");
_Static_assert(CLI_SINK_MULTIFD_COMPRESSED_BYTES_MAX == (1u << 20),
               "QEMU 7.2's zbuff: MULTIFD_PACKET_SIZE x 2");
_Static_assert(SINK_SCRATCH_BYTES % MIG_PAGE_BYTES == 0, "scratch holds whole pages");

enum channel_kind { CHANNEL_UNKNOWN, CHANNEL_MAIN, CHANNEL_MULTIFD };

struct sink_trailer_candidate {
  uint64_t end;                     /* stream length at which this trailer would end */
};

struct channel {
  int fd;                           /* open until the migration is over */
  bool eof;                         /* the peer finished sending */
  enum channel_kind kind;
  uint32_t index;                   /* connection order, for error paths */
  uint64_t offset;                  /* bytes received so far */
  uint8_t head[CLI_SINK_MULTIFD_PACKET_BYTES];  /* packet being assembled */
  size_t head_count;                /* bytes in head */
  uint64_t head_offset;             /* channel offset of head[0] */
  bool initial_done;                /* multifd: initial packet parsed */
  uint32_t id;                      /* multifd channel id from the initial packet */
  uint8_t uuid[16];                 /* multifd: source UUID from the initial packet */
  uint64_t payload_left;            /* multifd: payload bytes (raw or compressed) still to read */
  uint64_t syncs;                   /* multifd: SYNC packets */
  uint64_t packets;                 /* multifd: RAM packets parsed; the current one is packets-1 */
  bool compressed;                  /* the current payload is zlib/zstd data */
  uint64_t out_expected_bytes;      /* ...that must give normal_pages x 4096 bytes */
  uint64_t out_bytes;               /* ...decompressed so far */
  z_stream *zlib;                   /* inflate state kept across packets; NULL until needed */
  ZSTD_DStream *zstd;               /* zstd state kept across packets; NULL until needed */
};

struct sink {
  const struct cli_sink_options *options;
  struct cli_sink_result *result;
  struct channel channels[CLI_SINK_CHANNELS_MAX];
  uint32_t channel_count;
  int32_t main_index;               /* -1 until "QEVM" arrives */
  bool ids_seen[CLI_SINK_CHANNELS_MAX];
  struct mig_membuf stream;         /* the main channel, whole */
  bool prefix_done;                 /* header, configuration, leading commands walked */
  uint64_t prefix_offset;           /* end of the last complete prefix item; 0: none yet */
  bool main_complete;               /* trailer seen or channel closed */
  bool walk_pending;                /* a trailer candidate walked with an error: more bytes? */
  bool settled;                     /* ...none came for settle_ms: that error is final */
  size_t scanned;                   /* main bytes searched for a trailer start */
  uint32_t candidate_count;
  struct sink_trailer_candidate candidates[SINK_TRAILER_CANDIDATES_MAX];
  uint64_t syncs_expected;          /* RAM sections in the main stream */
  uint8_t chunk[SINK_CHUNK_BYTES];
  uint8_t scratch[SINK_SCRATCH_BYTES];  /* decompressed pages, counted then dropped */
};

static bool sink_failed(const struct sink *sink)
{
  return sink->result->error.code != MIG_OK;
}

#ifdef __GNUC__
__attribute__((format(printf, 6, 7)))
#endif
static void sink__fail(struct sink *sink, int line, enum mig_err code, uint64_t offset,
                       const char *detail, const char *path_format, ...)
{
  struct mig_error *error = &sink->result->error;
  if (error->code != MIG_OK) return;
  SIM_ASSERT(code != MIG_OK);
  error->code = code;
  error->offset = offset;
  va_list args;
  va_start(args, path_format);
  vsnprintf(error->path, sizeof error->path, path_format, args);
  va_end(args);
  snprintf(error->detail, sizeof error->detail, "%s", detail);
  error->source_file = __FILE__;
  error->source_line = line;
}
#define SINK_FAIL(sink, code, offset, detail, ...) \
  sink__fail((sink), __LINE__, (code), (offset), (detail), __VA_ARGS__)

static uint32_t be32_at(const uint8_t *bytes)
{
  return (uint32_t)bytes[0] << 24 | (uint32_t)bytes[1] << 16 | (uint32_t)bytes[2] << 8 | bytes[3];
}

static uint64_t be64_at(const uint8_t *bytes)
{
  return (uint64_t)be32_at(bytes) << 32 | be32_at(bytes + 4);
}

/* ------------------------------------------------------------ return path */

/* be16 type, be16 length 4, be32 value (spec §8): SHUT and PONG have this shape. */
static bool sink_rp_send(struct sink *sink, uint16_t type, uint32_t value)
{
  SIM_ASSERT(sink->main_index >= 0);
  uint8_t message[8] = {(uint8_t)(type >> 8), (uint8_t)type, 0, 4, (uint8_t)(value >> 24),
                        (uint8_t)(value >> 16), (uint8_t)(value >> 8), (uint8_t)value};
  int fd = sink->channels[sink->main_index].fd;
  ssize_t sent = fd < 0 ? -1 : send(fd, message, sizeof message, MSG_NOSIGNAL);
  if (sent != (ssize_t)sizeof message) {
    SINK_FAIL(sink, MIG_ERR_IO, sink->stream.count, strerror(errno), "return-path/%s",
              type == SINK_RP_SHUT ? "shut" : "pong");
    return false;
  }
  return true;
}

/* ------------------------------------------------------------ main prefix */

/* False when the prefix ended early (not all bytes here yet) or was left to the full walk. */
static bool prefix_configuration(struct sink *sink, struct mig_reader *reader)
{
  uint8_t type = 0;
  if (!mig_reader_peek_u8(reader, &type)) return false;
  if (type != MIG_SECTION_CONFIGURATION) return true;
  (void)mig_read_u8(reader);
  uint32_t name_bytes = mig_read_be32(reader);
  if (name_bytes > MIG_MACHINE_NAME_BYTES_MAX) {
    sink->prefix_done = true;       /* the full walk reports it */
    return false;
  }
  mig_read_skip(reader, name_bytes);
  while (mig_reader_peek_u8(reader, &type) && type == MIG_SECTION_SUBSECTION) {
    char name[MIG_IDSTR_BYTES_MAX + 1];
    (void)mig_read_u8(reader);
    (void)mig_read_counted_string(reader, name, sizeof name);
    (void)mig_read_be32(reader);
    if (strcmp(name, "configuration/capabilities") == 0) {
      uint32_t count = mig_read_be32(reader);
      if (count > MIG_CAPABILITIES_MAX) sink->prefix_done = true;
      for (uint32_t i = 0; i < count && !sink->prefix_done && !mig_reader_failed(reader); i++) {
        (void)mig_read_counted_string(reader, name, sizeof name);
      }
    } else if (strcmp(name, "configuration/uuid") == 0) {
      mig_read_skip(reader, 16);
    } else if (strcmp(name, "configuration/target-page-bits") == 0) {
      mig_read_skip(reader, 4);
    } else if (!mig_reader_failed(reader)) {
      sink->prefix_done = true;
    }
    if (sink->prefix_done || mig_reader_failed(reader)) return false;
  }
  return !mig_reader_failed(reader) && !mig_reader_at_end(reader);
}

/* One command (§7) whose header byte 0x08 was peeked; answers PING.  False: incomplete. */
static bool prefix_command(struct sink *sink, struct mig_reader *reader)
{
  uint64_t offset = mig_reader_offset(reader);
  (void)mig_read_u8(reader);
  uint16_t code = mig_read_be16(reader);
  uint16_t length = mig_read_be16(reader);
  const uint8_t *payload = mig_read_view(reader, length);
  if (payload == NULL && length > 0) return false;
  if (mig_reader_failed(reader)) return false;
  struct cli_sink_result *result = sink->result;
  if (code == SINK_CMD_OPEN_RETURN_PATH && length == 0) {
    result->return_path = true;
  } else if (code == SINK_CMD_PING && length == 4) {
    if (!result->return_path) {
      SINK_FAIL(sink, MIG_ERR_BAD_COMMAND, offset, "PING before OPEN_RETURN_PATH",
                "command/ping");
      return false;
    }
    if (!sink_rp_send(sink, SINK_RP_PONG, be32_at(payload))) return false;
    result->pongs_sent++;
  } else if (code == SINK_CMD_PACKAGED) {
    sink->prefix_done = true;       /* postcopy package: left to the full walk */
    return false;
  }
  return true;
}

/*
 * Walks header, configuration and the commands before the first section as
 * bytes arrive, until a section record shows up.  It resumes after the last
 * complete item (sink->prefix_offset), so each byte is parsed about once and
 * each PING is answered once.
 */
static void prefix_walk(struct sink *sink)
{
  if (sink->prefix_done || sink->stream.count < 8) return;
  const uint8_t *bytes = sink->stream.bytes;
  if (be32_at(bytes) != MIG_FILE_MAGIC || be32_at(bytes + 4) != MIG_FILE_VERSION) {
    SINK_FAIL(sink, be32_at(bytes) != MIG_FILE_MAGIC ? MIG_ERR_BAD_MAGIC : MIG_ERR_BAD_VERSION,
              be32_at(bytes) != MIG_FILE_MAGIC ? 0 : 4, "", "header/%s",
              be32_at(bytes) != MIG_FILE_MAGIC ? "magic" : "version");
    return;
  }
  struct mig_reader reader;
  mig_reader_init_memory(&reader, bytes, sink->stream.count);
  if (sink->prefix_offset == 0) {
    mig_read_skip(&reader, 8);
    if (!prefix_configuration(sink, &reader)) return;
    sink->prefix_offset = mig_reader_offset(&reader);
  }
  mig_read_skip(&reader, sink->prefix_offset - mig_reader_offset(&reader));
  uint8_t type = 0;
  while (mig_reader_peek_u8(&reader, &type) && type == MIG_SECTION_COMMAND) {
    if (!prefix_command(sink, &reader)) return;
    sink->prefix_offset = mig_reader_offset(&reader);
  }
  if (!mig_reader_failed(&reader) && !mig_reader_at_end(&reader)) sink->prefix_done = true;
}

/*
 * The end of the main stream is EOF, 0x06, be32 N, then N bytes of JSON
 * (spec §10.1).  Each new byte is searched once for "00 06 N N N N {"; a hit
 * is a candidate that completes the stream when exactly N bytes follow its
 * '{'.  Candidates whose end has passed are dropped; when the table is full
 * the one ending furthest away is replaced (a hostile stream can then hide its
 * trailer, and the sink falls back to the channel closing or the idle limit).
 */
static void trailer_scan(struct sink *sink)
{
  const uint8_t *bytes = sink->stream.bytes;
  size_t count = sink->stream.count;
  uint32_t kept = 0;
  for (uint32_t i = 0; i < sink->candidate_count; i++) {
    if (sink->candidates[i].end >= count) sink->candidates[kept++] = sink->candidates[i];
  }
  sink->candidate_count = kept;
  size_t p = SIM_MAX(sink->scanned, (size_t)6);
  for (const uint8_t *hit; p < count && (hit = memchr(bytes + p, '{', count - p)) != NULL;) {
    p = (size_t)(hit - bytes) + 1;
    size_t at = p - 1;
    if (bytes[at - 5] != MIG_SECTION_VMDESCRIPTION || bytes[at - 6] != MIG_SECTION_EOF) continue;
    uint32_t length = be32_at(bytes + at - 4);
    if (length == 0 || length > MIG_VMDESC_BYTES_MAX) continue;
    struct sink_trailer_candidate candidate = {.end = (uint64_t)at + length};
    if (sink->candidate_count < SINK_TRAILER_CANDIDATES_MAX) {
      sink->candidates[sink->candidate_count++] = candidate;
      continue;
    }
    uint32_t furthest = 0;
    for (uint32_t i = 1; i < sink->candidate_count; i++) {
      if (sink->candidates[i].end > sink->candidates[furthest].end) furthest = i;
    }
    if (sink->candidates[furthest].end > candidate.end) sink->candidates[furthest] = candidate;
  }
  sink->scanned = count;
}

static bool trailer_complete(const struct sink *sink)
{
  size_t count = sink->stream.count;
  if (count == 0 || sink->stream.bytes[count - 1] != '}') return false;
  for (uint32_t i = 0; i < sink->candidate_count; i++) {
    if (sink->candidates[i].end == count) return true;
  }
  return false;
}

static void main_feed(struct sink *sink, const uint8_t *bytes, size_t count)
{
  if (mig_membuf_write(&sink->stream, bytes, count) != MIG_OK) {
    SINK_FAIL(sink, MIG_ERR_NOMEM, sink->stream.count, "main channel exceeds stream_bytes_max",
              "channel/main");
    return;
  }
  if (sink->walk_pending) sink->result->false_trailers++;
  sink->walk_pending = false;        /* more bytes: the failed candidate was not the end */
  prefix_walk(sink);
  trailer_scan(sink);
  if (sink->prefix_done && !sink_failed(sink) && trailer_complete(sink)) {
    sink->main_complete = true;
  }
}

/* ---------------------------------------------------------------- multifd */

static struct cli_sink_multifd_block *multifd_block(struct sink *sink, const char *name,
                                                        uint64_t offset, uint32_t index)
{
  struct cli_sink_result *result = sink->result;
  for (uint32_t i = 0; i < result->multifd_block_count; i++) {
    if (strcmp(result->multifd_blocks[i].name, name) == 0) return &result->multifd_blocks[i];
  }
  if (result->multifd_block_count == MIG_RAM_BLOCKS_MAX) {
    SINK_FAIL(sink, MIG_ERR_TOO_LONG, offset, "too many RAM blocks",
              "multifd/channel%" PRIu32 "/ramblock", index);
    return NULL;
  }
  struct cli_sink_multifd_block *block = &result->multifd_blocks[result->multifd_block_count++];
  snprintf(block->name, sizeof block->name, "%s", name);
  return block;
}

/* The 64-byte initial packet (§9.2). */
static void multifd_initial(struct sink *sink, struct channel *channel)
{
  const uint8_t *packet = channel->head;
  uint32_t index = channel->index;
  if (be32_at(packet + 4) != SINK_MULTIFD_VERSION) {
    SINK_FAIL(sink, MIG_ERR_BAD_VERSION, 4, "multifd version is not 1",
              "multifd/channel%" PRIu32 "/initial/version", index);
    return;
  }
  uint32_t id = packet[24];
  if (id >= CLI_SINK_CHANNELS_MAX - 1 || sink->ids_seen[id]) {
    char detail[48];
    snprintf(detail, sizeof detail, "id %" PRIu32 " out of range or repeated", id);
    SINK_FAIL(sink, MIG_ERR_BAD_VALUE, 24, detail, "multifd/channel%" PRIu32 "/initial/id",
              index);
    return;
  }
  sink->ids_seen[id] = true;
  memcpy(channel->uuid, packet + 8, sizeof channel->uuid);
  channel->id = id;
  channel->initial_done = true;
  sink->result->multifd_channel_count++;
}

static uint32_t compression_flag(enum cli_sink_compression compression)
{
  switch (compression) {
  case CLI_SINK_COMPRESSION_NONE: return 0;
  case CLI_SINK_COMPRESSION_ZLIB: return SINK_MULTIFD_FLAG_ZLIB;
  case CLI_SINK_COMPRESSION_ZSTD: return SINK_MULTIFD_FLAG_ZSTD;
  }
  SIM_ASSERT(!"unknown compression");
  return 0;
}

const char *cli_sink_compression_name(enum cli_sink_compression compression)
{
  switch (compression) {
  case CLI_SINK_COMPRESSION_NONE: return "none";
  case CLI_SINK_COMPRESSION_ZLIB: return "zlib";
  case CLI_SINK_COMPRESSION_ZSTD: return "zstd";
  }
  SIM_ASSERT(!"unknown compression");
  return "";
}

/*
 * The compression bits of a packet's flags (§9.3).  QEMU 7.2 checks them
 * only on packets with pages (its recv_pages methods), and its sender sets
 * them only there, so a packet without pages may carry 0 or the configured
 * flag; a packet with pages must carry exactly the configured flag.
 */
static bool packet_compression_ok(const struct sink *sink, uint32_t flags, uint32_t normal,
                                  char *detail, size_t detail_bytes)
{
  enum cli_sink_compression configured = sink->options->multifd_compression;
  uint32_t method = flags & SINK_MULTIFD_FLAG_COMPRESSION;
  uint32_t expected = compression_flag(configured);
  if (method == expected || (normal == 0 && method == 0)) return true;
  snprintf(detail, detail_bytes, "compression flag 0x%" PRIx32 ", configured %s (0x%" PRIx32 ")",
           method, cli_sink_compression_name(configured), expected);
  return false;
}

/* Header checks of one RAM packet (§9.3); false after a failure. */
static bool multifd_packet_header(struct sink *sink, struct channel *channel, uint64_t number)
{
  const uint8_t *packet = channel->head;
  uint32_t flags = be32_at(packet + 8);
  uint32_t pages_alloc = be32_at(packet + 12);
  uint32_t normal = be32_at(packet + 16);
  uint32_t next_packet_bytes = be32_at(packet + 20);
  bool compressed = sink->options->multifd_compression != CLI_SINK_COMPRESSION_NONE;
  const char *field = NULL;
  const char *detail = NULL;
  char method_detail[96];
  uint32_t field_at = 0;            /* the field's offset in the packet */
  enum mig_err code = MIG_ERR_BAD_VALUE;
  if (be32_at(packet) != SINK_MULTIFD_MAGIC) {
    field = "magic", detail = "not 0x11223344", code = MIG_ERR_BAD_MAGIC;
  } else if (be32_at(packet + 4) != SINK_MULTIFD_VERSION) {
    field = "version", detail = "not 1", field_at = 4, code = MIG_ERR_BAD_VERSION;
  } else if ((flags & ~(SINK_MULTIFD_FLAG_SYNC | SINK_MULTIFD_FLAG_COMPRESSION)) != 0) {
    field = "flags", detail = "unknown flag bits", field_at = 8;
  } else if (!packet_compression_ok(sink, flags, normal, method_detail, sizeof method_detail)) {
    field = "flags", detail = method_detail, field_at = 8;
  } else if (pages_alloc > CLI_SINK_MULTIFD_PAGES_MAX) {
    field = "pages_alloc", detail = "above 128", field_at = 12;
  } else if (normal > pages_alloc) {
    field = "normal_pages", detail = "above pages_alloc", field_at = 16;
  } else if (normal > 0 && !compressed && next_packet_bytes != normal * MIG_PAGE_BYTES) {
    /*
     * nocomp: the payload is exactly normal_pages pages.  With no pages the
     * field is not checked: 7.2 SYNC packets carry the previous packet's
     * stale size (spec §9.3 [V]) and no payload.
     */
    field = "next_packet_size", detail = "not normal_pages x 4096", field_at = 20;
  } else if (normal > 0 && compressed &&
             next_packet_bytes > CLI_SINK_MULTIFD_COMPRESSED_BYTES_MAX) {
    field = "next_packet_size", detail = "compressed payload above 1 MiB (QEMU's zbuff)";
    field_at = 20, code = MIG_ERR_TOO_LONG;
  }
  if (field != NULL) {
    SINK_FAIL(sink, code, channel->head_offset + field_at, detail,
              "multifd/channel%" PRIu32 "/packet%" PRIu64 "/%s", channel->index, number, field);
    return false;
  }
  return true;
}

/* ------------------------------------------------- compressed payloads */

static void payload_fail(struct sink *sink, const struct channel *channel, enum mig_err code,
                         uint64_t offset, const char *detail)
{
  SINK_FAIL(sink, code, offset, detail, "multifd/channel%" PRIu32 "/packet%" PRIu64 "/%s",
            channel->index, channel->packets - 1,
            cli_sink_compression_name(sink->options->multifd_compression));
}

/*
 * Output beyond normal_pages x 4096 is refused as soon as it appears (at
 * most one scratch more).  QEMU 7.2 is laxer: it inflates page by page and
 * drops the rest of the packet's input, so the stream is out of step for the
 * next packet; the sink names the packet that caused it.
 */
static bool payload_output(struct sink *sink, struct channel *channel, size_t produced,
                           uint64_t offset)
{
  channel->out_bytes += produced;
  if (channel->out_bytes <= channel->out_expected_bytes) return true;
  char detail[96];
  snprintf(detail, sizeof detail, "decompresses to more than normal_pages x 4096 = %" PRIu64
           " bytes", channel->out_expected_bytes);
  payload_fail(sink, channel, MIG_ERR_TOO_LONG, offset, detail);
  return false;
}

/*
 * A decoder call that neither took input nor gave output would loop for
 * ever; both libraries promise it cannot happen, but their promise is not
 * an invariant of ours (STYLE R11), so it is an error.
 */
static bool payload_progress(struct sink *sink, const struct channel *channel, bool progress,
                             uint64_t offset)
{
  if (!progress) payload_fail(sink, channel, MIG_ERR_BAD_VALUE, offset, "decoder stalled");
  return progress;
}

/*
 * One piece of a zlib payload at channel offset `at`.  QEMU keeps one
 * deflate stream per channel and ends each packet with Z_SYNC_FLUSH, so
 * once a packet's bytes are all in, all its output has come out.  Each
 * inflate call fills at most the scratch buffer; the loop ends when input is
 * used up and output room is left.  Each round takes input or gives output,
 * and payload_output bounds the output, so the rounds are bounded.
 */
static void payload_zlib(struct sink *sink, struct channel *channel, const uint8_t *bytes,
                         size_t count, uint64_t at)
{
  z_stream *zs = channel->zlib;
  SIM_ASSERT(zs != NULL && count <= UINT32_MAX);
  zs->next_in = bytes;
  zs->avail_in = (uInt)count;
  for (;;) {
    uInt in_before = zs->avail_in;
    zs->next_out = sink->scratch;
    zs->avail_out = sizeof sink->scratch;
    int ret = inflate(zs, Z_SYNC_FLUSH);
    uint64_t offset = at + (count - zs->avail_in);
    if (ret == Z_STREAM_END) {
      payload_fail(sink, channel, MIG_ERR_BAD_VALUE, offset,
                   "deflate stream ended (QEMU keeps one open stream per channel)");
      return;
    }
    if (ret != Z_OK && ret != Z_BUF_ERROR) {
      char detail[96];
      snprintf(detail, sizeof detail, "inflate %d: %s", ret, zs->msg != NULL ? zs->msg : "");
      payload_fail(sink, channel, MIG_ERR_BAD_VALUE, offset, detail);
      return;
    }
    size_t produced = sizeof sink->scratch - zs->avail_out;
    if (!payload_output(sink, channel, produced, offset)) return;
    if (zs->avail_in == 0 && zs->avail_out > 0) return;  /* all input taken, all output out */
    if (!payload_progress(sink, channel, produced > 0 || zs->avail_in < in_before, offset)) return;
  }
}

/*
 * The same for zstd: one stream per channel, ZSTD_e_flush at the end of
 * each packet.  A frame may end inside a payload (the call then returns
 * early) and a new one follow, as QEMU's decoder also accepts.
 */
static void payload_zstd(struct sink *sink, struct channel *channel, const uint8_t *bytes,
                         size_t count, uint64_t at)
{
  SIM_ASSERT(channel->zstd != NULL);
  ZSTD_inBuffer in = {.src = bytes, .size = count, .pos = 0};
  for (;;) {
    size_t in_before = in.pos;
    ZSTD_outBuffer out = {.dst = sink->scratch, .size = sizeof sink->scratch, .pos = 0};
    size_t ret = ZSTD_decompressStream(channel->zstd, &out, &in);
    if (ZSTD_isError(ret)) {
      char detail[96];
      snprintf(detail, sizeof detail, "zstd: %s", ZSTD_getErrorName(ret));
      payload_fail(sink, channel, MIG_ERR_BAD_VALUE, at + in.pos, detail);
      return;
    }
    if (!payload_output(sink, channel, out.pos, at + in.pos)) return;
    if (in.pos == in.size && out.pos < out.size) return;  /* room left: everything flushed */
    if (!payload_progress(sink, channel, out.pos > 0 || in.pos > in_before, at + in.pos)) return;
  }
}

/* Creates the channel's decoder on its first compressed payload. */
static bool payload_decoder(struct sink *sink, struct channel *channel, uint64_t offset)
{
  bool zstd = sink->options->multifd_compression == CLI_SINK_COMPRESSION_ZSTD;
  if (!zstd && channel->zlib == NULL) {
    channel->zlib = calloc(1, sizeof *channel->zlib);
    if (channel->zlib != NULL && inflateInit(channel->zlib) != Z_OK) {
      free(channel->zlib);
      channel->zlib = NULL;
    }
  } else if (zstd && channel->zstd == NULL) {
    channel->zstd = ZSTD_createDStream();
    if (channel->zstd != NULL &&
        ZSTD_isError(ZSTD_DCtx_setParameter(channel->zstd, ZSTD_d_windowLogMax,
                                            CLI_SINK_ZSTD_WINDOW_LOG_MAX))) {
      ZSTD_freeDStream(channel->zstd);
      channel->zstd = NULL;
    }
  }
  if (zstd ? channel->zstd != NULL : channel->zlib != NULL) return true;
  payload_fail(sink, channel, MIG_ERR_NOMEM, offset, "decoder set-up failed");
  return false;
}

/* The whole payload is in: it must have given exactly normal_pages pages. */
static void payload_end(struct sink *sink, struct channel *channel)
{
  SIM_ASSERT(channel->compressed && channel->payload_left == 0);
  channel->compressed = false;
  if (channel->out_bytes == channel->out_expected_bytes) return;
  char detail[96];
  snprintf(detail, sizeof detail, "decompressed %" PRIu64 " bytes, normal_pages x 4096 = %"
           PRIu64, channel->out_bytes, channel->out_expected_bytes);
  payload_fail(sink, channel, MIG_ERR_TRUNCATED, channel->offset, detail);
}

static void channel_decoders_free(struct channel *channel)
{
  if (channel->zlib != NULL) {
    (void)inflateEnd(channel->zlib);
    free(channel->zlib);
    channel->zlib = NULL;
  }
  ZSTD_freeDStream(channel->zstd);  /* accepts NULL */
  channel->zstd = NULL;
}

/* -------------------------------------------------------- multifd packets */

/* One RAM packet: header, block name and page offsets; arms the payload. */
static void multifd_packet(struct sink *sink, struct channel *channel)
{
  uint64_t number = channel->packets++;
  if (!multifd_packet_header(sink, channel, number)) return;
  uint8_t *packet = channel->head;
  uint32_t normal = be32_at(packet + 16);
  struct cli_sink_result *result = sink->result;
  result->multifd_packets++;
  if ((be32_at(packet + 8) & SINK_MULTIFD_FLAG_SYNC) != 0) {
    channel->syncs++;
    result->multifd_sync_packets++;
  }
  if (normal == 0) return;          /* 7.2 SYNC packets carry stale names and offsets */
  packet[64 + 255] = 0;             /* as QEMU's loader does */
  const char *name = (const char *)packet + 64;
  if (name[0] == 0) {
    SINK_FAIL(sink, MIG_ERR_RAM_BLOCK, channel->head_offset + 64, "empty block name",
              "multifd/channel%" PRIu32 "/packet%" PRIu64 "/ramblock", channel->index, number);
    return;
  }
  struct cli_sink_multifd_block *block =
      multifd_block(sink, name, channel->head_offset + 64, channel->index);
  if (block == NULL) return;
  for (uint32_t i = 0; i < normal; i++) {
    uint64_t offset = be64_at(packet + 320 + 8 * (size_t)i);
    if ((offset & (MIG_PAGE_BYTES - 1)) != 0) {
      SINK_FAIL(sink, MIG_ERR_RAM_OFFSET, channel->head_offset + 320 + 8 * (uint64_t)i,
                "offset not page aligned", "multifd/channel%" PRIu32 "/packet%" PRIu64
                "/offset[%" PRIu32 "]", channel->index, number, i);
      return;
    }
    if (offset >= block->offset_max) {
      block->offset_max = offset;
      block->offset_max_at = channel->head_offset + 320 + 8 * (uint64_t)i;
      block->offset_max_channel = channel->index;
    }
  }
  block->pages += normal;
  result->multifd_pages += normal;
  channel->compressed = sink->options->multifd_compression != CLI_SINK_COMPRESSION_NONE;
  channel->payload_left = channel->compressed ? be32_at(packet + 20)
                                              : (uint64_t)normal * MIG_PAGE_BYTES;
  result->multifd_payload_bytes += channel->payload_left;
  if (!channel->compressed) return;
  channel->out_expected_bytes = (uint64_t)normal * MIG_PAGE_BYTES;
  channel->out_bytes = 0;
  if (!payload_decoder(sink, channel, channel->head_offset + 8)) return;
  if (channel->payload_left == 0) payload_end(sink, channel);  /* next_packet_size 0 */
}

/* Up to payload_left bytes of the current payload: skipped (nocomp) or decompressed. */
static size_t multifd_payload(struct sink *sink, struct channel *channel, const uint8_t *bytes,
                              size_t count)
{
  size_t take = (size_t)SIM_MIN((uint64_t)count, channel->payload_left);
  bool zstd = sink->options->multifd_compression == CLI_SINK_COMPRESSION_ZSTD;
  if (channel->compressed && !zstd) {
    payload_zlib(sink, channel, bytes, take, channel->offset);
  } else if (channel->compressed) {
    payload_zstd(sink, channel, bytes, take, channel->offset);
  }
  channel->payload_left -= take;
  channel->offset += take;
  if (channel->compressed && channel->payload_left == 0 && !sink_failed(sink)) {
    payload_end(sink, channel);
  }
  return take;
}

static void multifd_feed(struct sink *sink, struct channel *channel, const uint8_t *bytes,
                         size_t count)
{
  sink->result->multifd_bytes += count;
  while (count > 0 && !sink_failed(sink)) {
    if (channel->payload_left > 0) {
      size_t take = multifd_payload(sink, channel, bytes, count);
      bytes += take;
      count -= take;
      continue;
    }
    size_t need = channel->initial_done ? CLI_SINK_MULTIFD_PACKET_BYTES
                                        : CLI_SINK_MULTIFD_INITIAL_BYTES;
    if (channel->head_count == 0) channel->head_offset = channel->offset;
    size_t take = SIM_MIN(count, need - channel->head_count);
    memcpy(channel->head + channel->head_count, bytes, take);
    channel->head_count += take;
    channel->offset += take;
    bytes += take;
    count -= take;
    if (channel->head_count < need) break;
    channel->head_count = 0;
    if (channel->initial_done) {
      multifd_packet(sink, channel);
    } else {
      multifd_initial(sink, channel);
    }
  }
}

/* --------------------------------------------------------------- channels */

/* Sorts a new connection by its first 4 bytes (spec §9.1), then feeds it. */
static void channel_feed(struct sink *sink, struct channel *channel, const uint8_t *bytes,
                         size_t count)
{
  if (channel->kind == CHANNEL_UNKNOWN) {
    size_t take = SIM_MIN(count, 4 - channel->head_count);
    memcpy(channel->head + channel->head_count, bytes, take);
    channel->head_count += take;
    bytes += take;
    count -= take;
    if (channel->head_count < 4) return;
    uint32_t magic = be32_at(channel->head);
    if (magic == MIG_FILE_MAGIC && sink->main_index < 0) {
      channel->kind = CHANNEL_MAIN;
      sink->main_index = (int32_t)channel->index;
      channel->head_count = 0;
      channel->offset = 4;
      main_feed(sink, channel->head, 4);
    } else if (magic == SINK_MULTIFD_MAGIC) {
      channel->kind = CHANNEL_MULTIFD;
      channel->offset = 4;
      sink->result->multifd_bytes += 4;
    } else {
      SINK_FAIL(sink, MIG_ERR_BAD_MAGIC, 0,
                magic == MIG_FILE_MAGIC ? "second main channel" : "neither QEVM nor multifd",
                "channel%" PRIu32 "/magic", channel->index);
      return;
    }
  }
  if (count == 0) return;
  if (channel->kind == CHANNEL_MAIN) {
    channel->offset += count;
    main_feed(sink, bytes, count);
  } else {
    multifd_feed(sink, channel, bytes, count);
  }
}

/* The peer stopped sending; the fd stays open so SHUT can still go back. */
static void channel_eof(struct sink *sink, struct channel *channel)
{
  channel->eof = true;
  if (channel->kind == CHANNEL_MAIN) sink->main_complete = true;
  if (channel->kind == CHANNEL_MULTIFD && (channel->head_count > 0 || channel->payload_left > 0)) {
    SINK_FAIL(sink, MIG_ERR_TRUNCATED, channel->offset, "channel closed inside a packet",
              "multifd/channel%" PRIu32, channel->index);
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
  if (got <= 0) {
    channel_eof(sink, channel);
  } else {
    channel_feed(sink, channel, sink->chunk, (size_t)got);
  }
}

/* Done when the main stream is complete and each multifd channel sent its SYNCs or closed. */
static bool sink_done(const struct sink *sink)
{
  if (!sink->main_complete) return false;
  for (uint32_t i = 0; i < sink->channel_count; i++) {
    const struct channel *channel = &sink->channels[i];
    if (channel->eof || channel->kind == CHANNEL_MAIN) continue;
    if (channel->kind == CHANNEL_UNKNOWN || channel->syncs < sink->syncs_expected) return false;
  }
  return true;
}

/* The full walk of the main stream, once; sets the SYNC count multifd channels owe. */
static void sink_walk_main(struct sink *sink)
{
  struct cli_sink_result *result = sink->result;
  if (result->walked) return;
  result->walked = true;
  result->stream_bytes = sink->stream.count;
  struct mig_error error;
  SIM_ASSERT(sink->main_index >= 0);
  bool final = sink->settled || sink->channels[sink->main_index].eof;
  if (mig_inspect_stream(sink->stream.bytes, sink->stream.count, &result->inspect, &error) !=
      MIG_OK) {
    if (!final) {
      /* Maybe page data that looked like a trailer: wait briefly for more bytes. */
      mig_inspect_deinit(&result->inspect);
      result->walked = false;
      sink->main_complete = false;
      sink->walk_pending = true;
      return;
    }
    if (!sink_failed(sink)) result->error = error;
    return;
  }
  const uint64_t *records = result->inspect.records;
  sink->syncs_expected = records[MIG_SECTION_START] + records[MIG_SECTION_PART] +
                         records[MIG_SECTION_END];
}

/* Multifd pages join the per-block totals; their blocks and offsets are checked. */
/*
 * Channel ids and UUIDs once every channel is in (spec §9.2, §11.3 item 13).
 * The sink never sees the source's multifd-channels parameter, so ids are
 * bounded by the connection limit on arrival and must be dense 0..n-1 here.
 * Every UUID must equal the main stream's configuration/uuid when it sent
 * one, else the UUID of the first multifd channel.
 */
static void sink_check_multifd_ids(struct sink *sink)
{
  const struct cli_sink_result *result = sink->result;
  for (uint32_t id = 0; id < result->multifd_channel_count && !sink_failed(sink); id++) {
    if (sink->ids_seen[id]) continue;
    char detail[64];
    snprintf(detail, sizeof detail, "%" PRIu32 " channels but no id %" PRIu32,
             result->multifd_channel_count, id);
    SINK_FAIL(sink, MIG_ERR_BAD_VALUE, 24, detail, "multifd/initial/id");
  }
  const uint8_t *expected = result->walked && result->inspect.has_uuid ? result->inspect.uuid
                                                                       : NULL;
  for (uint32_t i = 0; i < sink->channel_count && !sink_failed(sink); i++) {
    const struct channel *channel = &sink->channels[i];
    if (channel->kind != CHANNEL_MULTIFD || !channel->initial_done) continue;
    if (expected == NULL) {
      expected = channel->uuid;
    } else if (memcmp(channel->uuid, expected, sizeof channel->uuid) != 0) {
      SINK_FAIL(sink, MIG_ERR_CONFIG_MISMATCH, 8,
                result->inspect.has_uuid ? "differs from configuration/uuid"
                                         : "differs from the first multifd channel's",
                "multifd/channel%" PRIu32 "/initial/uuid", channel->index);
    }
  }
}

static void sink_account_multifd(struct sink *sink)
{
  struct cli_sink_result *result = sink->result;
  for (uint32_t i = 0; i < sink->channel_count && !sink_failed(sink); i++) {
    const struct channel *channel = &sink->channels[i];
    if (channel->kind != CHANNEL_MULTIFD || channel->syncs == sink->syncs_expected) continue;
    char detail[96];
    snprintf(detail, sizeof detail, "%" PRIu64 " SYNC packets, the main stream has %" PRIu64
             " RAM sections", channel->syncs, sink->syncs_expected);
    SINK_FAIL(sink, MIG_ERR_TRUNCATED, channel->offset, detail,
              "multifd/channel%" PRIu32 "/sync", channel->index);
  }
  sink_check_multifd_ids(sink);
  for (uint32_t i = 0; i < result->multifd_block_count && !sink_failed(sink); i++) {
    const struct cli_sink_multifd_block *entry = &result->multifd_blocks[i];
    struct mig_inspect_block *block = NULL;
    for (uint32_t j = 0; j < result->inspect.block_count; j++) {
      if (strcmp(result->inspect.blocks[j].name, entry->name) == 0) {
        block = &result->inspect.blocks[j];
      }
    }
    if (block == NULL) {
      SINK_FAIL(sink, MIG_ERR_RAM_BLOCK, 0, "block not in the main stream's list",
                "multifd/ramblock/%s", entry->name);
    } else if (block->used_bytes < MIG_PAGE_BYTES ||
               entry->offset_max > block->used_bytes - MIG_PAGE_BYTES) {
      char detail[96];
      snprintf(detail, sizeof detail, "page offset 0x%" PRIx64 " beyond used_length 0x%" PRIx64,
               entry->offset_max, block->used_bytes);
      SINK_FAIL(sink, MIG_ERR_RAM_OFFSET, entry->offset_max_at, detail,
                "multifd/channel%" PRIu32 "/ramblock/%s", entry->offset_max_channel, entry->name);
    } else {
      block->normal_pages += entry->pages;
    }
  }
}

/* One poll round over the listening socket and every open channel. */
static void sink_poll(struct sink *sink, int listen_fd)
{
  struct pollfd fds[CLI_SINK_CHANNELS_MAX + 1];
  uint32_t owners[CLI_SINK_CHANNELS_MAX + 1];
  nfds_t count = 0;
  fds[count++] = (struct pollfd){.fd = listen_fd, .events = POLLIN};
  for (uint32_t i = 0; i < sink->channel_count; i++) {
    if (sink->channels[i].eof) continue;
    owners[count] = i;
    fds[count++] = (struct pollfd){.fd = sink->channels[i].fd, .events = POLLIN};
  }
  int wait_ms = sink->channel_count == 0 ? -1 : (int)sink->options->idle_ms_max;
  if (sink->walk_pending) wait_ms = (int)sink->options->settle_ms;
  int ready = poll(fds, count, wait_ms);
  if (ready < 0 && errno == EINTR) return;
  if (ready == 0 && sink->walk_pending) {
    sink->settled = true;
    sink->main_complete = true;
    return;
  }
  if (ready <= 0) {
    char detail[64];
    snprintf(detail, sizeof detail, "no byte for %" PRIu32 " ms", sink->options->idle_ms_max);
    SINK_FAIL(sink, ready == 0 ? MIG_ERR_TRUNCATED : MIG_ERR_IO, sink->stream.count,
              ready == 0 ? detail : strerror(errno), "channel/main");
    return;
  }
  for (nfds_t i = 1; i < count && !sink_failed(sink); i++) {
    if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      sink_read(sink, &sink->channels[owners[i]]);
    }
  }
  if ((fds[0].revents & POLLIN) != 0 && !sink_failed(sink)) sink_accept(sink, listen_fd);
}

/* --stream-out: the main channel as received, valid or not (after the verdict). */
static void sink_save(struct sink *sink, const char *path)
{
  FILE *file = fopen(path, "wb");
  bool ok = file != NULL &&
            fwrite(sink->stream.bytes, 1, sink->stream.count, file) == sink->stream.count;
  if (file != NULL && fclose(file) != 0) ok = false;
  if (!ok) SINK_FAIL(sink, MIG_ERR_IO, 0, strerror(errno), "stream-out");
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
  mig_membuf_init(&sink->stream, options->stream_bytes_max);
  while (!sink_failed(sink) && !sink_done(sink)) {
    sink_poll(sink, listen_fd);
    if (sink->main_complete && !sink_failed(sink)) sink_walk_main(sink);
  }
  if (!sink_failed(sink)) sink_account_multifd(sink);
  if (options->stream_out != NULL) sink_save(sink, options->stream_out);
  if (result->stream_bytes == 0) result->stream_bytes = sink->stream.count;
  if (result->return_path) {
    result->shut_value = sink_failed(sink) ? 1 : 0;
    result->shut_sent = sink_rp_send(sink, SINK_RP_SHUT, result->shut_value);
  }
  for (uint32_t i = 0; i < sink->channel_count; i++) {
    close(sink->channels[i].fd);
    channel_decoders_free(&sink->channels[i]);
  }
  mig_membuf_deinit(&sink->stream);
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
  fprintf(out, "sink: return path %s, pongs %" PRIu32 ", shut %s\n",
          result->return_path ? "open" : "closed", result->pongs_sent,
          result->shut_sent ? (result->shut_value == 0 ? "0" : "1") : "none");
  fprintf(out, "sink: multifd channels %" PRIu32 ", packets %" PRIu64 " (sync %" PRIu64
          "), pages %" PRIu64 ", bytes %" PRIu64 ", compression %s (payload %" PRIu64
          " bytes)\n", result->multifd_channel_count, result->multifd_packets,
          result->multifd_sync_packets, result->multifd_pages, result->multifd_bytes,
          cli_sink_compression_name(result->multifd_compression),
          result->multifd_payload_bytes);
  fprintf(out, "sink: ram pages normal %" PRIu64 " (multifd %" PRIu64 "), zero %" PRIu64
          ", xbzrle %" PRIu64 ", compressed %" PRIu64 "\n", normal, result->multifd_pages, zero,
          xbzrle, compressed);
  fprintf(out, "sink: devices %" PRIu32 "\n", result->walked ? inspect->device_count : 0);
  fprintf(out, "sink: %s\n", result->error.code == MIG_OK ? "valid" : "INVALID");
}

static const char usage_sink[] =
    "usage: migsim sink --listen tcp:HOST:PORT|unix:PATH [--once] [--summary]\n"
    "                   [--idle-ms N] [--stream-bytes-max N] [--stream-out FILE]\n"
    "                   [--multifd-compression none|zlib|zstd]\n"
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
    "  --idle-ms N         fail when a connected source sends nothing for N ms (20000)\n"
    "  --stream-bytes-max N  main-channel bytes held in memory (4 GiB; K/M/G suffixes)\n"
    "  --stream-out FILE   save the main channel's bytes as received\n";

int cli_sink_main(int argc, char **argv)
{
  const char *listen_spec = NULL;
  const char *stream_out = NULL;
  bool once = false, summary = false;
  uint32_t compression_index = 0;
  uint64_t idle_ms = CLI_SINK_IDLE_MS_DEFAULT, bytes_max = CLI_SINK_STREAM_BYTES_MAX;
  /* In enum cli_sink_compression's order. */
  static const char *const compressions[] = {"none", "zlib", "zstd", NULL};
  const struct cli_option table[] = {
      {"--listen", CLI_OPTION_STRING, &listen_spec, 0, 0, false, NULL, NULL},
      {"--stream-out", CLI_OPTION_STRING, &stream_out, 0, 0, false, NULL, NULL},
      {"--multifd-compression", CLI_OPTION_CHOICE, &compression_index, 0, 0, false,
       compressions, NULL},
      {"--once", CLI_OPTION_FLAG, &once, 0, 0, false, NULL, NULL},
      {"--summary", CLI_OPTION_FLAG, &summary, 0, 0, false, NULL, NULL},
      {"--idle-ms", CLI_OPTION_NUMBER, &idle_ms, 1, INT_MAX, false, NULL, NULL},
      {"--stream-bytes-max", CLI_OPTION_NUMBER, &bytes_max, 64, CLI_SINK_STREAM_BYTES_MAX, true,
       NULL, NULL},
  };
  const struct cli_command command = {"sink", usage_sink, table, SIM_ARRAY_COUNT(table), 0, 0};
  struct cli_parsed parsed;
  int rc = cli_args_parse(&command, argc, argv, &parsed);
  if (rc != 0 || parsed.help) return rc;
  enum cli_sink_compression compression = (enum cli_sink_compression)compression_index;
  SIM_ASSERT(strcmp(cli_sink_compression_name(compression), compressions[compression_index]) ==
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
  if (port != 0) {
    fprintf(stderr, "migsim sink: listening on tcp:%.*s:%u\n",
            (int)(strrchr(listen_spec, ':') - (listen_spec + 4)), listen_spec + 4, port);
  } else {
    fprintf(stderr, "migsim sink: listening on %s\n", listen_spec);
  }
  fflush(stderr);
  struct cli_sink_options options = {.stream_bytes_max = (size_t)bytes_max,
                                     .idle_ms_max = (uint32_t)idle_ms,
                                     .settle_ms = CLI_SINK_SETTLE_MS_DEFAULT,
                                     .stream_out = stream_out,
                                     .multifd_compression = compression};
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
