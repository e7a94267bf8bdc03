/*
 * mig_multifd.h: the receiving side of QEMU 7.2's multifd channels
 * (spec/stream-format.md §9, §11.2 "multifd", §11.3 item 13), as a push
 * parser: bytes go in as they arrive on a channel, in pieces of any size,
 * and nothing is buffered beyond one packet.  The packet layouts and flags
 * are mig_wire.h's tables; the packet checks are mig_multifd_packet.h's,
 * shared with the simulated destination (mig_multifd_recv.h).
 *
 * - Each channel starts with the 64-byte initial packet (magic, version 1,
 *   UUID, id), then RAM packets: the 320-byte header plus 128 page offsets,
 *   then the payload: normal_pages raw pages (nocomp) or, with the
 *   destination's multifd-compression, zlib or zstd data that must inflate to
 *   exactly normal_pages x 4096 bytes (mig_multifd_payload.h, shared too:
 *   one decoder per channel, kept across packets, output counted and dropped).  Pages are counted,
 *   not kept: there is no RAM model here.
 * - Across channels (mig_multifd_finish, once the main stream is walked):
 *   ids dense 0..n-1, one UUID (the main stream's configuration/uuid when it
 *   sent one), one SYNC packet per channel per RAM section, every block in
 *   the main stream's list and every page offset inside its used length.
 *
 * Every length is bounded before use (a payload by 128 pages or
 * MIG_MULTIFD_COMPRESSED_BYTES_MAX, decoded output by normal_pages x 4096
 * plus one scratch buffer).  The first error latches in set->error with the
 * channel offset and a `multifd/channel<i>/...` path; later input is ignored.
 */
#ifndef MIG_MULTIFD_H
#define MIG_MULTIFD_H

#include "sim_base.h"
#include "mig_err.h"
#include "mig_inspect.h"
#include "mig_limits.h"
#include "mig_multifd_packet.h"
#include "mig_multifd_payload.h"
#include "mig_wire.h"

/*
 * A compressed payload's next_packet_size bound: QEMU 7.2's zlib and zstd
 * receivers read it into a buffer of twice the 512 KiB packet, unchecked.
 */
#define MIG_MULTIFD_COMPRESSED_BYTES_MAX MIG_MULTIFD_PAYLOAD_BYTES_MAX  /* mig_limits.h */

/* One block named by RAM packets, with the largest page offset seen. */
struct mig_multifd_block {
  char name[MIG_IDSTR_BYTES_MAX + 1];
  uint64_t pages;                   /* normal pages received for the block */
  uint64_t offset_max;              /* largest page offset seen */
  uint64_t offset_max_at;           /* channel byte offset of that offset's entry */
  uint32_t offset_max_channel;      /* connection index that sent it */
};

/* One channel; caller-owned (mig_multifd_channel_init), fields private but the counters. */
struct mig_multifd_channel {
  uint32_t index;                   /* the connection's index, in error paths */
  uint64_t offset;                  /* bytes received so far (the magic included) */
  uint8_t head[MIG_MULTIFD_PACKET_BYTES];  /* packet being assembled */
  size_t head_count;
  uint64_t head_offset;             /* channel offset of head[0] */
  bool initial_done;
  uint32_t id;                      /* from the initial packet */
  uint8_t uuid[MIG_CONFIG_UUID_BYTES];
  uint64_t payload_left;            /* payload bytes (raw or compressed) still to come */
  uint64_t syncs_count;             /* SYNC packets */
  uint64_t packets_count;           /* RAM packets; the current one is packets_count - 1 */
  bool compressed;                  /* the current payload is zlib/zstd data */
  struct mig_multifd_payload payload;  /* its decoder, kept across packets */
};

/* The channels of one migration; caller-owned (mig_multifd_init), fields read-only. */
struct mig_multifd {
  enum mig_multifd_compression compression;
  struct mig_error error;           /* first error; code MIG_OK while none */
  bool ids_seen[MIG_MULTIFD_CHANNELS_MAX];
  uint32_t channel_count;           /* initial packets accepted */
  uint64_t packets_count;
  uint64_t sync_packets_count;
  uint64_t pages_count;
  uint64_t bytes_count;             /* every byte on multifd channels, magic included */
  uint64_t payload_bytes;           /* page payloads as sent: raw or compressed */
  uint32_t block_count;
  struct mig_multifd_block blocks[MIG_RAM_BLOCKS_MAX];
};

void mig_multifd_init(struct mig_multifd *set, enum mig_multifd_compression compression);
/* A channel whose 4-byte magic (MIG_MULTIFD_MAGIC) was read already (and counted here). */
void mig_multifd_channel_init(struct mig_multifd *set, struct mig_multifd_channel *channel,
                              uint32_t index);
void mig_multifd_channel_deinit(struct mig_multifd_channel *channel);
/* The next count bytes of the channel; errors latch in set->error. */
void mig_multifd_channel_feed(struct mig_multifd *set, struct mig_multifd_channel *channel,
                              const uint8_t *bytes, size_t count);
/* True inside a packet or payload: the channel owes bytes. */
bool mig_multifd_channel_busy(const struct mig_multifd_channel *channel);
/* The peer closed the channel; inside a packet that is TRUNCATED. */
void mig_multifd_channel_eof(struct mig_multifd *set, const struct mig_multifd_channel *channel);
/*
 * The checks across channels, once the main stream is walked (inspect
 * holds the walk; syncs_expected is its number of RAM sections): SYNC
 * counts, ids, UUIDs, blocks and offsets.  Adds each block's multifd pages
 * to inspect->blocks[].normal_pages.
 */
void mig_multifd_finish(struct mig_multifd *set,
                        const struct mig_multifd_channel *const *channels,
                        uint32_t channel_count, struct mig_inspect *inspect,
                        uint64_t syncs_expected);

#endif /* MIG_MULTIFD_H */
