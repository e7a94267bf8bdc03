/*
 * mig_multifd_payload.h: the one decoder of compressed multifd payloads
 * (spec/stream-format.md §9.3, §11.3 item 13; QEMU 7.2's multifd-zlib and
 * multifd-zstd), for both receivers: the sink's push parser (mig_multifd.c,
 * output counted and dropped) and the simulated destination's channel reader
 * (mig_multifd_recv.c, output into the packet's pages).
 *
 * - One decoder per channel, kept across packets: QEMU keeps one deflate or
 *   zstd stream per channel and ends each packet with a sync flush, so once
 *   a packet's bytes are all in, all its output has come out.
 * - Per packet: begin(normal_pages x 4096), feed the payload in pieces of any
 *   size, end.  Output beyond the expected bytes is refused as soon as it
 *   appears (TOO_LONG), zstd's output still pending once the input is spent
 *   included; fewer bytes at the end are TRUNCATED; corrupt data, a zlib
 *   stream that ends and a decoder that neither takes input nor gives output
 *   are BAD_VALUE; a zstd window above 2^MIG_MULTIFD_ZSTD_WINDOW_LOG_MAX is
 *   corrupt data.
 * - A refusal is a struct mig_multifd_fault (mig_multifd_packet.h): code,
 *   `at` the byte offset inside the piece being fed (0 from begin and end),
 *   field the method's name ("zlib", "zstd") and the detail; the caller adds
 *   its absolute offset and the `multifd/channel<i>/packet<k>/` prefix
 *   (mig_multifd_fault_path).  After a refusal the decoder's stream is out
 *   of step: the caller stops reading the channel.
 */
#ifndef MIG_MULTIFD_PAYLOAD_H
#define MIG_MULTIFD_PAYLOAD_H

#include "sim_base.h"
#include "mig_err.h"
#include "mig_limits.h"
#include "mig_multifd_packet.h"
#include "mig_wire.h"

/* One channel's decoder; caller-owned (mig_multifd_payload_init), fields private. */
struct mig_multifd_payload {
  enum mig_multifd_compression method;  /* zlib or zstd; NONE: never begun */
  uint64_t out_expected_bytes;      /* the current packet's normal_pages x 4096 */
  uint64_t out_bytes;               /* ...decoded so far */
  void *zlib;                       /* z_stream, created by the first begin */
  void *zstd;                       /* ZSTD_DStream, likewise */
  uint8_t *scratch;                 /* MIG_MULTIFD_SCRATCH_BYTES: output with no destination */
};

void mig_multifd_payload_init(struct mig_multifd_payload *payload,
                              enum mig_multifd_compression method);
void mig_multifd_payload_deinit(struct mig_multifd_payload *payload);
/*
 * A packet's payload starts: it must decode to expected_bytes (<= 128
 * pages).  Creates the decoder on first use; false (NOMEM) if that fails.
 */
bool mig_multifd_payload_begin(struct mig_multifd_payload *payload, uint64_t expected_bytes,
                               struct mig_multifd_fault *fault);
/*
 * The next count bytes of the payload.  out: the packet's pages buffer of
 * expected_bytes, the same for every piece of the packet (output lands at
 * out + the bytes decoded so far), or NULL to count the output only.
 */
bool mig_multifd_payload_feed(struct mig_multifd_payload *payload, const uint8_t *bytes,
                              size_t count, uint8_t *out, struct mig_multifd_fault *fault);
/* The payload's bytes are all in: exactly expected_bytes came out, else TRUNCATED. */
bool mig_multifd_payload_end(struct mig_multifd_payload *payload,
                             struct mig_multifd_fault *fault);

#endif /* MIG_MULTIFD_PAYLOAD_H */
