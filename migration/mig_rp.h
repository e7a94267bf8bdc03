/*
 * mig_rp.h: reader and validator of the return path, the destination →
 * source direction (spec/stream-format.md §8, §8.4, §11.2 "Return path",
 * §11.3 item 18).  Each message is be16 type, be16 length, length bytes.
 * mig_rp_read checks what QEMU's source checks and the stricter rules of
 * §11.3: type in 1..MAX-1, length ≤ 512, exact length per type
 * (REQ_PAGES_ID 13 + n, RECV_BITMAP 1 + n), SHUT error flag 0, RESUME_ACK 1,
 * REQ_PAGES aligned and inside a known block, REQ_PAGES only after a
 * REQ_PAGES_ID.  mig_rp_bitmap_read checks the received-bitmap body that
 * follows RECV_BITMAP.  Errors latch on the reader with offset and a
 * `return-path/<TYPE>/<field>` path.
 */
#ifndef MIG_RP_H
#define MIG_RP_H

#include "sim_base.h"
#include "mig_err.h"
#include "mig_limits.h"
#include "mig_stream.h"
#include "mig_wire.h"

/* One block the source knows: name and used length in bytes. */
struct mig_rp_block {
  const char *name;
  uint64_t used_bytes;
};

/* Reader state; caller-owned, fields private except the counters. */
struct mig_rp_state {
  uint32_t type_max;                /* MIG_RP_TYPE_MAX_7_2 or _10 */
  uint32_t host_page_bytes;         /* alignment of page requests */
  const struct mig_rp_block *blocks;
  uint32_t block_count;
  int32_t request_block;            /* block of the last REQ_PAGES_ID; -1: none */
  uint64_t messages_count;          /* messages accepted */
  uint64_t shuts_count;             /* SHUT(0) accepted */
};

/* One accepted message. */
struct mig_rp_message {
  uint64_t offset;                  /* of the type field */
  uint16_t type;
  uint16_t payload_bytes;
  uint32_t value;                   /* SHUT flag, PONG echo, RESUME_ACK value */
  uint64_t start;                   /* REQ_PAGES(_ID): byte offset in the block */
  uint32_t length_bytes;            /* REQ_PAGES(_ID): bytes requested */
  int32_t block_index;              /* REQ_PAGES(_ID), RECV_BITMAP; -1 otherwise */
  char block[MIG_IDSTR_BYTES_MAX + 1];
};

/* blocks may be NULL when block_count is 0 (no page request can then pass). */
void mig_rp_state_init(struct mig_rp_state *state, uint32_t type_max, uint32_t host_page_bytes,
                       const struct mig_rp_block *blocks, uint32_t block_count);
/* Reads and checks one message; MIG_OK or the error latched on reader. */
enum mig_err mig_rp_read(struct mig_rp_state *state, struct mig_reader *reader,
                         struct mig_rp_message *out);
/* ⌈(used_bytes / page) / 8⌉ rounded up to a multiple of 8 (spec §8.4). */
uint64_t mig_rp_bitmap_bytes(uint64_t used_bytes);
/*
 * Reads the body after RECV_BITMAP for block block_index: be64 size (must
 * equal mig_rp_bitmap_bytes), the bitmap (copied to out when out_bytes
 * holds it, else skipped), be64 end marker.
 */
enum mig_err mig_rp_bitmap_read(struct mig_rp_state *state, struct mig_reader *reader,
                                int32_t block_index, uint8_t *out, size_t out_bytes);

/*
 * The writer side, the one encoder of return-path messages.  A message is
 * its 4-byte header (be16 type, be16 payload length), then the payload.
 */
#define MIG_RP_HEADER_BYTES 4u
void mig_rp_header(uint16_t type, uint16_t payload_bytes, uint8_t out[MIG_RP_HEADER_BYTES]);
/*
 * The bytes a message takes in all, from its header: 4 + length, or 4 when
 * the length is above MIG_RP_MESSAGE_BYTES_MAX (mig_rp_read refuses it).
 * For a source that buffers the return path until a message is whole.
 */
size_t mig_rp_framed_bytes(const uint8_t header[MIG_RP_HEADER_BYTES]);
/*
 * A message with a 4-byte value (SHUT, PONG, RESUME_ACK, whose length rule
 * is FIXED 4) as its 8 wire bytes, be16 type, be16 4, be32 value.  Returns 8.
 */
#define MIG_RP_U32_MESSAGE_BYTES 8u
size_t mig_rp_message_u32(uint16_t type, uint32_t value, uint8_t out[MIG_RP_U32_MESSAGE_BYTES]);
/*
 * A page request's payload: REQ_PAGES (block NULL: the last named block)
 * or REQ_PAGES_ID naming block; be64 start, be32 length[, u8 n, n bytes].
 * Returns the payload's bytes and sets *type.
 */
#define MIG_RP_REQ_PAGES_BYTES_MAX (13u + MIG_IDSTR_BYTES_MAX)
uint16_t mig_rp_req_pages(uint64_t start, uint32_t length_bytes, const char *block,
                          uint8_t out[MIG_RP_REQ_PAGES_BYTES_MAX], uint16_t *type);
/*
 * The §8.4 body after RECV_BITMAP, around a bitmap of size bytes already at
 * body + 8: be64 size at body[0], the end marker at body[8 + size].
 */
void mig_rp_bitmap_frame(uint64_t size, uint8_t *body);

/*
 * A page request as its wire bytes (spec §8): REQ_PAGES_ID (be16 3, be16
 * 13 + n, be64 start, be32 length, counted block name) when block is not
 * NULL, else REQ_PAGES (be16 4, be16 12, be64 start, be32 length: the block
 * of the last REQ_PAGES_ID).  start and length in bytes, host-page aligned
 * (the caller's duty; mig_rp_read checks them).  Returns the message bytes:
 * mig_rp_header, then mig_rp_req_pages's payload.
 */
#define MIG_RP_REQ_MESSAGE_BYTES_MAX (MIG_RP_HEADER_BYTES + MIG_RP_REQ_PAGES_BYTES_MAX)
size_t mig_rp_message_req_pages(const char *block, uint64_t start_bytes, uint32_t length_bytes,
                                uint8_t out[MIG_RP_REQ_MESSAGE_BYTES_MAX]);

#endif /* MIG_RP_H */
