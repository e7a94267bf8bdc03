/*
 * mig_multifd_packet.h: the one decoder of multifd packets (spec/stream-format.md
 * §9.2-§9.3), over a byte buffer, for both receivers: the sink's push parser
 * (mig_multifd.c) and the simulated destination's channel reader
 * (mig_multifd_recv.c).  The field layout is mig_wire.h's MIG_MULTIFD_*
 * maps; what differs between the two readers is a field of struct
 * mig_multifd_policy.  A refusal is a struct mig_multifd_fault: code, byte
 * offset inside the packet and the field's path element; the caller adds its
 * channel offset and the `multifd/channel<i>/packet<n>/` (or `/initial/`)
 * prefix (mig_multifd_fault_path).
 */
#ifndef MIG_MULTIFD_PACKET_H
#define MIG_MULTIFD_PACKET_H

#include "sim_base.h"
#include "mig_err.h"
#include "mig_limits.h"
#include "mig_wire.h"

/* The differences between the readers, one field each. */
struct mig_multifd_policy {
  enum mig_multifd_compression compression;  /* packets with pages carry exactly its flag */
  /*
   * zero_pages (offset 32, QEMU 9.0+) is read: its offsets follow the normal
   * pages' and count as pages.  Off: the field is 7.2's unused[0], ignored.
   */
  bool zero_pages;
  uint32_t channels_count;          /* initial id below this (MIG_MULTIFD_CHANNELS_MAX) */
  const uint8_t *uuid;              /* the initial packet's UUID must be this; NULL: any */
};

/* A decoded initial packet. */
struct mig_multifd_initial {
  uint32_t id;
  uint8_t uuid[MIG_CONFIG_UUID_BYTES];
};

/* A decoded RAM packet header; offsets point into the caller's buffer. */
struct mig_multifd_packet {
  uint32_t flags;
  bool sync;
  uint32_t pages_alloc;
  uint32_t normal_pages;
  uint32_t zero_pages;              /* 0 unless policy->zero_pages */
  uint32_t next_packet_bytes;       /* payload length: exactly normal x 4096 on nocomp */
  uint64_t packet_num;
  char ramblock[MIG_IDSTR_BYTES_MAX + 1];  /* NUL at byte 255, as QEMU; "" without pages */
  const uint8_t *offsets;           /* normal_pages + zero_pages be64 page offsets */
};

/* Why a packet was refused. */
struct mig_multifd_fault {
  enum mig_err code;
  uint32_t at;                      /* byte offset of the field inside the packet */
  char field[24];                   /* "flags", "offset[3]", "id" ... */
  char detail[96];
};

/*
 * The 64-byte initial packet (bytes[0..3] the magic): magic, version 1, id
 * below policy->channels_count and not in ids_seen (may be NULL), the UUID
 * when policy->uuid is set.  True when accepted.
 */
bool mig_multifd_initial_decode(const uint8_t bytes[MIG_MULTIFD_INITIAL_BYTES],
                                const struct mig_multifd_policy *policy, const bool *ids_seen,
                                struct mig_multifd_initial *out, struct mig_multifd_fault *fault);
/*
 * A RAM packet's 1344 bytes: magic, version, flags (SYNC and the configured
 * method's bit), pages_alloc <= 128, normal (+ zero) <= pages_alloc,
 * next_packet_size (nocomp: normal x 4096; compressed: <= 1 MiB), and for a
 * packet with pages a non-empty block name and page-aligned offsets.  A
 * packet without pages (7.2's SYNC) carries stale names, offsets and sizes:
 * they are not read.  True when accepted.
 */
bool mig_multifd_packet_decode(const uint8_t bytes[MIG_MULTIFD_PACKET_BYTES],
                               const struct mig_multifd_policy *policy,
                               struct mig_multifd_packet *out, struct mig_multifd_fault *fault);
/* The i-th page offset of a decoded packet (i < normal_pages + zero_pages). */
uint64_t mig_multifd_packet_offset(const struct mig_multifd_packet *packet, uint32_t i);
/* A fault at entry i of the offsets (a reader's own range check): "offset[i]", RAM_OFFSET. */
void mig_multifd_offset_fault(struct mig_multifd_fault *fault, uint32_t i, const char *detail);
/* "multifd/channel<channel>/packet<number>/<field>"; number UINT64_MAX: ".../initial/<field>". */
void mig_multifd_fault_path(const struct mig_multifd_fault *fault, uint32_t channel,
                            uint64_t number, char *out, size_t out_bytes);

#endif /* MIG_MULTIFD_PACKET_H */
