/*
 * mig_multifd.c: the multifd channels' packets and payloads (overview in
 * mig_multifd.h; wire facts in spec/stream-format.md §9).  Bytes are pushed
 * in as they arrive: a packet is assembled in the channel's head buffer and
 * checked whole, a payload is skipped (nocomp) or decoded piece by piece.
 */
/*
 * zlib's and zstd's headers name a field after the wall-clock call that
 * sim_base.h poisons (and pull in unistd.h), so they come before it; this
 * file calls no clock.
 */
#define ZLIB_CONST 1                 /* next_in is const */
#include <zlib.h>
#include <zstd.h>

#include "sim_base.h"

#include "mig_multifd.h"
#include "mig_stream.h"

_Static_assert(MIG_MULTIFD_SCRATCH_BYTES % MIG_PAGE_BYTES == 0, "scratch holds whole pages");

#define MULTIFD_FAIL(set, code, offset, detail, ...) \
  MIG_ERROR_LATCH(&(set)->error, (code), (offset), (detail), __VA_ARGS__)

static bool multifd_failed(const struct mig_multifd *set)
{
  return set->error.code != MIG_OK;
}

/* A fault of the shared decoder, latched at the channel offset of its packet. */
static void multifd_fault(struct mig_multifd *set, const struct mig_multifd_channel *channel,
                          const struct mig_multifd_fault *fault, uint64_t number)
{
  char path[MIG_PATH_BYTES_MAX];
  mig_multifd_fault_path(fault, channel->index, number, path, sizeof path);
  MULTIFD_FAIL(set, fault->code, channel->head_offset + fault->at, fault->detail, "%s", path);
}

/* The policy of the sink: 7.2's packets (no zero_pages), ids below the channel bound. */
static struct mig_multifd_policy multifd_policy(const struct mig_multifd *set)
{
  return (struct mig_multifd_policy){.compression = set->compression, .zero_pages = false,
                                     .channels_count = MIG_MULTIFD_CHANNELS_MAX, .uuid = NULL};
}

void mig_multifd_init(struct mig_multifd *set, enum mig_multifd_compression compression)
{
  SIM_ASSERT(compression <= MIG_MULTIFD_COMPRESSION_ZSTD);
  memset(set, 0, sizeof *set);
  set->compression = compression;
}

void mig_multifd_channel_init(struct mig_multifd *set, struct mig_multifd_channel *channel,
                              uint32_t index)
{
  memset(channel, 0, sizeof *channel);
  channel->index = index;
  /* The magic, read by whoever classified the connection, opens the initial packet. */
  channel->offset = 4;
  mig_wire_put_be32(channel->head, MIG_MULTIFD_MAGIC);
  channel->head_count = 4;
  channel->head_offset = 0;
  set->bytes_count += 4;
}

void mig_multifd_channel_deinit(struct mig_multifd_channel *channel)
{
  if (channel->zlib != NULL) {
    (void)inflateEnd(channel->zlib);
    free(channel->zlib);
    channel->zlib = NULL;
  }
  ZSTD_freeDStream(channel->zstd);  /* accepts NULL */
  channel->zstd = NULL;
}

/* ---------------------------------------------------------- initial packet */

/* The 64-byte initial packet (§9.2); the magic classified the channel already. */
static void multifd_initial(struct mig_multifd *set, struct mig_multifd_channel *channel)
{
  struct mig_multifd_policy policy = multifd_policy(set);
  struct mig_multifd_initial initial;
  struct mig_multifd_fault fault;
  if (!mig_multifd_initial_decode(channel->head, &policy, set->ids_seen, &initial, &fault)) {
    multifd_fault(set, channel, &fault, UINT64_MAX);
    return;
  }
  set->ids_seen[initial.id] = true;
  memcpy(channel->uuid, initial.uuid, sizeof channel->uuid);
  channel->id = initial.id;
  channel->initial_done = true;
  set->channel_count++;
}

/* ------------------------------------------------------------- RAM packet */

static struct mig_multifd_block *multifd_block(struct mig_multifd *set, const char *name,
                                               uint64_t offset, uint32_t index)
{
  for (uint32_t i = 0; i < set->block_count; i++) {
    if (strcmp(set->blocks[i].name, name) == 0) return &set->blocks[i];
  }
  if (set->block_count == MIG_RAM_BLOCKS_MAX) {
    MULTIFD_FAIL(set, MIG_ERR_TOO_LONG, offset, "too many RAM blocks",
                 "multifd/channel%" PRIu32 "/ramblock", index);
    return NULL;
  }
  struct mig_multifd_block *block = &set->blocks[set->block_count++];
  snprintf(block->name, sizeof block->name, "%s", name);
  return block;
}

/* ------------------------------------------------------ compressed payloads */

static void payload_fail(struct mig_multifd *set, const struct mig_multifd_channel *channel,
                         enum mig_err code, uint64_t offset, const char *detail)
{
  MULTIFD_FAIL(set, code, offset, detail, "multifd/channel%" PRIu32 "/packet%" PRIu64 "/%s",
               channel->index, channel->packets_count - 1,
               mig_multifd_compression_name(set->compression));
}

/*
 * Output beyond normal_pages x 4096 is refused as soon as it appears (at
 * most one scratch more).  QEMU 7.2 is laxer: it inflates page by page and
 * drops the rest of the packet's input, so the stream is out of step for the
 * next packet; here the packet that caused it is named.
 */
static bool payload_output(struct mig_multifd *set, struct mig_multifd_channel *channel,
                           size_t produced, uint64_t offset)
{
  channel->out_bytes += produced;
  if (channel->out_bytes <= channel->out_expected_bytes) return true;
  char detail[96];
  snprintf(detail, sizeof detail, "decompresses to more than normal_pages x 4096 = %" PRIu64
           " bytes", channel->out_expected_bytes);
  payload_fail(set, channel, MIG_ERR_TOO_LONG, offset, detail);
  return false;
}

/*
 * A decoder call that neither took input nor gave output would loop for
 * ever; both libraries promise it cannot happen, but their promise is not
 * an invariant of ours (STYLE R11), so it is an error.
 */
static bool payload_progress(struct mig_multifd *set, const struct mig_multifd_channel *channel,
                             bool progress, uint64_t offset)
{
  if (!progress) payload_fail(set, channel, MIG_ERR_BAD_VALUE, offset, "decoder stalled");
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
static void payload_zlib(struct mig_multifd *set, struct mig_multifd_channel *channel,
                         const uint8_t *bytes, size_t count, uint64_t at)
{
  z_stream *zs = channel->zlib;
  SIM_ASSERT(zs != NULL && count <= UINT32_MAX);
  zs->next_in = bytes;
  zs->avail_in = (uInt)count;
  for (;;) {
    uInt in_before = zs->avail_in;
    zs->next_out = set->scratch;
    zs->avail_out = sizeof set->scratch;
    int ret = inflate(zs, Z_SYNC_FLUSH);
    uint64_t offset = at + (count - zs->avail_in);
    if (ret == Z_STREAM_END) {
      payload_fail(set, channel, MIG_ERR_BAD_VALUE, offset,
                   "deflate stream ended (QEMU keeps one open stream per channel)");
      return;
    }
    if (ret != Z_OK && ret != Z_BUF_ERROR) {
      char detail[96];
      snprintf(detail, sizeof detail, "inflate %d: %s", ret, zs->msg != NULL ? zs->msg : "");
      payload_fail(set, channel, MIG_ERR_BAD_VALUE, offset, detail);
      return;
    }
    size_t produced = sizeof set->scratch - zs->avail_out;
    if (!payload_output(set, channel, produced, offset)) return;
    if (zs->avail_in == 0 && zs->avail_out > 0) return;  /* all input taken, all output out */
    if (!payload_progress(set, channel, produced > 0 || zs->avail_in < in_before, offset)) return;
  }
}

/*
 * The same for zstd: one stream per channel, ZSTD_e_flush at the end of
 * each packet.  A frame may end inside a payload (the call then returns
 * early) and a new one follow, as QEMU's decoder also accepts.
 */
static void payload_zstd(struct mig_multifd *set, struct mig_multifd_channel *channel,
                         const uint8_t *bytes, size_t count, uint64_t at)
{
  SIM_ASSERT(channel->zstd != NULL);
  ZSTD_inBuffer in = {.src = bytes, .size = count, .pos = 0};
  for (;;) {
    size_t in_before = in.pos;
    ZSTD_outBuffer out = {.dst = set->scratch, .size = sizeof set->scratch, .pos = 0};
    size_t ret = ZSTD_decompressStream(channel->zstd, &out, &in);
    if (ZSTD_isError(ret)) {
      char detail[96];
      snprintf(detail, sizeof detail, "zstd: %s", ZSTD_getErrorName(ret));
      payload_fail(set, channel, MIG_ERR_BAD_VALUE, at + in.pos, detail);
      return;
    }
    if (!payload_output(set, channel, out.pos, at + in.pos)) return;
    if (in.pos == in.size && out.pos < out.size) return;  /* room left: everything flushed */
    if (!payload_progress(set, channel, out.pos > 0 || in.pos > in_before, at + in.pos)) return;
  }
}

/* Creates the channel's decoder on its first compressed payload. */
static bool payload_decoder(struct mig_multifd *set, struct mig_multifd_channel *channel,
                            uint64_t offset)
{
  bool zstd = set->compression == MIG_MULTIFD_COMPRESSION_ZSTD;
  if (!zstd && channel->zlib == NULL) {
    z_stream *zs = calloc(1, sizeof *zs);
    if (zs != NULL && inflateInit(zs) != Z_OK) {
      free(zs);
      zs = NULL;
    }
    channel->zlib = zs;
  } else if (zstd && channel->zstd == NULL) {
    ZSTD_DStream *ds = ZSTD_createDStream();
    if (ds != NULL && ZSTD_isError(ZSTD_DCtx_setParameter(ds, ZSTD_d_windowLogMax,
                                                          MIG_MULTIFD_ZSTD_WINDOW_LOG_MAX))) {
      ZSTD_freeDStream(ds);
      ds = NULL;
    }
    channel->zstd = ds;
  }
  if (zstd ? channel->zstd != NULL : channel->zlib != NULL) return true;
  payload_fail(set, channel, MIG_ERR_NOMEM, offset, "decoder set-up failed");
  return false;
}

/* The whole payload is in: it must have given exactly normal_pages pages. */
static void payload_end(struct mig_multifd *set, struct mig_multifd_channel *channel)
{
  SIM_ASSERT(channel->compressed && channel->payload_left == 0);
  channel->compressed = false;
  if (channel->out_bytes == channel->out_expected_bytes) return;
  char detail[96];
  snprintf(detail, sizeof detail, "decompressed %" PRIu64 " bytes, normal_pages x 4096 = %"
           PRIu64, channel->out_bytes, channel->out_expected_bytes);
  payload_fail(set, channel, MIG_ERR_TRUNCATED, channel->offset, detail);
}

/* The largest page offset of a packet (aligned: the decoder checked) is kept per block. */
static void packet_offsets(struct mig_multifd_channel *channel, struct mig_multifd_block *block,
                           const struct mig_multifd_packet *packet)
{
  uint64_t offsets_at = channel->head_offset + MIG_MULTIFD_PACKET_OFFSETS;
  for (uint32_t i = 0; i < packet->normal_pages; i++) {
    uint64_t offset = mig_multifd_packet_offset(packet, i);
    if (offset >= block->offset_max) {
      block->offset_max = offset;
      block->offset_max_at = offsets_at + 8 * (uint64_t)i;
      block->offset_max_channel = channel->index;
    }
  }
}

/* One RAM packet: header, block name and page offsets; arms the payload. */
static void multifd_packet(struct mig_multifd *set, struct mig_multifd_channel *channel)
{
  uint64_t number = channel->packets_count++;
  struct mig_multifd_policy policy = multifd_policy(set);
  struct mig_multifd_packet packet;
  struct mig_multifd_fault fault;
  if (!mig_multifd_packet_decode(channel->head, &policy, &packet, &fault)) {
    multifd_fault(set, channel, &fault, number);
    return;
  }
  uint32_t normal = packet.normal_pages;
  set->packets_count++;
  if (packet.sync) {
    channel->syncs_count++;
    set->sync_packets_count++;
  }
  if (normal == 0) return;          /* 7.2 SYNC packets carry stale names and offsets */
  uint64_t name_at = channel->head_offset + MIG_MULTIFD_PACKET_RAMBLOCK;
  struct mig_multifd_block *block = multifd_block(set, packet.ramblock, name_at, channel->index);
  if (block == NULL) return;
  packet_offsets(channel, block, &packet);
  block->pages += normal;
  set->pages_count += normal;
  channel->compressed = set->compression != MIG_MULTIFD_COMPRESSION_NONE;
  channel->payload_left = channel->compressed ? packet.next_packet_bytes
                                              : (uint64_t)normal * MIG_PAGE_BYTES;
  set->payload_bytes += channel->payload_left;
  if (!channel->compressed) return;
  channel->out_expected_bytes = (uint64_t)normal * MIG_PAGE_BYTES;
  channel->out_bytes = 0;
  if (!payload_decoder(set, channel, channel->head_offset + MIG_MULTIFD_PACKET_FLAGS)) return;
  if (channel->payload_left == 0) payload_end(set, channel);  /* next_packet_size 0 */
}

/* Up to payload_left bytes of the current payload: skipped (nocomp) or decoded. */
static size_t multifd_payload(struct mig_multifd *set, struct mig_multifd_channel *channel,
                              const uint8_t *bytes, size_t count)
{
  size_t take = (size_t)SIM_MIN((uint64_t)count, channel->payload_left);
  if (channel->compressed && set->compression == MIG_MULTIFD_COMPRESSION_ZLIB) {
    payload_zlib(set, channel, bytes, take, channel->offset);
  } else if (channel->compressed) {
    payload_zstd(set, channel, bytes, take, channel->offset);
  }
  channel->payload_left -= take;
  channel->offset += take;
  if (channel->compressed && channel->payload_left == 0 && !multifd_failed(set)) {
    payload_end(set, channel);
  }
  return take;
}

void mig_multifd_channel_feed(struct mig_multifd *set, struct mig_multifd_channel *channel,
                              const uint8_t *bytes, size_t count)
{
  set->bytes_count += count;
  while (count > 0 && !multifd_failed(set)) {
    if (channel->payload_left > 0) {
      size_t take = multifd_payload(set, channel, bytes, count);
      bytes += take;
      count -= take;
      continue;
    }
    size_t need = channel->initial_done ? MIG_MULTIFD_PACKET_BYTES : MIG_MULTIFD_INITIAL_BYTES;
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
      multifd_packet(set, channel);
    } else {
      multifd_initial(set, channel);
    }
  }
}

bool mig_multifd_channel_busy(const struct mig_multifd_channel *channel)
{
  return !channel->initial_done || channel->head_count > 0 || channel->payload_left > 0;
}

void mig_multifd_channel_eof(struct mig_multifd *set, const struct mig_multifd_channel *channel)
{
  if (channel->head_count == 0 && channel->payload_left == 0) return;
  MULTIFD_FAIL(set, MIG_ERR_TRUNCATED, channel->offset, "channel closed inside a packet",
               "multifd/channel%" PRIu32, channel->index);
}

/* --------------------------------------------------------- across channels */

/*
 * Channel ids and UUIDs once every channel is in (spec §9.2, §11.3 item 13).
 * The source's multifd-channels parameter is not on the wire, so ids are
 * bounded on arrival and must be dense 0..n-1 here.  Every UUID must equal
 * the main stream's configuration/uuid when it sent one, else the UUID of
 * the first multifd channel.
 */
static void multifd_check_ids(struct mig_multifd *set,
                              const struct mig_multifd_channel *const *channels,
                              uint32_t channel_count, const struct mig_inspect *inspect)
{
  for (uint32_t id = 0; id < set->channel_count && !multifd_failed(set); id++) {
    if (set->ids_seen[id]) continue;
    char detail[64];
    snprintf(detail, sizeof detail, "%" PRIu32 " channels but no id %" PRIu32,
             set->channel_count, id);
    MULTIFD_FAIL(set, MIG_ERR_BAD_VALUE, MIG_MULTIFD_INITIAL_ID, detail, "multifd/initial/id");
  }
  const uint8_t *expected = inspect->has_uuid ? inspect->uuid : NULL;
  for (uint32_t i = 0; i < channel_count && !multifd_failed(set); i++) {
    const struct mig_multifd_channel *channel = channels[i];
    if (!channel->initial_done) continue;
    if (expected == NULL) {
      expected = channel->uuid;
    } else if (memcmp(channel->uuid, expected, sizeof channel->uuid) != 0) {
      MULTIFD_FAIL(set, MIG_ERR_CONFIG_MISMATCH, MIG_MULTIFD_INITIAL_UUID,
                   inspect->has_uuid ? "differs from configuration/uuid"
                                     : "differs from the first multifd channel's",
                   "multifd/channel%" PRIu32 "/initial/uuid", channel->index);
    }
  }
}

void mig_multifd_finish(struct mig_multifd *set,
                        const struct mig_multifd_channel *const *channels,
                        uint32_t channel_count, struct mig_inspect *inspect,
                        uint64_t syncs_expected)
{
  SIM_ASSERT(inspect != NULL && (channels != NULL || channel_count == 0));
  for (uint32_t i = 0; i < channel_count && !multifd_failed(set); i++) {
    const struct mig_multifd_channel *channel = channels[i];
    if (channel->syncs_count == syncs_expected) continue;
    char detail[96];
    snprintf(detail, sizeof detail, "%" PRIu64 " SYNC packets, the main stream has %" PRIu64
             " RAM sections", channel->syncs_count, syncs_expected);
    MULTIFD_FAIL(set, MIG_ERR_TRUNCATED, channel->offset, detail,
                 "multifd/channel%" PRIu32 "/sync", channel->index);
  }
  multifd_check_ids(set, channels, channel_count, inspect);
  for (uint32_t i = 0; i < set->block_count && !multifd_failed(set); i++) {
    const struct mig_multifd_block *entry = &set->blocks[i];
    struct mig_inspect_block *block = NULL;
    for (uint32_t j = 0; j < inspect->block_count; j++) {
      if (strcmp(inspect->blocks[j].name, entry->name) == 0) block = &inspect->blocks[j];
    }
    if (block == NULL) {
      MULTIFD_FAIL(set, MIG_ERR_RAM_BLOCK, 0, "block not in the main stream's list",
                   "multifd/ramblock/%s", entry->name);
    } else if (block->used_bytes < MIG_PAGE_BYTES ||
               entry->offset_max > block->used_bytes - MIG_PAGE_BYTES) {
      char detail[96];
      snprintf(detail, sizeof detail, "page offset 0x%" PRIx64 " beyond used_length 0x%" PRIx64,
               entry->offset_max, block->used_bytes);
      MULTIFD_FAIL(set, MIG_ERR_RAM_OFFSET, entry->offset_max_at, detail,
                   "multifd/channel%" PRIu32 "/ramblock/%s", entry->offset_max_channel,
                   entry->name);
    } else {
      block->normal_pages += entry->pages;
    }
  }
}
