/*
 * mig_multifd_recv.h: the receiving side of multifd (spec/stream-format.md
 * §9.2-§9.3): a channel's initial packet, then its RAM packets, each checked
 * as QEMU checks it and more strictly where §9.3 and §11.3 say so (offsets
 * page aligned, next_packet_size bounded by the 1 MiB buffer, nocomp payload
 * exactly normal_pages pages, decompressed output exactly that: the sink's
 * decoder, mig_multifd_payload.h), and its pages applied to the
 * destination's blocks.  Each channel is read by its own caller (a fiber
 * per connection); the main channel's loader waits at each
 * RAM EOS until every channel has delivered one more SYNC packet
 * (mig_multifd_recv_syncs).  Errors latch on the channel's reader with a
 * `multifd/channel<i>/packet<n>/<field>` path.
 */
#ifndef MIG_MULTIFD_RECV_H
#define MIG_MULTIFD_RECV_H

#include "sim_base.h"
#include "mig_err.h"
#include "mig_multifd_send.h"
#include "mig_stream.h"
#include "ram.h"

struct mig_multifd_recv_options {
  uint32_t channels_count;                  /* 1 .. MIG_MULTIFD_CHANNELS_MAX */
  enum mig_multifd_compression compression; /* must match every packet's method */
  uint8_t uuid[MIG_CONFIG_UUID_BYTES];      /* the destination's (zeros: none) */
  struct ram_block *const *blocks;          /* the RAM handler's blocks */
  uint32_t block_count;
  /* Optional: each page applied (postcopy's received bitmap, models/uffd.h). */
  void (*placed)(void *context, uint32_t block_index, uint64_t page_index);
  void *placed_context;
};

struct mig_multifd_recv_stats {
  uint64_t packets_count;                   /* packets with pages */
  uint64_t sync_packets_count;
  uint64_t normal_pages_count;
  uint64_t zero_pages_count;
  uint64_t payload_bytes;
};

struct mig_multifd_recv;

struct mig_multifd_recv *mig_multifd_recv_create(const struct mig_multifd_recv_options *options);
void mig_multifd_recv_destroy(struct mig_multifd_recv *recv);
/* A new connection's initial packet: *channel is its id (once each). */
enum mig_err mig_multifd_recv_initial(struct mig_multifd_recv *recv, struct mig_reader *reader,
                                      uint32_t *channel);
/* One RAM packet and its payload on channel; *sync set for a SYNC packet. */
enum mig_err mig_multifd_recv_packet(struct mig_multifd_recv *recv, uint32_t channel,
                                     struct mig_reader *reader, bool *sync);
/* SYNC packets channel delivered so far. */
uint64_t mig_multifd_recv_syncs(const struct mig_multifd_recv *recv, uint32_t channel);
const struct mig_multifd_recv_stats *mig_multifd_recv_stats(const struct mig_multifd_recv *recv);

#endif /* MIG_MULTIFD_RECV_H */
