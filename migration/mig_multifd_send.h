/*
 * mig_multifd_send.h: the sending side of multifd (spec/stream-format.md §9).
 *
 * N channels, each its own connection (a mig_writer the caller supplies),
 * start with the 64-byte initial packet (magic, version, UUID, channel id).
 * RAM pages that the RAM section would send as PAGE records are gathered
 * instead into RAM packets of up to 128 pages of one block: the fixed
 * 1344-byte header (flags, pages_alloc, normal_pages, next_packet_size, a
 * global packet_num, zero_pages, the NUL-padded block name, the offsets),
 * then the payload: the raw pages, or with zlib one deflate stream per
 * channel kept across packets and flushed (Z_SYNC_FLUSH) at each packet's
 * end, or with zstd one stream per channel flushed per packet.  A full packet
 * goes to the channels in turn.  With zero_pages (10.x
 * zero-page-detection=multifd) zero pages are listed in the packet after the
 * normal ones and carry no payload; without it (7.2) they stay ZERO records on
 * the main channel.  mig_multifd_send_sync flushes the packet being filled
 * and sends one SYNC packet on every channel: QEMU 7.2 does so before every
 * RAM EOS, and the destination waits at that EOS for every channel's SYNC.
 * Compressor state is allocated at creation and freed by destroy.
 */
#ifndef MIG_MULTIFD_SEND_H
#define MIG_MULTIFD_SEND_H

#include "sim_base.h"
#include "mig_limits.h"
#include "mig_stream.h"
#include "mig_wire.h"
#include "ram.h"


struct mig_multifd_send_options {
  uint32_t channels_count;                  /* 1 .. MIG_MULTIFD_CHANNELS_MAX */
  enum mig_multifd_compression compression; /* multifd-compression */
  int32_t level;                            /* multifd-zlib-level 0-9 / -zstd-level 0-20 */
  bool zero_pages;                          /* zero pages in packets (10.x), else ZERO records */
  uint8_t uuid[MIG_CONFIG_UUID_BYTES];      /* the source's -uuid, zeros without one */
};

struct mig_multifd_send_stats {
  uint64_t packets_count;                   /* RAM packets with pages */
  uint64_t sync_packets_count;
  uint64_t normal_pages_count;
  uint64_t zero_pages_count;
  uint64_t payload_bytes;                   /* after compression */
  uint64_t bytes;                           /* everything written on the channels */
  uint64_t channel_packets_count[MIG_MULTIFD_CHANNELS_MAX];
};

struct mig_multifd_send;

/* writers[i] is channel i's connection; they must outlive the sender. */
struct mig_multifd_send *mig_multifd_send_create(const struct mig_multifd_send_options *options,
                                                 struct mig_writer *const *writers);
void mig_multifd_send_destroy(struct mig_multifd_send *send);
bool mig_multifd_send_options_valid(const struct mig_multifd_send_options *options);
/* The initial packet on every channel. */
void mig_multifd_send_initial(struct mig_multifd_send *send);
/* Whether a zero page goes in packets (true) or stays a ZERO record on the main channel. */
bool mig_multifd_send_takes_zero(const struct mig_multifd_send *send);
/*
 * Where the next normal page of block will sit in the packet being filled
 * (the packet of another block is sent first): a caller that makes a page's
 * bytes (a synthetic page) makes them there and passes this pointer as bytes
 * to mig_multifd_send_page, which then copies nothing.
 */
uint8_t *mig_multifd_send_slot(struct mig_multifd_send *send, const struct ram_block *block);
/* Queues one page (bytes: its 4096 bytes, or NULL for a zero page). */
void mig_multifd_send_page(struct mig_multifd_send *send, const struct ram_block *block,
                           uint64_t page_index, const uint8_t *bytes);
/* Flushes the packet being filled, then one SYNC packet per channel; flushes the writers. */
void mig_multifd_send_sync(struct mig_multifd_send *send);
const struct mig_multifd_send_stats *mig_multifd_send_stats(const struct mig_multifd_send *send);

#endif /* MIG_MULTIFD_SEND_H */
