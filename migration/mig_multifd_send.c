/*
 * mig_multifd_send.c: multifd channels and RAM packets, sending side
 * (overview in mig_multifd_send.h; layout in spec/stream-format.md §9.2-§9.3
 * and mig_wire.h's MIG_MULTIFD_PACKET_MAP).
 */
/* zlib.h before sim_base.h: it names a field "time", which sim_base.h poisons. */
#include <zlib.h>
#include <zstd.h>

#include "sim_base.h"

#include "mig_multifd_send.h"


#define PACKET_PAGES MIG_MULTIFD_PAGES_MAX
#define PAYLOAD_BYTES_MAX (PACKET_PAGES * MIG_PAGE_BYTES)

_Static_assert(MIG_MULTIFD_PACKET_BYTES == 1344, "the x86 RAM packet is 1344 bytes (spec §9.3)");

struct mig_multifd_send {
  struct mig_multifd_send_options options;
  struct mig_writer *writers[MIG_MULTIFD_CHANNELS_MAX];
  z_stream *zlib[MIG_MULTIFD_CHANNELS_MAX];     /* per channel, across packets */
  ZSTD_CStream *zstd[MIG_MULTIFD_CHANNELS_MAX];
  uint64_t packet_num;                          /* global, monotonic */
  uint32_t next_channel;                        /* round robin */
  /* The packet being filled: one block, normal pages then zero pages. */
  const struct ram_block *block;
  uint64_t normal_offsets[PACKET_PAGES];
  uint64_t zero_offsets[PACKET_PAGES];
  uint32_t normal_count;
  uint32_t zero_count;
  uint8_t *payload;                             /* normal pages, in order */
  uint8_t *compressed;                          /* MIG_MULTIFD_PAYLOAD_BYTES_MAX */
  struct mig_multifd_send_stats stats;
};

bool mig_multifd_send_options_valid(const struct mig_multifd_send_options *options)
{
  if (options->channels_count < 1 || options->channels_count > MIG_MULTIFD_CHANNELS_MAX) {
    return false;
  }
  switch (options->compression) {
  case MIG_MULTIFD_COMPRESSION_NONE: return true;
  case MIG_MULTIFD_COMPRESSION_ZLIB: return options->level >= 0 && options->level <= 9;
  case MIG_MULTIFD_COMPRESSION_ZSTD: return options->level >= 0 && options->level <= 20;
  }
  return false;
}

static void send_compressors_create(struct mig_multifd_send *send)
{
  for (uint32_t i = 0; i < send->options.channels_count; i++) {
    if (send->options.compression == MIG_MULTIFD_COMPRESSION_ZLIB) {
      send->zlib[i] = calloc(1, sizeof(z_stream));
      SIM_ASSERT(send->zlib[i] != NULL);
      SIM_ASSERT(deflateInit(send->zlib[i], send->options.level) == Z_OK);
    } else if (send->options.compression == MIG_MULTIFD_COMPRESSION_ZSTD) {
      send->zstd[i] = ZSTD_createCStream();
      SIM_ASSERT(send->zstd[i] != NULL);
      size_t ret = ZSTD_CCtx_setParameter(send->zstd[i], ZSTD_c_compressionLevel,
                                          send->options.level);
      SIM_ASSERT(!ZSTD_isError(ret));
    }
  }
}

struct mig_multifd_send *mig_multifd_send_create(const struct mig_multifd_send_options *options,
                                                 struct mig_writer *const *writers)
{
  SIM_ASSERT(mig_multifd_send_options_valid(options));
  struct mig_multifd_send *send = calloc(1, sizeof(*send));
  SIM_ASSERT(send != NULL);
  send->options = *options;
  for (uint32_t i = 0; i < options->channels_count; i++) send->writers[i] = writers[i];
  send->payload = malloc(PAYLOAD_BYTES_MAX);
  send->compressed = malloc(MIG_MULTIFD_PAYLOAD_BYTES_MAX);
  SIM_ASSERT(send->payload != NULL && send->compressed != NULL);
  send_compressors_create(send);
  return send;
}

void mig_multifd_send_destroy(struct mig_multifd_send *send)
{
  if (send == NULL) return;
  for (uint32_t i = 0; i < send->options.channels_count; i++) {
    if (send->zlib[i] != NULL) {
      deflateEnd(send->zlib[i]);
      free(send->zlib[i]);
    }
    ZSTD_freeCStream(send->zstd[i]);  /* accepts NULL */
  }
  free(send->payload);
  free(send->compressed);
  free(send);
}

static void channel_write_bytes(struct mig_multifd_send *send, uint32_t channel,
                                const uint8_t *bytes, size_t count)
{
  mig_writer_bytes(send->writers[channel], bytes, count);
  send->stats.bytes += count;
}

void mig_multifd_send_initial(struct mig_multifd_send *send)
{
  for (uint32_t i = 0; i < send->options.channels_count; i++) {
    uint8_t packet[MIG_MULTIFD_INITIAL_BYTES] = {0};
    packet[0] = (uint8_t)(MIG_MULTIFD_MAGIC >> 24);
    packet[1] = (uint8_t)(MIG_MULTIFD_MAGIC >> 16);
    packet[2] = (uint8_t)(MIG_MULTIFD_MAGIC >> 8);
    packet[3] = (uint8_t)MIG_MULTIFD_MAGIC;
    packet[MIG_MULTIFD_INITIAL_VERSION + 3] = MIG_MULTIFD_VERSION;
    memcpy(packet + MIG_MULTIFD_INITIAL_UUID, send->options.uuid, MIG_CONFIG_UUID_BYTES);
    packet[MIG_MULTIFD_INITIAL_ID] = (uint8_t)i;
    channel_write_bytes(send, i, packet, sizeof(packet));
    mig_writer_flush(send->writers[i]);
  }
}

bool mig_multifd_send_takes_zero(const struct mig_multifd_send *send)
{
  return send->options.zero_pages;
}

static void put_be32(uint8_t *at, uint32_t value)
{
  for (int i = 0; i < 4; i++) at[i] = (uint8_t)(value >> (24 - 8 * i));
}

static void put_be64(uint8_t *at, uint64_t value)
{
  for (int i = 0; i < 8; i++) at[i] = (uint8_t)(value >> (56 - 8 * i));
}

/* Compresses the packet's pages with the channel's stream; returns the payload's bytes. */
static size_t send_compress(struct mig_multifd_send *send, uint32_t channel, size_t in_bytes)
{
  if (send->options.compression == MIG_MULTIFD_COMPRESSION_ZLIB) {
    z_stream *z = send->zlib[channel];
    z->next_in = send->payload;
    z->avail_in = (uInt)in_bytes;
    z->next_out = send->compressed;
    z->avail_out = MIG_MULTIFD_PAYLOAD_BYTES_MAX;
    int ret = deflate(z, Z_SYNC_FLUSH);
    SIM_ASSERT(ret == Z_OK && z->avail_in == 0 && z->avail_out > 0);
    return MIG_MULTIFD_PAYLOAD_BYTES_MAX - z->avail_out;
  }
  ZSTD_inBuffer in = {.src = send->payload, .size = in_bytes, .pos = 0};
  ZSTD_outBuffer out = {.dst = send->compressed, .size = MIG_MULTIFD_PAYLOAD_BYTES_MAX, .pos = 0};
  size_t left = ZSTD_compressStream2(send->zstd[channel], &out, &in, ZSTD_e_flush);
  SIM_ASSERT(!ZSTD_isError(left) && left == 0 && in.pos == in.size);
  return out.pos;
}

/* Writes one packet (the one being filled, or an empty SYNC) on channel. */
static void send_packet(struct mig_multifd_send *send, uint32_t channel, uint32_t flags)
{
  size_t raw_bytes = (size_t)send->normal_count * MIG_PAGE_BYTES;
  const uint8_t *payload = send->payload;
  size_t payload_bytes = raw_bytes;
  if (send->options.compression != MIG_MULTIFD_COMPRESSION_NONE && send->normal_count > 0) {
    payload_bytes = send_compress(send, channel, raw_bytes);
    payload = send->compressed;
    flags |= mig_multifd_compression_flag(send->options.compression);
  }
  uint8_t header[MIG_MULTIFD_PACKET_BYTES] = {0};
  put_be32(header + MIG_MULTIFD_PACKET_MAGIC, MIG_MULTIFD_MAGIC);
  put_be32(header + MIG_MULTIFD_PACKET_VERSION, MIG_MULTIFD_VERSION);
  put_be32(header + MIG_MULTIFD_PACKET_FLAGS, flags);
  put_be32(header + MIG_MULTIFD_PACKET_PAGES_ALLOC, PACKET_PAGES);
  put_be32(header + MIG_MULTIFD_PACKET_NORMAL_PAGES, send->normal_count);
  put_be32(header + MIG_MULTIFD_PACKET_NEXT_PACKET_SIZE, (uint32_t)payload_bytes);
  put_be64(header + MIG_MULTIFD_PACKET_PACKET_NUM, send->packet_num++);
  put_be32(header + MIG_MULTIFD_PACKET_ZERO_PAGES, send->zero_count);
  if (send->block != NULL) {
    memcpy(header + MIG_MULTIFD_PACKET_RAMBLOCK, send->block->name, strlen(send->block->name));
  }
  uint8_t *offsets = header + MIG_MULTIFD_PACKET_OFFSETS;
  for (uint32_t i = 0; i < send->normal_count; i++) {
    put_be64(offsets + 8 * i, send->normal_offsets[i]);
  }
  for (uint32_t i = 0; i < send->zero_count; i++) {
    put_be64(offsets + 8 * (send->normal_count + i), send->zero_offsets[i]);
  }
  channel_write_bytes(send, channel, header, sizeof(header));
  channel_write_bytes(send, channel, payload, payload_bytes);
  send->stats.payload_bytes += payload_bytes;
  send->stats.channel_packets_count[channel]++;
  if ((flags & MIG_MULTIFD_FLAG_SYNC) != 0) send->stats.sync_packets_count++;
  if (send->normal_count + send->zero_count > 0) send->stats.packets_count++;
  send->stats.normal_pages_count += send->normal_count;
  send->stats.zero_pages_count += send->zero_count;
  send->normal_count = 0;
  send->zero_count = 0;
  send->block = NULL;
}

/* The packet being filled goes to the next channel in turn. */
static void send_flush(struct mig_multifd_send *send)
{
  if (send->normal_count + send->zero_count == 0) return;
  uint32_t channel = send->next_channel;
  send->next_channel = (channel + 1) % send->options.channels_count;
  send_packet(send, channel, 0);
}

uint8_t *mig_multifd_send_slot(struct mig_multifd_send *send, const struct ram_block *block)
{
  if (send->block != block) send_flush(send);
  send->block = block;
  return send->payload + (size_t)send->normal_count * MIG_PAGE_BYTES;
}

void mig_multifd_send_page(struct mig_multifd_send *send, const struct ram_block *block,
                           uint64_t page_index, const uint8_t *bytes)
{
  SIM_ASSERT(page_index < block->page_count);
  SIM_ASSERT(bytes != NULL || send->options.zero_pages);
  if (send->block != block) send_flush(send);
  send->block = block;
  uint64_t offset = page_index * MIG_PAGE_BYTES;
  if (bytes == NULL) {
    send->zero_offsets[send->zero_count++] = offset;
  } else {
    uint8_t *slot = send->payload + (size_t)send->normal_count * MIG_PAGE_BYTES;
    if (bytes != slot) memcpy(slot, bytes, MIG_PAGE_BYTES); /* else made in place */
    send->normal_offsets[send->normal_count++] = offset;
  }
  if (send->normal_count + send->zero_count == PACKET_PAGES) send_flush(send);
}

void mig_multifd_send_sync(struct mig_multifd_send *send)
{
  send_flush(send);
  for (uint32_t i = 0; i < send->options.channels_count; i++) {
    send_packet(send, i, MIG_MULTIFD_FLAG_SYNC);
    mig_writer_flush(send->writers[i]);
  }
}

const struct mig_multifd_send_stats *mig_multifd_send_stats(const struct mig_multifd_send *send)
{
  return &send->stats;
}
