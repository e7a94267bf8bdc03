/*
 * mig_multifd.c: the multifd channels' packets and payloads (overview in
 * mig_multifd.h; wire facts in spec/stream-format.md §9).  Bytes are pushed
 * in as they arrive: a packet is assembled in the channel's head buffer and
 * checked whole, a payload is skipped (nocomp) or decoded piece by piece
 * (mig_multifd_payload.h, the decoder shared with the simulated destination).
 */
#include "sim_base.h"

#include "mig_multifd.h"
#include "mig_stream.h"

#define MULTIFD_FAIL(set, code, offset, detail, ...) \
  MIG_ERROR_LATCH(&(set)->error, (code), (offset), (detail), __VA_ARGS__)

static bool multifd_failed(const struct mig_multifd *set)
{
  return set->error.code != MIG_OK;
}

/*
 * A fault of a shared decoder (packet or payload), latched at the channel
 * offset `at` of what it decoded (the packet's head, the payload piece).
 */
static void multifd_fault(struct mig_multifd *set, const struct mig_multifd_channel *channel,
                          const struct mig_multifd_fault *fault, uint64_t number, uint64_t at)
{
  char path[MIG_PATH_BYTES_MAX];
  mig_multifd_fault_path(fault, channel->index, number, path, sizeof path);
  MULTIFD_FAIL(set, fault->code, at + fault->at, fault->detail, "%s", path);
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
  mig_multifd_payload_init(&channel->payload, set->compression);
  set->bytes_count += 4;
}

void mig_multifd_channel_deinit(struct mig_multifd_channel *channel)
{
  mig_multifd_payload_deinit(&channel->payload);
}

/* ---------------------------------------------------------- initial packet */

/* The 64-byte initial packet (§9.2); the magic classified the channel already. */
static void multifd_initial(struct mig_multifd *set, struct mig_multifd_channel *channel)
{
  struct mig_multifd_policy policy = multifd_policy(set);
  struct mig_multifd_initial initial;
  struct mig_multifd_fault fault;
  if (!mig_multifd_initial_decode(channel->head, &policy, set->ids_seen, &initial, &fault)) {
    multifd_fault(set, channel, &fault, UINT64_MAX, channel->head_offset);
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

/* The whole payload is in: the shared decoder checks it gave exactly normal_pages pages. */
static void payload_end(struct mig_multifd *set, struct mig_multifd_channel *channel)
{
  SIM_ASSERT(channel->compressed && channel->payload_left == 0);
  channel->compressed = false;
  struct mig_multifd_fault fault;
  if (mig_multifd_payload_end(&channel->payload, &fault)) return;
  multifd_fault(set, channel, &fault, channel->packets_count - 1, channel->offset);
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
    multifd_fault(set, channel, &fault, number, channel->head_offset);
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
  if (!mig_multifd_payload_begin(&channel->payload, (uint64_t)normal * MIG_PAGE_BYTES, &fault)) {
    multifd_fault(set, channel, &fault, number, channel->head_offset + MIG_MULTIFD_PACKET_FLAGS);
    return;
  }
  if (channel->payload_left == 0) payload_end(set, channel);  /* next_packet_size 0 */
}

/* Up to payload_left bytes of the current payload: skipped (nocomp) or decoded. */
static size_t multifd_payload(struct mig_multifd *set, struct mig_multifd_channel *channel,
                              const uint8_t *bytes, size_t count)
{
  size_t take = (size_t)SIM_MIN((uint64_t)count, channel->payload_left);
  struct mig_multifd_fault fault;
  if (channel->compressed &&
      !mig_multifd_payload_feed(&channel->payload, bytes, take, NULL, &fault)) {
    multifd_fault(set, channel, &fault, channel->packets_count - 1, channel->offset);
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
