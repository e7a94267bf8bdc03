/*
 * mig_multifd_recv.c: multifd channels, receiving side (overview in
 * mig_multifd_recv.h).  A compressed payload is read through the reader in
 * window-sized views and fed to the channel's decoder (mig_multifd_payload.h,
 * shared with the sink), whose output may never pass normal_pages x 4096
 * bytes.
 */
#include "sim_base.h"

#include "mig_multifd_packet.h"
#include "mig_multifd_payload.h"
#include "mig_multifd_recv.h"
#include "mig_wire.h"


#define VIEW_BYTES_MAX (UINT32_C(16) << 10)   /* compressed input per step */

struct mig_multifd_recv {
  struct mig_multifd_recv_options options;
  struct ram_block *blocks[MIG_RAM_BLOCKS_MAX];
  bool seen[MIG_MULTIFD_CHANNELS_MAX];        /* initial packet received */
  uint64_t syncs[MIG_MULTIFD_CHANNELS_MAX];
  uint64_t packets[MIG_MULTIFD_CHANNELS_MAX]; /* packets read per channel (paths) */
  struct mig_multifd_payload payloads[MIG_MULTIFD_CHANNELS_MAX];  /* zlib/zstd decoders */
  /* Per channel: each is read by its own fiber, which may wait inside a packet. */
  uint8_t headers[MIG_MULTIFD_CHANNELS_MAX][MIG_MULTIFD_PACKET_BYTES];
  uint8_t *pages[MIG_MULTIFD_CHANNELS_MAX];   /* one packet's decoded pages */
  struct mig_multifd_recv_stats stats;
};

/* The simulated destination's policy: 9.0+ packets (zero_pages), its channels and UUID. */
static struct mig_multifd_policy recv_policy(const struct mig_multifd_recv *recv)
{
  return (struct mig_multifd_policy){.compression = recv->options.compression,
                                     .zero_pages = true,
                                     .channels_count = recv->options.channels_count,
                                     .uuid = recv->options.uuid};
}

struct mig_multifd_recv *mig_multifd_recv_create(const struct mig_multifd_recv_options *options)
{
  SIM_ASSERT(options->channels_count >= 1 && options->channels_count <= MIG_MULTIFD_CHANNELS_MAX);
  SIM_ASSERT(options->block_count >= 1 && options->block_count <= MIG_RAM_BLOCKS_MAX);
  struct mig_multifd_recv *recv = calloc(1, sizeof(*recv));
  SIM_ASSERT(recv != NULL);
  recv->options = *options;
  for (uint32_t i = 0; i < options->block_count; i++) recv->blocks[i] = options->blocks[i];
  recv->options.blocks = recv->blocks;
  for (uint32_t i = 0; i < options->channels_count; i++) {
    recv->pages[i] = malloc((size_t)MIG_MULTIFD_PAGES_MAX * MIG_PAGE_BYTES);
    SIM_ASSERT(recv->pages[i] != NULL);
    mig_multifd_payload_init(&recv->payloads[i], options->compression);
  }
  return recv;
}

void mig_multifd_recv_destroy(struct mig_multifd_recv *recv)
{
  if (recv == NULL) return;
  for (uint32_t i = 0; i < recv->options.channels_count; i++) {
    mig_multifd_payload_deinit(&recv->payloads[i]);
    free(recv->pages[i]);
  }
  free(recv);
}

enum mig_err mig_multifd_recv_initial(struct mig_multifd_recv *recv, struct mig_reader *reader,
                                      uint32_t *channel)
{
  uint64_t at = mig_reader_offset(reader);
  uint8_t packet[MIG_MULTIFD_INITIAL_BYTES];
  mig_read_bytes(reader, packet, sizeof(packet));
  if (mig_reader_failed(reader)) {
    mig__reader_annotate(reader, "multifd/initial");
    return mig_reader_error(reader)->code;
  }
  struct mig_multifd_policy policy = recv_policy(recv);
  struct mig_multifd_initial initial;
  struct mig_multifd_fault fault;
  if (!mig_multifd_initial_decode(packet, &policy, recv->seen, &initial, &fault)) {
    /* The channel is not known before its id: the path has no channel<i>. */
    MIG_READER_FAIL(reader, fault.code, at + fault.at, fault.detail, "multifd/initial/%s",
                    fault.field);
    return fault.code;
  }
  recv->seen[initial.id] = true;
  *channel = initial.id;
  return MIG_OK;
}

static int32_t recv_block_find(const struct mig_multifd_recv *recv, const char *name)
{
  for (uint32_t i = 0; i < recv->options.block_count; i++) {
    if (strcmp(name, recv->blocks[i]->name) == 0) return (int32_t)i;
  }
  return -1;
}

/* The shared checks (mig_multifd_packet.h), then the block and each offset inside it. */
static bool recv_header_check(const struct mig_multifd_recv *recv, const uint8_t *h,
                              struct mig_multifd_packet *packet, int32_t *block_index,
                              struct mig_multifd_fault *fault)
{
  struct mig_multifd_policy policy = recv_policy(recv);
  *block_index = -1;
  if (!mig_multifd_packet_decode(h, &policy, packet, fault)) return false;
  uint32_t pages = packet->normal_pages + packet->zero_pages;
  if (pages == 0) return true;      /* 7.2 SYNC packets carry stale fields: ignored */
  *block_index = recv_block_find(recv, packet->ramblock);
  if (*block_index < 0) {
    fault->code = MIG_ERR_RAM_BLOCK;
    fault->at = MIG_MULTIFD_PACKET_RAMBLOCK;
    snprintf(fault->field, sizeof fault->field, "ramblock");
    snprintf(fault->detail, sizeof fault->detail, "no such block");
    return false;
  }
  const struct ram_block *block = recv->blocks[*block_index];
  for (uint32_t i = 0; i < pages; i++) {
    if (mig_multifd_packet_offset(packet, i) < block->used_bytes) continue;
    mig_multifd_offset_fault(fault, i, "offset beyond the block's used length");
    return false;
  }
  return true;
}

/* The channel's refusal: the payload decoder's fault at `at` plus its own offset. */
static enum mig_err recv_payload_fail(struct mig_reader *reader, uint32_t channel,
                                      uint64_t number, const struct mig_multifd_fault *fault,
                                      uint64_t at)
{
  char path[MIG_PATH_BYTES_MAX];
  mig_multifd_fault_path(fault, channel, number, path, sizeof path);
  MIG_READER_FAIL(reader, fault->code, at + fault->at, fault->detail, "%s", path);
  return fault->code;
}

/*
 * The payload of a packet with normal pages: raw, or decoded by the shared
 * decoder (mig_multifd_payload.h) into recv->pages, window-sized views at a
 * time.
 */
static enum mig_err recv_payload(struct mig_multifd_recv *recv, uint32_t channel,
                                 struct mig_reader *reader, uint32_t normal, uint32_t size,
                                 uint64_t number)
{
  size_t expected = (size_t)normal * MIG_PAGE_BYTES;
  const char *method = mig_multifd_compression_name(recv->options.compression);
  if (recv->options.compression == MIG_MULTIFD_COMPRESSION_NONE) {
    mig_read_bytes(reader, recv->pages[channel], expected);
    mig__reader_annotate(reader, "multifd/channel%" PRIu32 "/packet%" PRIu64 "/%s", channel,
                         number, method);
    return mig_reader_failed(reader) ? mig_reader_error(reader)->code : MIG_OK;
  }
  struct mig_multifd_payload *payload = &recv->payloads[channel];
  struct mig_multifd_fault fault;
  uint64_t at = mig_reader_offset(reader);
  if (!mig_multifd_payload_begin(payload, expected, &fault)) {
    return recv_payload_fail(reader, channel, number, &fault, at);
  }
  for (uint32_t done = 0; done < size;) {
    uint32_t step = SIM_MIN(size - done, VIEW_BYTES_MAX);
    const uint8_t *view = mig_read_view(reader, step);
    if (view == NULL) {
      /* A payload cut short: the path names the packet and its method, as a corrupt one. */
      mig__reader_annotate(reader, "multifd/channel%" PRIu32 "/packet%" PRIu64 "/%s", channel,
                           number, method);
      return mig_reader_error(reader)->code;
    }
    if (!mig_multifd_payload_feed(payload, view, step, recv->pages[channel], &fault)) {
      return recv_payload_fail(reader, channel, number, &fault, at + done);
    }
    done += step;
  }
  if (mig_multifd_payload_end(payload, &fault)) return MIG_OK;
  return recv_payload_fail(reader, channel, number, &fault, at + size);
}

static void recv_apply(struct mig_multifd_recv *recv, uint32_t channel, int32_t block_index,
                       const struct mig_multifd_packet *packet)
{
  uint32_t normal = packet->normal_pages, zero = packet->zero_pages;
  struct ram_block *block = recv->blocks[block_index];
  const uint8_t *pages = recv->pages[channel];
  for (uint32_t i = 0; i < normal + zero; i++) {
    uint64_t page = mig_multifd_packet_offset(packet, i) / MIG_PAGE_BYTES;
    if (i >= normal) {
      ram_page_load_zero(block, page);
    } else if (block->backing == RAM_BACKING_DENSE) {
      memcpy(ram_page_mut(block, page), pages + (size_t)i * MIG_PAGE_BYTES, MIG_PAGE_BYTES);
    } else {
      ram_page_load(block, page, pages + (size_t)i * MIG_PAGE_BYTES);
    }
    if (recv->options.placed != NULL) {
      recv->options.placed(recv->options.placed_context, (uint32_t)block_index, page);
    }
  }
}

enum mig_err mig_multifd_recv_packet(struct mig_multifd_recv *recv, uint32_t channel,
                                     struct mig_reader *reader, bool *sync)
{
  SIM_ASSERT(channel < recv->options.channels_count && recv->seen[channel]);
  uint64_t at = mig_reader_offset(reader);
  uint64_t number = recv->packets[channel]++;
  uint8_t *h = recv->headers[channel];
  mig_read_bytes(reader, h, MIG_MULTIFD_PACKET_BYTES);
  if (mig_reader_failed(reader)) {
    mig__reader_annotate(reader, "multifd/channel%" PRIu32 "/packet%" PRIu64, channel, number);
    return mig_reader_error(reader)->code;
  }
  int32_t block_index = -1;
  struct mig_multifd_packet packet;
  struct mig_multifd_fault fault;
  if (!recv_header_check(recv, h, &packet, &block_index, &fault)) {
    char path[MIG_PATH_BYTES_MAX];
    mig_multifd_fault_path(&fault, channel, number, path, sizeof path);
    MIG_READER_FAIL(reader, fault.code, at + fault.at, fault.detail, "%s", path);
    return fault.code;
  }
  uint32_t normal = packet.normal_pages, zero = packet.zero_pages;
  if (normal > 0) {
    enum mig_err err = recv_payload(recv, channel, reader, normal, packet.next_packet_bytes,
                                    number);
    if (err != MIG_OK) return err;
    recv->stats.payload_bytes += packet.next_packet_bytes;
  }
  if (normal + zero > 0) {
    recv_apply(recv, channel, block_index, &packet);
    recv->stats.packets_count++;
    recv->stats.normal_pages_count += normal;
    recv->stats.zero_pages_count += zero;
  }
  *sync = packet.sync;
  if (*sync) {
    recv->syncs[channel]++;
    recv->stats.sync_packets_count++;
  }
  return MIG_OK;
}

uint64_t mig_multifd_recv_syncs(const struct mig_multifd_recv *recv, uint32_t channel)
{
  SIM_ASSERT(channel < recv->options.channels_count);
  return recv->syncs[channel];
}

const struct mig_multifd_recv_stats *mig_multifd_recv_stats(const struct mig_multifd_recv *recv)
{
  return &recv->stats;
}
